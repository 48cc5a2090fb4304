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
use crate::vault::{names, seal_inbound, ChannelId, Dk, InboundAuthKey};

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

/// What the receiver needs to seal for one channel: EK, its key epoch, and the inbound
/// authentication key of that epoch (VAULT.md §6), which marks the items as written by this
/// enclave's receiver. Built from DK at an unlock; holds no DK. Never `Clone` or `Copy` (the
/// authentication key is zeroized on drop); `Debug` shows only the key epoch.
pub struct SealTo {
    pub id: ChannelId,
    pub ek: [u8; 32],
    pub key_epoch: u64,
    auth: InboundAuthKey,
}

impl SealTo {
    /// What the receiver of channel `id` needs, from the unlocked DK.
    pub fn new(id: &ChannelId, dk: &Dk) -> SealTo {
        SealTo {
            id: *id,
            ek: *dk.ek_public(),
            key_epoch: dk.key_epoch(),
            auth: InboundAuthKey::derive(dk, id),
        }
    }
}

impl std::fmt::Debug for SealTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealTo")
            .field("key_epoch", &self.key_epoch)
            .finish_non_exhaustive()
    }
}

struct Entry {
    ek: [u8; 32],
    key_epoch: u64,
    task: AbortHandle,
}

/// Why [`LiveTable::ensure`] did not (re)start a receiver. Safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotArmed {
    /// The key epoch is lower than one this enclave has armed for the channel since boot:
    /// an unlock of rolled-back key material (VAULT.md §6.1). The receiver keeps sealing to
    /// the newer EK (or stays stopped).
    #[error("refused to arm the live receiver on an older key epoch ({offered} < {highest})")]
    OlderKeyEpoch { offered: u64, highest: u64 },
    /// The Signal worker thread could not start it.
    #[error("the live receiver could not be started")]
    WorkerGone,
}

/// The running receivers, one per channel (by channel, never by person). Each runs on its
/// channel's Signal worker, next to the rest of the channel's Signal work.
#[derive(Default)]
pub struct LiveTable {
    inner: Mutex<HashMap<ChannelId, Entry>>,
    /// The highest key epoch armed per channel since boot. Never lowered, also not when a
    /// receiver stops (re-key, destroy), so an older EK is never armed again.
    highest: Mutex<HashMap<ChannelId, u64>>,
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
            e.key_epoch == seal.key_epoch && e.ek == seal.ek && !e.task.is_finished()
        })
    }

    /// Records `seal`'s key epoch as armed unless a higher one was armed for the channel
    /// since boot (the receiver's own rollback guard; `Channels::open` has its own).
    fn admit(&self, seal: &SealTo) -> Result<(), NotArmed> {
        let mut highest = self.highest.lock().unwrap_or_else(|p| p.into_inner());
        let h = highest.entry(seal.id).or_insert(seal.key_epoch);
        if seal.key_epoch < *h {
            return Err(NotArmed::OlderKeyEpoch {
                offered: seal.key_epoch,
                highest: *h,
            });
        }
        *h = seal.key_epoch;
        Ok(())
    }

    /// Whether a receiver runs for `id` (one was started since this enclave started and
    /// has not ended).
    pub fn is_running(&self, id: &ChannelId) -> bool {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).is_some_and(|e| !e.task.is_finished())
    }

    /// Starts (or, after a key change, restarts) the receiver for `seal.id`, unless `seal`
    /// is of a lower key epoch than one armed for the channel since boot (COURIER.md §4):
    /// then nothing changes and the refusal is logged by kind.
    pub async fn ensure(
        &self,
        courier: &Courier,
        credentials: Credentials,
        seal: SealTo,
    ) -> Result<(), NotArmed> {
        if let Err(e) = self.admit(&seal) {
            tracing::warn!(error = %e, "live receiver not re-armed");
            return Err(e);
        }
        if self.running(&seal) {
            return Ok(());
        }
        let (id, ek, key_epoch) = (seal.id, seal.ek, seal.key_epoch);
        let worker = match courier.worker(&seal.id) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the live receiver");
                return Err(NotArmed::WorkerGone);
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
                return Err(NotArmed::WorkerGone);
            }
        };
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let entry = Entry {
            ek,
            key_epoch,
            task,
        };
        if let Some(old) = map.insert(id, entry) {
            old.task.abort();
        }
        Ok(())
    }

    /// Stops the receiver for `id` (channel destroyed).
    pub fn stop(&self, id: &ChannelId) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.remove(id) {
            e.task.abort();
        }
    }
}

/// Seals one envelope, authenticated as this receiver's (VAULT.md §6), and appends it.
/// `Ok` only when the host said the append is durable.
pub async fn store(blobs: &BlobClient, seal: &SealTo, envelope: &[u8]) -> Result<u64, String> {
    let item = seal_inbound(
        &seal.ek,
        &seal.auth,
        &seal.id,
        seal.key_epoch,
        envelope,
        &mut OsRng,
    )
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

    fn seal(id: ChannelId, key_epoch: u64) -> SealTo {
        SealTo {
            id,
            ek: [9; 32],
            key_epoch,
            auth: InboundAuthKey::from_bytes([7; 32]),
        }
    }

    #[test]
    fn courier_live_never_re_arms_an_older_key_epoch() {
        let t = LiveTable::default();
        let a = ChannelId::from_bytes([1; 16]);
        let b = ChannelId::from_bytes([2; 16]);
        assert_eq!(t.admit(&seal(a, 1)), Ok(()));
        assert_eq!(t.admit(&seal(a, 2)), Ok(()));
        // The same epoch again (a restart on the current key) is fine.
        assert_eq!(t.admit(&seal(a, 2)), Ok(()));
        assert_eq!(
            t.admit(&seal(a, 1)),
            Err(NotArmed::OlderKeyEpoch {
                offered: 1,
                highest: 2
            })
        );
        // Stopping the receiver (a re-key stops it) does not forget the highest epoch.
        t.stop(&a);
        assert_eq!(
            t.admit(&seal(a, 1)),
            Err(NotArmed::OlderKeyEpoch {
                offered: 1,
                highest: 2
            })
        );
        // Per channel.
        assert_eq!(t.admit(&seal(b, 1)), Ok(()));
        assert_eq!(format!("{:?}", seal(a, 3)), "SealTo { key_epoch: 3, .. }");
    }

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
