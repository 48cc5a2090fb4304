//! Key lifecycle (VAULT.md §11–§15): rotation and stale-key catch-up, OTP onboarding, full
//! re-key, proposals and voting, SK proofs, and the new record codecs.

use rand::rngs::StdRng;

use super::{channel, phone, rng};
use crate::vault::lifecycle::rotate;
use crate::vault::lifecycle::{
    catch_up, challenge, complete_admin, invite_admin, rekey_to, response, Challenge,
    DiscardReason, Otp, OtpSet, Outcome, ProposalKind, SkVerifier, StaleTable,
    DEFAULT_OTP_TTL_SECS, MAX_STALE_ENTRIES, OTP_TEXT_LEN,
};
use crate::vault::limiter::UnlockLimiter;
use crate::vault::model::{ChannelState, Language, Role};
use crate::vault::{
    new_channel, open_inbound, open_state, seal_inbound, seal_state, ChannelId, Dk, KeyRecord,
    Record, Sk, VaultError,
};

const NOW: u64 = 1_800_000_000;
const DAY: u64 = 24 * 60 * 60;

fn same(a: &Sk, b: &Sk) -> bool {
    a.expose() == b.expose()
}
fn copy(sk: &Sk) -> Sk {
    Sk::from_bytes(*sk.expose())
}

/// A channel with `admins` admins (phones 0..admins) and `subs` subscribers after them.
struct Ch {
    id: ChannelId,
    sk: Sk,
    record: KeyRecord,
    dk: Dk,
    state: ChannelState,
    table: StaleTable,
    otps: OtpSet,
    r: StdRng,
}

fn setup(admins: u64, subs: u64, seed: u64) -> Ch {
    let mut r = rng(seed);
    let sk = Sk::generate(&mut r);
    let (id, record, dk) = new_channel(&sk, &mut r);
    let mut state = ChannelState::new(&mut r);
    for i in 0..admins {
        state
            .add_member(phone(i), Role::Admin, Language::En)
            .unwrap();
    }
    for i in admins..admins + subs {
        state
            .add_member(phone(i), Role::Subscriber, Language::En)
            .unwrap();
    }
    Ch {
        id,
        sk,
        record,
        dk,
        state,
        table: StaleTable::new(id),
        otps: OtpSet::new(id),
        r,
    }
}

impl Ch {
    /// Rotates to a fresh SK; returns the old one.
    fn rotate(&mut self) -> Sk {
        let new_sk = Sk::generate(&mut self.r);
        let out = rotate(
            &self.id,
            &mut self.state,
            &self.record,
            &self.dk,
            &self.sk,
            &new_sk,
            &mut self.table,
            &mut self.r,
        )
        .unwrap();
        self.record = out.key_record;
        std::mem::replace(&mut self.sk, new_sk)
    }
}

// ----- rotation (§11) -----

#[test]
fn rotation_rewraps_dk_and_the_old_key_never_unwraps_again() {
    let mut c = setup(2, 3, 1);
    let ek = *c.record.ek_public();
    let old = c.rotate();
    assert_eq!(c.record.unwrap(&old).unwrap_err(), VaultError::WrongKey);
    let dk = c.record.unwrap(&c.sk).unwrap();
    assert_eq!(dk.ek_public(), &ek);
    assert_eq!(dk.key_epoch(), 1);
    assert_eq!(c.state.sk_generation(), 2);
    assert_eq!(c.table.entries().len(), 1);
    assert_eq!(c.table.entries()[0].from_generation(), 1);
    assert_eq!(c.table.entries()[0].to_generation(), 2);
    // The table holds a keyed id, never the SK itself.
    assert!(!c
        .table
        .encode()
        .windows(32)
        .any(|w| w == old.expose() || w == c.sk.expose()));
}

#[test]
fn lagging_admin_catches_up_after_two_rotations() {
    let mut c = setup(3, 0, 2);
    let sk0 = c.rotate();
    let sk1 = c.rotate();
    // What the host stores and serves back.
    let table = StaleTable::decode(&c.table.encode()).unwrap();
    let record = KeyRecord::decode(&c.record.encode()).unwrap();

    let (g, next) = table.lookup(&sk0).unwrap();
    assert_eq!(g, 2);
    assert!(same(&next, &sk1));

    let up = catch_up(&record, &table, copy(&sk0)).unwrap();
    assert_eq!(up.hops, 2);
    assert!(same(&up.sk, &c.sk));
    assert_eq!(up.dk.ek_public(), c.dk.ek_public());
    let up = catch_up(&record, &table, copy(&sk1)).unwrap();
    assert_eq!(up.hops, 1);
    let up = catch_up(&record, &table, copy(&c.sk)).unwrap();
    assert_eq!(up.hops, 0);
}

