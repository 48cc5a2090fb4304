//! Key lifecycle (issue 6, DESIGN §4–§5): SK rotation with stale-key catch-up (VAULT.md
//! §11), one-time-passphrase onboarding (§12), full re-key on admin removal (§13), proposals
//! and voting (§14), and a challenge–response proof of SK possession (§15).
//!
//! Everything here is a pure function over vault types: no I/O, no clock, no global RNG. The
//! integrator loads and stores the blobs (`ch/<id>/keys`, `/state`, `/stale`, `/otp`,
//! `/proof`, names in [`super::names`]) and decides the write order (VAULT.md §16).

mod otp;
mod proof;
mod proposals;
mod rekey;
mod rotation;

pub(crate) use otp::record_pending_admin;
pub use otp::{
    complete_admin, invite_admin, Otp, OtpId, OtpRecord, OtpSet, PendingAdmin,
    DEFAULT_OTP_TTL_SECS, MAX_OTP_RECORDS, MAX_OTP_SET_LEN, MAX_OTP_TTL_SECS, MAX_PENDING_ADMINS,
    OTP_BYTES, OTP_GROUPS, OTP_GROUP_LEN, OTP_RECORD_LEN, OTP_TEXT_LEN,
};
pub use proof::{
    challenge, response, Challenge, PendingChallenge, SkVerifier, CHALLENGE_LEN,
    MAX_TLS_BINDING_LEN, RESPONSE_LEN, VERIFIER_LEN,
};
pub use proposals::{
    DiscardReason, Outcome, Proposal, ProposalKind, DEFAULT_PROPOSAL_TTL_SECS, MAX_PROPOSALS,
    MAX_PROPOSAL_TTL_SECS, MAX_VOTES_PER_PROPOSAL,
};
pub use rekey::{rekey_to, IssuedOtp, Rekeyed};
pub use rotation::{
    catch_up, rotate, CaughtUp, Rotated, StaleEntry, StaleTable, MAX_STALE_ENTRIES,
    MAX_STALE_TABLE_LEN, STALE_ENTRY_LEN,
};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::keys::{arr, KEY_LEN, TAG_LEN, XNONCE_LEN};
use super::{Record, VaultError};

/// A 32-byte secret wrapped with XChaCha20-Poly1305: ciphertext ‖ tag.
pub(crate) const WRAPPED_LEN: usize = KEY_LEN + TAG_LEN;

/// Encrypts a 32-byte secret under `key` with a fresh random nonce.
fn wrap32<R: RngCore + CryptoRng>(
    key: &[u8; KEY_LEN],
    ad: &[u8],
    secret: &[u8; KEY_LEN],
    rng: &mut R,
) -> ([u8; XNONCE_LEN], [u8; WRAPPED_LEN]) {
    let mut nonce = [0u8; XNONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let mut out = [0u8; WRAPPED_LEN];
    out[..KEY_LEN].copy_from_slice(secret);
    let tag = XChaCha20Poly1305::new(key.into())
        .encrypt_in_place_detached(&XNonce::from(nonce), ad, &mut out[..KEY_LEN])
        .expect("a 32-byte message is within XChaCha20-Poly1305 limits");
    out[KEY_LEN..].copy_from_slice(&tag);
    (nonce, out)
}

/// Decrypts [`wrap32`]'s output; `None` if it does not authenticate.
fn unwrap32(
    key: &[u8; KEY_LEN],
    ad: &[u8],
    nonce: &[u8; XNONCE_LEN],
    wrapped: &[u8; WRAPPED_LEN],
) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    let mut secret = Zeroizing::new([0u8; KEY_LEN]);
    secret.copy_from_slice(&wrapped[..KEY_LEN]);
    let tag = Tag::from(arr::<TAG_LEN>(&wrapped[KEY_LEN..]));
    XChaCha20Poly1305::new(key.into())
        .decrypt_in_place_detached(&XNonce::from(*nonce), ad, &mut secret[..], &tag)
        .ok()?;
    Some(secret)
}

/// A bounds-checked cursor for the lifecycle record formats; every error names `record`.
struct Reader<'a> {
    buf: &'a [u8],
    record: Record,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], VaultError> {
        if self.buf.len() < n {
            return Err(VaultError::Truncated {
                record: self.record,
                what,
            });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], VaultError> {
        self.take(N, what).map(arr)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, VaultError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, VaultError> {
        self.array(what).map(u16::from_be_bytes)
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, VaultError> {
        self.array(what).map(u64::from_be_bytes)
    }
    fn malformed(&self, what: &'static str) -> VaultError {
        VaultError::Malformed {
            record: self.record,
            what,
        }
    }
    /// Version byte first: empty input is `Truncated`, another version `UnsupportedVersion`.
    fn version(&mut self, expected: u8) -> Result<(), VaultError> {
        let version = self.u8("empty")?;
        if version != expected {
            return Err(VaultError::UnsupportedVersion {
                record: self.record,
                version,
            });
        }
        Ok(())
    }
    fn finish(&self) -> Result<(), VaultError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.malformed("trailing bytes"))
        }
    }
}

/// Rejects an input longer than `max` before parsing it.
fn check_max(what: &'static str, len: usize, max: usize) -> Result<(), VaultError> {
    if len > max {
        return Err(VaultError::TooLarge { what, len, max });
    }
    Ok(())
}
