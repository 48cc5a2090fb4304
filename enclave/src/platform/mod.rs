//! The TEE the enclave runs on (DESIGN §3 "Providers"). Everything above this trait is the
//! same code on Nitro, SEV-SNP and in simulation; only evidence production differs.
//!
//! This is the one module of the workspace where `unsafe` could be allowed (device
//! ioctls). Today both device providers go through safe crate APIs, so it stays denied.

mod nsm;
mod simulated;
mod snp;

pub use nsm::Nsm;
pub use simulated::Simulated;
pub use snp::Snp;
use wire::control::PlatformKind;

/// What the enclave asks its platform to attest to.
#[derive(Debug, Clone, Copy)]
pub struct AttestRequest<'a> {
    /// 48-byte binding digest (attestation::binding): SPKI + client nonce.
    pub user_data: &'a [u8],
    pub nonce: &'a [u8],
    /// The TLS key's SPKI (Nitro `public_key`; unused on SNP).
    pub public_key: &'a [u8],
}

/// Evidence exactly as the platform produced it, plus endorsements it handed out
/// (SNP: VCEK/VLEK and ASK from the extended report's certificate table).
#[derive(Debug, Clone)]
pub struct RawEvidence {
    pub platform: PlatformKind,
    pub evidence: Vec<u8>,
    pub endorsements: Vec<Vec<u8>>,
}

/// Why the platform could not attest. Carries no request content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    #[error("{platform} device unavailable: {detail}")]
    DeviceUnavailable {
        platform: &'static str,
        detail: String,
    },
    #[error("{platform} refused the attestation request: {detail}")]
    Refused {
        platform: &'static str,
        detail: String,
    },
    #[error("attestation request field {field} is {len} bytes, over {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
}

/// A TEE that can produce attestation evidence.
pub trait Platform: Send + Sync + 'static {
    fn kind(&self) -> PlatformKind;
    fn attest(&self, req: &AttestRequest<'_>) -> Result<RawEvidence, PlatformError>;
}
