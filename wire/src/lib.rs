//! Wire formats of the host⇄enclave link, exactly as `wire/SPEC.md` writes them down.
//!
//! This crate trusts nothing it decodes: every length is bounded by a named constant before
//! anything is allocated, decoders reject trailing bytes, and no input can make them panic
//! (`fuzz/fuzz_targets/link_frame.rs`). It knows no secrets and no user data: what crosses
//! the link is either opaque ciphertext (blobs, queue items, TLS bytes) or operational
//! metadata (versions, lengths, health).
//!
//! Modules follow the spec's sections: [`frame`] (§2.2), [`hello`] (§2.3–2.4),
//! [`blob`] (§2.6), [`control`] (§2.7). With the default `link` feature, [`link`] adds the
//! transports (§2.1) and async framed I/O.
#![forbid(unsafe_code)]

pub mod blob;
mod codec;
pub mod control;
pub mod frame;
pub mod hello;
#[cfg(feature = "link")]
pub mod link;

pub use codec::DecodeError;

/// Link protocol versions this build speaks (SPEC §2.3). Version 1 is the only one so far.
pub const LINK_VERSION_MIN: u16 = 1;
/// See [`LINK_VERSION_MIN`].
pub const LINK_VERSION_MAX: u16 = 1;

/// Every link connection's first four body bytes (SPEC §2.3): "SBLK".
pub const LINK_MAGIC: [u8; 4] = *b"SBLK";
