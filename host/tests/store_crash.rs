//! SIGKILL during a write storm loses no acknowledged write and tears no blob.
//!
//! The writer is `examples/store_storm.rs`, run as a separate process so that the kill is a
//! real `kill -9`: no destructors, no buffered flush, the file left exactly as the kernel had it.
//! It prints `ACK ...` after each call returns `Ok`; whatever complete ACK line we read is a
//! write the store promised was durable. After each kill we reopen the file and check:
//!
//! * every acknowledged blob write is there at its version with the exact acknowledged bytes,
//!   or at a newer version (a later write, maybe unacknowledged) that still verifies itself;
//! * every acknowledged queue item is there, byte for byte, unless a trim that was at least
//!   started covers it, and every item an acknowledged trim covers is gone;
//! * no sequence number or (blob, version) was acknowledged twice, i.e. nothing was reused
//!   after a crash rolled back an unacknowledged write;
//! * everything present, acknowledged or not, verifies itself (nothing torn).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use host::store::{BlobStore, RedbStore, MAX_RANGE_ITEMS};
use sha2::{Digest, Sha256};

const ROUNDS: u64 = 4;
/// ACKs to see before arming the kill, so that every round has something to check.
const MIN_ACKS_PER_ROUND: usize = 8;
/// Generous: the first round may wait for the example to build on a busy machine.
const ACK_TIMEOUT: Duration = Duration::from_secs(120);

/// Copy of the example's record layout: `magic ‖ counter ‖ body_len ‖ sha256(body) ‖ body`.
const MAGIC: &[u8; 4] = b"SBS1";
const HEADER: usize = 4 + 8 + 4 + 32;

fn self_verifies(record: &[u8]) -> bool {
    if record.len() < HEADER || &record[..4] != MAGIC {
        return false;
    }
    let body_len = u32::from_le_bytes(record[12..16].try_into().expect("4-byte slice")) as usize;
    let body = &record[HEADER..];
    body.len() == body_len && Sha256::digest(body).as_slice() == &record[16..48]
}

fn sum_hex(record: &[u8]) -> String {
    Sha256::digest(record)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("writer prints hex"))
        .collect()
}

/// `cargo test --test store_crash` alone builds only that test target, not the examples, so build
/// the writer here (a no-op when it is fresh) and find it beside our own executable.
fn storm_exe() -> PathBuf {
    let me = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/store_crash-<hash>
    let profile_dir = me
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps layout")
        .to_path_buf();
    let exe = profile_dir
        .join("examples")
        .join(format!("store_storm{}", std::env::consts::EXE_SUFFIX));
    // `cargo test --workspace` (./dev test, CI) builds examples before running tests; a
    // nested cargo there could rebuild with different feature unification, so only build
    // when the writer is missing (a lone `cargo test --test store_crash`).
    if exe.is_file() {
        return exe;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", "host", "--example", "store_storm"]);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(other) => {
            build.args(["--profile", other]);
        }
        None => panic!("unexpected target layout: {}", me.display()),
    }
    let status = build.status().expect("run cargo build");
    assert!(
        status.success(),
        "building examples/store_storm failed: {status}"
    );
    let exe = profile_dir
        .join("examples")
        .join(format!("store_storm{}", std::env::consts::EXE_SUFFIX));
    assert!(exe.is_file(), "no writer at {}", exe.display());
    exe
}

#[derive(Default)]
struct Acked {
    /// (blob, version) -> checksum, every acknowledged blob write.
    blobs: HashMap<(Vec<u8>, u64), String>,
    /// (queue, seq) -> checksum, every acknowledged append.
    items: HashMap<(Vec<u8>, u64), String>,
    /// Highest `before` of any trim that was started (may have happened) / acknowledged.
    trim_started: HashMap<Vec<u8>, u64>,
    trim_acked: HashMap<Vec<u8>, u64>,
}

impl Acked {
    /// Records one complete line; panics on a reused version or sequence number.
    fn record(&mut self, line: &str) {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["ACK", "blob", name, version, sum] => {
                let key = (unhex(name), version.parse().expect("numeric version"));
                let old = self.blobs.insert(key, sum.to_string());
                assert!(old.is_none(), "blob version acknowledged twice: {line}");
            }
            ["ACK", "queue", name, seq, sum] => {
                let key = (unhex(name), seq.parse().expect("numeric seq"));
                let old = self.items.insert(key, sum.to_string());
                assert!(old.is_none(), "queue seq acknowledged twice: {line}");
            }
            ["BEGIN", "trim", name, before] => {
                let at = self.trim_started.entry(unhex(name)).or_default();
                *at = (*at).max(before.parse().expect("numeric trim bound"));
            }
            ["ACK", "trim", name, before, _removed] => {
                let at = self.trim_acked.entry(unhex(name)).or_default();
                *at = (*at).max(before.parse().expect("numeric trim bound"));
            }
            _ => panic!("unparseable line from writer: {line:?}"),
        }
    }
}

