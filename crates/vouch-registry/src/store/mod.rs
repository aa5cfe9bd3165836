//! Where images and their signatures live: a registry or an OCI image layout on disk.
//! Every manifest and blob read here is checked against the digest it was asked for.

pub mod credentials;
pub mod http;
pub mod layout;
pub mod registry;

use std::sync::Arc;

use vouch_oci::oci::{self, Limits};
use vouch_oci::reference::{Digest, ImageRef};

/// A manifest as fetched and checked.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Exact bytes served.
    pub bytes: Vec<u8>,
    /// Content type the store gave, if any.
    pub media_type: Option<String>,
    /// sha256 of `bytes` (equal to the digest asked for, when one was).
    pub digest: Digest,
}

/// A tag or a digest to look up.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    /// By tag: the answer's digest is computed from its bytes.
    Tag(&'a str),
    /// By digest: the answer must hash to it.
    Digest(&'a Digest),
}

impl std::fmt::Display for Lookup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lookup::Tag(t) => f.write_str(t),
            Lookup::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The registry could not be reached or answered with an error.
    #[error("{registry}: {request}: {reason}")]
    Registry {
        /// Registry host.
        registry: String,
        /// What was asked, e.g. `GET /v2/app/manifests/v1`.
        request: String,
        /// What went wrong.
        reason: String,
    },
    /// Content did not hash to the digest it was asked by (or the registry claimed).
    #[error("{what}: content digest is {actual}, expected {expected}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// Content larger than allowed.
    #[error("{what}: larger than the {limit}-byte limit")]
    TooLarge {
        /// What was fetched.
        what: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A manifest could not be parsed.
    #[error("{what}: {source}")]
    Manifest {
        /// What was fetched.
        what: String,
        /// The parse error.
        source: oci::ManifestError,
    },
    /// Not found where it must exist.
    #[error("{0}: not found")]
    NotFound(String),
    /// `--offline` and the cache lacks what is needed.
    #[error("{0}")]
    Offline(String),
    /// The connection settings are unusable (a CA or client-certificate file): a usage error.
    #[error("{0}")]
    Setup(String),
    /// An OCI layout on disk is unreadable or malformed.
    #[error("{path}: {reason}")]
    Layout {
        /// File or directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl StoreError {
    /// True for failures of the transport or the server (exit code 3), false for content
    /// that was read but is wrong (a verification failure).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            StoreError::Registry { .. } | StoreError::Layout { .. } | StoreError::Offline(_)
        )
    }
}

/// Connection settings shared by every repository handle.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Allow plain HTTP and unverified TLS.
    pub allow_insecure: bool,
    /// Bounds on what is read.
    pub limits: Limits,
    /// Extra CA certificates (PEM files) trusted besides the system's.
    pub ca_certs: Vec<std::path::PathBuf>,
    /// A client certificate and key (PEM files) for mutual TLS.
    pub client_identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Deadline for one HTTP request, body included.
    pub timeout: std::time::Duration,
    /// Retries after a failed attempt (429, 5xx, resets; a timed-out attempt is final).
    pub retries: u32,
    /// Where credentials are looked up.
    pub credentials: credentials::CredentialSources,
    /// Print each request (method, path, status, time; never headers) to stderr.
    pub debug: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            allow_insecure: false,
            limits: Limits::default(),
            ca_certs: Vec::new(),
            client_identity: None,
            timeout: std::time::Duration::from_secs(30),
            retries: 4,
            credentials: credentials::CredentialSources::from_env(),
            debug: false,
        }
    }
}

/// Opens repositories, sharing one HTTP connection pool across them.
pub struct Stores {
    transport: Arc<http::Transport>,
    limits: Limits,
}

impl Stores {
    /// Sets up the shared HTTP client.
    pub fn new(options: &StoreOptions) -> Result<Stores, StoreError> {
        Ok(Stores {
            transport: Arc::new(http::Transport::new(options)?),
            limits: options.limits,
        })
    }

