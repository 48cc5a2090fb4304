//! The attested unlock end to end: the admin client verifies the enclave before it sends SK; the
//! enclave unlocks for one operation and writes sealed state through the untrusted host;
//! a hostile host is caught; nothing in clear ever reaches the host.

// Test code: a failed step should stop the test loudly, and lengths are small constants.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_verify::admin::{AdminClient, AdminError};
use client_verify::keystore::{ChannelSk, KeyStore};
use sealboost_tests::{blob_call, signed_sim_policy, Stack};
use serde_json::{json, Value};
use wire::blob::{BlobRequest, BlobResponse};

const ADMIN: &str = "+15550001001";
const SUBS: [&str; 3] = ["+15550002002", "+4915112345678", "+33612345678"];

/// The members/change `add` list that makes each number a subscriber.
fn subscribers(numbers: &[&str]) -> Value {
    json!(numbers
        .iter()
        .map(|n| json!({"number": n, "role": "subscriber"}))
        .collect::<Vec<_>>())
}

fn no_pass() -> Option<zeroize::Zeroizing<Vec<u8>>> {
    None
}

async fn admin(stack: &Stack, keys: &std::path::Path) -> AdminClient {
    let dp = signed_sim_policy(stack, None);
    AdminClient::connect_with(
        stack.ingress,
        &dp.policy,
        KeyStore::open(keys),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap()
}

fn state_name(channel: &str) -> Vec<u8> {
    format!("ch/{channel}/state").into_bytes()
}

async fn get_state(stack: &Stack, channel: &str) -> (u64, Vec<u8>) {
    match blob_call(
        stack,
        BlobRequest::Get {
            name: state_name(channel),
        },
    )
    .await
    {
        BlobResponse::Blob { version, data } => (version, data),
        other => panic!("{other:?}"),
    }
}

async fn put_state(stack: &Stack, channel: &str, data: Vec<u8>) {
    let (version, _) = get_state(stack, channel).await;
    let r = blob_call(
        stack,
        BlobRequest::Put {
            name: state_name(channel),
            expected: version,
            data,
        },
    )
    .await;
    assert!(matches!(r, BlobResponse::Written { .. }), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_lock_unlock_read_back_and_survive_an_enclave_restart() {
    let stack = Stack::start();
    let keys = tempfile::tempdir().unwrap();
    let mut c = admin(&stack, keys.path()).await;
    let (ch, epoch) = c.create_channel(ADMIN, None).await.unwrap();
    assert_eq!(epoch, 1);
    let v = c
        .change_members(&ch, subscribers(&SUBS), vec![], &no_pass)
        .await
        .unwrap();
    assert_eq!(
        (
            v["admins"].as_u64(),
            v["subscribers"].as_u64(),
            v["epoch"].as_u64()
        ),
        (Some(1), Some(3), Some(2))
    );
    let v = c
        .settings(
            &ch,
            json!({"hotline": false, "disappearing_timer_secs": 3600}),
            &no_pass,
        )
        .await
        .unwrap();
    assert_eq!(v["settings"]["hotline"], json!(false));
    assert_eq!(KeyStore::open(keys.path()).epoch(&ch).unwrap(), 3);

    // Kill the enclave: the launcher restarts it; state comes back from the host's store.
    let old = stack.enclave_pids();
    for pid in &old {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while stack.enclave_pids().iter().all(|p| old.contains(p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "enclave not restarted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stack.wait_ready(Duration::from_secs(20));
    let mut c = admin(&stack, keys.path()).await; // a new enclave: attest again
    let v = c.members(&ch, &no_pass).await.unwrap();
    let members = v["members"].as_array().unwrap();
    // The admin by number; the three subscribers by role only, never by number.
    let admins: Vec<&Value> = members.iter().filter(|m| m["role"] == "admin").collect();
    assert_eq!(admins.len(), 1, "{v}");
    assert_eq!(admins[0]["number"], ADMIN, "{v}");
    assert_eq!(admins[0]["admin"], json!(1));
    let subscribers = members.iter().filter(|m| m["role"] == "subscriber");
    assert_eq!(subscribers.count(), SUBS.len(), "{v}");
    for n in SUBS {
        assert!(
            !v.to_string().contains(n),
            "a subscriber's number was shown: {v}"
        );
    }
    let v = c.info(&ch, &no_pass).await.unwrap();
    assert_eq!(v["settings"]["hotline"], json!(false));
    assert_eq!(v["settings"]["disappearing_timer_secs"], json!(3600));
    assert_eq!(v["epoch"], json!(3), "reads do not advance the epoch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_rate_limited_but_never_lock_the_right_key_out() {
    let stack = Stack::start();
    let keys = tempfile::tempdir().unwrap();
    let mut c = admin(&stack, keys.path()).await;
    let (ch, _) = c.create_channel(ADMIN, None).await.unwrap();
    // Someone who only knows the channel id guesses keys from their own client.
    let guesser_keys = tempfile::tempdir().unwrap();
    KeyStore::open(guesser_keys.path())
        .save_sk(&ch, &ChannelSk::generate(), None)
        .unwrap();
    let mut g = admin(&stack, guesser_keys.path()).await;
    let mut refused = 0;
    let mut limited = None;
    // Guess until throttled with a delay long enough that the steps below surely fall
    // inside it (failures while throttled still count and double it).
    for _ in 0..12 {
        match g.info(&ch, &no_pass).await {
            Err(AdminError::Unauthorized) => refused += 1,
            Err(AdminError::RateLimited { retry_after_secs }) => {
                limited = Some(retry_after_secs);
                if retry_after_secs >= 8 {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    // The client follows a refused key with a stale-key catch-up, which counts too.
    assert!(refused >= 3, "the free failures first: {refused}");
    assert!(
        limited.is_some_and(|s| s >= 8),
        "wrong keys must be rate-limited: {limited:?}"
    );
    // The admins' key opens at once, throttled or not.
    let v = c.info(&ch, &no_pass).await.unwrap();
    assert_eq!(v["epoch"], json!(1), "{v}");
    // And the admin's success gave the guesser nothing back.
    assert!(
        matches!(
            g.info(&ch, &no_pass).await,
            Err(AdminError::RateLimited { retry_after_secs }) if retry_after_secs >= 8
        ),
        "the next guess is still throttled"
    );
    // Replace the admin's key with another one: now it is a wrong key like any other.
    KeyStore::open(keys.path())
        .save_sk(&ch, &ChannelSk::generate(), None)
        .unwrap();
    assert!(matches!(
        c.info(&ch, &no_pass).await,
        Err(AdminError::RateLimited { .. })
    ));
    // An unknown channel looks exactly like a wrong key.
    let other = "0123456789abcdef0123456789abcdef";
    KeyStore::open(keys.path())
        .save_sk(other, &ChannelSk::generate(), None)
        .unwrap();
    assert!(matches!(
        c.info(other, &no_pass).await,
        Err(AdminError::Unauthorized)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_enclave_never_receives_the_key() {
    let stack = Stack::start();
    let keys = tempfile::tempdir().unwrap();
    let dp = signed_sim_policy(&stack, Some([0x42; 48]));
    let err = AdminClient::connect_with(
        stack.ingress,
        &dp.policy,
        KeyStore::open(keys.path()),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            AdminError::Session(client_verify::session::SessionError::Attestation(
                attestation::Error::PcrMismatch { index: 0 }
            ))
        ),
        "{err:?}"
    );
    // No session, so no create: nothing keyed exists anywhere.
    assert!(KeyStore::open(keys.path()).channels().is_empty());
    let r = blob_call(
        &stack,
        BlobRequest::List {
            prefix: b"ch/".to_vec(),
            limit: 10,
        },
    )
    .await;
    assert_eq!(r, BlobResponse::Names { names: vec![] });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_host_is_caught_and_nothing_acknowledged_is_lost() {
    let stack = Stack::start();
    let keys = tempfile::tempdir().unwrap();
    let mut c = admin(&stack, keys.path()).await;
    let (a, _) = c.create_channel(ADMIN, None).await.unwrap();
    let (b, _) = c.create_channel("+15550009999", None).await.unwrap();
    c.change_members(
        &a,
        json!([{"number": SUBS[0], "role": "subscriber"}]),
        vec![],
        &no_pass,
    )
    .await
    .unwrap(); // a at epoch 2
    let (_, a_epoch2) = get_state(&stack, &a).await;
    c.settings(&a, json!({"vouch_level": 2}), &no_pass)
        .await
        .unwrap(); // epoch 3
    let (_, good) = get_state(&stack, &a).await;

    // 1. One flipped byte.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    put_state(&stack, &a, bad).await;
    assert!(matches!(
        c.info(&a, &no_pass).await,
        Err(AdminError::Integrity)
    ));
    // 2. Truncated.
    put_state(&stack, &a, good[..good.len() - 7].to_vec()).await;
    assert!(matches!(
        c.info(&a, &no_pass).await,
        Err(AdminError::Integrity)
    ));
    // 3. Another channel's (valid) state under this channel's name.
    let (_, b_state) = get_state(&stack, &b).await;
    put_state(&stack, &a, b_state).await;
    assert!(matches!(
        c.info(&a, &no_pass).await,
        Err(AdminError::Integrity)
    ));
    // 4. Replay of an older, genuine state (or a dropped write): rollback.
    put_state(&stack, &a, a_epoch2).await;
    assert!(matches!(
        c.info(&a, &no_pass).await,
        Err(AdminError::RollbackDetected { seen: 3 })
    ));
    // The host restores what it acknowledged: everything is there.
    put_state(&stack, &a, good).await;
    let v = c.info(&a, &no_pass).await.unwrap();
    assert_eq!(v["settings"]["vouch_level"], json!(2));
    assert_eq!(v["subscribers"], json!(1));
    assert_eq!(v["epoch"], json!(3));
}

/// Copies `r` into `w`, keeping a copy of every byte in `seen`.
async fn copy_recording<R, W>(r: &mut R, w: &mut W, seen: &Mutex<Vec<u8>>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut b = vec![0u8; 65536];
    while let Ok(n) = r.read(&mut b).await {
        if n == 0 {
            break;
        }
        seen.lock().unwrap().extend_from_slice(&b[..n]);
        if w.write_all(&b[..n]).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

/// A TCP proxy between client and host that keeps every byte, both directions.
async fn recording_proxy(
    target: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            let seen = s2.clone();
            tokio::spawn(async move {
                let mut u = tokio::net::TcpStream::connect(target).await.unwrap();
                let (mut cr, mut cw) = c.split();
                let (mut ur, mut uw) = u.split();
                tokio::join!(
                    copy_recording(&mut cr, &mut uw, &seen),
                    copy_recording(&mut ur, &mut cw, &seen)
                );
            });
        }
    });
    (addr, seen)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_never_sees_a_number_or_a_key() {
    let mut stack = Stack::start();
    let (proxy, relayed) = recording_proxy(stack.ingress).await;
    let keys = tempfile::tempdir().unwrap();
    let dp = signed_sim_policy(&stack, None);
    let mut c = AdminClient::connect_with(
        proxy,
        &dp.policy,
        KeyStore::open(keys.path()),
        sealboost_tests::SIMULATED_OK,
    )
    .await
    .unwrap();
    let (ch, _) = c.create_channel(ADMIN, None).await.unwrap();
    c.change_members(&ch, subscribers(&SUBS), vec![], &no_pass)
        .await
        .unwrap();
    let members = c.members(&ch, &no_pass).await.unwrap().to_string();
    assert!(
        members.contains(ADMIN),
        "the admin sees the admins' numbers"
    );
    assert!(!members.contains(SUBS[1]), "but no subscriber's");
    let sk = KeyStore::open(keys.path()).load_sk(&ch, no_pass).unwrap();
    drop(c);
    stack.stop(); // flush and close the store file

    let mut host_bytes = std::fs::read(stack.dir.join("store.redb")).unwrap();
    host_bytes.extend(std::fs::read(stack.dir.join("host.log")).unwrap());
    let relayed = relayed.lock().unwrap().clone();
    use base64::Engine as _;
    for number in [ADMIN].iter().chain(SUBS.iter()) {
        let digits = &number[1..];
        let value: u64 = digits.parse().unwrap();
        for needle in [
            number.as_bytes().to_vec(),
            digits.as_bytes().to_vec(),
            value.to_be_bytes()[2..].to_vec(),
            value.to_le_bytes()[..6].to_vec(),
        ] {
            assert!(
                !contains(&host_bytes, &needle),
                "host stored/logged {number} ({needle:02x?})"
            );
            assert!(
                !contains(&relayed, &needle),
                "host relayed {number} ({needle:02x?})"
            );
        }
    }
    for needle in [
        sk.expose().to_vec(),
        hex::encode(sk.expose()).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(sk.expose())
            .into_bytes(),
    ] {
        assert!(!contains(&host_bytes, &needle), "host stored/logged the SK");
        assert!(!contains(&relayed, &needle), "host relayed the SK");
    }
    assert!(
        relayed.len() > 5_000,
        "the proxy saw the session ({} bytes)",
        relayed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_admin_writes_all_land() {
    let stack = Stack::start();
    let keys = tempfile::tempdir().unwrap();
    let mut c = admin(&stack, keys.path()).await;
    let (ch, _) = c.create_channel(ADMIN, None).await.unwrap();
    let mut tasks = Vec::new();
    for writer in 0..2u64 {
        let (stack_ingress, dir, ch) = (stack.ingress, keys.path().to_path_buf(), ch.clone());
        let dp = signed_sim_policy(&stack, None);
        tasks.push(tokio::spawn(async move {
            let mut c = AdminClient::connect_with(
                stack_ingress,
                &dp.policy,
                KeyStore::open(dir),
                sealboost_tests::SIMULATED_OK,
            )
            .await
            .unwrap();
            for i in 0..8u64 {
                let n = format!("+1666{:07}", writer * 1000 + i);
                c.change_members(
                    &ch,
                    json!([{"number": n, "role": "subscriber"}]),
                    vec![],
                    &no_pass,
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = c.info(&ch, &no_pass).await.unwrap();
    assert_eq!(
        v["subscribers"],
        json!(16),
        "every acknowledged add is present"
    );
    assert_eq!(v["epoch"], json!(17));
}

/// The enclave closes a keep-alive connection left idle past its header timeout; a client
/// that comes back later attests a new session and sends there (the request never reached
/// the closed one), instead of failing with "operation was canceled".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_idle_past_the_enclaves_timeout_is_replaced_before_sending() {
    let stack = Stack::start();
    let keys = tempfile::tempdir().unwrap();
    let mut c = admin(&stack, keys.path()).await;
    let (ch, _) = c.create_channel(ADMIN, None).await.unwrap();
    tokio::time::sleep(enclave::server::HEADER_TIMEOUT + std::time::Duration::from_secs(1)).await;
    let v = c
        .change_members(&ch, subscribers(&SUBS), vec![], &no_pass)
        .await
        .unwrap();
    assert_eq!(v["subscribers"], 3, "{v}");
    assert_eq!(v["epoch"], 2, "{v}");
}
