//! What the channel's Signal account may remember about people (COURIER.md §3 step 7).
//!
//! The account's recipient book maps numbers to ACIs and holds profile and access keys. An
//! entry is kept only while the channel still has a use for that person: a member (admin or
//! subscriber), an admin deauthorized by a safety-number change (a re-ADD needs them), a
//! pending admin, the subject of an open add-admin proposal, the sender behind a live
//! hotline id (`REPLY @id`), or the invitee of a live invite. Everyone else (someone who
//! left, was removed or banned, a stranger whose hotline id expired) is forgotten at the
//! end of the unlock, so the sealed account does not keep their number. Their session and
//! identity key stay (keyed by ACI only): if they write again, the message still decrypts.

use std::collections::HashSet;

use signal_client::ProtocolStore;

use crate::vault::lifecycle::ProposalKind;
use crate::vault::model::{ChannelState, Phone};

/// The numbers `state` still needs at `now` (see the module docs), as integers.
pub(crate) fn needed(state: &ChannelState, now: u64) -> HashSet<u64> {
    let mut keep = HashSet::new();
    let mut add = |p: &Phone| {
        keep.insert(p.as_u64());
    };
    state.members.iter().for_each(|m| add(&m.phone));
    state.deauthorized.iter().for_each(&mut add);
    state.pending_admins.iter().for_each(|p| add(&p.phone));
    for p in &state.proposals {
        if let ProposalKind::AddAdmin(phone) = &p.kind {
            add(phone);
        }
    }
    for h in &state.hotline {
        if !h.expired(now) {
            add(&h.sender);
        }
    }
    for i in &state.invites {
        if !i.expired(now) {
            add(&i.invitee);
        }
    }
    keep
}

/// Forgets the recipient-book entries `state` no longer needs; returns how many went.
pub fn prune(store: &mut ProtocolStore, state: &ChannelState, now: u64) -> usize {
    let keep = needed(state, now);
    store.prune_recipients(|e164| {
        e164.strip_prefix('+')
            .and_then(|d| d.parse::<u64>().ok())
            .is_some_and(|v| keep.contains(&v))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use signal_client::store::aci_from_bytes;

    use super::*;
    use crate::vault::model::{Language, Role, HOTLINE_TTL_SECS, INVITE_TTL_SECS};

    const T0: u64 = 1_800_000_000;

    fn phone(i: u64) -> Phone {
        Phone::parse(&format!("+1555000{i:04}")).unwrap()
    }

    #[test]
    fn the_book_keeps_exactly_the_people_the_channel_still_needs() {
        let mut s = ChannelState::new(&mut StdRng::seed_from_u64(3));
        s.add_member(phone(1), Role::Admin, Language::En).unwrap();
        s.add_member(phone(2), Role::Admin, Language::En).unwrap();
        s.add_member(phone(3), Role::Subscriber, Language::Es)
            .unwrap();
        // 4 left (was a subscriber), 5 wrote the hotline, 6 was invited, 7 is a stranger
        // who wrote the hotline long ago, 2 is deauthorized by a safety-number change.
        s.add_member(phone(4), Role::Subscriber, Language::En)
            .unwrap();
        s.remove_member(&phone(4));
        s.hotline_id_for(&phone(7), T0).unwrap();
        let now = T0 + HOTLINE_TTL_SECS + 10;
        s.hotline_id_for(&phone(5), now - 60).unwrap();
        s.add_invite(&phone(3), &phone(6), now - 60).unwrap();
        s.deauthorize(&phone(2)).unwrap();

        let mut store = signal_client::ProtocolStore::new(
            libsignal_protocol::IdentityKeyPair::generate(&mut rand_09::rng()),
            1,
        );
        for i in 1..=7u8 {
            let aci = aci_from_bytes([i; 16]);
            store
                .set_e164(&aci, &phone(u64::from(i)).to_e164_string())
                .unwrap();
            store.set_profile_key(&aci, [i; 32]);
        }
        // Someone known only by ACI (no number): nothing to keep them for.
        store.set_profile_key(&aci_from_bytes([8; 16]), [8; 32]);

        assert_eq!(
            prune(&mut store, &s, now),
            3,
            "4, 7 and the number-less one go"
        );
        for (i, kept) in [
            (1, true),
            (2, true),
            (3, true),
            (4, false),
            (5, true),
            (6, true),
            (7, false),
        ] {
            let e164 = phone(i).to_e164_string();
            let aci = aci_from_bytes([i as u8; 16]);
            assert_eq!(store.aci_for_e164(&e164).is_some(), kept, "number of {i}");
            assert_eq!(store.recipient(&aci).is_some(), kept, "entry of {i}");
        }
        assert!(store.recipient(&aci_from_bytes([8; 16])).is_none());

        // Once the invite and the hotline id expire, 5 and 6 go too.
        let later = now + INVITE_TTL_SECS;
        assert_eq!(prune(&mut store, &s, later), 2);
        assert!(store.aci_for_e164(&phone(5).to_e164_string()).is_none());
        assert!(store.aci_for_e164(&phone(6).to_e164_string()).is_none());
        assert!(store.aci_for_e164(&phone(1).to_e164_string()).is_some());
    }
}
