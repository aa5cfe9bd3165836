//! `vouch verify-blob-attestation`: a real GitHub Actions provenance bundle (npm's, for
//! sigstore-js 2.0.0, from the sigstore-go vectors) verified offline against the built-in
//! production root, judged on issuer, workflow identity and builder id; and cosign 2.5's
//! `attest-blob` bundles verified under a key.

use std::path::{Path, PathBuf};

use vouch_e2e::peers::peers;
use vouch_e2e::{Run, TEST_PASSWORD, vectors_dir, vouch};

const PACKAGE_SHA512: &str = "sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c";
const WORKFLOW: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GITHUB_HOSTED: &str = "https://github.com/actions/runner/github-hosted";
/// Two days after the bundle's log entry (2023-08-18T16:05:35Z).
const SOON_AFTER: &str = "2023-08-20T16:00:00Z";

fn provenance() -> PathBuf {
    vectors_dir()
        .join("sigstore-go/pkg/testing/data/bundles/sigstore.js@2.0.0-provenance.sigstore.json")
}

/// `verify-blob-attestation` of the npm package's digest with its provenance bundle.
fn verify_provenance(bundle: &Path, identity: &[&str], extra: &[&str]) -> Run {
    Run::of(
        vouch()
            .args(["verify-blob-attestation", PACKAGE_SHA512, "--bundle"])
            .arg(bundle)
            .args(identity)
            .args(extra),
    )
}

const RELEASE_WORKFLOW: [&str; 4] = [
    "--certificate-identity",
    WORKFLOW,
    "--certificate-oidc-issuer",
    GITHUB_ISSUER,
];

#[test]
fn npm_provenance_passes_on_issuer_workflow_and_builder() {
    let builder = format!(
        "predicate.runDetails.builder.id == \"{GITHUB_HOSTED}\" && predicate.buildDefinition.externalParameters.workflow.repository == \"https://github.com/sigstore/sigstore-js\""
    );
    let run = verify_provenance(
        &provenance(),
        &RELEASE_WORKFLOW,
        &[
            "--type",
            "slsaprovenance1",
            "--condition",
            &builder,
            "--output",
            "json",
        ],
    )
    .expect_code(0);
    let out = run.json();
    assert_eq!(out["passed"], true);
    assert_eq!(out["digest"], PACKAGE_SHA512);
    let statement = &out["attestations"][0]["statement"];
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(statement["subject"][0]["name"], "pkg:npm/sigstore@2.0.0");
    assert_eq!(
        out["attestations"][0]["signers"][0],
        format!("{WORKFLOW} ({GITHUB_ISSUER})")
    );
    // The provenance carries no finish time: it is dated by its log entry.
    assert_eq!(
        out["decision"]["statements"][0]["dated"],
        "2023-08-18T16:05:35Z"
    );
}

#[test]
fn npm_provenance_from_another_repository_is_refused() {
    let run = verify_provenance(
        &provenance(),
        &[
            "--certificate-identity-regexp",
            "^https://github.com/acme/.*",
            "--certificate-oidc-issuer",
            GITHUB_ISSUER,
        ],
        &[],
    )
    .expect_code(1);
    assert!(
        run.stdout.contains(&format!("signed by {WORKFLOW}")) && run.stdout.contains("acme"),
        "{}",
        run.all()
    );
    // Right workflow, wrong issuer.
    let run = verify_provenance(
        &provenance(),
        &[
            "--certificate-identity",
            WORKFLOW,
            "--certificate-oidc-issuer",
            "https://gitlab.com",
        ],
        &[],
    )
    .expect_code(1);
    assert!(run.stdout.contains("https://gitlab.com"), "{}", run.all());
}

#[test]
fn npm_provenance_from_another_builder_fails_its_condition() {
    let run = verify_provenance(
        &provenance(),
        &RELEASE_WORKFLOW,
        &[
            "--type",
            "slsaprovenance1",
            "--condition",
            "predicate.runDetails.builder.id.startsWith(\"https://github.com/acme/\")",
        ],
    )
    .expect_code(1);
    assert!(
        run.stdout.contains("the condition is false"),
        "{}",
        run.all()
    );
    // A condition reading a field the predicate lacks fails closed.
    let run = verify_provenance(
        &provenance(),
        &RELEASE_WORKFLOW,
        &[
            "--type",
            "slsaprovenance1",
            "--condition",
            "predicate.runDetails.metadata.finishedOn != \"\"",
        ],
    )
    .expect_code(1);
    assert!(
        run.stdout.contains("could not be evaluated"),
        "{}",
        run.all()
    );
}

