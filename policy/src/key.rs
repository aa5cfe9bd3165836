//! The `vouch verify --key` shortcut: at least one signature verified under one of the given
//! keys, carrying the required signed annotations. Policy files go through [`crate::Policy`].

use std::collections::BTreeMap;

/// A signature that verified cryptographically and names the image being judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Hex SHA-256 of the signer's SPKI DER.
    pub key_id: String,
    /// The payload's signed annotations (string values only).
    pub annotations: BTreeMap<String, String>,
}

/// Why an image was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// No signature verified under any trusted key.
    NoValidSignature,
    /// Signatures verified, but none carries the required annotations.
    AnnotationsMissing {
        /// The annotations that were required.
        required: BTreeMap<String, String>,
    },
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denial::NoValidSignature => {
                f.write_str("no signature verified under any of the given keys")
            }
            Denial::AnnotationsMissing { required } => {
                let list: Vec<String> = required.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(
                    f,
                    "signatures verified, but none carries the required annotations {}",
                    list.join(", ")
                )
            }
        }
    }
}

/// The outcome for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed: the key ids of the signatures that satisfied the requirement.
    Allow {
        /// Key ids (deduplicated, sorted) whose signatures counted.
        satisfied_by: Vec<String>,
    },
    /// Refused, and why.
    Deny(Denial),
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// What `vouch verify --key … -a K=V` requires.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRequirement {
    /// Signed annotations that must be present with exactly these values.
    pub annotations: BTreeMap<String, String>,
}

impl KeyRequirement {
    /// True when `sig` carries every required annotation.
    pub fn annotations_satisfied(&self, sig: &VerifiedSignature) -> bool {
        self.annotations
            .iter()
            .all(|(k, v)| sig.annotations.get(k) == Some(v))
    }

    /// Judges an image by its verified signatures (only keys the caller trusts appear here).
    pub fn evaluate(&self, signatures: &[VerifiedSignature]) -> Decision {
        if signatures.is_empty() {
            return Decision::Deny(Denial::NoValidSignature);
        }
        let mut satisfied_by: Vec<String> = signatures
            .iter()
            .filter(|s| self.annotations_satisfied(s))
            .map(|s| s.key_id.clone())
            .collect();
        satisfied_by.sort();
        satisfied_by.dedup();
        if satisfied_by.is_empty() {
            Decision::Deny(Denial::AnnotationsMissing {
                required: self.annotations.clone(),
            })
        } else {
            Decision::Allow { satisfied_by }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(key: &str, ann: &[(&str, &str)]) -> VerifiedSignature {
        VerifiedSignature {
            key_id: key.to_string(),
            annotations: ann
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn no_signature_denies() {
        assert_eq!(
            KeyRequirement::default().evaluate(&[]),
            Decision::Deny(Denial::NoValidSignature)
        );
    }

    #[test]
    fn annotations_must_match_on_one_signature() {
        let req = KeyRequirement {
            annotations: [("env".to_string(), "prod".to_string())].into(),
        };
        assert!(!req.evaluate(&[sig("a", &[("env", "dev")])]).is_allow());
        assert!(!req.evaluate(&[sig("a", &[])]).is_allow());
        assert_eq!(
            req.evaluate(&[sig("b", &[("env", "prod")]), sig("a", &[("env", "dev")])]),
            Decision::Allow {
                satisfied_by: vec!["b".to_string()]
            }
        );
    }

    #[test]
    fn one_key_signing_twice_is_listed_once() {
        let d = KeyRequirement::default().evaluate(&[sig("a", &[]), sig("a", &[])]);
        assert_eq!(
            d,
            Decision::Allow {
                satisfied_by: vec!["a".to_string()]
            }
        );
    }
}
