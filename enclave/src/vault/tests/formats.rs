//! Key records, sealed state and inbound items: round trips and every single-byte mutation.

use zeroize::Zeroizing;

use super::{channel, phone, rng};
use crate::vault::model::ChannelState;
use crate::vault::{
    names, new_channel, open_inbound, open_state, padded_len, seal_inbound, seal_state, ChannelId,
    Dk, InboundAuthKey, KeyRecord, Record, Sk, VaultError, INBOUND_MAC_LEN, INBOUND_OVERHEAD,
    INBOUND_VERSION, KEY_RECORD_LEN, MAX_INBOUND_ITEM_LEN, MAX_INBOUND_PLAINTEXT_LEN,
    MAX_PADDED_STATE_LEN, STATE_HEADER_LEN,
};

const NOW: u64 = 1_800_000_000;

#[test]
fn key_record_round_trip_and_unwrap() {
    let mut r = rng(1);
    let sk = Sk::generate(&mut r);
    let (id, record, dk) = new_channel(&sk, &mut r);
    let bytes = record.encode();
    assert_eq!(bytes.len(), KEY_RECORD_LEN);
    let decoded = KeyRecord::decode(&bytes).unwrap();
    assert_eq!(decoded.encode(), bytes);
    assert_eq!(decoded.channel_id(), &id);
    assert_eq!(decoded.key_epoch(), 1);
    assert_eq!(decoded.ek_public(), dk.ek_public());
    let back = decoded.unwrap(&sk).unwrap();
    assert_eq!(back.secret(), dk.secret());
    assert_eq!(back.ek_public(), dk.ek_public());
    assert_eq!(back.key_epoch(), 1);
}

#[test]
fn wrong_sk_is_wrong_key() {
    let mut r = rng(2);
    let (_, record, _) = new_channel(&Sk::generate(&mut r), &mut r);
    let other = Sk::generate(&mut r);
    assert_eq!(record.unwrap(&other).unwrap_err(), VaultError::WrongKey);
}

#[test]
fn every_flipped_byte_of_a_key_record_is_refused() {
    let mut r = rng(3);
    let sk = Sk::generate(&mut r);
    let (_, record, _) = new_channel(&sk, &mut r);
    let good = record.encode();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        let got = KeyRecord::decode(&bad).and_then(|k| k.unwrap(&sk).map(|_| ()));
        let want = if i == 0 {
            VaultError::UnsupportedVersion {
                record: Record::KeyRecord,
                version: 0x81,
            }
        } else {
            // Channel id (salts KEK), epoch, EK (in the AD), nonce, ciphertext, tag.
            VaultError::WrongKey
        };
        assert_eq!(got.unwrap_err(), want, "byte {i}");
    }
    assert!(matches!(
        KeyRecord::decode(&good[..KEY_RECORD_LEN - 1]),
        Err(VaultError::Truncated { .. })
    ));
    let mut long = good.clone();
    long.push(0);
    assert_eq!(
        KeyRecord::decode(&long).unwrap_err(),
        VaultError::Malformed {
            record: Record::KeyRecord,
            what: "trailing bytes"
        }
    );
    let mut zero_epoch = good;
    zero_epoch[17..25].fill(0);
    assert!(matches!(
        KeyRecord::decode(&zero_epoch),
        Err(VaultError::Malformed {
            what: "key epoch 0",
            ..
        })
    ));
}

#[test]
fn rewrap_moves_dk_to_the_new_sk() {
    let mut r = rng(4);
    let old = Sk::generate(&mut r);
    let (id, record, dk) = new_channel(&old, &mut r);
    let state = ChannelState::new(&mut r);
    let blob = seal_state(&dk, &id, 1, 1, &state, &mut r).unwrap();

    let new = Sk::generate(&mut r);
    let rewrapped = record.rewrap(&dk, &new, &mut r).unwrap();
    assert_eq!(rewrapped.ek_public(), record.ek_public());
    assert_eq!(rewrapped.unwrap(&old).unwrap_err(), VaultError::WrongKey);
    let dk2 = rewrapped.unwrap(&new).unwrap();
    open_state(&dk2, &id, 1, &blob, 1).unwrap();

    let (_, _, stranger) = new_channel(&old, &mut r);
    assert_eq!(
        record.rewrap(&stranger, &new, &mut r).unwrap_err(),
        VaultError::DkMismatch
    );
}

