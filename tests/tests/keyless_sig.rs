//! Keyless cosign 2.x signatures in `.sig` manifests: real `cosign sign` keyless signatures
//! made against the local Sigstore stand-in (Fulcio certificates with SCTs, Rekor entries with
//! SETs, an RFC 3161 TSA, its own trusted root), in a real registry, judged by `vouch verify`
//! with cosign's flags and with a policy; and every way such a signature can be wrong, refused
//! with its reason.

use std::path::{Path, PathBuf};

use vouch_e2e::sigstore::{Hostile, SignOptions, Sigstore, SigstoreOptions};
use vouch_e2e::{Registry, Run, TestImage, keygen, sign, vouch};

const ALICE: &str = "alice@example.com";

/// One stand-in, one registry, a scratch directory.
struct Bench {
    sigstore: Sigstore,
    reg: Registry,
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        Bench::hostile(Hostile::default())
    }

    fn hostile(hostile: Hostile) -> Bench {
        let sigstore = Sigstore::start_with(SigstoreOptions { hostile });
        std::fs::create_dir_all(sigstore.dir().join("home")).expect("cosign home");
        Bench {
            sigstore,
            reg: Registry::start(),
            dir: tempfile::tempdir().expect("dir"),
        }
    }

    /// Pushes a fresh image as `REPO:latest`; its `HOST/REPO@DIGEST`.
    fn push(&self, repo: &str, content: &str) -> String {
        let img = TestImage::new(content);
        img.push(&self.reg, repo, "latest");
        format!("{}@{}", self.reg.image(repo), img.digest())
    }

    /// Keyless `cosign sign` as `email`; must succeed.
    fn cosign_sign(&self, image: &str, email: &str, options: &SignOptions) {
        let token = self.sigstore.email_token(email);
        self.sigstore
            .cosign_sign(&self.sigstore.dir().join("home"), image, &token, options)
            .expect_code(0);
    }

    /// `vouch verify` with cosign's keyless flags and the stand-in's trusted root.
    fn verify_keyless(&self, image: &str, identity: &str, issuer: &str, extra: &[&str]) -> Run {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "verify", image])
                .args(["--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", issuer])
                .arg("--trusted-root")
                .arg(self.sigstore.trusted_root_path())
                .args(extra),
        )
    }

    /// Writes a policy next to a copy of the stand-in's trusted root.
    fn policy(&self, name: &str, text: &str) -> PathBuf {
        std::fs::copy(
            self.sigstore.trusted_root_path(),
            self.dir.path().join("trusted_root.json"),
        )
        .expect("copy trusted root");
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("policy");
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

    fn issuer(&self) -> &str {
        self.sigstore.oidc_issuer()
    }
}

/// The one signature report of a `--output json` run.
fn only_signature(run: &Run) -> serde_json::Value {
    let json = run.json();
    let sigs = json["images"][0]["signatures"]
        .as_array()
        .expect("signatures")
        .clone();
    assert_eq!(sigs.len(), 1, "{json:#}");
    sigs[0].clone()
}

