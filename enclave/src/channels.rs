//! Channel operations over the vault (DESIGN §4.2): an unlock lasts one operation —
//! unwrap DK with the admin's SK, open the sealed state, enforce expiry, do the work,
//! write the new sealed state with one compare-and-swap on the host, drop everything.
//! Nothing here logs or returns user data except to the admin who presented SK.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand_core::OsRng;
use wire::blob::{BlobRequest, BlobResponse};

use crate::blob_client::{BlobClient, BlobError};
use crate::vault::limiter::UnlockLimiter;
use crate::vault::model::{ChannelState, Language, Phone, Role};
use crate::vault::{
    claimed_key_epoch, names, open_state, seal_state, ChannelId, Dk, KeyRecord, Sk, VaultError,
};

/// The first key epoch of every channel.
pub const FIRST_KEY_EPOCH: u64 = 1;
/// The state epoch a new channel starts at.
pub const FIRST_STATE_EPOCH: u64 = 1;

/// Why a channel operation failed. `Display` is safe to log; the API maps each variant to
/// a coarse code (SPEC §3.3).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// Wrong SK, or no such channel: deliberately indistinguishable to the caller.
    #[error("unauthorized")]
    Unauthorized,
    #[error("rate limited for {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("rollback detected: state epoch {found} older than {min}")]
    Rollback { found: u64, min: u64 },
    /// The host served a key record or state older than one this enclave has already
    /// opened or committed since it booted (VAULT.md §18): refused whatever the client's
    /// remembered epoch says.
    #[error("rollback detected: {what} {found} older than {seen}, already seen by this enclave")]
    EpochRollback {
        what: &'static str,
        found: u64,
        seen: u64,
    },
    /// The host returned something that does not authenticate or parse.
    #[error("integrity failure: {0}")]
    Integrity(String),
    /// The channel id is taken (create) or another writer won the compare-and-swap.
    #[error("conflict")]
    Conflict,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("blob store: {0}")]
    Store(#[from] BlobError),
    #[error("vault: {0}")]
    Vault(VaultError),
    /// The request names an admin but does not prove to be from that admin's own key
    /// (VAULT.md §20): distinct from `Unauthorized` (wrong SK), which the client answers
    /// with a catch-up.
    #[error("admin not authenticated: {0}")]
    AdminUnauthorized(&'static str),
}

impl From<VaultError> for ChannelError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::WrongKey => Self::Unauthorized,
            VaultError::RateLimited { retry_after_secs } => Self::RateLimited { retry_after_secs },
            VaultError::Rollback { found, min } => Self::Rollback { found, min },
            VaultError::Corrupt { .. }
            | VaultError::Truncated { .. }
            | VaultError::Malformed { .. }
            | VaultError::UnsupportedVersion { .. }
            | VaultError::KeyEpochMismatch { .. }
            | VaultError::DkMismatch => Self::Integrity(e.to_string()),
            VaultError::InvalidPhone => Self::BadRequest("invalid phone number"),
            VaultError::AlreadyMember => Self::BadRequest("already a member"),
            VaultError::NotMember => Self::BadRequest("not a member"),
            VaultError::LimitReached { .. } => Self::BadRequest("limit reached"),
            VaultError::InvalidSetting { .. } => Self::BadRequest("setting out of range"),
            VaultError::AdminUnauthorized { what } => Self::AdminUnauthorized(what),
            other => Self::Vault(other),
        }
    }
}

fn unexpected(op: &'static str, r: &BlobResponse) -> ChannelError {
    ChannelError::Integrity(format!("host answered {} to {op}", r.kind_name()))
}

/// One unlock: whose channel, with which key, and what the client has already seen.
#[derive(Debug)]
pub struct Unlock<'a> {
    pub id: &'a ChannelId,
    pub sk: &'a Sk,
    /// The highest state epoch the admin's client has seen (DESIGN §4.4).
    pub min_epoch: u64,
    pub now_secs: u64,
    /// Whether the operation changes the state (and so writes it back).
    pub write: bool,
}

