//! The cache of one TUF repository, under `$XDG_CACHE_HOME/vouch/tuf/<host>-<hash>/`:
//!
//! - `datastore/`: tough's trusted metadata (root, timestamp, snapshot), kept between
//!   updates so a rollback is detected;
//! - `mirror-<n>/metadata/`, `mirror-<n>/targets/`: the exact files of the last successful
//!   update, every root from the initial one on included, so a read re-verifies everything
//!   from the root of trust without the network;
//! - `current`: the name of the mirror in force, replaced by rename (readers see the old
//!   mirror or the new one, never a mix);
//! - `initial-root.json`: the root of trust given with `--tuf-root` for a private
//!   repository (Sigstore's own is embedded in the binary);
//! - `lock`: held while updating.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use url::Url;

use crate::error::TufError;

pub(crate) const DATASTORE: &str = "datastore";
pub(crate) const CURRENT: &str = "current";
pub(crate) const INITIAL_ROOT: &str = "initial-root.json";
pub(crate) const METADATA: &str = "metadata";
pub(crate) const TARGETS: &str = "targets";

fn cache_error(path: &Path, e: impl std::fmt::Display) -> TufError {
    TufError::Cache {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The directory of one repository's cache.
#[derive(Debug, Clone)]
pub(crate) struct RepoCache {
    pub(crate) dir: PathBuf,
}

impl RepoCache {
    /// `<base>/<host>-<first 8 bytes of SHA-256(metadata URL)>`: readable, and distinct per
    /// repository.
    pub(crate) fn new(base: &Path, metadata_url: &Url) -> RepoCache {
        let host: String = metadata_url
            .host_str()
            .unwrap_or("local")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let hash = hex::encode(&Sha256::digest(metadata_url.as_str().as_bytes())[..8]);
        RepoCache {
            dir: base.join(format!("{host}-{hash}")),
        }
    }

    pub(crate) fn create(&self) -> Result<(), TufError> {
        for dir in [self.dir.clone(), self.dir.join(DATASTORE)] {
            std::fs::create_dir_all(&dir).map_err(|e| cache_error(&dir, e))?;
        }
        Ok(())
    }

    /// Holds the update lock until dropped.
    pub(crate) fn lock(&self) -> Result<std::fs::File, TufError> {
        let path = self.dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| cache_error(&path, e))?;
        file.lock().map_err(|e| cache_error(&path, e))?;
        Ok(file)
    }

    /// The mirror in force, if an update ever succeeded.
    pub(crate) fn current_mirror(&self) -> Result<Option<PathBuf>, TufError> {
        let pointer = self.dir.join(CURRENT);
        match std::fs::read_to_string(&pointer) {
            Ok(name) => {
                let name = name.trim();
                if name.is_empty()
                    || !name.starts_with("mirror-")
                    || name.contains(['/', '\\'])
                    || name.contains("..")
                {
                    return Err(cache_error(&pointer, "does not name a mirror"));
                }
                Ok(Some(self.dir.join(name)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(cache_error(&pointer, e)),
        }
    }

    /// A new, empty mirror directory.
    pub(crate) fn new_mirror(&self) -> Result<PathBuf, TufError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = self
            .dir
            .join(format!("mirror-{nanos}-{}", std::process::id()));
        for sub in [METADATA, TARGETS] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| cache_error(&d, e))?;
        }
        Ok(dir)
    }

    /// Makes `mirror` the one in force and removes the others.
    pub(crate) fn switch_to(&self, mirror: &Path) -> Result<(), TufError> {
        let name = mirror
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| cache_error(mirror, "not a mirror directory"))?;
        write_atomic(&self.dir.join(CURRENT), name.as_bytes())?;
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let is_old_mirror = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with("mirror-") && n != name);
                if is_old_mirror {
                    let _ = std::fs::remove_dir_all(&path);
                }
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TufError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| cache_error(dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| cache_error(path, e))?;
    tmp.persist(path).map_err(|e| cache_error(path, e.error))?;
    Ok(())
}

/// The file name a fetched URL is kept under, if it lies directly under `base`.
pub(crate) fn relative_name(base: &Url, url: &Url) -> Option<String> {
    let rest = url.as_str().strip_prefix(base.as_str())?;
    let ok =
        !rest.is_empty() && !rest.contains(['/', '\\', '?', '#']) && rest != "." && rest != "..";
    ok.then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_under_the_base_are_kept() {
        let base = Url::parse("https://tuf.example/repo/").expect("url");
        let at = |s: &str| Url::parse(s).expect("url");
        assert_eq!(
            relative_name(&base, &at("https://tuf.example/repo/2.root.json")),
            Some("2.root.json".into())
        );
        for bad in [
            "https://tuf.example/repo/a/b.json",
            "https://tuf.example/other/x.json",
            "https://tuf.example/repo/x.json?y",
            "https://tuf.example/repo/",
        ] {
            assert_eq!(relative_name(&base, &at(bad)), None, "{bad}");
        }
    }

    #[test]
    fn repositories_get_distinct_readable_directories() {
        let base = Path::new("/cache");
        let a = RepoCache::new(
            base,
            &Url::parse("https://tuf-repo-cdn.sigstore.dev/").expect("u"),
        );
        let b = RepoCache::new(base, &Url::parse("http://127.0.0.1:8080/").expect("u"));
        let shown = |c: &RepoCache| c.dir.display().to_string();
        assert!(
            shown(&a).starts_with("/cache/tuf-repo-cdn.sigstore.dev-"),
            "{}",
            shown(&a)
        );
        assert!(shown(&b).starts_with("/cache/127.0.0.1-"), "{}", shown(&b));
        assert_ne!(a.dir, b.dir);
    }
}
