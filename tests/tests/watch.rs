//! How admin clients get asked to unlock (DESIGN §4.5, SPEC §3.7), with real processes:
//! `sealboost watch` in poll mode, push + auto, push + manual (declined: no unlock happens;
//! approved: the mailbox runs; also as a worded prompt without `--json`), a wrong SK proof
//! refused by name, a client that connects after messages queued getting the notice at
//! once, and a running client that survives a host + enclave restart (reconnects,
//! re-attests, re-proves, and resumes the channel's Signal receipt with one unlock).

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use enclave::vault::{names, ChannelId};
use sealboost_tests::signal::{bodies, phone, receive_until, AdminCli, World};
use sealboost_tests::{bin, blob_call, Sim, Stack, StackOpts};
use serde_json::Value;
use wire::blob::{BlobRequest, BlobResponse};

const ADMIN: &str = "+15550001001";
const CHANNEL: &str = "+15550009000";
const WRITER: &str = "+15550002001";
const WAIT: Duration = Duration::from_secs(20);

/// A running `sealboost watch …`: its stdout lines arrive on a channel (parsed as JSON when
/// it runs with `--json`).
struct Watch {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<Value>,
    /// Every line read so far, as printed.
    text: Vec<String>,
}

impl Watch {
    fn start(admin: &AdminCli, stack: &Stack, args: &[&str]) -> Watch {
        Watch::spawn(admin, stack.ingress, args, true)
    }

    /// `sealboost watch ARGS` against `connect`, with `--json` if `json`.
    fn spawn(admin: &AdminCli, connect: SocketAddr, args: &[&str], json: bool) -> Watch {
        let mut child = Command::new(bin("sealboost"))
            .arg("watch")
            .args(args)
            .args(json.then_some("--json"))
            .arg(format!("--connect={connect}"))
            .arg(format!("--state-dir={}", admin.state.display()))
            .arg("--allow-simulated")
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
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Watch {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            text: Vec::new(),
        }
    }

