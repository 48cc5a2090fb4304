//! The operator's command-line flow end to end: keygen, new, add-measurement (from an
//! EIF the tool built), sign, verify; a tampered policy and a debug-mode launch config
//! make the commands fail.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // test helpers: a failed step should stop the test loudly

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealboost-deploy"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let o = run(args);
    assert!(!o.status.success(), "{args:?} should fail");
    String::from_utf8(o.stderr).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn release_policy_flow() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    for (n, d) in [("kernel", &b"k"[..]), ("r0", b"boot"), ("r1", b"app")] {
        std::fs::write(p(n), d).unwrap();
    }
    ok(&[
        "eif",
        "build",
        "--kernel",
        s(&p("kernel")),
        "--cmdline",
        "console=ttyS0",
        "--ramdisk",
        s(&p("r0")),
        "--ramdisk",
        s(&p("r1")),
        "--out",
        s(&p("e.eif")),
    ]);
    let keys = p("keys");
    let out = ok(&["policy", "keygen", "--out", s(&keys)]);
    let pubhex = std::fs::read_to_string(keys.join("release-key.pub")).unwrap();
    assert!(out.contains(pubhex.trim()));
    let draft = p("policy.toml");
    ok(&["policy", "new", "--out", s(&draft), "--nitro"]);
    fails(&["policy", "new", "--out", s(&draft), "--nitro"]); // no silent overwrite
    let signed = p("policy.signed");
    let key = keys.join("release-key.pem");
    // An empty draft cannot be signed.
    fails(&[
        "policy",
        "sign",
        "--policy",
        s(&draft),
        "--key",
        s(&key),
        "--out",
        s(&signed),
    ]);
    ok(&[
        "policy",
        "add-measurement",
        "--policy",
        s(&draft),
        "--platform",
        "nitro",
        "--eif",
        s(&p("e.eif")),
        "--label",
        "release 1",
    ]);
    ok(&[
        "policy",
        "sign",
        "--policy",
        s(&draft),
        "--key",
        s(&key),
        "--out",
        s(&signed),
    ]);
    let v = ok(&[
        "policy",
        "verify",
        "--policy",
        s(&signed),
        "--release-key",
        s(&keys.join("release-key.pub")),
    ]);
    assert!(v.contains("nitro: 1 PCR set(s)"), "{v}");
    // The PCRs in the signed policy are those of the image.
    let m = ok(&["measure", "--eif", s(&p("e.eif"))]);
    let body = std::fs::read_to_string(&signed).unwrap();
    for line in m.lines() {
        assert!(body.contains(line.split(' ').nth(1).unwrap()));
    }
    // Tampered: refused.
    std::fs::write(&signed, body.replace("release 1", "release 2")).unwrap();
    let e = fails(&[
        "policy",
        "verify",
        "--policy",
        s(&signed),
        "--release-key",
        pubhex.trim(),
    ]);
    assert!(e.contains("signature"), "{e}");
}

#[test]
fn simulated_policy_needs_the_explicit_flag() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    ok(&["sim-ca", "--out", s(&p("ca"))]);
    std::fs::write(p("enclave"), b"binary").unwrap();
    ok(&["policy", "keygen", "--out", s(&p("keys"))]);
    let draft = p("sim.toml");
    ok(&[
        "policy",
        "new",
        "--out",
        s(&draft),
        "--simulated-root",
        s(&p("ca/sim-root.pem")),
    ]);
    ok(&[
        "policy",
        "add-measurement",
        "--policy",
        s(&draft),
        "--platform",
        "simulated",
        "--exe",
        s(&p("enclave")),
    ]);
    let key = p("keys/release-key.pem");
    let e = fails(&[
        "policy",
        "sign",
        "--policy",
        s(&draft),
        "--key",
        s(&key),
        "--out",
        s(&p("x")),
    ]);
    assert!(e.contains("SIMULATION"), "{e}");
    ok(&[
        "policy",
        "sign",
        "--policy",
        s(&draft),
        "--key",
        s(&key),
        "--out",
        s(&p("x")),
        "--allow-simulated",
    ]);
    let v = ok(&[
        "policy",
        "verify",
        "--policy",
        s(&p("x")),
        "--release-key",
        s(&p("keys/release-key.pub")),
    ]);
    assert!(v.contains("SIMULATED (NOT A TEE)"), "{v}");
}

#[test]
fn nitro_launch_config_refuses_debug_mode() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("run.json");
    let flags = ok(&[
        "launch",
        "nitro-config",
        "--eif",
        "/opt/sealboost/sealboost.eif",
        "--cid",
        "16",
        "--memory-mib",
        "4096",
        "--cpus",
        "2",
        "--out",
        s(&cfg),
    ]);
    assert!(flags.contains("--enclave-link vsock:16:5000"), "{flags}");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("\"debug_mode\": false"));
    ok(&["launch", "check-nitro-config", "--config", s(&cfg)]);
    std::fs::write(
        &cfg,
        text.replace("\"debug_mode\": false", "\"debug_mode\": true"),
    )
    .unwrap();
    let e = fails(&["launch", "check-nitro-config", "--config", s(&cfg)]);
    assert!(e.contains("debug_mode"), "{e}");
    fails(&[
        "launch",
        "nitro-config",
        "--eif",
        "x.eif",
        "--cid",
        "3",
        "--out",
        s(&cfg),
    ]);
}
