//! Members whose number Signal hides: the pseudonym range, its derivation, the codec, and
//! the rename when such a member later shares their number (VAULT.md §5).

use super::{phone, rng};
use crate::vault::codec::MODEL_HEADER_LEN;
use crate::vault::model::{ChannelState, Language, Phone, Role, PSEUDONYM_MIN};
use crate::vault::{Record, VaultError};

const NOW: u64 = 1_800_000_000;

fn aci(i: u8) -> [u8; 16] {
    let mut a = [0x5au8; 16];
    a[0] = i;
    a
}

#[test]
fn pseudonyms_are_deterministic_distinct_and_above_every_e164_number() {
    let a = Phone::pseudonym(&aci(1));
    assert_eq!(a, Phone::pseudonym(&aci(1)));
    assert!(a.is_pseudonym());
    assert!(a.as_u64() >= PSEUDONYM_MIN);
    let mut seen: Vec<u64> = (0..=255u8)
        .map(|i| Phone::pseudonym(&aci(i)).as_u64())
        .collect();
    assert!(seen.iter().all(|&v| v >= PSEUDONYM_MIN));
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 256, "256 ACIs, 256 pseudonyms");
    // The largest E.164 number is not one, and sorts below every pseudonym.
    let max_e164 = Phone::parse("+999999999999999").unwrap();
    assert!(!max_e164.is_pseudonym());
    assert!(max_e164 < a);
    // Known answer: pins the label and the reduction (a change would orphan members).
    let h = {
        use sha2::Digest as _;
        let mut d = sha2::Sha256::new();
        d.update(b"sealboost member pseudonym v1\0");
        d.update(aci(1));
        let out = d.finalize();
        u64::from_be_bytes(out[..8].try_into().unwrap())
    };
    assert_eq!(
        a.as_u64(),
        PSEUDONYM_MIN + h % (u64::MAX - PSEUDONYM_MIN + 1)
    );
}

#[test]
fn parse_never_yields_a_pseudonym_but_the_book_key_round_trips() {
    let p = Phone::pseudonym(&aci(7));
    let key = p.to_e164_string();
    assert!((18..=21).contains(&key.len()), "{}", key.len());
    assert_eq!(Phone::parse(&key), Err(VaultError::InvalidPhone));
    assert_eq!(Phone::from_book_key(&key), Some(p.duplicate()));
    let n = Phone::parse("+15551234567").unwrap();
    assert_eq!(Phone::from_book_key("+15551234567"), Some(n));
    for bad in [
        // 16 digits: between the two ranges.
        "+1000000000000000",
        "+9999999999999999",
        // Leading zero, above u64::MAX, not digits, no plus.
        "+01000000000000000",
        "+18446744073709551616",
        "+99999999999999999999",
        "+1000000000000000a",
        "10000000000000000",
        "+",
        "",
    ] {
        assert_eq!(Phone::from_book_key(bad), None, "{bad}");
    }
    assert_eq!(
        Phone::from_book_key("+18446744073709551615").map(|p| p.as_u64()),
        Some(u64::MAX)
    );
    assert_eq!(
        Phone::from_book_key("+10000000000000000").map(|p| p.as_u64()),
        Some(PSEUDONYM_MIN)
    );
    // Debug stays redacted.
    assert_eq!(format!("{p:?}"), "Phone(<redacted>)");
}

#[test]
fn codec_accepts_both_ranges_and_refuses_the_gap() {
    let mut s = ChannelState::new(&mut rng(41));
    let hidden = Phone::pseudonym(&aci(3));
    s.add_member(phone(1), Role::Admin, Language::En).unwrap();
    s.add_member(hidden.duplicate(), Role::Subscriber, Language::Fr)
        .unwrap();
    s.hotline_id_for(&hidden, NOW).unwrap();
    s.add_invite(&hidden, &phone(9), NOW).unwrap();
    s.ban(&Phone::pseudonym(&aci(4))).unwrap();
    let enc = s.encode();
    let back = ChannelState::decode(&enc).unwrap();
    assert_eq!(*back.encode(), *enc);
    assert!(back
        .member(&hidden)
        .is_some_and(|m| m.phone().is_pseudonym()));
    assert_eq!(back.hotline_sender(1, NOW), Some(&hidden));
    assert!(back.is_banned(&Phone::pseudonym(&aci(4))));

    // The second member's phone (12-byte records after the count) set into the gap
    // between E.164 and pseudonyms.
    let at = MODEL_HEADER_LEN + 4 + 12;
    for (v, ok) in [
        (1_000_000_000_000_000u64, false),
        (PSEUDONYM_MIN - 1, false),
        (PSEUDONYM_MIN, true),
        (u64::MAX, true),
    ] {
        let mut b = enc.to_vec();
        b[at..at + 8].copy_from_slice(&v.to_be_bytes());
        let r = ChannelState::decode(&b);
        if ok {
            assert!(r.is_ok(), "{v}");
        } else {
            assert_eq!(
                r.unwrap_err(),
                VaultError::Malformed {
                    record: Record::Model,
                    what: "member phone"
                },
                "{v}"
            );
        }
    }
}

