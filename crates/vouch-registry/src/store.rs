//! Where images and their signatures live: a registry or an OCI layout on disk, behind one
//! [`Repo`] handle. Every manifest and blob read here is checked against the digest it was
//! asked for.

use std::sync::Arc;

use vouch_oci::oci::{self, Limits};
use vouch_oci::reference::{Digest, ImageRef};

use crate::content::{Fetched, Lookup};
use crate::error::StoreError;
use crate::options::StoreOptions;
use crate::{http, layout, registry};

/// Opens repositories, sharing one HTTP connection pool across them (and across clones).
#[derive(Clone)]
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

    /// Opens a blob for streaming (registries only); `Ok(None)` when it does not exist.
    /// The caller checks the digest of what it reads.
    pub async fn open_blob(
        &self,
        digest: &Digest,
        max: u64,
    ) -> Result<Option<registry::BlobStream>, StoreError> {
        match self {
            Repo::Registry(r) => r.open_blob(digest, max).await,
            Repo::Layout(l) => Err(not_streamed(l)),
        }
    }

    /// A small read-only document under the repository (`tags/list`, `referrers/<digest>`),
    /// from registries only; `Ok(None)` on 404.
    pub async fn get_document(
        &self,
        suffix: &str,
        accept: Option<&str>,
        max: usize,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, StoreError> {
        match self {
            Repo::Registry(r) => r.get_document(suffix, accept, max).await,
            Repo::Layout(l) => Err(not_streamed(l)),
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

fn not_streamed(layout: &layout::Layout) -> StoreError {
    StoreError::Layout {
        path: layout.name(),
        reason: "only registries are read this way".into(),
    }
}
