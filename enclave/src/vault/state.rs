//! Sealed channel state: the DEK-encrypted, bucket-padded [`ChannelState`] the host stores
//! while the channel is locked. VAULT.md §4.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use super::keys::{arr, ChannelId, Dk, CHANNEL_ID_LEN, TAG_LEN, XNONCE_LEN};
use super::model::ChannelState;
use super::{Record, VaultError, FORMAT_VERSION};

// Header (clear): version ‖ key epoch ‖ state epoch ‖ nonce.
const H_KEY_EPOCH: usize = 1;
const H_STATE_EPOCH: usize = H_KEY_EPOCH + 8;
const H_NONCE: usize = H_STATE_EPOCH + 8;
/// Length of the clear header in front of the ciphertext.
pub const STATE_HEADER_LEN: usize = H_NONCE + XNONCE_LEN;
const _: () = assert!(STATE_HEADER_LEN == 41);

/// Largest state blob: the host's blob limit.
pub const MAX_STATE_BLOB_LEN: usize = wire::blob::MAX_BLOB_LEN;
/// Smallest padded plaintext, and the granularity of every bucket.
pub const BUCKET_QUANTUM: usize = 4096;
/// Largest padded plaintext: the biggest multiple of [`BUCKET_QUANTUM`] that still fits a
/// blob with its header and tag (16 MiB − 4 KiB). It is also the last bucket.
pub const MAX_PADDED_STATE_LEN: usize =
    (MAX_STATE_BLOB_LEN - STATE_HEADER_LEN - TAG_LEN) / BUCKET_QUANTUM * BUCKET_QUANTUM;
/// The real plaintext's length, in front of it inside the padding.
const LEN_PREFIX: usize = 4;

const AD_LABEL: &[u8] = b"sealboost state v1";
/// Record kind bound into the AD, length-prefixed (len ‖ "state"), so a state blob can never
/// be accepted as another kind of DEK-sealed record (or vice versa) once there are others.
const KIND_STATE: &[u8] = b"\x05state";
const _: () = assert!(KIND_STATE[0] as usize == KIND_STATE.len() - 1);

/// The padded plaintext length (the bucket) for a model plaintext of `plaintext_len` bytes.
///
/// Buckets: b₀ = 4096; bₖ₊₁ = bₖ·5/4 rounded up to a multiple of 4096; the last bucket is
/// [`MAX_PADDED_STATE_LEN`]. The bucket is the smallest one ≥ `plaintext_len + 4`.
pub fn padded_len(plaintext_len: usize) -> Result<usize, VaultError> {
    let need = plaintext_len.saturating_add(LEN_PREFIX);
    if need > MAX_PADDED_STATE_LEN {
        return Err(VaultError::TooLarge {
            what: "channel state",
            len: plaintext_len,
            max: MAX_PADDED_STATE_LEN - LEN_PREFIX,
        });
    }
    let mut bucket = BUCKET_QUANTUM;
    while bucket < need {
        bucket = (bucket + bucket / 4).div_ceil(BUCKET_QUANTUM) * BUCKET_QUANTUM;
    }
    Ok(bucket.min(MAX_PADDED_STATE_LEN))
}

/// AD = "sealboost state v1" ‖ channel id ‖ len(kind) ‖ kind ‖ key epoch ‖ state epoch.
fn state_ad(channel_id: &ChannelId, key_epoch: u64, state_epoch: u64) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_LABEL.len() + CHANNEL_ID_LEN + KIND_STATE.len() + 16);
    ad.extend_from_slice(AD_LABEL);
    ad.extend_from_slice(channel_id.as_bytes());
    ad.extend_from_slice(KIND_STATE);
    ad.extend_from_slice(&key_epoch.to_be_bytes());
    ad.extend_from_slice(&state_epoch.to_be_bytes());
    ad
}

/// Seals `state` as the channel's state at `state_epoch` (lock). The plaintext is encoded
/// straight into the output buffer and encrypted in place, so no plaintext copy outlives
/// this call.
pub fn seal_state<R: RngCore + CryptoRng>(
    dk: &Dk,
    channel_id: &ChannelId,
    key_epoch: u64,
    state_epoch: u64,
    state: &ChannelState,
    rng: &mut R,
) -> Result<Vec<u8>, VaultError> {
    if key_epoch != dk.key_epoch() {
        return Err(VaultError::KeyEpochMismatch {
            found: key_epoch,
            expected: dk.key_epoch(),
        });
    }
    let plain_len = state.encoded_len();
    let padded = padded_len(plain_len)?;
    let real_len = u32::try_from(plain_len).expect("bounded by MAX_PADDED_STATE_LEN");

    let mut blob = vec![0u8; STATE_HEADER_LEN + padded + TAG_LEN];
    blob[0] = FORMAT_VERSION;
    blob[H_KEY_EPOCH..H_STATE_EPOCH].copy_from_slice(&key_epoch.to_be_bytes());
    blob[H_STATE_EPOCH..H_NONCE].copy_from_slice(&state_epoch.to_be_bytes());
    rng.fill_bytes(&mut blob[H_NONCE..STATE_HEADER_LEN]);
    let nonce: [u8; XNONCE_LEN] = arr(&blob[H_NONCE..STATE_HEADER_LEN]);

    let body = &mut blob[STATE_HEADER_LEN..STATE_HEADER_LEN + padded];
    body[..LEN_PREFIX].copy_from_slice(&real_len.to_be_bytes());
    state.encode_into(&mut body[LEN_PREFIX..LEN_PREFIX + plain_len]);
    // The rest of `body` is already zero: that is the padding.

    let dek = dk.dek(channel_id);
    let ad = state_ad(channel_id, key_epoch, state_epoch);
    let sealed = XChaCha20Poly1305::new((&*dek).into()).encrypt_in_place_detached(
        &XNonce::from(nonce),
        &ad,
        body,
    );
    let Ok(tag) = sealed else {
        // Unreachable for ≤ 16 MiB, but never let plaintext escape if it happens.
        blob.zeroize();
        return Err(VaultError::TooLarge {
            what: "channel state",
            len: padded,
            max: MAX_PADDED_STATE_LEN,
        });
    };
    blob[STATE_HEADER_LEN + padded..].copy_from_slice(&tag);
    Ok(blob)
}

