//! AWS Nitro Enclaves image format (EIF): build an image and compute its PCRs.
//!
//! Layout (all integers big-endian), as written by `nitro-cli build-enclave`:
//!
//! ```text
//! header (548 bytes)
//!   magic ".eif" | version u16 | flags u16 (bit 0: aarch64) | default_mem u64 (bytes)
//!   | default_cpus u64 | reserved u16 | num_sections u16 | section_offsets [u64; 32]
//!   | section_sizes [u64; 32] | unused u32 | crc32 u32
//! then num_sections times:
//!   section header (12 bytes): type u16 | flags u16 | size u64 ; then `size` bytes
//!   types: 1 kernel, 2 cmdline, 3 ramdisk, 4 signature, 5 metadata (JSON)
//! ```
//!
//! `section_offsets[i]` is the file offset of section i's header, `section_sizes[i]` its
//! payload size. The CRC is CRC-32/ISO-HDLC over every byte of the file except the CRC
//! field itself. Sections are written kernel, cmdline, metadata, ramdisks, signature.
//!
//! Measurements (SHA-384; "extend" means `SHA384(48 zero bytes ‖ SHA384(data))`, i.e. one
//! TPM-style extend of a register that starts at zero):
//! - PCR0 = extend(kernel ‖ cmdline ‖ every ramdisk)           — the whole image
//! - PCR1 = extend(kernel ‖ cmdline ‖ first ramdisk)           — kernel and bootstrap
//! - PCR2 = extend(second ramdisk ‖ third ‖ ...)                — the application
//! - PCR8 = extend(DER of the signing certificate)              — signed images only
//!
//! Section payloads are hashed, never section headers or metadata, so the metadata (build
//! time, tool name) does not change any PCR.
//!
//! The reader treats the file as untrusted: every size is bounded, offsets and sizes in
//! the header must agree with the sections as they occur, trailing bytes are refused and
//! the CRC must match.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ciborium::value::Value;
use p384::ecdsa::signature::{Signer, Verifier};
use sha2::{Digest, Sha384};

use crate::error::DeployError;
use crate::pem;

/// `.eif`.
pub const EIF_MAGIC: [u8; 4] = *b".eif";
/// The version `eif build` writes (4: with the metadata section).
pub const EIF_VERSION: u16 = 4;
/// Oldest version read: 2 introduced the CRC.
pub const EIF_MIN_VERSION: u16 = 2;
/// Size of the file header.
pub const EIF_HEADER_LEN: usize = 548;
/// Size of one section header.
pub const SECTION_HEADER_LEN: usize = 12;
/// Slots in the header's offset and size tables.
pub const MAX_SECTIONS: usize = 32;
/// Largest EIF read (nitro enclaves are memory-bound long before this).
pub const MAX_EIF_LEN: u64 = 16 << 30;
/// Largest cmdline, metadata or signature section, which are held in memory.
pub const MAX_SMALL_SECTION_LEN: u64 = 1 << 20;
/// Header flag: the image is for aarch64 (cleared: x86_64).
pub const FLAG_ARCH_ARM64: u16 = 0x1;
/// COSE algorithm identifier of ES384 (RFC 9053).
const COSE_ALG_ES384: i64 = -35;
/// CBOR tag of COSE_Sign1.
const COSE_SIGN1_TAG: u64 = 18;
const CRC_OFFSET: u64 = (EIF_HEADER_LEN - 4) as u64;

/// EIF section types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum SectionKind {
    Kernel = 1,
    Cmdline = 2,
    Ramdisk = 3,
    Signature = 4,
    Metadata = 5,
}

impl SectionKind {
    fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Self::Kernel,
            2 => Self::Cmdline,
            3 => Self::Ramdisk,
            4 => Self::Signature,
            5 => Self::Metadata,
            _ => return None,
        })
    }
}

/// Target architecture recorded in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "aarch64")]
    Aarch64,
}

