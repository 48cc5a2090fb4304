//! Opening a link connection (SPEC §2.3–2.4): the connector's `Hello`, the acceptor's
//! `HelloAck`. Each link connection carries exactly one logical stream, named in the Hello.

use crate::codec::{DecodeError, Reader, Writer};
use crate::{LINK_MAGIC, LINK_VERSION_MAX, LINK_VERSION_MIN};

/// Longest egress host name (a DNS name is at most 253 characters).
pub const MAX_EGRESS_HOST_LEN: usize = 253;

/// The logical stream a link connection carries (SPEC §2.4, table 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stream {
    /// host → enclave: one client TCP connection, relayed byte for byte.
    Ingress,
    /// enclave → host: one outbound TCP connection to `host:port`, allow-listed by the host.
    Egress(EgressTarget),
    /// enclave → host: blob-store requests (§2.6).
    Blob,
    /// host → enclave: health and lifecycle (§2.7).
    Control,
}

impl Stream {
    fn tag(&self) -> u8 {
        match self {
            Stream::Ingress => 1,
            Stream::Egress(_) => 2,
            Stream::Blob => 3,
            Stream::Control => 4,
        }
    }

    /// Short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Stream::Ingress => "ingress",
            Stream::Egress(_) => "egress",
            Stream::Blob => "blob",
            Stream::Control => "control",
        }
    }
}

/// `host:port` an enclave asks to reach. The host name is restricted to the characters of
/// DNS names and IP literals so that it is safe to log and to compare against an allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EgressTarget {
    host: String,
    port: u16,
}

impl EgressTarget {
    pub fn new(host: &str, port: u16) -> Result<Self, DecodeError> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_');
        if host.is_empty() {
            return Err(DecodeError::TooShort {
                field: "egress host",
                len: 0,
                min: 1,
            });
        }
        if host.len() > MAX_EGRESS_HOST_LEN {
            return Err(DecodeError::TooLong {
                field: "egress host",
                len: host.len(),
                max: MAX_EGRESS_HOST_LEN,
            });
        }
        if !host.chars().all(ok_char) {
            return Err(DecodeError::Invalid {
                field: "egress host",
                reason: "characters outside [A-Za-z0-9.-:_]",
            });
        }
        if port == 0 {
            return Err(DecodeError::Invalid {
                field: "egress port",
                reason: "port 0",
            });
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Parses `host:port` (an IPv6 literal in brackets: `[::1]:443`).
    pub fn parse(s: &str) -> Result<Self, DecodeError> {
        let (host, port) = s.rsplit_once(':').ok_or(DecodeError::Invalid {
            field: "egress target",
            reason: "expected host:port",
        })?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = port.parse::<u16>().map_err(|_| DecodeError::Invalid {
            field: "egress port",
            reason: "not a number in 1..=65535",
        })?;
        Self::new(host, port)
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl std::fmt::Display for EgressTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The first frame on every link connection, sent by the side that connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub version_min: u16,
    pub version_max: u16,
    pub stream: Stream,
}

impl Hello {
    /// A Hello offering every version this build speaks.
    pub fn new(stream: Stream) -> Self {
        Self {
            version_min: LINK_VERSION_MIN,
            version_max: LINK_VERSION_MAX,
            stream,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(&LINK_MAGIC)
            .u16(self.version_min)
            .u16(self.version_max)
            .u8(self.stream.tag());
        if let Stream::Egress(t) = &self.stream {
            w.bytes(t.host.as_bytes()).u16(t.port);
        }
        w.buf
    }

    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        if r.array::<4>("magic")? != LINK_MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version_min = r.u16("version_min")?;
        let version_max = r.u16("version_max")?;
        if version_min > version_max {
            return Err(DecodeError::Invalid {
                field: "versions",
                reason: "min above max",
            });
        }
        let stream = match r.u8("stream")? {
            1 => Stream::Ingress,
            2 => {
                let host = r.bytes("egress host", 1, MAX_EGRESS_HOST_LEN)?;
                let host = std::str::from_utf8(host).map_err(|_| DecodeError::Invalid {
                    field: "egress host",
                    reason: "not UTF-8",
                })?;
                let port = r.u16("egress port")?;
                Stream::Egress(EgressTarget::new(host, port)?)
            }
            3 => Stream::Blob,
            4 => Stream::Control,
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "stream",
                    tag,
                })
            }
        };
        r.finish()?;
        Ok(Self {
            version_min,
            version_max,
            stream,
        })
    }

    /// SPEC §2.3: the acceptor picks the highest version both sides speak.
    pub fn negotiate(&self) -> Option<u16> {
        let hi = self.version_max.min(LINK_VERSION_MAX);
        let lo = self.version_min.max(LINK_VERSION_MIN);
        (lo <= hi).then_some(hi)
    }
}

