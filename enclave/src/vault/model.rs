//! The channel model: the plaintext that [`super::seal_state`] seals. Its byte format is
//! [`ChannelState::encode`] / [`ChannelState::decode`] (VAULT.md §5).
//!
//! Invariants every mutation keeps (and `decode` re-checks, so what is encoded always
//! decodes): members sorted by phone with no duplicates, admins numbered 1..=
//! `next_admin_index - 1` without repeats, subscribers under the subscriber limit, hotline
//! records sorted by id, bans and deauthorized admins sorted and unique, every count under its
//! named bound, settings in range.

use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::admin_keys::AdminKey;
use super::lifecycle::{PendingAdmin, Proposal};
use super::VaultError;

/// Hard bound on members (admins + subscribers) the codec accepts.
pub const MAX_MEMBERS: usize = 100_000;
/// Hard bound on admins; admin indices are u16 and never reused.
pub const MAX_ADMINS: usize = 1_000;
/// Hotline records alive at once (one per recent sender).
pub const MAX_HOTLINE_RECORDS: usize = 100_000;
/// Pending invites at once.
pub const MAX_INVITES: usize = 100_000;
/// Banned numbers.
pub const MAX_BANS: usize = 100_000;
/// Deauthorized admins (bounded by the admin bound).
pub const MAX_DEAUTHORIZED: usize = MAX_ADMINS;
/// The opaque Signal account credential slot.
pub const MAX_SIGNAL_ACCOUNT_LEN: usize = 64 * 1024;
/// The opaque Signal protocol store slot. The whole sealed state must still fit the host's
/// blob limit ([`super::MAX_PADDED_STATE_LEN`]); this only bounds the field itself.
pub const MAX_PROTOCOL_STORE_LEN: usize = 15 * 1024 * 1024;
/// VOUCH LEVEL range (Signalboost allows 1..=10).
pub const MAX_VOUCH_LEVEL: u8 = 10;

/// Hotline ids live 3 days (DESIGN §5).
pub const HOTLINE_TTL_SECS: u64 = 3 * 24 * 60 * 60;
/// Invites live 7 days (DESIGN §5).
pub const INVITE_TTL_SECS: u64 = 7 * 24 * 60 * 60;
/// Default disappearing-message timer: one week.
pub const DEFAULT_DISAPPEARING_TIMER_SECS: u32 = 7 * 24 * 60 * 60;
/// Default subscriber limit.
pub const DEFAULT_SUBSCRIBER_LIMIT: u32 = 20_000;

/// Smallest and largest E.164 numbers as integers: `+` then 8..=15 digits, first nonzero.
const PHONE_MIN: u64 = 10_000_000;
const PHONE_MAX: u64 = 999_999_999_999_999;
/// Smallest pseudonym (VAULT.md §5): pseudonyms fill `PSEUDONYM_MIN..=u64::MAX`, strictly
/// above every E.164 number (17..=20 digits), so the two ranges never meet.
pub const PSEUDONYM_MIN: u64 = 10_000_000_000_000_000;
/// Domain separation for [`Phone::pseudonym`]'s hash (VAULT.md §5).
const PSEUDONYM_LABEL: &[u8] = b"sealboost member pseudonym v1\0";

/// A member's identifier: an E.164 phone number held as its digits' integer value (E.164
/// has no leading zeros, so this is lossless), or a *pseudonym* for a sender whose number
/// Signal does not reveal ([`Phone::pseudonym`], VAULT.md §5). Deliberately has no
/// `Display`, `Clone` or `Copy`: printing or duplicating a number is an explicit act
/// ([`Phone::to_e164_string`]). `Debug` is redacted.
#[derive(PartialEq, Eq, PartialOrd, Ord, Hash, Zeroize, ZeroizeOnDrop)]
pub struct Phone(u64);

impl Phone {
    /// Parses `+` followed by 8..=15 ASCII digits, the first nonzero. Never yields a
    /// pseudonym.
    pub fn parse(s: &str) -> Result<Phone, VaultError> {
        let digits = s
            .strip_prefix('+')
            .ok_or(VaultError::InvalidPhone)?
            .as_bytes();
        if !(8..=15).contains(&digits.len()) || digits[0] == b'0' {
            return Err(VaultError::InvalidPhone);
        }
        let mut v: u64 = 0;
        for &d in digits {
            if !d.is_ascii_digit() {
                return Err(VaultError::InvalidPhone);
            }
            // ≤ 15 digits: cannot overflow u64.
            v = v * 10 + u64::from(d - b'0');
        }
        Ok(Phone(v))
    }

