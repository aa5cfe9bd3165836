//! A strict, spanned YAML tree built from saphyr's event parser. JSON is read as YAML flow
//! style. Anchors, aliases, tags and several documents are refused so that the file means
//! what it shows; size and depth are bounded so garbage cannot hang or exhaust the checker.
//! vouch's own on saphyr's parser: serde-based YAML crates drop the spans diagnostics need.

use crate::diag::{Diagnostic, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};

/// Largest accepted source, in bytes.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;
/// Deepest accepted nesting of mappings and lists.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Scalar { value: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// The type a plain scalar resolves to under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarType {
    Null,
    Bool,
    Int,
    Float,
    Str,
}

impl Node {
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar { .. } => match self.scalar_type() {
                ScalarType::Null => "null",
                ScalarType::Bool => "a boolean",
                ScalarType::Int => "an integer",
                ScalarType::Float => "a number",
                ScalarType::Str => "a string",
            },
        }
    }

    pub(crate) fn scalar_type(&self) -> ScalarType {
        match &self.kind {
            Kind::Scalar { value, plain: true } => resolve_plain(value),
            _ => ScalarType::Str,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Scalar { .. }) && self.scalar_type() == ScalarType::Null
    }

    /// The string value of a scalar that resolves to a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } if self.scalar_type() == ScalarType::Str => Some(value),
            _ => None,
        }
    }

    /// The text of any scalar, whatever it resolves to.
    pub(crate) fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
}

fn resolve_plain(v: &str) -> ScalarType {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarType::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return ScalarType::Bool,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return ScalarType::Float,
        _ => {}
    }
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return ScalarType::Int;
    }
    if let Some(o) = v.strip_prefix("0o")
        && !o.is_empty()
        && o.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return ScalarType::Int;
    }
    if let Some(h) = v.strip_prefix("0x")
        && !h.is_empty()
        && h.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return ScalarType::Int;
    }
    if is_float(digits) {
        return ScalarType::Float;
    }
    ScalarType::Str
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, sign already stripped.
fn is_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

enum Frame {
    Seq {
        start: Span,
        items: Vec<Node>,
    },
    Map {
        start: Span,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Parses one YAML document into a tree. Fatal problems (syntax, limits, anchors, tags) stop
/// parsing; duplicate keys are reported in `diags` and the later entry is dropped.
pub(crate) fn parse_tree(source: &str, diags: &mut Vec<Diagnostic>) -> Option<Node> {
    let map = &SourceMap::new(source);
    if source.len() > MAX_SOURCE_BYTES {
        diags.push(Diagnostic::new(
            "too-large",
            map.span(0, 0),
            format!(
                "the file is {} bytes; the limit is {MAX_SOURCE_BYTES} bytes (4 MiB)",
                source.len()
            ),
        ));
        return None;
    }
    let mut parser = Parser::new_from_str(source);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    loop {
        let (event, raw_span) = match parser.next_event() {
            None => break,
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                let m = e.marker();
                let at = map.span_chars(m.index(), m.index());
                // The scanner caps flow nesting itself, ahead of the parser's events.
                if e.info().contains("recursion limit") {
                    diags.push(
                        Diagnostic::new(
                            "too-deep",
                            at,
                            format!("nesting deeper than {MAX_DEPTH} levels"),
                        )
                        .with_label("too deep"),
                    );
                    return None;
                }
                diags.push(
                    Diagnostic::new("yaml-syntax", at, format!("invalid YAML: {}", e.info()))
                        .with_label("here"),
                );
                return None;
            }
        };
        let span = map.span_chars(raw_span.start.index(), raw_span.end.index());
        let node = match event {
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    diags.push(
                        Diagnostic::new(
                            "multiple-documents",
                            span,
                            "a policy file holds exactly one YAML document",
                        )
                        .with_label("a second document starts here"),
                    );
                    return None;
                }
                continue;
            }
            Event::Alias(_) => {
                diags.push(
                    Diagnostic::new("yaml-anchor", span, "YAML aliases are not allowed")
                        .with_label("alias")
                        .with_hint(
                            "write the value out; a policy should read the same to everyone",
                        ),
                );
                return None;
            }
            Event::Scalar(value, style, anchor, tag) => {
                if !check_node_props(anchor, tag.is_some(), span, diags) {
                    return None;
                }
                Node {
                    kind: Kind::Scalar {
                        value: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    span,
                }
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if !check_node_props(anchor, tag.is_some(), span, diags) {
                    return None;
                }
                if stack.len() >= MAX_DEPTH {
                    diags.push(
                        Diagnostic::new(
                            "too-deep",
                            span,
                            format!("nesting deeper than {MAX_DEPTH} levels"),
                        )
                        .with_label("too deep"),
                    );
                    return None;
                }
                let is_seq = matches!(event, Event::SequenceStart(..));
                stack.push(if is_seq {
                    Frame::Seq {
                        start: span,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        start: span,
                        entries: Vec::new(),
                        key: None,
                    }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = stack.pop() else {
                    continue;
                };
                match frame {
                    Frame::Seq { start, items } => {
                        let end = closing_end(items.last().map(|n| n.span.end), start, span);
                        Node {
                            span: map.span(start.start, end.max(start.start)),
                            kind: Kind::Seq(items),
                        }
                    }
                    Frame::Map { start, entries, .. } => {
                        let end = closing_end(entries.last().map(|(_, v)| v.span.end), start, span);
                        Node {
                            span: map.span(start.start, end.max(start.start)),
                            kind: Kind::Map(entries),
                        }
                    }
                }
            }
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    let duplicate = k.scalar_text().and_then(|text| {
                        entries
                            .iter()
                            .find(|(prev, _)| prev.scalar_text() == Some(text))
                            .map(|(prev, _)| prev.span)
                    });
                    match duplicate {
                        Some(first) => diags.push(
                            Diagnostic::new(
                                "duplicate-key",
                                k.span,
                                format!(
                                    "key `{}` appears twice in this mapping",
                                    k.scalar_text().unwrap_or_default()
                                ),
                            )
                            .with_label("second occurrence")
                            .with_secondary(first, "first occurrence"),
                        ),
                        None => entries.push((k, node)),
                    }
                }
            },
        }
    }
    if root.is_none() {
        diags.push(Diagnostic::new(
            "empty-document",
            map.span(0, 0),
            "the file holds no document",
        ));
    }
    root
}

