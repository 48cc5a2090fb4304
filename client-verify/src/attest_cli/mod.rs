//! `sealboost attest verify|inspect`: check attestation evidence by hand.
//!
//! Exit codes: 0 accepted (or parsed, for `inspect`), 1 rejected (or unparseable), 2 usage
//! error (bad arguments, unreadable files). Nothing here panics on any input.

mod inspect;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use attestation::nitro::UnverifiedDocument;
use attestation::policy::{OperatorCheck, SignedPolicy};
use attestation::snp;
use attestation::{Claims, Evidence, Measurements, Policy, PolicyOrigin, UnixTime};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

/// Exit code when evidence was accepted / parsed.
pub const EXIT_ACCEPTED: u8 = 0;
/// Exit code when evidence was rejected / could not be parsed.
pub const EXIT_REJECTED: u8 = 1;
/// Exit code for usage errors.
pub const EXIT_USAGE: u8 = 2;
/// Largest file this command reads.
const MAX_FILE_LEN: u64 = 1024 * 1024;
/// `--max-age` default in ad-hoc mode: the lifetime of a Nitro signing certificate.
const DEFAULT_ADHOC_MAX_AGE_SECS: u64 = 3 * 3600;

/// `sealboost attest …`
#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Verify evidence against a policy at a given time; print the claims or the failed step.
    Verify(VerifyArgs),
    /// Print the parsed (UNVERIFIED) fields of a Nitro document or an SEV-SNP report.
    Inspect(InspectArgs),
}

/// Evidence platform, when auto-detection is not wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlatformArg {
    Nitro,
    SevSnp,
    Simulated,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("reference").required(true).args(["policy", "pcr", "measurement"])))]
