//! What extraction gives and takes: the findings and notes with their places (line, column,
//! byte span), the options and limits of a run, and why a file could not be read.

use std::collections::BTreeMap;

use serde::Serialize;

/// Bounds on what extraction reads.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest file read, in bytes.
    pub max_file_bytes: usize,
    /// Deepest nesting of YAML mappings and sequences.
    pub max_depth: usize,
    /// Most YAML nodes in one document.
    pub max_nodes: usize,
    /// Most nodes visited in one document, aliases expanded (the "billion laughs" bound).
    pub max_visits: usize,
    /// Most `ARG` names in one Dockerfile.
    pub max_args: usize,
    /// Longest value produced by interpolating one string, in bytes.
    pub max_interpolated_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_bytes: 64 << 20,
            max_depth: 128,
            max_nodes: 2_000_000,
            max_visits: 4_000_000,
            max_args: 1_000,
            max_interpolated_bytes: 64 << 10,
        }
    }
}

/// What extraction needs besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The process environment, for Compose interpolation (it overrides `.env`).
    pub env: BTreeMap<String, String>,
    /// The contents of the `.env` file beside a Compose file, if there is one.
    pub dotenv: Option<String>,
    /// `--build-arg NAME=VALUE` overrides for Dockerfile `ARG`s.
    pub build_args: BTreeMap<String, String>,
    /// Bounds.
    pub limits: Limits,
}

/// The kinds of file understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Kubernetes objects, YAML or JSON.
    Kubernetes,
    /// A Compose file.
    Compose,
    /// A Dockerfile or Containerfile.
    Dockerfile,
}

impl Format {
    /// The format's name, as printed.
    pub fn name(self) -> &'static str {
        match self {
            Format::Kubernetes => "Kubernetes manifest",
            Format::Compose => "Compose file",
            Format::Dockerfile => "Dockerfile",
        }
    }
}

/// A byte range in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    pub(crate) fn shifted(self, by: usize) -> Span {
        Span {
            start: self.start + by,
            end: self.end + by,
        }
    }
}

/// Where the reference's text sits in the file, for rewriting it (in JSON:
/// `{"form": "text", "span": {"start": …, "end": …}}`, byte offsets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "form", rename_all = "lowercase")]
pub enum Site {
    /// The bytes at `span` are the reference text as written (before interpolation):
    /// an edit may insert or replace a digest inside it.
    Text {
        /// The reference text's bytes.
        span: Span,
    },
    /// A quoted scalar whose source differs from its value (escapes, line folding): an edit
    /// replaces the whole scalar, quotes included, with a double-quoted string.
    Quoted {
        /// The scalar's bytes, quotes included.
        span: Span,
    },
    /// Not rewritable in place (a Dockerfile word split across continuation lines).
    Fixed,
}

/// One image reference found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The reference as it will be pulled (after interpolation).
    pub image: String,
    /// 1-based line of the reference text.
    pub line: usize,
    /// 1-based column (in characters) of the reference text.
    pub column: usize,
    /// What uses it: the Kubernetes object's kind, `compose-service`, `dockerfile-from`,
    /// `dockerfile-copy-from` or `dockerfile-mount-from`.
    pub kind: String,
    /// The Kubernetes object's name, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Kubernetes object's namespace, if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The container (Kubernetes), image volume (Kubernetes) or service (Compose).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Which list the container is in (`containers`, `initContainers`,
    /// `ephemeralContainers`, `volumes`), for Kubernetes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// The JSON pointer of the reference inside its Kubernetes object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The Dockerfile stage that uses it (its alias or index).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The platform asked for (`FROM --platform=…`, Compose `platform:`), interpolated where
    /// its variables are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The text as written, when interpolation changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<String>,
    /// Where its text is, in bytes, and how it can be rewritten.
    pub site: Site,
}

/// Something a listing should say that is not an image (a Compose service with only `build:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// 1-based line.
    pub line: usize,
    /// What it concerns, e.g. `compose-service`.
    pub kind: String,
    /// The service or container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// What to say.
    pub message: String,
}

/// Everything found in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extraction {
    /// What the file was read as.
    pub format: Format,
    /// The image references, in file order.
    pub findings: Vec<Finding>,
    /// Notes, in file order.
    pub notes: Vec<Note>,
}

/// Why a file yielded no findings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// None of the formats: an error when the file was named, a skip when it was walked into.
    #[error("not a Kubernetes manifest, Compose file or Dockerfile ({0})")]
    NotRecognized(String),
    /// A recognised file with a problem at a place.
    #[error("{line}:{column}: {message}")]
    At {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, and what to do.
        message: String,
    },
    /// The file is larger than the limit.
    #[error("the file is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Its size, or more than the limit when it was read in part.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl ExtractError {
    pub(crate) fn at(line: usize, column: usize, message: impl Into<String>) -> ExtractError {
        ExtractError::At {
            line,
            column,
            message: message.into(),
        }
    }
}
