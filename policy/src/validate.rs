//! Stage two: a [`RawPolicy`] checked and compiled into a [`Policy`]: names resolved, keys
//! read, patterns compiled, rule overlaps decided, every problem a diagnostic.

use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::fields::{Sp, not_a_digest, not_a_key_id, timestamp};
use crate::glob::Pattern;
use crate::model::{
    AllowKind, AttestationRule, Keyless, Policy, Requirement, Rule, RuleIndex, RuleKind, Signer,
    SubjectMatcher, SubjectRegex,
};
use crate::schema::{KeySource, RawAttestation, RawKeyless, RawPolicy, RawRule};
use crate::util::{did_you_mean, is_digest, is_hex64};
use std::collections::{BTreeSet, HashMap};

/// Checks a raw policy and compiles it. `resolve` turns each key entry (a path relative to the
/// policy file, or inline PEM) into a key id, or says why it cannot; it is called once per
/// entry, in file order.
///
/// On success the policy carries its warnings ([`Policy::warnings`]). On failure every error and
/// warning found, schema problems from [`crate::parse`] included, is returned in source order.
pub fn validate(
    raw: RawPolicy,
    resolve: &dyn Fn(&KeySource) -> Result<String, String>,
) -> Result<Policy, Diagnostics> {
    validate_with_root(raw, resolve, &|_| Ok(()))
}

/// [`validate`], also checking `trusted_root`: `resolve_root` gets the path as written (the
/// caller reads it relative to the policy file and checks it is a trusted root) and says
/// why it cannot be used (shown as `bad-trusted-root`).
pub fn validate_with_root(
    raw: RawPolicy,
    resolve: &dyn Fn(&KeySource) -> Result<String, String>,
    resolve_root: &dyn Fn(&str) -> Result<(), String>,
) -> Result<Policy, Diagnostics> {
    let mut d = raw.diagnostics.clone();
    if let Some(root) = &raw.trusted_root
        && let Err(message) = resolve_root(&root.value)
    {
        d.push(
            Diagnostic::new("bad-trusted-root", root.span, message)
                .with_label("this trusted root")
                .with_hint("a Sigstore trusted_root.json, relative to the policy file"),
        );
    }
    let (signers, signer_spans) = check_signers(&raw, resolve, &mut d);
    let signer_names: Vec<&str> = signers.iter().map(|s| s.name.as_str()).collect();
    let (rules, complete, used_signers) = check_rules(&raw, &signer_names, &mut d);
    let (revoked_digests, revoked_keys) = check_revoked(&raw, &mut d);
    let exempt_namespaces = check_exempt(&raw, &mut d);

    // Warnings about the whole.
    if !raw.signers_broken {
        for (s, span) in signers.iter().zip(&signer_spans) {
            if !used_signers.contains(&s.name) {
                d.push(
                    Diagnostic::new(
                        "unused-signer",
                        *span,
                        format!("signer \"{}\" is not required by any rule", s.name),
                    )
                    .with_label("unused"),
                );
            }
        }
    }
    if raw.rules.is_empty() {
        d.push(
            Diagnostic::new(
                "no-rules",
                raw.rules_span.unwrap_or(raw.root_span),
                "the policy has no rules, so `default` decides every image",
            )
            .with_label("no rules"),
        );
    }
    crate::overlap::check(
        &rules,
        &complete,
        raw.rules_span.unwrap_or(raw.root_span),
        &mut d,
    );

    let mut diags = Diagnostics(d);
    diags.sort();
    if diags.has_errors() {
        return Err(diags);
    }
    let mut key_owners: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, s) in signers.iter().enumerate() {
        for k in &s.key_ids {
            let owners = key_owners.entry(k.clone()).or_default();
            if !owners.contains(&i) {
                owners.push(i);
            }
        }
    }
    let index = RuleIndex::build(&rules);
    Ok(Policy {
        file_name: raw.file_name,
        signers,
        rules,
        revoked_digests,
        revoked_keys,
        default: raw.default.map(|d| d.value).unwrap_or_default(),
        trusted_root: raw.trusted_root.map(|t| t.value),
        exempt_namespaces,
        warnings: diags.0,
        key_owners,
        index,
    })
}

