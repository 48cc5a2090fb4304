#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! `signal-sim serve` as a real process: the ready line, the trust-root files, a request.

mod common;

use std::process::Stdio;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};

#[tokio::test]
async fn serve_prints_ready_line_and_writes_roots() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_signal-sim"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--accept-any-code",
            "--name",
            "sim.test",
            "--dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let rest = line.strip_prefix("signal-sim ready addr=").unwrap();
    let (addr, ca) = rest.split_once(" ca=").unwrap();
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    assert_ne!(addr.port(), 0);
    assert_eq!(std::path::Path::new(ca), dir.path().join("ca.pem"));
    let pem = std::fs::read_to_string(ca).unwrap();
    let der = pem_to_der(&pem);
    let root = std::fs::read_to_string(dir.path().join("sealed-sender-root.pub")).unwrap();
    let root = base64::engine::general_purpose::STANDARD
        .decode(root.trim_end())
        .unwrap();
    libsignal_protocol::PublicKey::deserialize(&root).unwrap();

    // The CA from the file authenticates the server, under the extra name too.
    let tls = common::connector(&der);
    for name in ["localhost", "sim.test", "127.0.0.1"] {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let sn = rustls::pki_types::ServerName::try_from(name).unwrap();
        let mut s = tls.connect(sn, tcp).await.unwrap();
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        s.write_all(
            b"HEAD /v1/accounts/account/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        assert!(
            out.starts_with(b"HTTP/1.1 404"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}
