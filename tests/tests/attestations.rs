//! Attestations with real cosign 2.5 on a real registry: `cosign attest` (vuln, SLSA v1,
//! custom) → `vouch attestations` verifies and judges them; `vouch attest` → `cosign
//! verify-attestation` accepts; both tools' attestations on one image all listed; and the
//! statements that must not count: about another digest, by an unlisted key, tampered; and
//! `vouch verify --policy` with `require.attestations`.

use std::path::{Path, PathBuf};

use vouch_e2e::clock::{now, rfc3339};
use vouch_e2e::image::Blob;
use vouch_e2e::peers::{Peers, peers};
use vouch_e2e::{Registry, Run, TEST_PASSWORD, TestImage, keygen, vouch};

const DAY: i64 = 86_400;

const NO_CRITICAL: &str = r#"predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) ||
  r.Vulnerabilities.all(v, v.Severity != "CRITICAL"))"#;

struct Bench {
    dir: tempfile::TempDir,
    reg: Registry,
    peers: &'static Peers,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        Bench {
            dir,
            reg: Registry::start(),
            peers: peers(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn push(&self, repo: &str, content: &str) -> (TestImage, String) {
        let img = TestImage::new(content);
        img.push(&self.reg, repo, "v1");
        let reference = format!("{}@{}", self.reg.image(repo), img.digest());
        (img, reference)
    }

    fn write(&self, name: &str, value: &serde_json::Value) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, serde_json::to_vec(value).expect("json")).expect("write");
        path
    }

    fn cosign_keys(&self, prefix: &str) -> (PathBuf, PathBuf) {
        let prefix = self.path(prefix);
        Run::of(
            self.peers
                .cosign(&self.path("home"))
                .args(["generate-key-pair", "--output-key-prefix"])
                .arg(&prefix)
                .env("COSIGN_PASSWORD", TEST_PASSWORD),
        )
        .expect_code(0);
        (prefix.with_extension("key"), prefix.with_extension("pub"))
    }

    fn cosign_attest(&self, key: &Path, kind: &str, predicate: &Path, reference: &str) {
        Run::of(
            self.peers
                .cosign(&self.path("home"))
                .args([
                    "attest",
                    "--tlog-upload=false",
                    "-y",
                    "--allow-insecure-registry",
                ])
                .args(["--type", kind, "--key"])
                .arg(key)
                .arg("--predicate")
                .arg(predicate)
                .arg(reference)
                .env("COSIGN_PASSWORD", TEST_PASSWORD),
        )
        .expect_code(0);
    }

    fn cosign_verify_attestation(&self, public: &Path, kind: &str, reference: &str) -> Run {
        Run::of(
            self.peers
                .cosign(&self.path("home"))
                .args([
                    "verify-attestation",
                    "--insecure-ignore-tlog=true",
                    "--allow-insecure-registry",
                    "--type",
                    kind,
                    "--key",
                ])
                .arg(public)
                .arg(reference),
        )
    }
}

fn vouch_attest(key: &Path, kind: &str, predicate: &Path, reference: &str) -> Run {
    Run::of(
        vouch()
            .args([
                "--allow-insecure-registry",
                "attest",
                reference,
                "--type",
                kind,
            ])
            .arg("--key")
            .arg(key)
            .arg("--predicate")
            .arg(predicate)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
}

fn attestations(reference: &str, keys: &[&Path], extra: &[&str]) -> Run {
    let mut cmd = vouch();
    cmd.args(["--allow-insecure-registry", "attestations", reference]);
    for k in keys {
        cmd.arg("--key").arg(k);
    }
    Run::of(cmd.args(extra))
}

/// A cosign vulnerability scan record finished at `finished`, with one finding.
fn scan(finished: i64, severity: &str) -> serde_json::Value {
    serde_json::json!({
        "invocation": {"uri": "", "event_id": "", "builder.id": "", "parameters": null},
        "scanner": {
            "uri": "pkg:github/aquasecurity/trivy@v0.58.0",
            "version": "0.58.0",
            "db": {"uri": "", "version": ""},
            "result": {"Results": [
                {"Target": "app", "Vulnerabilities": [{"VulnerabilityID": "CVE-2026-0001", "Severity": severity}]},
                {"Target": "os"}
            ]}
        },
        "metadata": {"scanStartedOn": rfc3339(finished - 60), "scanFinishedOn": rfc3339(finished)}
    })
}

fn provenance(builder: &str) -> serde_json::Value {
    serde_json::json!({
        "buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1", "externalParameters": {}},
        "runDetails": {"builder": {"id": builder}, "metadata": {"finishedOn": rfc3339(now() - 3600)}}
    })
}

