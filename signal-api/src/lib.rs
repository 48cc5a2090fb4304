//! The Signal chat service wire API (the subset a channel bot needs), written from the
//! service's public API and `.proto` field numbers. Shared by `signal-sim` (the stand-in
//! server) and `signal-client` (phones and the enclave). Trusts nothing it decodes. The
//! formats are written down in `signal-sim/SPEC.md`; section numbers below refer to it.
//!
//! What is here:
//!
//! - [`proto`]: protobuf messages (prost derive, proto2 field numbers):
//!   [`WebSocketMessage`], [`WebSocketRequestMessage`], [`WebSocketResponseMessage`] (§5.1);
//!   [`Envelope`] with [`envelope::Type`] (§5.2); [`Content`], [`DataMessage`] with
//!   [`data_message::Flags`], [`AttachmentPointer`], [`NullMessage`], [`ReceiptMessage`],
//!   [`TypingMessage`] (§5.3). Sub-messages the bot never reads are kept as opaque bytes.
//! - [`decode`]: bounded decoders [`decode_ws_message`], [`decode_envelope`],
//!   [`decode_content`], [`decode_padded_content`], the checks they run
//!   ([`check_envelope`], [`check_content`]) and the app-level content padding
//!   ([`pad_content`], [`unpad_content`], §5.4).
//! - [`limits`]: every named bound (§6).
//! - [`json`]: REST bodies with the service's camelCase names and base64 bytes (§7), each
//!   [`Validate`]d by [`parse_json`]: verification sessions, [`RegistrationRequest`] /
//!   [`AccountAttributes`] / [`AccountIdentityResponse`], [`SetKeysRequest`],
//!   [`PreKeyCount`], [`PreKeyResponse`], [`IncomingMessageList`], [`SendMessageResponse`],
//!   [`MismatchedDevices`], [`StaleDevices`], [`ChallengeRequired`], the multi-recipient
//!   [`SendMultiRecipientMessageResponse`] / [`AccountMismatchedDevices`] /
//!   [`AccountStaleDevices`],
//!   [`SenderCertificateResponse`], [`AttachmentUploadForm`], and the sim-only
//!   [`DirectoryLookupResponse`] (§7.9).
//! - [`ServiceId`]: ACI (`<uuid>`) / PNI (`PNI:<uuid>`) (§4).
//! - [`auth`]: Basic credentials ([`BasicAuth`], [`Username`], [`Password`]) (§3).
//! - [`consts`]: paths, header names and codes shared by client and server.
//! - [`ApiError`]: the one error type; safe to log.
#![forbid(unsafe_code)]

pub mod auth;
pub mod decode;
mod error;
pub mod json;
pub mod limits;
pub mod proto;
mod service_id;

pub use auth::{BasicAuth, Password, Username};
pub use decode::{
    check_content, check_envelope, decode_content, decode_envelope, decode_padded_content,
    decode_ws_message, pad_content, unpad_content,
};
pub use error::ApiError;
pub use json::*;
pub use proto::{
    data_message, envelope, receipt_message, typing_message, web_socket_message, AttachmentPointer,
    Content, DataMessage, Envelope, NullMessage, ReceiptMessage, TypingMessage, WebSocketMessage,
    WebSocketRequestMessage, WebSocketResponseMessage,
};
pub use service_id::{parse_uuid, ServiceId};
pub use uuid::Uuid;

/// Paths, header names and codes (SPEC §7).
pub mod consts {
    /// Header carrying the base64 16-byte unidentified-access key on sealed-sender requests.
    pub const UNIDENTIFIED_ACCESS_KEY: &str = "Unidentified-Access-Key";
    /// Header on server→client WebSocket requests: the server's time in ms.
    pub const X_SIGNAL_TIMESTAMP: &str = "X-Signal-Timestamp";
    /// The authenticated WebSocket.
    pub const WEBSOCKET_PATH: &str = "/v1/websocket/";
    /// Server→client: one envelope in the body.
    pub const WS_DELIVER_PATH: &str = "/api/v1/message";
    /// Server→client: the stored queue has been delivered.
    pub const WS_QUEUE_EMPTY_PATH: &str = "/api/v1/queue/empty";
    /// Client→server keepalive.
    pub const WS_KEEPALIVE_PATH: &str = "/v1/keepalive";
    /// WebSocket close code sent to a connection replaced by a newer one for the same device.
    pub const CLOSE_CONNECTED_ELSEWHERE: u16 = 4409;
    /// WebSocket close code the sim sends to a device removed from its account (signal-sim
    /// SPEC §7.12); its credentials no longer authenticate.
    pub const CLOSE_DEVICE_REMOVED: u16 = 4401;
    /// Content type of a sealed-sender v2 multi-recipient message body.
    pub const MULTI_RECIPIENT_CONTENT_TYPE: &str = "application/vnd.signal-messenger.mrm";
    /// The device id of an account's primary device.
    pub const PRIMARY_DEVICE_ID: u32 = 1;
}
