#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! The `signal-phone` binary as a newcomer would run it, against signal-sim (in-process,
//! with its trust roots written to a directory as `signal-sim serve --dir` does).

use std::path::Path;
use std::process::Output;

use signal_sim::{Config, Server};

async fn phone(server: &str, dir: &Path, state: &str, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_signal-phone"));
    cmd.arg("--server")
        .arg(server)
        .arg("--ca")
        .arg(dir.join(signal_sim::CA_FILE))
        .arg("--trust-root")
        .arg(dir.join(signal_sim::SEALED_SENDER_ROOT_FILE))
        .arg("--state")
        .arg(dir.join(state))
        .args(args);
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "signal-phone {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_send_attach_receive_json_and_timer() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::new("127.0.0.1:0".parse().unwrap());
    c.accept_any_code = true;
    c.dir = Some(dir.path().to_path_buf());
    let h = Server::start(c).await.unwrap();
    // The server certificate names localhost, not the IP literal: say so.
    let server = format!("localhost:{}", h.addr().port());
    let d = dir.path();

    let out = phone(&server, d, "a", &["register", "--number", "+15550001001"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("registered +15550001001 as "));
    phone(&server, d, "b", &["register", "--number", "+15550001002"]).await;
    std::fs::write(d.join("note.txt"), b"attached bytes").unwrap();
    phone(
        &server,
        d,
        "a",
        &["send", "--to", "+15550001002", "--text", "hello b"],
    )
    .await;
    let note = d.join("note.txt");
    phone(
        &server,
        d,
        "a",
        &[
            "send",
            "--to",
            "+15550001002",
            "--text",
            "file",
            "--attach",
            note.to_str().unwrap(),
        ],
    )
    .await;
    let dl = d.join("dl");
    let out = phone(
        &server,
        d,
        "b",
        &[
            "receive",
            "--wait",
            "2",
            "--json",
            "--save-attachments",
            dl.to_str().unwrap(),
        ],
    )
    .await;
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["body"], "hello b");
    assert_eq!(lines[1]["body"], "file");
    assert_eq!(
        std::fs::read(dl.join("note.txt")).unwrap(),
        b"attached bytes"
    );

    phone(
        &server,
        d,
        "b",
        &["set-timer", "--to", "+15550001001", "--seconds", "3600"],
    )
    .await;
    phone(
        &server,
        d,
        "b",
        &["send", "--to", "+15550001001", "--text", "timed"],
    )
    .await;
    let out = phone(&server, d, "a", &["receive", "--wait", "2", "--json"]).await;
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["timer_update"], true);
    // The timer set in one run is carried by the next run's message (state file).
    assert_eq!(lines[1]["body"], "timed");
    assert_eq!(lines[1]["expire_timer"], 3600);
    assert_eq!(lines[1]["from"], "+15550001002");
    assert_eq!(lines[1]["sealed_sender"], true);

    // A second register on the same state file is refused.
    let again = tokio::process::Command::new(env!("CARGO_BIN_EXE_signal-phone"))
        .args(["--server", &server, "--ca"])
        .arg(d.join(signal_sim::CA_FILE))
        .arg("--trust-root")
        .arg(d.join(signal_sim::SEALED_SENDER_ROOT_FILE))
        .arg("--state")
        .arg(d.join("a"))
        .args(["register", "--number", "+15550001001"])
        .output()
        .await
        .unwrap();
    assert!(!again.status.success());
    h.shutdown().await;
}
