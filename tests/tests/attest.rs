//! Attestation end to end: the client verifies the real simulated enclave's evidence, bound to
//! the TLS session it is in, against a pinned policy — and refuses a rebuilt enclave, an
//! untrusted simulation root, and a man in the middle relaying genuine evidence.

// Test code: a failed step should stop the test loudly, and lengths are small constants.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::collections::BTreeMap;
use std::sync::Arc;

use attestation::policy::OperatorCheck;
use attestation::simulated::{enclave_pcrs, SimulationCa};
use attestation::{Error as AttError, Platform, Policy, UnixTime};
use client_verify::session::{AttestedSession, SessionError};
use sealboost_tests::{bin, tls, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sim_root_sha256(stack: &Stack) -> [u8; 32] {
    let pem = std::fs::read_to_string(stack.dir.join("ca").join(deploy::SIM_CA_PEM)).unwrap();
    SimulationCa::from_pem(&pem).unwrap().root_sha256()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A signed release policy (a client sends nothing under any other): PCRs 0–2 pinned, and
/// the simulation root when `root` is given; without it, a policy for Nitro only.
fn policy(pcrs: BTreeMap<u8, [u8; 48]>, root: Option<[u8; 32]>) -> Policy {
    let pins: Vec<String> = pcrs
        .iter()
        .filter(|(k, _)| **k <= 2)
        .map(|(k, v)| format!("{k} = \"{}\"", hex(v)))
        .collect();
    let pins = pins.join(", ");
    let body = match root {
        Some(r) => format!(
            "version = 1\n\n[simulated]\ntrusted_root_sha256 = \"{}\"\nmax_evidence_age_secs = 300\n\n[[simulated.allowed]]\nlabel = \"build under test\"\npcrs = {{ {pins} }}\n",
            hex(&r)
        ),
        None => format!(
            "version = 1\n\n[nitro]\nmax_evidence_age_secs = 300\n\n[[nitro.allowed]]\nlabel = \"build under test\"\npcrs = {{ {pins} }}\n"
        ),
    };
    let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let file = attestation::policy::sign(body.as_bytes(), &key).unwrap();
    attestation::SignedPolicy::parse(&file)
        .unwrap()
        .verify(&key.verifying_key())
        .unwrap()
}

/// The same pins, unsigned: an operator's ad-hoc check policy.
fn unsigned_policy(pcrs: BTreeMap<u8, [u8; 48]>, root: Option<[u8; 32]>) -> Policy {
    Policy::from_unsigned_for_operator_check(OperatorCheck {
        pcrs,
        measurement: None,
        max_evidence_age_secs: 300,
        simulated_root_sha256: root,
    })
    .unwrap()
}

fn enclave_build_pcrs() -> BTreeMap<u8, [u8; 48]> {
    enclave_pcrs(&std::fs::read(bin("sealboost-enclave")).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_accepts_the_enclave_it_can_reproduce() {
    let stack = Stack::start();
    let p = policy(enclave_build_pcrs(), Some(sim_root_sha256(&stack)));
    let mut s = AttestedSession::connect_with(
        stack.ingress,
        &p,
        UnixTime::now(),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap();
    assert_eq!(s.claims().platform, Platform::Simulated);
    assert_eq!(
        s.key_exchange_group(),
        Some(rustls::NamedGroup::X25519MLKEM768)
    );
    let (status, body) = s.send("GET", "/v1/health", String::new()).await.unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8(body).unwrap().contains("\"ready\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_a_changed_enclave_binary() {
    let stack = Stack::start();
    // A policy pinned to another build: PCR0 of a different executable.
    let mut pcrs = enclave_build_pcrs();
    pcrs.insert(
        0,
        enclave_pcrs(&std::fs::read(bin("sealboost-host")).unwrap())[&0],
    );
    let p = policy(pcrs, Some(sim_root_sha256(&stack)));
    let err = AttestedSession::connect_with(
        stack.ingress,
        &p,
        UnixTime::now(),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Attestation(AttError::PcrMismatch { index: 0 })
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_simulation_unless_its_root_is_pinned() {
    let stack = Stack::start();
    // No [simulated] section: simulated evidence is never acceptable by default.
    let p = policy(enclave_build_pcrs(), None);
    let err = AttestedSession::connect_with(
        stack.ingress,
        &p,
        UnixTime::now(),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Attestation(AttError::SimulatedRootNotTrusted)
        ),
        "{err:?}"
    );
    // Pinned to a different simulation root: refused too.
    let p = policy(enclave_build_pcrs(), Some([7u8; 32]));
    let err = AttestedSession::connect_with(
        stack.ingress,
        &p,
        UnixTime::now(),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Attestation(AttError::SimulatedRootMismatch { .. })
        ),
        "{err:?}"
    );
}

/// The host terminates TLS itself (its own key) and relays the client's attestation request
/// to the real enclave: the evidence is genuine, but bound to the enclave's key, not the
/// one the client is talking to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_genuine_evidence_relayed_by_a_man_in_the_middle() {
    let stack = Stack::start();
    let enclave = stack.ingress;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sealboost-enclave".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let mitm = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mitm_addr = mitm.local_addr().unwrap();
    let got_secret = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = got_secret.clone();
    tokio::spawn(async move {
        let (tcp, _) = mitm.accept().await.unwrap();
        let mut client_side = tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
            .accept(tcp)
            .await
            .unwrap();
        let up = tokio::net::TcpStream::connect(enclave).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("sealboost-enclave").unwrap();
        let mut enclave_side = tls::insecure_connector().connect(name, up).await.unwrap();
        let (n1, n2) = tokio::io::copy_bidirectional(&mut client_side, &mut enclave_side)
            .await
            .unwrap_or((0, 0));
        // Only the attestation request ever crossed: the client stopped there.
        flag.store(n1 > 2048, std::sync::atomic::Ordering::SeqCst);
        let _ = n2;
    });
    let p = policy(enclave_build_pcrs(), Some(sim_root_sha256(&stack)));
    let err = AttestedSession::connect_with(
        mitm_addr,
        &p,
        UnixTime::now(),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Attestation(AttError::BindingMismatch { field: "user_data" })
        ),
        "{err:?}"
    );
    assert!(!got_secret.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestation_route_rejects_bad_nonces_with_codes_only() {
    let stack = Stack::start();
    let tcp = tokio::net::TcpStream::connect(stack.ingress).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("sealboost-enclave").unwrap();
    let mut s = tls::insecure_connector().connect(name, tcp).await.unwrap();
    // 8-byte nonce: too short to be unguessable.
    let body = "{\"nonce\":\"AAAAAAAAAAA=\"}";
    s.write_all(
        format!(
            "POST /v1/attestation HTTP/1.1\r\nHost: e\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.ends_with("{\"error\":\"bad_request\"}"), "{out}");
}

/// Defence in depth on the client: nothing is sent under an unsigned (operator check)
/// policy, and a simulated enclave is refused unless the caller asked for it, even when
/// the signed policy pins the simulation root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_unsigned_policies_and_simulation_it_did_not_ask_for() {
    let stack = Stack::start();
    let root = Some(sim_root_sha256(&stack));
    let err = AttestedSession::connect_with(
        stack.ingress,
        &unsigned_policy(enclave_build_pcrs(), root),
        UnixTime::now(),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SessionError::UnsignedPolicy), "{err:?}");
    let err = AttestedSession::connect(
        stack.ingress,
        &policy(enclave_build_pcrs(), root),
        UnixTime::now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SessionError::SimulatedRefused), "{err:?}");
    // The CLI says how to opt in.
    assert!(err.to_string().contains("--allow-simulated"), "{err}");
}
