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
mod model;
pub mod rewrite;
pub mod walk;
mod yaml;

pub use dockerfile::is_dockerfile_name;
pub use kubernetes::{ObjectImage, extract_object};
pub use model::{ExtractError, Extraction, Finding, Format, Limits, Note, Options, Site, Span};

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

/// A YAML or JSON stream: Kubernetes objects or one Compose file.
///
/// The stream is cut into documents at `---` lines (a document marker at the start of a line
/// ends any scalar, so the cut is exact), documents that cannot hold an image or a Compose
/// service are not parsed, and the rest are parsed on up to four threads.
fn yaml_formats(text: &str, options: &Options) -> Result<Extraction, ExtractError> {
    let chunks = split_documents(text);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
        .min(chunks.len().div_ceil(64))
        .max(1);
    let results: Vec<ChunkResult> = if threads == 1 {
        chunks
            .iter()
            .map(|c| read_chunk(text, c, options))
            .collect()
    } else {
        let per = chunks.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .chunks(per)
                .map(|group| {
                    scope.spawn(move || {
                        let mut out = Vec::with_capacity(group.len());
                        for c in group {
                            let r = read_chunk(text, c, options);
                            let failed = r.is_err();
                            out.push(r);
                            if failed {
                                break;
                            }
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let mut format: Option<Format> = None;
    for (index, result) in results.into_iter().enumerate() {
        let chunk = match result {
            Ok(c) => c,
            Err(yaml::StreamError::Syntax {
                line,
                column,
                message,
            }) => {
                return Err(
                    if format.is_none() && index == 0 && !mentions_known_keys(text) {
                        ExtractError::NotRecognized(format!(
                            "not valid YAML or JSON: {message} at line {line} column {column}"
                        ))
                    } else {
                        ExtractError::at(line, column, format!("invalid YAML: {message}"))
                    },
                );
            }
            Err(yaml::StreamError::Extract(e)) => return Err(e),
        };
        let Some(chunk_format) = chunk.format else {
            continue;
        };
        match (format, chunk_format) {
            (None, f) => format = Some(f),
            (Some(Format::Kubernetes), Format::Kubernetes) => {}
            _ => {
                return Err(ExtractError::at(
                    chunk.first_line,
                    1,
                    "a Compose file must be the only document in its file",
                ));
            }
        }
        findings.extend(chunk.findings);
        notes.extend(chunk.notes);
    }
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

/// One `---`-delimited piece of a stream.
struct Chunk {
    origin: yaml::Origin,
    end: usize,
}

struct ChunkFindings {
    format: Option<Format>,
    first_line: usize,
    findings: Vec<Finding>,
    notes: Vec<Note>,
}

type ChunkResult = Result<ChunkFindings, yaml::StreamError>;

/// Cuts a stream before every line that starts with `---` and a blank or the line's end.
/// A stream with directives (`%YAML`) is kept whole: they belong to the document after them.
fn split_documents(text: &str) -> Vec<Chunk> {
    let whole = || {
        vec![Chunk {
            origin: yaml::Origin::default(),
            end: text.len(),
        }]
    };
    if text.starts_with('%') || text.contains("\n%") {
        return whole();
    }
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0usize;
    let mut line = 0usize;
    let mut last = 0usize;
    for (i, _) in text.match_indices("\n---") {
        let after = text.as_bytes().get(i + 4).copied();
        if !matches!(after, None | Some(b' ' | b'\t' | b'\r' | b'\n')) {
            continue;
        }
        line += text.as_bytes()[last..=i]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        last = i + 1;
        chunks.push(Chunk {
            origin: yaml::Origin {
                byte: start,
                line: start_line,
            },
            end: i + 1,
        });
        start = i + 1;
        start_line = line;
    }
    if chunks.is_empty() {
        return whole();
    }
    chunks.push(Chunk {
        origin: yaml::Origin {
            byte: start,
            line: start_line,
        },
        end: text.len(),
    });
    chunks
}

/// Whether a document's text may hold an image or a Compose service. Keys written with
/// escapes (`"\x69mage"`) contain a backslash, so those documents are parsed too.
fn may_hold_images(chunk: &str) -> bool {
    chunk.contains("image") || chunk.contains("services") || chunk.contains('\\')
}

fn read_chunk(text: &str, chunk: &Chunk, options: &Options) -> ChunkResult {
    let body = &text[chunk.origin.byte..chunk.end];
    let mut out = ChunkFindings {
        format: None,
        first_line: chunk.origin.line + 1,
        findings: Vec::new(),
        notes: Vec::new(),
    };
    if !may_hold_images(body) {
        if body.contains("apiVersion") && body.contains("kind") {
            out.format = Some(Format::Kubernetes);
        }
        return Ok(out);
    }
    yaml::for_each_document_in(text, chunk.origin, chunk.end, &options.limits, |doc| {
        let Some(root) = doc.root() else {
            return Ok(());
        };
        let tree = yaml::YamlTree::new(doc, &options.limits);
        if kubernetes::is_object(&tree, root) {
            if out.format == Some(Format::Compose) {
                return Err(doc.error_at(
                    root,
                    "a Kubernetes object in the same stream as a Compose file",
                ));
            }
            out.format = Some(Format::Kubernetes);
            kubernetes::extract_yaml(&tree, root, &mut out.findings)?;
        } else if compose::is_compose(doc, root) {
            if out.format.is_some() {
                return Err(
                    doc.error_at(root, "a Compose file must be the only document in its file")
                );
            }
            out.format = Some(Format::Compose);
            compose::extract(doc, root, options, &mut out.findings, &mut out.notes)?;
        }
        Ok(())
    })?;
    Ok(out)
}

/// Whether unparsable text still reads like a manifest or Compose file, so that a syntax error
/// in it is reported rather than the file skipped as something else.
fn mentions_known_keys(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start_matches([' ', '"', '{']);
        l.starts_with("apiVersion") || l.starts_with("services:") || l.starts_with("kind")
    })
}
