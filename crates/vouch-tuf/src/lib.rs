//! vouch-tuf: Sigstore's trusted root and signing config, kept current through TUF.
//!
//! [`update`] walks a TUF repository (Sigstore's by default) from a root of trust embedded
//! in the binary (or given for a private repository) with `tough`, the maintained TUF client:
//! root rotation, timestamp, snapshot and targets, each checked for signatures, thresholds,
//! rollback and expiry as the specification requires, then the targets `trusted_root.json`
//! and `signing_config.v0.2.json` against their signed hashes. What it verified is kept in
//! the cache (module `cache`) only once it all verified. [`read_cached`] re-verifies the cache
//! offline from the root of trust, and refuses it once its metadata has expired unless told
//! to accept the last verified state; [`newest_trusted_root`] is what verification uses:
//! the cached root, or the embedded one only when nothing was ever cached. Module `transport` is
//! how files are fetched; [`error`] says why TUF refused.
#![forbid(unsafe_code)]

mod cache;
pub mod error;
mod transport;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tough::{ExpirationEnforcement, IntoVec as _, Limits, RepositoryLoader, TargetName};
use url::Url;

pub use error::{Role, TufError};

use cache::RepoCache;
use transport::Fetcher;

/// Sigstore's public-good TUF repository.
pub const SIGSTORE_TUF_URL: &str = "https://tuf-repo-cdn.sigstore.dev/";
/// Its root of trust, as shipped (from sigstore-python's embedded copy, Apache-2.0, The
/// Sigstore Authors). Its own expiry does not matter: it is only where the walk to the
/// current root starts.
pub const SIGSTORE_ROOT: &[u8] = include_bytes!("../roots/sigstore-production.root.json");
/// The trusted root target.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";
/// The signing config target.
pub const SIGNING_CONFIG_TARGET: &str = "signing_config.v0.2.json";

/// The limits tough applies to what the repository serves.
const LIMITS: Limits = Limits {
    max_root_size: 1024 * 1024,
    max_targets_size: 4 * 1024 * 1024,
    max_timestamp_size: 64 * 1024,
    max_snapshot_size: 1024 * 1024,
    max_root_updates: 1024,
};

/// Which repository, from which root of trust, cached where.
#[derive(Debug, Clone)]
pub struct TufOptions {
    /// The repository's metadata URL (`--tuf-url`); targets are under `targets/`.
    pub url: Url,
    /// The root of trust (`--tuf-root`): required for a repository other than Sigstore's
    /// the first time; then kept in the cache.
    pub root: Option<Vec<u8>>,
    /// The cache's base directory (`$XDG_CACHE_HOME/vouch/tuf`).
    pub cache_dir: PathBuf,
    /// Allow `http://` (a local repository).
    pub allow_http: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after a failed connection or a "try again" answer.
    pub retries: u32,
}

impl TufOptions {
    /// Sigstore's public-good repository, cached under `cache_dir`.
    pub fn sigstore(cache_dir: PathBuf) -> TufOptions {
        TufOptions {
            url: Url::parse(SIGSTORE_TUF_URL).expect("a valid constant URL"),
            root: None,
            cache_dir,
            allow_http: false,
            timeout: Duration::from_secs(30),
            retries: 2,
        }
    }
}

/// `$XDG_CACHE_HOME/vouch/tuf` (an absolute `XDG_CACHE_HOME` only), else
/// `$HOME/.cache/vouch/tuf`; `env` reads the environment.
pub fn default_cache_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("vouch").join("tuf"))
}

/// Whether expired metadata may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Refuse it (the default).
    Enforce,
    /// Accept the last verified state although it expired (`--offline`).
    AcceptExpired,
}

/// The verified content of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedTrust {
    /// `trusted_root.json`.
    pub trusted_root: Vec<u8>,
    /// `signing_config.v0.2.json`, if the repository has one.
    pub signing_config: Option<Vec<u8>>,
    /// The TUF root's version.
    pub root_version: u64,
    /// The targets metadata's version.
    pub targets_version: u64,
    /// When the first of the metadata expires (or expired), Unix seconds.
    pub expires: i64,
    /// The role that expires first.
    pub expires_role: String,
    /// True when that time has passed (returned only with [`Expiry::AcceptExpired`]).
    pub expired: bool,
}

/// What verification should use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedRootChoice {
    /// The newest verified trusted root from the cache.
    Cached(CachedTrust),
    /// Nothing was ever cached: the trusted root built into the binary.
    Embedded,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn rfc3339(secs: i64) -> String {
    vouch_policy::Timestamp::from_unix(secs).to_string()
}

fn is_sigstore(url: &Url) -> bool {
    url.as_str().trim_end_matches('/') == SIGSTORE_TUF_URL.trim_end_matches('/')
}

