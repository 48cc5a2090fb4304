//! SIMULATED attestation: Nitro-format documents signed by an operator-generated CA.
//!
//! This is **not a TEE**. It exists so the whole system (and CI) runs on a machine
//! without Nitro or SEV-SNP while keeping the security-relevant behaviour: documents are
//! real COSE_Sign1/ES384 with a certificate chain, and PCR0 is the SHA-384 of the actual
//! enclave executable, so a rebuilt or modified enclave fails a policy pinned to the old
//! value exactly as on hardware.
//!
//! Simulated evidence is accepted only by a policy with an explicit `[simulated]` section
//! naming the root's SHA-256 fingerprint; no flag or build option enables it.
//!
//! PCRs in simulation:
//! - PCR0 = SHA-384(enclave executable bytes)
//! - PCR1 = SHA-384(`b"sealboost simulated platform v1"`) — constant
//! - PCR2 = SHA-384(`b"sealboost simulated application v1"`) — constant
//! - PCR3..PCR15 = 48 zero bytes (as on Nitro when unused)

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use base64::Engine as _;
use ciborium::value::{Integer, Value};
use p384::ecdsa::signature::Signer;
use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_core::{CryptoRngCore, OsRng, RngCore};
use sha2::{Digest, Sha256, Sha384};
use zeroize::Zeroizing;

use crate::certgen::{self, Params, Role};
use crate::claims::{Claims, Platform};
use crate::error::Error;
use crate::nitro::{self, UnverifiedDocument};
use crate::time::UnixTime;
use crate::x509::Cert;
use crate::{Policy, Verified};

/// Hashed into PCR1 of every simulated enclave.
pub const SIMULATED_PLATFORM_LABEL: &[u8] = b"sealboost simulated platform v1";
/// Hashed into PCR2 of every simulated enclave.
pub const SIMULATED_APPLICATION_LABEL: &[u8] = b"sealboost simulated application v1";
/// Validity of a per-boot leaf certificate (the real NSM's are about 3 hours).
pub const LEAF_LIFETIME_SECS: u64 = 3 * 3600;
/// Root certificate lifetime.
pub const ROOT_LIFETIME_SECS: u64 = 20 * 365 * 24 * 3600;
/// Intermediate certificate lifetime.
pub const INTERMEDIATE_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;
/// Certificates start this much before "now", to tolerate small clock differences.
const BACKDATE_SECS: u64 = 300;
/// Number of PCRs in a document, like the NSM.
const PCR_COUNT: u8 = 16;

const ROOT_SUBJECT: &str = "CN=sealboost SIMULATION root (NOT A TEE),O=sealboost";
const INTERMEDIATE_SUBJECT: &str = "CN=sealboost SIMULATION intermediate,O=sealboost";
const LEAF_SUBJECT: &str = "CN=sealboost SIMULATION attester,O=sealboost";

/// The PCRs of a simulated enclave running `exe_bytes` (see the module docs).
pub fn enclave_pcrs(exe_bytes: &[u8]) -> BTreeMap<u8, [u8; 48]> {
    let mut pcrs = BTreeMap::new();
    pcrs.insert(0, Sha384::digest(exe_bytes).into());
    pcrs.insert(1, Sha384::digest(SIMULATED_PLATFORM_LABEL).into());
    pcrs.insert(2, Sha384::digest(SIMULATED_APPLICATION_LABEL).into());
    pcrs
}

fn secret_to_pem(key: &p384::SecretKey) -> Result<Zeroizing<String>, Error> {
    let doc = key.to_pkcs8_der().map_err(|_| Error::Encoding {
        what: "private key",
    })?;
    Ok(pem_block("PRIVATE KEY", doc.as_bytes()))
}

