//! Image patterns: globs over normalized repository names (`host/path/…`, no tag or digest).
//!
//! `*` matches any run of characters within one `/`-separated segment (possibly none, so
//! `app-*` matches `app-`… and `app-x`); `**`, which must be a whole segment, matches zero or more
//! whole segments. So `a/**` matches `a`, `a/b` and `a/b/c`, and `a/**/b` matches `a/b`.
//!
//! Each pattern compiles to a small NFA over bytes. The same automaton serves matching and the
//! overlap analysis in [`crate::analysis`], so both always agree on what a pattern means.
//! vouch's own: glob crates match paths, but none answers whether two patterns overlap.

use serde::Serialize;
use std::cmp::{Ordering, Reverse};
use std::fmt;

/// Longest accepted pattern, in bytes (a repository name is at most 255 characters).
pub const MAX_PATTERN_LEN: usize = 255;

/// A compiled image pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    specificity: Specificity,
    segments: Vec<String>,
    literal_prefix: Vec<String>,
    pub(crate) nfa: Nfa,
}

/// How specific a pattern is. When several rules match an image, the rule whose matching
/// pattern is most specific wins. Compared field by field, in this order:
///
/// 1. more literal segments (segments without `*`) is more specific;
/// 2. fewer `**` segments;
/// 3. more literal characters (everything but `*` and `/`);
/// 4. fewer `*` wildcards within segments;
/// 5. a longer literal prefix (bytes before the first `*`).
///
/// Patterns equal on all five tie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Specificity {
    /// Segments with no wildcard.
    pub literal_segments: u32,
    /// `**` segments.
    pub double_stars: u32,
    /// Characters other than `*` and `/`.
    pub literal_chars: u32,
    /// `*` wildcards inside segments.
    pub stars: u32,
    /// Bytes before the first wildcard.
    pub literal_prefix: u32,
}

impl Specificity {
    fn key(&self) -> (u32, Reverse<u32>, u32, Reverse<u32>, u32) {
        (
            self.literal_segments,
            Reverse(self.double_stars),
            self.literal_chars,
            Reverse(self.stars),
            self.literal_prefix,
        )
    }

    /// The first criterion on which `self` beats `other`, in words, or `None` if it does not.
    pub fn explain_win(&self, other: &Specificity) -> Option<String> {
        let (a, b) = (self, other);
        let line = |what: &str, x: u32, y: u32| Some(format!("{what}: {x} against {y}"));
        if a.literal_segments != b.literal_segments {
            return (a.literal_segments > b.literal_segments)
                .then_some(())
                .and(line(
                    "more literal segments",
                    a.literal_segments,
                    b.literal_segments,
                ));
        }
        if a.double_stars != b.double_stars {
            return (a.double_stars < b.double_stars).then_some(()).and(line(
                "fewer `**`",
                a.double_stars,
                b.double_stars,
            ));
        }
        if a.literal_chars != b.literal_chars {
            return (a.literal_chars > b.literal_chars).then_some(()).and(line(
                "more literal characters",
                a.literal_chars,
                b.literal_chars,
            ));
        }
        if a.stars != b.stars {
            return (a.stars < b.stars)
                .then_some(())
                .and(line("fewer `*`", a.stars, b.stars));
        }
        if a.literal_prefix != b.literal_prefix {
            return (a.literal_prefix > b.literal_prefix)
                .then_some(())
                .and(line(
                    "longer literal prefix",
                    a.literal_prefix,
                    b.literal_prefix,
                ));
        }
        None
    }
}

impl Ord for Specificity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Specificity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PatternError {
    /// What is wrong.
    pub message: String,
    /// How to fix it, when obvious.
    pub hint: Option<String>,
}

fn refuse(message: impl Into<String>, hint: Option<String>) -> PatternError {
    PatternError {
        message: message.into(),
        hint,
    }
}

const DOCKER_HUB: &str = "docker.io";

