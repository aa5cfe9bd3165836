//! `vouch sign --keyless` end to end against the local Sigstore stand-in (tests/src/sigstore)
//! and a real registry: both storage formats, then `vouch verify` (identity flags and a
//! policy) and cosign 2.5 accept what was stored; hostile services and bad tokens are refused
//! with their documented exit code and nothing stored; tokens given, from the environment or
//! from GitHub Actions' endpoint never appear in output. Likewise `vouch attest --keyless`
//! (bundle referrers and cosign 2.x `.att` layers, read by `cosign verify-attestation`),
//! `vouch sign-blob --keyless` (read by `cosign verify-blob`), and keyless batches.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use vouch_e2e::sigstore::{Hostile, Sigstore, SigstoreOptions};
use vouch_e2e::{Registry, Run, TestImage, vouch};

const WORKFLOW: &str =
    "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";

struct Bench {
    sigstore: Sigstore,
    reg: Registry,
}

impl Bench {
    fn new(hostile: Hostile) -> Bench {
        let sigstore = Sigstore::start_with(SigstoreOptions { hostile });
        std::fs::create_dir_all(sigstore.dir().join("home")).expect("cosign home");
        Bench {
            sigstore,
            reg: Registry::start(),
        }
    }

    /// Pushes a fresh image: (image, `HOST/app@DIGEST`).
    fn push(&self, content: &str) -> (TestImage, String) {
        let img = TestImage::new(content);
        img.push(&self.reg, "app", "latest");
        let reference = format!("{}@{}", self.reg.image("app"), img.digest());
        (img, reference)
    }

    /// `vouch sign --keyless` with the stand-in's signing config and trusted root.
    fn sign(&self, reference: &str, extra: &[&str]) -> std::process::Command {
        self.sign_with(self.sigstore.signing_config_path(), reference, extra)
    }

    /// `vouch sign --keyless` with this signing config and the stand-in's trusted root.
    fn sign_with(
        &self,
        signing_config: &std::path::Path,
        reference: &str,
        extra: &[&str],
    ) -> std::process::Command {
        let mut cmd = vouch();
        cmd.args(["--allow-insecure-registry", "sign", reference, "--keyless"])
            .arg("--signing-config")
            .arg(signing_config)
            .arg("--trusted-root")
            .arg(self.sigstore.trusted_root_path())
            .args(extra)
            .env_remove("SIGSTORE_ID_TOKEN")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
        cmd
    }

    /// `vouch attest --keyless`, as [`Bench::sign`] signs; a text predicate unless `extra`
    /// names one.
    fn attest(&self, reference: &str, extra: &[&str]) -> std::process::Command {
        let mut cmd = vouch();
        cmd.args([
            "--allow-insecure-registry",
            "attest",
            reference,
            "--keyless",
        ]);
        if !extra.contains(&"--predicate") {
            let predicate = self.sigstore.dir().join("predicate.txt");
            std::fs::write(&predicate, "scanned: clean").expect("predicate");
            cmd.arg("--predicate").arg(&predicate);
        }
        cmd.arg("--signing-config")
            .arg(self.sigstore.signing_config_path())
            .arg("--trusted-root")
            .arg(self.sigstore.trusted_root_path())
            .args(extra)
            .env_remove("SIGSTORE_ID_TOKEN")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
        cmd
    }

    /// `vouch verify-bundle` of a keyless bundle for `artifact` (a file or `sha256:…`).
    fn verify_bundle(&self, bundle: &std::path::Path, artifact: &str, identity: &str) -> Run {
        Run::of(
            vouch()
                .arg("verify-bundle")
                .arg("--bundle")
                .arg(bundle)
                .args(["--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", self.sigstore.oidc_issuer()])
                .arg("--trusted-root")
                .arg(self.sigstore.trusted_root_path())
                .arg(artifact),
        )
    }

