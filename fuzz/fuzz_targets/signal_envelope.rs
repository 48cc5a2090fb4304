//! signal-api's Envelope and Content decoders (signal-sim SPEC §5.2–§5.4): never panic,
//! respect their bounds, and re-decode what they encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = signal_api::decode_envelope(data) {
        assert!(env.content.as_ref().map_or(0, Vec::len) <= signal_api::limits::MAX_MESSAGE_CONTENT_LEN);
        let again = signal_api::decode_envelope(&env.encode_to_vec()).expect("re-decode");
        assert_eq!(again, env);
    }
    if let Ok(c) = signal_api::decode_content(data) {
        let again = signal_api::decode_content(&c.encode_to_vec()).expect("re-decode");
        assert_eq!(again, c);
    }
    let _ = signal_api::decode_padded_content(data);
});
