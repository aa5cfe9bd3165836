//! Keyless signing material made by `vouch-keyless` against the local Sigstore stand-in
//! (tests/src/sigstore): Sigstore bundles (message signature, DSSE) and cosign 2.x `.sig`
//! and `.att` layer annotations, for a blob and for an image digest, judged by vouch's own offline
//! verifier and by cosign 2.5; every hostile service refused with its typed error and nothing
//! returned; token problems caught before any request; and the token never printed.
//!
//! The offline verifier `vouch-keyless` answers to is vouch's library
//! (`vouch_sigstore::verify_bundle_with`, `vouch_sigstore::verify_sig_layer`), plugged in
//! through [`RootVerifier`], exactly as the commands plug it in.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::Digest as _;
use vouch_e2e::clock::now;
use vouch_e2e::image::Blob;
use vouch_e2e::sigstore::{Hostile, OTHER_EMAIL, Sigstore, SigstoreOptions};
use vouch_e2e::{Registry, Run, TestImage, vouch};
use vouch_keyless::{
    AttestationEntry, EndpointOverrides, IdentityToken, KeylessError, KeylessOptions,
    KeylessSigner, SIGSTORE_AUDIENCE, Service, SigningConfig, TokenLookup, TokenSource,
    TransportOptions, find_token,
};
use vouch_sign::keyless::RootVerifier;
use vouch_sigstore::{
    Artifact, HashAlgorithm, IdentityPolicy, SigLayer, TrustedRoot, VerifyOptions, verify_att_layer,
};

const ALICE: &str = "alice@example.com";
const WORKFLOW: &str =
    "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";
const IN_TOTO: &str = "application/vnd.in-toto+json";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// One stand-in, one registry, a cosign home, a scratch directory.
struct Bench {
    sigstore: Sigstore,
    reg: Registry,
    verifier: Arc<RootVerifier>,
    root: TrustedRoot,
}

impl Bench {
    fn new() -> Bench {
        Bench::hostile(Hostile::default())
    }

    fn hostile(hostile: Hostile) -> Bench {
        let sigstore = Sigstore::start_with(SigstoreOptions { hostile });
        std::fs::create_dir_all(sigstore.dir().join("home")).expect("cosign home");
        let root = TrustedRoot::from_json(
            &std::fs::read(sigstore.trusted_root_path()).expect("trusted root"),
        )
        .expect("root parses");
        Bench {
            sigstore,
            reg: Registry::start(),
            verifier: Arc::new(RootVerifier::new(root.clone())),
            root,
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.sigstore.dir().join(name)
    }

    /// The stand-in's signing config selects its Fulcio, Rekor and TSA.
    fn options(&self) -> KeylessOptions {
        self.options_from(self.sigstore.signing_config_path())
    }

    /// The stand-in's signing config naming its Rekor v2 log as the only log.
    fn options_v2(&self) -> KeylessOptions {
        let options = self.options_from(self.sigstore.signing_config_rekor_v2_path());
        assert_eq!(options.endpoints.rekor_version, 2);
        assert_eq!(
            options.endpoints.rekor[0].as_str().trim_end_matches('/'),
            self.sigstore.rekor_v2_url()
        );
        options
    }

    fn options_from(&self, signing_config: &std::path::Path) -> KeylessOptions {
        let config =
            SigningConfig::from_json(&std::fs::read(signing_config).expect("signing config"))
                .expect("signing config parses");
        let endpoints = config
            .endpoints(now(), &EndpointOverrides::default())
            .expect("endpoints");
        assert_eq!(
            endpoints.fulcio.as_str().trim_end_matches('/'),
            self.sigstore.fulcio_url()
        );
        assert_eq!(endpoints.tsa[0].as_str(), self.sigstore.tsa_url());
        KeylessOptions {
            endpoints,
            transport: TransportOptions {
                allow_http: true,
                timeout: Duration::from_secs(10),
                retries: 1,
                ca_certificates_pem: None,
            },
            audience: SIGSTORE_AUDIENCE.into(),
        }
    }

    async fn signer(&self, token: &str) -> Result<KeylessSigner, KeylessError> {
        self.signer_with(token, &self.options()).await
    }

    async fn signer_with(
        &self,
        token: &str,
        options: &KeylessOptions,
    ) -> Result<KeylessSigner, KeylessError> {
        let token = IdentityToken::parse(token, TokenSource::Explicit)?;
        KeylessSigner::start(&token, options, self.verifier.clone()).await
    }

    fn cosign(&self) -> std::process::Command {
        self.sigstore.cosign(&self.sigstore.dir().join("home"))
    }

    /// Pushes a fresh image: (image, `HOST/app`, `HOST/app@DIGEST`).
    fn push(&self, content: &str) -> (TestImage, String, String) {
        let img = TestImage::new(content);
        img.push(&self.reg, "app", "latest");
        let repo = self.reg.image("app");
        let reference = format!("{repo}@{}", img.digest());
        (img, repo, reference)
    }

    /// Writes a `.sig` manifest with one layer: `payload` and its annotations.
    fn write_sig_manifest(
        &self,
        img: &TestImage,
        payload: &[u8],
        annotations: &BTreeMap<String, String>,
    ) {
        let layer = Blob::new(payload.to_vec());
        let config = Blob::new(
            serde_json::to_vec(&json!({
                "architecture": "", "os": "", "config": {},
                "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
            }))
            .expect("config"),
        );
        self.reg.push_blob("app", &layer);
        self.reg.push_blob("app", &config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.bytes.len()},
            "layers": [{"mediaType": SIMPLE_SIGNING, "digest": layer.digest, "size": layer.bytes.len(), "annotations": annotations}],
        }))
        .expect("manifest");
        let tag = format!("{}.sig", img.digest().replace(':', "-"));
        self.reg.push_manifest(
            "app",
            &tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        );
    }

    fn vouch_verify_bundle(&self, bundle: &str, artifact: &str, identity: &str) -> Run {
        Run::of(
            vouch()
                .args(["verify-bundle", "--output", "json"])
                .args(["--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", self.sigstore.oidc_issuer()])
                .arg("--trusted-root")
                .arg(self.sigstore.trusted_root_path())
                .arg("--bundle")
                .arg(self.path(bundle))
                .arg(artifact),
        )
    }

    /// Nothing cosign did went past loopback.
    #[track_caller]
    fn assert_offline(&self) {
        assert_eq!(self.sigstore.network_attempts(), Vec::<String>::new());
    }
}

