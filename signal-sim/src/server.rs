//! The listener (SPEC §2): TLS with the sim's own certificate, HTTP/1.1 with keep-alive and
//! upgrades, a connection limit, and graceful shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use signal_api::{consts, limits};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::routes::{self, Req, Resp};
use crate::Sim;

/// Concurrent connections (each phone or enclave holds one or two).
pub const MAX_CONNECTIONS: usize = 20_000;
/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request headers at most this many.
const MAX_HEADERS: usize = 64;

pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    sim: Arc<Sim>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    // Over the limit: refuse by closing.
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                tokio::spawn(serve(tcp, acceptor.clone(), sim.clone(), permit));
            }
        }
    }
}

async fn serve(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    sim: Arc<Sim>,
    _permit: OwnedSemaphorePermit,
) {
    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        return;
    };
    let svc_sim = sim.clone();
    let svc = service_fn(move |req| {
        let sim = svc_sim.clone();
        async move { Ok::<_, Infallible>(dispatch(sim, req).await) }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .max_headers(MAX_HEADERS)
        .serve_connection(TokioIo::new(tls), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let mut shutdown = sim.shutdown.clone();
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}

pub(crate) fn plain(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

pub(crate) fn to_hyper(r: Resp) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(r.status);
    for (n, v) in &r.headers {
        b = b.header(*n, v);
    }
    b.body(Full::new(r.body))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR))
}

async fn dispatch(sim: Arc<Sim>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET
        && (path == consts::WEBSOCKET_PATH || path == consts::WEBSOCKET_PATH.trim_end_matches('/'))
    {
        return crate::ws::upgrade(sim, req);
    }
    // SPEC §6: attachment uploads may be large; everything else is a bounded JSON body.
    let limit = if req.method() != Method::PUT {
        limits::MAX_JSON_BODY_LEN
    } else if path.starts_with("/attachments/") {
        limits::MAX_ATTACHMENT_LEN
    } else if path == "/v1/messages/multi_recipient" {
        limits::MAX_MULTI_RECIPIENT_MESSAGE_LEN
    } else {
        limits::MAX_JSON_BODY_LEN
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return to_hyper(Resp::error(StatusCode::PAYLOAD_TOO_LARGE, "too large"));
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return to_hyper(Resp::error(StatusCode::PAYLOAD_TOO_LARGE, "too large"));
        }
        Err(_) => return plain(StatusCode::BAD_REQUEST),
    };
    let headers = parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| sim.host.clone(), str::to_owned);
    let resp = routes::handle(
        &sim,
        Req {
            method: parts.method,
            path,
            query: parts.uri.query().unwrap_or("").to_owned(),
            headers,
            body,
            host,
            ws_auth: None,
        },
    );
    to_hyper(resp)
}
