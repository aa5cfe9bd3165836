//! JSON as kube-apiserver writes it: Go's `encoding/json` (compact, `<`, `>`, `&`, U+2028 and
//! U+2029 escaped as `\u003c`-style sequences) followed by the newline `json.Encoder` appends.
//! A webhook must read these escapes; sending them is part of speaking the protocol exactly.

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

/// serde_json's compact formatter with Go's HTML-safe string escaping on top.
struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        CompactFormatter.write_char_escape(writer, char_escape)
    }
}

/// `value` encoded as Go's `json.Marshal` does (no trailing newline).
pub fn marshal<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value
        .serialize(&mut ser)
        .expect("a JSON value always serializes");
    out
}

/// `value` encoded as Go's `json.NewEncoder(w).Encode` does: [`marshal`] and a newline. This is
/// the body kube-apiserver's REST client sends.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = marshal(value);
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_html_characters_and_line_separators_like_go() {
        let value = json!({"a": "<b> & \u{2028}\u{2029}", "n": "line\nbreak\t\u{1}"});
        let text = String::from_utf8(marshal(&value)).expect("utf-8");
        assert_eq!(
            text,
            r#"{"a":"\u003cb\u003e \u0026 \u2028\u2029","n":"line\nbreak\t\u0001"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&text).expect("parses again");
        assert_eq!(back, value);
    }

    #[test]
    fn encode_appends_the_encoders_newline() {
        assert_eq!(encode(&json!([1])), b"[1]\n");
    }
}
