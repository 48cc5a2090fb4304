//! Attachments as the Signal apps encrypt them: plaintext padded to a size bucket,
//! AES-256-CBC (PKCS#7) under a random IV, HMAC-SHA256 over IV‖ciphertext, blob =
//! IV‖ciphertext‖MAC, digest = SHA-256(blob). Keys are 64 bytes: AES key ‖ MAC key.
//! Phones upload through the upload form and put an `AttachmentPointer` in the message;
//! the enclave only forwards pointers.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use hyper::Method;
use rand::Rng;
use sha2::{Digest, Sha256};
use signal_api::{json, AttachmentPointer};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::service::SignalClient;

/// AES key ‖ HMAC key.
pub const ATTACHMENT_KEYS_LEN: usize = 64;
const IV_LEN: usize = 16;
const MAC_LEN: usize = 32;
/// Bound on an attachment's plaintext and blob.
pub const MAX_ATTACHMENT_LEN: usize = signal_api::limits::MAX_ATTACHMENT_LEN;
/// Smallest padded size (the apps' bucket floor).
const MIN_PADDED: usize = 541;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// The apps' size buckets: `max(541, floor(1.05^ceil(log_1.05(size))))`.
pub fn padded_size(size: usize) -> usize {
    if size <= MIN_PADDED {
        return MIN_PADDED;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let bucket = 1.05f64
        .powf(((size as f64).ln() / 1.05f64.ln()).ceil())
        .floor() as usize;
    bucket.max(size)
}

/// An encrypted attachment ready for upload.
pub struct EncryptedAttachment {
    /// IV ‖ ciphertext ‖ MAC.
    pub blob: Vec<u8>,
    /// AES key ‖ MAC key.
    pub keys: Zeroizing<[u8; ATTACHMENT_KEYS_LEN]>,
    /// SHA-256 of the blob.
    pub digest: [u8; 32],
    /// Unpadded plaintext length.
    pub size: u32,
}

impl std::fmt::Debug for EncryptedAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedAttachment")
            .field("len", &self.blob.len())
            .finish_non_exhaustive()
    }
}

/// Encrypts an attachment with fresh keys.
pub fn encrypt<R: Rng>(plaintext: &[u8], rng: &mut R) -> Result<EncryptedAttachment> {
    let size = u32::try_from(plaintext.len())
        .ok()
        .filter(|_| plaintext.len() <= MAX_ATTACHMENT_LEN)
        .ok_or(Error::Attachment {
            reason: "too large",
        })?;
    let mut keys = Zeroizing::new([0u8; ATTACHMENT_KEYS_LEN]);
    rng.fill_bytes(keys.as_mut());
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);
    let mut padded = Zeroizing::new(plaintext.to_vec());
    padded.resize(padded_size(plaintext.len()), 0);
    let enc = Enc::new_from_slices(&keys[..32], &iv).expect("invariant: key and iv lengths");
    let ct = enc.encrypt_padded_vec_mut::<Pkcs7>(&padded);
    let mut blob = Vec::with_capacity(IV_LEN + ct.len() + MAC_LEN);
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(&ct);
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&keys[32..]).expect("invariant: any key length");
    mac.update(&blob);
    blob.extend_from_slice(&mac.finalize().into_bytes());
    let digest: [u8; 32] = Sha256::digest(&blob).into();
    Ok(EncryptedAttachment {
        blob,
        keys,
        digest,
        size,
    })
}

