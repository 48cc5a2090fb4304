//! Bounded decoders for untrusted protobuf bytes (signal-sim SPEC §5, §6). Each checks the
//! outer length against its named limit before `prost` sees the bytes, then checks every
//! nested length, count and oneof after. None of them panics.

use prost::Message;

use crate::limits::*;
use crate::proto::{
    AttachmentPointer, Content, DataMessage, Envelope, WebSocketMessage, WebSocketRequestMessage,
    WebSocketResponseMessage,
};
use crate::ApiError;

fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), ApiError> {
    if len > max {
        return Err(ApiError::TooLong { what, len, max });
    }
    Ok(())
}

fn check_opt_len<T: AsRef<[u8]>>(
    what: &'static str,
    v: &Option<T>,
    max: usize,
) -> Result<(), ApiError> {
    match v {
        Some(v) => check_len(what, v.as_ref().len(), max),
        None => Ok(()),
    }
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), ApiError> {
    if count > max {
        return Err(ApiError::TooMany { what, count, max });
    }
    Ok(())
}

/// Decode one WebSocket frame (SPEC §5.1). Exactly one of `request`/`response` must be
/// present and must match `type`.
pub fn decode_ws_message(bytes: &[u8]) -> Result<WebSocketMessage, ApiError> {
    check_len("websocket message", bytes.len(), MAX_WS_MESSAGE_LEN)?;
    let msg = WebSocketMessage::decode(bytes).map_err(|_| ApiError::Protobuf {
        what: "WebSocketMessage",
    })?;
    use crate::proto::web_socket_message::Type;
    match (msg.r#type, &msg.request, &msg.response) {
        (Some(t), Some(req), None) if t == Type::Request as i32 => check_ws_request(req)?,
        (Some(t), None, Some(resp)) if t == Type::Response as i32 => check_ws_response(resp)?,
        _ => {
            return Err(ApiError::Invalid {
                what: "WebSocketMessage type",
            })
        }
    }
    Ok(msg)
}

fn check_ws_request(req: &WebSocketRequestMessage) -> Result<(), ApiError> {
    check_opt_len("websocket verb", &req.verb, MAX_WS_VERB_LEN)?;
    check_opt_len("websocket path", &req.path, MAX_WS_PATH_LEN)?;
    check_opt_len("websocket body", &req.body, MAX_WS_BODY_LEN)?;
    check_headers(&req.headers)?;
    if req.verb.is_none() || req.path.is_none() || req.id.is_none() {
        return Err(ApiError::Invalid {
            what: "WebSocketRequestMessage (verb, path and id are required)",
        });
    }
    Ok(())
}

fn check_ws_response(resp: &WebSocketResponseMessage) -> Result<(), ApiError> {
    check_opt_len(
        "websocket status message",
        &resp.message,
        MAX_WS_STATUS_MESSAGE_LEN,
    )?;
    check_opt_len("websocket body", &resp.body, MAX_WS_BODY_LEN)?;
    check_headers(&resp.headers)?;
    if resp.id.is_none() || resp.status.is_none() {
        return Err(ApiError::Invalid {
            what: "WebSocketResponseMessage (id and status are required)",
        });
    }
    Ok(())
}

fn check_headers(headers: &[String]) -> Result<(), ApiError> {
    check_count("websocket headers", headers.len(), MAX_WS_HEADERS)?;
    for h in headers {
        check_len("websocket header", h.len(), MAX_WS_HEADER_LEN)?;
    }
    Ok(())
}

/// Decode a delivered `Envelope` (SPEC §5.2). The type must be a known one.
pub fn decode_envelope(bytes: &[u8]) -> Result<Envelope, ApiError> {
    check_len("envelope", bytes.len(), MAX_ENVELOPE_LEN)?;
    let env = Envelope::decode(bytes).map_err(|_| ApiError::Protobuf { what: "Envelope" })?;
    check_envelope(&env)?;
    Ok(env)
}

/// The nested checks of [`decode_envelope`], for envelopes built locally.
pub fn check_envelope(env: &Envelope) -> Result<(), ApiError> {
    use crate::proto::envelope::Type;
    match env.r#type.map(Type::try_from) {
        Some(Ok(t)) if t != Type::Unknown => {}
        _ => {
            return Err(ApiError::Invalid {
                what: "envelope type",
            })
        }
    }
    check_opt_len("envelope content", &env.content, MAX_MESSAGE_CONTENT_LEN)?;
    check_opt_len(
        "envelope source service id",
        &env.source_service_id,
        MAX_SERVICE_ID_LEN,
    )?;
    check_opt_len(
        "envelope destination service id",
        &env.destination_service_id,
        MAX_SERVICE_ID_LEN,
    )?;
    check_opt_len("envelope server guid", &env.server_guid, MAX_GUID_LEN)?;
    check_opt_len(
        "envelope report-spam token",
        &env.report_spam_token,
        MAX_TOKEN_LEN,
    )?;
    check_opt_len(
        "envelope shared MRM key",
        &env.shared_mrm_key,
        MAX_TOKEN_LEN,
    )?;
    Ok(())
}

