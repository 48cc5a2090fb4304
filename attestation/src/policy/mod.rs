//! Attestation policy: what evidence is acceptable (RATS "Reference Values" + "Policy").
//!
//! The file format is specified in `attestation/POLICY.md`. A [`Policy`] is obtained
//! either from a [`SignedPolicy`] verified under the pinned release key, or — for an
//! operator checking evidence by hand — from the explicitly named unsigned constructors,
//! which mark the result [`PolicyOrigin::UnsignedOperatorCheck`].

mod body;

use std::collections::BTreeMap;

use ed25519_dalek::Signer;
/// The release-key types, re-exported so callers need not depend on ed25519-dalek.
pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::Serialize;

use body::{check_age, parse_body};

use crate::claims::{Generation, TcbComponent};
use crate::error::Error;

/// Largest policy file accepted.
pub const MAX_POLICY_LEN: usize = 64 * 1024;
/// The only body format version.
pub const POLICY_FORMAT_VERSION: u32 = 1;
/// First token of a signed policy file.
pub const SIGNED_POLICY_MAGIC: &str = "sealboost-signed-policy-v1";
/// Prepended to the body before signing, so a release-key signature over a policy can
/// never be replayed as a signature over anything else (and vice versa).
pub const SIGNATURE_CONTEXT: &[u8] = b"sealboost signed policy v1\n";
/// Most allowed measurement sets per platform.
pub const MAX_ALLOWED_ENTRIES: usize = 256;
/// Largest `max_evidence_age_secs` (30 days).
pub const MAX_EVIDENCE_AGE_LIMIT_SECS: u64 = 30 * 24 * 3600;
/// Longest `label`.
pub const MAX_LABEL_LEN: usize = 128;
/// Longest signature header line.
const MAX_HEADER_LEN: usize = 256;

/// Where a [`Policy`] came from; copied into every [`crate::Claims`] it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PolicyOrigin {
    /// Verified under this release key (hex of the 32-byte ed25519 public key).
    Signed { release_key: String },
    /// Built or parsed without any signature, for an operator's manual check. Never
    /// acceptable as the basis for sending a secret.
    UnsignedOperatorCheck,
}

/// PCR reference values for Nitro or Simulated evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrPolicy {
    /// Evidence must match every PCR of at least one of these sets.
    pub(crate) allowed: Vec<BTreeMap<u8, [u8; 48]>>,
    /// Oldest acceptable document, by its timestamp.
    pub(crate) max_evidence_age_secs: u64,
}

impl PcrPolicy {
    /// The allowed PCR sets.
    pub fn allowed(&self) -> &[BTreeMap<u8, [u8; 48]>] {
        &self.allowed
    }

    /// Maximum document age in seconds.
    pub fn max_evidence_age_secs(&self) -> u64 {
        self.max_evidence_age_secs
    }
}

/// Expected HOST_DATA for an allowed SEV-SNP measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedHostData {
    /// Explicitly not checked.
    Skip,
    /// Must equal these 32 bytes.
    Expected([u8; 32]),
}

/// One allowed SEV-SNP launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpAllowed {
    /// MEASUREMENT.
    pub measurement: [u8; 48],
    /// HOST_DATA expectation.
    pub host_data: ExpectedHostData,
}

/// Minimum SVN per TCB component for one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinimumTcb {
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
    /// Required for Turin, absent for Milan and Genoa.
    pub fmc: Option<u8>,
}

impl MinimumTcb {
    /// `(component, minimum)` pairs that the verifier iterates.
    pub fn components(&self) -> Vec<(TcbComponent, u8)> {
        crate::claims::tcb_components(
            self.fmc,
            self.bootloader,
            self.tee,
            self.snp,
            self.microcode,
        )
    }
}

/// SEV-SNP reference values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpPolicy {
    pub(crate) allowed: Vec<SnpAllowed>,
    /// A generation absent here is not accepted at all.
    pub(crate) minimum_tcb: BTreeMap<Generation, MinimumTcb>,
    pub(crate) allow_vlek: bool,
}

impl SnpPolicy {
    /// Allowed launches.
    pub fn allowed(&self) -> &[SnpAllowed] {
        &self.allowed
    }
    /// Minimum TCB per accepted generation.
    pub fn minimum_tcb(&self) -> &BTreeMap<Generation, MinimumTcb> {
        &self.minimum_tcb
    }
    /// Whether VLEK-signed reports are accepted.
    pub fn allow_vlek(&self) -> bool {
        self.allow_vlek
    }
}

