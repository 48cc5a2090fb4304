//! One targeted negative test per SEV-SNP verification step, with a fake AMD PKI
//! (RSA-PSS ARK/ASK/ASVK, P-384 VCEK/VLEK) and fake-signed reports.

mod common;

use attestation::roots::AmdRoots;
use attestation::snp::verify_snp_with_roots;
use attestation::{Error, Generation, Platform, Policy, SnpSigningKey, TcbComponent, UnixTime};
use common::fake::{
    self, CertSpec, EndorsementSpec, FakeAmd, Report, ARK_NAME, ASK_NAME, DAY, FAKE_CHIP_ID,
    FAKE_MEASUREMENT, NOW,
};
use common::signed_policy;

fn policy_body(allow_vlek: bool, milan_min: (u8, u8, u8, u8), host_data: &str) -> String {
    let (bl, tee, snp, ucode) = milan_min;
    format!(
        "version = 1\n[sev_snp]\nallow_vlek = {allow_vlek}\n\
         [sev_snp.minimum_tcb.milan]\nbootloader = {bl}\ntee = {tee}\nsnp = {snp}\nmicrocode = {ucode}\n\
         [[sev_snp.allowed]]\nmeasurement = \"{}\"\nhost_data = {host_data}\n",
        hex::encode(FAKE_MEASUREMENT)
    )
}

fn policy() -> Policy {
    signed_policy(&policy_body(true, (3, 0, 8, 115), "\"skip\""))
}

fn roots() -> AmdRoots {
    FakeAmd::get().roots()
}

fn check(
    report: &[u8],
    endorsement: &[u8],
    policy: &Policy,
) -> Result<attestation::Verified<attestation::Claims>, Error> {
    verify_snp_with_roots(
        report,
        endorsement,
        None,
        &roots(),
        policy,
        UnixTime::from_secs(NOW),
    )
}

fn vcek() -> (p384::ecdsa::SigningKey, Vec<u8>) {
    EndorsementSpec::vcek().issue(FakeAmd::get())
}

#[test]
fn the_fake_baseline_is_accepted() {
    let (key, cert) = vcek();
    let v = check(&Report::new().sign(&key), &cert, &policy()).unwrap();
    assert_eq!(v.platform, Platform::SevSnp);
    let snp = v.snp.as_ref().unwrap();
    assert_eq!(snp.generation, Generation::Milan);
    assert_eq!(snp.signing_key, SnpSigningKey::Vcek);
    assert_eq!(snp.chip_id, FAKE_CHIP_ID);
    // v2 report (no CPUID fields) is accepted too.
    let v2 = Report::new().u32_at(0, 2).put(0x188, &[0, 0, 0]).sign(&key);
    check(&v2, &cert, &policy()).unwrap();
}

// 1.
#[test]
fn report_size_is_exact() {
    let (key, cert) = vcek();
    let mut r = Report::new().sign(&key);
    r.push(0);
    assert!(matches!(
        check(&r, &cert, &policy()).unwrap_err(),
        Error::ReportSizeMismatch { len: 1185 }
    ));
    assert!(matches!(
        check(&r[..1183], &cert, &policy()).unwrap_err(),
        Error::ReportSizeMismatch { len: 1183 }
    ));
}

// 2.
#[test]
fn report_version_range() {
    let (key, cert) = vcek();
    for version in [0u32, 1, 6, u32::MAX] {
        let r = Report::new().u32_at(0, version).sign(&key);
        let err = check(&r, &cert, &policy()).unwrap_err();
        assert!(
            matches!(err, Error::ReportVersionUnsupported { version: v, .. } if v == version),
            "{err:?}"
        );
    }
}

// 3.
#[test]
fn signature_algorithm_must_be_ecdsa_p384() {
    let (key, cert) = vcek();
    let r = Report::new().u32_at(0x34, 2).sign(&key);
    let err = check(&r, &cert, &policy()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedAlgorithm {
                context: "SEV-SNP SIGNATURE_ALGO",
                ..
            }
        ),
        "{err:?}"
    );
}

