//! Release policy drafts: built and edited here, signed with the release key, verified
//! with the attestation crate exactly as a client does.
//!
//! A draft is the policy body of attestation/POLICY.md §2 — the same TOML — except that an
//! `allowed` list may still be empty (a draft made by `policy new` before any measurement
//! is added). It is always rendered by [`PolicyDraft::to_toml`] in one canonical form, so
//! a reviewed draft and the signed body are the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use attestation::policy::{
    SigningKey, VerifyingKey, MAX_ALLOWED_ENTRIES, MAX_EVIDENCE_AGE_LIMIT_SECS, MAX_LABEL_LEN,
    POLICY_FORMAT_VERSION,
};
use attestation::{Generation, Policy, SignedPolicy};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::DeployError;
use crate::pem;

/// PCR index → 48-byte value: one allowed set.
pub type PcrSet = BTreeMap<u8, [u8; 48]>;

/// The three sections a policy can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    Nitro,
    #[value(name = "sev-snp")]
    SevSnp,
    /// SIMULATED evidence: not a TEE.
    Simulated,
}

impl Platform {
    pub fn section(self) -> &'static str {
        match self {
            Self::Nitro => "nitro",
            Self::SevSnp => "sev_snp",
            Self::Simulated => "simulated",
        }
    }
}

/// One allowed PCR set (Nitro or simulated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrEntry {
    pub label: Option<String>,
    pub pcrs: BTreeMap<u8, [u8; 48]>,
}

/// `[nitro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NitroSection {
    pub max_evidence_age_secs: u64,
    pub allowed: Vec<PcrEntry>,
}

/// `[simulated]`: evidence signed by an operator's simulation CA. Not a TEE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedSection {
    pub trusted_root_sha256: [u8; 32],
    pub max_evidence_age_secs: u64,
    pub allowed: Vec<PcrEntry>,
}

/// HOST_DATA expectation of an SEV-SNP entry. Not checking it is an explicit choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostData {
    Skip,
    Expected([u8; 32]),
}

/// One allowed SEV-SNP launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpEntry {
    pub label: Option<String>,
    pub measurement: [u8; 48],
    pub host_data: HostData,
}

/// Minimum TCB of one generation (`fmc` for Turin only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcb {
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
    pub fmc: Option<u8>,
}

/// `[sev_snp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpSection {
    pub allow_vlek: bool,
    pub minimum_tcb: BTreeMap<Generation, Tcb>,
    pub allowed: Vec<SnpEntry>,
}

/// A policy body under construction. No `Default`: a section exists because the operator
/// created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDraft {
    pub nitro: Option<NitroSection>,
    pub sev_snp: Option<SnpSection>,
    pub simulated: Option<SimulatedSection>,
}

fn invalid(reason: impl Into<String>) -> DeployError {
    DeployError::DraftInvalid {
        reason: reason.into(),
    }
}

fn check_age(secs: u64) -> Result<(), DeployError> {
    if secs == 0 || secs > MAX_EVIDENCE_AGE_LIMIT_SECS {
        return Err(invalid(format!(
            "max_evidence_age_secs must be in 1..={MAX_EVIDENCE_AGE_LIMIT_SECS}"
        )));
    }
    Ok(())
}

fn check_label(label: Option<&str>) -> Result<(), DeployError> {
    if label.is_some_and(|l| l.len() > MAX_LABEL_LEN) {
        return Err(invalid(format!("label longer than {MAX_LABEL_LEN} bytes")));
    }
    Ok(())
}

fn check_pcrs(pcrs: &BTreeMap<u8, [u8; 48]>) -> Result<(), DeployError> {
    if pcrs.keys().any(|i| *i >= 32) {
        return Err(invalid("PCR index must be below 32"));
    }
    if !pcrs.contains_key(&0) {
        return Err(invalid("a PCR set must include PCR0 (the enclave image)"));
    }
    Ok(())
}

fn check_room(len: usize, platform: Platform) -> Result<(), DeployError> {
    if len >= MAX_ALLOWED_ENTRIES {
        return Err(invalid(format!(
            "[{}] already has {MAX_ALLOWED_ENTRIES} entries; remove old releases first",
            platform.section()
        )));
    }
    Ok(())
}

