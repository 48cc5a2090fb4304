#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! Linked devices (SPEC §7.12) and what they change for sends (§7.4 steps 7–8), keys (§7.3)
//! and the WebSocket (§7.6).

mod common;

use common::*;
use hyper::{Method, StatusCode};
use signal_api::envelope::Type;
use signal_api::*;

fn device_auth(acct: &Account, device_id: u32, password: &str) -> String {
    BasicAuth::device(acct.aci, device_id, Password::new(password.into())).header_value()
}

fn number_auth(number: &str, password: &str) -> String {
    BasicAuth {
        username: Username::Number(number.into()),
        password: Password::new(password.into()),
    }
    .header_value()
}

fn link_request(code: &str, registration_id: u32) -> LinkDeviceRequest {
    LinkDeviceRequest {
        verification_code: code.into(),
        account_attributes: AccountAttributes {
            fetches_messages: true,
            registration_id,
            pni_registration_id: registration_id + 1,
            name: None,
            registration_lock: None,
            unidentified_access_key: None,
            unrestricted_unidentified_access: false,
            capabilities: Default::default(),
            discoverable_by_phone_number: true,
        },
        aci_signed_pre_key: spk(11),
        pni_signed_pre_key: spk(12),
        aci_pq_last_resort_pre_key: spk(1011),
        pni_pq_last_resort_pre_key: spk(2011),
    }
}

async fn link_code(sim: &TestSim, auth: &str) -> Resp {
    sim.request(
        Method::GET,
        "/v1/devices/provisioning/code",
        &[("authorization", auth)],
        vec![],
    )
    .await
}

