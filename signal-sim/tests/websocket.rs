#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! The authenticated WebSocket (SPEC §7.6) over real TLS sockets.

mod common;

use common::*;
use hyper::StatusCode;
use signal_api::envelope::Type;
use signal_api::*;

#[tokio::test]
async fn delivery_ack_queue_empty_keepalive_and_redelivery() {
    let sim = start(|_| {}).await;
    let a = sim.register("+15550010001").await;
    let b = sim.register("+15550010002").await;
    let to_b = b.aci.to_string();
    for body in [&b"one"[..], b"two"] {
        let r = sim
            .send(
                Some(&a),
                &to_b,
                vec![msg(1, b.registration_id, Type::PrekeyBundle, body)],
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let mut ws = sim.ws(&b).await;
    let (id1, e1) = ws.envelope().await;
    let (_id2, e2) = ws.envelope().await;
    ws.expect_queue_empty().await;
    assert_eq!(e1.content.as_deref(), Some(&b"one"[..]));
    assert_eq!(e2.content.as_deref(), Some(&b"two"[..]));
    assert_eq!(e1.r#type(), Type::PrekeyBundle);
    assert_eq!(e1.source_service_id, Some(a.aci.to_string()));
    assert_eq!(e1.source_device, Some(1));
    assert_eq!(e1.destination_service_id, Some(to_b.clone()));
    assert_eq!(e1.timestamp, Some(1234));
    assert!(e1.server_timestamp.unwrap() > 0);
    assert!(e1.urgent());
    assert_ne!(e1.server_guid, e2.server_guid);
    // Ack only the first.
    ws.ack(id1).await;
    // Live delivery while connected.
    let r = sim
        .send(
            Some(&a),
            &to_b,
            vec![msg(1, b.registration_id, Type::Ciphertext, b"three")],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let (id3, e3) = ws.envelope().await;
    assert_eq!(e3.content.as_deref(), Some(&b"three"[..]));
    ws.ack(id3).await;
    // Keepalive.
    let r = ws
        .request(9, "GET", consts::WS_KEEPALIVE_PATH, vec![], None)
        .await;
    assert_eq!((r.id, r.status), (Some(9), Some(200)));
    // The acks have been processed by now (same connection, in order): one left.
    assert_eq!(sim.handle.queued(b.aci, 1), 1);
    // A non-200 response is not an ack. Reconnect: the first connection gets 4409, the new
    // one gets the unacked envelope again, then queue/empty.
    let mut ws2 = sim.ws(&b).await;
    match ws.next().await {
        Frame::Closed(code) => assert_eq!(code, Some(consts::CLOSE_CONNECTED_ELSEWHERE)),
        _ => panic!("first connection should be closed"),
    }
    let (id2b, e2b) = ws2.envelope().await;
    assert_eq!(e2b.content.as_deref(), Some(&b"two"[..]));
    ws2.expect_queue_empty().await;
    ws2.respond(id2b, 500).await;
    let r = ws2
        .request(10, "GET", consts::WS_KEEPALIVE_PATH, vec![], None)
        .await;
    assert_eq!(r.status, Some(200));
    assert_eq!(sim.handle.queued(b.aci, 1), 1);
    ws2.ack(id2b).await;
    let r = ws2
        .request(11, "GET", consts::WS_KEEPALIVE_PATH, vec![], None)
        .await;
    assert_eq!(r.status, Some(200));
    assert_eq!(sim.handle.queued(b.aci, 1), 0);
}

#[tokio::test]
async fn rest_requests_over_the_socket() {
    let sim = start(|_| {}).await;
    let a = sim.register("+15550010101").await;
    let b = sim.register("+15550010102").await;
    let mut wa = sim.ws(&a).await;
    wa.expect_queue_empty().await;
    let list = IncomingMessageList {
        messages: vec![msg(1, b.registration_id, Type::Ciphertext, b"via ws")],
        online: false,
        urgent: false,
        timestamp: 77,
    };
    let r = wa
        .request(
            1,
            "PUT",
            &format!("/v1/messages/{}", b.aci),
            vec!["Content-Type: application/json".into()],
            Some(to_json(&list)),
        )
        .await;
    assert_eq!(r.status, Some(200));
    let body: SendMessageResponse = parse_json(r.body.as_deref().unwrap()).unwrap();
    assert!(!body.needs_sync);
    // Errors come back as statuses with the same id.
    let r = wa
        .request(
            2,
            "PUT",
            "/v1/messages/not-a-service-id",
            vec![],
            Some(vec![]),
        )
        .await;
    assert_eq!((r.id, r.status), (Some(2), Some(400)));
    let r = wa
        .request(3, "GET", "/v2/keys?identity=aci", vec![], None)
        .await;
    let counts: PreKeyCount = parse_json(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        counts,
        PreKeyCount {
            count: 0,
            pq_count: 0
        }
    );
    let mut wb = sim.ws(&b).await;
    let (_, e) = wb.envelope().await;
    assert_eq!(e.content.as_deref(), Some(&b"via ws"[..]));
    assert!(!e.urgent());
    assert_eq!(e.timestamp, Some(77));
}

#[tokio::test]
async fn websocket_auth() {
    let sim = start(|_| {}).await;
    let a = sim.register("+15550010201").await;
    // Legacy query-parameter credentials.
    let q = format!(
        "?login={}&password={}",
        a.aci,
        a.password.replace('+', "%2B")
    );
    let mut ws = sim.ws_with(&[], &q).await.unwrap();
    ws.expect_queue_empty().await;
    // Wrong password, no credentials, and a number as username: 401 before the upgrade.
    let mut wrong = a.clone();
    wrong.password = "bad".into();
    for headers in [vec![("authorization", wrong.auth())], vec![]] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        match sim.ws_with(&h, "").await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED)
            }
            _ => panic!("expected 401"),
        }
    }
}

