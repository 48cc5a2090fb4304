//! Challenge–response proof that a client holds SK, without sending SK (VAULT.md §15).
//!
//! From SK a client derives an X25519 key pair (the "proof key"); its public half, the
//! verifier, is stored next to the key record. The enclave challenges with a random nonce
//! and an ephemeral X25519 public key; the client answers
//! `HMAC(HKDF(X25519(proof key, ephemeral)), nonce ‖ TLS binding)`, which the enclave
//! recomputes from the ephemeral secret and the verifier. The enclave never needs SK (or DK)
//! to verify, so a locked channel can authenticate its connected admin clients.

use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{check_max, Reader};
use crate::vault::keys::{hkdf32, ChannelId, Sk, KEY_LEN};
use crate::vault::{Record, VaultError};

/// A challenge on the wire: nonce ‖ ephemeral X25519 public key.
pub const CHALLENGE_LEN: usize = 32 + KEY_LEN;
/// A response: HMAC-SHA256 output.
pub const RESPONSE_LEN: usize = 32;
/// Longest TLS channel binding accepted (an RFC 9266 exporter value is 32 bytes).
pub const MAX_TLS_BINDING_LEN: usize = 64;
/// version ‖ channel id ‖ SK generation ‖ verifier public key.
pub const VERIFIER_LEN: usize = 1 + 16 + 8 + KEY_LEN;
const VERIFIER_VERSION: u8 = 1;

const PROOF_INFO: &[u8] = b"sealboost sk proof v1";
const MAC_INFO: &[u8] = b"sealboost sk proof mac v1";

/// The proof secret: HKDF-SHA256(ikm = SK, salt = channel id, info = "sealboost sk proof v1"),
/// used as an X25519 scalar.
fn proof_secret(channel_id: &ChannelId, sk: &Sk) -> StaticSecret {
    let bytes = hkdf32(sk.expose(), channel_id.as_bytes(), PROOF_INFO);
    StaticSecret::from(*bytes)
}

/// The public value derived from SK (VAULT.md §15), stored at `ch/<id>/proof`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkVerifier {
    channel_id: ChannelId,
    sk_generation: u64,
    public: [u8; KEY_LEN],
}

impl SkVerifier {
    /// The verifier of `sk` (generation `sk_generation`).
    pub fn derive(channel_id: &ChannelId, sk: &Sk, sk_generation: u64) -> SkVerifier {
        SkVerifier {
            channel_id: *channel_id,
            sk_generation,
            public: PublicKey::from(&proof_secret(channel_id, sk)).to_bytes(),
        }
    }
    pub fn channel_id(&self) -> &ChannelId {
        &self.channel_id
    }
    pub fn sk_generation(&self) -> u64 {
        self.sk_generation
    }
    /// Whether this verifier belongs to `sk` (checked at unlock, when the enclave holds
    /// SK: a host that swapped the verifier is caught and the record rewritten).
    pub fn matches(&self, sk: &Sk) -> bool {
        Self::derive(&self.channel_id, sk, self.sk_generation).public == self.public
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(VERIFIER_LEN);
        out.push(VERIFIER_VERSION);
        out.extend_from_slice(self.channel_id.as_bytes());
        out.extend_from_slice(&self.sk_generation.to_be_bytes());
        out.extend_from_slice(&self.public);
        out
    }

    /// Exactly [`VERIFIER_LEN`] bytes; generation ≥ 1.
    pub fn decode(bytes: &[u8]) -> Result<SkVerifier, VaultError> {
        let mut r = Reader {
            buf: bytes,
            record: Record::Verifier,
        };
        r.version(VERIFIER_VERSION)?;
        check_max("key proof verifier", bytes.len(), VERIFIER_LEN)?;
        let channel_id = ChannelId::from_bytes(r.array("channel id")?);
        let sk_generation = r.u64("generation")?;
        let public = r.array("public key")?;
        r.finish()?;
        if sk_generation == 0 {
            return Err(r.malformed("generation 0"));
        }
        Ok(SkVerifier {
            channel_id,
            sk_generation,
            public,
        })
    }
}

/// What the enclave sends: public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    pub nonce: [u8; 32],
    pub ephemeral: [u8; KEY_LEN],
}

