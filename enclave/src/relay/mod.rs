//! Channels over Signal (DESIGN §5): the command set, broadcast and hotline, as pure logic.
//!
//! No I/O, no Signal, no async, no clock: the integrator decrypts a message, calls
//! [`handle_message`] with the channel's unlocked [`ChannelState`], and turns the returned
//! [`Effect`]s into Signal messages (then seals the state). Safety-number changes go through
//! [`handle_identity_change`]. The admin CLI (`sealboost broadcast|private|reply`) calls
//! [`handle_message`] with the admin's own phone as sender and a text such as
//! `BROADCAST hello`, then [`take_addressed_to`] removes what is addressed to that admin
//! from the effects, for the CLI to print instead of sending it over Signal.
//!
//! # Effects
//! One [`Effect::Send`] carries one text to *many* recipients (`to: Vec<Phone>`), so a
//! broadcast to 10,000 subscribers is one effect holding the text once: the integrator can
//! fan it out (or use the multi-recipient endpoint) without 10,000 copies of the body.
//! Texts addressed to admins are grouped by the admin's language. Every `Send` carries
//! `expire_timer` = the channel's disappearing timer after the message was handled.
//!
//! # Keywords
//! `keywords.json` is Signalboost's keyword list (team-friendo/signalboost, GPL-3.0; its
//! `source` field names the commit and files), embedded with `include_str!` and parsed once.
//! Matching (`keywords.rs`): leading whitespace skipped; case-insensitive by Unicode
//! uppercasing of both sides (so `ß` matches `SS`); accents must be as the JSON has them;
//! every language's keywords are recognised at once and the longest match wins; a keyword
//! must be followed by whitespace or the end of the text, except the sigils `!`, `~`, `@`
//! ("!hi", "~ hi", "@12 hi"); as in Signalboost, `.`/`!` right after a keyword are dropped
//! ("Hello!" is JOIN, "HELLOOO" and "Hello, there" are not). MY, SW and ZH-CN keywords
//! select EN.
//!
//! # Grammar (after the keyword, surrounding whitespace ignored)
//! - HELP, INFO, JOIN, LEAVE, ACCEPT, DECLINE, DESTROY, CONFIRM DESTROY, HOTLINE ON|OFF,
//!   VOUCHING ON|OFF|ADMIN, the SET_LANGUAGE words: nothing. Text after them makes the message
//!   ordinary text for non-admins (so "Hello is anyone there?" reaches the hotline) and a
//!   "takes no text" error for admins.
//! - BROADCAST / `!`, PRIVATE / `~`: the text (may be empty when attachments come along).
//! - REPLY / `@`: `[@|#]id` then the text. BAN: `[@|#]id` only.
//! - ADD, REMOVE: one E.164 number (`+` and 8..=15 digits; spaces, dashes, dots, parentheses
//!   ignored; at most [`MAX_PHONE_ARG_LEN`] bytes).
//! - INVITE: numbers separated by commas, at most [`MAX_INVITEES`].
//! - VOUCH LEVEL: 1..=10.
//!
//! # Who may do what
//! An *admin* is a member with the admin role who is not deauthorized (a safety-number change
//! deauthorizes until another admin re-ADDs them); a deauthorized admin is treated as a
//! subscriber in every respect (gets the bare broadcast, no admin copies, hotline when
//! writing). Admin-only commands from anyone else are forwarded to the hotline like ordinary
//! text, except INVITE, which gets a refusal (its text names third parties' numbers).
//! Banned senders get no answer at all and nothing they send is forwarded.
//!
//! # Choices documented here
//! - DESTROY only explains; CONFIRM DESTROY destroys whenever an admin sends it (the state has
//!   no field to remember a pending DESTROY, and the two-word keyword is deliberate enough).
//! - An admin's expiration-timer change applies to the channel: the new timer is stored, a
//!   `SetTimer` goes to every member and the other admins are told. Turning disappearing
//!   messages off (0) is refused and reverted. Anyone else's change is reverted.
//! - Admins hold SK, so admins are added and removed only through the key lifecycle
//!   (VAULT.md §12–§14), with its votes: ADD of a number that is not an admin is a proposal
//!   (`ChannelState::propose`, the sender's approval counted); at the threshold the relay
//!   returns [`Effect::InviteAdmin`] and the integrator sends a one-time passphrase, and the
//!   number becomes `ADMIN n` when their sealboost client redeems it. Below the threshold the
//!   other admins are told to vote. ADD of a *deauthorized* admin (safety-number change) only
//!   re-authorizes them: they already hold SK. REMOVE of an admin, BAN of an admin's hotline
//!   id and LEAVE by an admin change nothing and point to `sealboost admin remove`, which
//!   re-keys the channel (an admin who merely left would keep a working SK).
//! - An ADD that reaches the threshold lifts a ban on the number (an admin vouching for
//!   someone explicitly).
//! - Replies go in the sender's language (members) or the language of the keyword used
//!   (non-members; EN for plain text and for keywords shared by several languages).
//! - Admins appear only as `ADMIN n` and hotline senders only as `@id` in every text.
//!
//! # Out of scope
//! REQUEST, RESTART and CHANNEL (Signalboost's channel-provisioning and maintenance
//! commands) are recognised and answered with "not available here". Key lifecycle
//! (rotating DK/EK when an admin is removed) belongs to the vault and its integrator.

