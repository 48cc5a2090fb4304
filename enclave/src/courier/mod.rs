//! The channel's Signal courier (COURIER.md): the enclave side of DESIGN §4.5 and §6.
//!
//! - [`live`]: while a channel is locked, its Signal connection stays open (with only the
//!   account credential in memory); each envelope is sealed to EK, appended durably to the
//!   host's inbound queue, and only then acknowledged to Signal.
//! - [`process`]: at unlock, the queue is opened with DK, decrypted with the channel's
//!   protocol store, handed to [`crate::relay`], and the resulting messages are sent; the
//!   new state (protocol store and queue cursor included) is committed before the queue is
//!   trimmed, so every item is acted on exactly once.
//!
//! libsignal's store traits produce `!Send` futures, so protocol work runs on dedicated
//! threads ([`Worker`]), each with a current-thread runtime; the rest of the enclave hands a
//! worker owned inputs and gets owned results back. Each channel has a worker of its own
//! ([`Workers`], up to [`MAX_WORKERS`]; past that, channels share them), with its own
//! connection pool and blob connection, so one channel's large broadcast or flood cannot
//! starve another channel's unlocks or its live receiver's acknowledgements.

pub mod chunks;
pub mod live;
pub mod process;
pub mod prune;
pub mod slot;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use signal_client::transport::{Connector, HttpClient, Stream, TlsTrust};
use signal_client::ServiceConfig;
use tokio::sync::{mpsc, oneshot};
use wire::hello::EgressTarget;
use wire::link::LinkAddr;

use crate::vault::ChannelId;

/// Parallel HTTP connections to the Signal service (each is one egress stream), per worker.
pub const SIGNAL_CONNECTIONS: usize = 16;
/// Most worker threads. Channels get one each until then; later channels share them
/// (assigned in turn), so a busy enclave has at most this many Signal threads.
pub const MAX_WORKERS: usize = 64;

