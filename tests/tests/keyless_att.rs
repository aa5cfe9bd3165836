//! Keyless cosign 2.x attestations in `.att` manifests: real `cosign attest` with a Fulcio
//! certificate made against the local Sigstore stand-in, in a real registry, judged by
//! `vouch verify --policy` (a keyless scanner signer) and listed by `vouch attestations`
//! with cosign's keyless flags; and the ways such an attestation must not count.

use std::path::{Path, PathBuf};

use vouch_e2e::clock::{now, rfc3339};
use vouch_e2e::image::Blob;
use vouch_e2e::sigstore::Sigstore;
use vouch_e2e::{Registry, Run, TestImage, keygen, sign, vouch};

const SCANNER: &str = "scanner@example.com";

const NO_CRITICAL: &str = r#"predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) ||
  r.Vulnerabilities.all(v, v.Severity != "CRITICAL"))"#;

struct Bench {
    sigstore: Sigstore,
    reg: Registry,
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        let sigstore = Sigstore::start();
        std::fs::create_dir_all(sigstore.dir().join("home")).expect("cosign home");
        Bench {
            sigstore,
            reg: Registry::start(),
            dir: tempfile::tempdir().expect("dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Pushes a fresh image; its tag-less `.att` tag and `HOST/REPO@DIGEST`.
    fn push(&self, repo: &str, content: &str) -> (String, String) {
        let img = TestImage::new(content);
        img.push(&self.reg, repo, "v1");
        let tag = format!("{}.att", img.digest().replace(':', "-"));
        (tag, format!("{}@{}", self.reg.image(repo), img.digest()))
    }

    /// Keyless `cosign attest` as `email` (`extra` before the image); must succeed.
    fn cosign_attest(&self, email: &str, predicate: &Path, image: &str, extra: &[&str]) {
        let token = self.sigstore.email_token(email);
        Run::of(
            self.sigstore
                .cosign(&self.sigstore.dir().join("home"))
                .args(["attest", "--yes", "--allow-insecure-registry"])
                .args(["--fulcio-url", self.sigstore.fulcio_url()])
                .args(["--rekor-url", self.sigstore.rekor_url()])
                .args(["--identity-token", &token])
                .args(["--type", "vuln", "--predicate"])
                .arg(predicate)
                .args(extra)
                .arg(image),
        )
        .expect_code(0);
    }

    fn issuer(&self) -> &str {
        self.sigstore.oidc_issuer()
    }

    /// A policy next to a copy of the stand-in's trusted root: `release` (a key) signs,
    /// `scanner` (keyless, `subject`) attests a scan of at most 7 days with no critical
    /// finding; `scanner_extra` goes into the scanner's `keyless` mapping.
    fn policy(&self, release: &Path, subject: &str, scanner_extra: &str) -> PathBuf {
        std::fs::copy(
            self.sigstore.trusted_root_path(),
            self.path("trusted_root.json"),
        )
        .expect("copy trusted root");
        let text = format!(
            r#"version: 1
trusted_root: trusted_root.json
signers:
  release:
    keys: ["{release}"]
  scanner:
    keyless: {{issuer: "{issuer}", subject: "{subject}"{scanner_extra}}}
rules:
  - name: scanned
    images: ["**"]
    require:
      signers: [release]
      attestations:
        - type: vuln
          signers: [scanner]
          max_age: 7d
          condition: >-
            {condition}
default: deny
"#,
            release = release.display(),
            issuer = self.issuer(),
            condition = NO_CRITICAL.replace('\n', " "),
        );
        let path = self.path(&format!("policy-{}.yaml", subject.replace('@', "-")));
        std::fs::write(&path, text).expect("policy");
        Run::of(vouch().args(["policy", "check"]).arg(&path)).expect_code(0);
        path
    }

    fn verify_policy(&self, image: &str, policy: &Path, extra: &[&str]) -> Run {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "verify", "--policy"])
                .arg(policy)
                .arg(image)
                .args(extra),
        )
    }

    /// `vouch attestations` with cosign's keyless flags and the stand-in's trusted root.
    fn attestations(&self, image: &str, identity: &str, extra: &[&str]) -> Run {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "attestations", image])
                .args(["--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", self.issuer()])
                .arg("--trusted-root")
                .arg(self.sigstore.trusted_root_path())
                .args(extra),
        )
    }

    /// Pushes a fresh image signed by a new `release` key; its `.att` tag, reference and
    /// the key's public half.
    fn signed_image(&self, repo: &str) -> (String, String, PathBuf) {
        let (tag, image) = self.push(repo, repo);
        let (key, public) = keygen(self.dir.path(), "release", "ecdsa-p256");
        sign(&image, &key, &[]).expect_code(0);
        (tag, image, public)
    }

    fn write(&self, name: &str, value: &serde_json::Value) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, serde_json::to_vec(value).expect("json")).expect("write");
        path
    }
}

