//! `vouch keygen`, `vouch key id`, passwords and key-file handling, through the binary.

use std::os::unix::fs::PermissionsExt;

use vouch_e2e::{Run, TEST_PASSWORD, TestImage, keygen, sign, vectors_dir, vouch};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn keygen_writes_encrypted_0600_key_and_public_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    for alg in ["ecdsa-p256", "ed25519"] {
        let (key, public) = keygen(dir.path(), alg, alg);
        assert_eq!(mode(&key), 0o600, "{alg} private key mode");
        let text = std::fs::read_to_string(&key).expect("key");
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
            "{text}"
        );
        let pub_text = std::fs::read_to_string(&public).expect("pub");
        assert!(
            pub_text.starts_with("-----BEGIN PUBLIC KEY-----"),
            "{pub_text}"
        );
        let id = Run::of(vouch().args(["key", "id"]).arg(&public)).expect_code(0);
        let id_private = Run::of(
            vouch()
                .args(["key", "id"])
                .arg(&key)
                .env("VOUCH_PASSWORD", TEST_PASSWORD),
        )
        .expect_code(0);
        assert_eq!(id.stdout, id_private.stdout);
        assert_eq!(id.stdout.trim().len(), 64);
    }
}

#[test]
fn keygen_never_overwrites_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _public) = keygen(dir.path(), "k", "ecdsa-p256");
    let before = std::fs::read(&key).expect("key");
    let out = Run::of(
        vouch()
            .args(["keygen", "--output-key-prefix"])
            .arg(dir.path().join("k"))
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(2);
    assert!(
        out.stderr.contains("--force") && out.stderr.contains("k.key"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read(&key).expect("key"),
        before,
        "existing key untouched"
    );
    Run::of(
        vouch()
            .args(["keygen", "--force", "--output-key-prefix"])
            .arg(dir.path().join("k"))
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    assert_ne!(std::fs::read(&key).expect("key"), before);
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn passwords_come_from_env_file_or_fail_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No password source and no terminal: exit 2 with what to do.
    let out = Run::of(
        vouch()
            .args(["keygen", "--output-key-prefix"])
            .arg(dir.path().join("none"))
            .stdin(std::process::Stdio::null()),
    )
    .expect_code(2);
    assert!(
        out.stderr.contains("VOUCH_PASSWORD") && out.stderr.contains("--password-file"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("none.key").exists());

    // COSIGN_PASSWORD and --password-file work too.
    Run::of(
        vouch()
            .args(["keygen", "--output-key-prefix"])
            .arg(dir.path().join("c"))
            .env("COSIGN_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    let pw_file = dir.path().join("pw.txt");
    std::fs::write(&pw_file, format!("{TEST_PASSWORD}\n")).expect("pw");
    Run::of(
        vouch()
            .args(["key", "id"])
            .arg(dir.path().join("c.key"))
            .arg("--password-file")
            .arg(&pw_file),
    )
    .expect_code(0);

    // A wrong password is a key error (exit 2), and says so.
    let out = Run::of(
        vouch()
            .args(["key", "id"])
            .arg(dir.path().join("c.key"))
            .env("VOUCH_PASSWORD", "not the password"),
    )
    .expect_code(2);
    assert!(out.stderr.contains("wrong password"), "{}", out.stderr);
    assert!(!out.all().contains("not the password"), "password echoed");
}

#[test]
fn readable_key_files_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("img");
    TestImage::new("perms").write_layout(&layout, Some("v1"));
    let (key, _public) = keygen(dir.path(), "k", "ecdsa-p256");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let reference = format!("oci:{}:v1", layout.display());
    let out = sign(&reference, &key, &[]).expect_code(2);
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
    sign(&reference, &key, &["--allow-insecure-key-permissions"]).expect_code(0);
}

#[test]
fn private_key_given_to_verify_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _public) = keygen(dir.path(), "k", "ecdsa-p256");
    let out = Run::of(
        vouch()
            .args(["verify", "oci:/nonexistent", "--key"])
            .arg(&key),
    )
    .expect_code(2);
    assert!(out.stderr.contains("private key"), "{}", out.stderr);
}

#[test]
fn sigstore_rs_vector_keys_sign_through_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("img");
    let img = TestImage::new("vector keys");
    img.write_layout(&layout, Some("v1"));
    let keys = vectors_dir().join("sigstore-rs/tests/data/keys");
    for name in ["ecdsa", "ed25519", "rsa"] {
        let src = keys.join(format!("{name}_encrypted_private.key"));
        let key = dir.path().join(format!("{name}.key"));
        std::fs::copy(&src, &key).expect("copy vector key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let out = Run::of(
            vouch()
                .args(["sign", &format!("oci:{}:v1", layout.display()), "--key"])
                .arg(&key)
                .env("VOUCH_PASSWORD", "123"),
        )
        .expect_code(0);
        assert!(out.stdout.contains(img.digest()), "{}", out.stdout);
    }
}

#[test]
fn bad_references_and_annotations_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    for (args, needle) in [
        (vec!["verify", "UPPER/case"], "bad image reference"),
        (vec!["verify", "app@sha256:123"], "invalid digest"),
        (
            vec!["verify", "oci:", "-a", "x=y"],
            "oci: reference without a path",
        ),
        (vec!["verify", "app", "-a", "novalue"], "not KEY=VALUE"),
    ] {
        let out = Run::of(vouch().args(&args).arg("--key").arg(&public)).expect_code(2);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "one clear line: {}",
            out.stderr
        );
    }
}

#[test]
fn version_names_the_commit_and_vouch_version_works_too() {
    let flag = vouch_e2e::Run::of(vouch_e2e::vouch().arg("--version")).expect_code(0);
    let command = vouch_e2e::Run::of(vouch_e2e::vouch().arg("version")).expect_code(0);
    assert_eq!(flag.stdout, command.stdout);
    let line = flag.stdout.trim();
    assert!(
        line.starts_with(&format!("vouch {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    // In this checkout the commit is git's, not the fallback.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(vouch_e2e::workspace_root())
        .output()
        .expect("git");
    if head.status.success() {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        assert!(
            line.ends_with(&format!("(commit {head})")),
            "{line} vs {head}"
        );
    }
}
