//! Fake signers: arbitrary, correctly (or deliberately incorrectly) signed evidence for
//! targeted negative tests. Fake PKIs mirror the real ones (P-384 Nitro chain; RSA-PSS
//! AMD chain with a P-384 VCEK/VLEK) so each verification step can be hit in isolation.

use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use attestation::roots::{AmdGenerationRoots, AmdRoots};
use attestation::Generation;
use ciborium::value::{Integer, Value};
use der::asn1::{BitString, OctetString, UtcTime};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode};
use p384::ecdsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use p384::pkcs8::EncodePublicKey;
use rand_core::{OsRng, RngCore};
use sha2::Sha384;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

pub const DAY: u64 = 86_400;
/// The "now" of fake evidence: 2025-09-01T00:00:00Z.
pub const NOW: u64 = 1_756_684_800;

const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

// ----- certificates ----------------------------------------------------------------------

/// Everything about one certificate that a test may want to get wrong.
#[derive(Clone, Debug)]
pub struct CertSpec {
    pub subject: String,
    pub issuer: String,
    pub not_before: u64,
    pub not_after: u64,
    /// `Some(path_len)` for a CA, `None` for an end entity.
    pub ca: Option<Option<u8>>,
    /// Omit basicConstraints entirely.
    pub omit_basic_constraints: bool,
    pub key_usage: Option<KeyUsage>,
    pub extra: Vec<Extension>,
    /// Serial number bytes (two's complement, as encoded).
    pub serial: Vec<u8>,
}

impl CertSpec {
    pub fn ca(subject: &str, issuer: &str, path_len: Option<u8>) -> Self {
        Self {
            subject: subject.to_owned(),
            issuer: issuer.to_owned(),
            not_before: NOW - 365 * DAY,
            not_after: NOW + 3650 * DAY,
            ca: Some(path_len),
            omit_basic_constraints: false,
            key_usage: Some(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)),
            extra: Vec::new(),
            serial: vec![0x01, 0x02],
        }
    }

    pub fn leaf(subject: &str, issuer: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            issuer: issuer.to_owned(),
            not_before: NOW - 3600,
            not_after: NOW + 3 * 3600,
            ca: None,
            omit_basic_constraints: false,
            key_usage: Some(KeyUsage(KeyUsages::DigitalSignature.into())),
            extra: Vec::new(),
            serial: vec![0x03],
        }
    }

    fn extensions(&self) -> Vec<Extension> {
        let mut exts = Vec::new();
        if !self.omit_basic_constraints {
            let bc = match self.ca {
                Some(path_len) => BasicConstraints {
                    ca: true,
                    path_len_constraint: path_len,
                },
                None => BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
            };
            exts.push(ext(BasicConstraints_OID, true, bc.to_der().unwrap()));
        }
        if let Some(ku) = self.key_usage {
            exts.push(ext(KeyUsage_OID, true, ku.to_der().unwrap()));
        }
        exts.extend(self.extra.iter().cloned());
        exts
    }
}

#[allow(non_upper_case_globals)]
const BasicConstraints_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
#[allow(non_upper_case_globals)]
const KeyUsage_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

pub fn ext(oid: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).unwrap(),
    }
}

fn time(secs: u64) -> Time {
    Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(secs)).unwrap())
}

fn tbs(
    spec: &CertSpec,
    spki: SubjectPublicKeyInfoOwned,
    alg: AlgorithmIdentifierOwned,
) -> TbsCertificate {
    TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&spec.serial).unwrap(),
        signature: alg,
        issuer: Name::from_str(&spec.issuer).unwrap(),
        validity: Validity {
            not_before: time(spec.not_before),
            not_after: time(spec.not_after),
        },
        subject: Name::from_str(&spec.subject).unwrap(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(spec.extensions()),
    }
}

fn assemble(tbs: TbsCertificate, alg: AlgorithmIdentifierOwned, sig: &[u8]) -> Vec<u8> {
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(sig).unwrap(),
    }
    .to_der()
    .unwrap()
}

pub fn p384_spki(key: &p384::ecdsa::SigningKey) -> SubjectPublicKeyInfoOwned {
    let der = key.verifying_key().to_public_key_der().unwrap();
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap()
}

pub fn rsa_spki(key: &rsa::RsaPrivateKey) -> SubjectPublicKeyInfoOwned {
    let der = key.to_public_key().to_public_key_der().unwrap();
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap()
}