#[test]
fn state_round_trips_at_0_1_and_10000_members() {
    for n in [0u64, 1, 10_000] {
        let mut r = rng(5 + n);
        let sk = Sk::generate(&mut r);
        let (id, _, dk) = new_channel(&sk, &mut r);
        let state = channel(n, n, NOW);
        let blob = seal_state(&dk, &id, 1, 7, &state, &mut r).unwrap();
        let (epoch, back) = open_state(&dk, &id, 1, &blob, 7).unwrap();
        assert_eq!(epoch, 7);
        assert_eq!(back.members().len() as u64, n);
        assert_eq!(*back.encode(), *state.encode(), "{n} members");
        assert_eq!(
            blob.len(),
            STATE_HEADER_LEN + padded_len(state.encoded_len()).unwrap() + 16
        );
    }
}

#[test]
fn sealed_state_contains_no_phone_number() {
    let mut r = rng(6);
    let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
    let state = channel(200, 6, NOW);
    let blob = seal_state(&dk, &id, 1, 1, &state, &mut r).unwrap();
    for m in state.members() {
        let be = m.phone().as_u64().to_be_bytes();
        assert!(!blob.windows(8).any(|w| w == be));
        let text = m.phone().to_e164_string();
        assert!(!blob.windows(text.len()).any(|w| w == text.as_bytes()));
    }
}

#[test]
fn every_flipped_byte_of_a_state_blob_is_refused() {
    let mut r = rng(7);
    let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
    let good = seal_state(&dk, &id, 1, 3, &channel(1, 7, NOW), &mut r).unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        let want = match i {
            0 => VaultError::UnsupportedVersion {
                record: Record::State,
                version: 0x81,
            },
            1..=8 => VaultError::KeyEpochMismatch {
                found: u64::from_be_bytes(bad[1..9].try_into().unwrap()),
                expected: 1,
            },
            // State epoch (in the AD), nonce, ciphertext, padding, tag.
            _ => VaultError::Corrupt {
                record: Record::State,
            },
        };
        assert_eq!(
            open_state(&dk, &id, 1, &bad, 0).unwrap_err(),
            want,
            "byte {i}"
        );
    }
    for len in [0, 1, STATE_HEADER_LEN, STATE_HEADER_LEN + 15] {
        assert!(
            matches!(
                open_state(&dk, &id, 1, &good[..len], 0),
                Err(VaultError::Truncated { .. })
            ),
            "len {len}"
        );
    }
    // Cut anywhere past the header+tag minimum: the tag no longer matches.
    assert_eq!(
        open_state(&dk, &id, 1, &good[..good.len() - 1], 0).unwrap_err(),
        VaultError::Corrupt {
            record: Record::State
        }
    );
}

#[test]
fn a_state_blob_from_another_channel_is_corrupt() {
    let mut r = rng(8);
    let sk = Sk::generate(&mut r);
    let (a, _, dk_a) = new_channel(&sk, &mut r);
    let (b, _, dk_b) = new_channel(&sk, &mut r);
    let blob_a = seal_state(&dk_a, &a, 1, 1, &channel(3, 8, NOW), &mut r).unwrap();
    let corrupt = VaultError::Corrupt {
        record: Record::State,
    };
    // The host serves A's blob under B's name: B's DK does not open it...
    assert_eq!(open_state(&dk_b, &b, 1, &blob_a, 1).unwrap_err(), corrupt);
    // ...and even A's DK does not, once the channel id in the AD and DEK salt is B's.
    assert_eq!(open_state(&dk_a, &b, 1, &blob_a, 1).unwrap_err(), corrupt);
}

#[test]
fn an_older_state_epoch_is_a_rollback() {
    let mut r = rng(9);
    let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
    let state = ChannelState::new(&mut r);
    let old = seal_state(&dk, &id, 1, 5, &state, &mut r).unwrap();
    assert_eq!(
        open_state(&dk, &id, 1, &old, 6).unwrap_err(),
        VaultError::Rollback { found: 5, min: 6 }
    );
    assert_eq!(open_state(&dk, &id, 1, &old, 5).unwrap().0, 5);
    assert_eq!(open_state(&dk, &id, 1, &old, 0).unwrap().0, 5);
}

