//! `--key pkcs11:…` through the `vouch` binary: a key generated in a SoftHSM2 token signs an
//! image in a real registry, and cosign 2.5 and vouch verify it with the public key vouch
//! exports; `verify` and `key id` take the URI for the public half; a wrong PIN, a missing
//! object and a missing module are exit 2 with a message naming what to fix, and no output
//! ever shows the PIN.
//!
//! The `vouch` child gets `SOFTHSM2_CONF` of the test's own token directory, so these tests
//! need no child test process.

use std::path::{Path, PathBuf};
use std::process::Command;

use vouch_e2e::image::TestImage;
use vouch_e2e::peers::peers;
use vouch_e2e::registry::Registry;
use vouch_e2e::softhsm::{SoftHsm, USER_PIN, module};
use vouch_e2e::{Run, keygen, verify, vouch};

/// A token "ci" with a P-256 key "release" (id 01) and an Ed25519 key "edkey" (id 02).
fn token() -> SoftHsm {
    let hsm = SoftHsm::new();
    hsm.init_token("ci");
    hsm.keygen("ci", "EC:prime256v1", "release", "01");
    hsm
}

/// `vouch` run against `hsm`'s tokens, plain-HTTP registries allowed.
fn vouch_on(hsm: &SoftHsm) -> Command {
    let mut cmd = vouch();
    cmd.env("SOFTHSM2_CONF", hsm.conf())
        .env_remove("VOUCH_PKCS11_PIN")
        .env_remove("COSIGN_PKCS11_PIN")
        .env_remove("VOUCH_PKCS11_MODULE_PATH")
        .env_remove("COSIGN_PKCS11_MODULE_PATH")
        .arg("--allow-insecure-registry");
    cmd
}

#[track_caller]
fn assert_no_pin(run: &Run, pins: &[&str]) {
    let shown = run.all();
    for pin in pins {
        assert!(!shown.contains(pin), "PIN {pin:?} in the output:\n{shown}");
    }
}

fn pushed(registry: &Registry, content: &str) -> String {
    TestImage::new(content).push(registry, "app", "v1");
    format!("{}:v1", registry.image("app"))
}

/// `vouch key public URI > token.pub`, checked against `key id` of both.
fn export_public(hsm: &SoftHsm, uri: &str) -> PathBuf {
    let out = Run::of(vouch_on(hsm).args(["key", "public", uri])).expect_code(0);
    assert!(
        out.stdout.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{out:?}"
    );
    assert_no_pin(&out, &[USER_PIN]);
    let path = hsm.dir().join("token.pub");
    std::fs::write(&path, &out.stdout).expect("write token.pub");
    let id_of = |key: &str| {
        Run::of(vouch_on(hsm).args(["key", "id", key]))
            .expect_code(0)
            .stdout
            .trim()
            .to_string()
    };
    let by_uri = id_of(uri);
    assert_eq!(by_uri.len(), 64, "{by_uri}");
    assert_eq!(by_uri, id_of(path.to_str().expect("UTF-8 path")));
    path
}

fn cosign_verify(home: &Path, public: &Path, image: &str) -> Run {
    Run::of(
        peers()
            .cosign(home)
            .args([
                "verify",
                "--insecure-ignore-tlog=true",
                "--allow-insecure-registry",
                "--key",
            ])
            .arg(public)
            .arg(image),
    )
}

#[test]
fn token_key_signs_an_image_that_cosign_and_vouch_verify() {
    let hsm = token();
    let registry = Registry::start();
    let image = pushed(&registry, "signed on a token");
    let uri = hsm.uri("ci", "release");
    let public = export_public(&hsm, &uri);

    let signed = Run::of(vouch_on(&hsm).args(["sign", &image, "--key", &uri])).expect_code(0);
    assert!(signed.stdout.contains("@sha256:"), "{signed:?}");
    assert_no_pin(&signed, &[USER_PIN]);

    // vouch verifies with the exported .pub and with the URI itself (the public half).
    let verified = verify(&image, &[&public], &[]).expect_code(0);
    assert!(verified.stdout.contains("verified"), "{verified:?}");
    let by_uri = Run::of(vouch_on(&hsm).args(["verify", &image, "--key", &uri])).expect_code(0);
    assert_no_pin(&by_uri, &[USER_PIN]);

    // cosign 2.5 verifies the token's signature with the exported key.
    let home = tempfile::tempdir().expect("cosign home");
    let cosign = cosign_verify(home.path(), &public, &image);
    assert_eq!(cosign.code, 0, "cosign refused: {cosign:?}");

    // sign-blob takes the token key too; cosign verifies the blob signature.
    let blob = hsm.dir().join("sbom.json");
    std::fs::write(&blob, b"{}").expect("write blob");
    let sig = hsm.dir().join("sbom.json.sig");
    let signed = Run::of(
        vouch_on(&hsm)
            .arg("sign-blob")
            .arg(&blob)
            .args(["--key", &uri, "--output-signature"])
            .arg(&sig),
    )
    .expect_code(0);
    assert_no_pin(&signed, &[USER_PIN]);
    let cosign_blob = Run::of(
        peers()
            .cosign(home.path())
            .args(["verify-blob", "--insecure-ignore-tlog=true", "--key"])
            .arg(&public)
            .arg("--signature")
            .arg(&sig)
            .arg(&blob),
    );
    assert_eq!(cosign_blob.code, 0, "cosign refused: {cosign_blob:?}");

    // Another key is refused by both (the checks above can fail).
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, other) = keygen(dir.path(), "other", "ecdsa-p256");
    verify(&image, &[&other], &[]).expect_code(1);
    assert_ne!(cosign_verify(home.path(), &other, &image).code, 0);
}

