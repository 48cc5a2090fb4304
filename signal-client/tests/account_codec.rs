#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! The account encoding (SPEC.md §2).

use signal_client::account::{Account, ACCOUNT_MAGIC};
use signal_client::Error;

fn sample() -> Account {
    let mut a = Account::generate("+15551230000", &mut rand::rng()).unwrap();
    a.next_prekey_id = 41;
    a
}

#[test]
fn round_trip_keeps_everything() {
    let a = sample();
    let e = a.encode().unwrap();
    let d = Account::decode(&e).unwrap();
    assert_eq!(d.credentials.e164, "+15551230000");
    assert_eq!(d.credentials.password(), a.credentials.password());
    assert_eq!(d.credentials.aci, a.credentials.aci);
    assert_eq!(d.credentials.pni, a.credentials.pni);
    assert_eq!(d.profile_key(), a.profile_key());
    assert_eq!(d.next_prekey_id, 41);
    assert_eq!(d.store.registration_id(), a.store.registration_id());
    assert_eq!(&d.encode().unwrap()[..], &e[..]);
    assert_eq!(&e[..4], ACCOUNT_MAGIC);
}

#[test]
fn truncation_trailing_and_magic_are_named() {
    let e = sample().encode().unwrap();
    for cut in 0..e.len() {
        assert!(matches!(
            Account::decode(&e[..cut]),
            Err(Error::Truncated { .. })
        ));
    }
    let mut t = e.to_vec();
    t.push(1);
    assert!(matches!(
        Account::decode(&t),
        Err(Error::TrailingBytes { count: 1 })
    ));
    let mut m = e.to_vec();
    m[0] ^= 1;
    assert!(matches!(
        Account::decode(&m),
        Err(Error::BadMagic { what: "account" })
    ));
}

#[test]
fn debug_output_is_redacted() {
    let a = sample();
    let s = format!("{a:?}");
    assert!(!s.contains("+15551230000"));
    assert!(!s.contains(a.credentials.password()));
}

#[test]
fn bad_number_is_refused() {
    assert!(matches!(
        Account::generate("15551230000", &mut rand::rng()),
        Err(Error::Corrupt { what: "e164" })
    ));
}
