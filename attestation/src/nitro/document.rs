//! Decoding of the COSE_Sign1 envelope and the attestation document payload
//! ("Nitro Enclaves Attestation Process" §2.2, §3.1, §3.2.2; RFC 9052 §4.2, §4.4).
//! Syntax only: nothing here checks a signature or a certificate.

use std::collections::BTreeMap;

use ciborium::value::{Integer, Value};

use super::{
    COSE_ALG_ES384, COSE_SIGN1_TAG, MAX_CABUNDLE_LEN, MAX_CERT_LEN, MAX_DOCUMENT_LEN,
    MAX_MODULE_ID_LEN, MAX_NONCE_LEN, MAX_PAYLOAD_LEN, MAX_PCRS, MAX_PROTECTED_LEN,
    MAX_PUBLIC_KEY_LEN, MAX_USER_DATA_LEN, PCR_LEN, SIGNATURE_LEN,
};
use crate::error::Error;
use crate::roots;

/// The attestation document inside the COSE_Sign1 payload (§2.2). Parsing checks syntax
/// only; nothing in here is trusted until [`super::verify_nitro_with_root`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttestationDocument {
    /// Issuing NSM module id.
    pub module_id: String,
    /// Always `"SHA384"` once parsed.
    pub digest: String,
    /// Milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// Locked PCRs, each 48 bytes.
    pub pcrs: BTreeMap<u8, [u8; PCR_LEN]>,
    /// Signing (leaf) certificate, DER.
    pub certificate: Vec<u8>,
    /// Issuing chain, root first, DER.
    pub cabundle: Vec<Vec<u8>>,
    /// Optional public key chosen by the enclave.
    pub public_key: Option<Vec<u8>>,
    /// Optional user data chosen by the enclave.
    pub user_data: Option<Vec<u8>>,
    /// Optional nonce chosen by the verifier.
    pub nonce: Option<Vec<u8>>,
}

/// A syntactically valid, **unverified** Nitro (or simulated) attestation document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnverifiedDocument {
    /// Whether the COSE_Sign1 carried CBOR tag 18.
    pub tagged: bool,
    /// Raw protected header bytes.
    pub protected: Vec<u8>,
    /// Raw payload bytes (the CBOR attestation document).
    pub payload: Vec<u8>,
    /// Raw signature (r ‖ s).
    pub signature: Vec<u8>,
    /// The decoded payload.
    pub document: AttestationDocument,
}

impl UnverifiedDocument {
    /// Decodes and syntactically validates a document (§3.1, §3.2.2) without checking any
    /// signature or certificate. For inspection and platform detection only.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        // 1. Bound the input before decoding anything.
        if bytes.len() > MAX_DOCUMENT_LEN {
            return Err(Error::EvidenceTooLarge {
                len: bytes.len(),
                max: MAX_DOCUMENT_LEN,
            });
        }
        // 2. §3.1: COSE_Sign1, tagged (18) or untagged; canonical encoding only.
        let cose = parse_cose_sign1(bytes)?;
        // 3. §3.1: protected header is exactly {1: -35} (ES384); unprotected is empty
        //    (checked in parse_cose_sign1).
        check_protected_header(&cose.protected)?;
        // 4. §3.2.2: decode the payload and check every field's type and bounds.
        let document = parse_document(&cose.payload)?;
        Ok(Self {
            tagged: cose.tagged,
            protected: cose.protected,
            payload: cose.payload,
            signature: cose.signature,
            document,
        })
    }

    /// Whether `cabundle[0]` is the pinned AWS Nitro root G1 (says nothing about validity).
    pub fn claims_aws_root(&self) -> bool {
        self.document
            .cabundle
            .first()
            .is_some_and(|c| c.as_slice() == roots::AWS_NITRO_ROOT_G1_DER)
    }

    /// The RFC 9052 §4.4 `Sig_structure` that the signature covers:
    /// `["Signature1", protected, h'' (external_aad), payload]`.
    pub fn to_be_signed(&self) -> Result<Vec<u8>, Error> {
        sig_structure(&self.protected, &self.payload)
    }
}

