//! Serves blob-store requests arriving on a link blob stream (SPEC §2.6).
//!
//! Each answer is written only after the store call returned, and the store returns only
//! after the write is durable, so an acknowledged `Written`/`Appended` survives `kill -9`.

use std::sync::Arc;

use wire::blob::{BlobErrorCode, BlobRequest, BlobResponse, MAX_RANGE_BYTES};
use wire::frame::FrameKind;
use wire::link::{self, LinkError, LinkStream};

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::{BlobStore, StoreError};

/// Serves one blob stream until the enclave closes it, breaks the protocol, or the host
/// shuts down (between requests: a request being served is finished first).
pub async fn serve(
    mut link: LinkStream,
    store: Arc<dyn BlobStore>,
    metrics: Arc<Metrics>,
    mut shutdown: Shutdown,
) {
    loop {
        let body = tokio::select! {
            r = link::read_frame_of(&mut link, FrameKind::BlobRequest) => r,
            () = shutdown.wait() => return,
        };
        let req = match body
            .map_err(Some)
            .and_then(|b| BlobRequest::decode(&b).map_err(|e| Some(LinkError::Decode(e))))
        {
            Ok(req) => req,
            Err(Some(LinkError::Closed)) => return,
            Err(e) => {
                // After a protocol violation the stream's state is unknowable: answer once,
                // then drop the connection. The enclave reconnects.
                Metrics::inc(&metrics.link_protocol_errors);
                tracing::warn!(error = ?e.map(|e| e.to_string()), "blob stream protocol error");
                let resp = BlobResponse::Error {
                    code: BlobErrorCode::Invalid,
                };
                let _ = link::write_frame(&mut link, FrameKind::BlobResponse, &resp.encode()).await;
                return;
            }
        };
        let op = req.op();
        let store = store.clone();
        let resp = tokio::task::spawn_blocking(move || execute(&*store, req))
            .await
            .unwrap_or(BlobResponse::Error {
                code: BlobErrorCode::StoreFailed,
            });
        Metrics::inc(&metrics.blob_requests);
        if let BlobResponse::Error { code } = resp {
            Metrics::inc(&metrics.blob_errors);
            tracing::warn!(op, ?code, "blob request failed");
        }
        if let Err(e) = link::write_frame(&mut link, FrameKind::BlobResponse, &resp.encode()).await
        {
            tracing::debug!(error = %e, "blob stream closed while answering");
            return;
        }
    }
}

/// One request against the store. Versions on the wire use 0 for "absent" (SPEC §2.6).
pub fn execute(store: &dyn BlobStore, req: BlobRequest) -> BlobResponse {
    let r = match req {
        BlobRequest::Get { name } => store.get(&name).map(|b| match b {
            Some(b) => BlobResponse::Blob {
                version: b.version,
                data: b.data,
            },
            None => BlobResponse::NotFound,
        }),
        BlobRequest::Put {
            name,
            expected,
            data,
        } => store
            .put(&name, (expected != 0).then_some(expected), &data)
            .map(|version| BlobResponse::Written { version }),
        BlobRequest::Delete { name, expected } => store
            .delete(&name, expected)
            .map(|()| BlobResponse::Deleted),
        BlobRequest::List { prefix, limit } => store
            .list(&prefix, limit)
            .map(|names| BlobResponse::Names { names }),
        BlobRequest::QueueAppend { queue, item } => store
            .queue_append(&queue, &item)
            .map(|seq| BlobResponse::Appended { seq }),
        BlobRequest::QueueRange {
            queue,
            from,
            max_items,
            max_bytes,
        } => store
            .queue_range(&queue, from, max_items, max_bytes.min(MAX_RANGE_BYTES))
            .map(|items| BlobResponse::Items { items }),
        BlobRequest::QueueTrim { queue, before } => store
            .queue_trim(&queue, before)
            .map(|removed| BlobResponse::Trimmed { removed }),
        BlobRequest::QueueStats { queue } => {
            store.queue_stats(&queue).map(|s| BlobResponse::Stats {
                len: s.held,
                next_seq: s.next_seq,
            })
        }
    };
    r.unwrap_or_else(|e| match e {
        StoreError::Conflict { current } => BlobResponse::Conflict {
            current: current.unwrap_or(0),
        },
        StoreError::NameInvalid { .. }
        | StoreError::TooLarge { .. }
        | StoreError::LimitInvalid { .. } => BlobResponse::Error {
            code: BlobErrorCode::Invalid,
        },
        _ => BlobResponse::Error {
            code: BlobErrorCode::StoreFailed,
        },
    })
}
