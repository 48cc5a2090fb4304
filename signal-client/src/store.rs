//! The in-memory protocol store (libsignal's store traits) plus the recipient book, and
//! its versioned binary encoding (SPEC.md §1).
//!
//! libsignal's store traits are `async_trait(?Send)`: futures over this store are `!Send`
//! and must run on a current-thread runtime / `LocalSet` (the enclave does so).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use libsignal_protocol::{
    Aci, DeviceId, Direction, GenericSignedPreKey, IdentityChange, IdentityKey, IdentityKeyPair,
    IdentityKeyStore, KyberPreKeyId, KyberPreKeyRecord, KyberPreKeyStore, PreKeyId, PreKeyRecord,
    PreKeyStore, ProtocolAddress, PublicKey, SenderKeyRecord, SenderKeyStore, SessionRecord,
    SessionStore, SignalProtocolError, SignedPreKeyId, SignedPreKeyRecord, SignedPreKeyStore,
};
use zeroize::{Zeroize, Zeroizing};

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};

/// First bytes of a store encoding.
pub const STORE_MAGIC: &[u8; 4] = b"SCPS";
/// The store encoding version this build writes and reads.
pub const STORE_VERSION: u8 = 1;
/// Bound on a serialized `IdentityKeyPair` (protobuf of a 33-byte public and 32-byte private key).
pub const MAX_IDENTITY_KEY_PAIR_LEN: usize = 128;
/// A serialized identity (public) key: type byte + 32 bytes.
pub const IDENTITY_KEY_LEN: usize = 33;
/// Bound on a protocol-address name (a service-id string is at most 40 characters).
pub const MAX_NAME_LEN: usize = 64;
/// Bound on known remote identities.
pub const MAX_IDENTITIES: usize = 1_000_000;
/// Bound on stored one-time EC prekeys.
pub const MAX_PREKEYS: usize = 100_000;
/// Bound on stored signed prekeys.
pub const MAX_SIGNED_PREKEYS: usize = 256;
/// Bound on stored Kyber prekeys (one-time and last-resort).
pub const MAX_KYBER_PREKEYS: usize = 100_000;
/// Bound on remembered (kyber id, signed id, base key) uses of last-resort Kyber keys.
pub const MAX_USED_BASE_KEYS: usize = 1_000_000;
/// Bound on sessions (the channel needs 10,000+; one per recipient device).
pub const MAX_SESSIONS: usize = 1_000_000;
/// Bound on a serialized EC prekey or signed prekey record.
pub const MAX_PREKEY_RECORD_LEN: usize = 1024;
/// Bound on a serialized Kyber prekey record (Kyber1024 keys are ~4.8 KB).
pub const MAX_KYBER_RECORD_LEN: usize = 8192;
/// Bound on a serialized session record (current + archived states, SPQR state).
pub const MAX_SESSION_RECORD_LEN: usize = 256 * 1024;
/// Bound on recipient-book entries.
pub const MAX_RECIPIENTS: usize = 1_000_000;
/// Bound on an E.164 number: '+' and at most 15 digits.
pub const MAX_E164_LEN: usize = 16;
/// Bound on a number in the recipient book: an E.164 number, or a key of the same shape
/// that its owner chose for an account whose number is hidden ('+' and up to 20 digits, the
/// digits of a u64; the enclave's member pseudonyms, VAULT.md §5).
pub const MAX_BOOK_NUMBER_LEN: usize = 21;
/// A profile key.
pub const PROFILE_KEY_LEN: usize = 32;
/// An unidentified-access key.
pub const UAK_LEN: usize = 16;
/// Bound on sender-key records (one per sender device and distribution id).
pub const MAX_SENDER_KEYS: usize = 1_000_000;
/// Bound on a serialized sender-key record.
pub const MAX_SENDER_KEY_RECORD_LEN: usize = 64 * 1024;
/// Bound on remembered (distribution id, recipient device) sender-key distributions.
pub const MAX_SKDM_SHARED: usize = 1_000_000;
/// Bound on the number of unreported identity changes held between `take_identity_changes`.
pub const MAX_PENDING_IDENTITY_CHANGES: usize = 100_000;
/// Bound on strict names (`ProtocolStore::set_strict`); a channel's admins are far fewer.
pub const MAX_STRICT: usize = 10_000;

const KYBER_FLAG_LAST_RESORT: u8 = 1;
const RECIPIENT_FLAG_E164: u8 = 1;
const RECIPIENT_FLAG_PROFILE_KEY: u8 = 2;
const RECIPIENT_FLAG_UAK: u8 = 4;
const RECIPIENT_FLAG_TIMER: u8 = 8;
const RECIPIENT_FLAGS_ALL: u8 = 15;

/// What the account knows about another Signal user.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Recipient {
    /// Their phone number, when known.
    pub e164: Option<String>,
    /// Their profile key, when they have shared it with us.
    pub profile_key: Option<[u8; PROFILE_KEY_LEN]>,
    /// Their unidentified-access key (derived from the profile key, or learned otherwise).
    pub uak: Option<[u8; UAK_LEN]>,
    /// The disappearing-message timer of our 1:1 chat with them, in seconds.
    pub expire_timer: Option<u32>,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("e164", &self.e164.as_ref().map(|_| "<redacted>"))
            .field("profile_key", &self.profile_key.map(|_| "<redacted>"))
            .field("uak", &self.uak.map(|_| "<redacted>"))
            .field("expire_timer", &self.expire_timer)
            .finish()
    }
}

