//! AWS Nitro Enclaves attestation documents (also the format of simulated evidence).
//!
//! Step numbers in comments refer to "Nitro Enclaves Attestation Process"
//! (aws/aws-nitro-enclaves-nsm-api, docs/attestation_process.md): §2.2 document
//! specification, §3.1 COSE_Sign1, §3.2.2 syntactical validation, §3.2.3 semantic
//! (certificate) validation, and RFC 9052 §4.4 for the signed `Sig_structure`.

mod document;

use std::collections::BTreeMap;

pub(crate) use document::{encode_cose_sign1, es384_protected_header, sig_structure};
pub use document::{AttestationDocument, UnverifiedDocument};

use crate::claims::{Claims, Measurements, Platform};
use crate::error::Error;
use crate::policy::{PcrPolicy, PolicyOrigin};
use crate::time::UnixTime;
use crate::x509::{self, Cert, Scheme};
use crate::{Policy, Verified};

/// Largest whole COSE_Sign1 accepted (§3.1 bounds the payload to 16 KiB; headers and the
/// signature add a few bytes).
pub const MAX_DOCUMENT_LEN: usize = 16 * 1024 + 256;
/// Largest payload (§3.1: `bstr .size (1..16384)`).
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024;
/// Largest protected header (ours is exactly 4 bytes: `{1: -35}`).
pub const MAX_PROTECTED_LEN: usize = 32;
/// ES384 signature: r ‖ s, 48 bytes each.
pub const SIGNATURE_LEN: usize = 96;
/// §2.2: `cert = bytes .size (1..1024)`.
pub const MAX_CERT_LEN: usize = 1024;
/// Certificates in `cabundle` (AWS sends 4).
pub const MAX_CABUNDLE_LEN: usize = 6;
/// §3.2.2.2: at most 32 PCRs.
pub const MAX_PCRS: usize = 32;
/// §3.2.2.2: `public_key` length 1..=1024.
pub const MAX_PUBLIC_KEY_LEN: usize = 1024;
/// §3.2.2.2: `user_data` length 0..=512.
pub const MAX_USER_DATA_LEN: usize = 512;
/// §3.2.2.2: `nonce` length 0..=512.
pub const MAX_NONCE_LEN: usize = 512;
/// Our bound on `module_id` (AWS ids are about 40 characters).
pub const MAX_MODULE_ID_LEN: usize = 256;
/// How far a document's timestamp may lie ahead of the verification time.
pub const MAX_FUTURE_SKEW_SECS: u64 = 60;
/// Length of every PCR when `digest` is SHA384.
pub const PCR_LEN: usize = 48;

/// COSE algorithm identifier of ECDSA w/ SHA-384 (RFC 9053 §2.1).
const COSE_ALG_ES384: i128 = -35;
/// CBOR tag of COSE_Sign1 (RFC 9052 §2).
const COSE_SIGN1_TAG: u64 = 18;
/// PCRs whose all-zero value marks a debug-mode enclave.
const DEBUG_PCRS: [u8; 3] = [0, 1, 2];

/// Verifies a Nitro document against `root_der` (the AWS Nitro root G1 in production)
/// and the policy's `[nitro]` section.
pub fn verify_nitro_with_root(
    document: &[u8],
    root_der: &[u8],
    policy: &Policy,
    now: UnixTime,
) -> Result<Verified<Claims>, Error> {
    let pcr_policy = policy.nitro.as_ref().ok_or(Error::PlatformNotInPolicy {
        platform: Platform::Nitro,
    })?;
    verify_pcr_document(
        document,
        root_der,
        pcr_policy,
        Platform::Nitro,
        policy.origin.clone(),
        now,
    )
    .map(Verified::new)
}

