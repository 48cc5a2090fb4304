//! The default backend: one redb file on local disk.
//!
//! Crash safety comes from redb's copy-on-write B-trees and checksummed commit slots: a commit
//! either becomes visible whole or not at all, so a `kill -9` (or power loss) at any moment
//! leaves the file at the last committed state, never a torn blob. Durability comes from
//! committing every write transaction with [`Durability::Immediate`], which fsyncs before
//! `commit` returns. Together: a write method that returns `Ok` is on disk, whole.
//!
//! Concurrency: redb runs one write transaction at a time (others wait in `begin_write`), so each
//! compare-and-swap reads and writes the version inside one serialised transaction and is atomic.
//! Reads run on MVCC snapshots and never wait for writers.

use std::fmt;
use std::path::{Path, PathBuf};

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};

use super::{
    validate, Blob, BlobStore, QueueStats, StoreError, StoreStats, MAX_BLOB_LEN, MAX_QUEUE_ITEM_LEN,
};

/// Layout version written into the file on creation; bump it with any change to the tables
/// below, so an old binary refuses a new file instead of misreading it.
pub(super) const SCHEMA_VERSION: u64 = 1;
pub(super) const SCHEMA_KEY: &str = "schema_version";

/// redb keeps recently used pages in memory. Its default (1 GiB) is sized for a dedicated
/// database server; the host is a thin relay, and blobs are re-read rarely (the enclave caches
/// its own state), so a modest cache suffices.
const CACHE_BYTES: usize = 128 * 1024 * 1024;

/// Sequence number of a queue's first item. Starting at 1 (not 0) lets `from = 0` and
/// `before = 0` mean "from the very beginning" / "nothing" without a special case.
const FIRST_SEQ: u64 = 1;

pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// name -> current version. Kept apart from the data so `list` never reads blob bodies.
const BLOB_VERSIONS: TableDefinition<&[u8], u64> = TableDefinition::new("blob_versions");
/// name -> data. Always written in the same transaction as `BLOB_VERSIONS`.
const BLOB_DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blob_data");
/// name -> last version of a deleted blob, so re-creation continues from it (see
/// [`BlobStore::put`]). Costs one small row per deleted name, forever.
const BLOB_TOMBSTONES: TableDefinition<&[u8], u64> = TableDefinition::new("blob_tombstones");
/// queue -> (next sequence number, items held). The counter lives here rather than being
/// derived from the last item so that trimming every item does not let sequence numbers be
/// reused.
const QUEUE_META: TableDefinition<&[u8], (u64, u64)> = TableDefinition::new("queue_meta");
/// (queue, seq) -> item. Tuple keys sort by queue then seq, so one queue is one contiguous range.
const QUEUE_ITEMS: TableDefinition<(&[u8], u64), &[u8]> = TableDefinition::new("queue_items");

/// A [`BlobStore`] in a single redb file. Cheap to share: wrap it in an `Arc`.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Wraps any redb error with the operation it interrupted.
fn backend<E: Into<redb::Error>>(op: &'static str) -> impl FnOnce(E) -> StoreError {
    move |err| StoreError::Backend {
        op,
        source: Box::new(err.into()),
    }
}

