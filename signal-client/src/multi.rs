//! Multi-recipient sealed sender (sealed sender v2): one sender-key encryption of the
//! content for everyone, one small per-recipient key encapsulation, one
//! `PUT /v1/messages/multi_recipient` (SPEC.md §7). Recipients get our sender key once, in
//! a 1:1 `Content.senderKeyDistributionMessage`.

use hyper::Method;
use libsignal_protocol::{
    create_sender_key_distribution_message, group_encrypt, sealed_sender_multi_recipient_encrypt,
    Aci, CiphertextMessageType, ContentHint, DeviceId, ProtocolAddress, ServiceId, SessionRecord,
    SessionStore, UnidentifiedSenderMessageContent,
};
use prost::Message as _;
use signal_api::json;

use crate::cipher;
use crate::error::{Error, Result};
use crate::service::{rate_limit_wait, SendReport, SignalClient, MAX_SEND_ATTEMPTS};

/// The body's content type.
pub const MRM_CONTENT_TYPE: &str = "application/vnd.signal-messenger.mrm";

/// What a multi-recipient send did.
#[derive(Debug, Default)]
pub struct MultiReport {
    /// Recipients reached by the one multi-recipient request.
    pub sealed_v2: usize,
    /// Recipients sent 1:1 instead (access key unknown, or the multi send was refused),
    /// with each one's result.
    pub individually: Vec<(Aci, Result<SendReport>)>,
    /// Recipients that were sent our sender key first.
    pub keys_distributed: usize,
    /// Attempts of the multi-recipient request.
    pub attempts: u32,
}

