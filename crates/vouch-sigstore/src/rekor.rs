//! Rekor entry bodies: the logged entry must describe exactly the bundle's signature,
//! signing certificate or key, and artifact (CVE-2022-36056: a bundle must not borrow
//! another entry's proof).

use serde_json::Value;

use vouch_keys::PublicKey;

use super::b64::{self, InvalidBase64};
use super::crypto::HashAlgorithm;
use super::dsse;
use super::model::{Envelope, KindVersion};
use super::x509::CertificateError;

/// Why a log entry's body does not describe the bundle it comes with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("log entry body: {0}")]
    Json(String),
    #[error("log entry has no {0}")]
    Missing(String),
    #[error("log entry {0} is not a string")]
    NotAString(String),
    #[error("log entry {path}: {error}")]
    Base64 { path: String, error: InvalidBase64 },
    /// The logged key or certificate is not base64.
    #[error(transparent)]
    KeyBase64(#[from] InvalidBase64),
    #[error("log entry key is not PEM")]
    KeyNotPem,
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error("log entry hash algorithm {0:?} unsupported")]
    HashAlgorithm(String),
    #[error("log entry hash is not hex")]
    HashNotHex,
    #[error("log entry kind/version differs from the bundle's kindVersion")]
    KindVersion,
    #[error("log entry {0} does not match the bundle")]
    Mismatch(&'static str),
    #[error("log entry signatures is not a list")]
    SignaturesNotAList,
    #[error("log entry kind {kind} {version} is unsupported for this bundle's content")]
    Unsupported { kind: String, version: String },
    #[error("DSSE envelope must have exactly one signature")]
    NotOneSignature,
}

/// What the bundle signed.
pub(crate) enum Content<'a> {
    /// A signature over an artifact with this digest.
    Message {
        algorithm: HashAlgorithm,
        digest: &'a [u8],
        signature: &'a [u8],
    },
    /// A DSSE envelope (exactly one signature).
    Dsse(&'a Envelope),
}

/// Who signed: a certificate (DER) or a key (SPKI DER).
#[derive(Clone, Copy)]
pub(crate) enum Signer<'a> {
    Certificate(&'a [u8]),
    Key(&'a [u8]),
}

fn field<'v>(v: &'v Value, path: &[&str]) -> Result<&'v Value, BodyError> {
    let mut cur = v;
    for p in path {
        cur = cur
            .get(p)
            .ok_or_else(|| BodyError::Missing(path.join(".")))?;
    }
    Ok(cur)
}

fn text<'v>(v: &'v Value, path: &[&str]) -> Result<&'v str, BodyError> {
    field(v, path)?
        .as_str()
        .ok_or_else(|| BodyError::NotAString(path.join(".")))
}

fn bytes(v: &Value, path: &[&str]) -> Result<Vec<u8>, BodyError> {
    b64::decode(text(v, path)?).map_err(|error| BodyError::Base64 {
        path: path.join("."),
        error,
    })
}

/// PEM (base64-wrapped in the entry) naming a certificate or public key, as DER.
fn pem_matches(pem_b64: &str, signer: Signer<'_>) -> Result<bool, BodyError> {
    let pem = b64::decode(pem_b64)?;
    let pem = String::from_utf8(pem).map_err(|_| BodyError::KeyNotPem)?;
    Ok(match signer {
        Signer::Certificate(der) => {
            let certs = super::x509::pem_certificates(&pem)?;
            certs.len() == 1 && certs[0] == der
        }
        Signer::Key(spki) => PublicKey::from_pem(&pem).is_ok_and(|k| k.spki_der() == spki),
    })
}

/// A Rekor v2 `verifier` object.
fn verifier_matches(v: &Value, signer: Signer<'_>) -> Result<bool, BodyError> {
    Ok(match signer {
        Signer::Certificate(der) => {
            bytes(v, &["x509Certificate", "rawBytes"]).ok().as_deref() == Some(der)
        }
        Signer::Key(spki) => bytes(v, &["publicKey", "rawBytes"])
            .ok()
            .and_then(|k| PublicKey::from_der(&k).ok())
            .is_some_and(|k| k.spki_der() == spki),
    })
}

fn hex_hash(v: &Value, path: &[&str]) -> Result<(HashAlgorithm, Vec<u8>), BodyError> {
    let alg = text(v, &[path, &["algorithm"]].concat())?;
    let alg = match alg {
        "sha256" => HashAlgorithm::Sha256,
        "sha384" => HashAlgorithm::Sha384,
        "sha512" => HashAlgorithm::Sha512,
        other => return Err(BodyError::HashAlgorithm(other.to_string())),
    };
    let value =
        hex::decode(text(v, &[path, &["value"]].concat())?).map_err(|_| BodyError::HashNotHex)?;
    Ok((alg, value))
}

fn proto_hash(v: &Value, path: &[&str]) -> Result<(HashAlgorithm, Vec<u8>), BodyError> {
    let alg = text(v, &[path, &["algorithm"]].concat())?;
    let alg = super::crypto::hash_from_proto(alg)
        .ok_or_else(|| BodyError::HashAlgorithm(alg.to_string()))?;
    Ok((alg, bytes(v, &[path, &["digest"]].concat())?))
}

fn mismatch(what: &'static str) -> BodyError {
    BodyError::Mismatch(what)
}

