//! The release-policy tool: drafts round-trip, signatures verify as a client verifies
//! them, and tampered, wrongly signed, unsigned or unsafe policies are refused with the
//! specific error.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // test helpers: a failed step should stop the test loudly

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use attestation::policy::SigningKey;
use attestation::simulated::{AttesterMaterial, SimulatedAttester};
use attestation::{Evidence, Generation, PolicyOrigin, UnixTime};
use deploy::{DeployError, HostData, Platform, PolicyDraft, Tcb};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn pcrs(fill: u8) -> BTreeMap<u8, [u8; 48]> {
    BTreeMap::from([(0, [fill; 48]), (1, [fill ^ 1; 48]), (2, [fill ^ 2; 48])])
}

fn milan() -> BTreeMap<Generation, Tcb> {
    BTreeMap::from([(
        Generation::Milan,
        Tcb {
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 115,
            fmc: None,
        },
    )])
}

/// A complete production draft: Nitro and SEV-SNP, one release each.
fn release_draft() -> PolicyDraft {
    let mut d = PolicyDraft::empty()
        .with_nitro(300)
        .unwrap()
        .with_sev_snp(false, milan())
        .unwrap();
    d.add_nitro(Some("release \"1\""), pcrs(0xa0)).unwrap();
    d.add_sev_snp(Some("release 1"), [0x5a; 48], HostData::Skip)
        .unwrap();
    d.add_sev_snp(None, [0x5b; 48], HostData::Expected([7; 32]))
        .unwrap();
    d
}

#[test]
fn draft_text_round_trips_and_is_a_valid_body() {
    let d = release_draft();
    let text = d.to_toml();
    let back = PolicyDraft::parse(&text).unwrap();
    assert_eq!(back, d);
    assert_eq!(back.to_toml(), text, "rendering is canonical");
    // What clients parse agrees with what we built.
    let p = d.validate().unwrap();
    assert_eq!(p.nitro().unwrap().allowed(), &[pcrs(0xa0)]);
    assert_eq!(p.nitro().unwrap().max_evidence_age_secs(), 300);
    let snp = p.sev_snp().unwrap();
    assert_eq!(snp.allowed().len(), 2);
    assert_eq!(snp.allowed()[0].measurement, [0x5a; 48]);
    assert!(!snp.allow_vlek());
    assert!(p.simulated().is_none());
}

#[test]
fn signed_policy_verifies_under_the_release_key() {
    let file = release_draft().sign(&key(1)).unwrap();
    let p = deploy::verify_signed_policy(&file, &key(1).verifying_key()).unwrap();
    assert_eq!(
        p.origin(),
        &PolicyOrigin::Signed {
            release_key: hex::encode(key(1).verifying_key().as_bytes())
        }
    );
    assert_eq!(p.nitro().unwrap().allowed(), &[pcrs(0xa0)]);
}

#[test]
fn wrong_key_is_refused() {
    let file = release_draft().sign(&key(1)).unwrap();
    let err = deploy::verify_signed_policy(&file, &key(2).verifying_key()).unwrap_err();
    assert!(
        matches!(
            err,
            DeployError::Policy(attestation::Error::PolicySignatureInvalid)
        ),
        "{err:?}"
    );
}

#[test]
fn every_tampered_body_byte_is_refused() {
    let file = release_draft().sign(&key(1)).unwrap();
    let header = file.iter().position(|b| *b == b'\n').unwrap() + 1;
    for i in header..file.len() {
        let mut f = file.clone();
        f[i] ^= 0x20;
        let err = deploy::verify_signed_policy(&f, &key(1).verifying_key()).unwrap_err();
        assert!(
            matches!(
                err,
                DeployError::Policy(attestation::Error::PolicySignatureInvalid)
            ),
            "byte {i}: {err:?}"
        );
    }
    // Appending a line (say, one more allowed PCR set) breaks it too.
    let mut f = file.clone();
    f.extend_from_slice(b"\n[[nitro.allowed]]\n");
    let err = deploy::verify_signed_policy(&f, &key(1).verifying_key()).unwrap_err();
    assert!(matches!(
        err,
        DeployError::Policy(attestation::Error::PolicySignatureInvalid)
    ));
}