/// A vulnerability scan finished at `finished`, with one finding of `severity`.
fn scan(finished: i64, severity: &str) -> serde_json::Value {
    serde_json::json!({
        "invocation": {"uri": "", "event_id": "", "builder.id": "", "parameters": null},
        "scanner": {
            "uri": "pkg:github/aquasecurity/trivy@v0.58.0",
            "version": "0.58.0",
            "db": {"uri": "", "version": ""},
            "result": {"Results": [
                {"Target": "app", "Vulnerabilities": [{"VulnerabilityID": "CVE-2026-0001", "Severity": severity}]}
            ]}
        },
        "metadata": {"scanStartedOn": rfc3339(finished - 60), "scanFinishedOn": rfc3339(finished)}
    })
}

#[test]
fn cosign_keyless_vuln_attestation_satisfies_a_keyless_scanner_signer() {
    let b = Bench::new();
    let (_, image, release) = b.signed_image("scanned");
    let policy = b.policy(&release, SCANNER, "");

    // Signed, not yet attested: refused, saying what is missing.
    let run = b.verify_policy(&image, &policy, &[]).expect_code(1);
    assert!(run.all().contains("attestation vuln"), "{}", run.all());

    let scan_file = b.write("scan.json", &scan(now() - 3_600, "LOW"));
    b.cosign_attest(SCANNER, &scan_file, &image, &[]);
    let run = b.verify_policy(&image, &policy, &[]).expect_code(0);
    assert!(run.stdout.starts_with("ALLOW"), "{}", run.all());
    let json = b
        .verify_policy(&image, &policy, &["--output", "json"])
        .expect_code(0)
        .json();
    let verdict = &json["images"][0]["judged"][0]["evaluation"]["attestations"][0];
    assert_eq!(verdict["passed"], true, "{json:#}");
    let counted = verdict["statements"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["decided"] == true)
        .expect("a deciding statement")
        .clone();
    assert_eq!(
        counted["signers"],
        serde_json::json!(["scanner"]),
        "{json:#}"
    );
    assert_eq!(counted["source"], ".att layer 1", "{json:#}");

    // Judged eight days on, the scan is too old.
    let later = rfc3339(now() + 8 * 86_400);
    let run = b
        .verify_policy(&image, &policy, &["--at", &later])
        .expect_code(1);
    assert!(run.all().contains("more than max_age 7d"), "{}", run.all());

    // A newer keyless scan with a critical finding decides.
    let critical = b.write("critical.json", &scan(now() - 60, "CRITICAL"));
    b.cosign_attest(SCANNER, &critical, &image, &[]);
    let run = b.verify_policy(&image, &policy, &[]).expect_code(1);
    assert!(
        run.all().contains("the condition is false"),
        "{}",
        run.all()
    );
}

