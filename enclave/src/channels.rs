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
use crate::vault::{names, open_state, seal_state, ChannelId, Dk, KeyRecord, Sk, VaultError};

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

/// Channel operations with the per-channel wrong-SK limiter.
#[derive(Debug, Default)]
pub struct Channels {
    limiter: Mutex<UnlockLimiter>,
    locks: Mutex<HashMap<ChannelId, Arc<tokio::sync::Mutex<()>>>>,
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

    /// Creates `id` with `sk`; `admin` becomes ADMIN 1. Returns the state epoch.
    pub async fn create(
        &self,
        blobs: &BlobClient,
        id: &ChannelId,
        sk: &Sk,
        admin: Phone,
    ) -> Result<u64, ChannelError> {
        let (record, dk) = KeyRecord::create(id, FIRST_KEY_EPOCH, sk, &mut OsRng);
        let mut state = ChannelState::new(&mut OsRng);
        state.add_member(admin, Role::Admin, Language::En)?;
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

    /// The first half of an unlock: checks SK (rate-limited), opens the state at or above
    /// `min_epoch`, and applies expiry. The channel stays locked against other operations
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
        self.limiter().check(id, now_secs)?;
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
                self.limiter().record_failure(id, now_secs);
                return Err(ChannelError::Unauthorized);
            }
            other => return Err(unexpected("get key record", &other)),
        };
        if record.channel_id() != id {
            return Err(ChannelError::Integrity(
                "key record of another channel".into(),
            ));
        }
        let (record, dk) = match record.unwrap(sk) {
            Ok(dk) => (record, dk),
            Err(VaultError::WrongKey) => {
                match undo_interrupted_rekey(blobs, id, sk, record_version).await? {
                    Some(rolled_back) => rolled_back,
                    None => {
                        self.limiter().record_failure(id, now_secs);
                        return Err(ChannelError::Unauthorized);
                    }
                }
            }
            Err(e) => return Err(e.into()),
        };
        self.limiter().record_success(id);
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
        let (epoch, mut state) = open_state(&dk, id, key_epoch, &blob, min_epoch)?;
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

    /// The wrong-SK limiter, for stale-key catch-up (VAULT.md §11: an unknown key is a
    /// failure, a successful catch-up a success).
    pub fn limiter_check(&self, id: &ChannelId, now_secs: u64) -> Result<(), ChannelError> {
        Ok(self.limiter().check(id, now_secs)?)
    }
    pub fn limiter_failure(&self, id: &ChannelId, now_secs: u64) {
        self.limiter().record_failure(id, now_secs);
    }
    pub fn limiter_success(&self, id: &ChannelId) {
        self.limiter().record_success(id);
    }

    /// Like [`Channels::commit`], for a state the caller sealed itself (a re-key seals under
    /// the new epoch's DK, VAULT.md §13): one compare-and-swap against the version
    /// [`Channels::open`] read. Returns the sealed epoch the caller passes back.
    pub async fn commit_sealed(
        &self,
        blobs: &BlobClient,
        opened: Opened,
        sealed: Vec<u8>,
        epoch: u64,
    ) -> Result<u64, ChannelError> {
        match blobs
            .call(&BlobRequest::Put {
                name: names::state(&opened.id),
                expected: opened.version,
                data: sealed,
            })
            .await?
        {
            BlobResponse::Written { .. } => Ok(epoch),
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
        BlobResponse::Blob { data, .. } => crate::vault::claimed_key_epoch(&data),
        other => return Err(unexpected("get state", &other)),
    };
    let interrupted = state_epoch == Some(old.key_epoch());
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
