//! Shared test helpers: the real-vector location, test policies, and the fake signers.

// Test helpers: each test binary uses a different subset; a failed unwrap here is a broken
// test fixture, and the panic is the right report.
#![allow(dead_code, clippy::unwrap_used)]

pub mod fake;

use std::io::Write as _;
use std::path::PathBuf;

use attestation::policy::{self, SignedPolicy};
use attestation::Policy;
use ed25519_dalek::SigningKey;

/// `$SEALBOOST_VECTORS`, else `<workspace>/../shared/vectors`. `None` (after a loud
/// message) when absent outside CI; a panic under `CI=true`, where the vectors must exist.
pub fn vectors() -> Option<PathBuf> {
    let dir = std::env::var_os("SEALBOOST_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared")
                .join("vectors")
        });
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but the attestation vectors are missing at {}",
            dir.display()
        );
    }
    // Straight to the process's stderr: the test harness captures `eprintln!`, and this
    // message must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !! SKIPPING real-vector test: no vectors at {}\n\
         !! (set SEALBOOST_VECTORS or check out ../shared/vectors)\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
        dir.display()
    );
    None
}

/// Reads one vector file.
pub fn read(dir: &std::path::Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("reading vector {rel}: {e}"))
}

/// The release key of the tests.
pub fn release_key() -> SigningKey {
    SigningKey::from_bytes(&[0x5E; 32])
}

/// Signs `body` with the test release key and verifies it back, as a client would.
pub fn signed_policy(body: &str) -> Policy {
    let file = policy::sign(body.as_bytes(), &release_key()).expect("test policy is valid");
    SignedPolicy::parse(&file)
        .unwrap()
        .verify(&release_key().verifying_key())
        .unwrap()
}

/// A `[nitro]` section accepting exactly these PCRs.
pub fn nitro_section(pcrs: &[(u8, &str)], max_age: u64) -> String {
    let pcrs = pcrs
        .iter()
        .map(|(i, v)| format!("{i} = \"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!("[nitro]\nmax_evidence_age_secs = {max_age}\n[[nitro.allowed]]\npcrs = {{ {pcrs} }}\n")
}

/// A `[simulated]` section.
pub fn simulated_section(root_sha256: &[u8; 32], pcrs: &[(u8, String)], max_age: u64) -> String {
    let pcrs = pcrs
        .iter()
        .map(|(i, v)| format!("{i} = \"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[simulated]\ntrusted_root_sha256 = \"{}\"\nmax_evidence_age_secs = {max_age}\n[[simulated.allowed]]\npcrs = {{ {pcrs} }}\n",
        hex::encode(root_sha256)
    )
}

/// A `[sev_snp]` section with zero minimum TCBs for every generation.
pub fn snp_section(measurements: &[&str], allow_vlek: bool) -> String {
    let mut s = format!(
        "[sev_snp]\nallow_vlek = {allow_vlek}\n\
         [sev_snp.minimum_tcb.milan]\nbootloader = 0\ntee = 0\nsnp = 0\nmicrocode = 0\n\
         [sev_snp.minimum_tcb.genoa]\nbootloader = 0\ntee = 0\nsnp = 0\nmicrocode = 0\n\
         [sev_snp.minimum_tcb.turin]\nfmc = 0\nbootloader = 0\ntee = 0\nsnp = 0\nmicrocode = 0\n"
    );
    for m in measurements {
        s.push_str(&format!(
            "[[sev_snp.allowed]]\nmeasurement = \"{m}\"\nhost_data = \"skip\"\n"
        ));
    }
    s
}