/// Verifies and decrypts a downloaded blob against its pointer's keys, digest and size.
pub fn decrypt(blob: &[u8], keys: &[u8], digest: &[u8], size: u32) -> Result<Zeroizing<Vec<u8>>> {
    if keys.len() != ATTACHMENT_KEYS_LEN {
        return Err(Error::Attachment {
            reason: "bad key length",
        });
    }
    if blob.len() > MAX_ATTACHMENT_LEN + 4096 || blob.len() < IV_LEN + 16 + MAC_LEN {
        return Err(Error::Attachment {
            reason: "bad blob length",
        });
    }
    // 1. Digest over the whole blob, as the pointer commits to it.
    let d = Sha256::digest(blob);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&d[..], digest)) {
        return Err(Error::Attachment {
            reason: "digest mismatch",
        });
    }
    // 2. MAC over IV ‖ ciphertext.
    let (body, tag) = blob.split_at(blob.len() - MAC_LEN);
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&keys[32..]).expect("invariant: any key length");
    mac.update(body);
    mac.verify_slice(tag)
        .map_err(|_| Error::Attachment { reason: "bad mac" })?;
    // 3. Decrypt and cut the bucket padding.
    let (iv, ct) = body.split_at(IV_LEN);
    let dec = Dec::new_from_slices(&keys[..32], iv).expect("invariant: key and iv lengths");
    let mut pt =
        Zeroizing::new(
            dec.decrypt_padded_vec_mut::<Pkcs7>(ct)
                .map_err(|_| Error::Attachment {
                    reason: "bad padding",
                })?,
        );
    let size = usize::try_from(size).map_err(|_| Error::Attachment { reason: "bad size" })?;
    if size > pt.len() {
        return Err(Error::Attachment { reason: "bad size" });
    }
    pt.truncate(size);
    Ok(pt)
}

fn path_of(url: &str) -> Result<String> {
    let uri: hyper::Uri = url.parse().map_err(|_| Error::BadResponse {
        operation: "upload form",
    })?;
    Ok(uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()))
}

impl SignalClient {
    /// Encrypts and uploads an attachment (`GET /v4/attachments/form/upload`, then `PUT`
    /// to the signed location), returning the pointer to put in a `DataMessage`.
    pub async fn upload_attachment(
        &self,
        plaintext: &[u8],
        content_type: &str,
        file_name: Option<&str>,
    ) -> Result<AttachmentPointer> {
        const OP: &str = "upload form";
        let enc = encrypt(plaintext, &mut rand::rng())?;
        let auth = Zeroizing::new(self.account.credentials.basic_auth());
        let r = self
            .http()
            .request(
                Method::GET,
                "/v4/attachments/form/upload",
                &[("Authorization", &auth)],
                None,
            )
            .await?;
        if !r.status.is_success() {
            return Err(Error::Status {
                operation: OP,
                status: r.status.as_u16(),
            });
        }
        let form: json::AttachmentUploadForm =
            signal_api::parse_json(&r.body).map_err(|_| Error::BadResponse { operation: OP })?;
        let headers: Vec<(&str, &str)> = form
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let path = path_of(&form.signed_upload_location)?;
        let r = self
            .http()
            .request(Method::PUT, &path, &headers, Some(enc.blob.clone()))
            .await?;
        if !r.status.is_success() {
            return Err(Error::Status {
                operation: "attachment upload",
                status: r.status.as_u16(),
            });
        }
        Ok(AttachmentPointer {
            cdn_key: Some(form.key),
            cdn_number: Some(form.cdn),
            content_type: Some(content_type.to_owned()),
            key: Some(enc.keys.to_vec()),
            size: Some(enc.size),
            digest: Some(enc.digest.to_vec()),
            file_name: file_name.map(str::to_owned),
            ..Default::default()
        })
    }

    /// Downloads (`GET /attachments/{cdnKey}`) and decrypts an attachment.
    pub async fn download_attachment(&self, p: &AttachmentPointer) -> Result<Zeroizing<Vec<u8>>> {
        let bad = Error::Attachment {
            reason: "incomplete pointer",
        };
        let key = p.cdn_key.as_deref().ok_or(bad)?;
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::Attachment {
                reason: "bad cdn key",
            });
        }
        let r = self
            .http()
            .request(Method::GET, &format!("/attachments/{key}"), &[], None)
            .await?;
        if !r.status.is_success() {
            return Err(Error::Status {
                operation: "attachment download",
                status: r.status.as_u16(),
            });
        }
        decrypt(
            &r.body,
            p.key.as_deref().unwrap_or_default(),
            p.digest.as_deref().unwrap_or_default(),
            p.size.unwrap_or(0),
        )
    }
}
