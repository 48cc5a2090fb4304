//! Binding evidence to one TLS key and one fresh client nonce (see `BINDING.md`).
//!
//! ```text
//! digest = SHA-384( BINDING_LABEL
//!                 ‖ u32be(len(spki_der)) ‖ spki_der
//!                 ‖ u32be(len(nonce))    ‖ nonce )
//! ```
//!
//! Nitro / Simulated: `user_data = digest` (48 bytes) and `nonce = nonce`.
//! SEV-SNP: `REPORT_DATA[0..48] = digest`, `REPORT_DATA[48..64] = 0`.

use sha2::{Digest, Sha384};
use subtle::ConstantTimeEq;

use crate::claims::{Claims, Platform};
use crate::error::Error;
use crate::Verified;

/// Domain-separation label, hashed first.
pub const BINDING_LABEL: &[u8] = b"sealboost-attest-v1";
/// Longest SPKI accepted by [`check`] (an RSA-8192 SPKI is about 1.1 KB).
pub const MAX_SPKI_LEN: usize = 4096;
/// Longest nonce accepted by [`check`] (Nitro's own limit).
pub const MAX_NONCE_LEN: usize = 512;
/// Shortest nonce accepted by [`check`]: a nonce must be unguessable.
pub const MIN_NONCE_LEN: usize = 16;

fn len_prefix(len: usize) -> [u8; 4] {
    // Inputs reaching `check` are bounded far below u32::MAX; saturating keeps `digest`
    // total for any input without a panic.
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

/// The 48-byte binding digest of a TLS SubjectPublicKeyInfo (DER) and a nonce.
pub fn digest(spki_der: &[u8], nonce: &[u8]) -> [u8; 48] {
    let mut h = Sha384::new();
    h.update(BINDING_LABEL);
    h.update(len_prefix(spki_der.len()));
    h.update(spki_der);
    h.update(len_prefix(nonce.len()));
    h.update(nonce);
    h.finalize().into()
}

/// The 64-byte SEV-SNP REPORT_DATA an enclave must request: digest ‖ 16 zero bytes.
pub fn snp_report_data(spki_der: &[u8], nonce: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..48].copy_from_slice(&digest(spki_der, nonce));
    out
}

/// Checks that verified claims are bound to `spki_der` (the TLS key of the session the
/// caller is in) and `nonce` (the one the caller just generated). Comparisons of the
/// bound values are constant-time.
pub fn check(claims: &Verified<Claims>, spki_der: &[u8], nonce: &[u8]) -> Result<(), Error> {
    if spki_der.len() > MAX_SPKI_LEN {
        return Err(Error::FieldTooLarge {
            field: "spki",
            len: spki_der.len(),
            max: MAX_SPKI_LEN,
        });
    }
    if nonce.len() > MAX_NONCE_LEN {
        return Err(Error::FieldTooLarge {
            field: "nonce",
            len: nonce.len(),
            max: MAX_NONCE_LEN,
        });
    }
    if nonce.len() < MIN_NONCE_LEN {
        return Err(Error::FieldInvalid {
            field: "nonce",
            reason: "shorter than 16 bytes",
        });
    }
    let expected = digest(spki_der, nonce);
    match claims.platform {
        Platform::Nitro | Platform::Simulated => {
            let user_data = claims
                .user_data
                .as_deref()
                .ok_or(Error::BindingMismatch { field: "user_data" })?;
            if !bool::from(user_data.ct_eq(&expected)) {
                return Err(Error::BindingMismatch { field: "user_data" });
            }
            let reported_nonce = claims
                .nonce
                .as_deref()
                .ok_or(Error::BindingMismatch { field: "nonce" })?;
            if !bool::from(reported_nonce.ct_eq(nonce)) {
                return Err(Error::BindingMismatch { field: "nonce" });
            }
            Ok(())
        }
        Platform::SevSnp => {
            let report_data = claims.report_data.as_ref().ok_or(Error::BindingMismatch {
                field: "report_data",
            })?;
            let wanted = snp_report_data(spki_der, nonce);
            if !bool::from(report_data.as_slice().ct_eq(wanted.as_slice())) {
                return Err(Error::BindingMismatch {
                    field: "report_data",
                });
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_the_documented_construction() {
        let spki = b"spki-bytes";
        let nonce = [0x11u8; 32];
        let mut h = Sha384::new();
        h.update(b"sealboost-attest-v1");
        h.update([0, 0, 0, 10]);
        h.update(spki);
        h.update([0, 0, 0, 32]);
        h.update(nonce);
        let want: [u8; 48] = h.finalize().into();
        assert_eq!(digest(spki, &nonce), want);
    }

    #[test]
    fn length_prefixes_make_splits_distinct() {
        assert_ne!(digest(b"ab", b"c"), digest(b"a", b"bc"));
        assert_ne!(digest(b"", b"abc"), digest(b"abc", b""));
    }

    #[test]
    fn known_answer() {
        // Pinned so the enclave, clients and wire/SPEC.md never drift apart.
        assert_eq!(
            hex::encode(digest(b"spki", b"0123456789abcdef")),
            KNOWN_ANSWER
        );
    }

    const KNOWN_ANSWER: &str = "131bd9e02116c98917a98d4e385b1d61aa75b4b253c1af33d1f7254ef3dc54475f2f4e8f10b3cf3be5489b70b47235ee";
}