impl RedbStore {
    /// Opens the store at `path`, creating the file if needed. Fails with
    /// [`StoreError::InUse`] while another handle (in any process) has it open.
    ///
    /// After a crash, opening repairs the file back to its last commit first; that walks the
    /// whole file, so it takes time proportional to its size.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|err| match err {
                DatabaseError::DatabaseAlreadyOpen => StoreError::InUse,
                other => backend("open")(other),
            })?;
        let store = Self {
            db,
            path: path.to_path_buf(),
        };
        store.init_schema()?;
        Ok(store)
    }

    /// Creates every table up front (so read transactions never meet a missing table) and
    /// checks or records the layout version.
    fn init_schema(&self) -> Result<(), StoreError> {
        const OP: &str = "open";
        let txn = self.begin_write(OP)?;
        {
            let mut meta = txn.open_table(META).map_err(backend(OP))?;
            let found = meta
                .get(SCHEMA_KEY)
                .map_err(backend(OP))?
                .map(|v| v.value());
            match found {
                Some(SCHEMA_VERSION) => {}
                Some(found) => {
                    return Err(StoreError::SchemaMismatch {
                        found,
                        expected: SCHEMA_VERSION,
                    })
                }
                None => {
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION)
                        .map_err(backend(OP))?;
                }
            }
            txn.open_table(BLOB_VERSIONS).map_err(backend(OP))?;
            txn.open_table(BLOB_DATA).map_err(backend(OP))?;
            txn.open_table(BLOB_TOMBSTONES).map_err(backend(OP))?;
            txn.open_table(QUEUE_META).map_err(backend(OP))?;
            txn.open_table(QUEUE_ITEMS).map_err(backend(OP))?;
        }
        commit(txn, OP)
    }

    fn begin_write(&self, op: &'static str) -> Result<WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write().map_err(backend(op))?;
        // The contract of this module: `Ok` from a write means durable. `Immediate` makes
        // `commit` fsync before it returns. It is redb's default today; being explicit keeps a
        // future default change from silently weakening the guarantee.
        txn.set_durability(Durability::Immediate)
            .map_err(backend(op))?;
        Ok(txn)
    }
}

/// Commits durably. Dropping a transaction instead aborts it, which is how every error path
/// below leaves the file untouched.
fn commit(txn: WriteTransaction, op: &'static str) -> Result<(), StoreError> {
    txn.commit().map_err(backend(op))
}

impl BlobStore for RedbStore {
    fn get(&self, name: &[u8]) -> Result<Option<Blob>, StoreError> {
        const OP: &str = "get";
        validate::name(name)?;
        let txn = self.db.begin_read().map_err(backend(OP))?;
        let versions = txn.open_table(BLOB_VERSIONS).map_err(backend(OP))?;
        let Some(version) = versions.get(name).map_err(backend(OP))?.map(|v| v.value()) else {
            return Ok(None);
        };
        // Same read transaction, so the data matches the version we just read.
        let data_table = txn.open_table(BLOB_DATA).map_err(backend(OP))?;
        let guard = data_table
            .get(name)
            .map_err(backend(OP))?
            .ok_or(StoreError::Corrupt {
                detail: "blob version without data",
            })?;
        let data = guard.value();
        // Refuse before copying: the file is the host's, but the limit is the contract.
        if data.len() > MAX_BLOB_LEN {
            return Err(StoreError::Corrupt {
                detail: "stored blob exceeds MAX_BLOB_LEN",
            });
        }
        Ok(Some(Blob {
            version,
            data: data.to_vec(),
        }))
    }

    fn put(&self, name: &[u8], expected: Option<u64>, data: &[u8]) -> Result<u64, StoreError> {
        const OP: &str = "put";
        validate::name(name)?;
        validate::blob_data(data)?;
        let txn = self.begin_write(OP)?;
        let new_version = {
            let mut versions = txn.open_table(BLOB_VERSIONS).map_err(backend(OP))?;
            let current = versions.get(name).map_err(backend(OP))?.map(|v| v.value());
            if current != expected {
                tracing::debug!(?expected, ?current, "blob put conflict");
                return Err(StoreError::Conflict { current });
            }
            let base = match current {
                Some(version) => version,
                None => {
                    let mut tombstones = txn.open_table(BLOB_TOMBSTONES).map_err(backend(OP))?;
                    let last = tombstones.remove(name).map_err(backend(OP))?;
                    last.map_or(0, |v| v.value())
                }
            };
            let new_version = base.checked_add(1).ok_or(StoreError::Exhausted {
                counter: "blob version",
            })?;
            versions.insert(name, new_version).map_err(backend(OP))?;
            let mut blobs = txn.open_table(BLOB_DATA).map_err(backend(OP))?;
            blobs.insert(name, data).map_err(backend(OP))?;
            new_version
        };
        commit(txn, OP)?;
        tracing::debug!(len = data.len(), version = new_version, "blob put");
        Ok(new_version)
    }