/// The PCRs a Nitro enclave booted from an image reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EifMeasurements {
    pub pcr0: [u8; 48],
    pub pcr1: [u8; 48],
    pub pcr2: [u8; 48],
    /// Present for signed images only.
    pub pcr8: Option<[u8; 48]>,
}

impl EifMeasurements {
    /// `index → value`, the shape a policy's PCR set takes.
    pub fn pcrs(&self) -> BTreeMap<u8, [u8; 48]> {
        let mut m = BTreeMap::from([(0, self.pcr0), (1, self.pcr1), (2, self.pcr2)]);
        if let Some(p) = self.pcr8 {
            m.insert(8, p);
        }
        m
    }
}

/// What `describe` learns from an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EifInfo {
    pub version: u16,
    pub arch: Arch,
    pub default_mem_bytes: u64,
    pub default_cpus: u64,
    /// Section kinds and payload sizes, in file order.
    pub sections: Vec<(SectionKind, u64)>,
    pub crc32: u32,
    pub measurements: EifMeasurements,
}

/// `SHA384(0^48 ‖ digest)`: one extend of a zeroed register.
pub fn extend_from_zero(digest: &[u8; 48]) -> [u8; 48] {
    let mut h = Sha384::new();
    h.update([0u8; 48]);
    h.update(digest);
    h.finalize().into()
}

/// CRC-32/ISO-HDLC (the zlib/PNG CRC), bitwise: EIFs are read once, speed is no concern.
#[derive(Debug, Clone, Copy)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Self(0xFFFF_FFFF)
    }
}

impl Crc32 {
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u32::from(b);
            for _ in 0..8 {
                let mask = (self.0 & 1).wrapping_neg();
                self.0 = (self.0 >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
    }
    pub fn finish(self) -> u32 {
        !self.0
    }
}

// ----- reading ---------------------------------------------------------------------------

fn malformed(offset: u64, reason: &'static str) -> DeployError {
    DeployError::EifMalformed { offset, reason }
}

fn be_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Offsets inside the 548-byte header.
const OFF_NUM_SECTIONS: usize = 26;
const OFF_OFFSETS: usize = 28;
const OFF_SIZES: usize = OFF_OFFSETS + 8 * MAX_SECTIONS;

/// Hashers fed while an image is read or written.
struct Measurer {
    image: Sha384,
    bootstrap: Sha384,
    app: Sha384,
    cert: Option<Sha384>,
    ramdisks: usize,
}

impl Measurer {
    fn new() -> Self {
        Self {
            image: Sha384::new(),
            bootstrap: Sha384::new(),
            app: Sha384::new(),
            cert: None,
            ramdisks: 0,
        }
    }

    /// Feeds one chunk of a section payload.
    fn feed(&mut self, kind: SectionKind, chunk: &[u8]) {
        match kind {
            SectionKind::Kernel | SectionKind::Cmdline => {
                self.image.update(chunk);
                self.bootstrap.update(chunk);
            }
            SectionKind::Ramdisk => {
                self.image.update(chunk);
                if self.ramdisks == 0 {
                    self.bootstrap.update(chunk);
                } else {
                    self.app.update(chunk);
                }
            }
            SectionKind::Signature | SectionKind::Metadata => {}
        }
    }

    fn end_section(&mut self, kind: SectionKind) {
        if kind == SectionKind::Ramdisk {
            self.ramdisks += 1;
        }
    }