    /// The next line, or `None` after `deadline`.
    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let line = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .ok()?;
        self.text.push(line.clone());
        Some(line)
    }

    fn parse(&mut self, line: &str) -> Value {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|_| panic!("watch printed a non-JSON line: {line}"));
        self.seen.push(v.clone());
        v
    }

    /// The next line satisfying `pred` (earlier lines are kept in `seen`).
    fn until(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(line) = self.next_line(deadline) else {
                panic!("no matching watch line; saw {:?}", self.seen)
            };
            let v = self.parse(&line);
            if pred(&v) {
                return v;
            }
        }
    }

    /// The next plain-text line containing `needle` (without `--json`).
    fn until_text(&mut self, timeout: Duration, needle: &str) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(line) = self.next_line(deadline) else {
                panic!("no watch line with {needle:?}; saw {:?}", self.text)
            };
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Lines printed within `d` (nothing matching is expected).
    fn quiet_for(&mut self, d: Duration) -> Vec<Value> {
        let deadline = Instant::now() + d;
        let mut got = Vec::new();
        while let Some(line) = self.next_line(deadline) {
            got.push(self.parse(&line));
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

/// What any unlock changes: the host's state-blob version and the admin client's
/// remembered epoch.
async fn unlock_marks(s: &Setup) -> (u64, String) {
    let epoch_file = s.admin.state.join("channels").join(&s.ch).join("epoch");
    (
        state_version(&s.stack, &s.ch).await,
        std::fs::read_to_string(epoch_file).unwrap(),
    )
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
    let before = unlock_marks(&s).await;

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
    assert_eq!(unlock_marks(&s).await, before);
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
    assert!(state_version(&s.stack, &s.ch).await > before.0);
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

/// A fixed local address that forwards each connection to the current stack's ingress: a
/// deployment's public address survives a restart, the harness's port 0 does not. It also
/// sees the wire: connections opened and bytes sent by the client.
struct Forwarder {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    wire: Arc<Wire>,
}

#[derive(Default)]
struct Wire {
    connections: AtomicU64,
    client_bytes: AtomicU64,
}

/// Copies until EOF or an error, counting into `count` if given. Bytes are counted before
/// they are passed on: the peer's answer to them can then never be seen before they are
/// counted (on a loaded machine this thread may be descheduled right after the write).
fn pump(mut from: TcpStream, mut to: TcpStream, count: Option<&AtomicU64>) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Some(c) = count {
            c.fetch_add(n as u64, Ordering::SeqCst);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Forwarder {
    fn start(target: SocketAddr) -> Forwarder {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let wire = Arc::new(Wire::default());
        let (t, w) = (target.clone(), wire.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                w.connections.fetch_add(1, Ordering::SeqCst);
                let to = *t.lock().unwrap();
                let w = w.clone();
                std::thread::spawn(move || {
                    // Host down: the client sees its connection closed, as it would.
                    let Ok(s) = TcpStream::connect(to) else {
                        return;
                    };
                    let (c2, s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
                    let up = std::thread::spawn(move || pump(c2, s2, Some(&w.client_bytes)));
                    pump(s, c, None);
                    let _ = up.join();
                });
            }
        });
        Forwarder { addr, target, wire }
    }

    fn retarget(&self, to: SocketAddr) {
        *self.target.lock().unwrap() = to;
    }

    /// (connections opened, bytes sent by clients) so far.
    fn seen(&self) -> (u64, u64) {
        (
            self.wire.connections.load(Ordering::SeqCst),
            self.wire.client_bytes.load(Ordering::SeqCst),
        )
    }
}

/// A push + auto client keeps working across a restart of the host and the enclave
/// under it: it sees the stream end, retries (`{"event":"retrying"}` / `disconnected`
/// lines), re-attests and re-proves SK on the new enclave, unlocks once to resume the
/// channel's Signal receipt, and a hotline message sent after the restart reaches the
/// admin's phone with the same `watch` process still running. Then a manual client across
/// an enclave-only crash.
#[tokio::test(flavor = "current_thread")]
async fn push_auto_reconnects_after_a_restart_and_delivers_without_restarting_watch() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    std::fs::create_dir_all(tmp.path().join("stack")).unwrap();
    let o = StackOpts {
        signal: Some(sim.info.clone()),
        dir: Some(tmp.path().join("stack")),
        ..Default::default()
    };
    let mut stack = Stack::start_with(o.clone());
    let mut admin = AdminCli::new(&stack);
    let ch = admin.channel(ADMIN, CHANNEL);
    let mut admin_phone = phone(&sim.info, ADMIN).await;
    let mut writer = phone(&sim.info, WRITER).await;
    let front = Forwarder::start(stack.ingress);

    let mut w = Watch::spawn(&admin, front.addr, &[&ch, "--mode", "auto"], true);
    let c = w.until(WAIT, |v| is_event(v, "connected"));
    assert_eq!(c["mode"], "auto", "{c}");
    writer
        .send_text(CHANNEL, "Before the restart")
        .await
        .unwrap();
    let got = receive_until(&mut admin_phone, WAIT, |m| {
        hotline_reached(m, "Before the restart")
    })
    .await;
    assert!(hotline_reached(&got, "Before the restart"), "{got:?}");
    w.until(WAIT, |v| is_event(v, "unlocked"));

    // Power cut for the host and the enclave; the same store comes back on a new port,
    // behind the same public address.
    stack.kill_host();
    let down = w.until(WAIT, |v| {
        is_event(v, "disconnected") || is_event(v, "retrying")
    });
    assert!(down.get("error").is_none(), "{down}");
    stack = Stack::start_with(o);
    front.retarget(stack.ingress);
    admin.retarget(&stack);
    let c = w.until(Duration::from_secs(40), |v| is_event(v, "connected"));
    assert_eq!(c["mode"], "auto", "{c}");
    // The new enclave runs no Signal receiver for the channel until an unlock (it needs the
    // account's credential): it asks for one (`"resume":true`) with nothing waiting, and
    // the auto client unlocks at once.
    let resumed = w.until(WAIT, |v| is_event(v, "unlocked"));
    assert_eq!(resumed["mailbox"]["stats"]["processed"], 0, "{resumed}");

    writer
        .send_text(CHANNEL, "After the restart")
        .await
        .unwrap();
    let got = receive_until(&mut admin_phone, WAIT, |m| {
        hotline_reached(m, "After the restart")
    })
    .await;
    assert!(hotline_reached(&got, "After the restart"), "{got:?}");
    let unlocked = w.until(WAIT, |v| is_event(v, "unlocked"));
    assert_eq!(unlocked["mailbox"]["stats"]["processed"], 1, "{unlocked}");
    assert!(w.child.try_wait().unwrap().is_none(), "watch exited");
    assert!(
        !w.seen.iter().any(|v| v.get("error").is_some()),
        "{:?}",
        w.seen
    );
    assert_eq!(queue_length(&admin, &ch), 0);

    // The enclave alone crashes (the host relaunches it) under a manual client: it
    // reconnects and is asked the same way, with the reason; nothing unlocks before "y".
    drop(w);
    let mut m = Watch::start(&admin, &stack, &[&ch, "--mode", "manual"]);
    m.until(WAIT, |v| is_event(v, "connected"));
    for pid in stack.enclave_pids() {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let notice = m.until(Duration::from_secs(40), |v| {
        v["notice"] == "approval_needed"
    });
    assert_eq!(notice["resume"], true, "{notice}");
    assert_eq!(notice["waiting"], 0, "{notice}");
    m.answer("y");
    let resumed = m.until(WAIT, |v| is_event(v, "unlocked"));
    assert_eq!(resumed["mailbox"]["stats"]["processed"], 0, "{resumed}");
    writer.send_text(CHANNEL, "Third").await.unwrap();
    let notice = m.until(WAIT, |v| v["notice"] == "approval_needed");
    assert_eq!(notice["waiting"], 1, "{notice}");
    assert!(notice.get("resume").is_none(), "{notice}");
    m.answer("y");
    let got = receive_until(&mut admin_phone, WAIT, |m| hotline_reached(m, "Third")).await;
    assert!(hotline_reached(&got, "Third"), "{got:?}");
}

/// Poll mode across a host + enclave restart: the new enclave's `status` says an unlock must
/// resume the channel's Signal receipt (`"resume": true`, nothing waiting yet), the auto
/// client unlocks once, and a hotline message sent after the restart is delivered.
#[tokio::test(flavor = "current_thread")]
async fn poll_mode_resumes_receipt_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &[]);
    std::fs::create_dir_all(tmp.path().join("stack")).unwrap();
    let o = StackOpts {
        signal: Some(sim.info.clone()),
        dir: Some(tmp.path().join("stack")),
        ..Default::default()
    };
    let mut stack = Stack::start_with(o.clone());
    let admin = AdminCli::new(&stack);
    let ch = admin.channel(ADMIN, CHANNEL);
    let mut admin_phone = phone(&sim.info, ADMIN).await;
    let mut writer = phone(&sim.info, WRITER).await;
    let front = Forwarder::start(stack.ingress);

    let mut w = Watch::spawn(
        &admin,
        front.addr,
        &[&ch, "--mode", "auto", "--poll", "0.02"],
        true,
    );
    let first = w.until(WAIT, |v| is_event(v, "polled"));
    assert_eq!(first["waiting"], 0, "{first}");
    assert_eq!(first["resume"], false, "{first}");

    stack.kill_host();
    stack = Stack::start_with(o);
    front.retarget(stack.ingress);
    let p = w.until(Duration::from_secs(40), |v| {
        is_event(v, "polled") && v["resume"] == true
    });
    assert_eq!(p["waiting"], 0, "{p}");
    let resumed = w.until(WAIT, |v| is_event(v, "unlocked"));
    assert_eq!(resumed["mailbox"]["stats"]["processed"], 0, "{resumed}");

    writer.send_text(CHANNEL, "Polled after").await.unwrap();
    let got = receive_until(&mut admin_phone, WAIT, |m| {
        hotline_reached(m, "Polled after")
    })
    .await;
    assert!(hotline_reached(&got, "Polled after"), "{got:?}");
    let unlocked = w.until(WAIT, |v| {
        is_event(v, "unlocked") && v["mailbox"]["stats"]["processed"] == 1
    });
    assert_eq!(unlocked["mailbox"]["remaining"], 0, "{unlocked}");
    // Receipt runs again: later polls do not ask to resume.
    let later = w.until(WAIT, |v| is_event(v, "polled"));
    assert_eq!(later["resume"], false, "{later}");
}

/// Manual mode without `--json`: the admin is asked in words on stdout; "n" sends no key
/// (asserted on the wire: no connection and no byte from the client after the prompt; and
/// no unlock reached the enclave: the state blob and the client's epoch are unchanged), "y"
/// unlocks on a new session and the message is delivered.
#[tokio::test(flavor = "current_thread")]
async fn manual_mode_prompts_in_words_and_sends_no_key_on_n() {
    let s = setup();
    let mut admin_phone = phone(&s.sim.info, ADMIN).await;
    let mut writer = phone(&s.sim.info, WRITER).await;
    writer.send_text(CHANNEL, "Anyone?").await.unwrap();
    s.admin.wait_queued(&s.ch, 1);
    let before = unlock_marks(&s).await;

    let front = Forwarder::start(s.stack.ingress);
    let mut w = Watch::spawn(&s.admin, front.addr, &[&s.ch, "--mode", "manual"], false);
    let hello = w.until_text(WAIT, "watching");
    assert!(hello.contains("manual mode"), "{hello}");
    let prompt = w.until_text(WAIT, "unlock now?");
    assert_eq!(
        prompt,
        format!("1 messages waiting on {} — unlock now? [y/N]", s.ch)
    );

    // On the wire so far: the events stream only (SK is never sent on it).
    let (conns, sent) = front.seen();
    assert_eq!(conns, 1);

    w.answer("n");
    w.until_text(WAIT, "not unlocked");
    // Give a wrongly sent key time to land before checking nothing changed.
    let deadline = Instant::now() + Duration::from_millis(1500);
    while let Some(line) = w.next_line(deadline) {
        assert!(!line.starts_with("unlocked"), "{line}");
    }
    // Declined: no new connection and not one more byte from the client.
    assert_eq!(front.seen(), (conns, sent));
    assert_eq!(unlock_marks(&s).await, before);
    assert_eq!(queue_length(&s.admin, &s.ch), 1);

    // The queue grows: asked again; "y" unlocks and delivers both.
    writer.send_text(CHANNEL, "Hello?").await.unwrap();
    let prompt = w.until_text(WAIT, "unlock now?");
    assert!(prompt.starts_with("2 messages waiting"), "{prompt}");
    assert_eq!(front.seen(), (conns, sent));
    w.answer("y");
    let unlocked = w.until_text(WAIT, "unlocked:");
    assert!(unlocked.starts_with("unlocked: 2 processed"), "{unlocked}");
    // Approved: the key went out on one new attested session, opened after the "y".
    let (conns_after, sent_after) = front.seen();
    assert_eq!(conns_after, conns + 1);
    assert!(sent_after > sent);
    assert!(state_version(&s.stack, &s.ch).await > before.0);
    assert_eq!(queue_length(&s.admin, &s.ch), 0);
    let got = receive_until(&mut admin_phone, WAIT, |m| {
        hotline_reached(m, "Anyone?") && hotline_reached(m, "Hello?")
    })
    .await;
    assert!(
        hotline_reached(&got, "Anyone?") && hotline_reached(&got, "Hello?"),
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

/// "Each admin client is notified on its next poll or push" of a proposal that
/// wants its vote — a push client at connect and when it changes, a poll client at its next
/// poll, including one the admin asks for by typing a line ("check now").
#[tokio::test(flavor = "current_thread")]
async fn proposals_reach_push_clients_at_once_and_poll_clients_at_check_now() {
    const SECOND: &str = "+15550001002";
    const THIRD: &str = "+15550001003";
    let s = setup();
    let second = AdminCli::new(&s.stack);
    let mut second_phone = phone(&s.sim.info, SECOND).await;
    sealboost_tests::signal::add_admin(&s.admin, &s.ch, SECOND, &mut second_phone, &second).await;
    s.admin.ok(&["admin", "threshold", &s.ch, "2"]);

    // A poll client (hourly) and a push client, both SECOND's, connected before anything
    // is proposed: nothing to vote on yet.
    let mut poll = Watch::start(
        &second,
        &s.stack,
        &[&s.ch, "--poll", "60", "--mode", "auto"],
    );
    poll.until(WAIT, |v| is_event(v, "polled"));
    let mut push = Watch::start(&second, &s.stack, &[&s.ch, "--mode", "auto"]);
    push.until(WAIT, |v| is_event(v, "connected"));
    let early: Vec<Value> = push
        .quiet_for(Duration::from_millis(500))
        .into_iter()
        .chain(poll.quiet_for(Duration::from_millis(10)))
        .collect();
    assert!(!early.iter().any(|v| is_event(v, "proposals")), "{early:?}");

    // ADMIN 1 proposes adding THIRD: the push client hears of it at once.
    let out = s.admin.ok(&["admin", "add", &s.ch, THIRD, "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["outcome"], "pending", "{v}");
    let pid = v["proposal"].as_u64().unwrap();
    let note = push.until(WAIT, |v| is_event(v, "proposals"));
    assert_eq!(note["open"], serde_json::json!([pid]), "{note}");

    // The hourly poll client learns it when the admin asks to check now.
    poll.answer("");
    poll.until(WAIT, |v| is_event(v, "check_now"));
    let note = poll.until(WAIT, |v| is_event(v, "proposals"));
    assert_eq!(note["open"], serde_json::json!([pid]), "{note}");

    // A client that connects later is told at connect.
    let mut late = Watch::start(&second, &s.stack, &[&s.ch, "--mode", "manual"]);
    let note = late.until(WAIT, |v| is_event(v, "proposals"));
    assert_eq!(note["open"], serde_json::json!([pid]), "{note}");

    // SECOND approves: the proposal is enacted and leaves the list, which the push
    // clients are told.
    let out = second.ok(&["proposals", "approve", &s.ch, &pid.to_string(), "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["outcome"], "enacted", "{v}");
    for w in [&mut push, &mut late] {
        let note = w.until(WAIT, |v| is_event(v, "proposals"));
        assert_eq!(note["open"], serde_json::json!([]), "{note}");
    }
}
