//! Fetching what is judged, with its I/O bounds: the tag resolved once (or, offline, not at
//! all), the `.sig` manifest and its layers, the Sigstore bundle referrers when they are
//! needed, all within one deadline per image, through the verification cache.

use std::collections::BTreeMap;

use futures_util::StreamExt as _;
use vouch_oci::oci::{self, Limits, SIMPLE_SIGNING};
use vouch_oci::payload;
use vouch_oci::reference::{self, Digest, ImageRef};
use vouch_registry::cache::{Cache, CacheMode, Entry};
use vouch_registry::referrers::{FetchedBundle, fetch_bundles};
use vouch_registry::resolve::{Resolved, resolve};
use vouch_registry::{Lookup, Repo, StoreError};

/// Signature layers fetched at once for one image.
const LAYER_FETCH_CONCURRENCY: usize = 16;

/// How long fetching one image's `.sig` manifest and signature layers may take in all (and,
/// separately, reading its bundle referrers when they are needed).
pub const SIGNATURES_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// Where the Sigstore bundles judged with an image come from.
#[derive(Debug, Clone, Copy)]
pub enum BundleSource<'a> {
    /// The image's referrers (Referrers API, else the `sha256-<hex>` tag), read only when
    /// its `.sig` signatures alone do not already pass: more signatures never turn a pass
    /// into a refusal, and most images are signed in one format, so this saves a lookup.
    ReferrersIfNeeded,
    /// The image's referrers, always, besides its `.sig` layers (`--all-signatures`).
    Referrers,
    /// Only these bundles (`--bundle FILE`, air-gapped): nothing else is read, not even the
    /// `.sig` tag.
    Files(&'a [FetchedBundle]),
    /// The bundles the verification cache holds (`--offline`), when needed as for
    /// [`BundleSource::ReferrersIfNeeded`].
    Cached,
}

impl BundleSource<'_> {
    /// The source for a run: files if given, the cache offline, else the referrers (always
    /// with `all_signatures`, else only when needed).
    pub fn for_run<'a>(
        files: &'a [FetchedBundle],
        cache: Option<&Cache>,
        all_signatures: bool,
    ) -> BundleSource<'a> {
        if !files.is_empty() {
            BundleSource::Files(files)
        } else if cache.is_some_and(|c| c.mode() == CacheMode::Offline) {
            BundleSource::Cached
        } else if all_signatures {
            BundleSource::Referrers
        } else {
            BundleSource::ReferrersIfNeeded
        }
    }

    /// True when bundles are still to be read if the `.sig` signatures do not pass.
    pub fn deferred(self) -> bool {
        matches!(self, BundleSource::ReferrersIfNeeded | BundleSource::Cached)
    }
}

/// One layer of a `.sig` manifest, fetched as far as it could be.
#[derive(Debug, Clone)]
pub struct FetchedLayer {
    /// The layer's descriptor.
    pub descriptor: oci::Descriptor,
    /// The payload bytes, or why they could not be had.
    pub payload: Result<Vec<u8>, String>,
}

/// Where signature layers may come from besides the registry.
#[derive(Clone, Copy, Default)]
pub struct CacheUse<'a> {
    /// The verification cache, if in use.
    pub cache: Option<&'a Cache>,
    /// `registry/repo@digest` (registry images only; layouts are local already).
    pub subject: Option<&'a str>,
}

/// The `.sig` layers (unless `--bundle` files replace them) and the bundles of `digest`
/// (none yet for deferred sources: see [`deferred_bundles`]), within
/// [`SIGNATURES_DEADLINE`]. `likely_references` are the docker-references a payload of
/// this image probably names (see [`likely_payload_references`]).
pub async fn fetch_signatures(
    repo: &Repo,
    image: &ImageRef,
    digest: &Digest,
    limits: &Limits,
    cache_use: CacheUse<'_>,
    bundles: BundleSource<'_>,
    likely_references: &[String],
) -> Result<(Vec<FetchedLayer>, Option<Entry>, Vec<FetchedBundle>), StoreError> {
    let layers = async {
        match bundles {
            BundleSource::Files(_) => Ok((Vec::new(), None)),
            _ => fetch_signature_layers(repo, digest, limits, cache_use, likely_references).await,
        }
    };
    let referrers = async {
        match bundles {
            BundleSource::Referrers => fetch_bundles(repo, digest, limits).await,
            BundleSource::Files(files) => Ok(files.to_vec()),
            BundleSource::ReferrersIfNeeded | BundleSource::Cached => Ok(Vec::new()),
        }
    };
    // The `.sig` tag and the referrers are fetched at the same time.
    let work = async {
        let (layers, referrers) = tokio::join!(layers, referrers);
        let (layers, mut entry) = layers?;
        let referrers = referrers?;
        if let (BundleSource::Referrers, Some(e)) = (bundles, entry.as_mut()) {
            e.set_bundles(&referrers);
        }
        Ok::<_, StoreError>((layers, entry, referrers))
    };
    within_deadline(image, digest, work).await
}