/// Links a device to `acct` with `password` and `registration_id`; returns its id.
async fn link(sim: &TestSim, acct: &Account, password: &str, registration_id: u32) -> u32 {
    let r = link_code(sim, &acct.auth()).await;
    assert_eq!(r.status, StatusCode::OK);
    let code: LinkDeviceVerificationCode = r.json();
    let r = sim
        .json(
            Method::PUT,
            "/v1/devices/link",
            Some(&number_auth(&acct.number, password)),
            &link_request(&code.verification_code, registration_id),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let resp: LinkDeviceResponse = r.json();
    assert_eq!((resp.uuid, resp.pni), (acct.aci, acct.pni));
    resp.device_id
}

async fn devices(sim: &TestSim, auth: &str) -> Vec<u32> {
    let r = sim
        .request(
            Method::GET,
            "/v1/devices",
            &[("authorization", auth)],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    r.json::<DeviceInfoList>()
        .devices
        .iter()
        .map(|d| d.id)
        .collect()
}

async fn remove(sim: &TestSim, auth: &str, device_id: u32) -> StatusCode {
    sim.request(
        Method::DELETE,
        &format!("/v1/devices/{device_id}"),
        &[("authorization", auth)],
        vec![],
    )
    .await
    .status
}

#[tokio::test]
async fn link_list_authenticate_and_remove() {
    let sim = start(|_| {}).await;
    let bob = sim.register("+15550002001").await;
    assert_eq!(devices(&sim, &bob.auth()).await, vec![1]);

    let d2 = link(&sim, &bob, "pw-two", 777).await;
    assert_eq!(d2, 2);
    let two = device_auth(&bob, 2, "pw-two");
    assert_eq!(devices(&sim, &two).await, vec![1, 2], "any device may list");
    // Each device has its own password.
    let r = sim
        .request(
            Method::GET,
            "/v1/devices",
            &[("authorization", &device_auth(&bob, 2, &bob.password))],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "primary's password");
    // The new device uploads its one-time keys as itself; they are its own.
    let r = sim
        .json(
            Method::PUT,
            "/v2/keys?identity=aci",
            Some(&two),
            &SetKeysRequest {
                pre_keys: Some(vec![EcPreKey {
                    key_id: 5,
                    public_key: vec![5; 33],
                }]),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = sim
        .request(
            Method::GET,
            "/v2/keys?identity=aci",
            &[("authorization", &bob.auth())],
            vec![],
        )
        .await;
    assert_eq!(r.json::<PreKeyCount>().count, 0, "primary's keys untouched");
    // Both devices' bundles, each with its own registration id.
    let r = sim
        .request(
            Method::GET,
            &format!("/v2/keys/{}/*", bob.aci),
            &[("authorization", &bob.auth())],
            vec![],
        )
        .await;
    let keys: PreKeyResponse = r.json();
    let got: Vec<(u32, u32, Option<u32>)> = keys
        .devices
        .iter()
        .map(|d| {
            (
                d.device_id,
                d.registration_id,
                d.pre_key.as_ref().map(|k| k.key_id),
            )
        })
        .collect();
    assert_eq!(got, vec![(1, bob.registration_id, None), (2, 777, Some(5))]);
    assert_eq!(keys.identity_key, bob.identity_key, "shared identity");

    // Only the primary removes, and never itself.
    assert_eq!(remove(&sim, &two, 2).await, StatusCode::UNAUTHORIZED);
    assert_eq!(remove(&sim, &bob.auth(), 1).await, StatusCode::FORBIDDEN);
    let mut ws2 = sim.ws_with(&[("authorization", &two)], "").await.unwrap();
    ws2.expect_queue_empty().await;
    assert_eq!(remove(&sim, &bob.auth(), 2).await, StatusCode::NO_CONTENT);
    match ws2.next().await {
        Frame::Closed(code) => assert_eq!(code, Some(consts::CLOSE_DEVICE_REMOVED)),
        _ => panic!("the removed device's socket must close"),
    }
    assert_eq!(devices(&sim, &bob.auth()).await, vec![1]);
    let r = sim
        .request(
            Method::GET,
            "/v1/devices",
            &[("authorization", &two)],
            vec![],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "removed device's password"
    );
    assert_eq!(
        remove(&sim, &bob.auth(), 2).await,
        StatusCode::NO_CONTENT,
        "removing an absent device is a no-op"
    );
}

#[tokio::test]
async fn link_codes_are_single_use_primary_only_and_for_their_account() {
    let sim = start(|_| {}).await;
    let bob = sim.register("+15550002002").await;
    let carol = sim.register("+15550002003").await;

    let code: LinkDeviceVerificationCode = link_code(&sim, &bob.auth()).await.json();
    // A code of Bob's does not link a device to Carol's number.
    let r = sim
        .json(
            Method::PUT,
            "/v1/devices/link",
            Some(&number_auth(&carol.number, "x")),
            &link_request(&code.verification_code, 5),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // ... and that attempt used it up.
    let r = sim
        .json(
            Method::PUT,
            "/v1/devices/link",
            Some(&number_auth(&bob.number, "x")),
            &link_request(&code.verification_code, 5),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "single use");
    let r = sim
        .json(
            Method::PUT,
            "/v1/devices/link",
            Some(&number_auth(&bob.number, "x")),
            &link_request("made-up", 5),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "unknown code");
    let code: LinkDeviceVerificationCode = link_code(&sim, &bob.auth()).await.json();
    let r = sim
        .json(
            Method::PUT,
            "/v1/devices/link",
            Some(&bob.auth()),
            &link_request(&code.verification_code, 5),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "device auth is not e164 auth"
    );
    let r = sim
        .request(
            Method::PUT,
            "/v1/devices/link",
            &[("authorization", &number_auth(&bob.number, "x"))],
            b"{\"verificationCode\":1}".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Up to six devices; a linked device cannot issue codes.
    for want in 2..=6 {
        assert_eq!(
            link(&sim, &bob, &format!("pw{want}"), 100 + want).await,
            want
        );
    }
    let r = link_code(&sim, &device_auth(&bob, 3, "pw3")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "linked device");
    let r = link_code(&sim, &bob.auth()).await;
    assert_eq!(r.status, StatusCode::LENGTH_REQUIRED, "six devices");
    // Removing one frees the lowest id again.
    assert_eq!(remove(&sim, &bob.auth(), 4).await, StatusCode::NO_CONTENT);
    assert_eq!(link(&sim, &bob, "again", 444).await, 4);
}

#[tokio::test]
async fn sends_see_linked_and_removed_devices() {
    let sim = start(|_| {}).await;
    let alice = sim.register("+15550002004").await;
    let bob = sim.register("+15550002005").await;
    let bob_id = bob.aci.to_string();
    let to_bob = |msgs| sim.send(Some(&alice), &bob_id, msgs, &[]);
    let one = msg(1, bob.registration_id, Type::Ciphertext, b"for one");
    assert_eq!(to_bob(vec![one.clone()]).await.status, StatusCode::OK);

    let d2 = link(&sim, &bob, "pw-two", 900).await;
    // A device linked since: missing.
    let r = to_bob(vec![one.clone()]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let m: MismatchedDevices = r.json();
    assert_eq!((m.missing_devices, m.extra_devices), (vec![d2], vec![]));
    let two = msg(d2, 900, Type::Ciphertext, b"for two");
    assert_eq!(
        to_bob(vec![one.clone(), two.clone()]).await.status,
        StatusCode::OK
    );
    // Each device gets its own envelope.
    let mut ws2 = sim
        .ws_with(&[("authorization", &device_auth(&bob, d2, "pw-two"))], "")
        .await
        .unwrap();
    let (_, env) = ws2.envelope().await;
    assert_eq!(env.content.as_deref(), Some(&b"for two"[..]));
    assert_eq!(env.source_device, Some(1));
    ws2.expect_queue_empty().await;
    assert_eq!(sim.handle.queued(bob.aci, 1), 2, "device 1: both sends");
    assert_eq!(sim.handle.queued(bob.aci, d2), 1, "until acked");

    // Bob's device 2 sends to Bob's device 1 (itself excluded) and to Alice.
    let two_acct = Account {
        password: "pw-two".into(),
        ..bob.clone()
    };
    let two_auth = device_auth(&bob, d2, "pw-two");
    let note = msg(1, bob.registration_id, Type::Ciphertext, b"note to self");
    let list = |m: Vec<IncomingMessage>| IncomingMessageList {
        messages: m,
        online: false,
        urgent: true,
        timestamp: 1,
    };
    let r = sim
        .json(
            Method::PUT,
            &format!("/v1/messages/{}", bob.aci),
            Some(&two_auth),
            &list(vec![note]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "to own other devices");
    let r = sim
        .json(
            Method::PUT,
            &format!("/v1/messages/{}", alice.aci),
            Some(&two_auth),
            &list(vec![msg(1, alice.registration_id, Type::Ciphertext, b"hi")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let mut wsa = sim.ws(&alice).await;
    let (_, env) = wsa.envelope().await;
    assert_eq!(
        (env.source_service_id, env.source_device),
        (Some(two_acct.aci.to_string()), Some(d2))
    );

    // Removed: its queue goes with it, and it is extra.
    ws2.ws.close(None).await.unwrap();
    assert_eq!(remove(&sim, &bob.auth(), d2).await, StatusCode::NO_CONTENT);
    assert_eq!(sim.handle.queued(bob.aci, d2), 0);
    let r = to_bob(vec![one.clone(), two.clone()]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let m: MismatchedDevices = r.json();
    assert_eq!((m.missing_devices, m.extra_devices), (vec![], vec![d2]));

    // A new device on the same id with another registration id: stale.
    assert_eq!(link(&sim, &bob, "pw-new", 901).await, d2);
    let r = to_bob(vec![one.clone(), two]).await;
    assert_eq!(r.status, StatusCode::GONE);
    let s: StaleDevices = r.json();
    assert_eq!(s.stale_devices, vec![d2]);
    let fresh = msg(d2, 901, Type::Ciphertext, b"new two");
    assert_eq!(to_bob(vec![one, fresh]).await.status, StatusCode::OK);
    // Counted for GET /v1/sim/stats (§7.11).
    let stats = sim.handle.stats();
    assert_eq!((stats.mismatched_devices, stats.stale_devices), (2, 1));
    let r = sim.request(Method::GET, "/v1/sim/stats", &[], vec![]).await;
    assert_eq!(
        serde_json::from_slice::<signal_sim::SimStats>(&r.body).unwrap(),
        stats
    );
}