impl Drop for Recipient {
    fn drop(&mut self) {
        if let Some(k) = self.profile_key.as_mut() {
            k.zeroize();
        }
        if let Some(k) = self.uak.as_mut() {
            k.zeroize();
        }
    }
}

#[derive(Clone)]
struct KyberEntry {
    record: KyberPreKeyRecord,
    last_resort: bool,
}

/// Our identity and the remote identities we have seen (libsignal's `IdentityKeyStore`).
pub struct Identities {
    pair: IdentityKeyPair,
    registration_id: u32,
    known: HashMap<String, IdentityKey>,
    changes: Vec<String>,
    /// Names whose identity must not change when sending (SPEC.md §1, identity policy).
    /// Not encoded: the caller sets it for each operation.
    strict: HashSet<String>,
    /// The key a strict name's send refused, by name, until the caller takes it
    /// (`take_refused_identity`): the key the service now serves for them, which the caller
    /// may show (as a safety number) and pin. Not encoded. A lock, because trust is asked
    /// through `&self` (also by the fan-out's threads).
    refused: std::sync::Mutex<HashMap<String, IdentityKey>>,
}

/// One-time EC prekeys (libsignal's `PreKeyStore`).
#[derive(Default)]
pub struct PreKeys(BTreeMap<u32, PreKeyRecord>);

/// Signed EC prekeys (libsignal's `SignedPreKeyStore`).
#[derive(Default)]
pub struct SignedPreKeys(BTreeMap<u32, SignedPreKeyRecord>);

/// Kyber prekeys, one-time and last-resort (libsignal's `KyberPreKeyStore`).
#[derive(Default)]
pub struct KyberPreKeys {
    keys: BTreeMap<u32, KyberEntry>,
    used_base_keys: BTreeSet<(u32, u32, [u8; IDENTITY_KEY_LEN])>,
}

impl SignedPreKeys {
    /// The signed prekey with the highest id.
    pub fn newest(&self) -> Option<&SignedPreKeyRecord> {
        self.0.values().next_back()
    }
}

impl KyberPreKeys {
    /// The last-resort Kyber prekey with the highest id.
    pub fn last_resort(&self) -> Option<&KyberPreKeyRecord> {
        self.keys
            .values()
            .rev()
            .find(|e| e.last_resort)
            .map(|e| &e.record)
    }
}

impl Sessions {
    /// The remote registration id of the current session with `address`.
    pub fn registration_id(&self, address: &ProtocolAddress) -> Option<u32> {
        self.get(address)?.remote_registration_id().ok()
    }

    /// The devices we hold a session with for `name`.
    pub(crate) fn devices(&self, name: &str) -> Vec<DeviceId> {
        self.by_name.get(name).map_or_else(Vec::new, |devs| {
            devs.keys()
                .filter_map(|d| DeviceId::try_from(*d).ok())
                .collect()
        })
    }

    /// Every device's session record for `name` (the fan-out copies them per thread).
    pub(crate) fn records(&self, name: &str) -> impl Iterator<Item = (u8, &SessionRecord)> {
        self.by_name
            .get(name)
            .into_iter()
            .flat_map(|devs| devs.iter().map(|(d, r)| (*d, r)))
    }

    /// Every record, by name then device (the fan-out's write-back).
    pub(crate) fn into_records(self) -> HashMap<String, BTreeMap<u8, SessionRecord>> {
        self.by_name
    }

    /// Stores a record without the copy `store_session` makes (the fan-out's write-back).
    pub(crate) fn put(&mut self, address: &ProtocolAddress, record: SessionRecord) {
        self.insert(address, record);
    }

    fn get(&self, address: &ProtocolAddress) -> Option<&SessionRecord> {
        self.by_name
            .get(address.name())?
            .get(&u8::from(address.device_id()))
    }

    fn insert(&mut self, address: &ProtocolAddress, record: SessionRecord) -> bool {
        let replaced = match self.by_name.get_mut(address.name()) {
            Some(devs) => devs.insert(u8::from(address.device_id()), record).is_some(),
            None => {
                let mut devs = BTreeMap::new();
                devs.insert(u8::from(address.device_id()), record);
                self.by_name.insert(address.name().to_owned(), devs);
                false
            }
        };
        if !replaced {
            self.count += 1;
        }
        replaced
    }

    fn remove(&mut self, address: &ProtocolAddress) {
        if let Some(devs) = self.by_name.get_mut(address.name()) {
            if devs.remove(&u8::from(address.device_id())).is_some() {
                self.count -= 1;
            }
            if devs.is_empty() {
                self.by_name.remove(address.name());
            }
        }
    }
}

/// Sessions by name, then device (libsignal's `SessionStore`). Records are held decoded,
/// so encrypting costs no more than with libsignal's in-memory store, and a recipient's
/// devices are found without scanning.
#[derive(Default)]
pub struct Sessions {
    by_name: HashMap<String, BTreeMap<u8, SessionRecord>>,
    count: usize,
}

/// Sender keys by (sender name, device, distribution id) (libsignal's `SenderKeyStore`),
/// for multi-recipient sealed sender.
#[derive(Default)]
pub struct SenderKeys(BTreeMap<(String, u8, [u8; 16]), SenderKeyRecord>);

macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), "(<redacted>)"))
            }
        }
    )*};
}
redacted_debug!(
    Identities,
    PreKeys,
    SignedPreKeys,
    KyberPreKeys,
    Sessions,
    SenderKeys
);

