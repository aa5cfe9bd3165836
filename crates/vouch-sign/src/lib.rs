//! Signing: build the simple-signing payload for a digest, sign it, and append it to the
//! image's `.sig` manifest without losing what is already there, even under concurrency; or
//! (`--format bundle`) sign an in-toto statement into a Sigstore bundle and attach it as an
//! OCI 1.1 referrer, keeping the `sha256-<hex>` referrers tag up to date the same way.
//! [`keyless`] stores keyless signatures the same two ways.
//!
//! Trust boundary: the signing key is trusted and never leaves this process, or its hardware
//! token (the key is any [`Signer`]); the registry is not. A tag is resolved to its digest
//! once and only the digest is signed; every write is a superset of what was read, and read
//! again once concurrent writers could have overwritten it.
#![forbid(unsafe_code)]

pub mod attest;
pub mod keyless;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;

use tokio::sync::{Semaphore, SemaphorePermit};
use vouch_keys::{Signer, SignerError};
use vouch_oci::oci::{self, Limits, SignatureLayer};
use vouch_oci::payload;
use vouch_oci::reference::{Digest, ImageRef};
use vouch_registry::referrers::{self, BundleArtifact, EMPTY_CONFIG};
use vouch_registry::resolve::resolve;
use vouch_registry::{Fetched, Lookup, Repo, StoreError, Stores};
use vouch_sigstore::build::{image_statement, key_signed_bundle};
use vouch_verify::judge::{SignatureJudge, TrustedKey, judge_bundle};

/// How many read-merge-write rounds to try before giving up on a contended `.sig` tag.
const MAX_ROUNDS: u32 = 30;

/// How long the rounds of one tag update may take in all; no round starts after it (a
/// round is never cut short: every write is a superset of what it read).
const UPDATE_DEADLINE: Duration = Duration::from_secs(300);

/// What was signed.
#[derive(Debug, Clone, Serialize)]
pub struct SignedImage {
    /// The reference as given.
    pub reference: String,
    /// `repo@digest` that was signed.
    pub signed: String,
    /// The digest signed.
    pub digest: Digest,
    /// `signed`, or `already-signed` when an identical signature was there.
    pub outcome: &'static str,
    /// Signatures in the `.sig` manifest (or referrers in the referrers index) afterwards.
    pub signatures: usize,
    /// `bundle` for `--format bundle`; absent for the `.sig` format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    /// The bundle referrer's manifest digest (`--format bundle`, pushed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
}

/// How signatures are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignFormat {
    /// cosign's tag-based format: a layer of the `sha256-<hex>.sig` manifest.
    #[default]
    SimpleSigning,
    /// A Sigstore bundle (cosign v3's format), attached as an OCI 1.1 referrer.
    Bundle,
}

/// Why a sign failed: the store (registry or layout), or the key (a token that would not sign).
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The registry or layout failed, or the image is not there.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key could not sign.
    #[error(transparent)]
    Key(#[from] SignerError),
}

/// What to sign with.
pub struct SignOptions<'a> {
    /// The signing key: a key file's key, or one on a token (`vouch_pkcs11::Pkcs11Signer`).
    pub key: &'a dyn Signer,
    /// Signed annotations (`-a KEY=VALUE`).
    pub annotations: &'a BTreeMap<String, String>,
    /// Sign an index's platform manifests too.
    pub recursive: bool,
    /// Overrides the repository named in the payload.
    pub identity: Option<&'a str>,
    /// The signature format.
    pub format: SignFormat,
    /// The batch's `--jobs`, shared by its signs; `None`: unbounded (one image).
    pub slots: Option<&'a Semaphore>,
}

/// One sign's share of the batch's `--jobs`: held while it works, given back while it waits
/// to confirm its write, so a batch's confirmation waits overlap instead of queueing.
struct Slot<'a> {
    slots: Option<&'a Semaphore>,
    permit: Option<SemaphorePermit<'a>>,
}

