//! The enclave's link endpoint (SPEC §2.4): ingress streams become TLS sessions served by
//! the API; control streams answer health and shutdown.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use wire::control::{ControlRequest, ControlResponse};
use wire::frame::FrameKind;
use wire::hello::{HelloStatus, Stream};
use wire::link::{self, LinkListener, LinkStream};

use crate::Enclave;

/// TLS sessions served at once; more wait in the kernel's backlog via the host.
pub const MAX_SESSIONS: usize = 512;
/// A client must finish the TLS handshake within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// And send its request headers within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(enclave: Arc<Enclave>, listener: LinkListener) {
    let sessions = Arc::new(Semaphore::new(MAX_SESSIONS));
    let mut tasks = JoinSet::new();
    let mut shutdown = enclave.shutdown_rx();
    loop {
        let conn = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|s| *s) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "link accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (enclave, sessions) = (enclave.clone(), sessions.clone());
        tasks.spawn(async move {
            let admitted = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                link::accept_hello(&mut conn, |s| match s {
                    Stream::Ingress | Stream::Control => HelloStatus::Ok,
                    _ => HelloStatus::WrongStream,
                }),
            )
            .await;
            match admitted {
                Ok(Ok((hello, _v))) => match hello.stream {
                    Stream::Ingress => {
                        let Ok(_permit) = sessions.try_acquire_owned() else {
                            tracing::warn!("session limit reached; dropping ingress");
                            return;
                        };
                        serve_ingress(enclave, conn).await;
                    }
                    Stream::Control => serve_control(enclave, conn).await,
                    _ => {}
                },
                Ok(Err(e)) => tracing::warn!(error = %e, "link hello refused"),
                Err(_) => tracing::warn!("link hello timed out"),
            }
        });
    }
    tracing::info!(in_flight = tasks.len(), "enclave stopped accepting");
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}

async fn serve_ingress(enclave: Arc<Enclave>, conn: LinkStream) {
    let acceptor = tokio_rustls::TlsAcceptor::from(enclave.tls.config.clone());
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(conn)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            return;
        }
    };
    // This session's RFC 9266 exporter: what SK proofs on the events stream bind to.
    let binding = crate::events::SessionBinding::of(tls.get_ref().1);
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
        req.extensions_mut().insert(binding.clone());
        crate::api::route(enclave.clone(), req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(tls), svc)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

async fn serve_control(enclave: Arc<Enclave>, mut conn: LinkStream) {
    loop {
        let body = match link::read_frame_of(&mut conn, FrameKind::ControlRequest).await {
            Ok(b) => b,
            Err(link::LinkError::Closed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "control stream error");
                return;
            }
        };
        let resp = match ControlRequest::decode(&body) {
            Ok(ControlRequest::Health) => ControlResponse::Health {
                platform: enclave.platform.kind(),
                uptime_secs: enclave.started.elapsed().as_secs(),
                ready: enclave.is_ready(),
            },
            Ok(ControlRequest::Shutdown) => {
                enclave.begin_shutdown();
                ControlResponse::ShuttingDown
            }
            Err(e) => {
                tracing::warn!(error = %e, "bad control request");
                return;
            }
        };
        if link::write_frame(&mut conn, FrameKind::ControlResponse, &resp.encode())
            .await
            .is_err()
        {
            return;
        }
    }
}