#[test]
fn a_keyless_attestation_by_another_identity_is_refused_with_the_reason() {
    let b = Bench::new();
    let (_, image, release) = b.signed_image("other");
    let scan_file = b.write("scan.json", &scan(now() - 3_600, "LOW"));
    b.cosign_attest("intruder@example.com", &scan_file, &image, &[]);

    let policy = b.policy(&release, SCANNER, "");
    let run = b.verify_policy(&image, &policy, &[]).expect_code(1);
    assert!(run.stdout.starts_with("DENY"), "{}", run.all());
    assert!(
        run.stdout.contains(
            "attestation vuln: no verified https://cosign.sigstore.dev/attestation/vuln/v1 attestation of sha256:"
        ) && run.stdout.contains(" by scanner"),
        "{}",
        run.all()
    );
    let json = b
        .verify_policy(&image, &policy, &["--output", "json"])
        .expect_code(1)
        .json();
    let verdict = &json["images"][0]["judged"][0]["evaluation"]["attestations"][0];
    assert_eq!(verdict["passed"], false, "{json:#}");
    // The intruder's statement verified, and counts for no signer.
    let statements = verdict["statements"].as_array().expect("statements");
    assert_eq!(statements.len(), 1, "{json:#}");
    assert_eq!(statements[0]["counted"], false, "{json:#}");
    assert_eq!(statements[0]["signers"], serde_json::json!([]), "{json:#}");

    let run = b.attestations(&image, SCANNER, &[]).expect_code(1);
    assert!(
        run.stdout.contains(&format!(
            "not counted: keyless, by identity \"intruder@example.com\" from issuer \"{}\", not identity \"{SCANNER}\"",
            b.issuer()
        )),
        "{}",
        run.all()
    );
    // The same flags for the identity that did attest list it.
    b.attestations(&image, "intruder@example.com", &[])
        .expect_code(0);
}

