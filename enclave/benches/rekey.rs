//! Full re-key of a 10,000-member channel (issue 6, VAULT.md §13 and §16): time and peak
//! memory, including the channel's Signal account and the blob store writes.
//!
//! `cargo bench -p enclave --bench rekey` (release profile) prints, from one run:
//!
//! 1. **Vault part** (40 rounds, medians): unlock = `open_state` of the current blob;
//!    re-key = `lifecycle::rekey_to` (remove one admin, fresh DK/EK at key epoch + 1 and SK,
//!    revoke the stale-key table, one OTP per remaining admin (~499), re-seal the state) plus
//!    encoding the key record, stale table, OTP set and verifier; raw = XChaCha20-Poly1305
//!    decrypt + encrypt of the same padded byte count.
//! 2. **Full re-key** (`REKEY_ROUNDS`, default 5, chained: each round re-keys the channel the
//!    previous one committed and removes one more admin), the sequence of
//!    `lifecycle_api::enact_remove` from an unlocked state to the committed re-key:
//!    - reads: key record, stale table and OTP set `Get` + decode, chunk table and queue slot;
//!    - account chunks load: `chunks::load` with the old DK (`Get` every chunk, SHA-256 check
//!      against the state's table, open);
//!    - queue read: the waiting inbound items (`REKEY_WAITING`, default 10, 1 KiB each)
//!      `QueueRange` + `open_inbound` with the old DK;
//!    - vault: `lifecycle::rekey_to` (to the new SK the requester's client sent), then the
//!      second `seal_state` once the new chunk table and queue cursor are in the state;
//!    - account chunks store: `chunks::store` under the new DK (seal every 8 MiB chunk, `Put`
//!      each as a new generation) and the new table into the state;
//!    - queue re-seal: `seal_inbound` to the new EK + `QueueAppend` per waiting item;
//!    - writes: OTP set, stale table, re-key undo record, key record, the state (CAS), undo
//!      delete, `chunks::collect_garbage` (list + delete the old generation), verifier.
//!
//!    The account is a real signal-client [`Account`] whose protocol store holds one
//!    libsignal PQXDH session per member (`REKEY_SESSIONS`, default 10,000; built as in
//!    `signal-client/benches/fanout.rs`, bundles from 64 key sets) plus its recipient book:
//!    about 60 MB, 8 chunks. The blobs go through the real `BlobClient` and link protocol
//!    over a Unix socket to the real host blob RPC (`host::hostlink`) and `RedbStore` (one
//!    fsync per commit) in a temporary directory under the target dir. The host runs in a
//!    child process (this binary, re-executed), as in production, so that the heap and RSS
//!    figures are the enclave side's alone. The child times every store call ("host store
//!    time": wall time during which at least one read, resp. write, is inside the store),
//!    which splits the chunk phases into store time and the rest (chunk crypto + link).
//!    Two reference lines: the bare SHA-256 + XChaCha20-Poly1305 over the account's bytes
//!    both ways (what the chunk crypto costs without HKDF, link or copies), and the
//!    signal-client `Account` decode + encode (not part of the re-key, which carries the
//!    account as opaque bytes).
//!
//!    Not included: the unlock before and the Signal sends after the commit (OTP and notice
//!    messages, `send_notices`: a second unlock that decodes, uses and re-stores the account),
//!    stopping/restarting the live receiver, the attested session and HTTP.
//!
//! Peak heap during a re-key comes from a counting global allocator (bytes above the
//! unlocked state); VmHWM is the process's peak resident set, reset (`/proc/self/clear_refs`)
//! after setup so that it covers the full re-keys only.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use enclave::blob_client::BlobClient;
use enclave::courier::chunks::{self, ChunkTable};
use enclave::courier::slot::SignalSlot;
use enclave::vault::lifecycle::{
    rekey_to, rotate, OtpSet, SkVerifier, StaleTable, DEFAULT_OTP_TTL_SECS,
};
use enclave::vault::model::{ChannelState, Language, Phone};
use enclave::vault::{
    names, new_channel, open_inbound, open_state, padded_len, seal_inbound, seal_state, ChannelId,
    Dk, InboundAuthKey, KeyRecord, Sk,
};
use futures::executor::block_on;
use libsignal_protocol::{message_encrypt, DeviceId, IdentityKeyPair, ProtocolAddress, Timestamp};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use signal_client::store::aci_from_bytes;
use signal_client::{cipher, keys, Account, ProtocolStore};
use wire::blob::{BlobRequest, BlobResponse};
use wire::link::LinkAddr;
use zeroize::Zeroizing;

