//! Attestations: in-toto statements (v0.1 and v1) in DSSE envelopes, as cosign writes them
//! to `sha256-<hex>.att` manifests. Reading is strict and bounded (sizes, counts, duplicate
//! keys); a statement counts for an image only when a subject names its digest; the time a
//! statement attests comes from its predicate (never from unsigned annotations); CEL
//! conditions judge predicates within bounds. No I/O: the registry is vouch-verify's job.
//!
//! Trust boundary: everything here reads attacker-supplied bytes; only a signature check
//! ([`envelope::Envelope::signed_by`]) makes a statement count, and only for its digest.
#![forbid(unsafe_code)]

pub mod condition;
pub mod envelope;
pub mod judge;
pub mod predicate;
pub mod statement;
mod strict_json;

pub use condition::{CompileError, Condition, Variables};
pub use envelope::{DSSE_LAYER_MEDIA_TYPE, Envelope, EnvelopeError, IN_TOTO_PAYLOAD_TYPE};
pub use judge::{AttestationRequirement, Decision, Judged, VerifiedStatement};
pub use statement::{ArtifactDigest, Statement, StatementError};

/// The `.att` layer annotation cosign copies the predicate type into. Not signed: shown,
/// never used to decide.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// Reads an envelope and its statement for fuzzing: never panics, whatever the bytes.
pub fn fuzz_read(bytes: &[u8]) -> Option<Statement> {
    let envelope = envelope::parse(bytes).ok()?;
    let statement = statement::parse(&envelope.payload).ok()?;
    let _ = statement.attested_time();
    Some(statement)
}
