//! Argument checks shared by every [`BlobStore`](super::BlobStore) backend.
//!
//! Backends call these before touching storage, so that a client sees the same
//! [`StoreError`] for the same bad input whichever backend the host runs, and so that no
//! backend allocates or queries on the strength of an unchecked length.

use super::{
    StoreError, MAX_BLOB_LEN, MAX_LIST_NAMES, MAX_NAME_LEN, MAX_QUEUE_ITEM_LEN, MAX_RANGE_BYTES,
    MAX_RANGE_ITEMS,
};

/// A blob or queue name: 1..=[`MAX_NAME_LEN`] opaque bytes. Empty names are refused because a
/// zero-length key is indistinguishable from "no name" in several backends' encodings.
pub fn name(name: &[u8]) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(StoreError::NameInvalid {
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    Ok(())
}

/// A `list` prefix: may be empty (list everything), otherwise no longer than a name, since a
/// longer prefix cannot match anything and is more likely a bug than a query.
pub fn prefix(prefix: &[u8]) -> Result<(), StoreError> {
    if prefix.len() > MAX_NAME_LEN {
        return Err(StoreError::NameInvalid {
            len: prefix.len(),
            max: MAX_NAME_LEN,
        });
    }
    Ok(())
}

/// Blob data: at most [`MAX_BLOB_LEN`] bytes (empty is allowed; the store never interprets it).
pub fn blob_data(data: &[u8]) -> Result<(), StoreError> {
    bounded_len(data.len(), MAX_BLOB_LEN)
}

/// A queue item: at most [`MAX_QUEUE_ITEM_LEN`] bytes.
pub fn queue_item(item: &[u8]) -> Result<(), StoreError> {
    bounded_len(item.len(), MAX_QUEUE_ITEM_LEN)
}

/// `list`'s `limit`: 1..=[`MAX_LIST_NAMES`].
pub fn list_limit(limit: u32) -> Result<(), StoreError> {
    count_limit(limit, MAX_LIST_NAMES)
}

/// `queue_range`'s `max_items`: 1..=[`MAX_RANGE_ITEMS`].
pub fn range_items(max_items: u32) -> Result<(), StoreError> {
    count_limit(max_items, MAX_RANGE_ITEMS)
}

/// `queue_range`'s byte budget, clamped rather than refused: the budget is a hint ("about
/// `max_bytes`"), and the first item is returned regardless of it.
pub fn range_bytes(max_bytes: u32) -> u64 {
    u64::from(max_bytes.min(MAX_RANGE_BYTES))
}

fn bounded_len(len: usize, max: usize) -> Result<(), StoreError> {
    if len > max {
        return Err(StoreError::TooLarge { len, max });
    }
    Ok(())
}

fn count_limit(requested: u32, max: u32) -> Result<(), StoreError> {
    if requested == 0 || requested > max {
        return Err(StoreError::LimitInvalid { requested, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_validate_name_bounds() {
        assert!(matches!(
            name(b""),
            Err(StoreError::NameInvalid {
                len: 0,
                max: MAX_NAME_LEN
            })
        ));
        name(&[7; MAX_NAME_LEN]).expect("longest name is valid");
        assert!(matches!(
            name(&[7; MAX_NAME_LEN + 1]),
            Err(StoreError::NameInvalid { len, max: MAX_NAME_LEN }) if len == MAX_NAME_LEN + 1
        ));
        prefix(b"").expect("empty prefix lists everything");
        assert!(matches!(
            prefix(&[0; MAX_NAME_LEN + 1]),
            Err(StoreError::NameInvalid { .. })
        ));
    }

    #[test]
    fn store_validate_value_and_count_bounds() {
        blob_data(b"").expect("empty blob is valid");
        queue_item(&vec![0; MAX_QUEUE_ITEM_LEN]).expect("largest item is valid");
        assert!(matches!(
            queue_item(&vec![0; MAX_QUEUE_ITEM_LEN + 1]),
            Err(StoreError::TooLarge { len, max: MAX_QUEUE_ITEM_LEN }) if len == MAX_QUEUE_ITEM_LEN + 1
        ));
        assert!(matches!(
            range_items(0),
            Err(StoreError::LimitInvalid {
                requested: 0,
                max: MAX_RANGE_ITEMS
            })
        ));
        range_items(MAX_RANGE_ITEMS).expect("cap itself is valid");
        assert!(matches!(
            list_limit(MAX_LIST_NAMES + 1),
            Err(StoreError::LimitInvalid { .. })
        ));
        assert_eq!(range_bytes(u32::MAX), u64::from(MAX_RANGE_BYTES));
        assert_eq!(range_bytes(0), 0);
    }
}
