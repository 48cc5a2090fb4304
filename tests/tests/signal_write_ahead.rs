//! Write-ahead sending end to end (COURIER.md §3.2, VAULT.md §21): no ciphertext leaves the
//! enclave before the protocol state that produced it is committed, so a host that refuses
//! (or loses) the state commit of an unlock cannot make the channel use a message key twice,
//! and what was committed as staged is delivered exactly once, even across a crash between
//! the commit and the sends. The host's faults come from its test-only fault switch
//! (`--danger-test-faults`), which a hostile host could do by itself.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::path::Path;
use std::time::Duration;

use sealboost_tests::signal::{bodies, phone, receive_until, AdminCli};
use sealboost_tests::{Sim, Stack, StackOpts};
use signal_client::phone::Phone;

const ADMIN: &str = "+15550001001";
const CHANNEL: &str = "+15550009000";
const SUBS: [&str; 2] = ["+15550002001", "+15550002002"];
const WAIT: Duration = Duration::from_secs(20);

fn opts(sim: &Sim, dir: &Path) -> StackOpts {
    std::fs::create_dir_all(dir).unwrap();
    StackOpts {
        signal: Some(sim.info.clone()),
        dir: Some(dir.to_path_buf()),
        danger_test_faults: Some(dir.join("faults")),
        ..Default::default()
    }
}

/// Two subscribers who joined and got their welcome.
async fn subscribers(sim: &Sim, cli: &AdminCli, ch: &str) -> Vec<Phone> {
    let mut subs = Vec::new();
    for n in SUBS {
        let mut p = phone(&sim.info, n).await;
        p.send_text(CHANNEL, "HELLO").await.unwrap();
        subs.push(p);
    }
    cli.wait_queued(ch, SUBS.len() as u64);
    let v = cli.mailbox(ch);
    assert_eq!(v["stats"]["processed"], SUBS.len(), "{v}");
    for p in &mut subs {
        let got = receive_until(p, WAIT, |m| !bodies(m).is_empty()).await;
        assert_eq!(bodies(&got).len(), 1, "one welcome");
    }
    subs
}

/// Receives until every text in `want` has arrived (then a little longer, to catch
/// repeats) and checks each arrived exactly once and nothing was refused as a repeat.
async fn exactly_once(p: &mut Phone, want: &[&str]) {
    let got = receive_until(p, WAIT, |m| {
        want.iter().all(|w| bodies(m).iter().any(|b| b.contains(w)))
    })
    .await;
    let more = p.receive_for(Duration::from_millis(1500)).await.unwrap();
    let texts: Vec<String> = bodies(&got).into_iter().chain(bodies(&more)).collect();
    for w in want {
        let n = texts.iter().filter(|b| b.contains(w)).count();
        assert_eq!(n, 1, "{w:?} arrived {n} times: {texts:?}");
    }
    // A message key used again for another message is refused by libsignal as a repeat
    // (`DuplicatedMessage`): none may have been.
    assert_eq!(p.duplicates, 0, "messages refused as repeats: {texts:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_state_commit_never_makes_the_channel_reuse_message_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &["--rate-burst", "0"]);
    let o = opts(&sim, &tmp.path().join("stack"));
    let faults = o.danger_test_faults.clone().unwrap();
    let stack = Stack::start_with(o);
    let cli = AdminCli::new(&stack);
    let ch = cli.channel(ADMIN, CHANNEL);
    let mut subs = subscribers(&sim, &cli, &ch).await;

    // The host refuses the state commit of the unlock that broadcasts (as a racing writer
    // would make it). Before write-ahead the broadcast had already gone out on keys the
    // rolled-back store then used again for the CLI's retry and every later message.
    std::fs::write(&faults, "conflict\n").unwrap();
    cli.ok(&["broadcast", &ch, "Harbour", "closed"]);
    assert!(!faults.exists(), "the fault fired");
    cli.ok(&["broadcast", &ch, "Harbour", "open"]);
    for p in &mut subs {
        exactly_once(p, &["Harbour closed", "Harbour open"]).await;
    }
    drop(stack);
}

#[tokio::test(flavor = "current_thread")]
async fn staged_messages_are_delivered_once_after_a_crash_between_commit_and_send() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &["--rate-burst", "0"]);
    let o = opts(&sim, &tmp.path().join("stack"));
    let faults = o.danger_test_faults.clone().unwrap();
    let mut stack = Stack::start_with(o.clone());
    let mut cli = AdminCli::new(&stack);
    let ch = cli.channel(ADMIN, CHANNEL);
    let mut subs = subscribers(&sim, &cli, &ch).await;

    // The host makes the broadcast's commit durable and dies before answering: the
    // enclave goes down with it before it sent anything.
    std::fs::write(&faults, "exit-after-write\n").unwrap();
    let (code, _, _) = cli.run(&["broadcast", &ch, "Ferry", "delayed"]);
    assert_ne!(code, 0, "the host died during the broadcast");
    assert!(!faults.exists(), "the fault fired");
    let _ = stack.host.wait();
    stack = Stack::start_with(o);
    cli.retarget(&stack);

    // The next unlock sends what was staged, before anything else.
    let v = cli.mailbox(&ch);
    assert!(
        v["stats"]["delivered"].as_u64().unwrap() >= SUBS.len() as u64,
        "{v}"
    );
    cli.ok(&["broadcast", &ch, "Ferry", "running"]);
    for p in &mut subs {
        exactly_once(p, &["Ferry delayed", "Ferry running"]).await;
    }
    // Nothing is left staged: another unlock sends nothing.
    let v = cli.mailbox(&ch);
    assert_eq!(v["stats"]["delivered"], 0, "{v}");
    drop(stack);
}