#[track_caller]
fn refused(run: Run, reason: &str) {
    assert_ne!(run.code, 0, "accepted:\n{}", run.all());
    assert!(
        run.all().contains(reason),
        "want {reason:?} in:\n{}",
        run.all()
    );
}

/// Every form the token could leak in: whole, and each of its three parts.
#[track_caller]
fn assert_no_token(text: &str, token: &str) {
    assert!(!text.contains(token), "the token leaked into: {text}");
    for part in token.split('.') {
        assert!(
            !text.contains(part),
            "part of the token leaked into: {text}"
        );
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn keyless_blob_bundles_verify_in_vouch_and_cosign() {
    let b = Bench::new();
    let token = b.sigstore.email_token(ALICE);
    let blob = b"an artifact signed keyless\n";
    std::fs::write(b.path("blob.txt"), blob).expect("blob");
    runtime().block_on(async {
        let signer = b.signer(&token).await.expect("signer");
        assert_eq!(signer.identity().subject, ALICE);
        assert_eq!(signer.identity().issuer, b.sigstore.oidc_issuer());
        assert_eq!(signer.certificate().chain_pem.len(), 2);
        assert_no_token(&format!("{signer:?}"), &token);

        let signed = signer.sign_message(blob).await.expect("bundle");
        assert_eq!(signed.timestamps, 1);
        assert_eq!(signed.log_entries.len(), 1);
        assert_eq!(signed.log_entries[0].kind, "hashedrekord");
        std::fs::write(b.path("blob.sigstore.json"), &signed.json).expect("write");
        let v: Value = serde_json::from_slice(&signed.json).expect("JSON");
        let entry = &v["verificationMaterial"]["tlogEntries"][0];
        assert!(
            entry["inclusionProof"]["checkpoint"]["envelope"].is_string(),
            "{v:#}"
        );
        assert!(entry["inclusionPromise"]["signedEntryTimestamp"].is_string());
        assert_eq!(entry["logIndex"], "1");

        // Another signature of the same run: one certificate, two entries.
        let again = signer
            .sign_message(b"a second artifact")
            .await
            .expect("bundle");
        assert_eq!(again.log_entries[0].log_index, 2);

        // The same message again: ECDSA here is deterministic (RFC 6979), so the log already
        // holds this entry, answers 409 and where it is; the existing entry is used.
        let repeat = signer.sign_message(blob).await.expect("repeat");
        assert_eq!(repeat.log_entries[0].log_index, 1);
        assert_eq!(repeat.log_entries[0].uuid, signed.log_entries[0].uuid);
    });
    let rekor: Vec<(String, u16)> = b
        .sigstore
        .requests_to("rekor")
        .into_iter()
        .map(|e| (e.method, e.status))
        .collect();
    assert_eq!(
        rekor,
        [
            ("POST".to_string(), 201),
            ("POST".to_string(), 201),
            ("POST".to_string(), 409),
            ("GET".to_string(), 200),
        ]
    );
    assert_eq!(b.sigstore.requests_to("fulcio").len(), 1);
    assert_eq!(b.sigstore.requests_to("tsa").len(), 3);

    let blob_path = b.path("blob.txt").display().to_string();
    let ok = b
        .vouch_verify_bundle("blob.sigstore.json", &blob_path, ALICE)
        .expect_code(0)
        .json();
    assert_eq!(ok["identity"]["subject"], ALICE);
    assert_eq!(ok["log_entries"][0]["kind"], "hashedrekord 0.0.1");
    refused(
        b.vouch_verify_bundle("blob.sigstore.json", &blob_path, "bob@example.com"),
        "does not match",
    );
    Run::of(
        b.cosign()
            .args(["verify-blob", "--new-bundle-format", "--trusted-root"])
            .arg(b.sigstore.trusted_root_path())
            .args(["--certificate-identity", ALICE])
            .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
            .arg("--bundle")
            .arg(b.path("blob.sigstore.json"))
            .arg(&blob_path),
    )
    .expect_code(0);
    std::fs::write(b.path("other.txt"), b"not what was signed").expect("other");
    refused(
        Run::of(
            b.cosign()
                .args(["verify-blob", "--new-bundle-format", "--trusted-root"])
                .arg(b.sigstore.trusted_root_path())
                .args(["--certificate-identity", ALICE])
                .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
                .arg("--bundle")
                .arg(b.path("blob.sigstore.json"))
                .arg(b.path("other.txt")),
        ),
        "",
    );
    b.assert_offline();
}

#[test]
fn keyless_image_signatures_verify_in_vouch_and_cosign() {
    let b = Bench::new();
    let (img, repo, reference) = b.push("keyless by vouch");
    let token = b.sigstore.token(WORKFLOW);
    let digest_hex = img.digest().trim_start_matches("sha256:").to_string();
    let digest: [u8; 32] = hex::decode(&digest_hex)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let payload = vouch_oci::payload::build(
        &repo,
        &img.digest().parse().expect("digest"),
        &BTreeMap::new(),
    );
    let annotations = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    let statement = vouch_sigstore::build::image_statement(&digest_hex, Some(&repo), &annotations);

    let (layer, dsse) = runtime().block_on(async {
        let signer = b.signer(&token).await.expect("signer");
        assert_eq!(signer.identity().subject, WORKFLOW);
        let layer = signer.sign_sig_layer(&payload).await.expect(".sig layer");
        let dsse = signer
            .sign_dsse(IN_TOTO, &statement, digest)
            .await
            .expect("DSSE bundle");
        (layer, dsse)
    });

    // The .sig layer: cosign 2.x's annotations, exactly its shapes.
    let a = &layer.annotations;
    let mut keys: Vec<&str> = a.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "dev.cosignproject.cosign/signature",
            "dev.sigstore.cosign/bundle",
            "dev.sigstore.cosign/certificate",
            "dev.sigstore.cosign/chain",
            "dev.sigstore.cosign/rfc3161timestamp",
        ]
    );
    assert_eq!(
        STANDARD
            .decode(&a["dev.cosignproject.cosign/signature"])
            .expect("base64"),
        layer.signature
    );
    assert_eq!(
        a["dev.sigstore.cosign/chain"]
            .matches("BEGIN CERTIFICATE")
            .count(),
        2
    );
    let rekor: Value = serde_json::from_str(&a["dev.sigstore.cosign/bundle"]).expect("JSON");
    let mut rekor_keys: Vec<&str> = rekor
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    rekor_keys.sort_unstable();
    assert_eq!(rekor_keys, ["Payload", "SignedEntryTimestamp"]);
    let body: Value = serde_json::from_slice(
        &STANDARD
            .decode(rekor["Payload"]["body"].as_str().expect("body"))
            .expect("base64"),
    )
    .expect("body JSON");
    assert_eq!(
        body["spec"]["data"]["hash"]["value"],
        hex::encode(sha2::Sha256::digest(&payload))
    );
    let stamp: Value =
        serde_json::from_str(&a["dev.sigstore.cosign/rfc3161timestamp"]).expect("JSON");
    assert!(stamp["SignedRFC3161Timestamp"].is_string());

    b.write_sig_manifest(&img, &payload, a);
    b.sigstore
        .cosign_verify(
            &b.sigstore.dir().join("home"),
            &reference,
            WORKFLOW,
            b.sigstore.oidc_issuer(),
            &["--use-signed-timestamps"],
        )
        .expect_code(0);
    refused(
        b.sigstore.cosign_verify(
            &b.sigstore.dir().join("home"),
            &reference,
            "https://github.com/example/other",
            b.sigstore.oidc_issuer(),
            &[],
        ),
        "none of the expected identities matched",
    );
    let verify = |identity: &str| {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "verify", &reference])
                .args(["--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
                .arg("--trusted-root")
                .arg(b.sigstore.trusted_root_path()),
        )
    };
    verify(WORKFLOW).expect_code(0);
    assert_eq!(verify("https://github.com/example/other").code, 1);

    // The DSSE bundle: cosign v3's image signature statement, logged as a dsse entry.
    assert_eq!(dsse.log_entries[0].kind, "dsse");
    std::fs::write(b.path("image.sigstore.json"), &dsse.json).expect("write");
    let ok = b
        .vouch_verify_bundle("image.sigstore.json", img.digest(), WORKFLOW)
        .expect_code(0)
        .json();
    assert_eq!(ok["log_entries"][0]["kind"], "dsse 0.0.1");
    refused(
        b.vouch_verify_bundle(
            "image.sigstore.json",
            &format!("sha256:{}", "0".repeat(64)),
            WORKFLOW,
        ),
        "subject",
    );
    std::fs::write(b.path("manifest.json"), &img.manifest.bytes).expect("manifest");
    Run::of(
        b.cosign()
            .args([
                "verify-blob-attestation",
                "--new-bundle-format",
                "--trusted-root",
            ])
            .arg(b.sigstore.trusted_root_path())
            .args(["--type", "https://sigstore.dev/cosign/sign/v1"])
            .args(["--certificate-identity", WORKFLOW])
            .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
            .arg("--bundle")
            .arg(b.path("image.sigstore.json"))
            .arg(b.path("manifest.json")),
    )
    .expect_code(0);
    b.assert_offline();
}