/// Channel operations with the per-channel wrong-SK limiter and this enclave's epoch
/// anchors.
#[derive(Debug, Default)]
pub struct Channels {
    limiter: Mutex<UnlockLimiter>,
    /// Wrong one-time passphrases, per channel (VAULT.md §12: same schedule as §8).
    otp_limiter: Mutex<UnlockLimiter>,
    anchors: Mutex<Anchors>,
    locks: Mutex<HashMap<ChannelId, Arc<tokio::sync::Mutex<()>>>>,
}

/// The highest key epoch and state epoch this enclave has opened or committed per channel
/// since it booted (VAULT.md §18). In memory only: a restart forgets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anchor {
    pub key_epoch: u64,
    pub state_epoch: u64,
}

/// At most this many channels are anchored; beyond it the least recently raised anchor is
/// forgotten (that channel falls back to the client's epochs, as after a restart).
pub const MAX_ANCHORED_CHANNELS: usize = 100_000;

#[derive(Debug, Default)]
struct Anchors {
    map: HashMap<ChannelId, (Anchor, u64)>,
    tick: u64,
}

impl Anchors {
    fn get(&self, id: &ChannelId) -> Anchor {
        self.map.get(id).map(|(a, _)| *a).unwrap_or_default()
    }

    /// Raises the anchor (never lowers it).
    fn raise(&mut self, id: &ChannelId, key_epoch: u64, state_epoch: u64) {
        if !self.map.contains_key(id) && self.map.len() >= MAX_ANCHORED_CHANNELS {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.map.remove(&k);
            }
        }
        self.tick += 1;
        let tick = self.tick;
        let (a, t) = self.map.entry(*id).or_default();
        a.key_epoch = a.key_epoch.max(key_epoch);
        a.state_epoch = a.state_epoch.max(state_epoch);
        *t = tick;
    }
}

/// An unlocked channel between [`Channels::open`] and [`Channels::commit`]: DK (wiped on
/// drop), the version and epoch that were read, and this enclave's lock on the channel.
pub struct Opened {
    id: ChannelId,
    dk: Dk,
    version: u64,
    /// The state epoch that was opened.
    pub epoch: u64,
    /// Whether expiry removed records (the state should be written back).
    pub expired: bool,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("id", &self.id)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl Opened {
    pub fn id(&self) -> &ChannelId {
        &self.id
    }
    /// DK, for opening the channel's inbound items.
    pub fn dk(&self) -> &Dk {
        &self.dk
    }
}

impl Channels {
    fn limiter(&self) -> std::sync::MutexGuard<'_, UnlockLimiter> {
        // A poisoned limiter only means a panic elsewhere mid-update; its data is counters.
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The wrong-OTP limiter (VAULT.md §12), for `OtpSet::redeem`.
    pub fn otp_limiter(&self) -> std::sync::MutexGuard<'_, UnlockLimiter> {
        self.otp_limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn anchors(&self) -> std::sync::MutexGuard<'_, Anchors> {
        // Poisoning cannot leave an anchor lower than it was: `raise` only takes maxima.
        self.anchors.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The highest key and state epoch this enclave has opened or committed for `id`
    /// since it booted (zero for a channel it has not seen).
    pub fn anchor(&self, id: &ChannelId) -> Anchor {
        self.anchors().get(id)
    }

    /// Creates `id` with `sk`; `admin` becomes ADMIN 1. Returns the state epoch.
    pub async fn create(
        &self,
        blobs: &BlobClient,
        id: &ChannelId,
        sk: &Sk,
        admin: Phone,
        admin_key: [u8; crate::vault::admin_keys::ADMIN_KEY_LEN],
    ) -> Result<u64, ChannelError> {
        let (record, dk) = KeyRecord::create(id, FIRST_KEY_EPOCH, sk, &mut OsRng);
        let mut state = ChannelState::new(&mut OsRng);
        let n = state
            .add_member(admin, Role::Admin, Language::En)?
            .ok_or(ChannelError::BadRequest("admin"))?;
        state.set_admin_key(n, admin_key)?;
        let sealed = seal_state(
            &dk,
            id,
            FIRST_KEY_EPOCH,
            FIRST_STATE_EPOCH,
            &state,
            &mut OsRng,
        )?;
        drop((state, dk));
        let put = |name, data| BlobRequest::Put {
            name,
            expected: 0,
            data,
        };
        match blobs
            .call(&put(names::key_record(id), record.encode()))
            .await?
        {
            BlobResponse::Written { .. } => {}
            BlobResponse::Conflict { .. } => return Err(ChannelError::Conflict),
            other => return Err(unexpected("put key record", &other)),
        }
        match blobs.call(&put(names::state(id), sealed)).await? {
            BlobResponse::Written { .. } => {}
            other => return Err(unexpected("put state", &other)),
        }
        self.anchors().raise(id, FIRST_KEY_EPOCH, FIRST_STATE_EPOCH);
        // The SK-possession verifier (VAULT.md §15), last: without it only the events
        // stream (SPEC §3.7) is unavailable until the next key change writes one.
        let verifier = crate::vault::lifecycle::SkVerifier::derive(id, sk, 1).encode();
        if !matches!(
            blobs.call(&put(names::proof_verifier(id), verifier)).await,
            Ok(BlobResponse::Written { .. })
        ) {
            tracing::warn!("verifier write failed at create");
        }
        Ok(FIRST_STATE_EPOCH)
    }