    /// The pseudonym of the Signal account with this ACI (its 16 UUID bytes), for a sender
    /// whose number is hidden: `PSEUDONYM_MIN + (h mod (u64::MAX − PSEUDONYM_MIN + 1))`
    /// where `h` is the first 8 bytes (big-endian) of SHA-256(label ‖ ACI). Deterministic,
    /// so the same account always gets the same pseudonym (VAULT.md §5).
    pub fn pseudonym(aci: &[u8; 16]) -> Phone {
        use sha2::Digest as _;
        let mut d = Sha256::new();
        d.update(PSEUDONYM_LABEL);
        d.update(aci);
        let digest = d.finalize();
        let mut h = [0u8; 8];
        h.copy_from_slice(&digest[..8]);
        let span = u64::MAX - PSEUDONYM_MIN + 1;
        Phone(PSEUDONYM_MIN + u64::from_be_bytes(h) % span)
    }

    /// Parses a recipient-book key: an E.164 number ([`Phone::parse`]) or a pseudonym's
    /// [`Phone::to_e164_string`] form (`+` and 17..=20 digits in the pseudonym range).
    pub fn from_book_key(s: &str) -> Option<Phone> {
        if let Ok(p) = Phone::parse(s) {
            return Some(p);
        }
        let digits = s.strip_prefix('+')?;
        if !(17..=20).contains(&digits.len()) || !digits.bytes().all(|d| d.is_ascii_digit()) {
            return None;
        }
        // `u64::from_str` also refuses values above u64::MAX.
        let v: u64 = digits.parse().ok()?;
        (v >= PSEUDONYM_MIN && !digits.starts_with('0')).then_some(Phone(v))
    }

    /// Whether this is a pseudonym (the member's number is not known to the channel).
    pub fn is_pseudonym(&self) -> bool {
        self.0 >= PSEUDONYM_MIN
    }

    /// From the integer form, validating the E.164 or pseudonym range (codec use).
    pub(crate) fn from_u64(v: u64) -> Option<Phone> {
        ((PHONE_MIN..=PHONE_MAX).contains(&v) || v >= PSEUDONYM_MIN).then_some(Phone(v))
    }

    pub(crate) fn as_u64(&self) -> u64 {
        self.0
    }

