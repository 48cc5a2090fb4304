//! Scripted sessions: what each kind of sender gets, and what never leaks.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use super::*;
use crate::relay::keywords::Command;
use crate::relay::parse::{parse, Problem, Request};
use crate::relay::strings::{render, Msg};
use crate::relay::{handle_identity_change, take_addressed_to, MAX_BODY_LEN};
use crate::vault::model::{DEFAULT_DISAPPEARING_TIMER_SECS, INVITE_TTL_SECS};

#[test]
fn longest_keyword_and_boundaries() {
    fn p(t: &str) -> Request<'_> {
        parse(t, None).request
    }
    assert!(matches!(
        p("CONFIRM DESTROY"),
        Request::Bare(Command::DestroyConfirm)
    ));
    assert!(matches!(p("destroy"), Request::Bare(Command::Destroy)));
    assert!(matches!(p("VOUCHING LEVEL 4"), Request::VouchLevel(4)));
    assert!(matches!(p("vouch level 10"), Request::VouchLevel(10)));
    assert!(matches!(
        p("VOUCHING ON"),
        Request::Bare(Command::VouchingOn)
    ));
    assert!(matches!(
        p("VOUCH LEVEL 11"),
        Request::Invalid {
            command: Command::VouchLevel,
            problem: Problem::InvalidVouchLevel
        }
    ));
    assert!(matches!(p("HELLOOO"), Request::Text));
    assert!(matches!(p("Hello"), Request::Bare(Command::Join)));
    assert!(matches!(
        p("Hello anyone here?"),
        Request::Invalid {
            command: Command::Join,
            problem: Problem::UnexpectedText
        }
    ));
    assert!(matches!(p("Hello, anyone here?"), Request::Text));
    assert!(matches!(p("!hi"), Request::Broadcast("hi")));
    assert!(matches!(p("! hi"), Request::Broadcast("hi")));
    assert!(matches!(p("~ hi"), Request::Private("hi")));
    assert!(matches!(p("~hi"), Request::Private("hi")));
    assert!(matches!(p("@12 hi"), Request::Reply { id: 12, text: "hi" }));
    assert!(matches!(
        p("REPLY #12 hi"),
        Request::Reply { id: 12, text: "hi" }
    ));
    assert!(matches!(
        p("@x hi"),
        Request::Invalid {
            command: Command::Reply,
            problem: Problem::InvalidHotlineId
        }
    ));
    assert!(matches!(p("BROADCASTING"), Request::Text));
    assert!(matches!(p("Hello!"), Request::Bare(Command::Join)));
    assert!(matches!(p("help."), Request::Bare(Command::Help)));
    assert!(matches!(p("BROADCAST! now"), Request::Broadcast("now")));
    assert!(matches!(p("HELLO!x"), Request::Text));
    assert!(matches!(p("!!! now"), Request::Broadcast("!! now")));
    // ß uppercases to SS: each spelling matches each other.
    assert!(matches!(p("tschüß"), Request::Bare(Command::Leave)));
    assert!(matches!(p("TSCHÜSS"), Request::Bare(Command::Leave)));
    assert!(matches!(p("Tschüss"), Request::Bare(Command::Leave)));
    assert!(matches!(
        p("línea directa activada"),
        Request::Bare(Command::HotlineOn)
    ));
    assert!(matches!(p("  AYUDA  "), Request::Bare(Command::Help)));
    assert!(matches!(p("你好"), Request::Bare(Command::Join)));
    assert!(matches!(
        p("ADD 12345"),
        Request::Invalid {
            command: Command::Add,
            problem: Problem::InvalidPhone
        }
    ));
}

