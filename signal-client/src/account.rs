//! A Signal account: credentials, identity keys, profile key and the protocol store, with
//! a versioned binary encoding (SPEC.md §2).

use libsignal_protocol::{Aci, DeviceId, IdentityKeyPair, Pni};
use rand::{CryptoRng, Rng};
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};
use crate::store::{
    aci_from_bytes, ProtocolStore, MAX_E164_LEN, MAX_IDENTITY_KEY_PAIR_LEN, PROFILE_KEY_LEN,
};

/// First bytes of an account encoding.
pub const ACCOUNT_MAGIC: &[u8; 4] = b"SCAC";
/// The account encoding version.
pub const ACCOUNT_VERSION: u8 = 1;
/// Bound on the service password.
pub const MAX_PASSWORD_LEN: usize = 64;
/// Bound on the embedded store encoding.
pub const MAX_STORE_LEN: usize = 1 << 30;

/// Who the account is on the service and how it authenticates.
pub struct Credentials {
    /// The phone number.
    pub e164: String,
    /// The account identifier (all zeros until registered).
    pub aci: Aci,
    /// The phone-number identifier (all zeros until registered).
    pub pni: Pni,
    /// This device's id (1 for a primary device).
    pub device_id: DeviceId,
    password: Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("e164", &"<redacted>")
            .field("aci", &self.aci)
            .field("device_id", &self.device_id)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The service password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `Authorization` value for device auth (`aci.deviceId:password`).
    pub fn basic_auth(&self) -> String {
        let uuid = signal_api::Uuid::from_bytes(aci_bytes(&self.aci));
        signal_api::BasicAuth::device(
            uuid,
            u32::from(self.device_id),
            signal_api::Password::new(self.password.to_string()),
        )
        .header_value()
    }

    /// `Authorization` value for registration (`e164:password`).
    pub fn number_auth(&self) -> String {
        signal_api::BasicAuth {
            username: signal_api::Username::Number(self.e164.clone()),
            password: signal_api::Password::new(self.password.to_string()),
        }
        .header_value()
    }
}

pub(crate) fn aci_bytes(aci: &Aci) -> [u8; 16] {
    let mut b = [0u8; 16];
    let v = aci.service_id_binary();
    if v.len() == 16 {
        b.copy_from_slice(&v);
    }
    b
}

fn pni_bytes(pni: &Pni) -> [u8; 16] {
    let mut b = [0u8; 16];
    let v = pni.service_id_fixed_width_binary();
    b.copy_from_slice(&v[1..]);
    b
}

