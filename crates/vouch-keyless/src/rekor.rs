//! Rekor v1: proposing `hashedrekord` 0.0.1 entries (a signature over an artifact digest),
//! `dsse` 0.0.1 entries (a DSSE envelope) and `intoto` 0.0.2 entries (a DSSE envelope, as
//! cosign 2.x logs `.att` attestations), reading the log's answer (`LogEntryAnon`:
//! body, integrated time, log ID, index, signed entry timestamp, inclusion proof with
//! checkpoint), and writing it out as a Sigstore bundle `TransparencyLogEntry` and as cosign
//! 2.x's `dev.sigstore.cosign/bundle` annotation.
//!
//! The answer is checked here only for what needs no key: the logged body describes exactly
//! the signature, certificate and digest that were sent, and the integrated time lies within
//! the certificate's validity. The log's signatures (SET, checkpoint) and the inclusion proof
//! are the offline verifier's to check, on the assembled bundle. [`LogEntry`] is shared with
//! the Rekor v2 writer (module `rekor_v2`), whose entries have neither time nor SET.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::error::{KeylessError, Service};
use crate::transport::{Body, Http, endpoint};

/// Largest answer read from the log (an entry with a certificate and a proof is a few KiB).
pub(crate) const MAX_ANSWER: usize = 1024 * 1024;
/// Most hashes accepted in an inclusion proof (a tree of 2^64 leaves needs 64).
pub(crate) const MAX_PROOF_HASHES: usize = 64;

/// What is logged.
#[derive(Debug, Clone)]
pub(crate) enum Proposal {
    /// A signature over the SHA-256 digest of an artifact.
    HashedRekord {
        digest: [u8; 32],
        signature: Vec<u8>,
        certificate_pem: String,
    },
    /// A DSSE envelope with one signature.
    Dsse {
        envelope_json: String,
        payload: Vec<u8>,
        signature: Vec<u8>,
        certificate_pem: String,
    },
    /// A DSSE envelope as cosign 2.x logs an attestation: an `intoto` 0.0.2 entry, which
    /// also records the SHA-256 of the envelope's bytes (the `.att` layer).
    Intoto {
        envelope_bytes: Vec<u8>,
        payload_type: String,
        payload: Vec<u8>,
        signature: Vec<u8>,
        certificate_pem: String,
    },
}

