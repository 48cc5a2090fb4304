//! Just enough PEM (RFC 7468) for certificates and keys the operator hands us.

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::DeployError;

fn malformed(reason: &'static str) -> DeployError {
    DeployError::PemMalformed { reason }
}

/// The decoded contents of every `label` block in `text`, in order. Text outside blocks
/// is ignored (openssl writes comments there); other labels are skipped.
pub fn decode_all(text: &str, label: &str) -> Result<Vec<Zeroizing<Vec<u8>>>, DeployError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut body: Option<Zeroizing<String>> = None;
    for line in text.lines().map(str::trim) {
        if line == begin {
            if body.is_some() {
                return Err(malformed("nested BEGIN line"));
            }
            body = Some(Zeroizing::new(String::new()));
        } else if line == end {
            let b64 = body.take().ok_or_else(|| malformed("END without BEGIN"))?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| malformed("bad base64"))?;
            out.push(Zeroizing::new(der));
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    if body.is_some() {
        return Err(malformed("BEGIN without END"));
    }
    Ok(out)
}

/// The first `label` block of `text`.
pub fn decode_first(text: &str, label: &str) -> Result<Zeroizing<Vec<u8>>, DeployError> {
    decode_all(text, label)?
        .into_iter()
        .next()
        .ok_or_else(|| malformed("no block with the expected label"))
}

/// One PEM block with 64-column base64.
pub fn encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = Zeroizing::new(format!("-----BEGIN {label}-----\n"));
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 output is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
