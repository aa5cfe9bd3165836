//! Keyless image signatures: each digest signed by a `vouch-keyless` session (Fulcio
//! certificate, log entry, optional timestamp) and stored exactly where key-signed ones go —
//! a Sigstore bundle as an OCI 1.1 referrer, or a layer of the `.sig` manifest carrying
//! cosign 2.x's certificate, chain, log-entry and timestamp annotations. Also vouch's
//! offline verifier behind the session's [`OfflineVerifier`] trait, so nothing is stored
//! that `vouch verify` would not accept.

use std::collections::BTreeMap;

use vouch_keyless::{
    Expectation, KeylessError, KeylessSigner, OfflineVerifier, Rejection, RejectionKind,
    SIGNATURE_ANNOTATION, SignedMaterial, Verified,
};
use vouch_oci::oci::SignatureLayer;
use vouch_oci::payload;
use vouch_oci::reference::ImageRef;
use vouch_registry::{StoreError, Stores};
use vouch_sigstore::build::image_statement;
use vouch_sigstore::{
    Artifact, BundleError, HashAlgorithm, IdentityPolicy, SigLayer, TimeSource, TrustedRoot,
    UnixTime, VerifyOptions, verify_att_layer, verify_bundle_with, verify_sig_layer,
};

use crate::{SignedImage, Slot, append_signature, put_bundle, targets};

/// The payload type of cosign v3's image-signature statement.
pub(crate) const IN_TOTO: &str = "application/vnd.in-toto+json";

/// vouch's offline verifier with one trusted root, judging exactly the identity asked.
pub struct RootVerifier {
    root: TrustedRoot,
}

impl RootVerifier {
    /// Judges against `root`.
    pub fn new(root: TrustedRoot) -> RootVerifier {
        RootVerifier { root }
    }
}

fn classify(e: &BundleError) -> RejectionKind {
    match e {
        BundleError::Tlog { reason, .. }
            if reason.contains("inclusion proof") || reason.contains("checkpoint") =>
        {
            RejectionKind::InclusionProof
        }
        BundleError::Tlog { reason, .. } if reason.contains("signed entry timestamp") => {
            RejectionKind::SignedEntryTimestamp
        }
        BundleError::Tlog { .. } | BundleError::NoLogEntry => RejectionKind::LogEntry,
        BundleError::Certificate { .. } => RejectionKind::Certificate,
        BundleError::Timestamp { .. } | BundleError::NoVerifiedTime => RejectionKind::Timestamp,
        BundleError::Signature { .. } | BundleError::ArtifactMismatch { .. } => {
            RejectionKind::Signature
        }
        BundleError::Policy(_) => RejectionKind::Identity,
        _ => RejectionKind::Other,
    }
}

impl OfflineVerifier for RootVerifier {
    fn verify(
        &self,
        material: &SignedMaterial<'_>,
        expect: &Expectation<'_>,
    ) -> Result<Verified, Rejection> {
        let policy = IdentityPolicy::Identity {
            subject: expect.identity.subject.clone(),
            issuer: expect.identity.issuer.clone(),
        };
        let options = VerifyOptions {
            unlogged_certificates_at: expect.unlogged_at.map(UnixTime::from_secs),
            ..VerifyOptions::default()
        };
        let result = match material {
            SignedMaterial::Bundle {
                json,
                artifact_sha256,
            } => verify_bundle_with(
                json,
                &Artifact::Digest {
                    algorithm: HashAlgorithm::Sha256,
                    digest: artifact_sha256.to_vec(),
                },
                &policy,
                &self.root,
                &options,
            ),
            SignedMaterial::SigLayer {
                annotations,
                signature,
                payload,
            } => {
                let Some(layer) = SigLayer::from_annotations(annotations) else {
                    return Err(Rejection {
                        kind: RejectionKind::Other,
                        reason: "the layer carries no certificate".into(),
                    });
                };
                verify_sig_layer(&layer, signature, payload, &policy, &self.root, &options)
            }
            SignedMaterial::AttLayer {
                annotations,
                envelope,
                artifact_sha256,
            } => {
                let Some(layer) = SigLayer::from_annotations(annotations) else {
                    return Err(Rejection {
                        kind: RejectionKind::Other,
                        reason: "the layer carries no certificate".into(),
                    });
                };
                verify_att_layer(
                    &layer,
                    envelope,
                    &Artifact::Digest {
                        algorithm: HashAlgorithm::Sha256,
                        digest: artifact_sha256.to_vec(),
                    },
                    &policy,
                    &self.root,
                    &options,
                )
            }
        };
        result
            .map(|v| Verified {
                log_entries: v.log_entries.len(),
                timestamps: v
                    .verified_times
                    .iter()
                    .filter(|t| matches!(t.source, TimeSource::TimestampAuthority { .. }))
                    .count(),
            })
            .map_err(|e| Rejection {
                kind: classify(&e),
                reason: e.to_string(),
            })
    }
}

