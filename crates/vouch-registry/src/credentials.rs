//! Registry credentials, found where docker and podman keep them: `$DOCKER_CONFIG/config.json`
//! (`credHelpers`, `auths`, `credsStore`), then `REGISTRY_AUTH_FILE` or containers' `auth.json`.
//! Secrets live in zeroizing buffers and never reach `Debug`, logs or error messages.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use zeroize::Zeroizing;

const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
const MAX_HELPER_OUTPUT: u64 = 64 * 1024;
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Docker Hub's key in config files.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A username and secret (password or token) for one registry.
#[derive(Clone)]
pub struct Credentials {
    /// The user name; `<token>` with an identity token.
    pub username: String,
    /// The password or identity token.
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// True for an OAuth identity (refresh) token rather than a password.
    pub fn is_identity_token(&self) -> bool {
        self.username == "<token>" || self.username.is_empty()
    }

    /// The `Authorization: Basic …` value.
    pub fn basic_header(&self) -> Zeroizing<String> {
        let raw = Zeroizing::new(format!("{}:{}", self.username, self.secret.as_str()));
        Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
        ))
    }
}

/// Why credentials could not be read. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A config file exists but is unreadable or malformed.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A credential helper failed.
    #[error("credential helper docker-credential-{helper}: {reason}")]
    Helper {
        /// The helper's suffix.
        helper: String,
        /// What went wrong.
        reason: String,
    },
}

/// Where to look for credentials (overridable for tests and `vouch login`).
#[derive(Debug, Clone, Default)]
pub struct CredentialSources {
    /// docker's config.json.
    pub docker_config: Option<PathBuf>,
    /// containers' auth.json.
    pub containers_auth: Option<PathBuf>,
}

impl CredentialSources {
    /// The locations docker and podman use, from the environment.
    pub fn from_env() -> CredentialSources {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let docker_config = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".docker")))
            .map(|d| d.join("config.json"));
        let containers_auth = std::env::var_os("REGISTRY_AUTH_FILE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_RUNTIME_DIR")
                    .map(|d| PathBuf::from(d).join("containers/auth.json"))
                    .filter(|p| p.is_file())
            })
            .or_else(|| {
                std::env::var_os("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .or_else(|| home.as_ref().map(|h| h.join(".config")))
                    .map(|d| d.join("containers/auth.json"))
            });
        CredentialSources {
            docker_config,
            containers_auth,
        }
    }

    /// Credentials for `registry` (as written in references, e.g. `docker.io` or `host:port`).
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>, CredentialError> {
        if let Some(path) = &self.docker_config
            && let Some(config) = read_json(path)?
        {
            if let Some(helper) = config["credHelpers"]
                .as_object()
                .and_then(|helpers| find_entry(helpers, registry))
                .and_then(|v| v.as_str())
            {
                return run_helper(helper, &server_url(registry));
            }
            if let Some(creds) = auths_entry(&config, registry, path)? {
                return Ok(Some(creds));
            }
            if let Some(store) = config["credsStore"].as_str().filter(|s| !s.is_empty()) {
                return run_helper(store, &server_url(registry));
            }
        }
        if let Some(path) = &self.containers_auth
            && let Some(config) = read_json(path)?
            && let Some(creds) = auths_entry(&config, registry, path)?
        {
            return Ok(Some(creds));
        }
        Ok(None)
    }
}

/// The key docker uses for a registry in config files.
pub fn server_url(registry: &str) -> String {
    if registry == vouch_oci::reference::DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>, CredentialError> {
    let err = |reason: String| CredentialError::Config {
        path: path.display().to_string(),
        reason,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e.to_string())),
    };
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(err("larger than 1 MiB".into()));
    }
    let bytes = Zeroizing::new(bytes);
    // serde_json errors name a position, never the content: safe to show.
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| err(format!("not valid JSON ({e})")))
}

/// Finds a registry's entry under the spellings docker accepts: `host`, `https://host`,
/// `http://host`, with or without a path.
fn find_entry<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    registry: &str,
) -> Option<&'a serde_json::Value> {
    let wanted = server_url(registry);
    if let Some(v) = map.get(&wanted).or_else(|| map.get(registry)) {
        return Some(v);
    }
    map.iter()
        .find(|(key, _)| {
            let host = key
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default();
            host == registry
                || (registry == vouch_oci::reference::DOCKER_HUB
                    && matches!(host, "index.docker.io" | "registry-1.docker.io"))
        })
        .map(|(_, v)| v)
}

fn auths_entry(
    config: &serde_json::Value,
    registry: &str,
    path: &Path,
) -> Result<Option<Credentials>, CredentialError> {
    let Some(entry) = config["auths"]
        .as_object()
        .and_then(|auths| find_entry(auths, registry))
    else {
        return Ok(None);
    };
    if let Some(token) = entry["identitytoken"].as_str().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials {
            username: "<token>".into(),
            secret: Zeroizing::new(token.to_string()),
        }));
    }
    if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| CredentialError::Config {
                    path: path.display().to_string(),
                    reason: format!("auths[{registry:?}].auth is not base64 of user:password"),
                })?,
        );
        let text = std::str::from_utf8(&decoded).map_err(|_| CredentialError::Config {
            path: path.display().to_string(),
            reason: format!("auths[{registry:?}].auth is not UTF-8"),
        })?;
        let (user, pass) = text
            .split_once(':')
            .ok_or_else(|| CredentialError::Config {
                path: path.display().to_string(),
                reason: format!("auths[{registry:?}].auth is not user:password"),
            })?;
        return Ok(Some(Credentials {
            username: user.to_string(),
            secret: Zeroizing::new(pass.to_string()),
        }));
    }
    match (entry["username"].as_str(), entry["password"].as_str()) {
        (Some(u), Some(p)) => Ok(Some(Credentials {
            username: u.to_string(),
            secret: Zeroizing::new(p.to_string()),
        })),
        _ => Ok(None),
    }
}