    fn finish(self) -> EifMeasurements {
        let ext = |h: Sha384| extend_from_zero(&h.finalize().into());
        EifMeasurements {
            pcr0: ext(self.image),
            pcr1: ext(self.bootstrap),
            pcr2: ext(self.app),
            pcr8: self.cert.map(ext),
        }
    }
}

/// Reads an EIF file and computes its measurements (see the module docs).
pub fn measure_eif(path: &Path) -> Result<EifInfo, DeployError> {
    let f = File::open(path).map_err(DeployError::io(path))?;
    let len = f.metadata().map_err(DeployError::io(path))?.len();
    if len > MAX_EIF_LEN {
        return Err(malformed(0, "file larger than MAX_EIF_LEN"));
    }
    read_eif(BufReader::with_capacity(1 << 20, f))
}

/// [`measure_eif`] over any reader: the bytes of one EIF and nothing after it.
pub fn read_eif(mut r: impl Read) -> Result<EifInfo, DeployError> {
    let mut header = [0u8; EIF_HEADER_LEN];
    read_exact(&mut r, &mut header, 0)?;
    // 1. Magic, version, flags.
    if header[..4] != EIF_MAGIC {
        return Err(malformed(0, "not an EIF (bad magic)"));
    }
    let version = be_u16(&header, 4);
    if !(EIF_MIN_VERSION..=EIF_VERSION).contains(&version) {
        return Err(malformed(4, "unsupported EIF version (2..=4 are read)"));
    }
    let flags = be_u16(&header, 6);
    if flags & !FLAG_ARCH_ARM64 != 0 {
        return Err(malformed(6, "unknown header flags"));
    }
    let arch = if flags & FLAG_ARCH_ARM64 != 0 {
        Arch::Aarch64
    } else {
        Arch::X86_64
    };
    // 2. Section table: bounded, unused slots zero.
    let num_sections = usize::from(be_u16(&header, OFF_NUM_SECTIONS));
    if num_sections > MAX_SECTIONS {
        return Err(malformed(OFF_NUM_SECTIONS as u64, "more than 32 sections"));
    }
    let offsets: Vec<u64> = (0..MAX_SECTIONS)
        .map(|i| be_u64(&header, OFF_OFFSETS + 8 * i))
        .collect();
    let sizes: Vec<u64> = (0..MAX_SECTIONS)
        .map(|i| be_u64(&header, OFF_SIZES + 8 * i))
        .collect();
    if offsets[num_sections..]
        .iter()
        .chain(&sizes[num_sections..])
        .any(|v| *v != 0)
    {
        return Err(malformed(
            OFF_OFFSETS as u64,
            "section table has entries past num_sections",
        ));
    }
    let expected_crc = be_u32(&header, EIF_HEADER_LEN - 4);
    let mut crc = Crc32::default();
    crc.update(&header[..EIF_HEADER_LEN - 4]);

    // 3. Sections, in file order, each where the table says and of the size it says.
    let mut pos = EIF_HEADER_LEN as u64;
    let mut m = Measurer::new();
    let mut sections = Vec::with_capacity(num_sections);
    let mut signature = None;
    for i in 0..num_sections {
        if offsets[i] != pos {
            return Err(malformed(pos, "section is not where the header table says"));
        }
        let mut sh = [0u8; SECTION_HEADER_LEN];
        read_exact(&mut r, &mut sh, pos)?;
        crc.update(&sh);
        let kind = SectionKind::from_u16(be_u16(&sh, 0))
            .ok_or_else(|| malformed(pos, "unknown section type"))?;
        if be_u16(&sh, 2) != 0 {
            return Err(malformed(pos + 2, "section flags must be zero"));
        }
        let size = be_u64(&sh, 4);
        if size != sizes[i] {
            return Err(malformed(
                pos + 4,
                "section size differs from the header table",
            ));
        }
        pos = pos
            .checked_add(SECTION_HEADER_LEN as u64)
            .and_then(|p| p.checked_add(size))
            .filter(|p| *p <= MAX_EIF_LEN)
            .ok_or_else(|| malformed(pos, "section runs past MAX_EIF_LEN"))?;
        let small = matches!(
            kind,
            SectionKind::Signature | SectionKind::Metadata | SectionKind::Cmdline
        );
        if small && size > MAX_SMALL_SECTION_LEN {
            return Err(malformed(
                pos,
                "cmdline/metadata/signature section too large",
            ));
        }
        let mut kept = Vec::new();
        copy_section(&mut r, size, pos - size, |chunk| {
            crc.update(chunk);
            m.feed(kind, chunk);
            if kind == SectionKind::Signature {
                kept.extend_from_slice(chunk);
            }
        })?;
        m.end_section(kind);
        if kind == SectionKind::Signature {
            if signature.is_some() {
                return Err(malformed(pos, "more than one signature section"));
            }
            signature = Some(kept);
        }
        sections.push((kind, size));
    }
    // 4. Nothing after the last section.
    let mut extra = [0u8; 1];
    match r.read(&mut extra) {
        Ok(0) => {}
        Ok(_) => return Err(malformed(pos, "trailing bytes after the last section")),
        Err(_) => return Err(malformed(pos, "read error after the last section")),
    }
    // 5. Exactly one kernel and cmdline, at least one ramdisk.
    let count = |k| sections.iter().filter(|(s, _)| *s == k).count();
    if count(SectionKind::Kernel) != 1 || count(SectionKind::Cmdline) != 1 {
        return Err(malformed(
            0,
            "an EIF needs exactly one kernel and one cmdline",
        ));
    }
    if count(SectionKind::Ramdisk) == 0 {
        return Err(malformed(0, "an EIF needs at least one ramdisk"));
    }
    if count(SectionKind::Metadata) > 1 {
        return Err(malformed(0, "more than one metadata section"));
    }
    // 6. CRC.
    let computed = crc.finish();
    if computed != expected_crc {
        return Err(DeployError::EifCrcMismatch {
            expected: expected_crc,
            computed,
        });
    }
    // 7. Signature: PCR8 from the certificate, after checking it signed this PCR0.
    let cert_der = signature.map(|s| parse_signature_section(&s)).transpose()?;
    if let Some((cert, _)) = &cert_der {
        m.cert = Some(Sha384::new_with_prefix(cert));
    }
    let measurements = m.finish();
    if let Some((cert, cose)) = &cert_der {
        verify_pcr0_signature(cert, cose, &measurements.pcr0)?;
    }
    Ok(EifInfo {
        version,
        arch,
        default_mem_bytes: be_u64(&header, 8),
        default_cpus: be_u64(&header, 16),
        sections,
        crc32: computed,
        measurements,
    })
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], at: u64) -> Result<(), DeployError> {
    r.read_exact(buf)
        .map_err(|_| malformed(at, "file ends early"))
}

