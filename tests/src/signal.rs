//! Signal-side helpers for end-to-end tests: simulated phones that talk to the running
//! signal-sim exactly as the app would, and the admin CLI set up against a stack.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use signal_client::phone::{Phone, Received};
use signal_client::transport::{TcpConnector, TlsTrust};
use signal_client::ServiceConfig;

use crate::{bin, signed_sim_policy, SimInfo, Stack};

/// A phone's view of the service: plain TCP to the sim, its CA pinned.
pub fn phone_config(sim: &SimInfo) -> ServiceConfig {
    let ca = std::fs::read(&sim.ca_pem).unwrap();
    let root = std::fs::read_to_string(&sim.trust_root).unwrap();
    let root =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, root.trim()).unwrap();
    ServiceConfig {
        connector: Arc::new(TcpConnector::new(sim.addr.to_string())),
        tls: TlsTrust::pinned(&ca, &sim.addr.ip().to_string()).unwrap(),
        trust_root: libsignal_protocol::PublicKey::deserialize(&root).unwrap(),
        max_connections: 4,
    }
}

/// Registers a phone for `number` (the sim accepts any code).
pub async fn phone(sim: &SimInfo, number: &str) -> Phone {
    Phone::register(&phone_config(sim), number, "123456", None)
        .await
        .unwrap()
}

/// Receives until `pred` holds for the messages so far (or the timeout passes); returns
/// every message received.
pub async fn receive_until(
    phone: &mut Phone,
    timeout: Duration,
    pred: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while !pred(&got) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        got.extend(
            phone
                .receive_for(left.min(Duration::from_millis(500)))
                .await
                .unwrap(),
        );
    }
    got
}

/// A simulated phone and what it received that no check has taken yet. Several messages
/// often arrive together; each check takes only the one it is about, and fails (naming the
/// phone, its device, what was wanted and what is in the inbox) if it has not come within
/// [`Handset::wait`].
///
/// The phone's Signal calls are boxed here: its futures are large, and a test with many
/// awaits would otherwise overflow the test thread's stack in a debug build.
#[derive(Debug)]
pub struct Handset {
    pub p: Phone,
    /// Received, not yet taken by any check.
    pub inbox: Vec<Received>,
    /// Every body this phone ever received (for number-leak checks).
    pub all: Vec<String>,
    /// Bounds a wait for something that must arrive; never a pause.
    pub wait: Duration,
    /// How long [`Handset::quiet`] listens to show that nothing more arrives.
    pub quiet_for: Duration,
}

impl Handset {
    /// Default [`Handset::wait`].
    pub const WAIT: Duration = Duration::from_secs(30);
    /// Default [`Handset::quiet_for`].
    pub const QUIET: Duration = Duration::from_millis(1500);

    /// Wraps a registered phone, with the default waits.
    pub fn new(p: Phone) -> Handset {
        Handset {
            p,
            inbox: Vec::new(),
            all: Vec::new(),
            wait: Handset::WAIT,
            quiet_for: Handset::QUIET,
        }
    }

    /// Registers a phone for `number` (see [`phone`]).
    pub async fn register(sim: &SimInfo, number: &str) -> Handset {
        Handset::new(Box::pin(phone(sim, number)).await)
    }

    /// Sets how long a check waits for what must arrive, and how long [`Handset::quiet`]
    /// listens.
    #[must_use]
    pub fn waits(mut self, wait: Duration, quiet: Duration) -> Handset {
        self.wait = wait;
        self.quiet_for = quiet;
        self
    }

    /// Receives for `wait` into the inbox.
    pub async fn pull(&mut self, wait: Duration) {
        let got = Box::pin(self.p.receive_for(wait)).await.unwrap();
        self.all.extend(bodies(&got));
        self.inbox.extend(got);
    }

