//! cosign 2.x keyless signatures stored in `.sig` manifests.
//!
//! cosign 2.x keeps a keyless signature's Sigstore material in the signature layer's
//! annotations instead of a bundle: the Fulcio certificate, its chain, the Rekor entry with its
//! signed entry timestamp, and an RFC 3161 timestamp when a TSA was used. This module assembles
//! them into the bundle model and judges them with the same checks as a v0.1 bundle (each log
//! entry needs a signed entry timestamp; an inclusion proof is checked when one is present),
//! over the layer's payload bytes, which is what cosign signed. Keyless `.att` layers (a DSSE
//! envelope with the same annotations) are judged the same way, as a DSSE bundle.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::model::{
    Bundle, BundleVersion, CertificateChain, Envelope, HashOutput, InclusionPromise, KindVersion,
    LogId, MessageSignature, RawBytes, Rfc3161Timestamp, TimestampVerificationData, TlogEntry,
    VerificationMaterial,
};
use super::verify::verify_parsed;
use super::{
    Artifact, BundleError, HashAlgorithm, IdentityPolicy, TrustedRoot, VerifiedBundle,
    VerifyOptions, b64, x509,
};

/// The signing certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The certificates above it, issuer first (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The Rekor entry and its signed entry timestamp (JSON).
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// An RFC 3161 timestamp over the signature (JSON).
pub const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// Bounds on what one layer's annotations may hold (a `.sig` manifest is at most 4 MiB, but
/// one signature has no business carrying more than this).
const MAX_PEM_BYTES: usize = 64 * 1024;
const MAX_CHAIN_CERTIFICATES: usize = 8;
const MAX_JSON_BYTES: usize = 64 * 1024;
/// The largest `.att` envelope judged (cosign's attestation layers are far smaller).
const MAX_ENVELOPE_BYTES: usize = 32 * 1024 * 1024;

/// The Sigstore material of one keyless `.sig` layer.
#[derive(Debug, Clone, Copy)]
pub struct SigLayer<'a> {
    /// `dev.sigstore.cosign/certificate`.
    pub certificate_pem: &'a str,
    /// `dev.sigstore.cosign/chain`, if present.
    pub chain_pem: Option<&'a str>,
    /// `dev.sigstore.cosign/bundle`, if present: the Rekor entry.
    pub rekor_bundle: Option<&'a str>,
    /// `dev.sigstore.cosign/rfc3161timestamp`, if present.
    pub rfc3161_timestamp: Option<&'a str>,
}

impl<'a> SigLayer<'a> {
    /// The keyless material of a layer, or `None` when it carries no certificate (a
    /// key-signed layer).
    pub fn from_annotations(annotations: &'a BTreeMap<String, String>) -> Option<SigLayer<'a>> {
        let get = |k: &str| annotations.get(k).map(String::as_str);
        Some(SigLayer {
            certificate_pem: get(CERTIFICATE_ANNOTATION).filter(|c| !c.trim().is_empty())?,
            chain_pem: get(CHAIN_ANNOTATION).filter(|c| !c.trim().is_empty()),
            rekor_bundle: get(REKOR_BUNDLE_ANNOTATION).filter(|c| !c.trim().is_empty()),
            rfc3161_timestamp: get(RFC3161_ANNOTATION).filter(|c| !c.trim().is_empty()),
        })
    }

    /// True when the layer carries a transparency-log entry.
    pub fn has_log_entry(&self) -> bool {
        self.rekor_bundle.is_some()
    }
}

/// cosign's `dev.sigstore.cosign/bundle` annotation.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RekorBundle {
    signed_entry_timestamp: String,
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// cosign's `dev.sigstore.cosign/rfc3161timestamp` annotation.
#[derive(Deserialize)]
struct TimestampAnnotation {
    #[serde(rename = "SignedRFC3161Timestamp")]
    signed_rfc3161_timestamp: String,
}

/// The kind and version a Rekor entry body declares.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BodyKind {
    kind: String,
    api_version: String,
}

fn shape(reason: impl Into<String>) -> BundleError {
    BundleError::Bundle {
        reason: reason.into(),
    }
}