impl Proposal {
    fn to_json(&self) -> Value {
        match self {
            Proposal::HashedRekord {
                digest,
                signature,
                certificate_pem,
            } => json!({
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
                    "signature": {
                        "content": STANDARD.encode(signature),
                        "publicKey": {"content": STANDARD.encode(certificate_pem)},
                    },
                },
            }),
            Proposal::Dsse {
                envelope_json,
                certificate_pem,
                ..
            } => json!({
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {"proposedContent": {
                    "envelope": envelope_json,
                    "verifiers": [STANDARD.encode(certificate_pem)],
                }},
            }),
            // intoto 0.0.2 carries the envelope's base64 fields base64-encoded once more.
            Proposal::Intoto {
                envelope_bytes,
                payload_type,
                payload,
                signature,
                certificate_pem,
            } => json!({
                "apiVersion": "0.0.2",
                "kind": "intoto",
                "spec": {"content": {
                    "envelope": {
                        "payloadType": payload_type,
                        "payload": STANDARD.encode(STANDARD.encode(payload)),
                        "signatures": [{
                            "sig": STANDARD.encode(STANDARD.encode(signature)),
                            "publicKey": STANDARD.encode(certificate_pem),
                        }],
                    },
                    "hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope_bytes))},
                    "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))},
                }},
            }),
        }
    }

    pub(crate) fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Proposal::HashedRekord { .. } => ("hashedrekord", "0.0.1"),
            Proposal::Dsse { .. } => ("dsse", "0.0.1"),
            Proposal::Intoto { .. } => ("intoto", "0.0.2"),
        }
    }

    /// Whether the canonicalized body the log returned describes this proposal: same kind
    /// and version, same digest (or payload hash), same signature, same certificate.
    fn check_body(&self, body: &Value) -> Result<(), String> {
        let text = |pointer: &str| {
            body.pointer(pointer)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("an entry without {pointer}"))
        };
        let decoded = |pointer: &str| -> Result<Vec<u8>, String> {
            STANDARD
                .decode(text(pointer)?)
                .map_err(|_| format!("an entry whose {pointer} is not base64"))
        };
        let (kind, version) = self.kind();
        if text("/kind")? != kind || text("/apiVersion")? != version {
            return Err("another kind of entry".into());
        }
        let same_pem = |logged: &[u8], ours: &str| {
            certificate_der(logged).is_some()
                && certificate_der(logged) == certificate_der(ours.as_bytes())
        };
        match self {
            Proposal::HashedRekord {
                digest,
                signature,
                certificate_pem,
            } => {
                if text("/spec/data/hash/algorithm")? != "sha256"
                    || !text("/spec/data/hash/value")?.eq_ignore_ascii_case(&hex::encode(digest))
                {
                    return Err("another artifact".into());
                }
                if decoded("/spec/signature/content")? != *signature {
                    return Err("another signature".into());
                }
                if !same_pem(
                    &decoded("/spec/signature/publicKey/content")?,
                    certificate_pem,
                ) {
                    return Err("another certificate".into());
                }
            }
            Proposal::Dsse {
                payload,
                signature,
                certificate_pem,
                ..
            } => {
                if text("/spec/payloadHash/algorithm")? != "sha256"
                    || !text("/spec/payloadHash/value")?
                        .eq_ignore_ascii_case(&hex::encode(Sha256::digest(payload)))
                {
                    return Err("another payload".into());
                }
                let signatures = body
                    .pointer("/spec/signatures")
                    .and_then(Value::as_array)
                    .ok_or("an entry without signatures")?;
                let [logged] = signatures.as_slice() else {
                    return Err("another number of signatures".into());
                };
                if decoded_in(logged, "/signature")? != *signature {
                    return Err("another signature".into());
                }
                if !same_pem(&decoded_in(logged, "/verifier")?, certificate_pem) {
                    return Err("another certificate".into());
                }
            }
            Proposal::Intoto {
                envelope_bytes,
                payload,
                signature,
                certificate_pem,
                ..
            } => {
                let same = |pointer: &str, data: &[u8]| -> Result<bool, String> {
                    Ok(text(&format!("{pointer}/algorithm"))? == "sha256"
                        && text(&format!("{pointer}/value"))?
                            .eq_ignore_ascii_case(&hex::encode(Sha256::digest(data))))
                };
                if !same("/spec/content/hash", envelope_bytes)? {
                    return Err("another envelope".into());
                }
                if !same("/spec/content/payloadHash", payload)? {
                    return Err("another payload".into());
                }
                let signatures = body
                    .pointer("/spec/content/envelope/signatures")
                    .and_then(Value::as_array)
                    .ok_or("an entry without signatures")?;
                let [logged] = signatures.as_slice() else {
                    return Err("another number of signatures".into());
                };
                let once = decoded_in(logged, "/sig")?;
                let twice = std::str::from_utf8(&once)
                    .ok()
                    .and_then(|t| STANDARD.decode(t).ok());
                if twice.as_deref() != Some(signature.as_slice()) {
                    return Err("another signature".into());
                }
                if !same_pem(&decoded_in(logged, "/publicKey")?, certificate_pem) {
                    return Err("another certificate".into());
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn decoded_in(v: &Value, pointer: &str) -> Result<Vec<u8>, String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|s| STANDARD.decode(s).ok())
        .ok_or_else(|| format!("an entry whose {pointer} is missing or not base64"))
}

/// The DER of the first CERTIFICATE block of a PEM text.
pub(crate) fn certificate_der(pem: &[u8]) -> Option<Vec<u8>> {
    let (label, der) = der::pem::decode_vec(pem).ok()?;
    (label == "CERTIFICATE").then_some(der)
}

/// An inclusion proof, as the log answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's index in the tree.
    pub log_index: i64,
    /// The root hash the proof leads to.
    pub root_hash: Vec<u8>,
    /// The tree's size.
    pub tree_size: i64,
    /// The sibling hashes, leaf to root.
    pub hashes: Vec<Vec<u8>>,
    /// The signed checkpoint (a signed note) for that tree.
    pub checkpoint: String,
}

