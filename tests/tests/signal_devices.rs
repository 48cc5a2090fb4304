//! A subscriber with a linked device, end to end against signal-sim (real processes: sim,
//! host + simulated enclave, admin CLI; the phones in-process): the channel learns of the
//! new device from the service's 409 `missingDevices` and of its removal from a 409
//! `extraDevices`, and recovers within the same send (signal-client SPEC §4, §8;
//! signal-sim SPEC §7.4, §7.12). Both devices are one person to the channel.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::Duration;

use sealboost_tests::signal::{phone, phone_config, sim_stats, Handset, World};
use signal_client::phone::Phone;
use signal_sim::SimStats;

const ADMIN: &str = "+15550601001";
const SUBSCRIBER: &str = "+15550602001";
const CHANNEL: &str = "+15550609000";
/// Bounds waits for something that must arrive; never a pause.
const WAIT: Duration = Duration::from_secs(60);

/// A phone with this file's waits.
fn handset(p: Phone) -> Handset {
    Handset::new(p).waits(WAIT, Handset::QUIET)
}

/// `sealboost broadcast CH TEXT --json`; requires 0 failed and returns the stats.
fn broadcast(w: &World, text: &str) -> serde_json::Value {
    let out = w.cli.ok(&["broadcast", &w.ch, text, "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    eprintln!("broadcast {text:?}: {v}");
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    v["stats"].clone()
}

/// How often `text` is among `bodies`.
fn copies(bodies: &[String], text: &str) -> usize {
    bodies.iter().filter(|b| *b == text).count()
}

/// The `@id` of a `[HOTLINE FROM @id] …` text.
fn hotline_id(body: &str) -> String {
    body.split("[HOTLINE FROM @")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or_else(|| panic!("not a hotline message: {body:?}"))
        .to_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn linked_device_gets_broadcasts_and_is_the_same_person_on_the_hotline() {
    let (w, admin) = World::start(ADMIN, CHANNEL, &["--rate-burst", "0"]).await;
    let mut admin = handset(admin);
    let mut one = handset(phone(&w.sim.info, SUBSCRIBER).await);
    one.p.send_text(CHANNEL, "HELLO").await.unwrap();
    w.process(1);
    one.expect("Welcome!").await;
    let before = broadcast(&w, "Before the link");
    assert_eq!(
        copies(&one.through("Before the link").await, "Before the link"),
        1
    );

    // The subscriber links a second device: same number and account, device 2.
    let mut two = handset(
        Phone::link(&phone_config(&w.sim.info), &mut one.p)
            .await
            .unwrap(),
    );
    assert_eq!((two.p.aci(), two.p.device_id()), (one.p.aci(), 2));

    // The channel's session covers device 1 only: the service answers 409 missing [2],
    // the enclave fetches device 2's bundle and the broadcast reaches both, once each.
    let s0: SimStats = sim_stats(&w.sim.info).await;
    let after = broadcast(&w, "After the link");
    let s1: SimStats = sim_stats(&w.sim.info).await;
    assert_eq!(
        s1.mismatched_devices - s0.mismatched_devices,
        1,
        "one 409: {s0:?} -> {s1:?}"
    );
    assert_eq!(
        after["delivered"], before["delivered"],
        "one person: {after}"
    );
    // A second broadcast marks the end: anything the first one left behind (a second
    // copy) would have arrived before it, whatever the machine's speed.
    broadcast(&w, "Mark one");
    for h in [&mut one, &mut two] {
        let got = h.through("Mark one").await;
        assert_eq!(
            copies(&got, "After the link"),
            1,
            "device {}: {got:?}",
            h.p.device_id()
        );
        assert_eq!(copies(&got, "Before the link"), 0, "{got:?}");
    }

    // The hotline: from device 1, then from device 2; the admin sees the same @id.
    one.p
        .send_text(CHANNEL, "A question from the phone")
        .await
        .unwrap();
    w.process(1);
    let from_one = admin.expect("A question from the phone").await;
    two.p
        .send_text(CHANNEL, "A question from the laptop")
        .await
        .unwrap();
    w.process(1);
    let from_two = admin.expect("A question from the laptop").await;
    assert!(from_two.starts_with("[HOTLINE FROM @"), "{from_two}");
    assert_eq!(
        hotline_id(&from_one),
        hotline_id(&from_two),
        "one person: {from_one:?} / {from_two:?}"
    );
    assert!(
        !from_two.contains(SUBSCRIBER.trim_start_matches('+')),
        "{from_two}"
    );
    // A reply to that @id reaches both devices.
    let id = hotline_id(&from_two);
    w.cli.ok(&["reply", &w.ch, &format!("@{id}"), "Answered"]);
    for h in [&mut one, &mut two] {
        h.expect("Answered").await;
    }

    // Unlinked: the channel's next send gets 409 extra [2], drops that session, and
    // device 1 still gets the broadcast, once; nothing failed.
    one.p.unlink(2).await.unwrap();
    assert_eq!(one.p.devices().await.unwrap(), vec![1]);
    let s2: SimStats = sim_stats(&w.sim.info).await;
    let unlinked = broadcast(&w, "After the unlink");
    let s3: SimStats = sim_stats(&w.sim.info).await;
    assert_eq!(
        s3.mismatched_devices - s2.mismatched_devices,
        1,
        "one 409: {s2:?} -> {s3:?}"
    );
    assert_eq!(s3.stale_devices, 0, "{s3:?}");
    assert_eq!(unlinked["delivered"], before["delivered"], "{unlinked}");
    broadcast(&w, "Mark two");
    let got = one.through("Mark two").await;
    assert_eq!(copies(&got, "After the unlink"), 1, "{got:?}");
}
