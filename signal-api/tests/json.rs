#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! JSON bodies: exact camelCase names, base64 fields, bounds.

use proptest::prelude::*;
use signal_api::limits::*;
use signal_api::*;

fn spk(id: u32) -> SignedPreKey {
    SignedPreKey {
        key_id: id,
        public_key: vec![5; 33],
        signature: vec![6; 64],
    }
}

fn registration() -> RegistrationRequest {
    RegistrationRequest {
        session_id: Some("sess".into()),
        account_attributes: AccountAttributes {
            fetches_messages: true,
            registration_id: 1234,
            pni_registration_id: 5678,
            name: None,
            registration_lock: None,
            unidentified_access_key: Some(vec![9; 16]),
            unrestricted_unidentified_access: false,
            capabilities: [("deleteSync".to_string(), true)].into(),
            discoverable_by_phone_number: true,
        },
        skip_device_transfer: true,
        aci_identity_key: vec![5; 33],
        pni_identity_key: vec![5; 33],
        aci_signed_pre_key: spk(1),
        pni_signed_pre_key: spk(2),
        aci_pq_last_resort_pre_key: spk(3),
        pni_pq_last_resort_pre_key: spk(4),
    }
}

#[test]
fn registration_uses_the_service_field_names() {
    let v: serde_json::Value = serde_json::from_slice(&to_json(&registration())).unwrap();
    for k in [
        "sessionId",
        "accountAttributes",
        "skipDeviceTransfer",
        "aciIdentityKey",
        "pniIdentityKey",
        "aciSignedPreKey",
        "pniSignedPreKey",
        "aciPqLastResortPreKey",
        "pniPqLastResortPreKey",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    let aa = &v["accountAttributes"];
    for k in [
        "fetchesMessages",
        "registrationId",
        "pniRegistrationId",
        "unidentifiedAccessKey",
        "unrestrictedUnidentifiedAccess",
        "capabilities",
    ] {
        assert!(aa.get(k).is_some(), "{k}");
    }
    assert_eq!(aa["unidentifiedAccessKey"], "CQkJCQkJCQkJCQkJCQkJCQ==");
    assert_eq!(v["aciSignedPreKey"]["keyId"], 1);
    let back: RegistrationRequest = parse_json(&to_json(&registration())).unwrap();
    assert_eq!(back, registration());
}

#[test]
fn unpadded_base64_accepted() {
    let body = br#"{"keyId":1,"publicKey":"BQUF","signature":"BgY"}"#;
    let k: SignedPreKey = serde_json::from_slice(body).unwrap();
    assert_eq!(k.signature, vec![6, 6]);
}

#[test]
fn uak_must_be_16_bytes() {
    let mut r = registration();
    r.account_attributes.unidentified_access_key = Some(vec![1; 15]);
    assert!(matches!(
        parse_json::<RegistrationRequest>(&to_json(&r)),
        Err(ApiError::Invalid {
            what: "unidentifiedAccessKey length"
        })
    ));
}

#[test]
fn message_list_round_trip_and_names() {
    let l = IncomingMessageList {
        messages: vec![IncomingMessage {
            r#type: 1,
            destination_device_id: 1,
            destination_registration_id: 77,
            content: vec![1, 2, 3],
        }],
        online: false,
        urgent: true,
        timestamp: 99,
    };
    let j = String::from_utf8(to_json(&l)).unwrap();
    assert!(j.contains(r#""type":1"#));
    assert!(j.contains(r#""destinationDeviceId":1"#));
    assert!(j.contains(r#""destinationRegistrationId":77"#));
    assert!(j.contains(r#""content":"AQID""#));
    assert_eq!(parse_json::<IncomingMessageList>(j.as_bytes()).unwrap(), l);
    // urgent defaults to true when absent.
    let l2: IncomingMessageList = parse_json(br#"{"messages":[],"timestamp":1}"#).unwrap();
    assert!(l2.urgent);
}

#[test]
fn message_list_too_many_messages() {
    let m = r#"{"type":1,"destinationDeviceId":1,"destinationRegistrationId":1,"content":""}"#;
    let body = format!(
        r#"{{"messages":[{}],"timestamp":1}}"#,
        vec![m; MAX_MESSAGES_PER_LIST + 1].join(",")
    );
    assert!(matches!(
        parse_json::<IncomingMessageList>(body.as_bytes()),
        Err(ApiError::TooMany {
            what: "messages",
            ..
        })
    ));
}

#[test]
fn json_oversize_and_garbage_errors() {
    let big = vec![b' '; MAX_JSON_BODY_LEN + 1];
    assert!(matches!(
        parse_json::<SetKeysRequest>(&big),
        Err(ApiError::TooLong { .. })
    ));
    let e = parse_json::<SetKeysRequest>(br#"{"preKeys":"+15551234567"}"#).unwrap_err();
    assert!(matches!(
        e,
        ApiError::Json {
            category: "data",
            ..
        }
    ));
    // Errors never quote input.
    assert!(!e.to_string().contains("5551234567"));
}

#[test]
fn set_keys_too_many_prekeys() {
    let r = SetKeysRequest {
        pre_keys: Some(
            (0..=MAX_PREKEYS_PER_UPLOAD as u32)
                .map(|i| EcPreKey {
                    key_id: i,
                    public_key: vec![5; 33],
                })
                .collect(),
        ),
        ..Default::default()
    };
    assert!(matches!(
        parse_json::<SetKeysRequest>(&to_json(&r)),
        Err(ApiError::TooMany {
            what: "preKeys",
            ..
        })
    ));
}

#[test]
fn other_bodies_field_names() {
    let j = |v: &dyn erased::Ser| v.json();
    assert_eq!(
        j(&PreKeyCount {
            count: 3,
            pq_count: 4
        }),
        r#"{"count":3,"pqCount":4}"#
    );
    assert_eq!(
        j(&MismatchedDevices {
            missing_devices: vec![2],
            extra_devices: vec![3]
        }),
        r#"{"missingDevices":[2],"extraDevices":[3]}"#
    );
    assert_eq!(
        j(&StaleDevices {
            stale_devices: vec![1]
        }),
        r#"{"staleDevices":[1]}"#
    );
    assert_eq!(
        j(&SendMessageResponse { needs_sync: false }),
        r#"{"needsSync":false}"#
    );
    let form = AttachmentUploadForm {
        cdn: 3,
        key: "k".into(),
        headers: Default::default(),
        signed_upload_location: "https://x/y".into(),
    };
    assert_eq!(
        j(&form),
        r#"{"cdn":3,"key":"k","headers":{},"signedUploadLocation":"https://x/y"}"#
    );
}

mod erased {
    pub trait Ser {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> String {
            String::from_utf8(signal_api::to_json(self)).unwrap()
        }
    }
}

proptest! {
    #[test]
    fn prekey_response_round_trip(ids in proptest::collection::vec(any::<u32>(), 0..8),
                                  key in proptest::collection::vec(any::<u8>(), 0..100)) {
        let r = PreKeyResponse {
            identity_key: key.clone(),
            devices: ids.iter().map(|&i| PreKeyResponseItem {
                device_id: i, registration_id: i,
                signed_pre_key: Some(spk(i)),
                pre_key: Some(EcPreKey { key_id: i, public_key: key.clone() }),
                pq_pre_key: None,
            }).collect(),
        };
        prop_assert_eq!(parse_json::<PreKeyResponse>(&to_json(&r)).unwrap(), r);
    }
}
