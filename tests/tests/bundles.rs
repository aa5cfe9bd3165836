//! Sigstore bundles (cosign v3's signature format) end to end: `vouch sign --format bundle`
//! on a real registry (Distribution 2.8 has no Referrers API, so the `sha256-<hex>`
//! referrers tag) and on a layout; verify in key and policy mode; tag-based and bundle
//! signatures counted together; concurrent bundle signers; air-gapped `--output-bundle` /
//! `--bundle`; the cosign v3 vector (keyless) under keyless policies; cosign 2.5 interop.

use std::path::{Path, PathBuf};

use vouch_e2e::peers::peers;
use vouch_e2e::{
    Registry, Run, TEST_PASSWORD, TestImage, keygen, sign, sign_concurrently, vectors_dir, verify,
    vouch, workspace_root,
};

const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const GHA: &str = "https://token.actions.githubusercontent.com";

fn referrers_index(reg: &Registry, repo: &str, digest: &str) -> serde_json::Value {
    let tag = digest.replace(':', "-");
    let bytes = reg
        .get_manifest(repo, &tag)
        .unwrap_or_else(|| panic!("no referrers tag {tag}"));
    serde_json::from_slice(&bytes).expect("index JSON")
}

fn verify_policy(policy: &Path, reference: &str, extra: &[&str]) -> Run {
    Run::of(
        vouch()
            .args(["--allow-insecure-registry", "verify", "--policy"])
            .arg(policy)
            .arg(reference)
            .args(extra),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn bundle_signatures_on_a_registry_without_the_referrers_api() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let (ed_key, ed_public) = keygen(dir.path(), "ed", "ed25519");
    let (_, stranger) = keygen(dir.path(), "stranger", "ecdsa-p256");
    let img = TestImage::new("bundle on a registry");
    img.push(&reg, "app", "v1");
    let reference = format!("{}:v1", reg.image("app"));

    let out = sign(
        &reference,
        &key,
        &["--format", "bundle", "-a", "env=prod", "--output", "json"],
    )
    .expect_code(0);
    let signed = &out.json()[0];
    assert_eq!(signed["format"], "bundle");
    assert_eq!(signed["outcome"], "signed");
    // No `.sig` tag: the signature is a referrer, listed in the sha256-<hex> index.
    assert!(reg.signature_manifest("app", img.digest()).is_none());
    let index = referrers_index(&reg, "app", img.digest());
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entry = &index["manifests"][0];
    assert_eq!(entry["artifactType"], BUNDLE_TYPE);
    assert_eq!(entry["digest"], signed["referrer"]);
    assert_eq!(
        entry["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    assert_eq!(
        entry["annotations"]["dev.sigstore.bundle.content"],
        "dsse-envelope"
    );
    // The artifact manifest: OCI 1.1, subject = the image, empty config, one bundle layer.
    let manifest: serde_json::Value = serde_json::from_slice(
        &reg.get_manifest("app", entry["digest"].as_str().expect("digest"))
            .expect("referrer manifest"),
    )
    .expect("json");
    assert_eq!(manifest["artifactType"], BUNDLE_TYPE);
    assert_eq!(manifest["subject"]["digest"], img.digest());
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], BUNDLE_TYPE);
    assert_eq!(manifest["annotations"], entry["annotations"]);
    let bundle: serde_json::Value = serde_json::from_slice(&reg.get_blob(
        "app",
        manifest["layers"][0]["digest"].as_str().expect("digest"),
    ))
    .expect("bundle JSON");
    assert_eq!(bundle["mediaType"], BUNDLE_TYPE);
    assert!(bundle["verificationMaterial"]["publicKey"]["hint"].is_string());
    assert!(bundle["verificationMaterial"].get("tlogEntries").is_none());

    // Signing again with the same key and claims adds nothing; another key adds one.
    let again = sign(&reference, &key, &["--format", "bundle", "-a", "env=prod"]).expect_code(0);
    assert!(again.stdout.contains("already signed"), "{}", again.stdout);
    sign(&reference, &ed_key, &["--format", "bundle"]).expect_code(0);
    assert_eq!(
        referrers_index(&reg, "app", img.digest())["manifests"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // Key mode: the bundle verifies; annotations are the statement subject's.
    let out = verify(
        &reference,
        &[&public],
        &["-a", "env=prod", "--output", "json"],
    )
    .expect_code(0);
    let sigs = out.json()["images"][0]["signatures"].clone();
    let ours = sigs
        .as_array()
        .expect("signatures")
        .iter()
        .find(|s| s["verdict"] == "verified")
        .expect("a verified bundle")
        .clone();
    assert_eq!(ours["format"], "bundle");
    assert_eq!(ours["annotations"]["env"], "prod");
    assert_eq!(ours["docker_reference"], reg.image("app"));
    verify(&reference, &[&ed_public], &[]).expect_code(0);
    verify(&reference, &[&ed_public], &["-a", "env=prod"]).expect_code(1);
    let out = verify(&reference, &[&stranger], &[]).expect_code(1);
    assert!(out.stdout.contains("bundle 1: rejected"), "{}", out.stdout);
    // Another repository holding the same digest: the statement names `app`, not `copy`.
    img.push(&reg, "copy", "v1");
    let copy_index = reg
        .get_manifest("app", &img.digest().replace(':', "-"))
        .expect("index");
    let copy_index: serde_json::Value = serde_json::from_slice(&copy_index).expect("json");
    for m in copy_index["manifests"].as_array().expect("manifests") {
        let d = m["digest"].as_str().expect("digest");
        let bytes = reg.get_manifest("app", d).expect("manifest");
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        for blob in [&parsed["config"], &parsed["layers"][0]] {
            let b = reg.get_blob("app", blob["digest"].as_str().expect("d"));
            reg.push_blob("copy", &vouch_e2e::image::Blob::new(b));
        }
        reg.push_manifest(
            "copy",
            d,
            "application/vnd.oci.image.manifest.v1+json",
            &bytes,
        );
    }
    reg.push_manifest(
        "copy",
        &img.digest().replace(':', "-"),
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&copy_index).expect("json"),
    );
    let copy = format!("{}@{}", reg.image("copy"), img.digest());
    let out = verify(&copy, &[&public], &[]).expect_code(1);
    assert!(
        out.stdout.contains("signed for another repository"),
        "{}",
        out.stdout
    );

    // Policy mode.
    let policy = write(
        dir.path(),
        "policy.yaml",
        &format!(
            "version: 1\nsigners:\n  release:\n    keys: [k.pub]\nrules:\n  - name: app\n    images: [\"{}/**\"]\n    require: {{signers: [release], annotations: {{env: prod}}}}\n",
            reg.host
        ),
    );
    let out = verify_policy(&policy, &reference, &["--output", "json"]).expect_code(0);
    let evaluation = &out.json()["images"][0]["judged"][0]["evaluation"];
    assert_eq!(evaluation["decision"], "allow");
    assert_eq!(evaluation["signers_counted"][0], "release");
}

#[test]
fn tag_based_and_bundle_signatures_count_together() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (a_key, _) = keygen(dir.path(), "a", "ecdsa-p256");
    let (b_key, _) = keygen(dir.path(), "b", "ed25519");
    let img = TestImage::new("two formats");
    img.push(&reg, "team/app", "v1");
    let reference = format!("{}@{}", reg.image("team/app"), img.digest());
    let policy = write(
        dir.path(),
        "policy.yaml",
        &format!(
            "version: 1\nsigners:\n  alice:\n    keys: [a.pub]\n  bob:\n    keys: [b.pub]\nrules:\n  - name: two\n    images: [\"{}/team/**\"]\n    require: {{signers: [alice, bob], threshold: 2}}\n",
            reg.host
        ),
    );
    sign(&reference, &a_key, &[]).expect_code(0);
    let out = verify_policy(&policy, &reference, &[]).expect_code(1);
    assert!(out.stdout.contains("threshold 2"), "{}", out.stdout);
    sign(&reference, &b_key, &["--format", "bundle"]).expect_code(0);
    let out = verify_policy(&policy, &reference, &["--output", "json"]).expect_code(0);
    let evaluation = &out.json()["images"][0]["judged"][0]["evaluation"];
    assert_eq!(
        evaluation["signers_counted"],
        serde_json::json!(["alice", "bob"])
    );
    // The same signer in both formats still counts once.
    sign(&reference, &a_key, &["--format", "bundle"]).expect_code(0);
    let one = write(
        dir.path(),
        "one.yaml",
        &format!(
            "version: 1\nsigners:\n  alice:\n    keys: [a.pub]\n  carol:\n    keys: [b.pub]\nrules:\n  - name: two\n    images: [\"{}/team/**\"]\n    require: {{signers: [alice], threshold: 1}}\n",
            reg.host
        ),
    );
    let out =
        verify_policy(&one, &reference, &["--all-signatures", "--output", "json"]).expect_code(0);
    let sigs = out.json()["images"][0]["judged"][0]["evaluation"]["signatures"].clone();
    assert!(
        sigs.as_array().is_some_and(|s| s.len() >= 2),
        "both formats read: {sigs}"
    );
    let counted = sigs
        .as_array()
        .expect("signatures")
        .iter()
        .filter(|s| s["counted"] == true)
        .count();
    assert_eq!(counted, 1, "{sigs}");
}