/// Checks each signer: its name, keys (resolved to key ids), keyless identity and validity
/// window. Returns them with the span of each name.
fn check_signers(
    raw: &RawPolicy,
    resolve: &dyn Fn(&KeySource) -> Result<String, String>,
    d: &mut Vec<Diagnostic>,
) -> (Vec<Signer>, Vec<Span>) {
    let key_sources = raw.key_sources();
    let mut sources = key_sources.iter();

    let mut signers: Vec<Signer> = Vec::new();
    let mut signer_spans: Vec<Span> = Vec::new();
    let mut key_first: HashMap<String, (usize, Span)> = HashMap::new();
    for raw_signer in &raw.signers {
        let name = &raw_signer.name;
        if !valid_signer_name(&name.value) {
            d.push(
                Diagnostic::new(
                    "bad-name",
                    name.span,
                    format!("signer name \"{}\" is not allowed", name.value),
                )
                .with_label("bad name")
                .with_hint("use letters, digits, `.`, `_` and `-` (at most 128)"),
            );
        }
        let si = signers.len();
        let mut key_ids = Vec::new();
        if let Some(keys) = &raw_signer.keys {
            if keys.value.is_empty() {
                d.push(
                    Diagnostic::new(
                        "empty-list",
                        keys.span,
                        format!("signer \"{}\" has no keys", name.value),
                    )
                    .with_label("empty"),
                );
            }
            for key in &keys.value {
                let Some(source) = sources.next() else {
                    break;
                };
                let id = match resolve(source) {
                    Ok(id) if is_hex64(&id) => id,
                    Ok(id) => {
                        d.push(
                            Diagnostic::new(
                                "bad-key",
                                key.span,
                                format!("the key resolved to a malformed key id {id:?}"),
                            )
                            .with_label("this key"),
                        );
                        continue;
                    }
                    Err(message) => {
                        d.push(Diagnostic::new("bad-key", key.span, message).with_label(
                            if source.inline {
                                "this inline key"
                            } else {
                                "this key file"
                            },
                        ));
                        continue;
                    }
                };
                match key_first.get(&id) {
                    Some(&(owner, first)) if owner == si => d.push(
                        Diagnostic::new(
                            "duplicate-entry",
                            key.span,
                            format!("signer \"{}\" lists the same key twice", name.value),
                        )
                        .with_label("same key again")
                        .with_secondary(first, "first listed here"),
                    ),
                    Some(&(owner, first)) => {
                        d.push(
                            Diagnostic::new(
                                "shared-key",
                                key.span,
                                format!(
                                    "this key is also listed under signer \"{}\"; it counts for one of them only",
                                    signers[owner].name
                                ),
                            )
                            .with_label("same key")
                            .with_secondary(first, format!("under \"{}\"", signers[owner].name))
                            .with_hint("give each signer its own keys"),
                        );
                        key_ids.push(id);
                    }
                    None => {
                        key_first.insert(id.clone(), (si, key.span));
                        key_ids.push(id);
                    }
                }
            }
        }
        let keyless = raw_signer
            .keyless
            .as_ref()
            .and_then(|k| check_keyless(k, &name.value, d));
        let not_before = raw_signer.not_before.as_ref().and_then(|t| timestamp(t, d));
        let not_after = raw_signer.not_after.as_ref().and_then(|t| timestamp(t, d));
        if let (Some(nb), Some(na), Some(nb_sp), Some(na_sp)) = (
            not_before,
            not_after,
            &raw_signer.not_before,
            &raw_signer.not_after,
        ) && nb >= na
        {
            d.push(
                Diagnostic::new(
                    "empty-window",
                    na_sp.span,
                    format!(
                        "signer \"{}\" is never valid: `not_after` is not later than `not_before`",
                        name.value
                    ),
                )
                .with_label(format!("{na}"))
                .with_secondary(nb_sp.span, format!("{nb}")),
            );
        }
        signers.push(Signer {
            name: name.value.clone(),
            key_ids,
            keyless,
            not_before,
            not_after,
        });
        signer_spans.push(name.span);
    }
    (signers, signer_spans)
}

