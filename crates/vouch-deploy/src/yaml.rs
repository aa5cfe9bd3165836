//! A YAML stream read one document at a time into a small arena with byte spans, from
//! saphyr's event parser (JSON is read as YAML flow style).
//!
//! Aliases are kept as shared node ids, never copied, so a "billion laughs" document costs
//! what its text costs; walking it is bounded by a visit budget ([`YamlTree`]). Nesting depth
//! and node count are bounded too. Tags are ignored (Kubernetes reads `!!str` values as
//! strings), anchors and merge keys (`<<`) are honoured as Kubernetes' YAML reader does.

use std::cell::Cell;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::model::{ExtractError, Limits, Site, Span};

pub(crate) type NodeId = u32;

pub(crate) struct Node<'s> {
    pub kind: Kind<'s>,
    pub span: Span,
    pub line: usize,
    pub column: usize,
}

pub(crate) enum Kind<'s> {
    Scalar {
        value: std::borrow::Cow<'s, str>,
        style: ScalarStyle,
    },
    Seq(Vec<NodeId>),
    Map(Vec<(NodeId, NodeId)>),
}

/// One parsed document.
pub(crate) struct Doc<'s> {
    src: &'s str,
    nodes: Vec<Node<'s>>,
    root: Option<NodeId>,
}

impl<'s> Doc<'s> {
    pub fn root(&self) -> Option<NodeId> {
        self.root
    }

    pub fn node(&self, id: NodeId) -> &Node<'s> {
        &self.nodes[id as usize]
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// A scalar's text, whatever it resolves to (a plain `null` or `~` is no string).
    pub fn str(&self, id: NodeId) -> Option<&str> {
        match &self.node(id).kind {
            Kind::Scalar { value, style } => {
                if *style == ScalarStyle::Plain
                    && matches!(&**value, "" | "~" | "null" | "Null" | "NULL")
                {
                    None
                } else {
                    Some(value)
                }
            }
            _ => None,
        }
    }

