#![allow(dead_code, clippy::unwrap_used, clippy::cast_possible_truncation)]
//! A raw test client for the sim: HTTPS requests with hyper over tokio-rustls trusting the
//! sim's CA, and a WebSocket client. No libsignal sessions: content bytes are opaque.

use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use prost::Message as _;
use rustls::pki_types::{CertificateDer, ServerName};
use signal_api::*;
use signal_sim::{Config, Server, ServerHandle};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

pub struct TestSim {
    pub handle: ServerHandle,
    pub tls: TlsConnector,
}

pub fn connector(ca_der: &[u8]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec())).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestSim {
    let mut cfg = Config::new("127.0.0.1:0".parse().unwrap());
    tweak(&mut cfg);
    let handle = Server::start(cfg).await.unwrap();
    let tls = connector(handle.ca_der());
    TestSim { handle, tls }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json<T: serde::de::DeserializeOwned + json::Validate>(&self) -> T {
        parse_json(&self.body).unwrap()
    }
}

#[derive(Clone)]
pub struct Account {
    pub number: String,
    pub aci: Uuid,
    pub pni: Uuid,
    pub password: String,
    pub registration_id: u32,
    pub uak: [u8; 16],
    pub identity_key: Vec<u8>,
}

impl Account {
    pub fn auth(&self) -> String {
        BasicAuth::device(self.aci, 1, Password::new(self.password.clone())).header_value()
    }
}

pub fn spk(id: u32) -> SignedPreKey {
    SignedPreKey {
        key_id: id,
        public_key: vec![5; 33],
        signature: vec![6; 64],
    }
}

