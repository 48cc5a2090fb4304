//! Real evidence from real hardware (../shared/vectors): every vector gets the verdict its
//! README states, at the stated time; and is rejected outside its validity window and
//! under a policy with one changed measurement.

mod common;

use attestation::{
    roots, verify, Error, Evidence, Generation, Measurements, Platform, SnpSigningKey,
    TcbComponent, UnixTime,
};
use common::{nitro_section, read, signed_policy, snp_section, vectors};
use sha2::{Digest, Sha256};

const PROD: &str = "nitro/libsignal-prod-20240116.cose";
const PROD_AT: u64 = 1_705_432_216;
const PROD_PCR0: &str = "67fdc91606ca9d5e73c35412f7d22397deb3f56ff2365803c66f0924f1dbeb29517fa4a62014b0bf49bd59541e4bcdd7";
const PROD_PCR1: &str = "52b919754e1643f4027eeee8ec39cc4a2cb931723de0c93ce5cc8d407467dc4302e86490c01c0d755acfe10dbf657546";
const PROD_PCR2: &str = "18e034916997b8e97edfc79e743f70ddcef21a45841a7a8727e2b6d094b1941bd6f988d806df1471025bcccfe35c4572";
/// README window of the production document's chain (UTC).
const PROD_NOT_BEFORE: u64 = 1_705_427_092; // 2024-01-16T17:44:52Z
const PROD_NOT_AFTER: u64 = 1_705_437_895; // 2024-01-16T20:44:55Z

/// A time inside every accepted SNP vector's window: 2025-09-01T00:00:00Z.
const SNP_AT: u64 = 1_756_684_800;

struct SnpVector {
    report: &'static str,
    cert: &'static str,
    measurement: &'static str,
    generation: Generation,
    tcb_raw: &'static str,
    not_before: u64,
    not_after: u64,
}

const SNP_ACCEPTED: [SnpVector; 5] = [
    SnpVector {
        report: "snp/oak-milan_oc_release.report",
        cert: "snp/oak-milan_oc_release.vcek.der",
        measurement: "195b01b74976a1faba13bd85eaf787958f0a46e6dddd45c5bdbf8673522777842b8057ae5d866b75416efb62012deaa3",
        generation: Generation::Milan,
        tcb_raw: "04000000000018db",
        not_before: 1_736_976_114, // 2025-01-15T21:21:54Z
        not_after: 1_957_814_514,  // 2032-01-15T21:21:54Z
    },
    SnpVector {
        report: "snp/oak-genoa_oc.report",
        cert: "snp/oak-genoa_oc.vcek.der",
        measurement: "c57729018b0a6fb90dc17bb138b0aa35e4401004283ff4a2c24d3739ff3750f52384370e77b7032862a08c440a9bc4dc",
        generation: Generation::Genoa,
        tcb_raw: "0a00000000001954",
        not_before: 1_754_587_301, // 2025-08-07T17:21:41Z
        not_after: 1_975_512_101,  // 2032-08-07T17:21:41Z
    },
    SnpVector {
        report: "snp/oak-turin_oc.report",
        cert: "snp/oak-turin_oc.vcek.der",
        measurement: "f924dd18f168df60fbea937f0b086284d51b1b376de872bac43694f61134d57967c318018de7335503023dbb50dee624",
        generation: Generation::Turin,
        tcb_raw: "0001000200000047",
        not_before: 1_752_771_886, // 2025-07-17T17:04:46Z
        not_after: 1_973_696_686,  // 2032-07-17T17:04:46Z
    },
    SnpVector {
        report: "snp/virtee-milan.report",
        cert: "snp/virtee-milan.vcek.der",
        measurement: "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f",
        generation: Generation::Milan,
        tcb_raw: "0300000000000873",
        not_before: 1_680_549_823, // 2023-04-03T19:23:43Z
        not_after: 1_901_474_623,  // 2030-04-03T19:23:43Z
    },
    SnpVector {
        report: "snp/trustee-v2.report",
        cert: "snp/trustee-v2.vcek.der",
        measurement: "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c",
        generation: Generation::Milan,
        tcb_raw: "0300000000000873",
        not_before: 1_674_583_106, // 2023-01-24T17:58:26Z
        not_after: 1_895_507_906,  // 2030-01-24T17:58:26Z
    },
];

