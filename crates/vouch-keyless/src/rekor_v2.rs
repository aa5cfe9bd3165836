//! Rekor v2 (a tile-backed log): proposing `hashedrekord` 0.0.2 entries (`POST
//! /api/v2/log/entries` with a `hashedRekordRequestV002`) and `dsse` 0.0.2 entries (a
//! `dsseRequestV002`), and reading the log's answer, a Sigstore `TransparencyLogEntry` in
//! protobuf JSON: index, log ID, kind and version, canonicalized body, and an inclusion
//! proof with a checkpoint (a signed note). There is no integrated time and no signed entry
//! timestamp: a Rekor v2 entry proves inclusion, not time, so a keyless signature logged
//! here needs an RFC 3161 timestamp.
//!
//! As for Rekor v1 ([`crate::rekor`]), the answer is checked here only for what needs no key:
//! the logged body describes exactly the signature, certificate and digest that were sent.
//! The inclusion proof and the checkpoint's signature are the offline verifier's to check.
//!
//! A repeated entry (the same signature logged twice in one run) is answered with 409 and
//! the index only; its proof would have to be computed from the log's tiles, which this
//! writer does not read, so it is refused with a message saying so.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::error::{KeylessError, Service};
use crate::rekor::{
    InclusionProof, LogEntry, MAX_ANSWER, MAX_PROOF_HASHES, Proposal, bad, certificate_der,
};
use crate::transport::{Body, Http, endpoint};

/// The ephemeral key's algorithm, as the log's `keyDetails` names it.
const KEY_DETAILS: &str = "PKIX_ECDSA_P256_SHA_256";
/// The log's name for SHA-256 (protobuf `HashAlgorithm`).
const SHA2_256: &str = "SHA2_256";
/// The entry version Rekor v2 writes.
const API_VERSION: &str = "0.0.2";

/// Why `.sig` layers are not written with a Rekor v2 log.
pub const SIG_FORMAT_NEEDS_REKOR_V1: &str = "cosign 2.x's .sig and .att formats carry the log's signed entry timestamp, which a Rekor v2 log does not give; use --format bundle, or log to Rekor v1 (--rekor-version 1, or --rekor-url with a v1 log)";

/// The certificate as a Rekor v2 `Verifier`.
fn verifier(certificate_der: &[u8]) -> Value {
    json!({
        "x509Certificate": {"rawBytes": STANDARD.encode(certificate_der)},
        "keyDetails": KEY_DETAILS,
    })
}

fn der_of(certificate_pem: &str) -> Result<Vec<u8>, KeylessError> {
    certificate_der(certificate_pem.as_bytes()).ok_or_else(|| KeylessError::Config {
        reason: "the signing certificate is not PEM".into(),
    })
}

impl Proposal {
    /// The `CreateEntryRequest` body.
    fn to_v2_json(&self) -> Result<Value, KeylessError> {
        Ok(match self {
            Proposal::HashedRekord {
                digest,
                signature,
                certificate_pem,
            } => json!({"hashedRekordRequestV002": {
                "digest": STANDARD.encode(digest),
                "signature": {
                    "content": STANDARD.encode(signature),
                    "verifier": verifier(&der_of(certificate_pem)?),
                },
            }}),
            Proposal::Dsse {
                envelope_json,
                certificate_pem,
                ..
            } => {
                let envelope: Value = serde_json::from_str(envelope_json)
                    .map_err(|_| bad("the DSSE envelope to log is not JSON"))?;
                json!({"dsseRequestV002": {
                    "envelope": envelope,
                    "verifiers": [verifier(&der_of(certificate_pem)?)],
                }})
            }
            // Only `.att` layers log intoto entries, and they need a Rekor v1 log.
            Proposal::Intoto { .. } => {
                return Err(KeylessError::Config {
                    reason: SIG_FORMAT_NEEDS_REKOR_V1.into(),
                });
            }
        })
    }

