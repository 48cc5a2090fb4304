//! The key lifecycle end to end (wire SPEC §3.6, VAULT.md §11–§16), with real processes: host + simulated
//! enclave + signal-sim + simulated phones + one admin CLI (own key store) per admin.
//! Adding an admin sends a one-time passphrase over Signal from the channel number; a
//! lagging admin catches up after two rotations (across an enclave restart); removing an
//! admin re-keys the channel so their saved key and a replayed old blob open nothing new;
//! votes below the threshold do nothing and the deciding vote enacts exactly once.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::Duration;

use serde_json::Value;

use enclave::vault::limiter::FREE_ATTEMPTS;
use enclave::vault::{names, KeyRecord, Sk, VaultError};
use sealboost_tests::lifecycle::{channel_id, fails, get_blob, json, key_file, opts};
use sealboost_tests::signal::{add_admin, bodies, phone, receive_until, wait_otp, AdminCli};
use sealboost_tests::{blob_call, Sim, Stack};
use wire::blob::{BlobRequest, BlobResponse};

const A: &str = "+15550001001";
const B: &str = "+15550001002";
const C: &str = "+15550001003";
const D: &str = "+15550001004";
const CHANNEL: &str = "+15550009000";
const WAIT: Duration = Duration::from_secs(20);

fn sk_of(cli: &AdminCli, ch: &str) -> Sk {
    let line = key_file(cli, ch);
    let hex_key = line.trim().rsplit(' ').next().unwrap();
    Sk::from_bytes(hex::decode(hex_key).unwrap().try_into().unwrap())
}

async fn key_record(stack: &Stack, ch: &str) -> KeyRecord {
    match blob_call(
        stack,
        BlobRequest::Get {
            name: names::key_record(&channel_id(ch)),
        },
    )
    .await
    {
        BlobResponse::Blob { data, .. } => KeyRecord::decode(&data).unwrap(),
        other => panic!("{other:?}"),
    }
}

