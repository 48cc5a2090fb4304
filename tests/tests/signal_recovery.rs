//! Recovery paths of the channel's Signal sending, end to end against signal-sim: rate
//! limits (429 + Retry-After), reinstalled phones (410/409: sessions refetched, a
//! subscriber's new identity trusted, an admin's deauthorized until re-ADDed) and challenges
//! (428: counted as failures, nothing crashes).

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::{Duration, Instant};

use sealboost_tests::http_get;
use sealboost_tests::signal::{
    bodies, otp_in, phone, receive_until, sim_stats, AdminCli, Handset, World,
};
use signal_sim::SimStats;

const CHANNEL: &str = "+15550009000";
const WAIT: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_millis(1500);

/// A registered phone with this file's waits.
async fn handset(w: &World, number: &str) -> Handset {
    Handset::register(&w.sim.info, number)
        .await
        .waits(WAIT, QUIET)
}

#[tokio::test(flavor = "current_thread")]
async fn rate_limited_sends_wait_and_all_arrive() {
    const ADMIN: &str = "+15550401001";
    const SUBS: [&str; 3] = ["+15550402001", "+15550402002", "+15550402003"];
    let (w, mut admin_phone) = World::start(
        ADMIN,
        CHANNEL,
        &["--rate-burst", "3", "--rate-per-sec", "5"],
    )
    .await;
    let mut subs = Vec::new();
    for n in SUBS {
        subs.push(phone(&w.sim.info, n).await);
    }
    let before: SimStats = sim_stats(&w.sim.info).await;
    // One unlock sends each subscriber five messages in a row (welcome, timer, three
    // broadcasts) into a bucket of three: the service answers 429 and the enclave waits.
    for p in &mut subs {
        p.send_text(CHANNEL, "HELLO").await.unwrap();
    }
    for b in ["! Rate one", "! Rate two", "! Rate three"] {
        admin_phone.send_text(CHANNEL, b).await.unwrap();
    }
    w.cli.wait_queued(&w.ch, 6);
    let started = Instant::now();
    let v = w.cli.mailbox(&w.ch);
    let took = started.elapsed();
    eprintln!("rate-limited unlock took {took:?}: {v}");
    assert_eq!(v["stats"]["processed"], 6, "{v}");
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    // 3 × (welcome + timer + 3 broadcasts) + 3 "broadcast sent" answers to the admin.
    assert_eq!(v["stats"]["delivered"], 18, "{v}");
    // The sim really refused sends (429 + Retry-After) during this unlock, and every
    // subscriber past the burst waited for at least one Retry-After (≥ 1 s).
    let after: SimStats = sim_stats(&w.sim.info).await;
    assert!(
        after.rate_limited > before.rate_limited,
        "no 429 during the unlock: {before:?} -> {after:?}"
    );
    eprintln!(
        "sim rate-limited {} sends during the unlock",
        after.rate_limited - before.rate_limited
    );
    assert!(
        took >= Duration::from_secs(1),
        "took {took:?} despite {after:?}"
    );
    for p in &mut subs {
        let got = receive_until(p, WAIT, |m| bodies(m).iter().any(|b| b == "Rate three")).await;
        let b: Vec<String> = bodies(&got)
            .into_iter()
            .filter(|t| t.starts_with("Rate "))
            .collect();
        assert_eq!(b, ["Rate one", "Rate two", "Rate three"], "{got:?}");
    }

    // Three CLI broadcasts in a row, right after: all arrive, none failed.
    for b in ["Burst A", "Burst B", "Burst C"] {
        let out = w.cli.ok(&["broadcast", &w.ch, b, "--json"]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["stats"]["failed"], 0, "{v}");
        assert_eq!(v["stats"]["delivered"], 3, "{v}");
    }
    for p in &mut subs {
        let got = receive_until(p, WAIT, |m| bodies(m).iter().any(|b| b == "Burst C")).await;
        let b: Vec<String> = bodies(&got)
            .into_iter()
            .filter(|t| t.starts_with("Burst "))
            .collect();
        assert_eq!(b, ["Burst A", "Burst B", "Burst C"], "{got:?}");
    }
    assert_eq!(http_get(w.stack.health, "/healthz").unwrap().0, 200);
}

