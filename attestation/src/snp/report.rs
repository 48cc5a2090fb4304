//! The raw SEV-SNP ATTESTATION_REPORT, parsed by fixed offsets.
//!
//! Layout: "SEV Secure Nested Paging Firmware ABI Specification" (AMD pub. 56860, rev
//! 1.57), §7.3, Table 23 "ATTESTATION_REPORT Structure"; signature format: Chapter 10
//! (ECDSA P-384 with SHA-384: R and S little-endian in 72-byte fields).
//! We do not use `sev::AttestationReport::from_bytes`: it rejects some valid v2 reports.

use crate::claims::Generation;
use crate::error::Error;

/// Size of ATTESTATION_REPORT.
pub const REPORT_LEN: usize = 0x4A0;
/// The signature covers bytes `[0, SIGNED_LEN)`.
pub const SIGNED_LEN: usize = 0x2A0;
/// Oldest report format we accept (v2 added CURRENT/REPORTED/COMMITTED TCB fields).
pub const MIN_REPORT_VERSION: u32 = 2;
/// Newest report format whose layout we know.
pub const MAX_REPORT_VERSION: u32 = 5;
/// SIGNATURE_ALGO value of ECDSA P-384 with SHA-384.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Byte offsets of Table 23.
pub(crate) mod offset {
    pub const VERSION: usize = 0x000;
    pub const GUEST_SVN: usize = 0x004;
    pub const POLICY: usize = 0x008;
    pub const FAMILY_ID: usize = 0x010;
    pub const IMAGE_ID: usize = 0x020;
    pub const VMPL: usize = 0x030;
    pub const SIGNATURE_ALGO: usize = 0x034;
    pub const CURRENT_TCB: usize = 0x038;
    pub const PLATFORM_INFO: usize = 0x040;
    pub const FLAGS: usize = 0x048;
    pub const RESERVED0: usize = 0x04C;
    pub const REPORT_DATA: usize = 0x050;
    pub const MEASUREMENT: usize = 0x090;
    pub const HOST_DATA: usize = 0x0C0;
    pub const ID_KEY_DIGEST: usize = 0x0E0;
    pub const AUTHOR_KEY_DIGEST: usize = 0x110;
    pub const REPORT_ID: usize = 0x140;
    pub const REPORT_ID_MA: usize = 0x160;
    pub const REPORTED_TCB: usize = 0x180;
    pub const CPUID_FAM_ID: usize = 0x188;
    pub const CPUID_MOD_ID: usize = 0x189;
    pub const CPUID_STEP: usize = 0x18A;
    pub const RESERVED1: usize = 0x18B;
    pub const CHIP_ID: usize = 0x1A0;
    pub const COMMITTED_TCB: usize = 0x1E0;
    pub const CURRENT_BUILD: usize = 0x1E8;
    pub const CURRENT_MINOR: usize = 0x1E9;
    pub const CURRENT_MAJOR: usize = 0x1EA;
    pub const COMMITTED_BUILD: usize = 0x1EC;
    pub const COMMITTED_MINOR: usize = 0x1ED;
    pub const COMMITTED_MAJOR: usize = 0x1EE;
    pub const LAUNCH_TCB: usize = 0x1F0;
    pub const LAUNCH_MIT_VECTOR: usize = 0x1F8;
    pub const CURRENT_MIT_VECTOR: usize = 0x200;
    pub const RESERVED4: usize = 0x208;
    pub const SIGNATURE: usize = 0x2A0;
    pub const SIG_R: usize = 0x2A0;
    pub const SIG_S: usize = 0x2E8;
    pub const SIG_RESERVED: usize = 0x330;
}

