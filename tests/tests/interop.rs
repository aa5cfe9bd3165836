//! Interop with real peers on a real registry: cosign 2.5 and skopeo 1.18 (Debian 13).
//! Each way, for ECDSA P-256 and Ed25519: vouch signs → cosign and skopeo verify;
//! cosign or skopeo sign → vouch verifies; all three on one image survive and verify.

use std::path::{Path, PathBuf};

use vouch_e2e::fault_proxy::FaultProxy;
use vouch_e2e::peers::{Peers, peers};
use vouch_e2e::{Registry, Run, TEST_PASSWORD, TestImage, keygen, sign, verify};

/// A scratch area with the peers' config (registries.d, policies, password file).
struct Bench {
    dir: tempfile::TempDir,
    reg: Registry,
    peers: &'static Peers,
}

impl Bench {
    fn new() -> Bench {
        let peers = peers();
        let reg = Registry::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let regd = dir.path().join("registries.d");
        std::fs::create_dir_all(&regd).expect("registries.d");
        std::fs::write(
            regd.join("local.yaml"),
            format!(
                "docker:\n  {}:\n    use-sigstore-attachments: true\n",
                reg.host
            ),
        )
        .expect("registries.d/local.yaml");
        std::fs::write(dir.path().join("pass.txt"), TEST_PASSWORD).expect("pass.txt");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        Bench { dir, reg, peers }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn push(&self, repo: &str, content: &str) -> (TestImage, String) {
        let img = TestImage::new(content);
        img.push(&self.reg, repo, "v1");
        let reference = format!("{}@{}", self.reg.image(repo), img.digest());
        (img, reference)
    }

    fn cosign_verify(&self, public: &Path, reference: &str) -> Run {
        Run::of(
            self.peers
                .cosign(&self.home())
                .args([
                    "verify",
                    "--insecure-ignore-tlog=true",
                    "--allow-insecure-registry",
                    "--key",
                ])
                .arg(public)
                .arg(reference),
        )
    }

    fn cosign_sign(&self, key: &Path, reference: &str) -> Run {
        Run::of(
            self.peers
                .cosign(&self.home())
                .args([
                    "sign",
                    "--tlog-upload=false",
                    "-y",
                    "--allow-insecure-registry",
                    "--key",
                ])
                .arg(key)
                .arg(reference)
                .env("COSIGN_PASSWORD", TEST_PASSWORD),
        )
    }

    fn cosign_generate(&self, prefix: &str) -> (PathBuf, PathBuf) {
        let prefix = self.path(prefix);
        Run::of(
            self.peers
                .cosign(&self.home())
                .args(["generate-key-pair", "--output-key-prefix"])
                .arg(&prefix)
                .env("COSIGN_PASSWORD", TEST_PASSWORD),
        )
        .expect_code(0);
        (prefix.with_extension("key"), prefix.with_extension("pub"))
    }

    fn skopeo_generate(&self, prefix: &str) -> (PathBuf, PathBuf) {
        let prefix = self.path(prefix);
        Run::of(
            self.peers
                .skopeo(&self.home())
                .args(["generate-sigstore-key", "--output-prefix"])
                .arg(&prefix)
                .arg("--passphrase-file")
                .arg(self.path("pass.txt")),
        )
        .expect_code(0);
        (
            prefix.with_extension("private"),
            prefix.with_extension("pub"),
        )
    }

    /// skopeo signs while copying the image onto itself (by tag).
    fn skopeo_sign(&self, key: &Path, repo: &str) -> Run {
        let image = format!("docker://{}:v1", self.reg.image(repo));
        Run::of(
            self.peers
                .skopeo(&self.home())
                .arg("--insecure-policy")
                .arg("--registries.d")
                .arg(self.path("registries.d"))
                .args([
                    "copy",
                    "-q",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                ])
                .arg("--sign-by-sigstore-private-key")
                .arg(key)
                .arg("--sign-passphrase-file")
                .arg(self.path("pass.txt"))
                .arg(&image)
                .arg(&image),
        )
    }

    /// skopeo reads the image under a policy requiring a sigstore signature by `public`.
    fn skopeo_verify(&self, public: &Path, reference: &str) -> Run {
        let policy = self.path("policy.json");
        let doc = serde_json::json!({
            "default": [{"type": "reject"}],
            "transports": {"docker": {self.reg.host.as_str(): [{
                "type": "sigstoreSigned",
                "keyPath": public,
                "signedIdentity": {"type": "matchRepository"},
            }]}}
        });
        std::fs::write(&policy, serde_json::to_vec(&doc).expect("json")).expect("policy.json");
        let out = self.path("pulled");
        let _ = std::fs::remove_dir_all(&out);
        Run::of(
            self.peers
                .skopeo(&self.home())
                .arg("--policy")
                .arg(&policy)
                .arg("--registries.d")
                .arg(self.path("registries.d"))
                .args(["copy", "-q", "--src-tls-verify=false"])
                .arg(format!("docker://{reference}"))
                .arg(format!("dir:{}", out.display())),
        )
    }
}

fn vouch_signs_peers_verify(algorithm: &str) {
    let b = Bench::new();
    let (key, public) = keygen(b.dir.path(), "vouch", algorithm);
    let (_img, reference) = b.push("app", &format!("vouch signs {algorithm}"));

    // Before signing both peers refuse: the checks below can fail.
    assert_ne!(b.cosign_verify(&public, &reference).code, 0);
    assert_ne!(b.skopeo_verify(&public, &reference).code, 0);

    sign(&reference, &key, &["-a", "build=42"]).expect_code(0);
    let out = b.cosign_verify(&public, &reference).expect_code(0);
    assert!(out.stdout.contains("\"build\":\"42\""), "{}", out.stdout);
    b.skopeo_verify(&public, &reference).expect_code(0);
}

fn peers_sign_vouch_verifies(algorithm: &str) {
    let b = Bench::new();
    // cosign 2.5 only generates ECDSA keys and skopeo 1.18 none but ECDSA; for Ed25519 both
    // sign with a vouch-made key, which also shows they read vouch's key format.
    let (cosign_key, cosign_pub, skopeo_key, skopeo_pub) = if algorithm == "ecdsa-p256" {
        let (ck, cp) = b.cosign_generate("cosign");
        let (sk, sp) = b.skopeo_generate("skopeo");
        (ck, cp, sk, sp)
    } else {
        let (k, p) = keygen(b.dir.path(), "ed", algorithm);
        (k.clone(), p.clone(), k, p)
    };

    let (_c, cosign_ref) = b.push("by-cosign", &format!("cosign signs {algorithm}"));
    b.cosign_sign(&cosign_key, &cosign_ref).expect_code(0);
    let out = verify(&cosign_ref, &[&cosign_pub], &[]).expect_code(0);
    assert!(out.stdout.starts_with("VERIFIED"), "{}", out.stdout);

    let (_s, skopeo_ref) = b.push("by-skopeo", &format!("skopeo signs {algorithm}"));
    b.skopeo_sign(&skopeo_key, "by-skopeo").expect_code(0);
    let out = verify(&skopeo_ref, &[&skopeo_pub], &["--output", "json"]).expect_code(0);
    // skopeo names the repository with its tag; vouch still matches the repository.
    let sig = &out.json()["images"][0]["signatures"][0];
    assert!(
        sig["docker_reference"]
            .as_str()
            .is_some_and(|r| r.ends_with("/by-skopeo:v1")),
        "{sig}"
    );

    // cosign's payload is the unannotated one vouch computes from the digest and repository,
    // so vouch needs no blob; skopeo's names the tag and a timestamp, so it is fetched.
    let proxy = FaultProxy::start(&b.reg.host);
    for (reference, public, repo, blobs) in [
        (&cosign_ref, &cosign_pub, "by-cosign", 0),
        (&skopeo_ref, &skopeo_pub, "by-skopeo", 1),
    ] {
        proxy.clear_log();
        let via = reference.replace(&b.reg.host, &proxy.host);
        let identity = b.reg.image(repo);
        verify(&via, &[public], &["--no-cache", "--identity", &identity]).expect_code(0);
        assert_eq!(proxy.count_matching("GET", "/blobs/"), blobs, "{repo}");
    }

    // vouch refuses a peer signature under the wrong key.
    let (_k, other_pub) = keygen(b.dir.path(), "other", "ecdsa-p256");
    verify(&cosign_ref, &[&other_pub], &[]).expect_code(1);
}

#[test]
fn vouch_signs_cosign_and_skopeo_verify_ecdsa() {
    vouch_signs_peers_verify("ecdsa-p256");
}

#[test]
fn vouch_signs_cosign_and_skopeo_verify_ed25519() {
    vouch_signs_peers_verify("ed25519");
}

#[test]
fn cosign_and_skopeo_sign_vouch_verifies_ecdsa() {
    peers_sign_vouch_verifies("ecdsa-p256");
}

#[test]
fn cosign_and_skopeo_sign_vouch_verifies_ed25519() {
    peers_sign_vouch_verifies("ed25519");
}

#[test]
fn three_tools_on_one_image_all_survive() {
    let b = Bench::new();
    let (vouch_key, vouch_pub) = keygen(b.dir.path(), "vouch", "ed25519");
    let (cosign_key, cosign_pub) = b.cosign_generate("cosign");
    let (skopeo_key, skopeo_pub) = b.skopeo_generate("skopeo");
    let (img, reference) = b.push("shared", "three tools");

    b.cosign_sign(&cosign_key, &reference).expect_code(0);
    sign(&reference, &vouch_key, &[]).expect_code(0);
    b.skopeo_sign(&skopeo_key, "shared").expect_code(0);
    assert_eq!(b.reg.signature_count("shared", img.digest()), 3);

    let out = verify(
        &reference,
        &[&vouch_pub, &cosign_pub, &skopeo_pub],
        &["--output", "json"],
    )
    .expect_code(0);
    let sigs = out.json()["images"][0]["signatures"].clone();
    let verified: Vec<_> = sigs
        .as_array()
        .expect("array")
        .iter()
        .filter(|s| s["verdict"] == "verified")
        .collect();
    assert_eq!(verified.len(), 3, "{sigs}");

    for public in [&vouch_pub, &cosign_pub, &skopeo_pub] {
        b.cosign_verify(public, &reference).expect_code(0);
        b.skopeo_verify(public, &reference).expect_code(0);
    }
}

#[test]
fn peer_private_keys_sign_in_vouch() {
    let b = Bench::new();
    let (cosign_key, cosign_pub) = b.cosign_generate("cosign");
    let (skopeo_key, skopeo_pub) = b.skopeo_generate("skopeo");
    let (img, reference) = b.push("keys", "peer keys");
    // cosign labels its file ENCRYPTED SIGSTORE PRIVATE KEY, skopeo ENCRYPTED COSIGN PRIVATE KEY.
    sign(&reference, &cosign_key, &[]).expect_code(0);
    sign(&reference, &skopeo_key, &[]).expect_code(0);
    assert_eq!(b.reg.signature_count("keys", img.digest()), 2);
    b.cosign_verify(&cosign_pub, &reference).expect_code(0);
    b.skopeo_verify(&skopeo_pub, &reference).expect_code(0);
    // Key ids agree with the public halves the peers wrote.
    for (private, public) in [(&cosign_key, &cosign_pub), (&skopeo_key, &skopeo_pub)] {
        let from_private = Run::of(
            vouch_e2e::vouch()
                .args(["key", "id"])
                .arg(private)
                .env("VOUCH_PASSWORD", TEST_PASSWORD),
        )
        .expect_code(0);
        let from_public =
            Run::of(vouch_e2e::vouch().args(["key", "id"]).arg(public)).expect_code(0);
        assert_eq!(from_private.stdout, from_public.stdout);
        assert_eq!(from_public.stdout.trim().len(), 64);
    }
}
