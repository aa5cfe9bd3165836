//! Diagnostics: every problem found in a policy or cases file, with its place in the source,
//! and a rustc-style renderer.

use serde::Serialize;
use std::fmt::Write as _;

/// A place in a source file: a byte range plus the 1-based line and column (in characters)
/// of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// 1-based column of `start`, counted in characters.
    pub col: usize,
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The policy is refused.
    Error,
    /// The policy is accepted, but probably not what was meant.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A secondary place shown with a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there.
    pub message: String,
}

/// One problem found in a policy or cases file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning; each code always has the same severity (see [`CODES`]).
    pub severity: Severity,
    /// Stable kebab-case code, documented in `docs/policy.md`.
    pub code: &'static str,
    /// One sentence.
    pub message: String,
    /// The primary place.
    pub span: Span,
    /// Text shown under the primary place (may be empty).
    pub label: String,
    /// Secondary places.
    pub labels: Vec<Label>,
    /// How to fix it, when there is an obvious way.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic whose severity is the one registered for `code` in [`CODES`].
    pub fn new(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: severity_of(code),
            code,
            message: message.into(),
            span,
            label: String::new(),
            labels: Vec::new(),
            hint: None,
        }
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Sets the text under the primary place.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    /// Adds a secondary place.
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Sets the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the hint when there is one.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }
}

/// A list of diagnostics, errors and warnings mixed, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(transparent)]
#[error("{}", summary(&self.0))]
pub struct Diagnostics(pub Vec<Diagnostic>);

fn summary(diags: &[Diagnostic]) -> String {
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

impl Diagnostics {
    /// True when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// The number of errors.
    pub fn error_count(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// The number of warnings.
    pub fn warning_count(&self) -> usize {
        self.0.len() - self.error_count()
    }

    /// `N errors, M warnings`.
    pub fn summary(&self) -> String {
        summary(&self.0)
    }

    /// Sorts by position, then code, so output never depends on the order checks ran in.
    pub(crate) fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (a.span.start, a.code).cmp(&(b.span.start, b.code)));
    }
}

impl std::ops::Deref for Diagnostics {
    type Target = [Diagnostic];
    fn deref(&self) -> &[Diagnostic] {
        &self.0
    }
}

/// A diagnostic code and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CodeInfo {
    /// The stable code.
    pub code: &'static str,
    /// Its fixed severity.
    pub severity: Severity,
    /// One line saying when it is reported.
    pub summary: &'static str,
}

const fn code(code: &'static str, severity: Severity, summary: &'static str) -> CodeInfo {
    CodeInfo {
        code,
        severity,
        summary,
    }
}

use Severity::{Error as E, Warning as W};

/// Every diagnostic code this crate can report.
pub const CODES: &[CodeInfo] = &[
    code("too-large", E, "the file is larger than 4 MiB"),
    code(
        "too-deep",
        E,
        "mappings and lists are nested more than 64 deep",
    ),
    code("yaml-syntax", E, "the file is not valid YAML (or JSON)"),
    code(
        "yaml-anchor",
        E,
        "anchors (`&a`) and aliases (`*a`) are not allowed",
    ),
    code("yaml-tag", E, "tags (`!!str`, `!foo`) are not allowed"),
    code(
        "multiple-documents",
        E,
        "the file holds more than one YAML document",
    ),
    code("empty-document", E, "the file holds no document"),
    code("duplicate-key", E, "a mapping has the same key twice"),
    code(
        "unknown-key",
        E,
        "a mapping has a key the format does not define",
    ),
    code("missing-key", E, "a required key is absent"),
    code("wrong-type", E, "a value has the wrong type"),
    code(
        "unknown-value",
        E,
        "a value is not one of the allowed words",
    ),
    code("unsupported-version", E, "`version` is not 1"),
    code(
        "bad-name",
        E,
        "a signer or rule name is empty or has forbidden characters",
    ),
    code("duplicate-rule", E, "two rules have the same name"),
    code("empty-list", E, "a list that must have entries is empty"),
    code(
        "bad-key",
        E,
        "a key file could not be read or is not a public key",
    ),
    code("bad-timestamp", E, "a time is not RFC 3339"),
    code(
        "empty-window",
        E,
        "`not_before` is not earlier than `not_after`",
    ),
    code(
        "unknown-signer",
        E,
        "a rule or case names a signer that is not defined",
    ),
    code("bad-threshold", E, "`threshold` is below 1"),
    code(
        "unknown-predicate-type",
        E,
        "an attestation `type` is neither a shorthand nor a URI",
    ),
    code("bad-max-age", E, "an attestation `max_age` is not an age"),
    code(
        "bad-condition",
        E,
        "an attestation `condition` is not a CEL expression vouch can evaluate",
    ),
    code(
        "threshold-too-high",
        E,
        "`threshold` is above the number of distinct signers listed",
    ),
    code(
        "bad-glob",
        E,
        "an image pattern is malformed or can never match",
    ),
    code(
        "bad-digest",
        E,
        "a digest is not `sha256:` and 64 lowercase hex digits",
    ),
    code(
        "bad-key-id",
        E,
        "a revoked key is not 64 lowercase hex digits",
    ),
    code(
        "missing-requirement",
        E,
        "a rule has neither `require` nor `allow`",
    ),
    code(
        "allow-with-require",
        E,
        "a rule has both `require` and `allow`",
    ),
    code(
        "pinned-without-digests",
        E,
        "`allow: pinned` without a `digests` list",
    ),
    code(
        "ambiguous-rules",
        E,
        "two rules match some image with equal specificity",
    ),
    code(
        "analysis-limit",
        E,
        "the overlap between patterns is too complex to decide",
    ),
    code(
        "bad-regex",
        E,
        "a keyless `subject_regex` does not compile or is too large",
    ),
    code("bad-issuer", E, "a keyless `issuer` is not an http(s) URL"),
    code(
        "bad-subject",
        E,
        "a keyless `subject` is empty or has spaces around it",
    ),
    code(
        "subject-conflict",
        E,
        "a keyless identity gives both `subject` and `subject_regex`",
    ),
    code(
        "bad-trusted-root",
        E,
        "`trusted_root` could not be read or is not a trusted root",
    ),
    code(
        "bad-namespace",
        E,
        "an exempt namespace is not a Kubernetes namespace name",
    ),
    code("bad-reference", E, "a case's image reference was refused"),
    code(
        "unknown-rule",
        E,
        "a case expects a rule that is not defined",
    ),
    code(
        "unreachable-rule",
        W,
        "more specific rules win on every image this rule matches",
    ),
    code("unused-signer", W, "a signer is not required by any rule"),
    code("shared-key", W, "the same key is listed under two signers"),
    code("duplicate-entry", W, "a list names the same entry twice"),
    code(
        "no-rules",
        W,
        "the policy has no rules: `default` decides every image",
    ),
];

