//! The validated policy: signers, rules and what they require, as [`crate::validate`] builds
//! them and [`Policy::evaluate`] judges images with them.

use crate::diag::{Diagnostic, Span};
use crate::glob::Pattern;
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Whether a rule's deny is enforced or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A deny is a deny (the default).
    #[default]
    Enforce,
    /// A deny is reported as a warning and the image passes.
    Warn,
}

/// Which `docker-reference` a signature's payload must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Identity {
    /// The image's repository (the default).
    #[default]
    Repository,
    /// The repository and, for a tag reference, the tag.
    Exact,
    /// Anything.
    Any,
}

/// An `allow:` rule, which needs no signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllowKind {
    /// Explicit opt-out: every digest passes (unless pinned or revoked).
    Always,
    /// The digest must be listed in the rule's `digests`.
    Pinned,
}

/// What happens to an image no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultDecision {
    /// Refuse it (the default when `default` is omitted).
    #[default]
    Deny,
    /// Let it pass, reported as `allow-default`.
    Allow,
}

/// A compiled `subject_regex`: matches a whole subject, never a part of it.
#[derive(Debug, Clone)]
pub struct SubjectRegex {
    source: String,
    regex: regex::Regex,
}

impl SubjectRegex {
    /// Most bytes a compiled regex may take (the `regex` crate's NFA and lazy DFA).
    pub const SIZE_LIMIT: usize = 1 << 20;

    /// Compiles `source`, anchored at both ends (`\A(?:…)\z`): it must match the whole subject.
    pub fn new(source: &str) -> Result<SubjectRegex, String> {
        let regex = regex::RegexBuilder::new(&format!("\\A(?:{source})\\z"))
            .size_limit(Self::SIZE_LIMIT)
            .dfa_size_limit(Self::SIZE_LIMIT)
            .build()
            .map_err(|e| match e {
                regex::Error::Syntax(s) => s,
                regex::Error::CompiledTooBig(limit) => {
                    format!("the compiled regex is larger than {limit} bytes")
                }
                other => other.to_string(),
            })?;
        Ok(SubjectRegex {
            source: source.to_string(),
            regex,
        })
    }

    /// The regex as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the regex matches all of `subject`.
    pub fn is_full_match(&self, subject: &str) -> bool {
        self.regex.is_match(subject)
    }
}

impl PartialEq for SubjectRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for SubjectRegex {}

impl Serialize for SubjectRegex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// How a keyless signer's certificate subject is matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectMatcher {
    /// `subject`: the certificate's identity, exactly.
    Subject(String),
    /// `subject_regex`: a regular expression matching the whole identity.
    SubjectRegex(SubjectRegex),
}

/// Whether a keyless signer's signatures must be in a transparency log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransparencyLog {
    /// A signature counts only with a verified log entry (the default).
    #[default]
    Required,
    /// A signature with no log entry counts too; its certificate is then checked at its
    /// verified RFC 3161 time, or at the time judged.
    Optional,
}

/// A keyless (Fulcio certificate) signer identity: `keyless: {issuer, subject | subject_regex}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Keyless {
    /// The OIDC issuer URL, compared exactly.
    pub issuer: String,
    /// The identity (certificate SAN) the signer must have.
    #[serde(flatten)]
    pub subject: SubjectMatcher,
    /// Whether its signatures must have a transparency-log entry.
    pub transparency_log: TransparencyLog,
}

impl Keyless {
    /// True when a certificate naming `subject`, issued after login at `issuer`, is this signer.
    pub fn matches(&self, issuer: &str, subject: &str) -> bool {
        self.issuer == issuer
            && match &self.subject {
                SubjectMatcher::Subject(s) => s == subject,
                SubjectMatcher::SubjectRegex(r) => r.is_full_match(subject),
            }
    }

