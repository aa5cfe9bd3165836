//! OCI and Docker manifest formats: parsing with bounds, cosign's signature manifest, and the
//! referrers index and artifact manifests of OCI 1.1.
//!
//! vouch's own rather than a crate's (oci-spec): every path that reads a manifest, index or
//! referrers list refuses duplicate annotation keys (two readers could see two signatures), and
//! merging keeps unknown fields byte for byte; the types are the few fields vouch reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::reference::Digest;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// A cosign simple-signing layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The Sigstore bundle media type vouch writes: a bundle referrer's artifact type and its
/// layer's media type.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The in-toto predicate type of a cosign v3 image signature.
pub const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Every manifest type we read; Distribution answers 404 to types not in `Accept`.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Bounds on what a registry or layout may hand us.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest manifest or index, in bytes.
    pub max_manifest_bytes: usize,
    /// Largest signature layer (payload), in bytes.
    pub max_signature_layer_bytes: usize,
    /// Most layers in a `.sig` manifest.
    pub max_signature_layers: usize,
    /// Most children in an index.
    pub max_index_children: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 4 * 1024 * 1024,
            max_signature_layer_bytes: crate::payload::MAX_PAYLOAD_BYTES,
            max_signature_layers: 1000,
            max_index_children: 1000,
        }
    }
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not valid JSON of the expected shape.
    #[error("malformed manifest: {0}")]
    Malformed(String),
    /// A media type we do not handle.
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    /// More layers or children than allowed.
    #[error("manifest lists {count} {what}, more than the limit of {limit}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// How many there were.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A descriptor's digest is not sha256.
    #[error("descriptor digest {0:?} is not a sha256 digest")]
    BadDigest(String),
}

/// An OCI content descriptor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Annotations (duplicate keys refused).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "unique_annotations"
    )]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform, in index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// Annotations whose keys must be unique: two signature annotations in one layer would show
/// one signature to a reader that keeps the last and another to one that keeps the first.
fn unique_annotations<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Unique(BTreeMap<String, String>);
    impl<'de> Deserialize<'de> for Unique {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct UniqueVisitor;
            impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
                type Value = Unique;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object of strings")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Unique, A::Error> {
                    let mut out = BTreeMap::new();
                    while let Some((key, value)) = map.next_entry::<String, String>()? {
                        if out.contains_key(&key) {
                            return Err(serde::de::Error::custom(format!(
                                "duplicate annotation {key:?}"
                            )));
                        }
                        out.insert(key, value);
                    }
                    Ok(Unique(out))
                }
            }
            d.deserialize_map(UniqueVisitor)
        }
    }
    Ok(Option::<Unique>::deserialize(d)?.map(|u| u.0))
}

impl Descriptor {
    /// The descriptor's digest, checked to be sha256.
    pub fn sha256(&self) -> Result<Digest, ManifestError> {
        self.digest
            .parse()
            .map_err(|_| ManifestError::BadDigest(self.digest.clone()))
    }
}

/// A platform in an index entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Platform {
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub architecture: String,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest (OCI or Docker schema 2), or an OCI 1.1 artifact manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// Optional in OCI manifests.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The artifact type, for artifacts (OCI 1.1).
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to, for referrers (OCI 1.1).
    #[serde(default)]
    pub subject: Option<Box<Descriptor>>,
}

