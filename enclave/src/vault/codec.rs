//! The flat binary codec of [`ChannelState`] (VAULT.md §5): a fixed header, then counted
//! sections of fixed-width records, then two length-prefixed opaque slots. Big-endian
//! integers, no per-record heap allocation, every count bounded before anything is
//! allocated, trailing bytes rejected, no panic on any input.

use zeroize::Zeroizing;

use super::admin_keys::{valid_key, AdminKey, ADMIN_KEY_LEN};
use super::keys::arr;
use super::lifecycle::{
    PendingAdmin, Proposal, ProposalKind, MAX_PENDING_ADMINS, MAX_PROPOSALS, MAX_VOTES_PER_PROPOSAL,
};
use super::model::{
    ChannelState, HotlineRecord, Invite, Language, Member, Phone, Role, Settings, VouchMode,
    MAX_ADMINS, MAX_BANS, MAX_DEAUTHORIZED, MAX_HOTLINE_RECORDS, MAX_INVITES, MAX_MEMBERS,
    MAX_PROTOCOL_STORE_LEN, MAX_SIGNAL_ACCOUNT_LEN, MAX_VOUCH_LEVEL,
};
use super::{Record, VaultError};

/// Version byte of the state plaintext (independent of the blob envelope's). Version 2
/// added the key-lifecycle fields, version 3 the admin keys (VAULT.md §5, §20); older
/// versions are no longer read.
pub const MODEL_VERSION: u8 = 3;
/// Fixed header: version, flags, vouch mode, vouch level, timer, subscriber limit,
/// next admin index, next hotline id, ban key, approval threshold, next proposal id,
/// SK generation.
pub const MODEL_HEADER_LEN: usize = 1 + 1 + 1 + 1 + 4 + 4 + 2 + 4 + 32 + 2 + 4 + 8;
const _: () = assert!(MODEL_HEADER_LEN == 64);
/// A pending admin: phone ‖ OTP id ‖ expires at (VAULT.md §12).
pub const PENDING_ADMIN_LEN: usize = 8 + 32 + 8;
/// A proposal's fixed part; then its vote indices, 2 bytes each (VAULT.md §14).
pub const PROPOSAL_FIXED_LEN: usize = 4 + 1 + 8 + 2 + 2 + 8 + 8 + 2 + 2;
const _: () = assert!(PROPOSAL_FIXED_LEN == 37);
const VOTE_LEN: usize = 2;
/// Sections after the header, each starting with a u32 count.
const SECTIONS: usize = 10;
/// An admin key: admin index u16 ‖ Ed25519 verifying key (VAULT.md §20).
pub const ADMIN_KEY_REC_LEN: usize = 2 + ADMIN_KEY_LEN;
pub const MEMBER_LEN: usize = 8 + 1 + 1 + 2;
pub const HOTLINE_LEN: usize = 4 + 8 + 8;
pub const INVITE_LEN: usize = 8 + 8 + 8;
pub const BAN_LEN: usize = 32;
pub const DEAUTH_LEN: usize = 8;
const COUNT_LEN: usize = 4;

const FLAG_HOTLINE_ON: u8 = 0x01;

const R: Record = Record::Model;

fn malformed(what: &'static str) -> VaultError {
    VaultError::Malformed { record: R, what }
}