#[test]
fn unknown_keys_and_non_current_rotations_are_refused() {
    let mut c = setup(1, 0, 3);
    let sk0 = c.rotate();
    let stranger = Sk::generate(&mut c.r);
    assert_eq!(
        c.table.lookup(&stranger).unwrap_err(),
        VaultError::UnknownKey
    );
    assert!(matches!(
        catch_up(&c.record, &c.table, stranger),
        Err(VaultError::UnknownKey)
    ));
    // Rotating from an old key is refused: an entry is only ever keyed from the current SK.
    let new_sk = Sk::generate(&mut c.r);
    let err = rotate(
        &c.id,
        &mut c.state,
        &c.record,
        &c.dk,
        &sk0,
        &new_sk,
        &mut c.table,
        &mut c.r,
    )
    .unwrap_err();
    assert_eq!(err, VaultError::WrongKey);
    // Rotating back to a former key is refused (ids must stay unambiguous).
    let err = rotate(
        &c.id,
        &mut c.state,
        &c.record,
        &c.dk,
        &c.sk,
        &sk0,
        &mut c.table,
        &mut c.r,
    )
    .unwrap_err();
    assert!(matches!(err, VaultError::Refused { .. }));
    let same_key = copy(&c.sk);
    let err = rotate(
        &c.id,
        &mut c.state,
        &c.record,
        &c.dk,
        &c.sk,
        &same_key,
        &mut c.table,
        &mut c.r,
    )
    .unwrap_err();
    assert!(matches!(err, VaultError::Refused { .. }));
    assert_eq!(c.state.sk_generation(), 2);
}

#[test]
fn tampered_or_spliced_stale_entries_fail_authentication() {
    let mut c = setup(1, 0, 4);
    let sk0 = c.rotate();
    let good = c.table.encode();
    // Flip one byte in the to-generation, the nonce, the ciphertext, the tag.
    for at in [
        19 + 32 + 8 + 6,
        19 + 32 + 16 + 1 + 5,
        19 + 32 + 16 + 1 + 24 + 3,
        good.len() - 1,
    ] {
        let mut b = good.clone();
        b[at] ^= 1;
        let t = StaleTable::decode(&b).unwrap();
        assert_eq!(
            t.lookup(&sk0).unwrap_err(),
            VaultError::Corrupt {
                record: Record::StaleTable
            },
            "byte {at}"
        );
    }
    // Another channel id in the header: the id no longer matches (salted by channel id).
    let mut b = good.clone();
    b[1] ^= 1;
    let t = StaleTable::decode(&b).unwrap();
    assert_eq!(t.lookup(&sk0).unwrap_err(), VaultError::UnknownKey);
}

#[test]
fn interrupted_rotation_is_replaced_and_the_table_is_bounded() {
    let mut c = setup(1, 0, 5);
    let sk0 = copy(&c.sk);
    // A rotation whose state write was lost: the table has the entry, the state does not.
    let mut lost_state = ChannelState::decode(&c.state.encode()).unwrap();
    let lost_sk = Sk::generate(&mut c.r);
    rotate(
        &c.id,
        &mut lost_state,
        &c.record,
        &c.dk,
        &c.sk,
        &lost_sk,
        &mut c.table,
        &mut c.r,
    )
    .unwrap();
    // The retry from the authoritative state replaces that entry.
    c.rotate();
    assert_eq!(c.table.entries().len(), 1);
    let (_, next) = c.table.lookup(&sk0).unwrap();
    assert!(same(&next, &c.sk));

    // A rotation interrupted after the state write (generation advanced, key record not
    // rewritten): the retry from the same key replaces the entry instead of duplicating it.
    let before = copy(&c.sk);
    let mut ahead = ChannelState::decode(&c.state.encode()).unwrap();
    let lost_sk = Sk::generate(&mut c.r);
    rotate(
        &c.id,
        &mut ahead,
        &c.record,
        &c.dk,
        &c.sk,
        &lost_sk,
        &mut c.table,
        &mut c.r,
    )
    .unwrap();
    c.state = ahead;
    c.rotate();
    let table = StaleTable::decode(&c.table.encode()).unwrap();
    assert_eq!(table.entries().len(), 2);
    assert!(same(&table.lookup(&before).unwrap().1, &c.sk));
    assert!(same(
        &catch_up(&c.record, &table, copy(&sk0)).unwrap().sk,
        &c.sk
    ));

    for _ in 0..MAX_STALE_ENTRIES + 4 {
        c.rotate();
    }
    assert_eq!(c.table.entries().len(), MAX_STALE_ENTRIES);
    // The oldest generations were dropped: the very first key is no longer recognised.
    assert_eq!(c.table.lookup(&sk0).unwrap_err(), VaultError::UnknownKey);
    assert_eq!(StaleTable::decode(&c.table.encode()).unwrap(), c.table);
}

// ----- OTP (§12) -----

#[test]
fn otp_text_is_eight_groups_of_four_base32_and_parses_leniently() {
    let otp = Otp::generate(&mut rng(6));
    let text = otp.to_text();
    assert_eq!(text.len(), OTP_TEXT_LEN);
    let groups: Vec<&str> = text.split('-').collect();
    assert_eq!(groups.len(), 8);
    assert!(groups.iter().all(|g| g.len() == 4
        && g.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))));
    let id = ChannelId::from_bytes([7; 16]);
    let lower = text.to_lowercase().replace('-', " ");
    assert_eq!(Otp::parse(&lower).unwrap().id(&id), otp.id(&id));
    let compact = text.replace('-', "");
    assert_eq!(Otp::parse(&compact).unwrap().id(&id), otp.id(&id));
    // Look-alikes: 0→O, 1→I, 8→B.
    let a = Otp::parse("OIBA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA").unwrap();
    let b = Otp::parse("01 8a aaaa aaaa aaaa aaaa aaaa aaaa aaaa").unwrap();
    assert_eq!(a.id(&id), b.id(&id));
    for bad in [
        "",
        "AAAA",
        &compact[..31],
        &format!("{compact}A"),
        "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAA9",
        "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAé",
        &"A".repeat(200),
    ] {
        assert_eq!(
            Otp::parse(bad).unwrap_err(),
            VaultError::InvalidOtp,
            "{bad}"
        );
    }
    assert_eq!(format!("{otp:?}"), "Otp(<redacted>)");
}

