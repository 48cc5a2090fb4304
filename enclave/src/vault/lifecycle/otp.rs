//! One-time-passphrase onboarding (VAULT.md §12). Adding an admin records the pending
//! admin's number in the sealed state and stores, outside it, only a keyed id of a fresh OTP
//! and SK wrapped under an OTP-derived key, with an authenticated expiry. The new admin's
//! client presents the OTP once and receives SK.

use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use super::{check_max, unwrap32, wrap32, Reader, WRAPPED_LEN};
use crate::vault::keys::{hkdf32, ChannelId, Sk, KEY_LEN, XNONCE_LEN};
use crate::vault::limiter::UnlockLimiter;
use crate::vault::model::{ChannelState, Language, Phone, Role, MAX_ADMINS};
use crate::vault::{Record, VaultError};

/// Random bytes in an OTP: 160 bits.
pub const OTP_BYTES: usize = 20;
/// Displayed as 8 groups of 4 base32 characters (5 bits each): 32 × 5 = 160 bits.
pub const OTP_GROUPS: usize = 8;
pub const OTP_GROUP_LEN: usize = 4;
/// Length of the displayed form, dashes included.
pub const OTP_TEXT_LEN: usize = OTP_GROUPS * OTP_GROUP_LEN + OTP_GROUPS - 1;
const _: () = assert!(OTP_GROUPS * OTP_GROUP_LEN * 5 == OTP_BYTES * 8);
/// Longest input [`Otp::parse`] looks at (generous room for spaces a person types).
const MAX_OTP_INPUT_LEN: usize = 128;
/// Default OTP lifetime: 24 h.
pub const DEFAULT_OTP_TTL_SECS: u64 = 24 * 60 * 60;
/// Longest configurable OTP lifetime: 30 days.
pub const MAX_OTP_TTL_SECS: u64 = 30 * 24 * 60 * 60;
/// Pending admins at once (sealed state).
pub const MAX_PENDING_ADMINS: usize = 64;
/// OTP records at once: one per admin after a re-key plus the pending admins.
pub const MAX_OTP_RECORDS: usize = MAX_ADMINS + MAX_PENDING_ADMINS;
/// id ‖ SK generation ‖ expires at ‖ flags ‖ nonce ‖ wrapped SK.
pub const OTP_RECORD_LEN: usize = KEY_LEN + 8 + 8 + 1 + XNONCE_LEN + WRAPPED_LEN;
const _: () = assert!(OTP_RECORD_LEN == 121);
const SET_HEADER_LEN: usize = 1 + 16 + 2;
/// Largest encoded OTP set.
pub const MAX_OTP_SET_LEN: usize = SET_HEADER_LEN + MAX_OTP_RECORDS * OTP_RECORD_LEN;
const SET_VERSION: u8 = 1;
const FLAG_USED: u8 = 0x01;

const ID_INFO: &[u8] = b"sealboost otp id v1";
const WRAP_INFO: &[u8] = b"sealboost otp wrap v1";
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const R: Record = Record::OtpSet;

/// The keyed id of an OTP: HKDF-SHA256(ikm = OTP, salt = channel id, "sealboost otp id v1").
pub type OtpId = [u8; KEY_LEN];

/// A one-time passphrase: 160 random bits. Zeroized on drop, redacted `Debug`, no `Clone`.
pub struct Otp(Zeroizing<[u8; OTP_BYTES]>);

impl std::fmt::Debug for Otp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Otp(<redacted>)")
    }
}

impl Otp {
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Otp {
        let mut otp = Otp(Zeroizing::new([0; OTP_BYTES]));
        rng.fill_bytes(&mut otp.0[..]);
        otp
    }