/// Runs the writer until it has acknowledged a few writes, lets it run a little longer, then
/// SIGKILLs it. Returns the complete lines it printed.
fn storm_round(exe: &Path, db: &Path, round: u64) -> Vec<String> {
    let mut child = Command::new(exe)
        .arg(db)
        .arg((0x5eed + round).to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = stdout
                .read_until(b'\n', &mut buf)
                .expect("read writer stdout");
            // A line cut short by the kill was never fully reported; ignore it.
            if n == 0 || buf.last() != Some(&b'\n') {
                break;
            }
            let line = String::from_utf8(buf[..n - 1].to_vec()).expect("writer prints ASCII");
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut lines = Vec::new();
    let deadline = Instant::now() + ACK_TIMEOUT;
    while lines
        .iter()
        .filter(|l: &&String| l.starts_with("ACK"))
        .count()
        < MIN_ACKS_PER_ROUND
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(err) => {
                let _ = child.kill();
                panic!("writer produced too few ACKs in round {round}: {err}");
            }
        }
    }
    // Vary the kill point between rounds: 300..1500 ms into the storm.
    thread::sleep(Duration::from_millis(300 + (round * 397) % 1200));
    child.kill().expect("SIGKILL the writer"); // SIGKILL on unix
    let status = child.wait().expect("reap the writer");
    assert!(!status.success(), "writer exited by itself: {status}");
    reader.join().expect("reader thread");
    lines.extend(rx.try_iter());
    lines
}

/// Reads a whole queue in pages, checking each item verifies itself.
fn read_queue(store: &RedbStore, queue: &[u8]) -> BTreeMap<u64, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut from = 0;
    loop {
        let page = store
            .queue_range(queue, from, MAX_RANGE_ITEMS, u32::MAX)
            .expect("queue_range");
        let Some(&(last, _)) = page.last() else {
            return out;
        };
        for (seq, item) in page {
            assert!(self_verifies(&item), "torn queue item at seq {seq}");
            out.insert(seq, item);
        }
        from = last + 1;
    }
}

fn verify(db: &Path, acked: &Acked) -> usize {
    let store = RedbStore::open(db).expect("reopen after SIGKILL");
    let mut checked = 0;

    let mut current = HashMap::new();
    for ((name, version), sum) in &acked.blobs {
        let blob = current.entry(name.clone()).or_insert_with(|| {
            store
                .get(name)
                .expect("get")
                .expect("acknowledged blob is missing")
        });
        assert!(
            self_verifies(&blob.data),
            "torn blob at version {}",
            blob.version
        );
        assert!(
            blob.version >= *version,
            "acknowledged version {version} lost: store has {}",
            blob.version
        );
        if blob.version == *version {
            assert_eq!(&sum_hex(&blob.data), sum, "acknowledged content changed");
        }
        checked += 1;
    }

    let queues: HashSet<&Vec<u8>> = acked.items.keys().map(|(q, _)| q).collect();
    for queue in queues {
        let items = read_queue(&store, queue);
        let started = acked.trim_started.get(queue).copied().unwrap_or(0);
        let trimmed = acked.trim_acked.get(queue).copied().unwrap_or(0);
        if let Some((&first, _)) = items.first_key_value() {
            assert!(
                first >= trimmed,
                "acknowledged trim below {trimmed} undone (seq {first})"
            );
        }
        let max_acked = acked
            .items
            .keys()
            .filter(|(q, _)| q == queue)
            .map(|(_, s)| *s)
            .max();
        let next_seq = store.queue_stats(queue).expect("queue_stats").next_seq;
        assert!(
            Some(next_seq) > max_acked,
            "next seq {next_seq} would reuse an acked one"
        );
        for ((q, seq), sum) in &acked.items {
            if q != queue || *seq < started {
                continue; // another queue, or (possibly) trimmed
            }
            let item = items.get(seq).expect("acknowledged queue item is missing");
            assert_eq!(
                &sum_hex(item),
                sum,
                "acknowledged item changed at seq {seq}"
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn store_survives_sigkill_during_write_storm() {
    let exe = storm_exe();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("storm.redb");
    let mut acked = Acked::default();
    let mut total_acks = 0;
    for round in 0..ROUNDS {
        let lines = storm_round(&exe, &db, round);
        total_acks += lines.iter().filter(|l| l.starts_with("ACK")).count();
        for line in &lines {
            acked.record(line);
        }
        let checked = verify(&db, &acked);
        println!(
            "round {round}: killed after {} lines; {checked} acknowledged writes checked intact",
            lines.len()
        );
    }
    let stats = RedbStore::open(&db).unwrap().stats().unwrap();
    println!(
        "{ROUNDS} SIGKILL rounds, {total_acks} acknowledged operations ({} blob writes, {} appends); \
         final store: {} blobs, {} queue items, {} bytes",
        acked.blobs.len(),
        acked.items.len(),
        stats.blobs,
        stats.queue_items,
        stats.file_bytes
    );
    assert!(acked.blobs.len() as u64 >= ROUNDS && acked.items.len() as u64 >= ROUNDS);
}