/// A Signal account.
pub struct Account {
    /// Credentials.
    pub credentials: Credentials,
    /// The PNI identity (uploaded at registration; messages to the PNI are not handled).
    pub pni_identity: IdentityKeyPair,
    /// The PNI registration id.
    pub pni_registration_id: u32,
    profile_key: Zeroizing<[u8; PROFILE_KEY_LEN]>,
    /// Next one-time EC prekey id to use.
    pub next_prekey_id: u32,
    /// Next Kyber prekey id to use.
    pub next_kyber_id: u32,
    /// Next signed prekey id to use.
    pub next_signed_id: u32,
    /// The protocol store and recipient book.
    pub store: ProtocolStore,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("credentials", &self.credentials)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// A registration id as the apps make them: 14 random bits, never 0.
fn registration_id<R: Rng + CryptoRng>(rng: &mut R) -> u32 {
    rng.random_range(1..=0x3fff)
}

impl Account {
    /// A fresh, unregistered account for `e164`: new identity keys, registration ids,
    /// profile key and a random 24-byte password (base64, as the apps do).
    pub fn generate<R: Rng + CryptoRng>(e164: &str, rng: &mut R) -> Result<Account> {
        signal_api::auth::validate_e164(e164).map_err(|_| Error::Corrupt { what: "e164" })?;
        let mut pw = Zeroizing::new([0u8; 18]);
        rng.fill_bytes(pw.as_mut());
        use base64::Engine as _;
        let password =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pw.as_ref()));
        let mut profile_key = Zeroizing::new([0u8; PROFILE_KEY_LEN]);
        rng.fill_bytes(profile_key.as_mut());
        let store = ProtocolStore::new(IdentityKeyPair::generate(rng), registration_id(rng));
        Ok(Account {
            credentials: Credentials {
                e164: e164.to_owned(),
                aci: aci_from_bytes([0; 16]),
                pni: Pni::from(signal_api::Uuid::nil()),
                device_id: DeviceId::try_from(1u8).expect("invariant: 1 is a device id"),
                password,
            },
            pni_identity: IdentityKeyPair::generate(rng),
            pni_registration_id: registration_id(rng),
            profile_key,
            next_prekey_id: 1,
            next_kyber_id: 2,
            next_signed_id: 2,
            store,
        })
    }

    /// Our profile key.
    pub fn profile_key(&self) -> &[u8; PROFILE_KEY_LEN] {
        &self.profile_key
    }

    /// Our unidentified-access key (what we register so others may seal to us).
    pub fn access_key(&self) -> [u8; 16] {
        crate::uak::derive_access_key(&self.profile_key)
    }

    /// Encodes the account (SPEC.md §2).
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        let store = self.store.encode()?;
        let mut w = Writer::with_capacity(store.len() + 256);
        w.raw(ACCOUNT_MAGIC);
        w.u8(ACCOUNT_VERSION);
        let c = &self.credentials;
        w.bytes8("e164", c.e164.as_bytes(), MAX_E164_LEN)?;
        w.raw(&aci_bytes(&c.aci));
        w.raw(&pni_bytes(&c.pni));
        w.u8(u8::from(c.device_id));
        w.bytes8("password", c.password.as_bytes(), MAX_PASSWORD_LEN)?;
        let pni = Zeroizing::new(self.pni_identity.serialize().to_vec());
        w.bytes8("pni identity key pair", &pni, MAX_IDENTITY_KEY_PAIR_LEN)?;
        w.u32(self.pni_registration_id);
        w.raw(self.profile_key.as_ref());
        w.u32(self.next_prekey_id);
        w.u32(self.next_kyber_id);
        w.u32(self.next_signed_id);
        w.bytes32("store", &store, MAX_STORE_LEN)?;
        Ok(w.finish())
    }

    /// Decodes an account written by [`Account::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Account> {
        let mut r = Reader::new(bytes);
        if r.take("account magic", 4)? != ACCOUNT_MAGIC {
            return Err(Error::BadMagic { what: "account" });
        }
        let version = r.u8("account version")?;
        if version != ACCOUNT_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "account",
                version,
            });
        }
        let e164 = std::str::from_utf8(r.bytes8("e164", MAX_E164_LEN)?)
            .map_err(|_| Error::Corrupt { what: "e164" })?
            .to_owned();
        let aci = aci_from_bytes(r.array("aci")?);
        let pni = Pni::from(signal_api::Uuid::from_bytes(r.array("pni")?));
        let device_id = DeviceId::try_from(r.u8("device id")?)
            .map_err(|_| Error::Corrupt { what: "device id" })?;
        let password = Zeroizing::new(
            std::str::from_utf8(r.bytes8("password", MAX_PASSWORD_LEN)?)
                .map_err(|_| Error::Corrupt { what: "password" })?
                .to_owned(),
        );
        let pni_identity = IdentityKeyPair::try_from(
            r.bytes8("pni identity key pair", MAX_IDENTITY_KEY_PAIR_LEN)?,
        )
        .map_err(|_| Error::Corrupt {
            what: "pni identity key pair",
        })?;
        let pni_registration_id = r.u32("pni registration id")?;
        let profile_key = Zeroizing::new(r.array::<PROFILE_KEY_LEN>("profile key")?);
        let next_prekey_id = r.u32("next prekey id")?;
        let next_kyber_id = r.u32("next kyber id")?;
        let next_signed_id = r.u32("next signed prekey id")?;
        let store = ProtocolStore::decode(r.bytes32("store", MAX_STORE_LEN)?)?;
        r.finish()?;
        Ok(Account {
            credentials: Credentials {
                e164,
                aci,
                pni,
                device_id,
                password,
            },
            pni_identity,
            pni_registration_id,
            profile_key,
            next_prekey_id,
            next_kyber_id,
            next_signed_id,
            store,
        })
    }
}

impl Account {
    /// A new device for `primary`'s account, before it is linked (SPEC.md §8): the same
    /// number, ACI, PNI, identity key pairs and profile key — a Signal account's devices
    /// share its identity — with its own password, registration ids and an empty protocol
    /// store. The device id stays 1 until the service assigns one
    /// ([`crate::SignalClient::link`] sets it).
    pub fn for_linked_device<R: Rng + CryptoRng>(
        primary: &Account,
        rng: &mut R,
    ) -> Result<Account> {
        let mut a = Account::generate(&primary.credentials.e164, rng)?;
        a.credentials.aci = primary.credentials.aci;
        a.credentials.pni = primary.credentials.pni;
        a.pni_identity = primary.pni_identity;
        a.profile_key = Zeroizing::new(*primary.profile_key);
        a.store = ProtocolStore::new(
            *primary.store.identity_key_pair(),
            a.store.registration_id(),
        );
        Ok(a)
    }
}
