//! The admin API client (SPEC §3.4): every operation runs on an [`AttestedSession`], so SK
//! is only ever sent to an enclave verified just now, over TLS bound to its evidence. The
//! client remembers each channel's highest epoch and sends it with every unlock.

use std::net::SocketAddr;

use attestation::{Policy, UnixTime};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::keystore::{AdminSigningKey, ChannelSk, KeyStore, KeyStoreError};
use crate::session::{AttestedSession, Platforms, SessionError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    #[error("rollback detected: the host served channel state older than epoch {seen}, which this client has already seen")]
    RollbackDetected { seen: u64 },
    #[error("the enclave refused the key for this channel (wrong key, or no such channel)")]
    Unauthorized,
    #[error("too many wrong keys for this channel; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the channel's stored state failed its integrity check (the host altered or lost it)")]
    Integrity,
    #[error("the enclave refused to let this machine act as that admin (403 admin_unauthorized): the admin key here is not the one registered for that number; ask another admin to run `sealboost admin resend <channel> <your number>` and accept the passphrase sent to your phone")]
    AdminUnauthorized,
    #[error("enclave answered {status} ({code})")]
    Api { status: u16, code: String },
    #[error("unexpected answer from the enclave: {0}")]
    Malformed(&'static str),
}

/// How often an unlock that lost a compare-and-swap race is retried.
pub const CONFLICT_RETRIES: u32 = 3;

/// Longest stale-key chain a catch-up follows (the enclave keeps 256 entries).
pub const MAX_CATCH_UP_HOPS: usize = 300;

fn sk_from(v: &Value) -> Result<ChannelSk, AdminError> {
    let raw = Zeroizing::new(
        v.get("sk")
            .and_then(Value::as_str)
            .and_then(|s| B64.decode(s).ok())
            .ok_or(AdminError::Malformed("answer without key"))?,
    );
    let b: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| AdminError::Malformed("key length"))?;
    Ok(ChannelSk::from_bytes(b))
}

/// Overwrites every string in `v` (a request or answer that carried SK in base64) before
/// it is dropped.
fn wipe(v: &mut Value) {
    use zeroize::Zeroize as _;
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(wipe),
        Value::Object(o) => o.values_mut().for_each(wipe),
        _ => {}
    }
}

fn otp_used() -> AdminError {
    AdminError::Api {
        status: 409,
        code: "otp_used".to_owned(),
    }
}

/// Domain separation of the admin proof (wire SPEC §3.6 "Admin proof").
const AUTH_LABEL: &[u8] = b"sealboost admin auth v1";

/// Acting as one admin: their key on this machine and what their proof covers.
struct Acting {
    key: AdminSigningKey,
    channel: [u8; 16],
    phone: u64,
}

impl Acting {
    fn new(channel: &str, number: &str, key: AdminSigningKey) -> Result<Self, AdminError> {
        let channel: [u8; 16] = hex::decode(channel)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyStoreError::BadChannelId)?;
        // The enclave's Phone (VAULT.md §5): the number's digits as an integer.
        let phone = number
            .strip_prefix('+')
            .filter(|d| !d.is_empty() && d.len() <= 20 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or(KeyStoreError::BadNumber)?;
        Ok(Self {
            key,
            channel,
            phone,
        })
    }

    /// Base64 of the signature over `label ‖ channel ‖ phone u64 BE ‖ len u16 BE ‖ binding`.
    fn proof(&self, binding: &[u8]) -> Result<String, AdminError> {
        let len = u16::try_from(binding.len()).map_err(|_| AdminError::Malformed("binding"))?;
        let mut msg = Vec::with_capacity(AUTH_LABEL.len() + 16 + 8 + 2 + binding.len());
        msg.extend_from_slice(AUTH_LABEL);
        msg.extend_from_slice(&self.channel);
        msg.extend_from_slice(&self.phone.to_be_bytes());
        msg.extend_from_slice(&len.to_be_bytes());
        msg.extend_from_slice(binding);
        Ok(B64.encode(self.key.sign(&msg)))
    }
}

/// Passphrase source for encrypted key files.
pub type Passphrase<'a> = &'a (dyn Fn() -> Option<Zeroizing<Vec<u8>>> + Sync);

