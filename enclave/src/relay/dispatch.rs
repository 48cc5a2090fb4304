//! What each request does to the channel state and whom it answers (module doc, "Who may do
//! what" and "Choices documented here").

use zeroize::Zeroizing;

use super::parse::{parse, Problem, Request};
use super::strings::{render, with_safety_number, Change, Msg};
use super::{
    Attachment, Effect, Incoming, MAX_ATTACHMENTS, MAX_ATTACHMENT_POINTER_LEN, MAX_BODY_LEN,
};
use crate::vault::lifecycle::{Outcome, ProposalKind, DEFAULT_PROPOSAL_TTL_SECS};
use crate::vault::model::{ChannelState, Language, Phone, Role, VouchMode};
use crate::vault::VaultError;

/// The sender as the dispatcher sees them.
struct Sender<'a> {
    phone: &'a Phone,
    /// `Some(n)` for an authorized `ADMIN n`.
    admin: Option<u16>,
    member: bool,
    lang: Language,
}

/// Effects under construction; `finish` stamps the final disappearing timer on every send.
struct Out {
    effects: Vec<Effect>,
}

impl Out {
    fn send(&mut self, to: Vec<Phone>, text: String, attachments: &[Attachment]) {
        if to.is_empty() {
            return;
        }
        self.effects.push(Effect::Send {
            to,
            text: Zeroizing::new(text),
            attachments: attachments.iter().map(Attachment::share).collect(),
            expire_timer: 0,
        });
    }
    fn reply(&mut self, s: &Sender, m: Msg) {
        self.send(vec![s.phone.duplicate()], render(s.lang, m), &[]);
    }
    fn set_timer(&mut self, to: Vec<Phone>, secs: u32) {
        if !to.is_empty() {
            self.effects.push(Effect::SetTimer { to, secs });
        }
    }
    /// One text per language to the authorized admins not in `except`; returns how many.
    fn admins(
        &mut self,
        state: &ChannelState,
        except: &[&Phone],
        text: impl Fn(Language) -> String,
        attachments: &[Attachment],
    ) -> usize {
        let mut n = 0;
        for (lang, to) in admin_groups(state, except) {
            n += to.len();
            self.send(to, text(lang), attachments);
        }
        n
    }
    fn finish(mut self, state: &ChannelState) -> Vec<Effect> {
        let timer = state.settings().disappearing_timer_secs();
        for e in &mut self.effects {
            if let Effect::Send { expire_timer, .. } = e {
                *expire_timer = timer;
            }
        }
        self.effects
    }
}

const LANGUAGES: [Language; 4] = [Language::En, Language::Es, Language::Fr, Language::De];

fn authorized_admin(state: &ChannelState, phone: &Phone) -> Option<u16> {
    let m = state.member(phone)?;
    m.admin_index().filter(|_| !state.is_deauthorized(phone))
}

/// Authorized admins not in `except`, grouped by language.
fn admin_groups(state: &ChannelState, except: &[&Phone]) -> Vec<(Language, Vec<Phone>)> {
    let mut groups: Vec<(Language, Vec<Phone>)> =
        LANGUAGES.iter().map(|&l| (l, Vec::new())).collect();
    for m in state.admins() {
        if state.is_deauthorized(m.phone()) || except.contains(&m.phone()) {
            continue;
        }
        groups[m.language as usize].1.push(m.phone().duplicate());
    }
    groups.retain(|(_, to)| !to.is_empty());
    groups
}

fn with_body(header: String, body: &str) -> String {
    if body.is_empty() {
        header
    } else {
        format!("{header}\n{body}")
    }
}

