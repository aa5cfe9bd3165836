//! The offline verifier keyless signing answers to. Nothing this crate assembles is
//! returned unless vouch's own verifier accepts it, exactly as `vouch verify` would judge
//! it later: the certificate before it is used (chain to a trusted Fulcio CA now, SCT,
//! identity), then every bundle and `.sig` layer (log entry, SET, inclusion proof,
//! timestamps, certificate at the proven times, identity), and `.att` layers alike. The verifier lives elsewhere
//! (with the trusted root it is configured with), so it is a trait the caller implements.

use std::collections::BTreeMap;

use crate::error::RejectionKind;
use crate::token::CertificateIdentity;

/// What the verifier is asked to judge.
#[derive(Debug, Clone, Copy)]
pub enum SignedMaterial<'a> {
    /// A Sigstore bundle (JSON) for the artifact whose SHA-256 digest is `artifact_sha256`:
    /// the message itself for a message signature, a subject of the statement for DSSE.
    Bundle {
        /// The bundle.
        json: &'a [u8],
        /// The artifact's SHA-256.
        artifact_sha256: [u8; 32],
    },
    /// A cosign 2.x keyless `.sig` layer.
    SigLayer {
        /// The layer's annotations (`dev.sigstore.cosign/certificate`, `chain`, `bundle`,
        /// `rfc3161timestamp`, and `dev.cosignproject.cosign/signature`).
        annotations: &'a BTreeMap<String, String>,
        /// The raw signature (the decoded `dev.cosignproject.cosign/signature`).
        signature: &'a [u8],
        /// The layer's bytes (the simple-signing payload).
        payload: &'a [u8],
    },
    /// A cosign 2.x keyless `.att` layer: a DSSE envelope whose statement must name the
    /// artifact, with the `.sig` layer's certificate, chain and log-entry annotations.
    AttLayer {
        /// The layer's annotations.
        annotations: &'a BTreeMap<String, String>,
        /// The layer's bytes (the DSSE envelope, JSON).
        envelope: &'a [u8],
        /// The SHA-256 of the artifact the statement is about.
        artifact_sha256: [u8; 32],
    },
}

/// What the material must prove.
#[derive(Debug, Clone, Copy)]
pub struct Expectation<'a> {
    /// The certificate's identity and OIDC issuer, compared exactly.
    pub identity: &'a CertificateIdentity,
    /// Accept material without a log entry, checking the certificate at this instant (Unix
    /// seconds). Set only for the check of a fresh certificate before it is used; every
    /// signature that is returned is judged with `None` (a log entry is required).
    pub unlogged_at: Option<i64>,
}

/// What the verifier found, for the signer to compare with what it assembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verified {
    /// Transparency-log entries that verified.
    pub log_entries: usize,
    /// RFC 3161 timestamps that verified (a verifier may ignore one that does not).
    pub timestamps: usize,
}

/// Why the verifier refused, classified for the signer's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Which check failed.
    pub kind: RejectionKind,
    /// The verifier's message.
    pub reason: String,
}

/// vouch's offline verifier: `vouch_sigstore::verify_bundle_with` and
/// `vouch_sigstore::verify_sig_layer` with the trusted root the signer uses, under an
/// identity policy of exactly [`Expectation::identity`].
pub trait OfflineVerifier: Send + Sync {
    /// Judges `material`; `Ok` only if `vouch verify` would accept it for `expect`.
    fn verify(
        &self,
        material: &SignedMaterial<'_>,
        expect: &Expectation<'_>,
    ) -> Result<Verified, Rejection>;
}
