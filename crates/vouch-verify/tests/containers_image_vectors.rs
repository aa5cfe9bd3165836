//! containers/image's cosign fixtures (tests/vectors/containers-image), judged by
//! vouch's layer checks with the verdicts that project expects (see the vectors README).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use vouch_keys::PublicKey;
use vouch_oci::oci::Descriptor;
use vouch_oci::reference::Digest;
use vouch_verify::fetch::FetchedLayer;
use vouch_verify::judge::{SignatureJudge, TrustedKey, judge_layer};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/vectors/containers-image/signature/fixtures")
}

fn trusted(name: &str) -> TrustedKey {
    let path = fixtures().join(name);
    let key =
        PublicKey::from_pem(&std::fs::read_to_string(&path).expect("key")).expect("parse key");
    TrustedKey {
        key_id: key.key_id(),
        key,
        source: name.to_string(),
    }
}

/// A containers/image on-disk signature: `\0sigstore-json\n` + {mimeType, payload, annotations}.
fn load_signature(path: &Path) -> FetchedLayer {
    let bytes = std::fs::read(path).expect("signature file");
    let prefix = b"\x00sigstore-json\n";
    assert!(bytes.starts_with(prefix), "{}", path.display());
    let doc: serde_json::Value = serde_json::from_slice(&bytes[prefix.len()..]).expect("json");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(doc["payload"].as_str().expect("payload"))
        .expect("base64");
    let annotations = doc["annotations"]
        .as_object()
        .expect("annotations")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    FetchedLayer {
        descriptor: Descriptor {
            media_type: doc["mimeType"].as_str().expect("mimeType").to_string(),
            digest: Digest::of(&payload).to_string(),
            size: payload.len() as u64,
            annotations: Some(annotations),
            platform: None,
        },
        payload: Ok(payload),
    }
}

/// Verdicts for every signature of a fixture image, judged as `identity` with `keys`.
fn judge(dir: &str, identity: &str, keys: &[TrustedKey]) -> Vec<(String, Option<String>)> {
    let dir = fixtures().join(dir);
    let manifest = std::fs::read(dir.join("manifest.json")).expect("manifest");
    let digest = Digest::of(&manifest);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("signature-"))
        })
        .collect();
    files.sort();
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (report, _) = judge_layer(
                i + 1,
                &load_signature(f),
                &digest,
                Some(identity),
                &SignatureJudge::keys(keys),
                None,
            );
            (report.verdict.to_string(), report.reason)
        })
        .collect()
}

const SAMPLE: &str = "192.168.64.2:5000/cosign-signed-single-sample";

#[test]
fn valid_images_are_accepted() {
    let key = [trusted("cosign.pub")];
    for dir in ["dir-img-cosign-valid", "dir-img-cosign-valid-2"] {
        let verdicts = judge(dir, SAMPLE, &key);
        assert!(!verdicts.is_empty());
        assert!(
            verdicts.iter().all(|(v, _)| v == "verified"),
            "{dir}: {verdicts:?}"
        );
    }
}

#[test]
fn mixed_image_has_one_valid_signature() {
    let verdicts = judge("dir-img-cosign-mixed", SAMPLE, &[trusted("cosign.pub")]);
    assert_eq!(
        verdicts.iter().filter(|(v, _)| v == "verified").count(),
        1,
        "{verdicts:?}"
    );
    assert_eq!(verdicts.len(), 2);
}

#[test]
fn tagged_identity_matches_its_repository_only() {
    let key = [trusted("cosign.pub")];
    let ok = judge(
        "dir-img-cosign-valid-with-tag",
        "192.168.64.2:5000/skopeo-signed",
        &key,
    );
    assert_eq!(ok[0].0, "verified", "{ok:?}");
    let other = judge("dir-img-cosign-valid-with-tag", "this/does-not", &key);
    assert!(
        other[0]
            .1
            .as_deref()
            .is_some_and(|r| r.contains("another repository")),
        "{other:?}"
    );
}

#[test]
fn key_with_rekor_bundle_verifies_by_key() {
    let verdicts = judge(
        "dir-img-cosign-key-rekor-valid",
        "192.168.64.2:5000/cosign-signed/key-1",
        &[trusted("cosign2.pub")],
    );
    assert_eq!(verdicts[0].0, "verified", "{verdicts:?}");
}

#[test]
fn refusals() {
    let key = [trusted("cosign.pub")];
    // The manifest was modified after signing: the payload names the original digest.
    let v = judge("dir-img-cosign-modified-manifest", SAMPLE, &key);
    assert!(
        v.iter().all(|(verdict, reason)| verdict == "rejected"
            && reason
                .as_deref()
                .is_some_and(|r| r.contains("another image"))),
        "{v:?}"
    );
    // A text/plain attachment is not a signature whatever its annotation says.
    let v = judge("dir-img-cosign-other-attachment", SAMPLE, &key);
    assert!(
        v[0].1
            .as_deref()
            .is_some_and(|r| r.contains("not a simple-signing layer")),
        "{v:?}"
    );
    // Signed by another key.
    let v = judge("dir-img-cosign-valid", SAMPLE, &[trusted("cosign2.pub")]);
    assert!(v.iter().all(|(verdict, _)| verdict == "rejected"), "{v:?}");
    // A v2s1 manifest with a digest the signature does not name.
    let v = judge("dir-img-cosign-manifest-digest-error", SAMPLE, &key);
    assert!(v.iter().all(|(verdict, _)| verdict == "rejected"), "{v:?}");
}