impl Challenge {
    pub fn encode(&self) -> [u8; CHALLENGE_LEN] {
        let mut out = [0u8; CHALLENGE_LEN];
        out[..32].copy_from_slice(&self.nonce);
        out[32..].copy_from_slice(&self.ephemeral);
        out
    }
    /// Exactly [`CHALLENGE_LEN`] bytes (client side).
    pub fn decode(bytes: &[u8]) -> Result<Challenge, VaultError> {
        let mut r = Reader {
            buf: bytes,
            record: Record::Verifier,
        };
        let nonce = r.array("challenge nonce")?;
        let ephemeral = r.array("challenge key")?;
        r.finish()?;
        Ok(Challenge { nonce, ephemeral })
    }
}

/// The enclave's side of one challenge: single use (`verify` consumes it). Redacted `Debug`.
pub struct PendingChallenge {
    secret: StaticSecret,
    challenge: Challenge,
}

impl std::fmt::Debug for PendingChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingChallenge(<redacted>)")
    }
}

/// A fresh challenge: 32 random nonce bytes and an ephemeral X25519 key pair.
pub fn challenge<R: RngCore + CryptoRng>(rng: &mut R) -> PendingChallenge {
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    let mut seed = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill_bytes(&mut seed[..]);
    let secret = StaticSecret::from(*seed);
    let ephemeral = PublicKey::from(&secret).to_bytes();
    PendingChallenge {
        secret,
        challenge: Challenge { nonce, ephemeral },
    }
}

/// mac key = HKDF-SHA256(ikm = DH, salt = channel id, info = label ‖ verifier ‖ ephemeral);
/// response = HMAC-SHA256(mac key, "sealboost sk proof v1" ‖ nonce ‖ len(binding) u16 ‖ binding).
fn mac(
    channel_id: &ChannelId,
    dh: &[u8; KEY_LEN],
    verifier: &[u8; KEY_LEN],
    challenge: &Challenge,
    binding: &[u8],
) -> Result<Hmac<Sha256>, VaultError> {
    check_max("TLS binding", binding.len(), MAX_TLS_BINDING_LEN)?;
    let mut info = Vec::with_capacity(MAC_INFO.len() + 2 * KEY_LEN);
    info.extend_from_slice(MAC_INFO);
    info.extend_from_slice(verifier);
    info.extend_from_slice(&challenge.ephemeral);
    let key = hkdf32(dh, channel_id.as_bytes(), &info);
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key[..]).expect("any key length");
    m.update(PROOF_INFO);
    m.update(&challenge.nonce);
    let len = u16::try_from(binding.len()).expect("bounded by MAX_TLS_BINDING_LEN");
    m.update(&len.to_be_bytes());
    m.update(binding);
    Ok(m)
}

/// The client's answer to `challenge`, bound to the enclave's TLS session (`tls_binding`,
/// e.g. the RFC 9266 exporter of the attested session). `ProofFailed` for a low-order
/// ephemeral key; `TooLarge` for an oversized binding.
pub fn response(
    sk: &Sk,
    channel_id: &ChannelId,
    challenge: &Challenge,
    tls_binding: &[u8],
) -> Result<[u8; RESPONSE_LEN], VaultError> {
    let secret = proof_secret(channel_id, sk);
    let verifier = PublicKey::from(&secret).to_bytes();
    let dh = secret.diffie_hellman(&PublicKey::from(challenge.ephemeral));
    if !dh.was_contributory() {
        return Err(VaultError::ProofFailed);
    }
    let m = mac(channel_id, dh.as_bytes(), &verifier, challenge, tls_binding)?;
    Ok(m.finalize().into_bytes().into())
}

impl PendingChallenge {
    /// The part sent to the client.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// Checks a response against the stored verifier (constant-time MAC comparison).
    /// `ProofFailed` for any wrong response, a low-order verifier, or a verifier of another
    /// channel than `channel_id` (the channel the client claims to administer).
    pub fn verify(
        self,
        channel_id: &ChannelId,
        verifier: &SkVerifier,
        tls_binding: &[u8],
        response: &[u8],
    ) -> Result<(), VaultError> {
        if verifier.channel_id != *channel_id {
            return Err(VaultError::ProofFailed);
        }
        let dh = self
            .secret
            .diffie_hellman(&PublicKey::from(verifier.public));
        if !dh.was_contributory() {
            return Err(VaultError::ProofFailed);
        }
        let m = mac(
            &verifier.channel_id,
            dh.as_bytes(),
            &verifier.public,
            &self.challenge,
            tls_binding,
        )?;
        m.verify_slice(response)
            .map_err(|_| VaultError::ProofFailed)
    }
}
