//! JSON bodies of the REST routes (signal-sim SPEC §7), with the real service's camelCase
//! field names. Binary fields are base64 (standard alphabet; written padded, read padded or
//! not). Parse untrusted bodies only with [`parse_json`], which bounds the length and then
//! runs the type's [`Validate`] checks. Unknown fields are ignored, as the real service does.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::*;
use crate::ApiError;

/// Nested bounds checked after deserializing.
pub trait Validate {
    /// The body's name in errors.
    const WHAT: &'static str;
    /// Check nested lengths and counts.
    fn validate(&self) -> Result<(), ApiError>;
}

/// Parse an untrusted JSON body: length bound, then serde, then [`Validate`].
pub fn parse_json<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > MAX_JSON_BODY_LEN {
        return Err(ApiError::TooLong {
            what: T::WHAT,
            len: bytes.len(),
            max: MAX_JSON_BODY_LEN,
        });
    }
    let v: T = serde_json::from_slice(bytes).map_err(|e| ApiError::json(T::WHAT, &e))?;
    v.validate()?;
    Ok(v)
}

/// Serialize a body. Our types only hold strings, numbers, maps and byte vectors, which
/// always serialize.
pub fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("invariant: these types always serialize")
}

fn len(what: &'static str, n: usize, max: usize) -> Result<(), ApiError> {
    if n > max {
        Err(ApiError::TooLong { what, len: n, max })
    } else {
        Ok(())
    }
}

fn count(what: &'static str, n: usize, max: usize) -> Result<(), ApiError> {
    if n > max {
        Err(ApiError::TooMany {
            what,
            count: n,
            max,
        })
    } else {
        Ok(())
    }
}

fn opt_len<T: AsRef<[u8]>>(what: &'static str, v: &Option<T>, max: usize) -> Result<(), ApiError> {
    v.as_ref()
        .map_or(Ok(()), |v| len(what, v.as_ref().len(), max))
}

/// serde helpers for base64 byte fields.
pub mod b64 {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Decode standard base64, padded or not.
    pub fn decode(s: &str) -> Option<Vec<u8>> {
        let s = s.trim_end_matches('=');
        STANDARD_NO_PAD.decode(s).ok()
    }

    /// Encode as padded standard base64.
    pub fn encode(b: &[u8]) -> String {
        STANDARD.encode(b)
    }

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        decode(&s).ok_or_else(|| serde::de::Error::custom("invalid base64"))
    }

    /// The same for `Option<Vec<u8>>` (absent or `null` is `None`).
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match b {
                Some(b) => s.serialize_str(&encode(b)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
            s.map(|s| decode(&s).ok_or_else(|| serde::de::Error::custom("invalid base64")))
                .transpose()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Verification sessions (SPEC §7.1)

/// `POST /v1/verification/session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateVerificationSessionRequest {
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnc: Option<String>,
}

impl Validate for CreateVerificationSessionRequest {
    const WHAT: &'static str = "CreateVerificationSessionRequest";
    fn validate(&self) -> Result<(), ApiError> {
        crate::auth::validate_e164(&self.number)?;
        opt_len("pushToken", &self.push_token, MAX_JSON_STRING_LEN)?;
        opt_len("pushTokenType", &self.push_token_type, MAX_JSON_STRING_LEN)?;
        opt_len("mcc", &self.mcc, 8)?;
        opt_len("mnc", &self.mnc, 8)
    }
}

/// `PATCH /v1/verification/session/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateVerificationSessionRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_challenge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captcha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnc: Option<String>,
}

impl Validate for UpdateVerificationSessionRequest {
    const WHAT: &'static str = "UpdateVerificationSessionRequest";
    fn validate(&self) -> Result<(), ApiError> {
        for f in [
            &self.push_token,
            &self.push_token_type,
            &self.push_challenge,
            &self.captcha,
            &self.mcc,
            &self.mnc,
        ] {
            opt_len("verification session field", f, MAX_JSON_STRING_LEN)?;
        }
        Ok(())
    }
}

