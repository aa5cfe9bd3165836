//! Offline Sigstore bundle verification against the sigstore-conformance suite and the
//! bundle sets of sigstore-python, sigstore-js, sigstore-go, sigstore-rs and cosign
//! (`tests/vectors`, expected outcomes from its README).
//!
//! Every case runs through `vouch_sigstore::verify_bundle` directly; conformance cases run
//! twice, with the artifact's bytes and with its `sha256:` digest, as the harness does. A
//! wrong result fails the test unless the case is in `SKIPS` with a reason. The summary is
//! written straight to stderr so it shows without `--nocapture`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use vouch_sigstore::{Artifact, HashAlgorithm, IdentityPolicy, TrustedRoot, verify_bundle};

/// Cases whose expected result we deliberately do not meet, by run id, with the reason.
const SKIPS: &[(&str, &str)] = &[];

const BEACON_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GHA_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GITHUB_OAUTH: &str = "https://github.com/login/oauth";
const GOOGLE: &str = "https://accounts.google.com";

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

fn prod_root() -> PathBuf {
    vectors().join("sigstore-python/sigstore/_store/tuf-repo-cdn.sigstore.dev/trusted_root.json")
}

fn staging_root() -> PathBuf {
    vectors().join("sigstore-python/sigstore/_store/tuf-repo-cdn.sigstage.dev/trusted_root.json")
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[derive(Clone)]
enum Policy {
    Identity(String, String),
    KeyFile(PathBuf),
}

#[derive(Clone)]
enum Root {
    File(PathBuf),
    /// The staging root with its timestamp authorities replaced by this one (CA JSON).
    StagingWithTsa(PathBuf),
    /// The staging root with production's Fulcio CAs and CT logs (a production certificate
    /// logged to staging Rekor, timestamped by the staging TSA).
    StagingWithProdFulcio,
}

struct Case {
    set: &'static str,
    id: String,
    bundle: PathBuf,
    artifact: Artifact,
    policy: Policy,
    root: Root,
    expect_pass: bool,
}

fn identity(subject: &str, issuer: &str) -> Policy {
    Policy::Identity(subject.to_string(), issuer.to_string())
}

fn sha256_digest(data: &[u8]) -> Artifact {
    Artifact::Digest {
        algorithm: HashAlgorithm::Sha256,
        digest: Sha256::digest(data).to_vec(),
    }
}

fn hex_digest(algorithm: HashAlgorithm, hex_value: &str) -> Artifact {
    Artifact::Digest {
        algorithm,
        digest: hex::decode(hex_value).expect("hex digest"),
    }
}

/// The single subject digest of a DSSE bundle's statement, checked against the README's
/// abbreviated `prefix…suffix`, so the README (not the bundle) decides the artifact.
fn subject_digest(bundle: &Path, alg: &str, prefix: &str, suffix: &str) -> Artifact {
    let b: serde_json::Value = serde_json::from_slice(&read(bundle)).expect("bundle json");
    let payload = b["dsseEnvelope"]["payload"].as_str().expect("payload");
    use base64::Engine as _;
    let stmt: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(payload)
            .expect("b64"),
    )
    .expect("statement");
    let value = stmt["subject"][0]["digest"][alg].as_str().expect("digest");
    assert!(
        value.starts_with(prefix) && value.ends_with(suffix),
        "{}: subject digest {value} is not the README's {prefix}…{suffix}",
        bundle.display()
    );
    let algorithm = match alg {
        "sha256" => HashAlgorithm::Sha256,
        "sha512" => HashAlgorithm::Sha512,
        other => panic!("unexpected {other}"),
    };
    hex_digest(algorithm, value)
}

fn load_root(root: &Root) -> Result<TrustedRoot, String> {
    let json = match root {
        Root::File(p) => read(p),
        Root::StagingWithTsa(p) => {
            let mut v: serde_json::Value =
                serde_json::from_slice(&read(&staging_root())).map_err(|e| e.to_string())?;
            let tsa: serde_json::Value =
                serde_json::from_slice(&read(p)).map_err(|e| e.to_string())?;
            v["timestampAuthorities"] = serde_json::Value::Array(vec![tsa]);
            serde_json::to_vec(&v).map_err(|e| e.to_string())?
        }
        Root::StagingWithProdFulcio => {
            let mut v: serde_json::Value =
                serde_json::from_slice(&read(&staging_root())).map_err(|e| e.to_string())?;
            let prod: serde_json::Value =
                serde_json::from_slice(&read(&prod_root())).map_err(|e| e.to_string())?;
            v["certificateAuthorities"] = prod["certificateAuthorities"].clone();
            v["ctlogs"] = prod["ctlogs"].clone();
            serde_json::to_vec(&v).map_err(|e| e.to_string())?
        }
    };
    TrustedRoot::from_json(&json).map_err(|e| e.to_string())
}

