//! Sealed-sender certificates (SPEC §7.5): a trust root made at start-up signs one server
//! certificate, which signs a short-lived `SenderCertificate` per request. libsignal does the
//! encoding and signing; the sim never decrypts anything.

use libsignal_protocol::{
    DeviceId, KeyPair, PrivateKey, PublicKey, SenderCertificate, ServerCertificate, Timestamp,
};
use uuid::Uuid;

use crate::SimError;

/// How long an issued sender certificate is valid (the real service uses about a day).
pub const SENDER_CERTIFICATE_LIFETIME_MS: u64 = 24 * 60 * 60 * 1000;
/// The server certificate's key id.
const SERVER_KEY_ID: u32 = 1;

pub(crate) struct CertIssuer {
    root_public: Vec<u8>,
    server_cert: Vec<u8>,
    server_key: PrivateKey,
}

fn err(e: impl std::fmt::Display) -> SimError {
    SimError::SenderCertificate(e.to_string())
}

impl CertIssuer {
    pub(crate) fn generate() -> Result<Self, SimError> {
        let mut rng = rand09::rng();
        let root = KeyPair::generate(&mut rng);
        let server = KeyPair::generate(&mut rng);
        let cert = ServerCertificate::new(
            SERVER_KEY_ID,
            server.public_key,
            &root.private_key,
            &mut rng,
        )
        .map_err(err)?;
        Ok(CertIssuer {
            root_public: root.public_key.serialize().to_vec(),
            server_cert: cert.serialized().map_err(err)?.to_vec(),
            server_key: server.private_key,
        })
    }

    /// The serialized trust-root public key (33 bytes, type byte first).
    pub(crate) fn root_public(&self) -> &[u8] {
        &self.root_public
    }

    /// Issue a certificate for one device. `identity_key` is the account's serialized ACI
    /// identity public key as registered.
    pub(crate) fn issue(
        &self,
        aci: Uuid,
        e164: Option<String>,
        device_id: u32,
        identity_key: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, SimError> {
        let mut rng = rand09::rng();
        let key = PublicKey::deserialize(identity_key).map_err(err)?;
        let device = DeviceId::try_from(device_id).map_err(err)?;
        let signer = ServerCertificate::deserialize(&self.server_cert).map_err(err)?;
        let cert = SenderCertificate::new(
            aci.hyphenated().to_string(),
            e164,
            key,
            device,
            Timestamp::from_epoch_millis(now_ms.saturating_add(SENDER_CERTIFICATE_LIFETIME_MS)),
            signer,
            &self.server_key,
            &mut rng,
        )
        .map_err(err)?;
        Ok(cert.serialized().map_err(err)?.to_vec())
    }
}
