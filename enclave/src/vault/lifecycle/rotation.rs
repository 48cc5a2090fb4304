//! SK rotation with stale-key catch-up (VAULT.md §11). Rotating SK_g → SK_g+1 re-wraps DK
//! under SK_g+1 (the key record no longer accepts SK_g) and appends to the stale-key table
//! an entry that only an SK_g holder can find and open: its keyed id and SK_g+1 wrapped
//! under a key derived from SK_g. A lagging admin walks the chain, one hop per rotation.

use rand_core::{CryptoRng, RngCore};

use super::proof::SkVerifier;
use super::{check_max, unwrap32, wrap32, Reader, WRAPPED_LEN};
use crate::vault::keys::{hkdf32, ChannelId, Dk, KeyRecord, Sk, KEY_LEN, XNONCE_LEN};
use crate::vault::model::ChannelState;
use crate::vault::{Record, VaultError};

/// Entries kept; at the bound the oldest (lowest generation) is dropped, so an admin more
/// than this many rotations behind needs a one-time passphrase instead.
pub const MAX_STALE_ENTRIES: usize = 256;
/// id ‖ from generation ‖ to generation ‖ flags ‖ nonce ‖ wrapped SK.
pub const STALE_ENTRY_LEN: usize = KEY_LEN + 8 + 8 + 1 + XNONCE_LEN + WRAPPED_LEN;
const _: () = assert!(STALE_ENTRY_LEN == 121);
/// version ‖ channel id ‖ count (u16).
const TABLE_HEADER_LEN: usize = 1 + 16 + 2;
/// Largest encoded table.
pub const MAX_STALE_TABLE_LEN: usize = TABLE_HEADER_LEN + MAX_STALE_ENTRIES * STALE_ENTRY_LEN;
const TABLE_VERSION: u8 = 1;
const FLAG_REVOKED: u8 = 0x01;

const ID_INFO: &[u8] = b"sealboost stale-key id v1";
const WRAP_INFO: &[u8] = b"sealboost stale-key wrap v1";
const R: Record = Record::StaleTable;

/// id = HKDF-SHA256(ikm = SK, salt = channel id, info = "sealboost stale-key id v1").
pub(crate) fn stale_id(channel_id: &ChannelId, sk: &Sk) -> [u8; KEY_LEN] {
    *hkdf32(sk.expose(), channel_id.as_bytes(), ID_INFO)
}

/// AD = "sealboost stale-key wrap v1" ‖ channel id ‖ from gen ‖ to gen ‖ id.
fn wrap_ad(channel_id: &ChannelId, from: u64, to: u64, id: &[u8; KEY_LEN]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(WRAP_INFO.len() + 16 + 16 + KEY_LEN);
    ad.extend_from_slice(WRAP_INFO);
    ad.extend_from_slice(channel_id.as_bytes());
    ad.extend_from_slice(&from.to_be_bytes());
    ad.extend_from_slice(&to.to_be_bytes());
    ad.extend_from_slice(id);
    ad
}

/// One old SK generation: who it is (a keyed id, never the SK), whether it is revoked, and
/// the next SK wrapped under a key only that old SK derives. Public data for the host.
#[derive(Clone, PartialEq, Eq)]
pub struct StaleEntry {
    id: [u8; KEY_LEN],
    from_generation: u64,
    to_generation: u64,
    revoked: bool,
    nonce: [u8; XNONCE_LEN],
    wrapped: [u8; WRAPPED_LEN],
}

impl std::fmt::Debug for StaleEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaleEntry")
            .field("from_generation", &self.from_generation)
            .field("to_generation", &self.to_generation)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

impl StaleEntry {
    fn wrap<R: RngCore + CryptoRng>(
        channel_id: &ChannelId,
        old_sk: &Sk,
        from: u64,
        to: u64,
        new_sk: &Sk,
        rng: &mut R,
    ) -> StaleEntry {
        let id = stale_id(channel_id, old_sk);
        let key = hkdf32(old_sk.expose(), channel_id.as_bytes(), WRAP_INFO);
        let (nonce, wrapped) = wrap32(
            &key,
            &wrap_ad(channel_id, from, to, &id),
            new_sk.expose(),
            rng,
        );
        StaleEntry {
            id,
            from_generation: from,
            to_generation: to,
            revoked: false,
            nonce,
            wrapped,
        }
    }

    /// Revoked: the flag is set *and* the wrapped key is erased, so a host that clears the
    /// flag again gains nothing (the entry no longer authenticates).
    fn revoke(&mut self) {
        self.revoked = true;
        self.nonce = [0; XNONCE_LEN];
        self.wrapped = [0; WRAPPED_LEN];
    }

    pub fn from_generation(&self) -> u64 {
        self.from_generation
    }
    pub fn to_generation(&self) -> u64 {
        self.to_generation
    }
    pub fn is_revoked(&self) -> bool {
        self.revoked
    }
}

