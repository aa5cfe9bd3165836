//! Reading a cases file: each case's image, signatures and expected outcome, checked against
//! the policy's signer and rule names. Every problem is a diagnostic.

use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::eval::{AttestationFact, ImageFacts, KeylessIdentity, SignatureFact};
use crate::fields::{
    Fields, boolean, expect_map, expect_seq, not_a_digest, not_a_key_id, string, string_map,
    timestamp,
};
use crate::model::{Keyless, Policy, Signer, SubjectMatcher};
use crate::time::Timestamp;
use crate::util::{did_you_mean, is_digest, is_hex64};
use crate::yaml::{Kind, Node, ScalarType, parse_tree};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A reference split by the caller's normalizer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageName {
    /// Normalized repository: `docker.io/library/alpine`.
    pub repository: String,
    /// The tag, if the reference had one.
    pub tag: Option<String>,
    /// The digest, if the reference had one.
    pub digest: Option<String>,
}

/// What [`crate::run_cases`] needs from the caller.
pub struct CaseOptions<'a> {
    /// The instant for cases that give no `at` (neither per case nor at the top).
    pub now: Timestamp,
    /// Normalizes a reference like `alpine:3` (the CLI's reference parser).
    pub normalize: &'a dyn Fn(&str) -> Result<ImageName, String>,
}

/// The digest judged when a case gives none.
pub const PLACEHOLDER_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The rule a case expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectedRule {
    /// `rule: null`: no rule matches.
    NoRule,
    /// This rule applies.
    Rule(String),
}

/// One case, read and checked, ready to run.
pub(crate) struct Case {
    pub name: String,
    pub span: Span,
    pub facts: ImageFacts,
    pub at: Option<Timestamp>,
    pub expect: String,
    pub rule: Option<ExpectedRule>,
}

const DECISIONS: &[&str] = &[
    "allow",
    "deny",
    "warn",
    "allow-pinned",
    "allow-always",
    "allow-default",
];

/// Reads every case of a cases file. Fails with every error found (and the warnings); on
/// success returns the cases, in file order, and the warnings.
pub(crate) fn read_cases(
    policy: &Policy,
    cases_source: &str,
    options: &CaseOptions<'_>,
) -> Result<(Vec<Case>, Vec<Diagnostic>), Diagnostics> {
    let mut d = Vec::new();
    let Some(root) = parse_tree(cases_source, &mut d) else {
        return Err(Diagnostics(d));
    };
    let mut cases = Vec::new();
    if let Some(top) = expect_map(&root, "the cases file", &mut d) {
        let f = Fields::new(top, &["at", "cases"], "the cases file", &mut d);
        let default_at = f
            .optional("at")
            .and_then(|n| string(n, "`at`", &mut d))
            .and_then(|s| timestamp(&s, &mut d));
        if let Some(list) = f.required("cases", root.span, "the cases file", &mut d)
            && let Some(items) = expect_seq(list, "`cases`", &mut d)
        {
            if items.is_empty() {
                d.push(
                    Diagnostic::new("empty-list", list.span, "the cases file has no cases")
                        .with_label("empty"),
                );
            }
            let mut names: HashMap<String, Span> = HashMap::new();
            for item in items {
                if let Some(mut case) = read_case(item, policy, options, &mut names, &mut d) {
                    case.at = case.at.or(default_at);
                    cases.push(case);
                }
            }
        }
    }
    let mut diags = Diagnostics(d);
    diags.sort();
    if diags.has_errors() {
        return Err(diags);
    }
    Ok((cases, diags.0))
}

