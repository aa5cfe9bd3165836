//! Connection settings shared by every repository handle: TLS, timeouts, retries, limits and
//! where credentials are looked up.

use vouch_oci::oci::Limits;

use crate::credentials;

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
