//! What verified evidence says (RATS "Claims").
//!
//! A [`Claims`] value is only ever handed out inside [`crate::Verified`], which only the
//! verifier in this crate can construct.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::policy::PolicyOrigin;
use crate::time::UnixTime;

/// The TEE that produced the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// AWS Nitro Enclaves (NSM attestation document, AWS Nitro root G1).
    Nitro,
    /// AMD SEV-SNP (attestation report, VCEK/VLEK, AMD ARK).
    SevSnp,
    /// Nitro-format document signed by an operator-generated simulation CA. Not a TEE.
    Simulated,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nitro => "AWS Nitro",
            Self::SevSnp => "AMD SEV-SNP",
            Self::Simulated => "SIMULATED (not a TEE)",
        })
    }
}

/// AMD EPYC processor generation; each has its own ARK and TCB layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Generation {
    /// 3rd generation EPYC (Zen 3).
    Milan,
    /// 4th generation EPYC (Zen 4), including Bergamo and Siena.
    Genoa,
    /// 5th generation EPYC (Zen 5).
    Turin,
}

impl Generation {
    /// All generations this verifier knows.
    pub const ALL: [Generation; 3] = [Self::Milan, Self::Genoa, Self::Turin];

    /// Lower-case name, as in policies and AMD KDS URLs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Milan => "milan",
            Self::Genoa => "genoa",
            Self::Turin => "turin",
        }
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One security version number inside an SEV-SNP TCB_VERSION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TcbComponent {
    /// PSP bootloader SVN.
    Bootloader,
    /// PSP OS (TEE) SVN.
    Tee,
    /// SNP firmware SVN.
    Snp,
    /// Lowest microcode patch level across cores.
    Microcode,
    /// Firmware mask ROM / FMC SVN (Turin and later).
    Fmc,
}

impl fmt::Display for TcbComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bootloader => "bootloader",
            Self::Tee => "tee",
            Self::Snp => "snp",
            Self::Microcode => "microcode",
            Self::Fmc => "fmc",
        })
    }
}

/// A decoded SEV-SNP TCB_VERSION.
///
/// Byte layout of the little-endian u64 (SEV-SNP ABI §2.2 TCB_VERSION):
/// Milan/Genoa `[bootloader, tee, 0, 0, 0, 0, snp, microcode]`,
/// Turin `[fmc, bootloader, tee, snp, 0, 0, 0, microcode]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SnpTcb {
    /// Which layout decoded it.
    pub generation: Generation,
    /// The 8 raw bytes as they appear in the report.
    #[serde(serialize_with = "crate::claims::ser_hex")]
    pub raw: [u8; 8],
    /// Bootloader SVN.
    pub bootloader: u8,
    /// TEE SVN.
    pub tee: u8,
    /// SNP firmware SVN.
    pub snp: u8,
    /// Microcode SVN.
    pub microcode: u8,
    /// FMC SVN (Turin only).
    pub fmc: Option<u8>,
}

impl SnpTcb {
    /// Decodes `raw` with the layout of `generation`.
    pub fn decode(generation: Generation, raw: [u8; 8]) -> Self {
        match generation {
            Generation::Milan | Generation::Genoa => Self {
                generation,
                raw,
                bootloader: raw[0],
                tee: raw[1],
                snp: raw[6],
                microcode: raw[7],
                fmc: None,
            },
            Generation::Turin => Self {
                generation,
                raw,
                fmc: Some(raw[0]),
                bootloader: raw[1],
                tee: raw[2],
                snp: raw[3],
                microcode: raw[7],
            },
        }
    }

    /// The reserved bytes of the layout (must be zero in a well-formed TCB).
    pub(crate) fn reserved_bytes(&self) -> &[u8] {
        match self.generation {
            Generation::Milan | Generation::Genoa => &self.raw[2..6],
            Generation::Turin => &self.raw[4..7],
        }
    }

    /// `(component, value)` pairs in a fixed order.
    pub fn components(&self) -> Vec<(TcbComponent, u8)> {
        crate::claims::tcb_components(
            self.fmc,
            self.bootloader,
            self.tee,
            self.snp,
            self.microcode,
        )
    }
}

/// Which key signed an SEV-SNP report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SnpSigningKey {
    /// Versioned Chip Endorsement Key (per chip and TCB).
    Vcek,
    /// Versioned Loaded Endorsement Key (per cloud provider and TCB).
    Vlek,
}