/// Trust in an operator-generated simulation root. Only present when a policy says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedPolicy {
    pub(crate) trusted_root_sha256: [u8; 32],
    pub(crate) pcrs: PcrPolicy,
}

impl SimulatedPolicy {
    /// SHA-256 of the trusted simulation root certificate (DER).
    pub fn trusted_root_sha256(&self) -> &[u8; 32] {
        &self.trusted_root_sha256
    }
    /// PCR expectations for simulated evidence.
    pub fn pcrs(&self) -> &PcrPolicy {
        &self.pcrs
    }
}

/// A parsed, validated policy. No `Default`: every acceptance is written down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub(crate) origin: PolicyOrigin,
    pub(crate) nitro: Option<PcrPolicy>,
    pub(crate) sev_snp: Option<SnpPolicy>,
    pub(crate) simulated: Option<SimulatedPolicy>,
}

impl Policy {
    /// Signed release policy or unsigned operator check.
    pub fn origin(&self) -> &PolicyOrigin {
        &self.origin
    }
    /// The `[nitro]` section.
    pub fn nitro(&self) -> Option<&PcrPolicy> {
        self.nitro.as_ref()
    }
    /// The `[sev_snp]` section.
    pub fn sev_snp(&self) -> Option<&SnpPolicy> {
        self.sev_snp.as_ref()
    }
    /// The `[simulated]` section.
    pub fn simulated(&self) -> Option<&SimulatedPolicy> {
        self.simulated.as_ref()
    }

    /// Parses a policy body **without any signature**, for an operator checking a draft
    /// policy or evidence by hand. The result is marked
    /// [`PolicyOrigin::UnsignedOperatorCheck`] and so are all claims it accepts.
    pub fn parse_unsigned_for_operator_check(body: &[u8]) -> Result<Self, Error> {
        parse_body(body, PolicyOrigin::UnsignedOperatorCheck)
    }

    /// Builds an in-memory policy from values given on a command line (`--pcr`,
    /// `--measurement`), **unsigned**, marked [`PolicyOrigin::UnsignedOperatorCheck`].
    pub fn from_unsigned_for_operator_check(check: OperatorCheck) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::PolicyInvalid {
            reason: reason.to_owned(),
        };
        if check.pcrs.is_empty() && check.measurement.is_none() {
            return Err(invalid("give at least one PCR or a measurement"));
        }
        if check.pcrs.keys().any(|i| *i >= 32) {
            return Err(invalid("PCR index must be below 32"));
        }
        if !check.pcrs.is_empty() && !check.pcrs.contains_key(&0) {
            return Err(invalid("a PCR set must include PCR0 (the enclave image)"));
        }
        check_age(check.max_evidence_age_secs)?;
        let pcr_policy = (!check.pcrs.is_empty()).then(|| PcrPolicy {
            allowed: vec![check.pcrs.clone()],
            max_evidence_age_secs: check.max_evidence_age_secs,
        });
        let simulated = match (check.simulated_root_sha256, &pcr_policy) {
            (Some(root), Some(p)) => Some(SimulatedPolicy {
                trusted_root_sha256: root,
                pcrs: p.clone(),
            }),
            (Some(_), None) => return Err(invalid("a simulation root needs PCR values")),
            (None, _) => None,
        };
        let sev_snp = check.measurement.map(|measurement| SnpPolicy {
            allowed: vec![SnpAllowed {
                measurement,
                host_data: ExpectedHostData::Skip,
            }],
            minimum_tcb: Generation::ALL
                .into_iter()
                .map(|g| {
                    let fmc = (g == Generation::Turin).then_some(0);
                    (
                        g,
                        MinimumTcb {
                            bootloader: 0,
                            tee: 0,
                            snp: 0,
                            microcode: 0,
                            fmc,
                        },
                    )
                })
                .collect(),
            allow_vlek: true,
        });
        Ok(Self {
            origin: PolicyOrigin::UnsignedOperatorCheck,
            nitro: pcr_policy,
            sev_snp,
            simulated,
        })
    }
}