impl ChannelState {
    /// Exact length of [`ChannelState::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        MODEL_HEADER_LEN
            + SECTIONS * COUNT_LEN
            + self.members.len() * MEMBER_LEN
            + self.hotline.len() * HOTLINE_LEN
            + self.invites.len() * INVITE_LEN
            + self.bans.len() * BAN_LEN
            + self.deauthorized.len() * DEAUTH_LEN
            + self.pending_admins.len() * PENDING_ADMIN_LEN
            + self
                .proposals
                .iter()
                .map(|p| PROPOSAL_FIXED_LEN + VOTE_LEN * (p.approvals.len() + p.rejections.len()))
                .sum::<usize>()
            + self.admin_keys.len() * ADMIN_KEY_REC_LEN
            + self.signal_account.len()
            + self.protocol_store.len()
    }

    /// The plaintext, in memory that is wiped on drop.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![0u8; self.encoded_len()]);
        self.encode_into(&mut out);
        out
    }

    /// Writes exactly `encoded_len()` bytes to the start of `out`, which must be that long
    /// (the sealer writes straight into the blob buffer, so plaintext is never copied).
    pub(crate) fn encode_into(&self, out: &mut [u8]) {
        let mut w = Writer { buf: out, at: 0 };
        let s = &self.settings;
        w.put(&[MODEL_VERSION]);
        w.put(&[if s.hotline_on { FLAG_HOTLINE_ON } else { 0 }]);
        w.put(&[s.vouch_mode as u8, s.vouch_level]);
        w.put(&s.disappearing_timer_secs.to_be_bytes());
        w.put(&s.subscriber_limit.to_be_bytes());
        w.put(&self.next_admin_index.to_be_bytes());
        w.put(&self.next_hotline_id.to_be_bytes());
        w.put(&self.ban_key[..]);
        w.put(&self.approval_threshold.to_be_bytes());
        w.put(&self.next_proposal_id.to_be_bytes());
        w.put(&self.sk_generation.to_be_bytes());

        w.count(self.members.len());
        for m in &self.members {
            let mut rec = [0u8; MEMBER_LEN];
            rec[..8].copy_from_slice(&m.phone.as_u64().to_be_bytes());
            rec[8] = m.role as u8;
            rec[9] = m.language as u8;
            rec[10..].copy_from_slice(&m.admin_index.to_be_bytes());
            w.put(&rec);
        }
        w.count(self.hotline.len());
        for h in &self.hotline {
            w.put(&h.id.to_be_bytes());
            w.put(&h.sender.as_u64().to_be_bytes());
            w.put(&h.created_at.to_be_bytes());
        }
        w.count(self.invites.len());
        for i in &self.invites {
            w.put(&i.invitee.as_u64().to_be_bytes());
            w.put(&i.inviter.as_u64().to_be_bytes());
            w.put(&i.created_at.to_be_bytes());
        }
        w.count(self.bans.len());
        for b in &self.bans {
            w.put(b);
        }
        w.count(self.deauthorized.len());
        for p in &self.deauthorized {
            w.put(&p.as_u64().to_be_bytes());
        }
        w.count(self.pending_admins.len());
        for p in &self.pending_admins {
            w.put(&p.phone.as_u64().to_be_bytes());
            w.put(&p.otp_id);
            w.put(&p.expires_at.to_be_bytes());
        }
        w.count(self.proposals.len());
        for p in &self.proposals {
            encode_proposal(&mut w, p);
        }
        w.count(self.admin_keys.len());
        for k in &self.admin_keys {
            w.put(&k.admin_index.to_be_bytes());
            w.put(&k.key);
        }
        w.count(self.signal_account.len());
        w.put(&self.signal_account);
        w.count(self.protocol_store.len());
        w.put(&self.protocol_store);
        debug_assert_eq!(w.at, out.len());
    }

    /// Parses and validates a plaintext produced by [`ChannelState::encode`].
    pub fn decode(bytes: &[u8]) -> Result<ChannelState, VaultError> {
        let mut r = Reader { buf: bytes };
        let version = r.u8("version")?;
        if version != MODEL_VERSION {
            return Err(VaultError::UnsupportedVersion { record: R, version });
        }
        let flags = r.u8("flags")?;
        if flags & !FLAG_HOTLINE_ON != 0 {
            return Err(malformed("unknown flag bits"));
        }
        let vouch_mode =
            VouchMode::from_u8(r.u8("vouch mode")?).ok_or_else(|| malformed("vouch mode"))?;
        let vouch_level = r.u8("vouch level")?;
        if !(1..=MAX_VOUCH_LEVEL).contains(&vouch_level) {
            return Err(malformed("vouch level"));
        }
        let disappearing_timer_secs = r.u32("timer")?;
        let subscriber_limit = r.u32("subscriber limit")?;
        if usize::try_from(subscriber_limit).map_or(true, |l| l > MAX_MEMBERS) {
            return Err(malformed("subscriber limit"));
        }
        let next_admin_index = r.u16("next admin index")?;
        let next_hotline_id = r.u32("next hotline id")?;
        if next_admin_index == 0 || next_hotline_id == 0 {
            return Err(malformed("zero counter"));
        }
        let mut ban_key = Zeroizing::new([0u8; 32]);
        ban_key.copy_from_slice(r.take(32, "ban key")?);
        let approval_threshold = r.u16("approval threshold")?;
        if approval_threshold == 0 || usize::from(approval_threshold) > MAX_ADMINS {
            return Err(malformed("approval threshold"));
        }
        let next_proposal_id = r.u32("next proposal id")?;
        let sk_generation = r.u64("sk generation")?;
        if next_proposal_id == 0 || sk_generation == 0 {
            return Err(malformed("zero counter"));
        }

        let (members, subscriber_count) = decode_members(&mut r, next_admin_index)?;
        let hotline = decode_hotline(&mut r, next_hotline_id)?;
        let invites = decode_invites(&mut r)?;

        let raw = r.section(MAX_BANS, BAN_LEN, "bans")?;
        let mut bans: Vec<[u8; 32]> = Vec::with_capacity(raw.len() / BAN_LEN);
        for c in raw.chunks_exact(BAN_LEN) {
            let b: [u8; 32] = arr(c);
            if bans.last().is_some_and(|prev| *prev >= b) {
                return Err(malformed("bans not strictly ascending"));
            }
            bans.push(b);
        }

        let raw = r.section(MAX_DEAUTHORIZED, DEAUTH_LEN, "deauthorized admins")?;
        let mut deauthorized: Vec<Phone> = Vec::with_capacity(raw.len() / DEAUTH_LEN);
        for c in raw.chunks_exact(DEAUTH_LEN) {
            let p = phone(c)?;
            if deauthorized.last().is_some_and(|prev| *prev >= p) {
                return Err(malformed("deauthorized not strictly ascending"));
            }
            let is_admin = members
                .binary_search_by(|m| m.phone.cmp(&p))
                .is_ok_and(|i| members[i].is_admin());
            if !is_admin {
                return Err(malformed("deauthorized phone is not an admin"));
            }
            deauthorized.push(p);
        }

        let pending_admins = decode_pending(&mut r)?;
        let proposals = decode_proposals(&mut r, next_admin_index, next_proposal_id)?;
        let admin_keys = decode_admin_keys(&mut r, &members)?;

        let signal_account = r.blob(MAX_SIGNAL_ACCOUNT_LEN, "signal account")?;
        let protocol_store = r.blob(MAX_PROTOCOL_STORE_LEN, "protocol store")?;
        if !r.buf.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        Ok(ChannelState {
            settings: Settings {
                hotline_on: flags & FLAG_HOTLINE_ON != 0,
                vouch_mode,
                vouch_level,
                disappearing_timer_secs,
                subscriber_limit,
            },
            ban_key,
            next_admin_index,
            next_hotline_id,
            members,
            subscriber_count,
            hotline,
            invites,
            bans,
            deauthorized,
            signal_account,
            protocol_store,
            approval_threshold,
            next_proposal_id,
            sk_generation,
            pending_admins,
            proposals,
            admin_keys,
        })
    }
}