#[test]
fn without_a_timestamp_authority_the_log_alone_proves_the_time() {
    let b = Bench::new();
    let mut options = b.options();
    options.endpoints.tsa.clear();
    let token = b.sigstore.email_token(ALICE);
    runtime().block_on(async {
        let signer = b.signer_with(&token, &options).await.expect("signer");
        let signed = signer
            .sign_message(b"untimed by a TSA")
            .await
            .expect("bundle");
        assert_eq!(signed.timestamps, 0);
        let v: Value = serde_json::from_slice(&signed.json).expect("JSON");
        assert!(
            v["verificationMaterial"]
                .get("timestampVerificationData")
                .is_none()
        );
        let layer = signer.sign_sig_layer(b"payload").await.expect("layer");
        assert!(
            !layer
                .annotations
                .contains_key("dev.sigstore.cosign/rfc3161timestamp")
        );
    });
    assert!(b.sigstore.requests_to("tsa").is_empty());
}

/// Which error a case expects.
type Want = fn(&KeylessError) -> bool;

/// What every refusal must leave behind: an error, no material.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, KeylessError>,
    want: Want,
    token: &str,
) -> KeylessError {
    let err = result.expect_err("refused, nothing returned");
    assert!(want(&err), "unexpected error: {err:?}");
    assert_no_token(&format!("{err} {err:?}"), token);
    err
}

