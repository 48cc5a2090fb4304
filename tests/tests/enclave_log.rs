//! The enclave's log reaches the host (its stderr is the host's), so at the level a
//! deployment runs (`SEALBOOST_LOG=info`) nothing a subscriber does may show there: joining,
//! writing to the hotline, or re-keying (a reinstalled phone: new identity key, new sessions,
//! the post-quantum ratchet negotiated again) writes no line to the host's log, from the
//! enclave's own code or from any dependency (enclave/src/logging.rs, VAULT.md §22).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sealboost_tests::signal::{AdminCli, Handset};
use sealboost_tests::{Sim, Stack, StackOpts};

const ADMIN: &str = "+15550801001";
const SUB: &str = "+15550802001";
const CHANNEL: &str = "+15550809000";
const WAIT: Duration = Duration::from_secs(45);
const QUIET: Duration = Duration::from_secs(3);

/// The lines the log gained since `from` bytes.
fn new_lines(stack: &Stack, from: usize) -> Vec<String> {
    stack.host_log()[from..]
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Lines written by the enclave process (its targets) or by anything it links: everything
/// that is not the host's own code.
fn enclave_side(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| !l.split_whitespace().any(|w| w.starts_with("host::")))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_subscriber_joining_writing_and_rekeying_leaves_no_line_in_the_host_log() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(&tmp.path().join("sim"), &["--rate-burst", "0"]);
    let stack = Stack::start_with(StackOpts {
        signal: Some(sim.info.clone()),
        log: Some("info".into()),
        ..Default::default()
    });
    let cli = AdminCli::new(&stack);
    let mut admin = Handset::register(&sim.info, ADMIN).await.waits(WAIT, QUIET);
    let ch = cli.channel(ADMIN, CHANNEL);
    // Everything up to here (boot, the channel's creation and registration) may log, and
    // the enclave's boot line shows that its log does reach the host's.
    let boot = stack.host_log();
    assert!(boot.contains("enclave ready"), "{boot}");
    let start = boot.len();

    // Join, then write to the hotline.
    let mut sub = Handset::register(&sim.info, SUB).await.waits(WAIT, QUIET);
    sub.p.send_text(CHANNEL, "HELLO").await.unwrap();
    sub.p
        .send_text(CHANNEL, "The bridge is closed")
        .await
        .unwrap();
    cli.wait_queued(&ch, 2);
    let v = cli.mailbox(&ch);
    assert_eq!(v["stats"]["processed"], 2, "{v}");
    sub.expect("Welcome!").await;
    admin.expect("The bridge is closed").await;

    // Re-key: the subscriber reinstalls (same number and account, new identity key) and
    // writes again on a new session.
    drop(sub);
    let mut sub = Handset::register(&sim.info, SUB).await.waits(WAIT, QUIET);
    sub.p
        .send_text(CHANNEL, "Still closed after the storm")
        .await
        .unwrap();
    cli.wait_queued(&ch, 1);
    let v = cli.mailbox(&ch);
    assert_eq!(v["stats"]["processed"], 1, "{v}");
    admin.expect("Still closed after the storm").await;
    // The broadcast reaches the reinstalled phone: its new session works both ways.
    cli.ok(&["broadcast", &ch, "Road", "reopens", "at", "six"]);
    sub.expect("Road reopens at six").await;

    let lines = new_lines(&stack, start);
    let from_enclave = enclave_side(&lines);
    assert!(
        from_enclave.is_empty(),
        "the host's log gained enclave-side lines during subscriber activity:\n{}",
        from_enclave
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
