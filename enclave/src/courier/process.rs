//! One unlock's Signal work (COURIER.md §3), run on the [`super::Worker`] thread: decrypt
//! the opened inbound envelopes with the channel's protocol store, let [`crate::relay`] act
//! on each, run an admin's CLI command, and encrypt every resulting message into an outbox
//! ([`run`]); the caller commits the advanced account and the outbox, and only then are
//! they sent ([`cycle`]), write-ahead (COURIER.md §3.2).
//!
//! A bad envelope or content is counted and skipped with a log line that names the error
//! kind only; it never stops the batch and never reaches the host.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use libsignal_protocol::Aci;
use prost::Message as _;
use signal_api::{data_message::Flags, Content, DataMessage};
use signal_client::cipher::RetryRequest;
use signal_client::outbox::Outbox;
use signal_client::{Account, ServiceConfig, SignalClient};
use zeroize::Zeroizing;

use super::CourierError;
use crate::relay::{self, Attachment, Effect};
use crate::vault::model::{ChannelState, Phone};

/// One-time prekeys uploaded at registration.
pub const INITIAL_PREKEYS: u32 = 100;
/// Most rounds of identity-change follow-ups (a notice can itself hit a changed identity).
const MAX_EFFECT_ROUNDS: usize = 3;
/// Most retry receipts one unlock sends (COURIER.md §3 step 4); envelopes beyond it that
/// need one are counted as rejected.
pub const MAX_RETRY_RECEIPTS: usize = 100;

/// What one unlock hands the worker.
#[derive(Debug)]
pub struct Batch {
    pub state: ChannelState,
    /// The signal-client account record (from the chunks, COURIER.md §2.1).
    pub account: Zeroizing<Vec<u8>>,
    /// What an earlier unlock committed as staged and may not have sent (COURIER.md §2.2):
    /// sent first, before anything else.
    pub staged: Outbox,
    /// Opened inbound items: raw Signal envelopes, oldest first.
    pub items: Vec<Zeroizing<Vec<u8>>>,
    /// An admin's command from the CLI (sender, text), run after the queue.
    pub command: Option<(Phone, Zeroizing<String>)>,
    /// The admin whose texts are returned to the CLI.
    pub viewer: Option<Phone>,
    pub now_secs: u64,
}

/// Counters for one batch (safe to log and to return to the admin).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Envelopes decrypted and handled.
    pub processed: usize,
    /// Envelopes that failed to open, decrypt or decode (skipped).
    pub rejected: usize,
    /// Envelopes decrypted before (a redelivery, e.g. after a lost ack): skipped, not bad.
    pub duplicates: usize,
    /// Envelopes from a known sender that did not decrypt in a way a resend can mend (no
    /// or a diverged session): a retry receipt asks the sender to send them again.
    pub retry_requested: usize,
    /// Envelopes without user content (receipts, typing, sync).
    pub ignored: usize,
    /// Retry receipts for the channel's own messages: its session with that device is
    /// dropped, so its next message to them starts a new one (COURIER.md §3 step 4).
    pub retry_received: usize,
    /// Messages accepted by the service.
    pub delivered: usize,
    /// Messages the service did not accept after retries.
    pub failed: usize,
    /// Recipients without a Signal account.
    pub unreachable: usize,
    /// Messages not sent because the recipient, an authorized admin, changed safety number
    /// (COURIER.md §3.1): nothing was encrypted to the new key.
    pub withheld: usize,
}

/// What carries over between the write-ahead cycles of one operation (COURIER.md §3.2).
#[derive(Debug, Default)]
pub struct Carry {
    pub stats: Stats,
    /// Texts addressed to the viewer (CLI output).
    pub texts: Vec<Zeroizing<String>>,
    viewer: Option<Phone>,
    /// Admins found with a changed safety number: nothing more goes to them.
    withheld: Vec<Phone>,
    /// CONFIRM DESTROY was handled: the caller deletes the channel.
    pub destroy: bool,
    /// Enacted ADDs: after committing, the caller invites each number as an admin
    /// (one-time passphrase over Signal, VAULT.md §12).
    pub invites: Vec<Phone>,
    /// Effect rounds used (bounded by `MAX_EFFECT_ROUNDS` for the whole operation).
    rounds: usize,
    /// The last message timestamp used.
    ts: u64,
}