/// Why a courier operation failed. Safe to log: no numbers, bodies or keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CourierError {
    #[error("this enclave has no Signal service configured")]
    NotConfigured,
    #[error("the channel has no Signal account yet")]
    NoAccount,
    #[error("the channel already has a Signal account")]
    AlreadyRegistered,
    #[error("signal: {0}")]
    Signal(#[from] signal_client::Error),
    #[error("signal slot: {0}")]
    Slot(#[from] slot::SlotError),
    #[error("the Signal worker thread is gone")]
    WorkerGone,
    #[error("signal configuration: {0}")]
    Config(&'static str),
    #[error("vault: {0}")]
    Vault(crate::vault::VaultError),
    #[error("account chunks: {0}")]
    Chunk(#[from] chunks::ChunkError),
}

/// Where the Signal service is and how to recognise it. In simulation the roots come from
/// signal-sim's files; a production build pins the real service's roots (COURIER.md §5).
#[derive(Clone)]
pub struct SignalSettings {
    /// `host:port` the host's egress relay must allow.
    pub target: EgressTarget,
    /// The TLS root to pin (PEM or DER).
    pub tls_root: Vec<u8>,
    /// TLS server name.
    pub server_name: String,
    /// The sealed-sender trust root (a serialized libsignal public key).
    pub trust_root: Vec<u8>,
}

impl std::fmt::Debug for SignalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalSettings")
            .field("target", &self.target.to_string())
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Raw streams to the Signal service through the host's egress relay (SPEC §2.4). The
/// host only sees TLS records: signal-client runs TLS with the pinned root on top.
#[derive(Debug)]
pub struct EgressConnector {
    host: LinkAddr,
    target: EgressTarget,
}

#[async_trait]
impl Connector for EgressConnector {
    async fn connect(&self) -> io::Result<Box<dyn Stream>> {
        match crate::egress::open(&self.host, &self.target).await {
            Ok(s) => Ok(Box::new(s)),
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }
}

impl SignalSettings {
    /// The signal-client configuration for this enclave.
    pub fn service_config(&self, host: &LinkAddr) -> Result<ServiceConfig, CourierError> {
        let tls = TlsTrust::pinned(&self.tls_root, &self.server_name)?;
        let trust_root = libsignal_protocol::PublicKey::deserialize(&self.trust_root)
            .map_err(|_| CourierError::Config("sealed-sender trust root"))?;
        Ok(ServiceConfig {
            connector: Arc::new(EgressConnector {
                host: host.clone(),
                target: self.target.clone(),
            }),
            tls,
            trust_root,
            max_connections: SIGNAL_CONNECTIONS,
        })
    }
}

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// One thread that runs libsignal work (see the module doc), with the connections its
/// tasks use: hyper's connection tasks run on the runtime that opened them, so a pool
/// shared between workers would tie one worker's requests to another's thread.
#[derive(Debug, Clone)]
pub struct Worker {
    tx: mpsc::UnboundedSender<Job>,
    /// The pool the live receivers' WebSockets use.
    http: Arc<HttpClient>,
    /// The live receivers' own blob connections.
    blobs: Arc<crate::blob_client::BlobClient>,
}

impl Worker {
    /// Starts a worker thread named `name` with its own connections.
    pub fn spawn(name: String, config: &ServiceConfig, host: &LinkAddr) -> io::Result<Worker> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new().name(name).spawn(move || {
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                while let Some(job) = rx.recv().await {
                    tokio::task::spawn_local(job());
                }
            });
        })?;
        Ok(Worker {
            tx,
            http: Arc::new(HttpClient::new(
                config.connector.clone(),
                config.tls.clone(),
                SIGNAL_CONNECTIONS,
            )),
            blobs: Arc::new(crate::blob_client::BlobClient::new(host.clone())),
        })
    }

    /// Starts `f` as a task on the worker thread; returns a handle that can stop it.
    pub async fn start<F, Fut>(&self, f: F) -> Result<tokio::task::AbortHandle, CourierError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.run(move || {
            let h = tokio::task::spawn_local(f()).abort_handle();
            async move { h }
        })
        .await
    }

    /// Runs `f` on the worker thread and returns its output.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, CourierError>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                let _ = tx.send(f().await);
            })
        });
        self.tx.send(job).map_err(|_| CourierError::WorkerGone)?;
        rx.await.map_err(|_| CourierError::WorkerGone)
    }

    /// The connection pool of this worker's live receivers.
    pub fn http(&self) -> Arc<HttpClient> {
        self.http.clone()
    }

    pub(crate) fn blobs(&self) -> Arc<crate::blob_client::BlobClient> {
        self.blobs.clone()
    }
}

/// The workers, and which channel runs on which (by channel id, never by person).
#[derive(Debug)]
pub struct Workers {
    config: ServiceConfig,
    host: LinkAddr,
    inner: Mutex<Assigned>,
}

#[derive(Debug, Default)]
struct Assigned {
    pool: Vec<Worker>,
    by_channel: HashMap<ChannelId, usize>,
    /// The next pool slot a channel is given once the pool is full.
    next_shared: usize,
}

impl Workers {
    pub fn new(config: ServiceConfig, host: LinkAddr) -> Workers {
        Workers {
            config,
            host,
            inner: Mutex::new(Assigned::default()),
        }
    }

    /// The worker that runs `id`'s Signal work, started on first use.
    pub fn for_channel(&self, id: &ChannelId) -> Result<Worker, CourierError> {
        let mut a = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&i) = a.by_channel.get(id) {
            return Ok(a.pool[i].clone());
        }
        let i = if a.pool.len() < MAX_WORKERS {
            let name = format!("signal-worker-{}", a.pool.len());
            let w = Worker::spawn(name, &self.config, &self.host)
                .map_err(|_| CourierError::Config("worker thread"))?;
            a.pool.push(w);
            a.pool.len() - 1
        } else {
            let i = a.next_shared % a.pool.len();
            a.next_shared = a.next_shared.wrapping_add(1);
            i
        };
        a.by_channel.insert(*id, i);
        Ok(a.pool[i].clone())
    }

    /// Forgets `id`'s assignment (channel destroyed); its worker stays for others.
    pub fn release(&self, id: &ChannelId) {
        let mut a = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        a.by_channel.remove(id);
    }

    /// How many worker threads run.
    pub fn threads(&self) -> usize {
        self.inner.lock().map(|a| a.pool.len()).unwrap_or(0)
    }
}

