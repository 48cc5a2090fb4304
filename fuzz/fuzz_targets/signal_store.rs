//! The signal-client store and account decoders (signal-client/SPEC.md §1, §2) on arbitrary
//! bytes: they must never panic, and whatever they accept must re-encode to something they
//! accept.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(store) = signal_client::ProtocolStore::decode(data) {
        let again = store.encode().expect("a decoded store re-encodes");
        signal_client::ProtocolStore::decode(&again).expect("a re-encoded store decodes");
    }
    if let Ok(account) = signal_client::Account::decode(data) {
        let again = account.encode().expect("a decoded account re-encodes");
        signal_client::Account::decode(&again).expect("a re-encoded account decodes");
    }
});
