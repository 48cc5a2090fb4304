#![forbid(unsafe_code)]

pub mod admin;
pub mod attest_cli;
pub mod channel_cli;
pub mod keystore;
pub mod lifecycle_cli;
pub mod session;
pub mod signal_cli;
pub mod watch;