    fn delete(&self, name: &[u8], expected: u64) -> Result<(), StoreError> {
        const OP: &str = "delete";
        validate::name(name)?;
        let txn = self.begin_write(OP)?;
        {
            let mut versions = txn.open_table(BLOB_VERSIONS).map_err(backend(OP))?;
            let current = versions.get(name).map_err(backend(OP))?.map(|v| v.value());
            if current != Some(expected) {
                tracing::debug!(expected, ?current, "blob delete conflict");
                return Err(StoreError::Conflict { current });
            }
            versions.remove(name).map_err(backend(OP))?;
            let mut blobs = txn.open_table(BLOB_DATA).map_err(backend(OP))?;
            blobs.remove(name).map_err(backend(OP))?;
            let mut tombstones = txn.open_table(BLOB_TOMBSTONES).map_err(backend(OP))?;
            tombstones.insert(name, expected).map_err(backend(OP))?;
        }
        commit(txn, OP)?;
        tracing::debug!(version = expected, "blob deleted");
        Ok(())
    }

    fn list(&self, prefix: &[u8], limit: u32) -> Result<Vec<(Vec<u8>, u64)>, StoreError> {
        const OP: &str = "list";
        validate::prefix(prefix)?;
        validate::list_limit(limit)?;
        let txn = self.db.begin_read().map_err(backend(OP))?;
        let versions = txn.open_table(BLOB_VERSIONS).map_err(backend(OP))?;
        let mut out = Vec::new();
        // Keys sort bytewise, so every name with this prefix follows `prefix` contiguously.
        for entry in versions.range(prefix..).map_err(backend(OP))? {
            let (name, version) = entry.map_err(backend(OP))?;
            let name = name.value();
            if !name.starts_with(prefix) || out.len() >= count(limit) {
                break;
            }
            out.push((name.to_vec(), version.value()));
        }
        Ok(out)
    }

    fn queue_append(&self, queue: &[u8], item: &[u8]) -> Result<u64, StoreError> {
        const OP: &str = "queue_append";
        validate::name(queue)?;
        validate::queue_item(item)?;
        let txn = self.begin_write(OP)?;
        let seq = {
            let mut meta = txn.open_table(QUEUE_META).map_err(backend(OP))?;
            let (seq, held) = meta
                .get(queue)
                .map_err(backend(OP))?
                .map_or((FIRST_SEQ, 0), |v| v.value());
            let next = seq.checked_add(1).ok_or(StoreError::Exhausted {
                counter: "queue sequence",
            })?;
            // `held` never exceeds the number of sequence numbers handed out, so this cannot
            // overflow unless the file is inconsistent.
            let held = held.checked_add(1).ok_or(StoreError::Corrupt {
                detail: "queue item count overflow",
            })?;
            meta.insert(queue, (next, held)).map_err(backend(OP))?;
            let mut items = txn.open_table(QUEUE_ITEMS).map_err(backend(OP))?;
            items.insert((queue, seq), item).map_err(backend(OP))?;
            seq
        };
        commit(txn, OP)?;
        tracing::debug!(len = item.len(), seq, "queue append");
        Ok(seq)
    }