mod common;
use common::{median, phone, realistic, LIVE, NOW, PEAK};

const MEMBERS: u64 = 10_000;
const ROUNDS: usize = 40;
/// Full re-keys (each one moves ~60 MB through the store); `REKEY_ROUNDS` overrides.
const FULL_ROUNDS: usize = 5;
/// Messages waiting in the inbound queue at the re-key; `REKEY_WAITING` overrides.
const WAITING: usize = 10;
/// Size of one waiting item's plaintext (a Signal envelope of a short message).
const WAITING_LEN: usize = 1024;
/// Distinct recipient key sets for the sessions (each session still runs its own PQXDH).
const KEY_SETS: usize = 64;
/// Set in the child process that serves the blob store.
const HOST_ENV: &str = "SEALBOOST_REKEY_BENCH_HOST_DIR";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn proc_status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Ok(dir) = std::env::var(HOST_ENV) {
        host_side::serve(Path::new(&dir));
        return;
    }
    vault_only();
    full();
}

/// Part 1: `lifecycle::rekey_to` alone on the unlocked state (no account, no store).
fn vault_only() {
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
        let out = rekey_to(
            &id,
            &mut st,
            &dk,
            &sk,
            None,
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
        "1. vault part: re-key of a {MEMBERS}-member channel ({admins} admins, 1 removed, {otp_count} OTPs issued)"
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
}

/// The channel's Signal account: one PQXDH session per member, each having sent one
/// message (as after a first broadcast), and the recipient book.
fn account_with_sessions(n: usize) -> Zeroizing<Vec<u8>> {
    let mut rng = rand_09::rng();
    let now = Timestamp::from_epoch_millis(1_700_000_000_000);
    let dev = DeviceId::try_from(1u8).expect("1 is a device id");
    let mut account = Account::generate("+15559999999", &mut rng).expect("account");
    let sets: Vec<_> = (0..KEY_SETS)
        .map(|_| {
            let mut s = ProtocolStore::new(IdentityKeyPair::generate(&mut rng), 2);
            keys::install_initial_keys(&mut s, now, &mut rng).expect("keys");
            keys::local_bundle(&s, dev, None).expect("bundle")
        })
        .collect();
    let content = cipher::pad(b"a broadcast to every subscriber");
    for i in 0..n {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
        b[8] = 0x80;
        let aci = aci_from_bytes(b);
        let addr = ProtocolAddress::new(aci.service_id_string(), dev);
        block_on(cipher::process_bundle(
            &mut account.store,
            &addr,
            &sets[i % KEY_SETS],
            SystemTime::now(),
            &mut rng,
        ))
        .expect("PQXDH");
        // One broadcast so far: the first message sets up the session's sending state.
        block_on(message_encrypt(
            &content,
            &addr,
            &mut account.store.sessions,
            &mut account.store.identities,
            SystemTime::now(),
            &mut rng,
        ))
        .expect("encrypts");
        // The members' numbers, as `common::realistic` makes them.
        account
            .store
            .set_e164(&aci, &format!("+1555{:07}", i * 3))
            .expect("e164");
    }
    assert_eq!(account.store.session_count(), n);
    account.encode().expect("encodes")
}

/// Reference for the chunk phases: the bare primitives over the account's bytes, 8 MiB at a
/// time, both ways: copy + XChaCha20-Poly1305 encrypt + SHA-256 (seal), SHA-256 + decrypt
/// (open). No HKDF, associated data, link or store.
fn raw_chunk_crypto(account: &[u8]) -> Duration {
    let aead = XChaCha20Poly1305::new((&[7u8; 32]).into());
    let nonce = XNonce::from([9u8; 24]);
    let t = Instant::now();
    for part in account.chunks(chunks::CHUNK_LEN) {
        let mut buf = part.to_vec();
        let tag = aead
            .encrypt_in_place_detached(&nonce, b"ad", &mut buf)
            .expect("encrypts");
        black_box(Sha256::digest(&buf));
        black_box(Sha256::digest(&buf));
        aead.decrypt_in_place_detached(&nonce, b"ad", &mut buf, &tag)
            .expect("decrypts");
        black_box(&buf);
    }
    t.elapsed()
}

/// The blob store as the host runs it, in a child process (this binary, re-executed).
struct HostProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: LinkAddr,
    _dir: tempfile::TempDir,
}

