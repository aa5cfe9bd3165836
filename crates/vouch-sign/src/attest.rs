//! Attesting: an in-toto statement about the image digest, signed into a DSSE envelope and
//! appended to the image's `sha256-<hex>.att` manifest the way cosign stores it, with the
//! same race-free merge as `.sig` layers — signed with a key, or keylessly with a
//! `vouch-keyless` session (the layer then carries cosign 2.x's certificate, chain and
//! log-entry annotations), or attached as a Sigstore bundle referrer.

use std::collections::BTreeMap;

use serde::Serialize;
use vouch_attest::{DSSE_LAYER_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION, envelope, statement};
use vouch_keys::{PrivateKey, SignerError};
use vouch_oci::oci::{self, Descriptor, SIGNATURE_ANNOTATION};
use vouch_oci::reference::{Digest, ImageRef};
use vouch_registry::resolve::resolve;
use vouch_registry::{StoreError, Stores};

use vouch_keyless::{AttestationEntry, KeylessSigner};

use crate::keyless::{IN_TOTO, KeylessSignError, digest_bytes};
use crate::{Merged, SignError, Slot, TagUpdate, update_tag};

/// What was attested.
#[derive(Debug, Clone, Serialize)]
pub struct AttestedImage {
    /// The reference as given.
    pub reference: String,
    /// `repo@digest` the statement is about.
    pub attested: String,
    /// The digest.
    pub digest: Digest,
    /// The predicate type URI.
    pub predicate_type: String,
    /// Layers in the `.att` manifest (or referrers) afterwards.
    pub attestations: usize,
    /// The bundle referrer's manifest digest (`--format bundle`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
}

/// Where an attestation is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttestFormat {
    /// cosign's `sha256-<hex>.att` manifest, one DSSE envelope per layer.
    #[default]
    Att,
    /// A Sigstore bundle attached as an OCI 1.1 referrer (cosign v3's format).
    Bundle,
}

/// What to attest with.
pub struct AttestOptions<'a> {
    /// The signing key.
    pub key: &'a PrivateKey,
    /// Where to store it.
    pub format: AttestFormat,
    /// The predicate type URI.
    pub predicate_type: &'a str,
    /// The predicate.
    pub predicate: &'a serde_json::Value,
}

/// Attests one image: resolves it once, signs a statement about its digest, appends it.
pub async fn attest_image(
    stores: &Stores,
    image: &ImageRef,
    options: &AttestOptions<'_>,
) -> Result<AttestedImage, SignError> {
    let limits = stores.limits();
    let repo = stores.repo(image);
    let bundle_format = options.format == AttestFormat::Bundle;
    let resolved = resolve(&repo, image, bundle_format, limits).await?;
    let digest = resolved.digest;
    if bundle_format {
        let subject = resolved
            .manifest
            .map(|(fetched, _)| fetched)
            .ok_or_else(|| StoreError::NotFound(format!("image {image}")))?;
        let mut slot = Slot::take(None).await;
        let bundle = statement_bundle(image, &digest, options)?;
        let attached = crate::put_bundle(&repo, &subject, &bundle, limits, &mut slot).await?;
        return Ok(AttestedImage {
            reference: image.to_string(),
            attested: image.pinned_display(&digest),
            predicate_type: options.predicate_type.to_string(),
            digest,
            attestations: attached.count,
            referrer: Some(attached.referrer),
        });
    }
    let envelope = signed_envelope(image, &digest, options);
    let update = AttLayerUpdate {
        descriptor: descriptor(&envelope, options.predicate_type),
        blobs: [envelope.as_slice()],
    };
    let mut slot = Slot::take(None).await;
    let (_, count) =
        update_tag(&repo, &digest.attestation_tag(), &update, limits, &mut slot).await?;
    Ok(AttestedImage {
        reference: image.to_string(),
        attested: image.pinned_display(&digest),
        predicate_type: options.predicate_type.to_string(),
        digest,
        attestations: count,
        referrer: None,
    })
}

/// What to attest keylessly with.
pub struct KeylessAttestOptions<'a> {
    /// The session (its certificate already verified).
    pub signer: &'a KeylessSigner,
    /// Where to store it: a bundle (DSSE, logged as `dsse`) or a `.att` layer with cosign
    /// 2.x's certificate, chain and log-entry annotations.
    pub format: AttestFormat,
    /// How a `.att` layer is logged (`dsse`, as cosign 2.5; or `intoto`).
    pub att_entry: AttestationEntry,
    /// The predicate type URI.
    pub predicate_type: &'a str,
    /// The predicate.
    pub predicate: &'a serde_json::Value,
    /// The batch's `--jobs`, as for [`crate::keyless::KeylessSignOptions::slots`].
    pub slots: Option<&'a tokio::sync::Semaphore>,
}

