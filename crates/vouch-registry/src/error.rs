//! Why a registry or layout could not be read or written, and which failures mean
//! "unreachable" (exit code 3) rather than bad content.

use vouch_oci::oci;

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
