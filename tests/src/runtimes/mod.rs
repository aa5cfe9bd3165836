//! The real pulling clients, driven the way a machine would drive them, so a registry
//! mirror can be proven against them: skopeo, podman, oras and containerd's `ctr`, all
//! from Debian 13, unpacked by `tests/peers/fetch-peers.sh`. Every pull runs in its own
//! temp dirs, with its own configuration naming the registry endpoint to pull through,
//! and returns a [`Pull`]: exit code, what the user saw, and on success the digests of
//! the manifest and blobs the client stored (re-hashed from its store where it keeps the
//! bytes), so a test can compare them with a direct pull.
//!
//! A client that cannot run here is skipped with the reason printed (see [`require`]);
//! `VOUCH_REQUIRE_RUNTIMES=1` turns every such skip into a failure.

pub mod containerd;
pub mod oras;
pub mod podman;
pub mod skopeo;
pub mod stub;

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::Digest as _;

pub use containerd::{Containerd, HostsToml};
pub use oras::OrasRoute;
pub use podman::RegistriesConf;
pub use stub::{Answer, Match, MirrorStub};

/// A pulling client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Client {
    /// skopeo 1.18 (containers/image 5.34).
    Skopeo,
    /// podman 5.4 (containers/image 5.34, containers/storage).
    Podman,
    /// oras 1.2 (oras-go v2).
    Oras,
    /// containerd 1.7 through `ctr`.
    Containerd,
}

impl Client {
    /// The tool's name in the peers cache.
    pub fn tool(self) -> &'static str {
        match self {
            Client::Skopeo => "skopeo",
            Client::Podman => "podman",
            Client::Oras => "oras",
            Client::Containerd => "ctr",
        }
    }
}

/// How long any one client command may take before it is killed (a hang is a failure).
pub const PULL_TIMEOUT: Duration = Duration::from_secs(120);

/// The wrapper for `tool` in the peers cache, or why it cannot run here.
pub fn tool_path(tool: &str) -> Result<PathBuf, String> {
    let dir = runtimes_dir()?;
    let unavailable = std::fs::read_to_string(dir.join("runtimes.unavailable")).unwrap_or_default();
    if let Some(reason) = unavailable
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{tool}\t")))
    {
        return Err(format!("{tool} cannot run here: {reason}"));
    }
    let path = dir.join("bin").join(tool);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing (run bash tests/peers/fetch-peers.sh)",
            path.display()
        ))
    }
}

/// The peers cache, fetched once per test process if the runtimes were never fetched.
fn runtimes_dir() -> Result<PathBuf, String> {
    static FETCHED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FETCHED
        .get_or_init(|| {
            let dir = crate::peers::peers_dir();
            if dir.join("runtimes.done").is_file() {
                return Ok(dir);
            }
            let script = crate::workspace_root().join("tests/peers/fetch-peers.sh");
            let out = Command::new("bash")
                .arg(&script)
                .env("VOUCH_PEERS_DIR", &dir)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} failed: {}",
                    script.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(dir)
        })
        .clone()
}

/// Whether this process runs as root (podman's and containerd's configurations here
/// are the root ones: a daemon with its own sockets, layers unpacked as root).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Whether `client` can run here; if not, prints `SKIPPED <test>: <reason>` where the
/// test runner cannot swallow it and returns false, or panics under
/// `VOUCH_REQUIRE_RUNTIMES=1`.
pub fn require(client: Client, test: &str) -> bool {
    match check(client) {
        Ok(()) => true,
        Err(reason) => {
            skip(test, &reason);
            false
        }
    }
}

/// Why `client` cannot run here, if it cannot.
pub fn check(client: Client) -> Result<(), String> {
    tool_path(client.tool())?;
    if client == Client::Containerd {
        tool_path("containerd")?;
    }
    if matches!(client, Client::Podman | Client::Containerd) && !is_root() {
        return Err(format!(
            "{} is driven here as root (own storage root, own daemon) and this test runs as another user",
            client.tool()
        ));
    }
    Ok(())
}

/// Prints the skip line on the real stderr (not the test harness's captured one), or
/// panics if skips are not allowed.
pub fn skip(test: &str, reason: &str) {
    if std::env::var_os("VOUCH_REQUIRE_RUNTIMES").is_some_and(|v| v == "1") {
        panic!("{test}: {reason} (VOUCH_REQUIRE_RUNTIMES=1 forbids skipping)");
    }
    // One write, so the line is not split by the runner's progress output.
    let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {reason}\n").as_bytes());
}

/// What the client stored, for a successful pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The digest of the manifest (or index) the client resolved the reference to.
    pub manifest: String,
    /// The digest of every blob the client stored: config and layers (and, for a client
    /// that stores them as blobs, manifests).
    pub blobs: BTreeSet<String>,
}

/// The outcome of one client command.
#[derive(Debug, Clone)]
pub struct Pull {
    /// Which client.
    pub client: Client,
    /// Exit code; -1 if killed (by [`PULL_TIMEOUT`] or a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error: what the user sees when it fails.
    pub stderr: String,
    /// Whether the command was killed at [`PULL_TIMEOUT`].
    pub timed_out: bool,
    /// On success, what was stored.
    pub pulled: Option<Pulled>,
}

impl Pull {
    /// Whether the client exited 0.
    pub fn ok(&self) -> bool {
        self.code == 0 && !self.timed_out
    }

    /// Standard output and error together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Asserts success and returns what was pulled.
    #[track_caller]
    pub fn expect_pulled(&self) -> &Pulled {
        assert!(
            self.ok(),
            "{:?} pull failed:\n{}",
            self.client,
            self.describe()
        );
        self.pulled
            .as_ref()
            .unwrap_or_else(|| panic!("{:?} exited 0 but stored nothing", self.client))
    }

    /// Asserts failure (non-zero exit, not a timeout) and returns stderr.
    #[track_caller]
    pub fn expect_failed(&self) -> &str {
        assert!(
            !self.ok() && !self.timed_out,
            "{:?} pull did not fail:\n{}",
            self.client,
            self.describe()
        );
        &self.stderr
    }

    /// Everything, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "exit {}{}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            if self.timed_out { " (timed out)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `cmd` to completion or [`PULL_TIMEOUT`]; returns (code, stdout, stderr, timed out).
pub fn run_bounded(cmd: &mut Command) -> (i32, String, String, bool) {
    run_with_timeout(cmd, PULL_TIMEOUT)
}

/// Runs `cmd` with no stdin, killing it after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> (i32, String, String, bool) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let reader = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("stdout")));
    let err = reader(Box::new(child.stderr.take().expect("stderr")));
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let code = status.and_then(|s| s.code()).unwrap_or(-1);
    (
        code,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
        timed_out,
    )
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The digests of the files in an OCI-style `blobs/sha256` dir, each checked against its
/// name (a file whose bytes do not match is reported by its actual digest, so a
/// comparison fails).
pub fn blob_dir_digests(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if let Ok(bytes) = std::fs::read(&path) {
            let actual = digest_of(&bytes);
            let named = format!("sha256:{}", entry.file_name().to_string_lossy());
            out.insert(if actual == named {
                named
            } else {
                format!("{actual} (stored as {named})")
            });
        }
    }
    out
}

/// A command for a tool in the peers cache, with a private HOME and no proxy settings.
pub(crate) fn tool_command(tool: &str, home: &Path) -> Command {
    let path = tool_path(tool).unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(path);
    cmd.env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("NO_COLOR", "1");
    for var in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        "CONTAINERS_CONF",
        "CONTAINERS_REGISTRIES_CONF",
        "CONTAINERS_STORAGE_CONF",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
