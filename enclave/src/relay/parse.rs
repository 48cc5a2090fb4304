//! From a message body to a [`Request`]: the keyword (see [`super::keywords`]) and its
//! validated argument (module doc, "Grammar"). Never panics; every argument is bounded.

use zeroize::Zeroizing;

use super::keywords::{self, Command};
use crate::vault::model::{Language, Phone, MAX_VOUCH_LEVEL};

/// Longest argument accepted where one phone number is expected (spaces, dashes and
/// parentheses included).
pub const MAX_PHONE_ARG_LEN: usize = 64;
/// Most numbers one INVITE may name.
pub const MAX_INVITEES: usize = 20;
/// Longest INVITE argument.
pub const MAX_INVITE_ARG_LEN: usize = MAX_INVITEES * MAX_PHONE_ARG_LEN;
/// Hotline ids are u32: at most 10 digits.
const MAX_ID_DIGITS: usize = 10;

/// What an argument was wrong about (the reply names the problem, never echoes the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A command that takes nothing was followed by text.
    UnexpectedText,
    InvalidPhone,
    /// Empty, malformed, or more than [`MAX_INVITEES`] numbers.
    InvalidPhoneList,
    InvalidHotlineId,
    InvalidVouchLevel,
}

/// A parsed message.
#[derive(Debug)]
pub(crate) enum Request<'a> {
    /// No keyword: ordinary text (hotline for non-admins).
    Text,
    /// A keyword that needs no argument (HELP, JOIN, HOTLINE ON, ...).
    Bare(Command),
    SetLanguage(Language),
    Broadcast(&'a str),
    Private(&'a str),
    Reply {
        id: u32,
        text: &'a str,
    },
    Add(Phone),
    Remove(Phone),
    Ban(u32),
    VouchLevel(u8),
    Invite(Vec<Phone>),
    /// CHANNEL, REQUEST, RESTART.
    Unsupported,
    /// A keyword with a bad argument.
    Invalid {
        command: Command,
        problem: Problem,
    },
}

/// The request and the language of the keyword that introduced it (the preferred language
/// for keywords several languages share; EN for plain text).
#[derive(Debug)]
pub(crate) struct Parsed<'a> {
    pub(crate) request: Request<'a>,
    pub(crate) language: Language,
}

pub(crate) fn parse(body: &str, preferred: Option<Language>) -> Parsed<'_> {
    let Some(m) = keywords::find(body, preferred) else {
        return Parsed {
            request: Request::Text,
            language: preferred.unwrap_or_default(),
        };
    };
    let arg = m.rest.trim();
    let invalid = |problem| Request::Invalid {
        command: m.command,
        problem,
    };
    let request = match m.command {
        Command::Accept
        | Command::Decline
        | Command::Destroy
        | Command::DestroyConfirm
        | Command::Help
        | Command::HotlineOn
        | Command::HotlineOff
        | Command::Info
        | Command::Join
        | Command::Leave
        | Command::VouchingOn
        | Command::VouchingOff
        | Command::VouchingAdmin
        | Command::SetLanguage => {
            if !arg.is_empty() {
                invalid(Problem::UnexpectedText)
            } else if m.command == Command::SetLanguage {
                Request::SetLanguage(m.language)
            } else {
                Request::Bare(m.command)
            }
        }
        Command::Unsupported => Request::Unsupported,
        Command::Broadcast => Request::Broadcast(m.rest.trim_start()),
        Command::Private => Request::Private(m.rest.trim_start()),
        Command::Reply => match reply(arg) {
            Some((id, text)) => Request::Reply { id, text },
            None => invalid(Problem::InvalidHotlineId),
        },
        Command::Ban => match hotline_id(arg) {
            Some((id, "")) => Request::Ban(id),
            _ => invalid(Problem::InvalidHotlineId),
        },
        Command::Add => phone(arg).map_or(invalid(Problem::InvalidPhone), Request::Add),
        Command::Remove => phone(arg).map_or(invalid(Problem::InvalidPhone), Request::Remove),
        Command::VouchLevel => {
            vouch_level(arg).map_or(invalid(Problem::InvalidVouchLevel), Request::VouchLevel)
        }
        Command::Invite => {
            phone_list(arg).map_or(invalid(Problem::InvalidPhoneList), Request::Invite)
        }
    };
    Parsed {
        request,
        language: m.language,
    }
}

/// `[@|#]digits` then whitespace or the end; returns the id and the trimmed remainder.
fn hotline_id(arg: &str) -> Option<(u32, &str)> {
    let s = arg
        .strip_prefix('@')
        .or_else(|| arg.strip_prefix('#'))
        .unwrap_or(arg);
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > MAX_ID_DIGITS {
        return None;
    }
    let (num, rest) = s.split_at(digits);
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let id = num.parse::<u32>().ok().filter(|&id| id != 0)?;
    Some((id, rest.trim()))
}

/// REPLY's argument: a hotline id, then the answer (may be empty; the dispatcher decides).
fn reply(arg: &str) -> Option<(u32, &str)> {
    hotline_id(arg)
}

/// One E.164 number, tolerating spaces, dashes, dots and parentheses between digits.
pub(crate) fn phone(arg: &str) -> Option<Phone> {
    if arg.len() > MAX_PHONE_ARG_LEN {
        return None;
    }
    // Sized up front so the digits are never left behind in a reallocated buffer.
    let mut compact = Zeroizing::new(String::with_capacity(arg.len()));
    compact.extend(
        arg.chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\t')),
    );
    Phone::parse(&compact).ok()
}

/// `+a, +b, ...`: up to [`MAX_INVITEES`] numbers, duplicates dropped, all valid or none.
fn phone_list(arg: &str) -> Option<Vec<Phone>> {
    if arg.is_empty() || arg.len() > MAX_INVITE_ARG_LEN {
        return None;
    }
    let mut out: Vec<Phone> = Vec::new();
    for part in arg.split(',') {
        if out.len() >= MAX_INVITEES {
            return None;
        }
        let p = phone(part.trim())?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Some(out)
}

fn vouch_level(arg: &str) -> Option<u8> {
    if arg.is_empty() || arg.len() > 2 || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    arg.parse::<u8>()
        .ok()
        .filter(|l| (1..=MAX_VOUCH_LEVEL).contains(l))
}