/// Issues with ecdsa-with-SHA384 (or, when `sha256_alg`, labelled ecdsa-with-SHA256).
pub fn issue_ecdsa(
    spec: &CertSpec,
    subject: SubjectPublicKeyInfoOwned,
    issuer: &p384::ecdsa::SigningKey,
    sha256_alg: bool,
) -> Vec<u8> {
    let alg = AlgorithmIdentifierOwned {
        oid: if sha256_alg {
            ECDSA_SHA256
        } else {
            ECDSA_SHA384
        },
        parameters: None,
    };
    let tbs = tbs(spec, subject, alg.clone());
    let sig: p384::ecdsa::Signature = issuer.sign(&tbs.to_der().unwrap());
    assemble(tbs, alg, sig.to_der().as_bytes())
}

pub fn pss_alg(salt: u8) -> AlgorithmIdentifierOwned {
    let params = rsa::pkcs1::RsaPssParams::new::<Sha384>(salt);
    AlgorithmIdentifierOwned {
        oid: RSASSA_PSS,
        parameters: Some(Any::encode_from(&params).unwrap()),
    }
}

/// Issues with RSASSA-PSS SHA-384 (salt 48 unless told otherwise).
pub fn issue_pss(
    spec: &CertSpec,
    subject: SubjectPublicKeyInfoOwned,
    issuer: &rsa::RsaPrivateKey,
    salt: u8,
) -> Vec<u8> {
    let alg = pss_alg(salt);
    let tbs = tbs(spec, subject, alg.clone());
    let signer =
        rsa::pss::SigningKey::<Sha384>::new_with_salt_len(issuer.clone(), usize::from(salt));
    let sig = signer.sign_with_rng(&mut OsRng, &tbs.to_der().unwrap());
    assemble(tbs, alg, &sig.to_vec())
}

// ----- Nitro -----------------------------------------------------------------------------

pub const ROOT_NAME: &str = "CN=fake.nitro-enclaves,O=Test";
pub const INTER_NAME: &str = "CN=fake-intermediate,O=Test";
pub const LEAF_NAME: &str = "CN=fake-leaf,O=Test";

/// A fake Nitro PKI: root → intermediate → leaf, all P-384.
pub struct FakeNitro {
    pub root_key: p384::ecdsa::SigningKey,
    pub root: Vec<u8>,
    pub inter_key: p384::ecdsa::SigningKey,
    pub inter: Vec<u8>,
    pub leaf_key: p384::ecdsa::SigningKey,
    pub leaf: Vec<u8>,
}

pub fn p384_key() -> p384::ecdsa::SigningKey {
    p384::ecdsa::SigningKey::random(&mut OsRng)
}

impl FakeNitro {
    pub fn new() -> Self {
        Self::with_specs(
            CertSpec::ca(ROOT_NAME, ROOT_NAME, None),
            CertSpec::ca(INTER_NAME, ROOT_NAME, Some(0)),
            CertSpec::leaf(LEAF_NAME, INTER_NAME),
        )
    }

    pub fn with_specs(root: CertSpec, inter: CertSpec, leaf: CertSpec) -> Self {
        let root_key = p384_key();
        let inter_key = p384_key();
        let leaf_key = p384_key();
        Self {
            root: issue_ecdsa(&root, p384_spki(&root_key), &root_key, false),
            inter: issue_ecdsa(&inter, p384_spki(&inter_key), &root_key, false),
            leaf: issue_ecdsa(&leaf, p384_spki(&leaf_key), &inter_key, false),
            root_key,
            inter_key,
            leaf_key,
        }
    }

    /// A document builder with a complete, valid, non-debug document at [`NOW`].
    pub fn doc(&self) -> NitroDoc {
        let mut pcrs = Vec::new();
        for i in 0u8..16 {
            let v = match i {
                0..=2 => vec![0x10 + i; 48],
                _ => vec![0; 48],
            };
            pcrs.push((Value::Integer(i.into()), Value::Bytes(v)));
        }
        NitroDoc {
            tagged: false,
            protected: vec![0xA1, 0x01, 0x38, 0x22],
            unprotected: Value::Map(vec![]),
            fields: vec![
                (t("module_id"), t("i-0fake-enc0fake")),
                (t("digest"), t("SHA384")),
                (t("timestamp"), Value::Integer(Integer::from(NOW * 1000))),
                (t("pcrs"), Value::Map(pcrs)),
                (t("certificate"), Value::Bytes(self.leaf.clone())),
                (
                    t("cabundle"),
                    Value::Array(vec![
                        Value::Bytes(self.root.clone()),
                        Value::Bytes(self.inter.clone()),
                    ]),
                ),
                (t("public_key"), Value::Null),
                (t("user_data"), Value::Null),
                (t("nonce"), Value::Null),
            ],
            signer: self.leaf_key.clone(),
            signature_override: None,
        }
    }
}