    /// The number as `+digits`, for handing to the Signal client. Never log it. For a
    /// pseudonym this is only the channel's own recipient-book key for the account (never
    /// a number to look up or show).
    pub fn to_e164_string(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("+{}", self.0))
    }

    /// An explicit duplicate (Phone is intentionally not `Clone`).
    pub fn duplicate(&self) -> Phone {
        Phone(self.0)
    }
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Phone(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Subscriber = 0,
    Admin = 1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    En = 0,
    Es = 1,
    Fr = 2,
    De = 3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VouchMode {
    #[default]
    Off = 0,
    On = 1,
    Admin = 2,
}

impl Role {
    pub(crate) fn from_u8(b: u8) -> Option<Role> {
        match b {
            0 => Some(Role::Subscriber),
            1 => Some(Role::Admin),
            _ => None,
        }
    }
}
impl Language {
    pub(crate) fn from_u8(b: u8) -> Option<Language> {
        match b {
            0 => Some(Language::En),
            1 => Some(Language::Es),
            2 => Some(Language::Fr),
            3 => Some(Language::De),
            _ => None,
        }
    }
}
impl VouchMode {
    pub(crate) fn from_u8(b: u8) -> Option<VouchMode> {
        match b {
            0 => Some(VouchMode::Off),
            1 => Some(VouchMode::On),
            2 => Some(VouchMode::Admin),
            _ => None,
        }
    }
}

/// One membership: a fixed 12-byte record on the wire, no heap.
#[derive(Debug, PartialEq, Eq)]
pub struct Member {
    pub(crate) phone: Phone,
    pub(crate) role: Role,
    pub language: Language,
    /// `ADMIN n` for admins (≥ 1, stable, never reused); 0 for subscribers.
    pub(crate) admin_index: u16,
}

impl Member {
    pub fn phone(&self) -> &Phone {
        &self.phone
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
    /// `Some(n)` for `ADMIN n`.
    pub fn admin_index(&self) -> Option<u16> {
        self.is_admin().then_some(self.admin_index)
    }
}

/// A hotline id handed out for a sender: `@id`, alive for [`HOTLINE_TTL_SECS`].
#[derive(Debug, PartialEq, Eq)]
pub struct HotlineRecord {
    pub(crate) id: u32,
    pub(crate) sender: Phone,
    pub(crate) created_at: u64,
}

impl HotlineRecord {
    pub fn id(&self) -> u32 {
        self.id
    }
    pub fn sender(&self) -> &Phone {
        &self.sender
    }
    pub fn created_at(&self) -> u64 {
        self.created_at
    }
    pub(crate) fn expired(&self, now: u64) -> bool {
        now >= self.created_at.saturating_add(HOTLINE_TTL_SECS)
    }
}

/// A pending invite, alive for [`INVITE_TTL_SECS`].
#[derive(Debug, PartialEq, Eq)]
pub struct Invite {
    pub(crate) invitee: Phone,
    pub(crate) inviter: Phone,
    pub(crate) created_at: u64,
}

impl Invite {
    pub fn invitee(&self) -> &Phone {
        &self.invitee
    }
    pub fn inviter(&self) -> &Phone {
        &self.inviter
    }
    pub fn created_at(&self) -> u64 {
        self.created_at
    }
    pub(crate) fn expired(&self, now: u64) -> bool {
        now >= self.created_at.saturating_add(INVITE_TTL_SECS)
    }
}

/// Channel settings. Fields are private so that every value is range-checked on the way in
/// (an out-of-range value would make the sealed state undecodable).
#[derive(Debug, PartialEq, Eq)]
pub struct Settings {
    pub(crate) hotline_on: bool,
    pub(crate) vouch_mode: VouchMode,
    pub(crate) vouch_level: u8,
    pub(crate) disappearing_timer_secs: u32,
    pub(crate) subscriber_limit: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            hotline_on: true,
            vouch_mode: VouchMode::Off,
            vouch_level: 1,
            disappearing_timer_secs: DEFAULT_DISAPPEARING_TIMER_SECS,
            subscriber_limit: DEFAULT_SUBSCRIBER_LIMIT,
        }
    }
}

impl Settings {
    pub fn hotline_on(&self) -> bool {
        self.hotline_on
    }
    pub fn vouch_mode(&self) -> VouchMode {
        self.vouch_mode
    }
    pub fn vouch_level(&self) -> u8 {
        self.vouch_level
    }
    pub fn disappearing_timer_secs(&self) -> u32 {
        self.disappearing_timer_secs
    }
    pub fn subscriber_limit(&self) -> u32 {
        self.subscriber_limit
    }
    pub fn set_hotline_on(&mut self, on: bool) {
        self.hotline_on = on;
    }
    pub fn set_vouch_mode(&mut self, mode: VouchMode) {
        self.vouch_mode = mode;
    }
    /// 1..=[`MAX_VOUCH_LEVEL`].
    pub fn set_vouch_level(&mut self, level: u8) -> Result<(), VaultError> {
        if !(1..=MAX_VOUCH_LEVEL).contains(&level) {
            return Err(VaultError::InvalidSetting {
                what: "vouch level",
            });
        }
        self.vouch_level = level;
        Ok(())
    }
    pub fn set_disappearing_timer_secs(&mut self, secs: u32) {
        self.disappearing_timer_secs = secs;
    }
    /// 0..=[`MAX_MEMBERS`]. Lowering it below the current count keeps existing subscribers
    /// and only stops new ones.
    pub fn set_subscriber_limit(&mut self, limit: u32) -> Result<(), VaultError> {
        if usize::try_from(limit).map_or(true, |l| l > MAX_MEMBERS) {
            return Err(VaultError::InvalidSetting {
                what: "subscriber limit",
            });
        }
        self.subscriber_limit = limit;
        Ok(())
    }
}