/// Values for [`Policy::from_unsigned_for_operator_check`].
///
/// SEV-SNP in this mode: minimum TCB 0 for every generation, VLEK accepted, HOST_DATA not
/// checked — the operator sees the reported values in the output instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorCheck {
    /// Expected PCRs for Nitro (and Simulated, when a root is given). Must include PCR0.
    pub pcrs: BTreeMap<u8, [u8; 48]>,
    /// Expected SEV-SNP MEASUREMENT.
    pub measurement: Option<[u8; 48]>,
    /// Maximum Nitro/Simulated document age.
    pub max_evidence_age_secs: u64,
    /// Trust this simulation root (SHA-256 of its DER).
    pub simulated_root_sha256: Option<[u8; 32]>,
}

/// A policy file with a detached ed25519 signature (format in POLICY.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPolicy {
    body: Vec<u8>,
    signature: Signature,
}

impl SignedPolicy {
    /// Splits a signed policy file into signature and body. Checks the envelope only.
    pub fn parse(file: &[u8]) -> Result<Self, Error> {
        if file.len() > MAX_POLICY_LEN {
            return Err(Error::PolicyTooLarge {
                len: file.len(),
                max: MAX_POLICY_LEN,
            });
        }
        if !file.starts_with(SIGNED_POLICY_MAGIC.as_bytes()) {
            return Err(Error::PolicyUnsigned);
        }
        let malformed = |reason| Error::PolicyEnvelopeMalformed { reason };
        let newline = file
            .iter()
            .take(MAX_HEADER_LEN)
            .position(|b| *b == b'\n')
            .ok_or_else(|| malformed("no header line"))?;
        let (header, rest) = file.split_at(newline);
        let body = rest.get(1..).unwrap_or_default();
        let header = std::str::from_utf8(header).map_err(|_| malformed("header is not UTF-8"))?;
        let mut parts = header.split(' ');
        let (Some(_magic), Some(alg), Some(sig_hex), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(
                "header must be `<magic> ed25519 <signature hex>`",
            ));
        };
        if header.split(' ').next() != Some(SIGNED_POLICY_MAGIC) {
            return Err(malformed("unknown signed policy version"));
        }
        if alg != "ed25519" {
            return Err(malformed("signature algorithm must be ed25519"));
        }
        let mut sig = [0u8; 64];
        hex::decode_to_slice(sig_hex, &mut sig)
            .map_err(|_| malformed("signature is not 128 hex digits"))?;
        Ok(Self {
            body: body.to_vec(),
            signature: Signature::from_bytes(&sig),
        })
    }

    /// The exact signed body bytes (TOML).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Verifies the signature under the pinned release key, then parses and validates the
    /// body.
    pub fn verify(&self, pinned_release_key: &VerifyingKey) -> Result<Policy, Error> {
        pinned_release_key
            .verify_strict(&signed_message(&self.body), &self.signature)
            .map_err(|_| Error::PolicySignatureInvalid)?;
        parse_body(
            &self.body,
            PolicyOrigin::Signed {
                release_key: hex::encode(pinned_release_key.as_bytes()),
            },
        )
    }
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNATURE_CONTEXT.len() + body.len());
    m.extend_from_slice(SIGNATURE_CONTEXT);
    m.extend_from_slice(body);
    m
}

