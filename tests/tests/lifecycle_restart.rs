//! "An enclave restart in the middle of each flow leaves a consistent state", end
//! to end with real processes (host + simulated enclave + signal-sim + phones + one admin
//! CLI per admin). Each test stops the host (and with it the enclave) at a named point of a
//! key-lifecycle flow and checks what a restarted stack does:
//!
//! - between `admin add` (OTP sent) and the invitee redeeming it;
//! - between `admin/redeem` (OTP used, SK answered) and `admin/accept` — with the answer
//!   saved by the client, and with the answer lost;
//! - between the invitation's commit and its Signal send (the OTP never left);
//! - between a removal's re-key commit and its answer (the requester's new SK never came,
//!   the other admins' passphrases never left), enacted at once or by the deciding vote;
//! - between a rotation's commit and its answer (staged in the client's key store: the
//!   rotation sends nothing over Signal, so there is no send to stall).
//!
//! A proposal left open across a restart (threshold 2, the second approval enacting exactly
//! once) is `lifecycle.rs`'s `threshold_two_of_three_enacts_once_concurrent_proposals_across_a_restart`.
//!
//! "Between two writes" is reached without timing luck: the Signal stand-in is stopped
//! (SIGSTOP) so the enclave's first Signal send after the commit blocks, the test watches the
//! host's store until the commit is there, and then kills the host.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use client_verify::keystore::{ChannelSk, KeyStore};
use client_verify::session::AttestedSession;
use enclave::vault::{names, KeyRecord};
use sealboost_tests::lifecycle::{channel_id, fails, get_blob, has_key, json, key_file, opts};
use sealboost_tests::signal::{add_admin, bodies, phone, receive_until, wait_otp, AdminCli};
use sealboost_tests::{bin, signed_sim_policy, Sim, Stack, StackOpts};
use signal_client::phone::Phone as SimPhone;

const A: &str = "+15550001001";
const B: &str = "+15550001002";
const C: &str = "+15550001003";
const CHANNEL: &str = "+15550009000";
const WAIT: Duration = Duration::from_secs(20);

/// Nothing with a passphrase arrives on `p` within `d`.
async fn no_otp_for(p: &mut SimPhone, d: Duration) {
    let got = receive_until(p, d, |m| {
        bodies(m).iter().any(|b| b.contains("one-time passphrase"))
    })
    .await;
    assert!(
        !bodies(&got)
            .iter()
            .any(|b| b.contains("one-time passphrase")),
        "{got:?}"
    );
}

/// SIGKILLs the host (the enclave goes with it) and starts it again on the same store.
fn restart(stack: &mut Stack, o: &StackOpts, clis: &mut [&mut AdminCli]) {
    stack.kill_host();
    *stack = Stack::start_with(o.clone());
    for c in clis.iter_mut() {
        c.retarget(stack);
    }
}

fn signal_sim(sim: &Sim, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(sim.child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} signal-sim");
}

