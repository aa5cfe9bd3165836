//! Stage three: judging one image against a [`Policy`].

use crate::glob::Specificity;
use crate::model::{
    AllowKind, DefaultDecision, Identity, Mode, Policy, Requirement, Rule, RuleKind,
};
use crate::time::Timestamp;
use crate::util::quoted_list;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// What the caller knows about one image: its name, the digest judged, and the signatures that
/// verified cryptographically.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageFacts {
    /// Normalized repository, without tag or digest: `registry.example.com/prod/app`.
    pub repository: String,
    /// The tag the user named, if the reference had one (it was resolved to `digest` once).
    pub tag: Option<String>,
    /// The digest judged: `sha256:` and 64 hex digits.
    pub digest: String,
    /// Signatures already verified under `key_id` over a payload naming `digest`.
    pub signatures: Vec<SignatureFact>,
    /// Attestations whose DSSE signature verified (by `key_id` or a keyless identity). Only
    /// statements about `digest` count; the engine checks that again.
    pub attestations: Vec<AttestationFact>,
}

/// One attestation whose envelope signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationFact {
    /// The statement.
    pub statement: vouch_attest::Statement,
    /// The key it verified under (empty for a keyless one).
    pub key_id: String,
    /// For a keyless one: the certificate identity that verified.
    pub keyless: Option<KeylessIdentity>,
    /// A verified signing time (transparency log or RFC 3161), if any.
    pub signed_at: Option<Timestamp>,
    /// Where it was found, for reports (`.att layer 2`).
    pub source: String,
    /// A keyless attestation with no transparency-log entry: it counts only for signers
    /// whose `keyless` says `transparency_log: optional`.
    pub unlogged: bool,
}

/// The verdict on one `require.attestations` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttestationVerdict {
    /// `type` as written.
    #[serde(rename = "type")]
    pub written_type: String,
    /// The predicate type URI.
    pub predicate_type: String,
    /// True when the requirement is met.
    pub passed: bool,
    /// Why, in words.
    pub reason: String,
    /// Every attestation of the image, judged for this entry: which counted, which decided,
    /// and which clause each failed.
    pub statements: Vec<vouch_attest::Judged>,
}

/// The identity in a Fulcio certificate that verified (a keyless signature).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
pub struct KeylessIdentity {
    /// The OIDC issuer the certificate names.
    pub issuer: String,
    /// The signer identity (subject alternative name) the certificate names.
    pub subject: String,
}

/// One verified signature.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureFact {
    /// Hex SHA-256 of the SPKI DER of the key it verified under; empty for a keyless
    /// signature (see `keyless`).
    pub key_id: String,
    /// For a keyless signature: the certificate identity that verified (the caller has
    /// checked the certificate chain to a trusted root at a verified time). Such a fact is
    /// judged by the signers' `keyless` identities, never by `key_id`.
    pub keyless: Option<KeylessIdentity>,
    /// The repository part of the payload's `docker-reference`, normalized.
    pub payload_repository: Option<String>,
    /// The tag part of the payload's `docker-reference`, if any.
    pub payload_tag: Option<String>,
    /// The payload's signed annotations.
    pub annotations: BTreeMap<String, String>,
    /// Its position among the signature layers, for reports.
    pub index: usize,
    /// A keyless signature with no transparency-log entry (its certificate was checked at a
    /// verified RFC 3161 time, or at the time judged). It counts only for signers whose
    /// `keyless` says `transparency_log: optional`.
    pub unlogged: bool,
    /// The transparency-log entry's index, when the caller verified one (for reports).
    pub log_index: Option<i64>,
    /// The verified time it was signed at (log integration or RFC 3161), for reports.
    pub signed_at: Option<Timestamp>,
}

/// The decision for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Signatures satisfied the rule's `require`.
    Allow,
    /// An `allow: pinned` rule lists the digest.
    AllowPinned,
    /// An `allow: always` rule: an explicit opt-out, no signature checked.
    AllowAlways,
    /// No rule matched and the policy says `default: allow`.
    AllowDefault,
    /// Refused.
    Deny,
    /// Would be refused, but the rule is in `warn` mode: report it and let the image pass.
    Warn,
}

impl Outcome {
    /// True when the image may be used: every allow, and `warn` (exit code 0).
    pub fn passes(self) -> bool {
        self != Outcome::Deny
    }

    /// True for the four allow outcomes.
    pub fn is_allow(self) -> bool {
        matches!(
            self,
            Outcome::Allow | Outcome::AllowPinned | Outcome::AllowAlways | Outcome::AllowDefault
        )
    }

