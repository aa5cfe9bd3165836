//! Attestations of an image: fetch its `sha256-<hex>.att` manifest and DSSE layers (bounded
//! in count, size and time, every blob checked against its digest), then verify each
//! envelope's signature against trusted keys or, for keyless layers, the trusted root, and keep
//! the statements about this digest.
//! Judging them against a requirement is `vouch_attest::judge`.

use futures_util::StreamExt as _;
use serde::Serialize;
use vouch_attest::{DSSE_LAYER_MEDIA_TYPE, VerifiedStatement, envelope, statement};
use vouch_oci::oci::{self, Limits};
use vouch_oci::reference::{Digest, ImageRef};
use vouch_registry::{Lookup, Repo, StoreError};

use std::collections::BTreeMap;

use vouch_policy::{AttestationFact, KeylessIdentity, Timestamp};
use vouch_sigstore::{Artifact, HashAlgorithm, IdentityPolicy, SigLayer, verify_att_layer};

use vouch_registry::referrers::FetchedBundle;

use crate::judge::{SignatureJudge, bundle_attestation, verify_keyless};

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

/// An attestation whose envelope signature verified and whose statement is about the image.
#[derive(Debug, Clone)]
pub struct VerifiedAttestation {
    /// The statement.
    pub statement: vouch_attest::Statement,
    /// The ids of the trusted keys that verified it (empty for a keyless one).
    pub key_ids: Vec<String>,
    /// For a keyless layer: the identity of the certificate that verified it.
    pub identity: Option<KeylessIdentity>,
    /// Keyless, with no transparency-log entry (accepted only under the judge's
    /// `unlogged_at`; only signers that accept unlogged signatures may count it).
    pub unlogged: bool,
    /// The verified log entry's index, for a keyless layer.
    pub log_index: Option<i64>,
    /// The earliest time its log entry or timestamp proves, seconds since the epoch.
    pub signed_at: Option<i64>,
    /// Where it was (`.att layer 2`).
    pub source: String,
}

impl VerifiedAttestation {
    /// What the policy engine is told: one fact per key that verified it, and one for its
    /// keyless identity (dated by its verified log time).
    pub fn facts(&self) -> Vec<AttestationFact> {
        let keyless = self.identity.iter().map(|identity| AttestationFact {
            statement: self.statement.clone(),
            key_id: String::new(),
            keyless: Some(identity.clone()),
            signed_at: self.signed_at.map(Timestamp::from_unix),
            source: self.source.clone(),
            unlogged: self.unlogged,
        });
        let keyed = self.key_ids.iter().map(|key_id| AttestationFact {
            statement: self.statement.clone(),
            key_id: key_id.clone(),
            keyless: None,
            signed_at: None,
            source: self.source.clone(),
            unlogged: false,
        });
        keyless.chain(keyed).collect()
    }

    /// What an attestation requirement judges, counted for `signers`.
    pub fn statement_for(&self, signers: Vec<String>) -> VerifiedStatement {
        VerifiedStatement {
            statement: self.statement.clone(),
            signers,
            signed_at: self.signed_at,
            source: self.source.clone(),
        }
    }
}

/// Verifies fetched envelopes: a statement counts when an envelope signature verifies under
/// one of `judge.keys` or, for a keyless layer (a Fulcio certificate in its annotations)
/// when `judge.keyless`, under the trusted root with a log entry bound to the envelope (see
/// `vouch_sigstore::verify_att_layer`), and a subject names `digest`. Identities are the
/// caller's to judge.
pub fn verify_attestations(
    fetched: &[FetchedAttestation],
    digest: &Digest,
    judge: &SignatureJudge<'_>,
) -> (Vec<VerifiedAttestation>, Vec<Rejected>) {
    let mut verified = Vec::new();
    let mut rejected = Vec::new();
    for f in fetched {
        let claimed_type = f
            .descriptor
            .annotations
            .as_ref()
            .and_then(|a| a.get(vouch_attest::PREDICATE_TYPE_ANNOTATION))
            .cloned();
        match judge_envelope(f, digest, judge) {
            Ok(v) => verified.push(v),
            Err(reason) => rejected.push(Rejected {
                source: f.source.clone(),
                claimed_type,
                reason,
            }),
        }
    }
    (verified, rejected)
}

