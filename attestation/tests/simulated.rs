//! Simulated evidence goes through the same verifier as Nitro's, trusted only via the
//! policy; a different enclave binary (different PCR0) is refused; binding round trips.

mod common;

use attestation::simulated::{
    enclave_pcrs, verify_simulated_with_root, AttesterMaterial, SimulatedAttester, SimulationCa,
};
use attestation::{binding, verify, Error, Evidence, Measurements, Platform, Policy, UnixTime};
use common::{signed_policy, simulated_section};
use rand_core::OsRng;
use sha2::{Digest, Sha384};

const NOW: u64 = 1_756_684_800;
const ENCLAVE_V1: &[u8] = b"\x7fELF pretend this is the enclave binary, version 1";
const ENCLAVE_V2: &[u8] = b"\x7fELF pretend this is the enclave binary, version 2";

fn new_ca() -> SimulationCa {
    SimulationCa::generate_with(&mut OsRng, UnixTime::from_secs(NOW - 3600)).expect("test fixture")
}

fn policy_for(ca: &SimulationCa, exe: &[u8]) -> Policy {
    let pcrs = enclave_pcrs(exe);
    signed_policy(&format!(
        "version = 1\n{}",
        simulated_section(
            &ca.root_sha256(),
            &[0u8, 1, 2].map(|i| (i, hex::encode(pcrs[&i]))),
            300
        )
    ))
}

#[test]
fn pcrs_are_the_documented_hashes() {
    let pcrs = enclave_pcrs(ENCLAVE_V1);
    assert_eq!(pcrs.len(), 3);
    assert_eq!(pcrs[&0], <[u8; 48]>::from(Sha384::digest(ENCLAVE_V1)));
    assert_eq!(
        pcrs[&1],
        <[u8; 48]>::from(Sha384::digest(b"sealboost simulated platform v1"))
    );
    assert_eq!(
        pcrs[&2],
        <[u8; 48]>::from(Sha384::digest(b"sealboost simulated application v1"))
    );
}

#[test]
fn simulated_evidence_round_trips_through_the_verifier() {
    let ca = new_ca();
    let attester =
        SimulatedAttester::new(ca.attester_material(), enclave_pcrs(ENCLAVE_V1)).unwrap();
    let spki = b"enclave TLS SPKI";
    let nonce = [0x42u8; 32];
    let doc = attester
        .attest(
            Some(&binding::digest(spki, &nonce)),
            Some(&nonce),
            None,
            UnixTime::from_secs(NOW),
        )
        .unwrap();
    let v = verify(
        &Evidence::Simulated(doc.clone()),
        &policy_for(&ca, ENCLAVE_V1),
        UnixTime::from_secs(NOW + 10),
    )
    .unwrap();
    assert_eq!(v.platform, Platform::Simulated);
    let Measurements::Pcrs { pcrs } = &v.measurements else {
        panic!("PCRs expected")
    };
    assert_eq!(pcrs.len(), 16);
    assert_eq!(pcrs[&0], enclave_pcrs(ENCLAVE_V1)[&0]);
    binding::check(&v, spki, &nonce).unwrap();

    // The explicit-root entry point agrees.
    verify_simulated_with_root(
        &doc,
        ca.root_cert_der(),
        &policy_for(&ca, ENCLAVE_V1),
        UnixTime::from_secs(NOW),
    )
    .unwrap();
}

#[test]
fn a_different_enclave_binary_is_refused() {
    let ca = new_ca();
    let attester =
        SimulatedAttester::new(ca.attester_material(), enclave_pcrs(ENCLAVE_V2)).unwrap();
    let doc = attester
        .attest(None, None, None, UnixTime::from_secs(NOW))
        .unwrap();
    let err = verify(
        &Evidence::Simulated(doc),
        &policy_for(&ca, ENCLAVE_V1),
        UnixTime::from_secs(NOW),
    )
    .unwrap_err();
    assert!(matches!(err, Error::PcrMismatch { index: 0 }), "{err:?}");
}