fn prod_policy(pcrs: [&str; 3], max_age: u64) -> attestation::Policy {
    signed_policy(&format!(
        "version = 1\n{}",
        nitro_section(&[(0, pcrs[0]), (1, pcrs[1]), (2, pcrs[2])], max_age)
    ))
}

fn flip_hex(h: &str) -> String {
    let mut b = hex::decode(h).expect("test constant is hex");
    b[0] ^= 0x01;
    hex::encode(b)
}

fn snp_evidence(dir: &std::path::Path, v: &SnpVector) -> Evidence {
    Evidence::SevSnp {
        report: read(dir, v.report),
        vcek_or_vlek: read(dir, v.cert),
        ask_or_asvk: None,
    }
}

#[test]
fn pinned_roots_have_the_published_fingerprints() {
    let fp = |d: &[u8]| hex::encode(Sha256::digest(d));
    assert_eq!(
        fp(roots::AWS_NITRO_ROOT_G1_DER),
        "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
    );
    assert_eq!(
        fp(roots::AMD_ARK_MILAN_DER),
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"
    );
    assert_eq!(
        fp(roots::AMD_ARK_GENOA_DER),
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"
    );
    assert_eq!(
        fp(roots::AMD_ARK_TURIN_DER),
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"
    );
}

#[test]
fn pinned_roots_equal_the_vector_roots() {
    let Some(dir) = vectors() else { return };
    let pem_der = |rel: &str| -> Vec<Vec<u8>> {
        let text = String::from_utf8(read(&dir, rel)).unwrap();
        text.split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|b| {
                let b64: String = b
                    .split("-----END CERTIFICATE-----")
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .collect();
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap()
            })
            .collect()
    };
    assert_eq!(
        pem_der("roots/aws-nitro-root-g1.pem"),
        vec![roots::AWS_NITRO_ROOT_G1_DER.to_vec()]
    );
    for (g, ark, ask, asvk) in [
        (
            "milan",
            roots::AMD_ARK_MILAN_DER,
            roots::AMD_ASK_MILAN_DER,
            roots::AMD_ASVK_MILAN_DER,
        ),
        (
            "genoa",
            roots::AMD_ARK_GENOA_DER,
            roots::AMD_ASK_GENOA_DER,
            roots::AMD_ASVK_GENOA_DER,
        ),
        (
            "turin",
            roots::AMD_ARK_TURIN_DER,
            roots::AMD_ASK_TURIN_DER,
            roots::AMD_ASVK_TURIN_DER,
        ),
    ] {
        assert_eq!(
            pem_der(&format!("roots/amd-ark-{g}.pem")),
            vec![ark.to_vec()]
        );
        assert_eq!(
            pem_der(&format!("roots/amd-ask-{g}.pem")),
            vec![ask.to_vec()]
        );
        assert_eq!(
            pem_der(&format!("roots/amd-ask-ark-asvk-{g}.pem")),
            vec![ask.to_vec(), ark.to_vec(), asvk.to_vec()]
        );
    }
}

// ----- Nitro -----------------------------------------------------------------------------

#[test]
fn nitro_prod_is_accepted_at_its_time() {
    let Some(dir) = vectors() else { return };
    let doc = read(&dir, PROD);
    let policy = prod_policy([PROD_PCR0, PROD_PCR1, PROD_PCR2], 3 * 3600);
    let v = verify(&Evidence::Nitro(doc), &policy, UnixTime::from_secs(PROD_AT)).unwrap();
    assert_eq!(v.platform, Platform::Nitro);
    assert!(!v.debug);
    assert_eq!(v.user_data.as_ref().map(Vec::len), Some(55));
    assert_eq!(v.public_key, None);
    assert_eq!(v.nonce, None);
    let Measurements::Pcrs { pcrs } = &v.measurements else {
        panic!("Nitro claims carry PCRs")
    };
    assert_eq!(hex::encode(pcrs[&0]), PROD_PCR0);
    assert_eq!(hex::encode(pcrs[&1]), PROD_PCR1);
    assert_eq!(hex::encode(pcrs[&2]), PROD_PCR2);
    assert_eq!(pcrs.len(), 16);
}