#[test]
fn broadcast_fans_out_with_headers_and_attachments() {
    let mut c = Ch::new();
    let att = [attachment(1), attachment(2)];
    let e = c.send_with(A1, "! meeting at 6", &att);
    for s in [S1, S2, S3] {
        assert_eq!(to(&e, s), ["meeting at 6"]);
    }
    assert_eq!(to(&e, A2), ["[TRANSMISIÓN DE ADMIN 1]\nmeeting at 6"]);
    assert_eq!(
        to(&e, A1),
        [render(
            Language::En,
            Msg::BroadcastSent {
                subscribers: 3,
                admins: 1
            }
        )]
    );
    // The subscribers' copy is one effect holding both attachments, shared not copied.
    let subs = e
        .iter()
        .find(|e| e.recipients().len() == 3)
        .expect("one effect to the three subscribers");
    let Effect::Send {
        attachments,
        expire_timer,
        ..
    } = subs
    else {
        panic!("not a send")
    };
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[1].bytes(), att[1].bytes());
    assert_eq!(*expire_timer, DEFAULT_DISAPPEARING_TIMER_SECS);
    // Nothing to send.
    let e = c.send(A1, "BROADCAST");
    assert_eq!(to(&e, A1), [render(Language::En, Msg::NothingToSend)]);
    assert_eq!(e.len(), 1);
}

#[test]
fn hotline_round_trip_never_shows_the_number() {
    let mut c = Ch::new();
    let e = c.send(STRANGER, "is the march still on?");
    assert_eq!(to(&e, A1), ["[HOTLINE FROM @1]\nis the march still on?"]);
    assert_eq!(
        to(&e, A2),
        ["[LÍNEA DIRECTA DE @1]\nis the march still on?"]
    );
    assert_eq!(
        to(&e, STRANGER),
        [render(Language::En, Msg::HotlineForwarded)]
    );
    assert!(to(&e, S1).is_empty());
    // Same sender, same id.
    c.now += 60;
    let e = c.send(STRANGER, "hello?? anyone");
    assert_eq!(to(&e, A1), ["[HOTLINE FROM @1]\nhello?? anyone"]);
    // Reply by @id and by REPLY.
    let e = c.send(A2, "@1 yes, 6pm");
    assert_eq!(to(&e, STRANGER), ["[REPLY FROM THE ADMINS]\nyes, 6pm"]);
    assert_eq!(to(&e, A1), ["[REPLY TO @1 FROM ADMIN 2]\nyes, 6pm"]);
    assert_eq!(to(&e, A2), [render(Language::Es, Msg::ReplySent(1))]);
    let e = c.send(A1, "REPLY @1 see you");
    assert_eq!(to(&e, STRANGER), ["[REPLY FROM THE ADMINS]\nsee you"]);
    // A subscriber's hotline reply comes in their language.
    let e = c.send(S3, "frage");
    assert_eq!(to(&e, A1), ["[HOTLINE FROM @2]\nfrage"]);
    let e = c.send(A1, "@2 antwort");
    assert_eq!(to(&e, S3), ["[ANTWORT DER ADMINS]\nantwort"]);
    // Ids expire after 3 days.
    c.now += 3 * 24 * 3600;
    let e = c.send(A1, "@1 late");
    assert_eq!(to(&e, A1), [render(Language::En, Msg::UnknownHotlineId(1))]);
    assert_eq!(e.len(), 1);
    // Unknown id.
    let e = c.send(A1, "@99 who");
    assert_eq!(
        to(&e, A1),
        [render(Language::En, Msg::UnknownHotlineId(99))]
    );
}

#[test]
fn hotline_off_refuses_and_forwards_nothing() {
    let mut c = Ch::new();
    let e = c.send(A1, "HOTLINE OFF");
    assert!(!c.state.settings().hotline_on());
    assert_eq!(to(&e, A2).len(), 1);
    let e = c.send(S2, "bonjour tout le monde");
    assert_eq!(to(&e, S2), [render(Language::Fr, Msg::HotlineOff)]);
    assert_eq!(e.len(), 1);
    assert!(c.state.hotline_records().is_empty());
}

#[test]
fn non_admins_admin_commands_go_to_the_hotline() {
    let mut c = Ch::new();
    let e = c.send(S1, "BROADCAST free pizza");
    assert_eq!(to(&e, A1), ["[HOTLINE FROM @1]\nBROADCAST free pizza"]);
    assert!(to(&e, S2).is_empty());
    let e = c.send(S1, "HOTLINE OFF");
    assert!(c.state.settings().hotline_on());
    assert_eq!(to(&e, A1), ["[HOTLINE FROM @1]\nHOTLINE OFF"]);
    let e = c.send(S1, "CONFIRM DESTROY");
    assert!(!e.iter().any(|e| matches!(e, Effect::DestroyChannel)));
    // Unknown text from an admin: did you mean BROADCAST?
    let e = c.send(A2, "buenos días a todos");
    assert_eq!(to(&e, A2), [render(Language::Es, Msg::DidYouMeanBroadcast)]);
    assert_eq!(e.len(), 1);
    let e = c.send(A1, "HELP me");
    assert_eq!(to(&e, A1), [render(Language::En, Msg::UnexpectedText)]);
}

