//! A real Distribution registry (Debian's `docker-registry`) on 127.0.0.1, one per test,
//! with its storage in a temp dir; and a plain client to put test content into it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::image::Blob;

/// A running registry; stopped when dropped.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    _dir: tempfile::TempDir,
    /// The registry's log file.
    pub log: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free loopback port")
}

impl Registry {
    /// Starts `docker-registry serve` on a free loopback port and waits until it answers.
    pub fn start() -> Registry {
        let binary = which("docker-registry").expect(
            "docker-registry not found: install Debian's docker-registry package (bash tests/peers/fetch-peers.sh does)",
        );
        // A port can be taken between probing and binding; try a few.
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let config = dir.path().join("config.yml");
            let storage = dir.path().join("storage");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                    storage.display()
                ),
            )
            .expect("write registry config");
            let log = dir.path().join("registry.log");
            let log_file = std::fs::File::create(&log).expect("log file");
            let child = Command::new(&binary)
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .expect("start docker-registry");
            let mut registry = Registry {
                child,
                host: format!("127.0.0.1:{port}"),
                _dir: dir,
                log,
            };
            if registry.wait_ready(Duration::from_secs(15)) {
                return registry;
            }
            last_log = std::fs::read_to_string(&registry.log).unwrap_or_default();
        }
        panic!("docker-registry did not start:\n{last_log}");
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(resp) = agent().get(&format!("http://{}/v2/", self.host)).call()
                && resp.status() == 200
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `127.0.0.1:PORT/repo[:tag]`.
    pub fn image(&self, repo: &str) -> String {
        format!("{}/{repo}", self.host)
    }

    /// Uploads a blob.
    pub fn push_blob(&self, repo: &str, blob: &Blob) {
        let base = format!("http://{}/v2/{repo}", self.host);
        let start = agent()
            .post(&format!("{base}/blobs/uploads/"))
            .send_empty()
            .expect("start upload");
        assert_eq!(start.status(), 202, "start upload");
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload location")
            .to_string();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", self.host)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let resp = agent()
            .put(&format!("{url}{sep}digest={}", blob.digest))
            .header("Content-Type", "application/octet-stream")
            .send(&blob.bytes[..])
            .expect("upload blob");
        assert_eq!(resp.status(), 201, "upload blob");
    }

    /// Uploads a manifest under `reference` (a tag or digest).
    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let resp = agent()
            .put(&format!(
                "http://{}/v2/{repo}/manifests/{reference}",
                self.host
            ))
            .header("Content-Type", media_type)
            .send(bytes)
            .expect("put manifest");
        assert_eq!(resp.status(), 201, "put manifest {reference}");
    }

    /// Fetches a manifest's bytes, or None on 404.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Option<Vec<u8>> {
        let resp = agent()
            .get(&format!(
                "http://{}/v2/{repo}/manifests/{reference}",
                self.host
            ))
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            )
            .call()
            .expect("get manifest");
        match resp.status().as_u16() {
            404 => None,
            200 => Some(resp.into_body().read_to_vec().expect("read manifest")),
            s => panic!("get manifest {reference}: status {s}"),
        }
    }

    /// Fetches a blob's bytes.
    pub fn get_blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let resp = agent()
            .get(&format!("http://{}/v2/{repo}/blobs/{digest}", self.host))
            .call()
            .expect("get blob");
        assert_eq!(resp.status(), 200, "get blob {digest}");
        resp.into_body().read_to_vec().expect("read blob")
    }

    /// The `.sig` manifest of `digest` as JSON, if any.
    pub fn signature_manifest(&self, repo: &str, digest: &str) -> Option<serde_json::Value> {
        let tag = format!("{}.sig", digest.replace(':', "-"));
        self.get_manifest(repo, &tag)
            .map(|b| serde_json::from_slice(&b).expect("sig manifest JSON"))
    }

    /// Number of layers in the `.sig` manifest of `digest`.
    pub fn signature_count(&self, repo: &str, digest: &str) -> usize {
        self.signature_manifest(repo, digest)
            .and_then(|m| m["layers"].as_array().map(Vec::len))
            .unwrap_or(0)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain-HTTP client that does not treat 4xx/5xx as errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Finds an executable on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}
