//! `PUT /v1/messages/multi_recipient` (SPEC §7.10): one sealed-sender v2 message for many
//! recipients. libsignal *parses* the body to split out each recipient's part; nothing is
//! decrypted.

use std::time::Instant;

use bytes::Bytes;
use hyper::StatusCode;
use libsignal_protocol::SealedSenderV2SentMessage;
use prost::Message as _;
use signal_api::json::b64;
use signal_api::*;
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::routes::{now_ms, random_uuid, Req, Resp};
use crate::state::Identity;
use crate::Sim;

type R = Result<Resp, Resp>;

fn bool_param(req: &Req, name: &str, default: bool) -> Result<bool, Resp> {
    match req.query_param(name).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(Resp::error(StatusCode::BAD_REQUEST, "bad query parameter")),
    }
}

pub(crate) fn send_multi(sim: &Sim, req: &Req) -> R {
    // 1. The body: content type, size, parameters, structure.
    if req.header("content-type") != Some(consts::MULTI_RECIPIENT_CONTENT_TYPE) {
        return Err(Resp::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected application/vnd.signal-messenger.mrm",
        ));
    }
    if req.body.len() > limits::MAX_MULTI_RECIPIENT_MESSAGE_LEN {
        return Err(Resp::error(StatusCode::PAYLOAD_TOO_LARGE, "too large"));
    }
    let timestamp: u64 = req
        .query_param("ts")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| Resp::error(StatusCode::BAD_REQUEST, "missing ts"))?;
    let urgent = bool_param(req, "urgent", true)?;
    let online = bool_param(req, "online", false)?;
    if bool_param(req, "story", false)? {
        return Err(Resp::error(
            StatusCode::BAD_REQUEST,
            "stories are not supported",
        ));
    }
    let msg = SealedSenderV2SentMessage::parse(&req.body)
        .map_err(|_| Resp::error(StatusCode::BAD_REQUEST, "malformed multi-recipient message"))?;
    if msg.recipients.len() > limits::MAX_MULTI_RECIPIENTS {
        return Err(Resp::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too many recipients",
        ));
    }
    // 2. Access: only the combined unidentified-access key is supported (no group tokens).
    let combined = req
        .header(consts::UNIDENTIFIED_ACCESS_KEY)
        .and_then(|h| b64::decode(h.trim()))
        .and_then(|k| <[u8; 16]>::try_from(k).ok())
        .ok_or_else(|| Resp::error(StatusCode::UNAUTHORIZED, "unauthorized"))?;
    let mut targets = Vec::with_capacity(msg.recipients.len());
    for (sid, r) in &msg.recipients {
        let id = ServiceId::parse(&sid.service_id_string())
            .map_err(|_| Resp::error(StatusCode::BAD_REQUEST, "bad service id"))?;
        let devices: Vec<(u32, u16)> = r
            .devices
            .iter()
            .map(|(d, reg)| (u32::from(*d), *reg))
            .collect();
        targets.push((id, devices, r));
    }

    let mut guard = sim.state();
    let st = &mut *guard;
    // 3. Every recipient must exist.
    let mut resolved: Vec<(Uuid, Identity)> = Vec::with_capacity(targets.len());
    for (id, _, _) in &targets {
        resolved.push(
            st.resolve(id)
                .ok_or_else(|| Resp::error(StatusCode::NOT_FOUND, "not found"))?,
        );
    }
    // 4. The key must be the XOR of the UAKs of every recipient without unrestricted access.
    let mut expected = [0u8; 16];
    for (aci, _) in &resolved {
        let acct = st.accounts.get(aci).expect("invariant: resolved above");
        if acct.unrestricted_uak {
            continue;
        }
        let uak = acct
            .uak
            .ok_or_else(|| Resp::error(StatusCode::UNAUTHORIZED, "unauthorized"))?;
        for (e, k) in expected.iter_mut().zip(uak) {
            *e ^= k;
        }
    }
    if !bool::from(expected.ct_eq(&combined)) {
        return Err(Resp::error(StatusCode::UNAUTHORIZED, "unauthorized"));
    }
    // 5. Rate limits (unidentified sender, per recipient).
    let now = Instant::now();
    let mut retry = 0;
    for (aci, _) in &resolved {
        if let Err(s) = st.limiter.take(None, *aci, now) {
            retry = retry.max(s);
        }
    }
    if retry > 0 {
        return Err(crate::routes::rate_limited(sim, retry));
    }
    // 6. Device lists, then registration ids. Excluded recipients (no devices) are skipped.
    let mut mismatched = Vec::new();
    let mut stale = Vec::new();
    for ((id, devices, _), (aci, identity)) in targets.iter().zip(&resolved) {
        if devices.is_empty() {
            continue;
        }
        let acct = st.accounts.get(aci).expect("invariant: resolved above");
        let listed: Vec<u32> = devices.iter().map(|(d, _)| *d).collect();
        let m = MismatchedDevices {
            missing_devices: acct
                .devices
                .keys()
                .copied()
                .filter(|d| !listed.contains(d))
                .collect(),
            extra_devices: listed
                .iter()
                .copied()
                .filter(|d| !acct.devices.contains_key(d))
                .collect(),
        };
        if !m.missing_devices.is_empty() || !m.extra_devices.is_empty() {
            mismatched.push(AccountMismatchedDevices {
                uuid: *id,
                devices: m,
            });
            continue;
        }
        let s: Vec<u32> = devices
            .iter()
            .filter(|(d, reg)| {
                acct.devices
                    .get(d)
                    .is_some_and(|dev| dev.registration_id(*identity) != u32::from(*reg))
            })
            .map(|(d, _)| *d)
            .collect();
        if !s.is_empty() {
            stale.push(AccountStaleDevices {
                uuid: *id,
                devices: StaleDevices { stale_devices: s },
            });
        }
    }
    if !mismatched.is_empty() {
        return Err(crate::routes::device_mismatch(sim, &mismatched));
    }
    if !stale.is_empty() {
        return Err(crate::routes::stale_devices(sim, &stale));
    }
    // 7. Store one UNIDENTIFIED_SENDER envelope per listed device.
    let server_ts = now_ms();
    for ((id, devices, r), (aci, _)) in targets.iter().zip(&resolved) {
        if devices.is_empty() {
            continue;
        }
        let content = msg
            .received_message_parts_for_recipient(r)
            .as_ref()
            .concat();
        let dest = id.to_string();
        for (device, _) in devices {
            let env = Envelope {
                r#type: Some(envelope::Type::UnidentifiedSender as i32),
                timestamp: Some(timestamp),
                content: Some(content.clone()),
                server_guid: Some(random_uuid().hyphenated().to_string()),
                server_timestamp: Some(server_ts),
                destination_service_id: Some(dest.clone()),
                urgent: Some(urgent),
                ephemeral: online.then_some(true),
                ..Default::default()
            };
            st.deliver(*aci, *device, Bytes::from(env.encode_to_vec()), online);
        }
    }
    Ok(Resp::json(
        StatusCode::OK,
        &SendMultiRecipientMessageResponse::default(),
    ))
}
