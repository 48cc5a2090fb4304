//! The simulated platform (DESIGN §3): Nitro-format documents signed by a simulation CA
//! the operator generated, with PCR0 = SHA-384 of *this* executable. A modified or rebuilt
//! enclave therefore fails a policy pinned to the old PCR0, exactly as on hardware. It is
//! not a TEE: clients accept it only under a policy that explicitly trusts the simulation
//! root.

use std::path::Path;

use attestation::simulated::{enclave_pcrs, AttesterMaterial, SimulatedAttester};
use attestation::UnixTime;
use wire::control::PlatformKind;
use zeroize::Zeroizing;

use super::{AttestRequest, Platform, PlatformError, RawEvidence};

#[derive(Debug)]
pub struct Simulated {
    attester: SimulatedAttester,
}

fn unavailable(detail: String) -> PlatformError {
    PlatformError::DeviceUnavailable {
        platform: "simulated",
        detail,
    }
}

impl Simulated {
    /// Loads the attester material (PEM from `sealboost-deploy sim-ca`) and measures the
    /// running executable.
    pub fn load(material_pem: &Path) -> Result<Self, PlatformError> {
        let pem = Zeroizing::new(
            std::fs::read_to_string(material_pem)
                .map_err(|e| unavailable(format!("reading attester material: {e}")))?,
        );
        let material = AttesterMaterial::from_pem(&pem)
            .map_err(|e| unavailable(format!("attester material: {e}")))?;
        let exe = std::fs::read("/proc/self/exe")
            .map_err(|e| unavailable(format!("measuring /proc/self/exe: {e}")))?;
        let attester = SimulatedAttester::new(material, enclave_pcrs(&exe))
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(Self { attester })
    }

    /// PCRs this enclave reports.
    pub fn pcr0_hex(&self) -> String {
        self.attester
            .pcrs()
            .get(&0)
            .map(|p| p.iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_default()
    }
}

impl Platform for Simulated {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Simulated
    }

    fn attest(&self, req: &AttestRequest<'_>) -> Result<RawEvidence, PlatformError> {
        let doc = self
            .attester
            .attest(
                Some(req.user_data),
                Some(req.nonce),
                Some(req.public_key),
                UnixTime::now(),
            )
            .map_err(|e| PlatformError::Refused {
                platform: "simulated",
                detail: e.to_string(),
            })?;
        Ok(RawEvidence {
            platform: PlatformKind::Simulated,
            evidence: doc,
            endorsements: Vec::new(),
        })
    }
}