// The layout is contiguous and sums to exactly REPORT_LEN.
const _: () = {
    use offset::*;
    assert!(GUEST_SVN == VERSION + 4);
    assert!(POLICY == GUEST_SVN + 4);
    assert!(FAMILY_ID == POLICY + 8);
    assert!(IMAGE_ID == FAMILY_ID + 16);
    assert!(VMPL == IMAGE_ID + 16);
    assert!(SIGNATURE_ALGO == VMPL + 4);
    assert!(CURRENT_TCB == SIGNATURE_ALGO + 4);
    assert!(PLATFORM_INFO == CURRENT_TCB + 8);
    assert!(FLAGS == PLATFORM_INFO + 8);
    assert!(RESERVED0 == FLAGS + 4);
    assert!(REPORT_DATA == RESERVED0 + 4);
    assert!(MEASUREMENT == REPORT_DATA + 64);
    assert!(HOST_DATA == MEASUREMENT + 48);
    assert!(ID_KEY_DIGEST == HOST_DATA + 32);
    assert!(AUTHOR_KEY_DIGEST == ID_KEY_DIGEST + 48);
    assert!(REPORT_ID == AUTHOR_KEY_DIGEST + 48);
    assert!(REPORT_ID_MA == REPORT_ID + 32);
    assert!(REPORTED_TCB == REPORT_ID_MA + 32);
    assert!(CPUID_FAM_ID == REPORTED_TCB + 8);
    assert!(RESERVED1 == CPUID_STEP + 1);
    assert!(CHIP_ID == RESERVED1 + 21);
    assert!(COMMITTED_TCB == CHIP_ID + 64);
    assert!(CURRENT_BUILD == COMMITTED_TCB + 8);
    assert!(COMMITTED_BUILD == CURRENT_MAJOR + 2);
    assert!(LAUNCH_TCB == COMMITTED_MAJOR + 2);
    assert!(LAUNCH_MIT_VECTOR == LAUNCH_TCB + 8);
    assert!(CURRENT_MIT_VECTOR == LAUNCH_MIT_VECTOR + 8);
    assert!(RESERVED4 == CURRENT_MIT_VECTOR + 8);
    assert!(SIGNATURE == RESERVED4 + 152);
    assert!(SIGNATURE == super::SIGNED_LEN);
    assert!(SIG_S == SIG_R + 72);
    assert!(SIG_RESERVED == SIG_S + 72);
    assert!(SIGNATURE + 512 == super::REPORT_LEN);
};

/// A decoded, **unverified** attestation report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttestationReport {
    pub version: u32,
    pub guest_svn: u32,
    /// GUEST_POLICY (ABI §4.3).
    pub policy: u64,
    pub family_id: [u8; 16],
    pub image_id: [u8; 16],
    pub vmpl: u32,
    pub signature_algo: u32,
    pub current_tcb: [u8; 8],
    pub platform_info: u64,
    /// Bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY.
    pub flags: u32,
    pub report_data: [u8; 64],
    pub measurement: [u8; 48],
    pub host_data: [u8; 32],
    pub id_key_digest: [u8; 48],
    pub author_key_digest: [u8; 48],
    pub report_id: [u8; 32],
    pub report_id_ma: [u8; 32],
    pub reported_tcb: [u8; 8],
    /// Version 3+; zero in version 2.
    pub cpuid_fam_id: u8,
    pub cpuid_mod_id: u8,
    pub cpuid_step: u8,
    pub chip_id: [u8; 64],
    pub committed_tcb: [u8; 8],
    pub current_version: (u8, u8, u8),
    pub committed_version: (u8, u8, u8),
    pub launch_tcb: [u8; 8],
    /// Version 5+.
    pub launch_mit_vector: u64,
    /// Version 5+.
    pub current_mit_vector: u64,
    /// Little-endian R, 72 bytes (only the low 48 are used for P-384).
    pub signature_r: [u8; 72],
    /// Little-endian S.
    pub signature_s: [u8; 72],
    raw: Vec<u8>,
}

