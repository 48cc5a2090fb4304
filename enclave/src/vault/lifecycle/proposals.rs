//! Proposals and voting (VAULT.md §14): a per-channel approval threshold; proposals to
//! rotate SK, add an admin or remove one are sealed in the state, tallied per vote, enacted
//! exactly once at the threshold, and discarded once the threshold is out of reach or the
//! proposal expired.

use zeroize::Zeroize;

use crate::vault::model::{ChannelState, Phone, MAX_ADMINS};
use crate::vault::VaultError;

/// Open proposals at once.
pub const MAX_PROPOSALS: usize = 32;
/// Votes recorded on one proposal (one per admin).
pub const MAX_VOTES_PER_PROPOSAL: usize = MAX_ADMINS;
/// Default proposal lifetime: 7 days.
pub const DEFAULT_PROPOSAL_TTL_SECS: u64 = 7 * 24 * 60 * 60;
/// Longest proposal lifetime: 30 days.
pub const MAX_PROPOSAL_TTL_SECS: u64 = 30 * 24 * 60 * 60;

/// What a proposal would do once enacted.
#[derive(Debug, PartialEq, Eq)]
pub enum ProposalKind {
    /// Rotate SK (VAULT.md §11).
    Rotate,
    /// Add this number as an admin (VAULT.md §12).
    AddAdmin(Phone),
    /// Remove `ADMIN n` with a full re-key (VAULT.md §13).
    RemoveAdmin(u16),
}

impl ProposalKind {
    fn same_as(&self, other: &ProposalKind) -> bool {
        self == other
    }
}

/// An open proposal, sealed in the state.
#[derive(Debug, PartialEq, Eq)]
pub struct Proposal {
    pub(crate) id: u32,
    pub(crate) kind: ProposalKind,
    pub(crate) proposer: u16,
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
    /// Admin indices, strictly ascending; disjoint from `rejections`.
    pub(crate) approvals: Vec<u16>,
    pub(crate) rejections: Vec<u16>,
}

impl Proposal {
    pub fn id(&self) -> u32 {
        self.id
    }
    pub fn kind(&self) -> &ProposalKind {
        &self.kind
    }
    /// `ADMIN n` who proposed it.
    pub fn proposer(&self) -> u16 {
        self.proposer
    }
    pub fn created_at(&self) -> u64 {
        self.created_at
    }
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    pub fn approvals(&self) -> &[u16] {
        &self.approvals
    }
    pub fn rejections(&self) -> &[u16] {
        &self.rejections
    }
}

impl Zeroize for Proposal {
    fn zeroize(&mut self) {
        if let ProposalKind::AddAdmin(p) = &mut self.kind {
            p.zeroize();
        }
        self.approvals.zeroize();
        self.rejections.zeroize();
    }
}

/// Why a proposal was discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscardReason {
    /// Enough admins rejected that the threshold can no longer be reached.
    Rejected,
    /// Its lifetime ended first.
    Expired,
    /// What it would change has changed already: the admin to remove is gone, or the
    /// number to add became an admin.
    Obsolete,
}

/// The result of proposing or voting.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Still open: `approvals` of the `needed` counted so far.
    Pending { approvals: usize, needed: usize },
    /// The threshold was reached: the proposal is gone from the state and the caller enacts
    /// this, exactly once.
    Enact(ProposalKind),
    /// The proposal is gone from the state; the caller notifies the admins.
    Discarded(DiscardReason),
}

impl ChannelState {
    /// Approvals a proposal needs (1 = any admin acts alone, the default).
    pub fn approval_threshold(&self) -> u16 {
        self.approval_threshold
    }

    /// Sets the threshold: 1..=the current admin count.
    pub fn set_approval_threshold(&mut self, threshold: u16) -> Result<(), VaultError> {
        if threshold == 0 || usize::from(threshold) > self.admin_count() {
            return Err(VaultError::InvalidSetting {
                what: "approval threshold",
            });
        }
        self.approval_threshold = threshold;
        Ok(())
    }

    /// Open proposals, by ascending id.
    pub fn proposals(&self) -> &[Proposal] {
        &self.proposals
    }

