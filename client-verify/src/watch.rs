//! `sealboost watch CHANNEL`: how this admin client gets asked to unlock (DESIGN §4.5,
//! SPEC §3.7).
//!
//! - `--poll MINUTES`: now, every MINUTES, and whenever the admin types a line ("check
//!   now"), open the events stream, prove SK, read the enclave's acknowledgement (queue
//!   length, `"resume": true` after an enclave restart, open proposals) and hang up; a
//!   non-empty queue (or a resume) is unlocked (asking first in `manual` mode).
//! - Both: open proposals are announced when they change (`{"event":"proposals"}`), so an
//!   admin learns a vote is wanted at the next poll or push.
//! - push (no `--poll`): hold the channel's events stream open, proving SK possession without
//!   sending SK; on `{"waiting":N}` either unlock unattended (`auto`) or ask the admin
//!   (`manual`: a prompt, or with `--json` a `{"notice":"approval_needed",…}` line answered by
//!   `y`/`n` on stdin). SK leaves this machine only for an approved unlock. After an
//!   enclave restart the stream reconnects (re-attesting, re-proving) and the enclave's
//!   `{"waiting":N,"resume":true}` asks for one unlock even with N = 0: until then Signal
//!   holds the channel's new messages.
//!
//! The mode is a per-client setting kept in the key store (`--set-mode`), default `manual`;
//! `--mode` overrides it for one run. Unlocks run the mailbox as no particular admin, so
//! what the relay addresses to admins reaches their phones over Signal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::admin::{AdminClient, AdminError};
use crate::attest_cli::EXIT_USAGE;
use crate::channel_cli::{fail, load_policy, passphrase, runtime, state_dir, Connection};
use crate::keystore::{ChannelSk, KeyStore};
use crate::session::{AttestedSession, SessionError};
use attestation::UnixTime;

/// The `Upgrade` token of the events stream (SPEC §3.7).
pub const PROTOCOL: &str = "sealboost-events/1";
/// Longest line read from the enclave on the events stream.
pub const MAX_EVENT_LINE: usize = 1024;
/// Challenge: 32-byte nonce ‖ 32-byte X25519 public key (VAULT.md §15).
pub const CHALLENGE_LEN: usize = 64;
/// Longest TLS binding a proof covers (VAULT.md §15).
pub const MAX_TLS_BINDING_LEN: usize = 64;
/// Reconnect backoff bounds.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A stream silent this long is dead (the enclave sends a keep-alive every 30 s).
pub const SILENCE_LIMIT: Duration = Duration::from_secs(75);
/// Name of the mode file in the channel's key-store directory.
const MODE_FILE: &str = "watch-mode";

const PROOF_INFO: &[u8] = b"sealboost sk proof v1";
const MAC_INFO: &[u8] = b"sealboost sk proof mac v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Ask the admin before every unlock.
    Manual,
    /// Unlock unattended.
    Auto,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Manual => "manual",
            Mode::Auto => "auto",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    pub channel: String,
    /// Ask before unlocking (`manual`) or unlock unattended (`auto`); default: the stored mode.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Poll instead of holding the events stream: check every MINUTES (and at start).
    #[arg(long, value_name = "MINUTES")]
    pub poll: Option<f64>,
    /// Store MODE as this client's setting for CHANNEL and exit.
    #[arg(long, value_enum)]
    pub set_mode: Option<Mode>,
    #[command(flatten)]
    pub conn: Connection,
}

/// Why the watch stopped or one attempt failed. No secrets.
#[derive(Debug)]
enum WatchFail {
    /// The enclave refused our proof of SK possession (`proof_failed`): not retried.
    ProofRefused,
    /// The channel has no verifier yet (`no_verifier`): not retried.
    NoVerifier,
    Admin(AdminError),
    Protocol(&'static str),
}

impl From<AdminError> for WatchFail {
    fn from(e: AdminError) -> Self {
        WatchFail::Admin(e)
    }
}
impl From<SessionError> for WatchFail {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Status { ref code, .. } if code == "no_verifier" => WatchFail::NoVerifier,
            e => WatchFail::Admin(AdminError::Session(e)),
        }
    }
}

fn channel_dir(c: &Connection, channel: &str) -> Option<PathBuf> {
    let ok = channel.len() == 32
        && channel
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then(|| state_dir(c).join("channels").join(channel))
}

/// The stored mode for `channel` (default manual).
fn stored_mode(c: &Connection, channel: &str) -> Mode {
    channel_dir(c, channel)
        .and_then(|d| std::fs::read_to_string(d.join(MODE_FILE)).ok())
        .map_or(Mode::Manual, |s| match s.trim() {
            "auto" => Mode::Auto,
            _ => Mode::Manual,
        })
}

