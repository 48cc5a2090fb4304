#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! Linked devices against signal-sim (in-process), with real libsignal: a sender learns
//! of a linked device from a 409 `missingDevices`, of an unlinked one from a 409
//! `extraDevices`, and of a device id reused by a newly linked device from a 410
//! `staleDevices` (SPEC.md §4, §8; signal-sim SPEC §7.12).

use std::time::Duration;

use signal_client::phone::{Phone, Received};
use signal_client::service::SendReport;
use signal_client::Error;

mod common;
use common::{sim, text_content};

/// Generous: only bounds a wait for something that must arrive.
const WAIT: Duration = Duration::from_secs(30);

const A: &str = "+15550003001";
const B: &str = "+15550003002";

async fn expect_text(p: &mut Phone, text: &str) -> Received {
    let got = p
        .receive_until(|r| r.body.as_deref() == Some(text), WAIT)
        .await
        .unwrap();
    let hits: Vec<Received> = got
        .into_iter()
        .filter(|r| r.body.as_deref() == Some(text))
        .collect();
    assert_eq!(hits.len(), 1, "device {} gets {text:?} once", p.device_id());
    hits.into_iter().next().unwrap()
}

/// What a send needed, by name.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    attempts: u32,
    devices: usize,
    sealed: bool,
    identity_changed: bool,
}

fn outcome(r: &SendReport) -> Outcome {
    Outcome {
        attempts: r.attempts,
        devices: r.devices,
        sealed: r.sealed,
        identity_changed: r.identity_changed,
    }
}

/// One attempt, one device: nothing to recover from.
const CLEAN_ONE: Outcome = Outcome {
    attempts: 1,
    devices: 1,
    sealed: true,
    identity_changed: false,
};
/// A 409 or 410 first, then delivered to both devices (the account's identity is shared,
/// so the new device's bundle is no identity change).
const RECOVERED_TO_TWO: Outcome = Outcome {
    attempts: 2,
    devices: 2,
    sealed: true,
    identity_changed: false,
};
/// A 409 `extraDevices` first, then delivered to the one device left.
const RECOVERED_TO_ONE: Outcome = Outcome {
    attempts: 2,
    devices: 1,
    sealed: true,
    identity_changed: false,
};

