//! The CPU half of sending: encrypt one padded `Content` for every device of every
//! recipient and build each recipient's `IncomingMessageList` body. Kept apart from the
//! network half so the fan-out benchmark measures exactly this path.

use std::time::SystemTime;

use libsignal_protocol::{Aci, ProtocolAddress, SenderCertificate};
use rand::{CryptoRng, Rng};

use crate::cipher::{self, OutgoingMessage};
use crate::error::Result;
use crate::store::ProtocolStore;

/// One recipient's request body, ready for `PUT /v1/messages/{aci}`.
#[derive(Debug)]
pub struct Prepared {
    /// The recipient.
    pub to: Aci,
    /// Whether the ciphertexts are sealed sender.
    pub sealed: bool,
    /// Number of devices encrypted for.
    pub devices: usize,
    /// The JSON `IncomingMessageList`.
    pub body: Vec<u8>,
}

/// Encrypts `padded` for every device we hold a session with for `to`, sealed when `cert`
/// is given, and serializes the message list.
pub async fn prepare_one<R: Rng + CryptoRng>(
    store: &mut ProtocolStore,
    to: &Aci,
    padded: &[u8],
    cert: Option<&SenderCertificate>,
    timestamp: u64,
    now: SystemTime,
    rng: &mut R,
) -> Result<Prepared> {
    let name = to.service_id_string();
    let devices = store.session_devices(&name);
    let mut msgs = Vec::with_capacity(devices.len());
    for d in devices {
        let addr = ProtocolAddress::new(name.clone(), d);
        msgs.push(cipher::encrypt(store, &addr, padded, cert, now, rng).await?);
    }
    let devices = msgs.len();
    Ok(Prepared {
        to: *to,
        sealed: cert.is_some(),
        devices,
        body: message_list_json(msgs, timestamp),
    })
}

/// The `IncomingMessageList` JSON for one recipient's device ciphertexts
/// (`{"messages":[{"type","destinationDeviceId","destinationRegistrationId","content"}],
/// "online","urgent","timestamp"}`, content in padded standard base64).
///
/// Written directly rather than through serde: every value is a number or base64 (which
/// needs no escaping), and this is the hot loop of a broadcast. `tests/fanout.rs` checks
/// it against signal-api's serde type.
pub fn message_list_json(msgs: Vec<OutgoingMessage>, timestamp: u64) -> Vec<u8> {
    use std::io::Write as _;
    let b64_len: usize = msgs.iter().map(|m| m.content.len().div_ceil(3) * 4).sum();
    let mut out = Vec::with_capacity(b64_len + 128 * msgs.len() + 64);
    out.extend_from_slice(b"{\"messages\":[");
    for (i, m) in msgs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "{{\"type\":{},\"destinationDeviceId\":{},\"destinationRegistrationId\":{},\"content\":\"",
            u32::try_from(m.envelope_type).unwrap_or(0),
            u32::from(m.destination_device_id),
            m.destination_registration_id
        );
        let start = out.len();
        out.resize(start + m.content.len().div_ceil(3) * 4, 0);
        let n = base64::Engine::encode_slice(
            &base64::engine::general_purpose::STANDARD,
            &m.content,
            &mut out[start..],
        )
        .expect("invariant: buffer sized for padded base64");
        out.truncate(start + n);
        out.extend_from_slice(b"\"}");
    }
    let _ = write!(
        out,
        "],\"online\":false,\"urgent\":true,\"timestamp\":{timestamp}}}"
    );
    out
}

/// Fewest recipients per thread worth a thread of their own.
const MIN_PER_THREAD: usize = 64;
/// Most threads one fan-out uses.
pub const MAX_THREADS: usize = 8;

/// The threads a fan-out of `recipients` uses on this machine: one per available CPU, at
/// most [`MAX_THREADS`], and none with fewer than [`MIN_PER_THREAD`] recipients.
pub fn threads_for(recipients: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cpus.min(MAX_THREADS)
        .min(recipients / MIN_PER_THREAD)
        .max(1)
}

/// [`prepare_one`] for every `(recipient, certificate)` in `jobs`, on `threads` threads.
/// Results come back in `jobs`' order.
///
/// Each thread gets its recipients' session records (copies; a recipient's sessions are
/// touched by one thread only) and reads the shared identity store, so trust decisions
/// are the store's own; identities the encryption saves are applied afterwards, in
/// `jobs`' order, as [`prepare_one`] would have. With one thread this is `prepare_one` in
/// a loop.
pub fn prepare_many(
    store: &mut ProtocolStore,
    jobs: &[(Aci, Option<&SenderCertificate>)],
    padded: &[u8],
    timestamp: u64,
    threads: usize,
) -> Vec<Result<Prepared>> {
    let threads = threads.clamp(1, MAX_THREADS);
    // A recipient's sessions must stay with one thread.
    let distinct = {
        let mut seen = std::collections::HashSet::with_capacity(jobs.len());
        jobs.iter().all(|(to, _)| seen.insert(*to))
    };
    if threads == 1 || jobs.len() < 2 || !distinct {
        let mut rng = rand::rng();
        return jobs
            .iter()
            .map(|(to, cert)| {
                futures::executor::block_on(prepare_one(
                    store,
                    to,
                    padded,
                    *cert,
                    timestamp,
                    SystemTime::now(),
                    &mut rng,
                ))
            })
            .collect();
    }
    let per = jobs.len().div_ceil(threads);
    let mut parts: Vec<part::Part> = jobs
        .chunks(per)
        .map(|chunk| part::Part::take(&store.sessions, chunk))
        .collect();
    let shared = &store.identities;
    let results: Vec<Vec<Result<Prepared>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter_mut()
            .zip(jobs.chunks(per))
            .map(|(p, chunk)| scope.spawn(move || p.prepare(shared, chunk, padded, timestamp)))
            .collect();
        handles
            .into_iter()
            // A panic in libsignal: an empty result, so the part's recipients fail below
            // and nothing of it is written back.
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut out = Vec::with_capacity(jobs.len());
    for ((p, r), chunk) in parts.into_iter().zip(results).zip(jobs.chunks(per)) {
        if r.len() == chunk.len() {
            p.give_back(store);
            out.extend(r);
        } else {
            out.extend(chunk.iter().map(|_| {
                Err(crate::error::Error::Protocol {
                    kind: "fan-out thread failed",
                })
            }));
        }
    }
    out
}

