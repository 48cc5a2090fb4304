//! Receiving: the authenticated WebSocket (`/v1/websocket/`, Basic `aci.deviceId:password`)
//! carrying `WebSocketMessage` frames. Yields raw envelope bytes; [`Receiver::ack`] answers
//! the delivery with 200 so the service deletes it. Decryption is separate on purpose
//! ([`crate::SignalClient::decrypt`]): the enclave seals raw envelopes while locked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use prost::Message as _;
use signal_api::{consts, WebSocketMessage, WebSocketRequestMessage, WebSocketResponseMessage};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::transport::{HttpClient, Stream};

/// Send a keepalive after this long without hearing from the service.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a keepalive may go unanswered (with nothing else heard either) before the
/// connection is taken as half-open and dropped: [`Receiver::next`] returns
/// [`Error::KeepaliveTimeout`]. A connection polled throughout is thus given up after
/// `KEEPALIVE_INTERVAL + KEEPALIVE_TIMEOUT` (60 s, two keepalive intervals) of silence.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(30);
/// First reconnect delay; doubles up to [`MAX_BACKOFF`].
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Longest reconnect delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Consecutive failed connects before [`Receiver::next`] gives up.
pub const MAX_RECONNECT_ATTEMPTS: u32 = 10;

type Ws = WebSocketStream<tokio_rustls::client::TlsStream<Box<dyn Stream>>>;

/// What the service pushed.
#[derive(Debug)]
pub enum Event {
    /// One envelope; ack it with its `id` once it is safely handled.
    Envelope {
        /// The delivery's request id (for [`Receiver::ack`]).
        id: u64,
        /// The serialized `Envelope`.
        envelope: Vec<u8>,
    },
    /// Everything queued while we were away has been delivered.
    QueueEmpty,
}

/// A reconnecting WebSocket session for one device.
pub struct Receiver {
    http: Arc<HttpClient>,
    auth: Zeroizing<String>,
    ws: Option<Ws>,
    next_id: u64,
    /// When the service was last heard from on the current connection.
    heard: Instant,
    /// When a keepalive went out, if one did since the service was last heard from.
    keepalive_sent: Option<Instant>,
    keepalive_interval: Duration,
    keepalive_timeout: Duration,
    /// Connections made so far (1 after the first connect).
    pub connections: u32,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("connected", &self.ws.is_some())
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// A receiver authenticating with `basic_auth` (see `Credentials::basic_auth`).
    /// Connects lazily on the first [`Receiver::next`].
    pub fn new(http: Arc<HttpClient>, basic_auth: String) -> Self {
        Receiver {
            http,
            auth: Zeroizing::new(basic_auth),
            ws: None,
            next_id: 1,
            heard: Instant::now(),
            keepalive_sent: None,
            keepalive_interval: KEEPALIVE_INTERVAL,
            keepalive_timeout: KEEPALIVE_TIMEOUT,
            connections: 0,
        }
    }

    /// Replaces [`KEEPALIVE_INTERVAL`] and [`KEEPALIVE_TIMEOUT`] (tests, unusual links).
    pub fn set_keepalive(&mut self, interval: Duration, timeout: Duration) {
        self.keepalive_interval = interval;
        self.keepalive_timeout = timeout;
    }

