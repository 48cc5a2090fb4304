//! Protobuf messages (signal-sim SPEC §5), hand-written with `prost` derive. Field numbers are
//! those of the public `WebSocketResources.proto`, Signal-Server `TextSecure.proto` and
//! Signal-Android `SignalService.proto` (proto2). Sub-messages the bot never reads are kept as
//! opaque `bytes` on the same field number: a length-delimited message and `bytes` are the same
//! on the wire, so they round-trip without being interpreted.
//!
//! Decode untrusted bytes only through [`crate::decode`], which bounds lengths first.

use std::fmt;

// ---------------------------------------------------------------------------------------------
// WebSocket framing (SPEC §5.1)

/// One binary WebSocket frame: a request or a response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebSocketMessage {
    #[prost(enumeration = "web_socket_message::Type", optional, tag = "1")]
    pub r#type: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub request: Option<WebSocketRequestMessage>,
    #[prost(message, optional, tag = "3")]
    pub response: Option<WebSocketResponseMessage>,
}

pub mod web_socket_message {
    /// `WebSocketMessage.Type`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Type {
        Unknown = 0,
        Request = 1,
        Response = 2,
    }
}

/// An HTTP-like request carried over the WebSocket, in either direction.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebSocketRequestMessage {
    #[prost(string, optional, tag = "1")]
    pub verb: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub path: Option<String>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub body: Option<Vec<u8>>,
    /// Each entry is one `Name: value` line.
    #[prost(string, repeated, tag = "5")]
    pub headers: Vec<String>,
    #[prost(uint64, optional, tag = "4")]
    pub id: Option<u64>,
}

/// The answer to a [`WebSocketRequestMessage`] with the same `id`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebSocketResponseMessage {
    #[prost(uint64, optional, tag = "1")]
    pub id: Option<u64>,
    #[prost(uint32, optional, tag = "2")]
    pub status: Option<u32>,
    #[prost(string, optional, tag = "3")]
    pub message: Option<String>,
    #[prost(string, repeated, tag = "5")]
    pub headers: Vec<String>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub body: Option<Vec<u8>>,
}

impl WebSocketMessage {
    /// A request frame.
    pub fn request(request: WebSocketRequestMessage) -> Self {
        WebSocketMessage {
            r#type: Some(web_socket_message::Type::Request as i32),
            request: Some(request),
            response: None,
        }
    }

    /// A response frame.
    pub fn response(response: WebSocketResponseMessage) -> Self {
        WebSocketMessage {
            r#type: Some(web_socket_message::Type::Response as i32),
            request: None,
            response: Some(response),
        }
    }
}

impl WebSocketRequestMessage {
    /// The value of the first header named `name` (ASCII case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }
}

impl WebSocketResponseMessage {
    /// The value of the first header named `name` (ASCII case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }
}

fn header_value<'a>(headers: &'a [String], name: &str) -> Option<&'a str> {
    headers.iter().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

// ---------------------------------------------------------------------------------------------
// Envelope (SPEC §5.2)

/// What the service delivers to a device: encrypted content plus routing metadata.
/// `Debug` prints lengths, not content.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct Envelope {
    #[prost(enumeration = "envelope::Type", optional, tag = "1")]
    pub r#type: Option<i32>,
    #[prost(string, optional, tag = "11")]
    pub source_service_id: Option<String>,
    #[prost(uint32, optional, tag = "7")]
    pub source_device: Option<u32>,
    /// The sender's timestamp (`timestamp` in SignalService.proto, `client_timestamp` in the
    /// server's copy; same field 5).
    #[prost(uint64, optional, tag = "5")]
    pub timestamp: Option<u64>,
    #[prost(bytes = "vec", optional, tag = "8")]
    pub content: Option<Vec<u8>>,
    #[prost(string, optional, tag = "9")]
    pub server_guid: Option<String>,
    #[prost(uint64, optional, tag = "10")]
    pub server_timestamp: Option<u64>,
    #[prost(bool, optional, tag = "12")]
    pub ephemeral: Option<bool>,
    #[prost(string, optional, tag = "13")]
    pub destination_service_id: Option<String>,
    #[prost(bool, optional, tag = "14", default = "true")]
    pub urgent: Option<bool>,
    #[prost(bool, optional, tag = "16")]
    pub story: Option<bool>,
    #[prost(bytes = "vec", optional, tag = "17")]
    pub report_spam_token: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "18")]
    pub shared_mrm_key: Option<Vec<u8>>,
}

