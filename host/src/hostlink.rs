//! The host's link endpoint (SPEC §2.4): the enclave connects here for egress streams
//! (outbound TCP, allow-listed) and blob streams (the store). Anything else is refused.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;
use wire::frame::FrameKind;
use wire::hello::{EgressTarget, Hello, HelloAck, HelloStatus, Stream};
use wire::link::{self, LinkError, LinkListener, LinkStream};

use crate::metrics::Metrics;
use crate::relay::{self, Timeouts};
use crate::shutdown::Shutdown;
use crate::store::BlobStore;

/// Outbound destinations the enclave may reach, exact `host:port` matches. Empty denies
/// everything (the default).
#[derive(Debug, Clone, Default)]
pub struct Allowlist(HashSet<EgressTarget>);

impl Allowlist {
    pub fn new(targets: impl IntoIterator<Item = EgressTarget>) -> Self {
        Self(targets.into_iter().collect())
    }
    pub fn allows(&self, t: &EgressTarget) -> bool {
        self.0.contains(t)
    }
}

#[derive(Debug, Clone)]
pub struct HostLinkConfig {
    pub allow: Allowlist,
    /// Budget for the enclave's Hello after it connects.
    pub hello_timeout: Duration,
    /// Budget for connecting to an allowed egress destination.
    pub egress_connect_timeout: Duration,
    pub egress_timeouts: Timeouts,
    /// Link connections served at once (egress + blob).
    pub max_streams: usize,
}

impl HostLinkConfig {
    pub fn new(allow: Allowlist) -> Self {
        Self {
            allow,
            hello_timeout: Duration::from_secs(5),
            egress_connect_timeout: Duration::from_secs(10),
            egress_timeouts: Timeouts {
                first_byte: Duration::from_secs(30),
                idle: Duration::from_secs(3600),
            },
            max_streams: 4096,
        }
    }
}

pub async fn run(
    listener: LinkListener,
    cfg: HostLinkConfig,
    store: Arc<dyn BlobStore>,
    metrics: Arc<Metrics>,
    mut shutdown: Shutdown,
) {
    let cfg = Arc::new(cfg);
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.wait() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let mut conn = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "host link accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if tasks.len() >= cfg.max_streams {
            tasks.spawn(async move {
                let _ = link::refuse(&mut conn, HelloStatus::Busy).await;
            });
            continue;
        }
        let (cfg, store, metrics, shutdown) = (
            cfg.clone(),
            store.clone(),
            metrics.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move { serve_conn(conn, &cfg, store, metrics, shutdown).await });
    }
    // Blob streams finish their current request; egress pumps are cut.
    tasks.shutdown().await;
}

async fn serve_conn(
    mut conn: LinkStream,
    cfg: &HostLinkConfig,
    store: Arc<dyn BlobStore>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    let hello = tokio::time::timeout(cfg.hello_timeout, async {
        Hello::decode(&link::read_frame_of(&mut conn, FrameKind::Hello).await?)
            .map_err(LinkError::from)
    })
    .await;
    let hello = match hello {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            Metrics::inc(&metrics.link_protocol_errors);
            tracing::warn!(error = %e, "host link: bad hello");
            return;
        }
        Err(_) => {
            tracing::warn!("host link: hello timed out");
            return;
        }
    };
    let Some(version) = hello.negotiate() else {
        let _ = link::refuse(&mut conn, HelloStatus::VersionUnsupported).await;
        return;
    };
    let ack = |status| HelloAck {
        version: if status == HelloStatus::Ok {
            version
        } else {
            0
        },
        status,
    };
    match hello.stream {
        Stream::Blob => {
            if link::write_frame(
                &mut conn,
                FrameKind::HelloAck,
                &ack(HelloStatus::Ok).encode(),
            )
            .await
            .is_ok()
            {
                crate::blob_rpc::serve(conn, store, metrics, shutdown).await;
            }
        }
        Stream::Egress(target) => egress(conn, target, cfg, &metrics, ack).await,
        other => {
            tracing::warn!(stream = other.name(), "host link: stream not served here");
            let _ = link::refuse(&mut conn, HelloStatus::WrongStream).await;
        }
    }
}

async fn egress(
    mut conn: LinkStream,
    target: EgressTarget,
    cfg: &HostLinkConfig,
    metrics: &Metrics,
    ack: impl Fn(HelloStatus) -> HelloAck,
) {
    if !cfg.allow.allows(&target) {
        Metrics::inc(&metrics.egress_denied);
        // The destination is operator-visible routing data; the payload is never read.
        tracing::warn!(%target, "egress denied: not on the allow-list");
        let _ = link::write_frame(
            &mut conn,
            FrameKind::HelloAck,
            &ack(HelloStatus::Denied).encode(),
        )
        .await;
        return;
    }
    let tcp = tokio::time::timeout(
        cfg.egress_connect_timeout,
        TcpStream::connect((target.host(), target.port())),
    )
    .await;
    let tcp = match tcp {
        Ok(Ok(t)) => t,
        _ => {
            Metrics::inc(&metrics.egress_unreachable);
            tracing::warn!(%target, "egress destination unreachable");
            let _ = link::write_frame(
                &mut conn,
                FrameKind::HelloAck,
                &ack(HelloStatus::Unreachable).encode(),
            )
            .await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    if link::write_frame(
        &mut conn,
        FrameKind::HelloAck,
        &ack(HelloStatus::Ok).encode(),
    )
    .await
    .is_err()
    {
        return;
    }
    Metrics::inc(&metrics.egress_allowed);
    let stats = relay::pump(conn, tcp, cfg.egress_timeouts, std::future::pending()).await;
    Metrics::add(&metrics.egress_bytes_out, stats.a_to_b);
    Metrics::add(&metrics.egress_bytes_in, stats.b_to_a);
}
