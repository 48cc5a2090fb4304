//! The channel's Signal slot (COURIER.md §2): the inbound-queue cursor that makes
//! processing exactly-once. (The signal-client account record, protocol store included,
//! lives in the vault's protocol-store slot.)
//!
//! Layout (big-endian): `version u8 = 1 ‖ inbound_next u64`, 9 bytes. An empty slot means
//! "no Signal account yet".

pub const SLOT_VERSION: u8 = 1;
pub const SLOT_LEN: usize = 1 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlotError {
    #[error("signal slot: unsupported version {0}")]
    Version(u8),
    #[error("signal slot: {0} bytes, expected 9")]
    Length(usize),
}

/// The decoded slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalSlot {
    /// Sequence number of the next inbound queue item to process.
    pub inbound_next: u64,
}

impl SignalSlot {
    /// `None` for an empty slot (channel without a Signal account).
    pub fn decode(bytes: &[u8]) -> Result<Option<SignalSlot>, SlotError> {
        match bytes {
            [] => Ok(None),
            [v, ..] if *v != SLOT_VERSION => Err(SlotError::Version(*v)),
            [_, rest @ ..] => {
                let n: [u8; 8] = rest
                    .try_into()
                    .map_err(|_| SlotError::Length(bytes.len()))?;
                Ok(Some(SignalSlot {
                    inbound_next: u64::from_be_bytes(n),
                }))
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SLOT_LEN);
        out.push(SLOT_VERSION);
        out.extend_from_slice(&self.inbound_next.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let b = SignalSlot { inbound_next: 42 }.encode();
        assert_eq!(b.len(), SLOT_LEN);
        assert_eq!(
            SignalSlot::decode(&b),
            Ok(Some(SignalSlot { inbound_next: 42 }))
        );
        assert_eq!(SignalSlot::decode(&[]), Ok(None));
        assert_eq!(SignalSlot::decode(&b[..8]), Err(SlotError::Length(8)));
        let mut t = b.clone();
        t.push(0);
        assert_eq!(SignalSlot::decode(&t), Err(SlotError::Length(10)));
        let mut v = b;
        v[0] = 2;
        assert_eq!(SignalSlot::decode(&v), Err(SlotError::Version(2)));
    }
}