/// The stale-key table `ch/<id>/stale` (VAULT.md §11): entries sorted by strictly ascending
/// from-generation, ids unique, at most [`MAX_STALE_ENTRIES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleTable {
    channel_id: ChannelId,
    entries: Vec<StaleEntry>,
}

impl StaleTable {
    /// An empty table (a channel that was never rotated).
    pub fn new(channel_id: ChannelId) -> StaleTable {
        StaleTable {
            channel_id,
            entries: Vec::new(),
        }
    }

    pub fn channel_id(&self) -> &ChannelId {
        &self.channel_id
    }
    pub fn entries(&self) -> &[StaleEntry] {
        &self.entries
    }

    /// The next SK for a holder of `old_sk`, with its generation. `UnknownKey` if no entry
    /// has this key's id; `RevokedKey` if it was revoked by a re-key; `Corrupt` if the entry
    /// does not authenticate (tampered, or spliced from another channel or generation).
    pub fn lookup(&self, old_sk: &Sk) -> Result<(u64, Sk), VaultError> {
        let id = stale_id(&self.channel_id, old_sk);
        let entry = self
            .entries
            .iter()
            .find(|e| e.id == id)
            .ok_or(VaultError::UnknownKey)?;
        if entry.revoked {
            return Err(VaultError::RevokedKey);
        }
        let key = hkdf32(old_sk.expose(), self.channel_id.as_bytes(), WRAP_INFO);
        let ad = wrap_ad(
            &self.channel_id,
            entry.from_generation,
            entry.to_generation,
            &entry.id,
        );
        let next = unwrap32(&key, &ad, &entry.nonce, &entry.wrapped)
            .ok_or(VaultError::Corrupt { record: R })?;
        Ok((entry.to_generation, Sk::from_zeroizing(next)))
    }

    /// Appends an entry for generation `from`. Entries at or above `from`, or for the same
    /// old key, are leftovers of an interrupted rotation (VAULT.md §16; the sealed state's
    /// generation is authoritative) and are replaced; at the bound the oldest is dropped.
    fn push(&mut self, entry: StaleEntry) {
        self.entries
            .retain(|e| e.from_generation < entry.from_generation && e.id != entry.id);
        if self.entries.len() >= MAX_STALE_ENTRIES {
            self.entries.remove(0);
        }
        self.entries.push(entry);
    }

    /// Revokes every entry (a full re-key ends every chain, VAULT.md §13) and records
    /// `removed_sk`'s generation as revoked, so its holders get `RevokedKey`, not `UnknownKey`.
    pub(crate) fn revoke_generation(&mut self, removed_sk: &Sk, from: u64, to: u64) {
        for e in &mut self.entries {
            e.revoke();
        }
        let mut marker = StaleEntry {
            id: stale_id(&self.channel_id, removed_sk),
            from_generation: from,
            to_generation: to,
            revoked: false,
            nonce: [0; XNONCE_LEN],
            wrapped: [0; WRAPPED_LEN],
        };
        marker.revoke();
        self.push(marker);
    }

    fn contains_id(&self, id: &[u8; KEY_LEN]) -> bool {
        self.entries.iter().any(|e| e.id == *id)
    }

    /// VAULT.md §11 layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TABLE_HEADER_LEN + self.entries.len() * STALE_ENTRY_LEN);
        out.push(TABLE_VERSION);
        out.extend_from_slice(self.channel_id.as_bytes());
        let n = u16::try_from(self.entries.len()).expect("bounded by MAX_STALE_ENTRIES");
        out.extend_from_slice(&n.to_be_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.id);
            out.extend_from_slice(&e.from_generation.to_be_bytes());
            out.extend_from_slice(&e.to_generation.to_be_bytes());
            out.push(if e.revoked { FLAG_REVOKED } else { 0 });
            out.extend_from_slice(&e.nonce);
            out.extend_from_slice(&e.wrapped);
        }
        out
    }

    /// Strict, canonical parse (VAULT.md §11). Does not authenticate entries: that is
    /// [`StaleTable::lookup`]'s job.
    pub fn decode(bytes: &[u8]) -> Result<StaleTable, VaultError> {
        let mut r = Reader {
            buf: bytes,
            record: R,
        };
        r.version(TABLE_VERSION)?;
        check_max("stale-key table", bytes.len(), MAX_STALE_TABLE_LEN)?;
        let channel_id = ChannelId::from_bytes(r.array("channel id")?);
        let n = usize::from(r.u16("count")?);
        check_max("stale-key entries", n, MAX_STALE_ENTRIES)?;
        if r.buf.len() < n * STALE_ENTRY_LEN {
            return Err(VaultError::Truncated {
                record: R,
                what: "entries",
            });
        }
        let mut entries: Vec<StaleEntry> = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.array("id")?;
            let from_generation = r.u64("from generation")?;
            let to_generation = r.u64("to generation")?;
            let flags = r.u8("flags")?;
            let nonce = r.array("nonce")?;
            let wrapped = r.array("wrapped key")?;
            if from_generation == 0 || to_generation <= from_generation {
                return Err(r.malformed("generations"));
            }
            if entries
                .last()
                .is_some_and(|p| p.from_generation >= from_generation)
            {
                return Err(r.malformed("entries not strictly ascending"));
            }
            let revoked = match flags {
                0 => false,
                FLAG_REVOKED => true,
                _ => return Err(r.malformed("unknown flag bits")),
            };
            if revoked && (nonce != [0; XNONCE_LEN] || wrapped != [0; WRAPPED_LEN]) {
                return Err(r.malformed("revoked entry keeps key material"));
            }
            if entries.iter().any(|e| e.id == id) {
                return Err(r.malformed("duplicate id"));
            }
            entries.push(StaleEntry {
                id,
                from_generation,
                to_generation,
                revoked,
                nonce,
                wrapped,
            });
        }
        r.finish()?;
        Ok(StaleTable {
            channel_id,
            entries,
        })
    }
}

