//! Sigstore bundles attached to images as OCI 1.1 referrers (cosign v3's signature format):
//! an artifact manifest (`artifactType` the bundle media type, `subject` the image, an empty
//! config, one layer holding the bundle JSON), found through the registry's Referrers API or,
//! where the registry lacks it (Distribution 2.8), through the referrers tag schema: an OCI
//! index tagged `sha256-<hex>` listing the referrers' descriptors.

use std::collections::BTreeMap;

use crate::content::{Fetched, Lookup};
use crate::error::StoreError;
use crate::store::Repo;
pub use vouch_oci::oci::ReferrerDescriptor;
use vouch_oci::oci::{self, ImageManifest, Limits, ManifestError, ReferrersIndex};
use vouch_oci::oci::{BUNDLE_V03_MEDIA_TYPE, SIGN_PREDICATE_TYPE};
use vouch_oci::reference::Digest;

/// The artifact type of a bundle referrer (and its layer's media type).
pub const BUNDLE_ARTIFACT_TYPE: &str = BUNDLE_V03_MEDIA_TYPE;
/// The OCI empty descriptor's media type (an artifact's config).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty JSON object an empty descriptor points to.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// Largest bundle blob read. A bundle with a certificate chain, a log entry and timestamps is
/// a few kilobytes.
pub const MAX_BUNDLE_BYTES: usize = 256 * 1024;
/// Annotation: `dsse-envelope` or `message-signature`.
pub const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
/// Annotation: the in-toto predicate type of a DSSE bundle.
pub const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// Annotation: when the artifact was made (RFC 3339).
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// The referrers tag schema's tag for `digest`: `sha256-<hex>`.
pub fn referrers_tag(digest: &Digest) -> String {
    format!("sha256-{}", digest.hex())
}

/// One bundle referrer, fetched as far as it could be.
#[derive(Debug, Clone)]
pub struct FetchedBundle {
    /// The referrer manifest's digest (or, for a bundle file, its name).
    pub source: String,
    /// The bundle JSON, or why it could not be had.
    pub bundle: Result<Vec<u8>, String>,
}

/// Where the referrers were listed, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The registry's Referrers API.
    Api,
    /// The `sha256-<hex>` tag.
    Tag,
}

fn parse_index(bytes: &[u8], limits: &Limits) -> Result<Vec<ReferrerDescriptor>, ManifestError> {
    let index: ReferrersIndex =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
    if index.schema_version != 2 {
        return Err(ManifestError::Malformed(format!(
            "schemaVersion {}, expected 2",
            index.schema_version
        )));
    }
    if let Some(t) = &index.media_type
        && t != oci::OCI_INDEX
    {
        return Err(ManifestError::UnsupportedMediaType(t.clone()));
    }
    if index.manifests.len() > limits.max_index_children {
        return Err(ManifestError::TooMany {
            what: "referrers",
            count: index.manifests.len(),
            limit: limits.max_index_children,
        });
    }
    Ok(index.manifests)
}

/// Whether an index entry may be a bundle: its artifact type says so, or says nothing useful
/// (cosign 2.5 writes the config's media type, `application/vnd.oci.empty.v1+json`, into the
/// referrers tag index). The manifest itself decides.
fn may_be_bundle(d: &ReferrerDescriptor) -> bool {
    d.media_type == oci::OCI_MANIFEST
        && match d.artifact_type.as_deref() {
            None | Some(BUNDLE_ARTIFACT_TYPE) | Some(EMPTY_MEDIA_TYPE) => true,
            Some(_) => false,
        }
}