/// The protocol store: our identity, prekeys, remote identities, sessions, recipients.
/// Its parts are public so libsignal functions can borrow several of them at once.
pub struct ProtocolStore {
    /// Identity store.
    pub identities: Identities,
    /// One-time EC prekeys.
    pub prekeys: PreKeys,
    /// Signed prekeys.
    pub signed_prekeys: SignedPreKeys,
    /// Kyber prekeys.
    pub kyber_prekeys: KyberPreKeys,
    /// Sessions.
    pub sessions: Sessions,
    /// Sender keys (ours and other senders').
    pub sender_keys: SenderKeys,
    /// (distribution id, recipient ACI, device) that hold our sender key.
    skdm_shared: BTreeSet<([u8; 16], [u8; 16], u8)>,
    recipients: BTreeMap<[u8; 16], Recipient>,
    by_e164: HashMap<String, [u8; 16]>,
}

impl std::fmt::Debug for ProtocolStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolStore")
            .field("identity", &"<redacted>")
            .field("sessions", &self.sessions.count)
            .field("identities", &self.identities.known.len())
            .field("prekeys", &self.prekeys.0.len())
            .field("kyber_prekeys", &self.kyber_prekeys.keys.len())
            .field("recipients", &self.recipients.len())
            .finish_non_exhaustive()
    }
}

impl ProtocolStore {
    /// An empty store for the given identity.
    pub fn new(identity: IdentityKeyPair, registration_id: u32) -> Self {
        ProtocolStore {
            identities: Identities {
                pair: identity,
                registration_id,
                known: HashMap::new(),
                changes: Vec::new(),
                strict: HashSet::new(),
                refused: std::sync::Mutex::new(HashMap::new()),
            },
            prekeys: PreKeys::default(),
            signed_prekeys: SignedPreKeys::default(),
            kyber_prekeys: KyberPreKeys::default(),
            sessions: Sessions::default(),
            sender_keys: SenderKeys::default(),
            skdm_shared: BTreeSet::new(),
            recipients: BTreeMap::new(),
            by_e164: HashMap::new(),
        }
    }

    /// Our identity key pair.
    pub fn identity_key_pair(&self) -> &IdentityKeyPair {
        &self.identities.pair
    }

    /// Our registration id.
    pub fn registration_id(&self) -> u32 {
        self.identities.registration_id
    }

    /// Number of sessions held.
    pub fn session_count(&self) -> usize {
        self.sessions.count
    }

    /// Device ids we hold sessions with for `name` (a service-id string).
    pub fn session_devices(&self, name: &str) -> Vec<DeviceId> {
        self.sessions.devices(name)
    }

    /// Forgets the session with one device (after a 409 "extra device" or a 410 "stale").
    pub fn remove_session(&mut self, address: &ProtocolAddress) {
        self.sessions.remove(address);
    }

    /// Stores a Kyber prekey, remembering whether it is the last-resort key.
    pub fn save_kyber_pre_key_flagged(
        &mut self,
        id: KyberPreKeyId,
        record: KyberPreKeyRecord,
        last_resort: bool,
    ) {
        self.kyber_prekeys.keys.insert(
            u32::from(id),
            KyberEntry {
                record,
                last_resort,
            },
        );
    }

    /// Stores a one-time EC prekey.
    pub fn save_prekey(&mut self, record: PreKeyRecord) -> Result<()> {
        let id = u32::from(record.id()?);
        self.prekeys.0.insert(id, record);
        Ok(())
    }

    /// Stores a signed prekey.
    pub fn save_signed_prekey(&mut self, record: SignedPreKeyRecord) -> Result<()> {
        let id = u32::from(record.id()?);
        self.signed_prekeys.0.insert(id, record);
        Ok(())
    }

    /// Keeps only the `keep` newest signed prekeys and last-resort Kyber keys (by id),
    /// after a rotation; older ones only serve messages that were in flight.
    pub fn prune_signed_prekeys(&mut self, keep: usize) {
        while self.signed_prekeys.0.len() > keep {
            self.signed_prekeys.0.pop_first();
        }
        let last_resort: Vec<u32> = self
            .kyber_prekeys
            .keys
            .iter()
            .filter(|(_, e)| e.last_resort)
            .map(|(id, _)| *id)
            .collect();
        let drop = last_resort.len().saturating_sub(keep);
        for id in &last_resort[..drop] {
            self.kyber_prekeys.keys.remove(id);
            self.kyber_prekeys
                .used_base_keys
                .retain(|(kid, _, _)| kid != id);
        }
    }

    /// Keeps only the `keep` newest one-time EC prekeys and one-time Kyber prekeys (by id;
    /// ids only grow). An upload replaces the service's one-time keys of a kind, so older
    /// ones can only serve a message already in flight; keeping two batches gives those a
    /// whole refill cycle to arrive.
    pub fn prune_one_time_prekeys(&mut self, keep: usize) {
        while self.prekeys.0.len() > keep {
            self.prekeys.0.pop_first();
        }
        let one_time: Vec<u32> = self
            .kyber_prekeys
            .keys
            .iter()
            .filter(|(_, e)| !e.last_resort)
            .map(|(id, _)| *id)
            .collect();
        let drop = one_time.len().saturating_sub(keep);
        for id in &one_time[..drop] {
            self.kyber_prekeys.keys.remove(id);
        }
    }