    /// The first layer of a stored bundle referrer, written to `name` in the stand-in's dir.
    fn referrer_bundle(&self, referrer: &str, name: &str) -> PathBuf {
        let manifest: Value = serde_json::from_slice(
            &self
                .reg
                .get_manifest("app", referrer)
                .expect("referrer manifest"),
        )
        .expect("JSON");
        let bundle = self.reg.get_blob(
            "app",
            manifest["layers"][0]["digest"].as_str().expect("layer"),
        );
        let path = self.sigstore.dir().join(name);
        std::fs::write(&path, &bundle).expect("bundle");
        path
    }

    fn verify(&self, reference: &str, identity: &str) -> Run {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "verify", reference])
                .args(["--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", self.sigstore.oidc_issuer()])
                .arg("--trusted-root")
                .arg(self.sigstore.trusted_root_path()),
        )
    }

    fn cosign_verify(&self, reference: &str, identity: &str, extra: &[&str]) -> Run {
        self.sigstore.cosign_verify(
            &self.sigstore.dir().join("home"),
            reference,
            identity,
            self.sigstore.oidc_issuer(),
            extra,
        )
    }

    fn policy(&self, subject_regex: &str) -> PathBuf {
        let dir = self.sigstore.dir();
        std::fs::copy(
            self.sigstore.trusted_root_path(),
            dir.join("policy_root.json"),
        )
        .expect("copy root");
        let path = dir.join("policy.yaml");
        std::fs::write(
            &path,
            format!(
                "version: 1\ntrusted_root: policy_root.json\nsigners:\n  ci:\n    keyless: {{issuer: \"{}\", subject_regex: \"{subject_regex}\"}}\nrules:\n  - name: all\n    images: [\"**\"]\n    require: {{signers: [ci], threshold: 1}}\n",
                self.sigstore.oidc_issuer()
            ),
        )
        .expect("policy");
        path
    }

    fn verify_policy(&self, reference: &str, policy: &std::path::Path) -> Run {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "verify", "--policy"])
                .arg(policy)
                .arg(reference),
        )
    }

    /// Nothing at all stored next to the image: no `.sig` or `.att` tag, no referrers tag.
    #[track_caller]
    fn assert_nothing_stored(&self, img: &TestImage) {
        let hex = img.digest().trim_start_matches("sha256:");
        for suffix in [".sig", ".att"] {
            assert!(
                self.reg
                    .get_manifest("app", &format!("sha256-{hex}{suffix}"))
                    .is_none()
            );
        }
        assert!(
            self.reg
                .get_manifest("app", &format!("sha256-{hex}"))
                .is_none()
        );
    }
}

/// Every form the token could leak in: whole, and each of its three parts.
#[track_caller]
fn assert_no_token(run: &Run, token: &str) {
    let text = run.all();
    for part in std::iter::once(token).chain(token.split('.')) {
        assert!(!text.contains(part), "the token leaked into: {text}");
    }
}

#[test]
fn keyless_bundle_is_stored_as_a_referrer_and_verifies() {
    let b = Bench::new(Hostile::default());
    let (img, reference) = b.push("keyless bundle by vouch");
    let token = b.sigstore.token(WORKFLOW);
    let run = Run::of(
        b.sign(
            &reference,
            &["--identity-token", &token, "--output", "json"],
        )
        .arg("--debug"),
    )
    .expect_code(0);
    assert_no_token(&run, &token);
    let signed = run.json();
    assert_eq!(signed[0]["format"], "bundle");
    assert_eq!(signed[0]["certificate_identity"], WORKFLOW);
    assert_eq!(
        signed[0]["certificate_oidc_issuer"],
        b.sigstore.oidc_issuer()
    );
    let referrer = signed[0]["referrer"].as_str().expect("referrer");
    assert!(b.sigstore.rekor_size() > 1, "nothing was logged");

    b.verify(&reference, WORKFLOW).expect_code(0);
    assert_eq!(
        b.verify(&reference, "https://github.com/example/other")
            .code,
        1
    );
    let policy = b.policy("https://github\\\\.com/example/app/\\\\.github/workflows/.*");
    b.verify_policy(&reference, &policy).expect_code(0);
    let strict = b.policy("https://github\\\\.com/example/other/.*");
    b.verify_policy(&reference, &strict).expect_code(1);

    // cosign 2.5 reads the stored bundle as a blob attestation over the manifest.
    let manifest: Value = serde_json::from_slice(
        &b.reg
            .get_manifest("app", referrer)
            .expect("referrer manifest"),
    )
    .expect("JSON");
    let bundle = b.reg.get_blob(
        "app",
        manifest["layers"][0]["digest"].as_str().expect("layer"),
    );
    let dir = b.sigstore.dir();
    std::fs::write(dir.join("stored.sigstore.json"), &bundle).expect("bundle");
    std::fs::write(dir.join("manifest.json"), &img.manifest.bytes).expect("manifest");
    Run::of(
        b.sigstore
            .cosign(&dir.join("home"))
            .args(["verify-blob-attestation", "--new-bundle-format"])
            .arg("--trusted-root")
            .arg(b.sigstore.trusted_root_path())
            .args(["--type", "https://sigstore.dev/cosign/sign/v1"])
            .args(["--certificate-identity", WORKFLOW])
            .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
            .arg("--bundle")
            .arg(dir.join("stored.sigstore.json"))
            .arg(dir.join("manifest.json")),
    )
    .expect_code(0);
    assert_eq!(b.sigstore.network_attempts(), Vec::<String>::new());
}