pub mod envelope {
    /// `Envelope.Type`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Type {
        Unknown = 0,
        Ciphertext = 1,
        PrekeyBundle = 3,
        ServerDeliveryReceipt = 5,
        UnidentifiedSender = 6,
        PlaintextContent = 8,
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field(
                "type",
                &envelope::Type::try_from(self.r#type.unwrap_or(0)).ok(),
            )
            .field("source_device", &self.source_device)
            .field("timestamp", &self.timestamp)
            .field("server_timestamp", &self.server_timestamp)
            .field("content_len", &self.content.as_ref().map(Vec::len))
            .field("urgent", &self.urgent())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Content (SPEC §5.3): the plaintext inside an envelope, seen only by the endpoints.

/// The decrypted payload of a message. `Debug` never prints bodies or keys.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct Content {
    #[prost(message, optional, tag = "1")]
    pub data_message: Option<DataMessage>,
    /// `SyncMessage`, kept opaque.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub sync_message: Option<Vec<u8>>,
    /// `CallMessage`, kept opaque.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub call_message: Option<Vec<u8>>,
    #[prost(message, optional, tag = "4")]
    pub null_message: Option<NullMessage>,
    #[prost(message, optional, tag = "5")]
    pub receipt_message: Option<ReceiptMessage>,
    #[prost(message, optional, tag = "6")]
    pub typing_message: Option<TypingMessage>,
    #[prost(bytes = "vec", optional, tag = "7")]
    pub sender_key_distribution_message: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "8")]
    pub decryption_error_message: Option<Vec<u8>>,
    /// `StoryMessage`, kept opaque.
    #[prost(bytes = "vec", optional, tag = "9")]
    pub story_message: Option<Vec<u8>>,
    /// `PniSignatureMessage`, kept opaque.
    #[prost(bytes = "vec", optional, tag = "10")]
    pub pni_signature_message: Option<Vec<u8>>,
    /// `EditMessage`, kept opaque.
    #[prost(bytes = "vec", optional, tag = "11")]
    pub edit_message: Option<Vec<u8>>,
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Content")
            .field("data_message", &self.data_message)
            .field("sync_message", &self.sync_message.is_some())
            .field("call_message", &self.call_message.is_some())
            .field("null_message", &self.null_message.is_some())
            .field("receipt_message", &self.receipt_message)
            .field("typing_message", &self.typing_message)
            .finish_non_exhaustive()
    }
}

/// A user-visible message. `Debug` prints lengths and flags, never the body or keys.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct DataMessage {
    #[prost(string, optional, tag = "1")]
    pub body: Option<String>,
    #[prost(message, repeated, tag = "2")]
    pub attachments: Vec<AttachmentPointer>,
    /// `GroupContextV2`, kept opaque.
    #[prost(bytes = "vec", optional, tag = "15")]
    pub group_v2: Option<Vec<u8>>,
    /// Bit set of [`data_message::Flags`].
    #[prost(uint32, optional, tag = "4")]
    pub flags: Option<u32>,
    /// Disappearing-message timer in seconds (0 = off).
    #[prost(uint32, optional, tag = "5")]
    pub expire_timer: Option<u32>,
    #[prost(uint32, optional, tag = "23")]
    pub expire_timer_version: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "6")]
    pub profile_key: Option<Vec<u8>>,
    #[prost(uint64, optional, tag = "7")]
    pub timestamp: Option<u64>,
    /// `Quote`, kept opaque.
    #[prost(bytes = "vec", optional, tag = "8")]
    pub quote: Option<Vec<u8>>,
    /// `Contact`s, kept opaque.
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub contact: Vec<Vec<u8>>,
    /// `Preview`s, kept opaque.
    #[prost(bytes = "vec", repeated, tag = "10")]
    pub preview: Vec<Vec<u8>>,
    /// `Sticker`, kept opaque.
    #[prost(bytes = "vec", optional, tag = "11")]
    pub sticker: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "12")]
    pub required_protocol_version: Option<u32>,
    #[prost(bool, optional, tag = "14")]
    pub is_view_once: Option<bool>,
    /// `Reaction`, kept opaque.
    #[prost(bytes = "vec", optional, tag = "16")]
    pub reaction: Option<Vec<u8>>,
    /// `Delete`, kept opaque.
    #[prost(bytes = "vec", optional, tag = "17")]
    pub delete: Option<Vec<u8>>,
    /// `BodyRange`s, kept opaque.
    #[prost(bytes = "vec", repeated, tag = "18")]
    pub body_ranges: Vec<Vec<u8>>,
}

