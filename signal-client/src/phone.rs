//! A simulated phone: an [`Account`] that behaves as the Signal app does for the parts a
//! channel sees (text, attachments, disappearing-message timer, its profile key in every
//! message), persisted to a state file readable only by its owner. Tests and the demo use
//! it through this API or the `signal-phone` binary.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libsignal_protocol::{Aci, DecryptionErrorMessage, ProtocolAddress};
use prost::Message as _;
use signal_api::{AttachmentPointer, Content, DataMessage};

use crate::account::Account;
use crate::error::{Error, Result};
use crate::service::{SendReport, ServiceConfig, SignalClient};
use crate::ws::{Event, Receiver};

/// `DataMessage.flags` bit for "expiration timer update".
pub const FLAG_EXPIRATION_TIMER_UPDATE: u32 = 2;

/// A message a phone received.
#[derive(Clone)]
pub struct Received {
    /// The sender's number, when known.
    pub from_e164: Option<String>,
    /// The sender's ACI.
    pub from_aci: Aci,
    /// Text, if any.
    pub body: Option<String>,
    /// The disappearing-message timer the message carries (seconds).
    pub expire_timer: Option<u32>,
    /// Whether this message only updates the timer.
    pub is_timer_update: bool,
    /// Attachment pointers (download with [`Phone::download`]).
    pub attachments: Vec<AttachmentPointer>,
    /// The sender's timestamp.
    pub timestamp: u64,
    /// The sender's identity key changed.
    pub identity_changed: bool,
    /// Arrived as sealed sender.
    pub sealed_sender: bool,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("from_aci", &self.from_aci)
            .field("expire_timer", &self.expire_timer)
            .field("attachments", &self.attachments.len())
            .field("sealed_sender", &self.sealed_sender)
            .finish_non_exhaustive()
    }
}

/// Messages kept in a phone's send log for resending on a retry receipt (the app keeps
/// a day's worth).
pub const SEND_LOG_MAX: usize = 100;
/// How long a sent message stays in the send log.
pub const SEND_LOG_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// One sent message, kept for a resend.
struct Sent {
    to: Aci,
    timestamp: u64,
    content: zeroize::Zeroizing<Vec<u8>>,
    at: Instant,
}

/// A simulated phone.
pub struct Phone {
    /// The account and its service connection.
    pub client: SignalClient,
    receiver: Receiver,
    state: Option<PathBuf>,
    /// Recent sends, newest last (in memory only, like the app's message send log).
    send_log: VecDeque<Sent>,
    resent: usize,
    /// Envelopes libsignal refused as already decrypted (a repeat, or a message key used
    /// again for another message).
    pub duplicates: usize,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// One-time prekeys a phone keeps on the service (the app keeps 100).
pub const PHONE_ONE_TIME_KEYS: u32 = 10;

impl Phone {
    /// Registers `e164` (verification `code` from `code_for(session_id)`) and saves the
    /// state to `state` when given.
    pub async fn register(
        config: &ServiceConfig,
        e164: &str,
        code: &str,
        state: Option<&Path>,
    ) -> Result<Phone> {
        let client = SignalClient::register(config, e164, code, false, PHONE_ONE_TIME_KEYS).await?;
        let phone = Phone::from_client(client, state);
        phone.save()?;
        Ok(phone)
    }

    fn from_client(mut client: SignalClient, state: Option<&Path>) -> Phone {
        // Like the app: sealed sender even to strangers that allow unrestricted access.
        client.try_unrestricted = true;
        let receiver = Receiver::new(
            client.http().clone(),
            client.account.credentials.basic_auth(),
        );
        Phone {
            client,
            receiver,
            state: state.map(Path::to_path_buf),
            send_log: VecDeque::new(),
            resent: 0,
            duplicates: 0,
        }
    }

    /// Loads a phone from its state file.
    pub fn load(config: &ServiceConfig, state: &Path) -> Result<Phone> {
        let bytes =
            zeroize::Zeroizing::new(std::fs::read(state).map_err(|e| Error::io("read state", &e))?);
        let account = Account::decode(&bytes)?;
        Ok(Phone::from_client(
            SignalClient::new(config, account),
            Some(state),
        ))
    }

    /// Writes the state file (mode 0600, written aside then renamed).
    pub fn save(&self) -> Result<()> {
        let Some(path) = &self.state else {
            return Ok(());
        };
        let bytes = self.client.account.encode()?;
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write as _;
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                o.mode(0o600);
            }
            let mut f = o.open(&tmp).map_err(|e| Error::io("write state", &e))?;
            f.write_all(&bytes)
                .map_err(|e| Error::io("write state", &e))?;
            f.sync_all().map_err(|e| Error::io("write state", &e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| Error::io("write state", &e))
    }