/// `sealboost ARGS --json` for `cli`, started in the background (it may never answer).
fn spawn_cli(cli: &AdminCli, stack: &Stack, args: &[&str]) -> Child {
    Command::new(bin("sealboost"))
        .args(args)
        .arg("--json")
        .arg(format!("--connect={}", stack.ingress))
        .arg(format!("--state-dir={}", cli.state_dir().display()))
        .arg("--allow-simulated")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Polls the host's store (every 20 ms, up to [`WAIT`]) until `done` holds.
async fn wait_store<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !done().await {
        assert!(Instant::now() < deadline, "store never showed: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `admin/redeem` alone, on an attested session of its own (what `sealboost admin accept`
/// does first). Returns the SK answered.
async fn redeem_only(stack: &Stack, ch: &str, otp: &str) -> ChannelSk {
    let policy = signed_sim_policy(stack, None).policy;
    let mut s = AttestedSession::connect_with(
        stack.ingress,
        &policy,
        attestation::UnixTime::now(),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap();
    let body = serde_json::json!({ "otp": otp }).to_string();
    let (status, resp) = s
        .send("POST", &format!("/v1/channels/{ch}/admin/redeem"), body)
        .await
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!(v["sk_generation"], 1, "{v}");
    let raw = B64.decode(v["sk"].as_str().unwrap()).unwrap();
    ChannelSk::from_bytes(raw.try_into().unwrap())
}

/// A restart after the invitation went out: the passphrase still works (the OTP set and the
/// pending admin are in the store; only the wrong-guess limiter lived in memory), once.
#[tokio::test(flavor = "current_thread")]
async fn an_invitation_sent_before_a_restart_is_redeemed_after_it_once() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let o = opts(&sim, &tmp.path().join("stack"));
    let mut stack = Stack::start_with(o.clone());
    let mut a = AdminCli::new(&stack);
    let mut b = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let mut b_phone = phone(&sim.info, B).await;

    let v = json(&a.ok(&["admin", "add", &ch, B, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    assert_eq!(v["stats"]["delivered"], 1, "{v}");
    let otp = wait_otp(&mut b_phone).await.0;

    restart(&mut stack, &o, &mut [&mut a, &mut b]);

    let v = json(&b.ok(&["admin", "accept", &ch, "--otp", &otp, "--as", B, "--json"]));
    assert_eq!(v["admin_index"], 2, "{v}");
    assert_eq!(key_file(&a, &ch), key_file(&b, &ch));
    let v = json(&b.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["admin_index"], 2, "{v}");
    // Once: the record was deleted at the acknowledgement.
    let e = fails(&b, &["admin", "accept", &ch, "--otp", &otp, "--as", B]);
    assert!(e.contains("otp_invalid"), "{e}");
    let (_, set) = get_blob(&stack, names::otps(&channel_id(&ch)))
        .await
        .unwrap();
    let set = enclave::vault::lifecycle::OtpSet::decode(&set).unwrap();
    assert!(set.is_empty(), "{set:?}");
    let members = a.ok(&["channel", "members", &ch, "--json"]);
    assert!(members.contains(B), "{members}");
}

/// A restart between `admin/redeem` and `admin/accept`. The redeem marked the OTP used, so
/// it is not answered twice (`otp_used`); a client that saved the answered SK (the CLI saves
/// it before anything else) finishes by running `admin accept` again. A client that lost the
/// answer gets `otp_used` and no key; the documented way forward (SPEC §3.6: an admin sends
/// a fresh passphrase with `admin resend`) works.
#[tokio::test(flavor = "current_thread")]
async fn a_restart_between_redeem_and_accept_leaves_the_invitee_a_way_to_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let o = opts(&sim, &tmp.path().join("stack"));
    let mut stack = Stack::start_with(o.clone());
    let mut a = AdminCli::new(&stack);
    let mut b = AdminCli::new(&stack);
    let mut c = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let mut b_phone = phone(&sim.info, B).await;
    let mut c_phone = phone(&sim.info, C).await;

    // B: the answer reached B's key store, then the stack went down.
    a.ok(&["admin", "add", &ch, B]);
    let otp_b = wait_otp(&mut b_phone).await.0;
    let sk = redeem_only(&stack, &ch, &otp_b).await;
    KeyStore::open(b.state_dir())
        .save_sk(&ch, &sk, None)
        .unwrap();
    drop(sk);
    // C: the answer was lost with the stack.
    a.ok(&["admin", "add", &ch, C]);
    let otp_c = wait_otp(&mut c_phone).await.0;
    drop(redeem_only(&stack, &ch, &otp_c).await);

    restart(&mut stack, &o, &mut [&mut a, &mut b, &mut c]);

    // Neither is an admin yet: both are still pending in the state.
    let v = json(&a.ok(&["channel", "info", &ch, "--json"]));
    assert_eq!(v["admins"], 1, "{v}");

    // B runs the same command again and finishes with the key it saved.
    let v = json(&b.ok(&["admin", "accept", &ch, "--otp", &otp_b, "--as", B, "--json"]));
    assert_eq!(v["admin_index"], 2, "{v}");
    assert_eq!(key_file(&a, &ch), key_file(&b, &ch));
    let v = json(&b.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["admin_index"], 2, "{v}");

    // C has no key: the used passphrase is refused by name, and nothing was saved.
    let e = fails(&c, &["admin", "accept", &ch, "--otp", &otp_c, "--as", C]);
    assert!(e.contains("otp_used"), "{e}");
    assert!(!has_key(&c, &ch));
    // A sends C a fresh passphrase (no vote: the pending entry's passphrase is replaced);
    // the new one works and the old one is gone.
    let v = json(&a.ok(&["admin", "resend", &ch, C, "--json"]));
    assert_eq!(v["pending"], true, "{v}");
    assert_eq!(v["stats"]["delivered"], 1, "{v}");
    let otp_c2 = wait_otp(&mut c_phone).await.0;
    assert_ne!(otp_c2, otp_c);
    let v = json(&c.ok(&[
        "admin", "accept", &ch, "--otp", &otp_c2, "--as", C, "--json",
    ]));
    assert_eq!(v["admin_index"], 3, "{v}");
    assert_eq!(key_file(&a, &ch), key_file(&c, &ch));
    let e = fails(&c, &["admin", "accept", &ch, "--otp", &otp_c, "--as", C]);
    assert!(e.contains("otp_invalid"), "{e}");
    let (_, set) = get_blob(&stack, names::otps(&channel_id(&ch)))
        .await
        .unwrap();
    let set = enclave::vault::lifecycle::OtpSet::decode(&set).unwrap();
    assert!(set.is_empty(), "{set:?}");
}

/// A restart after the invitation was committed (OTP record and pending admin stored) but
/// before its Signal message left: the invitee never sees a passphrase; re-inviting the
/// same number replaces the orphaned record and works.
#[tokio::test(flavor = "current_thread")]
async fn a_restart_between_the_invitations_commit_and_its_send_is_mended_by_reinviting() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let o = opts(&sim, &tmp.path().join("stack"));
    let mut stack = Stack::start_with(o.clone());
    let mut a = AdminCli::new(&stack);
    let mut b = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let id = channel_id(&ch);
    let mut b_phone = phone(&sim.info, B).await;
    let (state_before, _) = get_blob(&stack, names::state(&id)).await.unwrap();
    assert!(get_blob(&stack, names::otps(&id)).await.is_none());

    // Signal stalls: the enclave commits the invitation, then blocks on the send.
    signal_sim(&sim, "STOP");
    let mut add = spawn_cli(&a, &stack, &["admin", "add", &ch, B]);
    wait_store("the invitation's commit", || async {
        let otps = get_blob(&stack, names::otps(&id)).await;
        let state = get_blob(&stack, names::state(&id)).await.unwrap().0;
        otps.is_some() && state > state_before
    })
    .await;
    stack.kill_host();
    let _ = add.kill();
    let _ = add.wait();
    signal_sim(&sim, "CONT");
    stack = Stack::start_with(o.clone());
    a.retarget(&stack);
    b.retarget(&stack);

    // The record is there, the message never was.
    let (_, set) = get_blob(&stack, names::otps(&id)).await.unwrap();
    let set = enclave::vault::lifecycle::OtpSet::decode(&set).unwrap();
    assert!(!set.is_empty(), "{set:?}");
    no_otp_for(&mut b_phone, Duration::from_secs(2)).await;

    let v = json(&a.ok(&["admin", "add", &ch, B, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    let otp = wait_otp(&mut b_phone).await.0;
    let v = json(&b.ok(&["admin", "accept", &ch, "--otp", &otp, "--as", B, "--json"]));
    assert_eq!(v["admin_index"], 2, "{v}");
    assert_eq!(key_file(&a, &ch), key_file(&b, &ch));
    // The orphaned record was replaced at the re-invitation, the new one deleted at accept.
    let (_, set) = get_blob(&stack, names::otps(&id)).await.unwrap();
    let set = enclave::vault::lifecycle::OtpSet::decode(&set).unwrap();
    assert!(set.is_empty(), "{set:?}");
}

/// A removal's re-key commits the new key record and state, then sends the other admins'
/// passphrases over Signal, then answers the requester with the new SK. A restart after the
/// commit and before the answer must not leave a channel whose new SK nobody holds: the
/// requester's client saved the new SK before proposing (VAULT.md §13), so its next command
/// catches up to it; the remaining admin, whose passphrase never left, gets a fresh one with
/// `sealboost admin resend`; the removed admin stays out.
#[tokio::test(flavor = "current_thread")]
async fn a_restart_between_a_rekeys_commit_and_its_answer_leaves_the_requester_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let o = opts(&sim, &tmp.path().join("stack"));
    let mut stack = Stack::start_with(o.clone());
    let mut a = AdminCli::new(&stack);
    let mut b = AdminCli::new(&stack);
    let mut c = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let id = channel_id(&ch);
    let mut b_phone = phone(&sim.info, B).await;
    let mut c_phone = phone(&sim.info, C).await;
    add_admin(&a, &ch, B, &mut b_phone, &b).await;
    add_admin(&a, &ch, C, &mut c_phone, &c).await;

    signal_sim(&sim, "STOP");
    let mut rm = spawn_cli(&a, &stack, &["admin", "remove", &ch, B]);
    wait_store("the re-key's commit", || async {
        let (_, record) = get_blob(&stack, names::key_record(&id)).await.unwrap();
        KeyRecord::decode(&record).unwrap().key_epoch() == 2
            && get_blob(&stack, names::rekey_undo(&id)).await.is_none()
    })
    .await;
    stack.kill_host();
    let _ = rm.kill();
    let _ = rm.wait();
    signal_sim(&sim, "CONT");
    restart(&mut stack, &o, &mut [&mut a, &mut b, &mut c]);

    // The requester reaches the new key (by itself on its next command).
    let v = json(&a.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["sk_generation"], 2, "{v}");
    assert_eq!(v["admin_index"], 1, "{v}");
    // B is out for good; C's old key is revoked too, until C redeems a passphrase.
    let e = fails(&b, &["proposals", "list", &ch]);
    assert!(e.contains("key_revoked"), "{e}");
    let e = fails(&c, &["proposals", "list", &ch]);
    assert!(e.contains("key_revoked"), "{e}");
    let v = json(&a.ok(&["admin", "resend", &ch, C, "--json"]));
    assert_eq!(v["stats"]["delivered"], 1, "{v}");
    let otp = wait_otp(&mut c_phone).await.0;
    // A resend to an admin re-enrols their signing key under the index they keep
    // (VAULT.md §20).
    let v = json(&c.ok(&["admin", "accept", &ch, "--otp", &otp, "--json"]));
    assert_eq!(v["admin_index"], 3, "{v}");
    assert_eq!(v["admin_key"], true, "{v}");
    assert_eq!(key_file(&c, &ch), key_file(&a, &ch));
    let v = json(&c.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["sk_generation"], 2, "{v}");
    let members = a.ok(&["channel", "members", &ch, "--json"]);
    assert!(!members.contains(B), "{members}");
}

/// The same interruption when a vote enacts the removal (threshold 2): the approving admin's
/// client saved the new SK before voting, so after the restart it holds the new key; the
/// proposer (whose key the re-key revoked and whose passphrase never left) gets in with
/// `admin resend`, and the proposal is gone (enacted exactly once).
#[tokio::test(flavor = "current_thread")]
async fn a_restart_while_a_vote_enacted_rekey_sends_leaves_the_approver_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let o = opts(&sim, &tmp.path().join("stack"));
    let mut stack = Stack::start_with(o.clone());
    let mut a = AdminCli::new(&stack);
    let mut b = AdminCli::new(&stack);
    let mut c = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let id = channel_id(&ch);
    let mut a_phone = phone(&sim.info, A).await;
    let mut b_phone = phone(&sim.info, B).await;
    let mut c_phone = phone(&sim.info, C).await;
    add_admin(&a, &ch, B, &mut b_phone, &b).await;
    add_admin(&a, &ch, C, &mut c_phone, &c).await;
    a.ok(&["admin", "threshold", &ch, "2"]);
    let rm = json(&a.ok(&["admin", "remove", &ch, B, "--json"]));
    assert_eq!(rm["outcome"], "pending", "{rm}");
    let rm_id = rm["proposal"].as_u64().unwrap().to_string();
    // The proposer's client kept no successor for a pending proposal.
    assert!(!a
        .state_dir()
        .join("channels")
        .join(&ch)
        .join("sk.next")
        .exists());

    signal_sim(&sim, "STOP");
    let mut vote = spawn_cli(&c, &stack, &["proposals", "approve", &ch, &rm_id]);
    wait_store("the vote's re-key commit", || async {
        let (_, record) = get_blob(&stack, names::key_record(&id)).await.unwrap();
        KeyRecord::decode(&record).unwrap().key_epoch() == 2
            && get_blob(&stack, names::rekey_undo(&id)).await.is_none()
    })
    .await;
    stack.kill_host();
    let _ = vote.kill();
    let _ = vote.wait();
    signal_sim(&sim, "CONT");
    restart(&mut stack, &o, &mut [&mut a, &mut b, &mut c]);

    let v = json(&c.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["sk_generation"], 2, "{v}");
    assert_eq!(v["proposals"].as_array().unwrap().len(), 0, "{v}");
    let e = fails(&a, &["proposals", "list", &ch]);
    assert!(e.contains("key_revoked"), "{e}");
    let v = json(&c.ok(&["admin", "resend", &ch, A, "--json"]));
    assert_eq!(v["stats"]["delivered"], 1, "{v}");
    let otp = wait_otp(&mut a_phone).await.0;
    a.ok(&["admin", "accept", &ch, "--otp", &otp]);
    assert_eq!(key_file(&a, &ch), key_file(&c, &ch));
    let e = fails(&a, &["proposals", "approve", &ch, &rm_id]);
    assert!(e.contains("unknown_proposal"), "{e}");
    let e = fails(&b, &["proposals", "list", &ch]);
    assert!(e.contains("key_revoked"), "{e}");
}

/// A rotation whose answer was lost when the stack went down right after its commit (the
/// rotation sends nothing over Signal, so this is the only window after its commit). The
/// client state that leaves is staged exactly: the rotating client saved the new SK beside
/// the old one before proposing and never made it current. After the restart its next
/// command presents the saved successor and makes it current; a lagging admin catches up.
#[tokio::test(flavor = "current_thread")]
async fn a_rotation_answer_lost_in_a_restart_is_recovered_from_the_saved_successor() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    let o = opts(&sim, &tmp.path().join("stack"));
    let mut stack = Stack::start_with(o.clone());
    let mut a = AdminCli::new(&stack);
    let mut b = AdminCli::new(&stack);
    let ch = a.channel(A, CHANNEL);
    let mut b_phone = phone(&sim.info, B).await;
    a.ok(&["admin", "add", &ch, B]);
    let otp = wait_otp(&mut b_phone).await.0;
    b.ok(&["admin", "accept", &ch, "--otp", &otp, "--as", B]);
    let keys = a.state_dir().join("channels").join(&ch);
    let old_key = key_file(&a, &ch);

    let v = json(&a.ok(&["key", "rotate", &ch, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    assert_eq!(v["sk_generation"], 2, "{v}");
    let new_key = key_file(&a, &ch);
    assert_ne!(new_key, old_key);
    // What A's store held had the answer not arrived.
    // (`copy` keeps the key file's 0600 mode; the store refuses anything looser.)
    std::fs::copy(keys.join("sk"), keys.join("sk.next")).unwrap();
    std::fs::write(keys.join("sk"), &old_key).unwrap();

    restart(&mut stack, &o, &mut [&mut a, &mut b]);

    let v = json(&a.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["sk_generation"], 2, "{v}");
    assert_eq!(key_file(&a, &ch), new_key);
    assert!(!keys.join("sk.next").exists());
    let v = json(&b.ok(&["key", "catch-up", &ch, "--json"]));
    assert_eq!(v["hops"], 1, "{v}");
    assert_eq!(key_file(&b, &ch), new_key);
    // The old key opens nothing any more: it is only a way to the new one.
    let record = {
        let (_, data) = get_blob(&stack, names::key_record(&channel_id(&ch)))
            .await
            .unwrap();
        KeyRecord::decode(&data).unwrap()
    };
    let old_hex = old_key.trim().rsplit(' ').next().unwrap();
    let old_sk = enclave::vault::Sk::from_bytes(hex::decode(old_hex).unwrap().try_into().unwrap());
    assert!(matches!(
        record.unwrap(&old_sk),
        Err(enclave::vault::VaultError::WrongKey)
    ));
}
