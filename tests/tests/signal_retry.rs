//! Retry receipts end to end (COURIER.md §3 step 4, signal-client SPEC §5.1): a message the
//! channel cannot decrypt because its session with the sender is gone is not lost. The
//! host rolls the channel back to a state from before a subscriber joined (shown to an
//! admin CLI restored from a backup of that time, which has seen nothing newer); the
//! subscriber's next message then finds no session, the unlock asks for it again, the
//! subscriber's phone re-sends it on a new session, and the next unlock delivers it.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::path::Path;
use std::time::Duration;

use enclave::vault::{names, ChannelId};
use sealboost_tests::lifecycle::{append_inbound, channel_id, get_blob, seal_for_channel};
use sealboost_tests::signal::{bodies, phone, receive_until, AdminCli, World};
use sealboost_tests::{blob_call, Stack};
use wire::blob::{BlobRequest, BlobResponse};

const ADMIN: &str = "+15550001001";
const CHANNEL: &str = "+15550009000";
const SUB: &str = "+15550002001";
const WAIT: Duration = Duration::from_secs(20);

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The channel's state and account chunks, as the host stores them.
async fn snapshot(stack: &Stack, id: &ChannelId) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = vec![(
        names::state(id),
        get_blob(stack, names::state(id)).await.unwrap().1,
    )];
    let names = list(stack, format!("ch/{}/ps/", id.to_hex()).into_bytes()).await;
    assert!(!names.is_empty());
    for (name, _) in names {
        let data = get_blob(stack, name.clone()).await.unwrap().1;
        out.push((name, data));
    }
    out
}

async fn list(stack: &Stack, prefix: Vec<u8>) -> Vec<(Vec<u8>, u64)> {
    let BlobResponse::Names { names } = blob_call(
        stack,
        BlobRequest::List {
            prefix,
            limit: 1000,
        },
    )
    .await
    else {
        panic!("no list")
    };
    names
}