#[test]
fn nitro_prod_is_accepted_in_tagged_form() {
    let Some(dir) = vectors() else { return };
    let mut doc = vec![0xD2];
    doc.extend(read(&dir, PROD));
    let policy = prod_policy([PROD_PCR0, PROD_PCR1, PROD_PCR2], 3 * 3600);
    verify(&Evidence::Nitro(doc), &policy, UnixTime::from_secs(PROD_AT)).unwrap();
}

#[test]
fn nitro_prod_is_rejected_outside_its_window() {
    let Some(dir) = vectors() else { return };
    let doc = Evidence::Nitro(read(&dir, PROD));
    let policy = prod_policy([PROD_PCR0, PROD_PCR1, PROD_PCR2], 30 * 24 * 3600);
    let err = verify(&doc, &policy, UnixTime::from_secs(PROD_NOT_BEFORE - 1)).unwrap_err();
    assert!(
        matches!(err, Error::CertNotYetValid { index: 4, .. }),
        "{err:?}"
    );
    let err = verify(&doc, &policy, UnixTime::from_secs(PROD_NOT_AFTER + 1)).unwrap_err();
    assert!(
        matches!(err, Error::CertExpired { index: 4, .. }),
        "{err:?}"
    );
    let err = verify(&doc, &policy, UnixTime::now()).unwrap_err();
    assert!(matches!(err, Error::CertExpired { .. }), "{err:?}");
    // Inside the window both ends are accepted.
    verify(&doc, &policy, UnixTime::from_secs(PROD_NOT_AFTER)).unwrap();
}

#[test]
fn nitro_prod_is_rejected_with_any_pcr_changed() {
    let Some(dir) = vectors() else { return };
    let doc = Evidence::Nitro(read(&dir, PROD));
    let at = UnixTime::from_secs(PROD_AT);
    let good = [PROD_PCR0, PROD_PCR1, PROD_PCR2];
    for index in 0..3u8 {
        let mut pcrs = good.map(str::to_owned);
        pcrs[usize::from(index)] = flip_hex(&pcrs[usize::from(index)]);
        let policy = prod_policy([&pcrs[0], &pcrs[1], &pcrs[2]], 3 * 3600);
        let err = verify(&doc, &policy, at).unwrap_err();
        assert!(
            matches!(err, Error::PcrMismatch { index: i } if i == index),
            "{err:?}"
        );
    }
}

#[test]
fn nitro_prod_is_rejected_when_an_expected_pcr_is_absent() {
    let Some(dir) = vectors() else { return };
    let doc = Evidence::Nitro(read(&dir, PROD));
    let zero = "00".repeat(48);
    let policy = signed_policy(&format!(
        "version = 1\n{}",
        nitro_section(&[(0, PROD_PCR0), (20, &zero)], 3 * 3600)
    ));
    let err = verify(&doc, &policy, UnixTime::from_secs(PROD_AT)).unwrap_err();
    assert!(matches!(err, Error::PcrMissing { index: 20 }), "{err:?}");
}

#[test]
fn nitro_prod_is_rejected_when_too_old_for_the_policy() {
    let Some(dir) = vectors() else { return };
    let doc = Evidence::Nitro(read(&dir, PROD));
    let policy = prod_policy([PROD_PCR0, PROD_PCR1, PROD_PCR2], 60);
    let err = verify(&doc, &policy, UnixTime::from_secs(PROD_AT)).unwrap_err();
    assert!(
        matches!(err, Error::EvidenceTooOld { max_secs: 60, .. }),
        "{err:?}"
    );
}