fn arr<const N: usize>(raw: &[u8; REPORT_LEN], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = raw.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

fn u32_at(raw: &[u8; REPORT_LEN], at: usize) -> u32 {
    u32::from_le_bytes(arr(raw, at))
}

fn u64_at(raw: &[u8; REPORT_LEN], at: usize) -> u64 {
    u64::from_le_bytes(arr(raw, at))
}

fn u8_at(raw: &[u8; REPORT_LEN], at: usize) -> u8 {
    raw.get(at).copied().unwrap_or(0)
}

/// GUEST_POLICY bit 19: DEBUG (ABI §4.3).
pub const POLICY_DEBUG_BIT: u64 = 1 << 19;

impl AttestationReport {
    /// Parses exactly [`REPORT_LEN`] bytes. Checks nothing else.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let raw: &[u8; REPORT_LEN] = bytes
            .try_into()
            .map_err(|_| Error::ReportSizeMismatch { len: bytes.len() })?;
        use offset::*;
        Ok(Self {
            version: u32_at(raw, VERSION),
            guest_svn: u32_at(raw, GUEST_SVN),
            policy: u64_at(raw, POLICY),
            family_id: arr(raw, FAMILY_ID),
            image_id: arr(raw, IMAGE_ID),
            vmpl: u32_at(raw, VMPL),
            signature_algo: u32_at(raw, SIGNATURE_ALGO),
            current_tcb: arr(raw, CURRENT_TCB),
            platform_info: u64_at(raw, PLATFORM_INFO),
            flags: u32_at(raw, FLAGS),
            report_data: arr(raw, REPORT_DATA),
            measurement: arr(raw, MEASUREMENT),
            host_data: arr(raw, HOST_DATA),
            id_key_digest: arr(raw, ID_KEY_DIGEST),
            author_key_digest: arr(raw, AUTHOR_KEY_DIGEST),
            report_id: arr(raw, REPORT_ID),
            report_id_ma: arr(raw, REPORT_ID_MA),
            reported_tcb: arr(raw, REPORTED_TCB),
            cpuid_fam_id: u8_at(raw, CPUID_FAM_ID),
            cpuid_mod_id: u8_at(raw, CPUID_MOD_ID),
            cpuid_step: u8_at(raw, CPUID_STEP),
            chip_id: arr(raw, CHIP_ID),
            committed_tcb: arr(raw, COMMITTED_TCB),
            current_version: (
                u8_at(raw, CURRENT_MAJOR),
                u8_at(raw, CURRENT_MINOR),
                u8_at(raw, CURRENT_BUILD),
            ),
            committed_version: (
                u8_at(raw, COMMITTED_MAJOR),
                u8_at(raw, COMMITTED_MINOR),
                u8_at(raw, COMMITTED_BUILD),
            ),
            launch_tcb: arr(raw, LAUNCH_TCB),
            launch_mit_vector: u64_at(raw, LAUNCH_MIT_VECTOR),
            current_mit_vector: u64_at(raw, CURRENT_MIT_VECTOR),
            signature_r: arr(raw, SIG_R),
            signature_s: arr(raw, SIG_S),
            raw: raw.to_vec(),
        })
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        self.raw.get(..SIGNED_LEN).unwrap_or_default()
    }

    /// The reserved tail of the 512-byte signature field (must be zero).
    pub(crate) fn signature_reserved(&self) -> &[u8] {
        self.raw.get(offset::SIG_RESERVED..).unwrap_or_default()
    }

    /// GUEST_POLICY DEBUG bit.
    pub fn debug_allowed(&self) -> bool {
        self.policy & POLICY_DEBUG_BIT != 0
    }

    /// FLAGS bits 4:2: 0 = VCEK, 1 = VLEK, 7 = none.
    pub fn signing_key_field(&self) -> u8 {
        // Masked to 3 bits, so the cast cannot truncate.
        u8::try_from((self.flags >> 2) & 0b111).unwrap_or(u8::MAX)
    }

    /// FLAGS bit 1: CHIP_ID is masked (all zero).
    pub fn mask_chip_key(&self) -> bool {
        self.flags & 0b10 != 0
    }

    /// Generation from CPUID_FAM_ID / CPUID_MOD_ID (version 3+), `None` when the fields
    /// are zero (version 2) and `Some(None)` when they name an unknown processor.
    pub fn cpuid_generation(&self) -> Option<Option<Generation>> {
        let (family, model) = (self.cpuid_fam_id, self.cpuid_mod_id);
        if family == 0 && model == 0 {
            return None;
        }
        Some(match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Generation::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Generation::Genoa),
            (0x1A, 0x00..=0x1F) => Some(Generation::Turin),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_sizes_are_rejected() {
        for len in [0, 1, REPORT_LEN - 1, REPORT_LEN + 1, 4096] {
            let err = AttestationReport::parse(&vec![0; len]).unwrap_err();
            assert!(matches!(err, Error::ReportSizeMismatch { len: l } if l == len));
        }
    }

    #[test]
    fn fields_land_at_their_offsets() {
        let mut raw = vec![0u8; REPORT_LEN];
        raw[offset::VERSION] = 3;
        raw[offset::VMPL] = 1;
        raw[offset::POLICY + 2] = 0x08; // bit 19
        raw[offset::FLAGS] = 0b0000_0110; // MASK_CHIP_KEY, SIGNING_KEY = 1
        raw[offset::MEASUREMENT] = 0xAA;
        raw[offset::MEASUREMENT + 47] = 0xBB;
        raw[offset::CHIP_ID + 63] = 0xCC;
        raw[offset::SIG_S + 71] = 0xDD;
        raw[offset::CPUID_FAM_ID] = 0x1A;
        let r = AttestationReport::parse(&raw).unwrap();
        assert_eq!(r.version, 3);
        assert_eq!(r.vmpl, 1);
        assert!(r.debug_allowed());
        assert!(r.mask_chip_key());
        assert_eq!(r.signing_key_field(), 1);
        assert_eq!(r.measurement[0], 0xAA);
        assert_eq!(r.measurement[47], 0xBB);
        assert_eq!(r.chip_id[63], 0xCC);
        assert_eq!(r.signature_s[71], 0xDD);
        assert_eq!(r.cpuid_generation(), Some(Some(Generation::Turin)));
        assert_eq!(r.signed_bytes().len(), SIGNED_LEN);
        assert_eq!(
            r.signature_reserved().len(),
            REPORT_LEN - offset::SIG_RESERVED
        );
    }
}