    /// Unlocks `id` for one operation. `op` sees the state after expiry; if `write` is
    /// set (or expiry removed records) the new state is sealed at the next epoch and
    /// written with one compare-and-swap. Returns `op`'s result and the current epoch.
    pub async fn with_unlocked<R>(
        &self,
        blobs: &BlobClient,
        unlock: Unlock<'_>,
        op: impl FnOnce(&mut ChannelState) -> Result<R, ChannelError>,
    ) -> Result<(R, u64), ChannelError> {
        let write = unlock.write;
        let (opened, mut state) = self.open(blobs, unlock).await?;
        let out = op(&mut state)?;
        if !(write || opened.expired) {
            return Ok((out, opened.epoch));
        }
        let epoch = self.commit(blobs, opened, state).await?;
        Ok((out, epoch))
    }

    /// The first half of an unlock: checks SK (only failures are rate-limited, VAULT.md
    /// §8), refuses a key record or state older than this enclave has seen (VAULT.md §18),
    /// opens the state at or above `min_epoch`, and applies expiry. The channel stays locked against other operations
    /// of this enclave until the returned [`Opened`] is dropped or committed, so no two
    /// operations interleave their reads and writes (the Signal protocol store must never
    /// roll back).
    pub async fn open(
        &self,
        blobs: &BlobClient,
        unlock: Unlock<'_>,
    ) -> Result<(Opened, ChannelState), ChannelError> {
        let Unlock {
            id,
            sk,
            min_epoch,
            now_secs,
            write: _,
        } = unlock;
        let guard = self.channel_lock(id).lock_owned().await;
        let (record_version, record) = match blobs
            .call(&BlobRequest::Get {
                name: names::key_record(id),
            })
            .await?
        {
            BlobResponse::Blob { data, version } => (version, KeyRecord::decode(&data)?),
            BlobResponse::NotFound => {
                // Unknown channel: counted like a wrong key so ids cannot be probed fast.
                return Err(self.unlock_failed(id, now_secs));
            }
            other => return Err(unexpected("get key record", &other)),
        };
        if record.channel_id() != id {
            return Err(ChannelError::Integrity(
                "key record of another channel".into(),
            ));
        }
        let anchor = self.anchor(id);
        let (record, dk) = match record.unwrap(sk) {
            Ok(dk) => (record, dk),
            Err(VaultError::WrongKey) => {
                match undo_interrupted_rekey(blobs, id, sk, record_version, anchor).await? {
                    Some(rolled_back) => rolled_back,
                    None => return Err(self.unlock_failed(id, now_secs)),
                }
            }
            Err(e) => return Err(e.into()),
        };
        // An SK that opens an older key record than this enclave has seen is the SK of a
        // past key epoch (an admin removed since): the host put the old record back.
        if record.key_epoch() < anchor.key_epoch {
            return Err(ChannelError::EpochRollback {
                what: "key epoch",
                found: record.key_epoch(),
                seen: anchor.key_epoch,
            });
        }
        let (version, blob) = match blobs
            .call(&BlobRequest::Get {
                name: names::state(id),
            })
            .await?
        {
            BlobResponse::Blob { version, data } => (version, data),
            other => return Err(unexpected("get state", &other)),
        };
        let key_epoch = record.key_epoch();
        let (epoch, mut state) =
            match open_state(&dk, id, key_epoch, &blob, min_epoch.max(anchor.state_epoch)) {
                Err(VaultError::Rollback { found, .. }) if found < anchor.state_epoch => {
                    return Err(ChannelError::EpochRollback {
                        what: "state epoch",
                        found,
                        seen: anchor.state_epoch,
                    })
                }
                r => r?,
            };
        self.anchors().raise(id, key_epoch, epoch);
        let before = state.expiring_count();
        state.expire(now_secs);
        let expired = state.expiring_count() != before;
        crate::events::note_proposals(id, &state);
        Ok((
            Opened {
                id: *id,
                dk,
                version,
                epoch,
                expired,
                _guard: guard,
            },
            state,
        ))
    }