/// What the worker hands back after staging (phase 1) or after a send phase.
#[derive(Debug)]
pub struct Outcome {
    pub state: ChannelState,
    /// The client, kept for the next send phase of the same operation.
    pub client: SignalClient,
    /// The account record to write as a new chunk generation; `None` when the store that
    /// is committed already holds everything (only the outbox changed).
    pub account: Option<Zeroizing<Vec<u8>>>,
    /// Staged and to be sent after the commit, in this operation.
    pub outbox: Outbox,
    /// Staged bodies that failed transiently: committed, sent at the next unlock.
    pub held: Outbox,
    pub carry: Carry,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// Registers the channel's Signal number. Returns the encoded account (which goes into the
/// vault's protocol-store slot) and its service credential (for the live receiver).
pub async fn register(
    config: ServiceConfig,
    number: Zeroizing<String>,
    code: Zeroizing<String>,
) -> Result<(Zeroizing<Vec<u8>>, signal_client::Credentials), CourierError> {
    let client = SignalClient::register(&config, &number, &code, true, INITIAL_PREKEYS).await?;
    let encoded = client.account.encode()?;
    let Account { credentials, .. } = client.account;
    Ok((encoded, credentials))
}

/// Phase 1 of one unlock (COURIER.md §3): resend what an earlier unlock staged, then
/// decrypt and act on the batch and stage every message it sends. Nothing new leaves until
/// the caller has committed the returned account and outbox.
pub async fn run(config: ServiceConfig, batch: Batch) -> Result<Outcome, CourierError> {
    let Batch {
        mut state,
        account,
        staged,
        items,
        command,
        viewer,
        now_secs,
    } = batch;
    let account = Account::decode(&account)?;
    let mut client = SignalClient::new(&config, account);
    let mut carry = Carry {
        viewer: viewer.as_ref().map(Phone::duplicate),
        ts: now_ms(),
        ..Carry::default()
    };
    // The committed store is already past these ciphertexts: sending them again is safe,
    // and a repeat is refused by the recipient (COURIER.md §3.2).
    let (mut outbox, held, _) = if staged.is_empty() {
        (Outbox::default(), Outbox::default(), false)
    } else {
        tracing::info!(
            bodies = staged.len(),
            "sending what an earlier unlock staged"
        );
        send_phase(&mut client, &mut state, staged, &mut carry).await
    };
    let mut effects = Vec::new();
    let deauthorized_before = deauthorized_admins(&state);
    let mut retries = Vec::new();
    for item in &items {
        receive(
            &mut client,
            &mut state,
            item,
            now_secs,
            &mut carry.stats,
            &mut effects,
            &mut retries,
        )
        .await;
    }
    if let Some(v) = &viewer {
        carry.texts.extend(
            relay::texts_for(&effects, v)
                .into_iter()
                .map(|t| Zeroizing::new(t.to_owned())),
        );
    }
    if let Some((admin, text)) = &command {
        let mut own = relay::handle_message(
            &mut state,
            &relay::Incoming {
                sender: admin,
                body: text,
                attachments: &[],
                expire_timer: None,
                now_secs,
            },
        );
        // What the command answers its sender is printed by the CLI, not sent to them.
        carry
            .texts
            .extend(relay::take_addressed_to(&mut own, admin));
        effects.extend(own);
    }
    effects.extend(trust_reauthorized(&client, &state, &deauthorized_before));
    // The batch's own effects get the full round budget, whatever the resend above used.
    carry.rounds = 0;
    let staged_now = stage(&mut client, &mut state, effects, &mut carry).await;
    outbox.groups.extend(staged_now.groups);
    // A retry receipt is a plaintext content on no ratchet (SPEC §5.1 of signal-client):
    // sending it before the commit reuses no key; a lost commit only sends it again.
    for r in &retries {
        if let Err(e) = client.send_retry_receipt(r).await {
            carry.stats.failed += 1;
            tracing::warn!(error = %e, "retry receipt not sent");
        }
    }
    if let Err(e) = client
        .refill_prekeys(signal_client::service::PREKEY_REFILL_THRESHOLD)
        .await
    {
        tracing::warn!(error = %e, "prekey refill failed; retried at the next unlock");
    }
    let forgotten = super::prune::prune(&mut client.account.store, &state, now_secs);
    tracing::debug!(forgotten, "recipient book pruned");
    let encoded = client.account.encode()?;
    Ok(Outcome {
        state,
        client,
        account: Some(encoded),
        outbox,
        held,
        carry,
    })
}

/// Phase 2 of one write-ahead cycle (COURIER.md §3.2): sends `outbox` (committed by the
/// caller), then stages what the results call for (relay follow-ups for identity changes,
/// messages to encrypt again); the caller commits those before the next cycle sends them.
pub async fn cycle(
    mut client: SignalClient,
    mut state: ChannelState,
    outbox: Outbox,
    mut carry: Carry,
) -> Result<Outcome, CourierError> {
    let (outbox, held, store_changed) =
        send_phase(&mut client, &mut state, outbox, &mut carry).await;
    let account = if store_changed || !outbox.is_empty() {
        Some(client.account.encode()?)
    } else {
        None
    };
    Ok(Outcome {
        state,
        client,
        account,
        outbox,
        held,
        carry,
    })
}

/// Sends a committed outbox; returns what it stages next (follow-ups, messages to
/// encrypt again), what stays held, and whether the store changed while sending.
async fn send_phase(
    client: &mut SignalClient,
    state: &mut ChannelState,
    outbox: Outbox,
    carry: &mut Carry,
) -> (Outbox, Outbox, bool) {
    let sent = client.send_staged(outbox).await;
    let mut follow_ups = Vec::new();
    let mut changed = Vec::new();
    for (aci, result) in sent.results {
        match result {
            Ok(report) => {
                carry.stats.delivered += 1;
                if report.identity_changed {
                    changed.extend(phone_of(client, &aci).map(|p| (p, aci)));
                }
            }
            Err(signal_client::Error::UntrustedIdentity) => {
                // Counted once per admin, as when later effects skip them outright.
                let p = phone_of(client, &aci);
                if p.as_ref().is_some_and(|p| carry.withheld.contains(p)) {
                    continue;
                }
                carry.stats.withheld += 1;
                tracing::warn!("an admin's safety number changed; nothing sent to them");
                withhold(client, state, &aci, carry, &mut follow_ups);
            }
            Err(signal_client::Error::Unregistered) => carry.stats.unreachable += 1,
            Err(e) => {
                carry.stats.failed += 1;
                tracing::warn!(error = %e, "send failed");
            }
        }
    }
    for (p, aci) in &changed {
        let digits = admin_safety_number(client, state, p, aci);
        follow_ups.extend(relay::handle_identity_change(state, p, digits.as_deref()));
    }
    if let Some(v) = &carry.viewer {
        carry.texts.extend(
            relay::texts_for(&follow_ups, v)
                .into_iter()
                .map(|t| Zeroizing::new(t.to_owned())),
        );
    }
    let mut next = stage(client, state, follow_ups, carry).await;
    for r in sent.restage {
        set_strict(client, state);
        let (group, failures) = client.stage_padded(&r.to, r.padded, r.timestamp).await;
        count_failures(client, state, failures, carry, &mut Vec::new());
        next.groups.push(group);
    }
    (next, sent.keep, sent.store_changed)
}

/// An admin the store refused to encrypt to (their identity key changed): the key the
/// service served instead (its TLS ends in the enclave) goes on record, so the admins are
/// shown its safety number and a re-ADD trusts exactly it (COURIER.md §3.1); the relay
/// deauthorizes them once, and later effects of this operation skip them.
fn withhold(
    client: &mut SignalClient,
    state: &mut ChannelState,
    aci: &Aci,
    carry: &mut Carry,
    follow_ups: &mut Vec<Effect>,
) {
    if let Some(key) = client.account.store.take_refused_identity(aci) {
        client.account.store.pin_identity(aci, key);
    }
    let Some(p) = phone_of(client, aci) else {
        return;
    };
    if !carry.withheld.contains(&p) {
        let digits = admin_safety_number(client, state, &p, aci);
        follow_ups.extend(relay::handle_identity_change(state, &p, digits.as_deref()));
        carry.withheld.push(p);
    }
}

/// The phone of a recipient, from the recipient book.
fn phone_of(client: &SignalClient, aci: &Aci) -> Option<Phone> {
    let e164 = client.account.store.recipient(aci)?.e164.as_deref()?;
    Phone::from_book_key(e164)
}

/// Staging failures: withheld (and the relay told), unreachable or failed. Follow-ups go
/// to `follow_ups`.
fn count_failures(
    client: &mut SignalClient,
    state: &mut ChannelState,
    failures: Vec<(Aci, Result<signal_client::SendReport, signal_client::Error>)>,
    carry: &mut Carry,
    follow_ups: &mut Vec<Effect>,
) {
    for (aci, result) in failures {
        match result {
            Ok(_) => {}
            Err(signal_client::Error::UntrustedIdentity) => {
                carry.stats.withheld += 1;
                tracing::warn!("an admin's safety number changed; nothing encrypted to them");
                withhold(client, state, &aci, carry, follow_ups);
            }
            Err(signal_client::Error::Unregistered) => carry.stats.unreachable += 1,
            Err(e) => {
                carry.stats.failed += 1;
                tracing::warn!(error = %e, "message not staged");
            }
        }
    }
}

/// Counts an envelope that did not decrypt: a redelivered one as a duplicate, anything else
/// as rejected (COURIER.md §3).
fn undecryptable(stats: &mut Stats, e: &signal_client::Error) {
    if matches!(
        e,
        signal_client::Error::Protocol {
            kind: signal_client::error::DUPLICATED_MESSAGE
        }
    ) {
        stats.duplicates += 1;
        tracing::debug!("inbound envelope decrypted before (redelivered); skipped");
    } else {
        stats.rejected += 1;
        tracing::warn!(error = %e, "inbound envelope rejected");
    }
}

/// Queues a retry receipt for a sealed-sender envelope that a resend can mend (COURIER.md
/// §3 step 4): at most [`MAX_RETRY_RECEIPTS`] per unlock and one per original message; the
/// rest, and unsealed envelopes, count as rejected. Logged by kind only.
fn queue_retry(
    stats: &mut Stats,
    retries: &mut Vec<RetryRequest>,
    kind: &'static str,
    retry: RetryRequest,
) {
    let same = |r: &RetryRequest| {
        r.sender == retry.sender
            && r.sender_device == retry.sender_device
            && r.original_timestamp == retry.original_timestamp
    };
    if !retry.sealed_sender {
        // An unsealed envelope names its sender only in fields the host could have written
        // (it can seal any envelope to EK): asking that sender would let the host make the
        // channel write to, and reset sessions of, anyone it names.
        stats.rejected += 1;
        tracing::warn!(
            kind,
            "inbound envelope rejected (unsealed: not asked for again)"
        );
        return;
    }
    if retries.iter().any(same) {
        stats.retry_requested += 1;
        return;
    }
    if retries.len() >= MAX_RETRY_RECEIPTS {
        stats.rejected += 1;
        tracing::warn!(
            kind,
            "inbound envelope rejected (retry receipts for this unlock used up)"
        );
        return;
    }
    stats.retry_requested += 1;
    tracing::info!(
        kind,
        "inbound envelope did not decrypt; its sender is asked to resend it"
    );
    retries.push(retry);
}

/// Decrypts one envelope and lets the relay act on it.
async fn receive(
    client: &mut SignalClient,
    state: &mut ChannelState,
    envelope: &[u8],
    now_secs: u64,
    stats: &mut Stats,
    effects: &mut Vec<Effect>,
    retries: &mut Vec<RetryRequest>,
) {
    let incoming = match client.decrypt(envelope).await {
        Ok(i) => i,
        Err(signal_client::Error::DecryptionFailed { kind, retry }) => {
            queue_retry(stats, retries, kind, *retry);
            return;
        }
        Err(e) => {
            undecryptable(stats, &e);
            return;
        }
    };
    let Some(phone) = sender_phone(
        client,
        state,
        &incoming.sender,
        incoming.sender_e164.as_deref(),
    ) else {
        stats.rejected += 1;
        tracing::warn!("inbound message from a sender with a malformed number; skipped");
        return;
    };
    if incoming.identity_changed {
        let was_authorized =
            state.member(&phone).is_some_and(|m| m.is_admin()) && !state.is_deauthorized(&phone);
        // The new key is on record now (receiving trusts, signal-client SPEC §1): it arrived
        // over the authenticated path (VAULT.md §6.1), and a re-ADD pins exactly it.
        let digits = admin_safety_number(client, state, &phone, &incoming.sender);
        let notices = relay::handle_identity_change(state, &phone, digits.as_deref());
        if was_authorized && state.is_deauthorized(&phone) {
            // What was meant for them as an admin earlier in this batch (hotline messages,
            // admin copies) must not reach the new phone (COURIER.md §3.1).
            drop(relay::take_addressed_to(effects, &phone));
        }
        effects.extend(notices);
    }
    if let Some(dem) = incoming.content.decryption_error_message.as_deref() {
        retry_receipt(client, &incoming, dem, stats);
        return;
    }
    let Some(dm) = incoming.content.data_message.as_ref() else {
        stats.ignored += 1;
        return;
    };
    stats.processed += 1;
    let timer = dm
        .has_flag(Flags::ExpirationTimerUpdate)
        .then(|| dm.expire_timer.unwrap_or(0));
    let attachments: Vec<Attachment> = dm
        .attachments
        .iter()
        .take(relay::MAX_ATTACHMENTS)
        .map(|a| Attachment::new(Zeroizing::new(a.encode_to_vec())))
        .collect();
    let body = Zeroizing::new(dm.body.clone().unwrap_or_default());
    effects.extend(relay::handle_message(
        state,
        &relay::Incoming {
            sender: &phone,
            body: &body,
            attachments: &attachments,
            expire_timer: timer,
            now_secs,
        },
    ));
}

/// A retry receipt for one of the channel's messages (COURIER.md §3 step 4): the channel
/// keeps no send log, so the message is not sent again, but its session with the device
/// that could not decrypt is dropped so that the next message starts a new one instead of
/// failing the same way.
fn retry_receipt(
    client: &mut SignalClient,
    incoming: &signal_client::Incoming,
    dem: &[u8],
    stats: &mut Stats,
) {
    let ours = u32::from(u8::from(client.account.credentials.device_id));
    match libsignal_protocol::DecryptionErrorMessage::try_from(dem) {
        Ok(m) if m.device_id() == ours => {
            let address = libsignal_protocol::ProtocolAddress::new(
                incoming.sender.service_id_string(),
                incoming.sender_device,
            );
            client.account.store.remove_session(&address);
            stats.retry_received += 1;
            tracing::info!("retry receipt received; that device's session starts anew");
        }
        Ok(_) => stats.ignored += 1,
        Err(_) => {
            stats.rejected += 1;
            tracing::warn!("inbound retry receipt rejected (undecodable)");
        }
    }
}

/// Who sent a message (COURIER.md §6): their number when the sender certificate or the
/// recipient book has one, else the pseudonym of their ACI ([`Phone::pseudonym`]), which the
/// recipient book then records for that ACI so that replies reach them without any directory
/// lookup. A member known by pseudonym whose certificate now carries their number becomes
/// that number everywhere in the channel state ([`ChannelState::rename_pseudonym`]). `None`
/// for a number that is not E.164.
fn sender_phone(
    client: &mut SignalClient,
    state: &mut ChannelState,
    aci: &Aci,
    e164: Option<&str>,
) -> Option<Phone> {
    let pseudonym = pseudonym_of(aci)?;
    let Some(e164) = e164 else {
        if let Err(e) = client
            .account
            .store
            .set_e164(aci, &pseudonym.to_e164_string())
        {
            tracing::warn!(error = %e, "recipient book full; a reply cannot reach this sender");
        }
        return Some(pseudonym);
    };
    let phone = Phone::from_book_key(e164)?;
    if phone.is_pseudonym() {
        // Only `pseudonym` is ever written for this ACI (a collision would have moved the
        // key to the other ACI, leaving this one without a number).
        return Some(pseudonym);
    }
    if state.is_banned(&phone) && !state.is_banned(&pseudonym) {
        // So that hiding their number later does not lift the ban (COURIER.md §6).
        if let Err(e) = state.ban(&pseudonym) {
            tracing::warn!(error = %e, "ban not extended to the sender's pseudonym");
        }
    }
    rename(state, &pseudonym, &phone);
    Some(phone)
}

/// The pseudonym of an ACI (VAULT.md §5).
fn pseudonym_of(aci: &Aci) -> Option<Phone> {
    let id: [u8; 16] = aci.service_id_binary().try_into().ok()?;
    Some(Phone::pseudonym(&id))
}

/// `pseudonym` turned out to be `number`: one member from now on.
fn rename(state: &mut ChannelState, pseudonym: &Phone, number: &Phone) {
    match state.rename_pseudonym(pseudonym, number) {
        Ok(true) => tracing::debug!("a member known by pseudonym is now known by number"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "pseudonym not renamed"),
    }
}

/// The service id for each phone, from the recipient book or a directory lookup. A
/// pseudonym is never looked up (it is no number): one the book no longer maps is
/// unreachable. A number that the lookup finds on an account the book knew only by its
/// pseudonym (an admin typed the number of a member whose number is hidden) is the same
/// person: the pseudonym becomes that number in `state`, as when they share it.
async fn resolve(
    client: &mut SignalClient,
    state: &mut ChannelState,
    phones: &[Phone],
    stats: &mut Stats,
) -> Vec<(Aci, usize)> {
    let mut out = Vec::with_capacity(phones.len());
    for (i, p) in phones.iter().enumerate() {
        let e164 = p.to_e164_string();
        if let Some(aci) = client.account.store.aci_for_e164(&e164) {
            out.push((aci, i));
            continue;
        }
        if p.is_pseudonym() {
            stats.unreachable += 1;
            continue;
        }
        match client.lookup(&e164).await {
            Ok(Some(aci)) => {
                if let Err(e) = client.account.store.set_e164(&aci, &e164) {
                    tracing::warn!(error = %e, "recipient book full");
                }
                // The lookup has already moved the book's entry for `aci` to this number,
                // so the state decides: anything held under the account's pseudonym is
                // this number's (a no-op for everyone else; lookups are rare).
                if let Some(ps) = pseudonym_of(&aci) {
                    rename(state, &ps, p);
                }
                out.push((aci, i));
            }
            Ok(None) => stats.unreachable += 1,
            Err(e) => {
                stats.failed += 1;
                tracing::warn!(error = %e, "directory lookup failed");
            }
        }
    }
    out
}

fn content_bytes(dm: DataMessage) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        Content {
            data_message: Some(dm),
            ..Default::default()
        }
        .encode_to_vec(),
    )
}