/// Checks a signer's `keyless` identity; `None` when some part of it is unusable.
fn check_keyless(k: &RawKeyless, signer: &str, d: &mut Vec<Diagnostic>) -> Option<Keyless> {
    let issuer = match &k.issuer {
        Some(i) if valid_issuer(&i.value) => Some(i.value.clone()),
        Some(i) => {
            d.push(
                Diagnostic::new(
                    "bad-issuer",
                    i.span,
                    format!(
                        "the keyless issuer of signer \"{signer}\" is not a URL: {:?}",
                        i.value
                    ),
                )
                .with_label("not an issuer URL")
                .with_hint("the OIDC issuer, e.g. https://token.actions.githubusercontent.com"),
            );
            None
        }
        None => None,
    };
    let subject = match (&k.subject, &k.subject_regex) {
        (Some(s), Some(r)) => {
            d.push(
                Diagnostic::new(
                    "subject-conflict",
                    r.span,
                    format!("the keyless identity of signer \"{signer}\" gives both `subject` and `subject_regex`"),
                )
                .with_label("`subject_regex` here")
                .with_secondary(s.span, "`subject` here")
                .with_hint("keep one: `subject` matches exactly, `subject_regex` matches the whole subject"),
            );
            None
        }
        (None, None) => {
            d.push(
                Diagnostic::new(
                    "missing-key",
                    k.span,
                    format!("the keyless identity of signer \"{signer}\" has no `subject` or `subject_regex`"),
                )
                .with_label("add `subject` or `subject_regex`"),
            );
            None
        }
        (Some(s), None) => {
            let v = &s.value;
            if v.is_empty() || v.trim() != v || v.chars().any(char::is_control) {
                d.push(
                    Diagnostic::new(
                        "bad-subject",
                        s.span,
                        format!("the keyless subject of signer \"{signer}\" is empty or has surrounding spaces or control characters"),
                    )
                    .with_label("bad subject")
                    .with_hint("the certificate identity, e.g. an email or a workflow URL"),
                );
                None
            } else {
                Some(SubjectMatcher::Subject(v.clone()))
            }
        }
        (None, Some(r)) => match SubjectRegex::new(&r.value) {
            Ok(re) => Some(SubjectMatcher::SubjectRegex(re)),
            Err(e) => {
                d.push(
                    Diagnostic::new(
                        "bad-regex",
                        r.span,
                        format!("the subject_regex of signer \"{signer}\" does not compile"),
                    )
                    .with_label("bad regex")
                    .with_hint(e.lines().last().unwrap_or_default().trim().to_string()),
                );
                None
            }
        },
    };
    Some(Keyless {
        issuer: issuer?,
        subject: subject?,
        transparency_log: k
            .transparency_log
            .as_ref()
            .map(|t| t.value)
            .unwrap_or_default(),
    })
}

/// Checks each rule and that names are unique. Returns the usable rules, whether each was read
/// completely (for the overlap analysis), and every signer name some rule requires.
fn check_rules(
    raw: &RawPolicy,
    signer_names: &[&str],
    d: &mut Vec<Diagnostic>,
) -> (Vec<Rule>, Vec<bool>, BTreeSet<String>) {
    let mut rules: Vec<Rule> = Vec::new();
    let mut complete: Vec<bool> = Vec::new();
    let mut rule_names: HashMap<String, Span> = HashMap::new();
    let mut used_signers: BTreeSet<String> = BTreeSet::new();
    for (index, rr) in raw.rules.iter().enumerate() {
        let (rule, ok) = check_rule(rr, index, signer_names, raw.signers_broken, d);
        if let Some(req) = &rr.require
            && let Some(list) = &req.value.signers
        {
            used_signers.extend(list.value.iter().map(|s| s.value.clone()));
        }
        if let Some(req) = &rr.require {
            for a in &req.value.attestations {
                if let Some(list) = &a.signers {
                    used_signers.extend(list.value.iter().map(|s| s.value.clone()));
                }
            }
        }
        let Some(rule) = rule else {
            continue;
        };
        if let Some(first) = rule_names.get(&rule.name) {
            d.push(
                Diagnostic::new(
                    "duplicate-rule",
                    rule.span,
                    format!("two rules are named \"{}\"", rule.name),
                )
                .with_label("second rule with this name")
                .with_secondary(*first, "first rule with this name")
                .with_hint("rule names identify rules in reports and tests: make them unique"),
            );
        } else {
            rule_names.insert(rule.name.clone(), rule.span);
        }
        rules.push(rule);
        complete.push(ok);
    }
    (rules, complete, used_signers)
}