#[test]
fn key_epoch_mismatches_are_reported() {
    let mut r = rng(10);
    let sk = Sk::generate(&mut r);
    let (id, _, dk1) = new_channel(&sk, &mut r);
    let state = ChannelState::new(&mut r);
    let blob = seal_state(&dk1, &id, 1, 1, &state, &mut r).unwrap();
    // After a DK rotation (removing an admin), a blob sealed under epoch 1 is refused.
    let (_, dk2) = KeyRecord::create(&id, 2, &sk, &mut r);
    assert_eq!(
        open_state(&dk2, &id, 2, &blob, 1).unwrap_err(),
        VaultError::KeyEpochMismatch {
            found: 1,
            expected: 2
        }
    );
    // A caller mixing up epochs is caught before any crypto.
    assert_eq!(
        seal_state(&dk1, &id, 2, 1, &state, &mut r).unwrap_err(),
        VaultError::KeyEpochMismatch {
            found: 2,
            expected: 1
        }
    );
    let item = seal_inbound(dk1.ek_public(), &auth(&dk1, &id), &id, 1, b"hi", &mut r).unwrap();
    assert_eq!(
        open_inbound(&dk2, &id, &item).unwrap_err(),
        VaultError::KeyEpochMismatch {
            found: 1,
            expected: 2
        }
    );
}

#[test]
fn padding_hides_small_differences() {
    let mut r = rng(11);
    let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
    let a = seal_state(&dk, &id, 1, 1, &channel(1_000, 1, NOW), &mut r).unwrap();
    let b = seal_state(&dk, &id, 1, 1, &channel(1_010, 2, NOW), &mut r).unwrap();
    assert_eq!(a.len(), b.len());
    let empty = seal_state(&dk, &id, 1, 1, &ChannelState::new(&mut r), &mut r).unwrap();
    assert_eq!(empty.len(), STATE_HEADER_LEN + 4096 + 16);
}

#[test]
fn bucket_sequence_follows_the_rule() {
    let mut buckets = vec![];
    let mut len = 0;
    while let Ok(b) = padded_len(len) {
        buckets.push(b);
        len = b - 4 + 1; // first length that needs the next bucket
    }
    assert_eq!(
        &buckets[..8],
        &[4096, 8192, 12288, 16384, 20480, 28672, 36864, 49152]
    );
    assert_eq!(*buckets.last().unwrap(), MAX_PADDED_STATE_LEN);
    for w in buckets.windows(2) {
        assert_eq!(w[1] % 4096, 0);
        // Never more than 25% (plus one quantum) of growth per step.
        assert!(w[1] <= w[0] + w[0] / 4 + 4096);
    }
    assert_eq!(padded_len(0).unwrap(), 4096);
    assert_eq!(padded_len(4092).unwrap(), 4096);
    assert_eq!(padded_len(4093).unwrap(), 8192);
    assert!(matches!(
        padded_len(MAX_PADDED_STATE_LEN - 3),
        Err(VaultError::TooLarge { .. })
    ));
}

/// The channel's inbound authentication key, as the enclave hands it to the live receiver.
fn auth(dk: &Dk, id: &ChannelId) -> InboundAuthKey {
    InboundAuthKey::derive(dk, id)
}

