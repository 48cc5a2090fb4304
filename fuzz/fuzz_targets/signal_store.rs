//! The signal-client protocol-store decoder (signal-client/SPEC.md §1) on arbitrary bytes:
//! it must never panic, and whatever it accepts must re-encode to something it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(store) = signal_client::ProtocolStore::decode(data) {
        let again = store.encode().expect("a decoded store re-encodes");
        signal_client::ProtocolStore::decode(&again).expect("a re-encoded store decodes");
    }
});
