//! Service ids (signal-sim SPEC §4): an account's ACI is written as a bare hyphenated UUID,
//! its PNI as `PNI:` followed by the UUID.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::ApiError;

/// An account identity as the service names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceId {
    /// Account identity (the long-lived id).
    Aci(Uuid),
    /// Phone-number identity.
    Pni(Uuid),
}

const PNI_PREFIX: &str = "PNI:";
/// Length of a hyphenated UUID.
const UUID_STR_LEN: usize = 36;

impl ServiceId {
    /// Parse `<uuid>` (ACI) or `PNI:<uuid>`. Only the hyphenated UUID form is accepted.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s.strip_prefix(PNI_PREFIX) {
            Some(rest) => parse_uuid(rest).map(ServiceId::Pni),
            None => parse_uuid(s).map(ServiceId::Aci),
        }
    }

    /// The UUID, whichever kind.
    pub fn uuid(&self) -> Uuid {
        match self {
            ServiceId::Aci(u) | ServiceId::Pni(u) => *u,
        }
    }

    /// Whether this is an ACI.
    pub fn is_aci(&self) -> bool {
        matches!(self, ServiceId::Aci(_))
    }
}

/// Parse a bare hyphenated UUID (e.g. an ACI in a Basic-auth username).
pub fn parse_uuid(s: &str) -> Result<Uuid, ApiError> {
    if s.len() != UUID_STR_LEN {
        return Err(ApiError::InvalidServiceId);
    }
    Uuid::try_parse(s).map_err(|_| ApiError::InvalidServiceId)
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceId::Aci(u) => write!(f, "{}", u.hyphenated()),
            ServiceId::Pni(u) => write!(f, "{PNI_PREFIX}{}", u.hyphenated()),
        }
    }
}

impl FromStr for ServiceId {
    type Err = ApiError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceId::parse(s)
    }
}

impl serde::Serialize for ServiceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ServiceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ServiceId::parse(&s).map_err(|_| serde::de::Error::custom("invalid service id"))
    }
}