/// `POST /v1/verification/session/{id}/code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationCodeRequest {
    /// `sms` or `voice`.
    pub transport: String,
    #[serde(default)]
    pub client: String,
}

impl Validate for VerificationCodeRequest {
    const WHAT: &'static str = "VerificationCodeRequest";
    fn validate(&self) -> Result<(), ApiError> {
        if self.transport != "sms" && self.transport != "voice" {
            return Err(ApiError::Invalid { what: "transport" });
        }
        len("client", self.client.len(), MAX_JSON_STRING_LEN)
    }
}

/// `PUT /v1/verification/session/{id}/code`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitVerificationCodeRequest {
    pub code: String,
}

impl fmt::Debug for SubmitVerificationCodeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubmitVerificationCodeRequest { code: <redacted> }")
    }
}

impl Validate for SubmitVerificationCodeRequest {
    const WHAT: &'static str = "SubmitVerificationCodeRequest";
    fn validate(&self) -> Result<(), ApiError> {
        len("code", self.code.len(), 64)
    }
}

/// The state of a verification session, returned by every session route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationSessionResponse {
    pub id: String,
    /// Seconds until an SMS may be requested (absent: not allowed).
    #[serde(default)]
    pub next_sms: Option<u64>,
    #[serde(default)]
    pub next_call: Option<u64>,
    #[serde(default)]
    pub next_verification_attempt: Option<u64>,
    pub allowed_to_request_code: bool,
    #[serde(default)]
    pub requested_information: Vec<String>,
    pub verified: bool,
}

impl Validate for VerificationSessionResponse {
    const WHAT: &'static str = "VerificationSessionResponse";
    fn validate(&self) -> Result<(), ApiError> {
        len("session id", self.id.len(), MAX_JSON_STRING_LEN)?;
        count("requestedInformation", self.requested_information.len(), 8)
    }
}

// ---------------------------------------------------------------------------------------------
// Registration (SPEC §7.2)

/// `accountAttributes` in a registration request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountAttributes {
    #[serde(default)]
    pub fetches_messages: bool,
    pub registration_id: u32,
    pub pni_registration_id: u32,
    /// Encrypted device name.
    #[serde(default, with = "b64::option", skip_serializing_if = "Option::is_none")]
    pub name: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_lock: Option<String>,
    /// 16 bytes derived from the profile key; gates sealed-sender delivery.
    #[serde(default, with = "b64::option")]
    pub unidentified_access_key: Option<Vec<u8>>,
    #[serde(default)]
    pub unrestricted_unidentified_access: bool,
    #[serde(default)]
    pub capabilities: BTreeMap<String, bool>,
    #[serde(default)]
    pub discoverable_by_phone_number: bool,
}

impl fmt::Debug for AccountAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountAttributes")
            .field("fetches_messages", &self.fetches_messages)
            .field("registration_id", &self.registration_id)
            .field("pni_registration_id", &self.pni_registration_id)
            .field(
                "unidentified_access_key",
                &self.unidentified_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "unrestricted_unidentified_access",
                &self.unrestricted_unidentified_access,
            )
            .finish_non_exhaustive()
    }
}

impl Validate for AccountAttributes {
    const WHAT: &'static str = "AccountAttributes";
    fn validate(&self) -> Result<(), ApiError> {
        opt_len("device name", &self.name, 256)?;
        opt_len(
            "registrationLock",
            &self.registration_lock,
            MAX_JSON_STRING_LEN,
        )?;
        if let Some(uak) = &self.unidentified_access_key {
            if uak.len() != UNIDENTIFIED_ACCESS_KEY_LEN {
                return Err(ApiError::Invalid {
                    what: "unidentifiedAccessKey length",
                });
            }
        }
        count("capabilities", self.capabilities.len(), MAX_CAPABILITIES)?;
        for k in self.capabilities.keys() {
            len("capability name", k.len(), 64)?;
        }
        Ok(())
    }
}