impl SignalClient {
    /// Sends serialized `Content` to `to` with one multi-recipient sealed-sender request
    /// under `distribution_id`. Recipients whose unidentified-access key is unknown, and
    /// all of them if the service refuses the access key (401), are sent 1:1 instead.
    pub async fn send_multi_recipient(
        &mut self,
        distribution_id: [u8; 16],
        to: &[Aci],
        content: &[u8],
        timestamp: u64,
    ) -> Result<MultiReport> {
        let mut report = MultiReport::default();
        // Only recipients whose access key we know: the request's key is their XOR.
        let (eligible, others): (Vec<Aci>, Vec<Aci>) = to.iter().partition(|a| {
            self.account
                .store
                .recipient(a)
                .is_some_and(|r| r.uak.is_some())
        });
        if !others.is_empty() {
            report.individually = self.send_many(&others, content, timestamp).await;
        }
        if eligible.is_empty() {
            return Ok(report);
        }
        let dist = uuid::Uuid::from_bytes(distribution_id);
        let me = ProtocolAddress::new(
            self.account.credentials.aci.service_id_string(),
            self.account.credentials.device_id,
        );
        let padded = zeroize::Zeroizing::new(cipher::pad(content));
        let mut rng = rand::rng();
        let mut last_rate_limited = false;
        for attempt in 1..=MAX_SEND_ATTEMPTS {
            report.attempts = attempt;
            // 1. Sessions with every device, and our sender key on every device.
            let missing: Vec<Aci> = eligible
                .iter()
                .filter(|a| {
                    self.account
                        .store
                        .session_devices(&a.service_id_string())
                        .is_empty()
                })
                .copied()
                .collect();
            for a in &missing {
                self.fetch_sessions(a, None).await?;
            }
            let need_key: Vec<Aci> = eligible
                .iter()
                .filter(|a| {
                    self.account
                        .store
                        .session_devices(&a.service_id_string())
                        .iter()
                        .any(|d| !self.account.store.has_sender_key(distribution_id, a, *d))
                })
                .copied()
                .collect();
            if !need_key.is_empty() {
                let skdm = create_sender_key_distribution_message(
                    &me,
                    dist,
                    &mut self.account.store.sender_keys,
                    &mut rng,
                )
                .await?;
                let c = signal_api::Content {
                    sender_key_distribution_message: Some(skdm.serialized().to_vec()),
                    ..Default::default()
                }
                .encode_to_vec();
                for (a, r) in self.send_many(&need_key, &c, timestamp).await {
                    r?;
                    for d in self.account.store.session_devices(&a.service_id_string()) {
                        self.account
                            .store
                            .mark_sender_key_shared(distribution_id, &a, d);
                    }
                    report.keys_distributed += 1;
                }
            }
            // 2. One sender-key encryption, sealed once per recipient device.
            let skm = group_encrypt(
                &mut self.account.store.sender_keys,
                &me,
                dist,
                &padded,
                &mut rng,
            )
            .await?;
            let cert = self.sender_certificate().await?;
            let usmc = UnidentifiedSenderMessageContent::new(
                CiphertextMessageType::SenderKey,
                cert,
                skm.serialized().to_vec(),
                ContentHint::Default,
                None,
            )?;
            let mut addrs = Vec::new();
            let mut sessions: Vec<SessionRecord> = Vec::new();
            let mut access = [0u8; 16];
            for a in &eligible {
                let name = a.service_id_string();
                for d in self.account.store.session_devices(&name) {
                    let addr = ProtocolAddress::new(name.clone(), d);
                    let rec = self
                        .account
                        .store
                        .sessions
                        .load_session(&addr)
                        .await?
                        .ok_or(Error::Protocol {
                            kind: "session not found",
                        })?;
                    addrs.push(addr);
                    sessions.push(rec);
                }
                let k =
                    self.account
                        .store
                        .recipient(a)
                        .and_then(|r| r.uak)
                        .ok_or(Error::Protocol {
                            kind: "no access key",
                        })?;
                for (x, y) in access.iter_mut().zip(k) {
                    *x ^= y;
                }
            }
            let addr_refs: Vec<&ProtocolAddress> = addrs.iter().collect();
            let session_refs: Vec<&SessionRecord> = sessions.iter().collect();
            let body = sealed_sender_multi_recipient_encrypt(
                &addr_refs,
                &session_refs,
                std::iter::empty::<ServiceId>(),
                &usmc,
                &self.account.store.identities,
                &mut rng,
            )
            .await?;
            // 3. One request.
            use base64::Engine as _;
            let key = base64::engine::general_purpose::STANDARD.encode(access);
            let path = format!(
                "/v1/messages/multi_recipient?ts={timestamp}&online=false&urgent=true&story=false"
            );
            let resp = self
                .http()
                .request(
                    Method::PUT,
                    &path,
                    &[
                        ("Content-Type", MRM_CONTENT_TYPE),
                        (signal_api::consts::UNIDENTIFIED_ACCESS_KEY, &key),
                    ],
                    Some(body),
                )
                .await?;
            last_rate_limited = false;
            match resp.status.as_u16() {
                200..=299 => {
                    report.sealed_v2 = eligible.len();
                    return Ok(report);
                }
                401 | 404 => {
                    // A wrong key or an unknown recipient: 1:1 sends sort each one out.
                    report
                        .individually
                        .extend(self.send_many(&eligible, content, timestamp).await);
                    return Ok(report);
                }
                409 => {
                    let list: Vec<json::AccountMismatchedDevices> =
                        signal_api::parse_json(&resp.body).map_err(|_| Error::BadResponse {
                            operation: "multi-recipient mismatched devices",
                        })?;
                    for entry in list {
                        let aci = service_aci(&entry.uuid)?;
                        self.fix_devices(
                            &aci,
                            &entry.devices.extra_devices,
                            &entry.devices.missing_devices,
                        )
                        .await?;
                    }
                }
                410 => {
                    let list: Vec<json::AccountStaleDevices> = signal_api::parse_json(&resp.body)
                        .map_err(|_| Error::BadResponse {
                        operation: "multi-recipient stale devices",
                    })?;
                    for entry in list {
                        let aci = service_aci(&entry.uuid)?;
                        let stale = &entry.devices.stale_devices;
                        self.fix_devices(&aci, stale, stale).await?;
                    }
                }
                413 | 429 => {
                    let Some(wait) = rate_limit_wait(&resp) else {
                        return Err(Error::PayloadTooLarge {
                            operation: "multi-recipient send",
                        });
                    };
                    last_rate_limited = true;
                    tokio::time::sleep(wait).await;
                }
                s => {
                    return Err(Error::Status {
                        operation: "multi-recipient send",
                        status: s,
                    })
                }
            }
        }
        if last_rate_limited {
            Err(Error::RateLimited {
                operation: "multi-recipient send",
                attempts: MAX_SEND_ATTEMPTS,
            })
        } else {
            Err(Error::DevicesDidNotConverge {
                attempts: MAX_SEND_ATTEMPTS,
            })
        }
    }

    /// Drops sessions with `remove` devices, fetches new ones for `fetch` devices, and
    /// forgets that the recipient holds our sender key (new sessions need it again).
    async fn fix_devices(&mut self, aci: &Aci, remove: &[u32], fetch: &[u32]) -> Result<()> {
        let name = aci.service_id_string();
        let bad = || Error::BadResponse {
            operation: "multi-recipient devices",
        };
        for d in remove {
            let d = DeviceId::try_from(*d).map_err(|_| bad())?;
            self.account
                .store
                .remove_session(&ProtocolAddress::new(name.clone(), d));
        }
        for d in fetch {
            let d = DeviceId::try_from(*d).map_err(|_| bad())?;
            self.fetch_sessions(aci, Some(d)).await?;
        }
        self.account.store.forget_sender_key_shared(aci);
        Ok(())
    }
}

fn service_aci(s: &signal_api::ServiceId) -> Result<Aci> {
    match s {
        signal_api::ServiceId::Aci(u) => Ok(Aci::from(*u)),
        _ => Err(Error::InvalidServiceId),
    }
}
