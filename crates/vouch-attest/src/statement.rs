//! In-toto statements (v0.1 and v1): read strictly and bounded, asked whether they are about
//! an image digest, and dated by the field their predicate type attests.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use vouch_oci::reference::Digest;

use crate::predicate;
use crate::strict_json;

/// in-toto Statement v0.1 (what cosign 2.x writes).
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// in-toto Statement v1 (what vouch writes).
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// Most bytes of a statement (an SBOM of a large image runs to megabytes).
pub const MAX_STATEMENT_BYTES: usize = 8 * 1024 * 1024;
/// Most subjects of one statement.
pub const MAX_SUBJECTS: usize = 1024;

/// One subject: a name and its digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// The subject's name (cosign: the repository).
    pub name: String,
    /// Algorithm → lower-case hex.
    pub digest: BTreeMap<String, String>,
}

/// A statement as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// `_type`.
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What it is about.
    pub subject: Vec<Subject>,
    /// The predicate type URI, exactly as written.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate (`null` when absent).
    pub predicate: Value,
}

/// Why a payload is not a statement vouch reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Larger than [`MAX_STATEMENT_BYTES`].
    #[error("the statement is {0} bytes, more than the {MAX_STATEMENT_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not JSON, a duplicate key, or not the statement's shape.
    #[error("not an in-toto statement: {0}")]
    Malformed(String),
    /// `_type` is neither v0.1 nor v1.
    #[error("unknown statement _type {0:?} (expected {STATEMENT_V01:?} or {STATEMENT_V1:?})")]
    UnknownType(String),
}

fn malformed(what: impl Into<String>) -> StatementError {
    StatementError::Malformed(what.into())
}

/// Reads a statement: bounded, no duplicate key at any depth, a known `_type`, one to
/// [`MAX_SUBJECTS`] subjects each with a digest, a string `predicateType`.
pub fn parse(payload: &[u8]) -> Result<Statement, StatementError> {
    if payload.len() > MAX_STATEMENT_BYTES {
        return Err(StatementError::TooLarge(payload.len()));
    }
    let value = strict_json::parse(payload).map_err(malformed)?;
    let Value::Object(mut doc) = value else {
        return Err(malformed("the statement is not a JSON object"));
    };
    let statement_type = match doc.remove("_type") {
        Some(Value::String(s)) => s,
        _ => return Err(malformed("_type is missing or not a string")),
    };
    if statement_type != STATEMENT_V01 && statement_type != STATEMENT_V1 {
        return Err(StatementError::UnknownType(statement_type));
    }
    let predicate_type = match doc.remove("predicateType") {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => return Err(malformed("predicateType is missing or not a string")),
    };
    let subjects = match doc.remove("subject") {
        Some(Value::Array(a)) => a,
        _ => return Err(malformed("subject is missing or not a list")),
    };
    if subjects.is_empty() {
        return Err(malformed("the statement has no subject"));
    }
    if subjects.len() > MAX_SUBJECTS {
        return Err(malformed(format!(
            "{} subjects, more than the limit of {MAX_SUBJECTS}",
            subjects.len()
        )));
    }
    let subject = subjects
        .into_iter()
        .map(read_subject)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Statement {
        statement_type,
        subject,
        predicate_type,
        predicate: doc.remove("predicate").unwrap_or(Value::Null),
    })
}

fn read_subject(v: Value) -> Result<Subject, StatementError> {
    let Value::Object(mut s) = v else {
        return Err(malformed("a subject is not an object"));
    };
    let name = match s.remove("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(n)) => n,
        Some(_) => return Err(malformed("a subject's name is not a string")),
    };
    let Some(Value::Object(digests)) = s.remove("digest") else {
        return Err(malformed("a subject has no digest object"));
    };
    let digest = digests
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(hex) => Ok((k, hex)),
            _ => Err(malformed(format!("subject digest {k:?} is not a string"))),
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    if digest.is_empty() {
        return Err(malformed("a subject's digest is empty"));
    }
    Ok(Subject { name, digest })
}

/// What a statement must be about: an image manifest's digest, or a file's (an npm package's
/// provenance names it by sha512).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactDigest {
    /// `sha256`, `sha512`, … as in-toto subjects spell it.
    pub algorithm: String,
    /// Lower-case hex.
    pub hex: String,
}

impl ArtifactDigest {
    /// Reads `sha256:<64 hex>` or `sha512:<128 hex>`.
    pub fn parse(text: &str) -> Option<ArtifactDigest> {
        let (algorithm, hex) = text.split_once(':')?;
        let len = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => return None,
        };
        let valid = hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| ArtifactDigest {
            algorithm: algorithm.into(),
            hex: hex.into(),
        })
    }
}

impl From<&Digest> for ArtifactDigest {
    fn from(d: &Digest) -> ArtifactDigest {
        ArtifactDigest {
            algorithm: "sha256".into(),
            hex: d.hex().into(),
        }
    }
}