#[test]
fn otp_onboarding_is_single_use() {
    let mut c = setup(1, 2, 7);
    let newbie = phone(1); // currently a subscriber
    let otp = invite_admin(
        &c.id,
        &mut c.state,
        &mut c.otps,
        &c.sk,
        newbie.duplicate(),
        NOW,
        DEFAULT_OTP_TTL_SECS,
        &mut c.r,
    )
    .unwrap();
    assert_eq!(DEFAULT_OTP_TTL_SECS, DAY);
    assert_eq!(c.state.pending_admins().len(), 1);
    assert_eq!(c.otps.len(), 1);
    // The pending number is sealed state; the set (host data) holds only id and ciphertext.
    let sealed = ChannelState::decode(&c.state.encode()).unwrap();
    assert_eq!(sealed.pending_admins()[0].phone(), &newbie);

    // The client types it in.
    let typed = Otp::parse(&otp.to_text()).unwrap();
    let mut set = OtpSet::decode(&c.otps.encode()).unwrap();
    let mut limiter = UnlockLimiter::new();
    let (g, sk) = set.redeem(&typed, NOW + 60, &mut limiter).unwrap();
    assert_eq!(g, 1);
    assert!(same(&sk, &c.sk));
    // Single use, also after the host stores and serves the updated set.
    let mut set = OtpSet::decode(&set.encode()).unwrap();
    assert_eq!(
        set.redeem(&typed, NOW + 61, &mut limiter).unwrap_err(),
        VaultError::OtpUsed
    );
    assert!(set.records()[0].is_used());
    // The enclave, now unlocked with that SK, makes the pending admin ADMIN 2.
    assert_eq!(
        complete_admin(&c.id, &mut c.state, &typed, NOW + 62).unwrap(),
        2
    );
    assert!(c.state.member(&newbie).unwrap().is_admin());
    assert!(c.state.pending_admins().is_empty());
    assert_eq!(
        complete_admin(&c.id, &mut c.state, &typed, NOW + 62).unwrap_err(),
        VaultError::OtpUnknown
    );
    // Acknowledged: the integrator deletes the record.
    assert!(set.remove(&typed.id(&c.id)));
    assert!(set.is_empty());
    assert_eq!(
        set.redeem(&typed, NOW + 63, &mut limiter).unwrap_err(),
        VaultError::OtpUnknown
    );
    // Inviting an existing admin is refused.
    let err = invite_admin(
        &c.id,
        &mut c.state,
        &mut c.otps,
        &c.sk,
        newbie,
        NOW,
        DAY,
        &mut c.r,
    )
    .unwrap_err();
    assert_eq!(err, VaultError::AlreadyMember);
}

#[test]
fn otp_expires_and_its_expiry_is_authenticated() {
    let mut c = setup(1, 0, 8);
    let ttl = 3600;
    let otp = invite_admin(
        &c.id,
        &mut c.state,
        &mut c.otps,
        &c.sk,
        phone(50),
        NOW,
        ttl,
        &mut c.r,
    )
    .unwrap();
    let mut limiter = UnlockLimiter::new();
    let mut set = c.otps.clone();
    assert_eq!(
        set.redeem(&otp, NOW + ttl, &mut limiter).unwrap_err(),
        VaultError::OtpExpired
    );
    assert_eq!(
        complete_admin(&c.id, &mut c.state, &otp, NOW + ttl).unwrap_err(),
        VaultError::OtpExpired
    );
    assert_eq!(set.purge_expired(NOW + ttl), 1);

    // A host that extends the expiry breaks the record's authentication.
    let mut b = c.otps.encode();
    let exp_at = 19 + 32 + 8;
    b[exp_at + 7] ^= 0x40;
    let mut set = OtpSet::decode(&b).unwrap();
    assert_eq!(
        set.redeem(&otp, NOW + 1, &mut limiter).unwrap_err(),
        VaultError::Corrupt {
            record: Record::OtpSet
        }
    );
    // Lifetimes out of range.
    for bad in [0, 31 * DAY] {
        let err = c.otps.issue(&c.sk, 1, NOW, bad, &mut c.r).unwrap_err();
        assert!(matches!(err, VaultError::InvalidSetting { .. }));
    }
}

#[test]
fn wrong_otps_are_rate_limited_per_channel() {
    let mut c = setup(1, 0, 9);
    let otp = c.otps.issue(&c.sk, 1, NOW, DAY, &mut c.r).unwrap();
    let mut limiter = UnlockLimiter::new();
    for i in 0..6 {
        let wrong = Otp::generate(&mut c.r);
        assert_eq!(
            c.otps.redeem(&wrong, NOW + i, &mut limiter).unwrap_err(),
            VaultError::OtpUnknown
        );
    }
    // The sixth failure imposed 1 s, but only failures are throttled: the right OTP
    // redeems at once (an attacker who guesses cannot lock the invitee out).
    let (g, _) = c.otps.redeem(&otp, NOW + 5, &mut limiter).unwrap();
    assert_eq!(g, 1);
    // A seventh wrong one inside the delay is `RateLimited`: the redemption reset nothing.
    let wrong = Otp::generate(&mut c.r);
    assert_eq!(
        c.otps.redeem(&wrong, NOW + 5, &mut limiter).unwrap_err(),
        VaultError::RateLimited {
            retry_after_secs: 1
        }
    );
    // Another channel is unaffected.
    let mut other = setup(1, 0, 10);
    let o = other
        .otps
        .issue(&other.sk, 1, NOW, DAY, &mut other.r)
        .unwrap();
    other.otps.redeem(&o, NOW + 5, &mut limiter).unwrap();
    let wrong = Otp::generate(&mut other.r);
    assert_eq!(
        other
            .otps
            .redeem(&wrong, NOW + 5, &mut limiter)
            .unwrap_err(),
        VaultError::OtpUnknown
    );
}