/// An attested admin connection plus the local key store.
#[derive(Debug)]
pub struct AdminClient {
    session: AttestedSession,
    store: KeyStore,
    /// Where and under which policy to attest again if the session closes unused.
    addr: SocketAddr,
    policy: Policy,
    platforms: Platforms,
}

fn code_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .unwrap_or_else(|| "unknown".to_owned())
}

impl AdminClient {
    /// Connects and attests to a real TEE (see [`AttestedSession::connect`]).
    pub async fn connect(
        addr: SocketAddr,
        policy: &Policy,
        store: KeyStore,
    ) -> Result<Self, AdminError> {
        Self::connect_with(addr, policy, store, Platforms::TeeOnly).await
    }

    /// [`AdminClient::connect`], choosing which platforms to accept
    /// ([`AttestedSession::connect_with`]); a reconnect keeps the choice.
    pub async fn connect_with(
        addr: SocketAddr,
        policy: &Policy,
        store: KeyStore,
        platforms: Platforms,
    ) -> Result<Self, AdminError> {
        let session =
            AttestedSession::connect_with(addr, policy, UnixTime::now(), platforms).await?;
        Ok(Self {
            session,
            platforms,
            store,
            addr,
            policy: policy.clone(),
        })
    }

    pub fn session(&self) -> &AttestedSession {
        &self.session
    }

    async fn call(&mut self, path: &str, body: Value, seen: u64) -> Result<Value, AdminError> {
        self.call_as(path, body, seen, None).await
    }

    /// [`AdminClient::call`], signed as `acting` (SPEC §3.6 "Admin proof"): the proof covers
    /// the TLS session it is sent on, so it is made again if the session is replaced.
    async fn call_as(
        &mut self,
        path: &str,
        mut body: Value,
        seen: u64,
        acting: Option<&Acting>,
    ) -> Result<Value, AdminError> {
        if let Some(a) = acting {
            body["admin_proof"] = Value::String(a.proof(self.session.tls_binding())?);
        }
        // The serialized body holds SK in base64. The session hands hyper memory that is
        // wiped when hyper is done; hyper's own write buffers are not. The key also lives
        // in the admin's key file, so what remains adds no exposure beyond this process.
        let text = body.to_string();
        let sent = self.session.send("POST", path, text).await;
        let (status, resp) = match sent {
            // The enclave closed the connection while it sat idle (its header timeout) and
            // the request was never written: attest a new session and send it there. Safe
            // for every route: the enclave saw nothing.
            Err(SessionError::Closed) => {
                self.session = AttestedSession::connect_with(
                    self.addr,
                    &self.policy,
                    UnixTime::now(),
                    self.platforms,
                )
                .await?;
                if let Some(a) = acting {
                    body["admin_proof"] = Value::String(a.proof(self.session.tls_binding())?);
                }
                self.session.send("POST", path, body.to_string()).await?
            }
            r => r?,
        };
        wipe(&mut body);
        // The answer may carry SK: its bytes are wiped when this returns.
        let resp = Zeroizing::new(resp);
        if status / 100 == 2 {
            return serde_json::from_slice(&resp).map_err(|_| AdminError::Malformed("not JSON"));
        }
        let code = code_of(&resp);
        Err(match (status, code.as_str()) {
            (409, "rollback_detected") => AdminError::RollbackDetected { seen },
            (401, _) => AdminError::Unauthorized,
            (429, _) => AdminError::RateLimited {
                retry_after_secs: serde_json::from_slice::<Value>(&resp)
                    .ok()
                    .and_then(|v| v.get("retry_after_secs")?.as_u64())
                    .unwrap_or(1),
            },
            (_, "integrity_failure") => AdminError::Integrity,
            (403, "admin_unauthorized") => AdminError::AdminUnauthorized,
            _ => AdminError::Api { status, code },
        })
    }

    /// Runs an operation that needs SK on `channel`, then remembers the epoch it returned.
    async fn unlocked(
        &mut self,
        channel: &str,
        op: &str,
        args: Value,
        passphrase: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        self.unlocked_as(channel, op, args, None, passphrase).await
    }