/// Cumulative host store time (see the module doc) and call counts.
#[derive(Clone, Copy, Default)]
struct HostTimes {
    read: Duration,
    write: Duration,
    reads: u64,
    writes: u64,
}

impl std::ops::Sub for HostTimes {
    type Output = HostTimes;
    fn sub(self, o: HostTimes) -> HostTimes {
        HostTimes {
            read: self.read.saturating_sub(o.read),
            write: self.write.saturating_sub(o.write),
            reads: self.reads - o.reads,
            writes: self.writes - o.writes,
        }
    }
}

impl std::ops::AddAssign for HostTimes {
    fn add_assign(&mut self, o: HostTimes) {
        self.read += o.read;
        self.write += o.write;
        self.reads += o.reads;
        self.writes += o.writes;
    }
}

impl HostProc {
    fn start() -> HostProc {
        let dir = tempfile::Builder::new()
            .prefix("rekey-bench-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("temp dir");
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env(HOST_ENV, dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starts the host side");
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("host answers");
        assert_eq!(line.trim(), "ready", "host side did not start");
        HostProc {
            child,
            stdin,
            stdout,
            addr: LinkAddr::Unix(dir.path().join(host_side::SOCKET)),
            _dir: dir,
        }
    }

    fn times(&mut self) -> HostTimes {
        writeln!(self.stdin, "times").expect("host alive");
        self.stdin.flush().expect("host alive");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("host answers");
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().expect("number"))
            .collect();
        HostTimes {
            read: Duration::from_nanos(v[0]),
            write: Duration::from_nanos(v[1]),
            reads: v[2],
            writes: v[3],
        }
    }

    fn vm_hwm_kib(&self) -> Option<u64> {
        proc_status_kib(&self.child.id().to_string(), "VmHWM:")
    }

    fn stop(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

async fn get(blobs: &BlobClient, name: Vec<u8>) -> Option<(u64, Vec<u8>)> {
    match blobs.call(&BlobRequest::Get { name }).await.expect("get") {
        BlobResponse::Blob { version, data } => Some((version, data)),
        BlobResponse::NotFound => None,
        other => panic!("get answered {}", other.kind_name()),
    }
}

async fn put(blobs: &BlobClient, name: Vec<u8>, expected: u64, data: Vec<u8>) {
    match blobs
        .call(&BlobRequest::Put {
            name,
            expected,
            data,
        })
        .await
        .expect("put")
    {
        BlobResponse::Written { .. } => {}
        other => panic!("put answered {}", other.kind_name()),
    }
}

async fn append(blobs: &BlobClient, id: &ChannelId, item: Vec<u8>) {
    match blobs
        .call(&BlobRequest::QueueAppend {
            queue: names::inbound(id),
            item,
        })
        .await
        .expect("append")
    {
        BlobResponse::Appended { .. } => {}
        other => panic!("append answered {}", other.kind_name()),
    }
}

/// The channel between re-keys: what the committed state's holder knows.
struct Current {
    id: ChannelId,
    dk: Dk,
    sk: Sk,
    requester: Phone,
}

/// Phases of one full re-key, in `enact_remove`'s order.
#[derive(Clone, Copy)]
enum P {
    Reads,
    ChunkLoad,
    QueueRead,
    Vault,
    ChunkStore,
    QueueWrite,
    Reseal,
    Writes,
}
const PHASES: usize = 8;

#[derive(Default)]
struct Round {
    wall: [Duration; PHASES],
    host: [HostTimes; PHASES],
    peak_heap: usize,
    chunks: usize,
    /// Waiting queue items opened and re-sealed.
    carried: usize,
}

impl Round {
    fn total(&self) -> Duration {
        self.wall.iter().sum()
    }
    fn host_total(&self) -> HostTimes {
        let mut h = HostTimes::default();
        for x in self.host {
            h += x;
        }
        h
    }
    fn vault(&self) -> Duration {
        self.wall[P::Vault as usize] + self.wall[P::Reseal as usize]
    }
    fn chunk_wall(&self) -> Duration {
        self.wall[P::ChunkLoad as usize] + self.wall[P::ChunkStore as usize]
    }
    /// The chunk phases minus the time the host spent in its store for them.
    fn chunk_crypto_link(&self) -> Duration {
        let (l, s) = (
            self.host[P::ChunkLoad as usize],
            self.host[P::ChunkStore as usize],
        );
        self.chunk_wall()
            .saturating_sub(l.read + l.write + s.read + s.write)
    }
}

/// Times one phase: wall clock, then the host's store time for it (asked afterwards, so
/// the question is not in the wall time).
struct Phaser<'a> {
    host: &'a mut HostProc,
    last: HostTimes,
    round: Round,
    t: Instant,
}

impl Phaser<'_> {
    fn end(&mut self, p: P) {
        self.round.wall[p as usize] += self.t.elapsed();
        let now = self.host.times();
        self.round.host[p as usize] += now - self.last;
        self.last = now;
        self.t = Instant::now();
    }
}

/// Unlocks (untimed), then re-keys removing `removed`, as `enact_remove` does.
async fn full_rekey(
    blobs: &BlobClient,
    host: &mut HostProc,
    cur: Current,
    removed: &Phone,
    rng: &mut StdRng,
) -> (Current, Round) {
    // The requester's client generates and saves the new SK before asking (SPEC §3.6).
    let client_sk = Sk::generate(rng);
    let id = cur.id;
    let (state_version, blob) = get(blobs, names::state(&id)).await.expect("state");
    let (epoch, mut state) = open_state(&cur.dk, &id, cur.dk.key_epoch(), &blob, 0).expect("opens");
    drop(blob);

    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let last = host.times();
    let mut ph = Phaser {
        host,
        last,
        round: Round::default(),
        t: Instant::now(),
    };

    // Reads: chunk table and queue slot from the state, key record, stale table, OTP set.
    let table = ChunkTable::decode(state.protocol_store())
        .expect("table")
        .expect("account");
    let slot = SignalSlot::decode(state.signal_account())
        .expect("slot")
        .expect("account");
    let (kv, data) = get(blobs, names::key_record(&id)).await.expect("record");
    let old_record = KeyRecord::decode(&data).expect("record decodes");
    let (tv, data) = get(blobs, names::stale_keys(&id)).await.expect("stale");
    let mut stale = StaleTable::decode(&data).expect("stale decodes");
    let (ov, data) = get(blobs, names::otps(&id)).await.expect("otps");
    let mut otps = OtpSet::decode(&data).expect("otps decode");
    ph.end(P::Reads);

    let account = chunks::load(blobs, &id, &cur.dk, &table)
        .await
        .expect("chunks load");
    ph.end(P::ChunkLoad);

    let mut waiting = Vec::new();
    let mut next = slot.inbound_next;
    loop {
        let r = blobs
            .call(&BlobRequest::QueueRange {
                queue: names::inbound(&id),
                from: next,
                max_items: wire::blob::MAX_RANGE_ITEMS,
                max_bytes: wire::blob::MAX_RANGE_BYTES,
            })
            .await
            .expect("range");
        let BlobResponse::Items { items } = r else {
            panic!("range answered {}", r.kind_name());
        };
        if items.is_empty() {
            break;
        }
        for (seq, item) in items {
            next = seq + 1;
            waiting.push(open_inbound(&cur.dk, &id, &item).expect("item opens"));
        }
    }
    ph.round.carried = waiting.len();
    ph.end(P::QueueRead);

    let new_epoch = epoch + 1;
    let rk = rekey_to(
        &id,
        &mut state,
        &cur.dk,
        &cur.sk,
        Some(client_sk),
        Some(removed),
        Some(&cur.requester),
        new_epoch,
        &mut stale,
        &mut otps,
        NOW,
        DEFAULT_OTP_TTL_SECS,
        rng,
    )
    .expect("re-keys");
    let key_epoch = rk.dk.key_epoch();
    ph.end(P::Vault);

    let generation = table.generation + 1;
    let stored = chunks::store(blobs, &id, &rk.dk, generation, &account)
        .await
        .expect("chunks store");
    ph.round.chunks = stored.digests.len();
    state
        .set_protocol_store(Zeroizing::new(stored.encode()))
        .expect("table fits");
    drop(account);
    ph.end(P::ChunkStore);

    for pt in &waiting {
        let auth = InboundAuthKey::derive(&rk.dk, &id);
        let item = seal_inbound(rk.dk.ek_public(), &auth, &id, key_epoch, pt, rng).expect("seals");
        append(blobs, &id, item).await;
    }
    state
        .set_signal_account(Zeroizing::new(SignalSlot::at(next).encode()))
        .expect("slot fits");
    drop(waiting);
    ph.end(P::QueueWrite);

    let sealed = seal_state(&rk.dk, &id, key_epoch, new_epoch, &state, rng).expect("seals");
    drop(state);
    ph.end(P::Reseal);

    put(blobs, names::otps(&id), ov, otps.encode()).await;
    put(blobs, names::stale_keys(&id), tv, stale.encode()).await;
    let undo = get(blobs, names::rekey_undo(&id))
        .await
        .map_or(0, |(v, _)| v);
    put(blobs, names::rekey_undo(&id), undo, old_record.encode()).await;
    put(blobs, names::key_record(&id), kv, rk.key_record.encode()).await;
    put(blobs, names::state(&id), state_version, sealed).await;
    if let Some((v, _)) = get(blobs, names::rekey_undo(&id)).await {
        match blobs
            .call(&BlobRequest::Delete {
                name: names::rekey_undo(&id),
                expected: v,
            })
            .await
            .expect("delete")
        {
            BlobResponse::Deleted => {}
            other => panic!("delete answered {}", other.kind_name()),
        }
    }
    let collected = chunks::collect_garbage(blobs, &id, Some(generation)).await;
    assert_eq!(collected, table.digests.len(), "old generation deleted");
    let verifier = get(blobs, names::proof_verifier(&id))
        .await
        .map_or(0, |(v, _)| v);
    put(
        blobs,
        names::proof_verifier(&id),
        verifier,
        rk.verifier.encode(),
    )
    .await;
    ph.end(P::Writes);
    let mut round = ph.round;
    round.peak_heap = PEAK.load(Ordering::Relaxed) - before;
    (
        Current {
            id,
            dk: rk.dk,
            sk: rk.new_sk,
            requester: cur.requester,
        },
        round,
    )
}

/// Part 2: the full re-key with the account chunks and the blob store.
fn full() {
    let rounds = env_usize("REKEY_ROUNDS", FULL_ROUNDS).max(1);
    let waiting = env_usize("REKEY_WAITING", WAITING);
    let sessions = env_usize("REKEY_SESSIONS", usize::try_from(MEMBERS).expect("fits"));

    let t = Instant::now();
    let account = account_with_sessions(sessions);
    let t_sessions = t.elapsed();
    let account_len = account.len();

    let mut rng = StdRng::seed_from_u64(66);
    let sk = Sk::generate(&mut rng);
    let (id, record, dk) = new_channel(&sk, &mut rng);
    let mut state: ChannelState = realistic(MEMBERS, &[Language::En], &mut rng);
    let admins = state.admin_count();

    let mut host = HostProc::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let blobs = BlobClient::new(host.addr.clone());
    rt.block_on(async {
        let table = chunks::store(&blobs, &id, &dk, 1, &account)
            .await
            .expect("initial chunks");
        state
            .set_protocol_store(Zeroizing::new(table.encode()))
            .expect("fits");
        state
            .set_signal_account(Zeroizing::new(SignalSlot::at(1).encode()))
            .expect("fits");
        let sealed = seal_state(&dk, &id, dk.key_epoch(), 1, &state, &mut rng).expect("seals");
        put(&blobs, names::state(&id), 0, sealed).await;
        put(&blobs, names::key_record(&id), 0, record.encode()).await;
        put(
            &blobs,
            names::stale_keys(&id),
            0,
            StaleTable::new(id).encode(),
        )
        .await;
        put(&blobs, names::otps(&id), 0, OtpSet::new(id).encode()).await;
        let verifier = SkVerifier::derive(&id, &sk, state.sk_generation());
        put(&blobs, names::proof_verifier(&id), 0, verifier.encode()).await;
        for _ in 0..waiting {
            let mut pt = vec![0u8; WAITING_LEN];
            rng.fill_bytes(&mut pt);
            let auth = InboundAuthKey::derive(&dk, &id);
            let item = seal_inbound(dk.ek_public(), &auth, &id, dk.key_epoch(), &pt, &mut rng)
                .expect("seals");
            append(&blobs, &id, item).await;
        }
    });
    drop(state);
    let raw_chunks = median((0..3).map(|_| raw_chunk_crypto(&account)).collect());
    // Not part of the re-key (it carries the account as opaque bytes); `send_notices`
    // decodes and re-encodes it afterwards to send the OTPs.
    let t = Instant::now();
    let decoded = Account::decode(&account).expect("decodes");
    let t_decode = t.elapsed();
    let t = Instant::now();
    drop(black_box(decoded.encode().expect("encodes")));
    let t_encode = t.elapsed();
    drop(decoded);
    drop(account);

    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = proc_status_kib("self", "VmRSS:");
    let mut cur = Current {
        id,
        dk,
        sk,
        requester: phone(0), // ADMIN 1
    };
    let mut results = Vec::with_capacity(rounds);
    for r in 0..rounds {
        // ADMIN 2, 3, ...: one more admin removed by every round.
        let removed = phone(60 * (r as u64 + 1));
        let (next, round) = rt.block_on(full_rekey(&blobs, &mut host, cur, &removed, &mut rng));
        cur = next;
        assert_eq!(round.carried, waiting, "every waiting item carried over");
        results.push(round);
    }
    let hwm = proc_status_kib("self", "VmHWM:");
    let host_hwm = host.vm_hwm_kib();
    drop(blobs);
    host.stop();

    let med = |f: &dyn Fn(&Round) -> Duration| median(results.iter().map(f).collect());
    let wall = |p: P| med(&|r: &Round| r.wall[p as usize]);
    let host_rw = |p: P| med(&|r: &Round| r.host[p as usize].read + r.host[p as usize].write);
    let writes = results[0].host_total().writes;
    let chunk_count = results[0].chunks;
    println!(
        "2. full re-key of the {MEMBERS}-member channel ({admins} admins) with its Signal account"
    );
    println!(
        "  account: {sessions} libsignal sessions + recipient book, {account_len} B ({:.1} MiB) in {chunk_count} chunks; set up in {:.2?}",
        mib(account_len),
        t_sessions
    );
    println!(
        "  {waiting} waiting queue items; blob store: host RedbStore (fsync per commit) in a child process, BlobClient over a Unix socket"
    );
    println!("  [{rounds} chained rounds, medians; host = time inside the host's store]");
    println!(
        "  total                        {:>8.1} ms",
        ms(med(&|r: &Round| r.total()))
    );
    println!(
        "  reads (key record, stale, OTPs) {:>5.1} ms",
        ms(wall(P::Reads))
    );
    println!(
        "  chunks load (old DK)         {:>8.1} ms   host {:>6.1} ms",
        ms(wall(P::ChunkLoad)),
        ms(host_rw(P::ChunkLoad))
    );
    println!(
        "  queue read + open            {:>8.1} ms",
        ms(wall(P::QueueRead))
    );
    println!(
        "  vault: rekey                 {:>8.1} ms",
        ms(wall(P::Vault))
    );
    println!(
        "  chunks store (new DK)        {:>8.1} ms   host {:>6.1} ms",
        ms(wall(P::ChunkStore)),
        ms(host_rw(P::ChunkStore))
    );
    println!(
        "  queue re-seal + append       {:>8.1} ms   host {:>6.1} ms",
        ms(wall(P::QueueWrite)),
        ms(host_rw(P::QueueWrite))
    );
    println!(
        "  vault: re-seal state         {:>8.1} ms",
        ms(wall(P::Reseal))
    );
    println!(
        "  writes (records, state, GC)  {:>8.1} ms   host {:>6.1} ms",
        ms(wall(P::Writes)),
        ms(host_rw(P::Writes))
    );
    let rest = |r: &Round| {
        let h = r.host_total();
        r.total()
            .saturating_sub(r.vault() + r.chunk_crypto_link() + h.write + h.read)
    };
    println!(
        "  split: vault {:.1} ms | chunk crypto + link {:.1} ms | store writes {:.1} ms ({writes} fsynced writes) | store reads {:.1} ms | rest {:.1} ms",
        ms(med(&|r: &Round| r.vault())),
        ms(med(&|r: &Round| r.chunk_crypto_link())),
        ms(med(&|r: &Round| r.host_total().write)),
        ms(med(&|r: &Round| r.host_total().read)),
        ms(med(&rest)),
    );
    println!(
        "  reference: raw SHA-256 + XChaCha20-Poly1305 both ways over the account {:.1} ms",
        ms(raw_chunks)
    );
    println!(
        "  not included: signal-client Account decode {:.1} ms + encode {:.1} ms (done by the OTP sends after the commit)",
        ms(t_decode),
        ms(t_encode)
    );
    let per_round: Vec<String> = results
        .iter()
        .map(|r| format!("{:.0}", ms(r.total())))
        .collect();
    println!("  rounds: {} ms", per_round.join(" / "));
    let peaks: Vec<usize> = results.iter().map(|r| r.peak_heap).collect();
    let max_peak = peaks.iter().copied().max().unwrap_or(0);
    println!(
        "  heap: peak +{max_peak} B ({:.1} MiB) above the unlocked state (max over rounds; {:.1} × the account)",
        mib(max_peak),
        max_peak as f64 / account_len as f64
    );
    let kib = |k: Option<u64>| k.map_or("unavailable".to_string(), |k| format!("{k} KiB"));
    println!(
        "  enclave side: VmRSS before {}, VmHWM {} ({}); host process VmHWM {}",
        kib(rss_before),
        kib(hwm),
        if reset {
            "reset after setup: the re-keys only"
        } else {
            "not reset: includes setup"
        },
        kib(host_hwm)
    );
}

/// The child process: the host's blob RPC over the real store, plus timing of every call.
mod host_side {
    use super::*;
    use host::hostlink::{Allowlist, HostLinkConfig};
    use host::metrics::Metrics;
    use host::store::{Blob, BlobStore, QueueStats, RedbStore, StoreError, StoreStats};
    use wire::link::LinkListener;

