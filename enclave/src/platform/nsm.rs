//! AWS Nitro Secure Module provider: `/dev/nsm` through aws-nitro-enclaves-nsm-api.

use aws_nitro_enclaves_nsm_api::api::{Request, Response};
use aws_nitro_enclaves_nsm_api::driver;
use serde_bytes::ByteBuf;
use wire::control::PlatformKind;

use super::{AttestRequest, Platform, PlatformError, RawEvidence};

/// NSM limits from the Nitro attestation document spec: user_data and public_key 1 KiB,
/// nonce 512 bytes.
const MAX_USER_DATA: usize = 1024;
const MAX_NONCE: usize = 512;
const MAX_PUBLIC_KEY: usize = 1024;

/// An open `/dev/nsm`.
#[derive(Debug)]
pub struct Nsm {
    fd: i32,
}

impl Nsm {
    /// Opens the device; fails outside a Nitro enclave.
    pub fn open() -> Result<Self, PlatformError> {
        let fd = driver::nsm_init();
        if fd < 0 {
            return Err(PlatformError::DeviceUnavailable {
                platform: "nitro",
                detail: "/dev/nsm could not be opened".into(),
            });
        }
        Ok(Self { fd })
    }
}

impl Drop for Nsm {
    fn drop(&mut self) {
        driver::nsm_exit(self.fd);
    }
}

fn bounded(field: &'static str, v: &[u8], max: usize) -> Result<ByteBuf, PlatformError> {
    if v.len() > max {
        return Err(PlatformError::TooLong {
            field,
            len: v.len(),
            max,
        });
    }
    Ok(ByteBuf::from(v.to_vec()))
}

impl Platform for Nsm {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Nitro
    }

    fn attest(&self, req: &AttestRequest<'_>) -> Result<RawEvidence, PlatformError> {
        let request = Request::Attestation {
            user_data: Some(bounded("user_data", req.user_data, MAX_USER_DATA)?),
            nonce: Some(bounded("nonce", req.nonce, MAX_NONCE)?),
            public_key: Some(bounded("public_key", req.public_key, MAX_PUBLIC_KEY)?),
        };
        match driver::nsm_process_request(self.fd, request) {
            Response::Attestation { document } => Ok(RawEvidence {
                platform: PlatformKind::Nitro,
                evidence: document,
                endorsements: Vec::new(),
            }),
            Response::Error(code) => Err(PlatformError::Refused {
                platform: "nitro",
                detail: format!("{code:?}"),
            }),
            _ => Err(PlatformError::Refused {
                platform: "nitro",
                detail: "unexpected response kind".into(),
            }),
        }
    }
}
