//! `sealboost attest verify|inspect` end to end: exit code 0 accepted, 1 rejected,
//! 2 usage error; the output names the failed step; never a panic.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use attestation::simulated::{enclave_pcrs, SimulatedAttester, SimulationCa};
use attestation::UnixTime;

const PROD: &str = "nitro/libsignal-prod-20240116.cose";
const PROD_AT: &str = "1705432216";
const PROD_AT_RFC3339: &str = "2024-01-16T19:10:16Z";
const PCR0: &str = "67fdc91606ca9d5e73c35412f7d22397deb3f56ff2365803c66f0924f1dbeb29517fa4a62014b0bf49bd59541e4bcdd7";
const PCR1: &str = "52b919754e1643f4027eeee8ec39cc4a2cb931723de0c93ce5cc8d407467dc4302e86490c01c0d755acfe10dbf657546";
const PCR2: &str = "18e034916997b8e97edfc79e743f70ddcef21a45841a7a8727e2b6d094b1941bd6f988d806df1471025bcccfe35c4572";
const VIRTEE_M: &str = "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";

fn vectors() -> Option<PathBuf> {
    let dir = std::env::var_os("SEALBOOST_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but the attestation vectors are missing at {}",
            dir.display()
        );
    }
    // Straight to stderr: the harness captures `eprintln!`, and this must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!! SKIPPING real-vector CLI test: no vectors at {} !!!!!\n",
        dir.display()
    );
    None
}

fn sealboost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealboost"))
        .args(args)
        .output()
        .expect("run sealboost")
}

fn code(o: &Output) -> i32 {
    o.status
        .code()
        .expect("exited, not killed by a signal (a panic would abort with 101)")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn path(dir: &Path, rel: &str) -> String {
    dir.join(rel).display().to_string()
}

fn signed_policy_file(dir: &Path, key: &ed25519_dalek::SigningKey, pcr0: &str) -> PathBuf {
    let body = format!(
        "version = 1\n[nitro]\nmax_evidence_age_secs = 10800\n[[nitro.allowed]]\n\
         pcrs = {{ 0 = \"{pcr0}\", 1 = \"{PCR1}\", 2 = \"{PCR2}\" }}\n"
    );
    let file = attestation::policy::sign(body.as_bytes(), key).expect("test fixture");
    let p = dir.join(format!("policy-{}.toml", &pcr0[..8]));
    std::fs::write(&p, file).expect("test fixture");
    p
}

#[test]
fn nitro_adhoc_pcr_accepts_and_says_unsigned() {
    let Some(v) = vectors() else { return };
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &path(&v, PROD),
        "--pcr",
        &format!("0={PCR0}"),
        "--at",
        PROD_AT,
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let out = stdout(&o);
    assert!(out.starts_with("ACCEPTED: AWS Nitro"), "{out}");
    assert!(out.contains("AD-HOC UNSIGNED"), "{out}");
    assert!(out.contains(PCR0));
    // RFC 3339 time gives the same verdict.
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &path(&v, PROD),
        "--pcr",
        &format!("0={PCR0}"),
        "--at",
        PROD_AT_RFC3339,
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
}

#[test]
fn nitro_rejections_name_the_step() {
    let Some(v) = vectors() else { return };
    let mut wrong = PCR0.to_owned();
    wrong.replace_range(0..2, "00");
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &path(&v, PROD),
        "--pcr",
        &format!("0={wrong}"),
        "--at",
        PROD_AT,
        "--json",
    ]);
    assert_eq!(code(&o), 1, "{o:?}");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["verdict"], "rejected");
    assert_eq!(json["step"], "pcr_mismatch");
    assert_eq!(json["unsigned_policy"], true);

    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &path(&v, PROD),
        "--pcr",
        &format!("0={PCR0}"),
        "--at",
        "2030-01-01T00:00:00Z",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).starts_with("REJECTED at step `cert_expired`"),
        "{}",
        stdout(&o)
    );

    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &path(&v, "nitro/libsignal-debug-20230517.cose"),
        "--pcr",
        &format!("0={}", "00".repeat(48)),
        "--at",
        "1684362463",
    ]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("debug_enclave"), "{}", stdout(&o));
}

