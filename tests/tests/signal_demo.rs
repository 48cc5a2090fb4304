//! The README demo as a test, with real processes end to end: host + simulated enclave +
//! signal-sim + simulated phones + the admin CLI. A channel is created, three phones JOIN,
//! the admin broadcasts, a phone writes to the hotline, the admin reads the mailbox and
//! replies with `@id` — and the admin never sees the subscriber's number anywhere.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::Duration;

use sealboost_tests::signal::{bodies, phone, receive_until, World};

const ADMIN: &str = "+15550001001";
const CHANNEL: &str = "+15550009000";
const SUBSCRIBERS: [&str; 3] = ["+15550002001", "+15550002002", "+15550002003"];
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "current_thread")]
async fn demo_join_broadcast_hotline_reply() {
    let (w, mut admin_phone) = World::start(ADMIN, CHANNEL, &[]).await;
    let (sim, admin, ch) = (&w.sim, &w.cli, w.ch.clone());

    let mut phones = Vec::new();
    for n in SUBSCRIBERS {
        let mut p = phone(&sim.info, n).await;
        p.send_text(CHANNEL, "HELLO").await.unwrap();
        phones.push(p);
    }
    admin.wait_queued(&ch, 3);
    let out = admin.ok(&["mailbox", &ch]);
    assert!(out.contains("3 processed"), "{out}");
    for p in &mut phones {
        let got = receive_until(p, WAIT, |m| !m.is_empty()).await;
        let b = bodies(&got);
        assert!(
            b.iter()
                .any(|t| t.contains("welcome") || t.contains("Welcome")),
            "{b:?}"
        );
        // New members get the channel's disappearing timer (one week).
        assert!(
            got.iter().any(|m| m.expire_timer == Some(7 * 24 * 3600)),
            "{got:?}"
        );
    }

    let out = admin.ok(&["broadcast", &ch, "Meeting", "at", "noon"]);
    assert!(!out.is_empty());
    for p in &mut phones {
        let got = receive_until(p, WAIT, |m| {
            bodies(m).iter().any(|b| b == "Meeting at noon")
        })
        .await;
        assert!(
            bodies(&got).iter().any(|b| b == "Meeting at noon"),
            "{got:?}"
        );
    }

    phones[1]
        .send_text(CHANNEL, "Is the meeting still on?")
        .await
        .unwrap();
    admin.wait_queued(&ch, 1);
    let mailbox = admin.ok(&["mailbox", &ch]);
    assert!(
        mailbox.contains("[HOTLINE FROM @") && mailbox.contains("Is the meeting still on?"),
        "{mailbox}"
    );
    let id = mailbox
        .split("[HOTLINE FROM @")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap()
        .to_owned();
    // The admin's phone got the same hotline message over Signal.
    let admin_got = receive_until(&mut admin_phone, WAIT, |m| {
        bodies(m)
            .iter()
            .any(|b| b.contains("Is the meeting still on?"))
    })
    .await;
    assert!(
        bodies(&admin_got)
            .iter()
            .any(|b| b.contains("[HOTLINE FROM @")),
        "{admin_got:?}"
    );

    let reply = admin.ok(&["reply", &ch, &format!("@{id}"), "Yes,", "still", "on"]);
    let got = receive_until(&mut phones[1], WAIT, |m| {
        bodies(m).iter().any(|b| b.contains("Yes, still on"))
    })
    .await;
    assert!(
        bodies(&got).iter().any(|b| b.contains("Yes, still on")),
        "{got:?}"
    );
    // Only the hotline sender gets the reply.
    for i in [0, 2] {
        let other = phones[i]
            .receive_for(Duration::from_millis(500))
            .await
            .unwrap();
        assert!(
            !bodies(&other).iter().any(|b| b.contains("Yes, still on")),
            "{other:?}"
        );
    }

    // The admin never sees a subscriber's number: not in CLI output, not on their phone.
    let admin_phone_texts = bodies(&admin_got).join("\n");
    for n in SUBSCRIBERS {
        let digits = n.trim_start_matches('+');
        for seen in [&out, &mailbox, &reply, &admin_phone_texts] {
            assert!(!seen.contains(digits), "subscriber number leaked: {seen}");
        }
    }
}