fn bounded<'s>(text: &'s str, limit: usize, what: &str) -> Result<&'s str, BundleError> {
    if text.len() > limit {
        return Err(shape(format!(
            "the {what} annotation is {} bytes, more than the {limit}-byte limit",
            text.len()
        )));
    }
    Ok(text)
}

fn certificates(pem: &str, what: &str) -> Result<Vec<RawBytes>, BundleError> {
    let ders = x509::pem_certificates(bounded(pem, MAX_PEM_BYTES, what)?).map_err(|e| {
        BundleError::Certificate {
            reason: format!("{what} annotation: {e}"),
        }
    })?;
    Ok(ders
        .into_iter()
        .map(|raw_bytes| RawBytes { raw_bytes })
        .collect())
}

fn log_entry(annotation: &str) -> Result<TlogEntry, BundleError> {
    let bad = |e: String| shape(format!("{REKOR_BUNDLE_ANNOTATION} annotation: {e}"));
    let parsed: RekorBundle = serde_json::from_str(bounded(
        annotation,
        MAX_JSON_BYTES,
        REKOR_BUNDLE_ANNOTATION,
    )?)
    .map_err(|e| bad(e.to_string()))?;
    let body = b64::decode(&parsed.payload.body).map_err(|e| bad(format!("body: {e}")))?;
    let kind: BodyKind =
        serde_json::from_slice(&body).map_err(|e| bad(format!("entry body: {e}")))?;
    let key_id = hex::decode(&parsed.payload.log_id).map_err(|_| bad("logID is not hex".into()))?;
    let signed_entry_timestamp = b64::decode(&parsed.signed_entry_timestamp)
        .map_err(|e| bad(format!("SignedEntryTimestamp: {e}")))?;
    Ok(TlogEntry {
        log_index: parsed.payload.log_index,
        log_id: LogId { key_id },
        kind_version: KindVersion {
            kind: kind.kind,
            version: kind.api_version,
        },
        integrated_time: Some(parsed.payload.integrated_time),
        inclusion_promise: Some(InclusionPromise {
            signed_entry_timestamp,
        }),
        inclusion_proof: None,
        canonicalized_body: body,
    })
}

fn timestamp(annotation: &str) -> Result<Rfc3161Timestamp, BundleError> {
    let bad = |e: String| shape(format!("{RFC3161_ANNOTATION} annotation: {e}"));
    let parsed: TimestampAnnotation =
        serde_json::from_str(bounded(annotation, MAX_JSON_BYTES, RFC3161_ANNOTATION)?)
            .map_err(|e| bad(e.to_string()))?;
    Ok(Rfc3161Timestamp {
        signed_timestamp: b64::decode(&parsed.signed_rfc3161_timestamp)
            .map_err(|e| bad(e.to_string()))?,
    })
}

/// Verifies a keyless `.sig` layer offline: the certificate chains to a Fulcio CA of `root` at
/// every time the layer proves (its Rekor signed entry timestamp, its RFC 3161 timestamp),
/// with a valid SCT; the Rekor entry describes exactly this signature, certificate and
/// payload; the signature verifies over `payload` under the certificate's key; and the
/// certificate's identity passes `policy`. Without a Rekor entry it is refused
/// ([`BundleError::NoLogEntry`]) unless `options` accepts unlogged certificates.
pub fn verify_sig_layer(
    layer: &SigLayer<'_>,
    signature: &[u8],
    payload: &[u8],
    policy: &IdentityPolicy,
    root: &TrustedRoot,
    options: &VerifyOptions,
) -> Result<VerifiedBundle, BundleError> {
    let bundle = Bundle {
        media_type: String::new(),
        verification_material: material(layer)?,
        message_signature: Some(MessageSignature {
            message_digest: Some(HashOutput {
                algorithm: "SHA2_256".into(),
                digest: HashAlgorithm::Sha256.digest(payload),
            }),
            signature: signature.to_vec(),
        }),
        dsse_envelope: None,
    };
    verify_parsed(
        &bundle,
        BundleVersion::V0_1,
        &Artifact::Bytes(payload.to_vec()),
        policy,
        root,
        options,
    )
}

/// The Rekor entry kinds a keyless `.att` layer's log entry may be: `dsse 0.0.1`, which
/// cosign 2.x `attest` records, and `intoto 0.0.2`, which earlier cosign releases recorded.
/// Either must still describe exactly this envelope (payload hash, signature, certificate).
pub const ATT_ENTRY_KINDS: [(&str, &str); 2] = [("dsse", "0.0.1"), ("intoto", "0.0.2")];

