#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! Attachment crypto: Signal's layout, and named rejection of tampering.

use signal_client::attachments::{decrypt, encrypt, padded_size};
use signal_client::Error;

#[test]
fn round_trip_with_bucket_padding() {
    for len in [0usize, 1, 540, 541, 542, 5000, 100_000] {
        let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let e = encrypt(&data, &mut rand::rng()).unwrap();
        // IV + CBC(padded to the bucket, then PKCS#7) + MAC.
        let ct_len = (padded_size(len) / 16 + 1) * 16;
        assert_eq!(e.blob.len(), 16 + ct_len + 32);
        let d = decrypt(&e.blob, &e.keys[..], &e.digest, e.size).unwrap();
        assert_eq!(&d[..], &data[..]);
    }
}

#[test]
fn tampering_is_named() {
    let e = encrypt(b"attachment body", &mut rand::rng()).unwrap();
    let mut blob = e.blob.clone();
    blob[20] ^= 1;
    assert!(matches!(
        decrypt(&blob, &e.keys[..], &e.digest, e.size),
        Err(Error::Attachment {
            reason: "digest mismatch"
        })
    ));
    // A blob altered consistently with its digest still fails the MAC.
    let digest: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
        <sha2::Sha256 as sha2::Digest>::new(),
        &blob,
    ))
    .into();
    assert!(matches!(
        decrypt(&blob, &e.keys[..], &digest, e.size),
        Err(Error::Attachment { reason: "bad mac" })
    ));
    assert!(matches!(
        decrypt(&e.blob, &e.keys[..32], &e.digest, e.size),
        Err(Error::Attachment {
            reason: "bad key length"
        })
    ));
    assert!(matches!(
        decrypt(&e.blob[..40], &e.keys[..], &e.digest, e.size),
        Err(Error::Attachment {
            reason: "bad blob length"
        })
    ));
    assert!(matches!(
        decrypt(&e.blob, &e.keys[..], &e.digest, 1_000_000),
        Err(Error::Attachment { reason: "bad size" })
    ));
}
