//! A Signal account driven with the official libsignal protocol code: its protocol store
//! (with a bounded binary encoding), encryption and decryption, and (later modules) the
//! service API, transport and simulated phones.
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
