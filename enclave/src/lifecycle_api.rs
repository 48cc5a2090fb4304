//! Key-lifecycle routes of the client API (SPEC §3.6, issue 6): stale-key catch-up,
//! proposals (rotate SK, add an admin, remove an admin) with the per-channel approval
//! threshold, one-time-passphrase redemption and acceptance. The vault side is pure
//! (`vault::lifecycle`, VAULT.md §11–§17); this module loads and stores the blobs in the
//! order VAULT.md §16 gives and sends one-time passphrases and notices over Signal from the
//! channel's number (a second unlock through the courier).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hyper::{Request, Response, StatusCode};
use rand_core::OsRng;
use serde::Deserialize;
use serde_json::{json, Value};
use wire::blob::{BlobRequest, BlobResponse};
use zeroize::Zeroizing;

use crate::api::{error, Body};
use crate::channel_api::{channel_request, now_secs, parse_sk};
use crate::channels::{ChannelError, Opened, Unlock};
use crate::courier::chunks::{self, ChunkTable};
use crate::courier::live::SealTo;
use crate::courier::process::{self, Stats};
use crate::courier::slot::SignalSlot;
use crate::courier::CourierError;
use crate::events::SessionBinding;
use crate::failure::{respond, Failure};
use crate::relay::lifecycle_strings::{self as texts, Notice, Passphrase, Proposed};
use crate::relay::Effect;
use crate::vault::lifecycle::{
    self, invite_admin, DiscardReason, Otp, OtpSet, Outcome, ProposalKind, StaleTable,
    DEFAULT_OTP_TTL_SECS, DEFAULT_PROPOSAL_TTL_SECS,
};
use crate::vault::model::{ChannelState, Language, Phone};
use crate::vault::{admin_keys, names, seal_state, ChannelId, KeyRecord, Sk, VaultError};
use crate::Enclave;

/// Largest lifecycle request body (keys, a number, an OTP and a few integers in JSON).
pub const MAX_LIFECYCLE_BODY: usize = 4 * 1024;

