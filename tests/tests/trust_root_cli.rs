//! `vouch trust-root update` against a TUF repository generated here (vouch-tuf's own test
//! generator) that distributes the Sigstore stand-in's trusted root and signing config: after
//! the update, `vouch verify` and `vouch sign --keyless` use the cached root and config
//! without being given them; before it, the built-in root does not trust the stand-in; once
//! the cached metadata expires it is refused, unless `--offline`.

#[path = "../../crates/vouch-tuf/tests/support/mod.rs"]
#[allow(dead_code)]
mod tuf_support;

use std::path::Path;

use tuf_support::{FileServer, Repo, at, far, now};
use vouch_e2e::sigstore::Sigstore;
use vouch_e2e::{Registry, Run, TestImage, vouch};

const WORKFLOW: &str =
    "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";

struct Bench {
    sigstore: Sigstore,
    reg: Registry,
    repo: Repo,
    server: FileServer,
    cache: tempfile::TempDir,
    _repo_dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        let repo_dir = tempfile::tempdir().expect("repo dir");
        let repo = Repo::new(repo_dir.path());
        let server = FileServer::start(repo_dir.path());
        Bench {
            sigstore: Sigstore::start(),
            reg: Registry::start(),
            repo,
            server,
            cache: tempfile::tempdir().expect("cache"),
            _repo_dir: repo_dir,
        }
    }

    /// Publishes the stand-in's trusted root and signing config; the timestamp expires then.
    fn publish(&mut self, timestamp_expires: &str) {
        let root = std::fs::read(self.sigstore.trusted_root_path()).expect("root");
        let config = std::fs::read(self.sigstore.signing_config_path()).expect("config");
        self.repo.publish(
            &[
                ("trusted_root.json", &root),
                ("signing_config.v0.2.json", &config),
            ],
            timestamp_expires,
        );
    }

    /// `vouch` with this bench's own cache directory.
    fn vouch(&self) -> std::process::Command {
        let mut cmd = vouch();
        cmd.env("XDG_CACHE_HOME", self.cache.path())
            .env_remove("SIGSTORE_ID_TOKEN")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL");
        cmd
    }

    fn update(&self, root: Option<&Path>) -> Run {
        let mut cmd = self.vouch();
        cmd.args(["trust-root", "update", "--tuf-url", &self.server.url]);
        if let Some(root) = root {
            cmd.arg("--tuf-root").arg(root);
        }
        Run::of(&mut cmd)
    }

    fn verify(&self, reference: &str, extra: &[&str]) -> Run {
        Run::of(
            self.vouch()
                .args(["--allow-insecure-registry", "verify", reference])
                .args(["--certificate-identity", WORKFLOW])
                .args(["--certificate-oidc-issuer", self.sigstore.oidc_issuer()])
                .args(["--tuf-url", &self.server.url])
                .args(extra),
        )
    }

    fn push(&self, content: &str) -> String {
        let img = TestImage::new(content);
        img.push(&self.reg, "app", "latest");
        format!("{}@{}", self.reg.image("app"), img.digest())
    }
}

#[test]
fn trust_root_update_feeds_verify_and_keyless_sign() {
    let mut b = Bench::new();
    b.publish(&far());
    let reference = b.push("signed with the distributed config");
    let token = b.sigstore.token(WORKFLOW);

    // Nothing cached: keyless signing checks against the built-in production root, which
    // does not trust the stand-in's Fulcio, so nothing is signed.
    let refused = Run::of(
        b.vouch()
            .args(["--allow-insecure-registry", "sign", &reference, "--keyless"])
            .args(["--identity-token", &token])
            .args(["--tuf-url", &b.server.url])
            .arg("--signing-config")
            .arg(b.sigstore.signing_config_path()),
    );
    assert_eq!(refused.code, 1, "{}", refused.all());

    let root_file = b.cache.path().join("initial-root.json");
    std::fs::write(&root_file, &b.repo.initial_root).expect("root file");
    let updated = b.update(Some(&root_file)).expect_code(0);
    assert!(
        updated.stdout.contains("TUF root version 1"),
        "{}",
        updated.stdout
    );
    assert!(b.cache.path().join("vouch/tuf").is_dir());

    // The cached signing config names the stand-in's services; the cached root trusts them.
    Run::of(
        b.vouch()
            .args(["--allow-insecure-registry", "sign", &reference, "--keyless"])
            .args(["--identity-token", &token])
            .args(["--tuf-url", &b.server.url]),
    )
    .expect_code(0);
    b.verify(&reference, &[]).expect_code(0);
    // Another repository's cache (Sigstore's, never updated here) is not consulted.
    let other = Run::of(
        b.vouch()
            .args(["--allow-insecure-registry", "verify", &reference])
            .args(["--certificate-identity", WORKFLOW])
            .args(["--certificate-oidc-issuer", b.sigstore.oidc_issuer()]),
    );
    assert_eq!(other.code, 1, "{}", other.all());

    // A second update needs no --tuf-root: the first one kept it.
    b.update(None).expect_code(0);
}

#[test]
fn expired_cached_metadata_is_refused_unless_offline() {
    let mut b = Bench::new();
    b.publish(&far());
    let root_file = b.cache.path().join("initial-root.json");
    std::fs::write(&root_file, &b.repo.initial_root).expect("root file");
    b.update(Some(&root_file)).expect_code(0);
    let reference = b.push("expiring trust");
    let token = b.sigstore.token(WORKFLOW);
    Run::of(
        b.vouch()
            .args(["--allow-insecure-registry", "sign", &reference, "--keyless"])
            .args(["--identity-token", &token])
            .args(["--tuf-url", &b.server.url]),
    )
    .expect_code(0);
    b.verify(&reference, &[]).expect_code(0);

    // The repository's next timestamp expires in two seconds; it is verified and cached,
    // then expires.
    b.publish(&at(now() + 2));
    b.update(None).expect_code(0);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let expired = b.verify(&reference, &[]);
    assert_ne!(expired.code, 0, "{}", expired.all());
    assert!(
        expired.stderr.contains("expired") && expired.stderr.contains("vouch trust-root update"),
        "{}",
        expired.stderr
    );
    // --offline accepts the last verified root (and answers from the verification cache).
    b.verify(&reference, &["--offline"]).expect_code(0);
}
