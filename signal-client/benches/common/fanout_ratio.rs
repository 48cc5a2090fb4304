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
use libsignal_protocol::{
    message_encrypt, sealed_sender_encrypt, DeviceId, IdentityKeyPair, KeyPair, ProtocolAddress,
    SenderCertificate, ServerCertificate, Timestamp,
};
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
    pub bare_sealed: Duration,
    pub fanout_sealed: Duration,
    /// Threads `send_many` uses here, and its sealed fan-out's time on them.
    pub threads: usize,
    pub fanout_sealed_threads: Duration,
}

impl Ratio {
    /// Unsealed: our path against bare `message_encrypt`.
    pub fn ratio(&self) -> f64 {
        self.fanout.as_secs_f64() / self.bare.as_secs_f64()
    }

    /// Sealed: our path against bare `sealed_sender_encrypt`, the same libsignal work.
    pub fn sealed_ratio(&self) -> f64 {
        self.fanout_sealed.as_secs_f64() / self.bare_sealed.as_secs_f64()
    }
}

pub fn met(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "MISSED"
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

    // A sender certificate as the service issues it, for the sealed runs.
    let root = KeyPair::generate(&mut rng);
    let server_key = KeyPair::generate(&mut rng);
    let server = ServerCertificate::new(1, server_key.public_key, &root.private_key, &mut rng)
        .expect("server certificate");
    let cert = SenderCertificate::new(
        aci_from_bytes([7; 16]).service_id_string(),
        None,
        *channel.identity_key_pair().public_key(),
        dev,
        Timestamp::from_epoch_millis(u64::MAX / 2),
        server,
        &server_key.private_key,
        &mut rng,
    )
    .expect("sender certificate");

    let mut passes = [Duration::MAX; 4];
    let mut bytes = [0usize; 4];
    for pass in 0..=PASSES {
        let mut t_pass = [Duration::ZERO; 4];
        bytes = [0; 4];
        for (addr_chunk, aci_chunk) in addrs.chunks(CHUNK).zip(acis.chunks(CHUNK)) {
            // 0: bare message_encrypt.
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
                bytes[0] += m.serialize().len();
            }
            t_pass[0] += t.elapsed();
            // 1: our path, unsealed.
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
                bytes[1] += p.body.len();
            }
            t_pass[1] += t.elapsed();
            // 2: bare sealed_sender_encrypt (message_encrypt inside, then the sealed box).
            let t = Instant::now();
            for a in addr_chunk {
                let c = block_on(sealed_sender_encrypt(
                    a,
                    &cert,
                    &padded,
                    &mut channel.sessions,
                    &mut channel.identities,
                    SystemTime::now(),
                    &mut rng,
                ))
                .unwrap();
                bytes[2] += c.len();
            }
            t_pass[2] += t.elapsed();
            // 3: our path, sealed (what a subscriber who shared a profile key gets).
            let t = Instant::now();
            for a in aci_chunk {
                let p = block_on(fanout::prepare_one(
                    &mut channel,
                    a,
                    &padded,
                    Some(&cert),
                    1_700_000_000_000,
                    SystemTime::now(),
                    &mut rng,
                ))
                .unwrap();
                bytes[3] += p.body.len();
            }
            t_pass[3] += t.elapsed();
        }
        // Pass 0 warms caches and the allocator.
        if pass > 0 {
            for (best, this) in passes.iter_mut().zip(t_pass) {
                *best = (*best).min(this);
            }
        }
    }
    // What `send_many` does with a broadcast: the sealed fan-out on every core.
    let threads = fanout::threads_for(n);
    let jobs: Vec<_> = acis.iter().map(|a| (*a, Some(&cert))).collect();
    let mut threaded = Duration::MAX;
    for _ in 0..=PASSES {
        let t = Instant::now();
        let out = fanout::prepare_many(&mut channel, &jobs, &padded, 1_700_000_000_000, threads);
        threaded = threaded.min(t.elapsed());
        assert!(out.iter().all(Result::is_ok));
    }
    let r = Ratio {
        recipients: n,
        bare: passes[0],
        fanout: passes[1],
        bare_sealed: passes[2],
        fanout_sealed: passes[3],
        threads,
        fanout_sealed_threads: threaded,
    };
    let [tb, to, tbs, tos] = passes;
    println!(
        "fan-out: bare libsignal message_encrypt x{n}: {tb:.2?} ({} ciphertext bytes)",
        bytes[0]
    );
    println!(
        "fan-out: our path, unsealed (encrypt + IncomingMessageList JSON) x{n}: {to:.2?} ({} body bytes)",
        bytes[1]
    );
    println!(
        "fan-out: bare libsignal sealed_sender_encrypt x{n}: {tbs:.2?} ({} ciphertext bytes)",
        bytes[2]
    );
    println!(
        "fan-out: our path, sealed x{n}: {tos:.2?} ({} body bytes)",
        bytes[3]
    );
    println!(
        "fan-out: ratio ours / bare, unsealed = {:.3}x (goal <= {GOAL}x): {}",
        r.ratio(),
        met(r.ratio() <= GOAL)
    );
    println!(
        "fan-out: ratio ours / bare, sealed = {:.3}x (goal <= {GOAL}x): {}",
        r.sealed_ratio(),
        met(r.sealed_ratio() <= GOAL)
    );
    println!(
        "fan-out: sealed sender's own cost: bare sealed_sender_encrypt / bare message_encrypt = {:.2}x",
        tbs.as_secs_f64() / tb.as_secs_f64()
    );
    println!(
        "fan-out: our sealed path on {threads} threads (send_many's): {threaded:.2?} = {:.3}x the bare sealed loop",
        threaded.as_secs_f64() / tbs.as_secs_f64()
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