/// Checks one rule. Returns it when it is usable for the overlap analysis, and whether it was
/// read completely (every field well-formed).
fn check_rule(
    rr: &RawRule,
    index: usize,
    signer_names: &[&str],
    signers_broken: bool,
    d: &mut Vec<Diagnostic>,
) -> (Option<Rule>, bool) {
    let mut ok = !rr.broken;
    let name = match &rr.name {
        Some(n) if valid_rule_name(&n.value) => Some(n),
        Some(n) => {
            d.push(
                Diagnostic::new(
                    "bad-name",
                    n.span,
                    format!("rule name {:?} is not allowed", n.value),
                )
                .with_label("bad name")
                .with_hint("use a non-empty name of at most 128 characters, without control characters or surrounding spaces"),
            );
            ok = false;
            None
        }
        None => None,
    };
    let who = name.map_or_else(
        || format!("rule #{}", index + 1),
        |n| format!("rule \"{}\"", n.value),
    );

    let mut images = Vec::new();
    if let Some(list) = &rr.images {
        if list.value.is_empty() {
            d.push(
                Diagnostic::new("empty-list", list.span, format!("{who} has no images"))
                    .with_label("empty")
                    .with_hint("list at least one pattern"),
            );
            ok = false;
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for p in &list.value {
            if let Some(first) = seen.get(p.value.as_str()) {
                d.push(
                    duplicate(p.span, "this pattern is listed twice")
                        .with_secondary(*first, "first listed here"),
                );
                continue;
            }
            seen.insert(&p.value, p.span);
            match Pattern::new(&p.value) {
                Ok(pattern) => images.push((pattern, p.span)),
                Err(e) => {
                    d.push(
                        Diagnostic::new(
                            "bad-glob",
                            p.span,
                            format!("bad image pattern \"{}\": {}", p.value, e.message),
                        )
                        .with_label("bad pattern")
                        .with_hint_opt(e.hint),
                    );
                    ok = false;
                }
            }
        }
    }

    let mut digests = None;
    if let Some(list) = &rr.digests {
        if list.value.is_empty() {
            d.push(
                Diagnostic::new(
                    "empty-list",
                    list.span,
                    format!("{who} pins an empty list of digests, so nothing could pass"),
                )
                .with_label("empty")
                .with_hint("list the digests that may pass, or remove `digests`"),
            );
            ok = false;
        }
        let mut set = BTreeSet::new();
        for dg in &list.value {
            if !check_digest(dg, d) {
                ok = false;
            } else if !set.insert(dg.value.clone()) {
                d.push(duplicate(dg.span, "this digest is listed twice"));
            }
        }
        digests = Some(set);
    }

    let kind = match (&rr.require, &rr.allow) {
        (Some(req), Some(allow)) => {
            d.push(
                Diagnostic::new(
                    "allow-with-require",
                    allow.span,
                    format!("{who} has both `allow` and `require`"),
                )
                .with_label("`allow` needs no signature")
                .with_secondary(req.span, "but `require` asks for signatures")
                .with_hint("keep one of them"),
            );
            None
        }
        (None, None) => {
            if !rr.broken {
                d.push(
                    Diagnostic::new(
                        "missing-requirement",
                        rr.name.as_ref().map_or(rr.span, |n| n.span),
                        format!("{who} has neither `require` nor `allow`"),
                    )
                    .with_label("this rule decides nothing")
                    .with_hint(
                        "add `require: {signers: [...]}`, or `allow: pinned` or `allow: always`",
                    ),
                );
            }
            None
        }
        (None, Some(allow)) => {
            if allow.value == AllowKind::Pinned && rr.digests.is_none() {
                d.push(
                    Diagnostic::new(
                        "pinned-without-digests",
                        allow.span,
                        format!("{who} allows pinned digests but lists none"),
                    )
                    .with_label("needs `digests`")
                    .with_hint("add `digests: [\"sha256:…\"]` to this rule"),
                );
            }
            Some(RuleKind::Allow(allow.value))
        }
        (Some(req), None) => {
            let r = &req.value;
            let mut listed: Vec<String> = Vec::new();
            if let Some(list) = &r.signers {
                if list.value.is_empty() {
                    d.push(
                        Diagnostic::new(
                            "empty-list",
                            list.span,
                            format!("{who} requires no signer"),
                        )
                        .with_label("empty")
                        .with_hint("name the signers whose signatures count"),
                    );
                }
                for s in &list.value {
                    if listed.contains(&s.value) {
                        d.push(duplicate(
                            s.span,
                            "this signer is listed twice; it counts once",
                        ));
                        continue;
                    }
                    listed.push(s.value.clone());
                    if !signers_broken && !signer_names.contains(&s.value.as_str()) {
                        let hint = did_you_mean(&s.value, signer_names.iter().copied())
                            .map(|m| format!("did you mean \"{m}\"?"));
                        d.push(
                            Diagnostic::new(
                                "unknown-signer",
                                s.span,
                                format!(
                                    "{who} requires signer \"{}\", which is not defined",
                                    s.value
                                ),
                            )
                            .with_label("not defined under `signers`")
                            .with_hint_opt(hint),
                        );
                        ok = false;
                    }
                }
            }
            let threshold = match &r.threshold {
                None => 1,
                Some(t) if t.value < 1 => {
                    d.push(
                        Diagnostic::new(
                            "bad-threshold",
                            t.span,
                            format!("{who} has threshold {}", t.value),
                        )
                        .with_label("must be at least 1")
                        .with_hint("for no signature at all, use `allow: always`"),
                    );
                    ok = false;
                    1
                }
                Some(t) => {
                    let n = listed.len();
                    let t_usize = usize::try_from(t.value).unwrap_or(usize::MAX);
                    if t_usize > n && r.signers.as_ref().is_some_and(|l| !l.value.is_empty()) {
                        let mut diag = Diagnostic::new(
                            "threshold-too-high",
                            t.span,
                            format!(
                                "{who} needs {} distinct signers but lists {n}, so nothing can pass",
                                t.value
                            ),
                        )
                        .with_label(format!("above {n}"))
                        .with_hint("threshold counts distinct signers, not signatures or keys");
                        if let Some(list) = &r.signers {
                            diag = diag.with_secondary(
                                list.span,
                                format!("{n} signer{}", if n == 1 { "" } else { "s" }),
                            );
                        }
                        d.push(diag);
                        ok = false;
                    }
                    t_usize
                }
            };
            let (attestations, attestations_ok) =
                check_attestations(&r.attestations, &who, signer_names, signers_broken, d);
            ok &= attestations_ok;
            Some(RuleKind::Require(Requirement {
                attestations,
                signers: listed,
                threshold,
                identity: r.identity.map(|i| i.value).unwrap_or_default(),
                annotations: r
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.clone()))
                    .collect(),
            }))
        }
    };
    let (Some(name), Some(kind)) = (name, kind) else {
        return (None, false);
    };
    if images.is_empty() {
        return (None, false);
    }
    let rule = Rule {
        name: name.value.clone(),
        index,
        image_spans: images.iter().map(|(_, s)| *s).collect(),
        images: images.into_iter().map(|(p, _)| p).collect(),
        kind,
        digests,
        mode: rr.mode.map(|m| m.value).unwrap_or_default(),
        span: name.span,
    };
    (Some(rule), ok)
}