#[test]
fn concurrent_bundle_signers_lose_no_referrer() {
    const SIGNERS: usize = 4;
    const ROUNDS: usize = 3;
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Vec<_> = (0..SIGNERS)
        .map(|i| keygen(dir.path(), &format!("k{i}"), "ed25519"))
        .collect();
    for round in 0..ROUNDS {
        let img = TestImage::new(&format!("concurrent bundles {round}"));
        img.push(&reg, "race", &format!("r{round}"));
        let reference = format!("{}@{}", reg.image("race"), img.digest());
        let private: Vec<&Path> = keys.iter().map(|(k, _)| k.as_path()).collect();
        sign_concurrently(
            &reference,
            &private,
            &["--format", "bundle"],
            &format!("round {round}"),
        );
        let index = referrers_index(&reg, "race", img.digest());
        assert_eq!(
            index["manifests"].as_array().map(Vec::len),
            Some(SIGNERS),
            "round {round}: referrers lost: {index}"
        );
        let publics: Vec<&Path> = keys.iter().map(|(_, p)| p.as_path()).collect();
        let out = verify(&reference, &publics, &["--output", "json"]).expect_code(0);
        let verified = out.json()["images"][0]["signatures"]
            .as_array()
            .expect("signatures")
            .iter()
            .filter(|s| s["verdict"] == "verified" && s["format"] == "bundle")
            .count();
        assert_eq!(verified, SIGNERS, "round {round}");
    }
}