impl<'a> Slot<'a> {
    async fn take(slots: Option<&'a Semaphore>) -> Slot<'a> {
        let mut slot = Slot {
            slots,
            permit: None,
        };
        slot.acquire().await;
        slot
    }

    async fn acquire(&mut self) {
        if let Some(slots) = self.slots {
            // The semaphore is never closed, so acquiring cannot fail.
            self.permit = slots.acquire().await.ok();
        }
    }

    /// Sleeps without holding a job.
    async fn idle(&mut self, duration: Duration) {
        self.permit = None;
        tokio::time::sleep(duration).await;
        self.acquire().await;
    }
}

/// Signs one image reference (and, with `recursive`, its index children).
pub async fn sign_image(
    stores: &Stores,
    image: &ImageRef,
    options: &SignOptions<'_>,
) -> Result<Vec<SignedImage>, SignError> {
    let limits = stores.limits();
    let repo = stores.repo(image);
    let mut slot = Slot::take(options.slots).await;
    let (digests, manifests): (Vec<_>, Vec<_>) = targets(&repo, image, options.recursive, limits)
        .await?
        .into_iter()
        .unzip();
    let identity = options
        .identity
        .map(str::to_string)
        .unwrap_or_else(|| image.default_identity());
    let mut out = Vec::new();
    for (digest, manifest) in digests.into_iter().zip(manifests) {
        if options.format == SignFormat::Bundle {
            let subject = manifest.ok_or_else(|| StoreError::NotFound(format!("image {image}")))?;
            let signed =
                attach_bundle(&repo, &identity, &subject, options, limits, &mut slot).await?;
            out.push(SignedImage {
                reference: image.to_string(),
                signed: image.pinned_display(&digest),
                digest,
                outcome: signed.outcome,
                signatures: signed.count,
                format: Some("bundle"),
                referrer: Some(signed.referrer),
            });
            continue;
        }
        let payload = payload::build(&identity, &digest, options.annotations);
        let signature = options.key.sign_message(&payload)?;
        let layer = SignatureLayer {
            payload,
            signature_b64: base64::engine::general_purpose::STANDARD.encode(signature),
            annotations: BTreeMap::new(),
        };
        let (outcome, signatures) =
            append_signature(&repo, &digest, &layer, Some(options.key), limits, &mut slot).await?;
        out.push(SignedImage {
            reference: image.to_string(),
            signed: image.pinned_display(&digest),
            digest,
            outcome,
            signatures,
            format: None,
            referrer: None,
        });
    }
    Ok(out)
}

/// The digests to sign for `image`: its own, then (`recursive`, an index) each platform
/// manifest's, with the manifests fetched (a layout image may have none).
async fn targets(
    repo: &Repo,
    image: &ImageRef,
    recursive: bool,
    limits: &Limits,
) -> Result<Vec<(Digest, Option<Fetched>)>, StoreError> {
    let resolved = resolve(repo, image, true, limits).await?;
    let mut out = vec![(
        resolved.digest.clone(),
        resolved.manifest.as_ref().map(|(f, _)| f.clone()),
    )];
    if recursive && let Some((_, oci::Manifest::Index(index))) = &resolved.manifest {
        for child in &index.manifests {
            let child_digest = child.sha256().map_err(|source| StoreError::Manifest {
                what: format!("index {}", resolved.digest),
                source,
            })?;
            // Fetching proves the child is in this repository and hashes right.
            let (fetched, _) = repo
                .get_parsed(
                    Lookup::Digest(&child_digest),
                    &format!("platform manifest {child_digest}"),
                    limits,
                )
                .await?;
            if !out.iter().any(|(d, _)| *d == child_digest) {
                out.push((child_digest, Some(fetched)));
            }
        }
    }
    Ok(out)
}

/// The bundle for one image, for `--output-bundle` (nothing is written to the store). A
/// digest reference needs no request at all; a tag is resolved once; a layout is read.
pub async fn bundle_for_file(
    stores: &Stores,
    image: &ImageRef,
    options: &SignOptions<'_>,
) -> Result<(SignedImage, Vec<u8>), SignError> {
    let repo = stores.repo(image);
    let resolved = resolve(&repo, image, false, stores.limits()).await?;
    let identity = options
        .identity
        .map(str::to_string)
        .unwrap_or_else(|| image.default_identity());
    let bundle = build_bundle(&identity, &resolved.digest, options)?;
    let signed = SignedImage {
        reference: image.to_string(),
        signed: image.pinned_display(&resolved.digest),
        digest: resolved.digest,
        outcome: "signed",
        signatures: 1,
        format: Some("bundle"),
        referrer: None,
    };
    Ok((signed, bundle))
}

fn build_bundle(
    identity: &str,
    digest: &Digest,
    options: &SignOptions<'_>,
) -> Result<Vec<u8>, SignerError> {
    let statement = image_statement(digest.hex(), Some(identity), options.annotations);
    key_signed_bundle(options.key, &statement)
}

struct AttachedBundle {
    outcome: &'static str,
    count: usize,
    referrer: String,
}

/// Signs `subject`'s digest into a bundle and attaches it: bundle and empty-config blobs, the
/// artifact manifest (by digest), then, unless the registry indexed it itself (an
/// `OCI-Subject` answer: the Referrers API), the referrers tag, merged race-free. A bundle by
/// this key with the same claims already attached means nothing is added.
async fn attach_bundle(
    repo: &Repo,
    identity: &str,
    subject: &Fetched,
    options: &SignOptions<'_>,
    limits: &Limits,
    slot: &mut Slot<'_>,
) -> Result<AttachedBundle, SignError> {
    let digest = &subject.digest;
    let existing = referrers::fetch_bundles(repo, digest, limits).await?;
    let public = options.key.public_key();
    let ours = [TrustedKey {
        key_id: public.key_id(),
        key: public,
        source: "signing key".into(),
    }];
    let judge = SignatureJudge {
        root: vouch_sigstore::production_root(),
        ..SignatureJudge::keys(&ours)
    };
    for (i, fetched) in existing.iter().enumerate() {
        if let (_, Some(v)) = judge_bundle(i + 1, fetched, digest, Some(identity), &judge)
            && v.name.as_deref() == Some(identity)
            && &v.annotations == options.annotations
        {
            return Ok(AttachedBundle {
                outcome: "already-signed",
                count: existing.len(),
                referrer: fetched.source.clone(),
            });
        }
    }
    let bundle = build_bundle(identity, digest, options)?;
    Ok(put_bundle(repo, subject, &bundle, limits, slot).await?)
}

/// Attaches `bundle` to `subject` as a referrer: bundle and empty-config blobs, the
/// artifact manifest (by digest), then, unless the registry indexed it itself (an
/// `OCI-Subject` answer: the Referrers API), the referrers tag, merged race-free.
async fn put_bundle(
    repo: &Repo,
    subject: &Fetched,
    bundle: &[u8],
    limits: &Limits,
    slot: &mut Slot<'_>,
) -> Result<AttachedBundle, StoreError> {
    let digest = &subject.digest;
    let created = vouch_sigstore::UnixTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    )
    .to_string();
    let artifact = referrers::bundle_artifact(bundle, subject, &created);
    // Concurrent signers all upload the same empty config; Distribution can lose that race
    // and then refuse the manifest (BLOB_UNKNOWN): upload again and retry a few times.
    let mut attempt = 0;
    let (manifest_digest, indexed) = loop {
        repo.put_blob(bundle).await?;
        repo.put_blob(EMPTY_CONFIG).await?;
        match repo
            .put_referrer_manifest(&artifact.manifest, oci::OCI_MANIFEST)
            .await
        {
            Ok(done) => break done,
            Err(e) if e.to_string().contains("BLOB_UNKNOWN") && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(jitter(attempt)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let referrer = manifest_digest.to_string();
    if indexed {
        let (_, listed) = referrers::list_referrers(repo, digest, limits).await?;
        return Ok(AttachedBundle {
            outcome: "signed",
            count: listed.map(|l| l.len()).unwrap_or(1),
            referrer,
        });
    }
    let update = ReferrersTagUpdate {
        artifact: &artifact,
        blobs: vec![bundle, EMPTY_CONFIG],
    };
    let (outcome, count) = update_tag(
        repo,
        &referrers::referrers_tag(digest),
        &update,
        limits,
        slot,
    )
    .await?;
    Ok(AttachedBundle {
        outcome,
        count,
        referrer,
    })
}

/// One writer's change to a tag other writers may change at the same moment.
trait TagUpdate {
    /// `Some((outcome, entries))` when `existing` already holds the change (`wrote`: by us).
    fn settled(&self, existing: Option<&[u8]>, wrote: bool) -> Option<(&'static str, usize)>;
    /// `existing` with the change added: a superset of it, never fewer entries.
    fn merge(&self, tag: &str, existing: Option<&[u8]>) -> Result<Merged, StoreError>;
    /// Blobs uploaded before the rounds, uploaded again if the registry lost one.
    fn blobs(&self) -> &[&[u8]];
}

/// A merged manifest to PUT under the tag, and the blobs it needs first.
struct Merged {
    manifest: Vec<u8>,
    media_type: String,
    blobs: Vec<Vec<u8>>,
}

/// Adds a layer to a `.sig` manifest.
struct SigLayerUpdate<'a> {
    layer: &'a SignatureLayer,
    /// The key that made it; `None` for a keyless signature (its key is gone).
    key: Option<&'a dyn Signer>,
    payload: [&'a [u8]; 1],
}

impl TagUpdate for SigLayerUpdate<'_> {
    fn settled(&self, existing: Option<&[u8]>, wrote: bool) -> Option<(&'static str, usize)> {
        let bytes = existing?;
        let desc = self.layer.descriptor();
        let layers = layer_list(bytes);
        if layers
            .iter()
            .any(|(d, s)| *d == desc.digest && *s == self.layer.signature_b64)
        {
            // Our own write survived (or an identical one was there).
            return Some((
                if wrote { "signed" } else { "already-signed" },
                layers.len(),
            ));
        }
        // The same payload, signed by this key already: signing again adds nothing.
        let public = self.key?.public_key();
        if !wrote
            && layers.iter().any(|(d, s)| {
                *d == desc.digest
                    && base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .is_ok_and(|sig| public.verify(&self.layer.payload, &sig).is_ok())
            })
        {
            return Some(("already-signed", layers.len()));
        }
        None
    }

    fn merge(&self, tag: &str, existing: Option<&[u8]>) -> Result<Merged, StoreError> {
        merged_layers(
            &format!("signature manifest {tag}"),
            oci::merge_signature_manifest(existing, std::slice::from_ref(self.layer)),
        )
    }

    fn blobs(&self) -> &[&[u8]] {
        &self.payload
    }
}

/// A `.sig` or `.att` manifest with the new layer merged in, as written back: its own media
/// type (OCI's when it names none) and its config blob.
fn merged_layers(
    what: &str,
    merged: Result<Option<oci::SignatureManifest>, oci::ManifestError>,
) -> Result<Merged, StoreError> {
    let manifest_error = |source| StoreError::Manifest {
        what: what.to_string(),
        source,
    };
    let merged = merged.map_err(manifest_error)?.ok_or_else(|| {
        manifest_error(oci::ManifestError::Malformed("merge added nothing".into()))
    })?;
    let media_type = serde_json::from_slice::<serde_json::Value>(&merged.manifest)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| oci::OCI_MANIFEST.to_string());
    Ok(Merged {
        manifest: merged.manifest,
        media_type,
        blobs: vec![merged.config],
    })
}

/// Adds a referrer's descriptor (artifact type and annotations copied) to the referrers index.
struct ReferrersTagUpdate<'a> {
    artifact: &'a BundleArtifact,
    blobs: Vec<&'a [u8]>,
}

impl TagUpdate for ReferrersTagUpdate<'_> {
    fn settled(&self, existing: Option<&[u8]>, wrote: bool) -> Option<(&'static str, usize)> {
        let (listed, count) = referrers::index_lists(existing?, &self.artifact.descriptor.digest);
        listed.then_some((if wrote { "signed" } else { "already-signed" }, count))
    }

