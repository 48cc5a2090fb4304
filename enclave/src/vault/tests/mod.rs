//! Vault tests. Negative tests mutate a known-good blob and assert the specific error.

mod admin_keys;
mod formats;
mod lifecycle;
mod lifecycle_props;
mod limiter;
mod model;
mod props;
mod pseudonyms;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::model::{ChannelState, Language, Phone, Role};

pub(super) fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A deterministic admin signing key (VAULT.md §20) per `seed`.
pub(super) fn admin_signing_key(seed: u64) -> ed25519_dalek::SigningKey {
    let mut b = [0x5a_u8; 32];
    b[..8].copy_from_slice(&seed.to_be_bytes());
    ed25519_dalek::SigningKey::from_bytes(&b)
}

/// A valid, distinct number per `i`: +1 555 0xx xxxx style (11 digits).
pub(super) fn phone(i: u64) -> Phone {
    Phone::from_u64(15_550_000_000 + i).expect("in E.164 range")
}

/// A realistic channel: ~5% admins, some hotline records, invites and bans; empty Signal
/// slots. Timestamps around `now`.
pub(super) fn channel(members: u64, seed: u64, now: u64) -> ChannelState {
    let mut s = ChannelState::new(&mut rng(seed));
    for i in 0..members {
        let role = if i % 20 == 0 {
            Role::Admin
        } else {
            Role::Subscriber
        };
        let lang = match i % 7 {
            0 => Language::Es,
            1 => Language::Fr,
            2 => Language::De,
            _ => Language::En,
        };
        s.add_member(phone(i * 3), role, lang)
            .expect("under limits");
    }
    for i in 0..members / 50 {
        s.hotline_id_for(&phone(i * 3 + 1), now - i)
            .expect("under limits");
    }
    for i in 0..members / 100 {
        s.add_invite(&phone(i * 3), &phone(i * 3 + 2), now - i)
            .expect("under limits");
    }
    for i in 0..members / 200 {
        s.ban(&phone(1_000_000 + i)).expect("under limits");
    }
    s
}
