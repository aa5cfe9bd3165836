//! Dockerfiles: the images a build pulls. Every `FROM` (with `--platform`), `COPY --from=`
//! and `RUN --mount=from=` that names an image rather than an earlier stage (by alias or
//! index) or `scratch`.
//!
//! Written by hand because no maintained Rust crate parses Dockerfiles with BuildKit's rules
//! and byte positions. What it follows: parser directives (`# escape=`), line continuations,
//! comment lines inside continuations, heredocs (`<<EOF` bodies are skipped), case-insensitive
//! instructions, and BuildKit's variable scopes: a `FROM` sees only `ARG`s declared before the
//! first `FROM` (and `--build-arg` overrides of them); `COPY --from` and `RUN --mount=from`
//! see the stage's own `ARG`s and `ENV`s, where `ARG NAME` without a default inherits the
//! global one. A variable without a value in an image position is an error.

use std::collections::BTreeMap;

use crate::interpolate::{self, Dialect, Failure};
use crate::model::{ExtractError, Extraction, Finding, Format, Options, Site, Span};

/// Whether a file name says Dockerfile: `Dockerfile`, `Containerfile`, `*.Dockerfile`,
/// `Dockerfile.*`, `*.dockerfile`.
pub fn is_dockerfile_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "dockerfile"
        || lower == "containerfile"
        || lower.ends_with(".dockerfile")
        || lower.ends_with(".containerfile")
        || lower.starts_with("dockerfile.")
        || lower.starts_with("containerfile.")
}

/// Platform arguments BuildKit sets per build; they have no value until given.
const AUTOMATIC_ARGS: &[&str] = &[
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// Whether the first instruction (past comments and blank lines) is `FROM` or `ARG`.
pub(crate) fn looks_like_dockerfile(text: &str) -> bool {
    for line in text.lines().take(10_000) {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let word: String = t.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        let after = t[word.len()..].chars().next();
        return (word.eq_ignore_ascii_case("FROM") || word.eq_ignore_ascii_case("ARG"))
            && after.is_some_and(char::is_whitespace);
    }
    false
}

/// A physical line: its text (no line terminator) and where it starts.
struct Line<'a> {
    text: &'a str,
    start: usize,
}

/// A stretch of an instruction's text and where it sits in the file.
struct Piece {
    at: usize,
    file: usize,
    len: usize,
}

/// One instruction, continuations joined.
struct Instruction {
    text: String,
    pieces: Vec<Piece>,
}

impl Instruction {
    /// The file byte range of `range` in the instruction text, when contiguous there.
    fn file_span(&self, start: usize, end: usize) -> Option<Span> {
        let piece = self
            .pieces
            .iter()
            .find(|p| p.at <= start && start < p.at + p.len.max(1))?;
        if end > piece.at + piece.len {
            return None;
        }
        Some(Span {
            start: piece.file + (start - piece.at),
            end: piece.file + (end - piece.at),
        })
    }

    fn file_offset(&self, pos: usize) -> usize {
        self.pieces
            .iter()
            .rev()
            .find(|p| p.at <= pos)
            .map(|p| p.file + (pos - p.at).min(p.len))
            .unwrap_or(0)
    }
}

/// A whitespace-separated word of an instruction (quotes keep spaces in).
struct Word {
    start: usize,
    end: usize,
}

fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, start) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, _) if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    out.push(Word { start: s, end: i });
                }
            }
            (None, s) => {
                if s.is_none() {
                    start = Some(i);
                }
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if let Some(s) = start {
        out.push(Word {
            start: s,
            end: text.len(),
        });
    }
    out
}

struct Scanner<'a> {
    src: &'a str,
    lines: Vec<Line<'a>>,
    next: usize,
    escape: char,
}