#[test]
fn private_goes_to_admins_only() {
    let mut c = Ch::new();
    let e = c.send(A2, "~ reunión mañana");
    assert_eq!(to(&e, A1), ["[PRIVATE FROM ADMIN 2]\nreunión mañana"]);
    for s in [S1, S2, S3] {
        assert!(to(&e, s).is_empty());
    }
}

fn invites(effects: &[Effect]) -> Vec<Phone> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::InviteAdmin(p) => Some(p.duplicate()),
            _ => None,
        })
        .collect()
}

#[test]
fn add_goes_through_the_key_lifecycle_and_remove_of_an_admin_points_to_it() {
    let mut c = Ch::new();
    // A new number at threshold 1: an invitation (one-time passphrase), not an admin yet.
    let e = c.send(A1, "ADD +1 (555) 000-0050");
    assert_eq!(invites(&e), [phone(50)]);
    assert!(!c.is_member(50));
    assert!(to(&e, 50).is_empty());
    assert_eq!(to(&e, A1), [render(Language::En, Msg::AddInviting)]);
    assert_eq!(
        to(&e, A2),
        [render(Language::Es, Msg::AdminInviting { by: 1 })]
    );
    assert!(c.state.proposals().is_empty());
    // Already an admin.
    let e = c.send(A1, "ADD +15550000002");
    assert_eq!(to(&e, A1), ["That number is already ADMIN 2."]);
    assert!(invites(&e).is_empty());
    // A subscriber: invited too, and stays a subscriber meanwhile.
    let e = c.send(A1, "ADD +15550000012");
    assert_eq!(invites(&e), [phone(S2)]);
    assert!(c.is_member(S2) && !c.is_admin(S2));
    // Threshold 2: a proposal with the sender's approval; the other admin is asked to vote.
    c.state.set_approval_threshold(2).unwrap();
    let e = c.send(A1, "ADD +15550000060");
    assert!(invites(&e).is_empty());
    let pid = c.state.proposals()[0].id();
    assert_eq!(
        to(&e, A1),
        [render(
            Language::En,
            Msg::AddProposed {
                pid,
                approvals: 1,
                needed: 2
            }
        )]
    );
    assert_eq!(
        to(&e, A2),
        [render(
            Language::Es,
            Msg::AdminProposedAdd {
                by: 1,
                pid,
                approvals: 1,
                needed: 2
            }
        )]
    );
    let e = c.send(A2, "AGREGAR +15550000060");
    assert_eq!(to(&e, A2), [render(Language::Es, Msg::ProposalRefused)]);
    assert_eq!(c.state.proposals().len(), 1);
    // Removing an admin re-keys the channel: REMOVE changes nothing and says how.
    let e = c.send(A2, "QUITAR +15550000001");
    assert!(c.is_admin(A1));
    assert_eq!(
        to(&e, A2),
        [render(Language::Es, Msg::RemoveAdminUseClient(1))]
    );
    assert!(to(&e, A1).is_empty());
    // Subscribers are removed at once.
    let e = c.send(A1, "REMOVE +15550000013");
    assert!(!c.is_member(S3));
    assert_eq!(to(&e, A1), ["You removed a subscriber."]);
    assert_eq!(to(&e, S3), [render(Language::De, Msg::YouWereRemoved)]);
    let e = c.send(A1, "REMOVE +15550000013");
    assert_eq!(to(&e, A1), [render(Language::En, Msg::NotMemberTarget)]);
}