/// The host puts the snapshot back (a rollback: it can keep every blob it ever stored) and
/// drops the newer account chunks, as if they had never been written.
async fn restore(stack: &Stack, id: &ChannelId, blobs: Vec<(Vec<u8>, Vec<u8>)>) {
    let prefix = format!("ch/{}/ps/", id.to_hex()).into_bytes();
    for (name, version) in list(stack, prefix).await {
        if !blobs.iter().any(|(n, _)| *n == name) {
            let r = blob_call(
                stack,
                BlobRequest::Delete {
                    name,
                    expected: version,
                },
            )
            .await;
            assert!(matches!(r, BlobResponse::Deleted), "{r:?}");
        }
    }
    for (name, data) in blobs {
        let expected = get_blob(stack, name.clone()).await.map_or(0, |(v, _)| v);
        let r = blob_call(
            stack,
            BlobRequest::Put {
                name,
                expected,
                data,
            },
        )
        .await;
        assert!(matches!(r, BlobResponse::Written { .. }), "{r:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_message_on_a_lost_session_is_asked_for_again_and_delivered_once() {
    let (w, mut admin_phone) = World::start(ADMIN, CHANNEL, &[]).await;
    let (sim, stack, cli, ch) = (&w.sim, &w.stack, &w.cli, w.ch.clone());
    let id = channel_id(&ch);

    // What the host keeps, and an admin machine's backup, from before the join.
    let old = snapshot(stack, &id).await;
    let restored_cli = AdminCli::new(stack);
    copy_dir(cli.state_dir(), restored_cli.state_dir());

    let mut sub = phone(&sim.info, SUB).await;
    sub.send_text(CHANNEL, "HELLO").await.unwrap();
    w.process(1);
    // The subscriber reads the welcome, so its next message needs the channel's session.
    let got = receive_until(&mut sub, WAIT, |m| !bodies(m).is_empty()).await;
    assert_eq!(bodies(&got).len(), 1, "{got:?}");

    restore(stack, &id, old).await;
    sub.send_text(CHANNEL, "is anyone there").await.unwrap();
    restored_cli.wait_queued(&ch, 1);
    let (code, out, err) = restored_cli.run(&["mailbox", &ch, "--json"]);
    assert_eq!(code, 0, "{err}{out}\n{}", stack.host_log());
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["stats"]["retry_requested"], 1, "{v}");
    assert_eq!(v["stats"]["processed"], 0, "{v}");
    assert_eq!(v["stats"]["rejected"], 0, "{v}");
    let log = stack.host_log();
    assert!(log.contains("asked to resend"), "{log}");
    assert!(log.contains("session not found"), "{log}");
    assert!(!log.contains("is anyone there") && !log.contains(SUB));

    // The phone answers the retry receipt by itself: a re-send on a new session.
    sub.receive_for(Duration::from_secs(3)).await.unwrap();
    assert_eq!(sub.resent(), 1);
    restored_cli.wait_queued(&ch, 1);
    let v = restored_cli.mailbox(&ch);
    assert_eq!(v["stats"]["processed"], 1, "{v}");
    assert_eq!(v["stats"]["retry_requested"], 0, "{v}");

    let got = receive_until(&mut admin_phone, WAIT, |m| {
        bodies(m).iter().any(|b| b.contains("is anyone there"))
    })
    .await;
    let more = admin_phone
        .receive_for(Duration::from_secs(1))
        .await
        .unwrap();
    let hotline: Vec<String> = bodies(&got)
        .into_iter()
        .chain(bodies(&more))
        .filter(|b| b.contains("is anyone there"))
        .collect();
    assert_eq!(hotline.len(), 1, "{hotline:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_unsealed_envelope_naming_a_sender_is_not_answered_with_a_retry_receipt() {
    use libsignal_protocol::{IdentityKey, KeyPair, SignalMessage};
    use prost::Message as _;

    let (w, _admin_phone) = World::start(ADMIN, CHANNEL, &[]).await;
    let (sim, stack, ch) = (&w.sim, &w.stack, w.ch.clone());
    let id = channel_id(&ch);
    let mut sub = phone(&sim.info, SUB).await;
    sub.send_text(CHANNEL, "HELLO").await.unwrap();
    w.process(1);
    receive_until(&mut sub, WAIT, |m| !bodies(m).is_empty()).await;

    // The host seals to EK a well-formed SignalMessage "from" the subscriber: the channel
    // has no session it fits, and the sender is only the host's word. It cannot
    // authenticate the item as the channel's receiver (VAULT.md §6), so the item is refused
    // before anything in it is read.
    let mut rng = rand::rng();
    let key = |rng: &mut _| KeyPair::generate(rng).public_key;
    let forged = SignalMessage::new(
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
    let envelope = signal_api::Envelope {
        r#type: Some(1),
        source_service_id: Some(sub.aci().service_id_string()),
        source_device: Some(1),
        timestamp: Some(1),
        content: Some(forged.serialized().to_vec()),
        ..Default::default()
    };
    let item = seal_for_channel(stack, &id, &envelope.encode_to_vec()).await;
    append_inbound(stack, &id, item).await;
    w.cli.wait_queued(&ch, 1);
    let v = w.cli.mailbox(&ch);
    assert_eq!(v["stats"]["rejected"], 1, "{v}");
    assert_eq!(v["stats"]["retry_requested"], 0, "{v}");
    assert!(stack
        .host_log()
        .contains("inbound item not written by the channel's receiver"));

    // Nothing reached the subscriber, whose session with the channel still works.
    sub.receive_for(Duration::from_secs(2)).await.unwrap();
    assert_eq!(sub.resent(), 0);
    sub.send_text(CHANNEL, "still here").await.unwrap();
    let v = w.process(1);
    assert_eq!(v["stats"]["retry_requested"], 0, "{v}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_subscriber_that_cannot_read_a_broadcast_gets_a_new_session_for_the_next() {
    use libsignal_protocol::{DeviceId, ProtocolAddress};

    let (w, _admin_phone) = World::start(ADMIN, CHANNEL, &[]).await;
    let (sim, cli, ch) = (&w.sim, &w.cli, w.ch.clone());
    let mut sub = phone(&sim.info, SUB).await;
    sub.send_text(CHANNEL, "HELLO").await.unwrap();
    w.process(1);
    receive_until(&mut sub, WAIT, |m| !bodies(m).is_empty()).await;

    // The subscriber's phone loses its session with the channel (e.g. a restored backup).
    let channel_aci = sub.client.lookup(CHANNEL).await.unwrap().unwrap();
    let addr = ProtocolAddress::new(
        channel_aci.service_id_string(),
        DeviceId::try_from(1u8).unwrap(),
    );
    sub.client.account.store.remove_session(&addr);

    cli.ok(&["broadcast", &ch, "first", "news"]);
    // It cannot read it and sends a retry receipt by itself.
    let got = sub.receive_for(Duration::from_secs(3)).await.unwrap();
    assert!(bodies(&got).is_empty(), "{got:?}");
    cli.wait_queued(&ch, 1);
    let v = cli.mailbox(&ch);
    assert_eq!(v["stats"]["retry_received"], 1, "{v}");
    assert_eq!(v["stats"]["rejected"], 0, "{v}");

    // The channel keeps no send log (the first stays lost), but the next one arrives.
    cli.ok(&["broadcast", &ch, "second", "news"]);
    let got = receive_until(&mut sub, WAIT, |m| {
        bodies(m).iter().any(|b| b == "second news")
    })
    .await;
    assert_eq!(bodies(&got), vec!["second news".to_owned()], "{got:?}");
}