/// Decode an unpadded, decrypted `Content` (SPEC §5.3). For plaintext straight out of
/// libsignal use [`decode_padded_content`].
pub fn decode_content(bytes: &[u8]) -> Result<Content, ApiError> {
    check_len("content", bytes.len(), MAX_CONTENT_LEN)?;
    let content = Content::decode(bytes).map_err(|_| ApiError::Protobuf { what: "Content" })?;
    check_content(&content)?;
    Ok(content)
}

/// Strip the app-level padding (SPEC §5.4) and decode the `Content`.
pub fn decode_padded_content(bytes: &[u8]) -> Result<Content, ApiError> {
    check_len(
        "padded content",
        bytes.len(),
        MAX_CONTENT_LEN + PADDING_BLOCK,
    )?;
    decode_content(unpad_content(bytes)?)
}

/// The nested checks of [`decode_content`], also for content built locally before sending.
pub fn check_content(c: &Content) -> Result<(), ApiError> {
    if let Some(dm) = &c.data_message {
        check_data_message(dm)?;
    }
    if let Some(r) = &c.receipt_message {
        check_count("receipt timestamps", r.timestamp.len(), MAX_REPEATED)?;
    }
    Ok(())
}

fn check_data_message(dm: &DataMessage) -> Result<(), ApiError> {
    check_opt_len("message body", &dm.body, MAX_BODY_LEN)?;
    check_count("attachments", dm.attachments.len(), MAX_ATTACHMENTS)?;
    for a in &dm.attachments {
        check_attachment(a)?;
    }
    check_opt_len("profile key", &dm.profile_key, MAX_PROFILE_KEY_LEN)?;
    check_count("body ranges", dm.body_ranges.len(), MAX_REPEATED)?;
    check_count("previews", dm.preview.len(), MAX_REPEATED)?;
    check_count("contacts", dm.contact.len(), MAX_REPEATED)?;
    Ok(())
}

fn check_attachment(a: &AttachmentPointer) -> Result<(), ApiError> {
    if a.cdn_id.is_some() && a.cdn_key.is_some() {
        return Err(ApiError::Invalid {
            what: "attachment pointer (both cdnId and cdnKey)",
        });
    }
    check_opt_len("attachment cdn key", &a.cdn_key, MAX_ATTACHMENT_STRING_LEN)?;
    check_opt_len(
        "attachment content type",
        &a.content_type,
        MAX_ATTACHMENT_STRING_LEN,
    )?;
    check_opt_len("attachment key", &a.key, MAX_ATTACHMENT_KEY_LEN)?;
    check_opt_len("attachment digest", &a.digest, MAX_DIGEST_LEN)?;
    check_opt_len(
        "attachment thumbnail",
        &a.thumbnail,
        MAX_ATTACHMENT_BLOB_LEN,
    )?;
    check_opt_len(
        "attachment incremental mac",
        &a.incremental_mac,
        MAX_ATTACHMENT_BLOB_LEN,
    )?;
    check_opt_len(
        "attachment file name",
        &a.file_name,
        MAX_ATTACHMENT_STRING_LEN,
    )?;
    check_opt_len("attachment caption", &a.caption, MAX_ATTACHMENT_STRING_LEN)?;
    check_opt_len(
        "attachment blurhash",
        &a.blur_hash,
        MAX_ATTACHMENT_STRING_LEN,
    )?;
    check_opt_len("attachment uuid", &a.uuid, 16)?;
    Ok(())
}

/// Padding block size for message content (SPEC §5.4).
pub const PADDING_BLOCK: usize = 160;

/// Pad serialized `Content` the way the Signal apps do before encrypting (SPEC §5.4): append
/// `0x80`, then zeros up to one byte short of a multiple of [`PADDING_BLOCK`].
pub fn pad_content(content: &[u8]) -> Vec<u8> {
    let padded_len = (content.len() + 2).div_ceil(PADDING_BLOCK) * PADDING_BLOCK - 1;
    let mut out = Vec::with_capacity(padded_len);
    out.extend_from_slice(content);
    out.push(0x80);
    out.resize(padded_len, 0);
    out
}

/// Remove the padding added by [`pad_content`] (SPEC §5.4): trailing zeros, then one `0x80`.
/// Plaintext without any `0x80` terminator is rejected.
pub fn unpad_content(padded: &[u8]) -> Result<&[u8], ApiError> {
    let end = padded
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(ApiError::Invalid {
            what: "content padding",
        })?;
    if padded[end] != 0x80 {
        return Err(ApiError::Invalid {
            what: "content padding",
        });
    }
    Ok(&padded[..end])
}

/// Encode any message (infallible for `Vec` output).
pub fn encode<M: Message>(m: &M) -> Vec<u8> {
    m.encode_to_vec()
}