#[test]
fn an_otp_issued_before_a_rotation_still_leads_to_the_current_key() {
    let mut c = setup(1, 0, 11);
    let otp = c.otps.issue(&c.sk, 1, NOW, DAY, &mut c.r).unwrap();
    c.rotate();
    let (g, old) = c
        .otps
        .redeem(&otp, NOW + 1, &mut UnlockLimiter::new())
        .unwrap();
    assert_eq!(g, 1);
    let up = catch_up(&c.record, &c.table, old).unwrap();
    assert_eq!(up.hops, 1);
    assert!(same(&up.sk, &c.sk));
}

// ----- re-key (§13) -----

#[test]
fn removed_admin_with_saved_key_and_old_blob_cannot_read_post_removal_data() {
    let mut c = setup(4, 20, 12);
    let older = c.rotate(); // some earlier generation a lagging admin could hold
    let old_sk = copy(&c.sk);
    let old_record = c.record.encode();
    let old_blob = seal_state(&c.dk, &c.id, 1, 5, &c.state, &mut c.r).unwrap();
    // A pending invite made before the removal.
    let pending_otp = invite_admin(
        &c.id,
        &mut c.state,
        &mut c.otps,
        &c.sk,
        phone(100),
        NOW,
        DAY,
        &mut c.r,
    )
    .unwrap();

    let removed = phone(2);
    let requester = phone(0);
    let out = rekey_to(
        &c.id,
        &mut c.state,
        &c.dk,
        &c.sk,
        None,
        Some(&removed),
        Some(&requester),
        6,
        &mut c.table,
        &mut c.otps,
        NOW,
        DAY,
        &mut c.r,
    )
    .unwrap();
    assert_eq!(out.key_record.key_epoch(), 2);
    assert_eq!(out.dk.key_epoch(), 2);
    assert_eq!(out.sk_generation, 3);
    assert_ne!(out.key_record.ek_public(), c.record.ek_public());
    // OTPs for admins 1 and 3 (not the requester, not the removed one) and the pending admin.
    assert_eq!(out.otps.len(), 3);
    assert!(out
        .otps
        .iter()
        .all(|o| o.phone != removed && o.phone != requester));
    assert_eq!(c.otps.len(), 3);

    // Data written after the removal.
    let new_record = KeyRecord::decode(&out.key_record.encode()).unwrap();
    let mut after = ChannelState::decode(&c.state.encode()).unwrap();
    after.hotline_id_for(&phone(10), NOW).unwrap();
    let new_blob = seal_state(&out.dk, &c.id, 2, 7, &after, &mut c.r).unwrap();
    let new_auth = crate::vault::InboundAuthKey::derive(&out.dk, &c.id);
    let new_item = seal_inbound(
        out.key_record.ek_public(),
        &new_auth,
        &c.id,
        2,
        b"hello",
        &mut c.r,
    )
    .unwrap();

    // The removed admin: saved SK, saved old key record, replayed old blob.
    let saved_record = KeyRecord::decode(&old_record).unwrap();
    let old_dk = saved_record.unwrap(&old_sk).unwrap();
    assert!(open_state(&old_dk, &c.id, 1, &old_blob, 0).is_ok());
    assert_eq!(
        new_record.unwrap(&old_sk).unwrap_err(),
        VaultError::WrongKey
    );
    assert!(matches!(
        catch_up(&new_record, &c.table, copy(&old_sk)),
        Err(VaultError::RevokedKey)
    ));
    assert!(matches!(
        catch_up(&new_record, &c.table, copy(&older)),
        Err(VaultError::RevokedKey)
    ));
    for blob in [&out.state_blob, &new_blob] {
        assert_eq!(
            open_state(&old_dk, &c.id, 2, blob, 0).unwrap_err(),
            VaultError::KeyEpochMismatch {
                found: 2,
                expected: 1
            }
        );
        assert_eq!(
            open_state(&old_dk, &c.id, 1, blob, 0).unwrap_err(),
            VaultError::KeyEpochMismatch {
                found: 2,
                expected: 1
            }
        );
        // Even with the header's key epoch edited to the old one.
        let mut forged = blob.clone();
        forged[1..9].copy_from_slice(&1u64.to_be_bytes());
        assert_eq!(
            open_state(&old_dk, &c.id, 1, &forged, 0).unwrap_err(),
            VaultError::Corrupt {
                record: Record::State
            }
        );
    }
    assert!(matches!(
        open_inbound(&old_dk, &c.id, &new_item),
        Err(VaultError::KeyEpochMismatch { .. })
    ));
    let mut forged_item = new_item.clone();
    forged_item[1..9].copy_from_slice(&1u64.to_be_bytes());
    assert!(matches!(
        open_inbound(&old_dk, &c.id, &forged_item),
        Err(VaultError::Unauthenticated { .. })
    ));
    // A host un-revoking the table gains nothing: revoked entries hold no key material.
    let mut b = c.table.encode();
    for e in 0..c.table.entries().len() {
        b[19 + e * 121 + 48] = 0;
    }
    let unrevoked = StaleTable::decode(&b).unwrap();
    assert!(matches!(
        unrevoked.lookup(&old_sk),
        Err(VaultError::Corrupt { .. })
    ));
    // The pre-removal OTP is gone.
    assert_eq!(
        c.otps
            .redeem(&pending_otp, NOW + 1, &mut UnlockLimiter::new())
            .unwrap_err(),
        VaultError::OtpUnknown
    );

    // Remaining admins redeem their OTPs and read the new data.
    let mut limiter = UnlockLimiter::new();
    for issued in &out.otps {
        let (g, sk) = c.otps.redeem(&issued.otp, NOW + 10, &mut limiter).unwrap();
        assert_eq!(g, 3);
        assert!(same(&sk, &out.new_sk));
        let dk = new_record.unwrap(&sk).unwrap();
        let (epoch, s) = open_state(&dk, &c.id, 2, &new_blob, 6).unwrap();
        assert_eq!(epoch, 7);
        assert!(s.member(&removed).is_none());
        assert_eq!(s.admin_count(), 3);
    }
    // The pending admin's record now points at its new OTP.
    let (epoch, s) = open_state(&out.dk, &c.id, 2, &out.state_blob, 6).unwrap();
    assert_eq!(epoch, 6);
    let pend = out.otps.iter().find(|o| o.phone == phone(100)).unwrap();
    assert_eq!(s.pending_admins()[0].otp_id(), &pend.otp.id(&c.id));
    assert!(out.verifier.matches(&out.new_sk));
}