/// VAULT.md §5 "admin keys": strictly ascending index, each a current admin's, each a
/// usable Ed25519 key, at most one per admin.
fn decode_admin_keys(r: &mut Reader<'_>, members: &[Member]) -> Result<Vec<AdminKey>, VaultError> {
    let raw = r.section(MAX_ADMINS, ADMIN_KEY_REC_LEN, "admin keys")?;
    let mut admins: Vec<u16> = members.iter().filter_map(Member::admin_index).collect();
    admins.sort_unstable();
    let mut out: Vec<AdminKey> = Vec::with_capacity(raw.len() / ADMIN_KEY_REC_LEN);
    for c in raw.chunks_exact(ADMIN_KEY_REC_LEN) {
        let admin_index = u16::from_be_bytes(arr(&c[..2]));
        if out.last().is_some_and(|p| p.admin_index >= admin_index) {
            return Err(malformed("admin keys not strictly ascending"));
        }
        if admins.binary_search(&admin_index).is_err() {
            return Err(malformed("admin key of no current admin"));
        }
        let key: [u8; ADMIN_KEY_LEN] = arr(&c[2..]);
        if !valid_key(&key) {
            return Err(malformed("admin key is not a usable Ed25519 key"));
        }
        out.push(AdminKey { admin_index, key });
    }
    Ok(out)
}

