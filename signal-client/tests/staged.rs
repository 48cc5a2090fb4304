#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! Write-ahead sending against signal-sim (in-process, SPEC.md §4.2): staged bodies are
//! sent as they are; a rate limit sends the *same* bodies again, so the store does not
//! advance while sending and each recipient decrypts the message once.

use std::time::Duration;

use signal_client::outbox::Outbox;
use signal_client::phone::Phone;

mod common;
use common::{sim, text_content};

const RECIPIENTS: usize = 6;

#[tokio::test(flavor = "current_thread")]
async fn rate_limited_staged_bodies_are_resent_unchanged() {
    // One message per (sender, recipient) at once, then one a second.
    let (h, cfg) = sim(|c| {
        c.rate_burst = 1;
        c.rate_per_sec = 1.0;
    })
    .await;
    let mut chan = Phone::register(&cfg, "+15550000500", "123456", None)
        .await
        .unwrap();
    chan.client.try_unrestricted = false;
    let mut subs = Vec::new();
    let mut acis = Vec::new();
    for i in 0..RECIPIENTS {
        let s = Phone::register(&cfg, &format!("+1555000{}", 5100 + i), "123456", None)
            .await
            .unwrap();
        acis.push(chan.client.lookup(s.e164()).await.unwrap().unwrap());
        subs.push(s);
    }
    let first = chan.client.send_many(&acis, &text_content("one"), 1).await;
    assert!(first.iter().all(|(_, r)| r.is_ok()));

    let (group, failures) = chan.client.stage_many(&acis, &text_content("two"), 2).await;
    assert!(failures.is_empty());
    assert_eq!(group.items.len(), RECIPIENTS);
    // What the caller commits, and what a restarted caller reads back.
    let committed = Outbox {
        groups: vec![group],
    }
    .encode()
    .unwrap();
    let staged = Outbox::decode(&committed).unwrap();
    let bodies: Vec<Vec<u8>> = staged.groups[0]
        .items
        .iter()
        .map(|s| s.prepared.body.clone())
        .collect();
    let store_before = chan.client.account.encode().unwrap();

    let limited_before = h.stats().rate_limited;
    let sent = chan.client.send_staged(staged).await;
    assert_eq!(sent.results.len(), RECIPIENTS);
    for (_, r) in &sent.results {
        assert_eq!(r.as_ref().unwrap().attempts, 2, "refused once, then sent");
    }
    assert_eq!(
        h.stats().rate_limited - limited_before,
        RECIPIENTS as u64,
        "every recipient was refused once"
    );
    assert!(sent.keep.is_empty() && sent.restage.is_empty());
    assert!(!sent.store_changed);
    // Nothing was encrypted again: the store is byte for byte what was committed.
    assert_eq!(chan.client.account.encode().unwrap(), store_before);

    // Sending the committed outbox once more (a crash before the caller cleared it): the
    // identical ciphertexts are refused by the recipients as repeats.
    let again = Outbox::decode(&committed).unwrap();
    assert_eq!(
        again.groups[0]
            .items
            .iter()
            .map(|s| s.prepared.body.clone())
            .collect::<Vec<_>>(),
        bodies
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resent = chan.client.send_staged(again).await;
    assert!(resent.results.iter().all(|(_, r)| r.is_ok()));
    for s in &mut subs {
        let got = s
            .receive_until(
                |r| r.body.as_deref() == Some("two"),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        let more = s.receive_for(Duration::from_millis(700)).await.unwrap();
        let twos = got
            .iter()
            .chain(&more)
            .filter(|r| r.body.as_deref() == Some("two"))
            .count();
        assert_eq!(twos, 1, "decrypted once");
        assert_eq!(s.duplicates, 1, "the resend was refused as a repeat");
    }
}
