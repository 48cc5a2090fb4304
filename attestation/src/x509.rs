//! Just enough X.509 for the two attestation PKIs, with the trust anchor as a parameter.
//!
//! Parsing is deliberately split: the outer `Certificate` SEQUENCE is walked by hand so the
//! signature is checked over the *received* `tbsCertificate` bytes (never a re-encoding),
//! and only the TBS content is decoded with `x509-cert`. AMD VCEKs carry serial number 0,
//! which RFC 5280 forbids; we accept any INTEGER there because nothing here relies on it.

use der::asn1::BitStringRef;
use der::oid::ObjectIdentifier;
use der::referenced::OwnedToRef;
use der::{Decode, Reader, SliceReader};
use sha2::{Digest, Sha384};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::TbsCertificate;

use crate::error::Error;
use crate::time::UnixTime;

/// Upper bound on any certificate we parse (AMD certificates are about 2.3 KB).
pub const MAX_CERT_LEN: usize = 8 * 1024;
/// Upper bound on chain length (anchor included).
pub const MAX_CHAIN_LEN: usize = 8;
/// Smallest RSA modulus accepted in the AMD chain (AMD uses 4096).
const MIN_RSA_BITS: usize = 2048;

pub(crate) const OID_ECDSA_WITH_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
pub(crate) const OID_RSASSA_PSS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// The only signature scheme a given chain may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// ecdsa-with-SHA384 over P-384 (AWS Nitro PKI, simulation CA).
    EcdsaP384Sha384,
    /// RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48 (AMD KDS PKI).
    RsaPssSha384,
}

/// A parsed certificate that keeps its exact signed bytes.
#[derive(Debug, Clone)]
pub(crate) struct Cert {
    tbs_raw: Vec<u8>,
    outer_alg: AlgorithmIdentifierOwned,
    signature: Vec<u8>,
    pub(crate) tbs: TbsCertificate,
}

impl Cert {
    /// Parses one DER certificate; `index` only labels errors.
    pub(crate) fn parse(der: &[u8], index: usize) -> Result<Self, Error> {
        let malformed = |reason| Error::CertMalformed { index, reason };
        if der.len() > MAX_CERT_LEN {
            return Err(malformed("longer than the certificate size limit"));
        }
        let (tbs_raw, outer_alg, sig) =
            split_certificate(der).map_err(|_| malformed("not a DER Certificate"))?;
        let signature = sig
            .as_bytes()
            .ok_or_else(|| malformed("signature BIT STRING has unused bits"))?
            .to_vec();
        let tbs =
            TbsCertificate::from_der(tbs_raw).map_err(|_| malformed("tbsCertificate malformed"))?;
        // RFC 5280 §4.1.1.2: the outer algorithm MUST equal tbsCertificate.signature.
        if tbs.signature != outer_alg {
            return Err(malformed("outer and inner signature algorithms differ"));
        }
        Ok(Self {
            tbs_raw: tbs_raw.to_vec(),
            outer_alg,
            signature,
            tbs,
        })
    }

    pub(crate) fn not_before(&self) -> u64 {
        self.tbs.validity.not_before.to_unix_duration().as_secs()
    }

    pub(crate) fn not_after(&self) -> u64 {
        self.tbs.validity.not_after.to_unix_duration().as_secs()
    }

