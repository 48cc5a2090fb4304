//! Every single-byte change of an accepted vector is rejected by an integrity check (never
//! by a later policy check, which would mean a signature passed over changed bytes), and
//! no input makes the verifier panic.

mod common;

use attestation::policy::{Policy, SignedPolicy};
use attestation::{verify, Error, Evidence, UnixTime};
use common::{nitro_section, read, signed_policy, snp_section, vectors};
use proptest::prelude::*;

const PROD_AT: u64 = 1_705_432_216;
const SNP_AT: u64 = 1_756_684_800;

/// Errors that mean "the bytes are not what was signed".
fn is_integrity_error(e: &Error) -> bool {
    matches!(
        e,
        Error::EvidenceTooLarge { .. }
            | Error::PayloadTooLarge { .. }
            | Error::FieldTooLarge { .. }
            | Error::CoseMalformed { .. }
            | Error::UnsupportedAlgorithm { .. }
            | Error::PayloadMalformed { .. }
            | Error::FieldMissing { .. }
            | Error::FieldInvalid { .. }
            | Error::CertMalformed { .. }
            | Error::CertChainInvalid { .. }
            | Error::CertSignatureInvalid { .. }
            | Error::CertExpired { .. }
            | Error::CertNotYetValid { .. }
            | Error::SignatureMalformed { .. }
            | Error::SignatureInvalid
            | Error::ReportSizeMismatch { .. }
            | Error::ReportVersionUnsupported { .. }
            | Error::EndorsementUnrecognized { .. }
            | Error::GenerationMismatch { .. }
            | Error::SigningKeyMismatch { .. }
    )
}

fn nitro_policy() -> Policy {
    signed_policy(&format!(
        "version = 1\n{}",
        nitro_section(
            &[
                (0, "67fdc91606ca9d5e73c35412f7d22397deb3f56ff2365803c66f0924f1dbeb29517fa4a62014b0bf49bd59541e4bcdd7"),
                (1, "52b919754e1643f4027eeee8ec39cc4a2cb931723de0c93ce5cc8d407467dc4302e86490c01c0d755acfe10dbf657546"),
                (2, "18e034916997b8e97edfc79e743f70ddcef21a45841a7a8727e2b6d094b1941bd6f988d806df1471025bcccfe35c4572"),
            ],
            3 * 3600,
        )
    ))
}

/// Which byte positions to flip. Every byte in release builds or with
/// `SEALBOOST_FULL_MUTATIONS=1`; in unoptimised test builds (where one P-384 verification
/// costs ~7 ms) the first and last 128 bytes plus every 3rd byte in between.
fn positions(len: usize) -> Vec<usize> {
    let full = !cfg!(debug_assertions) || std::env::var_os("SEALBOOST_FULL_MUTATIONS").is_some();
    (0..len)
        .filter(|&i| full || i < 128 || i + 128 >= len || i % 3 == 0)
        .collect()
}

fn assert_every_flip_rejected(
    name: &str,
    original: &[u8],
    masks: &[u8],
    check: impl Fn(Vec<u8>) -> Result<(), Error>,
) {
    check(original.to_vec()).unwrap_or_else(|e| panic!("{name}: original rejected: {e:?}"));
    let full = !cfg!(debug_assertions) || std::env::var_os("SEALBOOST_FULL_MUTATIONS").is_some();
    for i in positions(original.len()) {
        // Two masks (low bit, all bits) when sweeping fully, one otherwise.
        for mask in if full { masks } else { &masks[..1] } {
            let mut m = original.to_vec();
            m[i] ^= mask;
            match check(m) {
                Ok(()) => panic!("{name}: byte {i} ^ {mask:#04x} was accepted"),
                Err(e) => assert!(
                    is_integrity_error(&e),
                    "{name}: byte {i} ^ {mask:#04x} rejected by a policy check: {e:?}"
                ),
            }
        }
    }
}

#[test]
fn every_byte_flip_of_the_nitro_document_is_rejected() {
    let Some(dir) = vectors() else { return };
    let doc = read(&dir, "nitro/libsignal-prod-20240116.cose");
    let policy = nitro_policy();
    let at = UnixTime::from_secs(PROD_AT);
    assert_every_flip_rejected("nitro prod", &doc, &[0x01, 0xFF], |d| {
        verify(&Evidence::Nitro(d), &policy, at).map(drop)
    });
}