fn copy_section(
    r: &mut impl Read,
    mut left: u64,
    at: u64,
    mut sink: impl FnMut(&[u8]),
) -> Result<(), DeployError> {
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64)).expect("bounded by the buffer");
        read_exact(r, &mut buf[..n], at)?;
        sink(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

// ----- signature section -----------------------------------------------------------------
//
// CBOR array of { "signing_certificate": PEM bytes, "signature": COSE_Sign1 bytes }, byte
// strings encoded as CBOR arrays of small integers (serde's Vec<u8>). The COSE_Sign1 is
// ES384 over the CBOR map { "register_index": 0, "register_value": PCR0 } (same encoding).

fn sig_err(reason: &'static str) -> DeployError {
    DeployError::EifSignatureInvalid { reason }
}

fn bytes_value(b: &[u8]) -> Value {
    Value::Array(b.iter().map(|x| Value::Integer((*x).into())).collect())
}

fn value_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Bytes(b) => Some(b.clone()),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::Integer(i) => u8::try_from(*i).ok(),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("writing CBOR to a Vec cannot fail");
    out
}

fn cbor_parse(bytes: &[u8]) -> Option<Value> {
    let mut rest = bytes;
    let v: Value = ciborium::from_reader(&mut rest).ok()?;
    rest.is_empty().then_some(v)
}

fn map_get<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
        .map(|(_, v)| v)
}

/// The encoding of one signature-section entry (public for the known-answer test).
pub fn signature_section(cert_pem: &[u8], cose_sign1: &[u8]) -> Vec<u8> {
    cbor(&Value::Array(vec![Value::Map(vec![
        (
            Value::Text("signing_certificate".into()),
            bytes_value(cert_pem),
        ),
        (Value::Text("signature".into()), bytes_value(cose_sign1)),
    ])]))
}