#[test]
fn rekey_refusals() {
    let mut c = setup(2, 1, 13);
    let mut go = |removed: &crate::vault::model::Phone, requester| {
        rekey_to(
            &c.id,
            &mut c.state,
            &c.dk,
            &c.sk,
            None,
            Some(removed),
            requester,
            2,
            &mut c.table,
            &mut c.otps,
            NOW,
            DAY,
            &mut c.r,
        )
        .unwrap_err()
    };
    assert_eq!(go(&phone(2), None), VaultError::NotMember);
    assert_eq!(go(&phone(99), None), VaultError::NotMember);
    let p0 = phone(0);
    assert!(matches!(go(&p0, Some(&p0)), VaultError::Refused { .. }));
}

/// The requester's client supplies the new SK (saved before asking): the re-key uses exactly
/// it, and refuses the old SK as the "new" one.
#[test]
fn rekey_to_uses_the_clients_new_key_and_refuses_the_old_one() {
    let mut c = setup(3, 1, 14);
    let chosen = Sk::generate(&mut c.r);
    let requester = phone(0);
    let go = |new: Sk, c: &mut Ch| {
        rekey_to(
            &c.id,
            &mut c.state,
            &c.dk,
            &c.sk,
            Some(new),
            Some(&phone(1)),
            Some(&requester),
            2,
            &mut c.table,
            &mut c.otps,
            NOW,
            DAY,
            &mut c.r,
        )
    };
    let err = go(copy(&c.sk), &mut c).unwrap_err();
    assert_eq!(
        err,
        VaultError::Refused {
            what: "the new key equals the old one"
        }
    );
    assert!(c.state.member(&phone(1)).is_some_and(|m| m.is_admin()));
    let out = go(copy(&chosen), &mut c).unwrap();
    assert!(same(&out.new_sk, &chosen));
    assert!(out
        .key_record
        .unwrap(&chosen)
        .is_ok_and(|dk| dk.key_epoch() == 2));
    assert_eq!(
        out.key_record.unwrap(&c.sk).unwrap_err(),
        VaultError::WrongKey
    );
}

// ----- proposals (§14) -----

fn admins_with_threshold(n: u64, threshold: u16, seed: u64) -> Ch {
    let mut c = setup(n, 2, seed);
    c.state.set_approval_threshold(threshold).unwrap();
    c
}

#[test]
fn threshold_one_enacts_at_once_and_the_setting_is_bounded() {
    let mut c = setup(3, 1, 14);
    assert_eq!(c.state.approval_threshold(), 1);
    let (id, out) = c
        .state
        .propose(&phone(0), ProposalKind::Rotate, NOW, DAY)
        .unwrap();
    assert_eq!(id, 1);
    assert_eq!(out, Outcome::Enact(ProposalKind::Rotate));
    assert!(c.state.proposals().is_empty());
    for bad in [0, 4] {
        assert!(matches!(
            c.state.set_approval_threshold(bad),
            Err(VaultError::InvalidSetting { .. })
        ));
    }
    // Subscribers cannot propose.
    assert_eq!(
        c.state
            .propose(&phone(3), ProposalKind::Rotate, NOW, DAY)
            .unwrap_err(),
        VaultError::NotMember
    );
}