/// A one-time EC prekey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcPreKey {
    pub key_id: u32,
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
}

/// A signed prekey: EC (`ECSignedPreKey`) or Kyber (`KEMSignedPreKey`) have the same shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedPreKey {
    pub key_id: u32,
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

impl EcPreKey {
    fn check(&self) -> Result<(), ApiError> {
        len(
            "prekey public key",
            self.public_key.len(),
            MAX_PUBLIC_KEY_LEN,
        )
    }
}

impl SignedPreKey {
    fn check(&self) -> Result<(), ApiError> {
        len(
            "prekey public key",
            self.public_key.len(),
            MAX_PUBLIC_KEY_LEN,
        )?;
        len("prekey signature", self.signature.len(), MAX_SIGNATURE_LEN)
    }
}

/// `POST /v1/registration`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub account_attributes: AccountAttributes,
    #[serde(default)]
    pub skip_device_transfer: bool,
    #[serde(with = "b64")]
    pub aci_identity_key: Vec<u8>,
    #[serde(with = "b64")]
    pub pni_identity_key: Vec<u8>,
    pub aci_signed_pre_key: SignedPreKey,
    pub pni_signed_pre_key: SignedPreKey,
    pub aci_pq_last_resort_pre_key: SignedPreKey,
    pub pni_pq_last_resort_pre_key: SignedPreKey,
}

impl Validate for RegistrationRequest {
    const WHAT: &'static str = "RegistrationRequest";
    fn validate(&self) -> Result<(), ApiError> {
        opt_len("sessionId", &self.session_id, MAX_JSON_STRING_LEN)?;
        self.account_attributes.validate()?;
        len(
            "identity key",
            self.aci_identity_key.len(),
            MAX_PUBLIC_KEY_LEN,
        )?;
        len(
            "identity key",
            self.pni_identity_key.len(),
            MAX_PUBLIC_KEY_LEN,
        )?;
        self.aci_signed_pre_key.check()?;
        self.pni_signed_pre_key.check()?;
        self.aci_pq_last_resort_pre_key.check()?;
        self.pni_pq_last_resort_pre_key.check()
    }
}

/// The response to `POST /v1/registration`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountIdentityResponse {
    /// The ACI.
    pub uuid: Uuid,
    pub number: String,
    /// The PNI as a bare UUID.
    pub pni: Uuid,
    #[serde(default, with = "b64::option", skip_serializing_if = "Option::is_none")]
    pub username_hash: Option<Vec<u8>>,
    #[serde(default)]
    pub storage_capable: bool,
}

impl Validate for AccountIdentityResponse {
    const WHAT: &'static str = "AccountIdentityResponse";
    fn validate(&self) -> Result<(), ApiError> {
        crate::auth::validate_e164(&self.number)?;
        opt_len("usernameHash", &self.username_hash, 64)
    }
}

// ---------------------------------------------------------------------------------------------
// Keys (SPEC §7.3)

/// `PUT /v2/keys?identity=aci|pni`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetKeysRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_keys: Option<Vec<EcPreKey>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_pre_key: Option<SignedPreKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pq_pre_keys: Option<Vec<SignedPreKey>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pq_last_resort_pre_key: Option<SignedPreKey>,
}

impl Validate for SetKeysRequest {
    const WHAT: &'static str = "SetKeysRequest";
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(k) = &self.pre_keys {
            count("preKeys", k.len(), MAX_PREKEYS_PER_UPLOAD)?;
            k.iter().try_for_each(EcPreKey::check)?;
        }
        if let Some(k) = &self.pq_pre_keys {
            count("pqPreKeys", k.len(), MAX_PREKEYS_PER_UPLOAD)?;
            k.iter().try_for_each(SignedPreKey::check)?;
        }
        if let Some(k) = &self.signed_pre_key {
            k.check()?;
        }
        if let Some(k) = &self.pq_last_resort_pre_key {
            k.check()?;
        }
        Ok(())
    }
}

/// `GET /v2/keys?identity=…`: how many one-time keys remain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreKeyCount {
    pub count: u32,
    pub pq_count: u32,
}

