//! Unidentified-access key derivation, as the Signal apps do it: the first 16 bytes of
//! AES-256-GCM encrypting 16 zero bytes under the profile key with an all-zero nonce.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::store::{PROFILE_KEY_LEN, UAK_LEN};

/// Derives a recipient's unidentified-access key from their profile key.
pub fn derive_access_key(profile_key: &[u8; PROFILE_KEY_LEN]) -> [u8; UAK_LEN] {
    let cipher = Aes256Gcm::new(profile_key.into());
    let mut block = [0u8; UAK_LEN];
    // The tag is discarded: only the keystream-encrypted zeros are the key.
    let _tag = cipher
        .encrypt_in_place_detached(&Nonce::default(), &[], &mut block)
        .expect("invariant: AES-GCM accepts a 16-byte message");
    block
}

/// The key sent to a recipient registered with `unrestrictedUnidentifiedAccess`: the
/// service accepts any key for such accounts, so a fixed all-zero key is used.
pub const UNRESTRICTED_ACCESS_KEY: [u8; UAK_LEN] = [0u8; UAK_LEN];
