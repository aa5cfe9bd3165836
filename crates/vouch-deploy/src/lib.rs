//! vouch-deploy: finds the image references in the files teams deploy from — Kubernetes
//! manifests (YAML or JSON, multi-document, `kind: List`, every pod-spec location), Compose
//! files (with Compose's variable interpolation) and Dockerfiles (`FROM`, `COPY --from`,
//! `RUN --mount=from`, with `ARG` substitution) — and rewrites them in place, byte span by
//! byte span, for pinning.
//!
//! Extraction is pure (bytes in, findings out) and bounded: file size, nesting depth, alias
//! expansion, node and `ARG` counts all have limits with clear errors. The reference text is
//! returned as found (after interpolation); judging whether it is a valid image reference is
//! the caller's job. [`walk`] turns paths into inputs; [`rewrite`] edits files atomically.
#![forbid(unsafe_code)]

mod compose;
mod dockerfile;
mod interpolate;
mod kubernetes;
pub mod rewrite;
pub mod walk;
mod yaml;

use std::collections::BTreeMap;

use serde::Serialize;

pub use kubernetes::{ObjectImage, extract_object};

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

/// Where the reference's text sits in the file, for rewriting it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Where to rewrite it.
    #[serde(skip)]
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

/// Reads `bytes` as whichever format they are (by content; `file_name` breaks ties for
/// Dockerfiles) and returns every image reference in them.
pub fn extract(
    file_name: Option<&str>,
    bytes: &[u8],
    options: &Options,
) -> Result<Extraction, ExtractError> {
    let limit = options.limits.max_file_bytes;
    if bytes.len() > limit {
        return Err(ExtractError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    if bytes.contains(&0) {
        return Err(ExtractError::NotRecognized("a binary file".into()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ExtractError::NotRecognized(format!(
            "not UTF-8 text: invalid byte at offset {}",
            e.valid_up_to()
        ))
    })?;
    // A byte-order mark is allowed, and skipped.
    let (text, offset) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, 3),
        None => (text, 0),
    };
    let named_dockerfile = file_name.is_some_and(is_dockerfile_name);
    let mut extraction = if named_dockerfile || dockerfile::looks_like_dockerfile(text) {
        dockerfile::extract(text, options)?
    } else {
        yaml_formats(text, options)?
    };
    if offset > 0 {
        for f in &mut extraction.findings {
            f.site = match f.site {
                Site::Text { span } => Site::Text {
                    span: span.shifted(offset),
                },
                Site::Quoted { span } => Site::Quoted {
                    span: span.shifted(offset),
                },
                Site::Fixed => Site::Fixed,
            };
        }
    }
    Ok(extraction)
}

impl Span {
    fn shifted(self, by: usize) -> Span {
        Span {
            start: self.start + by,
            end: self.end + by,
        }
    }
}

/// A YAML or JSON stream: Kubernetes objects or one Compose file.
fn yaml_formats(text: &str, options: &Options) -> Result<Extraction, ExtractError> {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let mut format: Option<Format> = None;
    let mut doc_index = 0usize;
    yaml::for_each_document(text, &options.limits, |doc| {
        doc_index += 1;
        let Some(root) = doc.root() else {
            return Ok(());
        };
        let tree = yaml::YamlTree::new(doc, &options.limits);
        if kubernetes::is_object(&tree, root) {
            if format == Some(Format::Compose) {
                return Err(doc.error_at(
                    root,
                    "a Kubernetes object in the same stream as a Compose file",
                ));
            }
            format = Some(Format::Kubernetes);
            kubernetes::extract_yaml(&tree, root, &mut findings)?;
            tree.check_budget()?;
        } else if compose::is_compose(doc, root) {
            if format.is_some() {
                return Err(
                    doc.error_at(root, "a Compose file must be the only document in its file")
                );
            }
            format = Some(Format::Compose);
            compose::extract(doc, root, options, &mut findings, &mut notes)?;
        }
        Ok(())
    })
    .map_err(|e| match e {
        yaml::StreamError::Syntax {
            line,
            column,
            message,
        } if format.is_none() && doc_index <= 1 && !mentions_known_keys(text) => {
            ExtractError::NotRecognized(format!(
                "not valid YAML or JSON: {message} at line {line} column {column}"
            ))
        }
        yaml::StreamError::Syntax {
            line,
            column,
            message,
        } => ExtractError::at(line, column, format!("invalid YAML: {message}")),
        yaml::StreamError::Extract(e) => e,
    })?;
    match format {
        Some(format) => Ok(Extraction {
            format,
            findings,
            notes,
        }),
        None => Err(ExtractError::NotRecognized(
            "no document has apiVersion and kind, or Compose services".into(),
        )),
    }
}

/// Whether unparsable text still reads like a manifest or Compose file, so that a syntax error
/// in it is reported rather than the file skipped as something else.
fn mentions_known_keys(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start_matches([' ', '"', '{']);
        l.starts_with("apiVersion") || l.starts_with("services:") || l.starts_with("kind")
    })
}
