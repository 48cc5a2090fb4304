//! The TOML policy body (`POLICY.md` §2): serde shapes with `deny_unknown_fields` and no
//! defaults, then validation into the typed [`Policy`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    ExpectedHostData, MinimumTcb, PcrPolicy, Policy, PolicyOrigin, SimulatedPolicy, SnpAllowed,
    SnpPolicy, MAX_ALLOWED_ENTRIES, MAX_EVIDENCE_AGE_LIMIT_SECS, MAX_LABEL_LEN, MAX_POLICY_LEN,
    POLICY_FORMAT_VERSION,
};
use crate::claims::Generation;
use crate::error::Error;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: u32,
    nitro: Option<RawPcrSection>,
    sev_snp: Option<RawSnpSection>,
    simulated: Option<RawSimulatedSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPcrSection {
    max_evidence_age_secs: u64,
    allowed: Vec<RawPcrSet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPcrSet {
    label: Option<String>,
    pcrs: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimulatedSection {
    trusted_root_sha256: String,
    max_evidence_age_secs: u64,
    allowed: Vec<RawPcrSet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnpSection {
    allow_vlek: bool,
    minimum_tcb: RawMinimumTcbs,
    allowed: Vec<RawSnpAllowed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMinimumTcbs {
    milan: Option<RawTcb>,
    genoa: Option<RawTcb>,
    turin: Option<RawTcb>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcb {
    bootloader: u8,
    tee: u8,
    snp: u8,
    microcode: u8,
    fmc: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnpAllowed {
    label: Option<String>,
    measurement: String,
    host_data: RawHostData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum RawHostData {
    Skip,
    Expected(String),
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::PolicyInvalid {
        reason: reason.into(),
    }
}

pub(super) fn parse_body(body: &[u8], origin: PolicyOrigin) -> Result<Policy, Error> {
    if body.len() > MAX_POLICY_LEN {
        return Err(Error::PolicyTooLarge {
            len: body.len(),
            max: MAX_POLICY_LEN,
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| Error::PolicyMalformed {
        reason: "body is not UTF-8".to_owned(),
    })?;
    let raw: RawPolicy = toml::from_str(text).map_err(|e| Error::PolicyMalformed {
        reason: e.message().to_owned(),
    })?;
    if raw.version != POLICY_FORMAT_VERSION {
        return Err(invalid(format!(
            "version {} unsupported (expected {POLICY_FORMAT_VERSION})",
            raw.version
        )));
    }
    if raw.nitro.is_none() && raw.sev_snp.is_none() && raw.simulated.is_none() {
        return Err(invalid("the policy accepts no platform"));
    }
    let nitro = raw
        .nitro
        .map(|s| pcr_policy("nitro", s.max_evidence_age_secs, s.allowed))
        .transpose()?;
    let simulated = raw
        .simulated
        .map(|s| -> Result<SimulatedPolicy, Error> {
            Ok(SimulatedPolicy {
                trusted_root_sha256: hex_array(
                    "simulated.trusted_root_sha256",
                    &s.trusted_root_sha256,
                )?,
                pcrs: pcr_policy("simulated", s.max_evidence_age_secs, s.allowed)?,
            })
        })
        .transpose()?;
    let sev_snp = raw.sev_snp.map(snp_policy).transpose()?;
    Ok(Policy {
        origin,
        nitro,
        sev_snp,
        simulated,
    })
}

pub(super) fn check_age(secs: u64) -> Result<(), Error> {
    if secs == 0 || secs > MAX_EVIDENCE_AGE_LIMIT_SECS {
        return Err(invalid(format!(
            "max_evidence_age_secs must be in 1..={MAX_EVIDENCE_AGE_LIMIT_SECS}"
        )));
    }
    Ok(())
}

fn check_label(label: Option<&String>) -> Result<(), Error> {
    if label.is_some_and(|l| l.len() > MAX_LABEL_LEN) {
        return Err(invalid(format!("label longer than {MAX_LABEL_LEN} bytes")));
    }
    Ok(())
}

fn hex_array<const N: usize>(what: &str, s: &str) -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| invalid(format!("{what} must be {} hex digits", N * 2)))?;
    Ok(out)
}

fn pcr_policy(section: &str, max_age: u64, sets: Vec<RawPcrSet>) -> Result<PcrPolicy, Error> {
    check_age(max_age)?;
    if sets.is_empty() || sets.len() > MAX_ALLOWED_ENTRIES {
        return Err(invalid(format!(
            "{section}.allowed must list 1..={MAX_ALLOWED_ENTRIES} PCR sets"
        )));
    }
    let mut allowed = Vec::with_capacity(sets.len());
    for set in sets {
        check_label(set.label.as_ref())?;
        let mut pcrs = BTreeMap::new();
        for (index, value) in &set.pcrs {
            let i: u8 = index
                .parse()
                .ok()
                .filter(|i: &u8| *i < 32 && i.to_string() == *index)
                .ok_or_else(|| invalid(format!("{section}: PCR index {index:?} is not 0..=31")))?;
            pcrs.insert(i, hex_array(&format!("{section}: PCR{i}"), value)?);
        }
        if !pcrs.contains_key(&0) {
            return Err(invalid(format!(
                "{section}: every PCR set must include PCR0 (the enclave image)"
            )));
        }
        allowed.push(pcrs);
    }
    Ok(PcrPolicy {
        allowed,
        max_evidence_age_secs: max_age,
    })
}

fn snp_policy(raw: RawSnpSection) -> Result<SnpPolicy, Error> {
    let mut minimum_tcb = BTreeMap::new();
    for (generation, tcb) in [
        (Generation::Milan, raw.minimum_tcb.milan),
        (Generation::Genoa, raw.minimum_tcb.genoa),
        (Generation::Turin, raw.minimum_tcb.turin),
    ] {
        let Some(tcb) = tcb else { continue };
        match (generation, tcb.fmc) {
            (Generation::Turin, None) => {
                return Err(invalid("sev_snp.minimum_tcb.turin needs `fmc`"));
            }
            (Generation::Milan | Generation::Genoa, Some(_)) => {
                return Err(invalid(format!(
                    "sev_snp.minimum_tcb.{generation} has no `fmc` component"
                )));
            }
            _ => {}
        }
        minimum_tcb.insert(
            generation,
            MinimumTcb {
                bootloader: tcb.bootloader,
                tee: tcb.tee,
                snp: tcb.snp,
                microcode: tcb.microcode,
                fmc: tcb.fmc,
            },
        );
    }
    if minimum_tcb.is_empty() {
        return Err(invalid(
            "sev_snp.minimum_tcb must name at least one generation",
        ));
    }
    if raw.allowed.is_empty() || raw.allowed.len() > MAX_ALLOWED_ENTRIES {
        return Err(invalid(format!(
            "sev_snp.allowed must list 1..={MAX_ALLOWED_ENTRIES} measurements"
        )));
    }
    let mut allowed = Vec::with_capacity(raw.allowed.len());
    for entry in raw.allowed {
        check_label(entry.label.as_ref())?;
        allowed.push(SnpAllowed {
            measurement: hex_array("sev_snp.allowed.measurement", &entry.measurement)?,
            host_data: match entry.host_data {
                RawHostData::Skip => ExpectedHostData::Skip,
                RawHostData::Expected(h) => {
                    ExpectedHostData::Expected(hex_array("sev_snp.allowed.host_data", &h)?)
                }
            },
        });
    }
    Ok(SnpPolicy {
        allowed,
        minimum_tcb,
        allow_vlek: raw.allow_vlek,
    })
}