    /// The second half: seals `state` at the next epoch and writes it with one
    /// compare-and-swap against the version [`Channels::open`] read. Returns the new epoch.
    pub async fn commit(
        &self,
        blobs: &BlobClient,
        opened: Opened,
        state: ChannelState,
    ) -> Result<u64, ChannelError> {
        let next = opened.epoch + 1;
        let sealed = seal_state(
            &opened.dk,
            &opened.id,
            opened.dk.key_epoch(),
            next,
            &state,
            &mut OsRng,
        )?;
        match blobs
            .call(&BlobRequest::Put {
                name: names::state(&opened.id),
                expected: opened.version,
                data: sealed,
            })
            .await?
        {
            BlobResponse::Written { .. } => {
                self.anchors()
                    .raise(&opened.id, opened.dk.key_epoch(), next);
                crate::events::note_proposals(&opened.id, &state);
                Ok(next)
            }
            BlobResponse::Conflict { .. } => Err(ChannelError::Conflict),
            other => Err(unexpected("put state", &other)),
        }
    }

    /// Like [`Channels::commit`], but keeps the channel open (and locked) for another
    /// commit of the same operation: `opened` then stands for what was just written. The
    /// courier's write-ahead cycles commit several times in one unlock (COURIER.md §3.2).
    pub async fn commit_again(
        &self,
        blobs: &BlobClient,
        opened: &mut Opened,
        state: &ChannelState,
    ) -> Result<u64, ChannelError> {
        let next = opened.epoch + 1;
        let sealed = seal_state(
            &opened.dk,
            &opened.id,
            opened.dk.key_epoch(),
            next,
            state,
            &mut OsRng,
        )?;
        match blobs
            .call(&BlobRequest::Put {
                name: names::state(&opened.id),
                expected: opened.version,
                data: sealed,
            })
            .await?
        {
            BlobResponse::Written { version } => {
                crate::events::note_proposals(&opened.id, state);
                opened.version = version;
                opened.epoch = next;
                Ok(next)
            }
            BlobResponse::Conflict { .. } => Err(ChannelError::Conflict),
            other => Err(unexpected("put state", &other)),
        }
    }

    /// Holds this enclave's lock on `id` (key-lifecycle routes that work without an unlock,
    /// e.g. redeeming a one-time passphrase, VAULT.md §12).
    pub async fn lock(&self, id: &ChannelId) -> tokio::sync::OwnedMutexGuard<()> {
        self.channel_lock(id).lock_owned().await
    }

    /// A wrong SK (or unknown channel) for `id`: counts the failure and answers
    /// `Unauthorized`, or `RateLimited` if the channel was already throttled (VAULT.md §8).
    fn unlock_failed(&self, id: &ChannelId, now_secs: u64) -> ChannelError {
        self.limiter()
            .fail(id, now_secs, VaultError::WrongKey)
            .into()
    }

    /// The wrong-SK limiter, for stale-key catch-up (VAULT.md §11): `err` is the catch-up's
    /// failure (an unknown key); the answer is it or `RateLimited`.
    pub fn limiter_failure(&self, id: &ChannelId, now_secs: u64, err: VaultError) -> VaultError {
        self.limiter().fail(id, now_secs, err)
    }

