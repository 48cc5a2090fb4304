//! AMD SEV-SNP attestation reports.
//!
//! References: "SEV Secure Nested Paging Firmware ABI Specification" (AMD pub. 56860,
//! rev 1.57) — §2.2 TCB_VERSION, §4.3 GUEST_POLICY, §7.3 Table 23 ATTESTATION_REPORT,
//! Chapter 10 signature format; "Versioned Chip Endorsement Key (VCEK) Certificate and
//! KDS Interface Specification" (AMD pub. 57230) — certificate extensions and the
//! ARK → ASK → VCEK / ARK → ASVK → VLEK chains (RSASSA-PSS, SHA-384).

mod report;

use der::oid::ObjectIdentifier;
use der::Decode;

pub use report::{
    AttestationReport, MAX_REPORT_VERSION, MIN_REPORT_VERSION, POLICY_DEBUG_BIT, REPORT_LEN,
    SIGNED_LEN, SIG_ALGO_ECDSA_P384_SHA384,
};

use crate::claims::{
    Claims, Generation, Measurements, Platform, SnpDetails, SnpSigningKey, SnpTcb, TcbComponent,
};
use crate::error::Error;
use crate::policy::{ExpectedHostData, PolicyOrigin, SnpPolicy};
use crate::roots::AmdRoots;
use crate::time::UnixTime;
use crate::x509::{self, Cert, Scheme};
use crate::{Policy, Verified};

/// VCEK/VLEK extension OIDs (KDS spec, "VCEK certificate extensions").
const OID_BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const OID_TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const OID_SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const OID_UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const OID_FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
const OID_HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");

/// Which certificate signed the report, and for which generation, per its issuer name.
fn classify_endorsement(cert: &Cert) -> Result<(SnpSigningKey, Generation), Error> {
    let unrecognized = |reason| Error::EndorsementUnrecognized { reason };
    let issuer = cert
        .issuer_cn()
        .ok_or_else(|| unrecognized("issuer has no common name"))?;
    let subject = cert
        .subject_cn()
        .ok_or_else(|| unrecognized("subject has no common name"))?;
    let (kind, generation_name) = if let Some(g) = issuer.strip_prefix("SEV-VLEK-") {
        (SnpSigningKey::Vlek, g)
    } else if let Some(g) = issuer.strip_prefix("SEV-") {
        (SnpSigningKey::Vcek, g)
    } else {
        return Err(unrecognized("issuer is neither an ASK nor an ASVK"));
    };
    let generation = Generation::ALL
        .into_iter()
        .find(|g| g.name().eq_ignore_ascii_case(generation_name))
        .ok_or_else(|| unrecognized("unknown processor generation in issuer name"))?;
    let expected_subject = match kind {
        SnpSigningKey::Vcek => "SEV-VCEK",
        SnpSigningKey::Vlek => "SEV-VLEK",
    };
    if subject != expected_subject {
        return Err(unrecognized("subject is neither SEV-VCEK nor SEV-VLEK"));
    }
    Ok((kind, generation))
}

fn spl(cert: &Cert, oid: &ObjectIdentifier, index: usize) -> Result<u8, Error> {
    let value = cert.extension(oid).ok_or(Error::EndorsementUnrecognized {
        reason: "a TCB extension is missing",
    })?;
    u8::from_der(value).map_err(|_| Error::CertMalformed {
        index,
        reason: "TCB extension is not a small INTEGER",
    })
}

/// The TCB the endorsement key was derived for, from its extensions.
fn endorsed_tcb(
    cert: &Cert,
    generation: Generation,
    index: usize,
) -> Result<Vec<(TcbComponent, u8)>, Error> {
    let mut v = vec![
        (TcbComponent::Bootloader, spl(cert, &OID_BL_SPL, index)?),
        (TcbComponent::Tee, spl(cert, &OID_TEE_SPL, index)?),
        (TcbComponent::Snp, spl(cert, &OID_SNP_SPL, index)?),
        (TcbComponent::Microcode, spl(cert, &OID_UCODE_SPL, index)?),
    ];
    if generation == Generation::Turin {
        v.insert(0, (TcbComponent::Fmc, spl(cert, &OID_FMC_SPL, index)?));
    }
    Ok(v)
}

fn component(tcb: &SnpTcb, c: TcbComponent) -> Option<u8> {
    tcb.components()
        .into_iter()
        .find(|(k, _)| *k == c)
        .map(|(_, v)| v)
}