    /// The first CommonName of a name, if it is a plain string.
    fn common_name(name: &x509_cert::name::Name) -> Option<String> {
        name.0.iter().flat_map(|rdn| rdn.0.iter()).find_map(|atv| {
            if atv.oid != OID_COMMON_NAME {
                return None;
            }
            let any = der::asn1::AnyRef::from(&atv.value);
            any.decode_as::<der::asn1::Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_owned())
                .or_else(|_| {
                    any.decode_as::<der::asn1::PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_owned())
                })
                .or_else(|_| {
                    any.decode_as::<der::asn1::Ia5StringRef<'_>>()
                        .map(|s| s.as_str().to_owned())
                })
                .ok()
        })
    }

    pub(crate) fn subject_cn(&self) -> Option<String> {
        Self::common_name(&self.tbs.subject)
    }

    pub(crate) fn issuer_cn(&self) -> Option<String> {
        Self::common_name(&self.tbs.issuer)
    }

    /// The raw `extnValue` of the extension with this OID (first one; duplicates are
    /// rejected by chain verification).
    pub(crate) fn extension(&self, oid: &ObjectIdentifier) -> Option<&[u8]> {
        self.tbs
            .extensions
            .as_ref()?
            .iter()
            .find(|e| &e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    }

    /// The subject key as a P-384 ECDSA verifying key.
    pub(crate) fn p384_key(&self) -> Option<p384::ecdsa::VerifyingKey> {
        let spki = self.tbs.subject_public_key_info.owned_to_ref();
        p384::PublicKey::try_from(spki)
            .ok()
            .map(|pk| p384::ecdsa::VerifyingKey::from(&pk))
    }

    fn rsa_key(&self) -> Option<rsa::RsaPublicKey> {
        let spki = self.tbs.subject_public_key_info.owned_to_ref();
        rsa::RsaPublicKey::try_from(spki).ok()
    }

    /// Checks that `self` was signed by `issuer`'s key with `scheme`.
    fn verify_signed_by(&self, issuer: &Cert, scheme: Scheme) -> Result<(), SigFailure> {
        match scheme {
            Scheme::EcdsaP384Sha384 => {
                if self.outer_alg.oid != OID_ECDSA_WITH_SHA384
                    || self.outer_alg.parameters.is_some()
                {
                    return Err(SigFailure::Algorithm);
                }
                let key = issuer.p384_key().ok_or(SigFailure::IssuerKey)?;
                let sig = p384::ecdsa::Signature::from_der(&self.signature)
                    .map_err(|_| SigFailure::Invalid)?;
                if crate::ecdsa::verify(&key, &self.tbs_raw, &sig) {
                    Ok(())
                } else {
                    Err(SigFailure::Invalid)
                }
            }
            Scheme::RsaPssSha384 => {
                if self.outer_alg.oid != OID_RSASSA_PSS || !pss_params_ok(&self.outer_alg) {
                    return Err(SigFailure::Algorithm);
                }
                let key = issuer.rsa_key().ok_or(SigFailure::IssuerKey)?;
                if rsa::traits::PublicKeyParts::size(&key) * 8 < MIN_RSA_BITS {
                    return Err(SigFailure::IssuerKey);
                }
                let digest = Sha384::digest(&self.tbs_raw);
                key.verify(
                    rsa::Pss::new_with_salt::<Sha384>(48),
                    &digest,
                    &self.signature,
                )
                .map_err(|_| SigFailure::Invalid)
            }
        }
    }

    fn basic_constraints(&self) -> Result<Option<BasicConstraints>, ()> {
        match self.extension(&OID_BASIC_CONSTRAINTS) {
            None => Ok(None),
            Some(v) => BasicConstraints::from_der(v).map(Some).map_err(|_| ()),
        }
    }

    fn key_usage(&self) -> Result<Option<KeyUsage>, ()> {
        match self.extension(&OID_KEY_USAGE) {
            None => Ok(None),
            Some(v) => KeyUsage::from_der(v).map(Some).map_err(|_| ()),
        }
    }
}

enum SigFailure {
    Algorithm,
    IssuerKey,
    Invalid,
}

fn split_certificate(
    der: &[u8],
) -> der::Result<(&[u8], AlgorithmIdentifierOwned, BitStringRef<'_>)> {
    let mut reader = SliceReader::new(der)?;
    let parts = reader.sequence(|r| {
        let tbs = r.tlv_bytes()?;
        let alg = AlgorithmIdentifierOwned::decode(r)?;
        let sig = BitStringRef::decode(r)?;
        Ok((tbs, alg, sig))
    })?;
    reader.finish(parts)
}

/// RSASSA-PSS-params must say SHA-384, MGF1 with SHA-384, salt length 48, trailer 1.
fn pss_params_ok(alg: &AlgorithmIdentifierOwned) -> bool {
    let Some(params) = alg.parameters.as_ref() else {
        return false;
    };
    let Ok(params) = params.decode_as::<rsa::pkcs1::RsaPssParams<'_>>() else {
        return false;
    };
    let mgf_hash_ok = params
        .mask_gen
        .parameters
        .as_ref()
        .is_some_and(|h| h.oid == OID_SHA384);
    params.hash.oid == OID_SHA384
        && params.mask_gen.oid == OID_MGF1
        && mgf_hash_ok
        && params.salt_len == 48
        && params.trailer_field == rsa::pkcs1::TrailerField::BC
}