/// Handles one decrypted message from `msg.sender` (module doc). Never panics; every state
/// change stays within the model's bounds.
pub fn handle_message(state: &mut ChannelState, msg: &Incoming) -> Vec<Effect> {
    let mut out = Out {
        effects: Vec::new(),
    };
    state.expire(msg.now_secs);
    if state.is_banned(msg.sender) {
        return out.effects;
    }
    let member = state.member(msg.sender);
    let member_lang = member.map(|m| m.language);
    let mut s = Sender {
        phone: msg.sender,
        admin: authorized_admin(state, msg.sender),
        member: member.is_some(),
        lang: member_lang.unwrap_or_default(),
    };
    if let Some(secs) = msg.expire_timer {
        timer_update(state, &mut out, &s, secs);
        return out.finish(state);
    }
    if msg.body.len() > MAX_BODY_LEN
        || msg.attachments.len() > MAX_ATTACHMENTS
        || msg
            .attachments
            .iter()
            .any(|a| a.bytes().len() > MAX_ATTACHMENT_POINTER_LEN)
    {
        out.reply(&s, Msg::TooLong);
        return out.finish(state);
    }
    if msg.body.trim().is_empty() && msg.attachments.is_empty() {
        return out.effects;
    }
    let parsed = parse(msg.body, member_lang);
    if member_lang.is_none() {
        s.lang = parsed.language;
    }
    dispatch(state, &mut out, &s, parsed.request, msg);
    out.finish(state)
}

fn dispatch(state: &mut ChannelState, out: &mut Out, s: &Sender, req: Request, msg: &Incoming) {
    use super::keywords::Command as C;
    let now = msg.now_secs;
    let admin_only = |c: C| {
        !matches!(
            c,
            C::Help
                | C::Info
                | C::Join
                | C::Leave
                | C::Invite
                | C::Accept
                | C::Decline
                | C::SetLanguage
                | C::Unsupported
        )
    };
    let Some(by) = s.admin else {
        // Non-admins: admin-only commands and text after a bare keyword are hotline text.
        match req {
            Request::Text
            | Request::Invalid {
                problem: Problem::UnexpectedText,
                ..
            } => return hotline(state, out, s, msg),
            Request::Invalid { command, .. } | Request::Bare(command) if admin_only(command) => {
                return hotline(state, out, s, msg)
            }
            Request::Broadcast(_)
            | Request::Private(_)
            | Request::Reply { .. }
            | Request::Add(_)
            | Request::Remove(_)
            | Request::Ban(_)
            | Request::VouchLevel(_) => return hotline(state, out, s, msg),
            _ => {}
        }
        return anyone(state, out, s, req, now);
    };
    match req {
        Request::Text => out.reply(s, Msg::DidYouMeanBroadcast),
        Request::Broadcast(text) => broadcast(state, out, s, by, text, msg.attachments),
        Request::Private(text) => {
            if text.is_empty() && msg.attachments.is_empty() {
                return out.reply(s, Msg::NothingToSend);
            }
            let admins = out.admins(
                state,
                &[s.phone],
                |l| with_body(render(l, Msg::PrivateHeader(by)), text),
                msg.attachments,
            );
            out.reply(s, Msg::PrivateSent { admins });
        }
        Request::Reply { id, text } => reply(state, out, s, by, id, text, msg),
        Request::Add(target) => add(state, out, s, by, target, now),
        Request::Remove(target) => remove(state, out, s, by, &target),
        Request::Ban(id) => ban(state, out, s, by, id, now),
        Request::VouchLevel(level) => {
            if state.settings_mut().set_vouch_level(level).is_err() {
                return out.reply(s, Msg::InvalidVouchLevel);
            }
            setting(state, out, s, by, Change::VouchLevel(level));
        }
        Request::Bare(
            c @ (C::HotlineOn | C::HotlineOff | C::VouchingOn | C::VouchingOff | C::VouchingAdmin),
        ) => {
            let change = match c {
                C::HotlineOn => Change::Hotline(true),
                C::HotlineOff => Change::Hotline(false),
                C::VouchingOn => Change::Vouching(VouchMode::On),
                C::VouchingOff => Change::Vouching(VouchMode::Off),
                _ => Change::Vouching(VouchMode::Admin),
            };
            apply(state, change);
            setting(state, out, s, by, change);
        }
        Request::Bare(C::Destroy) => out.reply(s, Msg::DestroyAsk),
        Request::Bare(C::DestroyConfirm) => {
            for (lang, to) in member_groups(state) {
                out.send(to, render(lang, Msg::Destroyed), &[]);
            }
            out.effects.push(Effect::DestroyChannel);
        }
        Request::Invalid { problem, .. } => out.reply(s, problem_msg(problem)),
        _ => anyone(state, out, s, req, now),
    }
}

