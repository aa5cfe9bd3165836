//! vouch's one RFC 3339 reader and writer, on jiff's calendar.
//!
//! Every RFC 3339 time vouch reads goes through here: policies, `--at`, trusted roots, bundles
//! and their log entries. jiff does the calendar (days per month, leap years, offsets to UTC);
//! vouch's own rules sit on top, because jiff reads a wider grammar (Temporal/ISO 8601:
//! spaces, missing seconds, zone annotations):
//! - exactly RFC 3339's `date-time`: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, `t`/`z` in either
//!   case, offsets within ±23:59;
//! - no leap second (`:60`): an instant count cannot hold one, and guessing which second was
//!   meant would move a validity bound.
//!
//! Trust boundary: the text comes from files and the network; what leaves is a checked span
//! since the Unix epoch. No clock here: callers pass the time they judge at.
#![forbid(unsafe_code)]

/// A time since the Unix epoch, to the nanosecond (what [`parse_rfc3339`] gives and
/// [`format_rfc3339`] takes).
pub use jiff::SignedDuration;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanoseconds_and_vouch_rules() {
        let t = parse_rfc3339("2022-12-31T23:59:59.123456789123Z").expect("long fraction");
        assert_eq!(t.subsec_nanos(), 123_456_789);
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
