//! Offline verification of Sigstore bundles (v0.1 to v0.3) and of cosign's keyless `.sig`
//! layers against a trusted root; the trusted roots vouch carries; and the key-signed bundles
//! `vouch sign --format bundle` writes.
//!
//! Pure: bundle bytes, the artifact (or its digest), a policy and a [`TrustedRoot`] go in;
//! a [`VerifiedBundle`] or a typed [`BundleError`] comes out. There is no network access
//! and no clock: the only times used are those the bundle proves (a Rekor v1 signed entry
//! timestamp, or an RFC 3161 timestamp), and certificates are checked at those times.
//!
//! Trust boundary: bundles, certificates, log entries, timestamps and trusted roots are
//! untrusted bytes until verified here; nothing here reads a file or the network, and nothing
//! here knows the command line.
#![forbid(unsafe_code)]

mod b64;
pub mod build;
mod checkpoint;
mod crypto;
mod dsse;
mod fulcio;
mod merkle;
mod model;
mod rekor;
mod rfc3161;
mod roots;
mod sct;
mod set;
pub mod sig_layer;
mod time;
mod trust_root;
mod verify;
mod x509;

use std::fmt;

pub use crypto::HashAlgorithm;
pub use dsse::{IN_TOTO_PAYLOAD_TYPE, Statement, Subject};
#[doc(hidden)]
pub use fulcio::IdentityError;
pub use model::BundleVersion;
pub use roots::{PRODUCTION_TRUSTED_ROOT, STAGING_TRUSTED_ROOT, production_root};
pub use sig_layer::{ATT_ENTRY_KINDS, SigLayer, verify_att_layer, verify_sig_layer};
pub use time::UnixTime;
pub use trust_root::{TimeRange, TrustRootError, TrustedRoot};
pub use verify::{verify_bundle, verify_bundle_with};

use vouch_keys::PublicKey;

/// What the `certificate` fuzz target compares: the SAN identities and OIDC issuer vouch reads,
/// whether the SCT list parses, and for each CA and TSA chain of the root whether the path
/// validates at the certificate's notBefore.
#[doc(hidden)]
pub type CertificateReading = (
    Result<Vec<String>, IdentityError>,
    Result<Option<String>, IdentityError>,
    bool,
    Vec<bool>,
);

/// Reads `der` as the verifier does (for the `certificate` fuzz target); `None` if it does not
/// parse.
#[doc(hidden)]
pub fn fuzz_certificate(der: &[u8], root: &TrustedRoot) -> Option<CertificateReading> {
    let cert = x509::Certificate::from_der(der).ok()?;
    Some(read_certificate(&cert, root))
}

/// The same, with the certificate given as PEM text (every CERTIFICATE block must parse).
#[doc(hidden)]
pub fn fuzz_certificate_pem(text: &str, root: &TrustedRoot) -> Option<Vec<CertificateReading>> {
    let ders = x509::pem_certificates(text).ok()?;
    ders.iter()
        .map(|d| {
            x509::Certificate::from_der(d)
                .ok()
                .map(|c| read_certificate(&c, root))
        })
        .collect()
}

fn read_certificate(cert: &x509::Certificate, root: &TrustedRoot) -> CertificateReading {
    let scts = cert
        .extension::<x509_cert::ext::pkix::SignedCertificateTimestampList>()
        .ok()
        .flatten()
        .is_some_and(|(_, list)| list.parse_timestamps().is_ok());
    let chains = root
        .cas
        .iter()
        .map(|a| (a, &x509::EKU_CODE_SIGNING))
        .chain(root.tsas.iter().map(|a| (a, &x509::EKU_TIME_STAMPING)))
        .map(|(a, eku)| x509::verify_path(cert, &a.chain, cert.not_before, eku).is_ok())
        .collect();
    (
        fulcio::san_identities(cert),
        fulcio::oidc_issuer(cert),
        scts,
        chains,
    )
}

/// At most this many RFC 3161 timestamps per bundle (as sigstore-python).
pub const MAX_TIMESTAMPS: usize = 32;

