//! The inbound queue end to end (DESIGN §4.5): envelopes that arrived while the channel was
//! locked survive a host restart and are processed exactly once; malformed items planted by
//! a hostile host, and well-encrypted messages whose content breaks the limits, are rejected
//! with a count and a named error, never a crash.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::Duration;

use prost::Message as _;
use sealboost_tests::lifecycle::{append_inbound, channel_id, seal_for_channel};
use sealboost_tests::signal::{bodies, phone, receive_until, AdminCli, World};
use sealboost_tests::{blob_call, http_get, Sim, Stack, StackOpts};
use wire::blob::{BlobRequest, BlobResponse};

const ADMIN: &str = "+15550001001";
const CHANNEL: &str = "+15550009000";
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "current_thread")]
async fn queued_envelopes_survive_a_host_restart_and_are_processed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let opts = StackOpts {
        signal: Some(sim.info.clone()),
        dir: Some(tmp.path().join("stack")),
        ..Default::default()
    };
    std::fs::create_dir_all(tmp.path().join("stack")).unwrap();
    let mut stack = Stack::start_with(opts.clone());
    let mut admin = AdminCli::new(&stack);
    let ch = admin.channel(ADMIN, CHANNEL);

    let mut a = phone(&sim.info, "+15550002001").await;
    let mut b = phone(&sim.info, "+15550002002").await;
    let mut c = phone(&sim.info, "+15550002003").await;
    a.send_text(CHANNEL, "HELLO").await.unwrap();
    b.send_text(CHANNEL, "HELLO").await.unwrap();
    admin.wait_queued(&ch, 2);

    // Power cut for the host (and with it the enclave). One more JOIN arrives while down:
    // the service keeps it until the new enclave's receiver takes it.
    stack.kill_host();
    c.send_text(CHANNEL, "HELLO").await.unwrap();
    let stack = Stack::start_with(opts);
    admin.retarget(&stack);

    let first = admin.mailbox(&ch);
    assert_eq!(first["stats"]["processed"], 2, "{first}");
    admin.wait_queued(&ch, 1);
    let second = admin.mailbox(&ch);
    assert_eq!(second["stats"]["processed"], 1, "{second}");
    let third = admin.mailbox(&ch);
    assert_eq!(third["stats"]["processed"], 0, "{third}");

    // Each JOIN was acted on exactly once: one welcome each, and three subscribers.
    for p in [&mut a, &mut b, &mut c] {
        let got = receive_until(p, WAIT, |m| !bodies(m).is_empty()).await;
        let more = p.receive_for(Duration::from_millis(700)).await.unwrap();
        let texts: Vec<String> = bodies(&got).into_iter().chain(bodies(&more)).collect();
        assert_eq!(texts.len(), 1, "{texts:?}");
    }
    let info = admin.ok(&["channel", "info", &ch, "--json"]);
    let v: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    assert_eq!(v["subscribers"], 3, "{v}");
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_inbound_items_are_counted_and_skipped() {
    let w = World::bare(ADMIN, CHANNEL, &[]);
    let (sim, stack, admin, ch) = (&w.sim, &w.stack, &w.cli, w.ch.clone());
    let id = channel_id(&ch);

    // The host knows EK (it is in the key record in clear), so it can seal anything to it,
    // but not authenticate it as the channel's receiver (VAULT.md §6).
    let garbage_envelope = seal_for_channel(stack, &id, b"\xff\xff not a protobuf").await;
    let bad_ciphertext = seal_for_channel(
        stack,
        &id,
        &signal_api::Envelope {
            r#type: Some(1),
            source_service_id: Some("9d0652a3-dcc3-4d11-975f-74d61598733f".into()),
            source_device: Some(1),
            timestamp: Some(1),
            content: Some(vec![0x33; 100]),
            ..Default::default()
        }
        .encode_to_vec(),
    )
    .await;
    let unsealed = b"not sealed to EK at all".to_vec();
    for item in [garbage_envelope, bad_ciphertext, unsealed] {
        append_inbound(stack, &id, item).await;
    }
    // A real message behind them still gets through.
    let mut p = phone(&sim.info, "+15550002001").await;
    p.send_text(CHANNEL, "HELLO").await.unwrap();
    admin.wait_queued(&ch, 4);
    let v = admin.mailbox(&ch);
    assert_eq!(v["stats"]["rejected"], 3, "{v}");
    assert_eq!(v["stats"]["processed"], 1, "{v}");
    let got = receive_until(&mut p, WAIT, |m| !bodies(m).is_empty()).await;
    assert_eq!(bodies(&got).len(), 1, "{got:?}");
    // The enclave is alive and the log names the errors without any content.
    assert_eq!(http_get(stack.health, "/healthz").unwrap().0, 200);
    let log = stack.host_log();
    assert!(log.contains("does not open"), "{log}");
    assert!(
        log.contains("inbound item not written by the channel's receiver"),
        "{log}"
    );
    assert!(!log.contains("not a protobuf"));
}