#[test]
fn bundle_signatures_in_a_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("image");
    let img = TestImage::new("bundle in a layout");
    img.write_layout(&layout, Some("v1"));
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let reference = format!("oci:{}:v1", layout.display());
    sign(
        &reference,
        &key,
        &[
            "--format",
            "bundle",
            "--identity",
            "registry.example.com/prod/app",
        ],
    )
    .expect_code(0);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let tag = img.digest().replace(':', "-");
    assert!(
        index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .any(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str()),
        "{index}"
    );
    let identity = ["--identity", "registry.example.com/prod/app"];
    verify(&reference, &[&public], &identity).expect_code(0);
    // A layout is local: --offline still reads its bundles (there is no cache entry).
    let offline = ["--identity", "registry.example.com/prod/app", "--offline"];
    verify(&reference, &[&public], &offline).expect_code(0);
    // The referrers tag is not an image: an untagged reference still means the one image.
    verify(&format!("oci:{}", layout.display()), &[&public], &identity).expect_code(0);
    // Without --identity the layout's name is expected, and the bundle names another.
    verify(&reference, &[&public], &[]).expect_code(1);
    let policy = write(
        dir.path(),
        "policy.yaml",
        "version: 1\nsigners:\n  ci:\n    keys: [k.pub]\nrules:\n  - name: prod\n    images: [\"registry.example.com/prod/**\"]\n    require: {signers: [ci]}\n",
    );
    verify_policy(&policy, &reference, &identity).expect_code(0);
}

