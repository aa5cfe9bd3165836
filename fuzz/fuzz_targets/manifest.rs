//! Manifests and indexes from a registry or layout, with and without a transport content
//! type, and the same bytes as an existing `.sig` manifest that a signature is merged into.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_oci::oci::{self, Limits, Manifest, SignatureLayer};

const CONTENT_TYPES: [Option<&str>; 7] = [
    None,
    Some(oci::OCI_MANIFEST),
    Some(oci::OCI_INDEX),
    Some(oci::DOCKER_MANIFEST),
    Some(oci::DOCKER_MANIFEST_LIST),
    Some("application/json; charset=utf-8"),
    Some("application/vnd.unknown+json"),
];

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    for content_type in CONTENT_TYPES {
        if let Ok(manifest) = oci::parse_manifest(data, content_type, &limits) {
            match manifest {
                Manifest::Image(m) => {
                    let _ = m.config.sha256();
                    for layer in &m.layers {
                        let _ = layer.sha256();
                    }
                }
                Manifest::Index(i) => {
                    assert!(i.manifests.len() <= limits.max_index_children);
                    for child in &i.manifests {
                        let _ = child.sha256();
                        if let Some(p) = &child.platform {
                            let _ = p.to_string();
                        }
                    }
                }
            }
        }
    }

    let layer = SignatureLayer {
        payload: b"{\"critical\":{}}".to_vec(),
        signature_b64: "c2lnbmF0dXJl".to_string(),
        annotations: Default::default(),
    };
    let Ok(Some(merged)) = oci::merge_signature_manifest(Some(data), std::slice::from_ref(&layer))
    else {
        return;
    };
    // Never fewer layers than were read, and merging the same signature again adds nothing.
    let before = layer_count(data);
    let after = layer_count(&merged.manifest);
    assert!(after > before, "merge went from {before} to {after} layers");
    let again = oci::merge_signature_manifest(Some(&merged.manifest), &[layer])
        .expect("a manifest vouch wrote merges again");
    assert!(again.is_none(), "the same signature was added twice");
});

fn layer_count(bytes: &[u8]) -> usize {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("layers").and_then(|l| l.as_array()).map(Vec::len))
        .unwrap_or(0)
}
