//! Semantics of the blob store, exercised on a real redb file (there is no in-memory double:
//! the file backend is what ships). Randomised model checks live in `tests/store_props.rs`,
//! threads in `tests/store_concurrency.rs`, SIGKILL in `tests/store_crash.rs`.

use tempfile::TempDir;

use super::redb_store::{META, SCHEMA_KEY, SCHEMA_VERSION};
use super::*;

fn fresh() -> (TempDir, RedbStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(&dir.path().join("store.redb")).expect("open");
    (dir, store)
}

fn reopen(dir: &TempDir, store: RedbStore) -> RedbStore {
    drop(store);
    RedbStore::open(&dir.path().join("store.redb")).expect("reopen")
}

#[test]
fn create_only_refuses_existing_name() {
    let (_dir, s) = fresh();
    assert_eq!(s.put(b"a", None, b"one").unwrap(), 1);
    assert!(matches!(
        s.put(b"a", None, b"two"),
        Err(StoreError::Conflict { current: Some(1) })
    ));
    assert_eq!(
        s.get(b"a").unwrap(),
        Some(Blob {
            version: 1,
            data: b"one".to_vec()
        })
    );
}

#[test]
fn stale_version_conflicts_with_current() {
    let (_dir, s) = fresh();
    s.put(b"a", None, b"v1").unwrap();
    assert_eq!(s.put(b"a", Some(1), b"v2").unwrap(), 2);
    assert!(matches!(
        s.put(b"a", Some(1), b"stale"),
        Err(StoreError::Conflict { current: Some(2) })
    ));
    assert!(matches!(
        s.put(b"absent", Some(1), b"x"),
        Err(StoreError::Conflict { current: None })
    ));
    // Version 0 is never issued, so it never matches.
    assert!(matches!(
        s.put(b"absent", Some(0), b"x"),
        Err(StoreError::Conflict { current: None })
    ));
    assert_eq!(s.get(b"a").unwrap().unwrap().data, b"v2");
    assert_eq!(s.get(b"absent").unwrap(), None);
}

#[test]
fn versions_grow_by_one_per_write() {
    let (_dir, s) = fresh();
    let mut expected = None;
    for want in 1..=20u64 {
        let got = s.put(b"n", expected, &want.to_le_bytes()).unwrap();
        assert_eq!(got, want);
        expected = Some(got);
    }
}

#[test]
fn delete_needs_current_version_and_recreate_continues_versions() {
    let (dir, s) = fresh();
    s.put(b"a", None, b"1").unwrap();
    s.put(b"a", Some(1), b"2").unwrap();
    assert!(matches!(
        s.delete(b"a", 1),
        Err(StoreError::Conflict { current: Some(2) })
    ));
    assert!(matches!(
        s.delete(b"missing", 1),
        Err(StoreError::Conflict { current: None })
    ));
    s.delete(b"a", 2).unwrap();
    assert_eq!(s.get(b"a").unwrap(), None);
    assert!(matches!(
        s.delete(b"a", 2),
        Err(StoreError::Conflict { current: None })
    ));
    // A stale writer holding version 2 must not be able to match the re-created blob.
    assert!(matches!(
        s.put(b"a", Some(2), b"stale"),
        Err(StoreError::Conflict { current: None })
    ));
    let s = reopen(&dir, s);
    assert_eq!(s.put(b"a", None, b"again").unwrap(), 3);
    let stats = s.stats().unwrap();
    assert_eq!((stats.blobs, stats.tombstones), (1, 0));
}

#[test]
fn list_filters_by_prefix_in_order_with_limit() {
    let (_dir, s) = fresh();
    for name in [&b"p/b"[..], b"p/a", b"q/a", b"p", b"p/c"] {
        s.put(name, None, b"x").unwrap();
    }
    s.put(b"p/a", Some(1), b"y").unwrap();
    let all = s.list(b"p/", MAX_LIST_NAMES).unwrap();
    assert_eq!(
        all,
        vec![
            (b"p/a".to_vec(), 2),
            (b"p/b".to_vec(), 1),
            (b"p/c".to_vec(), 1)
        ]
    );
    assert_eq!(s.list(b"p/", 2).unwrap().len(), 2);
    assert_eq!(s.list(b"", MAX_LIST_NAMES).unwrap().len(), 5);
    assert!(s.list(b"zzz", 10).unwrap().is_empty());
    assert!(matches!(
        s.list(b"p", 0),
        Err(StoreError::LimitInvalid { requested: 0, .. })
    ));
}