fn pem_block(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = Zeroizing::new(format!("-----BEGIN {label}-----\n"));
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// One PEM block: label and decoded bytes (which may be a private key).
type PemBlock = (String, Zeroizing<Vec<u8>>);

/// Splits PEM text into blocks; text outside blocks is ignored.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, Error> {
    let malformed = |reason| Error::SimulationMaterialMalformed { reason };
    let mut out = Vec::new();
    let mut current: Option<(String, Zeroizing<String>)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            if current.is_some() {
                return Err(malformed("nested BEGIN line"));
            }
            current = Some((label.to_owned(), Zeroizing::new(String::new())));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            let (begin, body) = current
                .take()
                .ok_or_else(|| malformed("END without BEGIN"))?;
            if begin != label {
                return Err(malformed("END label differs from BEGIN label"));
            }
            let der = base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|_| malformed("bad base64"))?;
            out.push((begin, Zeroizing::new(der)));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    if current.is_some() {
        return Err(malformed("BEGIN without END"));
    }
    Ok(out)
}

fn expect_blocks(text: &str, labels: &[&str]) -> Result<Vec<Zeroizing<Vec<u8>>>, Error> {
    let blocks = pem_blocks(text)?;
    if blocks.len() != labels.len() || blocks.iter().zip(labels).any(|((l, _), want)| l != want) {
        return Err(Error::SimulationMaterialMalformed {
            reason: "unexpected PEM blocks (see the simulated module docs for the order)",
        });
    }
    Ok(blocks.into_iter().map(|(_, der)| der).collect())
}

fn key_from_der(der: &[u8]) -> Result<p384::SecretKey, Error> {
    p384::SecretKey::from_pkcs8_der(der).map_err(|_| Error::SimulationMaterialMalformed {
        reason: "private key is not a PKCS#8 P-384 key",
    })
}

fn check_key_matches(cert_der: &[u8], key: &p384::SecretKey) -> Result<(), Error> {
    let cert = Cert::parse(cert_der, 0)?;
    let cert_key = cert.p384_key().ok_or(Error::SimulationMaterialMalformed {
        reason: "certificate key is not P-384",
    })?;
    if cert_key != p384::ecdsa::VerifyingKey::from(&key.public_key()) {
        return Err(Error::SimulationMaterialMalformed {
            reason: "private key does not match its certificate",
        });
    }
    Ok(())
}

/// What a simulated enclave needs to sign documents: the intermediate key and the
/// certificates up to the root. Secret; keep it out of logs.
pub struct AttesterMaterial {
    intermediate_key: p384::SecretKey,
    intermediate_cert: Vec<u8>,
    root_cert: Vec<u8>,
}

impl fmt::Debug for AttesterMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttesterMaterial")
            .field("intermediate_key", &"<redacted>")
            .field("root_sha256", &hex::encode(Sha256::digest(&self.root_cert)))
            .finish()
    }
}

impl AttesterMaterial {
    /// PEM: intermediate CERTIFICATE, intermediate PRIVATE KEY, root CERTIFICATE.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, Error> {
        let mut out = Zeroizing::new(String::from(
            "# sealboost SIMULATION attester material (NOT A TEE): intermediate cert, key, root cert\n",
        ));
        out.push_str(&pem_block("CERTIFICATE", &self.intermediate_cert));
        out.push_str(&secret_to_pem(&self.intermediate_key)?);
        out.push_str(&pem_block("CERTIFICATE", &self.root_cert));
        Ok(out)
    }

    /// Reads what [`AttesterMaterial::to_pem`] wrote.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let b = expect_blocks(text, &["CERTIFICATE", "PRIVATE KEY", "CERTIFICATE"])?;
        let intermediate_key = key_from_der(&b[1])?;
        check_key_matches(&b[0], &intermediate_key)?;
        Cert::parse(&b[2], 0)?;
        Ok(Self {
            intermediate_key,
            intermediate_cert: b[0].to_vec(),
            root_cert: b[2].to_vec(),
        })
    }

    /// The simulation root certificate (DER).
    pub fn root_cert_der(&self) -> &[u8] {
        &self.root_cert
    }
}