/// Admins whose safety-number change deauthorized them (COURIER.md §3.1).
fn deauthorized_admins(state: &ChannelState) -> Vec<Phone> {
    state
        .admins()
        .filter(|m| state.is_deauthorized(m.phone()))
        .map(|m| m.phone().duplicate())
        .collect()
}

/// Admins in `before` that another admin re-ADDed since (still admins, no longer
/// deauthorized): they are trusted with exactly the identity key on record, the one observed
/// when they were deauthorized (or when it changed again afterwards) and shown to the admins
/// as a safety number; nothing is forgotten, so a different key later is another change and
/// deauthorizes them again (COURIER.md §3.1). The other admins are shown that safety number
/// once more with the re-ADD's confirmation.
fn trust_reauthorized(
    client: &SignalClient,
    state: &ChannelState,
    before: &[Phone],
) -> Vec<Effect> {
    let mut notices = Vec::new();
    for p in before {
        let back = state.member(p).is_some_and(|m| m.is_admin()) && !state.is_deauthorized(p);
        if !back {
            continue;
        }
        let Some(aci) = client.account.store.aci_for_e164(&p.to_e164_string()) else {
            continue;
        };
        if let Some(digits) = safety_number(client, &aci) {
            notices.extend(relay::reauthorized_notice(state, p, &digits));
        }
    }
    notices
}

