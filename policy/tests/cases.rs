//! `policy test`: table-driven cases files.

mod common;

use common::*;
use vouch_policy::{CaseOptions, ExpectedRule, Outcome, render, run_cases};

fn options() -> CaseOptions<'static> {
    CaseOptions {
        now: at("2026-06-01T00:00:00Z"),
        normalize: &normalize,
    }
}

#[test]
fn example_cases_run_and_report() {
    let p = policy(&fixture("example.yaml"));
    let report = run_cases(&p, &fixture("example-cases.yaml"), "cases.yaml", &options())
        .unwrap_or_else(|d| {
            panic!(
                "{}",
                render(&d, &fixture("example-cases.yaml"), "cases.yaml")
            )
        });
    assert_eq!((report.passed, report.failed), (7, 1));
    assert!(!report.all_passed());
    let failed = report
        .cases
        .iter()
        .find(|c| !c.passed)
        .expect("one failure");
    assert_eq!(failed.name, "a wrong expectation, to show a failure");
    assert_eq!(
        failed.failures,
        [
            "expected decision deny, got allow-always (rule \"sandbox\")",
            "expected rule \"production\", got \"sandbox\""
        ]
    );
    assert_eq!(
        failed.expected_rule,
        Some(ExpectedRule::Rule("production".into()))
    );
    // The digest came from the reference; the case-level `at` overrode the file's.
    let pinned = &report.cases[5];
    assert_eq!(pinned.evaluation.decision, Outcome::AllowPinned);
    assert_eq!(report.cases[3].evaluation.at, at("2028-01-01T00:00:00Z"));
    insta::assert_snapshot!(report.to_string());
}

#[test]
fn broken_cases_files_report_every_problem() {
    let p = policy(&fixture("example.yaml"));
    let source = fixture("broken/cases.yaml");
    let diags = run_cases(&p, &source, "cases.yaml", &options()).expect_err("broken");
    insta::assert_snapshot!(render(&diags, &source, "cases.yaml"));
    for code in [
        "bad-timestamp",
        "unknown-signer",
        "bad-key-id",
        "unknown-value",
        "unknown-rule",
        "bad-reference",
        "bad-digest",
        "missing-key",
        "unknown-key",
        "duplicate-entry",
    ] {
        assert!(diags.iter().any(|d| d.code == code), "{code}");
    }
}

#[test]
fn now_is_used_when_no_time_is_given() {
    let p = policy(&fixture("example.yaml"));
    let src = "cases:\n  - name: late\n    image: registry.example.com/prod/app\n    signatures:\n      - {signer: release-ci, annotations: {env: prod}}\n      - {signer: security-team, annotations: {env: prod}}\n    expect: {decision: allow}\n";
    let report = run_cases(&p, src, "c.yaml", &options()).expect("runs");
    assert!(report.all_passed());
    let late = CaseOptions {
        now: at("2030-01-01T00:00:00Z"),
        normalize: &normalize,
    };
    let report = run_cases(&p, src, "c.yaml", &late).expect("runs");
    assert_eq!(report.failed, 1);
}

#[test]
fn failing_case_text_did_not_say_what_would_make_it_pass() {
    let p = policy(&fixture("example.yaml"));
    let cases = "cases:\n  - name: one team is not enough\n    image: registry.example.com/prod/app:1.0\n    signatures:\n      - {signer: release-ci, annotations: {env: prod}}\n    expect: {decision: allow}\n";
    let report = run_cases(&p, cases, "cases.yaml", &options())
        .unwrap_or_else(|d| panic!("{}", render(&d, cases, "cases.yaml")));
    assert_eq!(report.failed, 1);
    let to_pass = &report.cases[0].evaluation.to_pass;
    assert!(!to_pass.is_empty(), "the evaluation knows what is missing");
    let text = report.to_string();
    for hint in to_pass {
        assert!(text.contains(&format!("    to pass: {hint}\n")), "{text}");
    }
}