/// A descriptor in a referrers index (the Referrers API's answer or the referrers tag).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerDescriptor {
    /// The referrer manifest's media type.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Its artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Its annotations (duplicate keys refused).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "unique_annotations"
    )]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A referrers index: an OCI image index whose entries are [`ReferrerDescriptor`]s.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrersIndex {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.index.v1+json`, when given.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The referrers.
    #[serde(default)]
    pub manifests: Vec<ReferrerDescriptor>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// Optional in OCI indexes.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The children.
    pub manifests: Vec<Descriptor>,
}

/// A parsed manifest of either kind.
#[derive(Debug, Clone)]
pub enum Manifest {
    /// A single-platform image.
    Image(ImageManifest),
    /// An index of per-platform manifests.
    Index(ImageIndex),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    media_type: Option<String>,
    /// Only whether it is there: building a `Value` of 100,000 children costs ~100 MiB.
    #[serde(default)]
    manifests: Option<serde::de::IgnoredAny>,
}

/// Parses a manifest, deciding its kind from its own `mediaType` (or, in OCI documents
/// without one, from its shape) and the transport's content type, which must agree.
pub fn parse_manifest(
    bytes: &[u8],
    content_type: Option<&str>,
    limits: &Limits,
) -> Result<Manifest, ManifestError> {
    let malformed = |e: serde_json::Error| ManifestError::Malformed(e.to_string());
    let probe: Probe = serde_json::from_slice(bytes).map_err(malformed)?;
    let declared = probe.media_type.as_deref();
    let transport = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "text/plain");
    if let (Some(d), Some(t)) = (declared, transport)
        && d != t
    {
        return Err(ManifestError::Malformed(format!(
            "manifest says mediaType {d:?} but was served as {t:?}"
        )));
    }
    let kind = declared
        .or(transport)
        .map(str::to_string)
        .unwrap_or_else(|| {
            if probe.manifests.is_some() {
                OCI_INDEX.to_string()
            } else {
                OCI_MANIFEST.to_string()
            }
        });
    match kind.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let m: ImageManifest = serde_json::from_slice(bytes).map_err(malformed)?;
            check_schema(m.schema_version)?;
            // Layer counts are bounded by the caller where layers are fetched (`.sig` manifests).
            Ok(Manifest::Image(m))
        }
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            let i: ImageIndex = serde_json::from_slice(bytes).map_err(malformed)?;
            check_schema(i.schema_version)?;
            if i.manifests.len() > limits.max_index_children {
                return Err(ManifestError::TooMany {
                    what: "index children",
                    count: i.manifests.len(),
                    limit: limits.max_index_children,
                });
            }
            Ok(Manifest::Index(i))
        }
        other => Err(ManifestError::UnsupportedMediaType(other.to_string())),
    }
}

fn check_schema(version: u32) -> Result<(), ManifestError> {
    if version == 2 {
        Ok(())
    } else {
        Err(ManifestError::Malformed(format!(
            "schemaVersion {version}, expected 2"
        )))
    }
}

/// A signature layer about to be added: the payload blob and its signature.
#[derive(Debug, Clone)]
pub struct SignatureLayer {
    /// The exact payload bytes that were signed (and will be pushed).
    pub payload: Vec<u8>,
    /// Base64 signature over `payload`.
    pub signature_b64: String,
    /// More layer annotations (a keyless signature's certificate, chain, log entry and
    /// timestamp); the signature annotation always comes from `signature_b64`.
    pub annotations: BTreeMap<String, String>,
}

impl SignatureLayer {
    /// The layer's descriptor in the `.sig` manifest.
    pub fn descriptor(&self) -> Descriptor {
        let mut annotations = self.annotations.clone();
        annotations.insert(SIGNATURE_ANNOTATION.to_string(), self.signature_b64.clone());
        Descriptor {
            media_type: SIMPLE_SIGNING.to_string(),
            digest: Digest::of(&self.payload).to_string(),
            size: self.payload.len() as u64,
            annotations: Some(annotations),
            platform: None,
        }
    }
}

/// A `.sig` manifest ready to push, with the config blob it references.
#[derive(Debug, Clone)]
pub struct SignatureManifest {
    /// Manifest bytes.
    pub manifest: Vec<u8>,
    /// Config blob bytes.
    pub config: Vec<u8>,
}

/// Adds `layers` to an existing `.sig` manifest (or a new one), keeping every existing
/// layer descriptor and every other field as it was. Layers already present (same digest
/// and signature) are not added twice. Returns `None` when nothing is new.
pub fn merge_signature_manifest(
    existing: Option<&[u8]>,
    layers: &[SignatureLayer],
) -> Result<Option<SignatureManifest>, ManifestError> {
    let descriptors: Vec<Descriptor> = layers.iter().map(SignatureLayer::descriptor).collect();
    merge_layers(existing, &descriptors)
}

/// Adds layer descriptors to an existing attachment manifest (`.sig` or `.att`), or a new
/// one, keeping every existing layer and field. A layer with the same digest and the same
/// signature annotation (or none) is not added twice. Returns `None` when nothing is new.
pub fn merge_layers(
    existing: Option<&[u8]>,
    descriptors: &[Descriptor],
) -> Result<Option<SignatureManifest>, ManifestError> {
    let malformed = |e: serde_json::Error| ManifestError::Malformed(e.to_string());
    let mut doc: serde_json::Value = match existing {
        Some(bytes) => serde_json::from_slice(bytes).map_err(malformed)?,
        None => serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {},
            "layers": [],
        }),
    };
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| ManifestError::Malformed("manifest is not a JSON object".into()))?;
    let mut all_layers: Vec<serde_json::Value> = match obj.get("layers") {
        Some(serde_json::Value::Array(a)) => a.clone(),
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(_) => return Err(ManifestError::Malformed("layers is not an array".into())),
    };
    let mut added = false;
    for desc in descriptors {
        let signature = desc
            .annotations
            .as_ref()
            .and_then(|a| a.get(SIGNATURE_ANNOTATION))
            .map(String::as_str);
        let duplicate = all_layers.iter().any(|l| {
            l.get("digest").and_then(|d| d.as_str()) == Some(desc.digest.as_str())
                && l.get("annotations")
                    .and_then(|a| a.get(SIGNATURE_ANNOTATION))
                    .and_then(|s| s.as_str())
                    == signature
        });
        if !duplicate {
            all_layers.push(serde_json::to_value(desc).map_err(malformed)?);
            added = true;
        }
    }
    if !added {
        return Ok(None);
    }
    let diff_ids: Vec<&str> = all_layers
        .iter()
        .filter_map(|l| l.get("digest").and_then(|d| d.as_str()))
        .collect();
    let config = signature_config(&diff_ids);
    let config_desc = Descriptor {
        media_type: OCI_CONFIG.to_string(),
        digest: Digest::of(&config).to_string(),
        size: config.len() as u64,
        annotations: None,
        platform: None,
    };
    obj.insert(
        "config".into(),
        serde_json::to_value(&config_desc).map_err(malformed)?,
    );
    obj.insert("layers".into(), serde_json::Value::Array(all_layers));
    Ok(Some(SignatureManifest {
        manifest: serde_json::to_vec(&doc).map_err(malformed)?,
        config,
    }))
}

/// The config cosign's tooling writes for a `.sig` image: one rootfs entry per layer.
fn signature_config(diff_ids: &[&str]) -> Vec<u8> {
    let history: Vec<serde_json::Value> = diff_ids
        .iter()
        .map(|_| serde_json::json!({"created": "0001-01-01T00:00:00Z"}))
        .collect();
    let config = serde_json::json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": history,
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: u8) -> SignatureLayer {
        SignatureLayer {
            payload: vec![b'{', n, b'}'],
            signature_b64: format!("sig{n}"),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn merge_appends_and_keeps_existing() {
        let first = merge_signature_manifest(None, &[layer(1)])
            .expect("merge")
            .expect("new");
        let second = merge_signature_manifest(Some(&first.manifest), &[layer(2)])
            .expect("merge")
            .expect("new");
        let m = parse_manifest(&second.manifest, None, &Limits::default()).expect("parse");
        let Manifest::Image(m) = m else {
            panic!("image manifest")
        };
        assert_eq!(m.layers.len(), 2);
        assert_eq!(m.layers[0], layer(1).descriptor());
        assert_eq!(m.layers[1], layer(2).descriptor());
        assert_eq!(m.config.digest, Digest::of(&second.config).to_string());
    }

    #[test]
    fn merge_skips_identical_layer() {
        let first = merge_signature_manifest(None, &[layer(1)])
            .expect("merge")
            .expect("new");
        assert!(
            merge_signature_manifest(Some(&first.manifest), &[layer(1)])
                .expect("merge")
                .is_none()
        );
    }

    #[test]
    fn merge_keeps_unknown_fields() {
        let existing = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[{"mediaType":"m","digest":"sha256:aa","size":3,"annotations":{"k":"v"}}],"annotations":{"keep":"me"}}"#;
        let merged = merge_signature_manifest(Some(existing), &[layer(3)])
            .expect("merge")
            .expect("new");
        let v: serde_json::Value = serde_json::from_slice(&merged.manifest).expect("json");
        assert_eq!(v["annotations"]["keep"], "me");
        assert_eq!(v["layers"][0]["annotations"]["k"], "v");
        assert_eq!(v["layers"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn parse_rejects_mismatched_and_unknown_types() {
        let limits = Limits::default();
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(matches!(
            parse_manifest(index, None, &limits),
            Ok(Manifest::Index(_))
        ));
        assert!(parse_manifest(index, Some(OCI_MANIFEST), &limits).is_err());
        assert!(
            parse_manifest(
                br#"{"schemaVersion":2,"mediaType":"text/x"}"#,
                None,
                &limits
            )
            .is_err()
        );
        assert!(parse_manifest(b"[]", None, &limits).is_err());
        assert!(
            parse_manifest(
                br#"{"schemaVersion":1,"config":{"mediaType":"x","digest":"d","size":1},"layers":[]}"#,
                None,
                &limits
            )
            .is_err()
        );
    }

    #[test]
    fn parse_refuses_duplicate_annotation_keys() {
        let limits = Limits::default();
        let manifest = |annotations: &str| {
            format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"sha256:00","size":1}},"layers":[{{"mediaType":"m","digest":"sha256:aa","size":3,"annotations":{annotations}}}]}}"#
            )
        };
        assert!(parse_manifest(manifest(r#"{"a":"1","b":"2"}"#).as_bytes(), None, &limits).is_ok());
        assert!(parse_manifest(manifest("null").as_bytes(), None, &limits).is_ok());
        let err = parse_manifest(manifest(r#"{"a":"1","a":"2"}"#).as_bytes(), None, &limits)
            .expect_err("duplicate annotation");
        assert!(err.to_string().contains("duplicate annotation"), "{err}");
    }

    #[test]
    fn referrers_paths_refuse_duplicate_annotation_keys() {
        let index = |annotations: &str| {
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"m","digest":"sha256:aa","size":3,"annotations":{annotations}}}]}}"#
            )
        };
        assert!(serde_json::from_str::<ReferrersIndex>(&index(r#"{"a":"1"}"#)).is_ok());
        let err = serde_json::from_str::<ReferrersIndex>(&index(r#"{"a":"1","a":"2"}"#))
            .expect_err("duplicate annotation");
        assert!(err.to_string().contains("duplicate annotation"), "{err}");
        let artifact = r#"{"schemaVersion":2,"artifactType":"t","config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[{"mediaType":"m","digest":"sha256:aa","size":3,"annotations":{"k":"1","k":"2"}}],"subject":{"mediaType":"x","digest":"sha256:bb","size":2}}"#;
        assert!(serde_json::from_str::<ImageManifest>(artifact).is_err());
        let ok = artifact.replace(r#","k":"2""#, "");
        let m: ImageManifest = serde_json::from_str(&ok).expect("artifact manifest");
        assert_eq!(m.artifact_type.as_deref(), Some("t"));
        assert_eq!(m.subject.map(|s| s.digest).as_deref(), Some("sha256:bb"));
    }

    #[test]
    fn parse_bounds_index_children() {
        let limits = Limits {
            max_index_children: 2,
            ..Limits::default()
        };
        let child = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:00","size":1}"#;
        let index = format!(r#"{{"schemaVersion":2,"manifests":[{child},{child},{child}]}}"#);
        assert!(matches!(
            parse_manifest(index.as_bytes(), None, &limits),
            Err(ManifestError::TooMany { count: 3, .. })
        ));
    }
}