    fn merge(&self, tag: &str, existing: Option<&[u8]>) -> Result<Merged, StoreError> {
        let what = || format!("referrers index {tag}");
        let manifest = referrers::merge_referrers_index(existing, &self.artifact.descriptor)
            .map_err(|source| StoreError::Manifest {
                what: what(),
                source,
            })?
            .ok_or_else(|| StoreError::Manifest {
                what: what(),
                source: oci::ManifestError::Malformed("merge added nothing".into()),
            })?;
        Ok(Merged {
            manifest,
            media_type: oci::OCI_INDEX.to_string(),
            blobs: Vec::new(),
        })
    }

    fn blobs(&self) -> &[&[u8]] {
        &self.blobs
    }
}

/// Longest time vouch lets pass between starting to read the `.sig` manifest and sending
/// the merged one; a slower round is abandoned and read again. See docs/security.md.
pub const MERGE_WINDOW: Duration = Duration::from_millis(500);
/// How long a writer waits before checking that its signature survived: any concurrent
/// write based on a read from before ours lands within [`MERGE_WINDOW`].
pub const CONFIRM_DELAY: Duration = Duration::from_millis(1000);

/// Appends `layer` to the `.sig` manifest of `digest` (see [`update_tag`]).
async fn append_signature(
    repo: &Repo,
    digest: &Digest,
    layer: &SignatureLayer,
    key: Option<&dyn Signer>,
    limits: &Limits,
    slot: &mut Slot<'_>,
) -> Result<(&'static str, usize), StoreError> {
    let update = SigLayerUpdate {
        layer,
        key,
        payload: [layer.payload.as_slice()],
    };
    update_tag(repo, &digest.signature_tag(), &update, limits, slot).await
}

