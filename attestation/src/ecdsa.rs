//! ECDSA P-384 / SHA-384 signature verification (FIPS 186-5 §6.4.2).
//!
//! Why not `p384::ecdsa::VerifyingKey::verify`: p384 0.13 computes `u1·G + u2·Q` as two
//! independent constant-time scalar multiplications, which makes one verification cost
//! about 1.2 ms here, and a Nitro document needs five. Every input of a *verification* is
//! public, so a variable-time interleaved (Shamir) double-scalar multiplication over the
//! same group law is safe and about 1.6× faster. The group arithmetic itself (complete
//! projective formulas, field and scalar arithmetic) is p384's; only the scheduling of
//! additions and doublings is ours. Tests check it against p384's `lincomb` and `verify`.

use std::sync::OnceLock;

use p384::ecdsa::{Signature, VerifyingKey};
use p384::elliptic_curve::group::Group;
use p384::elliptic_curve::ops::{Invert, Reduce};
use p384::elliptic_curve::point::AffineCoordinates;
use p384::{ProjectivePoint, Scalar, U384};
use sha2::{Digest, Sha384};

/// Multiples 0·P .. 15·P of a point. Kept projective: normalising to affine would cost
/// a field inversion that the cheaper mixed additions do not win back.
type Table = [ProjectivePoint; 16];

fn table(p: ProjectivePoint) -> Table {
    let mut t = [ProjectivePoint::IDENTITY; 16];
    for i in 1..16 {
        t[i] = t[i - 1] + p;
    }
    t
}

fn generator_table() -> &'static Table {
    static G: OnceLock<Table> = OnceLock::new();
    G.get_or_init(|| table(ProjectivePoint::GENERATOR))
}

/// The `i`-th 4-bit digit of a big-endian scalar, most significant first.
fn nibble(bytes: &[u8], i: usize) -> usize {
    let byte = bytes.get(i / 2).copied().unwrap_or(0);
    usize::from(if i.is_multiple_of(2) {
        byte >> 4
    } else {
        byte & 0x0F
    })
}

/// `a·P + b·Q` in variable time (public inputs only), with P and Q given by their tables.
fn lincomb_vartime(a: &Scalar, p: &Table, b: &Scalar, q: &Table) -> ProjectivePoint {
    let a = a.to_bytes();
    let b = b.to_bytes();
    let mut acc = ProjectivePoint::IDENTITY;
    for i in 0..a.len() * 2 {
        if i > 0 {
            for _ in 0..4 {
                acc = acc.double();
            }
        }
        let (da, db) = (nibble(&a, i), nibble(&b, i));
        if da != 0 {
            acc += p[da];
        }
        if db != 0 {
            acc += q[db];
        }
    }
    acc
}

/// Verifies `sig` over `msg` (hashed with SHA-384) under `key`.
pub(crate) fn verify(key: &VerifyingKey, msg: &[u8], sig: &Signature) -> bool {
    // `Signature` guarantees r, s ∈ [1, n-1].
    let (r, s) = sig.split_scalars();
    let z = <Scalar as Reduce<U384>>::reduce_bytes(&Sha384::digest(msg));
    let Some(s_inv) = Option::<Scalar>::from(s.as_ref().invert_vartime()) else {
        return false;
    };
    let u1 = z * s_inv;
    let u2 = *r * s_inv;
    let q = table(ProjectivePoint::from(*key.as_affine()));
    let point = lincomb_vartime(&u1, generator_table(), &u2, &q);
    if bool::from(point.is_identity()) {
        return false;
    }
    <Scalar as Reduce<U384>>::reduce_bytes(&point.to_affine().x()) == *r
}

#[cfg(test)]
mod tests {
    use p384::ecdsa::signature::{Signer, Verifier};
    use p384::ecdsa::SigningKey;
    use p384::elliptic_curve::ops::LinearCombination;
    use p384::elliptic_curve::Field;
    use rand_core::{OsRng, RngCore};

    use super::*;

    #[test]
    fn lincomb_matches_p384() {
        let g = ProjectivePoint::GENERATOR;
        let cases = [Scalar::ZERO, Scalar::ONE, -Scalar::ONE, Scalar::from(16u64)];
        for _ in 0..40 {
            let q = g * Scalar::random(&mut OsRng);
            let qt = table(q);
            let mut scalars = cases.to_vec();
            scalars.push(Scalar::random(&mut OsRng));
            scalars.push(Scalar::random(&mut OsRng));
            for a in &scalars {
                for b in &scalars {
                    assert_eq!(
                        lincomb_vartime(a, generator_table(), b, &qt),
                        ProjectivePoint::lincomb(&g, a, &q, b)
                    );
                }
            }
        }
    }

    #[test]
    fn verify_agrees_with_p384() {
        for i in 0..200 {
            let key = SigningKey::random(&mut OsRng);
            let mut msg = vec![0u8; 1 + i % 97];
            OsRng.fill_bytes(&mut msg);
            let sig: Signature = key.sign(&msg);
            let vk = key.verifying_key();
            // p384's error type is opaque (`signature::Error`), so agreement is the check:
            // our verdict must equal p384's, on the genuine and on the tampered message.
            assert!(verify(vk, &msg, &sig));
            assert_eq!(verify(vk, &msg, &sig), vk.verify(&msg, &sig).is_ok());

            let at = i % msg.len();
            msg[at] ^= 1;
            assert!(!verify(vk, &msg, &sig));
            assert_eq!(verify(vk, &msg, &sig), vk.verify(&msg, &sig).is_ok());

            let other = SigningKey::random(&mut OsRng);
            assert!(!verify(other.verifying_key(), &msg, &sig));
        }
    }
}