#[test]
fn air_gapped_output_bundle_and_verify_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let (_, stranger) = keygen(dir.path(), "s", "ed25519");
    let img = TestImage::new("air gapped");
    // `.invalid` never resolves: any network use would fail with exit 3.
    let reference = format!("registry.invalid/team/app@{}", img.digest());
    let file = dir.path().join("app.sigstore.json");
    let out = Run::of(
        vouch()
            .args(["sign", &reference, "--key"])
            .arg(&key)
            .arg("--output-bundle")
            .arg(&file)
            .args(["-a", "env=prod"])
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    assert!(out.stdout.contains("bundle written to"), "{}", out.stdout);
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("bundle")).expect("json");
    assert_eq!(bundle["mediaType"], BUNDLE_TYPE);

    let with_bundle = |image: &str, key: &Path, extra: &[&str]| {
        Run::of(
            vouch()
                .args(["verify", image, "--key"])
                .arg(key)
                .arg("--bundle")
                .arg(&file)
                .args(extra),
        )
    };
    with_bundle(&reference, &public, &["-a", "env=prod"]).expect_code(0);
    with_bundle(&reference, &stranger, &[]).expect_code(1);
    let other = format!(
        "registry.invalid/team/app@{}",
        TestImage::new("other").digest()
    );
    let out = with_bundle(&other, &public, &[]).expect_code(1);
    assert!(out.stdout.contains("artifact"), "{}", out.stdout);
    // A tag would need the registry.
    let out = with_bundle("registry.invalid/team/app:v1", &public, &[]).expect_code(2);
    assert!(out.stderr.contains("by digest"), "{}", out.stderr);

    // A layout: signed offline into a file, verified with the layout and the file.
    let layout = dir.path().join("image");
    img.write_layout(&layout, Some("v1"));
    let layout_ref = format!("oci:{}:v1", layout.display());
    let layout_file = dir.path().join("layout.sigstore.json");
    Run::of(
        vouch()
            .args(["sign", &layout_ref, "--key"])
            .arg(&key)
            .arg("--output-bundle")
            .arg(&layout_file)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    // Nothing was written into the layout.
    let index = std::fs::read_to_string(layout.join("index.json")).expect("index");
    assert!(!index.contains("sha256-"), "{index}");
    Run::of(
        vouch()
            .args(["verify", &layout_ref, "--key"])
            .arg(&public)
            .arg("--bundle")
            .arg(&layout_file),
    )
    .expect_code(0);
}

