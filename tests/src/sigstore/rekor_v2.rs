//! Rekor v2: a transparency log over an RFC 6962 Merkle tree with Rekor v2's write API,
//! `POST /api/v2/log/entries` taking a `hashedRekordRequestV002` or a `dsseRequestV002`
//! (each signature checked, as the log does) and answering a Sigstore `TransparencyLogEntry`
//! (protobuf JSON: int64 as strings, bytes as base64) with an inclusion proof to a checkpoint,
//! and no integrated time or signed entry timestamp; an entry already in the log is answered
//! 409 with its index (message and `X-Log-Index`), no entry; `GET /api/v2/checkpoint` gives
//! the latest checkpoint.
//!
//! Checkpoints are C2SP signed notes signed with the log's own Ed25519 key, as the public
//! Rekor v2 shards sign them: origin [`LOG_V2_NAME`], no further lines, one signature line
//! named after the origin whose key ID is the first four bytes of
//! SHA-256(origin || 0x0A || 0x01 || public key); the whole hash is the log ID.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::Hostile;
use super::client_key::ClientKey;
use super::http::{Request, Response, lock};
use super::keys::pem;
use super::merkle::{self, Hash};
use super::rekor_entry::{canonical_json, pae};

/// The log's origin: the name its checkpoints carry and are signed as.
pub const LOG_V2_NAME: &str = "rekor-v2.vouch-e2e.test";

/// Entries the log takes at most (proofs are computed from all leaves on each request).
const MAX_ENTRIES: usize = 10_000;
/// The only key type the log accepts here: the clients' ephemeral P-256 keys.
const KEY_DETAILS: &str = "PKIX_ECDSA_P256_SHA_256";
/// Signed-note signature type of Ed25519.
const ED25519_NOTE_TYPE: u8 = 0x01;
/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The log.
pub(crate) struct RekorV2 {
    key: Ed25519KeyPair,
    leaves: Mutex<Vec<(Vec<u8>, Hash)>>,
    hostile: Arc<Mutex<Hostile>>,
}

impl RekorV2 {
    pub(crate) fn new(hostile: Arc<Mutex<Hostile>>) -> RekorV2 {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate Ed25519 key");
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("load Ed25519 key");
        // A first entry of the log's own, so clients' entries never sit at index 0 (which
        // protobuf JSON would leave out of a bundle).
        let genesis = canonical_json(&json!({
            "apiVersion": "0.0.2",
            "kind": "hashedrekord",
            "spec": {"hashedRekordV002": {"data": {
                "algorithm": "SHA2_256",
                "digest": STANDARD.encode(Sha256::digest(b"vouch-e2e Rekor v2 genesis")),
            }}},
        }));
        let leaf = merkle::leaf_hash(&genesis);
        RekorV2 {
            key,
            leaves: Mutex::new(vec![(genesis, leaf)]),
            hostile,
        }
    }

    /// The checkpoint key as SubjectPublicKeyInfo DER (the trusted root's `rawBytes`).
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        [&ED25519_SPKI_PREFIX[..], self.key.public_key().as_ref()].concat()
    }

    /// SHA-256(origin || 0x0A || 0x01 || key): the log ID; its first four bytes are the
    /// checkpoint signature's key ID.
    pub(crate) fn log_id(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update(LOG_V2_NAME)
            .chain_update([b'\n', ED25519_NOTE_TYPE])
            .chain_update(self.key.public_key().as_ref())
            .finalize()
            .into()
    }

    /// How many entries the log holds, the log's own first one included.
    pub(crate) fn size(&self) -> usize {
        lock(&self.leaves).len()
    }

    pub(crate) fn answer(&self, req: &Request) -> Response {
        if lock(&self.hostile).rekor_down {
            return Response::error(503, "the log is unavailable");
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/api/v2/log/entries") => self.create(req),
            ("GET", "/api/v2/checkpoint") => {
                let leaves = lock(&self.leaves);
                let hashes: Vec<Hash> = leaves.iter().map(|(_, h)| *h).collect();
                Response::new(
                    200,
                    "text/plain; charset=utf-8",
                    self.checkpoint(hashes.len(), &merkle::root(&hashes)),
                )
            }
            (_, p) if p.starts_with("/api/v2/") => Response::error(405, "method not allowed"),
            _ => Response::error(404, "not found"),
        }
    }

    fn create(&self, req: &Request) -> Response {
        let Ok(request) = serde_json::from_slice::<Value>(&req.body) else {
            return Response::error(400, "request is not JSON");
        };
        let body = match (
            request.get("hashedRekordRequestV002"),
            request.get("dsseRequestV002"),
        ) {
            (Some(h), None) => hashedrekord(h),
            (None, Some(d)) => dsse(d),
            _ => {
                Err("exactly one of hashedRekordRequestV002 and dsseRequestV002 is required".into())
            }
        };
        let mut body = match body {
            Ok(b) => b,
            Err(e) => return Response::error(400, e),
        };
        let hostile = *lock(&self.hostile);
        if hostile.rekor_other_signature {
            body = other_signature(&body);
        }
        let leaf = merkle::leaf_hash(&body);
        let mut leaves = lock(&self.leaves);
        if leaves.len() >= MAX_ENTRIES {
            return Response::error(507, "the log is full");
        }
        if let Some(existing) = leaves.iter().position(|(_, h)| *h == leaf) {
            return Response::error(
                409,
                format!(
                    "an equivalent entry already exists in the transparency log at index {existing}"
                ),
            )
            .with_header("X-Log-Index", existing.to_string());
        }
        leaves.push((body.clone(), leaf));
        let index = leaves.len() - 1;
        let hashes: Vec<Hash> = leaves.iter().map(|(_, h)| *h).collect();
        drop(leaves);
        let root = merkle::root(&hashes);
        let mut proof = merkle::inclusion_proof(&hashes, index);
        if hostile.rekor_bad_inclusion_proof {
            match proof.first_mut() {
                Some(h) => h[0] ^= 1,
                None => proof.push(merkle::leaf_hash(b"not in the tree")),
            }
        }
        let logged: Value = serde_json::from_slice(&body).expect("the log's own JSON");
        Response::json(
            201,
            &json!({
                "logIndex": index.to_string(),
                "logId": {"keyId": STANDARD.encode(self.log_id())},
                "kindVersion": {"kind": logged["kind"], "version": logged["apiVersion"]},
                "inclusionProof": {
                    "logIndex": index.to_string(),
                    "rootHash": STANDARD.encode(root),
                    "treeSize": hashes.len().to_string(),
                    "hashes": proof.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
                    "checkpoint": {"envelope": self.checkpoint(hashes.len(), &root)},
                },
                "canonicalizedBody": STANDARD.encode(&body),
            }),
        )
    }

    /// A signed checkpoint for the tree of `size` leaves with this root.
    fn checkpoint(&self, size: usize, root: &Hash) -> String {
        let text = format!("{LOG_V2_NAME}\n{size}\n{}\n", STANDARD.encode(root));
        let signed = if lock(&self.hostile).rekor_bad_checkpoint {
            // A well-formed signature over another tree: parses, does not verify.
            format!("{LOG_V2_NAME}\n{}\n{}\n", size + 1, STANDARD.encode(root))
        } else {
            text.clone()
        };
        let mut sig = self.log_id()[..4].to_vec();
        sig.extend_from_slice(self.key.sign(signed.as_bytes()).as_ref());
        format!("{text}\n\u{2014} {LOG_V2_NAME} {}\n", STANDARD.encode(sig))
    }
}

