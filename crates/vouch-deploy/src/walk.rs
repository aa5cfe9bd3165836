//! Turning `-f` arguments into inputs: files as named, `-` for standard input, and
//! directories searched recursively for the file names deployments use. The walk follows
//! symbolic links but never a directory twice (loops end there), is bounded in depth and in
//! file count, and says why it skipped what it skipped.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input (`-`).
    Stdin,
    /// A file.
    File {
        /// Its path, as given or as found under a given directory.
        path: PathBuf,
        /// Named on the command line (an unrecognised file is an error), or found by walking
        /// (it is skipped).
        explicit: bool,
    },
}

impl Source {
    /// How the source is named in messages.
    pub fn display(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".into(),
            Source::File { path, .. } => path.display().to_string(),
        }
    }
}

/// Bounds on a walk.
#[derive(Debug, Clone)]
pub struct WalkLimits {
    /// Most files returned from one walk.
    pub max_files: usize,
    /// Deepest directory level searched below a named directory.
    pub max_depth: usize,
}

impl Default for WalkLimits {
    fn default() -> WalkLimits {
        WalkLimits {
            max_files: 100_000,
            max_depth: 64,
        }
    }
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walked {
    /// Inputs, in argument order; a directory's files sorted by path.
    pub sources: Vec<Source>,
    /// (path, why) for what was passed over, for `--verbose`.
    pub skipped: Vec<(String, String)>,
}

/// Why a walk could not be done.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A named path is missing or unreadable.
    #[error("{path}: {error}")]
    Io {
        /// The path.
        path: String,
        /// The error (in the message, so not also a source).
        error: std::io::Error,
    },
    /// Too many files.
    #[error("{path}: more than {limit} files to read; name fewer or narrower directories")]
    TooMany {
        /// The directory.
        path: String,
        /// The bound.
        limit: usize,
    },
    /// `-` given twice.
    #[error("standard input (-) can be read only once")]
    StdinTwice,
}

/// Whether a file found in a directory is read: `*.yaml`, `*.yml`, `*.json`, Dockerfiles and
/// Containerfiles (`Dockerfile`, `*.Dockerfile`, `Dockerfile.*`), Compose files.
pub fn is_candidate(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".yaml")
        || lower.ends_with(".yml")
        || lower.ends_with(".json")
        || crate::dockerfile::is_dockerfile_name(name)
}

/// Expands `paths` into inputs.
pub fn walk(paths: &[PathBuf], limits: &WalkLimits) -> Result<Walked, WalkError> {
    let mut out = Walked::default();
    let mut stdin = false;
    // A file named twice, or inside two named directories, is read once (pinning it twice
    // would make the second write see the first as a concurrent change).
    let mut files_seen: HashSet<PathBuf> = HashSet::new();
    for path in paths {
        if path == Path::new("-") {
            if stdin {
                return Err(WalkError::StdinTwice);
            }
            stdin = true;
            out.sources.push(Source::Stdin);
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|error| WalkError::Io {
            path: path.display().to_string(),
            error,
        })?;
        if !meta.is_dir() {
            push_once(&mut out.sources, &mut files_seen, path.clone(), true);
            continue;
        }
        let mut seen = HashSet::new();
        let mut files = Vec::new();
        walk_dir(path, 0, limits, &mut seen, &mut files, &mut out.skipped).map_err(
            |e| match e {
                DirError::Io(error) => WalkError::Io {
                    path: path.display().to_string(),
                    error,
                },
                DirError::TooMany => WalkError::TooMany {
                    path: path.display().to_string(),
                    limit: limits.max_files,
                },
            },
        )?;
        files.sort();
        for path in files {
            push_once(&mut out.sources, &mut files_seen, path, false);
        }
    }
    Ok(out)
}

fn push_once(
    sources: &mut Vec<Source>,
    seen: &mut HashSet<PathBuf>,
    path: PathBuf,
    explicit: bool,
) {
    let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if seen.insert(key) {
        sources.push(Source::File { path, explicit });
    }
}

enum DirError {
    Io(std::io::Error),
    TooMany,
}

fn walk_dir(
    dir: &Path,
    depth: usize,
    limits: &WalkLimits,
    seen: &mut HashSet<PathBuf>,
    files: &mut Vec<PathBuf>,
    skipped: &mut Vec<(String, String)>,
) -> Result<(), DirError> {
    let real = std::fs::canonicalize(dir).map_err(DirError::Io)?;
    if !seen.insert(real) {
        skipped.push((
            dir.display().to_string(),
            "a directory already searched (a symbolic link loop?)".into(),
        ));
        return Ok(());
    }
    if depth > limits.max_depth {
        skipped.push((
            dir.display().to_string(),
            format!("deeper than {} levels", limits.max_depth),
        ));
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(DirError::Io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Follows links; a dangling one is passed over.
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                skipped.push((path.display().to_string(), format!("unreadable: {e}")));
                continue;
            }
        };
        if meta.is_dir() {
            if name == ".git" {
                continue;
            }
            walk_dir(&path, depth + 1, limits, seen, files, skipped)?;
        } else if meta.is_file() {
            if is_candidate(&name) {
                if files.len() >= limits.max_files {
                    return Err(DirError::TooMany);
                }
                files.push(path);
            }
        } else {
            skipped.push((path.display().to_string(), "not a regular file".into()));
        }
    }
    Ok(())
}

/// Reads at most `limit` bytes of a file; more is an error naming the limit.
pub fn read_bounded(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    read_all_bounded(file, limit)
}

/// Reads a stream to its end, at most `limit` bytes.
pub fn read_all_bounded(reader: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        return Err(std::io::Error::other(format!(
            "larger than the {limit}-byte limit"
        )));
    }
    Ok(bytes)
}

/// The `.env` file Compose reads for a Compose file in `dir`, if there is one.
pub fn read_dotenv(dir: &Path) -> std::io::Result<Option<String>> {
    let path = dir.join(".env");
    match read_bounded(&path, 1 << 20) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| std::io::Error::other(format!("{}: not UTF-8", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(std::io::Error::other(format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_candidates_and_survives_loops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        for f in [
            "a/x.yaml",
            "a/b/Dockerfile",
            "a/b/compose.yml",
            "a/readme.md",
            "a/b/app.Dockerfile",
            "a/Dockerfile.prod",
        ] {
            std::fs::write(root.join(f), "x").expect("write");
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("a"), root.join("a/b/loop")).expect("symlink");
        let walked = walk(&[root.to_path_buf()], &WalkLimits::default()).expect("walks");
        let names: Vec<_> = walked
            .sources
            .iter()
            .map(|s| {
                s.display()
                    .trim_start_matches(&root.display().to_string())
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "/a/Dockerfile.prod",
                "/a/b/Dockerfile",
                "/a/b/app.Dockerfile",
                "/a/b/compose.yml",
                "/a/x.yaml"
            ]
        );
        #[cfg(unix)]
        assert!(
            walked
                .skipped
                .iter()
                .any(|(p, why)| p.ends_with("loop") && why.contains("loop"))
        );
        let twice = walk(
            &[
                root.join("a/x.yaml"),
                root.join("a"),
                root.join("a/./x.yaml"),
            ],
            &WalkLimits::default(),
        )
        .expect("walks");
        assert_eq!(twice.sources.len(), 5, "x.yaml once, then the rest of a/");
        let few = WalkLimits {
            max_files: 2,
            max_depth: 64,
        };
        assert!(matches!(
            walk(&[root.to_path_buf()], &few),
            Err(WalkError::TooMany { .. })
        ));
    }
}
