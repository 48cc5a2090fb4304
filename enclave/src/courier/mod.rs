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
//! libsignal's store traits produce `!Send` futures, so all protocol work runs on one
//! dedicated thread ([`Worker`]) with a current-thread runtime; the rest of the enclave
//! hands it owned inputs and gets owned results back.

pub mod chunks;
pub mod live;
pub mod process;
pub mod prune;
pub mod slot;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use signal_client::transport::{Connector, HttpClient, Stream, TlsTrust};
use signal_client::ServiceConfig;
use tokio::sync::{mpsc, oneshot};
use wire::hello::EgressTarget;
use wire::link::LinkAddr;

/// Parallel HTTP connections to the Signal service (each is one egress stream).
pub const SIGNAL_CONNECTIONS: usize = 16;

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

/// The thread that runs all libsignal work (see the module doc).
#[derive(Debug, Clone)]
pub struct Worker {
    tx: mpsc::UnboundedSender<Job>,
}

impl Worker {
    pub fn spawn() -> io::Result<Worker> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("signal-worker".into())
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    while let Some(job) = rx.recv().await {
                        tokio::task::spawn_local(job());
                    }
                });
            })?;
        Ok(Worker { tx })
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
}

/// The courier: Signal configuration, the worker, and the live receivers.
#[derive(Debug)]
pub struct Courier {
    pub config: ServiceConfig,
    /// The connection pool the live receivers' WebSockets use.
    http: Arc<HttpClient>,
    /// The live receivers' own blob connections (they run on the worker's runtime).
    pub(crate) live_blobs: Arc<crate::blob_client::BlobClient>,
    pub worker: Worker,
    pub live: live::LiveTable,
}

impl Courier {
    pub fn new(settings: &SignalSettings, host: &LinkAddr) -> Result<Courier, CourierError> {
        let config = settings.service_config(host)?;
        Ok(Courier {
            http: Arc::new(HttpClient::new(
                config.connector.clone(),
                config.tls.clone(),
                SIGNAL_CONNECTIONS,
            )),
            config,
            live_blobs: Arc::new(crate::blob_client::BlobClient::new(host.clone())),
            worker: Worker::spawn().map_err(|_| CourierError::Config("worker thread"))?,
            live: live::LiveTable::default(),
        })
    }

    pub fn http(&self) -> Arc<HttpClient> {
        self.http.clone()
    }
}