/// The metadata URL with a trailing slash, and the targets URL under it.
fn urls(options: &TufOptions) -> Result<(Url, Url), TufError> {
    let mut metadata = options.url.clone();
    if !metadata.path().ends_with('/') {
        metadata.set_path(&format!("{}/", metadata.path()));
    }
    match metadata.scheme() {
        "https" | "file" => {}
        "http" if options.allow_http => {}
        "http" => {
            return Err(TufError::Config {
                reason: format!(
                    "TUF repository {metadata} is plain HTTP; only HTTPS is used unless plain HTTP is explicitly allowed for a local repository"
                ),
            });
        }
        other => {
            return Err(TufError::Config {
                reason: format!("TUF repository URL scheme {other:?} is not supported"),
            });
        }
    }
    let targets = metadata.join("targets/").map_err(|e| TufError::Config {
        reason: format!("TUF repository URL: {e}"),
    })?;
    Ok((metadata, targets))
}

/// The root of trust: `--tuf-root`, else the embedded one for Sigstore's repository, else
/// the one kept from the first update of this repository.
fn initial_root(options: &TufOptions, repo: &RepoCache) -> Result<Vec<u8>, TufError> {
    if let Some(root) = &options.root {
        return Ok(root.clone());
    }
    if is_sigstore(&options.url) {
        return Ok(SIGSTORE_ROOT.to_vec());
    }
    let kept = repo.dir.join(cache::INITIAL_ROOT);
    std::fs::read(&kept).map_err(|_| TufError::Config {
        reason: format!(
            "no root of trust for the TUF repository {}: pass --tuf-root with its root.json",
            options.url
        ),
    })
}

/// The `version` of a root metadata file.
fn root_version(root: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(root).ok()?;
    v.pointer("/signed/version")?.as_u64()
}

fn check_trusted_root(bytes: &[u8]) -> Result<(), TufError> {
    let media_type = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string));
    match media_type {
        Some(m) if m.starts_with("application/vnd.dev.sigstore.trustedroot") => Ok(()),
        _ => Err(TufError::UnexpectedTarget {
            target: TRUSTED_ROOT_TARGET.into(),
            expected: "Sigstore trusted root".into(),
        }),
    }
}

/// What an update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateReport {
    /// The TUF root version before (`None` for the first update) and after.
    pub root_version_before: Option<u64>,
    /// The verified content now cached.
    pub trust: CachedTrust,
}

/// Whether the caller can use a verified trusted root and signing config (it parses them as
/// verification will); `Err` says why not.
pub type Usable<'a> = &'a dyn Fn(&[u8], Option<&[u8]>) -> Result<(), String>;

