//! signal-api's JSON bodies (signal-sim SPEC §7) and header parsers: never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signal_api::*;

fuzz_target!(|data: &[u8]| {
    let _ = parse_json::<RegistrationRequest>(data);
    let _ = parse_json::<SetKeysRequest>(data);
    let _ = parse_json::<IncomingMessageList>(data);
    let _ = parse_json::<PreKeyResponse>(data);
    let _ = parse_json::<VerificationSessionResponse>(data);
    let _ = parse_json::<Vec<AccountMismatchedDevices>>(data);
    let _ = parse_json::<Vec<AccountStaleDevices>>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = BasicAuth::parse_header(s);
        if let Ok(id) = ServiceId::parse(s) {
            assert_eq!(id.to_string(), s.to_ascii_lowercase().replace("pni:", "PNI:"));
        }
    }
});
