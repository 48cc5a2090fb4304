//! The relay's command path (enclave/src/relay): a sequence of arbitrary messages from
//! admins, subscribers and strangers must never panic, and the channel state must stay
//! encodable (the codec re-checks every model invariant on decode).
//! Input: messages separated by 0xFF; each message's first byte picks the sender, whether it
//! is a timer update, and how far the clock moves; the rest is the body (lossy UTF-8).
#![no_main]

use enclave::relay::{handle_identity_change, handle_message, Attachment, Incoming};
use enclave::vault::model::{ChannelState, Language, Phone, Role};
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn phone(i: u64) -> Phone {
    Phone::parse(&format!("+1555000{i:04}")).expect("valid test number")
}

fuzz_target!(|data: &[u8]| {
    let mut state = ChannelState::new(&mut StdRng::seed_from_u64(1));
    for (i, role, lang) in [
        (1, Role::Admin, Language::En),
        (2, Role::Admin, Language::De),
        (11, Role::Subscriber, Language::Fr),
        (12, Role::Subscriber, Language::Es),
    ] {
        state.add_member(phone(i), role, lang).expect("under limits");
    }
    let senders = [1u64, 2, 11, 12, 99, 42, 43, 44];
    let attachment = [Attachment::new(vec![7u8; 16].into())];
    let mut now = 1_800_000_000u64;
    for msg in data.split(|&b| b == 0xFF).take(64) {
        let Some((&head, body)) = msg.split_first() else {
            continue;
        };
        let sender = phone(senders[usize::from(head & 7)]);
        now += u64::from(head >> 6) * 100_000;
        let body = String::from_utf8_lossy(body);
        let effects = if head & 0x38 == 0x38 {
            // With a safety number every other time, so the "changed again" path runs too.
            let digits = (head & 1 == 1).then_some("00000 11111 22222 33333 44444 55555");
            handle_identity_change(&mut state, &sender, digits)
        } else {
            handle_message(
                &mut state,
                &Incoming {
                    sender: &sender,
                    body: &body,
                    attachments: if head & 0x08 != 0 { &attachment } else { &[] },
                    expire_timer: (head & 0x30 == 0x30).then(|| u32::from(head)),
                    now_secs: now,
                },
            )
        };
        drop(effects);
        assert!(ChannelState::decode(&state.encode()).is_ok());
    }
});