#[test]
fn cosign_vuln_scans_are_judged_by_age_and_condition() {
    let b = Bench::new();
    let (_, reference) = b.push("scanned", "scanned image");
    let (key, public) = b.cosign_keys("scanner");
    let six_days = b.write("scan.json", &scan(now() - 6 * DAY, "LOW"));
    b.cosign_attest(&key, "vuln", &six_days, &reference);

    let judged = [
        "--type",
        "vuln",
        "--max-age",
        "7d",
        "--condition",
        NO_CRITICAL,
    ];
    let ok = attestations(&reference, &[&public], &judged).expect_code(0);
    assert!(
        ok.all()
            .contains("https://cosign.sigstore.dev/attestation/vuln/v1"),
        "{}",
        ok.all()
    );
    // Three days on, the same scan is nine days old.
    let later = rfc3339(now() + 3 * DAY);
    let mut aged = judged.to_vec();
    aged.extend(["--at", later.as_str()]);
    let stale = attestations(&reference, &[&public], &aged).expect_code(1);
    assert!(
        stale.all().contains("more than max_age 7d"),
        "{}",
        stale.all()
    );
    // And judged four days before it was made, it is dated in the future.
    let earlier = rfc3339(now() - 10 * DAY);
    let mut early = judged.to_vec();
    early.extend(["--at", earlier.as_str()]);
    let future = attestations(&reference, &[&public], &early).expect_code(1);
    assert!(future.all().contains("in the future"), "{}", future.all());

    // A newer scan with a critical finding decides over the clean one.
    let critical = b.write("critical.json", &scan(now() - 60, "CRITICAL"));
    b.cosign_attest(&key, "vuln", &critical, &reference);
    let refused = attestations(&reference, &[&public], &judged).expect_code(1);
    assert!(
        refused.all().contains("the condition is false"),
        "{}",
        refused.all()
    );
    let json = attestations(
        &reference,
        &[&public],
        &[&judged[..], &["--output", "json"]].concat(),
    )
    .expect_code(1)
    .json();
    let decision = &json[0]["decision"];
    assert_eq!(
        decision["statements"].as_array().map(Vec::len),
        Some(2),
        "{json}"
    );
    assert_eq!(decision["statements"][1]["decided"], true, "{json}");
    assert_eq!(decision["statements"][0]["decided"], false, "{json}");
}