    /// Like [`Channels::commit`], for a state the caller sealed itself (a re-key seals under
    /// the new epoch's DK, VAULT.md §13): one compare-and-swap against the version
    /// [`Channels::open`] read. Returns the sealed epoch the caller passes back. Once it is
    /// written, this enclave refuses the key epoch it replaced (VAULT.md §18).
    pub async fn commit_sealed(
        &self,
        blobs: &BlobClient,
        opened: Opened,
        sealed: Vec<u8>,
        epoch: u64,
    ) -> Result<u64, ChannelError> {
        // The caller sealed the blob: its header's key epoch is the new one.
        let key_epoch = claimed_key_epoch(&sealed).unwrap_or(0);
        match blobs
            .call(&BlobRequest::Put {
                name: names::state(&opened.id),
                expected: opened.version,
                data: sealed,
            })
            .await?
        {
            BlobResponse::Written { .. } => {
                self.anchors().raise(&opened.id, key_epoch, epoch);
                Ok(epoch)
            }
            BlobResponse::Conflict { .. } => Err(ChannelError::Conflict),
            other => Err(unexpected("put state", &other)),
        }
    }

    fn channel_lock(&self, id: &ChannelId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Forget locks nobody holds so the table stays as small as the set of busy channels.
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(*id).or_default().clone()
    }

    /// Messages waiting in the channel's inbound queue (no SK needed; the host knows it).
    pub async fn queue_length(
        &self,
        blobs: &BlobClient,
        id: &ChannelId,
    ) -> Result<u64, ChannelError> {
        Ok(self.queue_stats(blobs, id).await?.0)
    }

    /// The inbound queue's length and the sequence number its next item will get.
    pub async fn queue_stats(
        &self,
        blobs: &BlobClient,
        id: &ChannelId,
    ) -> Result<(u64, u64), ChannelError> {
        match blobs
            .call(&BlobRequest::QueueStats {
                queue: names::inbound(id),
            })
            .await?
        {
            BlobResponse::Stats { len, next_seq } => Ok((len, next_seq)),
            other => Err(unexpected("queue stats", &other)),
        }
    }
}

/// VAULT.md §16: a re-key writes the key record it replaces to `rekey-undo`, then the new
/// key record, then the new state, then deletes the undo record. If the enclave stopped
/// between the key record and the state, the stored state still carries the old key epoch
/// and nobody holds the new SK yet (it is handed out only after the commit): put the old
/// record back. If the state is already the new one, the undo record is stale: delete it.
/// Returns the restored record and its DK when `sk` opens it and the rollback happened.
async fn undo_interrupted_rekey(
    blobs: &BlobClient,
    id: &ChannelId,
    sk: &Sk,
    record_version: u64,
    anchor: Anchor,
) -> Result<Option<(KeyRecord, Dk)>, ChannelError> {
    let (undo_version, data) = match blobs
        .call(&BlobRequest::Get {
            name: names::rekey_undo(id),
        })
        .await?
    {
        BlobResponse::Blob { version, data } => (version, data),
        BlobResponse::NotFound => return Ok(None),
        other => return Err(unexpected("get re-key undo", &other)),
    };
    let old = KeyRecord::decode(&data)?;
    if old.channel_id() != id {
        return Err(ChannelError::Integrity(
            "undo record of another channel".into(),
        ));
    }
    let Ok(dk) = old.unwrap(sk) else {
        return Ok(None);
    };

    let state_epoch = match blobs
        .call(&BlobRequest::Get {
            name: names::state(id),
        })
        .await?
    {
        BlobResponse::Blob { data, .. } => claimed_key_epoch(&data),
        other => return Err(unexpected("get state", &other)),
    };
    let interrupted = state_epoch == Some(old.key_epoch());
    // The state's header epoch is the host's word. Once this enclave has seen a newer key
    // epoch committed, an older record is never put back (VAULT.md §18): a state claiming
    // the old epoch is then a rolled-back one.
    if interrupted && old.key_epoch() < anchor.key_epoch {
        return Err(ChannelError::EpochRollback {
            what: "key epoch",
            found: old.key_epoch(),
            seen: anchor.key_epoch,
        });
    }
    if interrupted {
        match blobs
            .call(&BlobRequest::Put {
                name: names::key_record(id),
                expected: record_version,
                data,
            })
            .await?
        {
            BlobResponse::Written { .. } => {
                tracing::warn!("an interrupted re-key was rolled back");
            }
            BlobResponse::Conflict { .. } => return Err(ChannelError::Conflict),
            other => return Err(unexpected("restore key record", &other)),
        }
    }
    match blobs
        .call(&BlobRequest::Delete {
            name: names::rekey_undo(id),
            expected: undo_version,
        })
        .await?
    {
        BlobResponse::Deleted | BlobResponse::Conflict { .. } => {}
        other => return Err(unexpected("delete re-key undo", &other)),
    }
    Ok(interrupted.then_some((old, dk)))
}

/// Deletes a channel's blobs after CONFIRM DESTROY: its state, its key record (after which
/// no SK opens anything) and its inbound queue.
pub async fn destroy(blobs: &BlobClient, id: &ChannelId) -> Result<(), ChannelError> {
    for name in [names::state(id), names::key_record(id)] {
        let version = match blobs.call(&BlobRequest::Get { name: name.clone() }).await? {
            BlobResponse::Blob { version, .. } => version,
            BlobResponse::NotFound => continue,
            other => return Err(unexpected("get before delete", &other)),
        };
        match blobs
            .call(&BlobRequest::Delete {
                name,
                expected: version,
            })
            .await?
        {
            BlobResponse::Deleted => {}
            other => return Err(unexpected("delete", &other)),
        }
    }
    match blobs
        .call(&BlobRequest::QueueTrim {
            queue: names::inbound(id),
            before: u64::MAX,
        })
        .await?
    {
        BlobResponse::Trimmed { .. } => Ok(()),
        other => Err(unexpected("trim", &other)),
    }
}

/// Read-only views the API needs; kept here so the vault model stays the vault's.
impl ChannelState {
    pub fn hotline_count(&self) -> usize {
        self.hotline.len()
    }
    pub fn invite_count(&self) -> usize {
        self.invites.len()
    }
    /// Records that [`ChannelState::expire`] may drop (hotline records and invites).
    pub fn expiring_count(&self) -> usize {
        self.hotline.len() + self.invites.len()
    }
}

impl crate::vault::model::Member {
    pub fn language(&self) -> Language {
        self.language
    }
}

#[cfg(test)]
mod tests {