fn run(case: &Case) -> Result<String, String> {
    let root = load_root(&case.root)?;
    let policy = match &case.policy {
        Policy::Identity(s, i) => IdentityPolicy::Identity {
            subject: s.clone(),
            issuer: i.clone(),
        },
        Policy::KeyFile(p) => {
            IdentityPolicy::Key(vouch_keys::load_public_key(p).map_err(|e| format!("key: {e}"))?)
        }
    };
    let bundle = read(&case.bundle);
    verify_bundle(&bundle, &case.artifact, &policy, &root)
        .map(|v| match v.signing_time {
            Some(t) => format!("signed at {t}"),
            None => "signed (untimed)".to_string(),
        })
        .map_err(|e| e.to_string())
}

fn conformance_cases() -> Vec<Case> {
    let base = vectors().join("sigstore-conformance/test/assets/bundle-verify");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .expect("conformance assets")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let name = dir.file_name().expect("name").to_string_lossy().to_string();
        let artifact_path = if dir.join("artifact").exists() {
            dir.join("artifact")
        } else {
            base.join("a.txt")
        };
        let text = |f: &str, default: &str| {
            std::fs::read_to_string(dir.join(f))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| default.to_string())
        };
        let policy = if dir.join("key.pub").exists() {
            Policy::KeyFile(dir.join("key.pub"))
        } else {
            Policy::Identity(
                text("identity", BEACON_IDENTITY),
                text("issuer", GHA_ISSUER),
            )
        };
        let root = if dir.join("trusted_root.json").exists() {
            Root::File(dir.join("trusted_root.json"))
        } else {
            Root::File(prod_root())
        };
        let bytes = read(&artifact_path);
        for (input, artifact) in [
            ("path", Artifact::Bytes(bytes.clone())),
            ("digest", sha256_digest(&bytes)),
        ] {
            out.push(Case {
                set: "conformance",
                id: format!("{name}[{input}]"),
                bundle: dir.join("bundle.sigstore.json"),
                artifact,
                policy: policy.clone(),
                root: root.clone(),
                expect_pass: !name.ends_with("_fail"),
            });
        }
    }
    out
}