#[test]
fn tampered_signature_and_unsigned_files_are_refused() {
    let file = release_draft().sign(&key(1)).unwrap();
    let vk = key(1).verifying_key();
    // Flip one hex digit of the signature.
    let sig_at = "sealboost-signed-policy-v1 ed25519 ".len() + 10;
    let mut f = file.clone();
    f[sig_at] = if f[sig_at] == b'0' { b'1' } else { b'0' };
    assert!(matches!(
        deploy::verify_signed_policy(&f, &vk).unwrap_err(),
        DeployError::Policy(attestation::Error::PolicySignatureInvalid)
    ));
    // A bare body (someone "simplified" the file).
    let body = release_draft().to_toml();
    assert!(matches!(
        deploy::verify_signed_policy(body.as_bytes(), &vk).unwrap_err(),
        DeployError::Policy(attestation::Error::PolicyUnsigned)
    ));
    // A truncated signature.
    let mut f = file.clone();
    f.remove(sig_at);
    assert!(matches!(
        deploy::verify_signed_policy(&f, &vk).unwrap_err(),
        DeployError::Policy(attestation::Error::PolicyEnvelopeMalformed { .. })
    ));
}

#[test]
fn release_signing_refuses_a_simulation_root() {
    let mut d = release_draft().with_simulated([9; 32], 300).unwrap();
    d.add_simulated(Some("ci"), pcrs(0x11)).unwrap();
    let err = d.sign(&key(1)).unwrap_err();
    assert!(
        matches!(&err, DeployError::DraftInvalid { reason } if reason.contains("SIMULATION")),
        "{err:?}"
    );
    // The explicitly named path signs it, and says so in the body.
    let file = d.sign_allowing_simulated(&key(1)).unwrap();
    assert!(String::from_utf8_lossy(&file).contains("NOT A TEE"));
    let p = deploy::verify_signed_policy(&file, &key(1).verifying_key()).unwrap();
    assert_eq!(p.simulated().unwrap().trusted_root_sha256(), &[9; 32]);
}

