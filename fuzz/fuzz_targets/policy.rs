//! Policies: the signed envelope, signature verification under a fixed key, and the TOML
//! body parser/validator. Must never panic.
#![no_main]

use attestation::policy::{SignedPolicy, SigningKey};
use attestation::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    if let Ok(signed) = SignedPolicy::parse(data) {
        let _ = signed.verify(&key);
        let _ = Policy::parse_unsigned_for_operator_check(signed.body());
    }
    let _ = Policy::parse_unsigned_for_operator_check(data);
});
