//! A subscriber whose Signal number is hidden (the app's "who can see my number: nobody";
//! their sender certificate carries only their ACI), end to end: host + simulated enclave +
//! signal-sim + simulated phones + the admin CLI. The enclave knows them by the pseudonym of
//! their ACI (enclave VAULT.md §5, COURIER.md §6): they JOIN, get the welcome and broadcasts,
//! write the hotline, get the admin's REPLY and LEAVE like anyone. When they later share
//! their number they stay one subscriber, with the same `@id`, and get one copy of the next
//! broadcast. Neither the admin's CLI nor the host's store and log ever show their number.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::Duration;

use sealboost_tests::signal::{add_admin, bodies, phone, receive_until, AdminCli, World};
use signal_client::phone::{Phone, Received};

const ADMIN: &str = "+15550001101";
const CHANNEL: &str = "+15550009100";
const HIDDEN: &str = "+15550002101";
const OTHER: &str = "+15550002102";
const WAIT: Duration = Duration::from_secs(20);
/// How long a phone listens to show that something did *not* reach it.
const QUIET: Duration = Duration::from_millis(1500);

/// Receives until a message whose body satisfies `pred` arrives; returns everything received.
async fn wait_for(p: &mut Phone, what: &str, pred: impl Fn(&str) -> bool) -> Vec<Received> {
    let got = receive_until(p, WAIT, |m| bodies(m).iter().any(|b| pred(b))).await;
    assert!(
        bodies(&got).iter().any(|b| pred(b)),
        "{what} did not arrive: {:?}",
        bodies(&got)
    );
    got
}

fn subscribers(w: &World) -> u64 {
    counts(w).1
}

/// (admins, subscribers) from `channel info --json`.
fn counts(w: &World) -> (u64, u64) {
    let out = w.cli.ok(&["channel", "info", &w.ch, "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    (
        v["admins"].as_u64().unwrap(),
        v["subscribers"].as_u64().unwrap(),
    )
}

fn hotline_id(texts: &str) -> String {
    texts
        .split("[HOTLINE FROM @")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or_else(|| panic!("no hotline message in {texts}"))
        .to_owned()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "current_thread")]