#[test]
fn keyless_sig_layer_from_the_environment_verifies_in_vouch_and_cosign() {
    let b = Bench::new(Hostile::default());
    let (_img, reference) = b.push("keyless .sig by vouch");
    let token = b.sigstore.token(WORKFLOW);
    let run = Run::of(
        b.sign(&reference, &["--format", "sig", "-a", "env=prod"])
            .env("SIGSTORE_ID_TOKEN", &token),
    )
    .expect_code(0);
    assert_no_token(&run, &token);
    assert!(
        run.stderr.contains(&format!(
            "signing as {WORKFLOW} (issuer {}",
            b.sigstore.oidc_issuer()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains(&reference), "{}", run.stdout);

    b.verify(&reference, WORKFLOW).expect_code(0);
    assert_eq!(
        b.verify(&reference, "https://github.com/example/other")
            .code,
        1
    );
    b.cosign_verify(&reference, WORKFLOW, &["--use-signed-timestamps"])
        .expect_code(0);
    assert_ne!(
        b.cosign_verify(&reference, "https://github.com/example/other", &[])
            .code,
        0
    );
    assert_eq!(b.sigstore.network_attempts(), Vec::<String>::new());
}

#[test]
fn hostile_services_are_refused_and_nothing_is_stored() {
    for (hostile, code, reason) in [
        (
            Hostile {
                fulcio_untrusted_ca: true,
                ..Hostile::default()
            },
            1,
            "not issued by a trusted CA",
        ),
        (
            Hostile {
                fulcio_other_identity: true,
                ..Hostile::default()
            },
            1,
            "not for the token's identity",
        ),
        (
            Hostile {
                rekor_bad_inclusion_proof: true,
                ..Hostile::default()
            },
            1,
            "inclusion proof does not verify",
        ),
        (
            Hostile {
                rekor_bad_set: true,
                ..Hostile::default()
            },
            1,
            "signed entry timestamp does not verify",
        ),
        (
            Hostile {
                rekor_other_signature: true,
                ..Hostile::default()
            },
            1,
            "entry for another signature",
        ),
        (
            Hostile {
                rekor_time_after_expiry: true,
                ..Hostile::default()
            },
            1,
            "outside the certificate's validity",
        ),
        (
            Hostile {
                rekor_down: true,
                ..Hostile::default()
            },
            3,
            "unreachable",
        ),
    ] {
        let b = Bench::new(hostile);
        let (img, reference) = b.push("hostile");
        let token = b.sigstore.token(WORKFLOW);
        for format in ["bundle", "sig"] {
            let run = Run::of(&mut b.sign(
                &reference,
                &["--identity-token", &token, "--format", format],
            ));
            assert_eq!(run.code, code, "{hostile:?} {format}:\n{}", run.all());
            assert!(run.stderr.contains(reason), "{hostile:?}: {}", run.stderr);
            assert_no_token(&run, &token);
            b.assert_nothing_stored(&img);
        }
    }
}

#[test]
fn rekor_v2_signing_config_signs_bundles_that_verify() {
    let b = Bench::new(Hostile::default());
    let v2_config = b.sigstore.signing_config_rekor_v2_path();
    let (img, reference) = b.push("keyless bundle in Rekor v2");
    let token = b.sigstore.token(WORKFLOW);

    // cosign 2.x's .sig annotations need a SET: refused before any request, nothing stored.
    let run = Run::of(&mut b.sign_with(
        v2_config,
        &reference,
        &["--identity-token", &token, "--format", "sig"],
    ));
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("signed entry timestamp") && run.stderr.contains("--format bundle"),
        "{}",
        run.stderr
    );
    b.assert_nothing_stored(&img);
    assert_eq!(b.sigstore.requests(), Vec::new());

    let run = Run::of(&mut b.sign_with(
        v2_config,
        &reference,
        &["--identity-token", &token, "--output", "json"],
    ))
    .expect_code(0);
    assert_no_token(&run, &token);
    let signed = run.json();
    assert_eq!(signed[0]["format"], "bundle");
    assert_eq!(b.sigstore.rekor_v2_size(), 2);
    assert!(b.sigstore.requests_to("rekor").is_empty());
    assert_eq!(b.sigstore.requests_to("tsa").len(), 1);

    b.verify(&reference, WORKFLOW).expect_code(0);
    assert_eq!(
        b.verify(&reference, "https://github.com/example/other")
            .code,
        1
    );
    let policy = b.policy("https://github\\\\.com/example/app/\\\\.github/workflows/.*");
    b.verify_policy(&reference, &policy).expect_code(0);

    // The stored bundle, alone, through the offline bundle verifier.
    let referrer = signed[0]["referrer"].as_str().expect("referrer");
    let manifest: Value = serde_json::from_slice(
        &b.reg
            .get_manifest("app", referrer)
            .expect("referrer manifest"),
    )
    .expect("JSON");
    let bundle = b.reg.get_blob(
        "app",
        manifest["layers"][0]["digest"].as_str().expect("layer"),
    );
    let stored = b.sigstore.dir().join("stored-v2.sigstore.json");
    std::fs::write(&stored, &bundle).expect("bundle");
    let ok = Run::of(
        vouch()
            .args(["verify-bundle", "--output", "json"])
            .args(["--certificate-identity", WORKFLOW])
            .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
            .arg("--trusted-root")
            .arg(b.sigstore.trusted_root_path())
            .arg("--bundle")
            .arg(&stored)
            .arg(img.digest()),
    )
    .expect_code(0)
    .json();
    assert_eq!(ok["log_entries"][0]["kind"], "dsse 0.0.2");

    // The v1 config, its log replaced on the command line by the v2 one.
    let (_, second) = b.push("keyless bundle in Rekor v2, by flag");
    Run::of(&mut b.sign(
        &second,
        &[
            "--identity-token",
            &token,
            "--rekor-url",
            b.sigstore.rekor_v2_url(),
            "--rekor-version",
            "2",
        ],
    ))
    .expect_code(0);
    assert_eq!(b.sigstore.rekor_v2_size(), 3);
    b.verify(&second, WORKFLOW).expect_code(0);
    // ...and a version the config has no log of.
    let run = Run::of(&mut b.sign(
        &second,
        &["--identity-token", &token, "--rekor-version", "2"],
    ));
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("Rekor v2 log"), "{}", run.stderr);
    assert!(b.sigstore.requests_to("rekor").is_empty());
    assert_eq!(b.sigstore.network_attempts(), Vec::<String>::new());
}