    /// Takes the first message satisfying `pred`, receiving until one comes (`what` names
    /// it in the failure message).
    pub async fn take(&mut self, what: &str, pred: impl Fn(&Received) -> bool) -> Received {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            if let Some(i) = self.inbox.iter().position(&pred) {
                return self.inbox.remove(i);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "phone {} (device {}) wanted {what} within {:?}, has {:#?}",
                self.p.e164(),
                self.p.device_id(),
                self.wait,
                bodies(&self.inbox)
            );
            self.pull(left.min(Duration::from_millis(500))).await;
        }
    }

    /// Takes the first message whose body contains `needle`; returns its body.
    pub async fn expect(&mut self, needle: &str) -> String {
        let m = self
            .take(&format!("a body containing {needle:?}"), |m| {
                m.body.as_deref().is_some_and(|b| b.contains(needle))
            })
            .await;
        m.body.unwrap()
    }

    /// Takes a message whose body is exactly `text`; returns it.
    pub async fn expect_exact(&mut self, text: &str) -> String {
        let m = self
            .take(&format!("the body {text:?}"), |m| {
                m.body.as_deref() == Some(text)
            })
            .await;
        m.body.unwrap()
    }

    /// Takes a message whose body ends with `tail`; returns the body.
    pub async fn expect_ending(&mut self, tail: &str) -> String {
        let m = self
            .take(&format!("a body ending …{tail:?}"), |m| {
                m.body.as_deref().is_some_and(|b| b.ends_with(tail))
            })
            .await;
        m.body.unwrap()
    }

    /// Takes a timer update to `secs`.
    pub async fn expect_timer(&mut self, secs: u32) -> Received {
        self.take(&format!("a timer update to {secs} s"), |m| {
            m.is_timer_update && m.expire_timer == Some(secs)
        })
        .await
    }

    /// Receives until a body equal to `text` is in the inbox; returns every body up to and
    /// including it, taking all those messages out of the inbox.
    pub async fn through(&mut self, text: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            if let Some(i) = self
                .inbox
                .iter()
                .position(|m| m.body.as_deref() == Some(text))
            {
                return bodies(&self.inbox.drain(..=i).collect::<Vec<_>>());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "phone {} (device {}) wanted everything through {text:?} within {:?}, has {:#?}",
                self.p.e164(),
                self.p.device_id(),
                self.wait,
                bodies(&self.inbox)
            );
            self.pull(left.min(Duration::from_millis(500))).await;
        }
    }

    /// Every message not yet taken, after listening for [`Handset::quiet_for`] more; the
    /// inbox is empty afterwards.
    pub async fn quiet(&mut self) -> Vec<Received> {
        self.pull(self.quiet_for).await;
        std::mem::take(&mut self.inbox)
    }
}

/// Bodies of received messages.
pub fn bodies(msgs: &[Received]) -> Vec<String> {
    msgs.iter().filter_map(|m| m.body.clone()).collect()
}

/// The one-time passphrase in an invitation or re-key notice from the channel (the text
/// after "(valid N h): " up to the end of that line).
pub fn otp_in(body: &str) -> Option<String> {
    let after = body.split("): ").nth(1)?;
    Some(after.split('\n').next()?.trim().to_owned())
}

/// Waits (20 s at most) for a message holding a one-time passphrase, in any language (the
/// command line that redeems it is never translated); returns the passphrase and the whole
/// text.
pub async fn wait_otp(p: &mut Phone) -> (String, String) {
    const MARK: &str = "sealboost admin accept ";
    let got = receive_until(p, Duration::from_secs(20), |m| {
        bodies(m).iter().any(|b| b.contains(MARK))
    })
    .await;
    let b = bodies(&got)
        .into_iter()
        .find(|b| b.contains(MARK))
        .unwrap_or_else(|| panic!("no one-time passphrase arrived: {got:?}"));
    (otp_in(&b).unwrap(), b)
}

