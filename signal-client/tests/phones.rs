#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! Phone <-> phone over real sockets against signal-sim (in-process), with real libsignal.

use std::sync::Arc;
use std::time::Duration;

use libsignal_protocol::{DeviceId, ProtocolAddress, PublicKey};
use signal_client::phone::Phone;
use signal_client::transport::{TcpConnector, TlsTrust};
use signal_client::ws::Event;
use signal_client::{keys, Error, ServiceConfig};
use signal_sim::{Config, Server};

mod common;
use common::{phone, sim, text_content};

const WAIT: Duration = Duration::from_secs(10);

async fn expect_text(p: &mut Phone, text: &str) -> signal_client::phone::Received {
    let got = p
        .receive_until(|r| r.body.as_deref() == Some(text), WAIT)
        .await
        .unwrap();
    got.into_iter()
        .find(|r| r.body.as_deref() == Some(text))
        .unwrap_or_else(|| panic!("did not receive {text:?}"))
}

#[tokio::test(flavor = "current_thread")]
async fn two_phones_exchange_messages_both_ways_then_sealed() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000001").await;
    let mut b = phone(&cfg, "+15550000002").await;

    let r = a.send_text("+15550000002", "hello b").await.unwrap();
    assert_eq!(r.devices, 1);
    assert!(!r.sealed, "a does not know b's profile key yet");
    let m = expect_text(&mut b, "hello b").await;
    assert_eq!(m.from_aci, a.aci());
    assert!(!m.sealed_sender);

    // b learned a's profile key from the message, so its reply is sealed sender, and a
    // learns b's number from the sender certificate.
    let r = b.send_text("+15550000001", "hi a").await.unwrap();
    assert!(r.sealed);
    let m = expect_text(&mut a, "hi a").await;
    assert!(m.sealed_sender);
    assert_eq!(m.from_aci, b.aci());
    assert_eq!(m.from_e164.as_deref(), Some("+15550000002"));

    // Ciphertext (no prekey) from now on, both ways.
    a.send_text("+15550000002", "again").await.unwrap();
    expect_text(&mut b, "again").await;
}

#[tokio::test(flavor = "current_thread")]
async fn state_file_round_trip_keeps_the_session() {
    let (_h, cfg) = sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.phone");
    let mut a = Phone::register(&cfg, "+15550000011", "1", Some(&path))
        .await
        .unwrap();
    let mut b = phone(&cfg, "+15550000012").await;
    a.send_text("+15550000012", "one").await.unwrap();
    expect_text(&mut b, "one").await;
    drop(a);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut a = Phone::load(&cfg, &path).unwrap();
    a.send_text("+15550000012", "two").await.unwrap();
    expect_text(&mut b, "two").await;
    b.send_text("+15550000011", "back").await.unwrap();
    expect_text(&mut a, "back").await;
}

#[tokio::test(flavor = "current_thread")]
async fn rate_limited_sends_retry_after_and_succeed() {
    let (_h, cfg) = sim(|c| {
        c.rate_burst = 2;
        c.rate_per_sec = 2.0;
    })
    .await;
    let mut a = phone(&cfg, "+15550000021").await;
    let mut b = phone(&cfg, "+15550000022").await;
    // Only identified sends here, so every retry is a 429's.
    a.client.try_unrestricted = false;
    let mut retried = false;
    for i in 0..4 {
        let r = a.send_text("+15550000022", &format!("m{i}")).await.unwrap();
        retried |= r.attempts > 1;
    }
    assert!(retried, "the third send must have met a 429");
    expect_text(&mut b, "m3").await;
}

