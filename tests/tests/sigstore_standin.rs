//! The local Sigstore stand-in (tests/src/sigstore) against real clients: cosign 2.5 signs
//! keyless through it (images in a real registry, blobs, attestations) and verifies what it
//! signed; vouch's bundle verifier accepts the Sigstore bundles cosign writes; each hostile
//! knob makes the clients refuse; the services answer the public APIs and survive bad
//! requests (Rekor v2's too, its checkpoints signed notes by the key the trusted root lists);
//! and cosign, given [`Sigstore::cosign_env`], never reaches past loopback.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::{Decode as _, DecodePem as _};
use serde_json::{Value, json};
use sha2::Digest as _;
use vouch_e2e::sigstore::{
    CERTIFICATE_LIFETIME, EcKey, Hostile, OTHER_EMAIL, SignOptions, Sigstore, SigstoreOptions,
};
use vouch_e2e::{Registry, Run, TestImage, vouch};

const ALICE: &str = "alice@example.com";
const WORKFLOW: &str =
    "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";

/// One stand-in, one registry, a cosign home and a scratch blob.
struct Bench {
    sigstore: Sigstore,
    reg: Registry,
}

impl Bench {
    fn new() -> Bench {
        Bench::hostile(Hostile::default())
    }

    fn hostile(hostile: Hostile) -> Bench {
        let sigstore = Sigstore::start_with(SigstoreOptions { hostile });
        std::fs::create_dir_all(sigstore.dir().join("home")).expect("cosign home");
        std::fs::write(sigstore.dir().join("blob.txt"), b"an artifact\n").expect("blob");
        Bench {
            sigstore,
            reg: Registry::start(),
        }
    }

    fn home(&self) -> PathBuf {
        self.sigstore.dir().join("home")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.sigstore.dir().join(name)
    }

    /// Pushes a fresh image; its `HOST/REPO@DIGEST`.
    fn push(&self, content: &str) -> (TestImage, String) {
        let img = TestImage::new(content);
        img.push(&self.reg, "app", "latest");
        let reference = format!("{}@{}", self.reg.image("app"), img.digest());
        (img, reference)
    }

    fn sign(&self, reference: &str, token: &str, options: &SignOptions) -> Run {
        self.sigstore
            .cosign_sign(&self.home(), reference, token, options)
    }

    fn verify(&self, reference: &str, identity: &str, extra: &[&str]) -> Run {
        self.sigstore.cosign_verify(
            &self.home(),
            reference,
            identity,
            self.sigstore.oidc_issuer(),
            extra,
        )
    }