#[tokio::test(flavor = "current_thread")]
async fn linked_device_409_missing_then_unlinked_409_extra_then_reused_id_410_stale() {
    let (h, cfg) = sim(|_| {}).await;
    let mut a = Phone::register(&cfg, A, "1", None).await.unwrap();
    let mut b = Phone::register(&cfg, B, "1", None).await.unwrap();
    // A session with B's device 1, and each knows the other's profile key (sealed sender).
    a.send_text(B, "hello").await.unwrap();
    expect_text(&mut b, "hello").await;
    b.send_text(A, "hi").await.unwrap();
    expect_text(&mut a, "hi").await;
    assert_eq!(
        outcome(&a.send_text(B, "settled").await.unwrap()),
        CLEAN_ONE
    );
    expect_text(&mut b, "settled").await;

    // B links a second device: same account and identity, its own device id.
    let mut b2 = Phone::link(&cfg, &mut b).await.unwrap();
    assert_eq!((b2.aci(), b2.e164()), (b.aci(), B));
    assert_eq!((b.device_id(), b2.device_id()), (1, 2));
    assert_eq!(
        b2.client.account.store.identity_key_pair().identity_key(),
        b.client.account.store.identity_key_pair().identity_key()
    );
    assert_ne!(
        b2.client.account.store.registration_id(),
        b.client.account.store.registration_id()
    );
    assert_eq!(b.devices().await.unwrap(), vec![1, 2]);
    assert_eq!(b2.devices().await.unwrap(), vec![1, 2]);

    // A's next send: 409 missing [2] → A fetches device 2's bundle → both decrypt.
    let r = a.send_text(B, "to both").await.unwrap();
    assert_eq!(outcome(&r), RECOVERED_TO_TWO);
    assert_eq!(expect_text(&mut b, "to both").await.from_aci, a.aci());
    let m = expect_text(&mut b2, "to both").await;
    assert_eq!(m.from_aci, a.aci());
    assert!(m.sealed_sender);
    // Now both devices are known: no recovery.
    let r = a.send_text(B, "both again").await.unwrap();
    assert_eq!(r.attempts, 1);
    assert_eq!(r.devices, 2);
    expect_text(&mut b, "both again").await;
    expect_text(&mut b2, "both again").await;

    // Device 2 writes to A as the same person.
    b2.send_text(A, "from two").await.unwrap();
    let m = expect_text(&mut a, "from two").await;
    assert_eq!(m.from_aci, b.aci());
    assert_eq!(m.from_e164.as_deref(), Some(B));

    // Only the primary links and unlinks.
    let e = Phone::link(&cfg, &mut b2).await.unwrap_err();
    assert!(matches!(e, Error::Status { status: 401, .. }), "{e:?}");
    let e = b2.unlink(2).await.unwrap_err();
    assert!(matches!(e, Error::Status { status: 401, .. }), "{e:?}");
    let e = b.unlink(0).await.unwrap_err();
    assert!(matches!(e, Error::InvalidDeviceId), "{e:?}");

    // B unlinks device 2: A's next send gets 409 extra [2], drops that session, and
    // device 1 still gets it.
    b.unlink(2).await.unwrap();
    assert_eq!(b.devices().await.unwrap(), vec![1]);
    let r = a.send_text(B, "to one").await.unwrap();
    assert_eq!(outcome(&r), RECOVERED_TO_ONE);
    expect_text(&mut b, "to one").await;
    // Its socket is closed (4401) and reconnecting is refused: an error well before WAIT.
    let left = b2.receive_for(WAIT).await;
    assert!(
        matches!(left, Err(Error::Status { status: 401, .. })),
        "an unlinked device no longer connects: {:?}",
        left.map(|v| v.len())
    );
    assert_eq!(
        outcome(&a.send_text(B, "one again").await.unwrap()),
        CLEAN_ONE
    );
    expect_text(&mut b, "one again").await;

    // A new device takes id 2 again; A learns of it by 409 missing.
    let mut b3 = Phone::link(&cfg, &mut b).await.unwrap();
    assert_eq!(b3.device_id(), 2);
    assert_eq!(
        outcome(&a.send_text(B, "hello three").await.unwrap()),
        RECOVERED_TO_TWO
    );
    expect_text(&mut b, "hello three").await;
    expect_text(&mut b3, "hello three").await;
    // Replaced by yet another device on id 2 before A sends again: A's session for
    // device 2 is for the old registration id → 410 stale → A fetches the new bundle.
    b.unlink(2).await.unwrap();
    let mut b4 = Phone::link(&cfg, &mut b).await.unwrap();
    assert_eq!(b4.device_id(), 2);
    assert_eq!(
        outcome(&a.send_text(B, "hello four").await.unwrap()),
        RECOVERED_TO_TWO
    );
    expect_text(&mut b, "hello four").await;
    expect_text(&mut b4, "hello four").await;
    // The service really answered: 409 three times (link, unlink, link), 410 once.
    let s = h.stats();
    assert_eq!((s.mismatched_devices, s.stale_devices), (3, 1), "{s:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn multi_recipient_send_learns_linked_and_unlinked_devices() {
    const CHAN: &str = "+15550003010";
    let (h, cfg) = sim(|_| {}).await;
    let mut chan = signal_client::SignalClient::register(&cfg, CHAN, "1", true, 5)
        .await
        .unwrap();
    let mut b = Phone::register(&cfg, B, "1", None).await.unwrap();
    b.send_text(CHAN, "JOIN").await.unwrap();
    // The channel learns B's profile key (so its access key) from the message.
    let mut rx = signal_client::ws::Receiver::new(
        chan.http().clone(),
        chan.account.credentials.basic_auth(),
    );
    let b_aci = loop {
        if let signal_client::ws::Event::Envelope { id, envelope } = rx.next().await.unwrap() {
            let inc = chan.decrypt(&envelope).await.unwrap();
            rx.ack(id).await.unwrap();
            break inc.sender;
        }
    };
    let dist = [0x17; 16];
    let r = chan
        .send_multi_recipient(dist, &[b_aci], &text_content("multi one"), 1)
        .await
        .unwrap();
    assert_eq!((r.sealed_v2, r.keys_distributed, r.attempts), (1, 1, 1));
    expect_text(&mut b, "multi one").await;

    // Linked: the multi-recipient 409 names B's missing device 2; the channel fetches its
    // bundle, gives it the sender key, and the retry reaches both devices.
    let mut b2 = Phone::link(&cfg, &mut b).await.unwrap();
    let r = chan
        .send_multi_recipient(dist, &[b_aci], &text_content("multi two"), 2)
        .await
        .unwrap();
    assert_eq!((r.sealed_v2, r.attempts), (1, 2), "{r:?}");
    assert!(r.individually.is_empty(), "{r:?}");
    assert_eq!(
        r.keys_distributed, 1,
        "only the new device needs the key: {r:?}"
    );
    expect_text(&mut b, "multi two").await;
    assert!(expect_text(&mut b2, "multi two").await.sealed_sender);

    // Unlinked: 409 extra [2], the session is dropped, device 1 still gets it.
    b.unlink(2).await.unwrap();
    let r = chan
        .send_multi_recipient(dist, &[b_aci], &text_content("multi three"), 3)
        .await
        .unwrap();
    assert_eq!((r.sealed_v2, r.attempts), (1, 2), "{r:?}");
    expect_text(&mut b, "multi three").await;
    let s = h.stats();
    assert_eq!((s.mismatched_devices, s.stale_devices), (2, 0), "{s:?}");
}
