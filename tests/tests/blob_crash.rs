//! The host acknowledges a blob write only once it is durable: SIGKILL the real host
//! process during a write storm over the link, restart it on the same store, and find
//! every acknowledged write present and intact.

// Test code: a failed step should stop the test loudly, and lengths are small constants.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sealboost_tests::{Stack, StackOpts};
use wire::blob::{BlobRequest, BlobResponse};
use wire::frame::FrameKind;
use wire::hello::Stream;
use wire::link::{self, LinkAddr};

/// Self-verifying content: 8-byte counter, then bytes derived from it.
fn content(writer: u8, n: u64) -> Vec<u8> {
    let len = 1 + ((n * 7919 + u64::from(writer) * 104_729) % 200_000) as usize;
    let mut v = n.to_be_bytes().to_vec();
    v.extend((0..len).map(|i| (i as u64 ^ n ^ u64::from(writer)) as u8));
    v
}

/// The queue item writer `writer` appends as its `n`th: a prefix of a content vector, 9 to
/// 64 bytes (never longer than that vector, which can be as short as 9 bytes).
fn queue_item(writer: u8, n: u64) -> Vec<u8> {
    let mut c = content(writer.wrapping_add(100), n);
    c.truncate(64.min(9 + n as usize % 500));
    c
}

fn check(writer: u8, data: &[u8]) -> u64 {
    let n = u64::from_be_bytes(data[..8].try_into().unwrap());
    assert_eq!(
        data,
        content(writer, n).as_slice(),
        "torn or corrupt blob for writer {writer}"
    );
    n
}

async fn call(s: &mut link::LinkStream, req: BlobRequest) -> Option<BlobResponse> {
    link::write_frame(s, FrameKind::BlobRequest, &req.encode().unwrap())
        .await
        .ok()?;
    let b = link::read_frame_of(s, FrameKind::BlobResponse).await.ok()?;
    Some(BlobResponse::decode(&b).unwrap())
}

#[derive(Default)]
struct Acked {
    /// writer → (highest acked version, its counter)
    blobs: Vec<(u64, u64)>,
    /// (queue writer, seq, counter)
    items: Vec<(u8, u64, u64)>,
}

async fn storm(addr: LinkAddr, writer: u8, acked: Arc<Mutex<Acked>>) {
    let Ok(mut s) = link::connect(&addr).await else {
        return;
    };
    if link::hello(&mut s, Stream::Blob).await.is_err() {
        return;
    }
    let name = format!("crash/blob/{writer}").into_bytes();
    let queue = format!("crash/queue/{writer}").into_bytes();
    let mut expected = match call(&mut s, BlobRequest::Get { name: name.clone() }).await {
        Some(BlobResponse::Blob { version, data }) => {
            check(writer, &data);
            version
        }
        Some(BlobResponse::NotFound) => 0,
        _ => return,
    };
    for n in 1u64.. {
        let n = n + expected * 1000;
        let put = BlobRequest::Put {
            name: name.clone(),
            expected,
            data: content(writer, n),
        };
        match call(&mut s, put).await {
            Some(BlobResponse::Written { version }) => {
                expected = version;
                acked.lock().unwrap().blobs[usize::from(writer)] = (version, n);
            }
            _ => return,
        }
        let item = queue_item(writer, n);
        match call(
            &mut s,
            BlobRequest::QueueAppend {
                queue: queue.clone(),
                item,
            },
        )
        .await
        {
            Some(BlobResponse::Appended { seq }) => {
                acked.lock().unwrap().items.push((writer, seq, n));
            }
            _ => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_sigkill() {
    const WRITERS: u8 = 4;
    let dir = tempfile::tempdir().unwrap();
    let mut verified_blobs = 0;
    let mut verified_items = 0;
    for round in 0..3 {
        let mut stack = Stack::start_with(StackOpts {
            dir: Some(dir.path().to_path_buf()),
            no_enclave: true,
            ..Default::default()
        });
        let acked = Arc::new(Mutex::new(Acked {
            blobs: vec![(0, 0); usize::from(WRITERS)],
            items: Vec::new(),
        }));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(storm(stack.host_link(), w, acked.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        stack.kill_host();
        for t in tasks {
            t.await.unwrap();
        }
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        assert!(
            acked.items.len() > 5,
            "round {round}: storm made no progress"
        );

        // Restart on the same file and check everything acknowledged.
        let stack = Stack::start_with(StackOpts {
            dir: Some(dir.path().to_path_buf()),
            no_enclave: true,
            ..Default::default()
        });
        let mut s = link::connect(&stack.host_link()).await.unwrap();
        link::hello(&mut s, Stream::Blob).await.unwrap();
        for (w, &(version, n)) in acked.blobs.iter().enumerate() {
            if version == 0 {
                continue;
            }
            let name = format!("crash/blob/{w}").into_bytes();
            match call(&mut s, BlobRequest::Get { name }).await.unwrap() {
                BlobResponse::Blob { version: v, data } => {
                    // The acked version or a newer one whose ack was lost in the kill.
                    assert!(
                        v >= version,
                        "writer {w}: version went back {version} -> {v}"
                    );
                    let got = check(w as u8, &data);
                    if v == version {
                        assert_eq!(got, n);
                    }
                    verified_blobs += 1;
                }
                other => panic!("writer {w}: acked blob missing: {other:?}"),
            }
        }
        for (w, seq, n) in &acked.items {
            let queue = format!("crash/queue/{w}").into_bytes();
            let req = BlobRequest::QueueRange {
                queue,
                from: *seq,
                max_items: 1,
                max_bytes: 1 << 20,
            };
            match call(&mut s, req).await.unwrap() {
                BlobResponse::Items { items } => {
                    assert_eq!(items.len(), 1, "acked item {w}/{seq} missing");
                    assert_eq!(items[0].0, *seq);
                    assert_eq!(items[0].1, queue_item(*w, *n), "item {w}/{seq} corrupt");
                    verified_items += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        drop(stack);
    }
    eprintln!("verified {verified_blobs} acked blobs and {verified_items} acked queue items across 3 SIGKILLs");
}