#[test]
fn hostile_fulcio_is_refused_before_anything_is_signed() {
    for (hostile, want) in [
        (
            Hostile {
                fulcio_other_identity: true,
                ..Hostile::default()
            },
            (|e: &KeylessError| matches!(e, KeylessError::CertificateIdentityMismatch { found, .. } if found.contains(OTHER_EMAIL)))
                as fn(&KeylessError) -> bool,
        ),
        (
            Hostile {
                fulcio_untrusted_ca: true,
                ..Hostile::default()
            },
            |e: &KeylessError| matches!(e, KeylessError::UntrustedCertificate { reason } if reason.starts_with("certificate: ")),
        ),
    ] {
        let b = Bench::hostile(hostile);
        let token = b.sigstore.email_token(ALICE);
        let err = assert_refused(runtime().block_on(b.signer(&token)), want, &token);
        assert_eq!(err.exit_code(), 1);
        assert!(b.sigstore.requests_to("rekor").is_empty(), "{hostile:?}");
        assert!(b.sigstore.requests_to("tsa").is_empty(), "{hostile:?}");
    }
}

#[test]
fn hostile_logs_are_refused_and_nothing_is_returned() {
    let cases: [(Hostile, Want); 6] = [
        (
            Hostile {
                rekor_other_signature: true,
                ..Hostile::default()
            },
            |e| matches!(e, KeylessError::LogEntryMismatch { what } if what == "another signature"),
        ),
        (
            Hostile {
                rekor_bad_inclusion_proof: true,
                ..Hostile::default()
            },
            |e| matches!(e, KeylessError::InclusionProof { .. }),
        ),
        (
            Hostile {
                rekor_bad_set: true,
                ..Hostile::default()
            },
            |e| matches!(e, KeylessError::SignedEntryTimestamp { .. }),
        ),
        (
            Hostile {
                rekor_bad_checkpoint: true,
                ..Hostile::default()
            },
            |e| matches!(e, KeylessError::InclusionProof { reason } if reason.contains("checkpoint")),
        ),
        (
            Hostile {
                rekor_time_after_expiry: true,
                ..Hostile::default()
            },
            |e| matches!(e, KeylessError::LoggedOutsideCertificateValidity { .. }),
        ),
        (
            Hostile {
                rekor_down: true,
                ..Hostile::default()
            },
            |e| {
                matches!(
                    e,
                    KeylessError::Unreachable {
                        service: Service::Rekor,
                        ..
                    }
                ) && e.exit_code() == 3
            },
        ),
    ];
    let statement = vouch_sigstore::build::image_statement(&"0".repeat(64), None, &BTreeMap::new());
    for (hostile, want) in cases {
        let b = Bench::new();
        let token = b.sigstore.email_token(ALICE);
        runtime().block_on(async {
            let signer = b.signer(&token).await.expect("honest Fulcio");
            b.sigstore.set_hostile(hostile);
            assert_refused(signer.sign_message(b"blob").await, want, &token);
            assert_refused(signer.sign_sig_layer(b"payload").await, want, &token);
            assert_refused(
                signer.sign_dsse(IN_TOTO, &statement, [0; 32]).await,
                want,
                &token,
            );
            // The same signer works once the log is honest again.
            b.sigstore.set_hostile(Hostile::default());
            signer
                .sign_message(b"blob, honestly")
                .await
                .expect("honest log");
        });
        if hostile.rekor_down {
            // Each failed request was retried once (a 503 says "try again").
            let refused = b
                .sigstore
                .requests_to("rekor")
                .iter()
                .filter(|e| e.status == 503)
                .count();
            assert_eq!(refused, 6, "{hostile:?}");
        }
    }
}