fn problem_msg(p: Problem) -> Msg {
    match p {
        Problem::UnexpectedText => Msg::UnexpectedText,
        Problem::InvalidPhone => Msg::InvalidPhone,
        Problem::InvalidPhoneList => Msg::InvalidPhoneList,
        Problem::InvalidHotlineId => Msg::InvalidHotlineId,
        Problem::InvalidVouchLevel => Msg::InvalidVouchLevel,
    }
}

/// Commands open to everyone (admins included).
fn anyone(state: &mut ChannelState, out: &mut Out, s: &Sender, req: Request, now: u64) {
    use super::keywords::Command as C;
    match req {
        Request::Bare(C::Help) => out.reply(
            s,
            Msg::Help {
                admin: s.admin.is_some(),
            },
        ),
        Request::Bare(C::Info) => info(state, out, s),
        Request::Bare(C::Join) => join(state, out, s, now, false),
        Request::Bare(C::Accept) => join(state, out, s, now, true),
        Request::Bare(C::Decline) => {
            state.remove_invites_for(s.phone);
            out.reply(s, Msg::Declined);
        }
        Request::Bare(C::Leave) => leave(state, out, s),
        Request::Invite(invitees) => invite(state, out, s, &invitees, now),
        Request::SetLanguage(lang) => {
            // Non-members are answered in the language but nothing is stored for them.
            let _ = state.set_language(s.phone, lang);
            let s = Sender { lang, ..*s };
            out.reply(&s, Msg::LanguageSet);
        }
        Request::Invalid { problem, .. } => out.reply(s, problem_msg(problem)),
        Request::Unsupported => out.reply(s, Msg::Unsupported),
        // Everything else was routed before (admin-only requests never reach here for
        // non-admins; admins' are handled in `dispatch`).
        _ => out.reply(s, Msg::Unsupported),
    }
}

fn apply(state: &mut ChannelState, change: Change) {
    let settings = state.settings_mut();
    match change {
        Change::Hotline(on) => settings.set_hotline_on(on),
        Change::Vouching(mode) => settings.set_vouch_mode(mode),
        Change::VouchLevel(_) | Change::Timer(_) => {}
    }
}

fn setting(state: &ChannelState, out: &mut Out, s: &Sender, by: u16, change: Change) {
    out.reply(s, Msg::Setting { by: None, change });
    out.admins(
        state,
        &[s.phone],
        |l| {
            render(
                l,
                Msg::Setting {
                    by: Some(by),
                    change,
                },
            )
        },
        &[],
    );
}

/// Every member, grouped by language.
fn member_groups(state: &ChannelState) -> Vec<(Language, Vec<Phone>)> {
    let mut groups: Vec<(Language, Vec<Phone>)> =
        LANGUAGES.iter().map(|&l| (l, Vec::new())).collect();
    for m in state.members() {
        groups[m.language as usize].1.push(m.phone().duplicate());
    }
    groups.retain(|(_, to)| !to.is_empty());
    groups
}

fn hotline(state: &mut ChannelState, out: &mut Out, s: &Sender, msg: &Incoming) {
    if !state.settings().hotline_on() {
        return out.reply(s, Msg::HotlineOff);
    }
    let Ok(id) = state.hotline_id_for(s.phone, msg.now_secs) else {
        return out.reply(s, Msg::HotlineUnavailable);
    };
    let body = msg.body.trim();
    out.admins(
        state,
        &[],
        |l| with_body(render(l, Msg::HotlineHeader(id)), body),
        msg.attachments,
    );
    out.reply(s, Msg::HotlineForwarded);
}

fn broadcast(
    state: &ChannelState,
    out: &mut Out,
    s: &Sender,
    by: u16,
    text: &str,
    attachments: &[Attachment],
) {
    if text.is_empty() && attachments.is_empty() {
        return out.reply(s, Msg::NothingToSend);
    }
    // Subscribers and deauthorized admins get the bare text.
    let to: Vec<Phone> = state
        .members()
        .iter()
        .filter(|m| !m.is_admin() || state.is_deauthorized(m.phone()))
        .map(|m| m.phone().duplicate())
        .collect();
    let subscribers = to.len();
    out.send(to, text.to_owned(), attachments);
    let admins = out.admins(
        state,
        &[s.phone],
        |l| with_body(render(l, Msg::BroadcastHeader(by)), text),
        attachments,
    );
    out.reply(
        s,
        Msg::BroadcastSent {
            subscribers,
            admins,
        },
    );
}