pub struct VerifyArgs {
    /// Evidence file: Nitro/simulated COSE_Sign1 or a 1184-byte SEV-SNP report (raw or base64).
    #[arg(long, value_name = "FILE")]
    pub evidence: PathBuf,
    /// SEV-SNP endorsement certificates (VCEK/VLEK, optionally ASK/ASVK; DER or PEM; ARKs in
    /// a bundle are ignored, the pinned ones are used).
    #[arg(long = "endorsement", value_name = "FILE")]
    pub endorsements: Vec<PathBuf>,
    /// Signed policy file (needs --release-key).
    #[arg(long, value_name = "FILE", requires = "release_key", conflicts_with_all = ["pcr", "measurement"])]
    pub policy: Option<PathBuf>,
    /// Pinned ed25519 release key: 64 hex digits, or a file (hex, 32 raw bytes, or a PEM/DER
    /// SubjectPublicKeyInfo).
    #[arg(long, value_name = "HEX|FILE", requires = "policy")]
    pub release_key: Option<String>,
    /// Ad-hoc UNSIGNED check: expected PCR (repeatable), e.g. --pcr 0=67fd…
    #[arg(long, value_name = "N=HEX")]
    pub pcr: Vec<String>,
    /// Ad-hoc UNSIGNED check: expected SEV-SNP MEASUREMENT (96 hex digits).
    #[arg(long, value_name = "HEX")]
    pub measurement: Option<String>,
    /// Ad-hoc mode: trust this simulation root certificate (PEM or DER) for simulated evidence.
    #[arg(long, value_name = "FILE", conflicts_with = "policy")]
    pub simulation_root: Option<PathBuf>,
    /// Ad-hoc mode: maximum Nitro/simulated document age in seconds [default: 10800].
    #[arg(long, value_name = "SECS", conflicts_with = "policy")]
    pub max_age: Option<u64>,
    /// Verification time: unix seconds, RFC 3339 (2024-01-16T19:10:16Z) or `now`.
    #[arg(long, value_name = "TIME")]
    pub at: String,
    /// Evidence platform (default: detected from the file).
    #[arg(long, value_enum)]
    pub platform: Option<PlatformArg>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Nitro/simulated document or SEV-SNP report (raw or base64).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// A usage error: printed, exit code 2.
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

fn usage<T>(msg: impl Into<String>) -> Result<T, Usage> {
    Err(Usage(msg.into()))
}

/// Runs one `attest` subcommand.
pub fn run(cmd: &AttestCommand) -> ExitCode {
    let result = match cmd {
        AttestCommand::Verify(args) => run_verify(args),
        AttestCommand::Inspect(args) => inspect::run_inspect(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Usage> {
    let meta = std::fs::metadata(path)
        .or_else(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > MAX_FILE_LEN {
        return usage(format!(
            "{} is larger than {MAX_FILE_LEN} bytes",
            path.display()
        ));
    }
    std::fs::read(path).or_else(|e| usage(format!("cannot read {}: {e}", path.display())))
}

/// Evidence files may be raw or base64 (as many tools print them).
fn maybe_base64(bytes: Vec<u8>) -> Vec<u8> {
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let is_b64 = !text.is_empty()
        && text
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if is_b64 {
        if let Ok(decoded) = B64.decode(&text) {
            return decoded;
        }
    }
    bytes
}

/// DER certificates from a PEM bundle or a single DER file.
fn certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(vec![bytes.to_vec()]);
    };
    if !text.contains("-----BEGIN") {
        return Ok(vec![bytes.to_vec()]);
    }
    let mut out = Vec::new();
    for block in text.split("-----BEGIN ").skip(1) {
        let (label, rest) = block.split_once("-----").ok_or("malformed PEM")?;
        let (body, _) = rest
            .split_once("-----END ")
            .ok_or("PEM block without END")?;
        if label != "CERTIFICATE" {
            continue;
        }
        let b64: String = body.split_whitespace().collect();
        out.push(B64.decode(b64).map_err(|_| "bad base64 in PEM")?);
    }
    Ok(out)
}

fn parse_hex<const N: usize>(what: &str, s: &str) -> Result<[u8; N], Usage> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s.trim(), &mut out)
        .or_else(|_| usage(format!("{what} must be {} hex digits", N * 2)))?;
    Ok(out)
}

fn parse_time(s: &str) -> Result<UnixTime, Usage> {
    if s == "now" {
        return Ok(UnixTime::now());
    }
    UnixTime::parse(s).or_else(|e| usage(format!("--at {s:?}: {e}")))
}

pub(crate) fn release_key(arg: &str) -> Result<VerifyingKey, Usage> {
    let bytes: Vec<u8> = if arg.len() == 64 && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        arg.as_bytes().to_vec()
    } else {
        read_file(Path::new(arg))?
    };
    let text = std::str::from_utf8(&bytes).map(str::trim).unwrap_or("");
    let raw: Vec<u8> = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).or_else(|_| usage("release key: bad hex"))?
    } else if text.starts_with("-----BEGIN PUBLIC KEY-----") {
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = B64.decode(b64).or_else(|_| usage("release key: bad PEM"))?;
        return VerifyingKey::from_public_key_der(&der)
            .or_else(|_| usage("release key: not an ed25519 public key"));
    } else if bytes.len() == 32 {
        bytes
    } else {
        return VerifyingKey::from_public_key_der(&bytes).or_else(|_| {
            usage("release key: expected 64 hex digits, 32 raw bytes, or an ed25519 SubjectPublicKeyInfo")
        });
    };
    let raw: [u8; 32] = raw
        .try_into()
        .or_else(|_| usage("release key must be 32 bytes"))?;
    VerifyingKey::from_bytes(&raw).or_else(|_| usage("release key: not a valid ed25519 point"))
}