    /// `XXXX-XXXX-…` (8 groups of 4, RFC 4648 base32 alphabet A–Z 2–7). Never log it.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(OTP_TEXT_LEN));
        let mut acc: u64 = 0;
        let mut bits = 0u32;
        let mut chars = 0usize;
        for &b in self.0.iter() {
            acc = (acc << 8) | u64::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                if chars > 0 && chars.is_multiple_of(OTP_GROUP_LEN) {
                    s.push('-');
                }
                s.push(char::from(
                    BASE32[usize::from(u8::try_from((acc >> bits) & 31).unwrap_or(0))],
                ));
                chars += 1;
            }
        }
        acc.zeroize();
        s
    }

    /// Parses what a person typed: case-insensitive, dashes and spaces ignored, and the
    /// look-alikes `0`→`O`, `1`→`I`, `8`→`B` accepted. Exactly 32 base32 characters.
    pub fn parse(text: &str) -> Result<Otp, VaultError> {
        if text.len() > MAX_OTP_INPUT_LEN {
            return Err(VaultError::InvalidOtp);
        }
        let mut out = Otp(Zeroizing::new([0; OTP_BYTES]));
        let mut acc: u64 = 0;
        let mut bits = 0u32;
        let mut chars = 0usize;
        let mut at = 0usize;
        for c in text.bytes() {
            let v = match c.to_ascii_uppercase() {
                b'-' | b' ' => continue,
                c @ b'A'..=b'Z' => c - b'A',
                c @ b'2'..=b'7' => c - b'2' + 26,
                b'0' => b'O' - b'A',
                b'1' => b'I' - b'A',
                b'8' => b'B' - b'A',
                _ => return Err(VaultError::InvalidOtp),
            };
            chars += 1;
            if chars > OTP_GROUPS * OTP_GROUP_LEN {
                return Err(VaultError::InvalidOtp);
            }
            acc = (acc << 5) | u64::from(v);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.0[at] = u8::try_from((acc >> bits) & 0xff).unwrap_or(0);
                at += 1;
            }
        }
        acc.zeroize();
        if chars != OTP_GROUPS * OTP_GROUP_LEN {
            return Err(VaultError::InvalidOtp);
        }
        Ok(out)
    }

    /// The keyed id stored in the OTP set and in the pending admin record.
    pub fn id(&self, channel_id: &ChannelId) -> OtpId {
        *hkdf32(&self.0[..], channel_id.as_bytes(), ID_INFO)
    }

    fn wrap_key(&self, channel_id: &ChannelId) -> Zeroizing<[u8; KEY_LEN]> {
        hkdf32(&self.0[..], channel_id.as_bytes(), WRAP_INFO)
    }
}

/// AD = "sealboost otp wrap v1" ‖ channel id ‖ id ‖ SK generation ‖ expires at.
fn wrap_ad(channel_id: &ChannelId, id: &OtpId, generation: u64, expires_at: u64) -> Vec<u8> {
    let mut ad = Vec::with_capacity(WRAP_INFO.len() + 16 + KEY_LEN + 16);
    ad.extend_from_slice(WRAP_INFO);
    ad.extend_from_slice(channel_id.as_bytes());
    ad.extend_from_slice(id);
    ad.extend_from_slice(&generation.to_be_bytes());
    ad.extend_from_slice(&expires_at.to_be_bytes());
    ad
}

/// One pending OTP: public data for the host (a keyed id, an expiry, ciphertext).
#[derive(Clone, PartialEq, Eq)]
pub struct OtpRecord {
    id: OtpId,
    sk_generation: u64,
    expires_at: u64,
    used: bool,
    nonce: [u8; XNONCE_LEN],
    wrapped: [u8; WRAPPED_LEN],
}

impl std::fmt::Debug for OtpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtpRecord")
            .field("sk_generation", &self.sk_generation)
            .field("expires_at", &self.expires_at)
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl OtpRecord {
    pub fn id(&self) -> &OtpId {
        &self.id
    }
    pub fn sk_generation(&self) -> u64 {
        self.sk_generation
    }
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    pub fn is_used(&self) -> bool {
        self.used
    }
    fn expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

/// The OTP record set `ch/<id>/otp` (VAULT.md §12): sorted by id, at most
/// [`MAX_OTP_RECORDS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpSet {
    channel_id: ChannelId,
    records: Vec<OtpRecord>,
}