    /// `allow`, `deny` or `warn`: the outcome with the allow variants merged.
    pub fn class(self) -> &'static str {
        match self {
            Outcome::Deny => "deny",
            Outcome::Warn => "warn",
            _ => "allow",
        }
    }

    /// The kebab-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::AllowPinned => "allow-pinned",
            Outcome::AllowAlways => "allow-always",
            Outcome::AllowDefault => "allow-default",
            Outcome::Deny => "deny",
            Outcome::Warn => "warn",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Outcome::Deny => 0,
            Outcome::Warn => 1,
            _ => 2,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an image was refused (or would be, in `warn` mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenyCause {
    /// The digest is under `revoked.digests`.
    RevokedDigest,
    /// The rule pins digests and this one is not among them.
    DigestNotPinned,
    /// Fewer distinct signers counted than the threshold.
    NotEnoughSigners,
    /// A required attestation is missing, too old, or fails its condition.
    AttestationFailed,
    /// No rule matched and the policy says `default: deny`.
    NoMatchingRule,
}

/// Which rule applies to a repository, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSelection {
    /// The rule's name.
    pub name: String,
    /// Its position in the file (0-based); order never decides.
    pub index: usize,
    /// Its most specific pattern that matched.
    pub pattern: String,
    /// That pattern's specificity.
    pub specificity: Specificity,
    /// Why it beat the other matching rules, in words.
    pub why_it_won: String,
    /// The other rules that matched, most specific first.
    pub also_matched: Vec<AlsoMatched>,
}

/// A rule that matched but lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlsoMatched {
    /// Its name.
    pub rule: String,
    /// Its most specific pattern that matched.
    pub pattern: String,
}

/// What happened to one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureStatus {
    /// It counted for a signer.
    Counted,
    /// Valid, but its key already counted (one signer signing twice counts once).
    KeyAlreadyCounted,
    /// Valid, but every signer its key belongs to is already counted through another key.
    SignerAlreadyCounted,
    /// Its key is not in the policy.
    UnknownKey,
    /// Its keyless identity matches no signer of the policy.
    UnknownIdentity,
    /// Keyless, with no transparency-log entry, and no signer it matches accepts that.
    Unlogged,
    /// Its key is under `revoked.keys`.
    RevokedKey,
    /// Its key belongs to no signer the rule requires.
    UntrustedByRule,
    /// Its signer is outside `not_before`/`not_after` at the time judged.
    OutsideValidity,
    /// The payload names another image than `identity` requires.
    IdentityMismatch,
    /// A required annotation is missing or has another value.
    AnnotationMismatch,
    /// The rule needs no signature (or no rule applies).
    NotRequired,
}

/// The verdict on one signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureVerdict {
    /// Its position among the signature layers.
    pub index: usize,
    /// The key it verified under (empty for a keyless signature).
    pub key_id: String,
    /// The certificate identity, for a keyless signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<KeylessIdentity>,
    /// The transparency-log entry's index, when one was verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<i64>,
    /// The verified time it was signed at, when one was proven.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<Timestamp>,
    /// The signer it counted for, or the signer its key belongs to.
    pub signer: Option<String>,
    /// Machine-readable verdict.
    pub status: SignatureStatus,
    /// True when it counted toward the threshold.
    pub counted: bool,
    /// The verdict in words.
    pub reason: String,
}

/// The full judgment of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// The repository judged.
    pub repository: String,
    /// The tag named, if any.
    pub tag: Option<String>,
    /// The digest judged.
    pub digest: String,
    /// The instant signer validity was judged at.
    pub at: Timestamp,
    /// The decision.
    pub decision: Outcome,
    /// For `deny` and `warn`: the first reason, machine-readable.
    pub deny_cause: Option<DenyCause>,
    /// The rule that applied, if any matched.
    pub rule: Option<RuleSelection>,
    /// The rule's mode, if a rule applied.
    pub mode: Option<Mode>,
    /// Distinct signers needed, for a `require` rule.
    pub threshold: Option<usize>,
    /// Signers that counted, in the rule's order.
    pub signers_counted: Vec<String>,
    /// Each signature, in the order given.
    pub signatures: Vec<SignatureVerdict>,
    /// Each `require.attestations` entry, judged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<AttestationVerdict>,
    /// Why the decision is what it is.
    pub reasons: Vec<String>,
    /// For `deny` and `warn`: what would make the image pass.
    pub to_pass: Vec<String>,
    /// Set when a platform image passed through the index it was selected from
    /// ([`combine_platform`]): that index's digest.
    pub via_index: Option<String>,
}

/// What `policy explain` prints for one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The repository explained.
    pub repository: String,
    /// The rule that applies, if any.
    pub rule: Option<RuleSelection>,
    /// What that rule (or `default`) asks, in words.
    pub requires: String,
}

pub(crate) fn short(key_id: &str) -> &str {
    key_id.get(..12).unwrap_or(key_id)
}

/// `key 0123456789ab` or `identity "…" (issuer)`, for messages about one signature.
fn credential(s: &SignatureFact) -> String {
    match &s.keyless {
        Some(id) => format!("identity {:?} ({})", id.subject, id.issuer),
        None => format!("key {}", short(&s.key_id)),
    }
}