    /// Indices of the admins who may vote: current admins not deauthorized.
    fn voters(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .admins()
            .filter(|m| !self.is_deauthorized(m.phone()))
            .filter_map(|m| m.admin_index())
            .collect();
        v.sort_unstable();
        v
    }

    /// The threshold in force: the setting, capped at the eligible voters (so removing
    /// admins never deadlocks a channel), at least 1.
    fn needed(&self, voters: usize) -> usize {
        usize::from(self.approval_threshold).min(voters).max(1)
    }

    fn voter_index(&self, phone: &Phone) -> Result<u16, VaultError> {
        let m = self.member(phone).ok_or(VaultError::NotMember)?;
        match m.admin_index() {
            Some(n) if !self.is_deauthorized(phone) => Ok(n),
            _ => Err(VaultError::NotMember),
        }
    }

    /// Proposes `kind` as `proposer` (an admin; their proposal counts as their approval).
    /// With threshold 1 the result is `Enact` at once and nothing is stored. Refused: a
    /// non-admin proposer (`NotMember`), adding an existing admin (`AlreadyMember`), removing
    /// a non-admin (`NotMember`), an identical open proposal or a bad lifetime (`Refused`),
    /// too many open proposals (`LimitReached`).
    pub fn propose(
        &mut self,
        proposer: &Phone,
        kind: ProposalKind,
        now: u64,
        ttl_secs: u64,
    ) -> Result<(u32, Outcome), VaultError> {
        let proposer = self.voter_index(proposer)?;
        if !(1..=MAX_PROPOSAL_TTL_SECS).contains(&ttl_secs) {
            return Err(VaultError::InvalidSetting {
                what: "proposal lifetime",
            });
        }
        match &kind {
            ProposalKind::Rotate => {}
            ProposalKind::AddAdmin(p) => {
                if self.member(p).is_some_and(|m| m.is_admin()) {
                    return Err(VaultError::AlreadyMember);
                }
            }
            ProposalKind::RemoveAdmin(n) => {
                if !self.admins().any(|m| m.admin_index() == Some(*n)) {
                    return Err(VaultError::NotMember);
                }
            }
        }
        self.expire_proposals(now);
        if self.proposals.iter().any(|p| p.kind.same_as(&kind)) {
            return Err(VaultError::Refused {
                what: "an identical proposal is open",
            });
        }
        let id = self.next_proposal_id;
        self.next_proposal_id = id.checked_add(1).ok_or(VaultError::LimitReached {
            what: "proposal ids",
            max: u32::MAX as usize,
        })?;
        let voters = self.voters();
        if self.needed(voters.len()) <= 1 {
            return Ok((id, Outcome::Enact(kind)));
        }
        if self.proposals.len() >= MAX_PROPOSALS {
            return Err(VaultError::LimitReached {
                what: "open proposals",
                max: MAX_PROPOSALS,
            });
        }
        // Ids only grow, so pushing keeps the list sorted.
        self.proposals.push(Proposal {
            id,
            kind,
            proposer,
            created_at: now,
            expires_at: now.saturating_add(ttl_secs),
            approvals: vec![proposer],
            rejections: Vec::new(),
        });
        let outcome = self.tally(self.proposals.len() - 1, now);
        Ok((id, outcome))
    }