fn reply(
    state: &ChannelState,
    out: &mut Out,
    s: &Sender,
    by: u16,
    id: u32,
    text: &str,
    msg: &Incoming,
) {
    let Some(target) = state.hotline_sender(id, msg.now_secs) else {
        return out.reply(s, Msg::UnknownHotlineId(id));
    };
    if text.is_empty() && msg.attachments.is_empty() {
        return out.reply(s, Msg::NothingToSend);
    }
    let lang = state.member(target).map(|m| m.language).unwrap_or_default();
    let header = render(lang, Msg::ReplyToSenderHeader);
    out.send(
        vec![target.duplicate()],
        with_body(header, text),
        msg.attachments,
    );
    out.admins(
        state,
        &[s.phone, target],
        |l| with_body(render(l, Msg::ReplyCopyHeader { id, by }), text),
        msg.attachments,
    );
    out.reply(s, Msg::ReplySent(id));
}

fn limit_msg(e: &VaultError) -> Msg {
    match e {
        VaultError::LimitReached {
            what: "subscribers",
            ..
        } => Msg::ChannelFull,
        _ => Msg::LimitReached,
    }
}

fn add(state: &mut ChannelState, out: &mut Out, s: &Sender, by: u16, target: Phone, now: u64) {
    if let Some(n) = state.member(&target).and_then(|m| m.admin_index()) {
        // A deauthorized admin still holds SK: re-ADD restores trust in their new safety
        // number, nothing more.
        if !state.reauthorize(&target) {
            return out.reply(s, Msg::AlreadyAdmin(n));
        }
        let lang = state.member(&target).map(|m| m.language).unwrap_or(s.lang);
        out.send(
            vec![target.duplicate()],
            render(lang, Msg::AdminWelcome(n)),
            &[],
        );
        out.reply(s, Msg::YouAdded(n));
        out.admins(
            state,
            &[s.phone, &target],
            |l| render(l, Msg::AdminAdded { by, new: n }),
            &[],
        );
        return;
    }
    // Everyone else becomes an admin only by redeeming a one-time passphrase for SK, after
    // the channel's approval threshold (VAULT.md §12, §14).
    let kind = ProposalKind::AddAdmin(target.duplicate());
    match state.propose(s.phone, kind, now, DEFAULT_PROPOSAL_TTL_SECS) {
        Ok((_, Outcome::Enact(_))) => {
            // An admin vouching for a number explicitly lifts a ban on it.
            state.unban(&target);
            out.effects.push(Effect::InviteAdmin(target));
            out.reply(s, Msg::AddInviting);
            out.admins(
                state,
                &[s.phone],
                |l| render(l, Msg::AdminInviting { by }),
                &[],
            );
        }
        Ok((pid, Outcome::Pending { approvals, needed })) => {
            out.reply(
                s,
                Msg::AddProposed {
                    pid,
                    approvals,
                    needed,
                },
            );
            out.admins(
                state,
                &[s.phone],
                |l| {
                    render(
                        l,
                        Msg::AdminProposedAdd {
                            by,
                            pid,
                            approvals,
                            needed,
                        },
                    )
                },
                &[],
            );
        }
        Ok((_, Outcome::Discarded(_))) | Err(VaultError::Refused { .. }) => {
            out.reply(s, Msg::ProposalRefused)
        }
        Err(e) => out.reply(s, limit_msg(&e)),
    }
}

fn remove(state: &mut ChannelState, out: &mut Out, s: &Sender, by: u16, target: &Phone) {
    if let Some(n) = state.member(target).and_then(|m| m.admin_index()) {
        // Removing an admin re-keys the channel; that is the lifecycle's job.
        return out.reply(s, Msg::RemoveAdminUseClient(n));
    }
    let Some(m) = state.remove_member(target) else {
        return out.reply(s, Msg::NotMemberTarget);
    };
    out.send(
        vec![target.duplicate()],
        render(m.language, Msg::YouWereRemoved),
        &[],
    );
    if target != s.phone {
        out.reply(s, Msg::YouRemovedSubscriber);
    }
    out.admins(
        state,
        &[s.phone],
        |l| render(l, Msg::AdminRemovedSubscriber { by }),
        &[],
    );
}

