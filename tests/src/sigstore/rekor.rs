//! Rekor v1: a transparency log over an RFC 6962 Merkle tree, with the public REST API
//! (`/api/v1/log/entries` create, get by index or UUID, retrieve; `/api/v1/index/retrieve`
//! by artifact hash; `/api/v1/log`, `/api/v1/log/publicKey`, `/api/v1/log/proof`). Each
//! entry carries a signed entry timestamp (the log key's signature over the canonical JSON
//! of `{body, integratedTime, logID, logIndex}`) and an inclusion proof to a checkpoint in
//! Rekor's signed-note form (origin `<hostname> - <tree ID>`, a `Timestamp:` line, one
//! signature line keyed by the first four bytes of the log ID).

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::Hostile;
use super::fulcio::CERTIFICATE_LIFETIME;
use super::http::{Request, Response, lock};
use super::keys::EcKey;
use super::merkle::{self, Hash};
use super::rekor_entry::{self, canonical_json};

/// The name the log signs checkpoints as.
pub const LOG_NAME: &str = "rekor.vouch-e2e.test";

/// Entries a log takes at most (proofs are computed from all leaves on each request).
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    body: Vec<u8>,
    integrated_time: i64,
    leaf: Hash,
    artifact_hash: Option<String>,
}

#[derive(Default)]
struct Log {
    entries: Vec<Entry>,
}