#[test]
fn rekor_v2_bundles_carry_a_proof_and_a_timestamp_and_verify() {
    let b = Bench::new();
    let token = b.sigstore.email_token(ALICE);
    let blob = b"an artifact logged in Rekor v2\n";
    std::fs::write(b.path("blob.txt"), blob).expect("blob");
    let statement =
        vouch_sigstore::build::image_statement(&"ab".repeat(32), None, &BTreeMap::new());
    runtime().block_on(async {
        let signer = b.signer_with(&token, &b.options_v2()).await.expect("signer");
        let signed = signer.sign_message(blob).await.expect("bundle");
        assert_eq!((signed.timestamps, signed.log_entries.len()), (1, 1));
        std::fs::write(b.path("blob.sigstore.json"), &signed.json).expect("write");
        let v: Value = serde_json::from_slice(&signed.json).expect("JSON");
        let entry = &v["verificationMaterial"]["tlogEntries"][0];
        assert_eq!(entry["kindVersion"], json!({"kind": "hashedrekord", "version": "0.0.2"}));
        assert_eq!(entry["logIndex"], "1");
        assert!(entry.get("integratedTime").is_none(), "{entry:#}");
        assert!(entry.get("inclusionPromise").is_none(), "{entry:#}");
        let checkpoint = entry["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .expect("checkpoint");
        assert!(
            checkpoint.starts_with(&format!("{}\n2\n", vouch_e2e::sigstore::LOG_V2_NAME)),
            "{checkpoint}"
        );
        assert!(
            v["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
                ["signedTimestamp"]
                .is_string()
        );

        // The same message again (RFC 6979: the same signature): the log answers 409 with
        // the index only, no proof to store; refused, saying what to do.
        let err = signer.sign_message(blob).await.expect_err("repeat");
        assert!(
            matches!(&err, KeylessError::LogRefused { status: 409, message }
                if message.contains("index 1") && message.contains("new run")),
            "{err:?}"
        );

        let dsse = signer
            .sign_dsse(IN_TOTO, &statement, [0xab; 32])
            .await
            .expect("DSSE bundle");
        assert_eq!(dsse.log_entries[0].kind, "dsse");
        assert_eq!(dsse.log_entries[0].api_version, "0.0.2");
        std::fs::write(b.path("dsse.sigstore.json"), &dsse.json).expect("write");

        // cosign 2.x's `.sig` annotations need a SET: refused before anything is logged.
        let logged = b.sigstore.rekor_v2_size();
        let err = signer
            .sign_sig_layer(b"payload")
            .await
            .expect_err("no .sig layer with Rekor v2");
        assert!(
            matches!(&err, KeylessError::Config { reason } if reason.contains("signed entry timestamp")),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 2);
        assert_eq!(b.sigstore.rekor_v2_size(), logged);
    });
    assert!(b.sigstore.requests_to("rekor").is_empty());
    let v2: Vec<(String, u16)> = b
        .sigstore
        .requests_to("rekor-v2")
        .into_iter()
        .map(|e| (e.method, e.status))
        .collect();
    assert_eq!(
        v2,
        [
            ("POST".to_string(), 201),
            ("POST".to_string(), 409),
            ("POST".to_string(), 201)
        ]
    );
    assert_eq!(b.sigstore.requests_to("tsa").len(), 2);

    let blob_path = b.path("blob.txt").display().to_string();
    let ok = b
        .vouch_verify_bundle("blob.sigstore.json", &blob_path, ALICE)
        .expect_code(0)
        .json();
    assert_eq!(ok["log_entries"][0]["kind"], "hashedrekord 0.0.2");
    assert_eq!(
        ok["log_entries"][0]["log"]
            .as_str()
            .map(|l| l.trim_end_matches('/')),
        Some(b.sigstore.rekor_v2_url())
    );
    refused(
        b.vouch_verify_bundle("blob.sigstore.json", &blob_path, "bob@example.com"),
        "does not match",
    );
    let ok = b
        .vouch_verify_bundle(
            "dsse.sigstore.json",
            &format!("sha256:{}", "ab".repeat(32)),
            ALICE,
        )
        .expect_code(0)
        .json();
    assert_eq!(ok["log_entries"][0]["kind"], "dsse 0.0.2");
    // cosign 2.5 reads no Rekor v2 entry at all (the docs say so): it refuses this bundle
    // exactly as it refuses the public Rekor v2 conformance vector.
    let vector = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors/sigstore-conformance/test/assets/bundle-verify/rekor2-happy-path");
    let cosign_says = |root: &std::path::Path, bundle: &std::path::Path| {
        let run = Run::of(
            b.cosign()
                .args([
                    "verify-blob",
                    "--new-bundle-format",
                    "--use-signed-timestamps",
                ])
                .arg("--trusted-root")
                .arg(root)
                .args(["--certificate-identity-regexp", ".*"])
                .args(["--certificate-oidc-issuer-regexp", ".*"])
                .arg("--bundle")
                .arg(bundle)
                .arg(&blob_path),
        );
        assert_eq!(run.code, 1, "{}", run.all());
        run.stderr.lines().next().unwrap_or_default().to_string()
    };
    assert_eq!(
        cosign_says(
            b.sigstore.trusted_root_path(),
            &b.path("blob.sigstore.json")
        ),
        cosign_says(
            &vector.join("trusted_root.json"),
            &vector.join("bundle.sigstore.json")
        )
    );
    b.assert_offline();
}

#[test]
fn rekor_v2_without_a_timestamp_authority_is_refused_before_any_request() {
    let b = Bench::new();
    let mut options = b.options_v2();
    options.endpoints.tsa.clear();
    let token = b.sigstore.email_token(ALICE);
    let err = assert_refused(
        runtime().block_on(b.signer_with(&token, &options)),
        |e| matches!(e, KeylessError::Config { reason } if reason.contains("timestamp authority")),
        &token,
    );
    assert_eq!(err.exit_code(), 2);
    assert!(b.sigstore.requests().is_empty());
}

#[test]
fn hostile_rekor_v2_is_refused_and_nothing_is_returned() {
    let cases: [(Hostile, Want); 4] = [
        (
            Hostile {
                rekor_other_signature: true,
                ..Hostile::default()
            },
            |e| matches!(e, KeylessError::LogEntryMismatch { what } if what == "another signature"),
        ),
        (
            Hostile {
                rekor_bad_inclusion_proof: true,
                ..Hostile::default()
            },
            |e| matches!(e, KeylessError::InclusionProof { .. }),
        ),
        (
            Hostile {
                rekor_bad_checkpoint: true,
                ..Hostile::default()
            },
            |e| matches!(e, KeylessError::InclusionProof { reason } if reason.contains("checkpoint")),
        ),
        (
            Hostile {
                rekor_down: true,
                ..Hostile::default()
            },
            |e| {
                matches!(
                    e,
                    KeylessError::Unreachable {
                        service: Service::Rekor,
                        ..
                    }
                ) && e.exit_code() == 3
            },
        ),
    ];
    let statement = vouch_sigstore::build::image_statement(&"0".repeat(64), None, &BTreeMap::new());
    for (hostile, want) in cases {
        let b = Bench::new();
        let token = b.sigstore.email_token(ALICE);
        runtime().block_on(async {
            let signer = b
                .signer_with(&token, &b.options_v2())
                .await
                .expect("honest Fulcio");
            b.sigstore.set_hostile(hostile);
            assert_refused(signer.sign_message(b"blob").await, want, &token);
            assert_refused(
                signer.sign_dsse(IN_TOTO, &statement, [0; 32]).await,
                want,
                &token,
            );
            b.sigstore.set_hostile(Hostile::default());
            signer
                .sign_message(b"blob, honestly")
                .await
                .expect("honest log");
        });
        assert!(b.sigstore.requests_to("rekor").is_empty(), "{hostile:?}");
    }
}

#[test]
fn token_problems_are_clear_errors_before_any_request() {
    let b = Bench::new();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut claims = b.sigstore.claims(WORKFLOW);
        f(&mut claims);
        b.sigstore.sign_claims(&claims)
    };
    let expired = with(&|c| {
        c["exp"] = (now() - 60).into();
        c["iat"] = (now() - 660).into();
        c["nbf"] = (now() - 660).into();
    });
    let wrong_audience = with(&|c| c["aud"] = "not-sigstore".into());
    let unverified = with(&|c| {
        c["email"] = ALICE.into();
        c["email_verified"] = false.into();
    });
    let mut http_refused = b.options();
    http_refused.transport.allow_http = false;
    let cases: [(&str, &KeylessOptions, Want); 4] = [
        (&expired, &b.options(), |e| {
            matches!(e, KeylessError::TokenExpired { .. }) && e.to_string().contains("expired at")
        }),
        (
            &wrong_audience,
            &b.options(),
            |e| matches!(e, KeylessError::WrongAudience { found, .. } if found == &["not-sigstore"]),
        ),
        (&unverified, &b.options(), |e| {
            matches!(e, KeylessError::EmailNotVerified { .. })
        }),
        (
            &b.sigstore.token(WORKFLOW),
            &http_refused,
            |e| matches!(e, KeylessError::Config { reason } if reason.contains("plain HTTP")),
        ),
    ];
    for (token, options, want) in cases {
        let err = assert_refused(
            runtime().block_on(b.signer_with(token, options)),
            want,
            token,
        );
        assert_eq!(err.exit_code(), 2, "{err}");
    }
    assert_eq!(b.sigstore.requests().len(), 0, "a request was made");

    // Fulcio's own refusal: a token from an issuer it does not trust.
    let other = Sigstore::start();
    let token = other.token(WORKFLOW);
    let err = assert_refused(
        runtime().block_on(b.signer(&token)),
        |e| matches!(e, KeylessError::FulcioRefused { status: 401, message } if message.contains("not trusted")),
        &token,
    );
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    assert!(b.sigstore.requests_to("rekor").is_empty());
}

/// GitHub Actions' token endpoint (unreachable here): answers `{"value": TOKEN}` to a GET
/// carrying the request token, and records each request line and authorization header.
struct ActionsEndpoint {
    url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl ActionsEndpoint {
    fn start(token: String, status: u16) -> ActionsEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/_apis/distributedtask/token?api-version=2.0",
            listener.local_addr().expect("addr")
        );
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let mut auth = String::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        auth = value.trim().to_string();
                    }
                }
                record
                    .lock()
                    .expect("lock")
                    .push((line.trim().to_string(), auth));
                let body = json!({"count": 1, "value": token}).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        ActionsEndpoint { url, seen }
    }
}

