//! vouch sign and verify against a real docker-registry on loopback.

use vouch_e2e::{Registry, Run, TestImage, TestIndex, keygen, sign, verify, vouch};

fn keys(
    n: usize,
) -> (
    tempfile::TempDir,
    Vec<(std::path::PathBuf, std::path::PathBuf)>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pairs = (0..n)
        .map(|i| {
            let alg = if i % 2 == 0 { "ecdsa-p256" } else { "ed25519" };
            keygen(dir.path(), &format!("k{i}"), alg)
        })
        .collect();
    (dir, pairs)
}

#[test]
fn sign_then_verify_by_tag_reports_the_digest() {
    let reg = Registry::start();
    let img = TestImage::new("sign-verify");
    img.push(&reg, "app/web", "v1");
    let (_d, k) = keys(1);
    let tagged = format!("{}:v1", reg.image("app/web"));

    let out = sign(&tagged, &k[0].0, &[]).expect_code(0);
    let pinned = format!("{}@{}", reg.image("app/web"), img.digest());
    assert_eq!(
        out.stdout.trim(),
        pinned,
        "sign prints the signed repo@digest"
    );
    assert_eq!(reg.signature_count("app/web", img.digest()), 1);

    let out = verify(&tagged, &[&k[0].1], &[]).expect_code(0);
    assert!(
        out.stdout.starts_with(&format!("VERIFIED {pinned}")),
        "{}",
        out.stdout
    );

    let out = verify(&tagged, &[&k[0].1], &["--output", "json"]).expect_code(0);
    let json = out.json();
    let image = &json["images"][0];
    assert_eq!(image["decision"], "verified");
    assert_eq!(image["digest"], img.digest());
    assert_eq!(image["pinned"], pinned);
    assert_eq!(image["signatures"][0]["verdict"], "verified");
}

#[test]
fn three_keys_one_after_another_leave_three_signatures() {
    let reg = Registry::start();
    let img = TestImage::new("three-keys");
    img.push(&reg, "app", "v1");
    let (_d, k) = keys(3);
    let reference = format!("{}@{}", reg.image("app"), img.digest());
    for (key, _) in &k {
        sign(&reference, key, &[]).expect_code(0);
    }
    assert_eq!(reg.signature_count("app", img.digest()), 3);
    // Each key's signature is found and verifies on its own.
    for (_, public) in &k {
        verify(&reference, &[public.as_path()], &[]).expect_code(0);
    }
    let out = verify(
        &reference,
        &[k[0].1.as_path(), k[1].1.as_path(), k[2].1.as_path()],
        &["--output", "json"],
    )
    .expect_code(0);
    let sigs = out.json()["images"][0]["signatures"].clone();
    let verified = sigs
        .as_array()
        .expect("array")
        .iter()
        .filter(|s| s["verdict"] == "verified")
        .count();
    assert_eq!(verified, 3);
}

#[test]
fn signing_twice_with_one_key_adds_nothing() {
    let reg = Registry::start();
    let img = TestImage::new("twice");
    img.push(&reg, "app", "v1");
    let (_d, k) = keys(1);
    let reference = format!("{}:v1", reg.image("app"));
    sign(&reference, &k[0].0, &[]).expect_code(0);
    let out = sign(&reference, &k[0].0, &[]).expect_code(0);
    assert!(out.stdout.contains("already signed"), "{}", out.stdout);
    assert_eq!(reg.signature_count("app", img.digest()), 1);
}