#[test]
fn vouch_attestations_are_accepted_by_cosign_verify_attestation() {
    let b = Bench::new();
    let (_, reference) = b.push("built", "built image");
    let (key, public) = keygen(b.dir.path(), "ci", "ecdsa-p256");
    let prov = b.write(
        "provenance.json",
        &provenance("https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"),
    );
    vouch_attest(&key, "slsaprovenance1", &prov, &reference).expect_code(0);
    let scan_file = b.write("scan.json", &scan(now() - DAY, "LOW"));
    vouch_attest(&key, "vuln", &scan_file, &reference).expect_code(0);

    let cosign = b
        .cosign_verify_attestation(&public, "slsaprovenance1", &reference)
        .expect_code(0);
    // cosign prints each envelope it verified: the one it printed is vouch's provenance.
    let envelope: serde_json::Value = cosign
        .all()
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("an envelope on stdout");
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().expect("payload"))
        .expect("base64");
    let statement: serde_json::Value = serde_json::from_slice(&payload).expect("statement");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    b.cosign_verify_attestation(&public, "vuln", &reference)
        .expect_code(0);
    // cosign checks the type: none of vouch's statements is an SPDX document.
    b.cosign_verify_attestation(&public, "spdxjson", &reference)
        .expect_code(1);

    let builder = r#"predicate.runDetails.builder.id.startsWith("https://github.com/acme/")"#;
    attestations(
        &reference,
        &[&public],
        &["--type", "slsaprovenance1", "--condition", builder],
    )
    .expect_code(0);
    let other = r#"predicate.runDetails.builder.id.startsWith("https://github.com/evil/")"#;
    attestations(
        &reference,
        &[&public],
        &["--type", "slsaprovenance1", "--condition", other],
    )
    .expect_code(1);
    let missing = attestations(
        &reference,
        &[&public],
        &[
            "--type",
            "slsaprovenance1",
            "--condition",
            "predicate.runDetails.nothere == 1",
        ],
    )
    .expect_code(1);
    assert!(missing.all().contains("nothere"), "{}", missing.all());
}

#[test]
fn both_tools_attestations_on_one_image_are_all_listed() {
    let b = Bench::new();
    let (_, reference) = b.push("both", "both tools");
    let (cosign_key, cosign_pub) = b.cosign_keys("cosign");
    let (vouch_key, vouch_pub) = keygen(b.dir.path(), "vouch", "ecdsa-p256");
    let note = b.path("note.txt");
    std::fs::write(&note, "reviewed by the release team").expect("note");
    b.cosign_attest(&cosign_key, "custom", &note, &reference);
    let prov = b.write("prov.json", &provenance("https://github.com/acme/app"));
    b.cosign_attest(&cosign_key, "slsaprovenance1", &prov, &reference);
    vouch_attest(&vouch_key, "custom", &note, &reference).expect_code(0);

    let json = attestations(
        &reference,
        &[&cosign_pub, &vouch_pub],
        &["--output", "json"],
    )
    .expect_code(0)
    .json();
    let listed = json[0]["attestations"].as_array().expect("attestations");
    assert_eq!(listed.len(), 3, "{json}");
    let custom: Vec<_> = listed
        .iter()
        .filter(|a| a["statement"]["predicateType"] == "https://cosign.sigstore.dev/attestation/v1")
        .collect();
    assert_eq!(custom.len(), 2, "{json}");
    for a in custom {
        assert_eq!(
            a["statement"]["predicate"]["Data"], "reviewed by the release team",
            "{json}"
        );
    }
    // cosign still reads every one of them after vouch's merge.
    b.cosign_verify_attestation(&cosign_pub, "slsaprovenance1", &reference)
        .expect_code(0);
    b.cosign_verify_attestation(&vouch_pub, "custom", &reference)
        .expect_code(0);
}

#[test]
fn an_attestation_by_an_unlisted_key_does_not_count() {
    let b = Bench::new();
    let (_, reference) = b.push("stranger", "stranger");
    let (key, _) = keygen(b.dir.path(), "mallory", "ecdsa-p256");
    let (_, trusted) = keygen(b.dir.path(), "scanner", "ecdsa-p256");
    let scan_file = b.write("scan.json", &scan(now() - 60, "LOW"));
    vouch_attest(&key, "vuln", &scan_file, &reference).expect_code(0);
    let run = attestations(&reference, &[&trusted], &["--type", "vuln"]).expect_code(1);
    assert!(
        run.all().contains("no trusted key verifies its signature"),
        "{}",
        run.all()
    );
}