/// The bundles of a deferred source, once the `.sig` signatures did not pass: `digest`'s
/// referrers, read within [`SIGNATURES_DEADLINE`] and noted in the cache `entry`; or, offline,
/// those the entry holds (none if the referrers were never read online). A layout has no
/// cache entry: it is read, being local.
pub async fn deferred_bundles(
    repo: &Repo,
    image: &ImageRef,
    digest: &Digest,
    limits: &Limits,
    source: BundleSource<'_>,
    entry: Option<&mut Entry>,
) -> Result<Vec<FetchedBundle>, StoreError> {
    if let (BundleSource::Cached, Some(entry)) = (source, &entry) {
        return Ok(entry.bundles().unwrap_or_default());
    }
    let bundles = within_deadline(image, digest, fetch_bundles(repo, digest, limits)).await?;
    if let Some(e) = entry {
        e.set_bundles(&bundles);
    }
    Ok(bundles)
}

async fn within_deadline<T>(
    image: &ImageRef,
    digest: &Digest,
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    // Each request has its own deadline; this bounds them together, so a registry that
    // answers each of 1,000 layers just inside the request timeout cannot hold us for hours.
    match tokio::time::timeout(SIGNATURES_DEADLINE, work).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Registry {
            registry: image.repository_display(),
            request: format!("fetch the signatures of {digest}"),
            reason: format!(
                "not done after {} s; a registry this slow is treated as unavailable",
                SIGNATURES_DEADLINE.as_secs()
            ),
        }),
    }
}

/// The docker-references a signature payload of `image` most likely names: the identity
/// it is judged by (`--identity`, else its repository) and, on Docker Hub, cosign's
/// `index.docker.io/…` spelling. Only a hint: see [`known_payload`].
pub fn likely_payload_references(image: &ImageRef, identity: Option<&str>) -> Vec<String> {
    let mut references = vec![image.default_identity()];
    if let ImageRef::Registry(r) = image
        && r.registry == reference::DOCKER_HUB
    {
        references.push(format!("index.docker.io/{}", r.repository));
    }
    if let Some(identity) = identity
        && !references.iter().any(|r| r == identity)
    {
        references.push(identity.to_string());
    }
    references
}

/// The bytes of a signature layer, without fetching them, when they are the payload cosign
/// and vouch write for an unannotated signature: that payload is fixed by the image digest
/// and the docker-reference, so a candidate whose SHA-256 is the layer's digest *is* the
/// layer (exactly what a fetch checked against that digest would return). Anything else,
/// e.g. a payload with annotations or a timestamp, is fetched.
fn known_payload(
    descriptor: &oci::Descriptor,
    layer_digest: &Digest,
    image_digest: &Digest,
    likely_references: &[String],
) -> Option<Vec<u8>> {
    let no_annotations = BTreeMap::new();
    likely_references
        .iter()
        .map(|r| payload::build(r, image_digest, &no_annotations))
        .find(|bytes| bytes.len() as u64 == descriptor.size && &Digest::of(bytes) == layer_digest)
}

/// `registry/repo@digest` for the cache (None for layouts, which are local already).
pub fn cache_subject(image: &ImageRef, digest: &Digest) -> Option<String> {
    match image {
        ImageRef::Registry(r) => Some(format!("{}@{digest}", r.repository_name())),
        ImageRef::Layout(_) => None,
    }
}