    /// Whether `aci`'s `device` already holds our sender key for `distribution_id`.
    pub fn has_sender_key(&self, distribution_id: [u8; 16], aci: &Aci, device: DeviceId) -> bool {
        self.skdm_shared
            .contains(&(distribution_id, aci_key(aci), u8::from(device)))
    }

    /// Records that `aci`'s `device` received our sender key for `distribution_id`.
    pub fn mark_sender_key_shared(
        &mut self,
        distribution_id: [u8; 16],
        aci: &Aci,
        device: DeviceId,
    ) {
        if self.skdm_shared.len() < MAX_SKDM_SHARED {
            self.skdm_shared
                .insert((distribution_id, aci_key(aci), u8::from(device)));
        }
    }

    /// Forgets every device of `aci` for `distribution_id` (its sessions changed, so the
    /// sender key must be shared again).
    pub fn forget_sender_key_shared(&mut self, aci: &Aci) {
        let k = aci_key(aci);
        self.skdm_shared.retain(|(_, a, _)| *a != k);
    }

    /// Number of signed prekeys held.
    pub fn signed_prekey_count(&self) -> usize {
        self.signed_prekeys.0.len()
    }

    /// Number of last-resort Kyber keys held.
    pub fn last_resort_kyber_count(&self) -> usize {
        self.kyber_prekeys
            .keys
            .values()
            .filter(|e| e.last_resort)
            .count()
    }

    /// Number of one-time EC prekeys held.
    pub fn prekey_count(&self) -> usize {
        self.prekeys.0.len()
    }

    /// Number of one-time (not last-resort) Kyber prekeys held.
    pub fn one_time_kyber_count(&self) -> usize {
        self.kyber_prekeys
            .keys
            .values()
            .filter(|e| !e.last_resort)
            .count()
    }

    /// Identity changes (protocol-address names whose identity key was replaced) since the
    /// last call. The store accepts every change it is asked to save (a strict name's new
    /// key is never offered for saving when sending: it is refused first); policy belongs to
    /// the caller.
    pub fn take_identity_changes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.identities.changes)
    }

    /// Makes exactly `acis` *strict* (SPEC.md §1, identity policy): for them, sending
    /// trusts only the identity key on record, so a changed safety number makes libsignal
    /// refuse to build a session or encrypt ([`Error::UntrustedIdentity`]) instead of the
    /// change being accepted. Receiving is unaffected. The set is not part of the encoding:
    /// the caller sets it before every send (the enclave: the channel's authorized admins).
    /// At most [`MAX_STRICT`] entries are kept; excess ones are ignored.
    pub fn set_strict<'a>(&mut self, acis: impl IntoIterator<Item = &'a Aci>) {
        let strict = &mut self.identities.strict;
        strict.clear();
        for aci in acis.into_iter().take(MAX_STRICT) {
            strict.insert(aci.service_id_string());
        }
    }

    /// Whether `aci` is strict (see [`ProtocolStore::set_strict`]).
    pub fn is_strict(&self, aci: &Aci) -> bool {
        self.identities.strict.contains(&aci.service_id_string())
    }

    /// The identity key on record for `aci`, if any.
    pub fn identity(&self, aci: &Aci) -> Option<IdentityKey> {
        self.identities.known.get(&aci.service_id_string()).copied()
    }

    /// The identity key a send to strict `aci` refused since the last call, if any (SPEC.md
    /// §1, identity policy): what the service served for them instead of the key on record.
    pub fn take_refused_identity(&mut self, aci: &Aci) -> Option<IdentityKey> {
        let mut refused = self
            .identities
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        refused.remove(&aci.service_id_string())
    }

    /// Makes `key` the identity key on record for `aci`, whatever was there, without
    /// reporting a change: the caller has decided to trust exactly this key (the enclave:
    /// the key it showed the admins as a safety number). Sessions are kept; a session with
    /// another key is refused when sending to `aci` strictly.
    pub fn pin_identity(&mut self, aci: &Aci, key: IdentityKey) {
        let name = aci.service_id_string();
        self.identities.changes.retain(|n| *n != name);
        if self.identities.known.len() < MAX_IDENTITIES || self.identities.known.contains_key(&name)
        {
            self.identities.known.insert(name, key);
        }
    }

    /// Forgets the identity key on record for `aci`, so the next one seen is accepted as
    /// the first (trust on first use), strict or not. The enclave calls this when another
    /// admin re-authorizes an admin whose safety number changed. Sessions are kept.
    pub fn forget_identity(&mut self, aci: &Aci) {
        let name = aci.service_id_string();
        self.identities.known.remove(&name);
        self.identities.changes.retain(|n| *n != name);
    }

    /// The recipient-book entry for an ACI.
    pub fn recipient(&self, aci: &Aci) -> Option<&Recipient> {
        self.recipients.get(&aci_key(aci))
    }

    /// The ACI recorded for an E.164 number.
    pub fn aci_for_e164(&self, e164: &str) -> Option<Aci> {
        self.by_e164.get(e164).map(|b| aci_from_bytes(*b))
    }

    /// Forgets everything the recipient book holds about people `keep` does not want: a
    /// recipient whose number `keep` refuses, or who has no number, loses their entry
    /// (number, profile key, access key, timer). Sessions and identity keys stay, keyed by
    /// ACI only, so someone who writes again is still decrypted. Returns how many entries
    /// went.
    pub fn prune_recipients(&mut self, keep: impl Fn(&str) -> bool) -> usize {
        let before = self.recipients.len();
        self.recipients
            .retain(|_, r| r.e164.as_deref().is_some_and(&keep));
        self.by_e164.retain(|e164, _| keep(e164));
        before - self.recipients.len()
    }

    /// Records (or updates) the number of an ACI. A number moves to its newest ACI.
    pub fn set_e164(&mut self, aci: &Aci, e164: &str) -> Result<()> {
        if e164.len() > MAX_BOOK_NUMBER_LEN {
            return Err(Error::TooLarge {
                what: "e164",
                len: e164.len() as u64,
                max: MAX_BOOK_NUMBER_LEN as u64,
            });
        }
        let key = aci_key(aci);
        if let Some(old) = self.by_e164.insert(e164.to_owned(), key) {
            if old != key {
                if let Some(r) = self.recipients.get_mut(&old) {
                    r.e164 = None;
                }
            }
        }
        let r = self.recipients.entry(key).or_default();
        if let Some(prev) = r.e164.replace(e164.to_owned()) {
            if prev != e164 {
                self.by_e164.remove(&prev);
            }
        }
        Ok(())
    }

    /// Records a recipient's profile key and the unidentified-access key derived from it.
    pub fn set_profile_key(&mut self, aci: &Aci, profile_key: [u8; PROFILE_KEY_LEN]) {
        let uak = crate::uak::derive_access_key(&profile_key);
        let r = self.recipients.entry(aci_key(aci)).or_default();
        r.profile_key = Some(profile_key);
        r.uak = Some(uak);
    }

    /// Forgets a recipient's unidentified-access key (after the service rejected it).
    pub fn clear_uak(&mut self, aci: &Aci) {
        if let Some(r) = self.recipients.get_mut(&aci_key(aci)) {
            if let Some(k) = r.uak.as_mut() {
                k.zeroize();
            }
            r.uak = None;
        }
    }

    /// Records the disappearing-message timer of our chat with a recipient.
    pub fn set_expire_timer(&mut self, aci: &Aci, seconds: u32) {
        self.recipients
            .entry(aci_key(aci))
            .or_default()
            .expire_timer = Some(seconds);
    }

    /// Sets a recipient's unidentified-access key directly.
    pub fn set_uak(&mut self, aci: &Aci, uak: [u8; UAK_LEN]) {
        self.recipients.entry(aci_key(aci)).or_default().uak = Some(uak);
    }
}

