//! `vouch sign-blob` / `vouch verify-blob` against cosign 2.5's `sign-blob` / `verify-blob`,
//! both ways, in both of cosign's blob formats (a base64 signature; a Sigstore bundle with a
//! message signature); and `verify --policy-signature`, which refuses a policy whose signature
//! does not verify.

use std::path::{Path, PathBuf};
use std::process::Command;

use vouch_e2e::peers::peers;
use vouch_e2e::{Run, TEST_PASSWORD, TestImage, keygen, vouch, workspace_root};

fn cosign(home: &Path) -> Command {
    let mut cmd = peers().cosign(home);
    cmd.env("COSIGN_PASSWORD", TEST_PASSWORD);
    cmd
}

/// cosign needs a trusted root to read a bundle even when it skips the log: vouch's own copy
/// of the production root, so nothing is fetched.
fn trusted_root() -> PathBuf {
    workspace_root().join("crates/vouch-sigstore/src/roots/production.json")
}

fn cosign_verify_blob(home: &Path, public: &Path, how: &[&str], file: &Path) -> Run {
    let mut cmd = cosign(home);
    cmd.args(["verify-blob", "--insecure-ignore-tlog=true", "--key"])
        .arg(public)
        .args(how)
        .arg(file);
    Run::of(&mut cmd)
}

fn vouch_verify_blob(public: &Path, how: &str, signature: &Path, file: &Path) -> Run {
    Run::of(
        vouch()
            .args(["verify-blob", "--key"])
            .arg(public)
            .arg(how)
            .arg(signature)
            .arg(file),
    )
}

#[test]
fn vouch_signs_blobs_that_cosign_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (key, public) = keygen(d, "release", "ecdsa-p256");
    let file = d.join("release.tar.gz");
    std::fs::write(&file, b"a release tarball").expect("write");
    let other = d.join("other.tar.gz");
    std::fs::write(&other, b"another tarball").expect("write");
    let (sig, bundle) = (d.join("release.sig"), d.join("release.sigstore.json"));
    Run::of(
        vouch()
            .args(["sign-blob"])
            .arg(&file)
            .arg("--key")
            .arg(&key)
            .arg("--output-signature")
            .arg(&sig)
            .arg("--bundle")
            .arg(&bundle)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    let home = d.join("home");
    std::fs::create_dir(&home).expect("home");
    let sig_arg = format!("--signature={}", sig.display());
    let ok = cosign_verify_blob(&home, &public, &[&sig_arg], &file);
    assert_eq!(ok.code, 0, "cosign refused vouch's signature: {ok:?}");
    let bundle_args = [
        format!("--bundle={}", bundle.display()),
        "--new-bundle-format".into(),
        format!("--trusted-root={}", trusted_root().display()),
    ];
    let bundle_args: Vec<&str> = bundle_args.iter().map(String::as_str).collect();
    let ok = cosign_verify_blob(&home, &public, &bundle_args, &file);
    assert_eq!(ok.code, 0, "cosign refused vouch's bundle: {ok:?}");
    // cosign refuses both over another file: the checks above can fail.
    assert_ne!(
        cosign_verify_blob(&home, &public, &[&sig_arg], &other).code,
        0
    );
    assert_ne!(
        cosign_verify_blob(&home, &public, &bundle_args, &other).code,
        0
    );

    // vouch verifies its own, and refuses them for another file or another key.
    vouch_verify_blob(&public, "--signature", &sig, &file).expect_code(0);
    vouch_verify_blob(&public, "--bundle", &bundle, &file).expect_code(0);
    let refused = vouch_verify_blob(&public, "--signature", &sig, &other).expect_code(1);
    assert!(refused.stdout.contains("REFUSED"), "{refused:?}");
    vouch_verify_blob(&public, "--bundle", &bundle, &other).expect_code(1);
    let (_, stranger) = keygen(d, "stranger", "ecdsa-p256");
    vouch_verify_blob(&stranger, "--signature", &sig, &file).expect_code(1);
    vouch_verify_blob(&stranger, "--bundle", &bundle, &file).expect_code(1);
}