struct CoseSign1 {
    tagged: bool,
    protected: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

fn cose_err(reason: &'static str) -> Error {
    Error::CoseMalformed { reason }
}

fn parse_cose_sign1(bytes: &[u8]) -> Result<CoseSign1, Error> {
    let mut rest = bytes;
    let value: Value =
        ciborium::de::from_reader(&mut rest).map_err(|_| cose_err("not a CBOR item"))?;
    if !rest.is_empty() {
        return Err(cose_err("trailing bytes after COSE_Sign1"));
    }
    let (tagged, inner) = match value {
        Value::Tag(COSE_SIGN1_TAG, inner) => (true, *inner),
        Value::Tag(..) => return Err(cose_err("unexpected CBOR tag")),
        other => (false, other),
    };
    let Value::Array(items) = inner else {
        return Err(cose_err("not an array"));
    };
    let Ok([protected, unprotected, payload, signature]) = <[Value; 4]>::try_from(items) else {
        return Err(cose_err("array does not have 4 elements"));
    };
    let Value::Bytes(protected) = protected else {
        return Err(cose_err("protected header is not a byte string"));
    };
    match unprotected {
        Value::Map(m) if m.is_empty() => {}
        Value::Map(_) => return Err(cose_err("unprotected header is not empty")),
        _ => return Err(cose_err("unprotected header is not a map")),
    }
    let Value::Bytes(payload) = payload else {
        return Err(cose_err(
            "payload is not a byte string (detached payloads unsupported)",
        ));
    };
    let Value::Bytes(signature) = signature else {
        return Err(cose_err("signature is not a byte string"));
    };
    if protected.len() > MAX_PROTECTED_LEN {
        return Err(Error::FieldTooLarge {
            field: "protected",
            len: protected.len(),
            max: MAX_PROTECTED_LEN,
        });
    }
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(Error::PayloadTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD_LEN,
        });
    }
    if signature.len() != SIGNATURE_LEN {
        return Err(Error::SignatureMalformed {
            reason: "ES384 signature must be 96 bytes",
        });
    }
    // The outer structure is not signed, so accept exactly one encoding of it: any other
    // byte string (indefinite lengths, non-minimal heads) is refused.
    let canonical = encode_cose_sign1(tagged, &protected, &payload, &signature)?;
    if canonical != bytes {
        return Err(cose_err("not in canonical CBOR encoding"));
    }
    Ok(CoseSign1 {
        tagged,
        protected,
        payload,
        signature,
    })
}

fn check_protected_header(protected: &[u8]) -> Result<(), Error> {
    let mut rest = protected;
    let value: Value = ciborium::de::from_reader(&mut rest)
        .map_err(|_| cose_err("protected header is not CBOR"))?;
    if !rest.is_empty() {
        return Err(cose_err("trailing bytes in protected header"));
    }
    let Value::Map(entries) = value else {
        return Err(cose_err("protected header is not a map"));
    };
    let mut alg = None;
    for (k, v) in entries {
        match (k, v) {
            (Value::Integer(k), Value::Integer(v)) if i128::from(k) == 1 && alg.is_none() => {
                alg = Some(i128::from(v));
            }
            _ => return Err(cose_err("unexpected protected header parameter")),
        }
    }
    match alg {
        Some(COSE_ALG_ES384) => Ok(()),
        Some(other) => Err(Error::UnsupportedAlgorithm {
            context: "COSE protected header",
            found: other.to_string(),
        }),
        None => Err(cose_err("protected header has no algorithm")),
    }
}

fn payload_err(reason: &'static str) -> Error {
    Error::PayloadMalformed { reason }
}

fn bytes_field(field: &'static str, v: Value, min: usize, max: usize) -> Result<Vec<u8>, Error> {
    let Value::Bytes(b) = v else {
        return Err(Error::FieldInvalid {
            field,
            reason: "not a byte string",
        });
    };
    if b.len() > max {
        return Err(Error::FieldTooLarge {
            field,
            len: b.len(),
            max,
        });
    }
    if b.len() < min {
        return Err(Error::FieldInvalid {
            field,
            reason: "too short",
        });
    }
    Ok(b)
}

