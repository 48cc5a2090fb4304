//! Live receipt while locked (DESIGN §4.5, COURIER.md §4): after a channel has been
//! unlocked once since enclave start, its Signal connection stays open. Each envelope is
//! sealed to EK (no SK, DK or state needed), appended to the channel's inbound queue on the
//! host, and acknowledged to Signal only once the host has said the append is durable. The
//! only secret kept is the account's service credential.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_core::OsRng;
use signal_client::transport::HttpClient;
use signal_client::ws::{Event, Receiver};
use signal_client::Credentials;
use tokio::task::AbortHandle;
use wire::blob::{BlobRequest, BlobResponse};

use super::Courier;
use crate::blob_client::BlobClient;
use crate::vault::{names, seal_inbound, ChannelId};

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// First pause after a 4409 (another connection took this account: most likely a second
/// enclave holding the same channel). Doubles on each further 4409 up to
/// [`MAX_ELSEWHERE_BACKOFF`], so two holders stop knocking each other off every few seconds.
const INITIAL_ELSEWHERE_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause after a 4409.
pub const MAX_ELSEWHERE_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// A 4409 after this long without one starts a fresh streak (short pause, one new WARN).
const ELSEWHERE_STREAK_ENDS_AFTER: Duration = Duration::from_secs(2 * 5 * 60);

/// Why the receiver lost its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lost {
    /// 4409: another connection for the same account and device took over.
    ConnectedElsewhere,
    /// Anything else (network, append failure, bad frame).
    Other,
}

/// The receiver's reconnection pacing: a pure state machine, so it is tested without a
/// service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    next: Duration,
    elsewhere: Duration,
    last_elsewhere: Option<Instant>,
    warned_elsewhere: bool,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            next: INITIAL_BACKOFF,
            elsewhere: INITIAL_ELSEWHERE_BACKOFF,
            last_elsewhere: None,
            warned_elsewhere: false,
        }
    }

    /// An envelope was stored: the connection works. A 4409 streak is *not* ended by this
    /// (both holders receive envelopes between their takeovers); only time ends it.
    fn stored(&mut self) {
        self.next = INITIAL_BACKOFF;
    }

    /// The pause before reconnecting after `lost` at `now`, and whether this is the first
    /// 4409 of a streak (the one logged at WARN).
    fn on_lost(&mut self, lost: Lost, now: Instant) -> (Duration, bool) {
        match lost {
            Lost::Other => {
                let pause = self.next;
                self.next = (self.next * 2).min(MAX_BACKOFF);
                (pause, false)
            }
            Lost::ConnectedElsewhere => {
                let streak_over = self.last_elsewhere.is_some_and(|t| {
                    now.saturating_duration_since(t) > ELSEWHERE_STREAK_ENDS_AFTER
                });
                if streak_over {
                    self.elsewhere = INITIAL_ELSEWHERE_BACKOFF;
                    self.warned_elsewhere = false;
                }
                self.last_elsewhere = Some(now);
                let pause = self.elsewhere;
                self.elsewhere = (self.elsewhere * 2).min(MAX_ELSEWHERE_BACKOFF);
                let warn = !self.warned_elsewhere;
                self.warned_elsewhere = true;
                (pause, warn)
            }
        }
    }
}

/// What the receiver needs to seal for one channel.
#[derive(Debug, Clone, Copy)]
pub struct SealTo {
    pub id: ChannelId,
    pub ek: [u8; 32],
    pub key_epoch: u64,
}

struct Entry {
    seal: SealTo,
    task: AbortHandle,
}

/// The running receivers, one per channel (by channel, never by person). Each runs on its
/// channel's Signal worker, next to the rest of the channel's Signal work.
#[derive(Default)]
pub struct LiveTable {
    inner: Mutex<HashMap<ChannelId, Entry>>,
}

impl std::fmt::Debug for LiveTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTable")
            .field("channels", &self.len())
            .finish()
    }
}

impl LiveTable {
    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn running(&self, seal: &SealTo) -> bool {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&seal.id).is_some_and(|e| {
            e.seal.key_epoch == seal.key_epoch && e.seal.ek == seal.ek && !e.task.is_finished()
        })
    }

    /// Whether a receiver runs for `id` (one was started since this enclave started and
    /// has not ended).
    pub fn is_running(&self, id: &ChannelId) -> bool {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).is_some_and(|e| !e.task.is_finished())
    }

    /// Starts (or, after a key change, restarts) the receiver for `seal.id`.
    pub async fn ensure(&self, courier: &Courier, credentials: Credentials, seal: SealTo) {
        if self.running(&seal) {
            return;
        }
        let worker = match courier.worker(&seal.id) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the live receiver");
                return;
            }
        };
        let http = worker.http();
        let blobs = worker.blobs();
        let task = match worker
            .start(move || run(blobs, http, credentials, seal))
            .await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the live receiver");
                return;
            }
        };
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = map.insert(seal.id, Entry { seal, task }) {
            old.task.abort();
        }
    }

    /// Stops the receiver for `id` (channel destroyed).
    pub fn stop(&self, id: &ChannelId) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.remove(id) {
            e.task.abort();
        }
    }
}