/// The referrers of `digest`: from the Referrers API, else the `sha256-<hex>` tag. A tag that
/// does not hold a well-formed index gives an `Err` entry in the list (reported, never
/// counted); only an unreachable store is an error.
pub async fn list_referrers(
    repo: &Repo,
    digest: &Digest,
    limits: &Limits,
) -> Result<(ReferrersSource, Result<Vec<ReferrerDescriptor>, String>), StoreError> {
    if let Some(pages) = repo.get_referrers(digest, limits).await? {
        let mut listed = Vec::new();
        for (i, page) in pages.iter().enumerate() {
            let what = if pages.len() == 1 {
                "the registry's referrers index".to_string()
            } else {
                format!("the registry's referrers index, page {}", i + 1)
            };
            match parse_index(page, limits) {
                Ok(entries) => listed.extend(entries),
                Err(e) => return Ok((ReferrersSource::Api, Err(format!("{what}: {e}")))),
            }
            if listed.len() > limits.max_index_children {
                let e = ManifestError::TooMany {
                    what: "referrers",
                    count: listed.len(),
                    limit: limits.max_index_children,
                };
                return Ok((ReferrersSource::Api, Err(format!("{what}: {e}"))));
            }
        }
        return Ok((ReferrersSource::Api, Ok(listed)));
    }
    let tag = referrers_tag(digest);
    let listed = match repo.get_manifest(Lookup::Tag(&tag), limits).await? {
        None => Ok(Vec::new()),
        Some(fetched) => {
            parse_index(&fetched.bytes, limits).map_err(|e| format!("referrers tag {tag}: {e}"))
        }
    };
    Ok((ReferrersSource::Tag, listed))
}

/// Fetches every Sigstore bundle attached to `digest`: each referrer manifest by digest (so
/// checked), which must be a bundle artifact whose subject is `digest` with one bundle layer
/// of at most [`MAX_BUNDLE_BYTES`], and that layer's blob (checked against its digest and
/// size). Referrers of other types are skipped; broken bundle referrers are returned with the
/// reason. Concurrent.
pub async fn fetch_bundles(
    repo: &Repo,
    digest: &Digest,
    limits: &Limits,
) -> Result<Vec<FetchedBundle>, StoreError> {
    let (_, listed) = list_referrers(repo, digest, limits).await?;
    let descriptors = match listed {
        Ok(d) => d,
        Err(reason) => {
            return Ok(vec![FetchedBundle {
                source: referrers_tag(digest),
                bundle: Err(reason),
            }]);
        }
    };
    let fetches = descriptors
        .iter()
        .filter(|d| may_be_bundle(d))
        .map(|d| fetch_one(repo, digest, d, limits));
    let mut out = Vec::new();
    for result in futures_util::future::join_all(fetches).await {
        if let Some(fetched) = result? {
            out.push(fetched);
        }
    }
    Ok(out)
}

async fn fetch_one(
    repo: &Repo,
    image: &Digest,
    d: &ReferrerDescriptor,
    limits: &Limits,
) -> Result<Option<FetchedBundle>, StoreError> {
    let claimed_bundle = d.artifact_type.as_deref() == Some(BUNDLE_ARTIFACT_TYPE);
    let reject = |reason: String| {
        Ok(Some(FetchedBundle {
            source: d.digest.clone(),
            bundle: Err(reason),
        }))
    };
    let manifest_digest: Digest = match d.digest.parse() {
        Ok(m) => m,
        Err(_) => return reject(format!("referrer digest {:?} is not sha256", d.digest)),
    };
    let fetched = match repo
        .get_manifest(Lookup::Digest(&manifest_digest), limits)
        .await
    {
        Ok(Some(f)) => f,
        Ok(None) => return reject("the referrer manifest is missing".into()),
        Err(e) if e.is_unreachable() => return Err(e),
        Err(e) => return reject(e.to_string()),
    };
    let manifest: ImageManifest = match serde_json::from_slice(&fetched.bytes) {
        Ok(m) => m,
        Err(e) if claimed_bundle => return reject(format!("malformed referrer manifest: {e}")),
        Err(_) => return Ok(None),
    };
    let artifact_type = manifest
        .artifact_type
        .as_deref()
        .unwrap_or(manifest.config.media_type.as_str());
    if artifact_type != BUNDLE_ARTIFACT_TYPE {
        return if claimed_bundle {
            reject(format!(
                "the index calls it a bundle, but the manifest's artifact type is {artifact_type:?}"
            ))
        } else {
            Ok(None)
        };
    }
    if manifest.schema_version != 2
        || manifest
            .media_type
            .as_deref()
            .is_some_and(|m| m != oci::OCI_MANIFEST)
    {
        return reject("the referrer is not an OCI image manifest".into());
    }
    match &manifest.subject {
        Some(s) if s.digest == image.to_string() => {}
        Some(s) => {
            return reject(format!(
                "the referrer's subject is {}, not this image: a referrer of another image",
                s.digest
            ));
        }
        None => return reject("the referrer has no subject".into()),
    }
    let [layer] = manifest.layers.as_slice() else {
        return reject(format!(
            "a bundle referrer has one layer, this one has {}",
            manifest.layers.len()
        ));
    };
    if layer.media_type != BUNDLE_ARTIFACT_TYPE {
        return reject(format!(
            "the referrer's layer is {:?}, not a bundle",
            layer.media_type
        ));
    }
    if layer.size > MAX_BUNDLE_BYTES as u64 {
        return reject(format!(
            "the bundle is {} bytes, more than the {MAX_BUNDLE_BYTES}-byte limit",
            layer.size
        ));
    }
    let blob_digest = match layer.sha256() {
        Ok(b) => b,
        Err(e) => return reject(e.to_string()),
    };
    match repo.get_blob(&blob_digest, MAX_BUNDLE_BYTES).await {
        Ok(bytes) if bytes.len() as u64 == layer.size => Ok(Some(FetchedBundle {
            source: d.digest.clone(),
            bundle: Ok(bytes),
        })),
        Ok(bytes) => reject(format!(
            "the bundle is {} bytes but the manifest says {}",
            bytes.len(),
            layer.size
        )),
        Err(e) if e.is_unreachable() => Err(e),
        Err(e) => reject(e.to_string()),
    }
}

