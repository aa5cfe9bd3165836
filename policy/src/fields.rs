//! Typed values read out of the YAML tree, each kept with its span: a value of the wrong type,
//! an unknown key or word is a diagnostic and reads as `None`, so the caller goes on to report
//! the rest. Shared by policy files (`schema`) and cases files (`cases`), with the checks of the
//! formats both use (times, digests, key ids).

use crate::diag::{Diagnostic, Span};
use crate::time::Timestamp;
use crate::util::did_you_mean;
use crate::yaml::{Kind, Node, ScalarType};

/// A value with the place it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sp<T> {
    pub value: T,
    pub span: Span,
}

/// A mapping's entries, with unknown keys reported once on construction.
pub(crate) struct Fields<'n> {
    entries: &'n [(Node, Node)],
}

impl<'n> Fields<'n> {
    pub(crate) fn new(
        entries: &'n [(Node, Node)],
        allowed: &[&str],
        what: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Fields<'n> {
        for (k, _) in entries {
            let Some(name) = k.as_str() else {
                key_string(k, diags);
                continue;
            };
            if !allowed.contains(&name) {
                let hint = match did_you_mean(name, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("expected one of: {}", allowed.join(", ")),
                };
                diags.push(
                    Diagnostic::new(
                        "unknown-key",
                        k.span,
                        format!("unknown key `{name}` in {what}"),
                    )
                    .with_label("unknown key")
                    .with_hint(hint),
                );
            }
        }
        Fields { entries }
    }

    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The value of an optional key; `null` counts as absent.
    pub(crate) fn optional(&self, key: &str) -> Option<&'n Node> {
        self.get(key).filter(|n| !n.is_null())
    }

    /// The value of a required key, or a `missing-key` error at the mapping.
    pub(crate) fn required(
        &self,
        key: &str,
        map_span: Span,
        what: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<&'n Node> {
        let node = self.get(key);
        if node.is_none() {
            diags.push(
                Diagnostic::new("missing-key", map_span, format!("{what} has no `{key}`"))
                    .with_label(format!("`{key}` is required here")),
            );
        }
        node
    }
}

pub(crate) fn wrong_type(node: &Node, expected: &str, what: &str, diags: &mut Vec<Diagnostic>) {
    let found = node.type_name();
    let hint = (expected.contains("string") && matches!(node.kind, Kind::Scalar { .. }))
        .then(|| format!("quote it: \"{}\"", node.scalar_text().unwrap_or_default()));
    diags.push(
        Diagnostic::new(
            "wrong-type",
            node.span,
            format!("{what} must be {expected}, found {found}"),
        )
        .with_label(format!("expected {expected}"))
        .with_hint_opt(hint),
    );
}

pub(crate) fn expect_map<'n>(
    node: &'n Node,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'n [(Node, Node)]> {
    match &node.kind {
        Kind::Map(entries) => Some(entries),
        _ => {
            wrong_type(node, "a mapping", what, diags);
            None
        }
    }
}

pub(crate) fn expect_seq<'n>(
    node: &'n Node,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'n [Node]> {
    match &node.kind {
        Kind::Seq(items) => Some(items),
        _ => {
            wrong_type(node, "a list", what, diags);
            None
        }
    }
}

pub(crate) fn string(node: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Sp<String>> {
    match node.as_str() {
        Some(s) => Some(Sp {
            value: s.to_string(),
            span: node.span,
        }),
        None => {
            wrong_type(node, "a string", what, diags);
            None
        }
    }
}

/// `true` or `false`.
pub(crate) fn boolean(node: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Sp<bool>> {
    match (node.scalar_type(), node.scalar_text()) {
        (ScalarType::Bool, Some(t)) => Some(Sp {
            value: t.eq_ignore_ascii_case("true"),
            span: node.span,
        }),
        _ => {
            wrong_type(node, "a boolean (`true` or `false`)", what, diags);
            None
        }
    }
}

/// A mapping key, which must be a string.
pub(crate) fn key_string(node: &Node, diags: &mut Vec<Diagnostic>) -> Option<Sp<String>> {
    string(node, "a mapping key", diags)
}

/// A list of strings; items of another type are reported and dropped.
pub(crate) fn string_list(
    node: &Node,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Sp<Vec<Sp<String>>>> {
    let items = expect_seq(node, what, diags)?;
    let item_what = format!("an entry of {what}");
    Some(Sp {
        value: items
            .iter()
            .filter_map(|n| string(n, &item_what, diags))
            .collect(),
        span: node.span,
    })
}

/// A mapping from strings to strings.
pub(crate) fn string_map(
    node: &Node,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(Sp<String>, Sp<String>)> {
    let Some(entries) = expect_map(node, what, diags) else {
        return Vec::new();
    };
    let value_what = format!("a value in {what}");
    entries
        .iter()
        .filter_map(|(k, v)| {
            let k = key_string(k, diags)?;
            let v = string(v, &value_what, diags)?;
            Some((k, v))
        })
        .collect()
}

/// One of a fixed set of words.
pub(crate) fn word<T: Copy>(
    node: &Node,
    what: &str,
    choices: &[(&str, T)],
    diags: &mut Vec<Diagnostic>,
) -> Option<Sp<T>> {
    let s = string(node, what, diags)?;
    if let Some((_, v)) = choices.iter().find(|(w, _)| *w == s.value) {
        return Some(Sp {
            value: *v,
            span: s.span,
        });
    }
    let names: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
    let hint =
        did_you_mean(&s.value, names.iter().copied()).map(|m| format!("did you mean `{m}`?"));
    diags.push(
        Diagnostic::new(
            "unknown-value",
            s.span,
            format!(
                "{what} must be one of {}, not \"{}\"",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                s.value
            ),
        )
        .with_label("unknown value")
        .with_hint_opt(hint),
    );
    None
}

/// An RFC 3339 time, or a `bad-timestamp` error.
pub(crate) fn timestamp(value: &Sp<String>, diags: &mut Vec<Diagnostic>) -> Option<Timestamp> {
    match Timestamp::parse_rfc3339(&value.value) {
        Ok(t) => Some(t),
        Err(e) => {
            diags.push(
                Diagnostic::new("bad-timestamp", value.span, e.to_string())
                    .with_label("not RFC 3339")
                    .with_hint("write e.g. 2026-01-01T00:00:00Z"),
            );
            None
        }
    }
}

/// The `bad-digest` error for a value that is not `sha256:` and 64 lowercase hex digits.
pub(crate) fn not_a_digest(value: &Sp<String>) -> Diagnostic {
    Diagnostic::new(
        "bad-digest",
        value.span,
        format!("\"{}\" is not a digest", value.value),
    )
    .with_label("expected sha256: and 64 lowercase hex digits")
}

/// The `bad-key-id` error for a value that is not 64 lowercase hex digits.
pub(crate) fn not_a_key_id(value: &Sp<String>) -> Diagnostic {
    Diagnostic::new(
        "bad-key-id",
        value.span,
        format!("\"{}\" is not a key id", value.value),
    )
    .with_label("expected 64 lowercase hex digits")
}
