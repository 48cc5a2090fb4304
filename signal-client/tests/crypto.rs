#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! Two accounts exchanging real libsignal messages through `cipher`.

use std::time::SystemTime;

use futures::executor::block_on;
use libsignal_protocol::{
    Aci, DeviceId, IdentityKeyPair, KeyPair, ProtocolAddress, SenderCertificate, ServerCertificate,
    Timestamp,
};
use signal_client::cipher::{self, envelope_type, EnvelopeParts, LocalAddress};
use signal_client::{keys, Error, ProtocolStore};

struct Party {
    store: ProtocolStore,
    aci: Aci,
    device: DeviceId,
}

fn now_ts() -> Timestamp {
    Timestamp::from_epoch_millis(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    )
}

impl Party {
    fn new(seed: u8) -> Party {
        let mut rng = rand::rng();
        let mut store =
            ProtocolStore::new(IdentityKeyPair::generate(&mut rng), 1000 + u32::from(seed));
        keys::install_initial_keys(&mut store, now_ts(), &mut rng).unwrap();
        for pk in keys::one_time_prekeys(100, 2, &mut rng) {
            store.save_prekey(pk).unwrap();
        }
        Party {
            store,
            aci: signal_client::store::aci_from_bytes([seed; 16]),
            device: DeviceId::try_from(1u8).unwrap(),
        }
    }
    fn address(&self) -> ProtocolAddress {
        ProtocolAddress::new(self.aci.service_id_string(), self.device)
    }
    fn bundle(&self) -> libsignal_protocol::PreKeyBundle {
        let one = block_on(async {
            use libsignal_protocol::PreKeyStore;
            self.store.prekeys.get_pre_key(100.into()).await.ok()
        });
        keys::local_bundle(&self.store, self.device, one.as_ref()).unwrap()
    }
    fn local(&self) -> LocalAddress<'_> {
        LocalAddress {
            aci: &self.aci,
            device_id: self.device,
        }
    }
}

fn send(
    from: &mut Party,
    to: &Party,
    text: &[u8],
    cert: Option<&SenderCertificate>,
) -> cipher::OutgoingMessage {
    let mut rng = rand::rng();
    let padded = cipher::pad(text);
    block_on(cipher::encrypt(
        &mut from.store,
        &to.address(),
        &padded,
        cert,
        SystemTime::now(),
        &mut rng,
    ))
    .unwrap()
}

fn receive(
    to: &mut Party,
    from: Option<&Party>,
    m: &cipher::OutgoingMessage,
    trust_root: &libsignal_protocol::PublicKey,
) -> Result<cipher::Decrypted, Error> {
    let mut rng = rand::rng();
    let aci = to.aci;
    let device = to.device;
    block_on(cipher::decrypt(
        &mut to.store,
        LocalAddress {
            aci: &aci,
            device_id: device,
        },
        EnvelopeParts {
            envelope_type: m.envelope_type,
            source: from.map(|f| (f.aci, f.device)),
            content: &m.content,
        },
        trust_root,
        now_ts(),
        &mut rng,
    ))
}

fn start_session(a: &mut Party, b: &Party) -> bool {
    let mut rng = rand::rng();
    block_on(cipher::process_bundle(
        &mut a.store,
        &b.address(),
        &b.bundle(),
        SystemTime::now(),
        &mut rng,
    ))
    .unwrap()
}

fn dummy_root() -> libsignal_protocol::PublicKey {
    KeyPair::generate(&mut rand::rng()).public_key
}

#[test]
fn two_accounts_exchange_prekey_then_ciphertext_both_ways() {
    let mut alice = Party::new(1);
    let mut bob = Party::new(2);
    let root = dummy_root();
    assert!(!start_session(&mut alice, &bob));

    let m1 = send(&mut alice, &bob, b"hello bob", None);
    assert_eq!(m1.envelope_type, envelope_type::PREKEY_BUNDLE);
    assert_eq!(m1.destination_registration_id, bob.store.registration_id());
    let d1 = receive(&mut bob, Some(&alice), &m1, &root).unwrap();
    assert_eq!(&d1.content[..], b"hello bob");
    assert_eq!(d1.sender, alice.aci);
    assert!(!d1.identity_changed);
    assert!(!d1.sealed_sender);
    // The one-time prekey was consumed.
    assert_eq!(bob.store.prekey_count(), 1);

    let m2 = send(&mut bob, &alice, b"hi alice", None);
    assert_eq!(m2.envelope_type, envelope_type::CIPHERTEXT);
    let d2 = receive(&mut alice, Some(&bob), &m2, &root).unwrap();
    assert_eq!(&d2.content[..], b"hi alice");

    let m3 = send(&mut alice, &bob, b"second", None);
    assert_eq!(m3.envelope_type, envelope_type::CIPHERTEXT);
    assert_eq!(
        &receive(&mut bob, Some(&alice), &m3, &root).unwrap().content[..],
        b"second"
    );

    // Replaying a message is refused with libsignal's duplicate error.
    let replay = receive(&mut bob, Some(&alice), &m3, &root);
    assert!(matches!(
        replay,
        Err(Error::Protocol {
            kind: "duplicated message"
        })
    ));
}

