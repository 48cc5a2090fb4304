//! Encrypting content for one recipient device and decrypting an envelope's content,
//! with libsignal (PQXDH session setup, double ratchet, sealed sender v1).
//!
//! These functions borrow the store's parts separately so libsignal can use several at
//! once; they are `!Send` (see the crate docs).

use std::time::SystemTime;

use libsignal_protocol::{
    group_decrypt, message_decrypt_prekey, message_decrypt_signal, message_encrypt,
    process_prekey_bundle, sealed_sender_decrypt_to_usmc, sealed_sender_encrypt, Aci,
    CiphertextMessage, CiphertextMessageType, DecryptionErrorMessage, DeviceId, IdentityKeyStore,
    PlaintextContent, PreKeyBundle, PreKeySignalMessage, ProtocolAddress, PublicKey,
    SenderCertificate, SessionStore, SignalMessage, SignalProtocolError, Timestamp,
};
use rand::{CryptoRng, Rng};
use zeroize::Zeroizing;

use crate::error::{protocol_kind, Error, Result};
use crate::store::ProtocolStore;

/// `Envelope.Type` values (SignalService.proto).
pub mod envelope_type {
    /// A double-ratchet `SignalMessage`.
    pub const CIPHERTEXT: i32 = 1;
    /// A `PreKeySignalMessage` (first message of a session).
    pub const PREKEY_BUNDLE: i32 = 3;
    /// Sealed sender: the sender is inside the ciphertext.
    pub const UNIDENTIFIED_SENDER: i32 = 6;
    /// Unencrypted `PlaintextContent` (decryption-error messages).
    pub const PLAINTEXT_CONTENT: i32 = 8;
}

/// Signal's content padding block (the apps pad to multiples of 160 bytes).
// TODO(signal-api): use signal_api's pad/unpad once its lib.rs exports them.
pub const PADDING_BLOCK: usize = 160;

/// Pads serialized `Content` as the apps do: a 0x80 terminator, then zeros up to one
/// byte short of the next multiple of [`PADDING_BLOCK`].
pub fn pad(content: &[u8]) -> Vec<u8> {
    // The apps count one extra byte for the cipher's own framing, hence `+ 2` and `- 1`.
    let blocks = (content.len() + 2).div_ceil(PADDING_BLOCK);
    let padded_len = blocks * PADDING_BLOCK - 1;
    let mut out = Vec::with_capacity(padded_len);
    out.extend_from_slice(content);
    out.push(0x80);
    out.resize(padded_len, 0);
    out
}

/// Strips the padding: trailing zeros, then exactly one 0x80. Unpadded input (no 0x80
/// after the zeros) is refused.
pub fn unpad(padded: &[u8]) -> Result<&[u8]> {
    let end = padded
        .iter()
        .rposition(|b| *b != 0)
        .ok_or(Error::BadContent { reason: "padding" })?;
    if padded[end] != 0x80 {
        return Err(Error::BadContent { reason: "padding" });
    }
    Ok(&padded[..end])
}

/// One device's ciphertext, as it goes into the service's `IncomingMessageList`.
#[derive(Clone)]
pub struct OutgoingMessage {
    /// `Envelope.Type` of the ciphertext.
    pub envelope_type: i32,
    /// The recipient device.
    pub destination_device_id: DeviceId,
    /// The registration id our session has for that device.
    pub destination_registration_id: u32,
    /// The ciphertext bytes (base64 in the JSON body).
    pub content: Vec<u8>,
}

impl std::fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMessage")
            .field("envelope_type", &self.envelope_type)
            .field("destination_device_id", &self.destination_device_id)
            .field("len", &self.content.len())
            .finish_non_exhaustive()
    }
}

/// Starts a session with a device from its prekey bundle (PQXDH). Returns whether the
/// device's account had a different identity key before (the store accepts the change).
pub async fn process_bundle<R: Rng + CryptoRng>(
    store: &mut ProtocolStore,
    address: &ProtocolAddress,
    bundle: &PreKeyBundle,
    now: SystemTime,
    rng: &mut R,
) -> Result<bool> {
    process_prekey_bundle(
        address,
        &mut store.sessions,
        &mut store.identities,
        bundle,
        now,
        rng,
    )
    .await?;
    Ok(take_change_for(store, address.name()))
}