#[test]
fn inbound_round_trip_and_mutations() {
    let mut r = rng(12);
    let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
    let body = b"an inbound envelope".to_vec();
    let good = seal_inbound(dk.ek_public(), &auth(&dk, &id), &id, 1, &body, &mut r).unwrap();
    assert_eq!(good[0], INBOUND_VERSION);
    assert_eq!(good.len(), body.len() + INBOUND_OVERHEAD);
    assert_eq!(*open_inbound(&dk, &id, &good).unwrap(), body);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        let want = match i {
            0 => VaultError::UnsupportedVersion {
                record: Record::Inbound,
                version: 0x82,
            },
            1..=8 => VaultError::KeyEpochMismatch {
                found: u64::from_be_bytes(bad[1..9].try_into().unwrap()),
                expected: 1,
            },
            // The MAC covers every byte before it, so every other flip fails it, before
            // any HPKE work.
            _ => VaultError::Unauthenticated {
                record: Record::Inbound,
            },
        };
        assert_eq!(open_inbound(&dk, &id, &bad).unwrap_err(), want, "byte {i}");
    }
    let other = ChannelId::random(&mut r);
    assert_eq!(
        open_inbound(&dk, &other, &good).unwrap_err(),
        VaultError::Unauthenticated {
            record: Record::Inbound
        }
    );
    assert_eq!(
        open_inbound(&dk, &id, &good[..INBOUND_OVERHEAD - 1]).unwrap_err(),
        VaultError::Truncated {
            record: Record::Inbound,
            what: "shorter than header, tag and mac"
        }
    );
}

#[test]
fn inbound_item_without_the_auth_key_is_refused_by_name() {
    let mut r = rng(15);
    let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
    // What the host can do: EK is public, so it seals a perfectly good HPKE item to it,
    // with a MAC under a key of its own choosing.
    for guess in [[0u8; 32], [0x5a; 32]] {
        let forged = seal_inbound(
            dk.ek_public(),
            &InboundAuthKey::from_bytes(guess),
            &id,
            1,
            b"a forged envelope",
            &mut r,
        )
        .unwrap();
        assert_eq!(
            open_inbound(&dk, &id, &forged).unwrap_err(),
            VaultError::Unauthenticated {
                record: Record::Inbound
            }
        );
    }
    // The authentication key of another channel, or of another key epoch, is no better.
    let (other, _, other_dk) = new_channel(&Sk::generate(&mut r), &mut r);
    let spliced = seal_inbound(
        dk.ek_public(),
        &auth(&other_dk, &other),
        &id,
        1,
        b"x",
        &mut r,
    )
    .unwrap();
    assert_eq!(
        open_inbound(&dk, &id, &spliced).unwrap_err(),
        VaultError::Unauthenticated {
            record: Record::Inbound
        }
    );
    // A forged MAC over a real item (the host cut the MAC and appended its own).
    let good = seal_inbound(dk.ek_public(), &auth(&dk, &id), &id, 1, b"real", &mut r).unwrap();
    let mut remac = good.clone();
    let at = remac.len() - INBOUND_MAC_LEN;
    remac[at..].copy_from_slice(&[0u8; INBOUND_MAC_LEN]);
    assert_eq!(
        open_inbound(&dk, &id, &remac).unwrap_err(),
        VaultError::Unauthenticated {
            record: Record::Inbound
        }
    );
    assert_eq!(
        format!("{:?}", auth(&dk, &id)),
        "InboundAuthKey(<redacted>)"
    );
}

#[test]
fn inbound_version_1_items_are_refused() {
    let mut r = rng(16);
    let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
    let good = seal_inbound(dk.ek_public(), &auth(&dk, &id), &id, 1, b"hi", &mut r).unwrap();
    // A version-1 item (version ‖ key epoch ‖ enc ‖ ciphertext ‖ tag, no MAC), as any
    // holder of EK could make: refused whatever follows the version byte.
    let mut v1 = good[..good.len() - INBOUND_MAC_LEN].to_vec();
    v1[0] = 1;
    assert_eq!(
        open_inbound(&dk, &id, &v1).unwrap_err(),
        VaultError::UnsupportedVersion {
            record: Record::Inbound,
            version: 1
        }
    );
}

#[test]
fn inbound_bounds_and_bad_keys() {
    let mut r = rng(13);
    let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
    let a = auth(&dk, &id);
    let max = vec![7u8; MAX_INBOUND_PLAINTEXT_LEN];
    let item = seal_inbound(dk.ek_public(), &a, &id, 1, &max, &mut r).unwrap();
    assert_eq!(item.len(), MAX_INBOUND_ITEM_LEN);
    assert_eq!(*open_inbound(&dk, &id, &item).unwrap(), max);
    let over = vec![7u8; MAX_INBOUND_PLAINTEXT_LEN + 1];
    assert!(matches!(
        seal_inbound(dk.ek_public(), &a, &id, 1, &over, &mut r),
        Err(VaultError::TooLarge { .. })
    ));
    let mut long = item;
    long.push(0);
    assert!(matches!(
        open_inbound(&dk, &id, &long),
        Err(VaultError::TooLarge { .. })
    ));
    // The all-zero point has small order: encapsulating to it must fail, not leak.
    assert_eq!(
        seal_inbound(&[0; 32], &a, &id, 1, b"x", &mut r).unwrap_err(),
        VaultError::InvalidPublicKey
    );
}

