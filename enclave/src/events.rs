//! The events stream (SPEC §3.7, DESIGN §4.5): `GET /v1/channels/{id}/events` upgrades an
//! attested TLS session to newline-delimited JSON. The enclave challenges, the client proves
//! it holds SK without sending it (VAULT.md §15, bound to this TLS session's RFC 9266
//! exporter), and then the enclave pushes `{"waiting":N}` whenever the channel's inbound
//! queue grows, and once at connect if messages are already waiting or if an unlock must
//! resume receipt after an enclave restart (`"resume":true`).
//!
//! Connected clients are kept per channel (never per person): the table maps a channel id
//! to a `watch` counter that the live receiver bumps after each durable append.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand_core::OsRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use wire::blob::{BlobRequest, BlobResponse};

use crate::api::{error, Body};
use crate::channel_api::parse_id;
use crate::vault::lifecycle::{challenge, SkVerifier, MAX_TLS_BINDING_LEN, RESPONSE_LEN};
use crate::vault::names;
use crate::Enclave;

/// The `Upgrade` token of the stream (SPEC §3.7).
pub const PROTOCOL: &str = "sealboost-events/1";
/// Longest line the enclave reads from a client (the proof line).
pub const MAX_CLIENT_LINE: usize = 256;
/// The client must answer the challenge within this.
pub const PROOF_TIMEOUT: Duration = Duration::from_secs(10);
/// Event streams open at once, over all channels.
pub const MAX_STREAMS: usize = 1024;
/// Event streams open at once on one channel.
pub const MAX_STREAMS_PER_CHANNEL: usize = 64;
/// An idle stream gets `{"keepalive":true}` this often, so both ends notice a dead
/// connection.
pub const KEEPALIVE: Duration = Duration::from_secs(30);
/// RFC 9266 exporter label and length.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
const EXPORTER_LEN: usize = 32;

/// The TLS session's channel binding (RFC 9266 `tls-exporter`), attached to every request of
/// the session by the server. Empty if the exporter failed (then every proof fails).
#[derive(Clone)]
pub struct SessionBinding(Arc<[u8]>);

impl std::fmt::Debug for SessionBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionBinding(..)")
    }
}