/// A log entry, as the log answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The log's base URL.
    pub log_url: String,
    /// The entry's UUID (Rekor v1; empty for Rekor v2, which names entries by index).
    pub uuid: String,
    /// Its index in the log.
    pub log_index: i64,
    /// The log ID (Rekor v1: SHA-256 of the log's public key; Rekor v2: the checkpoint
    /// key's signed-note key ID in full).
    pub log_id: Vec<u8>,
    /// When the log integrated it, Unix seconds (Rekor v1; Rekor v2 states no time).
    pub integrated_time: Option<i64>,
    /// The signed entry timestamp (Rekor v1; Rekor v2 gives none).
    pub signed_entry_timestamp: Option<Vec<u8>>,
    /// The inclusion proof, if the log sent one.
    pub inclusion_proof: Option<InclusionProof>,
    /// The canonicalized body.
    pub body: Vec<u8>,
    /// `hashedrekord` or `dsse`.
    pub kind: String,
    /// `0.0.1` (Rekor v1) or `0.0.2` (Rekor v2).
    pub api_version: String,
}

pub(crate) fn bad(reason: impl Into<String>) -> KeylessError {
    KeylessError::BadAnswer {
        service: Service::Rekor,
        reason: reason.into(),
    }
}

/// Logs `proposal` in the log at `base` and returns the entry, checked against what was sent.
pub(crate) async fn create_entry(
    http: &Http,
    base: &Url,
    proposal: &Proposal,
) -> Result<LogEntry, KeylessError> {
    let url = endpoint(base, "api/v1/log/entries")?;
    let body = serde_json::to_vec(&proposal.to_json()).unwrap_or_default();
    let answer = http
        .send(
            Service::Rekor,
            Method::POST,
            &url,
            None,
            Some(Body {
                content_type: "application/json",
                bytes: body,
            }),
            MAX_ANSWER,
        )
        .await?;
    let answer = match answer.status {
        StatusCode::CREATED | StatusCode::OK => answer,
        // Already logged (a retried request, or the same signature twice): the log says where.
        StatusCode::CONFLICT => {
            let location = answer
                .location
                .as_deref()
                .ok_or_else(|| bad("409 Conflict without a Location"))?;
            let existing = url
                .join(location)
                .map_err(|_| bad("409 Conflict with an unusable Location"))?;
            if existing.origin() != url.origin() {
                return Err(bad("409 Conflict pointing at another host"));
            }
            let found = http
                .send(
                    Service::Rekor,
                    Method::GET,
                    &existing,
                    None,
                    None,
                    MAX_ANSWER,
                )
                .await?;
            if found.status != StatusCode::OK {
                return Err(KeylessError::LogRefused {
                    status: found.status.as_u16(),
                    message: found.message(),
                });
            }
            found
        }
        status => {
            return Err(KeylessError::LogRefused {
                status: status.as_u16(),
                message: answer.message(),
            });
        }
    };
    let entry = parse_entry(&answer.body, base)?;
    let logged: Value =
        serde_json::from_slice(&entry.body).map_err(|_| bad("the entry's body is not JSON"))?;
    proposal
        .check_body(&logged)
        .map_err(|what| KeylessError::LogEntryMismatch { what })?;
    Ok(entry)
}