#[test]
fn hostile_rekor_v2_answers_are_refused_and_nothing_is_stored() {
    for (hostile, reason) in [
        (
            Hostile {
                rekor_bad_inclusion_proof: true,
                ..Hostile::default()
            },
            "inclusion proof does not verify",
        ),
        (
            Hostile {
                rekor_bad_checkpoint: true,
                ..Hostile::default()
            },
            "checkpoint",
        ),
        (
            Hostile {
                rekor_other_signature: true,
                ..Hostile::default()
            },
            "entry for another signature",
        ),
    ] {
        let b = Bench::new(hostile);
        let (img, reference) = b.push("hostile Rekor v2");
        let token = b.sigstore.token(WORKFLOW);
        let run = Run::of(&mut b.sign_with(
            b.sigstore.signing_config_rekor_v2_path(),
            &reference,
            &["--identity-token", &token],
        ));
        assert_eq!(run.code, 1, "{hostile:?}:\n{}", run.all());
        assert!(run.stderr.contains(reason), "{hostile:?}: {}", run.stderr);
        assert_no_token(&run, &token);
        b.assert_nothing_stored(&img);
        assert_eq!(b.sigstore.rekor_v2_size(), 2, "{hostile:?}");
    }
}

#[test]
fn token_problems_exit_2_before_anything_is_stored() {
    let b = Bench::new(Hostile::default());
    let (img, reference) = b.push("bad tokens");
    let mut expired = b.sigstore.claims(WORKFLOW);
    expired["exp"] = 1_000_000.into();
    expired["iat"] = 999_000.into();
    let expired = b.sigstore.sign_claims(&expired);
    let mut audience = b.sigstore.claims(WORKFLOW);
    audience["aud"] = "not-sigstore".into();
    let audience = b.sigstore.sign_claims(&audience);
    for (token, reason) in [(&expired, "expired"), (&audience, "audience")] {
        let run = Run::of(&mut b.sign(&reference, &["--identity-token", token]));
        assert_eq!(run.code, 2, "{}", run.all());
        assert!(run.stderr.contains(reason), "{}", run.stderr);
        assert_no_token(&run, token);
    }
    // No token anywhere: a usage error that says where tokens come from.
    let run = Run::of(&mut b.sign(&reference, &[]));
    assert_eq!(run.code, 2, "{}", run.all());
    b.assert_nothing_stored(&img);
    assert!(b.sigstore.requests_to("fulcio").is_empty());
    assert!(b.sigstore.requests_to("rekor").is_empty());
}

