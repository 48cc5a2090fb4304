//! Link transports and framed I/O (SPEC §2.1–2.3).
//!
//! On Nitro and SEV-SNP the link is vsock; in simulation it is Unix-domain sockets. Both
//! are hidden behind [`LinkStream`], so everything above the transport — the hello
//! exchange, the relays, the blob RPC — is one code path tested once.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{UnixListener, UnixStream};

use crate::frame::{self, FrameKind, FRAME_HEADER_LEN};
use crate::hello::{Hello, HelloAck, HelloStatus, Stream};
use crate::DecodeError;

/// The vsock wildcard CID (`vsock:any:PORT`).
pub const VMADDR_CID_ANY: u32 = u32::MAX;

/// Where a link endpoint listens (SPEC §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAddr {
    /// `unix:/path/to/socket` — simulation.
    Unix(PathBuf),
    /// `vsock:CID:PORT` — Nitro (host CID 3, enclave CID from the launcher) and SNP.
    Vsock { cid: u32, port: u32 },
}

impl FromStr for LinkAddr {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(DecodeError::Invalid {
                    field: "link address",
                    reason: "empty unix path",
                });
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("vsock:") {
            let bad = DecodeError::Invalid {
                field: "link address",
                reason: "expected vsock:CID:PORT",
            };
            let (cid, port) = rest.split_once(':').ok_or(bad.clone())?;
            // `any` = VMADDR_CID_ANY: listen on whatever CID the launcher assigned, so the
            // CID need not appear in the enclave's (measured) command line.
            let cid = if cid == "any" {
                VMADDR_CID_ANY
            } else {
                cid.parse().map_err(|_| bad.clone())?
            };
            let port = port.parse().map_err(|_| bad)?;
            return Ok(Self::Vsock { cid, port });
        }
        Err(DecodeError::Invalid {
            field: "link address",
            reason: "expected unix:PATH or vsock:CID:PORT",
        })
    }
}

impl fmt::Display for LinkAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
            Self::Vsock {
                cid: VMADDR_CID_ANY,
                port,
            } => write!(f, "vsock:any:{port}"),
            Self::Vsock { cid, port } => write!(f, "vsock:{cid}:{port}"),
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One link connection, whatever the transport.
pub struct LinkStream(Inner);

enum Inner {
    Unix(UnixStream),
    Other(Box<dyn Io>),
}

impl LinkStream {
    /// The Unix socket underneath, for zero-copy relaying (`splice(2)`); vsock streams
    /// come back unchanged.
    pub fn into_unix(self) -> Result<UnixStream, Self> {
        match self.0 {
            Inner::Unix(u) => Ok(u),
            other => Err(Self(other)),
        }
    }

    fn io(&mut self) -> &mut (dyn Io + 'static) {
        match &mut self.0 {
            Inner::Unix(u) => u,
            Inner::Other(b) => &mut **b,
        }
    }
}

impl fmt::Debug for LinkStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkStream")
    }
}

impl AsyncRead for LinkStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.io()).poll_read(cx, buf)
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.io()).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.io()).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.io()).poll_shutdown(cx)
    }
}

/// A bound link endpoint.
#[derive(Debug)]
pub enum LinkListener {
    Unix(UnixListener),
    Vsock(tokio_vsock::VsockListener),
}

impl LinkListener {
    /// Binds `addr`. A stale Unix socket file from an earlier run is replaced.
    pub async fn bind(addr: &LinkAddr) -> io::Result<Self> {
        match addr {
            LinkAddr::Unix(path) => {
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                Ok(Self::Unix(UnixListener::bind(path)?))
            }
            LinkAddr::Vsock { cid, port } => Ok(Self::Vsock(tokio_vsock::VsockListener::bind(
                tokio_vsock::VsockAddr::new(*cid, *port),
            )?)),
        }
    }

    pub async fn accept(&self) -> io::Result<LinkStream> {
        match self {
            Self::Unix(l) => Ok(LinkStream(Inner::Unix(l.accept().await?.0))),
            Self::Vsock(l) => Ok(LinkStream(Inner::Other(Box::new(l.accept().await?.0)))),
        }
    }
}

/// Opens a link connection to `addr`.
pub async fn connect(addr: &LinkAddr) -> io::Result<LinkStream> {
    match addr {
        LinkAddr::Unix(path) => Ok(LinkStream(Inner::Unix(UnixStream::connect(path).await?))),
        LinkAddr::Vsock { cid, port } => Ok(LinkStream(Inner::Other(Box::new(
            tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(*cid, *port)).await?,
        )))),
    }
}

/// Failures of framed link I/O. Safe to log: lengths and kinds only.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LinkError {
    #[error("link i/o: {0}")]
    Io(#[from] io::Error),
    #[error("link frame: {0}")]
    Decode(#[from] DecodeError),
    #[error("peer closed the link connection")]
    Closed,
    #[error("expected a {expected:?} frame, got {got:?}")]
    UnexpectedFrame { expected: FrameKind, got: FrameKind },
    #[error("peer refused the stream: {0:?}")]
    Refused(HelloStatus),
}

/// Reads one frame, refusing an over-long announcement before allocating (SPEC §2.2).
/// A clean end of stream before the first header byte is [`LinkError::Closed`].
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<(FrameKind, Vec<u8>), LinkError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    let n = r.read(&mut header[..1]).await?;
    if n == 0 {
        return Err(LinkError::Closed);
    }
    r.read_exact(&mut header[1..]).await?;
    let (kind, len) = frame::parse_header(header)?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok((kind, body))
}