fn encode_proposal(w: &mut Writer<'_>, p: &Proposal) {
    let (kind, phone, index) = match &p.kind {
        ProposalKind::Rotate => (0u8, 0u64, 0u16),
        ProposalKind::AddAdmin(phone) => (1, phone.as_u64(), 0),
        ProposalKind::RemoveAdmin(n) => (2, 0, *n),
    };
    w.put(&p.id.to_be_bytes());
    w.put(&[kind]);
    w.put(&phone.to_be_bytes());
    w.put(&index.to_be_bytes());
    w.put(&p.proposer.to_be_bytes());
    w.put(&p.created_at.to_be_bytes());
    w.put(&p.expires_at.to_be_bytes());
    // Vote lists are bounded by MAX_VOTES_PER_PROPOSAL (< u16::MAX) by every mutator.
    let na = u16::try_from(p.approvals.len()).expect("bounded vote count");
    let nr = u16::try_from(p.rejections.len()).expect("bounded vote count");
    w.put(&na.to_be_bytes());
    w.put(&nr.to_be_bytes());
    for v in p.approvals.iter().chain(&p.rejections) {
        w.put(&v.to_be_bytes());
    }
}

fn decode_pending(r: &mut Reader<'_>) -> Result<Vec<PendingAdmin>, VaultError> {
    let raw = r.section(MAX_PENDING_ADMINS, PENDING_ADMIN_LEN, "pending admins")?;
    let mut out: Vec<PendingAdmin> = Vec::with_capacity(raw.len() / PENDING_ADMIN_LEN);
    for c in raw.chunks_exact(PENDING_ADMIN_LEN) {
        let p = phone(&c[..8])?;
        if out.last().is_some_and(|prev| prev.phone >= p) {
            return Err(malformed("pending admins not strictly ascending"));
        }
        // A pending admin may meanwhile have become an admin another way (an ADD command):
        // `complete_admin` then just clears the record, so this is not an error.
        out.push(PendingAdmin {
            phone: p,
            otp_id: arr(&c[8..40]),
            expires_at: u64::from_be_bytes(arr(&c[40..48])),
        });
    }
    Ok(out)
}