/// Resolves without the network when the cache is offline (digest references only).
pub async fn resolve_for_verify(
    repo: &Repo,
    image: &ImageRef,
    need_manifest: bool,
    limits: &Limits,
    cache: Option<&Cache>,
) -> Result<Resolved, StoreError> {
    let offline = cache.is_some_and(|c| c.mode() == CacheMode::Offline);
    if offline && matches!(image, ImageRef::Registry(_)) {
        return match (image.digest(), need_manifest) {
            (Some(d), false) => Ok(Resolved {
                digest: d.clone(),
                manifest: None,
            }),
            (None, _) => Err(StoreError::Offline(format!(
                "{image}: --offline needs a digest reference (repo@sha256:…); a tag needs the registry"
            ))),
            (Some(_), true) => Err(StoreError::Offline(format!(
                "{image}: --offline cannot read an index for --platform/--all-platforms"
            ))),
        };
    }
    resolve(repo, image, need_manifest, limits).await
}

/// Fetches the `.sig` manifest of `digest` and its simple-signing layers (concurrently).
/// No tag → no layers. Returns the cache entry to update with what verifies.
pub async fn fetch_signature_layers(
    repo: &Repo,
    digest: &Digest,
    limits: &Limits,
    cache_use: CacheUse<'_>,
    likely_references: &[String],
) -> Result<(Vec<FetchedLayer>, Option<Entry>), StoreError> {
    let tag = digest.signature_tag();
    let cached = match (cache_use.cache, cache_use.subject) {
        (Some(cache), Some(subject)) => Some((cache, subject, cache.get(subject))),
        _ => None,
    };
    let (manifest_bytes, media_type, mut entry) = match &cached {
        Some((cache, subject, entry)) if cache.mode() == CacheMode::Offline => {
            let Some(entry) = entry else {
                return Err(StoreError::Offline(format!(
                    "{subject}: not in the verification cache (run once without --offline)"
                )));
            };
            if !entry.has_sig_tag() {
                return Ok((Vec::new(), Some(entry.clone())));
            }
            (entry.sig_manifest().to_vec(), None, Some(entry.clone()))
        }
        _ => {
            let Some(fetched) = repo.get_manifest(Lookup::Tag(&tag), limits).await? else {
                // Remembered too, so that --offline knows the tag is missing, not uncached.
                return Ok((Vec::new(), cached.map(|_| Entry::without_sig_tag())));
            };
            let entry = cached.as_ref().map(|(_, _, entry)| match entry {
                // Same manifest as last time: its payloads and verdicts still apply.
                Some(e) if e.sig_manifest() == fetched.bytes.as_slice() => e.clone(),
                _ => Entry::new(&fetched.bytes).unwrap_or_default(),
            });
            (fetched.bytes, fetched.media_type, entry)
        }
    };
    let what = format!("signature manifest {tag}");
    let manifest =
        oci::parse_manifest(&manifest_bytes, media_type.as_deref(), limits).map_err(|source| {
            StoreError::Manifest {
                what: what.clone(),
                source,
            }
        })?;
    let oci::Manifest::Image(manifest) = manifest else {
        return Err(StoreError::Manifest {
            what,
            source: oci::ManifestError::Malformed(
                "an index where an image manifest was expected".into(),
            ),
        });
    };
    if manifest.layers.len() > limits.max_signature_layers {
        return Err(StoreError::Manifest {
            what,
            source: oci::ManifestError::TooMany {
                what: "signature layers",
                count: manifest.layers.len(),
                limit: limits.max_signature_layers,
            },
        });
    }
    let offline = cached
        .as_ref()
        .is_some_and(|(c, _, _)| c.mode() == CacheMode::Offline);
    let entry_ref = entry.as_ref();
    let fetches = manifest.layers.iter().map(|descriptor| async move {
        // Other attachments are reported by judge_layer; no need to fetch them.
        if descriptor.media_type != SIMPLE_SIGNING {
            return Ok(Err("not fetched".to_string()));
        }
        if descriptor.size > limits.max_signature_layer_bytes as u64 {
            return Ok(Err(format!(
                "layer is {} bytes, more than the {}-byte limit",
                descriptor.size, limits.max_signature_layer_bytes
            )));
        }
        let layer_digest = match descriptor.sha256() {
            Ok(d) => d,
            Err(e) => return Ok(Err(e.to_string())),
        };
        if let Some(bytes) = entry_ref.and_then(|e| e.payload(&descriptor.digest)) {
            return Ok(check_size(bytes, descriptor.size));
        }
        if let Some(bytes) = known_payload(descriptor, &layer_digest, digest, likely_references)
        {
            return Ok(Ok(bytes));
        }
        if offline {
            return Err(StoreError::Offline(format!(
                "payload {layer_digest} is not in the verification cache (run once without --offline)"
            )));
        }
        match repo
            .get_blob(&layer_digest, limits.max_signature_layer_bytes)
            .await
        {
            Ok(bytes) => Ok(check_size(bytes, descriptor.size)),
            Err(e) if e.is_unreachable() => Err(e),
            Err(e) => Ok(Err(e.to_string())),
        }
    });
    // Collected first: a lazy `map` closure held across the await below would make this future
    // not `Send` (rustc cannot prove the closure general over lifetimes), and a server spawns it.
    let fetches: Vec<_> = fetches.collect();
    // Bounded: a `.sig` manifest listing 1,000 layers must not open 1,000 connections.
    let payloads: Vec<_> = futures_util::stream::iter(fetches)
        .buffered(LAYER_FETCH_CONCURRENCY)
        .collect()
        .await;
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (descriptor, payload) in manifest.layers.into_iter().zip(payloads) {
        let payload = payload?;
        if let (Some(e), Ok(bytes)) = (entry.as_mut(), &payload) {
            e.add_payload(&descriptor.digest, bytes);
        }
        layers.push(FetchedLayer {
            descriptor,
            payload,
        });
    }
    Ok((layers, entry))
}

