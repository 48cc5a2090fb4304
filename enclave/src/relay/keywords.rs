//! The command keyword table, built once from the embedded `keywords.json` (module doc,
//! "Keywords"). The JSON is the source of truth; nothing is read from disk at run time.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use zeroize::Zeroizing;

use crate::vault::model::Language;

/// The embedded Signalboost keyword lists (provenance in its `source` field).
pub(crate) const KEYWORDS_JSON: &str = include_str!("keywords.json");

/// How many characters of a message are uppercased to look for a keyword: longer than the
/// longest keyword (checked by a test), so matching never reads more than this.
pub(crate) const MAX_KEYWORD_CHARS: usize = 48;

/// Every command the JSON names. `Unsupported` covers CHANNEL, REQUEST and RESTART, which
/// this relay deliberately does not implement (module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Command {
    Accept,
    Add,
    Ban,
    Broadcast,
    Decline,
    Destroy,
    DestroyConfirm,
    Help,
    HotlineOn,
    HotlineOff,
    Info,
    Invite,
    Join,
    Leave,
    Private,
    Remove,
    Reply,
    SetLanguage,
    VouchLevel,
    VouchingOn,
    VouchingOff,
    VouchingAdmin,
    Unsupported,
}

impl Command {
    /// The JSON's command names.
    pub(crate) fn from_json_name(name: &str) -> Option<Command> {
        Some(match name {
            "ACCEPT" => Command::Accept,
            "ADD" => Command::Add,
            "BAN" => Command::Ban,
            "BROADCAST" => Command::Broadcast,
            "DECLINE" => Command::Decline,
            "DESTROY" => Command::Destroy,
            "DESTROY_CONFIRM" => Command::DestroyConfirm,
            "HELP" => Command::Help,
            "HOTLINE_ON" => Command::HotlineOn,
            "HOTLINE_OFF" => Command::HotlineOff,
            "INFO" => Command::Info,
            "INVITE" => Command::Invite,
            "JOIN" => Command::Join,
            "LEAVE" => Command::Leave,
            "PRIVATE" => Command::Private,
            "REMOVE" => Command::Remove,
            "REPLY" => Command::Reply,
            "SET_LANGUAGE" => Command::SetLanguage,
            "VOUCH_LEVEL" => Command::VouchLevel,
            "VOUCHING_ON" => Command::VouchingOn,
            "VOUCHING_OFF" => Command::VouchingOff,
            "VOUCHING_ADMIN" => Command::VouchingAdmin,
            "CHANNEL" | "REQUEST" | "RESTART" => Command::Unsupported,
            _ => return None,
        })
    }
}

/// The JSON's language keys. MY, SW and ZH-CN keywords select EN (the JSON's note).
pub(crate) fn language_from_json_key(key: &str) -> Option<Language> {
    Some(match key {
        "EN" | "MY" | "SW" | "ZH-CN" => Language::En,
        "ES" => Language::Es,
        "FR" => Language::Fr,
        "DE" => Language::De,
        _ => return None,
    })
}

/// One keyword: its Unicode-uppercased text, what it means, and the language it is listed
/// under (for SET_LANGUAGE, the language it selects).
#[derive(Debug)]
pub(crate) struct Keyword {
    pub(crate) upper: String,
    pub(crate) command: Command,
    pub(crate) language: Language,
    /// `!`, `~`, `@`: may be followed directly by text ("!hi", "@12 hi").
    pub(crate) sigil: bool,
}

#[derive(serde::Deserialize)]
struct KeywordFile {
    commands: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// The table, or what in the JSON it could not place (tests assert there is nothing).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Table {
    pub(crate) keywords: Vec<Keyword>,
    pub(crate) skipped: Vec<String>,
}

pub(crate) fn uppercase(s: &str) -> String {
    s.chars().flat_map(char::to_uppercase).collect()
}

pub(crate) fn build(json: &str) -> Result<Table, serde_json::Error> {
    let file: KeywordFile = serde_json::from_str(json)?;
    let mut keywords = Vec::new();
    let mut skipped = Vec::new();
    for (lang_key, commands) in &file.commands {
        let Some(language) = language_from_json_key(lang_key) else {
            skipped.push(lang_key.clone());
            continue;
        };
        for (name, words) in commands {
            let Some(command) = Command::from_json_name(name) else {
                skipped.push(name.clone());
                continue;
            };
            for word in words {
                // One MY keyword carries a stray leading space; whitespace is never part of
                // a keyword's start or end.
                let upper = uppercase(word.trim());
                if upper.is_empty() || upper.chars().count() >= MAX_KEYWORD_CHARS {
                    skipped.push(name.clone());
                    continue;
                }
                let sigil = !upper.chars().any(char::is_alphanumeric);
                keywords.push(Keyword {
                    upper,
                    command,
                    language,
                    sigil,
                });
            }
        }
    }
    Ok(Table { keywords, skipped })
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    // Invariant: the embedded JSON is fixed at build time and `keywords_json_is_complete`
    // parses it in every test run.
    build(KEYWORDS_JSON).expect("embedded keywords.json parses")
});

pub(crate) fn table() -> &'static [Keyword] {
    &TABLE.keywords
}

/// The keyword a message starts with: the longest match wins; among equally long matches
/// the sender's language, then EN, ES, FR, DE.
#[derive(Debug)]
pub(crate) struct Match<'a> {
    pub(crate) command: Command,
    pub(crate) language: Language,
    /// The message after the keyword (not trimmed).
    pub(crate) rest: &'a str,
}

/// Finds the keyword `text` starts with (after leading whitespace), case-insensitively via
/// Unicode uppercasing. A keyword other than a sigil must be followed by whitespace or the
/// end of the text, after optional `.`/`!` (which are dropped).
pub(crate) fn find(text: &str, preferred: Option<Language>) -> Option<Match<'_>> {
    let text = text.trim_start();
    // Uppercase a bounded prefix, remembering where each uppercased char ends in `text`.
    // The prefix is message text: wiped when dropped, and sized so it never reallocates
    // (a char uppercases to at most 3 chars of at most 4 bytes).
    let mut upper = Zeroizing::new(String::with_capacity(MAX_KEYWORD_CHARS * 12));
    let mut ends: Vec<(usize, usize)> = Vec::new();
    for (i, c) in text.char_indices().take(MAX_KEYWORD_CHARS) {
        upper.extend(c.to_uppercase());
        ends.push((upper.len(), i + c.len_utf8()));
    }
    let rank = |l: Language| -> u8 {
        if Some(l) == preferred {
            0
        } else {
            1 + l as u8
        }
    };
    let mut best: Option<(&Keyword, usize)> = None;
    for kw in table() {
        if !upper.starts_with(&kw.upper) {
            continue;
        }
        // The keyword must end where an input char ends ("ß" uppercases to two chars).
        let Some(&(_, end)) = ends.iter().find(|(u, _)| *u == kw.upper.len()) else {
            continue;
        };
        // Like Signalboost, "HELLO!" and "Help." are still the keyword.
        let end = if kw.sigil {
            end
        } else {
            text.len() - text[end..].trim_start_matches(['.', '!']).len()
        };
        let rest = &text[end..];
        if !kw.sigil && !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
            continue;
        }
        let better = match best {
            None => true,
            Some((b, _)) => {
                (kw.upper.len(), std::cmp::Reverse(rank(kw.language)))
                    > (b.upper.len(), std::cmp::Reverse(rank(b.language)))
            }
        };
        if better {
            best = Some((kw, end));
        }
    }
    best.map(|(kw, end)| Match {
        command: kw.command,
        language: kw.language,
        rest: &text[end..],
    })
}
