#![allow(dead_code, clippy::all)]
//! Instants as seconds + nanoseconds since the Unix epoch (UTC), and the text forms we read.
//!
//! No clock: every time the verifier uses comes from the bundle or the trusted root.

use std::fmt;

use super::old_calendar::{civil_from_days, days_from_civil, days_in_month};

/// A UTC instant with nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime {
    secs: i64,
    nanos: u32,
}

impl UnixTime {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub fn from_secs(secs: i64) -> Self {
        UnixTime { secs, nanos: 0 }
    }

    /// Milliseconds since the epoch (CT timestamps).
    pub fn from_millis(ms: u64) -> Self {
        UnixTime {
            secs: (ms / 1000) as i64,
            nanos: ((ms % 1000) * 1_000_000) as u32,
        }
    }

    /// Whole seconds since the epoch.
    pub fn secs(&self) -> i64 {
        self.secs
    }

    /// Sub-second part.
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    fn from_parts(
        y: i64,
        mo: u32,
        d: u32,
        h: u32,
        mi: u32,
        s: u32,
        nanos: u32,
    ) -> Option<UnixTime> {
        if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 {
            return None;
        }
        // A leap second is not representable here; refuse it rather than guess.
        if s > 59 {
            return None;
        }
        let days = days_from_civil(y, mo, d);
        Some(UnixTime {
            secs: days * 86_400 + i64::from(h * 3600 + mi * 60 + s),
            nanos,
        })
    }

    /// RFC 3339 with `Z` or a numeric offset, as protobuf JSON writes `Timestamp`.
    pub fn parse_rfc3339(s: &str) -> Option<UnixTime> {
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let y = digits(&b[0..4])?;
        let mo = digits(&b[5..7])?;
        let d = digits(&b[8..10])?;
        let h = digits(&b[11..13])?;
        let mi = digits(&b[14..16])?;
        let sec = digits(&b[17..19])?;
        let (nanos, rest) = fraction(&b[19..])?;
        let offset: i64 = match rest {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
                let oh = digits(&[*oh1, *oh2])?;
                let om = digits(&[*om1, *om2])?;
                let v = i64::from(oh * 3600 + om * 60);
                if *sign == b'+' { v } else { -v }
            }
            _ => return None,
        };
        let t = Self::from_parts(i64::from(y), mo, d, h, mi, sec, nanos)?;
        Some(UnixTime {
            secs: t.secs - offset,
            nanos: t.nanos,
        })
    }

    /// ASN.1 UTCTime `YYMMDDHHMMSSZ` (RFC 5280: years 50-99 are 19xx).
    pub(crate) fn from_utc_time(b: &[u8]) -> Option<UnixTime> {
        if b.len() != 13 || b[12] != b'Z' {
            return None;
        }
        let yy = digits(&b[0..2])?;
        let y = if yy >= 50 { 1900 + yy } else { 2000 + yy };
        Self::from_parts(
            i64::from(y),
            digits(&b[2..4])?,
            digits(&b[4..6])?,
            digits(&b[6..8])?,
            digits(&b[8..10])?,
            digits(&b[10..12])?,
            0,
        )
    }

    /// ASN.1 GeneralizedTime `YYYYMMDDHHMMSS[.f+]Z` (RFC 3161 allows fractions).
    pub(crate) fn from_generalized_time(b: &[u8]) -> Option<UnixTime> {
        if b.len() < 15 {
            return None;
        }
        let (nanos, rest) = fraction(&b[14..])?;
        if rest != b"Z" {
            return None;
        }
        Self::from_parts(
            i64::from(digits(&b[0..4])?),
            digits(&b[4..6])?,
            digits(&b[6..8])?,
            digits(&b[8..10])?,
            digits(&b[10..12])?,
            digits(&b[12..14])?,
            nanos,
        )
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )?;
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, &c| n * 10 + u32::from(c - b'0')))
}

/// An optional `.digits` fraction (at most 9 digits), and what follows it.
fn fraction(b: &[u8]) -> Option<(u32, &[u8])> {
    let Some(rest) = b.strip_prefix(b".") else {
        return Some((0, b));
    };
    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 9 {
        return None;
    }
    let mut nanos = digits(&rest[..n])?;
    for _ in n..9 {
        nanos *= 10;
    }
    Some((nanos, &rest[n..]))
}