fn severity_of(code: &str) -> Severity {
    CODES
        .iter()
        .find(|c| c.code == code)
        .map(|c| c.severity)
        // Unregistered codes are a bug caught by the crate's tests; failing loud beats a wrong severity.
        .unwrap_or(Severity::Error)
}

/// Renders diagnostics like rustc:
///
/// ```text
/// policy.yaml:12:18: error[unknown-signer]: rule "production" requires signer "relase-ci", which is not defined
///    |
/// 12 |       signers: [relase-ci, security-team]
///    |                 ^^^^^^^^^ not defined under `signers`
///    = hint: did you mean "release-ci"?
/// ```
///
/// Diagnostics are separated by a blank line.
pub fn render(diags: &[Diagnostic], source: &str, file_name: &str) -> String {
    let lines: Vec<&str> = source.split('\n').collect();
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_one(&mut out, d, source, &lines, file_name);
    }
    out
}

fn render_one(out: &mut String, d: &Diagnostic, source: &str, lines: &[&str], file_name: &str) {
    let _ = writeln!(
        out,
        "{file_name}:{}:{}: {}[{}]: {}",
        d.span.line,
        d.span.col,
        d.severity.as_str(),
        d.code,
        d.message
    );
    // Primary first, then secondaries, shown in line order.
    let mut marks: Vec<(Span, char, &str)> = vec![(d.span, '^', d.label.as_str())];
    marks.extend(d.labels.iter().map(|l| (l.span, '-', l.message.as_str())));
    marks.sort_by_key(|m| (m.0.line, m.0.col));
    let width = marks
        .iter()
        .map(|m| m.0.line.to_string().len())
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(width);
    let _ = writeln!(out, "{pad} |");
    let mut last_line = 0;
    for (span, mark, text) in marks {
        let Some(line_text) = span.line.checked_sub(1).and_then(|i| lines.get(i)) else {
            continue;
        };
        let shown = line_text.trim_end_matches('\r').replace('\t', " ");
        if span.line != last_line {
            if last_line != 0 && span.line > last_line + 1 {
                let _ = writeln!(out, "{pad} :");
            }
            let _ = writeln!(out, "{:>width$} | {shown}", span.line);
            last_line = span.line;
        }
        let line_chars = shown.chars().count();
        let start_col = span.col.max(1);
        let span_chars = source
            .get(span.start..span.end.min(source.len()))
            .unwrap_or("")
            .split('\n')
            .next()
            .unwrap_or("")
            .trim_end_matches('\r')
            .chars()
            .count();
        let available = line_chars.saturating_sub(start_col - 1);
        let n = span_chars.min(available).max(1);
        let underline = mark.to_string().repeat(n);
        let lead = " ".repeat(start_col - 1);
        if text.is_empty() {
            let _ = writeln!(out, "{pad} | {lead}{underline}");
        } else {
            let _ = writeln!(out, "{pad} | {lead}{underline} {text}");
        }
    }
    if let Some(hint) = &d.hint {
        let _ = writeln!(out, "{pad} = hint: {hint}");
    }
}
