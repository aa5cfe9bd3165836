#![allow(dead_code, clippy::all)]
//! Instants as Unix seconds, read from and written as RFC 3339.

use serde::{Serialize, Serializer};

use super::old_calendar::{civil_from_days, days_from_civil, days_in_month};
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
        let err = |reason| TimeError {
            input: s.to_string(),
            reason,
        };
        let b = s.as_bytes();
        if b.len() < 20 || !s.is_ascii() {
            return Err(err("too short"));
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, TimeError> {
            let part = &b[range];
            if part.iter().all(u8::is_ascii_digit) {
                Ok(part
                    .iter()
                    .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
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
        if b[i] == b'.' {
            i += 1;
            let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err(err("empty fraction"));
            }
            i += digits;
        }
        let offset = match &b[i..] {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(err("bad offset"));
                }
                let oh = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
                let om = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
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
        if day < 1 || day > i64::from(days_in_month(year, month as u32)) {
            return Err(err("day out of range"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(err("time of day out of range"));
        }
        // Both were range-checked above.
        let days = days_from_civil(year, month as u32, day as u32);
        Ok(Timestamp(
            days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        ))
    }
}

impl fmt::Display for Timestamp {
    /// Always UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
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
