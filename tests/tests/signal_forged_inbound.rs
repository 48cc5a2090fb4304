//! The host forging inbound queue items (VAULT.md §6.1), end to end against signal-sim. The
//! host knows a channel's EK (its key record is in clear) and everyone's ACI, so it can build
//! a real Signal message from an identity key of its own, put it in an unsealed envelope
//! whose `source` names an admin or a subscriber, seal it to EK and append it to the queue.
//! Without item authentication such a forgery deauthorized the admin it named (whose re-ADD
//! then trusted the host's key), spoke for any subscriber, and dropped sessions with forged
//! retry receipts. Each must now be refused as not written by the channel's receiver, and
//! change nothing.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::{Duration, SystemTime};

use libsignal_protocol::{
    Aci, CiphertextMessageType, DeviceId, IdentityKey, KeyPair, ProtocolAddress, SignalMessage,
};
use prost::Message as _;
use sealboost_tests::lifecycle::{append_inbound, channel_id, seal_for_channel};
use sealboost_tests::signal::{bodies, otp_in, AdminCli, Handset, World};
use signal_api::{Content, DataMessage};
use signal_client::cipher::{self, envelope_type, RetryRequest};

const CHANNEL: &str = "+15550029000";
const WAIT: Duration = Duration::from_secs(45);
const QUIET: Duration = Duration::from_secs(3);

async fn handset(w: &World, number: &str) -> Handset {
    Handset::register(&w.sim.info, number)
        .await
        .waits(WAIT, QUIET)
}

/// An unsealed envelope the host builds in `source`'s name: a real PreKeySignalMessage from
/// the attacker's own identity key, on a fresh session with the channel (a newly fetched
/// prekey bundle each time, as the host could fetch with any account), carrying `text`.
async fn forge_text(attacker: &mut Handset, channel: &Aci, source: &Aci, text: &str) -> Vec<u8> {
    let client = &mut attacker.p.client;
    Box::pin(client.fetch_sessions(channel, None))
        .await
        .unwrap();
    let dm = DataMessage {
        body: Some(text.to_owned()),
        timestamp: Some(1_700_000_000_000),
        ..Default::default()
    };
    let content = Content {
        data_message: Some(dm),
        ..Default::default()
    }
    .encode_to_vec();
    let addr = ProtocolAddress::new(
        channel.service_id_string(),
        DeviceId::try_from(1u8).unwrap(),
    );
    let out = Box::pin(cipher::encrypt(
        &mut client.account.store,
        &addr,
        &cipher::pad(&content),
        None,
        SystemTime::now(),
        &mut rand::rng(),
    ))
    .await
    .unwrap();
    assert_eq!(out.envelope_type, envelope_type::PREKEY_BUNDLE);
    envelope(out.envelope_type, source, out.content)
}

/// A retry receipt "from" `source`'s device 1 about one of the channel's messages: an
/// unsealed type-8 envelope, which carries no ciphertext at all.
fn forge_retry_receipt(source: &Aci) -> Vec<u8> {
    let mut rng = rand::rng();
    let key = |rng: &mut _| KeyPair::generate(rng).public_key;
    let original = SignalMessage::new(
        4,
        &[0; 32],
        key(&mut rng),
        0,
        0,
        &[0; 32],
        &IdentityKey::new(key(&mut rng)),
        &IdentityKey::new(key(&mut rng)),
        &[],
    )
    .unwrap();
    let retry = RetryRequest {
        // The device that sent the original: the channel's own.
        sender: *source,
        sender_device: DeviceId::try_from(1u8).unwrap(),
        original_type: CiphertextMessageType::Whisper,
        original_timestamp: 1_700_000_000_001,
        original: original.serialized().to_vec(),
        sealed_sender: false,
    };
    envelope(
        envelope_type::PLAINTEXT_CONTENT,
        source,
        retry.plaintext_content().unwrap(),
    )
}

