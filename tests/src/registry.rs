//! A real Distribution registry (Debian's `docker-registry`) on 127.0.0.1, one per test,
//! with its storage in a temp dir; and a plain client to put test content into it.
//!
//! [`Registry::start_with`] adds TLS (optionally demanding client certificates), htpasswd
//! basic auth, or bearer-token auth through a [`TokenServer`]. The content helpers
//! (`push_blob`, `push_manifest`, `get_manifest`...) speak whatever the registry needs:
//! https with the test CA, basic credentials, or a token minted for the repository (so
//! they never show up in the token server's counters).
//!
//! Notes on Distribution 2.8.2 found by the selfcheck tests (tests/tests/fixtures_selfcheck.rs):
//! - htpasswd auth works over plain HTTP: the docs say to use it only with TLS, the code
//!   does not enforce it.
//! - The config holds one `auth` provider; [`RegistryOptions`] refuses both at once.
//! - Upload `Location`s are absolute URLs built from the request's `Host` and the
//!   connection's scheme.
//! - A Bearer challenge's scope lists the actions in random order (`pull,push` or
//!   `push,pull`: a Go map).
//! - Plain HTTP sent to the TLS port gets Go's `400 Client sent an HTTP request to an
//!   HTTPS server`, not a TLS alert.
//! - Token auth: see [`crate::token_server`] for what 2.8.2 checks in a token (string
//!   `aud` only, 60 s leeway, `x5c` or libtrust `kid`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::{basic_header, htpasswd_line};
use crate::image::Blob;
use crate::tls::TlsFiles;
use crate::token_server::TokenServer;

/// How [`Registry::start_with`] configures the registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Serve HTTPS with these files' server certificate (`http.tls.certificate`, `key`).
    pub tls: Option<TlsFiles>,
    /// With `tls`: demand a client certificate signed by its CA (`http.tls.clientcas`).
    pub mtls: bool,
    /// Basic auth for this user and password (`auth.htpasswd`, bcrypt file).
    pub htpasswd: Option<(String, String)>,
    /// Bearer-token auth through this token server (`auth.token`).
    pub token_auth: Option<TokenServer>,
}

enum HelperAuth {
    Basic(String),
    Token(TokenServer, String),
}

/// A running registry; stopped when dropped.
pub struct Registry {
    child: Mutex<Child>,
    /// `127.0.0.1:PORT`.
    pub host: String,
    _dir: tempfile::TempDir,
    /// The registry's log file.
    pub log: PathBuf,
    /// The registry's config file.
    pub config: PathBuf,
    binary: PathBuf,
    scheme: &'static str,
    agent: ureq::Agent,
    auth: Option<HelperAuth>,
    tls: Option<TlsFiles>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free loopback port")
}

fn yaml_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn random_hex(bytes: usize) -> String {
    use ring::rand::SecureRandom as _;
    let mut b = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("random bytes");
    hex::encode(b)
}

impl Registry {
    /// Starts `docker-registry serve` on a free loopback port and waits until it answers.
    pub fn start() -> Registry {
        Registry::start_with(RegistryOptions::default())
    }

