//! Shared by signal-client's integration tests: signal-sim started in-process, and the
//! client configuration that pins its CA and sealed-sender root.
// Each test file uses what it needs.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use libsignal_protocol::PublicKey;
use signal_client::phone::Phone;
use signal_client::transport::{TcpConnector, TlsTrust};
use signal_client::ServiceConfig;
use signal_sim::{Config, Server, ServerHandle};

/// Starts signal-sim on a free port (accepting any verification code; `tweak` adjusts the
/// rest) and returns it with a configuration that trusts it.
pub async fn sim(tweak: impl FnOnce(&mut Config)) -> (ServerHandle, ServiceConfig) {
    let mut c = Config::new("127.0.0.1:0".parse().unwrap());
    c.accept_any_code = true;
    tweak(&mut c);
    let h = Server::start(c).await.unwrap();
    let cfg = config(&h);
    (h, cfg)
}

/// A configuration that reaches `h` and pins its CA and sealed-sender root.
pub fn config(h: &ServerHandle) -> ServiceConfig {
    ServiceConfig {
        connector: Arc::new(TcpConnector::new(h.addr().to_string())),
        tls: TlsTrust::pinned(h.ca_pem().as_bytes(), "localhost").unwrap(),
        trust_root: PublicKey::deserialize(h.sealed_sender_root()).unwrap(),
        max_connections: 4,
    }
}

/// Registers a phone for `number`.
pub async fn phone(cfg: &ServiceConfig, number: &str) -> Phone {
    Phone::register(cfg, number, "123456", None).await.unwrap()
}

/// A `Content` holding one text message, serialized.
pub fn text_content(t: &str) -> Vec<u8> {
    prost::Message::encode_to_vec(&signal_api::Content {
        data_message: Some(signal_api::DataMessage {
            body: Some(t.into()),
            ..Default::default()
        }),
        ..Default::default()
    })
}
