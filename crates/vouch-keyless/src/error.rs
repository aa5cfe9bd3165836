//! Why keyless signing stopped. Every message is written for the person running the
//! command: what happened and what to do. None carries the identity token or any part of it.

use std::fmt;

/// The services keyless signing talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The CI system's token endpoint (GitHub Actions).
    TokenEndpoint,
    /// Fulcio, the certificate authority.
    Fulcio,
    /// Rekor, the transparency log.
    Rekor,
    /// An RFC 3161 timestamp authority.
    TimestampAuthority,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::TokenEndpoint => "the CI token endpoint",
            Service::Fulcio => "Fulcio",
            Service::Rekor => "the transparency log (Rekor)",
            Service::TimestampAuthority => "the timestamp authority",
        })
    }
}

/// What kind of check the offline verifier refused (see [`crate::Rejection`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The certificate: chain to a trusted Fulcio CA, validity at the proven times, SCT.
    Certificate,
    /// The certificate names another identity or OIDC issuer.
    Identity,
    /// A log entry's inclusion proof or its checkpoint.
    InclusionProof,
    /// A log entry's signed entry timestamp.
    SignedEntryTimestamp,
    /// A log entry that does not describe this signature, certificate and artifact.
    LogEntry,
    /// An RFC 3161 timestamp.
    Timestamp,
    /// The signature over the artifact.
    Signature,
    /// Anything else (shape, input).
    Other,
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectionKind::Certificate => "certificate",
            RejectionKind::Identity => "identity",
            RejectionKind::InclusionProof => "inclusion proof",
            RejectionKind::SignedEntryTimestamp => "signed entry timestamp",
            RejectionKind::LogEntry => "log entry",
            RejectionKind::Timestamp => "timestamp",
            RejectionKind::Signature => "signature",
            RejectionKind::Other => "bundle",
        })
    }
}

