#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! How sends recover (or deliberately do not) from the service's refusals, against signal-sim
//! in-process over real sockets: 413 with `Retry-After` is a rate limit, 413 without it is a
//! permanent "too large" (SPEC.md §4); an unanswered keepalive ends a half-open WebSocket
//! (SPEC.md §5).

use std::time::{Duration, Instant};

use signal_client::phone::Phone;
use signal_client::service::DEFAULT_RETRY_AFTER;
use signal_client::ws::Event;
use signal_client::{Error, ServiceConfig};
use signal_sim::RateLimitStatus;

mod common;
use common::sim;

const WAIT: Duration = Duration::from_secs(10);

async fn phone(cfg: &ServiceConfig, n: &str) -> Phone {
    let mut p = Phone::register(cfg, n, "123456", None).await.unwrap();
    // Identified sends only, so every refusal here is the one under test.
    p.client.try_unrestricted = false;
    p
}

#[tokio::test(flavor = "current_thread")]
async fn oversized_send_is_payload_too_large_at_once_without_retries() {
    // The sim answers rate limits with 413 + Retry-After here too: the client must still
    // tell its bare 413 (too large) apart.
    let (h, cfg) = sim(|c| c.rate_limit_status = RateLimitStatus::PayloadTooLarge).await;
    let mut a = phone(&cfg, "+15550100001").await;
    let b = phone(&cfg, "+15550100002").await;
    // Over the service's 256 KiB per-message content limit once encrypted.
    let content = vec![0x42u8; 300 * 1024];
    let started = Instant::now();
    let r = a.client.send(&b.aci(), &content, 1_000).await;
    let took = started.elapsed();
    assert!(
        matches!(
            r,
            Err(Error::PayloadTooLarge {
                operation: "send message"
            })
        ),
        "{r:?}"
    );
    assert!(
        took < DEFAULT_RETRY_AFTER,
        "no retry wait for a permanent 413: took {took:?}"
    );
    assert_eq!(h.stats().rate_limited, 0, "the sim never rate-limited");
    // The account still works for a normal send afterwards.
    let ok = a.send_text("+15550100002", "small").await.unwrap();
    assert_eq!(ok.attempts, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn rate_limit_answered_413_with_retry_after_waits_and_succeeds() {
    let (h, cfg) = sim(|c| {
        c.rate_burst = 2;
        c.rate_per_sec = 2.0;
        c.rate_limit_status = RateLimitStatus::PayloadTooLarge;
    })
    .await;
    let mut a = phone(&cfg, "+15550100011").await;
    let mut b = phone(&cfg, "+15550100012").await;
    let mut retried = false;
    for i in 0..4 {
        let r = a.send_text("+15550100012", &format!("m{i}")).await.unwrap();
        retried |= r.attempts > 1;
    }
    assert!(retried, "a send met the 413 + Retry-After and was retried");
    assert!(h.stats().rate_limited >= 1, "{:?}", h.stats());
    let got = b
        .receive_until(|r| r.body.as_deref() == Some("m3"), WAIT)
        .await
        .unwrap();
    let bodies: Vec<_> = got.iter().filter_map(|r| r.body.as_deref()).collect();
    for i in 0..4 {
        assert!(bodies.contains(&format!("m{i}").as_str()), "{bodies:?}");
    }
}

/// A keepalive bound short enough for a test.
const TEST_KEEPALIVE: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "current_thread")]
async fn unanswered_keepalive_drops_the_connection_with_a_named_error() {
    let (_h, cfg) = sim(|c| c.answer_keepalives = false).await;
    let mut a = phone(&cfg, "+15550100021").await;
    let rx = a.receiver();
    rx.set_keepalive(TEST_KEEPALIVE, TEST_KEEPALIVE);
    // The connection opens with queue/empty, then the sim stays silent.
    assert!(matches!(rx.next().await, Ok(Event::QueueEmpty)));
    let started = Instant::now();
    let r = tokio::time::timeout(WAIT, rx.next())
        .await
        .expect("a half-open connection must not hang next() forever");
    let took = started.elapsed();
    assert!(matches!(r, Err(Error::KeepaliveTimeout)), "{r:?}");
    // Interval without traffic, then the keepalive's own timeout (each ≥ the bound).
    assert!(took >= 2 * TEST_KEEPALIVE, "{took:?}");
    assert!(
        took < 2 * TEST_KEEPALIVE + Duration::from_secs(2),
        "{took:?}"
    );
    // The next call reconnects (and the sim greets the new connection again).
    assert!(matches!(rx.next().await, Ok(Event::QueueEmpty)));
    assert_eq!(rx.connections, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn answered_keepalives_keep_an_idle_connection() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550100031").await;
    let rx = a.receiver();
    rx.set_keepalive(TEST_KEEPALIVE, TEST_KEEPALIVE);
    assert!(matches!(rx.next().await, Ok(Event::QueueEmpty)));
    // Idle for several keepalive rounds: every keepalive is answered, nothing is returned.
    let idle = tokio::time::timeout(6 * TEST_KEEPALIVE, rx.next()).await;
    let Err(_elapsed) = idle else {
        panic!("an idle healthy connection yields nothing: {idle:?}");
    };
    assert_eq!(rx.connections, 1, "never reconnected");
}
