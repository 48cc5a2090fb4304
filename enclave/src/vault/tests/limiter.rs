//! Wrong-SK backoff.

use crate::vault::limiter::{UnlockLimiter, FORGET_AFTER_SECS, FREE_ATTEMPTS, MAX_DELAY_SECS};
use crate::vault::{ChannelId, VaultError};

fn id(b: u8) -> ChannelId {
    ChannelId::from_bytes([b; 16])
}

#[test]
fn backoff_sequence() {
    let delays: Vec<u64> = (1..=20).map(UnlockLimiter::delay_after).collect();
    assert_eq!(
        delays,
        [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600, 3600]
    );
    assert_eq!(UnlockLimiter::delay_after(u32::MAX), MAX_DELAY_SECS);
    assert_eq!(UnlockLimiter::delay_after(0), 0);
}

#[test]
fn check_refuses_until_the_delay_has_passed() {
    let mut l = UnlockLimiter::new();
    let c = id(1);
    let t = 1_000;
    for _ in 0..FREE_ATTEMPTS {
        l.check(&c, t).unwrap();
        assert_eq!(l.record_failure(&c, t), 0);
    }
    l.check(&c, t).unwrap();
    assert_eq!(l.record_failure(&c, t), 1);
    assert_eq!(
        l.check(&c, t),
        Err(VaultError::RateLimited {
            retry_after_secs: 1
        })
    );
    l.check(&c, t + 1).unwrap();
    assert_eq!(l.record_failure(&c, t + 1), 2);
    assert_eq!(
        l.check(&c, t + 2),
        Err(VaultError::RateLimited {
            retry_after_secs: 1
        })
    );
    // Other channels are unaffected; a day without failures forgets them.
    l.check(&id(2), t + 2).unwrap();
    let later = t + 1 + FORGET_AFTER_SECS;
    l.check(&c, later).unwrap();
    assert_eq!(l.record_failure(&c, later), 0);
}

/// Only failures are throttled: the caller asks the limiter after a key failed, and a
/// failure while throttled is answered `RateLimited` (and still counted), whatever the
/// failure was.
#[test]
fn a_failure_while_throttled_is_rate_limited_and_still_counted() {
    let mut l = UnlockLimiter::new();
    let c = id(1);
    let t = 1_000;
    for _ in 0..=FREE_ATTEMPTS {
        assert_eq!(l.fail(&c, t, VaultError::WrongKey), VaultError::WrongKey);
    }
    // The sixth failure imposed 1 s; the seventh, inside it, is `RateLimited` ...
    assert_eq!(
        l.fail(&c, t, VaultError::WrongKey),
        VaultError::RateLimited {
            retry_after_secs: 1
        }
    );
    // ... and counted: the delay doubled for whoever keeps guessing.
    assert_eq!(
        l.check(&c, t),
        Err(VaultError::RateLimited {
            retry_after_secs: 2
        })
    );
    assert_eq!(
        l.fail(&c, t + 2, VaultError::OtpUnknown),
        VaultError::OtpUnknown
    );
    assert_eq!(l.tracked(), 1);
}

#[test]
fn memory_is_bounded_evicting_the_oldest() {
    let mut l = UnlockLimiter::with_capacity(3);
    for (i, t) in [(1u8, 10u64), (2, 20), (3, 30)] {
        for _ in 0..=FREE_ATTEMPTS {
            l.record_failure(&id(i), t);
        }
    }
    assert_eq!(l.tracked(), 3);
    l.record_failure(&id(4), 40);
    assert_eq!(l.tracked(), 3);
    // Channel 1 (oldest failure) was evicted; 2 and 3 are still limited.
    l.check(&id(1), 10).unwrap();
    for (i, t) in [(2u8, 20u64), (3, 30)] {
        assert_eq!(
            l.check(&id(i), t),
            Err(VaultError::RateLimited {
                retry_after_secs: 1
            })
        );
    }
}
