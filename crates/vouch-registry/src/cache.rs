//! The verification cache under `$XDG_CACHE_HOME/vouch`: per image digest, the `.sig`
//! manifest and the signature payloads last fetched, which key verified which layer, and the
//! Sigstore bundles last read from the image's referrers.
//! Never a policy decision: policies and key sets are applied afresh on every run.
//!
//! Entries are content-checked on every read (manifest and payload digests), written by
//! rename so concurrent processes see whole files, ignored when corrupt, and the cache is
//! trimmed (oldest first) when it grows past its bound.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::referrers::FetchedBundle;
use vouch_oci::reference::Digest;

/// 2: entries may say there was no `.sig` tag, and hold bundles.
const FORMAT: u32 = 2;
const MAX_ENTRY_BYTES: u64 = 8 * 1024 * 1024;
/// Trim when the cache holds more than this many entries…
const MAX_ENTRIES: usize = 50_000;
/// …or more than this many bytes.
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// How the cache is used for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Fetch the `.sig` manifest; reuse cached payloads and verifications.
    #[default]
    Normal,
    /// No network: only what the cache holds.
    Offline,
    /// Ignore what the cache holds, but store what is fetched.
    Refresh,
    /// Neither read nor write.
    Disabled,
}

/// One cached image: what its `.sig` manifest was, and what verified.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Entry {
    format: u32,
    /// `registry/repository@digest` this entry is for (guards against hash collisions of names).
    subject: String,
    /// The `.sig` manifest bytes (UTF-8 JSON).
    sig_manifest: String,
    /// Payloads by layer digest, base64.
    payloads: BTreeMap<String, String>,
    /// `layer digest | sha256(signature annotation) | key id` triples that verified.
    verified: BTreeSet<String>,
    /// The image had no `.sig` tag (the entry may still hold bundles).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    no_sig_tag: bool,
    /// The bundle referrers as last read; absent if they never were (vouch reads them only
    /// when the `.sig` signatures do not pass, or with `--all-signatures`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bundles: Option<Vec<CachedBundle>>,
}

/// One bundle referrer as read: the bundle (base64) or why it could not be had.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedBundle {
    source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bundle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The cache directory and this process's pending writes.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    mode: CacheMode,
    wrote: Mutex<bool>,
}

impl Cache {
    /// The cache at `$XDG_CACHE_HOME/vouch` (or `~/.cache/vouch`), or none if no home is known.
    pub fn open(mode: CacheMode) -> Option<Cache> {
        if mode == CacheMode::Disabled {
            return None;
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(Cache {
            dir: base.join("vouch").join("v1"),
            mode,
            wrote: Mutex::new(false),
        })
    }

    /// The cache in `dir` (a volume replicas of a server share).
    pub fn at(dir: PathBuf, mode: CacheMode) -> Option<Cache> {
        (mode != CacheMode::Disabled).then(|| Cache {
            dir: dir.join("v1"),
            mode,
            wrote: Mutex::new(false),
        })
    }

    /// The mode in force.
    pub fn mode(&self) -> CacheMode {
        self.mode
    }

    fn path_for(&self, subject: &str) -> PathBuf {
        let hash = hex::encode(sha2::Sha256::digest(subject.as_bytes()));
        self.dir.join(&hash[..2]).join(&hash[2..])
    }

    /// The entry for `subject` (`registry/repo@digest`), if present and intact.
    pub fn get(&self, subject: &str) -> Option<Entry> {
        if self.mode == CacheMode::Refresh {
            return None;
        }
        let file = std::fs::File::open(self.path_for(subject)).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return None;
        }
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        (entry.format == FORMAT && entry.subject == subject).then_some(entry)
    }