    /// `subject "…"` or `subject_regex "…"`, and the issuer, for messages.
    pub fn describe(&self) -> String {
        let who = match &self.subject {
            SubjectMatcher::Subject(s) => format!("subject {s:?} from {}", self.issuer),
            SubjectMatcher::SubjectRegex(r) => {
                format!("subject_regex {:?} from {}", r.as_str(), self.issuer)
            }
        };
        match self.transparency_log {
            TransparencyLog::Required => who,
            TransparencyLog::Optional => format!("{who}, also without a transparency-log entry"),
        }
    }
}

/// A named trust anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Signer {
    /// Its name under `signers`.
    pub name: String,
    /// Key ids (hex SHA-256 of SPKI DER), in file order; several keys allow rotation.
    pub key_ids: Vec<String>,
    /// The keyless identity it signs as, if any (a signer may have keys, keyless, or both).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyless: Option<Keyless>,
    /// Signatures count from this instant on (inclusive).
    pub not_before: Option<Timestamp>,
    /// Signatures count up to this instant (inclusive), and not after it.
    pub not_after: Option<Timestamp>,
}

impl Signer {
    /// True when the signer counts at `at`.
    pub fn valid_at(&self, at: Timestamp) -> bool {
        self.not_before.is_none_or(|t| t <= at) && self.not_after.is_none_or(|t| at <= t)
    }
}

/// What a `require:` rule asks of signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Requirement {
    /// Signer names, deduplicated, in file order.
    pub signers: Vec<String>,
    /// Distinct signers needed.
    pub threshold: usize,
    /// What the payload's `docker-reference` must name.
    pub identity: Identity,
    /// Signed annotations that must be present with these values.
    pub annotations: BTreeMap<String, String>,
    /// Attestations that must be present and pass, besides the signatures.
    pub attestations: Vec<AttestationRule>,
}

/// One entry of `require.attestations`: a verified statement of this predicate type by one of
/// these signers, the newest of which must be young enough and meet the condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AttestationRule {
    /// `type` as written (a shorthand or a URI).
    pub written_type: String,
    /// The predicate type URI it stands for, matched exactly.
    pub predicate_type: String,
    /// Signer names, any of which counts.
    pub signers: Vec<String>,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `condition`, compiled.
    pub condition: Option<vouch_attest::Condition>,
}

/// How a rule decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// Signatures are required.
    Require(Requirement),
    /// No signature is needed.
    Allow(AllowKind),
}

/// A validated rule.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rule {
    /// Its name (unique in the policy).
    pub name: String,
    /// Its position in the file (0-based), for reports only: order never decides.
    pub index: usize,
    /// Image patterns.
    pub images: Vec<Pattern>,
    /// What it asks.
    pub kind: RuleKind,
    /// When set, only these digests may pass.
    pub digests: Option<BTreeSet<String>>,
    /// `enforce` or `warn`.
    pub mode: Mode,
    /// Where its name is written.
    pub span: Span,
    /// Where each pattern of `images` is written.
    pub image_spans: Vec<Span>,
}

/// A validated policy, ready to evaluate images. Built only by [`crate::validate`].
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) file_name: String,
    pub(crate) signers: Vec<Signer>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) revoked_digests: BTreeSet<String>,
    pub(crate) revoked_keys: BTreeSet<String>,
    pub(crate) default: DefaultDecision,
    pub(crate) trusted_root: Option<String>,
    pub(crate) exempt_namespaces: BTreeSet<String>,
    pub(crate) warnings: Vec<Diagnostic>,
    /// Signer indexes owning each key id, ascending.
    pub(crate) key_owners: HashMap<String, Vec<usize>>,
    pub(crate) index: RuleIndex,
}

impl Policy {
    /// The file name given to [`crate::parse`].
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// `exempt.namespaces`: Kubernetes namespaces whose objects the admission webhook
    /// admits without checking. Empty unless the file names them: nothing is exempt by default.
    pub fn exempt_namespaces(&self) -> &BTreeSet<String> {
        &self.exempt_namespaces
    }

