#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! Retry receipts (SPEC §5.1): a message that does not decrypt at its recipient is asked
//! for again with a `DecryptionErrorMessage`, and the sending phone re-sends it from its
//! send log on a fresh session. signal-sim in-process, real libsignal.

use std::time::Duration;

use libsignal_protocol::{DeviceId, ProtocolAddress};
use signal_client::phone::Phone;
use signal_client::ws::Event;
use signal_client::Error;

mod common;
use common::{phone, sim};

const WAIT: Duration = Duration::from_secs(10);

async fn expect_text(p: &mut Phone, text: &str) -> Vec<signal_client::phone::Received> {
    let got = p
        .receive_until(|r| r.body.as_deref() == Some(text), WAIT)
        .await
        .unwrap();
    assert!(
        got.iter().any(|r| r.body.as_deref() == Some(text)),
        "did not receive {text:?}"
    );
    got
}

/// The next envelope `p` receives, acked.
async fn next_envelope(p: &mut Phone) -> Vec<u8> {
    loop {
        if let Event::Envelope { id, envelope } = p.receiver().next().await.unwrap() {
            p.receiver().ack(id).await.unwrap();
            return envelope;
        }
    }
}

/// `b` forgets its session with `a`'s device 1.
fn lose_session(b: &mut Phone, a: &Phone) {
    let addr = ProtocolAddress::new(
        a.aci().service_id_string(),
        DeviceId::try_from(1u8).unwrap(),
    );
    b.client.account.store.remove_session(&addr);
}

#[tokio::test(flavor = "current_thread")]
async fn retry_receipt_makes_the_sender_resend_on_a_new_session() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550007001").await;
    let mut b = phone(&cfg, "+15550007002").await;
    a.send_text("+15550007002", "first").await.unwrap();
    expect_text(&mut b, "first").await;
    // b answers, so a's next message is a plain ratchet message (no prekey part).
    b.send_text("+15550007001", "ack").await.unwrap();
    expect_text(&mut a, "ack").await;

    lose_session(&mut b, &a);
    a.send_text("+15550007002", "second").await.unwrap();
    let env = next_envelope(&mut b).await;
    let err = b.client.decrypt(&env).await.unwrap_err();
    let Error::DecryptionFailed { kind, retry } = &err else {
        panic!("expected DecryptionFailed, got {err:?}");
    };
    assert_eq!(*kind, "session not found");
    assert_eq!(retry.sender, a.aci());
    assert_eq!(u8::from(retry.sender_device), 1);
    assert!(retry.original_timestamp > 0);
    assert!(retry.sealed_sender);
    // Nothing of the message or the sender in the error's text or debug form.
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("second") && !shown.contains(&a.aci().service_id_string()));

    b.client.send_retry_receipt(retry).await.unwrap();
    // a handles the receipt: archives its session and re-sends "second".
    a.receive_for(Duration::from_secs(2)).await.unwrap();
    assert_eq!(a.resent(), 1);
    let got = expect_text(&mut b, "second").await;
    let m = got
        .iter()
        .find(|r| r.body.as_deref() == Some("second"))
        .unwrap();
    assert_eq!(m.from_aci, a.aci());
    assert_eq!(
        m.timestamp, retry.original_timestamp,
        "resent with its original timestamp"
    );

    // The new session works both ways.
    b.send_text("+15550007001", "after").await.unwrap();
    expect_text(&mut a, "after").await;
    a.send_text("+15550007002", "again").await.unwrap();
    expect_text(&mut b, "again").await;
}

#[tokio::test(flavor = "current_thread")]
async fn receive_until_sends_the_retry_receipt_by_itself() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550007011").await;
    let mut b = phone(&cfg, "+15550007012").await;
    a.send_text("+15550007012", "one").await.unwrap();
    expect_text(&mut b, "one").await;
    lose_session(&mut b, &a);
    a.send_text("+15550007012", "two").await.unwrap();
    // b cannot read "two" and asks for it again.
    let got = b.receive_for(Duration::from_secs(2)).await.unwrap();
    assert!(got.is_empty());
    a.receive_for(Duration::from_secs(2)).await.unwrap();
    assert_eq!(a.resent(), 1);
    let got = expect_text(&mut b, "two").await;
    assert_eq!(
        got.iter()
            .filter(|r| r.body.as_deref() == Some("two"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_duplicate_is_not_retryable() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550007021").await;
    let mut b = phone(&cfg, "+15550007022").await;
    a.send_text("+15550007022", "one").await.unwrap();
    b.send_text("+15550007021", "hi").await.unwrap();
    expect_text(&mut a, "hi").await;
    a.send_text("+15550007022", "two").await.unwrap();
    let _first = next_envelope(&mut b).await;
    let env = next_envelope(&mut b).await;
    b.client.decrypt(&env).await.unwrap();
    let err = b.client.decrypt(&env).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol {
                kind: signal_client::error::DUPLICATED_MESSAGE
            }
        ),
        "{err:?}"
    );
}

/// A type-8 envelope from `from` (device 1) whose plaintext content is `content`.
fn plaintext_envelope(from: &Phone, content: &signal_api::Content) -> Vec<u8> {
    use prost::Message as _;
    let mut body = vec![0xC0];
    body.extend_from_slice(&content.encode_to_vec());
    body.push(0x80);
    signal_api::proto::Envelope {
        r#type: Some(8),
        source_service_id: Some(from.aci().service_id_string()),
        source_device: Some(1),
        timestamp: Some(1),
        content: Some(body),
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "current_thread")]
async fn plaintext_content_may_only_carry_a_retry_request() {
    let (_h, cfg) = sim(|_| {}).await;
    let a = phone(&cfg, "+15550007031").await;
    let mut b = phone(&cfg, "+15550007032").await;
    let text = signal_api::Content {
        data_message: Some(signal_api::DataMessage {
            body: Some("unencrypted".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = b
        .client
        .decrypt(&plaintext_envelope(&a, &text))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadContent { .. }), "{err:?}");
    let bad_dem = signal_api::Content {
        decryption_error_message: Some(vec![1, 2, 3]),
        ..Default::default()
    };
    // It decrypts (the message is opaque here); the phone's parse refuses it later.
    let inc = b
        .client
        .decrypt(&plaintext_envelope(&a, &bad_dem))
        .await
        .unwrap();
    assert_eq!(
        inc.content.decryption_error_message.as_deref(),
        Some(&[1u8, 2, 3][..])
    );
    assert!(inc.content.data_message.is_none());
}
