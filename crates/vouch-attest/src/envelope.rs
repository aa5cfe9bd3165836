//! DSSE envelopes: read strictly and bounded, signatures checked over the pre-authentication
//! encoding (never over the bare payload), and written in cosign's shape.
//! PAE is written here: it is one line of the DSSE spec, smaller than any crate for it.

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use vouch_keys::{PrivateKey, PublicKey};

use crate::strict_json;

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The media type of a `.att` layer holding an envelope.
pub const DSSE_LAYER_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// Most bytes of an envelope (base64 makes the statement a third larger).
pub const MAX_ENVELOPE_BYTES: usize = crate::statement::MAX_STATEMENT_BYTES / 3 * 4 + 64 * 1024;
/// Most signatures in one envelope.
pub const MAX_SIGNATURES: usize = 16;

/// A DSSE envelope as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `payloadType`.
    pub payload_type: String,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The decoded signatures, with their optional `keyid`.
    pub signatures: Vec<(String, Vec<u8>)>,
}

/// Why bytes are not an envelope vouch reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Larger than [`MAX_ENVELOPE_BYTES`].
    #[error("the DSSE envelope is {0} bytes, more than the {MAX_ENVELOPE_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not the envelope's shape.
    #[error("not a DSSE envelope: {0}")]
    Malformed(String),
    /// `payloadType` is not in-toto.
    #[error("payloadType {0:?} is not {IN_TOTO_PAYLOAD_TYPE:?}")]
    NotInToto(String),
}

fn malformed(what: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Malformed(what.into())
}

fn b64(field: &str, v: Option<Value>) -> Result<Vec<u8>, EnvelopeError> {
    let Some(Value::String(text)) = v else {
        return Err(malformed(format!("{field} is missing or not a string")));
    };
    base64::engine::general_purpose::STANDARD
        .decode(text.trim_end_matches('\n'))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&text))
        .map_err(|e| malformed(format!("{field} is not base64: {e}")))
}

/// Reads an envelope whose payload must be an in-toto statement.
pub fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(EnvelopeError::TooLarge(bytes.len()));
    }
    let Value::Object(mut doc) = strict_json::parse(bytes).map_err(malformed)? else {
        return Err(malformed("the envelope is not a JSON object"));
    };
    let payload_type = match doc.remove("payloadType") {
        Some(Value::String(s)) => s,
        _ => return Err(malformed("payloadType is missing or not a string")),
    };
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(EnvelopeError::NotInToto(payload_type));
    }
    let payload = b64("payload", doc.remove("payload"))?;
    let Some(Value::Array(list)) = doc.remove("signatures") else {
        return Err(malformed("signatures is missing or not a list"));
    };
    if list.is_empty() || list.len() > MAX_SIGNATURES {
        return Err(malformed(format!(
            "{} signatures (expected 1 to {MAX_SIGNATURES})",
            list.len()
        )));
    }
    let mut signatures = Vec::with_capacity(list.len());
    for entry in list {
        let Value::Object(mut entry) = entry else {
            return Err(malformed("a signature is not an object"));
        };
        let keyid = match entry.remove("keyid") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(k)) => k,
            Some(_) => return Err(malformed("a keyid is not a string")),
        };
        signatures.push((keyid, b64("sig", entry.remove("sig"))?));
    }
    Ok(Envelope {
        payload_type,
        payload,
        signatures,
    })
}

/// `PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
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

impl Envelope {
    /// True when one of the envelope's signatures verifies under `key` over the PAE.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        let message = pae(&self.payload_type, &self.payload);
        self.signatures
            .iter()
            .any(|(_, sig)| key.verify(&message, sig).is_ok())
    }
}

#[derive(Serialize)]
struct WireSignature<'a> {
    keyid: &'a str,
    sig: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    payload_type: &'a str,
    payload: String,
    signatures: [WireSignature<'a>; 1],
}

/// `statement` signed with `key` into an envelope, in cosign's field order and with its
/// empty `keyid`, so cosign reads it as its own.
pub fn sign(key: &PrivateKey, statement: &[u8]) -> Vec<u8> {
    let sig = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, statement));
    let engine = base64::engine::general_purpose::STANDARD;
    let wire = Wire {
        payload_type: IN_TOTO_PAYLOAD_TYPE,
        payload: engine.encode(statement),
        signatures: [WireSignature {
            keyid: "",
            sig: engine.encode(sig),
        }],
    };
    // Strings only: serializing cannot fail.
    serde_json::to_vec(&wire).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn a_payload_type_other_than_in_toto_is_refused() {
        let bytes =
            br#"{"payloadType":"text/plain","payload":"aGk=","signatures":[{"sig":"aGk="}]}"#;
        assert_eq!(
            parse(bytes),
            Err(EnvelopeError::NotInToto("text/plain".into()))
        );
    }

    #[test]
    fn duplicate_envelope_keys_are_refused() {
        let bytes = br#"{"payloadType":"application/vnd.in-toto+json","payload":"aGk=","payload":"aG8=","signatures":[{"sig":"aGk="}]}"#;
        assert!(
            matches!(parse(bytes), Err(EnvelopeError::Malformed(m)) if m.contains("duplicate"))
        );
    }

    #[test]
    fn an_envelope_without_signatures_is_refused() {
        let bytes =
            br#"{"payloadType":"application/vnd.in-toto+json","payload":"aGk=","signatures":[]}"#;
        assert!(parse(bytes).is_err());
    }
}