fn read_case(
    node: &Node,
    policy: &Policy,
    options: &CaseOptions<'_>,
    names: &mut HashMap<String, Span>,
    d: &mut Vec<Diagnostic>,
) -> Option<Case> {
    let entries = expect_map(node, "a case", d)?;
    let before = d.len();
    let f = Fields::new(
        entries,
        &[
            "name",
            "image",
            "digest",
            "at",
            "signatures",
            "attestations",
            "expect",
        ],
        "a case",
        d,
    );
    let name = f
        .required("name", node.span, "a case", d)
        .and_then(|n| string(n, "a case's `name`", d));
    if let Some(n) = &name {
        if let Some(first) = names.get(&n.value) {
            d.push(
                Diagnostic::new(
                    "duplicate-entry",
                    n.span,
                    format!("two cases are named \"{}\"", n.value),
                )
                .with_label("second case with this name")
                .with_secondary(*first, "first case"),
            );
        } else {
            names.insert(n.value.clone(), n.span);
        }
    }
    let image = f
        .required("image", node.span, "a case", d)
        .and_then(|n| string(n, "`image`", d));
    let normalized = image
        .as_ref()
        .and_then(|img| match (options.normalize)(&img.value) {
            Ok(n) => Some(n),
            Err(e) => {
                d.push(
                    Diagnostic::new(
                        "bad-reference",
                        img.span,
                        format!("bad image reference \"{}\": {e}", img.value),
                    )
                    .with_label("bad reference"),
                );
                None
            }
        });
    let digest_field = f.optional("digest").and_then(|n| string(n, "`digest`", d));
    if let Some(dg) = &digest_field
        && !is_digest(&dg.value)
    {
        d.push(not_a_digest(dg));
    }
    let at = f
        .optional("at")
        .and_then(|n| string(n, "`at`", d))
        .and_then(|s| timestamp(&s, d));
    let mut signatures = Vec::new();
    if let Some(list) = f.optional("signatures")
        && let Some(items) = expect_seq(list, "`signatures`", d)
    {
        for (index, item) in items.iter().enumerate() {
            if let Some(sig) = read_signature(item, index, policy, options, d) {
                signatures.push(sig);
            }
        }
    }
    let mut attestations = Vec::new();
    if let Some(list) = f.optional("attestations")
        && let Some(items) = expect_seq(list, "`attestations`", d)
    {
        for (index, item) in items.iter().enumerate() {
            if let Some(a) = read_attestation(item, index, policy, d) {
                attestations.push(a);
            }
        }
    }
    let mut expect = None;
    let mut rule = None;
    if let Some(e) = f.required("expect", node.span, "a case", d)
        && let Some(entries) = expect_map(e, "`expect`", d)
    {
        let ef = Fields::new(entries, &["decision", "rule"], "`expect`", d);
        if let Some(dn) = ef.required("decision", e.span, "`expect`", d)
            && let Some(word) = string(dn, "`decision`", d)
        {
            if DECISIONS.contains(&word.value.as_str()) {
                expect = Some(word);
            } else {
                let hint = did_you_mean(&word.value, DECISIONS.iter().copied())
                    .map(|m| format!("did you mean `{m}`?"));
                d.push(
                    Diagnostic::new(
                        "unknown-value",
                        word.span,
                        format!(
                            "`decision` must be one of {}, not \"{}\"",
                            DECISIONS.join(", "),
                            word.value
                        ),
                    )
                    .with_label("unknown value")
                    .with_hint_opt(hint),
                );
            }
        }
        // `rule: null` (or `rule:`) expects no rule; an absent `rule` is not checked.
        if let Some((_, rn)) = entries.iter().find(|(k, _)| k.as_str() == Some("rule")) {
            if rn.is_null() {
                rule = Some(ExpectedRule::NoRule);
            } else if let Some(r) = string(rn, "`rule`", d) {
                if policy.rule(&r.value).is_none() {
                    let names: Vec<&str> = policy.rules().iter().map(|r| r.name.as_str()).collect();
                    let hint = did_you_mean(&r.value, names.iter().copied())
                        .map(|m| format!("did you mean \"{m}\"?"));
                    d.push(
                        Diagnostic::new(
                            "unknown-rule",
                            r.span,
                            format!("the policy has no rule named \"{}\"", r.value),
                        )
                        .with_label("not a rule of the policy")
                        .with_hint_opt(hint),
                    );
                }
                rule = Some(ExpectedRule::Rule(r.value));
            }
        }
    }
    if d.len() > before && d[before..].iter().any(Diagnostic::is_error) {
        return None;
    }
    let name = name?;
    let normalized = normalized?;
    let expect = expect?;
    let mut facts = ImageFacts {
        repository: normalized.repository.clone(),
        tag: normalized.tag.clone(),
        digest: digest_field
            .map(|d| d.value)
            .or(normalized.digest)
            .unwrap_or_else(|| PLACEHOLDER_DIGEST.to_string()),
        signatures: Vec::new(),
        attestations: Vec::new(),
    };
    for a in attestations {
        // By default an attestation is about the digest judged.
        let about = a.digest.unwrap_or_else(|| facts.digest.clone());
        let hex = about.trim_start_matches("sha256:").to_string();
        facts.attestations.push(AttestationFact {
            statement: vouch_attest::Statement {
                statement_type: vouch_attest::statement::STATEMENT_V1.to_string(),
                subject: vec![vouch_attest::statement::Subject {
                    name: normalized.repository.clone(),
                    digest: BTreeMap::from([("sha256".to_string(), hex)]),
                }],
                predicate_type: a.predicate_type,
                predicate: a.predicate,
            },
            key_id: a.key_id,
            keyless: a.keyless,
            signed_at: a.signed_at,
            source: format!("case attestation {}", a.index + 1),
            unlogged: false,
        });
    }
    for mut s in signatures {
        // By default a signature names the image as written, so identity checks pass.
        if s.payload_repository.is_none() {
            s.payload_repository = Some(normalized.repository.clone());
            s.payload_tag = normalized.tag.clone();
        }
        facts.signatures.push(s);
    }
    Some(Case {
        name: name.value,
        span: name.span,
        facts,
        at,
        expect: expect.value,
        rule,
    })
}