pub fn t(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// The expected PCRs of [`FakeNitro::doc`], for policies.
pub fn fake_pcr(i: u8) -> String {
    hex::encode([0x10 + i; 48])
}

pub struct NitroDoc {
    pub tagged: bool,
    pub protected: Vec<u8>,
    pub unprotected: Value,
    pub fields: Vec<(Value, Value)>,
    pub signer: p384::ecdsa::SigningKey,
    pub signature_override: Option<Vec<u8>>,
}

pub fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

impl NitroDoc {
    pub fn set(mut self, key: &str, value: Value) -> Self {
        match self.fields.iter_mut().find(|(k, _)| *k == t(key)) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((t(key), value)),
        }
        self
    }

    pub fn remove(mut self, key: &str) -> Self {
        self.fields.retain(|(k, _)| *k != t(key));
        self
    }

    pub fn set_pcr(self, index: u8, value: Vec<u8>) -> Self {
        let mut fields = self.fields.clone();
        for (k, v) in &mut fields {
            if *k == t("pcrs") {
                if let Value::Map(m) = v {
                    m.retain(|(i, _)| *i != Value::Integer(index.into()));
                    m.push((Value::Integer(index.into()), Value::Bytes(value.clone())));
                }
            }
        }
        Self { fields, ..self }
    }

    pub fn payload(&self) -> Vec<u8> {
        cbor(&Value::Map(self.fields.clone()))
    }

    pub fn build(&self) -> Vec<u8> {
        self.build_with_payload(self.payload())
    }

    pub fn build_with_payload(&self, payload: Vec<u8>) -> Vec<u8> {
        let tbs = cbor(&Value::Array(vec![
            t("Signature1"),
            Value::Bytes(self.protected.clone()),
            Value::Bytes(vec![]),
            Value::Bytes(payload.clone()),
        ]));
        let sig: p384::ecdsa::Signature = self.signer.sign(&tbs);
        let sig = self
            .signature_override
            .clone()
            .unwrap_or_else(|| sig.to_bytes().to_vec());
        let arr = Value::Array(vec![
            Value::Bytes(self.protected.clone()),
            self.unprotected.clone(),
            Value::Bytes(payload),
            Value::Bytes(sig),
        ]);
        if self.tagged {
            cbor(&Value::Tag(18, Box::new(arr)))
        } else {
            cbor(&arr)
        }
    }
}

// ----- AMD -------------------------------------------------------------------------------

pub const ARK_NAME: &str = "CN=ARK-Milan,O=Fake AMD";
pub const ASK_NAME: &str = "CN=SEV-Milan,O=Fake AMD";
pub const ASVK_NAME: &str = "CN=SEV-VLEK-Milan,O=Fake AMD";
pub const VCEK_NAME: &str = "CN=SEV-VCEK,O=Fake AMD";
pub const VLEK_NAME: &str = "CN=SEV-VLEK,O=Fake AMD";

/// A fake AMD PKI for Milan: ARK, ASK and ASVK (RSA-2048 to keep tests fast).
#[derive(Clone)]
pub struct FakeAmd {
    pub ark_key: rsa::RsaPrivateKey,
    pub ark: Vec<u8>,
    pub ask_key: rsa::RsaPrivateKey,
    pub ask: Vec<u8>,
    pub asvk_key: rsa::RsaPrivateKey,
    pub asvk: Vec<u8>,
}

impl FakeAmd {
    /// One PKI per test binary (RSA key generation is slow).
    pub fn get() -> &'static FakeAmd {
        static AMD: OnceLock<FakeAmd> = OnceLock::new();
        AMD.get_or_init(|| {
            let gen = || rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
            let (ark_key, ask_key, asvk_key) = (gen(), gen(), gen());
            let ark = issue_pss(
                &CertSpec::ca(ARK_NAME, ARK_NAME, None),
                rsa_spki(&ark_key),
                &ark_key,
                48,
            );
            let ask = issue_pss(
                &CertSpec::ca(ASK_NAME, ARK_NAME, Some(0)),
                rsa_spki(&ask_key),
                &ark_key,
                48,
            );
            let asvk = issue_pss(
                &CertSpec::ca(ASVK_NAME, ARK_NAME, Some(0)),
                rsa_spki(&asvk_key),
                &ark_key,
                48,
            );
            FakeAmd {
                ark_key,
                ark,
                ask_key,
                ask,
                asvk_key,
                asvk,
            }
        })
    }

    /// The fake anchors, installed as Milan's.
    pub fn roots(&self) -> AmdRoots {
        AmdRoots::empty().with(
            Generation::Milan,
            AmdGenerationRoots {
                ark: self.ark.clone(),
                ask: self.ask.clone(),
                asvk: self.asvk.clone(),
            },
        )
    }
}

