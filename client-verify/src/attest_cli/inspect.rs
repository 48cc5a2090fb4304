//! `sealboost attest inspect`: print the parsed, UNVERIFIED fields of evidence.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use attestation::nitro::UnverifiedDocument;
use attestation::snp::{self, AttestationReport};
use attestation::UnixTime;
use der::Decode;

use super::{maybe_base64, read_file, InspectArgs, Usage, EXIT_ACCEPTED, EXIT_REJECTED};

pub(super) fn run_inspect(args: &InspectArgs) -> Result<u8, Usage> {
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