fn read_signature(
    node: &Node,
    index: usize,
    policy: &Policy,
    options: &CaseOptions<'_>,
    d: &mut Vec<Diagnostic>,
) -> Option<SignatureFact> {
    let entries = expect_map(node, "a signature", d)?;
    let f = Fields::new(
        entries,
        &[
            "signer",
            "key",
            "keyless",
            "annotations",
            "identity",
            "logged",
        ],
        "a signature",
        d,
    );
    let signer = f.optional("signer").and_then(|n| string(n, "`signer`", d));
    let key = f.optional("key").and_then(|n| string(n, "`key`", d));
    let mut keyless = None;
    if let Some(n) = f.optional("keyless") {
        keyless = Some(read_case_keyless(n, d)?);
    }
    if keyless.is_some()
        && let Some(other) = signer.as_ref().or(key.as_ref())
    {
        d.push(
            Diagnostic::new(
                "unknown-key",
                other.span,
                "a signature names one of `signer`, `key` or `keyless`",
            )
            .with_label("here")
            .with_hint("remove all but one of them"),
        );
        return None;
    }
    let key_id = match (signer, key) {
        _ if keyless.is_some() => String::new(),
        (Some(s), None) => match policy.signer(&s.value) {
            Some(signer) if !signer.key_ids.is_empty() => signer.key_ids[0].clone(),
            Some(signer) => match &signer.keyless {
                Some(Keyless {
                    issuer,
                    subject: SubjectMatcher::Subject(subject),
                    ..
                }) => {
                    keyless = Some(KeylessIdentity {
                        issuer: issuer.clone(),
                        subject: subject.clone(),
                    });
                    String::new()
                }
                _ => {
                    d.push(
                        Diagnostic::new(
                            "missing-key",
                            s.span,
                            format!(
                                "signer \"{}\" has no key and no exact keyless subject to sign with",
                                s.value
                            ),
                        )
                        .with_label("cannot stand for this signer")
                        .with_hint("give `keyless: {issuer: …, subject: …}` instead"),
                    );
                    return None;
                }
            },
            None => {
                let names: Vec<&str> = policy.signers().iter().map(|s| s.name.as_str()).collect();
                let hint = did_you_mean(&s.value, names.iter().copied())
                    .map(|m| format!("did you mean \"{m}\"?"));
                d.push(
                    Diagnostic::new(
                        "unknown-signer",
                        s.span,
                        format!("the policy defines no signer \"{}\"", s.value),
                    )
                    .with_label("not a signer of the policy")
                    .with_hint_opt(hint),
                );
                return None;
            }
        },
        (None, Some(k)) => {
            if !is_hex64(&k.value) {
                d.push(not_a_key_id(&k));
                return None;
            }
            k.value
        }
        (Some(s), Some(_)) => {
            d.push(
                Diagnostic::new(
                    "unknown-key",
                    s.span,
                    "a signature names either `signer` or `key`, not both",
                )
                .with_label("`signer` here")
                .with_hint("remove one of them"),
            );
            return None;
        }
        (None, None) => {
            d.push(
                Diagnostic::new(
                    "missing-key",
                    node.span,
                    "a signature has no `signer` or `key`",
                )
                .with_label("add `signer: NAME`, `key: KEY_ID` or `keyless: {issuer, subject}`"),
            );
            return None;
        }
    };
    let annotations: BTreeMap<String, String> = f
        .optional("annotations")
        .map(|n| string_map(n, "`annotations`", d))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.value, v.value))
        .collect();
    let logged = match f.optional("logged").map(|n| boolean(n, "`logged`", d)) {
        Some(Some(l)) => l.value,
        Some(None) => return None,
        None => true,
    };
    if !logged && keyless.is_none() {
        d.push(
            Diagnostic::new(
                "unknown-key",
                node.span,
                "`logged: false` is for keyless signatures (a key's signature needs no log)",
            )
            .with_label("not a keyless signature"),
        );
        return None;
    }
    let mut sig = SignatureFact {
        key_id,
        keyless,
        payload_repository: None,
        payload_tag: None,
        annotations,
        index,
        unlogged: !logged,
        log_index: None,
        signed_at: None,
    };
    if let Some(id) = f
        .optional("identity")
        .and_then(|n| string(n, "`identity`", d))
    {
        match (options.normalize)(&id.value) {
            Ok(n) => {
                sig.payload_repository = Some(n.repository);
                sig.payload_tag = n.tag;
            }
            Err(e) => {
                d.push(
                    Diagnostic::new(
                        "bad-reference",
                        id.span,
                        format!("bad identity \"{}\": {e}", id.value),
                    )
                    .with_label("bad reference"),
                );
                return None;
            }
        }
    }
    Some(sig)
}

