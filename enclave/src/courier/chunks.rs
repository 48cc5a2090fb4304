//! The channel's Signal account record, stored outside the state blob in sealed chunks
//! (COURIER.md §2.1). With libsignal's post-quantum ratchet a session record is about 6 KB,
//! so 10,000 subscribers need ~60 MB: far more than one state blob may hold. The state keeps
//! a small *chunk table* (in the vault's protocol-store slot) naming a generation and the
//! SHA-256 of every sealed chunk; the state's own epoch-bound AEAD therefore protects the
//! chunks against rollback and mix-and-match, and each chunk's AEAD binds its position.
//!
//! Chunks are copy-on-write: a new generation is written under new names before the state
//! that points to it is committed, and the old generation is deleted only after the commit.
//! A failed commit leaves the old generation intact (and the new one is deleted).
//!
//! Table layout: `version u8 = 1 ‖ generation u64 ‖ total_len u64 ‖ count u16 ‖ count ×
//! sha256[32]`. Chunk blob: `nonce[24] ‖ XChaCha20-Poly1305(ciphertext ‖ tag)` under
//! `HKDF-SHA256(DK, salt = channel id, "sealboost protocol chunk v1")` with associated data
//! `label ‖ channel id ‖ key epoch ‖ generation ‖ index ‖ count ‖ total_len`.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use wire::blob::{BlobRequest, BlobResponse};
use zeroize::Zeroizing;

use crate::blob_client::{BlobClient, BlobError};
use crate::vault::{ChannelId, Dk};

pub const TABLE_VERSION: u8 = 1;
/// Plaintext bytes per chunk (the host's blob limit is 16 MiB).
pub const CHUNK_LEN: usize = 8 * 1024 * 1024;
/// Most chunks: bounds the account record at 256 MiB (~40,000 subscribers).
pub const MAX_CHUNKS: usize = 32;
/// Chunk reads or writes open at once: enough to overlap sealing with the store's fsync,
/// few enough that the account's bytes exist about once in memory, not once per stage.
pub const IN_FLIGHT: usize = 2;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const TABLE_HEADER: usize = 1 + 8 + 8 + 2;
const LABEL: &[u8] = b"sealboost protocol chunk v1";
const OUTBOX_LABEL: &[u8] = b"sealboost outbox chunk v1";

/// What a chunk generation holds: the account record (`ps/`), or the staged outbox of
/// write-ahead sending (`ob/`, COURIER.md §2.2). Each has its own names, key and label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Account,
    Outbox,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Account => "ps",
            Kind::Outbox => "ob",
        }
    }
    fn label(self) -> &'static [u8] {
        match self {
            Kind::Account => LABEL,
            Kind::Outbox => OUTBOX_LABEL,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    #[error("chunk table: {0}")]
    Table(&'static str),
    #[error("account record of {0} bytes exceeds the chunk limit")]
    TooLarge(usize),
    #[error("chunk {index} of generation {generation} is missing")]
    Missing { generation: u64, index: usize },
    #[error("chunk {index} does not match the state's digest (rolled back or replaced)")]
    Digest { index: usize },
    #[error("chunk {index} does not authenticate")]
    Corrupt { index: usize },
    #[error("blob store: {0}")]
    Store(#[from] BlobError),
    #[error("host answered {got} to {op}")]
    Unexpected { op: &'static str, got: &'static str },
}

/// The decoded chunk table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkTable {
    pub generation: u64,
    pub total_len: u64,
    pub digests: Vec<[u8; 32]>,
}

impl ChunkTable {
    /// `None` for an empty slot (no account).
    pub fn decode(bytes: &[u8]) -> Result<Option<ChunkTable>, ChunkError> {
        if bytes.is_empty() {
            return Ok(None);
        }
        if bytes.len() < TABLE_HEADER {
            return Err(ChunkError::Table("truncated"));
        }
        if bytes[0] != TABLE_VERSION {
            return Err(ChunkError::Table("unsupported version"));
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let generation = u64_at(1);
        let total_len = u64_at(9);
        let count = usize::from(u16::from_be_bytes([bytes[17], bytes[18]]));
        if count > MAX_CHUNKS {
            return Err(ChunkError::Table("too many chunks"));
        }
        if bytes.len() != TABLE_HEADER + 32 * count {
            return Err(ChunkError::Table("length does not match the count"));
        }
        let expected = usize::try_from(total_len)
            .map(|l| l.div_ceil(CHUNK_LEN))
            .map_err(|_| ChunkError::Table("total length"))?;
        if expected != count {
            return Err(ChunkError::Table("count does not match the total length"));
        }
        let digests = bytes[TABLE_HEADER..]
            .chunks_exact(32)
            .map(|c| {
                let mut d = [0u8; 32];
                d.copy_from_slice(c);
                d
            })
            .collect();
        Ok(Some(ChunkTable {
            generation,
            total_len,
            digests,
        }))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TABLE_HEADER + 32 * self.digests.len());
        out.push(TABLE_VERSION);
        out.extend_from_slice(&self.generation.to_be_bytes());
        out.extend_from_slice(&self.total_len.to_be_bytes());
        // At most MAX_CHUNKS (checked where tables are made), so this fits a u16.
        let count = u16::try_from(self.digests.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for d in &self.digests {
            out.extend_from_slice(d);
        }
        out
    }
}

fn name(kind: Kind, id: &ChannelId, generation: u64, index: usize) -> Vec<u8> {
    format!("ch/{}/{}/{generation}/{index}", id.to_hex(), kind.dir()).into_bytes()
}

fn key(kind: Kind, dk: &Dk, id: &ChannelId) -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(id.as_bytes()), dk.secret())
        .expand(kind.label(), &mut k[..])
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    k
}