/// The log.
pub(crate) struct Rekor {
    pub(crate) key: EcKey,
    tree_id: u64,
    log: Mutex<Log>,
    hostile: Arc<Mutex<Hostile>>,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Rekor {
    pub(crate) fn new(hostile: Arc<Mutex<Hostile>>) -> Rekor {
        // A positive 63-bit tree ID with 16 hex digits, as Trillian's are.
        let mut id = u64::from_be_bytes(super::keys::random::<8>());
        id = (id & 0x7fff_ffff_ffff_ffff) | 0x1000_0000_0000_0000;
        Rekor {
            key: EcKey::generate(),
            tree_id: id,
            log: Mutex::new(Log {
                entries: vec![genesis()],
            }),
            hostile,
        }
    }

    /// How many entries the log holds (the first is the log's own, see [`genesis`]).
    pub(crate) fn size(&self) -> usize {
        lock(&self.log).entries.len()
    }

    pub(crate) fn answer(&self, req: &Request) -> Response {
        if lock(&self.hostile).rekor_down {
            return Response::error(503, "the log is unavailable");
        }
        let path = req.path.as_str();
        match (req.method.as_str(), path) {
            ("POST", "/api/v1/log/entries") => self.create(req),
            ("GET", "/api/v1/log/entries") => {
                match req.param("logIndex").map(str::parse::<usize>) {
                    Some(Ok(i)) => self.get(|_| Some(i)),
                    _ => Response::error(400, "logIndex must be a non-negative integer"),
                }
            }
            ("POST", "/api/v1/log/entries/retrieve") => self.retrieve(req),
            ("GET", p) if p.starts_with("/api/v1/log/entries/") => {
                let id = &p["/api/v1/log/entries/".len()..];
                match self.parse_uuid(id) {
                    Ok(leaf) => self.get(|log| log.entries.iter().position(|e| e.leaf == leaf)),
                    Err(r) => r,
                }
            }
            ("POST", "/api/v1/index/retrieve") => self.search(req),
            ("GET", "/api/v1/log") => self.info(),
            ("GET", "/api/v1/log/publicKey") => {
                Response::new(200, "application/x-pem-file", self.key.public_pem())
            }
            ("GET", "/api/v1/log/proof") => self.consistency(req),
            (_, p) if p.starts_with("/api/v1/") => Response::error(405, "method not allowed"),
            _ => Response::error(404, "not found"),
        }
    }

    /// The 80-hex entry UUID: tree ID, then the leaf hash.
    fn uuid(&self, leaf: &Hash) -> String {
        format!("{:016x}{}", self.tree_id, hex::encode(leaf))
    }

    /// Accepts the 64-hex leaf hash or the 80-hex entry ID of this tree.
    fn parse_uuid(&self, id: &str) -> Result<Hash, Response> {
        let bad = || Response::error(400, "entry UUID must be 64 or 80 hex digits");
        let hex_part = match id.len() {
            64 => id,
            80 if id[..16] == format!("{:016x}", self.tree_id) => &id[16..],
            80 => return Err(Response::error(404, "no entry with that UUID")),
            _ => return Err(bad()),
        };
        hex::decode(hex_part)
            .ok()
            .and_then(|h| Hash::try_from(h).ok())
            .ok_or_else(bad)
    }

    fn create(&self, req: &Request) -> Response {
        let Ok(proposed) = serde_json::from_slice::<Value>(&req.body) else {
            return Response::error(400, "request is not JSON");
        };
        let canonical = match rekor_entry::canonicalize(&proposed) {
            Ok(c) => c,
            Err(e) => return Response::error(400, e),
        };
        let hostile = *lock(&self.hostile);
        let (mut body, artifact_hash) = (canonical.body, canonical.artifact_hash);
        if hostile.rekor_other_signature {
            body = other_signature(&body);
        }
        let mut integrated_time = now_secs();
        if hostile.rekor_time_after_expiry {
            integrated_time += CERTIFICATE_LIFETIME.as_secs() as i64 + 3600;
        }
        let leaf = merkle::leaf_hash(&body);
        let mut log = lock(&self.log);
        if log.entries.len() >= MAX_ENTRIES {
            return Response::error(507, "the log is full");
        }
        if log.entries.iter().any(|e| e.leaf == leaf) {
            let uuid = self.uuid(&leaf);
            return Response::error(
                409,
                format!(
                    "An equivalent entry already exists in the transparency log with UUID {uuid}"
                ),
            )
            .with_header("Location", format!("/api/v1/log/entries/{uuid}"));
        }
        log.entries.push(Entry {
            body,
            integrated_time,
            leaf,
            artifact_hash,
        });
        let index = log.entries.len() - 1;
        let (uuid, entry) = self.render(&log, index);
        Response::json(201, &json!({ uuid.clone(): entry }))
            .with_header("Location", format!("/api/v1/log/entries/{uuid}"))
            .with_header("ETag", uuid)
    }

    fn get(&self, find: impl Fn(&Log) -> Option<usize>) -> Response {
        let log = lock(&self.log);
        match find(&log).filter(|&i| i < log.entries.len()) {
            Some(i) => {
                let (uuid, entry) = self.render(&log, i);
                Response::json(200, &json!({ uuid: entry }))
            }
            None => Response::error(404, "no such entry"),
        }
    }

    fn retrieve(&self, req: &Request) -> Response {
        let Ok(query) = serde_json::from_slice::<Value>(&req.body) else {
            return Response::error(400, "request is not JSON");
        };
        let log = lock(&self.log);
        let mut indexes = Vec::new();
        for id in query["entryUUIDs"].as_array().into_iter().flatten() {
            match self.parse_uuid(id.as_str().unwrap_or_default()) {
                Ok(leaf) => indexes.extend(log.entries.iter().position(|e| e.leaf == leaf)),
                Err(r) if r.status == 404 => {}
                Err(r) => return r,
            }
        }
        for i in query["logIndexes"].as_array().into_iter().flatten() {
            indexes.extend(
                i.as_u64()
                    .map(|i| i as usize)
                    .filter(|&i| i < log.entries.len()),
            );
        }
        for proposed in query["entries"].as_array().into_iter().flatten() {
            if let Ok(c) = rekor_entry::canonicalize(proposed) {
                let leaf = merkle::leaf_hash(&c.body);
                indexes.extend(log.entries.iter().position(|e| e.leaf == leaf));
            }
        }
        // Rekor answers at most 10 entries per request.
        if indexes.len() > 10 {
            return Response::error(422, "at most 10 entries may be retrieved at once");
        }
        let found: Vec<Value> = indexes
            .into_iter()
            .map(|i| {
                let (uuid, entry) = self.render(&log, i);
                json!({ uuid: entry })
            })
            .collect();
        Response::json(200, &Value::Array(found))
    }

    fn search(&self, req: &Request) -> Response {
        let Ok(query) = serde_json::from_slice::<Value>(&req.body) else {
            return Response::error(400, "request is not JSON");
        };
        let Some(hash) = query["hash"].as_str() else {
            return Response::error(400, "only searches by hash are supported");
        };
        let want = if hash.contains(':') {
            hash.to_ascii_lowercase()
        } else {
            format!("sha256:{}", hash.to_ascii_lowercase())
        };
        let log = lock(&self.log);
        let uuids: Vec<Value> = log
            .entries
            .iter()
            .filter(|e| e.artifact_hash.as_deref() == Some(want.as_str()))
            .map(|e| Value::String(self.uuid(&e.leaf)))
            .collect();
        Response::json(200, &Value::Array(uuids))
    }

    fn info(&self) -> Response {
        let log = lock(&self.log);
        let leaves: Vec<Hash> = log.entries.iter().map(|e| e.leaf).collect();
        let root = merkle::root(&leaves);
        Response::json(
            200,
            &json!({
                "rootHash": hex::encode(root),
                "treeSize": leaves.len(),
                "signedTreeHead": self.checkpoint(leaves.len(), &root),
                "treeID": self.tree_id.to_string(),
                "inactiveShards": [],
            }),
        )
    }

    fn consistency(&self, req: &Request) -> Response {
        let log = lock(&self.log);
        let leaves: Vec<Hash> = log.entries.iter().map(|e| e.leaf).collect();
        let first = req.param("firstSize").map_or(Ok(1), str::parse::<usize>);
        let last = req
            .param("lastSize")
            .map_or(Ok(leaves.len()), str::parse::<usize>);
        match (first, last) {
            (Ok(m), Ok(n)) if m >= 1 && m <= n && n <= leaves.len() => Response::json(
                200,
                &json!({
                    "hashes": merkle::consistency_proof(&leaves[..n], m)
                        .iter()
                        .map(hex::encode)
                        .collect::<Vec<_>>(),
                    "rootHash": hex::encode(merkle::root(&leaves[..n])),
                }),
            ),
            _ => Response::error(400, "need 1 <= firstSize <= lastSize <= tree size"),
        }
    }

    /// A signed checkpoint for the tree of `size` leaves with this root.
    fn checkpoint(&self, size: usize, root: &Hash) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let text = format!(
            "{LOG_NAME} - {}\n{size}\n{}\nTimestamp: {nanos}\n",
            self.tree_id,
            STANDARD.encode(root)
        );
        let mut sig = self.key.key_id()[..4].to_vec();
        if lock(&self.hostile).rekor_bad_checkpoint {
            // A well-formed signature over another text: parses, does not verify.
            sig.extend(self.key.sign(format!("{text}forged\n").as_bytes()));
        } else {
            sig.extend(self.key.sign(text.as_bytes()));
        }
        format!("{text}\n\u{2014} {LOG_NAME} {}\n", STANDARD.encode(sig))
    }