/// How keyless signatures are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeylessFormat {
    /// A Sigstore bundle v0.3 (DSSE, logged as `dsse`) attached as an OCI 1.1 referrer.
    Bundle,
    /// A `.sig` manifest layer with cosign 2.x's keyless annotations.
    Sig,
}

/// What a keyless sign does.
pub struct KeylessSignOptions<'a> {
    /// The session (its certificate already verified).
    pub signer: &'a KeylessSigner,
    /// Signed annotations (`-a KEY=VALUE`).
    pub annotations: &'a BTreeMap<String, String>,
    /// Sign an index's platform manifests too.
    pub recursive: bool,
    /// Overrides the repository named in the payload.
    pub identity: Option<&'a str>,
    /// The format.
    pub format: KeylessFormat,
    /// The batch's `--jobs`, shared by its signs (held while signing and logging, given
    /// back while waiting to confirm a write); `None`: unbounded (one image).
    pub slots: Option<&'a tokio::sync::Semaphore>,
}

/// Why a keyless sign failed; nothing of the failing signature was stored.
#[derive(Debug, thiserror::Error)]
pub enum KeylessSignError {
    /// The registry or layout.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signing services or what they answered.
    #[error(transparent)]
    Keyless(#[from] KeylessError),
}

/// Signs `image` (and, with `recursive`, its index children) keylessly and stores each
/// signature once it has verified; a failure stores nothing for that digest.
pub async fn sign_image_keyless(
    stores: &Stores,
    image: &ImageRef,
    options: &KeylessSignOptions<'_>,
) -> Result<Vec<SignedImage>, KeylessSignError> {
    let limits = stores.limits();
    let repo = stores.repo(image);
    let mut slot = Slot::take(options.slots).await;
    let identity = options
        .identity
        .map(str::to_string)
        .unwrap_or_else(|| image.default_identity());
    let mut out = Vec::new();
    for (digest, manifest) in targets(&repo, image, options.recursive, limits).await? {
        let signed = image.pinned_display(&digest);
        match options.format {
            KeylessFormat::Bundle => {
                let subject =
                    manifest.ok_or_else(|| StoreError::NotFound(format!("image {image}")))?;
                let sha256 = digest_bytes(digest.hex())?;
                let statement = image_statement(digest.hex(), Some(&identity), options.annotations);
                let bundle = options
                    .signer
                    .sign_dsse(IN_TOTO, &statement, sha256)
                    .await?;
                let attached = put_bundle(&repo, &subject, &bundle.json, limits, &mut slot).await?;
                out.push(SignedImage {
                    reference: image.to_string(),
                    signed,
                    digest,
                    outcome: attached.outcome,
                    signatures: attached.count,
                    format: Some("bundle"),
                    referrer: Some(attached.referrer),
                });
            }
            KeylessFormat::Sig => {
                let payload = payload::build(&identity, &digest, options.annotations);
                let mut signature = options.signer.sign_sig_layer(&payload).await?;
                let signature_b64 = signature
                    .annotations
                    .remove(SIGNATURE_ANNOTATION)
                    .unwrap_or_default();
                let layer = SignatureLayer {
                    payload,
                    signature_b64,
                    annotations: signature.annotations,
                };
                let (outcome, signatures) =
                    append_signature(&repo, &digest, &layer, None, limits, &mut slot).await?;
                out.push(SignedImage {
                    reference: image.to_string(),
                    signed,
                    digest,
                    outcome,
                    signatures,
                    format: None,
                    referrer: None,
                });
            }
        }
    }
    Ok(out)
}

pub(crate) fn digest_bytes(hex_digest: &str) -> Result<[u8; 32], KeylessError> {
    hex::decode(hex_digest)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| KeylessError::Config {
            reason: format!("not a SHA-256 digest: {hex_digest}"),
        })
}