    /// The annotations of the `.sig` manifest's only layer.
    fn annotations(&self, img: &TestImage) -> BTreeMap<String, String> {
        let m = self
            .reg
            .signature_manifest("app", img.digest())
            .expect("a .sig manifest");
        let layers = m["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 1, "{m:#}");
        serde_json::from_value(layers[0]["annotations"].clone()).expect("annotations")
    }

    /// `cosign sign-blob` of the scratch blob into `bundle`.
    fn sign_blob(&self, token: &str, bundle: &str, extra: &[&str]) -> Run {
        Run::of(
            self.sigstore
                .cosign(&self.home())
                .args(["sign-blob", "--yes"])
                .args(["--fulcio-url", self.sigstore.fulcio_url()])
                .args(["--rekor-url", self.sigstore.rekor_url()])
                .args(["--identity-token", token])
                .args(extra)
                .arg("--bundle")
                .arg(self.path(bundle))
                .arg(self.path("blob.txt")),
        )
    }

    /// `cosign verify-blob` of a Sigstore bundle with the trusted root.
    fn cosign_verify_bundle(&self, bundle: &str, identity: &str) -> Run {
        Run::of(
            self.sigstore
                .cosign(&self.home())
                .args(["verify-blob", "--new-bundle-format", "--trusted-root"])
                .arg(self.sigstore.trusted_root_path())
                .args(["--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", self.sigstore.oidc_issuer()])
                .arg("--bundle")
                .arg(self.path(bundle))
                .arg(self.path("blob.txt")),
        )
    }

    /// `vouch verify-bundle` with the trusted root.
    fn vouch_verify_bundle(&self, bundle: &str, identity: &str) -> Run {
        Run::of(
            vouch()
                .args(["verify-bundle", "--output", "json"])
                .args(["--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", self.sigstore.oidc_issuer()])
                .arg("--trusted-root")
                .arg(self.sigstore.trusted_root_path())
                .arg("--bundle")
                .arg(self.path(bundle))
                .arg(self.path("blob.txt")),
        )
    }

    /// Nothing cosign did went past loopback.
    #[track_caller]
    fn assert_offline(&self) {
        assert_eq!(self.sigstore.network_attempts(), Vec::<String>::new());
    }
}

fn with_tsa() -> SignOptions {
    SignOptions {
        timestamp: true,
        ..SignOptions::default()
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

#[test]
fn cosign_signs_an_image_keyless_and_verifies_it() {
    let b = Bench::new();
    let (img, reference) = b.push("keyless");
    let token = b.sigstore.email_token(ALICE);
    b.sign(&reference, &token, &SignOptions::default())
        .expect_code(0);

    let a = b.annotations(&img);
    for key in [
        "dev.cosignproject.cosign/signature",
        "dev.sigstore.cosign/certificate",
        "dev.sigstore.cosign/chain",
        "dev.sigstore.cosign/bundle",
    ] {
        assert!(a.contains_key(key), "{key} missing: {a:#?}");
    }
    assert!(!a.contains_key("dev.sigstore.cosign/rfc3161timestamp"));
    // The chain annotation is the intermediate and root Fulcio answered with.
    assert_eq!(
        a["dev.sigstore.cosign/chain"]
            .matches("BEGIN CERTIFICATE")
            .count(),
        2
    );
    // cosign 2.5's bundle annotation: SET and payload, no inclusion proof.
    let bundle: Value = serde_json::from_str(&a["dev.sigstore.cosign/bundle"]).expect("JSON");
    let mut keys: Vec<&str> = bundle
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["Payload", "SignedEntryTimestamp"]);
    assert_eq!(bundle["Payload"]["logIndex"], 1);
    assert_eq!(b.sigstore.rekor_size(), 2);

    let root = b.sigstore.trusted_root_path().display().to_string();
    b.verify(&reference, ALICE, &[]).expect_code(0);
    b.verify(&reference, ALICE, &["--trusted-root", &root])
        .expect_code(0);
    refused(
        b.verify(&reference, "bob@example.com", &[]),
        "none of the expected identities matched",
    );
    refused(
        b.sigstore.cosign_verify(
            &b.home(),
            &reference,
            ALICE,
            "https://token.actions.githubusercontent.com",
            &[],
        ),
        "none of the expected identities matched",
    );
    b.assert_offline();
}

#[test]
fn cosign_stamps_the_raw_signature_and_verifies_the_stamp() {
    let b = Bench::new();
    let (img, reference) = b.push("timestamped");
    let token = b.sigstore.email_token(ALICE);
    b.sign(&reference, &token, &with_tsa()).expect_code(0);
    assert_eq!(b.sigstore.requests_to("tsa").len(), 1);

    let a = b.annotations(&img);
    let stamp: Value =
        serde_json::from_str(&a["dev.sigstore.cosign/rfc3161timestamp"]).expect("JSON");
    assert_eq!(stamp.as_object().map(|o| o.len()), Some(1), "{stamp}");
    let reply = STANDARD
        .decode(stamp["SignedRFC3161Timestamp"].as_str().expect("string"))
        .expect("base64");
    // The message imprint (OCTET STRING of 32 bytes) is SHA-256 of the raw signature
    // bytes, not of their base64 text.
    let sig_b64 = &a["dev.cosignproject.cosign/signature"];
    let imprint = |data: &[u8]| [&[0x04, 0x20][..], &sha2::Sha256::digest(data)].concat();
    let contains = |needle: &[u8]| reply.windows(needle.len()).any(|w| w == needle);
    assert!(contains(&imprint(
        &STANDARD.decode(sig_b64).expect("signature")
    )));
    assert!(!contains(&imprint(sig_b64.as_bytes())));

    b.verify(&reference, ALICE, &["--use-signed-timestamps"])
        .expect_code(0);

    // A timestamp alone (no log entry) verifies once the log is waived, and only under
    // this TSA: another instance's TSA chain is refused.
    let (_, tsa_only) = b.push("timestamp only");
    b.sign(
        &tsa_only,
        &token,
        &SignOptions {
            timestamp: true,
            tlog_upload: false,
            ..SignOptions::default()
        },
    )
    .expect_code(0);
    let waived = ["--insecure-ignore-tlog", "--use-signed-timestamps"];
    b.verify(&tsa_only, ALICE, &waived).expect_code(0);
    let other = Sigstore::start();
    let mut cmd = b.sigstore.cosign(&b.home());
    cmd.env("SIGSTORE_TSA_CERTIFICATE_FILE", &other.files().tsa_chain)
        .args(["verify", "--allow-insecure-registry"])
        .args(waived)
        .args(["--certificate-identity", ALICE])
        .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
        .arg(&tsa_only);
    refused(Run::of(&mut cmd), "unable to verify RFC3161 timestamp");
    b.assert_offline();
}

#[test]
fn uri_identities_are_certified_as_uri_sans() {
    let b = Bench::new();
    let (_, reference) = b.push("workflow identity");
    let token = b.sigstore.token(WORKFLOW);
    b.sign(&reference, &token, &SignOptions::default())
        .expect_code(0);
    b.verify(&reference, WORKFLOW, &[]).expect_code(0);
    let mut cmd = b.sigstore.cosign(&b.home());
    cmd.args(["verify", "--allow-insecure-registry"])
        .args([
            "--certificate-identity-regexp",
            "^https://github.com/example/",
        ])
        .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
        .arg(&reference);
    Run::of(&mut cmd).expect_code(0);
    refused(
        b.verify(&reference, "https://github.com/example/other", &[]),
        "none of the expected identities matched",
    );
    b.assert_offline();
}

#[test]
fn cosign_blob_bundles_verify_in_cosign_and_vouch() {
    let b = Bench::new();
    let token = b.sigstore.email_token(ALICE);
    b.sign_blob(&token, "plain.json", &["--new-bundle-format"])
        .expect_code(0);
    b.sign_blob(
        &token,
        "stamped.json",
        &[
            "--new-bundle-format",
            "--timestamp-server-url",
            &b.sigstore.tsa_url(),
        ],
    )
    .expect_code(0);
    for bundle in ["plain.json", "stamped.json"] {
        let v: Value =
            serde_json::from_slice(&std::fs::read(b.path(bundle)).expect("bundle")).expect("JSON");
        assert_eq!(
            v["mediaType"],
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        let entry = &v["verificationMaterial"]["tlogEntries"][0];
        assert!(
            entry["inclusionProof"]["checkpoint"]["envelope"].is_string(),
            "{v:#}"
        );
        b.cosign_verify_bundle(bundle, ALICE).expect_code(0);
        let ok = b.vouch_verify_bundle(bundle, ALICE).expect_code(0).json();
        assert_eq!(ok["identity"]["subject"], ALICE);
        assert_eq!(ok["identity"]["issuer"], b.sigstore.oidc_issuer());
        assert_eq!(ok["log_entries"][0]["kind"], "hashedrekord 0.0.1");
        refused(
            b.vouch_verify_bundle(bundle, "bob@example.com"),
            "does not match",
        );
    }

    // cosign's own (pre-Sigstore-bundle) format still verifies in cosign from the env.
    b.sign_blob(&token, "legacy.json", &[]).expect_code(0);
    Run::of(
        b.sigstore
            .cosign(&b.home())
            .args(["verify-blob", "--bundle"])
            .arg(b.path("legacy.json"))
            .args(["--certificate-identity", ALICE])
            .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
            .arg(b.path("blob.txt")),
    )
    .expect_code(0);
    b.assert_offline();
}

#[test]
fn cosign_attestations_are_logged_as_dsse() {
    let b = Bench::new();
    let (_, reference) = b.push("attested");
    let token = b.sigstore.email_token(ALICE);
    let predicate = b.path("predicate.json");
    std::fs::write(&predicate, br#"{"built":"here"}"#).expect("predicate");
    Run::of(
        b.sigstore
            .cosign(&b.home())
            .args([
                "attest",
                "--yes",
                "--allow-insecure-registry",
                "--type",
                "custom",
            ])
            .args(["--fulcio-url", b.sigstore.fulcio_url()])
            .args(["--rekor-url", b.sigstore.rekor_url()])
            .args(["--identity-token", &token])
            .arg("--predicate")
            .arg(&predicate)
            .arg(&reference),
    )
    .expect_code(0);
    Run::of(
        b.sigstore
            .cosign(&b.home())
            .args([
                "verify-attestation",
                "--allow-insecure-registry",
                "--type",
                "custom",
            ])
            .args(["--rekor-url", b.sigstore.rekor_url()])
            .args(["--certificate-identity", ALICE])
            .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
            .arg(&reference),
    )
    .expect_code(0);

    Run::of(
        b.sigstore
            .cosign(&b.home())
            .args([
                "attest-blob",
                "--yes",
                "--new-bundle-format",
                "--type",
                "custom",
            ])
            .args(["--fulcio-url", b.sigstore.fulcio_url()])
            .args(["--rekor-url", b.sigstore.rekor_url()])
            .args(["--identity-token", &token])
            .arg("--predicate")
            .arg(&predicate)
            .arg("--bundle")
            .arg(b.path("attestation.json"))
            .arg(b.path("blob.txt")),
    )
    .expect_code(0);
    let ok = b
        .vouch_verify_bundle("attestation.json", ALICE)
        .expect_code(0)
        .json();
    assert_eq!(ok["log_entries"][0]["kind"], "dsse 0.0.1");
    assert_eq!(entry_body(&b.sigstore, 1)["kind"], "dsse");
    b.assert_offline();
}

/// The canonicalized body of log entry `index`, read back through the API.
fn entry_body(sigstore: &Sigstore, index: usize) -> Value {
    let (_, entry) = get_entry(sigstore, &format!("/api/v1/log/entries?logIndex={index}"));
    let body = STANDARD
        .decode(entry["body"].as_str().expect("body"))
        .expect("base64");
    serde_json::from_slice(&body).expect("JSON body")
}

fn get_entry(sigstore: &Sigstore, path: &str) -> (String, Value) {
    let (status, v) = get_json(&format!("{}{path}", sigstore.rekor_url()));
    assert_eq!(status, 200, "{v}");
    let (uuid, entry) = v
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("one entry");
    (uuid.clone(), entry.clone())
}

fn get_json(url: &str) -> (u16, Value) {
    let mut resp = vouch_e2e::registry::agent().get(url).call().expect("GET");
    let body = resp.body_mut().read_to_vec().expect("body");
    (
        resp.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn post(url: &str, content_type: &str, body: &[u8], bearer: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = vouch_e2e::registry::agent()
        .post(url)
        .header("Content-Type", content_type);
    if let Some(t) = bearer {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut resp = req.send(body).expect("POST");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_vec().expect("body"))
}

#[test]
fn hostile_fulcio_certifies_another_identity() {
    let b = Bench::hostile(Hostile {
        fulcio_other_identity: true,
        ..Hostile::default()
    });
    let (_, reference) = b.push("other identity");
    let token = b.sigstore.email_token(ALICE);
    b.sign(&reference, &token, &SignOptions::default())
        .expect_code(0);
    refused(b.verify(&reference, ALICE, &[]), OTHER_EMAIL);
    b.sign_blob(&token, "b.json", &["--new-bundle-format"])
        .expect_code(0);
    refused(b.vouch_verify_bundle("b.json", ALICE), OTHER_EMAIL);
    b.assert_offline();
}

#[test]
fn hostile_fulcio_issues_from_an_untrusted_ca() {
    let b = Bench::hostile(Hostile {
        fulcio_untrusted_ca: true,
        ..Hostile::default()
    });
    let (_, reference) = b.push("untrusted CA");
    let token = b.sigstore.email_token(ALICE);
    b.sign(&reference, &token, &SignOptions::default())
        .expect_code(0);
    refused(
        b.verify(&reference, ALICE, &[]),
        "certificate signed by unknown authority",
    );
    b.sign_blob(&token, "b.json", &["--new-bundle-format"])
        .expect_code(0);
    refused(b.cosign_verify_bundle("b.json", ALICE), "leaf certificate");
    refused(
        b.vouch_verify_bundle("b.json", ALICE),
        "not issued by a trusted CA",
    );
    b.assert_offline();
}

#[test]
fn hostile_rekor_returns_an_entry_for_another_signature() {
    let b = Bench::hostile(Hostile {
        rekor_other_signature: true,
        ..Hostile::default()
    });
    let (_, reference) = b.push("other signature");
    let token = b.sigstore.email_token(ALICE);
    // cosign stores what the log answered; verification finds it describes another
    // signature.
    b.sign(&reference, &token, &SignOptions::default())
        .expect_code(0);
    refused(b.verify(&reference, ALICE, &[]), "invalid signature");
    // Writing a Sigstore bundle, cosign checks the entry first and writes nothing.
    refused(
        b.sign_blob(&token, "b.json", &["--new-bundle-format"]),
        "invalid signature",
    );
    assert!(!b.path("b.json").exists());
    b.assert_offline();
}

#[test]
fn hostile_rekor_inclusion_proof_is_refused() {
    let b = Bench::hostile(Hostile {
        rekor_bad_inclusion_proof: true,
        ..Hostile::default()
    });
    let token = b.sigstore.email_token(ALICE);
    b.sign_blob(&token, "b.json", &["--new-bundle-format"])
        .expect_code(0);
    refused(
        b.cosign_verify_bundle("b.json", ALICE),
        "failed to verify log inclusion",
    );
    refused(b.vouch_verify_bundle("b.json", ALICE), "inclusion proof");
    b.assert_offline();
}

#[test]
fn hostile_rekor_signed_entry_timestamp_is_refused() {
    let b = Bench::hostile(Hostile {
        rekor_bad_set: true,
        ..Hostile::default()
    });
    let (_, reference) = b.push("bad SET");
    let token = b.sigstore.email_token(ALICE);
    b.sign(&reference, &token, &SignOptions::default())
        .expect_code(0);
    refused(b.verify(&reference, ALICE, &[]), "unable to verify SET");
    b.sign_blob(&token, "b.json", &["--new-bundle-format"])
        .expect_code(0);
    refused(
        b.vouch_verify_bundle("b.json", ALICE),
        "signed entry timestamp",
    );
    b.assert_offline();
}

#[test]
fn hostile_rekor_integrated_time_after_the_certificate_expired() {
    let b = Bench::hostile(Hostile {
        rekor_time_after_expiry: true,
        ..Hostile::default()
    });
    let (_, reference) = b.push("late entry");
    let token = b.sigstore.email_token(ALICE);
    b.sign(&reference, &token, &SignOptions::default())
        .expect_code(0);
    refused(
        b.verify(&reference, ALICE, &[]),
        "certificate expired before signatures were entered in log",
    );
    b.sign_blob(&token, "b.json", &["--new-bundle-format"])
        .expect_code(0);
    refused(
        b.cosign_verify_bundle("b.json", ALICE),
        "outside certificate validity",
    );
    refused(
        b.vouch_verify_bundle("b.json", ALICE),
        "certificate is not valid at",
    );
    b.assert_offline();
}

#[test]
fn hostile_rekor_down_stores_nothing() {
    let b = Bench::hostile(Hostile {
        rekor_down: true,
        ..Hostile::default()
    });
    let (img, reference) = b.push("log down");
    let token = b.sigstore.email_token(ALICE);
    refused(
        b.sign(&reference, &token, &SignOptions::default()),
        "/api/v1/log/entries",
    );
    assert_eq!(b.reg.signature_count("app", img.digest()), 0);
    assert!(
        b.sigstore
            .requests_to("rekor")
            .iter()
            .all(|e| e.status == 503)
    );
    // Switched back on, the same instance signs.
    b.sigstore.set_hostile(Hostile::default());
    b.sign(&reference, &token, &SignOptions::default())
        .expect_code(0);
    b.verify(&reference, ALICE, &[]).expect_code(0);
    b.assert_offline();
}

/// A Fulcio v2 request: token, PEM key and proof of possession over `challenge`.
fn v2_request(token: &str, key: &EcKey, challenge: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": key.public_pem()},
            "proofOfPossession": STANDARD.encode(key.sign(challenge.as_bytes())),
        },
    }))
    .expect("JSON")
}

#[test]
fn fulcio_v2_issues_a_fulcio_shaped_certificate() {
    let s = Sigstore::start();
    let key = EcKey::generate();
    let url = format!("{}/api/v2/signingCert", s.fulcio_url());
    let (status, body) = post(
        &url,
        "application/json",
        &v2_request(&s.email_token(ALICE), &key, ALICE),
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    let chain: Vec<&str> = v["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| c.as_str().expect("PEM"))
        .collect();
    assert_eq!(chain.len(), 3);
    let (_, bundle) = get_json(&format!("{}/api/v2/trustBundle", s.fulcio_url()));
    assert_eq!(bundle["chains"][0]["certificates"], json!(chain[1..]));

    let leaf = x509_cert::Certificate::from_pem(chain[0]).expect("leaf");
    let tbs = leaf.tbs_certificate();
    let validity = tbs.validity();
    assert_eq!(
        validity.not_after.to_unix_duration() - validity.not_before.to_unix_duration(),
        CERTIFICATE_LIFETIME
    );
    assert!(tbs.subject().is_empty());
    use der::Encode as _;
    assert_eq!(
        tbs.subject_public_key_info().to_der().expect("SPKI"),
        key.spki_der()
    );
    let ext = |oid: &str| {
        tbs.extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id.to_string() == oid)
            .unwrap_or_else(|| panic!("extension {oid} missing"))
    };
    let issuer = s.oidc_issuer().as_bytes();
    assert_eq!(ext("1.3.6.1.4.1.57264.1.1").extn_value.as_bytes(), issuer);
    let v2 = ext("1.3.6.1.4.1.57264.1.8").extn_value.as_bytes().to_vec();
    assert_eq!(v2, [&[0x0c, issuer.len() as u8][..], issuer].concat());
    let san = ext("2.5.29.17");
    assert!(san.critical);
    assert!(san.extn_value.as_bytes().ends_with(ALICE.as_bytes()));
    let ku = ext("2.5.29.15");
    assert!(ku.critical);
    assert_eq!(ku.extn_value.as_bytes(), [0x03, 0x02, 0x07, 0x80]);
    assert!(
        ext("2.5.29.37")
            .extn_value
            .as_bytes()
            .ends_with(&[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03])
    );
    assert!(!ext("1.3.6.1.4.1.11129.2.4.2").critical);

    // The token may come in the bearer header instead, and the issuer's configuration
    // lists the OIDC issuer.
    let mut request: Value =
        serde_json::from_slice(&v2_request(&s.email_token(ALICE), &key, ALICE)).expect("JSON");
    let token = request["credentials"]["oidcIdentityToken"]
        .as_str()
        .expect("token")
        .to_string();
    request
        .as_object_mut()
        .expect("object")
        .remove("credentials");
    let (status, _) = post(
        &url,
        "application/json",
        &serde_json::to_vec(&request).expect("JSON"),
        Some(&token),
    );
    assert_eq!(status, 200);
    let (_, config) = get_json(&format!("{}/api/v2/configuration", s.fulcio_url()));
    assert_eq!(config["issuers"][0]["issuerUrl"], s.oidc_issuer());
}

#[test]
fn fulcio_refuses_bad_tokens_and_proofs() {
    let s = Sigstore::start();
    let other = Sigstore::start();
    let key = EcKey::generate();
    let url = format!("{}/api/v2/signingCert", s.fulcio_url());
    let ask = |token: &str, challenge: &str| {
        post(
            &url,
            "application/json",
            &v2_request(token, &key, challenge),
            None,
        )
        .0
    };
    let good = s.token(WORKFLOW);
    assert_eq!(ask(&good, WORKFLOW), 200);

    let with = |f: &dyn Fn(&mut Value)| {
        let mut claims = s.claims(WORKFLOW);
        f(&mut claims);
        s.sign_claims(&claims)
    };
    let cases: Vec<(&str, String, u16)> = vec![
        ("wrong audience", with(&|c| c["aud"] = "other".into()), 401),
        (
            "audience list",
            with(&|c| c["aud"] = json!(["x", "sigstore"])),
            200,
        ),
        ("expired", with(&|c| c["exp"] = 1_000_000.into()), 401),
        (
            "no expiry",
            with(&|c| {
                c.as_object_mut().expect("claims").remove("exp");
            }),
            401,
        ),
        ("another issuer's token", other.token(WORKFLOW), 401),
        (
            "claims another issuer",
            with(&|c| c["iss"] = other.oidc_issuer().into()),
            401,
        ),
        (
            "unverified email",
            with(&|c| {
                c["email"] = ALICE.into();
                c["email_verified"] = false.into();
            }),
            401,
        ),
        ("not a URI or email", s.token("alice"), 400),
        ("tampered", tamper(&good), 401),
        ("not a JWT", "garbage".into(), 401),
    ];
    for (what, token, want) in cases {
        let challenge = if what == "not a URI or email" {
            "alice"
        } else {
            WORKFLOW
        };
        assert_eq!(ask(&token, challenge), want, "{what}");
    }
    // A proof over another identity, or by another key.
    assert_eq!(ask(&good, "https://example.com/someone-else"), 400);
    let (status, _) = post(
        &url,
        "application/json",
        &serde_json::to_vec(&json!({
            "credentials": {"oidcIdentityToken": good},
            "publicKeyRequest": {
                "publicKey": {"content": key.public_pem()},
                "proofOfPossession": STANDARD.encode(EcKey::generate().sign(WORKFLOW.as_bytes())),
            },
        }))
        .expect("JSON"),
        None,
    );
    assert_eq!(status, 400);
    // The legacy API without a bearer token.
    let (status, _) = post(
        &format!("{}/api/v1/signingCert", s.fulcio_url()),
        "application/json",
        b"{}",
        None,
    );
    assert_eq!(status, 401);
    assert_eq!(ask(&good, WORKFLOW), 200, "still serving");
}

/// The token with one character of its signature changed.
fn tamper(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = bytes.len() - 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

/// A hashedrekord entry for `data` signed by `key` (public key, not a certificate).
fn hashedrekord(key: &EcKey, data: &[u8]) -> Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(data))}},
            "signature": {
                "content": STANDARD.encode(key.sign(data)),
                "publicKey": {"content": STANDARD.encode(key.public_pem())},
            },
        },
    })
}