/// Reads `{UUID: LogEntryAnon}`.
fn parse_entry(body: &[u8], base: &Url) -> Result<LogEntry, KeylessError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("the answer is not JSON"))?;
    let object = v
        .as_object()
        .ok_or_else(|| bad("the answer is not an object"))?;
    let (uuid, entry) = match object.iter().collect::<Vec<_>>().as_slice() {
        [(uuid, entry)] => ((*uuid).clone(), *entry),
        _ => return Err(bad("the answer does not hold exactly one entry")),
    };
    let int = |pointer: &str| {
        entry
            .pointer(pointer)
            .and_then(Value::as_i64)
            .ok_or_else(|| bad(format!("the entry has no integer {pointer}")))
    };
    let text = |pointer: &str| {
        entry
            .pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("the entry has no {pointer}")))
    };
    let b64 = |pointer: &str| {
        STANDARD
            .decode(text(pointer)?)
            .map_err(|_| bad(format!("{pointer} is not base64")))
    };
    let hexed = |s: &str, what: &str| hex::decode(s).map_err(|_| bad(format!("{what} is not hex")));
    let body = b64("/body")?;
    let kind: Value =
        serde_json::from_slice(&body).map_err(|_| bad("the entry's body is not JSON"))?;
    let inclusion_proof = match entry.pointer("/verification/inclusionProof") {
        None | Some(Value::Null) => None,
        Some(p) => {
            let hashes = p
                .get("hashes")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("the inclusion proof has no hashes"))?;
            if hashes.len() > MAX_PROOF_HASHES {
                return Err(bad("the inclusion proof has too many hashes"));
            }
            Some(InclusionProof {
                log_index: int("/verification/inclusionProof/logIndex")?,
                root_hash: hexed(
                    text("/verification/inclusionProof/rootHash")?,
                    "the root hash",
                )?,
                tree_size: int("/verification/inclusionProof/treeSize")?,
                hashes: hashes
                    .iter()
                    .map(|h| hexed(h.as_str().unwrap_or("?"), "a proof hash"))
                    .collect::<Result<_, _>>()?,
                checkpoint: text("/verification/inclusionProof/checkpoint")?.to_string(),
            })
        }
    };
    Ok(LogEntry {
        log_url: base.as_str().trim_end_matches('/').to_string(),
        uuid,
        log_index: int("/logIndex")?,
        log_id: hexed(text("/logID")?, "logID")?,
        integrated_time: Some(int("/integratedTime")?),
        signed_entry_timestamp: Some(b64("/verification/signedEntryTimestamp")?),
        inclusion_proof,
        kind: kind
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the entry's body has no kind"))?
            .to_string(),
        api_version: kind
            .get("apiVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the entry's body has no apiVersion"))?
            .to_string(),
        body,
    })
}

/// For the fuzz target: parses `body` as the log's answer; an entry that parses must check
/// against fixed proposals without panicking and write out in both formats, the cosign
/// annotation reading back with the same index and log ID.
pub(crate) fn fuzz_parse(body: &[u8]) -> bool {
    let Ok(base) = Url::parse("https://rekor.fuzz/") else {
        return false;
    };
    let Ok(entry) = parse_entry(body, &base) else {
        return false;
    };
    if let Ok(logged) = serde_json::from_slice::<Value>(&entry.body) {
        for proposal in fuzz_proposals() {
            let _ = proposal.check_body(&logged);
        }
    }
    let _ = entry.to_bundle_json();
    let annotation: Value =
        serde_json::from_str(&entry.to_cosign_annotation()).unwrap_or(Value::Null);
    assert_eq!(annotation["Payload"]["logIndex"], entry.log_index);
    assert_eq!(annotation["Payload"]["logID"], hex::encode(&entry.log_id));
    true
}