fn save_mode(c: &Connection, channel: &str, mode: Mode) -> Result<(), String> {
    let dir = channel_dir(c, channel).ok_or("not a channel id")?;
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!("{MODE_FILE}.tmp"));
    std::fs::write(&tmp, format!("{}\n", mode.name())).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, dir.join(MODE_FILE)).map_err(|e| e.to_string())
}

/// The client's answer to a challenge (VAULT.md §15): proves SK without revealing it.
pub fn proof_response(
    sk: &ChannelSk,
    channel_id: &[u8; 16],
    challenge: &[u8],
    tls_binding: &[u8],
) -> Option<[u8; 32]> {
    if challenge.len() != CHALLENGE_LEN || tls_binding.len() > MAX_TLS_BINDING_LEN {
        return None;
    }
    let (nonce, eph) = challenge.split_at(32);
    let eph: [u8; 32] = eph.try_into().ok()?;
    let mut seed = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(channel_id), sk.expose())
        .expand(PROOF_INFO, &mut seed[..])
        .ok()?;
    let secret = StaticSecret::from(*seed);
    let verifier = PublicKey::from(&secret).to_bytes();
    let dh = secret.diffie_hellman(&PublicKey::from(eph));
    if !dh.was_contributory() {
        return None;
    }
    let mut info = Vec::with_capacity(MAC_INFO.len() + 64);
    info.extend_from_slice(MAC_INFO);
    info.extend_from_slice(&verifier);
    info.extend_from_slice(&eph);
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(channel_id), dh.as_bytes())
        .expand(&info, &mut key[..])
        .ok()?;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key[..]).ok()?;
    m.update(PROOF_INFO);
    m.update(nonce);
    m.update(&u16::try_from(tls_binding.len()).ok()?.to_be_bytes());
    m.update(tls_binding);
    Some(m.finalize().into_bytes().into())
}

/// Output: one JSON object per line with `--json`, a sentence otherwise.
fn emit(c: &Connection, v: &Value, human: &str) {
    if c.json {
        println!("{v}");
    } else {
        println!("{human}");
    }
}

/// Lines typed by the admin (read on a plain thread); `None` once stdin has closed.
struct Answers(Option<mpsc::Receiver<String>>);

impl Answers {
    fn start() -> Self {
        let (tx, rx) = mpsc::channel(4);
        std::thread::spawn(move || {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                if tx.blocking_send(line.trim().to_owned()).is_err() {
                    return;
                }
                line.clear();
            }
        });
        Self(Some(rx))
    }

    /// The next line; `None` once stdin has closed (and from then on, at once).
    async fn next(&mut self) -> Option<String> {
        let line = self.0.as_mut()?.recv().await;
        if line.is_none() {
            self.0 = None;
        }
        line
    }
}

struct Watcher<'a> {
    c: &'a Connection,
    channel: &'a str,
    mode: Mode,
    answers: Option<Answers>,
    /// Open proposal ids last announced (so each change is said once).
    proposals: Vec<u32>,
}

/// The events stream after the SK proof was accepted: its reader, its writer (kept open:
/// the stream ends when the client's side closes) and the enclave's acknowledgement.
type Stream = (
    tokio::io::BufReader<tokio::io::ReadHalf<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>>,
    tokio::io::WriteHalf<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>,
    Value,
);