/// Everything identifying about a channel. Zeroized on drop, redacted `Debug`, no `Clone`.
pub struct ChannelState {
    pub(crate) settings: Settings,
    pub(crate) ban_key: Zeroizing<[u8; 32]>,
    pub(crate) next_admin_index: u16,
    pub(crate) next_hotline_id: u32,
    pub(crate) members: Vec<Member>,
    pub(crate) subscriber_count: usize,
    pub(crate) hotline: Vec<HotlineRecord>,
    pub(crate) invites: Vec<Invite>,
    pub(crate) bans: Vec<[u8; 32]>,
    pub(crate) deauthorized: Vec<Phone>,
    pub(crate) signal_account: Zeroizing<Vec<u8>>,
    pub(crate) protocol_store: Zeroizing<Vec<u8>>,
    // Key lifecycle (VAULT.md §5 model v2, §12, §14).
    /// Approvals a proposal needs (1 = no voting).
    pub(crate) approval_threshold: u16,
    pub(crate) next_proposal_id: u32,
    /// Generation of the current SK: 1 at creation, +1 at every rotation or re-key.
    pub(crate) sk_generation: u64,
    pub(crate) pending_admins: Vec<PendingAdmin>,
    pub(crate) proposals: Vec<Proposal>,
    /// Model v3 (VAULT.md §5, §20): each admin's verifying key, by admin index.
    pub(crate) admin_keys: Vec<AdminKey>,
}

impl std::fmt::Debug for ChannelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelState(<redacted>)")
    }
}

impl Drop for ChannelState {
    fn drop(&mut self) {
        // Elements, then the spare capacity `remove`/`retain` left stale copies in.
        // (`ban_key` and the Signal slots are `Zeroizing` already.)
        self.members.zeroize();
        self.hotline.zeroize();
        self.invites.zeroize();
        self.bans.zeroize();
        self.deauthorized.zeroize();
        self.pending_admins.zeroize();
        self.proposals.zeroize();
        self.admin_keys.zeroize();
    }
}

impl Zeroize for Member {
    fn zeroize(&mut self) {
        self.phone.zeroize();
        self.admin_index.zeroize();
    }
}
impl Zeroize for HotlineRecord {
    fn zeroize(&mut self) {
        self.sender.zeroize();
        self.id.zeroize();
        self.created_at.zeroize();
    }
}
impl Zeroize for Invite {
    fn zeroize(&mut self) {
        self.invitee.zeroize();
        self.inviter.zeroize();
        self.created_at.zeroize();
    }
}