fn python_cases() -> Vec<Case> {
    let a = vectors().join("sigstore-python/test/assets");
    let stg = Root::File(staging_root());
    let prod = Root::File(prod_root());
    let tsa_root = Root::StagingWithTsa(a.join("tsa/ca.json"));
    let william = identity("william@yossarian.net", GITHUB_OAUTH);
    let file = |f: &str| Artifact::Bytes(read(&a.join(f)));
    let c = |id: &str, bundle: &str, artifact: Artifact, policy: Policy, root: &Root, pass| Case {
        set: "sigstore-python",
        id: id.to_string(),
        bundle: a.join(bundle),
        artifact,
        policy,
        root: root.clone(),
        expect_pass: pass,
    };
    let conformance_a = read(&vectors().join("sigstore-conformance/test/assets/a.txt"));
    vec![
        c(
            "bundle.txt (v0.1)",
            "bundle.txt.sigstore",
            file("bundle.txt"),
            identity("a@tny.town", GITHUB_OAUTH),
            &stg,
            true,
        ),
        c(
            "bundle.txt wrong identity",
            "bundle.txt.sigstore",
            file("bundle.txt"),
            identity("bad@ident.example.com", GITHUB_OAUTH),
            &stg,
            false,
        ),
        c(
            "bundle_v3.txt",
            "bundle_v3.txt.sigstore",
            file("bundle_v3.txt"),
            william.clone(),
            &stg,
            true,
        ),
        c(
            "bundle_v3_alt.txt",
            "bundle_v3_alt.txt.sigstore",
            file("bundle_v3_alt.txt"),
            william.clone(),
            &stg,
            true,
        ),
        c(
            "staging-rekor-v2.txt",
            "staging-rekor-v2.txt.sigstore.json",
            file("staging-rekor-v2.txt"),
            identity("jku@goto.fi", GITHUB_OAUTH),
            &stg,
            true,
        ),
        c(
            "a.dsse.staging-rekor-v2.txt",
            "a.dsse.staging-rekor-v2.txt.sigstore.json",
            Artifact::Bytes(conformance_a),
            identity(BEACON_IDENTITY, GHA_ISSUER),
            &stg,
            true,
        ),
        c(
            "tsa/bundle.txt",
            "tsa/bundle.txt.sigstore",
            file("tsa/bundle.txt"),
            identity("alexis.challande@trailofbits.com", GOOGLE),
            &tsa_root,
            true,
        ),
        c(
            "tsa/bundle.many_timestamp",
            "tsa/bundle.many_timestamp.sigstore",
            file("tsa/bundle.txt"),
            identity("alexis.challande@trailofbits.com", GOOGLE),
            &tsa_root,
            false,
        ),
        c(
            "tsa/bundle.duplicate",
            "tsa/bundle.duplicate.sigstore",
            file("tsa/bundle.txt"),
            identity("alexis.challande@trailofbits.com", GOOGLE),
            &tsa_root,
            false,
        ),
        c(
            "tsa/bundle.txt.late_timestamp",
            "tsa/bundle.txt.late_timestamp.sigstore",
            file("tsa/bundle.txt"),
            identity(
                "insecure-cloudtop-shared-user@cloudtop-prod-us-east.iam.gserviceaccount.com",
                GOOGLE,
            ),
            &Root::StagingWithProdFulcio,
            false,
        ),
        c(
            "bundle_cve_2022_36056",
            "bundle_cve_2022_36056.txt.sigstore",
            file("bundle_cve_2022_36056.txt"),
            william.clone(),
            &stg,
            false,
        ),
        c(
            "bundle_invalid_version",
            "bundle_invalid_version.txt.sigstore",
            file("bundle_invalid_version.txt"),
            william.clone(),
            &stg,
            false,
        ),
        c(
            "bundle_no_cert_v1",
            "bundle_no_cert_v1.txt.sigstore",
            file("bundle_no_cert_v1.txt"),
            william.clone(),
            &stg,
            false,
        ),
        c(
            "bundle_no_log_entry",
            "bundle_no_log_entry.txt.sigstore",
            file("bundle_no_log_entry.txt"),
            identity("alex.cameron@trailofbits.com", GOOGLE),
            &stg,
            false,
        ),
        c(
            "bundle_no_checkpoint",
            "bundle_no_checkpoint.txt.sigstore",
            file("bundle_no_checkpoint.txt"),
            william.clone(),
            &stg,
            false,
        ),
        c(
            "bundle_v3_no_signed_time",
            "bundle_v3_no_signed_time.txt.sigstore.json",
            file("bundle_v3_no_signed_time.txt"),
            william.clone(),
            &prod,
            false,
        ),
        c(
            "bundle_v3_github.whl (digest)",
            "bundle_v3_github.whl.sigstore",
            hex_digest(
                HashAlgorithm::Sha256,
                "c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201",
            ),
            identity(
                "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
                GHA_ISSUER,
            ),
            &prod,
            true,
        ),
        c(
            "integration/Python-3.12.5.tgz (v0.1, proof without checkpoint)",
            "integration/Python-3.12.5.tgz.sigstore",
            hex_digest(
                HashAlgorithm::Sha256,
                "38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405",
            ),
            identity("thomas@python.org", GOOGLE),
            &prod,
            false,
        ),
        c(
            "integration/bundle_v3.txt",
            "integration/bundle_v3.txt.sigstore",
            file("integration/bundle_v3.txt"),
            william,
            &stg,
            true,
        ),
    ]
}

fn js_cases() -> Vec<Case> {
    let dir = vectors().join("sigstore-js/tests/bundles");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("sigstore-js bundles")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bundle = dir.join(&n);
            Case {
                set: "sigstore-js",
                id: n,
                artifact: subject_digest(&bundle, "sha512", "7bea9f6e", "1f258b36"),
                bundle,
                policy: identity("brian@dehamer.com", GITHUB_OAUTH),
                root: Root::File(prod_root()),
                expect_pass: true,
            }
        })
        .collect()
}