    async fn connect_once(&self) -> Result<Ws> {
        let stream = self
            .http
            .tls()
            .connect(self.http.connector().as_ref())
            .await?;
        let url = format!(
            "wss://{}{}",
            self.http.tls().server_name(),
            consts::WEBSOCKET_PATH
        );
        let mut req = url
            .into_client_request()
            .map_err(|_| Error::WebSocket { reason: "bad url" })?;
        let auth = self.auth.parse().map_err(|_| Error::WebSocket {
            reason: "bad auth header",
        })?;
        req.headers_mut().insert("Authorization", auth);
        let cfg = WebSocketConfig::default()
            .max_message_size(Some(signal_api::limits::MAX_WS_MESSAGE_LEN))
            .max_frame_size(Some(signal_api::limits::MAX_WS_MESSAGE_LEN));
        let handshake = tokio_tungstenite::client_async_with_config(req, stream, Some(cfg));
        let (ws, _resp) = tokio::time::timeout(crate::transport::CONNECT_TIMEOUT, handshake)
            .await
            .map_err(|_| Error::Timeout {
                operation: "websocket handshake",
            })?
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 401 => {
                    Error::Status {
                        operation: "websocket",
                        status: 401,
                    }
                }
                _ => Error::WebSocket {
                    reason: "handshake failed",
                },
            })?;
        Ok(ws)
    }

    /// Connects (or reconnects) with exponential backoff.
    async fn ensure_connected(&mut self) -> Result<()> {
        if self.ws.is_some() {
            return Ok(());
        }
        let mut delay = INITIAL_BACKOFF;
        let mut last = Error::WebSocket {
            reason: "not connected",
        };
        for attempt in 0..MAX_RECONNECT_ATTEMPTS {
            if attempt > 0 || self.connections > 0 {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            match self.connect_once().await {
                Ok(ws) => {
                    self.ws = Some(ws);
                    self.heard = Instant::now();
                    self.keepalive_sent = None;
                    self.connections += 1;
                    return Ok(());
                }
                // Bad credentials will not get better by retrying.
                Err(e @ Error::Status { status: 401, .. }) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The next event, reconnecting as needed. Sends a keepalive after the keepalive
    /// interval without hearing from the service and answers `queue/empty` itself. A 4409
    /// close (another connection for this device) is returned as
    /// [`Error::ConnectedElsewhere`] rather than fought over. A connection silent for the
    /// keepalive timeout after a keepalive went out (no frame at all, not even its answer)
    /// is dropped and returned as [`Error::KeepaliveTimeout`]; the next call reconnects.
    /// Frames that arrived while the caller was not polling are read before any verdict.
    pub async fn next(&mut self) -> Result<Event> {
        loop {
            self.ensure_connected().await?;
            let wait = match self.keepalive_sent {
                Some(sent) => self.keepalive_timeout.saturating_sub(sent.elapsed()),
                None => self.keepalive_interval.saturating_sub(self.heard.elapsed()),
            };
            let ws = self.ws.as_mut().expect("invariant: connected above");
            // A zero `wait` still polls the stream once, so buffered frames count.
            let frame = match tokio::time::timeout(wait, ws.next()).await {
                Err(_) if self.keepalive_sent.is_some() => {
                    // Half-open: a close handshake would wait on the same dead peer.
                    self.ws = None;
                    return Err(Error::KeepaliveTimeout);
                }
                Err(_) => {
                    match self.send_keepalive().await {
                        Ok(()) => self.keepalive_sent = Some(Instant::now()),
                        Err(_) => self.ws = None,
                    }
                    continue;
                }
                Ok(None) | Ok(Some(Err(_))) => {
                    self.ws = None;
                    continue;
                }
                Ok(Some(Ok(m))) => {
                    self.heard = Instant::now();
                    self.keepalive_sent = None;
                    m
                }
            };
            match frame {
                Message::Binary(b) => match self.on_binary(&b).await {
                    Ok(Some(ev)) => return Ok(ev),
                    Ok(None) => {}
                    // A frame that does not decode: drop this connection and reconnect
                    // (unacked envelopes are redelivered) rather than end the session.
                    Err(_) => self.disconnect().await,
                },
                Message::Close(Some(cf))
                    if cf.code == CloseCode::Library(consts::CLOSE_CONNECTED_ELSEWHERE) =>
                {
                    self.ws = None;
                    return Err(Error::ConnectedElsewhere);
                }
                Message::Close(_) => self.ws = None,
                _ => {}
            }
        }
    }

    async fn on_binary(&mut self, b: &[u8]) -> Result<Option<Event>> {
        let msg = signal_api::decode_ws_message(b).map_err(|_| Error::WebSocket {
            reason: "malformed WebSocketMessage",
        })?;
        let Some(req) = msg.request else {
            // A response to our keepalive.
            return Ok(None);
        };
        let id = req.id.unwrap_or(0);
        let verb = req.verb.as_deref().unwrap_or("");
        match (verb, req.path.as_deref().unwrap_or("")) {
            ("PUT", consts::WS_DELIVER_PATH) => Ok(Some(Event::Envelope {
                id,
                envelope: req.body.unwrap_or_default(),
            })),
            ("PUT", consts::WS_QUEUE_EMPTY_PATH) => {
                self.respond(id, 200).await?;
                Ok(Some(Event::QueueEmpty))
            }
            _ => {
                self.respond(id, 400).await?;
                Ok(None)
            }
        }
    }

    async fn respond(&mut self, id: u64, status: u32) -> Result<()> {
        let out = WebSocketMessage::response(WebSocketResponseMessage {
            id: Some(id),
            status: Some(status),
            message: Some(if status == 200 { "OK" } else { "Bad Request" }.into()),
            headers: vec![],
            body: None,
        });
        self.send_frame(out).await
    }

    /// Acknowledges a delivered envelope (200), so the service deletes it. An ack lost to
    /// a dropped connection means the envelope is redelivered after reconnecting.
    pub async fn ack(&mut self, id: u64) -> Result<()> {
        self.respond(id, 200).await
    }

    async fn send_keepalive(&mut self) -> Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let out = WebSocketMessage::request(WebSocketRequestMessage {
            verb: Some("GET".into()),
            path: Some(consts::WS_KEEPALIVE_PATH.into()),
            body: None,
            headers: vec![],
            id: Some(id),
        });
        self.send_frame(out).await
    }

    async fn send_frame(&mut self, m: WebSocketMessage) -> Result<()> {
        let ws = self.ws.as_mut().ok_or(Error::WebSocket {
            reason: "not connected",
        })?;
        if ws
            .send(Message::Binary(Bytes::from(m.encode_to_vec())))
            .await
            .is_err()
        {
            self.ws = None;
            return Err(Error::WebSocket {
                reason: "send failed",
            });
        }
        Ok(())
    }

    /// Drops the connection (the next [`Receiver::next`] reconnects).
    pub async fn disconnect(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None).await;
        }
    }
}
