//! vouch sign and verify on OCI image layouts: no server involved.

use vouch_e2e::{Run, TestImage, keygen, sign, verify, vouch};

#[test]
fn layout_sign_verify_tamper() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("image");
    let img = TestImage::new("layout");
    img.write_layout(&layout, Some("v1"));
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let reference = format!("oci:{}:v1", layout.display());

    let out = sign(&reference, &key, &[]).expect_code(0);
    assert_eq!(
        out.stdout.trim(),
        format!("oci:{}@{}", layout.display(), img.digest())
    );
    // The signature lives in the same layout under cosign's tag convention.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let sig_tag = format!("{}.sig", img.digest().replace(':', "-"));
    assert!(
        index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .any(|m| m["annotations"]["org.opencontainers.image.ref.name"] == sig_tag.as_str()),
        "{index}"
    );
    verify(&reference, &[&public], &[]).expect_code(0);
    // Untagged: the layout's only image.
    verify(&format!("oci:{}", layout.display()), &[&public], &[]).expect_code(0);

    // Tamper with the image: retag v1 to a different manifest.
    let other = TestImage::new("layout, tampered");
    let idx_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&idx_path).expect("index")).expect("json");
    for m in index["manifests"].as_array_mut().expect("manifests") {
        if m["annotations"]["org.opencontainers.image.ref.name"] == "v1" {
            m["annotations"] = serde_json::json!({});
        }
    }
    std::fs::write(&idx_path, serde_json::to_vec(&index).expect("json")).expect("write");
    other.write_layout(&layout, Some("v1"));
    let out = verify(&reference, &[&public], &[]).expect_code(1);
    assert!(out.stdout.starts_with("REFUSED"), "{}", out.stdout);
    assert!(out.stdout.contains("no signatures"), "{}", out.stdout);
}

#[test]
fn layout_blob_tampering_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("image");
    let img = TestImage::new("blob-tamper");
    img.write_layout(&layout, Some("v1"));
    let (key, public) = keygen(dir.path(), "k", "ed25519");
    let reference = format!("oci:{}:v1", layout.display());
    sign(&reference, &key, &[]).expect_code(0);
    // Overwrite the manifest blob in place: its bytes no longer match its digest.
    let hex = img.digest().trim_start_matches("sha256:");
    std::fs::write(layout.join("blobs/sha256").join(hex), b"{}").expect("write");
    let out = verify(&reference, &[&public], &[]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("content digest is"), "{}", out.all());
}

#[test]
fn not_a_layout_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let out = Run::of(
        vouch()
            .args([
                "verify",
                &format!("oci:{}", dir.path().join("nope").display()),
                "--key",
            ])
            .arg(&public),
    )
    .expect_code(3);
    assert!(out.stdout.contains("no such directory"), "{}", out.all());
}