/// Check that the entry body describes this bundle's content and signer.
pub(crate) fn check_body(
    body: &[u8],
    kind: &KindVersion,
    content: &Content<'_>,
    signer: Signer<'_>,
) -> Result<(), BodyError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| BodyError::Json(e.to_string()))?;
    if text(&v, &["kind"])? != kind.kind || text(&v, &["apiVersion"])? != kind.version {
        return Err(BodyError::KindVersion);
    }
    match (kind.kind.as_str(), kind.version.as_str(), content) {
        (
            "hashedrekord",
            "0.0.1",
            Content::Message {
                algorithm,
                digest,
                signature,
            },
        ) => {
            let (alg, value) = hex_hash(&v, &["spec", "data", "hash"])?;
            if alg != *algorithm || value != *digest {
                return Err(mismatch("artifact digest"));
            }
            if bytes(&v, &["spec", "signature", "content"])? != *signature {
                return Err(mismatch("signature"));
            }
            if !pem_matches(
                text(&v, &["spec", "signature", "publicKey", "content"])?,
                signer,
            )? {
                return Err(mismatch("certificate or key"));
            }
            Ok(())
        }
        ("hashedrekord", "0.0.2", content) => {
            let spec = field(&v, &["spec", "hashedRekordV002"])?;
            let (alg, value) = proto_hash(spec, &["data"])?;
            let (want_digest, want_sig): (Vec<u8>, &[u8]) = match content {
                Content::Message {
                    algorithm,
                    digest,
                    signature,
                } => {
                    if alg != *algorithm {
                        return Err(mismatch("digest algorithm"));
                    }
                    (digest.to_vec(), signature)
                }
                // Rekor v2 logs DSSE as a hashedrekord over the PAE.
                Content::Dsse(env) => (
                    alg.digest(&dsse::pae(&env.payload_type, &env.payload)),
                    single_sig(env)?,
                ),
            };
            if value != want_digest {
                return Err(mismatch("digest"));
            }
            if bytes(spec, &["signature", "content"])? != want_sig {
                return Err(mismatch("signature"));
            }
            if !verifier_matches(field(spec, &["signature", "verifier"])?, signer)? {
                return Err(mismatch("certificate or key"));
            }
            Ok(())
        }
        ("dsse", "0.0.1", Content::Dsse(env)) => {
            let (alg, value) = hex_hash(&v, &["spec", "payloadHash"])?;
            if alg.digest(&env.payload) != value {
                return Err(mismatch("payload hash"));
            }
            let sigs = field(&v, &["spec", "signatures"])?
                .as_array()
                .ok_or(BodyError::SignaturesNotAList)?;
            if sigs.len() != env.signatures.len() {
                return Err(mismatch("signature count"));
            }
            for s in sigs {
                let sig = bytes(s, &["signature"])?;
                if !env.signatures.iter().any(|e| e.sig == sig) {
                    return Err(mismatch("signature"));
                }
                if !pem_matches(text(s, &["verifier"])?, signer)? {
                    return Err(mismatch("certificate or key"));
                }
            }
            Ok(())
        }
        ("dsse", "0.0.2", Content::Dsse(env)) => {
            let spec = field(&v, &["spec", "dsseV002"])?;
            let (alg, value) = proto_hash(spec, &["payloadHash"])?;
            if alg.digest(&env.payload) != value {
                return Err(mismatch("payload hash"));
            }
            let sigs = field(spec, &["signatures"])?
                .as_array()
                .ok_or(BodyError::SignaturesNotAList)?;
            if sigs.len() != env.signatures.len() {
                return Err(mismatch("signature count"));
            }
            for s in sigs {
                let sig = bytes(s, &["content"])?;
                if !env.signatures.iter().any(|e| e.sig == sig) {
                    return Err(mismatch("signature"));
                }
                if !verifier_matches(field(s, &["verifier"])?, signer)? {
                    return Err(mismatch("certificate or key"));
                }
            }
            Ok(())
        }
        ("intoto", "0.0.2", Content::Dsse(env)) => {
            let content = field(&v, &["spec", "content"])?;
            let (alg, value) = hex_hash(content, &["payloadHash"])?;
            if alg.digest(&env.payload) != value {
                return Err(mismatch("payload hash"));
            }
            let logged = field(content, &["envelope"])?;
            if text(logged, &["payloadType"])? != env.payload_type {
                return Err(mismatch("payload type"));
            }
            let sigs = field(logged, &["signatures"])?
                .as_array()
                .ok_or(BodyError::SignaturesNotAList)?;
            if sigs.len() != env.signatures.len() {
                return Err(mismatch("signature count"));
            }
            for s in sigs {
                // intoto 0.0.2 stores each signature base64-encoded twice.
                let once = bytes(s, &["sig"])?;
                let sig = std::str::from_utf8(&once)
                    .ok()
                    .and_then(|t| b64::decode(t).ok())
                    .unwrap_or(once);
                if !env.signatures.iter().any(|e| e.sig == sig) {
                    return Err(mismatch("signature"));
                }
                if !pem_matches(text(s, &["publicKey"])?, signer)? {
                    return Err(mismatch("certificate or key"));
                }
            }
            Ok(())
        }
        (k, ver, _) => Err(BodyError::Unsupported {
            kind: k.to_string(),
            version: ver.to_string(),
        }),
    }
}

fn single_sig(env: &Envelope) -> Result<&[u8], BodyError> {
    match env.signatures.as_slice() {
        [one] => Ok(&one.sig),
        _ => Err(BodyError::NotOneSignature),
    }
}