fn text<'v>(v: &'v Value, pointer: &str) -> Result<&'v str, String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{pointer} is required"))
}

fn bytes(v: &Value, pointer: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(text(v, pointer)?)
        .map_err(|_| format!("{pointer} is not base64"))
}

/// A `Verifier` with a certificate: its key, and the verifier as the log writes it back.
fn verifier(v: &Value) -> Result<(ClientKey, Value), String> {
    if text(v, "/keyDetails")? != KEY_DETAILS {
        return Err(format!("keyDetails must be {KEY_DETAILS}"));
    }
    let der = bytes(v, "/x509Certificate/rawBytes")?;
    let (key, _) = ClientKey::from_pem(pem("CERTIFICATE", &der).as_bytes())?;
    Ok((
        key,
        json!({"keyDetails": KEY_DETAILS, "x509Certificate": {"rawBytes": STANDARD.encode(&der)}}),
    ))
}

/// Checks a `HashedRekordRequestV002` and returns the canonicalized `hashedrekord` 0.0.2
/// body.
fn hashedrekord(request: &Value) -> Result<Vec<u8>, String> {
    let digest = bytes(request, "/digest")?;
    if digest.len() != 32 {
        return Err("digest must be a SHA-256 digest for this key".into());
    }
    let signature = bytes(request, "/signature/content")?;
    let (key, logged_verifier) = verifier(
        request
            .pointer("/signature/verifier")
            .ok_or("/signature/verifier is required")?,
    )?;
    key.verify_digest(&digest, &signature)
        .map_err(|e| format!("verifying signature: {e}"))?;
    Ok(canonical_json(&json!({
        "apiVersion": "0.0.2",
        "kind": "hashedrekord",
        "spec": {"hashedRekordV002": {
            "data": {"algorithm": "SHA2_256", "digest": STANDARD.encode(&digest)},
            "signature": {"content": STANDARD.encode(&signature), "verifier": logged_verifier},
        }},
    })))
}

/// Checks a `DSSERequestV002` and returns the canonicalized `dsse` 0.0.2 body.
fn dsse(request: &Value) -> Result<Vec<u8>, String> {
    let envelope = request.get("envelope").ok_or("/envelope is required")?;
    let payload = bytes(envelope, "/payload")?;
    let message = pae(text(envelope, "/payloadType")?, &payload);
    let verifiers = request
        .get("verifiers")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty() && v.len() <= 8)
        .ok_or("verifiers must list 1 to 8 verifiers")?
        .iter()
        .map(verifier)
        .collect::<Result<Vec<_>, _>>()?;
    let signatures = envelope
        .get("signatures")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty() && s.len() <= 8)
        .ok_or("the envelope must have 1 to 8 signatures")?;
    let mut logged = Vec::new();
    for s in signatures {
        let sig = bytes(s, "/sig")?;
        let (_, v) = verifiers
            .iter()
            .find(|(k, _)| k.verify_message(&message, &sig).is_ok())
            .ok_or("a signature verifies under none of the verifiers")?;
        logged.push(json!({"content": STANDARD.encode(&sig), "verifier": v}));
    }
    Ok(canonical_json(&json!({
        "apiVersion": "0.0.2",
        "kind": "dsse",
        "spec": {"dsseV002": {
            "payloadHash": {"algorithm": "SHA2_256", "digest": STANDARD.encode(Sha256::digest(&payload))},
            "signatures": logged,
        }},
    })))
}

/// The same entry with its signature changed: what a log would answer if it substituted
/// another signature's entry.
fn other_signature(body: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    for p in [
        "/spec/hashedRekordV002/signature/content",
        "/spec/dsseV002/signatures/0/content",
    ] {
        if let Some(Value::String(s)) = v.pointer_mut(p)
            && let Ok(mut raw) = STANDARD.decode(s.as_bytes())
            && let Some(last) = raw.last_mut()
        {
            *last ^= 1;
            *s = STANDARD.encode(raw);
        }
    }
    canonical_json(&v)
}