    /// Starts a registry configured by `options` on a free loopback port and waits until it
    /// answers (200, or 401 with auth).
    pub fn start_with(options: RegistryOptions) -> Registry {
        assert!(
            !(options.htpasswd.is_some() && options.token_auth.is_some()),
            "Distribution takes one auth provider: htpasswd or token, not both"
        );
        assert!(!options.mtls || options.tls.is_some(), "mtls needs tls");
        let binary = which("docker-registry").expect(
            "docker-registry not found: install Debian's docker-registry package (bash tests/peers/fetch-peers.sh does)",
        );
        let agent = match (&options.tls, options.mtls) {
            (Some(t), true) => t.agent_with_client_cert(),
            (Some(t), false) => t.agent(),
            (None, _) => agent(),
        };
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        // A port can be taken between probing and binding; try a few.
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let config = dir.path().join("config.yml");
            let storage = dir.path().join("storage");
            let mut yaml = format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: {}\n",
                yaml_str(&storage.display().to_string()),
                random_hex(16),
            );
            if let Some(tls) = &options.tls {
                yaml.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    yaml_str(&tls.server_cert.display().to_string()),
                    yaml_str(&tls.server_key.display().to_string()),
                ));
                if options.mtls {
                    yaml.push_str(&format!(
                        "    clientcas:\n      - {}\n",
                        yaml_str(&tls.ca_cert.display().to_string())
                    ));
                }
            }
            let mut auth = None;
            if let Some((user, password)) = &options.htpasswd {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{}\n", htpasswd_line(user, password)))
                    .expect("write htpasswd");
                yaml.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: vouch-e2e\n    path: {}\n",
                    yaml_str(&file.display().to_string())
                ));
                auth = Some(HelperAuth::Basic(basic_header(user, password)));
            }
            if let Some(ts) = &options.token_auth {
                yaml.push_str(&format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    yaml_str(&ts.realm()),
                    yaml_str(ts.service()),
                    yaml_str(ts.issuer()),
                    yaml_str(&ts.rootcertbundle().display().to_string()),
                ));
                let subject = ts
                    .options()
                    .users
                    .first()
                    .map(|(u, _)| u.clone())
                    .unwrap_or_else(|| "vouch-e2e".into());
                auth = Some(HelperAuth::Token(ts.clone(), subject));
            }
            std::fs::write(&config, yaml).expect("write registry config");
            let log = dir.path().join("registry.log");
            let registry = Registry {
                child: Mutex::new(spawn(&binary, &config, &log)),
                host: format!("127.0.0.1:{port}"),
                _dir: dir,
                log,
                config,
                binary: binary.clone(),
                scheme,
                agent: agent.clone(),
                auth,
                tls: options.tls.clone(),
            };
            if registry.wait_ready(Duration::from_secs(15)) {
                return registry;
            }
            last_log = std::fs::read_to_string(&registry.log).unwrap_or_default();
        }
        panic!("docker-registry did not start:\n{last_log}");
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.scheme
    }

    /// `http[s]://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The TLS files it serves with, if any.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// A client for this registry: trusts its CA and presents the client certificate when
    /// it needs them; sends no credentials by itself (4xx/5xx are not errors).
    pub fn client(&self) -> &ureq::Agent {
        &self.agent
    }

    /// The `Authorization` header the content helpers send for `repo` (None without auth).
    pub fn auth_header(&self, repo: &str) -> Option<String> {
        match &self.auth {
            None => None,
            Some(HelperAuth::Basic(h)) => Some(h.clone()),
            Some(HelperAuth::Token(ts, subject)) => Some(format!(
                "Bearer {}",
                ts.mint(subject, &[(repo, &["pull", "push", "delete"])])
            )),
        }
    }

    /// Kills the registry process (SIGKILL) and waits for it: requests then fail with
    /// connection refused. Safe to call more than once, and from another thread.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Whether the registry process is still running.
    pub fn is_running(&self) -> bool {
        matches!(
            self.child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait(),
            Ok(None)
        )
    }

    /// Starts the registry again on the same port, config and storage (after
    /// [`Registry::kill`]), and waits until it answers. The `http.secret` is fixed per
    /// registry, so upload sessions begun before survive.
    pub fn restart(&self) {
        self.kill();
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) =
            spawn(&self.binary, &self.config, &self.log);
        assert!(
            self.wait_ready(Duration::from_secs(15)),
            "docker-registry did not restart:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn wait_ready(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if !self.is_running() {
                return false;
            }
            if let Ok(resp) = self.agent.get(&format!("{}/v2/", self.base_url())).call()
                && (resp.status() == 200 || resp.status() == 401)
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
        let auth = self.auth_header(repo);
        let base = format!("{}/v2/{repo}", self.base_url());
        let start = with_auth(self.agent.post(&format!("{base}/blobs/uploads/")), &auth)
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
            format!("{}{location}", self.base_url())
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let resp = with_auth(
            self.agent
                .put(&format!("{url}{sep}digest={}", blob.digest))
                .header("Content-Type", "application/octet-stream"),
            &auth,
        )
        .send(&blob.bytes[..])
        .expect("upload blob");
        assert_eq!(resp.status(), 201, "upload blob");
    }

    /// Uploads a manifest under `reference` (a tag or digest).
    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let resp = with_auth(
            self.agent
                .put(&format!(
                    "{}/v2/{repo}/manifests/{reference}",
                    self.base_url()
                ))
                .header("Content-Type", media_type),
            &self.auth_header(repo),
        )
        .send(bytes)
        .expect("put manifest");
        assert_eq!(resp.status(), 201, "put manifest {reference}");
    }

    /// Fetches a manifest's bytes, or None on 404.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Option<Vec<u8>> {
        let resp = with_auth(
            self.agent
                .get(&format!(
                    "{}/v2/{repo}/manifests/{reference}",
                    self.base_url()
                ))
                .header(
                    "Accept",
                    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json",
                ),
            &self.auth_header(repo),
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
        let resp = with_auth(
            self.agent
                .get(&format!("{}/v2/{repo}/blobs/{digest}", self.base_url())),
            &self.auth_header(repo),
        )
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
        self.kill();
    }
}

fn spawn(binary: &std::path::Path, config: &std::path::Path, log: &std::path::Path) -> Child {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(binary)
        .arg("serve")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("start docker-registry")
}

fn with_auth<B>(req: ureq::RequestBuilder<B>, auth: &Option<String>) -> ureq::RequestBuilder<B> {
    match auth {
        Some(h) => req.header("Authorization", h),
        None => req,
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