#[test]
fn signed_policy_with_pinned_release_key() {
    let Some(v) = vectors() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let key_hex = hex::encode(key.verifying_key().as_bytes());
    let good = signed_policy_file(tmp.path(), &key, PCR0);
    let ev = path(&v, PROD);

    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &ev,
        "--policy",
        good.to_str().unwrap(),
        "--release-key",
        &key_hex,
        "--at",
        PROD_AT,
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(
        stdout(&o).contains("signed release policy"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("UNSIGNED"));

    // Release key from a file.
    let key_file = tmp.path().join("release.pub");
    std::fs::write(&key_file, format!("{key_hex}\n")).unwrap();
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &ev,
        "--policy",
        good.to_str().unwrap(),
        "--release-key",
        key_file.to_str().unwrap(),
        "--at",
        PROD_AT,
    ]);
    assert_eq!(code(&o), 0, "{o:?}");

    // Wrong key: rejected at the policy signature.
    let other = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[4; 32])
            .verifying_key()
            .as_bytes(),
    );
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &ev,
        "--policy",
        good.to_str().unwrap(),
        "--release-key",
        &other,
        "--at",
        PROD_AT,
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("policy_signature_invalid"),
        "{}",
        stdout(&o)
    );

    // Unsigned policy file: refused.
    let unsigned = tmp.path().join("unsigned.toml");
    let body = std::fs::read(&good).unwrap();
    let body = &body[body.iter().position(|b| *b == b'\n').unwrap() + 1..];
    std::fs::write(&unsigned, body).unwrap();
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &ev,
        "--policy",
        unsigned.to_str().unwrap(),
        "--release-key",
        &key_hex,
        "--at",
        PROD_AT,
    ]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("policy_unsigned"), "{}", stdout(&o));

    // A signed policy with one changed measurement rejects.
    let mut changed = PCR0.to_owned();
    changed.replace_range(94..96, "00");
    let bad = signed_policy_file(tmp.path(), &key, &changed);
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &ev,
        "--policy",
        bad.to_str().unwrap(),
        "--release-key",
        &key_hex,
        "--at",
        PROD_AT,
    ]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("pcr_mismatch"), "{}", stdout(&o));
}

