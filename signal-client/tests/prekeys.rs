#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! Key upkeep against signal-sim (in-process): `refill_prekeys` tops up one-time keys and
//! rotates a signed prekey that has grown old, and new senders still reach the account.

use std::time::{Duration, SystemTime};

use libsignal_protocol::{GenericSignedPreKey as _, Timestamp};
use signal_client::keys;
use signal_client::phone::Phone;
use signal_client::service::{SIGNED_PREKEYS_KEPT, SIGNED_PREKEY_MAX_AGE_MS};

mod common;
use common::sim;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The newest signed prekey's (id, timestamp in ms).
fn newest(p: &Phone) -> (u32, u64) {
    let k = p.client.account.store.signed_prekeys.newest().unwrap();
    (
        u32::from(k.id().unwrap()),
        k.timestamp().unwrap().epoch_millis(),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn refill_rotates_an_old_signed_prekey_and_keeps_a_fresh_one() {
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = Phone::register(&cfg, "+15550000301", "123456", None)
        .await
        .unwrap();
    // Fresh keys: a refill leaves the signed prekey alone.
    let before = newest(&a);
    a.client.refill_prekeys(0).await.unwrap();
    assert_eq!(newest(&a), before);
    assert_eq!(a.client.account.store.signed_prekey_count(), 1);

    // A signed prekey past the age limit (as if the account had been idle for days).
    let old = now_ms() - SIGNED_PREKEY_MAX_AGE_MS - 60_000;
    let id = a.client.account.next_signed_id;
    a.client.account.next_signed_id += 1;
    let identity = *a.client.account.store.identity_key_pair();
    let stale = keys::signed_prekey(
        &identity,
        id,
        Timestamp::from_epoch_millis(old),
        &mut rand::rng(),
    )
    .unwrap();
    a.client.account.store.save_signed_prekey(stale).unwrap();
    assert_eq!(newest(&a), (id, old));

    a.client.refill_prekeys(0).await.unwrap();
    let (new_id, ts) = newest(&a);
    assert!(new_id > id, "rotated to a new id");
    assert!(now_ms() - ts < 60_000, "the new key is fresh");
    assert_eq!(
        a.client.account.store.signed_prekey_count(),
        SIGNED_PREKEYS_KEPT
    );

    // A sender who fetches the account's keys now starts its session on the new ones.
    let mut b = Phone::register(&cfg, "+15550000302", "123456", None)
        .await
        .unwrap();
    b.send_text("+15550000301", "after the upkeep")
        .await
        .unwrap();
    let got = a
        .receive_until(
            |r| r.body.as_deref() == Some("after the upkeep"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(got
        .iter()
        .any(|r| r.body.as_deref() == Some("after the upkeep")));
}

#[tokio::test(flavor = "current_thread")]
async fn replaced_one_time_keys_are_pruned_to_two_batches() {
    use signal_client::service::{ONE_TIME_PREKEYS_KEPT, PREKEY_BATCH};
    let (_h, cfg) = sim(|_| {}).await;
    let mut a = Phone::register(&cfg, "+15550000311", "123456", None)
        .await
        .unwrap();
    let store = |p: &Phone| {
        (
            p.client.account.store.prekey_count(),
            p.client.account.store.one_time_kyber_count(),
        )
    };
    let (ec0, ky0) = store(&a);
    a.client
        .upload_prekeys(PREKEY_BATCH, PREKEY_BATCH)
        .await
        .unwrap();
    let batch = PREKEY_BATCH as usize;
    assert_eq!(store(&a), (ec0 + batch, ky0 + batch));
    // Each upload replaces the service's keys; the store keeps two batches.
    for _ in 0..3 {
        a.client
            .upload_prekeys(PREKEY_BATCH, PREKEY_BATCH)
            .await
            .unwrap();
    }
    assert_eq!(store(&a), (ONE_TIME_PREKEYS_KEPT, ONE_TIME_PREKEYS_KEPT));
    // The keys the service hands out are among those kept: a new sender gets through.
    let mut b = Phone::register(&cfg, "+15550000312", "123456", None)
        .await
        .unwrap();
    b.send_text("+15550000311", "one-time key kept")
        .await
        .unwrap();
    let got = a
        .receive_until(
            |r| r.body.as_deref() == Some("one-time key kept"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(got
        .iter()
        .any(|r| r.body.as_deref() == Some("one-time key kept")));
}
