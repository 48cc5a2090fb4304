//! Inbound items sealed to EK while the channel is locked (DESIGN §4.1, §4.5): RFC 9180
//! HPKE, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, then an
//! HMAC-SHA256 over the whole item under the channel's inbound authentication key, which
//! only DK holders and this enclave's live receiver have (VAULT.md §6, threat model §6.1).

use hmac::{Hmac, Mac};
use hpke::aead::{AeadTag, ChaCha20Poly1305};
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::keys::{arr, hkdf32, ChannelId, Dk, CHANNEL_ID_LEN, KEY_LEN, TAG_LEN};
use super::{Record, VaultError, MAX_INBOUND_ITEM_LEN};

type Kem = X25519HkdfSha256;
type Aead = ChaCha20Poly1305;

/// Version byte of the inbound item format (VAULT.md §6). Version 1 (no authentication
/// key: anyone could seal to EK) is refused with [`VaultError::UnsupportedVersion`].
pub const INBOUND_VERSION: u8 = 2;
const INFO_LABEL: &[u8] = b"sealboost inbound v2";
const AUTH_KEY_LABEL: &[u8] = b"sealboost inbound auth v1";
const MAC_LABEL: &[u8] = b"sealboost inbound mac v1";
/// Length of the item's trailing HMAC-SHA256.
pub const INBOUND_MAC_LEN: usize = 32;
// Item: version ‖ key epoch ‖ encapsulated key ‖ ciphertext ‖ tag ‖ mac.
const I_KEY_EPOCH: usize = 1;
const I_ENC: usize = I_KEY_EPOCH + 8;
/// Clear header of an inbound item: version, key epoch, HPKE encapsulated key.
pub const INBOUND_HEADER_LEN: usize = I_ENC + KEY_LEN;
const _: () = assert!(INBOUND_HEADER_LEN == 41);
/// Bytes an item adds to its plaintext: header, AEAD tag and MAC.
pub const INBOUND_OVERHEAD: usize = INBOUND_HEADER_LEN + TAG_LEN + INBOUND_MAC_LEN;
/// Largest plaintext that fits one queue item.
pub const MAX_INBOUND_PLAINTEXT_LEN: usize = MAX_INBOUND_ITEM_LEN - INBOUND_OVERHEAD;

/// The channel's inbound authentication key for one key epoch (VAULT.md §6):
/// `HKDF-SHA256(ikm = DK, salt = channel id, info = "sealboost inbound auth v1")`. It lets
/// its holder *write* queue items the unlock accepts, and nothing else: it opens no item
/// (that needs DK) and does not lead back to DK. The enclave hands it to the live receiver
/// in memory; the host never sees it. Zeroized on drop; never `Clone` or `Copy`; its `Debug`
/// prints `<redacted>`.
pub struct InboundAuthKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for InboundAuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InboundAuthKey(<redacted>)")
    }
}

impl InboundAuthKey {
    /// The key for DK's key epoch of `channel_id`.
    pub fn derive(dk: &Dk, channel_id: &ChannelId) -> InboundAuthKey {
        InboundAuthKey(hkdf32(dk.secret(), channel_id.as_bytes(), AUTH_KEY_LABEL))
    }

    /// A key from raw bytes. Only for tests and the fuzzer, which play a host that guesses a
    /// key: a key not derived from the channel's DK authenticates nothing the unlock accepts.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> InboundAuthKey {
        InboundAuthKey(Zeroizing::new(bytes))
    }

    /// `HMAC-SHA256(key, "sealboost inbound mac v1" ‖ channel id ‖ item without its MAC)`.
    fn mac(&self, channel_id: &ChannelId, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..])
            .expect("HMAC takes keys of any length");
        mac.update(MAC_LABEL);
        mac.update(channel_id.as_bytes());
        mac.update(body);
        mac
    }
}

/// info = "sealboost inbound v1" ‖ channel id ‖ key epoch (u64 BE).
fn info(channel_id: &ChannelId, key_epoch: u64) -> [u8; INFO_LABEL.len() + CHANNEL_ID_LEN + 8] {
    let mut info = [0u8; INFO_LABEL.len() + CHANNEL_ID_LEN + 8];
    info[..INFO_LABEL.len()].copy_from_slice(INFO_LABEL);
    info[INFO_LABEL.len()..INFO_LABEL.len() + CHANNEL_ID_LEN]
        .copy_from_slice(channel_id.as_bytes());
    info[INFO_LABEL.len() + CHANNEL_ID_LEN..].copy_from_slice(&key_epoch.to_be_bytes());
    info
}