/// The cosign v3 vector: a keyless DSSE image signature (GitHub Actions, kubewarden release
/// workflow), Rekor dsse entry and a TSA timestamp, for image digest sha256:c811d58d….
#[test]
fn cosign_v3_vector_under_keyless_policies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle_path = vectors_dir().join("sigstore-rs/tests/data/bundle_v03.json");
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle_path).expect("vector")).expect("json");
    let payload = base64_decode(bundle["dsseEnvelope"]["payload"].as_str().expect("payload"));
    let statement: serde_json::Value = serde_json::from_slice(&payload).expect("statement");
    let hex = statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .expect("digest")
        .to_string();
    // No registry is contacted: `.invalid` would fail.
    let reference = format!("registry.invalid/kubewarden/kubewarden-controller@sha256:{hex}");
    let policy = |name: &str, issuer: &str, regex: &str, extra: &str| {
        write(
            dir.path(),
            name,
            &format!(
                "version: 1\n{extra}signers:\n  kubewarden-release:\n    keyless:\n      issuer: {issuer}\n      subject_regex: '{regex}'\nrules:\n  - name: kubewarden\n    images: [\"registry.invalid/kubewarden/**\"]\n    require: {{signers: [kubewarden-release], identity: any}}\n"
            ),
        )
    };
    let release = r"https://github\.com/kubewarden/kubewarden-controller/\.github/workflows/release\.yml@refs/tags/v[0-9.]+";
    let judge = |policy: &Path| {
        Run::of(
            vouch()
                .args(["verify", &reference, "--policy"])
                .arg(policy)
                .arg("--bundle")
                .arg(&bundle_path)
                .args(["--output", "json"]),
        )
    };

    let good = policy("good.yaml", GHA, release, "");
    let out = judge(&good).expect_code(0);
    let evaluation = &out.json()["images"][0]["judged"][0]["evaluation"];
    assert_eq!(evaluation["decision"], "allow");
    let sig = &evaluation["signatures"][0];
    assert_eq!(sig["status"], "counted");
    assert_eq!(sig["identity"]["issuer"], GHA);
    assert!(
        sig["identity"]["subject"]
            .as_str()
            .expect("subject")
            .ends_with("@refs/tags/v1.34.0"),
        "{sig}"
    );

    // The trusted root may be given in the policy, relative to it.
    std::fs::create_dir_all(dir.path().join("roots")).expect("mkdir");
    std::fs::copy(
        workspace_root().join("crates/vouch-sigstore/src/roots/production.json"),
        dir.path().join("roots/production.json"),
    )
    .expect("copy root");
    let rooted = policy(
        "rooted.yaml",
        GHA,
        release,
        "trusted_root: roots/production.json\n",
    );
    judge(&rooted).expect_code(0);
    // Sigstore's staging root does not vouch for a production certificate.
    std::fs::copy(
        workspace_root().join("crates/vouch-sigstore/src/roots/staging.json"),
        dir.path().join("roots/staging.json"),
    )
    .expect("copy root");
    let staging = policy(
        "staging.yaml",
        GHA,
        release,
        "trusted_root: roots/staging.json\n",
    );
    let out = judge(&staging).expect_code(1);
    assert!(
        out.stdout.contains("keyless bundle refused"),
        "{}",
        out.stdout
    );
    // A missing trusted root is a policy error.
    let missing = policy(
        "missing.yaml",
        GHA,
        release,
        "trusted_root: roots/nope.json\n",
    );
    let out = judge(&missing).expect_code(2);
    assert!(out.stderr.contains("bad-trusted-root"), "{}", out.stderr);

    // The right subject from another issuer is not the signer.
    let wrong_issuer = policy("issuer.yaml", "https://accounts.google.com", release, "");
    let out = judge(&wrong_issuer).expect_code(1);
    let evaluation = &out.json()["images"][0]["judged"][0]["evaluation"];
    assert_eq!(evaluation["decision"], "deny");
    assert_eq!(evaluation["signatures"][0]["status"], "unknown-identity");

    // A regex that matches only part of the subject (anchored: whole-subject match).
    for regex in [
        r"https://github\.com/kubewarden/kubewarden-controller/\.github/workflows/release\.yml",
        r"https://github\.com/kubewarden/other-repo/.*",
        r"kubewarden",
    ] {
        let p = policy("regex.yaml", GHA, regex, "");
        let out = judge(&p).expect_code(1);
        assert_eq!(
            out.json()["images"][0]["judged"][0]["evaluation"]["signatures"][0]["status"],
            "unknown-identity",
            "{regex}"
        );
    }

    // `identity: repository` (the default) refuses it: the statement names no repository.
    let strict = write(
        dir.path(),
        "strict.yaml",
        &format!(
            "version: 1\nsigners:\n  k:\n    keyless: {{issuer: \"{GHA}\", subject_regex: '{release}'}}\nrules:\n  - name: kubewarden\n    images: [\"registry.invalid/kubewarden/**\"]\n    require: {{signers: [k]}}\n"
        ),
    );
    let out = judge(&strict).expect_code(1);
    assert_eq!(
        out.json()["images"][0]["judged"][0]["evaluation"]["signatures"][0]["status"],
        "identity-mismatch"
    );

    // Another image: the statement's subject is not its digest.
    let other = format!(
        "registry.invalid/kubewarden/kubewarden-controller@{}",
        TestImage::new("not kubewarden").digest()
    );
    let out = Run::of(
        vouch()
            .args(["verify", &other, "--policy"])
            .arg(&good)
            .arg("--bundle")
            .arg(&bundle_path),
    )
    .expect_code(1);
    assert!(out.stdout.contains("artifact"), "{}", out.stdout);

    // Key mode cannot judge a certificate.
    let (_, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let out = Run::of(
        vouch()
            .args(["verify", &reference, "--key"])
            .arg(&public)
            .arg("--bundle")
            .arg(&bundle_path),
    )
    .expect_code(1);
    assert!(out.stdout.contains("keyless"), "{}", out.stdout);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// cosign 2.5 and vouch's bundles. cosign 2.5's `verify --new-bundle-format` never looks at
/// referrers (it fetches only `sha256-<hex>.sig`, then "no signatures found", exit 10), so it
/// cannot verify any bundle-format image signature, vouch's or cosign v3's. Its
/// `verify-attestation --new-bundle-format` does read referrers (Referrers API, then the
/// `sha256-<hex>` tag) and verifies vouch's bundle when asked for the sign/v1 predicate type,
/// with the key, `--insecure-ignore-tlog` and a `--trusted-root` (it refuses to run without
/// one, offline). Both ways: vouch reads the referrers index cosign 2.5 writes.
#[test]
fn cosign_interop() {
    let peers = peers();
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let img = TestImage::new("cosign interop");
    img.push(&reg, "interop", "v1");
    let reference = format!("{}@{}", reg.image("interop"), img.digest());
    sign(&reference, &key, &["--format", "bundle"]).expect_code(0);
    let root = workspace_root().join("crates/vouch-sigstore/src/roots/production.json");

    let cosign = |args: &[&str], key: &Path| {
        Run::of(
            peers
                .cosign(&home)
                .args(args)
                .arg("--new-bundle-format")
                .arg("--trusted-root")
                .arg(&root)
                .args([
                    "--insecure-ignore-tlog=true",
                    "--allow-insecure-registry",
                    "--key",
                ])
                .arg(key)
                .arg(&reference),
        )
    };
    let out = cosign(&["verify"], &public);
    assert_eq!(out.code, 10, "{}", out.all());
    assert!(out.stderr.contains("no signatures found"), "{}", out.all());
    let out = cosign(
        &[
            "verify-attestation",
            "--type",
            "https://sigstore.dev/cosign/sign/v1",
        ],
        &public,
    )
    .expect_code(0);
    assert!(out.stdout.contains("\"payload\""), "{}", out.all());
    // With another key cosign refuses it: it really checked the signature.
    let (_, stranger) = keygen(dir.path(), "s", "ecdsa-p256");
    let out = cosign(
        &[
            "verify-attestation",
            "--type",
            "https://sigstore.dev/cosign/sign/v1",
        ],
        &stranger,
    );
    assert_ne!(out.code, 0, "{}", out.all());

    // cosign 2.5 attaches an attestation bundle (its index entry says artifactType
    // "application/vnd.oci.empty.v1+json", no annotations); vouch reads it, checks it, and
    // does not take an attestation for a signature.
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, "{\"a\":1}").expect("predicate");
    Run::of(
        peers
            .cosign(&home)
            .args(["attest", "--new-bundle-format", "--tlog-upload=false", "-y"])
            .args(["--allow-insecure-registry", "--type", "custom", "--key"])
            .arg(&key)
            .arg("--predicate")
            .arg(&predicate)
            .arg(&reference)
            .env("COSIGN_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    let index = referrers_index(&reg, "interop", img.digest());
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(2),
        "{index}"
    );
    let out = verify(&reference, &[&public], &["--output", "json"]).expect_code(0);
    let sigs = out.json()["images"][0]["signatures"].clone();
    let reasons: Vec<String> = sigs
        .as_array()
        .expect("signatures")
        .iter()
        .filter_map(|s| s["reason"].as_str().map(str::to_string))
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("an attestation")),
        "{sigs}"
    );
    // And vouch's own referrer survived cosign's index update.
    cosign(
        &[
            "verify-attestation",
            "--type",
            "https://sigstore.dev/cosign/sign/v1",
        ],
        &public,
    )
    .expect_code(0);
}

