//! One targeted negative test per Nitro verification step, each with fake-signed
//! evidence that is correct except for the one thing under test.

mod common;

use attestation::nitro::verify_nitro_with_root;
use attestation::{Error, Platform, Policy, UnixTime};
use ciborium::value::{Integer, Value};
use common::fake::{
    self, t, CertSpec, FakeNitro, NitroDoc, DAY, INTER_NAME, LEAF_NAME, NOW, ROOT_NAME,
};
use common::signed_policy;

fn policy() -> Policy {
    policy_with_age(300)
}

fn policy_with_age(max_age: u64) -> Policy {
    signed_policy(&format!(
        "version = 1\n[nitro]\nmax_evidence_age_secs = {max_age}\n[[nitro.allowed]]\npcrs = {{ 0 = \"{}\", 1 = \"{}\", 2 = \"{}\" }}\n",
        fake::fake_pcr(0),
        fake::fake_pcr(1),
        fake::fake_pcr(2)
    ))
}

fn run(pki: &FakeNitro, doc: &NitroDoc) -> Result<(), Error> {
    run_bytes(pki, &doc.build())
}

fn run_bytes(pki: &FakeNitro, bytes: &[u8]) -> Result<(), Error> {
    verify_nitro_with_root(bytes, &pki.root, &policy(), UnixTime::from_secs(NOW)).map(drop)
}

#[test]
fn the_fake_baseline_is_accepted_untagged_and_tagged() {
    let pki = FakeNitro::new();
    let v = verify_nitro_with_root(
        &pki.doc().build(),
        &pki.root,
        &policy(),
        UnixTime::from_secs(NOW),
    )
    .unwrap();
    assert_eq!(v.platform, Platform::Nitro);
    assert_eq!(v.timestamp_ms, Some(NOW * 1000));
    let mut doc = pki.doc();
    doc.tagged = true;
    run(&pki, &doc).unwrap();
}

// 1. size bound
#[test]
fn oversized_evidence_is_refused_before_parsing() {
    let pki = FakeNitro::new();
    let err = run_bytes(&pki, &vec![0u8; attestation::nitro::MAX_DOCUMENT_LEN + 1]).unwrap_err();
    assert!(matches!(err, Error::EvidenceTooLarge { .. }));
}

// 2. COSE_Sign1 structure
#[test]
fn cose_structure_errors() {
    let pki = FakeNitro::new();
    let good = pki.doc().build();

    let mut trailing = good.clone();
    trailing.push(0x00);
    assert!(matches!(
        run_bytes(&pki, &trailing).unwrap_err(),
        Error::CoseMalformed { .. }
    ));

    let mut wrong_tag = vec![0xD1]; // tag 17 (COSE_Mac0)
    wrong_tag.extend(&good);
    assert!(matches!(
        run_bytes(&pki, &wrong_tag).unwrap_err(),
        Error::CoseMalformed { .. }
    ));

    let five = fake::cbor(&Value::Array(vec![Value::Null; 5]));
    assert!(matches!(
        run_bytes(&pki, &five).unwrap_err(),
        Error::CoseMalformed { .. }
    ));

    let mut doc = pki.doc();
    doc.unprotected = Value::Map(vec![(Value::Integer(4.into()), Value::Bytes(vec![1]))]);
    assert!(matches!(
        run(&pki, &doc).unwrap_err(),
        Error::CoseMalformed { .. }
    ));

    // Indefinite-length outer array: same content, non-canonical bytes.
    let mut indefinite = vec![0x9F];
    indefinite.extend(&good[1..]);
    indefinite.push(0xFF);
    assert!(matches!(
        run_bytes(&pki, &indefinite).unwrap_err(),
        Error::CoseMalformed { .. }
    ));

    assert!(matches!(
        run_bytes(&pki, b"").unwrap_err(),
        Error::CoseMalformed { .. }
    ));
}