/// GitHub Actions' token endpoint (unreachable here): answers `{"value": TOKEN}` and records
/// each request line with its authorization header.
fn actions_endpoint(token: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/_apis/distributedtask/token?api-version=2.0",
        listener.local_addr().expect("addr")
    );
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                request.push_str(&line);
            }
            record.lock().expect("lock").push(request);
            let body = serde_json::json!({"count": 1, "value": token}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn github_actions_ambient_token_signs_and_never_shows() {
    let b = Bench::new(Hostile::default());
    let (_img, reference) = b.push("signed in GitHub Actions");
    let mut claims = b.sigstore.claims(WORKFLOW);
    claims["job_workflow_ref"] = "example/app/.github/workflows/release.yml@refs/heads/main".into();
    let token = b.sigstore.sign_claims(&claims);
    let request_token = "actions-request-token-0123456789";
    let (url, seen) = actions_endpoint(token.clone());
    let run = Run::of(
        b.sign(&reference, &["--debug"])
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", &url)
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token)
            .env("GITHUB_ACTIONS", "true"),
    )
    .expect_code(0);
    assert_no_token(&run, &token);
    assert!(!run.all().contains(request_token), "{}", run.all());
    assert!(
        run.stderr.contains(&format!("signing as {WORKFLOW}")),
        "{}",
        run.stderr
    );
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("audience=sigstore"), "{seen:?}");
    b.verify(&reference, WORKFLOW).expect_code(0);
}