/// Why keyless signing failed. Nothing was returned to store when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeylessError {
    /// No identity token was given and none could be found in the environment.
    #[error(
        "no OIDC identity token: pass --identity-token, set SIGSTORE_ID_TOKEN (GitLab CI: an `id_tokens` entry with `aud: sigstore`), or run in GitHub Actions with `permissions: id-token: write`"
    )]
    NoToken,
    /// The token is not a JWT whose claims can be read.
    #[error("the identity token is malformed: {reason}")]
    MalformedToken {
        /// Why.
        reason: String,
    },
    /// The token's `exp` has passed.
    #[error(
        "the identity token expired at {expired_at} (now {now}); get a fresh token and sign again"
    )]
    TokenExpired {
        /// `exp`, RFC 3339.
        expired_at: String,
        /// The time it was checked at, RFC 3339.
        now: String,
    },
    /// The token's `nbf` is in the future.
    #[error("the identity token is not valid before {not_before} (now {now}); check the clock")]
    TokenNotYetValid {
        /// `nbf`, RFC 3339.
        not_before: String,
        /// The time it was checked at, RFC 3339.
        now: String,
    },
    /// The token was issued for another audience.
    #[error(
        "the identity token's audience is {found:?}, not {expected:?}: request the token for audience {expected:?}"
    )]
    WrongAudience {
        /// The audience Fulcio accepts.
        expected: String,
        /// The token's `aud`.
        found: Vec<String>,
    },
    /// The token names an email its issuer has not verified; Fulcio refuses those.
    #[error("the identity token's email {email} is not verified by its issuer")]
    EmailNotVerified {
        /// The `email` claim.
        email: String,
    },
    /// Fetching GitHub Actions' ambient token failed.
    #[error("cannot get the GitHub Actions identity token: {reason}")]
    AmbientToken {
        /// Why (no token or URL in it).
        reason: String,
    },
    /// The signing config or the service URLs cannot be used.
    #[error("keyless signing configuration: {reason}")]
    Config {
        /// Why.
        reason: String,
    },
    /// A service did not answer, or kept answering with a server error.
    #[error("{service} at {url} is unreachable: {reason}")]
    Unreachable {
        /// Which.
        service: Service,
        /// Scheme, host and path (never a query).
        url: String,
        /// What happened.
        reason: String,
    },
    /// A service answered something that is not its API's answer.
    #[error("{service} answered something unusable: {reason}")]
    BadAnswer {
        /// Which.
        service: Service,
        /// Why.
        reason: String,
    },
    /// Fulcio refused to issue a certificate.
    #[error("Fulcio refused the certificate request (HTTP {status}): {message}")]
    FulcioRefused {
        /// The HTTP status.
        status: u16,
        /// Fulcio's message.
        message: String,
    },
    /// Fulcio certified another identity or issuer than the token's.
    #[error(
        "Fulcio issued a certificate for {found}, not for the token's identity {expected}; nothing was signed"
    )]
    CertificateIdentityMismatch {
        /// `subject` (issuer `issuer`) the token asked for.
        expected: String,
        /// What the certificate names.
        found: String,
    },
    /// Fulcio certified another key than the ephemeral one.
    #[error("Fulcio's certificate is for another public key than the one sent; nothing was signed")]
    CertificateKeyMismatch,
    /// The certificate does not verify against the trusted root (chain, SCT).
    #[error("Fulcio's certificate is not trusted: {reason}; nothing was signed")]
    UntrustedCertificate {
        /// The verifier's reason.
        reason: String,
    },
    /// The short-lived certificate expired before this signature was made.
    #[error("the signing certificate expired at {expired_at}; sign again to get a new one")]
    CertificateExpired {
        /// notAfter, RFC 3339.
        expired_at: String,
    },
    /// The log refused the entry.
    #[error("the transparency log refused the entry (HTTP {status}): {message}")]
    LogRefused {
        /// The HTTP status.
        status: u16,
        /// The log's message.
        message: String,
    },
    /// The log answered with an entry that does not describe this signature.
    #[error(
        "the transparency log answered with an entry for {what} than the one sent; refusing it"
    )]
    LogEntryMismatch {
        /// What differs ("another signature", …).
        what: String,
    },
    /// The log's integrated time is outside the certificate's validity.
    #[error(
        "the transparency log recorded the entry at {integrated_time}, outside the certificate's validity ({not_before} to {not_after}); refusing it"
    )]
    LoggedOutsideCertificateValidity {
        /// integratedTime, RFC 3339.
        integrated_time: String,
        /// notBefore, RFC 3339.
        not_before: String,
        /// notAfter, RFC 3339.
        not_after: String,
    },
    /// The log entry's inclusion proof or checkpoint does not verify.
    #[error("the transparency log's inclusion proof does not verify: {reason}; refusing it")]
    InclusionProof {
        /// The verifier's reason.
        reason: String,
    },
    /// The log entry's signed entry timestamp does not verify.
    #[error("the transparency log's signed entry timestamp does not verify: {reason}; refusing it")]
    SignedEntryTimestamp {
        /// The verifier's reason.
        reason: String,
    },
    /// The timestamp authority refused the request.
    #[error("the timestamp authority refused the request (HTTP {status}): {message}")]
    TimestampRefused {
        /// The HTTP status.
        status: u16,
        /// The authority's message.
        message: String,
    },
    /// The timestamp does not cover this signature, or does not verify.
    #[error("the RFC 3161 timestamp is unusable: {reason}; refusing it")]
    BadTimestamp {
        /// Why.
        reason: String,
    },
    /// The assembled material did not pass the offline verifier.
    #[error("the signed material does not verify ({kind}): {reason}; nothing was returned")]
    NotVerified {
        /// Which check.
        kind: RejectionKind,
        /// The verifier's reason.
        reason: String,
    },
    /// The ephemeral key could not be made or used.
    #[error("ephemeral key: {reason}")]
    Key {
        /// Why.
        reason: String,
    },
}

impl KeylessError {
    /// The exit code vouch documents for this failure: 2 for a token or configuration the
    /// user must fix, 3 for a service that could not be reached (nothing was written), 1 for
    /// a refusal or an answer that did not verify.
    pub fn exit_code(&self) -> u8 {
        match self {
            KeylessError::NoToken
            | KeylessError::MalformedToken { .. }
            | KeylessError::TokenExpired { .. }
            | KeylessError::TokenNotYetValid { .. }
            | KeylessError::WrongAudience { .. }
            | KeylessError::EmailNotVerified { .. }
            | KeylessError::Config { .. }
            | KeylessError::Key { .. } => 2,
            KeylessError::Unreachable { .. } | KeylessError::AmbientToken { .. } => 3,
            _ => 1,
        }
    }

    /// True when a service could not be reached (exit 3).
    pub fn is_unreachable(&self) -> bool {
        self.exit_code() == 3
    }
}