#[test]
fn unacceptable_payloads_with_valid_signatures_are_refused() {
    let key = [trusted("cosign.pub")];
    let derived = fixtures().join("../../derived-simple-signing");
    let digest = Digest::of(b"irrelevant");
    for case in [
        "valid-sig-over-non-json",
        "valid-sig-over-empty-json-object",
    ] {
        let dir = derived.join(case);
        let payload = std::fs::read(dir.join("payload.bin")).expect("payload");
        let signature = std::fs::read_to_string(dir.join("signature.b64")).expect("sig");
        let layer = FetchedLayer {
            descriptor: Descriptor {
                media_type: vouch_oci::oci::SIMPLE_SIGNING.to_string(),
                digest: Digest::of(&payload).to_string(),
                size: payload.len() as u64,
                annotations: Some(
                    [(
                        vouch_oci::oci::SIGNATURE_ANNOTATION.to_string(),
                        signature.trim().to_string(),
                    )]
                    .into(),
                ),
                platform: None,
            },
            payload: Ok(payload),
        };
        let (report, counted) = judge_layer(
            1,
            &layer,
            &digest,
            Some(SAMPLE),
            &SignatureJudge::keys(&key),
            None,
        );
        assert!(counted.is_none(), "{case}");
        // The signature itself is good; the payload is what is refused.
        assert!(report.key_id.is_some(), "{case}: {report:?}");
        assert!(
            report
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("signed payload refused")),
            "{case}: {report:?}"
        );
    }
}

/// A keyless judge against vouch's built-in Sigstore production root.
fn keyless_judge(unlogged_at: Option<vouch_sigstore::UnixTime>) -> SignatureJudge<'static> {
    SignatureJudge {
        keys: &[],
        root: vouch_sigstore::production_root(),
        keyless: true,
        unlogged_at,
    }
}

/// The one signature of a fixture image, judged as `identity` by `judge`.
fn judge_one(
    dir: &str,
    identity: &str,
    judge: &SignatureJudge<'_>,
) -> (
    vouch_verify::report::SignatureReport,
    Option<vouch_verify::judge::VerifiedSig>,
) {
    let dir = fixtures().join(dir);
    let manifest = std::fs::read(dir.join("manifest.json")).expect("manifest");
    let layer = load_signature(&dir.join("signature-1"));
    judge_layer(
        1,
        &layer,
        &Digest::of(&manifest),
        Some(identity),
        judge,
        None,
    )
}

const FULCIO_SAMPLE: &str = "192.168.64.2:5000/cosign-signed/fulcio-rekor-1";

#[test]
fn keyless_fulcio_rekor_signature_is_verified_at_its_log_time() {
    let (report, verified) = judge_one(
        "dir-img-cosign-fulcio-rekor-valid",
        FULCIO_SAMPLE,
        &keyless_judge(None),
    );
    let verified = verified.unwrap_or_else(|| panic!("{report:?}"));
    let identity = verified.identity.expect("identity");
    assert_eq!(identity.subject, "mitr@redhat.com");
    assert_eq!(identity.issuer, "https://github.com/login/oauth");
    assert_eq!(verified.log_index, Some(11_605_770));
    assert!(!verified.unlogged);
    assert_eq!(report.signed_at.as_deref(), Some("2023-01-20T20:51:33Z"));
}

#[test]
fn keyless_signature_is_refused_where_keyless_is_not_asked_for() {
    let key = [trusted("cosign.pub")];
    let (report, verified) = judge_one(
        "dir-img-cosign-fulcio-rekor-valid",
        FULCIO_SAMPLE,
        &SignatureJudge::keys(&key),
    );
    assert!(verified.is_none());
    assert!(
        report
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("--certificate-identity")),
        "{report:?}"
    );
}

#[test]
fn private_pki_certificate_is_not_a_fulcio_signature() {
    // containers/image accepts it only with its own PKI roots configured; against the
    // Sigstore root it has neither a Fulcio chain nor a log entry.
    let (report, verified) = judge_one(
        "dir-img-cosign-pki-valid",
        "localhost:5000/test",
        &keyless_judge(None),
    );
    assert!(verified.is_none());
    assert!(
        report
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("no transparency-log entry")),
        "{report:?}"
    );
    // Even when unlogged signatures are accepted, the chain must lead to a Fulcio CA.
    let now = vouch_sigstore::UnixTime::from_secs(1_750_000_000);
    let (report, verified) = judge_one(
        "dir-img-cosign-pki-valid",
        "localhost:5000/test",
        &keyless_judge(Some(now)),
    );
    assert!(verified.is_none());
    assert!(
        report
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("certificate")),
        "{report:?}"
    );
}

#[test]
fn key_signature_with_a_rekor_bundle_verifies_by_its_key() {
    let key = [trusted("cosign2.pub")];
    let (report, verified) = judge_one(
        "dir-img-cosign-key-rekor-valid",
        "192.168.64.2:5000/cosign-signed/key-1",
        &SignatureJudge::keys(&key),
    );
    assert!(verified.is_some(), "{report:?}");
    assert_eq!(report.key_id.as_deref(), Some(key[0].key_id.as_str()));
}
