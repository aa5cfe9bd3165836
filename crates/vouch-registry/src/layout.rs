//! OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/…`). Tags are the
//! `org.opencontainers.image.ref.name` annotations of `index.json` entries, so signatures
//! live in the same layout under cosign's `sha256-<hex>.sig` tag.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::content::{Fetched, Lookup, check_digest};
use crate::error::StoreError;
use vouch_oci::reference::Digest;

/// The annotation OCI layouts use for tags.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAYOUT_FILE: &str = "oci-layout";
const INDEX_FILE: &str = "index.json";
const MAX_INDEX_BYTES: usize = 16 * 1024 * 1024;

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// `oci:ROOT`, for messages.
    pub fn name(&self) -> String {
        format!("oci:{}", self.root.display())
    }

    /// A handle on the layout at `root` (nothing is read yet).
    pub fn new(root: PathBuf) -> Layout {
        Layout { root }
    }

    fn err(&self, path: &Path, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Layout {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    fn check_layout(&self) -> Result<(), StoreError> {
        let marker = self.root.join(LAYOUT_FILE);
        if !self.root.is_dir() {
            return Err(self.err(&self.root, "not a directory (expected an OCI image layout)"));
        }
        if !marker.is_file() {
            return Err(self.err(
                &self.root,
                "not an OCI image layout: it has no oci-layout file",
            ));
        }
        Ok(())
    }

    fn read_index(&self) -> Result<serde_json::Value, StoreError> {
        let path = self.root.join(INDEX_FILE);
        let bytes = read_bounded(&path, MAX_INDEX_BYTES).map_err(|e| self.err(&path, e))?;
        let index: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| self.err(&path, format!("invalid JSON: {e}")))?;
        if !index.get("manifests").is_some_and(|m| m.is_array()) {
            return Err(self.err(&path, "no \"manifests\" array"));
        }
        Ok(index)
    }

    /// Digests of the distinct images in `index.json`, leaving out cosign signature tags.
    pub fn image_entries(&self) -> Result<Vec<Digest>, StoreError> {
        self.check_layout()?;
        let index = self.read_index()?;
        let mut digests: Vec<Digest> = Vec::new();
        for entry in index["manifests"].as_array().into_iter().flatten() {
            let tag = entry["annotations"][REF_NAME].as_str().unwrap_or_default();
            if is_attachment_tag(tag) {
                continue;
            }
            let digest: Digest = entry["digest"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .map_err(|e| self.err(&self.root.join(INDEX_FILE), e))?;
            if !digests.contains(&digest) {
                digests.push(digest);
            }
        }
        Ok(digests)
    }

    /// Fetches a manifest by tag or digest; `Ok(None)` when absent.
    pub fn get_manifest(
        &self,
        lookup: Lookup<'_>,
        max: usize,
    ) -> Result<Option<Fetched>, StoreError> {
        self.check_layout()?;
        let index = self.read_index()?;
        let entries = index["manifests"].as_array().cloned().unwrap_or_default();
        let (digest, media_type) = match lookup {
            Lookup::Tag(tag) => {
                let matching: Vec<&serde_json::Value> = entries
                    .iter()
                    .filter(|e| e["annotations"][REF_NAME].as_str() == Some(tag))
                    .collect();
                let entry = match matching.as_slice() {
                    [] => return Ok(None),
                    [one] => *one,
                    _ => {
                        return Err(self.err(
                            &self.root.join(INDEX_FILE),
                            format!("tag {tag:?} names {} manifests", matching.len()),
                        ));
                    }
                };
                let digest: Digest = entry["digest"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|e| self.err(&self.root.join(INDEX_FILE), e))?;
                (digest, entry["mediaType"].as_str().map(str::to_string))
            }
            Lookup::Digest(d) => {
                let media_type = entries
                    .iter()
                    .find(|e| e["digest"].as_str() == Some(d.to_string().as_str()))
                    .and_then(|e| e["mediaType"].as_str().map(str::to_string));
                if !self.blob_path(d).exists() {
                    return Ok(None);
                }
                (d.clone(), media_type)
            }
        };
        let what = format!("manifest {digest} in oci:{}", self.root.display());
        let bytes = self.read_blob(&digest, max, &what)?;
        Ok(Some(Fetched {
            bytes,
            media_type,
            digest,
        }))
    }

    fn read_blob(&self, digest: &Digest, max: usize, what: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let bytes = read_bounded(&path, max).map_err(|e| match e {
            ReadError::TooLarge => StoreError::TooLarge {
                what: what.to_string(),
                limit: max,
            },
            ReadError::NotFound => StoreError::NotFound(what.to_string()),
            other => self.err(&path, other),
        })?;
        check_digest(what, digest, &bytes)?;
        Ok(bytes)
    }

    /// Reads a blob, at most `max` bytes, checked against its digest.
    pub fn get_blob(&self, digest: &Digest, max: usize) -> Result<Vec<u8>, StoreError> {
        self.check_layout()?;
        self.read_blob(
            digest,
            max,
            &format!("blob {digest} in oci:{}", self.root.display()),
        )
    }

    /// Writes a blob atomically (temp file + rename); keeps an existing one.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        self.check_layout()?;
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if path.is_file() && check_digest("", &digest, &fs::read(&path).unwrap_or_default()).is_ok()
        {
            return Ok(digest);
        }
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| self.err(&dir, e))?;
        write_atomically(&path, bytes).map_err(|e| self.err(&path, e))?;
        Ok(digest)
    }

    /// Writes a manifest blob and points `tag` at it in `index.json`, under a lock so
    /// concurrent writers do not lose each other's entries.
    pub fn put_manifest(
        &self,
        tag: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, StoreError> {
        let digest = self.put_blob(bytes)?;
        // flock on the directory itself: index.json is replaced by rename, so it can't hold the lock.
        let lock = File::open(&self.root).map_err(|e| self.err(&self.root, e))?;
        lock.lock().map_err(|e| self.err(&self.root, e))?;
        let mut index = self.read_index()?;
        let entry = serde_json::json!({
            "mediaType": media_type,
            "digest": digest.to_string(),
            "size": bytes.len(),
            "annotations": { REF_NAME: tag },
        });
        if let Some(entries) = index["manifests"].as_array_mut() {
            entries.retain(|e| e["annotations"][REF_NAME].as_str() != Some(tag));
            entries.push(entry);
        }
        let index_path = self.root.join(INDEX_FILE);
        let serialized = serde_json::to_vec(&index).map_err(|e| self.err(&index_path, e))?;
        write_atomically(&index_path, &serialized).map_err(|e| self.err(&index_path, e))?;
        drop(lock);
        Ok(digest)
    }

    /// Creates an empty layout at `root` (used by tests and the quickstart).
    pub fn create(root: &Path) -> std::io::Result<Layout> {
        fs::create_dir_all(root.join("blobs").join("sha256"))?;
        fs::write(root.join(LAYOUT_FILE), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        if !root.join(INDEX_FILE).exists() {
            fs::write(
                root.join(INDEX_FILE),
                br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
            )?;
        }
        Ok(Layout::new(root.to_path_buf()))
    }
}

/// cosign's `sha256-<hex>.sig` and the OCI referrers tag `sha256-<hex>`: not images.
fn is_attachment_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|rest| {
        rest.ends_with(".sig") || (rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("no such file")]
    NotFound,
    #[error("file is larger than allowed")]
    TooLarge,
    #[error("{0}")]
    Io(std::io::Error),
}

fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, ReadError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound,
        _ => ReadError::Io(e),
    })?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() > max {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    vouch_fs::replace(path, bytes, 0o666, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_blobs_and_digest_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::create(dir.path()).expect("create");
        let manifest = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:00","size":0},"layers":[]}"#;
        let digest = layout
            .put_manifest("v1", manifest, vouch_oci::oci::OCI_MANIFEST)
            .expect("put");
        let got = layout
            .get_manifest(Lookup::Tag("v1"), 1 << 20)
            .expect("get")
            .expect("present");
        assert_eq!(got.digest, digest);
        assert_eq!(got.bytes, manifest);
        assert!(
            layout
                .get_manifest(Lookup::Tag("v2"), 1 << 20)
                .expect("get")
                .is_none()
        );
        // Retagging replaces the entry instead of adding a second one.
        let other = layout
            .put_manifest("v1", b"{}", vouch_oci::oci::OCI_MANIFEST)
            .expect("put");
        let got = layout
            .get_manifest(Lookup::Tag("v1"), 1 << 20)
            .expect("get")
            .expect("present");
        assert_eq!(got.digest, other);

        // A tampered blob is refused.
        fs::write(layout.blob_path(&digest), b"tampered").expect("write");
        assert!(matches!(
            layout.get_blob(&digest, 1 << 20),
            Err(StoreError::DigestMismatch { .. })
        ));
        assert!(matches!(
            layout.get_blob(&other, 1),
            Err(StoreError::TooLarge { .. })
        ));
    }

    #[test]
    fn not_a_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Layout::new(dir.path().to_path_buf())
            .get_manifest(Lookup::Tag("x"), 10)
            .expect_err("no oci-layout file");
        assert!(err.to_string().contains("oci-layout"), "{err}");
    }
}