/// Seals one envelope and appends it. `Ok` only when the host said the append is durable.
pub async fn store(blobs: &BlobClient, seal: &SealTo, envelope: &[u8]) -> Result<u64, String> {
    let item = seal_inbound(&seal.ek, &seal.id, seal.key_epoch, envelope, &mut OsRng)
        .map_err(|e| e.to_string())?;
    match blobs
        .call(&BlobRequest::QueueAppend {
            queue: names::inbound(&seal.id),
            item,
        })
        .await
    {
        Ok(BlobResponse::Appended { seq }) => Ok(seq),
        Ok(other) => Err(format!("host answered {}", other.kind_name())),
        Err(e) => Err(e.to_string()),
    }
}

async fn run(
    blobs: Arc<BlobClient>,
    http: Arc<HttpClient>,
    credentials: Credentials,
    seal: SealTo,
) {
    let blobs = &*blobs;
    let mut rx = Receiver::new(http, credentials.basic_auth());
    drop(credentials);
    let mut backoff = Backoff::new();
    loop {
        match rx.next().await {
            Ok(Event::Envelope { id, envelope }) => match store(blobs, &seal, &envelope).await {
                Ok(_) => {
                    crate::events::queue_grew(&seal.id);
                    backoff.stored();
                    if let Err(e) = rx.ack(id).await {
                        // Stored but not acknowledged: the service redelivers it and the
                        // copy is processed twice only at the Signal layer, which drops
                        // duplicate messages.
                        tracing::warn!(error = %e, "ack failed");
                    }
                }
                Err(e) => {
                    // Not acknowledged: drop the connection so the service keeps the
                    // envelope and redelivers it after the reconnect.
                    tracing::warn!(error = %e, "inbound append failed; reconnecting");
                    rx.disconnect().await;
                    let (pause, _) = backoff.on_lost(Lost::Other, Instant::now());
                    tokio::time::sleep(pause).await;
                }
            },
            Ok(Event::QueueEmpty) => {}
            Err(signal_client::Error::ConnectedElsewhere) => {
                let (pause, first) = backoff.on_lost(Lost::ConnectedElsewhere, Instant::now());
                if first {
                    tracing::warn!(
                        "another connection took this channel's Signal account (is the channel \
                         also held by another enclave?); reconnecting with growing pauses"
                    );
                } else {
                    tracing::debug!("signal account connected elsewhere again");
                }
                rx.disconnect().await;
                tokio::time::sleep(pause).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "signal connection lost");
                rx.disconnect().await;
                let (pause, _) = backoff.on_lost(Lost::Other, Instant::now());
                tokio::time::sleep(pause).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn courier_live_4409_backs_off_exponentially_to_the_cap_and_warns_once() {
        let mut b = Backoff::new();
        let t0 = Instant::now();
        let mut pauses = Vec::new();
        let mut warns = 0;
        for i in 0..14u32 {
            let (p, warn) = b.on_lost(
                Lost::ConnectedElsewhere,
                t0 + Duration::from_secs(u64::from(i)),
            );
            pauses.push(p);
            warns += u32::from(warn);
        }
        assert_eq!(warns, 1, "one WARN per streak");
        assert_eq!(pauses[0], INITIAL_ELSEWHERE_BACKOFF);
        assert_eq!(pauses[1], 2 * INITIAL_ELSEWHERE_BACKOFF);
        assert_eq!(pauses[5], 32 * INITIAL_ELSEWHERE_BACKOFF);
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]), "{pauses:?}");
        assert_eq!(*pauses.last().expect("14 pauses"), MAX_ELSEWHERE_BACKOFF);
        assert!(pauses.iter().all(|p| *p <= MAX_ELSEWHERE_BACKOFF));
        // Storing envelopes between takeovers does not end the streak.
        b.stored();
        let (p, warn) = b.on_lost(Lost::ConnectedElsewhere, t0 + Duration::from_secs(20));
        assert_eq!((p, warn), (MAX_ELSEWHERE_BACKOFF, false));
    }

    #[test]
    fn courier_live_4409_streak_ends_after_a_quiet_spell() {
        let mut b = Backoff::new();
        let t0 = Instant::now();
        for i in 0..4 {
            b.on_lost(Lost::ConnectedElsewhere, t0 + Duration::from_secs(i));
        }
        let later =
            t0 + Duration::from_secs(3) + ELSEWHERE_STREAK_ENDS_AFTER + Duration::from_secs(1);
        assert_eq!(
            b.on_lost(Lost::ConnectedElsewhere, later),
            (INITIAL_ELSEWHERE_BACKOFF, true),
            "a fresh streak: short pause, one new WARN"
        );
    }

    #[test]
    fn courier_live_other_losses_keep_their_own_short_backoff() {
        let mut b = Backoff::new();
        let now = Instant::now();
        // A 4409 streak does not slow reconnection after ordinary drops, and vice versa.
        for _ in 0..10 {
            b.on_lost(Lost::ConnectedElsewhere, now);
        }
        let (p, warn) = b.on_lost(Lost::Other, now);
        assert_eq!((p, warn), (INITIAL_BACKOFF, false));
        for _ in 0..20 {
            b.on_lost(Lost::Other, now);
        }
        assert_eq!(b.on_lost(Lost::Other, now).0, MAX_BACKOFF);
        b.stored();
        assert_eq!(b.on_lost(Lost::Other, now).0, INITIAL_BACKOFF);
    }
}