#[test]
fn bans_silence_the_sender() {
    let mut c = Ch::new();
    c.send(S1, "spam spam");
    let e = c.send(A1, "BAN @1");
    assert!(c.state.is_banned(&phone(S1)));
    assert!(!c.is_member(S1));
    assert_eq!(to(&e, S1), [render(Language::En, Msg::YouAreBanned)]);
    assert_eq!(to(&e, A2), ["ADMIN 1 prohibió a @1."]);
    // Everything they send is dropped, commands included.
    for t in ["more spam", "HELLO", "HELP", "INVITE +15550000077"] {
        assert!(c.send(S1, t).is_empty(), "{t}");
    }
    assert!(!c.is_member(S1));
    let e = c.send(A1, "BAN @42");
    assert_eq!(
        to(&e, A1),
        [render(Language::En, Msg::UnknownHotlineId(42))]
    );
    // An admin ADDing the number lifts the ban (and invites it as an admin).
    let e = c.send(A1, "ADD +15550000011");
    assert!(!c.state.is_banned(&phone(S1)));
    assert_eq!(invites(&e), [phone(S1)]);
    // A deauthorized admin writes to the hotline, but holds SK: BAN changes nothing.
    handle_identity_change(&mut c.state, &phone(A2), None);
    c.send(A2, "hola");
    let id = c.state.hotline_id_for(&phone(A2), c.now).unwrap();
    let e = c.send(A1, &format!("BAN @{id}"));
    assert_eq!(
        to(&e, A1),
        [render(Language::En, Msg::RemoveAdminUseClient(2))]
    );
    assert!(!c.state.is_banned(&phone(A2)));
    assert!(c.is_member(A2));
}

#[test]
fn join_leave_and_limits() {
    let mut c = Ch::new();
    let e = c.send(STRANGER, "HOLA");
    assert!(c.is_member(STRANGER));
    assert_eq!(
        c.state.member(&phone(STRANGER)).unwrap().language,
        Language::Es
    );
    assert!(matches!(
        &e[0],
        Effect::SetTimer { to, secs } if to == &[phone(STRANGER)] && *secs == DEFAULT_DISAPPEARING_TIMER_SECS
    ));
    let e = c.send(STRANGER, "JOIN");
    assert_eq!(to(&e, STRANGER), [render(Language::Es, Msg::AlreadyMember)]);
    let e = c.send(STRANGER, "STOP");
    assert!(!c.is_member(STRANGER));
    assert_eq!(to(&e, STRANGER), [render(Language::Es, Msg::Left)]);
    let e = c.send(STRANGER, "LEAVE");
    assert_eq!(to(&e, STRANGER), [render(Language::En, Msg::NotMember)]);
    // Subscriber limit.
    c.state.settings_mut().set_subscriber_limit(3).unwrap();
    let e = c.send(STRANGER, "JOIN");
    assert!(!c.is_member(STRANGER));
    assert_eq!(to(&e, STRANGER), [render(Language::En, Msg::ChannelFull)]);
    // An admin holds SK: leaving is a removal with a re-key, which another admin runs.
    let e = c.send(A2, "ADIOS");
    assert!(c.is_admin(A2));
    assert_eq!(to(&e, A2), [render(Language::Es, Msg::AdminLeaveUseClient)]);
    assert_eq!(to(&e, A1), [render(Language::En, Msg::AdminAsksToLeave(2))]);
}

