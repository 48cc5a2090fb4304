//! The vault (DESIGN §4): everything that turns a channel's identifying data into
//! ciphertext the host may store, and back, inside the enclave. Byte-level spec:
//! `enclave/VAULT.md` (section numbers below refer to it).
//!
//! Key schedule (VAULT.md §2):
//!
//! ```text
//! SK (admin clients) ──HKDF(salt = channel id)──▶ KEK ──XChaCha20-Poly1305──▶ wrapped DK
//! DK (X25519, per key epoch) ──HKDF(salt = channel id)──▶ DEK ──▶ sealed state
//! EK = X25519 public of DK ──HPKE base mode──▶ inbound queue items (written while locked)
//! DK ──HKDF(salt = channel id)──▶ inbound auth key ──HMAC──▶ the same items (live receiver)
//! ```
//!
//! Key lifecycle (rotation with stale-key catch-up, one-time-passphrase onboarding, full
//! re-key, proposals and voting, proof of SK possession): [`lifecycle`], VAULT.md §11–§17.
//!
//! Everything here is synchronous, allocation-bounded and panic-free on untrusted input; the
//! clock and the randomness are parameters.

pub mod admin_keys;
mod codec;
mod inbound;
mod keys;
pub mod lifecycle;
pub mod limiter;
pub mod model;
pub mod names;
mod state;
#[cfg(test)]
mod tests;

pub use inbound::{
    open_inbound, seal_inbound, InboundAuthKey, INBOUND_HEADER_LEN, INBOUND_MAC_LEN,
    INBOUND_OVERHEAD, INBOUND_VERSION, MAX_INBOUND_PLAINTEXT_LEN,
};
pub use keys::{new_channel, ChannelId, Dk, KeyRecord, Sk, KEY_RECORD_LEN};
pub use state::{
    claimed_key_epoch, open_state, padded_len, seal_state, MAX_PADDED_STATE_LEN,
    MAX_STATE_BLOB_LEN, STATE_HEADER_LEN,
};

/// Version byte that starts every vault format (key record, state blob, inbound item, and
/// the state plaintext). A reader rejects any other value with
/// [`VaultError::UnsupportedVersion`].
pub const FORMAT_VERSION: u8 = 1;

/// Largest inbound queue item, the host's queue limit.
pub const MAX_INBOUND_ITEM_LEN: usize = wire::blob::MAX_QUEUE_ITEM_LEN;

/// Which vault format an error is about. Safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    KeyRecord,
    State,
    Inbound,
    /// The decrypted state plaintext (channel model codec).
    Model,
    /// The stale-key table `ch/<id>/stale` (VAULT.md §11).
    StaleTable,
    /// The one-time-passphrase record set `ch/<id>/otp` (VAULT.md §12).
    OtpSet,
    /// The SK proof verifier `ch/<id>/proof` (VAULT.md §15).
    Verifier,
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Record::KeyRecord => "key record",
            Record::State => "state blob",
            Record::Inbound => "inbound item",
            Record::Model => "channel state",
            Record::StaleTable => "stale-key table",
            Record::OtpSet => "one-time passphrase set",
            Record::Verifier => "key proof verifier",
        })
    }
}

/// Every way the vault refuses. `Display` carries only kinds, lengths, epochs and counts:
/// never a phone number, key, body or blob content, so every variant is safe to log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VaultError {
    /// The key record's wrapped DK did not authenticate under the KEK derived from the SK
    /// presented: a wrong SK (or a tampered key record; the two are indistinguishable).
    #[error("wrong channel key")]
    WrongKey,
    /// AEAD authentication failed on a state blob or inbound item: corrupted, forged, or
    /// sealed for another channel, record kind or epoch.
    #[error("{record} failed authentication")]
    Corrupt { record: Record },
    /// An inbound item's MAC does not verify under the channel's inbound authentication key
    /// (VAULT.md §6): it was not written by this enclave's live receiver (or another holder
    /// of that key), e.g. sealed to the public EK by the host.
    #[error("{record} not written by the channel's receiver")]
    Unauthenticated { record: Record },
    /// The input ends before its fixed header or a declared length.
    #[error("{record} truncated: {what}")]
    Truncated { record: Record, what: &'static str },
    /// Out-of-range value, trailing bytes, broken ordering or any other structural error.
    #[error("{record} malformed: {what}")]
    Malformed { record: Record, what: &'static str },
    #[error("{record} has unsupported format version {version}")]
    UnsupportedVersion { record: Record, version: u8 },
    /// An input or an output would exceed its named bound.
    #[error("{what} too large: {len} > {max}")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// The state is older than the newest one an admin client has seen (DESIGN §4.4).
    #[error("rollback detected: state epoch {found} is older than {min}")]
    Rollback { found: u64, min: u64 },
    /// A blob or item was sealed under a different key epoch than the DK at hand.
    #[error("key epoch mismatch: found {found}, expected {expected}")]
    KeyEpochMismatch { found: u64, expected: u64 },
    /// A DK was offered for a key record it does not belong to.
    #[error("decryption key does not match the key record")]
    DkMismatch,
    /// Too many wrong-SK attempts on this channel; try again later.
    #[error("too many failed unlocks; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Not an E.164 number (`+`, 8..=15 digits, first digit nonzero). The input is not echoed.
    #[error("invalid phone number")]
    InvalidPhone,
    /// The phone number is already a member of the channel.
    #[error("already a member")]
    AlreadyMember,
    /// The phone number is not a member (or not an admin) of the channel.
    #[error("not a member")]
    NotMember,
    /// A channel-level limit (members, subscribers, admins, records) is reached.
    #[error("{what} limit reached ({max})")]
    LimitReached { what: &'static str, max: usize },
    /// A setting value is out of its documented range.
    #[error("setting {what} out of range")]
    InvalidSetting { what: &'static str },
    /// The recipient public key (EK) is unusable (e.g. a low-order X25519 point).
    #[error("invalid channel public key")]
    InvalidPublicKey,
    /// The presented key is neither the current SK nor any old SK in the stale-key table.
    #[error("channel key not recognised")]
    UnknownKey,
    /// The presented old SK belongs to a generation revoked by a full re-key (VAULT.md §13):
    /// its holder needs a one-time passphrase from another admin.
    #[error("channel key revoked")]
    RevokedKey,
    /// Not a one-time passphrase in the documented format (the input is not echoed).
    #[error("malformed one-time passphrase")]
    InvalidOtp,
    /// No pending one-time passphrase matches.
    #[error("unknown one-time passphrase")]
    OtpUnknown,
    /// The one-time passphrase matched but its lifetime has ended.
    #[error("one-time passphrase expired")]
    OtpExpired,
    /// The one-time passphrase was already redeemed.
    #[error("one-time passphrase already used")]
    OtpUsed,
    /// No open proposal has this id (never made, or already enacted or discarded).
    #[error("unknown proposal {id}")]
    UnknownProposal { id: u32 },
    /// This admin already voted on this proposal.
    #[error("already voted on proposal {id}")]
    AlreadyVoted { id: u32 },
    /// A key-lifecycle operation that makes no sense in the current state.
    #[error("refused: {what}")]
    Refused { what: &'static str },
    /// A challenge response did not prove possession of the channel key.
    #[error("key proof failed")]
    ProofFailed,
    /// A request acting as a named admin carried no valid proof by that admin's own key
    /// (VAULT.md §20): no key registered, no proof, or a signature that does not verify.
    #[error("admin proof missing or invalid: {what}")]
    AdminUnauthorized { what: &'static str },
}