fn take_change_for(store: &mut ProtocolStore, name: &str) -> bool {
    let changes = store.take_identity_changes();
    changes.iter().any(|n| n == name)
}

/// Encrypts already padded content for one device with an established session.
/// With a sender certificate, the result is sealed sender (`UNIDENTIFIED_SENDER`).
pub async fn encrypt<R: Rng + CryptoRng>(
    store: &mut ProtocolStore,
    address: &ProtocolAddress,
    padded_content: &[u8],
    sealed: Option<&SenderCertificate>,
    now: SystemTime,
    rng: &mut R,
) -> Result<OutgoingMessage> {
    let registration_id = store.sessions.registration_id(address);
    encrypt_with(
        &mut store.sessions,
        &mut store.identities,
        address,
        registration_id,
        padded_content,
        sealed,
        now,
        rng,
    )
    .await
}

/// [`encrypt`] over any session and identity store (the fan-out's per-thread stores),
/// given the session's remote registration id (`None`: no session, an error).
#[allow(clippy::too_many_arguments)]
pub async fn encrypt_with<R: Rng + CryptoRng>(
    sessions: &mut dyn SessionStore,
    identities: &mut dyn IdentityKeyStore,
    address: &ProtocolAddress,
    registration_id: Option<u32>,
    padded_content: &[u8],
    sealed: Option<&SenderCertificate>,
    now: SystemTime,
    rng: &mut R,
) -> Result<OutgoingMessage> {
    let (envelope_type, content) = match sealed {
        Some(cert) => {
            let c = sealed_sender_encrypt(
                address,
                cert,
                padded_content,
                sessions,
                identities,
                now,
                rng,
            )
            .await?;
            (envelope_type::UNIDENTIFIED_SENDER, c)
        }
        None => {
            let m =
                message_encrypt(padded_content, address, sessions, identities, now, rng).await?;
            let t = match &m {
                CiphertextMessage::PreKeySignalMessage(_) => envelope_type::PREKEY_BUNDLE,
                CiphertextMessage::SignalMessage(_) => envelope_type::CIPHERTEXT,
                _ => {
                    return Err(Error::Protocol {
                        kind: "unexpected ciphertext type",
                    })
                }
            };
            (t, m.serialize().to_vec())
        }
    };
    let destination_registration_id = registration_id.ok_or(Error::Protocol {
        kind: "session not found",
    })?;
    Ok(OutgoingMessage {
        envelope_type,
        destination_device_id: address.device_id(),
        destination_registration_id,
        content,
    })
}

/// Who we are, for sealed-sender self-send detection.
#[derive(Clone, Copy, Debug)]
pub struct LocalAddress<'a> {
    /// Our ACI.
    pub aci: &'a Aci,
    /// Our device id.
    pub device_id: DeviceId,
}

/// A decrypted envelope.
pub struct Decrypted {
    /// The sender's ACI.
    pub sender: Aci,
    /// The sender's number, when the sender certificate or our recipient book knows it.
    pub sender_e164: Option<String>,
    /// The sender's device.
    pub sender_device: DeviceId,
    /// The serialized `Content`, padding removed.
    pub content: Zeroizing<Vec<u8>>,
    /// The sender's identity key differs from the one we had (the store accepted it).
    pub identity_changed: bool,
    /// Whether it arrived as sealed sender.
    pub sealed_sender: bool,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("sender", &self.sender)
            .field("sender_device", &self.sender_device)
            .field("identity_changed", &self.identity_changed)
            .field("sealed_sender", &self.sealed_sender)
            .finish_non_exhaustive()
    }
}

/// The parts of an envelope decryption needs.
#[derive(Clone, Copy, Debug)]
pub struct EnvelopeParts<'a> {
    /// `Envelope.Type`.
    pub envelope_type: i32,
    /// `sourceServiceId` + `sourceDevice` (absent for sealed sender).
    pub source: Option<(Aci, DeviceId)>,
    /// `Envelope.content`.
    pub content: &'a [u8],
}