#[test]
fn queue_seq_starts_at_one_and_survives_trim_and_reopen() {
    let (dir, s) = fresh();
    assert_eq!(
        s.queue_stats(b"q").unwrap(),
        QueueStats {
            held: 0,
            next_seq: 1
        }
    );
    for want in 1..=3u8 {
        assert_eq!(s.queue_append(b"q", &[want; 10]).unwrap(), u64::from(want));
    }
    assert_eq!(s.queue_trim(b"q", 100).unwrap(), 3);
    assert_eq!(
        s.queue_stats(b"q").unwrap(),
        QueueStats {
            held: 0,
            next_seq: 4
        }
    );
    let s = reopen(&dir, s);
    assert_eq!(s.queue_append(b"q", b"after").unwrap(), 4);
    // Queues are independent.
    assert_eq!(s.queue_append(b"other", b"x").unwrap(), 1);
}

#[test]
fn queue_range_respects_from_items_and_bytes() {
    let (_dir, s) = fresh();
    for i in 1..=5u8 {
        s.queue_append(b"q", &[i; 10]).unwrap();
    }
    let seqs = |v: Vec<(u64, Vec<u8>)>| v.into_iter().map(|(seq, _)| seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(s.queue_range(b"q", 0, 100, 1000).unwrap()),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(seqs(s.queue_range(b"q", 3, 100, 1000).unwrap()), [3, 4, 5]);
    assert_eq!(seqs(s.queue_range(b"q", 2, 2, 1000).unwrap()), [2, 3]);
    // 25 bytes fit two 10-byte items but not a third.
    assert_eq!(seqs(s.queue_range(b"q", 1, 100, 25).unwrap()), [1, 2]);
    // A budget smaller than one item still yields that item.
    assert_eq!(seqs(s.queue_range(b"q", 4, 100, 0).unwrap()), [4]);
    assert!(s.queue_range(b"q", 6, 100, 1000).unwrap().is_empty());
    assert!(s.queue_range(b"q", u64::MAX, 100, 1000).unwrap().is_empty());
    assert!(s.queue_range(b"never", 0, 100, 1000).unwrap().is_empty());
    let items = s.queue_range(b"q", 5, 1, 1000).unwrap();
    assert_eq!(items, vec![(5, vec![5; 10])]);
    assert!(matches!(
        s.queue_range(b"q", 0, MAX_RANGE_ITEMS + 1, 1000),
        Err(StoreError::LimitInvalid {
            max: MAX_RANGE_ITEMS,
            ..
        })
    ));
}

#[test]
fn queue_trim_is_idempotent_and_partial() {
    let (_dir, s) = fresh();
    for _ in 0..5 {
        s.queue_append(b"q", b"item").unwrap();
    }
    assert_eq!(s.queue_trim(b"q", 0).unwrap(), 0);
    assert_eq!(s.queue_trim(b"q", 1).unwrap(), 0);
    assert_eq!(s.queue_trim(b"q", 3).unwrap(), 2);
    assert_eq!(s.queue_trim(b"q", 3).unwrap(), 0);
    assert_eq!(s.queue_trim(b"never", 3).unwrap(), 0);
    let left: Vec<u64> = s
        .queue_range(b"q", 0, 10, 1000)
        .unwrap()
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    assert_eq!(left, [3, 4, 5]);
    assert_eq!(
        s.queue_stats(b"q").unwrap(),
        QueueStats {
            held: 3,
            next_seq: 6
        }
    );
}

#[test]
fn name_limits_apply_to_every_method() {
    let (_dir, s) = fresh();
    let longest = [0xAB; MAX_NAME_LEN];
    assert_eq!(s.put(&longest, None, b"x").unwrap(), 1);
    assert_eq!(s.queue_append(&longest, b"x").unwrap(), 1);
    let too_long = [0xAB; MAX_NAME_LEN + 1];
    for bad in [&b""[..], &too_long[..]] {
        let is_name_err = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NameInvalid { len, max: MAX_NAME_LEN }) if len == bad.len());
        assert!(is_name_err(s.get(bad).map(drop)));
        assert!(is_name_err(s.put(bad, None, b"x").map(drop)));
        assert!(is_name_err(s.delete(bad, 1)));
        assert!(is_name_err(s.queue_append(bad, b"x").map(drop)));
        assert!(is_name_err(s.queue_range(bad, 0, 1, 1).map(drop)));
        assert!(is_name_err(s.queue_trim(bad, 5).map(drop)));
        assert!(is_name_err(s.queue_stats(bad).map(drop)));
    }
    assert!(matches!(
        s.list(&too_long, 1),
        Err(StoreError::NameInvalid { .. })
    ));
}