#[test]
fn simulated_evidence_needs_an_explicit_policy_section() {
    let ca = new_ca();
    let attester =
        SimulatedAttester::new(ca.attester_material(), enclave_pcrs(ENCLAVE_V1)).unwrap();
    let doc = attester
        .attest(None, None, None, UnixTime::from_secs(NOW))
        .unwrap();
    let pcr0 = hex::encode(enclave_pcrs(ENCLAVE_V1)[&0]);
    // A Nitro section with the very same PCRs does not make simulated evidence trusted.
    let nitro_only = signed_policy(&format!(
        "version = 1\n{}",
        common::nitro_section(&[(0, &pcr0)], 300)
    ));
    let err = verify(
        &Evidence::Simulated(doc.clone()),
        &nitro_only,
        UnixTime::from_secs(NOW),
    )
    .unwrap_err();
    assert!(matches!(err, Error::SimulatedRootNotTrusted), "{err:?}");
    // And presenting it as Nitro evidence fails the pinned AWS root.
    let err = verify(
        &Evidence::Nitro(doc.clone()),
        &nitro_only,
        UnixTime::from_secs(NOW),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::CertChainInvalid { index: 0, .. }),
        "{err:?}"
    );
    // Another operator's simulation root is not this one.
    let other = new_ca();
    let err = verify(
        &Evidence::Simulated(doc.clone()),
        &policy_for(&other, ENCLAVE_V1),
        UnixTime::from_secs(NOW),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::SimulatedRootMismatch { .. }),
        "{err:?}"
    );
    let err = verify_simulated_with_root(
        &doc,
        other.root_cert_der(),
        &policy_for(&ca, ENCLAVE_V1),
        UnixTime::from_secs(NOW),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::SimulatedRootMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn simulated_documents_age_and_expire_like_nitro_ones() {
    let ca = new_ca();
    let attester =
        SimulatedAttester::new(ca.attester_material(), enclave_pcrs(ENCLAVE_V1)).unwrap();
    let doc = attester
        .attest(None, None, None, UnixTime::from_secs(NOW))
        .unwrap();
    let p = policy_for(&ca, ENCLAVE_V1);
    let err = verify(
        &Evidence::Simulated(doc.clone()),
        &p,
        UnixTime::from_secs(NOW + 301),
    )
    .unwrap_err();
    assert!(matches!(err, Error::EvidenceTooOld { .. }), "{err:?}");
    let err = verify(
        &Evidence::Simulated(doc),
        &p,
        UnixTime::from_secs(NOW + 4 * 3600),
    )
    .unwrap_err();
    assert!(matches!(err, Error::CertExpired { .. }), "{err:?}");
    // The attester renews its leaf certificate when it nears expiry.
    let later = UnixTime::from_secs(NOW + 5 * 3600);
    let doc = attester.attest(None, None, None, later).unwrap();
    verify(&Evidence::Simulated(doc), &p, later).unwrap();
}

#[test]
fn attester_enforces_nitro_field_limits() {
    let ca = new_ca();
    let attester =
        SimulatedAttester::new(ca.attester_material(), enclave_pcrs(ENCLAVE_V1)).unwrap();
    let at = UnixTime::from_secs(NOW);
    let err = attester
        .attest(Some(&[0; 513]), None, None, at)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::FieldTooLarge {
            field: "user_data",
            ..
        }
    ));
    let err = attester
        .attest(None, Some(&[0; 513]), None, at)
        .unwrap_err();
    assert!(matches!(err, Error::FieldTooLarge { field: "nonce", .. }));
    let err = attester.attest(None, None, Some(&[]), at).unwrap_err();
    assert!(matches!(
        err,
        Error::FieldInvalid {
            field: "public_key",
            ..
        }
    ));
    let mut bad = enclave_pcrs(ENCLAVE_V1);
    bad.insert(40, [0; 48]);
    let err = SimulatedAttester::new(ca.attester_material(), bad).unwrap_err();
    assert!(matches!(err, Error::FieldInvalid { field: "pcrs", .. }));
}

#[test]
fn ca_and_attester_material_round_trip_through_pem() {
    let ca = new_ca();
    let pem = ca.to_pem().unwrap();
    let back = SimulationCa::from_pem(&pem).unwrap();
    assert_eq!(back.root_cert_der(), ca.root_cert_der());
    assert_eq!(back.root_sha256(), ca.root_sha256());
    assert!(!format!("{back:?}").contains("PRIVATE"));

    let material = AttesterMaterial::from_pem(&back.attester_material().to_pem().unwrap()).unwrap();
    let attester = SimulatedAttester::new(material, enclave_pcrs(ENCLAVE_V1)).unwrap();
    let doc = attester
        .attest(None, None, None, UnixTime::from_secs(NOW))
        .unwrap();
    verify(
        &Evidence::Simulated(doc),
        &policy_for(&ca, ENCLAVE_V1),
        UnixTime::from_secs(NOW),
    )
    .unwrap();

    // Mismatched key and certificate are refused.
    let other = SimulationCa::generate_with(&mut OsRng, UnixTime::from_secs(NOW)).unwrap();
    let mixed: String = {
        let a = ca.to_pem().unwrap();
        let b = other.to_pem().unwrap();
        let blocks = |s: &str| -> Vec<String> {
            s.split_inclusive("-----\n")
                .collect::<String>()
                .split("-----BEGIN ")
                .skip(1)
                .map(|b| format!("-----BEGIN {b}"))
                .collect()
        };
        let (a, b) = (blocks(&a), blocks(&b));
        [a[0].clone(), b[1].clone(), a[2].clone(), a[3].clone()].concat()
    };
    let err = SimulationCa::from_pem(&mixed).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SimulationMaterialMalformed {
                reason: "private key does not match its certificate"
            }
        ),
        "{err:?}"
    );
    let err = SimulationCa::from_pem("no pem here").unwrap_err();
    assert!(matches!(err, Error::SimulationMaterialMalformed { .. }));
}

