//! Link framing (SPEC §2.2): `body_len: u32 BE | kind: u8 | body[body_len]`.

use crate::codec::DecodeError;

/// Bytes before the body: the 4-byte length and the kind.
pub const FRAME_HEADER_LEN: usize = 5;

/// Largest body any frame may carry (SPEC §2.2): one maximal blob plus its name and
/// headers. A peer that announces more is cut off before anything is allocated.
pub const MAX_FRAME_BODY: usize = crate::blob::MAX_BLOB_LEN + 4096;

/// What a frame carries (SPEC §2.2, table 1). Which kinds may appear on which stream, and in
/// which direction, is §2.3–2.7; [`crate::link::FramedLink`] enforces it per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    Hello = 0x01,
    HelloAck = 0x02,
    BlobRequest = 0x10,
    BlobResponse = 0x11,
    ControlRequest = 0x20,
    ControlResponse = 0x21,
}

impl FrameKind {
    pub fn from_u8(tag: u8) -> Result<Self, DecodeError> {
        Ok(match tag {
            0x01 => Self::Hello,
            0x02 => Self::HelloAck,
            0x10 => Self::BlobRequest,
            0x11 => Self::BlobResponse,
            0x20 => Self::ControlRequest,
            0x21 => Self::ControlResponse,
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "frame kind",
                    tag,
                })
            }
        })
    }
}

/// Parses a frame header, checking the announced length against [`MAX_FRAME_BODY`]
/// *before* the caller reads or allocates the body.
pub fn parse_header(header: [u8; FRAME_HEADER_LEN]) -> Result<(FrameKind, usize), DecodeError> {
    let [a, b, c, d, kind] = header;
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if len > MAX_FRAME_BODY {
        return Err(DecodeError::TooLong {
            field: "frame body",
            len,
            max: MAX_FRAME_BODY,
        });
    }
    Ok((FrameKind::from_u8(kind)?, len))
}

/// Encodes one frame. Panics only if `body` exceeds [`MAX_FRAME_BODY`], which every message
/// constructor in this crate rules out; callers with raw bodies use [`try_encode`].
pub fn encode(kind: FrameKind, body: &[u8]) -> Vec<u8> {
    try_encode(kind, body).expect("message constructors bound bodies below MAX_FRAME_BODY")
}

/// Encodes one frame, refusing bodies over [`MAX_FRAME_BODY`].
pub fn try_encode(kind: FrameKind, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    if body.len() > MAX_FRAME_BODY {
        return Err(DecodeError::TooLong {
            field: "frame body",
            len: body.len(),
            max: MAX_FRAME_BODY,
        });
    }
    let len = u32::try_from(body.len()).expect("MAX_FRAME_BODY < u32::MAX");
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.push(kind as u8);
    out.extend_from_slice(body);
    Ok(out)
}

/// Decodes exactly one frame from `buf`; bytes after it are an error (SPEC §2.5).
pub fn decode(buf: &[u8]) -> Result<(FrameKind, &[u8]), DecodeError> {
    let Some((header, rest)) = buf.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return Err(DecodeError::Truncated {
            field: "frame header",
            needed: FRAME_HEADER_LEN - buf.len(),
        });
    };
    let (kind, len) = parse_header(*header)?;
    if rest.len() < len {
        return Err(DecodeError::Truncated {
            field: "frame body",
            needed: len - rest.len(),
        });
    }
    if rest.len() > len {
        return Err(DecodeError::TrailingBytes {
            count: rest.len() - len,
        });
    }
    Ok((kind, rest))
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test constants are small
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn max_body_is_accepted_and_one_more_is_refused() {
        let mut header = [0u8; FRAME_HEADER_LEN];
        header[..4].copy_from_slice(&(MAX_FRAME_BODY as u32).to_be_bytes());
        header[4] = FrameKind::BlobRequest as u8;
        assert_eq!(
            parse_header(header),
            Ok((FrameKind::BlobRequest, MAX_FRAME_BODY))
        );
        header[..4].copy_from_slice(&(MAX_FRAME_BODY as u32 + 1).to_be_bytes());
        assert_eq!(
            parse_header(header),
            Err(DecodeError::TooLong {
                field: "frame body",
                len: MAX_FRAME_BODY + 1,
                max: MAX_FRAME_BODY
            })
        );
        let body = vec![0u8; MAX_FRAME_BODY + 1];
        assert!(matches!(
            try_encode(FrameKind::BlobRequest, &body),
            Err(DecodeError::TooLong { len, .. }) if len == MAX_FRAME_BODY + 1
        ));
    }

    #[test]
    fn trailing_and_truncated_frames_are_refused() {
        let mut f = encode(FrameKind::ControlRequest, b"abc");
        f.push(0);
        assert_eq!(decode(&f), Err(DecodeError::TrailingBytes { count: 1 }));
        f.truncate(f.len() - 2);
        assert_eq!(
            decode(&f),
            Err(DecodeError::Truncated {
                field: "frame body",
                needed: 1
            })
        );
        assert_eq!(
            decode(&[0, 0]),
            Err(DecodeError::Truncated {
                field: "frame header",
                needed: 3
            })
        );
        assert_eq!(
            decode(&[0, 0, 0, 0, 0x7f]),
            Err(DecodeError::UnknownTag {
                field: "frame kind",
                tag: 0x7f
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip(kind in prop::sample::select(vec![
            FrameKind::Hello, FrameKind::HelloAck, FrameKind::BlobRequest,
            FrameKind::BlobResponse, FrameKind::ControlRequest, FrameKind::ControlResponse,
        ]), body in prop::collection::vec(any::<u8>(), 0..2048)) {
            let f = encode(kind, &body);
            prop_assert_eq!(decode(&f), Ok((kind, &body[..])));
        }

        #[test]
        fn decode_never_panics(buf in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&buf);
        }
    }
}