    /// Whether the canonicalized body the log returned (an `Entry`: kind, apiVersion, and
    /// `spec.hashedRekordV002` or `spec.dsseV002`) describes this proposal.
    fn check_v2_body(&self, body: &Value) -> Result<(), String> {
        let text = |v: &Value, pointer: &str| -> Result<String, String> {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("an entry without {pointer}"))
        };
        let decoded = |v: &Value, pointer: &str| -> Result<Vec<u8>, String> {
            STANDARD
                .decode(text(v, pointer)?)
                .map_err(|_| format!("an entry whose {pointer} is not base64"))
        };
        if text(body, "/kind")? != self.kind().0 || text(body, "/apiVersion")? != API_VERSION {
            return Err("another kind of entry".into());
        }
        // One logged signature with its verifier: this signature, this certificate.
        let same_signature = |logged: &Value, signature: &[u8], pem: &str| {
            if decoded(logged, "/content")? != signature {
                return Err("another signature".to_string());
            }
            let ours = certificate_der(pem.as_bytes());
            if ours.is_none() || decoded(logged, "/verifier/x509Certificate/rawBytes").ok() != ours
            {
                return Err("another certificate".into());
            }
            Ok(())
        };
        match self {
            Proposal::HashedRekord {
                digest,
                signature,
                certificate_pem,
            } => {
                let spec = body
                    .pointer("/spec/hashedRekordV002")
                    .ok_or("an entry without /spec/hashedRekordV002")?;
                if text(spec, "/data/algorithm")? != SHA2_256
                    || decoded(spec, "/data/digest")? != digest
                {
                    return Err("another artifact".into());
                }
                same_signature(
                    spec.get("signature").unwrap_or(&Value::Null),
                    signature,
                    certificate_pem,
                )
            }
            Proposal::Dsse {
                payload,
                signature,
                certificate_pem,
                ..
            } => {
                let spec = body
                    .pointer("/spec/dsseV002")
                    .ok_or("an entry without /spec/dsseV002")?;
                if text(spec, "/payloadHash/algorithm")? != SHA2_256
                    || decoded(spec, "/payloadHash/digest")? != Sha256::digest(payload).as_slice()
                {
                    return Err("another payload".into());
                }
                let signatures = spec
                    .get("signatures")
                    .and_then(Value::as_array)
                    .ok_or("an entry without signatures")?;
                let [logged] = signatures.as_slice() else {
                    return Err("another number of signatures".into());
                };
                same_signature(logged, signature, certificate_pem)
            }
            Proposal::Intoto { .. } => Err("a Rekor v2 log has no intoto entries".into()),
        }
    }
}

/// Logs `proposal` in the Rekor v2 log at `base` and returns the entry, checked against
/// what was sent.
pub(crate) async fn create_entry(
    http: &Http,
    base: &Url,
    proposal: &Proposal,
) -> Result<LogEntry, KeylessError> {
    let url = endpoint(base, "api/v2/log/entries")?;
    let body = serde_json::to_vec(&proposal.to_v2_json()?).unwrap_or_default();
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
    if answer.status == StatusCode::CONFLICT {
        return Err(KeylessError::LogRefused {
            status: answer.status.as_u16(),
            message: format!(
                "{}; a Rekor v2 log answers a repeated entry without its inclusion proof, so it cannot be stored: sign it in a new run (a new key makes a new entry)",
                answer.message()
            ),
        });
    }
    if !matches!(answer.status, StatusCode::OK | StatusCode::CREATED) {
        return Err(KeylessError::LogRefused {
            status: answer.status.as_u16(),
            message: answer.message(),
        });
    }
    let entry = parse_entry(&answer.body, base)?;
    let logged: Value =
        serde_json::from_slice(&entry.body).map_err(|_| bad("the entry's body is not JSON"))?;
    proposal
        .check_v2_body(&logged)
        .map_err(|what| KeylessError::LogEntryMismatch { what })?;
    Ok(entry)
}

/// An int64 in protobuf JSON: a string of digits (or, leniently, a number); absent is 0.
fn int64(v: &Value, pointer: &str) -> Result<i64, KeylessError> {
    match v.pointer(pointer) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| bad(format!("{pointer} is not an integer"))),
        Some(n) => n
            .as_i64()
            .ok_or_else(|| bad(format!("{pointer} is not an integer"))),
    }
}