#[test]
fn github_actions_ambient_tokens_sign_and_never_show() {
    let b = Bench::new();
    // The stand-in certifies URI subjects only, so its workflow token's `sub` is the URI
    // Fulcio derives from `job_workflow_ref` for GitHub.
    let mut claims = b.sigstore.claims(WORKFLOW);
    claims["job_workflow_ref"] = "example/app/.github/workflows/release.yml@refs/heads/main".into();
    let token = b.sigstore.sign_claims(&claims);
    let request_token = "actions-request-token-0123456789";
    let endpoint = ActionsEndpoint::start(token.clone(), 200);
    let options = b.options();
    let env = |name: &str| match name {
        "ACTIONS_ID_TOKEN_REQUEST_URL" => Some(endpoint.url.clone()),
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN" => Some(request_token.to_string()),
        "GITHUB_ACTIONS" => Some("true".into()),
        _ => None,
    };
    runtime().block_on(async {
        let found = find_token(&TokenLookup {
            explicit: None,
            env: &env,
            audience: SIGSTORE_AUDIENCE,
            transport: &options.transport,
        })
        .await
        .expect("token");
        assert_eq!(found.source(), TokenSource::GitHubActions);
        assert_eq!(found.expected_identity().subject, WORKFLOW);
        let shown = format!("{found:?}");
        assert_no_token(&shown, &token);
        assert!(!shown.contains(request_token));
        let signer = KeylessSigner::start(&found, &options, b.verifier.clone())
            .await
            .expect("signer");
        assert_eq!(signer.identity().subject, WORKFLOW);
        signer.sign_message(b"from CI").await.expect("signed");
    });
    let seen = endpoint.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].0.contains("api-version=2.0&audience=sigstore"),
        "{seen:?}"
    );
    assert_eq!(seen[0].1, format!("Bearer {request_token}"));

    // A refusal from the endpoint shows neither token.
    let denied = ActionsEndpoint::start(token.clone(), 403);
    let env = |name: &str| match name {
        "ACTIONS_ID_TOKEN_REQUEST_URL" => Some(denied.url.clone()),
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN" => Some(request_token.to_string()),
        _ => None,
    };
    let err = runtime()
        .block_on(find_token(&TokenLookup {
            explicit: None,
            env: &env,
            audience: SIGSTORE_AUDIENCE,
            transport: &options.transport,
        }))
        .expect_err("403");
    assert!(matches!(err, KeylessError::AmbientToken { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(request_token), "{shown}");
    assert_no_token(&shown, &token);
    assert!(shown.contains("HTTP 403"), "{shown}");
}

#[test]
fn keyless_att_layers_record_their_envelope_and_refuse_another() {
    let b = Bench::new();
    let (img, repo, _) = b.push("keyless .att by vouch");
    let token = b.sigstore.token(WORKFLOW);
    let digest_hex = img.digest().trim_start_matches("sha256:").to_string();
    let digest: [u8; 32] = hex::decode(&digest_hex)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let statement =
        vouch_sigstore::build::image_statement(&digest_hex, Some(&repo), &BTreeMap::new());
    let (layer, dsse) = runtime().block_on(async {
        let signer = b.signer(&token).await.expect("signer");
        let intoto = signer
            .sign_att_layer(IN_TOTO, &statement, digest, AttestationEntry::Intoto)
            .await
            .expect("intoto .att layer");
        let dsse = signer
            .sign_att_layer(IN_TOTO, &statement, digest, AttestationEntry::Dsse)
            .await
            .expect("dsse .att layer");
        (intoto, dsse)
    });
    assert_eq!(dsse.log_entry.kind, "dsse");
    let mut keys: Vec<&str> = layer.annotations.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "dev.sigstore.cosign/bundle",
            "dev.sigstore.cosign/certificate",
            "dev.sigstore.cosign/chain",
        ]
    );
    assert_eq!(layer.log_entry.kind, "intoto");
    let policy = IdentityPolicy::Identity {
        subject: WORKFLOW.into(),
        issuer: b.sigstore.oidc_issuer().into(),
    };
    let sigil = SigLayer::from_annotations(&layer.annotations).expect("keyless");
    let judge = |envelope: &[u8], digest: [u8; 32]| {
        verify_att_layer(
            &sigil,
            envelope,
            &Artifact::Digest {
                algorithm: HashAlgorithm::Sha256,
                digest: digest.to_vec(),
            },
            &policy,
            &b.root,
            &VerifyOptions::default(),
        )
    };
    judge(&layer.envelope, digest).expect("the layer verifies");
    let dsse_layer = SigLayer::from_annotations(&dsse.annotations).expect("keyless");
    verify_att_layer(
        &dsse_layer,
        &dsse.envelope,
        &Artifact::Digest {
            algorithm: HashAlgorithm::Sha256,
            digest: digest.to_vec(),
        },
        &policy,
        &b.root,
        &VerifyOptions::default(),
    )
    .expect("the dsse-logged layer verifies");

    // The same envelope, written differently: not the bytes the log recorded.
    let mut reformatted = layer.envelope.clone();
    reformatted.push(b' ');
    let e = judge(&reformatted, digest).expect_err("another envelope");
    assert!(e.to_string().contains("another envelope"), "{e}");
    // A statement about another image.
    assert!(judge(&layer.envelope, [0; 32]).is_err());
}