#[test]
fn signature_moved_to_another_image_is_refused() {
    let reg = Registry::start();
    let a = TestImage::new("image A");
    let b = TestImage::new("image B");
    a.push(&reg, "app", "a");
    b.push(&reg, "app", "b");
    let (_d, k) = keys(1);
    sign(&format!("{}:a", reg.image("app")), &k[0].0, &[]).expect_code(0);
    // Copy A's .sig manifest onto B's .sig tag (its blobs are already in the repo).
    let sig_a = reg
        .get_manifest("app", &format!("{}.sig", a.digest().replace(':', "-")))
        .expect("A is signed");
    reg.push_manifest(
        "app",
        &format!("{}.sig", b.digest().replace(':', "-")),
        "application/vnd.oci.image.manifest.v1+json",
        &sig_a,
    );
    let out = verify(&format!("{}:b", reg.image("app")), &[&k[0].1], &[]).expect_code(1);
    assert!(out.stdout.starts_with("REFUSED"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("payload signs {}", a.digest()))
            && out.stdout.contains("a signature of another image"),
        "{}",
        out.stdout
    );
}

#[test]
fn signature_naming_another_repository_is_refused() {
    let reg = Registry::start();
    let img = TestImage::new("other-repo");
    img.push(&reg, "app", "v1");
    let (_d, k) = keys(1);
    let reference = format!("{}:v1", reg.image("app"));
    sign(
        &reference,
        &k[0].0,
        &["--identity", "registry.example.com/elsewhere"],
    )
    .expect_code(0);
    let out = verify(&reference, &[&k[0].1], &[]).expect_code(1);
    assert!(
        out.stdout
            .contains("payload names repository \"registry.example.com/elsewhere\"")
            && out.stdout.contains("signed for another repository"),
        "{}",
        out.stdout
    );
    // The same signature passes when the verifier expects that identity.
    verify(
        &reference,
        &[&k[0].1],
        &["--identity", "registry.example.com/elsewhere"],
    )
    .expect_code(0);
}