async fn put_blob(stack: &Stack, name: Vec<u8>, data: Vec<u8>) {
    let (version, _) = get_blob(stack, name.clone()).await.unwrap();
    let r = blob_call(
        stack,
        BlobRequest::Put {
            name,
            expected: version,
            data,
        },
    )
    .await;
    assert!(matches!(r, BlobResponse::Written { .. }), "{r:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn add_admin_otp_over_signal_single_use_rate_limited_and_expiring() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let stack = Stack::start_with(opts(&sim, &tmp.path().join("stack")));
    let a = AdminCli::new(&stack);
    let b = AdminCli::new(&stack);
    let c = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let mut b_phone = phone(&sim.info, B).await;
    let mut c_phone = phone(&sim.info, C).await;

    let v = json(&a.ok(&["admin", "add", &ch, B, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    assert_eq!(v["stats"]["delivered"], 1, "{v}");
    let (otp, body) = wait_otp(&mut b_phone).await;
    assert!(body.contains(&ch), "{body}");
    assert_eq!(otp.len(), 39, "{body}");

    // Wrong passphrases: refused, then rate-limited (5 free failures, then a delay that
    // doubles). Each CLI call attests afresh, so on a slow machine a call can outlast the
    // first 1-second delays; keep trying until a call lands inside one.
    let wrong = "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA";
    let mut details = Vec::new();
    while details.len() < 12 && !details.iter().any(|d: &String| d.contains("rate_limited")) {
        details.push(fails(
            &b,
            &["admin", "accept", &ch, "--otp", wrong, "--as", B],
        ));
    }
    let refused = details.iter().filter(|d| d.contains("otp_invalid")).count();
    assert!(
        refused >= FREE_ATTEMPTS as usize && refused < details.len(),
        "{details:?}"
    );
    assert!(
        details.last().unwrap().contains("rate_limited"),
        "{details:?}"
    );
    assert!(!b.state_dir().join("channels").join(&ch).join("sk").exists());
    // Only failures are throttled: the right passphrase is accepted at once, inside the
    // delay (whoever guesses cannot lock the invitee out) ...
    let v = json(&b.ok(&["admin", "accept", &ch, "--otp", &otp, "--as", B, "--json"]));
    assert_eq!(v["admin_index"], 2, "{v}");
    // ... and the guesser is still throttled (a failure while throttled counts and doubles
    // the delay, so one more guess lands inside it).
    for _ in 0..3 {
        let d = fails(&c, &["admin", "accept", &ch, "--otp", wrong, "--as", C]);
        if d.contains("rate_limited") {
            break;
        }
        assert!(d.contains("otp_invalid"), "{d}");
    }
    let d = fails(&c, &["admin", "accept", &ch, "--otp", wrong, "--as", C]);
    assert!(d.contains("rate_limited"), "{d}");
    assert_eq!(key_file(&a, &ch), key_file(&b, &ch));
    // B acts as an admin now.
    let v = json(&b.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["admin_index"], 2, "{v}");
    // Single use: the record is gone after the acknowledgement (checked on the store
    // below). The used passphrase is refused; while the guesser's delay runs, an unknown
    // passphrase is a throttled failure like any other.
    let d = fails(&c, &["admin", "accept", &ch, "--otp", &otp, "--as", C]);
    assert!(
        d.contains("otp_invalid") || d.contains("otp_used") || d.contains("rate_limited"),
        "{d}"
    );

    // Expiry: a 2-second passphrase is refused after 3 seconds, and C is no admin.
    let v = json(&a.ok(&["admin", "add", &ch, C, "--otp-ttl", "2", "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    let (otp_c, _) = wait_otp(&mut c_phone).await;
    std::thread::sleep(Duration::from_secs(3));
    let d = fails(&c, &["admin", "accept", &ch, "--otp", &otp_c, "--as", C]);
    assert!(d.contains("otp_expired"), "{d}");
    // Neither the passphrases nor the invited numbers reach the host's log.
    let log = stack.host_log();
    for secret in [otp.as_str(), otp_c.as_str(), B, C] {
        assert!(!log.contains(secret), "host log holds a secret");
    }
    // Both records are gone: B's after the acknowledgement, C's once it lapsed.
    let (_, set) = get_blob(&stack, names::otps(&channel_id(&ch)))
        .await
        .unwrap();
    let set = enclave::vault::lifecycle::OtpSet::decode(&set).unwrap();
    assert!(set.is_empty(), "{set:?}");
    let v = json(&a.ok(&["channel", "members", &ch, "--json"]));
    let admins = v.to_string();
    assert!(admins.contains(B) && !admins.contains(C), "{v}");
}

#[tokio::test(flavor = "current_thread")]
async fn lagging_admin_catches_up_after_two_rotations_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let o = opts(&sim, &tmp.path().join("stack"));
    let mut stack = Stack::start_with(o.clone());
    let mut a = AdminCli::new(&stack);
    let mut b = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let mut b_phone = phone(&sim.info, B).await;
    add_admin(&a, &ch, B, &mut b_phone, &b).await;
    let sk0 = sk_of(&b, &ch);
    let b_key0 = key_file(&b, &ch);

    let v = json(&a.ok(&["key", "rotate", &ch, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    assert_eq!(v["sk_generation"], 2, "{v}");
    assert_ne!(key_file(&a, &ch), b_key0);

    // Restart the enclave between the rotations and before anyone caught up.
    stack.kill_host();
    stack = Stack::start_with(o.clone());
    a.retarget(&stack);
    b.retarget(&stack);

    let v = json(&a.ok(&["key", "rotate", &ch, "--json"]));
    assert_eq!(v["sk_generation"], 3, "{v}");
    let sk2 = sk_of(&a, &ch);
    // B's SK0 no longer unwraps the key record; SK2 does.
    let record = key_record(&stack, &ch).await;
    assert!(matches!(record.unwrap(&sk0), Err(VaultError::WrongKey)));
    assert!(record.unwrap(&sk2).is_ok());
    assert_eq!(key_file(&b, &ch), b_key0);

    let v = json(&b.ok(&["key", "catch-up", &ch, "--json"]));
    assert_eq!(v["hops"], 2, "{v}");
    assert_eq!(key_file(&b, &ch), key_file(&a, &ch));
    assert!(!b
        .state_dir()
        .join("channels")
        .join(&ch)
        .join("sk.next")
        .exists());
    let v = json(&b.ok(&["key", "catch-up", &ch, "--json"]));
    assert_eq!(v["hops"], 0, "{v}");
    let v = json(&b.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["sk_generation"], 3, "{v}");

    // Another rotation, another restart; B's next unlock catches up by itself.
    a.ok(&["key", "rotate", &ch]);
    stack.kill_host();
    stack = Stack::start_with(o);
    a.retarget(&stack);
    b.retarget(&stack);
    let v = json(&b.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["sk_generation"], 4, "{v}");
    assert_eq!(key_file(&b, &ch), key_file(&a, &ch));
    drop(stack);
}

#[tokio::test(flavor = "current_thread")]
async fn threshold_two_of_three_enacts_once_concurrent_proposals_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let o = opts(&sim, &tmp.path().join("stack"));
    let mut stack = Stack::start_with(o.clone());
    let mut a = AdminCli::new(&stack);
    let mut b = AdminCli::new(&stack);
    let mut c = AdminCli::new(&stack);
    let mut d = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let mut b_phone = phone(&sim.info, B).await;
    let mut c_phone = phone(&sim.info, C).await;
    let mut d_phone = phone(&sim.info, D).await;
    add_admin(&a, &ch, B, &mut b_phone, &b).await;
    add_admin(&a, &ch, C, &mut c_phone, &c).await;
    let v = json(&a.ok(&["admin", "threshold", &ch, "2", "--json"]));
    assert_eq!(v["threshold"], 2, "{v}");
    // One admin cannot lower it again alone.
    let e = fails(&b, &["admin", "threshold", &ch, "1"]);
    assert!(e.contains("refused"), "{e}");
    let key_before = key_file(&a, &ch);

    // Two proposals at once; one approval each (the proposer's) does nothing.
    let rot = json(&a.ok(&["key", "rotate", &ch, "--json"]));
    assert_eq!(rot["outcome"], "pending", "{rot}");
    assert_eq!(rot["approvals"], 1, "{rot}");
    let add = json(&b.ok(&["admin", "add", &ch, D, "--json"]));
    assert_eq!(add["outcome"], "pending", "{add}");
    assert_eq!(key_file(&a, &ch), key_before);
    assert!(!a
        .state_dir()
        .join("channels")
        .join(&ch)
        .join("sk.next")
        .exists());

    // The other admins are told over Signal.
    let got = receive_until(&mut c_phone, WAIT, |m| {
        bodies(m)
            .iter()
            .any(|b| b.contains("proposes to rotate the channel key"))
    })
    .await;
    let note = bodies(&got)
        .into_iter()
        .find(|b| b.contains("proposes to rotate"))
        .unwrap_or_else(|| panic!("{got:?}"));
    assert!(
        note.contains(&format!("proposals approve {ch} {}", rot["proposal"])),
        "{note}"
    );

    // Enclave restart between propose and approve.
    stack.kill_host();
    stack = Stack::start_with(o);
    for cli in [&mut a, &mut b, &mut c, &mut d] {
        cli.retarget(&stack);
    }
    let list = json(&c.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(list["proposals"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list["sk_generation"], 1, "{list}");
    let rot_id = rot["proposal"].as_u64().unwrap().to_string();
    let add_id = add["proposal"].as_u64().unwrap().to_string();

    // A rejection by C leaves the rotation pending (B can still approve).
    let v = json(&c.ok(&["proposals", "reject", &ch, &rot_id, "--json"]));
    assert_eq!(v["outcome"], "pending", "{v}");
    let v = json(&b.ok(&["proposals", "approve", &ch, &rot_id, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    assert_eq!(v["sk_generation"], 2, "{v}");
    // Exactly once: the proposal is gone.
    let e = fails(&a, &["proposals", "approve", &ch, &rot_id]);
    assert!(
        e.contains("unknown_proposal") || e.contains("already_voted"),
        "{e}"
    );
    assert_eq!(key_file(&a, &ch), key_file(&b, &ch), "A caught up");

    // The add proposal was not disturbed by the rotation; C's approval enacts it.
    let list = json(&c.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(list["proposals"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["proposals"][0]["kind"], "add_admin", "{list}");
    let v = json(&c.ok(&["proposals", "approve", &ch, &add_id, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    let (otp, _) = wait_otp(&mut d_phone).await;
    let v = json(&d.ok(&["admin", "accept", &ch, "--otp", &otp, "--as", D, "--json"]));
    assert_eq!(v["admin_index"], 4, "{v}");
    // D got the SK of the generation the OTP was issued for: the current one.
    assert_eq!(key_file(&d, &ch), key_file(&c, &ch));
    let e = fails(&c, &["proposals", "approve", &ch, &add_id]);
    assert!(e.contains("unknown_proposal"), "{e}");

    // Rejections discard a proposal once the threshold is out of reach: D proposes to
    // remove A; A and B reject (still reachable), C's rejection discards it.
    let rm = json(&d.ok(&["admin", "remove", &ch, A, "--json"]));
    assert_eq!(rm["outcome"], "pending", "{rm}");
    let rm_id = rm["proposal"].as_u64().unwrap().to_string();
    for (cli, want) in [(&a, "pending"), (&b, "pending"), (&c, "discarded")] {
        let v = json(&cli.ok(&["proposals", "reject", &ch, &rm_id, "--json"]));
        assert_eq!(v["outcome"], want, "{v}");
    }
    let got = receive_until(&mut b_phone, WAIT, |m| {
        bodies(m).iter().any(|b| b.contains("was discarded"))
    })
    .await;
    assert!(
        bodies(&got).iter().any(|b| b.contains(&format!(
            "Proposal #{rm_id} was discarded: it can no longer reach its approvals"
        ))),
        "{got:?}"
    );
    let list = json(&a.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(list["proposals"].as_array().unwrap().len(), 0, "{list}");
    assert_eq!(list["admin_index"], 1, "{list}");
}

/// The channel's signed pre-key as the service hands it to anyone starting a session
/// (`GET /v2/keys/{aci}/1`, which also consumes a one-time key of each kind): its id and
/// public key, and the one-time EC key's id.
async fn channel_prekeys(p: &mut signal_client::phone::Phone) -> (Value, Value) {
    let aci = p.client.lookup(CHANNEL).await.unwrap().unwrap();
    let auth = p.client.account.credentials.basic_auth();
    let path = format!("/v2/keys/{}/1", aci.service_id_string());
    let r = p
        .client
        .http()
        .request(hyper::Method::GET, &path, &[("Authorization", &auth)], None)
        .await
        .unwrap();
    assert!(r.status.is_success(), "{}", r.status);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    let d = &v["devices"][0];
    (d["signedPreKey"].clone(), d["preKey"]["keyId"].clone())
}

#[tokio::test(flavor = "current_thread")]
async fn removed_admin_cannot_read_post_removal_data_others_get_new_key_by_otp() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let stack = Stack::start_with(opts(&sim, &tmp.path().join("stack")));
    let a = AdminCli::new(&stack);
    let b = AdminCli::new(&stack);
    let c = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let id = channel_id(&ch);
    let mut a_phone = phone(&sim.info, A).await;
    let mut b_phone = phone(&sim.info, B).await;
    let mut c_phone = phone(&sim.info, C).await;
    add_admin(&a, &ch, B, &mut b_phone, &b).await;
    add_admin(&a, &ch, C, &mut c_phone, &c).await;
    let b_sk = sk_of(&b, &ch);
    // What the host keeps from before the removal.
    let (_, old_state) = get_blob(&stack, names::state(&id)).await.unwrap();
    let (_, old_record) = get_blob(&stack, names::key_record(&id)).await.unwrap();
    let old_chunks = chunk_blobs(&stack, &id).await;

    // A message waits in the queue (sealed to the old EK) when the removal happens.
    let mut s1 = phone(&sim.info, "+15550002001").await;
    s1.send_text(CHANNEL, "HELLO").await.unwrap();
    a.wait_queued(&ch, 1);

    let (signed_before, one_time_before) = channel_prekeys(&mut s1).await;
    let v = json(&a.ok(&["admin", "remove", &ch, B, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    assert_eq!(v["kind"], "remove_admin", "{v}");
    // The removal rotated the pre-keys B's copy of the old state holds: a new signed
    // pre-key, and the service's one-time keys were replaced by a new batch.
    let (signed_after, one_time_after) = channel_prekeys(&mut s1).await;
    assert_ne!(
        signed_after["keyId"], signed_before["keyId"],
        "{signed_after}"
    );
    assert_ne!(
        signed_after["publicKey"], signed_before["publicKey"],
        "{signed_after}"
    );
    assert!(
        one_time_after.as_u64().unwrap() > one_time_before.as_u64().unwrap() + 1,
        "a fresh batch, not the next old key: {one_time_before} then {one_time_after}"
    );

    // C gets an OTP and a notice over Signal, redeems it and holds the new key.
    let (otp, body) = wait_otp(&mut c_phone).await;
    assert!(body.contains("was removed"), "{body}");
    let v = json(&c.ok(&["admin", "accept", &ch, "--otp", &otp, "--json"]));
    assert!(v["admin_index"].is_null(), "{v}");
    assert_eq!(key_file(&c, &ch), key_file(&a, &ch));
    let got = receive_until(&mut a_phone, WAIT, |m| {
        bodies(m).iter().any(|b| b.contains("was removed"))
    })
    .await;
    assert!(
        bodies(&got).iter().any(|b| b.contains("was removed")),
        "{got:?}"
    );

    // Post-removal data: a subscriber joins; the channel still works on Signal (the
    // account moved to the new DK, the live receiver seals to the new EK), and the message
    // that waited during the re-key was carried over.
    let mut s2 = phone(&sim.info, "+15550002002").await;
    s2.send_text(CHANNEL, "HELLO").await.unwrap();
    let mut processed = 0;
    let deadline = std::time::Instant::now() + WAIT;
    while processed < 2 && std::time::Instant::now() < deadline {
        let m = a.mailbox(&ch);
        assert_eq!(m["stats"]["rejected"], 0, "{m}");
        processed += m["stats"]["processed"].as_u64().unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(processed, 2);
    for p in [&mut s1, &mut s2] {
        let got = receive_until(p, WAIT, |m| !m.is_empty()).await;
        assert!(!got.is_empty());
    }
    let info = json(&a.ok(&["channel", "info", &ch, "--json"]));
    assert_eq!(info["subscribers"], 2, "{info}");

    // B's saved key: revoked, opens nothing.
    let e = fails(&b, &["proposals", "list", &ch]);
    assert!(e.contains("key_revoked"), "{e}");
    let record = key_record(&stack, &ch).await;
    assert!(matches!(record.unwrap(&b_sk), Err(VaultError::WrongKey)));
    // The new record is a new key epoch: the old DK opens no new state or inbound item.
    assert_eq!(record.key_epoch(), 2);
    let (_, new_state) = get_blob(&stack, names::state(&id)).await.unwrap();
    let old_dk = KeyRecord::decode(&old_record)
        .unwrap()
        .unwrap(&b_sk)
        .unwrap();
    assert!(matches!(
        enclave::vault::open_state(&old_dk, &id, 1, &new_state, 0),
        Err(VaultError::KeyEpochMismatch { .. })
    ));
    assert!(matches!(
        enclave::vault::open_state(&old_dk, &id, 2, &new_state, 0),
        Err(VaultError::KeyEpochMismatch { .. } | VaultError::Corrupt { .. })
    ));

    // The host replays the pre-removal state (and key record), and B unlocks with the old
    // key and no remembered epoch (a fresh client: `min_epoch` 0). The enclave has seen key
    // epoch 2 since it booted and refuses the old record (VAULT.md §18): B gets nothing, and
    // the live receiver is not re-armed on the old EK.
    put_blob(&stack, names::state(&id), old_state).await;
    let e = fails(&b, &["channel", "members", &ch]);
    assert!(e.contains("key_revoked"), "{e}");
    put_blob(&stack, names::key_record(&id), old_record).await;
    std::fs::remove_file(b.state_dir().join("channels").join(&ch).join("epoch")).ok();
    let e = fails(&b, &["channel", "info", &ch]);
    assert!(e.contains("rollback_detected"), "{e}");
    let e = fails(&b, &["channel", "members", &ch]);
    assert!(e.contains("rollback_detected"), "{e}");
    // With the old account chunks put back too, B's old key still runs no unlock of the old
    // state, and the live receiver is not re-armed on the old EK (COURIER.md §4): new
    // envelopes stay sealed to the new key epoch, which B's old DK cannot open.
    for (name, data) in old_chunks {
        let expected = get_blob(&stack, name.clone()).await.map_or(0, |(v, _)| v);
        let r = blob_call(
            &stack,
            BlobRequest::Put {
                name,
                expected,
                data,
            },
        )
        .await;
        assert!(matches!(r, BlobResponse::Written { .. }), "{r:?}");
    }
    let e = fails(&b, &["mailbox", &ch]);
    assert!(e.contains("rollback_detected"), "{e}");
    let before = queue_items(&stack, &id).await.len();
    let mut s3 = phone(&sim.info, "+15550002003").await;
    s3.send_text(CHANNEL, "HELLO").await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let newest = loop {
        let items = queue_items(&stack, &id).await;
        if items.len() > before {
            break items.into_iter().last().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "nothing queued");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        newest[1..9],
        2u64.to_be_bytes(),
        "sealed to the old key epoch"
    );
    assert!(matches!(
        enclave::vault::open_inbound(&old_dk, &id, &newest),
        Err(VaultError::KeyEpochMismatch { .. })
    ));
}

/// The channel's inbound queue as the host stores it.
async fn queue_items(stack: &Stack, id: &enclave::vault::ChannelId) -> Vec<Vec<u8>> {
    let r = blob_call(
        stack,
        BlobRequest::QueueRange {
            queue: names::inbound(id),
            from: 0,
            max_items: 1024,
            max_bytes: 8 * 1024 * 1024,
        },
    )
    .await;
    let BlobResponse::Items { items } = r else {
        panic!("{r:?}")
    };
    items.into_iter().map(|(_, item)| item).collect()
}

/// The channel's account chunks as the host stores them (name, bytes).
async fn chunk_blobs(stack: &Stack, id: &enclave::vault::ChannelId) -> Vec<(Vec<u8>, Vec<u8>)> {
    let r = blob_call(
        stack,
        BlobRequest::List {
            prefix: format!("ch/{}/ps/", id.to_hex()).into_bytes(),
            limit: 1000,
        },
    )
    .await;
    let BlobResponse::Names { names } = r else {
        panic!("{r:?}")
    };
    let mut out = Vec::new();
    for (name, _) in names {
        out.push((name.clone(), get_blob(stack, name).await.unwrap().1));
    }
    out
}

/// VAULT.md §16: an enclave that dies after writing the stale table and the state but before
/// the key record leaves a usable channel. Simulated by the host putting the old key record
/// back after a rotation: the old key still unlocks, a retried rotation replaces the
/// leftover table entry, and a lagging admin catches up to the retried key.
#[tokio::test(flavor = "current_thread")]
async fn rotation_interrupted_before_the_key_record_leaves_a_usable_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let stack = Stack::start_with(opts(&sim, &tmp.path().join("stack")));
    let a = AdminCli::new(&stack);
    let b = AdminCli::new(&stack);
    let c = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let id = channel_id(&ch);
    let mut b_phone = phone(&sim.info, B).await;
    let mut c_phone = phone(&sim.info, C).await;
    add_admin(&a, &ch, B, &mut b_phone, &b).await;
    add_admin(&a, &ch, C, &mut c_phone, &c).await;
    let (_, record1) = get_blob(&stack, names::key_record(&id)).await.unwrap();

    a.ok(&["key", "rotate", &ch]);
    put_blob(&stack, names::key_record(&id), record1).await;

    // B's key (generation 1) still unlocks; B retries the rotation.
    let v = json(&b.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["admin_index"], 2, "{v}");
    let v = json(&b.ok(&["key", "rotate", &ch, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    let record = key_record(&stack, &ch).await;
    assert!(record.unwrap(&sk_of(&b, &ch)).is_ok());
    // C (generation 1) reaches B's key in one hop: the leftover entry was replaced.
    let v = json(&c.ok(&["key", "catch-up", &ch, "--json"]));
    assert_eq!(v["hops"], 1, "{v}");
    assert_eq!(key_file(&c, &ch), key_file(&b, &ch));
    let (_, stale) = get_blob(&stack, names::stale_keys(&id)).await.unwrap();
    let table = enclave::vault::lifecycle::StaleTable::decode(&stale).unwrap();
    assert_eq!(table.entries().len(), 1, "{table:?}");
}

/// Admins hold SK, so there is one way in and one way out: ADD over Signal is the same
/// proposal as `sealboost admin add` (votes, then a one-time passphrase), and REMOVE / LEAVE of
/// an admin over Signal, or `channel change-members --remove`, change nothing and point to
/// `sealboost admin remove` (which re-keys).
#[tokio::test(flavor = "current_thread")]
async fn signal_add_is_a_voted_invitation_and_admins_leave_only_by_rekey() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let stack = Stack::start_with(opts(&sim, &tmp.path().join("stack")));
    let a = AdminCli::new(&stack);
    let b = AdminCli::new(&stack);
    let c = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let mut a_phone = phone(&sim.info, A).await;
    let mut b_phone = phone(&sim.info, B).await;
    let mut c_phone = phone(&sim.info, C).await;
    add_admin(&a, &ch, B, &mut b_phone, &b).await;
    json(&a.ok(&["admin", "threshold", &ch, "2", "--json"]));

    // ADD from A's phone under threshold 2: a proposal with A's approval; B is asked.
    a_phone
        .send_text(CHANNEL, &format!("ADD {C}"))
        .await
        .unwrap();
    a.wait_queued(&ch, 1);
    let v = a.mailbox(&ch);
    assert_eq!(v["invited"], 0, "{v}");
    let got = receive_until(&mut a_phone, WAIT, |m| {
        bodies(m)
            .iter()
            .any(|b| b.contains("Adding an admin needs 2"))
    })
    .await;
    assert!(
        bodies(&got)
            .iter()
            .any(|b| b.contains("Adding an admin needs 2")),
        "{got:?}"
    );
    let got = receive_until(&mut b_phone, WAIT, |m| {
        bodies(m)
            .iter()
            .any(|b| b.contains("proposes adding an admin"))
    })
    .await;
    assert!(
        bodies(&got)
            .iter()
            .any(|b| b.contains("ADMIN 1 proposes adding an admin")),
        "{got:?}"
    );
    let list = json(&b.ok(&["proposals", "list", &ch, "--json"]));
    let p = &list["proposals"][0];
    assert_eq!(p["kind"], "add_admin", "{list}");
    assert_eq!(p["phone"], C, "{list}");
    // Nothing reached C yet, and C is no admin.
    let members = json(&a.ok(&["channel", "members", &ch, "--json"])).to_string();
    assert!(!members.contains(C), "{members}");

    // B's approval enacts it: C gets a passphrase and becomes ADMIN 3 by redeeming it.
    let pid = p["id"].as_u64().unwrap().to_string();
    let v = json(&b.ok(&["proposals", "approve", &ch, &pid, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    let (otp, _) = wait_otp(&mut c_phone).await;
    assert_eq!(c.accept(&ch, &otp, C)["admin_index"], 3);

    // REMOVE of an admin over Signal changes nothing and names the way that re-keys.
    let generation = json(&a.ok(&["proposals", "list", &ch, "--json"]))["sk_generation"].clone();
    a_phone
        .send_text(CHANNEL, &format!("REMOVE {B}"))
        .await
        .unwrap();
    c_phone.send_text(CHANNEL, "LEAVE").await.unwrap();
    a.wait_queued(&ch, 2);
    a.mailbox(&ch);
    let got = receive_until(&mut a_phone, WAIT, |m| {
        let b = bodies(m);
        b.iter().any(|t| t.contains("Removing ADMIN 2 re-keys"))
            && b.iter().any(|t| t.contains("ADMIN 3 asked to leave"))
    })
    .await;
    let texts = bodies(&got);
    assert!(
        texts.iter().any(|t| t.contains("sealboost admin remove")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("ADMIN 3 asked to leave")),
        "{texts:?}"
    );
    // The maintenance route refuses admins too.
    let e = fails(&a, &["channel", "change-members", &ch, "--remove", B]);
    assert!(e.contains("bad_request"), "{e}");
    let list = json(&a.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(list["sk_generation"], generation, "{list}");
    let members = json(&a.ok(&["channel", "members", &ch, "--json"])).to_string();
    assert!(members.contains(B) && members.contains(C), "{members}");
}

/// A re-key's passphrases can be sent again (`admin resend`): to an admin whose passphrase
/// never arrived or was lost, never to a removed admin, never to oneself.
#[tokio::test(flavor = "current_thread")]
async fn resend_gives_a_remaining_admin_a_fresh_passphrase_after_a_rekey() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let stack = Stack::start_with(opts(&sim, &tmp.path().join("stack")));
    let a = AdminCli::new(&stack);
    let b = AdminCli::new(&stack);
    let c = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let mut b_phone = phone(&sim.info, B).await;
    let mut c_phone = phone(&sim.info, C).await;
    add_admin(&a, &ch, B, &mut b_phone, &b).await;
    add_admin(&a, &ch, C, &mut c_phone, &c).await;

    let v = json(&a.ok(&["admin", "remove", &ch, C, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    // B's passphrase arrives, and B loses it.
    let (lost, _) = wait_otp(&mut b_phone).await;

    let v = json(&a.ok(&["admin", "resend", &ch, B, "--json"]));
    assert_eq!(v["pending"], false, "{v}");
    assert_eq!(v["stats"]["delivered"], 1, "{v}");
    let (otp, body) = wait_otp(&mut b_phone).await;
    assert_ne!(otp, lost);
    assert!(body.contains("current key"), "{body}");
    // A resend to an admin is bound to their number: accepting it also re-enrols their
    // signing key (VAULT.md §20), under the index they keep.
    let v = b.accept(&ch, &otp, B);
    assert_eq!(v["admin_index"], 2, "{v}");
    assert_eq!(v["admin_key"], true, "{v}");
    assert_eq!(key_file(&a, &ch), key_file(&b, &ch));
    let v = json(&b.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["admin_index"], 2, "{v}");

    // Not to the removed admin, not to oneself.
    let e = fails(&a, &["admin", "resend", &ch, C]);
    assert!(e.contains("bad_request"), "{e}");
    let e = fails(&a, &["admin", "resend", &ch, A]);
    assert!(e.contains("refused"), "{e}");
    // C's phone got the removal notice, and no passphrase.
    let got = receive_until(&mut c_phone, WAIT, |m| {
        bodies(m).iter().any(|t| t.contains("You were removed"))
    })
    .await;
    let texts = bodies(&got);
    assert!(
        texts.iter().any(|t| t.contains("You were removed")),
        "{texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("one-time passphrase")),
        "{texts:?}"
    );
}