impl SessionBinding {
    pub fn of(conn: &rustls::ServerConnection) -> Self {
        let mut out = [0u8; EXPORTER_LEN];
        match conn.export_keying_material(&mut out[..], EXPORTER_LABEL, None) {
            Ok(_) => Self(Arc::from(&out[..])),
            Err(_) => Self(Arc::from(&[][..])),
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

struct Hub {
    channels: Mutex<HashMap<crate::vault::ChannelId, watch::Sender<u64>>>,
    /// Open proposal ids per channel, as this enclave last saw them in an unlocked state
    /// (`note_proposals`). Kept while a channel has open proposals or a connected stream.
    proposals: Mutex<HashMap<crate::vault::ChannelId, watch::Sender<Vec<u32>>>>,
    open: std::sync::atomic::AtomicUsize,
}

fn hub() -> &'static Hub {
    // One table per process: the live receivers run on the Signal worker thread and reach
    // it without a handle to the enclave. Channel ids are random, so enclaves sharing a
    // process (tests) do not see each other's channels.
    static HUB: OnceLock<Hub> = OnceLock::new();
    HUB.get_or_init(|| Hub {
        channels: Mutex::new(HashMap::new()),
        proposals: Mutex::new(HashMap::new()),
        open: std::sync::atomic::AtomicUsize::new(0),
    })
}

/// Called by the live receiver after an append the host said is durable.
pub fn queue_grew(id: &crate::vault::ChannelId) {
    let map = hub().channels.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(tx) = map.get(id) {
        tx.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Records the open proposals of an unlocked (or just committed) state, so that connected
/// admin clients are told when a vote is wanted and late ones at connect (SPEC §3.7). Only
/// ids travel: what a proposal is about stays in the sealed state (`proposals/list`).
pub fn note_proposals(id: &crate::vault::ChannelId, state: &crate::vault::model::ChannelState) {
    let ids: Vec<u32> = state.proposals().iter().map(|p| p.id()).collect();
    let mut map = hub().proposals.lock().unwrap_or_else(|p| p.into_inner());
    match map.get(id) {
        Some(tx) => {
            tx.send_if_modified(|v| {
                let changed = *v != ids;
                if changed {
                    v.clone_from(&ids);
                }
                changed
            });
            if ids.is_empty() && tx.receiver_count() == 0 {
                map.remove(id);
            }
        }
        None if !ids.is_empty() => {
            map.insert(*id, watch::channel(ids).0);
        }
        None => {}
    }
}

/// Connected event streams on `id` (for tests and logs).
pub fn connected(id: &crate::vault::ChannelId) -> usize {
    let map = hub().channels.lock().unwrap_or_else(|p| p.into_inner());
    map.get(id).map_or(0, watch::Sender::receiver_count)
}

/// A slot in the table; leaving it removes the channel's entry once nobody listens.
struct Subscription {
    id: crate::vault::ChannelId,
    rx: Option<watch::Receiver<u64>>,
    proposals: Option<watch::Receiver<Vec<u32>>>,
}

impl Subscription {
    fn join(id: crate::vault::ChannelId) -> Option<Self> {
        let h = hub();
        let mut map = h.channels.lock().unwrap_or_else(|p| p.into_inner());
        if h.open.load(std::sync::atomic::Ordering::Relaxed) >= MAX_STREAMS {
            return None;
        }
        let tx = map.entry(id).or_insert_with(|| watch::channel(0).0);
        if tx.receiver_count() >= MAX_STREAMS_PER_CHANNEL {
            return None;
        }
        let rx = tx.subscribe();
        let proposals = h
            .proposals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_insert_with(|| watch::channel(Vec::new()).0)
            .subscribe();
        h.open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(Self {
            id,
            rx: Some(rx),
            proposals: Some(proposals),
        })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        drop(self.proposals.take());
        let h = hub();
        let mut map = h.channels.lock().unwrap_or_else(|p| p.into_inner());
        h.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if map.get(&self.id).is_some_and(|tx| tx.receiver_count() == 0) {
            map.remove(&self.id);
        }
        drop(map);
        let mut props = h.proposals.lock().unwrap_or_else(|p| p.into_inner());
        if props
            .get(&self.id)
            .is_some_and(|tx| tx.receiver_count() == 0 && tx.borrow().is_empty())
        {
            props.remove(&self.id);
        }
    }
}

/// `GET /v1/channels/{id}/events` with `Upgrade: sealboost-events/1` (SPEC §3.7).
pub async fn open(
    enclave: Arc<Enclave>,
    id: &str,
    mut req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let Some(id) = parse_id(id) else {
        return error(StatusCode::NOT_FOUND, "not_found");
    };
    let wants = req
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(PROTOCOL));
    if !wants {
        return error(StatusCode::UPGRADE_REQUIRED, "upgrade_required");
    }
    let Some(binding) = req.extensions().get::<SessionBinding>().cloned() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    };
    if binding.as_bytes().is_empty() || binding.as_bytes().len() > MAX_TLS_BINDING_LEN {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    }
    let verifier = match enclave
        .blobs
        .call(&BlobRequest::Get {
            name: names::proof_verifier(&id),
        })
        .await
    {
        Ok(BlobResponse::Blob { data, .. }) => match SkVerifier::decode(&data) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "stored verifier unreadable");
                return error(StatusCode::CONFLICT, "no_verifier");
            }
        },
        Ok(BlobResponse::NotFound) => return error(StatusCode::CONFLICT, "no_verifier"),
        Ok(other) => {
            tracing::warn!(
                answer = other.kind_name(),
                "verifier read: unexpected answer"
            );
            return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
        Err(e) => {
            tracing::warn!(error = %e, "verifier read failed");
            return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
    };
    let Some(sub) = Subscription::join(id) else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "too_many_streams");
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => serve(enclave, sub, verifier, binding, TokioIo::new(io)).await,
            Err(e) => tracing::debug!(error = %e, "events upgrade failed"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(hyper::header::CONNECTION, "upgrade")
        .header(hyper::header::UPGRADE, PROTOCOL)
        .body(Body::default())
        .expect("static response parts are valid")
}

/// Whether the channel's new Signal messages wait at the service until an unlock: this
/// enclave has run no live receiver for it since it started (it needs the account's
/// credential, which only an unlock opens), and the channel has a Signal account.
pub(crate) async fn needs_resume(enclave: &Enclave, id: &crate::vault::ChannelId) -> bool {
    let Some(courier) = enclave.courier.as_ref() else {
        return false;
    };
    !courier.live.is_running(id)
        && crate::courier::chunks::any_stored(&enclave.blobs, id)
            .await
            .unwrap_or(false)
}

/// Reads one `\n`-terminated line of at most [`MAX_CLIENT_LINE`] bytes.
async fn read_line<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match r.read(&mut b).await {
            Ok(1) if b[0] == b'\n' => return Some(line),
            Ok(1) if line.len() < MAX_CLIENT_LINE => line.push(b[0]),
            _ => return None,
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofLine {
    response: String,
}

/// Parses the client's proof line (without its newline): `{"response": b64}` with exactly
/// [`RESPONSE_LEN`] bytes, nothing else. `None` for anything longer than
/// [`MAX_CLIENT_LINE`] or malformed.
pub fn parse_proof_line(line: &[u8]) -> Option<[u8; RESPONSE_LEN]> {
    if line.len() > MAX_CLIENT_LINE {
        return None;
    }
    let p: ProofLine = serde_json::from_slice(line).ok()?;
    B64.decode(p.response).ok()?.try_into().ok()
}

async fn send<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, v: &serde_json::Value) -> bool {
    let mut line = v.to_string();
    line.push('\n');
    w.write_all(line.as_bytes()).await.is_ok() && w.flush().await.is_ok()
}

async fn serve<S>(
    enclave: Arc<Enclave>,
    mut sub: Subscription,
    verifier: SkVerifier,
    binding: SessionBinding,
    io: S,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let pending = challenge(&mut OsRng);
    let ch = B64.encode(pending.challenge().encode());
    if !send(&mut wr, &serde_json::json!({ "challenge": ch })).await {
        return;
    }
    let line = tokio::time::timeout(PROOF_TIMEOUT, read_line(&mut rd)).await;
    let response = match line {
        Ok(Some(l)) => parse_proof_line(&l),
        _ => None,
    };
    let proven = response.is_some_and(|r| {
        pending
            .verify(verifier.channel_id(), &verifier, binding.as_bytes(), &r)
            .is_ok()
    });
    if !proven {
        tracing::info!("events stream: SK proof refused");
        let _ = send(&mut wr, &serde_json::json!({ "error": "proof_failed" })).await;
        let _ = wr.shutdown().await;
        return;
    }
    let (Some(mut rx), Some(mut props)) = (sub.rx.clone(), sub.proposals.clone()) else {
        return;
    };
    let id = sub.id;
    let mut resume = needs_resume(&enclave, &id).await;
    // The acknowledgement carries the channel's situation, so a polling client can read it
    // and hang up (SPEC §3.7).
    let waiting = match enclave.channels.queue_length(&enclave.blobs, &id).await {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "events: queue length unavailable");
            None
        }
    };
    let open: Vec<u32> = props.borrow_and_update().clone();
    let ok = serde_json::json!({ "ok": true, "waiting": waiting, "resume": resume,
                                 "proposals": open });
    if !send(&mut wr, &ok).await {
        return;
    }
    tracing::info!("events stream: client connected");
    let mut shutdown = enclave.shutdown_rx();
    // Messages queued while nobody was connected: say so at once (and that an unlock must
    // resume receipt, if it must). Afterwards, after every append the live receiver reports
    // (the count is read again: appends coalesce). Open proposals likewise: at connect if
    // any, then whenever an unlock changes them.
    let mut queue_news = true;
    let mut proposal_news = !open.is_empty();
    loop {
        if std::mem::take(&mut queue_news) {
            match enclave.channels.queue_length(&enclave.blobs, &id).await {
                Ok(n) if n > 0 || resume => {
                    let mut line = serde_json::json!({ "waiting": n });
                    if std::mem::take(&mut resume) {
                        line["resume"] = true.into();
                    }
                    if !send(&mut wr, &line).await {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "events: queue length unavailable"),
            }
        }
        if std::mem::take(&mut proposal_news) {
            let ids = props.borrow_and_update().clone();
            if !send(&mut wr, &serde_json::json!({ "proposals": ids })).await {
                break;
            }
        }
        let mut sink = [0u8; 64];
        tokio::select! {
            r = rx.changed() => if r.is_err() { break } else { queue_news = true },
            r = props.changed() => if r.is_err() { break } else { proposal_news = true },
            _ = async { shutdown.wait_for(|s| *s).await.is_ok() } => break,
            // The client sends nothing after its proof; EOF or any error ends the stream.
            r = rd.read(&mut sink) => if !matches!(r, Ok(n) if n > 0) { break },
            () = tokio::time::sleep(KEEPALIVE) => {
                if !send(&mut wr, &serde_json::json!({ "keepalive": true })).await { break }
            }
        }
    }
    drop((rx, props));
    sub.rx = None;
    sub.proposals = None;
    drop(sub);
    tracing::info!("events stream: client gone");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn proof_line_takes_exactly_one_response() {
        let ok = format!("{{\"response\":\"{}\"}}", B64.encode([7u8; RESPONSE_LEN]));
        assert_eq!(parse_proof_line(ok.as_bytes()), Some([7u8; RESPONSE_LEN]));
        let short = format!("{{\"response\":\"{}\"}}", B64.encode([7u8; 31]));
        assert_eq!(parse_proof_line(short.as_bytes()), None);
        let extra = format!(
            "{{\"response\":\"{}\",\"sk\":\"x\"}}",
            B64.encode([7u8; RESPONSE_LEN])
        );
        assert_eq!(parse_proof_line(extra.as_bytes()), None);
        assert_eq!(parse_proof_line(&[b' '; MAX_CLIENT_LINE + 1]), None);
        assert_eq!(parse_proof_line(b"not json"), None);
    }
}
