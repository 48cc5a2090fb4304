//! Ingress relay (DESIGN §7, SPEC §2.4 "ingress"): client TCP connections are relayed byte
//! for byte into the enclave over a fresh link connection each. TLS terminates inside the
//! enclave, so all the host ever sees here is ciphertext and byte counts.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use wire::hello::Stream;
use wire::link::{self, LinkAddr};

use crate::metrics::Metrics;
use crate::relay::{self, PumpEnd, Timeouts};
use crate::shutdown::Shutdown;

#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// Where the enclave accepts link connections.
    pub enclave: LinkAddr,
    /// Connections relayed at once; more are closed at accept.
    pub max_connections: usize,
    /// Budget to open the link connection and get the enclave's HelloAck.
    pub link_timeout: Duration,
    pub timeouts: Timeouts,
    /// After shutdown, how long in-flight connections may finish before they are cut.
    pub grace: Duration,
}

impl IngressConfig {
    pub fn new(enclave: LinkAddr) -> Self {
        Self {
            enclave,
            max_connections: 1024,
            link_timeout: Duration::from_secs(5),
            timeouts: Timeouts {
                first_byte: Duration::from_secs(10),
                idle: Duration::from_secs(300),
            },
            grace: Duration::from_secs(10),
        }
    }
}

/// Accepts on `listener` until shutdown, then waits up to `grace` for in-flight
/// connections and cancels the rest.
pub async fn run(
    listener: TcpListener,
    cfg: IngressConfig,
    metrics: Arc<Metrics>,
    mut shutdown: Shutdown,
) {
    let cfg = Arc::new(cfg);
    let limit = Arc::new(Semaphore::new(cfg.max_connections));
    let mut tasks = JoinSet::new();
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.wait() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (tcp, _peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "ingress accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            Metrics::inc(&metrics.ingress_refused_busy);
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        Metrics::inc(&metrics.ingress_accepted);
        let (cfg, metrics) = (cfg.clone(), metrics.clone());
        let mut cancel = cancel_rx.clone();
        tasks.spawn(async move {
            let _permit = permit;
            Metrics::inc(&metrics.ingress_active);
            relay_one(tcp, &cfg, &metrics, async move {
                let _ = cancel.wait_for(|c| *c).await;
            })
            .await;
            Metrics::dec(&metrics.ingress_active);
        });
    }
    drop(listener);
    tracing::info!(in_flight = tasks.len(), "ingress stopped accepting");
    if tokio::time::timeout(cfg.grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        let _ = cancel_tx.send(true);
        while tasks.join_next().await.is_some() {}
    }
}

async fn relay_one(
    tcp: tokio::net::TcpStream,
    cfg: &IngressConfig,
    metrics: &Metrics,
    cancel: impl std::future::Future<Output = ()>,
) {
    let link = tokio::time::timeout(cfg.link_timeout, async {
        let mut s = link::connect(&cfg.enclave).await?;
        link::hello(&mut s, Stream::Ingress).await?;
        Ok::<_, link::LinkError>(s)
    })
    .await;
    let link = match link {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            Metrics::inc(&metrics.ingress_link_failed);
            tracing::warn!(error = %e, "ingress: enclave link failed");
            return;
        }
        Err(_) => {
            Metrics::inc(&metrics.ingress_link_failed);
            tracing::warn!("ingress: enclave link timed out");
            return;
        }
    };
    // Unix-socket links (simulation) take the zero-copy path; vsock streams are copied.
    let stats = match link.into_unix() {
        Ok(unix) => relay::pump_spliced(tcp, unix, cfg.timeouts, cancel).await,
        Err(link) => relay::pump(tcp, link, cfg.timeouts, cancel).await,
    };
    Metrics::add(&metrics.ingress_bytes_in, stats.a_to_b);
    Metrics::add(&metrics.ingress_bytes_out, stats.b_to_a);
    if stats.end == PumpEnd::TimedOut {
        Metrics::inc(&metrics.ingress_timed_out);
    }
    tracing::debug!(
        bytes_in = stats.a_to_b,
        bytes_out = stats.b_to_a,
        end = ?stats.end,
        "ingress connection done"
    );
}
