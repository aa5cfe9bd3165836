//! Why a trusted root could not be updated or read, in the TUF specification's terms, each
//! with what the user can do about it.

use std::fmt;

/// A TUF role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role(pub String);

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why TUF refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TufError {
    /// The repository could not be reached (nothing was changed).
    #[error("the TUF repository is unreachable: {reason}")]
    Unreachable {
        /// What happened.
        reason: String,
    },
    /// Metadata has expired: served so (a freeze attack, or a repository that stopped
    /// updating) or, for the cache, since the last update.
    #[error("{what}: the TUF {role} metadata expired{}", at.as_ref().map(|t| format!(" at {t}")).unwrap_or_default())]
    Expired {
        /// The repository's answer, or the cache.
        what: String,
        /// Which role.
        role: Role,
        /// When, RFC 3339, if known.
        at: Option<String>,
    },
    /// The repository served older metadata than was already trusted (a rollback attack).
    #[error(
        "the TUF repository served older {role} metadata than already trusted (rollback refused): {reason}"
    )]
    Rollback {
        /// Which role.
        role: Role,
        /// Versions involved.
        reason: String,
    },
    /// Signatures, thresholds or the root chain do not verify.
    #[error("TUF metadata does not verify: {reason}")]
    Verification {
        /// Why.
        reason: String,
    },
    /// A target does not match the length or hash its signed metadata gives.
    #[error("TUF target {target} does not match its signed hash or length: {reason}")]
    TargetMismatch {
        /// The target's name.
        target: String,
        /// Why.
        reason: String,
    },
    /// A required target is not in the repository.
    #[error("the TUF repository has no target {target}")]
    MissingTarget {
        /// The target's name.
        target: String,
    },
    /// A target's content is not what its name promises.
    #[error("TUF target {target} is not a {expected}")]
    UnexpectedTarget {
        /// The target's name.
        target: String,
        /// What it should be.
        expected: String,
    },
    /// Targets that verified but that this binary cannot use.
    #[error("the TUF repository's trusted root or signing config cannot be used: {reason}")]
    Unusable {
        /// Why.
        reason: String,
    },
    /// Metadata that cannot be parsed.
    #[error("TUF metadata is malformed: {reason}")]
    Malformed {
        /// Why.
        reason: String,
    },
    /// The cache could not be read or written.
    #[error("TUF cache {path}: {reason}")]
    Cache {
        /// The file or directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// The options cannot be used.
    #[error("{reason}")]
    Config {
        /// Why.
        reason: String,
    },
}

impl TufError {
    /// vouch's exit code for it: 3 when the repository or cache could not be reached, 2 for
    /// options to fix, 1 when TUF refused what it was given.
    pub fn exit_code(&self) -> u8 {
        match self {
            TufError::Unreachable { .. } | TufError::Cache { .. } => 3,
            TufError::Config { .. } => 2,
            _ => 1,
        }
    }
}

/// Turns tough's error into the TUF-level reason.
pub(crate) fn from_tough(e: &tough::error::Error, what: &str) -> TufError {
    use tough::error::Error as E;
    let reason = chain(e);
    match e {
        E::ExpiredMetadata { role, .. } => TufError::Expired {
            what: what.to_string(),
            role: Role(role.to_string()),
            at: None,
        },
        E::OlderMetadata { role, .. } => TufError::Rollback {
            role: Role(role.to_string()),
            reason,
        },
        E::OlderSnapshotInTimestamp { .. } => TufError::Rollback {
            role: Role("snapshot".into()),
            reason,
        },
        E::SnapshotRoleRollback { .. } => TufError::Rollback {
            role: Role("targets".into()),
            reason,
        },
        E::VerifyMetadata { .. }
        | E::VerifyRoleMetadata { .. }
        | E::VerifyTrustedMetadata { .. }
        | E::MaxUpdatesExceeded { .. }
        | E::VersionMismatch { .. }
        | E::MetaMissing { .. }
        | E::SnapshotTargetsMetaMissing { .. }
        | E::MissingSnapshotMeta { .. }
        | E::TimestampMetaLength { .. }
        | E::SpecVersion { .. } => TufError::Verification { reason },
        E::ParseMetadata { .. } | E::ParseTrustedMetadata { .. } => TufError::Malformed { reason },
        E::Transport { source, .. } if source.kind() == tough::TransportErrorKind::FileNotFound => {
            TufError::Verification { reason }
        }
        E::Transport { .. } => TufError::Unreachable { reason },
        _ => TufError::Verification { reason },
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !out.contains(&next) {
            out.push_str(": ");
            out.push_str(&next);
        }
        source = s.source();
    }
    out
}
