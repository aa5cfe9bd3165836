//! `vouch verify-bundle`, the real binary, the way the sigstore-conformance harness runs it
//! (the verifier's own conformance run is crates/vouch-sigstore/tests/conformance.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

const BEACON_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GHA_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The real binary, the way the conformance harness runs it.
#[test]
fn binary_speaks_the_conformance_protocol() {
    let base = vectors().join("sigstore-conformance/test/assets/bundle-verify");
    let a_txt = base.join("a.txt");
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(read(&a_txt))));
    let exe = env!("CARGO_BIN_EXE_vouch");
    let run = |case: &str, input: &str| {
        Command::new(exe)
            .arg("verify-bundle")
            .arg("--bundle")
            .arg(base.join(case).join("bundle.sigstore.json"))
            .args(["--certificate-identity", BEACON_IDENTITY])
            .args(["--certificate-oidc-issuer", GHA_ISSUER])
            .arg(input)
            .output()
            .expect("runs vouch")
    };
    for input in [a_txt.to_str().expect("utf-8 path"), digest.as_str()] {
        let ok = run("happy-path-v0.3", input);
        assert_eq!(
            ok.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(String::from_utf8_lossy(&ok.stdout).contains("Verified OK"));
        let bad = run("signature-mismatch_fail", input);
        assert_eq!(
            bad.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&bad.stderr)
        );
    }
    let key_case = base.join("managed-key-happy-path");
    let out = Command::new(exe)
        .args(["verify-bundle", "--bundle"])
        .arg(key_case.join("bundle.sigstore.json"))
        .arg("--key")
        .arg(key_case.join("key.pub"))
        .arg(&a_txt)
        .output()
        .expect("runs vouch");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let missing = Command::new(exe)
        .args([
            "verify-bundle",
            "--bundle",
            "/nonexistent.json",
            "--key",
            "/nonexistent.pub",
            "x",
        ])
        .output()
        .expect("runs vouch");
    assert_eq!(missing.status.code(), Some(2));
}
