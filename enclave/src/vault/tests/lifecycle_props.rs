//! Property tests for the key lifecycle (VAULT.md §11–§15): chained catch-up at any lag,
//! voting against a reference tally, and the new decoders (no panic, canonical).

#![allow(clippy::cast_possible_truncation)]

use proptest::collection::vec;
use proptest::prelude::*;

use super::{phone, rng};
use crate::vault::lifecycle::{
    catch_up, rotate, Otp, OtpSet, Outcome, ProposalKind, SkVerifier, StaleTable,
};
use crate::vault::model::{ChannelState, Language, Role};
use crate::vault::{new_channel, ChannelId, Sk, VaultError};

const NOW: u64 = 1_800_000_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// After n rotations, a client holding any generation's SK reaches the current one in
    /// exactly (n − its generation + 1) hops, through the table as the host stores it.
    #[test]
    fn catch_up_from_any_lag(n in 1usize..8, lag in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let mut r = rng(seed);
        let mut sk = Sk::generate(&mut r);
        let (id, mut record, dk) = new_channel(&sk, &mut r);
        let mut state = ChannelState::new(&mut r);
        let mut table = StaleTable::new(id);
        let mut keys = vec![Sk::from_bytes(*sk.expose())];
        for _ in 0..n {
            let new_sk = Sk::generate(&mut r);
            let out = rotate(&id, &mut state, &record, &dk, &sk, &new_sk, &mut table, &mut r).unwrap();
            record = out.key_record;
            keys.push(Sk::from_bytes(*new_sk.expose()));
            sk = new_sk;
        }
        let table = StaleTable::decode(&table.encode()).unwrap();
        let k = lag.index(keys.len());
        let up = catch_up(&record, &table, Sk::from_bytes(*keys[k].expose())).unwrap();
        prop_assert_eq!(up.hops, n - k);
        prop_assert_eq!(up.sk.expose(), sk.expose());
        prop_assert_eq!(state.sk_generation(), 1 + n as u64);
    }

    /// Any vote sequence: `Enact` comes at most once, exactly when the (capped) threshold
    /// of distinct approvals is reached; `Discarded` exactly when it became unreachable.
    #[test]
    fn voting_matches_a_reference_tally(
        admins in 2u64..8,
        threshold in any::<prop::sample::Index>(),
        votes in vec((any::<prop::sample::Index>(), any::<bool>()), 0..20),
    ) {
        let mut s = ChannelState::new(&mut rng(1));
        for i in 0..admins {
            s.add_member(phone(i), Role::Admin, Language::En).unwrap();
        }
        let t = u16::try_from(threshold.index(admins as usize) + 1).unwrap();
        s.set_approval_threshold(t).unwrap();
        let (id, first) = s.propose(&phone(0), ProposalKind::Rotate, NOW, 1000).unwrap();
        let needed = usize::from(t);
        let mut approved = std::collections::BTreeSet::from([0u64]);
        let mut rejected = std::collections::BTreeSet::new();
        let mut decided = !matches!(first, Outcome::Pending { .. });
        prop_assert_eq!(decided, needed == 1);
        for (who, approve) in votes {
            let v = who.index(admins as usize) as u64;
            let out = s.vote(id, &phone(v), approve, NOW + 1);
            if decided {
                prop_assert_eq!(out.unwrap_err(), VaultError::UnknownProposal { id });
                continue;
            }
            if approved.contains(&v) || rejected.contains(&v) {
                prop_assert_eq!(out.unwrap_err(), VaultError::AlreadyVoted { id });
                continue;
            }
            if approve { approved.insert(v); } else { rejected.insert(v); }
            let undecided = admins as usize - approved.len() - rejected.len();
            let expected = if approved.len() >= needed {
                Outcome::Enact(ProposalKind::Rotate)
            } else if approved.len() + undecided < needed {
                Outcome::Discarded(crate::vault::lifecycle::DiscardReason::Rejected)
            } else {
                Outcome::Pending { approvals: approved.len(), needed }
            };
            let out = out.unwrap();
            decided = !matches!(out, Outcome::Pending { .. });
            prop_assert_eq!(out, expected);
            // Sealing in between changes nothing.
            s = ChannelState::decode(&s.encode()).unwrap();
        }
        prop_assert_eq!(s.proposals().is_empty(), decided);
    }
}

