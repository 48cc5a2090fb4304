//! Outbound connections through the host's egress relay (SPEC §2.4, stream 2).
//!
//! The host resolves the name and relays bytes; it may also redirect or read them. So the
//! stream returned here is only a byte pipe: whoever uses it MUST authenticate the far end
//! itself (the Signal client runs TLS with a pinned root over it).

use wire::hello::{EgressTarget, Stream};
use wire::link::{self, LinkAddr, LinkError, LinkStream};

/// Opens one egress stream to `target` through the host at `host`.
pub async fn open(host: &LinkAddr, target: &EgressTarget) -> Result<LinkStream, LinkError> {
    let mut s = link::connect(host).await?;
    link::hello(&mut s, Stream::Egress(target.clone())).await?;
    Ok(s)
}
