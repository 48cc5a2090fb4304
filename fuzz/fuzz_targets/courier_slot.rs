//! The enclave's Signal slot decoder (COURIER.md §2): never panics; whatever decodes
//! re-encodes to the same bytes.
#![no_main]

use enclave::courier::slot::SignalSlot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(slot)) = SignalSlot::decode(data) {
        assert_eq!(slot.encode(), data);
    }
});