/// A bundle referrer ready to push: the manifest and the descriptor the index lists it by.
#[derive(Debug, Clone)]
pub struct BundleArtifact {
    /// The artifact manifest's bytes.
    pub manifest: Vec<u8>,
    /// Its descriptor, with the artifact type and the manifest's annotations (as the
    /// Referrers API would list it).
    pub descriptor: ReferrerDescriptor,
}

/// The artifact manifest for `bundle`, attached to the image manifest `subject`.
pub fn bundle_artifact(bundle: &[u8], subject: &Fetched, created: &str) -> BundleArtifact {
    let bundle_digest = Digest::of(bundle);
    let subject_media_type = serde_json::from_slice::<serde_json::Value>(&subject.bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .or_else(|| subject.media_type.clone())
        .unwrap_or_else(|| oci::OCI_MANIFEST.to_string());
    let annotations = BTreeMap::from([
        (CONTENT_ANNOTATION.to_string(), "dsse-envelope".to_string()),
        (
            PREDICATE_ANNOTATION.to_string(),
            SIGN_PREDICATE_TYPE.to_string(),
        ),
        (CREATED_ANNOTATION.to_string(), created.to_string()),
    ]);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci::OCI_MANIFEST,
        "artifactType": BUNDLE_ARTIFACT_TYPE,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": Digest::of(EMPTY_CONFIG).to_string(),
            "size": EMPTY_CONFIG.len(),
        },
        "layers": [{
            "mediaType": BUNDLE_ARTIFACT_TYPE,
            "digest": bundle_digest.to_string(),
            "size": bundle.len(),
            "annotations": {TITLE_ANNOTATION: format!("sha256-{}.sigstore.json", bundle_digest.hex())},
        }],
        "subject": {
            "mediaType": subject_media_type,
            "digest": subject.digest.to_string(),
            "size": subject.bytes.len(),
        },
        "annotations": annotations,
    });
    let manifest = serde_json::to_vec(&manifest).unwrap_or_default();
    let descriptor = ReferrerDescriptor {
        media_type: oci::OCI_MANIFEST.to_string(),
        digest: Digest::of(&manifest).to_string(),
        size: manifest.len() as u64,
        artifact_type: Some(BUNDLE_ARTIFACT_TYPE.to_string()),
        annotations: Some(annotations),
    };
    BundleArtifact {
        manifest,
        descriptor,
    }
}

