//! The byte pump under both relays: copies two streams into each other with bounded
//! buffers (backpressure: nothing is read until the last read is written), closes each
//! direction on EOF, and gives up on a connection that stays silent too long.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Per-direction buffer. 64 KiB keeps syscalls per byte low on loopback and vsock while
/// bounding what one connection can make the host hold: 128 KiB per relayed connection.
pub const RELAY_BUFFER: usize = 64 * 1024;

/// Silence limits for one relayed connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Until the first byte arrives from the side that opened the connection.
    pub first_byte: Duration,
    /// Afterwards, with no byte in either direction.
    pub idle: Duration,
}

/// How a pumped connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PumpEnd {
    /// Both directions reached EOF.
    Closed,
    /// Silent past the first-byte or idle limit.
    TimedOut,
    /// The relay is shutting down and its grace period ended.
    Cancelled,
}

#[derive(Debug, Clone, Copy)]
pub struct PumpStats {
    /// Bytes from the opener (`a`) to the other side (`b`).
    pub a_to_b: u64,
    pub b_to_a: u64,
    pub end: PumpEnd,
}

struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    a_to_b: AtomicU64,
    b_to_a: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }
}

async fn one_way<R, W>(mut r: R, mut w: W, act: &Activity, counter: &AtomicU64) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; RELAY_BUFFER];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            // Half-close: the peer may still be sending the other way (TLS close_notify).
            let _ = w.shutdown().await;
            return Ok(());
        }
        act.touch();
        w.write_all(&buf[..n]).await?;
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Relays `a` ⇄ `b` until both sides close, the connection times out, or `cancel` fires.
/// I/O errors on either side end the connection like an EOF would (a peer that disappears
/// is normal on the internet); the byte counts say how far it got.
pub async fn pump<A, B>(
    a: A,
    b: B,
    timeouts: Timeouts,
    cancel: impl std::future::Future<Output = ()>,
) -> PumpStats
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let act = Arc::new(Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
        a_to_b: AtomicU64::new(0),
        b_to_a: AtomicU64::new(0),
    });
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let both = async {
        let _ = tokio::join!(
            one_way(ar, bw, &act, &act.a_to_b),
            one_way(br, aw, &act, &act.b_to_a)
        );
    };
    let watchdog = async {
        loop {
            let started = act.a_to_b.load(Ordering::Relaxed) > 0;
            let limit = if started {
                timeouts.idle
            } else {
                timeouts.first_byte
            };
            let last = Duration::from_millis(act.last_ms.load(Ordering::Relaxed));
            let silent = act.start.elapsed().saturating_sub(last);
            if silent >= limit {
                return;
            }
            tokio::time::sleep((limit - silent).max(Duration::from_millis(10))).await;
        }
    };
    let end = tokio::select! {
        () = both => PumpEnd::Closed,
        () = watchdog => PumpEnd::TimedOut,
        () = cancel => PumpEnd::Cancelled,
    };
    PumpStats {
        a_to_b: act.a_to_b.load(Ordering::Relaxed),
        b_to_a: act.b_to_a.load(Ordering::Relaxed),
        end,
    }
}