#[test]
fn a_statement_about_another_digest_does_not_count() {
    let b = Bench::new();
    let (a, a_ref) = b.push("moved", "image a");
    let b_img = TestImage::new("image b");
    b_img.push(&b.reg, "moved", "v2");
    let b_ref = format!("{}@{}", b.reg.image("moved"), b_img.digest());
    let (key, public) = keygen(b.dir.path(), "scanner", "ecdsa-p256");
    let scan_file = b.write("scan.json", &scan(now() - 60, "LOW"));
    vouch_attest(&key, "vuln", &scan_file, &a_ref).expect_code(0);
    // Copy A's attestation manifest under B's .att tag: validly signed, about A.
    let att = |d: &str| format!("{}.att", d.replace(':', "-"));
    let manifest = b
        .reg
        .get_manifest("moved", &att(a.digest()))
        .expect("a's .att");
    b.reg.push_manifest(
        "moved",
        &att(b_img.digest()),
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    let run = attestations(&b_ref, &[&public], &["--type", "vuln"]).expect_code(1);
    assert!(
        run.all().contains(&format!("not {}", b_img.digest())),
        "{}",
        run.all()
    );
    attestations(&a_ref, &[&public], &["--type", "vuln"]).expect_code(0);
}

#[test]
fn a_tampered_envelope_does_not_count() {
    let b = Bench::new();
    let (img, reference) = b.push("tampered", "tampered");
    let (key, public) = keygen(b.dir.path(), "scanner", "ecdsa-p256");
    let scan_file = b.write("scan.json", &scan(now() - 60, "CRITICAL"));
    vouch_attest(&key, "vuln", &scan_file, &reference).expect_code(0);
    let tag = format!("{}.att", img.digest().replace(':', "-"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&b.reg.get_manifest("tampered", &tag).expect(".att")).expect("json");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_string();
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&b.reg.get_blob("tampered", &layer)).expect("envelope");
    // Swap the finding's severity inside the signed payload.
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
    let mut forged_manifest = manifest.clone();
    forged_manifest["layers"][0]["digest"] = blob.digest.clone().into();
    forged_manifest["layers"][0]["size"] = blob.bytes.len().into();
    b.reg.push_manifest(
        "tampered",
        &tag,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&forged_manifest).expect("json"),
    );
    let run = attestations(&reference, &[&public], &["--type", "vuln"]).expect_code(1);
    assert!(
        run.all().contains("no trusted key verifies its signature"),
        "{}",
        run.all()
    );
}

/// A policy: `release` signs, `scanner` attests scans of at most 7 days with no critical
/// finding, `release` attests provenance built by acme's CI.
fn attestation_policy(b: &Bench, release: &Path, scanner: &Path) -> PathBuf {
    let text = format!(
        r#"version: 1
signers:
  release:
    keys: ["{release}"]
  scanner:
    keys: ["{scanner}"]
rules:
  - name: scanned
    images: ["{host}/**"]
    require:
      signers: [release]
      attestations:
        - type: vuln
          signers: [scanner]
          max_age: 7d
          condition: >-
            predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) ||
              r.Vulnerabilities.all(v, v.Severity != "CRITICAL"))
        - type: slsaprovenance1
          signers: [release]
          condition: predicate.runDetails.builder.id.startsWith("https://github.com/acme/")
default: deny
"#,
        release = release.display(),
        scanner = scanner.display(),
        host = b.reg.host,
    );
    let path = b.path("policy.yaml");
    std::fs::write(&path, text).expect("policy");
    Run::of(vouch().args(["policy", "check"]).arg(&path)).expect_code(0);
    path
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

