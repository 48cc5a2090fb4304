//! Minimal P-384 certificate issuance for the simulation CA.

use std::str::FromStr;
use std::time::Duration;

use der::asn1::{BitString, OctetString, UtcTime};
use der::{Decode, Encode};
use p384::ecdsa::signature::Signer;
use p384::pkcs8::EncodePublicKey;
use rand_core::CryptoRngCore;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::error::Error;
use crate::x509::OID_ECDSA_WITH_SHA384;

/// What kind of certificate to issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A CA with an optional pathLenConstraint.
    Ca { path_len: Option<u8> },
    /// An end-entity signing key.
    Leaf,
}

/// Parameters of one certificate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params<'a> {
    pub subject: &'a str,
    pub issuer: &'a str,
    pub not_before: u64,
    pub not_after: u64,
    pub role: Role,
}

fn enc<T>(r: der::Result<T>) -> Result<T, Error> {
    r.map_err(|_| Error::Encoding {
        what: "certificate",
    })
}

fn time(secs: u64) -> Result<Time, Error> {
    enc(UtcTime::from_unix_duration(Duration::from_secs(secs)).map(Time::UtcTime))
}

fn extension<T: Encode + der::oid::AssociatedOid>(value: &T) -> Result<Extension, Error> {
    Ok(Extension {
        extn_id: T::OID,
        critical: true,
        extn_value: enc(OctetString::new(enc(value.to_der())?))?,
    })
}

/// Issues a certificate for `subject_key`, signed by `issuer_key` with ecdsa-with-SHA384.
pub(crate) fn issue(
    params: Params<'_>,
    subject_key: &p384::PublicKey,
    issuer_key: &p384::ecdsa::SigningKey,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, Error> {
    let mut serial = [0u8; 16];
    rng.fill_bytes(&mut serial);
    serial[0] &= 0x7F; // positive
    serial[0] |= 0x01; // and non-zero, with a minimal encoding

    let spki_doc = subject_key
        .to_public_key_der()
        .map_err(|_| Error::Encoding { what: "public key" })?;
    let spki = enc(SubjectPublicKeyInfoOwned::from_der(spki_doc.as_bytes()))?;
    let alg = AlgorithmIdentifierOwned {
        oid: OID_ECDSA_WITH_SHA384,
        parameters: None,
    };
    let (bc, ku) = match params.role {
        Role::Ca { path_len } => (
            BasicConstraints {
                ca: true,
                path_len_constraint: path_len,
            },
            KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        ),
        Role::Leaf => (
            BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
            KeyUsage(KeyUsages::DigitalSignature.into()),
        ),
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: enc(SerialNumber::new(&serial))?,
        signature: alg.clone(),
        issuer: enc(Name::from_str(params.issuer))?,
        validity: Validity {
            not_before: time(params.not_before)?,
            not_after: time(params.not_after)?,
        },
        subject: enc(Name::from_str(params.subject))?,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(vec![extension(&bc)?, extension(&ku)?]),
    };
    let tbs_der = enc(tbs.to_der())?;
    let signature: p384::ecdsa::Signature = issuer_key.sign(&tbs_der);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: enc(BitString::from_bytes(signature.to_der().as_bytes()))?,
    };
    enc(cert.to_der())
}
