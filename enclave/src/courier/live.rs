//! Live receipt while locked (DESIGN §4.5, COURIER.md §4): after a channel has been
//! unlocked once since enclave start, its Signal connection stays open. Each envelope is
//! sealed to EK (no SK, DK or state needed), appended to the channel's inbound queue on the
//! host, and acknowledged to Signal only once the host has said the append is durable. The
//! only secret kept is the account's service credential.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// The running receivers, one per channel (by channel, never by person). They run on the
/// Signal worker thread, next to the rest of the channel's Signal work.
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
        let http = courier.http();
        let blobs = courier.live_blobs.clone();
        let task = match courier
            .worker
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
    let mut backoff = INITIAL_BACKOFF;
    loop {
        match rx.next().await {
            Ok(Event::Envelope { id, envelope }) => match store(blobs, &seal, &envelope).await {
                Ok(_) => {
                    crate::events::queue_grew(&seal.id);
                    backoff = INITIAL_BACKOFF;
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
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            },
            Ok(Event::QueueEmpty) => {}
            Err(e) => {
                tracing::warn!(error = %e, "signal connection lost");
                rx.disconnect().await;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