#[test]
fn nitro_debug_documents_are_rejected_as_debug() {
    let Some(dir) = vectors() else { return };
    let zero = "00".repeat(48);
    let policy = prod_policy([&zero, &zero, &zero], 30 * 24 * 3600);
    for (file, at) in [
        ("nitro/libsignal-debug-20230517.cose", 1_684_362_463u64),
        ("nitro/evervault-debug-20221012.cose", 1_665_586_191), // 2022-10-12T14:49:51Z
    ] {
        let err = verify(
            &Evidence::Nitro(read(&dir, file)),
            &policy,
            UnixTime::from_secs(at),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::DebugEnclave {
                    platform: Platform::Nitro
                }
            ),
            "{file}: {err:?}"
        );
    }
}

#[test]
fn nitro_debug_document_fields_and_to_be_signed_bytes() {
    let Some(dir) = vectors() else { return };
    let doc = attestation::nitro::UnverifiedDocument::parse(&read(
        &dir,
        "nitro/libsignal-debug-20230517.cose",
    ))
    .unwrap();
    assert_eq!(
        doc.to_be_signed().unwrap(),
        read(&dir, "nitro/libsignal-debug-20230517.sig_structure.cbor")
    );
    assert_eq!(doc.document.public_key.as_ref().map(Vec::len), Some(32));
    let ev = attestation::nitro::UnverifiedDocument::parse(&read(
        &dir,
        "nitro/evervault-debug-20221012.cose",
    ))
    .unwrap();
    assert_eq!(
        ev.document.public_key.as_deref(),
        Some(&b"my super secret key"[..])
    );
    assert_eq!(
        ev.document.user_data.as_deref(),
        Some(&b"hello, world!"[..])
    );
    assert!(ev.claims_aws_root());
}

#[test]
fn nitro_document_under_a_policy_without_nitro_is_refused() {
    let Some(dir) = vectors() else { return };
    let policy = signed_policy(&format!(
        "version = 1\n{}",
        snp_section(&[&"00".repeat(48)], false)
    ));
    let err = verify(
        &Evidence::Nitro(read(&dir, PROD)),
        &policy,
        UnixTime::from_secs(PROD_AT),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::PlatformNotInPolicy {
            platform: Platform::Nitro
        }
    ));
}

#[test]
fn nitro_document_is_not_accepted_as_simulated() {
    let Some(dir) = vectors() else { return };
    // A policy that trusts some simulation root, but not AWS's.
    let policy = signed_policy(&format!(
        "version = 1\n{}",
        common::simulated_section(&[9u8; 32], &[(0, PROD_PCR0.to_owned())], 3 * 3600)
    ));
    let err = verify(
        &Evidence::Simulated(read(&dir, PROD)),
        &policy,
        UnixTime::from_secs(PROD_AT),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::SimulatedRootMismatch { .. }),
        "{err:?}"
    );
}

// ----- SEV-SNP ---------------------------------------------------------------------------

#[test]
fn snp_vectors_are_accepted_with_their_measurement() {
    let Some(dir) = vectors() else { return };
    for v in &SNP_ACCEPTED {
        let policy = signed_policy(&format!(
            "version = 1\n{}",
            snp_section(&[v.measurement], false)
        ));
        let claims = verify(&snp_evidence(&dir, v), &policy, UnixTime::from_secs(SNP_AT))
            .unwrap_or_else(|e| panic!("{}: {e:?}", v.report));
        assert_eq!(claims.platform, Platform::SevSnp);
        let Measurements::SevSnp { measurement, .. } = &claims.measurements else {
            panic!("SNP claims carry a measurement")
        };
        assert_eq!(hex::encode(measurement), v.measurement);
        let tcb = claims.tcb.unwrap();
        assert_eq!(tcb.generation, v.generation);
        assert_eq!(hex::encode(tcb.raw), v.tcb_raw, "{}", v.report);
        let snp = claims.snp.as_ref().unwrap();
        assert_eq!(snp.signing_key, SnpSigningKey::Vcek);
        assert_eq!(snp.vmpl, 0);
        assert!(claims.report_data.is_some());
    }
}

