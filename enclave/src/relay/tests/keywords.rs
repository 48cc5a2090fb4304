//! Table-driven from the embedded JSON: every keyword of every language parses to its
//! command, and runs that command through `handle_message` with the expected outcome.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::collections::BTreeMap;

use super::*;
use crate::relay::keywords::{
    build, language_from_json_key, table, Command, KEYWORDS_JSON, MAX_KEYWORD_CHARS,
};
use crate::relay::parse::{parse, Request};
use crate::relay::strings::{render, Msg};
use crate::vault::model::VouchMode;

/// (JSON language, command name, keyword) for every keyword in the file.
fn every_keyword() -> Vec<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(KEYWORDS_JSON).unwrap();
    let cmds: BTreeMap<String, BTreeMap<String, Vec<String>>> =
        serde_json::from_value(v["commands"].clone()).unwrap();
    let mut out = Vec::new();
    for (lang, commands) in cmds {
        for (name, words) in commands {
            for w in words {
                out.push((lang.clone(), name.clone(), w));
            }
        }
    }
    out
}

#[test]
fn keywords_json_is_complete() {
    let t = build(KEYWORDS_JSON).unwrap();
    assert!(
        t.skipped.is_empty(),
        "unplaced JSON entries: {:?}",
        t.skipped
    );
    assert_eq!(t.keywords.len(), every_keyword().len());
    assert!(table()
        .iter()
        .all(|k| k.upper.chars().count() < MAX_KEYWORD_CHARS));
    // The JSON carries its provenance.
    let v: serde_json::Value = serde_json::from_str(KEYWORDS_JSON).unwrap();
    assert!(v["source"]
        .as_str()
        .unwrap()
        .starts_with("team-friendo/signalboost@"));
}

#[test]
fn no_keyword_means_two_commands() {
    let mut seen: BTreeMap<&str, Command> = BTreeMap::new();
    for k in table() {
        let prev = seen.insert(&k.upper, k.command);
        assert!(prev.is_none_or(|c| c == k.command), "{}", k.upper);
    }
}

/// A message exercising `keyword` with a valid argument, and the request it must parse to.
fn sample(command: Command, keyword: &str) -> String {
    match command {
        Command::Broadcast | Command::Private => format!("{keyword} hi there"),
        Command::Reply => format!("{keyword} @12 hi there"),
        Command::Add | Command::Remove => format!("{keyword} +1 555 000 0077"),
        Command::Ban => format!("{keyword} @7"),
        Command::VouchLevel => format!("{keyword} 3"),
        Command::Invite => format!("{keyword} +15550000077, +15550000078"),
        _ => keyword.to_owned(),
    }
}

fn check_request(command: Command, lang: Language, r: &Request) {
    let ok = match (command, r) {
        (Command::Broadcast, Request::Broadcast(t)) | (Command::Private, Request::Private(t)) => {
            *t == "hi there"
        }
        (Command::Reply, Request::Reply { id: 12, text }) => *text == "hi there",
        (Command::Add, Request::Add(p)) | (Command::Remove, Request::Remove(p)) => *p == phone(77),
        (Command::Ban, Request::Ban(7)) => true,
        (Command::VouchLevel, Request::VouchLevel(3)) => true,
        (Command::Invite, Request::Invite(v)) => *v == [phone(77), phone(78)],
        (Command::SetLanguage, Request::SetLanguage(l)) => *l == lang,
        (Command::Unsupported, Request::Unsupported) => true,
        (c, Request::Bare(b)) => c == *b,
        _ => false,
    };
    assert!(ok, "{command:?} parsed as {r:?}");
}

#[test]
fn every_keyword_parses_in_every_case() {
    for (json_lang, name, kw) in every_keyword() {
        let command = Command::from_json_name(&name).unwrap();
        let lang = language_from_json_key(&json_lang).unwrap();
        for variant in [kw.clone(), kw.to_lowercase(), format!("  {kw}  ")] {
            let text = sample(command, variant.trim_end());
            let p = parse(&text, Some(lang));
            check_request(command, lang, &p.request);
            assert_eq!(p.language, lang, "{kw}");
        }
        // Glued to more letters it is not this keyword.
        if kw.chars().any(char::is_alphanumeric) {
            let text = format!("{}xyz", kw.trim());
            let p = parse(&text, Some(lang));
            assert!(
                !matches!(p.request, Request::Bare(c) if c == command),
                "{kw}xyz"
            );
        }
    }
}