mod dispatch;
pub(crate) mod keywords;
pub(crate) mod lifecycle_strings;
pub(crate) mod parse;
mod strings;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use zeroize::Zeroizing;

pub use crate::vault::model::{ChannelState, Language, Phone};
pub use dispatch::{handle_identity_change, handle_message, reauthorized_notice};
pub use parse::{MAX_INVITEES, MAX_INVITE_ARG_LEN, MAX_PHONE_ARG_LEN};

/// Longest message body handled; longer bodies get a "too long" answer and go nowhere.
/// (Signal clients send bodies over 2,000 bytes as a long-text attachment.)
pub const MAX_BODY_LEN: usize = 64 * 1024;
/// Most attachments forwarded with one message.
pub const MAX_ATTACHMENTS: usize = 32;
/// Largest encoded `AttachmentPointer` forwarded.
pub const MAX_ATTACHMENT_POINTER_LEN: usize = 8 * 1024;

/// An encoded Signal `AttachmentPointer`, forwarded as is (never re-encrypted, never parsed
/// here). It holds the attachment's key, so it zeroizes and its `Debug` is redacted. Shared,
/// not copied: [`Attachment::share`] hands out another reference to the same bytes.
pub struct Attachment(Arc<Zeroizing<Vec<u8>>>);

impl Attachment {
    pub fn new(pointer: Zeroizing<Vec<u8>>) -> Attachment {
        Attachment(Arc::new(pointer))
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
    /// Another handle on the same bytes (no copy of the key material).
    pub fn share(&self) -> Attachment {
        Attachment(Arc::clone(&self.0))
    }
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attachment(<redacted>, {} bytes)", self.0.len())
    }
}

/// One decrypted message to the channel.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub sender: &'a Phone,
    pub body: &'a str,
    pub attachments: &'a [Attachment],
    /// `Some(secs)` when the message is an expiration-timer update (its body is ignored).
    pub expire_timer: Option<u32>,
    pub now_secs: u64,
}

/// What the integrator must do. Texts and phones are secrets: `Debug` is redacted.
#[non_exhaustive]
pub enum Effect {
    /// Send `text` (and the attachments) to each of `to`, with that disappearing timer.
    Send {
        to: Vec<Phone>,
        text: Zeroizing<String>,
        attachments: Vec<Attachment>,
        expire_timer: u32,
    },
    /// Send an expiration-timer update to each of `to` (new members, reverts, changes).
    SetTimer { to: Vec<Phone>, secs: u32 },
    /// After CONFIRM DESTROY: delete the channel's blobs and deregister its Signal account
    /// (after delivering the preceding `Send`s).
    DestroyChannel,
    /// An ADD reached the approval threshold (the proposal is already gone from the state):
    /// once the state is committed, the integrator invites this number as an admin with a
    /// one-time passphrase for the current SK, sent over Signal (VAULT.md §12), exactly as
    /// an enacted `sealboost admin add` does.
    InviteAdmin(Phone),
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Send {
                to,
                attachments,
                expire_timer,
                ..
            } => write!(
                f,
                "Send(<redacted> to {} recipients, {} attachments, timer {expire_timer})",
                to.len(),
                attachments.len()
            ),
            Effect::SetTimer { to, secs } => {
                write!(f, "SetTimer({secs} s to {} recipients)", to.len())
            }
            Effect::DestroyChannel => f.write_str("DestroyChannel"),
            Effect::InviteAdmin(_) => f.write_str("InviteAdmin(<redacted>)"),
        }
    }
}

impl Effect {
    /// Who this effect reaches (empty for [`Effect::DestroyChannel`] and
    /// [`Effect::InviteAdmin`], which the integrator carries out itself).
    pub fn recipients(&self) -> &[Phone] {
        match self {
            Effect::Send { to, .. } | Effect::SetTimer { to, .. } => to,
            Effect::DestroyChannel | Effect::InviteAdmin(_) => &[],
        }
    }
}

/// Removes `who` from every effect's recipients and returns the texts that were addressed to
/// them, in order (the admin CLI prints these instead of sending them over Signal). Effects
/// left without recipients are dropped; `DestroyChannel` and `InviteAdmin` stay.
pub fn take_addressed_to(effects: &mut Vec<Effect>, who: &Phone) -> Vec<Zeroizing<String>> {
    let mut seen = Vec::new();
    for e in effects.iter_mut() {
        match e {
            Effect::Send { to, text, .. } => {
                if let Some(i) = to.iter().position(|p| p == who) {
                    to.swap_remove(i);
                    seen.push(text.clone());
                }
            }
            Effect::SetTimer { to, .. } => to.retain(|p| p != who),
            Effect::DestroyChannel | Effect::InviteAdmin(_) => {}
        }
    }
    effects.retain(|e| {
        matches!(e, Effect::DestroyChannel | Effect::InviteAdmin(_)) || !e.recipients().is_empty()
    });
    seen
}

/// The texts addressed to `who`, without changing the effects (tests, previews).
pub fn texts_for<'a>(effects: &'a [Effect], who: &Phone) -> Vec<&'a str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, text, .. } if to.contains(who) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}
