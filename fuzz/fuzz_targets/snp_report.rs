//! SEV-SNP: the fixed-layout report parser, the endorsement (X.509) parser and the full
//! verifier. Input = 1184-byte report followed by a VCEK/VLEK DER. Must never panic.
#![no_main]

use std::sync::OnceLock;

use attestation::policy::OperatorCheck;
use attestation::snp::{self, AttestationReport, REPORT_LEN};
use attestation::{verify, Evidence, Policy, UnixTime};
use libfuzzer_sys::fuzz_target;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::from_unsigned_for_operator_check(OperatorCheck {
            pcrs: Default::default(),
            measurement: Some([0u8; 48]),
            max_evidence_age_secs: 3600,
            simulated_root_sha256: None,
        })
        .expect("static policy is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = AttestationReport::parse(data);
    let (report, cert) = data.split_at(data.len().min(REPORT_LEN));
    if let Ok(r) = AttestationReport::parse(report) {
        let _ = r.cpuid_generation();
        let _ = r.signed_bytes();
    }
    let _ = snp::sort_endorsements(&[cert.to_vec()]);
    let ev = Evidence::SevSnp {
        report: report.to_vec(),
        vcek_or_vlek: cert.to_vec(),
        ask_or_asvk: None,
    };
    // Inside the real VCEKs' validity windows.
    let _ = verify(&ev, policy(), UnixTime::from_secs(1_756_684_800));
});