/// Fingerprint version and iterations of the Signal apps' safety numbers (service-id
/// version: the two accounts' ACIs as 16 UUID bytes).
const SAFETY_NUMBER_VERSION: u32 = 2;
const SAFETY_NUMBER_ITERATIONS: u32 = 5200;

/// The safety number between the channel's account and `aci`'s identity key on record, as
/// the Signal apps compute and show it (libsignal `Fingerprint`, twelve groups of five
/// digits). `None` without a key on record.
fn safety_number(client: &SignalClient, aci: &Aci) -> Option<String> {
    let theirs = client.account.store.identity(aci)?;
    let ours = *client.account.store.identity_key_pair().identity_key();
    let fp = libsignal_protocol::Fingerprint::new(
        SAFETY_NUMBER_VERSION,
        SAFETY_NUMBER_ITERATIONS,
        &client.account.credentials.aci.service_id_binary(),
        &ours,
        &aci.service_id_binary(),
        &theirs,
    )
    .ok()?;
    let digits = fp.display_string().ok()?;
    let groups: Vec<&str> = digits
        .as_bytes()
        .chunks(5)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    Some(groups.join(" "))
}

/// [`safety_number`] for `phone` if they are an admin (authorized or deauthorized): only
/// admins' identity changes are shown to anyone.
fn admin_safety_number(
    client: &SignalClient,
    state: &ChannelState,
    phone: &Phone,
    aci: &Aci,
) -> Option<String> {
    state
        .member(phone)
        .is_some_and(|m| m.is_admin())
        .then(|| safety_number(client, aci))
        .flatten()
}