/// Reads a `TransparencyLogEntry`. The inclusion proof is required: it is all a Rekor v2
/// entry proves.
fn parse_entry(body: &[u8], base: &Url) -> Result<LogEntry, KeylessError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("the answer is not JSON"))?;
    let text = |pointer: &str| {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("the entry has no {pointer}")))
    };
    let b64 = |value: &str, what: &str| {
        STANDARD
            .decode(value)
            .map_err(|_| bad(format!("{what} is not base64")))
    };
    let canonical = b64(text("/canonicalizedBody")?, "the canonicalized body")?;
    let logged: Value =
        serde_json::from_slice(&canonical).map_err(|_| bad("the entry's body is not JSON"))?;
    let kind = text("/kindVersion/kind")?.to_string();
    let api_version = text("/kindVersion/version")?.to_string();
    if logged.get("kind").and_then(Value::as_str) != Some(kind.as_str())
        || logged.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str())
    {
        return Err(bad("the entry's kindVersion differs from its body"));
    }
    let log_index = int64(&v, "/logIndex")?;
    let proof = v
        .get("inclusionProof")
        .filter(|p| !p.is_null())
        .ok_or_else(|| bad("the entry came without an inclusion proof"))?;
    let hashes = proof
        .get("hashes")
        .map(|h| {
            h.as_array()
                .ok_or_else(|| bad("the proof's hashes are not a list"))
        })
        .transpose()?
        .map(Vec::as_slice)
        .unwrap_or_default();
    if hashes.len() > MAX_PROOF_HASHES {
        return Err(bad("the inclusion proof has too many hashes"));
    }
    let inclusion_proof = InclusionProof {
        log_index: int64(proof, "/logIndex")?,
        root_hash: b64(
            proof
                .pointer("/rootHash")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("the inclusion proof has no root hash"))?,
            "the root hash",
        )?,
        tree_size: int64(proof, "/treeSize")?,
        hashes: hashes
            .iter()
            .map(|h| b64(h.as_str().unwrap_or("?"), "a proof hash"))
            .collect::<Result<_, _>>()?,
        checkpoint: proof
            .pointer("/checkpoint/envelope")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the inclusion proof has no checkpoint"))?
            .to_string(),
    };
    if inclusion_proof.log_index != log_index {
        return Err(bad(
            "the inclusion proof is for another index than the entry",
        ));
    }
    Ok(LogEntry {
        log_url: base.as_str().trim_end_matches('/').to_string(),
        uuid: String::new(),
        log_index,
        log_id: b64(text("/logId/keyId")?, "the log ID")?,
        // Whatever time or promise a v2 answer might carry is not signed: dropped.
        integrated_time: None,
        signed_entry_timestamp: None,
        inclusion_proof: Some(inclusion_proof),
        body: canonical,
        kind,
        api_version,
    })
}