/// One thread's share of a fan-out: its recipients' sessions and the identities it saw.
mod part {
    use std::time::SystemTime;

    use async_trait::async_trait;
    use libsignal_protocol::{
        Aci, DeviceId, Direction, IdentityChange, IdentityKey, IdentityKeyPair, IdentityKeyStore,
        ProtocolAddress, SenderCertificate, SignalProtocolError,
    };

    use super::{message_list_json, Prepared};
    use crate::cipher;
    use crate::error::Result;
    use crate::store::{Identities, ProtocolStore, Sessions};

    type SResult<T> = std::result::Result<T, SignalProtocolError>;

    pub(super) struct Part {
        sessions: Sessions,
        saved: Vec<(ProtocolAddress, IdentityKey)>,
    }

    /// The shared identity store, read-only; saves are kept for afterwards.
    struct PartIdentities<'a> {
        shared: &'a Identities,
        saved: &'a mut Vec<(ProtocolAddress, IdentityKey)>,
    }

    #[async_trait(?Send)]
    impl IdentityKeyStore for PartIdentities<'_> {
        async fn get_identity_key_pair(&self) -> SResult<IdentityKeyPair> {
            self.shared.get_identity_key_pair().await
        }
        async fn get_local_registration_id(&self) -> SResult<u32> {
            self.shared.get_local_registration_id().await
        }
        async fn save_identity(
            &mut self,
            address: &ProtocolAddress,
            identity: &IdentityKey,
        ) -> SResult<IdentityChange> {
            let prev = self.get_identity(address).await?;
            if prev.as_ref() != Some(identity) {
                self.saved.push((address.clone(), *identity));
            }
            Ok(IdentityChange::from_changed(
                matches!(prev, Some(p) if p != *identity),
            ))
        }
        async fn is_trusted_identity(
            &self,
            address: &ProtocolAddress,
            identity: &IdentityKey,
            direction: Direction,
        ) -> SResult<bool> {
            self.shared
                .is_trusted_identity(address, identity, direction)
                .await
        }
        async fn get_identity(&self, address: &ProtocolAddress) -> SResult<Option<IdentityKey>> {
            match self.saved.iter().rev().find(|(a, _)| a == address) {
                Some((_, k)) => Ok(Some(*k)),
                None => self.shared.get_identity(address).await,
            }
        }
    }

    impl Part {
        /// Copies the session records of `jobs`' recipients out of `sessions`.
        pub(super) fn take(
            sessions: &Sessions,
            jobs: &[(Aci, Option<&SenderCertificate>)],
        ) -> Part {
            let mut mine = Sessions::default();
            for (to, _) in jobs {
                let name = to.service_id_string();
                for (d, record) in sessions.records(&name) {
                    if let Ok(dev) = DeviceId::try_from(d) {
                        mine.put(&ProtocolAddress::new(name.clone(), dev), record.clone());
                    }
                }
            }
            Part {
                sessions: mine,
                saved: Vec::new(),
            }
        }

        /// Encrypts for `jobs` (this thread's share).
        pub(super) fn prepare(
            &mut self,
            shared: &Identities,
            jobs: &[(Aci, Option<&SenderCertificate>)],
            padded: &[u8],
            timestamp: u64,
        ) -> Vec<Result<Prepared>> {
            let mut rng = rand::rng();
            let mut identities = PartIdentities {
                shared,
                saved: &mut self.saved,
            };
            jobs.iter()
                .map(|(to, cert)| {
                    let name = to.service_id_string();
                    let devices = self.sessions.devices(&name);
                    let mut msgs = Vec::with_capacity(devices.len());
                    for d in devices {
                        let addr = ProtocolAddress::new(name.clone(), d);
                        let reg = self.sessions.registration_id(&addr);
                        msgs.push(futures::executor::block_on(cipher::encrypt_with(
                            &mut self.sessions,
                            &mut identities,
                            &addr,
                            reg,
                            padded,
                            *cert,
                            SystemTime::now(),
                            &mut rng,
                        ))?);
                    }
                    Ok(Prepared {
                        to: *to,
                        sealed: cert.is_some(),
                        devices: msgs.len(),
                        body: message_list_json(msgs, timestamp),
                    })
                })
                .collect()
        }

        /// Writes the advanced sessions and the saved identities back.
        pub(super) fn give_back(self, store: &mut ProtocolStore) {
            for (name, devs) in self.sessions.into_records() {
                for (d, record) in devs {
                    if let Ok(dev) = DeviceId::try_from(d) {
                        store
                            .sessions
                            .put(&ProtocolAddress::new(name.clone(), dev), record);
                    }
                }
            }
            for (addr, key) in self.saved {
                // Infallible for the in-memory store.
                let _ = futures::executor::block_on(store.identities.save_identity(&addr, &key));
            }
        }
    }
}