/// A case's attestation, before the digest judged is known.
struct CaseAttestation {
    index: usize,
    key_id: String,
    keyless: Option<KeylessIdentity>,
    predicate_type: String,
    predicate: serde_json::Value,
    digest: Option<String>,
    signed_at: Option<Timestamp>,
}

/// `{signer | key, type, predicate, digest?, signed_at?}`: a verified attestation.
fn read_attestation(
    node: &Node,
    index: usize,
    policy: &Policy,
    d: &mut Vec<Diagnostic>,
) -> Option<CaseAttestation> {
    let entries = expect_map(node, "an attestation", d)?;
    let f = Fields::new(
        entries,
        &["signer", "key", "type", "predicate", "digest", "signed_at"],
        "an attestation",
        d,
    );
    let (key_id, keyless) = match (
        f.optional("signer").and_then(|n| string(n, "`signer`", d)),
        f.optional("key").and_then(|n| string(n, "`key`", d)),
    ) {
        (Some(s), None) => match policy.signer(&s.value) {
            Some(signer) if !signer.key_ids.is_empty() => (signer.key_ids[0].clone(), None),
            Some(Signer {
                keyless:
                    Some(Keyless {
                        issuer,
                        subject: SubjectMatcher::Subject(subject),
                        ..
                    }),
                ..
            }) => (
                String::new(),
                Some(KeylessIdentity {
                    issuer: issuer.clone(),
                    subject: subject.clone(),
                }),
            ),
            _ => {
                d.push(
                    Diagnostic::new(
                        "unknown-signer",
                        s.span,
                        format!(
                            "the policy defines no signer \"{}\" with a key or an exact keyless subject",
                            s.value
                        ),
                    )
                    .with_label("not a signer that can attest"),
                );
                return None;
            }
        },
        (None, Some(k)) if is_hex64(&k.value) => (k.value, None),
        (None, Some(k)) => {
            d.push(not_a_key_id(&k));
            return None;
        }
        _ => {
            d.push(
                Diagnostic::new(
                    "missing-key",
                    node.span,
                    "an attestation names one of `signer` or `key`",
                )
                .with_label("add `signer: NAME` or `key: KEY_ID`"),
            );
            return None;
        }
    };
    let written = f
        .required("type", node.span, "an attestation", d)
        .and_then(|n| string(n, "`type`", d))?;
    let predicate_type = match vouch_attest::predicate::resolve(&written.value) {
        Ok(t) => t,
        Err(e) => {
            d.push(
                Diagnostic::new(
                    "unknown-predicate-type",
                    written.span,
                    format!("an attestation of type {:?}", written.value),
                )
                .with_label("not a predicate type")
                .with_hint(e.to_string()),
            );
            return None;
        }
    };
    let predicate = f
        .optional("predicate")
        .map(yaml_to_json)
        .unwrap_or(serde_json::Value::Null);
    let digest = f.optional("digest").and_then(|n| string(n, "`digest`", d));
    if let Some(dg) = &digest
        && !is_digest(&dg.value)
    {
        d.push(not_a_digest(dg));
        return None;
    }
    let signed_at = f
        .optional("signed_at")
        .and_then(|n| string(n, "`signed_at`", d))
        .and_then(|s| timestamp(&s, d));
    Some(CaseAttestation {
        index,
        key_id,
        keyless,
        predicate_type,
        predicate,
        digest: digest.map(|d| d.value),
        signed_at,
    })
}