/// Verifies a Rekor v1 checkpoint with the log's public key; its size and root hash.
fn checkpoint(note: &str, log_key_pem: &str) -> (u64, Vec<u8>) {
    let (text, sigs) = note.split_once("\n\n").expect("signed note");
    let text = format!("{text}\n");
    let mut lines = text.lines();
    let origin = lines.next().expect("origin");
    let (name, tree_id) = origin.split_once(" - ").expect("origin is NAME - TREEID");
    assert!(tree_id.parse::<u64>().is_ok(), "{origin}");
    let size = lines.next().expect("size").parse().expect("size");
    let root = STANDARD.decode(lines.next().expect("root")).expect("root");
    assert!(lines.next().expect("timestamp").starts_with("Timestamp: "));
    let line = sigs
        .trim_end()
        .strip_prefix("\u{2014} ")
        .expect("signature line");
    let (signer, b64) = line.split_once(' ').expect("name and signature");
    assert_eq!(signer, name);
    let raw = STANDARD.decode(b64).expect("base64");
    let (_, spki) = der::pem::decode_vec(log_key_pem.as_bytes()).expect("PEM");
    assert_eq!(raw[..4], sha2::Sha256::digest(&spki)[..4], "key hint");
    let point = spki::SubjectPublicKeyInfoRef::from_der(&spki)
        .expect("SPKI")
        .subject_public_key
        .raw_bytes()
        .to_vec();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(text.as_bytes(), &raw[4..])
        .expect("checkpoint signature");
    (size, root)
}