impl OtpSet {
    pub fn new(channel_id: ChannelId) -> OtpSet {
        OtpSet {
            channel_id,
            records: Vec::new(),
        }
    }
    pub fn channel_id(&self) -> &ChannelId {
        &self.channel_id
    }
    pub fn records(&self) -> &[OtpRecord] {
        &self.records
    }
    pub fn len(&self) -> usize {
        self.records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Creates an OTP that unwraps `sk` (generation `generation`) until `now + ttl_secs`
    /// (1..=[`MAX_OTP_TTL_SECS`]). Expired records are purged first.
    pub fn issue<R: RngCore + CryptoRng>(
        &mut self,
        sk: &Sk,
        generation: u64,
        now: u64,
        ttl_secs: u64,
        rng: &mut R,
    ) -> Result<Otp, VaultError> {
        if !(1..=MAX_OTP_TTL_SECS).contains(&ttl_secs) {
            return Err(VaultError::InvalidSetting {
                what: "OTP lifetime",
            });
        }
        self.purge_expired(now);
        if self.records.len() >= MAX_OTP_RECORDS {
            return Err(VaultError::LimitReached {
                what: "one-time passphrases",
                max: MAX_OTP_RECORDS,
            });
        }
        let otp = Otp::generate(rng);
        let id = otp.id(&self.channel_id);
        let expires_at = now.saturating_add(ttl_secs);
        let (nonce, wrapped) = wrap32(
            &otp.wrap_key(&self.channel_id),
            &wrap_ad(&self.channel_id, &id, generation, expires_at),
            sk.expose(),
            rng,
        );
        let record = OtpRecord {
            id,
            sk_generation: generation,
            expires_at,
            used: false,
            nonce,
            wrapped,
        };
        match self.records.binary_search_by(|r| r.id.cmp(&id)) {
            // 2^-256: a collision means a broken RNG; refuse rather than overwrite.
            Ok(_) => {
                return Err(VaultError::Refused {
                    what: "one-time passphrase id collision",
                })
            }
            Err(at) => self.records.insert(at, record),
        }
        Ok(otp)
    }

    /// Redeems an OTP once (VAULT.md §12): returns SK and its generation, and marks the
    /// record used (its ciphertext erased). Only wrong OTPs are fed to `limiter` (a limiter
    /// for OTPs only, keyed by channel): a right one always redeems, and a wrong one while
    /// the channel is throttled is `RateLimited`. Errors: `RateLimited`, `OtpUnknown`, `OtpUsed`,
    /// `OtpExpired`, `Corrupt`. The caller writes the set back before sending SK, and calls
    /// [`OtpSet::remove`] after the client acknowledges.
    pub fn redeem(
        &mut self,
        otp: &Otp,
        now: u64,
        limiter: &mut UnlockLimiter,
    ) -> Result<(u64, Sk), VaultError> {
        let id = otp.id(&self.channel_id);
        let Ok(i) = self.records.binary_search_by(|r| r.id.cmp(&id)) else {
            // Only failures are throttled (VAULT.md §12): a right OTP always redeems.
            return Err(limiter.fail(&self.channel_id, now, VaultError::OtpUnknown));
        };
        let rec = &mut self.records[i];
        if rec.used {
            return Err(VaultError::OtpUsed);
        }
        if rec.expired(now) {
            return Err(VaultError::OtpExpired);
        }
        let ad = wrap_ad(&self.channel_id, &rec.id, rec.sk_generation, rec.expires_at);
        let sk = unwrap32(
            &otp.wrap_key(&self.channel_id),
            &ad,
            &rec.nonce,
            &rec.wrapped,
        )
        .ok_or(VaultError::Corrupt { record: R })?;
        rec.used = true;
        rec.nonce = [0; XNONCE_LEN];
        rec.wrapped = [0; WRAPPED_LEN];
        Ok((rec.sk_generation, Sk::from_zeroizing(sk)))
    }

    /// Deletes a record (after the client acknowledged SK, or when an admin cancels).
    pub fn remove(&mut self, id: &OtpId) -> bool {
        match self.records.binary_search_by(|r| r.id.cmp(id)) {
            Ok(i) => {
                self.records.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Deletes every record whose lifetime has ended. Returns how many.
    pub fn purge_expired(&mut self, now: u64) -> usize {
        let before = self.records.len();
        self.records.retain(|r| !r.expired(now));
        before - self.records.len()
    }

    /// Deletes every record (a re-key makes the wrapped SKs worthless, VAULT.md §13).
    pub(crate) fn clear(&mut self) {
        self.records.clear();
    }

    /// VAULT.md §12 layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SET_HEADER_LEN + self.records.len() * OTP_RECORD_LEN);
        out.push(SET_VERSION);
        out.extend_from_slice(self.channel_id.as_bytes());
        let n = u16::try_from(self.records.len()).expect("bounded by MAX_OTP_RECORDS");
        out.extend_from_slice(&n.to_be_bytes());
        for r in &self.records {
            out.extend_from_slice(&r.id);
            out.extend_from_slice(&r.sk_generation.to_be_bytes());
            out.extend_from_slice(&r.expires_at.to_be_bytes());
            out.push(if r.used { FLAG_USED } else { 0 });
            out.extend_from_slice(&r.nonce);
            out.extend_from_slice(&r.wrapped);
        }
        out
    }

    /// Strict, canonical parse (VAULT.md §12). Records authenticate at [`OtpSet::redeem`].
    pub fn decode(bytes: &[u8]) -> Result<OtpSet, VaultError> {
        let mut r = Reader {
            buf: bytes,
            record: R,
        };
        r.version(SET_VERSION)?;
        check_max("one-time passphrase set", bytes.len(), MAX_OTP_SET_LEN)?;
        let channel_id = ChannelId::from_bytes(r.array("channel id")?);
        let n = usize::from(r.u16("count")?);
        check_max("one-time passphrases", n, MAX_OTP_RECORDS)?;
        if r.buf.len() < n * OTP_RECORD_LEN {
            return Err(VaultError::Truncated {
                record: R,
                what: "records",
            });
        }
        let mut records: Vec<OtpRecord> = Vec::with_capacity(n);
        for _ in 0..n {
            let id: OtpId = r.array("id")?;
            let sk_generation = r.u64("generation")?;
            let expires_at = r.u64("expires at")?;
            let flags = r.u8("flags")?;
            let nonce = r.array("nonce")?;
            let wrapped = r.array("wrapped key")?;
            if sk_generation == 0 {
                return Err(r.malformed("generation 0"));
            }
            if records.last().is_some_and(|p| p.id >= id) {
                return Err(r.malformed("records not strictly ascending"));
            }
            let used = match flags {
                0 => false,
                FLAG_USED => true,
                _ => return Err(r.malformed("unknown flag bits")),
            };
            if used && (nonce != [0; XNONCE_LEN] || wrapped != [0; WRAPPED_LEN]) {
                return Err(r.malformed("used record keeps key material"));
            }
            records.push(OtpRecord {
                id,
                sk_generation,
                expires_at,
                used,
                nonce,
                wrapped,
            });
        }
        r.finish()?;
        Ok(OtpSet {
            channel_id,
            records,
        })
    }
}

/// An admin being added: sealed in the channel state until their OTP is redeemed or expires.
#[derive(Debug, PartialEq, Eq)]
pub struct PendingAdmin {
    pub(crate) phone: Phone,
    pub(crate) otp_id: OtpId,
    pub(crate) expires_at: u64,
}

impl PendingAdmin {
    pub fn phone(&self) -> &Phone {
        &self.phone
    }
    pub fn otp_id(&self) -> &OtpId {
        &self.otp_id
    }
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
}

impl Zeroize for PendingAdmin {
    fn zeroize(&mut self) {
        self.phone.zeroize();
        self.otp_id.zeroize();
        self.expires_at.zeroize();
    }
}

impl ChannelState {
    /// Admins invited but not yet onboarded, sorted by phone.
    pub fn pending_admins(&self) -> &[PendingAdmin] {
        &self.pending_admins
    }

    /// Drops pending admins whose OTP expired. Returns how many.
    pub fn expire_pending_admins(&mut self, now: u64) -> usize {
        let before = self.pending_admins.len();
        self.pending_admins.retain(|p| now < p.expires_at);
        before - self.pending_admins.len()
    }

    /// The current SK's generation (1 at creation, +1 per rotation or re-key).
    pub fn sk_generation(&self) -> u64 {
        self.sk_generation
    }
}

/// Starts adding an admin (VAULT.md §12): records `phone` as pending in `state` and issues
/// an OTP for the current `sk` into `otps`. The integrator sends the returned OTP to `phone`
/// over Signal from the channel number, then re-seals the state and writes the set. Inviting
/// a number that is already pending replaces its OTP.
#[allow(clippy::too_many_arguments)]
pub fn invite_admin<R: RngCore + CryptoRng>(
    channel_id: &ChannelId,
    state: &mut ChannelState,
    otps: &mut OtpSet,
    sk: &Sk,
    phone: Phone,
    now: u64,
    ttl_secs: u64,
    rng: &mut R,
) -> Result<Otp, VaultError> {
    if otps.channel_id() != channel_id {
        return Err(VaultError::Refused {
            what: "records of another channel",
        });
    }
    if state.member(&phone).is_some_and(|m| m.is_admin()) {
        return Err(VaultError::AlreadyMember);
    }
    record_pending_admin(channel_id, state, otps, sk, phone, now, ttl_secs, rng)
}

/// Records `phone` as a pending admin with a fresh OTP for the current SK (VAULT.md §12):
/// expired records go first, and an earlier record for the same number is replaced (its OTP
/// dropped). Shared by invitations and re-enrolments (VAULT.md §20); the callers check who
/// `phone` may be.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_pending_admin<R: RngCore + CryptoRng>(
    channel_id: &ChannelId,
    state: &mut ChannelState,
    otps: &mut OtpSet,
    sk: &Sk,
    phone: Phone,
    now: u64,
    ttl_secs: u64,
    rng: &mut R,
) -> Result<Otp, VaultError> {
    state.expire_pending_admins(now);
    let at = match state
        .pending_admins
        .binary_search_by(|p| p.phone.cmp(&phone))
    {
        Ok(i) => {
            let old = state.pending_admins.remove(i);
            otps.remove(&old.otp_id);
            i
        }
        Err(at) => {
            if state.pending_admins.len() >= MAX_PENDING_ADMINS {
                return Err(VaultError::LimitReached {
                    what: "pending admins",
                    max: MAX_PENDING_ADMINS,
                });
            }
            at
        }
    };
    let otp = otps.issue(sk, state.sk_generation, now, ttl_secs, rng)?;
    state.pending_admins.insert(
        at,
        PendingAdmin {
            phone,
            otp_id: otp.id(channel_id),
            expires_at: now.saturating_add(ttl_secs),
        },
    );
    Ok(otp)
}

/// Finishes adding an admin once their OTP was redeemed (the enclave then holds SK and has
/// unlocked the state): the pending admin becomes `ADMIN n` (a subscriber is promoted; an
/// admin already keeps their n).
/// Returns n. `OtpUnknown` if no pending admin has this OTP, `OtpExpired` if it lapsed.
pub fn complete_admin(
    channel_id: &ChannelId,
    state: &mut ChannelState,
    otp: &Otp,
    now: u64,
) -> Result<u16, VaultError> {
    let id = otp.id(channel_id);
    let i = state
        .pending_admins
        .iter()
        .position(|p| p.otp_id == id)
        .ok_or(VaultError::OtpUnknown)?;
    if now >= state.pending_admins[i].expires_at {
        state.pending_admins.remove(i);
        return Err(VaultError::OtpExpired);
    }
    let pending = state.pending_admins.remove(i);
    let phone = pending.phone.duplicate();
    if let Some(n) = state.member(&phone).and_then(|m| m.admin_index()) {
        // Made admin meanwhile (an ADD command): nothing left to do.
        return Ok(n);
    }
    if state.member(&phone).is_some() {
        state.promote_to_admin(&phone)
    } else {
        let n = state.add_member(phone, Role::Admin, Language::default())?;
        n.ok_or(VaultError::Refused {
            what: "admin without an index",
        })
    }
}
