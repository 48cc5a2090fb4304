//! Random operation sequences against `RedbStore` must match a plain in-test reference model
//! (BTreeMaps), including across reopening the file.

use std::collections::BTreeMap;
use std::path::Path;

use host::store::{BlobStore, QueueStats, RedbStore, StoreError, MAX_LIST_NAMES, MAX_RANGE_BYTES};
use proptest::prelude::*;

/// Few, overlapping names so that conflicts, prefixes and re-creation happen often.
const NAMES: [&[u8]; 5] = [b"a", b"ab", b"b", b"\x00", b"\xff\xff"];
const QUEUES: [&[u8]; 2] = [b"q", b"qq"];

#[derive(Clone, Debug)]
enum Expect {
    Absent,
    Current,
    Exactly(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Get(usize),
    Put(usize, Expect, Vec<u8>),
    Delete(usize, Expect),
    List(Vec<u8>, u32),
    Append(usize, Vec<u8>),
    Range(usize, u64, u32, u32),
    Trim(usize, u64),
    QueueStats(usize),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let name = 0..NAMES.len();
    let queue = 0..QUEUES.len();
    let expect = prop_oneof![
        Just(Expect::Absent),
        Just(Expect::Current),
        (0..6u64).prop_map(Expect::Exactly)
    ];
    // Short items and budgets of the same scale, so byte budgets land exactly on item edges.
    let data = proptest::collection::vec(any::<u8>(), 0..12);
    prop_oneof![
        1 => name.clone().prop_map(Op::Get),
        3 => (name.clone(), expect.clone(), data.clone()).prop_map(|(n, e, d)| Op::Put(n, e, d)),
        1 => (name.clone(), expect).prop_map(|(n, e)| Op::Delete(n, e)),
        1 => (proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(0u8)], 0..3), 1..6u32)
            .prop_map(|(p, l)| Op::List(p, l)),
        3 => (queue.clone(), data).prop_map(|(q, d)| Op::Append(q, d)),
        1 => (queue.clone(), 0..12u64, 1..6u32, 0..40u32)
            .prop_map(|(q, f, i, b)| Op::Range(q, f, i, b)),
        1 => (queue.clone(), 0..12u64).prop_map(|(q, b)| Op::Trim(q, b)),
        1 => queue.prop_map(Op::QueueStats),
        1 => Just(Op::Reopen),
    ]
}

/// (next seq, items by seq)
type ModelQueue = (u64, BTreeMap<u64, Vec<u8>>);

#[derive(Default)]
struct Model {
    blobs: BTreeMap<Vec<u8>, (u64, Vec<u8>)>,
    /// Last version of deleted names: re-creation continues from it.
    tombstones: BTreeMap<Vec<u8>, u64>,
    /// queue -> (next seq, items)
    queues: BTreeMap<Vec<u8>, ModelQueue>,
}

impl Model {
    fn current(&self, name: &[u8]) -> Option<u64> {
        self.blobs.get(name).map(|(v, _)| *v)
    }

    fn put(&mut self, name: &[u8], expected: Option<u64>, data: &[u8]) -> Result<u64, Option<u64>> {
        let current = self.current(name);
        if current != expected {
            return Err(current);
        }
        let base = current
            .or_else(|| self.tombstones.remove(name))
            .unwrap_or(0);
        self.blobs.insert(name.to_vec(), (base + 1, data.to_vec()));
        Ok(base + 1)
    }

    fn delete(&mut self, name: &[u8], expected: u64) -> Result<(), Option<u64>> {
        let current = self.current(name);
        if current != Some(expected) {
            return Err(current);
        }
        self.blobs.remove(name);
        self.tombstones.insert(name.to_vec(), expected);
        Ok(())
    }

    fn range(
        &self,
        queue: &[u8],
        from: u64,
        max_items: u32,
        max_bytes: u32,
    ) -> Vec<(u64, Vec<u8>)> {
        let budget = u64::from(max_bytes.min(MAX_RANGE_BYTES));
        let mut out = Vec::new();
        let mut used = 0u64;
        let Some((_, items)) = self.queues.get(queue) else {
            return out;
        };
        for (seq, item) in items.range(from..) {
            let len = item.len() as u64;
            if out.len() == max_items as usize || (!out.is_empty() && used + len > budget) {
                break;
            }
            used += len;
            out.push((*seq, item.clone()));
        }
        out
    }
}

