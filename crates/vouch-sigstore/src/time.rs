//! Instants as seconds + nanoseconds since the Unix epoch (UTC), and the text forms we read.
//!
//! RFC 3339 goes through vouch's one reader and writer (`vouch_time`, on jiff); X.509
//! validity times come decoded from `x509-cert`. What is vouch's own here is RFC 3161's
//! GeneralizedTime with a fraction of a second, which `der` does not read (DER certificates
//! forbid fractions; timestamp tokens allow them).
//!
//! No clock: every time the verifier uses comes from the bundle or the trusted root.

use std::fmt;

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

    fn from_span(t: vouch_time::SignedDuration) -> Self {
        // jiff gives the fraction the sign of the seconds; ours is never negative, so an
        // instant before 1970 borrows a second.
        let (secs, nanos) = match t.subsec_nanos() {
            n if n < 0 => (t.as_secs() - 1, n + 1_000_000_000),
            n => (t.as_secs(), n),
        };
        UnixTime {
            secs,
            nanos: nanos.unsigned_abs(),
        }
    }

    /// RFC 3339 with `Z` or a numeric offset, as protobuf JSON writes `Timestamp`.
    pub fn parse_rfc3339(s: &str) -> Option<UnixTime> {
        vouch_time::parse_rfc3339(s).ok().map(Self::from_span)
    }

    /// ASN.1 GeneralizedTime `YYYYMMDDHHMMSS[.f+]Z` (RFC 3161 allows fractions; at most nine
    /// digits, and no leap second, as for RFC 3339).
    pub(crate) fn from_generalized_time(b: &[u8]) -> Option<UnixTime> {
        let text = std::str::from_utf8(b).ok()?;
        if text.len() < 15 || !text.is_ascii() || !text[..14].bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let fraction = match &text[14..] {
            "Z" => "",
            rest => {
                let digits = rest.strip_prefix('.')?.strip_suffix('Z')?;
                if digits.is_empty()
                    || digits.len() > 9
                    || !digits.bytes().all(|c| c.is_ascii_digit())
                {
                    return None;
                }
                rest.strip_suffix('Z')?
            }
        };
        let rfc3339 = format!(
            "{}-{}-{}T{}:{}:{}{fraction}Z",
            &text[0..4],
            &text[4..6],
            &text[6..8],
            &text[8..10],
            &text[10..12],
            &text[12..14],
        );
        Self::parse_rfc3339(&rfc3339)
    }

    /// From a duration since the epoch (x509-cert's decoded validity times).
    pub(crate) fn from_unix_duration(d: std::time::Duration) -> Option<UnixTime> {
        Some(UnixTime {
            secs: i64::try_from(d.as_secs()).ok()?,
            nanos: d.subsec_nanos(),
        })
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let span =
            vouch_time::SignedDuration::new(self.secs, i32::try_from(self.nanos).unwrap_or(0));
        match vouch_time::format_rfc3339(span) {
            Some(t) => f.write_str(&t),
            // Outside the years 0000 to 9999: no certificate or log writes such a time.
            None => write!(f, "@{}.{:09}", self.secs, self.nanos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let t = UnixTime::parse_rfc3339("2022-12-31T23:59:59.999Z").expect("parses");
        assert_eq!(t.secs(), 1_672_531_199);
        assert_eq!(t.subsec_nanos(), 999_000_000);
        assert_eq!(t.to_string(), "2022-12-31T23:59:59.999Z");
        assert_eq!(
            UnixTime::parse_rfc3339("2021-01-12T11:53:27+01:00")
                .expect("offset")
                .secs(),
            UnixTime::parse_rfc3339("2021-01-12T10:53:27Z")
                .expect("z")
                .secs()
        );
        assert_eq!(UnixTime::from_secs(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            UnixTime::from_generalized_time(b"20250612120220.5Z").map(|t| t.to_string()),
            Some("2025-06-12T12:02:20.5Z".into())
        );
        for bad in [
            "2022-02-30T00:00:00Z",
            "2022-01-01 00:00:00Z",
            "2022-01-01T00:00:00",
        ] {
            assert_eq!(UnixTime::parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(UnixTime::from_generalized_time(b"20250612120220"), None);
    }

    #[test]
    fn offsets_rfc3339_cannot_write_are_refused() {
        // The reader used to take any two digits as an offset.
        assert_eq!(UnixTime::parse_rfc3339("2024-01-01T00:00:00+99:99"), None);
        assert_eq!(UnixTime::from_generalized_time(b"20161231235960Z"), None);
        let before_epoch = UnixTime::parse_rfc3339("1969-12-31T23:59:59.5Z").expect("1969");
        assert_eq!(
            (before_epoch.secs(), before_epoch.subsec_nanos()),
            (-1, 500_000_000)
        );
        assert_eq!(before_epoch.to_string(), "1969-12-31T23:59:59.5Z");
    }
}