    /// Stores an entry (atomically; errors only cost a future cache miss).
    pub fn put(&self, subject: &str, entry: &Entry) {
        let path = self.path_for(subject);
        let Some(dir) = path.parent() else { return };
        if vouch_fs::create_private_dir(dir).is_err() {
            return;
        }
        let mut entry = entry.clone();
        entry.format = FORMAT;
        entry.subject = subject.to_string();
        let Ok(mut bytes) = serde_json::to_vec(&entry) else {
            return;
        };
        if bytes.len() as u64 > MAX_ENTRY_BYTES && entry.bundles.is_some() {
            // Many large bundles: keep the rest (they are read again when needed).
            entry.bundles = None;
            let Ok(smaller) = serde_json::to_vec(&entry) else {
                return;
            };
            bytes = smaller;
        }
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return;
        }
        // A cache entry may be lost in a crash (it is read again), so no flush to disk.
        if vouch_fs::replace(&path, &bytes, 0o666, false).is_err() {
            return;
        }
        *self.wrote.lock().unwrap_or_else(|p| p.into_inner()) = true;
    }

    /// Keeps the cache within its bounds, evicting the oldest entries. Run once per process,
    /// and only after it wrote something.
    pub fn trim(&self) {
        if !*self.wrote.lock().unwrap_or_else(|p| p.into_inner()) {
            return;
        }
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
        let Ok(shards) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for shard in shards.flatten() {
            let Ok(entries) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for e in entries.flatten() {
                if let Ok(meta) = e.metadata() {
                    let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                    files.push((mtime, meta.len(), e.path()));
                }
            }
        }
        let total: u64 = files.iter().map(|f| f.1).sum();
        if files.len() <= MAX_ENTRIES && total <= MAX_BYTES {
            return;
        }
        files.sort();
        let (mut count, mut bytes) = (files.len(), total);
        for (_, len, path) in files {
            if count <= MAX_ENTRIES * 4 / 5 && bytes <= MAX_BYTES * 4 / 5 {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                count -= 1;
                bytes = bytes.saturating_sub(len);
            }
        }
    }
}

impl Entry {
    /// A new entry for a `.sig` manifest that was just fetched (and digest-checked).
    pub fn new(sig_manifest: &[u8]) -> Option<Entry> {
        Some(Entry {
            sig_manifest: String::from_utf8(sig_manifest.to_vec()).ok()?,
            ..Entry::default()
        })
    }

    /// An entry for an image without a `.sig` tag.
    pub fn without_sig_tag() -> Entry {
        Entry {
            no_sig_tag: true,
            ..Entry::default()
        }
    }

    /// False when the image had no `.sig` tag.
    pub fn has_sig_tag(&self) -> bool {
        !self.no_sig_tag
    }

    /// The `.sig` manifest bytes.
    pub fn sig_manifest(&self) -> &[u8] {
        self.sig_manifest.as_bytes()
    }

    /// The bundle referrers as last read, if they were. Their bytes are not checked here:
    /// each bundle is verified in full whenever it is judged.
    pub fn bundles(&self) -> Option<Vec<FetchedBundle>> {
        let b64 = &base64::engine::general_purpose::STANDARD;
        self.bundles.as_ref().map(|bundles| {
            bundles
                .iter()
                .map(|b| FetchedBundle {
                    source: b.source.clone(),
                    bundle: match (&b.bundle, &b.error) {
                        (Some(bytes), _) => b64
                            .decode(bytes)
                            .map_err(|_| "corrupt in the verification cache".to_string()),
                        (None, Some(error)) => Err(error.clone()),
                        (None, None) => Err("corrupt in the verification cache".to_string()),
                    },
                })
                .collect()
        })
    }

    /// True when the bundle referrers were read (and kept) for this entry.
    pub fn has_bundles(&self) -> bool {
        self.bundles.is_some()
    }

    /// Remembers the bundle referrers just read.
    pub fn set_bundles(&mut self, bundles: &[FetchedBundle]) {
        let b64 = &base64::engine::general_purpose::STANDARD;
        self.bundles = Some(
            bundles
                .iter()
                .map(|b| CachedBundle {
                    source: b.source.clone(),
                    bundle: b.bundle.as_ref().ok().map(|bytes| b64.encode(bytes)),
                    error: b.bundle.as_ref().err().cloned(),
                })
                .collect(),
        );
    }

