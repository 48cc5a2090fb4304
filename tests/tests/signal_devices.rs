//! A subscriber with a linked device, end to end against signal-sim (real processes: sim,
//! host + simulated enclave, admin CLI; the phones in-process): the channel learns of the
//! new device from the service's 409 `missingDevices` and of its removal from a 409
//! `extraDevices`, and recovers within the same send (signal-client SPEC §4, §8;
//! signal-sim SPEC §7.4, §7.12). Both devices are one person to the channel.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::Duration;

use sealboost_tests::signal::{bodies, phone, phone_config, sim_stats, World};
use signal_client::phone::{Phone, Received};
use signal_sim::SimStats;

const ADMIN: &str = "+15550601001";
const SUBSCRIBER: &str = "+15550602001";
const CHANNEL: &str = "+15550609000";
/// Bounds waits for something that must arrive; never a pause.
const WAIT: Duration = Duration::from_secs(60);

/// A phone and what it received that no check has taken yet.
struct Handset {
    p: Phone,
    inbox: Vec<Received>,
}

impl Handset {
    fn new(p: Phone) -> Handset {
        Handset {
            p,
            inbox: Vec::new(),
        }
    }

    /// Receives until a body equal to `text` is in the inbox (failing after [`WAIT`]);
    /// returns every body up to and including it, taking them out of the inbox.
    async fn through(&mut self, text: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(i) = self
                .inbox
                .iter()
                .position(|m| m.body.as_deref() == Some(text))
            {
                return bodies(&self.inbox.drain(..=i).collect::<Vec<_>>());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "device {} of {} wanted {text:?}, has {:?}",
                self.p.device_id(),
                self.p.e164(),
                bodies(&self.inbox)
            );
            let got = self
                .p
                .receive_for(left.min(Duration::from_millis(500)))
                .await
                .unwrap();
            self.inbox.extend(got);
        }
    }

    /// Receives until a body containing `needle` arrives; returns that body.
    async fn containing(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(i) = self
                .inbox
                .iter()
                .position(|m| m.body.as_deref().is_some_and(|b| b.contains(needle)))
            {
                return self.inbox.remove(i).body.unwrap();
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "wanted {needle:?}, has {:?}",
                bodies(&self.inbox)
            );
            let got = self
                .p
                .receive_for(left.min(Duration::from_millis(500)))
                .await
                .unwrap();
            self.inbox.extend(got);
        }
    }
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
    let mut admin = Handset::new(admin);
    let mut one = Handset::new(phone(&w.sim.info, SUBSCRIBER).await);
    one.p.send_text(CHANNEL, "HELLO").await.unwrap();
    w.process(1);
    one.containing("Welcome!").await;
    let before = broadcast(&w, "Before the link");
    assert_eq!(
        copies(&one.through("Before the link").await, "Before the link"),
        1
    );

    // The subscriber links a second device: same number and account, device 2.
    let mut two = Handset::new(
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
    let from_one = admin.containing("A question from the phone").await;
    two.p
        .send_text(CHANNEL, "A question from the laptop")
        .await
        .unwrap();
    w.process(1);
    let from_two = admin.containing("A question from the laptop").await;
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
        h.containing("Answered").await;
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