/// What was signed: the artifact's bytes, or only its digest.
///
/// For a DSSE bundle the artifact is a subject of the in-toto statement; for a cosign v3
/// image signature pass the image manifest digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Artifact {
    /// The artifact itself.
    Bytes(Vec<u8>),
    /// Its digest.
    Digest {
        /// The digest algorithm.
        algorithm: HashAlgorithm,
        /// The raw digest bytes.
        digest: Vec<u8>,
    },
}

impl Artifact {
    /// From `sha256:<64 hex>` (the conformance protocol's digest input).
    pub fn from_sha256_ref(s: &str) -> Option<Artifact> {
        let hex_part = s.strip_prefix("sha256:")?;
        if hex_part.len() != 64 {
            return None;
        }
        let digest = hex::decode(hex_part).ok()?;
        Some(Artifact::Digest {
            algorithm: HashAlgorithm::Sha256,
            digest,
        })
    }

    /// The digest under `algorithm`, if it can be known.
    pub fn digest(&self, algorithm: HashAlgorithm) -> Option<Vec<u8>> {
        match self {
            Artifact::Bytes(b) => Some(algorithm.digest(b)),
            Artifact::Digest {
                algorithm: a,
                digest,
            } if *a == algorithm => Some(digest.clone()),
            Artifact::Digest { .. } => None,
        }
    }
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum IdentityPolicy {
    /// A Fulcio certificate for this identity (SAN: URI, email or username otherName),
    /// issued after login at this OIDC issuer. Both compared exactly.
    Identity {
        /// The certificate's subject alternative name.
        subject: String,
        /// The OIDC issuer URL.
        issuer: String,
    },
    /// A bundle signed by this key (no certificate).
    Key(PublicKey),
    /// Any certificate the trusted root's Fulcio CAs issued (chain and SCT checked at the
    /// verified times), naming exactly one identity and an OIDC issuer; the caller judges
    /// [`VerifiedBundle::identity`] itself (e.g. against a regular expression).
    AnyCertificate,
}

/// Options for [`verify_bundle_with`]; the default is what [`verify_bundle`] does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Accept a key-signed bundle with no transparency-log entry and no RFC 3161
    /// timestamp: the key is trusted directly and no time is verified
    /// ([`VerifiedBundle::signing_time`] is `None`). Never applies to certificates.
    pub allow_untimed_key_signatures: bool,
    /// Accept a certificate-signed signature with no transparency-log entry (a policy
    /// signer's explicit opt-in): its certificate is checked at its verified RFC 3161
    /// times or, with none, at this instant (the caller's verification time), and
    /// [`VerifiedBundle::log_entries`] is empty. A log entry that is present must verify.
    pub unlogged_certificates_at: Option<UnixTime>,
}

/// A Fulcio signer identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerIdentity {
    /// The matching subject alternative name.
    pub subject: String,
    /// The OIDC issuer.
    pub issuer: String,
}

/// Where a verified time came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeSource {
    /// A Rekor v1 signed entry timestamp (integrated time) from this log.
    TransparencyLog {
        /// The log's base URL.
        log: String,
    },
    /// An RFC 3161 timestamp from this authority.
    TimestampAuthority {
        /// The authority's URI.
        uri: String,
    },
}

/// A time the bundle proves the signature existed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTime {
    /// The instant.
    pub time: UnixTime,
    /// Who vouches for it.
    pub source: TimeSource,
}

/// A transparency-log entry that was verified (inclusion proof and/or SET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLogEntry {
    /// The log's base URL.
    pub log: String,
    /// The entry's index in the log.
    pub log_index: i64,
    /// `hashedrekord 0.0.1`, `dsse 0.0.1`, ….
    pub kind: String,
}

/// The result of a successful verification.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedBundle {
    /// The bundle format version.
    pub version: BundleVersion,
    /// The earliest verified time; the certificate was valid at every verified time.
    /// `None` only for an untimed key-signed bundle ([`VerifyOptions`]).
    pub signing_time: Option<UnixTime>,
    /// Every verified time.
    pub verified_times: Vec<VerifiedTime>,
    /// The Fulcio identity, for certificate-signed bundles.
    pub identity: Option<SignerIdentity>,
    /// The key id (hex SHA-256 of the SPKI), for key-signed bundles.
    pub key_id: Option<String>,
    /// The DSSE payload type, for DSSE bundles.
    pub payload_type: Option<String>,
    /// The in-toto statement, for DSSE bundles carrying one.
    pub statement: Option<Statement>,
    /// The DSSE payload bytes the signature covers, for DSSE bundles (attestations are read
    /// from them in full).
    pub payload: Option<Vec<u8>>,
    /// The verified log entries.
    pub log_entries: Vec<VerifiedLogEntry>,
}

