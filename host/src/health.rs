//! `/healthz` and `/metrics` for the operator (DESIGN §7). They report the host's own
//! counters and whether the enclave answers; nothing about channels or users.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wire::control::{ControlRequest, ControlResponse};
use wire::frame::FrameKind;
use wire::hello::Stream;
use wire::link::{self, LinkAddr, LinkError};

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// Sends one control request to the enclave (SPEC §2.7).
pub async fn control(
    enclave: &LinkAddr,
    req: ControlRequest,
    timeout: Duration,
) -> Result<ControlResponse, LinkError> {
    tokio::time::timeout(timeout, async {
        let mut s = link::connect(enclave).await?;
        link::hello(&mut s, Stream::Control).await?;
        link::write_frame(&mut s, FrameKind::ControlRequest, &req.encode()).await?;
        let body = link::read_frame_of(&mut s, FrameKind::ControlResponse).await?;
        Ok(ControlResponse::decode(&body)?)
    })
    .await
    .map_err(|_| LinkError::Io(std::io::ErrorKind::TimedOut.into()))?
}

pub async fn run(
    listener: TcpListener,
    enclave: LinkAddr,
    metrics: Arc<Metrics>,
    mut shutdown: Shutdown,
) {
    let enclave = Arc::new(enclave);
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
            () = shutdown.wait() => return,
        };
        let (enclave, metrics) = (enclave.clone(), metrics.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let (enclave, metrics) = (enclave.clone(), metrics.clone());
                async move { Ok::<_, Infallible>(route(req, &enclave, &metrics).await) }
            });
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc);
            let _ = tokio::time::timeout(Duration::from_secs(30), conn).await;
        });
    }
}

async fn route(
    req: Request<hyper::body::Incoming>,
    enclave: &LinkAddr,
    metrics: &Metrics,
) -> Response<Full<Bytes>> {
    let reply = |status, ctype, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", ctype)
            .body(Full::new(Bytes::from(body)))
            .expect("static response parts are valid")
    };
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => {
            let (status, body) =
                match control(enclave, ControlRequest::Health, Duration::from_secs(2)).await {
                    Ok(ControlResponse::Health {
                        platform,
                        uptime_secs,
                        ready,
                    }) => (
                        if ready {
                            StatusCode::OK
                        } else {
                            StatusCode::SERVICE_UNAVAILABLE
                        },
                        format!(
                            "{{\"host\":\"ok\",\"enclave\":\"{}\",\"platform\":\"{}\",\"enclave_uptime_secs\":{uptime_secs}}}\n",
                            if ready { "ready" } else { "starting" },
                            platform.name()
                        ),
                    ),
                    Ok(ControlResponse::ShuttingDown) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "{\"host\":\"ok\",\"enclave\":\"stopping\"}\n".to_owned(),
                    ),
                    Err(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "{\"host\":\"ok\",\"enclave\":\"unreachable\"}\n".to_owned(),
                    ),
                };
            reply(status, "application/json", body)
        }
        (&Method::GET, "/metrics") => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics.render(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    }
}