/// For the fuzz target: parses `body` as a Rekor v2 answer; an entry that parses must
/// check against fixed proposals without panicking and write out as a bundle entry with no
/// time and no promise.
pub(crate) fn fuzz_parse(body: &[u8]) -> bool {
    let Ok(base) = Url::parse("https://rekor-v2.fuzz/") else {
        return false;
    };
    let Ok(entry) = parse_entry(body, &base) else {
        return false;
    };
    if let Ok(logged) = serde_json::from_slice::<Value>(&entry.body) {
        for proposal in crate::rekor::fuzz_proposals() {
            let _ = proposal.check_v2_body(&logged);
        }
    }
    let bundle = entry.to_bundle_json();
    assert!(bundle.get("integratedTime").is_none());
    assert!(bundle.get("inclusionPromise").is_none());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real certificate's shape is not needed: the body check compares DER bytes.
    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
    const DER: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x01];

    fn hashedrekord() -> Proposal {
        Proposal::HashedRekord {
            digest: [7; 32],
            signature: vec![1, 2, 3],
            certificate_pem: PEM.into(),
        }
    }

    fn logged_hashedrekord() -> Value {
        json!({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
            "data": {"algorithm": "SHA2_256", "digest": STANDARD.encode([7u8; 32])},
            "signature": {
                "content": STANDARD.encode([1, 2, 3]),
                "verifier": {"keyDetails": KEY_DETAILS, "x509Certificate": {"rawBytes": STANDARD.encode(DER)}},
            },
        }}})
    }

    #[test]
    fn requests_are_the_v2_api_shapes() {
        let r = hashedrekord().to_v2_json().expect("request");
        let h = &r["hashedRekordRequestV002"];
        assert_eq!(h["digest"], STANDARD.encode([7u8; 32]));
        assert_eq!(h["signature"]["content"], STANDARD.encode([1, 2, 3]));
        assert_eq!(
            h["signature"]["verifier"]["x509Certificate"]["rawBytes"],
            STANDARD.encode(DER)
        );
        assert_eq!(h["signature"]["verifier"]["keyDetails"], KEY_DETAILS);
        let d = Proposal::Dsse {
            envelope_json:
                r#"{"payload":"cA==","payloadType":"t","signatures":[{"keyid":"","sig":"AQID"}]}"#
                    .into(),
            payload: b"p".to_vec(),
            signature: vec![1, 2, 3],
            certificate_pem: PEM.into(),
        }
        .to_v2_json()
        .expect("request");
        assert_eq!(d["dsseRequestV002"]["envelope"]["payloadType"], "t");
        assert_eq!(
            d["dsseRequestV002"]["verifiers"][0]["x509Certificate"]["rawBytes"],
            STANDARD.encode(DER)
        );
    }

    #[test]
    fn bodies_describing_something_else_are_refused() {
        let p = hashedrekord();
        let good = logged_hashedrekord();
        assert_eq!(p.check_v2_body(&good), Ok(()));
        let spec = "/spec/hashedRekordV002";
        for (pointer, value, why) in [
            (
                "/signature/content",
                STANDARD.encode([1, 2, 4]),
                "another signature",
            ),
            (
                "/data/digest",
                STANDARD.encode([8u8; 32]),
                "another artifact",
            ),
            ("/data/algorithm", "SHA2_384".into(), "another artifact"),
            (
                "/signature/verifier/x509Certificate/rawBytes",
                STANDARD.encode([0x30, 0x00]),
                "another certificate",
            ),
        ] {
            let mut other = good.clone();
            *other
                .pointer_mut(&format!("{spec}{pointer}"))
                .expect("field") = value.into();
            assert_eq!(p.check_v2_body(&other), Err(why.into()), "{pointer}");
        }
        let mut v1 = good.clone();
        v1["apiVersion"] = "0.0.1".into();
        assert_eq!(p.check_v2_body(&v1), Err("another kind of entry".into()));
    }

    fn answer(body: &Value) -> Value {
        json!({
            "logIndex": "5",
            "logId": {"keyId": STANDARD.encode([9u8; 32])},
            "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
            "inclusionProof": {
                "logIndex": "5",
                "rootHash": STANDARD.encode([1u8; 32]),
                "treeSize": "6",
                "hashes": [STANDARD.encode([2u8; 32])],
                "checkpoint": {"envelope": "log\n6\nAQ==\n\n\u{2014} log AAAAAAE=\n"},
            },
            "canonicalizedBody": STANDARD.encode(serde_json::to_vec(body).expect("json")),
        })
    }

    #[test]
    fn answers_become_entries_without_time_or_promise() {
        let base = Url::parse("http://127.0.0.1:1/").expect("url");
        let a = answer(&logged_hashedrekord());
        let entry =
            parse_entry(&serde_json::to_vec(&a).expect("json"), &base).expect("entry parses");
        assert_eq!(entry.log_index, 5);
        assert_eq!(entry.log_id, [9u8; 32]);
        assert_eq!(entry.integrated_time, None);
        assert_eq!(entry.signed_entry_timestamp, None);
        let b = entry.to_bundle_json();
        assert_eq!(b["logIndex"], "5");
        assert_eq!(b["kindVersion"]["version"], "0.0.2");
        assert!(b.get("integratedTime").is_none());
        assert!(b.get("inclusionPromise").is_none());
        assert_eq!(b["inclusionProof"]["treeSize"], "6");
        assert_eq!(
            b["inclusionProof"]["checkpoint"]["envelope"],
            a["inclusionProof"]["checkpoint"]["envelope"]
        );

        let mut no_proof = a.clone();
        no_proof
            .as_object_mut()
            .expect("object")
            .remove("inclusionProof");
        let mut other_index = a.clone();
        other_index["inclusionProof"]["logIndex"] = "4".into();
        let mut other_kind = a.clone();
        other_kind["kindVersion"]["kind"] = "dsse".into();
        let mut no_checkpoint = a;
        no_checkpoint["inclusionProof"]
            .as_object_mut()
            .expect("proof")
            .remove("checkpoint");
        for broken in [no_proof, other_index, other_kind, no_checkpoint, json!([])] {
            assert!(
                parse_entry(&serde_json::to_vec(&broken).expect("json"), &base).is_err(),
                "{broken}"
            );
        }
    }
}