fn ad(kind: Kind, id: &ChannelId, dk: &Dk, t: &ChunkTable, index: usize) -> Vec<u8> {
    let mut ad = Vec::with_capacity(kind.label().len() + 16 + 8 * 5);
    ad.extend_from_slice(kind.label());
    ad.extend_from_slice(id.as_bytes());
    ad.extend_from_slice(&dk.key_epoch().to_be_bytes());
    ad.extend_from_slice(&t.generation.to_be_bytes());
    ad.extend_from_slice(&(index as u64).to_be_bytes());
    ad.extend_from_slice(&(t.digests.len() as u64).to_be_bytes());
    ad.extend_from_slice(&t.total_len.to_be_bytes());
    ad
}

fn unexpected(op: &'static str, r: &BlobResponse) -> ChunkError {
    ChunkError::Unexpected {
        op,
        got: r.kind_name(),
    }
}

/// Fetches, checks and opens every chunk of `table`; returns the account record.
pub async fn load(
    blobs: &BlobClient,
    id: &ChannelId,
    dk: &Dk,
    table: &ChunkTable,
) -> Result<Zeroizing<Vec<u8>>, ChunkError> {
    load_kind(Kind::Account, blobs, id, dk, table).await
}

/// [`load`] for either [`Kind`].
pub async fn load_kind(
    kind: Kind,
    blobs: &BlobClient,
    id: &ChannelId,
    dk: &Dk,
    table: &ChunkTable,
) -> Result<Zeroizing<Vec<u8>>, ChunkError> {
    let total = usize::try_from(table.total_len).map_err(|_| ChunkError::Table("total length"))?;
    // IN_FLIGHT chunks at a time: memory stays near one copy of the account (plus a few
    // chunks), not two.
    let k = key(kind, dk, id);
    let aead = XChaCha20Poly1305::new((&*k).into());
    let mut out = Zeroizing::new(Vec::with_capacity(total));
    let indices: Vec<usize> = (0..table.digests.len()).collect();
    for window in indices.chunks(IN_FLIGHT) {
        let fetches = window.iter().map(|&i| {
            blobs.call_owned(BlobRequest::Get {
                name: name(kind, id, table.generation, i),
            })
        });
        let answers = futures::future::join_all(fetches).await;
        for (&i, answer) in window.iter().zip(answers) {
            open_chunk(kind, &aead, id, dk, table, i, answer?, &mut out)?;
        }
    }
    if out.len() != total {
        return Err(ChunkError::Table(
            "chunks do not add up to the total length",
        ));
    }
    Ok(out)
}

