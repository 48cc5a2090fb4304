//! Inbound items sealed to EK while the channel is locked (DESIGN §4.1, §4.5): RFC 9180
//! HPKE, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305.
//! VAULT.md §6.

use hpke::aead::{AeadTag, ChaCha20Poly1305};
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use super::keys::{arr, ChannelId, Dk, CHANNEL_ID_LEN, KEY_LEN, TAG_LEN};
use super::{Record, VaultError, FORMAT_VERSION, MAX_INBOUND_ITEM_LEN};

type Kem = X25519HkdfSha256;
type Aead = ChaCha20Poly1305;

const INFO_LABEL: &[u8] = b"sealboost inbound v1";
// Item: version ‖ key epoch ‖ encapsulated key ‖ ciphertext ‖ tag.
const I_KEY_EPOCH: usize = 1;
const I_ENC: usize = I_KEY_EPOCH + 8;
/// Clear header of an inbound item: version, key epoch, HPKE encapsulated key.
pub const INBOUND_HEADER_LEN: usize = I_ENC + KEY_LEN;
const _: () = assert!(INBOUND_HEADER_LEN == 41);
/// Largest plaintext that fits one queue item.
pub const MAX_INBOUND_PLAINTEXT_LEN: usize = MAX_INBOUND_ITEM_LEN - INBOUND_HEADER_LEN - TAG_LEN;

/// info = "sealboost inbound v1" ‖ channel id ‖ key epoch (u64 BE).
fn info(channel_id: &ChannelId, key_epoch: u64) -> [u8; INFO_LABEL.len() + CHANNEL_ID_LEN + 8] {
    let mut info = [0u8; INFO_LABEL.len() + CHANNEL_ID_LEN + 8];
    info[..INFO_LABEL.len()].copy_from_slice(INFO_LABEL);
    info[INFO_LABEL.len()..INFO_LABEL.len() + CHANNEL_ID_LEN]
        .copy_from_slice(channel_id.as_bytes());
    info[INFO_LABEL.len() + CHANNEL_ID_LEN..].copy_from_slice(&key_epoch.to_be_bytes());
    info
}

/// Seals one inbound item to the channel's EK (no SK or DK needed: this runs while locked).
/// The AEAD's associated data is the item's first 9 bytes (version ‖ key epoch).
pub fn seal_inbound<R: RngCore + CryptoRng>(
    ek_public: &[u8; KEY_LEN],
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
    let mut item = Vec::with_capacity(INBOUND_HEADER_LEN + plaintext.len() + TAG_LEN);
    item.push(FORMAT_VERSION);
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
    Ok(item)
}

/// Opens one inbound item with DK (at unlock). The plaintext is wiped on drop.
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
    if version != FORMAT_VERSION {
        return Err(VaultError::UnsupportedVersion { record: R, version });
    }
    if item.len() > MAX_INBOUND_ITEM_LEN {
        return Err(VaultError::TooLarge {
            what: "inbound item",
            len: item.len(),
            max: MAX_INBOUND_ITEM_LEN,
        });
    }
    if item.len() < INBOUND_HEADER_LEN + TAG_LEN {
        return Err(VaultError::Truncated {
            record: R,
            what: "shorter than header and tag",
        });
    }
    let key_epoch = u64::from_be_bytes(arr(&item[I_KEY_EPOCH..I_ENC]));
    if key_epoch != dk.key_epoch() {
        return Err(VaultError::KeyEpochMismatch {
            found: key_epoch,
            expected: dk.key_epoch(),
        });
    }
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
