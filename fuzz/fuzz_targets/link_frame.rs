//! Every decoder of bytes the host⇄enclave link delivers: frames, hellos, blob RPC,
//! control. None may panic; each must reject trailing bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((kind, body)) = wire::frame::decode(data) {
        assert!(body.len() <= wire::frame::MAX_FRAME_BODY);
        let _ = kind;
    }
    let _ = wire::hello::Hello::decode(data);
    let _ = wire::hello::HelloAck::decode(data);
    if let Ok(req) = wire::blob::BlobRequest::decode(data) {
        // Anything that decodes re-encodes to the same bytes.
        assert_eq!(req.encode().ok().as_deref(), Some(data));
    }
    if let Ok(resp) = wire::blob::BlobResponse::decode(data) {
        assert_eq!(resp.encode(), data);
    }
    let _ = wire::control::ControlRequest::decode(data);
    let _ = wire::control::ControlResponse::decode(data);
});
