//! The client⇄enclave HTTP API behind attested TLS (SPEC §3). Error bodies are coarse codes
//! (SPEC §3.3): the detail goes to the enclave's log, never to the peer, and neither ever
//! contains user data.

use std::convert::Infallible;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Response, StatusCode};

use crate::Enclave;

pub type Body = Full<Bytes>;

/// Largest `POST /v1/attestation` body: a base64 nonce of at most 512 bytes plus JSON.
pub const MAX_ATTESTATION_BODY: usize = 1024;
/// Client nonces (SPEC §3.2): at least 16 bytes so they cannot be guessed, at most Nitro's 512.
pub const MIN_NONCE_LEN: usize = 16;
pub const MAX_NONCE_LEN: usize = 512;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationRequest {
    nonce: String,
}

/// Reads a JSON body of at most `max` bytes.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<hyper::body::Incoming>,
    max: usize,
) -> Result<T, Response<Body>> {
    let body = Limited::new(req.into_body(), max)
        .collect()
        .await
        .map_err(|_| error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"))?
        .to_bytes();
    let parsed =
        serde_json::from_slice(&body).map_err(|_| error(StatusCode::BAD_REQUEST, "bad_request"));
    wipe_bytes(body);
    parsed
}

/// Overwrites a request body (it may hold SK in base64) once it is parsed, when this is its
/// only owner; a body still sharing hyper's read buffer is freed by hyper unwiped
/// (VAULT.md §10).
fn wipe_bytes(body: Bytes) {
    use zeroize::Zeroize as _;
    if let Ok(mut owned) = body.try_into_mut() {
        owned.as_mut().zeroize();
    }
}

/// SPEC §3.2: fresh evidence binding this session's TLS key and the client's nonce.
async fn attestation(enclave: Arc<Enclave>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let body: AttestationRequest = match read_json(req, MAX_ATTESTATION_BODY).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let Ok(nonce) = B64.decode(body.nonce.as_bytes()) else {
        return error(StatusCode::BAD_REQUEST, "bad_request");
    };
    if !(MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len()) {
        return error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let spki = enclave.tls.spki_der.clone();
    let binding = attestation::binding::digest(&spki, &nonce);
    let platform = enclave.platform.clone();
    let evidence = tokio::task::spawn_blocking(move || {
        platform.attest(&crate::platform::AttestRequest {
            user_data: &binding,
            nonce: &nonce,
            public_key: &spki,
        })
    })
    .await;
    match evidence {
        Ok(Ok(ev)) => json(
            StatusCode::OK,
            &serde_json::json!({
                "platform": ev.platform.name(),
                "evidence": B64.encode(&ev.evidence),
                "endorsements": ev.endorsements.iter().map(|e| B64.encode(e)).collect::<Vec<_>>(),
            }),
        ),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "attestation failed");
            error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// Builds a JSON response. Answers can carry SK (rotate, catch-up, redeem), so the body is
/// serialized into memory that is wiped when hyper drops it (`Bytes::from_owner`), and
/// [`wipe`] is for the value the caller built. What hyper and rustls copy on the way out
/// (their write buffers) is freed but not wiped (VAULT.md §10).
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut body = zeroize::Zeroizing::new(Vec::with_capacity(256));
    serde_json::to_writer(&mut *body, value).expect("invariant: a Value always serializes");
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from_owner(body)))
        .expect("static response parts are valid")
}

/// Overwrites every string in `value` (object keys included) before it is dropped, so a
/// secret put into an answer does not linger in freed memory.
pub fn wipe(value: &mut serde_json::Value) {
    use zeroize::Zeroize as _;
    match value {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(wipe),
        serde_json::Value::Object(o) => {
            let mut map = std::mem::take(o);
            for (mut k, mut v) in std::mem::take(&mut map) {
                k.zeroize();
                wipe(&mut v);
            }
        }
        _ => {}
    }
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
        (&Method::POST, "/v1/attestation") => attestation(enclave, req).await,
        (&Method::POST, "/v1/channels") => crate::channel_api::create(enclave, req).await,
        (method, path) if path.starts_with("/v1/channels/") => {
            let rest = &path["/v1/channels/".len()..];
            let (id, op) = rest.split_once('/').unwrap_or((rest, ""));
            let (id, op) = (id.to_owned(), op.to_owned());
            match (method, op.as_str()) {
                (&Method::GET, "status") => crate::channel_api::status(enclave, &id).await,
                (&Method::GET, "events") => crate::events::open(enclave, &id, req).await,
                (&Method::POST, "info" | "members" | "settings" | "members/change") => {
                    crate::channel_api::unlocked(enclave, &id, &op, req).await
                }
                (&Method::POST, "signal/register" | "mailbox" | "command") => {
                    crate::courier_api::route(enclave, &id, &op, req).await
                }
                (&Method::POST, op) if crate::lifecycle_api::ROUTES.contains(&op) => {
                    crate::lifecycle_api::route(enclave, &id, op, req).await
                }
                _ => error(StatusCode::NOT_FOUND, "not_found"),
            }
        }
        (_, "/v1/health" | "/v1/attestation") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        }
        _ => error(StatusCode::NOT_FOUND, "not_found"),
    })
}

#[cfg(test)]
mod wipe_tests {
    use super::*;

    #[test]
    fn wipe_overwrites_nested_strings() {
        let mut s = serde_json::json!("c2VjcmV0");
        wipe(&mut s);
        // `String::zeroize` overwrites the bytes and then clears the string.
        assert_eq!(s, serde_json::json!(""));
        let mut v = serde_json::json!({ "sk": "c2VjcmV0", "list": ["a", { "k": "x" }], "n": 1 });
        wipe(&mut v);
        assert_eq!(v, serde_json::json!({}));
    }

    #[test]
    fn json_answers_are_the_serialized_value() {
        let r = json(
            StatusCode::OK,
            &serde_json::json!({ "sk": "abc", "epoch": 3 }),
        );
        assert_eq!(r.status(), StatusCode::OK);
        let body = futures::executor::block_on(r.into_body().collect())
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], br#"{"epoch":3,"sk":"abc"}"#);
    }
}
