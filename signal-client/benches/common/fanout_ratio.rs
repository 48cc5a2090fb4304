//! The broadcast fan-out comparison, shared by two bench binaries: signal-client's `fanout`
//! (this comparison alone) and sealboost-tests' `broadcast` (this comparison, then the
//! end-to-end broadcast, so one run prints both of issue 5's figures).
//!
//! Encrypts and serializes one message to `n` established sessions through
//! `fanout::prepare_one` (what `send_many` does before the network: sealed-sender
//! `message_encrypt` per session and the `IncomingMessageList` JSON body), against a bare
//! libsignal `message_encrypt` loop over the same sessions.

use std::time::{Duration, Instant, SystemTime};

use futures::executor::block_on;
use libsignal_protocol::{message_encrypt, DeviceId, IdentityKeyPair, ProtocolAddress, Timestamp};
use signal_client::store::aci_from_bytes;
use signal_client::{cipher, fanout, keys, ProtocolStore};

/// The size.
pub const RECIPIENTS: usize = 10_000;
/// The goal for fan-out / bare.
pub const GOAL: f64 = 1.25;
/// Distinct recipient key sets (bundles are reused across recipients; every session still
/// has its own PQXDH run and ratchet state).
const KEY_SETS: usize = 64;
/// Both paths run over the same sessions, interleaved in chunks of this many recipients,
/// so that load from other processes on the machine falls on both alike.
const CHUNK: usize = 250;
/// Timed passes after one warm-up pass; the best pass is kept per path.
const PASSES: usize = 3;

/// What one comparison measured.
pub struct Ratio {
    pub recipients: usize,
    pub bare: Duration,
    pub fanout: Duration,
}

impl Ratio {
    pub fn ratio(&self) -> f64 {
        self.fanout.as_secs_f64() / self.bare.as_secs_f64()
    }
}

/// `FANOUT_RECIPIENTS` overrides the size (for quick experiments).
pub fn recipients_from_env() -> usize {
    std::env::var("FANOUT_RECIPIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RECIPIENTS)
}

/// Sets up `n` PQXDH sessions, times both paths over them and prints the figures.
pub fn run(n: usize) -> Ratio {
    let mut rng = rand::rng();
    let now = Timestamp::from_epoch_millis(1_700_000_000_000);
    let dev = DeviceId::try_from(1u8).unwrap();
    let mut channel = ProtocolStore::new(IdentityKeyPair::generate(&mut rng), 1);
    let sets: Vec<_> = (0..KEY_SETS)
        .map(|_| {
            let mut s = ProtocolStore::new(IdentityKeyPair::generate(&mut rng), 2);
            keys::install_initial_keys(&mut s, now, &mut rng).unwrap();
            keys::local_bundle(&s, dev, None).unwrap()
        })
        .collect();
    let t = Instant::now();
    let acis: Vec<_> = (0..n)
        .map(|i| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            b[8] = 0x80; // a v4-looking UUID, irrelevant to the crypto
            aci_from_bytes(b)
        })
        .collect();
    for (i, aci) in acis.iter().enumerate() {
        let addr = ProtocolAddress::new(aci.service_id_string(), dev);
        block_on(cipher::process_bundle(
            &mut channel,
            &addr,
            &sets[i % KEY_SETS],
            SystemTime::now(),
            &mut rng,
        ))
        .unwrap();
    }
    println!("fan-out: set up {n} PQXDH sessions in {:.2?}", t.elapsed());

    let content = vec![b'x'; 120];
    let padded = cipher::pad(&content);
    let addrs: Vec<_> = acis
        .iter()
        .map(|a| ProtocolAddress::new(a.service_id_string(), dev))
        .collect();

    let (mut tb, mut to) = (Duration::MAX, Duration::MAX);
    let (mut bb, mut bo) = (0usize, 0usize);
    for pass in 0..=PASSES {
        let (mut pb, mut po) = (Duration::ZERO, Duration::ZERO);
        (bb, bo) = (0, 0);
        for (addr_chunk, aci_chunk) in addrs.chunks(CHUNK).zip(acis.chunks(CHUNK)) {
            let t = Instant::now();
            for a in addr_chunk {
                let m = block_on(message_encrypt(
                    &padded,
                    a,
                    &mut channel.sessions,
                    &mut channel.identities,
                    SystemTime::now(),
                    &mut rng,
                ))
                .unwrap();
                bb += m.serialize().len();
            }
            pb += t.elapsed();
            let t = Instant::now();
            for a in aci_chunk {
                let p = block_on(fanout::prepare_one(
                    &mut channel,
                    a,
                    &padded,
                    None,
                    1_700_000_000_000,
                    SystemTime::now(),
                    &mut rng,
                ))
                .unwrap();
                bo += p.body.len();
            }
            po += t.elapsed();
        }
        // Pass 0 warms caches and the allocator.
        if pass > 0 {
            tb = tb.min(pb);
            to = to.min(po);
        }
    }
    let r = Ratio {
        recipients: n,
        bare: tb,
        fanout: to,
    };
    println!("fan-out: bare libsignal message_encrypt x{n}: {tb:.2?} ({bb} ciphertext bytes)");
    println!(
        "fan-out: our path (encrypt + IncomingMessageList JSON) x{n}: {to:.2?} ({bo} body bytes)"
    );
    println!(
        "fan-out: ratio ours / bare = {:.3}x (goal <= {GOAL}x): {}",
        r.ratio(),
        if r.ratio() <= GOAL { "MET" } else { "MISSED" }
    );

    // The sealed channel state carries this store: how big and how fast is it?
    let t = Instant::now();
    let enc = channel.encode().unwrap();
    let te = t.elapsed();
    let t = Instant::now();
    let back = ProtocolStore::decode(&enc).unwrap();
    let td = t.elapsed();
    assert_eq!(back.session_count(), n);
    println!(
        "fan-out: store with {n} sessions: {} bytes ({} per session), encode {te:.2?}, decode {td:.2?}",
        enc.len(),
        enc.len() / n.max(1)
    );
    r
}