impl Validate for PreKeyCount {
    const WHAT: &'static str = "PreKeyCount";
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// One device's keys in a [`PreKeyResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreKeyResponseItem {
    pub device_id: u32,
    pub registration_id: u32,
    #[serde(default)]
    pub signed_pre_key: Option<SignedPreKey>,
    #[serde(default)]
    pub pre_key: Option<EcPreKey>,
    #[serde(default)]
    pub pq_pre_key: Option<SignedPreKey>,
}

/// `GET /v2/keys/{serviceId}/{deviceId|*}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreKeyResponse {
    #[serde(with = "b64")]
    pub identity_key: Vec<u8>,
    pub devices: Vec<PreKeyResponseItem>,
}

impl Validate for PreKeyResponse {
    const WHAT: &'static str = "PreKeyResponse";
    fn validate(&self) -> Result<(), ApiError> {
        len("identity key", self.identity_key.len(), MAX_PUBLIC_KEY_LEN)?;
        count("devices", self.devices.len(), MAX_DEVICES)?;
        for d in &self.devices {
            if let Some(k) = &d.signed_pre_key {
                k.check()?;
            }
            if let Some(k) = &d.pre_key {
                k.check()?;
            }
            if let Some(k) = &d.pq_pre_key {
                k.check()?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Messages (SPEC §7.4)

/// One per destination device in an [`IncomingMessageList`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingMessage {
    /// An `Envelope.Type` value (1 ciphertext, 3 prekey, 6 sealed sender, 8 plaintext).
    #[serde(rename = "type")]
    pub r#type: u32,
    pub destination_device_id: u32,
    pub destination_registration_id: u32,
    #[serde(with = "b64")]
    pub content: Vec<u8>,
}

impl fmt::Debug for IncomingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingMessage")
            .field("type", &self.r#type)
            .field("destination_device_id", &self.destination_device_id)
            .field("content_len", &self.content.len())
            .finish_non_exhaustive()
    }
}

fn default_true() -> bool {
    true
}

/// `PUT /v1/messages/{serviceId}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingMessageList {
    pub messages: Vec<IncomingMessage>,
    #[serde(default)]
    pub online: bool,
    #[serde(default = "default_true")]
    pub urgent: bool,
    pub timestamp: u64,
}

impl Validate for IncomingMessageList {
    const WHAT: &'static str = "IncomingMessageList";
    fn validate(&self) -> Result<(), ApiError> {
        count("messages", self.messages.len(), MAX_MESSAGES_PER_LIST)?;
        for m in &self.messages {
            len("message content", m.content.len(), MAX_MESSAGE_CONTENT_LEN)?;
        }
        Ok(())
    }
}

/// 200 to `PUT /v1/messages/{serviceId}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMessageResponse {
    pub needs_sync: bool,
}

impl Validate for SendMessageResponse {
    const WHAT: &'static str = "SendMessageResponse";
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// 409: the sender's device list is wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MismatchedDevices {
    #[serde(default)]
    pub missing_devices: Vec<u32>,
    #[serde(default)]
    pub extra_devices: Vec<u32>,
}

impl Validate for MismatchedDevices {
    const WHAT: &'static str = "MismatchedDevices";
    fn validate(&self) -> Result<(), ApiError> {
        count("missingDevices", self.missing_devices.len(), MAX_DEVICES)?;
        count("extraDevices", self.extra_devices.len(), MAX_DEVICES)
    }
}

/// 410: sessions with these devices are stale (registration id changed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaleDevices {
    #[serde(default)]
    pub stale_devices: Vec<u32>,
}

impl Validate for StaleDevices {
    const WHAT: &'static str = "StaleDevices";
    fn validate(&self) -> Result<(), ApiError> {
        count("staleDevices", self.stale_devices.len(), MAX_DEVICES)
    }
}

