//! Throughput of `RedbStore` with its real durability (an fsync per acknowledged write).
//!
//! Usage: `cargo run --release -p host --example store_bench [dir]` (default: a temp dir).
//! Numbers depend mostly on the disk's fsync latency; run it on the host's real volume.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use host::store::{BlobStore, RedbStore};

fn rate(label: &str, ops: u64, bytes: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let per_sec = ops as f64 / secs;
    let mib = per_sec * bytes as f64 / (1024.0 * 1024.0);
    println!("{label:<34} {per_sec:>9.0} ops/s {mib:>8.1} MiB/s  ({ops} ops in {secs:.2} s)");
}

fn puts(store: &RedbStore, name: &[u8], size: usize, ops: u64) -> Result<(), Box<dyn Error>> {
    let data = vec![0xA5; size];
    let mut version = store.get(name)?.map(|b| b.version);
    let started = Instant::now();
    for _ in 0..ops {
        version = Some(store.put(name, version, &data)?);
    }
    rate(&format!("put (CAS update) {size} B"), ops, size, started);
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| tmp.path().to_path_buf(), PathBuf::from);
    let store = Arc::new(RedbStore::open(&dir.join("bench.redb"))?);

    puts(&store, b"bench-1k", 1024, 2000)?;
    puts(&store, b"bench-64k", 64 * 1024, 500)?;
    puts(&store, b"bench-1m", 1024 * 1024, 100)?;

    let item = vec![0x5A; 1024];
    let started = Instant::now();
    for _ in 0..2000 {
        store.queue_append(b"bench-queue", &item)?;
    }
    rate("queue_append 1024 B", 2000, 1024, started);

    let started = Instant::now();
    let mut reads = 0u64;
    while reads < 20_000 {
        store.get(b"bench-1k")?;
        store.queue_range(b"bench-queue", reads % 2000, 16, u32::MAX)?;
        reads += 2;
    }
    rate("get 1 KiB / range 16 items (mixed)", reads, 0, started);

    // Writers serialise inside redb (one write transaction at a time, one fsync each), so more
    // threads should not multiply write throughput; this shows by how much they do not.
    let threads = 4u8;
    let per_thread = 500u64;
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            thread::spawn(move || -> Result<(), String> {
                let name = [b'w', t];
                let data = vec![t; 1024];
                let mut version = None;
                for _ in 0..per_thread {
                    version = Some(
                        store
                            .put(&name, version, &data)
                            .map_err(|e| e.to_string())?,
                    );
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "bench thread panicked")??;
    }
    rate(
        &format!("put 1024 B, {threads} threads"),
        u64::from(threads) * per_thread,
        1024,
        started,
    );

    let stats = store.stats()?;
    println!(
        "file: {} bytes, {} blobs, {} queue items",
        stats.file_bytes, stats.blobs, stats.queue_items
    );
    Ok(())
}