const SNP: [(&str, &str, &str); 5] = [
    ("snp/oak-milan_oc_release.report", "snp/oak-milan_oc_release.vcek.der", "195b01b74976a1faba13bd85eaf787958f0a46e6dddd45c5bdbf8673522777842b8057ae5d866b75416efb62012deaa3"),
    ("snp/oak-genoa_oc.report", "snp/oak-genoa_oc.vcek.der", "c57729018b0a6fb90dc17bb138b0aa35e4401004283ff4a2c24d3739ff3750f52384370e77b7032862a08c440a9bc4dc"),
    ("snp/oak-turin_oc.report", "snp/oak-turin_oc.vcek.der", "f924dd18f168df60fbea937f0b086284d51b1b376de872bac43694f61134d57967c318018de7335503023dbb50dee624"),
    ("snp/virtee-milan.report", "snp/virtee-milan.vcek.der", "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"),
    ("snp/trustee-v2.report", "snp/trustee-v2.vcek.der", "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c"),
];

#[test]
fn every_byte_flip_of_each_snp_report_is_rejected() {
    let Some(dir) = vectors() else { return };
    let at = UnixTime::from_secs(SNP_AT);
    for (report, cert, m) in SNP {
        let policy = signed_policy(&format!("version = 1\n{}", snp_section(&[m], true)));
        let vcek = read(&dir, cert);
        assert_every_flip_rejected(report, &read(&dir, report), &[0x01, 0xFF], |r| {
            let ev = Evidence::SevSnp {
                report: r,
                vcek_or_vlek: vcek.clone(),
                ask_or_asvk: None,
            };
            verify(&ev, &policy, at).map(drop)
        });
    }
}

#[test]
fn every_byte_flip_of_each_vcek_is_rejected() {
    let Some(dir) = vectors() else { return };
    let at = UnixTime::from_secs(SNP_AT);
    for (report, cert, m) in SNP {
        let policy = signed_policy(&format!("version = 1\n{}", snp_section(&[m], true)));
        let report = read(&dir, report);
        assert_every_flip_rejected(cert, &read(&dir, cert), &[0x01], |c| {
            let ev = Evidence::SevSnp {
                report: report.clone(),
                vcek_or_vlek: c,
                ask_or_asvk: None,
            };
            verify(&ev, &policy, at).map(drop)
        });
    }
}

fn any_policy() -> Policy {
    signed_policy(&format!(
        "version = 1\n{}{}{}",
        nitro_section(&[(0, &"00".repeat(48))], 3600),
        common::simulated_section(&[0u8; 32], &[(0, "00".repeat(48))], 3600),
        snp_section(&[&"00".repeat(48)], true)
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let policy = any_policy();
        let now = UnixTime::from_secs(SNP_AT);
        let _ = attestation::nitro::UnverifiedDocument::parse(&bytes);
        let _ = attestation::snp::AttestationReport::parse(&bytes);
        let _ = verify(&Evidence::Nitro(bytes.clone()), &policy, now);
        let _ = verify(&Evidence::Simulated(bytes.clone()), &policy, now);
        let _ = verify(&Evidence::SevSnp { report: bytes.clone(), vcek_or_vlek: bytes.clone(), ask_or_asvk: Some(bytes.clone()) }, &policy, now);
        let _ = SignedPolicy::parse(&bytes);
        let _ = Policy::parse_unsigned_for_operator_check(&bytes);
    }

    #[test]
    fn snp_report_of_right_size_with_random_content_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 1184..=1184),
        version in 0u32..8,
    ) {
        let mut bytes = bytes;
        bytes[..4].copy_from_slice(&version.to_le_bytes());
        let policy = any_policy();
        let ev = Evidence::SevSnp {
            report: bytes,
            vcek_or_vlek: attestation::roots::AMD_ASK_MILAN_DER.to_vec(),
            ask_or_asvk: None,
        };
        let err = verify(&ev, &policy, UnixTime::from_secs(SNP_AT)).unwrap_err();
        prop_assert!(is_integrity_error(&err), "{:?}", err);
    }
}

#[test]
fn multi_byte_mutations_of_the_nitro_document_never_panic() {
    let Some(dir) = vectors() else { return };
    let doc = read(&dir, "nitro/libsignal-prod-20240116.cose");
    let policy = nitro_policy();
    let at = UnixTime::from_secs(PROD_AT);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(200));
    runner
        .run(
            &proptest::collection::vec((0..doc.len(), any::<u8>()), 1..8),
            |edits| {
                let mut d = doc.clone();
                for (i, b) in edits {
                    d[i] = b;
                }
                if d != doc {
                    let err = verify(&Evidence::Nitro(d), &policy, at).unwrap_err();
                    prop_assert!(is_integrity_error(&err), "{:?}", err);
                }
                Ok(())
            },
        )
        .unwrap();
}
