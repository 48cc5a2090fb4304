//! SK, channel ids, the per-epoch X25519 keypair DK/EK and the key record that stores DK
//! wrapped under KEK = HKDF(SK). VAULT.md §2 and §3.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Record, VaultError, FORMAT_VERSION};

/// Length of SK, KEK, DK, EK and DEK.
pub(crate) const KEY_LEN: usize = 32;
/// Length of a channel id.
pub(crate) const CHANNEL_ID_LEN: usize = 16;
/// XChaCha20-Poly1305 nonce and tag lengths.
pub(crate) const XNONCE_LEN: usize = 24;
pub(crate) const TAG_LEN: usize = 16;

const KEK_INFO: &[u8] = b"sealboost kek v1";
const DK_AD_LABEL: &[u8] = b"sealboost dk v1";
const DEK_INFO: &[u8] = b"sealboost state v1";

// Key record layout (VAULT.md §3): version ‖ channel id ‖ key epoch ‖ EK ‖ nonce ‖ wrapped DK.
const KR_CHANNEL: usize = 1;
const KR_EPOCH: usize = KR_CHANNEL + CHANNEL_ID_LEN;
const KR_EK: usize = KR_EPOCH + 8;
const KR_NONCE: usize = KR_EK + KEY_LEN;
const KR_WRAPPED: usize = KR_NONCE + XNONCE_LEN;
/// Exact length of an encoded [`KeyRecord`].
pub const KEY_RECORD_LEN: usize = KR_WRAPPED + KEY_LEN + TAG_LEN;
const _: () = assert!(KEY_RECORD_LEN == 129);

/// The channel's secret key, generated and kept by admin clients; inside the enclave only for
/// the duration of one unlock. No `Clone`, no `Debug` beyond `<redacted>`, zeroized on drop.
pub struct Sk(Zeroizing<[u8; KEY_LEN]>);

impl Sk {
    /// Takes ownership of the key bytes (the caller's copy should be a `Zeroizing` too).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Sk {
        Sk(Zeroizing::new(bytes))
    }

    /// A fresh random SK, as an admin client makes one (also used by tests and benches).
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Sk {
        let mut sk = Sk(Zeroizing::new([0; KEY_LEN]));
        rng.fill_bytes(&mut sk.0[..]);
        sk
    }

    /// From key bytes already in wiped memory (lifecycle unwraps, VAULT.md §11–§12).
    pub(crate) fn from_zeroizing(bytes: Zeroizing<[u8; KEY_LEN]>) -> Sk {
        Sk(bytes)
    }

    /// The key bytes, for the lifecycle derivations (VAULT.md §11–§14). Never log them.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// KEK = HKDF-SHA256(ikm = SK, salt = channel id, info = "sealboost kek v1").
    fn kek(&self, channel_id: &ChannelId) -> Zeroizing<[u8; KEY_LEN]> {
        hkdf32(&self.0[..], &channel_id.0, KEK_INFO)
    }
}

impl std::fmt::Debug for Sk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sk(<redacted>)")
    }
}

/// A channel's public, random identifier. It names the channel's blobs (as hex) and is bound
/// into every key derivation and every AEAD associated data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId([u8; CHANNEL_ID_LEN]);

impl ChannelId {
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> ChannelId {
        let mut id = [0; CHANNEL_ID_LEN];
        rng.fill_bytes(&mut id);
        ChannelId(id)
    }
    pub fn from_bytes(bytes: [u8; CHANNEL_ID_LEN]) -> ChannelId {
        ChannelId(bytes)
    }
    pub fn as_bytes(&self) -> &[u8; CHANNEL_ID_LEN] {
        &self.0
    }
    /// Lower-case hex, 32 characters: the form used in blob names.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelId({})", self.to_hex())
    }
}

impl std::fmt::Display for ChannelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The channel's X25519 decryption key for one key epoch, with its public half EK.
/// No `Clone`, redacted `Debug`, secret zeroized on drop.
pub struct Dk {
    secret: Zeroizing<[u8; KEY_LEN]>,
    public: [u8; KEY_LEN],
    key_epoch: u64,
}

impl Dk {
    fn generate<R: RngCore + CryptoRng>(key_epoch: u64, rng: &mut R) -> Dk {
        let mut secret = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(&mut secret[..]);
        let public = x25519_public(&secret);
        Dk {
            secret,
            public,
            key_epoch,
        }
    }