/// Checks `require.attestations`: known predicate types, defined signers, readable ages,
/// conditions that compile (located inside the condition).
fn check_attestations(
    raw: &[RawAttestation],
    who: &str,
    signer_names: &[&str],
    signers_broken: bool,
    d: &mut Vec<Diagnostic>,
) -> (Vec<AttestationRule>, bool) {
    let before = d.len();
    let mut rules = Vec::new();
    for a in raw {
        let predicate_type = a.predicate_type.as_ref().and_then(|t| {
            match vouch_attest::predicate::resolve(&t.value) {
                Ok(uri) => Some(uri),
                Err(e) => {
                    d.push(
                        Diagnostic::new(
                            "unknown-predicate-type",
                            t.span,
                            format!("{who} requires attestations of type {:?}", t.value),
                        )
                        .with_label("not a predicate type")
                        .with_hint(e.to_string()),
                    );
                    None
                }
            }
        });
        let mut signers = Vec::new();
        if let Some(list) = &a.signers {
            if list.value.is_empty() {
                d.push(
                    Diagnostic::new(
                        "empty-list",
                        list.span,
                        format!("{who} requires attestations by no signer"),
                    )
                    .with_label("empty")
                    .with_hint("name the signers whose attestations count"),
                );
            }
            for sname in &list.value {
                if !signers_broken && !signer_names.contains(&sname.value.as_str()) {
                    let hint = did_you_mean(&sname.value, signer_names.iter().copied())
                        .map(|m| format!("did you mean \"{m}\"?"));
                    d.push(
                        Diagnostic::new(
                            "unknown-signer",
                            sname.span,
                            format!(
                                "{who} requires attestations by signer \"{}\", which is not defined",
                                sname.value
                            ),
                        )
                        .with_label("not defined under `signers`")
                        .with_hint_opt(hint),
                    );
                } else if !signers.contains(&sname.value) {
                    signers.push(sname.value.clone());
                }
            }
        }
        let max_age =
            a.max_age
                .as_ref()
                .and_then(|m| match vouch_attest::judge::parse_age(&m.value) {
                    Ok(secs) => Some(secs),
                    Err(e) => {
                        d.push(
                            Diagnostic::new("bad-max-age", m.span, format!("`max_age` {e}"))
                                .with_label("not an age")
                                .with_hint("a whole number and a unit: 30m, 12h, 7d"),
                        );
                        None
                    }
                });
        let condition = a.condition.as_ref().and_then(|c| {
            match vouch_attest::Condition::compile(&c.value) {
                Ok(compiled) => Some(compiled),
                Err(e) => {
                    d.push(
                        Diagnostic::new(
                            "bad-condition",
                            condition_span(c, e.line, e.column),
                            format!(
                                "the condition does not compile (line {}, column {} of the condition): {}",
                                e.line, e.column, e.message
                            ),
                        )
                        .with_label("here")
                        .with_hint(
                            "a CEL expression over predicate, predicateType, subject and image",
                        ),
                    );
                    None
                }
            }
        });
        if let (Some(predicate_type), Some(t)) = (predicate_type, &a.predicate_type) {
            rules.push(AttestationRule {
                written_type: t.value.clone(),
                predicate_type,
                signers,
                max_age,
                condition,
            });
        }
    }
    (rules, d.len() == before)
}