/// Updates the cached trusted root and signing config from the repository. Nothing in the
/// cache changes unless the whole update verified and `usable` accepts the targets, so a
/// repository that starts publishing a format this binary cannot read does not replace the
/// last root it could.
pub async fn update(options: &TufOptions, usable: Usable<'_>) -> Result<UpdateReport, TufError> {
    let (metadata_url, targets_url) = urls(options)?;
    let repo = RepoCache::new(&options.cache_dir, &metadata_url);
    repo.create()?;
    let _lock = repo.lock()?;
    let initial = initial_root(options, &repo)?;
    let initial_version = root_version(&initial).ok_or_else(|| TufError::Malformed {
        reason: "the root of trust has no version".into(),
    })?;
    // Start from the newest root already trusted (TUF 5.2): never back to an older one.
    let datastore = repo.dir.join(cache::DATASTORE);
    let kept = std::fs::read(datastore.join("root.json")).ok();
    let kept_version = kept.as_deref().and_then(root_version);
    let start = match (&kept, kept_version) {
        (Some(k), Some(v)) if v >= initial_version => k.clone(),
        _ => initial.clone(),
    };
    let before = repo
        .current_mirror()?
        .map(|_| kept_version.unwrap_or(initial_version).max(initial_version));

    let fetcher = Fetcher::new(options.allow_http, options.timeout, options.retries)?;
    let repository = RepositoryLoader::new(&start, metadata_url.clone(), targets_url.clone())
        .transport(fetcher.clone())
        .limits(LIMITS)
        .datastore(&datastore)
        .expiration_enforcement(ExpirationEnforcement::Safe)
        .load()
        .await
        .map_err(|e| error::from_tough(&e, "the repository's answer"))?;
    let (trusted_root, signing_config) = read_targets(&repository).await?;
    check_trusted_root(&trusted_root)?;
    usable(&trusted_root, signing_config.as_deref())
        .map_err(|reason| TufError::Unusable { reason })?;
    let final_version = repository.root().signed.version.get();

    // Keep exactly what verified, plus every root from the root of trust on.
    let mirror = repo.new_mirror()?;
    let stage = async {
        if let Some(old) = repo.current_mirror()? {
            copy_roots(&old.join(cache::METADATA), &mirror.join(cache::METADATA))?;
        }
        for (url, bytes) in fetcher.recorded() {
            let (dir, name) = if let Some(n) = cache::relative_name(&targets_url, &url) {
                (cache::TARGETS, n)
            } else if let Some(n) = cache::relative_name(&metadata_url, &url) {
                (cache::METADATA, n)
            } else {
                continue;
            };
            cache::write_atomic(&mirror.join(dir).join(name), &bytes)?;
        }
        // Roots between the root of trust and the one updating started from.
        for v in initial_version + 1..=final_version {
            let path = mirror.join(cache::METADATA).join(format!("{v}.root.json"));
            if !path.exists() {
                let url =
                    metadata_url
                        .join(&format!("{v}.root.json"))
                        .map_err(|e| TufError::Config {
                            reason: e.to_string(),
                        })?;
                let bytes = tough::Transport::fetch(&fetcher, url)
                    .await
                    .map_err(|e| TufError::Unreachable {
                        reason: e.to_string(),
                    })?
                    .into_vec()
                    .await
                    .map_err(|e| TufError::Unreachable {
                        reason: e.to_string(),
                    })?;
                cache::write_atomic(&path, &bytes)?;
            }
        }
        if options.root.is_some() && !is_sigstore(&options.url) {
            cache::write_atomic(&repo.dir.join(cache::INITIAL_ROOT), &initial)?;
        }
        // What is kept must verify from the root of trust, as every later read will.
        let trust = read_mirror(&initial, &mirror, Expiry::Enforce).await?;
        if trust.trusted_root != trusted_root
            || trust.signing_config != signing_config
            || trust.root_version != final_version
        {
            return Err(TufError::Verification {
                reason: "the kept metadata does not reproduce the update".into(),
            });
        }
        Ok(trust)
    }
    .await;
    match stage {
        Ok(trust) => {
            repo.switch_to(&mirror)?;
            Ok(UpdateReport {
                root_version_before: before,
                trust,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&mirror);
            Err(e)
        }
    }
}

fn copy_roots(from: &Path, to: &Path) -> Result<(), TufError> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(n) = name.to_str() else { continue };
        let numbered = n
            .strip_suffix(".root.json")
            .is_some_and(|v| v.parse::<u64>().is_ok());
        if numbered {
            let bytes = std::fs::read(entry.path()).map_err(|e| TufError::Cache {
                path: entry.path().display().to_string(),
                reason: e.to_string(),
            })?;
            cache::write_atomic(&to.join(n), &bytes)?;
        }
    }
    Ok(())
}