#[test]
fn vouch_attestations_lists_a_keyless_attestation_with_cosigns_flags() {
    let b = Bench::new();
    let (_, image) = b.push("listed", "listed");
    let scan_file = b.write("scan.json", &scan(now() - 3_600, "LOW"));
    b.cosign_attest(SCANNER, &scan_file, &image, &[]);

    let run = b.attestations(&image, SCANNER, &[]).expect_code(0);
    assert!(
        run.stdout.contains(&format!(
            ".att layer 1: https://cosign.sigstore.dev/attestation/vuln/v1 signed by {SCANNER} ({}), log index ",
            b.issuer()
        )),
        "{}",
        run.all()
    );
    // Judged by type, age and condition, as with a key.
    b.attestations(
        &image,
        SCANNER,
        &[
            "--type",
            "vuln",
            "--max-age",
            "7d",
            "--condition",
            NO_CRITICAL,
        ],
    )
    .expect_code(0);
    b.attestations(&image, SCANNER, &["--type", "vuln", "--max-age", "30m"])
        .expect_code(1);

    let json = b
        .attestations(&image, SCANNER, &["--output", "json"])
        .expect_code(0)
        .json();
    let listed = &json[0]["attestations"][0];
    assert_eq!(listed["identity"]["subject"], SCANNER, "{json:#}");
    assert_eq!(listed["identity"]["issuer"], b.issuer(), "{json:#}");
    assert!(listed["log_index"].as_i64().is_some(), "{json:#}");
    assert!(
        listed["signed_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{json:#}"
    );
    assert_eq!(
        listed["statement"]["predicateType"],
        "https://cosign.sigstore.dev/attestation/vuln/v1"
    );
    assert_eq!(json[0]["passed"], true);

    // A regular expression over the identity, as `vouch verify` takes.
    Run::of(
        vouch()
            .args(["--allow-insecure-registry", "attestations", &image])
            .args(["--certificate-identity-regexp", ".*@example\\.com"])
            .args(["--certificate-oidc-issuer", b.issuer()])
            .arg("--trusted-root")
            .arg(b.sigstore.trusted_root_path()),
    )
    .expect_code(0);
    // Under the built-in production root, the stand-in's certificate is not trusted.
    let run = Run::of(
        vouch()
            .args(["--allow-insecure-registry", "attestations", &image])
            .args(["--certificate-identity", SCANNER])
            .args(["--certificate-oidc-issuer", b.issuer()]),
    )
    .expect_code(1);
    assert!(
        run.stdout.contains("keyless signature refused"),
        "{}",
        run.all()
    );
}

#[test]
fn vouch_attestations_with_a_policy_judges_what_its_rule_requires() {
    let b = Bench::new();
    let (_, image, release) = b.signed_image("policed");
    let policy = b.policy(&release, SCANNER, "");
    let scan_file = b.write("scan.json", &scan(now() - 3_600, "LOW"));
    b.cosign_attest(SCANNER, &scan_file, &image, &[]);

    let run = Run::of(
        vouch()
            .args([
                "--allow-insecure-registry",
                "attestations",
                &image,
                "--policy",
            ])
            .arg(&policy),
    )
    .expect_code(0);
    assert!(
        run.stdout.contains("attestation vuln: passed"),
        "{}",
        run.all()
    );
    let json = Run::of(
        vouch()
            .args([
                "--allow-insecure-registry",
                "attestations",
                &image,
                "--policy",
            ])
            .arg(&policy)
            .args(["--output", "json"]),
    )
    .expect_code(0)
    .json();
    assert_eq!(json[0]["requirements"][0]["passed"], true, "{json:#}");

    // The same image judged by a policy whose scanner is someone else.
    let other = b.policy(&release, "someone@example.com", "");
    let run = Run::of(
        vouch()
            .args([
                "--allow-insecure-registry",
                "attestations",
                &image,
                "--policy",
            ])
            .arg(&other),
    )
    .expect_code(1);
    assert!(
        run.stdout.contains("attestation vuln: REFUSED"),
        "{}",
        run.all()
    );
}

/// The `.att` layer's envelope and manifest, and a way to push changed copies under the tag.
fn att_manifest(b: &Bench, repo: &str, tag: &str) -> serde_json::Value {
    serde_json::from_slice(&b.reg.get_manifest(repo, tag).expect(".att")).expect("json")
}

fn push_att(b: &Bench, repo: &str, tag: &str, manifest: &serde_json::Value) {
    b.reg.push_manifest(
        repo,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(manifest).expect("json"),
    );
}

#[test]
fn a_tampered_keyless_attestation_is_refused() {
    let b = Bench::new();
    let (tag, image, release) = b.signed_image("tampered");
    let policy = b.policy(&release, SCANNER, "");
    let critical = b.write("critical.json", &scan(now() - 3_600, "CRITICAL"));
    b.cosign_attest(SCANNER, &critical, &image, &[]);
    b.verify_policy(&image, &policy, &[]).expect_code(1);
    let original = att_manifest(&b, "tampered", &tag);

    // The finding's severity lowered inside the signed payload.
    let layer = original["layers"][0]["digest"].as_str().expect("digest");
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&b.reg.get_blob("tampered", layer)).expect("envelope");
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let payload = engine
        .decode(envelope["payload"].as_str().expect("payload"))
        .expect("b64");
    let forged = String::from_utf8(payload)
        .expect("utf-8")
        .replace("CRITICAL", "LOW");
    envelope["payload"] = engine.encode(forged).into();
    let blob = Blob::new(serde_json::to_vec(&envelope).expect("json"));
    b.reg.push_blob("tampered", &blob);
    let mut forged_manifest = original.clone();
    forged_manifest["layers"][0]["digest"] = blob.digest.clone().into();
    forged_manifest["layers"][0]["size"] = blob.bytes.len().into();
    push_att(&b, "tampered", &tag, &forged_manifest);
    let run = b.verify_policy(&image, &policy, &[]).expect_code(1);
    assert!(run.all().contains("attestation vuln"), "{}", run.all());
    let run = b.attestations(&image, SCANNER, &[]).expect_code(1);
    assert!(
        run.stdout
            .contains(".att layer 1: not counted: keyless signature refused"),
        "{}",
        run.all()
    );

    // The untouched envelope with the log entry of another attestation: the entry's payload
    // hash names another statement.
    push_att(&b, "tampered", &tag, &original);
    let clean = b.write("clean.json", &scan(now() - 60, "LOW"));
    b.cosign_attest(SCANNER, &clean, &image, &[]);
    let both = att_manifest(&b, "tampered", &tag);
    let mut swapped = both.clone();
    swapped["layers"] = serde_json::json!([both["layers"][0].clone()]);
    swapped["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"] =
        both["layers"][1]["annotations"]["dev.sigstore.cosign/bundle"].clone();
    push_att(&b, "tampered", &tag, &swapped);
    let run = b.attestations(&image, SCANNER, &[]).expect_code(1);
    assert!(
        run.stdout
            .contains("not counted: keyless signature refused")
            && run.stdout.contains("log entry payload hash does not match"),
        "{}",
        run.all()
    );
    // With its own entry back, it is listed again.
    push_att(&b, "tampered", &tag, &both);
    b.attestations(&image, SCANNER, &[]).expect_code(0);
}