/// The policy, and a line saying where it came from.
fn policy(args: &VerifyArgs) -> Result<Result<Policy, attestation::Error>, Usage> {
    if let (Some(path), Some(key)) = (&args.policy, &args.release_key) {
        let key = release_key(key)?;
        let file = read_file(path)?;
        return Ok(SignedPolicy::parse(&file).and_then(|p| p.verify(&key)));
    }
    let mut pcrs = BTreeMap::new();
    for p in &args.pcr {
        let (index, value) = p
            .split_once('=')
            .ok_or_else(|| Usage(format!("--pcr {p:?}: expected N=HEX")))?;
        let index: u8 = index
            .trim()
            .parse()
            .ok()
            .filter(|i| *i < 32)
            .ok_or_else(|| Usage(format!("--pcr {p:?}: index must be 0..=31")))?;
        if pcrs
            .insert(index, parse_hex::<48>(&format!("PCR{index}"), value)?)
            .is_some()
        {
            return usage(format!("--pcr {index} given twice"));
        }
    }
    let measurement = args
        .measurement
        .as_deref()
        .map(|m| parse_hex::<48>("--measurement", m))
        .transpose()?;
    let simulated_root_sha256 = match &args.simulation_root {
        None => None,
        Some(path) => {
            let certs = certificates(&read_file(path)?)
                .map_err(|e| Usage(format!("{}: {e}", path.display())))?;
            let [root] = certs.as_slice() else {
                return usage("--simulation-root must contain exactly one certificate");
            };
            Some(Sha256::digest(root).into())
        }
    };
    Policy::from_unsigned_for_operator_check(OperatorCheck {
        pcrs,
        measurement,
        max_evidence_age_secs: args.max_age.unwrap_or(DEFAULT_ADHOC_MAX_AGE_SECS),
        simulated_root_sha256,
    })
    .map(Ok)
    .map_err(|e| Usage(e.to_string()))
}

/// The evidence, or (inner `Err`) a rejection the verifier would have made anyway.
fn evidence(args: &VerifyArgs) -> Result<Result<Evidence, attestation::Error>, Usage> {
    let bytes = maybe_base64(read_file(&args.evidence)?);
    let platform = match args.platform {
        Some(p) => p,
        None if bytes.len() == snp::REPORT_LEN => PlatformArg::SevSnp,
        None => match UnverifiedDocument::parse(&bytes) {
            Ok(doc) if !doc.claims_aws_root() => PlatformArg::Simulated,
            // Unparseable documents go to the Nitro verifier, which names the failed step.
            _ => PlatformArg::Nitro,
        },
    };
    if platform != PlatformArg::SevSnp && !args.endorsements.is_empty() {
        return usage("--endorsement only applies to SEV-SNP reports");
    }
    Ok(Ok(match platform {
        PlatformArg::Nitro => Evidence::Nitro(bytes),
        PlatformArg::Simulated => Evidence::Simulated(bytes),
        PlatformArg::SevSnp => {
            if args.endorsements.is_empty() {
                return usage("an SEV-SNP report needs --endorsement VCEK_OR_VLEK (the verifier never fetches)");
            }
            let mut certs = Vec::new();
            for path in &args.endorsements {
                let file = read_file(path)?;
                match certificates(&file) {
                    Ok(c) => certs.extend(c),
                    // A broken endorsement is a rejected input, like a broken report.
                    Err(reason) => {
                        return Ok(Err(attestation::Error::CertMalformed { index: 2, reason }));
                    }
                }
            }
            match snp::sort_endorsements(&certs) {
                Ok((leaf, intermediate)) => Evidence::SevSnp {
                    report: bytes,
                    vcek_or_vlek: leaf,
                    ask_or_asvk: intermediate,
                },
                Err(e) => return Ok(Err(e)),
            }
        }
    }))
}

fn origin_line(origin: &PolicyOrigin) -> String {
    match origin {
        PolicyOrigin::Signed { release_key } => {
            format!("signed release policy (release key {release_key})")
        }
        PolicyOrigin::UnsignedOperatorCheck => {
            "AD-HOC UNSIGNED policy built from the command line \
             (operator check only; NOT a signed release policy)"
                .to_owned()
        }
    }
}

