//! Error messages that once sent users the wrong way, each a test named after the bug: a
//! message that repeated itself, a wrong-kind key file, a layout named without `oci:`, a
//! missing tag or layout, the `--allow-insecure-registry` hint where no flag helps, a
//! plain-HTTP registry, and `verify` given no trust at all.

use std::path::Path;

use vouch_e2e::{
    Registry, RegistryOptions, Run, TEST_PASSWORD, TestImage, TlsFiles, keygen, vouch,
};

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

fn layout(dir: &Path, tag: &str) -> String {
    TestImage::new("error messages").write_layout(&dir.join("layout"), Some(tag));
    dir.join("layout").display().to_string()
}

#[test]
fn wrong_password_message_repeated_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _) = keygen(dir.path(), "release", "ecdsa-p256");
    let image = format!("oci:{}", layout(dir.path(), "v1"));
    let run = Run::of(
        vouch()
            .args(["sign", &image, "--key"])
            .arg(&key)
            .env("VOUCH_PASSWORD", "not the password"),
    )
    .expect_code(2);
    assert_eq!(
        count(&run.stderr, "wrong password or corrupted key"),
        1,
        "{run:?}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
}

#[test]
fn private_key_given_to_verify_repeated_pass_the_pub_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _) = keygen(dir.path(), "release", "ecdsa-p256");
    let image = format!("oci:{}", layout(dir.path(), "v1"));
    let run = Run::of(vouch().args(["verify", &image, "--key"]).arg(&key)).expect_code(2);
    assert_eq!(count(&run.stderr, "pass the .pub file"), 1, "{run:?}");
}

#[test]
fn public_key_given_to_sign_asked_for_a_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, public) = keygen(dir.path(), "release", "ecdsa-p256");
    let image = format!("oci:{}", layout(dir.path(), "v1"));
    // No password anywhere: the key's kind is what is wrong, not the missing password.
    let run = Run::of(vouch().args(["sign", &image, "--key"]).arg(&public)).expect_code(2);
    assert!(run.stderr.contains("pass the .key file"), "{run:?}");
    assert!(!run.stderr.contains("password"), "{run:?}");
}

#[test]
fn layout_path_without_oci_prefix_gave_no_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = layout(dir.path(), "v1");
    let run = Run::of(vouch().args(["verify", &path, "--key", "unused.pub"])).expect_code(2);
    assert!(
        run.stderr.contains(&format!("name it oci:{path}")),
        "{run:?}"
    );
}

#[test]
fn missing_tag_in_a_layout_did_not_list_its_tags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _) = keygen(dir.path(), "release", "ecdsa-p256");
    let path = layout(dir.path(), "v1");
    let run = Run::of(
        vouch()
            .args(["sign", &format!("oci:{path}:v2"), "--key"])
            .arg(&key)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(2);
    assert!(run.stderr.contains("\"v2\""), "{run:?}");
    assert!(run.stderr.contains("its tags: v1"), "{run:?}");
}

#[test]
fn nonexistent_layout_said_not_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, public) = keygen(dir.path(), "release", "ecdsa-p256");
    let missing = dir.path().join("no-such-layout");
    let run = Run::of(
        vouch()
            .args(["verify", &format!("oci:{}", missing.display()), "--key"])
            .arg(&public),
    );
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.all().contains("no such directory"), "{run:?}");
    assert!(!run.all().contains("not a directory"), "{run:?}");
}

#[test]
fn insecure_registry_hint_was_given_when_no_flag_helps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, public) = keygen(dir.path(), "release", "ecdsa-p256");
    // Nothing listens on port 1 of the loopback: a refused connection, not a TLS problem.
    let run = Run::of(
        vouch()
            .args(["--retries", "0", "verify", "127.0.0.1:1/app:v1", "--key"])
            .arg(&public),
    )
    .expect_code(3);
    assert!(!run.all().contains("--allow-insecure-registry"), "{run:?}");
    // A name that does not resolve (`.invalid` never does, RFC 6761): no flag helps either.
    let run = Run::of(
        vouch()
            .args([
                "--retries",
                "0",
                "verify",
                "no-such-host.invalid/app:v1",
                "--key",
            ])
            .arg(&public),
    )
    .expect_code(3);
    assert!(run.all().contains("no-such-host.invalid"), "{run:?}");
    assert!(!run.all().contains("--allow-insecure-registry"), "{run:?}");

    // A certificate vouch does not trust: the hint belongs here.
    let tls = TlsFiles::generate();
    let registry = Registry::start_with(RegistryOptions {
        tls: Some(tls),
        ..RegistryOptions::default()
    });
    TestImage::new("tls").push(&registry, "app", "v1");
    let run = Run::of(
        vouch()
            .args(["verify", &format!("{}:v1", registry.image("app")), "--key"])
            .arg(&public),
    )
    .expect_code(3);
    assert!(run.all().contains("--allow-insecure-registry"), "{run:?}");
    assert!(run.all().contains("--registry-cacert"), "{run:?}");
}