    /// Records `voter`'s approval or rejection of proposal `id` and tallies it. Errors:
    /// `UnknownProposal` (never existed, or already enacted/discarded), `NotMember` (not an
    /// eligible admin), `AlreadyVoted`. An expired proposal is discarded (`Discarded(Expired)`)
    /// instead of counting the vote.
    pub fn vote(
        &mut self,
        id: u32,
        voter: &Phone,
        approve: bool,
        now: u64,
    ) -> Result<Outcome, VaultError> {
        let i = self
            .proposals
            .binary_search_by_key(&id, |p| p.id)
            .map_err(|_| VaultError::UnknownProposal { id })?;
        if now >= self.proposals[i].expires_at {
            self.proposals.remove(i);
            return Ok(Outcome::Discarded(DiscardReason::Expired));
        }
        let n = self.voter_index(voter)?;
        let voters = self.voters();
        let p = &mut self.proposals[i];
        // Votes of admins who left no longer count; dropping them keeps every vote list
        // within MAX_VOTES_PER_PROPOSAL (at most one per current admin) however long the
        // proposal lives.
        p.approvals.retain(|v| voters.binary_search(v).is_ok());
        p.rejections.retain(|v| voters.binary_search(v).is_ok());
        if p.approvals.binary_search(&n).is_ok() || p.rejections.binary_search(&n).is_ok() {
            return Err(VaultError::AlreadyVoted { id });
        }
        let list = if approve {
            &mut p.approvals
        } else {
            &mut p.rejections
        };
        if let Err(at) = list.binary_search(&n) {
            list.insert(at, n);
        }
        Ok(self.tally(i, now))
    }

    /// Counts only the votes of current eligible admins; removes the proposal when it is
    /// decided, which is what makes `Enact` happen exactly once.
    fn tally(&mut self, i: usize, now: u64) -> Outcome {
        let voters = self.voters();
        let needed = self.needed(voters.len());
        let p = &self.proposals[i];
        if now >= p.expires_at {
            self.proposals.remove(i);
            return Outcome::Discarded(DiscardReason::Expired);
        }
        let (approvals, undecided) = standing(p, &voters);
        if approvals >= needed {
            let p = self.proposals.remove(i);
            return Outcome::Enact(take_kind(p));
        }
        if approvals + undecided < needed {
            self.proposals.remove(i);
            return Outcome::Discarded(DiscardReason::Rejected);
        }
        Outcome::Pending { approvals, needed }
    }

    /// Discards every proposal that can no longer be enacted: expired ones, ones whose
    /// subject changed already (`Obsolete`), and ones the remaining undecided admins can no
    /// longer carry (`Rejected`: admins left or were removed since). Returns them, to notify
    /// the admins. Run by every unlock that may commit proposals.
    pub fn sweep_proposals(&mut self, now: u64) -> Vec<(u32, DiscardReason)> {
        let voters = self.voters();
        let needed = self.needed(voters.len());
        let mut gone = Vec::new();
        let mut kept = Vec::with_capacity(self.proposals.len());
        for p in std::mem::take(&mut self.proposals) {
            let (approvals, undecided) = standing(&p, &voters);
            let obsolete = match &p.kind {
                ProposalKind::Rotate => false,
                ProposalKind::AddAdmin(phone) => self.member(phone).is_some_and(|m| m.is_admin()),
                ProposalKind::RemoveAdmin(n) => !self.admins().any(|m| m.admin_index() == Some(*n)),
            };
            let reason = if now >= p.expires_at {
                Some(DiscardReason::Expired)
            } else if obsolete {
                Some(DiscardReason::Obsolete)
            } else if approvals + undecided < needed {
                Some(DiscardReason::Rejected)
            } else {
                None
            };
            match reason {
                Some(r) => gone.push((p.id, r)),
                None => kept.push(p),
            }
        }
        self.proposals = kept;
        gone
    }

    /// Discards expired proposals; returns their ids (to notify admins). Run at every unlock.
    pub fn expire_proposals(&mut self, now: u64) -> Vec<u32> {
        let mut gone = Vec::new();
        self.proposals.retain(|p| {
            let keep = now < p.expires_at;
            if !keep {
                gone.push(p.id);
            }
            keep
        });
        gone
    }
}

/// Approvals by current eligible `voters` (sorted) and how many of them have not voted.
fn standing(p: &Proposal, voters: &[u16]) -> (usize, usize) {
    let counts = |list: &[u16]| {
        list.iter()
            .filter(|v| voters.binary_search(v).is_ok())
            .count()
    };
    let approvals = counts(&p.approvals);
    let undecided = voters
        .len()
        .saturating_sub(approvals + counts(&p.rejections));
    (approvals, undecided)
}

fn take_kind(mut p: Proposal) -> ProposalKind {
    std::mem::replace(&mut p.kind, ProposalKind::Rotate)
}
