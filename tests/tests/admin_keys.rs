//! Per-admin keys end to end (enclave VAULT.md §20, wire SPEC §3.6 "Admin proof"), with
//! real processes: holding SK no longer lets one admin cast another admin's vote or act as
//! them. Each admin's client holds only its own signing key; a request naming an admin must
//! carry that admin's signature over the request's TLS session binding.

#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use client_verify::session::AttestedSession;
use ed25519_dalek::{Signer as _, SigningKey};
use enclave::vault::admin_keys::auth_message;
use enclave::vault::model::Phone;
use sealboost_tests::lifecycle::{channel_id, fails, json, key_file, opts};
use sealboost_tests::signal::{add_admin, phone, wait_otp, AdminCli};
use sealboost_tests::{signed_sim_policy, Sim, Stack};
use serde_json::{json, Value};

const A: &str = "+15550001001";
const B: &str = "+15550001002";
const CHANNEL: &str = "+15550009000";

/// The SK in `cli`'s key file, base64 (what a client with SK sends).
fn sk_b64(cli: &AdminCli, ch: &str) -> String {
    let line = key_file(cli, ch);
    let hex_key = line.trim().rsplit(' ').next().unwrap();
    B64.encode(hex::decode(hex_key).unwrap())
}

/// `number`'s signing key as `cli` stores it (`sealboost-admin-key-v1 raw <hex seed>`).
fn signing_key(cli: &AdminCli, ch: &str, number: &str) -> SigningKey {
    let file = format!("admin-key.{}", number.trim_start_matches('+'));
    let line =
        std::fs::read_to_string(cli.state_dir().join("channels").join(ch).join(file)).unwrap();
    let seed = line
        .trim()
        .strip_prefix("sealboost-admin-key-v1 raw ")
        .unwrap();
    SigningKey::from_bytes(&hex::decode(seed).unwrap().try_into().unwrap())
}