/// The fixed proposals the fuzz targets check parsed answers against.
pub(crate) fn fuzz_proposals() -> [Proposal; 3] {
    let pem = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
    [
        Proposal::HashedRekord {
            digest: [0; 32],
            signature: vec![1],
            certificate_pem: pem.into(),
        },
        Proposal::Dsse {
            envelope_json: "{}".into(),
            payload: vec![2],
            signature: vec![1],
            certificate_pem: pem.into(),
        },
        Proposal::Intoto {
            envelope_bytes: b"{}".to_vec(),
            payload_type: "t".into(),
            payload: vec![2],
            signature: vec![1],
            certificate_pem: pem.into(),
        },
    ]
}

/// cosign 2.x's `dev.sigstore.cosign/bundle` annotation.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CosignBundle<'a> {
    signed_entry_timestamp: String,
    payload: CosignPayload<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CosignPayload<'a> {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: &'a str,
}

impl LogEntry {
    /// The entry as a Sigstore bundle v0.3 `TransparencyLogEntry` (protobuf JSON: int64 as
    /// strings, bytes as base64); a Rekor v2 entry has no integrated time and no inclusion
    /// promise.
    pub fn to_bundle_json(&self) -> Value {
        let mut entry = json!({
            "logIndex": self.log_index.to_string(),
            "logId": {"keyId": STANDARD.encode(&self.log_id)},
            "kindVersion": {"kind": self.kind, "version": self.api_version},
            "canonicalizedBody": STANDARD.encode(&self.body),
        });
        if let Some(t) = self.integrated_time {
            entry["integratedTime"] = t.to_string().into();
        }
        if let Some(set) = &self.signed_entry_timestamp {
            entry["inclusionPromise"] = json!({"signedEntryTimestamp": STANDARD.encode(set)});
        }
        if let Some(p) = &self.inclusion_proof {
            entry["inclusionProof"] = json!({
                "logIndex": p.log_index.to_string(),
                "rootHash": STANDARD.encode(&p.root_hash),
                "treeSize": p.tree_size.to_string(),
                "hashes": p.hashes.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": p.checkpoint},
            });
        }
        entry
    }

