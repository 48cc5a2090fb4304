//! The channel model: phone parsing, member/ban/hotline/invite rules, expiry, codec checks.

use super::{channel, phone, rng};
use crate::vault::codec::MODEL_HEADER_LEN;
use crate::vault::model::{
    ChannelState, Language, Phone, Role, VouchMode, HOTLINE_TTL_SECS, INVITE_TTL_SECS, MAX_MEMBERS,
};
use crate::vault::{Record, VaultError};

const NOW: u64 = 1_800_000_000;

fn max_members_u32() -> u32 {
    u32::try_from(MAX_MEMBERS).unwrap()
}

#[test]
fn phone_parsing_is_strict_e164() {
    for ok in [
        "+15551234567",
        "+49301234567",
        "+12345678",
        "+123456789012345",
    ] {
        let p = Phone::parse(ok).unwrap();
        assert_eq!(*p.to_e164_string(), ok);
    }
    for bad in [
        "15551234567",
        "+05551234567",
        "+1234567",
        "+1234567890123456",
        "+1555 1234567",
        "+1555123456a",
        "+",
        "",
        "++15551234567",
        "+١٢٣٤٥٦٧٨٩",
    ] {
        assert_eq!(
            Phone::parse(bad).unwrap_err(),
            VaultError::InvalidPhone,
            "{bad}"
        );
    }
}

#[test]
fn defaults_match_the_design() {
    let s = ChannelState::new(&mut rng(1));
    let set = s.settings();
    assert!(set.hotline_on());
    assert_eq!(set.vouch_mode(), VouchMode::Off);
    assert_eq!(set.vouch_level(), 1);
    assert_eq!(set.disappearing_timer_secs(), 604_800);
    assert_eq!(set.subscriber_limit(), 20_000);
    assert!(s.members().is_empty());
}

#[test]
fn members_are_unique_sorted_and_admin_numbers_stable() {
    let mut s = ChannelState::new(&mut rng(2));
    assert_eq!(
        s.add_member(phone(5), Role::Admin, Language::En),
        Ok(Some(1))
    );
    assert_eq!(
        s.add_member(phone(1), Role::Admin, Language::Fr),
        Ok(Some(2))
    );
    assert_eq!(
        s.add_member(phone(3), Role::Subscriber, Language::De),
        Ok(None)
    );
    assert_eq!(
        s.add_member(phone(3), Role::Admin, Language::En),
        Err(VaultError::AlreadyMember)
    );
    let order: Vec<u64> = s.members().iter().map(|m| m.phone().as_u64()).collect();
    assert_eq!(order, [phone(1), phone(3), phone(5)].map(|p| p.as_u64()));

    // ADMIN 1 leaves; ADMIN 2 keeps its number; the next admin is 3, never 1 again.
    assert!(s.remove_member(&phone(5)).is_some());
    assert_eq!(s.member(&phone(1)).unwrap().admin_index(), Some(2));
    assert_eq!(s.promote_to_admin(&phone(3)), Ok(3));
    assert_eq!(s.admin_count(), 2);
    assert_eq!(s.subscriber_count(), 0);
    assert_eq!(s.promote_to_admin(&phone(9)), Err(VaultError::NotMember));
    s.set_language(&phone(3), Language::Es).unwrap();
    assert_eq!(s.member(&phone(3)).unwrap().language, Language::Es);
}

#[test]
fn subscriber_limit_is_enforced() {
    let mut s = ChannelState::new(&mut rng(3));
    s.settings_mut().set_subscriber_limit(2).unwrap();
    s.add_member(phone(1), Role::Subscriber, Language::En)
        .unwrap();
    s.add_member(phone(2), Role::Subscriber, Language::En)
        .unwrap();
    assert_eq!(
        s.add_member(phone(3), Role::Subscriber, Language::En),
        Err(VaultError::LimitReached {
            what: "subscribers",
            max: 2
        })
    );
    // Admins do not count against the subscriber limit.
    s.add_member(phone(3), Role::Admin, Language::En).unwrap();
    assert_eq!(
        s.settings_mut().set_subscriber_limit(max_members_u32() + 1),
        Err(VaultError::InvalidSetting {
            what: "subscriber limit"
        })
    );
    for bad in [0, 11] {
        assert_eq!(
            s.settings_mut().set_vouch_level(bad),
            Err(VaultError::InvalidSetting {
                what: "vouch level"
            })
        );
    }
    s.settings_mut().set_vouch_level(10).unwrap();
}

