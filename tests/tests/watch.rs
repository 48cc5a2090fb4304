//! How admin clients get asked to unlock (DESIGN §4.5, SPEC §3.7), with real processes:
//! `sealboost watch` in poll mode, push + auto, push + manual (declined: no unlock happens;
//! approved: the mailbox runs), a wrong SK proof refused by name, and a client that connects
//! after messages queued getting the notice at once.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use enclave::vault::{names, ChannelId};
use sealboost_tests::signal::{bodies, phone, receive_until, AdminCli, World};
use sealboost_tests::{bin, blob_call, Sim, Stack};
use serde_json::Value;
use wire::blob::{BlobRequest, BlobResponse};

const ADMIN: &str = "+15550001001";
const CHANNEL: &str = "+15550009000";
const WRITER: &str = "+15550002001";
const WAIT: Duration = Duration::from_secs(20);

/// A running `sealboost watch … --json`: its stdout lines, parsed, arrive on a channel.
struct Watch {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Watch {
    fn start(admin: &AdminCli, stack: &Stack, args: &[&str]) -> Watch {
        let mut child = Command::new(bin("sealboost"))
            .arg("watch")
            .args(args)
            .arg("--json")
            .arg(format!("--connect={}", stack.ingress))
            .arg(format!("--state-dir={}", admin.state.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("watch printed a non-JSON line: {line}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Watch {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line satisfying `pred` (earlier lines are kept in `seen`).
    fn until(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("no matching watch line; saw {:?}", self.seen),
            }
        }
    }

    /// Lines printed within `d` (nothing matching is expected).
    fn quiet_for(&mut self, d: Duration) -> Vec<Value> {
        let deadline = Instant::now() + d;
        let mut got = Vec::new();
        while let Ok(v) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(v.clone());
            got.push(v);
        }
        got
    }

    fn answer(&mut self, a: &str) {
        writeln!(self.stdin, "{a}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for the process to exit by itself; returns its code.
    fn exit_code(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "watch did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_event(v: &Value, name: &str) -> bool {
    v["event"] == name
}

fn queue_length(admin: &AdminCli, ch: &str) -> u64 {
    let out = admin.ok(&["status", ch, "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    v["queue_length"].as_u64().unwrap()
}

/// The host's version of the channel's state blob: it changes with every unlock that
/// commits (a mailbox always commits), and with nothing else.
async fn state_version(stack: &Stack, ch: &str) -> u64 {
    let id = ChannelId::from_bytes(hex::decode(ch).unwrap().try_into().unwrap());
    match blob_call(
        stack,
        BlobRequest::Get {
            name: names::state(&id),
        },
    )
    .await
    {
        BlobResponse::Blob { version, .. } => version,
        other => panic!("{other:?}"),
    }
}

struct Setup {
    _tmp: tempfile::TempDir,
    sim: Sim,
    stack: Stack,
    admin: AdminCli,
    ch: String,
}

fn setup() -> Setup {
    let w = World::bare(ADMIN, CHANNEL, &[]);
    Setup {
        _tmp: w.tmp,
        sim: w.sim,
        stack: w.stack,
        admin: w.cli,
        ch: w.ch,
    }
}

fn hotline_reached(msgs: &[signal_client::phone::Received], text: &str) -> bool {
    bodies(msgs)
        .iter()
        .any(|b| b.contains("[HOTLINE FROM @") && b.contains(text))
}

#[tokio::test(flavor = "current_thread")]
async fn poll_mode_drains_a_hotline_message_to_the_admin() {
    let s = setup();
    let mut admin_phone = phone(&s.sim.info, ADMIN).await;
    let mut writer = phone(&s.sim.info, WRITER).await;
    writer.send_text(CHANNEL, "Is anyone there?").await.unwrap();
    s.admin.wait_queued(&s.ch, 1);

    // "Check now" at start: the waiting message is found and unlocked without delay.
    let mut w = Watch::start(
        &s.admin,
        &s.stack,
        &[&s.ch, "--mode", "auto", "--poll", "0.02"],
    );
    let first = w.until(WAIT, |v| is_event(v, "polled"));
    assert_eq!(first["waiting"], 1, "{first}");
    let unlocked = w.until(WAIT, |v| is_event(v, "unlocked"));
    assert_eq!(unlocked["mailbox"]["stats"]["processed"], 1, "{unlocked}");
    let got = receive_until(&mut admin_phone, WAIT, |m| {
        hotline_reached(m, "Is anyone there?")
    })
    .await;
    assert!(hotline_reached(&got, "Is anyone there?"), "{got:?}");

    // The next poll (1.2 s later) finds the next message.
    writer.send_text(CHANNEL, "Second question").await.unwrap();
    let unlocked = w.until(WAIT, |v| {
        is_event(v, "unlocked") && v["mailbox"]["stats"]["processed"] == 1
    });
    assert_eq!(unlocked["mailbox"]["remaining"], 0, "{unlocked}");
    let got = receive_until(&mut admin_phone, WAIT, |m| {
        hotline_reached(m, "Second question")
    })
    .await;
    assert!(hotline_reached(&got, "Second question"), "{got:?}");
    assert_eq!(queue_length(&s.admin, &s.ch), 0);
    assert!(
        w.seen.iter().filter(|v| is_event(v, "polled")).count() >= 2,
        "{:?}",
        w.seen
    );
}

#[tokio::test(flavor = "current_thread")]
async fn push_auto_delivers_a_hotline_message_without_anyone_running_a_command() {
    let s = setup();
    let mut admin_phone = phone(&s.sim.info, ADMIN).await;
    let mut writer = phone(&s.sim.info, WRITER).await;
    s.admin.ok(&["watch", &s.ch, "--set-mode", "auto"]);
    // No --mode: the stored setting (auto) applies.
    let mut w = Watch::start(&s.admin, &s.stack, &[&s.ch]);
    let c = w.until(WAIT, |v| is_event(v, "connected"));
    assert_eq!(c["mode"], "auto", "{c}");

    writer.send_text(CHANNEL, "Help needed").await.unwrap();
    let got = receive_until(&mut admin_phone, WAIT, |m| {
        hotline_reached(m, "Help needed")
    })
    .await;
    assert!(hotline_reached(&got, "Help needed"), "{got:?}");
    let unlocked = w.until(WAIT, |v| is_event(v, "unlocked"));
    assert_eq!(unlocked["mailbox"]["stats"]["processed"], 1, "{unlocked}");
    // The queue is empty again; the next message is pushed and delivered too.
    writer.send_text(CHANNEL, "Still there?").await.unwrap();
    let got = receive_until(&mut admin_phone, WAIT, |m| {
        hotline_reached(m, "Still there?")
    })
    .await;
    assert!(hotline_reached(&got, "Still there?"), "{got:?}");
    assert!(
        !w.seen.iter().any(|v| v["notice"] == "approval_needed"),
        "auto mode asked: {:?}",
        w.seen
    );
    assert_eq!(queue_length(&s.admin, &s.ch), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn push_manual_sends_no_key_until_approved_and_notifies_a_late_client_at_once() {
    let s = setup();
    let mut admin_phone = phone(&s.sim.info, ADMIN).await;
    let mut writer = phone(&s.sim.info, WRITER).await;

    // Queued while nobody is connected.
    writer.send_text(CHANNEL, "First").await.unwrap();
    s.admin.wait_queued(&s.ch, 1);
    let before = state_version(&s.stack, &s.ch).await;
    let epoch_file = s.admin.state.join("channels").join(&s.ch).join("epoch");
    let epoch_before = std::fs::read_to_string(&epoch_file).unwrap();

    // Default mode is manual; the connecting client is told at once.
    let started = Instant::now();
    let mut w = Watch::start(&s.admin, &s.stack, &[&s.ch]);
    let c = w.until(WAIT, |v| is_event(v, "connected"));
    assert_eq!(c["mode"], "manual", "{c}");
    let notice = w.until(WAIT, |v| v["notice"] == "approval_needed");
    assert_eq!(notice["waiting"], 1, "{notice}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // "n": the client declines; no unlock reached the enclave — the state blob was not
    // rewritten, the client's epoch did not move, and the message still waits.
    w.answer("n");
    w.until(WAIT, |v| is_event(v, "declined"));
    let quiet = w.quiet_for(Duration::from_millis(1500));
    assert!(!quiet.iter().any(|v| is_event(v, "unlocked")), "{quiet:?}");
    assert_eq!(state_version(&s.stack, &s.ch).await, before);
    assert_eq!(std::fs::read_to_string(&epoch_file).unwrap(), epoch_before);
    assert_eq!(queue_length(&s.admin, &s.ch), 1);
    let none = admin_phone
        .receive_for(Duration::from_millis(500))
        .await
        .unwrap();
    assert!(!hotline_reached(&none, "First"), "{none:?}");

    // The queue grows: a new notice; "y" runs the mailbox.
    writer.send_text(CHANNEL, "Second").await.unwrap();
    let notice = w.until(WAIT, |v| v["notice"] == "approval_needed");
    assert_eq!(notice["waiting"], 2, "{notice}");
    w.answer("y");
    let unlocked = w.until(WAIT, |v| is_event(v, "unlocked"));
    assert_eq!(unlocked["mailbox"]["stats"]["processed"], 2, "{unlocked}");
    assert!(state_version(&s.stack, &s.ch).await > before);
    assert_eq!(queue_length(&s.admin, &s.ch), 0);
    let got = receive_until(&mut admin_phone, WAIT, |m| {
        hotline_reached(m, "First") && hotline_reached(m, "Second")
    })
    .await;
    assert!(
        hotline_reached(&got, "First") && hotline_reached(&got, "Second"),
        "{got:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_sk_proof_is_refused_by_name() {
    let stack = Stack::start();
    let admin = AdminCli::new(&stack);
    let create = |who: &str| {
        let out = admin.ok(&["channel", "create", "--admin", who, "--json"]);
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        v["channel_id"].as_str().unwrap().to_owned()
    };
    let a = create(ADMIN);
    let b = create("+15550001002");
    // The right key proves itself (and nothing is waiting).
    let mut w = Watch::start(&admin, &stack, &[&a, "--mode", "auto"]);
    w.until(WAIT, |v| is_event(v, "connected"));
    drop(w);

    // After a rotation the new key proves itself (the verifier was rewritten) ...
    let dir = admin.state.join("channels");
    let old_sk = std::fs::read(dir.join(&a).join("sk")).unwrap();
    admin.ok(&["key", "rotate", &a]);
    assert_ne!(std::fs::read(dir.join(&a).join("sk")).unwrap(), old_sk);
    let mut w = Watch::start(&admin, &stack, &[&a, "--mode", "auto"]);
    w.until(WAIT, |v| is_event(v, "connected"));
    drop(w);

    // ... and neither the old key nor channel B's key does: refused, named, not retried.
    for wrong in [old_sk, std::fs::read(dir.join(&b).join("sk")).unwrap()] {
        std::fs::write(dir.join(&a).join("sk"), wrong).unwrap();
        let mut w = Watch::start(&admin, &stack, &[&a, "--mode", "auto"]);
        let e = w.until(WAIT, |v| v.get("error").is_some());
        assert_eq!(e["error"], "proof_failed", "{e}");
        assert_eq!(w.exit_code(WAIT), 1);
        assert!(
            !w.seen.iter().any(|v| is_event(v, "connected")),
            "{:?}",
            w.seen
        );
    }
}

/// The client's proof (client-verify) is what the enclave's verifier (VAULT.md §15) accepts,
/// and only for the same key, channel and TLS session.
#[test]
fn the_client_proof_is_what_the_enclave_verifies() {
    use client_verify::keystore::ChannelSk;
    use client_verify::watch::proof_response;
    use enclave::vault::lifecycle::{challenge, SkVerifier};
    use enclave::vault::{Sk, VaultError};
    use rand_core::OsRng;

    let id_bytes = [9u8; 16];
    let id = ChannelId::from_bytes(id_bytes);
    let verifier = SkVerifier::derive(&id, &Sk::from_bytes([5u8; 32]), 1);
    let binding = [3u8; 32];
    let answer = |sk: [u8; 32], chan: [u8; 16], bind: &[u8]| {
        let pending = challenge(&mut OsRng);
        let r = proof_response(
            &ChannelSk::from_bytes(sk),
            &chan,
            &pending.challenge().encode(),
            bind,
        )
        .unwrap();
        pending.verify(&id, &verifier, &binding, &r)
    };
    assert!(matches!(answer([5u8; 32], id_bytes, &binding), Ok(())));
    assert!(matches!(
        answer([6u8; 32], id_bytes, &binding),
        Err(VaultError::ProofFailed)
    ));
    assert!(matches!(
        answer([5u8; 32], [8u8; 16], &binding),
        Err(VaultError::ProofFailed)
    ));
    assert!(matches!(
        answer([5u8; 32], id_bytes, &[4u8; 32]),
        Err(VaultError::ProofFailed)
    ));
    // Malformed challenges are refused by the client, not answered.
    assert_eq!(
        proof_response(
            &ChannelSk::from_bytes([5u8; 32]),
            &id_bytes,
            &[0u8; 63],
            &binding
        ),
        None
    );
}