#[test]
fn cosign_signs_blobs_that_vouch_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let home = d.join("home");
    std::fs::create_dir(&home).expect("home");
    let prefix = d.join("cosign");
    Run::of(
        cosign(&home)
            .args(["generate-key-pair", "--output-key-prefix"])
            .arg(&prefix),
    )
    .expect_code(0);
    let (key, public) = (prefix.with_extension("key"), prefix.with_extension("pub"));
    let file = d.join("sbom.json");
    std::fs::write(&file, br#"{"sbom":"yes"}"#).expect("write");
    let (sig, bundle) = (d.join("sbom.sig"), d.join("sbom.sigstore.json"));
    Run::of(
        cosign(&home)
            .args(["sign-blob", "--tlog-upload=false", "-y", "--key"])
            .arg(&key)
            .arg("--output-signature")
            .arg(&sig)
            .arg(&file),
    )
    .expect_code(0);
    Run::of(
        cosign(&home)
            .args([
                "sign-blob",
                "--tlog-upload=false",
                "-y",
                "--new-bundle-format",
                "--key",
            ])
            .arg(&key)
            .arg("--bundle")
            .arg(&bundle)
            .arg(&file),
    )
    .expect_code(0);
    let ok = vouch_verify_blob(&public, "--signature", &sig, &file).expect_code(0);
    assert!(ok.stdout.starts_with("Verified OK"), "{ok:?}");
    vouch_verify_blob(&public, "--bundle", &bundle, &file).expect_code(0);
    std::fs::write(&file, br#"{"sbom":"no"}"#).expect("tamper");
    vouch_verify_blob(&public, "--signature", &sig, &file).expect_code(1);
    vouch_verify_blob(&public, "--bundle", &bundle, &file).expect_code(1);
}

#[test]
fn verify_refuses_a_policy_whose_signature_does_not_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (key, public) = keygen(d, "release", "ecdsa-p256");
    let (policy_key, policy_pub) = keygen(d, "policy", "ecdsa-p256");
    let layout = d.join("layout");
    TestImage::new("signed policy").write_layout(&layout, Some("v1"));
    let image = format!("oci:{}", layout.display());
    Run::of(
        vouch()
            .args(["sign", &image, "--key"])
            .arg(&key)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    let policy = d.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nsigners:\n  release:\n    keys: [{}]\nrules:\n  - name: all\n    images: [\"**\"]\n    require:\n      signers: [release]\ndefault: deny\n",
            public.display()
        ),
    )
    .expect("write policy");
    let signature = d.join("policy.yaml.sig");
    Run::of(
        vouch()
            .arg("sign-blob")
            .arg(&policy)
            .arg("--key")
            .arg(&policy_key)
            .arg("--output-signature")
            .arg(&signature)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    let run_verify = |policy_pub: &Path| {
        Run::of(
            vouch()
                .args(["verify", &image, "--policy"])
                .arg(&policy)
                .arg("--policy-signature")
                .arg(&signature)
                .arg("--policy-key")
                .arg(policy_pub),
        )
    };
    let ok = run_verify(&policy_pub);
    assert_ne!(ok.code, 2, "a signed policy is used: {ok:?}");
    // Another key than the policy's signer: the policy is not used at all.
    let refused = run_verify(&public).expect_code(2);
    assert!(refused.stderr.contains("policy"), "{refused:?}");
    assert!(refused.stderr.contains("signature"), "{refused:?}");
    // A policy changed after signing: refused.
    let mut text = std::fs::read_to_string(&policy).expect("read");
    text.push_str("# changed\n");
    std::fs::write(&policy, text).expect("write");
    run_verify(&policy_pub).expect_code(2);
}
