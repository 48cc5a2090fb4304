//! Issue 5's two broadcast figures from one run.
//!
//! First, the fan-out inside the enclave: signal-client's fan-out path over 10,000
//! established sessions against a bare libsignal `message_encrypt` loop over the same
//! sessions (goal ≤ 1.25×; the comparison is shared with
//! `cargo bench -p signal-client --bench fanout`). It runs before any process starts, so
//! nothing else competes for the 2 cores.
//!
//! Then the broadcast to 10,000 subscribers, end to end with the real release binaries:
//! host + simulated enclave + signal-sim + the admin CLI.
//!
//! Setup registers 10,000 accounts (with keys) on signal-sim, and each phone JOINs by
//! sending HELLO to the channel, as the Signal app would: its own PQXDH session, sealed
//! sender, its profile key in the message. One `sealboost mailbox` processes the 10,000
//! JOINs and sends the welcomes, so the channel then knows every subscriber's profile key
//! and sends them sealed sender (the real traffic; a subscriber added with
//! `change-members` would be sent to unsealed, which is much cheaper). One warm-up
//! broadcast follows. Each timed run is one `sealboost broadcast`, from invoking the CLI
//! to it returning with every message accepted by the service. Goal: ≤ 2 s on 2 cores.
//! The sampled phones check that the broadcasts arrive, bare and sealed.
//!
//! `cargo build --release --workspace --bins && cargo bench -p sealboost-tests --bench broadcast`
//!
//! `BROADCAST_SUBSCRIBERS` and `BROADCAST_RUNS` override the size and the number of
//! timed runs, `FANOUT_RECIPIENTS` the fan-out comparison's size (0 skips it); for quick
//! experiments.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::future::join_all;
use sealboost_tests::signal::{bodies, phone, phone_config, receive_until, AdminCli};
use sealboost_tests::{Sim, SimInfo, Stack, StackOpts};
use signal_client::phone::Phone;

#[path = "../../signal-client/benches/common/fanout_ratio.rs"]
mod fanout_ratio;

const ADMIN: &str = "+15550001001";
const CHANNEL: &str = "+15550009000";
const SUBSCRIBERS: usize = 10_000;
/// How long the JOINs may take to reach the channel's queue.
const QUEUE_WAIT: Duration = Duration::from_secs(300);
const RUNS: usize = 5;
const GOAL: Duration = Duration::from_secs(2);
/// Registrations in flight at once.
const REGISTER_CONCURRENCY: usize = 64;
/// Subscribers kept as live phones to check that the timed broadcasts really arrive.
const SAMPLES: usize = 3;

const BINARIES: [&str; 4] = [
    "sealboost",
    "sealboost-host",
    "sealboost-enclave",
    "signal-sim",
];

fn subscriber(i: usize) -> String {
    format!("+1556{i:07}")
}