fn aci_key(aci: &Aci) -> [u8; 16] {
    let b = aci.service_id_binary();
    let mut k = [0u8; 16];
    // An ACI's binary form is its bare 16-byte UUID.
    if b.len() == 16 {
        k.copy_from_slice(&b);
    }
    k
}

/// An ACI from its 16 UUID bytes.
pub fn aci_from_bytes(b: [u8; 16]) -> Aci {
    Aci::parse_from_service_id_binary(&b).expect("invariant: 16 bytes are always a valid ACI")
}

type SResult<T> = std::result::Result<T, SignalProtocolError>;

#[async_trait(?Send)]
impl IdentityKeyStore for Identities {
    async fn get_identity_key_pair(&self) -> SResult<IdentityKeyPair> {
        Ok(self.pair)
    }
    async fn get_local_registration_id(&self) -> SResult<u32> {
        Ok(self.registration_id)
    }
    async fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> SResult<IdentityChange> {
        let prev = self.known.insert(address.name().to_owned(), *identity);
        let changed = matches!(prev, Some(p) if p != *identity);
        if changed && self.changes.len() < MAX_PENDING_IDENTITY_CHANGES {
            self.changes.push(address.name().to_owned());
        }
        Ok(IdentityChange::from_changed(changed))
    }
    async fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        direction: Direction,
    ) -> SResult<bool> {
        // Receiving always trusts, and so does sending to anyone not strict: a change is
        // reported through save_identity and the caller applies policy. Sending to a strict
        // name trusts only the key on record (or any key when none is) (SPEC.md §1).
        if matches!(direction, Direction::Sending) && self.strict.contains(address.name()) {
            let trusted = self.known.get(address.name()).is_none_or(|k| k == identity);
            if !trusted {
                let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
                if refused.len() < MAX_STRICT || refused.contains_key(address.name()) {
                    refused.insert(address.name().to_owned(), *identity);
                }
            }
            return Ok(trusted);
        }
        Ok(true)
    }
    async fn get_identity(&self, address: &ProtocolAddress) -> SResult<Option<IdentityKey>> {
        Ok(self.known.get(address.name()).copied())
    }
}

#[async_trait(?Send)]
impl PreKeyStore for PreKeys {
    async fn get_pre_key(&self, id: PreKeyId) -> SResult<PreKeyRecord> {
        self.0
            .get(&u32::from(id))
            .cloned()
            .ok_or(SignalProtocolError::InvalidPreKeyId)
    }
    async fn save_pre_key(&mut self, id: PreKeyId, record: &PreKeyRecord) -> SResult<()> {
        self.0.insert(u32::from(id), record.clone());
        Ok(())
    }
    async fn remove_pre_key(&mut self, id: PreKeyId) -> SResult<()> {
        self.0.remove(&u32::from(id));
        Ok(())
    }
}