async fn hidden_number_subscriber_joins_writes_gets_replies_and_later_shares_the_number() {
    // Rate limits are signal_recovery's subject; here they would only slow things down.
    let (w, mut admin_phone) = World::start(ADMIN, CHANNEL, &["--rate-burst", "0"]).await;
    let digits = HIDDEN.trim_start_matches('+');
    let mut admin_seen: Vec<String> = Vec::new();

    let mut p = phone(&w.sim.info, HIDDEN).await;
    p.set_share_number(false);
    assert!(!p.shares_number());

    // JOIN: welcome with the channel's timer.
    p.send_text(CHANNEL, "JOIN").await.unwrap();
    let v = w.process(1);
    admin_seen.push(v.to_string());
    let got = wait_for(&mut p, "the welcome", |b| {
        b.to_lowercase().contains("welcome")
    })
    .await;
    assert!(
        got.iter().any(|m| m.expire_timer == Some(7 * 24 * 3600)),
        "{got:?}"
    );
    assert_eq!(subscribers(&w), 1);

    // The admin's member list counts the subscriber, as every subscriber, without a number
    // (and without the pseudonym).
    let out = w.cli.ok(&["channel", "members", &w.ch, "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let sub = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "subscriber")
        .unwrap()
        .clone();
    assert!(sub.get("number").is_none(), "{v}");
    admin_seen.push(out);
    let out = w.cli.ok(&["channel", "members", &w.ch]);
    assert!(out.contains("subscribers: 1"), "{out}");
    admin_seen.push(out);

    // A broadcast reaches them.
    let out = w.cli.ok(&["broadcast", &w.ch, "Meeting", "at", "noon"]);
    admin_seen.push(out);
    wait_for(&mut p, "the broadcast", |b| b == "Meeting at noon").await;

    // Hotline: the admin sees `[HOTLINE FROM @id]`, on the CLI and on their phone.
    p.send_text(CHANNEL, "Who organises this?").await.unwrap();
    let v = w.process(1);
    let texts = v["texts"].to_string();
    assert!(texts.contains("Who organises this?"), "{v}");
    let id = hotline_id(&texts);
    admin_seen.push(v.to_string());
    let got = wait_for(&mut admin_phone, "the hotline message", |b| {
        b.contains("Who organises this?")
    })
    .await;
    let admin_bodies = bodies(&got).join("\n");
    assert!(
        admin_bodies.contains(&format!("[HOTLINE FROM @{id}]")),
        "{admin_bodies}"
    );
    admin_seen.push(admin_bodies);

    // REPLY @id reaches the hidden-number phone (resolved through the recipient book, no
    // directory lookup by number).
    let out = w
        .cli
        .ok(&["reply", &w.ch, &format!("@{id}"), "We", "all", "do"]);
    admin_seen.push(out);
    wait_for(&mut p, "the reply", |b| b.contains("We all do")).await;

    // LEAVE works, and a JOIN brings them back (still hidden).
    p.send_text(CHANNEL, "LEAVE").await.unwrap();
    admin_seen.push(w.process(1).to_string());
    wait_for(&mut p, "the goodbye", |b| !b.is_empty()).await;
    assert_eq!(subscribers(&w), 0);
    p.send_text(CHANNEL, "JOIN").await.unwrap();
    admin_seen.push(w.process(1).to_string());
    wait_for(&mut p, "the second welcome", |b| {
        b.to_lowercase().contains("welcome")
    })
    .await;
    assert_eq!(subscribers(&w), 1);

    // Nothing the admin saw while the number was hidden names it.
    for seen in &admin_seen {
        assert!(
            !seen.contains(digits),
            "hidden number shown to the admin: {seen}"
        );
    }

    // Now they share their number and write again: still one subscriber, same @id.
    p.set_share_number(true);
    p.send_text(CHANNEL, "Thanks, see you there").await.unwrap();
    let v = w.process(1);
    let texts = v["texts"].to_string();
    assert!(texts.contains("see you there"), "{v}");
    assert_eq!(
        hotline_id(&texts),
        id,
        "the same @id after sharing the number"
    );
    assert_eq!(subscribers(&w), 1);
    let out = w.cli.ok(&["channel", "members", &w.ch, "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let subs: Vec<&serde_json::Value> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "subscriber")
        .collect();
    assert_eq!(subs.len(), 1, "{v}");
    assert!(
        !out.contains(HIDDEN),
        "a subscriber's number was shown: {v}"
    );

    // Exactly one copy of the next broadcast.
    w.cli.ok(&["broadcast", &w.ch, "Moved", "to", "one"]);
    let mut got = wait_for(&mut p, "the second broadcast", |b| b == "Moved to one").await;
    got.extend(p.receive_for(QUIET).await.unwrap());
    let copies = bodies(&got).iter().filter(|b| *b == "Moved to one").count();
    assert_eq!(copies, 1, "{:?}", bodies(&got));

    // The host's store and log never held the number or the bodies.
    let store = std::fs::read(w.stack.dir.join("store.redb")).unwrap();
    let log = w.stack.host_log().into_bytes();
    assert!(store.len() > 1000, "store file suspiciously small");
    for needle in [digits, "Who organises this?", "We all do", "see you there"] {
        for (what, hay) in [("store", &store), ("host log", &log)] {
            assert!(
                !contains(hay, needle.as_bytes()),
                "{what} holds plaintext {needle:?}"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_admin_who_types_a_hidden_members_number_finds_the_same_person() {
    let (w, _admin_phone) = World::start(ADMIN, CHANNEL, &["--rate-burst", "0"]).await;
    let mut other = phone(&w.sim.info, OTHER).await;
    other.send_text(CHANNEL, "JOIN").await.unwrap();
    let mut p = phone(&w.sim.info, HIDDEN).await;
    p.set_share_number(false);
    p.send_text(CHANNEL, "JOIN").await.unwrap();
    w.process(2);
    wait_for(&mut other, "the welcome", |b| {
        b.to_lowercase().contains("welcome")
    })
    .await;
    wait_for(&mut p, "the welcome", |b| {
        b.to_lowercase().contains("welcome")
    })
    .await;
    assert_eq!(counts(&w), (1, 2));

    // ADMIN 1 invites that number as an admin: the directory finds the account the channel
    // knew by pseudonym, so the passphrase reaches the phone and the member is that number
    // from now on; accepting promotes them instead of adding a second member.
    let new = AdminCli::new(&w.stack);
    let n = add_admin(&w.cli, &w.ch, HIDDEN, &mut p, &new).await;
    assert_eq!(counts(&w), (2, 1), "ADMIN {n}: one person, one member");
    let out = w.cli.ok(&["channel", "members", &w.ch, "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "admin")
            .all(|m| m["number_hidden"] == false),
        "{v}"
    );

    // Their messages, still without their number, are that admin's: a broadcast from them
    // reaches the subscriber.
    p.send_text(CHANNEL, "BROADCAST Doors open at six")
        .await
        .unwrap();
    let v = w.process(1);
    assert_eq!(v["stats"]["rejected"], 0, "{v}");
    let got = wait_for(&mut other, "the admin's broadcast", |b| {
        b == "Doors open at six"
    })
    .await;
    assert!(
        !bodies(&got).iter().any(|b| b.contains("HOTLINE")),
        "{:?}",
        bodies(&got)
    );
}
