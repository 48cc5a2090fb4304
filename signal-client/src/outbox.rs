//! Write-ahead sending (SPEC.md §4.2): encrypt first ([`SignalClient::stage_many`]), let
//! the caller commit the advanced store together with the staged request bodies (an
//! [`Outbox`], encoded as SPEC.md §4.2 says), then send exactly those bodies
//! ([`SignalClient::send_staged`]). A message key is therefore never used for a ciphertext
//! that leaves the process before the store that used it is durable, and a resend after a
//! rate limit or a crash is the same ciphertext (which the recipient refuses as a repeat).
//!
//! While sending, only sessions started in the same send phase from a freshly fetched
//! bundle (409 missing / 410 stale devices) are encrypted on: they hold fresh randomness,
//! and if the caller's next commit is lost they vanish with everything sent on them. A
//! recovery that would advance a session already committed (401 on sealed sender: the same
//! message again, unsealed) is handed back as a [`Restage`] for the caller's next
//! prepare → commit → send cycle.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use libsignal_protocol::{Aci, DeviceId, ProtocolAddress};
use signal_api::json;
use zeroize::{Zeroize, Zeroizing};

use crate::cipher::{self, OutgoingMessage};
use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};
use crate::fanout::{self, Prepared};
use crate::service::{
    fetch_bundles, parse, put_messages, rate_limit_wait, status_err, SendReport, SignalClient,
    MAX_SEND_ATTEMPTS,
};
use crate::transport::Response;

const MAGIC: &[u8; 4] = b"SCOB";
pub const OUTBOX_VERSION: u8 = 1;
/// Most groups (one per message content) in one outbox.
pub const MAX_OUTBOX_GROUPS: usize = 65_536;
/// Most staged request bodies in one outbox (all groups).
pub const MAX_OUTBOX_ITEMS: usize = 262_144;
/// Largest padded content of a group.
pub const MAX_STAGED_CONTENT: usize = 1024 * 1024;
/// Largest staged request body (one recipient, all devices).
pub const MAX_STAGED_BODY: usize = 4 * 1024 * 1024;
/// Send phases a staged body that failed transiently (I/O, 5xx, rate limit) is tried in
/// before it is given up as failed.
pub const MAX_STAGED_TRIES: u8 = 3;

const FLAG_SEALED: u8 = 1;
const FLAG_UAK: u8 = 2;
const FLAG_IDENTITY_CHANGED: u8 = 4;
const KNOWN_FLAGS: u8 = FLAG_SEALED | FLAG_UAK | FLAG_IDENTITY_CHANGED;
/// to (16) + flags (1) + devices (2) + tries (1) + body length (4).
const MIN_ITEM: usize = 16 + 1 + 2 + 1 + 4;
/// timestamp (8) + content length (4) + item count (4).
const MIN_GROUP: usize = 8 + 4 + 4;

/// One recipient's finished request body, with what sending it needs.
pub struct Staged {
    /// The body for `PUT /v1/messages/{to}`.
    pub prepared: Prepared,
    /// The unidentified-access key the body is sent with (sealed bodies only).
    uak: Option<Zeroizing<[u8; 16]>>,
    /// A new bundle with another identity key was accepted while staging.
    pub identity_changed: bool,
    /// Send phases this body has already been tried in (transient failures).
    pub tries: u8,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged")
            .field("sealed", &self.prepared.sealed)
            .field("devices", &self.prepared.devices)
            .field("len", &self.prepared.body.len())
            .field("tries", &self.tries)
            .finish_non_exhaustive()
    }
}

/// The bodies of one message content (one timestamp), and the padded content itself so
/// that a device the service adds while sending can be encrypted for.
pub struct StagedGroup {
    pub timestamp: u64,
    pub padded: Zeroizing<Vec<u8>>,
    pub items: Vec<Staged>,
}

impl std::fmt::Debug for StagedGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedGroup")
            .field("items", &self.items.len())
            .finish_non_exhaustive()
    }
}

/// Everything staged and not yet sent.
#[derive(Debug, Default)]
pub struct Outbox {
    pub groups: Vec<StagedGroup>,
}