/// What makes two signatures "the same signer credential": the key, or the identity.
fn credential_id(s: &SignatureFact) -> String {
    match &s.keyless {
        Some(id) => format!("keyless\u{0}{}\u{0}{}", id.issuer, id.subject),
        None => s.key_id.clone(),
    }
}

impl Policy {
    /// Which rule applies to a normalized repository name, and why; `None` when no rule matches.
    pub fn select_rule(&self, repository: &str) -> Option<RuleSelection> {
        self.select(repository).map(|(_, s)| s)
    }

    fn select(&self, repository: &str) -> Option<(usize, RuleSelection)> {
        let mut candidates = Vec::new();
        self.index.candidates(repository, &mut candidates);
        // Best matching pattern per rule.
        let mut best: Vec<(usize, usize, Specificity)> = Vec::new();
        for (ri, pi) in candidates {
            let p = &self.rules[ri].images[pi];
            if !p.matches(repository) {
                continue;
            }
            let spec = p.specificity();
            match best.iter_mut().find(|(r, _, _)| *r == ri) {
                Some(entry) if entry.2 < spec || (entry.2 == spec && pi < entry.1) => {
                    *entry = (ri, pi, spec);
                }
                Some(_) => {}
                None => best.push((ri, pi, spec)),
            }
        }
        // Most specific first; the name breaks ties, which validation has already refused.
        best.sort_by(|a, b| {
            b.2.cmp(&a.2)
                .then_with(|| self.rules[a.0].name.cmp(&self.rules[b.0].name))
        });
        let (&(ri, pi, spec), others) = best.split_first()?;
        let rule = &self.rules[ri];
        let pattern = rule.images[pi].as_str();
        let why_it_won = match others.first() {
            None => format!("the only rule whose images match {repository}"),
            Some(&(ro, po, spec_o)) => {
                let other = &self.rules[ro];
                let criterion = spec
                    .explain_win(&spec_o)
                    .unwrap_or_else(|| "equal specificity; tie broken by name".to_string());
                format!(
                    "\"{pattern}\" is more specific than \"{}\" of rule \"{}\" ({criterion})",
                    other.images[po].as_str(),
                    other.name
                )
            }
        };
        Some((
            ri,
            RuleSelection {
                name: rule.name.clone(),
                index: rule.index,
                pattern: pattern.to_string(),
                specificity: spec,
                why_it_won,
                also_matched: others
                    .iter()
                    .map(|&(r, p, _)| AlsoMatched {
                        rule: self.rules[r].name.clone(),
                        pattern: self.rules[r].images[p].as_str().to_string(),
                    })
                    .collect(),
            },
        ))
    }

    /// Which rule applies to a repository, why, and what it asks: `policy explain`.
    pub fn explain(&self, repository: &str) -> Explanation {
        let selected = self.select(repository);
        let requires = match &selected {
            None => match self.default {
                DefaultDecision::Deny => "no rule matches: `default: deny` refuses it".to_string(),
                DefaultDecision::Allow => {
                    "no rule matches: `default: allow` lets it pass".to_string()
                }
            },
            Some((ri, _)) => describe_rule(&self.rules[*ri]),
        };
        Explanation {
            repository: repository.to_string(),
            rule: selected.map(|(_, s)| s),
            requires,
        }
    }

