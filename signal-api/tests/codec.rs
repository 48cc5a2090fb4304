#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! Round trips and negative cases for the protobuf decoders, padding, service ids and auth.

use proptest::prelude::*;
use prost::Message;
use signal_api::limits::*;
use signal_api::*;

fn envelope(content: Vec<u8>) -> Envelope {
    Envelope {
        r#type: Some(envelope::Type::Ciphertext as i32),
        source_service_id: Some("9d0652a3-dcc3-4d11-975f-74d61598733f".into()),
        source_device: Some(1),
        timestamp: Some(1_700_000_000_000),
        content: Some(content),
        server_guid: Some("guid".into()),
        server_timestamp: Some(1_700_000_000_001),
        destination_service_id: Some("PNI:9d0652a3-dcc3-4d11-975f-74d61598733f".into()),
        urgent: Some(true),
        ..Default::default()
    }
}

#[test]
fn envelope_field_numbers_match_the_proto() {
    // type=1 (field 1 varint), content (field 8), source_service_id (field 11).
    let e = Envelope {
        r#type: Some(6),
        content: Some(vec![0xAA]),
        source_service_id: Some("x".into()),
        ..Default::default()
    };
    let bytes = e.encode_to_vec();
    assert_eq!(bytes, vec![0x08, 6, 0x42, 1, 0xAA, 0x5A, 1, b'x']);
}

