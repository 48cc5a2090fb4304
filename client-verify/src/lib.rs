#![forbid(unsafe_code)]

pub mod attest_cli;
pub mod session;
