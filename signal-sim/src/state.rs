//! In-memory service state (SPEC §7): verification sessions, accounts with their devices,
//! keys and mailboxes, rate-limit buckets and attachment uploads. One `std::sync::Mutex`
//! guards it all; every critical section is short and does no I/O or crypto beyond a hash.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use signal_api::{EcPreKey, SignedPreKey};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Which of an account's two identities a key set or request concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    Aci = 0,
    Pni = 1,
}

pub(crate) struct VerificationSession {
    pub number: String,
    pub code: Option<String>,
    pub verified: bool,
}

#[derive(Default)]
pub(crate) struct KeySet {
    pub signed: Option<SignedPreKey>,
    pub one_time: VecDeque<EcPreKey>,
    pub pq_one_time: VecDeque<SignedPreKey>,
    pub pq_last_resort: Option<SignedPreKey>,
}

/// What the sim pushes to a device's live WebSocket (SPEC §7.6).
pub(crate) enum Push {
    /// A newly stored envelope: its mailbox sequence number and encoded bytes.
    Envelope(u64, Bytes),
    /// A newer connection for the same device took over; close with 4409.
    Replaced,
    /// The device was removed from its account (SPEC §7.12); close with 4401.
    Removed,
}

pub(crate) struct Conn {
    pub id: u64,
    pub tx: mpsc::UnboundedSender<Push>,
}

pub(crate) struct Device {
    /// SHA-256 of this device's password: every device has its own (SPEC §3).
    password_hash: [u8; 32],
    /// When the device was registered or linked (ms since the epoch, SPEC §7.12).
    pub created: u64,
    pub registration_id: u32,
    pub pni_registration_id: u32,
    pub keys: [KeySet; 2],
    /// Stored envelopes by sequence number; removed only when acked (SPEC §7.6).
    pub mailbox: BTreeMap<u64, Bytes>,
    pub conn: Option<Conn>,
}

impl Device {
    /// A device with no stored prekeys beyond those given, an empty mailbox and no
    /// connection.
    pub(crate) fn new(
        password: &str,
        created: u64,
        registration_ids: (u32, u32),
        keys: [KeySet; 2],
    ) -> Self {
        Device {
            password_hash: hash_password(password),
            created,
            registration_id: registration_ids.0,
            pni_registration_id: registration_ids.1,
            keys,
            mailbox: BTreeMap::new(),
            conn: None,
        }
    }

    pub(crate) fn password_matches(&self, password: &str) -> bool {
        bool::from(self.password_hash.ct_eq(&hash_password(password)))
    }

    pub(crate) fn registration_id(&self, identity: Identity) -> u32 {
        match identity {
            Identity::Aci => self.registration_id,
            Identity::Pni => self.pni_registration_id,
        }
    }
}

pub(crate) struct Account {
    pub aci: Uuid,
    pub pni: Uuid,
    pub number: String,
    pub identity_keys: [Vec<u8>; 2],
    pub uak: Option<[u8; 16]>,
    pub unrestricted_uak: bool,
    pub devices: BTreeMap<u32, Device>,
}

pub(crate) fn hash_password(password: &str) -> [u8; 32] {
    Sha256::digest(password.as_bytes()).into()
}

impl Account {
    pub(crate) fn new(aci: Uuid, pni: Uuid, number: String, identity_keys: [Vec<u8>; 2]) -> Self {
        Account {
            aci,
            pni,
            number,
            identity_keys,
            uak: None,
            unrestricted_uak: false,
            devices: BTreeMap::new(),
        }
    }

    /// The lowest device id not in use (the primary is 1), or `None` when the account
    /// already has [`signal_api::MAX_DEVICES_PER_ACCOUNT`] devices (SPEC §7.12).
    pub(crate) fn next_device_id(&self) -> Option<u32> {
        if self.devices.len() >= signal_api::MAX_DEVICES_PER_ACCOUNT {
            return None;
        }
        (2..=MAX_DEVICE_ID).find(|d| !self.devices.contains_key(d))
    }