fn ban(state: &mut ChannelState, out: &mut Out, s: &Sender, by: u16, id: u32, now: u64) {
    let Some(target) = state.hotline_sender(id, now).map(Phone::duplicate) else {
        return out.reply(s, Msg::UnknownHotlineId(id));
    };
    if let Some(n) = state.member(&target).and_then(|m| m.admin_index()) {
        // A deauthorized admin writes to the hotline like a subscriber, but holds SK.
        return out.reply(s, Msg::RemoveAdminUseClient(n));
    }
    if let Err(e) = state.ban(&target) {
        return out.reply(s, limit_msg(&e));
    }
    let lang = state
        .remove_member(&target)
        .map(|m| m.language)
        .unwrap_or_default();
    out.send(vec![target], render(lang, Msg::YouAreBanned), &[]);
    out.reply(s, Msg::YouBanned(id));
    out.admins(
        state,
        &[s.phone],
        |l| render(l, Msg::AdminBanned { by, id }),
        &[],
    );
}

/// Live invites that count for `invitee`: under VOUCHING ADMIN only those from authorized
/// admins.
fn invite_count(state: &ChannelState, invitee: &Phone, now: u64) -> usize {
    let admin_only = state.settings().vouch_mode() == VouchMode::Admin;
    state
        .invites_for(invitee, now)
        .filter(|i| !admin_only || authorized_admin(state, i.inviter()).is_some())
        .count()
}

fn invites_needed(state: &ChannelState) -> u8 {
    match state.settings().vouch_mode() {
        VouchMode::Off => 1,
        VouchMode::On | VouchMode::Admin => state.settings().vouch_level(),
    }
}

/// JOIN (`accept == false`) and ACCEPT.
fn join(state: &mut ChannelState, out: &mut Out, s: &Sender, now: u64, accept: bool) {
    if s.member {
        return out.reply(s, Msg::AlreadyMember);
    }
    let have = invite_count(state, s.phone, now);
    let needed = invites_needed(state);
    if accept && have == 0 {
        return out.reply(s, Msg::NoInvite);
    }
    let vouching = state.settings().vouch_mode() != VouchMode::Off;
    if (accept || vouching) && have < usize::from(needed) {
        return out.reply(s, Msg::InviteRequired { have, needed });
    }
    if let Err(e) = state.add_member(s.phone.duplicate(), Role::Subscriber, s.lang) {
        return out.reply(s, limit_msg(&e));
    }
    state.remove_invites_for(s.phone);
    out.set_timer(
        vec![s.phone.duplicate()],
        state.settings().disappearing_timer_secs(),
    );
    out.reply(s, Msg::Welcome);
}

fn leave(state: &mut ChannelState, out: &mut Out, s: &Sender) {
    if let Some(n) = state.member(s.phone).and_then(|m| m.admin_index()) {
        // An admin who merely left would keep a working SK: the channel must be re-keyed.
        out.reply(s, Msg::AdminLeaveUseClient);
        out.admins(
            state,
            &[s.phone],
            |l| render(l, Msg::AdminAsksToLeave(n)),
            &[],
        );
        return;
    }
    if state.remove_member(s.phone).is_none() {
        return out.reply(s, Msg::NotMember);
    }
    out.reply(s, Msg::Left);
}

fn invite(state: &mut ChannelState, out: &mut Out, s: &Sender, invitees: &[Phone], now: u64) {
    if !s.member {
        return out.reply(s, Msg::InviteMembersOnly);
    }
    if state.settings().vouch_mode() == VouchMode::Admin && s.admin.is_none() {
        return out.reply(s, Msg::InviteAdminsOnly);
    }
    let needed = invites_needed(state);
    for invitee in invitees {
        // Members and banned numbers get nothing, and the inviter cannot tell (no probing).
        if state.member(invitee).is_some() || state.is_banned(invitee) {
            continue;
        }
        if state.add_invite(s.phone, invitee, now).is_err() {
            continue;
        }
        let have = invite_count(state, invitee, now);
        out.send(
            vec![invitee.duplicate()],
            render(s.lang, Msg::Invited { have, needed }),
            &[],
        );
    }
    out.reply(s, Msg::InviteIssued);
}