/// Verifies `chain[0]` (the trust anchor) → … → `chain[last]` (the leaf) at `now`.
///
/// `chain[0]` must already be known to be a pinned certificate (callers compare bytes).
/// Checks, for every certificate: validity at `now` (the anchor included — AWS Nitro
/// attestation process §3.2.3.1), signature under the issuer's key with the one allowed
/// `scheme` (below the anchor), issuer name = issuer's subject, no
/// duplicate extension and no unknown critical extension; for issuers: basicConstraints
/// cA, keyCertSign when keyUsage is present, pathLenConstraint (§3.2.3.2, §3.2.3.3); for
/// the leaf: not a CA, digitalSignature when keyUsage is present.
pub(crate) fn verify_chain(chain: &[Cert], now: UnixTime, scheme: Scheme) -> Result<(), Error> {
    let n = chain.len();
    if !(2..=MAX_CHAIN_LEN).contains(&n) {
        return Err(Error::CertChainInvalid {
            index: 0,
            reason: "chain length out of range",
        });
    }
    for (index, cert) in chain.iter().enumerate() {
        let invalid = |reason| Error::CertChainInvalid { index, reason };
        let now_s = now.as_secs();
        if now_s < cert.not_before() {
            return Err(Error::CertNotYetValid {
                index,
                not_before: cert.not_before(),
                now: now_s,
            });
        }
        if now_s > cert.not_after() {
            return Err(Error::CertExpired {
                index,
                not_after: cert.not_after(),
                now: now_s,
            });
        }
        check_extensions(cert).map_err(invalid)?;

        let issuer = if index == 0 { cert } else { &chain[index - 1] };
        if cert.tbs.issuer != issuer.tbs.subject {
            return Err(invalid("issuer name differs from the issuer's subject"));
        }
        // The anchor is trusted because its bytes equal a pinned certificate, not because
        // of its self-signature (RFC 5280 §6.1.1 (d): trust anchor information is an input
        // of path validation), so only the certificates below it are signature-checked.
        if index > 0 {
            cert.verify_signed_by(issuer, scheme).map_err(|e| match e {
                SigFailure::Algorithm => invalid("signature algorithm not allowed in this chain"),
                SigFailure::IssuerKey => invalid("issuer key unusable for this chain's algorithm"),
                SigFailure::Invalid => Error::CertSignatureInvalid { index },
            })?;
        }

        let bc = cert
            .basic_constraints()
            .map_err(|()| invalid("basicConstraints malformed"))?;
        let ku = cert
            .key_usage()
            .map_err(|()| invalid("keyUsage malformed"))?;
        let is_leaf = index == n - 1;
        if is_leaf {
            if bc.is_some_and(|b| b.ca) {
                return Err(invalid("leaf certificate is a CA"));
            }
            // The leaf signs evidence, so a keyUsage, when present, must allow that.
            if ku.is_some_and(|k| !k.digital_signature()) {
                return Err(invalid("leaf keyUsage lacks digitalSignature"));
            }
        } else {
            let bc = bc.ok_or_else(|| invalid("issuer lacks basicConstraints"))?;
            if !bc.ca {
                return Err(invalid("issuer is not a CA"));
            }
            if ku.is_some_and(|k| !k.key_cert_sign()) {
                return Err(invalid("issuer keyUsage lacks keyCertSign"));
            }
            // CA certificates below this one, excluding the leaf.
            let cas_below = n - 2 - index;
            if let Some(max) = bc.path_len_constraint {
                if cas_below > usize::from(max) {
                    return Err(invalid("pathLenConstraint exceeded"));
                }
            }
        }
    }
    Ok(())
}

fn check_extensions(cert: &Cert) -> Result<(), &'static str> {
    let Some(exts) = cert.tbs.extensions.as_ref() else {
        return Ok(());
    };
    for (i, ext) in exts.iter().enumerate() {
        if exts[..i].iter().any(|e| e.extn_id == ext.extn_id) {
            return Err("duplicate extension");
        }
        if ext.critical && ext.extn_id != OID_BASIC_CONSTRAINTS && ext.extn_id != OID_KEY_USAGE {
            return Err("unsupported critical extension");
        }
    }
    Ok(())
}