#[test]
fn a_policy_requires_a_recent_clean_scan_and_provenance_besides_the_signature() {
    let b = Bench::new();
    let (_, reference) = b.push("policed", "policed image");
    let (release_key, release_pub) = keygen(b.dir.path(), "release", "ecdsa-p256");
    let (scanner_key, scanner_pub) = b.cosign_keys("scanner");
    let policy = attestation_policy(&b, &release_pub, &scanner_pub);
    Run::of(
        vouch()
            .args(["--allow-insecure-registry", "sign", &reference, "--key"])
            .arg(&release_key)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);

    // Signed, but no attestation yet: refused, and it says which.
    let out = verify_policy(&policy, &reference, &[]).expect_code(1);
    assert!(out.all().contains("attestation vuln"), "{}", out.all());

    let scan_file = b.write("scan.json", &scan(now() - 6 * DAY, "LOW"));
    b.cosign_attest(&scanner_key, "vuln", &scan_file, &reference);
    let prov = b.write("prov.json", &provenance("https://github.com/acme/app"));
    vouch_attest(&release_key, "slsaprovenance1", &prov, &reference).expect_code(0);
    let json = verify_policy(&policy, &reference, &["--output", "json"])
        .expect_code(0)
        .json();
    let text = json.to_string();
    assert!(text.contains("\"attestations\""), "{text}");

    // Judged three days later, the scan is nine days old.
    let later = rfc3339(now() + 3 * DAY);
    let out = verify_policy(&policy, &reference, &["--at", &later]).expect_code(1);
    assert!(out.all().contains("more than max_age 7d"), "{}", out.all());

    // A scan by the release key is by an unlisted signer for `vuln`: it does not help.
    let critical = b.write("critical.json", &scan(now() - 60, "CRITICAL"));
    vouch_attest(&release_key, "vuln", &critical, &reference).expect_code(0);
    verify_policy(&policy, &reference, &[]).expect_code(0);
    // The scanner's own newer scan with a critical finding decides.
    b.cosign_attest(&scanner_key, "vuln", &critical, &reference);
    let out = verify_policy(&policy, &reference, &[]).expect_code(1);
    assert!(
        out.all().contains("the condition is false"),
        "{}",
        out.all()
    );

    // `policy explain` says what the rule asks.
    let host_repo = format!("{}/policed", b.reg.host);
    let explain = Run::of(
        vouch()
            .args(["policy", "explain"])
            .arg(&policy)
            .arg(&host_repo),
    );
    assert!(
        explain.all().contains("vuln attestation"),
        "{}",
        explain.all()
    );
}

#[test]
fn an_attestation_never_counts_as_a_signature() {
    let b = Bench::new();
    let (_, reference) = b.push("unsigned", "attested but unsigned");
    let (release_key, release_pub) = keygen(b.dir.path(), "release", "ecdsa-p256");
    let (_, scanner_pub) = keygen(b.dir.path(), "scanner", "ecdsa-p256");
    let policy = attestation_policy(&b, &release_pub, &scanner_pub);
    let prov = b.write("prov.json", &provenance("https://github.com/acme/app"));
    vouch_attest(&release_key, "slsaprovenance1", &prov, &reference).expect_code(0);
    let out = verify_policy(&policy, &reference, &[]).expect_code(1);
    assert!(
        out.all().contains("0 distinct signers counted"),
        "{}",
        out.all()
    );
    // cosign agrees: an attestation is no signature.
    let cosign = Run::of(
        b.peers
            .cosign(&b.path("home"))
            .args([
                "verify",
                "--insecure-ignore-tlog=true",
                "--allow-insecure-registry",
                "--key",
            ])
            .arg(&release_pub)
            .arg(&reference),
    );
    assert_ne!(cosign.code, 0, "{}", cosign.all());
    assert!(
        cosign.all().contains("no signatures found"),
        "{}",
        cosign.all()
    );
}

/// Pushes `envelopes` as the layers of `digest`'s `.att` manifest in `repo`.
fn push_att(b: &Bench, repo: &str, digest: &str, layers: &[serde_json::Value], blobs: &[Blob]) {
    for blob in blobs {
        b.reg.push_blob(repo, blob);
    }
    let config = Blob::new(b"{}".to_vec());
    b.reg.push_blob(repo, &config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": 2},
        "layers": layers,
    });
    b.reg.push_manifest(
        repo,
        &format!("{}.att", digest.replace(':', "-")),
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
}

fn dsse_layer(blob: &Blob, size: usize) -> serde_json::Value {
    serde_json::json!({
        "mediaType": "application/vnd.dsse.envelope.v1+json",
        "digest": blob.digest,
        "size": size,
        "annotations": {"dev.cosignproject.cosign/signature": "", "predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1"},
    })
}