/// Adds `descriptor` to the referrers index `existing` (or a new one), keeping every other
/// entry and field as it was. `Ok(None)` when it is already listed.
pub fn merge_referrers_index(
    existing: Option<&[u8]>,
    descriptor: &ReferrerDescriptor,
) -> Result<Option<Vec<u8>>, ManifestError> {
    let malformed = |e: serde_json::Error| ManifestError::Malformed(e.to_string());
    let mut doc: serde_json::Value = match existing {
        Some(bytes) => serde_json::from_slice(bytes).map_err(malformed)?,
        None => serde_json::json!({
            "schemaVersion": 2,
            "mediaType": oci::OCI_INDEX,
            "manifests": [],
        }),
    };
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| ManifestError::Malformed("the index is not a JSON object".into()))?;
    if obj
        .get("mediaType")
        .is_some_and(|m| m.as_str() != Some(oci::OCI_INDEX))
    {
        return Err(ManifestError::Malformed(
            "the referrers tag holds something other than an OCI index".into(),
        ));
    }
    let manifests = obj
        .entry("manifests")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    let list = manifests
        .as_array_mut()
        .ok_or_else(|| ManifestError::Malformed("manifests is not an array".into()))?;
    if list
        .iter()
        .any(|m| m["digest"].as_str() == Some(descriptor.digest.as_str()))
    {
        return Ok(None);
    }
    list.push(serde_json::to_value(descriptor).map_err(malformed)?);
    Ok(Some(serde_json::to_vec(&doc).map_err(malformed)?))
}

/// Whether the referrers index `bytes` lists `digest`.
pub fn index_lists(bytes: &[u8], digest: &str) -> (bool, usize) {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    let list = v["manifests"].as_array().cloned().unwrap_or_default();
    (
        list.iter().any(|m| m["digest"].as_str() == Some(digest)),
        list.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Fetched {
        let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:00","size":0},"layers":[]}"#.to_vec();
        Fetched {
            digest: Digest::of(&bytes),
            bytes,
            media_type: None,
        }
    }

    #[test]
    fn artifact_and_index_carry_type_and_annotations() {
        let a = bundle_artifact(b"{\"bundle\":1}", &subject(), "2026-01-01T00:00:00Z");
        let m: serde_json::Value = serde_json::from_slice(&a.manifest).expect("json");
        assert_eq!(m["artifactType"], BUNDLE_ARTIFACT_TYPE);
        assert_eq!(m["config"]["digest"], Digest::of(b"{}").to_string());
        assert_eq!(m["subject"]["digest"], subject().digest.to_string());
        assert_eq!(m["subject"]["mediaType"], oci::OCI_MANIFEST);
        assert_eq!(m["annotations"][PREDICATE_ANNOTATION], SIGN_PREDICATE_TYPE);
        assert_eq!(a.descriptor.digest, Digest::of(&a.manifest).to_string());

        let first = merge_referrers_index(None, &a.descriptor)
            .expect("merge")
            .expect("new");
        let v: serde_json::Value = serde_json::from_slice(&first).expect("json");
        assert_eq!(v["mediaType"], oci::OCI_INDEX);
        assert_eq!(v["manifests"][0]["artifactType"], BUNDLE_ARTIFACT_TYPE);
        assert_eq!(
            v["manifests"][0]["annotations"][CONTENT_ANNOTATION],
            "dsse-envelope"
        );
        assert!(
            merge_referrers_index(Some(&first), &a.descriptor)
                .expect("merge")
                .is_none()
        );
        // Other entries (cosign 2.5's, with its empty artifact type) are kept byte for byte.
        let foreign = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":884,"digest":"sha256:30df4ce979fc8b816c5624f2430d5ecd8734cf02955ab3a6ffc6a0cb5aa37889","artifactType":"application/vnd.oci.empty.v1+json"}]}"#;
        let merged = merge_referrers_index(Some(foreign), &a.descriptor)
            .expect("merge")
            .expect("new");
        let (listed, count) = index_lists(&merged, &a.descriptor.digest);
        assert!(listed);
        assert_eq!(count, 2);
        let v: serde_json::Value = serde_json::from_slice(&merged).expect("json");
        assert_eq!(v["manifests"][0]["artifactType"], EMPTY_MEDIA_TYPE);
        let limits = Limits::default();
        let parsed = parse_index(&merged, &limits).expect("parse");
        assert!(parsed.iter().all(may_be_bundle));
        // A tag holding an image manifest is not merged into.
        assert!(merge_referrers_index(Some(&subject().bytes), &a.descriptor).is_err());
        let small = Limits {
            max_index_children: 1,
            ..Limits::default()
        };
        assert!(parse_index(&merged, &small).is_err());
    }
}