#[test]
fn keyless_att_layers_verify_in_cosign_verify_attestation() {
    let b = Bench::new(Hostile::default());
    let token = b.sigstore.token(WORKFLOW);
    let home = b.sigstore.dir().join("home");
    // cosign 2.5's default entry type, then the one older cosign logged.
    for (entry_type, version) in [("dsse", "0.0.1"), ("intoto", "0.0.2")] {
        let (img, reference) = b.push(&format!("keyless .att by vouch, {entry_type}"));
        let mut args = vec![
            "--identity-token",
            &token,
            "--format",
            "att",
            "--type",
            "custom",
        ];
        if entry_type == "intoto" {
            args.extend(["--rekor-entry-type", "intoto"]);
        }
        let run = Run::of(&mut b.attest(&reference, &args)).expect_code(0);
        assert_no_token(&run, &token);
        assert!(
            run.stderr.contains(&format!("attesting as {WORKFLOW}")),
            "{}",
            run.stderr
        );

        // cosign 2.x's layer: the envelope, an empty signature annotation, the certificate,
        // its chain and the log entry.
        let hex = img.digest().trim_start_matches("sha256:");
        let manifest: Value = serde_json::from_slice(
            &b.reg
                .get_manifest("app", &format!("sha256-{hex}.att"))
                .expect(".att manifest"),
        )
        .expect("JSON");
        let layer = &manifest["layers"][0];
        assert_eq!(layer["mediaType"], "application/vnd.dsse.envelope.v1+json");
        let annotations = &layer["annotations"];
        assert_eq!(annotations["dev.cosignproject.cosign/signature"], "");
        assert!(
            annotations["dev.sigstore.cosign/certificate"]
                .as_str()
                .is_some_and(|c| c.contains("BEGIN CERTIFICATE"))
        );
        assert!(annotations["dev.sigstore.cosign/chain"].is_string());
        let logged: Value = serde_json::from_str(
            annotations["dev.sigstore.cosign/bundle"]
                .as_str()
                .expect("bundle annotation"),
        )
        .expect("JSON");
        let body: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                logged["Payload"]["body"].as_str().expect("body"),
            )
            .expect("base64"),
        )
        .expect("JSON");
        assert_eq!(body["kind"], entry_type);
        assert_eq!(body["apiVersion"], version);

        let cosign_verify_attestation = |identity: &str| {
            Run::of(
                b.sigstore
                    .cosign(&home)
                    .args(["verify-attestation", "--allow-insecure-registry"])
                    .args(["--rekor-url", b.sigstore.rekor_url()])
                    .args(["--type", "custom"])
                    .args(["--certificate-identity", identity])
                    .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
                    .arg(&reference),
            )
        };
        cosign_verify_attestation(WORKFLOW).expect_code(0);
        assert_ne!(
            cosign_verify_attestation("https://github.com/example/other").code,
            0
        );
    }
    assert_eq!(b.sigstore.network_attempts(), Vec::<String>::new());
}

