//! Write storm for the crash test (`tests/store_crash.rs`): hammers a `RedbStore` with
//! compare-and-swap blob updates, queue appends and trims until it is killed.
//!
//! Usage: `store_storm <db-path> [seed]`
//!
//! Every record it writes verifies itself (see [`record`]). After a call returns `Ok` it prints
//! one line and flushes, so whatever the parent has read is a write the store acknowledged:
//!
//! ```text
//! ACK blob <name-hex> <version> <sha256-of-record-hex>
//! ACK queue <name-hex> <seq> <sha256-of-record-hex>
//! BEGIN trim <name-hex> <before>      (printed before the call: the trim may or may not happen)
//! ACK trim <name-hex> <before> <removed>
//! ```

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;

use host::store::{BlobStore, RedbStore, StoreError, MAX_QUEUE_ITEM_LEN};
use sha2::{Digest, Sha256};

const BLOBS: [&[u8]; 4] = [
    b"storm-blob-0",
    b"storm-blob-1",
    b"storm-blob-2",
    b"storm-blob-3",
];
const QUEUES: [&[u8]; 2] = [b"storm-queue-0", b"storm-queue-1"];
/// Largest record: sizes range from a few bytes to 256 KiB, as the brief asks.
const MAX_RECORD: usize = MAX_QUEUE_ITEM_LEN;
/// Trims keep this many recent items, so the queue both grows and shrinks.
const TRIM_KEEP: u64 = 16;

/// Self-verifying record layout, shared (by copy) with the crash test:
/// `magic(4) ‖ writer counter(8, LE) ‖ body length(4, LE) ‖ sha256(body)(32) ‖ body`.
mod record {
    use sha2::{Digest, Sha256};

    pub const MAGIC: &[u8; 4] = b"SBS1";
    pub const HEADER: usize = 4 + 8 + 4 + 32;

    pub fn encode(counter: u64, body: &[u8]) -> Vec<u8> {
        let body_len = u32::try_from(body.len()).expect("records are at most 256 KiB");
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&counter.to_le_bytes());
        out.extend_from_slice(&body_len.to_le_bytes());
        out.extend_from_slice(&Sha256::digest(body));
        out.extend_from_slice(body);
        out
    }
}

/// xorshift64*: deterministic per seed, fast enough to fill 256 KiB bodies without dominating
/// the fsync-bound loop. Not for anything but test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        // n is small (<= 256 Ki), so the modulo bias is irrelevant for test data.
        usize::try_from(self.next() % n as u64).expect("below n, which is a usize")
    }

    fn body(&mut self) -> Vec<u8> {
        let len = 1 + self.below(MAX_RECORD - record::HEADER);
        let mut body = Vec::with_capacity(len + 8);
        while body.len() < len {
            body.extend_from_slice(&self.next().to_le_bytes());
        }
        body.truncate(len);
        body
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args_os().skip(1);
    let path = PathBuf::from(args.next().ok_or("usage: store_storm <db-path> [seed]")?);
    let seed = match args.next() {
        Some(s) => s.to_str().ok_or("seed must be a number")?.parse::<u64>()?,
        None => u64::from(std::process::id()),
    };
    let mut rng = Rng(seed | 1);

    let store = RedbStore::open(&path)?;
    // Continue from whatever the previous (killed) round left, acknowledged or not.
    let mut versions = Vec::with_capacity(BLOBS.len());
    for name in BLOBS {
        versions.push(store.get(name)?.map(|b| b.version));
    }
    let mut stdout = std::io::stdout().lock();
    let mut counter: u64 = 0;
    loop {
        counter += 1;
        match rng.below(20) {
            0..=9 => {
                let i = rng.below(BLOBS.len());
                let data = record::encode(counter, &rng.body());
                match store.put(BLOBS[i], versions[i], &data) {
                    Ok(version) => {
                        versions[i] = Some(version);
                        let sum = hex(&Sha256::digest(&data));
                        writeln!(stdout, "ACK blob {} {version} {sum}", hex(BLOBS[i]))?;
                    }
                    // Only this process writes, so a conflict means the store lost track.
                    Err(StoreError::Conflict { current }) => {
                        return Err(format!("unexpected conflict: now {current:?}").into())
                    }
                    Err(other) => return Err(other.into()),
                }
            }
            10..=18 => {
                let q = QUEUES[rng.below(QUEUES.len())];
                // HEADER + body <= MAX_RECORD == MAX_QUEUE_ITEM_LEN, so the store accepts it.
                let item = record::encode(counter, &rng.body());
                let seq = store.queue_append(q, &item)?;
                let sum = hex(&Sha256::digest(&item));
                writeln!(stdout, "ACK queue {} {seq} {sum}", hex(q))?;
            }
            _ => {
                let q = QUEUES[rng.below(QUEUES.len())];
                let before = store.queue_stats(q)?.next_seq.saturating_sub(TRIM_KEEP);
                // Announced first: a kill between commit and ACK leaves the trim done but
                // unacknowledged, and the checker must allow for that.
                writeln!(stdout, "BEGIN trim {} {before}", hex(q))?;
                stdout.flush()?;
                let removed = store.queue_trim(q, before)?;
                writeln!(stdout, "ACK trim {} {before} {removed}", hex(q))?;
            }
        }
        stdout.flush()?;
    }
}
