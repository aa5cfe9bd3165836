//! Writing the outputs: a Sigstore bundle v0.3 (a message signature or a DSSE envelope, with
//! the certificate, the log entries and the RFC 3161 timestamps), and the annotations cosign
//! 2.x puts on a keyless `.sig` or `.att` layer.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Value, json};

use crate::fulcio::IssuedCertificate;
use crate::rekor::LogEntry;

/// The bundle media type written.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The raw signature over the layer, base64.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The Fulcio leaf, PEM.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The rest of the chain Fulcio returned, PEM.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The Rekor entry and its SET, JSON.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The RFC 3161 timestamp over the raw signature, JSON.
pub const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// The DSSE pre-authentication encoding (what a DSSE signature signs).
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    payload: String,
    payload_type: &'a str,
    signatures: [EnvelopeSignature; 1],
}

#[derive(Serialize)]
struct EnvelopeSignature {
    keyid: &'static str,
    sig: String,
}

/// The DSSE envelope, JSON (as logged and as carried in the bundle).
pub(crate) fn envelope(payload_type: &str, payload: &[u8], signature: &[u8]) -> Value {
    serde_json::to_value(Envelope {
        payload: STANDARD.encode(payload),
        payload_type,
        signatures: [EnvelopeSignature {
            keyid: "",
            sig: STANDARD.encode(signature),
        }],
    })
    .unwrap_or(Value::Null)
}

/// The verification material every bundle carries.
fn material(certificate_der: &[u8], entries: &[LogEntry], timestamps: &[Vec<u8>]) -> Value {
    let mut m = json!({
        "certificate": {"rawBytes": STANDARD.encode(certificate_der)},
        "tlogEntries": entries.iter().map(LogEntry::to_bundle_json).collect::<Vec<_>>(),
    });
    if !timestamps.is_empty() {
        m["timestampVerificationData"] = json!({
            "rfc3161Timestamps": timestamps
                .iter()
                .map(|t| json!({"signedTimestamp": STANDARD.encode(t)}))
                .collect::<Vec<_>>(),
        });
    }
    m
}

/// A v0.3 bundle with a message signature over an artifact whose SHA-256 is `digest`.
pub(crate) fn message_bundle(
    certificate_der: &[u8],
    digest: &[u8; 32],
    signature: &[u8],
    entries: &[LogEntry],
    timestamps: &[Vec<u8>],
) -> Vec<u8> {
    let bundle = json!({
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": material(certificate_der, entries, timestamps),
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
            "signature": STANDARD.encode(signature),
        },
    });
    serde_json::to_vec(&bundle).unwrap_or_default()
}

/// A v0.3 bundle with a DSSE envelope.
pub(crate) fn dsse_bundle(
    certificate_der: &[u8],
    envelope: &Value,
    entries: &[LogEntry],
    timestamps: &[Vec<u8>],
) -> Vec<u8> {
    let bundle = json!({
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": material(certificate_der, entries, timestamps),
        "dsseEnvelope": envelope,
    });
    serde_json::to_vec(&bundle).unwrap_or_default()
}

#[derive(Serialize)]
struct TimestampAnnotation<'a> {
    #[serde(rename = "SignedRFC3161Timestamp")]
    signed_rfc3161_timestamp: &'a str,
}

/// The annotations of a keyless `.sig` layer, as cosign 2.x writes them.
pub(crate) fn sig_layer_annotations(
    signature: &[u8],
    certificate: &IssuedCertificate,
    entry: &LogEntry,
    timestamp: Option<&[u8]>,
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([
        (SIGNATURE_ANNOTATION.to_string(), STANDARD.encode(signature)),
        (
            CERTIFICATE_ANNOTATION.to_string(),
            certificate.leaf_pem.clone(),
        ),
        (CHAIN_ANNOTATION.to_string(), certificate.chain_pem.concat()),
        (BUNDLE_ANNOTATION.to_string(), entry.to_cosign_annotation()),
    ]);
    if let Some(t) = timestamp {
        let encoded = STANDARD.encode(t);
        a.insert(
            RFC3161_ANNOTATION.to_string(),
            serde_json::to_string(&TimestampAnnotation {
                signed_rfc3161_timestamp: &encoded,
            })
            .unwrap_or_default(),
        );
    }
    a
}

/// The annotations of a keyless `.att` layer, as cosign 2.x writes them besides the empty
/// signature annotation and the predicate type (the caller's).
pub(crate) fn att_layer_annotations(
    certificate: &IssuedCertificate,
    entry: &LogEntry,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            CERTIFICATE_ANNOTATION.to_string(),
            certificate.leaf_pem.clone(),
        ),
        (CHAIN_ANNOTATION.to_string(), certificate.chain_pem.concat()),
        (BUNDLE_ANNOTATION.to_string(), entry.to_cosign_annotation()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
    }

    #[test]
    fn bundles_carry_what_they_are_given() {
        let b: Value = serde_json::from_slice(&message_bundle(
            b"cert",
            &[1; 32],
            b"sig",
            &[],
            &[b"stamp".to_vec()],
        ))
        .expect("json");
        assert_eq!(b["mediaType"], BUNDLE_V03_MEDIA_TYPE);
        assert_eq!(
            b["verificationMaterial"]["certificate"]["rawBytes"],
            STANDARD.encode("cert")
        );
        assert_eq!(
            b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"],
            STANDARD.encode("stamp")
        );
        assert_eq!(
            b["messageSignature"]["messageDigest"]["algorithm"],
            "SHA2_256"
        );
        let d: Value =
            serde_json::from_slice(&dsse_bundle(b"cert", &envelope("t", b"p", b"s"), &[], &[]))
                .expect("json");
        assert_eq!(d["dsseEnvelope"]["payloadType"], "t");
        assert_eq!(
            d["dsseEnvelope"]["signatures"][0]["sig"],
            STANDARD.encode("s")
        );
        assert!(
            d["verificationMaterial"]
                .get("timestampVerificationData")
                .is_none()
        );
    }
}
