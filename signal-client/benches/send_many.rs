//! End to end through signal-sim (in-process, loopback TLS): one account broadcasts to N
//! registered accounts with `send_many` — first round (bundle fetch + PQXDH per recipient)
//! and second round (established sessions). Prints one run. N from `SEND_MANY_RECIPIENTS`
//! (default 1,000). Both the service and the client share this machine's cores.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::sync::Arc;
use std::time::Instant;

use libsignal_protocol::PublicKey;
use signal_client::transport::{TcpConnector, TlsTrust};
use signal_client::{ServiceConfig, SignalClient};
use signal_sim::{Config, Server};

fn main() {
    let n: usize = std::env::var("SEND_MANY_RECIPIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut c = Config::new("127.0.0.1:0".parse().unwrap());
        c.accept_any_code = true;
        c.rate_burst = 0;
        let h = Server::start(c).await.unwrap();
        let cfg = ServiceConfig {
            connector: Arc::new(TcpConnector::new(h.addr().to_string())),
            tls: TlsTrust::pinned(h.ca_der(), "localhost").unwrap(),
            trust_root: PublicKey::deserialize(h.sealed_sender_root()).unwrap(),
            max_connections: 16,
        };
        let t = Instant::now();
        let mut acis = Vec::with_capacity(n);
        for i in 0..n {
            let e164 = format!("+1555{:07}", i + 1);
            let s = SignalClient::register(&cfg, &e164, "1", false, 0)
                .await
                .unwrap();
            acis.push(s.account.credentials.aci);
        }
        println!("registered {n} accounts in {:.2?}", t.elapsed());
        let mut chan = SignalClient::register(&cfg, "+15559999999", "1", true, 0)
            .await
            .unwrap();
        let content = vec![0x0a, 0x03, b'h', b'i', b'!'];
        for round in [
            "first (fetch bundles + PQXDH)",
            "second (established sessions)",
        ] {
            let t = Instant::now();
            let res = chan.send_many(&acis, &content, 1).await;
            let el = t.elapsed();
            let ok = res.iter().filter(|(_, r)| r.is_ok()).count();
            println!("send_many to {n}, {round}: {el:.2?} ({ok} ok)");
        }
    });
}