/// Decrypts one envelope's content. Sealed sender certificates are validated against
/// `trust_root` at `now`; a certificate that does not validate is
/// [`Error::SenderCertificateInvalid`].
pub async fn decrypt<R: Rng + CryptoRng>(
    store: &mut ProtocolStore,
    local: LocalAddress<'_>,
    env: EnvelopeParts<'_>,
    trust_root: &PublicKey,
    now: Timestamp,
    rng: &mut R,
) -> Result<Decrypted> {
    // Changes recorded before this call belong to someone else's report.
    let _earlier = store.take_identity_changes();
    let (sender, device, cert_e164, msg_type, body, sealed) = match env.envelope_type {
        envelope_type::CIPHERTEXT | envelope_type::PREKEY_BUNDLE => {
            let (aci, dev) = env.source.ok_or(Error::BadEnvelope {
                reason: "missing source",
            })?;
            let t = if env.envelope_type == envelope_type::CIPHERTEXT {
                CiphertextMessageType::Whisper
            } else {
                CiphertextMessageType::PreKey
            };
            (aci, dev, None, t, env.content.to_vec(), false)
        }
        envelope_type::UNIDENTIFIED_SENDER => {
            let usmc = sealed_sender_decrypt_to_usmc(env.content, &store.identities).await?;
            let cert = usmc.sender()?;
            // 1. The certificate must chain to the configured trust root and be unexpired.
            if !cert.validate(trust_root, now)? {
                return Err(Error::SenderCertificateInvalid);
            }
            let aci = Aci::parse_from_service_id_string(cert.sender_uuid()?)
                .ok_or(Error::InvalidServiceId)?;
            let dev = cert.sender_device_id()?;
            // 2. Our own messages echoed back are refused, as libsignal does.
            if aci == *local.aci && dev == local.device_id {
                return Err(Error::Protocol {
                    kind: "sealed sender self send",
                });
            }
            let e164 = cert.sender_e164()?.map(str::to_owned);
            (
                aci,
                dev,
                e164,
                usmc.msg_type()?,
                usmc.contents()?.to_vec(),
                true,
            )
        }
        envelope_type::PLAINTEXT_CONTENT => {
            // Not encrypted (retry receipts): the service authenticated the sender.
            let (aci, dev) = env.source.ok_or(Error::BadEnvelope {
                reason: "missing source",
            })?;
            (
                aci,
                dev,
                None,
                CiphertextMessageType::Plaintext,
                env.content.to_vec(),
                false,
            )
        }
        _ => {
            return Err(Error::BadEnvelope {
                reason: "unsupported envelope type",
            })
        }
    };
    let address = ProtocolAddress::new(sender.service_id_string(), device);
    // A failure of the inner layer that a resend on a fresh session can mend becomes
    // `Error::DecryptionFailed`, carrying what a retry receipt needs (SPEC §5.1).
    let retry = |e: SignalProtocolError| -> Error {
        if !is_retryable(&e) {
            return e.into();
        }
        Error::DecryptionFailed {
            kind: protocol_kind(&e),
            retry: Box::new(RetryRequest {
                sender,
                sender_device: device,
                original_type: msg_type,
                original_timestamp: 0,
                original: body.clone(),
                sealed_sender: sealed,
            }),
        }
    };
    let padded = match msg_type {
        CiphertextMessageType::Whisper => {
            let m = SignalMessage::try_from(body.as_slice())?;
            message_decrypt_signal(
                &m,
                &address,
                &mut store.sessions,
                &mut store.identities,
                rng,
            )
            .await
            .map_err(&retry)?
        }
        CiphertextMessageType::PreKey => {
            let m = PreKeySignalMessage::try_from(body.as_slice())?;
            message_decrypt_prekey(
                &m,
                &address,
                &mut store.sessions,
                &mut store.identities,
                &mut store.prekeys,
                &store.signed_prekeys,
                &mut store.kyber_prekeys,
                rng,
            )
            .await
            .map_err(&retry)?
        }
        CiphertextMessageType::Plaintext
            if env.envelope_type == envelope_type::PLAINTEXT_CONTENT =>
        {
            let p = PlaintextContent::try_from(body.as_slice())?;
            p.body().to_vec()
        }
        // Multi-recipient sealed sender carries a sender-key message; its key came
        // earlier in a 1:1 `senderKeyDistributionMessage`.
        CiphertextMessageType::SenderKey if sealed => {
            group_decrypt(&body, &mut store.sender_keys, &address).await?
        }
        _ => {
            return Err(Error::BadEnvelope {
                reason: "unsupported inner message type",
            })
        }
    };
    let padded = Zeroizing::new(padded);
    let content = Zeroizing::new(unpad(&padded)?.to_vec());
    let identity_changed = take_change_for(store, address.name());
    if let Some(e) = &cert_e164 {
        // A certificate's number is signed by the service: remember it.
        let _ = store.set_e164(&sender, e);
    }
    let sender_e164 = cert_e164.or_else(|| store.recipient(&sender).and_then(|r| r.e164.clone()));
    Ok(Decrypted {
        sender,
        sender_e164,
        sender_device: device,
        content,
        identity_changed,
        sealed_sender: sealed,
    })
}