    /// Judges one image at instant `at` (the verification time, or `--at`).
    pub fn evaluate(&self, image: &ImageFacts, at: Timestamp) -> Evaluation {
        let selected = self.select(&image.repository);
        let rule = selected.as_ref().map(|(ri, _)| &self.rules[*ri]);
        let mut ev = Evaluation {
            repository: image.repository.clone(),
            tag: image.tag.clone(),
            digest: image.digest.clone(),
            at,
            decision: Outcome::Deny,
            deny_cause: None,
            rule: selected.as_ref().map(|(_, s)| s.clone()),
            mode: rule.map(|r| r.mode),
            threshold: None,
            signers_counted: Vec::new(),
            signatures: Vec::new(),
            attestations: Vec::new(),
            reasons: Vec::new(),
            to_pass: Vec::new(),
            via_index: None,
        };
        let mut signer_notes: HashMap<String, Vec<String>> = HashMap::new();
        match rule.map(|r| (r, &r.kind)) {
            Some((r, RuleKind::Require(req))) => {
                ev.threshold = Some(req.threshold);
                self.judge_signatures(r, req, image, at, &mut ev, &mut signer_notes);
            }
            _ => {
                for s in &image.signatures {
                    ev.signatures.push(self.unrequired(s, rule));
                }
            }
        }

        if self.revoked_digests.contains(&image.digest) {
            ev.decision = Outcome::Deny;
            ev.deny_cause = Some(DenyCause::RevokedDigest);
            ev.reasons.push(format!(
                "digest {} is revoked: it is never allowed, whatever the rule or signatures",
                image.digest
            ));
            ev.to_pass.push(
                "nothing: a revoked digest never passes; publish and sign a new image".into(),
            );
            return ev;
        }

        let Some(rule) = rule else {
            match self.default {
                DefaultDecision::Allow => {
                    ev.decision = Outcome::AllowDefault;
                    ev.reasons.push(format!(
                        "no rule matches {}; `default: allow` lets it pass",
                        image.repository
                    ));
                }
                DefaultDecision::Deny => {
                    ev.decision = Outcome::Deny;
                    ev.deny_cause = Some(DenyCause::NoMatchingRule);
                    ev.reasons.push(format!(
                        "no rule matches {}; `default: deny` refuses it",
                        image.repository
                    ));
                    ev.to_pass
                        .push(format!("a rule whose images match {}", image.repository));
                }
            }
            return ev;
        };

        let mut failed = false;
        if let Some(pins) = &rule.digests
            && !pins.contains(&image.digest)
        {
            failed = true;
            ev.deny_cause = Some(DenyCause::DigestNotPinned);
            ev.reasons.push(format!(
                "digest {} is not among the {} digest{} pinned by rule \"{}\"",
                image.digest,
                pins.len(),
                if pins.len() == 1 { "" } else { "s" },
                rule.name
            ));
            ev.to_pass.push(format!(
                "one of the digests pinned by rule \"{}\" (add {} to its `digests` if this image is intended)",
                rule.name, image.digest
            ));
        }
        match &rule.kind {
            RuleKind::Allow(AllowKind::Always) => {
                ev.reasons.push(format!(
                    "rule \"{}\" allows every image without a signature (`allow: always`, an explicit opt-out)",
                    rule.name
                ));
                if !failed {
                    ev.decision = Outcome::AllowAlways;
                }
            }
            RuleKind::Allow(AllowKind::Pinned) => {
                if !failed {
                    ev.decision = Outcome::AllowPinned;
                    ev.reasons.push(format!(
                        "digest {} is pinned by rule \"{}\" (`allow: pinned`, no signature needed)",
                        image.digest, rule.name
                    ));
                }
            }
            RuleKind::Require(req) => {
                let counted = ev.signers_counted.len();
                if counted >= req.threshold {
                    ev.reasons.push(format!(
                        "{counted} distinct signer{} counted ({}), threshold {}",
                        if counted == 1 { "" } else { "s" },
                        quoted_list(&ev.signers_counted),
                        req.threshold
                    ));
                    if !failed {
                        ev.decision = Outcome::Allow;
                    }
                } else {
                    failed = true;
                    ev.deny_cause.get_or_insert(DenyCause::NotEnoughSigners);
                    ev.reasons.push(format!(
                        "{counted} distinct signer{} counted{}, threshold {}",
                        if counted == 1 { "" } else { "s" },
                        if counted == 0 {
                            String::new()
                        } else {
                            format!(" ({})", quoted_list(&ev.signers_counted))
                        },
                        req.threshold
                    ));
                    let missing: Vec<&String> = req
                        .signers
                        .iter()
                        .filter(|s| !ev.signers_counted.contains(s))
                        .collect();
                    let needed = req.threshold - counted;
                    let from = if missing.len() == 1 {
                        format!("\"{}\"", missing[0])
                    } else if needed == missing.len() {
                        format!("each of {}", quoted_list(&missing))
                    } else if needed == 1 {
                        format!("one of {}", quoted_list(&missing))
                    } else {
                        format!("{needed} of {}", quoted_list(&missing))
                    };
                    ev.to_pass.push(format!(
                        "a valid signature from {from} ({needed} more distinct signer{} needed)",
                        if needed == 1 { "" } else { "s" }
                    ));
                    for name in missing {
                        if let Some(notes) = signer_notes.get(name) {
                            for note in notes {
                                ev.to_pass.push(format!("\"{name}\" signed, but {note}"));
                            }
                        }
                    }
                }
                for rule_attestation in &req.attestations {
                    let verdict = self.judge_attestation(rule_attestation, image, at);
                    if verdict.passed {
                        ev.reasons.push(verdict.reason.clone());
                    } else {
                        failed = true;
                        ev.deny_cause.get_or_insert(DenyCause::AttestationFailed);
                        ev.reasons.push(format!(
                            "attestation {}: {}",
                            rule_attestation.written_type, verdict.reason
                        ));
                        ev.to_pass.push(format!(
                            "a verified {} attestation of {} by {}{}{}",
                            rule_attestation.written_type,
                            image.digest,
                            quoted_list(&rule_attestation.signers),
                            rule_attestation
                                .max_age
                                .map(|a| format!(
                                    ", at most {} old",
                                    vouch_attest::judge::human_age(a)
                                ))
                                .unwrap_or_default(),
                            if rule_attestation.condition.is_some() {
                                ", meeting its condition"
                            } else {
                                ""
                            }
                        ));
                    }
                    ev.attestations.push(verdict);
                }
            }
        }
        if failed {
            match rule.mode {
                Mode::Enforce => ev.decision = Outcome::Deny,
                Mode::Warn => {
                    ev.decision = Outcome::Warn;
                    ev.reasons.push(format!(
                        "rule \"{}\" is in warn mode: the deny is reported, not enforced",
                        rule.name
                    ));
                }
            }
        } else {
            ev.to_pass.clear();
        }
        ev
    }