    /// Whether `presented` (the decoded `Unidentified-Access-Key`) grants sealed-sender
    /// access (SPEC §7.4).
    pub(crate) fn uak_allows(&self, presented: &[u8]) -> bool {
        if self.unrestricted_uak {
            return true;
        }
        match &self.uak {
            Some(k) => presented.len() == k.len() && bool::from(k.as_slice().ct_eq(presented)),
            None => false,
        }
    }
}

/// The largest device id (SPEC §3).
pub(crate) const MAX_DEVICE_ID: u32 = 127;

/// How long a device-link code stays valid (SPEC §7.12), as on the real service.
pub(crate) const LINK_CODE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// An issued, not yet used device-link code (SPEC §7.12).
pub(crate) struct LinkCode {
    pub aci: Uuid,
    pub issued: Instant,
}

/// A token bucket (SPEC §8).
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Rate limiting per (sender, recipient) pair (SPEC §8). `burst == 0` disables it.
pub(crate) struct RateLimiter {
    burst: f64,
    per_sec: f64,
    buckets: HashMap<(Option<Uuid>, Uuid), Bucket>,
}

/// Prune idle buckets once the map has this many entries.
const MAX_BUCKETS_BEFORE_PRUNE: usize = 200_000;

impl RateLimiter {
    pub(crate) fn new(burst: u32, per_sec: f64) -> Self {
        RateLimiter {
            burst: f64::from(burst),
            per_sec,
            buckets: HashMap::new(),
        }
    }

    /// Take one token; on refusal, the whole seconds until one is available.
    pub(crate) fn take(
        &mut self,
        sender: Option<Uuid>,
        recipient: Uuid,
        now: Instant,
    ) -> Result<(), u64> {
        if self.burst <= 0.0 {
            return Ok(());
        }
        if self.buckets.len() >= MAX_BUCKETS_BEFORE_PRUNE {
            let (burst, rate) = (self.burst, self.per_sec);
            self.buckets
                .retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let b = self.buckets.entry((sender, recipient)).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_sec).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        if self.per_sec <= 0.0 {
            return Err(3600);
        }
        let wait = ((1.0 - b.tokens) / self.per_sec).ceil();
        // A finite, positive value of at most an hour in practice; clamp for the cast.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Err(wait.clamp(1.0, 86_400.0) as u64)
    }
}

/// One attachment slot (SPEC §7.7).
pub(crate) enum Upload {
    Pending { token: String },
    Done(Bytes),
}

pub(crate) struct State {
    pub sessions: HashMap<String, VerificationSession>,
    pub accounts: HashMap<Uuid, Account>,
    pub by_number: HashMap<String, Uuid>,
    pub by_pni: HashMap<Uuid, Uuid>,
    pub uploads: HashMap<String, Upload>,
    /// Device-link codes by code (SPEC §7.12); removed when used or found expired.
    pub link_codes: HashMap<String, LinkCode>,
    pub next_seq: u64,
    pub next_conn: u64,
    pub limiter: RateLimiter,
}

impl State {
    pub(crate) fn new(limiter: RateLimiter) -> Self {
        State {
            sessions: HashMap::new(),
            accounts: HashMap::new(),
            by_number: HashMap::new(),
            by_pni: HashMap::new(),
            uploads: HashMap::new(),
            link_codes: HashMap::new(),
            next_seq: 0,
            next_conn: 0,
            limiter,
        }
    }

    /// Resolve a service id to (ACI, which identity).
    pub(crate) fn resolve(&self, id: &signal_api::ServiceId) -> Option<(Uuid, Identity)> {
        match id {
            signal_api::ServiceId::Aci(u) => {
                self.accounts.contains_key(u).then_some((*u, Identity::Aci))
            }
            signal_api::ServiceId::Pni(u) => self.by_pni.get(u).map(|a| (*a, Identity::Pni)),
        }
    }

    /// Check a device's password. `None` when the account, device or password is wrong.
    pub(crate) fn authenticate(&self, aci: Uuid, device_id: u32, password: &str) -> Option<()> {
        let dev = self.accounts.get(&aci)?.devices.get(&device_id)?;
        dev.password_matches(password).then_some(())
    }