#[test]
fn value_limits_are_inclusive() {
    let (_dir, s) = fresh();
    let big = vec![0x5A; MAX_BLOB_LEN + 1];
    assert!(matches!(
        s.put(b"big", None, &big),
        Err(StoreError::TooLarge { len, max: MAX_BLOB_LEN }) if len == MAX_BLOB_LEN + 1
    ));
    assert_eq!(s.put(b"big", None, &big[..MAX_BLOB_LEN]).unwrap(), 1);
    assert_eq!(s.get(b"big").unwrap().unwrap().data.len(), MAX_BLOB_LEN);
    assert_eq!(s.put(b"empty", None, b"").unwrap(), 1);
    assert_eq!(s.get(b"empty").unwrap().unwrap().data, b"");
    let item = vec![1; MAX_QUEUE_ITEM_LEN + 1];
    assert!(matches!(
        s.queue_append(b"q", &item),
        Err(StoreError::TooLarge { len, max: MAX_QUEUE_ITEM_LEN }) if len == MAX_QUEUE_ITEM_LEN + 1
    ));
    assert_eq!(
        s.queue_append(b"q", &item[..MAX_QUEUE_ITEM_LEN]).unwrap(),
        1
    );
    // A rejected write leaves nothing behind.
    assert_eq!(s.queue_stats(b"q").unwrap().held, 1);
}

#[test]
fn reopen_keeps_everything_and_second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let s = RedbStore::open(&path).unwrap();
    s.put(b"a", None, b"alpha").unwrap();
    s.put(b"a", Some(1), b"alpha2").unwrap();
    s.put(b"b", None, b"beta").unwrap();
    s.queue_append(b"q", b"one").unwrap();
    s.queue_append(b"q", b"two").unwrap();
    assert!(matches!(RedbStore::open(&path), Err(StoreError::InUse)));
    let before = s.stats().unwrap();
    drop(s);

    let s = RedbStore::open(&path).unwrap();
    assert_eq!(s.get(b"a").unwrap().unwrap().data, b"alpha2");
    assert_eq!(s.get(b"a").unwrap().unwrap().version, 2);
    assert_eq!(s.get(b"b").unwrap().unwrap().data, b"beta");
    assert_eq!(
        s.queue_range(b"q", 0, 10, 100).unwrap(),
        vec![(1, b"one".to_vec()), (2, b"two".to_vec())]
    );
    let after = s.stats().unwrap();
    assert_eq!((after.blobs, after.queues, after.queue_items), (2, 1, 2));
    assert_eq!((before.blobs, before.queues, before.queue_items), (2, 1, 2));
    assert!(after.file_bytes > 0);
}

#[test]
fn unknown_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    drop(RedbStore::open(&path).unwrap());
    {
        use redb::Database;
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_KEY, SCHEMA_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        RedbStore::open(&path),
        Err(StoreError::SchemaMismatch { found, expected: SCHEMA_VERSION }) if found == SCHEMA_VERSION + 1
    ));
}

#[test]
fn debug_output_hides_data() {
    let blob = Blob {
        version: 7,
        data: b"secret-ish ciphertext".to_vec(),
    };
    let shown = format!("{blob:?}");
    assert!(shown.contains("version: 7"));
    assert!(!shown.contains("secret"));
}