#[test]
fn binding_mismatches_are_specific() {
    let ca = new_ca();
    let attester =
        SimulatedAttester::new(ca.attester_material(), enclave_pcrs(ENCLAVE_V1)).unwrap();
    let spki = b"enclave TLS SPKI";
    let nonce = [7u8; 32];
    let p = policy_for(&ca, ENCLAVE_V1);
    let at = UnixTime::from_secs(NOW);
    let doc = attester
        .attest(Some(&binding::digest(spki, &nonce)), Some(&nonce), None, at)
        .unwrap();
    let v = verify(&Evidence::Simulated(doc), &p, at).unwrap();
    binding::check(&v, spki, &nonce).unwrap();
    // A different TLS key (a relay between client and enclave).
    let err = binding::check(&v, b"attacker SPKI", &nonce).unwrap_err();
    assert!(matches!(err, Error::BindingMismatch { field: "user_data" }));
    // Errors are safe to log: no key, nonce or digest bytes in the message.
    for secretish in [
        hex::encode(nonce),
        hex::encode(binding::digest(spki, &nonce)),
    ] {
        assert!(!err.to_string().contains(&secretish));
        assert!(!format!("{err:?}").contains(&secretish));
    }
    // A replayed document (old nonce).
    let err = binding::check(&v, spki, &[8u8; 32]).unwrap_err();
    assert!(matches!(err, Error::BindingMismatch { field: "user_data" }));
    // user_data bound but the nonce field differs.
    let doc = attester
        .attest(
            Some(&binding::digest(spki, &nonce)),
            Some(&[9u8; 32]),
            None,
            at,
        )
        .unwrap();
    let v = verify(&Evidence::Simulated(doc), &p, at).unwrap();
    let err = binding::check(&v, spki, &nonce).unwrap_err();
    assert!(matches!(err, Error::BindingMismatch { field: "nonce" }));
    // No user_data at all.
    let doc = attester.attest(None, Some(&nonce), None, at).unwrap();
    let v = verify(&Evidence::Simulated(doc), &p, at).unwrap();
    let err = binding::check(&v, spki, &nonce).unwrap_err();
    assert!(matches!(err, Error::BindingMismatch { field: "user_data" }));
    // Nonces must be unguessable.
    let err = binding::check(&v, spki, &[1; 8]).unwrap_err();
    assert!(matches!(err, Error::FieldInvalid { field: "nonce", .. }));
}

#[test]
fn snp_binding_uses_report_data() {
    use common::fake::{EndorsementSpec, FakeAmd, Report};
    let amd = FakeAmd::get();
    let (key, cert) = EndorsementSpec::vcek().issue(amd);
    let spki = b"enclave TLS SPKI";
    let nonce = [5u8; 32];
    let policy = signed_policy(&format!(
        "version = 1\n{}",
        common::snp_section(&[&hex::encode(common::fake::FAKE_MEASUREMENT)], false)
    ));
    let report = Report::new()
        .put(0x50, &binding::snp_report_data(spki, &nonce))
        .sign(&key);
    let v = attestation::snp::verify_snp_with_roots(
        &report,
        &cert,
        None,
        &amd.roots(),
        &policy,
        UnixTime::from_secs(common::fake::NOW),
    )
    .unwrap();
    binding::check(&v, spki, &nonce).unwrap();
    let err = binding::check(&v, spki, &[6u8; 32]).unwrap_err();
    assert!(matches!(
        err,
        Error::BindingMismatch {
            field: "report_data"
        }
    ));
    // Non-zero tail of REPORT_DATA.
    let mut data = binding::snp_report_data(spki, &nonce);
    data[63] = 1;
    let report = Report::new().put(0x50, &data).sign(&key);
    let v = attestation::snp::verify_snp_with_roots(
        &report,
        &cert,
        None,
        &amd.roots(),
        &policy,
        UnixTime::from_secs(common::fake::NOW),
    )
    .unwrap();
    let err = binding::check(&v, spki, &nonce).unwrap_err();
    assert!(matches!(
        err,
        Error::BindingMismatch {
            field: "report_data"
        }
    ));
}

#[test]
fn claims_record_an_unsigned_operator_policy() {
    let ca = new_ca();
    let attester =
        SimulatedAttester::new(ca.attester_material(), enclave_pcrs(ENCLAVE_V1)).unwrap();
    let doc = attester
        .attest(None, None, None, UnixTime::from_secs(NOW))
        .unwrap();
    let p = Policy::from_unsigned_for_operator_check(attestation::policy::OperatorCheck {
        pcrs: [(0u8, enclave_pcrs(ENCLAVE_V1)[&0])].into_iter().collect(),
        measurement: None,
        max_evidence_age_secs: 300,
        simulated_root_sha256: Some(ca.root_sha256()),
    })
    .unwrap();
    let v = verify(&Evidence::Simulated(doc), &p, UnixTime::from_secs(NOW)).unwrap();
    assert_eq!(
        v.policy_origin,
        attestation::PolicyOrigin::UnsignedOperatorCheck
    );
}