#[test]
fn snp_report_with_endorsements() {
    let Some(v) = vectors() else { return };
    let report = path(&v, "snp/virtee-milan.report");
    let vcek = path(&v, "snp/virtee-milan.vcek.der");
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &report,
        "--endorsement",
        &vcek,
        "--measurement",
        VIRTEE_M,
        "--at",
        "2025-09-01T00:00:00Z",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(stdout(&o).contains("AMD SEV-SNP"));
    // With the KDS-style ASK+ARK bundle as a second endorsement.
    let bundle = path(&v, "roots/amd-ask-ark-asvk-milan.pem");
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &report,
        "--endorsement",
        &vcek,
        "--endorsement",
        &path(&v, "roots/amd-ask-milan.pem"),
        "--measurement",
        VIRTEE_M,
        "--at",
        "1756684800",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["claims"]["platform"], "sev-snp");
    // A bundle with ASK, ARK and ASVK: the VCEK's issuer is picked, the rest ignored.
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &report,
        "--endorsement",
        &vcek,
        "--endorsement",
        &bundle,
        "--measurement",
        VIRTEE_M,
        "--at",
        "1756684800",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    // Two VCEKs are ambiguous: rejected with the step named, not a panic.
    let trustee = path(&v, "snp/trustee-v2.vcek.der");
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &report,
        "--endorsement",
        &vcek,
        "--endorsement",
        &trustee,
        "--measurement",
        VIRTEE_M,
        "--at",
        "1756684800",
    ]);
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(
        stdout(&o).contains("endorsement_unrecognized"),
        "{}",
        stdout(&o)
    );
    // Without endorsements: usage error (the verifier never fetches).
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &report,
        "--measurement",
        VIRTEE_M,
        "--at",
        "1756684800",
    ]);
    assert_eq!(code(&o), 2);
    // Changed measurement.
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        &report,
        "--endorsement",
        &vcek,
        "--measurement",
        &"11".repeat(48),
        "--at",
        "1756684800",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("measurement_not_allowed"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn simulated_evidence_with_an_explicit_root() {
    let tmp = tempfile::tempdir().unwrap();
    let now = UnixTime::now();
    let ca = SimulationCa::generate().unwrap();
    let pcrs = enclave_pcrs(b"an enclave binary");
    let doc = SimulatedAttester::new(ca.attester_material(), pcrs.clone())
        .unwrap()
        .attest(None, None, None, now)
        .unwrap();
    let ev = tmp.path().join("sim.cose");
    std::fs::write(&ev, &doc).unwrap();
    let root = tmp.path().join("root.pem");
    std::fs::write(&root, ca.root_cert_pem()).unwrap();
    let pcr = format!("0={}", hex::encode(pcrs[&0]));
    let ev = ev.to_str().unwrap();

    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        ev,
        "--pcr",
        &pcr,
        "--simulation-root",
        root.to_str().unwrap(),
        "--at",
        "now",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(stdout(&o).contains("SIMULATED"), "{}", stdout(&o));
    // Without trusting the root: rejected with the specific step.
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        ev,
        "--pcr",
        &pcr,
        "--at",
        "now",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("simulated_root_not_trusted"),
        "{}",
        stdout(&o)
    );
    // A different enclave binary.
    let other = format!("0={}", hex::encode(enclave_pcrs(b"another binary")[&0]));
    let o = sealboost(&[
        "attest",
        "verify",
        "--evidence",
        ev,
        "--pcr",
        &other,
        "--simulation-root",
        root.to_str().unwrap(),
        "--at",
        "now",
    ]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("pcr_mismatch"), "{}", stdout(&o));
    // Base64 evidence works too.
    let b64 = tmp.path().join("sim.b64");
    std::fs::write(
        &b64,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &doc),
    )
    .unwrap();
    let o = sealboost(&["attest", "inspect", b64.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(stdout(&o).contains("NOT the AWS root"));
}

#[test]
fn inspect_prints_parsed_fields() {
    let Some(v) = vectors() else { return };
    let o = sealboost(&["attest", "inspect", &path(&v, PROD)]);
    assert_eq!(code(&o), 0, "{o:?}");
    let out = stdout(&o);
    assert!(out.starts_with("UNVERIFIED"), "{out}");
    assert!(
        out.contains(PCR0)
            && out.contains("aws.nitro-enclaves")
            && out.contains("AWS Nitro root G1")
    );
    let o = sealboost(&[
        "attest",
        "inspect",
        &path(&v, "snp/oak-turin_oc.report"),
        "--json",
    ]);
    assert_eq!(code(&o), 0);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["version"], 5);
    assert_eq!(json["reported_tcb"], "0001000200000047");
    let o = sealboost(&["attest", "inspect", &path(&v, "snp/oak-genoa_oc.report")]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains("genoa: bootloader=10"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn garbage_and_usage_errors_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, content) in [
        vec![],
        vec![0x84],
        vec![0xFF; 1184],
        vec![
            0x84, 0x44, 0xA1, 0x01, 0x38, 0x22, 0xA0, 0x5A, 0xFF, 0xFF, 0xFF, 0xFF,
        ],
        b"-----BEGIN CERTIFICATE-----\nnot base64\n".to_vec(),
        (0..=255u8).cycle().take(5000).collect(),
    ]
    .into_iter()
    .enumerate()
    {
        let f = tmp.path().join(format!("garbage{i}"));
        std::fs::write(&f, &content).unwrap();
        let f = f.to_str().unwrap();
        // Any 1184 bytes have the report layout, so only those "parse".
        let o = sealboost(&["attest", "inspect", f]);
        assert_eq!(
            code(&o),
            if content.len() == 1184 { 0 } else { 1 },
            "inspect garbage{i}: {o:?}"
        );
        let o = sealboost(&[
            "attest",
            "verify",
            "--evidence",
            f,
            "--pcr",
            &format!("0={PCR0}"),
            "--at",
            "0",
        ]);
        // 1184 bytes are detected as an SEV-SNP report, which needs endorsements (usage).
        let expected = if content.len() == 1184 { 2 } else { 1 };
        assert_eq!(code(&o), expected, "verify garbage{i}: {o:?}");
        let o = sealboost(&[
            "attest",
            "verify",
            "--evidence",
            f,
            "--endorsement",
            f,
            "--measurement",
            VIRTEE_M,
            "--platform",
            "sev-snp",
            "--at",
            "0",
        ]);
        assert_eq!(code(&o), 1, "verify snp garbage{i}: {o:?}");
    }
    let f = tmp.path().join("garbage0");
    let f = f.to_str().unwrap();
    for args in [
        vec!["attest", "verify", "--evidence", f, "--at", "0"],
        vec![
            "attest",
            "verify",
            "--evidence",
            f,
            "--pcr",
            "0",
            "--at",
            "0",
        ],
        vec![
            "attest",
            "verify",
            "--evidence",
            f,
            "--pcr",
            "99=00",
            "--at",
            "0",
        ],
        vec![
            "attest",
            "verify",
            "--evidence",
            f,
            "--pcr",
            "1=00",
            "--at",
            "0",
        ],
        vec![
            "attest",
            "verify",
            "--evidence",
            f,
            "--pcr",
            "0=zz",
            "--at",
            "0",
        ],
        vec![
            "attest",
            "verify",
            "--evidence",
            f,
            "--pcr",
            "0=00",
            "--at",
            "yesterday",
        ],
        vec![
            "attest",
            "verify",
            "--evidence",
            f,
            "--policy",
            f,
            "--at",
            "0",
        ],
        vec![
            "attest",
            "verify",
            "--evidence",
            f,
            "--policy",
            f,
            "--release-key",
            "abcd",
            "--at",
            "0",
        ],
        vec![
            "attest",
            "verify",
            "--evidence",
            "/nonexistent/x",
            "--measurement",
            VIRTEE_M,
            "--at",
            "0",
        ],
        vec!["attest", "inspect", "/nonexistent/x"],
        vec!["attest", "frobnicate"],
        vec![],
    ] {
        let o = sealboost(&args);
        assert_eq!(code(&o), 2, "{args:?}: {o:?}");
    }
    assert_eq!(code(&sealboost(&["attest", "verify", "--help"])), 0);
}
