//! Harness for end-to-end tests: starts the real `sealboost-host`, which launches the real
//! simulated `sealboost-enclave`, on private Unix sockets and loopback port 0.
//!
//! The binaries come from the same target directory as the test executable; `./dev test`
//! (the README's test command) builds them first (`cargo build --workspace --bins`).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)] // test harness: a failed setup step should stop the test loudly

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of a workspace binary next to the running test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} missing: run the tests with ./dev test, which builds every binary first",
        p.display()
    );
    p
}

/// Options for [`Stack::start_with`].
#[derive(Debug, Clone, Default)]
pub struct StackOpts {
    pub egress_allow: Vec<String>,
    pub max_connections: Option<usize>,
    /// Reuse a store (and CA) directory from an earlier stack.
    pub dir: Option<PathBuf>,
    /// Start the host without an enclave (tests that play the enclave themselves).
    pub no_enclave: bool,
    /// Connect the enclave to this Signal stand-in (egress allowed, roots passed).
    pub signal: Option<SimInfo>,
    /// `SEALBOOST_LOG` for host and enclave (default `debug`, so failures explain
    /// themselves; `info` is what a deployment runs).
    pub log: Option<String>,
    /// More `sealboost-enclave` options (e.g. `--unlock-budget-bytes=…`).
    pub enclave_args: Vec<String>,
    /// Tests only: the host's fault-switch file (`--danger-test-faults`).
    pub danger_test_faults: Option<PathBuf>,
}

/// Where a running signal-sim is and how to trust it.
#[derive(Debug, Clone)]
pub struct SimInfo {
    pub addr: SocketAddr,
    pub ca_pem: PathBuf,
    pub trust_root: PathBuf,
}

/// A `signal-sim serve` process (the local Signal stand-in), killed on drop.
#[derive(Debug)]
pub struct Sim {
    pub child: Child,
    pub info: SimInfo,
}

