//! Bounded big-endian reader/writer for the store and account encodings (SPEC.md §1).

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Appends fields to a zeroizing buffer.
pub(crate) struct Writer {
    buf: Zeroizing<Vec<u8>>,
}

impl Writer {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Zeroizing::new(Vec::with_capacity(n)),
        }
    }
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.raw(&v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.raw(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.raw(&v.to_be_bytes());
    }
    /// A `u8`-length-prefixed field. The caller guarantees `b.len() <= max <= 255`;
    /// anything longer is an encoder bug, reported rather than truncated.
    pub(crate) fn bytes8(&mut self, what: &'static str, b: &[u8], max: usize) -> Result<()> {
        let len = u8::try_from(b.len())
            .ok()
            .filter(|l| usize::from(*l) <= max)
            .ok_or(too_large(what, b.len(), max))?;
        self.u8(len);
        self.raw(b);
        Ok(())
    }
    pub(crate) fn bytes16(&mut self, what: &'static str, b: &[u8], max: usize) -> Result<()> {
        let len = u16::try_from(b.len())
            .ok()
            .filter(|l| usize::from(*l) <= max)
            .ok_or(too_large(what, b.len(), max))?;
        self.u16(len);
        self.raw(b);
        Ok(())
    }
    pub(crate) fn bytes32(&mut self, what: &'static str, b: &[u8], max: usize) -> Result<()> {
        if b.len() > max {
            return Err(too_large(what, b.len(), max));
        }
        self.u32(u32::try_from(b.len()).map_err(|_| too_large(what, b.len(), max))?);
        self.raw(b);
        Ok(())
    }
    pub(crate) fn count(&mut self, what: &'static str, n: usize, max: usize) -> Result<()> {
        if n > max {
            return Err(too_large(what, n, max));
        }
        self.u32(u32::try_from(n).map_err(|_| too_large(what, n, max))?);
        Ok(())
    }
    pub(crate) fn finish(self) -> Zeroizing<Vec<u8>> {
        self.buf
    }
}

fn too_large(what: &'static str, len: usize, max: usize) -> Error {
    Error::TooLarge {
        what,
        len: len as u64,
        max: max as u64,
    }
}

/// Reads fields from a borrowed slice; never panics, never allocates more than the
/// input could describe.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Reader { rest: b }
    }
    pub(crate) fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(Error::Truncated { what });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.take(what, N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    fn bounded(&mut self, what: &'static str, len: usize, max: usize) -> Result<&'a [u8]> {
        if len > max {
            return Err(too_large(what, len, max));
        }
        self.take(what, len)
    }
    pub(crate) fn bytes8(&mut self, what: &'static str, max: usize) -> Result<&'a [u8]> {
        let len = usize::from(self.u8(what)?);
        self.bounded(what, len, max)
    }
    pub(crate) fn bytes16(&mut self, what: &'static str, max: usize) -> Result<&'a [u8]> {
        let len = usize::from(self.u16(what)?);
        self.bounded(what, len, max)
    }
    pub(crate) fn bytes32(&mut self, what: &'static str, max: usize) -> Result<&'a [u8]> {
        let len = usize::try_from(self.u32(what)?).map_err(|_| Error::Corrupt { what })?;
        self.bounded(what, len, max)
    }
    /// A `u32` item count, bounded by `max` and by what the remaining input could hold
    /// given each item's minimum encoded size (so a forged count never drives allocation).
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        max: usize,
        min_item: usize,
    ) -> Result<usize> {
        let n = usize::try_from(self.u32(what)?).map_err(|_| Error::Corrupt { what })?;
        if n > max {
            return Err(too_large(what, n, max));
        }
        if n.saturating_mul(min_item) > self.rest.len() {
            return Err(Error::Truncated { what });
        }
        Ok(n)
    }
    pub(crate) fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                count: self.rest.len(),
            })
        }
    }
}