// 4.
#[test]
fn endorsement_must_name_its_generation() {
    let amd = FakeAmd::get();
    let mut spec = EndorsementSpec::vcek();
    spec.cert.issuer = "CN=SEV-Bergamo9,O=Fake AMD".to_owned();
    let (key, cert) = spec.issue(amd);
    let err = check(&Report::new().sign(&key), &cert, &policy()).unwrap_err();
    assert!(
        matches!(err, Error::EndorsementUnrecognized { .. }),
        "{err:?}"
    );

    let mut spec = EndorsementSpec::vcek();
    spec.cert.subject = "CN=SEV-SOMETHING,O=Fake AMD".to_owned();
    let (key, cert) = spec.issue(amd);
    let err = check(&Report::new().sign(&key), &cert, &policy()).unwrap_err();
    assert!(
        matches!(err, Error::EndorsementUnrecognized { .. }),
        "{err:?}"
    );

    // The ASK itself is not an endorsement.
    let (key, _) = vcek();
    let err = check(&Report::new().sign(&key), &amd.ask, &policy()).unwrap_err();
    assert!(
        matches!(err, Error::EndorsementUnrecognized { .. }),
        "{err:?}"
    );

    let err = check(&Report::new().sign(&key), b"not a certificate", &policy()).unwrap_err();
    assert!(
        matches!(err, Error::CertMalformed { index: 2, .. }),
        "{err:?}"
    );

    // No anchors for the generation.
    let (key, cert) = vcek();
    let err = verify_snp_with_roots(
        &Report::new().sign(&key),
        &cert,
        None,
        &AmdRoots::empty(),
        &policy(),
        UnixTime::from_secs(NOW),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::EndorsementUnrecognized { .. }),
        "{err:?}"
    );
}