/// The payload nitro-cli signs: `{ register_index: 0, register_value: PCR0 }`.
pub fn pcr_info(index: u8, value: &[u8]) -> Vec<u8> {
    cbor(&Value::Map(vec![
        (
            Value::Text("register_index".into()),
            Value::Integer(index.into()),
        ),
        (Value::Text("register_value".into()), bytes_value(value)),
    ]))
}

/// Returns (certificate DER, COSE_Sign1 bytes) of the first entry.
fn parse_signature_section(section: &[u8]) -> Result<(Vec<u8>, Vec<u8>), DeployError> {
    let Some(Value::Array(entries)) = cbor_parse(section) else {
        return Err(sig_err("section is not a CBOR array"));
    };
    let Some(Value::Map(first)) = entries.first() else {
        return Err(sig_err("no signature entry"));
    };
    let cert_pem = map_get(first, "signing_certificate")
        .and_then(value_bytes)
        .ok_or_else(|| sig_err("entry has no signing_certificate"))?;
    let cose = map_get(first, "signature")
        .and_then(value_bytes)
        .ok_or_else(|| sig_err("entry has no signature"))?;
    let text = std::str::from_utf8(&cert_pem).map_err(|_| sig_err("certificate is not PEM"))?;
    let der =
        pem::decode_first(text, "CERTIFICATE").map_err(|_| sig_err("certificate is not PEM"))?;
    Ok((der.to_vec(), cose))
}

fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    cbor(&Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.to_vec()),
    ]))
}

fn protected_es384() -> Vec<u8> {
    cbor(&Value::Map(vec![(
        Value::Integer(1.into()),
        Value::Integer(COSE_ALG_ES384.into()),
    )]))
}

fn cert_p384_key(cert_der: &[u8]) -> Result<p384::ecdsa::VerifyingKey, DeployError> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|_| sig_err("signing certificate is not X.509 DER"))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    p384::ecdsa::VerifyingKey::from_sec1_bytes(spki)
        .map_err(|_| sig_err("signing certificate key is not P-384"))
}

fn verify_pcr0_signature(cert_der: &[u8], cose: &[u8], pcr0: &[u8; 48]) -> Result<(), DeployError> {
    let v = cbor_parse(cose).ok_or_else(|| sig_err("signature is not CBOR"))?;
    let v = match v {
        Value::Tag(COSE_SIGN1_TAG, inner) => *inner,
        Value::Tag(..) => return Err(sig_err("signature has an unexpected CBOR tag")),
        other => other,
    };
    let Value::Array(parts) = v else {
        return Err(sig_err("COSE_Sign1 is not an array"));
    };
    let [Value::Bytes(protected), _unprotected, Value::Bytes(payload), Value::Bytes(sig)] =
        parts.as_slice()
    else {
        return Err(sig_err("COSE_Sign1 does not have four fields"));
    };
    let alg_ok = matches!(cbor_parse(protected), Some(Value::Map(h))
        if h.iter().any(|(k, v)| *k == Value::Integer(1.into())
            && *v == Value::Integer(COSE_ALG_ES384.into())));
    if !alg_ok {
        return Err(sig_err("protected header does not say ES384"));
    }
    if *payload != pcr_info(0, pcr0) {
        return Err(sig_err("the signed payload is not this image's PCR0"));
    }
    let sig = p384::ecdsa::Signature::from_slice(sig)
        .map_err(|_| sig_err("signature is not 96 bytes r‖s"))?;
    cert_p384_key(cert_der)?
        .verify(&sig_structure(protected, payload), &sig)
        .map_err(|_| sig_err("ES384 signature does not verify under the certificate"))
}

// ----- building --------------------------------------------------------------------------