/// Checks chunk `i`'s digest, opens it and appends its bytes to `out`.
#[allow(clippy::too_many_arguments)]
fn open_chunk(
    kind: Kind,
    aead: &XChaCha20Poly1305,
    id: &ChannelId,
    dk: &Dk,
    table: &ChunkTable,
    i: usize,
    answer: BlobResponse,
    out: &mut Vec<u8>,
) -> Result<(), ChunkError> {
    let mut blob = match answer {
        BlobResponse::Blob { data, .. } => data,
        BlobResponse::NotFound => {
            return Err(ChunkError::Missing {
                generation: table.generation,
                index: i,
            })
        }
        other => return Err(unexpected("get chunk", &other)),
    };
    if Sha256::digest(&blob).as_slice() != table.digests[i] {
        return Err(ChunkError::Digest { index: i });
    }
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(ChunkError::Corrupt { index: i });
    }
    let nonce = XNonce::clone_from_slice(&blob[..NONCE_LEN]);
    let tag_at = blob.len() - TAG_LEN;
    let tag = Tag::clone_from_slice(&blob[tag_at..]);
    let body = &mut blob[NONCE_LEN..tag_at];
    aead.decrypt_in_place_detached(&nonce, &ad(kind, id, dk, table, i), body, &tag)
        .map_err(|_| ChunkError::Corrupt { index: i })?;
    out.extend_from_slice(body);
    zeroize::Zeroize::zeroize(&mut blob);
    Ok(())
}

/// Seals `record` as generation `generation` and writes its chunks under new names.
/// Returns the table to put into the state. Nothing existing is overwritten.
pub async fn store(
    blobs: &BlobClient,
    id: &ChannelId,
    dk: &Dk,
    generation: u64,
    record: &[u8],
) -> Result<ChunkTable, ChunkError> {
    store_kind(Kind::Account, blobs, id, dk, generation, record).await
}

/// [`store`] for either [`Kind`].
pub async fn store_kind(
    kind: Kind,
    blobs: &BlobClient,
    id: &ChannelId,
    dk: &Dk,
    generation: u64,
    record: &[u8],
) -> Result<ChunkTable, ChunkError> {
    let count = record.len().div_ceil(CHUNK_LEN);
    if count > MAX_CHUNKS {
        return Err(ChunkError::TooLarge(record.len()));
    }
    let mut table = ChunkTable {
        generation,
        total_len: record.len() as u64,
        digests: vec![[0u8; 32]; count],
    };
    let k = key(kind, dk, id);
    let aead = XChaCha20Poly1305::new((&*k).into());
    // IN_FLIGHT chunks are sealed and written at a time, so sealed copies of the whole
    // account never coexist.
    let parts: Vec<&[u8]> = record.chunks(CHUNK_LEN).collect();
    let mut digests = vec![[0u8; 32]; count];
    for (w, window) in parts.chunks(IN_FLIGHT).enumerate() {
        let mut puts = Vec::with_capacity(window.len());
        for (j, part) in window.iter().enumerate() {
            let i = w * IN_FLIGHT + j;
            let blob = seal_chunk(kind, &aead, id, dk, &table, i, part)?;
            digests[i].copy_from_slice(&Sha256::digest(&blob));
            puts.push(blobs.call_owned(BlobRequest::Put {
                name: name(kind, id, generation, i),
                expected: 0,
                data: blob,
            }));
        }
        for answer in futures::future::join_all(puts).await {
            match answer? {
                BlobResponse::Written { .. } => {}
                other => return Err(unexpected("put chunk", &other)),
            }
        }
    }
    table.digests = digests;
    Ok(table)
}