#[test]
fn votes_below_threshold_do_nothing_and_at_threshold_enact_exactly_once() {
    let mut c = admins_with_threshold(4, 3, 15);
    let kind = ProposalKind::AddAdmin(phone(77));
    let (id, out) = c.state.propose(&phone(0), kind, NOW, DAY).unwrap();
    assert_eq!(
        out,
        Outcome::Pending {
            approvals: 1,
            needed: 3
        }
    );
    assert_eq!(
        c.state.vote(id, &phone(0), true, NOW + 1).unwrap_err(),
        VaultError::AlreadyVoted { id }
    );
    assert_eq!(
        c.state.vote(id, &phone(4), true, NOW + 1).unwrap_err(),
        VaultError::NotMember
    );
    assert_eq!(
        c.state.vote(id, &phone(1), true, NOW + 1).unwrap(),
        Outcome::Pending {
            approvals: 2,
            needed: 3
        }
    );
    // Survives sealing.
    let mut s = ChannelState::decode(&c.state.encode()).unwrap();
    assert_eq!(s.proposals()[0].approvals(), &[1, 2]);
    assert_eq!(
        s.vote(id, &phone(2), true, NOW + 2).unwrap(),
        Outcome::Enact(ProposalKind::AddAdmin(phone(77)))
    );
    assert_eq!(
        s.vote(id, &phone(3), true, NOW + 3).unwrap_err(),
        VaultError::UnknownProposal { id }
    );
    assert!(s.proposals().is_empty());
}

#[test]
fn rejections_that_make_the_threshold_impossible_discard() {
    let mut c = admins_with_threshold(4, 3, 16);
    let (id, _) = c
        .state
        .propose(&phone(0), ProposalKind::RemoveAdmin(4), NOW, DAY)
        .unwrap();
    assert!(matches!(
        c.state.vote(id, &phone(1), false, NOW).unwrap(),
        Outcome::Pending { .. }
    ));
    assert_eq!(
        c.state.vote(id, &phone(2), false, NOW).unwrap(),
        Outcome::Discarded(DiscardReason::Rejected)
    );
    assert!(c.state.proposals().is_empty());
}

#[test]
fn proposals_expire() {
    let mut c = admins_with_threshold(3, 2, 17);
    let (a, _) = c
        .state
        .propose(&phone(0), ProposalKind::Rotate, NOW, 100)
        .unwrap();
    let (b, _) = c
        .state
        .propose(&phone(1), ProposalKind::RemoveAdmin(1), NOW, 200)
        .unwrap();
    assert_eq!(
        c.state.vote(a, &phone(2), true, NOW + 100).unwrap(),
        Outcome::Discarded(DiscardReason::Expired)
    );
    assert_eq!(c.state.expire_proposals(NOW + 200), vec![b]);
    assert!(c.state.proposals().is_empty());
}

#[test]
fn sweeping_discards_what_can_no_longer_be_enacted_and_keeps_the_rest() {
    let mut c = admins_with_threshold(4, 3, 19);
    let propose =
        |c: &mut Ch, by: u64, kind, ttl| c.state.propose(&phone(by), kind, NOW, ttl).unwrap().0;
    let a = propose(&mut c, 0, ProposalKind::Rotate, 100);
    let b = propose(&mut c, 0, ProposalKind::AddAdmin(phone(50)), DAY);
    let cc = propose(&mut c, 0, ProposalKind::AddAdmin(phone(60)), DAY);
    c.state.vote(cc, &phone(1), false, NOW).unwrap();
    let d = propose(&mut c, 1, ProposalKind::RemoveAdmin(4), DAY);
    assert!(c.state.sweep_proposals(NOW).is_empty());
    // phone(50) became an admin meanwhile; ADMIN 4 and ADMIN 3 are gone. Voters: 1, 2, 5.
    c.state
        .add_member(phone(50), Role::Admin, Language::En)
        .unwrap();
    c.state.remove_member(&phone(3));
    c.state.remove_member(&phone(2));
    assert_eq!(
        c.state.sweep_proposals(NOW + 50),
        vec![
            (b, DiscardReason::Obsolete),
            (cc, DiscardReason::Rejected),
            (d, DiscardReason::Obsolete)
        ]
    );
    let left: Vec<u32> = c.state.proposals().iter().map(|p| p.id()).collect();
    assert_eq!(left, [a]);
    assert_eq!(
        c.state.sweep_proposals(NOW + 100),
        vec![(a, DiscardReason::Expired)]
    );
    assert!(c.state.proposals().is_empty());
}

#[test]
fn concurrent_proposals_do_not_interfere() {
    let mut c = admins_with_threshold(5, 3, 18);
    let (rot, _) = c
        .state
        .propose(&phone(0), ProposalKind::Rotate, NOW, DAY)
        .unwrap();
    let (add, _) = c
        .state
        .propose(&phone(1), ProposalKind::AddAdmin(phone(60)), NOW, DAY)
        .unwrap();
    let (rm, _) = c
        .state
        .propose(&phone(2), ProposalKind::RemoveAdmin(5), NOW, DAY)
        .unwrap();
    assert_eq!(
        c.state
            .propose(&phone(3), ProposalKind::Rotate, NOW, DAY)
            .unwrap_err(),
        VaultError::Refused {
            what: "an identical proposal is open"
        }
    );
    c.state.vote(rot, &phone(3), false, NOW).unwrap();
    c.state.vote(add, &phone(3), true, NOW).unwrap();
    assert_eq!(
        c.state.vote(add, &phone(4), true, NOW).unwrap(),
        Outcome::Enact(ProposalKind::AddAdmin(phone(60)))
    );
    // The others are untouched.
    let ids: Vec<u32> = c.state.proposals().iter().map(|p| p.id()).collect();
    assert_eq!(ids, vec![rot, rm]);
    assert_eq!(c.state.proposals()[0].approvals(), &[1]);
    assert_eq!(c.state.proposals()[0].rejections(), &[4]);
    assert_eq!(c.state.proposals()[1].approvals(), &[3]);
}