/// Optional fields: absent or CBOR null (what the NSM emits for "not requested") is None.
fn optional_bytes(
    field: &'static str,
    v: Value,
    min: usize,
    max: usize,
) -> Result<Option<Vec<u8>>, Error> {
    match v {
        Value::Null => Ok(None),
        other => bytes_field(field, other, min, max).map(Some),
    }
}

fn parse_document(payload: &[u8]) -> Result<AttestationDocument, Error> {
    let mut rest = payload;
    let value: Value =
        ciborium::de::from_reader(&mut rest).map_err(|_| payload_err("not a CBOR item"))?;
    if !rest.is_empty() {
        return Err(payload_err("trailing bytes after the document map"));
    }
    let Value::Map(entries) = value else {
        return Err(payload_err("not a map"));
    };

    let mut module_id = None;
    let mut digest = None;
    let mut timestamp = None;
    let mut pcrs = None;
    let mut certificate = None;
    let mut cabundle = None;
    let mut public_key = None;
    let mut user_data = None;
    let mut nonce = None;

    // §3.2.2.1: only the nine known fields, each at most once.
    for (k, v) in entries {
        let Value::Text(key) = k else {
            return Err(payload_err("map key is not a text string"));
        };
        let slot_taken = |present: bool| {
            if present {
                Err(payload_err("duplicate field"))
            } else {
                Ok(())
            }
        };
        match key.as_str() {
            "module_id" => {
                slot_taken(module_id.is_some())?;
                module_id = Some(parse_module_id(v)?);
            }
            "digest" => {
                slot_taken(digest.is_some())?;
                let Value::Text(d) = v else {
                    return Err(Error::FieldInvalid {
                        field: "digest",
                        reason: "not a text string",
                    });
                };
                digest = Some(d);
            }
            "timestamp" => {
                slot_taken(timestamp.is_some())?;
                timestamp = Some(parse_timestamp(v)?);
            }
            "pcrs" => {
                slot_taken(pcrs.is_some())?;
                pcrs = Some(parse_pcrs(v)?);
            }
            "certificate" => {
                slot_taken(certificate.is_some())?;
                certificate = Some(bytes_field("certificate", v, 1, MAX_CERT_LEN)?);
            }
            "cabundle" => {
                slot_taken(cabundle.is_some())?;
                cabundle = Some(parse_cabundle(v)?);
            }
            "public_key" => {
                slot_taken(public_key.is_some())?;
                public_key = Some(optional_bytes("public_key", v, 1, MAX_PUBLIC_KEY_LEN)?);
            }
            "user_data" => {
                slot_taken(user_data.is_some())?;
                user_data = Some(optional_bytes("user_data", v, 0, MAX_USER_DATA_LEN)?);
            }
            "nonce" => {
                slot_taken(nonce.is_some())?;
                nonce = Some(optional_bytes("nonce", v, 0, MAX_NONCE_LEN)?);
            }
            _ => return Err(payload_err("unknown field")),
        }
    }

    let digest = digest.ok_or(Error::FieldMissing { field: "digest" })?;
    // §3.2.2.2: digest ∈ {"SHA384"}.
    if digest != "SHA384" {
        return Err(Error::UnsupportedAlgorithm {
            context: "document digest",
            found: digest.chars().take(16).collect(),
        });
    }
    Ok(AttestationDocument {
        module_id: module_id.ok_or(Error::FieldMissing { field: "module_id" })?,
        digest,
        timestamp_ms: timestamp.ok_or(Error::FieldMissing { field: "timestamp" })?,
        pcrs: pcrs.ok_or(Error::FieldMissing { field: "pcrs" })?,
        certificate: certificate.ok_or(Error::FieldMissing {
            field: "certificate",
        })?,
        cabundle: cabundle.ok_or(Error::FieldMissing { field: "cabundle" })?,
        public_key: public_key.flatten(),
        user_data: user_data.flatten(),
        nonce: nonce.flatten(),
    })
}

fn parse_module_id(v: Value) -> Result<String, Error> {
    let Value::Text(id) = v else {
        return Err(Error::FieldInvalid {
            field: "module_id",
            reason: "not a text string",
        });
    };
    if id.is_empty() {
        return Err(Error::FieldInvalid {
            field: "module_id",
            reason: "empty",
        });
    }
    if id.len() > MAX_MODULE_ID_LEN {
        return Err(Error::FieldTooLarge {
            field: "module_id",
            len: id.len(),
            max: MAX_MODULE_ID_LEN,
        });
    }
    Ok(id)
}

