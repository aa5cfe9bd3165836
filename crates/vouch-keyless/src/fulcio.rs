//! Fulcio's v2 API (`POST /api/v2/signingCert`): the identity token, the ephemeral public
//! key and a proof of possession go in; a certificate chain with an embedded SCT comes out.
//! The chain is parsed with `x509-cert`, and before it is used the leaf must certify the key
//! that was sent and the token's own identity and issuer. Whether it chains to a trusted CA
//! with a valid SCT is the offline verifier's question (see [`crate::session`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::asn1::{ObjectIdentifier, Utf8StringRef};
use der::{Decode as _, Encode as _, EncodePem as _};
use reqwest::{Method, Url};
use serde_json::{Value, json};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::error::{KeylessError, Service};
use crate::key::EphemeralKey;
use crate::token::{CertificateIdentity, IdentityToken};
use crate::transport::{Body, Http, endpoint};

/// OIDC issuer, v1: the raw string.
const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// OIDC issuer, v2: a DER UTF8String.
const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's otherName for usernames.
const OTHER_NAME_USERNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// Largest answer read from Fulcio.
const MAX_ANSWER: usize = 256 * 1024;
/// Most certificates accepted in the chain (leaf included).
const MAX_CHAIN: usize = 10;

/// A certificate Fulcio issued, with the chain it returned.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The leaf, DER.
    pub leaf_der: Vec<u8>,
    /// The leaf, PEM.
    pub leaf_pem: String,
    /// The rest of the chain as Fulcio returned it (intermediates, root), PEM each.
    pub chain_pem: Vec<String>,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The SAN and OIDC issuer it names.
    pub identity: CertificateIdentity,
}

fn bad(reason: impl Into<String>) -> KeylessError {
    KeylessError::BadAnswer {
        service: Service::Fulcio,
        reason: reason.into(),
    }
}

/// The request body: token, public key and proof of possession.
fn request_body(token: &IdentityToken, key: &EphemeralKey) -> zeroize::Zeroizing<Vec<u8>> {
    let proof = STANDARD.encode(key.sign(token.challenge().as_bytes()));
    let body = json!({
        "credentials": {"oidcIdentityToken": token.secret()},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": key.public_pem()},
            "proofOfPossession": proof,
        },
    });
    zeroize::Zeroizing::new(serde_json::to_vec(&body).unwrap_or_default())
}

/// Asks Fulcio at `base` for a certificate for `key` and the token's identity, and checks
/// that the leaf certifies exactly that key, identity and issuer.
pub(crate) async fn request_certificate(
    http: &Http,
    base: &Url,
    token: &IdentityToken,
    key: &EphemeralKey,
) -> Result<IssuedCertificate, KeylessError> {
    let url = endpoint(base, "api/v2/signingCert")?;
    let body = request_body(token, key);
    let answer = http
        .send(
            Service::Fulcio,
            Method::POST,
            &url,
            None,
            Some(Body {
                content_type: "application/json",
                bytes: body.to_vec(),
            }),
            MAX_ANSWER,
        )
        .await?;
    if !answer.status.is_success() {
        return Err(KeylessError::FulcioRefused {
            status: answer.status.as_u16(),
            message: token.redact(&answer.message()),
        });
    }
    let issued = parse_answer(&answer.body)?;
    let leaf = x509_cert::Certificate::from_der(&issued.leaf_der)
        .map_err(|e| bad(format!("leaf certificate: {e}")))?;
    let spki = leaf
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| bad(format!("leaf certificate key: {e}")))?;
    if spki != key.spki_der() {
        return Err(KeylessError::CertificateKeyMismatch);
    }
    if !token.accepts(&issued.identity) {
        return Err(KeylessError::CertificateIdentityMismatch {
            expected: token.expected_identity().to_string(),
            found: issued.identity.to_string(),
        });
    }
    Ok(issued)
}