fn decode_proposals(
    r: &mut Reader<'_>,
    next_admin_index: u16,
    next_proposal_id: u32,
) -> Result<Vec<Proposal>, VaultError> {
    let n = usize::try_from(r.u32("proposals")?).unwrap_or(usize::MAX);
    if n > MAX_PROPOSALS {
        return Err(VaultError::TooLarge {
            what: "proposals",
            len: n,
            max: MAX_PROPOSALS,
        });
    }
    let admin_index_ok = |i: u16| i != 0 && i < next_admin_index;
    let mut out: Vec<Proposal> = Vec::with_capacity(n);
    for _ in 0..n {
        let c = r.take(PROPOSAL_FIXED_LEN, "proposal")?;
        let id = u32::from_be_bytes(arr(&c[..4]));
        if id == 0 || id >= next_proposal_id || out.last().is_some_and(|p| p.id >= id) {
            return Err(malformed("proposal id"));
        }
        let raw_phone = u64::from_be_bytes(arr(&c[5..13]));
        let index = u16::from_be_bytes(arr(&c[13..15]));
        let kind = match (c[4], raw_phone, index) {
            (0, 0, 0) => ProposalKind::Rotate,
            (1, p, 0) => ProposalKind::AddAdmin(phone(&p.to_be_bytes())?),
            (2, 0, n) if admin_index_ok(n) => ProposalKind::RemoveAdmin(n),
            _ => return Err(malformed("proposal kind")),
        };
        let proposer = u16::from_be_bytes(arr(&c[15..17]));
        let created_at = u64::from_be_bytes(arr(&c[17..25]));
        let expires_at = u64::from_be_bytes(arr(&c[25..33]));
        if !admin_index_ok(proposer) || expires_at <= created_at {
            return Err(malformed("proposal proposer or lifetime"));
        }
        let na = usize::from(u16::from_be_bytes(arr(&c[33..35])));
        let nr = usize::from(u16::from_be_bytes(arr(&c[35..37])));
        if na + nr > MAX_VOTES_PER_PROPOSAL {
            return Err(VaultError::TooLarge {
                what: "proposal votes",
                len: na + nr,
                max: MAX_VOTES_PER_PROPOSAL,
            });
        }
        let raw = r.take((na + nr) * VOTE_LEN, "proposal votes")?;
        let mut votes = raw
            .chunks_exact(VOTE_LEN)
            .map(|v| u16::from_be_bytes(arr(v)));
        let approvals: Vec<u16> = votes.by_ref().take(na).collect();
        let rejections: Vec<u16> = votes.collect();
        for list in [&approvals, &rejections] {
            if list.iter().any(|&v| !admin_index_ok(v)) || list.windows(2).any(|w| w[0] >= w[1]) {
                return Err(malformed("proposal votes"));
            }
        }
        if approvals
            .iter()
            .any(|a| rejections.binary_search(a).is_ok())
        {
            return Err(malformed("admin both approved and rejected"));
        }
        out.push(Proposal {
            id,
            kind,
            proposer,
            created_at,
            expires_at,
            approvals,
            rejections,
        });
    }
    Ok(out)
}

fn decode_members(
    r: &mut Reader<'_>,
    next_admin_index: u16,
) -> Result<(Vec<Member>, usize), VaultError> {
    let raw = r.section(MAX_MEMBERS, MEMBER_LEN, "members")?;
    let mut members: Vec<Member> = Vec::with_capacity(raw.len() / MEMBER_LEN);
    let mut admin_indices: Vec<u16> = Vec::new();
    let mut prev_phone = 0u64;
    for c in raw.chunks_exact(MEMBER_LEN) {
        let rec: &[u8; MEMBER_LEN] = c.try_into().map_err(|_| malformed("member"))?;
        let raw_phone = u64::from_be_bytes(arr(&rec[..8]));
        // Phones are ≥ PHONE_MIN > 0, so the first comparison against 0 always passes.
        if raw_phone <= prev_phone {
            return Err(malformed("members not strictly ascending"));
        }
        prev_phone = raw_phone;
        let phone = Phone::from_u64(raw_phone).ok_or_else(|| malformed("member phone"))?;
        let role = Role::from_u8(rec[8]).ok_or_else(|| malformed("member role"))?;
        let language = Language::from_u8(rec[9]).ok_or_else(|| malformed("member language"))?;
        let admin_index = u16::from_be_bytes([rec[10], rec[11]]);
        match role {
            Role::Subscriber if admin_index != 0 => {
                return Err(malformed("subscriber with an admin index"))
            }
            Role::Admin if admin_index == 0 || admin_index >= next_admin_index => {
                return Err(malformed("admin index out of range"))
            }
            Role::Admin => {
                if admin_indices.len() >= MAX_ADMINS {
                    return Err(malformed("too many admins"));
                }
                admin_indices.push(admin_index);
            }
            Role::Subscriber => {}
        }
        members.push(Member {
            phone,
            role,
            language,
            admin_index,
        });
    }
    admin_indices.sort_unstable();
    if admin_indices.windows(2).any(|w| w[0] == w[1]) {
        return Err(malformed("duplicate admin index"));
    }
    let subscribers = members.len() - admin_indices.len();
    Ok((members, subscribers))
}

