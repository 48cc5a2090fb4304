//! Per-admin keys (VAULT.md §5 "admin keys", §20): the model section's codec and checks,
//! the request proof, and what happens to a key when its admin leaves or re-enrols.

use ed25519_dalek::Signer as _;

use super::{admin_signing_key, phone, rng};
use crate::vault::admin_keys::{auth_message, reenrol_admin};
use crate::vault::codec::{ADMIN_KEY_REC_LEN, MODEL_VERSION};
use crate::vault::lifecycle::{complete_admin, OtpSet};
use crate::vault::model::{ChannelState, Language, Phone, Role};
use crate::vault::{ChannelId, Record, Sk, VaultError};

const NOW: u64 = 1_800_000_000;
const BINDING: [u8; 32] = [0x42; 32];

fn id() -> ChannelId {
    ChannelId::from_bytes([7; 16])
}

fn malformed(what: &'static str) -> VaultError {
    VaultError::Malformed {
        record: Record::Model,
        what,
    }
}

fn unauthorized(what: &'static str) -> VaultError {
    VaultError::AdminUnauthorized { what }
}

/// ADMIN 1 = phone(1) with key 1, ADMIN 2 = phone(2) with key 2, a subscriber phone(3).
fn two_admins() -> ChannelState {
    let mut s = ChannelState::new(&mut rng(1));
    s.add_member(phone(1), Role::Admin, Language::En).unwrap();
    s.add_member(phone(2), Role::Admin, Language::En).unwrap();
    s.add_member(phone(3), Role::Subscriber, Language::En)
        .unwrap();
    for n in [1u16, 2] {
        let key = admin_signing_key(u64::from(n)).verifying_key().to_bytes();
        s.set_admin_key(n, key).unwrap();
    }
    s
}

fn proof(seed: u64, who: &Phone, binding: &[u8]) -> Vec<u8> {
    let msg = auth_message(&id(), who, binding).unwrap();
    admin_signing_key(seed).sign(&msg).to_bytes().to_vec()
}

/// Where the admin-keys section starts: after the proposals count (no proposals).
fn keys_at(bytes: &[u8], s: &ChannelState) -> usize {
    let tail = 4 + s.signal_account().len() + 4 + s.protocol_store().len();
    bytes.len() - tail - s.admin_keys().len() * ADMIN_KEY_REC_LEN - 4
}

#[test]
fn admin_keys_round_trip_canonically_and_old_models_are_refused() {
    let s = two_admins();
    let bytes = s.encode();
    assert_eq!(bytes.len(), s.encoded_len());
    let back = ChannelState::decode(&bytes).unwrap();
    assert_eq!(back.admin_keys(), s.admin_keys());
    assert_eq!(*back.encode(), *bytes);
    assert_eq!(MODEL_VERSION, 3);
    let mut old = bytes.to_vec();
    old[0] = 2;
    assert_eq!(
        ChannelState::decode(&old).unwrap_err(),
        VaultError::UnsupportedVersion {
            record: Record::Model,
            version: 2
        }
    );
}

#[test]
fn the_admin_keys_section_is_checked() {
    let s = two_admins();
    let good = s.encode().to_vec();
    let at = keys_at(&good, &s);
    assert_eq!(&good[at..at + 4], &2u32.to_be_bytes());
    let first = at + 4;
    let second = first + ADMIN_KEY_REC_LEN;
    let case = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        ChannelState::decode(&b).unwrap_err()
    };
    // Both records name ADMIN 1: not strictly ascending.
    assert_eq!(
        case(&|b| b[second + 1] = 1),
        malformed("admin keys not strictly ascending")
    );
    // ADMIN 3 does not exist (the subscriber has no index).
    assert_eq!(
        case(&|b| b[second + 1] = 3),
        malformed("admin key of no current admin")
    );
    // The identity point (small order) is no usable key.
    assert_eq!(
        case(&|b| {
            b[first + 2..first + 34].fill(0);
            b[first + 2] = 1;
        }),
        malformed("admin key is not a usable Ed25519 key")
    );
    // A count above the admin bound is refused before anything is read.
    assert_eq!(
        case(&|b| b[at..at + 4].copy_from_slice(&1001u32.to_be_bytes())),
        VaultError::TooLarge {
            what: "admin keys",
            len: 1001,
            max: 1000
        }
    );
    assert_eq!(
        case(&|b| b[at..at + 4].copy_from_slice(&3u32.to_be_bytes())),
        VaultError::Truncated {
            record: Record::Model,
            what: "admin keys"
        }
    );
}

