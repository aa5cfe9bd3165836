//! DSSE (pre-authentication encoding) and in-toto statements.
//! vouch's own: PAE is one line of the DSSE spec; a crate for it would be larger than the code.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The in-toto payload type.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

const STATEMENT_TYPES: [&str; 2] = [
    "https://in-toto.io/Statement/v0.1",
    "https://in-toto.io/Statement/v1",
];

/// `PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body`.
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

/// One subject of an in-toto statement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Subject {
    /// The subject's name (may be empty: cosign v3 image signatures have none).
    #[serde(default)]
    pub name: String,
    /// Algorithm (`sha256`, `sha512`, …) to lower-case hex digest.
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
    /// The subject's annotations (cosign v3 puts `sign -a KEY=VALUE` here).
    #[serde(default)]
    pub annotations: BTreeMap<String, serde_json::Value>,
}

/// The parts of an in-toto statement a verifier acts on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Statement {
    /// `https://in-toto.io/Statement/v1` or `…/v0.1`.
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// e.g. `https://slsa.dev/provenance/v1` or `https://sigstore.dev/cosign/sign/v1`.
    #[serde(rename = "predicateType", default)]
    pub predicate_type: String,
}

/// Why a DSSE payload is not an in-toto statement vouch reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StatementError {
    #[error("not an in-toto statement: {0}")]
    NotAStatement(String),
    #[error("unknown statement type {0:?}")]
    UnknownType(String),
    #[error("statement has no subject")]
    NoSubject,
}

/// Parse an in-toto statement payload.
pub(crate) fn parse_statement(payload: &[u8]) -> Result<Statement, StatementError> {
    let s: Statement = serde_json::from_slice(payload)
        .map_err(|e| StatementError::NotAStatement(e.to_string()))?;
    if !STATEMENT_TYPES.contains(&s.statement_type.as_str()) {
        return Err(StatementError::UnknownType(s.statement_type));
    }
    if s.subject.is_empty() {
        return Err(StatementError::NoSubject);
    }
    Ok(s)
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
}