/// Sorts endorsement certificates (DER, any order, e.g. a KDS `vcek` plus `cert_chain`)
/// into the VCEK/VLEK and its issuer (ASK/ASVK) if present. ARKs and intermediates that
/// did not issue the VCEK/VLEK are dropped: the verifier always uses its pinned ARK and
/// falls back to the pinned ASK/ASVK. Nothing is verified here.
pub fn sort_endorsements(certs: &[Vec<u8>]) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
    let unrecognized = |reason| Error::EndorsementUnrecognized { reason };
    let mut leaf: Option<(Vec<u8>, Option<String>)> = None;
    let mut intermediates = Vec::new();
    for der in certs {
        let cert = Cert::parse(der, 0)?;
        let cn = cert
            .subject_cn()
            .ok_or_else(|| unrecognized("certificate subject has no common name"))?;
        if cn == "SEV-VCEK" || cn == "SEV-VLEK" {
            if leaf.replace((der.clone(), cert.issuer_cn())).is_some() {
                return Err(unrecognized(
                    "more than one VCEK/VLEK among the endorsements",
                ));
            }
        } else if cn.starts_with("SEV-") {
            intermediates.push((cn, der));
        } else if !cn.starts_with("ARK-") {
            return Err(unrecognized("not an AMD SEV certificate"));
        }
    }
    let (leaf, issuer) =
        leaf.ok_or_else(|| unrecognized("no VCEK or VLEK among the endorsements"))?;
    let intermediate = intermediates
        .into_iter()
        .find(|(cn, _)| issuer.as_deref() == Some(cn.as_str()))
        .map(|(_, der)| der.clone());
    Ok((leaf, intermediate))
}

/// Verifies an SEV-SNP report with explicit AMD anchors.
///
/// `endorsement` is the VCEK or VLEK (DER); `intermediate` the ASK or ASVK (DER) if the
/// evidence carries one, otherwise the pinned one for the generation is used.
pub fn verify_snp_with_roots(
    report: &[u8],
    endorsement: &[u8],
    intermediate: Option<&[u8]>,
    roots: &AmdRoots,
    policy: &Policy,
    now: UnixTime,
) -> Result<Verified<Claims>, Error> {
    let snp_policy = policy.sev_snp.as_ref().ok_or(Error::PlatformNotInPolicy {
        platform: Platform::SevSnp,
    })?;
    verify_inner(
        report,
        endorsement,
        intermediate,
        roots,
        snp_policy,
        policy.origin.clone(),
        now,
    )
    .map(Verified::new)
}

