//! The authenticated WebSocket (SPEC §7.6): envelope delivery with acks, `queue/empty`,
//! keepalive, REST requests over the socket, and 4409 when a newer connection replaces this
//! one.

use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prost::Message as _;
use signal_api::auth::{BasicAuth, Username};
use signal_api::{
    consts, decode_ws_message, limits, WebSocketMessage, WebSocketRequestMessage,
    WebSocketResponseMessage,
};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use uuid::Uuid;

use crate::routes::{self, query_param, Req};
use crate::server::plain;
use crate::state::{Conn, Push};
use crate::Sim;

/// Ids of server→client requests that are not envelope deliveries (queue/empty) have this
/// bit set; envelope deliveries use the mailbox sequence number, which never reaches it.
const NON_ENVELOPE_ID_BIT: u64 = 1 << 63;

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Handle `GET /v1/websocket/`: authenticate, answer 101, and run the socket on its own task.
pub(crate) fn upgrade(sim: Arc<Sim>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let is_ws = req
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return plain(StatusCode::BAD_REQUEST);
    };
    if !is_ws {
        return plain(StatusCode::BAD_REQUEST);
    }
    // SPEC §3: the Authorization header, or the legacy login/password query parameters.
    let query = req.uri().query().unwrap_or("");
    let creds = match req.headers().get(hyper::header::AUTHORIZATION) {
        Some(h) => h
            .to_str()
            .ok()
            .and_then(|h| BasicAuth::parse_header(h).ok()),
        None => match (query_param(query, "login"), query_param(query, "password")) {
            (Some(l), Some(p)) => BasicAuth::from_parts(&l, &p).ok(),
            _ => None,
        },
    };
    let Some(BasicAuth {
        username: Username::Device { aci, device_id },
        password,
    }) = creds
    else {
        return plain(StatusCode::UNAUTHORIZED);
    };
    if sim
        .state()
        .authenticate(aci, device_id, password.expose())
        .is_none()
    {
        return plain(StatusCode::UNAUTHORIZED);
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let cfg = WebSocketConfig::default()
                .max_message_size(Some(limits::MAX_WS_MESSAGE_LEN))
                .max_frame_size(Some(limits::MAX_WS_MESSAGE_LEN));
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(cfg))
                    .await;
            run(sim, ws, aci, device_id).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(hyper::header::UPGRADE, "websocket")
        .header(hyper::header::CONNECTION, "Upgrade")
        .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
        .body(Full::new(Bytes::new()))
        .expect("invariant: static headers are valid")
}

fn request_frame(id: u64, path: &str, body: Option<Vec<u8>>) -> Message {
    let m = WebSocketMessage::request(WebSocketRequestMessage {
        verb: Some("PUT".into()),
        path: Some(path.into()),
        body,
        headers: vec![format!(
            "{}: {}",
            consts::X_SIGNAL_TIMESTAMP,
            routes::now_ms()
        )],
        id: Some(id),
    });
    Message::Binary(Bytes::from(m.encode_to_vec()))
}

fn envelope_frame(seq: u64, envelope: &Bytes) -> Message {
    request_frame(seq, consts::WS_DELIVER_PATH, Some(envelope.to_vec()))
}

async fn close(ws: &mut Ws, code: CloseCode, reason: &'static str) {
    let _ = ws
        .close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
        .await;
}

