//! A re-key interrupted between its two writes (new key record written, new state not yet)
//! rolls back at the next unlock with the old key (VAULT.md §16), and a stale undo record
//! left after a completed re-key is discarded without reopening anything.
//!
//! The interruption is staged by the test playing the host: after a real re-key it puts
//! back the pre-re-key state blob and account chunks and leaves the undo record, which is
//! exactly what the store holds if the enclave stopped after writing the new key record.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use enclave::vault::names;
use sealboost_tests::blob_call;
use sealboost_tests::lifecycle::{channel_id, json};
use sealboost_tests::signal::{add_admin, phone, AdminCli, World};
use wire::blob::{BlobRequest, BlobResponse};

const A: &str = "+15550001001";
const C: &str = "+15550001003";
const CHANNEL: &str = "+15550009000";

async fn get(w: &World, name: Vec<u8>) -> Option<(u64, Vec<u8>)> {
    match blob_call(&w.stack, BlobRequest::Get { name }).await {
        BlobResponse::Blob { version, data } => Some((version, data)),
        BlobResponse::NotFound => None,
        other => panic!("{other:?}"),
    }
}

/// Replaces (or creates) `name` with `data`, as a host may.
async fn put(w: &World, name: Vec<u8>, data: Vec<u8>) {
    let expected = get(w, name.clone()).await.map_or(0, |(v, _)| v);
    let r = blob_call(
        &w.stack,
        BlobRequest::Put {
            name,
            expected,
            data,
        },
    )
    .await;
    assert!(matches!(r, BlobResponse::Written { .. }), "{r:?}");
}

async fn chunks(w: &World, ch: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let r = blob_call(
        &w.stack,
        BlobRequest::List {
            prefix: format!("ch/{ch}/ps/").into_bytes(),
            limit: 100,
        },
    )
    .await;
    let BlobResponse::Names { names } = r else {
        panic!("{r:?}")
    };
    let mut out = Vec::new();
    for (n, _) in names {
        out.push((n.clone(), get(w, n).await.unwrap().1));
    }
    out
}

/// Kills the enclave; the launcher starts a new one (which remembers no epochs).
fn restart_enclave(stack: &sealboost_tests::Stack) {
    let old = stack.enclave_pids();
    for pid in &old {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while stack.enclave_pids().iter().all(|p| old.contains(p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "enclave not restarted"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    stack.wait_ready(std::time::Duration::from_secs(20));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_interrupted_rekey_rolls_back_and_a_stale_undo_record_is_dropped() {
    let w = World::bare(A, CHANNEL, &[]);
    let ch = w.ch.clone();
    let id = channel_id(&ch);
    let mut c_phone = phone(&w.sim.info, C).await;
    add_admin(&w.cli, &ch, C, &mut c_phone, &AdminCli::new(&w.stack)).await;
    let before = json(&w.cli.ok(&["channel", "info", &ch, "--json"]));
    assert_eq!(before["admins"], 2, "{before}");

    // What the store holds before the re-key, and A's key as it was.
    let (_, record0) = get(&w, names::key_record(&id)).await.unwrap();
    let (_, state0) = get(&w, names::state(&id)).await.unwrap();
    let chunks0 = chunks(&w, &ch).await;
    let keys = w.cli.state.join("channels").join(&ch);
    let saved = w.tmp.path().join("saved-key");
    copy_dir(&keys, &saved);

    let v = json(&w.cli.ok(&["admin", "remove", &ch, C, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    assert!(get(&w, names::rekey_undo(&id)).await.is_none());
    let (_, record1) = get(&w, names::key_record(&id)).await.unwrap();
    assert_ne!(record1, record0);

    // Stage the interruption: the new key record stands, the state and chunks are the old
    // ones, the undo record holds the old key record, and A never got the new key.
    put(&w, names::state(&id), state0).await;
    for (n, data) in &chunks0 {
        put(&w, n.clone(), data.clone()).await;
    }
    put(&w, names::rekey_undo(&id), record0.clone()).await;
    copy_dir(&saved, &keys);

    // The enclave that committed the re-key is still running, so this cannot be a real
    // interruption: it saw key epoch 2 committed and refuses to put the old record back
    // (VAULT.md §18), whatever the state's header claims.
    let (code, out, err) = w.cli.run(&["channel", "info", &ch, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("rollback_detected"),
        "{out}{err}"
    );
    assert_eq!(get(&w, names::key_record(&id)).await.unwrap().1, record1);
    // A real interruption is the enclave stopping: it restarts with no memory of epoch 2.
    restart_enclave(&w.stack);

    // A's old key opens the channel again: the re-key rolled back, C is still an admin.
    let after = json(&w.cli.ok(&["channel", "info", &ch, "--json"]));
    assert_eq!(after["admins"], 2, "{after}");
    assert_eq!(get(&w, names::key_record(&id)).await.unwrap().1, record0);
    assert!(get(&w, names::rekey_undo(&id)).await.is_none());
    assert!(w
        .stack
        .host_log()
        .contains("an interrupted re-key was rolled back"));

    // Now a re-key that completes, and a stale undo record planted afterwards: a holder of
    // the old key is refused and the undo record is dropped, the key record is untouched.
    copy_dir(&keys, &saved);
    let v = json(&w.cli.ok(&["admin", "remove", &ch, C, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    let (_, record2) = get(&w, names::key_record(&id)).await.unwrap();
    put(&w, names::rekey_undo(&id), record0).await;
    copy_dir(&saved, &keys);
    let (code, out, err) = w.cli.run(&["channel", "info", &ch, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(get(&w, names::key_record(&id)).await.unwrap().1, record2);
    assert!(get(&w, names::rekey_undo(&id)).await.is_none());
}
