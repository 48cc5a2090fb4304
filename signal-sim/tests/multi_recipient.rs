#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! `PUT /v1/messages/multi_recipient` (SPEC §7.10) with a real libsignal sealed-sender v2
//! message: the sim splits it per recipient without decrypting, and each recipient can
//! decrypt its envelope.

mod common;

use std::time::SystemTime;

use common::*;
use hyper::{Method, StatusCode};
use libsignal_protocol::*;
use signal_api::consts;
use signal_api::json::b64;

struct Phone {
    acct: Account,
    store: InMemSignalProtocolStore,
    address: ProtocolAddress,
}

/// A recipient whose identity/prekeys live in a libsignal store, and a bundle for it.
async fn recipient(sim: &TestSim, number: &str) -> (Phone, PreKeyBundle) {
    let acct = sim.register(number).await;
    with_device(acct, 1, 0).await
}

/// Keys for `acct` as if it were device `device` with its registration id moved by `shift`.
async fn with_device(acct: Account, device: u8, shift: u32) -> (Phone, PreKeyBundle) {
    let mut rng = rand09::rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let mut store = InMemSignalProtocolStore::new(identity, acct.registration_id).unwrap();
    let signed = KeyPair::generate(&mut rng);
    let sig = identity
        .private_key()
        .calculate_signature(&signed.public_key.serialize(), &mut rng)
        .unwrap();
    let kyber = kem::KeyPair::generate(kem::KeyType::Kyber1024, &mut rng);
    let ksig = identity
        .private_key()
        .calculate_signature(&kyber.public_key.serialize(), &mut rng)
        .unwrap();
    let now = Timestamp::from_epoch_millis(1);
    store
        .save_signed_pre_key(
            1.into(),
            &SignedPreKeyRecord::new(1.into(), now, &signed, &sig),
        )
        .await
        .unwrap();
    store
        .save_kyber_pre_key(
            1.into(),
            &KyberPreKeyRecord::new(1.into(), now, &kyber, &ksig),
        )
        .await
        .unwrap();
    let bundle = PreKeyBundle::new(
        acct.registration_id + shift,
        DeviceId::new(device).unwrap(),
        None,
        1.into(),
        signed.public_key,
        sig.to_vec(),
        1.into(),
        kyber.public_key.clone(),
        ksig.to_vec(),
        *identity.identity_key(),
    )
    .unwrap();
    let address = ProtocolAddress::new(acct.aci.to_string(), DeviceId::new(device).unwrap());
    (
        Phone {
            acct,
            store,
            address,
        },
        bundle,
    )
}

async fn encrypt(
    store: &InMemSignalProtocolStore,
    phones: &[Phone],
    usmc: &UnidentifiedSenderMessageContent,
) -> Vec<u8> {
    let addrs: Vec<&ProtocolAddress> = phones.iter().map(|p| &p.address).collect();
    let sessions: Vec<SessionRecord> = phones
        .iter()
        .map(|p| {
            store
                .session_store
                .load_existing_sessions(&[&p.address])
                .unwrap()
                .remove(0)
                .clone()
        })
        .collect();
    let session_refs: Vec<&SessionRecord> = sessions.iter().collect();
    sealed_sender_multi_recipient_encrypt(
        &addrs,
        &session_refs,
        std::iter::empty::<ServiceId>(),
        usmc,
        &store.identity_store,
        &mut rand09::rng(),
    )
    .await
    .unwrap()
}

