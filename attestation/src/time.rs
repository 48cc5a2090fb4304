//! Verification time as an explicit value.
//!
//! Verification never reads the system clock: callers pass a [`UnixTime`], so tests can
//! check real (long expired) evidence at the moment it was valid.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct UnixTime(u64);

/// Why a time string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a time: {0} (expected unix seconds or RFC 3339, e.g. 2024-01-16T19:10:16Z)")]
pub struct TimeParseError(&'static str);

impl UnixTime {
    /// From seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// The system clock, for callers at the edge (CLI, client). Library code takes a
    /// `UnixTime` argument instead. A clock before 1970 reads as the epoch.
    pub fn now() -> Self {
        Self(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
    }

    /// Parses unix seconds (`1705432216`) or an RFC 3339 timestamp
    /// (`2024-01-16T19:10:16Z`, `2024-01-16T21:10:16+02:00`, fractional seconds ignored).
    pub fn parse(input: &str) -> Result<Self, TimeParseError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(TimeParseError("empty"));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse::<u64>()
                .map(Self)
                .map_err(|_| TimeParseError("number out of range"));
        }
        parse_rfc3339(s).map(Self)
    }

    /// RFC 3339 in UTC, second precision.
    pub fn to_rfc3339(self) -> String {
        let days = i64::try_from(self.0 / 86_400).unwrap_or(i64::MAX);
        let rem = self.0 % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.to_rfc3339())
    }
}

fn parse_rfc3339(s: &str) -> Result<u64, TimeParseError> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(TimeParseError("too short"));
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, TimeParseError> {
        let part = b.get(range).ok_or(TimeParseError("truncated"))?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(TimeParseError("expected digits"));
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let sep = |i: usize, allowed: &[u8]| -> Result<(), TimeParseError> {
        match b.get(i) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err(TimeParseError("unexpected separator")),
        }
    };
    let year = num(0..4)?;
    sep(4, b"-")?;
    let month = num(5..7)?;
    sep(7, b"-")?;
    let day = num(8..10)?;
    sep(10, b"Tt ")?;
    let hour = num(11..13)?;
    sep(13, b":")?;
    let minute = num(14..16)?;
    sep(16, b":")?;
    let second = num(17..19)?;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(TimeParseError("empty fraction"));
        }
    }
    let offset_secs = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            let oh = num(i + 1..i + 3)?;
            sep(i + 3, b":")?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return Err(TimeParseError("offset out of range"));
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return Err(TimeParseError("expected Z or ±HH:MM offset at the end")),
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(TimeParseError("field out of range"));
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second.min(59)
            - offset_secs;
    u64::try_from(secs).map_err(|_| TimeParseError("before 1970"))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        assert_eq!(
            UnixTime::parse("1705432216").unwrap().as_secs(),
            1_705_432_216
        );
        assert_eq!(
            UnixTime::parse("2024-01-16T19:10:16Z").unwrap().as_secs(),
            1_705_432_216
        );
        assert_eq!(
            UnixTime::parse("2024-01-16T21:10:16.250+02:00")
                .unwrap()
                .as_secs(),
            1_705_432_216
        );
        assert_eq!(
            UnixTime::parse("1970-01-01T00:00:00Z").unwrap().as_secs(),
            0
        );
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for s in [
            "",
            "x",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-01-16T19:10:16",
            "2024-01-16T19:10:16+2:00",
            "1969-12-31T23:59:59Z",
            "99999999999999999999999",
            "2024-01-16T19:10:16.Z",
            "２０２４-01-16T19:10:16Z",
        ] {
            assert!(matches!(UnixTime::parse(s), Err(TimeParseError(_))), "{s}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for secs in [0u64, 951_782_400, 1_705_432_216, 4_102_444_800] {
            let t = UnixTime::from_secs(secs);
            assert_eq!(UnixTime::parse(&t.to_rfc3339()).unwrap(), t);
        }
    }
}