    /// Our number.
    pub fn e164(&self) -> &str {
        &self.client.account.credentials.e164
    }

    /// Whether the messages we send carry our number (the app's "who can see my number"
    /// setting; on by default). Off: our sealed-sender certificate is fetched without it,
    /// so a recipient that does not already know our number sees only our ACI. Not saved in
    /// the state file.
    pub fn set_share_number(&mut self, share: bool) {
        self.client.share_number = share;
    }

    /// See [`Phone::set_share_number`].
    pub fn shares_number(&self) -> bool {
        self.client.share_number
    }

    /// Our ACI.
    pub fn aci(&self) -> Aci {
        self.client.account.credentials.aci
    }

    async fn resolve(&mut self, e164: &str) -> Result<Aci> {
        self.client.lookup(e164).await?.ok_or(Error::Unregistered)
    }

    /// Sends a `DataMessage` (our profile key and the chat's timer are filled in).
    pub async fn send_data(&mut self, to_e164: &str, mut dm: DataMessage) -> Result<SendReport> {
        let to = self.resolve(to_e164).await?;
        let ts = now_ms();
        dm.timestamp = Some(ts);
        dm.profile_key = Some(self.client.account.profile_key().to_vec());
        if dm.expire_timer.is_none() {
            dm.expire_timer = self
                .client
                .account
                .store
                .recipient(&to)
                .and_then(|r| r.expire_timer);
        }
        let content = Content {
            data_message: Some(dm),
            ..Default::default()
        };
        let content = zeroize::Zeroizing::new(content.encode_to_vec());
        let r = self.client.send(&to, &content, ts).await;
        self.log_sent(to, ts, content);
        self.save()?;
        r
    }

    fn log_sent(&mut self, to: Aci, timestamp: u64, content: zeroize::Zeroizing<Vec<u8>>) {
        let now = Instant::now();
        self.send_log
            .retain(|s| now.saturating_duration_since(s.at) < SEND_LOG_TTL);
        while self.send_log.len() >= SEND_LOG_MAX {
            self.send_log.pop_front();
        }
        self.send_log.push_back(Sent {
            to,
            timestamp,
            content,
            at: now,
        });
    }

    /// Messages re-sent because their recipient sent a retry receipt.
    pub fn resent(&self) -> usize {
        self.resent
    }

    /// A retry receipt from `from`'s `device` (a `DecryptionErrorMessage`), as the app
    /// handles one: our session with that device is archived and the message it names, if
    /// still in the send log, is sent again with its original timestamp (which starts a
    /// new session from a fresh bundle). Returns whether a message was re-sent.
    async fn handle_retry_receipt(
        &mut self,
        from: Aci,
        device: libsignal_protocol::DeviceId,
        dem: &[u8],
    ) -> Result<bool> {
        let dem = DecryptionErrorMessage::try_from(dem)?;
        if dem.device_id() != u32::from(u8::from(self.client.account.credentials.device_id)) {
            // About another of our devices' messages: that device answers it.
            return Ok(false);
        }
        let ts = dem.timestamp().epoch_millis();
        let address = ProtocolAddress::new(from.service_id_string(), device);
        self.client.account.store.remove_session(&address);
        let Some(sent) = self
            .send_log
            .iter()
            .rev()
            .find(|s| s.to == from && s.timestamp == ts)
        else {
            self.save()?;
            return Ok(false);
        };
        let content = sent.content.clone();
        let r = self.client.send(&from, &content, ts).await;
        self.save()?;
        r?;
        self.resent += 1;
        Ok(true)
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, to_e164: &str, text: &str) -> Result<SendReport> {
        self.send_data(
            to_e164,
            DataMessage {
                body: Some(text.to_owned()),
                ..Default::default()
            },
        )
        .await
    }

    /// Sends text with one attachment (uploaded encrypted first).
    pub async fn send_attachment(
        &mut self,
        to_e164: &str,
        text: Option<&str>,
        data: &[u8],
        content_type: &str,
        file_name: Option<&str>,
    ) -> Result<SendReport> {
        let p = self
            .client
            .upload_attachment(data, content_type, file_name)
            .await?;
        self.send_data(
            to_e164,
            DataMessage {
                body: text.map(str::to_owned),
                attachments: vec![p],
                ..Default::default()
            },
        )
        .await
    }

    /// Sets the disappearing-message timer for a chat, as the app does (a timer-update
    /// message; later messages carry it).
    pub async fn set_timer(&mut self, to_e164: &str, seconds: u32) -> Result<SendReport> {
        let to = self.resolve(to_e164).await?;
        self.client.account.store.set_expire_timer(&to, seconds);
        self.send_data(
            to_e164,
            DataMessage {
                flags: Some(FLAG_EXPIRATION_TIMER_UPDATE),
                expire_timer: Some(seconds),
                ..Default::default()
            },
        )
        .await
    }