/// What a rotation produces: the blobs the integrator writes (VAULT.md §16) and SK_g+1 for
/// the rotating admin's client.
#[derive(Debug)]
pub struct Rotated {
    /// The new `ch/<id>/keys`: same DK/EK and key epoch, wrapped under `new_sk`.
    pub key_record: KeyRecord,
    /// The new `ch/<id>/proof`.
    pub verifier: SkVerifier,
    /// The new SK's generation (also now in the state).
    pub generation: u64,
}

/// Rotates SK_g → SK_g+1 (VAULT.md §11). `old_sk` must unwrap `record` (it is the SK the
/// current unlock used); `new_sk` is the rotating client's fresh key (or one the enclave
/// generated when a vote enacts a rotation) and must never have been a channel key before.
/// Mutates `state` (generation + 1: re-seal it) and `table` (one entry appended).
#[allow(clippy::too_many_arguments)]
pub fn rotate<R: RngCore + CryptoRng>(
    channel_id: &ChannelId,
    state: &mut ChannelState,
    record: &KeyRecord,
    dk: &Dk,
    old_sk: &Sk,
    new_sk: &Sk,
    table: &mut StaleTable,
    rng: &mut R,
) -> Result<Rotated, VaultError> {
    if record.channel_id() != channel_id || table.channel_id() != channel_id {
        return Err(VaultError::Refused {
            what: "records of another channel",
        });
    }
    // The old SK must be the current one: an entry is never keyed from anything else.
    record.unwrap(old_sk)?;
    let new_id = stale_id(channel_id, new_sk);
    if new_id == stale_id(channel_id, old_sk) || table.contains_id(&new_id) {
        return Err(VaultError::Refused {
            what: "the new key was a channel key before",
        });
    }
    let key_record = record.rewrap(dk, new_sk, rng)?;
    let from = state.sk_generation;
    let to = from.checked_add(1).ok_or(VaultError::Refused {
        what: "key generation exhausted",
    })?;
    table.push(StaleEntry::wrap(channel_id, old_sk, from, to, new_sk, rng));
    state.sk_generation = to;
    Ok(Rotated {
        key_record,
        verifier: SkVerifier::derive(channel_id, new_sk, to),
        generation: to,
    })
}

/// The outcome of [`catch_up`]: the current SK, the DK it unwraps, and how many stale-table
/// hops it took (0 = the presented key was current).
#[derive(Debug)]
pub struct CaughtUp {
    pub sk: Sk,
    pub dk: Dk,
    pub hops: usize,
}

/// Unwraps `record` with `sk`, or, if `sk` is an old key, follows the stale-key table to the
/// current one (VAULT.md §11). Errors: `UnknownKey` (neither current nor in the table: feed
/// the limiter), `RevokedKey` (needs a one-time passphrase), `Corrupt`.
pub fn catch_up(record: &KeyRecord, table: &StaleTable, sk: Sk) -> Result<CaughtUp, VaultError> {
    if record.channel_id() != table.channel_id() {
        return Err(VaultError::Refused {
            what: "records of another channel",
        });
    }
    let mut sk = sk;
    // Each hop moves to a strictly higher generation, so a chain is at most the table long.
    for hops in 0..=table.entries.len() {
        match record.unwrap(&sk) {
            Ok(dk) => return Ok(CaughtUp { sk, dk, hops }),
            Err(VaultError::WrongKey) => {}
            Err(e) => return Err(e),
        }
        let (_, next) = table.lookup(&sk)?;
        sk = next;
    }
    Err(VaultError::UnknownKey)
}