struct Certs {
    root: KeyPair,
    server: ServerCertificate,
    server_key: KeyPair,
}

fn certs() -> Certs {
    let mut rng = rand::rng();
    let root = KeyPair::generate(&mut rng);
    let server_key = KeyPair::generate(&mut rng);
    let server =
        ServerCertificate::new(7, server_key.public_key, &root.private_key, &mut rng).unwrap();
    Certs {
        root,
        server,
        server_key,
    }
}

fn sender_cert(c: &Certs, p: &Party, e164: &str, expires: Timestamp) -> SenderCertificate {
    SenderCertificate::new(
        p.aci.service_id_string(),
        Some(e164.to_owned()),
        *p.store.identity_key_pair().public_key(),
        p.device,
        expires,
        c.server.clone(),
        &c.server_key.private_key,
        &mut rand::rng(),
    )
    .unwrap()
}

#[test]
fn sealed_sender_round_trip_validates_certificate() {
    let c = certs();
    let mut alice = Party::new(3);
    let mut bob = Party::new(4);
    start_session(&mut alice, &bob);
    let later = now_ts().add_millis(3_600_000);
    let cert = sender_cert(&c, &alice, "+15550001111", later);

    let m = send(&mut alice, &bob, b"sealed hello", Some(&cert));
    assert_eq!(m.envelope_type, envelope_type::UNIDENTIFIED_SENDER);
    let d = receive(&mut bob, None, &m, &c.root.public_key).unwrap();
    assert!(d.sealed_sender);
    assert_eq!(d.sender, alice.aci);
    assert_eq!(d.sender_e164.as_deref(), Some("+15550001111"));
    assert_eq!(&d.content[..], b"sealed hello");
    // The certified number went into the recipient book.
    assert_eq!(bob.store.aci_for_e164("+15550001111"), Some(alice.aci));
}

#[test]
fn sealed_sender_under_wrong_trust_root_is_refused() {
    let c = certs();
    let mut alice = Party::new(5);
    let mut bob = Party::new(6);
    start_session(&mut alice, &bob);
    let cert = sender_cert(&c, &alice, "+15550002222", now_ts().add_millis(3_600_000));
    let m = send(&mut alice, &bob, b"x", Some(&cert));
    let wrong = dummy_root();
    let r = receive(&mut bob, None, &m, &wrong);
    assert!(matches!(r, Err(Error::SenderCertificateInvalid)));
}

#[test]
fn expired_sender_certificate_is_refused() {
    let c = certs();
    let mut alice = Party::new(7);
    let mut bob = Party::new(8);
    start_session(&mut alice, &bob);
    let cert = sender_cert(
        &c,
        &alice,
        "+15550003333",
        Timestamp::from_epoch_millis(1000),
    );
    let m = send(&mut alice, &bob, b"x", Some(&cert));
    let r = receive(&mut bob, None, &m, &c.root.public_key);
    assert!(matches!(r, Err(Error::SenderCertificateInvalid)));
}

#[test]
fn identity_change_is_reported_and_accepted_on_receive_and_send() {
    let mut alice = Party::new(9);
    let mut bob = Party::new(10);
    let root = dummy_root();
    start_session(&mut alice, &bob);
    let m = send(&mut alice, &bob, b"one", None);
    receive(&mut bob, Some(&alice), &m, &root).unwrap();

    // Alice reinstalls: same ACI, new identity key.
    let mut alice2 = Party::new(9);
    assert!(!start_session(&mut alice2, &bob));
    let m = send(&mut alice2, &bob, b"after reinstall", None);
    let d = receive(&mut bob, Some(&alice2), &m, &root).unwrap();
    assert!(d.identity_changed);
    assert_eq!(&d.content[..], b"after reinstall");

    // Sending side: bob reinstalls; alice fetches his new bundle and is told.
    let bob2 = Party::new(10);
    assert!(start_session(&mut alice, &bob2));
}