/// Attests one image keylessly: resolves it once, signs a statement about its digest with
/// the session, and stores it only once it has verified offline; a failure stores nothing.
pub async fn attest_image_keyless(
    stores: &Stores,
    image: &ImageRef,
    options: &KeylessAttestOptions<'_>,
) -> Result<AttestedImage, KeylessSignError> {
    let limits = stores.limits();
    let repo = stores.repo(image);
    let bundle_format = options.format == AttestFormat::Bundle;
    let resolved = resolve(&repo, image, bundle_format, limits).await?;
    let digest = resolved.digest;
    let statement = statement::build(
        &image.default_identity(),
        &digest,
        options.predicate_type,
        options.predicate,
    );
    let sha256 = digest_bytes(digest.hex())?;
    let mut slot = Slot::take(options.slots).await;
    let (attestations, referrer) = if bundle_format {
        let subject = resolved
            .manifest
            .map(|(fetched, _)| fetched)
            .ok_or_else(|| StoreError::NotFound(format!("image {image}")))?;
        let bundle = options
            .signer
            .sign_dsse(IN_TOTO, &statement, sha256)
            .await?;
        let attached = crate::put_bundle(&repo, &subject, &bundle.json, limits, &mut slot).await?;
        (attached.count, Some(attached.referrer))
    } else {
        let signed = options
            .signer
            .sign_att_layer(IN_TOTO, &statement, sha256, options.att_entry)
            .await?;
        let mut descriptor = descriptor(&signed.envelope, options.predicate_type);
        if let Some(a) = descriptor.annotations.as_mut() {
            a.extend(signed.annotations);
        }
        let update = AttLayerUpdate {
            descriptor,
            blobs: [signed.envelope.as_slice()],
        };
        let (_, count) =
            update_tag(&repo, &digest.attestation_tag(), &update, limits, &mut slot).await?;
        (count, None)
    };
    Ok(AttestedImage {
        reference: image.to_string(),
        attested: image.pinned_display(&digest),
        predicate_type: options.predicate_type.to_string(),
        digest,
        attestations,
        referrer,
    })
}

/// The statement about `digest` signed into a key-signed Sigstore bundle (`--format bundle`,
/// `--output-bundle`).
pub fn statement_bundle(
    image: &ImageRef,
    digest: &Digest,
    options: &AttestOptions<'_>,
) -> Result<Vec<u8>, SignerError> {
    let statement = statement::build(
        &image.default_identity(),
        digest,
        options.predicate_type,
        options.predicate,
    );
    vouch_sigstore::build::key_signed_bundle(options.key, &statement)
}

/// The bundle for one image, for `--output-bundle` (nothing stored; a digest reference needs
/// no request).
pub async fn attestation_bundle_for_file(
    stores: &Stores,
    image: &ImageRef,
    options: &AttestOptions<'_>,
) -> Result<(AttestedImage, Vec<u8>), SignError> {
    let repo = stores.repo(image);
    let resolved = resolve(&repo, image, false, stores.limits()).await?;
    let bundle = statement_bundle(image, &resolved.digest, options)?;
    Ok((
        AttestedImage {
            reference: image.to_string(),
            attested: image.pinned_display(&resolved.digest),
            predicate_type: options.predicate_type.to_string(),
            digest: resolved.digest,
            attestations: 1,
            referrer: None,
        },
        bundle,
    ))
}

/// The DSSE envelope for one image, for `--output-bundle`-style use and for tests.
pub fn signed_envelope(image: &ImageRef, digest: &Digest, options: &AttestOptions<'_>) -> Vec<u8> {
    let statement = statement::build(
        &image.default_identity(),
        digest,
        options.predicate_type,
        options.predicate,
    );
    envelope::sign(options.key, &statement)
}

/// The `.att` layer descriptor cosign writes: the envelope, an empty signature annotation
/// (the signature is inside), and the predicate type copied out (unsigned, for display).
fn descriptor(envelope: &[u8], predicate_type: &str) -> Descriptor {
    let mut annotations = BTreeMap::new();
    annotations.insert(SIGNATURE_ANNOTATION.to_string(), String::new());
    annotations.insert(
        PREDICATE_TYPE_ANNOTATION.to_string(),
        predicate_type.to_string(),
    );
    Descriptor {
        media_type: DSSE_LAYER_MEDIA_TYPE.to_string(),
        digest: Digest::of(envelope).to_string(),
        size: envelope.len() as u64,
        annotations: Some(annotations),
        platform: None,
    }
}

/// Adds one envelope layer to a `.att` manifest.
struct AttLayerUpdate<'a> {
    descriptor: Descriptor,
    blobs: [&'a [u8]; 1],
}

impl TagUpdate for AttLayerUpdate<'_> {
    fn settled(&self, existing: Option<&[u8]>, wrote: bool) -> Option<(&'static str, usize)> {
        let doc: serde_json::Value = serde_json::from_slice(existing?).ok()?;
        let layers = doc["layers"].as_array()?;
        // Envelopes carry fresh signatures, so only our own write can be there.
        layers
            .iter()
            .any(|l| l["digest"].as_str() == Some(self.descriptor.digest.as_str()))
            .then_some((
                if wrote {
                    "attested"
                } else {
                    "already-attested"
                },
                layers.len(),
            ))
    }

    fn merge(&self, tag: &str, existing: Option<&[u8]>) -> Result<Merged, StoreError> {
        crate::merged_layers(
            &format!("attestation manifest {tag}"),
            oci::merge_layers(existing, std::slice::from_ref(&self.descriptor)),
        )
    }

    fn blobs(&self) -> &[&[u8]] {
        &self.blobs
    }
}