/// Verifies a keyless `.att` layer offline (cosign 2.x `attest`): the layer is a DSSE
/// envelope whose in-toto statement must name `artifact`, signed under the certificate in
/// the annotations, with the same certificate, log and identity checks as
/// [`verify_sig_layer`]. cosign 2.5 logs attestations as `dsse` 0.0.1 entries (the payload
/// hash and signature checked as for a bundle); as `intoto` 0.0.2 entries (older cosign,
/// `--rekor-entry-type intoto`) they also record the SHA-256 of the envelope bytes, which
/// must be this layer's, as cosign checks.
pub fn verify_att_layer(
    layer: &SigLayer<'_>,
    envelope: &[u8],
    artifact: &Artifact,
    policy: &IdentityPolicy,
    root: &TrustedRoot,
    options: &VerifyOptions,
) -> Result<VerifiedBundle, BundleError> {
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(shape(format!(
            "the envelope is {} bytes, more than the {MAX_ENVELOPE_BYTES}-byte limit",
            envelope.len()
        )));
    }
    let parsed: Envelope = serde_json::from_slice(envelope)
        .map_err(|e| shape(format!("the layer is not a DSSE envelope: {e}")))?;
    let verification_material = material(layer)?;
    for (index, entry) in verification_material.tlog_entries.iter().enumerate() {
        let kind = &entry.kind_version;
        if !ATT_ENTRY_KINDS
            .iter()
            .any(|(k, v)| kind.kind == *k && kind.version == *v)
        {
            return Err(BundleError::Tlog {
                entry: index,
                reason: format!(
                    "the log entry is {} {}, not an attestation entry (dsse 0.0.1 or intoto 0.0.2)",
                    kind.kind, kind.version
                ),
            });
        }
        if entry.kind_version.kind == "intoto" {
            let body: serde_json::Value = serde_json::from_slice(&entry.canonicalized_body)
                .map_err(|e| shape(format!("entry body: {e}")))?;
            let logged = body
                .pointer("/spec/content/hash/value")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            if !logged.eq_ignore_ascii_case(&hex::encode(HashAlgorithm::Sha256.digest(envelope))) {
                return Err(BundleError::Tlog {
                    entry: index,
                    reason: "the log entry records another envelope than this layer".into(),
                });
            }
        }
    }
    let bundle = Bundle {
        media_type: String::new(),
        verification_material,
        message_signature: None,
        dsse_envelope: Some(parsed),
    };
    verify_parsed(
        &bundle,
        BundleVersion::V0_1,
        artifact,
        policy,
        root,
        options,
    )
}