/// Runs `docker-credential-<helper> get`, the docker credential-helper protocol.
fn run_helper(helper: &str, server: &str) -> Result<Option<Credentials>, CredentialError> {
    let err = |reason: String| CredentialError::Helper {
        helper: helper.to_string(),
        reason,
    };
    if helper.is_empty() || helper.contains(['/', '\\']) || helper.starts_with('.') {
        return Err(err("invalid helper name".into()));
    }
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| err(format!("cannot run it ({e}); is it on PATH?")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| err(e.to_string()))?;
    }
    let mut out = Zeroizing::new(Vec::new());
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_HELPER_OUTPUT)
            .read_to_end(&mut out)
            .map_err(|e| err(e.to_string()))?;
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|e| err(e.to_string()))? {
            Some(status) => break status,
            None if started.elapsed() > HELPER_TIMEOUT => {
                let _ = child.kill();
                return Err(err("timed out".into()));
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    if !status.success() {
        // "credentials not found" is the protocol's way of saying: none stored.
        if String::from_utf8_lossy(&out).contains("credentials not found") {
            return Ok(None);
        }
        return Err(err(format!("exited with {status}")));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct HelperAnswer {
        username: String,
        secret: Zeroizing<String>,
    }
    let answer: HelperAnswer = serde_json::from_slice(&out)
        .map_err(|_| err("answered something that is not {\"Username\",\"Secret\"} JSON".into()))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: answer.username,
        secret: answer.secret,
    }))
}

/// Stores `creds` for `registry` in docker's config.json (`vouch login`), keeping
/// everything else in the file; the file is written 0600.
pub fn store_login(
    config_path: &Path,
    registry: &str,
    creds: &Credentials,
) -> Result<(), CredentialError> {
    let mut config = read_json(config_path)?.unwrap_or_else(|| serde_json::json!({}));
    let err = |reason: String| CredentialError::Config {
        path: config_path.display().to_string(),
        reason,
    };
    let obj = config
        .as_object_mut()
        .ok_or_else(|| err("not a JSON object".into()))?;
    let auths = obj
        .entry("auths")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| err("\"auths\" is not an object".into()))?;
    let raw = Zeroizing::new(format!("{}:{}", creds.username, creds.secret.as_str()));
    auths.insert(
        server_url(registry),
        serde_json::json!({"auth": base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())}),
    );
    write_private(config_path, &config).map_err(|e| err(e.to_string()))
}

/// Removes `registry` from docker's config.json (`vouch logout`). True if it was there.
pub fn remove_login(config_path: &Path, registry: &str) -> Result<bool, CredentialError> {
    let Some(mut config) = read_json(config_path)? else {
        return Ok(false);
    };
    let key = server_url(registry);
    let removed = config["auths"]
        .as_object_mut()
        .map(|a| a.remove(&key).is_some() || a.remove(registry).is_some())
        .unwrap_or(false);
    if removed {
        write_private(config_path, &config).map_err(|e| CredentialError::Config {
            path: config_path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(removed)
}

fn write_private(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = Zeroizing::new(serde_json::to_vec_pretty(value).unwrap_or_default());
    vouch_fs::replace(path, &bytes, 0o600, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path, docker: &str) -> CredentialSources {
        let path = dir.join("config.json");
        std::fs::write(&path, docker).expect("write");
        CredentialSources {
            docker_config: Some(path),
            containers_auth: Some(dir.join("missing-auth.json")),
        }
    }

    #[test]
    fn auths_in_each_spelling() {
        let dir = tempfile::tempdir().expect("tempdir");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        for key in [
            "127.0.0.1:5000",
            "https://127.0.0.1:5000",
            "http://127.0.0.1:5000/v2/",
        ] {
            let s = sources(
                dir.path(),
                &format!(r#"{{"auths":{{"{key}":{{"auth":"{auth}"}}}}}}"#),
            );
            let c = s.lookup("127.0.0.1:5000").expect("lookup").expect("found");
            assert_eq!(c.username, "alice");
            assert_eq!(c.secret.as_str(), "s3cret");
            assert!(s.lookup("127.0.0.1:5001").expect("lookup").is_none());
        }
        let s = sources(
            dir.path(),
            &format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#),
        );
        assert!(s.lookup("docker.io").expect("lookup").is_some());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials {
            username: "u".into(),
            secret: Zeroizing::new("hunter2".into()),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn malformed_config_names_the_file_not_the_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = sources(
            dir.path(),
            r#"{"auths":{"h":{"auth":"!!notbase64-hunter2"}}}"#,
        );
        let e = s.lookup("h").expect_err("bad base64").to_string();
        assert!(e.contains("config.json") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn login_then_logout_roundtrip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d/config.json");
        std::fs::create_dir_all(dir.path().join("d")).expect("dir");
        std::fs::write(&path, r#"{"credsStore":"","other":1}"#).expect("write");
        let creds = Credentials {
            username: "bob".into(),
            secret: Zeroizing::new("pw".into()),
        };
        store_login(&path, "r.example:5000", &creds).expect("login");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let s = CredentialSources {
            docker_config: Some(path.clone()),
            containers_auth: None,
        };
        assert_eq!(
            s.lookup("r.example:5000")
                .expect("lookup")
                .expect("found")
                .username,
            "bob"
        );
        let kept: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(kept["other"], 1);
        assert!(remove_login(&path, "r.example:5000").expect("logout"));
        assert!(s.lookup("r.example:5000").expect("lookup").is_none());
    }
}
