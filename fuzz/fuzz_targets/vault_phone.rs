//! A member's identifier from text (enclave VAULT.md §5): `Phone::parse` (numbers typed by
//! admins) and `Phone::from_book_key` (the recipient book's key for a sender: an E.164
//! number or a member pseudonym). Neither may panic; whatever they accept prints back as
//! the same text; `parse` never yields a pseudonym and agrees with `from_book_key`.
#![no_main]

use enclave::vault::model::Phone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Phone::parse(s).ok();
    if let Some(p) = &parsed {
        assert!(!p.is_pseudonym());
        assert_eq!(p.to_e164_string().as_str(), s);
    }
    match Phone::from_book_key(s) {
        Some(p) => {
            assert_eq!(p.to_e164_string().as_str(), s);
            assert_eq!(parsed.is_some(), !p.is_pseudonym());
        }
        None => assert!(parsed.is_none()),
    }
});