/// Applies `update` to `tag`. Distribution has no conditional PUT, so this is optimistic:
/// read, merge, write, wait out every concurrent round that could have read before our
/// write, then check our change is still there and merge again if not. Every write is a
/// superset of the read it is based on, so a failed or interrupted sign never leaves fewer
/// entries than it found. The same protocol serves `.sig` manifests and referrers indexes.
async fn update_tag(
    repo: &Repo,
    tag: &str,
    update: &dyn TagUpdate,
    limits: &Limits,
    slot: &mut Slot<'_>,
) -> Result<(&'static str, usize), StoreError> {
    // The blobs do not depend on the merge: upload them outside the window.
    for blob in update.blobs() {
        repo.put_blob(blob).await?;
    }
    let mut wrote = false;
    let started = Instant::now();
    for round in 0..MAX_ROUNDS {
        if started.elapsed() > UPDATE_DEADLINE {
            return Err(StoreError::Registry {
                registry: repo.name(),
                request: format!("PUT manifests/{tag}"),
                reason: format!(
                    "still not settled after {} s ({round} rounds); the registry is too slow or the tag too contended (nothing was removed)",
                    UPDATE_DEADLINE.as_secs()
                ),
            });
        }
        let read_started = Instant::now();
        let existing = repo.get_manifest(Lookup::Tag(tag), limits).await?;
        let existing_bytes = existing.as_ref().map(|f| f.bytes.as_slice());
        if let Some(done) = update.settled(existing_bytes, wrote) {
            return Ok(done);
        }
        let merged = update.merge(tag, existing_bytes)?;
        for blob in &merged.blobs {
            repo.put_blob(blob).await?;
        }
        if read_started.elapsed() > MERGE_WINDOW {
            // Too slow to be safe for others: what we read may be stale. Start over.
            slot.idle(jitter(round)).await;
            continue;
        }
        if let Err(e) = repo
            .put_manifest(tag, &merged.manifest, &merged.media_type)
            .await
        {
            // Distribution can lose a race between identical concurrent blob uploads (all
            // signers push the same payload bytes): upload again and retry the round.
            if e.to_string().contains("BLOB_UNKNOWN") && round + 1 < MAX_ROUNDS {
                for blob in update.blobs() {
                    repo.put_blob(blob).await?;
                }
                slot.idle(jitter(round)).await;
                continue;
            }
            return Err(e);
        }
        wrote = true;
        slot.idle(CONFIRM_DELAY + jitter(round)).await;
    }
    Err(StoreError::Registry {
        registry: repo.name(),
        request: format!("PUT manifests/{tag}"),
        reason: format!(
            "the tag kept changing under concurrent writers; gave up after {MAX_ROUNDS} rounds (nothing was removed)"
        ),
    })
}

/// (digest, signature annotation) of each layer in a `.sig` manifest.
fn layer_list(bytes: &[u8]) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    v["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["digest"].as_str().unwrap_or_default().to_string(),
                l["annotations"][oci::SIGNATURE_ANNOTATION]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// Random spread that grows with the round, so contending writers fall out of step.
fn jitter(round: u32) -> Duration {
    let span = 50u64 * (1 + u64::from(round.min(8)));
    let mut r = [0u8; 2];
    let _ = getrandom::fill(&mut r);
    Duration::from_millis(u64::from(u16::from_le_bytes(r)) % span)
}