    /// An entry as the API returns it (LogEntryAnon), with its UUID; the inclusion proof
    /// is to the current tree.
    fn render(&self, log: &Log, index: usize) -> (String, Value) {
        let entry = &log.entries[index];
        let leaves: Vec<Hash> = log.entries.iter().map(|e| e.leaf).collect();
        let root = merkle::root(&leaves);
        let mut hashes = merkle::inclusion_proof(&leaves, index);
        let log_id = hex::encode(self.key.key_id());
        let hostile = *lock(&self.hostile);
        let mut set_time = entry.integrated_time;
        if hostile.rekor_bad_set {
            // A well-formed signature over another time: parses, does not verify.
            set_time += 1;
        }
        let set = self.key.sign(&canonical_json(&json!({
            "body": STANDARD.encode(&entry.body),
            "integratedTime": set_time,
            "logID": log_id,
            "logIndex": index,
        })));
        if hostile.rekor_bad_inclusion_proof {
            match hashes.first_mut() {
                Some(h) => h[0] ^= 1,
                None => hashes.push(merkle::leaf_hash(b"not in the tree")),
            }
        }
        let value = json!({
            "body": STANDARD.encode(&entry.body),
            "integratedTime": entry.integrated_time,
            "logID": log_id,
            "logIndex": index,
            "verification": {
                "inclusionProof": {
                    "checkpoint": self.checkpoint(leaves.len(), &root),
                    "hashes": hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                    "logIndex": index,
                    "rootHash": hex::encode(root),
                    "treeSize": leaves.len(),
                },
                "signedEntryTimestamp": STANDARD.encode(set),
            },
        });
        (self.uuid(&entry.leaf), value)
    }
}

/// The entry a log starts with. Clients' entries then never sit at index 0: protobuf's
/// JSON leaves a zero `logIndex` out of a bundle, and cosign 2.5 and vouch both refuse a
/// bundle without one; a real log is never empty either.
fn genesis() -> Entry {
    let key = EcKey::generate();
    let data = b"vouch-e2e Rekor stand-in genesis";
    let proposed = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(data))}},
            "signature": {
                "content": STANDARD.encode(key.sign(data)),
                "publicKey": {"content": STANDARD.encode(key.public_pem())},
            },
        },
    });
    let canonical = rekor_entry::canonicalize(&proposed).expect("genesis entry");
    Entry {
        leaf: merkle::leaf_hash(&canonical.body),
        body: canonical.body,
        integrated_time: now_secs(),
        artifact_hash: canonical.artifact_hash,
    }
}

/// The same entry with its signature changed: what a log would answer if it substituted
/// another signature's entry.
fn other_signature(body: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let pointers = ["/spec/signature/content", "/spec/signatures/0/signature"];
    for p in pointers {
        if let Some(Value::String(s)) = v.pointer_mut(p)
            && let Ok(mut raw) = STANDARD.decode(s.as_bytes())
            && let Some(last) = raw.last_mut()
        {
            *last ^= 1;
            *s = STANDARD.encode(raw);
        }
    }
    // intoto 0.0.2 keeps each signature base64-encoded twice.
    if let Some(Value::String(s)) = v.pointer_mut("/spec/content/envelope/signatures/0/sig")
        && let Ok(once) = STANDARD.decode(s.as_bytes())
        && let Ok(mut raw) = STANDARD.decode(&once)
        && let Some(last) = raw.last_mut()
    {
        *last ^= 1;
        *s = STANDARD.encode(STANDARD.encode(raw));
    }
    canonical_json(&v)
}