#[test]
fn a_draft_without_measurements_cannot_be_signed() {
    let d = PolicyDraft::empty().with_nitro(300).unwrap();
    let err = d.sign(&key(1)).unwrap_err();
    assert!(
        matches!(
            err,
            DeployError::Policy(attestation::Error::PolicyMalformed { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn draft_edits_are_checked() {
    let mut d = release_draft();
    assert!(matches!(
        d.add_nitro(None, pcrs(0xa0)).unwrap_err(),
        DeployError::DuplicateEntry { platform: "nitro" }
    ));
    let mut no_pcr0 = pcrs(1);
    no_pcr0.remove(&0);
    assert!(matches!(
        d.add_nitro(None, no_pcr0).unwrap_err(),
        DeployError::DraftInvalid { .. }
    ));
    assert!(matches!(
        d.add_simulated(None, pcrs(3)).unwrap_err(),
        DeployError::PlatformNotInDraft {
            platform: "simulated"
        }
    ));
    assert!(matches!(
        d.add_nitro(Some(&"x".repeat(129)), pcrs(4)).unwrap_err(),
        DeployError::DraftInvalid { .. }
    ));
    assert!(matches!(
        PolicyDraft::empty().with_nitro(0).unwrap_err(),
        DeployError::DraftInvalid { .. }
    ));
    // Turin needs fmc; Milan must not have it.
    let mut turin = milan();
    turin.insert(
        Generation::Turin,
        Tcb {
            bootloader: 1,
            tee: 0,
            snp: 2,
            microcode: 71,
            fmc: None,
        },
    );
    assert!(matches!(
        PolicyDraft::empty().with_sev_snp(false, turin).unwrap_err(),
        DeployError::DraftInvalid { .. }
    ));
    // Retiring a release by label.
    assert_eq!(d.remove(Platform::SevSnp, "release 1").unwrap(), 1);
    assert!(matches!(
        d.remove(Platform::SevSnp, "release 1").unwrap_err(),
        DeployError::NoSuchEntry { .. }
    ));
}

#[test]
fn unknown_fields_in_a_draft_are_refused() {
    let text = release_draft().to_toml().replace(
        "allow_vlek = false",
        "allow_vlek = false\nallow_debug = true",
    );
    assert!(matches!(
        PolicyDraft::parse(&text).unwrap_err(),
        DeployError::DraftMalformed { .. }
    ));
}

#[test]
fn command_line_values_parse() {
    let (g, t) =
        deploy::policy::parse_tcb_arg("turin:fmc=0,bootloader=1,tee=0,snp=2,microcode=71").unwrap();
    assert_eq!(g, Generation::Turin);
    assert_eq!(t.fmc, Some(0));
    assert!(matches!(
        deploy::policy::parse_tcb_arg("milan:bootloader=1,tee=0,snp=2"),
        Err(deploy::DeployError::DraftInvalid { .. })
    ));
    assert!(matches!(
        deploy::policy::parse_tcb_arg("rome:bootloader=1,tee=0,snp=2,microcode=1"),
        Err(deploy::DeployError::DraftInvalid { reason }) if reason.contains("generation")
    ));
    let (i, v) = deploy::policy::parse_pcr_arg(&format!("8={}", "ab".repeat(48))).unwrap();
    assert_eq!((i, v), (8, [0xab; 48]));
    assert!(matches!(
        deploy::policy::parse_pcr_arg(&format!("32={}", "ab".repeat(48))),
        Err(deploy::DeployError::DraftInvalid { reason }) if reason.contains("0..=31")
    ));
}

#[test]
fn release_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let vk = deploy::release::write_new_release_key(dir.path()).unwrap();
    let private = dir.path().join("release-key.pem");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let sk = deploy::load_release_key(&private).unwrap();
    assert_eq!(sk.verifying_key(), vk);
    let public = deploy::release::load_release_public(&dir.path().join("release-key.pub")).unwrap();
    assert_eq!(public, vk);
    // Never overwritten.
    assert!(matches!(
        deploy::release::write_new_release_key(dir.path()).unwrap_err(),
        DeployError::AlreadyExists { .. }
    ));
    // A key others can read is refused.
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        deploy::load_release_key(&private).unwrap_err(),
        DeployError::ReleaseKeyPermissions { mode: 0o644, .. }
    ));
    // A public key where the private key should be.
    assert!(matches!(
        deploy::release::release_key_from_pem(
            &std::fs::read_to_string(dir.path().join("release-key.pub")).unwrap()
        ),
        Err(DeployError::ReleaseKeyMalformed { .. })
    ));
}

/// The simulated deployment flow: a CA, a release key, a policy for an enclave binary;
/// then evidence from a simulated enclave running that binary is accepted under the
/// signed policy, and evidence for a different binary is not.
#[test]
fn simulated_flow_accepts_the_measured_binary_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    deploy::init_sim_ca(&ca).unwrap();
    let exe = dir.path().join("sealboost-enclave");
    std::fs::write(&exe, b"pretend enclave binary").unwrap();

    let release = deploy::generate_release_key();
    let draft = deploy::simulated_policy_draft(&ca, &exe, 300, Some("ci")).unwrap();
    let signed = draft.sign_allowing_simulated(&release).unwrap();
    let policy = deploy::verify_signed_policy(&signed, &release.verifying_key()).unwrap();

    let pem = std::fs::read_to_string(ca.join(deploy::SIM_ATTESTER_PEM)).unwrap();
    let now = UnixTime::now();
    let attest = |pcrs| {
        let a = SimulatedAttester::new(AttesterMaterial::from_pem(&pem).unwrap(), pcrs).unwrap();
        Evidence::Simulated(a.attest(None, Some(b"nonce"), Some(b"spki"), now).unwrap())
    };
    let good = attest(deploy::sim_pcrs(&exe).unwrap());
    let claims = attestation::verify(&good, &policy, now).unwrap();
    assert!(matches!(
        claims.claims().policy_origin,
        PolicyOrigin::Signed { .. }
    ));

    std::fs::write(&exe, b"pretend enclave binary, modified").unwrap();
    let other = attest(deploy::sim_pcrs(&exe).unwrap());
    let err = attestation::verify(&other, &policy, now).unwrap_err();
    assert!(
        matches!(
            err,
            attestation::Error::PcrMismatch { index: 0 }
                | attestation::Error::NoPcrSetMatched { .. }
        ),
        "{err:?}"
    );
}