    /// A handle on the repository `image` lives in.
    pub fn repo(&self, image: &ImageRef) -> Repo {
        match image {
            ImageRef::Registry(r) => Repo::Registry(registry::RegistryRepo::new(
                self.transport.clone(),
                r.registry.clone(),
                r.api_host().to_string(),
                r.repository.clone(),
            )),
            ImageRef::Layout(l) => Repo::Layout(layout::Layout::new(l.path.clone())),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// One repository: in a registry, or an OCI layout directory.
pub enum Repo {
    /// A registry repository.
    Registry(registry::RegistryRepo),
    /// A layout on disk.
    Layout(layout::Layout),
}

impl Repo {
    /// `registry/repository` or `oci:PATH`, for messages.
    pub fn name(&self) -> String {
        match self {
            Repo::Registry(r) => r.name(),
            Repo::Layout(l) => l.name(),
        }
    }

    /// Fetches a manifest; `Ok(None)` when the tag or digest does not exist.
    pub async fn get_manifest(
        &self,
        lookup: Lookup<'_>,
        limits: &Limits,
    ) -> Result<Option<Fetched>, StoreError> {
        match self {
            Repo::Registry(r) => r.get_manifest(lookup, limits.max_manifest_bytes).await,
            Repo::Layout(l) => l.get_manifest(lookup, limits.max_manifest_bytes),
        }
    }

    /// Fetches a blob, at most `max` bytes, checked against `digest`.
    pub async fn get_blob(&self, digest: &Digest, max: usize) -> Result<Vec<u8>, StoreError> {
        match self {
            Repo::Registry(r) => r.get_blob(digest, max).await,
            Repo::Layout(l) => l.get_blob(digest, max),
        }
    }

    /// Stores a blob (a no-op when it is already there).
    pub async fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        match self {
            Repo::Registry(r) => r.put_blob(bytes).await,
            Repo::Layout(l) => l.put_blob(bytes),
        }
    }

    /// Stores a manifest under `tag`.
    pub async fn put_manifest(
        &self,
        tag: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, StoreError> {
        match self {
            Repo::Registry(r) => r.put_manifest(tag, bytes, media_type).await,
            Repo::Layout(l) => l.put_manifest(tag, bytes, media_type),
        }
    }

    /// The registry's Referrers API answer for `digest`; `Ok(None)` when there is no such
    /// API (always, for a layout: referrers live under the `sha256-<hex>` tag there).
    pub async fn get_referrers(
        &self,
        digest: &Digest,
        limits: &Limits,
    ) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        match self {
            Repo::Registry(r) => r.get_referrers(digest, limits.max_manifest_bytes).await,
            Repo::Layout(_) => Ok(None),
        }
    }

    /// Stores a referrer manifest (addressed by digest, untagged). Returns its digest and
    /// whether the store indexed its subject itself (a registry with the Referrers API).
    pub async fn put_referrer_manifest(
        &self,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(Digest, bool), StoreError> {
        match self {
            Repo::Registry(r) => r.put_referrer_manifest(bytes, media_type).await,
            // In a layout the manifest is a blob, reachable through the referrers tag.
            Repo::Layout(l) => Ok((l.put_blob(bytes)?, false)),
        }
    }

    /// Fetches a manifest that must exist and parses it.
    pub async fn get_parsed(
        &self,
        lookup: Lookup<'_>,
        what: &str,
        limits: &Limits,
    ) -> Result<(Fetched, oci::Manifest), StoreError> {
        let fetched = self
            .get_manifest(lookup, limits)
            .await?
            .ok_or_else(|| StoreError::NotFound(what.to_string()))?;
        let parsed = oci::parse_manifest(&fetched.bytes, fetched.media_type.as_deref(), limits)
            .map_err(|source| StoreError::Manifest {
                what: what.to_string(),
                source,
            })?;
        Ok((fetched, parsed))
    }
}

/// Checks fetched bytes against the digest they were asked by.
pub(crate) fn check_digest(what: &str, expected: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
    let actual = Digest::of(bytes);
    if &actual == expected {
        Ok(())
    } else {
        Err(StoreError::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}
