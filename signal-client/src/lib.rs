//! A Signal account driven with the official libsignal protocol code. Formats and the
//! client's behaviour on each service answer are written down in `SPEC.md`.
//!
//! - [`store`]: the in-memory protocol store + recipient book and its encoding (SPEC §1);
//!   [`account`]: credentials, keys and the store (SPEC §2).
//! - [`cipher`]: libsignal encrypt/decrypt for one device, padding (SPEC §3), sealed sender;
//!   [`fanout`]: the CPU half of a broadcast; [`keys`]: prekey generation.
//! - [`transport`]: a [`transport::Connector`] for raw streams, pinned-root TLS (rustls,
//!   aws-lc-rs) and a pooled HTTP/1.1 client; [`ws`]: the receiving WebSocket.
//! - [`service`]: registration, keys, sending with recovery (SPEC §4), and network-free
//!   [`decrypt_envelope`] (SPEC §5); [`attachments`] (SPEC §6); [`uak`].
//! - [`phone`] and the `signal-phone` binary: simulated phones for tests and the demo.
//!
//! # Threading
//! libsignal's store traits are `async_trait(?Send)`, so the futures this crate returns
//! that touch the store are `!Send`. Run them on a current-thread runtime or in a
//! `tokio::task::LocalSet` (the enclave runs this crate on a dedicated thread so).
#![forbid(unsafe_code)]

pub mod account;
pub mod attachments;
pub mod cipher;
mod codec;
pub mod error;
pub mod fanout;
pub mod keys;
pub mod multi;
pub mod outbox;
pub mod phone;
pub mod service;
pub mod store;
pub mod transport;
pub mod uak;
pub mod ws;

pub use account::{Account, Credentials};
pub use error::{Error, Result};
pub use service::{decrypt_envelope, Incoming, SendReport, ServiceConfig, SignalClient};
pub use store::{ProtocolStore, Recipient};
