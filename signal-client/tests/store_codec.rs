#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! The store encoding (SPEC.md §1): round trip and rejection of malformed input.

use std::time::SystemTime;

use futures::executor::block_on;
use libsignal_protocol::{
    DeviceId, IdentityKey, IdentityKeyPair, IdentityKeyStore, KeyPair, ProtocolAddress, Timestamp,
};
use proptest::prelude::*;
use signal_client::store::{aci_from_bytes, MAX_SESSIONS, STORE_MAGIC};
use signal_client::{cipher, keys, Error, ProtocolStore};

fn ts() -> Timestamp {
    Timestamp::from_epoch_millis(1_700_000_000_000)
}

/// A store with keys, two real sessions, identities and recipients.
fn sample_store() -> ProtocolStore {
    let mut rng = rand::rng();
    let mut a = ProtocolStore::new(IdentityKeyPair::generate(&mut rng), 77);
    keys::install_initial_keys(&mut a, ts(), &mut rng).unwrap();
    for pk in keys::one_time_prekeys(1, 3, &mut rng) {
        a.save_prekey(pk).unwrap();
    }
    let k = keys::kyber_prekey(a.identity_key_pair(), 9).unwrap();
    a.save_kyber_pre_key_flagged(9.into(), k, false);
    for i in 0..2u8 {
        let mut b = ProtocolStore::new(IdentityKeyPair::generate(&mut rng), 5);
        keys::install_initial_keys(&mut b, ts(), &mut rng).unwrap();
        let dev = DeviceId::try_from(1 + i).unwrap();
        let addr = ProtocolAddress::new(aci_from_bytes([i + 1; 16]).service_id_string(), dev);
        let bundle = keys::local_bundle(&b, dev, None).unwrap();
        block_on(cipher::process_bundle(
            &mut a,
            &addr,
            &bundle,
            SystemTime::now(),
            &mut rng,
        ))
        .unwrap();
    }
    let aci = aci_from_bytes([9; 16]);
    a.set_e164(&aci, "+15551234567").unwrap();
    a.set_profile_key(&aci, [3; 32]);
    a.set_expire_timer(&aci, 604_800);
    a
}

#[test]
fn round_trip_is_exact_and_deterministic() {
    let s = sample_store();
    let e = s.encode().unwrap();
    let d = ProtocolStore::decode(&e).unwrap();
    assert_eq!(d.session_count(), 2);
    assert_eq!(d.prekey_count(), 3);
    assert_eq!(d.one_time_kyber_count(), 1);
    assert_eq!(d.registration_id(), 77);
    let aci = aci_from_bytes([9; 16]);
    assert_eq!(d.aci_for_e164("+15551234567"), Some(aci));
    let r = d.recipient(&aci).unwrap();
    assert_eq!(r.profile_key, Some([3; 32]));
    assert_eq!(r.uak, Some(signal_client::uak::derive_access_key(&[3; 32])));
    assert_eq!(r.expire_timer, Some(604_800));
    assert_eq!(&d.encode().unwrap()[..], &e[..]);
}

#[test]
fn every_truncation_is_named_truncated() {
    let e = sample_store().encode().unwrap();
    let step = (e.len() / 2000).max(1);
    for cut in (0..e.len()).step_by(step) {
        let r = ProtocolStore::decode(&e[..cut]);
        assert!(
            matches!(r, Err(Error::Truncated { .. })),
            "cut at {cut}: {:?}",
            r.err()
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut e = sample_store().encode().unwrap().to_vec();
    e.push(0);
    assert!(matches!(
        ProtocolStore::decode(&e),
        Err(Error::TrailingBytes { count: 1 })
    ));
}

#[test]
fn bad_magic_and_version_are_named() {
    let mut e = sample_store().encode().unwrap().to_vec();
    e[4] = 9;
    assert!(matches!(
        ProtocolStore::decode(&e),
        Err(Error::UnsupportedVersion { version: 9, .. })
    ));
    e[0] = b'X';
    assert!(matches!(
        ProtocolStore::decode(&e),
        Err(Error::BadMagic { .. })
    ));
}

/// Header of an otherwise empty store, up to (not including) the identities count.
fn empty_header() -> Vec<u8> {
    let s = ProtocolStore::new(IdentityKeyPair::generate(&mut rand::rng()), 1);
    let e = s.encode().unwrap();
    // magic, version, ikp len, ikp, registration id
    let ikp_len = usize::from(e[5]);
    e[..4 + 1 + 1 + ikp_len + 4].to_vec()
}

#[test]
fn oversized_counts_are_refused_before_allocating() {
    let mut e = empty_header();
    e.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        ProtocolStore::decode(&e),
        Err(Error::TooLarge {
            what: "identities",
            ..
        })
    ));
    // A count within bounds that the remaining input cannot hold is truncation.
    let mut e = empty_header();
    e.extend_from_slice(&1000u32.to_be_bytes());
    assert!(matches!(
        ProtocolStore::decode(&e),
        Err(Error::Truncated { what: "identities" })
    ));
    // Sessions: empty maps then a huge session count.
    let mut e = empty_header();
    for _ in 0..5 {
        e.extend_from_slice(&0u32.to_be_bytes());
    }
    e.extend_from_slice(&(MAX_SESSIONS as u32 + 1).to_be_bytes());
    assert!(matches!(
        ProtocolStore::decode(&e),
        Err(Error::TooLarge {
            what: "sessions",
            ..
        })
    ));
}