/// Reads one frame and insists on its kind.
pub async fn read_frame_of<R: AsyncRead + Unpin>(
    r: &mut R,
    expected: FrameKind,
) -> Result<Vec<u8>, LinkError> {
    let (got, body) = read_frame(r).await?;
    if got != expected {
        return Err(LinkError::UnexpectedFrame { expected, got });
    }
    Ok(body)
}

/// Writes one frame and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: FrameKind,
    body: &[u8],
) -> Result<(), LinkError> {
    let f = frame::try_encode(kind, body)?;
    w.write_all(&f).await?;
    w.flush().await?;
    Ok(())
}

/// Connector side of SPEC §2.3: send Hello, wait for HelloAck. Returns the version.
pub async fn hello<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    stream: Stream,
) -> Result<u16, LinkError> {
    write_frame(io, FrameKind::Hello, &Hello::new(stream).encode()).await?;
    let ack = HelloAck::decode(&read_frame_of(io, FrameKind::HelloAck).await?)?;
    match ack.status {
        HelloStatus::Ok => Ok(ack.version),
        status => Err(LinkError::Refused(status)),
    }
}

/// Acceptor side of SPEC §2.3: read the Hello, negotiate the version, ask `admit` whether
/// this stream is served here, answer. Returns the Hello and version when admitted.
pub async fn accept_hello<S, F>(io: &mut S, admit: F) -> Result<(Hello, u16), LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Stream) -> HelloStatus,
{
    let hello = Hello::decode(&read_frame_of(io, FrameKind::Hello).await?)?;
    let (status, version) = match hello.negotiate() {
        None => (HelloStatus::VersionUnsupported, 0),
        Some(v) => (admit(&hello.stream), v),
    };
    let version = if status == HelloStatus::Ok {
        version
    } else {
        0
    };
    write_frame(
        io,
        FrameKind::HelloAck,
        &HelloAck { version, status }.encode(),
    )
    .await?;
    if status != HelloStatus::Ok {
        return Err(LinkError::Refused(status));
    }
    Ok((hello, version))
}

/// Tells the connector why it is refused, without reading its Hello's stream choice.
pub async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    status: HelloStatus,
) -> Result<(), LinkError> {
    write_frame(
        io,
        FrameKind::HelloAck,
        &HelloAck { version: 0, status }.encode(),
    )
    .await
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test constants are small
mod tests {
    use super::*;
    use crate::hello::EgressTarget;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            "unix:/tmp/x.sock".parse::<LinkAddr>(),
            Ok(LinkAddr::Unix("/tmp/x.sock".into()))
        );
        assert_eq!(
            "vsock:3:6000".parse::<LinkAddr>(),
            Ok(LinkAddr::Vsock { cid: 3, port: 6000 })
        );
        assert_eq!(
            "vsock:any:5000".parse::<LinkAddr>(),
            Ok(LinkAddr::Vsock {
                cid: VMADDR_CID_ANY,
                port: 5000
            })
        );
        assert_eq!(
            LinkAddr::Vsock {
                cid: VMADDR_CID_ANY,
                port: 5000
            }
            .to_string(),
            "vsock:any:5000"
        );
        assert!(matches!(
            "tcp:1.2.3.4:5".parse::<LinkAddr>(),
            Err(DecodeError::Invalid {
                field: "link address",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn hello_over_a_real_unix_socket() {
        let dir = tempfile::tempdir().unwrap();
        let addr = LinkAddr::Unix(dir.path().join("l.sock"));
        let listener = LinkListener::bind(&addr).await.unwrap();
        let server = tokio::spawn(async move {
            let mut s = listener.accept().await.unwrap();
            let r1 = accept_hello(&mut s, |_| HelloStatus::Ok).await;
            let mut s = listener.accept().await.unwrap();
            let r2 = accept_hello(&mut s, |st| match st {
                Stream::Egress(t) if t.host() == "allowed.example" => HelloStatus::Ok,
                _ => HelloStatus::Denied,
            })
            .await;
            (r1.map(|h| h.0.stream), r2.map(|h| h.0.stream))
        });
        let mut c = connect(&addr).await.unwrap();
        assert_eq!(hello(&mut c, Stream::Blob).await.unwrap(), 1);
        let mut c = connect(&addr).await.unwrap();
        let t = EgressTarget::parse("evil.example:443").unwrap();
        assert!(matches!(
            hello(&mut c, Stream::Egress(t)).await,
            Err(LinkError::Refused(HelloStatus::Denied))
        ));
        let (r1, r2) = server.await.unwrap();
        assert_eq!(r1.unwrap(), Stream::Blob);
        assert!(matches!(r2, Err(LinkError::Refused(HelloStatus::Denied))));
    }

    #[tokio::test]
    async fn oversize_announcement_is_refused_before_allocation() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let mut header = ((frame::MAX_FRAME_BODY + 1) as u32).to_be_bytes().to_vec();
        header.push(FrameKind::BlobRequest as u8);
        a.write_all(&header).await.unwrap();
        assert!(matches!(
            read_frame(&mut b).await,
            Err(LinkError::Decode(DecodeError::TooLong {
                field: "frame body",
                ..
            }))
        ));
        drop(a);
        assert!(matches!(read_frame(&mut b).await, Err(LinkError::Closed)));
    }
}