/// An operator-generated simulation CA: a self-signed P-384 root and one intermediate.
pub struct SimulationCa {
    root_key: p384::SecretKey,
    attester: AttesterMaterial,
}

impl fmt::Debug for SimulationCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulationCa")
            .field("root_key", &"<redacted>")
            .field("attester", &self.attester)
            .finish()
    }
}

impl SimulationCa {
    /// Generates a new CA with the system clock and randomness.
    pub fn generate() -> Result<Self, Error> {
        Self::generate_with(&mut OsRng, UnixTime::now())
    }

    /// Generates a new CA valid from `now` (minus a small backdate).
    pub fn generate_with(rng: &mut impl CryptoRngCore, now: UnixTime) -> Result<Self, Error> {
        let start = now.as_secs().saturating_sub(BACKDATE_SECS);
        let root_key = p384::SecretKey::random(&mut *rng);
        let root_signer = p384::ecdsa::SigningKey::from(&root_key);
        let root_cert = certgen::issue(
            Params {
                subject: ROOT_SUBJECT,
                issuer: ROOT_SUBJECT,
                not_before: start,
                not_after: start.saturating_add(ROOT_LIFETIME_SECS),
                role: Role::Ca { path_len: None },
            },
            &root_key.public_key(),
            &root_signer,
            rng,
        )?;
        let intermediate_key = p384::SecretKey::random(&mut *rng);
        let intermediate_cert = certgen::issue(
            Params {
                subject: INTERMEDIATE_SUBJECT,
                issuer: ROOT_SUBJECT,
                not_before: start,
                not_after: start.saturating_add(INTERMEDIATE_LIFETIME_SECS),
                role: Role::Ca { path_len: Some(0) },
            },
            &intermediate_key.public_key(),
            &root_signer,
            rng,
        )?;
        Ok(Self {
            root_key,
            attester: AttesterMaterial {
                intermediate_key,
                intermediate_cert,
                root_cert,
            },
        })
    }

    /// PEM: root CERTIFICATE, root PRIVATE KEY, intermediate CERTIFICATE, intermediate
    /// PRIVATE KEY. Secret; store it 0600.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, Error> {
        let mut out = Zeroizing::new(String::from(
            "# sealboost SIMULATION CA (NOT A TEE): root cert, root key, intermediate cert, intermediate key\n",
        ));
        out.push_str(&pem_block("CERTIFICATE", &self.attester.root_cert));
        out.push_str(&secret_to_pem(&self.root_key)?);
        out.push_str(&pem_block("CERTIFICATE", &self.attester.intermediate_cert));
        out.push_str(&secret_to_pem(&self.attester.intermediate_key)?);
        Ok(out)
    }

    /// Reads what [`SimulationCa::to_pem`] wrote.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let b = expect_blocks(
            text,
            &["CERTIFICATE", "PRIVATE KEY", "CERTIFICATE", "PRIVATE KEY"],
        )?;
        let root_key = key_from_der(&b[1])?;
        check_key_matches(&b[0], &root_key)?;
        let intermediate_key = key_from_der(&b[3])?;
        check_key_matches(&b[2], &intermediate_key)?;
        Ok(Self {
            root_key,
            attester: AttesterMaterial {
                intermediate_key,
                intermediate_cert: b[2].to_vec(),
                root_cert: b[0].to_vec(),
            },
        })
    }

    /// The root certificate (DER) whose SHA-256 a policy's `[simulated]` section names.
    pub fn root_cert_der(&self) -> &[u8] {
        &self.attester.root_cert
    }

    /// The root certificate as PEM (public).
    pub fn root_cert_pem(&self) -> String {
        pem_block("CERTIFICATE", &self.attester.root_cert).to_string()
    }

    /// SHA-256 of the root certificate DER, for `[simulated] trusted_root_sha256`.
    pub fn root_sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.attester.root_cert).into()
    }

    /// What to hand to a simulated enclave.
    pub fn attester_material(&self) -> AttesterMaterial {
        AttesterMaterial {
            intermediate_key: self.attester.intermediate_key.clone(),
            intermediate_cert: self.attester.intermediate_cert.clone(),
            root_cert: self.attester.root_cert.clone(),
        }
    }
}