/// Produces a signed policy file from a TOML body. Refuses bodies that do not validate,
/// so a release key never signs a policy that clients would reject.
pub fn sign(policy_body: &[u8], key: &SigningKey) -> Result<Vec<u8>, Error> {
    parse_body(policy_body, PolicyOrigin::UnsignedOperatorCheck)?;
    let signature = key.sign(&signed_message(policy_body));
    let mut out = format!(
        "{SIGNED_POLICY_MAGIC} ed25519 {}\n",
        hex::encode(signature.to_bytes())
    )
    .into_bytes();
    out.extend_from_slice(policy_body);
    if out.len() > MAX_POLICY_LEN {
        return Err(Error::PolicyTooLarge {
            len: out.len(),
            max: MAX_POLICY_LEN,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"
version = 1

[nitro]
max_evidence_age_secs = 300

[[nitro.allowed]]
label = "release 1"
pcrs = { 0 = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001" }

[sev_snp]
allow_vlek = false

[sev_snp.minimum_tcb.milan]
bootloader = 3
tee = 0
snp = 8
microcode = 115

[sev_snp.minimum_tcb.turin]
fmc = 0
bootloader = 1
tee = 0
snp = 2
microcode = 71

[[sev_snp.allowed]]
measurement = "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"
host_data = "skip"

[[sev_snp.allowed]]
measurement = "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c"
host_data = { expected = "0000000000000000000000000000000000000000000000000000000000000000" }
"#;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn signed_round_trip() {
        let file = sign(BODY.as_bytes(), &key()).unwrap();
        let policy = SignedPolicy::parse(&file)
            .unwrap()
            .verify(&key().verifying_key())
            .unwrap();
        assert!(matches!(policy.origin(), PolicyOrigin::Signed { .. }));
        let snp = policy.sev_snp().unwrap();
        assert_eq!(snp.minimum_tcb().len(), 2);
        assert_eq!(snp.allowed().len(), 2);
        assert_eq!(policy.nitro().unwrap().allowed()[0].len(), 1);
        assert!(policy.simulated().is_none());
    }

    #[test]
    fn unsigned_file_is_refused() {
        let err = SignedPolicy::parse(BODY.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::PolicyUnsigned));
    }

    #[test]
    fn wrong_key_is_refused() {
        let file = sign(BODY.as_bytes(), &key()).unwrap();
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        let err = SignedPolicy::parse(&file)
            .unwrap()
            .verify(&other)
            .unwrap_err();
        assert!(matches!(err, Error::PolicySignatureInvalid));
    }

    #[test]
    fn any_body_change_breaks_the_signature() {
        let file = sign(BODY.as_bytes(), &key()).unwrap();
        let header_len = file.iter().position(|b| *b == b'\n').unwrap() + 1;
        for i in (header_len..file.len()).step_by(7) {
            let mut f = file.clone();
            f[i] ^= 0x01;
            let err = SignedPolicy::parse(&f)
                .unwrap()
                .verify(&key().verifying_key())
                .unwrap_err();
            assert!(matches!(err, Error::PolicySignatureInvalid), "byte {i}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let body = BODY.replace(
            "allow_vlek = false",
            "allow_vlek = false\nallow_debug = true",
        );
        let err = Policy::parse_unsigned_for_operator_check(body.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::PolicyMalformed { .. }));
    }

    #[test]
    fn missing_fields_have_no_default() {
        let body = BODY.replace("allow_vlek = false\n", "");
        let err = Policy::parse_unsigned_for_operator_check(body.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::PolicyMalformed { .. }));
    }

    #[test]
    fn invalid_values_are_refused() {
        for (from, to) in [
            ("version = 1", "version = 2"),
            ("max_evidence_age_secs = 300", "max_evidence_age_secs = 0"),
            ("pcrs = { 0 =", "pcrs = { 1 ="),
            ("pcrs = { 0 =", "pcrs = { 00 ="),
            ("fmc = 0\n", ""),
            ("bootloader = 3\n", "bootloader = 3\nfmc = 1\n"),
            ("host_data = \"skip\"", "host_data = \"abcd\""),
        ] {
            let body = BODY.replacen(from, to, 1);
            let err = Policy::parse_unsigned_for_operator_check(body.as_bytes()).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::PolicyInvalid { .. } | Error::PolicyMalformed { .. }
                ),
                "{from} -> {to}: {err:?}"
            );
        }
    }

    #[test]
    fn envelope_errors_are_specific() {
        for file in [
            format!("{SIGNED_POLICY_MAGIC} ed25519 00\n{BODY}"),
            format!("{SIGNED_POLICY_MAGIC} rsa {}\n{BODY}", "00".repeat(64)),
            format!(
                "{SIGNED_POLICY_MAGIC}-v9 ed25519 {}\n{BODY}",
                "00".repeat(64)
            ),
            format!(
                "{SIGNED_POLICY_MAGIC} ed25519 {} extra\n{BODY}",
                "00".repeat(64)
            ),
            SIGNED_POLICY_MAGIC.to_owned(),
        ] {
            let err = SignedPolicy::parse(file.as_bytes()).unwrap_err();
            assert!(
                matches!(err, Error::PolicyEnvelopeMalformed { .. }),
                "{err:?}"
            );
        }
    }

    #[test]
    fn signing_refuses_an_invalid_body() {
        let err = sign(b"version = 1\n", &key()).unwrap_err();
        assert!(matches!(err, Error::PolicyInvalid { .. }));
    }
}
