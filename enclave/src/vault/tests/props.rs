//! Property tests: codec round trips, canonical encoding, and no panic on any input.

use proptest::collection::vec;
use proptest::prelude::*;

use super::rng;
use crate::vault::model::{ChannelState, Language, Phone, Role, VouchMode};
use crate::vault::{
    new_channel, open_inbound, open_state, seal_state, KeyRecord, Sk, FORMAT_VERSION,
};

const PHONES: std::ops::RangeInclusive<u64> = 10_000_000..=999_999_999_999_999;

fn lang(b: u8) -> Language {
    [Language::En, Language::Es, Language::Fr, Language::De][usize::from(b % 4)]
}

type Settings = (bool, u8, u8, u32, u32);

prop_compose! {
    fn arb_state()(
        seed in any::<u64>(),
        members in vec((PHONES, any::<bool>(), any::<u8>()), 0..120),
        hotline in vec((PHONES, 0u64..2_000_000), 0..30),
        invites in vec((PHONES, PHONES, 0u64..2_000_000), 0..30),
        bans in vec(PHONES, 0..30),
        deauth in vec(any::<prop::sample::Index>(), 0..4),
        settings in (any::<bool>(), 0u8..3, 1u8..=10, any::<u32>(), 0u32..=100_000),
        account in vec(any::<u8>(), 0..64),
        store in vec(any::<u8>(), 0..256),
        now in 0u64..2_000_000,
    ) -> ChannelState {
        build(seed, members, hotline, invites, bans, deauth, settings, account, store, now)
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    seed: u64,
    members: Vec<(u64, bool, u8)>,
    hotline: Vec<(u64, u64)>,
    invites: Vec<(u64, u64, u64)>,
    bans: Vec<u64>,
    deauth: Vec<prop::sample::Index>,
    settings: Settings,
    account: Vec<u8>,
    store: Vec<u8>,
    now: u64,
) -> ChannelState {
    let p = |v: u64| Phone::from_u64(v).expect("strategy stays in range");
    let mut s = ChannelState::new(&mut rng(seed));
    let (hotline_on, mode, level, timer, limit) = settings;
    let set = s.settings_mut();
    set.set_hotline_on(hotline_on);
    set.set_vouch_mode([VouchMode::Off, VouchMode::On, VouchMode::Admin][usize::from(mode)]);
    set.set_vouch_level(level).expect("in range");
    set.set_disappearing_timer_secs(timer);
    set.set_subscriber_limit(limit).expect("in range");
    for (phone, admin, l) in members {
        let role = if admin { Role::Admin } else { Role::Subscriber };
        let _ = s.add_member(p(phone), role, lang(l));
    }
    for (sender, t) in hotline {
        s.hotline_id_for(&p(sender), t).expect("under limits");
    }
    for (a, b, t) in invites {
        s.add_invite(&p(a), &p(b), t).expect("under limits");
    }
    for b in bans {
        s.ban(&p(b)).expect("under limits");
    }
    let admins: Vec<Phone> = s.admins().map(|m| m.phone().duplicate()).collect();
    for i in deauth {
        if !admins.is_empty() {
            s.deauthorize(&admins[i.index(admins.len())])
                .expect("is an admin");
        }
    }
    // Keys for some admins (VAULT.md §5 "admin keys"), chosen by the seed's bits.
    let indices: Vec<u16> = s.admins().filter_map(|m| m.admin_index()).collect();
    for (k, n) in indices.into_iter().enumerate() {
        if (seed >> (k % 64)) & 1 == 1 {
            let key = super::admin_signing_key(seed ^ u64::from(n)).verifying_key();
            s.set_admin_key(n, key.to_bytes()).expect("a valid key");
        }
    }
    s.set_signal_account(account.into()).expect("small");
    s.set_protocol_store(store.into()).expect("small");
    s.expire(now);
    s
}

proptest! {
    #[test]
    fn model_codec_round_trips(s in arb_state()) {
        let bytes = s.encode();
        prop_assert_eq!(bytes.len(), s.encoded_len());
        let back = ChannelState::decode(&bytes).expect("what we encode decodes");
        prop_assert_eq!(&*back.encode(), &*bytes);
    }

    /// The encoding is canonical: whatever decodes re-encodes to the very same bytes.
    #[test]
    fn mutated_encodings_never_panic_and_stay_canonical(
        s in arb_state(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = s.encode().to_vec();
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] ^= v;
        }
        for input in [&bytes[..], &bytes[..cut.index(bytes.len() + 1)]] {
            if let Ok(d) = ChannelState::decode(input) {
                prop_assert_eq!(&*d.encode(), input);
            }
        }
    }

    #[test]
    fn model_decode_never_panics(mut bytes in vec(any::<u8>(), 0..4096)) {
        let _ = ChannelState::decode(&bytes);
        if let Some(b) = bytes.first_mut() {
            *b = 1;
        }
        let _ = ChannelState::decode(&bytes);
    }

    #[test]
    fn blob_decoders_never_panic(mut bytes in vec(any::<u8>(), 0..8192), seed in any::<u64>()) {
        let mut r = rng(seed);
        let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
        if let Some(b) = bytes.first_mut() {
            *b = FORMAT_VERSION;
        }
        if bytes.len() > 9 {
            bytes[1..9].copy_from_slice(&1u64.to_be_bytes());
        }
        let _ = KeyRecord::decode(&bytes);
        let _ = open_state(&dk, &id, 1, &bytes, 0);
        if let Some(b) = bytes.first_mut() {
            *b = crate::vault::INBOUND_VERSION;
        }
        let _ = open_inbound(&dk, &id, &bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn sealed_state_round_trips(s in arb_state(), epoch in any::<u64>(), seed in any::<u64>()) {
        let mut r = rng(seed);
        let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
        let blob = seal_state(&dk, &id, 1, epoch, &s, &mut r).expect("small state seals");
        let (e, back) = open_state(&dk, &id, 1, &blob, epoch).expect("opens");
        prop_assert_eq!(e, epoch);
        prop_assert_eq!(&*back.encode(), &*s.encode());
    }
}