    /// A cached payload, if present and matching its digest.
    pub fn payload(&self, layer_digest: &str) -> Option<Vec<u8>> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.payloads.get(layer_digest)?)
            .ok()?;
        (Digest::of(&bytes).to_string() == layer_digest).then_some(bytes)
    }

    /// Remembers a payload (already checked against its digest).
    pub fn add_payload(&mut self, layer_digest: &str, bytes: &[u8]) {
        self.payloads.insert(
            layer_digest.to_string(),
            base64::engine::general_purpose::STANDARD.encode(bytes),
        );
    }

    fn memo_key(layer_digest: &str, signature: &str, key_id: &str) -> String {
        let sig = hex::encode(sha2::Sha256::digest(signature.as_bytes()));
        format!("{layer_digest}|{sig}|{key_id}")
    }

    /// True if this layer's signature verified under `key_id` before.
    pub fn verified(&self, layer_digest: &str, signature: &str, key_id: &str) -> bool {
        self.verified
            .contains(&Entry::memo_key(layer_digest, signature, key_id))
    }

    /// Remembers that this layer's signature verified under `key_id`.
    pub fn mark_verified(&mut self, layer_digest: &str, signature: &str, key_id: &str) {
        self.verified
            .insert(Entry::memo_key(layer_digest, signature, key_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cache(dir: &Path, mode: CacheMode) -> Cache {
        Cache {
            dir: dir.to_path_buf(),
            mode,
            wrote: Mutex::new(false),
        }
    }

    #[test]
    fn roundtrip_and_integrity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = cache(dir.path(), CacheMode::Normal);
        let mut e = Entry::new(b"{\"layers\":[]}").expect("utf8");
        let payload = b"{\"critical\":{}}";
        let d = Digest::of(payload).to_string();
        e.add_payload(&d, payload);
        e.mark_verified(&d, "sig", "key");
        c.put("r/a@sha256:1", &e);
        let got = c.get("r/a@sha256:1").expect("cached");
        assert_eq!(got.payload(&d).as_deref(), Some(&payload[..]));
        assert!(got.verified(&d, "sig", "key"));
        assert!(!got.verified(&d, "sig2", "key"));
        assert!(c.get("r/b@sha256:1").is_none());
        // A payload stored under the wrong digest is ignored.
        let mut bad = got.clone();
        bad.payloads.insert(
            d.clone(),
            base64::engine::general_purpose::STANDARD.encode(b"x"),
        );
        assert!(bad.payload(&d).is_none());
        // A corrupt file is a miss, not an error.
        std::fs::write(c.path_for("r/a@sha256:1"), b"{not json").expect("write");
        assert!(c.get("r/a@sha256:1").is_none());
        // Bundles: absent until read; then kept, failures included.
        let mut e2 = Entry::without_sig_tag();
        assert!(!e2.has_sig_tag());
        assert!(e2.bundles().is_none());
        e2.set_bundles(&[
            FetchedBundle {
                source: "sha256:aa".into(),
                bundle: Ok(b"{}".to_vec()),
            },
            FetchedBundle {
                source: "sha256:bb".into(),
                bundle: Err("too large".into()),
            },
        ]);
        c.put("r/c@sha256:1", &e2);
        let got = c.get("r/c@sha256:1").expect("cached");
        assert!(!got.has_sig_tag());
        let bundles = got.bundles().expect("bundles");
        assert_eq!(bundles[0].bundle.as_deref(), Ok(&b"{}"[..]));
        assert_eq!(bundles[1].bundle, Err("too large".to_string()));
        // An entry too large to read back is written without its bundles, not at all.
        let mut big = Entry::new(b"{}").expect("utf8");
        big.set_bundles(&[FetchedBundle {
            source: "sha256:cc".into(),
            bundle: Ok(vec![b'x'; MAX_ENTRY_BYTES as usize]),
        }]);
        c.put("r/d@sha256:1", &big);
        let got = c.get("r/d@sha256:1").expect("cached without bundles");
        assert!(got.bundles().is_none());
        // Refresh reads nothing.
        c.put("r/a@sha256:1", &e);
        assert!(
            cache(dir.path(), CacheMode::Refresh)
                .get("r/a@sha256:1")
                .is_none()
        );
    }
}