#[tokio::test(flavor = "current_thread")]
async fn reinstalled_subscriber_is_trusted_reinstalled_admin_is_deauthorized() {
    const A1: &str = "+15550501001";
    const A2: &str = "+15550501002";
    const S1: &str = "+15550502001";
    const S2: &str = "+15550502002";
    let (w, a1) = World::start(A1, CHANNEL, &["--rate-burst", "0"]).await;
    let mut a1 = Handset::new(a1).waits(WAIT, QUIET);
    let mut a2 = handset(&w, A2).await;
    let mut s1 = handset(&w, S1).await;
    let mut s2 = handset(&w, S2).await;
    s1.p.send_text(CHANNEL, "HELLO").await.unwrap();
    s2.p.send_text(CHANNEL, "HELLO").await.unwrap();
    a1.p.send_text(CHANNEL, &format!("ADD {A2}")).await.unwrap();
    w.process(3);
    s1.expect("Welcome!").await;
    s2.expect("Welcome!").await;
    a1.expect("A one-time passphrase is on its way").await;
    let invite = a2.expect("one-time passphrase").await;
    // ADMIN 2's own CLI: only it holds ADMIN 2's signing key (VAULT.md §20).
    let a2_cli = AdminCli::new(&w.stack);
    let v = a2_cli.accept(&w.ch, &otp_in(&invite).unwrap(), A2);
    assert_eq!(v["admin_index"], 2, "{v}");
    w.cli.ok(&["broadcast", &w.ch, "Before", "reinstall"]);
    s1.expect("Before reinstall").await;
    s2.expect("Before reinstall").await;

    // S1 reinstalls: same number, new registration id and identity key. The enclave's
    // session is stale (410), it refetches, trusts the new identity and re-sends.
    let old = (
        s1.p.aci(),
        s1.p.client
            .account
            .store
            .identity_key_pair()
            .public_key()
            .serialize(),
    );
    drop(s1);
    let mut s1 = handset(&w, S1).await;
    assert_eq!(
        s1.p.aci(),
        old.0,
        "the sim keeps the ACI on re-registration"
    );
    assert_ne!(
        s1.p.client
            .account
            .store
            .identity_key_pair()
            .public_key()
            .serialize(),
        old.1
    );
    let out = w
        .cli
        .ok(&["broadcast", &w.ch, "After", "reinstall", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    assert_eq!(v["stats"]["delivered"], 3, "{v}");
    assert_eq!(s1.expect("After reinstall").await, "After reinstall");
    s2.expect("After reinstall").await;
    // A subscriber's new identity changes nothing for the admins.
    let got = bodies(&a2.quiet().await);
    assert!(!got.iter().any(|t| t.contains("safety number")), "{got:?}");

    // ADMIN 2 reinstalls and tries to broadcast: the new identity deauthorizes them, the
    // `!` becomes a hotline message, ADMIN 1 is told, subscribers get nothing.
    drop(a2);
    let mut a2 = handset(&w, A2).await;
    a2.p.send_text(CHANNEL, "! Hijacked announcement")
        .await
        .unwrap();
    let v = w.process(1);
    let texts = v["texts"].to_string();
    assert!(texts.contains("ADMIN 2's safety number changed"), "{v}");
    assert!(texts.contains("[HOTLINE FROM @"), "{v}");
    assert!(texts.contains("Hijacked announcement"), "{v}");
    a1.expect("ADMIN 2's safety number changed").await;
    a1.expect("Hijacked announcement").await;
    a2.expect("Your message went to the channel's admins.")
        .await;
    for p in [&mut s1, &mut s2] {
        let got = bodies(&p.quiet().await);
        assert!(
            !got.iter().any(|t| t.contains("Hijacked")),
            "deauthorized admin's broadcast went out: {got:?}"
        );
    }
    // Nor will the enclave act as them from the CLI: ADMIN 1's CLI holds no key for them,
    // and their own CLI, which does, is refused by the enclave.
    let (code, out, err) = w.cli.run(&["broadcast", &w.ch, "x", "--as", A2, "--json"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(out.contains("holds no admin key for that number"), "{out}");
    let (code, out, err) = a2_cli.run(&["broadcast", &w.ch, "x", "--json"]);
    assert_ne!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        v["detail"].as_str().unwrap().contains("400 (bad_request)"),
        "{v}"
    );

    // ADMIN 1 re-ADDs them: welcomed back as ADMIN 2, and their broadcasts go out again.
    a1.p.send_text(CHANNEL, &format!("ADD {A2}")).await.unwrap();
    w.process(1);
    a2.expect("You are now ADMIN 2 of this channel.").await;
    a1.expect("You added ADMIN 2.").await;
    a2.p.send_text(CHANNEL, "! Back in charge").await.unwrap();
    w.process(1);
    for p in [&mut s1, &mut s2] {
        assert_eq!(p.expect("Back in charge").await, "Back in charge");
    }
    a1.expect("[BROADCAST FROM ADMIN 2]\nBack in charge").await;
    a2.expect("Broadcast sent to 2 subscribers and 1 other admins.")
        .await;
}

#[tokio::test(flavor = "current_thread")]
async fn challenge_required_is_counted_as_failed() {
    const ADMIN: &str = "+15550601001";
    const S1: &str = "+15550602001";
    // Every identified (non-sealed) send from the channel's number is answered 428.
    let (w, admin_phone) = World::start(
        ADMIN,
        CHANNEL,
        &["--rate-burst", "0", "--challenge-sender", CHANNEL],
    )
    .await;
    let mut admin_phone = Handset::new(admin_phone).waits(WAIT, QUIET);
    let mut s1 = handset(&w, S1).await;
    // The subscriber's messages carry its profile key, so the channel answers it with
    // sealed sender (no sender for the service to challenge).
    s1.p.send_text(CHANNEL, "HELLO").await.unwrap();
    let v = w.process(1);
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    s1.expect("Welcome!").await;
    // The hotline copy to the admin goes unsealed (the channel has never heard from the
    // admin's phone, so it has no access key): 428, counted, reported, nothing crashes.
    s1.p.send_text(CHANNEL, "Urgent pangolin sighting")
        .await
        .unwrap();
    w.cli.wait_queued(&w.ch, 1);
    let out = w.cli.ok(&["mailbox", &w.ch]);
    assert!(out.contains("Urgent pangolin sighting"), "{out}");
    assert!(
        out.contains("(1 processed, 1 delivered, 1 failed, 0 rejected"),
        "{out}"
    );
    s1.expect("Your message went to the channel's admins.")
        .await;
    let got = bodies(&admin_phone.quiet().await);
    assert!(got.is_empty(), "{got:?}");
    let log = w.stack.host_log();
    assert!(log.contains("send failed"), "{log}");
    // Still up: health, an empty mailbox, and a broadcast to the subscriber.
    assert_eq!(http_get(w.stack.health, "/healthz").unwrap().0, 200);
    let v = w.cli.mailbox(&w.ch);
    assert_eq!(v["stats"]["processed"], 0, "{v}");
    let out = w.cli.ok(&["broadcast", &w.ch, "Still", "here", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["stats"]["delivered"], 1, "{v}");
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    assert_eq!(s1.expect("Still here").await, "Still here");
}