    #![allow(clippy::unwrap_used)]

    /// ADMIN 1's verifying key (VAULT.md §20): any valid Ed25519 key will do here.
    fn admin_key() -> [u8; crate::vault::admin_keys::ADMIN_KEY_LEN] {
        ed25519_dalek::SigningKey::from_bytes(&[0x5a; 32])
            .verifying_key()
            .to_bytes()
    }

    use std::sync::Arc;

    use host::hostlink::{Allowlist, HostLinkConfig};
    use host::metrics::Metrics;
    use host::store::{BlobStore, RedbStore};
    use wire::link::{LinkAddr, LinkListener};

    use super::*;

    const NOW: u64 = 1_700_000_000;

    /// The anchor's answer to key epoch 1 after this enclave committed epoch 2.
    fn assert_old_key_epoch_refused(e: &ChannelError) {
        assert!(
            matches!(
                e,
                ChannelError::EpochRollback {
                    what: "key epoch",
                    found: 1,
                    seen: 2
                }
            ),
            "{e:?}"
        );
    }

    /// The host's real blob RPC over a temporary store, in this runtime.
    struct Host {
        blobs: BlobClient,
        _dir: tempfile::TempDir,
        _stop: host::shutdown::ShutdownTrigger,
    }

    async fn host() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let addr = LinkAddr::Unix(dir.path().join("host.sock"));
        let listener = LinkListener::bind(&addr).await.unwrap();
        let store: Arc<dyn BlobStore> =
            Arc::new(RedbStore::open(&dir.path().join("store.redb")).unwrap());
        let (stop, shutdown) = host::shutdown::channel();
        tokio::spawn(host::hostlink::run(
            listener,
            HostLinkConfig::new(Allowlist::new([])),
            store,
            Arc::new(Metrics::default()),
            shutdown,
        ));
        Host {
            blobs: BlobClient::new(addr),
            _dir: dir,
            _stop: stop,
        }
    }

    async fn get(blobs: &BlobClient, name: Vec<u8>) -> Option<(u64, Vec<u8>)> {
        match blobs.call(&BlobRequest::Get { name }).await.unwrap() {
            BlobResponse::Blob { version, data } => Some((version, data)),
            _ => None,
        }
    }