fn resolve(e: &Expect, model: &Model, name: &[u8]) -> Option<u64> {
    match e {
        Expect::Absent => None,
        Expect::Current => model.current(name),
        Expect::Exactly(v) => Some(*v),
    }
}

fn conflict_of<T: std::fmt::Debug>(r: Result<T, StoreError>) -> Option<u64> {
    match r {
        Err(StoreError::Conflict { current }) => current,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn run(ops: Vec<Op>, path: &Path) -> Result<(), StoreError> {
    let mut store = RedbStore::open(path)?;
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Get(n) => {
                let got = store.get(NAMES[n])?.map(|b| (b.version, b.data));
                assert_eq!(got, model.blobs.get(NAMES[n]).cloned());
            }
            Op::Put(n, e, data) => {
                let expected = resolve(&e, &model, NAMES[n]);
                let got = store.put(NAMES[n], expected, &data);
                match model.put(NAMES[n], expected, &data) {
                    Ok(v) => assert_eq!(got?, v),
                    Err(current) => assert_eq!(conflict_of(got), current),
                }
            }
            Op::Delete(n, e) => {
                let expected = resolve(&e, &model, NAMES[n]).unwrap_or(1);
                let got = store.delete(NAMES[n], expected);
                match model.delete(NAMES[n], expected) {
                    Ok(()) => got?,
                    Err(current) => assert_eq!(conflict_of(got), current),
                }
            }
            Op::List(prefix, limit) => {
                let want: Vec<(Vec<u8>, u64)> = model
                    .blobs
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .take(limit as usize)
                    .map(|(k, (v, _))| (k.clone(), *v))
                    .collect();
                assert_eq!(store.list(&prefix, limit.min(MAX_LIST_NAMES))?, want);
            }
            Op::Append(q, item) => {
                let (next, items) = model
                    .queues
                    .entry(QUEUES[q].to_vec())
                    .or_insert((1, BTreeMap::new()));
                assert_eq!(store.queue_append(QUEUES[q], &item)?, *next);
                items.insert(*next, item);
                *next += 1;
            }
            Op::Range(q, from, max_items, max_bytes) => {
                let got = store.queue_range(QUEUES[q], from, max_items, max_bytes)?;
                assert_eq!(got, model.range(QUEUES[q], from, max_items, max_bytes));
            }
            Op::Trim(q, before) => {
                let removed = match model.queues.get_mut(QUEUES[q]) {
                    Some((_, items)) => {
                        let keep = items.split_off(&before);
                        let removed = items.len() as u64;
                        *items = keep;
                        removed
                    }
                    None => 0,
                };
                assert_eq!(store.queue_trim(QUEUES[q], before)?, removed);
            }
            Op::QueueStats(q) => {
                let want = model.queues.get(QUEUES[q]).map_or(
                    QueueStats {
                        held: 0,
                        next_seq: 1,
                    },
                    |(next, items)| QueueStats {
                        held: items.len() as u64,
                        next_seq: *next,
                    },
                );
                assert_eq!(store.queue_stats(QUEUES[q])?, want);
            }
            Op::Reopen => {
                drop(store);
                store = RedbStore::open(path)?;
            }
        }
    }
    let stats = store.stats()?;
    assert_eq!(stats.blobs, model.blobs.len() as u64);
    assert_eq!(stats.tombstones, model.tombstones.len() as u64);
    assert_eq!(stats.queues, model.queues.len() as u64);
    let held: usize = model.queues.values().map(|(_, items)| items.len()).sum();
    assert_eq!(stats.queue_items, held as u64);
    Ok(())
}

proptest! {
    // Every write fsyncs, so 128 cases of up to 60 ops is about ten seconds of disk time.
    // No regression file: the only files this suite may write are its temp databases.
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn store_matches_reference_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        run(ops, &dir.path().join("store.redb")).unwrap();
    }
}
