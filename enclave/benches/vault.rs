//! Unlock + lock of a channel versus the raw AEAD cost of its sealed state (DESIGN §10:
//! "Unlock+lock of a 10,000-subscriber channel ≤ 2× the raw AEAD cost of its state").
//!
//! `cargo bench -p enclave --bench vault` (release profile). For 1,000 and 10,000 members
//! (~5% admins, some hotline records, invites and bans, empty Signal slots), same run:
//!
//! - unlock = `KeyRecord::decode` + `KeyRecord::unwrap` + `open_state` (decrypt, unpad,
//!   decode, validate);
//! - lock   = `seal_state` (encode into the blob buffer, pad, encrypt);
//! - drop   = dropping the unlocked `ChannelState` and DK (zeroization);
//! - raw    = XChaCha20-Poly1305 decrypt + encrypt of the same padded byte count.
//!
//! Ratio = (unlock + lock + drop) / raw; goal ≤ 2. Medians over interleaved rounds, so
//! background load hits both sides alike. Peak additional heap during a 10,000-member
//! unlock comes from a counting global allocator in this binary.

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use enclave::vault::model::Language;
use enclave::vault::{new_channel, open_state, padded_len, seal_state, KeyRecord, Sk};
use rand::rngs::StdRng;
use rand::SeedableRng;

mod common;
use common::{median, realistic, LIVE, PEAK};

const ROUNDS: usize = 200;

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn run(members: u64) {
    let mut rng = StdRng::seed_from_u64(members);
    let sk = Sk::generate(&mut rng);
    let (id, record, dk) = new_channel(&sk, &mut rng);
    let key_record = record.encode();
    let state = realistic(
        members,
        &[Language::En, Language::Es, Language::Fr, Language::De],
        &mut rng,
    );
    let plain_len = state.encoded_len();
    let padded = padded_len(plain_len).expect("fits");
    let mut blob = seal_state(&dk, &id, 1, 1, &state, &mut rng).expect("seals");
    drop(state);
    drop(dk);

    // Raw AEAD over the same padded length, with a key and nonce of its own.
    let raw_key = [7u8; 32];
    let raw_nonce = [9u8; 24];
    let aead = XChaCha20Poly1305::new((&raw_key).into());
    let mut raw_buf = vec![0u8; padded];
    let mut raw_tag = aead
        .encrypt_in_place_detached(&XNonce::from(raw_nonce), b"ad", &mut raw_buf)
        .expect("encrypts");

    let (mut t_unlock, mut t_lock, mut t_drop, mut t_raw) = (vec![], vec![], vec![], vec![]);
    for epoch in 2..(2 + ROUNDS as u64) {
        // Raw: decrypt then re-encrypt the buffer in place.
        let t = Instant::now();
        aead.decrypt_in_place_detached(&XNonce::from(raw_nonce), b"ad", &mut raw_buf, &raw_tag)
            .expect("decrypts");
        raw_tag = aead
            .encrypt_in_place_detached(&XNonce::from(raw_nonce), b"ad", &mut raw_buf)
            .expect("encrypts");
        t_raw.push(t.elapsed());

        let t = Instant::now();
        let rec = KeyRecord::decode(black_box(&key_record)).expect("decodes");
        let dk = rec.unwrap(&sk).expect("right SK");
        let (found, state) = open_state(&dk, &id, 1, black_box(&blob), epoch - 1).expect("opens");
        t_unlock.push(t.elapsed());
        assert_eq!(found, epoch - 1);

        let t = Instant::now();
        let sealed = seal_state(&dk, &id, 1, epoch, &state, &mut rng).expect("seals");
        t_lock.push(t.elapsed());

        let t = Instant::now();
        drop(black_box(state));
        drop(black_box(dk));
        t_drop.push(t.elapsed());
        blob = sealed;
    }

    // Peak heap of one unlock, above what was live before it (state kept alive to the end).
    let rec = KeyRecord::decode(&key_record).expect("decodes");
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let dk = rec.unwrap(&sk).expect("right SK");
    let (_, state) = open_state(&dk, &id, 1, &blob, 0).expect("opens");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let held = LIVE.load(Ordering::Relaxed) - before;
    drop(state);

    let (unlock, lock, dropt, raw) = (
        median(t_unlock),
        median(t_lock),
        median(t_drop),
        median(t_raw),
    );
    let cycle = unlock + lock + dropt;
    println!(
        "{members:>6} members: plaintext {plain_len} B, padded {padded} B, blob {} B",
        blob.len()
    );
    println!(
        "        unlock {:>8.1} µs   lock {:>8.1} µs   drop {:>6.1} µs   raw AEAD dec+enc {:>8.1} µs",
        us(unlock),
        us(lock),
        us(dropt),
        us(raw)
    );
    println!(
        "        (unlock+lock+drop)/raw = {:.2}  (goal ≤ 2)   [{} rounds, medians]",
        cycle.as_secs_f64() / raw.as_secs_f64(),
        ROUNDS
    );
    println!("        unlock heap: peak +{peak} B, held after unlock +{held} B");
}

fn main() {
    for n in [1_000, 10_000] {
        run(n);
    }
}