#[test]
fn bans_are_keyed_hashes() {
    let mut s = ChannelState::new(&mut rng(4));
    s.ban(&phone(7)).unwrap();
    s.ban(&phone(7)).unwrap();
    assert_eq!(s.ban_count(), 1);
    assert!(s.is_banned(&phone(7)));
    assert!(!s.is_banned(&phone(8)));
    // The same number hashes differently under another channel's ban key.
    let other = ChannelState::new(&mut rng(5));
    assert_ne!(s.bans[0], {
        let mut o = other;
        o.ban(&phone(7)).unwrap();
        o.bans[0]
    });
    // No phone number in the encoded bans.
    let enc = s.encode();
    assert!(!enc.windows(8).any(|w| w == phone(7).as_u64().to_be_bytes()));
}

#[test]
fn hotline_ids_are_stable_then_expire() {
    let mut s = ChannelState::new(&mut rng(6));
    let a = s.hotline_id_for(&phone(1), NOW).unwrap();
    let b = s.hotline_id_for(&phone(2), NOW + 10).unwrap();
    assert_eq!((a, b), (1, 2));
    assert_eq!(s.hotline_id_for(&phone(1), NOW + 20).unwrap(), 1);
    assert_eq!(s.hotline_sender(1, NOW + 30).unwrap(), &phone(1));
    // After 3 days @1 is gone and the sender gets a fresh id.
    let later = NOW + HOTLINE_TTL_SECS;
    assert!(s.hotline_sender(1, later).is_none());
    assert_eq!(s.hotline_id_for(&phone(1), later).unwrap(), 3);
}

#[test]
fn expire_drops_exactly_the_expired_records() {
    let mut s = ChannelState::new(&mut rng(7));
    // Hotline records created at NOW-3d (expires exactly now), NOW-3d+1 (1 s left), NOW.
    s.hotline_id_for(&phone(1), NOW - HOTLINE_TTL_SECS).unwrap();
    s.hotline_id_for(&phone(2), NOW - HOTLINE_TTL_SECS + 1)
        .unwrap();
    s.hotline_id_for(&phone(3), NOW).unwrap();
    s.add_invite(&phone(10), &phone(11), NOW - INVITE_TTL_SECS)
        .unwrap();
    s.add_invite(&phone(10), &phone(12), NOW - INVITE_TTL_SECS + 1)
        .unwrap();
    s.add_invite(&phone(13), &phone(12), NOW - HOTLINE_TTL_SECS)
        .unwrap();
    s.expire(NOW);
    let ids: Vec<u32> = s.hotline_records().iter().map(|r| r.id()).collect();
    assert_eq!(ids, [2, 3]);
    let invites: Vec<(u64, u64)> = s
        .invites()
        .iter()
        .map(|i| (i.inviter().as_u64(), i.invitee().as_u64()))
        .collect();
    assert_eq!(
        invites,
        [
            (phone(10).as_u64(), phone(12).as_u64()),
            (phone(13).as_u64(), phone(12).as_u64())
        ]
    );
    s.expire(NOW + 1);
    assert_eq!(s.hotline_records().len(), 1);
    assert_eq!(s.invites().len(), 1);
}

#[test]
fn invites_per_invitee() {
    let mut s = ChannelState::new(&mut rng(8));
    s.add_invite(&phone(1), &phone(9), NOW).unwrap();
    s.add_invite(&phone(2), &phone(9), NOW).unwrap();
    s.add_invite(&phone(1), &phone(9), NOW + 5).unwrap(); // refresh, not a duplicate
    s.add_invite(&phone(1), &phone(8), NOW).unwrap();
    assert_eq!(s.invites_for(&phone(9), NOW).count(), 2);
    assert_eq!(s.invites_for(&phone(9), NOW + INVITE_TTL_SECS).count(), 1);
    assert_eq!(s.remove_invites_for(&phone(9)), 2);
    assert_eq!(s.invites().len(), 1);
}

