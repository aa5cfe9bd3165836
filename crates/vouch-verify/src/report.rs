//! What verification reports: each signature's verdict and why, and each image's decision.

use std::collections::BTreeMap;

use serde::Serialize;
use vouch_oci::reference::{Digest, ImageRef};
use vouch_policy::KeylessIdentity;
use vouch_registry::StoreError;

/// What one signature layer (or Sigstore bundle) came to.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    /// 1-based position in the `.sig` manifest; bundles are numbered after the layers.
    pub index: usize,
    /// The layer's digest; for a bundle, the referrer manifest's digest (or the file given
    /// with `--bundle`).
    pub layer_digest: String,
    /// `bundle` for a Sigstore bundle; absent for a `.sig` layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    /// The certificate identity, for a keyless (certificate-signed) signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<KeylessIdentity>,
    /// The transparency-log entry's index, for a keyless signature whose entry verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<i64>,
    /// When it was signed (RFC 3339), as its log entry or RFC 3161 timestamp proves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
    /// `verified` or `rejected`.
    pub verdict: &'static str,
    /// The key it verified under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Where that key came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_source: Option<String>,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The payload's docker-reference, when the payload parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_reference: Option<String>,
    /// The payload's signed annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, serde_json::Value>,
}

impl SignatureReport {
    /// A report to fill in as checks pass; `rejected` until the last one does.
    pub(crate) fn pending(
        index: usize,
        layer_digest: &str,
        format: Option<&'static str>,
    ) -> SignatureReport {
        SignatureReport {
            index,
            layer_digest: layer_digest.to_string(),
            format,
            identity: None,
            log_index: None,
            signed_at: None,
            verdict: "rejected",
            key_id: None,
            key_source: None,
            reason: None,
            docker_reference: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// The outcome for one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// The reference as the user gave it.
    pub reference: String,
    /// The digest judged (a tag is resolved once, up front).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// `repo@digest`, for a deploy step to use instead of the tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    /// `verified`, `refused` or `error`.
    pub decision: &'static str,
    /// Why it was refused or could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every signature layer and bundle found, and its verdict.
    pub signatures: Vec<SignatureReport>,
    /// True when the registry or layout could not be read (exit code 3).
    #[serde(skip)]
    pub unreachable: bool,
}

impl ImageReport {
    pub(crate) fn failed(
        image: &ImageRef,
        digest: Option<&Digest>,
        err: &StoreError,
    ) -> ImageReport {
        ImageReport {
            reference: image.to_string(),
            digest: digest.cloned(),
            pinned: digest.map(|d| image.pinned_display(d)),
            decision: if err.is_unreachable() {
                "error"
            } else {
                "refused"
            },
            reason: Some(err.to_string()),
            signatures: Vec::new(),
            unreachable: err.is_unreachable(),
        }
    }

    /// True when verified.
    pub fn is_verified(&self) -> bool {
        self.decision == "verified"
    }
}

/// The first 12 hex characters of a key id, for human output.
pub fn short_id(key_id: &str) -> &str {
    key_id.get(..12).unwrap_or(key_id)
}