/// Opens a state blob (unlock). `min_epoch` is the newest state epoch the requesting admin
/// client has seen; anything older is refused as a rollback. Returns the blob's state epoch.
///
/// Checks, in order: version, length, key epoch (header vs `key_epoch` vs `dk`), AEAD
/// (`Corrupt` — which also covers a blob from another channel, kind or epoch), rollback
/// (on the now authenticated epoch), padding, then the model codec.
/// The key epoch a state blob claims in its header (unauthenticated: only for choosing
/// which key record to try, never for trusting the blob).
pub fn claimed_key_epoch(blob: &[u8]) -> Option<u64> {
    blob.get(H_KEY_EPOCH..H_STATE_EPOCH)
        .map(|b| u64::from_be_bytes(arr(b)))
}

pub fn open_state(
    dk: &Dk,
    channel_id: &ChannelId,
    key_epoch: u64,
    blob: &[u8],
    min_epoch: u64,
) -> Result<(u64, ChannelState), VaultError> {
    const R: Record = Record::State;
    let Some(&version) = blob.first() else {
        return Err(VaultError::Truncated {
            record: R,
            what: "empty",
        });
    };
    if version != FORMAT_VERSION {
        return Err(VaultError::UnsupportedVersion { record: R, version });
    }
    if blob.len() > MAX_STATE_BLOB_LEN {
        return Err(VaultError::TooLarge {
            what: "state blob",
            len: blob.len(),
            max: MAX_STATE_BLOB_LEN,
        });
    }
    if blob.len() < STATE_HEADER_LEN + TAG_LEN {
        return Err(VaultError::Truncated {
            record: R,
            what: "shorter than header and tag",
        });
    }
    let found_key_epoch = u64::from_be_bytes(arr(&blob[H_KEY_EPOCH..H_STATE_EPOCH]));
    if found_key_epoch != key_epoch {
        return Err(VaultError::KeyEpochMismatch {
            found: found_key_epoch,
            expected: key_epoch,
        });
    }
    if key_epoch != dk.key_epoch() {
        return Err(VaultError::KeyEpochMismatch {
            found: key_epoch,
            expected: dk.key_epoch(),
        });
    }
    let state_epoch = u64::from_be_bytes(arr(&blob[H_STATE_EPOCH..H_NONCE]));
    let nonce = XNonce::from(arr::<XNONCE_LEN>(&blob[H_NONCE..STATE_HEADER_LEN]));
    let tag_at = blob.len() - TAG_LEN;
    let tag = Tag::from(arr::<TAG_LEN>(&blob[tag_at..]));

    let mut plain = Zeroizing::new(blob[STATE_HEADER_LEN..tag_at].to_vec());
    let dek = dk.dek(channel_id);
    let ad = state_ad(channel_id, key_epoch, state_epoch);
    XChaCha20Poly1305::new((&*dek).into())
        .decrypt_in_place_detached(&nonce, &ad, &mut plain[..], &tag)
        .map_err(|_| VaultError::Corrupt { record: R })?;

    if state_epoch < min_epoch {
        return Err(VaultError::Rollback {
            found: state_epoch,
            min: min_epoch,
        });
    }
    let model = unpad(&plain)?;
    let state = ChannelState::decode(model)?;
    Ok((state_epoch, state))
}

/// Splits off the length prefix and checks the padding is exactly what `seal_state` writes.
fn unpad(padded: &[u8]) -> Result<&[u8], VaultError> {
    let malformed = |what| VaultError::Malformed {
        record: Record::State,
        what,
    };
    if padded.len() < LEN_PREFIX {
        return Err(malformed("no length prefix"));
    }
    let (prefix, rest) = padded.split_at(LEN_PREFIX);
    let real = usize::try_from(u32::from_be_bytes(arr(prefix))).unwrap_or(usize::MAX);
    if real > rest.len() {
        return Err(malformed("length prefix beyond padding"));
    }
    if padded_len(real) != Ok(padded.len()) {
        return Err(malformed("padded length is not the plaintext's bucket"));
    }
    let (model, padding) = rest.split_at(real);
    if padding.iter().any(|&b| b != 0) {
        return Err(malformed("nonzero padding"));
    }
    Ok(model)
}