/// Makes the channel's authorized admins strict in the protocol store: sending to one whose
/// identity key changed fails with `UntrustedIdentity` instead of trusting the new key
/// (COURIER.md §3.1). Admins whose ACI is not yet known have no session and no key on
/// record, so there is nothing to protect yet; they are strict from the next call on.
fn set_strict(client: &mut SignalClient, state: &ChannelState) {
    let store = &mut client.account.store;
    let acis: Vec<Aci> = state
        .admins()
        .filter(|m| !state.is_deauthorized(m.phone()))
        .filter_map(|m| store.aci_for_e164(&m.phone().to_e164_string()))
        .collect();
    store.set_strict(&acis);
}

/// Encrypts every effect and stages the bodies (nothing is sent). Identity changes found
/// while staging (a new bundle) are handed to the relay at once and their follow-ups
/// staged too, for at most `MAX_EFFECT_ROUNDS` rounds in the whole operation.
///
/// An authorized admin whose identity key changed is never sent anything: the store refuses
/// to encrypt to them (`set_strict` before every staging), the relay deauthorizes them at
/// once (the other admins are told, in the next round), and every later effect of this
/// operation skips them, even those computed while they were still an admin. What such
/// follow-ups tell the viewer is also added to their texts (CLI output).
async fn stage(
    client: &mut SignalClient,
    state: &mut ChannelState,
    mut effects: Vec<Effect>,
    carry: &mut Carry,
) -> Outbox {
    let mut outbox = Outbox::default();
    let profile_key = client.account.profile_key().to_vec();
    while !effects.is_empty() && carry.rounds < MAX_EFFECT_ROUNDS {
        carry.rounds += 1;
        let mut changed: Vec<(Phone, Aci)> = Vec::new();
        let mut follow_ups: Vec<Effect> = Vec::new();
        for effect in effects.drain(..) {
            let (to, dm) = match effect {
                Effect::Send {
                    to,
                    text,
                    attachments,
                    expire_timer,
                } => {
                    let pointers = attachments
                        .iter()
                        .filter_map(|a| signal_api::AttachmentPointer::decode(a.bytes()).ok())
                        .collect();
                    (
                        to,
                        DataMessage {
                            body: Some(text.to_string()),
                            attachments: pointers,
                            expire_timer: Some(expire_timer),
                            ..Default::default()
                        },
                    )
                }
                Effect::SetTimer { to, secs } => (
                    to,
                    DataMessage {
                        flags: Some(Flags::ExpirationTimerUpdate as u32),
                        expire_timer: Some(secs),
                        ..Default::default()
                    },
                ),
                Effect::DestroyChannel => {
                    carry.destroy = true;
                    continue;
                }
                Effect::InviteAdmin(p) => {
                    carry.invites.push(p);
                    continue;
                }
            };
            let to: Vec<Phone> = to
                .into_iter()
                .filter(|p| !carry.withheld.contains(p))
                .collect();
            if to.is_empty() {
                continue;
            }
            carry.ts += 1;
            let ts = carry.ts;
            let dm = DataMessage {
                timestamp: Some(ts),
                profile_key: Some(profile_key.clone()),
                ..dm
            };
            let content = content_bytes(dm);
            let acis = resolve(client, state, &to, &mut carry.stats).await;
            let ids: Vec<Aci> = acis.iter().map(|(a, _)| *a).collect();
            let by_aci: HashMap<Aci, usize> = acis.into_iter().collect();
            set_strict(client, state);
            let (mut group, failures) = client.stage_many(&ids, &content, ts).await;
            for item in &mut group.items {
                if item.identity_changed {
                    item.identity_changed = false;
                    if let Some(&i) = by_aci.get(&item.prepared.to) {
                        changed.push((to[i].duplicate(), item.prepared.to));
                    }
                }
            }
            count_failures(client, state, failures, carry, &mut follow_ups);
            outbox.groups.push(group);
        }
        for (p, aci) in &changed {
            let digits = admin_safety_number(client, state, p, aci);
            follow_ups.extend(relay::handle_identity_change(state, p, digits.as_deref()));
        }
        if let Some(v) = &carry.viewer {
            carry.texts.extend(
                relay::texts_for(&follow_ups, v)
                    .into_iter()
                    .map(|t| Zeroizing::new(t.to_owned())),
            );
        }
        effects.extend(follow_ups);
    }
    outbox
}