#[test]
fn debug_output_is_redacted() {
    let mut r = rng(14);
    let sk = Sk::from_bytes([0x42; 32]);
    let (_, record, dk) = new_channel(&sk, &mut r);
    let mut state = ChannelState::new(&mut r);
    let p = crate::vault::model::Phone::parse("+15551234567").unwrap();
    state
        .add_member(
            p.duplicate(),
            crate::vault::model::Role::Admin,
            Default::default(),
        )
        .unwrap();
    state.hotline_id_for(&p, NOW).unwrap();
    state
        .set_signal_account(Zeroizing::new(b"password=hunter2".to_vec()))
        .unwrap();
    let outputs = [
        format!("{sk:?}"),
        format!("{dk:?}"),
        format!("{state:?}"),
        format!("{p:?}"),
        format!("{:?}", state.members()),
        format!("{:?}", state.hotline_records()),
        format!("{record:?}"),
    ];
    for out in &outputs {
        assert!(!out.contains("5551234567"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("42, 42") && !out.contains("4242"), "{out}");
    }
    assert_eq!(outputs[3], "Phone(<redacted>)");
    assert_eq!(*p.to_e164_string(), "+15551234567");
}

#[test]
fn errors_do_not_echo_input() {
    let e = crate::vault::model::Phone::parse("+1555123456x").unwrap_err();
    assert_eq!(e.to_string(), "invalid phone number");
    let e = VaultError::Rollback { found: 3, min: 9 };
    assert_eq!(
        e.to_string(),
        "rollback detected: state epoch 3 is older than 9"
    );
}

#[test]
fn blob_names_carry_only_the_channel_id() {
    let id = ChannelId::from_bytes([0xab; 16]);
    let hex = "abababababababababababababababab";
    assert_eq!(
        names::key_record(&id),
        format!("ch/{hex}/keys").into_bytes()
    );
    assert_eq!(names::state(&id), format!("ch/{hex}/state").into_bytes());
    assert_eq!(
        names::inbound(&id),
        format!("ch/{hex}/inbound").into_bytes()
    );
    assert!(names::inbound(&id).len() <= wire::blob::MAX_NAME_LEN);
}

#[test]
fn a_blob_larger_than_the_host_limit_is_refused() {
    let mut r = rng(15);
    let (id, _, dk) = new_channel(&Sk::generate(&mut r), &mut r);
    let mut state = ChannelState::new(&mut r);
    state
        .set_protocol_store(Zeroizing::new(vec![
            0;
            crate::vault::model::MAX_PROTOCOL_STORE_LEN
        ]))
        .unwrap();
    state
        .set_signal_account(Zeroizing::new(vec![
            0;
            crate::vault::model::MAX_SIGNAL_ACCOUNT_LEN
        ]))
        .unwrap();
    for i in 0..20_000u64 {
        state
            .add_member(
                phone(i),
                crate::vault::model::Role::Subscriber,
                Default::default(),
            )
            .unwrap();
    }
    // 15 MiB + 64 KiB + 20,000 × 12 B still fits the host's blob limit...
    let blob = seal_state(&dk, &id, 1, 1, &state, &mut r).unwrap();
    assert!(blob.len() <= wire::blob::MAX_BLOB_LEN);
    // ...100,000 members more do not: refused before anything is encrypted.
    state.settings_mut().set_subscriber_limit(100_000).unwrap();
    for i in 20_000..100_000u64 {
        state
            .add_member(
                phone(i),
                crate::vault::model::Role::Subscriber,
                Default::default(),
            )
            .unwrap();
    }
    assert!(matches!(
        seal_state(&dk, &id, 1, 1, &state, &mut r),
        Err(VaultError::TooLarge {
            what: "channel state",
            ..
        })
    ));
}
