//! Remote-attestation verification for sealboost.
//!
//! An admin client sends the channel secret only to an enclave whose evidence passed
//! [`verify`] under a signed [`Policy`] and whose TLS key is bound into that evidence
//! ([`binding::check`]). Verification is a pure function: the time, the trust anchors
//! and the policy are parameters; nothing is fetched and no clock is read.
//!
//! - AWS Nitro: COSE_Sign1/ES384 document, chain to the pinned AWS Nitro root G1
//!   ([`nitro::verify_nitro_with_root`]).
//! - AMD SEV-SNP: 1184-byte report, VCEK/VLEK chain to the pinned AMD ARK
//!   ([`snp::verify_snp_with_roots`]).
//! - Simulated: the Nitro format signed by an operator-generated CA, trusted only when a
//!   policy names its root ([`simulated`]).
//!
//! Only this crate constructs [`Verified`]; code that needs trust takes
//! `&Verified<Claims>`, never raw evidence.

#![forbid(unsafe_code)]

pub mod binding;
mod certgen;
mod claims;
mod ecdsa;
mod error;
pub mod nitro;
pub mod policy;
pub mod roots;
pub mod simulated;
pub mod snp;
mod time;
mod x509;

use std::ops::Deref;

pub use claims::{
    Claims, Generation, Measurements, Platform, SnpDetails, SnpSigningKey, SnpTcb, TcbComponent,
};
pub use error::Error;
pub use policy::{Policy, PolicyOrigin, SignedPolicy};
pub use time::{TimeParseError, UnixTime};

/// A value that passed verification. Only this crate can construct one.
#[derive(Debug)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(value)
    }

    /// The verified claims.
    pub fn claims(&self) -> &T {
        &self.0
    }

    /// The verified value, leaving the wrapper (it cannot be put back).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Attestation evidence as received from an enclave (RATS "Evidence" plus the
/// "Endorsements" the host fetched and cached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// A Nitro attestation document (COSE_Sign1, tagged or untagged).
    Nitro(Vec<u8>),
    /// An SEV-SNP report with its endorsement certificates.
    SevSnp {
        /// The 1184-byte ATTESTATION_REPORT.
        report: Vec<u8>,
        /// VCEK or VLEK certificate, DER.
        vcek_or_vlek: Vec<u8>,
        /// ASK (for a VCEK) or ASVK (for a VLEK), DER; the pinned one when `None`.
        ask_or_asvk: Option<Vec<u8>>,
    },
    /// A simulated (not a TEE) Nitro-format document.
    Simulated(Vec<u8>),
}

impl Evidence {
    /// The platform this evidence claims to come from (unverified).
    pub fn platform(&self) -> Platform {
        match self {
            Self::Nitro(_) => Platform::Nitro,
            Self::SevSnp { .. } => Platform::SevSnp,
            Self::Simulated(_) => Platform::Simulated,
        }
    }
}

/// Verifies `evidence` under `policy` at time `now` with the pinned trust anchors (AWS
/// Nitro root G1; AMD ARKs for Milan, Genoa, Turin). Simulated evidence is checked
/// against the root the policy's `[simulated]` section names, and refused without one.
pub fn verify(
    evidence: &Evidence,
    policy: &Policy,
    now: UnixTime,
) -> Result<Verified<Claims>, Error> {
    match evidence {
        Evidence::Nitro(document) => {
            nitro::verify_nitro_with_root(document, roots::AWS_NITRO_ROOT_G1_DER, policy, now)
        }
        Evidence::SevSnp {
            report,
            vcek_or_vlek,
            ask_or_asvk,
        } => snp::verify_snp_with_roots(
            report,
            vcek_or_vlek,
            ask_or_asvk.as_deref(),
            &roots::AmdRoots::pinned(),
            policy,
            now,
        ),
        Evidence::Simulated(document) => simulated::verify_simulated(document, policy, now),
    }
}

impl Error {
    /// A short, stable code for the failed step (for `--json` output and for peers, who
    /// should get a code rather than details).
    pub fn code(&self) -> &'static str {
        match self {
            Self::EvidenceTooLarge { .. } => "evidence_too_large",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::FieldTooLarge { .. } => "field_too_large",
            Self::CoseMalformed { .. } => "cose_malformed",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::PayloadMalformed { .. } => "payload_malformed",
            Self::FieldMissing { .. } => "field_missing",
            Self::FieldInvalid { .. } => "field_invalid",
            Self::CertMalformed { .. } => "cert_malformed",
            Self::CertChainInvalid { .. } => "cert_chain_invalid",
            Self::CertSignatureInvalid { .. } => "cert_signature_invalid",
            Self::CertExpired { .. } => "cert_expired",
            Self::CertNotYetValid { .. } => "cert_not_yet_valid",
            Self::SignatureMalformed { .. } => "signature_malformed",
            Self::SignatureInvalid => "signature_invalid",
            Self::EvidenceTooOld { .. } => "evidence_too_old",
            Self::EvidenceFromFuture { .. } => "evidence_from_future",
            Self::PlatformNotInPolicy { .. } => "platform_not_in_policy",
            Self::DebugEnclave { .. } => "debug_enclave",
            Self::PcrMissing { .. } => "pcr_missing",
            Self::PcrMismatch { .. } => "pcr_mismatch",
            Self::NoPcrSetMatched { .. } => "no_pcr_set_matched",
            Self::MeasurementNotAllowed { .. } => "measurement_not_allowed",
            Self::HostDataMismatch => "host_data_mismatch",
            Self::ReportSizeMismatch { .. } => "report_size_mismatch",
            Self::ReportVersionUnsupported { .. } => "report_version_unsupported",
            Self::EndorsementUnrecognized { .. } => "endorsement_unrecognized",
            Self::GenerationMismatch { .. } => "generation_mismatch",
            Self::SigningKeyMismatch { .. } => "signing_key_mismatch",
            Self::VlekNotAllowed => "vlek_not_allowed",
            Self::TcbMismatch { .. } => "tcb_mismatch",
            Self::ChipIdMismatch => "chip_id_mismatch",
            Self::VmplNotZero { .. } => "vmpl_not_zero",
            Self::TcbTooLow { .. } => "tcb_too_low",
            Self::TcbPolicyMissing { .. } => "tcb_policy_missing",
            Self::SimulatedRootNotTrusted => "simulated_root_not_trusted",
            Self::SimulatedRootMismatch { .. } => "simulated_root_mismatch",
            Self::SimulationMaterialMalformed { .. } => "simulation_material_malformed",
            Self::Encoding { .. } => "encoding",
            Self::PolicyTooLarge { .. } => "policy_too_large",
            Self::PolicyUnsigned => "policy_unsigned",
            Self::PolicyEnvelopeMalformed { .. } => "policy_envelope_malformed",
            Self::PolicySignatureInvalid => "policy_signature_invalid",
            Self::PolicyMalformed { .. } => "policy_malformed",
            Self::PolicyInvalid { .. } => "policy_invalid",
            Self::BindingMismatch { .. } => "binding_mismatch",
        }
    }
}