#[tokio::test(flavor = "current_thread")]
async fn extra_device_409_and_stale_410_recover() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000031").await;
    let mut b = phone(&cfg, "+15550000032").await;
    // Only identified sends here, so attempts count only the 409/410 rounds.
    a.client.try_unrestricted = false;
    a.send_text("+15550000032", "first").await.unwrap();
    expect_text(&mut b, "first").await;

    // 409: a believes b has a device 2 (b has only device 1).
    let b_name = b.aci().service_id_string();
    let dev2 = DeviceId::try_from(2u8).unwrap();
    let fake = keys::local_bundle(&b.client.account.store, dev2, None).unwrap();
    signal_client::cipher::process_bundle(
        &mut a.client.account.store,
        &ProtocolAddress::new(b_name.clone(), dev2),
        &fake,
        std::time::SystemTime::now(),
        &mut rand::rng(),
    )
    .await
    .unwrap();
    let r = a.send_text("+15550000032", "after 409").await.unwrap();
    assert_eq!(r.attempts, 2);
    assert_eq!(r.devices, 1);
    assert_eq!(a.client.account.store.session_devices(&b_name).len(), 1);
    expect_text(&mut b, "after 409").await;

    // 410: b reinstalls (same number and ACI, new registration id and identity key).
    drop(b);
    let mut b2 = phone(&cfg, "+15550000032").await;
    assert_eq!(b2.aci().service_id_string(), b_name);
    let r = a.send_text("+15550000032", "after 410").await.unwrap();
    assert_eq!(r.attempts, 2);
    assert!(r.identity_changed, "the new identity key must be reported");
    expect_text(&mut b2, "after 410").await;
}

#[tokio::test(flavor = "current_thread")]
async fn unregistered_recipient_is_named() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000041").await;
    let r = a.send_text("+15550000049", "anyone?").await;
    assert!(matches!(r, Err(Error::Unregistered)));
}

