//! Scale end to end: 1,000 simulated phones JOIN a channel over Signal, the admin
//! broadcasts with the CLI, and every phone receives and decrypts exactly the bare
//! broadcast text. Real processes throughout (host + simulated enclave + signal-sim).
//!
//! Phones are independent, so they register, send and receive in concurrent chunks on
//! this test's current-thread runtime (libsignal's futures are `!Send`). Phase timings go
//! to stderr (`--nocapture` shows them; BENCHMARKS.md records them).

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::{Duration, Instant};

use futures::future::join_all;
use sealboost_tests::signal::{add_admin, bodies, phone, receive_until, AdminCli};
use sealboost_tests::{Sim, Stack, StackOpts};
use signal_client::phone::Phone;

const ADMIN: &str = "+15550001001";
/// A second admin, whose phone gets the labelled copy of the broadcast.
const ADMIN2: &str = "+15550001002";
const CHANNEL: &str = "+15550009000";
/// Subscribers.
const PHONES: usize = 1000;
/// Phones driven at once (each has its own connections to the sim).
const CONCURRENCY: usize = 50;
/// How long every phase may take before the test gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(120);
/// How long each phone keeps listening after the broadcast arrived.
const DUPLICATE_WINDOW: Duration = Duration::from_millis(300);
const TEXT: &str = "Scale test: the meeting moved to 6pm";

fn subscriber(i: usize) -> String {
    format!("+1555200{i:04}")
}

/// Runs `f` over `items` with at most [`CONCURRENCY`] in flight (chunk by chunk).
async fn chunked<T, R, Fut>(items: Vec<T>, f: impl Fn(T) -> Fut) -> Vec<R>
where
    Fut: std::future::Future<Output = R>,
{
    let mut out = Vec::with_capacity(items.len());
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let chunk: Vec<T> = items.by_ref().take(CONCURRENCY).collect();
        out.extend(join_all(chunk.into_iter().map(&f)).await);
    }
    out
}

/// Polls `sealboost status` until `n` messages wait.
fn wait_queued(admin: &AdminCli, ch: &str, n: u64) {
    let deadline = Instant::now() + PHASE_LIMIT;
    loop {
        let out = admin.ok(&["status", ch, "--json"]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        if v["queue_length"].as_u64().unwrap() >= n {
            return;
        }
        assert!(Instant::now() < deadline, "only {v} waiting, wanted {n}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn phase(name: &str, t: Instant) {
    eprintln!("signal_scale: {name}: {:.2} s", t.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "current_thread")]
async fn broadcast_reaches_1000_phones() {
    let total = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    // The sim has one rate bucket per (sender, recipient) and every sealed-sender sender is
    // the same "unidentified" one (SPEC §8): a thousand strangers JOINing within seconds
    // need a bigger burst than the default 60.
    let sim = Sim::start(&tmp.path().join("sim"), &["--rate-burst", "2000"]);
    let stack = Stack::start_with(StackOpts {
        signal: Some(sim.info.clone()),
        ..Default::default()
    });
    let admin = AdminCli::new(&stack);
    let _admin_phone = phone(&sim.info, ADMIN).await;
    let mut admin2_phone = phone(&sim.info, ADMIN2).await;
    let ch = admin.channel(ADMIN, CHANNEL);
    add_admin(
        &admin,
        &ch,
        ADMIN2,
        &mut admin2_phone,
        &AdminCli::new(&stack),
    )
    .await;
    phase("stack + channel", total);

    let t = Instant::now();
    let info = &sim.info;
    let phones: Vec<Phone> = chunked((0..PHONES).collect(), |i| async move {
        phone(info, &subscriber(i)).await
    })
    .await;
    phase(&format!("register {PHONES} phones"), t);

    // Everyone JOINs over Signal, as people do.
    let t = Instant::now();
    let mut phones: Vec<Phone> = chunked(phones, |mut p| async move {
        p.send_text(CHANNEL, "HELLO").await.unwrap();
        p
    })
    .await;
    phase(&format!("{PHONES} phones send HELLO"), t);
    let t = Instant::now();
    wait_queued(&admin, &ch, PHONES as u64);
    phase("live receiver queues every JOIN", t);

    // One unlock processes the whole queue and welcomes everyone.
    let t = Instant::now();
    let v = admin.mailbox(&ch);
    phase("mailbox: process JOINs + send welcomes", t);
    assert_eq!(v["stats"]["processed"], PHONES, "{v}");
    assert_eq!(v["stats"]["rejected"], 0, "{v}");
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    assert_eq!(v["remaining"], 0, "{v}");
    let info = admin.ok(&["channel", "info", &ch, "--json"]);
    let info: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    assert_eq!(info["subscribers"], PHONES, "{info}");
    assert_eq!(info["admins"], 2, "{info}");

    let t = Instant::now();
    let out = admin.ok(&["broadcast", &ch, TEXT, "--json"]);
    phase("broadcast (CLI round trip)", t);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    // Every subscriber plus the other admin (the sender's copy is the CLI's output).
    assert_eq!(v["stats"]["delivered"], PHONES + 1, "{v}");
    assert_eq!(v["stats"]["failed"], 0, "{v}");
    assert_eq!(v["stats"]["unreachable"], 0, "{v}");

    // Every phone gets the welcome and then exactly one copy of the bare broadcast text.
    let t = Instant::now();
    let counts: Vec<(usize, Vec<String>)> = chunked(
        std::mem::take(&mut phones)
            .into_iter()
            .enumerate()
            .collect(),
        |(i, mut p)| async move {
            let mut got = receive_until(&mut p, PHASE_LIMIT, |m| {
                bodies(m).iter().any(|b| b.contains(TEXT))
            })
            .await;
            // A little longer, so that a duplicate right behind the first copy shows.
            got.extend(p.receive_for(DUPLICATE_WINDOW).await.unwrap());
            (i, bodies(&got))
        },
    )
    .await;
    phase(&format!("{PHONES} phones receive"), t);
    for (i, b) in &counts {
        let copies = b.iter().filter(|t| t.contains(TEXT)).count();
        assert_eq!(copies, 1, "phone {i}: {b:?}");
        assert!(b.iter().any(|t| t == TEXT), "phone {i}: {b:?}");
        assert!(
            b.iter()
                .any(|t| t.contains("welcome") || t.contains("Welcome")),
            "phone {i}: {b:?}"
        );
    }
    // The other admin's phone gets the labelled copy.
    let got = receive_until(&mut admin2_phone, PHASE_LIMIT, |m| {
        bodies(m).iter().any(|b| b.contains(TEXT))
    })
    .await;
    assert!(
        bodies(&got)
            .iter()
            .any(|b| b.contains(TEXT) && b.contains("[BROADCAST")),
        "{got:?}"
    );
    phase("total", total);
}