impl Watcher<'_> {
    async fn connect(&self) -> Result<AttestedSession, WatchFail> {
        let policy = load_policy(self.c).map_err(|_| WatchFail::Protocol("policy"))?;
        Ok(AttestedSession::connect_with(
            self.c.connect,
            &policy,
            UnixTime::now(),
            self.c.platforms(),
        )
        .await?)
    }

    /// Asks (manual) or not (auto); then unlocks and prints what the mailbox returned.
    /// `resume`: the enclave restarted and holds no receiver for the channel, so Signal
    /// keeps its new messages until an unlock (SPEC §3.7).
    async fn on_waiting(&mut self, n: u64, resume: bool) -> Result<(), WatchFail> {
        if self.mode == Mode::Manual {
            let mut notice = json!({ "notice": "approval_needed", "waiting": n });
            let mut text = format!("{n} messages waiting on {}", self.channel);
            if resume {
                notice["resume"] = json!(true);
                text.push_str(" (the enclave restarted: new ones wait at Signal until an unlock)");
            }
            emit(self.c, &notice, &format!("{text} — unlock now? [y/N]"));
            let answers = self.answers.get_or_insert_with(Answers::start);
            let yes = answers
                .next()
                .await
                .is_some_and(|a| a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes"));
            if !yes {
                emit(
                    self.c,
                    &json!({ "event": "declined", "waiting": n }),
                    "not unlocked",
                );
                return Ok(());
            }
        }
        let policy = load_policy(self.c).map_err(|_| WatchFail::Protocol("policy"))?;
        let mut client = AdminClient::connect_with(
            self.c.connect,
            &policy,
            KeyStore::open(state_dir(self.c)),
            self.c.platforms(),
        )
        .await?;
        let pass = || passphrase(self.c);
        let v = client.mailbox_relay(self.channel, &pass).await?;
        let s = &v["stats"];
        emit(
            self.c,
            &json!({ "event": "unlocked", "mailbox": v }),
            &format!(
                "unlocked: {} processed, {} delivered, {} failed, {} rejected; {} still waiting",
                s["processed"], s["delivered"], s["failed"], s["rejected"], v["remaining"]
            ),
        );
        Ok(())
    }

    /// Says which proposals wait for a vote, when that changed (SPEC §3.7 `proposals`).
    fn on_proposals(&mut self, v: &Value) {
        let Some(list) = v.as_array() else { return };
        let ids: Vec<u32> = list
            .iter()
            .filter_map(|i| i.as_u64().and_then(|i| u32::try_from(i).ok()))
            .collect();
        if ids == self.proposals {
            return;
        }
        let text = if ids.is_empty() {
            "no proposals wait for a vote any more".to_owned()
        } else {
            let list: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
            format!(
                "{} proposal(s) wait for a vote ({}): sealboost proposals list {}",
                ids.len(),
                list.join(", "),
                self.channel
            )
        };
        emit(self.c, &json!({ "event": "proposals", "open": ids }), &text);
        self.proposals = ids;
    }

    /// One poll: open the events stream, prove SK, read the enclave's acknowledgement (what
    /// waits, whether receipt must resume, which proposals are open) and hang up; then an
    /// unlock if anything waits.
    async fn poll_once(&mut self) -> Result<(), WatchFail> {
        let (rd, wr, ok) = self.handshake().await?;
        drop((rd, wr));
        let n = ok["waiting"]
            .as_u64()
            .ok_or(WatchFail::Protocol("acknowledgement without waiting"))?;
        let resume = ok["resume"] == true;
        emit(
            self.c,
            &json!({ "event": "polled", "waiting": n, "resume": resume }),
            &format!("{n} messages waiting"),
        );
        self.on_proposals(&ok["proposals"]);
        if n > 0 || resume {
            self.on_waiting(n, resume).await?;
        }
        Ok(())
    }

    /// Sleeps until the next poll, or until the admin asks to check now: any line typed
    /// (`check`, or just Enter) while it sleeps. Without a stdin the poll just waits.
    async fn wait_or_check_now(&mut self, every: Duration) {
        let sleep = tokio::time::sleep(every);
        tokio::pin!(sleep);
        let answers = self.answers.get_or_insert_with(Answers::start);
        if answers.0.is_none() {
            return sleep.await;
        }
        tokio::select! {
            () = &mut sleep => {}
            line = answers.next() => match line {
                Some(_) => emit(self.c, &json!({ "event": "check_now" }), "checking now"),
                None => sleep.await,
            },
        }
    }

    /// Connects, attests, opens the events stream and proves SK possession (SPEC §3.7).
    async fn handshake(&self) -> Result<Stream, WatchFail> {
        let session = self.connect().await?;
        let binding = session.tls_binding().to_vec();
        let id: [u8; 16] = hex::decode(self.channel)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(WatchFail::Protocol("channel id"))?;
        let sk = KeyStore::open(state_dir(self.c))
            .load_sk(self.channel, || passphrase(self.c))
            .map_err(AdminError::from)?;
        let path = format!("/v1/channels/{}/events", self.channel);
        let io = session.upgrade(&path, PROTOCOL).await?;
        let (rd, mut wr) = tokio::io::split(io);
        let mut rd = tokio::io::BufReader::new(rd);

        let first = read_event(&mut rd)
            .await?
            .ok_or(WatchFail::Protocol("closed"))?;
        let ch = first["challenge"]
            .as_str()
            .and_then(|s| B64.decode(s).ok())
            .ok_or(WatchFail::Protocol("no challenge"))?;
        let resp =
            proof_response(&sk, &id, &ch, &binding).ok_or(WatchFail::Protocol("bad challenge"))?;
        drop(sk);
        let line = format!("{}\n", json!({ "response": B64.encode(resp) }));
        wr.write_all(line.as_bytes())
            .await
            .map_err(|_| WatchFail::Protocol("write"))?;
        wr.flush().await.map_err(|_| WatchFail::Protocol("write"))?;
        let answer = read_event(&mut rd)
            .await?
            .ok_or(WatchFail::Protocol("closed"))?;
        if answer["error"] == "proof_failed" {
            return Err(WatchFail::ProofRefused);
        }
        if answer["ok"] != true {
            return Err(WatchFail::Protocol("unexpected answer to proof"));
        }
        Ok((rd, wr, answer))
    }

    /// One events-stream connection, until it ends. `Ok` = ended normally (reconnect).
    async fn push_once(&mut self, connected: &mut bool) -> Result<(), WatchFail> {
        let (mut rd, _wr, _ok) = self.handshake().await?;
        *connected = true;
        emit(
            self.c,
            &json!({ "event": "connected", "mode": self.mode.name() }),
            &format!("watching {} ({} mode)", self.channel, self.mode.name()),
        );
        // The enclave writes at least every 30 s (a keep-alive); silence means a dead path.
        while let Some(ev) = tokio::time::timeout(SILENCE_LIMIT, read_event(&mut rd))
            .await
            .map_err(|_| WatchFail::Protocol("no keep-alive from the enclave"))??
        {
            if let Some(n) = ev["waiting"].as_u64() {
                let resume = ev["resume"] == true;
                if n > 0 || resume {
                    self.on_waiting(n, resume).await?;
                }
            }
            if ev.get("proposals").is_some() {
                self.on_proposals(&ev["proposals"]);
            }
        }
        Ok(())
    }
}

