//! AMD SEV-SNP provider: `/dev/sev-guest` through the sev crate's guest firmware API.
//! The extended report carries the VCEK/VLEK and ASK the host cached for this chip.

use std::sync::Mutex;

use sev::firmware::guest::Firmware;
use wire::control::PlatformKind;

use super::{AttestRequest, Platform, PlatformError, RawEvidence};

/// REPORT_DATA is 64 bytes (SEV-SNP ABI, MSG_REPORT_REQ table).
const REPORT_DATA_LEN: usize = 64;

pub struct Snp {
    fw: Mutex<Firmware>,
}

impl std::fmt::Debug for Snp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snp")
    }
}

impl Snp {
    pub fn open() -> Result<Self, PlatformError> {
        let fw = Firmware::open().map_err(|e| PlatformError::DeviceUnavailable {
            platform: "sev-snp",
            detail: e.to_string(),
        })?;
        Ok(Self { fw: Mutex::new(fw) })
    }
}

impl Platform for Snp {
    fn kind(&self) -> PlatformKind {
        PlatformKind::SevSnp
    }

    fn attest(&self, req: &AttestRequest<'_>) -> Result<RawEvidence, PlatformError> {
        // The binding digest (48 bytes) fills REPORT_DATA[0..48]; the rest stays zero.
        if req.user_data.len() > REPORT_DATA_LEN {
            return Err(PlatformError::TooLong {
                field: "report_data",
                len: req.user_data.len(),
                max: REPORT_DATA_LEN,
            });
        }
        let mut data = [0u8; REPORT_DATA_LEN];
        data[..req.user_data.len()].copy_from_slice(req.user_data);
        let mut fw = self.fw.lock().map_err(|_| PlatformError::Refused {
            platform: "sev-snp",
            detail: "firmware handle poisoned".into(),
        })?;
        // VMPL 0: the policy refuses anything else.
        let (report, certs) =
            fw.get_ext_report(None, Some(data), Some(0))
                .map_err(|e| PlatformError::Refused {
                    platform: "sev-snp",
                    detail: e.to_string(),
                })?;
        let endorsements = certs
            .unwrap_or_default()
            .into_iter()
            .map(|entry| entry.data().to_vec())
            .collect();
        Ok(RawEvidence {
            platform: PlatformKind::SevSnp,
            evidence: report,
            endorsements,
        })
    }
}