#[test]
fn deauthorization_follows_the_admin() {
    let mut s = ChannelState::new(&mut rng(9));
    s.add_member(phone(1), Role::Admin, Language::En).unwrap();
    s.add_member(phone(2), Role::Subscriber, Language::En)
        .unwrap();
    assert_eq!(s.deauthorize(&phone(2)), Err(VaultError::NotMember));
    s.deauthorize(&phone(1)).unwrap();
    assert!(s.is_deauthorized(&phone(1)));
    let back = ChannelState::decode(&s.encode()).unwrap();
    assert!(back.is_deauthorized(&phone(1)));
    s.remove_member(&phone(1));
    assert!(!s.is_deauthorized(&phone(1)));
}

fn malformed(what: &'static str) -> VaultError {
    VaultError::Malformed {
        record: Record::Model,
        what,
    }
}

/// Offsets inside the model encoding of `channel(2, ..)` with no other records.
const MEMBERS_AT: usize = MODEL_HEADER_LEN + 4;

fn two_members() -> Vec<u8> {
    let mut s = ChannelState::new(&mut rng(10));
    s.add_member(phone(1), Role::Admin, Language::En).unwrap();
    s.add_member(phone(2), Role::Subscriber, Language::En)
        .unwrap();
    s.encode().to_vec()
}

#[test]
fn codec_rejects_each_invalid_field() {
    let good = two_members();
    ChannelState::decode(&good).unwrap();
    let case = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        ChannelState::decode(&b).unwrap_err()
    };
    assert_eq!(
        case(0, 1),
        VaultError::UnsupportedVersion {
            record: Record::Model,
            version: 1
        }
    );
    assert_eq!(case(1, 0x03), malformed("unknown flag bits"));
    assert_eq!(case(2, 3), malformed("vouch mode"));
    assert_eq!(case(3, 0), malformed("vouch level"));
    assert_eq!(case(3, 11), malformed("vouch level"));
    assert_eq!(case(8, 0xff), malformed("subscriber limit"));
    // Second member's phone below the first: order broken.
    assert_eq!(
        case(MEMBERS_AT + 12 + 7, 0),
        malformed("members not strictly ascending")
    );
    assert_eq!(case(MEMBERS_AT + 8, 2), malformed("member role"));
    assert_eq!(case(MEMBERS_AT + 9, 4), malformed("member language"));
    assert_eq!(
        case(MEMBERS_AT + 11, 0),
        malformed("admin index out of range")
    );
    assert_eq!(
        case(MEMBERS_AT + 12 + 11, 1),
        malformed("subscriber with an admin index")
    );
    // First phone pushed beyond 15 digits, below the pseudonyms (2^52 + …: 16 digits).
    assert_eq!(case(MEMBERS_AT + 1, 0x10), malformed("member phone"));

    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        ChannelState::decode(&trailing).unwrap_err(),
        malformed("trailing bytes")
    );
    for cut in 0..good.len() {
        assert!(
            matches!(
                ChannelState::decode(&good[..cut]),
                Err(VaultError::Truncated { .. })
            ),
            "cut {cut}"
        );
    }
}

#[test]
fn codec_bounds_counts_before_allocating() {
    let mut b = two_members();
    b[MODEL_HEADER_LEN..MEMBERS_AT].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        ChannelState::decode(&b).unwrap_err(),
        VaultError::TooLarge {
            what: "members",
            len: u32::MAX as usize,
            max: MAX_MEMBERS
        }
    );
    // A count within bounds but beyond the input is truncation, not an allocation.
    b[MODEL_HEADER_LEN..MEMBERS_AT].copy_from_slice(&max_members_u32().to_be_bytes());
    assert_eq!(
        ChannelState::decode(&b).unwrap_err(),
        VaultError::Truncated {
            record: Record::Model,
            what: "members"
        }
    );
}

#[test]
fn realistic_channel_encodes_compactly() {
    let s = channel(10_000, 1, NOW);
    // 12 B per member plus a few hundred records.
    assert_eq!(
        s.encoded_len(),
        MODEL_HEADER_LEN + 10 * 4 + 10_000 * 12 + 200 * 20 + 100 * 24 + 50 * 32
    );
    assert_eq!(s.admin_count(), 500);
    let back = ChannelState::decode(&s.encode()).unwrap();
    assert_eq!(*back.encode(), *s.encode());
}