async fn read_targets(
    repository: &tough::Repository,
) -> Result<(Vec<u8>, Option<Vec<u8>>), TufError> {
    let read = |name: &'static str| async move {
        let target = TargetName::new(name).map_err(|e| TufError::Malformed {
            reason: e.to_string(),
        })?;
        // Fetching it can fail like any request; what the stream then yields is checked
        // against the signed length and hash as it is read, so any error there is a mismatch
        // (the transport has read the whole file before the stream starts).
        match repository
            .read_target(&target)
            .await
            .map_err(|e| error::from_tough(&e, "the target"))?
        {
            Some(stream) => {
                stream
                    .into_vec()
                    .await
                    .map(Some)
                    .map_err(|e| TufError::TargetMismatch {
                        target: name.into(),
                        reason: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    };
    let trusted_root = read(TRUSTED_ROOT_TARGET)
        .await?
        .ok_or_else(|| TufError::MissingTarget {
            target: TRUSTED_ROOT_TARGET.into(),
        })?;
    let signing_config = read(SIGNING_CONFIG_TARGET).await?;
    Ok((trusted_root, signing_config))
}

/// Verifies a mirror from `initial` without the network.
async fn read_mirror(
    initial: &[u8],
    mirror: &Path,
    expiry: Expiry,
) -> Result<CachedTrust, TufError> {
    let as_url = |sub: &str| {
        Url::from_directory_path(mirror.join(sub)).map_err(|()| TufError::Cache {
            path: mirror.display().to_string(),
            reason: "not an absolute path".into(),
        })
    };
    let fetcher = Fetcher::new(false, Duration::from_secs(10), 0)?;
    // Expiry is judged below, to say which role expired when.
    let repository =
        RepositoryLoader::new(&initial, as_url(cache::METADATA)?, as_url(cache::TARGETS)?)
            .transport(fetcher)
            .limits(LIMITS)
            .expiration_enforcement(ExpirationEnforcement::Unsafe)
            .load()
            .await
            .map_err(|e| match error::from_tough(&e, "the cache") {
                TufError::Unreachable { reason } => TufError::Cache {
                    path: mirror.display().to_string(),
                    reason,
                },
                other => other,
            })?;
    let (trusted_root, signing_config) = read_targets(&repository).await?;
    check_trusted_root(&trusted_root)?;
    let expiries = [
        ("root", repository.root().signed.expires.as_second()),
        (
            "timestamp",
            repository.timestamp().signed.expires.as_second(),
        ),
        ("snapshot", repository.snapshot().signed.expires.as_second()),
        ("targets", repository.targets().signed.expires.as_second()),
    ];
    let (role, expires) = expiries
        .iter()
        .min_by_key(|(_, t)| *t)
        .copied()
        .unwrap_or(("root", i64::MAX));
    let expired = expires <= now();
    if expired && expiry == Expiry::Enforce {
        return Err(TufError::Expired {
            what: "the cached Sigstore trusted root is stale (run `vouch trust-root update`, or pass --offline to use the last verified one)".into(),
            role: Role(role.into()),
            at: Some(rfc3339(expires)),
        });
    }
    Ok(CachedTrust {
        trusted_root,
        signing_config,
        root_version: repository.root().signed.version.get(),
        targets_version: repository.targets().signed.version.get(),
        expires,
        expires_role: role.into(),
        expired,
    })
}

/// The cache's trusted root and signing config, re-verified offline from the root of trust;
/// `None` when no update ever succeeded for this repository. Expired metadata is refused
/// unless `expiry` accepts it.
pub async fn read_cached(
    options: &TufOptions,
    expiry: Expiry,
) -> Result<Option<CachedTrust>, TufError> {
    let (metadata_url, _) = urls(options)?;
    let repo = RepoCache::new(&options.cache_dir, &metadata_url);
    let Some(mut mirror) = repo.current_mirror()? else {
        return Ok(None);
    };
    let initial = initial_root(options, &repo)?;
    // An update may switch mirrors (and remove this one) while it is read: read the new one.
    for _ in 0..3 {
        let result = read_mirror(&initial, &mirror, expiry).await;
        match repo.current_mirror()? {
            Some(now) if result.is_err() && now != mirror => mirror = now,
            _ => return result.map(Some),
        }
    }
    read_mirror(&initial, &mirror, expiry).await.map(Some)
}

/// The trusted root verification should use: the newest verified one in the cache, or the
/// embedded one only when nothing was ever cached. A cache that does not verify, or whose
/// metadata expired (unless `expiry` accepts it), is an error, never a silent fallback.
pub async fn newest_trusted_root(
    options: &TufOptions,
    expiry: Expiry,
) -> Result<TrustedRootChoice, TufError> {
    Ok(match read_cached(options, expiry).await? {
        Some(trust) => TrustedRootChoice::Cached(trust),
        None => TrustedRootChoice::Embedded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_root_is_sigstores() {
        let options = TufOptions::sigstore(PathBuf::from("/nonexistent"));
        assert!(is_sigstore(&options.url));
        assert_eq!(root_version(SIGSTORE_ROOT), Some(15));
        let (m, t) = urls(&options).expect("urls");
        assert_eq!(m.as_str(), SIGSTORE_TUF_URL);
        assert_eq!(t.as_str(), "https://tuf-repo-cdn.sigstore.dev/targets/");
    }

    #[test]
    fn plain_http_only_when_allowed() {
        let mut options = TufOptions::sigstore(PathBuf::from("/c"));
        options.url = Url::parse("http://127.0.0.1:1/repo").expect("url");
        assert!(matches!(urls(&options), Err(TufError::Config { .. })));
        options.allow_http = true;
        let (m, _) = urls(&options).expect("allowed");
        assert_eq!(m.as_str(), "http://127.0.0.1:1/repo/");
    }

    #[test]
    fn cache_dir_follows_xdg() {
        let env = |k: &str| match k {
            "XDG_CACHE_HOME" => Some("/x".to_string()),
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(default_cache_dir(&env), Some(PathBuf::from("/x/vouch/tuf")));
        let relative = |k: &str| match k {
            "XDG_CACHE_HOME" => Some("rel".to_string()),
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(
            default_cache_dir(&relative),
            Some(PathBuf::from("/home/u/.cache/vouch/tuf"))
        );
    }

    #[tokio::test]
    async fn a_private_repository_needs_a_root_of_trust() {
        let dir = tempfile::tempdir().expect("dir");
        let mut options = TufOptions::sigstore(dir.path().to_path_buf());
        options.url = Url::parse("https://tuf.example.com/").expect("url");
        let err = update(&options, &|_, _| Ok(())).await.expect_err("no root");
        assert!(err.to_string().contains("--tuf-root"), "{err}");
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            newest_trusted_root(&options, Expiry::Enforce).await,
            Ok(TrustedRootChoice::Embedded)
        );
    }
}