/// The acceptor's answer (SPEC §2.3, table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum HelloStatus {
    Ok = 0,
    VersionUnsupported = 1,
    /// Egress target not on the host's allow-list.
    Denied = 2,
    /// Egress target allowed but unreachable.
    Unreachable = 3,
    /// Acceptor at its connection limit.
    Busy = 4,
    /// Stream kind not served on this endpoint.
    WrongStream = 5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloAck {
    /// The negotiated version; 0 when `status` is not `Ok`.
    pub version: u16,
    pub status: HelloStatus,
}

impl HelloAck {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u16(self.version).u8(self.status as u8);
        w.buf
    }

    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let version = r.u16("version")?;
        let status = match r.u8("status")? {
            0 => HelloStatus::Ok,
            1 => HelloStatus::VersionUnsupported,
            2 => HelloStatus::Denied,
            3 => HelloStatus::Unreachable,
            4 => HelloStatus::Busy,
            5 => HelloStatus::WrongStream,
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "hello status",
                    tag,
                })
            }
        };
        r.finish()?;
        if status == HelloStatus::Ok && version == 0 {
            return Err(DecodeError::Invalid {
                field: "version",
                reason: "0 with status Ok",
            });
        }
        Ok(Self { version, status })
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test constants are small
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn hello_round_trips_every_stream() {
        for stream in [
            Stream::Ingress,
            Stream::Egress(EgressTarget::parse("chat.signal.org:443").unwrap()),
            Stream::Egress(EgressTarget::parse("[::1]:8443").unwrap()),
            Stream::Blob,
            Stream::Control,
        ] {
            let h = Hello::new(stream);
            assert_eq!(Hello::decode(&h.encode()), Ok(h));
        }
    }

    #[test]
    fn version_negotiation_picks_highest_common() {
        let mut h = Hello::new(Stream::Blob);
        assert_eq!(h.negotiate(), Some(LINK_VERSION_MAX));
        h.version_min = LINK_VERSION_MAX + 1;
        h.version_max = LINK_VERSION_MAX + 5;
        assert_eq!(h.negotiate(), None);
    }

    #[test]
    fn bad_hellos_are_named() {
        let mut b = Hello::new(Stream::Blob).encode();
        b[0] = b'X';
        assert_eq!(Hello::decode(&b), Err(DecodeError::BadMagic));
        let mut b = Hello::new(Stream::Blob).encode();
        b.push(0);
        assert_eq!(
            Hello::decode(&b),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
        let mut b = Hello::new(Stream::Blob).encode();
        *b.last_mut().unwrap() = 9;
        assert_eq!(
            Hello::decode(&b),
            Err(DecodeError::UnknownTag {
                field: "stream",
                tag: 9
            })
        );
    }

    #[test]
    fn egress_host_limits() {
        let max = "a".repeat(MAX_EGRESS_HOST_LEN);
        assert!(EgressTarget::new(&max, 443).is_ok());
        let over = "a".repeat(MAX_EGRESS_HOST_LEN + 1);
        assert_eq!(
            EgressTarget::new(&over, 443),
            Err(DecodeError::TooLong {
                field: "egress host",
                len: MAX_EGRESS_HOST_LEN + 1,
                max: MAX_EGRESS_HOST_LEN
            })
        );
        assert!(matches!(
            EgressTarget::new("evil\nhost", 443),
            Err(DecodeError::Invalid {
                field: "egress host",
                ..
            })
        ));
        // The wire form is bounded before the UTF-8 / charset check runs.
        let mut w = Writer::default();
        w.raw(&LINK_MAGIC).u16(1).u16(1).u8(2).u32(100_000);
        assert!(matches!(
            Hello::decode(&w.buf),
            Err(DecodeError::TooLong { len: 100_000, .. })
        ));
    }

    proptest! {
        #[test]
        fn decode_never_panics(buf in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = Hello::decode(&buf);
            let _ = HelloAck::decode(&buf);
        }
    }
}
