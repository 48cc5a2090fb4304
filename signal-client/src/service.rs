//! The account against the service: registration, key upload and refill, sending with
//! the status handling of SPEC.md §4, sender certificates, directory lookup, decryption.
//!
//! Futures here borrow the protocol store and are `!Send` (crate docs).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::{Method, StatusCode};
use libsignal_protocol::{
    Aci, DeviceId, GenericSignedPreKey, IdentityKey, KyberPreKeyId, PreKeyBundle, PreKeyId,
    ProtocolAddress, PublicKey, SenderCertificate, SignedPreKeyId, Timestamp,
};
use signal_api::{json, parse_json, to_json, Content};

use crate::account::Account;
use crate::cipher::{self, EnvelopeParts, LocalAddress};
use crate::error::{Error, Result};
use crate::fanout::{self, Prepared};
use crate::keys;
use crate::transport::{Connector, HttpClient, Response, TlsTrust};

mod linking;

/// Bound on send attempts per recipient (each 409/410/413/429/401 round is one).
pub const MAX_SEND_ATTEMPTS: u32 = 8;
/// Bound on honoured `Retry-After` waits.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Wait when a 429 carries no `Retry-After` (a 413 without it is not a rate limit, SPEC §4).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// One-time keys uploaded per batch (the service takes at most 100).
pub const PREKEY_BATCH: u32 = 100;
/// One-time keys of each kind kept in the store: the batch on the service and the one
/// it replaced (see [`crate::ProtocolStore::prune_one_time_prekeys`]).
pub const ONE_TIME_PREKEYS_KEPT: usize = 2 * PREKEY_BATCH as usize;
/// Refill when fewer one-time keys than this remain on the service.
pub const PREKEY_REFILL_THRESHOLD: u32 = 20;
/// Signed prekeys (and last-resort Kyber keys) kept after a rotation, newest first.
pub const SIGNED_PREKEYS_KEPT: usize = 2;
/// [`SignalClient::refill_prekeys`] rotates the signed and last-resort prekeys once the
/// newest signed prekey is this old (the Signal apps rotate every two days).
pub const SIGNED_PREKEY_MAX_AGE_MS: u64 = 2 * 24 * 60 * 60 * 1000;
/// Sender certificates are refreshed when they expire within this margin.
pub const CERT_REFRESH_MARGIN_MS: u64 = 60 * 60 * 1000;

/// How to reach and trust the service.
#[derive(Clone)]
pub struct ServiceConfig {
    /// Raw streams to the service.
    pub connector: Arc<dyn Connector>,
    /// Pinned TLS root + server name.
    pub tls: TlsTrust,
    /// The sealed-sender trust root (the service's certificate-signing root).
    pub trust_root: PublicKey,
    /// Parallel HTTP connections.
    pub max_connections: usize,
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("tls", &self.tls)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// What a send did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// A device's identity key changed and was accepted (the caller applies policy). For a
    /// strict recipient a change is never accepted: the send fails with
    /// [`Error::UntrustedIdentity`] instead and nothing goes to them (SPEC.md §4.1).
    pub identity_changed: bool,
    /// Delivered as sealed sender.
    pub sealed: bool,
    /// Number of devices the message went to.
    pub devices: usize,
    /// Attempts used (1 when nothing needed recovery).
    pub attempts: u32,
}

/// A decrypted incoming message.
pub struct Incoming {
    /// Sender ACI.
    pub sender: Aci,
    /// Sender number when known (certificate or recipient book).
    pub sender_e164: Option<String>,
    /// Sender device.
    pub sender_device: DeviceId,
    /// The decoded content.
    pub content: Content,
    /// `Envelope.timestamp`.
    pub timestamp: u64,
    /// Server receive time.
    pub server_timestamp: u64,
    /// The sender's identity key changed (accepted).
    pub identity_changed: bool,
    /// Arrived as sealed sender.
    pub sealed_sender: bool,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("sender", &self.sender)
            .field("sender_device", &self.sender_device)
            .field("identity_changed", &self.identity_changed)
            .field("sealed_sender", &self.sealed_sender)
            .finish_non_exhaustive()
    }
}

/// An account connected to a service.
pub struct SignalClient {
    http: Arc<HttpClient>,
    /// The account (credentials, keys, store).
    pub account: Account,
    trust_root: PublicKey,
    sender_cert: Option<SenderCertificate>,
    /// Use sealed sender when the recipient's access key is known (default on).
    pub sealed_sender: bool,
    /// Also try sealed sender to recipients whose access key is unknown, with a random key
    /// (what the app does for recipients whose profile allows unrestricted unidentified
    /// access, such as channel accounts); a 401 falls back to identified sending. Off by
    /// default; phones turn it on so that their first message to a channel carries their
    /// number only inside the sealed sender certificate, as the app's would.
    pub try_unrestricted: bool,
    /// Whether our sender certificate carries our number (default on). Off is the app's
    /// "who can see my number: nobody": the certificate is fetched with `includeE164=false`
    /// and sealed-sender recipients learn only our ACI.
    pub share_number: bool,
    /// Recipients that refused a guessed key (not unrestricted): not guessed again.
    pub(crate) restricted: std::collections::HashSet<Aci>,
    parallelism: usize,
}

impl std::fmt::Debug for SignalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalClient")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

