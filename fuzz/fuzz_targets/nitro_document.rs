//! Nitro / simulated attestation documents: COSE_Sign1 decoding, payload syntax, the
//! certificate parser and the full verifier (pinned AWS root; a permissive policy so the
//! fuzzer can reach every step). Must never panic.
#![no_main]

use std::sync::OnceLock;

use attestation::nitro::UnverifiedDocument;
use attestation::policy::OperatorCheck;
use attestation::{verify, Evidence, Policy, UnixTime};
use libfuzzer_sys::fuzz_target;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::from_unsigned_for_operator_check(OperatorCheck {
            pcrs: [(0u8, [0u8; 48])].into_iter().collect(),
            measurement: None,
            max_evidence_age_secs: 30 * 24 * 3600,
            simulated_root_sha256: Some([0u8; 32]),
        })
        .expect("static policy is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = UnverifiedDocument::parse(data) {
        let _ = doc.to_be_signed();
        let _ = doc.claims_aws_root();
    }
    // Inside the AWS vectors' validity window, so chain checks run to the signatures.
    let now = UnixTime::from_secs(1_705_432_216);
    let _ = verify(&Evidence::Nitro(data.to_vec()), policy(), now);
    let _ = verify(&Evidence::Simulated(data.to_vec()), policy(), now);
});