    /// Store an envelope for a device and push it to its live connection, if any. An
    /// `online` (ephemeral) envelope is never stored: it is pushed to a live connection or
    /// dropped (SPEC §7.4).
    pub(crate) fn deliver(&mut self, aci: Uuid, device_id: u32, envelope: Bytes, online: bool) {
        self.next_seq += 1;
        let seq = self.next_seq;
        let Some(dev) = self
            .accounts
            .get_mut(&aci)
            .and_then(|a| a.devices.get_mut(&device_id))
        else {
            return;
        };
        if !online {
            dev.mailbox.insert(seq, envelope.clone());
        }
        if let Some(conn) = &dev.conn {
            // A closed receiver just means the connection is going away; the envelope stays
            // stored and is redelivered on the next connection.
            let _ = conn.tx.send(Push::Envelope(seq, envelope));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bucket_burst_refill_and_retry_after() {
        let mut rl = RateLimiter::new(2, 0.5);
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let t0 = Instant::now();
        assert_eq!(rl.take(Some(a), b, t0), Ok(()));
        assert_eq!(rl.take(Some(a), b, t0), Ok(()));
        // Empty: one token takes 2 s at 0.5/s.
        assert_eq!(rl.take(Some(a), b, t0), Err(2));
        assert_eq!(rl.take(Some(a), b, t0 + Duration::from_secs(1)), Err(1));
        assert_eq!(rl.take(Some(a), b, t0 + Duration::from_secs(2)), Ok(()));
        // Other pairs, and the unidentified sender, have their own buckets.
        assert_eq!(rl.take(Some(b), a, t0), Ok(()));
        assert_eq!(rl.take(None, b, t0), Ok(()));
        // Refill never exceeds the burst.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(rl.take(Some(a), b, later), Ok(()));
        assert_eq!(rl.take(Some(a), b, later), Ok(()));
        assert_eq!(rl.take(Some(a), b, later), Err(2));
    }

    #[test]
    fn zero_burst_disables_and_zero_rate_waits_an_hour() {
        let mut off = RateLimiter::new(0, 1.0);
        let t = Instant::now();
        for _ in 0..1000 {
            assert_eq!(off.take(None, Uuid::nil(), t), Ok(()));
        }
        let mut never = RateLimiter::new(1, 0.0);
        assert_eq!(never.take(None, Uuid::nil(), t), Ok(()));
        assert_eq!(never.take(None, Uuid::nil(), t), Err(3600));
    }

    #[test]
    fn uak_checks() {
        let mut a = Account::new(Uuid::nil(), Uuid::nil(), "+1".into(), [vec![], vec![]]);
        assert!(!a.uak_allows(&[0; 16]), "no key registered");
        a.uak = Some([7; 16]);
        assert!(a.uak_allows(&[7; 16]));
        assert!(!a.uak_allows(&[7; 15]));
        assert!(!a.uak_allows(&[8; 16]));
        a.unrestricted_uak = true;
        assert!(a.uak_allows(&[8; 16]));
    }

    #[test]
    fn passwords_are_per_device_and_ids_fill_the_lowest_gap() {
        let mut a = Account::new(Uuid::nil(), Uuid::nil(), "+1".into(), [vec![], vec![]]);
        let dev = |pw: &str| Device::new(pw, 0, (1, 1), Default::default());
        a.devices.insert(1, dev("pw"));
        assert_eq!(a.next_device_id(), Some(2));
        a.devices.insert(2, dev("other"));
        a.devices.insert(4, dev("x"));
        assert_eq!(a.next_device_id(), Some(3));
        assert!(a.devices[&1].password_matches("pw"));
        assert!(!a.devices[&1].password_matches("pW"));
        assert!(!a.devices[&1].password_matches("other"));
        assert!(a.devices[&2].password_matches("other"));
        for d in [3, 5, 6] {
            a.devices.insert(d, dev("y"));
        }
        assert_eq!(a.next_device_id(), None, "six devices is the limit");
    }
}
