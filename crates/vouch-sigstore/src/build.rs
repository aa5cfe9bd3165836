//! Building the bundles `vouch sign --format bundle` writes: a DSSE envelope around an
//! in-toto statement for the image digest (cosign v3's image signature), signed with a key,
//! with no transparency-log entry and no timestamp.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use vouch_oci::oci::{BUNDLE_V03_MEDIA_TYPE, SIGN_PREDICATE_TYPE};

use super::dsse::{IN_TOTO_PAYLOAD_TYPE, pae};
use vouch_keys::PrivateKey;

const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

#[derive(Serialize)]
struct Statement<'a> {
    #[serde(rename = "_type")]
    statement_type: &'a str,
    subject: [Subject<'a>; 1],
    #[serde(rename = "predicateType")]
    predicate_type: &'a str,
}

#[derive(Serialize)]
struct Subject<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    digest: BTreeMap<&'a str, &'a str>,
    annotations: &'a BTreeMap<String, String>,
}

/// The in-toto statement of an image signature: the one subject is the image manifest
/// digest, named `name` (the repository, as a simple-signing payload's docker-reference;
/// cosign v3 names none), with the signed annotations; predicate type
/// [`SIGN_PREDICATE_TYPE`] and no predicate.
pub fn image_statement(
    digest_hex: &str,
    name: Option<&str>,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let statement = Statement {
        statement_type: STATEMENT_V1,
        subject: [Subject {
            name,
            digest: BTreeMap::from([("sha256", digest_hex)]),
            annotations,
        }],
        predicate_type: SIGN_PREDICATE_TYPE,
    };
    serde_json::to_vec(&statement).unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bundle<'a> {
    media_type: &'a str,
    verification_material: Material,
    dsse_envelope: Envelope<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    public_key: Hint,
}

#[derive(Serialize)]
struct Hint {
    hint: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    payload: String,
    payload_type: &'a str,
    signatures: [Signature; 1],
}

#[derive(Serialize)]
struct Signature {
    sig: String,
}

/// Signs `statement` (DSSE pre-authentication encoding) and wraps it in a v0.3 bundle whose
/// verification material is the key's hint: the base64 SHA-256 of its SPKI DER, as cosign
/// writes it (the same hash as vouch's hex key id). No log entry, no timestamp.
pub fn key_signed_bundle(key: &PrivateKey, statement: &[u8]) -> Vec<u8> {
    let signature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, statement));
    let key_hash = hex::decode(key.public_key().key_id()).unwrap_or_default();
    let bundle = Bundle {
        media_type: BUNDLE_V03_MEDIA_TYPE,
        verification_material: Material {
            public_key: Hint {
                hint: STANDARD.encode(key_hash),
            },
        },
        dsse_envelope: Envelope {
            payload: STANDARD.encode(statement),
            payload_type: IN_TOTO_PAYLOAD_TYPE,
            signatures: [Signature {
                sig: STANDARD.encode(signature),
            }],
        },
    };
    serde_json::to_vec(&bundle).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Artifact, BundleError, IdentityPolicy, TrustedRoot, VerifyOptions, verify_bundle,
        verify_bundle_with,
    };
    use vouch_keys::Algorithm;

    #[test]
    fn untimed_key_bundles_verify_only_when_allowed() {
        let root =
            TrustedRoot::from_json(crate::roots::PRODUCTION_TRUSTED_ROOT.as_bytes()).expect("root");
        let digest = "a".repeat(64);
        let annotations = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        for algorithm in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let key = PrivateKey::generate(algorithm);
            let statement = image_statement(&digest, Some("r.example/app"), &annotations);
            let bundle = key_signed_bundle(&key, &statement);
            let artifact = Artifact::from_sha256_ref(&format!("sha256:{digest}")).expect("a");
            let policy = IdentityPolicy::Key(key.public_key());
            // The conformance behaviour: a bundle needs a verified time.
            let err = verify_bundle(&bundle, &artifact, &policy, &root).expect_err("untimed");
            assert!(matches!(err, BundleError::NoLogEntry), "{err}");
            let allow = VerifyOptions {
                allow_untimed_key_signatures: true,
                ..VerifyOptions::default()
            };
            let v = verify_bundle_with(&bundle, &artifact, &policy, &root, &allow).expect("ok");
            assert_eq!(v.signing_time, None);
            assert_eq!(v.key_id, Some(key.public_key().key_id()));
            let statement = v.statement.expect("statement");
            assert_eq!(statement.predicate_type, SIGN_PREDICATE_TYPE);
            assert_eq!(statement.subject[0].name, "r.example/app");
            assert_eq!(statement.subject[0].annotations["env"], "prod");
            // Another image, another key, a tampered payload: all refused.
            let other =
                Artifact::from_sha256_ref(&format!("sha256:{}", "b".repeat(64))).expect("b");
            assert!(verify_bundle_with(&bundle, &other, &policy, &root, &allow).is_err());
            let stranger = IdentityPolicy::Key(PrivateKey::generate(algorithm).public_key());
            assert!(verify_bundle_with(&bundle, &artifact, &stranger, &root, &allow).is_err());
            let mut v: serde_json::Value = serde_json::from_slice(&bundle).expect("json");
            let forged = image_statement(&"b".repeat(64), None, &BTreeMap::new());
            v["dsseEnvelope"]["payload"] = STANDARD.encode(forged).into();
            let forged = serde_json::to_vec(&v).expect("json");
            assert!(verify_bundle_with(&forged, &other, &policy, &root, &allow).is_err());
            // Never for certificates: `AnyCertificate` refuses a key-signed bundle.
            let err = verify_bundle_with(
                &bundle,
                &artifact,
                &IdentityPolicy::AnyCertificate,
                &root,
                &allow,
            )
            .expect_err("key, not certificate");
            assert!(matches!(err, BundleError::Policy(_)), "{err}");
        }
    }
}