impl PolicyDraft {
    /// A draft with no sections; add at least one with the `with_*` methods.
    pub fn empty() -> Self {
        Self {
            nitro: None,
            sev_snp: None,
            simulated: None,
        }
    }

    /// Adds an empty `[nitro]` section.
    pub fn with_nitro(mut self, max_evidence_age_secs: u64) -> Result<Self, DeployError> {
        check_age(max_evidence_age_secs)?;
        self.nitro = Some(NitroSection {
            max_evidence_age_secs,
            allowed: Vec::new(),
        });
        Ok(self)
    }

    /// Adds an empty `[sev_snp]` section. `minimum_tcb` must name at least one generation.
    pub fn with_sev_snp(
        mut self,
        allow_vlek: bool,
        minimum_tcb: BTreeMap<Generation, Tcb>,
    ) -> Result<Self, DeployError> {
        check_tcbs(&minimum_tcb)?;
        self.sev_snp = Some(SnpSection {
            allow_vlek,
            minimum_tcb,
            allowed: Vec::new(),
        });
        Ok(self)
    }

    /// Adds an empty `[simulated]` section trusting the simulation root with this
    /// SHA-256 (of its DER). **Not a TEE**; see [`Self::sign_allowing_simulated`].
    pub fn with_simulated(
        mut self,
        trusted_root_sha256: [u8; 32],
        max_evidence_age_secs: u64,
    ) -> Result<Self, DeployError> {
        check_age(max_evidence_age_secs)?;
        self.simulated = Some(SimulatedSection {
            trusted_root_sha256,
            max_evidence_age_secs,
            allowed: Vec::new(),
        });
        Ok(self)
    }

    /// Allows a Nitro PCR set (from `measure --eif`).
    pub fn add_nitro(
        &mut self,
        label: Option<&str>,
        pcrs: BTreeMap<u8, [u8; 48]>,
    ) -> Result<(), DeployError> {
        let s = self
            .nitro
            .as_mut()
            .ok_or(DeployError::PlatformNotInDraft { platform: "nitro" })?;
        add_pcr_entry(&mut s.allowed, Platform::Nitro, label, pcrs)
    }

    /// Allows a simulated PCR set (from `sim-measure`).
    pub fn add_simulated(
        &mut self,
        label: Option<&str>,
        pcrs: BTreeMap<u8, [u8; 48]>,
    ) -> Result<(), DeployError> {
        let s = self
            .simulated
            .as_mut()
            .ok_or(DeployError::PlatformNotInDraft {
                platform: "simulated",
            })?;
        add_pcr_entry(&mut s.allowed, Platform::Simulated, label, pcrs)
    }

    /// Allows an SEV-SNP launch measurement (from `measure --snp`).
    pub fn add_sev_snp(
        &mut self,
        label: Option<&str>,
        measurement: [u8; 48],
        host_data: HostData,
    ) -> Result<(), DeployError> {
        let s = self
            .sev_snp
            .as_mut()
            .ok_or(DeployError::PlatformNotInDraft {
                platform: "sev_snp",
            })?;
        check_label(label)?;
        check_room(s.allowed.len(), Platform::SevSnp)?;
        if s.allowed
            .iter()
            .any(|e| e.measurement == measurement && e.host_data == host_data)
        {
            return Err(DeployError::DuplicateEntry {
                platform: "sev_snp",
            });
        }
        s.allowed.push(SnpEntry {
            label: label.map(str::to_owned),
            measurement,
            host_data,
        });
        Ok(())
    }

    /// Removes every entry of `platform` labelled `label` (retiring an old release).
    /// Returns how many were removed; none is an error.
    pub fn remove(&mut self, platform: Platform, label: &str) -> Result<usize, DeployError> {
        let missing = || DeployError::PlatformNotInDraft {
            platform: platform.section(),
        };
        let is = |l: &Option<String>| l.as_deref() == Some(label);
        let removed = match platform {
            Platform::Nitro => {
                retain_count(&mut self.nitro.as_mut().ok_or_else(missing)?.allowed, |e| {
                    !is(&e.label)
                })
            }
            Platform::Simulated => retain_count(
                &mut self.simulated.as_mut().ok_or_else(missing)?.allowed,
                |e| !is(&e.label),
            ),
            Platform::SevSnp => retain_count(
                &mut self.sev_snp.as_mut().ok_or_else(missing)?.allowed,
                |e| !is(&e.label),
            ),
        };
        if removed == 0 {
            return Err(DeployError::NoSuchEntry {
                platform: platform.section(),
                label: label.to_owned(),
            });
        }
        Ok(removed)
    }