impl Pattern {
    /// Compiles a pattern, refusing malformed ones and ones no normalized name can match.
    pub fn new(text: &str) -> Result<Pattern, PatternError> {
        if text.is_empty() {
            return Err(refuse("the pattern is empty", None));
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(refuse(
                format!("the pattern is longer than {MAX_PATTERN_LEN} bytes"),
                None,
            ));
        }
        if let Some((repo, _)) = text.split_once('@') {
            return Err(refuse(
                "patterns match repository names, without a digest",
                Some(format!("write \"{repo}\" and pin digests with `digests`")),
            ));
        }
        let segments: Vec<&str> = text.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(refuse(
                "the pattern has an empty segment (a leading, trailing or doubled `/`)",
                None,
            ));
        }
        for (i, seg) in segments.iter().enumerate() {
            if seg.contains("**") && *seg != "**" {
                return Err(refuse(
                    format!("`**` must be a whole segment, not part of \"{seg}\""),
                    Some("use `*` within a segment".to_string()),
                ));
            }
            if *seg == "**" && i > 0 && segments[i - 1] == "**" {
                return Err(refuse(
                    "`**/**` is redundant",
                    Some("write a single `**`".to_string()),
                ));
            }
            if i > 0 && seg.contains(':') {
                let repo = segments[..i]
                    .iter()
                    .chain(std::iter::once(&seg.split(':').next().unwrap_or_default()))
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/");
                return Err(refuse(
                    "patterns match repository names, without a tag",
                    Some(format!("write \"{repo}\"")),
                ));
            }
            let ok = |b: u8| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'.' | b'_' | b'-' | b'*')
                    || (i == 0 && (b.is_ascii_uppercase() || matches!(b, b':' | b'[' | b']')))
            };
            if let Some(bad) = seg.bytes().find(|b| !ok(*b)) {
                let what = if bad.is_ascii_uppercase() {
                    "repository paths are lowercase".to_string()
                } else {
                    format!(
                        "character {:?} cannot appear in a repository name",
                        bad as char
                    )
                };
                return Err(refuse(what, None));
            }
        }
        let first = segments[0];
        if !first.contains('*') {
            if !(first.contains('.') || first.contains(':') || first == "localhost") {
                return Err(refuse(
                    format!(
                        "\"{first}\" is not a registry host, so this pattern never matches a normalized name"
                    ),
                    Some(format!(
                        "names are normalized with their registry: write \"{}\"",
                        docker_hub_form(&segments)
                    )),
                ));
            }
            if first == "index.docker.io" || first == "registry-1.docker.io" {
                return Err(refuse(
                    format!(
                        "\"{first}\" is normalized to \"docker.io\", so this pattern never matches"
                    ),
                    Some(format!("write \"docker.io/{}\"", segments[1..].join("/"))),
                ));
            }
            if first == DOCKER_HUB && segments.len() == 2 && segments[1] != "**" {
                return Err(refuse(
                    "Docker Hub names always have two path segments, so this pattern never matches",
                    Some(format!("write \"docker.io/library/{}\"", segments[1])),
                ));
            }
        }

        let literal_prefix: Vec<String> = segments
            .iter()
            .take_while(|s| !s.contains('*'))
            .map(|s| s.to_string())
            .collect();
        let specificity = Specificity {
            literal_segments: count(segments.iter().filter(|s| !s.contains('*'))),
            double_stars: count(segments.iter().filter(|s| **s == "**")),
            literal_chars: count(text.bytes().filter(|b| *b != b'*' && *b != b'/')),
            stars: count(
                segments
                    .iter()
                    .filter(|s| **s != "**")
                    .flat_map(|s| s.bytes().filter(|b| *b == b'*')),
            ),
            literal_prefix: text.find('*').map_or(text.len(), |i| i) as u32,
        };
        Ok(Pattern {
            text: text.to_string(),
            specificity,
            literal_prefix,
            nfa: Nfa::build(&segments),
            segments: segments.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How specific the pattern is.
    pub fn specificity(&self) -> Specificity {
        self.specificity
    }

    /// The `/`-separated segments.
    pub(crate) fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The leading segments that hold no wildcard (used to index rules).
    pub(crate) fn literal_prefix(&self) -> &[String] {
        &self.literal_prefix
    }

    /// True when the pattern matches the normalized repository name.
    pub fn matches(&self, repository: &str) -> bool {
        self.nfa.matches(repository.as_bytes())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn count<I: Iterator>(it: I) -> u32 {
    u32::try_from(it.count()).unwrap_or(u32::MAX)
}

fn docker_hub_form(segments: &[&str]) -> String {
    if segments.len() == 1 {
        format!("docker.io/library/{}", segments[0])
    } else {
        format!("docker.io/{}", segments.join("/"))
    }
}

/// What one NFA edge accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Byte(u8),
    /// Any byte but `/`.
    NotSlash,
}

impl Class {
    pub(crate) fn accepts(self, b: u8) -> bool {
        match self {
            Class::Byte(c) => c == b,
            Class::NotSlash => b != b'/',
        }
    }
}

/// A set of NFA states.
pub(crate) type StateSet = Vec<u64>;

/// An NFA with its epsilon closures folded in: `closure[s]` is every state reachable from `s`
/// by epsilon moves, and a step applies edges then closures.
#[derive(Debug, Clone)]
pub(crate) struct Nfa {
    edges: Vec<Vec<(Class, usize)>>,
    closure: Vec<StateSet>,
    accept: StateSet,
    words: usize,
}

struct Builder {
    edges: Vec<Vec<(Class, usize)>>,
    eps: Vec<Vec<usize>>,
}

impl Builder {
    fn state(&mut self) -> usize {
        self.edges.push(Vec::new());
        self.eps.push(Vec::new());
        self.edges.len() - 1
    }
    fn edge(&mut self, from: usize, class: Class, to: usize) {
        self.edges[from].push((class, to));
    }
    fn eps(&mut self, from: usize, to: usize) {
        self.eps[from].push(to);
    }
    /// A fresh state entered from `cur` by an epsilon move, so constructs never share loops.
    fn fresh(&mut self, cur: usize) -> usize {
        let s = self.state();
        self.eps(cur, s);
        s
    }
}

impl Nfa {
    fn build(segments: &[&str]) -> Nfa {
        let mut b = Builder {
            edges: Vec::new(),
            eps: Vec::new(),
        };
        let start = b.state();
        let mut cur = start;
        let n = segments.len();
        for (i, seg) in segments.iter().enumerate() {
            // A `**` that is not last ends with the `/` its loop consumes.
            let need_sep = i > 0 && segments[i - 1] != "**";
            if *seg == "**" {
                if n == 1 {
                    // One or more segments.
                    let s = b.fresh(cur);
                    let inside = b.state();
                    let after_slash = b.state();
                    b.edge(s, Class::NotSlash, inside);
                    b.edge(inside, Class::NotSlash, inside);
                    b.edge(inside, Class::Byte(b'/'), after_slash);
                    b.edge(after_slash, Class::NotSlash, inside);
                    cur = inside;
                } else if i == n - 1 {
                    // ('/' segment)*
                    let end = b.fresh(cur);
                    let after_slash = b.state();
                    let inside = b.state();
                    b.edge(end, Class::Byte(b'/'), after_slash);
                    b.edge(after_slash, Class::NotSlash, inside);
                    b.edge(inside, Class::NotSlash, inside);
                    b.eps(inside, end);
                    cur = end;
                } else {
                    // [ '/' ] (segment '/')*
                    if need_sep {
                        let s = b.state();
                        b.edge(cur, Class::Byte(b'/'), s);
                        cur = s;
                    }
                    let lp = b.fresh(cur);
                    let inside = b.state();
                    b.edge(lp, Class::NotSlash, inside);
                    b.edge(inside, Class::NotSlash, inside);
                    b.edge(inside, Class::Byte(b'/'), lp);
                    cur = lp;
                }
                continue;
            }
            if need_sep {
                let s = b.state();
                b.edge(cur, Class::Byte(b'/'), s);
                cur = s;
            }
            for c in seg.bytes() {
                if c == b'*' {
                    let lp = b.fresh(cur);
                    b.edge(lp, Class::NotSlash, lp);
                    cur = b.fresh(lp);
                } else {
                    let s = b.state();
                    b.edge(cur, Class::Byte(c), s);
                    cur = s;
                }
            }
        }
        let count = b.edges.len();
        let words = count.div_ceil(64);
        let closure = (0..count)
            .map(|s| {
                let mut set = vec![0u64; words];
                let mut todo = vec![s];
                while let Some(x) = todo.pop() {
                    if set[x / 64] & (1 << (x % 64)) == 0 {
                        set[x / 64] |= 1 << (x % 64);
                        todo.extend(&b.eps[x]);
                    }
                }
                set
            })
            .collect::<Vec<_>>();
        let mut accept = vec![0u64; words];
        accept[cur / 64] |= 1 << (cur % 64);
        debug_assert_eq!(start, 0, "state 0 starts");
        Nfa {
            edges: b.edges,
            closure,
            accept,
            words,
        }
    }

    pub(crate) fn start(&self) -> StateSet {
        self.closure[0].clone()
    }

    pub(crate) fn step(&self, from: &[u64], byte: u8, to: &mut StateSet) {
        to.clear();
        to.resize(self.words, 0);
        for (w, word) in from.iter().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let s = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                for &(class, target) in &self.edges[s] {
                    if class.accepts(byte) {
                        for (t, c) in to.iter_mut().zip(&self.closure[target]) {
                            *t |= c;
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn is_empty(set: &[u64]) -> bool {
        set.iter().all(|w| *w == 0)
    }

    pub(crate) fn accepts(&self, set: &[u64]) -> bool {
        set.iter().zip(&self.accept).any(|(a, b)| a & b != 0)
    }

    /// The literal bytes on the NFA's edges (the only bytes it tells apart).
    pub(crate) fn literal_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.edges.iter().flatten().filter_map(|(c, _)| match c {
            Class::Byte(b) => Some(*b),
            Class::NotSlash => None,
        })
    }

    fn matches(&self, input: &[u8]) -> bool {
        let mut cur = self.start();
        let mut next = Vec::with_capacity(self.words);
        for &byte in input {
            self.step(&cur, byte, &mut next);
            std::mem::swap(&mut cur, &mut next);
            if Nfa::is_empty(&cur) {
                return false;
            }
        }
        self.accepts(&cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::new(p).expect(p).matches(s)
    }

    #[test]
    fn star_stays_within_a_segment() {
        assert!(m("docker.io/library/*", "docker.io/library/alpine"));
        assert!(!m("docker.io/library/*", "docker.io/library/a/b"));
        assert!(!m("docker.io/library/*", "docker.io/library"));
        assert!(m("r.io/app-*", "r.io/app-web"));
        assert!(!m("r.io/app-*", "r.io/api"));
        assert!(m("r.io/*-web/x", "r.io/app-web/x"));
        assert!(m("r.io/a*b*c", "r.io/abxbc"));
        assert!(!m("r.io/a*b*c", "r.io/abxbd"));
        assert!(m("*.example.com/app", "registry.example.com/app"));
        assert!(!m("*.example.com/app", "example.com/app"));
    }

    #[test]
    fn double_star_spans_zero_or_more_segments() {
        assert!(m("r.io/prod/**", "r.io/prod"));
        assert!(m("r.io/prod/**", "r.io/prod/app"));
        assert!(m("r.io/prod/**", "r.io/prod/a/b/c"));
        assert!(!m("r.io/prod/**", "r.io/production"));
        assert!(!m("r.io/prod/**", "r.io/dev/app"));
        assert!(m("r.io/**/app", "r.io/app"));
        assert!(m("r.io/**/app", "r.io/x/y/app"));
        assert!(!m("r.io/**/app", "r.io/x/myapp"));
        assert!(m("**/app", "r.io/app"));
        assert!(m("**/app", "r.io/a/app"));
        assert!(!m("**/app", "r.io/a/app2"));
        assert!(m("**", "r.io/a"));
        assert!(m("**", "r.io"));
        assert!(m("r.io/**/x/**", "r.io/x"));
        assert!(m("r.io/**/x/**", "r.io/a/x/b/c"));
        assert!(!m("r.io/**/x/**", "r.io/a/y/b"));
        assert!(m("r.io/**/*-svc", "r.io/a/b-svc"));
    }

    #[test]
    fn literal_patterns_match_exactly() {
        assert!(m("localhost:5000/app", "localhost:5000/app"));
        assert!(!m("localhost:5000/app", "localhost:5000/app2"));
        assert!(!m("localhost:5000/app", "localhost:5000"));
    }

    #[test]
    fn refuses_malformed_and_never_matching_patterns() {
        for bad in [
            "",
            "r.io//a",
            "/r.io/a",
            "r.io/a/",
            "r.io/a**",
            "r.io/**/**/a",
            "r.io/app:1.0",
            "r.io/app@sha256:00",
            "r.io/App",
            "r.io/a b",
            "library/alpine",
            "alpine",
            "docker.io/alpine",
            "index.docker.io/library/alpine",
        ] {
            assert!(Pattern::new(bad).is_err(), "{bad:?}");
        }
        assert!(Pattern::new(&format!("r.io/{}", "a".repeat(300))).is_err());
        assert_eq!(
            Pattern::new("library/alpine").err().and_then(|e| e.hint),
            Some(
                "names are normalized with their registry: write \"docker.io/library/alpine\""
                    .into()
            )
        );
    }

    #[test]
    fn specificity_order() {
        let s = |p: &str| Pattern::new(p).expect(p).specificity();
        assert!(s("r.io/prod/**") > s("r.io/**"));
        assert!(s("docker.io/library/alpine") > s("docker.io/library/*"));
        assert!(s("r.io/a/*/*") > s("r.io/a/**"));
        assert!(s("r.io/app-*") > s("r.io/*"));
        assert!(s("docker.io/library/*") > s("docker.io/*/alpine"));
        assert!(s("r.io/x-*") > s("r.io/*-x"));
        assert_eq!(s("r.io/**/*"), s("r.io/*/**"));
        assert_eq!(
            s("r.io/prod/**").explain_win(&s("r.io/**")),
            Some("more literal segments: 2 against 1".into())
        );
        assert_eq!(s("r.io/**").explain_win(&s("r.io/prod/**")), None);
    }
}