#[tokio::test]
async fn malformed_frames_close_the_socket() {
    use futures::SinkExt as _;
    let sim = start(|_| {}).await;
    let a = sim.register("+15550010301").await;
    let mut ws = sim.ws(&a).await;
    ws.expect_queue_empty().await;
    ws.ws
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![0xff, 0xff, 0x01].into(),
        ))
        .await
        .unwrap();
    match ws.next().await {
        Frame::Closed(code) => assert_eq!(code, Some(1002)),
        _ => panic!("expected close"),
    }
}

#[tokio::test]
async fn shutdown_closes_sockets() {
    let sim = start(|_| {}).await;
    let a = sim.register("+15550010401").await;
    let mut ws = sim.ws(&a).await;
    ws.expect_queue_empty().await;
    let TestSim { handle, .. } = sim;
    handle.shutdown().await;
    match ws.next().await {
        Frame::Closed(code) => assert_eq!(code, Some(1001)),
        _ => panic!("expected close"),
    }
}

#[tokio::test]
async fn reregistration_keeps_ids_and_closes_old_sockets() {
    let sim = start(|_| {}).await;
    let a = sim.register("+15550010501").await;
    let mut ws = sim.ws(&a).await;
    ws.expect_queue_empty().await;
    let again = sim.register("+15550010501").await;
    assert_eq!((again.aci, again.pni), (a.aci, a.pni));
    match ws.next().await {
        Frame::Closed(code) => assert_eq!(code, Some(consts::CLOSE_CONNECTED_ELSEWHERE)),
        _ => panic!("expected close"),
    }
}

#[tokio::test]
async fn online_messages_are_pushed_or_dropped_never_stored() {
    let sim = start(|_| {}).await;
    let a = sim.register("+15550010601").await;
    let b = sim.register("+15550010602").await;
    let list = |body: &[u8]| IncomingMessageList {
        messages: vec![msg(1, b.registration_id, Type::Ciphertext, body)],
        online: true,
        urgent: false,
        timestamp: 5,
    };
    let auth = a.auth();
    let put = |l: IncomingMessageList| {
        let sim = &sim;
        let auth = auth.clone();
        async move {
            sim.request(
                hyper::Method::PUT,
                &format!("/v1/messages/{}", b.aci),
                &[("authorization", &auth)],
                to_json(&l),
            )
            .await
            .status
        }
    };
    // Not connected: dropped.
    assert_eq!(put(list(b"typing")).await, StatusCode::OK);
    assert_eq!(sim.handle.queued(b.aci, 1), 0);
    // Connected: pushed, marked ephemeral, not stored.
    let mut ws = sim
        .ws_with(&[("authorization", &b.auth())], "")
        .await
        .unwrap();
    ws.expect_queue_empty().await;
    assert_eq!(put(list(b"typing2")).await, StatusCode::OK);
    let (_, e) = ws.envelope().await;
    assert_eq!(e.content.as_deref(), Some(&b"typing2"[..]));
    assert_eq!(e.ephemeral, Some(true));
    assert_eq!(sim.handle.queued(b.aci, 1), 0);
}