#[test]
fn rekor_api_reads_back_what_it_logged() {
    let s = Sigstore::start();
    let rekor = s.rekor_url().to_string();
    let key = EcKey::generate();
    // The log starts with one entry of its own; these get indexes 1 to 3.
    let mut uuids = Vec::new();
    let mut first = Value::Null;
    for i in 0..3u8 {
        let entry = hashedrekord(&key, &[i]);
        if i == 0 {
            first = entry.clone();
        }
        let (status, body) = post(
            &format!("{rekor}/api/v1/log/entries"),
            "application/json",
            &serde_json::to_vec(&entry).expect("JSON"),
            None,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        let (uuid, e) = v.as_object().and_then(|o| o.iter().next()).expect("entry");
        assert_eq!(uuid.len(), 80);
        assert_eq!(e["logIndex"], i + 1);
        uuids.push(uuid.clone());
    }
    // The same entry again is a conflict pointing at the first.
    let (status, _) = post(
        &format!("{rekor}/api/v1/log/entries"),
        "application/json",
        &serde_json::to_vec(&first).expect("JSON"),
        None,
    );
    assert_eq!(status, 409);

    let (_, pem) = {
        let mut resp = vouch_e2e::registry::agent()
            .get(&format!("{rekor}/api/v1/log/publicKey"))
            .call()
            .expect("GET");
        (
            resp.status(),
            resp.body_mut().read_to_string().expect("PEM"),
        )
    };
    let (by_index, e1) = get_entry(&s, "/api/v1/log/entries?logIndex=2");
    let (by_uuid, e2) = get_entry(&s, &format!("/api/v1/log/entries/{}", uuids[1]));
    let (by_leaf, e3) = get_entry(&s, &format!("/api/v1/log/entries/{}", &uuids[1][16..]));
    assert_eq!(
        (by_index.as_str(), by_uuid.as_str(), by_leaf.as_str()),
        (uuids[1].as_str(), uuids[1].as_str(), uuids[1].as_str())
    );
    assert_eq!(e1["body"], e2["body"]);
    assert_eq!(e1["body"], e3["body"]);
    // Its proof leads to the checkpoint's root, which the log signed.
    let proof = &e1["verification"]["inclusionProof"];
    let (size, root) = checkpoint(proof["checkpoint"].as_str().expect("checkpoint"), &pem);
    assert_eq!(size, 4);
    assert_eq!(hex::encode(&root), proof["rootHash"]);
    assert_eq!(proof["hashes"].as_array().map(Vec::len), Some(2));

    let (_, info) = get_json(&format!("{rekor}/api/v1/log"));
    assert_eq!(info["treeSize"], 4);
    let (size, root) = checkpoint(info["signedTreeHead"].as_str().expect("STH"), &pem);
    assert_eq!(
        (size, hex::encode(root)),
        (4, info["rootHash"].as_str().expect("root").to_string())
    );
    let (status, proof) = get_json(&format!("{rekor}/api/v1/log/proof?firstSize=1&lastSize=4"));
    assert_eq!(status, 200);
    assert_eq!(proof["rootHash"], info["rootHash"]);
    assert_eq!(proof["hashes"].as_array().map(Vec::len), Some(2));

    let (status, body) = post(
        &format!("{rekor}/api/v1/log/entries/retrieve"),
        "application/json",
        &serde_json::to_vec(&json!({"entryUUIDs": [uuids[2]], "logIndexes": [0]})).expect("JSON"),
        None,
    );
    assert_eq!(status, 200);
    let found: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(found.as_array().map(Vec::len), Some(2));
    let (status, body) = post(
        &format!("{rekor}/api/v1/index/retrieve"),
        "application/json",
        &serde_json::to_vec(
            &json!({"hash": format!("sha256:{}", hex::encode(sha2::Sha256::digest([2u8])))}),
        )
        .expect("JSON"),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("JSON"),
        json!([uuids[2]])
    );

    // Refused: a signature that does not verify, an unknown type, a missing entry.
    let mut forged = hashedrekord(&key, b"x");
    forged["spec"]["data"]["hash"]["value"] = hex::encode(sha2::Sha256::digest(b"y")).into();
    for bad in [
        forged,
        json!({"kind": "rekord", "apiVersion": "0.0.1", "spec": {}}),
    ] {
        let (status, _) = post(
            &format!("{rekor}/api/v1/log/entries"),
            "application/json",
            &serde_json::to_vec(&bad).expect("JSON"),
            None,
        );
        assert_eq!(status, 400);
    }
    assert_eq!(
        get_json(&format!("{rekor}/api/v1/log/entries?logIndex=4")).0,
        404
    );
    assert_eq!(s.rekor_size(), 4);
}

/// A `hashedRekordRequestV002` for `data` signed by `key`, certified by `certificate_der`.
fn hashedrekord_v2(key: &EcKey, certificate_der: &[u8], data: &[u8]) -> Value {
    json!({"hashedRekordRequestV002": {
        "digest": STANDARD.encode(sha2::Sha256::digest(data)),
        "signature": {
            "content": STANDARD.encode(key.sign(data)),
            "verifier": {
                "x509Certificate": {"rawBytes": STANDARD.encode(certificate_der)},
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            },
        },
    }})
}

#[test]
fn rekor_v2_api_logs_what_it_checked_under_a_signed_note() {
    let s = Sigstore::start();
    let key = EcKey::generate();
    let (status, body) = post(
        &format!("{}/api/v2/signingCert", s.fulcio_url()),
        "application/json",
        &v2_request(&s.email_token(ALICE), &key, ALICE),
        None,
    );
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    let leaf_pem = v["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .expect("leaf");
    let (_, leaf) = der::pem::decode_vec(leaf_pem.as_bytes()).expect("PEM");
    let entries = format!("{}/api/v2/log/entries", s.rekor_v2_url());

    let first = serde_json::to_vec(&hashedrekord_v2(&key, &leaf, b"logged")).expect("JSON");
    let (status, body) = post(&entries, "application/json", &first, None);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let e: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(e["logIndex"], "1");
    assert_eq!(
        e["kindVersion"],
        json!({"kind": "hashedrekord", "version": "0.0.2"})
    );
    assert!(e.get("integratedTime").is_none() && e.get("inclusionPromise").is_none());
    let logged: Value = serde_json::from_slice(
        &STANDARD
            .decode(e["canonicalizedBody"].as_str().expect("body"))
            .expect("base64"),
    )
    .expect("JSON body");
    assert_eq!(
        logged["spec"]["hashedRekordV002"]["signature"]["verifier"]["x509Certificate"]["rawBytes"],
        STANDARD.encode(&leaf)
    );

    // The trusted root lists the log: Ed25519 key, log ID = SHA-256(origin, 0x0A, 0x01, key).
    let root: Value =
        serde_json::from_slice(&std::fs::read(s.trusted_root_path()).expect("root")).expect("JSON");
    let tlog = root["tlogs"]
        .as_array()
        .expect("tlogs")
        .iter()
        .find(|t| t["baseUrl"] == s.rekor_v2_url())
        .expect("the v2 log is in the trusted root");
    assert_eq!(tlog["publicKey"]["keyDetails"], "PKIX_ED25519");
    let spki = STANDARD
        .decode(tlog["publicKey"]["rawBytes"].as_str().expect("key"))
        .expect("base64");
    let raw_key = &spki[spki.len() - 32..];
    let log_id = sha2::Sha256::new()
        .chain_update(vouch_e2e::sigstore::LOG_V2_NAME)
        .chain_update([b'\n', 1])
        .chain_update(raw_key)
        .finalize();
    assert_eq!(tlog["logId"]["keyId"], STANDARD.encode(log_id));
    assert_eq!(e["logId"]["keyId"], tlog["logId"]["keyId"]);

    // The checkpoint: origin, size, root; one line by the origin, keyed and signed.
    let note = e["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .expect("checkpoint");
    let (text, sig_line) = note.split_once("\n\n").expect("signed note");
    let text = format!("{text}\n");
    assert_eq!(
        text,
        format!(
            "{}\n2\n{}\n",
            vouch_e2e::sigstore::LOG_V2_NAME,
            e["inclusionProof"]["rootHash"].as_str().expect("root")
        )
    );
    let (name, b64) = sig_line
        .trim_end()
        .strip_prefix("\u{2014} ")
        .and_then(|l| l.split_once(' '))
        .expect("signature line");
    assert_eq!(name, vouch_e2e::sigstore::LOG_V2_NAME);
    let raw = STANDARD.decode(b64).expect("base64");
    assert_eq!(raw[..4], log_id[..4], "key ID");
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, raw_key)
        .verify(text.as_bytes(), &raw[4..])
        .expect("checkpoint signature");
    let mut latest = vouch_e2e::registry::agent()
        .get(&format!("{}/api/v2/checkpoint", s.rekor_v2_url()))
        .call()
        .expect("GET");
    assert_eq!(
        latest.body_mut().read_to_string().expect("note"),
        note,
        "the latest checkpoint"
    );

    // The same entry again: 409 and where it is, no entry.
    let (status, body) = post(&entries, "application/json", &first, None);
    assert_eq!(status, 409);
    assert!(String::from_utf8_lossy(&body).contains("at index 1"));

    // Refused: a signature that does not verify, a v1 entry, garbage; nothing logged.
    let mut forged = hashedrekord_v2(&key, &leaf, b"x");
    forged["hashedRekordRequestV002"]["digest"] =
        STANDARD.encode(sha2::Sha256::digest(b"y")).into();
    for bad in [
        forged,
        hashedrekord(&key, b"v1"),
        json!({"dsseRequestV002": {}}),
    ] {
        let (status, _) = post(
            &entries,
            "application/json",
            &serde_json::to_vec(&bad).expect("JSON"),
            None,
        );
        assert_eq!(status, 400, "{bad}");
    }
    assert_eq!(post(&entries, "application/json", b"[1,", None).0, 400);
    assert_eq!(s.rekor_v2_size(), 2);
}

/// Sends raw bytes and returns the status line of the answer ("" if none).
fn raw_exchange(base_url: &str, request: &[u8]) -> String {
    let host = base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = stream.write_all(request);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn services_survive_bad_requests() {
    let s = Sigstore::start();
    let tsa = s.tsa_url();
    let services = [
        s.oidc_issuer().to_string(),
        s.fulcio_url().to_string(),
        s.rekor_url().to_string(),
        s.rekor_v2_url().to_string(),
        s.tsa_base_url().to_string(),
    ];
    for base in &services {
        // A body over the limit is refused before it is read.
        let huge = format!(
            "POST /api/v1/log/entries HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            64 << 20
        );
        assert!(
            raw_exchange(base, huge.as_bytes()).contains(" 413 "),
            "{base}"
        );
        // A chunked body over the limit, a bad length, garbage, a truncated body.
        let mut chunked =
            b"POST /api/v1/timestamp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        for _ in 0..40 {
            chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
            chunked.extend(std::iter::repeat_n(b'a', 64 * 1024));
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        assert!(raw_exchange(base, &chunked).contains(" 413 "), "{base}");
        assert!(
            raw_exchange(base, b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
                .contains(" 400 ")
        );
        let _ = raw_exchange(base, b"\x16\x03\x01\x00\xff garbage\r\n\r\n");
        let _ = raw_exchange(
            base,
            b"POST /api/v1/log/entries HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"kind\"",
        );
        assert!(
            raw_exchange(base, b"GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n")
                .contains(" 404 ")
        );
    }
    // Malformed content for each API.
    assert_eq!(
        post(
            &tsa,
            "application/timestamp-query",
            b"\x30\x03\x02\x01\x01",
            None
        )
        .0,
        400
    );
    assert_eq!(
        post(&tsa, "application/timestamp-query", &[0xff; 100], None).0,
        400
    );
    for path in [
        "/api/v1/log/entries",
        "/api/v1/log/entries/retrieve",
        "/api/v1/index/retrieve",
    ] {
        assert_eq!(
            post(
                &format!("{}{path}", s.rekor_url()),
                "application/json",
                b"[1,",
                None
            )
            .0,
            400
        );
    }
    assert_eq!(
        get_json(&format!("{}/api/v1/log/entries/zz", s.rekor_url())).0,
        400
    );
    assert_eq!(
        get_json(&format!("{}/api/v1/log/entries?logIndex=-1", s.rekor_url())).0,
        400
    );
    assert_eq!(
        get_json(&format!(
            "{}/api/v1/log/proof?firstSize=2&lastSize=1",
            s.rekor_url()
        ))
        .0,
        400
    );
    assert_eq!(
        post(
            &format!("{}/api/v2/signingCert", s.fulcio_url()),
            "application/json",
            b"{",
            None
        )
        .0,
        400
    );

    // Everything still works: a keyless blob signature end to end.
    let b = Bench {
        sigstore: s,
        reg: Registry::start(),
    };
    std::fs::create_dir_all(b.home()).expect("home");
    std::fs::write(b.path("blob.txt"), b"after the storm\n").expect("blob");
    let token = b.sigstore.email_token(ALICE);
    b.sign_blob(
        &token,
        "b.json",
        &["--new-bundle-format", "--timestamp-server-url", &tsa],
    )
    .expect_code(0);
    b.vouch_verify_bundle("b.json", ALICE).expect_code(0);
}

#[test]
fn cosign_without_the_env_reaches_for_tuf_and_fails_fast() {
    // With the Rekor key missing, cosign 2.5 falls back to the public-good TUF repository:
    // the sentinel proxy answers (so nothing waits on DNS or the internet) and records it.
    let b = Bench::new();
    let (_, reference) = b.push("no rekor key");
    b.sign(
        &reference,
        &b.sigstore.email_token(ALICE),
        &SignOptions::default(),
    )
    .expect_code(0);
    let started = Instant::now();
    let mut cmd = b.sigstore.cosign(&b.home());
    cmd.env_remove("SIGSTORE_REKOR_PUBLIC_KEY")
        .args(["verify", "--allow-insecure-registry"])
        .args(["--certificate-identity", ALICE])
        .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()])
        .arg(&reference);
    refused(Run::of(&mut cmd), "getting Rekor public keys");
    assert!(started.elapsed() < Duration::from_secs(30));
    let attempts = b.sigstore.network_attempts();
    assert!(
        attempts
            .iter()
            .any(|a| a.contains("tuf-repo-cdn.sigstore.dev")),
        "{attempts:?}"
    );
}

/// A Sigstore bundle v0.3 `tlogEntries` item from a Rekor v1 LogEntryAnon.
fn tlog_entry(entry: &Value, kind: &str, version: &str) -> Value {
    let hex_to_b64 =
        |v: &Value| STANDARD.encode(hex::decode(v.as_str().expect("hex")).expect("hex"));
    let proof = &entry["verification"]["inclusionProof"];
    json!({
        "logIndex": entry["logIndex"].to_string(),
        "logId": {"keyId": hex_to_b64(&entry["logID"])},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": entry["integratedTime"].to_string(),
        "inclusionPromise": {"signedEntryTimestamp": entry["verification"]["signedEntryTimestamp"]},
        "inclusionProof": {
            "logIndex": proof["logIndex"].to_string(),
            "rootHash": hex_to_b64(&proof["rootHash"]),
            "treeSize": proof["treeSize"].to_string(),
            "hashes": proof["hashes"].as_array().expect("hashes").iter().map(hex_to_b64).collect::<Vec<_>>(),
            "checkpoint": {"envelope": proof["checkpoint"]},
        },
        "canonicalizedBody": entry["body"],
    })
}

#[test]
fn dsse_and_intoto_entries_made_by_hand_verify_in_vouch() {
    // A keyless in-toto attestation assembled from the raw APIs: Fulcio v2 certificate,
    // DSSE envelope, Rekor entry of each DSSE kind, Sigstore bundle; vouch must accept
    // both and tie each entry to the envelope.
    let b = Bench::new();
    let s = &b.sigstore;
    let key = EcKey::generate();
    let (status, body) = post(
        &format!("{}/api/v2/signingCert", s.fulcio_url()),
        "application/json",
        &v2_request(&s.email_token(ALICE), &key, ALICE),
        None,
    );
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    let cert_pem = v["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .expect("leaf")
        .to_string();
    let (_, cert_der) = der::pem::decode_vec(cert_pem.as_bytes()).expect("PEM");

    let blob = std::fs::read(b.path("blob.txt")).expect("blob");
    let statement = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "blob.txt", "digest": {"sha256": hex::encode(sha2::Sha256::digest(&blob))}}],
        "predicateType": "https://example.com/custom",
        "predicate": {},
    }))
    .expect("statement");
    let payload_type = "application/vnd.in-toto+json";
    let pae = [
        format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            statement.len()
        )
        .as_bytes(),
        &statement,
    ]
    .concat();
    let sig = STANDARD.encode(key.sign(&pae));
    let payload = STANDARD.encode(&statement);
    let envelope = json!({"payload": payload, "payloadType": payload_type, "signatures": [{"keyid": "", "sig": sig}]});
    let envelope_text = serde_json::to_string(&envelope).expect("JSON");

    let proposals = [
        (
            "dsse",
            "0.0.1",
            json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
                "envelope": envelope_text,
                "verifiers": [STANDARD.encode(&cert_pem)],
            }}}),
        ),
        (
            "intoto",
            "0.0.2",
            json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
                "envelope": {
                    "payload": STANDARD.encode(&payload),
                    "payloadType": payload_type,
                    "signatures": [{"sig": STANDARD.encode(&sig), "publicKey": STANDARD.encode(&cert_pem)}],
                },
                "hash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(envelope_text.as_bytes()))},
            }}}),
        ),
    ];
    for (kind, version, proposal) in proposals {
        let (status, body) = post(
            &format!("{}/api/v1/log/entries", s.rekor_url()),
            "application/json",
            &serde_json::to_vec(&proposal).expect("JSON"),
            None,
        );
        assert_eq!(status, 201, "{kind}: {}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        let (_, entry) = v.as_object().and_then(|o| o.iter().next()).expect("entry");
        let logged: Value = serde_json::from_slice(
            &STANDARD
                .decode(entry["body"].as_str().expect("body"))
                .expect("b64"),
        )
        .expect("JSON");
        assert_eq!(logged["kind"], kind);
        assert!(
            !logged.to_string().contains(&payload),
            "{kind}: payload logged"
        );

        let bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": STANDARD.encode(&cert_der)},
                "tlogEntries": [tlog_entry(entry, kind, version)],
            },
            "dsseEnvelope": {"payload": payload, "payloadType": payload_type, "signatures": [{"sig": sig, "keyid": ""}]},
        });
        let name = format!("{kind}.json");
        std::fs::write(b.path(&name), serde_json::to_vec(&bundle).expect("JSON")).expect("bundle");
        let ok = b.vouch_verify_bundle(&name, ALICE).expect_code(0).json();
        assert_eq!(ok["log_entries"][0]["kind"], format!("{kind} {version}"));
    }

    // The log refuses an envelope its verifier did not sign.
    let forged = json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
        "envelope": envelope_text,
        "verifiers": [STANDARD.encode(EcKey::generate().public_pem())],
    }}});
    let (status, _) = post(
        &format!("{}/api/v1/log/entries", s.rekor_url()),
        "application/json",
        &serde_json::to_vec(&forged).expect("JSON"),
        None,
    );
    assert_eq!(status, 400);
}

