//! Rekor v1 entry types: a proposed entry is checked (its signature verified, as Rekor
//! does) and turned into the canonicalized body Rekor stores and signs, RFC 8785 JSON with
//! the fields Rekor keeps: hashedrekord 0.0.1, dsse 0.0.1 and intoto 0.0.2.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::client_key::ClientKey;
use super::keys::pem;

/// A checked entry.
pub(crate) struct Canonical {
    /// The canonicalized body (JSON bytes).
    pub(crate) body: Vec<u8>,
    /// `sha256:<hex>` of the artifact, for the search index.
    pub(crate) artifact_hash: Option<String>,
}

/// RFC 8785 canonical JSON for the values Rekor writes (strings, integers, objects,
/// arrays): object keys sorted, no whitespace. Sorting here, rather than trusting the map
/// type, keeps the output canonical whatever serde_json features are enabled.
pub(crate) fn canonical_json(value: &Value) -> Vec<u8> {
    fn write(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                // RFC 8785 sorts by UTF-16 code units; Rekor's keys are ASCII.
                keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
                out.push(b'{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend(serde_json::to_vec(k).expect("JSON key"));
                    out.push(b':');
                    write(&map[k], out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(v, out);
                }
                out.push(b']');
            }
            other => out.extend(serde_json::to_vec(other).expect("JSON value")),
        }
    }
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

fn text<'v>(v: &'v Value, path: &str) -> Result<&'v str, String> {
    v.pointer(path)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{path} is required"))
}

fn base64_field(v: &Value, path: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(text(v, path)?)
        .map_err(|_| format!("{path} is not base64"))
}

/// A verifier given as base64 of a PEM key or certificate, canonicalized as Rekor does
/// (re-encoded PEM), with the key to check signatures.
fn verifier(b64_pem: &[u8]) -> Result<(String, ClientKey), String> {
    let (label, der) =
        der::pem::decode_vec(b64_pem).map_err(|e| format!("verifier is not PEM: {e}"))?;
    let label = label.to_string();
    let (key, _) = ClientKey::from_pem(b64_pem)?;
    Ok((pem(&label, &der), key))
}

fn hash_json(algorithm: &str, digest: &[u8]) -> Value {
    json!({"algorithm": algorithm, "value": hex::encode(digest)})
}

/// Checks and canonicalizes a proposed entry (the request body of `POST /api/v1/log/entries`).
pub(crate) fn canonicalize(proposed: &Value) -> Result<Canonical, String> {
    let kind = text(proposed, "/kind")?;
    let version = text(proposed, "/apiVersion")?;
    match (kind, version) {
        ("hashedrekord", "0.0.1") => hashedrekord(proposed),
        ("dsse", "0.0.1") => dsse(proposed),
        ("intoto", "0.0.2") => intoto(proposed),
        _ => Err(format!("unsupported entry type {kind} {version}")),
    }
}

fn hashedrekord(p: &Value) -> Result<Canonical, String> {
    let algorithm = text(p, "/spec/data/hash/algorithm")?;
    let value = text(p, "/spec/data/hash/value")?;
    let want_len = match algorithm {
        "sha256" => 32,
        "sha384" => 48,
        "sha512" => 64,
        other => return Err(format!("unsupported hash algorithm {other}")),
    };
    let digest = hex::decode(value)
        .ok()
        .filter(|d| d.len() == want_len && value.bytes().all(|b| !b.is_ascii_uppercase()))
        .ok_or("spec.data.hash.value is not a lower-case hex digest of that algorithm")?;
    let signature = base64_field(p, "/spec/signature/content")?;
    let (key_pem, key) = verifier(&base64_field(p, "/spec/signature/publicKey/content")?)?;
    key.verify_digest(&digest, &signature)
        .map_err(|e| format!("verifying signature: {e}"))?;
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": hash_json(algorithm, &digest)},
            "signature": {
                "content": STANDARD.encode(&signature),
                "publicKey": {"content": STANDARD.encode(key_pem)},
            },
        },
    });
    Ok(Canonical {
        body: canonical_json(&body),
        artifact_hash: Some(format!("{algorithm}:{value}")),
    })
}