/// Where a condition's error is in the file: exact for a condition on one line (plain or
/// quoted), else the condition itself (the message gives the place inside it).
fn condition_span(c: &Sp<String>, line: usize, column: usize) -> Span {
    let written = c.span.end - c.span.start;
    let text_len = c.value.len();
    let offset = if written == text_len {
        Some(0)
    } else if written == text_len + 2 {
        Some(1)
    } else {
        None
    };
    match offset {
        Some(o) if line == 1 && !c.value.contains('\n') => {
            let byte = c
                .value
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or(text_len, |(b, _)| b);
            Span {
                start: c.span.start + o + byte,
                end: c.span.start + o + byte + 1,
                line: c.span.line,
                col: c.span.col + o + column.saturating_sub(1),
            }
        }
        _ => c.span,
    }
}

/// Checks `revoked`: digests and key ids well-formed, none listed twice.
fn check_revoked(raw: &RawPolicy, d: &mut Vec<Diagnostic>) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut revoked_digests = BTreeSet::new();
    for dg in &raw.revoked_digests {
        if check_digest(dg, d) && !revoked_digests.insert(dg.value.clone()) {
            d.push(duplicate(dg.span, "this digest is already revoked"));
        }
    }
    let mut revoked_keys = BTreeSet::new();
    for k in &raw.revoked_keys {
        if !is_hex64(&k.value) {
            d.push(not_a_key_id(k).with_hint("`vouch key id FILE` prints a key's id"));
        } else if !revoked_keys.insert(k.value.clone()) {
            d.push(duplicate(k.span, "this key is already revoked"));
        }
    }
    (revoked_digests, revoked_keys)
}

/// `exempt.namespaces`: each a Kubernetes namespace name (an RFC 1123 label), once.
fn check_exempt(raw: &RawPolicy, d: &mut Vec<Diagnostic>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for ns in &raw.exempt_namespaces {
        if !valid_namespace(&ns.value) {
            d.push(
                Diagnostic::new(
                    "bad-namespace",
                    ns.span,
                    format!("{:?} is not a Kubernetes namespace name", ns.value),
                )
                .with_label("not a namespace")
                .with_hint(
                    "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters; patterns are not supported",
                ),
            );
        } else if !names.insert(ns.value.clone()) {
            d.push(duplicate(ns.span, "this namespace is already exempt"));
        }
    }
    names
}

/// An RFC 1123 label, as Kubernetes requires of namespace names.
pub(crate) fn valid_namespace(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn valid_issuer(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty()) && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn valid_signer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn valid_rule_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.trim() == name
        && name.chars().count() <= 128
        && !name.chars().any(char::is_control)
}

fn duplicate(span: Span, message: &str) -> Diagnostic {
    Diagnostic::new("duplicate-entry", span, message).with_label("duplicate")
}

fn check_digest(dg: &Sp<String>, d: &mut Vec<Diagnostic>) -> bool {
    if is_digest(&dg.value) {
        return true;
    }
    let hint = if dg.value.len() == 64 && dg.value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some(format!(
            "write \"sha256:{}\"",
            dg.value.to_ascii_lowercase()
        ))
    } else if is_digest(&dg.value.to_ascii_lowercase()) {
        Some(format!("write \"{}\"", dg.value.to_ascii_lowercase()))
    } else {
        None
    };
    d.push(not_a_digest(dg).with_hint_opt(hint));
    false
}
