//! The release key: an ed25519 key that signs release policies (attestation/POLICY.md §1).
//!
//! Private half: a PKCS#8 `PRIVATE KEY` PEM file, mode 0600, kept offline (see
//! docs/OPERATIONS.md, "Release key"). Public half: 64 hex digits, the form
//! `sealboost attest verify --release-key` and clients pin.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use attestation::policy::{SigningKey, VerifyingKey};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_core::{CryptoRngCore, OsRng};
use zeroize::Zeroizing;

use crate::error::DeployError;
use crate::{pem, write_private};

const PEM_LABEL: &str = "PRIVATE KEY";

/// A fresh release key from the operating system's CSPRNG.
pub fn generate_release_key() -> SigningKey {
    generate_release_key_with(&mut OsRng)
}

/// A fresh release key from `rng` (tests pass a seeded one).
pub fn generate_release_key_with(rng: &mut impl CryptoRngCore) -> SigningKey {
    SigningKey::generate(rng)
}

/// PKCS#8 PEM of the private key.
pub fn release_key_to_pem(key: &SigningKey) -> Zeroizing<String> {
    let der = key
        .to_pkcs8_der()
        .expect("an ed25519 key always encodes as PKCS#8");
    pem::encode(PEM_LABEL, der.as_bytes())
}

/// Parses a PKCS#8 PEM release key.
pub fn release_key_from_pem(text: &str) -> Result<SigningKey, DeployError> {
    let der = pem::decode_first(text, PEM_LABEL).map_err(|_| DeployError::ReleaseKeyMalformed {
        reason: "no PRIVATE KEY PEM block",
    })?;
    SigningKey::from_pkcs8_der(&der).map_err(|_| DeployError::ReleaseKeyMalformed {
        reason: "not a PKCS#8 ed25519 private key",
    })
}

/// The public key as clients pin it: 64 lowercase hex digits.
pub fn release_public_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// Parses a pinned public key: 64 hex digits (surrounding whitespace ignored).
pub fn release_public_from_hex(text: &str) -> Result<VerifyingKey, DeployError> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut raw).map_err(|_| DeployError::ReleaseKeyMalformed {
        reason: "public key must be 64 hex digits",
    })?;
    VerifyingKey::from_bytes(&raw).map_err(|_| DeployError::ReleaseKeyMalformed {
        reason: "not a valid ed25519 public key",
    })
}

/// Writes `<dir>/release-key.pem` (0600) and `<dir>/release-key.pub` (hex); refuses to
/// overwrite either. Returns the public key.
pub fn write_new_release_key(dir: &Path) -> Result<VerifyingKey, DeployError> {
    let (private, public) = (dir.join("release-key.pem"), dir.join("release-key.pub"));
    for p in [&private, &public] {
        if p.exists() {
            return Err(DeployError::AlreadyExists { path: p.clone() });
        }
    }
    std::fs::create_dir_all(dir).map_err(DeployError::io(dir))?;
    let key = generate_release_key();
    write_private(&private, release_key_to_pem(&key).as_bytes())
        .map_err(DeployError::io(&private))?;
    let vk = key.verifying_key();
    std::fs::write(&public, format!("{}\n", release_public_hex(&vk)))
        .map_err(DeployError::io(&public))?;
    Ok(vk)
}

/// Loads a release key file, refusing one that group or others can access.
pub fn load_release_key(path: &Path) -> Result<SigningKey, DeployError> {
    let meta = std::fs::metadata(path).map_err(DeployError::io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(DeployError::ReleaseKeyPermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(DeployError::io(path))?);
    release_key_from_pem(&text)
}

/// Loads a pinned public key file (hex).
pub fn load_release_public(path: &Path) -> Result<VerifyingKey, DeployError> {
    release_public_from_hex(&std::fs::read_to_string(path).map_err(DeployError::io(path))?)
}