/// Seals one inbound item to the channel's EK and authenticates it with `auth` (no SK or DK
/// needed: this runs while locked). The AEAD's associated data is the item's first 9 bytes
/// (version ‖ key epoch); the MAC covers every byte before it.
pub fn seal_inbound<R: RngCore + CryptoRng>(
    ek_public: &[u8; KEY_LEN],
    auth: &InboundAuthKey,
    channel_id: &ChannelId,
    key_epoch: u64,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, VaultError> {
    if plaintext.len() > MAX_INBOUND_PLAINTEXT_LEN {
        return Err(VaultError::TooLarge {
            what: "inbound plaintext",
            len: plaintext.len(),
            max: MAX_INBOUND_PLAINTEXT_LEN,
        });
    }
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(ek_public)
        .map_err(|_| VaultError::InvalidPublicKey)?;
    let mut item = Vec::with_capacity(INBOUND_OVERHEAD + plaintext.len());
    item.push(INBOUND_VERSION);
    item.extend_from_slice(&key_epoch.to_be_bytes());
    item.extend_from_slice(&[0u8; KEY_LEN]);
    item.extend_from_slice(plaintext);

    let (head, body) = item.split_at_mut(INBOUND_HEADER_LEN);
    let sealed = hpke::single_shot_seal_in_place_detached::<Aead, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &pk,
        &info(channel_id, key_epoch),
        body,
        &head[..I_ENC],
        &mut Rng09(rng),
    );
    let (enc, tag) = match sealed {
        Ok(v) => v,
        Err(_) => {
            // Encapsulation fails only for an unusable EK (low-order point).
            item.zeroize();
            return Err(VaultError::InvalidPublicKey);
        }
    };
    head[I_ENC..].copy_from_slice(&enc.to_bytes());
    item.extend_from_slice(&tag.to_bytes());
    let mac = auth.mac(channel_id, &item).finalize().into_bytes();
    item.extend_from_slice(&mac);
    Ok(item)
}

/// Opens one inbound item with DK (at unlock), checking in order (VAULT.md §6): version
/// (`UnsupportedVersion`), length (`TooLarge`, `Truncated`), key epoch
/// (`KeyEpochMismatch`), the MAC under the authentication key derived from DK
/// (`Unauthenticated`: not written by a holder of that key), then HPKE (`Corrupt`). The
/// plaintext is wiped on drop.
pub fn open_inbound(
    dk: &Dk,
    channel_id: &ChannelId,
    item: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    const R: Record = Record::Inbound;
    let Some(&version) = item.first() else {
        return Err(VaultError::Truncated {
            record: R,
            what: "empty",
        });
    };
    if version != INBOUND_VERSION {
        return Err(VaultError::UnsupportedVersion { record: R, version });
    }
    if item.len() > MAX_INBOUND_ITEM_LEN {
        return Err(VaultError::TooLarge {
            what: "inbound item",
            len: item.len(),
            max: MAX_INBOUND_ITEM_LEN,
        });
    }
    if item.len() < INBOUND_OVERHEAD {
        return Err(VaultError::Truncated {
            record: R,
            what: "shorter than header, tag and mac",
        });
    }
    let key_epoch = u64::from_be_bytes(arr(&item[I_KEY_EPOCH..I_ENC]));
    if key_epoch != dk.key_epoch() {
        return Err(VaultError::KeyEpochMismatch {
            found: key_epoch,
            expected: dk.key_epoch(),
        });
    }
    let mac_at = item.len() - INBOUND_MAC_LEN;
    InboundAuthKey::derive(dk, channel_id)
        .mac(channel_id, &item[..mac_at])
        .verify_slice(&item[mac_at..])
        .map_err(|_| VaultError::Unauthenticated { record: R })?;
    let item = &item[..mac_at];
    let corrupt = |_| VaultError::Corrupt { record: R };
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&item[I_ENC..INBOUND_HEADER_LEN])
        .map_err(corrupt)?;
    let tag_at = item.len() - TAG_LEN;
    let tag = AeadTag::<Aead>::from_bytes(&item[tag_at..]).map_err(corrupt)?;
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(dk.secret()).map_err(corrupt)?;
    let mut plain = Zeroizing::new(item[INBOUND_HEADER_LEN..tag_at].to_vec());
    hpke::single_shot_open_in_place_detached::<Aead, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk,
        &enc,
        &info(channel_id, key_epoch),
        &mut plain[..],
        &item[..I_ENC],
        &tag,
    )
    .map_err(corrupt)?;
    Ok(plain)
}

/// Lends our rand_core 0.6 RNG to hpke, which speaks rand_core 0.9.
struct Rng09<'a, R>(&'a mut R);

impl<R: RngCore + CryptoRng> rand_core_09::RngCore for Rng09<'_, R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst)
    }
}

impl<R: RngCore + CryptoRng> rand_core_09::CryptoRng for Rng09<'_, R> {}