/// A message to encrypt again in the caller's next committed cycle (SPEC.md §4.2).
pub struct Restage {
    pub timestamp: u64,
    pub padded: Zeroizing<Vec<u8>>,
    pub to: Vec<Aci>,
}

impl std::fmt::Debug for Restage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restage")
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

/// What [`SignalClient::send_staged`] did.
#[derive(Debug, Default)]
pub struct StagedSends {
    /// One result per body that is done (sent, or failed for good).
    pub results: Vec<(Aci, Result<SendReport>)>,
    /// Bodies that failed transiently and have tries left: stage them again as they are.
    pub keep: Outbox,
    /// Recipients whose message must be encrypted again (see [`Restage`]).
    pub restage: Vec<Restage>,
    /// The store changed while sending (sessions dropped or started, an access key
    /// forgotten): the caller should persist it.
    pub store_changed: bool,
}

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.items.is_empty())
    }

    /// Staged bodies in all groups.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.items.len()).sum()
    }

    /// SPEC.md §4.2.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        encode_parts(&[self])
    }
}

/// Encodes the groups of several outboxes as one (SPEC.md §4.2).
pub fn encode_parts(parts: &[&Outbox]) -> Result<Zeroizing<Vec<u8>>> {
    {
        let groups: Vec<&StagedGroup> = parts
            .iter()
            .flat_map(|o| o.groups.iter())
            .filter(|g| !g.items.is_empty())
            .collect();
        let items: usize = groups.iter().map(|g| g.items.len()).sum();
        if items > MAX_OUTBOX_ITEMS {
            return Err(Error::TooLarge {
                what: "outbox items",
                len: items as u64,
                max: MAX_OUTBOX_ITEMS as u64,
            });
        }
        let size: usize = groups
            .iter()
            .map(|g| {
                MIN_GROUP
                    + g.padded.len()
                    + g.items
                        .iter()
                        .map(|i| MIN_ITEM + 16 + i.prepared.body.len())
                        .sum::<usize>()
            })
            .sum();
        let mut w = Writer::with_capacity(MAGIC.len() + 1 + 4 + size);
        w.raw(MAGIC);
        w.u8(OUTBOX_VERSION);
        w.count("outbox groups", groups.len(), MAX_OUTBOX_GROUPS)?;
        for g in groups {
            w.u64(g.timestamp);
            w.bytes32("staged content", &g.padded, MAX_STAGED_CONTENT)?;
            w.count("outbox items", g.items.len(), MAX_OUTBOX_ITEMS)?;
            for i in &g.items {
                w.raw(&i.prepared.to.service_id_binary());
                let mut flags = 0;
                if i.prepared.sealed {
                    flags |= FLAG_SEALED;
                }
                if i.uak.is_some() {
                    flags |= FLAG_UAK;
                }
                if i.identity_changed {
                    flags |= FLAG_IDENTITY_CHANGED;
                }
                w.u8(flags);
                if let Some(k) = &i.uak {
                    w.raw(&k[..]);
                }
                let devices = u16::try_from(i.prepared.devices).map_err(|_| Error::TooLarge {
                    what: "staged devices",
                    len: i.prepared.devices as u64,
                    max: u64::from(u16::MAX),
                })?;
                w.u16(devices);
                w.u8(i.tries);
                w.bytes32("staged body", &i.prepared.body, MAX_STAGED_BODY)?;
            }
        }
        Ok(w.finish())
    }
}

