//! Signal routes of the client API (SPEC §3.5): register the channel's number, process the
//! mailbox (the inbound queue), and run an admin's command (`sealboost broadcast|private|
//! reply`). Each is one unlock: open → Signal work on the worker → commit → trim.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use signal_client::outbox::Outbox;
use wire::blob::{BlobRequest, BlobResponse, MAX_RANGE_BYTES, MAX_RANGE_ITEMS};
use zeroize::Zeroizing;

use crate::api::{error, Body};
use crate::channel_api::{channel_request, now_secs, parse_sk};
use crate::channels::{ChannelError, Unlock};
use crate::courier::chunks::{self, ChunkTable, Kind};
use crate::courier::live::SealTo;
use crate::courier::process::{self, Batch, Stats};
use crate::courier::slot::SignalSlot;
use crate::courier::{Courier, CourierError};
use crate::failure::{respond, Failure};
use crate::vault::model::Phone;
use crate::vault::{names, open_inbound, ChannelId, Dk};
use crate::Enclave;

/// Largest Signal route body (a command text of up to 64 KiB plus JSON).
pub const MAX_SIGNAL_BODY: usize = 80 * 1024;
/// Most inbound items one unlock processes; the rest wait for the next (the answer says
/// how many remain).
pub const MAX_BATCH_ITEMS: usize = 20_000;
/// Default byte budget of one unlock's inbound items (COURIER.md §3 step 2): at most this
/// many bytes of queue items are read, opened and held by one unlock; the rest wait.
pub const UNLOCK_BYTE_BUDGET: usize = 64 * 1024 * 1024;
/// Smallest budget accepted: one item of the largest size always fits, so every unlock
/// makes progress.
pub const MIN_UNLOCK_BYTE_BUDGET: usize = wire::blob::MAX_QUEUE_ITEM_LEN;
/// Largest budget accepted (`--unlock-budget-bytes`).
pub const MAX_UNLOCK_BYTE_BUDGET: usize = 1024 * 1024 * 1024;

static BYTE_BUDGET: AtomicUsize = AtomicUsize::new(UNLOCK_BYTE_BUDGET);

/// The byte budget of one unlock's inbound items (default [`UNLOCK_BYTE_BUDGET`]).
pub fn unlock_byte_budget() -> usize {
    BYTE_BUDGET.load(Ordering::Relaxed)
}

/// Sets the byte budget of every later unlock (the enclave's `--unlock-budget-bytes`, for
/// tests and small enclaves). Refused outside
/// [`MIN_UNLOCK_BYTE_BUDGET`]..=[`MAX_UNLOCK_BYTE_BUDGET`].
pub fn set_unlock_byte_budget(bytes: usize) -> Result<(), &'static str> {
    if !(MIN_UNLOCK_BYTE_BUDGET..=MAX_UNLOCK_BYTE_BUDGET).contains(&bytes) {
        return Err("the unlock byte budget must be between 256 KiB and 1 GiB");
    }
    BYTE_BUDGET.store(bytes, Ordering::Relaxed);
    Ok(())
}

/// Most write-ahead cycles (commit, then send) one unlock runs (COURIER.md §3.2): the
/// first carries everything the batch sends, later ones only follow-ups of the sends.
pub const MAX_WRITE_AHEAD_CYCLES: usize = 4;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalRequest {
    sk: Zeroizing<String>,
    min_epoch: u64,
    /// `register`: the channel's number and its verification code.
    #[serde(default)]
    number: Option<Zeroizing<String>>,
    #[serde(default)]
    code: Option<Zeroizing<String>>,
    /// `mailbox`, `command`: the admin's own number (whose texts are returned).
    #[serde(default)]
    admin: Option<Zeroizing<String>>,
    /// `command`: the command text, e.g. `BROADCAST hello`.
    #[serde(default)]
    text: Option<Zeroizing<String>>,
    /// With `admin`: that admin's proof (SPEC §3.6 "Admin proof", VAULT.md §20).
    #[serde(default)]
    admin_proof: Option<String>,
    /// The session's channel binding, from the server, never from the body.
    #[serde(skip)]
    binding: Option<crate::events::SessionBinding>,
}

/// `POST /v1/channels/{id}/signal/register|mailbox|command`.
pub async fn route(
    enclave: Arc<Enclave>,
    id: &str,
    op: &str,
    req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let binding = req
        .extensions()
        .get::<crate::events::SessionBinding>()
        .cloned();
    let (id, mut body): (ChannelId, SignalRequest) =
        match channel_request(id, req, MAX_SIGNAL_BODY).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    body.binding = binding;
    if enclave.courier.is_none() {
        return respond(Err(CourierError::NotConfigured.into()));
    }
    respond(match op {
        "signal/register" => register(&enclave, &id, body).await,
        "mailbox" => unlock_run(&enclave, &id, body, false).await,
        "command" => unlock_run(&enclave, &id, body, true).await,
        _ => return error(StatusCode::NOT_FOUND, "not_found"),
    })
}