fn run_verify(args: &VerifyArgs) -> Result<u8, Usage> {
    let now = parse_time(&args.at)?;
    let evidence = evidence(args)?;
    let policy = policy(args)?;
    let adhoc = args.policy.is_none();
    let result = evidence.and_then(|ev| policy.and_then(|p| attestation::verify(&ev, &p, now)));
    match result {
        Ok(claims) => {
            if args.json {
                let out = serde_json::json!({
                    "verdict": "accepted",
                    "unsigned_policy": adhoc,
                    "claims": claims.claims(),
                });
                println!("{out:#}");
            } else {
                print!("{}", render_claims(&claims));
            }
            Ok(EXIT_ACCEPTED)
        }
        Err(e) => {
            if args.json {
                let out = serde_json::json!({
                    "verdict": "rejected",
                    "unsigned_policy": adhoc,
                    "step": e.code(),
                    "error": e.to_string(),
                });
                println!("{out:#}");
            } else {
                println!("REJECTED at step `{}`: {e}", e.code());
                if adhoc {
                    println!(
                        "  (checked against an AD-HOC UNSIGNED policy built from the command line)"
                    );
                }
            }
            Ok(EXIT_REJECTED)
        }
    }
}

fn render_claims(c: &Claims) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "ACCEPTED: {} evidence", c.platform);
    let _ = writeln!(s, "  verified at   {}", c.verified_at);
    let _ = writeln!(s, "  policy        {}", origin_line(&c.policy_origin));
    if let Some(id) = &c.module_id {
        let _ = writeln!(s, "  module_id     {id}");
    }
    if let Some(ts) = c.timestamp_ms {
        let _ = writeln!(
            s,
            "  timestamp     {ts} ms ({})",
            UnixTime::from_secs(ts / 1000).to_rfc3339()
        );
    }
    match &c.measurements {
        Measurements::Pcrs { pcrs } => {
            for (i, v) in pcrs {
                if v.iter().any(|b| *b != 0) || *i <= 2 {
                    let _ = writeln!(s, "  PCR{i:<2}         {}", hex::encode(v));
                }
            }
            let zero = pcrs.values().filter(|v| v.iter().all(|b| *b == 0)).count();
            let _ = writeln!(s, "  ({zero} other PCRs are all zero)");
        }
        Measurements::SevSnp {
            measurement,
            host_data,
        } => {
            let _ = writeln!(s, "  measurement   {}", hex::encode(measurement));
            let _ = writeln!(s, "  host_data     {}", hex::encode(host_data));
        }
        _ => {}
    }
    if let Some(tcb) = &c.tcb {
        let comps: Vec<String> = tcb
            .components()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            s,
            "  tcb           {} [{}] (raw {})",
            tcb.generation,
            comps.join(" "),
            hex::encode(tcb.raw)
        );
    }
    if let Some(snp) = &c.snp {
        let _ = writeln!(
            s,
            "  report        v{} signed by {:?}, VMPL {}, guest policy {:#x}, guest SVN {}",
            snp.version, snp.signing_key, snp.vmpl, snp.guest_policy, snp.guest_svn
        );
        let _ = writeln!(s, "  chip_id       {}", hex::encode(snp.chip_id));
    }
    if let Some(rd) = &c.report_data {
        let _ = writeln!(s, "  report_data   {}", hex::encode(rd));
    }
    let opt = |v: &Option<Vec<u8>>| match v {
        Some(b) => format!("{} ({} bytes)", hex::encode(b), b.len()),
        None => "none".to_owned(),
    };
    if c.platform != attestation::Platform::SevSnp {
        let _ = writeln!(s, "  user_data     {}", opt(&c.user_data));
        let _ = writeln!(s, "  nonce         {}", opt(&c.nonce));
        let _ = writeln!(s, "  public_key    {}", opt(&c.public_key));
    }
    s
}
