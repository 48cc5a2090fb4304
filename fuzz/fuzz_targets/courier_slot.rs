//! The enclave's Signal slot (with its outbox table) and chunk table decoders (COURIER.md §2, §2.1, §2.2): never
//! panic; whatever decodes re-encodes to the same bytes.
#![no_main]

use enclave::courier::chunks::ChunkTable;
use enclave::courier::slot::SignalSlot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(slot)) = SignalSlot::decode(data) {
        assert_eq!(slot.encode(), data);
    }
    if let Ok(Some(table)) = ChunkTable::decode(data) {
        assert_eq!(table.encode(), data);
    }
});
