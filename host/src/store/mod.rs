//! Durable storage of the enclave's opaque ciphertext: named blobs with compare-and-swap
//! versions, and append-only queues with trim.
//!
//! The host cannot read what it stores, and the enclave cannot trust it; what the host *can*
//! promise is that it never loses or tears a write it has acknowledged. Every backend therefore
//! follows one rule: **a method that returns `Ok` has made its effect durable** (on the default
//! [`RedbStore`], fsynced to the file before the call returns). The link layer acknowledges a
//! write to the enclave only after that `Ok`.
//!
//! Names (of blobs and queues) and all data are opaque bytes. The store never inspects data, and
//! nothing here logs a name or a byte of content: only lengths, versions and sequence numbers.
//!
//! Limits are checked by [`validate`] at the trait boundary, before any backend work, so that
//! every backend (the embedded one here, a PostgreSQL one later) accepts and rejects exactly the
//! same inputs.

pub mod danger_test_faults;
mod error;
mod redb_store;
pub mod validate;

#[cfg(test)]
mod tests;

use std::fmt;

pub use error::StoreError;
pub use redb_store::RedbStore;

/// Longest blob or queue name, in bytes. Names are opaque random ids chosen by the enclave;
/// 128 bytes leaves room for a prefix plus a 256-bit id in any encoding.
pub const MAX_NAME_LEN: usize = 128;
/// Largest blob. Big enough for an enclave's sealed state snapshot, small enough that one read
/// or write never holds an unreasonable amount of host memory.
pub const MAX_BLOB_LEN: usize = 16 * 1024 * 1024;
/// Largest queue item: queue items are messages, not snapshots.
pub const MAX_QUEUE_ITEM_LEN: usize = 256 * 1024;
/// Most items one [`BlobStore::queue_range`] call may return.
pub const MAX_RANGE_ITEMS: u32 = 1024;
/// Ceiling on the `max_bytes` budget of one [`BlobStore::queue_range`] call: larger requests are
/// clamped to it, so one response stays bounded even with `MAX_RANGE_ITEMS` large items.
pub const MAX_RANGE_BYTES: u32 = 16 * 1024 * 1024;
/// Most names one [`BlobStore::list`] call may return.
pub const MAX_LIST_NAMES: u32 = 1024;

/// A stored blob at one version.
///
/// `Debug` shows the length only: the data is ciphertext and has no business in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob {
    /// Starts at 1 and grows by 1 with every successful write of this name (see
    /// [`BlobStore::put`] for what happens across a delete).
    pub version: u64,
    /// Opaque bytes exactly as last written.
    pub data: Vec<u8>,
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blob")
            .field("version", &self.version)
            .field("len", &self.data.len())
            .finish()
    }
}

/// The state of one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueStats {
    /// Items currently held (appended and not yet trimmed).
    pub held: u64,
    /// The sequence number the next append will get. Sequence numbers start at 1, so a queue
    /// that was never appended to reports 1.
    pub next_seq: u64,
}

/// Totals over the whole store. Deliberately carries no names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStats {
    /// Live blobs.
    pub blobs: u64,
    /// Names that were deleted and are remembered only to keep their versions monotonic.
    pub tombstones: u64,
    /// Queues that have ever been appended to.
    pub queues: u64,
    /// Items held over all queues.
    pub queue_items: u64,
    /// Size of the backing storage in bytes (for `RedbStore`, the database file).
    pub file_bytes: u64,
}

/// Named blobs with compare-and-swap versions, plus append-only queues.
///
/// Synchronous on purpose: a durable write waits for the disk, so the async host calls these
/// through `spawn_blocking`. Every method validates its arguments with [`validate`] first, and
/// every write that returns `Ok` is durable.
pub trait BlobStore: Send + Sync + 'static {
    /// The current blob, or `None` if the name is absent.
    fn get(&self, name: &[u8]) -> Result<Option<Blob>, StoreError>;

    /// Writes `data` under `name` if the current version is `expected`, and returns the new
    /// version.
    ///
    /// `expected = None` creates only if absent; `Some(v)` replaces only if the current version
    /// is `v`. Anything else fails with [`StoreError::Conflict`] carrying the current version.
    /// A name that was deleted and is created again continues from its last version plus one
    /// rather than restarting at 1, so a stale `Some(v)` can never match a different blob that
    /// happens to have reached the same version (the ABA problem).
    fn put(&self, name: &[u8], expected: Option<u64>, data: &[u8]) -> Result<u64, StoreError>;

    /// Removes the blob if its current version is `expected`; otherwise
    /// [`StoreError::Conflict`] (with `current: None` if it is absent).
    fn delete(&self, name: &[u8], expected: u64) -> Result<(), StoreError>;

    /// Names starting with `prefix`, in byte order, with their versions; at most `limit`
    /// (1..=[`MAX_LIST_NAMES`]). Used by a restarting enclave to rediscover its blobs.
    fn list(&self, prefix: &[u8], limit: u32) -> Result<Vec<(Vec<u8>, u64)>, StoreError>;

    /// Appends `item` to `queue` (creating it on first use) and returns the item's sequence
    /// number: strictly increasing per queue, starting at 1, never reused even after a trim.
    fn queue_append(&self, queue: &[u8], item: &[u8]) -> Result<u64, StoreError>;

    /// Items with `seq >= from`, in order: at most `max_items` (1..=[`MAX_RANGE_ITEMS`]) and
    /// stopping before the item that would take the total past `max_bytes` (clamped to
    /// [`MAX_RANGE_BYTES`]), except that the first item is always returned if there is one, so a
    /// reader can never be stuck behind an item larger than its budget.
    fn queue_range(
        &self,
        queue: &[u8],
        from: u64,
        max_items: u32,
        max_bytes: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// Removes every item with `seq < before` and returns how many were removed. Idempotent.
    fn queue_trim(&self, queue: &[u8], before: u64) -> Result<u64, StoreError>;

    /// Items held and the next sequence number; a never-used queue reports `(0, 1)`.
    fn queue_stats(&self, queue: &[u8]) -> Result<QueueStats, StoreError>;

    /// Totals over the whole store.
    fn stats(&self) -> Result<StoreStats, StoreError>;
}
