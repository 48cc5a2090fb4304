//! The one error type of this crate.
//!
//! Every variant names the verification step that failed, with structured context. All
//! `Display` strings are safe to log: they carry lengths, indices, versions, times and
//! public identifiers, never key material, nonces or user data.

use crate::claims::{Generation, Platform, TcbComponent};

/// Why evidence, a policy or a binding was refused.
///
/// Certificate `index` values count from the trust anchor: index 0 is the pinned root
/// (AWS Nitro root G1, an AMD ARK, or the simulation root), the highest index is the
/// leaf (the Nitro signing certificate, or the VCEK/VLEK).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- sizes -----------------------------------------------------------------------
    /// The evidence blob is larger than this verifier accepts.
    #[error("evidence is {len} bytes, more than the maximum of {max}")]
    EvidenceTooLarge { len: usize, max: usize },
    /// The signed payload of a Nitro document is larger than allowed.
    #[error("attestation document payload is {len} bytes, more than the maximum of {max}")]
    PayloadTooLarge { len: usize, max: usize },
    /// A field is longer than its bound.
    #[error("field `{field}` is {len} bytes, more than the maximum of {max}")]
    FieldTooLarge {
        field: &'static str,
        len: usize,
        max: usize,
    },

    // ----- Nitro / COSE structure ----------------------------------------------------
    /// The outer COSE_Sign1 structure could not be decoded.
    #[error("COSE_Sign1 structure malformed: {reason}")]
    CoseMalformed { reason: &'static str },
    /// A signature or digest algorithm other than the single one we accept.
    #[error("unsupported algorithm in {context}: {found}")]
    UnsupportedAlgorithm {
        context: &'static str,
        found: String,
    },
    /// The attestation document payload is not the expected CBOR map.
    #[error("attestation document payload malformed: {reason}")]
    PayloadMalformed { reason: &'static str },
    /// A mandatory field is absent.
    #[error("mandatory field `{field}` is missing")]
    FieldMissing { field: &'static str },
    /// A field has the wrong type or an out-of-range value.
    #[error("field `{field}` is invalid: {reason}")]
    FieldInvalid {
        field: &'static str,
        reason: &'static str,
    },

    // ----- certificates ----------------------------------------------------------------
    /// A certificate could not be parsed.
    #[error("certificate {index} is malformed: {reason}")]
    CertMalformed { index: usize, reason: &'static str },
    /// The chain is structurally wrong (names, CA flags, key usage, path length, root).
    #[error("certificate chain invalid at certificate {index}: {reason}")]
    CertChainInvalid { index: usize, reason: &'static str },
    /// A certificate's signature does not verify under its issuer's key.
    #[error("certificate {index} signature does not verify under its issuer's key")]
    CertSignatureInvalid { index: usize },
    /// A certificate has expired at the verification time.
    #[error("certificate {index} expired at unix {not_after} (verification time unix {now})")]
    CertExpired {
        index: usize,
        not_after: u64,
        now: u64,
    },
    /// A certificate is not yet valid at the verification time.
    #[error(
        "certificate {index} not valid before unix {not_before} (verification time unix {now})"
    )]
    CertNotYetValid {
        index: usize,
        not_before: u64,
        now: u64,
    },

    // ----- evidence signature and freshness ----------------------------------------------
    /// The evidence signature (COSE_Sign1 or SNP report) is malformed.
    #[error("evidence signature malformed: {reason}")]
    SignatureMalformed { reason: &'static str },
    /// The evidence signature does not verify under the leaf certificate's key.
    #[error("evidence signature does not verify")]
    SignatureInvalid,
    /// The document is older than the policy's maximum evidence age.
    #[error("evidence is {age_secs} s old, more than the policy maximum of {max_secs} s")]
    EvidenceTooOld { age_secs: u64, max_secs: u64 },
    /// The document's timestamp lies in the future beyond the allowed clock skew.
    #[error("evidence timestamp unix {timestamp} is after the verification time unix {now}")]
    EvidenceFromFuture { timestamp: u64, now: u64 },

    // ----- measurements / policy checks ---------------------------------------------------
    /// The policy has no section for this platform, so its evidence is not accepted.
    #[error("policy does not accept {platform} evidence")]
    PlatformNotInPolicy { platform: Platform },
    /// Debug-mode enclave (Nitro PCR0/1/2 all zero, or SNP policy DEBUG bit set).
    #[error("{platform} evidence comes from a debug-mode enclave")]
    DebugEnclave { platform: Platform },
    /// A PCR the policy expects is absent from the document.
    #[error("PCR{index} expected by the policy is missing from the document")]
    PcrMissing { index: u8 },
    /// A PCR differs from the policy's expected value.
    #[error("PCR{index} does not match the policy")]
    PcrMismatch { index: u8 },
    /// Several allowed PCR sets, none matched.
    #[error("none of the policy's {sets} allowed PCR sets matches the document")]
    NoPcrSetMatched { sets: usize },
    /// The SNP MEASUREMENT is not in the policy's allowed list.
    #[error("SEV-SNP measurement {measurement} is not allowed by the policy")]
    MeasurementNotAllowed { measurement: String },
    /// The SNP measurement is allowed but HOST_DATA differs from the expected value.
    #[error("SEV-SNP HOST_DATA does not match the policy entry for this measurement")]
    HostDataMismatch,

    // ----- SEV-SNP specific -------------------------------------------------------------
    /// The report is not exactly 1184 bytes.
    #[error("SEV-SNP report is {len} bytes, expected 1184")]
    ReportSizeMismatch { len: usize },
    /// The report VERSION is outside the supported range.
    #[error("SEV-SNP report version {version} unsupported (supported {min}..={max})")]
    ReportVersionUnsupported { version: u32, min: u32, max: u32 },
    /// The VCEK/VLEK certificate does not say which processor generation it belongs to.
    #[error("endorsement certificate unrecognized: {reason}")]
    EndorsementUnrecognized { reason: &'static str },
    /// The report's CPUID fields name a different generation than the endorsement.
    #[error("report CPUID family {family:#x} model {model:#x} does not match the {endorsed} endorsement")]
    GenerationMismatch {
        endorsed: Generation,
        family: u8,
        model: u8,
    },
    /// The report says it was signed by a different key type than the one supplied.
    #[error("report SIGNING_KEY {reported} does not match the supplied {supplied} certificate")]
    SigningKeyMismatch {
        reported: u8,
        supplied: &'static str,
    },
    /// A VLEK-signed report under a policy that does not allow VLEKs.
    #[error("VLEK-signed reports are not allowed by the policy")]
    VlekNotAllowed,
    /// The report's REPORTED_TCB differs from the TCB the VCEK/VLEK was issued for.
    #[error("reported TCB {component} = {reported} differs from the endorsement's {endorsed}")]
    TcbMismatch {
        component: TcbComponent,
        reported: u8,
        endorsed: u8,
    },
    /// The report's CHIP_ID differs from the VCEK's hwID.
    #[error("report CHIP_ID does not match the VCEK hwID")]
    ChipIdMismatch,
    /// The report was not requested from VMPL 0.
    #[error("report was requested from VMPL {vmpl}, only VMPL 0 is accepted")]
    VmplNotZero { vmpl: u32 },
    /// A TCB component is below the policy minimum.
    #[error("TCB {component} = {reported} is below the policy minimum {minimum}")]
    TcbTooLow {
        component: TcbComponent,
        reported: u8,
        minimum: u8,
    },
    /// The policy has no minimum TCB for this processor generation.
    #[error("policy has no minimum TCB for {generation}, so its reports are not accepted")]
    TcbPolicyMissing { generation: Generation },

    // ----- simulation -------------------------------------------------------------------
    /// Simulated evidence under a policy without an explicit `[simulated]` section.
    #[error("simulated evidence is not trusted by this policy (no [simulated] section)")]
    SimulatedRootNotTrusted,
    /// The simulation root differs from the one the policy names.
    #[error("simulation root certificate sha256 {found} is not the one the policy trusts")]
    SimulatedRootMismatch { found: String },
    /// Simulation CA material (PEM) could not be read.
    #[error("simulation CA material malformed: {reason}")]
    SimulationMaterialMalformed { reason: &'static str },
    /// Creating a certificate or document failed (encoding error, not an input problem).
    #[error("could not encode {what}")]
    Encoding { what: &'static str },

    // ----- policy -----------------------------------------------------------------------
    /// The policy file is larger than allowed.
    #[error("policy file is {len} bytes, more than the maximum of {max}")]
    PolicyTooLarge { len: usize, max: usize },
    /// The policy file has no signature header.
    #[error("policy is not signed")]
    PolicyUnsigned,
    /// The policy file's signature header is malformed.
    #[error("signed policy envelope malformed: {reason}")]
    PolicyEnvelopeMalformed { reason: &'static str },
    /// The signature does not verify under the pinned release key.
    #[error("policy signature does not verify under the pinned release key")]
    PolicySignatureInvalid,
    /// The policy body is not valid TOML of the expected shape.
    #[error("policy body malformed: {reason}")]
    PolicyMalformed { reason: String },
    /// The policy body parsed but a value is invalid.
    #[error("policy invalid: {reason}")]
    PolicyInvalid { reason: String },

    // ----- binding ----------------------------------------------------------------------
    /// The evidence is not bound to this TLS key and nonce.
    #[error("evidence binding mismatch in `{field}`")]
    BindingMismatch { field: &'static str },
}