#[test]
fn a_member_who_shares_their_number_stays_one_member_with_their_settings() {
    let mut s = ChannelState::new(&mut rng(42));
    let hidden = Phone::pseudonym(&aci(5));
    let number = phone(50);
    s.add_member(phone(1), Role::Admin, Language::En).unwrap();
    s.add_member(hidden.duplicate(), Role::Subscriber, Language::De)
        .unwrap();
    let id = s.hotline_id_for(&hidden, NOW).unwrap();
    s.add_invite(&hidden, &phone(60), NOW).unwrap();
    s.add_invite(&phone(1), &phone(60), NOW).unwrap();
    s.ban(&hidden).unwrap();
    let (subs, bans) = (s.subscriber_count(), s.ban_count());

    assert_eq!(s.rename_pseudonym(&hidden, &number), Ok(true));
    assert!(s.member(&hidden).is_none());
    let m = s.member(&number).unwrap();
    assert_eq!((m.role(), m.language), (Role::Subscriber, Language::De));
    assert_eq!(s.subscriber_count(), subs);
    assert_eq!(s.hotline_sender(id, NOW), Some(&number));
    assert_eq!(s.hotline_id_for(&number, NOW), Ok(id), "same @id");
    let invitee = phone(60);
    let inviters: Vec<u64> = s
        .invites_for(&invitee, NOW)
        .map(|i| i.inviter().as_u64())
        .collect();
    assert!(inviters.contains(&number.as_u64()) && !inviters.contains(&hidden.as_u64()));
    assert!(s.is_banned(&number) && !s.is_banned(&hidden));
    assert_eq!(s.ban_count(), bans);
    // Sorted invariants hold: the state round-trips.
    let back = ChannelState::decode(&s.encode()).unwrap();
    assert_eq!(*back.encode(), *s.encode());

    // Nothing left to rename.
    assert_eq!(s.rename_pseudonym(&hidden, &number), Ok(false));
    // Only pseudonym → number.
    assert_eq!(
        s.rename_pseudonym(&number, &phone(2)),
        Err(VaultError::InvalidPhone)
    );
    assert_eq!(
        s.rename_pseudonym(&hidden, &Phone::pseudonym(&aci(6))),
        Err(VaultError::InvalidPhone)
    );
}

#[test]
fn renaming_onto_an_existing_member_keeps_that_membership() {
    let mut s = ChannelState::new(&mut rng(43));
    let hidden = Phone::pseudonym(&aci(8));
    let number = phone(80);
    s.add_member(number.duplicate(), Role::Subscriber, Language::Es)
        .unwrap();
    s.add_member(hidden.duplicate(), Role::Subscriber, Language::Fr)
        .unwrap();
    s.add_invite(&hidden, &phone(90), NOW).unwrap();
    s.add_invite(&number, &phone(90), NOW + 5).unwrap();
    assert_eq!(s.subscriber_count(), 2);

    assert_eq!(s.rename_pseudonym(&hidden, &number), Ok(true));
    assert_eq!(s.subscriber_count(), 1);
    assert_eq!(s.members().len(), 1);
    assert_eq!(s.member(&number).unwrap().language, Language::Es);
    // The two invites from the same person are one now, the later one.
    let inv: Vec<u64> = s
        .invites_for(&phone(90), NOW)
        .map(|i| i.created_at())
        .collect();
    assert_eq!(inv, [NOW + 5]);
    ChannelState::decode(&s.encode()).unwrap();
}
