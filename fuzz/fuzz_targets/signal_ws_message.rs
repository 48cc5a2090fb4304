//! signal-api's WebSocketMessage decoder (signal-sim SPEC §5.1): never panics, bounds hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = signal_api::decode_ws_message(data) {
        if let Some(r) = &m.request {
            assert!(r.headers.len() <= signal_api::limits::MAX_WS_HEADERS);
        }
        let again = signal_api::decode_ws_message(&m.encode_to_vec()).expect("re-decode");
        assert_eq!(again, m);
    }
});
