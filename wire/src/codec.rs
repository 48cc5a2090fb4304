//! Bounded big-endian primitives shared by every message (SPEC §2.5).

use thiserror::Error;

/// Why bytes did not decode. Carries lengths and field names only, never content, so it is
/// safe to log on either side of the link.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("truncated: {field} needs {needed} more bytes")]
    Truncated { field: &'static str, needed: usize },
    #[error("{field} is {len} bytes, over the limit of {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} is {len} bytes, under the minimum of {min}")]
    TooShort {
        field: &'static str,
        len: usize,
        min: usize,
    },
    #[error("{count} trailing bytes after the message")]
    TrailingBytes { count: usize },
    #[error("unknown {field} tag {tag:#04x}")]
    UnknownTag { field: &'static str, tag: u8 },
    #[error("bad magic: not a sealboost link connection")]
    BadMagic,
    #[error("{field} is not valid: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}

/// A cursor over untrusted bytes. Every read is checked; nothing here can panic.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                field,
                needed: n - self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A `u32` length prefix followed by that many bytes, the length checked against
    /// `[min, max]` before anything is sliced.
    pub(crate) fn bytes(
        &mut self,
        field: &'static str,
        min: usize,
        max: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(field)? as usize;
        if len > max {
            return Err(DecodeError::TooLong { field, len, max });
        }
        if len < min {
            return Err(DecodeError::TooShort { field, len, min });
        }
        self.take(len, field)
    }

    /// A `u16` count of repeated items, checked against `max` before the caller allocates.
    pub(crate) fn count(&mut self, field: &'static str, max: usize) -> Result<usize, DecodeError> {
        let n = self.u16(field)? as usize;
        if n > max {
            return Err(DecodeError::TooLong { field, len: n, max });
        }
        Ok(n)
    }

    /// SPEC §2.5: decoders MUST reject trailing bytes.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                count: self.buf.len(),
            })
        }
    }
}

/// The writing half. Callers have already validated lengths (constructors enforce them),
/// so encoding cannot fail.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// Length-prefixed bytes. The caller guarantees `v.len() <= u32::MAX` via the field's
    /// named limit, all of which are far below it.
    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = u32::try_from(v.len()).expect("field limits are far below u32::MAX");
        self.u32(len).raw(v)
    }
    pub(crate) fn count(&mut self, n: usize) -> &mut Self {
        let n = u16::try_from(n).expect("item counts are bounded below u16::MAX");
        self.u16(n)
    }
}
