//! Prekey generation for upload, and building a bundle from our own keys (what the
//! service would hand out for us; used by tests and the in-process benchmark).

use libsignal_protocol::{
    kem, DeviceId, GenericSignedPreKey, IdentityKeyPair, KeyPair, KyberPreKeyId, KyberPreKeyRecord,
    PreKeyBundle, PreKeyId, PreKeyRecord, SignedPreKeyId, SignedPreKeyRecord, Timestamp,
};
use rand::{CryptoRng, Rng};

use crate::error::Result;
use crate::store::ProtocolStore;

/// Generates a signed EC prekey with `id`, signed by `identity`.
pub fn signed_prekey<R: Rng + CryptoRng>(
    identity: &IdentityKeyPair,
    id: u32,
    now: Timestamp,
    rng: &mut R,
) -> Result<SignedPreKeyRecord> {
    let kp = KeyPair::generate(rng);
    let sig = identity
        .private_key()
        .calculate_signature(&kp.public_key.serialize(), rng)
        .map_err(|_| crate::Error::Protocol { kind: "signature" })?;
    Ok(SignedPreKeyRecord::new(
        SignedPreKeyId::from(id),
        now,
        &kp,
        &sig,
    ))
}

/// Generates `count` one-time EC prekeys with ids from `first_id`.
pub fn one_time_prekeys<R: Rng + CryptoRng>(
    first_id: u32,
    count: u32,
    rng: &mut R,
) -> Vec<PreKeyRecord> {
    (0..count)
        .map(|i| {
            let kp = KeyPair::generate(rng);
            PreKeyRecord::new(PreKeyId::from(first_id.wrapping_add(i)), &kp)
        })
        .collect()
}

/// Generates a signed Kyber1024 prekey with `id`.
pub fn kyber_prekey(identity: &IdentityKeyPair, id: u32) -> Result<KyberPreKeyRecord> {
    Ok(KyberPreKeyRecord::generate(
        kem::KeyType::Kyber1024,
        KyberPreKeyId::from(id),
        identity.private_key(),
    )?)
}

/// The prekey ids a freshly set-up store uses.
pub const FIRST_SIGNED_PREKEY_ID: u32 = 1;
/// Id of the last-resort Kyber key in a freshly set-up store.
pub const LAST_RESORT_KYBER_ID: u32 = 1;

/// Fills an empty store with a signed prekey and a last-resort Kyber key (enough for
/// PQXDH without one-time keys), returning nothing; one-time keys are added on upload.
pub fn install_initial_keys<R: Rng + CryptoRng>(
    store: &mut ProtocolStore,
    now: Timestamp,
    rng: &mut R,
) -> Result<()> {
    let identity = *store.identity_key_pair();
    let spk = signed_prekey(&identity, FIRST_SIGNED_PREKEY_ID, now, rng)?;
    store.save_signed_prekey(spk)?;
    let kpk = kyber_prekey(&identity, LAST_RESORT_KYBER_ID)?;
    store.save_kyber_pre_key_flagged(KyberPreKeyId::from(LAST_RESORT_KYBER_ID), kpk, true);
    Ok(())
}

/// A prekey bundle for our own device, as the service would serve it: the newest signed
/// prekey, the last-resort Kyber key, and `one_time` (consumed from the store's view only
/// by the receiver when used).
pub fn local_bundle(
    store: &ProtocolStore,
    device_id: DeviceId,
    one_time: Option<&PreKeyRecord>,
) -> Result<PreKeyBundle> {
    let spk = store.signed_prekeys.newest().ok_or(crate::Error::Corrupt {
        what: "no signed prekey",
    })?;
    let kpk = store
        .kyber_prekeys
        .last_resort()
        .ok_or(crate::Error::Corrupt {
            what: "no last-resort kyber prekey",
        })?;
    let pre = match one_time {
        Some(r) => Some((r.id()?, r.public_key()?)),
        None => None,
    };
    Ok(PreKeyBundle::new(
        store.registration_id(),
        device_id,
        pre,
        spk.id()?,
        spk.public_key()?,
        spk.signature()?,
        kpk.id()?,
        kpk.public_key()?,
        kpk.signature()?,
        *store.identity_key_pair().identity_key(),
    )?)
}
