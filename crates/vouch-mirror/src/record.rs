//! The record of what the mirror allowed: for each repository, the manifests it served under
//! the policy in force and everything reachable from them (an index's child manifests, an
//! image's config and layers, with their sizes), each until an expiry.
//!
//! A blob is served only when this record holds it, so an image that was never allowed
//! cannot be pulled by asking for its blobs. Kept in memory and, with a directory, on disk
//! too: replicas sharing the directory (a volume) serve blobs of manifests another replica
//! allowed. Entries are keyed by the policy's content hash, so a new policy starts afresh,
//! and every file read back is bounded and checked against the key it is filed under.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use vouch_oci::reference::Digest;

/// Largest record file read back.
const MAX_FILE_BYTES: u64 = 4096;

/// What an allowed digest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A manifest or index (served by the manifests endpoint).
    Manifest,
    /// A config or layer blob.
    Blob,
}

/// One allowed digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowed {
    /// What it is.
    pub kind: Kind,
    /// Its size, as the manifest that reaches it says.
    pub size: Option<u64>,
    /// Unix seconds after which the entry no longer counts.
    pub until: u64,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    key: String,
    #[serde(flatten)]
    allowed: Allowed,
}

/// The record: memory, and a shared directory if one is given.
pub struct Record {
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<String, Allowed>>,
    max_entries: usize,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn key(policy: &str, repository: &str, digest: &Digest) -> String {
    format!("{policy} {repository}@{digest}")
}

impl Record {
    /// A record in memory, also written under `dir` when given.
    pub fn new(dir: Option<PathBuf>, max_entries: usize) -> Record {
        Record {
            dir,
            memory: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(16),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Allowed>> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(dir: &Path, key: &str) -> PathBuf {
        let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
        dir.join("allowed").join(&hash[..2]).join(&hash[2..])
    }

    /// Records `items` (digest, kind, size) of `repository` as allowed under `policy` for
    /// `ttl`. A failure to write the shared directory is returned (the caller logs it; this
    /// process still serves from memory).
    pub fn allow(
        &self,
        policy: &str,
        repository: &str,
        items: &[(Digest, Kind, Option<u64>)],
        ttl: Duration,
    ) -> std::io::Result<()> {
        let until = now() + ttl.as_secs().max(1);
        {
            let mut memory = self.lock();
            if memory.len() + items.len() > self.max_entries {
                let t = now();
                memory.retain(|_, a| a.until > t);
                if memory.len() + items.len() > self.max_entries {
                    memory.clear();
                }
            }
            for (digest, kind, size) in items {
                memory.insert(
                    key(policy, repository, digest),
                    Allowed {
                        kind: *kind,
                        size: *size,
                        until,
                    },
                );
            }
        }
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        for (digest, kind, size) in items {
            let key = key(policy, repository, digest);
            let path = Record::path(dir, &key);
            if let Some(parent) = path.parent() {
                vouch_fs::create_private_dir(parent)?;
            }
            let body = serde_json::to_vec(&OnDisk {
                key,
                allowed: Allowed {
                    kind: *kind,
                    size: *size,
                    until,
                },
            })
            .map_err(std::io::Error::other)?;
            vouch_fs::replace(&path, &body, 0o600, false)?;
        }
        Ok(())
    }

    /// What the record says of `digest` in `repository` under `policy`, if it is allowed
    /// and not expired.
    pub fn lookup(&self, policy: &str, repository: &str, digest: &Digest) -> Option<Allowed> {
        let key = key(policy, repository, digest);
        let t = now();
        if let Some(a) = self.lock().get(&key).filter(|a| a.until > t) {
            return Some(a.clone());
        }
        let dir = self.dir.as_ref()?;
        let allowed = read_entry(&Record::path(dir, &key), &key)?;
        if allowed.until <= t {
            return None;
        }
        self.lock().insert(key, allowed.clone());
        Some(allowed)
    }

    /// Forgets everything in memory (the files stay: they are keyed by policy).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

fn read_entry(path: &Path, key: &str) -> Option<Allowed> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return None;
    }
    let entry: OnDisk = serde_json::from_slice(&bytes).ok()?;
    (entry.key == key).then_some(entry.allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::of(s.as_bytes())
    }

    #[test]
    fn replicas_sharing_a_directory_see_each_others_allowances() {
        let dir = tempfile::tempdir().expect("dir");
        let one = Record::new(Some(dir.path().to_path_buf()), 100);
        let two = Record::new(Some(dir.path().to_path_buf()), 100);
        one.allow(
            "p1",
            "up/app",
            &[(d("layer"), Kind::Blob, Some(5))],
            Duration::from_secs(60),
        )
        .expect("write");
        let seen = two.lookup("p1", "up/app", &d("layer")).expect("shared");
        assert_eq!((seen.kind, seen.size), (Kind::Blob, Some(5)));
        // Another policy, repository or digest: not allowed.
        assert!(two.lookup("p2", "up/app", &d("layer")).is_none());
        assert!(two.lookup("p1", "up/other", &d("layer")).is_none());
        assert!(two.lookup("p1", "up/app", &d("other")).is_none());
    }

    #[test]
    fn a_file_filed_under_another_key_does_not_count() {
        let dir = tempfile::tempdir().expect("dir");
        let record = Record::new(Some(dir.path().to_path_buf()), 100);
        record
            .allow(
                "p",
                "up/a",
                &[(d("x"), Kind::Blob, None)],
                Duration::from_secs(60),
            )
            .expect("write");
        // Copy a's file to where b's entry would be: the key inside does not match.
        let a = Record::path(dir.path(), &key("p", "up/a", &d("x")));
        let b = Record::path(dir.path(), &key("p", "up/b", &d("x")));
        std::fs::create_dir_all(b.parent().expect("parent")).expect("mkdir");
        std::fs::copy(a, b).expect("copy");
        let fresh = Record::new(Some(dir.path().to_path_buf()), 100);
        assert!(fresh.lookup("p", "up/b", &d("x")).is_none());
    }

    #[test]
    fn expired_entries_do_not_count() {
        let record = Record::new(None, 100);
        record.lock().insert(
            key("p", "r", &d("x")),
            Allowed {
                kind: Kind::Blob,
                size: None,
                until: now() - 1,
            },
        );
        assert!(record.lookup("p", "r", &d("x")).is_none());
    }
}