#[async_trait(?Send)]
impl SignedPreKeyStore for SignedPreKeys {
    async fn get_signed_pre_key(&self, id: SignedPreKeyId) -> SResult<SignedPreKeyRecord> {
        self.0
            .get(&u32::from(id))
            .cloned()
            .ok_or(SignalProtocolError::InvalidSignedPreKeyId)
    }
    async fn save_signed_pre_key(
        &mut self,
        id: SignedPreKeyId,
        record: &SignedPreKeyRecord,
    ) -> SResult<()> {
        self.0.insert(u32::from(id), record.clone());
        Ok(())
    }
}

#[async_trait(?Send)]
impl KyberPreKeyStore for KyberPreKeys {
    async fn get_kyber_pre_key(&self, id: KyberPreKeyId) -> SResult<KyberPreKeyRecord> {
        self.keys
            .get(&u32::from(id))
            .map(|e| e.record.clone())
            .ok_or(SignalProtocolError::InvalidKyberPreKeyId)
    }
    async fn save_kyber_pre_key(
        &mut self,
        id: KyberPreKeyId,
        record: &KyberPreKeyRecord,
    ) -> SResult<()> {
        // Keys saved through the plain trait are one-time keys; last-resort keys come in
        // through `save_kyber_pre_key_flagged`.
        let last_resort = self.keys.get(&u32::from(id)).is_some_and(|e| e.last_resort);
        self.keys.insert(
            u32::from(id),
            KyberEntry {
                record: record.clone(),
                last_resort,
            },
        );
        Ok(())
    }
    async fn mark_kyber_pre_key_used(
        &mut self,
        id: KyberPreKeyId,
        ec_prekey_id: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> SResult<()> {
        let kid = u32::from(id);
        match self.keys.get(&kid) {
            None => Err(SignalProtocolError::InvalidKyberPreKeyId),
            Some(e) if !e.last_resort => {
                self.keys.remove(&kid);
                Ok(())
            }
            Some(_) => {
                let ser = base_key.serialize();
                let mut bk = [0u8; IDENTITY_KEY_LEN];
                if ser.len() != IDENTITY_KEY_LEN {
                    return Err(SignalProtocolError::InvalidArgument("base key".into()));
                }
                bk.copy_from_slice(&ser);
                let entry = (kid, u32::from(ec_prekey_id), bk);
                if self.used_base_keys.contains(&entry) {
                    return Err(SignalProtocolError::InvalidMessage(
                        libsignal_protocol::CiphertextMessageType::PreKey,
                        "reused base key",
                    ));
                }
                if self.used_base_keys.len() >= MAX_USED_BASE_KEYS {
                    // Oldest-first eviction is not possible in a set; drop the smallest.
                    self.used_base_keys.pop_first();
                }
                self.used_base_keys.insert(entry);
                Ok(())
            }
        }
    }
}

#[async_trait(?Send)]
impl SessionStore for Sessions {
    async fn load_session(&self, address: &ProtocolAddress) -> SResult<Option<SessionRecord>> {
        Ok(self.get(address).cloned())
    }
    async fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> SResult<()> {
        self.insert(address, record.clone());
        Ok(())
    }
}

#[async_trait(?Send)]
impl SenderKeyStore for SenderKeys {
    async fn store_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: uuid::Uuid,
        record: &SenderKeyRecord,
    ) -> SResult<()> {
        self.0.insert(
            (
                sender.name().to_owned(),
                u8::from(sender.device_id()),
                *distribution_id.as_bytes(),
            ),
            record.clone(),
        );
        Ok(())
    }
    async fn load_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: uuid::Uuid,
    ) -> SResult<Option<SenderKeyRecord>> {
        Ok(self
            .0
            .get(&(
                sender.name().to_owned(),
                u8::from(sender.device_id()),
                *distribution_id.as_bytes(),
            ))
            .cloned())
    }
}

// ---------------------------------------------------------------------------------------
// Encoding (SPEC.md §1)

fn corrupt(what: &'static str) -> impl FnOnce(SignalProtocolError) -> Error {
    move |_| Error::Corrupt { what }
}