fn envelope(kind: i32, source: &Aci, content: Vec<u8>) -> Vec<u8> {
    signal_api::Envelope {
        r#type: Some(kind),
        source_service_id: Some(source.service_id_string()),
        source_device: Some(1),
        timestamp: Some(1_700_000_000_002),
        server_timestamp: Some(1_700_000_000_003),
        content: Some(content),
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "current_thread")]
async fn forged_envelopes_in_an_admins_or_subscribers_name_change_nothing() {
    const A1: &str = "+15550801001";
    const A2: &str = "+15550801002";
    const S1: &str = "+15550802001";
    const ATTACKER: &str = "+15550809001";
    let (w, p) = World::start(A1, CHANNEL, &["--rate-burst", "0"]).await;
    let mut a1 = Handset::new(p).waits(WAIT, QUIET);
    let mut a2 = handset(&w, A2).await;
    let mut s1 = handset(&w, S1).await;
    let mut attacker = handset(&w, ATTACKER).await;
    s1.p.send_text(CHANNEL, "HELLO").await.unwrap();
    a1.p.send_text(CHANNEL, &format!("ADD {A2}")).await.unwrap();
    w.process(2);
    s1.expect("Welcome!").await;
    let invite = a2.expect("one-time passphrase").await;
    let v = AdminCli::new(&w.stack).accept(&w.ch, &otp_in(&invite).unwrap(), A2);
    assert_eq!(v["admin_index"], 2, "{v}");
    // ADMIN 2 writes once, so the channel holds a session with their real phone.
    a2.p.send_text(CHANNEL, "~ hello admins").await.unwrap();
    w.process(1);
    a1.expect("hello admins").await;
    // Whatever else setting up sent (answers, welcomes) is not under test.
    for h in [&mut a1, &mut a2, &mut s1, &mut attacker] {
        h.quiet().await;
        h.inbox.clear();
    }

    let id = channel_id(&w.ch);
    let channel = Box::pin(attacker.p.client.lookup(CHANNEL))
        .await
        .unwrap()
        .unwrap();
    let (a2_aci, s1_aci) = (a2.p.aci(), s1.p.aci());
    let forged = [
        // The attack on SK: ADMIN 2 "changes safety number" and asks to add the attacker.
        forge_text(&mut attacker, &channel, &a2_aci, &format!("ADD {ATTACKER}")).await,
        forge_text(&mut attacker, &channel, &s1_aci, "LEAVE").await,
        forge_text(&mut attacker, &channel, &s1_aci, "Forged hotline text").await,
        forge_text(&mut attacker, &channel, &s1_aci, "HELLO").await,
        forge_retry_receipt(&s1_aci),
    ];
    let n = forged.len();
    for e in &forged {
        let item = seal_for_channel(&w.stack, &id, e).await;
        append_inbound(&w.stack, &id, item).await;
    }
    w.cli.wait_queued(&w.ch, n as u64);
    let v = w.cli.mailbox(&w.ch);
    assert_eq!(v["stats"]["rejected"], n, "{v}");
    for zero in ["processed", "retry_received", "delivered", "withheld"] {
        assert_eq!(v["stats"][zero], 0, "{zero}: {v}");
    }
    assert_eq!(v["invited"], 0, "{v}");
    let log = w.stack.host_log();
    assert!(
        log.contains("inbound item not written by the channel's receiver"),
        "{log}"
    );

    // Nobody heard anything: no notice about ADMIN 2, no OTP for the attacker, no hotline.
    for h in [&mut a1, &mut a2, &mut s1, &mut attacker] {
        let got = bodies(&h.quiet().await);
        assert!(got.is_empty(), "{} got {got:?}", h.p.e164());
    }
    // No pending admin, S1 still subscribed, ADMIN 2 still an admin.
    let proposals = w.cli.ok(&["proposals", "list", &w.ch, "--json"]);
    assert!(!proposals.contains(ATTACKER), "{proposals}");
    let info = w.cli.ok(&["channel", "info", &w.ch, "--json"]);
    let info: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    assert_eq!(info["subscribers"], 1, "{info}");

    // ADMIN 2's next real message is an admin's broadcast: not deauthorized, their session
    // and identity untouched (no safety-number change is reported).
    a2.p.send_text(CHANNEL, "! Real news from ADMIN 2")
        .await
        .unwrap();
    let v = w.process(1);
    assert_eq!(v["stats"]["rejected"], 0, "{v}");
    assert_eq!(v["stats"]["withheld"], 0, "{v}");
    assert_eq!(s1.expect("Real news").await, "Real news from ADMIN 2");
    assert_eq!(
        a1.expect("Real news").await,
        "[BROADCAST FROM ADMIN 2]\nReal news from ADMIN 2"
    );
    let got = bodies(&a1.quiet().await);
    assert!(!got.iter().any(|t| t.contains("safety number")), "{got:?}");
    // And the channel's session with S1 was not dropped by the forged retry receipt: S1's
    // own message decrypts on it and is answered.
    s1.p.send_text(CHANNEL, "Real hotline text").await.unwrap();
    let v = w.process(1);
    assert_eq!(v["stats"]["rejected"], 0, "{v}");
    assert_eq!(v["stats"]["retry_requested"], 0, "{v}");
    a1.expect("Real hotline text").await;
    let got = bodies(&a1.quiet().await);
    assert!(!got.iter().any(|t| t.contains("Forged")), "{got:?}");
}
