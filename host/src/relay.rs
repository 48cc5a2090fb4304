//! The byte pump under both relays: copies two streams into each other with bounded
//! buffers (backpressure: nothing is read until the last read is written), closes each
//! direction on EOF, and gives up on a connection that stays silent too long.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
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
    let act = Activity::new();
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let both = async {
        let _ = tokio::join!(
            one_way(ar, bw, &act, &act.a_to_b),
            one_way(br, aw, &act, &act.b_to_a)
        );
    };
    drive(&act, both, timeouts, cancel).await
}

/// [`pump`] for a TCP client and a Unix-socket link, moving bytes with `splice(2)` through
/// a pipe instead of copying them through user space.
pub async fn pump_spliced(
    a: tokio::net::TcpStream,
    b: tokio::net::UnixStream,
    timeouts: Timeouts,
    cancel: impl std::future::Future<Output = ()>,
) -> PumpStats {
    let act = Activity::new();
    let both = async {
        let _ = tokio::join!(
            splice::one_way(&a, &b, &act, &act.a_to_b),
            splice::one_way(&b, &a, &act, &act.b_to_a)
        );
    };
    drive(&act, both, timeouts, cancel).await
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            a_to_b: AtomicU64::new(0),
            b_to_a: AtomicU64::new(0),
        }
    }
}

/// Runs both directions under the silence watchdog and the cancel signal.
async fn drive(
    act: &Activity,
    both: impl std::future::Future<Output = ()>,
    timeouts: Timeouts,
    cancel: impl std::future::Future<Output = ()>,
) -> PumpStats {
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

mod splice {
    //! Zero-copy one-way relay: socket → pipe → socket with `splice(2)` (safe rustix API).
    //! The pipe is always drained before the next read, so `EAGAIN` on the read side means
    //! the source socket is empty and on the write side that the destination is full —
    //! exactly what tokio's readiness tracking expects from `try_io`.

    use std::io;
    use std::os::fd::AsFd;
    use std::sync::atomic::{AtomicU64, Ordering};

    use rustix::pipe::{pipe_with, splice, PipeFlags, SpliceFlags};
    use tokio::io::Interest;

    use super::{Activity, RELAY_BUFFER};

    /// The two socket types the relay splices between.
    pub(super) trait Sock: AsFd {
        async fn ready(&self, interest: Interest) -> io::Result<()>;
        fn attempt<R>(
            &self,
            interest: Interest,
            f: impl FnOnce() -> io::Result<R>,
        ) -> io::Result<R>;
    }

    macro_rules! sock {
        ($t:ty) => {
            impl Sock for $t {
                async fn ready(&self, interest: Interest) -> io::Result<()> {
                    self.ready(interest).await.map(|_| ())
                }
                fn attempt<R>(
                    &self,
                    interest: Interest,
                    f: impl FnOnce() -> io::Result<R>,
                ) -> io::Result<R> {
                    self.try_io(interest, f)
                }
            }
        };
    }
    sock!(tokio::net::TcpStream);
    sock!(tokio::net::UnixStream);

    pub(super) async fn one_way(
        src: &impl Sock,
        dst: &impl Sock,
        act: &Activity,
        counter: &AtomicU64,
    ) -> io::Result<()> {
        let (pipe_r, pipe_w) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
        loop {
            src.ready(Interest::READABLE).await?;
            let n = match src.attempt(Interest::READABLE, || {
                Ok(splice(
                    src.as_fd(),
                    None,
                    &pipe_w,
                    None,
                    RELAY_BUFFER,
                    flags,
                )?)
            }) {
                Ok(0) => {
                    // EOF: half-close the other side, as the copying pump does.
                    let _ = rustix::net::shutdown(dst.as_fd(), rustix::net::Shutdown::Write);
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            act.touch();
            let mut left = n;
            while left > 0 {
                dst.ready(Interest::WRITABLE).await?;
                match dst.attempt(Interest::WRITABLE, || {
                    Ok(splice(&pipe_r, None, dst.as_fd(), None, left, flags)?)
                }) {
                    Ok(m) => left -= m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            }
            counter.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}