/// Reads `signedCertificateEmbeddedSct.chain.certificates` (leaf first).
fn parse_answer(body: &[u8]) -> Result<IssuedCertificate, KeylessError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("the answer is not JSON"))?;
    if v.get("signedCertificateDetachedSct").is_some() {
        return Err(bad(
            "the certificate comes with a detached SCT; only certificates with an embedded SCT are supported",
        ));
    }
    let pems = v
        .pointer("/signedCertificateEmbeddedSct/chain/certificates")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no signedCertificateEmbeddedSct.chain.certificates"))?;
    if pems.is_empty() || pems.len() > MAX_CHAIN {
        return Err(bad(format!(
            "the chain holds {} certificates (1 to {MAX_CHAIN} expected)",
            pems.len()
        )));
    }
    let mut ders = Vec::with_capacity(pems.len());
    for (i, pem) in pems.iter().enumerate() {
        let pem = pem
            .as_str()
            .ok_or_else(|| bad(format!("certificate {i} is not a string")))?;
        let (label, der) = der::pem::decode_vec(pem.as_bytes())
            .map_err(|e| bad(format!("certificate {i} is not PEM: {e}")))?;
        if label != "CERTIFICATE" {
            return Err(bad(format!("certificate {i} is a PEM {label:?}")));
        }
        x509_cert::Certificate::from_der(&der).map_err(|e| bad(format!("certificate {i}: {e}")))?;
        ders.push(der);
    }
    let leaf_der = ders.remove(0);
    let leaf = x509_cert::Certificate::from_der(&leaf_der)
        .map_err(|e| bad(format!("leaf certificate: {e}")))?;
    let validity = leaf.tbs_certificate().validity();
    let secs = |t: x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs()).map_err(|_| bad("validity out of range"))
    };
    let pem = |der: &[u8]| -> Result<String, KeylessError> {
        x509_cert::Certificate::from_der(der)
            .and_then(|c| c.to_pem(der::pem::LineEnding::LF))
            .map_err(|e| bad(format!("certificate: {e}")))
    };
    Ok(IssuedCertificate {
        leaf_pem: pem(&leaf_der)?,
        chain_pem: ders.iter().map(|d| pem(d)).collect::<Result<_, _>>()?,
        not_before: secs(validity.not_before)?,
        not_after: secs(validity.not_after)?,
        identity: identity(&leaf)?,
        leaf_der,
    })
}

/// For the fuzz target: whether `body` reads as Fulcio's answer.
pub(crate) fn fuzz_parse(body: &[u8]) -> bool {
    parse_answer(body).is_ok()
}

/// The one SAN identity (email, URI or username) and the OIDC issuer of a Fulcio leaf.
fn identity(leaf: &x509_cert::Certificate) -> Result<CertificateIdentity, KeylessError> {
    let tbs = leaf.tbs_certificate();
    let (_, SubjectAltName(names)) = tbs
        .get_extension::<SubjectAltName>()
        .map_err(|e| bad(format!("malformed subjectAltName: {e}")))?
        .ok_or_else(|| bad("the certificate has no subjectAltName"))?;
    let mut subjects = Vec::new();
    for name in names {
        match name {
            GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => {
                subjects.push(s.to_string());
            }
            GeneralName::OtherName(other) if other.type_id == OTHER_NAME_USERNAME => {
                let s = other
                    .value
                    .decode_as::<Utf8StringRef<'_>>()
                    .map_err(|e| bad(format!("malformed subjectAltName: {e}")))?;
                subjects.push(s.to_string());
            }
            _ => {}
        }
    }
    let subject = match subjects.as_slice() {
        [one] => one.clone(),
        _ => {
            return Err(bad(format!(
                "the certificate names {} identities, not one",
                subjects.len()
            )));
        }
    };
    let extension = |oid: ObjectIdentifier| {
        tbs.extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes().to_vec())
    };
    let issuer = if let Some(v2) = extension(ISSUER_V2) {
        Utf8StringRef::from_der(&v2)
            .map_err(|e| bad(format!("malformed OIDC issuer extension: {e}")))?
            .to_string()
    } else if let Some(v1) = extension(ISSUER_V1) {
        String::from_utf8(v1).map_err(|_| bad("the OIDC issuer extension is not UTF-8"))?
    } else {
        return Err(bad("the certificate has no OIDC issuer extension"));
    };
    Ok(CertificateIdentity { subject, issuer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_answers_that_are_not_a_chain() {
        for body in [
            &b"not json"[..],
            br#"{}"#,
            br#"{"signedCertificateDetachedSct": {}}"#,
            br#"{"signedCertificateEmbeddedSct": {"chain": {"certificates": []}}}"#,
            br#"{"signedCertificateEmbeddedSct": {"chain": {"certificates": [1]}}}"#,
            br#"{"signedCertificateEmbeddedSct": {"chain": {"certificates": ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]}}}"#,
        ] {
            let err = parse_answer(body).expect_err("refused");
            assert!(
                matches!(
                    err,
                    KeylessError::BadAnswer {
                        service: Service::Fulcio,
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
}