#[test]
fn envelope_urgent_defaults_to_true() {
    let e = decode_envelope(&[0x08, 1]).unwrap();
    assert!(e.urgent());
    assert_eq!(e.r#type(), envelope::Type::Ciphertext);
}

#[test]
fn envelope_unknown_type_rejected() {
    assert!(matches!(
        decode_envelope(&[0x08, 2]),
        Err(ApiError::Invalid {
            what: "envelope type"
        })
    ));
    assert!(matches!(
        decode_envelope(&[]),
        Err(ApiError::Invalid {
            what: "envelope type"
        })
    ));
}

#[test]
fn envelope_oversize_rejected_before_decoding() {
    let big = vec![0u8; MAX_ENVELOPE_LEN + 1];
    assert!(matches!(
        decode_envelope(&big),
        Err(ApiError::TooLong {
            what: "envelope",
            ..
        })
    ));
}

#[test]
fn envelope_garbage_is_a_protobuf_error() {
    assert!(matches!(
        decode_envelope(&[0xff, 0xff, 0xff]),
        Err(ApiError::Protobuf { what: "Envelope" })
    ));
}

#[test]
fn envelope_debug_hides_content() {
    let e = envelope(b"secret-ciphertext".to_vec());
    let s = format!("{e:?}");
    assert!(!s.contains("secret"));
    assert!(s.contains("content_len"));
}

#[test]
fn ws_request_round_trip_and_header_lookup() {
    let m = WebSocketMessage::request(WebSocketRequestMessage {
        verb: Some("PUT".into()),
        path: Some(consts::WS_DELIVER_PATH.into()),
        body: Some(vec![1, 2, 3]),
        headers: vec!["X-Signal-Timestamp: 42".into()],
        id: Some(7),
    });
    let back = decode_ws_message(&m.encode_to_vec()).unwrap();
    assert_eq!(back, m);
    assert_eq!(
        back.request.unwrap().header("x-signal-timestamp"),
        Some("42")
    );
}

#[test]
fn ws_message_type_must_match_payload() {
    let mut m = WebSocketMessage::response(WebSocketResponseMessage {
        id: Some(1),
        status: Some(200),
        ..Default::default()
    });
    m.r#type = Some(web_socket_message::Type::Request as i32);
    assert!(matches!(
        decode_ws_message(&m.encode_to_vec()),
        Err(ApiError::Invalid {
            what: "WebSocketMessage type"
        })
    ));
}

#[test]
fn ws_request_requires_id() {
    let m = WebSocketMessage::request(WebSocketRequestMessage {
        verb: Some("GET".into()),
        path: Some("/v1/keepalive".into()),
        ..Default::default()
    });
    assert!(matches!(
        decode_ws_message(&m.encode_to_vec()),
        Err(ApiError::Invalid { .. })
    ));
}

#[test]
fn ws_too_many_headers_rejected() {
    let m = WebSocketMessage::request(WebSocketRequestMessage {
        verb: Some("GET".into()),
        path: Some("/".into()),
        headers: vec!["a: b".into(); MAX_WS_HEADERS + 1],
        id: Some(1),
        body: None,
    });
    assert!(matches!(
        decode_ws_message(&m.encode_to_vec()),
        Err(ApiError::TooMany {
            what: "websocket headers",
            ..
        })
    ));
}

fn content_with_body(body: String) -> Content {
    Content {
        data_message: Some(DataMessage {
            body: Some(body),
            timestamp: Some(5),
            expire_timer: Some(604_800),
            expire_timer_version: Some(1),
            flags: Some(data_message::Flags::ProfileKeyUpdate as i32 as u32),
            attachments: vec![AttachmentPointer {
                cdn_key: Some("abc".into()),
                cdn_number: Some(3),
                key: Some(vec![7; 64]),
                size: Some(10),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn content_padding_round_trip() {
    let c = content_with_body("hello".into());
    let padded = pad_content(&c.encode_to_vec());
    assert_eq!((padded.len() + 1) % decode::PADDING_BLOCK, 0);
    let back = decode_padded_content(&padded).unwrap();
    assert_eq!(back, c);
    let dm = back.data_message.unwrap();
    assert!(dm.has_flag(data_message::Flags::ProfileKeyUpdate));
    assert!(!dm.has_flag(data_message::Flags::EndSession));
}

#[test]
fn content_bad_padding_rejected() {
    assert!(matches!(
        unpad_content(&[1, 2, 3, 0, 0]),
        Err(ApiError::Invalid {
            what: "content padding"
        })
    ));
    assert!(matches!(
        unpad_content(&[0, 0]),
        Err(ApiError::Invalid {
            what: "content padding"
        })
    ));
}

#[test]
fn content_body_too_long_rejected() {
    let c = content_with_body("x".repeat(MAX_BODY_LEN + 1));
    assert!(matches!(
        decode_content(&c.encode_to_vec()),
        Err(ApiError::TooLong {
            what: "message body",
            ..
        })
    ));
}

#[test]
fn content_too_many_attachments_rejected() {
    let mut c = content_with_body("x".into());
    let dm = c.data_message.as_mut().unwrap();
    dm.attachments = vec![AttachmentPointer::default(); MAX_ATTACHMENTS + 1];
    assert!(matches!(
        decode_content(&c.encode_to_vec()),
        Err(ApiError::TooMany {
            what: "attachments",
            ..
        })
    ));
}

#[test]
fn attachment_with_both_identifiers_rejected() {
    let mut c = content_with_body("x".into());
    let dm = c.data_message.as_mut().unwrap();
    dm.attachments[0].cdn_id = Some(9);
    assert!(matches!(
        decode_content(&c.encode_to_vec()),
        Err(ApiError::Invalid { .. })
    ));
}

#[test]
fn content_debug_hides_body_and_keys() {
    let c = content_with_body("top secret words".into());
    let s = format!("{c:?}");
    assert!(!s.contains("top secret"));
    assert!(!s.contains("7, 7"));
}

#[test]
fn opaque_submessages_round_trip_unchanged() {
    // A SyncMessage (field 2) with arbitrary nested content survives decode/encode.
    let raw = vec![0x12, 3, 0x0a, 1, 0x41];
    let c = decode_content(&raw).unwrap();
    assert_eq!(c.sync_message.as_deref(), Some(&[0x0a, 1, 0x41][..]));
    assert_eq!(c.encode_to_vec(), raw);
}

#[test]
fn service_id_parse_and_display() {
    let aci = "9d0652a3-dcc3-4d11-975f-74d61598733f";
    let s = ServiceId::parse(aci).unwrap();
    assert!(s.is_aci());
    assert_eq!(s.to_string(), aci);
    let p = ServiceId::parse(&format!("PNI:{aci}")).unwrap();
    assert!(matches!(p, ServiceId::Pni(_)));
    assert_eq!(p.to_string(), format!("PNI:{aci}"));
    for bad in [
        "",
        "PNI:",
        "ACI:9d0652a3-dcc3-4d11-975f-74d61598733f",
        "9d0652a3dcc34d11975f74d61598733f",
        "{9d0652a3-dcc3-4d11-975f-74d61598733f}",
    ] {
        assert!(matches!(
            ServiceId::parse(bad),
            Err(ApiError::InvalidServiceId)
        ));
    }
}

#[test]
fn basic_auth_round_trip() {
    let aci = parse_uuid("9d0652a3-dcc3-4d11-975f-74d61598733f").unwrap();
    let a = BasicAuth::device(aci, 2, Password::new("pw:with:colons".into()));
    let back = BasicAuth::parse_header(&a.header_value()).unwrap();
    assert_eq!(back, a);
    assert!(!format!("{back:?}").contains("pw:with"));
    let bare = BasicAuth::from_parts("9d0652a3-dcc3-4d11-975f-74d61598733f", "x").unwrap();
    assert_eq!(bare.username, Username::Device { aci, device_id: 1 });
    let num = BasicAuth::from_parts("+15551234567", "x").unwrap();
    assert_eq!(num.username, Username::Number("+15551234567".into()));
}

#[test]
fn basic_auth_rejects_bad_input() {
    assert!(matches!(
        BasicAuth::parse_header("Bearer abc"),
        Err(ApiError::InvalidAuth { .. })
    ));
    assert!(matches!(
        BasicAuth::parse_header("Basic !!!"),
        Err(ApiError::InvalidAuth { .. })
    ));
    assert!(matches!(
        BasicAuth::from_parts("9d0652a3-dcc3-4d11-975f-74d61598733f.0", "x"),
        Err(ApiError::Invalid { what: "device id" })
    ));
    assert!(matches!(
        BasicAuth::from_parts("+0123", "x"),
        Err(ApiError::Invalid {
            what: "e164 number"
        })
    ));
    assert!(matches!(
        BasicAuth::from_parts("+15551234567", ""),
        Err(ApiError::InvalidAuth { .. })
    ));
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_envelope(&bytes);
        let _ = decode_ws_message(&bytes);
        let _ = decode_content(&bytes);
        let _ = decode_padded_content(&bytes);
        let _ = parse_json::<IncomingMessageList>(&bytes);
        let _ = parse_json::<RegistrationRequest>(&bytes);
    }

    #[test]
    fn envelope_round_trip(content in proptest::collection::vec(any::<u8>(), 0..2048),
                           ts in any::<u64>(), dev in 1u32..128) {
        let mut e = envelope(content);
        e.timestamp = Some(ts);
        e.source_device = Some(dev);
        prop_assert_eq!(decode_envelope(&e.encode_to_vec()).unwrap(), e);
    }

    #[test]
    fn ws_round_trip(id in any::<u64>(), status in 100u32..600,
                     body in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let m = WebSocketMessage::response(WebSocketResponseMessage {
            id: Some(id), status: Some(status), message: Some("OK".into()),
            headers: vec![], body: Some(body),
        });
        prop_assert_eq!(decode_ws_message(&m.encode_to_vec()).unwrap(), m);
    }

    #[test]
    fn padded_content_round_trip(body in "\\PC{0,300}") {
        let c = content_with_body(body);
        let back = decode_padded_content(&pad_content(&c.encode_to_vec())).unwrap();
        prop_assert_eq!(back, c);
    }
}