fn courier(enclave: &Enclave) -> Result<&Courier, Failure> {
    enclave
        .courier
        .as_ref()
        .ok_or(Failure::Courier(CourierError::NotConfigured))
}

async fn queue_next(enclave: &Enclave, id: &ChannelId) -> Result<u64, Failure> {
    Ok(enclave.channels.queue_stats(&enclave.blobs, id).await?.1)
}

async fn register(
    enclave: &Arc<Enclave>,
    id: &ChannelId,
    body: SignalRequest,
) -> Result<serde_json::Value, Failure> {
    let courier = courier(enclave)?;
    let sk = parse_sk(&body.sk)?;
    let number = body.number.ok_or(ChannelError::BadRequest("number"))?;
    Phone::parse(&number)?;
    let code = body.code.unwrap_or_else(|| Zeroizing::new(String::new()));
    let (opened, mut state) = enclave
        .channels
        .open(
            &enclave.blobs,
            Unlock {
                id,
                sk: &sk,
                min_epoch: body.min_epoch,
                now_secs: now_secs(),
                write: true,
            },
        )
        .await?;
    if !state.protocol_store().is_empty() {
        return Err(CourierError::AlreadyRegistered.into());
    }
    // Anything queued before the account existed is not ours to process.
    let next = queue_next(enclave, id).await?;
    let config = courier.config.clone();
    let (account, credentials) = courier
        .worker(id)?
        .run(move || process::register(config, number, code))
        .await??;
    let table = chunks::store(&enclave.blobs, id, opened.dk(), 1, &account)
        .await
        .map_err(CourierError::from)?;
    state.set_protocol_store(Zeroizing::new(table.encode()))?;
    state.set_signal_account(Zeroizing::new(SignalSlot::at(next).encode()))?;
    let seal = SealTo::new(id, opened.dk());
    let epoch = commit(enclave, opened, state, id, table.generation, None).await?;
    // A refusal (older key epoch) is logged by kind inside `ensure`.
    let _ = courier.live.ensure(courier, credentials, seal).await;
    Ok(json!({ "epoch": epoch, "registered": true }))
}

/// Commits `state` (which points at chunk generation `new`), then deletes the other
/// generations. If the commit fails, the new generation is deleted and `old` kept.
async fn commit(
    enclave: &Enclave,
    opened: crate::channels::Opened,
    state: crate::vault::model::ChannelState,
    id: &ChannelId,
    new: u64,
    old: Option<u64>,
) -> Result<u64, Failure> {
    match enclave.channels.commit(&enclave.blobs, opened, state).await {
        Ok(epoch) => {
            chunks::collect_garbage(&enclave.blobs, id, Some(new)).await;
            Ok(epoch)
        }
        Err(e) => {
            // `old` (if any) is what the stored state still points at.
            chunks::collect_garbage(&enclave.blobs, id, old).await;
            Err(e.into())
        }
    }
}

/// What [`read_queue`] read: the opened items, how many did not open, and the cursor past
/// the last item consumed.
struct QueueRead {
    items: Vec<Zeroizing<Vec<u8>>>,
    unopenable: usize,
    next: u64,
}

/// Reads and opens (VAULT.md §6) the inbound items from `from` on, at most
/// [`MAX_BATCH_ITEMS`] of them and at most [`unlock_byte_budget`] bytes of them, so one
/// unlock's memory is bounded whatever the host has queued (COURIER.md §3 steps 2–3). Each
/// range the host answers is opened at once and its raw copies dropped, so raw and opened
/// copies of the whole batch are never held together. An item that does not open (not
/// written by the channel's receiver, another key epoch, corrupt) is consumed and counted;
/// an item that would take the batch past the budget is not consumed and waits for the
/// next unlock.
async fn read_queue(
    enclave: &Enclave,
    id: &ChannelId,
    dk: &Dk,
    from: u64,
) -> Result<QueueRead, Failure> {
    let budget = unlock_byte_budget();
    let mut read = QueueRead {
        items: Vec::new(),
        unopenable: 0,
        next: from,
    };
    let mut bytes = 0usize;
    let mut count = 0usize;
    'ranges: while count < MAX_BATCH_ITEMS && bytes < budget {
        let max_items = (MAX_BATCH_ITEMS - count).min(MAX_RANGE_ITEMS as usize);
        let max_bytes = (budget - bytes).min(MAX_RANGE_BYTES as usize);
        let r = enclave
            .blobs
            .call(&BlobRequest::QueueRange {
                queue: names::inbound(id),
                from: read.next,
                max_items: u32::try_from(max_items).unwrap_or(MAX_RANGE_ITEMS),
                max_bytes: u32::try_from(max_bytes).unwrap_or(MAX_RANGE_BYTES),
            })
            .await
            .map_err(ChannelError::from)?;
        let BlobResponse::Items { items: got } = r else {
            return Err(ChannelError::Integrity(format!(
                "host answered {} to queue range",
                r.kind_name()
            ))
            .into());
        };
        if got.is_empty() {
            break;
        }
        for (seq, item) in got {
            // The host chooses what it returns: sequence numbers must move strictly forward.
            if seq < read.next {
                return Err(ChannelError::Integrity("queue items out of order".into()).into());
            }
            // The host may answer more than it was asked for: the budget is ours to keep.
            if count >= MAX_BATCH_ITEMS || bytes + item.len() > budget {
                break 'ranges;
            }
            bytes += item.len();
            count += 1;
            read.next = seq + 1;
            match open_inbound(dk, id, &item) {
                Ok(pt) => read.items.push(pt),
                Err(e) => {
                    read.unopenable += 1;
                    tracing::warn!(error = %e, "inbound item does not open; skipped");
                }
            }
        }
    }
    Ok(read)
}