#[test]
fn vouching_and_invites() {
    let mut c = Ch::new();
    c.send(A1, "VOUCHING ON");
    c.send(A1, "VOUCH LEVEL 2");
    let e = c.send(STRANGER, "JOIN");
    assert!(!c.is_member(STRANGER));
    assert_eq!(
        to(&e, STRANGER),
        [render(
            Language::En,
            Msg::InviteRequired { have: 0, needed: 2 }
        )]
    );
    let e = c.send(S1, "INVITE +15550000099");
    assert_eq!(to(&e, S1), [render(Language::En, Msg::InviteIssued)]);
    assert_eq!(
        to(&e, STRANGER),
        [render(Language::En, Msg::Invited { have: 1, needed: 2 })]
    );
    let e = c.send(STRANGER, "ACCEPT");
    assert_eq!(
        to(&e, STRANGER),
        [render(
            Language::En,
            Msg::InviteRequired { have: 1, needed: 2 }
        )]
    );
    c.now += 10;
    c.send(S2, "INVITER +15550000099");
    let e = c.send(STRANGER, "ACCEPT");
    assert!(c.is_member(STRANGER));
    assert_eq!(to(&e, STRANGER), [render(Language::En, Msg::Welcome)]);
    assert!(c.state.invites().is_empty());

    // Expiry: two invites a week apart never add up.
    c.send(S1, "INVITE +15550000098");
    c.now += INVITE_TTL_SECS;
    c.send(S2, "INVITE +15550000098");
    let e = c.send(98, "ACCEPT");
    assert!(!c.is_member(98));
    assert_eq!(
        to(&e, 98),
        [render(
            Language::En,
            Msg::InviteRequired { have: 1, needed: 2 }
        )]
    );
    // DECLINE drops the invites.
    c.send(98, "DECLINE");
    assert_eq!(c.state.invites_for(&phone(98), c.now).count(), 0);
    let e = c.send(98, "ACCEPT");
    assert_eq!(to(&e, 98), [render(Language::En, Msg::NoInvite)]);

    // VOUCHING ADMIN: subscribers cannot invite; admins can.
    c.send(A1, "VOUCHING ADMIN");
    c.send(A1, "VOUCH LEVEL 1");
    let e = c.send(S1, "INVITE +15550000097");
    assert_eq!(to(&e, S1), [render(Language::En, Msg::InviteAdminsOnly)]);
    assert!(to(&e, 97).is_empty());
    assert!(to(&e, A1).is_empty(), "an INVITE is never forwarded");
    c.send(A2, "INVITAR +15550000097");
    let e = c.send(97, "ACEPTAR");
    assert!(c.is_member(97));
    assert_eq!(to(&e, 97), [render(Language::Es, Msg::Welcome)]);

    // Non-members cannot invite.
    let e = c.send(96, "INVITE +15550000095");
    assert_eq!(to(&e, 96), [render(Language::En, Msg::InviteMembersOnly)]);
}

#[test]
fn invite_never_reveals_membership() {
    let mut c = Ch::new();
    c.state.ban(&phone(70)).unwrap();
    // A member, a banned number, a fresh number: the inviter sees the same answer.
    let answers: Vec<Vec<String>> = [S2, 70, 71]
        .iter()
        .map(|&n| {
            let e = c.send(S1, &format!("INVITE +1555000{n:04}"));
            to(&e, S1)
        })
        .collect();
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
    assert_eq!(c.state.invites().len(), 1);
}

#[test]
fn timer_changes() {
    let mut c = Ch::new();
    // A subscriber's change is reverted.
    let e = c.timer(S1, 60);
    assert!(matches!(
        &e[0],
        Effect::SetTimer { to, secs } if to == &[phone(S1)] && *secs == DEFAULT_DISAPPEARING_TIMER_SECS
    ));
    assert_eq!(
        to(&e, S1),
        [render(
            Language::En,
            Msg::TimerReverted(DEFAULT_DISAPPEARING_TIMER_SECS)
        )]
    );
    assert_eq!(
        c.state.settings().disappearing_timer_secs(),
        DEFAULT_DISAPPEARING_TIMER_SECS
    );
    // A stranger's too, silently.
    let e = c.timer(STRANGER, 60);
    assert_eq!(e.len(), 1);
    assert!(to(&e, STRANGER).is_empty());
    // An admin's change applies to the channel and every member.
    let e = c.timer(A1, 86_400);
    assert_eq!(c.state.settings().disappearing_timer_secs(), 86_400);
    assert!(matches!(
        &e[0],
        Effect::SetTimer { to, secs: 86_400 } if to.len() == 4 && !to.contains(&phone(A1))
    ));
    assert_eq!(
        to(&e, A2),
        ["ADMIN 1 cambió un ajuste: mensajes temporales tras 1 día."]
    );
    // Every send carries the new timer.
    assert!(e.iter().all(|e| match e {
        Effect::Send { expire_timer, .. } => *expire_timer == 86_400,
        _ => true,
    }));
    // Turning it off is refused.
    let e = c.timer(A1, 0);
    assert_eq!(c.state.settings().disappearing_timer_secs(), 86_400);
    assert_eq!(to(&e, A1), [render(Language::En, Msg::TimerOffRefused)]);
}