#[test]
fn unsupported_envelope_type_and_missing_source_are_named() {
    let mut bob = Party::new(12);
    let root = dummy_root();
    let m = cipher::OutgoingMessage {
        envelope_type: 42,
        destination_device_id: bob.device,
        destination_registration_id: 0,
        content: vec![1, 2, 3],
    };
    assert!(matches!(
        receive(&mut bob, None, &m, &root),
        Err(Error::BadEnvelope {
            reason: "unsupported envelope type"
        })
    ));
    let m = cipher::OutgoingMessage {
        envelope_type: envelope_type::CIPHERTEXT,
        ..m
    };
    assert!(matches!(
        receive(&mut bob, None, &m, &root),
        Err(Error::BadEnvelope {
            reason: "missing source"
        })
    ));
    let _ = bob.local();
}

#[test]
fn padding_round_trip_and_rejection() {
    for len in [0usize, 1, 158, 159, 160, 500] {
        let body = vec![7u8; len];
        let p = cipher::pad(&body);
        assert_eq!((p.len() + 1) % cipher::PADDING_BLOCK, 0);
        assert_eq!(cipher::unpad(&p).unwrap(), &body[..]);
    }
    assert!(matches!(
        cipher::unpad(&[0, 0]),
        Err(Error::BadContent { reason: "padding" })
    ));
    assert!(matches!(
        cipher::unpad(&[1, 2]),
        Err(Error::BadContent { reason: "padding" })
    ));
}

/// The message-list body's device ciphertexts, as `cipher::OutgoingMessage`s.
fn from_body(body: &[u8]) -> Vec<cipher::OutgoingMessage> {
    let list: signal_api::IncomingMessageList = signal_api::parse_json(body).unwrap();
    list.messages
        .into_iter()
        .map(|m| cipher::OutgoingMessage {
            envelope_type: m.r#type as i32,
            destination_device_id: DeviceId::try_from(m.destination_device_id as u8).unwrap(),
            destination_registration_id: m.destination_registration_id,
            content: m.content,
        })
        .collect()
}

#[test]
fn fan_out_on_threads_writes_every_session_back() {
    use signal_client::fanout;
    let c = certs();
    let mut channel = Party::new(200);
    let mut members: Vec<Party> = (0..10u8).map(|i| Party::new(210 + i)).collect();
    for m in &members {
        start_session(&mut channel, m);
    }
    let cert = sender_cert(&c, &channel, "+15550009999", now_ts().add_millis(3_600_000));
    // Half sealed, half not; then a recipient listed twice (kept on one thread).
    let jobs: Vec<_> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.aci, (i % 2 == 0).then_some(&cert)))
        .collect();
    let dup = vec![(members[0].aci, None), (members[0].aci, Some(&cert))];
    for round in 0..3u8 {
        let text = [b'a' + round; 5];
        let padded = cipher::pad(&text);
        let out = fanout::prepare_many(&mut channel.store, &jobs, &padded, 7, 3);
        assert_eq!(out.len(), members.len());
        for ((m, p), (aci, cert)) in members.iter_mut().zip(out).zip(&jobs) {
            let p = p.unwrap();
            assert_eq!((p.to, p.sealed, p.devices), (*aci, cert.is_some(), 1));
            let msg = &from_body(&p.body)[0];
            let from = (!p.sealed).then_some(&channel);
            // A session not written back would repeat a message key: the second and third
            // rounds would then fail to decrypt as duplicates.
            let d = receive(m, from, msg, &c.root.public_key).unwrap();
            assert_eq!(&d.content[..], &text, "round {round}");
        }
    }
    let out = fanout::prepare_many(&mut channel.store, &dup, &cipher::pad(b"twice"), 7, 2);
    for p in out {
        let msg = &from_body(&p.unwrap().body)[0];
        let from = (msg.envelope_type != envelope_type::UNIDENTIFIED_SENDER).then_some(&channel);
        let d = receive(&mut members[0], from, msg, &c.root.public_key).unwrap();
        assert_eq!(&d.content[..], b"twice");
    }
}

#[test]
fn fan_out_threads_scale_with_recipients() {
    use signal_client::fanout::{threads_for, MAX_THREADS};
    assert_eq!(threads_for(0), 1);
    assert_eq!(threads_for(63), 1);
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(threads_for(10_000), cpus.min(MAX_THREADS));
    assert_eq!(threads_for(128), cpus.min(2));
}
