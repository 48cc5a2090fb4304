//! Blob-store RPC (SPEC §2.6): the enclave asks, the host answers, one request at a time
//! per blob stream. Everything stored is ciphertext the host cannot read; names are opaque.

use crate::codec::{DecodeError, Reader, Writer};

/// Blob and queue names: opaque bytes, 1..=128 (random channel id + record kind).
pub const MAX_NAME_LEN: usize = 128;
/// Largest blob (a sealed channel state).
pub const MAX_BLOB_LEN: usize = 16 * 1024 * 1024;
/// Largest queue item (one sealed inbound envelope).
pub const MAX_QUEUE_ITEM_LEN: usize = 256 * 1024;
/// Most items one `QueueRange` may return.
pub const MAX_RANGE_ITEMS: u32 = 1024;
/// Most payload bytes one `QueueRange` answer may carry (keeps it far below a frame).
pub const MAX_RANGE_BYTES: u32 = 8 * 1024 * 1024;
/// Most names one `List` may return.
pub const MAX_LIST_ITEMS: u32 = 1024;

fn name<'a>(r: &mut Reader<'a>, field: &'static str) -> Result<&'a [u8], DecodeError> {
    r.bytes(field, 1, MAX_NAME_LEN)
}

/// A request from the enclave (SPEC §2.6, table 4). Versions: 0 means "absent".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobRequest {
    Get {
        name: Vec<u8>,
    },
    /// Compare-and-swap: succeeds only if the current version equals `expected`
    /// (0: the blob must not exist).
    Put {
        name: Vec<u8>,
        expected: u64,
        data: Vec<u8>,
    },
    Delete {
        name: Vec<u8>,
        expected: u64,
    },
    List {
        prefix: Vec<u8>,
        limit: u32,
    },
    QueueAppend {
        queue: Vec<u8>,
        item: Vec<u8>,
    },
    QueueRange {
        queue: Vec<u8>,
        from: u64,
        max_items: u32,
        max_bytes: u32,
    },
    /// Removes every item with sequence number below `before`.
    QueueTrim {
        queue: Vec<u8>,
        before: u64,
    },
    QueueStats {
        queue: Vec<u8>,
    },
}