#[test]
fn duplicate_and_corrupt_entries_are_named() {
    // Two identical identity entries.
    let key = IdentityKey::new(KeyPair::generate(&mut rand::rng()).public_key);
    let mut e = empty_header();
    e.extend_from_slice(&2u32.to_be_bytes());
    for _ in 0..2 {
        e.push(1);
        e.push(b'a');
        e.extend_from_slice(&key.serialize());
    }
    for _ in 0..6 {
        e.extend_from_slice(&0u32.to_be_bytes());
    }
    assert!(matches!(
        ProtocolStore::decode(&e),
        Err(Error::Duplicate { what: "identity" })
    ));
    // An identity key with a bad type byte.
    let mut e = empty_header();
    e.extend_from_slice(&1u32.to_be_bytes());
    e.push(1);
    e.push(b'a');
    e.extend_from_slice(&[0xff; 33]);
    for _ in 0..6 {
        e.extend_from_slice(&0u32.to_be_bytes());
    }
    assert!(matches!(
        ProtocolStore::decode(&e),
        Err(Error::Corrupt {
            what: "identity key"
        })
    ));
    assert_eq!(&e[..4], STORE_MAGIC);
}

fn e164_strategy() -> impl Strategy<Value = String> {
    "\\+[1-9][0-9]{6,14}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn recipients_and_identities_round_trip(
        recips in proptest::collection::vec((any::<[u8; 16]>(), proptest::option::of(e164_strategy()), proptest::option::of(any::<[u8; 32]>()), proptest::option::of(any::<u32>())), 0..20),
        names in proptest::collection::vec("[a-f0-9-]{1,40}", 0..10),
    ) {
        let mut rng = rand::rng();
        let mut s = ProtocolStore::new(IdentityKeyPair::generate(&mut rng), 3);
        for (aci, e164, pk, timer) in &recips {
            let aci = aci_from_bytes(*aci);
            if let Some(e) = e164 { s.set_e164(&aci, e).unwrap(); }
            if let Some(pk) = pk { s.set_profile_key(&aci, *pk); }
            if let Some(t) = timer { s.set_expire_timer(&aci, *t); }
        }
        for n in &names {
            let key = IdentityKey::new(KeyPair::generate(&mut rng).public_key);
            let addr = ProtocolAddress::new(n.clone(), DeviceId::try_from(1u8).unwrap());
            block_on(s.identities.save_identity(&addr, &key)).unwrap();
        }
        let e = s.encode().unwrap();
        let d = ProtocolStore::decode(&e).unwrap();
        prop_assert_eq!(&d.encode().unwrap()[..], &e[..]);
        for (aci, _, _, _) in &recips {
            let aci = aci_from_bytes(*aci);
            prop_assert_eq!(d.recipient(&aci), s.recipient(&aci));
        }
        for n in &names {
            let addr = ProtocolAddress::new(n.clone(), DeviceId::try_from(1u8).unwrap());
            prop_assert_eq!(
                block_on(d.identities.get_identity(&addr)).unwrap(),
                block_on(s.identities.get_identity(&addr)).unwrap()
            );
        }
    }
}

/// Writes seed inputs for the `signal_store` fuzz target when `SIGNAL_STORE_SEED_DIR` is
/// set (`SIGNAL_STORE_SEED_DIR=fuzz/corpus/signal_store cargo test -p signal-client
/// --test store_codec write_fuzz_seeds`); otherwise does nothing.
#[test]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("SIGNAL_STORE_SEED_DIR") else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    let dir = std::path::PathBuf::from(dir);
    std::fs::write(
        dir.join("seed-store"),
        &sample_store().encode().unwrap()[..],
    )
    .unwrap();
    let mut account = signal_client::Account::generate("+15550009999", &mut rand::rng()).unwrap();
    keys::install_initial_keys(&mut account.store, ts(), &mut rand::rng()).unwrap();
    std::fs::write(dir.join("seed-account"), &account.encode().unwrap()[..]).unwrap();
}

#[test]
fn book_keys_of_hidden_numbers_fit_and_round_trip() {
    // An owner's key for an account whose number is hidden ('+' and 20 digits) is stored
    // like a number; one character more is refused.
    let mut s = ProtocolStore::new(IdentityKeyPair::generate(&mut rand::rng()), 5);
    let aci = aci_from_bytes([4; 16]);
    let key = "+18446744073709551615";
    assert_eq!(key.len(), signal_client::store::MAX_BOOK_NUMBER_LEN);
    s.set_e164(&aci, key).unwrap();
    let d = ProtocolStore::decode(&s.encode().unwrap()).unwrap();
    assert_eq!(d.aci_for_e164(key), Some(aci));
    assert!(matches!(
        s.set_e164(&aci, "+184467440737095516150"),
        Err(Error::TooLarge { what: "e164", .. })
    ));
    // Sharing the number later moves the entry to it.
    s.set_e164(&aci, "+15550004444").unwrap();
    assert_eq!(s.aci_for_e164(key), None);
    assert_eq!(s.aci_for_e164("+15550004444"), Some(aci));
}