/// Measured identity of the workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
#[non_exhaustive]
pub enum Measurements {
    /// Nitro and Simulated: every PCR in the document (index → 48-byte SHA-384 value).
    Pcrs {
        #[serde(serialize_with = "crate::claims::ser_pcrs")]
        pcrs: BTreeMap<u8, [u8; 48]>,
    },
    /// SEV-SNP launch measurement and host-provided data.
    SevSnp {
        #[serde(serialize_with = "crate::claims::ser_hex")]
        measurement: [u8; 48],
        #[serde(serialize_with = "crate::claims::ser_hex")]
        host_data: [u8; 32],
    },
}

/// SEV-SNP fields that have no Nitro counterpart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SnpDetails {
    /// Report VERSION.
    pub version: u32,
    /// Processor generation (from the endorsement).
    pub generation: Generation,
    /// VCEK or VLEK.
    pub signing_key: SnpSigningKey,
    /// Guest policy bits.
    pub guest_policy: u64,
    /// VMPL the report was requested from (always 0 once verified).
    pub vmpl: u32,
    /// Guest SVN.
    pub guest_svn: u32,
    /// CHIP_ID (zero when masked; Turin uses the first 8 bytes).
    #[serde(serialize_with = "crate::claims::ser_hex")]
    pub chip_id: [u8; 64],
    /// REPORT_ID of the guest.
    #[serde(serialize_with = "crate::claims::ser_hex")]
    pub report_id: [u8; 32],
}

/// Everything a verifier learned from evidence that passed every check of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Claims {
    /// Which TEE (or the simulation).
    pub platform: Platform,
    /// Which policy accepted the evidence (signed release policy or an ad-hoc operator
    /// check). Code that sends secrets must insist on [`PolicyOrigin::Signed`].
    pub policy_origin: PolicyOrigin,
    /// The verification time that was used.
    pub verified_at: UnixTime,
    /// Measured identity.
    pub measurements: Measurements,
    /// Debug mode. Always `false` once verified (debug evidence is rejected); kept so
    /// the field is visible in printed claims.
    pub debug: bool,
    /// SEV-SNP reported TCB.
    pub tcb: Option<SnpTcb>,
    /// Further SEV-SNP fields.
    pub snp: Option<SnpDetails>,
    /// Nitro/Simulated `module_id`.
    pub module_id: Option<String>,
    /// Nitro/Simulated document `timestamp` (milliseconds since the epoch). SEV-SNP
    /// reports carry no time.
    pub timestamp_ms: Option<u64>,
    /// Nitro/Simulated `nonce`.
    #[serde(serialize_with = "crate::claims::ser_opt_hex")]
    pub nonce: Option<Vec<u8>>,
    /// Nitro/Simulated `user_data`.
    #[serde(serialize_with = "crate::claims::ser_opt_hex")]
    pub user_data: Option<Vec<u8>>,
    /// Nitro/Simulated `public_key`.
    #[serde(serialize_with = "crate::claims::ser_opt_hex")]
    pub public_key: Option<Vec<u8>>,
    /// SEV-SNP REPORT_DATA.
    #[serde(serialize_with = "crate::claims::ser_opt_hex64")]
    pub report_data: Option<[u8; 64]>,
}

pub(crate) fn ser_hex<S: serde::Serializer, T: AsRef<[u8]>>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v.as_ref()))
}

pub(crate) fn ser_opt_hex<S: serde::Serializer>(
    v: &Option<Vec<u8>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_some(&hex::encode(b)),
        None => s.serialize_none(),
    }
}

pub(crate) fn ser_opt_hex64<S: serde::Serializer>(
    v: &Option<[u8; 64]>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_some(&hex::encode(b)),
        None => s.serialize_none(),
    }
}

pub(crate) fn ser_pcrs<S: serde::Serializer>(
    v: &BTreeMap<u8, [u8; 48]>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (k, val) in v {
        m.serialize_entry(&k.to_string(), &hex::encode(val))?;
    }
    m.end()
}

/// `(component, value)` pairs in the order the verifier compares them: FMC first when the
/// generation has one (Turin), then bootloader, TEE, SNP firmware, microcode. Shared by
/// reported TCBs ([`SnpTcb`]) and policy minimums so both iterate identically.
pub(crate) fn tcb_components(
    fmc: Option<u8>,
    bootloader: u8,
    tee: u8,
    snp: u8,
    microcode: u8,
) -> Vec<(TcbComponent, u8)> {
    let mut v = Vec::with_capacity(5);
    if let Some(fmc) = fmc {
        v.push((TcbComponent::Fmc, fmc));
    }
    v.extend([
        (TcbComponent::Bootloader, bootloader),
        (TcbComponent::Tee, tee),
        (TcbComponent::Snp, snp),
        (TcbComponent::Microcode, microcode),
    ]);
    v
}