#[tokio::test(flavor = "current_thread")]
async fn one_unlock_reads_at_most_its_byte_budget_and_the_next_ones_drain_the_rest() {
    const BUDGET: usize = 16 * 1024 * 1024;
    const ITEMS: usize = 100;
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let stack = Stack::start_with(StackOpts {
        signal: Some(sim.info.clone()),
        enclave_args: vec![format!("--unlock-budget-bytes={BUDGET}")],
        ..Default::default()
    });
    let admin = AdminCli::new(&stack);
    let ch = admin.channel(ADMIN, CHANNEL);
    let id = channel_id(&ch);
    // A flooding host: 100 items of the largest size (25 MiB in all).
    let big = vec![0x5a; enclave::vault::MAX_INBOUND_PLAINTEXT_LEN];
    let item = seal_for_channel(&stack, &id, &big).await;
    assert_eq!(item.len(), wire::blob::MAX_QUEUE_ITEM_LEN);
    for _ in 0..ITEMS {
        append_inbound(&stack, &id, item.clone()).await;
    }
    admin.wait_queued(&ch, ITEMS as u64);
    // One unlock holds at most the budget: 64 such items; the rest wait.
    let per_unlock = BUDGET / item.len();
    let first = admin.mailbox(&ch);
    assert_eq!(first["stats"]["rejected"], per_unlock, "{first}");
    assert_eq!(first["remaining"], ITEMS - per_unlock, "{first}");
    let second = admin.mailbox(&ch);
    assert_eq!(second["stats"]["rejected"], ITEMS - per_unlock, "{second}");
    assert_eq!(second["remaining"], 0, "{second}");
    let third = admin.mailbox(&ch);
    assert_eq!(third["stats"]["rejected"], 0, "{third}");
}

#[tokio::test(flavor = "current_thread")]
async fn well_encrypted_content_over_the_limits_is_rejected_by_name() {
    let (w, mut admin_phone) = World::start(ADMIN, CHANNEL, &[]).await;
    let (sim, stack, admin, ch) = (&w.sim, &w.stack, &w.cli, w.ch.clone());
    let mut p = phone(&sim.info, "+15550002001").await;
    p.send_text(CHANNEL, "HELLO").await.unwrap();
    // Real Signal messages from a real session whose Content the channel must refuse:
    // more attachment pointers than a message may carry, and a body over the limit.
    let pointer = signal_api::AttachmentPointer {
        cdn_id: Some(1),
        content_type: Some("image/jpeg".into()),
        key: Some(vec![7; 64]),
        size: Some(1000),
        ..Default::default()
    };
    p.send_data(
        CHANNEL,
        signal_api::DataMessage {
            body: Some("Marmot census".into()),
            attachments: vec![pointer; signal_api::limits::MAX_ATTACHMENTS + 1],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let long = "Marmot ".repeat(signal_api::limits::MAX_BODY_LEN / 7 + 1);
    p.send_text(CHANNEL, &long).await.unwrap();
    // And a normal hotline message after them still gets through.
    p.send_text(CHANNEL, "Marmots sighted").await.unwrap();
    admin.wait_queued(&ch, 4);
    let v = admin.mailbox(&ch);
    assert_eq!(v["stats"]["rejected"], 2, "{v}");
    assert_eq!(v["stats"]["processed"], 2, "{v}");
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    // The admin gets the good hotline message only.
    let got = receive_until(&mut admin_phone, WAIT, |m| {
        bodies(m).iter().any(|b| b.contains("Marmots sighted"))
    })
    .await;
    let more = admin_phone
        .receive_for(Duration::from_millis(1500))
        .await
        .unwrap();
    let seen: Vec<String> = bodies(&got).into_iter().chain(bodies(&more)).collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].ends_with("Marmots sighted"), "{seen:?}");
    // Alive, and the log names the refusal without the content.
    assert_eq!(http_get(stack.health, "/healthz").unwrap().0, 200);
    let log = stack.host_log();
    for named in [
        "content over its limit: attachments",
        "content over its limit: message body",
    ] {
        assert!(log.contains(named), "{named} not in the log: {log}");
    }
    assert!(!log.contains("Marmot"), "a body reached the log");
}

#[tokio::test(flavor = "current_thread")]
async fn a_rolled_back_account_chunk_is_refused() {
    let w = World::bare(ADMIN, CHANNEL, &[]);
    let (stack, admin, ch) = (&w.stack, &w.cli, w.ch.clone());
    let list = || async {
        let r = blob_call(
            stack,
            BlobRequest::List {
                prefix: format!("ch/{ch}/ps/").into_bytes(),
                limit: 100,
            },
        )
        .await;
        let BlobResponse::Names { names } = r else {
            panic!("{r:?}")
        };
        names
    };
    // Registration wrote generation 1; the hostile host keeps a copy of its chunk.
    let before = list().await;
    assert_eq!(before.len(), 1, "{before:?}");
    let (old_name, _) = &before[0];
    assert!(old_name.ends_with(b"/ps/1/0"));
    let BlobResponse::Blob { data: old, .. } = blob_call(
        stack,
        BlobRequest::Get {
            name: old_name.clone(),
        },
    )
    .await
    else {
        panic!("no chunk")
    };
    admin.mailbox(&ch);
    let after = list().await;
    assert_eq!(after.len(), 1, "old generation collected: {after:?}");
    let (new_name, version) = after[0].clone();
    assert!(new_name.ends_with(b"/ps/2/0"));
    // Serve the old chunk under the new name.
    blob_call(
        stack,
        BlobRequest::Delete {
            name: new_name.clone(),
            expected: version,
        },
    )
    .await;
    let r = blob_call(
        stack,
        BlobRequest::Put {
            name: new_name,
            expected: 0,
            data: old,
        },
    )
    .await;
    assert!(matches!(r, BlobResponse::Written { .. }), "{r:?}");
    let (code, out, err) = admin.run(&["mailbox", &ch, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("integrity_failure"), "{out}{err}");
}