/// `inviter` runs `sealboost admin add CH NUMBER` (threshold 1), the passphrase arrives on
/// `p` over Signal, and `new` (the invitee's own CLI) redeems it. Returns the new admin index.
pub async fn add_admin(
    inviter: &AdminCli,
    ch: &str,
    number: &str,
    p: &mut Phone,
    new: &AdminCli,
) -> u64 {
    let out = inviter.ok(&["admin", "add", ch, number, "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["outcome"], "enacted", "{v}");
    let (otp, _) = wait_otp(p).await;
    let v = new.accept(ch, &otp, number);
    let n = v["admin_index"].as_u64().unwrap();
    assert!(n >= 2, "{v}");
    n
}

/// The admin CLI (`sealboost`) with its own state directory, pinned to the stack's policy.
#[derive(Debug)]
pub struct AdminCli {
    pub state: PathBuf,
    _tmp: tempfile::TempDir,
    connect: std::net::SocketAddr,
}

impl AdminCli {
    pub fn new(stack: &Stack) -> AdminCli {
        let tmp = tempfile::tempdir().unwrap();
        let dp = signed_sim_policy(stack, None);
        std::fs::write(tmp.path().join("policy.signed"), &dp.signed_file).unwrap();
        std::fs::write(tmp.path().join("release-key.pub"), &dp.release_key_hex).unwrap();
        AdminCli {
            state: tmp.path().to_path_buf(),
            _tmp: tmp,
            connect: stack.ingress,
        }
    }

    /// Points the CLI at another stack (e.g. the same store after a host restart).
    pub fn retarget(&mut self, stack: &Stack) {
        self.connect = stack.ingress;
    }

    /// `sealboost mailbox CHANNEL --json`, parsed.
    pub fn mailbox(&self, ch: &str) -> serde_json::Value {
        let out = self.ok(&["mailbox", ch, "--json"]);
        serde_json::from_str(out.trim()).unwrap()
    }

    /// Polls `sealboost status` until at least `n` messages wait (20 s at most).
    pub fn wait_queued(&self, ch: &str, n: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.ok(&["status", ch, "--json"]);
            let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
            if v["queue_length"].as_u64().unwrap() >= n {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {v} waiting, wanted {n}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `sealboost ARGS`; returns exit code, stdout, stderr.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(bin("sealboost"))
            .args(args)
            .arg(format!("--connect={}", self.connect))
            .arg(format!("--state-dir={}", self.state.display()))
            .arg("--allow-simulated")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "sealboost {args:?} failed: {err}{out}");
        out
    }

    /// Creates a channel with `admin` as ADMIN 1 and registers `number` as its Signal
    /// number. Returns the channel id.
    pub fn channel(&self, admin: &str, number: &str) -> String {
        let out = self.ok(&["channel", "create", "--admin", admin, "--json"]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let ch = v["channel_id"].as_str().unwrap().to_owned();
        self.ok(&[
            "channel",
            "register-number",
            &ch,
            "--number",
            number,
            "--code",
            "123456",
        ]);
        ch
    }

    /// `sealboost admin accept CH --otp OTP --as NUMBER --json`: redeems an invitation (or a
    /// re-key passphrase) and stores SK; returns the answer (`admin_index`, …).
    pub fn accept(&self, ch: &str, otp: &str, number: &str) -> serde_json::Value {
        let out = self.ok(&[
            "admin", "accept", ch, "--otp", otp, "--as", number, "--json",
        ]);
        serde_json::from_str(out.trim()).unwrap()
    }

    /// Another admin's CLI sharing this one's key directory (same machine, other number).
    pub fn state_dir(&self) -> &Path {
        &self.state
    }
}

/// A signal-sim, a stack wired to it, an admin CLI, and a channel with a registered Signal
/// number: the starting point of most end-to-end Signal tests.
#[derive(Debug)]
pub struct World {
    pub tmp: tempfile::TempDir,
    pub sim: crate::Sim,
    pub stack: Stack,
    pub cli: AdminCli,
    /// The channel id.
    pub ch: String,
}

impl World {
    /// Starts everything (`sim_args` go to `signal-sim serve`); `admin` gets a registered
    /// phone (returned) and becomes ADMIN 1 of a channel reachable at `channel_number`.
    pub async fn start(admin: &str, channel_number: &str, sim_args: &[&str]) -> (World, Phone) {
        let w = World::bare(admin, channel_number, sim_args);
        let admin_phone = phone(&w.sim.info, admin).await;
        (w, admin_phone)
    }

    /// As [`World::start`], without registering a phone for the admin.
    pub fn bare(admin: &str, channel_number: &str, sim_args: &[&str]) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let sim = crate::Sim::start(&tmp.path().join("sim"), sim_args);
        let stack = Stack::start_with(crate::StackOpts {
            signal: Some(sim.info.clone()),
            ..Default::default()
        });
        let cli = AdminCli::new(&stack);
        let ch = cli.channel(admin, channel_number);
        World {
            tmp,
            sim,
            stack,
            cli,
            ch,
        }
    }

    /// Waits for `n` queued messages and processes them; returns the `--json` answer.
    pub fn process(&self, n: u64) -> serde_json::Value {
        self.cli.wait_queued(&self.ch, n);
        let v = self.cli.mailbox(&self.ch);
        assert_eq!(v["stats"]["processed"], n, "{v}");
        v
    }
}

/// The sim's SIM-ONLY counters (signal-sim SPEC §7.11, `signal_sim::SimStats`), over its
/// pinned TLS.
pub async fn sim_stats<T: serde::de::DeserializeOwned>(sim: &SimInfo) -> T {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let cfg = phone_config(sim);
    let mut tls = cfg.tls.connect(cfg.connector.as_ref()).await.unwrap();
    let req = format!(
        "GET /v1/sim/stats HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        sim.addr
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    // The sim may close without a TLS close_notify; what was read is complete by then.
    let _ = tls.read_to_end(&mut resp).await;
    let resp = String::from_utf8(resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap()
}