/// The courier: Signal configuration, the workers, and the live receivers.
#[derive(Debug)]
pub struct Courier {
    pub config: ServiceConfig,
    workers: Workers,
    pub live: live::LiveTable,
}

impl Courier {
    pub fn new(settings: &SignalSettings, host: &LinkAddr) -> Result<Courier, CourierError> {
        let config = settings.service_config(host)?;
        Ok(Courier {
            workers: Workers::new(config.clone(), host.clone()),
            config,
            live: live::LiveTable::default(),
        })
    }

    /// The worker for `id`'s Signal work (see [`Workers::for_channel`]).
    pub fn worker(&self, id: &ChannelId) -> Result<Worker, CourierError> {
        self.workers.for_channel(id)
    }

    /// Forgets a destroyed channel's worker assignment.
    pub fn release(&self, id: &ChannelId) {
        self.workers.release(id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Workers for a service nobody connects to (the jobs below do no Signal work).
    fn workers() -> Workers {
        let cert = rcgen::generate_simple_self_signed(vec!["signal.test".to_owned()]).unwrap();
        let settings = SignalSettings {
            target: EgressTarget::new("signal.test", 443).unwrap(),
            tls_root: cert.cert.pem().into_bytes(),
            server_name: "signal.test".into(),
            trust_root: libsignal_protocol::IdentityKeyPair::generate(&mut rand_09::rng())
                .public_key()
                .serialize()
                .to_vec(),
        };
        let host = LinkAddr::Unix("/nonexistent/host.sock".into());
        Workers::new(settings.service_config(&host).unwrap(), host)
    }

    fn id(b: u8) -> ChannelId {
        ChannelId::from_bytes([b; 16])
    }

    #[tokio::test]
    async fn a_channel_whose_worker_is_blocked_does_not_hold_up_another_channel() {
        let w = workers();
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = oneshot::channel();
        let a = w.for_channel(&id(1)).unwrap();
        // Channel A's job holds its thread (as a CPU-bound fan-out does) until released.
        let a_job = tokio::spawn(async move {
            a.run(move || async move {
                let _ = started_tx.send(());
                let _ = blocked.recv();
                "a"
            })
            .await
        });
        started.await.unwrap();
        // Channel B's job completes while A's is still blocked. On one shared thread it
        // could not even start: the timeout is only there to fail instead of hanging.
        let b = w.for_channel(&id(2)).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), b.run(|| async { "b" }))
            .await
            .expect("channel B waited for channel A's worker")
            .unwrap();
        assert_eq!(got, "b");
        assert!(!a_job.is_finished());
        release.send(()).unwrap();
        assert_eq!(a_job.await.unwrap().unwrap(), "a");
        assert_eq!(w.threads(), 2);
    }

    #[tokio::test]
    async fn a_channel_keeps_its_worker_and_the_pool_is_bounded() {
        let w = workers();
        // The same channel runs on the same thread every time.
        let name = |w: Worker| async move {
            w.run(|| async { std::thread::current().name().map(str::to_owned) })
                .await
                .unwrap()
        };
        let first = name(w.for_channel(&id(7)).unwrap()).await;
        let again = name(w.for_channel(&id(7)).unwrap()).await;
        assert_eq!(first, again);
        for b in 0..=u8::try_from(MAX_WORKERS + 10).unwrap() {
            w.for_channel(&id(b)).unwrap();
        }
        assert_eq!(w.threads(), MAX_WORKERS);
        // A released channel's thread stays for the others.
        w.release(&id(7));
        assert_eq!(w.threads(), MAX_WORKERS);
    }
}