#[test]
fn identity_change_notices_carry_the_safety_number() {
    const DIGITS: &str = "12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890";
    let mut c = Ch::new();
    assert!(handle_identity_change(&mut c.state, &phone(S1), Some(DIGITS)).is_empty());
    let e = handle_identity_change(&mut c.state, &phone(A2), Some(DIGITS));
    assert!(c.state.is_deauthorized(&phone(A2)));
    let notice = to(&e, A1);
    assert_eq!(notice.len(), 1);
    assert!(
        notice[0].starts_with("ADMIN 2's safety number changed."),
        "{notice:?}"
    );
    assert!(notice[0].ends_with(&format!("\n{DIGITS}")), "{notice:?}");
    // Changed again while deauthorized: shown again, still deauthorized.
    let e = handle_identity_change(&mut c.state, &phone(A2), Some(DIGITS));
    assert!(c.state.is_deauthorized(&phone(A2)));
    let notice = to(&e, A1);
    assert!(
        notice[0].starts_with("ADMIN 2's safety number changed again."),
        "{notice:?}"
    );
    assert!(to(&e, A2).is_empty());
    // A re-ADD: the confirmation to the other admins shows it too; not to the re-added one.
    c.send(A1, "ADD +15550000002");
    let e = crate::relay::reauthorized_notice(&c.state, &phone(A2), DIGITS);
    let notice = to(&e, A1);
    assert!(
        notice[0].starts_with("ADMIN 2 is an admin again"),
        "{notice:?}"
    );
    assert!(notice[0].ends_with(&format!("\n{DIGITS}")), "{notice:?}");
    assert!(to(&e, A2).is_empty());
}

#[test]
fn identity_change_admin_vs_subscriber() {
    let mut c = Ch::new();
    assert!(handle_identity_change(&mut c.state, &phone(S1), None).is_empty());
    assert!(!c.state.is_deauthorized(&phone(S1)));
    let e = handle_identity_change(&mut c.state, &phone(A2), None);
    assert!(c.state.is_deauthorized(&phone(A2)));
    assert_eq!(to(&e, A1), [render(Language::En, Msg::IdentityChanged(2))]);
    assert!(to(&e, A2).is_empty());
    // Treated as a non-admin: no admin copies, commands become hotline text.
    let e = c.send(A1, "! hello");
    assert_eq!(to(&e, A2), ["hello"]);
    let e = c.send(S1, "question");
    assert!(to(&e, A2).is_empty());
    let e = c.send(A2, "TRANSMITIR hola");
    assert_eq!(to(&e, A1), ["[HOTLINE FROM @2]\nTRANSMITIR hola"]);
    assert!(to(&e, S1).is_empty());
    // A second change is a no-op; re-ADD reauthorizes with the same index.
    assert!(handle_identity_change(&mut c.state, &phone(A2), None).is_empty());
    let e = c.send(A1, "ADD +15550000002");
    assert!(c.is_admin(A2));
    assert_eq!(to(&e, A2), [render(Language::Es, Msg::AdminWelcome(2))]);
}

#[test]
fn destroy_needs_confirmation() {
    let mut c = Ch::new();
    let e = c.send(A1, "DESTROY");
    assert_eq!(to(&e, A1), [render(Language::En, Msg::DestroyAsk)]);
    let e = c.send(A1, "CONFIRM DESTROY");
    assert!(matches!(e.last(), Some(Effect::DestroyChannel)));
    for (who, lang) in [(A1, Language::En), (A2, Language::Es), (S3, Language::De)] {
        assert_eq!(to(&e, who), [render(lang, Msg::Destroyed)]);
    }
}

#[test]
fn help_and_info_by_role() {
    let mut c = Ch::new();
    let e = c.send(S2, "AIDE");
    assert_eq!(
        to(&e, S2),
        [render(Language::Fr, Msg::Help { admin: false })]
    );
    let e = c.send(S2, "INFO");
    assert_eq!(
        to(&e, S2),
        [render(
            Language::Fr,
            Msg::InfoMember {
                member: true,
                hotline_on: true,
                timer: DEFAULT_DISAPPEARING_TIMER_SECS
            }
        )]
    );
    assert!(!to(&e, S2)[0].contains('3'), "subscribers see no counts");
    let e = c.send(A1, "INFO");
    assert_eq!(
        to(&e, A1),
        ["Subscribers: 3\nAdmins: 2\nHotline: on\nVouching: off (level 1)\nDisappearing messages: 1 week"]
    );
}

