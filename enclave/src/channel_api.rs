//! Channel routes of the client API (SPEC §3.4). Every route that touches sealed state
//! takes the admin's SK and the highest epoch the admin's client has seen; SK lives in
//! `Zeroizing` buffers and is dropped when the request is done.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::api::{error, json, read_json, Body};
use crate::channels::ChannelError;
use crate::vault::model::{ChannelState, Language, Phone, Role, Settings, VouchMode};
use crate::vault::{ChannelId, Sk};
use crate::Enclave;

/// The work one unlock does; returns the JSON answer (without the epoch).
type UnlockedOp = Box<dyn FnOnce(&mut ChannelState) -> Result<Value, ChannelError> + Send>;

/// Largest channel request body (a members change of up to 1,000 numbers fits).
pub const MAX_CHANNEL_BODY: usize = 256 * 1024;
/// Most members one change request may add or remove.
pub const MAX_MEMBER_CHANGES: usize = 1000;

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn parse_id(hex_id: &str) -> Option<ChannelId> {
    let mut b = [0u8; 16];
    if hex_id.len() != 32
        || !hex_id
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return None;
    }
    for (i, chunk) in hex_id.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        b[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(ChannelId::from_bytes(b))
}

pub(crate) fn parse_sk(b64: &str) -> Result<Sk, ChannelError> {
    let raw = Zeroizing::new(
        B64.decode(b64.as_bytes())
            .map_err(|_| ChannelError::BadRequest("sk"))?,
    );
    let mut arr: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| ChannelError::BadRequest("sk"))?;
    let sk = Sk::from_bytes(arr);
    // `arr` is a stack copy of the key: wipe this binding before it goes out of scope.
    zeroize::Zeroize::zeroize(&mut arr);
    Ok(sk)
}

/// The channel id from the path (unknown form: `not_found`) and the JSON body (at most
/// `max` bytes), as every `POST /v1/channels/{id}/…` route starts.
pub(crate) async fn channel_request<T: serde::de::DeserializeOwned>(
    id: &str,
    req: Request<hyper::body::Incoming>,
    max: usize,
) -> Result<(ChannelId, T), Response<Body>> {
    let id = parse_id(id).ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found"))?;
    Ok((id, read_json(req, max).await?))
}

