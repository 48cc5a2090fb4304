//! Wrong-SK rate limiting per channel (DESIGN §4.1). VAULT.md §8.
//!
//! A failed [`super::KeyRecord::unwrap`] is the only signal that someone is guessing SK.
//! SK is 256 random bits, so guessing is hopeless anyway; the limiter exists to make online
//! guessing visibly pointless. Only failures are throttled: the caller checks the key
//! first (one AEAD tag check) and asks the limiter only when it failed
//! ([`UnlockLimiter::fail`]), so a correct key always succeeds and nobody who merely knows
//! a channel id can lock its admins out.

use std::collections::HashMap;

use super::{ChannelId, VaultError};

/// Failures allowed before any delay (a mistyped key file, a lagging admin after rotation).
pub const FREE_ATTEMPTS: u32 = 5;
/// The first delay, doubled after every further failure.
pub const FIRST_DELAY_SECS: u64 = 1;
/// The longest delay.
pub const MAX_DELAY_SECS: u64 = 3600;
/// Channels tracked at once; beyond it the entry with the oldest failure is evicted.
pub const MAX_TRACKED_CHANNELS: usize = 10_000;
/// A channel with no failure for this long starts again with free attempts (successes
/// no longer reset the count: they would hand an attacker fresh free attempts).
pub const FORGET_AFTER_SECS: u64 = 24 * 3600;

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    retry_at: u64,
    last_failure: u64,
}

/// Per-channel exponential backoff after failed unlocks. Time is injected (`now_secs`,
/// any monotonic seconds). Not synchronized: wrap it in a mutex to share it.
pub struct UnlockLimiter {
    entries: HashMap<ChannelId, Entry>,
    capacity: usize,
}

impl std::fmt::Debug for UnlockLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnlockLimiter")
            .field("tracked", &self.entries.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Default for UnlockLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl UnlockLimiter {
    pub fn new() -> UnlockLimiter {
        Self::with_capacity(MAX_TRACKED_CHANNELS)
    }

    /// A limiter tracking at most `capacity` (≥ 1) channels.
    pub fn with_capacity(capacity: usize) -> UnlockLimiter {
        UnlockLimiter {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The delay imposed after the `failures`-th consecutive failure: 0 for the first
    /// [`FREE_ATTEMPTS`], then 1 s, 2 s, 4 s, … capped at [`MAX_DELAY_SECS`].
    pub fn delay_after(failures: u32) -> u64 {
        let Some(excess) = failures.checked_sub(FREE_ATTEMPTS + 1) else {
            return 0;
        };
        FIRST_DELAY_SECS
            .checked_shl(excess)
            .filter(|d| *d < MAX_DELAY_SECS)
            .unwrap_or(MAX_DELAY_SECS)
    }

    /// Is this channel throttled now? `RateLimited` while a failure's delay runs. Only
    /// failed attempts consult it ([`UnlockLimiter::fail`]); a correct key is never refused.
    pub fn check(&self, channel_id: &ChannelId, now_secs: u64) -> Result<(), VaultError> {
        match self.entries.get(channel_id) {
            Some(e) if now_secs < e.retry_at => Err(VaultError::RateLimited {
                retry_after_secs: e.retry_at - now_secs,
            }),
            _ => Ok(()),
        }
    }

    /// A key (or passphrase) just failed for this channel: records the failure and returns
    /// the error to answer. That is `RateLimited` if the channel was already throttled when
    /// the attempt came (the attempt still counts, so the delay keeps growing for whoever
    /// keeps guessing), else `failed` (e.g. `WrongKey`, `OtpUnknown`).
    pub fn fail(
        &mut self,
        channel_id: &ChannelId,
        now_secs: u64,
        failed: VaultError,
    ) -> VaultError {
        let throttled = self.check(channel_id, now_secs);
        self.record_failure(channel_id, now_secs);
        match throttled {
            Err(limited) => limited,
            Ok(()) => failed,
        }
    }

    /// Records a failed unwrap; returns the delay now imposed (0 while attempts are free).
    pub fn record_failure(&mut self, channel_id: &ChannelId, now_secs: u64) -> u64 {
        if !self.entries.contains_key(channel_id) && self.entries.len() >= self.capacity {
            self.evict_oldest();
        }
        let e = self.entries.entry(*channel_id).or_insert(Entry {
            failures: 0,
            retry_at: 0,
            last_failure: now_secs,
        });
        if now_secs >= e.last_failure.saturating_add(FORGET_AFTER_SECS) {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now_secs;
        let delay = Self::delay_after(e.failures);
        e.retry_at = now_secs.saturating_add(delay);
        delay
    }

    /// How many channels are tracked.
    pub fn tracked(&self) -> usize {
        self.entries.len()
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_failure)
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.entries.remove(&id);
        }
    }
}
