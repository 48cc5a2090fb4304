//! Named bounds for every untrusted length (signal-sim SPEC §6). Decoders check the outer
//! length before allocating, then the nested lengths after decoding.

/// One WebSocket frame carrying a `WebSocketMessage`. Large enough for a request whose body
/// is a full `IncomingMessageList` ([`MAX_JSON_BODY_LEN`]).
pub const MAX_WS_MESSAGE_LEN: usize = 2 * 1024 * 1024 + 64 * 1024;
/// A WebSocket request/response body.
pub const MAX_WS_BODY_LEN: usize = 2 * 1024 * 1024;
/// A WebSocket request path.
pub const MAX_WS_PATH_LEN: usize = 2048;
/// A WebSocket verb (`GET`, `PUT`, …).
pub const MAX_WS_VERB_LEN: usize = 16;
/// Number of `Name: value` header lines on one WebSocket request/response.
pub const MAX_WS_HEADERS: usize = 32;
/// One WebSocket header line.
pub const MAX_WS_HEADER_LEN: usize = 1024;
/// The status message of a WebSocket response.
pub const MAX_WS_STATUS_MESSAGE_LEN: usize = 256;

/// A serialized `Envelope`.
pub const MAX_ENVELOPE_LEN: usize = 264 * 1024;
/// The encrypted `content` of one message (the real service's per-message limit).
pub const MAX_MESSAGE_CONTENT_LEN: usize = 256 * 1024;
/// A service id string (`PNI:` + 36-character UUID is 40).
pub const MAX_SERVICE_ID_LEN: usize = 40;
/// A server GUID string.
pub const MAX_GUID_LEN: usize = 64;
/// Opaque small byte fields (report-spam token, shared MRM key).
pub const MAX_TOKEN_LEN: usize = 256;

/// A decrypted, unpadded `Content`.
pub const MAX_CONTENT_LEN: usize = 256 * 1024;
/// `DataMessage.body` (UTF-8 bytes).
pub const MAX_BODY_LEN: usize = 64 * 1024;
/// `DataMessage.attachments`.
pub const MAX_ATTACHMENTS: usize = 32;
/// Any other repeated field in `Content` (body ranges, previews, receipt timestamps, …).
pub const MAX_REPEATED: usize = 256;
/// A profile key (32 bytes in practice).
pub const MAX_PROFILE_KEY_LEN: usize = 32;
/// An attachment key (64 bytes: AES-256 + HMAC-SHA256 in practice).
pub const MAX_ATTACHMENT_KEY_LEN: usize = 64;
/// An attachment digest (32 bytes in practice).
pub const MAX_DIGEST_LEN: usize = 64;
/// Strings in an `AttachmentPointer` (cdn key, content type, file name, caption, blurhash).
pub const MAX_ATTACHMENT_STRING_LEN: usize = 4096;
/// Thumbnails and incremental MACs inside an `AttachmentPointer`.
pub const MAX_ATTACHMENT_BLOB_LEN: usize = 64 * 1024;

/// Any JSON request or response body.
pub const MAX_JSON_BODY_LEN: usize = 2 * 1024 * 1024;
/// `IncomingMessageList.messages` (one per destination device).
pub const MAX_MESSAGES_PER_LIST: usize = 64;
/// One-time prekeys in one `SetKeysRequest` (EC and Kyber each; the real service's limit).
pub const MAX_PREKEYS_PER_UPLOAD: usize = 100;
/// Devices in a `PreKeyResponse` / `MismatchedDevices` / `StaleDevices`.
pub const MAX_DEVICES: usize = 64;
/// A decoded public key (Kyber-1024 public keys are 1569 bytes with the type byte).
pub const MAX_PUBLIC_KEY_LEN: usize = 1600;
/// A decoded signature (XEdDSA: 64 bytes).
pub const MAX_SIGNATURE_LEN: usize = 64;
/// An e164 phone number, `+` and at most 15 digits.
pub const MAX_E164_LEN: usize = 16;
/// Other short JSON strings (session ids, tokens, codes, captcha).
pub const MAX_JSON_STRING_LEN: usize = 4096;
/// Entries in `accountAttributes.capabilities`.
pub const MAX_CAPABILITIES: usize = 64;
/// A registered unidentified-access key.
pub const UNIDENTIFIED_ACCESS_KEY_LEN: usize = 16;
/// A serialized sender certificate.
pub const MAX_SENDER_CERTIFICATE_LEN: usize = 16 * 1024;

/// A sealed-sender v2 multi-recipient message body (`PUT /v1/messages/multi_recipient`).
pub const MAX_MULTI_RECIPIENT_MESSAGE_LEN: usize = 8 * 1024 * 1024;
/// Recipients in one multi-recipient message.
pub const MAX_MULTI_RECIPIENTS: usize = 20_000;

/// An uploaded attachment (the sim's CDN stand-in).
pub const MAX_ATTACHMENT_LEN: usize = 32 * 1024 * 1024;

/// `Basic` auth header value.
pub const MAX_AUTH_HEADER_LEN: usize = 1024;