impl Outbox {
    /// SPEC.md §4.2. Bounded, never panics.
    pub fn decode(bytes: &[u8]) -> Result<Outbox> {
        let mut r = Reader::new(bytes);
        if r.take("outbox", 4)? != MAGIC {
            return Err(Error::BadMagic { what: "outbox" });
        }
        let version = r.u8("outbox")?;
        if version != OUTBOX_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "outbox",
                version,
            });
        }
        let n = r.count("outbox groups", MAX_OUTBOX_GROUPS, MIN_GROUP)?;
        let mut groups = Vec::with_capacity(n);
        let mut total = 0usize;
        for _ in 0..n {
            let timestamp = r.u64("staged timestamp")?;
            let padded = Zeroizing::new(r.bytes32("staged content", MAX_STAGED_CONTENT)?.to_vec());
            let m = r.count("outbox items", MAX_OUTBOX_ITEMS, MIN_ITEM)?;
            total = total.saturating_add(m);
            if total > MAX_OUTBOX_ITEMS {
                return Err(Error::TooLarge {
                    what: "outbox items",
                    len: total as u64,
                    max: MAX_OUTBOX_ITEMS as u64,
                });
            }
            let mut items = Vec::with_capacity(m);
            for _ in 0..m {
                let to = Aci::from_uuid_bytes(r.array::<16>("staged recipient")?);
                let flags = r.u8("staged flags")?;
                if flags & !KNOWN_FLAGS != 0 {
                    return Err(Error::Corrupt {
                        what: "staged flags",
                    });
                }
                let uak = if flags & FLAG_UAK != 0 {
                    Some(Zeroizing::new(r.array::<16>("staged access key")?))
                } else {
                    None
                };
                let sealed = flags & FLAG_SEALED != 0;
                if sealed != uak.is_some() {
                    return Err(Error::Corrupt {
                        what: "staged flags",
                    });
                }
                let devices = usize::from(r.u16("staged devices")?);
                let tries = r.u8("staged tries")?;
                let body = r.bytes32("staged body", MAX_STAGED_BODY)?.to_vec();
                items.push(Staged {
                    prepared: Prepared {
                        to,
                        sealed,
                        devices,
                        body,
                    },
                    uak,
                    identity_changed: flags & FLAG_IDENTITY_CHANGED != 0,
                    tries,
                });
            }
            groups.push(StagedGroup {
                timestamp,
                padded,
                items,
            });
        }
        r.finish()?;
        Ok(Outbox { groups })
    }
}

/// Failures that a later send phase may not see again (the body stays staged).
pub fn is_transient(e: &Error) -> bool {
    match e {
        Error::Io { .. } | Error::Http { .. } | Error::Timeout { .. } => true,
        Error::RateLimited { .. } => true,
        Error::Status { status, .. } => *status >= 500,
        _ => false,
    }
}

impl SignalClient {
    /// Encrypts serialized `content` for every device of every recipient in `to`, exactly
    /// as [`SignalClient::send_many`] would before its first PUT (bundles fetched for
    /// recipients without a session; sealed sender where the access key is known), and
    /// returns the bodies instead of sending them. Recipients that cannot be encrypted
    /// for (e.g. [`Error::UntrustedIdentity`], [`Error::Unregistered`]) are in the results.
    pub async fn stage_many(
        &mut self,
        to: &[Aci],
        content: &[u8],
        timestamp: u64,
    ) -> (StagedGroup, Vec<(Aci, Result<SendReport>)>) {
        let padded = Zeroizing::new(cipher::pad(content));
        self.stage_padded(to, padded, timestamp).await
    }

    /// [`SignalClient::stage_many`] for already padded content (a [`Restage`]).
    pub async fn stage_padded(
        &mut self,
        to: &[Aci],
        padded: Zeroizing<Vec<u8>>,
        timestamp: u64,
    ) -> (StagedGroup, Vec<(Aci, Result<SendReport>)>) {
        let mut results = Vec::new();
        let cert = if self.sealed_sender {
            self.sender_certificate().await.ok()
        } else {
            None
        };
        let changed = self.fetch_missing_sessions(to, &mut results).await;
        let failed: HashSet<Aci> = results.iter().map(|(a, _)| *a).collect();
        let pending: Vec<Aci> = to
            .iter()
            .filter(|a| !failed.contains(*a))
            .copied()
            .collect();
        let ready = self.prepare_round(&pending, cert.as_ref(), &padded, timestamp, &mut results);
        let items = ready
            .into_iter()
            .map(|(p, uak)| Staged {
                identity_changed: changed.contains(&p.to),
                uak: uak.filter(|_| p.sealed).map(Zeroizing::new),
                prepared: p,
                tries: 0,
            })
            .collect();
        (
            StagedGroup {
                timestamp,
                padded,
                items,
            },
            results,
        )
    }

