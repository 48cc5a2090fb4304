//! The REST routes (SPEC §7), independent of the transport: the same [`handle`] serves HTTPS
//! requests and requests sent over an authenticated WebSocket.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use prost::Message as _;
use signal_api::auth::{BasicAuth, Username};
use signal_api::json::{b64, parse_json, to_json, Validate};
use signal_api::*;
use uuid::Uuid;

use crate::state::{
    Account, Device, Identity, KeySet, LinkCode, State, Upload, VerificationSession,
    LINK_CODE_LIFETIME,
};
use crate::Sim;

/// A request as the routes see it.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// Lower-case header name → value (first occurrence).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// `host[:port]` the client used, for self-referencing URLs.
    pub host: String,
    /// Set when the request arrived over an authenticated WebSocket.
    pub ws_auth: Option<(Uuid, u32)>,
}

impl Req {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        query_param(&self.query, name)
    }
}

/// A response as the routes produce it.
pub(crate) struct Resp {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Resp {
    fn empty(status: StatusCode) -> Self {
        Resp {
            status,
            headers: vec![],
            body: Bytes::new(),
        }
    }

    pub(crate) fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Self {
        Resp {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: Bytes::from(to_json(v)),
        }
    }

    /// An error with the generic `{code, message}` body. `message` is static text, never
    /// request data (SPEC §7).
    pub(crate) fn error(status: StatusCode, message: &'static str) -> Self {
        Resp::json(
            status,
            &ErrorResponse {
                code: status.as_u16(),
                message: message.into(),
            },
        )
    }
}

/// Map a body-parsing failure: too long → 413, anything else → 400 (SPEC §7).
fn bad_body(e: &ApiError) -> Resp {
    match e {
        ApiError::TooLong { .. } => Resp::error(StatusCode::PAYLOAD_TOO_LARGE, "too large"),
        _ => Resp::error(StatusCode::BAD_REQUEST, "malformed request body"),
    }
}

/// A rate-limited send (SPEC §8): the configured status (429, or 413) with `Retry-After`.
/// Counted for `GET /v1/sim/stats` (§7.11).
pub(crate) fn rate_limited(sim: &Sim, retry_after_secs: u64) -> Resp {
    sim.rate_limited
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let status = match sim.config.rate_limit_status {
        crate::RateLimitStatus::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        crate::RateLimitStatus::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
    };
    Resp {
        status,
        headers: vec![("retry-after", retry_after_secs.to_string())],
        body: Bytes::new(),
    }
}

/// A 409 with its device lists (SPEC §7.4 step 7, §7.10 step 5), counted (§7.11).
pub(crate) fn device_mismatch<T: serde::Serialize>(sim: &Sim, body: &T) -> Resp {
    sim.mismatched_devices
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Resp::json(StatusCode::CONFLICT, body)
}

/// A 410 with its stale devices (SPEC §7.4 step 8, §7.10 step 5), counted (§7.11).
pub(crate) fn stale_devices<T: serde::Serialize>(sim: &Sim, body: &T) -> Resp {
    sim.stale_devices
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Resp::json(StatusCode::GONE, body)
}

fn parse<T: serde::de::DeserializeOwned + Validate>(body: &[u8]) -> Result<T, Resp> {
    parse_json(body).map_err(|e| bad_body(&e))
}

pub(crate) fn now_ms() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn random_token(bytes: usize) -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub(crate) fn random_uuid() -> Uuid {
    use rand::RngCore as _;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// Decode `%XX` and `+` in a query value.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode(v))
}

enum Caller {
    Device(Uuid, u32),
    Anonymous,
}

/// Authenticate with the WebSocket identity or the `Authorization` header (SPEC §3).
/// `Ok(Anonymous)` when no credentials were presented; `Err` (401) when they are wrong.
fn caller(st: &State, req: &Req) -> Result<Caller, Resp> {
    if let Some((aci, dev)) = req.ws_auth {
        return Ok(Caller::Device(aci, dev));
    }
    let Some(h) = req.header("authorization") else {
        return Ok(Caller::Anonymous);
    };
    let unauthorized = || Resp::error(StatusCode::UNAUTHORIZED, "unauthorized");
    let auth = BasicAuth::parse_header(h).map_err(|_| unauthorized())?;
    match auth.username {
        Username::Device { aci, device_id } => {
            st.authenticate(aci, device_id, auth.password.expose())
                .ok_or_else(unauthorized)?;
            Ok(Caller::Device(aci, device_id))
        }
        Username::Number(_) => Err(unauthorized()),
    }
}

fn require_device(st: &State, req: &Req) -> Result<(Uuid, u32), Resp> {
    match caller(st, req)? {
        Caller::Device(a, d) => Ok((a, d)),
        Caller::Anonymous => Err(Resp::error(StatusCode::UNAUTHORIZED, "unauthorized")),
    }
}

/// Route one request. Runs under the state lock only for short sections.
pub(crate) fn handle(sim: &Sim, req: Req) -> Resp {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let r = match (&req.method, segs.as_slice()) {
        (&Method::POST, ["v1", "verification", "session"]) => create_session(sim, &req),
        (&Method::PATCH, ["v1", "verification", "session", id]) => update_session(sim, &req, id),
        (&Method::GET, ["v1", "verification", "session", id]) => get_session(sim, id),
        (&Method::POST, ["v1", "verification", "session", id, "code"]) => {
            request_code(sim, &req, id)
        }
        (&Method::PUT, ["v1", "verification", "session", id, "code"]) => submit_code(sim, &req, id),
        (&Method::POST, ["v1", "registration"]) => register(sim, &req),
        (&Method::PUT, ["v2", "keys"]) => set_keys(sim, &req),
        (&Method::GET, ["v2", "keys"]) => key_counts(sim, &req),
        (&Method::GET, ["v2", "keys", id, dev]) => get_keys(sim, &req, id, dev),
        (&Method::PUT, ["v1", "messages", "multi_recipient"]) => crate::mrm::send_multi(sim, &req),
        (&Method::PUT, ["v1", "messages", id]) => send_message(sim, &req, id),
        (&Method::GET, ["v1", "certificate", "delivery"]) => sender_certificate(sim, &req),
        (&Method::GET, ["v4", "attachments", "form", "upload"]) => upload_form(sim, &req),
        (&Method::PUT, ["attachments", key]) => upload(sim, &req, key),
        (&Method::GET, ["attachments", key]) => download(sim, key),
        (&Method::HEAD, ["v1", "accounts", "account", id]) => account_exists(sim, id),
        (&Method::GET, ["v1", "directory", e164]) => directory(sim, &req, e164),
        (&Method::GET, ["v1", "devices", "provisioning", "code"]) => link_code(sim, &req),
        (&Method::PUT, ["v1", "devices", "link"]) => link_device(sim, &req),
        (&Method::GET, ["v1", "devices"]) => list_devices(sim, &req),
        (&Method::DELETE, ["v1", "devices", id]) => remove_device(sim, &req, id),
        (&Method::GET, ["v1", "sim", "stats"]) => Ok(Resp::json(StatusCode::OK, &sim.stats())),
        _ => Err(Resp::error(StatusCode::NOT_FOUND, "not found")),
    };
    r.unwrap_or_else(|e| e)
}

type R = Result<Resp, Resp>;

fn session_response(id: &str, s: &VerificationSession) -> VerificationSessionResponse {
    VerificationSessionResponse {
        id: id.to_owned(),
        next_sms: (!s.verified).then_some(0),
        next_call: (!s.verified).then_some(0),
        next_verification_attempt: s.code.is_some().then_some(0),
        allowed_to_request_code: !s.verified,
        requested_information: vec![],
        verified: s.verified,
    }
}

// SPEC §7.1
fn create_session(sim: &Sim, req: &Req) -> R {
    let body: CreateVerificationSessionRequest = parse(&req.body)?;
    let id = random_token(16);
    let s = VerificationSession {
        number: body.number,
        code: None,
        verified: false,
    };
    let resp = session_response(&id, &s);
    sim.state().sessions.insert(id, s);
    Ok(Resp::json(StatusCode::OK, &resp))
}

fn update_session(sim: &Sim, req: &Req, id: &str) -> R {
    let _: UpdateVerificationSessionRequest = parse(&req.body)?;
    get_session(sim, id)
}

fn get_session(sim: &Sim, id: &str) -> R {
    let st = sim.state();
    let s = st
        .sessions
        .get(id)
        .ok_or_else(|| Resp::error(StatusCode::NOT_FOUND, "no such session"))?;
    Ok(Resp::json(StatusCode::OK, &session_response(id, s)))
}

fn request_code(sim: &Sim, req: &Req, id: &str) -> R {
    let _: VerificationCodeRequest = parse(&req.body)?;
    let code = {
        use rand::Rng as _;
        format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
    };
    let mut st = sim.state();
    let s = st
        .sessions
        .get_mut(id)
        .ok_or_else(|| Resp::error(StatusCode::NOT_FOUND, "no such session"))?;
    if s.verified {
        return Err(Resp::error(
            StatusCode::CONFLICT,
            "session already verified",
        ));
    }
    // SPEC §7.1: the code goes to the sim's log in place of an SMS.
    tracing::info!(
        session = id,
        code = code.as_str(),
        "signal-sim verification code"
    );
    s.code = Some(code);
    Ok(Resp::json(StatusCode::OK, &session_response(id, s)))
}

fn submit_code(sim: &Sim, req: &Req, id: &str) -> R {
    let body: SubmitVerificationCodeRequest = parse(&req.body)?;
    let mut st = sim.state();
    let s = st
        .sessions
        .get_mut(id)
        .ok_or_else(|| Resp::error(StatusCode::NOT_FOUND, "no such session"))?;
    let Some(expected) = &s.code else {
        return Err(Resp::error(StatusCode::CONFLICT, "no code requested"));
    };
    if sim.config.accept_any_code || *expected == body.code {
        s.verified = true;
    }
    Ok(Resp::json(StatusCode::OK, &session_response(id, s)))
}

/// Basic auth naming an account by number (`<e164>:<password>`), as registration and
/// linking use it: the credentials and the number, or 401.
fn number_auth(req: &Req) -> Result<(BasicAuth, String), Resp> {
    let unauthorized = || Resp::error(StatusCode::UNAUTHORIZED, "unauthorized");
    let auth = req
        .header("authorization")
        .and_then(|h| BasicAuth::parse_header(h).ok())
        .ok_or_else(unauthorized)?;
    match &auth.username {
        Username::Number(n) => {
            let n = n.clone();
            Ok((auth, n))
        }
        Username::Device { .. } => Err(unauthorized()),
    }
}

// SPEC §7.2
fn register(sim: &Sim, req: &Req) -> R {
    let (auth, number) = number_auth(req)?;
    let number = &number;
    let body: RegistrationRequest = parse(&req.body)?;
    let attrs = &body.account_attributes;
    let mut st = sim.state();
    let session_ok = body
        .session_id
        .as_ref()
        .and_then(|id| st.sessions.get(id))
        .is_some_and(|s| s.verified && s.number == *number);
    if !session_ok {
        return Err(Resp::error(
            StatusCode::FORBIDDEN,
            "session not verified for this number",
        ));
    }
    let existing = st.by_number.get(number).copied();
    let (aci, pni) = match existing.and_then(|a| st.accounts.get(&a)) {
        Some(a) => (a.aci, a.pni),
        None => (random_uuid(), random_uuid()),
    };
    let mut acct = Account::new(
        aci,
        pni,
        number.clone(),
        [body.aci_identity_key.clone(), body.pni_identity_key.clone()],
    );
    acct.uak = attrs
        .unidentified_access_key
        .as_deref()
        .and_then(|k| <[u8; 16]>::try_from(k).ok());
    acct.unrestricted_uak = attrs.unrestricted_unidentified_access;
    let device = Device::new(
        auth.password.expose(),
        now_ms(),
        (attrs.registration_id, attrs.pni_registration_id),
        device_keys(
            &body.aci_signed_pre_key,
            &body.aci_pq_last_resort_pre_key,
            &body.pni_signed_pre_key,
            &body.pni_pq_last_resort_pre_key,
        ),
    );
    acct.devices.insert(consts::PRIMARY_DEVICE_ID, device);
    // Re-registration replaces the old account (and closes its connections by dropping them).
    if let Some(old) = st.accounts.insert(aci, acct) {
        for d in old.devices.values() {
            if let Some(c) = &d.conn {
                let _ = c.tx.send(crate::state::Push::Replaced);
            }
        }
    }
    st.by_number.insert(number.clone(), aci);
    st.by_pni.insert(pni, aci);
    if let Some(id) = &body.session_id {
        st.sessions.remove(id);
    }
    Ok(Resp::json(
        StatusCode::OK,
        &AccountIdentityResponse {
            uuid: aci,
            number: number.clone(),
            pni,
            username_hash: None,
            storage_capable: false,
        },
    ))
}

// SPEC §7.12
fn link_code(sim: &Sim, req: &Req) -> R {
    let mut st = sim.state();
    let (aci, dev) = require_device(&st, req)?;
    if dev != consts::PRIMARY_DEVICE_ID {
        return Err(Resp::error(
            StatusCode::UNAUTHORIZED,
            "only the primary device links devices",
        ));
    }
    let full = st
        .accounts
        .get(&aci)
        .is_none_or(|a| a.next_device_id().is_none());
    if full {
        return Err(Resp::error(StatusCode::LENGTH_REQUIRED, "too many devices"));
    }
    let now = Instant::now();
    st.link_codes
        .retain(|_, c| now.duration_since(c.issued) < LINK_CODE_LIFETIME);
    let code = random_token(24);
    st.link_codes
        .insert(code.clone(), LinkCode { aci, issued: now });
    Ok(Resp::json(
        StatusCode::OK,
        &LinkDeviceVerificationCode {
            verification_code: code,
            token_identifier: random_token(16),
        },
    ))
}

fn link_device(sim: &Sim, req: &Req) -> R {
    let (auth, number) = number_auth(req)?;
    let number = &number;
    let body: LinkDeviceRequest = parse(&req.body)?;
    let attrs = &body.account_attributes;
    let forbidden = || Resp::error(StatusCode::FORBIDDEN, "bad verification code");
    let mut guard = sim.state();
    let st = &mut *guard;
    // Single use: the code is gone whatever happens next.
    let code = st
        .link_codes
        .remove(&body.verification_code)
        .filter(|c| c.issued.elapsed() < LINK_CODE_LIFETIME)
        .ok_or_else(forbidden)?;
    let acct = st
        .accounts
        .get_mut(&code.aci)
        .filter(|a| a.number == *number)
        .ok_or_else(forbidden)?;
    let device_id = acct
        .next_device_id()
        .ok_or_else(|| Resp::error(StatusCode::LENGTH_REQUIRED, "too many devices"))?;
    let device = Device::new(
        auth.password.expose(),
        now_ms(),
        (attrs.registration_id, attrs.pni_registration_id),
        device_keys(
            &body.aci_signed_pre_key,
            &body.aci_pq_last_resort_pre_key,
            &body.pni_signed_pre_key,
            &body.pni_pq_last_resort_pre_key,
        ),
    );
    acct.devices.insert(device_id, device);
    Ok(Resp::json(
        StatusCode::OK,
        &LinkDeviceResponse {
            uuid: acct.aci,
            pni: acct.pni,
            device_id,
        },
    ))
}

fn list_devices(sim: &Sim, req: &Req) -> R {
    let st = sim.state();
    let (aci, _) = require_device(&st, req)?;
    let acct = st.accounts.get(&aci).expect("invariant: authenticated");
    let devices = acct
        .devices
        .iter()
        .map(|(&id, d)| DeviceInfo {
            id,
            name: None,
            last_seen: d.created,
            created: d.created,
        })
        .collect();
    Ok(Resp::json(StatusCode::OK, &DeviceInfoList { devices }))
}

fn remove_device(sim: &Sim, req: &Req, id: &str) -> R {
    let target = auth::parse_device_id(id)
        .map_err(|_| Resp::error(StatusCode::BAD_REQUEST, "bad device id"))?;
    let mut st = sim.state();
    let (aci, dev) = require_device(&st, req)?;
    if dev != consts::PRIMARY_DEVICE_ID {
        return Err(Resp::error(
            StatusCode::UNAUTHORIZED,
            "only the primary device removes devices",
        ));
    }
    if target == consts::PRIMARY_DEVICE_ID {
        return Err(Resp::error(
            StatusCode::FORBIDDEN,
            "the primary device cannot be removed",
        ));
    }
    let acct = st.accounts.get_mut(&aci).expect("invariant: authenticated");
    // Its queue goes with it; its live connection is told to close (SPEC §7.12).
    if let Some(removed) = acct.devices.remove(&target) {
        if let Some(c) = &removed.conn {
            let _ = c.tx.send(crate::state::Push::Removed);
        }
    }
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

// SPEC §7.3
fn identity_param(req: &Req) -> Result<Identity, Resp> {
    match req.query_param("identity").as_deref() {
        None | Some("aci") => Ok(Identity::Aci),
        Some("pni") => Ok(Identity::Pni),
        Some(_) => Err(Resp::error(StatusCode::BAD_REQUEST, "bad identity")),
    }
}

fn set_keys(sim: &Sim, req: &Req) -> R {
    let identity = identity_param(req)?;
    let body: SetKeysRequest = parse(&req.body)?;
    let mut st = sim.state();
    let (aci, dev) = require_device(&st, req)?;
    let keys = &mut st
        .accounts
        .get_mut(&aci)
        .and_then(|a| a.devices.get_mut(&dev))
        .ok_or_else(|| Resp::error(StatusCode::UNAUTHORIZED, "unauthorized"))?
        .keys[identity as usize];
    // As on the real service, an upload replaces the stored one-time keys of that kind.
    if let Some(k) = body.pre_keys {
        keys.one_time = k.into();
    }
    if let Some(k) = body.pq_pre_keys {
        keys.pq_one_time = k.into();
    }
    if let Some(k) = body.signed_pre_key {
        keys.signed = Some(k);
    }
    if let Some(k) = body.pq_last_resort_pre_key {
        keys.pq_last_resort = Some(k);
    }
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

fn key_counts(sim: &Sim, req: &Req) -> R {
    let identity = identity_param(req)?;
    let st = sim.state();
    let (aci, dev) = require_device(&st, req)?;
    let keys = &st
        .accounts
        .get(&aci)
        .and_then(|a| a.devices.get(&dev))
        .ok_or_else(|| Resp::error(StatusCode::UNAUTHORIZED, "unauthorized"))?
        .keys[identity as usize];
    let n = |l: usize| u32::try_from(l).unwrap_or(u32::MAX);
    Ok(Resp::json(
        StatusCode::OK,
        &PreKeyCount {
            count: n(keys.one_time.len()),
            pq_count: n(keys.pq_one_time.len()),
        },
    ))
}

fn decode_uak(req: &Req) -> Option<Result<Vec<u8>, Resp>> {
    req.header(consts::UNIDENTIFIED_ACCESS_KEY).map(|h| {
        b64::decode(h.trim())
            .filter(|k| k.len() == limits::UNIDENTIFIED_ACCESS_KEY_LEN)
            .ok_or_else(|| Resp::error(StatusCode::UNAUTHORIZED, "unauthorized"))
    })
}

fn get_keys(sim: &Sim, req: &Req, id: &str, dev: &str) -> R {
    let target =
        ServiceId::parse(id).map_err(|_| Resp::error(StatusCode::BAD_REQUEST, "bad service id"))?;
    let wanted: Option<u32> = if dev == "*" {
        None
    } else {
        Some(
            auth::parse_device_id(dev)
                .map_err(|_| Resp::error(StatusCode::BAD_REQUEST, "bad device id"))?,
        )
    };
    let uak = decode_uak(req).transpose()?;
    let mut st = sim.state();
    let authed = matches!(caller(&st, req)?, Caller::Device(..));
    let (aci, identity) = st
        .resolve(&target)
        .ok_or_else(|| Resp::error(StatusCode::NOT_FOUND, "not found"))?;
    let acct = st
        .accounts
        .get_mut(&aci)
        .expect("invariant: resolved above");
    if !authed && !uak.as_deref().is_some_and(|k| acct.uak_allows(k)) {
        return Err(Resp::error(StatusCode::UNAUTHORIZED, "unauthorized"));
    }
    let mut devices = Vec::new();
    for (&device_id, d) in acct.devices.iter_mut() {
        if wanted.is_some_and(|w| w != device_id) {
            continue;
        }
        let registration_id = d.registration_id(identity);
        let keys = &mut d.keys[identity as usize];
        // SPEC §7.3: one-time keys are consumed; Kyber falls back to the last-resort key.
        devices.push(PreKeyResponseItem {
            device_id,
            registration_id,
            signed_pre_key: keys.signed.clone(),
            pre_key: keys.one_time.pop_front(),
            pq_pre_key: keys
                .pq_one_time
                .pop_front()
                .or_else(|| keys.pq_last_resort.clone()),
        });
    }
    if devices.is_empty() {
        return Err(Resp::error(StatusCode::NOT_FOUND, "not found"));
    }
    Ok(Resp::json(
        StatusCode::OK,
        &PreKeyResponse {
            identity_key: acct.identity_keys[identity as usize].clone(),
            devices,
        },
    ))
}

// SPEC §7.4
fn send_message(sim: &Sim, req: &Req, id: &str) -> R {
    let dest =
        ServiceId::parse(id).map_err(|_| Resp::error(StatusCode::BAD_REQUEST, "bad service id"))?;
    if req.body.len() > limits::MAX_JSON_BODY_LEN {
        return Err(Resp::error(StatusCode::PAYLOAD_TOO_LARGE, "too large"));
    }
    let list: IncomingMessageList = parse(&req.body)?;
    let uak = decode_uak(req).transpose()?;
    let now = now_ms();
    let mut guard = sim.state();
    let st = &mut *guard;
    let sender = match caller(st, req)? {
        Caller::Device(a, d) => Some((a, d)),
        Caller::Anonymous if uak.is_some() => None,
        Caller::Anonymous => return Err(Resp::error(StatusCode::UNAUTHORIZED, "unauthorized")),
    };
    let (aci, identity) = st
        .resolve(&dest)
        .ok_or_else(|| Resp::error(StatusCode::NOT_FOUND, "not found"))?;
    let sender_number = sender.and_then(|(a, _)| st.accounts.get(&a).map(|a| a.number.clone()));
    let acct = st.accounts.get(&aci).expect("invariant: resolved above");
    if sender.is_none() && !uak.as_deref().is_some_and(|k| acct.uak_allows(k)) {
        return Err(Resp::error(StatusCode::UNAUTHORIZED, "unauthorized"));
    }
    for m in &list.messages {
        let ok = match sender {
            None => m.r#type == envelope::Type::UnidentifiedSender as u32,
            Some(_) => {
                envelope::Type::try_from(i32::try_from(m.r#type).unwrap_or(0)).is_ok_and(|t| {
                    t != envelope::Type::Unknown && t != envelope::Type::ServerDeliveryReceipt
                })
            }
        };
        if !ok {
            return Err(Resp::error(StatusCode::BAD_REQUEST, "bad message type"));
        }
    }
    // SPEC §7.4: the configurable challenge trigger.
    if sender_number.is_some_and(|n| sim.config.challenge_senders.contains(&n)) {
        return Err(Resp::json(
            StatusCode::PRECONDITION_REQUIRED,
            &ChallengeRequired {
                token: random_token(16),
                options: vec!["recaptcha".into(), "pushChallenge".into()],
            },
        ));
    }
    // SPEC §8
    if let Err(secs) = st.limiter.take(sender.map(|(a, _)| a), aci, Instant::now()) {
        return Err(rate_limited(sim, secs));
    }
    // Device list: every device of the recipient except the sending device itself.
    let to_self = sender.is_some_and(|(a, _)| a == aci);
    let expected: Vec<u32> = acct
        .devices
        .keys()
        .copied()
        .filter(|d| !(to_self && sender.is_some_and(|(_, sd)| sd == *d)))
        .collect();
    let listed: Vec<u32> = list
        .messages
        .iter()
        .map(|m| m.destination_device_id)
        .collect();
    let mismatch = MismatchedDevices {
        missing_devices: expected
            .iter()
            .copied()
            .filter(|d| !listed.contains(d))
            .collect(),
        extra_devices: listed
            .iter()
            .copied()
            .filter(|d| !expected.contains(d))
            .collect(),
    };
    if !mismatch.missing_devices.is_empty() || !mismatch.extra_devices.is_empty() {
        return Err(device_mismatch(sim, &mismatch));
    }
    let stale = StaleDevices {
        stale_devices: list
            .messages
            .iter()
            .filter(|m| {
                acct.devices
                    .get(&m.destination_device_id)
                    .is_some_and(|d| d.registration_id(identity) != m.destination_registration_id)
            })
            .map(|m| m.destination_device_id)
            .collect(),
    };
    if !stale.stale_devices.is_empty() {
        return Err(stale_devices(sim, &stale));
    }
    let dest_str = dest.to_string();
    for m in list.messages {
        let env = Envelope {
            r#type: i32::try_from(m.r#type).ok(),
            source_service_id: sender.map(|(a, _)| a.hyphenated().to_string()),
            source_device: sender.map(|(_, d)| d),
            timestamp: Some(list.timestamp),
            content: Some(m.content),
            server_guid: Some(random_uuid().hyphenated().to_string()),
            server_timestamp: Some(now),
            ephemeral: list.online.then_some(true),
            destination_service_id: Some(dest_str.clone()),
            urgent: Some(list.urgent),
            story: None,
            report_spam_token: None,
            shared_mrm_key: None,
        };
        st.deliver(
            aci,
            m.destination_device_id,
            Bytes::from(env.encode_to_vec()),
            list.online,
        );
    }
    Ok(Resp::json(
        StatusCode::OK,
        &SendMessageResponse { needs_sync: false },
    ))
}

// SPEC §7.5
fn sender_certificate(sim: &Sim, req: &Req) -> R {
    let include_e164 = req.query_param("includeE164").as_deref() != Some("false");
    let (aci, dev, number, key) = {
        let st = sim.state();
        let (aci, dev) = require_device(&st, req)?;
        let a = st.accounts.get(&aci).expect("invariant: authenticated");
        (aci, dev, a.number.clone(), a.identity_keys[0].clone())
    };
    let cert = sim
        .certs
        .issue(aci, include_e164.then_some(number), dev, &key, now_ms())
        .map_err(|_| {
            Resp::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot issue a certificate for this identity key",
            )
        })?;
    Ok(Resp::json(
        StatusCode::OK,
        &SenderCertificateResponse { certificate: cert },
    ))
}

// SPEC §7.7
fn upload_form(sim: &Sim, req: &Req) -> R {
    let key = random_token(18);
    let token = random_token(18);
    let mut st = sim.state();
    require_device(&st, req)?;
    st.uploads.insert(
        key.clone(),
        Upload::Pending {
            token: token.clone(),
        },
    );
    Ok(Resp::json(
        StatusCode::OK,
        &AttachmentUploadForm {
            cdn: crate::ATTACHMENT_CDN,
            signed_upload_location: format!("https://{}/attachments/{key}?token={token}", req.host),
            key,
            headers: Default::default(),
        },
    ))
}

fn upload(sim: &Sim, req: &Req, key: &str) -> R {
    if req.body.len() > limits::MAX_ATTACHMENT_LEN {
        return Err(Resp::error(StatusCode::PAYLOAD_TOO_LARGE, "too large"));
    }
    let token = req.query_param("token").unwrap_or_default();
    let mut st = sim.state();
    match st.uploads.get(key) {
        Some(Upload::Pending { token: t })
            if bool::from(subtle::ConstantTimeEq::ct_eq(
                t.as_bytes(),
                token.as_bytes(),
            )) => {}
        Some(Upload::Done(_)) => return Err(Resp::error(StatusCode::CONFLICT, "already uploaded")),
        _ => return Err(Resp::error(StatusCode::FORBIDDEN, "bad upload location")),
    }
    st.uploads
        .insert(key.to_owned(), Upload::Done(req.body.clone()));
    Ok(Resp::empty(StatusCode::OK))
}

fn download(sim: &Sim, key: &str) -> R {
    match sim.state().uploads.get(key) {
        Some(Upload::Done(b)) => Ok(Resp {
            status: StatusCode::OK,
            headers: vec![("content-type", "application/octet-stream".into())],
            body: b.clone(),
        }),
        _ => Err(Resp::error(StatusCode::NOT_FOUND, "not found")),
    }
}

// SPEC §7.8
fn account_exists(sim: &Sim, id: &str) -> R {
    let target =
        ServiceId::parse(id).map_err(|_| Resp::error(StatusCode::BAD_REQUEST, "bad service id"))?;
    match sim.state().resolve(&target) {
        Some(_) => Ok(Resp::empty(StatusCode::OK)),
        None => Err(Resp::empty(StatusCode::NOT_FOUND)),
    }
}

// SPEC §7.9 — SIM-ONLY: stands in for contact discovery (CDSI).
fn directory(sim: &Sim, req: &Req, e164: &str) -> R {
    let st = sim.state();
    require_device(&st, req)?;
    let number = percent_decode(e164).unwrap_or_default();
    match st.by_number.get(&number) {
        Some(aci) => Ok(Resp::json(
            StatusCode::OK,
            &DirectoryLookupResponse { uuid: *aci },
        )),
        None => Err(Resp::error(StatusCode::NOT_FOUND, "not found")),
    }
}

/// A new device's ACI and PNI key sets from its registration or link request: the signed
/// and last-resort prekeys, no one-time keys yet.
fn device_keys(
    aci_signed: &json::SignedPreKey,
    aci_last_resort: &json::SignedPreKey,
    pni_signed: &json::SignedPreKey,
    pni_last_resort: &json::SignedPreKey,
) -> [KeySet; 2] {
    [
        KeySet {
            signed: Some(aci_signed.clone()),
            pq_last_resort: Some(aci_last_resort.clone()),
            ..KeySet::default()
        },
        KeySet {
            signed: Some(pni_signed.clone()),
            pq_last_resort: Some(pni_last_resort.clone()),
            ..KeySet::default()
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%2B1555").as_deref(), Some("+1555"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn query_params() {
        let q = "identity=pni&login=abc&password=p%3Aw";
        assert_eq!(query_param(q, "identity").as_deref(), Some("pni"));
        assert_eq!(query_param(q, "password").as_deref(), Some("p:w"));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param("", "x"), None);
        assert_eq!(query_param("novalue&x=1", "novalue"), None);
    }
}