#[tokio::test(flavor = "current_thread")]
async fn unacked_envelope_is_redelivered_after_reconnect() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000051").await;
    let mut b = phone(&cfg, "+15550000052").await;
    a.send_text("+15550000052", "keep me").await.unwrap();

    // Take the envelope without acking it, then drop the connection.
    let first = loop {
        match b.receiver().next().await.unwrap() {
            Event::Envelope { envelope, .. } => break envelope,
            Event::QueueEmpty => {}
        }
    };
    b.receiver().disconnect().await;
    let again = loop {
        match b.receiver().next().await.unwrap() {
            Event::Envelope { id, envelope } => {
                b.receiver().ack(id).await.unwrap();
                break envelope;
            }
            Event::QueueEmpty => {}
        }
    };
    assert_eq!(first, again);
    assert_eq!(b.receiver().connections, 2);
    let inc = b.client.decrypt(&again).await.unwrap();
    assert_eq!(
        inc.content.data_message.unwrap().body.as_deref(),
        Some("keep me")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn attachment_round_trip_and_timer() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000061").await;
    let mut b = phone(&cfg, "+15550000062").await;
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    a.send_attachment(
        "+15550000062",
        Some("a file"),
        &data,
        "application/octet-stream",
        Some("f.bin"),
    )
    .await
    .unwrap();
    let m = expect_text(&mut b, "a file").await;
    assert_eq!(m.attachments.len(), 1);
    let got = b.download(&m.attachments[0]).await.unwrap();
    assert_eq!(&got[..], &data[..]);

    a.set_timer("+15550000062", 604_800).await.unwrap();
    let got = b.receive_until(|r| r.is_timer_update, WAIT).await.unwrap();
    assert_eq!(got.last().unwrap().expire_timer, Some(604_800));
    a.send_text("+15550000062", "timed").await.unwrap();
    assert_eq!(
        expect_text(&mut b, "timed").await.expire_timer,
        Some(604_800)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn send_many_fans_out_in_parallel() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut chan = phone(&cfg, "+15550000070").await;
    let mut subs = Vec::new();
    for i in 1..=5 {
        subs.push(phone(&cfg, &format!("+1555000007{i}")).await);
    }
    let mut acis = Vec::new();
    for s in &subs {
        acis.push(chan.client.lookup(s.e164()).await.unwrap().unwrap());
    }
    let content = text_content("broadcast");
    // First round needs bundles, second goes out in parallel over established sessions.
    for _ in 0..2 {
        let res = chan.client.send_many(&acis, &content, 1).await;
        assert_eq!(res.len(), 5);
        assert!(res.iter().all(|(_, r)| r.is_ok()));
    }
    for s in &mut subs {
        let mut n = 0;
        let got = s
            .receive_until(
                |r| {
                    n += usize::from(r.body.as_deref() == Some("broadcast"));
                    n == 2
                },
                WAIT,
            )
            .await
            .unwrap();
        assert_eq!(
            got.iter()
                .filter(|r| r.body.as_deref() == Some("broadcast"))
                .count(),
            2
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn rejected_access_key_falls_back_to_identified_sending() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000081").await;
    let mut b = phone(&cfg, "+15550000082").await;
    a.client.try_unrestricted = false;
    let b_aci = a.client.lookup(b.e164()).await.unwrap().unwrap();
    // A wrong unidentified-access key for b: the service answers 401 to the sealed send.
    a.client.account.store.set_uak(&b_aci, [7; 16]);
    let r = a.send_text("+15550000082", "via fallback").await.unwrap();
    assert!(!r.sealed);
    assert!(r.attempts >= 2);
    assert_eq!(a.client.account.store.recipient(&b_aci).unwrap().uak, None);
    let m = expect_text(&mut b, "via fallback").await;
    assert!(!m.sealed_sender);
}

#[tokio::test(flavor = "current_thread")]
async fn refill_tops_up_one_time_keys_below_threshold() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000091").await;
    // A phone keeps 10 of each; below a threshold of 20 both kinds are refilled.
    assert_eq!(
        a.client.refill_prekeys(20).await.unwrap(),
        (
            signal_client::service::PREKEY_BATCH,
            signal_client::service::PREKEY_BATCH
        )
    );
    assert_eq!(a.client.refill_prekeys(20).await.unwrap(), (0, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_envelopes_are_named_errors() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000101").await;
    assert!(matches!(
        a.client.decrypt(&[0xff, 0xff, 0xff]).await,
        Err(Error::BadEnvelope {
            reason: "undecodable envelope"
        })
    ));
    // A well-formed CIPHERTEXT envelope whose content is garbage.
    let env = prost::Message::encode_to_vec(&signal_api::Envelope {
        r#type: Some(1),
        source_service_id: Some(a.aci().service_id_string()),
        source_device: Some(1),
        content: Some(vec![0x33; 80]),
        ..Default::default()
    });
    assert!(matches!(
        a.client.decrypt(&env).await,
        Err(Error::Protocol { .. })
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn registration_with_the_code_the_service_issued() {
    // The sim checks codes here: only the one it issued for the session verifies.
    let mut c = Config::new("127.0.0.1:0".parse().unwrap());
    c.accept_any_code = false;
    let h = Server::start(c).await.unwrap();
    let cfg = ServiceConfig {
        connector: Arc::new(TcpConnector::new(h.addr().to_string())),
        tls: TlsTrust::pinned(h.ca_der(), "localhost").unwrap(),
        trust_root: PublicKey::deserialize(h.sealed_sender_root()).unwrap(),
        max_connections: 2,
    };
    let wrong =
        signal_client::SignalClient::register(&cfg, "+15550000111", "000000", false, 1).await;
    assert!(matches!(
        wrong,
        Err(Error::Status {
            operation: "verification not accepted",
            ..
        })
    ));
    let ok = signal_client::SignalClient::register_with(
        &cfg,
        "+15550000111",
        &|session| h.verification_code(session),
        false,
        1,
    )
    .await
    .unwrap();
    assert_eq!(ok.account.credentials.e164, "+15550000111");
}

#[tokio::test(flavor = "current_thread")]
async fn tls_with_another_root_is_refused() {
    let (_h, cfg) = sim(|_| {}).await;
    let (other, _) = sim(|_| {}).await;
    let cfg = ServiceConfig {
        tls: TlsTrust::pinned(other.ca_pem().as_bytes(), "localhost").unwrap(),
        ..cfg
    };
    let r = Phone::register(&cfg, "+15550000121", "1", None).await;
    assert!(matches!(
        r,
        Err(Error::Io {
            operation: "tls handshake",
            ..
        })
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn phones_guess_sealed_sender_only_where_unrestricted() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000131").await;
    let mut b = phone(&cfg, "+15550000132").await;
    // A channel-like account that allows unrestricted unidentified access.
    let mut chan = signal_client::SignalClient::register(&cfg, "+15550000130", "1", true, 5)
        .await
        .unwrap();
    let r = a.send_text("+15550000130", "join").await.unwrap();
    assert!(r.sealed);
    assert_eq!(r.attempts, 1);
    let mut rx = signal_client::ws::Receiver::new(
        chan.http().clone(),
        chan.account.credentials.basic_auth(),
    );
    let env = loop {
        if let Event::Envelope { id, envelope } = rx.next().await.unwrap() {
            rx.ack(id).await.unwrap();
            break envelope;
        }
    };
    let inc = chan.decrypt(&env).await.unwrap();
    assert!(inc.sealed_sender);
    // The number came only inside the sealed sender certificate.
    assert_eq!(inc.sender_e164.as_deref(), Some("+15550000131"));

    // b is restricted: the guess costs one 401 once, then is not repeated.
    let r = a.send_text("+15550000132", "one").await.unwrap();
    assert!(!r.sealed);
    assert_eq!(r.attempts, 2);
    let r = a.send_text("+15550000132", "two").await.unwrap();
    assert_eq!(r.attempts, 1);
    expect_text(&mut b, "two").await;
}

#[tokio::test(flavor = "current_thread")]
async fn signed_prekey_rotation_keeps_in_flight_messages_decryptable() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000141").await;
    let mut b = phone(&cfg, "+15550000142").await;
    // b's first message is built on a's current signed and last-resort keys.
    b.send_text("+15550000141", "before rotation")
        .await
        .unwrap();
    a.client.rotate_signed_prekeys().await.unwrap();
    expect_text(&mut a, "before rotation").await;
    // New senders get the new keys.
    let mut c = phone(&cfg, "+15550000143").await;
    c.send_text("+15550000141", "after rotation").await.unwrap();
    expect_text(&mut a, "after rotation").await;
    // Two more rotations: only the newest two of each kind remain.
    a.client.rotate_signed_prekeys().await.unwrap();
    a.client.rotate_signed_prekeys().await.unwrap();
    assert_eq!(a.client.account.store.signed_prekey_count(), 2);
    assert_eq!(a.client.account.store.last_resort_kyber_count(), 2);
    let mut d = phone(&cfg, "+15550000144").await;
    d.send_text("+15550000141", "after three").await.unwrap();
    expect_text(&mut a, "after three").await;
}

#[tokio::test(flavor = "current_thread")]
async fn multi_recipient_sealed_sender_broadcast() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut chan = signal_client::SignalClient::register(&cfg, "+15550000150", "1", true, 5)
        .await
        .unwrap();
    let mut subs = Vec::new();
    for i in 1..=3 {
        let mut p = phone(&cfg, &format!("+1555000015{i}")).await;
        p.send_text("+15550000150", "JOIN").await.unwrap();
        subs.push(p);
    }
    // The channel learns each subscriber's profile key (and so access key) from JOIN.
    let mut rx = signal_client::ws::Receiver::new(
        chan.http().clone(),
        chan.account.credentials.basic_auth(),
    );
    let mut acis = Vec::new();
    while acis.len() < 3 {
        if let Event::Envelope { id, envelope } = rx.next().await.unwrap() {
            acis.push(chan.decrypt(&envelope).await.unwrap().sender);
            rx.ack(id).await.unwrap();
        }
    }
    let dist = [0x42; 16];
    let r = chan
        .send_multi_recipient(dist, &acis, &text_content("broadcast 1"), 11)
        .await
        .unwrap();
    assert_eq!(r.sealed_v2, 3);
    assert_eq!(r.keys_distributed, 3);
    assert!(r.individually.is_empty());
    let r = chan
        .send_multi_recipient(dist, &acis, &text_content("broadcast 2"), 12)
        .await
        .unwrap();
    assert_eq!((r.sealed_v2, r.keys_distributed, r.attempts), (3, 0, 1));
    for s in &mut subs {
        let m = expect_text(s, "broadcast 1").await;
        assert!(m.sealed_sender);
        assert_eq!(m.from_e164.as_deref(), Some("+15550000150"));
        expect_text(s, "broadcast 2").await;
    }
    // The sender-key state survives the store encoding.
    let enc = chan.account.encode().unwrap();
    let back = signal_client::Account::decode(&enc).unwrap();
    assert!(back
        .store
        .has_sender_key(dist, &acis[0], DeviceId::try_from(1u8).unwrap()));
}

/// How long a "nothing arrived" check listens.
const QUIET: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "current_thread")]
async fn strict_recipient_with_a_new_identity_gets_nothing_until_forgotten() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut chan = phone(&cfg, "+15550000161").await;
    let mut b = phone(&cfg, "+15550000162").await;
    let b_aci = chan.client.lookup(b.e164()).await.unwrap().unwrap();
    chan.client.account.store.set_strict([&b_aci]);
    assert!(chan.client.account.store.is_strict(&b_aci));

    // Strict changes nothing while the identity stays the same.
    chan.send_text("+15550000162", "before").await.unwrap();
    expect_text(&mut b, "before").await;
    let old = chan.client.account.store.identity(&b_aci).unwrap();

    // b reinstalls: the stale session (410) is dropped, the new bundle's identity is
    // refused, and nothing reaches the new phone.
    drop(b);
    let mut b2 = phone(&cfg, "+15550000162").await;
    let r = chan.send_text("+15550000162", "secret one").await;
    assert!(matches!(r, Err(Error::UntrustedIdentity)), "{r:?}");
    // Without any session left, send_many refuses at the bundle too.
    let res = chan
        .client
        .send_many(&[b_aci], &text_content("secret two"), 2)
        .await;
    assert_eq!(res.len(), 1);
    assert!(matches!(res[0].1, Err(Error::UntrustedIdentity)), "{res:?}");
    assert!(chan
        .client
        .account
        .store
        .session_devices(&b_aci.service_id_string())
        .is_empty());
    assert_eq!(chan.client.account.store.identity(&b_aci), Some(old));
    let got = b2.receive_for(QUIET).await.unwrap();
    assert!(got.is_empty(), "{:?}", got.len());

    // Once the caller forgets the old key (an admin re-ADDed them), the new one is trusted
    // on first use, strict or not, and the message goes out.
    chan.client.account.store.forget_identity(&b_aci);
    let r = chan
        .send_text("+15550000162", "welcome back")
        .await
        .unwrap();
    assert!(!r.identity_changed);
    expect_text(&mut b2, "welcome back").await;
    let new = chan.client.account.store.identity(&b_aci).unwrap();
    assert_ne!(new, old);
    assert_eq!(
        new.serialize(),
        b2.client
            .account
            .store
            .identity_key_pair()
            .identity_key()
            .serialize()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn strictness_is_per_recipient_and_only_for_sending() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut chan = phone(&cfg, "+15550000171").await;
    chan.client.try_unrestricted = false;
    let mut admin = phone(&cfg, "+15550000172").await;
    let mut sub = phone(&cfg, "+15550000173").await;
    let admin_aci = chan.client.lookup(admin.e164()).await.unwrap().unwrap();
    let sub_aci = chan.client.lookup(sub.e164()).await.unwrap().unwrap();
    let res = chan
        .client
        .send_many(&[admin_aci, sub_aci], &text_content("hello"), 1)
        .await;
    assert!(res.iter().all(|(_, r)| r.is_ok()), "{res:?}");
    expect_text(&mut admin, "hello").await;
    expect_text(&mut sub, "hello").await;

    drop(admin);
    drop(sub);
    let mut admin2 = phone(&cfg, "+15550000172").await;
    let mut sub2 = phone(&cfg, "+15550000173").await;
    chan.client.account.store.set_strict([&admin_aci]);
    assert!(!chan.client.account.store.is_strict(&sub_aci));
    let res = chan
        .client
        .send_many(&[admin_aci, sub_aci], &text_content("news"), 2)
        .await;
    for (aci, r) in &res {
        if *aci == admin_aci {
            assert!(matches!(r, Err(Error::UntrustedIdentity)), "{r:?}");
        } else {
            // A recipient that is not strict: the new identity is trusted and re-sent.
            assert!(matches!(r, Ok(rep) if rep.identity_changed), "{r:?}");
        }
    }
    expect_text(&mut sub2, "news").await;
    let got = admin2.receive_for(QUIET).await.unwrap();
    assert!(got.is_empty(), "{:?}", got.len());

    // Receiving is never refused: the reinstalled phone's own message decrypts, reports
    // the change and records the new key (the caller deauthorizes), after which replies
    // encrypt to the key on record.
    admin2.send_text("+15550000171", "it's me").await.unwrap();
    let mut rx = signal_client::ws::Receiver::new(
        chan.client.http().clone(),
        chan.client.account.credentials.basic_auth(),
    );
    let incoming = loop {
        if let Event::Envelope { id, envelope } = rx.next().await.unwrap() {
            rx.ack(id).await.unwrap();
            let i = chan.client.decrypt(&envelope).await.unwrap();
            if i.sender == admin_aci {
                break i;
            }
        }
    };
    assert!(incoming.identity_changed);
    let r = chan.send_text("+15550000172", "reply").await.unwrap();
    assert_eq!(r.devices, 1);
    expect_text(&mut admin2, "reply").await;
}

/// A store with its own identity and initial keys (no service needed).
fn local_store(reg: u32) -> signal_client::ProtocolStore {
    let mut rng = rand::rng();
    let mut store = signal_client::ProtocolStore::new(
        libsignal_protocol::IdentityKeyPair::generate(&mut rng),
        reg,
    );
    let now = libsignal_protocol::Timestamp::from_epoch_millis(1_700_000_000_000);
    keys::install_initial_keys(&mut store, now, &mut rng).unwrap();
    store
}

/// Starts a session at `addr` from `from`'s bundle for `dev`; returns whether the identity
/// on record changed.
async fn process(
    store: &mut signal_client::ProtocolStore,
    addr: &ProtocolAddress,
    from: &signal_client::ProtocolStore,
    dev: DeviceId,
) -> signal_client::Result<bool> {
    let b = keys::local_bundle(from, dev, None).unwrap();
    let now = std::time::SystemTime::now();
    signal_client::cipher::process_bundle(store, addr, &b, now, &mut rand::rng()).await
}

#[tokio::test(flavor = "current_thread")]
async fn strict_trust_refuses_bundles_and_sessions_on_another_key() {
    let now = std::time::SystemTime::now();
    let mut rng = rand::rng();
    let mut chan = local_store(1);
    let old = local_store(2);
    let new = local_store(3);
    let peer = signal_client::store::aci_from_bytes([7; 16]);
    let name = peer.service_id_string();
    let (d1, d2) = (
        DeviceId::try_from(1u8).unwrap(),
        DeviceId::try_from(2u8).unwrap(),
    );
    let a1 = ProtocolAddress::new(name.clone(), d1);
    let a2 = ProtocolAddress::new(name.clone(), d2);
    process(&mut chan, &a1, &old, d1).await.unwrap();
    chan.set_strict([&peer]);

    // A bundle on another key builds no session and leaves the key on record alone.
    let r = process(&mut chan, &a2, &new, d2).await;
    assert!(matches!(r, Err(Error::UntrustedIdentity)), "{r:?}");
    assert_eq!(chan.session_devices(&name), vec![d1]);
    assert_eq!(
        chan.identity(&peer),
        Some(*old.identity_key_pair().identity_key())
    );
    // The same key is fine, strict or not.
    let ok = signal_client::cipher::encrypt(&mut chan, &a1, b"padded", None, now, &mut rng).await;
    assert!(ok.is_ok());

    // A session built on another key (here: while not strict) is refused at encryption.
    chan.set_strict([]);
    chan.forget_identity(&peer);
    assert!(!process(&mut chan, &a2, &new, d2).await.unwrap());
    chan.set_strict([&peer]);
    let r = signal_client::cipher::encrypt(&mut chan, &a1, b"padded", None, now, &mut rng).await;
    assert!(matches!(r, Err(Error::UntrustedIdentity)), "{r:?}");
    let ok = signal_client::cipher::encrypt(&mut chan, &a2, b"padded", None, now, &mut rng).await;
    assert!(ok.is_ok());

    // Strictness is the caller's per-operation setting, not part of the encoding.
    let back = signal_client::ProtocolStore::decode(&chan.encode().unwrap()).unwrap();
    assert!(!back.is_strict(&peer));
    assert!(chan.is_strict(&peer));
}

#[tokio::test(flavor = "current_thread")]
async fn a_phone_that_hides_its_number_is_known_only_by_aci() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = phone(&cfg, "+15550000171").await;
    // c never looks a up, so it can learn a's number only from what a sends.
    let mut c = phone(&cfg, "+15550000173").await;

    a.set_share_number(false);
    assert!(!a.shares_number());
    let cert = a.client.sender_certificate().await.unwrap();
    assert_eq!(cert.sender_e164().unwrap(), None);
    assert_eq!(cert.sender_uuid().unwrap(), a.aci().service_id_string());
    a.send_text("+15550000173", "guess who").await.unwrap();
    let m = expect_text(&mut c, "guess who").await;
    assert_eq!(m.from_aci, a.aci());
    assert_eq!(m.from_e164, None);

    // Sharing again: the cached certificate without the number is not reused.
    a.set_share_number(true);
    let cert = a.client.sender_certificate().await.unwrap();
    assert_eq!(cert.sender_e164().unwrap(), Some("+15550000171"));
    // And it is cached while the setting holds.
    let again = a.client.sender_certificate().await.unwrap();
    assert_eq!(again.serialized().unwrap(), cert.serialized().unwrap());
}