fn go_cases() -> Vec<Case> {
    let d = vectors().join("sigstore-go/pkg/testing/data");
    let b = |n: &str| d.join("bundles").join(n);
    let prod = Root::File(prod_root());
    let scaffolding = Root::File(d.join("trusted-roots/scaffolding.json"));
    let othername_digest = || {
        hex_digest(
            HashAlgorithm::Sha256,
            "bc103b4a84971ef6459b294a2b98568a2bfb72cded09d4acd1e16366a401f95b",
        )
    };
    let case = |id: &str, bundle: PathBuf, artifact, policy, root: &Root, pass| Case {
        set: "sigstore-go",
        id: id.to_string(),
        bundle,
        artifact,
        policy,
        root: root.clone(),
        expect_pass: pass,
    };
    let provenance = b("sigstore.js@2.0.0-provenance.sigstore.json");
    let dsse = b("dsse.sigstore.json");
    vec![
        case(
            "sigstore.js@2.0.0-provenance",
            provenance.clone(),
            subject_digest(&provenance, "sha512", "46d4e2f7", "4c85cd3c"),
            identity(
                "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
                GHA_ISSUER,
            ),
            &prod,
            true,
        ),
        case(
            "dsse (3-cert chain)",
            dsse.clone(),
            subject_digest(&dsse, "sha512", "", ""),
            identity("brian@dehamer.com", GITHUB_OAUTH),
            &prod,
            true,
        ),
        case(
            "dsse-2sigs",
            b("dsse-2sigs.sigstore.json"),
            subject_digest(&b("dsse-2sigs.sigstore.json"), "sha512", "", ""),
            identity("brian@dehamer.com", GITHUB_OAUTH),
            &prod,
            false,
        ),
        case(
            "othername",
            b("othername.sigstore.json"),
            othername_digest(),
            identity("foo!oidc.local", "http://oidc.local:8080"),
            &scaffolding,
            true,
        ),
        case(
            "othername wrong identity",
            b("othername.sigstore.json"),
            othername_digest(),
            identity("foo@oidc.local", "http://oidc.local:8080"),
            &scaffolding,
            false,
        ),
        case(
            "public-key-validity",
            b("public-key-validity.sigstore.json"),
            Artifact::Bytes(b"test content".to_vec()),
            Policy::KeyFile(d.join("public-keys/public-key-validity.pem")),
            &Root::File(d.join("trusted-roots/public-key-validity.json")),
            false,
        ),
    ]
}

fn rs_cases() -> Vec<Case> {
    let bundle = vectors().join("sigstore-rs/tests/data/bundle_v03.json");
    let digest = subject_digest(&bundle, "sha256", "c811d58d", "0172");
    let signer = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
    let mut other = match &digest {
        Artifact::Digest { digest, .. } => digest.clone(),
        Artifact::Bytes(_) => unreachable!(),
    };
    other[0] ^= 1;
    vec![
        Case {
            set: "sigstore-rs",
            id: "bundle_v03 (cosign v3 image signature)".into(),
            bundle: bundle.clone(),
            artifact: digest.clone(),
            policy: identity(signer, GHA_ISSUER),
            root: Root::File(prod_root()),
            expect_pass: true,
        },
        Case {
            set: "sigstore-rs",
            id: "bundle_v03 other image digest".into(),
            bundle: bundle.clone(),
            artifact: Artifact::Digest {
                algorithm: HashAlgorithm::Sha256,
                digest: other,
            },
            policy: identity(signer, GHA_ISSUER),
            root: Root::File(prod_root()),
            expect_pass: false,
        },
        Case {
            set: "sigstore-rs",
            id: "bundle_v03 other issuer".into(),
            bundle,
            artifact: digest,
            policy: identity(signer, GITHUB_OAUTH),
            root: Root::File(prod_root()),
            expect_pass: false,
        },
    ]
}