#[test]
fn removed_admins_votes_stop_counting_and_threshold_caps_at_admin_count() {
    let mut c = admins_with_threshold(3, 3, 19);
    let (id, _) = c
        .state
        .propose(&phone(0), ProposalKind::Rotate, NOW, DAY)
        .unwrap();
    c.state.vote(id, &phone(1), true, NOW).unwrap();
    // ADMIN 2 (who approved) leaves: two admins remain, threshold 3 caps to 2, and only
    // ADMIN 1's approval still counts, so ADMIN 3's is the deciding one.
    c.state.remove_member(&phone(1));
    assert_eq!(
        c.state.vote(id, &phone(2), true, NOW).unwrap(),
        Outcome::Enact(ProposalKind::Rotate)
    );
}

// ----- SK proof (§15) -----

#[test]
fn sk_proof_verifies_only_the_right_key_nonce_and_binding() {
    let mut c = setup(1, 0, 20);
    let verifier = SkVerifier::decode(&SkVerifier::derive(&c.id, &c.sk, 1).encode()).unwrap();
    let binding = [9u8; 32];

    let pc = challenge(&mut c.r);
    let wire = Challenge::decode(&pc.challenge().encode()).unwrap();
    let resp = response(&c.sk, &c.id, &wire, &binding).unwrap();
    pc.verify(&c.id, &verifier, &binding, &resp).unwrap();

    let wrong_sk = Sk::generate(&mut c.r);
    let pc = challenge(&mut c.r);
    let bad = response(&wrong_sk, &c.id, pc.challenge(), &binding).unwrap();
    assert_eq!(
        pc.verify(&c.id, &verifier, &binding, &bad).unwrap_err(),
        VaultError::ProofFailed
    );
    // Another TLS session (binding) or a replay against a fresh challenge.
    let pc = challenge(&mut c.r);
    let resp = response(&c.sk, &c.id, pc.challenge(), &binding).unwrap();
    let pc2 = challenge(&mut c.r);
    assert_eq!(
        pc2.verify(&c.id, &verifier, &binding, &resp).unwrap_err(),
        VaultError::ProofFailed
    );
    assert_eq!(
        pc.verify(&c.id, &verifier, &[8u8; 32], &resp).unwrap_err(),
        VaultError::ProofFailed
    );
    // A verifier of another channel, even one the prover holds the key of.
    let other = setup(1, 0, 21);
    let other_verifier = SkVerifier::derive(&other.id, &other.sk, 1);
    let pc = challenge(&mut c.r);
    let resp = response(&other.sk, &other.id, pc.challenge(), &binding).unwrap();
    assert_eq!(
        pc.verify(&c.id, &other_verifier, &binding, &resp)
            .unwrap_err(),
        VaultError::ProofFailed
    );
    // Low-order points on either side.
    let zero = Challenge {
        nonce: [1; 32],
        ephemeral: [0; 32],
    };
    assert_eq!(
        response(&c.sk, &c.id, &zero, &binding).unwrap_err(),
        VaultError::ProofFailed
    );
    let mut b = verifier.encode();
    b[25..].fill(0);
    let zero_verifier = SkVerifier::decode(&b).unwrap();
    let pc = challenge(&mut c.r);
    assert_eq!(
        pc.verify(&c.id, &zero_verifier, &binding, &[0; 32])
            .unwrap_err(),
        VaultError::ProofFailed
    );
    // Oversized binding.
    assert!(matches!(
        response(&c.sk, &c.id, &wire, &[0; 65]),
        Err(VaultError::TooLarge { .. })
    ));
    assert!(verifier.matches(&c.sk));
    assert!(!verifier.matches(&wrong_sk));
    // Rotation yields the new verifier.
    let new_sk = Sk::generate(&mut c.r);
    let rotated = rotate(
        &c.id,
        &mut c.state,
        &c.record,
        &c.dk,
        &c.sk,
        &new_sk,
        &mut c.table,
        &mut c.r,
    )
    .unwrap();
    assert!(rotated.verifier.matches(&new_sk));
    assert_eq!(rotated.verifier.sk_generation(), 2);
}

// ----- codecs -----

fn all_cuts_truncated(good: &[u8], decode: impl Fn(&[u8]) -> Result<(), VaultError>) {
    for cut in 0..good.len() {
        assert!(
            matches!(decode(&good[..cut]), Err(VaultError::Truncated { .. })),
            "cut {cut}"
        );
    }
}

#[test]
fn stale_table_codec_is_strict() {
    let mut c = setup(1, 0, 22);
    c.rotate();
    c.rotate();
    let good = c.table.encode();
    assert_eq!(good.len(), 19 + 2 * 121);
    let dec = |b: &[u8]| StaleTable::decode(b).map(|_| ());
    all_cuts_truncated(&good, dec);
    let mut t = good.clone();
    t.push(0);
    assert_eq!(
        dec(&t).unwrap_err(),
        VaultError::Malformed {
            record: Record::StaleTable,
            what: "trailing bytes"
        }
    );
    let m = |what| VaultError::Malformed {
        record: Record::StaleTable,
        what,
    };
    let case = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        dec(&b).unwrap_err()
    };
    assert_eq!(
        case(0, 2),
        VaultError::UnsupportedVersion {
            record: Record::StaleTable,
            version: 2
        }
    );
    assert_eq!(
        case(17, 0x10),
        VaultError::TooLarge {
            what: "stale-key entries",
            len: 0x1002,
            max: MAX_STALE_ENTRIES
        }
    );
    let e0 = 19;
    let e1 = 19 + 121;
    assert_eq!(case(e0 + 32 + 8 + 7, 1), m("generations")); // to == from
    assert_eq!(case(e1 + 32 + 7, 1), m("entries not strictly ascending"));
    assert_eq!(case(e0 + 48, 2), m("unknown flag bits"));
    assert_eq!(case(e0 + 48, 1), m("revoked entry keeps key material"));
    let mut dup = good.clone();
    dup.copy_within(e0..e0 + 32, e1);
    assert_eq!(dec(&dup).unwrap_err(), m("duplicate id"));
    let mut big = vec![1u8];
    big.resize(crate::vault::lifecycle::MAX_STALE_TABLE_LEN + 1, 0);
    assert!(matches!(dec(&big), Err(VaultError::TooLarge { .. })));
}