    /// Judges one `require.attestations` entry: the image's attestations, each counted for the
    /// signers its key or identity belongs to (not revoked, valid at `at`).
    fn judge_attestation(
        &self,
        rule: &crate::model::AttestationRule,
        image: &ImageFacts,
        at: Timestamp,
    ) -> AttestationVerdict {
        let statements: Vec<vouch_attest::VerifiedStatement> = image
            .attestations
            .iter()
            .map(|a| {
                let owners: Vec<usize> = match &a.keyless {
                    Some(id) => self.keyless_owners(&id.issuer, &id.subject),
                    None if self.revoked_keys.contains(&a.key_id) => Vec::new(),
                    None => self.key_owners.get(&a.key_id).cloned().unwrap_or_default(),
                };
                let accepts_unlogged = |i: &usize| {
                    self.signers[*i].keyless.as_ref().is_some_and(|k| {
                        k.transparency_log == crate::model::TransparencyLog::Optional
                    })
                };
                vouch_attest::VerifiedStatement {
                    statement: a.statement.clone(),
                    signers: owners
                        .into_iter()
                        .filter(|i| !a.unlogged || accepts_unlogged(i))
                        .filter(|&i| self.signers[i].valid_at(at))
                        .map(|i| self.signers[i].name.clone())
                        .collect(),
                    signed_at: a.signed_at.map(Timestamp::unix),
                    source: a.source.clone(),
                }
            })
            .collect();
        let requirement = vouch_attest::AttestationRequirement {
            predicate_type: rule.predicate_type.clone(),
            signers: rule.signers.clone(),
            max_age: rule.max_age,
            condition: rule.condition.clone(),
        };
        let decision = match image.digest.parse::<vouch_oci::reference::Digest>() {
            Ok(digest) => vouch_attest::judge::judge(
                &requirement,
                &statements,
                &image.repository,
                &digest,
                at.unix(),
            ),
            Err(_) => vouch_attest::Decision {
                passed: false,
                reason: format!("{} is not a sha256 digest", image.digest),
                statements: Vec::new(),
            },
        };
        AttestationVerdict {
            written_type: rule.written_type.clone(),
            predicate_type: rule.predicate_type.clone(),
            passed: decision.passed,
            reason: decision.reason,
            statements: decision.statements,
        }
    }

    /// A signature under a rule that needs none, or when no rule applies.
    fn unrequired(&self, s: &SignatureFact, rule: Option<&Rule>) -> SignatureVerdict {
        let owner = self
            .owners(s)
            .first()
            .map(|&i| self.signers[i].name.clone());
        let (status, reason) = if owner.is_none() {
            unknown(s)
        } else if s.keyless.is_none() && self.revoked_keys.contains(&s.key_id) {
            (
                SignatureStatus::RevokedKey,
                format!("key {} is revoked", short(&s.key_id)),
            )
        } else {
            let why = match rule {
                Some(r) => format!("rule \"{}\" needs no signature", r.name),
                None => "no rule applies".to_string(),
            };
            (SignatureStatus::NotRequired, why)
        };
        SignatureVerdict {
            index: s.index,
            key_id: s.key_id.clone(),
            identity: s.keyless.clone(),
            log_index: s.log_index,
            signed_at: s.signed_at,
            signer: owner,
            status,
            counted: false,
            reason,
        }
    }

    /// The signers a signature can stand for, ascending: its key's owners, or the signers
    /// whose keyless identity its certificate matches.
    fn owners(&self, s: &SignatureFact) -> Vec<usize> {
        match &s.keyless {
            Some(id) => self.keyless_owners(&id.issuer, &id.subject),
            None => self.key_owners.get(&s.key_id).cloned().unwrap_or_default(),
        }
    }