/// A YAML value as JSON, with the core schema's types (a predicate written in a case).
fn yaml_to_json(node: &Node) -> serde_json::Value {
    match &node.kind {
        Kind::Seq(items) => serde_json::Value::Array(items.iter().map(yaml_to_json).collect()),
        Kind::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.scalar_text().unwrap_or_default().to_string(),
                        yaml_to_json(v),
                    )
                })
                .collect(),
        ),
        Kind::Scalar { value, .. } => match node.scalar_type() {
            ScalarType::Null => serde_json::Value::Null,
            ScalarType::Bool => serde_json::Value::Bool(value == "true"),
            ScalarType::Int => value
                .parse::<i64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| serde_json::Value::String(value.clone())),
            ScalarType::Float => value
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(
                    || serde_json::Value::String(value.clone()),
                    serde_json::Value::Number,
                ),
            ScalarType::Str => serde_json::Value::String(value.clone()),
        },
    }
}

/// A case signature's `keyless: {issuer, subject}`: a certificate identity.
fn read_case_keyless(node: &Node, d: &mut Vec<Diagnostic>) -> Option<KeylessIdentity> {
    let entries = expect_map(node, "`keyless`", d)?;
    let f = Fields::new(entries, &["issuer", "subject"], "`keyless`", d);
    let issuer = f
        .required("issuer", node.span, "`keyless`", d)
        .and_then(|n| string(n, "`issuer`", d));
    let subject = f
        .required("subject", node.span, "`keyless`", d)
        .and_then(|n| string(n, "`subject`", d));
    Some(KeylessIdentity {
        issuer: issuer?.value,
        subject: subject?.value,
    })
}