/// A registry *with* the Referrers API (the hostile test server, scripted honestly): the
/// manifest PUT answers `OCI-Subject`, so vouch writes no referrers tag, and verify lists the
/// referrers through `GET /v2/<repo>/referrers/<digest>`, skipping other artifact types.
#[test]
fn registry_with_the_referrers_api() {
    use std::sync::{Arc, Mutex};
    use vouch_e2e::hostile::{Hostile, Reply, Route};

    let server = Hostile::start();
    let repo = server.repo("api/app");
    let img = TestImage::new("referrers api");
    repo.put_manifest(
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        &img.manifest.bytes,
    );
    repo.put_manifest(
        img.digest(),
        "application/vnd.oci.image.manifest.v1+json",
        &img.manifest.bytes,
    );
    // Referrers by subject digest, as the registry indexes them.
    let listed: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::new(Mutex::new(vec![(
        img.digest().to_string(),
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", "e".repeat(64)),
            "size": 10,
            "artifactType": "application/spdx+json",
        }),
    )]));
    let index = listed.clone();
    repo.on(move |req, ctx| match (&req.route, req.method.as_str()) {
        (Route::Manifest(_), "PUT") => {
            let reply = ctx.honest(req);
            let m: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
            if let Some(subject) = m["subject"]["digest"].as_str() {
                let digest = vouch_e2e::image::Blob::new(req.body.clone()).digest;
                index.lock().expect("lock").push((
                    subject.to_string(),
                    serde_json::json!({
                        "mediaType": m["mediaType"],
                        "digest": digest,
                        "size": req.body.len(),
                        "artifactType": m["artifactType"],
                        "annotations": m["annotations"],
                    }),
                ));
                return reply.header("OCI-Subject", subject);
            }
            reply
        }
        (Route::Referrers(digest), "GET") => {
            let manifests: Vec<serde_json::Value> = index
                .lock()
                .expect("lock")
                .iter()
                .filter(|(s, _)| s == digest)
                .map(|(_, d)| d.clone())
                .collect();
            let body = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": manifests,
            });
            Reply::bytes(
                200,
                "application/vnd.oci.image.index.v1+json",
                serde_json::to_vec(&body).expect("json"),
            )
        }
        _ => ctx.honest(req),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ed25519");
    let reference = format!("{}/api/app:v1", server.host());
    let out = sign(
        &reference,
        &key,
        &["--format", "bundle", "--output", "json"],
    )
    .expect_code(0);
    assert_eq!(out.json()[0]["signatures"], 2, "{}", out.stdout);
    // The registry indexed it: no referrers tag was written.
    assert!(repo.manifest(&img.digest().replace(':', "-")).is_none());
    let out = verify(&reference, &[&public], &["--output", "json"]).expect_code(0);
    let sigs = out.json()["images"][0]["signatures"].clone();
    assert_eq!(
        sigs.as_array().map(Vec::len),
        Some(1),
        "SBOM referrer skipped: {sigs}"
    );
    assert_eq!(sigs[0]["format"], "bundle");
    assert!(
        repo.count(|l| l.path.contains("/referrers/")) >= 2,
        "verify asked the Referrers API"
    );
    assert_eq!(
        repo.count(|l| l.path.ends_with(&img.digest().replace(':', "-"))),
        0,
        "no fallback tag read when the API answers"
    );
}