    /// Judges each signature against a `require` rule and counts distinct signers: the largest
    /// number of the rule's signers that distinct valid keys can stand for (a bipartite
    /// matching, since a key listed under two signers counts for one of them only).
    fn judge_signatures(
        &self,
        rule: &Rule,
        req: &Requirement,
        image: &ImageFacts,
        at: Timestamp,
        ev: &mut Evaluation,
        notes: &mut HashMap<String, Vec<String>>,
    ) {
        // Rule signers as policy signer indexes, in the rule's order.
        let rule_signers: Vec<usize> = req
            .signers
            .iter()
            .filter_map(|n| self.signers.iter().position(|s| &s.name == n))
            .collect();
        let mut verdicts: Vec<Option<SignatureVerdict>> = Vec::new();
        // Valid signatures: (position in verdicts, credential) and each credential's
        // eligible signers. A credential is a key, or a keyless identity.
        let creds: Vec<String> = image.signatures.iter().map(credential_id).collect();
        let mut valid: Vec<(usize, &str)> = Vec::new();
        let mut keys: Vec<&str> = Vec::new();
        let mut eligible: Vec<Vec<usize>> = Vec::new();
        for (s, cred) in image.signatures.iter().zip(&creds) {
            let owners = self.owners(s);
            let verdict = |status, signer: Option<&str>, reason: String| SignatureVerdict {
                index: s.index,
                key_id: s.key_id.clone(),
                identity: s.keyless.clone(),
                log_index: s.log_index,
                signed_at: s.signed_at,
                signer: signer.map(str::to_string),
                status,
                counted: false,
                reason,
            };
            let Some(&first) = owners.first() else {
                let (status, reason) = unknown(s);
                verdicts.push(Some(verdict(status, None, reason)));
                continue;
            };
            let first_owner = self.signers[first].name.as_str();
            if s.keyless.is_none() && self.revoked_keys.contains(&s.key_id) {
                verdicts.push(Some(verdict(
                    SignatureStatus::RevokedKey,
                    Some(first_owner),
                    format!("key {} is revoked", short(&s.key_id)),
                )));
                continue;
            }
            let in_rule: Vec<usize> = rule_signers
                .iter()
                .copied()
                .filter(|i| owners.contains(i))
                .collect();
            let Some(&rule_owner) = in_rule.first() else {
                verdicts.push(Some(verdict(
                    SignatureStatus::UntrustedByRule,
                    Some(first_owner),
                    format!(
                        "{} of signer \"{first_owner}\" is not trusted by rule \"{}\"",
                        credential(s),
                        rule.name
                    ),
                )));
                continue;
            };
            let in_window: Vec<usize> = in_rule
                .iter()
                .copied()
                .filter(|&i| self.signers[i].valid_at(at))
                .collect();
            if in_window.is_empty() {
                let signer = &self.signers[rule_owner];
                let reason = match (signer.not_before, signer.not_after) {
                    (_, Some(na)) if at > na => {
                        format!("signer \"{}\" expired at {na}", signer.name)
                    }
                    (Some(nb), _) => format!("signer \"{}\" is not valid before {nb}", signer.name),
                    _ => format!("signer \"{}\" is not valid at {at}", signer.name),
                };
                push_note(
                    notes,
                    &signer.name,
                    &format!("signature #{} was refused: {reason}", s.index),
                );
                verdicts.push(Some(verdict(
                    SignatureStatus::OutsideValidity,
                    Some(&signer.name),
                    reason,
                )));
                continue;
            }
            // An unlogged keyless signature stands only for signers that accept it.
            let in_window: Vec<usize> = if s.unlogged {
                in_window
                    .into_iter()
                    .filter(|&i| {
                        self.signers[i].keyless.as_ref().is_some_and(|k| {
                            k.transparency_log == crate::model::TransparencyLog::Optional
                        })
                    })
                    .collect()
            } else {
                in_window
            };
            let Some(&first_in_window) = in_window.first() else {
                let reason = format!(
                    "{} has no transparency-log entry, and signer \"{}\" accepts only logged signatures (`transparency_log: optional` under its `keyless` would accept it)",
                    credential(s),
                    self.signers[rule_owner].name
                );
                push_note(
                    notes,
                    &self.signers[rule_owner].name,
                    &format!("signature #{} was refused: {reason}", s.index),
                );
                verdicts.push(Some(verdict(
                    SignatureStatus::Unlogged,
                    Some(&self.signers[rule_owner].name),
                    reason,
                )));
                continue;
            };
            let signer_name = self.signers[first_in_window].name.as_str();
            if let Some(reason) = identity_mismatch(req.identity, image, s, &rule.name) {
                for &i in &in_window {
                    push_note(
                        notes,
                        &self.signers[i].name,
                        &format!("signature #{} was refused: {reason}", s.index),
                    );
                }
                verdicts.push(Some(verdict(
                    SignatureStatus::IdentityMismatch,
                    Some(signer_name),
                    reason,
                )));
                continue;
            }
            if let Some(reason) = annotation_mismatch(&req.annotations, &s.annotations) {
                for &i in &in_window {
                    push_note(
                        notes,
                        &self.signers[i].name,
                        &format!("signature #{} was refused: {reason}", s.index),
                    );
                }
                verdicts.push(Some(verdict(
                    SignatureStatus::AnnotationMismatch,
                    Some(signer_name),
                    reason,
                )));
                continue;
            }
            if !keys.contains(&cred.as_str()) {
                keys.push(cred.as_str());
                eligible.push(in_window);
            }
            valid.push((verdicts.len(), cred.as_str()));
            verdicts.push(None);
        }

        let key_signer = max_matching(&eligible, self.signers.len());
        let mut used = vec![false; keys.len()];
        for (slot, key) in valid {
            let k = keys.iter().position(|x| *x == key).unwrap_or(0);
            let s = &image.signatures[slot];
            let (status, signer, reason) = match key_signer[k] {
                Some(si) if !used[k] => {
                    used[k] = true;
                    let name = &self.signers[si].name;
                    (
                        SignatureStatus::Counted,
                        name.clone(),
                        format!("counted for signer \"{name}\""),
                    )
                }
                Some(si) => {
                    let name = &self.signers[si].name;
                    (
                        SignatureStatus::KeyAlreadyCounted,
                        name.clone(),
                        format!("{} already counted for signer \"{name}\"", credential(s)),
                    )
                }
                None => {
                    let name = &self.signers[eligible[k][0]].name;
                    (
                        SignatureStatus::SignerAlreadyCounted,
                        name.clone(),
                        format!("signer \"{name}\" already counted through another key"),
                    )
                }
            };
            verdicts[slot] = Some(SignatureVerdict {
                index: s.index,
                key_id: s.key_id.clone(),
                identity: s.keyless.clone(),
                log_index: s.log_index,
                signed_at: s.signed_at,
                signer: Some(signer),
                counted: status == SignatureStatus::Counted,
                status,
                reason,
            });
        }
        ev.signatures = verdicts.into_iter().flatten().collect();
        let matched: Vec<usize> = key_signer.iter().flatten().copied().collect();
        ev.signers_counted = rule_signers
            .iter()
            .filter(|i| matched.contains(i))
            .map(|&i| self.signers[i].name.clone())
            .collect();
    }
}