#[test]
fn snp_turin_tcb_uses_the_turin_layout() {
    let Some(dir) = vectors() else { return };
    let v = &SNP_ACCEPTED[2];
    let policy = signed_policy(&format!(
        "version = 1\n{}",
        snp_section(&[v.measurement], false)
    ));
    let claims = verify(&snp_evidence(&dir, v), &policy, UnixTime::from_secs(SNP_AT)).unwrap();
    let tcb = claims.tcb.unwrap();
    assert_eq!(
        (tcb.fmc, tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode),
        (Some(0), 1, 0, 2, 0x47)
    );
}

#[test]
fn snp_vectors_are_rejected_outside_their_window() {
    let Some(dir) = vectors() else { return };
    for v in &SNP_ACCEPTED {
        let policy = signed_policy(&format!(
            "version = 1\n{}",
            snp_section(&[v.measurement], false)
        ));
        let ev = snp_evidence(&dir, v);
        let err = verify(&ev, &policy, UnixTime::from_secs(v.not_before - 1)).unwrap_err();
        assert!(
            matches!(err, Error::CertNotYetValid { index: 2, .. }),
            "{}: {err:?}",
            v.report
        );
        let err = verify(&ev, &policy, UnixTime::from_secs(v.not_after + 1)).unwrap_err();
        assert!(
            matches!(err, Error::CertExpired { index: 2, .. }),
            "{}: {err:?}",
            v.report
        );
    }
}

#[test]
fn snp_vectors_are_rejected_with_a_changed_measurement() {
    let Some(dir) = vectors() else { return };
    for v in &SNP_ACCEPTED {
        let changed = flip_hex(v.measurement);
        let policy = signed_policy(&format!("version = 1\n{}", snp_section(&[&changed], false)));
        let err = verify(&snp_evidence(&dir, v), &policy, UnixTime::from_secs(SNP_AT)).unwrap_err();
        assert!(
            matches!(err, Error::MeasurementNotAllowed { .. }),
            "{}: {err:?}",
            v.report
        );
    }
}

#[test]
fn snp_minimum_tcb_per_component() {
    let Some(dir) = vectors() else { return };
    let v = &SNP_ACCEPTED[3]; // virtee Milan: bl 3, tee 0, snp 8, ucode 0x73
    let ev = snp_evidence(&dir, v);
    let at = UnixTime::from_secs(SNP_AT);
    let policy_with = |bl: u8, snp: u8, ucode: u8| {
        signed_policy(&format!(
            "version = 1\n[sev_snp]\nallow_vlek = false\n\
             [sev_snp.minimum_tcb.milan]\nbootloader = {bl}\ntee = 0\nsnp = {snp}\nmicrocode = {ucode}\n\
             [[sev_snp.allowed]]\nmeasurement = \"{}\"\nhost_data = \"skip\"\n",
            v.measurement
        ))
    };
    verify(&ev, &policy_with(3, 8, 0x73), at).unwrap();
    let err = verify(&ev, &policy_with(3, 8, 0x74), at).unwrap_err();
    assert!(matches!(
        err,
        Error::TcbTooLow {
            component: TcbComponent::Microcode,
            reported: 0x73,
            minimum: 0x74
        }
    ));
    let err = verify(&ev, &policy_with(4, 8, 0), at).unwrap_err();
    assert!(matches!(
        err,
        Error::TcbTooLow {
            component: TcbComponent::Bootloader,
            ..
        }
    ));
    let err = verify(&ev, &policy_with(0, 9, 0), at).unwrap_err();
    assert!(matches!(
        err,
        Error::TcbTooLow {
            component: TcbComponent::Snp,
            ..
        }
    ));

    // A policy naming only Genoa does not accept a Milan report.
    let genoa_only = signed_policy(&format!(
        "version = 1\n[sev_snp]\nallow_vlek = false\n\
         [sev_snp.minimum_tcb.genoa]\nbootloader = 0\ntee = 0\nsnp = 0\nmicrocode = 0\n\
         [[sev_snp.allowed]]\nmeasurement = \"{}\"\nhost_data = \"skip\"\n",
        v.measurement
    ));
    let err = verify(&ev, &genoa_only, at).unwrap_err();
    assert!(matches!(
        err,
        Error::TcbPolicyMissing {
            generation: Generation::Milan
        }
    ));
}