    /// Validates the draft as a complete policy body, exactly as clients will parse it.
    pub fn validate(&self) -> Result<Policy, DeployError> {
        Ok(Policy::parse_unsigned_for_operator_check(
            self.to_toml().as_bytes(),
        )?)
    }

    /// Signs the draft with the release key. Refuses a draft with a `[simulated]` section:
    /// a production release policy must never trust a simulation root.
    pub fn sign(&self, key: &SigningKey) -> Result<Vec<u8>, DeployError> {
        if self.simulated.is_some() {
            return Err(invalid(
                "the draft trusts a SIMULATION root; a release policy must not \
                 (use sign_allowing_simulated / --allow-simulated for test deployments)",
            ));
        }
        self.sign_allowing_simulated(key)
    }

    /// Signs the draft even if it trusts a simulation root — for CI and test deployments,
    /// with a release key that is never used for production.
    pub fn sign_allowing_simulated(&self, key: &SigningKey) -> Result<Vec<u8>, DeployError> {
        let body = self.to_toml();
        let file = attestation::policy::sign(body.as_bytes(), key)?;
        // Check the result the way a client will, before anyone sees it.
        verify_signed_policy(&file, &key.verifying_key())?;
        Ok(file)
    }

    /// The canonical TOML body.
    pub fn to_toml(&self) -> String {
        let mut o = String::new();
        o.push_str("# sealboost release policy body (attestation/POLICY.md).\n");
        o.push_str("# Generated by sealboost-deploy; edit with `sealboost-deploy policy`.\n");
        let _ = writeln!(o, "version = {POLICY_FORMAT_VERSION}");
        if let Some(n) = &self.nitro {
            o.push_str(
                "\n# AWS Nitro Enclaves: PCRs from `sealboost-deploy measure --eif`.\n[nitro]\n",
            );
            let _ = writeln!(o, "max_evidence_age_secs = {}", n.max_evidence_age_secs);
            render_pcr_entries(&mut o, "nitro", &n.allowed);
        }
        if let Some(s) = &self.sev_snp {
            o.push_str(
                "\n# AMD SEV-SNP: MEASUREMENT from `sealboost-deploy measure --snp`.\n[sev_snp]\n",
            );
            let _ = writeln!(o, "allow_vlek = {}", s.allow_vlek);
            for (g, t) in &s.minimum_tcb {
                let _ = writeln!(o, "\n[sev_snp.minimum_tcb.{g}]");
                if let Some(f) = t.fmc {
                    let _ = writeln!(o, "fmc = {f}");
                }
                let _ = writeln!(
                    o,
                    "bootloader = {}\ntee = {}\nsnp = {}\nmicrocode = {}",
                    t.bootloader, t.tee, t.snp, t.microcode
                );
            }
            for e in &s.allowed {
                o.push_str("\n[[sev_snp.allowed]]\n");
                render_label(&mut o, e.label.as_deref());
                let _ = writeln!(o, "measurement = \"{}\"", hex::encode(e.measurement));
                match e.host_data {
                    HostData::Skip => o.push_str("host_data = \"skip\"\n"),
                    HostData::Expected(h) => {
                        let _ = writeln!(o, "host_data = {{ expected = \"{}\" }}", hex::encode(h));
                    }
                }
            }
        }
        if let Some(s) = &self.simulated {
            o.push_str(
                "\n# SIMULATED evidence — NOT A TEE. Accepted only because this policy names\n\
                 # the simulation root below. Never in a production release policy.\n[simulated]\n",
            );
            let _ = writeln!(
                o,
                "trusted_root_sha256 = \"{}\"",
                hex::encode(s.trusted_root_sha256)
            );
            let _ = writeln!(o, "max_evidence_age_secs = {}", s.max_evidence_age_secs);
            render_pcr_entries(&mut o, "simulated", &s.allowed);
        }
        o
    }