#[test]
fn cli_takes_what_the_admin_sees() {
    let mut c = Ch::new();
    let mut e = c.send(A1, "BROADCAST from the CLI");
    let seen = take_addressed_to(&mut e, &phone(A1));
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].as_str(),
        render(
            Language::En,
            Msg::BroadcastSent {
                subscribers: 3,
                admins: 1
            }
        )
    );
    assert!(e.iter().all(|e| !e.recipients().contains(&phone(A1))));
    assert_eq!(to(&e, S1), ["from the CLI"]);
    let mut e = c.send(A1, "@5 nobody");
    let seen = take_addressed_to(&mut e, &phone(A1));
    assert_eq!(seen.len(), 1);
    assert!(e.is_empty());
}

#[test]
fn oversized_and_empty_messages() {
    let mut c = Ch::new();
    let big = "x".repeat(MAX_BODY_LEN + 1);
    let e = c.send(S1, &big);
    assert_eq!(to(&e, S1), [render(Language::En, Msg::TooLong)]);
    assert!(to(&e, A1).is_empty());
    assert!(c.send(S1, "   ").is_empty());
    // An attachment alone is still a hotline message.
    let e = c.send_with(S1, "", &[attachment(3)]);
    assert_eq!(to(&e, A1), ["[HOTLINE FROM @1]"]);
}

/// A long session touching every command: no admin's number appears in any text, and no
/// subscriber's number either.
#[test]
fn no_phone_number_in_any_text() {
    let mut c = Ch::new();
    let mut effects = Vec::new();
    let script: &[(u64, &str)] = &[
        (STRANGER, "hi, can I join?"),
        (A1, "@1 send HELLO"),
        (STRANGER, "HELLO"),
        (A1, "ADD +15550000050"),
        (50, "~ hi all"),
        (50, "! welcome everyone"),
        (S1, "INVITE +15550000060, +15550000061"),
        (60, "ACCEPT"),
        (61, "DECLINE"),
        (A2, "VOUCHING ON"),
        (A2, "VOUCH LEVEL 2"),
        (A1, "INFO"),
        (S2, "INFO"),
        (A1, "HELP"),
        (S3, "a question"),
        (A2, "REPLY @2 answer"),
        (A1, "BAN @2"),
        (A1, "REMOVE +15550000050"),
        (A1, "ADD +15550000011"),
        (A1, "HOTLINE OFF"),
        (S2, "hello?"),
        (A1, "DEUTSCH"),
        (A1, "DESTROY"),
        (A1, "CONFIRM DESTROY"),
    ];
    for (from, text) in script {
        c.now += 1;
        effects.extend(c.send(*from, text));
    }
    effects.extend(handle_identity_change(&mut c.state, &phone(A2), None));
    effects.extend(c.timer(S1, 5));
    effects.extend(c.timer(A1, 3600));
    let texts = all_texts(&effects);
    assert!(texts.len() > 40);
    for i in [A1, A2, S1, S2, S3, STRANGER, 50, 60, 61] {
        let e164 = phone(i).to_e164_string();
        let digits = &e164[1..];
        for t in &texts {
            assert!(!t.contains(digits), "number {i} leaked");
        }
    }
}

/// A broadcast to 10,000 subscribers is one effect holding the text once, not 10,000.
#[test]
fn large_broadcast_is_one_effect() {
    let mut c = Ch::new();
    for i in 0..10_000 {
        c.state
            .add_member(phone(1_000 + i), Role::Subscriber, Language::En)
            .unwrap();
    }
    let started = std::time::Instant::now();
    let e = c.send(A1, "! big news");
    let took = started.elapsed();
    let sends: Vec<usize> = e.iter().map(|e| e.recipients().len()).collect();
    assert_eq!(sends, [10_003, 1, 1]);
    eprintln!("handle_message: broadcast to 10,003 subscribers took {took:?}");
}