impl std::fmt::Display for ArtifactDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl Statement {
    /// True when a subject names exactly this digest. A subject that lists a sha256 naming
    /// another image never counts, even beside one that matches in another algorithm.
    pub fn is_about(&self, digest: &Digest) -> bool {
        self.is_about_artifact(&ArtifactDigest::from(digest))
    }

    /// True when a subject names `artifact` under its algorithm.
    pub fn is_about_artifact(&self, artifact: &ArtifactDigest) -> bool {
        self.subject
            .iter()
            .any(|s| s.digest.get(&artifact.algorithm) == Some(&artifact.hex))
    }

    /// The time the statement attests for itself (seconds since the epoch), for predicate
    /// types that have one: `None` for types without such a field (and for provenance that
    /// leaves its optional finish time out), `Some(Err)` when a required field is missing or
    /// the field is not an RFC 3339 time.
    pub fn attested_time(&self) -> Option<Result<i64, String>> {
        let (path, presence) = predicate::time_field(&self.predicate_type)?;
        let mut at = &self.predicate;
        for part in path {
            at = match at.get(part) {
                Some(v) => v,
                None if presence == predicate::TimePresence::Optional => return None,
                None => {
                    return Some(Err(format!(
                        "the predicate has no {} field",
                        path.join(".")
                    )));
                }
            };
        }
        let Some(text) = at.as_str() else {
            return Some(Err(format!("{} is not a string", path.join("."))));
        };
        Some(
            vouch_time::parse_rfc3339(text)
                .map(|d| d.as_secs())
                .map_err(|e| format!("{} {text:?}: {e}", path.join("."))),
        )
    }
}

/// A v1 statement about one image, with `predicate`, as vouch writes it.
pub fn build(
    repository: &str,
    digest: &Digest,
    predicate_type: &str,
    predicate: &Value,
) -> Vec<u8> {
    let statement = serde_json::json!({
        "_type": STATEMENT_V1,
        "subject": [{"name": repository, "digest": {"sha256": digest.hex()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    // A tree of JSON values always serializes.
    serde_json::to_vec(&statement).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .expect("digest")
    }

    fn statement(sha: &str, ptype: &str, predicate: &str) -> Vec<u8> {
        format!(
            r#"{{"_type":"{STATEMENT_V01}","subject":[{{"name":"r","digest":{{"sha256":"{sha}"}}}}],"predicateType":"{ptype}","predicate":{predicate}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_statement_about_another_digest_is_not_about_this_one() {
        let s = parse(&statement(&"a".repeat(64), predicate::VULN, "{}")).expect("parse");
        assert!(s.is_about(&digest('a')));
        assert!(!s.is_about(&digest('b')));
    }

    #[test]
    fn vuln_is_dated_by_scan_finished_on() {
        let s = parse(&statement(
            &"a".repeat(64),
            predicate::VULN,
            r#"{"metadata":{"scanFinishedOn":"2026-01-02T03:04:05Z"}}"#,
        ))
        .expect("parse");
        assert_eq!(s.attested_time(), Some(Ok(1_767_323_045)));
        let undated = parse(&statement(&"a".repeat(64), predicate::VULN, "{}")).expect("parse");
        assert!(matches!(undated.attested_time(), Some(Err(e)) if e.contains("scanFinishedOn")));
        let custom = parse(&statement(&"a".repeat(64), predicate::CUSTOM, "{}")).expect("parse");
        assert_eq!(custom.attested_time(), None);
    }

    #[test]
    fn an_unknown_statement_type_is_refused() {
        let bytes = br#"{"_type":"https://in-toto.io/Statement/v9","subject":[{"digest":{"sha256":"aa"}}],"predicateType":"x:y"}"#;
        assert!(matches!(parse(bytes), Err(StatementError::UnknownType(_))));
    }

    #[test]
    fn a_duplicate_predicate_type_is_refused() {
        let bytes = format!(
            r#"{{"_type":"{STATEMENT_V1}","subject":[{{"digest":{{"sha256":"aa"}}}}],"predicateType":"x:y","predicateType":"x:z"}}"#
        );
        let e = parse(bytes.as_bytes()).expect_err("duplicate");
        assert!(e.to_string().contains("duplicate key"), "{e}");
    }

    #[test]
    fn an_oversized_statement_is_refused_before_parsing() {
        let big = vec![b' '; MAX_STATEMENT_BYTES + 1];
        assert_eq!(
            parse(&big),
            Err(StatementError::TooLarge(MAX_STATEMENT_BYTES + 1))
        );
    }

    #[test]
    fn what_vouch_writes_it_reads() {
        let d = digest('c');
        let bytes = build(
            "reg/app",
            &d,
            predicate::SLSA_V1,
            &serde_json::json!({"a": 1}),
        );
        let s = parse(&bytes).expect("parse");
        assert!(s.is_about(&d));
        assert_eq!(s.statement_type, STATEMENT_V1);
        assert_eq!(s.subject[0].name, "reg/app");
    }
}