/// Registers one subscriber account over a single connection and JOINs the channel,
/// retrying a few times: ten thousand short-lived registrations can briefly run out of
/// loopback ports.
async fn register_and_join(sim: &SimInfo, number: &str) -> Phone {
    let mut p = register(sim, number).await;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match p.send_text(CHANNEL, "HELLO").await {
            Ok(_) => return p,
            Err(e) if attempt < 5 => {
                eprintln!("JOIN attempt {attempt} failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => panic!("JOIN failed {attempt} times: {e}"),
        }
    }
}

async fn register(sim: &SimInfo, number: &str) -> Phone {
    let mut config = phone_config(sim);
    config.max_connections = 1;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match Phone::register(&config, number, "123456", None).await {
            Ok(p) => return p,
            Err(e) if attempt < 5 => {
                eprintln!("registration attempt {attempt} failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => panic!("registration failed {attempt} times: {e}"),
        }
    }
}

/// Waits until `n` messages wait in the channel's queue.
fn wait_queued(admin: &AdminCli, ch: &str, n: usize) {
    let deadline = Instant::now() + QUEUE_WAIT;
    loop {
        let out = admin.ok(&["status", ch, "--json"]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        if v["queue_length"].as_u64().unwrap_or(0) >= n as u64 {
            return;
        }
        assert!(Instant::now() < deadline, "only {v} waiting, wanted {n}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// target/<profile>/deps/<bench> → target/<profile>
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(std::path::Path::parent)
        .unwrap()
        .to_path_buf()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Peak and current resident set of a process, in MiB (from /proc/PID/status).
fn rss_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<f64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))?
            .split_whitespace()
            .next()?
            .parse::<f64>()
            .ok()
    };
    Some((kib("VmHWM:")? / 1024.0, kib("VmRSS:")? / 1024.0))
}

fn main() {
    let dir = bin_dir();
    let missing: Vec<&str> = BINARIES
        .into_iter()
        .filter(|b| !dir.join(b).exists())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "broadcast bench: {} missing from {}.\nBuild the release binaries first:\n    cargo build --release --workspace --bins",
            missing.join(", "),
            dir.display()
        );
        std::process::exit(2);
    }
    if cfg!(debug_assertions) {
        eprintln!("broadcast bench: running a debug build; figures are not comparable");
    }
    let fan = match fanout_ratio::recipients_from_env() {
        0 => None,
        n => Some(fanout_ratio::run(n)),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = env_usize("BROADCAST_SUBSCRIBERS", SUBSCRIBERS);
    let median = rt.block_on(run(n, env_usize("BROADCAST_RUNS", RUNS).max(1)));

    println!("summary:");
    if let Some(f) = fan {
        let goal = fanout_ratio::GOAL;
        println!(
            "  fan-out inside the enclave, {} sessions, unsealed: {:.3}x a bare message_encrypt loop (goal <= {goal}x): {}",
            f.recipients,
            f.ratio(),
            fanout_ratio::met(f.ratio() <= goal)
        );
        println!(
            "  fan-out inside the enclave, {} sessions, sealed: {:.3}x a bare sealed_sender_encrypt loop (goal <= {goal}x): {}",
            f.recipients,
            f.sealed_ratio(),
            fanout_ratio::met(f.sealed_ratio() <= goal)
        );
        println!(
            "  (sealed sender itself costs {:.2}x message_encrypt; send_many seals on {} threads in {})",
            f.bare_sealed.as_secs_f64() / f.bare.as_secs_f64(),
            f.threads,
            secs(f.fanout_sealed_threads)
        );
    }
    println!(
        "  end-to-end broadcast to {n} subscribers: median {} (goal <= {}): {}",
        secs(median),
        secs(GOAL),
        fanout_ratio::met(median <= GOAL)
    );
}

/// `sealboost broadcast --json`: (elapsed, delivered, failed + unreachable).
fn broadcast(stack: &Stack, admin: &AdminCli, ch: &str, text: &str) -> (Duration, u64, u64) {
    let t = Instant::now();
    let (code, out, err) = admin.run(&["broadcast", ch, text, "--json"]);
    let elapsed = t.elapsed();
    if code != 0 {
        let log = stack.host_log();
        for l in log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panick"))
            .take(40)
        {
            eprintln!("host log: {l}");
        }
        panic!("sealboost broadcast failed ({code}): {err}{out}");
    }
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let s = &v["stats"];
    (
        elapsed,
        s["delivered"].as_u64().unwrap(),
        s["failed"].as_u64().unwrap() + s["unreachable"].as_u64().unwrap(),
    )
}

/// The end-to-end part; returns the median broadcast time.
async fn run(n: usize, runs: usize) -> Duration {
    println!("broadcast bench: {n} subscribers, {runs} timed runs");
    let tmp = tempfile::tempdir().unwrap();
    let setup = Instant::now();
    // Every sealed-sender JOIN counts against one (unidentified sender, channel) rate
    // bucket at the sim (SPEC §8): allow them all at once.
    let burst = (n + 100).to_string();
    let sim = Sim::start(&tmp.path().join("sim"), &["--rate-burst", &burst]);
    let stack = Stack::start_with(StackOpts {
        signal: Some(sim.info.clone()),
        ..Default::default()
    });
    let admin = AdminCli::new(&stack);
    let _admin_phone = phone(&sim.info, ADMIN).await;
    let ch = admin.channel(ADMIN, CHANNEL);

    // Accounts with keys on the service, each JOINing. Only a few stay connected as phones.
    let t = Instant::now();
    let sample_at: Vec<usize> = (0..SAMPLES).map(|k| k * (n - 1) / SAMPLES.max(2)).collect();
    let mut samples: Vec<Phone> = Vec::new();
    let info = &sim.info;
    for start in (0..n).step_by(REGISTER_CONCURRENCY) {
        let end = (start + REGISTER_CONCURRENCY).min(n);
        let chunk = join_all(
            (start..end).map(|i| async move { (i, register_and_join(info, &subscriber(i)).await) }),
        )
        .await;
        samples.extend(
            chunk
                .into_iter()
                .filter(|(i, _)| sample_at.contains(i))
                .map(|(_, p)| p),
        );
    }
    let registered = t.elapsed();
    let t = Instant::now();
    wait_queued(&admin, &ch, n);
    let queued = t.elapsed();
    let t = Instant::now();
    let out = admin.ok(&["mailbox", &ch]);
    assert!(out.contains(&format!("{n} processed")), "{out}");
    let joined = t.elapsed();
    let info: serde_json::Value =
        serde_json::from_str(admin.ok(&["channel", "info", &ch, "--json"]).trim()).unwrap();
    assert_eq!(info["subscribers"].as_u64(), Some(n as u64), "{info}");
    let setup = setup.elapsed();
    println!(
        "setup: {} ({} registering {n} accounts and sending HELLO, {} until queued, {} processing the JOINs and welcoming)",
        secs(setup),
        secs(registered),
        secs(queued),
        secs(joined)
    );
    for p in &mut samples {
        let got = receive_until(p, Duration::from_secs(30), |m| {
            bodies(m).iter().any(|b| b.starts_with("Welcome"))
        })
        .await;
        assert!(
            bodies(&got).iter().any(|b| b.starts_with("Welcome")),
            "{:?}",
            bodies(&got)
        );
    }

    let (warm, delivered, failed) = broadcast(&stack, &admin, &ch, "Bench warm-up");
    println!(
        "warm-up broadcast: {} ({delivered} delivered, {failed} failed)",
        secs(warm)
    );
    assert_eq!((delivered, failed), (n as u64, 0));

    let mut times = Vec::with_capacity(runs);
    for k in 1..=runs {
        let (d, delivered, failed) =
            broadcast(&stack, &admin, &ch, &format!("Bench broadcast {k}"));
        println!(
            "run {k}: {} ({delivered} delivered, {failed} failed)",
            secs(d)
        );
        assert_eq!((delivered, failed), (n as u64, 0));
        times.push(d);
    }
    let mut sorted = times.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    println!(
        "median of {runs}: {} (min {}, max {})",
        secs(median),
        secs(sorted[0]),
        secs(sorted[sorted.len() - 1])
    );
    println!(
        "goal ≤ {}: {}",
        secs(GOAL),
        fanout_ratio::met(median <= GOAL)
    );
    for pid in stack.enclave_pids() {
        match rss_mib(pid) {
            Some((peak, now)) => {
                println!("enclave pid {pid}: peak RSS {peak:.1} MiB (now {now:.1} MiB)");
            }
            None => println!("enclave pid {pid}: /proc status unreadable"),
        }
    }

    // The sampled subscribers really get every timed broadcast, bare.
    for p in &mut samples {
        let want: Vec<String> = (1..=runs).map(|k| format!("Bench broadcast {k}")).collect();
        let got = receive_until(p, Duration::from_secs(30), |m| {
            let b = bodies(m);
            want.iter().all(|w| b.contains(w))
        })
        .await;
        let b = bodies(&got);
        assert!(want.iter().all(|w| b.contains(w)), "{b:?}");
        assert!(
            got.iter()
                .filter(|m| m.body.as_deref().is_some_and(|t| t.starts_with("Bench")))
                .all(|m| m.sealed_sender),
            "a broadcast arrived unsealed"
        );
    }
    println!(
        "{} sampled subscribers decrypted every timed broadcast, sealed sender",
        samples.len()
    );
    median
}