    /// [`AdminClient::unlocked`] acting as one admin: `admin` and their proof are sent.
    async fn unlocked_as(
        &mut self,
        channel: &str,
        op: &str,
        mut args: Value,
        acting: Option<&Acting>,
        passphrase: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        let seen = self.store.epoch(channel)?;
        args["min_epoch"] = json!(seen);
        let path = format!("/v1/channels/{channel}/{op}");
        // Another admin's write can win the compare-and-swap between our read and write;
        // the enclave then changed nothing, so the operation is simply run again. A key the
        // enclave no longer takes may be stale (another admin rotated): catch up once
        // (VAULT.md §11) and retry with the current key.
        let mut attempt = 0;
        let mut caught_up = false;
        let v = loop {
            let sk = self.store.load_sk(channel, passphrase)?;
            args["sk"] = Value::String(B64.encode(sk.expose()));
            drop(sk);
            match self.call_as(&path, args.clone(), seen, acting).await {
                Err(AdminError::Api {
                    status: 409,
                    ref code,
                }) if code == "conflict" && attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                }
                Err(AdminError::Unauthorized) if !caught_up => {
                    caught_up = true;
                    if self.catch_up(channel, passphrase).await? == 0 {
                        return Err(AdminError::Unauthorized);
                    }
                }
                r => break r?,
            }
        };
        if let Some(mut sk) = args.as_object_mut().and_then(|o| o.remove("sk")) {
            wipe(&mut sk);
        }
        let epoch = v
            .get("epoch")
            .and_then(Value::as_u64)
            .ok_or(AdminError::Malformed("answer without epoch"))?;
        self.store.record_epoch(channel, epoch)?;
        Ok(v)
    }

    /// Creates a channel with `admin_number` as ADMIN 1. SK is generated here and saved
    /// (0600, optionally passphrase-encrypted) *before* it is sent, so a crash cannot
    /// leave a channel nobody can open. Returns the channel id.
    pub async fn create_channel(
        &mut self,
        admin_number: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<(String, u64), AdminError> {
        let mut id = [0u8; 16];
        OsRng.fill_bytes(&mut id);
        let channel = hex::encode(id);
        let sk = ChannelSk::generate();
        self.store.save_sk(&channel, &sk, passphrase)?;
        // ADMIN 1's signing key (VAULT.md §20), saved before it is registered.
        let key = AdminSigningKey::generate();
        self.store
            .save_admin_key(&channel, admin_number, &key, passphrase)?;
        let verifying = key.verifying_key();
        let acting = Acting::new(&channel, admin_number, key)?;
        let body = json!({
            "channel_id": channel,
            "sk": B64.encode(sk.expose()),
            "admin": admin_number,
            "admin_key": B64.encode(verifying),
        });
        let v = self.call_as("/v1/channels", body, 0, Some(&acting)).await?;
        let epoch = v
            .get("epoch")
            .and_then(Value::as_u64)
            .ok_or(AdminError::Malformed("answer without epoch"))?;
        self.store.record_epoch(&channel, epoch)?;
        self.store.record_admin_number(&channel, admin_number)?;
        Ok((channel, epoch))
    }

    /// Channel summary: settings and member counts.
    pub async fn info(&mut self, channel: &str, p: Passphrase<'_>) -> Result<Value, AdminError> {
        self.unlocked(channel, "info", json!({}), p).await
    }

    /// The member list, numbers included (shown only here, on the admin's machine).
    pub async fn members(&mut self, channel: &str, p: Passphrase<'_>) -> Result<Value, AdminError> {
        self.unlocked(channel, "members", json!({}), p).await
    }

    /// Changes settings (`changes` holds only the fields to set); returns the new settings.
    pub async fn settings(
        &mut self,
        channel: &str,
        changes: Value,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        self.unlocked(channel, "settings", json!({ "set": changes }), p)
            .await
    }

    /// Adds and removes members (admin maintenance; Signal commands do the same later).
    pub async fn change_members(
        &mut self,
        channel: &str,
        add: Value,
        remove: Vec<String>,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        self.unlocked(
            channel,
            "members/change",
            json!({ "add": add, "remove": remove }),
            p,
        )
        .await
    }

    /// Registers the channel's own Signal number (SPEC §3.5) with the verification `code`
    /// the service sent to it.
    pub async fn register_number(
        &mut self,
        channel: &str,
        number: &str,
        code: &str,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        self.unlocked(
            channel,
            "signal/register",
            json!({ "number": number, "code": code }),
            p,
        )
        .await
    }

    /// Processes the channel's mailbox (messages that arrived while it was locked) and
    /// returns what was addressed to `admin` (hotline messages, replies, notices).
    pub async fn mailbox(
        &mut self,
        channel: &str,
        admin: &str,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        let acting = self.acting(channel, admin, p)?;
        let args = json!({ "admin": admin });
        self.unlocked_as(channel, "mailbox", args, Some(&acting), p)
            .await
    }

    /// Processes the channel's mailbox as no particular admin: everything the relay
    /// addresses to admins goes to their phones over Signal (`sealboost watch`, SPEC §3.7).
    pub async fn mailbox_relay(
        &mut self,
        channel: &str,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        self.unlocked(channel, "mailbox", json!({}), p).await
    }

    /// Runs a channel command as `admin` (`BROADCAST …`, `PRIVATE …`, `REPLY @id …`, or any
    /// other command an admin could send over Signal). The mailbox is processed first.
    pub async fn command(
        &mut self,
        channel: &str,
        admin: &str,
        text: &str,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        let acting = self.acting(channel, admin, p)?;
        let args = json!({ "admin": admin, "text": text });
        self.unlocked_as(channel, "command", args, Some(&acting), p)
            .await
    }

    /// Stale-key catch-up (SPEC §3.6, VAULT.md §11): while the enclave answers `next`, the
    /// successor is saved beside the current key, presented once more (the enclave knowing
    /// it is the acknowledgement) and only then made current. Returns the hops taken (0: the
    /// key was current). A successor left by an interrupted rotation is tried first.
    pub async fn catch_up(&mut self, channel: &str, p: Passphrase<'_>) -> Result<u32, AdminError> {
        let path = format!("/v1/channels/{channel}/key/catch-up");
        let mut hops = 0u32;
        for _ in 0..MAX_CATCH_UP_HOPS {
            if let Some(next) = self.store.load_next_sk(channel, p)? {
                let body = json!({ "sk": B64.encode(next.expose()) });
                match self.call(&path, body, 0).await {
                    Ok(_) => {
                        // The enclave knows the successor: it is (or leads to) the current key.
                        self.store.promote_next_sk(channel)?;
                        hops += 1;
                        continue;
                    }
                    Err(AdminError::Unauthorized) => self.store.discard_next_sk(channel)?,
                    Err(e) => return Err(e),
                }
            }
            let sk = self.store.load_sk(channel, p)?;
            let v = self
                .call(&path, json!({ "sk": B64.encode(sk.expose()) }), 0)
                .await?;
            match v.get("status").and_then(Value::as_str) {
                Some("current") => return Ok(hops),
                Some("next") => {
                    let next = sk_from(&v)?;
                    self.save_next(channel, &next, p)?;
                }
                _ => return Err(AdminError::Malformed("catch-up status")),
            }
        }
        Err(AdminError::Malformed("catch-up chain too long"))
    }

    fn save_next(
        &self,
        channel: &str,
        sk: &ChannelSk,
        p: Passphrase<'_>,
    ) -> Result<(), AdminError> {
        let pass = p();
        self.store
            .save_next_sk(channel, sk, pass.as_ref().map(|v| v.as_slice()))?;
        Ok(())
    }

    /// After a key change this client enacted, the answer carries the new SK: save it
    /// beside the old one, then make it current.
    fn adopt_answer_sk(
        &self,
        channel: &str,
        v: &Value,
        p: Passphrase<'_>,
    ) -> Result<(), AdminError> {
        if v.get("sk").is_some() {
            let sk = sk_from(v)?;
            self.save_next(channel, &sk, p)?;
            self.store.promote_next_sk(channel)?;
        }
        Ok(())
    }

    fn me(&self, channel: &str, admin: Option<&str>) -> Result<String, AdminError> {
        match admin {
            Some(a) => Ok(a.to_owned()),
            None => self
                .admin_number(channel)?
                .ok_or(AdminError::Malformed("no admin number recorded; pass --as")),
        }
    }

    /// Acting as `admin` (`--as`, else the number recorded here) on `channel`: only an
    /// identity whose signing key this machine holds (VAULT.md §20); any other is
    /// `NoAdminKey`, before anything is sent.
    fn acting_as(
        &self,
        channel: &str,
        admin: Option<&str>,
        p: Passphrase<'_>,
    ) -> Result<(String, Acting), AdminError> {
        let number = self.me(channel, admin)?;
        let acting = self.acting(channel, &number, p)?;
        Ok((number, acting))
    }

    fn acting(&self, channel: &str, number: &str, p: Passphrase<'_>) -> Result<Acting, AdminError> {
        if !self.store.has_admin_key(channel, number)? {
            return Err(KeyStoreError::NoAdminKey.into());
        }
        let key = self.store.load_admin_key(channel, number, p)?;
        Acting::new(channel, number, key)
    }

    /// Proposes a key change (`kind`: rotate, add_admin, remove_admin) as `admin`; enacted
    /// at once if the threshold allows. The new SK of a rotation or a removal's re-key is
    /// generated and saved here (beside the old one) before it is sent.
    pub async fn propose(
        &mut self,
        channel: &str,
        admin: Option<&str>,
        kind: &str,
        phone: Option<&str>,
        otp_ttl_secs: Option<u64>,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        let (admin, acting) = self.acting_as(channel, admin, p)?;
        let mut args = json!({ "admin": admin, "kind": kind });
        if let Some(ph) = phone {
            args["phone"] = json!(ph);
        }
        if let Some(t) = otp_ttl_secs {
            args["otp_ttl_secs"] = json!(t);
        }
        // A key change this call may enact (rotation, or a removal's re-key) gets its new SK
        // from here, saved beside the old one before it is sent.
        let changes_key = kind == "rotate" || kind == "remove_admin";
        if changes_key {
            args["new_sk"] = self.fresh_successor(channel, p).await?;
        }
        let r = self
            .unlocked_as(channel, "proposals", args, Some(&acting), p)
            .await;
        self.settle_successor(channel, changes_key, &r)?;
        let v = r?;
        self.adopt_answer_sk(channel, &v, p)?;
        Ok(v)
    }

    /// Generates the SK a key change will use and saves it beside the current one, after
    /// resolving any successor an interrupted change left (so it is never overwritten).
    /// Returns it base64-encoded for the request.
    async fn fresh_successor(
        &mut self,
        channel: &str,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        if self.store.load_next_sk(channel, p)?.is_some() {
            self.catch_up(channel, p).await?;
        }
        let new = ChannelSk::generate();
        self.save_next(channel, &new, p)?;
        Ok(Value::String(B64.encode(new.expose())))
    }

    /// After a call that carried a fresh successor: an answer without a new SK (pending,
    /// discarded, or an enacted invitation) means the successor is not needed; a lost answer keeps it for the next catch-up, which tries it
    /// (VAULT.md §13: the enclave re-keys to the key the client saved).
    fn settle_successor(
        &self,
        channel: &str,
        sent: bool,
        r: &Result<Value, AdminError>,
    ) -> Result<(), AdminError> {
        if sent && matches!(r, Ok(v) if v.get("sk").is_none()) {
            self.store.discard_next_sk(channel)?;
        }
        Ok(())
    }

    /// Approves or rejects proposal `id`; the vote that reaches the threshold enacts it.
    pub async fn vote(
        &mut self,
        channel: &str,
        admin: Option<&str>,
        id: u32,
        approve: bool,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        let (admin, acting) = self.acting_as(channel, admin, p)?;
        let mut args = json!({ "admin": admin, "proposal": id, "approve": approve });
        // An approval may be the one that enacts a rotation or a removal's re-key.
        if approve {
            args["new_sk"] = self.fresh_successor(channel, p).await?;
        }
        let r = self
            .unlocked_as(channel, "proposals/vote", args, Some(&acting), p)
            .await;
        self.settle_successor(channel, approve, &r)?;
        let v = r?;
        self.adopt_answer_sk(channel, &v, p)?;
        Ok(v)
    }

    /// Sends admin (or pending admin) `phone` a fresh one-time passphrase for the current SK
    /// over Signal (SPEC §3.6 `admin/resend`).
    pub async fn resend(
        &mut self,
        channel: &str,
        admin: Option<&str>,
        phone: &str,
        otp_ttl_secs: Option<u64>,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        let (admin, acting) = self.acting_as(channel, admin, p)?;
        let mut args = json!({ "admin": admin, "phone": phone });
        if let Some(t) = otp_ttl_secs {
            args["otp_ttl_secs"] = json!(t);
        }
        self.unlocked_as(channel, "admin/resend", args, Some(&acting), p)
            .await
    }

    /// Open proposals, the approval threshold and this admin's index.
    pub async fn proposals(
        &mut self,
        channel: &str,
        admin: Option<&str>,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        let (admin, acting) = self.acting_as(channel, admin, p)?;
        let args = json!({ "admin": admin });
        self.unlocked_as(channel, "proposals/list", args, Some(&acting), p)
            .await
    }

    /// Sets how many admins must approve a key change.
    pub async fn set_threshold(
        &mut self,
        channel: &str,
        admin: Option<&str>,
        threshold: u16,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        let (admin, acting) = self.acting_as(channel, admin, p)?;
        let args = json!({ "admin": admin, "threshold": threshold });
        self.unlocked_as(channel, "approval-threshold", args, Some(&acting), p)
            .await
    }

    /// Redeems a one-time passphrase received over Signal (SPEC §3.6): SK is saved (beside
    /// any current key), caught up to the current generation, and acknowledged with
    /// `admin/accept`, which makes a pending admin `ADMIN n` and deletes the OTP record.
    /// Run again after an interruption between the two (the OTP is then `otp_used`), it
    /// finishes with the key the first run saved.
    pub async fn accept(
        &mut self,
        channel: &str,
        otp: &str,
        admin: Option<&str>,
        p: Passphrase<'_>,
    ) -> Result<Value, AdminError> {
        let body = json!({ "otp": otp });
        let redeemed = match self
            .call(&format!("/v1/channels/{channel}/admin/redeem"), body, 0)
            .await
        {
            Ok(v) => Some(v),
            // An earlier run redeemed this OTP and saved the key, but its acknowledgement
            // never arrived (the enclave restarted, the connection dropped): the OTP is
            // used now, and the key saved from it still completes the acknowledgement.
            Err(AdminError::Api { status: 409, code })
                if code == "otp_used" && self.store.has_sk(channel)? =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(v) = &redeemed {
            let sk = sk_from(v)?;
            if self.store.has_sk(channel)? {
                self.save_next(channel, &sk, p)?;
            } else {
                let pass = p();
                self.store
                    .save_sk(channel, &sk, pass.as_ref().map(|v| v.as_slice()))?;
            }
        }
        let finished = async {
            self.catch_up(channel, p).await?;
            if let Some(a) = admin {
                self.store.record_admin_number(channel, a)?;
            }
            let number = self.me(channel, admin)?;
            // A fresh signing key for this admin (VAULT.md §20), saved beside any current
            // one before it is sent; the enclave registers it if the passphrase was sent to
            // this number for that (an invitation, a resend), else it is dropped.
            let key = AdminSigningKey::generate();
            {
                let pass = p();
                self.store.save_next_admin_key(
                    channel,
                    &number,
                    &key,
                    pass.as_ref().map(|v| v.as_slice()),
                )?;
            }
            let verifying = key.verifying_key();
            let acting = Acting::new(channel, &number, key)?;
            let args = json!({ "otp": otp, "admin": number, "admin_key": B64.encode(verifying) });
            let r = self
                .unlocked_as(channel, "admin/accept", args, Some(&acting), p)
                .await;
            match &r {
                Ok(v) if v["admin_key"] == Value::Bool(true) => {
                    self.store.promote_next_admin_key(channel, &number)?;
                }
                _ => self.store.discard_next_admin_key(channel, &number)?,
            }
            r
        }
        .await;
        match finished {
            // No key from that earlier redeem was saved here (only an older one the enclave
            // no longer takes): the used OTP is the answer; an admin re-invites.
            Err(AdminError::Unauthorized) if redeemed.is_none() => Err(otp_used()),
            Err(AdminError::Api { ref code, .. })
                if redeemed.is_none() && code == "key_revoked" =>
            {
                Err(otp_used())
            }
            r => r,
        }
    }

    /// The admin number this machine acts as on `channel` (recorded at create).
    pub fn admin_number(&self, channel: &str) -> Result<Option<String>, AdminError> {
        Ok(self.store.admin_number(channel)?)
    }

    /// Queue length for the channel; needs no SK.
    pub async fn status(&mut self, channel: &str) -> Result<Value, AdminError> {
        let (status, resp) = self
            .session
            .send(
                "GET",
                &format!("/v1/channels/{channel}/status"),
                String::new(),
            )
            .await?;
        if status != 200 {
            return Err(AdminError::Api {
                status,
                code: code_of(&resp),
            });
        }
        serde_json::from_slice(&resp).map_err(|_| AdminError::Malformed("not JSON"))
    }
}