impl BlobRequest {
    /// Operation name for metrics (never the blob name).
    pub fn op(&self) -> &'static str {
        match self {
            Self::Get { .. } => "get",
            Self::Put { .. } => "put",
            Self::Delete { .. } => "delete",
            Self::List { .. } => "list",
            Self::QueueAppend { .. } => "queue_append",
            Self::QueueRange { .. } => "queue_range",
            Self::QueueTrim { .. } => "queue_trim",
            Self::QueueStats { .. } => "queue_stats",
        }
    }

    /// Checks every bound the decoder checks, so that a request the enclave builds can
    /// always be encoded and decoded.
    pub fn validate(&self) -> Result<(), DecodeError> {
        Self::decode(&self.encode_unchecked()).map(|_| ())
    }

    /// Encodes after [`Self::validate`].
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let b = self.encode_unchecked();
        Self::decode(&b)?;
        Ok(b)
    }

    fn encode_unchecked(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Self::Get { name } => w.u8(1).bytes(name),
            Self::Put {
                name,
                expected,
                data,
            } => w.u8(2).bytes(name).u64(*expected).bytes(data),
            Self::Delete { name, expected } => w.u8(3).bytes(name).u64(*expected),
            Self::List { prefix, limit } => w.u8(4).bytes(prefix).u32(*limit),
            Self::QueueAppend { queue, item } => w.u8(5).bytes(queue).bytes(item),
            Self::QueueRange {
                queue,
                from,
                max_items,
                max_bytes,
            } => w
                .u8(6)
                .bytes(queue)
                .u64(*from)
                .u32(*max_items)
                .u32(*max_bytes),
            Self::QueueTrim { queue, before } => w.u8(7).bytes(queue).u64(*before),
            Self::QueueStats { queue } => w.u8(8).bytes(queue),
        };
        w.buf
    }

    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let req = match r.u8("blob op")? {
            1 => Self::Get {
                name: name(&mut r, "name")?.to_vec(),
            },
            2 => Self::Put {
                name: name(&mut r, "name")?.to_vec(),
                expected: r.u64("expected")?,
                data: r.bytes("blob", 0, MAX_BLOB_LEN)?.to_vec(),
            },
            3 => Self::Delete {
                name: name(&mut r, "name")?.to_vec(),
                expected: r.u64("expected")?,
            },
            4 => {
                let prefix = r.bytes("prefix", 0, MAX_NAME_LEN)?.to_vec();
                let limit = r.u32("limit")?;
                if limit == 0 || limit > MAX_LIST_ITEMS {
                    return Err(DecodeError::Invalid {
                        field: "limit",
                        reason: "must be 1..=MAX_LIST_ITEMS",
                    });
                }
                Self::List { prefix, limit }
            }
            5 => Self::QueueAppend {
                queue: name(&mut r, "queue")?.to_vec(),
                item: r.bytes("item", 0, MAX_QUEUE_ITEM_LEN)?.to_vec(),
            },
            6 => {
                let queue = name(&mut r, "queue")?.to_vec();
                let from = r.u64("from")?;
                let max_items = r.u32("max_items")?;
                let max_bytes = r.u32("max_bytes")?;
                if max_items == 0 || max_items > MAX_RANGE_ITEMS {
                    return Err(DecodeError::Invalid {
                        field: "max_items",
                        reason: "must be 1..=MAX_RANGE_ITEMS",
                    });
                }
                if max_bytes == 0 || max_bytes > MAX_RANGE_BYTES {
                    return Err(DecodeError::Invalid {
                        field: "max_bytes",
                        reason: "must be 1..=MAX_RANGE_BYTES",
                    });
                }
                Self::QueueRange {
                    queue,
                    from,
                    max_items,
                    max_bytes,
                }
            }
            7 => Self::QueueTrim {
                queue: name(&mut r, "queue")?.to_vec(),
                before: r.u64("before")?,
            },
            8 => Self::QueueStats {
                queue: name(&mut r, "queue")?.to_vec(),
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "blob op",
                    tag,
                })
            }
        };
        r.finish()?;
        Ok(req)
    }
}

/// Why the host could not do what was asked (SPEC §2.6, table 5). Deliberately coarse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BlobErrorCode {
    /// The request broke a limit the host enforces.
    Invalid = 1,
    /// The store failed (disk, database); the operation did not happen.
    StoreFailed = 2,
    /// The host is shutting down.
    Unavailable = 3,
}

/// The host's answer, one per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobResponse {
    Blob {
        version: u64,
        data: Vec<u8>,
    },
    NotFound,
    /// The write is durable: the host has synced it to stable storage before answering.
    Written {
        version: u64,
    },
    /// The compare-and-swap lost; `current` is the version now stored (0: absent).
    Conflict {
        current: u64,
    },
    Deleted,
    Names {
        names: Vec<(Vec<u8>, u64)>,
    },
    /// The append is durable.
    Appended {
        seq: u64,
    },
    Items {
        items: Vec<(u64, Vec<u8>)>,
    },
    Trimmed {
        removed: u64,
    },
    Stats {
        len: u64,
        next_seq: u64,
    },
    Error {
        code: BlobErrorCode,
    },
}