#[test]
fn snp_virtee_bit_flip_in_byte_21_is_rejected() {
    let Some(dir) = vectors() else { return };
    let v = &SNP_ACCEPTED[3];
    let mut report = read(&dir, v.report);
    report[21] ^= 0x80;
    let policy = signed_policy(&format!(
        "version = 1\n{}",
        snp_section(&[v.measurement], false)
    ));
    let ev = Evidence::SevSnp {
        report,
        vcek_or_vlek: read(&dir, v.cert),
        ask_or_asvk: None,
    };
    let err = verify(&ev, &policy, UnixTime::from_secs(SNP_AT)).unwrap_err();
    assert!(matches!(err, Error::SignatureInvalid), "{err:?}");
}

#[test]
fn snp_vlek_vmpl1_is_rejected_for_vmpl_and_expiry() {
    let Some(dir) = vectors() else { return };
    let report = read(&dir, "snp/trustee-vlek-vmpl1.report");
    let parsed = attestation::snp::AttestationReport::parse(&report).unwrap();
    let m = hex::encode(parsed.measurement);
    assert!(m.starts_with("8922ebbd") && m.ends_with("7bf0"));
    let ev = Evidence::SevSnp {
        report,
        vcek_or_vlek: read(&dir, "snp/trustee-vlek-vmpl1.vlek.der"),
        ask_or_asvk: None,
    };
    let policy = signed_policy(&format!("version = 1\n{}", snp_section(&[&m], true)));
    let err = verify(&ev, &policy, UnixTime::from_secs(SNP_AT)).unwrap_err();
    assert!(matches!(err, Error::VmplNotZero { vmpl: 1 }), "{err:?}");
    // 2025-12-11: the VLEK has expired.
    let err = verify(&ev, &policy, UnixTime::from_secs(1_765_411_200)).unwrap_err();
    assert!(
        matches!(err, Error::CertExpired { index: 2, .. }),
        "{err:?}"
    );
    // And a policy that does not allow VLEKs refuses it before anything else.
    let no_vlek = signed_policy(&format!("version = 1\n{}", snp_section(&[&m], false)));
    let err = verify(&ev, &no_vlek, UnixTime::from_secs(SNP_AT)).unwrap_err();
    assert!(matches!(err, Error::VlekNotAllowed), "{err:?}");
}

#[test]
fn snp_vcek_with_altered_extensions_fails_the_ask_signature() {
    let Some(dir) = vectors() else { return };
    let v = &SNP_ACCEPTED[4];
    let ev = Evidence::SevSnp {
        report: read(&dir, v.report),
        vcek_or_vlek: read(&dir, "snp/trustee-vcek-bad-signature.der"),
        ask_or_asvk: None,
    };
    let policy = signed_policy(&format!(
        "version = 1\n{}",
        snp_section(&[v.measurement], false)
    ));
    let err = verify(&ev, &policy, UnixTime::from_secs(SNP_AT)).unwrap_err();
    assert!(
        matches!(err, Error::CertSignatureInvalid { index: 2 }),
        "{err:?}"
    );
}

