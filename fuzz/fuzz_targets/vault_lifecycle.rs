//! The key-lifecycle records a host serves back (VAULT.md §11, §12, §15): the stale-key
//! table, the OTP set and the SK proof verifier, plus the OTP text parser and the proof
//! challenge. None may panic; whatever decodes must re-encode to the same bytes; lookups and
//! redemptions on decoded records must fail cleanly.
#![no_main]

use enclave::vault::lifecycle::{Challenge, Otp, OtpSet, SkVerifier, StaleTable};
use enclave::vault::limiter::UnlockLimiter;
use enclave::vault::Sk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 5 {
        0 => {
            if let Ok(t) = StaleTable::decode(rest) {
                assert_eq!(t.encode(), rest);
                let _ = t.lookup(&Sk::from_bytes([7; 32]));
            }
        }
        1 => {
            if let Ok(mut s) = OtpSet::decode(rest) {
                assert_eq!(s.encode(), rest);
                let otp = Otp::parse("AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA").expect("valid");
                let _ = s.redeem(&otp, 1_800_000_000, &mut UnlockLimiter::new());
            }
        }
        2 => {
            if let Ok(v) = SkVerifier::decode(rest) {
                assert_eq!(v.encode(), rest);
            }
        }
        3 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Ok(otp) = Otp::parse(text) {
                    // Canonical text parses back to the same OTP.
                    let again = Otp::parse(&otp.to_text()).expect("canonical text parses");
                    let id = enclave::vault::ChannelId::from_bytes([1; 16]);
                    assert_eq!(again.id(&id), otp.id(&id));
                }
            }
        }
        _ => {
            if let Ok(c) = Challenge::decode(rest) {
                assert_eq!(&c.encode()[..], rest);
            }
        }
    }
});
