#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! REST routes over real TLS sockets (SPEC §7.1–§7.5, §7.7–§7.9, §7.11, §8).

mod common;

use common::*;
use hyper::{Method, StatusCode};
use signal_api::envelope::Type;
use signal_api::*;
use signal_sim::{RateLimitStatus, SimStats};

#[tokio::test]
async fn registration_flow() {
    let sim = start(|_| {}).await;
    let s: VerificationSessionResponse = sim
        .json(
            Method::POST,
            "/v1/verification/session",
            None,
            &CreateVerificationSessionRequest {
                number: "+15550001111".into(),
                push_token: None,
                push_token_type: None,
                mcc: None,
                mnc: None,
            },
        )
        .await
        .json();
    assert!(!s.verified);
    assert!(s.allowed_to_request_code);
    // Registering before verification is refused.
    assert_eq!(
        sim.try_register("+15550001111", &s.id).await.status,
        StatusCode::FORBIDDEN
    );
    let r = sim
        .json(
            Method::PATCH,
            &format!("/v1/verification/session/{}", s.id),
            None,
            &UpdateVerificationSessionRequest::default(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = sim
        .json(
            Method::POST,
            &format!("/v1/verification/session/{}/code", s.id),
            None,
            &VerificationCodeRequest {
                transport: "sms".into(),
                client: "x".into(),
            },
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let code = sim.handle.verification_code(&s.id).unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r: VerificationSessionResponse = sim
        .json(
            Method::PUT,
            &format!("/v1/verification/session/{}/code", s.id),
            None,
            &SubmitVerificationCodeRequest { code: wrong.into() },
        )
        .await
        .json();
    assert!(!r.verified);
    let r: VerificationSessionResponse = sim
        .json(
            Method::PUT,
            &format!("/v1/verification/session/{}/code", s.id),
            None,
            &SubmitVerificationCodeRequest { code },
        )
        .await
        .json();
    assert!(r.verified);
    // Registration needs the number as the Basic-auth username.
    let a = sim.register_with_session("+15550001111", &s.id).await;
    assert_ne!(a.aci, a.pni);
    for (id, want) in [
        (a.aci.to_string(), StatusCode::OK),
        (format!("PNI:{}", a.pni), StatusCode::OK),
        (
            "00000000-0000-4000-8000-000000000000".to_string(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = sim
            .request(
                Method::HEAD,
                &format!("/v1/accounts/account/{id}"),
                &[],
                vec![],
            )
            .await;
        assert_eq!(r.status, want);
    }
    // The sim-only directory.
    let auth = a.auth();
    let r = sim
        .request(
            Method::GET,
            "/v1/directory/%2B15550001111",
            &[("authorization", &auth)],
            vec![],
        )
        .await;
    assert_eq!(r.json::<DirectoryLookupResponse>().uuid, a.aci);
    let r = sim
        .request(
            Method::GET,
            "/v1/directory/+15550009999",
            &[("authorization", &auth)],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = sim
        .request(Method::GET, "/v1/directory/+15550001111", &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn accept_any_code_and_unknown_session() {
    let sim = start(|c| c.accept_any_code = true).await;
    let s: VerificationSessionResponse = sim
        .json(
            Method::POST,
            "/v1/verification/session",
            None,
            &CreateVerificationSessionRequest {
                number: "+15550002222".into(),
                push_token: None,
                push_token_type: None,
                mcc: None,
                mnc: None,
            },
        )
        .await
        .json();
    let path = format!("/v1/verification/session/{}/code", s.id);
    let req = VerificationCodeRequest {
        transport: "voice".into(),
        client: String::new(),
    };
    sim.json(Method::POST, &path, None, &req).await;
    let r: VerificationSessionResponse = sim
        .json(
            Method::PUT,
            &path,
            None,
            &SubmitVerificationCodeRequest {
                code: "anything".into(),
            },
        )
        .await
        .json();
    assert!(r.verified);
    let r = sim
        .json(
            Method::PUT,
            "/v1/verification/session/nope/code",
            None,
            &SubmitVerificationCodeRequest { code: "1".into() },
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn keys_one_time_consumed_then_last_resort() {
    let sim = start(|_| {}).await;
    let a = sim.register("+15550003333").await;
    let b = sim.register("+15550004444").await;
    let auth = a.auth();
    let upload = SetKeysRequest {
        pre_keys: Some(vec![
            EcPreKey {
                key_id: 11,
                public_key: vec![5; 33],
            },
            EcPreKey {
                key_id: 12,
                public_key: vec![5; 33],
            },
        ]),
        signed_pre_key: Some(spk(7)),
        pq_pre_keys: Some(vec![spk(21)]),
        pq_last_resort_pre_key: None,
    };
    let r = sim
        .json(Method::PUT, "/v2/keys?identity=aci", Some(&auth), &upload)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let counts: PreKeyCount = sim
        .request(
            Method::GET,
            "/v2/keys?identity=aci",
            &[("authorization", &auth)],
            vec![],
        )
        .await
        .json();
    assert_eq!(
        counts,
        PreKeyCount {
            count: 2,
            pq_count: 1
        }
    );
    let pni_counts: PreKeyCount = sim
        .request(
            Method::GET,
            "/v2/keys?identity=pni",
            &[("authorization", &auth)],
            vec![],
        )
        .await
        .json();
    assert_eq!(
        pni_counts,
        PreKeyCount {
            count: 0,
            pq_count: 0
        }
    );

    let b_auth = b.auth();
    let fetch = |path: String, h: Vec<(&'static str, String)>| {
        let sim = &sim;
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
            sim.request(Method::GET, &path, &h, vec![]).await
        }
    };
    let path = format!("/v2/keys/{}/1", a.aci);
    let r: PreKeyResponse = fetch(path.clone(), vec![("authorization", b_auth.clone())])
        .await
        .json();
    assert_eq!(r.identity_key, a.identity_key);
    let d = &r.devices[0];
    assert_eq!((d.device_id, d.registration_id), (1, a.registration_id));
    assert_eq!(d.signed_pre_key.as_ref().unwrap().key_id, 7);
    assert_eq!(d.pre_key.as_ref().unwrap().key_id, 11);
    assert_eq!(d.pq_pre_key.as_ref().unwrap().key_id, 21);
    // Second fetch, with the unidentified-access key instead of credentials.
    let uak = json::b64::encode(&a.uak);
    let r: PreKeyResponse = fetch(
        format!("/v2/keys/{}/*", a.aci),
        vec![("unidentified-access-key", uak.clone())],
    )
    .await
    .json();
    assert_eq!(r.devices[0].pre_key.as_ref().unwrap().key_id, 12);
    assert_eq!(r.devices[0].pq_pre_key.as_ref().unwrap().key_id, 1000);
    // Exhausted: no EC one-time key, Kyber falls back to the last-resort key again.
    let r: PreKeyResponse = fetch(path.clone(), vec![("authorization", b_auth.clone())])
        .await
        .json();
    assert!(r.devices[0].pre_key.is_none());
    assert_eq!(r.devices[0].pq_pre_key.as_ref().unwrap().key_id, 1000);
    let counts: PreKeyCount = sim
        .request(
            Method::GET,
            "/v2/keys?identity=aci",
            &[("authorization", &auth)],
            vec![],
        )
        .await
        .json();
    assert_eq!(
        counts,
        PreKeyCount {
            count: 0,
            pq_count: 0
        }
    );
    // PNI keys by PNI service id.
    let r: PreKeyResponse = fetch(
        format!("/v2/keys/PNI:{}/1", a.pni),
        vec![("authorization", b_auth.clone())],
    )
    .await
    .json();
    assert_eq!(r.devices[0].signed_pre_key.as_ref().unwrap().key_id, 2);
    assert_eq!(r.devices[0].registration_id, a.registration_id + 1);
    // Wrong or missing access.
    let bad = json::b64::encode(&[0u8; 16]);
    assert_eq!(
        fetch(path.clone(), vec![("unidentified-access-key", bad)])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fetch(path.clone(), vec![]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fetch(
            format!("/v2/keys/{}/2", a.aci),
            vec![("authorization", b_auth.clone())]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let r = sim
        .request(
            Method::PUT,
            "/v2/keys?identity=aci",
            &[("authorization", &b_auth)],
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn message_status_codes() {
    let sim = start(|c| {
        c.rate_burst = 4;
        c.rate_per_sec = 0.01;
        c.challenge_senders = vec!["+15550007777".into()];
    })
    .await;
    let a = sim.register("+15550005555").await;
    let b = sim.register("+15550006666").await;
    let c = sim.register("+15550007777").await;
    let to_b = b.aci.to_string();
    let ok = || vec![msg(1, b.registration_id, Type::Ciphertext, b"opaque")];

    // 200
    let r = sim.send(Some(&a), &to_b, ok(), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.json::<SendMessageResponse>().needs_sync);
    // 401: wrong password, and no credentials at all.
    let mut wrong = a.clone();
    wrong.password = "nope".into();
    assert_eq!(
        sim.send(Some(&wrong), &to_b, ok(), &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sim.send(None, &to_b, ok(), &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    // 404
    let r = sim
        .send(Some(&a), "00000000-0000-4000-8000-000000000000", ok(), &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // 409: an extra device, and a missing one.
    let r = sim
        .send(
            Some(&a),
            &to_b,
            vec![
                msg(1, b.registration_id, Type::Ciphertext, b"x"),
                msg(2, 1, Type::Ciphertext, b"x"),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.json::<MismatchedDevices>(),
        MismatchedDevices {
            missing_devices: vec![],
            extra_devices: vec![2]
        }
    );
    let r = sim.send(Some(&a), &to_b, vec![], &[]).await;
    assert_eq!(
        r.json::<MismatchedDevices>(),
        MismatchedDevices {
            missing_devices: vec![1],
            extra_devices: vec![]
        }
    );
    // 410: wrong registration id.
    let r = sim
        .send(
            Some(&a),
            &to_b,
            vec![msg(1, b.registration_id + 5, Type::Ciphertext, b"x")],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(
        r.json::<StaleDevices>(),
        StaleDevices {
            stale_devices: vec![1]
        }
    );
    // 413: one message's content over the per-message limit.
    let big = vec![0u8; limits::MAX_MESSAGE_CONTENT_LEN + 1];
    let r = sim
        .send(
            Some(&a),
            &to_b,
            vec![msg(1, b.registration_id, Type::Ciphertext, &big)],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        !r.headers.contains_key("retry-after"),
        "too large is not a rate limit (SPEC §8)"
    );
    // 413: the whole body over the JSON limit.
    let auth = a.auth();
    let r = sim
        .request(
            Method::PUT,
            &format!("/v1/messages/{to_b}"),
            &[("authorization", &auth)],
            vec![b' '; limits::MAX_JSON_BODY_LEN + 1],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!r.headers.contains_key("retry-after"));
    // 400: garbage.
    let r = sim
        .request(
            Method::PUT,
            &format!("/v1/messages/{to_b}"),
            &[("authorization", &auth)],
            b"\xff\x00garbage".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<ErrorResponse>().code,
        400,
        "errors carry the generic body"
    );
    // 428: the configured challenge trigger.
    let r = sim.send(Some(&c), &to_b, ok(), &[]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED);
    assert!(!r.json::<ChallengeRequired>().token.is_empty());
    // 429: burst 4 per (sender, recipient), spent by the 200, the two 409s and the 410 above
    // (the limiter runs before the device checks; 401/404/400/413 fail earlier and are free).
    let last = sim.send(Some(&a), &to_b, ok(), &[]).await;
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = last.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&retry), "{retry}");
    assert_eq!(sim.handle.stats().rate_limited, 1, "one refusal counted");
    // Another sender to the same recipient has its own bucket.
    let to_a = a.aci.to_string();
    assert_eq!(
        sim.send(
            Some(&b),
            &to_a,
            vec![msg(1, a.registration_id, Type::Ciphertext, b"x")],
            &[]
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn rate_limit_refills() {
    let sim = start(|c| {
        c.rate_burst = 2;
        c.rate_per_sec = 20.0;
    })
    .await;
    let a = sim.register("+15550008881").await;
    let b = sim.register("+15550008882").await;
    let to_b = b.aci.to_string();
    let ok = || vec![msg(1, b.registration_id, Type::Ciphertext, b"x")];
    assert_eq!(
        sim.send(Some(&a), &to_b, ok(), &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        sim.send(Some(&a), &to_b, ok(), &[]).await.status,
        StatusCode::OK
    );
    let r = sim.send(Some(&a), &to_b, ok(), &[]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "1");
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert_eq!(
        sim.send(Some(&a), &to_b, ok(), &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn rate_limits_answered_413_with_retry_after_when_configured() {
    let sim = start(|c| {
        c.rate_burst = 1;
        c.rate_per_sec = 0.5;
        c.rate_limit_status = "413".parse().unwrap();
    })
    .await;
    assert_eq!(
        sim.handle.stats(),
        SimStats {
            rate_limited: 0,
            ..SimStats::default()
        },
        "nothing refused yet"
    );
    let a = sim.register("+15550008891").await;
    let b = sim.register("+15550008892").await;
    let to_b = b.aci.to_string();
    let ok = || vec![msg(1, b.registration_id, Type::Ciphertext, b"x")];
    assert_eq!(
        sim.send(Some(&a), &to_b, ok(), &[]).await.status,
        StatusCode::OK
    );
    let r = sim.send(Some(&a), &to_b, ok(), &[]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers["retry-after"], "2");
    // An oversized body is still 413, but without Retry-After, and is not counted.
    let big = vec![0u8; limits::MAX_MESSAGE_CONTENT_LEN + 1];
    let r = sim
        .send(
            Some(&a),
            &to_b,
            vec![msg(1, b.registration_id, Type::Ciphertext, &big)],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!r.headers.contains_key("retry-after"));
    // The counters route (SPEC §7.11) needs no credentials.
    let r = sim.request(Method::GET, "/v1/sim/stats", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    let stats: SimStats = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        stats,
        SimStats {
            rate_limited: 1,
            ..SimStats::default()
        }
    );
    assert_eq!(
        std::str::from_utf8(&r.body).unwrap(),
        r#"{"rateLimited":1,"mismatchedDevices":0,"staleDevices":0}"#
    );
}

#[test]
fn rate_limit_status_parses_only_429_and_413() {
    assert_eq!(
        "429".parse::<RateLimitStatus>().unwrap(),
        RateLimitStatus::TooManyRequests
    );
    assert_eq!("413".parse::<RateLimitStatus>().unwrap().code(), 413);
    assert!(matches!(
        "503".parse::<RateLimitStatus>(),
        Err(signal_sim::SimError::Config { .. })
    ));
}

#[tokio::test]
async fn sealed_sender_delivery_and_uak() {
    let sim = start(|_| {}).await;
    let a = sim.register("+15550009001").await;
    // Numbers ending in 9 register with unrestricted unidentified access (test helper).
    let open = sim.register("+15550009009").await;
    let to_a = a.aci.to_string();
    let sealed = || {
        vec![msg(
            1,
            a.registration_id,
            Type::UnidentifiedSender,
            b"sealed",
        )]
    };
    let right = json::b64::encode(&a.uak);
    let wrong = json::b64::encode(&[1u8; 16]);
    let r = sim
        .send(
            None,
            &to_a,
            sealed(),
            &[("unidentified-access-key", &right)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = sim
        .send(
            None,
            &to_a,
            sealed(),
            &[("unidentified-access-key", &wrong)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = sim
        .send(
            None,
            &to_a,
            sealed(),
            &[("unidentified-access-key", "not base64!")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Sealed sends must be UNIDENTIFIED_SENDER envelopes.
    let r = sim
        .send(
            None,
            &to_a,
            vec![msg(1, a.registration_id, Type::Ciphertext, b"x")],
            &[("unidentified-access-key", &right)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Unrestricted recipients accept any key.
    let r = sim
        .send(
            None,
            &open.aci.to_string(),
            vec![msg(1, open.registration_id, Type::UnidentifiedSender, b"x")],
            &[("unidentified-access-key", &wrong)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // The stored envelope has no source.
    let mut ws = sim.ws(&a).await;
    let (_, env) = ws.envelope().await;
    assert_eq!(env.r#type(), Type::UnidentifiedSender);
    assert_eq!(env.source_service_id, None);
    assert_eq!(env.source_device, None);
    assert_eq!(env.content.as_deref(), Some(&b"sealed"[..]));
    assert_eq!(env.destination_service_id, Some(to_a));
    ws.expect_queue_empty().await;
}

#[tokio::test]
async fn sender_certificate_validates_under_the_sim_root() {
    let sim = start(|_| {}).await;
    let a = sim.register("+15550009101").await;
    let auth = a.auth();
    let r: SenderCertificateResponse = sim
        .request(
            Method::GET,
            "/v1/certificate/delivery",
            &[("authorization", &auth)],
            vec![],
        )
        .await
        .json();
    let cert = libsignal_protocol::SenderCertificate::deserialize(&r.certificate).unwrap();
    let root = libsignal_protocol::PublicKey::deserialize(sim.handle.sealed_sender_root()).unwrap();
    let now = libsignal_protocol::Timestamp::from_epoch_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    );
    assert!(cert.validate(&root, now).unwrap());
    assert_eq!(cert.sender_uuid().unwrap(), a.aci.to_string());
    assert_eq!(cert.sender_e164().unwrap(), Some("+15550009101"));
    assert_eq!(u32::from(cert.sender_device_id().unwrap()), 1);
    assert_eq!(cert.key().unwrap().serialize().to_vec(), a.identity_key);
    // A different root does not validate it.
    let other = libsignal_protocol::KeyPair::generate(&mut rand09::rng());
    assert!(!cert.validate(&other.public_key, now).unwrap());
    // includeE164=false leaves the number out.
    let r: SenderCertificateResponse = sim
        .request(
            Method::GET,
            "/v1/certificate/delivery?includeE164=false",
            &[("authorization", &auth)],
            vec![],
        )
        .await
        .json();
    let cert = libsignal_protocol::SenderCertificate::deserialize(&r.certificate).unwrap();
    assert_eq!(cert.sender_e164().unwrap(), None);
    let r = sim
        .request(Method::GET, "/v1/certificate/delivery", &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn attachment_upload_and_download() {
    let sim = start(|_| {}).await;
    let a = sim.register("+15550009201").await;
    let auth = a.auth();
    let form: AttachmentUploadForm = sim
        .request(
            Method::GET,
            "/v4/attachments/form/upload",
            &[("authorization", &auth)],
            vec![],
        )
        .await
        .json();
    assert_eq!(form.cdn, signal_sim::ATTACHMENT_CDN);
    let prefix = format!("https://localhost:{}", sim.handle.addr().port());
    let location = form.signed_upload_location.strip_prefix(&prefix).unwrap();
    let (path, _) = location.split_once('?').unwrap();
    assert_eq!(path, format!("/attachments/{}", form.key));
    // Wrong token.
    let r = sim
        .request(
            Method::PUT,
            &format!("{path}?token=nope"),
            &[],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let blob: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let r = sim.request(Method::PUT, location, &[], blob.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    // Uploading twice is refused; download returns the bytes, unauthenticated (a CDN).
    let r = sim.request(Method::PUT, location, &[], b"y".to_vec()).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = sim.request(Method::GET, path, &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_ref(), blob.as_slice());
    let r = sim
        .request(Method::GET, "/attachments/unknown", &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Oversize upload.
    let form: AttachmentUploadForm = sim
        .request(
            Method::GET,
            "/v4/attachments/form/upload",
            &[("authorization", &auth)],
            vec![],
        )
        .await
        .json();
    let location = form.signed_upload_location.strip_prefix(&prefix).unwrap();
    let r = sim
        .request(
            Method::PUT,
            location,
            &[],
            vec![0u8; limits::MAX_ATTACHMENT_LEN + 1],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // The form needs credentials.
    let r = sim
        .request(Method::GET, "/v4/attachments/form/upload", &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_routes_and_bad_ids() {
    let sim = start(|_| {}).await;
    let r = sim.request(Method::GET, "/v1/nothing", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = sim
        .request(Method::HEAD, "/v1/accounts/account/not-a-uuid", &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = sim
        .request(
            Method::POST,
            "/v1/verification/session",
            &[],
            br#"{"number":"12345"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