/// Signs an image: PEM certificate (first CERTIFICATE block) and its P-384 key.
pub struct EifSigner {
    cert_pem: Vec<u8>,
    key: p384::ecdsa::SigningKey,
}

impl std::fmt::Debug for EifSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EifSigner")
            .field("key", &"<redacted>")
            .finish()
    }
}

impl EifSigner {
    /// Loads a certificate and a PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) P-384
    /// key, and checks that they belong together.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, DeployError> {
        use p384::pkcs8::DecodePrivateKey;
        let cert_der = pem::decode_first(cert_pem, "CERTIFICATE")?.to_vec();
        let secret = if let Ok(der) = pem::decode_first(key_pem, "PRIVATE KEY") {
            p384::SecretKey::from_pkcs8_der(&der)
        } else {
            let der = pem::decode_first(key_pem, "EC PRIVATE KEY")?;
            p384::SecretKey::from_sec1_der(&der).map_err(|_| p384::pkcs8::Error::KeyMalformed)
        }
        .map_err(|_| DeployError::EifInput {
            reason: "signing key is not a P-384 private key".into(),
        })?;
        let key = p384::ecdsa::SigningKey::from(&secret);
        if cert_p384_key(&cert_der)? != *key.verifying_key() {
            return Err(DeployError::EifInput {
                reason: "signing key does not match the certificate".into(),
            });
        }
        // Normalise the certificate to one PEM block, as nitro-cli stores it.
        let cert_pem = pem::encode("CERTIFICATE", &cert_der).as_bytes().to_vec();
        Ok(Self { cert_pem, key })
    }

    fn section(&self, pcr0: &[u8; 48]) -> Vec<u8> {
        let protected = protected_es384();
        let payload = pcr_info(0, pcr0);
        let sig: p384::ecdsa::Signature = self.key.sign(&sig_structure(&protected, &payload));
        let cose = cbor(&Value::Tag(
            COSE_SIGN1_TAG,
            Box::new(Value::Array(vec![
                Value::Bytes(protected),
                Value::Map(Vec::new()),
                Value::Bytes(payload),
                Value::Bytes(sig.to_bytes().to_vec()),
            ])),
        ));
        signature_section(&self.cert_pem, &cose)
    }
}

/// Inputs of `eif build`.
#[derive(Debug)]
pub struct EifInputs {
    pub kernel: PathBuf,
    pub cmdline: String,
    /// First: the bootstrap ramdisk (PCR1); the rest: the application (PCR2).
    pub ramdisks: Vec<PathBuf>,
    pub arch: Arch,
    pub default_mem_mib: u64,
    pub default_cpus: u64,
    /// Name and version recorded in the metadata section (not measured).
    pub image_name: String,
    pub image_version: String,
    /// Recorded as the build time (seconds since the epoch); pass SOURCE_DATE_EPOCH so a
    /// rebuild is byte-identical.
    pub build_time_unix: u64,
    pub signer: Option<EifSigner>,
}

fn file_len(path: &Path) -> Result<u64, DeployError> {
    Ok(std::fs::metadata(path)
        .map_err(DeployError::io(path))?
        .len())
}

