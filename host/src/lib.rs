//! `sealboost-host`: the untrusted half of sealboost (DESIGN §2, §7).
//!
//! The host relays bytes it cannot read (ingress: clients → enclave; egress: enclave →
//! allow-listed internet), stores ciphertext blobs and queues for the enclave, and starts
//! the enclave. It may trust nothing it relays or stores — and the enclave trusts nothing
//! the host says: every blob is authenticated inside the enclave. What the host must get
//! right is availability and durability: never lose or tear a write it acknowledged, never
//! let one slow peer starve the others, never log a byte of user data.
#![forbid(unsafe_code)]

pub mod blob_rpc;
pub mod health;
pub mod hostlink;
pub mod ingress;
pub mod launcher;
pub mod metrics;
pub mod relay;
pub mod shutdown;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use wire::link::{LinkAddr, LinkListener};

use crate::hostlink::{Allowlist, HostLinkConfig};
use crate::ingress::IngressConfig;
use crate::launcher::Launch;
use crate::metrics::Metrics;
use crate::shutdown::ShutdownTrigger;
use crate::store::{BlobStore, RedbStore};

/// Everything `sealboost-host run` is told.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub listen: SocketAddr,
    pub health_listen: SocketAddr,
    pub store_path: PathBuf,
    /// Where the enclave accepts (ingress, control).
    pub enclave_link: LinkAddr,
    /// Where the host accepts the enclave (egress, blob).
    pub host_link: LinkAddr,
    pub allow: Allowlist,
    pub max_connections: usize,
    pub launch: Launch,
    /// Tests only: the fault switch file (`store::danger_test_faults`). `None` in any
    /// deployment.
    pub danger_test_faults: Option<PathBuf>,
}

/// A started host: its bound addresses and the handle to stop it.
#[derive(Debug)]
pub struct RunningHost {
    pub ingress_addr: SocketAddr,
    pub health_addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    trigger: ShutdownTrigger,
    tasks: JoinSet<()>,
}

/// Errors that stop the host from starting. Safe to log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    #[error("binding {what}: {source}")]
    Bind {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("blob store: {0}")]
    Store(#[from] store::StoreError),
}

/// Binds every listener, opens the store, starts the relays and the launcher.
pub async fn start(cfg: HostConfig) -> Result<RunningHost, HostError> {
    let store: Arc<dyn BlobStore> = match &cfg.danger_test_faults {
        Some(file) => Arc::new(store::danger_test_faults::DangerTestFaults::new(
            RedbStore::open(&cfg.store_path)?,
            file.clone(),
        )),
        None => Arc::new(RedbStore::open(&cfg.store_path)?),
    };
    let ingress = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| HostError::Bind {
            what: "ingress",
            source,
        })?;
    let health = TcpListener::bind(cfg.health_listen)
        .await
        .map_err(|source| HostError::Bind {
            what: "health",
            source,
        })?;
    let hostlink = LinkListener::bind(&cfg.host_link)
        .await
        .map_err(|source| HostError::Bind {
            what: "host link",
            source,
        })?;
    let ingress_addr = ingress.local_addr().map_err(|source| HostError::Bind {
        what: "ingress",
        source,
    })?;
    let health_addr = health.local_addr().map_err(|source| HostError::Bind {
        what: "health",
        source,
    })?;
    let metrics = Arc::new(Metrics::default());
    let (trigger, shutdown) = shutdown::channel();
    let mut tasks = JoinSet::new();

    let mut icfg = IngressConfig::new(cfg.enclave_link.clone());
    icfg.max_connections = cfg.max_connections;
    tasks.spawn(ingress::run(
        ingress,
        icfg,
        metrics.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(hostlink::run(
        hostlink,
        HostLinkConfig::new(cfg.allow.clone()),
        store,
        metrics.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(health::run(
        health,
        cfg.enclave_link.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let (launch, link, m, s) = (cfg.launch, cfg.enclave_link, metrics.clone(), shutdown);
    tasks.spawn(async move {
        if let Err(e) = launcher::supervise(launch, link, Duration::from_secs(10), m, s).await {
            tracing::error!(error = %e, "launcher stopped");
        }
    });
    Ok(RunningHost {
        ingress_addr,
        health_addr,
        metrics,
        trigger,
        tasks,
    })
}

impl RunningHost {
    /// Graceful shutdown: stop accepting, let in-flight work finish (bounded), stop the
    /// enclave, return.
    pub async fn shutdown(mut self) {
        self.trigger.fire();
        while self.tasks.join_next().await.is_some() {}
    }
}
