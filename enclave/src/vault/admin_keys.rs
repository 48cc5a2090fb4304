//! Per-admin signing keys (VAULT.md §20): every admin registers an Ed25519 verifying key
//! when they join (channel creation for ADMIN 1, `admin/accept` for the others), sealed in
//! the channel state with their membership (VAULT.md §5, section "admin keys"). A request
//! in which a client acts as a named admin must carry that admin's signature over the
//! request's TLS channel binding ([`auth_message`], SPEC §3.6), so holding SK alone no
//! longer lets one admin vote or act as another.

use ed25519_dalek::{Signature, VerifyingKey};
use rand_core::{CryptoRng, RngCore};

use super::lifecycle::{record_pending_admin, Otp, OtpSet};
use super::model::{ChannelState, Phone};
use super::{ChannelId, Sk, VaultError};

/// An Ed25519 verifying key (RFC 8032 encoding).
pub const ADMIN_KEY_LEN: usize = 32;
/// An Ed25519 signature.
pub const ADMIN_PROOF_LEN: usize = 64;
/// Longest TLS channel binding a proof may cover (RFC 9266 exporters are 32 bytes here).
pub const MAX_BINDING_LEN: usize = 64;
/// Domain separation of the signed message (SPEC §3.6 "Admin proof").
pub const AUTH_LABEL: &[u8] = b"sealboost admin auth v1";

/// One registered key: the admin's stable index and their verifying key.
#[derive(Debug, PartialEq, Eq)]
pub struct AdminKey {
    pub(crate) admin_index: u16,
    pub(crate) key: [u8; ADMIN_KEY_LEN],
}

impl AdminKey {
    pub fn admin_index(&self) -> u16 {
        self.admin_index
    }
    pub fn key(&self) -> &[u8; ADMIN_KEY_LEN] {
        &self.key
    }
}

impl zeroize::Zeroize for AdminKey {
    fn zeroize(&mut self) {
        self.admin_index.zeroize();
        self.key.zeroize();
    }
}

/// Whether `key` is a usable verifying key: a valid point, not of small order.
pub fn valid_key(key: &[u8; ADMIN_KEY_LEN]) -> bool {
    VerifyingKey::from_bytes(key).is_ok_and(|k| !k.is_weak())
}

/// The message an admin signs for one request (SPEC §3.6): `AUTH_LABEL ‖ channel id (16) ‖
/// admin phone (u64 BE, §5 Phone) ‖ len(binding) (u16 BE) ‖ binding`. `None` if the
/// binding is empty or longer than [`MAX_BINDING_LEN`].
pub fn auth_message(channel_id: &ChannelId, admin: &Phone, binding: &[u8]) -> Option<Vec<u8>> {
    if binding.is_empty() || binding.len() > MAX_BINDING_LEN {
        return None;
    }
    let len = u16::try_from(binding.len()).ok()?;
    let mut m = Vec::with_capacity(AUTH_LABEL.len() + 16 + 8 + 2 + binding.len());
    m.extend_from_slice(AUTH_LABEL);
    m.extend_from_slice(channel_id.as_bytes());
    m.extend_from_slice(&admin.as_u64().to_be_bytes());
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(binding);
    Some(m)
}

fn unauthorized(what: &'static str) -> VaultError {
    VaultError::AdminUnauthorized { what }
}

/// Checks a signature by `key` over [`auth_message`] (strict RFC 8032 verification).
pub fn verify_with(
    key: &[u8; ADMIN_KEY_LEN],
    channel_id: &ChannelId,
    admin: &Phone,
    binding: &[u8],
    proof: Option<&[u8]>,
) -> Result<(), VaultError> {
    let proof = proof.ok_or(unauthorized("no proof"))?;
    let sig: [u8; ADMIN_PROOF_LEN] = proof.try_into().map_err(|_| unauthorized("proof length"))?;
    let msg = auth_message(channel_id, admin, binding).ok_or(unauthorized("no TLS binding"))?;
    let vk = VerifyingKey::from_bytes(key).map_err(|_| unauthorized("stored key"))?;
    vk.verify_strict(&msg, &Signature::from_bytes(&sig))
        .map_err(|_| unauthorized("signature"))
}

