//! `sealboost attest verify|inspect`: check attestation evidence by hand.
//!
//! Exit codes: 0 accepted (or parsed, for `inspect`), 1 rejected (or unparseable), 2 usage
//! error (bad arguments, unreadable files). Nothing here panics on any input.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use attestation::nitro::UnverifiedDocument;
use attestation::policy::{OperatorCheck, SignedPolicy};
use attestation::snp::{self, AttestationReport};
use attestation::{Claims, Evidence, Measurements, Policy, PolicyOrigin, UnixTime};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use der::Decode;
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
struct Usage(String);

fn usage<T>(msg: impl Into<String>) -> Result<T, Usage> {
    Err(Usage(msg.into()))
}

/// Runs one `attest` subcommand.
pub fn run(cmd: &AttestCommand) -> ExitCode {
    let result = match cmd {
        AttestCommand::Verify(args) => run_verify(args),
        AttestCommand::Inspect(args) => run_inspect(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Usage> {
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

fn release_key(arg: &str) -> Result<VerifyingKey, Usage> {
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

fn run_inspect(args: &InspectArgs) -> Result<u8, Usage> {
    let bytes = maybe_base64(read_file(&args.file)?);
    if bytes.len() == snp::REPORT_LEN {
        return Ok(match AttestationReport::parse(&bytes) {
            Ok(r) => {
                if args.json {
                    println!("{:#}", snp_json(&r));
                } else {
                    print!("{}", render_report(&r));
                }
                EXIT_ACCEPTED
            }
            Err(e) => report_parse_error(args.json, &e),
        });
    }
    Ok(match UnverifiedDocument::parse(&bytes) {
        Ok(doc) => {
            if args.json {
                println!("{:#}", nitro_json(&doc));
            } else {
                print!("{}", render_document(&doc));
            }
            EXIT_ACCEPTED
        }
        Err(e) => report_parse_error(args.json, &e),
    })
}

fn report_parse_error(json: bool, e: &attestation::Error) -> u8 {
    if json {
        println!(
            "{:#}",
            serde_json::json!({ "parsed": false, "step": e.code(), "error": e.to_string() })
        );
    } else {
        println!("NOT PARSEABLE at step `{}`: {e}", e.code());
    }
    EXIT_REJECTED
}

const UNVERIFIED: &str = "UNVERIFIED: parsed only; no signature, certificate or policy was checked";

struct CertSummary {
    subject: String,
    not_before: String,
    not_after: String,
}

fn cert_summary(der: &[u8]) -> Option<CertSummary> {
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let v = cert.tbs_certificate.validity;
    let t =
        |t: x509_cert::time::Time| UnixTime::from_secs(t.to_unix_duration().as_secs()).to_rfc3339();
    Some(CertSummary {
        subject: cert.tbs_certificate.subject.to_string(),
        not_before: t(v.not_before),
        not_after: t(v.not_after),
    })
}

fn render_document(doc: &UnverifiedDocument) -> String {
    let d = &doc.document;
    let mut s = String::new();
    let _ = writeln!(s, "{UNVERIFIED}");
    let _ = writeln!(
        s,
        "Nitro-format attestation document ({} COSE_Sign1, ES384)",
        if doc.tagged { "tagged" } else { "untagged" }
    );
    let _ = writeln!(
        s,
        "  root          {}",
        if doc.claims_aws_root() {
            "cabundle[0] is the AWS Nitro root G1"
        } else {
            "cabundle[0] is NOT the AWS root (simulated or foreign)"
        }
    );
    let _ = writeln!(s, "  module_id     {}", d.module_id);
    let _ = writeln!(s, "  digest        {}", d.digest);
    let _ = writeln!(
        s,
        "  timestamp     {} ms ({})",
        d.timestamp_ms,
        UnixTime::from_secs(d.timestamp_ms / 1000).to_rfc3339()
    );
    for (i, v) in &d.pcrs {
        let _ = writeln!(s, "  PCR{i:<2}         {}", hex::encode(v));
    }
    let opt = |v: &Option<Vec<u8>>| match v {
        Some(b) => format!("{} ({} bytes)", hex::encode(b), b.len()),
        None => "none".to_owned(),
    };
    let _ = writeln!(s, "  user_data     {}", opt(&d.user_data));
    let _ = writeln!(s, "  nonce         {}", opt(&d.nonce));
    let _ = writeln!(s, "  public_key    {}", opt(&d.public_key));
    for (i, der) in d.cabundle.iter().chain([&d.certificate]).enumerate() {
        let role = if i == d.cabundle.len() {
            "leaf".to_owned()
        } else {
            format!("cabundle[{i}]")
        };
        match cert_summary(der) {
            Some(c) => {
                let _ = writeln!(
                    s,
                    "  {role:<13} {} ({} .. {})",
                    c.subject, c.not_before, c.not_after
                );
            }
            None => {
                let _ = writeln!(s, "  {role:<13} <not a parseable certificate>");
            }
        }
    }
    s
}

fn nitro_json(doc: &UnverifiedDocument) -> serde_json::Value {
    let d = &doc.document;
    let certs: Vec<serde_json::Value> = d
        .cabundle
        .iter()
        .chain([&d.certificate])
        .map(|der| match cert_summary(der) {
            Some(c) => serde_json::json!({"subject": c.subject, "not_before": c.not_before, "not_after": c.not_after}),
            None => serde_json::Value::Null,
        })
        .collect();
    serde_json::json!({
        "unverified": true,
        "kind": "nitro-document",
        "tagged": doc.tagged,
        "aws_root": doc.claims_aws_root(),
        "module_id": d.module_id,
        "digest": d.digest,
        "timestamp_ms": d.timestamp_ms,
        "pcrs": d.pcrs.iter().map(|(k, v)| (k.to_string(), hex::encode(v))).collect::<BTreeMap<_, _>>(),
        "user_data": d.user_data.as_ref().map(hex::encode),
        "nonce": d.nonce.as_ref().map(hex::encode),
        "public_key": d.public_key.as_ref().map(hex::encode),
        "certificates": certs,
    })
}

fn tcb_text(r: &AttestationReport, raw: [u8; 8]) -> String {
    match r.cpuid_generation().flatten() {
        Some(g) => {
            let tcb = attestation::SnpTcb::decode(g, raw);
            let comps: Vec<String> = tcb
                .components()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{} ({g}: {})", hex::encode(raw), comps.join(" "))
        }
        None => format!("{} (generation unknown before report v3)", hex::encode(raw)),
    }
}

fn render_report(r: &AttestationReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{UNVERIFIED}");
    let _ = writeln!(s, "SEV-SNP attestation report");
    let rows: Vec<(&str, String)> = vec![
        ("version", r.version.to_string()),
        ("guest_svn", r.guest_svn.to_string()),
        (
            "policy",
            format!(
                "{:#x} (debug {}, ABI {}.{})",
                r.policy,
                if r.debug_allowed() { "ALLOWED" } else { "off" },
                (r.policy >> 8) & 0xFF,
                r.policy & 0xFF
            ),
        ),
        ("family_id", hex::encode(r.family_id)),
        ("image_id", hex::encode(r.image_id)),
        ("vmpl", r.vmpl.to_string()),
        ("signature_algo", r.signature_algo.to_string()),
        ("current_tcb", tcb_text(r, r.current_tcb)),
        ("platform_info", format!("{:#x}", r.platform_info)),
        (
            "signing_key",
            match r.signing_key_field() {
                0 => "VCEK".to_owned(),
                1 => "VLEK".to_owned(),
                7 => "none".to_owned(),
                n => format!("reserved ({n})"),
            },
        ),
        ("mask_chip_key", r.mask_chip_key().to_string()),
        ("report_data", hex::encode(r.report_data)),
        ("measurement", hex::encode(r.measurement)),
        ("host_data", hex::encode(r.host_data)),
        ("id_key_digest", hex::encode(r.id_key_digest)),
        ("author_key_digest", hex::encode(r.author_key_digest)),
        ("report_id", hex::encode(r.report_id)),
        ("report_id_ma", hex::encode(r.report_id_ma)),
        ("reported_tcb", tcb_text(r, r.reported_tcb)),
        (
            "cpuid",
            format!(
                "family {:#x} model {:#x} stepping {:#x}{}",
                r.cpuid_fam_id,
                r.cpuid_mod_id,
                r.cpuid_step,
                match r.cpuid_generation() {
                    Some(Some(g)) => format!(" ({g})"),
                    Some(None) => " (unknown processor)".to_owned(),
                    None => String::new(),
                }
            ),
        ),
        ("chip_id", hex::encode(r.chip_id)),
        ("committed_tcb", tcb_text(r, r.committed_tcb)),
        (
            "current_fw",
            format!(
                "{}.{}.{}",
                r.current_version.0, r.current_version.1, r.current_version.2
            ),
        ),
        (
            "committed_fw",
            format!(
                "{}.{}.{}",
                r.committed_version.0, r.committed_version.1, r.committed_version.2
            ),
        ),
        ("launch_tcb", tcb_text(r, r.launch_tcb)),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "  {k:<18} {v}");
    }
    s
}

fn snp_json(r: &AttestationReport) -> serde_json::Value {
    serde_json::json!({
        "unverified": true,
        "kind": "sev-snp-report",
        "version": r.version,
        "guest_svn": r.guest_svn,
        "policy": r.policy,
        "debug_allowed": r.debug_allowed(),
        "family_id": hex::encode(r.family_id),
        "image_id": hex::encode(r.image_id),
        "vmpl": r.vmpl,
        "signature_algo": r.signature_algo,
        "current_tcb": hex::encode(r.current_tcb),
        "platform_info": r.platform_info,
        "signing_key": r.signing_key_field(),
        "mask_chip_key": r.mask_chip_key(),
        "report_data": hex::encode(r.report_data),
        "measurement": hex::encode(r.measurement),
        "host_data": hex::encode(r.host_data),
        "id_key_digest": hex::encode(r.id_key_digest),
        "author_key_digest": hex::encode(r.author_key_digest),
        "report_id": hex::encode(r.report_id),
        "report_id_ma": hex::encode(r.report_id_ma),
        "reported_tcb": hex::encode(r.reported_tcb),
        "cpuid": [r.cpuid_fam_id, r.cpuid_mod_id, r.cpuid_step],
        "chip_id": hex::encode(r.chip_id),
        "committed_tcb": hex::encode(r.committed_tcb),
        "launch_tcb": hex::encode(r.launch_tcb),
    })
}