#[test]
fn otp_set_and_verifier_codecs_are_strict() {
    let mut c = setup(1, 0, 23);
    for _ in 0..3 {
        c.otps.issue(&c.sk, 1, NOW, DAY, &mut c.r).unwrap();
    }
    let good = c.otps.encode();
    assert_eq!(OtpSet::decode(&good).unwrap(), c.otps);
    let dec = |b: &[u8]| OtpSet::decode(b).map(|_| ());
    all_cuts_truncated(&good, dec);
    let m = |what| VaultError::Malformed {
        record: Record::OtpSet,
        what,
    };
    let mut t = good.clone();
    t.push(0);
    assert_eq!(dec(&t).unwrap_err(), m("trailing bytes"));
    let case = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        dec(&b).unwrap_err()
    };
    assert!(matches!(case(0, 9), VaultError::UnsupportedVersion { .. }));
    assert!(matches!(case(17, 0xff), VaultError::TooLarge { .. }));
    let r0 = 19;
    assert_eq!(case(r0 + 48, 1), m("used record keeps key material"));
    assert_eq!(case(r0 + 48, 4), m("unknown flag bits"));
    let mut zero_gen = good.clone();
    zero_gen[r0 + 32..r0 + 40].fill(0);
    assert_eq!(dec(&zero_gen).unwrap_err(), m("generation 0"));
    let mut order = good.clone();
    order.copy_within(r0..r0 + 32, r0 + 121);
    assert_eq!(
        dec(&order).unwrap_err(),
        m("records not strictly ascending")
    );

    let v = SkVerifier::derive(&c.id, &c.sk, 4).encode();
    let vdec = |b: &[u8]| SkVerifier::decode(b).map(|_| ());
    all_cuts_truncated(&v, vdec);
    let mut t = v.clone();
    t.push(0);
    assert!(matches!(vdec(&t), Err(VaultError::TooLarge { .. })));
    let mut g0 = v.clone();
    g0[17..25].fill(0);
    assert_eq!(
        vdec(&g0).unwrap_err(),
        VaultError::Malformed {
            record: Record::Verifier,
            what: "generation 0"
        }
    );
    assert!(matches!(
        Challenge::decode(&[0; 65]),
        Err(VaultError::Malformed { .. })
    ));
    assert!(matches!(
        Challenge::decode(&[0; 63]),
        Err(VaultError::Truncated { .. })
    ));
}

#[test]
fn model_v2_fields_round_trip_and_are_validated() {
    let mut c = setup(3, 0, 24);
    let mut s = channel(200, 3, NOW);
    std::mem::swap(&mut s, &mut c.state);
    drop(s);
    c.state.set_approval_threshold(2).unwrap();
    let admin = c.state.admins().next().unwrap().phone().duplicate();
    invite_admin(
        &c.id,
        &mut c.state,
        &mut c.otps,
        &c.sk,
        phone(5000),
        NOW,
        DAY,
        &mut c.r,
    )
    .unwrap();
    c.state
        .propose(&admin, ProposalKind::AddAdmin(phone(6000)), NOW, DAY)
        .unwrap();
    c.state
        .propose(&admin, ProposalKind::RemoveAdmin(2), NOW, DAY)
        .unwrap();
    c.rotate();
    let bytes = c.state.encode();
    let back = ChannelState::decode(&bytes).unwrap();
    assert_eq!(*back.encode(), *bytes);
    assert_eq!(back.sk_generation(), 2);
    assert_eq!(back.approval_threshold(), 2);
    assert_eq!(back.proposals().len(), 2);
    assert_eq!(back.pending_admins().len(), 1);
    for cut in 0..bytes.len() {
        assert!(
            matches!(
                ChannelState::decode(&bytes[..cut]),
                Err(VaultError::Truncated { .. })
            ),
            "cut {cut}"
        );
    }
}

#[test]
fn a_pending_admin_added_meanwhile_by_command_still_seals_and_completes() {
    let mut c = setup(1, 0, 25);
    let p = phone(30);
    let otp = invite_admin(
        &c.id,
        &mut c.state,
        &mut c.otps,
        &c.sk,
        p.duplicate(),
        NOW,
        DAY,
        &mut c.r,
    )
    .unwrap();
    // ADD +number through the relay, which knows nothing of pending records.
    let n = c
        .state
        .add_member(p.duplicate(), Role::Admin, Language::En)
        .unwrap()
        .unwrap();
    let mut s = ChannelState::decode(&c.state.encode()).unwrap();
    assert_eq!(complete_admin(&c.id, &mut s, &otp, NOW + 1).unwrap(), n);
    assert!(s.pending_admins().is_empty());
}
