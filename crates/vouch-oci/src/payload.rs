//! The "simple signing" payload cosign signs: which image digest, under which repository name.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::reference::Digest;

/// The `critical.type` value of every cosign image signature.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";
/// Payloads are small; anything larger is refused before parsing.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Larger than [`MAX_PAYLOAD_BYTES`].
    #[error("payload is {0} bytes, more than the {MAX_PAYLOAD_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not JSON, or not the simple-signing shape (includes duplicate and unknown keys).
    #[error("payload is not a simple-signing document: {0}")]
    Malformed(String),
    /// `critical.type` is not the cosign image-signature type.
    #[error("payload type is {0:?}, not {COSIGN_SIGNATURE_TYPE:?}")]
    WrongType(String),
    /// `critical.image.docker-manifest-digest` is not a sha256 digest.
    #[error("payload digest {0:?} is not a sha256 digest")]
    BadDigest(String),
}

/// A parsed, shape-checked payload. Its claims still need checking against the image.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// `critical.identity.docker-reference`.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`.
    pub digest: Digest,
    /// `optional`: signed annotations (cosign's `-a KEY=VALUE`), absent when null.
    pub optional: BTreeMap<String, serde_json::Value>,
}

impl Payload {
    /// The string value of a signed annotation, if present and a string.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.optional.get(key).and_then(|v| v.as_str())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    critical: Critical,
    #[serde(default, deserialize_with = "unique_optional")]
    optional: Option<UniqueMap>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// A JSON object whose keys must be unique: a duplicate could show one value to us
/// and another to a peer that keeps the first.
#[derive(Serialize)]
#[serde(transparent)]
struct UniqueMap(BTreeMap<String, serde_json::Value>);

fn unique_optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UniqueMap>, D::Error> {
    Option::<UniqueMap>::deserialize(d)
}

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct UniqueVisitor;
        impl<'de> Visitor<'de> for UniqueVisitor {
            type Value = UniqueMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueMap, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate key {key:?} in optional"
                        )));
                    }
                    out.insert(key, value);
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(UniqueVisitor)
    }
}

/// The exact bytes cosign would sign for this image: compact JSON in cosign's key order,
/// `optional` as a key-sorted object or `null`.
pub fn build(
    docker_reference: &str,
    digest: &Digest,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let wire = Wire {
        critical: Critical {
            identity: Identity {
                docker_reference: docker_reference.to_string(),
            },
            image: Image {
                docker_manifest_digest: digest.to_string(),
            },
            kind: COSIGN_SIGNATURE_TYPE.to_string(),
        },
        optional: (!annotations.is_empty()).then(|| {
            UniqueMap(
                annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            )
        }),
    };
    // Serializing plain structs and string maps cannot fail.
    serde_json::to_vec(&wire).unwrap_or_default()
}

/// Parses and shape-checks a payload. Strict: unknown or duplicate keys are refused.
pub fn parse(bytes: &[u8]) -> Result<Payload, PayloadError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(PayloadError::TooLarge(bytes.len()));
    }
    let wire: Wire =
        serde_json::from_slice(bytes).map_err(|e| PayloadError::Malformed(e.to_string()))?;
    if wire.critical.kind != COSIGN_SIGNATURE_TYPE {
        return Err(PayloadError::WrongType(wire.critical.kind));
    }
    let digest = wire
        .critical
        .image
        .docker_manifest_digest
        .parse()
        .map_err(|_| PayloadError::BadDigest(wire.critical.image.docker_manifest_digest.clone()))?;
    Ok(Payload {
        docker_reference: wire.critical.identity.docker_reference,
        digest,
        optional: wire.optional.map(|m| m.0).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
            .parse()
            .expect("digest")
    }

    #[test]
    fn builds_cosign_bytes() {
        let bytes = build("127.0.0.1:5000/app", &digest(), &BTreeMap::new());
        assert_eq!(
            String::from_utf8(bytes).expect("utf8"),
            r#"{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/app"},"image":{"docker-manifest-digest":"sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"},"type":"cosign container image signature"},"optional":null}"#
        );
        let mut ann = BTreeMap::new();
        ann.insert("z".to_string(), "1".to_string());
        ann.insert("a".to_string(), "2".to_string());
        let bytes = build("r", &digest(), &ann);
        assert!(
            String::from_utf8(bytes)
                .expect("utf8")
                .ends_with(r#""optional":{"a":"2","z":"1"}}"#)
        );
    }

    #[test]
    fn roundtrip() {
        let mut ann = BTreeMap::new();
        ann.insert("env".to_string(), "prod".to_string());
        let p = parse(&build("r/x", &digest(), &ann)).expect("parse");
        assert_eq!(p.docker_reference, "r/x");
        assert_eq!(p.digest, digest());
        assert_eq!(p.annotation("env"), Some("prod"));
    }

    #[test]
    fn parses_shared_vector() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/containers-image/derived-simple-signing/cosign-key-valid/payload.json"
        );
        let bytes = std::fs::read(path).expect("vector present");
        let p = parse(&bytes).expect("parse");
        assert_eq!(
            p.docker_reference,
            "192.168.64.2:5000/cosign-signed-single-sample"
        );
        assert_eq!(p.digest, digest());
    }

    #[test]
    fn rejects_unacceptable_payloads() {
        let cases: &[&[u8]] = &[
            b"&",
            b"{}",
            b"null",
            br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"},"optional":null}"#,
            br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"},"type":"atomic container signature"},"optional":null}"#,
            br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"},"type":"cosign container image signature","extra":1},"optional":null}"#,
            br#"{"critical":{"identity":{"docker-reference":"r"},"identity":{"docker-reference":"s"},"image":{"docker-manifest-digest":"sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"},"type":"cosign container image signature"},"optional":null}"#,
            br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"},"type":"cosign container image signature"},"optional":{"env":"dev","env":"prod"}}"#,
        ];
        for case in cases {
            assert!(
                parse(case).is_err(),
                "{} must be rejected",
                String::from_utf8_lossy(case)
            );
        }
        assert!(matches!(
            parse(&vec![b' '; MAX_PAYLOAD_BYTES + 1]),
            Err(PayloadError::TooLarge(_))
        ));
    }
}