    /// Downloads and decrypts an attachment.
    pub async fn download(&self, p: &AttachmentPointer) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        self.client.download_attachment(p).await
    }

    /// Receives, decrypts and acks messages until `done` says so for one of them or the
    /// timeout passes. Returns every data message received (in order). Envelopes that do
    /// not decrypt are acked and skipped; when a resend can mend them
    /// ([`Error::DecryptionFailed`]) a retry receipt goes to their sender, and a retry
    /// receipt for one of our messages re-sends it, as the app does.
    pub async fn receive_until(
        &mut self,
        mut done: impl FnMut(&Received) -> bool,
        timeout: Duration,
    ) -> Result<Vec<Received>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(out);
            }
            let ev = match tokio::time::timeout(left, self.receiver.next()).await {
                Err(_) => return Ok(out),
                Ok(ev) => ev?,
            };
            let Event::Envelope { id, envelope } = ev else {
                continue;
            };
            let r = self.client.decrypt(&envelope).await;
            self.receiver.ack(id).await?;
            let inc = match r {
                Ok(inc) => inc,
                Err(Error::DecryptionFailed { retry, .. }) => {
                    // As the app does: ask the sender to send it again. A failure here
                    // only loses that message, as before.
                    let _ = self.client.send_retry_receipt(&retry).await;
                    self.save()?;
                    continue;
                }
                Err(Error::Protocol {
                    kind: crate::error::DUPLICATED_MESSAGE,
                }) => {
                    self.duplicates += 1;
                    continue;
                }
                Err(_) => continue,
            };
            if let Some(dem) = inc.content.decryption_error_message.as_deref() {
                let _ = self
                    .handle_retry_receipt(inc.sender, inc.sender_device, dem)
                    .await;
                continue;
            }
            if let Some(dm) = inc.content.data_message {
                let is_timer_update = dm.flags.unwrap_or(0) & FLAG_EXPIRATION_TIMER_UPDATE != 0;
                if let Some(t) = dm.expire_timer {
                    // As the app does: the chat follows the timer the peer's messages carry.
                    self.client.account.store.set_expire_timer(&inc.sender, t);
                }
                let rec = Received {
                    from_e164: inc.sender_e164,
                    from_aci: inc.sender,
                    body: dm.body,
                    expire_timer: dm.expire_timer,
                    is_timer_update,
                    attachments: dm.attachments,
                    timestamp: dm.timestamp.unwrap_or(inc.timestamp),
                    identity_changed: inc.identity_changed,
                    sealed_sender: inc.sealed_sender,
                };
                let stop = done(&rec);
                out.push(rec);
                self.save()?;
                if stop {
                    return Ok(out);
                }
            }
        }
    }

    /// Receives for `wait` and returns everything (for the CLI).
    pub async fn receive_for(&mut self, wait: Duration) -> Result<Vec<Received>> {
        self.receive_until(|_| false, wait).await
    }

    /// The WebSocket receiver (tests use it to drop the connection).
    pub fn receiver(&mut self) -> &mut Receiver {
        &mut self.receiver
    }
}

impl Phone {
    /// Links a second (third, …) device to `primary`'s account, as scanning the link QR
    /// code in the app does: `primary` asks for a link code and the new device links with
    /// it and the account's identity (SPEC.md §8). The new phone has the same number, ACI
    /// and identity keys, and its own device id, password, registration id, prekeys and
    /// sessions. It keeps no state file.
    pub async fn link(config: &ServiceConfig, primary: &mut Phone) -> Result<Phone> {
        let code = primary.client.link_code().await?;
        let client =
            SignalClient::link(config, &primary.client.account, &code, PHONE_ONE_TIME_KEYS).await?;
        Ok(Phone::from_client(client, None))
    }

    /// This phone's device id (1 for the primary).
    pub fn device_id(&self) -> u32 {
        u32::from(u8::from(self.client.account.credentials.device_id))
    }

    /// The account's device ids, ascending.
    pub async fn devices(&self) -> Result<Vec<u32>> {
        Ok(self
            .client
            .devices()
            .await?
            .into_iter()
            .map(|d| u32::from(u8::from(d)))
            .collect())
    }

    /// Unlinks one of the account's other devices (call on the primary). Its queued
    /// messages are dropped and its connection closed; senders learn of it from their
    /// next send's 409.
    pub async fn unlink(&mut self, device_id: u32) -> Result<()> {
        let d = u8::try_from(device_id)
            .ok()
            .and_then(|d| libsignal_protocol::DeviceId::try_from(d).ok())
            .ok_or(Error::InvalidDeviceId)?;
        self.client.remove_device(d).await
    }
}