    /// Sends every staged body as it is (SPEC.md §4.2): all at once over the pool; bodies
    /// answered with a rate limit wait out the round's longest `Retry-After` and are sent
    /// again unchanged; other answers that need recovery go one recipient at a time.
    pub async fn send_staged(&mut self, outbox: Outbox) -> StagedSends {
        let mut out = StagedSends::default();
        // Sessions started in this send phase (fresh bundles): the only ones encrypted on.
        let mut fresh: HashSet<ProtocolAddress> = HashSet::new();
        let mut refused: HashSet<Aci> = HashSet::new();
        for group in outbox.groups {
            let StagedGroup {
                timestamp,
                padded,
                items,
            } = group;
            // A recipient whose new identity key was refused earlier in this phase gets
            // nothing more: no PUT, no bundle fetch (SPEC.md §4.1).
            let (skipped, mut pending): (Vec<Staged>, Vec<Staged>) = items
                .into_iter()
                .partition(|i| refused.contains(&i.prepared.to));
            for i in skipped {
                out.results
                    .push((i.prepared.to, Err(Error::UntrustedIdentity)));
            }
            let mut keep = Vec::new();
            let mut restage = Vec::new();
            for round in 1..=MAX_SEND_ATTEMPTS {
                let answers = self.put_staged(&pending).await;
                let mut limited = Vec::new();
                let mut wait = Duration::ZERO;
                for (item, answer) in pending.into_iter().zip(answers) {
                    let to = item.prepared.to;
                    let resp = match answer {
                        Ok(r) => r,
                        Err(e) => {
                            finish(&mut out.results, &mut keep, item, Err(e));
                            continue;
                        }
                    };
                    match rate_limit_wait(&resp) {
                        Some(w) if round < MAX_SEND_ATTEMPTS => {
                            wait = wait.max(w);
                            limited.push(item);
                        }
                        Some(_) => finish(
                            &mut out.results,
                            &mut keep,
                            item,
                            Err(Error::RateLimited {
                                operation: "send message",
                                attempts: MAX_SEND_ATTEMPTS,
                            }),
                        ),
                        None if resp.status.is_success() => {
                            let report = SendReport {
                                identity_changed: item.identity_changed,
                                sealed: item.prepared.sealed,
                                devices: item.prepared.devices,
                                attempts: round,
                            };
                            out.results.push((to, Ok(report)));
                        }
                        None => {
                            out.store_changed = true;
                            let (item, r) = self
                                .recover_staged(item, &padded, timestamp, resp, round, &mut fresh)
                                .await;
                            match r {
                                Err(Error::NeedsRestage { .. }) => restage.push(to),
                                Err(Error::UntrustedIdentity) => {
                                    refused.insert(to);
                                    out.results.push((to, Err(Error::UntrustedIdentity)));
                                }
                                r => finish(&mut out.results, &mut keep, item, r),
                            }
                        }
                    }
                }
                if limited.is_empty() {
                    break;
                }
                tokio::time::sleep(wait).await;
                pending = limited;
            }
            if !restage.is_empty() {
                out.restage.push(Restage {
                    timestamp,
                    padded: padded.clone(),
                    to: restage,
                });
            }
            if !keep.is_empty() {
                out.keep.groups.push(StagedGroup {
                    timestamp,
                    padded,
                    items: keep,
                });
            }
        }
        out
    }

    /// Recipients of `to` without any session: their bundles are fetched in parallel and
    /// sessions started. Returns those whose identity key changed; failures go to
    /// `results`.
    pub(crate) async fn fetch_missing_sessions(
        &mut self,
        to: &[Aci],
        results: &mut Vec<(Aci, Result<SendReport>)>,
    ) -> HashSet<Aci> {
        use futures::StreamExt as _;
        let need: Vec<Aci> = to
            .iter()
            .filter(|a| {
                self.account
                    .store
                    .session_devices(&a.service_id_string())
                    .is_empty()
            })
            .copied()
            .collect();
        let mut changed = HashSet::new();
        if need.is_empty() {
            return changed;
        }
        let http = self.http().clone();
        let auth = Zeroizing::new(self.account.credentials.basic_auth());
        let fetched: Vec<(Aci, Result<Response>)> = futures::stream::iter(need)
            .map(|aci| {
                let http = http.clone();
                let auth = auth.clone();
                async move { (aci, fetch_bundles(&http, &aci, None, &auth).await) }
            })
            .buffer_unordered(self.http_parallelism())
            .collect()
            .await;
        for (aci, r) in fetched {
            match r {
                Ok(r) => match self.install_bundles(&aci, &r).await {
                    Ok(true) => {
                        changed.insert(aci);
                    }
                    Ok(false) => {}
                    Err(e) => results.push((aci, Err(e))),
                },
                Err(e) => results.push((aci, Err(e))),
            }
        }
        changed
    }