#[test]
fn flipped_payload_byte_is_refused() {
    let reg = Registry::start();
    let img = TestImage::new("flipped");
    img.push(&reg, "app", "v1");
    let (_d, k) = keys(1);
    let reference = format!("{}:v1", reg.image("app"));
    sign(&reference, &k[0].0, &[]).expect_code(0);

    // Rewrite the signature layer with one byte of its payload changed, keeping the
    // original signature annotation: a tampered payload, re-uploaded consistently.
    let mut manifest = reg.signature_manifest("app", img.digest()).expect("signed");
    let layer_digest = manifest["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let mut payload = reg.get_blob("app", &layer_digest);
    let at = payload.len() / 2;
    payload[at] ^= 0x01;
    let tampered = vouch_e2e::image::Blob::new(payload);
    reg.push_blob("app", &tampered);
    manifest["layers"][0]["digest"] = tampered.digest.clone().into();
    manifest["layers"][0]["size"] = tampered.bytes.len().into();
    reg.push_manifest(
        "app",
        &format!("{}.sig", img.digest().replace(':', "-")),
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    let out = verify(&reference, &[&k[0].1], &[]).expect_code(1);
    assert!(
        out.stdout.contains("signature does not verify under key")
            && out.stdout.contains("the payload was altered"),
        "{}",
        out.stdout
    );
}

#[test]
fn unsigned_image_and_wrong_key_are_refused() {
    let reg = Registry::start();
    let img = TestImage::new("unsigned");
    img.push(&reg, "app", "v1");
    let (_d, k) = keys(2);
    let reference = format!("{}:v1", reg.image("app"));
    let out = verify(&reference, &[&k[0].1], &[]).expect_code(1);
    assert!(out.stdout.contains("no signatures"), "{}", out.stdout);

    sign(&reference, &k[0].0, &[]).expect_code(0);
    let out = verify(&reference, &[&k[1].1], &[]).expect_code(1);
    assert!(
        out.stdout.contains("signature does not verify"),
        "{}",
        out.stdout
    );
}

#[test]
fn required_annotations() {
    let reg = Registry::start();
    let img = TestImage::new("annotated");
    img.push(&reg, "app", "v1");
    let (_d, k) = keys(1);
    let reference = format!("{}:v1", reg.image("app"));
    sign(
        &reference,
        &k[0].0,
        &["-a", "env=staging", "-a", "team=web"],
    )
    .expect_code(0);
    verify(&reference, &[&k[0].1], &["-a", "env=staging"]).expect_code(0);
    let out = verify(&reference, &[&k[0].1], &["-a", "env=prod"]).expect_code(1);
    assert!(
        out.stdout.contains("required annotations env=prod"),
        "{}",
        out.stdout
    );
}

#[test]
fn recursive_signs_index_and_every_platform() {
    let reg = Registry::start();
    let index = TestIndex::new("multi");
    index.push(&reg, "multi", "v1");
    let (_d, k) = keys(1);
    let out = sign(
        &format!("{}:v1", reg.image("multi")),
        &k[0].0,
        &["--recursive"],
    )
    .expect_code(0);
    assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);
    assert_eq!(reg.signature_count("multi", index.digest()), 1);
    for (_, child) in &index.children {
        assert_eq!(reg.signature_count("multi", child.digest()), 1);
        verify(
            &format!("{}@{}", reg.image("multi"), child.digest()),
            &[&k[0].1],
            &[],
        )
        .expect_code(0);
    }
    // Without --recursive only the index is signed.
    let other = TestIndex::new("multi-2");
    other.push(&reg, "multi", "v2");
    sign(&format!("{}:v2", reg.image("multi")), &k[0].0, &[]).expect_code(0);
    assert_eq!(
        reg.signature_count("multi", other.children[0].1.digest()),
        0
    );
}

#[test]
fn unreachable_registry_exits_3() {
    let reg = Registry::start();
    let host = reg.host.clone();
    drop(reg);
    let (_d, k) = keys(1);
    let out = verify(&format!("{host}/app:v1"), &[&k[0].1], &[]).expect_code(3);
    assert!(
        out.stdout.contains("ERROR") && out.stdout.contains(&host),
        "{}",
        out.all()
    );
    let out = sign(&format!("{host}/app:v1"), &k[0].0, &[]).expect_code(3);
    assert!(out.stderr.contains(&host), "{}", out.stderr);
}

#[test]
fn plain_http_needs_explicit_permission() {
    let reg = Registry::start();
    TestImage::new("http").push(&reg, "app", "v1");
    let (_d, k) = keys(1);
    let out = Run::of(
        vouch()
            .args(["verify", &format!("{}:v1", reg.image("app")), "--key"])
            .arg(&k[0].1),
    )
    .expect_code(3);
    assert!(
        out.stdout.contains("--allow-insecure-registry"),
        "{}",
        out.all()
    );
    // The environment variable works as the flag does.
    Run::of(
        vouch()
            .args(["verify", &format!("{}:v1", reg.image("app")), "--key"])
            .arg(&k[0].1)
            .env("VOUCH_ALLOW_INSECURE_REGISTRY", "1"),
    )
    .expect_code(1);
}

#[test]
fn missing_image_is_reported_per_image() {
    let reg = Registry::start();
    let good = TestImage::new("present");
    good.push(&reg, "app", "v1");
    let (_d, k) = keys(1);
    sign(&format!("{}:v1", reg.image("app")), &k[0].0, &[]).expect_code(0);
    let out = verify(&format!("{}:v1", reg.image("app")), &[&k[0].1], &[]);
    assert_eq!(out.code, 0);
    let mut cmd = vouch();
    cmd.args([
        "--allow-insecure-registry",
        "verify",
        &format!("{}:v1", reg.image("app")),
        &format!("{}:nope", reg.image("app")),
        "--key",
    ])
    .arg(&k[0].1);
    let out = Run::of(&mut cmd).expect_code(1);
    assert!(out.stdout.contains("VERIFIED"), "{}", out.stdout);
    assert!(
        out.stdout.contains(":nope") && out.stdout.contains("not found"),
        "{}",
        out.stdout
    );
}
