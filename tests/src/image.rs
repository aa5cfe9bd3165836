//! Test images built byte by byte (there is no Docker daemon): a one-file tar layer, an
//! OCI config and manifest, and multi-platform indexes.

use std::path::Path;

use sha2::Digest as _;

use crate::registry::Registry;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Content and its digest.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `sha256:<hex>`.
    pub digest: String,
}

impl Blob {
    /// Wraps bytes.
    pub fn new(bytes: Vec<u8>) -> Blob {
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
        Blob { bytes, digest }
    }
}

/// A single-platform image.
#[derive(Debug, Clone)]
pub struct TestImage {
    /// The tar layer.
    pub layer: Blob,
    /// The config.
    pub config: Blob,
    /// The manifest.
    pub manifest: Blob,
}

/// A tar archive holding one file, as a real layer would.
fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let s = format!("{:0width$o}\0", value, width = field.len() - 1);
        field.copy_from_slice(s.as_bytes());
    };
    octal(&mut header[100..108], 0o644);
    octal(&mut header[108..116], 0);
    octal(&mut header[116..124], 0);
    octal(&mut header[124..136], content.len() as u64);
    octal(&mut header[136..148], 0);
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(s.as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

impl TestImage {
    /// An image whose single file holds `content` (distinct content, distinct digest).
    pub fn new(content: &str) -> TestImage {
        TestImage::for_platform(content, "amd64", None)
    }

    /// An image for `linux/<arch>[/<variant>]`.
    pub fn for_platform(content: &str, arch: &str, variant: Option<&str>) -> TestImage {
        let layer = Blob::new(tar_one_file("hello.txt", content.as_bytes()));
        let mut config = serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        });
        if let Some(v) = variant {
            config["variant"] = v.into();
        }
        let config = Blob::new(serde_json::to_vec(&config).expect("config JSON"));
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.bytes.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest, "size": layer.bytes.len()}],
        });
        let manifest = Blob::new(serde_json::to_vec(&manifest).expect("manifest JSON"));
        TestImage {
            layer,
            config,
            manifest,
        }
    }

    /// The manifest digest.
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }

    /// Pushes the image to `registry` as `repo:tag`.
    pub fn push(&self, registry: &Registry, repo: &str, tag: &str) {
        registry.push_blob(repo, &self.layer);
        registry.push_blob(repo, &self.config);
        registry.push_manifest(repo, tag, OCI_MANIFEST, &self.manifest.bytes);
    }

    /// Writes the image into an OCI layout at `dir`, tagged `tag` (None: untagged).
    pub fn write_layout(&self, dir: &Path, tag: Option<&str>) {
        for blob in [&self.layer, &self.config, &self.manifest] {
            write_blob(dir, blob);
        }
        add_to_index(dir, OCI_MANIFEST, &self.manifest, tag);
    }
}

/// A multi-platform image index.
#[derive(Debug, Clone)]
pub struct TestIndex {
    /// The platform images.
    pub children: Vec<(String, TestImage)>,
    /// The index.
    pub index: Blob,
}

impl TestIndex {
    /// An index over linux/amd64 and linux/arm64/v8 images derived from `content`.
    pub fn new(content: &str) -> TestIndex {
        let children = vec![
            (
                "linux/amd64".to_string(),
                TestImage::for_platform(&format!("{content} amd64"), "amd64", None),
            ),
            (
                "linux/arm64/v8".to_string(),
                TestImage::for_platform(&format!("{content} arm64"), "arm64", Some("v8")),
            ),
        ];
        let manifests: Vec<serde_json::Value> = children
            .iter()
            .map(|(platform, img)| {
                let mut parts = platform.split('/');
                let os = parts.next().unwrap_or_default();
                let arch = parts.next().unwrap_or_default();
                let mut p = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = parts.next() {
                    p["variant"] = v.into();
                }
                serde_json::json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": img.manifest.digest,
                    "size": img.manifest.bytes.len(),
                    "platform": p,
                })
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        });
        TestIndex {
            children,
            index: Blob::new(serde_json::to_vec(&index).expect("index JSON")),
        }
    }

    /// The index digest.
    pub fn digest(&self) -> &str {
        &self.index.digest
    }

    /// Pushes every child by digest and the index as `repo:tag`.
    pub fn push(&self, registry: &Registry, repo: &str, tag: &str) {
        for (_, child) in &self.children {
            registry.push_blob(repo, &child.layer);
            registry.push_blob(repo, &child.config);
            registry.push_manifest(repo, child.digest(), OCI_MANIFEST, &child.manifest.bytes);
        }
        registry.push_manifest(repo, tag, OCI_INDEX, &self.index.bytes);
    }
}

/// Creates an empty OCI layout at `dir` if there is none.
pub fn init_layout(dir: &Path) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dirs");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    if !dir.join("index.json").exists() {
        std::fs::write(
            dir.join("index.json"),
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
        )
        .expect("index.json");
    }
}

fn write_blob(dir: &Path, blob: &Blob) {
    init_layout(dir);
    let hex = blob.digest.trim_start_matches("sha256:");
    std::fs::write(dir.join("blobs/sha256").join(hex), &blob.bytes).expect("write blob");
}

fn add_to_index(dir: &Path, media_type: &str, manifest: &Blob, tag: Option<&str>) {
    let path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read index.json"))
            .expect("index JSON");
    let mut entry = serde_json::json!({
        "mediaType": media_type,
        "digest": manifest.digest,
        "size": manifest.bytes.len(),
    });
    if let Some(t) = tag {
        entry["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": t});
    }
    index["manifests"]
        .as_array_mut()
        .expect("manifests array")
        .push(entry);
    std::fs::write(&path, serde_json::to_vec(&index).expect("index JSON"))
        .expect("write index.json");
}
