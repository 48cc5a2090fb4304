//! Compare-and-swap under contention: threads racing read-modify-write increments on one blob
//! must never lose an increment, and must actually collide.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use host::store::{BlobStore, RedbStore, StoreError};

const THREADS: usize = 8;
const INCREMENTS_PER_THREAD: u64 = 25;

fn decode(data: &[u8]) -> u64 {
    u64::from_le_bytes(data.try_into().expect("counter blob is 8 bytes"))
}

#[test]
fn store_concurrent_cas_increments_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(&dir.path().join("store.redb")).unwrap());
    store.put(b"counter", None, &0u64.to_le_bytes()).unwrap();

    let conflicts = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (store, conflicts, start) = (store.clone(), conflicts.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for _ in 0..INCREMENTS_PER_THREAD {
                    loop {
                        let blob = store.get(b"counter").unwrap().unwrap();
                        let next = decode(&blob.data) + 1;
                        match store.put(b"counter", Some(blob.version), &next.to_le_bytes()) {
                            Ok(version) => {
                                assert_eq!(version, blob.version + 1);
                                break;
                            }
                            Err(StoreError::Conflict {
                                current: Some(current),
                            }) => {
                                // Someone else won this round; the version only moves forward.
                                assert!(current > blob.version);
                                conflicts.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(other) => panic!("unexpected error: {other:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }

    let total = THREADS as u64 * INCREMENTS_PER_THREAD;
    let blob = store.get(b"counter").unwrap().unwrap();
    assert_eq!(decode(&blob.data), total, "an increment was lost");
    assert_eq!(blob.version, total + 1, "one version per successful write");
    let conflicts = conflicts.load(Ordering::Relaxed);
    println!("{total} increments by {THREADS} threads, {conflicts} CAS conflicts retried");
    assert!(
        conflicts > 0,
        "threads never collided; the test proved nothing"
    );
}

#[test]
fn store_concurrent_appends_get_unique_dense_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(&dir.path().join("store.redb")).unwrap());
    let workers: Vec<_> = (0..4u8)
        .map(|t| {
            let store = store.clone();
            thread::spawn(move || {
                (0..20u8)
                    .map(|i| store.queue_append(b"q", &[t, i]).unwrap())
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=80).collect::<Vec<u64>>());
    // Each thread's own items appear in the order it appended them.
    let items = store.queue_range(b"q", 0, 100, u32::MAX).unwrap();
    for t in 0..4u8 {
        let mine: Vec<u8> = items
            .iter()
            .filter(|(_, it)| it[0] == t)
            .map(|(_, it)| it[1])
            .collect();
        assert_eq!(mine, (0..20).collect::<Vec<u8>>());
    }
}
