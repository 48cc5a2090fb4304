//! The `sealboost` admin CLI as a person would run it, against the real stack, pinned to a
//! signed release policy.

// Test code: a failed step should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use sealboost_tests::{bin, signed_sim_policy, Stack};

fn sealboost(stack: &Stack, state: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin("sealboost"))
        .args(args)
        .arg(format!("--connect={}", stack.ingress))
        .arg(format!("--state-dir={}", state.display()))
        .arg("--allow-simulated")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn admin_cli_creates_and_reads_a_channel() {
    let stack = Stack::start();
    let state = tempfile::tempdir().unwrap();
    let dp = signed_sim_policy(&stack, None);
    std::fs::write(state.path().join("policy.signed"), &dp.signed_file).unwrap();
    std::fs::write(state.path().join("release-key.pub"), &dp.release_key_hex).unwrap();

    let (code, out, err) = sealboost(
        &stack,
        state.path(),
        &["channel", "create", "--admin", "+15550001001", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let ch = v["channel_id"].as_str().unwrap().to_owned();
    assert_eq!(v["epoch"], 1);

    let (code, _, err) = sealboost(
        &stack,
        state.path(),
        &[
            "channel",
            "change-members",
            &ch,
            "--add-subscriber",
            "+15550002002",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = sealboost(&stack, state.path(), &["channel", "members", &ch]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ADMIN 1"), "{out}");
    assert!(out.contains("subscribers: 1 (EN 1)"), "{out}");
    assert!(
        !out.contains("+15550002002"),
        "a subscriber's number was shown: {out}"
    );
    let (code, out, _) = sealboost(
        &stack,
        state.path(),
        &["channel", "settings", &ch, "--hotline", "off", "--json"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("\"hotline\":false"), "{out}");
    let (code, out, err) = sealboost(&stack, state.path(), &["status", &ch]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 messages waiting"), "{out}");
}

#[test]
fn admin_cli_refuses_a_policy_signed_by_another_key() {
    let stack = Stack::start();
    let state = tempfile::tempdir().unwrap();
    let dp = signed_sim_policy(&stack, None);
    let other = signed_sim_policy(&stack, None);
    std::fs::write(state.path().join("policy.signed"), &dp.signed_file).unwrap();
    std::fs::write(state.path().join("release-key.pub"), &other.release_key_hex).unwrap();
    let (code, _, err) = sealboost(
        &stack,
        state.path(),
        &["channel", "create", "--admin", "+15550001001"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("signature"), "{err}");
    assert!(std::fs::read_dir(state.path())
        .unwrap()
        .all(|e| e.unwrap().file_name() != "channels"));
}

/// Without `--allow-simulated` (or `SEALBOOST_ALLOW_SIMULATED=1`) the CLI refuses the
/// simulated enclave before sending anything, even under a signed policy that pins the
/// simulation root, and says how to opt in.
#[test]
fn admin_cli_refuses_a_simulated_enclave_it_was_not_told_to_accept() {
    let stack = Stack::start();
    let state = tempfile::tempdir().unwrap();
    let dp = signed_sim_policy(&stack, None);
    std::fs::write(state.path().join("policy.signed"), &dp.signed_file).unwrap();
    std::fs::write(state.path().join("release-key.pub"), &dp.release_key_hex).unwrap();
    let out = Command::new(bin("sealboost"))
        .args(["channel", "create", "--admin", "+15550001001"])
        .arg(format!("--connect={}", stack.ingress))
        .arg(format!("--state-dir={}", state.path().display()))
        .env_remove("SEALBOOST_ALLOW_SIMULATED")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("SIMULATED, not a TEE"), "{err}");
    assert!(err.contains("--allow-simulated"), "{err}");
    // Nothing was created: no key file was written.
    assert!(!state.path().join("channels").exists());
    // The environment variable is the same opt-in.
    let out = Command::new(bin("sealboost"))
        .args(["channel", "create", "--admin", "+15550001001", "--json"])
        .arg(format!("--connect={}", stack.ingress))
        .arg(format!("--state-dir={}", state.path().display()))
        .env("SEALBOOST_ALLOW_SIMULATED", "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