/// The verification phase an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The caller's inputs (artifact, policy).
    Input,
    /// Bundle parsing and shape.
    Bundle,
    /// The signing certificate: chain, validity, SCT.
    Certificate,
    /// Transparency-log entries.
    Tlog,
    /// RFC 3161 timestamps, or the lack of any verified time.
    Timestamp,
    /// The signature over the artifact or envelope, and the artifact binding.
    Signature,
    /// The identity or key policy.
    Policy,
}

/// How the signer failed the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyMismatch {
    /// No subject alternative name equals the expected identity.
    Subject {
        /// Wanted.
        expected: String,
        /// The certificate's identities.
        found: Vec<String>,
    },
    /// The OIDC issuer differs.
    Issuer {
        /// Wanted.
        expected: String,
        /// The certificate's issuer, if any.
        found: Option<String>,
    },
    /// The policy names a key but the bundle carries a certificate.
    CertificateInsteadOfKey,
    /// The policy names an identity but the bundle is signed with a bare key.
    KeyInsteadOfCertificate,
}

impl fmt::Display for PolicyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyMismatch::Subject { expected, found } => write!(
                f,
                "certificate identity {found:?} does not match {expected:?}"
            ),
            PolicyMismatch::Issuer { expected, found } => write!(
                f,
                "certificate OIDC issuer {found:?} does not match {expected:?}"
            ),
            PolicyMismatch::CertificateInsteadOfKey => {
                f.write_str("a key was expected but the bundle is signed with a certificate")
            }
            PolicyMismatch::KeyInsteadOfCertificate => f.write_str(
                "a certificate identity was expected but the bundle is signed with a key",
            ),
        }
    }
}

/// Why a bundle did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The caller's inputs cannot be used.
    #[error("input: {reason}")]
    Input {
        /// Why.
        reason: String,
    },
    /// The bundle is malformed or of an unsupported shape or version.
    #[error("bundle: {reason}")]
    Bundle {
        /// Why.
        reason: String,
    },
    /// The signing certificate is not trusted at the verified time(s).
    #[error("certificate: {reason}")]
    Certificate {
        /// Why.
        reason: String,
    },
    /// A transparency-log entry failed.
    #[error("transparency log entry {entry}: {reason}")]
    Tlog {
        /// Index in `tlogEntries`.
        entry: usize,
        /// Why.
        reason: String,
    },
    /// An RFC 3161 timestamp failed.
    #[error("timestamp {index}: {reason}")]
    Timestamp {
        /// Index in `rfc3161Timestamps`.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The signature was never recorded in a transparency log.
    #[error("no transparency log entry")]
    NoLogEntry,
    /// Neither a signed entry timestamp nor an RFC 3161 timestamp proves when it was signed.
    #[error("no verified time source (needs a signed entry timestamp or an RFC 3161 timestamp)")]
    NoVerifiedTime,
    /// The signature does not verify.
    #[error("signature: {reason}")]
    Signature {
        /// Why.
        reason: String,
    },
    /// The signature is valid but not for this artifact.
    #[error("artifact: {reason}")]
    ArtifactMismatch {
        /// Why.
        reason: String,
    },
    /// The signer is not the one the policy asks for.
    #[error("policy: {0}")]
    Policy(PolicyMismatch),
}

impl BundleError {
    /// The phase the error belongs to.
    pub fn phase(&self) -> Phase {
        match self {
            BundleError::Input { .. } => Phase::Input,
            BundleError::Bundle { .. } => Phase::Bundle,
            BundleError::Certificate { .. } => Phase::Certificate,
            BundleError::Tlog { .. } | BundleError::NoLogEntry => Phase::Tlog,
            BundleError::Timestamp { .. } | BundleError::NoVerifiedTime => Phase::Timestamp,
            BundleError::Signature { .. } | BundleError::ArtifactMismatch { .. } => {
                Phase::Signature
            }
            BundleError::Policy(_) => Phase::Policy,
        }
    }
}