    /// The hostile host writes `data` under `name`, whatever is there.
    async fn overwrite(blobs: &BlobClient, name: Vec<u8>, data: Vec<u8>) {
        let expected = get(blobs, name.clone()).await.map_or(0, |(v, _)| v);
        let r = blobs
            .call(&BlobRequest::Put {
                name,
                expected,
                data,
            })
            .await
            .unwrap();
        assert!(matches!(r, BlobResponse::Written { .. }), "{r:?}");
    }

    fn unlock<'a>(id: &'a ChannelId, sk: &'a Sk, min_epoch: u64, now_secs: u64) -> Unlock<'a> {
        Unlock {
            id,
            sk,
            min_epoch,
            now_secs,
            write: false,
        }
    }

    fn phone(s: &str) -> Phone {
        Phone::parse(s).unwrap()
    }

    #[tokio::test]
    async fn only_failed_unlocks_are_throttled_a_right_key_always_opens() {
        let h = host().await;
        let ch = Channels::default();
        let id = ChannelId::from_bytes([7; 16]);
        let sk = Sk::generate(&mut OsRng);
        ch.create(&h.blobs, &id, &sk, phone("+15550001001"), admin_key())
            .await
            .unwrap();
        let wrong = Sk::generate(&mut OsRng);
        // Six wrong keys (anyone who knows the id): five free, the sixth imposes 1 s.
        for _ in 0..6 {
            let e = ch
                .open(&h.blobs, unlock(&id, &wrong, 0, NOW))
                .await
                .unwrap_err();
            assert!(matches!(e, ChannelError::Unauthorized), "{e:?}");
        }
        // The admins' key still opens at once.
        let (opened, _) = ch.open(&h.blobs, unlock(&id, &sk, 0, NOW)).await.unwrap();
        assert_eq!(opened.epoch, FIRST_STATE_EPOCH);
        drop(opened);
        // The seventh wrong one is throttled: the success reset nothing for the guesser.
        let e = ch
            .open(&h.blobs, unlock(&id, &wrong, 0, NOW))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ChannelError::RateLimited {
                    retry_after_secs: 1
                }
            ),
            "{e:?}"
        );
        // An unknown channel is counted the same way.
        let unknown = ChannelId::from_bytes([8; 16]);
        for _ in 0..6 {
            let e = ch
                .open(&h.blobs, unlock(&unknown, &sk, 0, NOW))
                .await
                .unwrap_err();
            assert!(matches!(e, ChannelError::Unauthorized), "{e:?}");
        }
        let e = ch
            .open(&h.blobs, unlock(&unknown, &sk, 0, NOW))
            .await
            .unwrap_err();
        assert!(matches!(e, ChannelError::RateLimited { .. }), "{e:?}");
    }

    /// A removal's re-key as `lifecycle_api::enact_remove` commits it (VAULT.md §16):
    /// undo record, new key record (epoch + 1) under `new_sk`, state sealed under it.
    async fn rekey(h: &Host, ch: &Channels, id: &ChannelId, sk: &Sk, new_sk: &Sk) -> u64 {
        let (opened, state) = ch.open(&h.blobs, unlock(id, sk, 0, NOW)).await.unwrap();
        let (_, old_record) = get(&h.blobs, names::key_record(id)).await.unwrap();
        let (record, dk) = KeyRecord::create(id, opened.dk().key_epoch() + 1, new_sk, &mut OsRng);
        let next = opened.epoch + 1;
        let sealed = seal_state(&dk, id, dk.key_epoch(), next, &state, &mut OsRng).unwrap();
        overwrite(&h.blobs, names::rekey_undo(id), old_record).await;
        overwrite(&h.blobs, names::key_record(id), record.encode()).await;
        let epoch = ch
            .commit_sealed(&h.blobs, opened, sealed, next)
            .await
            .unwrap();
        let (v, _) = get(&h.blobs, names::rekey_undo(id)).await.unwrap();
        let r = h
            .blobs
            .call(&BlobRequest::Delete {
                name: names::rekey_undo(id),
                expected: v,
            })
            .await
            .unwrap();
        assert!(matches!(r, BlobResponse::Deleted), "{r:?}");
        epoch
    }

    #[tokio::test]
    async fn after_a_rekey_the_old_key_record_and_state_are_refused_for_the_enclaves_life() {
        let h = host().await;
        let ch = Channels::default();
        let id = ChannelId::from_bytes([9; 16]);
        let old_sk = Sk::generate(&mut OsRng);
        ch.create(&h.blobs, &id, &old_sk, phone("+15550001001"), admin_key())
            .await
            .unwrap();
        // The removed admin (and the host) keep the old key record and state.
        let (_, old_record) = get(&h.blobs, names::key_record(&id)).await.unwrap();
        let (_, old_state) = get(&h.blobs, names::state(&id)).await.unwrap();
        let new_sk = Sk::generate(&mut OsRng);
        let epoch = rekey(&h, &ch, &id, &old_sk, &new_sk).await;
        let (_, new_record) = get(&h.blobs, names::key_record(&id)).await.unwrap();
        let (_, new_state) = get(&h.blobs, names::state(&id)).await.unwrap();

        // The host puts both back; the ex-admin unlocks with the old SK and min_epoch 0.
        overwrite(&h.blobs, names::key_record(&id), old_record.clone()).await;
        overwrite(&h.blobs, names::state(&id), old_state.clone()).await;
        let e = ch
            .open(&h.blobs, unlock(&id, &old_sk, 0, NOW))
            .await
            .unwrap_err();
        assert_old_key_epoch_refused(&e);

        // The same through the undo path: the new key record stays, the old one is planted
        // as an undo record and the state claims the old key epoch (an "interrupted"
        // re-key). The enclave saw epoch 2 committed: it does not put the old record back.
        overwrite(&h.blobs, names::key_record(&id), new_record).await;
        overwrite(&h.blobs, names::rekey_undo(&id), old_record.clone()).await;
        let e = ch
            .open(&h.blobs, unlock(&id, &old_sk, 0, NOW))
            .await
            .unwrap_err();
        assert_old_key_epoch_refused(&e);
        let (_, record) = get(&h.blobs, names::key_record(&id)).await.unwrap();
        assert_eq!(
            KeyRecord::decode(&record).unwrap().key_epoch(),
            2,
            "the old record was not put back"
        );

        // The remaining admins' new SK opens the current state once the host serves it.
        overwrite(&h.blobs, names::state(&id), new_state).await;
        let (opened, _) = ch
            .open(&h.blobs, unlock(&id, &new_sk, 0, NOW))
            .await
            .unwrap();
        assert_eq!((opened.dk().key_epoch(), opened.epoch), (2, epoch));
        assert_eq!(
            ch.anchor(&id),
            Anchor {
                key_epoch: 2,
                state_epoch: epoch
            }
        );
    }

    #[tokio::test]
    async fn a_state_older_than_one_this_enclave_opened_is_refused_whatever_the_client_says() {
        let h = host().await;
        let ch = Channels::default();
        let id = ChannelId::from_bytes([10; 16]);
        let sk = Sk::generate(&mut OsRng);
        ch.create(&h.blobs, &id, &sk, phone("+15550001001"), admin_key())
            .await
            .unwrap();
        let (_, old_state) = get(&h.blobs, names::state(&id)).await.unwrap();
        let write = Unlock {
            write: true,
            ..unlock(&id, &sk, 0, NOW)
        };
        let (_, epoch) = ch
            .with_unlocked(&h.blobs, write, |s| {
                s.add_member(phone("+15550002002"), Role::Subscriber, Language::En)?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(epoch, 2);
        overwrite(&h.blobs, names::state(&id), old_state).await;
        // A fresh client (min_epoch 0) would have accepted epoch 1.
        let e = ch
            .open(&h.blobs, unlock(&id, &sk, 0, NOW))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ChannelError::EpochRollback {
                    what: "state epoch",
                    found: 1,
                    seen: 2
                }
            ),
            "{e:?}"
        );
        // Another enclave (a restart) has no anchor: the client's epoch is all there is.
        let fresh = Channels::default();
        let (opened, _) = fresh
            .open(&h.blobs, unlock(&id, &sk, 0, NOW))
            .await
            .unwrap();
        assert_eq!(opened.epoch, 1);
        drop(opened);
        let e = fresh
            .open(&h.blobs, unlock(&id, &sk, 2, NOW))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ChannelError::Rollback { found: 1, min: 2 }),
            "{e:?}"
        );
    }
}
