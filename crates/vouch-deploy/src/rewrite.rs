//! Pinning edits: a digest inserted into (or replacing the digest in) a reference's own bytes,
//! nothing else in the file touched; the edited file written atomically (a temporary file in
//! the same directory, renamed over the original) and only if the file on disk is still the
//! one that was read.

use std::io::Write;
use std::path::Path;

use crate::model::{Site, Span};

/// One replacement of a byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The bytes replaced.
    pub span: Span,
    /// What replaces them.
    pub replacement: String,
}

/// Why an edit or a write could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The reference cannot be rewritten in place.
    #[error("{0}")]
    NotRewritable(String),
    /// Two edits overlap with different text.
    #[error("two references share bytes {start}..{end} but pin to different text")]
    Conflict {
        /// First byte.
        start: usize,
        /// One past the last.
        end: usize,
    },
    /// The file changed between read and write.
    #[error("{0}: changed on disk since vouch read it; nothing was written to it (run again)")]
    Changed(String),
    /// An I/O error.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error (in the message, so not also a source).
        error: std::io::Error,
    },
}

/// `text` (a reference as written) with `digest` (`sha256:…`) after it, or in place of the
/// digest it has; None when it already has that digest.
pub fn pinned_text(text: &str, digest: &str) -> Result<Option<String>, RewriteError> {
    match text.rsplit_once('@') {
        Some((name, existing)) => {
            if existing == digest {
                return Ok(None);
            }
            if !is_literal_digest(existing) {
                return Err(RewriteError::NotRewritable(format!(
                    "its digest {existing:?} is not written out; pin it where the variable is set"
                )));
            }
            Ok(Some(format!("{name}@{digest}")))
        }
        None => Ok(Some(format!("{text}@{digest}"))),
    }
}

fn is_literal_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The edit that pins the reference at `site` in `src` to `digest`. `value` is the reference
/// text as the format reads it before interpolation (needed for quoted scalars). None when
/// nothing changes.
pub fn pin_edit(
    src: &[u8],
    site: &Site,
    value: &str,
    digest: &str,
) -> Result<Option<Edit>, RewriteError> {
    match site {
        Site::Text { span } => {
            let text = std::str::from_utf8(src.get(span.start..span.end).unwrap_or_default())
                .map_err(|_| RewriteError::NotRewritable("not UTF-8 text".into()))?;
            let Some(new) = pinned_text(text, digest)? else {
                return Ok(None);
            };
            // Insert or replace only the digest part, so the edit is as small as it can be.
            let keep = text
                .rsplit_once('@')
                .map(|(n, _)| n.len())
                .unwrap_or(text.len());
            Ok(Some(Edit {
                span: Span {
                    start: span.start + keep,
                    end: span.end,
                },
                replacement: new[keep..].to_string(),
            }))
        }
        Site::Quoted { span } => {
            let Some(new) = pinned_text(value, digest)? else {
                return Ok(None);
            };
            let quoted = serde_json::to_string(&new)
                .map_err(|e| RewriteError::NotRewritable(e.to_string()))?;
            Ok(Some(Edit {
                span: *span,
                replacement: quoted,
            }))
        }
        Site::Fixed => Err(RewriteError::NotRewritable(
            "it is split across lines; join it onto one line to pin it".into(),
        )),
    }
}

/// `src` with `edits` applied (in any order; identical duplicates count once).
pub fn apply(src: &[u8], edits: &[Edit]) -> Result<Vec<u8>, RewriteError> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.span.start, e.span.end));
    sorted.dedup_by(|a, b| a == b);
    let mut out = Vec::with_capacity(src.len() + edits.len() * 72);
    let mut at = 0usize;
    for e in sorted {
        if e.span.start < at || e.span.end > src.len() || e.span.start > e.span.end {
            return Err(RewriteError::Conflict {
                start: e.span.start,
                end: e.span.end,
            });
        }
        out.extend_from_slice(&src[at..e.span.start]);
        out.extend_from_slice(e.replacement.as_bytes());
        at = e.span.end;
    }
    out.extend_from_slice(&src[at..]);
    Ok(out)
}

/// A unified diff of a file's old and new text.
pub fn unified_diff(name: &str, old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    similar::TextDiff::from_lines(&*old, &*new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// Whether the file at `path` still holds exactly `expected` (read no further than needed
/// to tell).
pub fn unchanged(path: &Path, expected: &[u8]) -> std::io::Result<bool> {
    use std::io::Read as _;
    let mut current = Vec::with_capacity(expected.len() + 1);
    std::fs::File::open(path)?
        .take(expected.len() as u64 + 1)
        .read_to_end(&mut current)?;
    Ok(current == expected)
}

/// Replaces the file at `path` with `new`, atomically, if it still holds `expected`. A
/// symbolic link is followed: its target is replaced and the link kept. Permissions are kept.
pub fn write_if_unchanged(path: &Path, expected: &[u8], new: &[u8]) -> Result<(), RewriteError> {
    let io = |error: std::io::Error| RewriteError::Io {
        path: path.display().to_string(),
        error,
    };
    let target = std::fs::canonicalize(path).map_err(io)?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(&target).map_err(io)?.permissions();
    let mut tmp = tempfile::Builder::new()
        .prefix(".vouch-pin-")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(new).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    std::fs::set_permissions(tmp.path(), permissions).map_err(io)?;
    // As late as possible: whoever wrote the file since it was read keeps their write.
    if !unchanged(&target, expected).map_err(io)? {
        return Err(RewriteError::Changed(path.display().to_string()));
    }
    tmp.persist(&target).map_err(|e| io(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn pins_append_or_replace_the_digest() {
        assert_eq!(
            pinned_text("nginx:1.25", D1).expect("ok"),
            Some(format!("nginx:1.25@{D1}"))
        );
        assert_eq!(
            pinned_text(&format!("nginx:1.25@{D1}"), D1).expect("ok"),
            None
        );
        assert_eq!(
            pinned_text(&format!("nginx:1.25@{D1}"), D2).expect("ok"),
            Some(format!("nginx:1.25@{D2}"))
        );
        assert!(pinned_text("app@${DIGEST}", D1).is_err());
    }

    #[test]
    fn edits_touch_only_the_reference() {
        let src = b"image: 'nginx:1.25' # web\n";
        let site = Site::Text {
            span: Span { start: 8, end: 18 },
        };
        let edit = pin_edit(src, &site, "nginx:1.25", D1)
            .expect("ok")
            .expect("an edit");
        let out = apply(src, &[edit.clone(), edit]).expect("applies");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            format!("image: 'nginx:1.25@{D1}' # web\n")
        );
        let quoted = Site::Quoted {
            span: Span { start: 7, end: 19 },
        };
        let edit = pin_edit(src, &quoted, "nginx:1.25", D1)
            .expect("ok")
            .expect("an edit");
        assert_eq!(edit.replacement, format!("\"nginx:1.25@{D1}\""));
    }

    #[test]
    fn a_changed_file_is_not_clobbered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.yaml");
        std::fs::write(&path, "a\n").expect("write");
        std::fs::write(&path, "changed\n").expect("write");
        let e = write_if_unchanged(&path, b"a\n", b"b\n").expect_err("refused");
        assert!(matches!(e, RewriteError::Changed(_)));
        assert_eq!(std::fs::read(&path).expect("read"), b"changed\n");
        write_if_unchanged(&path, b"changed\n", b"new\n").expect("writes");
        assert_eq!(std::fs::read(&path).expect("read"), b"new\n");
        let leftovers = std::fs::read_dir(dir.path()).expect("ls").count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }
}