    /// The entry as cosign 2.x's `dev.sigstore.cosign/bundle` annotation: the SET and the
    /// payload it signs, no inclusion proof. A Rekor v2 entry has neither SET nor time, so
    /// the annotation it gives verifies nowhere; the signer never writes one.
    pub fn to_cosign_annotation(&self) -> String {
        let log_id = hex::encode(&self.log_id);
        serde_json::to_string(&CosignBundle {
            signed_entry_timestamp: STANDARD
                .encode(self.signed_entry_timestamp.as_deref().unwrap_or_default()),
            payload: CosignPayload {
                body: STANDARD.encode(&self.body),
                integrated_time: self.integrated_time.unwrap_or_default(),
                log_index: self.log_index,
                log_id: &log_id,
            },
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";

    fn hashedrekord() -> Proposal {
        Proposal::HashedRekord {
            digest: [7; 32],
            signature: vec![1, 2, 3],
            certificate_pem: PEM.into(),
        }
    }

    #[test]
    fn bodies_describing_something_else_are_refused() {
        let p = hashedrekord();
        let good = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode([7u8; 32])}},
            "signature": {"content": STANDARD.encode([1, 2, 3]), "publicKey": {"content": STANDARD.encode(PEM)}},
        }});
        assert_eq!(p.check_body(&good), Ok(()));
        let mut other_sig = good.clone();
        other_sig["spec"]["signature"]["content"] = STANDARD.encode([1, 2, 4]).into();
        assert_eq!(p.check_body(&other_sig), Err("another signature".into()));
        let mut other_hash = good.clone();
        other_hash["spec"]["data"]["hash"]["value"] = hex::encode([8u8; 32]).into();
        assert_eq!(p.check_body(&other_hash), Err("another artifact".into()));
        let mut other_key = good.clone();
        other_key["spec"]["signature"]["publicKey"]["content"] = STANDARD.encode("x").into();
        assert_eq!(p.check_body(&other_key), Err("another certificate".into()));
        let mut other_kind = good;
        other_kind["kind"] = "rekord".into();
        assert_eq!(
            p.check_body(&other_kind),
            Err("another kind of entry".into())
        );
    }

    #[test]
    fn intoto_bodies_must_record_this_envelope_and_signature() {
        let p = Proposal::Intoto {
            envelope_bytes: b"{\"envelope\":1}".to_vec(),
            payload_type: "application/vnd.in-toto+json".into(),
            payload: b"{}".to_vec(),
            signature: vec![1, 2, 3],
            certificate_pem: PEM.into(),
        };
        let proposed = p.to_json();
        assert_eq!(proposed["kind"], "intoto");
        assert_eq!(proposed["apiVersion"], "0.0.2");
        // What the log keeps: the proposal without the payload.
        let mut good = proposed.clone();
        if let Some(env) = good
            .pointer_mut("/spec/content/envelope")
            .and_then(Value::as_object_mut)
        {
            env.remove("payload");
        }
        assert_eq!(p.check_body(&good), Ok(()));
        let mut other_envelope = good.clone();
        other_envelope["spec"]["content"]["hash"]["value"] = hex::encode([0u8; 32]).into();
        assert_eq!(
            p.check_body(&other_envelope),
            Err("another envelope".into())
        );
        let mut other_sig = good.clone();
        other_sig["spec"]["content"]["envelope"]["signatures"][0]["sig"] =
            STANDARD.encode(STANDARD.encode([1, 2, 4])).into();
        assert_eq!(p.check_body(&other_sig), Err("another signature".into()));
        let mut once_encoded = good.clone();
        once_encoded["spec"]["content"]["envelope"]["signatures"][0]["sig"] =
            STANDARD.encode([1, 2, 3]).into();
        assert_eq!(p.check_body(&once_encoded), Err("another signature".into()));
        let mut older = good;
        older["apiVersion"] = "0.0.1".into();
        assert_eq!(p.check_body(&older), Err("another kind of entry".into()));
    }

    #[test]
    fn entries_render_in_both_formats() {
        let base = Url::parse("http://127.0.0.1:1/").expect("url");
        let body = serde_json::to_vec(&json!({"kind": "hashedrekord", "apiVersion": "0.0.1"}))
            .expect("json");
        let answer = json!({"24296fb24b8ad77a": {
            "body": STANDARD.encode(&body),
            "integratedTime": 1_700_000_000,
            "logID": "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d",
            "logIndex": 12,
            "verification": {
                "inclusionProof": {"checkpoint": "note\n", "hashes": ["00ff"], "logIndex": 11, "rootHash": "aa", "treeSize": 13},
                "signedEntryTimestamp": STANDARD.encode([9, 9]),
            },
        }});
        let entry = parse_entry(&serde_json::to_vec(&answer).expect("json"), &base).expect("entry");
        assert_eq!(entry.kind, "hashedrekord");
        let b = entry.to_bundle_json();
        assert_eq!(b["logIndex"], "12");
        assert_eq!(b["integratedTime"], "1700000000");
        assert_eq!(b["inclusionProof"]["logIndex"], "11");
        assert_eq!(b["inclusionProof"]["hashes"][0], STANDARD.encode([0, 255]));
        assert_eq!(b["inclusionProof"]["checkpoint"]["envelope"], "note\n");
        let a: Value = serde_json::from_str(&entry.to_cosign_annotation()).expect("json");
        let mut keys: Vec<&String> = a.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["Payload", "SignedEntryTimestamp"]);
        assert_eq!(a["Payload"]["logIndex"], 12);
        assert_eq!(
            a["Payload"]["logID"],
            "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
        );
        assert!(a["Payload"].get("inclusionProof").is_none());

        for broken in [
            json!({}),
            json!({"a": {}, "b": {}}),
            json!({"a": {"body": "!"}}),
        ] {
            assert!(parse_entry(&serde_json::to_vec(&broken).expect("json"), &base).is_err());
        }
    }
}
