//! The Signal chat service wire API (the subset a channel bot needs), written from the
//! service's public API and `.proto` field numbers. Shared by `signal-sim` (the stand-in
//! server) and `signal-client` (phones and the enclave). Trusts nothing it decodes.
#![forbid(unsafe_code)]