// 3. protected header: ES384 only
#[test]
fn only_es384_is_accepted() {
    let pki = FakeNitro::new();
    let mut doc = pki.doc();
    doc.protected = fake::cbor(&Value::Map(vec![(
        Value::Integer(1.into()),
        Value::Integer((-7).into()),
    )]));
    let err = run(&pki, &doc).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedAlgorithm { ref found, .. } if found == "-7"),
        "{err:?}"
    );

    doc.protected = fake::cbor(&Value::Map(vec![]));
    assert!(matches!(
        run(&pki, &doc).unwrap_err(),
        Error::CoseMalformed { .. }
    ));

    doc.protected = fake::cbor(&Value::Map(vec![
        (Value::Integer(1.into()), Value::Integer((-35).into())),
        (Value::Integer(2.into()), Value::Array(vec![])),
    ]));
    assert!(matches!(
        run(&pki, &doc).unwrap_err(),
        Error::CoseMalformed { .. }
    ));
}

// 4. payload syntax (§3.2.2)
#[test]
fn every_mandatory_field_is_required() {
    let pki = FakeNitro::new();
    for field in [
        "module_id",
        "digest",
        "timestamp",
        "pcrs",
        "certificate",
        "cabundle",
    ] {
        let err = run(&pki, &pki.doc().remove(field)).unwrap_err();
        assert!(
            matches!(err, Error::FieldMissing { field: f } if f == field),
            "{field}: {err:?}"
        );
    }
    // Optional fields may be absent.
    run(
        &pki,
        &pki.doc()
            .remove("nonce")
            .remove("user_data")
            .remove("public_key"),
    )
    .unwrap();
}

#[test]
fn unknown_and_duplicate_fields_are_refused() {
    let pki = FakeNitro::new();
    let err = run(&pki, &pki.doc().set("debug", Value::Bool(false))).unwrap_err();
    assert!(matches!(err, Error::PayloadMalformed { .. }));
    let mut doc = pki.doc();
    doc.fields.push((t("nonce"), Value::Bytes(vec![1; 8])));
    assert!(matches!(
        run(&pki, &doc).unwrap_err(),
        Error::PayloadMalformed { .. }
    ));
    let mut doc = pki.doc();
    doc.fields.push((Value::Integer(1.into()), Value::Null));
    assert!(matches!(
        run(&pki, &doc).unwrap_err(),
        Error::PayloadMalformed { .. }
    ));
}

#[test]
fn field_types_and_bounds_are_checked() {
    let pki = FakeNitro::new();
    let cases: Vec<(NitroDoc, &str)> = vec![
        (pki.doc().set("module_id", t("")), "module_id"),
        (
            pki.doc().set("module_id", Value::Bytes(vec![1])),
            "module_id",
        ),
        (
            pki.doc().set("timestamp", Value::Integer(0.into())),
            "timestamp",
        ),
        (
            pki.doc().set("timestamp", Value::Integer((-5).into())),
            "timestamp",
        ),
        (pki.doc().set("pcrs", Value::Map(vec![])), "pcrs"),
        (pki.doc().set_pcr(3, vec![0; 32]), "pcrs"),
        (pki.doc().set_pcr(32, vec![0; 48]), "pcrs"),
        (pki.doc().set("cabundle", Value::Array(vec![])), "cabundle"),
        (
            pki.doc().set("certificate", Value::Bytes(vec![])),
            "certificate",
        ),
        (
            pki.doc().set("public_key", Value::Bytes(vec![])),
            "public_key",
        ),
        (pki.doc().set("user_data", t("text")), "user_data"),
    ];
    for (doc, field) in cases {
        let err = run(&pki, &doc).unwrap_err();
        assert!(
            matches!(err, Error::FieldInvalid { field: f, .. } if f == field),
            "{field}: {err:?}"
        );
    }
    for (doc, field) in [
        (
            pki.doc().set("user_data", Value::Bytes(vec![0; 513])),
            "user_data",
        ),
        (pki.doc().set("nonce", Value::Bytes(vec![0; 513])), "nonce"),
        (
            pki.doc().set("public_key", Value::Bytes(vec![0; 1025])),
            "public_key",
        ),
        (
            pki.doc().set("certificate", Value::Bytes(vec![0; 1025])),
            "certificate",
        ),
        (pki.doc().set("module_id", t(&"m".repeat(257))), "module_id"),
    ] {
        let err = run(&pki, &doc).unwrap_err();
        assert!(
            matches!(err, Error::FieldTooLarge { field: f, .. } if f == field),
            "{field}: {err:?}"
        );
    }
}