/// SPEC §3.3: the peer gets a code, the log gets the (user-data-free) detail.
pub(crate) fn channel_error(e: &ChannelError) -> Response<Body> {
    tracing::warn!(error = %e, "channel operation refused");
    match e {
        ChannelError::Unauthorized => error(StatusCode::UNAUTHORIZED, "unauthorized"),
        ChannelError::AdminUnauthorized(_) => error(StatusCode::FORBIDDEN, "admin_unauthorized"),
        ChannelError::RateLimited { retry_after_secs } => {
            let mut r = json(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({ "error": "rate_limited", "retry_after_secs": retry_after_secs }),
            );
            if let Ok(v) = retry_after_secs.to_string().parse() {
                r.headers_mut().insert("retry-after", v);
            }
            r
        }
        ChannelError::Rollback { .. } | ChannelError::EpochRollback { .. } => {
            error(StatusCode::CONFLICT, "rollback_detected")
        }
        ChannelError::Integrity(_) => error(StatusCode::BAD_GATEWAY, "integrity_failure"),
        ChannelError::Conflict => error(StatusCode::CONFLICT, "conflict"),
        ChannelError::BadRequest(_) => error(StatusCode::BAD_REQUEST, "bad_request"),
        ChannelError::Store(_) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    channel_id: String,
    sk: Zeroizing<String>,
    admin: Zeroizing<String>,
    /// ADMIN 1's verifying key and a proof by it over this session's binding (SPEC §3.4,
    /// VAULT.md §20).
    admin_key: String,
    admin_proof: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Unlock {
    sk: Zeroizing<String>,
    min_epoch: u64,
    #[serde(default)]
    set: Option<SettingsChange>,
    #[serde(default)]
    add: Vec<NewMember>,
    #[serde(default)]
    remove: Vec<Zeroizing<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    hotline: Option<bool>,
    vouch_mode: Option<String>,
    vouch_level: Option<u8>,
    disappearing_timer_secs: Option<u32>,
    subscriber_limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    number: Zeroizing<String>,
    role: String,
    #[serde(default)]
    language: Option<String>,
}

fn settings_json(s: &Settings) -> Value {
    json!({
        "hotline": s.hotline_on(),
        "vouch_mode": match s.vouch_mode() { VouchMode::Off => "off", VouchMode::On => "on", VouchMode::Admin => "admin" },
        "vouch_level": s.vouch_level(),
        "disappearing_timer_secs": s.disappearing_timer_secs(),
        "subscriber_limit": s.subscriber_limit(),
    })
}

fn language(s: Option<&str>) -> Result<Language, ChannelError> {
    Ok(match s.unwrap_or("EN").to_ascii_uppercase().as_str() {
        "EN" => Language::En,
        "ES" => Language::Es,
        "FR" => Language::Fr,
        "DE" => Language::De,
        _ => return Err(ChannelError::BadRequest("language")),
    })
}

fn language_code(l: Language) -> &'static str {
    match l {
        Language::En => "EN",
        Language::Es => "ES",
        Language::Fr => "FR",
        Language::De => "DE",
    }
}

fn counts(state: &ChannelState) -> Value {
    json!({ "admins": state.admin_count(), "subscribers": state.subscriber_count() })
}

/// `POST /v1/channels`.
pub async fn create(enclave: Arc<Enclave>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let binding = req
        .extensions()
        .get::<crate::events::SessionBinding>()
        .cloned();
    let body: CreateRequest = match read_json(req, MAX_CHANNEL_BODY).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let r = async {
        let id = parse_id(&body.channel_id).ok_or(ChannelError::BadRequest("channel_id"))?;
        let sk = parse_sk(&body.sk)?;
        let admin = Phone::parse(&body.admin)?;
        let key = crate::lifecycle_api::parse_admin_key(Some(&body.admin_key))?;
        let proof = B64
            .decode(body.admin_proof.as_bytes())
            .map_err(|_| ChannelError::AdminUnauthorized("proof encoding"))?;
        let binding = binding.as_ref().map(|b| b.as_bytes()).unwrap_or_default();
        crate::vault::admin_keys::verify_with(&key, &id, &admin, binding, Some(&proof))?;
        let epoch = enclave
            .channels
            .create(&enclave.blobs, &id, &sk, admin, key)
            .await?;
        Ok::<_, ChannelError>((id, epoch))
    }
    .await;
    match r {
        Ok((id, epoch)) => json(
            StatusCode::CREATED,
            &json!({ "channel_id": id.to_hex(), "epoch": epoch }),
        ),
        Err(e) => channel_error(&e),
    }
}

/// `POST /v1/channels/{id}/{op}` for info, members, settings, members/change.
pub async fn unlocked(
    enclave: Arc<Enclave>,
    id: &str,
    op: &str,
    req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let (id, body): (ChannelId, Unlock) = match channel_request(id, req, MAX_CHANNEL_BODY).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let sk = parse_sk(&body.sk)?;
        let (write, op_fn): (bool, UnlockedOp) = match op {
            "info" => (
                false,
                Box::new(|s: &mut ChannelState| {
                    let mut v = counts(s);
                    v["settings"] = settings_json(s.settings());
                    v["hotline_records"] = json!(s.hotline_count());
                    v["invites"] = json!(s.invite_count());
                    Ok(v)
                }),
            ),
            "members" => (
                false,
                Box::new(|s: &mut ChannelState| {
                    // Admins with their numbers (admins add and remove each other by
                    // number); subscribers with their language only: no admin learns a
                    // subscriber's number from the channel (DESIGN §1, SPEC §3.4).
                    let members: Vec<Value> = s
                        .members()
                        .iter()
                        .map(|m| {
                            if !m.is_admin() {
                                return json!({
                                    "role": "subscriber",
                                    "language": language_code(m.language()),
                                });
                            }
                            // An admin whose Signal number is hidden has none to show
                            // (VAULT.md §5): no number, not even their pseudonym.
                            let hidden = m.phone().is_pseudonym();
                            let number = (!hidden).then(|| m.phone().to_e164_string());
                            json!({
                                "role": "admin",
                                "admin": m.admin_index(),
                                "number": number.as_deref().map(String::as_str),
                                "number_hidden": hidden,
                                "language": language_code(m.language()),
                            })
                        })
                        .collect();
                    Ok(json!({ "members": members }))
                }),
            ),
            "settings" => {
                let change = body.set.unwrap_or_default();
                (
                    true,
                    Box::new(move |s: &mut ChannelState| {
                        let st = s.settings_mut();
                        if let Some(h) = change.hotline {
                            st.set_hotline_on(h);
                        }
                        if let Some(m) = change.vouch_mode.as_deref() {
                            st.set_vouch_mode(match m {
                                "off" => VouchMode::Off,
                                "on" => VouchMode::On,
                                "admin" => VouchMode::Admin,
                                _ => return Err(ChannelError::BadRequest("vouch_mode")),
                            });
                        }
                        if let Some(l) = change.vouch_level {
                            st.set_vouch_level(l)?;
                        }
                        if let Some(t) = change.disappearing_timer_secs {
                            st.set_disappearing_timer_secs(t);
                        }
                        if let Some(l) = change.subscriber_limit {
                            st.set_subscriber_limit(l)?;
                        }
                        Ok(json!({ "settings": settings_json(s.settings()) }))
                    }),
                )
            }
            "members/change" => {
                if body.add.len() + body.remove.len() > MAX_MEMBER_CHANGES {
                    return Err(ChannelError::BadRequest("too many changes"));
                }
                let mut add = Vec::with_capacity(body.add.len());
                for m in &body.add {
                    let role = match m.role.as_str() {
                        // Admins hold SK: they join only through the key lifecycle (one-time
                        // passphrase, votes), SPEC §3.6.
                        "admin" => {
                            return Err(ChannelError::BadRequest(
                                "admins are added with admin add (one-time passphrase)",
                            ))
                        }
                        "subscriber" => Role::Subscriber,
                        _ => return Err(ChannelError::BadRequest("role")),
                    };
                    add.push((
                        Phone::parse(&m.number)?,
                        role,
                        language(m.language.as_deref())?,
                    ));
                }
                let remove = body
                    .remove
                    .iter()
                    .map(|n| Phone::parse(n))
                    .collect::<Result<Vec<_>, _>>()?;
                (
                    true,
                    Box::new(move |s: &mut ChannelState| {
                        for (phone, role, lang) in add {
                            s.add_member(phone, role, lang)?;
                        }
                        for phone in &remove {
                            if s.member(phone).is_some_and(|m| m.is_admin()) {
                                // Removing an admin re-keys the channel (SPEC §3.6).
                                return Err(ChannelError::BadRequest(
                                    "admins are removed with admin remove (re-key)",
                                ));
                            }
                            s.remove_member(phone)
                                .ok_or(ChannelError::BadRequest("not a member"))?;
                        }
                        Ok(counts(s))
                    }),
                )
            }
            _ => return Err(ChannelError::BadRequest("unknown operation")),
        };
        enclave
            .channels
            .with_unlocked(
                &enclave.blobs,
                crate::channels::Unlock {
                    id: &id,
                    sk: &sk,
                    min_epoch: body.min_epoch,
                    now_secs: now_secs(),
                    write,
                },
                op_fn,
            )
            .await
    }
    .await;
    match r {
        Ok((mut v, epoch)) => {
            v["epoch"] = json!(epoch);
            json(StatusCode::OK, &v)
        }
        Err(ChannelError::BadRequest("unknown operation")) => {
            error(StatusCode::NOT_FOUND, "not_found")
        }
        Err(e) => channel_error(&e),
    }
}

/// `GET /v1/channels/{id}/status`: queue length, and `"resume": true` if only an unlock
/// restarts the channel's Signal receipt (SPEC §3.7); no SK, no unlock.
pub async fn status(enclave: Arc<Enclave>, id: &str) -> Response<Body> {
    let Some(id) = parse_id(id) else {
        return error(StatusCode::NOT_FOUND, "not_found");
    };
    match enclave.channels.queue_length(&enclave.blobs, &id).await {
        Ok(n) => {
            let mut v = json!({ "queue_length": n });
            if crate::events::needs_resume(&enclave, &id).await {
                v["resume"] = json!(true);
            }
            json(StatusCode::OK, &v)
        }
        Err(e) => channel_error(&e),
    }
}