/// Where a collection ends: at its flow closing bracket, else at its last item, so a block
/// collection's span does not run into the next line.
fn closing_end(last_item_end: Option<usize>, start: Span, close: Span) -> usize {
    if close.end > close.start {
        close.end
    } else {
        last_item_end.unwrap_or(start.end).max(start.start)
    }
}

fn check_node_props(anchor: usize, tagged: bool, span: Span, diags: &mut Vec<Diagnostic>) -> bool {
    if anchor != 0 {
        diags.push(
            Diagnostic::new("yaml-anchor", span, "YAML anchors are not allowed")
                .with_label("anchored value")
                .with_hint("write each value out; a policy should read the same to everyone"),
        );
        return false;
    }
    if tagged {
        diags.push(
            Diagnostic::new("yaml-tag", span, "YAML tags are not allowed")
                .with_label("tagged value")
                .with_hint("remove the tag; quote the value if it must be a string"),
        );
        return false;
    }
    true
}

/// Maps positions reported by the YAML parser (character indexes) to byte offsets, lines and
/// columns of the source.
struct SourceMap<'a> {
    source: &'a str,
    /// `(char index, byte offset)` of each non-ASCII character, ascending.
    wide: Vec<(usize, usize)>,
    /// Byte offset of each line start.
    line_starts: Vec<usize>,
}

