//! Turning a reference into the one digest that will be judged or signed.

use crate::content::{Fetched, Lookup};
use crate::error::StoreError;
use crate::store::Repo;
use vouch_oci::oci::{self, Limits};
use vouch_oci::reference::{Digest, ImageRef};

/// A resolved image: its digest and (when fetched) its manifest.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The digest every later step uses; the tag is never consulted again.
    pub digest: Digest,
    /// The manifest, when it was fetched.
    pub manifest: Option<(Fetched, oci::Manifest)>,
}

/// Resolves `image` once. With `need_manifest == false` a digest reference is taken as
/// is (no request); a tag is always fetched, and its digest computed from the bytes.
pub async fn resolve(
    repo: &Repo,
    image: &ImageRef,
    need_manifest: bool,
    limits: &Limits,
) -> Result<Resolved, StoreError> {
    if let Some(digest) = image.digest() {
        if !need_manifest {
            return Ok(Resolved {
                digest: digest.clone(),
                manifest: None,
            });
        }
        let what = format!("image {image}");
        let (fetched, parsed) = repo
            .get_parsed(Lookup::Digest(digest), &what, limits)
            .await?;
        return Ok(Resolved {
            digest: fetched.digest.clone(),
            manifest: Some((fetched, parsed)),
        });
    }
    let tag = match (image, image.tag()) {
        (_, Some(tag)) => tag.to_string(),
        (ImageRef::Registry(_), None) => "latest".to_string(),
        (ImageRef::Layout(_), None) => return resolve_untagged_layout(repo, image, limits).await,
    };
    let what = format!("image {image}");
    let (fetched, parsed) = repo.get_parsed(Lookup::Tag(&tag), &what, limits).await?;
    Ok(Resolved {
        digest: fetched.digest.clone(),
        manifest: Some((fetched, parsed)),
    })
}

/// An untagged `oci:PATH` means the layout's only image (signature manifests aside).
async fn resolve_untagged_layout(
    repo: &Repo,
    image: &ImageRef,
    limits: &Limits,
) -> Result<Resolved, StoreError> {
    let Repo::Layout(layout) = repo else {
        return Err(StoreError::NotFound(format!("image {image}")));
    };
    let candidates = layout.image_entries()?;
    match candidates.as_slice() {
        [only] => {
            let what = format!("image {image}");
            let (fetched, parsed) = repo.get_parsed(Lookup::Digest(only), &what, limits).await?;
            Ok(Resolved {
                digest: fetched.digest.clone(),
                manifest: Some((fetched, parsed)),
            })
        }
        [] => Err(StoreError::NotFound(format!(
            "image {image} (the layout holds no image)"
        ))),
        many => Err(StoreError::Layout {
            path: image.repository_display(),
            reason: format!(
                "the layout holds {} images; name one with oci:PATH:TAG or oci:PATH@sha256:…",
                many.len()
            ),
        }),
    }
}