/// One `\n`-terminated JSON object of at most [`MAX_EVENT_LINE`] bytes; `None` at EOF.
async fn read_event<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
) -> Result<Option<Value>, WatchFail> {
    let mut line = Vec::new();
    let mut limited = tokio::io::AsyncReadExt::take(r, MAX_EVENT_LINE as u64 + 1);
    let n = limited
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| WatchFail::Protocol("read"))?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(WatchFail::Protocol("event line too long or cut"));
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|_| WatchFail::Protocol("event not JSON"))
}

fn report(c: &Connection, e: &WatchFail) -> Option<ExitCode> {
    match e {
        WatchFail::ProofRefused => {
            emit(
                c,
                &json!({ "error": "proof_failed" }),
                "sealboost: the enclave refused this client's proof of the channel key \
                 (if another admin rotated it: sealboost key catch-up CHANNEL)",
            );
            Some(ExitCode::from(1))
        }
        WatchFail::NoVerifier => {
            emit(
                c,
                &json!({ "error": "no_verifier" }),
                "sealboost: the channel has no key verifier yet (rotate the key once)",
            );
            Some(ExitCode::from(1))
        }
        WatchFail::Admin(e @ (AdminError::Unauthorized | AdminError::KeyStore(_))) => {
            Some(fail(c, e))
        }
        WatchFail::Admin(e) => {
            emit(
                c,
                &json!({ "event": "retrying", "detail": e.to_string() }),
                &format!("sealboost: {e}; retrying"),
            );
            None
        }
        WatchFail::Protocol(what) => {
            emit(
                c,
                &json!({ "event": "retrying", "detail": what }),
                &format!("sealboost: events stream: {what}; retrying"),
            );
            None
        }
    }
}

async fn go(a: &WatchArgs) -> ExitCode {
    let c = &a.conn;
    if let Some(m) = a.set_mode {
        return match save_mode(c, &a.channel, m) {
            Ok(()) => {
                emit(
                    c,
                    &json!({ "channel": a.channel, "mode": m.name() }),
                    &format!("{}: {} mode", a.channel, m.name()),
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sealboost: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        };
    }
    if channel_dir(c, &a.channel).is_none() {
        eprintln!("sealboost: {} is not a channel id", a.channel);
        return ExitCode::from(EXIT_USAGE);
    }
    if let Err(msg) = load_policy(c) {
        eprintln!("sealboost: {msg}");
        return ExitCode::from(EXIT_USAGE);
    }
    let mut w = Watcher {
        c,
        channel: &a.channel,
        mode: a.mode.unwrap_or_else(|| stored_mode(c, &a.channel)),
        answers: None,
        proposals: Vec::new(),
    };
    if let Some(minutes) = a.poll {
        if !(minutes.is_finite() && minutes > 0.0) {
            eprintln!("sealboost: --poll takes a positive number of minutes");
            return ExitCode::from(EXIT_USAGE);
        }
        let every = Duration::from_secs_f64(minutes * 60.0);
        loop {
            if let Err(e) = w.poll_once().await {
                if let Some(code) = report(c, &e) {
                    return code;
                }
            }
            w.wait_or_check_now(every).await;
        }
    }
    let mut backoff = INITIAL_BACKOFF;
    loop {
        let mut connected = false;
        let r = w.push_once(&mut connected).await;
        if connected {
            backoff = INITIAL_BACKOFF;
        }
        match r {
            Ok(()) => emit(c, &json!({ "event": "disconnected" }), "disconnected"),
            Err(e) => {
                if let Some(code) = report(c, &e) {
                    return code;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

pub fn run(a: &WatchArgs) -> ExitCode {
    runtime().block_on(go(a))
}
