//! Relay tests: the keyword table from the JSON, parsing, scripted channel sessions, and
//! properties. Phones are +1 555 0.. numbers; admins are 1 (EN) and 2 (ES).
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

mod flows;
mod keywords;
mod props;

use rand::rngs::StdRng;
use rand::SeedableRng;
use zeroize::Zeroizing;

use super::{handle_message, texts_for, Attachment, Effect, Incoming};
use crate::vault::model::{ChannelState, Language, Phone, Role};

/// A distinct valid number per `i`.
pub(super) fn phone(i: u64) -> Phone {
    Phone::from_u64(15_550_000_000 + i).expect("in E.164 range")
}

pub(super) const A1: u64 = 1;
pub(super) const A2: u64 = 2;
pub(super) const S1: u64 = 11;
pub(super) const S2: u64 = 12;
pub(super) const S3: u64 = 13;
pub(super) const STRANGER: u64 = 99;
pub(super) const T0: u64 = 1_800_000_000;

/// A channel under test and its clock.
pub(super) struct Ch {
    pub(super) state: ChannelState,
    pub(super) now: u64,
}

impl Ch {
    /// Empty channel.
    pub(super) fn empty() -> Ch {
        Ch {
            state: ChannelState::new(&mut StdRng::seed_from_u64(7)),
            now: T0,
        }
    }
    /// ADMIN 1 (EN), ADMIN 2 (ES), subscribers S1 (EN), S2 (FR), S3 (DE).
    pub(super) fn new() -> Ch {
        let mut c = Ch::empty();
        let s = &mut c.state;
        s.add_member(phone(A1), Role::Admin, Language::En).unwrap();
        s.add_member(phone(A2), Role::Admin, Language::Es).unwrap();
        s.add_member(phone(S1), Role::Subscriber, Language::En)
            .unwrap();
        s.add_member(phone(S2), Role::Subscriber, Language::Fr)
            .unwrap();
        s.add_member(phone(S3), Role::Subscriber, Language::De)
            .unwrap();
        c
    }
    pub(super) fn send(&mut self, from: u64, body: &str) -> Vec<Effect> {
        self.send_with(from, body, &[])
    }
    pub(super) fn send_with(&mut self, from: u64, body: &str, att: &[Attachment]) -> Vec<Effect> {
        let sender = phone(from);
        handle_message(
            &mut self.state,
            &Incoming {
                sender: &sender,
                body,
                attachments: att,
                expire_timer: None,
                now_secs: self.now,
            },
        )
    }
    pub(super) fn timer(&mut self, from: u64, secs: u32) -> Vec<Effect> {
        let sender = phone(from);
        handle_message(
            &mut self.state,
            &Incoming {
                sender: &sender,
                body: "",
                attachments: &[],
                expire_timer: Some(secs),
                now_secs: self.now,
            },
        )
    }
    pub(super) fn is_member(&self, i: u64) -> bool {
        self.state.member(&phone(i)).is_some()
    }
    pub(super) fn is_admin(&self, i: u64) -> bool {
        self.state.member(&phone(i)).is_some_and(|m| m.is_admin())
            && !self.state.is_deauthorized(&phone(i))
    }
}

/// The texts `who` receives.
pub(super) fn to(effects: &[Effect], who: u64) -> Vec<String> {
    texts_for(effects, &phone(who))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Every text in the effects.
pub(super) fn all_texts(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

pub(super) fn attachment(b: u8) -> Attachment {
    Attachment::new(Zeroizing::new(vec![b; 40]))
}
