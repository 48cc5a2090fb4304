//! The channel's Signal slot (COURIER.md §2): the inbound-queue cursor that makes
//! processing exactly-once, and the table of the staged outbox of write-ahead sending
//! (COURIER.md §2.2). (The signal-client account record, protocol store included, lives in
//! the vault's protocol-store slot.)
//!
//! Layout (big-endian): `version u8 = 1 ‖ inbound_next u64` (9 bytes: nothing staged), or
//! `version u8 = 2 ‖ inbound_next u64 ‖ outbox chunk table` (the table as in
//! [`super::chunks`]). An empty slot means "no Signal account yet".

use super::chunks::ChunkTable;

pub const SLOT_VERSION: u8 = 1;
/// The version that carries an outbox table.
pub const SLOT_VERSION_OUTBOX: u8 = 2;
pub const SLOT_LEN: usize = 1 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlotError {
    #[error("signal slot: unsupported version {0}")]
    Version(u8),
    #[error("signal slot: {0} bytes, expected 9")]
    Length(usize),
    #[error("signal slot: malformed outbox table")]
    Outbox,
}

/// The decoded slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalSlot {
    /// Sequence number of the next inbound queue item to process.
    pub inbound_next: u64,
    /// The staged outbox (COURIER.md §2.2); `None` when nothing is staged.
    pub outbox: Option<ChunkTable>,
}

impl SignalSlot {
    /// A slot with nothing staged.
    pub fn at(inbound_next: u64) -> SignalSlot {
        SignalSlot {
            inbound_next,
            outbox: None,
        }
    }

    /// `None` for an empty slot (channel without a Signal account).
    pub fn decode(bytes: &[u8]) -> Result<Option<SignalSlot>, SlotError> {
        let (version, rest) = match bytes {
            [] => return Ok(None),
            [v, rest @ ..] => (*v, rest),
        };
        if version != SLOT_VERSION && version != SLOT_VERSION_OUTBOX {
            return Err(SlotError::Version(version));
        }
        if rest.len() < 8 || (version == SLOT_VERSION && rest.len() != 8) {
            return Err(SlotError::Length(bytes.len()));
        }
        let mut n = [0u8; 8];
        n.copy_from_slice(&rest[..8]);
        let outbox = if version == SLOT_VERSION_OUTBOX {
            Some(
                ChunkTable::decode(&rest[8..])
                    .map_err(|_| SlotError::Outbox)?
                    .ok_or(SlotError::Outbox)?,
            )
        } else {
            None
        };
        Ok(Some(SignalSlot {
            inbound_next: u64::from_be_bytes(n),
            outbox,
        }))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SLOT_LEN);
        match &self.outbox {
            None => out.push(SLOT_VERSION),
            Some(_) => out.push(SLOT_VERSION_OUTBOX),
        }
        out.extend_from_slice(&self.inbound_next.to_be_bytes());
        if let Some(t) = &self.outbox {
            out.extend_from_slice(&t.encode());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let b = SignalSlot::at(42).encode();
        assert_eq!(b.len(), SLOT_LEN);
        assert_eq!(SignalSlot::decode(&b), Ok(Some(SignalSlot::at(42))));
        assert_eq!(SignalSlot::decode(&[]), Ok(None));
        assert_eq!(SignalSlot::decode(&b[..8]), Err(SlotError::Length(8)));
        let mut t = b.clone();
        t.push(0);
        assert_eq!(SignalSlot::decode(&t), Err(SlotError::Length(10)));
        let mut v = b;
        v[0] = 3;
        assert_eq!(SignalSlot::decode(&v), Err(SlotError::Version(3)));
    }

    #[test]
    fn outbox_table_round_trips_and_is_checked() {
        let s = SignalSlot {
            inbound_next: 7,
            outbox: Some(ChunkTable {
                generation: 3,
                total_len: 10,
                digests: vec![[9u8; 32]],
            }),
        };
        let b = s.encode();
        assert_eq!(b[0], SLOT_VERSION_OUTBOX);
        assert_eq!(SignalSlot::decode(&b), Ok(Some(s)));
        // A version-2 slot must carry a well-formed table.
        assert_eq!(SignalSlot::decode(&b[..9]), Err(SlotError::Outbox));
        assert_eq!(
            SignalSlot::decode(&b[..b.len() - 1]),
            Err(SlotError::Outbox)
        );
    }
}
