//! Full re-key of a 10,000-member channel (issue 6, VAULT.md §13) next to the raw AEAD cost
//! of its sealed state.
//!
//! `cargo bench -p enclave --bench rekey` (release profile), one run, medians over rounds:
//!
//! - unlock = `open_state` of the current blob (decrypt, unpad, decode);
//! - re-key = `lifecycle::rekey`: remove one admin, fresh DK/EK (key epoch + 1) and SK,
//!   revoke the stale-key table, one OTP per remaining admin (~499 of them), re-seal the
//!   state under the new DEK; plus encoding the key record, stale table and OTP set;
//! - raw  = XChaCha20-Poly1305 decrypt + encrypt of the same padded byte count.
//!
//! Peak heap during one re-key comes from a counting global allocator; VmHWM (peak resident
//! set of the whole bench process) from /proc/self/status.

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use enclave::vault::lifecycle::{rekey, rotate, OtpSet, StaleTable, DEFAULT_OTP_TTL_SECS};
use enclave::vault::model::Language;
use enclave::vault::{new_channel, open_state, padded_len, seal_state, Sk};
use rand::rngs::StdRng;
use rand::SeedableRng;

mod common;
use common::{median, phone, realistic, LIVE, NOW, PEAK};

const MEMBERS: u64 = 10_000;
const ROUNDS: usize = 40;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut sk = Sk::generate(&mut rng);
    let (id, mut record, dk) = new_channel(&sk, &mut rng);
    let mut state = realistic(MEMBERS, &[Language::En], &mut rng);
    // Two earlier rotations, so the table has entries to revoke.
    let mut table = StaleTable::new(id);
    for _ in 0..2 {
        let new_sk = Sk::generate(&mut rng);
        record = rotate(
            &id, &mut state, &record, &dk, &sk, &new_sk, &mut table, &mut rng,
        )
        .expect("rotates")
        .key_record;
        sk = new_sk;
    }
    let admins = state.admin_count();
    let plain_len = state.encoded_len();
    let padded = padded_len(plain_len).expect("fits");
    let blob = seal_state(&dk, &id, 1, 1, &state, &mut rng).expect("seals");
    drop(state);
    let removed = phone(20 * 3); // ADMIN 2
    let requester = phone(0); // ADMIN 1

    let aead = XChaCha20Poly1305::new((&[7u8; 32]).into());
    let nonce = XNonce::from([9u8; 24]);
    let mut raw_buf = vec![0u8; padded];
    let mut raw_tag = aead
        .encrypt_in_place_detached(&nonce, b"ad", &mut raw_buf)
        .expect("encrypts");

    let (mut t_unlock, mut t_rekey, mut t_raw) = (vec![], vec![], vec![]);
    let mut otp_count = 0;
    let mut written = 0;
    let mut peak_heap = 0;
    for round in 0..ROUNDS {
        let t = Instant::now();
        aead.decrypt_in_place_detached(&nonce, b"ad", &mut raw_buf, &raw_tag)
            .expect("decrypts");
        raw_tag = aead
            .encrypt_in_place_detached(&nonce, b"ad", &mut raw_buf)
            .expect("encrypts");
        t_raw.push(t.elapsed());

        let t = Instant::now();
        let (_, mut st) = open_state(&dk, &id, 1, black_box(&blob), 0).expect("opens");
        t_unlock.push(t.elapsed());

        let mut tab = table.clone();
        let mut otps = OtpSet::new(id);
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let t = Instant::now();
        let out = rekey(
            &id,
            &mut st,
            &dk,
            &sk,
            Some(&removed),
            Some(&requester),
            2,
            &mut tab,
            &mut otps,
            NOW,
            DEFAULT_OTP_TTL_SECS,
            &mut rng,
        )
        .expect("re-keys");
        let blobs = (
            out.key_record.encode(),
            tab.encode(),
            otps.encode(),
            out.verifier.encode(),
        );
        t_rekey.push(t.elapsed());
        if round == 0 {
            peak_heap = PEAK.load(Ordering::Relaxed) - before;
            otp_count = out.otps.len();
            written = out.state_blob.len()
                + blobs.0.len()
                + blobs.1.len()
                + blobs.2.len()
                + blobs.3.len();
        }
        drop(black_box(blobs));
        drop(black_box(out));
        drop(black_box(st));
    }

    // Where the time goes: the per-admin OTPs alone (same count, same set type).
    let mut t_otps = vec![];
    for _ in 0..ROUNDS {
        let mut otps = OtpSet::new(id);
        let t = Instant::now();
        for _ in 0..otp_count {
            black_box(
                otps.issue(&sk, 5, NOW, DEFAULT_OTP_TTL_SECS, &mut rng)
                    .expect("issues"),
            );
        }
        t_otps.push(t.elapsed());
    }
    let otps_only = median(t_otps);

    let (unlock, rk, raw) = (median(t_unlock), median(t_rekey), median(t_raw));
    println!(
        "re-key of a {MEMBERS}-member channel ({admins} admins, 1 removed, {otp_count} OTPs issued)"
    );
    println!("  state plaintext {plain_len} B, padded {padded} B; blobs written {written} B");
    println!(
        "  unlock {:>7.3} ms   re-key {:>7.3} ms   raw AEAD dec+enc {:>7.3} ms   [{ROUNDS} rounds, medians]",
        ms(unlock),
        ms(rk),
        ms(raw)
    );
    println!(
        "  re-key / raw = {:.2}   (unlock + re-key) / raw = {:.2}",
        rk.as_secs_f64() / raw.as_secs_f64(),
        (unlock + rk).as_secs_f64() / raw.as_secs_f64()
    );
    println!(
        "  of which issuing the {otp_count} OTPs alone: {:>7.3} ms",
        ms(otps_only)
    );
    println!("  re-key heap: peak +{peak_heap} B above the unlocked state");
    match vm_hwm_kib() {
        Some(k) => println!("  process VmHWM {k} KiB (whole bench, incl. setup)"),
        None => println!("  process VmHWM unavailable"),
    }
}