// 5.
#[test]
fn signing_key_field_must_match_the_certificate() {
    let (key, cert) = vcek();
    let r = Report::new().put(0x48, &[0b100]).sign(&key); // SIGNING_KEY = 1 (VLEK)
    let err = check(&r, &cert, &policy()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SigningKeyMismatch {
                reported: 1,
                supplied: "VCEK"
            }
        ),
        "{err:?}"
    );

    let (vkey, vlek) = EndorsementSpec::vlek().issue(FakeAmd::get());
    let r = Report::new().sign(&vkey); // SIGNING_KEY = 0 (VCEK)
    let err = check(&r, &vlek, &policy()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SigningKeyMismatch {
                reported: 0,
                supplied: "VLEK"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn vlek_needs_the_policy_to_allow_it() {
    let (vkey, vlek) = EndorsementSpec::vlek().issue(FakeAmd::get());
    let r = Report::new().put(0x48, &[0b100]).sign(&vkey);
    let v = check(&r, &vlek, &policy()).unwrap();
    assert_eq!(v.snp.as_ref().unwrap().signing_key, SnpSigningKey::Vlek);
    let no_vlek = signed_policy(&policy_body(false, (0, 0, 0, 0), "\"skip\""));
    assert!(matches!(
        check(&r, &vlek, &no_vlek).unwrap_err(),
        Error::VlekNotAllowed
    ));
}

// 6.
#[test]
fn cpuid_must_match_the_generation() {
    let (key, cert) = vcek();
    for (fam, model) in [(0x19u8, 0x11u8), (0x1A, 0x02), (0x17, 0x31)] {
        let r = Report::new().put(0x188, &[fam, model]).sign(&key);
        let err = check(&r, &cert, &policy()).unwrap_err();
        assert!(
            matches!(err, Error::GenerationMismatch { endorsed: Generation::Milan, family, model: m } if family == fam && m == model),
            "{err:?}"
        );
    }
}

// 7.
#[test]
fn endorsement_chain_is_verified_at_the_time() {
    let amd = FakeAmd::get();
    let mut spec = EndorsementSpec::vcek();
    spec.cert.not_after = NOW - 1;
    let (key, cert) = spec.issue(amd);
    let err = check(&Report::new().sign(&key), &cert, &policy()).unwrap_err();
    assert!(
        matches!(err, Error::CertExpired { index: 2, .. }),
        "{err:?}"
    );

    let mut spec = EndorsementSpec::vcek();
    spec.cert.not_before = NOW + DAY;
    let (key, cert) = spec.issue(amd);
    let err = check(&Report::new().sign(&key), &cert, &policy()).unwrap_err();
    assert!(
        matches!(err, Error::CertNotYetValid { index: 2, .. }),
        "{err:?}"
    );

    // VCEK signed by a key that is not the ASK's.
    let (key, _) = vcek();
    let mut spec = EndorsementSpec::vcek().cert;
    spec.extra.clear();
    let rogue = fake::issue_pss(&spec, fake::p384_spki(&key), &amd.asvk_key, 48);
    let err = check(&Report::new().sign(&key), &rogue, &policy()).unwrap_err();
    assert!(
        matches!(err, Error::CertSignatureInvalid { index: 2 }),
        "{err:?}"
    );

    // PSS with the wrong salt length is not AMD's scheme.
    let rogue = fake::issue_pss(&spec, fake::p384_spki(&key), &amd.ask_key, 32);
    let err = check(&Report::new().sign(&key), &rogue, &policy()).unwrap_err();
    assert!(
        matches!(err, Error::CertChainInvalid { index: 2, .. }),
        "{err:?}"
    );

    // ECDSA-signed VCEK (wrong scheme for the AMD chain).
    let p384_issuer = fake::p384_key();
    let rogue = fake::issue_ecdsa(&spec, fake::p384_spki(&key), &p384_issuer, false);
    let err = check(&Report::new().sign(&key), &rogue, &policy()).unwrap_err();
    assert!(
        matches!(err, Error::CertChainInvalid { index: 2, .. }),
        "{err:?}"
    );

    // An ASK supplied with the evidence must itself chain to the pinned ARK.
    let rogue_ark_key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let rogue_ask = fake::issue_pss(
        &CertSpec::ca(ASK_NAME, ARK_NAME, Some(0)),
        fake::rsa_spki(&amd.ask_key),
        &rogue_ark_key,
        48,
    );
    let (key, cert) = vcek();
    let err = verify_snp_with_roots(
        &Report::new().sign(&key),
        &cert,
        Some(&rogue_ask),
        &roots(),
        &policy(),
        UnixTime::from_secs(NOW),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::CertSignatureInvalid { index: 1 }),
        "{err:?}"
    );
    verify_snp_with_roots(
        &Report::new().sign(&key),
        &cert,
        Some(&amd.ask),
        &roots(),
        &policy(),
        UnixTime::from_secs(NOW),
    )
    .unwrap();
}

// 8.
#[test]
fn report_signature_is_checked() {
    let (key, cert) = vcek();
    let other = fake::p384_key();
    let err = check(&Report::new().sign(&other), &cert, &policy()).unwrap_err();
    assert!(matches!(err, Error::SignatureInvalid), "{err:?}");

    let mut r = Report::new().sign(&key);
    r[0x400] = 1; // reserved part of the signature area
    assert!(matches!(
        check(&r, &cert, &policy()).unwrap_err(),
        Error::SignatureMalformed { .. }
    ));
    let mut r = Report::new().sign(&key);
    r[0x2A0 + 50] = 1; // high bytes of R
    assert!(matches!(
        check(&r, &cert, &policy()).unwrap_err(),
        Error::SignatureMalformed { .. }
    ));
    let mut r = Report::new().sign(&key);
    r[0x2A0..0x2A0 + 72].fill(0); // R = 0
    assert!(matches!(
        check(&r, &cert, &policy()).unwrap_err(),
        Error::SignatureMalformed { .. }
    ));
}

// 9.
#[test]
fn reported_tcb_must_be_the_endorsed_tcb() {
    let (key, cert) = vcek(); // endorsed: bl 3, tee 0, snp 8, ucode 115
    let r = Report::new()
        .put(0x180, &[3, 0, 0, 0, 0, 0, 9, 115])
        .sign(&key);
    let err = check(&r, &cert, &policy()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TcbMismatch {
                component: TcbComponent::Snp,
                reported: 9,
                endorsed: 8
            }
        ),
        "{err:?}"
    );
    let r = Report::new()
        .put(0x180, &[3, 0, 1, 0, 0, 0, 8, 115])
        .sign(&key);
    let err = check(&r, &cert, &policy()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::FieldInvalid {
                field: "REPORTED_TCB",
                ..
            }
        ),
        "{err:?}"
    );

    // A VCEK whose ucodeSPL differs from the report's microcode SVN.
    let mut spec = EndorsementSpec::vcek();
    spec.tcb.3 = 114;
    let (key, cert) = spec.issue(FakeAmd::get());
    let err = check(&Report::new().sign(&key), &cert, &policy()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TcbMismatch {
                component: TcbComponent::Microcode,
                reported: 115,
                endorsed: 114
            }
        ),
        "{err:?}"
    );
}