async fn unlock_run(
    enclave: &Arc<Enclave>,
    id: &ChannelId,
    body: SignalRequest,
    is_command: bool,
) -> Result<serde_json::Value, Failure> {
    let courier = courier(enclave)?;
    let sk = parse_sk(&body.sk)?;
    let admin = body.admin.as_deref().map(|a| Phone::parse(a)).transpose()?;
    let command = if is_command {
        let text = body.text.ok_or(ChannelError::BadRequest("text"))?;
        let admin = admin.as_ref().ok_or(ChannelError::BadRequest("admin"))?;
        Some((admin.duplicate(), text))
    } else {
        None
    };
    let now = now_secs();
    let (opened, state) = enclave
        .channels
        .open(
            &enclave.blobs,
            Unlock {
                id,
                sk: &sk,
                min_epoch: body.min_epoch,
                now_secs: now,
                write: true,
            },
        )
        .await?;
    if let Some(a) = &admin {
        // Only an authorized admin may act or read the mailbox as themselves, and only
        // with their own key's proof (VAULT.md §20).
        crate::lifecycle_api::authenticate(
            id,
            &state,
            a,
            body.binding.as_ref(),
            body.admin_proof.as_deref(),
        )?;
    }
    let slot = SignalSlot::decode(state.signal_account())
        .map_err(CourierError::from)?
        .ok_or(CourierError::NoAccount)?;
    let table = ChunkTable::decode(state.protocol_store())
        .map_err(CourierError::from)?
        .ok_or(CourierError::NoAccount)?;
    let account = chunks::load(&enclave.blobs, id, opened.dk(), &table)
        .await
        .map_err(CourierError::from)?;
    let QueueRead {
        items,
        unopenable,
        next,
    } = read_queue(enclave, id, opened.dk(), slot.inbound_next).await?;
    // What an earlier unlock committed as staged (COURIER.md §2.2): sent before anything.
    let staged = match &slot.outbox {
        Some(t) => {
            let bytes = chunks::load_kind(Kind::Outbox, &enclave.blobs, id, opened.dk(), t)
                .await
                .map_err(CourierError::from)?;
            Outbox::decode(&bytes).map_err(CourierError::from)?
        }
        None => Outbox::default(),
    };
    let config = courier.config.clone();
    let batch = Batch {
        state,
        account,
        staged,
        items,
        command,
        viewer: admin,
        now_secs: now,
    };
    let mut outcome = courier
        .worker(id)?
        .run(move || process::run(config, batch))
        .await??;
    let seal = SealTo::new(id, opened.dk());
    // Write-ahead cycles (COURIER.md §3.2): commit the advanced account, the cursor and
    // the outbox in one compare-and-swap, then send exactly what was committed; what the
    // sends call for is staged, committed and sent the same way. The last commit clears
    // the outbox (keeping only bodies that failed transiently).
    let mut opened = opened;
    let mut account_gen = table.generation;
    let mut outbox_gen = slot.outbox.as_ref().map(|t| t.generation);
    let mut cursor_committed = false;
    let mut epoch;
    let mut cycles = 0usize;
    loop {
        cycles += 1;
        let mut state = outcome.state;
        let new_account = match outcome.account.take() {
            Some(bytes) => {
                let g = account_gen + 1;
                let t = chunks::store(&enclave.blobs, id, opened.dk(), g, &bytes)
                    .await
                    .map_err(CourierError::from)?;
                state.set_protocol_store(Zeroizing::new(t.encode()))?;
                Some(g)
            }
            None => None,
        };
        // Another cycle only for what this operation staged new; held bodies wait for the
        // next unlock.
        let last = outcome.outbox.is_empty() || cycles >= MAX_WRITE_AHEAD_CYCLES;
        let (send_now, held) = (outcome.outbox, outcome.held);
        let (committed_outbox, new_outbox_gen) = {
            let parts = [&send_now, &held];
            if parts.iter().all(|o| o.is_empty()) {
                (None, None)
            } else {
                let bytes =
                    signal_client::outbox::encode_parts(&parts).map_err(CourierError::from)?;
                let g = opened.epoch + 1;
                let t =
                    chunks::store_kind(Kind::Outbox, &enclave.blobs, id, opened.dk(), g, &bytes)
                        .await
                        .map_err(CourierError::from)?;
                (Some(t), Some(g))
            }
        };
        state.set_signal_account(Zeroizing::new(
            SignalSlot {
                inbound_next: next,
                outbox: committed_outbox,
            }
            .encode(),
        ))?;
        match enclave
            .channels
            .commit_again(&enclave.blobs, &mut opened, &state)
            .await
        {
            Ok(e) => epoch = e,
            Err(e) => {
                // Only a refusal is known not to have been written; after a lost answer
                // the new generations may be what the stored state points at.
                if matches!(e, ChannelError::Conflict) {
                    if new_account.is_some() {
                        chunks::collect_garbage(&enclave.blobs, id, Some(account_gen)).await;
                    }
                    if new_outbox_gen.is_some() {
                        chunks::collect_garbage_kind(Kind::Outbox, &enclave.blobs, id, outbox_gen)
                            .await;
                    }
                }
                return Err(e.into());
            }
        }
        if let Some(g) = new_account {
            account_gen = g;
            chunks::collect_garbage(&enclave.blobs, id, Some(g)).await;
        }
        if outbox_gen != new_outbox_gen {
            outbox_gen = new_outbox_gen;
            chunks::collect_garbage_kind(Kind::Outbox, &enclave.blobs, id, outbox_gen).await;
        }
        if !cursor_committed {
            cursor_committed = true;
            // The cursor is committed: trimming is only housekeeping now.
            if let Err(e) = enclave
                .blobs
                .call(&BlobRequest::QueueTrim {
                    queue: names::inbound(id),
                    before: next,
                })
                .await
            {
                tracing::warn!(error = %e, "queue trim failed; retried at the next unlock");
            }
        }
        if send_now.is_empty() {
            outcome = process::Outcome {
                state,
                outbox: send_now,
                held,
                ..outcome
            };
            break;
        }
        if last {
            // Staged and committed but not sent in this operation: the next unlock sends it.
            tracing::warn!("write-ahead cycles used up; the rest is sent at the next unlock");
            outcome = process::Outcome {
                state,
                outbox: send_now,
                held,
                ..outcome
            };
            break;
        }
        drop(held);
        let (client, carry) = (outcome.client, outcome.carry);
        outcome = courier
            .worker(id)?
            .run(move || process::cycle(client, state, send_now, carry))
            .await??;
    }
    let destroy = outcome.carry.destroy;
    if destroy {
        crate::channels::destroy(&enclave.blobs, id).await?;
        chunks::collect_garbage(&enclave.blobs, id, None).await;
        chunks::collect_garbage_kind(Kind::Outbox, &enclave.blobs, id, None).await;
        courier.live.stop(id);
        courier.release(id);
    } else {
        // A refusal (older key epoch) is logged by kind inside `ensure`.
        let signal_client::Account { credentials, .. } = outcome.client.account;
        let _ = courier.live.ensure(courier, credentials, seal).await;
    }
    let mut stats: Stats = outcome.carry.stats;
    stats.rejected += unopenable;
    // ADDs that reached the approval threshold: invite each number (VAULT.md §12).
    drop(opened);
    let mut invited = 0usize;
    if !destroy {
        for phone in outcome.carry.invites {
            match crate::lifecycle_api::invite_enacted(enclave, id, &sk, phone, epoch).await {
                Ok((e, s)) => {
                    epoch = e;
                    invited += 1;
                    stats.delivered += s.delivered;
                    stats.failed += s.failed;
                    stats.unreachable += s.unreachable;
                }
                Err(_) => tracing::warn!("an enacted ADD could not be turned into an invitation"),
            }
        }
    }
    let remaining = queue_next(enclave, id).await?.saturating_sub(next);
    let texts: Vec<&str> = outcome.carry.texts.iter().map(|t| t.as_str()).collect();
    Ok(json!({
        "epoch": epoch,
        "texts": texts,
        "stats": stats,
        "remaining": remaining,
        "destroyed": destroy,
        "invited": invited,
    }))
}