    /// Whether objects in `namespace` are exempt from checking (`exempt.namespaces`).
    pub fn exempts_namespace(&self, namespace: &str) -> bool {
        self.exempt_namespaces.contains(namespace)
    }

    /// Signers, in file order.
    pub fn signers(&self) -> &[Signer] {
        &self.signers
    }

    /// A signer by name.
    pub fn signer(&self, name: &str) -> Option<&Signer> {
        self.signers.iter().find(|s| s.name == name)
    }

    /// Rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// A rule by name.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Every key id the policy trusts, sorted and deduplicated: the keys to verify signatures
    /// against. Revoked keys are included when they are listed under a signer, so reports can
    /// say "revoked" rather than "unknown".
    pub fn key_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.key_owners.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// Names of the signers a key is listed under.
    pub fn signers_of_key(&self, key_id: &str) -> Vec<&str> {
        self.key_owners.get(key_id).map_or_else(Vec::new, |o| {
            o.iter().map(|&i| self.signers[i].name.as_str()).collect()
        })
    }

    /// Revoked digests.
    pub fn revoked_digests(&self) -> &BTreeSet<String> {
        &self.revoked_digests
    }

    /// Revoked key ids.
    pub fn revoked_keys(&self) -> &BTreeSet<String> {
        &self.revoked_keys
    }

    /// The decision for images no rule matches.
    pub fn default_decision(&self) -> DefaultDecision {
        self.default
    }

    /// Warnings found while validating.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// `trusted_root` as written (relative to the policy file), if given.
    pub fn trusted_root(&self) -> Option<&str> {
        self.trusted_root.as_deref()
    }

    /// True when the rule that applies to `repository` requires attestations: only then are
    /// they fetched.
    pub fn needs_attestations(&self, repository: &str) -> bool {
        self.select_rule(repository)
            .and_then(|s| self.rule(&s.name))
            .is_some_and(
                |r| matches!(&r.kind, RuleKind::Require(req) if !req.attestations.is_empty()),
            )
    }

    /// True when some signer is keyless: certificate-signed bundles are worth verifying.
    pub fn has_keyless(&self) -> bool {
        self.signers.iter().any(|s| s.keyless.is_some())
    }

    /// True when some keyless signer accepts signatures with no transparency-log entry.
    pub fn accepts_unlogged(&self) -> bool {
        self.signers.iter().any(|s| {
            s.keyless
                .as_ref()
                .is_some_and(|k| k.transparency_log == TransparencyLog::Optional)
        })
    }

    /// Indexes of the signers whose keyless identity matches, ascending.
    pub(crate) fn keyless_owners(&self, issuer: &str, subject: &str) -> Vec<usize> {
        self.signers
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.keyless
                    .as_ref()
                    .is_some_and(|k| k.matches(issuer, subject))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// Rules indexed by the literal segments their patterns start with, so selecting a rule looks
/// only at patterns that can match.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleIndex {
    children: HashMap<String, RuleIndex>,
    /// `(rule, pattern)` indexes whose literal prefix ends here.
    entries: Vec<(usize, usize)>,
}

impl RuleIndex {
    pub(crate) fn build(rules: &[Rule]) -> RuleIndex {
        let mut root = RuleIndex::default();
        for (ri, rule) in rules.iter().enumerate() {
            for (pi, p) in rule.images.iter().enumerate() {
                let mut node = &mut root;
                for seg in p.literal_prefix() {
                    node = node.children.entry(seg.clone()).or_default();
                }
                node.entries.push((ri, pi));
            }
        }
        root
    }

    /// Every `(rule, pattern)` whose literal prefix is a prefix of `repository`'s segments.
    pub(crate) fn candidates(&self, repository: &str, out: &mut Vec<(usize, usize)>) {
        let mut node = self;
        out.extend(&node.entries);
        for seg in repository.split('/') {
            match node.children.get(seg) {
                Some(next) => {
                    node = next;
                    out.extend(&node.entries);
                }
                None => break,
            }
        }
    }
}
