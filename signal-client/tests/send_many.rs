#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! `send_many` against signal-sim (in-process) when the service rate-limits: everyone
//! refused in a round waits once and goes again together.

use std::time::{Duration, Instant};

use signal_client::phone::Phone;

mod common;
use common::{sim, text_content};

const RECIPIENTS: usize = 12;

#[tokio::test(flavor = "current_thread")]
async fn rate_limited_recipients_wait_once_per_round_not_once_each() {
    // One message per (sender, recipient) at once, then one a second: a second broadcast
    // straight after the first is refused for every recipient, with `Retry-After: 1`.
    let (h, cfg) = sim(|c| {
        c.rate_burst = 1;
        c.rate_per_sec = 1.0;
    })
    .await;
    let mut chan = Phone::register(&cfg, "+15550000400", "123456", None)
        .await
        .unwrap();
    // Identified sends: every refusal is the (channel, recipient) bucket's.
    chan.client.try_unrestricted = false;
    let mut subs = Vec::new();
    let mut acis = Vec::new();
    for i in 0..RECIPIENTS {
        let s = Phone::register(&cfg, &format!("+1555000{}", 4100 + i), "123456", None)
            .await
            .unwrap();
        acis.push(chan.client.lookup(s.e164()).await.unwrap().unwrap());
        subs.push(s);
    }
    let first = chan.client.send_many(&acis, &text_content("one"), 1).await;
    assert!(first.iter().all(|(_, r)| r.as_ref().unwrap().attempts == 1));

    let limited_before = h.stats().rate_limited;
    let t = Instant::now();
    let second = chan.client.send_many(&acis, &text_content("two"), 2).await;
    let took = t.elapsed();
    assert_eq!(second.len(), RECIPIENTS);
    for (_, r) in &second {
        assert_eq!(r.as_ref().unwrap().attempts, 2, "refused once, then sent");
    }
    assert_eq!(
        h.stats().rate_limited - limited_before,
        RECIPIENTS as u64,
        "every recipient was refused once"
    );
    // One shared wait of about a second; waiting for each recipient in turn would take
    // at least RECIPIENTS seconds.
    assert!(
        took < Duration::from_secs(RECIPIENTS as u64 / 2),
        "took {took:?}"
    );
    for s in &mut subs {
        let got = s
            .receive_until(
                |r| r.body.as_deref() == Some("two"),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert!(got.iter().any(|r| r.body.as_deref() == Some("two")));
    }
}