proptest! {
    #[test]
    fn otp_text_round_trips(bytes in any::<[u8; 32]>()) {
        let mut r = rng(u64::from_be_bytes(bytes[..8].try_into().unwrap()));
        let otp = Otp::generate(&mut r);
        let id = ChannelId::from_bytes([3; 16]);
        prop_assert_eq!(Otp::parse(&otp.to_text()).unwrap().id(&id), otp.id(&id));
    }

    #[test]
    fn otp_parse_never_panics(s in ".{0,80}") {
        let _ = Otp::parse(&s);
    }

    #[test]
    fn lifecycle_decoders_never_panic_and_are_canonical(mut bytes in vec(any::<u8>(), 0..800), pick in 0u8..3) {
        // Give random input a fair chance of a valid version byte.
        if let Some(b) = bytes.first_mut() { *b = 1; }
        match pick {
            0 => if let Ok(t) = StaleTable::decode(&bytes) { prop_assert_eq!(t.encode(), bytes) },
            1 => if let Ok(t) = OtpSet::decode(&bytes) { prop_assert_eq!(t.encode(), bytes) },
            _ => if let Ok(v) = SkVerifier::decode(&bytes) { prop_assert_eq!(v.encode(), bytes) },
        }
    }

    #[test]
    fn mutated_lifecycle_records_stay_canonical(seed in any::<u64>(), at in any::<prop::sample::Index>(), v in any::<u8>()) {
        let mut r = rng(seed);
        let mut sk = Sk::generate(&mut r);
        let (id, mut record, dk) = new_channel(&sk, &mut r);
        let mut state = ChannelState::new(&mut r);
        let mut table = StaleTable::new(id);
        for _ in 0..2 {
            let new_sk = Sk::generate(&mut r);
            record = rotate(&id, &mut state, &record, &dk, &sk, &new_sk, &mut table, &mut r).unwrap().key_record;
            sk = new_sk;
        }
        let mut otps = OtpSet::new(id);
        for _ in 0..2 {
            otps.issue(&sk, 3, NOW, 100, &mut r).unwrap();
        }
        for good in [table.encode(), otps.encode()] {
            let mut b = good.clone();
            let i = at.index(b.len());
            b[i] = v;
            if let Ok(t) = StaleTable::decode(&b) { prop_assert_eq!(t.encode(), b.clone()) }
            if let Ok(t) = OtpSet::decode(&b) { prop_assert_eq!(t.encode(), b) }
        }
    }
}

proptest! {
    /// The model v2 sections (pending admins, proposals with votes) under single-byte
    /// mutations: never a panic, and whatever decodes re-encodes identically.
    #[test]
    fn mutated_model_v2_sections_stay_canonical(seed in any::<u64>(), at in any::<prop::sample::Index>(), v in any::<u8>()) {
        let mut r = rng(seed);
        let sk = Sk::generate(&mut r);
        let (id, _, _) = new_channel(&sk, &mut r);
        let mut s = ChannelState::new(&mut r);
        for i in 0..4 {
            s.add_member(phone(i), Role::Admin, Language::En).unwrap();
        }
        s.set_approval_threshold(3).unwrap();
        let mut otps = OtpSet::new(id);
        crate::vault::lifecycle::invite_admin(&id, &mut s, &mut otps, &sk, phone(40), NOW, 100, &mut r).unwrap();
        let (p, _) = s.propose(&phone(0), ProposalKind::AddAdmin(phone(41)), NOW, 100).unwrap();
        s.vote(p, &phone(1), false, NOW).unwrap();
        s.propose(&phone(2), ProposalKind::RemoveAdmin(4), NOW, 100).unwrap();
        let good = s.encode();
        let mut b = good.to_vec();
        let i = at.index(b.len());
        b[i] = v;
        if let Ok(d) = ChannelState::decode(&b) {
            prop_assert_eq!(&d.encode()[..], &b[..]);
        }
    }
}