// 10.
#[test]
fn chip_id_must_be_the_vceks_hwid() {
    let (key, cert) = vcek();
    let r = Report::new().put(0x1A0, &[0xC2; 64]).sign(&key);
    assert!(matches!(
        check(&r, &cert, &policy()).unwrap_err(),
        Error::ChipIdMismatch
    ));
    // Masked chip id (MASK_CHIP_KEY) cannot be matched to a VCEK.
    let r = Report::new()
        .put(0x48, &[0b10])
        .put(0x1A0, &[0; 64])
        .sign(&key);
    assert!(matches!(
        check(&r, &cert, &policy()).unwrap_err(),
        Error::ChipIdMismatch
    ));
    // A VCEK without hwID.
    let mut spec = EndorsementSpec::vcek();
    spec.hw_id = None;
    let (key, cert) = spec.issue(FakeAmd::get());
    let err = check(&Report::new().sign(&key), &cert, &policy()).unwrap_err();
    assert!(
        matches!(err, Error::EndorsementUnrecognized { .. }),
        "{err:?}"
    );
}

// 11.
#[test]
fn debug_policy_bit_is_rejected() {
    let (key, cert) = vcek();
    let r = Report::new()
        .put(0x08, &(0x30000u64 | 1 << 19).to_le_bytes())
        .sign(&key);
    assert!(matches!(
        check(&r, &cert, &policy()).unwrap_err(),
        Error::DebugEnclave {
            platform: Platform::SevSnp
        }
    ));
}

// 12.
#[test]
fn only_vmpl_zero_is_accepted() {
    let (key, cert) = vcek();
    for vmpl in [1u32, 2, 3] {
        let r = Report::new().u32_at(0x30, vmpl).sign(&key);
        let err = check(&r, &cert, &policy()).unwrap_err();
        assert!(
            matches!(err, Error::VmplNotZero { vmpl: v } if v == vmpl),
            "{err:?}"
        );
    }
}

// 13.
#[test]
fn minimum_tcb_per_component() {
    let (key, cert) = vcek();
    let r = Report::new().sign(&key);
    for (min, component) in [
        ((4, 0, 8, 115), TcbComponent::Bootloader),
        ((3, 1, 8, 115), TcbComponent::Tee),
        ((3, 0, 9, 115), TcbComponent::Snp),
        ((3, 0, 8, 116), TcbComponent::Microcode),
    ] {
        let p = signed_policy(&policy_body(false, min, "\"skip\""));
        let err = check(&r, &cert, &p).unwrap_err();
        assert!(
            matches!(err, Error::TcbTooLow { component: c, .. } if c == component),
            "{err:?}"
        );
    }
    let genoa_only =
        signed_policy(&policy_body(false, (0, 0, 0, 0), "\"skip\"").replace("milan", "genoa"));
    let err = check(&r, &cert, &genoa_only).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TcbPolicyMissing {
                generation: Generation::Milan
            }
        ),
        "{err:?}"
    );
}

// 14.
#[test]
fn measurement_and_host_data_follow_the_policy() {
    let (key, cert) = vcek();
    let r = Report::new().put(0x90, &[0x4E; 48]).sign(&key);
    let err = check(&r, &cert, &policy()).unwrap_err();
    assert!(
        matches!(err, Error::MeasurementNotAllowed { .. }),
        "{err:?}"
    );

    let host = [0xAB; 32];
    let p = signed_policy(&policy_body(
        false,
        (0, 0, 0, 0),
        &format!("{{ expected = \"{}\" }}", hex::encode(host)),
    ));
    let r = Report::new().put(0xC0, &host).sign(&key);
    check(&r, &cert, &p).unwrap();
    let r = Report::new().put(0xC0, &[0xAC; 32]).sign(&key);
    assert!(matches!(
        check(&r, &cert, &p).unwrap_err(),
        Error::HostDataMismatch
    ));
}

#[test]
fn a_policy_without_sev_snp_refuses_reports() {
    let (key, cert) = vcek();
    let p = signed_policy(&format!(
        "version = 1\n{}",
        common::nitro_section(&[(0, &"00".repeat(48))], 60)
    ));
    let err = check(&Report::new().sign(&key), &cert, &p).unwrap_err();
    assert!(matches!(
        err,
        Error::PlatformNotInPolicy {
            platform: Platform::SevSnp
        }
    ));
}
