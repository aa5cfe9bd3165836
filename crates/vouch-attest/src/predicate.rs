//! Predicate types: cosign's `--type` shorthands and the URIs they stand for, and which
//! field of a predicate dates it.

/// cosign's generic predicate (`--type custom`): `{"Data": …, "Timestamp": …}`.
pub const CUSTOM: &str = "https://cosign.sigstore.dev/attestation/v1";
/// cosign's vulnerability scan record (`--type vuln`).
pub const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// SLSA provenance v0.2.
pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
/// SLSA provenance v1.
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
/// An SPDX document.
pub const SPDX: &str = "https://spdx.dev/Document";
/// A CycloneDX BOM.
pub const CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// An OpenVEX document.
pub const OPENVEX: &str = "https://openvex.dev/ns";

/// Shorthand → predicate type URI, as cosign 2.x maps them.
const SHORTHANDS: [(&str, &str); 9] = [
    ("custom", CUSTOM),
    ("vuln", VULN),
    ("slsaprovenance", SLSA_V02),
    ("slsaprovenance02", SLSA_V02),
    ("slsaprovenance1", SLSA_V1),
    ("spdx", SPDX),
    ("spdxjson", SPDX),
    ("cyclonedx", CYCLONEDX),
    ("openvex", OPENVEX),
];

/// cosign before 2.0 wrote these two without a scheme; they count only where a user writes
/// them out.
pub const LEGACY_VULN: &str = "cosign.sigstore.dev/attestation/vuln/v1";
/// See [`LEGACY_VULN`].
pub const LEGACY_CUSTOM: &str = "cosign.sigstore.dev/attestation/v1";

/// Most bytes of a predicate type.
const MAX_TYPE_BYTES: usize = 1024;

/// Why a `--type` / `type:` value is not a predicate type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is neither a predicate type URI nor one of the shorthands custom, vuln, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, openvex"
)]
pub struct UnknownType(pub String);

/// The predicate type URI `name` stands for: a shorthand's URI, or `name` itself when it is
/// a URI (a scheme, then no white space), or one of cosign's pre-2.0 scheme-less types.
pub fn resolve(name: &str) -> Result<String, UnknownType> {
    if let Some((_, uri)) = SHORTHANDS.iter().find(|(short, _)| *short == name) {
        return Ok((*uri).to_string());
    }
    if name == LEGACY_VULN || name == LEGACY_CUSTOM || is_uri(name) {
        return Ok(name.to_string());
    }
    Err(UnknownType(name.to_string()))
}

fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    s.len() <= MAX_TYPE_BYTES
        && !rest.is_empty()
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The path of the field that dates a statement of this predicate type, if the type has
/// one: when a scan finished or a build finished, as the signer attests it.
pub fn time_field(predicate_type: &str) -> Option<(&'static [&'static str], TimePresence)> {
    match predicate_type {
        VULN | LEGACY_VULN => Some((&["metadata", "scanFinishedOn"], TimePresence::Required)),
        SLSA_V1 => Some((
            &["runDetails", "metadata", "finishedOn"],
            TimePresence::Optional,
        )),
        SLSA_V02 => Some((&["metadata", "buildFinishedOn"], TimePresence::Optional)),
        _ => None,
    }
}

/// Whether a predicate type must carry its time field. SLSA makes the build's finish time
/// optional (GitHub's npm provenance leaves it out): such a statement is dated by its
/// verified signing time instead. A scan without its finish time is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePresence {
    /// Missing: the statement is undated and fails (`undated: …`).
    Required,
    /// Missing: dated by the verified signing time, as types without a time field are.
    Optional,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthands_are_cosigns() {
        assert_eq!(resolve("vuln").as_deref(), Ok(VULN));
        assert_eq!(resolve("slsaprovenance").as_deref(), Ok(SLSA_V02));
        assert_eq!(resolve("slsaprovenance1").as_deref(), Ok(SLSA_V1));
        assert_eq!(resolve("spdxjson").as_deref(), Ok(SPDX));
        assert_eq!(
            resolve("https://example.com/p/v1").as_deref(),
            Ok("https://example.com/p/v1")
        );
        assert_eq!(resolve(LEGACY_VULN).as_deref(), Ok(LEGACY_VULN));
    }

    #[test]
    fn a_word_that_is_no_shorthand_is_refused() {
        assert!(resolve("vulnerability").is_err());
        assert!(resolve("").is_err());
        assert!(resolve("https://a b").is_err());
        assert!(resolve("1http://x").is_err());
    }

    #[test]
    fn legacy_vuln_is_dated_like_vuln() {
        assert_eq!(time_field(LEGACY_VULN), time_field(VULN));
        assert_eq!(time_field(SPDX), None);
    }
}