/// Seals chunk `i` (`part`) of a generation described by `table`: nonce ‖ body ‖ tag.
fn seal_chunk(
    kind: Kind,
    aead: &XChaCha20Poly1305,
    id: &ChannelId,
    dk: &Dk,
    table: &ChunkTable,
    i: usize,
    part: &[u8],
) -> Result<Vec<u8>, ChunkError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let mut blob = Vec::with_capacity(NONCE_LEN + part.len() + TAG_LEN);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(part);
    let tag = aead
        .encrypt_in_place_detached(
            XNonce::from_slice(&nonce),
            &ad(kind, id, dk, table, i),
            &mut blob[NONCE_LEN..],
        )
        .map_err(|_| ChunkError::TooLarge(part.len()))?;
    blob.extend_from_slice(&tag);
    Ok(blob)
}

/// Name prefix of every chunk blob of `id`.
fn prefix(id: &ChannelId) -> Vec<u8> {
    kind_prefix(Kind::Account, id)
}

fn kind_prefix(kind: Kind, id: &ChannelId) -> Vec<u8> {
    format!("ch/{}/{}/", id.to_hex(), kind.dir()).into_bytes()
}

/// Whether `id` has a Signal account on the host (any chunk blob; the host knows this
/// anyway). `None` if the host did not answer a listing.
pub async fn any_stored(blobs: &BlobClient, id: &ChannelId) -> Option<bool> {
    match blobs
        .call(&BlobRequest::List {
            prefix: prefix(id),
            limit: 1,
        })
        .await
    {
        Ok(BlobResponse::Names { names }) => Some(!names.is_empty()),
        _ => None,
    }
}

/// Deletes every chunk blob of `id` except those of `keep` (best effort: housekeeping
/// after a commit, or cleanup after a failed one). Returns how many were deleted.
pub async fn collect_garbage(blobs: &BlobClient, id: &ChannelId, keep: Option<u64>) -> usize {
    collect_garbage_kind(Kind::Account, blobs, id, keep).await
}

/// [`collect_garbage`] for either [`Kind`].
pub async fn collect_garbage_kind(
    kind: Kind,
    blobs: &BlobClient,
    id: &ChannelId,
    keep: Option<u64>,
) -> usize {
    let prefix = kind_prefix(kind, id);
    let keep_prefix = keep.map(|g| format!("ch/{}/{}/{g}/", id.to_hex(), kind.dir()).into_bytes());
    let names = match blobs
        .call(&BlobRequest::List {
            prefix,
            limit: wire::blob::MAX_LIST_ITEMS,
        })
        .await
    {
        Ok(BlobResponse::Names { names }) => names,
        _ => return 0,
    };
    let mut deleted = 0;
    for (n, version) in names {
        if keep_prefix.as_ref().is_some_and(|k| n.starts_with(k)) {
            continue;
        }
        if let Ok(BlobResponse::Deleted) = blobs
            .call(&BlobRequest::Delete {
                name: n,
                expected: version,
            })
            .await
        {
            deleted += 1;
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trip_and_rejections() {
        let t = ChunkTable {
            generation: 7,
            total_len: (CHUNK_LEN + 1) as u64,
            digests: vec![[1; 32], [2; 32]],
        };
        let b = t.encode();
        assert_eq!(ChunkTable::decode(&b).unwrap(), Some(t.clone()));
        assert!(matches!(ChunkTable::decode(&[]), Ok(None)));
        assert!(matches!(
            ChunkTable::decode(&b[..b.len() - 1]),
            Err(ChunkError::Table("length does not match the count"))
        ));
        let mut wrong_total = t.clone();
        wrong_total.total_len = 10;
        assert!(matches!(
            ChunkTable::decode(&wrong_total.encode()),
            Err(ChunkError::Table("count does not match the total length"))
        ));
        let mut v = b.clone();
        v[0] = 9;
        assert!(matches!(
            ChunkTable::decode(&v),
            Err(ChunkError::Table("unsupported version"))
        ));
        let many = ChunkTable {
            generation: 1,
            total_len: 0,
            digests: vec![[0; 32]; MAX_CHUNKS + 1],
        };
        assert!(matches!(
            ChunkTable::decode(&many.encode()),
            Err(ChunkError::Table("too many chunks"))
        ));
    }
}