fn decode_hotline(
    r: &mut Reader<'_>,
    next_hotline_id: u32,
) -> Result<Vec<HotlineRecord>, VaultError> {
    let raw = r.section(MAX_HOTLINE_RECORDS, HOTLINE_LEN, "hotline records")?;
    let mut out: Vec<HotlineRecord> = Vec::with_capacity(raw.len() / HOTLINE_LEN);
    for c in raw.chunks_exact(HOTLINE_LEN) {
        let id = u32::from_be_bytes(arr(&c[..4]));
        if id == 0 || id >= next_hotline_id || out.last().is_some_and(|p| p.id >= id) {
            return Err(malformed("hotline id"));
        }
        out.push(HotlineRecord {
            id,
            sender: phone(&c[4..12])?,
            created_at: u64::from_be_bytes(arr(&c[12..20])),
        });
    }
    Ok(out)
}

fn decode_invites(r: &mut Reader<'_>) -> Result<Vec<Invite>, VaultError> {
    let raw = r.section(MAX_INVITES, INVITE_LEN, "invites")?;
    let mut out: Vec<Invite> = Vec::with_capacity(raw.len() / INVITE_LEN);
    for c in raw.chunks_exact(INVITE_LEN) {
        let inv = Invite {
            invitee: phone(&c[..8])?,
            inviter: phone(&c[8..16])?,
            created_at: u64::from_be_bytes(arr(&c[16..24])),
        };
        if out
            .last()
            .is_some_and(|p| (&p.invitee, &p.inviter) >= (&inv.invitee, &inv.inviter))
        {
            return Err(malformed("invites not strictly ascending"));
        }
        out.push(inv);
    }
    Ok(out)
}

fn phone(b: &[u8]) -> Result<Phone, VaultError> {
    let v = u64::from_be_bytes(b.try_into().map_err(|_| malformed("phone"))?);
    Phone::from_u64(v).ok_or_else(|| malformed("phone out of range"))
}

struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
    fn count(&mut self, n: usize) {
        // Every count is bounded by a constant far below u32::MAX (model invariants).
        let n = u32::try_from(n).expect("section counts are bounded below u32::MAX");
        self.put(&n.to_be_bytes());
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], VaultError> {
        if self.buf.len() < n {
            return Err(VaultError::Truncated { record: R, what });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, VaultError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, VaultError> {
        Ok(u16::from_be_bytes(arr(self.take(2, what)?)))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, VaultError> {
        Ok(u32::from_be_bytes(arr(self.take(4, what)?)))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, VaultError> {
        Ok(u64::from_be_bytes(arr(self.take(8, what)?)))
    }
    /// A u32 count, bounded by `max`, of `rec_len`-byte records; returns their bytes.
    /// The bound and the remaining length are checked before anything is allocated.
    fn section(
        &mut self,
        max: usize,
        rec_len: usize,
        what: &'static str,
    ) -> Result<&'a [u8], VaultError> {
        let n = self.u32(what)?;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n > max {
            return Err(VaultError::TooLarge { what, len: n, max });
        }
        self.take(n * rec_len, what)
    }
    /// A u32 length, bounded by `max`, then that many opaque bytes.
    fn blob(&mut self, max: usize, what: &'static str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let bytes = self.section(max, 1, what)?;
        Ok(Zeroizing::new(bytes.to_vec()))
    }
}