#[test]
fn only_the_named_admins_own_key_over_this_binding_authenticates() {
    let s = two_admins();
    let (a, b) = (phone(1), phone(2));
    assert_eq!(
        s.authenticate_admin(&id(), &a, &BINDING, Some(&proof(1, &a, &BINDING))),
        Ok(1)
    );
    // The attack: ADMIN 1 signs a request that names ADMIN 2.
    assert_eq!(
        s.authenticate_admin(&id(), &b, &BINDING, Some(&proof(1, &b, &BINDING))),
        Err(unauthorized("signature"))
    );
    assert_eq!(
        s.authenticate_admin(&id(), &b, &BINDING, None),
        Err(unauthorized("no proof"))
    );
    // ADMIN 2's proof from another TLS session, or for another admin, does not carry over.
    assert_eq!(
        s.authenticate_admin(&id(), &b, &[0x43; 32], Some(&proof(2, &b, &BINDING))),
        Err(unauthorized("signature"))
    );
    assert_eq!(
        s.authenticate_admin(&id(), &a, &BINDING, Some(&proof(2, &b, &BINDING))),
        Err(unauthorized("signature"))
    );
    assert_eq!(
        s.authenticate_admin(&id(), &b, &BINDING, Some(&[0; 63])),
        Err(unauthorized("proof length"))
    );
    assert_eq!(
        s.authenticate_admin(&id(), &b, &[], Some(&proof(2, &b, &BINDING))),
        Err(unauthorized("no TLS binding"))
    );
    // A subscriber or a stranger is no admin at all.
    assert_eq!(
        s.authenticate_admin(&id(), &phone(3), &BINDING, None),
        Err(VaultError::NotMember)
    );
    // An admin with no key registered cannot act.
    let mut s = s;
    s.add_member(phone(4), Role::Admin, Language::En).unwrap();
    assert_eq!(
        s.authenticate_admin(
            &id(),
            &phone(4),
            &BINDING,
            Some(&proof(4, &phone(4), &BINDING))
        ),
        Err(unauthorized("no key registered for this admin"))
    );
    assert_eq!(
        s.set_admin_key(9, admin_signing_key(9).verifying_key().to_bytes()),
        Err(VaultError::NotMember)
    );
}

#[test]
fn removing_an_admin_drops_their_key_and_pending_re_enrolment() {
    let mut s = two_admins();
    let mut otps = OtpSet::new(id());
    let sk = Sk::from_bytes([9; 32]);
    reenrol_admin(
        &id(),
        &mut s,
        &mut otps,
        &sk,
        &phone(2),
        NOW,
        60,
        &mut rng(2),
    )
    .unwrap();
    assert_eq!(s.pending_admins().len(), 1);
    s.remove_member(&phone(2)).unwrap();
    assert!(s.admin_key(2).is_none());
    assert!(s.admin_key(1).is_some());
    assert!(s.pending_admins().is_empty());
    ChannelState::decode(&s.encode()).unwrap();
    // Re-added later, they are a new admin with a new index and no key until they accept.
    s.add_member(phone(2), Role::Admin, Language::En).unwrap();
    let n = s.member(&phone(2)).unwrap().admin_index().unwrap();
    assert_eq!(n, 3);
    assert!(s.admin_key(n).is_none());
}

#[test]
fn a_pseudonymous_admin_merged_into_an_existing_member_leaves_no_key() {
    let mut s = two_admins();
    let pseudo = Phone::pseudonym(&[5; 16]);
    let n = s
        .add_member(pseudo.duplicate(), Role::Admin, Language::En)
        .unwrap()
        .unwrap();
    s.set_admin_key(n, admin_signing_key(5).verifying_key().to_bytes())
        .unwrap();
    // The hidden number turns out to be ADMIN 1's: that membership (and key) is kept.
    assert!(s.rename_pseudonym(&pseudo, &phone(1)).unwrap());
    assert!(s.admin_key(n).is_none());
    assert!(s.admin_key(1).is_some());
    ChannelState::decode(&s.encode()).unwrap();
}

#[test]
fn a_re_enrolment_passphrase_keeps_the_index_and_replaces_the_key() {
    let mut s = two_admins();
    let mut otps = OtpSet::new(id());
    let sk = Sk::from_bytes([9; 32]);
    let b = phone(2);
    let first = reenrol_admin(&id(), &mut s, &mut otps, &sk, &b, NOW, 60, &mut rng(3)).unwrap();
    // A second resend replaces the first passphrase.
    let otp = reenrol_admin(&id(), &mut s, &mut otps, &sk, &b, NOW, 60, &mut rng(4)).unwrap();
    assert_eq!(otps.len(), 1);
    assert_eq!(
        complete_admin(&id(), &mut s, &first, NOW + 1).unwrap_err(),
        VaultError::OtpUnknown
    );
    assert_eq!(complete_admin(&id(), &mut s, &otp, NOW + 1).unwrap(), 2);
    let new = admin_signing_key(22).verifying_key().to_bytes();
    s.set_admin_key(2, new).unwrap();
    assert_eq!(s.admin_key(2), Some(&new));
    assert_eq!(
        s.authenticate_admin(&id(), &b, &BINDING, Some(&proof(2, &b, &BINDING))),
        Err(unauthorized("signature"))
    );
    assert_eq!(
        s.authenticate_admin(&id(), &b, &BINDING, Some(&proof(22, &b, &BINDING))),
        Ok(2)
    );
    // Only admins re-enrol; a subscriber is invited instead.
    assert_eq!(
        reenrol_admin(
            &id(),
            &mut s,
            &mut otps,
            &sk,
            &phone(3),
            NOW,
            60,
            &mut rng(5)
        )
        .unwrap_err(),
        VaultError::NotMember
    );
}

#[test]
fn the_signed_message_is_label_channel_phone_length_binding() {
    let m = auth_message(&id(), &phone(1), &BINDING).unwrap();
    let mut want = b"sealboost admin auth v1".to_vec();
    want.extend_from_slice(&[7; 16]);
    want.extend_from_slice(&15_550_000_001u64.to_be_bytes());
    want.extend_from_slice(&32u16.to_be_bytes());
    want.extend_from_slice(&BINDING);
    assert_eq!(m, want);
    assert!(auth_message(&id(), &phone(1), &[0; 65]).is_none());
}