fn verify_inner(
    bytes: &[u8],
    endorsement: &[u8],
    intermediate: Option<&[u8]>,
    roots: &AmdRoots,
    policy: &SnpPolicy,
    policy_origin: PolicyOrigin,
    now: UnixTime,
) -> Result<Claims, Error> {
    // 1. Table 23: the report is exactly 0x4A0 bytes.
    let report = AttestationReport::parse(bytes)?;

    // 2. Table 23 VERSION: formats 2..=5 share this layout.
    if !(MIN_REPORT_VERSION..=MAX_REPORT_VERSION).contains(&report.version) {
        return Err(Error::ReportVersionUnsupported {
            version: report.version,
            min: MIN_REPORT_VERSION,
            max: MAX_REPORT_VERSION,
        });
    }
    // 3. Table 23 SIGNATURE_ALGO: only ECDSA P-384 with SHA-384 exists.
    if report.signature_algo != SIG_ALGO_ECDSA_P384_SHA384 {
        return Err(Error::UnsupportedAlgorithm {
            context: "SEV-SNP SIGNATURE_ALGO",
            found: report.signature_algo.to_string(),
        });
    }

    // 4. KDS spec: the endorsement's issuer (SEV-<gen> or SEV-VLEK-<gen>) says which key
    //    type and which processor generation, hence which ARK to use.
    let leaf_index = 2;
    let leaf = Cert::parse(endorsement, leaf_index)?;
    let (kind, generation) = classify_endorsement(&leaf)?;

    // 5. Table 23 FLAGS.SIGNING_KEY must name the key type we were given.
    let expected_field = match kind {
        SnpSigningKey::Vcek => 0,
        SnpSigningKey::Vlek => 1,
    };
    if report.signing_key_field() != expected_field {
        return Err(Error::SigningKeyMismatch {
            reported: report.signing_key_field(),
            supplied: match kind {
                SnpSigningKey::Vcek => "VCEK",
                SnpSigningKey::Vlek => "VLEK",
            },
        });
    }
    if kind == SnpSigningKey::Vlek && !policy.allow_vlek {
        return Err(Error::VlekNotAllowed);
    }

    // 6. Table 23 CPUID_FAM_ID/CPUID_MOD_ID (v3+) must agree with the endorsement.
    if let Some(reported_generation) = report.cpuid_generation() {
        if reported_generation != Some(generation) {
            return Err(Error::GenerationMismatch {
                endorsed: generation,
                family: report.cpuid_fam_id,
                model: report.cpuid_mod_id,
            });
        }
    }

    // 7. KDS spec: ARK (pinned) → ASK/ASVK → VCEK/VLEK, RSASSA-PSS SHA-384 throughout,
    //    every certificate valid at `now`.
    let anchors = roots
        .get(generation)
        .ok_or(Error::EndorsementUnrecognized {
            reason: "no pinned ARK for this generation",
        })?;
    let pinned_intermediate = match kind {
        SnpSigningKey::Vcek => &anchors.ask,
        SnpSigningKey::Vlek => &anchors.asvk,
    };
    let chain = vec![
        Cert::parse(&anchors.ark, 0)?,
        Cert::parse(intermediate.unwrap_or(pinned_intermediate), 1)?,
        leaf,
    ];
    x509::verify_chain(&chain, now, Scheme::RsaPssSha384)?;
    let leaf = &chain[leaf_index];

    // 8. Chapter 10: ECDSA P-384/SHA-384 over [0, 0x2A0) by the VCEK/VLEK. R and S are
    //    little-endian in 72-byte fields whose top 24 bytes, like the rest of the
    //    512-byte signature area, must be zero.
    let signature = report_signature(&report)?;
    let key = leaf.p384_key().ok_or(Error::CertChainInvalid {
        index: leaf_index,
        reason: "endorsement key is not a P-384 public key",
    })?;
    if !crate::ecdsa::verify(&key, report.signed_bytes(), &signature) {
        return Err(Error::SignatureInvalid);
    }

    // 9. §2.2: REPORTED_TCB, decoded with this generation's layout, is the TCB the
    //    endorsement key was derived from (KDS spec blSPL/teeSPL/snpSPL/ucodeSPL/fmcSPL).
    let tcb = SnpTcb::decode(generation, report.reported_tcb);
    if tcb.reserved_bytes().iter().any(|b| *b != 0) {
        return Err(Error::FieldInvalid {
            field: "REPORTED_TCB",
            reason: "reserved bytes are not zero",
        });
    }
    for (c, endorsed) in endorsed_tcb(leaf, generation, leaf_index)? {
        let reported = component(&tcb, c).unwrap_or(0);
        if reported != endorsed {
            return Err(Error::TcbMismatch {
                component: c,
                reported,
                endorsed,
            });
        }
    }

    // 10. KDS spec hwID: a VCEK is issued for one chip; CHIP_ID must be that chip (Turin
    //     hwIDs are the first 8 bytes of CHIP_ID, the rest is zero).
    if kind == SnpSigningKey::Vcek {
        let hw_id = leaf
            .extension(&OID_HW_ID)
            .ok_or(Error::EndorsementUnrecognized {
                reason: "VCEK has no hwID extension",
            })?;
        let (head, tail) = report.chip_id.split_at(hw_id.len().min(64));
        if head != hw_id || tail.iter().any(|b| *b != 0) || hw_id.is_empty() {
            return Err(Error::ChipIdMismatch);
        }
    }

    // 11. §4.3 GUEST_POLICY.DEBUG must be clear.
    if report.debug_allowed() {
        return Err(Error::DebugEnclave {
            platform: Platform::SevSnp,
        });
    }
    // 12. Table 23 VMPL: only reports requested from VMPL 0 (the guest kernel itself).
    if report.vmpl != 0 {
        return Err(Error::VmplNotZero { vmpl: report.vmpl });
    }
    // 13. Minimum TCB: iterate the policy's components for this generation.
    let minimum = policy
        .minimum_tcb
        .get(&generation)
        .ok_or(Error::TcbPolicyMissing { generation })?;
    for (c, min) in minimum.components() {
        let reported = component(&tcb, c).unwrap_or(0);
        if reported < min {
            return Err(Error::TcbTooLow {
                component: c,
                reported,
                minimum: min,
            });
        }
    }
    // 14. MEASUREMENT (and HOST_DATA) must be one of the policy's allowed entries.
    let entry = policy
        .allowed
        .iter()
        .find(|a| a.measurement == report.measurement)
        .ok_or_else(|| Error::MeasurementNotAllowed {
            measurement: hex::encode(report.measurement),
        })?;
    match &entry.host_data {
        ExpectedHostData::Skip => {}
        ExpectedHostData::Expected(expected) => {
            if expected != &report.host_data {
                return Err(Error::HostDataMismatch);
            }
        }
    }

    Ok(Claims {
        platform: Platform::SevSnp,
        policy_origin,
        verified_at: now,
        measurements: Measurements::SevSnp {
            measurement: report.measurement,
            host_data: report.host_data,
        },
        debug: false,
        tcb: Some(tcb),
        snp: Some(SnpDetails {
            version: report.version,
            generation,
            signing_key: kind,
            guest_policy: report.policy,
            vmpl: report.vmpl,
            guest_svn: report.guest_svn,
            chip_id: report.chip_id,
            report_id: report.report_id,
        }),
        module_id: None,
        timestamp_ms: None,
        nonce: None,
        user_data: None,
        public_key: None,
        report_data: Some(report.report_data),
    })
}

fn report_signature(report: &AttestationReport) -> Result<p384::ecdsa::Signature, Error> {
    let malformed = |reason| Error::SignatureMalformed { reason };
    let (r_le, r_pad) = report.signature_r.split_at(48);
    let (s_le, s_pad) = report.signature_s.split_at(48);
    if r_pad.iter().chain(s_pad).any(|b| *b != 0)
        || report.signature_reserved().iter().any(|b| *b != 0)
    {
        return Err(malformed(
            "non-zero bytes in the unused part of the signature",
        ));
    }
    let mut r = [0u8; 48];
    let mut s = [0u8; 48];
    r.copy_from_slice(r_le);
    s.copy_from_slice(s_le);
    r.reverse();
    s.reverse();
    p384::ecdsa::Signature::from_scalars(r, s).map_err(|_| malformed("r or s out of range"))
}