/// Sends `effects` (key-lifecycle notices and one-time passphrases, VAULT.md §12–§13) from
/// the channel's number, without touching the inbound queue. Unlike an unlock this sends
/// before its caller commits (COURIER.md §6). Returns the updated account, the stats and
/// the service credential.
pub async fn send(
    config: ServiceConfig,
    mut state: ChannelState,
    account: Zeroizing<Vec<u8>>,
    effects: Vec<Effect>,
) -> Result<Sent, CourierError> {
    let account = Account::decode(&account)?;
    let mut client = SignalClient::new(&config, account);
    let mut carry = Carry {
        ts: now_ms(),
        ..Carry::default()
    };
    let mut outbox = stage(&mut client, &mut state, effects, &mut carry).await;
    while !outbox.is_empty() {
        let (next, held, _) = send_phase(&mut client, &mut state, outbox, &mut carry).await;
        carry.stats.failed += held.len();
        outbox = next;
    }
    let encoded = client.account.encode()?;
    let Account { credentials, .. } = client.account;
    Ok(Sent {
        state,
        account: encoded,
        stats: carry.stats,
        credentials,
    })
}

/// What [`send`] hands back.
#[derive(Debug)]
pub struct Sent {
    pub state: ChannelState,
    pub account: Zeroizing<Vec<u8>>,
    pub stats: Stats,
    pub credentials: signal_client::Credentials,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn courier_process_a_redelivered_envelope_counts_as_duplicate_not_rejected() {
        let mut stats = Stats::default();
        undecryptable(
            &mut stats,
            &signal_client::Error::Protocol {
                kind: signal_client::error::DUPLICATED_MESSAGE,
            },
        );
        assert_eq!((stats.duplicates, stats.rejected), (1, 0));
        undecryptable(
            &mut stats,
            &signal_client::Error::Protocol {
                kind: "invalid message",
            },
        );
        undecryptable(&mut stats, &signal_client::Error::SenderCertificateInvalid);
        assert_eq!((stats.duplicates, stats.rejected), (1, 2));
    }