async fn establish(store: &mut InMemSignalProtocolStore, p: &Phone, bundle: &PreKeyBundle) {
    process_prekey_bundle(
        &p.address,
        &mut store.session_store,
        &mut store.identity_store,
        bundle,
        SystemTime::now(),
        &mut rand09::rng(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn multi_recipient_split_and_checks() {
    let sim = start(|_| {}).await;
    // The sender: a registered account with a sender certificate from the sim.
    let sender = sim.register("+15550020000").await;
    // The identity key pair matching what the test helper registered (so the certificate's
    // key is the one that encrypts).
    let private = PrivateKey::deserialize(&[0x40; 32]).unwrap();
    let sender_identity =
        IdentityKeyPair::new(IdentityKey::new(private.public_key().unwrap()), private);
    assert_eq!(
        sender_identity.public_key().serialize().to_vec(),
        sender.identity_key
    );
    let mut sender_store =
        InMemSignalProtocolStore::new(sender_identity, sender.registration_id).unwrap();
    let auth = sender.auth();
    let cert: signal_api::SenderCertificateResponse = sim
        .request(
            Method::GET,
            "/v1/certificate/delivery",
            &[("authorization", &auth)],
            vec![],
        )
        .await
        .json();
    let cert = SenderCertificate::deserialize(&cert.certificate).unwrap();

    let mut phones = Vec::new();
    for n in ["+15550020001", "+15550020002", "+15550020009"] {
        let (p, bundle) = recipient(&sim, n).await;
        establish(&mut sender_store, &p, &bundle).await;
        phones.push(p);
    }
    let usmc = UnidentifiedSenderMessageContent::new(
        CiphertextMessageType::Plaintext,
        cert,
        b"opaque inner".to_vec(),
        ContentHint::Default,
        None,
    )
    .unwrap();
    let body = encrypt(&sender_store, &phones, &usmc).await;
    // The combined key skips the unrestricted recipient (number ending in 9).
    let mut combined = [0u8; 16];
    for p in &phones[..2] {
        for (c, k) in combined.iter_mut().zip(p.acct.uak) {
            *c ^= k;
        }
    }
    let send = |key: [u8; 16], ct: &'static str, body: Vec<u8>| {
        let sim = &sim;
        async move {
            let k = b64::encode(&key);
            sim.request(
                Method::PUT,
                "/v1/messages/multi_recipient?ts=4242&online=false&urgent=true&story=false",
                &[("content-type", ct), (consts::UNIDENTIFIED_ACCESS_KEY, &k)],
                body,
            )
            .await
        }
    };
    let mrm = consts::MULTI_RECIPIENT_CONTENT_TYPE;
    assert_eq!(
        send(combined, "application/json", body.clone())
            .await
            .status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        send([7; 16], mrm, body.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(combined, mrm, b"\x23garbage".to_vec()).await.status,
        StatusCode::BAD_REQUEST
    );
    let r = send(combined, mrm, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r
        .json::<signal_api::SendMultiRecipientMessageResponse>()
        .uuids404
        .is_empty());

    // Each recipient gets an UNIDENTIFIED_SENDER envelope it can decrypt.
    let root = PublicKey::deserialize(sim.handle.sealed_sender_root()).unwrap();
    for p in &mut phones {
        let mut ws = sim.ws(&p.acct).await;
        let (id, env) = ws.envelope().await;
        assert_eq!(env.r#type(), signal_api::envelope::Type::UnidentifiedSender);
        assert_eq!(env.source_service_id, None);
        assert_eq!(env.timestamp, Some(4242));
        assert_eq!(env.destination_service_id, Some(p.acct.aci.to_string()));
        let usmc =
            sealed_sender_decrypt_to_usmc(env.content.as_deref().unwrap(), &p.store.identity_store)
                .await
                .unwrap();
        assert_eq!(usmc.contents().unwrap(), b"opaque inner");
        assert!(usmc
            .sender()
            .unwrap()
            .validate(&root, Timestamp::from_epoch_millis(1))
            .unwrap());
        ws.ack(id).await;
        ws.expect_queue_empty().await;
    }

    // 409: a message addressed to device 2 of an account that only has device 1.
    let (wrong_dev, bundle) = with_device(phones[0].acct.clone(), 2, 0).await;
    let mut store = InMemSignalProtocolStore::new(sender_identity, 1).unwrap();
    establish(&mut store, &wrong_dev, &bundle).await;
    let body = encrypt(&store, std::slice::from_ref(&wrong_dev), &usmc).await;
    let r = send(phones[0].acct.uak, mrm, body).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let m: Vec<signal_api::AccountMismatchedDevices> = r.json();
    assert_eq!(m[0].uuid, signal_api::ServiceId::Aci(phones[0].acct.aci));
    assert_eq!(m[0].devices.missing_devices, vec![1]);
    assert_eq!(m[0].devices.extra_devices, vec![2]);
    // 410: the session was made with a different registration id.
    let (stale, bundle) = with_device(phones[1].acct.clone(), 1, 3).await;
    let mut store = InMemSignalProtocolStore::new(sender_identity, 1).unwrap();
    establish(&mut store, &stale, &bundle).await;
    let body = encrypt(&store, std::slice::from_ref(&stale), &usmc).await;
    let r = send(phones[1].acct.uak, mrm, body).await;
    assert_eq!(r.status, StatusCode::GONE);
    let s: Vec<signal_api::AccountStaleDevices> = r.json();
    assert_eq!(s[0].devices.stale_devices, vec![1]);
    // 404: an unknown recipient.
    let ghost = Account {
        aci: uuid::Uuid::from_u128(7),
        ..phones[0].acct.clone()
    };
    let (ghost, bundle) = with_device(ghost, 1, 0).await;
    let mut store = InMemSignalProtocolStore::new(sender_identity, 1).unwrap();
    establish(&mut store, &ghost, &bundle).await;
    let body = encrypt(&store, std::slice::from_ref(&ghost), &usmc).await;
    assert_eq!(send([0; 16], mrm, body).await.status, StatusCode::NOT_FOUND);
}