#[test]
fn oversized_payload_is_refused() {
    let pki = FakeNitro::new();
    let doc = pki.doc();
    let payload = fake::cbor(&Value::Bytes(vec![
        0;
        attestation::nitro::MAX_PAYLOAD_LEN + 1
    ]));
    let err = run_bytes(&pki, &doc.build_with_payload(payload)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::PayloadTooLarge { .. } | Error::EvidenceTooLarge { .. }
        ),
        "{err:?}"
    );
    let payload = fake::cbor(&Value::Bytes(vec![
        0;
        attestation::nitro::MAX_PAYLOAD_LEN - 100
    ]));
    let err = run_bytes(&pki, &doc.build_with_payload(payload)).unwrap_err();
    assert!(matches!(err, Error::PayloadMalformed { .. }), "{err:?}");
}

#[test]
fn digest_must_be_sha384() {
    let pki = FakeNitro::new();
    let err = run(&pki, &pki.doc().set("digest", t("SHA256"))).unwrap_err();
    assert!(matches!(
        err,
        Error::UnsupportedAlgorithm {
            context: "document digest",
            ..
        }
    ));
}

#[test]
fn signature_must_be_96_bytes_and_in_range() {
    let pki = FakeNitro::new();
    let mut doc = pki.doc();
    doc.signature_override = Some(vec![1; 95]);
    assert!(matches!(
        run(&pki, &doc).unwrap_err(),
        Error::SignatureMalformed { .. }
    ));
    doc.signature_override = Some(vec![0; 96]);
    assert!(matches!(
        run(&pki, &doc).unwrap_err(),
        Error::SignatureMalformed { .. }
    ));
}

