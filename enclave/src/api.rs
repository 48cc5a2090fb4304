//! The client⇄enclave HTTP API behind attested TLS (SPEC §3). Error bodies are coarse codes
//! (SPEC §3.3): the detail goes to the enclave's log, never to the peer, and neither ever
//! contains user data.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};

use crate::Enclave;

pub type Body = Full<Bytes>;

/// Builds a JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("static response parts are valid")
}

/// SPEC §3.3: `{"error": "<code>"}` and nothing else.
pub fn error(status: StatusCode, code: &'static str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": code }))
}

pub async fn route(
    enclave: Arc<Enclave>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/v1/health") => json(
            StatusCode::OK,
            &serde_json::json!({
                "status": if enclave.is_ready() { "ready" } else { "starting" },
                "platform": enclave.platform.kind().name(),
                "version": env!("CARGO_PKG_VERSION"),
            }),
        ),
        (_, "/v1/health") => error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        _ => error(StatusCode::NOT_FOUND, "not_found"),
    })
}