#[test]
fn token_key_signs_a_bundle_and_takes_its_pin_from_the_environment() {
    let hsm = token();
    let registry = Registry::start();
    let image = pushed(&registry, "bundle from a token");
    // No module or PIN in the URI: VOUCH_PKCS11_MODULE_PATH and cosign's COSIGN_PKCS11_PIN.
    let bare = "pkcs11:token=ci;object=release";
    let signed = Run::of(
        vouch_on(&hsm)
            .args(["sign", &image, "--format", "bundle", "--key", bare])
            .env("VOUCH_PKCS11_MODULE_PATH", module())
            .env("COSIGN_PKCS11_PIN", USER_PIN),
    )
    .expect_code(0);
    assert_no_pin(&signed, &[USER_PIN]);
    let public = export_public(&hsm, &hsm.uri("ci", "release"));
    let verified = verify(&image, &[&public], &["--output", "json"]).expect_code(0);
    assert!(verified.stdout.contains("bundle"), "{verified:?}");

    // The same URI without a PIN anywhere: the token needs a login, and says so.
    let refused = Run::of(
        vouch_on(&hsm)
            .args(["sign", &image, "--key", bare])
            .env("VOUCH_PKCS11_MODULE_PATH", module()),
    )
    .expect_code(2);
    assert!(refused.stderr.contains("PIN"), "{refused:?}");
}

#[test]
fn wrong_pin_is_exit_2_and_never_shown() {
    let hsm = token();
    let registry = Registry::start();
    let image = pushed(&registry, "wrong pin");
    let wrong = "Xw9wrong";
    let by_value = format!(
        "pkcs11:token=ci;object=release?module-path={}&pin-value={wrong}",
        module().display()
    );
    let run = Run::of(vouch_on(&hsm).args(["sign", &image, "--key", &by_value])).expect_code(2);
    assert!(run.stderr.contains("wrong PIN"), "{run:?}");
    assert_no_pin(&run, &[wrong, USER_PIN]);

    let pin_file = hsm.dir().join("wrong-pin");
    std::fs::write(&pin_file, format!("{wrong}\n")).expect("write");
    let by_file = format!(
        "pkcs11:token=ci;object=release?module-path={}&pin-source={}",
        module().display(),
        pin_file.display()
    );
    let run = Run::of(vouch_on(&hsm).args(["sign", &image, "--key", &by_file])).expect_code(2);
    assert!(run.stderr.contains("wrong PIN"), "{run:?}");
    assert_no_pin(&run, &[wrong, USER_PIN]);
    let digest = TestImage::new("wrong pin").digest().to_string();
    assert_eq!(
        registry.signature_count("app", &digest),
        0,
        "nothing signed"
    );

    // A malformed URI with a PIN in it: the parse error leaves the PIN out too.
    let malformed = format!("pkcs11:token=ci;object=release;bogus=1?pin-value={wrong}");
    let run = Run::of(vouch_on(&hsm).args(["key", "id", &malformed])).expect_code(2);
    assert!(run.stderr.contains("PKCS#11 URI"), "{run:?}");
    assert_no_pin(&run, &[wrong]);
}

#[test]
fn missing_object_is_exit_2_and_lists_the_keys_there() {
    let hsm = token();
    let registry = Registry::start();
    let image = pushed(&registry, "missing object");
    let run = Run::of(vouch_on(&hsm).args(["sign", &image, "--key", &hsm.uri("ci", "missing")]))
        .expect_code(2);
    assert!(run.stderr.contains("\"missing\""), "{run:?}");
    assert!(run.stderr.contains("\"release\""), "{run:?}");
    assert_no_pin(&run, &[USER_PIN]);

    let run =
        Run::of(vouch_on(&hsm).args(["verify", &image, "--key", &hsm.uri("nope", "release")]))
            .expect_code(2);
    assert!(run.stderr.contains("\"nope\""), "{run:?}");
}

#[test]
fn missing_module_is_exit_2_and_names_it() {
    let hsm = SoftHsm::new();
    let registry = Registry::start();
    let image = pushed(&registry, "missing module");
    let uri = format!(
        "pkcs11:token=ci;object=release?module-path=/nonexistent/libpkcs11.so&pin-value={USER_PIN}"
    );
    for args in [
        vec!["sign", &image, "--key", &uri],
        vec!["verify", &image, "--key", &uri],
        vec!["key", "id", &uri],
    ] {
        let run = Run::of(vouch_on(&hsm).args(&args)).expect_code(2);
        assert!(run.stderr.contains("/nonexistent/libpkcs11.so"), "{run:?}");
        assert_no_pin(&run, &[USER_PIN]);
    }
    // No module anywhere: says where one can be given.
    let run = Run::of(vouch_on(&hsm).args(["key", "id", "pkcs11:token=ci;object=release"]))
        .expect_code(2);
    assert!(run.stderr.contains("module"), "{run:?}");
}