impl ChannelState {
    /// The registered keys, strictly ascending by admin index.
    pub fn admin_keys(&self) -> &[AdminKey] {
        &self.admin_keys
    }

    /// The key registered for `ADMIN n`.
    pub fn admin_key(&self, n: u16) -> Option<&[u8; ADMIN_KEY_LEN]> {
        self.admin_keys
            .binary_search_by_key(&n, |k| k.admin_index)
            .ok()
            .map(|i| &self.admin_keys[i].key)
    }

    /// Registers (or replaces) the key of admin `n`. `NotMember` unless `n` is a current
    /// admin; `AdminUnauthorized` for an unusable key.
    pub fn set_admin_key(&mut self, n: u16, key: [u8; ADMIN_KEY_LEN]) -> Result<(), VaultError> {
        if !self.admins().any(|m| m.admin_index == n) {
            return Err(VaultError::NotMember);
        }
        if !valid_key(&key) {
            return Err(unauthorized("unusable key"));
        }
        match self.admin_keys.binary_search_by_key(&n, |k| k.admin_index) {
            Ok(i) => self.admin_keys[i].key = key,
            Err(at) => self.admin_keys.insert(
                at,
                AdminKey {
                    admin_index: n,
                    key,
                },
            ),
        }
        Ok(())
    }

    /// Drops the keys of indices that are no longer admins (after a removal, a LEAVE, or a
    /// pseudonym merged into an existing member).
    pub(crate) fn prune_admin_keys(&mut self) {
        let admins: Vec<u16> = self.admins().map(|m| m.admin_index).collect();
        self.admin_keys.retain(|k| admins.contains(&k.admin_index));
    }

    /// VAULT.md §20: `admin` is an authorized admin of this channel (a member, admin, not
    /// deauthorized) and `proof` is their signature over this request's binding. Not an
    /// authorized admin is `NotMember`; anything wrong with the proof `AdminUnauthorized`.
    pub fn authenticate_admin(
        &self,
        channel_id: &ChannelId,
        admin: &Phone,
        binding: &[u8],
        proof: Option<&[u8]>,
    ) -> Result<u16, VaultError> {
        let n = self
            .member(admin)
            .and_then(|m| m.admin_index())
            .filter(|_| !self.is_deauthorized(admin))
            .ok_or(VaultError::NotMember)?;
        let key = self
            .admin_key(n)
            .ok_or(unauthorized("no key registered for this admin"))?;
        verify_with(key, channel_id, admin, binding, proof)?;
        Ok(n)
    }
}

/// `admin/resend` to an existing admin (VAULT.md §20): a one-time passphrase for the
/// current SK whose acceptance also replaces that admin's key. It is recorded like an
/// invitation (a pending-admin record bound to `phone`; `complete_admin` keeps the admin's
/// index), so only the holder of the passphrase sent to `phone` can re-enrol `phone`. An
/// earlier re-enrolment for the same admin is replaced.
#[allow(clippy::too_many_arguments)]
pub fn reenrol_admin<R: RngCore + CryptoRng>(
    channel_id: &ChannelId,
    state: &mut ChannelState,
    otps: &mut OtpSet,
    sk: &Sk,
    phone: &Phone,
    now: u64,
    ttl_secs: u64,
    rng: &mut R,
) -> Result<Otp, VaultError> {
    if otps.channel_id() != channel_id {
        return Err(VaultError::Refused {
            what: "records of another channel",
        });
    }
    if !state.member(phone).is_some_and(|m| m.is_admin()) {
        return Err(VaultError::NotMember);
    }
    record_pending_admin(
        channel_id,
        state,
        otps,
        sk,
        phone.duplicate(),
        now,
        ttl_secs,
        rng,
    )
}