impl<'a> Scanner<'a> {
    fn new(src: &'a str) -> Scanner<'a> {
        let mut lines = Vec::new();
        let mut start = 0;
        for piece in src.split_inclusive('\n') {
            let text = piece.strip_suffix('\n').unwrap_or(piece);
            let text = text.strip_suffix('\r').unwrap_or(text);
            lines.push(Line { text, start });
            start += piece.len();
        }
        let mut scanner = Scanner {
            src,
            lines,
            next: 0,
            escape: '\\',
        };
        scanner.directives();
        scanner
    }

    /// Parser directives: `# name=value` lines at the very top.
    fn directives(&mut self) {
        while let Some(line) = self.lines.get(self.next) {
            let Some(body) = line.text.trim().strip_prefix('#') else {
                return;
            };
            let Some((name, value)) = body.split_once('=') else {
                return;
            };
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return;
            }
            if name == "escape" {
                match value.trim() {
                    "`" => self.escape = '`',
                    _ => self.escape = '\\',
                }
            }
            self.next += 1;
        }
    }

    fn is_skippable(text: &str) -> bool {
        let t = text.trim_start();
        t.is_empty() || t.starts_with('#')
    }

    /// The next instruction and its 1-based first line, or None at the end.
    fn instruction(&mut self) -> Option<(Instruction, usize)> {
        while self.next < self.lines.len() && Self::is_skippable(self.lines[self.next].text) {
            self.next += 1;
        }
        let first = self.next;
        if first >= self.lines.len() {
            return None;
        }
        let mut ins = Instruction {
            text: String::new(),
            pieces: Vec::new(),
        };
        loop {
            let line = &self.lines[self.next];
            self.next += 1;
            let trimmed = line.text.trim_end();
            let continued = trimmed.ends_with(self.escape);
            let content = if continued {
                &trimmed[..trimmed.len() - self.escape.len_utf8()]
            } else {
                line.text
            };
            ins.pieces.push(Piece {
                at: ins.text.len(),
                file: line.start,
                len: content.len(),
            });
            ins.text.push_str(content);
            if !continued {
                break;
            }
            // Comment and blank lines inside a continuation are dropped.
            while self.next < self.lines.len() && Self::is_skippable(self.lines[self.next].text) {
                self.next += 1;
            }
            if self.next >= self.lines.len() {
                break;
            }
            ins.text.push(' ');
        }
        Some((ins, first + 1))
    }