    /// Parses a draft (or an unsigned body) written by [`Self::to_toml`] or by hand.
    pub fn parse(text: &str) -> Result<Self, DeployError> {
        let raw: RawDraft = toml::from_str(text).map_err(|e| DeployError::DraftMalformed {
            reason: e.message().to_owned(),
        })?;
        if raw.version != POLICY_FORMAT_VERSION {
            return Err(invalid(format!(
                "version {} unsupported (expected {POLICY_FORMAT_VERSION})",
                raw.version
            )));
        }
        let mut d = Self::empty();
        if let Some(n) = raw.nitro {
            d = d.with_nitro(n.max_evidence_age_secs)?;
            for e in n.allowed {
                let (label, pcrs) = e.parse()?;
                d.add_nitro(label.as_deref(), pcrs)?;
            }
        }
        if let Some(s) = raw.sev_snp {
            let mut tcbs = BTreeMap::new();
            for (g, t) in [
                (Generation::Milan, s.minimum_tcb.milan),
                (Generation::Genoa, s.minimum_tcb.genoa),
                (Generation::Turin, s.minimum_tcb.turin),
            ] {
                if let Some(t) = t {
                    tcbs.insert(
                        g,
                        Tcb {
                            bootloader: t.bootloader,
                            tee: t.tee,
                            snp: t.snp,
                            microcode: t.microcode,
                            fmc: t.fmc,
                        },
                    );
                }
            }
            d = d.with_sev_snp(s.allow_vlek, tcbs)?;
            for e in s.allowed {
                let measurement = hex_array("measurement", &e.measurement)?;
                let host_data = match e.host_data {
                    RawHostData::Skip => HostData::Skip,
                    RawHostData::Expected(h) => HostData::Expected(hex_array("host_data", &h)?),
                };
                d.add_sev_snp(e.label.as_deref(), measurement, host_data)?;
            }
        }
        if let Some(s) = raw.simulated {
            d = d.with_simulated(
                hex_array("trusted_root_sha256", &s.trusted_root_sha256)?,
                s.max_evidence_age_secs,
            )?;
            for e in s.allowed {
                let (label, pcrs) = e.parse()?;
                d.add_simulated(label.as_deref(), pcrs)?;
            }
        }
        Ok(d)
    }

    /// Reads a draft file.
    pub fn load(path: &Path) -> Result<Self, DeployError> {
        Self::parse(&std::fs::read_to_string(path).map_err(DeployError::io(path))?)
    }
}

fn retain_count<T>(v: &mut Vec<T>, keep: impl Fn(&T) -> bool) -> usize {
    let before = v.len();
    v.retain(keep);
    before - v.len()
}

fn check_tcbs(tcbs: &BTreeMap<Generation, Tcb>) -> Result<(), DeployError> {
    if tcbs.is_empty() {
        return Err(invalid(
            "sev_snp needs a minimum TCB for at least one generation",
        ));
    }
    for (g, t) in tcbs {
        match (g, t.fmc) {
            (Generation::Turin, None) => return Err(invalid("the turin minimum TCB needs fmc")),
            (Generation::Milan | Generation::Genoa, Some(_)) => {
                return Err(invalid(format!("the {g} minimum TCB has no fmc component")))
            }
            _ => {}
        }
    }
    Ok(())
}

fn add_pcr_entry(
    allowed: &mut Vec<PcrEntry>,
    platform: Platform,
    label: Option<&str>,
    pcrs: BTreeMap<u8, [u8; 48]>,
) -> Result<(), DeployError> {
    check_label(label)?;
    check_pcrs(&pcrs)?;
    check_room(allowed.len(), platform)?;
    if allowed.iter().any(|e| e.pcrs == pcrs) {
        return Err(DeployError::DuplicateEntry {
            platform: platform.section(),
        });
    }
    allowed.push(PcrEntry {
        label: label.map(str::to_owned),
        pcrs,
    });
    Ok(())
}

fn render_label(o: &mut String, label: Option<&str>) {
    if let Some(l) = label {
        // toml's own string encoder does the escaping.
        let _ = writeln!(o, "label = {}", toml::Value::String(l.to_owned()));
    }
}

fn render_pcr_entries(o: &mut String, section: &str, entries: &[PcrEntry]) {
    for e in entries {
        let _ = writeln!(o, "\n[[{section}.allowed]]");
        render_label(o, e.label.as_deref());
        o.push_str("pcrs = { ");
        let parts: Vec<String> = e
            .pcrs
            .iter()
            .map(|(i, v)| format!("{i} = \"{}\"", hex::encode(v)))
            .collect();
        o.push_str(&parts.join(", "));
        o.push_str(" }\n");
    }
}