/// Writes an EIF to `out` (replacing it atomically) and returns the measurements read
/// back from the written file, so what is printed is what is on disk.
pub fn build_eif(inputs: &EifInputs, out: &Path) -> Result<EifInfo, DeployError> {
    if inputs.ramdisks.is_empty() {
        return Err(DeployError::EifInput {
            reason: "at least one ramdisk is needed".into(),
        });
    }
    let sections_needed = 3 + inputs.ramdisks.len() + usize::from(inputs.signer.is_some());
    if sections_needed > MAX_SECTIONS {
        return Err(DeployError::EifInput {
            reason: "too many ramdisks for 32 sections".into(),
        });
    }
    if inputs.cmdline.len() as u64 > MAX_SMALL_SECTION_LEN || inputs.cmdline.contains('\0') {
        return Err(DeployError::EifInput {
            reason: "cmdline too long or contains NUL".into(),
        });
    }
    let metadata = metadata_json(inputs);

    // Pass 1: PCR0 (needed by the signature, whose size is in the header).
    let mut m = Measurer::new();
    feed_file(&inputs.kernel, |c| m.feed(SectionKind::Kernel, c))?;
    m.feed(SectionKind::Cmdline, inputs.cmdline.as_bytes());
    for rd in &inputs.ramdisks {
        feed_file(rd, |c| m.feed(SectionKind::Ramdisk, c))?;
        m.end_section(SectionKind::Ramdisk);
    }
    let pcr0 = m.finish().pcr0;
    let signature = inputs.signer.as_ref().map(|s| s.section(&pcr0));

    // Section plan, in file order.
    let mut plan: Vec<(SectionKind, u64)> = vec![
        (SectionKind::Kernel, file_len(&inputs.kernel)?),
        (SectionKind::Cmdline, inputs.cmdline.len() as u64),
        (SectionKind::Metadata, metadata.len() as u64),
    ];
    for rd in &inputs.ramdisks {
        plan.push((SectionKind::Ramdisk, file_len(rd)?));
    }
    if let Some(s) = &signature {
        plan.push((SectionKind::Signature, s.len() as u64));
    }
    let header = header_bytes(inputs, &plan)?;

    // Pass 2: write with a zero CRC field, then compute the CRC from the file and patch
    // it in (the CRC covers everything but its own field).
    let tmp = out.with_extension("eif.tmp");
    let file = File::create(&tmp).map_err(DeployError::io(&tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut put = |w: &mut BufWriter<File>, bytes: &[u8]| -> Result<(), DeployError> {
        w.write_all(bytes).map_err(DeployError::io(&tmp))
    };
    put(&mut w, &header)?;
    let mut ramdisks = inputs.ramdisks.iter();
    for (kind, size) in &plan {
        let mut sh = Vec::with_capacity(SECTION_HEADER_LEN);
        sh.extend_from_slice(&(*kind as u16).to_be_bytes());
        sh.extend_from_slice(&0u16.to_be_bytes());
        sh.extend_from_slice(&size.to_be_bytes());
        put(&mut w, &sh)?;
        match kind {
            SectionKind::Kernel => copy_file(&inputs.kernel, *size, &mut w, &mut put)?,
            SectionKind::Cmdline => put(&mut w, inputs.cmdline.as_bytes())?,
            SectionKind::Metadata => put(&mut w, &metadata)?,
            SectionKind::Ramdisk => {
                let rd = ramdisks.next().expect("one plan entry per ramdisk");
                copy_file(rd, *size, &mut w, &mut put)?;
            }
            SectionKind::Signature => {
                put(
                    &mut w,
                    signature.as_deref().expect("planned only when signed"),
                )?;
            }
        }
    }
    let crc = crc_without_field(&tmp, &mut w)?;
    let mut file = w.into_inner().map_err(|e| DeployError::Io {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    file.seek(SeekFrom::Start(CRC_OFFSET))
        .and_then(|_| file.write_all(&crc.to_be_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(DeployError::io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, out).map_err(DeployError::io(out))?;
    measure_eif(out)
}

/// CRC of the flushed file, skipping the CRC field.
fn crc_without_field(tmp: &Path, w: &mut BufWriter<File>) -> Result<u32, DeployError> {
    w.flush().map_err(DeployError::io(tmp))?;
    let mut r = BufReader::with_capacity(1 << 20, File::open(tmp).map_err(DeployError::io(tmp))?);
    let mut crc = Crc32::default();
    let mut head = [0u8; EIF_HEADER_LEN];
    r.read_exact(&mut head).map_err(DeployError::io(tmp))?;
    crc.update(&head[..EIF_HEADER_LEN - 4]);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf).map_err(DeployError::io(tmp))?;
        if n == 0 {
            return Ok(crc.finish());
        }
        crc.update(&buf[..n]);
    }
}

fn header_bytes(inputs: &EifInputs, plan: &[(SectionKind, u64)]) -> Result<Vec<u8>, DeployError> {
    let mut h = Vec::with_capacity(EIF_HEADER_LEN);
    h.extend_from_slice(&EIF_MAGIC);
    h.extend_from_slice(&EIF_VERSION.to_be_bytes());
    let flags = match inputs.arch {
        Arch::X86_64 => 0,
        Arch::Aarch64 => FLAG_ARCH_ARM64,
    };
    h.extend_from_slice(&flags.to_be_bytes());
    let mem = inputs
        .default_mem_mib
        .checked_mul(1 << 20)
        .ok_or_else(|| DeployError::EifInput {
            reason: "default memory overflows".into(),
        })?;
    h.extend_from_slice(&mem.to_be_bytes());
    h.extend_from_slice(&inputs.default_cpus.to_be_bytes());
    h.extend_from_slice(&0u16.to_be_bytes());
    let n = u16::try_from(plan.len()).expect("at most 32 sections");
    h.extend_from_slice(&n.to_be_bytes());
    let mut offsets = [0u64; MAX_SECTIONS];
    let mut sizes = [0u64; MAX_SECTIONS];
    let mut pos = EIF_HEADER_LEN as u64;
    for (i, (_, size)) in plan.iter().enumerate() {
        offsets[i] = pos;
        sizes[i] = *size;
        pos = pos
            .checked_add(SECTION_HEADER_LEN as u64 + size)
            .filter(|p| *p <= MAX_EIF_LEN)
            .ok_or_else(|| DeployError::EifInput {
                reason: "image would exceed MAX_EIF_LEN".into(),
            })?;
    }
    for v in offsets.iter().chain(sizes.iter()) {
        h.extend_from_slice(&v.to_be_bytes());
    }
    h.extend_from_slice(&0u32.to_be_bytes()); // unused
    h.extend_from_slice(&0u32.to_be_bytes()); // crc, patched in later
    debug_assert_eq!(h.len(), EIF_HEADER_LEN);
    Ok(h)
}

fn metadata_json(inputs: &EifInputs) -> Vec<u8> {
    let v = serde_json::json!({
        "ImageName": inputs.image_name,
        "ImageVersion": inputs.image_version,
        "BuildMetadata": {
            "BuildTime": rfc3339(inputs.build_time_unix),
            "BuildTool": "sealboost-deploy",
            "BuildToolVersion": env!("CARGO_PKG_VERSION"),
            "OperatingSystem": "linux",
            "KernelVersion": "",
        },
        "DockerInfo": {},
        "CustomMetadata": {},
    });
    serde_json::to_vec(&v).expect("a JSON value serialises")
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a unix time (proleptic Gregorian, UTC).
fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), on days since 1970-01-01.
    let z = i64::try_from(days).unwrap_or(i64::MAX / 2) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn feed_file(path: &Path, mut sink: impl FnMut(&[u8])) -> Result<(), DeployError> {
    let mut f = File::open(path).map_err(DeployError::io(path))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(DeployError::io(path))?;
        if n == 0 {
            return Ok(());
        }
        sink(&buf[..n]);
    }
}

fn copy_file<W>(
    path: &Path,
    expected_len: u64,
    w: &mut W,
    put: &mut impl FnMut(&mut W, &[u8]) -> Result<(), DeployError>,
) -> Result<(), DeployError> {
    let mut copied = 0u64;
    let mut f = File::open(path).map_err(DeployError::io(path))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(DeployError::io(path))?;
        if n == 0 {
            break;
        }
        copied += n as u64;
        put(w, &buf[..n])?;
    }
    if copied != expected_len {
        return Err(DeployError::EifInput {
            reason: format!("{} changed size while the image was built", path.display()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The catalogued check value of CRC-32/ISO-HDLC.
        let mut c = Crc32::default();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_705_432_216), "2024-01-16T19:10:16Z");
    }
}