#[test]
fn keyless_attestation_bundle_is_a_referrer_that_verifies() {
    let b = Bench::new(Hostile::default());
    let (img, reference) = b.push("keyless attestation bundle by vouch");
    let token = b.sigstore.token(WORKFLOW);
    let run = Run::of(&mut b.attest(
        &reference,
        &[
            "--identity-token",
            &token,
            "--type",
            "vuln",
            "--output",
            "json",
        ],
    ));
    // The vuln predicate must be JSON: a text predicate is a usage error.
    assert_eq!(run.code, 2, "{}", run.all());
    let scan = b.sigstore.dir().join("scan.json");
    std::fs::write(&scan, r#"{"scanner": {"uri": "x"}}"#).expect("scan");
    let scan = scan.display().to_string();
    let run = Run::of(&mut b.attest(
        &reference,
        &[
            "--identity-token",
            &token,
            "--output",
            "json",
            "--type",
            "vuln",
            "--predicate",
            &scan,
        ],
    ))
    .expect_code(0);
    assert_no_token(&run, &token);
    let done = run.json();
    assert_eq!(done[0]["certificate_identity"], WORKFLOW);
    let referrer = done[0]["referrer"].as_str().expect("referrer");
    let bundle = b.referrer_bundle(referrer, "attestation.sigstore.json");
    let stored: Value =
        serde_json::from_slice(&std::fs::read(&bundle).expect("bundle")).expect("JSON");
    assert_eq!(
        stored["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
        "dsse"
    );
    b.verify_bundle(&bundle, img.digest(), WORKFLOW)
        .expect_code(0);
    assert_eq!(
        b.verify_bundle(&bundle, img.digest(), "https://github.com/example/other")
            .code,
        1
    );

    // cosign 2.5 reads it as a blob attestation over the manifest.
    let dir = b.sigstore.dir();
    std::fs::write(dir.join("manifest.json"), &img.manifest.bytes).expect("manifest");
    Run::of(
        b.sigstore
            .cosign(&dir.join("home"))
            .args(["verify-blob-attestation", "--new-bundle-format"])
            .arg("--trusted-root")
            .arg(b.sigstore.trusted_root_path())
            .args(["--type", "vuln"])
            .args(["--certificate-identity", WORKFLOW])
            .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
            .arg("--bundle")
            .arg(&bundle)
            .arg(dir.join("manifest.json")),
    )
    .expect_code(0);
}

#[test]
fn hostile_services_are_refused_for_attestations_and_nothing_is_stored() {
    for (hostile, reason) in [
        (
            Hostile {
                rekor_other_signature: true,
                ..Hostile::default()
            },
            "entry for another signature",
        ),
        (
            Hostile {
                rekor_bad_inclusion_proof: true,
                ..Hostile::default()
            },
            "inclusion proof does not verify",
        ),
        (
            Hostile {
                rekor_bad_set: true,
                ..Hostile::default()
            },
            "signed entry timestamp does not verify",
        ),
    ] {
        let b = Bench::new(hostile);
        let (img, reference) = b.push("hostile attestation");
        let token = b.sigstore.token(WORKFLOW);
        for format in [
            &["--format", "bundle"][..],
            &["--format", "att"],
            &["--format", "att", "--rekor-entry-type", "intoto"],
        ] {
            let mut args = vec!["--identity-token", &token];
            args.extend(format);
            let run = Run::of(&mut b.attest(&reference, &args));
            assert_eq!(run.code, 1, "{hostile:?} {format:?}:\n{}", run.all());
            assert!(run.stderr.contains(reason), "{hostile:?}: {}", run.stderr);
            assert!(run.stderr.contains("nothing was stored"), "{}", run.stderr);
            assert_no_token(&run, &token);
            b.assert_nothing_stored(&img);
        }
    }
}

#[test]
fn keyless_sign_blob_bundle_verifies_in_vouch_and_cosign() {
    let b = Bench::new(Hostile::default());
    let dir = b.sigstore.dir();
    let file = dir.join("release.tar.gz");
    std::fs::write(&file, b"release bytes").expect("file");
    let bundle = dir.join("release.sigstore.json");
    let token = b.sigstore.token(WORKFLOW);
    let blob_sign = |out: &std::path::Path| {
        let mut cmd = vouch();
        cmd.arg("sign-blob")
            .arg(&file)
            .arg("--keyless")
            .arg("--bundle")
            .arg(out)
            .args(["--identity-token", &token])
            .arg("--signing-config")
            .arg(b.sigstore.signing_config_path())
            .arg("--trusted-root")
            .arg(b.sigstore.trusted_root_path());
        Run::of(&mut cmd)
    };
    let run = blob_sign(&bundle).expect_code(0);
    assert_no_token(&run, &token);
    let stored: Value =
        serde_json::from_slice(&std::fs::read(&bundle).expect("bundle")).expect("JSON");
    assert!(stored["messageSignature"].is_object());
    assert_eq!(
        stored["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
        "hashedrekord"
    );
    let path = file.display().to_string();
    b.verify_bundle(&bundle, &path, WORKFLOW).expect_code(0);
    assert_eq!(
        b.verify_bundle(&bundle, &path, "https://github.com/example/other")
            .code,
        1
    );
    std::fs::write(dir.join("other.tar.gz"), b"other bytes").expect("other");
    assert_eq!(
        b.verify_bundle(
            &bundle,
            &dir.join("other.tar.gz").display().to_string(),
            WORKFLOW
        )
        .code,
        1
    );

    let cosign_verify_blob = |identity: &str| {
        Run::of(
            b.sigstore
                .cosign(&dir.join("home"))
                .args(["verify-blob", "--new-bundle-format"])
                .arg("--trusted-root")
                .arg(b.sigstore.trusted_root_path())
                .args(["--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
                .arg("--bundle")
                .arg(&bundle)
                .arg(&file),
        )
    };
    cosign_verify_blob(WORKFLOW).expect_code(0);
    assert_ne!(
        cosign_verify_blob("https://github.com/example/other").code,
        0
    );

    // A log that lies: no bundle is written.
    b.sigstore.set_hostile(Hostile {
        rekor_bad_inclusion_proof: true,
        ..Hostile::default()
    });
    let refused = dir.join("refused.sigstore.json");
    let run = blob_sign(&refused);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(!refused.exists());
    assert_eq!(b.sigstore.network_attempts(), Vec::<String>::new());
}

#[test]
fn keyless_batch_signs_concurrently_with_one_certificate_in_input_order() {
    let b = Bench::new(Hostile::default());
    let mut references = Vec::new();
    for i in 0..12 {
        let img = TestImage::new(&format!("keyless batch image {i}"));
        img.push(&b.reg, "app", &format!("v{i}"));
        references.push(format!("{}@{}", b.reg.image("app"), img.digest()));
    }
    let token = b.sigstore.token(WORKFLOW);
    let mut cmd = b.sign(
        &references[0],
        &[
            "--identity-token",
            &token,
            "--jobs",
            "4",
            "--output",
            "json",
        ],
    );
    cmd.args(&references[1..]);
    let run = Run::of(&mut cmd).expect_code(0);
    let signed = run.json();
    let order: Vec<&str> = signed
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["reference"].as_str().expect("reference"))
        .collect();
    assert_eq!(
        order,
        references.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // One session: one certificate for the whole batch, one log entry per image.
    let certificates = b
        .sigstore
        .requests_to("fulcio")
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(certificates, 1);
    let logged = b
        .sigstore
        .requests_to("rekor")
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(logged, references.len());
    let mut verify = vouch();
    verify
        .args(["--allow-insecure-registry", "verify"])
        .args(&references)
        .args(["--certificate-identity", WORKFLOW])
        .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
        .arg("--trusted-root")
        .arg(b.sigstore.trusted_root_path());
    Run::of(&mut verify).expect_code(0);
}

#[test]
fn keyless_att_layers_count_for_a_policy_keyless_signer() {
    let b = Bench::new(Hostile::default());
    let (_img, reference) = b.push("keyless .att judged by policy");
    let token = b.sigstore.token(WORKFLOW);
    Run::of(&mut b.sign(&reference, &["--identity-token", &token])).expect_code(0);
    let dir = b.sigstore.dir();
    std::fs::copy(b.sigstore.trusted_root_path(), dir.join("policy_root.json")).expect("copy root");
    let policy = |attester: &str| {
        let path = dir.join(format!("policy-{attester}.yaml"));
        std::fs::write(
            &path,
            format!(
                "version: 1\ntrusted_root: policy_root.json\nsigners:\n  ci:\n    keyless: {{issuer: \"{issuer}\", subject_regex: \"https://github\\\\.com/example/app/.*\"}}\n  other:\n    keyless: {{issuer: \"{issuer}\", subject_regex: \"https://github\\\\.com/example/other/.*\"}}\nrules:\n  - name: all\n    images: [\"**\"]\n    require:\n      signers: [ci]\n      attestations:\n        - type: vuln\n          signers: [{attester}]\n",
                issuer = b.sigstore.oidc_issuer()
            ),
        )
        .expect("policy");
        path
    };
    let (by_ci, by_other) = (policy("ci"), policy("other"));
    // Signed, not yet attested.
    assert_eq!(b.verify_policy(&reference, &by_ci).code, 1);

    let scan = dir.join("scan.json");
    std::fs::write(&scan, r#"{"scanner": {"uri": "x", "result": {}}}"#).expect("scan");
    let scan = scan.display().to_string();
    Run::of(&mut b.attest(
        &reference,
        &[
            "--identity-token",
            &token,
            "--format",
            "att",
            "--type",
            "vuln",
            "--predicate",
            &scan,
        ],
    ))
    .expect_code(0);
    b.verify_policy(&reference, &by_ci).expect_code(0);
    // The attestation's certificate names the app's workflow, not the other signer's.
    assert_eq!(b.verify_policy(&reference, &by_other).code, 1);
}