    fn retry(sender: u8, ts: u64) -> RetryRequest {
        RetryRequest {
            sender: Aci::from_uuid_bytes([sender; 16]),
            sender_device: libsignal_protocol::DeviceId::try_from(1u8).expect("valid"),
            original_type: libsignal_protocol::CiphertextMessageType::Whisper,
            original_timestamp: ts,
            original: vec![0; 8],
            sealed_sender: true,
        }
    }

    #[test]
    fn courier_process_retry_receipts_are_one_per_message_and_bounded() {
        let mut stats = Stats::default();
        let mut retries = Vec::new();
        queue_retry(&mut stats, &mut retries, "session not found", retry(1, 10));
        // The same message again (redelivered before the receipt went): one receipt.
        queue_retry(&mut stats, &mut retries, "session not found", retry(1, 10));
        queue_retry(&mut stats, &mut retries, "invalid message", retry(1, 11));
        assert_eq!(
            (stats.retry_requested, stats.rejected, retries.len()),
            (3, 0, 2)
        );
        for ts in 0..MAX_RETRY_RECEIPTS as u64 {
            queue_retry(&mut stats, &mut retries, "invalid message", retry(2, ts));
        }
        assert_eq!(retries.len(), MAX_RETRY_RECEIPTS);
        assert_eq!(stats.rejected, 2);
        assert_eq!(stats.retry_requested, 3 + MAX_RETRY_RECEIPTS - 2);
        // Unsealed: only the host's word for the sender; never asked.
        let mut stats = Stats::default();
        let mut retries = Vec::new();
        let mut unsealed = retry(3, 1);
        unsealed.sealed_sender = false;
        queue_retry(&mut stats, &mut retries, "session not found", unsealed);
        assert_eq!(
            (stats.retry_requested, stats.rejected, retries.len()),
            (0, 1, 0)
        );
    }
}