#[test]
fn cosign_keyless_signature_verifies_with_cosigns_flags() {
    let b = Bench::new();
    let image = b.push("app", "keyless");
    b.cosign_sign(&image, ALICE, &SignOptions::default());

    let run = b
        .verify_keyless(&image, ALICE, b.issuer(), &[])
        .expect_code(0);
    assert!(run.stdout.starts_with("VERIFIED"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("verified by {ALICE} ({})", b.issuer())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("log index 1, signed "),
        "{}",
        run.stdout
    );

    let run = b
        .verify_keyless(&image, ALICE, b.issuer(), &["--output", "json"])
        .expect_code(0);
    let sig = only_signature(&run);
    assert_eq!(sig["verdict"], "verified");
    assert_eq!(sig["identity"]["subject"], ALICE);
    assert_eq!(sig["identity"]["issuer"], b.issuer());
    assert_eq!(sig["log_index"], 1);
    assert!(sig["signed_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    // The exact flags are not patterns.
    b.verify_keyless(&image, ".*", b.issuer(), &[])
        .expect_code(1);
    // Regular expressions match the whole text.
    Run::of(
        vouch()
            .args(["--allow-insecure-registry", "verify", &image])
            .args(["--certificate-identity-regexp", "alice@example\\.(com|org)"])
            .args([
                "--certificate-oidc-issuer-regexp",
                "http://127\\.0\\.0\\.1:[0-9]+",
            ])
            .arg("--trusted-root")
            .arg(b.sigstore.trusted_root_path()),
    )
    .expect_code(0);
    let run = Run::of(
        vouch()
            .args(["--allow-insecure-registry", "verify", &image])
            .args(["--certificate-identity-regexp", "alice"])
            .args(["--certificate-oidc-issuer", b.issuer()])
            .arg("--trusted-root")
            .arg(b.sigstore.trusted_root_path()),
    )
    .expect_code(1);
    assert!(
        run.stdout.contains("is not the one asked for"),
        "{}",
        run.stdout
    );
}

#[test]
fn another_subject_or_issuer_is_refused() {
    let b = Bench::new();
    let image = b.push("app", "identity");
    b.cosign_sign(&image, ALICE, &SignOptions::default());

    let run = b
        .verify_keyless(&image, "mallory@example.com", b.issuer(), &[])
        .expect_code(1);
    assert!(run.stdout.starts_with("REFUSED"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "certificate identity \"{ALICE}\" from {} is not the one asked for",
            b.issuer()
        )),
        "{}",
        run.stdout
    );
    let run = b
        .verify_keyless(&image, ALICE, "https://accounts.google.com", &[])
        .expect_code(1);
    assert!(
        run.stdout.contains("is not the one asked for"),
        "{}",
        run.stdout
    );

    // Without any keyless flag, a keyless signature is not a key signature.
    let (_, public) = keygen(b.dir.path(), "other", "ecdsa-p256");
    let run = Run::of(
        vouch()
            .args(["--allow-insecure-registry", "verify", &image, "--key"])
            .arg(&public),
    )
    .expect_code(1);
    assert!(
        run.stdout.contains("--certificate-identity"),
        "{}",
        run.stdout
    );
}

#[test]
fn keyless_signature_under_a_policy_and_with_a_key_signer() {
    let b = Bench::new();
    let (key, public) = keygen(b.dir.path(), "release", "ecdsa-p256");
    let image = b.push("app", "policy");
    b.cosign_sign(&image, ALICE, &SignOptions::default());
    let policy = |threshold: usize, subject: &str| {
        format!(
            "version: 1\ntrusted_root: trusted_root.json\nsigners:\n  release:\n    keys: [{}]\n  alice:\n    keyless: {{issuer: \"{}\", subject: \"{subject}\"}}\nrules:\n  - name: all\n    images: [\"**\"]\n    require: {{signers: [release, alice], threshold: {threshold}}}\n",
            public.display(),
            b.issuer()
        )
    };
    let one = b.policy("one.yaml", &policy(1, ALICE));
    let run = b.verify_policy(&image, &one, &[]).expect_code(0);
    assert!(run.stdout.starts_with("ALLOW"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "identity \"{ALICE}\" from {}, log index 1, signed ",
            b.issuer()
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("counted for signer \"alice\""),
        "{}",
        run.stdout
    );

    // Two of two: the keyless layer alone is not enough…
    let two = b.policy("two.yaml", &policy(2, ALICE));
    let run = b.verify_policy(&image, &two, &[]).expect_code(1);
    assert!(run.stdout.starts_with("DENY"), "{}", run.stdout);
    // …until a key signature is appended to the same `.sig` manifest: the two count together.
    sign(&image, &key, &[]).expect_code(0);
    let run = b
        .verify_policy(&image, &two, &["--output", "json"])
        .expect_code(0);
    let json = run.json();
    let counted = &json["images"][0]["judged"][0]["evaluation"]["signers_counted"];
    assert_eq!(
        counted,
        &serde_json::json!(["release", "alice"]),
        "{json:#}"
    );

    // The policy names another subject: the keyless layer matches no signer.
    let other = b.policy("other.yaml", &policy(1, "bob@example.com"));
    let run = b
        .verify_policy(&image, &other, &["--output", "json"])
        .expect_code(0);
    let sigs = &run.json()["images"][0]["judged"][0]["evaluation"]["signatures"];
    assert!(
        sigs.as_array()
            .expect("signatures")
            .iter()
            .any(|s| s["status"] == "unknown-identity"),
        "{sigs:#}"
    );
}

#[test]
fn timestamped_keyless_signature_verifies() {
    let b = Bench::new();
    let image = b.push("app", "timestamped");
    b.cosign_sign(
        &image,
        ALICE,
        &SignOptions {
            timestamp: true,
            ..SignOptions::default()
        },
    );
    let run = b
        .verify_keyless(&image, ALICE, b.issuer(), &["--output", "json"])
        .expect_code(0);
    let sig = only_signature(&run);
    assert_eq!(sig["verdict"], "verified", "{sig:#}");
    assert!(sig["log_index"].is_number(), "{sig:#}");
}

#[test]
fn keyless_signature_without_a_log_entry_is_refused_unless_accepted() {
    let b = Bench::new();
    let image = b.push("app", "unlogged");
    b.cosign_sign(
        &image,
        ALICE,
        &SignOptions {
            tlog_upload: false,
            ..SignOptions::default()
        },
    );
    let run = b
        .verify_keyless(&image, ALICE, b.issuer(), &[])
        .expect_code(1);
    assert!(
        run.stdout
            .contains("keyless signature with no transparency-log entry"),
        "{}",
        run.stdout
    );

    // cosign's own opt-out: the ten-minute certificate is checked now, just after signing.
    let run = b
        .verify_keyless(&image, ALICE, b.issuer(), &["--insecure-ignore-tlog"])
        .expect_code(0);
    assert!(run.stdout.contains(", not logged"), "{}", run.stdout);

    // A policy opts in per signer, explicitly.
    let policy = |log: &str| {
        format!(
            "version: 1\ntrusted_root: trusted_root.json\nsigners:\n  alice:\n    keyless: {{issuer: \"{}\", subject: \"{ALICE}\"{log}}}\nrules:\n  - name: all\n    images: [\"**\"]\n    require: {{signers: [alice]}}\n",
            b.issuer()
        )
    };
    let strict = b.policy("strict.yaml", &policy(""));
    let run = b.verify_policy(&image, &strict, &[]).expect_code(1);
    assert!(
        run.stdout
            .contains("keyless signature with no transparency-log entry"),
        "{}",
        run.stdout
    );
    let optional = b.policy("optional.yaml", &policy(", transparency_log: optional"));
    b.verify_policy(&image, &optional, &[]).expect_code(0);
    // Judged a day later, the certificate is long expired: nothing proves when it signed.
    let later = "2099-01-01T00:00:00Z";
    let run = b
        .verify_policy(&image, &optional, &["--at", later])
        .expect_code(1);
    assert!(run.stdout.contains("certificate"), "{}", run.stdout);
}

#[test]
fn keyless_signature_with_only_a_timestamp_is_checked_at_that_time() {
    let b = Bench::new();
    let image = b.push("app", "tsa-only");
    b.cosign_sign(
        &image,
        ALICE,
        &SignOptions {
            timestamp: true,
            tlog_upload: false,
            ..SignOptions::default()
        },
    );
    b.verify_keyless(&image, ALICE, b.issuer(), &[])
        .expect_code(1);
    let run = b
        .verify_keyless(
            &image,
            ALICE,
            b.issuer(),
            &["--insecure-ignore-tlog", "--output", "json"],
        )
        .expect_code(0);
    let sig = only_signature(&run);
    assert!(sig["log_index"].is_null(), "{sig:#}");
    assert!(sig["signed_at"].is_string(), "{sig:#}");
}

/// Signs with the stand-in set to `hostile` and returns vouch's refusal.
fn refused_when(hostile: Hostile) -> String {
    let b = Bench::hostile(hostile);
    let image = b.push("app", "hostile");
    b.cosign_sign(&image, ALICE, &SignOptions::default());
    let run = b
        .verify_keyless(&image, ALICE, b.issuer(), &[])
        .expect_code(1);
    assert!(run.stdout.starts_with("REFUSED"), "{}", run.stdout);
    run.stdout
}

#[test]
fn chain_from_a_ca_not_in_the_trusted_root_is_refused() {
    let out = refused_when(Hostile {
        fulcio_untrusted_ca: true,
        ..Hostile::default()
    });
    assert!(
        out.contains("keyless signature refused: certificate"),
        "{out}"
    );
}

#[test]
fn tampered_signed_entry_timestamp_is_refused() {
    let out = refused_when(Hostile {
        rekor_bad_set: true,
        ..Hostile::default()
    });
    assert!(
        out.contains("keyless signature refused: transparency log entry 0"),
        "{out}"
    );
}

#[test]
fn log_entry_for_another_signature_is_refused() {
    let out = refused_when(Hostile {
        rekor_other_signature: true,
        ..Hostile::default()
    });
    assert!(
        out.contains("keyless signature refused: transparency log entry 0"),
        "{out}"
    );
}

#[test]
fn certificate_expired_at_log_time_is_refused() {
    let out = refused_when(Hostile {
        rekor_time_after_expiry: true,
        ..Hostile::default()
    });
    assert!(
        out.contains("keyless signature refused: certificate"),
        "{out}"
    );
}

#[test]
fn certificate_for_another_identity_is_refused() {
    let out = refused_when(Hostile {
        fulcio_other_identity: true,
        ..Hostile::default()
    });
    assert!(out.contains("is not the one asked for"), "{out}");
}