impl TestSim {
    pub async fn tls_stream(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.handle.addr()).await.unwrap();
        self.tls
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let io = TokioIo::new(self.tls_stream().await);
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("localhost:{}", self.handle.addr().port()));
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        let resp = send
            .send_request(b.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn json<T: serde::Serialize>(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: &T,
    ) -> Resp {
        let mut h = vec![("content-type", "application/json")];
        if let Some(a) = auth {
            h.push(("authorization", a));
        }
        self.request(method, path, &h, to_json(body)).await
    }

    /// Verify a number (with the code from the sim's hook) and register it.
    pub async fn register(&self, number: &str) -> Account {
        let s: VerificationSessionResponse = self
            .json(
                Method::POST,
                "/v1/verification/session",
                None,
                &CreateVerificationSessionRequest {
                    number: number.into(),
                    push_token: None,
                    push_token_type: None,
                    mcc: None,
                    mnc: None,
                },
            )
            .await
            .json();
        let r = self
            .json(
                Method::POST,
                &format!("/v1/verification/session/{}/code", s.id),
                None,
                &VerificationCodeRequest {
                    transport: "sms".into(),
                    client: "test".into(),
                },
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let code = self.handle.verification_code(&s.id).unwrap();
        let r = self
            .json(
                Method::PUT,
                &format!("/v1/verification/session/{}/code", s.id),
                None,
                &SubmitVerificationCodeRequest { code },
            )
            .await;
        assert!(r.json::<VerificationSessionResponse>().verified);
        self.register_with_session(number, &s.id).await
    }

    pub async fn register_with_session(&self, number: &str, session: &str) -> Account {
        let r = self.try_register(number, session).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let id: AccountIdentityResponse = r.json();
        let (registration_id, uak, identity_key) = account_secrets(number);
        Account {
            number: number.into(),
            aci: id.uuid,
            pni: id.pni,
            password: format!("pw-{number}"),
            registration_id,
            uak,
            identity_key,
        }
    }

    pub async fn try_register(&self, number: &str, session: &str) -> Resp {
        let (registration_id, uak, identity_key) = account_secrets(number);
        let req = RegistrationRequest {
            session_id: Some(session.into()),
            account_attributes: AccountAttributes {
                fetches_messages: true,
                registration_id,
                pni_registration_id: registration_id + 1,
                name: None,
                registration_lock: None,
                unidentified_access_key: Some(uak.to_vec()),
                unrestricted_unidentified_access: number.ends_with('9'),
                capabilities: Default::default(),
                discoverable_by_phone_number: true,
            },
            skip_device_transfer: true,
            aci_identity_key: identity_key.clone(),
            pni_identity_key: identity_key.clone(),
            aci_signed_pre_key: spk(1),
            pni_signed_pre_key: spk(2),
            aci_pq_last_resort_pre_key: spk(1000),
            pni_pq_last_resort_pre_key: spk(2000),
        };
        let auth = BasicAuth {
            username: Username::Number(number.into()),
            password: Password::new(format!("pw-{number}")),
        }
        .header_value();
        self.json(Method::POST, "/v1/registration", Some(&auth), &req)
            .await
    }

    pub async fn send(
        &self,
        from: Option<&Account>,
        to: &str,
        messages: Vec<IncomingMessage>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let list = IncomingMessageList {
            messages,
            online: false,
            urgent: true,
            timestamp: 1234,
        };
        let auth = from.map(Account::auth);
        let mut h = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            h.push(("authorization", a.as_str()));
        }
        h.extend_from_slice(extra);
        self.request(
            Method::PUT,
            &format!("/v1/messages/{to}"),
            &h,
            to_json(&list),
        )
        .await
    }

    pub async fn ws(&self, acct: &Account) -> WsClient {
        self.ws_with(&[("authorization", &acct.auth())], "")
            .await
            .unwrap()
    }

    pub async fn ws_with(
        &self,
        headers: &[(&str, &str)],
        query: &str,
    ) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let url = format!(
            "wss://localhost:{}/v1/websocket/{query}",
            self.handle.addr().port()
        );
        let mut req = url.into_client_request().unwrap();
        for (n, v) in headers {
            req.headers_mut().insert(
                hyper::header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let (ws, _) = tokio_tungstenite::client_async(req, self.tls_stream().await).await?;
        Ok(WsClient { ws })
    }
}

/// Deterministic per-number secrets, with a real libsignal identity key (the sender
/// certificate route needs one).
pub fn account_secrets(number: &str) -> (u32, [u8; 16], Vec<u8>) {
    let digits: u32 = number[number.len() - 4..].parse().unwrap();
    let mut uak = [0u8; 16];
    uak[..4].copy_from_slice(&digits.to_be_bytes());
    let key = libsignal_protocol::PrivateKey::deserialize(&[digits as u8 | 0x40; 32])
        .unwrap()
        .public_key()
        .unwrap()
        .serialize()
        .to_vec();
    (digits % 16000 + 1, uak, key)
}

pub fn msg(
    device: u32,
    registration_id: u32,
    t: envelope::Type,
    content: &[u8],
) -> IncomingMessage {
    IncomingMessage {
        r#type: t as i32 as u32,
        destination_device_id: device,
        destination_registration_id: registration_id,
        content: content.to_vec(),
    }
}

pub struct WsClient {
    pub ws: tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>,
}

pub enum Frame {
    Req(WebSocketRequestMessage),
    Resp(WebSocketResponseMessage),
    Closed(Option<u16>),
}

impl WsClient {
    pub async fn next(&mut self) -> Frame {
        loop {
            let m = tokio::time::timeout(std::time::Duration::from_secs(5), self.ws.next())
                .await
                .expect("timely frame");
            match m {
                Some(Ok(Message::Binary(b))) => {
                    let m = decode_ws_message(&b).unwrap();
                    return match (m.request, m.response) {
                        (Some(r), _) => Frame::Req(r),
                        (_, Some(r)) => Frame::Resp(r),
                        _ => unreachable!(),
                    };
                }
                Some(Ok(Message::Close(c))) => return Frame::Closed(c.map(|c| u16::from(c.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Frame::Closed(None),
            }
        }
    }

    /// The next server request, which must be an envelope delivery.
    pub async fn envelope(&mut self) -> (u64, Envelope) {
        match self.next().await {
            Frame::Req(r) => {
                assert_eq!(r.path.as_deref(), Some(consts::WS_DELIVER_PATH));
                assert_eq!(r.verb.as_deref(), Some("PUT"));
                assert!(r.header(consts::X_SIGNAL_TIMESTAMP).is_some());
                (
                    r.id.unwrap(),
                    decode_envelope(r.body.as_deref().unwrap()).unwrap(),
                )
            }
            _ => panic!("expected an envelope"),
        }
    }

    pub async fn expect_queue_empty(&mut self) {
        match self.next().await {
            Frame::Req(r) => assert_eq!(r.path.as_deref(), Some(consts::WS_QUEUE_EMPTY_PATH)),
            _ => panic!("expected queue/empty"),
        }
    }

    pub async fn ack(&mut self, id: u64) {
        self.respond(id, 200).await;
    }

    pub async fn respond(&mut self, id: u64, status: u32) {
        let m = WebSocketMessage::response(WebSocketResponseMessage {
            id: Some(id),
            status: Some(status),
            message: Some("OK".into()),
            headers: vec![],
            body: None,
        });
        self.ws
            .send(Message::Binary(m.encode_to_vec().into()))
            .await
            .unwrap();
    }

    pub async fn request(
        &mut self,
        id: u64,
        verb: &str,
        path: &str,
        headers: Vec<String>,
        body: Option<Vec<u8>>,
    ) -> WebSocketResponseMessage {
        let m = WebSocketMessage::request(WebSocketRequestMessage {
            verb: Some(verb.into()),
            path: Some(path.into()),
            body,
            headers,
            id: Some(id),
        });
        self.ws
            .send(Message::Binary(m.encode_to_vec().into()))
            .await
            .unwrap();
        loop {
            if let Frame::Resp(r) = self.next().await {
                return r;
            }
        }
    }
}