fn hex_array<const N: usize>(what: &str, s: &str) -> Result<[u8; N], DeployError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| invalid(format!("{what} must be {} hex digits", N * 2)))?;
    Ok(out)
}

/// Parses `I=HEX` (a PCR on the command line).
pub fn parse_pcr_arg(s: &str) -> Result<(u8, [u8; 48]), DeployError> {
    let (i, v) = s
        .split_once('=')
        .ok_or_else(|| invalid("a PCR is written INDEX=96HEX"))?;
    let i: u8 = i
        .parse()
        .ok()
        .filter(|i| *i < 32)
        .ok_or_else(|| invalid("PCR index must be 0..=31"))?;
    Ok((i, hex_array("PCR value", v)?))
}

/// Parses `GEN:bootloader=N,tee=N,snp=N,microcode=N[,fmc=N]`.
pub fn parse_tcb_arg(s: &str) -> Result<(Generation, Tcb), DeployError> {
    let bad =
        || invalid("a minimum TCB is written GEN:bootloader=N,tee=N,snp=N,microcode=N[,fmc=N]");
    let (g, rest) = s.split_once(':').ok_or_else(bad)?;
    let g = Generation::ALL
        .into_iter()
        .find(|x| x.name() == g)
        .ok_or_else(|| invalid("generation must be milan, genoa or turin"))?;
    let mut vals = BTreeMap::new();
    for kv in rest.split(',') {
        let (k, v) = kv.split_once('=').ok_or_else(bad)?;
        let v: u8 = v.parse().map_err(|_| bad())?;
        if vals.insert(k, v).is_some() {
            return Err(bad());
        }
    }
    let mut take = |k| vals.remove(k);
    let tcb = Tcb {
        bootloader: take("bootloader").ok_or_else(bad)?,
        tee: take("tee").ok_or_else(bad)?,
        snp: take("snp").ok_or_else(bad)?,
        microcode: take("microcode").ok_or_else(bad)?,
        fmc: take("fmc"),
    };
    if !vals.is_empty() {
        return Err(bad());
    }
    Ok((g, tcb))
}

/// Parses and verifies a signed policy file under the pinned release key, as a client does.
pub fn verify_signed_policy(
    file: &[u8],
    release_key: &VerifyingKey,
) -> Result<Policy, DeployError> {
    Ok(SignedPolicy::parse(file)?.verify(release_key)?)
}

/// SHA-256 of the DER of the (first) certificate in a simulation root PEM file — the value
/// `[simulated] trusted_root_sha256` names.
pub fn sim_root_sha256(pem_path: &Path) -> Result<[u8; 32], DeployError> {
    let text = std::fs::read_to_string(pem_path).map_err(DeployError::io(pem_path))?;
    let der = pem::decode_first(&text, "CERTIFICATE")?;
    Ok(Sha256::digest(&*der).into())
}

// ----- serde shapes of a draft (POLICY.md §2, with `allowed` optional) --------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDraft {
    version: u32,
    nitro: Option<RawPcrSection>,
    sev_snp: Option<RawSnpSection>,
    simulated: Option<RawSimSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPcrSection {
    max_evidence_age_secs: u64,
    #[serde(default)]
    allowed: Vec<RawPcrSet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimSection {
    trusted_root_sha256: String,
    max_evidence_age_secs: u64,
    #[serde(default)]
    allowed: Vec<RawPcrSet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPcrSet {
    label: Option<String>,
    pcrs: BTreeMap<String, String>,
}

impl RawPcrSet {
    fn parse(self) -> Result<(Option<String>, PcrSet), DeployError> {
        let mut pcrs = BTreeMap::new();
        for (i, v) in &self.pcrs {
            let idx: u8 = i
                .parse()
                .ok()
                .filter(|x: &u8| *x < 32 && x.to_string() == *i)
                .ok_or_else(|| invalid(format!("PCR index {i:?} is not 0..=31")))?;
            pcrs.insert(idx, hex_array("PCR value", v)?);
        }
        Ok((self.label, pcrs))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnpSection {
    allow_vlek: bool,
    minimum_tcb: RawTcbs,
    #[serde(default)]
    allowed: Vec<RawSnpEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcbs {
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
struct RawSnpEntry {
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
