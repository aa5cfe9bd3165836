//! Stage one: YAML to a spanned, unvalidated [`RawPolicy`]. Every schema problem is collected;
//! a broken part is kept as far as it is readable so that stage two can still check the rest.

use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::fields::{
    Fields, Sp, expect_map, expect_seq, key_string, string, string_list, string_map, word,
    wrong_type,
};
use crate::model::{AllowKind, DefaultDecision, Identity, Mode, TransparencyLog};
use crate::yaml::{Node, ScalarType, parse_tree};
use serde::Serialize;

/// One entry of a signer's `keys` list, for the caller to resolve to a key id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeySource {
    /// The signer it belongs to.
    pub signer: String,
    /// A path relative to the policy file, or inline PEM.
    pub text: String,
    /// True when `text` is inline PEM (it starts with `-----BEGIN`).
    pub inline: bool,
    /// Where the entry is written.
    pub span: Span,
}

/// A policy file read and type-checked but not yet validated: names are not yet resolved, keys
/// not yet read, patterns not yet compiled. Built by [`parse`], consumed by [`crate::validate`].
#[derive(Debug, Clone)]
pub struct RawPolicy {
    pub(crate) file_name: String,
    pub(crate) signers: Vec<RawSigner>,
    /// `signers` was unreadable: names it should have defined are not reported as unknown.
    pub(crate) signers_broken: bool,
    pub(crate) rules: Vec<RawRule>,
    pub(crate) rules_span: Option<Span>,
    pub(crate) revoked_digests: Vec<Sp<String>>,
    pub(crate) revoked_keys: Vec<Sp<String>>,
    pub(crate) default: Option<Sp<DefaultDecision>>,
    pub(crate) trusted_root: Option<Sp<String>>,
    /// `exempt.namespaces`: Kubernetes namespaces the admission webhook does not check.
    pub(crate) exempt_namespaces: Vec<Sp<String>>,
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) root_span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct RawSigner {
    pub name: Sp<String>,
    pub keys: Option<Sp<Vec<Sp<String>>>>,
    pub keyless: Option<RawKeyless>,
    pub not_before: Option<Sp<String>>,
    pub not_after: Option<Sp<String>>,
}

