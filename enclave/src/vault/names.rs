//! Blob and queue names (VAULT.md §7). A name is the channel's random id in hex plus a
//! fixed record kind: it carries no user data and says nothing the host does not already
//! see (which blobs belong together).

use super::ChannelId;

const PREFIX: &[u8] = b"ch/";

fn name(channel_id: &ChannelId, kind: &[u8]) -> Vec<u8> {
    let mut n = Vec::with_capacity(PREFIX.len() + 32 + kind.len());
    n.extend_from_slice(PREFIX);
    n.extend_from_slice(channel_id.to_hex().as_bytes());
    n.extend_from_slice(kind);
    n
}

/// `ch/<hex id>/keys`: the current [`super::KeyRecord`].
pub fn key_record(channel_id: &ChannelId) -> Vec<u8> {
    name(channel_id, b"/keys")
}

/// `ch/<hex id>/state`: the sealed [`super::model::ChannelState`] (compare-and-swap).
pub fn state(channel_id: &ChannelId) -> Vec<u8> {
    name(channel_id, b"/state")
}

/// `ch/<hex id>/inbound`: the append-only queue of HPKE-sealed inbound items.
pub fn inbound(channel_id: &ChannelId) -> Vec<u8> {
    name(channel_id, b"/inbound")
}

/// `ch/<id>/rekey-undo`: the key record a re-key is replacing, kept while the new key record
/// and the new state are written (VAULT.md §16), so an interrupted re-key rolls back.
pub fn rekey_undo(channel_id: &ChannelId) -> Vec<u8> {
    name(channel_id, b"/rekey-undo")
}

/// `ch/<hex id>/stale`: the stale-key table (VAULT.md §11), readable with an old SK only.
pub fn stale_keys(channel_id: &ChannelId) -> Vec<u8> {
    name(channel_id, b"/stale")
}

/// `ch/<hex id>/otp`: the pending one-time-passphrase records (VAULT.md §12).
pub fn otps(channel_id: &ChannelId) -> Vec<u8> {
    name(channel_id, b"/otp")
}

/// `ch/<hex id>/proof`: the public SK proof verifier (VAULT.md §15).
pub fn proof_verifier(channel_id: &ChannelId) -> Vec<u8> {
    name(channel_id, b"/proof")
}