#[test]
fn snp_fake_all_zero_report_is_rejected() {
    let Some(dir) = vectors() else { return };
    let policy = signed_policy(&format!(
        "version = 1\n{}",
        snp_section(&[&"00".repeat(48)], true)
    ));
    for cert in ["snp/virtee-milan.vcek.der", "snp/oak-genoa_oc.vcek.der"] {
        let ev = Evidence::SevSnp {
            report: read(&dir, "snp/oak-fake.report"),
            vcek_or_vlek: read(&dir, cert),
            ask_or_asvk: None,
        };
        let err = verify(&ev, &policy, UnixTime::from_secs(SNP_AT)).unwrap_err();
        assert!(
            matches!(err, Error::ReportVersionUnsupported { version: 0, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn snp_with_the_ask_supplied_as_endorsement() {
    let Some(dir) = vectors() else { return };
    let v = &SNP_ACCEPTED[0];
    let policy = signed_policy(&format!(
        "version = 1\n{}",
        snp_section(&[v.measurement], false)
    ));
    let at = UnixTime::from_secs(SNP_AT);
    let with_ask = |ask: &[u8]| Evidence::SevSnp {
        report: read(&dir, v.report),
        vcek_or_vlek: read(&dir, v.cert),
        ask_or_asvk: Some(ask.to_vec()),
    };
    verify(&with_ask(roots::AMD_ASK_MILAN_DER), &policy, at).unwrap();
    // Genoa's ASK does not chain to Milan's ARK (names and signature differ).
    let err = verify(&with_ask(roots::AMD_ASK_GENOA_DER), &policy, at).unwrap_err();
    assert!(
        matches!(err, Error::CertChainInvalid { index: 1, .. }),
        "{err:?}"
    );
    // The ASVK is not the VCEK's issuer.
    let err = verify(&with_ask(roots::AMD_ASVK_MILAN_DER), &policy, at).unwrap_err();
    assert!(
        matches!(err, Error::CertChainInvalid { index: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn snp_report_with_the_wrong_generations_vcek_is_rejected() {
    let Some(dir) = vectors() else { return };
    // Genoa v5 report (CPUID says Genoa) with a Milan VCEK.
    let ev = Evidence::SevSnp {
        report: read(&dir, SNP_ACCEPTED[1].report),
        vcek_or_vlek: read(&dir, SNP_ACCEPTED[0].cert),
        ask_or_asvk: None,
    };
    let policy = signed_policy(&format!(
        "version = 1\n{}",
        snp_section(&[SNP_ACCEPTED[1].measurement], false)
    ));
    let err = verify(&ev, &policy, UnixTime::from_secs(SNP_AT)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::GenerationMismatch {
                endorsed: Generation::Milan,
                ..
            }
        ),
        "{err:?}"
    );
    // Two Milan chips: the signature check fails (different VCEK keys).
    let ev = Evidence::SevSnp {
        report: read(&dir, SNP_ACCEPTED[3].report),
        vcek_or_vlek: read(&dir, SNP_ACCEPTED[4].cert),
        ask_or_asvk: None,
    };
    let err = verify(&ev, &policy, UnixTime::from_secs(SNP_AT)).unwrap_err();
    assert!(matches!(err, Error::SignatureInvalid), "{err:?}");
}

#[test]
fn snp_endorsements_are_sorted_by_role() {
    let Some(dir) = vectors() else { return };
    let vcek = read(&dir, "snp/virtee-milan.vcek.der");
    let vlek = read(&dir, "snp/trustee-vlek-vmpl1.vlek.der");
    let bundle = vec![
        roots::AMD_ASK_MILAN_DER.to_vec(),
        roots::AMD_ARK_MILAN_DER.to_vec(),
        roots::AMD_ASVK_MILAN_DER.to_vec(),
    ];
    let mut certs = bundle.clone();
    certs.push(vcek.clone());
    let (leaf, intermediate) = attestation::snp::sort_endorsements(&certs).unwrap();
    assert_eq!(leaf, vcek);
    assert_eq!(intermediate.as_deref(), Some(roots::AMD_ASK_MILAN_DER));
    let mut certs = bundle;
    certs.insert(0, vlek.clone());
    let (leaf, intermediate) = attestation::snp::sort_endorsements(&certs).unwrap();
    assert_eq!(leaf, vlek);
    assert_eq!(intermediate.as_deref(), Some(roots::AMD_ASVK_MILAN_DER));
    let err = attestation::snp::sort_endorsements(&[vcek.clone(), vcek]).unwrap_err();
    assert!(matches!(err, Error::EndorsementUnrecognized { .. }));
    let err =
        attestation::snp::sort_endorsements(&[roots::AMD_ARK_MILAN_DER.to_vec()]).unwrap_err();
    assert!(matches!(err, Error::EndorsementUnrecognized { .. }));
    let err =
        attestation::snp::sort_endorsements(&[roots::AWS_NITRO_ROOT_G1_DER.to_vec()]).unwrap_err();
    assert!(matches!(err, Error::EndorsementUnrecognized { .. }));
}
