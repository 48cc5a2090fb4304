//! The enclave's side of the blob-store RPC (SPEC §2.6).
//!
//! The host is untrusted: what comes back is authenticated later by the vault (AEAD), not
//! here. What this client guarantees is that a request is never silently replayed: if a
//! link breaks after a request was sent, the outcome is unknown and the caller is told so
//! ([`BlobError::OutcomeUnknown`]) instead of the request being sent again behind its back.

use std::sync::Mutex;

use wire::blob::{BlobErrorCode, BlobRequest, BlobResponse};
use wire::frame::FrameKind;
use wire::hello::Stream;
use wire::link::{self, LinkAddr, LinkError, LinkStream};

/// Idle blob connections kept for reuse.
const POOL_MAX: usize = 8;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error("blob link unavailable: {0}")]
    Unavailable(LinkError),
    #[error("blob link lost after the request was sent; outcome unknown: {0}")]
    OutcomeUnknown(LinkError),
    #[error("request exceeds a wire limit: {0}")]
    Invalid(wire::DecodeError),
    #[error("host answered with error {0:?}")]
    Host(BlobErrorCode),
    #[error("host answered {got} to a {op} request")]
    UnexpectedAnswer { op: &'static str, got: &'static str },
}

/// A pool of blob streams to the host.
#[derive(Debug)]
pub struct BlobClient {
    addr: LinkAddr,
    idle: Mutex<Vec<LinkStream>>,
}

impl BlobClient {
    pub fn new(addr: LinkAddr) -> Self {
        Self {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn checkout(&self) -> Result<(LinkStream, bool), LinkError> {
        let pooled = self.idle.lock().map(|mut p| p.pop()).unwrap_or(None);
        if let Some(s) = pooled {
            return Ok((s, true));
        }
        let mut s = link::connect(&self.addr).await?;
        link::hello(&mut s, Stream::Blob).await?;
        Ok((s, false))
    }

    fn checkin(&self, s: LinkStream) {
        if let Ok(mut p) = self.idle.lock() {
            if p.len() < POOL_MAX {
                p.push(s);
            }
        }
    }

    /// Sends one request and returns the host's answer. Host-side errors
    /// (`BlobResponse::Error`) become [`BlobError::Host`].
    /// [`BlobClient::call`] with an owned request (for many calls in flight at once).
    pub async fn call_owned(&self, req: BlobRequest) -> Result<BlobResponse, BlobError> {
        self.call(&req).await
    }

    pub async fn call(&self, req: &BlobRequest) -> Result<BlobResponse, BlobError> {
        let body = req.encode().map_err(BlobError::Invalid)?;
        // A pooled connection may have been closed by the host meanwhile. Writing to it can
        // fail without the request having been processed (nothing was read), so retrying
        // once on a *fresh* connection is safe only when the failure came from the write
        // of a pooled stream and the read never started.
        for attempt in 0..2 {
            let (mut s, pooled) = self.checkout().await.map_err(BlobError::Unavailable)?;
            if let Err(e) = link::write_frame(&mut s, FrameKind::BlobRequest, &body).await {
                if pooled && attempt == 0 {
                    continue;
                }
                return Err(BlobError::OutcomeUnknown(e));
            }
            let resp = match link::read_frame_of(&mut s, FrameKind::BlobResponse).await {
                Ok(b) => BlobResponse::decode(&b)
                    .map_err(|e| BlobError::OutcomeUnknown(LinkError::Decode(e)))?,
                Err(LinkError::Closed) if pooled && attempt == 0 => {
                    // Closed before answering: the host dropped an idle stream (it reads a
                    // request fully before acting, and acts only on a full frame), so the
                    // request was never executed.
                    continue;
                }
                Err(e) => return Err(BlobError::OutcomeUnknown(e)),
            };
            self.checkin(s);
            return match resp {
                BlobResponse::Error { code } => Err(BlobError::Host(code)),
                r => Ok(r),
            };
        }
        Err(BlobError::Unavailable(LinkError::Closed))
    }
}
