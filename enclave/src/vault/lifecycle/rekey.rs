//! Full re-key on admin removal (VAULT.md §13): a fresh DK/EK at key epoch + 1, a fresh SK
//! at generation + 1, the state re-sealed under the new DEK, every stale-key chain revoked,
//! and the new SK handed to each remaining admin through a one-time passphrase of their own.

use rand_core::{CryptoRng, RngCore};

use super::otp::{Otp, OtpSet};
use super::proof::SkVerifier;
use super::rotation::StaleTable;
use crate::vault::keys::{ChannelId, Dk, KeyRecord, Sk};
use crate::vault::model::{ChannelState, Phone};
use crate::vault::{seal_state, VaultError};

/// An OTP for one admin, to be sent to `phone` over Signal from the channel number.
#[derive(Debug)]
pub struct IssuedOtp {
    pub phone: Phone,
    pub otp: Otp,
}

/// Everything a re-key produces. The integrator writes `key_record`, `state_blob`, the
/// mutated stale table and OTP set, and `verifier` (order in VAULT.md §16), then sends each
/// OTP and notifies the admins.
#[derive(Debug)]
pub struct Rekeyed {
    pub key_record: KeyRecord,
    /// The new epoch's DK (the channel stays unlocked with it until the caller locks).
    pub dk: Dk,
    /// The new SK, for the requesting admin's own session (if any); everyone else gets an OTP.
    pub new_sk: Sk,
    pub sk_generation: u64,
    /// The state sealed under the new DK at `new_state_epoch`.
    pub state_blob: Vec<u8>,
    pub verifier: SkVerifier,
    /// One OTP per remaining admin (except `requester`) and per pending admin.
    pub otps: Vec<IssuedOtp>,
}

/// Removes `removed` (an admin; `None` re-keys without removing anyone, e.g. after a
/// compromise) and re-keys the channel (VAULT.md §13).
///
/// `old_dk` is the current epoch's DK and `old_sk` the SK this unlock used; `requester` is the
/// admin whose session receives `new_sk` directly; `new_state_epoch` must exceed the current
/// state epoch. Every pending OTP (they wrap the old SK) is replaced: pending admins get a new
/// one. On error nothing has been sealed; the caller must then drop `state` unsaved.
/// `new_sk` is the SK the requester's client generated and saved before asking (`Some`),
/// so that a lost answer cannot leave the channel with a key nobody holds (VAULT.md §13);
/// `None` generates one here. It must differ from `old_sk`.
#[allow(clippy::too_many_arguments)]
pub fn rekey_to<R: RngCore + CryptoRng>(
    channel_id: &ChannelId,
    state: &mut ChannelState,
    old_dk: &Dk,
    old_sk: &Sk,
    new_sk: Option<Sk>,
    removed: Option<&Phone>,
    requester: Option<&Phone>,
    new_state_epoch: u64,
    table: &mut StaleTable,
    otps: &mut OtpSet,
    now: u64,
    otp_ttl_secs: u64,
    rng: &mut R,
) -> Result<Rekeyed, VaultError> {
    // A plain comparison: the requester unlocked with `old_sk`, so timing tells them nothing.
    if new_sk
        .as_ref()
        .is_some_and(|n| n.expose() == old_sk.expose())
    {
        return Err(VaultError::Refused {
            what: "the new key equals the old one",
        });
    }
    if table.channel_id() != channel_id || otps.channel_id() != channel_id {
        return Err(VaultError::Refused {
            what: "records of another channel",
        });
    }
    if let Some(p) = removed {
        if !state.member(p).is_some_and(|m| m.is_admin()) {
            return Err(VaultError::NotMember);
        }
        if requester == Some(p) {
            return Err(VaultError::Refused {
                what: "an admin cannot receive the key that removes them",
            });
        }
    }
    let key_epoch = old_dk
        .key_epoch()
        .checked_add(1)
        .ok_or(VaultError::Refused {
            what: "key epoch exhausted",
        })?;
    let from = state.sk_generation;
    let to = from.checked_add(1).ok_or(VaultError::Refused {
        what: "key generation exhausted",
    })?;

    if let Some(p) = removed {
        state.remove_member(p);
    }
    state.expire_pending_admins(now);
    let new_sk = new_sk.unwrap_or_else(|| Sk::generate(rng));
    let (key_record, dk) = KeyRecord::create(channel_id, key_epoch, &new_sk, rng);
    state.sk_generation = to;

    // The old SK's whole chain ends here; the new SK is wrapped under no old-key material.
    table.revoke_generation(old_sk, from, to);
    otps.clear();
    let mut issued = Vec::new();
    let admins: Vec<Phone> = state
        .admins()
        .filter(|m| requester != Some(m.phone()))
        .map(|m| m.phone().duplicate())
        .collect();
    for phone in admins {
        let otp = otps.issue(&new_sk, to, now, otp_ttl_secs, rng)?;
        issued.push(IssuedOtp { phone, otp });
    }
    for pending in &mut state.pending_admins {
        let otp = otps.issue(&new_sk, to, now, otp_ttl_secs, rng)?;
        pending.otp_id = otp.id(channel_id);
        pending.expires_at = now.saturating_add(otp_ttl_secs);
        issued.push(IssuedOtp {
            phone: pending.phone.duplicate(),
            otp,
        });
    }

    let state_blob = seal_state(&dk, channel_id, key_epoch, new_state_epoch, state, rng)?;
    Ok(Rekeyed {
        key_record,
        dk,
        verifier: SkVerifier::derive(channel_id, &new_sk, to),
        new_sk,
        sk_generation: to,
        state_blob,
        otps: issued,
    })
}
