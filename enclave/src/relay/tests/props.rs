//! Properties: `handle_message` never panics on any text from anyone, and the state stays
//! within its bounds and encodable (the codec re-checks every model invariant on decode).
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::relay::handle_identity_change;
use crate::vault::model::{
    MAX_ADMINS, MAX_HOTLINE_RECORDS, MAX_INVITES, MAX_MEMBERS, MAX_VOUCH_LEVEL,
};

/// Texts that look like commands often enough to reach every handler.
fn text() -> impl Strategy<Value = String> {
    let keywordish = prop::sample::select(vec![
        "HELLO",
        "JOIN",
        "LEAVE",
        "HELP",
        "INFO",
        "!",
        "~",
        "@",
        "@1",
        "REPLY",
        "ADD",
        "REMOVE",
        "BAN",
        "BAN @1",
        "HOTLINE ON",
        "HOTLINE OFF",
        "VOUCHING ON",
        "VOUCHING OFF",
        "VOUCHING ADMIN",
        "VOUCH LEVEL",
        "INVITE",
        "ACCEPT",
        "DECLINE",
        "DESTROY",
        "CONFIRM DESTROY",
        "ESPAÑOL",
        "DEUTSCH",
        "tschüß",
        "ß",
        "İ",
        "\u{200c}",
        "CHANNEL",
    ]);
    let arg = prop::sample::select(vec![
        "",
        " ",
        " +15550000001",
        " +15550000042",
        " +15550000042, +15550000043",
        " 3",
        " 0",
        " 11",
        " 99999999999",
        " @1 hi",
        " #2 yo",
        " x",
        ",,,",
        " +1 (555) 000-0044",
    ]);
    prop_oneof![
        (keywordish, arg).prop_map(|(k, a)| format!("{k}{a}")),
        any::<String>(),
        "[ -~]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_stays_in_bounds(
        steps in vec((0u64..8, text(), prop::option::of(0u32..1_000_000), 0u64..400_000, any::<bool>()), 1..40)
    ) {
        let mut c = Ch::new();
        let pool = [A1, A2, S1, S2, S3, STRANGER, 42, 43];
        for (who, body, timer, dt, identity) in steps {
            c.now += dt;
            let sender = phone(pool[who as usize]);
            let effects = if identity && timer.is_none() {
                handle_identity_change(&mut c.state, &sender, None)
            } else {
                handle_message(
                    &mut c.state,
                    &Incoming {
                        sender: &sender,
                        body: &body,
                        attachments: &[],
                        expire_timer: timer,
                        now_secs: c.now,
                    },
                )
            };
            let t = c.state.settings().disappearing_timer_secs();
            for e in &effects {
                if let Effect::Send { to, expire_timer, .. } = e {
                    prop_assert!(!to.is_empty());
                    prop_assert_eq!(*expire_timer, t);
                }
            }
            let s = &c.state;
            prop_assert!(s.members().len() <= MAX_MEMBERS);
            prop_assert!(s.admin_count() <= MAX_ADMINS);
            prop_assert!(s.hotline_records().len() <= MAX_HOTLINE_RECORDS);
            prop_assert!(s.invites().len() <= MAX_INVITES);
            prop_assert!((1..=MAX_VOUCH_LEVEL).contains(&s.settings().vouch_level()));
            prop_assert!(t > 0);
            let decoded = ChannelState::decode(&s.encode());
            prop_assert!(decoded.is_ok(), "{:?}", decoded.err());
        }
    }
}