/// The verdict on a signature no signer of the policy stands for.
fn unknown(s: &SignatureFact) -> (SignatureStatus, String) {
    match &s.keyless {
        Some(id) => (
            SignatureStatus::UnknownIdentity,
            format!(
                "identity {:?} ({}) matches no keyless signer of the policy",
                id.subject, id.issuer
            ),
        ),
        None => (
            SignatureStatus::UnknownKey,
            format!("key {} is not in the policy", short(&s.key_id)),
        ),
    }
}

fn push_note(notes: &mut HashMap<String, Vec<String>>, signer: &str, note: &str) {
    let list = notes.entry(signer.to_string()).or_default();
    if !list.iter().any(|n| n == note) {
        list.push(note.to_string());
    }
}

fn identity_mismatch(
    mode: Identity,
    image: &ImageFacts,
    s: &SignatureFact,
    rule: &str,
) -> Option<String> {
    let names = |repo: &Option<String>, tag: &Option<String>| match (repo, tag) {
        (None, _) => "no repository".to_string(),
        (Some(r), None) => r.clone(),
        (Some(r), Some(t)) => format!("{r}:{t}"),
    };
    let repo_ok = s.payload_repository.as_deref() == Some(image.repository.as_str());
    match mode {
        Identity::Any => None,
        Identity::Repository => (!repo_ok).then(|| {
            format!(
                "payload names {}, rule \"{rule}\" requires {}",
                names(&s.payload_repository, &None),
                image.repository
            )
        }),
        Identity::Exact => {
            let tag_ok = image.tag.is_none() || s.payload_tag == image.tag;
            (!(repo_ok && tag_ok)).then(|| {
                format!(
                    "payload names {}, rule \"{rule}\" requires exactly {}",
                    names(&s.payload_repository, &s.payload_tag),
                    names(&Some(image.repository.clone()), &image.tag)
                )
            })
        }
    }
}

