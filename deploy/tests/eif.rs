//! Nitro EIF: images the tool builds measure to the PCRs computed here independently
//! (straight from the documented hash chains over the inputs), the file layout and CRC
//! are as documented, and damaged or forged images are refused.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // test helpers: a failed step should stop the test loudly

use std::path::{Path, PathBuf};

use deploy::eif::{self, Arch, EifInputs, EifSigner, SectionKind, EIF_HEADER_LEN};
use deploy::DeployError;
use sha2::{Digest, Sha384};

/// PCR = SHA384(48 zero bytes ‖ SHA384(data)): the register starts at zero and is
/// extended once with the digest of its data (AWS Nitro Enclaves documentation, "Where
/// to get an enclave's measurements").
fn pcr(data: &[&[u8]]) -> [u8; 48] {
    let mut inner = Sha384::new();
    for d in data {
        inner.update(d);
    }
    let mut outer = Sha384::new();
    outer.update([0u8; 48]);
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Table-driven CRC-32/ISO-HDLC, written separately from the library's bitwise one.
fn crc32(data: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    !data.iter().fold(0xFFFF_FFFFu32, |c, b| {
        table[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

const KERNEL: &[u8] = b"\x7fELF pretend bzImage";
const CMDLINE: &str = "reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on";
const BOOTSTRAP: &[u8] = b"bootstrap initramfs (nsm driver, init)";
const APP: &[u8] = b"application ramdisk: sealboost-enclave";
const APP2: &[u8] = b"second application ramdisk";

struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, data) in [
            ("kernel", KERNEL),
            ("r0", BOOTSTRAP),
            ("r1", APP),
            ("r2", APP2),
        ] {
            std::fs::write(dir.path().join(name), data).unwrap();
        }
        Self { dir }
    }
    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
    fn inputs(&self, signer: Option<EifSigner>) -> EifInputs {
        EifInputs {
            kernel: self.path("kernel"),
            cmdline: CMDLINE.into(),
            ramdisks: vec![self.path("r0"), self.path("r1"), self.path("r2")],
            arch: Arch::X86_64,
            default_mem_mib: 512,
            default_cpus: 2,
            image_name: "sealboost-enclave".into(),
            image_version: "test".into(),
            build_time_unix: 1_700_000_000,
            signer,
        }
    }
}

fn rewrite_crc(bytes: &mut [u8]) {
    let mut covered = bytes[..EIF_HEADER_LEN - 4].to_vec();
    covered.extend_from_slice(&bytes[EIF_HEADER_LEN..]);
    let c = crc32(&covered);
    bytes[EIF_HEADER_LEN - 4..EIF_HEADER_LEN].copy_from_slice(&c.to_be_bytes());
}

fn measure_bytes(bytes: &[u8]) -> Result<eif::EifInfo, DeployError> {
    eif::read_eif(bytes)
}

#[test]
fn built_image_measures_to_independently_computed_pcrs() {
    let t = Inputs::new();
    let out = t.path("image.eif");
    let info = eif::build_eif(&t.inputs(None), &out).unwrap();
    let m = &info.measurements;
    assert_eq!(
        m.pcr0,
        pcr(&[KERNEL, CMDLINE.as_bytes(), BOOTSTRAP, APP, APP2])
    );
    assert_eq!(m.pcr1, pcr(&[KERNEL, CMDLINE.as_bytes(), BOOTSTRAP]));
    assert_eq!(m.pcr2, pcr(&[APP, APP2]));
    assert_eq!(m.pcr8, None);
    // Measuring the file again (not the builder's state) gives the same.
    assert_eq!(eif::measure_eif(&out).unwrap(), info);
}

#[test]
fn layout_and_crc_are_as_documented() {
    let t = Inputs::new();
    let out = t.path("image.eif");
    let info = eif::build_eif(&t.inputs(None), &out).unwrap();
    let b = std::fs::read(&out).unwrap();
    assert_eq!(&b[..4], b".eif");
    assert_eq!(u16::from_be_bytes([b[4], b[5]]), 4, "version");
    assert_eq!(u16::from_be_bytes([b[6], b[7]]), 0, "x86_64");
    assert_eq!(u64::from_be_bytes(b[8..16].try_into().unwrap()), 512 << 20);
    assert_eq!(u16::from_be_bytes([b[26], b[27]]), 6, "sections");
    assert_eq!(
        info.sections.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        [
            SectionKind::Kernel,
            SectionKind::Cmdline,
            SectionKind::Metadata,
            SectionKind::Ramdisk,
            SectionKind::Ramdisk,
            SectionKind::Ramdisk
        ]
    );
    // The first section header sits right after the 548-byte header.
    assert_eq!(u64::from_be_bytes(b[28..36].try_into().unwrap()), 548);
    assert_eq!(u16::from_be_bytes([b[548], b[549]]), 1, "kernel section");
    assert_eq!(&b[560..560 + KERNEL.len()], KERNEL);
    let mut covered = b[..EIF_HEADER_LEN - 4].to_vec();
    covered.extend_from_slice(&b[EIF_HEADER_LEN..]);
    assert_eq!(
        u32::from_be_bytes(b[544..548].try_into().unwrap()),
        crc32(&covered)
    );
}

#[test]
fn builds_are_byte_identical_and_metadata_is_not_measured() {
    let t = Inputs::new();
    let (a, b, c) = (t.path("a.eif"), t.path("b.eif"), t.path("c.eif"));
    let ia = eif::build_eif(&t.inputs(None), &a).unwrap();
    eif::build_eif(&t.inputs(None), &b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let mut other = t.inputs(None);
    other.image_version = "other".into();
    other.build_time_unix = 0;
    let ic = eif::build_eif(&other, &c).unwrap();
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    assert_eq!(ia.measurements, ic.measurements);
}

#[test]
fn damaged_images_are_refused() {
    let t = Inputs::new();
    let out = t.path("image.eif");
    eif::build_eif(&t.inputs(None), &out).unwrap();
    let good = std::fs::read(&out).unwrap();
    let kernel_at = EIF_HEADER_LEN + 12;

    // One kernel byte changed: the CRC catches it...
    let mut b = good.clone();
    b[kernel_at] ^= 1;
    assert!(matches!(
        measure_bytes(&b).unwrap_err(),
        DeployError::EifCrcMismatch { .. }
    ));
    // ...and with the CRC recomputed, PCR0 and PCR1 change but PCR2 does not.
    rewrite_crc(&mut b);
    let m = measure_bytes(&b).unwrap().measurements;
    let orig = measure_bytes(&good).unwrap().measurements;
    assert_ne!(m.pcr0, orig.pcr0);
    assert_ne!(m.pcr1, orig.pcr1);
    assert_eq!(m.pcr2, orig.pcr2);

    let malformed = |bytes: &[u8], why: &str| match measure_bytes(bytes).unwrap_err() {
        DeployError::EifMalformed { reason, .. } => assert!(reason.contains(why), "{reason}"),
        e => panic!("{why}: {e:?}"),
    };
    malformed(&good[..good.len() - 1], "ends early");
    let mut b = good.clone();
    b.push(0);
    malformed(&b, "trailing");
    let mut b = good.clone();
    b[0] = b'E';
    malformed(&b, "magic");
    let mut b = good.clone();
    b[27] = 33;
    malformed(&b, "32 sections");
    // Section size in the table disagrees with the section header.
    let mut b = good.clone();
    b[28 + 8 * 32 + 7] ^= 1;
    rewrite_crc(&mut b);
    malformed(&b, "size differs");
    // Unknown section type.
    let mut b = good.clone();
    b[EIF_HEADER_LEN + 1] = 9;
    rewrite_crc(&mut b);
    malformed(&b, "unknown section type");
}

fn signer() -> (EifSigner, Vec<u8>) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sealboost-eif-signer".into()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let s = EifSigner::from_pem(&cert.pem(), &kp.serialize_pem()).unwrap();
    (s, cert.der().to_vec())
}

#[test]
fn signed_image_has_pcr8_of_the_certificate() {
    let t = Inputs::new();
    let (s, cert_der) = signer();
    let out = t.path("signed.eif");
    let info = eif::build_eif(&t.inputs(Some(s)), &out).unwrap();
    assert_eq!(info.measurements.pcr8, Some(pcr(&[&cert_der])));
    // Signing adds PCR8 and changes nothing else.
    let unsigned = eif::build_eif(&t.inputs(None), &t.path("u.eif")).unwrap();
    assert_eq!(info.measurements.pcr0, unsigned.measurements.pcr0);
    assert_eq!(info.measurements.pcrs().len(), 4);
    assert_eq!(info.sections.last().unwrap().0, SectionKind::Signature);

    // Flip the last byte of the file (inside the ES384 signature): refused even with a
    // consistent CRC, because the signature no longer verifies.
    let mut b = std::fs::read(&out).unwrap();
    let last = b.len() - 1;
    b[last] ^= 1;
    rewrite_crc(&mut b);
    assert!(matches!(
        measure_bytes(&b).unwrap_err(),
        DeployError::EifSignatureInvalid { .. }
    ));
}

#[test]
fn signing_key_must_match_the_certificate() {
    let (_, _) = signer();
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["a".into()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    assert!(matches!(
        EifSigner::from_pem(&cert.pem(), &other.serialize_pem()).unwrap_err(),
        DeployError::EifInput { .. }
    ));
}

/// Byte-exact encodings of the signature section and of the signed PCR payload, against
/// the vectors aws-nitro-enclaves-image-format 0.8.1 pins in its `utils::cbor` tests
/// (bytes written by the serde_cbor encoder nitro-cli used up to 0.8.0).
#[test]
fn signature_encodings_match_nitro_cli() {
    let pcr_info = eif::pcr_info(0, &(0u8..48).collect::<Vec<_>>());
    assert_eq!(
        hex::encode(pcr_info),
        "a26e72656769737465725f696e646578006e72656769737465725f76616c756598300001020304050607\
         08090a0b0c0d0e0f101112131415161718181819181a181b181c181d181e181f18201821182218231824\
         18251826182718281829182a182b182c182d182e182f"
    );
    let section = eif::signature_section(
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        &[0xd2, 0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x40, 0x40],
    );
    assert_eq!(
        hex::encode(section),
        "81a2737369676e696e675f6365727469666963617465983b182d182d182d182d182d184218451847\
         1849184e182018431845185218541849184618491843184118541845182d182d182d182d182d0a184d\
         1849184918420a182d182d182d182d182d1845184e1844182018431845185218541849184618491843\
         184118541845182d182d182d182d182d0a697369676e61747572658a18d21884184418a10118381822\
         18a018401840"
    );
}

fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sealboost-deploy"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_build_and_measure_agree() {
    let t = Inputs::new();
    let out = t.path("cli.eif");
    let built = run(&[
        "eif",
        "build",
        "--kernel",
        s(&t.path("kernel")),
        "--cmdline",
        CMDLINE,
        "--ramdisk",
        s(&t.path("r0")),
        "--ramdisk",
        s(&t.path("r1")),
        "--ramdisk",
        s(&t.path("r2")),
        "--out",
        s(&out),
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let measured = run(&["measure", "--eif", s(&out)]);
    assert!(measured.status.success());
    assert_eq!(built.stdout, measured.stdout);
    let text = String::from_utf8(measured.stdout).unwrap();
    let want = format!(
        "PCR0 {}\nPCR1 {}\nPCR2 {}\n",
        hex::encode(pcr(&[KERNEL, CMDLINE.as_bytes(), BOOTSTRAP, APP, APP2])),
        hex::encode(pcr(&[KERNEL, CMDLINE.as_bytes(), BOOTSTRAP])),
        hex::encode(pcr(&[APP, APP2])),
    );
    assert_eq!(text, want);
}

/// Reads a newc archive back (separately from the writer): (name, mode, mtime, data).
fn read_newc(mut b: &[u8]) -> Vec<(String, u32, u32, Vec<u8>)> {
    let field = |h: &[u8], i: usize| {
        u32::from_str_radix(std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap()
    };
    let pad = |n: usize| (4 - n % 4) % 4;
    let mut out = Vec::new();
    loop {
        assert_eq!(&b[..6], b"070701");
        let (mode, mtime, size, namesize) = (
            field(b, 1),
            field(b, 5),
            field(b, 6) as usize,
            field(b, 11) as usize,
        );
        assert_eq!((field(b, 2), field(b, 3)), (0, 0), "owner 0:0");
        let name = String::from_utf8(b[110..110 + namesize - 1].to_vec()).unwrap();
        let data_at = 110 + namesize + pad(110 + namesize);
        let data = b[data_at..data_at + size].to_vec();
        b = &b[data_at + size + pad(size)..];
        if name == "TRAILER!!!" {
            assert!(b.is_empty());
            return out;
        }
        out.push((name, mode, mtime, data));
    }
}

#[test]
fn ramdisks_are_deterministic_newc_archives() {
    use deploy::cpio::{Archive, Entry};
    let t = Inputs::new();
    let build = || {
        let mut a = Archive::new();
        // Added out of order: the archive is sorted.
        a.add(
            "rootfs/sealboost-enclave",
            Entry::File {
                source: t.path("r1"),
                mode: 0o755,
            },
        )
        .unwrap();
        a.add(
            "cmd",
            Entry::Bytes {
                data: b"/sealboost-enclave\n--platform\nnitro\n".to_vec(),
                mode: 0o644,
            },
        )
        .unwrap();
        a.add(
            "dev/console",
            Entry::CharDev {
                major: 5,
                minor: 1,
                mode: 0o600,
            },
        )
        .unwrap();
        a.to_bytes(1_700_000_000).unwrap()
    };
    let bytes = build();
    assert_eq!(bytes, build());
    let entries = read_newc(&bytes);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "cmd",
            "dev",
            "dev/console",
            "rootfs",
            "rootfs/sealboost-enclave"
        ]
    );
    assert_eq!(entries[4].1, 0o100755);
    assert_eq!(entries[4].3, APP);
    assert_eq!(entries[1].1, 0o040755);
    assert_eq!(entries[2].1, 0o020600);
    assert!(entries.iter().all(|e| e.2 == 1_700_000_000));

    let mut a = Archive::new();
    a.add("x", Entry::Dir { mode: 0o755 }).unwrap();
    assert!(matches!(
        a.add("x", Entry::Dir { mode: 0o755 }),
        Err(DeployError::EifInput { .. })
    ));
    assert!(matches!(
        a.add("../etc/passwd", Entry::Dir { mode: 0o755 }),
        Err(DeployError::EifInput { reason }) if reason.contains("bad archive path")
    ));
    a.add(
        "f",
        Entry::Bytes {
            data: vec![],
            mode: 0o644,
        },
    )
    .unwrap();
    assert!(matches!(
        a.add(
            "f/g",
            Entry::Bytes {
                data: vec![],
                mode: 0o644
            }
        )
        .unwrap_err(),
        DeployError::EifInput { .. }
    ));
}