/// Raw reported TCB of the fake Milan chip: bl 3, tee 0, snp 8, ucode 115.
pub const FAKE_TCB: [u8; 8] = [3, 0, 0, 0, 0, 0, 8, 115];
pub const FAKE_CHIP_ID: [u8; 64] = [0xC1; 64];
pub const FAKE_MEASUREMENT: [u8; 48] = [0x4D; 48];

const OID_AMD: &str = "1.3.6.1.4.1.3704.1";

fn der_int(v: u8) -> Vec<u8> {
    v.to_der().unwrap()
}

/// What goes into a fake VCEK/VLEK.
#[derive(Clone, Debug)]
pub struct EndorsementSpec {
    pub vlek: bool,
    pub cert: CertSpec,
    /// (bl, tee, snp, ucode) SPL extensions.
    pub tcb: (u8, u8, u8, u8),
    pub hw_id: Option<Vec<u8>>,
}

impl EndorsementSpec {
    pub fn vcek() -> Self {
        let mut cert = CertSpec::leaf(VCEK_NAME, ASK_NAME);
        cert.not_before = NOW - 30 * DAY;
        cert.not_after = NOW + 7 * 365 * DAY;
        cert.key_usage = None;
        cert.omit_basic_constraints = true;
        cert.serial = vec![0x00]; // AMD's real VCEKs have serial 0
        Self {
            vlek: false,
            cert,
            tcb: (3, 0, 8, 115),
            hw_id: Some(FAKE_CHIP_ID.to_vec()),
        }
    }

    pub fn vlek() -> Self {
        let mut s = Self::vcek();
        s.vlek = true;
        s.cert.subject = VLEK_NAME.to_owned();
        s.cert.issuer = ASVK_NAME.to_owned();
        s.hw_id = None;
        s
    }

    /// Issues the certificate with the fake ASK (or ASVK); returns (key, DER).
    pub fn issue(&self, amd: &FakeAmd) -> (p384::ecdsa::SigningKey, Vec<u8>) {
        let key = p384_key();
        let mut spec = self.cert.clone();
        let (bl, tee, snp, ucode) = self.tcb;
        for (arc, v) in [("3.1", bl), ("3.2", tee), ("3.3", snp), ("3.8", ucode)] {
            let oid = ObjectIdentifier::new(&format!("{OID_AMD}.{arc}")).unwrap();
            spec.extra.push(ext(oid, false, der_int(v)));
        }
        if let Some(hw) = &self.hw_id {
            let oid = ObjectIdentifier::new(&format!("{OID_AMD}.4")).unwrap();
            spec.extra.push(ext(oid, false, hw.clone()));
        }
        let issuer = if self.vlek {
            &amd.asvk_key
        } else {
            &amd.ask_key
        };
        let der = issue_pss(&spec, p384_spki(&key), issuer, 48);
        (key, der)
    }
}

/// A report with chosen fields, signed by a chosen key.
#[derive(Clone)]
pub struct Report(pub Vec<u8>);

impl Report {
    /// A valid v3 Milan report for [`FAKE_MEASUREMENT`], VMPL 0, debug off.
    pub fn new() -> Self {
        let mut r = vec![0u8; 0x4A0];
        r[0x00..0x04].copy_from_slice(&3u32.to_le_bytes());
        r[0x08..0x10].copy_from_slice(&0x30000u64.to_le_bytes());
        r[0x34..0x38].copy_from_slice(&1u32.to_le_bytes());
        r[0x38..0x40].copy_from_slice(&FAKE_TCB);
        r[0x90..0xC0].copy_from_slice(&FAKE_MEASUREMENT);
        r[0x180..0x188].copy_from_slice(&FAKE_TCB);
        r[0x188] = 0x19; // Milan
        r[0x189] = 0x01;
        r[0x1A0..0x1E0].copy_from_slice(&FAKE_CHIP_ID);
        Self(r)
    }

    pub fn put(mut self, offset: usize, bytes: &[u8]) -> Self {
        self.0[offset..offset + bytes.len()].copy_from_slice(bytes);
        self
    }

    pub fn u32_at(self, offset: usize, v: u32) -> Self {
        self.put(offset, &v.to_le_bytes())
    }

    /// Signs bytes [0, 0x2A0) with `key`, writing little-endian R and S.
    pub fn sign(mut self, key: &p384::ecdsa::SigningKey) -> Vec<u8> {
        let sig: p384::ecdsa::Signature = key.sign(&self.0[..0x2A0]);
        let (r, s) = sig.split_bytes();
        let mut r = r.to_vec();
        let mut s = s.to_vec();
        r.reverse();
        s.reverse();
        self.0[0x2A0..0x2A0 + 48].copy_from_slice(&r);
        self.0[0x2E8..0x2E8 + 48].copy_from_slice(&s);
        self.0
    }
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    OsRng.fill_bytes(&mut v);
    v
}