/// The image's Sigstore bundle referrers (cosign v3, GitHub's attest-build-provenance), within
/// the signatures' deadline: a registry too slow to answer is unavailable.
pub async fn fetch_referrer_bundles(
    repo: &Repo,
    image: &ImageRef,
    digest: &Digest,
    limits: &Limits,
) -> Result<Vec<FetchedBundle>, StoreError> {
    let fetching = vouch_registry::referrers::fetch_bundles(repo, digest, limits);
    match tokio::time::timeout(crate::fetch::SIGNATURES_DEADLINE, fetching).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Registry {
            registry: image.repository_display(),
            request: format!("fetch the referrers of {digest}"),
            reason: "too slow; treated as unavailable".into(),
        }),
    }
}

/// Reads Sigstore bundles (an image's referrers, or `--bundle` files) as attestations of
/// `digest`, verified as [`crate::judge::bundle_attestation`] does. Bundles that are image
/// signatures (cosign's sign predicate type) are neither listed nor rejected.
pub fn verify_bundle_attestations(
    bundles: &[FetchedBundle],
    digest: &Digest,
    judge: &SignatureJudge<'_>,
) -> (Vec<VerifiedAttestation>, Vec<Rejected>) {
    let mut verified = Vec::new();
    let mut rejected = Vec::new();
    for (i, bundle) in bundles.iter().enumerate() {
        let source = format!("bundle {} ({})", i + 1, bundle.source);
        match bundle_attestation(bundle, digest, judge) {
            Ok(Some(a)) => verified.push(VerifiedAttestation {
                statement: a.statement,
                key_ids: a.key_id.into_iter().collect(),
                identity: a.identity,
                unlogged: false,
                log_index: None,
                signed_at: a.signed_at,
                source,
            }),
            Ok(None) => {}
            Err(reason) => rejected.push(Rejected {
                source,
                claimed_type: None,
                reason,
            }),
        }
    }
    (verified, rejected)
}

/// Why a keyless layer is not read without a keyless trust.
const KEYLESS_NOT_ASKED: &str = "signed with a certificate (keyless), not a key: list it with --certificate-identity and --certificate-oidc-issuer, or judge it with a policy that has a keyless signer";

fn judge_envelope(
    f: &FetchedAttestation,
    digest: &Digest,
    judge: &SignatureJudge<'_>,
) -> Result<VerifiedAttestation, String> {
    let bytes = f.envelope.as_ref().map_err(Clone::clone)?;
    let env = envelope::parse(bytes).map_err(|e| e.to_string())?;
    let key_ids: Vec<String> = judge
        .keys
        .iter()
        .filter(|k| env.signed_by(&k.key))
        .map(|k| k.key_id.clone())
        .collect();
    let no_annotations = BTreeMap::new();
    let annotations = f.descriptor.annotations.as_ref().unwrap_or(&no_annotations);
    let mut keyless = None;
    if key_ids.is_empty() {
        let Some(material) = SigLayer::from_annotations(annotations) else {
            return Err("no trusted key verifies its signature".into());
        };
        if !judge.keyless {
            return Err(KEYLESS_NOT_ASKED.into());
        }
        let root = judge
            .root
            .ok_or("the built-in trusted root could not be loaded")?;
        let subject = Artifact::Digest {
            algorithm: HashAlgorithm::Sha256,
            digest: hex::decode(digest.hex()).unwrap_or_default(),
        };
        let (v, unlogged) = verify_keyless(judge, |options| {
            let any = IdentityPolicy::AnyCertificate;
            verify_att_layer(&material, bytes, &subject, &any, root, options)
        })?;
        keyless = Some((v, unlogged));
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
    let v = keyless.as_ref().map(|(v, _)| v);
    Ok(VerifiedAttestation {
        statement,
        key_ids,
        identity: v
            .and_then(|v| v.identity.as_ref())
            .map(|id| KeylessIdentity {
                issuer: id.issuer.clone(),
                subject: id.subject.clone(),
            }),
        unlogged: keyless.as_ref().is_some_and(|(_, unlogged)| *unlogged),
        log_index: v.and_then(|v| v.log_entries.first()).map(|e| e.log_index),
        signed_at: v.and_then(|v| v.signing_time).map(|t| t.secs()),
        source: f.source.clone(),
    })
}