/// 200 to `PUT /v1/messages/multi_recipient` (SPEC §7.10).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMultiRecipientMessageResponse {
    /// Recipients that do not exist (only reported for stories on the real service).
    #[serde(rename = "uuids404", default)]
    pub uuids404: Vec<crate::ServiceId>,
}

impl Validate for SendMultiRecipientMessageResponse {
    const WHAT: &'static str = "SendMultiRecipientMessageResponse";
    fn validate(&self) -> Result<(), ApiError> {
        count("uuids404", self.uuids404.len(), MAX_MULTI_RECIPIENTS)
    }
}

/// One entry of the 409 body of a multi-recipient send (a JSON array of these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMismatchedDevices {
    pub uuid: crate::ServiceId,
    pub devices: MismatchedDevices,
}

/// One entry of the 410 body of a multi-recipient send (a JSON array of these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStaleDevices {
    pub uuid: crate::ServiceId,
    pub devices: StaleDevices,
}

impl Validate for Vec<AccountMismatchedDevices> {
    const WHAT: &'static str = "AccountMismatchedDevices list";
    fn validate(&self) -> Result<(), ApiError> {
        count("accounts", self.len(), MAX_MULTI_RECIPIENTS)?;
        self.iter().try_for_each(|a| a.devices.validate())
    }
}

impl Validate for Vec<AccountStaleDevices> {
    const WHAT: &'static str = "AccountStaleDevices list";
    fn validate(&self) -> Result<(), ApiError> {
        count("accounts", self.len(), MAX_MULTI_RECIPIENTS)?;
        self.iter().try_for_each(|a| a.devices.validate())
    }
}

/// 428 body: a challenge must be solved before sending more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeRequired {
    pub token: String,
    #[serde(default)]
    pub options: Vec<String>,
}

impl Validate for ChallengeRequired {
    const WHAT: &'static str = "ChallengeRequired";
    fn validate(&self) -> Result<(), ApiError> {
        len("token", self.token.len(), MAX_JSON_STRING_LEN)?;
        count("options", self.options.len(), 8)
    }
}

/// Generic error body (`{"code":…,"message":…}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub code: u16,
    pub message: String,
}

impl Validate for ErrorResponse {
    const WHAT: &'static str = "ErrorResponse";
    fn validate(&self) -> Result<(), ApiError> {
        len("message", self.message.len(), MAX_JSON_STRING_LEN)
    }
}

// ---------------------------------------------------------------------------------------------
// Sealed sender, attachments, directory (SPEC §7.5, §7.7, §7.9)

/// `GET /v1/certificate/delivery`: a serialized libsignal `SenderCertificate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SenderCertificateResponse {
    #[serde(with = "b64")]
    pub certificate: Vec<u8>,
}

impl Validate for SenderCertificateResponse {
    const WHAT: &'static str = "SenderCertificateResponse";
    fn validate(&self) -> Result<(), ApiError> {
        len(
            "certificate",
            self.certificate.len(),
            MAX_SENDER_CERTIFICATE_LEN,
        )
    }
}

/// `GET /v4/attachments/form/upload`: where and how to upload one attachment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentUploadForm {
    pub cdn: u32,
    pub key: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub signed_upload_location: String,
}

impl Validate for AttachmentUploadForm {
    const WHAT: &'static str = "AttachmentUploadForm";
    fn validate(&self) -> Result<(), ApiError> {
        len("key", self.key.len(), MAX_JSON_STRING_LEN)?;
        len(
            "signedUploadLocation",
            self.signed_upload_location.len(),
            MAX_JSON_STRING_LEN,
        )?;
        count("headers", self.headers.len(), 32)?;
        for (k, v) in &self.headers {
            len("header", k.len() + v.len(), MAX_JSON_STRING_LEN)?;
        }
        Ok(())
    }
}

/// SIM-ONLY (SPEC §7.9): `GET /v1/directory/{e164}` stands in for contact discovery (CDSI),
/// which needs SGX. The real service has no such route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryLookupResponse {
    /// The ACI registered to the number.
    pub uuid: Uuid,
}