/// One request on an attested session of its own, naming `admin`, with a proof by `signer`
/// over this session's binding (or none). Returns the status and the answer.
async fn raw_as(
    stack: &Stack,
    ch: &str,
    op: &str,
    mut body: Value,
    admin: &str,
    signer: Option<&SigningKey>,
) -> (u16, Value) {
    let policy = signed_sim_policy(stack, None).policy;
    let mut s = AttestedSession::connect_with(
        stack.ingress,
        &policy,
        attestation::UnixTime::now(),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap();
    body["admin"] = json!(admin);
    body["min_epoch"] = json!(0);
    if let Some(k) = signer {
        let msg = auth_message(
            &channel_id(ch),
            &Phone::parse(admin).unwrap(),
            s.tls_binding(),
        )
        .unwrap();
        body["admin_proof"] = json!(B64.encode(k.sign(&msg).to_bytes()));
    }
    let (status, resp) = s
        .send("POST", &format!("/v1/channels/{ch}/{op}"), body.to_string())
        .await
        .unwrap();
    (status, serde_json::from_slice(&resp).unwrap())
}

/// The attack of one admin alone: with threshold 2, A proposes a rotation and then votes
/// as B, once signing with A's own key and once with no proof. Both are refused with
/// 403 `admin_unauthorized`, the proposal stays pending, and B's own vote enacts it.
#[tokio::test(flavor = "current_thread")]
async fn one_admin_with_sk_cannot_vote_as_another() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let stack = Stack::start_with(opts(&sim, &tmp.path().join("stack")));
    let a = AdminCli::new(&stack);
    let b = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let mut b_phone = phone(&sim.info, B).await;
    add_admin(&a, &ch, B, &mut b_phone, &b).await;
    let v = json(&a.ok(&["admin", "threshold", &ch, "2", "--json"]));
    assert_eq!(v["threshold"], 2, "{v}");

    let v = json(&a.ok(&["key", "rotate", &ch, "--json"]));
    assert_eq!(v["outcome"], "pending", "{v}");
    let pid = v["proposal"].as_u64().unwrap();

    // A's client holds no key for B: `--as` no longer reaches another admin.
    let d = fails(
        &a,
        &["proposals", "approve", &ch, &pid.to_string(), "--as", B],
    );
    assert!(d.contains("holds no admin key for that number"), "{d}");

    // A crafts the vote by hand: SK is enough to open the state, but not to be B.
    let a_key = signing_key(&a, &ch, A);
    let vote = json!({ "sk": sk_b64(&a, &ch), "proposal": pid, "approve": true });
    let (status, v) = raw_as(&stack, &ch, "proposals/vote", vote.clone(), B, Some(&a_key)).await;
    assert_eq!((status, &v["error"]), (403, &json!("admin_unauthorized")));
    let (status, v) = raw_as(&stack, &ch, "proposals/vote", vote.clone(), B, None).await;
    assert_eq!((status, &v["error"]), (403, &json!("admin_unauthorized")));
    // A's own proof is good: voting again as A is refused as a vote, not as a forgery.
    let (status, v) = raw_as(&stack, &ch, "proposals/vote", vote, A, Some(&a_key)).await;
    assert_eq!((status, &v["error"]), (409, &json!("already_voted")), "{v}");

    let list = json(&a.ok(&["proposals", "list", &ch, "--json"]));
    let open = list["proposals"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{list}");
    assert_eq!(open[0]["approvals"], json!([1]), "{list}");
    assert_eq!(list["sk_generation"], 1, "{list}");

    // B's own client votes: enacted, once.
    let v = json(&b.ok(&["proposals", "approve", &ch, &pid.to_string(), "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    assert_eq!(v["sk_generation"], 2, "{v}");
}

/// A removed admin's key is dropped with their membership: with a stolen current SK and
/// their old key they cannot act. Re-invited, they register a new key; the old one stays
/// refused. A lost key is replaced by `admin resend` + accept (the passphrase sent to their
/// phone is their authority), which again ends the previous key.
#[tokio::test(flavor = "current_thread")]
async fn a_removed_admins_key_is_gone_and_a_reinvited_admins_new_key_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let stack = Stack::start_with(opts(&sim, &tmp.path().join("stack")));
    let a = AdminCli::new(&stack);
    let b = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let mut b_phone = phone(&sim.info, B).await;
    add_admin(&a, &ch, B, &mut b_phone, &b).await;
    let old_b_key = signing_key(&b, &ch, B);
    let list = json!({ "sk": sk_b64(&a, &ch) });
    let (status, v) = raw_as(&stack, &ch, "proposals/list", list, B, Some(&old_b_key)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["admin_index"], 2, "{v}");

    let v = json(&a.ok(&["admin", "remove", &ch, B, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    // B steals the new SK from A's machine: B is no admin, their key is gone.
    let stolen = json!({ "sk": sk_b64(&a, &ch) });
    let (status, v) = raw_as(
        &stack,
        &ch,
        "proposals/list",
        stolen.clone(),
        B,
        Some(&old_b_key),
    )
    .await;
    assert_eq!((status, &v["error"]), (400, &json!("bad_request")), "{v}");

    // Re-invited, B accepts with a new key; the old key no longer acts for B.
    let v = json(&a.ok(&["admin", "add", &ch, B, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    let (otp, _) = wait_otp(&mut b_phone).await;
    let v = b.accept(&ch, &otp, B);
    assert_eq!(v["admin_index"], 3, "{v}");
    assert_eq!(v["admin_key"], true, "{v}");
    let new_b_key = signing_key(&b, &ch, B);
    assert_ne!(new_b_key.verifying_key(), old_b_key.verifying_key());
    let (status, v) = raw_as(
        &stack,
        &ch,
        "proposals/list",
        stolen.clone(),
        B,
        Some(&old_b_key),
    )
    .await;
    assert_eq!(
        (status, &v["error"]),
        (403, &json!("admin_unauthorized")),
        "{v}"
    );
    let (status, v) = raw_as(
        &stack,
        &ch,
        "proposals/list",
        stolen.clone(),
        B,
        Some(&new_b_key),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["admin_index"], 3, "{v}");

    // B loses the key file: their CLI says what to do; a resend and accept replace it.
    let file = b
        .state_dir()
        .join("channels")
        .join(&ch)
        .join(format!("admin-key.{}", B.trim_start_matches('+')));
    std::fs::remove_file(&file).unwrap();
    let d = fails(&b, &["proposals", "list", &ch]);
    assert!(d.contains("admin resend"), "{d}");
    let v = json(&a.ok(&["admin", "resend", &ch, B, "--json"]));
    assert_eq!(v["pending"], false, "{v}");
    let (otp, _) = wait_otp(&mut b_phone).await;
    let v = b.accept(&ch, &otp, B);
    assert_eq!(v["admin_index"], 3, "{v}");
    assert_eq!(v["admin_key"], true, "{v}");
    let v = json(&b.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["admin_index"], 3, "{v}");
    let (status, v) = raw_as(&stack, &ch, "proposals/list", stolen, B, Some(&new_b_key)).await;
    assert_eq!(
        (status, &v["error"]),
        (403, &json!("admin_unauthorized")),
        "{v}"
    );
}
