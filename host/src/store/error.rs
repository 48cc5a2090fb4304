//! The one error type of the blob store.
//!
//! Every variant is safe to log: it carries lengths, limits and versions, never a name or a
//! byte of stored data.

/// Why a [`BlobStore`](super::BlobStore) call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A blob, queue or prefix name is empty or longer than its limit.
    #[error("name of {len} bytes is outside 1..={max}")]
    NameInvalid { len: usize, max: usize },

    /// Blob data or a queue item is larger than its limit.
    #[error("value of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },

    /// A count limit (`list`'s `limit`, `queue_range`'s `max_items`) is zero or too large.
    #[error("count limit {requested} is outside 1..={max}")]
    LimitInvalid { requested: u32, max: u32 },

    /// The compare-and-swap precondition did not hold. `current` is the version now stored
    /// (`None`: absent), so the caller can re-read and retry.
    #[error("version conflict: current version is {current:?}")]
    Conflict { current: Option<u64> },

    /// A version or sequence counter would pass `u64::MAX`. Unreachable in practice (one write
    /// per nanosecond for 584 years), but refusing is better than wrapping to a reused number.
    #[error("{counter} counter exhausted")]
    Exhausted { counter: &'static str },

    /// Another handle (in this or another process) has the store open.
    #[error("store is already open elsewhere")]
    InUse,

    /// The store was written with a layout this code does not understand.
    #[error("store schema version {found} is not the supported {expected}")]
    SchemaMismatch { found: u64, expected: u64 },

    /// Stored records contradict each other, e.g. a version without its data.
    #[error("store is inconsistent: {detail}")]
    Corrupt { detail: &'static str },

    /// The storage backend (database, disk) failed. The operation did not take effect, or, for a
    /// failure inside a commit, may or may not have; either way it was not acknowledged.
    #[error("storage backend failed during {op}")]
    Backend {
        op: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}