/// The routes this module answers (after `/v1/channels/{id}/`).
pub const ROUTES: &[&str] = &[
    "key/catch-up",
    "proposals",
    "proposals/list",
    "proposals/vote",
    "admin/redeem",
    "admin/accept",
    "admin/resend",
    "approval-threshold",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LifecycleRequest {
    #[serde(default)]
    sk: Option<Zeroizing<String>>,
    #[serde(default)]
    min_epoch: u64,
    /// The acting admin's own number.
    #[serde(default)]
    admin: Option<Zeroizing<String>>,
    /// `proposals`: `rotate`, `add_admin` or `remove_admin`.
    #[serde(default)]
    kind: Option<String>,
    /// `proposals` (rotate, remove_admin), `proposals/vote`: the client's new SK, used if
    /// the call enacts a rotation or a re-key.
    #[serde(default)]
    new_sk: Option<Zeroizing<String>>,
    /// `proposals` (add_admin, remove_admin), `admin/resend`: the admin's number.
    #[serde(default)]
    phone: Option<Zeroizing<String>>,
    /// `proposals/vote`: which proposal, and how.
    #[serde(default)]
    proposal: Option<u32>,
    #[serde(default)]
    approve: Option<bool>,
    #[serde(default)]
    ttl_secs: Option<u64>,
    #[serde(default)]
    otp_ttl_secs: Option<u64>,
    /// `admin/redeem`, `admin/accept`.
    #[serde(default)]
    otp: Option<Zeroizing<String>>,
    /// `approval-threshold`.
    #[serde(default)]
    threshold: Option<u16>,
    /// Every route with `admin`: that admin's signature over this TLS session's binding
    /// (base64, SPEC §3.6 "Admin proof", VAULT.md §20). `admin/accept`: by the new key.
    #[serde(default)]
    admin_proof: Option<String>,
    /// `admin/accept`: the accepting admin's new verifying key (base64 of 32 bytes).
    #[serde(default)]
    admin_key: Option<String>,
    /// The session's channel binding, from the server, never from the body.
    #[serde(skip)]
    binding: Option<SessionBinding>,
}

/// `POST /v1/channels/{id}/<one of ROUTES>`.
pub async fn route(
    enclave: std::sync::Arc<Enclave>,
    id: &str,
    op: &str,
    req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let binding = req.extensions().get::<SessionBinding>().cloned();
    let (id, mut body): (ChannelId, LifecycleRequest) =
        match channel_request(id, req, MAX_LIFECYCLE_BODY).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    body.binding = binding;
    respond(match op {
        "key/catch-up" => catch_up(&enclave, &id, body).await,
        "proposals" => propose(&enclave, &id, body).await,
        "proposals/list" => list(&enclave, &id, body).await,
        "proposals/vote" => vote(&enclave, &id, body).await,
        "admin/redeem" => redeem(&enclave, &id, body).await,
        "admin/accept" => accept(&enclave, &id, body).await,
        "admin/resend" => resend(&enclave, &id, body).await,
        "approval-threshold" => threshold(&enclave, &id, body).await,
        _ => return error(StatusCode::NOT_FOUND, "not_found"),
    })
}

fn integrity(what: &str, r: &BlobResponse) -> Failure {
    ChannelError::Integrity(format!("host answered {} to {what}", r.kind_name())).into()
}

/// A blob and its version, or `None`.
async fn get(enclave: &Enclave, name: Vec<u8>) -> Result<Option<(u64, Vec<u8>)>, Failure> {
    match enclave.blobs.call(&BlobRequest::Get { name }).await? {
        BlobResponse::Blob { version, data } => Ok(Some((version, data))),
        BlobResponse::NotFound => Ok(None),
        other => Err(integrity("get", &other)),
    }
}

/// Compare-and-swap write (`expected` 0 = create).
async fn put(
    enclave: &Enclave,
    name: Vec<u8>,
    expected: u64,
    data: Vec<u8>,
) -> Result<(), Failure> {
    match enclave
        .blobs
        .call(&BlobRequest::Put {
            name,
            expected,
            data,
        })
        .await?
    {
        BlobResponse::Written { .. } => Ok(()),
        BlobResponse::Conflict { .. } => Err(ChannelError::Conflict.into()),
        other => Err(integrity("put", &other)),
    }
}

/// Drops the re-key undo record (best effort: a leftover one is cleaned up at the next
/// unlock that needs it, VAULT.md §16).
async fn delete_undo(enclave: &Enclave, id: &ChannelId) {
    if let Ok(Some((version, _))) = get(enclave, names::rekey_undo(id)).await {
        let _ = enclave
            .blobs
            .call(&BlobRequest::Delete {
                name: names::rekey_undo(id),
                expected: version,
            })
            .await;
    }
}

async fn load_stale(enclave: &Enclave, id: &ChannelId) -> Result<(u64, StaleTable), Failure> {
    Ok(match get(enclave, names::stale_keys(id)).await? {
        Some((v, data)) => {
            let t = StaleTable::decode(&data)?;
            if t.channel_id() != id {
                return Err(
                    ChannelError::Integrity("stale table of another channel".into()).into(),
                );
            }
            (v, t)
        }
        None => (0, StaleTable::new(*id)),
    })
}

async fn load_otps(enclave: &Enclave, id: &ChannelId) -> Result<(u64, OtpSet), Failure> {
    Ok(match get(enclave, names::otps(id)).await? {
        Some((v, data)) => {
            let s = OtpSet::decode(&data)?;
            if s.channel_id() != id {
                return Err(ChannelError::Integrity("OTP set of another channel".into()).into());
            }
            (v, s)
        }
        None => (0, OtpSet::new(*id)),
    })
}

async fn load_key_record(enclave: &Enclave, id: &ChannelId) -> Result<(u64, KeyRecord), Failure> {
    let (v, data) = get(enclave, names::key_record(id))
        .await?
        .ok_or(ChannelError::Unauthorized)?;
    let record = KeyRecord::decode(&data)?;
    if record.channel_id() != id {
        return Err(ChannelError::Integrity("key record of another channel".into()).into());
    }
    Ok((v, record))
}

/// Writes the SK-possession verifier (VAULT.md §15): last in every order, so a failure here
/// only delays proofs until the next write.
async fn put_verifier(enclave: &Enclave, id: &ChannelId, data: Vec<u8>) {
    let r = async {
        let v = get(enclave, names::proof_verifier(id))
            .await?
            .map_or(0, |(v, _)| v);
        put(enclave, names::proof_verifier(id), v, data).await
    }
    .await;
    if r.is_err() {
        tracing::warn!("verifier write failed; rewritten at the next key change");
    }
}

fn sk_of(body: &LifecycleRequest) -> Result<Sk, Failure> {
    let sk = body.sk.as_ref().ok_or(ChannelError::BadRequest("sk"))?;
    Ok(parse_sk(sk)?)
}

fn admin_of(body: &LifecycleRequest) -> Result<Phone, Failure> {
    let a = body
        .admin
        .as_ref()
        .ok_or(ChannelError::BadRequest("admin"))?;
    Ok(Phone::parse(a)?)
}

/// Only an authorized admin acts on proposals and keys, and only with a proof by their own
/// key (VAULT.md §20): SK alone does not let one admin act as another.
fn check_admin(
    id: &ChannelId,
    state: &ChannelState,
    admin: &Phone,
    body: &LifecycleRequest,
) -> Result<(), Failure> {
    authenticate(
        id,
        state,
        admin,
        body.binding.as_ref(),
        body.admin_proof.as_deref(),
    )
}

/// The shared check of every route that names an acting admin (SPEC §3.6 "Admin proof"):
/// not an authorized admin is `bad_request`; a missing, malformed or wrong proof is
/// `admin_unauthorized` (403).
pub(crate) fn authenticate(
    id: &ChannelId,
    state: &ChannelState,
    admin: &Phone,
    binding: Option<&SessionBinding>,
    proof_b64: Option<&str>,
) -> Result<(), Failure> {
    let binding = binding.map(SessionBinding::as_bytes).unwrap_or_default();
    let proof = decode_proof(proof_b64)?;
    match state.authenticate_admin(id, admin, binding, proof.as_deref()) {
        Ok(_) => Ok(()),
        Err(VaultError::NotMember) => {
            Err(ChannelError::BadRequest("not an admin of this channel").into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Base64 of a proof or key, bounded before decoding; unreadable is `admin_unauthorized`.
fn decode_proof(b64: Option<&str>) -> Result<Option<Vec<u8>>, Failure> {
    let Some(s) = b64 else { return Ok(None) };
    if s.len() > 128 {
        return Err(ChannelError::AdminUnauthorized("proof too long").into());
    }
    B64.decode(s.as_bytes())
        .map(Some)
        .map_err(|_| ChannelError::AdminUnauthorized("proof encoding").into())
}

async fn open(
    enclave: &Enclave,
    id: &ChannelId,
    sk: &Sk,
    min_epoch: u64,
    now: u64,
) -> Result<(Opened, ChannelState), Failure> {
    Ok(enclave
        .channels
        .open(
            &enclave.blobs,
            Unlock {
                id,
                sk,
                min_epoch,
                now_secs: now,
                write: true,
            },
        )
        .await?)
}

fn b64(sk: &Sk) -> Zeroizing<String> {
    Zeroizing::new(B64.encode(sk.expose()))
}

/// `key/catch-up` (VAULT.md §11): one hop of the stale-key chain per call. `current` if the
/// presented SK opens the key record; `next` with the successor SK otherwise. The client
/// stores the successor (keeping the old key until the successor is answered `current` or
/// leads further) and asks again, so the entry is re-served until it is acknowledged.
async fn catch_up(
    enclave: &Enclave,
    id: &ChannelId,
    body: LifecycleRequest,
) -> Result<Value, Failure> {
    let sk = sk_of(&body)?;
    let now = now_secs();
    let _guard = enclave.channels.lock(id).await;
    // Only failures are throttled (VAULT.md §8): a key that opens the record or a stale
    // entry always gets its answer.
    let record = match load_key_record(enclave, id).await {
        Err(Failure::Channel(ChannelError::Unauthorized)) => {
            return Err(enclave
                .channels
                .limiter_failure(id, now, VaultError::UnknownKey)
                .into());
        }
        r => r?.1,
    };
    if record.unwrap(&sk).is_ok() {
        return Ok(json!({ "status": "current" }));
    }
    let (_, table) = load_stale(enclave, id).await?;
    match table.lookup(&sk) {
        Ok((generation, next)) => {
            let next = b64(&next);
            Ok(json!({ "status": "next", "sk": next.as_str(), "generation": generation }))
        }
        Err(VaultError::UnknownKey) => Err(enclave
            .channels
            .limiter_failure(id, now, VaultError::UnknownKey)
            .into()),
        Err(e) => Err(e.into()),
    }
}

fn kind_json(state: &ChannelState, kind: &ProposalKind) -> Value {
    match kind {
        ProposalKind::Rotate => json!({ "kind": "rotate" }),
        ProposalKind::AddAdmin(p) => {
            let n = p.to_e164_string();
            json!({ "kind": "add_admin", "phone": n.as_str() })
        }
        ProposalKind::RemoveAdmin(n) => {
            let phone = state
                .admins()
                .find(|m| m.admin_index() == Some(*n))
                .map(|m| m.phone().to_e164_string());
            json!({ "kind": "remove_admin", "admin_index": n,
                    "phone": phone.as_ref().map(|p| p.as_str()) })
        }
    }
}

/// `proposals`: propose a key change; with threshold 1 (or enough approvals) it is enacted
/// in the same call.
async fn propose(
    enclave: &Enclave,
    id: &ChannelId,
    body: LifecycleRequest,
) -> Result<Value, Failure> {
    let sk = sk_of(&body)?;
    let admin = admin_of(&body)?;
    let now = now_secs();
    let phone = body.phone.as_deref().map(|p| Phone::parse(p)).transpose()?;
    let new_sk = body.new_sk.as_deref().map(|s| parse_sk(s)).transpose()?;
    let ttl = body.ttl_secs.unwrap_or(DEFAULT_PROPOSAL_TTL_SECS);
    let (opened, mut state) = open(enclave, id, &sk, body.min_epoch, now).await?;
    check_admin(id, &state, &admin, &body)?;
    let (_, swept) = sweep(&mut state, &admin, now);
    let kind = match body.kind.as_deref() {
        Some("rotate") => ProposalKind::Rotate,
        Some("add_admin") => {
            ProposalKind::AddAdmin(phone.ok_or(ChannelError::BadRequest("phone"))?)
        }
        Some("remove_admin") => {
            let p = phone.ok_or(ChannelError::BadRequest("phone"))?;
            let n = state
                .member(&p)
                .and_then(|m| m.admin_index())
                .ok_or(VaultError::NotMember)?;
            ProposalKind::RemoveAdmin(n)
        }
        _ => return Err(ChannelError::BadRequest("kind").into()),
    };
    let what = proposed(&kind);
    let (pid, outcome) = state.propose(&admin, kind, now, ttl)?;
    let mut notify = swept;
    if let Outcome::Pending { approvals, needed } = &outcome {
        let me = state
            .member(&admin)
            .and_then(|m| m.admin_index())
            .unwrap_or(0);
        let ch = id.to_hex();
        let to = other_admins(&state, &admin);
        notify.extend(localized(&state, to, None, |l| {
            texts::notice(
                l,
                Notice::Proposed {
                    by: me,
                    what: &what,
                    pid,
                    approvals: *approvals,
                    needed: *needed,
                    channel: &ch,
                },
            )
        }));
    }
    finish(
        enclave,
        id,
        opened,
        state,
        Decided {
            sk,
            admin,
            pid,
            outcome,
            new_sk,
            otp_ttl: body.otp_ttl_secs.unwrap_or(DEFAULT_OTP_TTL_SECS),
            now,
            notify,
        },
    )
    .await
}

/// `proposals/vote`.
async fn vote(enclave: &Enclave, id: &ChannelId, body: LifecycleRequest) -> Result<Value, Failure> {
    let sk = sk_of(&body)?;
    let admin = admin_of(&body)?;
    let pid = body.proposal.ok_or(ChannelError::BadRequest("proposal"))?;
    let approve = body.approve.ok_or(ChannelError::BadRequest("approve"))?;
    let new_sk = body.new_sk.as_deref().map(|s| parse_sk(s)).transpose()?;
    let now = now_secs();
    let (opened, mut state) = open(enclave, id, &sk, body.min_epoch, now).await?;
    check_admin(id, &state, &admin, &body)?;
    let outcome = state.vote(pid, &admin, approve, now)?;
    let mut notify = Vec::new();
    if let Outcome::Discarded(reason) = &outcome {
        let to = other_admins(&state, &admin);
        notify.extend(localized(&state, to, None, |l| {
            discarded_notice(l, pid, *reason)
        }));
    }
    notify.extend(sweep(&mut state, &admin, now).1);
    finish(
        enclave,
        id,
        opened,
        state,
        Decided {
            sk,
            admin,
            pid,
            outcome,
            new_sk,
            otp_ttl: body.otp_ttl_secs.unwrap_or(DEFAULT_OTP_TTL_SECS),
            now,
            notify,
        },
    )
    .await
}

/// `proposals/list`: open proposals, the threshold and the caller's admin index.
async fn list(enclave: &Enclave, id: &ChannelId, body: LifecycleRequest) -> Result<Value, Failure> {
    let sk = sk_of(&body)?;
    let admin = admin_of(&body)?;
    let now = now_secs();
    let (opened, mut state) = open(enclave, id, &sk, body.min_epoch, now).await?;
    check_admin(id, &state, &admin, &body)?;
    let (changed, notices) = sweep(&mut state, &admin, now);
    let proposals: Vec<Value> = state
        .proposals()
        .iter()
        .map(|p| {
            let mut v = kind_json(&state, p.kind());
            v["id"] = json!(p.id());
            v["proposer"] = json!(p.proposer());
            v["approvals"] = json!(p.approvals());
            v["rejections"] = json!(p.rejections());
            v["expires_at"] = json!(p.expires_at());
            v
        })
        .collect();
    let me = state.member(&admin).and_then(|m| m.admin_index());
    let threshold = state.approval_threshold();
    let generation = state.sk_generation();
    let epoch = if changed {
        let epoch = enclave
            .channels
            .commit(&enclave.blobs, opened, state)
            .await?;
        notify(enclave, id, &sk, epoch, notices).await.0
    } else {
        opened.epoch
    };
    Ok(json!({
        "epoch": epoch,
        "proposals": proposals,
        "threshold": threshold,
        "admin_index": me,
        "sk_generation": generation,
    }))
}

/// `approval-threshold`: sets how many admins must approve a key change (1..=admins).
async fn threshold(
    enclave: &Enclave,
    id: &ChannelId,
    body: LifecycleRequest,
) -> Result<Value, Failure> {
    let sk = sk_of(&body)?;
    let admin = admin_of(&body)?;
    let t = body
        .threshold
        .ok_or(ChannelError::BadRequest("threshold"))?;
    let (opened, mut state) = open(enclave, id, &sk, body.min_epoch, now_secs()).await?;
    check_admin(id, &state, &admin, &body)?;
    // Lowering the threshold would let one admin undo the vote requirement alone; there is
    // no proposal kind for it yet, so only raising (or keeping 1) is allowed directly.
    if t < state.approval_threshold() {
        return Err(VaultError::Refused {
            what: "lowering the approval threshold needs a vote",
        }
        .into());
    }
    state.set_approval_threshold(t)?;
    let epoch = enclave
        .channels
        .commit(&enclave.blobs, opened, state)
        .await?;
    Ok(json!({ "epoch": epoch, "threshold": t }))
}

/// A tallied proposal and what enacting it needs.
struct Decided {
    sk: Sk,
    admin: Phone,
    pid: u32,
    outcome: Outcome,
    new_sk: Option<Sk>,
    otp_ttl: u64,
    now: u64,
    /// Notices for the other admins if the proposal stays open or is discarded.
    notify: Notices,
}

/// Texts for the admins over Signal: who gets each.
type Notices = Vec<(Vec<Phone>, Zeroizing<String>)>;

/// Sweeps the proposals that can no longer be enacted (VAULT.md §14) and words a notice for
/// the other admins about each.
fn sweep(state: &mut ChannelState, admin: &Phone, now: u64) -> (bool, Notices) {
    let gone = state.sweep_proposals(now);
    let to = other_admins(state, admin);
    let notices = gone
        .iter()
        .flat_map(|(pid, reason)| {
            let to = to.iter().map(Phone::duplicate).collect();
            localized(state, to, None, |l| discarded_notice(l, *pid, *reason))
        })
        .collect();
    (!gone.is_empty(), notices)
}

fn discarded_notice(l: Language, pid: u32, reason: DiscardReason) -> Zeroizing<String> {
    texts::notice(l, Notice::Discarded { pid, reason })
}

/// The language of a lifecycle text for `to`: their own member language. Someone who is
/// not (yet) a member — a new admin being invited — gets the language of the admin `by`
/// whose call made the text happen (who proposed the add, cast its deciding vote, or asked
/// for the resend). With no such admin (an ADD over Signal that reached its threshold: the
/// courier does not pass its sender on) they get the channel's language: the one most of
/// its authorized admins use, EN on a tie (the channel has no language setting of its own).
fn language_for(state: &ChannelState, to: &Phone, by: Option<&Phone>) -> Language {
    state
        .member(to)
        .or_else(|| by.and_then(|b| state.member(b)))
        .map_or_else(|| channel_language(state), |m| m.language)
}

/// The language most of the channel's authorized admins use; EN on a tie.
fn channel_language(state: &ChannelState) -> Language {
    const ALL: [Language; 4] = [Language::En, Language::Es, Language::Fr, Language::De];
    let mut counts = [0usize; ALL.len()];
    for m in state.admins().filter(|m| !state.is_deauthorized(m.phone())) {
        counts[m.language as usize] += 1;
    }
    let most = counts.iter().copied().max().unwrap_or(0);
    let mut top = ALL.into_iter().filter(|l| counts[*l as usize] == most);
    match (top.next(), top.next()) {
        (Some(l), None) => l,
        _ => Language::En,
    }
}

/// One text per language among `to` ([`language_for`] each), each with its recipients.
fn localized(
    state: &ChannelState,
    to: Vec<Phone>,
    by: Option<&Phone>,
    text: impl Fn(Language) -> Zeroizing<String>,
) -> Notices {
    let mut groups: Vec<(Language, Vec<Phone>)> = Vec::new();
    for p in to {
        let l = language_for(state, &p, by);
        match groups.iter_mut().find(|(g, _)| *g == l) {
            Some((_, group)) => group.push(p),
            None => groups.push((l, vec![p])),
        }
    }
    groups.into_iter().map(|(l, to)| (to, text(l))).collect()
}

/// Every eligible admin except `except`.
fn other_admins(state: &ChannelState, except: &Phone) -> Vec<Phone> {
    state
        .admins()
        .filter(|m| m.phone() != except && !state.is_deauthorized(m.phone()))
        .map(|m| m.phone().duplicate())
        .collect()
}

fn proposed(kind: &ProposalKind) -> Proposed {
    match kind {
        ProposalKind::Rotate => Proposed::Rotate,
        ProposalKind::AddAdmin(p) => Proposed::AddAdmin(p.to_e164_string()),
        ProposalKind::RemoveAdmin(n) => Proposed::RemoveAdmin(*n),
    }
}

async fn finish(
    enclave: &Enclave,
    id: &ChannelId,
    opened: Opened,
    state: ChannelState,
    d: Decided,
) -> Result<Value, Failure> {
    let pid = d.pid;
    match d.outcome {
        Outcome::Pending { approvals, needed } => {
            let epoch = enclave
                .channels
                .commit(&enclave.blobs, opened, state)
                .await?;
            let (epoch, notified) = notify(enclave, id, &d.sk, epoch, d.notify).await;
            Ok(
                json!({ "epoch": epoch, "proposal": pid, "outcome": "pending",
                       "approvals": approvals, "needed": needed, "notified": notified }),
            )
        }
        Outcome::Discarded(reason) => {
            let epoch = enclave
                .channels
                .commit(&enclave.blobs, opened, state)
                .await?;
            let (epoch, notified) = notify(enclave, id, &d.sk, epoch, d.notify).await;
            Ok(
                json!({ "epoch": epoch, "proposal": pid, "outcome": "discarded",
                       "reason": format!("{reason:?}").to_lowercase(), "notified": notified }),
            )
        }
        Outcome::Enact(ProposalKind::Rotate) => {
            let new_sk = d.new_sk.unwrap_or_else(|| Sk::generate(&mut OsRng));
            let (epoch, generation) =
                enact_rotate(enclave, id, opened, state, &d.sk, &new_sk).await?;
            let (epoch, _) = notify(enclave, id, &new_sk, epoch, d.notify).await;
            let sk = b64(&new_sk);
            Ok(
                json!({ "epoch": epoch, "proposal": pid, "outcome": "enacted", "kind": "rotate",
                       "sk": sk.as_str(), "sk_generation": generation }),
            )
        }
        Outcome::Enact(ProposalKind::AddAdmin(phone)) => {
            let (epoch, stats) = enact_add(
                enclave,
                id,
                opened,
                state,
                &d.sk,
                phone,
                Some(&d.admin),
                d.otp_ttl,
                d.now,
            )
            .await?;
            let (epoch, _) = notify(enclave, id, &d.sk, epoch, d.notify).await;
            Ok(
                json!({ "epoch": epoch, "proposal": pid, "outcome": "enacted",
                       "kind": "add_admin", "stats": stats }),
            )
        }
        Outcome::Enact(ProposalKind::RemoveAdmin(n)) => {
            let (epoch, new_sk, generation, stats) =
                enact_remove(enclave, id, opened, state, d, n).await?;
            let sk = b64(&new_sk);
            Ok(
                json!({ "epoch": epoch, "proposal": pid, "outcome": "enacted",
                       "kind": "remove_admin", "sk": sk.as_str(), "sk_generation": generation,
                       "stats": stats }),
            )
        }
    }
}

/// Best effort: tells the other admins about an open or discarded proposal over Signal.
/// Returns the epoch after the sending unlock and how many messages were delivered.
async fn notify(
    enclave: &Enclave,
    id: &ChannelId,
    sk: &Sk,
    epoch: u64,
    msgs: Notices,
) -> (u64, usize) {
    if msgs.iter().all(|(to, _)| to.is_empty()) || enclave.courier.is_none() {
        return (epoch, 0);
    }
    match send_notices(enclave, id, sk, epoch, msgs).await {
        Ok((e, stats)) => (e, stats.delivered),
        Err(_) => {
            tracing::warn!("proposal notice not sent; admins see it in `proposals list`");
            (epoch, 0)
        }
    }
}

/// VAULT.md §16 rotate: stale table, then state, then key record, then verifier.
async fn enact_rotate(
    enclave: &Enclave,
    id: &ChannelId,
    opened: Opened,
    mut state: ChannelState,
    sk: &Sk,
    new_sk: &Sk,
) -> Result<(u64, u64), Failure> {
    let (kv, record) = load_key_record(enclave, id).await?;
    let (tv, mut table) = load_stale(enclave, id).await?;
    let rotated = lifecycle::rotate(
        id,
        &mut state,
        &record,
        opened.dk(),
        sk,
        new_sk,
        &mut table,
        &mut OsRng,
    )?;
    put(enclave, names::stale_keys(id), tv, table.encode()).await?;
    let epoch = enclave
        .channels
        .commit(&enclave.blobs, opened, state)
        .await?;
    put(
        enclave,
        names::key_record(id),
        kv,
        rotated.key_record.encode(),
    )
    .await?;
    put_verifier(enclave, id, rotated.verifier.encode()).await;
    Ok((epoch, rotated.generation))
}

/// A one-time passphrase message in `l` (`relay::lifecycle_strings::passphrase_text`: one
/// buffer sized up front, so no reallocation leaves a copy of the passphrase behind).
fn passphrase_text(
    l: Language,
    kind: Passphrase,
    id: &ChannelId,
    otp: &Otp,
    ttl: u64,
) -> Zeroizing<String> {
    texts::passphrase_text(l, kind, &id.to_hex(), otp.to_text().as_str(), ttl)
}

/// VAULT.md §16 invite: OTP set, then state (pending admin), then the OTP over Signal, in
/// the invitee's language ([`language_for`]; `by` is the admin whose call enacted the add).
#[allow(clippy::too_many_arguments)]
async fn enact_add(
    enclave: &Enclave,
    id: &ChannelId,
    opened: Opened,
    mut state: ChannelState,
    sk: &Sk,
    phone: Phone,
    by: Option<&Phone>,
    otp_ttl: u64,
    now: u64,
) -> Result<(u64, Stats), Failure> {
    let (ov, mut otps) = load_otps(enclave, id).await?;
    otps.purge_expired(now);
    let to = phone.duplicate();
    let lang = language_for(&state, &phone, by);
    let otp = invite_admin(
        id, &mut state, &mut otps, sk, phone, now, otp_ttl, &mut OsRng,
    )?;
    put(enclave, names::otps(id), ov, otps.encode()).await?;
    let epoch = enclave
        .channels
        .commit(&enclave.blobs, opened, state)
        .await?;
    let text = passphrase_text(lang, Passphrase::Invite, id, &otp, otp_ttl);
    send_notices(enclave, id, sk, epoch, vec![(vec![to], text)]).await
}

/// An ADD sent over Signal reached the approval threshold (relay `Effect::InviteAdmin`): the
/// same invitation as an enacted `admin add` (default passphrase lifetime), once the unlock
/// that handled the ADD has committed at `epoch`. Returns the epoch after it and the stats.
pub(crate) async fn invite_enacted(
    enclave: &Enclave,
    id: &ChannelId,
    sk: &Sk,
    phone: Phone,
    epoch: u64,
) -> Result<(u64, Stats), Failure> {
    let now = now_secs();
    let (opened, state) = open(enclave, id, sk, epoch, now).await?;
    enact_add(
        enclave,
        id,
        opened,
        state,
        sk,
        phone,
        None,
        DEFAULT_OTP_TTL_SECS,
        now,
    )
    .await
}

/// VAULT.md §13 and §16 re-key: OTP set and stale table first, then the new key record and
/// the state sealed under the new epoch, then the verifier, then OTPs and notices.
async fn enact_remove(
    enclave: &Enclave,
    id: &ChannelId,
    opened: Opened,
    mut state: ChannelState,
    mut d: Decided,
    n: u16,
) -> Result<(u64, Sk, u64, Stats), Failure> {
    let removed = state
        .admins()
        .find(|m| m.admin_index() == Some(n))
        .map(|m| m.phone().duplicate())
        .ok_or(VaultError::NotMember)?;
    let removed_lang = language_for(&state, &removed, None);
    let requester_lang = language_for(&state, &d.admin, None);
    // The channel's Signal account lives in chunks keyed from DK: carry it to the new DK.
    let chunk_table = ChunkTable::decode(state.protocol_store())?;
    let account = match &chunk_table {
        Some(t) => Some(chunks::load(&enclave.blobs, id, opened.dk(), t).await?),
        None => None,
    };
    // Messages waiting in the queue are sealed to the old EK: stop the live receiver (the
    // service keeps new envelopes until the receiver restarts on the new EK) and carry the
    // waiting ones over, re-sealed, so the re-key loses none.
    let slot = SignalSlot::decode(state.signal_account()).map_err(CourierError::from)?;
    let mut waiting = Vec::new();
    let mut queue_end = None;
    if let (Some(slot), Some(courier)) = (&slot, enclave.courier.as_ref()) {
        courier.live.stop(id);
        courier.release(id);
        let (items, next) = read_waiting(enclave, id, slot.inbound_next).await?;
        for item in items {
            match crate::vault::open_inbound(opened.dk(), id, &item) {
                Ok(pt) => waiting.push(pt),
                Err(e) => {
                    tracing::warn!(error = %e, "inbound item does not open; dropped at re-key")
                }
            }
        }
        queue_end = Some(next);
    }
    let (kv, old_record) = load_key_record(enclave, id).await?;
    let (tv, mut table) = load_stale(enclave, id).await?;
    let (ov, mut otps) = load_otps(enclave, id).await?;
    let new_epoch = opened.epoch + 1;
    // The requester's client normally sends the new SK it already saved (SPEC §3.6), so a
    // lost answer leaves it able to catch up; otherwise one is generated here.
    let rk = lifecycle::rekey_to(
        id,
        &mut state,
        opened.dk(),
        &d.sk,
        d.new_sk.take(),
        Some(&removed),
        Some(&d.admin),
        new_epoch,
        &mut table,
        &mut otps,
        d.now,
        d.otp_ttl,
        &mut OsRng,
    )?;
    let key_epoch = rk.dk.key_epoch();
    let mut sealed = rk.state_blob;
    let mut new_chunks = None;
    if let (Some(t), Some(account)) = (&chunk_table, &account) {
        let generation = t.generation + 1;
        let stored = chunks::store(&enclave.blobs, id, &rk.dk, generation, account).await?;
        state.set_protocol_store(Zeroizing::new(stored.encode()))?;
        new_chunks = Some(generation);
    }
    if let Some(end) = queue_end {
        // Re-sealed copies go after `end`; the new state's cursor skips the old items. If
        // the commit fails, the old state's cursor reads the old items, and the copies
        // (new key epoch) are skipped as unopenable: nothing is handled twice.
        for pt in &waiting {
            // Authenticated as the new epoch's receiver would (VAULT.md §6).
            let auth = crate::vault::InboundAuthKey::derive(&rk.dk, id);
            let item = crate::vault::seal_inbound(
                rk.dk.ek_public(),
                &auth,
                id,
                key_epoch,
                pt,
                &mut OsRng,
            )?;
            match enclave
                .blobs
                .call(&BlobRequest::QueueAppend {
                    queue: names::inbound(id),
                    item,
                })
                .await?
            {
                BlobResponse::Appended { .. } => {}
                other => return Err(integrity("queue append", &other)),
            }
        }
        state.set_signal_account(Zeroizing::new(SignalSlot::at(end).encode()))?;
    }
    drop(waiting);
    if new_chunks.is_some() || queue_end.is_some() {
        sealed = seal_state(&rk.dk, id, key_epoch, new_epoch, &state, &mut OsRng)?;
    }
    put(enclave, names::otps(id), ov, otps.encode()).await?;
    put(enclave, names::stale_keys(id), tv, table.encode()).await?;
    // The key record and the state must change together (VAULT.md §16). The host swaps one
    // blob at a time: stage the old record as the undo record, write the new record, then
    // the state, then drop the undo record. If the state write fails, put the old record
    // back now; if the enclave stops in between, the next unlock with the old SK rolls the
    // record back (`Channels::open`): nobody holds the new SK before the commit.
    let undo_version = get(enclave, names::rekey_undo(id))
        .await?
        .map_or(0, |(v, _)| v);
    put(
        enclave,
        names::rekey_undo(id),
        undo_version,
        old_record.encode(),
    )
    .await?;
    put(enclave, names::key_record(id), kv, rk.key_record.encode()).await?;
    if let Err(e) = enclave
        .channels
        .commit_sealed(&enclave.blobs, opened, sealed, new_epoch)
        .await
    {
        if let Ok(Some((v, _))) = get(enclave, names::key_record(id)).await {
            let _ = put(enclave, names::key_record(id), v, old_record.encode()).await;
        }
        delete_undo(enclave, id).await;
        let keep = chunk_table.as_ref().map(|t| t.generation);
        chunks::collect_garbage(&enclave.blobs, id, keep).await;
        return Err(e.into());
    }
    delete_undo(enclave, id).await;
    if let Some(g) = new_chunks {
        chunks::collect_garbage(&enclave.blobs, id, Some(g)).await;
    }
    put_verifier(enclave, id, rk.verifier.encode()).await;
    // Pending admins are not members yet: theirs is the requester's language.
    let langs: Vec<Language> = rk
        .otps
        .iter()
        .map(|issued| language_for(&state, &issued.phone, Some(&d.admin)))
        .collect();
    drop(state);

    // OTPs to the remaining admins and pending admins; a removal notice to every admin.
    let mut msgs = Vec::new();
    for (issued, l) in rk.otps.iter().zip(langs) {
        msgs.push((
            vec![issued.phone.duplicate()],
            passphrase_text(
                l,
                Passphrase::Rekey { removed: n },
                id,
                &issued.otp,
                d.otp_ttl,
            ),
        ));
    }
    msgs.push((
        vec![d.admin.duplicate()],
        texts::notice(requester_lang, Notice::RemovedAndRekeyed(n)),
    ));
    msgs.push((
        vec![removed],
        texts::notice(removed_lang, Notice::YouWereRemovedAdmin),
    ));
    // The removed admin holds the old state, and so the private halves of the channel's
    // signed, last-resort and one-time pre-keys: new ones replace them on the service before
    // anything else is sent (VAULT.md §13). Best effort like the notices: the re-key stands.
    let new_epoch = match rotate_prekeys(enclave, id, &rk.new_sk, new_epoch).await {
        Ok(e) => e,
        Err(_) => {
            tracing::warn!("re-key committed but the pre-keys were not rotated");
            new_epoch
        }
    };
    // The re-key is committed: whatever happens on Signal, the requester must get the new
    // SK in this answer, or nobody would hold it.
    let (epoch, stats) = match send_notices(enclave, id, &rk.new_sk, new_epoch, msgs).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!("re-key committed but its passphrases were not sent");
            (new_epoch, Stats::default())
        }
    };
    Ok((epoch, rk.new_sk, rk.sk_generation, stats))
}

/// Queue items from `from` on (at most `MAX_BATCH_ITEMS`) and the cursor after them.
async fn read_waiting(
    enclave: &Enclave,
    id: &ChannelId,
    from: u64,
) -> Result<(Vec<Vec<u8>>, u64), Failure> {
    let mut items = Vec::new();
    let mut next = from;
    while items.len() < crate::courier_api::MAX_BATCH_ITEMS {
        let r = enclave
            .blobs
            .call(&BlobRequest::QueueRange {
                queue: names::inbound(id),
                from: next,
                max_items: wire::blob::MAX_RANGE_ITEMS,
                max_bytes: wire::blob::MAX_RANGE_BYTES,
            })
            .await?;
        let BlobResponse::Items { items: got } = r else {
            return Err(integrity("queue range", &r));
        };
        if got.is_empty() {
            break;
        }
        for (seq, item) in got {
            if seq < next {
                return Err(ChannelError::Integrity("queue items out of order".into()).into());
            }
            next = seq + 1;
            items.push(item);
        }
    }
    Ok((items, next))
}

/// A second unlock that only sends `msgs` from the channel's number (with the channel's
/// disappearing timer) and commits the updated Signal account. Also (re)starts the live
/// receiver, which after a re-key must seal to the new EK.
async fn send_notices(
    enclave: &Enclave,
    id: &ChannelId,
    sk: &Sk,
    min_epoch: u64,
    msgs: Vec<(Vec<Phone>, Zeroizing<String>)>,
) -> Result<(u64, Stats), Failure> {
    let courier = enclave
        .courier
        .as_ref()
        .ok_or(CourierError::NotConfigured)?;
    let (opened, state) = open(enclave, id, sk, min_epoch, now_secs()).await?;
    let table = ChunkTable::decode(state.protocol_store())?.ok_or(CourierError::NoAccount)?;
    SignalSlot::decode(state.signal_account())
        .map_err(CourierError::from)?
        .ok_or(CourierError::NoAccount)?;
    let account = chunks::load(&enclave.blobs, id, opened.dk(), &table).await?;
    let timer = state.settings().disappearing_timer_secs();
    let effects: Vec<Effect> = msgs
        .into_iter()
        .map(|(to, text)| Effect::Send {
            to,
            text,
            attachments: Vec::new(),
            expire_timer: timer,
        })
        .collect();
    let config = courier.config.clone();
    let outcome = courier
        .worker(id)?
        .run(move || process::send(config, state, account, effects))
        .await??;
    let mut state = outcome.state;
    let generation = table.generation + 1;
    let stored = chunks::store(
        &enclave.blobs,
        id,
        opened.dk(),
        generation,
        &outcome.account,
    )
    .await?;
    state.set_protocol_store(Zeroizing::new(stored.encode()))?;
    let seal = SealTo::new(id, opened.dk());
    let epoch = match enclave.channels.commit(&enclave.blobs, opened, state).await {
        Ok(e) => {
            chunks::collect_garbage(&enclave.blobs, id, Some(generation)).await;
            e
        }
        Err(e) => {
            chunks::collect_garbage(&enclave.blobs, id, Some(table.generation)).await;
            return Err(e.into());
        }
    };
    // A refusal (older key epoch) is logged by kind inside `ensure`.
    let _ = courier
        .live
        .ensure(courier, outcome.credentials, seal)
        .await;
    Ok((epoch, outcome.stats))
}

/// After a removal (VAULT.md §13): a new signed pre-key and last-resort Kyber key are
/// uploaded, and a new batch of one-time pre-keys of each kind replaces those the service
/// held, so nobody starts a session to a key whose private half the removed admin holds.
/// One unlock with the new SK; returns the epoch after its commit. The device password and
/// the identity key stay (the residual in VAULT.md §13).
async fn rotate_prekeys(
    enclave: &Enclave,
    id: &ChannelId,
    sk: &Sk,
    min_epoch: u64,
) -> Result<u64, Failure> {
    let Some(courier) = enclave.courier.as_ref() else {
        return Ok(min_epoch);
    };
    let (opened, mut state) = open(enclave, id, sk, min_epoch, now_secs()).await?;
    let Some(table) = ChunkTable::decode(state.protocol_store())? else {
        return Ok(opened.epoch);
    };
    let account = chunks::load(&enclave.blobs, id, opened.dk(), &table).await?;
    let config = courier.config.clone();
    let account = courier
        .worker(id)?
        .run(move || async move {
            let account = signal_client::Account::decode(&account)?;
            let mut client = signal_client::SignalClient::new(&config, account);
            client.rotate_signed_prekeys().await?;
            let batch = signal_client::service::PREKEY_BATCH;
            client.upload_prekeys(batch, batch).await?;
            Ok::<_, CourierError>(client.account.encode()?)
        })
        .await??;
    let generation = table.generation + 1;
    let stored = chunks::store(&enclave.blobs, id, opened.dk(), generation, &account).await?;
    state.set_protocol_store(Zeroizing::new(stored.encode()))?;
    match enclave.channels.commit(&enclave.blobs, opened, state).await {
        Ok(e) => {
            chunks::collect_garbage(&enclave.blobs, id, Some(generation)).await;
            Ok(e)
        }
        Err(e) => {
            chunks::collect_garbage(&enclave.blobs, id, Some(table.generation)).await;
            Err(e.into())
        }
    }
}

/// `admin/resend` (VAULT.md §12, §20): a fresh one-time passphrase for the current SK, over
/// Signal, to an admin who lost theirs (a re-key whose passphrases were never delivered, a
/// lost key file or signing key: accepting it re-enrols their signing key) or to a pending
/// admin (an approved invitation: its passphrase is
/// replaced). No vote: nobody new gets the key. Refused for the caller themself, for a
/// deauthorized admin (their Signal identity changed: re-ADD them first) and for anyone
/// else (`bad_request` "not a member"; an expired invitation needs a new `add_admin`).
async fn resend(
    enclave: &Enclave,
    id: &ChannelId,
    body: LifecycleRequest,
) -> Result<Value, Failure> {
    let sk = sk_of(&body)?;
    let admin = admin_of(&body)?;
    let target = Phone::parse(
        body.phone
            .as_deref()
            .ok_or(ChannelError::BadRequest("phone"))?,
    )?;
    let ttl = body.otp_ttl_secs.unwrap_or(DEFAULT_OTP_TTL_SECS);
    let now = now_secs();
    let (opened, mut state) = open(enclave, id, &sk, body.min_epoch, now).await?;
    check_admin(id, &state, &admin, &body)?;
    if target == admin {
        return Err(VaultError::Refused {
            what: "an admin cannot send themself a passphrase",
        }
        .into());
    }
    state.expire_pending_admins(now);
    if state.member(&target).is_some_and(|m| m.is_admin()) {
        if state.is_deauthorized(&target) {
            return Err(VaultError::Refused {
                what: "that admin is deauthorized until re-added",
            }
            .into());
        }
        let (epoch, stats) =
            enact_reenrol(enclave, id, opened, state, &sk, target, ttl, now).await?;
        return Ok(json!({ "epoch": epoch, "pending": false, "stats": stats }));
    }
    if state.pending_admins().iter().any(|p| p.phone() == &target) {
        let (epoch, stats) = enact_add(
            enclave,
            id,
            opened,
            state,
            &sk,
            target,
            Some(&admin),
            ttl,
            now,
        )
        .await?;
        return Ok(json!({ "epoch": epoch, "pending": true, "stats": stats }));
    }
    Err(VaultError::NotMember.into())
}

/// `admin/resend` to an existing admin (VAULT.md §12, §20): OTP set, then state (the
/// re-enrolment record that lets this passphrase replace the admin's key), then the OTP
/// over Signal to that admin's phone only.
#[allow(clippy::too_many_arguments)]
async fn enact_reenrol(
    enclave: &Enclave,
    id: &ChannelId,
    opened: Opened,
    mut state: ChannelState,
    sk: &Sk,
    target: Phone,
    ttl: u64,
    now: u64,
) -> Result<(u64, Stats), Failure> {
    let lang = language_for(&state, &target, None);
    let (ov, mut otps) = load_otps(enclave, id).await?;
    otps.purge_expired(now);
    let otp =
        admin_keys::reenrol_admin(id, &mut state, &mut otps, sk, &target, now, ttl, &mut OsRng)?;
    put(enclave, names::otps(id), ov, otps.encode()).await?;
    let epoch = enclave
        .channels
        .commit(&enclave.blobs, opened, state)
        .await?;
    let msg = passphrase_text(lang, Passphrase::Resend, id, &otp, ttl);
    send_notices(enclave, id, sk, epoch, vec![(vec![target], msg)]).await
}

/// `admin/redeem` (VAULT.md §12): an OTP for SK. The set is written back (record used)
/// before SK is answered; wrong OTPs are rate-limited per channel.
async fn redeem(
    enclave: &Enclave,
    id: &ChannelId,
    body: LifecycleRequest,
) -> Result<Value, Failure> {
    let text = body.otp.as_ref().ok_or(ChannelError::BadRequest("otp"))?;
    let otp = Otp::parse(text)?;
    let now = now_secs();
    let _guard = enclave.channels.lock(id).await;
    let (ov, mut otps) = load_otps(enclave, id).await?;
    let redeemed = otps.redeem(&otp, now, &mut enclave.channels.otp_limiter());
    // Expired records go now (after the answer for this OTP was decided, so a lapsed one
    // is reported as `otp_expired`, not unknown).
    let purged = otps.purge_expired(now);
    if redeemed.is_ok() || purged > 0 {
        put(enclave, names::otps(id), ov, otps.encode()).await?;
    }
    let (generation, sk) = redeemed?;
    let sk = b64(&sk);
    Ok(json!({ "sk": sk.as_str(), "sk_generation": generation }))
}

/// `admin/accept`: after redeeming (and catching up), the new admin unlocks with SK; the
/// pending admin becomes `ADMIN n` and the OTP record is deleted (the acknowledgement).
/// A passphrase bound to a number (an invitation, or `admin/resend` to an admin) also
/// registers the caller's new verifying key for that admin (VAULT.md §20): the body names
/// the number (`admin`, which MUST be the one the passphrase was sent to), the key and a
/// proof by that key over this session's binding. A re-key passphrase leaves keys as they
/// are (`"admin_key": false`).
async fn accept(
    enclave: &Enclave,
    id: &ChannelId,
    body: LifecycleRequest,
) -> Result<Value, Failure> {
    let sk = sk_of(&body)?;
    let text = body.otp.as_ref().ok_or(ChannelError::BadRequest("otp"))?;
    let otp = Otp::parse(text)?;
    let now = now_secs();
    let (opened, mut state) = open(enclave, id, &sk, body.min_epoch, now).await?;
    let otp_id = otp.id(id);
    let bound_to = state
        .pending_admins()
        .iter()
        .find(|p| p.otp_id() == &otp_id && now < p.expires_at())
        .map(|p| p.phone().duplicate());
    let new_key = match &bound_to {
        Some(phone) => Some(new_admin_key(id, phone, &body)?),
        None => None,
    };
    let index = match lifecycle::complete_admin(id, &mut state, &otp, now) {
        Ok(n) => Some(n),
        // An OTP from a re-key: the holder already is an admin.
        Err(VaultError::OtpUnknown) => None,
        Err(e) => return Err(e.into()),
    };
    if let (Some(n), Some(key)) = (index, new_key) {
        state.set_admin_key(n, key)?;
    }
    let epoch = if index.is_some() {
        enclave
            .channels
            .commit(&enclave.blobs, opened, state)
            .await?
    } else {
        let e = opened.epoch;
        drop((opened, state));
        e
    };
    let _guard = enclave.channels.lock(id).await;
    let (ov, mut otps) = load_otps(enclave, id).await?;
    if otps.remove(&otp.id(id)) {
        put(enclave, names::otps(id), ov, otps.encode()).await?;
    }
    Ok(json!({ "epoch": epoch, "admin_index": index, "admin_key": index.is_some() }))
}

/// The verifying key an `admin/accept` registers for `phone`, after checking that the body
/// names `phone` and proves possession of the key over this session's binding.
fn new_admin_key(
    id: &ChannelId,
    phone: &Phone,
    body: &LifecycleRequest,
) -> Result<[u8; admin_keys::ADMIN_KEY_LEN], Failure> {
    let named = admin_of(body)?;
    if named != *phone {
        return Err(
            ChannelError::AdminUnauthorized("passphrase was sent to another number").into(),
        );
    }
    let key = parse_admin_key(body.admin_key.as_deref())?;
    let binding = body
        .binding
        .as_ref()
        .map(SessionBinding::as_bytes)
        .unwrap_or_default();
    let proof = decode_proof(body.admin_proof.as_deref())?;
    admin_keys::verify_with(&key, id, phone, binding, proof.as_deref())?;
    Ok(key)
}

/// A base64 verifying key from a request (`admin/accept`, `POST /v1/channels`).
pub(crate) fn parse_admin_key(
    b64: Option<&str>,
) -> Result<[u8; admin_keys::ADMIN_KEY_LEN], ChannelError> {
    let s = b64.ok_or(ChannelError::BadRequest("admin_key"))?;
    if s.len() > 64 {
        return Err(ChannelError::BadRequest("admin_key"));
    }
    let raw = B64
        .decode(s.as_bytes())
        .map_err(|_| ChannelError::BadRequest("admin_key"))?;
    let key: [u8; admin_keys::ADMIN_KEY_LEN] = raw
        .as_slice()
        .try_into()
        .map_err(|_| ChannelError::BadRequest("admin_key"))?;
    if !admin_keys::valid_key(&key) {
        return Err(ChannelError::BadRequest("admin_key"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::vault::model::Role;

    fn p(s: &str) -> Phone {
        Phone::parse(s).unwrap()
    }

    /// ADMIN 1 (ES), ADMIN 2 (DE), ADMIN 3 (DE, deauthorized), a subscriber (FR).
    fn state() -> ChannelState {
        let mut s = ChannelState::new(&mut OsRng);
        s.add_member(p("+15550000001"), Role::Admin, Language::Es)
            .unwrap();
        s.add_member(p("+15550000002"), Role::Admin, Language::De)
            .unwrap();
        s.add_member(p("+15550000003"), Role::Admin, Language::De)
            .unwrap();
        s.add_member(p("+15550000004"), Role::Subscriber, Language::Fr)
            .unwrap();
        s.deauthorize(&p("+15550000003")).unwrap();
        s
    }

    #[test]
    fn a_member_gets_their_own_language_a_newcomer_that_of_the_admin_who_acted() {
        let s = state();
        let a1 = p("+15550000001");
        let new = p("+15550000099");
        // Members, whoever acted.
        assert_eq!(
            language_for(&s, &p("+15550000002"), Some(&a1)),
            Language::De
        );
        assert_eq!(language_for(&s, &p("+15550000004"), None), Language::Fr);
        // Not a member: the acting admin's language.
        assert_eq!(language_for(&s, &new, Some(&a1)), Language::Es);
        // Nobody acted: the language most authorized admins use. ADMIN 3 (DE) is
        // deauthorized, so ES and DE tie, and a tie is EN.
        assert_eq!(language_for(&s, &new, None), Language::En);
        let mut s = s;
        s.reauthorize(&p("+15550000003"));
        assert_eq!(language_for(&s, &new, None), Language::De);
        assert_eq!(
            channel_language(&ChannelState::new(&mut OsRng)),
            Language::En
        );
    }

    #[test]
    fn notices_are_grouped_by_language_with_one_text_each() {
        let s = state();
        let to = vec![
            p("+15550000002"),
            p("+15550000001"),
            p("+15550000004"),
            p("+15550000099"),
        ];
        let by = p("+15550000002");
        let groups = localized(&s, to, Some(&by), |l| {
            discarded_notice(l, 7, DiscardReason::Expired)
        });
        let got: Vec<(Vec<String>, String)> = groups
            .iter()
            .map(|(to, text)| {
                let to = to.iter().map(|p| p.to_e164_string().to_string()).collect();
                (to, text.to_string())
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    vec!["+15550000002".to_owned(), "+15550000099".to_owned()],
                    "Vorschlag #7 wurde verworfen: er ist abgelaufen.".to_owned()
                ),
                (
                    vec!["+15550000001".to_owned()],
                    "La propuesta #7 se descartó: caducó.".to_owned()
                ),
                (
                    vec!["+15550000004".to_owned()],
                    "La proposition n°7 a été abandonnée : elle a expiré.".to_owned()
                ),
            ]
        );
    }
}
