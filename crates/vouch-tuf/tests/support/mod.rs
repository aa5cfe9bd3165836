//! A TUF repository made in the test (ed25519 keys, canonical JSON, consistent snapshots)
//! and a small HTTP server on 127.0.0.1 that serves its directory, so each attack the TUF
//! specification names can be staged by writing the files an attacker would serve.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::Serialize as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .expect("clock")
}

/// RFC 3339, whole seconds, UTC.
pub fn at(secs: i64) -> String {
    vouch_policy::Timestamp::from_unix(secs).to_string()
}

/// A year from now.
pub fn far() -> String {
    at(now() + 365 * 86400)
}

pub fn canonical(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut ser).expect("canonical JSON");
    out
}

/// An ed25519 TUF key.
pub struct Key {
    pair: Ed25519KeyPair,
    pub id: String,
}

impl Key {
    pub fn generate() -> Key {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("keygen");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
        let id = hex::encode(Sha256::digest(canonical(&key_json(&pair))));
        Key { pair, id }
    }

    pub fn json(&self) -> Value {
        key_json(&self.pair)
    }
}

fn key_json(pair: &Ed25519KeyPair) -> Value {
    json!({"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": hex::encode(pair.public_key().as_ref())}})
}

/// `{"signed": …, "signatures": […]}` signed by `keys`.
pub fn sign(signed: Value, keys: &[&Key]) -> Vec<u8> {
    let bytes = canonical(&signed);
    let signatures: Vec<Value> = keys
        .iter()
        .map(|k| json!({"keyid": k.id, "sig": hex::encode(k.pair.sign(&bytes).as_ref())}))
        .collect();
    serde_json::to_vec_pretty(&json!({"signed": signed, "signatures": signatures})).expect("JSON")
}

/// The keys of the four top-level roles.
pub struct Roles {
    pub root: Key,
    pub targets: Key,
    pub snapshot: Key,
    pub timestamp: Key,
}

impl Roles {
    pub fn generate() -> Roles {
        Roles {
            root: Key::generate(),
            targets: Key::generate(),
            snapshot: Key::generate(),
            timestamp: Key::generate(),
        }
    }
}

/// A repository: metadata at the directory's top, targets under `targets/`.
pub struct Repo {
    pub dir: PathBuf,
    pub roles: Roles,
    pub root_version: u64,
    pub targets_version: u64,
    pub snapshot_version: u64,
    pub timestamp_version: u64,
    /// `1.root.json`: the root of trust clients start from.
    pub initial_root: Vec<u8>,
}

fn root_role(version: u64, roles: &Roles, expires: &str) -> Value {
    let keys: BTreeMap<String, Value> = [
        &roles.root,
        &roles.targets,
        &roles.snapshot,
        &roles.timestamp,
    ]
    .iter()
    .map(|k| (k.id.clone(), k.json()))
    .collect();
    let role = |k: &Key| json!({"keyids": [k.id], "threshold": 1});
    json!({
        "_type": "root",
        "spec_version": "1.0.0",
        "version": version,
        "expires": expires,
        "consistent_snapshot": true,
        "keys": keys,
        "roles": {
            "root": role(&roles.root),
            "targets": role(&roles.targets),
            "snapshot": role(&roles.snapshot),
            "timestamp": role(&roles.timestamp),
        },
    })
}

impl Repo {
    pub fn new(dir: &Path) -> Repo {
        std::fs::create_dir_all(dir.join("targets")).expect("repo dirs");
        let roles = Roles::generate();
        let initial_root = sign(root_role(1, &roles, &far()), &[&roles.root]);
        std::fs::write(dir.join("1.root.json"), &initial_root).expect("root");
        Repo {
            dir: dir.to_path_buf(),
            roles,
            root_version: 1,
            targets_version: 0,
            snapshot_version: 0,
            timestamp_version: 0,
            initial_root,
        }
    }