    pub fn is_null(&self, id: NodeId) -> bool {
        matches!(&self.node(id).kind, Kind::Scalar { value, style: ScalarStyle::Plain }
            if matches!(&**value, "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn entries(&self, id: NodeId) -> Option<&[(NodeId, NodeId)]> {
        match &self.node(id).kind {
            Kind::Map(e) => Some(e),
            _ => None,
        }
    }

    pub fn items(&self, id: NodeId) -> Option<&[NodeId]> {
        match &self.node(id).kind {
            Kind::Seq(i) => Some(i),
            _ => None,
        }
    }

    /// The value under `key` in a mapping, explicit keys first, then merged (`<<`) ones.
    pub fn get(&self, map: NodeId, key: &str) -> Option<NodeId> {
        self.get_depth(map, key, 0)
    }

    fn get_depth(&self, map: NodeId, key: &str, depth: usize) -> Option<NodeId> {
        let entries = self.entries(map)?;
        if let Some((_, v)) = entries.iter().find(|(k, _)| self.key_is(*k, key)) {
            return Some(*v);
        }
        // Merge keys nest at most a few levels in real files; the bound keeps cycles out.
        if depth >= 8 {
            return None;
        }
        let (_, merged) = entries.iter().find(|(k, _)| self.is_merge_key(*k))?;
        match &self.node(*merged).kind {
            Kind::Map(_) => self.get_depth(*merged, key, depth + 1),
            Kind::Seq(items) => items
                .iter()
                .find_map(|m| self.get_depth(*m, key, depth + 1)),
            Kind::Scalar { .. } => None,
        }
    }

    pub fn key_is(&self, k: NodeId, key: &str) -> bool {
        matches!(&self.node(k).kind, Kind::Scalar { value, .. } if &**value == key)
    }

    pub fn is_merge_key(&self, k: NodeId) -> bool {
        matches!(&self.node(k).kind, Kind::Scalar { value, style: ScalarStyle::Plain } if &**value == "<<")
    }

    /// Every (key, value) of a mapping with merged entries after the explicit ones (an
    /// explicit key hides a merged one).
    pub fn entries_merged(&self, map: NodeId) -> Vec<(NodeId, NodeId)> {
        let mut out = Vec::new();
        self.collect_entries(map, 0, &mut out);
        out
    }

    fn collect_entries(&self, map: NodeId, depth: usize, out: &mut Vec<(NodeId, NodeId)>) {
        let Some(entries) = self.entries(map) else {
            return;
        };
        if depth == 0 && !entries.iter().any(|(k, _)| self.is_merge_key(*k)) {
            out.extend_from_slice(entries);
            return;
        }
        let mut merges = Vec::new();
        for &(k, v) in entries {
            if self.is_merge_key(k) {
                merges.push(v);
            } else if !out.iter().any(|(ok, _)| self.same_key(*ok, k)) {
                out.push((k, v));
            }
        }
        if depth >= 8 {
            return;
        }
        for m in merges {
            match &self.node(m).kind {
                Kind::Map(_) => self.collect_entries(m, depth + 1, out),
                Kind::Seq(items) => {
                    for &i in items {
                        self.collect_entries(i, depth + 1, out);
                    }
                }
                Kind::Scalar { .. } => {}
            }
        }
    }

    fn same_key(&self, a: NodeId, b: NodeId) -> bool {
        match (&self.node(a).kind, &self.node(b).kind) {
            (Kind::Scalar { value: x, .. }, Kind::Scalar { value: y, .. }) => x == y,
            _ => false,
        }
    }

    pub fn error_at(&self, id: NodeId, message: impl Into<String>) -> ExtractError {
        let n = self.node(id);
        ExtractError::at(n.line, n.column, message)
    }

    /// Where a scalar's text can be rewritten. A scalar's span may start at its anchor or
    /// tag (`&app value`, `!!str value`) and run on over a comment after a quoted scalar;
    /// the text is found inside it.
    pub fn site(&self, id: NodeId) -> Site {
        let n = self.node(id);
        let Kind::Scalar { value, style } = &n.kind else {
            return Site::Fixed;
        };
        let raw = &self.src[n.span.start..n.span.end];
        let off = skip_properties(raw);
        let rest = &raw[off..];
        let at = |offset: usize, len: usize| Span {
            start: n.span.start + offset,
            end: n.span.start + offset + len,
        };
        match style {
            ScalarStyle::Plain if rest.starts_with(&**value) => Site::Text {
                span: at(off, value.len()),
            },
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                let Some(close) = closing_quote(rest, *style == ScalarStyle::SingleQuoted) else {
                    return Site::Fixed;
                };
                let inner = &rest[1..close];
                if inner == &**value {
                    Site::Text {
                        span: at(off + 1, inner.len()),
                    }
                } else {
                    Site::Quoted {
                        span: at(off, close + 1),
                    }
                }
            }
            // Block scalars and multi-line plain scalars cannot be edited in place safely.
            _ => Site::Fixed,
        }
    }

    /// The 1-based column (in characters) where a scalar's text starts.
    pub fn text_column(&self, id: NodeId) -> usize {
        let n = self.node(id);
        match self.site(id) {
            Site::Text { span } | Site::Quoted { span } if span.start >= n.span.start => {
                n.column + self.src[n.span.start..span.start].chars().count()
            }
            _ => n.column,
        }
    }
}

/// Past a node's anchor and tag (`&name`, `!tag`), to where its content starts.
fn skip_properties(raw: &str) -> usize {
    let mut off = 0;
    while raw[off..].starts_with(['&', '!']) {
        let token = raw[off..]
            .find(char::is_whitespace)
            .unwrap_or(raw.len() - off);
        off += token;
        off += raw[off..].len() - raw[off..].trim_start().len();
    }
    off
}

/// The byte index of the quote closing the quoted scalar `s` starts with.
fn closing_quote(s: &str, single: bool) -> Option<usize> {
    let q = if single { b'\'' } else { b'"' };
    let b = s.as_bytes();
    if b.first() != Some(&q) {
        return None;
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' if !single => i += 2,
            c if c == q => {
                if single && b.get(i + 1) == Some(&q) {
                    i += 2;
                } else {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// A document with a visit budget, for walks that follow aliases.
pub(crate) struct YamlTree<'d, 's> {
    pub doc: &'d Doc<'s>,
    visits: Cell<usize>,
    budget: usize,
    exhausted: Cell<bool>,
}

impl<'d, 's> YamlTree<'d, 's> {
    pub fn new(doc: &'d Doc<'s>, limits: &Limits) -> YamlTree<'d, 's> {
        // A document without aliases is visited about once per node; aliases may multiply
        // that, up to a bound that no real manifest reaches.
        let budget = limits.max_visits.max(doc.node_count().saturating_mul(4));
        YamlTree {
            doc,
            visits: Cell::new(0),
            budget,
            exhausted: Cell::new(false),
        }
    }

    /// Counts one visit; false once the budget is spent.
    pub fn visit(&self) -> bool {
        let v = self.visits.get() + 1;
        self.visits.set(v);
        if v > self.budget {
            self.exhausted.set(true);
            false
        } else {
            true
        }
    }

    pub fn check_budget(&self) -> Result<(), ExtractError> {
        if self.exhausted.get() {
            let root = self.doc.root().unwrap_or(0);
            return Err(self.doc.error_at(
                root,
                format!(
                    "this document's aliases expand to more than {} nodes (a \"billion laughs\" document?); write the values out",
                    self.budget
                ),
            ));
        }
        Ok(())
    }
}

/// A problem reading the stream.
pub(crate) enum StreamError {
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    Extract(ExtractError),
}

impl From<ExtractError> for StreamError {
    fn from(e: ExtractError) -> StreamError {
        StreamError::Extract(e)
    }
}

/// Character index to byte offset. saphyr counts characters; edits need bytes.
struct ByteMap<'s> {
    src: &'s str,
    /// Byte offset of every STEP-th character; empty for ASCII text (identity).
    checkpoints: Vec<usize>,
}

const STEP: usize = 64;

impl<'s> ByteMap<'s> {
    fn new(src: &'s str) -> ByteMap<'s> {
        let checkpoints = if src.is_ascii() {
            Vec::new()
        } else {
            src.char_indices().step_by(STEP).map(|(b, _)| b).collect()
        };
        ByteMap { src, checkpoints }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.checkpoints.is_empty() {
            return char_index.min(self.src.len());
        }
        let Some(&base) = self.checkpoints.get(char_index / STEP) else {
            return self.src.len();
        };
        let rest = char_index % STEP;
        self.src[base..]
            .char_indices()
            .nth(rest)
            .map(|(b, _)| base + b)
            .unwrap_or(self.src.len())
    }
}

enum Frame {
    Seq {
        id: NodeId,
        items: Vec<NodeId>,
    },
    Map {
        id: NodeId,
        entries: Vec<(NodeId, NodeId)>,
        key: Option<NodeId>,
    },
}

/// Where a chunk of a stream starts: its byte offset and the 0-based line there.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Origin {
    pub byte: usize,
    pub line: usize,
}

/// Parses `src` and calls `each` with every document, one at a time.
#[cfg(test)]
pub(crate) fn for_each_document<'s>(
    src: &'s str,
    limits: &Limits,
    each: impl FnMut(&Doc<'s>) -> Result<(), ExtractError>,
) -> Result<(), StreamError> {
    for_each_document_in(src, Origin::default(), src.len(), limits, each)
}

/// Parses `src[origin.byte..end]` (whole documents) and calls `each` with every document;
/// positions are those in `src`.
pub(crate) fn for_each_document_in<'s>(
    src: &'s str,
    origin: Origin,
    end: usize,
    limits: &Limits,
    mut each: impl FnMut(&Doc<'s>) -> Result<(), ExtractError>,
) -> Result<(), StreamError> {
    let chunk = &src[origin.byte..end];
    let bytes = ByteMap::new(chunk);
    let mut parser = Parser::new_from_str(chunk);
    let mut doc = Doc {
        src,
        nodes: Vec::new(),
        root: None,
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, NodeId> = HashMap::new();
    let mut open: Vec<bool> = Vec::new();
    let mut in_document = false;
    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                let m = e.marker();
                let message = if e.info().contains("recursion limit") {
                    format!("nesting deeper than {} levels", limits.max_depth)
                } else {
                    e.info().to_string()
                };
                return Err(StreamError::Syntax {
                    line: m.line() + origin.line,
                    column: m.col() + 1,
                    message,
                });
            }
        };
        let start = origin.byte + bytes.byte(span.start.index());
        let end = (origin.byte + bytes.byte(span.end.index())).max(start);
        let (line, column) = (span.start.line() + origin.line, span.start.col() + 1);
        let here = Span { start, end };
        let new_node = |doc: &mut Doc<'s>, kind: Kind<'s>| -> Result<NodeId, StreamError> {
            if doc.nodes.len() >= limits.max_nodes {
                return Err(ExtractError::at(
                    line,
                    column,
                    format!(
                        "a document with more than {} YAML nodes; split it",
                        limits.max_nodes
                    ),
                )
                .into());
            }
            doc.nodes.push(Node {
                kind,
                span: here,
                line,
                column,
            });
            Ok((doc.nodes.len() - 1) as NodeId)
        };
        let child = match event {
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart => continue,
            Event::DocumentStart(_) => {
                doc.nodes.clear();
                doc.root = None;
                anchors.clear();
                open.clear();
                stack.clear();
                in_document = true;
                continue;
            }
            Event::DocumentEnd => {
                if in_document {
                    each(&doc)?;
                }
                in_document = false;
                doc.nodes.clear();
                doc.root = None;
                continue;
            }
            Event::Alias(anchor) => {
                let Some(&target) = anchors.get(&anchor) else {
                    return Err(
                        ExtractError::at(line, column, "an alias to an unknown anchor").into(),
                    );
                };
                if open.get(target as usize).copied().unwrap_or(false) {
                    return Err(ExtractError::at(
                        line,
                        column,
                        "a recursive alias (it refers to a node that contains it)",
                    )
                    .into());
                }
                target
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let id = new_node(&mut doc, Kind::Scalar { value, style })?;
                open.push(false);
                if anchor != 0 {
                    anchors.insert(anchor, id);
                }
                id
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= limits.max_depth {
                    return Err(ExtractError::at(
                        line,
                        column,
                        format!("nesting deeper than {} levels", limits.max_depth),
                    )
                    .into());
                }
                let is_seq = matches!(event, Event::SequenceStart(..));
                let id = new_node(
                    &mut doc,
                    if is_seq {
                        Kind::Seq(Vec::new())
                    } else {
                        Kind::Map(Vec::new())
                    },
                )?;
                open.push(true);
                if anchor != 0 {
                    anchors.insert(anchor, id);
                }
                stack.push(if is_seq {
                    Frame::Seq {
                        id,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        id,
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
                let (id, kind) = match frame {
                    Frame::Seq { id, items } => (id, Kind::Seq(items)),
                    Frame::Map { id, entries, .. } => (id, Kind::Map(entries)),
                };
                let node = &mut doc.nodes[id as usize];
                node.kind = kind;
                node.span.end = end.max(node.span.start);
                open[id as usize] = false;
                id
            }
        };
        match stack.last_mut() {
            None => doc.root = Some(child),
            Some(Frame::Seq { items, .. }) => items.push(child),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(child),
                Some(k) => entries.push((k, child)),
            },
        }
    }
    if in_document {
        each(&doc)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalars(src: &str) -> Vec<(String, Site, usize, usize)> {
        let mut out = Vec::new();
        for_each_document(src, &Limits::default(), |doc| {
            for (i, n) in doc.nodes.iter().enumerate() {
                if let Kind::Scalar { value, .. } = &n.kind {
                    out.push((value.to_string(), doc.site(i as NodeId), n.line, n.column));
                }
            }
            Ok(())
        })
        .ok()
        .expect("parses");
        out
    }

    fn text_at(src: &str, site: &Site) -> String {
        match site {
            Site::Text { span } | Site::Quoted { span } => src[span.start..span.end].to_string(),
            Site::Fixed => String::new(),
        }
    }

    #[test]
    fn spans_cover_the_value_text() {
        let src = "a: plain:1 # c\nb: 'single'\nc: \"dou\\u0062le\"\nd: \"é:1\"\ne: [x, \"y\"]\nf: &k !!str anchored\ng: \"q\"   # c\n";
        let got = scalars(src);
        let texts: Vec<_> = got
            .iter()
            .map(|(v, s, _, _)| (v.clone(), text_at(src, s)))
            .collect();
        assert_eq!(
            texts,
            [
                ("a", "a"),
                ("plain:1", "plain:1"),
                ("b", "b"),
                ("single", "single"),
                ("c", "c"),
                ("double", "\"dou\\u0062le\""),
                ("d", "d"),
                ("é:1", "é:1"),
                ("e", "e"),
                ("x", "x"),
                ("y", "y"),
                ("f", "f"),
                ("anchored", "anchored"),
                ("g", "g"),
                ("q", "q"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!((got[1].2, got[1].3), (1, 4));
    }

    #[test]
    fn json_spans() {
        let src = "{\"image\": \"nginx:1\", \"n\": [\"é\", \"b:2\"]}";
        let got = scalars(src);
        assert_eq!(text_at(src, &got[1].1), "nginx:1");
        assert_eq!(text_at(src, &got[4].1), "b:2");
    }

    #[test]
    fn aliases_are_shared_and_recursion_refused() {
        let src = "a: &x v\nb: *x\n";
        let mut n = 0;
        for_each_document(src, &Limits::default(), |doc| {
            n = doc.node_count();
            Ok(())
        })
        .ok()
        .expect("parses");
        assert_eq!(n, 4, "root, 2 keys, 1 value; the alias adds none");
        let recursive = "a: &x [1, *x]\n";
        let r = for_each_document(recursive, &Limits::default(), |_| Ok(()));
        assert!(r.is_err());
    }
}