impl BlobResponse {
    /// The answer's kind, for logs and error messages (never its content).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Blob { .. } => "Blob",
            Self::NotFound => "NotFound",
            Self::Written { .. } => "Written",
            Self::Conflict { .. } => "Conflict",
            Self::Deleted => "Deleted",
            Self::Names { .. } => "Names",
            Self::Appended { .. } => "Appended",
            Self::Items { .. } => "Items",
            Self::Trimmed { .. } => "Trimmed",
            Self::Stats { .. } => "Stats",
            Self::Error { .. } => "Error",
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Self::Blob { version, data } => {
                w.u8(1).u64(*version).bytes(data);
            }
            Self::NotFound => {
                w.u8(2);
            }
            Self::Written { version } => {
                w.u8(3).u64(*version);
            }
            Self::Conflict { current } => {
                w.u8(4).u64(*current);
            }
            Self::Deleted => {
                w.u8(5);
            }
            Self::Names { names } => {
                w.u8(6).count(names.len());
                for (n, v) in names {
                    w.bytes(n).u64(*v);
                }
            }
            Self::Appended { seq } => {
                w.u8(7).u64(*seq);
            }
            Self::Items { items } => {
                w.u8(8).count(items.len());
                for (s, d) in items {
                    w.u64(*s).bytes(d);
                }
            }
            Self::Trimmed { removed } => {
                w.u8(9).u64(*removed);
            }
            Self::Stats { len, next_seq } => {
                w.u8(10).u64(*len).u64(*next_seq);
            }
            Self::Error { code } => {
                w.u8(11).u8(*code as u8);
            }
        }
        w.buf
    }

    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let resp = match r.u8("blob response")? {
            1 => Self::Blob {
                version: r.u64("version")?,
                data: r.bytes("blob", 0, MAX_BLOB_LEN)?.to_vec(),
            },
            2 => Self::NotFound,
            3 => Self::Written {
                version: r.u64("version")?,
            },
            4 => Self::Conflict {
                current: r.u64("current")?,
            },
            5 => Self::Deleted,
            6 => {
                let n = r.count("names", MAX_LIST_ITEMS as usize)?;
                let mut names = Vec::with_capacity(n);
                for _ in 0..n {
                    names.push((name(&mut r, "name")?.to_vec(), r.u64("version")?));
                }
                Self::Names { names }
            }
            7 => Self::Appended { seq: r.u64("seq")? },
            8 => {
                let n = r.count("items", MAX_RANGE_ITEMS as usize)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push((
                        r.u64("seq")?,
                        r.bytes("item", 0, MAX_QUEUE_ITEM_LEN)?.to_vec(),
                    ));
                }
                Self::Items { items }
            }
            9 => Self::Trimmed {
                removed: r.u64("removed")?,
            },
            10 => Self::Stats {
                len: r.u64("len")?,
                next_seq: r.u64("next_seq")?,
            },
            11 => Self::Error {
                code: match r.u8("error code")? {
                    1 => BlobErrorCode::Invalid,
                    2 => BlobErrorCode::StoreFailed,
                    3 => BlobErrorCode::Unavailable,
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            field: "error code",
                            tag,
                        })
                    }
                },
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "blob response",
                    tag,
                })
            }
        };
        r.finish()?;
        Ok(resp)
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test constants are small
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn arb_name() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 1..=MAX_NAME_LEN)
    }

    fn arb_request() -> impl Strategy<Value = BlobRequest> {
        prop_oneof![
            arb_name().prop_map(|name| BlobRequest::Get { name }),
            (
                arb_name(),
                any::<u64>(),
                prop::collection::vec(any::<u8>(), 0..512)
            )
                .prop_map(|(name, expected, data)| BlobRequest::Put {
                    name,
                    expected,
                    data
                }),
            (arb_name(), any::<u64>())
                .prop_map(|(name, expected)| BlobRequest::Delete { name, expected }),
            (
                prop::collection::vec(any::<u8>(), 0..=MAX_NAME_LEN),
                1..=MAX_LIST_ITEMS
            )
                .prop_map(|(prefix, limit)| BlobRequest::List { prefix, limit }),
            (arb_name(), prop::collection::vec(any::<u8>(), 0..512))
                .prop_map(|(queue, item)| BlobRequest::QueueAppend { queue, item }),
            (
                arb_name(),
                any::<u64>(),
                1..=MAX_RANGE_ITEMS,
                1..=MAX_RANGE_BYTES
            )
                .prop_map(|(queue, from, max_items, max_bytes)| {
                    BlobRequest::QueueRange {
                        queue,
                        from,
                        max_items,
                        max_bytes,
                    }
                }),
            (arb_name(), any::<u64>())
                .prop_map(|(queue, before)| BlobRequest::QueueTrim { queue, before }),
            arb_name().prop_map(|queue| BlobRequest::QueueStats { queue }),
        ]
    }

    fn arb_response() -> impl Strategy<Value = BlobResponse> {
        prop_oneof![
            (any::<u64>(), prop::collection::vec(any::<u8>(), 0..512))
                .prop_map(|(version, data)| BlobResponse::Blob { version, data }),
            Just(BlobResponse::NotFound),
            any::<u64>().prop_map(|version| BlobResponse::Written { version }),
            any::<u64>().prop_map(|current| BlobResponse::Conflict { current }),
            Just(BlobResponse::Deleted),
            prop::collection::vec((arb_name(), any::<u64>()), 0..20)
                .prop_map(|names| BlobResponse::Names { names }),
            any::<u64>().prop_map(|seq| BlobResponse::Appended { seq }),
            prop::collection::vec(
                (any::<u64>(), prop::collection::vec(any::<u8>(), 0..64)),
                0..20
            )
            .prop_map(|items| BlobResponse::Items { items }),
            any::<u64>().prop_map(|removed| BlobResponse::Trimmed { removed }),
            (any::<u64>(), any::<u64>())
                .prop_map(|(len, next_seq)| BlobResponse::Stats { len, next_seq }),
            prop::sample::select(vec![
                BlobErrorCode::Invalid,
                BlobErrorCode::StoreFailed,
                BlobErrorCode::Unavailable
            ])
            .prop_map(|code| BlobResponse::Error { code }),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(req in arb_request()) {
            let b = req.encode().unwrap();
            prop_assert_eq!(BlobRequest::decode(&b), Ok(req));
        }

        #[test]
        fn responses_round_trip(resp in arb_response()) {
            prop_assert_eq!(BlobResponse::decode(&resp.encode()), Ok(resp));
        }

        #[test]
        fn decode_never_panics(buf in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = BlobRequest::decode(&buf);
            let _ = BlobResponse::decode(&buf);
        }
    }

    #[test]
    fn name_limits() {
        let ok = BlobRequest::Get {
            name: vec![7; MAX_NAME_LEN],
        };
        assert!(ok.encode().is_ok());
        let over = BlobRequest::Get {
            name: vec![7; MAX_NAME_LEN + 1],
        };
        assert_eq!(
            over.encode(),
            Err(DecodeError::TooLong {
                field: "name",
                len: MAX_NAME_LEN + 1,
                max: MAX_NAME_LEN
            })
        );
        let empty = BlobRequest::Get { name: vec![] };
        assert_eq!(
            empty.encode(),
            Err(DecodeError::TooShort {
                field: "name",
                len: 0,
                min: 1
            })
        );
    }

    #[test]
    fn announced_counts_are_bounded_before_allocation() {
        // An Items answer claiming 65535 items in 3 bytes is refused on the count.
        let body = [8u8, 0xff, 0xff];
        assert_eq!(
            BlobResponse::decode(&body),
            Err(DecodeError::TooLong {
                field: "items",
                len: 0xffff,
                max: MAX_RANGE_ITEMS as usize
            })
        );
        let bad_range = BlobRequest::QueueRange {
            queue: vec![1],
            from: 0,
            max_items: MAX_RANGE_ITEMS + 1,
            max_bytes: 1,
        };
        assert!(matches!(
            bad_range.encode(),
            Err(DecodeError::Invalid {
                field: "max_items",
                ..
            })
        ));
    }

    #[test]
    fn trailing_bytes_refused() {
        let mut b = BlobResponse::Deleted.encode();
        b.push(1);
        assert_eq!(
            BlobResponse::decode(&b),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }
}