    pub const SOCKET: &str = "host.sock";

    /// Wall time during which at least one call is inside the store.
    #[derive(Default)]
    struct Clock(Mutex<(usize, Option<Instant>, Duration, u64)>);

    impl Clock {
        fn time<T>(&self, f: impl FnOnce() -> T) -> T {
            if let Ok(mut g) = self.0.lock() {
                if g.0 == 0 {
                    g.1 = Some(Instant::now());
                }
                g.0 += 1;
                g.3 += 1;
            }
            let r = f();
            if let Ok(mut g) = self.0.lock() {
                g.0 -= 1;
                if g.0 == 0 {
                    if let Some(since) = g.1.take() {
                        g.2 += since.elapsed();
                    }
                }
            }
            r
        }
        fn read(&self) -> (Duration, u64) {
            self.0.lock().map(|g| (g.2, g.3)).unwrap_or_default()
        }
    }

    struct Timed {
        inner: RedbStore,
        reads: Clock,
        writes: Clock,
    }

    impl BlobStore for Timed {
        fn get(&self, name: &[u8]) -> Result<Option<Blob>, StoreError> {
            self.reads.time(|| self.inner.get(name))
        }
        fn put(&self, name: &[u8], expected: Option<u64>, data: &[u8]) -> Result<u64, StoreError> {
            self.writes.time(|| self.inner.put(name, expected, data))
        }
        fn delete(&self, name: &[u8], expected: u64) -> Result<(), StoreError> {
            self.writes.time(|| self.inner.delete(name, expected))
        }
        fn list(&self, prefix: &[u8], limit: u32) -> Result<Vec<(Vec<u8>, u64)>, StoreError> {
            self.reads.time(|| self.inner.list(prefix, limit))
        }
        fn queue_append(&self, queue: &[u8], item: &[u8]) -> Result<u64, StoreError> {
            self.writes.time(|| self.inner.queue_append(queue, item))
        }
        fn queue_range(
            &self,
            queue: &[u8],
            from: u64,
            max_items: u32,
            max_bytes: u32,
        ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
            self.reads
                .time(|| self.inner.queue_range(queue, from, max_items, max_bytes))
        }
        fn queue_trim(&self, queue: &[u8], before: u64) -> Result<u64, StoreError> {
            self.writes.time(|| self.inner.queue_trim(queue, before))
        }
        fn queue_stats(&self, queue: &[u8]) -> Result<QueueStats, StoreError> {
            self.reads.time(|| self.inner.queue_stats(queue))
        }
        fn stats(&self) -> Result<StoreStats, StoreError> {
            self.inner.stats()
        }
    }

