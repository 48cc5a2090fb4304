//! The signal-client outbox decoder (signal-client/SPEC.md §4.2) on arbitrary bytes: it must
//! never panic, and whatever it accepts re-encodes to bytes that decode and encode the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signal_client::outbox::Outbox;

fuzz_target!(|data: &[u8]| {
    if let Ok(outbox) = Outbox::decode(data) {
        let again = outbox.encode().expect("a decoded outbox re-encodes");
        let back = Outbox::decode(&again).expect("a re-encoded outbox decodes");
        assert_eq!(*back.encode().expect("re-encodes"), *again);
    }
});