impl Validate for DirectoryLookupResponse {
    const WHAT: &'static str = "DirectoryLookupResponse";
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Linked devices (SPEC §7.12)

/// The most devices an account may have, the primary included (the real service's default).
pub const MAX_DEVICES_PER_ACCOUNT: usize = 6;

/// `GET /v1/devices/provisioning/code`: a single-use code the new device presents to
/// `PUT /v1/devices/link`. Its `Debug` redacts the code (a credential).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkDeviceVerificationCode {
    pub verification_code: String,
    /// Identifies the code without revealing it (the real service uses it to wait for the
    /// link to complete; the sim only fills it in).
    #[serde(default)]
    pub token_identifier: String,
}

impl fmt::Debug for LinkDeviceVerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkDeviceVerificationCode { verification_code: <redacted>, .. }")
    }
}

impl Validate for LinkDeviceVerificationCode {
    const WHAT: &'static str = "LinkDeviceVerificationCode";
    fn validate(&self) -> Result<(), ApiError> {
        len(
            "verificationCode",
            self.verification_code.len(),
            MAX_TOKEN_LEN,
        )?;
        len(
            "tokenIdentifier",
            self.token_identifier.len(),
            MAX_TOKEN_LEN,
        )
    }
}

/// `PUT /v1/devices/link`, Basic auth `e164:<the new device's password>`. The real body's
/// device-activation fields are at the top level (push tokens are not supported here and,
/// like every unknown field, ignored). The prekeys are signed by the account's identity
/// keys, which the new device shares with the primary. `Debug` redacts the code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkDeviceRequest {
    pub verification_code: String,
    pub account_attributes: AccountAttributes,
    pub aci_signed_pre_key: SignedPreKey,
    pub pni_signed_pre_key: SignedPreKey,
    pub aci_pq_last_resort_pre_key: SignedPreKey,
    pub pni_pq_last_resort_pre_key: SignedPreKey,
}

impl fmt::Debug for LinkDeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkDeviceRequest")
            .field("verification_code", &"<redacted>")
            .field("account_attributes", &self.account_attributes)
            .finish_non_exhaustive()
    }
}

impl Validate for LinkDeviceRequest {
    const WHAT: &'static str = "LinkDeviceRequest";
    fn validate(&self) -> Result<(), ApiError> {
        len(
            "verificationCode",
            self.verification_code.len(),
            MAX_TOKEN_LEN,
        )?;
        self.account_attributes.validate()?;
        self.aci_signed_pre_key.check()?;
        self.pni_signed_pre_key.check()?;
        self.aci_pq_last_resort_pre_key.check()?;
        self.pni_pq_last_resort_pre_key.check()
    }
}

/// The answer to `PUT /v1/devices/link`: the account's identifiers and the new device id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkDeviceResponse {
    /// The account's ACI.
    pub uuid: Uuid,
    /// The account's PNI (bare UUID).
    pub pni: Uuid,
    pub device_id: u32,
}

impl Validate for LinkDeviceResponse {
    const WHAT: &'static str = "LinkDeviceResponse";
    fn validate(&self) -> Result<(), ApiError> {
        if self.device_id == 0 || self.device_id > 127 {
            return Err(ApiError::Invalid { what: "deviceId" });
        }
        Ok(())
    }
}

/// One entry of `GET /v1/devices`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    pub id: u32,
    /// The encrypted device name, if the device set one.
    #[serde(default, with = "b64::option", skip_serializing_if = "Option::is_none")]
    pub name: Option<Vec<u8>>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub last_seen: u64,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub created: u64,
}

/// `GET /v1/devices`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfoList {
    pub devices: Vec<DeviceInfo>,
}

impl Validate for DeviceInfoList {
    const WHAT: &'static str = "DeviceInfoList";
    fn validate(&self) -> Result<(), ApiError> {
        count("devices", self.devices.len(), MAX_DEVICES)?;
        for d in &self.devices {
            opt_len("device name", &d.name, 256)?;
        }
        Ok(())
    }
}
