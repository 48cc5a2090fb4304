//! The enclave's TLS identity (DESIGN §3 "Binding"): a key generated at boot, inside the
//! enclave, never written anywhere, in a self-signed certificate. Clients do not trust the
//! certificate; they trust the attestation evidence that binds its SPKI.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use zeroize::Zeroizing;

/// The boot-time TLS identity.
pub struct TlsIdentity {
    /// SubjectPublicKeyInfo DER of the key; what evidence binds.
    pub spki_der: Vec<u8>,
    pub config: Arc<ServerConfig>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("spki_len", &self.spki_der.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("generating the TLS key: {0}")]
    KeyGen(rcgen::Error),
    #[error("building the TLS config: {0}")]
    Config(rustls::Error),
}

/// The provider for every TLS session that carries SK or plaintext: aws-lc-rs, so the key
/// exchange prefers the hybrid X25519MLKEM768 (DESIGN §3 "Transport").
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl TlsIdentity {
    /// Generates a fresh P-384 key and self-signed certificate. TLS 1.3 only.
    pub fn generate() -> Result<Self, TlsError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
            .map_err(TlsError::KeyGen)?;
        let params = rcgen::CertificateParams::new(vec!["sealboost-enclave".to_owned()])
            .map_err(TlsError::KeyGen)?;
        let cert = params.self_signed(&key).map_err(TlsError::KeyGen)?;
        let spki_der = rcgen::PublicKeyData::subject_public_key_info(&key);
        let pkcs8 = Zeroizing::new(key.serialize_der());
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec()));
        let config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key_der)
            .map_err(TlsError::Config)?;
        Ok(Self {
            spki_der,
            config: Arc::new(config),
        })
    }
}