    fn queue_range(
        &self,
        queue: &[u8],
        from: u64,
        max_items: u32,
        max_bytes: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        const OP: &str = "queue_range";
        validate::name(queue)?;
        validate::range_items(max_items)?;
        let budget = validate::range_bytes(max_bytes);
        let txn = self.db.begin_read().map_err(backend(OP))?;
        let items = txn.open_table(QUEUE_ITEMS).map_err(backend(OP))?;
        let mut out = Vec::new();
        let mut used: u64 = 0;
        let range = items
            .range((queue, from)..=(queue, u64::MAX))
            .map_err(backend(OP))?;
        for entry in range {
            if out.len() >= count(max_items) {
                break;
            }
            let (key, item) = entry.map_err(backend(OP))?;
            let item = item.value();
            if item.len() > MAX_QUEUE_ITEM_LEN {
                return Err(StoreError::Corrupt {
                    detail: "stored queue item exceeds MAX_QUEUE_ITEM_LEN",
                });
            }
            let len = u64::try_from(item.len()).expect("MAX_QUEUE_ITEM_LEN fits in u64");
            // The first item goes out whatever its size, so no budget can stall a reader.
            if !out.is_empty() && used.saturating_add(len) > budget {
                break;
            }
            used = used.saturating_add(len);
            out.push((key.value().1, item.to_vec()));
        }
        Ok(out)
    }

    fn queue_trim(&self, queue: &[u8], before: u64) -> Result<u64, StoreError> {
        const OP: &str = "queue_trim";
        validate::name(queue)?;
        if before <= FIRST_SEQ {
            return Ok(0);
        }
        let txn = self.begin_write(OP)?;
        let removed = {
            let mut meta = txn.open_table(QUEUE_META).map_err(backend(OP))?;
            let Some((next, held)) = meta.get(queue).map_err(backend(OP))?.map(|v| v.value())
            else {
                return Ok(0);
            };
            let mut items = txn.open_table(QUEUE_ITEMS).map_err(backend(OP))?;
            let mut removed: u64 = 0;
            items
                .retain_in((queue, 0)..(queue, before), |_, _| {
                    removed = removed.saturating_add(1);
                    false
                })
                .map_err(backend(OP))?;
            if removed == 0 {
                // Nothing changed: dropping the transaction aborts it and saves an fsync, which
                // matters because consumers re-trim idempotently.
                return Ok(0);
            }
            let held = held.checked_sub(removed).ok_or(StoreError::Corrupt {
                detail: "queue item count below items removed",
            })?;
            meta.insert(queue, (next, held)).map_err(backend(OP))?;
            removed
        };
        commit(txn, OP)?;
        tracing::debug!(removed, before, "queue trim");
        Ok(removed)
    }

    fn queue_stats(&self, queue: &[u8]) -> Result<QueueStats, StoreError> {
        const OP: &str = "queue_stats";
        validate::name(queue)?;
        let txn = self.db.begin_read().map_err(backend(OP))?;
        let meta = txn.open_table(QUEUE_META).map_err(backend(OP))?;
        let (next_seq, held) = meta
            .get(queue)
            .map_err(backend(OP))?
            .map_or((FIRST_SEQ, 0), |v| v.value());
        Ok(QueueStats { held, next_seq })
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        const OP: &str = "stats";
        let txn = self.db.begin_read().map_err(backend(OP))?;
        // `len` is O(1) in redb: each tree's header stores its entry count.
        let blobs = txn.open_table(BLOB_VERSIONS).map_err(backend(OP))?.len();
        let tombstones = txn.open_table(BLOB_TOMBSTONES).map_err(backend(OP))?.len();
        let queues = txn.open_table(QUEUE_META).map_err(backend(OP))?.len();
        let queue_items = txn.open_table(QUEUE_ITEMS).map_err(backend(OP))?.len();
        let file_bytes = std::fs::metadata(&self.path)
            .map_err(|err| StoreError::Backend {
                op: OP,
                source: Box::new(err),
            })?
            .len();
        Ok(StoreStats {
            blobs: blobs.map_err(backend(OP))?,
            tombstones: tombstones.map_err(backend(OP))?,
            queues: queues.map_err(backend(OP))?,
            queue_items: queue_items.map_err(backend(OP))?,
            file_bytes,
        })
    }
}

/// A validated `u32` count limit as a `usize` bound. Saturates instead of truncating on a
/// (hypothetical) 16-bit target, where no such many items could be held anyway.
fn count(limit: u32) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}
