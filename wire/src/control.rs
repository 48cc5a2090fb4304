//! Control stream (SPEC §2.7): the host asks the enclave for health and to shut down.
//! Nothing on this stream describes channels, users or traffic.

use crate::codec::{DecodeError, Reader, Writer};

/// Which TEE the enclave runs on (also in its attestation evidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PlatformKind {
    Simulated = 0,
    Nitro = 1,
    SevSnp = 2,
}

impl PlatformKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Simulated => "simulated",
            Self::Nitro => "nitro",
            Self::SevSnp => "sev-snp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRequest {
    Health,
    /// Stop accepting, finish in-flight work, exit.
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlResponse {
    Health {
        platform: PlatformKind,
        uptime_secs: u64,
        /// The enclave reached its blob store at boot and serves its API.
        ready: bool,
    },
    ShuttingDown,
}

impl ControlRequest {
    pub fn encode(&self) -> Vec<u8> {
        vec![match self {
            Self::Health => 1,
            Self::Shutdown => 2,
        }]
    }

    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let req = match r.u8("control op")? {
            1 => Self::Health,
            2 => Self::Shutdown,
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "control op",
                    tag,
                })
            }
        };
        r.finish()?;
        Ok(req)
    }
}

impl ControlResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Self::Health {
                platform,
                uptime_secs,
                ready,
            } => {
                w.u8(1)
                    .u8(*platform as u8)
                    .u64(*uptime_secs)
                    .u8(u8::from(*ready));
            }
            Self::ShuttingDown => {
                w.u8(2);
            }
        }
        w.buf
    }

    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let resp = match r.u8("control response")? {
            1 => {
                let platform = match r.u8("platform")? {
                    0 => PlatformKind::Simulated,
                    1 => PlatformKind::Nitro,
                    2 => PlatformKind::SevSnp,
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            field: "platform",
                            tag,
                        })
                    }
                };
                let uptime_secs = r.u64("uptime")?;
                let ready = match r.u8("ready")? {
                    0 => false,
                    1 => true,
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            field: "ready",
                            tag,
                        })
                    }
                };
                Self::Health {
                    platform,
                    uptime_secs,
                    ready,
                }
            }
            2 => Self::ShuttingDown,
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "control response",
                    tag,
                })
            }
        };
        r.finish()?;
        Ok(resp)
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test constants are small
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        for req in [ControlRequest::Health, ControlRequest::Shutdown] {
            assert_eq!(ControlRequest::decode(&req.encode()), Ok(req));
        }
        let h = ControlResponse::Health {
            platform: PlatformKind::Nitro,
            uptime_secs: 42,
            ready: true,
        };
        assert_eq!(ControlResponse::decode(&h.encode()), Ok(h));
        let mut b = h.encode();
        b[10] = 2; // ready byte
        assert_eq!(
            ControlResponse::decode(&b),
            Err(DecodeError::UnknownTag {
                field: "ready",
                tag: 2
            })
        );
        assert_eq!(
            ControlRequest::decode(&[1, 0]),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }
}
