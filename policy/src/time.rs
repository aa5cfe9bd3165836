//! Instants read from and written as RFC 3339, on jiff's calendar.
//!
//! The one RFC 3339 reader of vouch (policies, `--at`, trusted roots, bundles). jiff does the
//! calendar (days per month, leap years, offsets to UTC); vouch's own rules sit on top, because
//! jiff reads a wider grammar (Temporal/ISO 8601: spaces, missing seconds, zone annotations):
//! - exactly RFC 3339's `date-time`: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, `t`/`z` in either
//!   case, offsets within ±23:59;
//! - no leap second (`:60`): an instant count cannot hold one, and guessing which second was
//!   meant would move a validity bound.
//!
//! No clock here: the caller passes the time to judge at.

use serde::{Serialize, Serializer};

use std::fmt;
use std::str::FromStr;

/// An instant, in seconds since 1970-01-01T00:00:00Z. One-second resolution: fractions of a
/// second in the input are dropped (rounded toward the past).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a string is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an RFC 3339 timestamp (like 2026-01-01T00:00:00Z): {reason}")]
pub struct TimeError {
    input: String,
    reason: &'static str,
}

/// 1970-01-01T00:00:00, the origin of Unix time.
const EPOCH: jiff::civil::DateTime = jiff::civil::DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// Parses an RFC 3339 `date-time` to the nanosecond (digits past the ninth are dropped), as
/// the time since the Unix epoch. (A span rather than `jiff::Timestamp`, whose range stops a
/// day short of 9999-12-31 to leave room for offsets.)
pub fn parse_rfc3339(s: &str) -> Result<jiff::SignedDuration, TimeError> {
    let err = |reason| TimeError {
        input: s.to_string(),
        reason,
    };
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() {
        return Err(err("too short"));
    }
    let num = |range: std::ops::Range<usize>| -> Result<i32, TimeError> {
        let part = &b[range];
        if part.iter().all(u8::is_ascii_digit) {
            Ok(part
                .iter()
                .fold(0i32, |acc, d| acc * 10 + i32::from(d - b'0')))
        } else {
            Err(err("expected digits"))
        }
    };
    let sep = |i: usize, allowed: &[u8]| {
        if allowed.contains(&b[i]) {
            Ok(())
        } else {
            Err(err("misplaced separator"))
        }
    };
    let year = num(0..4)?;
    sep(4, b"-")?;
    let month = num(5..7)?;
    sep(7, b"-")?;
    let day = num(8..10)?;
    sep(10, b"Tt")?;
    let hour = num(11..13)?;
    sep(13, b":")?;
    let minute = num(14..16)?;
    sep(16, b":")?;
    let second = num(17..19)?;
    let mut i = 19;
    let mut nanos = 0i32;
    if b[i] == b'.' {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(err("empty fraction"));
        }
        for k in 0..9 {
            let d = b.get(i + k).filter(|_| k < digits).map_or(0, |d| d - b'0');
            nanos = nanos * 10 + i32::from(d);
        }
        i += digits;
    }
    let offset_seconds: i32 = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(err("bad offset"));
            }
            let oh = i32::from((h1 - b'0') * 10 + (h2 - b'0'));
            let om = i32::from((m1 - b'0') * 10 + (m2 - b'0'));
            if oh > 23 || om > 59 {
                return Err(err("offset out of range"));
            }
            let total = oh * 3600 + om * 60;
            if *sign == b'+' { total } else { -total }
        }
        _ => return Err(err("expected Z or an offset like +02:00")),
    };
    if !(1..=12).contains(&month) {
        return Err(err("month out of range"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(err("time of day out of range"));
    }
    // All fields are two or four digits, so they fit jiff's types.
    let small = |v: i32| i8::try_from(v).map_err(|_| err("out of range"));
    let year = i16::try_from(year).map_err(|_| err("year out of range"))?;
    let date = jiff::civil::Date::new(year, small(month)?, small(day)?)
        .map_err(|_| err("day out of range"))?;
    let time = jiff::civil::Time::new(small(hour)?, small(minute)?, small(second)?, nanos)
        .map_err(|_| err("time of day out of range"))?;
    let local = date.to_datetime(time).duration_since(EPOCH);
    Ok(local - jiff::SignedDuration::from_secs(i64::from(offset_seconds)))
}

/// `YYYY-MM-DDTHH:MM:SS[.frac]Z` for a time since the Unix epoch, or `None` outside the
/// years 0000 to 9999 that RFC 3339 can write.
pub fn format_rfc3339(since_epoch: jiff::SignedDuration) -> Option<String> {
    let civil = EPOCH.checked_add(since_epoch).ok()?;
    (civil.year() >= 0).then(|| format!("{civil}Z"))
}

impl Timestamp {
    /// The instant `seconds` after the Unix epoch.
    pub const fn from_unix(seconds: i64) -> Timestamp {
        Timestamp(seconds)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`; `t` and `z` may be lowercase.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimeError> {
        // Toward the past: an instant before 1970 with a fraction lies in the second before.
        parse_rfc3339(s).map(|t| Timestamp(t.as_secs() - i64::from(t.subsec_nanos() < 0)))
    }
}

impl fmt::Display for Timestamp {
    /// Always UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match format_rfc3339(jiff::SignedDuration::from_secs(self.0)) {
            Some(t) => f.write_str(&t),
            // Only reachable through `from_unix` with a number no RFC 3339 text can give.
            None => write!(f, "@{}", self.0),
        }
    }
}

impl FromStr for Timestamp {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Timestamp, TimeError> {
        Timestamp::parse_rfc3339(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        Timestamp::parse_rfc3339(s).expect(s).unix()
    }

    #[test]
    fn parses_known_instants() {
        assert_eq!(ts("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ts("2026-01-01T00:00:00Z"), 1_767_225_600);
        assert_eq!(ts("2000-02-29T12:00:00Z"), 951_825_600);
        assert_eq!(ts("2026-01-01T02:00:00+02:00"), 1_767_225_600);
        assert_eq!(ts("2025-12-31t19:00:00-05:00"), 1_767_225_600);
        assert_eq!(ts("2026-01-01T00:00:00.999z"), 1_767_225_600);
        assert_eq!(ts("1969-12-31T23:59:59Z"), -1);
    }

    #[test]
    fn refuses_malformed_and_out_of_range() {
        for bad in [
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:59:60Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+2:00",
            "2026-01-01T00:00:00+24:00",
            "2026-1-01T00:00:00Z",
            "２026-01-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2027-06-30T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "1900-03-01T00:00:01Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(s).expect(s).to_string(), s);
        }
        assert_eq!(Timestamp::from_unix(-1).to_string(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn nanoseconds_and_vouch_rules() {
        let t = parse_rfc3339("2022-12-31T23:59:59.123456789123Z").expect("long fraction");
        assert_eq!(t.subsec_nanos(), 123_456_789);
        assert_eq!(ts("1969-12-31T23:59:59.5Z"), -1);
        assert_eq!(
            parse_rfc3339("2021-01-12T11:53:27+01:00").expect("offset"),
            parse_rfc3339("2021-01-12T10:53:27Z").expect("z")
        );
        // An offset RFC 3339 cannot write, and a leap second, are refused.
        for bad in ["2026-01-01T00:00:00+99:99", "2016-12-31T23:59:60Z"] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
