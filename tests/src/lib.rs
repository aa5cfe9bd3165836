//! Test harness for vouch's end-to-end tests: a real `docker-registry` on loopback, test
//! images written as OCI layouts or pushed over the distribution API, the real `vouch`
//! binary, the peer tools (cosign, skopeo) fetched by `tests/peers/fetch-peers.sh`, and
//! the pulling clients (skopeo, podman, oras, containerd) a registry mirror must serve, and
//! SoftHSM2 tokens for the PKCS#11 tests.
#![forbid(unsafe_code)]

pub mod auth;
pub mod clock;
pub mod fault_proxy;
pub mod hostile;
pub mod image;
pub mod kube;
pub mod mirror;
mod net;
pub mod peers;
pub mod registry;
pub mod runtimes;
pub mod sigstore;
pub mod softhsm;
pub mod tls;
pub mod token_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub use auth::{CredentialHelper, DockerConfig};
pub use fault_proxy::{Fault, FaultProxy, Rule};
pub use image::{TestImage, TestIndex};
pub use mirror::VouchMirror;
pub use registry::{Registry, RegistryOptions};
pub use tls::TlsFiles;
pub use token_server::{TokenServer, TokenServerOptions};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `tests/vectors`, public test vectors copied from Sigstore and containers/image projects.
pub fn vectors_dir() -> PathBuf {
    workspace_root().join("tests/vectors")
}

/// The `vouch` binary, built once per test process so tests never run a stale one.
pub fn vouch_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "vouch", "--bin", "vouch"])
            .current_dir(workspace_root());
        // Cargo describes this test's package in the environment (CARGO_PKG_NAME, …); ring's
        // build script reruns when those change, so passing them on would rebuild ring and all
        // above it here, and again at the next build from a shell.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_BIN_")
                || name.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                ]
                .contains(&name.as_ref())
            {
                build.env_remove(name.as_ref());
            }
        }
        let status = build
            .status()
            .expect("run cargo build for the vouch binary");
        assert!(status.success(), "building vouch failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace_root().join("target"));
        let bin = target.join("debug").join("vouch");
        assert!(bin.is_file(), "{} missing after build", bin.display());
        bin
    })
}

/// The password every test key uses.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

/// A `vouch` command with a clean environment: no inherited passwords or insecure flags.
pub fn vouch() -> Command {
    let mut cmd = Command::new(vouch_bin());
    // Each test process gets its own verification cache.
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    let cache = CACHE.get_or_init(|| tempfile::tempdir().expect("cache dir"));
    cmd.env("XDG_CACHE_HOME", cache.path())
        .env_remove("VOUCH_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env_remove("VOUCH_ALLOW_INSECURE_REGISTRY")
        .env("NO_COLOR", "1");
    cmd
}

/// What a command did, for assertions with useful failure messages.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Runs `cmd` to completion.
    pub fn of(cmd: &mut Command) -> Run {
        let out: Output = cmd.output().expect("spawn command");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, printing everything on mismatch.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Generates a vouch key pair in `dir` named `name` (`name.key`, `name.pub`).
pub fn keygen(dir: &Path, name: &str, algorithm: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    Run::of(
        vouch()
            .args(["keygen", "--algorithm", algorithm, "--output-key-prefix"])
            .arg(&prefix)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    (prefix.with_extension("key"), prefix.with_extension("pub"))
}

/// `vouch sign` with the test password and insecure (plain HTTP) registries allowed.
pub fn sign(image: &str, key: &Path, extra: &[&str]) -> Run {
    Run::of(
        vouch()
            .args(["--allow-insecure-registry", "sign", image, "--key"])
            .arg(key)
            .args(extra)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
}

/// Runs one `vouch sign` per key on `image`, all at once (`extra` added to each), and
/// waits for them; panics, naming `what`, if any fails.
pub fn sign_concurrently(image: &str, keys: &[&Path], extra: &[&str], what: &str) {
    let children: Vec<_> = keys
        .iter()
        .map(|key| {
            vouch()
                .args(["--allow-insecure-registry", "sign", image, "--key"])
                .arg(key)
                .args(extra)
                .env("VOUCH_PASSWORD", TEST_PASSWORD)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn vouch sign")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait for vouch sign");
        assert!(
            out.status.success(),
            "{what}: sign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `vouch verify` with insecure (plain HTTP) registries allowed.
pub fn verify(image: &str, keys: &[&Path], extra: &[&str]) -> Run {
    let mut cmd = vouch();
    cmd.args(["--allow-insecure-registry", "verify", image]);
    for k in keys {
        cmd.arg("--key").arg(k);
    }
    cmd.args(extra);
    Run::of(&mut cmd)
}