    /// EK, the public key inbound items are sealed to.
    pub fn ek_public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    /// The key epoch this keypair belongs to.
    pub fn key_epoch(&self) -> u64 {
        self.key_epoch
    }

    pub(crate) fn secret(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }

    /// DEK = HKDF-SHA256(ikm = DK, salt = channel id, info = "sealboost state v1").
    pub(crate) fn dek(&self, channel_id: &ChannelId) -> Zeroizing<[u8; KEY_LEN]> {
        hkdf32(&self.secret[..], &channel_id.0, DEK_INFO)
    }
}

impl std::fmt::Debug for Dk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dk(<redacted>)")
    }
}

fn x25519_public(secret: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    // StaticSecret zeroizes itself on drop (x25519-dalek "zeroize" feature).
    let s = x25519_dalek::StaticSecret::from(*secret);
    x25519_dalek::PublicKey::from(&s).to_bytes()
}

pub(crate) fn hkdf32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out[..])
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// Creates a channel: a random id and its first key record (key epoch 1) under `sk`.
/// The caller then builds a [`super::model::ChannelState`] and seals it at state epoch 1.
pub fn new_channel<R: RngCore + CryptoRng>(sk: &Sk, rng: &mut R) -> (ChannelId, KeyRecord, Dk) {
    let id = ChannelId::random(rng);
    let (record, dk) = KeyRecord::create(&id, 1, sk, rng);
    (id, record, dk)
}

/// The blob that stores one key epoch's DK wrapped under KEK. Public fields are public data
/// (the host sees them); only `wrapped_dk` is secret, and only as ciphertext.
pub struct KeyRecord {
    channel_id: ChannelId,
    key_epoch: u64,
    ek_public: [u8; KEY_LEN],
    nonce: [u8; XNONCE_LEN],
    wrapped_dk: [u8; KEY_LEN + TAG_LEN],
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("channel_id", &self.channel_id)
            .field("key_epoch", &self.key_epoch)
            .finish_non_exhaustive()
    }
}

impl KeyRecord {
    /// Generates a fresh DK/EK for `key_epoch` (≥ 1) and wraps DK under `sk`'s KEK.
    ///
    /// # Panics
    /// If `key_epoch` is 0 (a caller bug: epochs start at 1 and only grow).
    pub fn create<R: RngCore + CryptoRng>(
        channel_id: &ChannelId,
        key_epoch: u64,
        sk: &Sk,
        rng: &mut R,
    ) -> (KeyRecord, Dk) {
        assert!(key_epoch >= 1, "key epochs start at 1");
        let dk = Dk::generate(key_epoch, rng);
        let record = Self::wrap(*channel_id, &dk, sk, rng);
        (record, dk)
    }

    /// Re-wraps this record's DK under a new SK (SK rotation; DK/EK unchanged).
    pub fn rewrap<R: RngCore + CryptoRng>(
        &self,
        dk: &Dk,
        new_sk: &Sk,
        rng: &mut R,
    ) -> Result<KeyRecord, VaultError> {
        if dk.public != self.ek_public || dk.key_epoch != self.key_epoch {
            return Err(VaultError::DkMismatch);
        }
        Ok(Self::wrap(self.channel_id, dk, new_sk, rng))
    }