pub(crate) fn status_err(operation: &'static str, r: &Response) -> Error {
    Error::Status {
        operation,
        status: r.status.as_u16(),
    }
}

/// How long to wait before retrying a rate-limited send (SPEC §4): a 429 (with or without
/// `Retry-After`) or a 413 *with* `Retry-After` (the service's older rate-limit mapping).
/// `None` for anything else, including a 413 without `Retry-After` (too large).
pub(crate) fn rate_limit_wait(r: &Response) -> Option<Duration> {
    let wait = match (r.status.as_u16(), r.retry_after) {
        (429, after) => after.map_or(DEFAULT_RETRY_AFTER, Duration::from_secs),
        (413, Some(after)) => Duration::from_secs(after),
        _ => return None,
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

pub(crate) fn parse<T: serde::de::DeserializeOwned + json::Validate>(
    operation: &'static str,
    r: &Response,
) -> Result<T> {
    parse_json(&r.body).map_err(|_| Error::BadResponse { operation })
}

impl SignalClient {
    /// Wraps an account.
    pub fn new(config: &ServiceConfig, account: Account) -> Self {
        SignalClient {
            http: Arc::new(HttpClient::new(
                config.connector.clone(),
                config.tls.clone(),
                config.max_connections,
            )),
            account,
            trust_root: config.trust_root,
            sender_cert: None,
            sealed_sender: true,
            try_unrestricted: false,
            share_number: true,
            restricted: std::collections::HashSet::new(),
            parallelism: config.max_connections.max(1),
        }
    }

    /// The HTTP client (shared with the WebSocket receiver).
    pub fn http(&self) -> &Arc<HttpClient> {
        &self.http
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Response> {
        let mut headers = Vec::new();
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        self.http.request(method, path, &headers, body).await
    }

    async fn authed(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Response> {
        let auth = zeroize::Zeroizing::new(self.account.credentials.basic_auth());
        self.call(method, path, Some(&auth), body).await
    }

    // -- registration and keys ----------------------------------------------------------

    /// Registers a fresh account for `e164` (verification session, `code`, then
    /// `POST /v1/registration`), uploads `one_time_keys` EC and Kyber one-time prekeys, and
    /// returns the client. `unrestricted` sets `unrestrictedUnidentifiedAccess` (channels).
    pub async fn register(
        config: &ServiceConfig,
        e164: &str,
        code: &str,
        unrestricted: bool,
        one_time_keys: u32,
    ) -> Result<SignalClient> {
        Self::register_with(
            config,
            e164,
            &|_| Some(code.to_owned()),
            unrestricted,
            one_time_keys,
        )
        .await
    }

    /// As [`SignalClient::register`], with the verification code obtained after it was
    /// requested, from the verification session id (e.g. the sim's test hook, or a prompt).
    pub async fn register_with(
        config: &ServiceConfig,
        e164: &str,
        code_for_session: &dyn Fn(&str) -> Option<String>,
        unrestricted: bool,
        one_time_keys: u32,
    ) -> Result<SignalClient> {
        let mut rng = rand::rng();
        let mut account = Account::generate(e164, &mut rng)?;
        let now = Timestamp::from_epoch_millis(now_ms());
        keys::install_initial_keys(&mut account.store, now, &mut rng)?;
        let mut client = SignalClient::new(config, account);
        let session_id = client.verify_number(code_for_session).await?;
        client
            .post_registration(&session_id, unrestricted, now)
            .await?;
        client.upload_prekeys(one_time_keys, one_time_keys).await?;
        Ok(client)
    }

    async fn verify_number(
        &self,
        code_for_session: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String> {
        const OP: &str = "verification session";
        let req = json::CreateVerificationSessionRequest {
            number: self.account.credentials.e164.clone(),
            push_token: None,
            push_token_type: None,
            mcc: None,
            mnc: None,
        };
        let r = self
            .call(
                Method::POST,
                "/v1/verification/session",
                None,
                Some(to_json(&req)),
            )
            .await?;
        if !r.status.is_success() {
            return Err(status_err(OP, &r));
        }
        let session: json::VerificationSessionResponse = parse(OP, &r)?;
        let id = session.id;
        let path = format!("/v1/verification/session/{id}/code");
        let req = json::VerificationCodeRequest {
            transport: "sms".into(),
            client: "android".into(),
        };
        let r = self
            .call(Method::POST, &path, None, Some(to_json(&req)))
            .await?;
        if !r.status.is_success() {
            return Err(status_err("request verification code", &r));
        }
        let code = code_for_session(&id).ok_or(Error::Status {
            operation: "no verification code",
            status: r.status.as_u16(),
        })?;
        let req = json::SubmitVerificationCodeRequest { code };
        let r = self
            .call(Method::PUT, &path, None, Some(to_json(&req)))
            .await?;
        if !r.status.is_success() {
            return Err(status_err("submit verification code", &r));
        }
        let session: json::VerificationSessionResponse = parse(OP, &r)?;
        if !session.verified {
            return Err(Error::Status {
                operation: "verification not accepted",
                status: r.status.as_u16(),
            });
        }
        Ok(id)
    }

    async fn post_registration(
        &mut self,
        session_id: &str,
        unrestricted: bool,
        now: Timestamp,
    ) -> Result<()> {
        const OP: &str = "registration";
        let acct = &self.account;
        let (account_attributes, [aci_spk, pni_spk, aci_kyber, pni_kyber]) =
            new_device_upload(acct, unrestricted, now)?;
        let store = &acct.store;
        let req = json::RegistrationRequest {
            session_id: Some(session_id.to_owned()),
            account_attributes,
            skip_device_transfer: true,
            aci_identity_key: store
                .identity_key_pair()
                .identity_key()
                .serialize()
                .to_vec(),
            pni_identity_key: acct.pni_identity.identity_key().serialize().to_vec(),
            aci_signed_pre_key: aci_spk,
            pni_signed_pre_key: pni_spk,
            aci_pq_last_resort_pre_key: aci_kyber,
            pni_pq_last_resort_pre_key: pni_kyber,
        };
        let auth = zeroize::Zeroizing::new(acct.credentials.number_auth());
        let r = self
            .call(
                Method::POST,
                "/v1/registration",
                Some(&auth),
                Some(to_json(&req)),
            )
            .await?;
        if !r.status.is_success() {
            return Err(status_err(OP, &r));
        }
        let resp: json::AccountIdentityResponse = parse(OP, &r)?;
        self.account.credentials.aci = Aci::from(resp.uuid);
        self.account.credentials.pni = libsignal_protocol::Pni::from(resp.pni);
        Ok(())
    }

    /// Generates and uploads `ec` one-time EC prekeys and `kyber` one-time Kyber prekeys
    /// (`PUT /v2/keys?identity=aci`), each capped at [`PREKEY_BATCH`]. As on the real
    /// service, an upload replaces the one-time keys of that kind held there.
    pub async fn upload_prekeys(&mut self, ec: u32, kyber: u32) -> Result<()> {
        let mut rng = rand::rng();
        let (mut ec, mut kyber) = (ec.min(PREKEY_BATCH), kyber.min(PREKEY_BATCH));
        while ec > 0 || kyber > 0 {
            let n_ec = ec.min(PREKEY_BATCH);
            let n_ky = kyber.min(PREKEY_BATCH);
            let mut req = json::SetKeysRequest::default();
            if n_ec > 0 {
                let first = self.account.next_prekey_id;
                let recs = keys::one_time_prekeys(first, n_ec, &mut rng);
                let mut list = Vec::with_capacity(recs.len());
                for r in recs {
                    list.push(json::EcPreKey {
                        key_id: u32::from(r.id()?),
                        public_key: r.public_key()?.serialize().to_vec(),
                    });
                    self.account.store.save_prekey(r)?;
                }
                self.account.next_prekey_id = first.wrapping_add(n_ec).max(1);
                req.pre_keys = Some(list);
            }
            if n_ky > 0 {
                let identity = *self.account.store.identity_key_pair();
                let mut list = Vec::with_capacity(n_ky as usize);
                for _ in 0..n_ky {
                    let id = self.account.next_kyber_id;
                    self.account.next_kyber_id = id.wrapping_add(1).max(2);
                    let r = keys::kyber_prekey(&identity, id)?;
                    list.push(kyber_json(&r)?);
                    self.account.store.save_kyber_pre_key_flagged(
                        KyberPreKeyId::from(id),
                        r,
                        false,
                    );
                }
                req.pq_pre_keys = Some(list);
            }
            let r = self
                .authed(Method::PUT, "/v2/keys?identity=aci", Some(to_json(&req)))
                .await?;
            if !r.status.is_success() {
                return Err(status_err("upload prekeys", &r));
            }
            ec -= n_ec;
            kyber -= n_ky;
        }
        self.account
            .store
            .prune_one_time_prekeys(ONE_TIME_PREKEYS_KEPT);
        Ok(())
    }

    /// Rotates the signed EC prekey and the last-resort Kyber key, as the apps do every few
    /// days: new keys are stored, uploaded (`PUT /v2/keys` with `signedPreKey` and
    /// `pqLastResortPreKey`), and then only the [`SIGNED_PREKEYS_KEPT`] newest of each are
    /// kept, so messages already in flight to the previous keys still decrypt.
    pub async fn rotate_signed_prekeys(&mut self) -> Result<()> {
        let mut rng = rand::rng();
        let identity = *self.account.store.identity_key_pair();
        let now = Timestamp::from_epoch_millis(now_ms());
        let sid = self.account.next_signed_id;
        self.account.next_signed_id = sid.wrapping_add(1).max(2);
        let spk = keys::signed_prekey(&identity, sid, now, &mut rng)?;
        let kid = self.account.next_kyber_id;
        self.account.next_kyber_id = kid.wrapping_add(1).max(2);
        let kpk = keys::kyber_prekey(&identity, kid)?;
        let req = json::SetKeysRequest {
            signed_pre_key: Some(signed_json(&spk)?),
            pq_last_resort_pre_key: Some(kyber_json(&kpk)?),
            ..Default::default()
        };
        self.account.store.save_signed_prekey(spk)?;
        self.account
            .store
            .save_kyber_pre_key_flagged(KyberPreKeyId::from(kid), kpk, true);
        let r = self
            .authed(Method::PUT, "/v2/keys?identity=aci", Some(to_json(&req)))
            .await?;
        if !r.status.is_success() {
            return Err(status_err("rotate signed prekeys", &r));
        }
        self.account.store.prune_signed_prekeys(SIGNED_PREKEYS_KEPT);
        Ok(())
    }

    /// Keeps the keys others start sessions with fresh: tops up one-time prekeys when the
    /// service holds fewer than `threshold` of either kind, and rotates the signed and
    /// last-resort prekeys once the newest signed prekey is older than
    /// [`SIGNED_PREKEY_MAX_AGE_MS`]. Returns `(ec, kyber)` one-time keys uploaded.
    pub async fn refill_prekeys(&mut self, threshold: u32) -> Result<(u32, u32)> {
        let topped = self.top_up_prekeys(threshold).await?;
        let newest = self
            .account
            .store
            .signed_prekeys
            .newest()
            .and_then(|k| k.timestamp().ok())
            .map_or(0, |t| t.epoch_millis());
        if now_ms().saturating_sub(newest) > SIGNED_PREKEY_MAX_AGE_MS {
            self.rotate_signed_prekeys().await?;
        }
        Ok(topped)
    }

    async fn top_up_prekeys(&mut self, threshold: u32) -> Result<(u32, u32)> {
        const OP: &str = "prekey count";
        let r = self
            .authed(Method::GET, "/v2/keys?identity=aci", None)
            .await?;
        if !r.status.is_success() {
            return Err(status_err(OP, &r));
        }
        let c: json::PreKeyCount = parse(OP, &r)?;
        let ec = if c.count < threshold { PREKEY_BATCH } else { 0 };
        let ky = if c.pq_count < threshold {
            PREKEY_BATCH
        } else {
            0
        };
        if ec > 0 || ky > 0 {
            self.upload_prekeys(ec, ky).await?;
        }
        Ok((ec, ky))
    }

    /// SIM-ONLY: the ACI registered to a number (`GET /v1/directory/{e164}`), remembered
    /// in the recipient book. `None` when the number is not registered.
    pub async fn lookup(&mut self, e164: &str) -> Result<Option<Aci>> {
        const OP: &str = "directory lookup";
        if let Some(a) = self.account.store.aci_for_e164(e164) {
            return Ok(Some(a));
        }
        let r = self
            // `+` percent-encoded: some decoders read a bare `+` as a space.
            .authed(
                Method::GET,
                &format!("/v1/directory/{}", e164.replace('+', "%2B")),
                None,
            )
            .await?;
        if r.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !r.status.is_success() {
            return Err(status_err(OP, &r));
        }
        let d: json::DirectoryLookupResponse = parse(OP, &r)?;
        let aci = Aci::from(d.uuid);
        self.account.store.set_e164(&aci, e164)?;
        Ok(Some(aci))
    }

    // -- sessions --------------------------------------------------------------------------

    /// Fetches prekey bundles for `to` (one device, or all) and starts sessions. Returns
    /// whether the identity key changed.
    pub async fn fetch_sessions(&mut self, to: &Aci, device: Option<DeviceId>) -> Result<bool> {
        let auth = zeroize::Zeroizing::new(self.account.credentials.basic_auth());
        let r = fetch_bundles(&self.http, to, device, &auth).await?;
        self.install_bundles(to, &r).await
    }

    /// Starts sessions from a `GET /v2/keys/…` answer. Returns whether the identity changed.
    pub(crate) async fn install_bundles(&mut self, to: &Aci, r: &Response) -> Result<bool> {
        const OP: &str = "fetch prekeys";
        if r.status == StatusCode::NOT_FOUND {
            return Err(Error::Unregistered);
        }
        if !r.status.is_success() {
            return Err(status_err(OP, r));
        }
        let resp: json::PreKeyResponse = parse(OP, r)?;
        let bundles = bundles_from(&resp)?;
        let mut rng = rand::rng();
        let mut changed = false;
        let name = to.service_id_string();
        for (dev, b) in bundles {
            let addr = ProtocolAddress::new(name.clone(), dev);
            changed |= cipher::process_bundle(
                &mut self.account.store,
                &addr,
                &b,
                SystemTime::now(),
                &mut rng,
            )
            .await?;
        }
        Ok(changed)
    }

    /// A current sender certificate (fetched and cached), with our number only if
    /// [`SignalClient::share_number`].
    pub async fn sender_certificate(&mut self) -> Result<SenderCertificate> {
        const OP: &str = "sender certificate";
        if let Some(c) = &self.sender_cert {
            let exp = c.expiration().map(|t| t.epoch_millis()).unwrap_or(0);
            let has_number = matches!(c.sender_e164(), Ok(Some(_)));
            if exp > now_ms().saturating_add(CERT_REFRESH_MARGIN_MS)
                && has_number == self.share_number
            {
                return Ok(c.clone());
            }
        }
        let path = if self.share_number {
            "/v1/certificate/delivery"
        } else {
            "/v1/certificate/delivery?includeE164=false"
        };
        let r = self.authed(Method::GET, path, None).await?;
        if !r.status.is_success() {
            return Err(status_err(OP, &r));
        }
        let c: json::SenderCertificateResponse = parse(OP, &r)?;
        let cert = SenderCertificate::deserialize(&c.certificate)
            .map_err(|_| Error::BadResponse { operation: OP })?;
        self.sender_cert = Some(cert.clone());
        Ok(cert)
    }

    // -- sending ---------------------------------------------------------------------------

    /// Sends serialized `Content` to one recipient (all its devices), recovering from
    /// 401/409/410/413/429 as SPEC.md §4 says. A strict recipient
    /// ([`crate::ProtocolStore::set_strict`]) whose identity key changed gets nothing:
    /// [`Error::UntrustedIdentity`].
    pub async fn send(&mut self, to: &Aci, content: &[u8], timestamp: u64) -> Result<SendReport> {
        let padded = zeroize::Zeroizing::new(cipher::pad(content));
        self.send_padded(to, &padded, timestamp, None).await
    }

    /// Sends the same content to many recipients: everything that can go out at once is
    /// encrypted up front (on every core) and PUT in parallel over the connection pool.
    /// Rate-limited recipients are retried together after one wait; other recipients
    /// that need recovery then go through [`SignalClient::send`]'s path.
    pub async fn send_many(
        &mut self,
        to: &[Aci],
        content: &[u8],
        timestamp: u64,
    ) -> Vec<(Aci, Result<SendReport>)> {
        let padded = zeroize::Zeroizing::new(cipher::pad(content));
        let mut results = Vec::with_capacity(to.len());
        let cert = if self.sealed_sender {
            self.sender_certificate().await.ok()
        } else {
            None
        };
        // Recipients without any session: fetch their bundles in parallel first.
        let changed = self.fetch_missing_sessions(to, &mut results).await;
        let failed: std::collections::HashSet<Aci> = results.iter().map(|(a, _)| *a).collect();
        // Rounds: everyone rate-limited in a round waits out the longest `Retry-After`
        // once and goes again together; any other answer that needs recovery goes through
        // `send`'s path one recipient at a time (rare: 401/409/410).
        let mut pending: Vec<Aci> = to
            .iter()
            .filter(|a| !failed.contains(*a))
            .copied()
            .collect();
        for round in 1..=MAX_SEND_ATTEMPTS {
            let ready =
                self.prepare_round(&pending, cert.as_ref(), &padded, timestamp, &mut results);
            let sent = self.put_all(ready).await;
            let mut limited = Vec::new();
            let mut wait = Duration::ZERO;
            for (p, r) in sent {
                let to = p.to;
                let res = match r {
                    Err(e) => Err(e),
                    Ok(resp) => match rate_limit_wait(&resp) {
                        Some(w) if round < MAX_SEND_ATTEMPTS => {
                            wait = wait.max(w);
                            limited.push(to);
                            continue;
                        }
                        Some(_) => Err(Error::RateLimited {
                            operation: "send message",
                            attempts: MAX_SEND_ATTEMPTS,
                        }),
                        None => self
                            .send_padded(&to, &padded, timestamp, Some((p, resp)))
                            .await
                            .map(|mut rep| {
                                rep.attempts += round - 1;
                                rep
                            }),
                    },
                };
                let res = res.map(|mut rep| {
                    rep.identity_changed |= changed.contains(&to);
                    rep
                });
                results.push((to, res));
            }
            if limited.is_empty() {
                break;
            }
            tokio::time::sleep(wait).await;
            pending = limited;
        }
        results
    }

    /// Encrypts `to` for one round of [`SignalClient::send_many`], on every core (with
    /// sealed sender, three X25519 per recipient: most of a large broadcast's CPU time).
    /// Recipients that fail to encrypt go straight to `results`.
    pub(crate) fn prepare_round(
        &mut self,
        to: &[Aci],
        cert: Option<&SenderCertificate>,
        padded: &[u8],
        timestamp: u64,
        results: &mut Vec<(Aci, Result<SendReport>)>,
    ) -> Vec<(Prepared, Option<[u8; 16]>)> {
        let mut uaks = Vec::with_capacity(to.len());
        let mut jobs = Vec::with_capacity(to.len());
        for aci in to {
            let uak = self.uak_for(aci);
            let c = if uak.is_some() { cert } else { None };
            uaks.push(if c.is_some() { uak } else { None });
            jobs.push((*aci, c));
        }
        let threads = fanout::threads_for(jobs.len());
        let prepared =
            fanout::prepare_many(&mut self.account.store, &jobs, padded, timestamp, threads);
        let mut ready = Vec::with_capacity(jobs.len());
        for ((p, uak), (aci, _)) in prepared.into_iter().zip(uaks).zip(&jobs) {
            match p {
                Ok(p) => ready.push((p, uak)),
                Err(e) => results.push((*aci, Err(e))),
            }
        }
        ready
    }

    /// PUTs every prepared body in parallel over the connection pool.
    async fn put_all(
        &self,
        ready: Vec<(Prepared, Option<[u8; 16]>)>,
    ) -> Vec<(Prepared, Result<Response>)> {
        use futures::StreamExt as _;
        let http = self.http.clone();
        let auth = zeroize::Zeroizing::new(self.account.credentials.basic_auth());
        futures::stream::iter(ready)
            .map(|(p, uak)| {
                let http = http.clone();
                let auth = auth.clone();
                async move {
                    let r = put_messages(&http, &p, uak.as_ref(), &auth).await;
                    (p, r)
                }
            })
            .buffer_unordered(self.http_parallelism())
            .collect()
            .await
    }

    pub(crate) fn http_parallelism(&self) -> usize {
        self.parallelism
    }

    pub(crate) fn uak_for(&self, to: &Aci) -> Option<[u8; 16]> {
        let known = self.account.store.recipient(to).and_then(|r| r.uak);
        known.or_else(|| {
            (self.try_unrestricted && !self.restricted.contains(to)).then(|| {
                let mut k = [0u8; 16];
                rand::Rng::fill(&mut rand::rng(), &mut k);
                k
            })
        })
    }

    async fn send_padded(
        &mut self,
        to: &Aci,
        padded: &[u8],
        timestamp: u64,
        mut first: Option<(Prepared, Response)>,
    ) -> Result<SendReport> {
        let mut report = SendReport::default();
        let mut use_sealed = self.sealed_sender;
        let mut last_rate_limited = false;
        let name = to.service_id_string();
        let mut rng = rand::rng();
        for attempt in 1..=MAX_SEND_ATTEMPTS {
            report.attempts = attempt;
            let (prepared, resp) = match first.take() {
                Some(x) => x,
                None => {
                    if self.account.store.session_devices(&name).is_empty() {
                        report.identity_changed |= self.fetch_sessions(to, None).await?;
                    }
                    let uak = if use_sealed { self.uak_for(to) } else { None };
                    let cert = match uak {
                        Some(_) => Some(self.sender_certificate().await?),
                        None => None,
                    };
                    let p = fanout::prepare_one(
                        &mut self.account.store,
                        to,
                        padded,
                        cert.as_ref(),
                        timestamp,
                        SystemTime::now(),
                        &mut rng,
                    )
                    .await?;
                    let auth = zeroize::Zeroizing::new(self.account.credentials.basic_auth());
                    let resp = put_messages(&self.http, &p, uak.as_ref(), &auth).await?;
                    (p, resp)
                }
            };
            last_rate_limited = false;
            match resp.status.as_u16() {
                200..=299 => {
                    report.sealed = prepared.sealed;
                    report.devices = prepared.devices;
                    return Ok(report);
                }
                401 if prepared.sealed => {
                    // A known key that no longer works is forgotten; a guessed one marks
                    // the recipient as restricted for this session.
                    if self
                        .account
                        .store
                        .recipient(to)
                        .is_some_and(|r| r.uak.is_some())
                    {
                        self.account.store.clear_uak(to);
                    } else {
                        self.restricted.insert(*to);
                    }
                    use_sealed = false;
                }
                404 => {
                    for d in self.account.store.session_devices(&name) {
                        self.account
                            .store
                            .remove_session(&ProtocolAddress::new(name.clone(), d));
                    }
                    return Err(Error::Unregistered);
                }
                409 => {
                    let m: json::MismatchedDevices = parse("mismatched devices", &resp)?;
                    for d in m.extra_devices {
                        if let Ok(d) = DeviceId::try_from(d) {
                            self.account
                                .store
                                .remove_session(&ProtocolAddress::new(name.clone(), d));
                        }
                    }
                    for d in m.missing_devices {
                        let d = DeviceId::try_from(d).map_err(|_| Error::BadResponse {
                            operation: "mismatched devices",
                        })?;
                        report.identity_changed |= self.fetch_sessions(to, Some(d)).await?;
                    }
                }
                410 => {
                    let s: json::StaleDevices = parse("stale devices", &resp)?;
                    for d in s.stale_devices {
                        let d = DeviceId::try_from(d).map_err(|_| Error::BadResponse {
                            operation: "stale devices",
                        })?;
                        self.account
                            .store
                            .remove_session(&ProtocolAddress::new(name.clone(), d));
                        report.identity_changed |= self.fetch_sessions(to, Some(d)).await?;
                    }
                }
                413 | 429 => {
                    let Some(wait) = rate_limit_wait(&resp) else {
                        return Err(Error::PayloadTooLarge {
                            operation: "send message",
                        });
                    };
                    last_rate_limited = true;
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(status_err("send message", &resp)),
            }
        }
        if last_rate_limited {
            Err(Error::RateLimited {
                operation: "send message",
                attempts: MAX_SEND_ATTEMPTS,
            })
        } else {
            Err(Error::DevicesDidNotConverge {
                attempts: MAX_SEND_ATTEMPTS,
            })
        }
    }

    // -- retry receipts --------------------------------------------------------------------

    /// Asks the sender of a message that did not decrypt ([`Error::DecryptionFailed`]) to
    /// send it again, as the Signal apps do: a `PlaintextContent` carrying a
    /// `DecryptionErrorMessage` for the original, in an unsealed type-8 envelope to the
    /// sender's device (`PUT /v1/messages/{aci}`, SPEC §5.1). The service wants our
    /// session's registration id for that device, so a session is started from a fetched
    /// bundle when we hold none (the sender's resend will replace it with its own).
    pub async fn send_retry_receipt(&mut self, retry: &cipher::RetryRequest) -> Result<()> {
        const OP: &str = "send retry receipt";
        let content = retry.plaintext_content()?;
        let name = retry.sender.service_id_string();
        let address = ProtocolAddress::new(name, retry.sender_device);
        let timestamp = now_ms();
        for _ in 0..MAX_SEND_ATTEMPTS {
            let registration_id = match self.account.store.sessions.registration_id(&address) {
                Some(id) => id,
                None => {
                    self.fetch_sessions(&retry.sender, Some(retry.sender_device))
                        .await?;
                    self.account
                        .store
                        .sessions
                        .registration_id(&address)
                        .ok_or(Error::BadResponse {
                            operation: "fetch prekeys",
                        })?
                }
            };
            let msg = cipher::OutgoingMessage {
                envelope_type: cipher::envelope_type::PLAINTEXT_CONTENT,
                destination_device_id: retry.sender_device,
                destination_registration_id: registration_id,
                content: content.clone(),
            };
            let p = Prepared {
                to: retry.sender,
                sealed: false,
                devices: 1,
                body: fanout::message_list_json(vec![msg], timestamp),
            };
            let auth = zeroize::Zeroizing::new(self.account.credentials.basic_auth());
            let resp = put_messages(&self.http, &p, None, &auth).await?;
            match resp.status.as_u16() {
                200..=299 => return Ok(()),
                404 => return Err(Error::Unregistered),
                // Our session's registration id is stale: start a new one and try again.
                410 => self.account.store.remove_session(&address),
                // 409: the service wants every device of the account; a retry receipt is
                // for one device only, as the apps send it.
                413 | 429 => {
                    let Some(wait) = rate_limit_wait(&resp) else {
                        return Err(Error::PayloadTooLarge { operation: OP });
                    };
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(status_err(OP, &resp)),
            }
        }
        Err(Error::RateLimited {
            operation: OP,
            attempts: MAX_SEND_ATTEMPTS,
        })
    }

    // -- receiving -------------------------------------------------------------------------

    /// Decrypts one envelope (the body of a WebSocket `PUT /api/v1/message`); see
    /// [`decrypt_envelope`].
    pub async fn decrypt(&mut self, envelope: &[u8]) -> Result<Incoming> {
        decrypt_envelope(&mut self.account, envelope, &self.trust_root, now_ms()).await
    }
}

/// Decrypts one serialized `Envelope` for `account`, without any network: the enclave
/// calls this at unlock on envelopes it sealed while locked. Sealed-sender certificates
/// are checked against `trust_root` at `now_ms`. A data message's profile key is
/// remembered for the sender (so later sends to them can be sealed).
pub async fn decrypt_envelope(
    account: &mut Account,
    envelope: &[u8],
    trust_root: &PublicKey,
    now_ms: u64,
) -> Result<Incoming> {
    let env = signal_api::decode_envelope(envelope).map_err(|_| Error::BadEnvelope {
        reason: "undecodable envelope",
    })?;
    let source = match (&env.source_service_id, env.source_device) {
        (Some(s), Some(d)) => Some((
            Aci::parse_from_service_id_string(s).ok_or(Error::InvalidServiceId)?,
            DeviceId::try_from(d).map_err(|_| Error::BadEnvelope {
                reason: "bad source device",
            })?,
        )),
        _ => None,
    };
    let body = env.content.as_deref().ok_or(Error::BadEnvelope {
        reason: "no content",
    })?;
    let aci = account.credentials.aci;
    let local = LocalAddress {
        aci: &aci,
        device_id: account.credentials.device_id,
    };
    let envelope_type = env.r#type.unwrap_or(0);
    let d = cipher::decrypt(
        &mut account.store,
        local,
        EnvelopeParts {
            envelope_type,
            source,
            content: body,
        },
        trust_root,
        Timestamp::from_epoch_millis(now_ms),
        &mut rand::rng(),
    )
    .await
    .map_err(|e| match e {
        Error::DecryptionFailed { kind, mut retry } => {
            retry.original_timestamp = env.timestamp.unwrap_or(0);
            Error::DecryptionFailed { kind, retry }
        }
        e => e,
    })?;
    let content = signal_api::decode_content(&d.content).map_err(|e| match e {
        signal_api::ApiError::TooLong { what, .. } | signal_api::ApiError::TooMany { what, .. } => {
            Error::ContentOverLimit { what }
        }
        _ => Error::BadContent {
            reason: "undecodable content",
        },
    })?;
    if envelope_type == cipher::envelope_type::PLAINTEXT_CONTENT
        && content
            != (Content {
                decryption_error_message: content.decryption_error_message.clone(),
                ..Default::default()
            })
    {
        // Only a decryption-error message may travel unencrypted (SPEC §5.1).
        return Err(Error::BadContent {
            reason: "plaintext content other than a decryption error message",
        });
    }
    if let Some(skdm) = content.sender_key_distribution_message.as_deref() {
        // The sender's key for later multi-recipient messages (SPEC §7).
        let skdm = libsignal_protocol::SenderKeyDistributionMessage::try_from(skdm)?;
        let from = ProtocolAddress::new(d.sender.service_id_string(), d.sender_device);
        libsignal_protocol::process_sender_key_distribution_message(
            &from,
            &skdm,
            &mut account.store.sender_keys,
        )
        .await?;
    }
    if let Some(pk) = content
        .data_message
        .as_ref()
        .and_then(|m| m.profile_key.as_deref())
    {
        if let Ok(pk) = <[u8; 32]>::try_from(pk) {
            account.store.set_profile_key(&d.sender, pk);
        }
    }
    Ok(Incoming {
        sender: d.sender,
        sender_e164: d.sender_e164,
        sender_device: d.sender_device,
        content,
        timestamp: env.timestamp.unwrap_or(0),
        server_timestamp: env.server_timestamp.unwrap_or(0),
        identity_changed: d.identity_changed,
        sealed_sender: d.sealed_sender,
    })
}

pub(crate) async fn fetch_bundles(
    http: &HttpClient,
    to: &Aci,
    device: Option<DeviceId>,
    auth: &str,
) -> Result<Response> {
    let which = device.map_or_else(|| "*".to_owned(), |d| d.to_string());
    let path = format!("/v2/keys/{}/{which}", to.service_id_string());
    http.request(Method::GET, &path, &[("Authorization", auth)], None)
        .await
}

pub(crate) async fn put_messages(
    http: &HttpClient,
    p: &Prepared,
    uak: Option<&[u8; 16]>,
    auth: &str,
) -> Result<Response> {
    use base64::Engine as _;
    let path = format!("/v1/messages/{}", p.to.service_id_string());
    let key;
    let headers: Vec<(&str, &str)> = match uak {
        Some(k) if p.sealed => {
            key = base64::engine::general_purpose::STANDARD.encode(k);
            vec![(signal_api::consts::UNIDENTIFIED_ACCESS_KEY, key.as_str())]
        }
        _ => vec![("Authorization", auth)],
    };
    http.request(Method::PUT, &path, &headers, Some(p.body.clone()))
        .await
}

/// What a new device of `acct` uploads (registration, linking): its account attributes and
/// `[aci signed, pni signed, aci last-resort, pni last-resort]` prekeys. The PNI keys only
/// satisfy the service: this client does not receive on its PNI, so their private halves
/// are not kept.
fn new_device_upload(
    acct: &Account,
    unrestricted: bool,
    now: Timestamp,
) -> Result<(json::AccountAttributes, [json::SignedPreKey; 4])> {
    let mut rng = rand::rng();
    let store = &acct.store;
    let aci_spk = store.signed_prekeys.newest().ok_or(Error::Corrupt {
        what: "no signed prekey",
    })?;
    let aci_kyber = store.kyber_prekeys.last_resort().ok_or(Error::Corrupt {
        what: "no last-resort kyber prekey",
    })?;
    let pni_spk = keys::signed_prekey(&acct.pni_identity, 1, now, &mut rng)?;
    let pni_kyber = keys::kyber_prekey(&acct.pni_identity, 1)?;
    let attributes = json::AccountAttributes {
        fetches_messages: true,
        registration_id: store.registration_id(),
        pni_registration_id: acct.pni_registration_id,
        name: None,
        registration_lock: None,
        unidentified_access_key: Some(acct.access_key().to_vec()),
        unrestricted_unidentified_access: unrestricted,
        capabilities: Default::default(),
        discoverable_by_phone_number: true,
    };
    let keys = [
        signed_json(aci_spk)?,
        signed_json(&pni_spk)?,
        kyber_json(aci_kyber)?,
        kyber_json(&pni_kyber)?,
    ];
    Ok((attributes, keys))
}

fn signed_json(r: &libsignal_protocol::SignedPreKeyRecord) -> Result<json::SignedPreKey> {
    Ok(json::SignedPreKey {
        key_id: u32::from(r.id()?),
        public_key: r.public_key()?.serialize().to_vec(),
        signature: r.signature()?,
    })
}

fn kyber_json(r: &libsignal_protocol::KyberPreKeyRecord) -> Result<json::SignedPreKey> {
    Ok(json::SignedPreKey {
        key_id: u32::from(r.id()?),
        public_key: r.public_key()?.serialize().to_vec(),
        signature: r.signature()?,
    })
}

/// Prekey bundles from a `GET /v2/keys/…` answer. Every device must carry a signed EC
/// prekey and a Kyber prekey (PQXDH); the identity key must parse.
pub fn bundles_from(resp: &json::PreKeyResponse) -> Result<Vec<(DeviceId, PreKeyBundle)>> {
    const OP: &str = "prekey bundle";
    let bad = || Error::BadResponse { operation: OP };
    let identity = IdentityKey::decode(&resp.identity_key).map_err(|_| bad())?;
    let mut out = Vec::with_capacity(resp.devices.len());
    for d in &resp.devices {
        let dev = DeviceId::try_from(d.device_id).map_err(|_| bad())?;
        let spk = d.signed_pre_key.as_ref().ok_or_else(bad)?;
        let kpk = d.pq_pre_key.as_ref().ok_or_else(bad)?;
        let pre = match &d.pre_key {
            Some(p) => Some((
                PreKeyId::from(p.key_id),
                PublicKey::deserialize(&p.public_key).map_err(|_| bad())?,
            )),
            None => None,
        };
        let bundle = PreKeyBundle::new(
            d.registration_id,
            dev,
            pre,
            SignedPreKeyId::from(spk.key_id),
            PublicKey::deserialize(&spk.public_key).map_err(|_| bad())?,
            spk.signature.clone(),
            KyberPreKeyId::from(kpk.key_id),
            libsignal_protocol::kem::PublicKey::deserialize(&kpk.public_key).map_err(|_| bad())?,
            kpk.signature.clone(),
            identity,
        )
        .map_err(|_| bad())?;
        out.push((dev, bundle));
    }
    Ok(out)
}