// 5./6. certificate chain (§3.2.3)
#[test]
fn document_must_carry_the_pinned_root() {
    let pki = FakeNitro::new();
    let other = FakeNitro::new();
    let err = verify_nitro_with_root(
        &pki.doc().build(),
        &other.root,
        &policy(),
        UnixTime::from_secs(NOW),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::CertChainInvalid { index: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn every_certificate_must_be_valid_at_the_time() {
    let mut root = CertSpec::ca(ROOT_NAME, ROOT_NAME, None);
    root.not_after = NOW - 1;
    let pki = FakeNitro::with_specs(
        root,
        CertSpec::ca(INTER_NAME, ROOT_NAME, Some(0)),
        CertSpec::leaf(LEAF_NAME, INTER_NAME),
    );
    let err = run(&pki, &pki.doc()).unwrap_err();
    assert!(
        matches!(err, Error::CertExpired { index: 0, now, .. } if now == NOW),
        "{err:?}"
    );

    let mut inter = CertSpec::ca(INTER_NAME, ROOT_NAME, Some(0));
    inter.not_before = NOW + 1;
    let pki = FakeNitro::with_specs(
        CertSpec::ca(ROOT_NAME, ROOT_NAME, None),
        inter,
        CertSpec::leaf(LEAF_NAME, INTER_NAME),
    );
    let err = run(&pki, &pki.doc()).unwrap_err();
    assert!(
        matches!(err, Error::CertNotYetValid { index: 1, .. }),
        "{err:?}"
    );

    let pki = FakeNitro::new();
    let err = verify_nitro_with_root(
        &pki.doc().build(),
        &pki.root,
        &policy(),
        UnixTime::from_secs(NOW + 4 * 3600),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::CertExpired { index: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn chain_structure_is_enforced() {
    let root = || CertSpec::ca(ROOT_NAME, ROOT_NAME, None);
    let leaf = || CertSpec::leaf(LEAF_NAME, INTER_NAME);

    // Intermediate is not a CA.
    let mut inter = CertSpec::ca(INTER_NAME, ROOT_NAME, None);
    inter.ca = None;
    let pki = FakeNitro::with_specs(root(), inter, leaf());
    let err = run(&pki, &pki.doc()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CertChainInvalid {
                index: 1,
                reason: "issuer is not a CA"
            }
        ),
        "{err:?}"
    );

    // Intermediate's keyUsage lacks keyCertSign.
    let mut inter = CertSpec::ca(INTER_NAME, ROOT_NAME, None);
    inter.key_usage = Some(x509_cert::ext::pkix::KeyUsage(
        x509_cert::ext::pkix::KeyUsages::DigitalSignature.into(),
    ));
    let pki = FakeNitro::with_specs(root(), inter, leaf());
    let err = run(&pki, &pki.doc()).unwrap_err();
    assert!(
        matches!(err, Error::CertChainInvalid { index: 1, .. }),
        "{err:?}"
    );

    // Leaf issuer name differs from the intermediate's subject.
    let pki = FakeNitro::with_specs(
        root(),
        CertSpec::ca(INTER_NAME, ROOT_NAME, None),
        CertSpec::leaf(LEAF_NAME, "CN=someone else"),
    );
    let err = run(&pki, &pki.doc()).unwrap_err();
    assert!(
        matches!(err, Error::CertChainInvalid { index: 2, .. }),
        "{err:?}"
    );

    // Leaf is a CA.
    let mut l = leaf();
    l.ca = Some(None);
    l.key_usage = None;
    let pki = FakeNitro::with_specs(root(), CertSpec::ca(INTER_NAME, ROOT_NAME, None), l);
    let err = run(&pki, &pki.doc()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CertChainInvalid {
                index: 2,
                reason: "leaf certificate is a CA"
            }
        ),
        "{err:?}"
    );

    // Root's pathLenConstraint 0 forbids an intermediate CA below it.
    let pki = FakeNitro::with_specs(
        CertSpec::ca(ROOT_NAME, ROOT_NAME, Some(0)),
        CertSpec::ca(INTER_NAME, ROOT_NAME, None),
        leaf(),
    );
    let mut doc = pki.doc();
    // Add a second intermediate so a CA sits below the path-limited root.
    let inter2_key = fake::p384_key();
    let inter2 = fake::issue_ecdsa(
        &CertSpec::ca("CN=inter2", INTER_NAME, None),
        fake::p384_spki(&inter2_key),
        &pki.inter_key,
        false,
    );
    let leaf2 = fake::issue_ecdsa(
        &CertSpec::leaf(LEAF_NAME, "CN=inter2"),
        fake::p384_spki(&pki.leaf_key),
        &inter2_key,
        false,
    );
    doc = doc
        .set(
            "cabundle",
            Value::Array(vec![
                Value::Bytes(pki.root.clone()),
                Value::Bytes(pki.inter.clone()),
                Value::Bytes(inter2),
            ]),
        )
        .set("certificate", Value::Bytes(leaf2));
    let err = run(&pki, &doc).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CertChainInvalid {
                index: 0,
                reason: "pathLenConstraint exceeded"
            }
        ),
        "{err:?}"
    );

    // An unknown critical extension.
    let mut l = leaf();
    l.extra.push(fake::ext(
        der::oid::ObjectIdentifier::new_unwrap("1.2.3.4"),
        true,
        vec![0x05, 0x00],
    ));
    let pki = FakeNitro::with_specs(root(), CertSpec::ca(INTER_NAME, ROOT_NAME, None), l);
    let err = run(&pki, &pki.doc()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CertChainInvalid {
                index: 2,
                reason: "unsupported critical extension"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn certificate_signatures_are_checked() {
    let pki = FakeNitro::new();
    // Leaf signed by a key other than the intermediate's.
    let rogue = fake::p384_key();
    let leaf = fake::issue_ecdsa(
        &CertSpec::leaf(LEAF_NAME, INTER_NAME),
        fake::p384_spki(&pki.leaf_key),
        &rogue,
        false,
    );
    let err = run(&pki, &pki.doc().set("certificate", Value::Bytes(leaf))).unwrap_err();
    assert!(
        matches!(err, Error::CertSignatureInvalid { index: 2 }),
        "{err:?}"
    );

    // Only ecdsa-with-SHA384 is allowed in this chain.
    let leaf = fake::issue_ecdsa(
        &CertSpec::leaf(LEAF_NAME, INTER_NAME),
        fake::p384_spki(&pki.leaf_key),
        &pki.inter_key,
        true,
    );
    let err = run(&pki, &pki.doc().set("certificate", Value::Bytes(leaf))).unwrap_err();
    assert!(
        matches!(err, Error::CertChainInvalid { index: 2, .. }),
        "{err:?}"
    );

    // Garbage where a certificate should be.
    let err = run(
        &pki,
        &pki.doc()
            .set("certificate", Value::Bytes(vec![0x30, 0x03, 1, 2, 3])),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::CertMalformed { index: 2, .. }),
        "{err:?}"
    );
}

// 7. COSE signature
#[test]
fn document_signature_is_checked() {
    let pki = FakeNitro::new();
    let mut doc = pki.doc();
    doc.signer = fake::p384_key();
    assert!(matches!(
        run(&pki, &doc).unwrap_err(),
        Error::SignatureInvalid
    ));
}

// 8. debug
#[test]
fn debug_documents_are_always_rejected() {
    let pki = FakeNitro::new();
    let doc = pki
        .doc()
        .set_pcr(0, vec![0; 48])
        .set_pcr(1, vec![0; 48])
        .set_pcr(2, vec![0; 48]);
    let zero = "00".repeat(48);
    // Even a policy that lists the all-zero PCRs.
    let p = signed_policy(&format!(
        "version = 1\n{}",
        common::nitro_section(&[(0, &zero), (1, &zero), (2, &zero)], 300)
    ));
    let err =
        verify_nitro_with_root(&doc.build(), &pki.root, &p, UnixTime::from_secs(NOW)).unwrap_err();
    assert!(matches!(
        err,
        Error::DebugEnclave {
            platform: Platform::Nitro
        }
    ));
}

// 9. freshness
#[test]
fn evidence_age_is_checked_against_the_timestamp() {
    let pki = FakeNitro::new();
    let old = pki.doc().set(
        "timestamp",
        Value::Integer(Integer::from((NOW - 301) * 1000)),
    );
    let err = run(&pki, &old).unwrap_err();
    assert!(
        matches!(
            err,
            Error::EvidenceTooOld {
                age_secs: 301,
                max_secs: 300
            }
        ),
        "{err:?}"
    );
    let edge = pki.doc().set(
        "timestamp",
        Value::Integer(Integer::from((NOW - 300) * 1000)),
    );
    run(&pki, &edge).unwrap();
    let future = pki.doc().set(
        "timestamp",
        Value::Integer(Integer::from((NOW + 3600) * 1000)),
    );
    let err = run(&pki, &future).unwrap_err();
    assert!(matches!(err, Error::EvidenceFromFuture { .. }), "{err:?}");
    // The policy decides: a day-old document under a two-day policy (if certs allow).
    let mut leaf = CertSpec::leaf(LEAF_NAME, INTER_NAME);
    leaf.not_before = NOW - 2 * DAY;
    let pki = FakeNitro::with_specs(
        CertSpec::ca(ROOT_NAME, ROOT_NAME, None),
        CertSpec::ca(INTER_NAME, ROOT_NAME, Some(0)),
        leaf,
    );
    let day_old = pki.doc().set(
        "timestamp",
        Value::Integer(Integer::from((NOW - DAY) * 1000)),
    );
    verify_nitro_with_root(
        &day_old.build(),
        &pki.root,
        &policy_with_age(2 * DAY),
        UnixTime::from_secs(NOW),
    )
    .unwrap();
}

// 10. PCRs
#[test]
fn pcrs_follow_the_policy() {
    let pki = FakeNitro::new();
    let err = run(&pki, &pki.doc().set_pcr(1, vec![0x99; 48])).unwrap_err();
    assert!(matches!(err, Error::PcrMismatch { index: 1 }), "{err:?}");

    let mut doc = pki.doc();
    for (k, v) in &mut doc.fields {
        if *k == t("pcrs") {
            if let Value::Map(m) = v {
                m.retain(|(i, _)| *i != Value::Integer(2.into()));
            }
        }
    }
    let err = run(&pki, &doc).unwrap_err();
    assert!(matches!(err, Error::PcrMissing { index: 2 }), "{err:?}");

    // Two allowed sets, neither matches: a summary error.
    let p = signed_policy(&format!(
        "version = 1\n[nitro]\nmax_evidence_age_secs = 300\n\
         [[nitro.allowed]]\npcrs = {{ 0 = \"{a}\" }}\n[[nitro.allowed]]\npcrs = {{ 0 = \"{b}\" }}\n",
        a = "aa".repeat(48),
        b = "bb".repeat(48)
    ));
    let err = verify_nitro_with_root(&pki.doc().build(), &pki.root, &p, UnixTime::from_secs(NOW))
        .unwrap_err();
    assert!(matches!(err, Error::NoPcrSetMatched { sets: 2 }), "{err:?}");
    // Second set matches: accepted.
    let p = signed_policy(&format!(
        "version = 1\n[nitro]\nmax_evidence_age_secs = 300\n\
         [[nitro.allowed]]\npcrs = {{ 0 = \"{a}\" }}\n[[nitro.allowed]]\npcrs = {{ 0 = \"{b}\" }}\n",
        a = "aa".repeat(48),
        b = fake::fake_pcr(0)
    ));
    verify_nitro_with_root(&pki.doc().build(), &pki.root, &p, UnixTime::from_secs(NOW)).unwrap();
}

#[test]
fn claims_expose_nonce_user_data_and_public_key() {
    let pki = FakeNitro::new();
    let doc = pki
        .doc()
        .set("nonce", Value::Bytes(vec![1; 32]))
        .set("user_data", Value::Bytes(vec![2; 48]))
        .set("public_key", Value::Bytes(vec![3; 97]));
    let v = verify_nitro_with_root(&doc.build(), &pki.root, &policy(), UnixTime::from_secs(NOW))
        .unwrap();
    assert_eq!(v.nonce.as_deref(), Some(&[1u8; 32][..]));
    assert_eq!(v.user_data.as_deref(), Some(&[2u8; 48][..]));
    assert_eq!(v.public_key.as_deref(), Some(&[3u8; 97][..]));
    assert_eq!(v.claims().module_id.as_deref(), Some("i-0fake-enc0fake"));
}

#[test]
fn a_policy_without_nitro_refuses_nitro_evidence() {
    let pki = FakeNitro::new();
    let p = signed_policy(&format!(
        "version = 1\n{}",
        common::snp_section(&[&"00".repeat(48)], false)
    ));
    let err = verify_nitro_with_root(&pki.doc().build(), &pki.root, &p, UnixTime::from_secs(NOW))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::PlatformNotInPolicy {
            platform: Platform::Nitro
        }
    ));
}
