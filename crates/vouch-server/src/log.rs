//! One JSON object per line on standard error: what a log collector in a cluster reads.
//!
//! Callers pass only what is safe to print: never a credential, token or request header.

use std::io::Write as _;

/// Writes `fields` (a JSON object) as one line, with `time` (RFC 3339, UTC) and `level` added.
pub fn event(level: &str, mut fields: serde_json::Value) {
    if let Some(map) = fields.as_object_mut() {
        map.insert("time".into(), now_rfc3339().into());
        map.insert("level".into(), level.into());
    }
    let mut line = fields.to_string();
    line.push('\n');
    // A log line that cannot be written is dropped: logging never takes a server down.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// An informational event.
pub fn info(fields: serde_json::Value) {
    event("info", fields);
}

/// Something went wrong but the server goes on.
pub fn warn(fields: serde_json::Value) {
    event("warn", fields);
}

/// The current time as RFC 3339 with milliseconds, UTC.
pub fn now_rfc3339() -> String {
    format!("{:.3}", jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
}