#[test]
fn npm_provenance_max_age_is_measured_from_its_log_time() {
    let judged = |at: &str| {
        verify_provenance(
            &provenance(),
            &RELEASE_WORKFLOW,
            &["--type", "slsaprovenance1", "--max-age", "7d", "--at", at],
        )
    };
    judged(SOON_AFTER).expect_code(0);
    let run = judged("2023-09-18T00:00:00Z").expect_code(1);
    assert!(run.stdout.contains("more than max_age"), "{}", run.all());
}

#[test]
fn npm_provenance_for_another_package_or_tampered_is_refused() {
    let other = format!("sha512:{}", "ab".repeat(64));
    let run = Run::of(
        vouch()
            .args(["verify-blob-attestation", &other, "--bundle"])
            .arg(provenance())
            .args(RELEASE_WORKFLOW),
    )
    .expect_code(1);
    assert!(run.stdout.contains("matches no subject"), "{}", run.all());

    let dir = tempfile::tempdir().expect("tempdir");
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(provenance()).expect("read")).expect("json");
    let sig = bundle["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .expect("sig")
        .to_string();
    let flipped = if sig.starts_with('M') { "N" } else { "M" };
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = format!("{flipped}{}", &sig[1..]).into();
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&bundle).expect("json")).expect("write");
    let run = verify_provenance(&tampered, &RELEASE_WORKFLOW, &[]).expect_code(1);
    assert!(run.stdout.contains("not counted"), "{}", run.all());
}

#[test]
fn a_digest_that_is_neither_file_nor_digest_is_a_usage_error() {
    let run = Run::of(
        vouch()
            .args(["verify-blob-attestation", "sha512:abc", "--bundle"])
            .arg(provenance())
            .args(RELEASE_WORKFLOW),
    )
    .expect_code(2);
    assert!(run.stderr.contains("not a digest"), "{}", run.all());
}

#[test]
fn cosign_attest_blob_bundles_verify_under_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cosign = |args: &[&str]| {
        let mut cmd = peers().cosign(d);
        cmd.current_dir(d)
            .env("COSIGN_PASSWORD", TEST_PASSWORD)
            .args(args);
        Run::of(&mut cmd).expect_code(0)
    };
    cosign(&["generate-key-pair"]);
    std::fs::write(d.join("app.tar.gz"), b"a release tarball").expect("write");
    std::fs::write(
        d.join("scan.json"),
        br#"{"scanner":{"result":{"Results":[]}},"metadata":{"scanFinishedOn":"2026-01-02T03:04:05Z"}}"#,
    )
    .expect("write");
    cosign(&[
        "attest-blob",
        "--key",
        "cosign.key",
        "--predicate",
        "scan.json",
        "--type",
        "vuln",
        "--new-bundle-format",
        "--bundle",
        "app.att.json",
        "--tlog-upload=false",
        "--yes",
        "app.tar.gz",
    ]);
    let verify = |file: &str, extra: &[&str]| {
        Run::of(
            vouch()
                .current_dir(d)
                .args(["verify-blob-attestation", file, "--bundle", "app.att.json"])
                .args(["--key", "cosign.pub"])
                .args(extra),
        )
    };
    let run = verify(
        "app.tar.gz",
        &[
            "--type",
            "vuln",
            "--max-age",
            "7d",
            "--at",
            "2026-01-05T00:00:00Z",
        ],
    )
    .expect_code(0);
    assert!(
        run.stdout.contains("dated 2026-01-02T03:04:05Z"),
        "{}",
        run.all()
    );
    verify(
        "app.tar.gz",
        &[
            "--type",
            "vuln",
            "--max-age",
            "7d",
            "--at",
            "2026-02-05T00:00:00Z",
        ],
    )
    .expect_code(1);
    std::fs::write(d.join("other.tar.gz"), b"another tarball").expect("write");
    verify("other.tar.gz", &[]).expect_code(1);
    // A keyless identity does not accept a key-signed bundle.
    let run = Run::of(
        vouch()
            .current_dir(d)
            .args([
                "verify-blob-attestation",
                "app.tar.gz",
                "--bundle",
                "app.att.json",
            ])
            .args(["--certificate-identity", "a@example.com"])
            .args(["--certificate-oidc-issuer", "https://accounts.example.com"]),
    )
    .expect_code(1);
    assert!(run.stdout.contains("signed with a key"), "{}", run.all());
}