    async fn put_staged(&self, items: &[Staged]) -> Vec<Result<Response>> {
        use futures::StreamExt as _;
        let http = self.http().clone();
        let auth = Zeroizing::new(self.account.credentials.basic_auth());
        let mut answers: Vec<(usize, Result<Response>)> =
            futures::stream::iter(items.iter().enumerate())
                .map(|(i, s)| {
                    let http = http.clone();
                    let auth = auth.clone();
                    async move {
                        let uak = s.uak.as_deref();
                        (i, put_messages(&http, &s.prepared, uak, &auth).await)
                    }
                })
                .buffer_unordered(self.http_parallelism())
                .collect()
                .await;
        answers.sort_by_key(|(i, _)| *i);
        answers.into_iter().map(|(_, r)| r).collect()
    }

    /// One staged body whose answer `resp` is neither success nor a rate limit
    /// (SPEC.md §4.2). Returns the body (as last sent) and the result.
    async fn recover_staged(
        &mut self,
        mut item: Staged,
        padded: &[u8],
        timestamp: u64,
        mut resp: Response,
        round: u32,
        fresh: &mut HashSet<ProtocolAddress>,
    ) -> (Staged, Result<SendReport>) {
        let to = item.prepared.to;
        let name = to.service_id_string();
        let mut report = SendReport {
            identity_changed: item.identity_changed,
            ..SendReport::default()
        };
        let mut last_rate_limited = false;
        for attempt in round..=MAX_SEND_ATTEMPTS {
            report.attempts = attempt;
            last_rate_limited = false;
            let step: Result<()> = async {
                match resp.status.as_u16() {
                    200..=299 => Ok(()),
                    401 if item.prepared.sealed => {
                        // The key no longer works (or was guessed): sending unsealed is
                        // a new encryption, for a committed cycle.
                        if self
                            .account
                            .store
                            .recipient(&to)
                            .is_some_and(|r| r.uak.is_some())
                        {
                            self.account.store.clear_uak(&to);
                        } else {
                            self.restricted.insert(to);
                        }
                        Err(Error::NeedsRestage {
                            operation: "send message",
                        })
                    }
                    404 => {
                        for d in self.account.store.session_devices(&name) {
                            self.account
                                .store
                                .remove_session(&ProtocolAddress::new(name.clone(), d));
                        }
                        Err(Error::Unregistered)
                    }
                    409 => {
                        let m: json::MismatchedDevices = parse("mismatched devices", &resp)?;
                        let mut drop_devs = Vec::new();
                        for d in m.extra_devices {
                            let d = device(d, "mismatched devices")?;
                            self.account
                                .store
                                .remove_session(&ProtocolAddress::new(name.clone(), d));
                            drop_devs.push(d);
                        }
                        let mut add = Vec::new();
                        for d in m.missing_devices {
                            let d = device(d, "mismatched devices")?;
                            let addr = ProtocolAddress::new(name.clone(), d);
                            let have = self.account.store.sessions.registration_id(&addr).is_some();
                            if !(fresh.contains(&addr) && have) {
                                report.identity_changed |=
                                    self.fetch_sessions(&to, Some(d)).await?;
                                fresh.insert(addr);
                            }
                            drop_devs.push(d);
                            add.push(d);
                        }
                        self.rebuild(&mut item, padded, timestamp, &drop_devs, &add, fresh)
                            .await
                    }
                    410 => {
                        let s: json::StaleDevices = parse("stale devices", &resp)?;
                        let mut stale = Vec::new();
                        for d in s.stale_devices {
                            let d = device(d, "stale devices")?;
                            let addr = ProtocolAddress::new(name.clone(), d);
                            self.account.store.remove_session(&addr);
                            report.identity_changed |= self.fetch_sessions(&to, Some(d)).await?;
                            fresh.insert(addr);
                            stale.push(d);
                        }
                        self.rebuild(&mut item, padded, timestamp, &stale, &stale, fresh)
                            .await
                    }
                    413 | 429 => {
                        let Some(wait) = rate_limit_wait(&resp) else {
                            return Err(Error::PayloadTooLarge {
                                operation: "send message",
                            });
                        };
                        last_rate_limited = true;
                        tokio::time::sleep(wait).await;
                        Ok(())
                    }
                    _ => Err(status_err("send message", &resp)),
                }
            }
            .await;
            if let Err(e) = step {
                return (item, Err(e));
            }
            if resp.status.is_success() {
                report.sealed = item.prepared.sealed;
                report.devices = item.prepared.devices;
                return (item, Ok(report));
            }
            if attempt == MAX_SEND_ATTEMPTS {
                break;
            }
            let auth = Zeroizing::new(self.account.credentials.basic_auth());
            resp = match put_messages(self.http(), &item.prepared, item.uak.as_deref(), &auth).await
            {
                Ok(r) => r,
                Err(e) => return (item, Err(e)),
            };
            if resp.status.is_success() {
                report.attempts = attempt + 1;
                report.sealed = item.prepared.sealed;
                report.devices = item.prepared.devices;
                return (item, Ok(report));
            }
        }
        let e = if last_rate_limited {
            Error::RateLimited {
                operation: "send message",
                attempts: MAX_SEND_ATTEMPTS,
            }
        } else {
            Error::DevicesDidNotConverge {
                attempts: MAX_SEND_ATTEMPTS,
            }
        };
        (item, Err(e))
    }