#[test]
fn the_saved_fixture_verifies_offline() {
    let dir = vouch_e2e::workspace_root().join("tests/fixtures/sigstore-standin");
    let issuer = "http://127.0.0.1:37111";
    let root = dir.join("trusted_root.json");
    let verify = |identity: &str| {
        Run::of(
            vouch()
                .args(["verify-bundle", "--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", issuer])
                .arg("--trusted-root")
                .arg(&root)
                .arg("--bundle")
                .arg(dir.join("blob.txt.sigstore.json"))
                .arg(dir.join("blob.txt")),
        )
    };
    verify(ALICE).expect_code(0);
    refused(verify("bob@example.com"), "does not match");

    // The .sig manifest's layer is the saved payload, and its log entry hashed that layer.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join("cosign-keyless.sig-manifest.json")).expect("manifest"),
    )
    .expect("JSON");
    let layer = std::fs::read(dir.join("cosign-keyless.sig-layer.json")).expect("layer");
    let digest = hex::encode(sha2::Sha256::digest(&layer));
    assert_eq!(manifest["layers"][0]["digest"], format!("sha256:{digest}"));
    let bundle: Value = serde_json::from_str(
        manifest["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"]
            .as_str()
            .expect("bundle annotation"),
    )
    .expect("JSON");
    let body: Value = serde_json::from_slice(
        &STANDARD
            .decode(bundle["Payload"]["body"].as_str().expect("body"))
            .expect("base64"),
    )
    .expect("JSON");
    assert_eq!(body["spec"]["data"]["hash"]["value"], digest);
}