fn info(state: &ChannelState, out: &mut Out, s: &Sender) {
    let st = state.settings();
    let m = if s.admin.is_some() {
        Msg::InfoAdmin {
            subscribers: state.subscriber_count(),
            admins: state.admin_count(),
            hotline_on: st.hotline_on(),
            vouch: st.vouch_mode(),
            level: st.vouch_level(),
            timer: st.disappearing_timer_secs(),
        }
    } else {
        Msg::InfoMember {
            member: s.member,
            hotline_on: st.hotline_on(),
            timer: st.disappearing_timer_secs(),
        }
    };
    out.reply(s, m);
}

/// An expiration-timer update (module doc: admins change the channel's timer, anyone else's
/// change is reverted, 0 is refused).
fn timer_update(state: &mut ChannelState, out: &mut Out, s: &Sender, secs: u32) {
    let current = state.settings().disappearing_timer_secs();
    if secs == current {
        return;
    }
    let Some(by) = s.admin else {
        out.set_timer(vec![s.phone.duplicate()], current);
        if s.member {
            out.reply(s, Msg::TimerReverted(current));
        }
        return;
    };
    if secs == 0 {
        out.set_timer(vec![s.phone.duplicate()], current);
        return out.reply(s, Msg::TimerOffRefused);
    }
    state.settings_mut().set_disappearing_timer_secs(secs);
    let others: Vec<Phone> = state
        .members()
        .iter()
        .filter(|m| m.phone() != s.phone)
        .map(|m| m.phone().duplicate())
        .collect();
    out.set_timer(others, secs);
    setting(state, out, s, by, Change::Timer(secs));
}

/// A safety-number change of `who` (DESIGN §5, COURIER.md §3.1): an authorized admin is
/// deauthorized until another admin re-ADDs them, and the other admins are told, with
/// `safety_number` (the new key's, when the integrator knows it) so that they can compare it
/// with the admin out of band; a deauthorized admin whose key changed again stays
/// deauthorized and the admins are shown the newer number (a re-ADD trusts only that one); a
/// subscriber's change is trusted (the integrator re-sends), so nothing happens.
pub fn handle_identity_change(
    state: &mut ChannelState,
    who: &Phone,
    safety_number: Option<&str>,
) -> Vec<Effect> {
    let mut out = Out {
        effects: Vec::new(),
    };
    let text = |l, msg| match safety_number {
        Some(d) => with_safety_number(l, render(l, msg), d),
        None => render(l, msg),
    };
    if let Some(n) = authorized_admin(state, who) {
        if state.deauthorize(who).is_ok() {
            out.admins(state, &[who], |l| text(l, Msg::IdentityChanged(n)), &[]);
        }
    } else if let (Some(n), Some(_)) = (deauthorized_admin(state, who), safety_number) {
        out.admins(
            state,
            &[who],
            |l| text(l, Msg::IdentityChangedAgain(n)),
            &[],
        );
    }
    out.finish(state)
}

/// A re-ADD made `who` an admin again, trusting the identity key whose safety number is
/// `safety_number` (COURIER.md §3.1): the other admins are shown it once more.
pub fn reauthorized_notice(state: &ChannelState, who: &Phone, safety_number: &str) -> Vec<Effect> {
    let mut out = Out {
        effects: Vec::new(),
    };
    if let Some(n) = authorized_admin(state, who) {
        out.admins(
            state,
            &[who],
            |l| with_safety_number(l, render(l, Msg::Reauthorized(n)), safety_number),
            &[],
        );
    }
    out.finish(state)
}

/// The admin index of `phone` if they are an admin whose safety-number change deauthorized
/// them.
fn deauthorized_admin(state: &ChannelState, phone: &Phone) -> Option<u16> {
    let m = state.member(phone)?;
    m.admin_index().filter(|_| state.is_deauthorized(phone))
}