/// The certificate, chain, log entry and timestamp of a layer, as a bundle's material.
fn material(layer: &SigLayer<'_>) -> Result<VerificationMaterial, BundleError> {
    let mut chain = certificates(layer.certificate_pem, CERTIFICATE_ANNOTATION)?;
    if chain.len() != 1 {
        return Err(BundleError::Certificate {
            reason: format!(
                "the {CERTIFICATE_ANNOTATION} annotation holds {} certificates, not one",
                chain.len()
            ),
        });
    }
    if let Some(pem) = layer.chain_pem {
        // Only a hint, as in a bundle: paths are built from the trusted root. It must still
        // be a chain in issuing order.
        let rest = certificates(pem, CHAIN_ANNOTATION)?;
        if rest.len() > MAX_CHAIN_CERTIFICATES {
            return Err(BundleError::Certificate {
                reason: format!(
                    "the {CHAIN_ANNOTATION} annotation holds {} certificates; at most {MAX_CHAIN_CERTIFICATES} are accepted",
                    rest.len()
                ),
            });
        }
        chain.extend(rest);
    }
    let tlog_entries = match layer.rekor_bundle {
        Some(annotation) => vec![log_entry(annotation)?],
        None => Vec::new(),
    };
    let timestamp_verification_data = layer
        .rfc3161_timestamp
        .map(|t| {
            Ok::<_, BundleError>(TimestampVerificationData {
                rfc3161_timestamps: vec![timestamp(t)?],
            })
        })
        .transpose()?;
    Ok(VerificationMaterial {
        x509_certificate_chain: Some(CertificateChain {
            certificates: chain,
        }),
        certificate: None,
        public_key: None,
        tlog_entries,
        timestamp_verification_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BundleError, PolicyMismatch, UnixTime};

    const CASE: &str = "containers-image/derived-simple-signing/cosign-fulcio-rekor-valid";

    fn read(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/vectors")
            .join(CASE)
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    struct Case {
        cert: String,
        chain: String,
        bundle: String,
        signature: Vec<u8>,
        payload: Vec<u8>,
    }

    fn case() -> Case {
        Case {
            cert: read("cert.pem"),
            chain: read("chain.pem"),
            bundle: read("rekor-bundle.json"),
            signature: b64::decode(read("signature.b64").trim()).expect("signature"),
            payload: read("payload.json").into_bytes(),
        }
    }

    fn layer(c: &Case) -> SigLayer<'_> {
        SigLayer {
            certificate_pem: &c.cert,
            chain_pem: Some(&c.chain),
            rekor_bundle: Some(&c.bundle),
            rfc3161_timestamp: None,
        }
    }

    fn root() -> TrustedRoot {
        TrustedRoot::from_json(crate::roots::PRODUCTION_TRUSTED_ROOT.as_bytes()).expect("root")
    }

    fn identity(subject: &str) -> IdentityPolicy {
        IdentityPolicy::Identity {
            subject: subject.into(),
            issuer: "https://github.com/login/oauth".into(),
        }
    }

    #[test]
    fn containers_image_fulcio_rekor_signature_verifies_at_its_log_time() {
        let c = case();
        let v = verify_sig_layer(
            &layer(&c),
            &c.signature,
            &c.payload,
            &identity("mitr@redhat.com"),
            &root(),
            &VerifyOptions::default(),
        )
        .expect("verifies");
        assert_eq!(v.signing_time, Some(UnixTime::from_secs(1_674_247_893)));
        assert_eq!(v.log_entries.len(), 1);
        assert_eq!(v.log_entries[0].log_index, 11_605_770);
        assert_eq!(v.identity.expect("identity").subject, "mitr@redhat.com");
    }

    #[test]
    fn containers_image_fulcio_rekor_signature_refusals() {
        let c = case();
        let verify = |layer: &SigLayer<'_>, policy: &IdentityPolicy, payload: &[u8]| {
            verify_sig_layer(
                layer,
                &c.signature,
                payload,
                policy,
                &root(),
                &VerifyOptions::default(),
            )
        };
        // Another email, as containers/image expects.
        let err = verify(
            &layer(&c),
            &identity("this-does-not-match@example.com"),
            &c.payload,
        )
        .expect_err("other identity");
        assert!(
            matches!(err, BundleError::Policy(PolicyMismatch::Subject { .. })),
            "{err}"
        );
        // No log entry: refused unless explicitly accepted.
        let unlogged = SigLayer {
            rekor_bundle: None,
            ..layer(&c)
        };
        let err =
            verify(&unlogged, &identity("mitr@redhat.com"), &c.payload).expect_err("no log entry");
        assert!(matches!(err, BundleError::NoLogEntry), "{err}");
        // A garbled SET.
        let garbled = c.bundle.replacen("MEUCIQ", "MEUCIR", 1);
        let err = verify(
            &SigLayer {
                rekor_bundle: Some(&garbled),
                ..layer(&c)
            },
            &identity("mitr@redhat.com"),
            &c.payload,
        )
        .expect_err("bad SET");
        assert_eq!(err.phase(), crate::Phase::Tlog, "{err}");
        // The entry logs another payload than the one given.
        let mut other = c.payload.clone();
        other.push(b'\n');
        let err = verify(&layer(&c), &identity("mitr@redhat.com"), &other).expect_err("payload");
        assert!(matches!(err, BundleError::Signature { .. }), "{err}");
    }

    /// cosign 2.5's own keyless layer with a Rekor entry and an RFC 3161 timestamp, made
    /// against the test Sigstore stand-in (tests/fixtures/sigstore-standin).
    #[test]
    fn cosign_layer_with_log_entry_and_timestamp_verifies_at_both_times() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/sigstore-standin");
        let read = |name: &str| std::fs::read(dir.join(name)).expect("fixture");
        let manifest: serde_json::Value =
            serde_json::from_slice(&read("cosign-keyless.sig-manifest.json")).expect("json");
        let annotations: BTreeMap<String, String> =
            serde_json::from_value(manifest["layers"][0]["annotations"].clone()).expect("map");
        let payload = read("cosign-keyless.sig-layer.json");
        let root = TrustedRoot::from_json(&read("trusted_root.json")).expect("root");
        let layer = SigLayer::from_annotations(&annotations).expect("keyless");
        let signature =
            b64::decode(&annotations["dev.cosignproject.cosign/signature"]).expect("b64");
        let v = verify_sig_layer(
            &layer,
            &signature,
            &payload,
            &IdentityPolicy::AnyCertificate,
            &root,
            &VerifyOptions::default(),
        )
        .expect("verifies");
        assert_eq!(v.identity.expect("identity").subject, "alice@example.com");
        assert_eq!(v.verified_times.len(), 2, "{:?}", v.verified_times);
        // Under the production root nothing of it is trusted.
        let err = verify_sig_layer(
            &layer,
            &signature,
            &payload,
            &IdentityPolicy::AnyCertificate,
            &super::tests::root(),
            &VerifyOptions::default(),
        )
        .expect_err("other root");
        assert_eq!(err.phase(), crate::Phase::Tlog, "{err}");
    }

    #[test]
    fn an_unlogged_certificate_is_checked_at_the_time_given() {
        let c = case();
        let unlogged = SigLayer {
            rekor_bundle: None,
            ..layer(&c)
        };
        let at = |secs| VerifyOptions {
            unlogged_certificates_at: Some(UnixTime::from_secs(secs)),
            ..VerifyOptions::default()
        };
        // Inside the ten minutes the certificate was valid: accepted when asked for.
        let v = verify_sig_layer(
            &unlogged,
            &c.signature,
            &c.payload,
            &identity("mitr@redhat.com"),
            &root(),
            &at(1_674_247_893),
        )
        .expect("opt-in, inside validity");
        assert_eq!(v.signing_time, None);
        assert!(v.log_entries.is_empty());
        // Today the certificate has long expired.
        let err = verify_sig_layer(
            &unlogged,
            &c.signature,
            &c.payload,
            &identity("mitr@redhat.com"),
            &root(),
            &at(1_800_000_000),
        )
        .expect_err("expired now");
        assert_eq!(err.phase(), crate::Phase::Certificate, "{err}");
    }

    /// A `.sig` layer's hashedrekord entry, moved onto an `.att` layer, is not an
    /// attestation entry: refused before anything else is checked.
    #[test]
    fn an_att_layer_with_a_signature_entry_is_refused() {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/sigstore-standin");
        let read = |name: &str| std::fs::read(dir.join(name)).expect("fixture");
        let manifest: serde_json::Value =
            serde_json::from_slice(&read("cosign-keyless.sig-manifest.json")).expect("json");
        let annotations: BTreeMap<String, String> =
            serde_json::from_value(manifest["layers"][0]["annotations"].clone()).expect("map");
        let root = TrustedRoot::from_json(&read("trusted_root.json")).expect("root");
        let layer = SigLayer::from_annotations(&annotations).expect("keyless");
        let signature =
            b64::decode(&annotations["dev.cosignproject.cosign/signature"]).expect("b64");
        let payload = read("cosign-keyless.sig-layer.json");
        let envelope = serde_json::json!({
            "payloadType": crate::IN_TOTO_PAYLOAD_TYPE,
            "payload": STANDARD.encode(&payload),
            "signatures": [{"keyid": "", "sig": STANDARD.encode(&signature)}],
        });
        let err = verify_att_layer(
            &layer,
            envelope.to_string().as_bytes(),
            &Artifact::Digest {
                algorithm: HashAlgorithm::Sha256,
                digest: vec![0; 32],
            },
            &IdentityPolicy::AnyCertificate,
            &root,
            &VerifyOptions::default(),
        )
        .expect_err("hashedrekord");
        assert_eq!(err.phase(), crate::Phase::Tlog, "{err}");
        assert!(
            err.to_string()
                .contains("hashedrekord 0.0.1, not an attestation entry"),
            "{err}"
        );
    }
}