pub mod data_message {
    /// `DataMessage.Flags` (a bit set in `DataMessage.flags`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Flags {
        EndSession = 1,
        ExpirationTimerUpdate = 2,
        ProfileKeyUpdate = 4,
    }
}

impl DataMessage {
    /// Whether `flag` is set in `flags`.
    pub fn has_flag(&self, flag: data_message::Flags) -> bool {
        // The enum values are small positive bits; the cast is exact.
        #[allow(clippy::cast_sign_loss)]
        let bit = flag as i32 as u32;
        self.flags.unwrap_or(0) & bit != 0
    }
}

impl fmt::Debug for DataMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataMessage")
            .field("body_len", &self.body.as_ref().map(String::len))
            .field("attachments", &self.attachments)
            .field("flags", &self.flags)
            .field("expire_timer", &self.expire_timer)
            .field("expire_timer_version", &self.expire_timer_version)
            .field(
                "profile_key",
                &self.profile_key.as_ref().map(|_| "<redacted>"),
            )
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// Where an encrypted attachment lives on the CDN, with the key to decrypt it.
/// `Debug` never prints the key, digest or names.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct AttachmentPointer {
    /// One arm of the `attachment_identifier` oneof (legacy numeric id).
    #[prost(fixed64, optional, tag = "1")]
    pub cdn_id: Option<u64>,
    /// The other arm of the `attachment_identifier` oneof.
    #[prost(string, optional, tag = "15")]
    pub cdn_key: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub content_type: Option<String>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub key: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "4")]
    pub size: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub thumbnail: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "6")]
    pub digest: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "19")]
    pub incremental_mac: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "17")]
    pub incremental_mac_chunk_size: Option<u32>,
    #[prost(string, optional, tag = "7")]
    pub file_name: Option<String>,
    #[prost(uint32, optional, tag = "8")]
    pub flags: Option<u32>,
    #[prost(uint32, optional, tag = "9")]
    pub width: Option<u32>,
    #[prost(uint32, optional, tag = "10")]
    pub height: Option<u32>,
    #[prost(string, optional, tag = "11")]
    pub caption: Option<String>,
    #[prost(string, optional, tag = "12")]
    pub blur_hash: Option<String>,
    #[prost(uint64, optional, tag = "13")]
    pub upload_timestamp: Option<u64>,
    #[prost(uint32, optional, tag = "14")]
    pub cdn_number: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "20")]
    pub uuid: Option<Vec<u8>>,
}

impl fmt::Debug for AttachmentPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentPointer")
            .field("cdn_number", &self.cdn_number)
            .field("size", &self.size)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Padding-only message (used to reset sessions and as cover traffic).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NullMessage {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub padding: Option<Vec<u8>>,
}

/// Delivery/read/viewed receipts for messages identified by their sent timestamps.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReceiptMessage {
    #[prost(enumeration = "receipt_message::Type", optional, tag = "1")]
    pub r#type: Option<i32>,
    #[prost(uint64, repeated, packed = "false", tag = "2")]
    pub timestamp: Vec<u64>,
}

pub mod receipt_message {
    /// `ReceiptMessage.Type`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Type {
        Delivery = 0,
        Read = 1,
        Viewed = 2,
    }
}

/// Typing started/stopped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypingMessage {
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    #[prost(enumeration = "typing_message::Action", optional, tag = "2")]
    pub action: Option<i32>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub group_id: Option<Vec<u8>>,
}

pub mod typing_message {
    /// `TypingMessage.Action`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Action {
        Started = 0,
        Stopped = 1,
    }
}
