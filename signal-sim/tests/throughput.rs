#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! How fast the sim moves messages: 10,000 sends over keep-alive connections, then delivery
//! and acks over WebSockets. Ignored by default (it measures, it does not assert much);
//! run: cargo test -p signal-sim --release --test throughput -- --ignored --nocapture

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use signal_api::envelope::Type;
use signal_api::*;

const RECIPIENTS: usize = 200;
const PER_RECIPIENT: usize = 50;
const CONNECTIONS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run with --ignored --nocapture"]
async fn ten_thousand_messages() {
    let sim = start(|c| c.rate_burst = 0).await;
    let sender = sim.register("+15551000000").await;
    let mut recipients = Vec::new();
    for i in 0..RECIPIENTS {
        recipients.push(sim.register(&format!("+1555200{i:04}")).await);
    }
    let auth = sender.auth();
    let content = vec![0xAB; 300];
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let io = TokioIo::new(sim.tls_stream().await);
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let mine: Vec<(String, u32)> = recipients
            .iter()
            .skip(c)
            .step_by(CONNECTIONS)
            .map(|r| (format!("/v1/messages/{}", r.aci), r.registration_id))
            .collect();
        let auth = auth.clone();
        let content = content.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..PER_RECIPIENT {
                for (path, reg) in &mine {
                    let body = to_json(&IncomingMessageList {
                        messages: vec![msg(1, *reg, Type::Ciphertext, &content)],
                        online: false,
                        urgent: true,
                        timestamp: round as u64,
                    });
                    let req = Request::builder()
                        .method(Method::PUT)
                        .uri(path.as_str())
                        .header("host", "localhost")
                        .header("authorization", &auth)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                    let resp = send.send_request(req).await.unwrap();
                    assert_eq!(resp.status(), StatusCode::OK);
                    resp.into_body().collect().await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let sent = t0.elapsed();
    let total = RECIPIENTS * PER_RECIPIENT;
    let t1 = Instant::now();
    let mut rx = Vec::new();
    for r in &recipients {
        let acct = r.clone();
        let mut ws = sim.ws(&acct).await;
        rx.push(tokio::spawn(async move {
            for _ in 0..PER_RECIPIENT {
                let (id, _) = ws.envelope().await;
                ws.ack(id).await;
            }
            ws.expect_queue_empty().await;
        }));
    }
    for t in rx {
        t.await.unwrap();
    }
    let delivered = t1.elapsed();
    println!(
        "signal-sim throughput: {total} sends in {:.3}s ({:.0}/s over {CONNECTIONS} keep-alive connections); \
         {total} WebSocket deliveries+acks to {RECIPIENTS} devices in {:.3}s ({:.0}/s)",
        sent.as_secs_f64(),
        total as f64 / sent.as_secs_f64(),
        delivered.as_secs_f64(),
        total as f64 / delivered.as_secs_f64(),
    );
}