/// The shared Nitro/Simulated path: everything except choosing the root and policy section.
pub(crate) fn verify_pcr_document(
    bytes: &[u8],
    root_der: &[u8],
    pcr_policy: &PcrPolicy,
    platform: Platform,
    policy_origin: PolicyOrigin,
    now: UnixTime,
) -> Result<Claims, Error> {
    // Steps 1–4 (size, COSE_Sign1, protected header, §3.2.2 syntax).
    let parsed = UnverifiedDocument::parse(bytes)?;
    let doc = &parsed.document;

    // 5. §3.2.3: chain = [pinned root, cabundle[1..], certificate]. cabundle[0] must be
    //    the pinned root itself: we never let the document choose its anchor.
    if doc.cabundle.first().map(Vec::as_slice) != Some(root_der) {
        return Err(Error::CertChainInvalid {
            index: 0,
            reason: "cabundle[0] is not the pinned root",
        });
    }
    let mut chain = Vec::with_capacity(doc.cabundle.len() + 1);
    for (index, der) in doc.cabundle.iter().enumerate() {
        chain.push(Cert::parse(der, index)?);
    }
    let leaf_index = chain.len();
    chain.push(Cert::parse(&doc.certificate, leaf_index)?);
    // 6. §3.2.3.1–§3.2.4: validity of every certificate at `now`, names, CA flags, key
    //    usage, path length, ECDSA P-384/SHA-384 signatures up to the root.
    x509::verify_chain(&chain, now, Scheme::EcdsaP384Sha384)?;

    // 7. §3.2.1 / RFC 9052 §4.4: ES384 signature over the Sig_structure by the leaf key.
    let leaf_key = chain
        .last()
        .and_then(Cert::p384_key)
        .ok_or(Error::CertChainInvalid {
            index: leaf_index,
            reason: "leaf key is not a P-384 public key",
        })?;
    let signature = p384::ecdsa::Signature::from_slice(&parsed.signature).map_err(|_| {
        Error::SignatureMalformed {
            reason: "r or s out of range",
        }
    })?;
    let tbs = parsed.to_be_signed()?;
    if !crate::ecdsa::verify(&leaf_key, &tbs, &signature) {
        return Err(Error::SignatureInvalid);
    }

    // 8. Debug-mode enclaves report PCR0, PCR1 and PCR2 as all zeros: never accepted,
    //    whatever the policy says.
    let is_zero = |i: &u8| doc.pcrs.get(i).is_some_and(|v| v.iter().all(|b| *b == 0));
    if DEBUG_PCRS.iter().all(is_zero) {
        return Err(Error::DebugEnclave { platform });
    }

    // 9. Freshness: the document timestamp against the policy's maximum age.
    let timestamp = doc.timestamp_ms / 1000;
    if timestamp > now.as_secs().saturating_add(MAX_FUTURE_SKEW_SECS) {
        return Err(Error::EvidenceFromFuture {
            timestamp,
            now: now.as_secs(),
        });
    }
    let age_secs = now.as_secs().saturating_sub(timestamp);
    if age_secs > pcr_policy.max_evidence_age_secs {
        return Err(Error::EvidenceTooOld {
            age_secs,
            max_secs: pcr_policy.max_evidence_age_secs,
        });
    }

    // 10. Measurements: iterate the policy's expected PCRs; a missing one is an error.
    check_pcrs(&doc.pcrs, &pcr_policy.allowed)?;

    Ok(Claims {
        platform,
        policy_origin,
        verified_at: now,
        measurements: Measurements::Pcrs {
            pcrs: doc.pcrs.clone(),
        },
        debug: false,
        tcb: None,
        snp: None,
        module_id: Some(doc.module_id.clone()),
        timestamp_ms: Some(doc.timestamp_ms),
        nonce: doc.nonce.clone(),
        user_data: doc.user_data.clone(),
        public_key: doc.public_key.clone(),
        report_data: None,
    })
}

fn check_pcr_set(
    reported: &BTreeMap<u8, [u8; PCR_LEN]>,
    expected: &BTreeMap<u8, [u8; PCR_LEN]>,
) -> Result<(), Error> {
    for (&index, expected_value) in expected {
        let reported_value = reported.get(&index).ok_or(Error::PcrMissing { index })?;
        if reported_value != expected_value {
            return Err(Error::PcrMismatch { index });
        }
    }
    Ok(())
}

fn check_pcrs(
    reported: &BTreeMap<u8, [u8; PCR_LEN]>,
    allowed: &[BTreeMap<u8, [u8; PCR_LEN]>],
) -> Result<(), Error> {
    let mut first_error = None;
    for expected in allowed {
        match check_pcr_set(reported, expected) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (allowed.len(), first_error) {
        (1, Some(e)) => Err(e),
        (sets, _) => Err(Error::NoPcrSetMatched { sets }),
    }
}