fn check_size(bytes: Vec<u8>, size: u64) -> Result<Vec<u8>, String> {
    if bytes.len() as u64 == size {
        Ok(bytes)
    } else {
        Err(format!(
            "payload is {} bytes but the manifest says {size}",
            bytes.len()
        ))
    }
}

/// Stores what was fetched and verified, unless the cache is read-only for this run.
pub fn remember(cache_use: CacheUse<'_>, entry: Option<Entry>) {
    if let (Some(cache), Some(subject), Some(entry)) = (cache_use.cache, cache_use.subject, entry)
        && cache.mode() != CacheMode::Offline
    {
        cache.put(subject, &entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer_for(bytes: &[u8]) -> (oci::Descriptor, Digest) {
        let digest = Digest::of(bytes);
        let descriptor = oci::Descriptor {
            media_type: SIMPLE_SIGNING.to_string(),
            digest: digest.to_string(),
            size: bytes.len() as u64,
            annotations: None,
            platform: None,
        };
        (descriptor, digest)
    }

    #[test]
    fn known_payload_only_when_the_layer_digest_proves_it() {
        let image = Digest::of(b"image");
        let likely = vec!["127.0.0.1:5000/app".to_string()];
        let plain = payload::build(&likely[0], &image, &BTreeMap::new());
        let (descriptor, digest) = layer_for(&plain);
        assert_eq!(
            known_payload(&descriptor, &digest, &image, &likely),
            Some(plain)
        );
        // Annotated, another repository, another image: not computable, so fetched.
        let annotated = payload::build(
            &likely[0],
            &image,
            &BTreeMap::from([("env".to_string(), "prod".to_string())]),
        );
        let other_repo = payload::build("127.0.0.1:5000/other", &image, &BTreeMap::new());
        let other_image = payload::build(&likely[0], &Digest::of(b"other"), &BTreeMap::new());
        for bytes in [annotated, other_repo, other_image] {
            let (descriptor, digest) = layer_for(&bytes);
            assert_eq!(known_payload(&descriptor, &digest, &image, &likely), None);
        }
        // A descriptor whose size disagrees is never satisfied from a guess.
        let (mut descriptor, digest) =
            layer_for(&payload::build(&likely[0], &image, &BTreeMap::new()));
        descriptor.size += 1;
        assert_eq!(known_payload(&descriptor, &digest, &image, &likely), None);
    }

    #[test]
    fn likely_references_cover_cosign_spellings_and_the_identity() {
        let hub = reference::parse("alpine").expect("parse");
        assert_eq!(
            likely_payload_references(&hub, None),
            ["docker.io/library/alpine", "index.docker.io/library/alpine"]
        );
        let local = reference::parse("127.0.0.1:5000/app:v1").expect("parse");
        assert_eq!(
            likely_payload_references(&local, Some("registry.example.com/app")),
            ["127.0.0.1:5000/app", "registry.example.com/app"]
        );
        assert_eq!(
            likely_payload_references(&local, Some("127.0.0.1:5000/app")),
            ["127.0.0.1:5000/app"]
        );
    }
}
