//! HTTP Basic credentials (signal-sim SPEC §3). The username is `<aci>.<deviceId>` (or a
//! bare `<aci>` for device 1) for a registered device, or the e164 number during
//! registration; the password is the account's secret.

use std::fmt;

use base64::Engine as _;
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::limits::{MAX_AUTH_HEADER_LEN, MAX_E164_LEN, MAX_JSON_STRING_LEN};
use crate::service_id::parse_uuid;
use crate::ApiError;

/// A secret password. Zeroized on drop; `Debug` is redacted; not `Clone`.
#[derive(Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wrap a password.
    pub fn new(s: String) -> Self {
        Password(s)
    }
    /// The password text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Who a Basic-auth username names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Username {
    /// A registered device: `<aci>.<deviceId>` or `<aci>` (device 1).
    Device { aci: Uuid, device_id: u32 },
    /// An e164 number (`+` then 1..=15 digits), used by `POST /v1/registration`.
    Number(String),
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Username::Device { aci, device_id } => write!(f, "{}.{device_id}", aci.hyphenated()),
            Username::Number(n) => f.write_str(n),
        }
    }
}

impl Username {
    /// Parse a username.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        if s.starts_with('+') {
            return validate_e164(s).map(|()| Username::Number(s.to_owned()));
        }
        let (aci, device_id) = match s.split_once('.') {
            Some((aci, dev)) => (aci, parse_device_id(dev)?),
            None => (s, 1),
        };
        let aci = parse_uuid(aci).map_err(|_| ApiError::InvalidAuth {
            reason: "username is neither an ACI nor an e164 number",
        })?;
        Ok(Username::Device { aci, device_id })
    }
}

/// Device ids are 1..=127 on the real service.
pub const MAX_DEVICE_ID: u32 = 127;

/// Parse a device id (1..=[`MAX_DEVICE_ID`]).
pub fn parse_device_id(s: &str) -> Result<u32, ApiError> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::Invalid { what: "device id" });
    }
    match s.parse::<u32>() {
        Ok(d) if (1..=MAX_DEVICE_ID).contains(&d) => Ok(d),
        _ => Err(ApiError::Invalid { what: "device id" }),
    }
}

/// Check an e164 number: `+`, a non-zero digit, then up to 14 more digits.
pub fn validate_e164(s: &str) -> Result<(), ApiError> {
    let digits = s.strip_prefix('+').unwrap_or("");
    let ok = s.len() <= MAX_E164_LEN
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            what: "e164 number",
        })
    }
}

/// Parsed `Authorization: Basic …` credentials.
#[derive(Debug, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: Username,
    pub password: Password,
}

impl BasicAuth {
    /// Credentials for a registered device.
    pub fn device(aci: Uuid, device_id: u32, password: Password) -> Self {
        BasicAuth {
            username: Username::Device { aci, device_id },
            password,
        }
    }

    /// The `Authorization` header value: `Basic base64(username:password)`.
    pub fn header_value(&self) -> String {
        let mut plain = format!("{}:{}", self.username, self.password.expose());
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(plain.as_bytes())
        );
        plain.zeroize();
        v
    }

    /// Parse an `Authorization` header value.
    pub fn parse_header(value: &str) -> Result<Self, ApiError> {
        if value.len() > MAX_AUTH_HEADER_LEN {
            return Err(ApiError::InvalidAuth {
                reason: "header too long",
            });
        }
        let (scheme, b64) = value.trim().split_once(' ').ok_or(ApiError::InvalidAuth {
            reason: "expected `Basic <credentials>`",
        })?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(ApiError::InvalidAuth {
                reason: "scheme is not Basic",
            });
        }
        let mut plain = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| ApiError::InvalidAuth {
                reason: "credentials are not base64",
            })?;
        let parsed = std::str::from_utf8(&plain)
            .map_err(|_| ApiError::InvalidAuth {
                reason: "credentials are not UTF-8",
            })
            .and_then(Self::from_parts_str);
        plain.zeroize();
        parsed
    }

    /// From the legacy `login` / `password` query parameters of the WebSocket upgrade.
    pub fn from_parts(username: &str, password: &str) -> Result<Self, ApiError> {
        if password.is_empty() || password.len() > MAX_JSON_STRING_LEN {
            return Err(ApiError::InvalidAuth {
                reason: "bad password length",
            });
        }
        Ok(BasicAuth {
            username: Username::parse(username)?,
            password: Password::new(password.to_owned()),
        })
    }

    fn from_parts_str(s: &str) -> Result<Self, ApiError> {
        let (u, p) = s.split_once(':').ok_or(ApiError::InvalidAuth {
            reason: "expected username:password",
        })?;
        Self::from_parts(u, p)
    }
}