async fn run(sim: Arc<Sim>, mut ws: Ws, aci: Uuid, device_id: u32) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Register, replacing (4409) any older connection, and snapshot the stored queue under
    // the same lock so nothing is missed or sent twice.
    let registered = {
        let mut st = sim.state();
        st.next_conn += 1;
        let conn_id = st.next_conn;
        st.accounts
            .get_mut(&aci)
            .and_then(|a| a.devices.get_mut(&device_id))
            .map(|d| {
                if let Some(old) = d.conn.replace(Conn { id: conn_id, tx }) {
                    let _ = old.tx.send(Push::Replaced);
                }
                let backlog: Vec<(u64, Bytes)> =
                    d.mailbox.iter().map(|(s, b)| (*s, b.clone())).collect();
                (conn_id, backlog)
            })
    };
    let Some((conn_id, backlog)) = registered else {
        close(&mut ws, CloseCode::Policy, "no such device").await;
        return;
    };
    let mut next_id = NON_ENVELOPE_ID_BIT;
    let mut ok = true;
    for (seq, env) in &backlog {
        if ws.feed(envelope_frame(*seq, env)).await.is_err() {
            ok = false;
            break;
        }
    }
    next_id += 1;
    if ok
        && ws
            .send(request_frame(next_id, consts::WS_QUEUE_EMPTY_PATH, None))
            .await
            .is_err()
    {
        ok = false;
    }
    let mut shutdown = sim.shutdown.clone();
    while ok {
        tokio::select! {
            push = rx.recv() => match push {
                Some(Push::Envelope(seq, env)) => {
                    ok = ws.feed(envelope_frame(seq, &env)).await.is_ok();
                    // Batch whatever else is already waiting into one flush.
                    while ok {
                        match rx.try_recv() {
                            Ok(Push::Envelope(seq, env)) => {
                                ok = ws.feed(envelope_frame(seq, &env)).await.is_ok();
                            }
                            Ok(Push::Replaced) => {
                                close(&mut ws, CloseCode::Library(consts::CLOSE_CONNECTED_ELSEWHERE), "connected elsewhere").await;
                                ok = false;
                            }
                            Ok(Push::Removed) => {
                                close(&mut ws, CloseCode::Library(consts::CLOSE_DEVICE_REMOVED), "device removed").await;
                                ok = false;
                            }
                            Err(_) => break,
                        }
                    }
                    ok = ok && ws.flush().await.is_ok();
                }
                Some(Push::Replaced) | None => {
                    close(&mut ws, CloseCode::Library(consts::CLOSE_CONNECTED_ELSEWHERE), "connected elsewhere").await;
                    ok = false;
                }
                Some(Push::Removed) => {
                    close(&mut ws, CloseCode::Library(consts::CLOSE_DEVICE_REMOVED), "device removed").await;
                    ok = false;
                }
            },
            frame = ws.next() => match frame {
                Some(Ok(Message::Binary(data))) => {
                    ok = on_frame(&sim, &mut ws, aci, device_id, &data).await;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    close(&mut ws, CloseCode::Unsupported, "binary frames only").await;
                    ok = false;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => ok = false,
            },
            _ = shutdown.changed() => {
                close(&mut ws, CloseCode::Away, "shutting down").await;
                ok = false;
            }
        }
    }
    let mut st = sim.state();
    if let Some(d) = st
        .accounts
        .get_mut(&aci)
        .and_then(|a| a.devices.get_mut(&device_id))
    {
        if d.conn.as_ref().is_some_and(|c| c.id == conn_id) {
            d.conn = None;
        }
    }
}

/// One client frame. Returns false when the connection should close.
async fn on_frame(sim: &Arc<Sim>, ws: &mut Ws, aci: Uuid, device_id: u32, data: &[u8]) -> bool {
    let Ok(msg) = decode_ws_message(data) else {
        close(ws, CloseCode::Protocol, "malformed WebSocketMessage").await;
        return false;
    };
    if let Some(resp) = msg.response {
        // An ack: status 200 to an envelope delivery deletes it (SPEC §7.6).
        let id = resp.id.unwrap_or(NON_ENVELOPE_ID_BIT);
        if resp.status == Some(200) && id & NON_ENVELOPE_ID_BIT == 0 {
            let mut st = sim.state();
            if let Some(d) = st
                .accounts
                .get_mut(&aci)
                .and_then(|a| a.devices.get_mut(&device_id))
            {
                d.mailbox.remove(&id);
            }
        }
        return true;
    }
    let Some(req) = msg.request else {
        return true;
    };
    let id = req.id;
    let verb = req.verb.unwrap_or_default();
    let full_path = req.path.unwrap_or_default();
    let is_keepalive = verb.eq_ignore_ascii_case("GET") && full_path == consts::WS_KEEPALIVE_PATH;
    if is_keepalive && !sim.config.answer_keepalives {
        // SIM-ONLY test knob (SPEC §7.6): play a half-open connection.
        return true;
    }
    let (status, body, headers) = if is_keepalive {
        (200u16, None, vec![])
    } else {
        let (path, query) = full_path.split_once('?').unwrap_or((&full_path, ""));
        let headers = req
            .headers
            .iter()
            .filter_map(|h| h.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let r = match Method::from_bytes(verb.as_bytes()) {
            Ok(method) => routes::handle(
                sim,
                Req {
                    method,
                    path: path.to_owned(),
                    query: query.to_owned(),
                    headers,
                    body: Bytes::from(req.body.unwrap_or_default()),
                    host: sim.host.clone(),
                    ws_auth: Some((aci, device_id)),
                },
            ),
            Err(_) => routes::Resp::error(StatusCode::BAD_REQUEST, "bad verb"),
        };
        let headers = r.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        let body = (!r.body.is_empty()).then(|| r.body.to_vec());
        (r.status.as_u16(), body, headers)
    };
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let out = WebSocketMessage::response(WebSocketResponseMessage {
        id,
        status: Some(u32::from(status)),
        message: Some(reason.into()),
        headers,
        body,
    });
    ws.send(Message::Binary(Bytes::from(out.encode_to_vec())))
        .await
        .is_ok()
}