fn parse_timestamp(v: Value) -> Result<u64, Error> {
    let invalid = |reason| Error::FieldInvalid {
        field: "timestamp",
        reason,
    };
    let Value::Integer(i) = v else {
        return Err(invalid("not an integer"));
    };
    let t = u64::try_from(i).map_err(|_| invalid("negative or too large"))?;
    if t == 0 {
        return Err(invalid("zero"));
    }
    Ok(t)
}

fn parse_pcrs(v: Value) -> Result<BTreeMap<u8, [u8; PCR_LEN]>, Error> {
    let invalid = |reason| Error::FieldInvalid {
        field: "pcrs",
        reason,
    };
    let Value::Map(entries) = v else {
        return Err(invalid("not a map"));
    };
    if entries.is_empty() {
        return Err(invalid("empty"));
    }
    if entries.len() > MAX_PCRS {
        return Err(Error::FieldTooLarge {
            field: "pcrs",
            len: entries.len(),
            max: MAX_PCRS,
        });
    }
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let Value::Integer(k) = k else {
            return Err(invalid("index is not an integer"));
        };
        let index = u8::try_from(k)
            .ok()
            .filter(|i| usize::from(*i) < MAX_PCRS)
            .ok_or_else(|| invalid("index outside 0..32"))?;
        let Value::Bytes(value) = v else {
            return Err(invalid("value is not a byte string"));
        };
        // §3.2.2.2 allows 32/48/64 bytes; with digest SHA384 every PCR is 48.
        let value: [u8; PCR_LEN] = value
            .try_into()
            .map_err(|_| invalid("value is not 48 bytes"))?;
        if out.insert(index, value).is_some() {
            return Err(invalid("duplicate index"));
        }
    }
    Ok(out)
}

fn parse_cabundle(v: Value) -> Result<Vec<Vec<u8>>, Error> {
    let Value::Array(items) = v else {
        return Err(Error::FieldInvalid {
            field: "cabundle",
            reason: "not an array",
        });
    };
    if items.is_empty() {
        return Err(Error::FieldInvalid {
            field: "cabundle",
            reason: "empty",
        });
    }
    if items.len() > MAX_CABUNDLE_LEN {
        return Err(Error::FieldTooLarge {
            field: "cabundle",
            len: items.len(),
            max: MAX_CABUNDLE_LEN,
        });
    }
    items
        .into_iter()
        .map(|c| bytes_field("cabundle", c, 1, MAX_CERT_LEN))
        .collect()
}

fn to_vec(value: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out)
        .map_err(|_| Error::Encoding { what: "CBOR value" })?;
    Ok(out)
}

/// Encodes a COSE_Sign1 with an empty unprotected header.
pub(crate) fn encode_cose_sign1(
    tagged: bool,
    protected: &[u8],
    payload: &[u8],
    signature: &[u8],
) -> Result<Vec<u8>, Error> {
    let array = Value::Array(vec![
        Value::Bytes(protected.to_vec()),
        Value::Map(Vec::new()),
        Value::Bytes(payload.to_vec()),
        Value::Bytes(signature.to_vec()),
    ]);
    let value = if tagged {
        Value::Tag(COSE_SIGN1_TAG, Box::new(array))
    } else {
        array
    };
    to_vec(&value)
}

/// RFC 9052 §4.4 `Sig_structure` for COSE_Sign1 with empty external AAD.
pub(crate) fn sig_structure(protected: &[u8], payload: &[u8]) -> Result<Vec<u8>, Error> {
    to_vec(&Value::Array(vec![
        Value::Text("Signature1".to_owned()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.to_vec()),
    ]))
}

/// The ES384 protected header `{1: -35}`.
pub(crate) fn es384_protected_header() -> Result<Vec<u8>, Error> {
    to_vec(&Value::Map(vec![(
        Value::Integer(Integer::from(1)),
        Value::Integer(Integer::from(-35)),
    )]))
}