    fn wrap<R: RngCore + CryptoRng>(channel_id: ChannelId, dk: &Dk, sk: &Sk, rng: &mut R) -> Self {
        let mut nonce = [0u8; XNONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut wrapped_dk = [0u8; KEY_LEN + TAG_LEN];
        wrapped_dk[..KEY_LEN].copy_from_slice(&dk.secret[..]);
        let ad = dk_ad(&channel_id, dk.key_epoch, &dk.public);
        let kek = sk.kek(&channel_id);
        let tag = XChaCha20Poly1305::new((&*kek).into())
            .encrypt_in_place_detached(&XNonce::from(nonce), &ad, &mut wrapped_dk[..KEY_LEN])
            .expect("a 32-byte message is within XChaCha20-Poly1305 limits");
        wrapped_dk[KEY_LEN..].copy_from_slice(&tag);
        KeyRecord {
            channel_id,
            key_epoch: dk.key_epoch,
            ek_public: dk.public,
            nonce,
            wrapped_dk,
        }
    }

    /// Recovers DK. A wrong SK (or any change to the record) fails the AEAD:
    /// [`VaultError::WrongKey`]. Callers feed failures to [`super::limiter::UnlockLimiter`].
    pub fn unwrap(&self, sk: &Sk) -> Result<Dk, VaultError> {
        let kek = sk.kek(&self.channel_id);
        let ad = dk_ad(&self.channel_id, self.key_epoch, &self.ek_public);
        let mut secret = Zeroizing::new([0u8; KEY_LEN]);
        secret.copy_from_slice(&self.wrapped_dk[..KEY_LEN]);
        let tag = Tag::from(arr::<TAG_LEN>(&self.wrapped_dk[KEY_LEN..]));
        XChaCha20Poly1305::new((&*kek).into())
            .decrypt_in_place_detached(&XNonce::from(self.nonce), &ad, &mut secret[..], &tag)
            .map_err(|_| VaultError::WrongKey)?;
        // EK is authenticated (it is in the AD), so it need not be recomputed from DK here.
        Ok(Dk {
            secret,
            public: self.ek_public,
            key_epoch: self.key_epoch,
        })
    }

    pub fn channel_id(&self) -> &ChannelId {
        &self.channel_id
    }
    pub fn key_epoch(&self) -> u64 {
        self.key_epoch
    }
    pub fn ek_public(&self) -> &[u8; KEY_LEN] {
        &self.ek_public
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(KEY_RECORD_LEN);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.channel_id.0);
        out.extend_from_slice(&self.key_epoch.to_be_bytes());
        out.extend_from_slice(&self.ek_public);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.wrapped_dk);
        debug_assert_eq!(out.len(), KEY_RECORD_LEN);
        out
    }

    /// Parses exactly [`KEY_RECORD_LEN`] bytes. Does not authenticate: that is
    /// [`KeyRecord::unwrap`]'s job. Callers should check [`KeyRecord::channel_id`] against
    /// the channel they asked for (a swapped record fails `unwrap` anyway, since the channel
    /// id salts KEK and is in the AD).
    pub fn decode(bytes: &[u8]) -> Result<KeyRecord, VaultError> {
        const R: Record = Record::KeyRecord;
        let Some(&version) = bytes.first() else {
            return Err(VaultError::Truncated {
                record: R,
                what: "empty",
            });
        };
        if version != FORMAT_VERSION {
            return Err(VaultError::UnsupportedVersion { record: R, version });
        }
        if bytes.len() < KEY_RECORD_LEN {
            return Err(VaultError::Truncated {
                record: R,
                what: "shorter than a key record",
            });
        }
        if bytes.len() > KEY_RECORD_LEN {
            return Err(VaultError::Malformed {
                record: R,
                what: "trailing bytes",
            });
        }
        let key_epoch = u64::from_be_bytes(arr(&bytes[KR_EPOCH..KR_EK]));
        if key_epoch == 0 {
            return Err(VaultError::Malformed {
                record: R,
                what: "key epoch 0",
            });
        }
        Ok(KeyRecord {
            channel_id: ChannelId(arr(&bytes[KR_CHANNEL..KR_EPOCH])),
            key_epoch,
            ek_public: arr(&bytes[KR_EK..KR_NONCE]),
            nonce: arr(&bytes[KR_NONCE..KR_WRAPPED]),
            wrapped_dk: arr(&bytes[KR_WRAPPED..KEY_RECORD_LEN]),
        })
    }
}

/// AD of the DK wrap: "sealboost dk v1" ‖ channel id ‖ key epoch (u64 BE) ‖ EK.
fn dk_ad(channel_id: &ChannelId, key_epoch: u64, ek: &[u8; KEY_LEN]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(DK_AD_LABEL.len() + CHANNEL_ID_LEN + 8 + KEY_LEN);
    ad.extend_from_slice(DK_AD_LABEL);
    ad.extend_from_slice(&channel_id.0);
    ad.extend_from_slice(&key_epoch.to_be_bytes());
    ad.extend_from_slice(ek);
    ad
}

/// Copies a slice whose length the caller's constant offsets already guarantee.
pub(crate) fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    a
}
