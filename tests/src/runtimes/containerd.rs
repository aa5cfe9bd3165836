//! A private containerd 1.7 daemon (as root, no systemd: its own root, state, sockets and
//! `certs.d` in a temp dir) and `ctr image pull` through it with a `hosts.toml`.
//!
//! `ctr` resolves and fetches in its own process, reading `--hosts-dir`; the daemon
//! stores and unpacks. The daemon's CRI plugin reads the same `certs.d` through
//! `config_path`, as on a Kubernetes node. Content is not shared between namespaces
//! (`content_sharing_policy = "isolated"`), so every pull, each in a namespace of its
//! own, fetches everything again. The one thing the daemon writes outside its temp dir
//! is an empty `/run/containerd`, made at start whatever the config says.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Client, Pull, Pulled, digest_of, run_with_timeout, tool_command, tool_path};

/// The `hosts.toml` for the image's registry host, as containerd reads it from
/// `certs.d/<host>/hosts.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostsToml {
    /// None: ctr pulls from the image's host (`--plain-http`).
    None,
    /// `server = "http://MIRROR"`: the mirror is the registry's only endpoint. An empty
    /// `[host]` table follows: containerd 1.7.24 cannot read a file without one
    /// ("failed to decode hosts.toml" error="invalid `host` tree"), ignores it and pulls
    /// from the image's own host (containerd bug #10027).
    Server {
        /// `127.0.0.1:PORT` of the mirror.
        mirror: String,
    },
    /// `server = "http://UPSTREAM"` and `[host."http://MIRROR"]` with pull and resolve:
    /// the mirror is tried first, the upstream after it.
    Host {
        /// `127.0.0.1:PORT` of the mirror.
        mirror: String,
        /// `127.0.0.1:PORT` of the upstream (the image's host).
        upstream: String,
    },
    /// Any text.
    Raw(String),
}

impl HostsToml {
    /// The file's text (None for [`HostsToml::None`]).
    pub fn text(&self) -> Option<String> {
        match self {
            HostsToml::None => None,
            HostsToml::Server { mirror } => {
                Some(format!("server = \"http://{mirror}\"\n\n[host]\n"))
            }
            HostsToml::Host { mirror, upstream } => Some(format!(
                "server = \"http://{upstream}\"\n\n[host.\"http://{mirror}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            )),
            HostsToml::Raw(text) => Some(text.clone()),
        }
    }
}

/// A running containerd; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Containerd {
    child: Mutex<Child>,
    dir: tempfile::TempDir,
    /// The gRPC socket.
    pub address: PathBuf,
    /// The `certs.d` dir (`config_path` of the CRI plugin, `--hosts-dir` of ctr).
    pub certs_d: PathBuf,
    namespaces: AtomicUsize,
    pulls: Mutex<()>,
}

impl Containerd {
    /// Starts a private daemon and waits until it answers; Err says why it cannot run.
    pub fn start() -> Result<Containerd, String> {
        super::check(Client::Containerd)?;
        let daemon = tool_path("containerd")?;
        let dir = tempfile::Builder::new()
            .prefix("ctrd")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        let certs_d = d.join("certs.d");
        std::fs::create_dir_all(&certs_d).map_err(|e| e.to_string())?;
        let address = d.join("containerd.sock");
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
# No TCP listener, no /opt/containerd.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{address}"

[ttrpc]
  address = "{address}.ttrpc"

[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "{certs_d}"
"#,
            root = d.join("root").display(),
            state = d.join("state").display(),
            address = address.display(),
            certs_d = certs_d.display(),
        );
        std::fs::write(d.join("config.toml"), config).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(d.join("containerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(daemon)
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start containerd: {e}"))?;
        let containerd = Containerd {
            child: Mutex::new(child),
            address,
            certs_d,
            dir,
            namespaces: AtomicUsize::new(0),
            pulls: Mutex::new(()),
        };
        containerd.wait_ready(Duration::from_secs(20))?;
        Ok(containerd)
    }

    fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.lock_child().try_wait() {
                return Err(format!(
                    "containerd exited ({status}) at start:\n{}",
                    self.log_tail(20)
                ));
            }
            if self.address.exists() {
                let (code, _, _, _) = run_with_timeout(
                    self.ctr(Path::new("/")).arg("version"),
                    Duration::from_secs(5),
                );
                if code == 0 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "containerd did not answer on {} within {timeout:?}:\n{}",
            self.address.display(),
            self.log_tail(20)
        ))
    }

