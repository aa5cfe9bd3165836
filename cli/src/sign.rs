//! Signing: build the simple-signing payload for a digest, sign it, and append it to the
//! image's `.sig` manifest without losing what is already there, even under concurrency.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;

use crate::keys::PrivateKey;
use crate::oci::{self, Limits, SignatureLayer};
use crate::payload;
use crate::reference::{Digest, ImageRef};
use crate::resolve::resolve;
use crate::store::{Lookup, Repo, StoreError, Stores};

/// How many read-merge-write rounds to try before giving up on a contended `.sig` tag.
const MAX_ROUNDS: u32 = 30;

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
    /// Signatures in the `.sig` manifest afterwards.
    pub signatures: usize,
}

/// What to sign with.
pub struct SignOptions<'a> {
    /// The signing key.
    pub key: &'a PrivateKey,
    /// Signed annotations (`-a KEY=VALUE`).
    pub annotations: &'a BTreeMap<String, String>,
    /// Sign an index's platform manifests too.
    pub recursive: bool,
    /// Overrides the repository named in the payload.
    pub identity: Option<&'a str>,
}

/// Signs one image reference (and, with `recursive`, its index children).
pub async fn sign_image(
    stores: &Stores,
    image: &ImageRef,
    options: &SignOptions<'_>,
) -> Result<Vec<SignedImage>, StoreError> {
    let limits = stores.limits();
    let repo = stores.repo(image);
    let resolved = resolve(&repo, image, true, limits).await?;
    let mut digests = vec![resolved.digest.clone()];
    if options.recursive
        && let Some((_, oci::Manifest::Index(index))) = &resolved.manifest
    {
        for child in &index.manifests {
            let child_digest = child.sha256().map_err(|source| StoreError::Manifest {
                what: format!("index {}", resolved.digest),
                source,
            })?;
            // Fetching proves the child is in this repository and hashes right.
            repo.get_parsed(
                Lookup::Digest(&child_digest),
                &format!("platform manifest {child_digest}"),
                limits,
            )
            .await?;
            if !digests.contains(&child_digest) {
                digests.push(child_digest);
            }
        }
    }
    let identity = options
        .identity
        .map(str::to_string)
        .unwrap_or_else(|| image.default_identity());
    let mut out = Vec::new();
    for digest in digests {
        let payload = payload::build(&identity, &digest, options.annotations);
        let signature = options.key.sign(&payload);
        let layer = SignatureLayer {
            payload,
            signature_b64: base64::engine::general_purpose::STANDARD.encode(signature),
        };
        let (outcome, signatures) =
            append_signature(&repo, &digest, &layer, options.key, limits).await?;
        out.push(SignedImage {
            reference: image.to_string(),
            signed: image.pinned_display(&digest),
            digest,
            outcome,
            signatures,
        });
    }
    Ok(out)
}

/// Longest time vouch lets pass between starting to read the `.sig` manifest and sending
/// the merged one; a slower round is abandoned and read again. See docs/security.md.
pub const MERGE_WINDOW: Duration = Duration::from_millis(500);
/// How long a writer waits before checking that its signature survived: any concurrent
/// write based on a read from before ours lands within [`MERGE_WINDOW`].
pub const CONFIRM_DELAY: Duration = Duration::from_millis(1000);

/// Appends `layer` to the `.sig` manifest of `digest`. Distribution has no conditional
/// PUT, so this is optimistic: read, merge, write, wait out every concurrent round that
/// could have read before our write, then check our layer is still there and merge
/// again if not. Every write is a superset of the read it is based on, so a failed or
/// interrupted sign never leaves fewer signatures than it found.
async fn append_signature(
    repo: &Repo,
    digest: &Digest,
    layer: &SignatureLayer,
    key: &PrivateKey,
    limits: &Limits,
) -> Result<(&'static str, usize), StoreError> {
    let tag = digest.signature_tag();
    let public = key.public_key();
    let desc = layer.descriptor();
    // The payload blob does not depend on the merge: upload it outside the window.
    repo.put_blob(&layer.payload).await?;
    let mut wrote = false;
    for round in 0..MAX_ROUNDS {
        let read_started = Instant::now();
        let existing = repo.get_manifest(Lookup::Tag(&tag), limits).await?;
        let existing_bytes = existing.as_ref().map(|f| f.bytes.as_slice());
        if let Some(bytes) = existing_bytes {
            let layers = layer_list(bytes);
            if layers
                .iter()
                .any(|(d, s)| *d == desc.digest && *s == layer.signature_b64)
            {
                // Our own write survived (or an identical one was there).
                return Ok((
                    if wrote { "signed" } else { "already-signed" },
                    layers.len(),
                ));
            }
            // The same payload, signed by this key already: signing again adds nothing.
            if !wrote
                && layers.iter().any(|(d, s)| {
                    *d == desc.digest
                        && base64::engine::general_purpose::STANDARD
                            .decode(s)
                            .is_ok_and(|sig| public.verify(&layer.payload, &sig).is_ok())
                })
            {
                return Ok(("already-signed", layers.len()));
            }
        }
        let merged = oci::merge_signature_manifest(existing_bytes, std::slice::from_ref(layer))
            .map_err(|source| StoreError::Manifest {
                what: format!("signature manifest {tag}"),
                source,
            })?
            .ok_or_else(|| StoreError::Manifest {
                what: format!("signature manifest {tag}"),
                source: oci::ManifestError::Malformed("merge added nothing".into()),
            })?;
        repo.put_blob(&merged.config).await?;
        if read_started.elapsed() > MERGE_WINDOW {
            // Too slow to be safe for others: what we read may be stale. Start over.
            tokio::time::sleep(jitter(round)).await;
            continue;
        }
        let media_type = serde_json::from_slice::<serde_json::Value>(&merged.manifest)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| oci::OCI_MANIFEST.to_string());
        if let Err(e) = repo.put_manifest(&tag, &merged.manifest, &media_type).await {
            // Distribution can lose a race between identical concurrent blob uploads (all
            // signers push the same payload bytes): upload again and retry the round.
            if e.to_string().contains("BLOB_UNKNOWN") && round + 1 < MAX_ROUNDS {
                repo.put_blob(&layer.payload).await?;
                tokio::time::sleep(jitter(round)).await;
                continue;
            }
            return Err(e);
        }
        wrote = true;
        tokio::time::sleep(CONFIRM_DELAY + jitter(round)).await;
    }
    Err(StoreError::Registry {
        registry: "-".into(),
        request: format!("PUT manifests/{tag}"),
        reason: format!(
            "the signature tag kept changing under concurrent writers; gave up after {MAX_ROUNDS} rounds (no signature was removed)"
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