struct Leaf {
    key: p384::ecdsa::SigningKey,
    cert: Vec<u8>,
    not_before: u64,
    not_after: u64,
}

/// Produces simulated attestation documents for one enclave boot.
pub struct SimulatedAttester {
    material: AttesterMaterial,
    pcrs: BTreeMap<u8, [u8; 48]>,
    module_id: String,
    leaf: Mutex<Option<Leaf>>,
}

impl fmt::Debug for SimulatedAttester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedAttester")
            .field("module_id", &self.module_id)
            .field("pcr0", &self.pcrs.get(&0).map(hex::encode))
            .finish_non_exhaustive()
    }
}

impl SimulatedAttester {
    /// An attester reporting `pcrs` (usually [`enclave_pcrs`]); PCRs up to 15 that are
    /// not given read as zero.
    pub fn new(material: AttesterMaterial, pcrs: BTreeMap<u8, [u8; 48]>) -> Result<Self, Error> {
        if pcrs.keys().any(|i| usize::from(*i) >= nitro::MAX_PCRS) {
            return Err(Error::FieldInvalid {
                field: "pcrs",
                reason: "index outside 0..32",
            });
        }
        let mut all = pcrs;
        for i in 0..PCR_COUNT {
            all.entry(i).or_insert([0u8; 48]);
        }
        let mut id = [0u8; 8];
        OsRng.fill_bytes(&mut id);
        Ok(Self {
            material,
            pcrs: all,
            module_id: format!("sealboost-simulated-{}", hex::encode(id)),
            leaf: Mutex::new(None),
        })
    }

    /// The PCRs this attester reports.
    pub fn pcrs(&self) -> &BTreeMap<u8, [u8; 48]> {
        &self.pcrs
    }