/// `keyless: {issuer, subject | subject_regex}` of a signer.
#[derive(Debug, Clone)]
pub(crate) struct RawKeyless {
    pub span: Span,
    pub issuer: Option<Sp<String>>,
    pub subject: Option<Sp<String>>,
    pub subject_regex: Option<Sp<String>>,
    pub transparency_log: Option<Sp<TransparencyLog>>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawRule {
    pub span: Span,
    pub name: Option<Sp<String>>,
    pub images: Option<Sp<Vec<Sp<String>>>>,
    pub require: Option<Sp<RawRequire>>,
    pub allow: Option<Sp<AllowKind>>,
    pub digests: Option<Sp<Vec<Sp<String>>>>,
    pub mode: Option<Sp<Mode>>,
    /// Some field was unreadable: checks that depend on the whole rule are skipped.
    pub broken: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RawRequire {
    pub signers: Option<Sp<Vec<Sp<String>>>>,
    pub threshold: Option<Sp<i64>>,
    pub identity: Option<Sp<Identity>>,
    pub annotations: Vec<(Sp<String>, Sp<String>)>,
    pub attestations: Vec<RawAttestation>,
}

/// One entry of `require.attestations`.
#[derive(Debug, Clone)]
pub(crate) struct RawAttestation {
    pub predicate_type: Option<Sp<String>>,
    pub signers: Option<Sp<Vec<Sp<String>>>>,
    pub max_age: Option<Sp<String>>,
    pub condition: Option<Sp<String>>,
}

impl RawPolicy {
    /// Every key entry, in file order, for the caller to read (paths) or decode (inline PEM).
    pub fn key_sources(&self) -> Vec<KeySource> {
        self.signers
            .iter()
            .flat_map(|s| {
                s.keys.iter().flat_map(|k| &k.value).map(|k| KeySource {
                    signer: s.name.value.clone(),
                    text: k.value.clone(),
                    inline: k.value.trim_start().starts_with("-----BEGIN"),
                    span: k.span,
                })
            })
            .collect()
    }

    /// Schema problems found so far; [`crate::validate`] reports them with the rest.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The file name given to [`parse`].
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// `trusted_root` as written (a path relative to the policy file), if given.
    pub fn trusted_root(&self) -> Option<&str> {
        self.trusted_root.as_ref().map(|t| t.value.as_str())
    }
}

/// Reads a policy file (YAML, or JSON) into its raw form.
///
/// Fails only when nothing usable can be read: a syntax error, a limit exceeded, anchors or
/// tags, or a top level that is not a mapping. Other schema problems (unknown keys, wrong
/// types, …) are kept in [`RawPolicy::diagnostics`] and reported by [`crate::validate`] together
/// with everything else, so `policy check` shows every problem at once.
pub fn parse(source: &str, file_name: &str) -> Result<RawPolicy, Diagnostics> {
    let mut diags = Vec::new();
    let Some(root) = parse_tree(source, &mut diags) else {
        return Err(Diagnostics(diags));
    };
    let Some(top) = expect_map(&root, "the policy", &mut diags) else {
        return Err(Diagnostics(diags));
    };
    let f = Fields::new(
        top,
        &[
            "version",
            "signers",
            "rules",
            "revoked",
            "default",
            "trusted_root",
            "exempt",
        ],
        "the policy",
        &mut diags,
    );
    if let Some(v) = f.required("version", root.span, "the policy", &mut diags) {
        match (v.scalar_type(), v.scalar_text()) {
            (ScalarType::Int, Some("1")) => {}
            (ScalarType::Int, Some(other)) => diags.push(
                Diagnostic::new(
                    "unsupported-version",
                    v.span,
                    format!("policy version {other} is not supported"),
                )
                .with_label("expected 1"),
            ),
            _ => wrong_type(v, "an integer", "`version`", &mut diags),
        }
    }
    let mut raw = RawPolicy {
        file_name: file_name.to_string(),
        signers: Vec::new(),
        signers_broken: false,
        rules: Vec::new(),
        rules_span: None,
        revoked_digests: Vec::new(),
        revoked_keys: Vec::new(),
        default: None,
        trusted_root: None,
        exempt_namespaces: Vec::new(),
        diagnostics: Vec::new(),
        root_span: root.span,
    };
    if let Some(node) = f.optional("signers") {
        match expect_map(node, "`signers`", &mut diags) {
            Some(entries) => {
                for (k, v) in entries {
                    let Some(name) = key_string(k, &mut diags) else {
                        raw.signers_broken = true;
                        continue;
                    };
                    raw.signers.push(read_signer(name, v, &mut diags));
                }
            }
            None => raw.signers_broken = true,
        }
    }
    if let Some(node) = f.optional("rules") {
        raw.rules_span = Some(node.span);
        if let Some(items) = expect_seq(node, "`rules`", &mut diags) {
            raw.rules = items.iter().map(|n| read_rule(n, &mut diags)).collect();
        }
    }
    if let Some(node) = f.optional("revoked")
        && let Some(entries) = expect_map(node, "`revoked`", &mut diags)
    {
        let rf = Fields::new(entries, &["digests", "keys"], "`revoked`", &mut diags);
        if let Some(list) = rf.optional("digests") {
            raw.revoked_digests = string_list(list, "`revoked.digests`", &mut diags)
                .map(|l| l.value)
                .unwrap_or_default();
        }
        if let Some(list) = rf.optional("keys") {
            raw.revoked_keys = string_list(list, "`revoked.keys`", &mut diags)
                .map(|l| l.value)
                .unwrap_or_default();
        }
    }
    if let Some(node) = f.optional("exempt")
        && let Some(entries) = expect_map(node, "`exempt`", &mut diags)
    {
        let ef = Fields::new(entries, &["namespaces"], "`exempt`", &mut diags);
        if let Some(list) = ef.optional("namespaces") {
            raw.exempt_namespaces = string_list(list, "`exempt.namespaces`", &mut diags)
                .map(|l| l.value)
                .unwrap_or_default();
        }
    }
    raw.trusted_root = f
        .optional("trusted_root")
        .and_then(|n| string(n, "`trusted_root`", &mut diags));
    if let Some(node) = f.optional("default") {
        raw.default = word(
            node,
            "`default`",
            &[
                ("deny", DefaultDecision::Deny),
                ("allow", DefaultDecision::Allow),
            ],
            &mut diags,
        );
    }
    raw.diagnostics = diags;
    Ok(raw)
}

fn read_signer(name: Sp<String>, node: &Node, diags: &mut Vec<Diagnostic>) -> RawSigner {
    let mut signer = RawSigner {
        name,
        keys: None,
        keyless: None,
        not_before: None,
        not_after: None,
    };
    let what = format!("signer \"{}\"", signer.name.value);
    let Some(entries) = expect_map(node, &what, diags) else {
        return signer;
    };
    let f = Fields::new(
        entries,
        &["keys", "keyless", "not_before", "not_after"],
        &what,
        diags,
    );
    let keyless = f.optional("keyless");
    match f.optional("keys") {
        Some(keys) => signer.keys = string_list(keys, "`keys`", diags),
        // `keys: null` or no `keys`: fine when the signer is keyless.
        None if keyless.is_some() => {}
        None => {
            diags.push(
                Diagnostic::new(
                    "missing-key",
                    node.span,
                    format!("{what} has neither `keys` nor `keyless`"),
                )
                .with_label("`keys` (or `keyless`) is required here"),
            );
        }
    }
    if let Some(node) = keyless {
        signer.keyless = read_keyless(node, &what, diags);
    }
    signer.not_before = f
        .optional("not_before")
        .and_then(|n| string(n, "`not_before`", diags));
    signer.not_after = f
        .optional("not_after")
        .and_then(|n| string(n, "`not_after`", diags));
    signer
}

fn read_keyless(node: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<RawKeyless> {
    let entries = expect_map(node, "`keyless`", diags)?;
    let f = Fields::new(
        entries,
        &["issuer", "subject", "subject_regex", "transparency_log"],
        "`keyless`",
        diags,
    );
    let issuer = f
        .required("issuer", node.span, &format!("`keyless` of {what}"), diags)
        .and_then(|n| string(n, "`issuer`", diags));
    let subject = f
        .optional("subject")
        .and_then(|n| string(n, "`subject`", diags));
    let subject_regex = f
        .optional("subject_regex")
        .and_then(|n| string(n, "`subject_regex`", diags));
    let transparency_log = f.optional("transparency_log").and_then(|n| {
        word(
            n,
            "`transparency_log`",
            &[
                ("required", TransparencyLog::Required),
                ("optional", TransparencyLog::Optional),
            ],
            diags,
        )
    });
    Some(RawKeyless {
        span: node.span,
        issuer,
        subject,
        subject_regex,
        transparency_log,
    })
}

fn read_rule(node: &Node, diags: &mut Vec<Diagnostic>) -> RawRule {
    let mut rule = RawRule {
        span: node.span,
        name: None,
        images: None,
        require: None,
        allow: None,
        digests: None,
        mode: None,
        broken: false,
    };
    let before = diags.len();
    let Some(entries) = expect_map(node, "a rule", diags) else {
        rule.broken = true;
        return rule;
    };
    let f = Fields::new(
        entries,
        &["name", "images", "require", "allow", "digests", "mode"],
        "a rule",
        diags,
    );
    rule.name = f
        .required("name", node.span, "a rule", diags)
        .and_then(|n| string(n, "a rule's `name`", diags));
    let what = rule.name.as_ref().map_or_else(
        || "this rule".to_string(),
        |n| format!("rule \"{}\"", n.value),
    );
    rule.images = f
        .required("images", node.span, &what, diags)
        .and_then(|n| string_list(n, "`images`", diags));
    if let Some(req) = f.optional("require") {
        rule.require = read_require(req, &what, diags);
    }
    rule.allow = f.optional("allow").and_then(|n| {
        word(
            n,
            "`allow`",
            &[("always", AllowKind::Always), ("pinned", AllowKind::Pinned)],
            diags,
        )
    });
    rule.digests = f
        .optional("digests")
        .and_then(|n| string_list(n, "`digests`", diags));
    rule.mode = f.optional("mode").and_then(|n| {
        word(
            n,
            "`mode`",
            &[("enforce", Mode::Enforce), ("warn", Mode::Warn)],
            diags,
        )
    });
    rule.broken = diags.len() > before;
    rule
}

fn read_attestation(node: &Node, diags: &mut Vec<Diagnostic>) -> Option<RawAttestation> {
    let entries = expect_map(node, "an entry of `attestations`", diags)?;
    let what = "an entry of `attestations`";
    let f = Fields::new(
        entries,
        &["type", "signers", "max_age", "condition"],
        what,
        diags,
    );
    Some(RawAttestation {
        predicate_type: f
            .required("type", node.span, what, diags)
            .and_then(|n| string(n, "`type`", diags)),
        signers: f
            .required("signers", node.span, what, diags)
            .and_then(|n| string_list(n, "`signers`", diags)),
        max_age: f
            .optional("max_age")
            .and_then(|n| string(n, "`max_age`", diags)),
        condition: f
            .optional("condition")
            .and_then(|n| string(n, "`condition`", diags)),
    })
}

fn read_require(node: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Sp<RawRequire>> {
    let entries = expect_map(node, "`require`", diags)?;
    let f = Fields::new(
        entries,
        &[
            "signers",
            "threshold",
            "identity",
            "annotations",
            "attestations",
        ],
        "`require`",
        diags,
    );
    let mut req = RawRequire {
        signers: None,
        threshold: None,
        identity: None,
        annotations: Vec::new(),
        attestations: Vec::new(),
    };
    req.signers = f
        .required("signers", node.span, &format!("`require` of {what}"), diags)
        .and_then(|n| string_list(n, "`signers`", diags));
    req.threshold = f.optional("threshold").and_then(|n| {
        if n.scalar_type() == ScalarType::Int {
            match n.scalar_text().and_then(|t| t.parse::<i64>().ok()) {
                Some(value) => Some(Sp {
                    value,
                    span: n.span,
                }),
                None => {
                    wrong_type(n, "a small integer", "`threshold`", diags);
                    None
                }
            }
        } else {
            wrong_type(n, "an integer", "`threshold`", diags);
            None
        }
    });
    req.identity = f.optional("identity").and_then(|n| {
        word(
            n,
            "`identity`",
            &[
                ("repository", Identity::Repository),
                ("exact", Identity::Exact),
                ("any", Identity::Any),
            ],
            diags,
        )
    });
    if let Some(n) = f.optional("annotations") {
        req.annotations = string_map(n, "`annotations`", diags);
    }
    if let Some(n) = f.optional("attestations")
        && let Some(items) = expect_seq(n, "`attestations`", diags)
    {
        req.attestations = items
            .iter()
            .filter_map(|item| read_attestation(item, diags))
            .collect();
    }
    Some(Sp {
        value: req,
        span: node.span,
    })
}