#[test]
fn hostile_attestation_layers_are_refused_and_named() {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let b = Bench::new();
    let (img, reference) = b.push("hostile", "hostile attestations");
    let (_, public) = keygen(b.dir.path(), "scanner", "ecdsa-p256");
    let statement = |kind: &str| {
        serde_json::json!({
            "_type": kind,
            "subject": [{"name": "x", "digest": {"sha256": img.digest().trim_start_matches("sha256:")}}],
            "predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1",
            "predicate": {},
        })
        .to_string()
    };
    let envelope = |payload_type: &str, payload: &str| {
        format!(
            r#"{{"payloadType":"{payload_type}","payload":"{}","signatures":[{{"keyid":"","sig":"MEUCIQ=="}}]}}"#,
            engine.encode(payload)
        )
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "is not \"application/vnd.in-toto+json\"",
            envelope("text/plain", &statement("https://in-toto.io/Statement/v1")).into_bytes(),
        ),
        (
            "duplicate key \"payloadType\"",
            envelope("application/vnd.in-toto+json", "{}")
                .replacen("{", r#"{"payloadType":"x","#, 1)
                .into_bytes(),
        ),
        (
            "no trusted key verifies",
            envelope(
                "application/vnd.in-toto+json",
                &statement("https://in-toto.io/Statement/v9"),
            )
            .into_bytes(),
        ),
    ];
    let blobs: Vec<Blob> = cases
        .iter()
        .map(|(_, bytes)| Blob::new(bytes.clone()))
        .collect();
    let mut layers: Vec<serde_json::Value> = blobs
        .iter()
        .map(|blob| dsse_layer(blob, blob.bytes.len()))
        .collect();
    // A layer larger than the limit (an oversized predicate) is not even fetched.
    let huge = Blob::new(vec![b' '; 12 * 1024 * 1024]);
    layers.push(dsse_layer(&huge, huge.bytes.len()));
    let mut pushed = blobs.clone();
    pushed.push(huge);
    push_att(&b, "hostile", img.digest(), &layers, &pushed);
    let run = attestations(&reference, &[&public], &["--output", "json"]).expect_code(1);
    let json = run.json();
    let rejected = json[0]["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 4, "{json}");
    for (i, (reason, _)) in cases.iter().enumerate() {
        let got = rejected[i]["reason"].as_str().unwrap_or_default();
        assert!(got.contains(reason), "layer {}: {got}", i + 1);
    }
    assert!(
        rejected[3]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("more than the"),
        "{json}"
    );

    // 10,000 attestations on one image: refused as a whole, quickly, naming the limit.
    let many: Vec<serde_json::Value> = (0..10_000)
        .map(|_| dsse_layer(&blobs[0], blobs[0].bytes.len()))
        .collect();
    push_att(&b, "hostile", img.digest(), &many, &[]);
    let started = std::time::Instant::now();
    let run = attestations(&reference, &[&public], &[]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(run.all().contains("attestation layers"), "{}", run.all());
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn attestations_in_sigstore_bundles_count_as_referrers_and_files() {
    let b = Bench::new();
    let (_, reference) = b.push("bundled", "bundled attestations");
    let (release_key, release_pub) = keygen(b.dir.path(), "release", "ecdsa-p256");
    let (scanner_key, scanner_pub) = keygen(b.dir.path(), "scanner", "ecdsa-p256");
    let policy = attestation_policy(&b, &release_pub, &scanner_pub);
    let scan_file = b.write("scan.json", &scan(now() - DAY, "LOW"));
    let prov = b.write("prov.json", &provenance("https://github.com/acme/app"));

    // Air-gapped: the signature and both attestations as bundle files, nothing stored.
    let sig_bundle = b.path("sig.json");
    Run::of(
        vouch()
            .args(["--allow-insecure-registry", "sign", &reference, "--key"])
            .arg(&release_key)
            .arg("--output-bundle")
            .arg(&sig_bundle)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    let scan_bundle = b.path("scan.sigstore.json");
    let prov_bundle = b.path("prov.sigstore.json");
    for (key, kind, predicate, out) in [
        (&scanner_key, "vuln", &scan_file, &scan_bundle),
        (&release_key, "slsaprovenance1", &prov, &prov_bundle),
    ] {
        let mut cmd = vouch();
        cmd.args([
            "--allow-insecure-registry",
            "attest",
            &reference,
            "--type",
            kind,
        ])
        .arg("--key")
        .arg(key)
        .arg("--predicate")
        .arg(predicate)
        .arg("--output-bundle")
        .arg(out)
        .env("VOUCH_PASSWORD", TEST_PASSWORD);
        Run::of(&mut cmd).expect_code(0);
    }
    let files = |list: &[&PathBuf]| {
        let mut args: Vec<String> = Vec::new();
        for f in list {
            args.push("--bundle".into());
            args.push(f.display().to_string());
        }
        args
    };
    let all = files(&[&sig_bundle, &scan_bundle, &prov_bundle]);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    verify_policy(&policy, &reference, &all).expect_code(0);
    let no_scan = files(&[&sig_bundle, &prov_bundle]);
    let no_scan: Vec<&str> = no_scan.iter().map(String::as_str).collect();
    let out = verify_policy(&policy, &reference, &no_scan).expect_code(1);
    assert!(out.all().contains("attestation vuln"), "{}", out.all());
    // Attestation bundles alone are no signature.
    let only = files(&[&scan_bundle, &prov_bundle]);
    let only: Vec<&str> = only.iter().map(String::as_str).collect();
    let out = verify_policy(&policy, &reference, &only).expect_code(1);
    assert!(
        out.all().contains("0 distinct signers counted"),
        "{}",
        out.all()
    );

    // In the registry: `.sig` signature, attestations as bundle referrers (cosign v3's form).
    Run::of(
        vouch()
            .args(["--allow-insecure-registry", "sign", &reference, "--key"])
            .arg(&release_key)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    verify_policy(&policy, &reference, &[]).expect_code(1);
    for (key, kind, predicate) in [
        (&scanner_key, "vuln", &scan_file),
        (&release_key, "slsaprovenance1", &prov),
    ] {
        let mut cmd = vouch();
        cmd.args([
            "--allow-insecure-registry",
            "attest",
            &reference,
            "--type",
            kind,
        ])
        .args(["--format", "bundle", "--key"])
        .arg(key)
        .arg("--predicate")
        .arg(predicate)
        .env("VOUCH_PASSWORD", TEST_PASSWORD);
        Run::of(&mut cmd).expect_code(0);
    }
    let json = verify_policy(&policy, &reference, &["--output", "json"])
        .expect_code(0)
        .json();
    let evaluation = &json["images"][0]["judged"][0]["evaluation"];
    let sources: Vec<&str> = evaluation["attestations"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["statements"].as_array().into_iter().flatten())
        .filter(|s| s["decided"] == true)
        .filter_map(|s| s["source"].as_str())
        .collect();
    assert_eq!(sources.len(), 2, "{json}");
    assert!(sources.iter().all(|s| s.starts_with("bundle")), "{json}");

    // `vouch attestations` lists the bundle referrers too, judged like `.att` layers; the
    // signature bundle is not an attestation.
    let listed = Run::of(
        vouch()
            .args(["--allow-insecure-registry", "attestations", &reference])
            .arg("--key")
            .arg(&scanner_pub)
            .args(["--type", "vuln", "--max-age", "7d", "--output", "json"]),
    )
    .expect_code(0)
    .json();
    let shown = listed[0]["attestations"].as_array().expect("attestations");
    assert_eq!(shown.len(), 1, "{listed}");
    assert!(
        shown[0]["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("bundle")),
        "{listed}"
    );
    assert_eq!(listed[0]["passed"], true, "{listed}");
}