impl ProtocolStore {
    /// Encodes the whole store (SPEC.md §1). Deterministic: maps are written in key order.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut w = Writer::with_capacity(64 + self.sessions.count * 1600);
        self.encode_into(&mut w)?;
        Ok(w.finish())
    }

    pub(crate) fn encode_into(&self, w: &mut Writer) -> Result<()> {
        w.raw(STORE_MAGIC);
        w.u8(STORE_VERSION);
        let ikp = Zeroizing::new(self.identities.pair.serialize().to_vec());
        w.bytes8("identity key pair", &ikp, MAX_IDENTITY_KEY_PAIR_LEN)?;
        w.u32(self.identities.registration_id);

        let mut ids: Vec<(&String, &IdentityKey)> = self.identities.known.iter().collect();
        ids.sort_by(|a, b| a.0.cmp(b.0));
        w.count("identities", ids.len(), MAX_IDENTITIES)?;
        for (name, key) in ids {
            w.bytes8("address name", name.as_bytes(), MAX_NAME_LEN)?;
            let k = key.serialize();
            if k.len() != IDENTITY_KEY_LEN {
                return Err(Error::Corrupt {
                    what: "identity key",
                });
            }
            w.raw(&k);
        }

        w.count("prekeys", self.prekeys.0.len(), MAX_PREKEYS)?;
        for (id, rec) in &self.prekeys.0 {
            w.u32(*id);
            let b = Zeroizing::new(rec.serialize()?);
            w.bytes16("prekey record", &b, MAX_PREKEY_RECORD_LEN)?;
        }
        w.count(
            "signed prekeys",
            self.signed_prekeys.0.len(),
            MAX_SIGNED_PREKEYS,
        )?;
        for (id, rec) in &self.signed_prekeys.0 {
            w.u32(*id);
            let b = Zeroizing::new(rec.serialize()?);
            w.bytes16("signed prekey record", &b, MAX_PREKEY_RECORD_LEN)?;
        }
        w.count(
            "kyber prekeys",
            self.kyber_prekeys.keys.len(),
            MAX_KYBER_PREKEYS,
        )?;
        for (id, e) in &self.kyber_prekeys.keys {
            w.u32(*id);
            w.u8(if e.last_resort {
                KYBER_FLAG_LAST_RESORT
            } else {
                0
            });
            let b = Zeroizing::new(e.record.serialize()?);
            w.bytes16("kyber prekey record", &b, MAX_KYBER_RECORD_LEN)?;
        }
        let used = &self.kyber_prekeys.used_base_keys;
        w.count("used base keys", used.len(), MAX_USED_BASE_KEYS)?;
        for (kid, sid, bk) in used {
            w.u32(*kid);
            w.u32(*sid);
            w.raw(bk);
        }

        let mut names: Vec<&String> = self.sessions.by_name.keys().collect();
        names.sort();
        w.count("sessions", self.sessions.count, MAX_SESSIONS)?;
        for name in names {
            for (dev, rec) in &self.sessions.by_name[name] {
                w.bytes8("address name", name.as_bytes(), MAX_NAME_LEN)?;
                w.u8(*dev);
                let b = Zeroizing::new(rec.serialize()?);
                w.bytes32("session record", &b, MAX_SESSION_RECORD_LEN)?;
            }
        }

        w.count("recipients", self.recipients.len(), MAX_RECIPIENTS)?;
        for (aci, r) in &self.recipients {
            w.raw(aci);
            let mut flags = 0;
            if r.e164.is_some() {
                flags |= RECIPIENT_FLAG_E164;
            }
            if r.profile_key.is_some() {
                flags |= RECIPIENT_FLAG_PROFILE_KEY;
            }
            if r.uak.is_some() {
                flags |= RECIPIENT_FLAG_UAK;
            }
            if r.expire_timer.is_some() {
                flags |= RECIPIENT_FLAG_TIMER;
            }
            w.u8(flags);
            if let Some(e) = &r.e164 {
                w.bytes8("e164", e.as_bytes(), MAX_BOOK_NUMBER_LEN)?;
            }
            if let Some(k) = &r.profile_key {
                w.raw(k);
            }
            if let Some(k) = &r.uak {
                w.raw(k);
            }
            if let Some(t) = r.expire_timer {
                w.u32(t);
            }
        }
        w.count("sender keys", self.sender_keys.0.len(), MAX_SENDER_KEYS)?;
        for ((name, dev, dist), rec) in &self.sender_keys.0 {
            w.bytes8("address name", name.as_bytes(), MAX_NAME_LEN)?;
            w.u8(*dev);
            w.raw(dist);
            let b = Zeroizing::new(rec.serialize()?);
            w.bytes32("sender key record", &b, MAX_SENDER_KEY_RECORD_LEN)?;
        }
        w.count(
            "sender keys shared",
            self.skdm_shared.len(),
            MAX_SKDM_SHARED,
        )?;
        for (dist, aci, dev) in &self.skdm_shared {
            w.raw(dist);
            w.raw(aci);
            w.u8(*dev);
        }
        Ok(())
    }

    /// Decodes a store written by [`ProtocolStore::encode`], rejecting anything malformed,
    /// oversized, duplicated or followed by trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let s = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(s)
    }

    pub(crate) fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        if r.take("store magic", 4)? != STORE_MAGIC {
            return Err(Error::BadMagic { what: "store" });
        }
        let version = r.u8("store version")?;
        if version != STORE_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "store",
                version,
            });
        }
        let ikp = r.bytes8("identity key pair", MAX_IDENTITY_KEY_PAIR_LEN)?;
        let identity = IdentityKeyPair::try_from(ikp).map_err(corrupt("identity key pair"))?;
        let registration_id = r.u32("registration id")?;
        let mut s = ProtocolStore::new(identity, registration_id);

        let n = r.count("identities", MAX_IDENTITIES, 1 + IDENTITY_KEY_LEN)?;
        s.identities.known.reserve(n);
        for _ in 0..n {
            let name = read_name(r)?;
            let k = r.take("identity key", IDENTITY_KEY_LEN)?;
            let key = IdentityKey::decode(k).map_err(corrupt("identity key"))?;
            if s.identities.known.insert(name, key).is_some() {
                return Err(Error::Duplicate { what: "identity" });
            }
        }

        let n = r.count("prekeys", MAX_PREKEYS, 6)?;
        for _ in 0..n {
            let id = r.u32("prekey id")?;
            let b = r.bytes16("prekey record", MAX_PREKEY_RECORD_LEN)?;
            let rec = PreKeyRecord::deserialize(b).map_err(corrupt("prekey record"))?;
            if s.prekeys.0.insert(id, rec).is_some() {
                return Err(Error::Duplicate { what: "prekey" });
            }
        }
        let n = r.count("signed prekeys", MAX_SIGNED_PREKEYS, 6)?;
        for _ in 0..n {
            let id = r.u32("signed prekey id")?;
            let b = r.bytes16("signed prekey record", MAX_PREKEY_RECORD_LEN)?;
            let rec =
                SignedPreKeyRecord::deserialize(b).map_err(corrupt("signed prekey record"))?;
            if s.signed_prekeys.0.insert(id, rec).is_some() {
                return Err(Error::Duplicate {
                    what: "signed prekey",
                });
            }
        }
        let n = r.count("kyber prekeys", MAX_KYBER_PREKEYS, 7)?;
        for _ in 0..n {
            let id = r.u32("kyber prekey id")?;
            let flags = r.u8("kyber prekey flags")?;
            if flags & !KYBER_FLAG_LAST_RESORT != 0 {
                return Err(Error::Corrupt {
                    what: "kyber prekey flags",
                });
            }
            let b = r.bytes16("kyber prekey record", MAX_KYBER_RECORD_LEN)?;
            let record =
                KyberPreKeyRecord::deserialize(b).map_err(corrupt("kyber prekey record"))?;
            let e = KyberEntry {
                record,
                last_resort: flags & KYBER_FLAG_LAST_RESORT != 0,
            };
            if s.kyber_prekeys.keys.insert(id, e).is_some() {
                return Err(Error::Duplicate {
                    what: "kyber prekey",
                });
            }
        }
        let n = r.count("used base keys", MAX_USED_BASE_KEYS, 8 + IDENTITY_KEY_LEN)?;
        for _ in 0..n {
            let kid = r.u32("used base key")?;
            let sid = r.u32("used base key")?;
            let bk = r.array::<IDENTITY_KEY_LEN>("used base key")?;
            if !s.kyber_prekeys.used_base_keys.insert((kid, sid, bk)) {
                return Err(Error::Duplicate {
                    what: "used base key",
                });
            }
        }

        let n = r.count("sessions", MAX_SESSIONS, 1 + 1 + 4)?;
        s.sessions.by_name.reserve(n);
        for _ in 0..n {
            let name = read_name(r)?;
            let device = DeviceId::try_from(r.u8("device id")?)
                .map_err(|_| Error::Corrupt { what: "device id" })?;
            let b = r.bytes32("session record", MAX_SESSION_RECORD_LEN)?;
            let rec = SessionRecord::deserialize(b).map_err(corrupt("session record"))?;
            if s.sessions.insert(&ProtocolAddress::new(name, device), rec) {
                return Err(Error::Duplicate { what: "session" });
            }
        }

        let n = r.count("recipients", MAX_RECIPIENTS, 17)?;
        for _ in 0..n {
            let aci = r.array::<16>("recipient aci")?;
            let flags = r.u8("recipient flags")?;
            if flags & !RECIPIENT_FLAGS_ALL != 0 {
                return Err(Error::Corrupt {
                    what: "recipient flags",
                });
            }
            let mut rec = Recipient::default();
            if flags & RECIPIENT_FLAG_E164 != 0 {
                let e = r.bytes8("e164", MAX_BOOK_NUMBER_LEN)?;
                let e = std::str::from_utf8(e).map_err(|_| Error::Corrupt { what: "e164" })?;
                if s.by_e164.insert(e.to_owned(), aci).is_some() {
                    return Err(Error::Duplicate { what: "e164" });
                }
                rec.e164 = Some(e.to_owned());
            }
            if flags & RECIPIENT_FLAG_PROFILE_KEY != 0 {
                rec.profile_key = Some(r.array("profile key")?);
            }
            if flags & RECIPIENT_FLAG_UAK != 0 {
                rec.uak = Some(r.array("unidentified access key")?);
            }
            if flags & RECIPIENT_FLAG_TIMER != 0 {
                rec.expire_timer = Some(r.u32("expire timer")?);
            }
            if s.recipients.insert(aci, rec).is_some() {
                return Err(Error::Duplicate { what: "recipient" });
            }
        }
        let n = r.count("sender keys", MAX_SENDER_KEYS, 1 + 1 + 16 + 4)?;
        for _ in 0..n {
            let name = read_name(r)?;
            let dev = r.u8("device id")?;
            DeviceId::try_from(dev).map_err(|_| Error::Corrupt { what: "device id" })?;
            let dist = r.array::<16>("distribution id")?;
            let b = r.bytes32("sender key record", MAX_SENDER_KEY_RECORD_LEN)?;
            let rec = SenderKeyRecord::deserialize(b).map_err(corrupt("sender key record"))?;
            if s.sender_keys.0.insert((name, dev, dist), rec).is_some() {
                return Err(Error::Duplicate { what: "sender key" });
            }
        }
        let n = r.count("sender keys shared", MAX_SKDM_SHARED, 33)?;
        for _ in 0..n {
            let dist = r.array::<16>("sender key shared")?;
            let aci = r.array::<16>("sender key shared")?;
            let dev = r.u8("sender key shared")?;
            DeviceId::try_from(dev).map_err(|_| Error::Corrupt { what: "device id" })?;
            if !s.skdm_shared.insert((dist, aci, dev)) {
                return Err(Error::Duplicate {
                    what: "sender key shared",
                });
            }
        }
        Ok(s)
    }
}

fn read_name(r: &mut Reader<'_>) -> Result<String> {
    let b = r.bytes8("address name", MAX_NAME_LEN)?;
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| Error::Corrupt {
            what: "address name",
        })
}