    fn lock_child(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The daemon's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// A `ctr` command talking to this daemon.
    pub fn ctr(&self, home: &Path) -> Command {
        let mut cmd = tool_command("ctr", home);
        cmd.arg("--address").arg(&self.address);
        cmd
    }

    /// `ctr image pull IMAGE` in a fresh namespace, with `hosts` as the image host's
    /// `hosts.toml`. On success, [`Pulled`] holds the digest ctr recorded for the image
    /// and every blob of the namespace's content store (manifests included), re-hashed.
    pub fn pull(&self, image: &str, hosts: &HostsToml) -> Pull {
        let _one_at_a_time = self.pulls.lock().unwrap_or_else(|e| e.into_inner());
        let host = image.split('/').next().unwrap_or_default();
        let host_dir = self.certs_d.join(host);
        let _ = std::fs::remove_dir_all(&host_dir);
        let text = hosts.text();
        if let Some(text) = &text {
            std::fs::create_dir_all(&host_dir).expect("certs.d/<host>");
            std::fs::write(host_dir.join("hosts.toml"), text).expect("hosts.toml");
        }
        let namespace = format!("pull{}", self.namespaces.fetch_add(1, Ordering::SeqCst));
        let home = tempfile::tempdir().expect("tempdir");
        let mut cmd = self.ctr(home.path());
        cmd.args(["--namespace", &namespace, "image", "pull", "--hosts-dir"])
            .arg(&self.certs_d);
        if text.is_none() {
            cmd.arg("--plain-http");
        }
        cmd.arg(image);
        let (code, stdout, stderr, timed_out) = super::run_bounded(&mut cmd);
        let pulled = (code == 0 && !timed_out)
            .then(|| self.stored(&namespace, image, home.path()))
            .flatten();
        Pull {
            client: Client::Containerd,
            code,
            stdout,
            stderr,
            timed_out,
            pulled,
        }
    }

    fn stored(&self, namespace: &str, image: &str, home: &Path) -> Option<Pulled> {
        let (code, images, _, _) = run_with_timeout(
            self.ctr(home)
                .args(["--namespace", namespace, "image", "ls"]),
            Duration::from_secs(30),
        );
        if code != 0 {
            return None;
        }
        // REF TYPE DIGEST SIZE PLATFORMS LABELS
        let manifest = images.lines().find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.first() == Some(&image)).then(|| cols.get(2).map(|s| s.to_string()))?
        })?;
        let (code, content, _, _) = run_with_timeout(
            self.ctr(home)
                .args(["--namespace", namespace, "content", "ls", "--quiet"]),
            Duration::from_secs(30),
        );
        if code != 0 {
            return None;
        }
        let store = self
            .dir
            .path()
            .join("root/io.containerd.content.v1.content/blobs/sha256");
        let blobs = content
            .split_whitespace()
            .map(|named| {
                let hex = named.trim_start_matches("sha256:");
                match std::fs::read(store.join(hex)) {
                    Ok(bytes) if digest_of(&bytes) == named => named.to_string(),
                    Ok(bytes) => format!("{} (stored as {named})", digest_of(&bytes)),
                    Err(_) => format!("{named} (not in the store)"),
                }
            })
            .collect::<BTreeSet<_>>();
        Some(Pulled { manifest, blobs })
    }

    /// Stops the daemon: SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&self) {
        let mut child = self.lock_child();
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
    }
}
