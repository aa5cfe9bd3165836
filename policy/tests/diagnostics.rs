//! Rendered diagnostics for broken policies (insta snapshots), and the code catalogue.

mod common;

use common::*;
use std::collections::BTreeSet;
use vouch_policy::{
    CODES, Diagnostics, MAX_DEPTH, MAX_SOURCE_BYTES, Severity, parse, render, validate,
};

const DOC: &str = include_str!("../../docs/policy.md");

const BROKEN: &[&str] = &[
    "unknown-signer.yaml",
    "schema.yaml",
    "semantics.yaml",
    "overlaps.yaml",
    "syntax.yaml",
    "anchors.yaml",
    "tags.yaml",
    "multi-doc.yaml",
    "empty.yaml",
    "errors.json",
    "no-rules.yaml",
    "not-a-map.yaml",
    "keyless.yaml",
    "attestations.yaml",
    "exempt.yaml",
];

/// Every diagnostic for a source: parse errors, or validation errors and warnings.
fn check(source: &str) -> Diagnostics {
    match parse(source, "policy.yaml") {
        Err(d) => d,
        Ok(raw) => match validate(raw, &resolve) {
            Err(d) => d,
            Ok(p) => Diagnostics(p.warnings().to_vec()),
        },
    }
}

#[test]
fn broken_policies_render_like_rustc() {
    for name in BROKEN {
        let source = fixture(&format!("broken/{name}"));
        let diags = check(&source);
        assert!(!diags.is_empty(), "{name}: no diagnostics");
        let shown = render(&diags, &source, name);
        insta::assert_snapshot!(name.replace('.', "_"), shown);
    }
}

#[test]
fn the_brief_example_renders_exactly() {
    let source = fixture("broken/unknown-signer.yaml");
    let diags = check(&source);
    let error = diags
        .iter()
        .find(|d| d.code == "unknown-signer")
        .expect("error");
    let shown = render(std::slice::from_ref(error), &source, "policy.yaml");
    assert_eq!(
        shown,
        r#"policy.yaml:12:17: error[unknown-signer]: rule "production" requires signer "relase-ci", which is not defined
   |
12 |       signers: [relase-ci, security-team]
   |                 ^^^^^^^^^ not defined under `signers`
   = hint: did you mean "release-ci"?
"#
    );
}

#[test]
fn every_schema_problem_is_reported_at_once() {
    let diags = check(&fixture("broken/schema.yaml"));
    let codes: BTreeSet<&str> = diags.iter().map(|d| d.code).collect();
    for code in [
        "unsupported-version",
        "unknown-key",
        "wrong-type",
        "duplicate-key",
        "missing-key",
        "unknown-value",
    ] {
        assert!(codes.contains(code), "{code} missing from {codes:?}");
    }
    let diags = check(&fixture("broken/semantics.yaml"));
    assert!(diags.error_count() >= 15, "{}", diags.error_count());
}

#[test]
fn json_errors_carry_line_and_column() {
    let source = fixture("broken/errors.json");
    let diags = check(&source);
    let dup = diags
        .iter()
        .find(|d| d.code == "duplicate-key")
        .expect("dup");
    assert_eq!((dup.span.line, dup.span.col), (10, 3));
    let unknown = diags
        .iter()
        .find(|d| d.code == "unknown-key")
        .expect("unknown");
    assert_eq!(unknown.span.line, 6);
}

#[test]
fn limits_are_enforced_without_hanging() {
    let deep = format!("version: 1\nrules: {}", "[".repeat(MAX_DEPTH + 1));
    assert_eq!(check(&deep)[0].code, "too-deep");
    let mut block = String::from("version: 1\nx:\n");
    for i in 0..=MAX_DEPTH {
        block.push_str(&" ".repeat(i + 1));
        block.push_str("- \n");
    }
    let mut nested = String::from("a:");
    for i in 1..=(MAX_DEPTH + 1) {
        nested.push('\n');
        nested.push_str(&"  ".repeat(i));
        nested.push_str("a:");
    }
    assert_eq!(check(&nested)[0].code, "too-deep");
    let big = format!("version: 1\n#{}", "x".repeat(MAX_SOURCE_BYTES));
    assert_eq!(check(&big)[0].code, "too-large");
}

#[test]
fn garbage_never_panics() {
    for junk in [
        "\u{0}\u{1}\u{2}",
        "{{{{{{{{",
        "]]]]",
        "version: 1\nrules: [{name: x, images: [\"\u{1F600}\"], allow: always}]",
        "? [a]\n: b",
        "version: 1\nsigners: {? [a]: b}",
        "%YAML 1.2\n---\nversion: 1",
        "version: 1\n\t- x",
        "\"unterminated",
        "- - - - -",
    ] {
        let _ = check(junk);
    }
}

#[test]
fn codes_are_unique_kebab_case_and_documented() {
    let mut seen = BTreeSet::new();
    for c in CODES {
        assert!(seen.insert(c.code), "duplicate code {}", c.code);
        assert!(
            c.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{} is not kebab-case",
            c.code
        );
        let heading = format!("### `{}`", c.code);
        assert!(DOC.contains(&heading), "docs/policy.md lacks `{heading}`");
        let severity = match c.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let section = DOC
            .split(&heading)
            .nth(1)
            .and_then(|rest| rest.split("\n### ").next())
            .unwrap_or_default();
        assert!(
            section.contains(&format!("*{severity}*")),
            "docs/policy.md does not give {} its severity {severity}",
            c.code
        );
    }
}

#[test]
fn every_code_is_exercised_by_a_fixture() {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for name in BROKEN {
        for d in check(&fixture(&format!("broken/{name}"))).iter() {
            assert!(
                CODES
                    .iter()
                    .any(|c| c.code == d.code && c.severity == d.severity),
                "{name}: unregistered code {} or wrong severity",
                d.code
            );
            seen.insert(d.code);
        }
    }
    // Cases-file codes and limits are exercised in their own tests.
    let elsewhere = [
        "too-large",
        "too-deep",
        "analysis-limit",
        "bad-reference",
        "unknown-rule",
        "bad-trusted-root",
    ];
    for c in CODES {
        assert!(
            seen.contains(c.code) || elsewhere.contains(&c.code),
            "no fixture reports {}",
            c.code
        );
    }
}

#[test]
fn trusted_root_problems_come_from_the_resolver() {
    let source = fixture("broken/keyless.yaml");
    let raw = parse(&source, "policy.yaml").expect("parses");
    assert_eq!(raw.trusted_root(), Some("roots/missing.json"));
    let diags = vouch_policy::validate_with_root(raw, &resolve, &|path| {
        Err(format!("cannot read {path}: No such file or directory"))
    })
    .expect_err("refused");
    let d = diags
        .iter()
        .find(|d| d.code == "bad-trusted-root")
        .expect("bad-trusted-root");
    assert_eq!((d.span.line, d.span.col), (2, 15));
    assert!(d.message.contains("roots/missing.json"), "{}", d.message);
}
