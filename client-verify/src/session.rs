//! An attested session with the enclave (SPEC §3.2): TLS 1.3 to whatever certificate the
//! server shows, then fresh evidence for a fresh nonce on *this* session, verified against
//! the pinned policy and bound to *this* session's server key. Only an [`AttestedSession`]
//! can send requests, so nothing secret can travel before those checks pass.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use attestation::{Evidence, Platform, Policy, PolicyOrigin, UnixTime, Verified};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use rand_core::{OsRng, RngCore};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Largest response body the client reads (evidence with endorsements is ~10 KiB).
pub const MAX_RESPONSE_BODY: usize = 1024 * 1024;
/// Nonce length the client uses (SPEC §3.2).
pub const NONCE_LEN: usize = 32;
/// Length of the TLS exporter value SK proofs bind to (RFC 9266).
pub const TLS_BINDING_LEN: usize = 32;

/// Why a session was not established. Each variant names the failed check; none carries a
/// secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("connecting: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    #[error("the server certificate is not parseable X.509")]
    ServerCertificate,
    #[error("HTTP: {0}")]
    Http(String),
    /// The connection had closed (e.g. the enclave ended an idle keep-alive connection)
    /// before this request was written: nothing was sent, so it may be sent again on a new
    /// attested session.
    #[error("the session closed before the request was sent")]
    Closed,
    #[error("enclave answered {status} ({code})")]
    Status { status: u16, code: String },
    #[error("malformed attestation answer: {0}")]
    Malformed(&'static str),
    #[error("attestation rejected: {0}")]
    Attestation(#[from] attestation::Error),
    /// The policy was not loaded through a release-key signature check (an operator's
    /// ad-hoc check policy): nothing secret may be sent under it.
    #[error("the policy is not a signed release policy: pin the release policy signed by the release key")]
    UnsignedPolicy,
    /// The enclave is the simulation (no TEE) and this client did not ask for that.
    #[error("the enclave is SIMULATED, not a TEE: refused (for a development stack, pass --allow-simulated or set SEALBOOST_ALLOW_SIMULATED=1)")]
    SimulatedRefused,
}

/// Which platforms a session accepts, beyond what the signed policy allows. The safe
/// default is [`Platforms::TeeOnly`]; the simulation needs an explicit choice by the caller
/// (and, separately, a policy whose signer allowed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Platforms {
    /// Nitro and SEV-SNP only.
    #[default]
    TeeOnly,
    /// Also the simulated platform: development and CI stacks only.
    DangerIncludingSimulated,
}

/// Records the server's end-entity certificate. It vouches for nothing by itself: the
/// handshake signature proves the server holds its key, and the attestation binding
/// (checked before the session is handed out) proves the key belongs to a verified enclave.
#[derive(Debug)]
struct BindLater {
    provider: Arc<rustls::crypto::CryptoProvider>,
    seen: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for BindLater {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(end_entity.to_vec());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // TLS 1.2 is never offered (protocol versions below).
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS session to an enclave whose evidence was verified and bound to this session.
pub struct AttestedSession {
    sender: SendRequest<Full<Bytes>>,
    claims: Verified<attestation::Claims>,
    negotiated_group: Option<rustls::NamedGroup>,
    tls_binding: Vec<u8>,
}

impl std::fmt::Debug for AttestedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestedSession")
            .field("platform", &self.claims.platform)
            .finish_non_exhaustive()
    }
}

fn spki_of(cert_der: &[u8]) -> Result<Vec<u8>, SessionError> {
    use der::{Decode, Encode};
    let cert =
        x509_cert::Certificate::from_der(cert_der).map_err(|_| SessionError::ServerCertificate)?;
    cert.tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| SessionError::ServerCertificate)
}