/// Runs `keyword`'s command through `handle_message` on a fresh channel from a sender it is
/// meant for, and checks what changed. Strangers are answered in the keyword's language.
#[test]
fn every_keyword_runs_its_command() {
    for (json_lang, name, kw) in every_keyword() {
        let command = Command::from_json_name(&name).unwrap();
        let lang = language_from_json_key(&json_lang).unwrap();
        // Keywords shared by several languages select EN for strangers.
        let shared = table()
            .iter()
            .any(|k| k.upper == table_upper(&kw) && k.language != lang);
        let stranger_lang = if shared { Language::En } else { lang };
        let mut c = Ch::new();
        let msg = sample(command, &kw);
        match command {
            Command::Join => {
                let e = c.send(STRANGER, &msg);
                assert!(c.is_member(STRANGER), "{kw}");
                assert_eq!(
                    c.state.member(&phone(STRANGER)).unwrap().language,
                    stranger_lang
                );
                assert_eq!(to(&e, STRANGER), [render(stranger_lang, Msg::Welcome)]);
            }
            Command::Leave => {
                c.send(S1, &msg);
                assert!(!c.is_member(S1), "{kw}");
            }
            Command::Help => {
                let e = c.send(STRANGER, &msg);
                assert_eq!(
                    to(&e, STRANGER),
                    [render(stranger_lang, Msg::Help { admin: false })]
                );
                let e = c.send(A1, &msg);
                assert_eq!(
                    to(&e, A1),
                    [render(Language::En, Msg::Help { admin: true })]
                );
            }
            Command::Info => {
                let e = c.send(A2, &msg);
                assert!(to(&e, A2)[0].contains("Suscriptores: 3"), "{kw}");
            }
            Command::Broadcast => {
                let e = c.send(A1, &msg);
                assert_eq!(to(&e, S2), ["hi there"]);
                assert_eq!(to(&e, A2), ["[TRANSMISIÓN DE ADMIN 1]\nhi there"]);
            }
            Command::Private => {
                let e = c.send(A1, &msg);
                assert_eq!(to(&e, A2), ["[PRIVADO DE ADMIN 1]\nhi there"]);
                assert!(to(&e, S1).is_empty());
            }
            Command::Reply => {
                c.state.hotline_id_for(&phone(S3), c.now).unwrap();
                let msg = sample(command, &kw).replace("@12", "@1");
                let e = c.send(A1, &msg);
                assert_eq!(to(&e, S3), ["[ANTWORT DER ADMINS]\nhi there"], "{kw}");
            }
            Command::Add => {
                let e = c.send(A1, &msg);
                assert!(
                    e.iter()
                        .any(|e| matches!(e, Effect::InviteAdmin(p) if *p == phone(77))),
                    "{kw}"
                );
                assert_eq!(
                    to(&e, A2),
                    [render(Language::Es, Msg::AdminInviting { by: 1 })]
                );
            }
            Command::Remove => {
                c.state
                    .add_member(phone(77), Role::Subscriber, Language::En)
                    .unwrap();
                c.send(A1, &msg);
                assert!(!c.is_member(77), "{kw}");
            }
            Command::Ban => {
                for i in 0..7 {
                    c.state.hotline_id_for(&phone(200 + i), c.now).unwrap();
                }
                c.send(A1, &msg);
                assert!(c.state.is_banned(&phone(206)), "{kw}");
            }
            Command::VouchLevel => {
                c.send(A1, &msg);
                assert_eq!(c.state.settings().vouch_level(), 3, "{kw}");
            }
            Command::VouchingOn | Command::VouchingOff | Command::VouchingAdmin => {
                c.state.settings_mut().set_vouch_mode(VouchMode::On);
                if command == Command::VouchingOn {
                    c.state.settings_mut().set_vouch_mode(VouchMode::Off);
                }
                c.send(A1, &msg);
                let want = match command {
                    Command::VouchingOn => VouchMode::On,
                    Command::VouchingOff => VouchMode::Off,
                    _ => VouchMode::Admin,
                };
                assert_eq!(c.state.settings().vouch_mode(), want, "{kw}");
            }
            Command::HotlineOn | Command::HotlineOff => {
                let on = command == Command::HotlineOn;
                c.state.settings_mut().set_hotline_on(!on);
                c.send(A1, &msg);
                assert_eq!(c.state.settings().hotline_on(), on, "{kw}");
            }
            Command::Invite => {
                let e = c.send(S1, &msg);
                assert_eq!(c.state.invites_for(&phone(77), c.now).count(), 1, "{kw}");
                assert_eq!(to(&e, S1), [render(Language::En, Msg::InviteIssued)]);
                assert_eq!(to(&e, 78).len(), 1);
            }
            Command::Accept | Command::Decline => {
                c.state
                    .add_invite(&phone(S1), &phone(STRANGER), c.now)
                    .unwrap();
                c.send(STRANGER, &msg);
                assert_eq!(c.is_member(STRANGER), command == Command::Accept, "{kw}");
                assert_eq!(c.state.invites().len(), 0);
            }
            Command::Destroy => {
                let e = c.send(A1, &msg);
                assert!(
                    !e.iter().any(|e| matches!(e, Effect::DestroyChannel)),
                    "{kw}"
                );
            }
            Command::DestroyConfirm => {
                let e = c.send(A1, &msg);
                assert!(matches!(e.last(), Some(Effect::DestroyChannel)), "{kw}");
                assert_eq!(to(&e, S2), [render(Language::Fr, Msg::Destroyed)]);
            }
            Command::SetLanguage => {
                let e = c.send(S1, &msg);
                assert_eq!(c.state.member(&phone(S1)).unwrap().language, lang, "{kw}");
                assert_eq!(to(&e, S1), [render(lang, Msg::LanguageSet)]);
            }
            Command::Unsupported => {
                let e = c.send(STRANGER, &msg);
                assert_eq!(to(&e, STRANGER), [render(stranger_lang, Msg::Unsupported)]);
            }
        }
    }
}

fn table_upper(kw: &str) -> String {
    crate::relay::keywords::uppercase(kw.trim())
}
