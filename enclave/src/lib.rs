//! `sealboost-enclave`: the only code that ever sees user data in clear (DESIGN §2).
//!
//! It trusts its own binary, the TEE it runs on (through [`platform::Platform`]), and
//! nothing else: not the host that relays its bytes and stores its blobs, not the network.
//! Clients reach it only through TLS that terminates here, with a key generated here at
//! boot and bound into attestation evidence.
#![deny(unsafe_code)]

pub mod api;
pub mod blob_client;
pub mod channel_api;
pub mod channels;
pub mod courier;
pub mod courier_api;
pub mod egress;
pub mod events;
mod failure;
pub mod lifecycle_api;
pub mod logging;
pub mod platform;
pub mod relay;
pub mod server;
pub mod tls;
pub mod vault;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use wire::blob::{BlobRequest, BlobResponse};
use wire::link::{LinkAddr, LinkListener};

use crate::blob_client::{BlobClient, BlobError};
use crate::platform::Platform;
use crate::tls::TlsIdentity;

/// Blob that counts enclave boots. It carries no user data; its only job is to prove at
/// boot that the blob path through the host works (and to give operators a restart count).
pub const BOOT_RECORD: &[u8] = b"enclave/boot-count";

#[derive(Debug, Clone)]
pub struct EnclaveConfig {
    /// Where the enclave accepts link connections (ingress, control).
    pub listen: LinkAddr,
    /// Where the host accepts link connections (egress, blob).
    pub host: LinkAddr,
    /// The Signal service (absent: channels have no Signal connectivity).
    pub signal: Option<courier::SignalSettings>,
}

/// Errors that stop the enclave. Safe to log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnclaveError {
    #[error("binding the link endpoint: {0}")]
    Bind(std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Platform(#[from] platform::PlatformError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Courier(#[from] courier::CourierError),
}

/// Process-wide enclave state shared by every session.
pub struct Enclave {
    pub platform: Arc<dyn Platform>,
    pub channels: channels::Channels,
    pub blobs: BlobClient,
    pub tls: TlsIdentity,
    pub courier: Option<courier::Courier>,
    pub started: Instant,
    ready: AtomicBool,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Enclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enclave")
            .field("platform", &self.platform.kind())
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Enclave {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
    pub fn shutdown_rx(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// Increments the boot record with compare-and-swap. Returns the boot number.
async fn record_boot(blobs: &BlobClient) -> Result<u64, BlobError> {
    loop {
        let (expected, count) = match blobs
            .call(&BlobRequest::Get {
                name: BOOT_RECORD.to_vec(),
            })
            .await?
        {
            BlobResponse::Blob { version, data } => {
                let n = <[u8; 8]>::try_from(data.as_slice())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                (version, n)
            }
            BlobResponse::NotFound => (0, 0),
            other => {
                return Err(BlobError::UnexpectedAnswer {
                    op: "get",
                    got: other.kind_name(),
                })
            }
        };
        let next = count.saturating_add(1);
        let put = BlobRequest::Put {
            name: BOOT_RECORD.to_vec(),
            expected,
            data: next.to_be_bytes().to_vec(),
        };
        match blobs.call(&put).await? {
            BlobResponse::Written { .. } => return Ok(next),
            BlobResponse::Conflict { .. } => continue,
            other => {
                return Err(BlobError::UnexpectedAnswer {
                    op: "put",
                    got: other.kind_name(),
                })
            }
        }
    }
}

/// Runs the enclave until a control-stream shutdown.
pub async fn run(cfg: EnclaveConfig, platform: Arc<dyn Platform>) -> Result<(), EnclaveError> {
    let listener = LinkListener::bind(&cfg.listen)
        .await
        .map_err(EnclaveError::Bind)?;
    let tls = TlsIdentity::generate()?;
    let (shutdown, _) = watch::channel(false);
    let courier = match &cfg.signal {
        Some(s) => Some(courier::Courier::new(s, &cfg.host)?),
        None => None,
    };
    let enclave = Arc::new(Enclave {
        courier,
        platform,
        channels: channels::Channels::default(),
        blobs: BlobClient::new(cfg.host),
        tls,
        started: Instant::now(),
        ready: AtomicBool::new(false),
        shutdown,
    });
    let booting = enclave.clone();
    tokio::spawn(async move {
        // The host may come up after us; keep trying with backoff until the store answers.
        let mut delay = Duration::from_millis(50);
        loop {
            match record_boot(&booting.blobs).await {
                Ok(n) => {
                    tracing::info!(boot = n, "blob store reachable; enclave ready");
                    booting.ready.store(true, Ordering::Release);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "blob store not reachable yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    server::serve(enclave, listener).await;
    Ok(())
}
