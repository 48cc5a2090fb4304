//! Transport: a [`Connector`] yields a raw byte stream to the service; this crate runs TLS
//! over it (rustls, aws-lc-rs, one pinned root) and HTTP/1.1 (hyper) with a small pool of
//! keep-alive connections so that up to N requests run in parallel.
//!
//! The enclave supplies its own connector (a stream through the host's egress relay); the
//! phones use [`TcpConnector`]. Either way the host only ever sees TLS.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// A byte stream to the service (before TLS).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Opens raw byte streams to the service.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// A new stream to the service's TLS port.
    async fn connect(&self) -> io::Result<Box<dyn Stream>>;
}

/// Connects over TCP to `host:port` (phones, tests).
#[derive(Clone, Debug)]
pub struct TcpConnector {
    addr: String,
}

impl TcpConnector {
    /// A connector for `host:port`.
    pub fn new(addr: impl Into<String>) -> Self {
        TcpConnector { addr: addr.into() }
    }
}

#[async_trait]
impl Connector for TcpConnector {
    async fn connect(&self) -> io::Result<Box<dyn Stream>> {
        let s = tokio::net::TcpStream::connect(&self.addr).await?;
        s.set_nodelay(true)?;
        Ok(Box::new(s))
    }
}

/// Bound on a response body read from the service.
pub const MAX_RESPONSE_LEN: usize = 4 * 1024 * 1024;
/// Default number of pooled connections (parallel requests).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
/// Bound on any single connect + TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on any single request/response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The pinned TLS trust: exactly one root, and the name the service presents.
#[derive(Clone)]
pub struct TlsTrust {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTrust")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsTrust {
    /// Trusts only `root` (DER, or PEM if it starts with `-----BEGIN`) for `server_name`.
    pub fn pinned(root: &[u8], server_name: &str) -> Result<Self> {
        let der = if root.starts_with(b"-----BEGIN") {
            CertificateDer::from_pem_slice(root).map_err(|_| Error::TlsConfig {
                reason: "root is not a PEM certificate",
            })?
        } else {
            CertificateDer::from(root.to_vec())
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).map_err(|_| Error::TlsConfig {
            reason: "root certificate not accepted",
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|_| Error::TlsConfig {
                reason: "protocol versions",
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name =
            ServerName::try_from(server_name.to_owned()).map_err(|_| Error::TlsConfig {
                reason: "invalid server name",
            })?;
        Ok(TlsTrust {
            config: Arc::new(config),
            server_name,
        })
    }

    /// The server name (also the HTTP `Host`).
    pub fn server_name(&self) -> String {
        match &self.server_name {
            ServerName::DnsName(d) => d.as_ref().to_owned(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            _ => String::new(),
        }
    }

    /// Runs a TLS handshake over a fresh stream from `connector`.
    pub async fn connect(
        &self,
        connector: &dyn Connector,
    ) -> Result<tokio_rustls::client::TlsStream<Box<dyn Stream>>> {
        let fut = async {
            let raw = connector
                .connect()
                .await
                .map_err(|e| Error::io("connect", &e))?;
            tokio_rustls::TlsConnector::from(self.config.clone())
                .connect(self.server_name.clone(), raw)
                .await
                .map_err(|e| Error::io("tls handshake", &e))
        };
        tokio::time::timeout(CONNECT_TIMEOUT, fut)
            .await
            .map_err(|_| Error::Timeout {
                operation: "connect",
            })?
    }
}

/// A response from the service.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// `Retry-After`, in seconds, when present and numeric.
    pub retry_after: Option<u64>,
    /// The body (bounded by [`MAX_RESPONSE_LEN`]).
    pub body: Bytes,
}

/// HTTP/1.1 over pooled TLS connections.
pub struct HttpClient {
    connector: Arc<dyn Connector>,
    tls: TlsTrust,
    host: String,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    permits: Semaphore,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client allowing at most `max_connections` concurrent requests/connections.
    pub fn new(connector: Arc<dyn Connector>, tls: TlsTrust, max_connections: usize) -> Self {
        let host = tls.server_name();
        HttpClient {
            connector,
            tls,
            host,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max_connections.max(1)),
        }
    }

    /// The connector (for the WebSocket).
    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.connector
    }

    /// The TLS trust (for the WebSocket).
    pub fn tls(&self) -> &TlsTrust {
        &self.tls
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(s) = idle.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn put_idle(&self, s: SendRequest<Full<Bytes>>) {
        if !s.is_closed() {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(s);
        }
    }

    async fn new_connection(&self) -> Result<SendRequest<Full<Bytes>>> {
        let tls = self.tls.connect(self.connector.as_ref()).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|_| Error::Http {
                operation: "handshake",
            })?;
        tokio::spawn(async move {
            // The connection ends when the server closes it or the sender is dropped.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one request. `headers` are added after `Host`; `basic` is an
    /// `Authorization` header value (never logged).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Http {
            operation: "pool closed",
        })?;
        tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.request_inner(method, path, headers, body),
        )
        .await
        .map_err(|_| Error::Timeout {
            operation: "request",
        })?
    }

    async fn request_inner(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response> {
        let has_body = body.is_some();
        let body = Bytes::from(body.unwrap_or_default());
        // A pooled connection may have been closed by the server after its last use;
        // retry once on a fresh connection in that case.
        let mut fresh = false;
        loop {
            let mut sender = match self.take_idle() {
                Some(s) => s,
                None => {
                    fresh = true;
                    self.new_connection().await?
                }
            };
            if sender.ready().await.is_err() {
                if fresh {
                    return Err(Error::Http { operation: "ready" });
                }
                continue;
            }
            let mut b = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(hyper::header::HOST, &self.host);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let typed = headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
            if has_body && !typed {
                b = b.header(hyper::header::CONTENT_TYPE, "application/json");
            }
            let req = b.body(Full::new(body.clone())).map_err(|_| Error::Http {
                operation: "build request",
            })?;
            let resp = match sender.send_request(req).await {
                Ok(r) => r,
                Err(_) if !fresh => continue,
                Err(_) => return Err(Error::Http { operation: "send" }),
            };
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_LEN)
                .collect()
                .await
                .map_err(|_| Error::Http {
                    operation: "read body",
                })?
                .to_bytes();
            self.put_idle(sender);
            return Ok(Response {
                status,
                retry_after,
                body,
            });
        }
    }
}

impl Error {
    /// An I/O error, keeping only its kind.
    pub(crate) fn io(operation: &'static str, e: &io::Error) -> Self {
        Error::Io {
            operation,
            kind: e.kind(),
        }
    }
}
