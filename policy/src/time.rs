//! The instants a policy judges at: whole seconds, read from and written as RFC 3339 by
//! vouch's one reader and writer (`vouch_time`).
//!
//! No clock here: the caller passes the time to judge at.

use serde::{Serialize, Serializer};
use vouch_time::{SignedDuration, format_rfc3339, parse_rfc3339};

use std::fmt;
use std::str::FromStr;

pub use vouch_time::TimeError;

/// An instant, in seconds since 1970-01-01T00:00:00Z. One-second resolution: fractions of a
/// second in the input are dropped (rounded toward the past).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

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
        match format_rfc3339(SignedDuration::from_secs(self.0)) {
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
        assert_eq!(ts("1969-12-31T23:59:59.5Z"), -1);
    }
}