impl AttestedSession {
    /// Connects to `addr` (the host's ingress), attests, verifies under `policy` at `now`,
    /// and checks the binding. Fails before returning anything that could send a secret.
    /// Real TEEs only ([`Platforms::TeeOnly`]).
    pub async fn connect(
        addr: SocketAddr,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<Self, SessionError> {
        Self::connect_with(addr, policy, now, Platforms::TeeOnly).await
    }

    /// [`AttestedSession::connect`], choosing which platforms to accept. The policy must be
    /// a signed release policy ([`PolicyOrigin::Signed`]) either way.
    pub async fn connect_with(
        addr: SocketAddr,
        policy: &Policy,
        now: UnixTime,
        platforms: Platforms,
    ) -> Result<Self, SessionError> {
        if !matches!(policy.origin(), PolicyOrigin::Signed { .. }) {
            return Err(SessionError::UnsignedPolicy);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(BindLater {
            provider: provider.clone(),
            seen: Mutex::new(None),
        });
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| SessionError::Tls(std::io::Error::other(e)))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(SessionError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from("sealboost-enclave").expect("static name is valid");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .map_err(SessionError::Tls)?;
        let negotiated_group = tls
            .get_ref()
            .1
            .negotiated_key_exchange_group()
            .map(|g| g.name());
        // RFC 9266 `tls-exporter` of this session: what SK proofs bind to (SPEC §3.7).
        let mut tls_binding = vec![0u8; TLS_BINDING_LEN];
        tls.get_ref()
            .1
            .export_keying_material(&mut tls_binding[..], b"EXPORTER-Channel-Binding", None)
            .map_err(|e| SessionError::Tls(std::io::Error::other(e)))?;
        let cert = verifier
            .seen
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .ok_or(SessionError::ServerCertificate)?;
        let spki = spki_of(&cert)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| SessionError::Http(e.to_string()))?;
        tokio::spawn(conn.with_upgrades());

        // SPEC §3.2 steps 1–2: a fresh nonce, evidence requested on this very session.
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let body = serde_json::json!({ "nonce": B64.encode(nonce) }).to_string();
        let (status, answer) = request(&mut sender, "POST", "/v1/attestation", body).await?;
        if status != 200 {
            return Err(error_status(status, &answer));
        }
        let evidence = parse_evidence(&answer)?;
        // Step 3: the pinned policy decides.
        let claims = attestation::verify(&evidence, policy, now)?;
        if claims.platform == Platform::Simulated
            && platforms != Platforms::DangerIncludingSimulated
        {
            return Err(SessionError::SimulatedRefused);
        }
        // Step 4: the evidence speaks for the key this session is encrypted to.
        attestation::binding::check(&claims, &spki, &nonce)?;
        Ok(Self {
            sender,
            claims,
            negotiated_group,
            tls_binding,
        })
    }

    pub fn claims(&self) -> &Verified<attestation::Claims> {
        &self.claims
    }

    /// The TLS key exchange group (X25519MLKEM768 when the hybrid was negotiated).
    pub fn key_exchange_group(&self) -> Option<rustls::NamedGroup> {
        self.negotiated_group
    }

    /// This session's RFC 9266 exporter value (SPEC §3.7).
    pub fn tls_binding(&self) -> &[u8] {
        &self.tls_binding
    }

    /// `GET path` with `Upgrade: protocol`; on `101` the session becomes a raw byte stream
    /// (still inside the attested TLS). Any other answer is returned as [`SessionError::Status`].
    pub async fn upgrade(
        mut self,
        path: &str,
        protocol: &str,
    ) -> Result<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>, SessionError> {
        let req = hyper::Request::builder()
            .method("GET")
            .uri(path)
            .header("host", "sealboost-enclave")
            .header("connection", "upgrade")
            .header("upgrade", protocol)
            .body(Full::new(Bytes::new()))
            .map_err(|e| SessionError::Http(e.to_string()))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| SessionError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if status != 101 {
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_BODY)
                .collect()
                .await
                .map_err(|_| SessionError::Malformed("response body too large or broken"))?
                .to_bytes();
            return Err(error_status(status, &body));
        }
        let io = hyper::upgrade::on(resp)
            .await
            .map_err(|e| SessionError::Http(e.to_string()))?;
        Ok(hyper_util::rt::TokioIo::new(io))
    }

    /// Sends a JSON request on the attested session. Returns status and body.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: String,
    ) -> Result<(u16, Vec<u8>), SessionError> {
        request(&mut self.sender, method, path, body).await
    }
}

async fn request(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    body: String,
) -> Result<(u16, Vec<u8>), SessionError> {
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "sealboost-enclave")
        .header("content-type", "application/json")
        // Request bodies carry SK in base64: hyper gets memory that is wiped when it is
        // done with it (its own write buffers are not; enclave VAULT.md §10).
        .body(Full::new(Bytes::from_owner(zeroize::Zeroizing::new(
            body.into_bytes(),
        ))))
        .map_err(|e| SessionError::Http(e.to_string()))?;
    if sender.is_closed() {
        return Err(SessionError::Closed);
    }
    let resp = match sender.try_send_request(req).await {
        Ok(r) => r,
        // hyper hands the request back only if none of it reached the connection.
        Err(e) if e.message().is_some() => return Err(SessionError::Closed),
        Err(e) => return Err(SessionError::Http(e.into_error().to_string())),
    };
    let status = resp.status().as_u16();
    let body = Limited::new(resp.into_body(), MAX_RESPONSE_BODY)
        .collect()
        .await
        .map_err(|_| SessionError::Malformed("response body too large or broken"))?
        .to_bytes();
    let out = body.to_vec();
    // Answers can carry SK too: the received copy is overwritten when it is ours alone.
    if let Ok(mut owned) = body.try_into_mut() {
        zeroize::Zeroize::zeroize(owned.as_mut());
    }
    Ok((status, out))
}

fn error_status(status: u16, body: &[u8]) -> SessionError {
    let code = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|c| c.as_str()).map(str::to_owned))
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .unwrap_or_else(|| "unknown".to_owned());
    SessionError::Status { status, code }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationAnswer {
    platform: String,
    evidence: String,
    endorsements: Vec<String>,
}

fn parse_evidence(body: &[u8]) -> Result<Evidence, SessionError> {
    let a: AttestationAnswer =
        serde_json::from_slice(body).map_err(|_| SessionError::Malformed("not the answer JSON"))?;
    let decode = |s: &str| {
        B64.decode(s)
            .map_err(|_| SessionError::Malformed("bad base64"))
    };
    let evidence = decode(&a.evidence)?;
    Ok(match a.platform.as_str() {
        "nitro" => Evidence::Nitro(evidence),
        "simulated" => Evidence::Simulated(evidence),
        "sev-snp" => {
            let mut certs = a.endorsements.iter();
            let vcek = certs.next().ok_or(SessionError::Malformed(
                "SEV-SNP evidence without a VCEK/VLEK",
            ))?;
            Evidence::SevSnp {
                report: evidence,
                vcek_or_vlek: decode(vcek)?,
                ask_or_asvk: certs.next().map(|c| decode(c)).transpose()?,
            }
        }
        _ => return Err(SessionError::Malformed("unknown platform")),
    })
}