fn cosign_cases() -> Vec<Case> {
    let d = vectors().join("cosign/pkg/cosign/testdata");
    let bundle = d.join("oci-attestation.sigstore.json");
    let digest = subject_digest(&bundle, "sha256", "732112270d7e", "0aa4");
    let root = Root::File(d.join("trusted_root_pgi.json"));
    let case = |id: &str, artifact, policy, pass| Case {
        set: "cosign",
        id: id.to_string(),
        bundle: bundle.clone(),
        artifact,
        policy,
        root: root.clone(),
        expect_pass: pass,
    };
    let other = hex_digest(
        HashAlgorithm::Sha256,
        "0000000000000000000000000000000000000000000000000000000000000000",
    );
    vec![
        case(
            "oci-attestation",
            digest.clone(),
            identity("cody@soyland.com", GITHUB_OAUTH),
            true,
        ),
        case(
            "oci-attestation wrong identity",
            digest,
            identity("wrong", GITHUB_OAUTH),
            false,
        ),
        case(
            "oci-attestation other image",
            other,
            identity("cody@soyland.com", GITHUB_OAUTH),
            false,
        ),
    ]
}

#[test]
fn bundle_vector_sets() {
    let sets: Vec<(&str, Vec<Case>)> = vec![
        ("conformance", conformance_cases()),
        ("sigstore-python", python_cases()),
        ("sigstore-js", js_cases()),
        ("sigstore-go", go_cases()),
        ("sigstore-rs", rs_cases()),
        ("cosign", cosign_cases()),
    ];
    let mut report = String::new();
    let mut wrong = Vec::new();
    let mut skipped_used = Vec::new();
    let mut conformance_ok = Vec::new();
    for (set, cases) in &sets {
        let (mut passed, mut total) = (0, 0);
        for case in cases {
            assert_eq!(&case.set, set);
            let got = run(case);
            let ok = got.is_ok() == case.expect_pass;
            let skip = SKIPS
                .iter()
                .find(|(id, _)| *id == format!("{set}/{}", case.id));
            total += 1;
            if ok {
                passed += 1;
            }
            if *set == "conformance" {
                conformance_ok.push(ok);
            }
            let verdict = match (&got, ok, skip) {
                (_, true, _) => "ok  ",
                (_, false, Some(_)) => "SKIP",
                (_, false, None) => "FAIL",
            };
            let detail = match &got {
                Ok(s) => format!("verified, {s}"),
                Err(e) => format!("refused: {e}"),
            };
            let expected = if case.expect_pass { "pass" } else { "fail" };
            report.push_str(&format!(
                "{verdict} {set}/{} (expect {expected}): {detail}\n",
                case.id
            ));
            match (ok, skip) {
                (false, None) => wrong.push(format!("{set}/{}: {detail}", case.id)),
                (false, Some((id, reason))) => skipped_used.push(format!("{id}: {reason}")),
                _ => {}
            }
        }
        report.push_str(&format!("== {set}: {passed}/{total} passed\n"));
    }
    // Conformance is also reported per case (both inputs right).
    let cases_ok = conformance_ok
        .chunks(2)
        .filter(|pair| pair.iter().all(|ok| *ok))
        .count();
    report.push_str(&format!(
        "conformance: {cases_ok}/{} cases passed (path and sha256: inputs)\n",
        conformance_ok.len() / 2
    ));
    for s in &skipped_used {
        report.push_str(&format!("skipped: {s}\n"));
    }
    let _ = std::io::stderr().write_all(report.as_bytes());
    assert!(
        wrong.is_empty(),
        "{} unexpected results:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn trusted_roots_parse_or_are_refused() {
    let a = vectors().join("sigstore-python/test/assets/trusted_root");
    for ok in [
        "trustedroot.v1.json",
        "trustedroot.v1.local_tlog_ed25519_rekor-tiles.json",
    ] {
        let root =
            TrustedRoot::from_json(&read(&a.join(ok))).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(root.counts(), (1, 2, 2, 1), "{ok}");
    }
    assert!(TrustedRoot::from_json(&read(&a.join("trustedroot.badtype.json"))).is_err());
    let missing_start = vectors().join(
        "sigstore-conformance/test/assets/bundle-verify/trust-root-tlog-missing-validity-start_fail/trusted_root.json",
    );
    let err = TrustedRoot::from_json(&read(&missing_start)).expect_err("no start");
    assert!(err.to_string().contains("no start"), "{err}");
    for root in [prod_root(), staging_root()] {
        TrustedRoot::from_json(&read(&root)).expect("snapshot parses");
    }
}