impl<'a> SourceMap<'a> {
    fn new(source: &'a str) -> SourceMap<'a> {
        let wide = source
            .char_indices()
            .enumerate()
            .filter(|(_, (_, c))| !c.is_ascii())
            .map(|(ci, (bi, _))| (ci, bi))
            .collect();
        let mut line_starts = vec![0];
        line_starts.extend(
            source
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceMap {
            source,
            wide,
            line_starts,
        }
    }

    /// Byte offset of the character at `char_index`.
    fn byte_of_char(&self, char_index: usize) -> usize {
        // Chars before the first wide char at or after `char_index` map one to one from the last
        // wide char seen before it.
        let i = self.wide.partition_point(|(ci, _)| *ci < char_index);
        let byte = match i.checked_sub(1).and_then(|j| self.wide.get(j)) {
            None => char_index,
            Some(&(ci, bi)) => {
                let w = self.source[bi..].chars().next().map_or(1, char::len_utf8);
                bi + w + (char_index - ci - 1)
            }
        };
        byte.min(self.source.len())
    }

    /// The span of a byte range.
    fn span(&self, start: usize, end: usize) -> Span {
        let start = start.min(self.source.len());
        let end = end.clamp(start, self.source.len());
        let line_idx = self.line_starts.partition_point(|&s| s <= start) - 1;
        let line_start = self.line_starts[line_idx];
        let col = self
            .source
            .get(line_start..start)
            .map_or(0, |s| s.chars().count())
            + 1;
        Span {
            start,
            end,
            line: line_idx + 1,
            col,
        }
    }

    /// The span of a character-index range.
    fn span_chars(&self, start: usize, end: usize) -> Span {
        self.span(self.byte_of_char(start), self.byte_of_char(end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(src: &str) -> (Option<Node>, Vec<Diagnostic>) {
        let mut d = Vec::new();
        let n = parse_tree(src, &mut d);
        (n, d)
    }

    #[test]
    fn plain_scalars_resolve_like_yaml_1_2_core() {
        for (v, t) in [
            ("1", ScalarType::Int),
            ("-12", ScalarType::Int),
            ("0x1F", ScalarType::Int),
            ("1.5", ScalarType::Float),
            ("1e3", ScalarType::Float),
            (".5", ScalarType::Float),
            ("true", ScalarType::Bool),
            ("yes", ScalarType::Str),
            ("~", ScalarType::Null),
            ("", ScalarType::Null),
            ("2026-01-01T00:00:00Z", ScalarType::Str),
            ("sha256:ab", ScalarType::Str),
            (".", ScalarType::Str),
        ] {
            assert_eq!(resolve_plain(v), t, "{v}");
        }
    }

    #[test]
    fn spans_point_at_scalars() {
        let src = "a:\n  b: héllo\n  c: [x, y]\n";
        let (n, d) = tree(src);
        assert!(d.is_empty(), "{d:?}");
        let Some(Node {
            kind: Kind::Map(top),
            ..
        }) = n
        else {
            panic!("not a map")
        };
        let Kind::Map(inner) = &top[0].1.kind else {
            panic!()
        };
        let v = &inner[0].1;
        assert_eq!(&src[v.span.start..v.span.end], "héllo");
        assert_eq!((v.span.line, v.span.col), (2, 6));
        let Kind::Seq(items) = &inner[1].1.kind else {
            panic!()
        };
        assert_eq!(&src[items[1].span.start..items[1].span.end], "y");
        // After a non-ASCII character, offsets are still bytes.
        let c = &inner[1].0;
        assert_eq!(&src[c.span.start..c.span.end], "c");
    }

    #[test]
    fn refuses_anchors_aliases_tags_and_several_documents() {
        for (src, code) in [
            ("a: &x 1\nb: *x\n", "yaml-anchor"),
            ("a: !!str 1\n", "yaml-tag"),
            ("a: 1\n---\nb: 2\n", "multiple-documents"),
            ("", "empty-document"),
            ("a: [1\n", "yaml-syntax"),
        ] {
            let (n, d) = tree(src);
            assert!(n.is_none(), "{src}");
            assert_eq!(d[0].code, code, "{src}");
        }
    }

    #[test]
    fn duplicate_keys_at_any_depth() {
        let (_, d) = tree("a:\n  b: 1\n  b: 2\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "duplicate-key");
        assert_eq!(d[0].span.line, 3);
        assert_eq!(d[0].labels[0].span.line, 2);
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let deep = "[".repeat(10_000);
        let (n, d) = tree(&deep);
        assert!(n.is_none());
        assert_eq!(d[0].code, "too-deep");
        let big = "#".repeat(MAX_SOURCE_BYTES + 1);
        let (_, d) = tree(&big);
        assert_eq!(d[0].code, "too-large");
    }

    #[test]
    fn json_is_read_as_flow_yaml() {
        let (n, d) = tree("{\"version\": 1, \"rules\": [{\"name\": \"x\"}]}");
        assert!(d.is_empty(), "{d:?}");
        assert!(matches!(n.map(|n| n.kind), Some(Kind::Map(_))));
    }
}