    pub fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.join(name), bytes).expect("write repo file");
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).expect("read repo file")
    }

    /// A new targets, snapshot and timestamp with these target files; the timestamp expires
    /// at `timestamp_expires`.
    pub fn publish(&mut self, files: &[(&str, &[u8])], timestamp_expires: &str) {
        let mut targets = BTreeMap::new();
        for (name, bytes) in files {
            let hash = hex::encode(Sha256::digest(bytes));
            std::fs::write(
                self.dir.join("targets").join(format!("{hash}.{name}")),
                bytes,
            )
            .expect("target");
            targets.insert(
                name.to_string(),
                json!({"length": bytes.len(), "hashes": {"sha256": hash}}),
            );
        }
        self.targets_version += 1;
        let t = sign(
            json!({"_type": "targets", "spec_version": "1.0.0", "version": self.targets_version, "expires": far(), "targets": targets}),
            &[&self.roles.targets],
        );
        self.write(&format!("{}.targets.json", self.targets_version), &t);
        self.snapshot_version += 1;
        self.publish_snapshot(self.targets_version, self.snapshot_version);
        self.timestamp_version += 1;
        self.publish_timestamp(
            self.snapshot_version,
            self.timestamp_version,
            timestamp_expires,
        );
    }

    pub fn publish_snapshot(&self, targets_version: u64, version: u64) {
        let s = sign(
            json!({"_type": "snapshot", "spec_version": "1.0.0", "version": version, "expires": far(),
                   "meta": {"targets.json": {"version": targets_version}}}),
            &[&self.roles.snapshot],
        );
        self.write(&format!("{version}.snapshot.json"), &s);
    }

    pub fn publish_timestamp(&self, snapshot_version: u64, version: u64, expires: &str) {
        let snapshot = self.read(&format!("{snapshot_version}.snapshot.json"));
        let t = sign(
            json!({"_type": "timestamp", "spec_version": "1.0.0", "version": version, "expires": expires,
                   "meta": {"snapshot.json": {"version": snapshot_version, "length": snapshot.len(),
                                              "hashes": {"sha256": hex::encode(Sha256::digest(&snapshot))}}}}),
            &[&self.roles.timestamp],
        );
        self.write("timestamp.json", &t);
    }

    /// A new root with `roles`, signed by the new root key and, if `by_old`, the current one.
    pub fn rotate(&mut self, roles: Roles, by_old: bool) {
        let version = self.root_version + 1;
        let signed = root_role(version, &roles, &far());
        let bytes = if by_old {
            sign(signed, &[&self.roles.root, &roles.root])
        } else {
            sign(signed, &[&roles.root])
        };
        self.write(&format!("{version}.root.json"), &bytes);
        self.root_version = version;
        self.roles = roles;
    }
}

/// A trusted_root.json-shaped target.
pub fn trusted_root(n: u32) -> Vec<u8> {
    serde_json::to_vec(&json!({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": [], "certificateAuthorities": [], "n": n})).expect("JSON")
}

/// A signing_config-shaped target.
pub fn signing_config(n: u32) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json", "n": n}),
    )
    .expect("JSON")
}

/// Serves a directory over HTTP/1.1 on 127.0.0.1 (GET only, one request per connection),
/// and records the paths asked for.
pub struct FileServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl FileServer {
    pub fn start(dir: &Path) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (dir, seen, stopping) = (dir.to_path_buf(), Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let (dir, seen) = (dir.clone(), Arc::clone(&seen));
                    std::thread::spawn(move || serve(stream, &dir, &seen));
                }
            }
        });
        FileServer {
            url: format!("http://{addr}/"),
            requests,
            stop,
            addr,
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn serve(mut stream: TcpStream, dir: &Path, seen: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    seen.lock().expect("lock").push(path.clone());
    let relative = path.trim_start_matches('/');
    let file = (!relative.split('/').any(|p| p == ".." || p.is_empty())
        && line.starts_with("GET "))
    .then(|| dir.join(relative))
    .and_then(|p| std::fs::read(p).ok());
    let _ = match file {
        Some(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(&body))
        }
        None => stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}
