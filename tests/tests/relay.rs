//! Ingress relay under stress, with the test playing the enclave on the link socket:
//! many concurrent connections, slow readers, oversize frames, peers that vanish.

// Test code: a failed step should stop the test loudly, and lengths are small constants.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealboost_tests::{http_get, Stack, StackOpts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wire::hello::{HelloStatus, Stream};
use wire::link::{self, LinkAddr, LinkListener};

fn enclave_addr(stack: &Stack) -> LinkAddr {
    LinkAddr::Unix(stack.dir.join("enclave.sock"))
}

/// A stand-in enclave: accepts ingress streams and runs `f` on each.
async fn fake_enclave<F, Fut>(addr: LinkAddr, f: F)
where
    F: Fn(link::LinkStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let l = LinkListener::bind(&addr).await.unwrap();
    let f = Arc::new(f);
    tokio::spawn(async move {
        while let Ok(mut s) = l.accept().await {
            let f = f.clone();
            tokio::spawn(async move {
                if link::accept_hello(&mut s, |st| {
                    if *st == Stream::Ingress {
                        HelloStatus::Ok
                    } else {
                        HelloStatus::WrongStream
                    }
                })
                .await
                .is_ok()
                {
                    f(s).await;
                }
            });
        }
    });
}

async fn echo(s: link::LinkStream) {
    let (mut r, mut w) = tokio::io::split(s);
    let _ = tokio::io::copy(&mut r, &mut w).await;
    let _ = w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections_keep_their_bytes_apart() {
    let stack = Stack::start_with(StackOpts {
        no_enclave: true,
        ..Default::default()
    });
    fake_enclave(enclave_addr(&stack), echo).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..200u32 {
        let addr = stack.ingress;
        set.spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let data: Vec<u8> = (0..65_536u32)
                .map(|j| (i.wrapping_mul(31) ^ j) as u8)
                .collect();
            let (mut r, mut w) = s.split();
            let send = async {
                w.write_all(&data).await.unwrap();
                w.shutdown().await.unwrap();
            };
            let mut back = Vec::new();
            let recv = r.read_to_end(&mut back);
            let (_, n) = tokio::join!(send, recv);
            n.unwrap();
            assert_eq!(back, data, "connection {i} got someone else's bytes");
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    assert_eq!(stack.metric("ingress_accepted"), 200);
    stack.wait_metric("ingress_active", 0);
    assert_eq!(stack.metric("ingress_bytes_in"), 200 * 65_536);
    assert_eq!(stack.metric("ingress_bytes_out"), 200 * 65_536);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_gets_backpressure_and_does_not_stall_others() {
    let stack = Stack::start_with(StackOpts {
        no_enclave: true,
        ..Default::default()
    });
    let pushed = Arc::new(AtomicUsize::new(0));
    let p = pushed.clone();
    // The enclave side tries to push 256 MiB at whoever connects first, and echoes for
    // everyone else.
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    fake_enclave(enclave_addr(&stack), move |mut s| {
        let (p, first) = (p.clone(), first.clone());
        async move {
            if first.swap(false, Ordering::SeqCst) {
                let chunk = vec![0x5a; 64 * 1024];
                for _ in 0..4096 {
                    if s.write_all(&chunk).await.is_err() {
                        return;
                    }
                    p.fetch_add(chunk.len(), Ordering::SeqCst);
                }
            } else {
                echo(s).await;
            }
        }
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(stack.ingress).await.unwrap();
    slow.write_all(b"x").await.unwrap(); // counts as the first byte
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stalled_at = pushed.load(Ordering::SeqCst);
    // Kernel socket buffers on both hops plus one relay buffer: a few MiB, never 256.
    assert!(
        stalled_at < 32 * 1024 * 1024,
        "relay buffered {stalled_at} bytes for a reader that reads nothing"
    );
    // Meanwhile another client is served promptly.
    let t = Instant::now();
    let mut other = tokio::net::TcpStream::connect(stack.ingress).await.unwrap();
    other.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 5];
    other.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Once the slow reader reads, the rest flows.
    let mut sink = vec![0u8; 1 << 20];
    let mut got = 0usize;
    while got < 64 << 20 {
        let n = slow.read(&mut sink).await.unwrap();
        assert!(n > 0);
        got += n;
    }
    assert!(pushed.load(Ordering::SeqCst) > stalled_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanishing_enclave_side_closes_the_client_promptly() {
    let stack = Stack::start_with(StackOpts {
        no_enclave: true,
        ..Default::default()
    });
    fake_enclave(enclave_addr(&stack), |mut s| async move {
        let mut b = [0u8; 4];
        let _ = s.read_exact(&mut b).await;
        let _ = s.write_all(b"bye").await;
        drop(s); // gone mid-conversation
    })
    .await;
    let mut c = tokio::net::TcpStream::connect(stack.ingress).await.unwrap();
    c.write_all(b"1234").await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), c.read_to_end(&mut out))
        .await
        .expect("client not closed")
        .unwrap();
    assert_eq!(out, b"bye");
    // The relay keeps the client's sending half open (TCP half-close is legitimate) until
    // the client goes too; then nothing is left behind.
    assert_eq!(stack.metric("ingress_active"), 1);
    drop(c);
    stack.wait_metric("ingress_active", 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_speaks_is_cut_and_a_missing_enclave_is_reported() {
    // No enclave listening at all: the relay reports a link failure and closes.
    let stack = Stack::start_with(StackOpts {
        no_enclave: true,
        ..Default::default()
    });
    let mut c = tokio::net::TcpStream::connect(stack.ingress).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), c.read_to_end(&mut out))
        .await
        .expect("client not closed")
        .unwrap();
    assert!(out.is_empty());
    assert_eq!(stack.metric("ingress_link_failed"), 1);
    let (status, body) = http_get(stack.health, "/healthz").unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("\"enclave\":\"unreachable\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_garbage_frames_on_the_host_link_are_refused() {
    let stack = Stack::start_with(StackOpts {
        no_enclave: true,
        ..Default::default()
    });
    // A frame header announcing MAX+1 bytes.
    let mut s = link::connect(&stack.host_link()).await.unwrap();
    let mut header = ((wire::frame::MAX_FRAME_BODY + 1) as u32)
        .to_be_bytes()
        .to_vec();
    header.push(wire::frame::FrameKind::Hello as u8);
    s.write_all(&header).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut rest))
        .await
        .expect("host kept an oversize frame's connection open");
    assert!(rest.is_empty());
    // A valid Blob hello followed by a garbage request: one Invalid answer, then closed.
    let mut s = link::connect(&stack.host_link()).await.unwrap();
    link::hello(&mut s, Stream::Blob).await.unwrap();
    link::write_frame(&mut s, wire::frame::FrameKind::BlobRequest, &[0xee, 1, 2])
        .await
        .unwrap();
    let body = link::read_frame_of(&mut s, wire::frame::FrameKind::BlobResponse)
        .await
        .unwrap();
    assert_eq!(
        wire::blob::BlobResponse::decode(&body).unwrap(),
        wire::blob::BlobResponse::Error {
            code: wire::blob::BlobErrorCode::Invalid
        }
    );
    assert!(matches!(
        link::read_frame(&mut s).await,
        Err(link::LinkError::Closed)
    ));
    assert_eq!(stack.metric("link_protocol_errors"), 2);
    // The host is still fine.
    assert_eq!(http_get(stack.health, "/metrics").unwrap().0, 200);
}