    /// Skips the bodies of the heredocs `text` opens.
    fn skip_heredocs(&mut self, text: &str) {
        for (word, strip_tabs) in heredoc_words(text) {
            while self.next < self.lines.len() {
                let line = self.lines[self.next].text;
                self.next += 1;
                let line = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                if line == word {
                    break;
                }
            }
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let index = self
            .lines
            .partition_point(|l| l.start <= offset)
            .saturating_sub(1);
        let line = &self.lines[index.min(self.lines.len().saturating_sub(1))];
        let col = self.src[line.start..offset.max(line.start)].chars().count() + 1;
        (index + 1, col)
    }
}

/// The heredoc delimiters an instruction opens: `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`.
fn heredoc_words(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(found) = text[i..].find("<<") {
        let mut j = i + found + 2;
        i = j;
        if bytes.get(j) == Some(&b'<') {
            i = j + 1;
            continue;
        }
        let strip_tabs = bytes.get(j) == Some(&b'-');
        if strip_tabs {
            j += 1;
        }
        let quote = match bytes.get(j) {
            Some(b'"') | Some(b'\'') => {
                j += 1;
                Some(bytes[j - 1])
            }
            _ => None,
        };
        let start = j;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        if j == start {
            continue;
        }
        if let Some(q) = quote
            && bytes.get(j) != Some(&q)
        {
            continue;
        }
        out.push((text[start..j].to_string(), strip_tabs));
        i = j;
    }
    out
}

/// A variable's value and, for a literal `ARG` default in this file, where it is written.
#[derive(Clone)]
struct Var {
    value: Option<String>,
    site: Option<Site>,
}

struct Stage {
    /// The stage's index, then its alias if it has one.
    names: Vec<String>,
    args: BTreeMap<String, Var>,
    env: BTreeMap<String, String>,
}

pub(crate) fn extract(text: &str, options: &Options) -> Result<Extraction, ExtractError> {
    let limits = &options.limits;
    let mut scanner = Scanner::new(text);
    let escape = scanner.escape;
    let dialect = Dialect::Dockerfile { escape };
    let mut global: BTreeMap<String, Var> = BTreeMap::new();
    let mut arg_count = 0usize;
    let mut stages: Vec<Stage> = Vec::new();
    let mut findings = Vec::new();
    // What FROM and --from words named stages or scratch, as written: an ARG they mention
    // must not be pinned at its default.
    let mut not_images: Vec<String> = Vec::new();
    while let Some((ins, _line)) = scanner.instruction() {
        let ws = words(&ins.text);
        let Some(first) = ws.first() else {
            continue;
        };
        let keyword = ins.text[first.start..first.end].to_ascii_uppercase();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            scanner.skip_heredocs(&ins.text);
        }
        let args = &ws[1..];
        let word = |w: &Word| &ins.text[w.start..w.end];
        let error = |pos: usize, message: String| {
            let (l, c) = scanner.line_col(ins.file_offset(pos));
            ExtractError::at(l, c, message)
        };
        match keyword.as_str() {
            "ARG" => {
                if args.is_empty() {
                    return Err(error(first.start, "ARG needs a name".into()));
                }
                for w in args {
                    arg_count += 1;
                    if arg_count > limits.max_args {
                        return Err(error(
                            w.start,
                            format!("more than {} ARG names in one Dockerfile", limits.max_args),
                        ));
                    }
                    let raw = word(w);
                    let (name, default) = match raw.split_once('=') {
                        Some((n, d)) => (n, Some((d, w.start + n.len() + 1))),
                        None => (raw, None),
                    };
                    if name.is_empty()
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(error(w.start, format!("invalid ARG name {name:?}")));
                    }
                    let scope_lookup = |n: &str| -> Option<String> {
                        match stages.last() {
                            None => global.get(n).and_then(|v| v.value.clone()),
                            Some(s) => s
                                .env
                                .get(n)
                                .cloned()
                                .or_else(|| s.args.get(n).and_then(|v| v.value.clone())),
                        }
                    };
                    let var = if let Some(v) = options.build_args.get(name) {
                        Var {
                            value: Some(v.clone()),
                            site: None,
                        }
                    } else if let Some((d, at)) = default {
                        let (value, literal) =
                            arg_default(d, dialect, &scope_lookup, limits.max_interpolated_bytes)
                                .map_err(|f| error(at, describe(&f, "ARG default")))?;
                        let site = literal.then(|| {
                            let (s, e) = unquoted_range(d);
                            ins.file_span(at + s, at + e)
                                .map(|span| Site::Text { span })
                        });
                        Var {
                            value: Some(value),
                            site: site.flatten(),
                        }
                    } else {
                        match stages.last() {
                            // A stage's bare `ARG NAME` takes the global default.
                            Some(_) => global.get(name).cloned().unwrap_or(Var {
                                value: None,
                                site: None,
                            }),
                            None => Var {
                                value: None,
                                site: None,
                            },
                        }
                    };
                    match stages.last_mut() {
                        None => {
                            global.insert(name.to_string(), var);
                        }
                        Some(s) => {
                            s.args.insert(name.to_string(), var);
                        }
                    }
                }
            }
            "ENV" => {
                let Some(stage) = stages.last_mut() else {
                    continue;
                };
                if let [only_name, rest @ ..] = args
                    && !word(only_name).contains('=')
                {
                    // The legacy `ENV NAME value` form.
                    let value = rest
                        .first()
                        .map(|r| ins.text[r.start..].trim())
                        .unwrap_or("");
                    stage
                        .env
                        .insert(word(only_name).to_string(), value.to_string());
                    continue;
                }
                for w in args {
                    if let Some((n, v)) = word(w).split_once('=') {
                        let (s, e) = unquoted_range(v);
                        stage.env.insert(n.to_string(), v[s..e].to_string());
                    }
                }
            }
            "FROM" => {
                let mut platform = None;
                let mut rest = args;
                while let Some((w, tail)) = rest.split_first() {
                    let text = word(w);
                    if !text.starts_with("--") {
                        break;
                    }
                    match text.split_once('=') {
                        Some(("--platform", p)) => {
                            let lookup = |n: &str| global_value(&global, options, n);
                            platform = Some(
                                interpolate::interpolate(
                                    p,
                                    dialect,
                                    &lookup,
                                    limits.max_interpolated_bytes,
                                )
                                .unwrap_or_else(|_| p.to_string()),
                            );
                        }
                        _ => {
                            return Err(error(
                                w.start,
                                format!("unknown FROM flag {text:?} (FROM takes --platform=…)"),
                            ));
                        }
                    }
                    rest = tail;
                }
                let Some((image_word, tail)) = rest.split_first() else {
                    return Err(error(first.end, "FROM needs an image".into()));
                };
                let alias = match tail {
                    [] => None,
                    [as_word, name] if word(as_word).eq_ignore_ascii_case("as") => {
                        Some(word(name).to_ascii_lowercase())
                    }
                    _ => {
                        return Err(error(
                            tail[0].start,
                            "expected `FROM [--platform=…] IMAGE [AS NAME]`".into(),
                        ));
                    }
                };
                let raw = word(image_word);
                let lookup = |n: &str| global_value(&global, options, n);
                let image =
                    interpolate::interpolate(raw, dialect, &lookup, limits.max_interpolated_bytes)
                        .map_err(|f| error(image_word.start, describe(&f, "FROM")))?;
                let index = stages.len();
                // FROM names earlier stages by alias only; a number is an image name here
                // (only `COPY --from` counts stages by index).
                let known_stage = stages.iter().any(|s| {
                    s.names
                        .iter()
                        .skip(1)
                        .any(|n| n.eq_ignore_ascii_case(&image))
                });
                if image.eq_ignore_ascii_case("scratch") || known_stage {
                    not_images.push(raw.to_string());
                } else {
                    let site = ins
                        .file_span(image_word.start, image_word.end)
                        .map(|span| Site::Text { span })
                        .unwrap_or(Site::Fixed);
                    findings.push(finding(
                        &scanner,
                        &ins,
                        image_word.start,
                        raw,
                        image,
                        "dockerfile-from",
                        alias.clone().unwrap_or_else(|| index.to_string()),
                        platform,
                        site,
                    ));
                }
                let mut names = vec![index.to_string()];
                names.extend(alias);
                stages.push(Stage {
                    names,
                    args: BTreeMap::new(),
                    env: BTreeMap::new(),
                });
            }
            "COPY" | "RUN" => {
                let Some(stage) = stages.last() else {
                    continue;
                };
                let stage_name = stage.names.last().cloned().unwrap_or_default();
                for w in args {
                    let text = word(w);
                    if !text.starts_with("--") {
                        break;
                    }
                    let sources: Vec<(usize, usize, &'static str)> = if keyword == "COPY" {
                        match text.strip_prefix("--from=") {
                            Some(v) => vec![(w.start + 7, v.len(), "dockerfile-copy-from")],
                            None => Vec::new(),
                        }
                    } else {
                        match text.strip_prefix("--mount=") {
                            Some(v) => mount_from(v)
                                .into_iter()
                                .map(|(s, l)| (w.start + 8 + s, l, "dockerfile-mount-from"))
                                .collect(),
                            None => Vec::new(),
                        }
                    };
                    for (start, len, kind) in sources {
                        let raw = &ins.text[start..start + len];
                        let lookup = |n: &str| {
                            stage
                                .env
                                .get(n)
                                .cloned()
                                .or_else(|| stage.args.get(n).and_then(|v| v.value.clone()))
                        };
                        let value = interpolate::interpolate(
                            raw,
                            dialect,
                            &lookup,
                            limits.max_interpolated_bytes,
                        )
                        .map_err(|f| error(start, describe(&f, "--from")))?;
                        let is_stage = value.bytes().all(|b| b.is_ascii_digit())
                            || stages
                                .iter()
                                .any(|s| s.names.iter().any(|n| n.eq_ignore_ascii_case(&value)));
                        if is_stage || value.eq_ignore_ascii_case("scratch") {
                            not_images.push(raw.to_string());
                            continue;
                        }
                        let site = ins
                            .file_span(start, start + len)
                            .map(|span| Site::Text { span })
                            .unwrap_or(Site::Fixed);
                        findings.push(finding(
                            &scanner,
                            &ins,
                            start,
                            raw,
                            value,
                            kind,
                            stage_name.clone(),
                            None,
                            site,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if stages.is_empty() {
        return Err(ExtractError::NotRecognized(
            "a Dockerfile without FROM".into(),
        ));
    }
    pin_at_arg_defaults(&mut findings, &global, &not_images);
    Ok(Extraction {
        format: Format::Dockerfile,
        findings,
        notes: Vec::new(),
    })
}

#[allow(clippy::too_many_arguments)]
fn finding(
    scanner: &Scanner<'_>,
    ins: &Instruction,
    pos: usize,
    raw: &str,
    image: String,
    kind: &str,
    stage: String,
    platform: Option<String>,
    site: Site,
) -> Finding {
    let (line, column) = scanner.line_col(ins.file_offset(pos));
    Finding {
        written: (raw != image).then(|| raw.to_string()),
        image,
        line,
        column,
        kind: kind.into(),
        name: None,
        namespace: None,
        container: None,
        field: None,
        path: None,
        stage: Some(stage),
        platform,
        site,
    }
}

/// A global ARG's value for a FROM line: `--build-arg` first, then the default.
fn global_value(global: &BTreeMap<String, Var>, options: &Options, name: &str) -> Option<String> {
    match global.get(name) {
        Some(v) => v.value.clone(),
        None if AUTOMATIC_ARGS.contains(&name) => options.build_args.get(name).cloned(),
        None => None,
    }
}

/// Where a global `ARG` with a literal default names whole images (`ARG BASE=alpine:3.20`,
/// `FROM $BASE`), those references are pinned at the default, as `--build-arg` overrides
/// expect; but only when every image that uses the variable is exactly it, with the default's
/// value, and no stage reference uses it (otherwise a digest there would also land inside the
/// other references, or turn a stage name into an image).
fn pin_at_arg_defaults(
    findings: &mut [Finding],
    global: &BTreeMap<String, Var>,
    not_images: &[String],
) {
    for (name, var) in global {
        let (Some(site), Some(value)) = (&var.site, &var.value) else {
            continue;
        };
        if not_images.iter().any(|w| mentions(w, name)) {
            continue;
        }
        let uses: Vec<usize> = findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.written.as_deref().is_some_and(|w| mentions(w, name)))
            .map(|(i, _)| i)
            .collect();
        let whole = uses.iter().all(|&i| {
            let f = &findings[i];
            f.written.as_deref().and_then(single_variable) == Some(name.as_str())
                && &f.image == value
        });
        if uses.is_empty() || !whole {
            continue;
        }
        for i in uses {
            findings[i].site = site.clone();
        }
    }
}

/// Whether `text` refers to the variable `name` (`$name`, `${name}`, `${name:-…}`…).
fn mentions(text: &str, name: &str) -> bool {
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let body = rest.strip_prefix('{').unwrap_or(rest);
        if let Some(after) = body.strip_prefix(name)
            && !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            return true;
        }
    }
    false
}

/// `$NAME` or `${NAME}` alone: the variable's name.
fn single_variable(raw: &str) -> Option<&str> {
    let name = raw
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .or_else(|| raw.strip_prefix('$'))?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name)
}

/// The range of a value inside its quotes, if quoted.
fn unquoted_range(v: &str) -> (usize, usize) {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        (1, v.len() - 1)
    } else {
        (0, v.len())
    }
}

/// An ARG default's value, and whether it is literal text (no variables, no escapes).
fn arg_default(
    d: &str,
    dialect: Dialect,
    lookup: &dyn Fn(&str) -> Option<String>,
    max: usize,
) -> Result<(String, bool), Failure> {
    let b = d.as_bytes();
    if b.len() >= 2 && b[0] == b'\'' && b[b.len() - 1] == b'\'' {
        return Ok((d[1..d.len() - 1].to_string(), true));
    }
    let (s, e) = unquoted_range(d);
    let inner = &d[s..e];
    let literal = !inner.contains('$') && !inner.contains('\\') && !inner.contains('`');
    Ok((
        interpolate::interpolate(inner, dialect, lookup, max)?,
        literal,
    ))
}

/// The `from=` value of a `--mount` option list: (offset, length).
fn mount_from(v: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for part in v.split(',') {
        if let Some(value) = part.strip_prefix("from=") {
            let (s, e) = unquoted_range(value);
            out.push((offset + 5 + s, e - s));
        }
        offset += part.len() + 1;
    }
    out
}

fn describe(f: &Failure, what: &str) -> String {
    match f {
        Failure::Unset(name) if AUTOMATIC_ARGS.contains(&name.as_str()) => {
            format!("{what} uses {name}, which BuildKit sets per build: pass --build-arg {name}=…")
        }
        Failure::Unset(name) => format!(
            "{what} uses ${name}, which has no value here: declare `ARG {name}=…` before the first FROM, or pass --build-arg {name}=…"
        ),
        Failure::Required(name, message) => {
            format!("{what}: required ARG {name} is missing: {message}")
        }
        Failure::Syntax(s) => format!("{what}: invalid variable syntax: {s}"),
        Failure::TooLong(max) => {
            format!("{what}: a value longer than {max} bytes after substitution")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(
        src: &str,
        build_args: &[(&str, &str)],
    ) -> Vec<(String, String, usize, Option<String>)> {
        let options = Options {
            build_args: build_args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Options::default()
        };
        extract(src, &options)
            .expect("extracts")
            .findings
            .into_iter()
            .map(|f| (f.image, f.kind, f.line, f.stage))
            .collect()
    }

    #[test]
    fn stages_scratch_and_copy_from() {
        let src = "# syntax=docker/dockerfile:1\nARG GO=1.22\nARG BASE=alpine:3.20\nFROM --platform=$BUILDPLATFORM golang:${GO} AS Build\nARG GO\nRUN --mount=type=cache,target=/c \\\n    --mount=type=bind,from=ghcr.io/acme/tools:2,source=/t,target=/t go build\nFROM build AS test\nFROM ${BASE}\nCOPY --from=build /app /app\nCOPY --from=0 /a /a\nCOPY --from=docker.io/library/busybox:1.36 /bin/sh /sh\nFROM scratch\n";
        assert_eq!(
            images(src, &[]),
            [
                (
                    "golang:1.22".into(),
                    "dockerfile-from".into(),
                    4,
                    Some("build".into())
                ),
                (
                    "ghcr.io/acme/tools:2".into(),
                    "dockerfile-mount-from".into(),
                    7,
                    Some("build".into())
                ),
                (
                    "alpine:3.20".into(),
                    "dockerfile-from".into(),
                    9,
                    Some("2".into())
                ),
                (
                    "docker.io/library/busybox:1.36".into(),
                    "dockerfile-copy-from".into(),
                    12,
                    Some("2".into())
                ),
            ]
        );
        let overridden = images(src, &[("GO", "1.23")]);
        assert_eq!(overridden[0].0, "golang:1.23");
    }

    #[test]
    fn heredocs_are_skipped() {
        let src = "FROM alpine:3\nRUN <<EOF\nFROM evil:1\nEOF\nCOPY <<-'X' /f\n\tFROM evil:2\n\tX\nFROM debian:12\n";
        let found: Vec<_> = images(src, &[]).into_iter().map(|f| f.0).collect();
        assert_eq!(found, ["alpine:3", "debian:12"]);
    }

    #[test]
    fn an_unset_arg_is_an_error_at_its_line() {
        let e = extract("ARG TAG\nFROM app:${TAG}\n", &Options::default()).expect_err("refused");
        assert!(
            matches!(
                e,
                ExtractError::At {
                    line: 2,
                    column: 6,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = extract("FROM app-$TARGETARCH\n", &Options::default()).expect_err("refused");
        assert!(e.to_string().contains("--build-arg TARGETARCH"), "{e}");
    }

    #[test]
    fn a_from_naming_an_arg_rewrites_the_default() {
        let src = "ARG BASE=\"alpine:3.20\"\nFROM $BASE\n";
        let f = extract(src, &Options::default()).expect("ok").findings;
        let Site::Text { span } = f[0].site else {
            panic!("site {:?}", f[0].site)
        };
        assert_eq!(&src[span.start..span.end], "alpine:3.20");
        assert_eq!(span.start, 10);
    }

    #[test]
    fn fuzz_deploy_dockerfile_from_a_stage_index_is_an_image() {
        // Found by fuzz/fuzz_targets/deploy_dockerfile.rs: `FROM 2` after two stages was taken
        // for stage 2, so pinning the ARG behind it changed what the file pulls.
        let src = "ARG BASE=2\nFROM ${BASE} AS a\nFROM ${BASE} AS b\nFROM ${BASE}\nFROM ${BASE}\n";
        let found = images(src, &[]);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found.iter().all(|f| f.0 == "2"));
        let src = "FROM alpine:3 AS a\nFROM a\nFROM A\n";
        assert_eq!(
            images(src, &[]).len(),
            1,
            "aliases are stages, case-insensitively"
        );
    }

    #[test]
    fn fuzz_deploy_dockerfile_an_arg_in_a_whole_and_a_partial_reference() {
        // Found by fuzz/fuzz_targets/deploy_dockerfile.rs: TAG pinned at its default for
        // `FROM ${TAG}` put a digest inside `app:${TAG}` too.
        let src = "ARG TAG=2\nFROM ${TAG} AS a\nFROM app:${TAG}\n";
        let f = extract(src, &Options::default()).expect("ok").findings;
        let texts: Vec<_> = f
            .iter()
            .map(|f| match f.site {
                Site::Text { span } => &src[span.start..span.end],
                _ => "",
            })
            .collect();
        assert_eq!(texts, ["${TAG}", "app:${TAG}"]);
        // Nor when the same value names a stage elsewhere.
        let src = "ARG T=x\nFROM ${T} AS a\nFROM alpine:3 AS x\nFROM ${T}\n";
        let f = extract(src, &Options::default()).expect("ok").findings;
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(matches!(f[0].site, Site::Text { span } if &src[span.start..span.end] == "${T}"));
    }

    #[test]
    fn escape_directive_and_crlf() {
        let src = "# escape=`\r\nFROM `\r\n  mcr.microsoft.com/windows/servercore:ltsc2022\r\n";
        let f = extract(src, &Options::default()).expect("ok").findings;
        assert_eq!(f[0].image, "mcr.microsoft.com/windows/servercore:ltsc2022");
        assert_eq!((f[0].line, f[0].column), (3, 3));
        let Site::Text { span } = f[0].site else {
            panic!()
        };
        assert_eq!(
            &src[span.start..span.end],
            "mcr.microsoft.com/windows/servercore:ltsc2022"
        );
    }
}