    /// Rewrites `item`'s body: the ciphertexts for `drop_devs` go, and `add` (sessions
    /// started in this send phase, in `fresh`) are encrypted for; every other device keeps
    /// the ciphertext that was staged and committed.
    async fn rebuild(
        &mut self,
        item: &mut Staged,
        padded: &[u8],
        timestamp: u64,
        drop_devs: &[DeviceId],
        add: &[DeviceId],
        fresh: &HashSet<ProtocolAddress>,
    ) -> Result<()> {
        const OP: &str = "staged body";
        let list: json::IncomingMessageList = signal_api::parse_json(&item.prepared.body)
            .map_err(|_| Error::BadResponse { operation: OP })?;
        let mut msgs = Vec::with_capacity(list.messages.len() + add.len());
        for m in list.messages {
            let d = device(m.destination_device_id, OP)?;
            if drop_devs.contains(&d) {
                continue;
            }
            msgs.push(OutgoingMessage {
                envelope_type: i32::try_from(m.r#type)
                    .map_err(|_| Error::BadResponse { operation: OP })?,
                destination_device_id: d,
                destination_registration_id: m.destination_registration_id,
                content: m.content,
            });
        }
        let name = item.prepared.to.service_id_string();
        let cert = if item.prepared.sealed {
            Some(self.sender_certificate().await?)
        } else {
            None
        };
        let mut rng = rand::rng();
        for d in add {
            let addr = ProtocolAddress::new(name.clone(), *d);
            if !fresh.contains(&addr) {
                // Never reached: every added device was just given a new session.
                return Err(Error::NeedsRestage { operation: OP });
            }
            msgs.push(
                cipher::encrypt(
                    &mut self.account.store,
                    &addr,
                    padded,
                    cert.as_ref(),
                    SystemTime::now(),
                    &mut rng,
                )
                .await?,
            );
        }
        item.prepared.devices = msgs.len();
        let mut old = std::mem::replace(
            &mut item.prepared.body,
            fanout::message_list_json(msgs, timestamp),
        );
        old.zeroize();
        Ok(())
    }
}

fn device(d: u32, operation: &'static str) -> Result<DeviceId> {
    u8::try_from(d)
        .ok()
        .and_then(|d| DeviceId::try_from(d).ok())
        .ok_or(Error::BadResponse { operation })
}

/// Records a finished body: a transient failure with tries left is kept staged.
fn finish(
    results: &mut Vec<(Aci, Result<SendReport>)>,
    keep: &mut Vec<Staged>,
    mut item: Staged,
    r: Result<SendReport>,
) {
    if let Err(e) = &r {
        if is_transient(e) && item.tries + 1 < MAX_STAGED_TRIES {
            item.tries += 1;
            keep.push(item);
            return;
        }
    }
    results.push((item.prepared.to, r));
}

/// The enclave moves a client and its outbox between its worker jobs.
#[allow(dead_code)]
fn assert_send() {
    fn send<T: Send>() {}
    send::<SignalClient>();
    send::<Outbox>();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(to: u8, sealed: bool, body: &[u8]) -> Staged {
        Staged {
            prepared: Prepared {
                to: Aci::from_uuid_bytes([to; 16]),
                sealed,
                devices: 2,
                body: body.to_vec(),
            },
            uak: sealed.then(|| Zeroizing::new([7u8; 16])),
            identity_changed: to == 2,
            tries: 1,
        }
    }

    #[test]
    fn outbox_round_trips_and_refuses_bad_input() {
        let ob = Outbox {
            groups: vec![
                StagedGroup {
                    timestamp: 5,
                    padded: Zeroizing::new(vec![1, 2, 3]),
                    items: vec![item(1, true, b"{\"a\"}"), item(2, false, b"{}")],
                },
                StagedGroup {
                    timestamp: 6,
                    padded: Zeroizing::new(vec![]),
                    items: vec![],
                },
            ],
        };
        let bytes = ob.encode().unwrap();
        let back = Outbox::decode(&bytes).unwrap();
        // Empty groups are not written.
        assert_eq!(back.groups.len(), 1);
        assert_eq!(back.encode().unwrap(), bytes);
        let g = &back.groups[0];
        assert_eq!((g.timestamp, &g.padded[..]), (5, &[1u8, 2, 3][..]));
        assert_eq!(g.items[0].prepared.body, b"{\"a\"}");
        assert!(g.items[0].prepared.sealed && g.items[0].uak.is_some());
        assert!(!g.items[1].prepared.sealed && g.items[1].identity_changed);
        assert_eq!(g.items[1].tries, 1);

        assert!(matches!(
            Outbox::decode(b"XXXX\x01\0\0\0\0"),
            Err(Error::BadMagic { what: "outbox" })
        ));
        let mut v = bytes.to_vec();
        v[4] = 9;
        assert!(matches!(
            Outbox::decode(&v),
            Err(Error::UnsupportedVersion { version: 9, .. })
        ));
        for cut in [5, 9, 20, bytes.len() - 1] {
            assert!(matches!(
                Outbox::decode(&bytes[..cut]),
                Err(Error::Truncated { .. })
            ));
        }
        let mut t = bytes.to_vec();
        t.push(0);
        assert!(matches!(
            Outbox::decode(&t),
            Err(Error::TrailingBytes { count: 1 })
        ));
        // A forged group count cannot drive allocation.
        let mut c = bytes[..5].to_vec();
        c.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Outbox::decode(&c),
            Err(Error::TooLarge {
                what: "outbox groups",
                ..
            })
        ));
        // An unknown flag bit.
        let flags_at = 4 + 1 + 4 + 8 + 4 + 3 + 4 + 16;
        let mut f = bytes.to_vec();
        f[flags_at] |= 0x80;
        assert!(matches!(
            Outbox::decode(&f),
            Err(Error::Corrupt {
                what: "staged flags"
            })
        ));
    }

    #[test]
    fn only_transient_failures_stay_staged_and_only_a_few_times() {
        let mut results = Vec::new();
        let mut keep = Vec::new();
        let mut i = item(1, false, b"{}");
        i.tries = 0;
        finish(
            &mut results,
            &mut keep,
            i,
            Err(Error::Status {
                operation: "send message",
                status: 503,
            }),
        );
        assert_eq!((results.len(), keep.len()), (0, 1));
        let mut again = keep.pop().unwrap();
        assert_eq!(again.tries, 1);
        again.tries = MAX_STAGED_TRIES - 1;
        finish(
            &mut results,
            &mut keep,
            again,
            Err(Error::Io {
                operation: "send message",
                kind: std::io::ErrorKind::ConnectionReset,
            }),
        );
        assert_eq!((results.len(), keep.len()), (1, 0));
        finish(
            &mut results,
            &mut keep,
            item(3, false, b"{}"),
            Err(Error::Unregistered),
        );
        assert!(matches!(results[1].1, Err(Error::Unregistered)));
        assert!(keep.is_empty());
    }
}