    /// A signed document at time `now`. `user_data` and `nonce` up to 512 bytes,
    /// `public_key` 1..=1024 bytes, as on Nitro.
    pub fn attest(
        &self,
        user_data: Option<&[u8]>,
        nonce: Option<&[u8]>,
        public_key: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<Vec<u8>, Error> {
        bound("user_data", user_data, 0, nitro::MAX_USER_DATA_LEN)?;
        bound("nonce", nonce, 0, nitro::MAX_NONCE_LEN)?;
        bound("public_key", public_key, 1, nitro::MAX_PUBLIC_KEY_LEN)?;

        let mut guard = self.leaf.lock().unwrap_or_else(|p| p.into_inner());
        let stale = guard.as_ref().is_none_or(|l| {
            now.as_secs() < l.not_before
                || now.as_secs().saturating_add(BACKDATE_SECS) > l.not_after
        });
        if stale {
            *guard = Some(self.new_leaf(now)?);
        }
        let leaf = guard.as_ref().ok_or(Error::Encoding { what: "leaf" })?;

        let opt = |v: Option<&[u8]>| v.map_or(Value::Null, |b| Value::Bytes(b.to_vec()));
        let text = |s: &str| Value::Text(s.to_owned());
        let pcrs = self
            .pcrs
            .iter()
            .map(|(i, v)| (Value::Integer(Integer::from(*i)), Value::Bytes(v.to_vec())))
            .collect();
        let payload = Value::Map(vec![
            (text("module_id"), text(&self.module_id)),
            (text("digest"), text("SHA384")),
            (
                text("timestamp"),
                Value::Integer(Integer::from(now.as_secs().saturating_mul(1000))),
            ),
            (text("pcrs"), Value::Map(pcrs)),
            (text("certificate"), Value::Bytes(leaf.cert.clone())),
            (
                text("cabundle"),
                Value::Array(vec![
                    Value::Bytes(self.material.root_cert.clone()),
                    Value::Bytes(self.material.intermediate_cert.clone()),
                ]),
            ),
            (text("public_key"), opt(public_key)),
            (text("user_data"), opt(user_data)),
            (text("nonce"), opt(nonce)),
        ]);
        let mut payload_bytes = Vec::new();
        ciborium::ser::into_writer(&payload, &mut payload_bytes)
            .map_err(|_| Error::Encoding { what: "document" })?;
        let protected = nitro::es384_protected_header()?;
        let tbs = nitro::sig_structure(&protected, &payload_bytes)?;
        let signature: p384::ecdsa::Signature = leaf.key.sign(&tbs);
        nitro::encode_cose_sign1(false, &protected, &payload_bytes, &signature.to_bytes())
    }

    fn new_leaf(&self, now: UnixTime) -> Result<Leaf, Error> {
        let key = p384::SecretKey::random(&mut OsRng);
        let not_before = now.as_secs().saturating_sub(BACKDATE_SECS);
        let not_after = now.as_secs().saturating_add(LEAF_LIFETIME_SECS);
        let cert = certgen::issue(
            Params {
                subject: LEAF_SUBJECT,
                issuer: INTERMEDIATE_SUBJECT,
                not_before,
                not_after,
                role: Role::Leaf,
            },
            &key.public_key(),
            &p384::ecdsa::SigningKey::from(&self.material.intermediate_key),
            &mut OsRng,
        )?;
        Ok(Leaf {
            key: p384::ecdsa::SigningKey::from(&key),
            cert,
            not_before,
            not_after,
        })
    }
}

fn bound(field: &'static str, v: Option<&[u8]>, min: usize, max: usize) -> Result<(), Error> {
    match v {
        Some(b) if b.len() > max => Err(Error::FieldTooLarge {
            field,
            len: b.len(),
            max,
        }),
        Some(b) if b.len() < min => Err(Error::FieldInvalid {
            field,
            reason: "too short",
        }),
        _ => Ok(()),
    }
}

/// Verifies a simulated document whose root is `root_der`, which must be the root the
/// policy's `[simulated]` section names.
pub fn verify_simulated_with_root(
    document: &[u8],
    root_der: &[u8],
    policy: &Policy,
    now: UnixTime,
) -> Result<Verified<Claims>, Error> {
    // 1. Trust comes only from the policy: no `[simulated]` section, no simulation.
    let sim = policy
        .simulated
        .as_ref()
        .ok_or(Error::SimulatedRootNotTrusted)?;
    // 2. The root must be the one whose fingerprint the policy names.
    let found: [u8; 32] = Sha256::digest(root_der).into();
    if found != sim.trusted_root_sha256 {
        return Err(Error::SimulatedRootMismatch {
            found: hex::encode(found),
        });
    }
    // 3. From here on, exactly the Nitro verification, with the simulation root.
    nitro::verify_pcr_document(
        document,
        root_der,
        &sim.pcrs,
        Platform::Simulated,
        policy.origin.clone(),
        now,
    )
    .map(Verified::new)
}

/// [`verify_simulated_with_root`] with the root taken from the document's `cabundle[0]`
/// (trusted only if its fingerprint is the policy's).
pub(crate) fn verify_simulated(
    document: &[u8],
    policy: &Policy,
    now: UnixTime,
) -> Result<Verified<Claims>, Error> {
    if policy.simulated.is_none() {
        return Err(Error::SimulatedRootNotTrusted);
    }
    let parsed = UnverifiedDocument::parse(document)?;
    let root = parsed
        .document
        .cabundle
        .first()
        .ok_or(Error::FieldInvalid {
            field: "cabundle",
            reason: "empty",
        })?;
    verify_simulated_with_root(document, root, policy, now)
}