#[test]
fn plain_http_registry_was_not_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, public) = keygen(dir.path(), "release", "ecdsa-p256");
    let registry = Registry::start();
    TestImage::new("plain").push(&registry, "app", "v1");
    let run = Run::of(
        vouch()
            .args(["verify", &format!("{}:v1", registry.image("app")), "--key"])
            .arg(&public),
    )
    .expect_code(3);
    assert!(
        run.all().contains("the registry answered plain HTTP"),
        "{run:?}"
    );
    assert!(run.all().contains("--allow-insecure-registry"), "{run:?}");
}

#[test]
fn verify_without_key_or_policy_named_only_key() {
    let run = Run::of(vouch().args(["verify", "oci:./layout"])).expect_code(2);
    assert!(run.stderr.contains("--key"), "{run:?}");
    assert!(run.stderr.contains("--policy"), "{run:?}");
}

#[test]
fn failed_verify_left_no_trace_in_stderr_when_the_report_was_redirected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, public) = keygen(dir.path(), "release", "ecdsa-p256");
    let unsigned = format!("oci:{}", layout(dir.path(), "v1"));
    let missing = format!("oci:{}", dir.path().join("gone").display());
    let run = Run::of(
        vouch()
            .args(["verify", &unsigned, &missing, "--output", "json", "--key"])
            .arg(&public),
    )
    .expect_code(3);
    assert_eq!(run.json()["images"].as_array().map(Vec::len), Some(2));
    assert!(
        run.stderr
            .lines()
            .any(|l| l == "vouch: 1 of 2 images refused, 1 could not be checked"),
        "{run:?}"
    );
}

#[test]
fn registry_flags_were_listed_on_offline_commands() {
    for offline in [
        &["keygen", "--help"][..],
        &["key", "id", "--help"],
        &["policy", "check", "--help"],
        &["policy", "explain", "--help"],
        &["policy", "test", "--help"],
    ] {
        let run = Run::of(vouch().args(offline)).expect_code(0);
        assert!(
            !run.stdout.contains("--timeout"),
            "{offline:?}: {}",
            run.stdout
        );
        assert!(!run.stdout.contains("Registry options"), "{offline:?}");
    }
    for online in [
        &["verify", "--help"][..],
        &["sign", "--help"],
        &["pin", "--help"],
    ] {
        let run = Run::of(vouch().args(online)).expect_code(0);
        assert!(run.stdout.contains("Registry options:"), "{online:?}");
        assert!(
            run.stdout.contains("--allow-insecure-registry"),
            "{online:?}"
        );
    }
    // Hidden, not gone: an offline command still accepts them (scripts pass them everywhere).
    Run::of(vouch().args(["--timeout", "5", "keygen", "--help"])).expect_code(0);
}

#[test]
fn oci_image_refused_by_a_policy_gave_no_identity_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "release", "ecdsa-p256");
    let path = layout(dir.path(), "v1");
    let image = format!("oci:{path}");
    Run::of(
        vouch()
            .args([
                "sign",
                &image,
                "--identity",
                "registry.example.com/app",
                "--key",
            ])
            .arg(&key)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nsigners:\n  release:\n    keys: [{}]\nrules:\n  - name: app\n    images: [\"registry.example.com/app\"]\n    require:\n      signers: [release]\ndefault: deny\n",
            public.display()
        ),
    )
    .expect("write policy");
    let run = Run::of(vouch().args(["verify", &image, "--policy"]).arg(&policy)).expect_code(1);
    assert!(run.stderr.contains("--identity"), "{run:?}");
    assert!(run.stderr.contains("\"layout\""), "{run:?}");
    // Named as the repository it is meant for, the rule applies and the image passes.
    let run = Run::of(
        vouch()
            .args([
                "verify",
                &image,
                "--identity",
                "registry.example.com/app",
                "--policy",
            ])
            .arg(&policy),
    )
    .expect_code(0);
    assert!(!run.stderr.contains("hint:"), "{run:?}");
}
