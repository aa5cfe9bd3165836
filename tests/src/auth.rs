//! Credentials on disk, as a client finds them: an htpasswd file for the registry, a docker
//! `config.json` (`auths`, `credsStore`, `credHelpers`), a `docker-credential-NAME` helper
//! script to put on `PATH`, and a containers `auth.json` for `REGISTRY_AUTH_FILE`.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// bcrypt cost for generated htpasswd entries: Go's minimum is 4; Distribution checks the
/// hash on every request, so keep it cheap.
pub const HTPASSWD_COST: u32 = 5;

/// One htpasswd line, `user:$2y$05$…` (bcrypt is the only format Distribution accepts).
pub fn htpasswd_line(user: &str, password: &str) -> String {
    let hash = bcrypt::hash_with_result(password, HTPASSWD_COST)
        .expect("bcrypt")
        .format_for_version(bcrypt::Version::TwoY);
    format!("{user}:{hash}")
}

/// `Basic base64(user:password)`.
pub fn basic_header(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// A docker `config.json` under construction. Write it into a directory and point
/// `DOCKER_CONFIG` at that directory.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    auths: serde_json::Map<String, serde_json::Value>,
    cred_helpers: serde_json::Map<String, serde_json::Value>,
    creds_store: Option<String>,
}

impl DockerConfig {
    /// An empty config.
    pub fn new() -> DockerConfig {
        DockerConfig::default()
    }

    /// `auths[server] = {"auth": base64(user:password)}`; `server` as docker writes it
    /// (`127.0.0.1:PORT`, or a URL such as `https://127.0.0.1:PORT/v1/`).
    pub fn auth(mut self, server: &str, user: &str, password: &str) -> DockerConfig {
        self.auths.insert(
            server.to_string(),
            serde_json::json!({"auth": STANDARD.encode(format!("{user}:{password}"))}),
        );
        self
    }

    /// `auths[server] = entry` as given (separate `username`/`password` fields, an
    /// `identitytoken`, broken base64...).
    pub fn raw_auth(mut self, server: &str, entry: serde_json::Value) -> DockerConfig {
        self.auths.insert(server.to_string(), entry);
        self
    }

    /// `credHelpers[server] = helper` (the program is `docker-credential-<helper>`).
    pub fn cred_helper(mut self, server: &str, helper: &str) -> DockerConfig {
        self.cred_helpers
            .insert(server.to_string(), helper.to_string().into());
        self
    }

    /// `credsStore = helper`: the helper for every registry without a `credHelpers` entry.
    pub fn creds_store(mut self, helper: &str) -> DockerConfig {
        self.creds_store = Some(helper.to_string());
        self
    }

    /// The JSON document.
    pub fn json(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({"auths": self.auths});
        if !self.cred_helpers.is_empty() {
            doc["credHelpers"] = self.cred_helpers.clone().into();
        }
        if let Some(s) = &self.creds_store {
            doc["credsStore"] = s.clone().into();
        }
        doc
    }

    /// Writes `dir/config.json` (mode 0600, as docker does) and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).expect("docker config dir");
        let path = dir.join("config.json");
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&self.json()).expect("config JSON"),
        )
        .expect("write config.json");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod config.json");
        path
    }
}

/// Writes a containers `auth.json` (`{"auths": {server: {"auth": base64(user:password)}}}`,
/// what `REGISTRY_AUTH_FILE` and `podman login` use) at `path`.
pub fn write_containers_auth(path: &Path, entries: &[(&str, &str, &str)]) -> PathBuf {
    let mut config = DockerConfig::new();
    for (server, user, password) in entries {
        config = config.auth(server, user, password);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("auth.json dir");
    }
    std::fs::write(
        path,
        serde_json::to_vec_pretty(&config.json()).expect("auth JSON"),
    )
    .expect("write auth.json");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod auth.json");
    path.to_path_buf()
}

/// An executable `docker-credential-NAME` shell script speaking the credential-helper
/// protocol: `get` reads a server URL on stdin and prints
/// `{"ServerURL":…,"Username":…,"Secret":…}` for a known server (scheme and trailing `/`
/// ignored), or `credentials not found in native keychain` with exit 1. `store`, `erase`
/// and `list` are accepted. Every call is appended to [`CredentialHelper::log`].
#[derive(Debug, Clone)]
pub struct CredentialHelper {
    /// The directory holding the script (put it first on `PATH`).
    pub bin_dir: PathBuf,
    /// The helper name (`credHelpers` value).
    pub name: String,
    /// The script itself.
    pub program: PathBuf,
    /// One line per call: `ACTION STDIN`.
    pub log: PathBuf,
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl CredentialHelper {
    /// Writes `bin_dir/docker-credential-<name>` answering `entries` (`(server, user,
    /// secret)`, `server` as `127.0.0.1:PORT`).
    pub fn install(bin_dir: &Path, name: &str, entries: &[(&str, &str, &str)]) -> CredentialHelper {
        let mut cases = String::new();
        for (server, user, secret) in entries {
            let answer =
                serde_json::json!({"ServerURL": server, "Username": user, "Secret": secret});
            cases.push_str(&format!(
                "      {}) printf '%s\\n' {}; exit 0 ;;\n",
                sh_quote(server),
                sh_quote(&answer.to_string())
            ));
        }
        let get = format!(
            "    server=${{input#https://}}; server=${{server#http://}}; server=${{server%/}}\n    case \"$server\" in\n{cases}    esac\n    echo 'credentials not found in native keychain'; exit 1 ;;\n"
        );
        CredentialHelper::write(bin_dir, name, &get)
    }

    /// A helper whose every `get` fails with `message` on stdout and exit code 1 (a broken
    /// or locked keychain).
    pub fn install_failing(bin_dir: &Path, name: &str, message: &str) -> CredentialHelper {
        let get = format!("    printf '%s\\n' {}; exit 1 ;;\n", sh_quote(message));
        CredentialHelper::write(bin_dir, name, &get)
    }

    fn write(bin_dir: &Path, name: &str, get_branch: &str) -> CredentialHelper {
        std::fs::create_dir_all(bin_dir).expect("helper bin dir");
        let program = bin_dir.join(format!("docker-credential-{name}"));
        let log = bin_dir.join(format!("docker-credential-{name}.log"));
        let script = format!(
            "#!/bin/sh\n# Test credential helper written by vouch-e2e.\naction=\"$1\"\ninput=$(cat)\nprintf '%s %s\\n' \"$action\" \"$input\" >> {log}\ncase \"$action\" in\n  get)\n{get_branch}  store|erase) exit 0 ;;\n  list) echo '{{}}'; exit 0 ;;\n  *) echo \"unknown action: $action\" >&2; exit 1 ;;\nesac\n",
            log = sh_quote(&log.display().to_string()),
            get_branch = get_branch,
        );
        std::fs::write(&program, script).expect("write credential helper");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))
            .expect("chmod credential helper");
        CredentialHelper {
            bin_dir: bin_dir.to_path_buf(),
            name: name.to_string(),
            program,
            log,
        }
    }

    /// The calls so far, one `ACTION STDIN` line each.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `PATH` with [`CredentialHelper::bin_dir`] first.
    pub fn path_env(&self) -> OsString {
        let mut dirs = vec![self.bin_dir.clone()];
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).expect("join PATH")
    }
}