/// DSSE's pre-authentication encoding.
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn dsse(p: &Value) -> Result<Canonical, String> {
    let envelope_text = text(p, "/spec/proposedContent/envelope")?;
    let envelope: Value =
        serde_json::from_str(envelope_text).map_err(|_| "envelope is not JSON".to_string())?;
    let payload_type = text(&envelope, "/payloadType")?;
    let payload = base64_field(&envelope, "/payload")?;
    let verifiers = p
        .pointer("/spec/proposedContent/verifiers")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty() && v.len() <= 8)
        .ok_or("spec.proposedContent.verifiers must list 1 to 8 keys")?
        .iter()
        .map(|v| {
            let b = STANDARD
                .decode(v.as_str().unwrap_or_default())
                .map_err(|_| "verifier is not base64".to_string())?;
            verifier(&b)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let signatures = envelope
        .get("signatures")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty() && s.len() <= 8)
        .ok_or("envelope must have 1 to 8 signatures")?;
    let message = pae(payload_type, &payload);
    let mut logged = Vec::new();
    for s in signatures {
        let sig_b64 = text(s, "/sig")?;
        let sig = STANDARD
            .decode(sig_b64)
            .map_err(|_| "signature is not base64".to_string())?;
        let (pem, _) = verifiers
            .iter()
            .find(|(_, k)| k.verify_message(&message, &sig).is_ok())
            .ok_or("a signature verifies under none of the verifiers")?;
        logged.push(json!({"signature": sig_b64, "verifier": STANDARD.encode(pem)}));
    }
    logged.sort_by_key(|v| v["signature"].as_str().map(str::to_string));
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": hash_json("sha256", &Sha256::digest(envelope_text.as_bytes())),
            "payloadHash": hash_json("sha256", &Sha256::digest(&payload)),
            "signatures": logged,
        },
    });
    Ok(Canonical {
        body: canonical_json(&body),
        artifact_hash: None,
    })
}

fn intoto(p: &Value) -> Result<Canonical, String> {
    let content = p
        .pointer("/spec/content")
        .ok_or("spec.content is required")?;
    let env = content
        .get("envelope")
        .ok_or("spec.content.envelope is required")?;
    let payload_type = text(env, "/payloadType")?;
    // intoto 0.0.2 carries the envelope's payload and signatures (base64 text already)
    // base64-encoded once more.
    let payload_b64 = String::from_utf8(base64_field(env, "/payload")?)
        .map_err(|_| "payload is not base64 text".to_string())?;
    let payload = STANDARD
        .decode(&payload_b64)
        .map_err(|_| "payload is not base64".to_string())?;
    // The envelope hash is the client's: the server cannot recompute it (Rekor says so).
    let algorithm = text(content, "/hash/algorithm")?;
    let value = text(content, "/hash/value")?;
    if algorithm != "sha256" || value.len() != 64 || hex::decode(value).is_err() {
        return Err("spec.content.hash must be a sha256 hex digest".into());
    }
    let message = pae(payload_type, &payload);
    let signatures = env
        .get("signatures")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty() && s.len() <= 8)
        .ok_or("envelope must have 1 to 8 signatures")?;
    let mut logged = Vec::new();
    for s in signatures {
        let sig_b64 = String::from_utf8(base64_field(s, "/sig")?)
            .map_err(|_| "sig is not base64 text".to_string())?;
        let sig = STANDARD
            .decode(&sig_b64)
            .map_err(|_| "sig is not base64".to_string())?;
        let (_, key) = verifier(&base64_field(s, "/publicKey")?)?;
        key.verify_message(&message, &sig)
            .map_err(|e| format!("verifying signature: {e}"))?;
        // Kept as the client sent them.
        let mut entry = json!({"sig": text(s, "/sig")?, "publicKey": text(s, "/publicKey")?});
        if let Some(k) = s
            .get("keyid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
        {
            entry["keyid"] = k.into();
        }
        logged.push(entry);
    }
    let body = json!({
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {"content": {
            "envelope": {"payloadType": payload_type, "signatures": logged},
            "hash": {"algorithm": algorithm, "value": value},
            "payloadHash": hash_json("sha256", &Sha256::digest(&payload)),
        }},
    });
    Ok(Canonical {
        body: canonical_json(&body),
        artifact_hash: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let v = json!({"b": 1, "a": {"d": [1, "x\n"], "c": true}});
        assert_eq!(
            canonical_json(&v),
            br#"{"a":{"c":true,"d":[1,"x\n"]},"b":1}"#.to_vec()
        );
    }
}
