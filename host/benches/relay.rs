//! Relay throughput and latency (issue 2): bytes through host ingress + link vs a plain
//! loopback TCP copy of the same bytes, in the same run. Prints the ratio.
//!
//!   cargo bench -p host --bench relay
//!
//! Both paths end in the same kind of sink and use the same client; the relay path is the
//! production code (`host::ingress::run`) over a real Unix-socket link.

// Test code: a failed step should stop the test loudly, and lengths are small constants.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use host::ingress::{self, IngressConfig};
use host::metrics::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wire::hello::{HelloStatus, Stream};
use wire::link::{self, LinkAddr, LinkListener};

const TOTAL: u64 = 2 << 30; // 2 GiB per run
const RUNS: usize = 3;
const PINGS: usize = 5_000;

/// Reads everything from `s`; echoes if `echo`.
async fn sink<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S, echo: bool) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if echo && s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn tcp_server(echo: bool) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(sink(s, echo));
        }
    });
    a
}

async fn relayed_server(dir: &std::path::Path, echo: bool) -> SocketAddr {
    let addr = LinkAddr::Unix(dir.join(if echo { "echo.sock" } else { "sink.sock" }));
    let l = LinkListener::bind(&addr).await.unwrap();
    tokio::spawn(async move {
        while let Ok(mut s) = l.accept().await {
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
                    sink(s, echo).await;
                }
            });
        }
    });
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = tcp.local_addr().unwrap();
    let (_trigger, shutdown) = host::shutdown::channel();
    std::mem::forget(_trigger);
    tokio::spawn(ingress::run(
        tcp,
        IngressConfig::new(addr),
        Arc::new(Metrics::default()),
        shutdown,
    ));
    front
}

/// A plain user-space TCP → TCP copying proxy (the naive way to add one hop).
async fn copy_proxy(target: SocketAddr) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut u = TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut c, &mut u).await;
            });
        }
    });
    a
}

async fn push(addr: SocketAddr) -> Duration {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let buf = vec![0xa5u8; 256 * 1024];
    let t = Instant::now();
    let mut sent = 0u64;
    while sent < TOTAL {
        s.write_all(&buf).await.unwrap();
        sent += buf.len() as u64;
    }
    s.shutdown().await.unwrap();
    // Wait for the far side to close: it has read everything.
    let mut b = [0u8; 1];
    let _ = s.read(&mut b).await;
    t.elapsed()
}

async fn pings(addr: SocketAddr) -> Vec<Duration> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let msg = [7u8; 64];
    let mut back = [0u8; 64];
    let mut out = Vec::with_capacity(PINGS);
    for _ in 0..PINGS {
        let t = Instant::now();
        s.write_all(&msg).await.unwrap();
        s.read_exact(&mut back).await.unwrap();
        out.push(t.elapsed());
    }
    out.sort();
    out
}

fn pct(v: &[Duration], p: f64) -> Duration {
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let direct = tcp_server(false).await;
        let relayed = relayed_server(dir.path(), false).await;
        let proxied = copy_proxy(direct).await;
        let gib = TOTAL as f64 / (1u64 << 30) as f64;
        let (mut best_d, mut best_r, mut best_p) = (Duration::MAX, Duration::MAX, Duration::MAX);
        for run in 0..RUNS {
            let d = push(direct).await;
            let r = push(relayed).await;
            let p = push(proxied).await;
            println!(
                "run {run}: loopback TCP {:.2} GiB/s, via host relay {:.2} GiB/s, via a plain TCP copy proxy {:.2} GiB/s",
                gib / d.as_secs_f64(),
                gib / r.as_secs_f64(),
                gib / p.as_secs_f64()
            );
            best_d = best_d.min(d);
            best_r = best_r.min(r);
            best_p = best_p.min(p);
        }
        let (td, tr, tp) = (
            gib / best_d.as_secs_f64(),
            gib / best_r.as_secs_f64(),
            gib / best_p.as_secs_f64(),
        );
        println!("throughput (best of {RUNS}, {gib:.0} GiB each): loopback {td:.2} GiB/s, relay {tr:.2} GiB/s, ratio {:.3} (goal >= 0.9)", tr / td);
        println!("for scale, one plain user-space TCP->TCP copy hop: {tp:.2} GiB/s ({:.3} of loopback); relay / plain copy hop = {:.3}", tp / td, tr / tp);

        let direct = tcp_server(true).await;
        let relayed = relayed_server(dir.path(), true).await;
        let d = pings(direct).await;
        let r = pings(relayed).await;
        println!(
            "round trip of 64 B ({PINGS} pings): loopback p50 {:?} p99 {:?}; relay p50 {:?} p99 {:?}; added p50 {:?} p99 {:?}",
            pct(&d, 0.5),
            pct(&d, 0.99),
            pct(&r, 0.5),
            pct(&r, 0.99),
            pct(&r, 0.5).saturating_sub(pct(&d, 0.5)),
            pct(&r, 0.99).saturating_sub(pct(&d, 0.99)),
        );
    });
}
