//! Attestations of an image: fetch its `sha256-<hex>.att` manifest and DSSE layers (bounded
//! in count, size and time, every blob checked against its digest), then verify each
//! envelope's signature against trusted keys and keep the statements about this digest.
//! Judging them against a requirement is `vouch_attest::judge`.

use futures_util::StreamExt as _;
use serde::Serialize;
use vouch_attest::{DSSE_LAYER_MEDIA_TYPE, VerifiedStatement, envelope, statement};
use vouch_oci::oci::{self, Limits};
use vouch_oci::reference::{Digest, ImageRef};
use vouch_registry::{Lookup, Repo, StoreError};

use crate::judge::TrustedKey;

/// Layers fetched at once for one image.
const LAYER_FETCH_CONCURRENCY: usize = 16;

/// Most layers of one `.att` manifest read (more is refused, not truncated).
pub const MAX_ATTESTATION_LAYERS: usize = 1000;

/// One `.att` layer, fetched as far as it could be.
#[derive(Debug, Clone)]
pub struct FetchedAttestation {
    /// `.att layer N` (1-based).
    pub source: String,
    /// The layer's descriptor.
    pub descriptor: oci::Descriptor,
    /// The envelope bytes, or why they could not be had.
    pub envelope: Result<Vec<u8>, String>,
}

/// A layer that did not yield a verified statement, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// Where it was.
    pub source: String,
    /// The predicate type the (unsigned) layer annotation claims, for display only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_type: Option<String>,
    /// Why it does not count.
    pub reason: String,
}

/// Fetches the `.att` layers of `digest`: none when there is no `.att` tag.
pub async fn fetch_attestations(
    repo: &Repo,
    image: &ImageRef,
    digest: &Digest,
    limits: &Limits,
) -> Result<Vec<FetchedAttestation>, StoreError> {
    let tag = digest.attestation_tag();
    let work = async {
        let Some(fetched) = repo.get_manifest(Lookup::Tag(&tag), limits).await? else {
            return Ok(Vec::new());
        };
        let what = format!("attestation manifest {tag}");
        let manifest = oci::parse_manifest(&fetched.bytes, fetched.media_type.as_deref(), limits)
            .map_err(|source| StoreError::Manifest {
            what: what.clone(),
            source,
        })?;
        let oci::Manifest::Image(manifest) = manifest else {
            return Err(StoreError::Manifest {
                what,
                source: oci::ManifestError::Malformed(
                    "an index where an image manifest was expected".into(),
                ),
            });
        };
        if manifest.layers.len() > MAX_ATTESTATION_LAYERS {
            return Err(StoreError::Manifest {
                what,
                source: oci::ManifestError::TooMany {
                    what: "attestation layers",
                    count: manifest.layers.len(),
                    limit: MAX_ATTESTATION_LAYERS,
                },
            });
        }
        let fetches = manifest
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, descriptor)| async move {
                let envelope = fetch_layer(repo, &descriptor).await?;
                Ok::<_, StoreError>(FetchedAttestation {
                    source: format!(".att layer {}", i + 1),
                    descriptor,
                    envelope,
                })
            });
        let results: Vec<Result<FetchedAttestation, StoreError>> =
            futures_util::stream::iter(fetches)
                .buffered(LAYER_FETCH_CONCURRENCY)
                .collect()
                .await;
        results.into_iter().collect()
    };
    match tokio::time::timeout(crate::fetch::SIGNATURES_DEADLINE, work).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Registry {
            registry: image.repository_display(),
            request: format!("fetch the attestations of {digest}"),
            reason: format!(
                "not done after {} s; a registry this slow is treated as unavailable",
                crate::fetch::SIGNATURES_DEADLINE.as_secs()
            ),
        }),
    }
}

async fn fetch_layer(
    repo: &Repo,
    descriptor: &oci::Descriptor,
) -> Result<Result<Vec<u8>, String>, StoreError> {
    if descriptor.media_type != DSSE_LAYER_MEDIA_TYPE {
        return Ok(Err(format!(
            "media type {:?} is not a DSSE envelope",
            descriptor.media_type
        )));
    }
    if descriptor.size > envelope::MAX_ENVELOPE_BYTES as u64 {
        return Ok(Err(format!(
            "the layer is {} bytes, more than the {}-byte limit",
            descriptor.size,
            envelope::MAX_ENVELOPE_BYTES
        )));
    }
    let layer_digest = match descriptor.sha256() {
        Ok(d) => d,
        Err(e) => return Ok(Err(e.to_string())),
    };
    match repo
        .get_blob(&layer_digest, envelope::MAX_ENVELOPE_BYTES)
        .await
    {
        Ok(bytes) => Ok(Ok(bytes)),
        Err(StoreError::NotFound(what)) => Ok(Err(format!("{what} is missing"))),
        Err(StoreError::TooLarge { limit, .. }) => Ok(Err(format!(
            "the layer is larger than the {limit}-byte limit"
        ))),
        Err(e) => Err(e),
    }
}

/// Verifies fetched envelopes (or `--bundle`-style files) against `keys`: a statement counts
/// when an envelope signature verifies under one of the keys and a subject names `digest`.
/// A statement's `signers` are the ids of the keys that verified it.
pub fn verify_attestations(
    fetched: &[FetchedAttestation],
    digest: &Digest,
    keys: &[TrustedKey],
) -> (Vec<VerifiedStatement>, Vec<Rejected>) {
    let mut verified = Vec::new();
    let mut rejected = Vec::new();
    for f in fetched {
        let claimed_type = f
            .descriptor
            .annotations
            .as_ref()
            .and_then(|a| a.get(vouch_attest::PREDICATE_TYPE_ANNOTATION))
            .cloned();
        let reject = |reason: String| Rejected {
            source: f.source.clone(),
            claimed_type: claimed_type.clone(),
            reason,
        };
        match judge_envelope(f, digest, keys) {
            Ok(v) => verified.push(v),
            Err(reason) => rejected.push(reject(reason)),
        }
    }
    (verified, rejected)
}

fn judge_envelope(
    f: &FetchedAttestation,
    digest: &Digest,
    keys: &[TrustedKey],
) -> Result<VerifiedStatement, String> {
    let bytes = f.envelope.as_ref().map_err(Clone::clone)?;
    let env = envelope::parse(bytes).map_err(|e| e.to_string())?;
    let signers: Vec<String> = keys
        .iter()
        .filter(|k| env.signed_by(&k.key))
        .map(|k| k.key_id.clone())
        .collect();
    if signers.is_empty() {
        return Err("no trusted key verifies its signature".into());
    }
    // Only after the signature: nothing unsigned is parsed further than the envelope.
    let statement = statement::parse(&env.payload).map_err(|e| e.to_string())?;
    if !statement.is_about(digest) {
        let named: Vec<&str> = statement
            .subject
            .iter()
            .filter_map(|s| s.digest.get("sha256").map(String::as_str))
            .collect();
        return Err(format!(
            "a statement about sha256:{}, not {digest}",
            named.join(", sha256:")
        ));
    }
    Ok(VerifiedStatement {
        statement,
        signers,
        signed_at: None,
        source: f.source.clone(),
    })
}