impl Sim {
    /// Starts `signal-sim serve` on loopback port 0, writing its roots under `dir`.
    pub fn start(dir: &Path, extra: &[&str]) -> Sim {
        std::fs::create_dir_all(dir).unwrap();
        let log = std::fs::File::create(dir.join("signal-sim.log")).unwrap();
        let mut child = Command::new(bin("signal-sim"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--accept-any-code",
                "--dir",
            ])
            .arg(dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .unwrap_or_else(|| panic!("signal-sim did not report addr: {line:?}"))
            .parse()
            .unwrap();
        Sim {
            child,
            info: SimInfo {
                addr,
                ca_pem: dir.join("ca.pem"),
                trust_root: dir.join("sealed-sender-root.pub"),
            },
        }
    }

    /// The sim's log so far.
    pub fn log(&self) -> String {
        let dir = self.info.ca_pem.parent().unwrap();
        std::fs::read_to_string(dir.join("signal-sim.log")).unwrap_or_default()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running host (+ simulated enclave).
#[derive(Debug)]
pub struct Stack {
    _tmp: Option<tempfile::TempDir>,
    pub dir: PathBuf,
    pub host: Child,
    pub ingress: SocketAddr,
    pub health: SocketAddr,
}

impl Stack {
    pub fn start() -> Self {
        Self::start_with(StackOpts::default())
    }

    pub fn start_with(opts: StackOpts) -> Self {
        let (tmp, dir) = match &opts.dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::tempdir().unwrap();
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        if !dir.join("ca").join(deploy::SIM_ATTESTER_PEM).exists() {
            deploy::init_sim_ca(&dir.join("ca")).unwrap();
        }
        let mut cmd = Command::new(bin("sealboost-host"));
        cmd.arg("run")
            .args(["--listen", "127.0.0.1:0", "--health-listen", "127.0.0.1:0"])
            .arg("--store")
            .arg(dir.join("store.redb"))
            .arg(format!(
                "--enclave-link=unix:{}",
                dir.join("enclave.sock").display()
            ))
            .arg(format!(
                "--host-link=unix:{}",
                dir.join("host.sock").display()
            ));
        for a in &opts.egress_allow {
            cmd.arg(format!("--egress-allow={a}"));
        }
        if let Some(sim) = &opts.signal {
            cmd.arg(format!("--egress-allow={}", sim.addr));
        }
        if let Some(f) = &opts.danger_test_faults {
            cmd.arg(format!("--danger-test-faults={}", f.display()));
        }
        if let Some(n) = opts.max_connections {
            cmd.arg(format!("--max-connections={n}"));
        }
        if !opts.no_enclave {
            cmd.arg("--launch=simulated")
                .arg("--enclave-bin")
                .arg(bin("sealboost-enclave"));
            for a in [
                "--platform=simulated".to_owned(),
                format!("--listen=unix:{}", dir.join("enclave.sock").display()),
                format!("--host=unix:{}", dir.join("host.sock").display()),
                format!(
                    "--sim-attester={}",
                    dir.join("ca").join(deploy::SIM_ATTESTER_PEM).display()
                ),
            ] {
                cmd.arg(format!("--enclave-arg={a}"));
            }
            for a in &opts.enclave_args {
                cmd.arg(format!("--enclave-arg={a}"));
            }
            if let Some(sim) = &opts.signal {
                for a in [
                    format!("--signal-service={}", sim.addr),
                    format!("--signal-ca={}", sim.ca_pem.display()),
                    format!("--signal-trust-root={}", sim.trust_root.display()),
                ] {
                    cmd.arg(format!("--enclave-arg={a}"));
                }
            }
        }
        let log = std::fs::File::create(dir.join("host.log")).unwrap();
        cmd.env("SEALBOOST_LOG", opts.log.as_deref().unwrap_or("debug"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut host = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(host.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let field = |k: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .unwrap_or_else(|| panic!("host did not report {k}: {line:?}"))
                .parse()
                .unwrap()
        };
        let stack = Stack {
            ingress: field("ingress="),
            health: field("health="),
            _tmp: tmp,
            dir,
            host,
        };
        if !opts.no_enclave {
            stack.wait_ready(Duration::from_secs(20));
        }
        stack
    }

    /// Polls `/healthz` until the enclave reports ready.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, _)) = http_get(self.health, "/healthz") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "stack not ready; host log:\n{}",
                self.host_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn host_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("host.log")).unwrap_or_default()
    }

    /// The host's link socket (where an enclave connects).
    pub fn host_link(&self) -> wire::link::LinkAddr {
        wire::link::LinkAddr::Unix(self.dir.join("host.sock"))
    }

    pub fn metric(&self, name: &str) -> u64 {
        let (_, body) = http_get(self.health, "/metrics").unwrap();
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("sealboost_host_{name} ")))
            .unwrap_or_else(|| panic!("no metric {name}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Waits (up to 5 s) until a counter reaches `want`; counters are updated when a
    /// relayed connection finishes, slightly after the client sees its end.
    pub fn wait_metric(&self, name: &str, want: u64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.metric(name) != want {
            assert!(
                Instant::now() < deadline,
                "metric {name} stuck at {} (want {want})",
                self.metric(name)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// PIDs of enclave processes launched for this stack (matched by its socket path).
    pub fn enclave_pids(&self) -> Vec<u32> {
        let needle = self.dir.join("enclave.sock").display().to_string();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains("sealboost-enclave")
                && cmdline.contains(&needle)
                && !cmdline.contains("sealboost-host")
                && std::fs::read_link(e.path().join("exe"))
                    .is_ok_and(|p| p.to_string_lossy().contains("sealboost-enclave"))
            {
                out.push(pid);
            }
        }
        out
    }

    /// SIGKILL the host (no cleanup, like a power cut for the host process).
    pub fn kill_host(&mut self) {
        let _ = self.host.kill();
        let _ = self.host.wait();
    }

    /// SIGTERM and wait: the graceful path.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.host.id().to_string())
            .status();
        self.host.wait().unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.host.kill();
        let _ = self.host.wait();
    }
}

/// A plain HTTP/1.1 GET (for the operator's health port). Returns status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_owned();
    Ok((status, body))
}

/// A signed release policy that pins this stack's simulation root and the PCRs of the
/// enclave binary under test, plus the release key that signed it.
#[derive(Debug)]
pub struct DevPolicy {
    pub policy: attestation::Policy,
    pub signed_file: Vec<u8>,
    pub release_key_hex: String,
}

/// Builds [`DevPolicy`] for `stack` (PCR0 overridable to model a different build).
pub fn signed_sim_policy(stack: &Stack, pcr0_override: Option<[u8; 48]>) -> DevPolicy {
    use std::fmt::Write as _;
    let pem = std::fs::read_to_string(stack.dir.join("ca").join(deploy::SIM_CA_PEM)).unwrap();
    let root = attestation::simulated::SimulationCa::from_pem(&pem)
        .unwrap()
        .root_sha256();
    let mut pcrs =
        attestation::simulated::enclave_pcrs(&std::fs::read(bin("sealboost-enclave")).unwrap());
    if let Some(p) = pcr0_override {
        pcrs.insert(0, p);
    }
    let mut body = format!(
        "version = 1\n\n[simulated]\ntrusted_root_sha256 = \"{}\"\nmax_evidence_age_secs = 300\n\n[[simulated.allowed]]\nlabel = \"build under test\"\npcrs = {{ ",
        hex_lower(&root)
    );
    for (i, (k, v)) in pcrs.iter().filter(|(k, _)| **k <= 2).enumerate() {
        let _ = write!(
            body,
            "{}{k} = \"{}\"",
            if i > 0 { ", " } else { "" },
            hex_lower(v)
        );
    }
    body.push_str(" }\n");
    let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let signed_file = attestation::policy::sign(body.as_bytes(), &key).unwrap();
    let policy = attestation::SignedPolicy::parse(&signed_file)
        .unwrap()
        .verify(&key.verifying_key())
        .unwrap();
    DevPolicy {
        policy,
        signed_file,
        release_key_hex: hex_lower(key.verifying_key().as_bytes()),
    }
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Talks blob RPC to the host directly, as a hostile operator (or the enclave) could.
pub async fn blob_call(stack: &Stack, req: wire::blob::BlobRequest) -> wire::blob::BlobResponse {
    use wire::frame::FrameKind;
    let mut s = wire::link::connect(&stack.host_link()).await.unwrap();
    wire::link::hello(&mut s, wire::hello::Stream::Blob)
        .await
        .unwrap();
    wire::link::write_frame(&mut s, FrameKind::BlobRequest, &req.encode().unwrap())
        .await
        .unwrap();
    let b = wire::link::read_frame_of(&mut s, FrameKind::BlobResponse)
        .await
        .unwrap();
    wire::blob::BlobResponse::decode(&b).unwrap()
}

pub mod tls {
    //! A TLS client for tests that only need the enclave's transport, not its identity.
    //! Attestation-checking clients live in client-verify; this one is named for what it
    //! does not do.
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// Connector that skips certificate checks (TEST ONLY).
    pub fn insecure_connector() -> tokio_rustls::TlsConnector {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
    }
}

pub mod lifecycle;
pub mod signal;

/// The platforms the tests' admin sessions accept: the stack they start is the simulated
/// enclave, which a client refuses unless told (`--allow-simulated`).
pub const SIMULATED_OK: client_verify::session::Platforms =
    client_verify::session::Platforms::DangerIncludingSimulated;
