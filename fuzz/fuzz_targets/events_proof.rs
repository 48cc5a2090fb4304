//! The events stream's proof line (SPEC §3.7), read by the enclave from any client: never
//! panics, and whatever parses is exactly one 32-byte response from a bounded line.
#![no_main]

use enclave::events::{parse_proof_line, MAX_CLIENT_LINE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if parse_proof_line(data).is_some() {
        assert!(data.len() <= MAX_CLIENT_LINE);
    }
});
