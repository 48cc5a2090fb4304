//! Unlock latency in push + auto mode (issue 6, SPEC §3.7), end to end with the real
//! binaries: host + simulated enclave + signal-sim + `sealboost watch --mode auto` + phones.
//!
//! Each of N sequential samples is timed from a phone's `send_text` of a hotline message
//! to the channel until the admin's phone has received the relayed `[HOTLINE FROM @…]`
//! copy. In between: the live receiver seals and appends the envelope, the events stream
//! pushes `{"waiting":1}`, the watch client attests a fresh session and unlocks the
//! mailbox, and the enclave relays over Signal.
//!
//! `cargo build --release --workspace --bins && cargo bench -p sealboost-tests --bench unlock_latency`
//! (`UNLOCK_SAMPLES` overrides N = 50.)

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sealboost_tests::bin;
use sealboost_tests::signal::{bodies, phone, World};

const ADMIN: &str = "+15550001001";
const CHANNEL: &str = "+15550009000";
const WRITER: &str = "+15550002001";
const SAMPLES: usize = 50;
const WAIT: Duration = Duration::from_secs(30);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("unlock_latency: running a debug build; figures are not comparable");
    }
    let n = std::env::var("UNLOCK_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SAMPLES)
        .max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(n));
}

async fn run(n: usize) {
    let (w, mut admin_phone) = World::start(ADMIN, CHANNEL, &[]).await;
    let (sim, stack, admin, ch) = (&w.sim, &w.stack, &w.cli, w.ch.clone());
    let mut writer = phone(&sim.info, WRITER).await;

    let mut watch = Command::new(bin("sealboost"))
        .args(["watch", &ch, "--mode", "auto", "--json"])
        .arg(format!("--connect={}", stack.ingress))
        .arg(format!("--state-dir={}", admin.state.display()))
        .arg("--allow-simulated")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("watch exited").unwrap();
        if line.contains("\"connected\"") {
            break;
        }
    }
    // Keep draining its output so it never blocks on a full pipe; count its unlocks.
    let unlocks = std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .filter(|l| l.contains("\"unlocked\""))
            .count()
    });

    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let text = format!("latency probe {i}");
        let t = Instant::now();
        writer.send_text(CHANNEL, &text).await.unwrap();
        // Returns as soon as the matching message is decrypted (no polling granularity).
        let got = admin_phone
            .receive_until(
                |r| r.body.as_deref().is_some_and(|b| b.contains(&text)),
                WAIT,
            )
            .await
            .unwrap();
        let elapsed = t.elapsed();
        assert!(
            bodies(&got).iter().any(|b| b.contains(&text)),
            "sample {i}: not delivered within {WAIT:?}"
        );
        samples.push(elapsed);
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let unlocks = unlocks.join().unwrap();

    let mut sorted = samples.clone();
    sorted.sort();
    let mean = samples.iter().sum::<Duration>() / n as u32;
    println!("push+auto unlock latency, phone send → admin phone receipt, {n} sequential messages");
    println!(
        "  p50 {}  p99 {}  min {}  max {}  mean {}",
        ms(percentile(&sorted, 50.0)),
        ms(percentile(&sorted, 99.0)),
        ms(sorted[0]),
        ms(sorted[n - 1]),
        ms(mean)
    );
    println!("  unlocks run by the watch client: {unlocks}");
}
