//! A fault switch for end-to-end tests only (`sealboost-host run --danger-test-faults FILE`):
//! never set in a deployment. Before each write of a channel state blob (`ch/…/state`) the
//! host reads FILE; a line `ACTION [SKIP]` acts on the state write after SKIP more, once
//! (the file is then removed):
//!
//! - `conflict`: the write is refused with a conflict, as a racing writer would cause;
//! - `exit-after-write`: the write is made durable, then the host exits at once without
//!   answering, as if the machine lost power right after the commit.
//!
//! A host that misbehaves like this is within the threat model (the host is untrusted);
//! the switch only makes the moment deterministic for a test.

use std::path::PathBuf;

use super::{BlobStore, QueueStats, StoreError, StoreStats};

pub struct DangerTestFaults<S> {
    inner: S,
    file: PathBuf,
}

impl<S> std::fmt::Debug for DangerTestFaults<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DangerTestFaults").finish_non_exhaustive()
    }
}

impl<S> DangerTestFaults<S> {
    pub fn new(inner: S, file: PathBuf) -> Self {
        DangerTestFaults { inner, file }
    }

    /// The action for this state write, if any (consumes the file when it fires).
    fn take(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.file).ok()?;
        let mut words = text.split_whitespace();
        let action = words.next()?.to_owned();
        let skip: u32 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        if skip > 0 {
            let _ = std::fs::write(&self.file, format!("{action} {}\n", skip - 1));
            return None;
        }
        let _ = std::fs::remove_file(&self.file);
        tracing::warn!(action = %action, "danger test fault fired on a state write");
        Some(action)
    }
}

fn is_state(name: &[u8]) -> bool {
    name.starts_with(b"ch/") && name.ends_with(b"/state")
}

impl<S: BlobStore> BlobStore for DangerTestFaults<S> {
    fn get(&self, name: &[u8]) -> Result<Option<super::Blob>, StoreError> {
        self.inner.get(name)
    }
    fn put(&self, name: &[u8], expected: Option<u64>, data: &[u8]) -> Result<u64, StoreError> {
        if !is_state(name) {
            return self.inner.put(name, expected, data);
        }
        match self.take().as_deref() {
            Some("conflict") => Err(StoreError::Conflict { current: expected }),
            Some("exit-after-write") => {
                let _ = self.inner.put(name, expected, data);
                std::process::exit(86);
            }
            _ => self.inner.put(name, expected, data),
        }
    }
    fn delete(&self, name: &[u8], expected: u64) -> Result<(), StoreError> {
        self.inner.delete(name, expected)
    }
    fn list(&self, prefix: &[u8], limit: u32) -> Result<Vec<(Vec<u8>, u64)>, StoreError> {
        self.inner.list(prefix, limit)
    }
    fn queue_append(&self, queue: &[u8], item: &[u8]) -> Result<u64, StoreError> {
        self.inner.queue_append(queue, item)
    }
    fn queue_range(
        &self,
        queue: &[u8],
        from: u64,
        max_items: u32,
        max_bytes: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.inner.queue_range(queue, from, max_items, max_bytes)
    }
    fn queue_trim(&self, queue: &[u8], before: u64) -> Result<u64, StoreError> {
        self.inner.queue_trim(queue, before)
    }
    fn queue_stats(&self, queue: &[u8]) -> Result<QueueStats, StoreError> {
        self.inner.queue_stats(queue)
    }
    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.stats()
    }
}