#[test]
fn an_unlogged_keyless_attestation_counts_only_where_the_signer_says_optional() {
    let b = Bench::new();
    let (_, image, release) = b.signed_image("unlogged");
    let scan_file = b.write("scan.json", &scan(now() - 3_600, "LOW"));
    b.cosign_attest(SCANNER, &scan_file, &image, &["--tlog-upload=false"]);

    let strict = b.policy(&release, SCANNER, "");
    let run = b.verify_policy(&image, &strict, &[]).expect_code(1);
    assert!(run.all().contains("attestation vuln"), "{}", run.all());
    let run = b.attestations(&image, SCANNER, &[]).expect_code(1);
    assert!(
        run.stdout.contains("no transparency-log entry"),
        "{}",
        run.all()
    );
    b.attestations(&image, SCANNER, &["--insecure-ignore-tlog"])
        .expect_code(0);

    std::fs::remove_file(&strict).expect("rm");
    let optional = b.policy(&release, SCANNER, ", transparency_log: optional");
    b.verify_policy(&image, &optional, &[]).expect_code(0);
}

/// Regression: a keyless `.att` layer read with only `--key` was reported as signed by an
/// untrusted key; it says it is keyless and how to verify it.
#[test]
fn regression_keyless_att_layer_reported_as_untrusted_key() {
    let b = Bench::new();
    let (_, image) = b.push("askey", "askey");
    let scan_file = b.write("scan.json", &scan(now() - 3_600, "LOW"));
    b.cosign_attest(SCANNER, &scan_file, &image, &[]);
    let (_, public) = keygen(b.dir.path(), "unrelated", "ecdsa-p256");
    let run = Run::of(
        vouch()
            .args(["--allow-insecure-registry", "attestations", &image, "--key"])
            .arg(&public),
    )
    .expect_code(1);
    assert!(
        run.stdout
            .contains("signed with a certificate (keyless), not a key")
            && run.stdout.contains("--certificate-identity"),
        "{}",
        run.all()
    );
}

#[test]
fn a_keyless_attestation_with_an_rfc3161_timestamp_verifies() {
    let b = Bench::new();
    let (tag, image) = b.push("stamped", "stamped");
    let scan_file = b.write("scan.json", &scan(now() - 3_600, "LOW"));
    let tsa = b.sigstore.tsa_url();
    b.cosign_attest(
        SCANNER,
        &scan_file,
        &image,
        &["--timestamp-server-url", &tsa],
    );
    let manifest = att_manifest(&b, "stamped", &tag);
    assert!(
        manifest["layers"][0]["annotations"]["dev.sigstore.cosign/rfc3161timestamp"].is_string(),
        "{manifest:#}"
    );
    let json = b
        .attestations(&image, SCANNER, &["--output", "json"])
        .expect_code(0)
        .json();
    assert_eq!(
        json[0]["attestations"][0]["identity"]["subject"], SCANNER,
        "{json:#}"
    );
}
