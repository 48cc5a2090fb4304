//! signal-api's JSON bodies (signal-sim SPEC §7) and header parsers: never panic, and every
//! body that parses re-encodes to JSON that parses back to the same value. Covers every body
//! the sim parses (requests) and every body the client parses (responses, error bodies).
#![no_main]

use libfuzzer_sys::fuzz_target;
use signal_api::*;

/// Parse `data` as each type; when it parses, `to_json` then `parse_json` must give it back.
macro_rules! round_trip {
    ($data:expr, $($t:ty),+ $(,)?) => {$(
        if let Ok(v) = parse_json::<$t>($data) {
            let again = parse_json::<$t>(&to_json(&v)).expect("a parsed body re-encodes validly");
            assert_eq!(again, v);
        }
    )+};
}

fuzz_target!(|data: &[u8]| {
    // Requests (the sim parses them).
    round_trip!(
        data,
        CreateVerificationSessionRequest,
        UpdateVerificationSessionRequest,
        VerificationCodeRequest,
        RegistrationRequest,
        SetKeysRequest,
        IncomingMessageList,
        LinkDeviceRequest,
    );
    // No `Debug` (it holds the verification code): parse only.
    let _ = parse_json::<SubmitVerificationCodeRequest>(data);
    // Responses and error bodies (the client parses them).
    round_trip!(
        data,
        VerificationSessionResponse,
        AccountIdentityResponse,
        PreKeyCount,
        PreKeyResponse,
        SendMessageResponse,
        MismatchedDevices,
        StaleDevices,
        SendMultiRecipientMessageResponse,
        Vec<AccountMismatchedDevices>,
        Vec<AccountStaleDevices>,
        ChallengeRequired,
        ErrorResponse,
        SenderCertificateResponse,
        AttachmentUploadForm,
        DirectoryLookupResponse,
        LinkDeviceVerificationCode,
        LinkDeviceResponse,
        DeviceInfoList,
    );
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = BasicAuth::parse_header(s);
        if let Ok(id) = ServiceId::parse(s) {
            assert_eq!(id.to_string(), s.to_ascii_lowercase().replace("pni:", "PNI:"));
        }
    }
});