fn annotation_mismatch(
    required: &BTreeMap<String, String>,
    signed: &BTreeMap<String, String>,
) -> Option<String> {
    let problems: Vec<String> = required
        .iter()
        .filter_map(|(k, v)| match signed.get(k) {
            Some(got) if got == v => None,
            Some(got) => Some(format!("annotation {k}={got}, rule requires {k}={v}")),
            None => Some(format!("annotation {k} missing, rule requires {k}={v}")),
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Maximum bipartite matching of keys to signers (Kuhn's augmenting paths; sizes are tiny).
/// `eligible[k]` lists the signers key `k` may count for. Returns each key's signer.
fn max_matching(eligible: &[Vec<usize>], signers: usize) -> Vec<Option<usize>> {
    fn augment(
        k: usize,
        eligible: &[Vec<usize>],
        owner: &mut [Option<usize>],
        seen: &mut [bool],
    ) -> bool {
        for &s in &eligible[k] {
            if seen[s] {
                continue;
            }
            seen[s] = true;
            let free = match owner[s] {
                None => true,
                Some(other) => augment(other, eligible, owner, seen),
            };
            if free {
                owner[s] = Some(k);
                return true;
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; signers];
    for k in 0..eligible.len() {
        let mut seen = vec![false; signers];
        augment(k, eligible, &mut owner, &mut seen);
    }
    let mut key_signer = vec![None; eligible.len()];
    for (s, k) in owner.iter().enumerate() {
        if let Some(k) = k {
            key_signer[*k] = Some(s);
        }
    }
    key_signer
}

fn describe_rule(rule: &Rule) -> String {
    let mut parts = Vec::new();
    match &rule.kind {
        RuleKind::Allow(AllowKind::Always) => {
            parts.push("no signature (`allow: always`, an explicit opt-out)".to_string());
        }
        RuleKind::Allow(AllowKind::Pinned) => {
            parts.push("no signature, but a pinned digest (`allow: pinned`)".to_string());
        }
        RuleKind::Require(req) => {
            parts.push(format!(
                "{} distinct signer{} among {}",
                req.threshold,
                if req.threshold == 1 { "" } else { "s" },
                quoted_list(&req.signers)
            ));
            parts.push(format!(
                "identity {}",
                match req.identity {
                    Identity::Repository => "repository",
                    Identity::Exact => "exact",
                    Identity::Any => "any",
                }
            ));
            if !req.annotations.is_empty() {
                let a: Vec<String> = req
                    .annotations
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                parts.push(format!("annotations {}", a.join(", ")));
            }
            for a in &req.attestations {
                let mut what = format!(
                    "a {} attestation ({}) by {}",
                    a.written_type,
                    a.predicate_type,
                    quoted_list(&a.signers)
                );
                if let Some(age) = a.max_age {
                    what.push_str(&format!(
                        ", at most {} old",
                        vouch_attest::judge::human_age(age)
                    ));
                }
                if let Some(c) = &a.condition {
                    what.push_str(&format!(", where {}", c.source().trim()));
                }
                what.push_str(" (the newest decides)");
                parts.push(what);
            }
        }
    }
    if let Some(d) = &rule.digests {
        parts.push(format!(
            "only the {} pinned digest{}",
            d.len(),
            if d.len() == 1 { "" } else { "s" }
        ));
    }
    if rule.mode == Mode::Warn {
        parts.push("warn mode: denies are reported, not enforced".to_string());
    }
    parts.join("; ")
}

/// Judges a platform image chosen from an index the user named: it passes if it satisfies the
/// rule itself, or if the index (evaluated against the same rule) does. A revoked child digest
/// is refused whatever the index says. `index` is `None` when the user named the child directly.
pub fn combine_platform(child: &Evaluation, index: Option<&Evaluation>) -> Evaluation {
    let revoked = child.deny_cause == Some(DenyCause::RevokedDigest);
    match index {
        Some(ix) if !revoked && !child.decision.is_allow() && ix.decision.is_allow() => {
            let mut ev = child.clone();
            ev.decision = ix.decision;
            ev.deny_cause = None;
            ev.to_pass.clear();
            ev.via_index = Some(ix.digest.clone());
            ev.reasons.push(format!(
                "allowed through the index {} it was selected from, which satisfies the rule ({})",
                ix.digest, ix.decision
            ));
            ev
        }
        _ => child.clone(),
    }
}

/// The overall outcome of several evaluations (`--all-platforms`): the worst of them (deny,
/// then warn, then the first allow). `None` for an empty list.
pub fn overall(evaluations: &[Evaluation]) -> Option<Outcome> {
    evaluations
        .iter()
        .map(|e| e.decision)
        .min_by_key(|o| o.rank())
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.repository)?;
        match &self.rule {
            None => writeln!(f, "  rule:      none")?,
            Some(r) => {
                writeln!(
                    f,
                    "  rule:      \"{}\" (rule #{}), pattern \"{}\"",
                    r.name,
                    r.index + 1,
                    r.pattern
                )?;
                writeln!(f, "  why:       {}", r.why_it_won)?;
                for a in &r.also_matched {
                    writeln!(f, "  also:      \"{}\" via \"{}\"", a.rule, a.pattern)?;
                }
            }
        }
        writeln!(f, "  requires:  {}", self.requires)
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = self
            .tag
            .as_ref()
            .map(|t| format!(" (tag {t})"))
            .unwrap_or_default();
        writeln!(
            f,
            "{}@{}{tag}: {}",
            self.repository,
            self.digest,
            self.decision.as_str().to_uppercase()
        )?;
        match &self.rule {
            None => writeln!(f, "  rule: none matched")?,
            Some(r) => writeln!(
                f,
                "  rule: \"{}\" via \"{}\": {}",
                r.name, r.pattern, r.why_it_won
            )?,
        }
        for s in &self.signatures {
            let signer = s
                .signer
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            let who = match &s.identity {
                Some(id) => {
                    let log = match (s.log_index, s.signed_at) {
                        (Some(i), Some(t)) => format!(", log index {i}, signed {t}"),
                        (Some(i), None) => format!(", log index {i}"),
                        (None, Some(t)) => format!(", not logged, timestamped {t}"),
                        (None, None) => ", not logged".to_string(),
                    };
                    format!("identity {:?} from {}{log}", id.subject, id.issuer)
                }
                None => format!("key {}", short(&s.key_id)),
            };
            writeln!(
                f,
                "  signature #{} {who}{signer}: {}: {}",
                s.index,
                if s.counted { "counted" } else { "not counted" },
                s.reason
            )?;
        }
        for r in &self.reasons {
            writeln!(f, "  reason: {r}")?;
        }
        for t in &self.to_pass {
            writeln!(f, "  to pass: {t}")?;
        }
        Ok(())
    }
}