impl ChannelState {
    /// An empty channel with default settings and a fresh ban key.
    pub fn new<R: RngCore + CryptoRng>(rng: &mut R) -> ChannelState {
        let mut ban_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut ban_key[..]);
        ChannelState {
            settings: Settings::default(),
            ban_key,
            next_admin_index: 1,
            next_hotline_id: 1,
            members: Vec::new(),
            subscriber_count: 0,
            hotline: Vec::new(),
            invites: Vec::new(),
            bans: Vec::new(),
            deauthorized: Vec::new(),
            signal_account: Zeroizing::new(Vec::new()),
            protocol_store: Zeroizing::new(Vec::new()),
            approval_threshold: 1,
            next_proposal_id: 1,
            sk_generation: 1,
            pending_admins: Vec::new(),
            proposals: Vec::new(),
            admin_keys: Vec::new(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// Drops hotline records and invites whose lifetime has ended at `now_secs`
    /// (record expired ⇔ `now ≥ created_at + TTL`). Run at every unlock.
    pub fn expire(&mut self, now_secs: u64) {
        self.hotline.retain(|r| !r.expired(now_secs));
        self.invites.retain(|i| !i.expired(now_secs));
    }

    // ----- members -----

    /// All members, sorted by phone number.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
    pub fn admins(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.is_admin())
    }
    pub fn subscriber_count(&self) -> usize {
        self.subscriber_count
    }
    pub fn admin_count(&self) -> usize {
        self.members.len() - self.subscriber_count
    }

    pub fn member(&self, phone: &Phone) -> Option<&Member> {
        self.position(phone).ok().map(|i| &self.members[i])
    }
    pub fn member_mut(&mut self, phone: &Phone) -> Option<&mut Member> {
        self.position(phone).ok().map(|i| &mut self.members[i])
    }
    fn position(&self, phone: &Phone) -> Result<usize, usize> {
        self.members.binary_search_by(|m| m.phone.cmp(phone))
    }

    /// Adds a member. Admins get the next `ADMIN n`; subscribers count against the
    /// subscriber limit. Returns the admin index for admins.
    pub fn add_member(
        &mut self,
        phone: Phone,
        role: Role,
        language: Language,
    ) -> Result<Option<u16>, VaultError> {
        let at = match self.position(&phone) {
            Ok(_) => return Err(VaultError::AlreadyMember),
            Err(at) => at,
        };
        if self.members.len() >= MAX_MEMBERS {
            return Err(VaultError::LimitReached {
                what: "members",
                max: MAX_MEMBERS,
            });
        }
        let admin_index = match role {
            Role::Admin => self.next_admin()?,
            Role::Subscriber => {
                let limit = self.settings.subscriber_limit as usize;
                if self.subscriber_count >= limit {
                    return Err(VaultError::LimitReached {
                        what: "subscribers",
                        max: limit,
                    });
                }
                self.subscriber_count += 1;
                0
            }
        };
        self.members.insert(
            at,
            Member {
                phone,
                role,
                language,
                admin_index,
            },
        );
        Ok((role == Role::Admin).then_some(admin_index))
    }

    fn next_admin(&mut self) -> Result<u16, VaultError> {
        if self.admin_count() >= MAX_ADMINS || self.next_admin_index == u16::MAX {
            return Err(VaultError::LimitReached {
                what: "admins",
                max: MAX_ADMINS,
            });
        }
        let n = self.next_admin_index;
        self.next_admin_index += 1;
        Ok(n)
    }

    /// Makes an existing subscriber an admin (ADD of a subscriber). Returns its index.
    pub fn promote_to_admin(&mut self, phone: &Phone) -> Result<u16, VaultError> {
        let i = self.position(phone).map_err(|_| VaultError::NotMember)?;
        if self.members[i].is_admin() {
            return Err(VaultError::AlreadyMember);
        }
        let n = self.next_admin()?;
        let m = &mut self.members[i];
        m.role = Role::Admin;
        m.admin_index = n;
        self.subscriber_count -= 1;
        Ok(n)
    }

    /// Removes a member (LEAVE / REMOVE). Also clears a deauthorization.
    pub fn remove_member(&mut self, phone: &Phone) -> Option<Member> {
        let i = self.position(phone).ok()?;
        let m = self.members.remove(i);
        if m.is_admin() {
            self.reauthorize(phone);
            // Their key goes with them (VAULT.md §20), and so does a pending re-enrolment:
            // a later re-key must not send a former admin a passphrase as "pending".
            self.prune_admin_keys();
            self.pending_admins.retain(|p| p.phone != *phone);
        } else {
            self.subscriber_count -= 1;
        }
        Some(m)
    }

    pub fn set_language(&mut self, phone: &Phone, language: Language) -> Result<(), VaultError> {
        self.member_mut(phone)
            .ok_or(VaultError::NotMember)?
            .language = language;
        Ok(())
    }

    /// A member whose number was hidden now shares it: every place the channel state holds
    /// `pseudonym` (membership, hotline records, invites, ban, deauthorization, pending
    /// admin, add-admin proposals) holds `number` instead, so they stay one member with the
    /// same role, language and `@id`s (VAULT.md §5). If `number` is already a member, that
    /// membership is kept and the pseudonym's is dropped (a duplicate invite keeps the later
    /// one). Returns whether anything changed. `InvalidPhone` unless `pseudonym` is a
    /// pseudonym and `number` is not.
    pub fn rename_pseudonym(
        &mut self,
        pseudonym: &Phone,
        number: &Phone,
    ) -> Result<bool, VaultError> {
        if !pseudonym.is_pseudonym() || number.is_pseudonym() {
            return Err(VaultError::InvalidPhone);
        }
        let mut changed = false;
        if let Ok(i) = self.position(pseudonym) {
            changed = true;
            let mut m = self.members.remove(i);
            match self.position(number) {
                Ok(_) => {
                    if !m.is_admin() {
                        self.subscriber_count -= 1;
                    }
                }
                Err(at) => {
                    m.phone = number.duplicate();
                    self.members.insert(at, m);
                }
            }
        }
        for r in self.hotline.iter_mut().filter(|r| r.sender == *pseudonym) {
            r.sender = number.duplicate();
            changed = true;
        }
        let mut invites_changed = false;
        for i in &mut self.invites {
            for p in [&mut i.invitee, &mut i.inviter] {
                if *p == *pseudonym {
                    *p = number.duplicate();
                    invites_changed = true;
                }
            }
        }
        if invites_changed {
            changed = true;
            // Latest first within equal pairs, so that dedup keeps the later invite.
            self.invites.sort_by(|a, b| {
                (&a.invitee, &a.inviter)
                    .cmp(&(&b.invitee, &b.inviter))
                    .then(b.created_at.cmp(&a.created_at))
            });
            self.invites.dedup_by(|later, kept| {
                (&later.invitee, &later.inviter) == (&kept.invitee, &kept.inviter)
            });
        }
        if self.unban(pseudonym) {
            changed = true;
            // One hash out, one in: the count cannot pass the bound.
            self.ban(number)?;
        }
        if self.reauthorize(pseudonym) {
            changed = true;
            if self.member(number).is_some_and(Member::is_admin) {
                if let Err(at) = self.deauthorized.binary_search(number) {
                    self.deauthorized.insert(at, number.duplicate());
                }
            }
        }
        if let Some(i) = self
            .pending_admins
            .iter()
            .position(|p| p.phone == *pseudonym)
        {
            changed = true;
            let mut p = self.pending_admins.remove(i);
            if let Err(at) = self
                .pending_admins
                .binary_search_by(|q| q.phone.cmp(number))
            {
                p.phone = number.duplicate();
                self.pending_admins.insert(at, p);
            }
        }
        for pr in &mut self.proposals {
            if let super::lifecycle::ProposalKind::AddAdmin(p) = &mut pr.kind {
                if *p == *pseudonym {
                    *p = number.duplicate();
                    changed = true;
                }
            }
        }
        // A pseudonymous admin merged into an existing membership leaves no index behind.
        self.prune_admin_keys();
        Ok(changed)
    }

    // ----- deauthorized admins -----

    /// Marks an admin deauthorized (safety number changed) until re-added.
    pub fn deauthorize(&mut self, phone: &Phone) -> Result<(), VaultError> {
        if !self.member(phone).is_some_and(Member::is_admin) {
            return Err(VaultError::NotMember);
        }
        if let Err(at) = self.deauthorized.binary_search(phone) {
            self.deauthorized.insert(at, phone.duplicate());
        }
        Ok(())
    }
    pub fn is_deauthorized(&self, phone: &Phone) -> bool {
        self.deauthorized.binary_search(phone).is_ok()
    }
    /// Clears a deauthorization (another admin re-ADDed them). Returns whether one existed.
    pub fn reauthorize(&mut self, phone: &Phone) -> bool {
        match self.deauthorized.binary_search(phone) {
            Ok(i) => {
                self.deauthorized.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    // ----- bans -----

    /// HMAC-SHA256(ban_key, phone as u64 BE): bans are stored as keyed hashes only.
    fn ban_hash(&self, phone: &Phone) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.ban_key[..])
            .expect("HMAC accepts any key length");
        mac.update(&phone.0.to_be_bytes());
        mac.finalize().into_bytes().into()
    }
    pub fn is_banned(&self, phone: &Phone) -> bool {
        self.bans.binary_search(&self.ban_hash(phone)).is_ok()
    }
    /// Bans a number (idempotent). Does not remove its membership; the caller does.
    pub fn ban(&mut self, phone: &Phone) -> Result<(), VaultError> {
        let h = self.ban_hash(phone);
        if let Err(at) = self.bans.binary_search(&h) {
            if self.bans.len() >= MAX_BANS {
                return Err(VaultError::LimitReached {
                    what: "bans",
                    max: MAX_BANS,
                });
            }
            self.bans.insert(at, h);
        }
        Ok(())
    }
    /// Lifts a ban (an admin ADDs the number). Returns whether one existed.
    pub fn unban(&mut self, phone: &Phone) -> bool {
        match self.bans.binary_search(&self.ban_hash(phone)) {
            Ok(i) => {
                self.bans.remove(i);
                true
            }
            Err(_) => false,
        }
    }
    pub fn ban_count(&self) -> usize {
        self.bans.len()
    }

    // ----- hotline -----

    /// The sender's live hotline id, or a new one (ids only grow, starting at 1).
    pub fn hotline_id_for(&mut self, sender: &Phone, now_secs: u64) -> Result<u32, VaultError> {
        if let Some(r) = self
            .hotline
            .iter()
            .find(|r| r.sender == *sender && !r.expired(now_secs))
        {
            return Ok(r.id);
        }
        if self.hotline.len() >= MAX_HOTLINE_RECORDS || self.next_hotline_id == u32::MAX {
            return Err(VaultError::LimitReached {
                what: "hotline records",
                max: MAX_HOTLINE_RECORDS,
            });
        }
        let id = self.next_hotline_id;
        self.next_hotline_id += 1;
        // Ids only grow, so pushing keeps the list sorted by id.
        self.hotline.push(HotlineRecord {
            id,
            sender: sender.duplicate(),
            created_at: now_secs,
        });
        Ok(id)
    }
    /// Who `@id` is (for REPLY), if the record is still alive.
    pub fn hotline_sender(&self, id: u32, now_secs: u64) -> Option<&Phone> {
        let i = self.hotline.binary_search_by_key(&id, |r| r.id).ok()?;
        let r = &self.hotline[i];
        (!r.expired(now_secs)).then_some(&r.sender)
    }
    pub fn hotline_records(&self) -> &[HotlineRecord] {
        &self.hotline
    }

    // ----- invites -----

    /// Records an invite (idempotent per inviter/invitee pair; a repeat refreshes it).
    pub fn add_invite(
        &mut self,
        inviter: &Phone,
        invitee: &Phone,
        now_secs: u64,
    ) -> Result<(), VaultError> {
        match self.invite_position(invitee, inviter) {
            Ok(i) => self.invites[i].created_at = now_secs,
            Err(at) => {
                if self.invites.len() >= MAX_INVITES {
                    return Err(VaultError::LimitReached {
                        what: "invites",
                        max: MAX_INVITES,
                    });
                }
                self.invites.insert(
                    at,
                    Invite {
                        invitee: invitee.duplicate(),
                        inviter: inviter.duplicate(),
                        created_at: now_secs,
                    },
                );
            }
        }
        Ok(())
    }
    fn invite_position(&self, invitee: &Phone, inviter: &Phone) -> Result<usize, usize> {
        self.invites
            .binary_search_by(|i| (&i.invitee, &i.inviter).cmp(&(invitee, inviter)))
    }
    /// Live invites for an invitee (ACCEPT counts them against the vouch level).
    pub fn invites_for<'a>(
        &'a self,
        invitee: &'a Phone,
        now_secs: u64,
    ) -> impl Iterator<Item = &'a Invite> + 'a {
        let start = self.invites.partition_point(|i| i.invitee < *invitee);
        self.invites[start..]
            .iter()
            .take_while(move |i| i.invitee == *invitee)
            .filter(move |i| !i.expired(now_secs))
    }
    /// Removes every invite for an invitee (ACCEPT / DECLINE). Returns how many.
    pub fn remove_invites_for(&mut self, invitee: &Phone) -> usize {
        let before = self.invites.len();
        self.invites.retain(|i| i.invitee != *invitee);
        before - self.invites.len()
    }
    pub fn invites(&self) -> &[Invite] {
        &self.invites
    }

    // ----- opaque Signal slots -----

    pub fn signal_account(&self) -> &[u8] {
        &self.signal_account
    }
    pub fn set_signal_account(&mut self, bytes: Zeroizing<Vec<u8>>) -> Result<(), VaultError> {
        check_len("signal account", bytes.len(), MAX_SIGNAL_ACCOUNT_LEN)?;
        self.signal_account = bytes;
        Ok(())
    }
    pub fn protocol_store(&self) -> &[u8] {
        &self.protocol_store
    }
    pub fn set_protocol_store(&mut self, bytes: Zeroizing<Vec<u8>>) -> Result<(), VaultError> {
        check_len("protocol store", bytes.len(), MAX_PROTOCOL_STORE_LEN)?;
        self.protocol_store = bytes;
        Ok(())
    }
}

fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), VaultError> {
    if len > max {
        return Err(VaultError::TooLarge { what, len, max });
    }
    Ok(())
}