/// What a retry receipt for a message that did not decrypt needs: who sent it (the
/// envelope or the opened sealed-sender layer named them) and the inner ciphertext.
/// [`crate::SignalClient::send_retry_receipt`] sends one. `Debug` shows neither the sender
/// nor the bytes.
#[derive(Clone)]
pub struct RetryRequest {
    /// The sender's ACI.
    pub sender: Aci,
    /// The sender's device.
    pub sender_device: DeviceId,
    /// The inner message's type (`Whisper` or `PreKey`).
    pub original_type: CiphertextMessageType,
    /// `Envelope.timestamp` (the sender's): the sender finds the message by it.
    pub original_timestamp: u64,
    /// The inner ciphertext (a serialized `SignalMessage` or `PreKeySignalMessage`).
    pub original: Vec<u8>,
    /// The envelope was sealed sender: the sender is vouched for by a certificate that
    /// validated against the trust root, not only by whoever handed us the envelope.
    pub sealed_sender: bool,
}

impl std::fmt::Debug for RetryRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryRequest")
            .field("original_type", &self.original_type)
            .field("len", &self.original.len())
            .field("sealed_sender", &self.sealed_sender)
            .finish_non_exhaustive()
    }
}

impl RetryRequest {
    /// The `DecryptionErrorMessage` for the original message (libsignal's `for_original`).
    pub fn decryption_error_message(&self) -> Result<DecryptionErrorMessage> {
        Ok(DecryptionErrorMessage::for_original(
            &self.original,
            self.original_type,
            Timestamp::from_epoch_millis(self.original_timestamp),
            u32::from(u8::from(self.sender_device)),
        )?)
    }

    /// The serialized `PlaintextContent` (0xC0, `Content{decryptionErrorMessage}`, 0x80)
    /// that goes into a type-8 envelope.
    pub fn plaintext_content(&self) -> Result<Vec<u8>> {
        Ok(PlaintextContent::from(self.decryption_error_message()?)
            .serialized()
            .to_vec())
    }
}

/// Whether a failure to decrypt the inner message is one a resend on a fresh session can
/// mend: no session, a session that no longer matches the sender's (bad MAC, unknown
/// ratchet), or a one-time prekey already gone. A duplicate is not: it decrypted before.
pub fn is_retryable(e: &SignalProtocolError) -> bool {
    use SignalProtocolError as E;
    matches!(
        e,
        E::SessionNotFound(_)
            | E::InvalidMessage(..)
            | E::InvalidSessionStructure(_)
            | E::InvalidPreKeyId
            | E::InvalidSignedPreKeyId
            | E::InvalidKyberPreKeyId
    )
}

/// Whether a libsignal error means "no usable session" (re-fetch a bundle and retry).
pub fn is_missing_session(e: &SignalProtocolError) -> bool {
    matches!(e, SignalProtocolError::SessionNotFound(_))
}