    /// Serves the blob stream on `dir`/[`SOCKET`]; prints `ready`, then answers each `times`
    /// line on stdin with `read_ns write_ns reads writes`; stops at the end of stdin.
    pub fn serve(dir: &Path) {
        let store = Arc::new(Timed {
            inner: RedbStore::open(&dir.join("store.redb")).expect("store opens"),
            reads: Clock::default(),
            writes: Clock::default(),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let addr = LinkAddr::Unix(PathBuf::from(dir).join(SOCKET));
        let listener = rt
            .block_on(LinkListener::bind(&addr))
            .expect("binds the link socket");
        let (trigger, shutdown) = host::shutdown::channel();
        let served: Arc<dyn BlobStore> = store.clone();
        let task = rt.spawn(host::hostlink::run(
            listener,
            HostLinkConfig::new(Allowlist::new([])),
            served,
            Arc::new(Metrics::default()),
            shutdown,
        ));
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready");
        let _ = out.flush();
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if line.trim() == "times" {
                let (r, rc) = store.reads.read();
                let (w, wc) = store.writes.read();
                let _ = writeln!(out, "{} {} {rc} {wc}", r.as_nanos(), w.as_nanos());
                let _ = out.flush();
            }
        }
        trigger.fire();
        let _ = rt.block_on(task);
    }
}
