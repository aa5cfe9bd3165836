//! vouch's trust-policy engine. Pure: no I/O, no async, no clock. The caller verifies
//! signatures cryptographically and passes what was verified, and the time; this crate decides.
//!
//! Three stages, as `policy check` and `verify --policy` use them:
//!
//! 1. [`parse`] reads YAML (or JSON) into a spanned [`RawPolicy`];
//! 2. the caller reads the key files [`RawPolicy::key_sources`] names, and [`validate`] checks
//!    everything and compiles a [`Policy`];
//! 3. [`Policy::evaluate`] judges an image's verified signatures at an instant.
//!
//! Problems are [`Diagnostic`]s with stable codes ([`CODES`]), rendered rustc-style by
//! [`render`]. [`run_cases`] runs table-driven policy tests. The format and every semantic
//! rule are documented in `docs/policy.md`.
//!
//! [`KeyRequirement`] is the `vouch verify --key` shortcut: at least one signature verified
//! under one of the given keys, carrying the required signed annotations.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod analysis;
mod cases;
mod diag;
mod eval;
mod fields;
mod glob;
mod key;
mod model;
mod overlap;
mod schema;
mod time;
mod util;
mod validate;
mod yaml;

pub use cases::{
    CaseOptions, CaseReport, CaseResult, ExpectedRule, ImageName, PLACEHOLDER_DIGEST, run_cases,
};
pub use diag::{CODES, CodeInfo, Diagnostic, Diagnostics, Label, Severity, Span, render};
pub use eval::{
    AlsoMatched, AttestationFact, AttestationVerdict, DenyCause, Evaluation, Explanation,
    ImageFacts, KeylessIdentity, Outcome, RuleSelection, SignatureFact, SignatureStatus,
    SignatureVerdict, combine_platform, overall,
};
pub use glob::{MAX_PATTERN_LEN, Pattern, PatternError, Specificity};
pub use key::{Decision, Denial, KeyRequirement, VerifiedSignature};
pub use model::{
    AllowKind, AttestationRule, DefaultDecision, Identity, Keyless, Mode, Policy, Requirement,
    Rule, RuleKind, Signer, SubjectMatcher, SubjectRegex, TransparencyLog,
};
pub use schema::{KeySource, RawPolicy, parse};
pub use time::{TimeError, Timestamp};
pub use validate::{validate, validate_with_root};
pub use yaml::{MAX_DEPTH, MAX_SOURCE_BYTES};

/// The JSON Schema (draft 2020-12) of policy files: the structure [`parse`] accepts (known
/// keys, types, allowed words). `docs/policy.schema.json` is a copy, kept identical by a test.
pub const JSON_SCHEMA: &str = include_str!("policy.schema.json");
