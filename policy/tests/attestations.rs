//! `require.attestations`: policy cases with attestations, judged by the engine (the newest
//! scan decides, `max_age` at the case's `at`, conditions, signers, other digests), and what
//! `policy explain` says of them.

mod common;

use common::*;
use vouch_policy::{CaseOptions, DenyCause, run_cases};

const POLICY: &str = r#"version: 1
signers:
  release:
    keys: [keys/release-ci.pub]
  scanner:
    keys: [keys/security.pub]
rules:
  - name: production
    images: ["registry.example.com/prod/**"]
    require:
      signers: [release]
      attestations:
        - type: vuln
          signers: [scanner]
          max_age: 7d
          condition: >-
            predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) ||
              r.Vulnerabilities.all(v, v.Severity != "CRITICAL"))
default: deny
"#;

fn options() -> CaseOptions<'static> {
    CaseOptions {
        now: at("2026-06-10T00:00:00Z"),
        normalize: &normalize,
    }
}

fn scan(signer: &str, finished: &str, severity: &str) -> String {
    format!(
        r#"
      - signer: {signer}
        type: vuln
        predicate:
          scanner: {{result: {{Results: [{{Target: app, Vulnerabilities: [{{Severity: {severity}}}]}}]}}}}
          metadata: {{scanFinishedOn: "{finished}"}}"#
    )
}

fn case(name: &str, attestations: &[String], expect: &str) -> String {
    format!(
        r#"
  - name: {name}
    image: registry.example.com/prod/app:1
    signatures: [{{signer: release}}]
    attestations:{}
    expect: {{decision: {expect}}}"#,
        attestations.concat()
    )
}

fn run(cases: &[String]) -> vouch_policy::CaseReport {
    let p = policy(POLICY);
    let source = format!("at: \"2026-06-10T00:00:00Z\"\ncases:{}\n", cases.concat());
    run_cases(&p, &source, "cases.yaml", &options())
        .unwrap_or_else(|d| panic!("{}", vouch_policy::render(&d, &source, "cases.yaml")))
}

#[test]
fn scans_are_judged_by_age_newest_first_and_condition() {
    let report = run(&[
        case(
            "six days old",
            &[scan("scanner", "2026-06-04T00:00:00Z", "LOW")],
            "allow",
        ),
        case(
            "eight days old",
            &[scan("scanner", "2026-06-02T00:00:00Z", "LOW")],
            "deny",
        ),
        case(
            "a newer critical scan is not outvoted",
            &[
                scan("scanner", "2026-06-05T00:00:00Z", "LOW"),
                scan("scanner", "2026-06-09T00:00:00Z", "CRITICAL"),
            ],
            "deny",
        ),
        case(
            "an old critical scan does not block a newer clean one",
            &[
                scan("scanner", "2026-06-05T00:00:00Z", "CRITICAL"),
                scan("scanner", "2026-06-09T00:00:00Z", "LOW"),
            ],
            "allow",
        ),
        case(
            "a scan by an unlisted signer does not count",
            &[scan("release", "2026-06-09T00:00:00Z", "LOW")],
            "deny",
        ),
        case(
            "a scan from the future fails",
            &[scan("scanner", "2026-06-12T00:00:00Z", "LOW")],
            "deny",
        ),
    ]);
    for c in &report.cases {
        assert!(
            c.passed,
            "{}: {:?} {:?}",
            c.name, c.failures, c.evaluation.reasons
        );
    }
    let old = &report.cases[1].evaluation;
    assert_eq!(old.deny_cause, Some(DenyCause::AttestationFailed));
    assert!(
        old.reasons
            .iter()
            .any(|r| r.contains("more than max_age 7d")),
        "{:?}",
        old.reasons
    );
    let newest = &report.cases[2].evaluation.attestations[0];
    assert!(!newest.passed);
    assert!(newest.statements[1].decided && !newest.statements[0].decided);
    assert!(
        newest.statements[1]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("condition is false"))
    );
}

#[test]
fn a_statement_about_another_digest_is_ignored() {
    let other = format!("sha256:{}", "b".repeat(64));
    let attestation = format!(
        "{}\n        digest: \"{other}\"",
        scan("scanner", "2026-06-09T00:00:00Z", "LOW")
    );
    let report = run(&[case("about another image", &[attestation], "deny")]);
    let c = &report.cases[0];
    assert!(c.passed, "{:?}", c.failures);
    let judged = &c.evaluation.attestations[0].statements[0];
    assert!(!judged.counted);
    assert!(
        judged
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("subject"))
    );
}

#[test]
fn a_condition_on_a_missing_field_fails_closed_with_the_reason() {
    let source = POLICY.replace(
        "predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) ||\n              r.Vulnerabilities.all(v, v.Severity != \"CRITICAL\"))",
        "predicate.scanner.summary.critical == 0",
    );
    let p = policy(&source);
    let cases = format!(
        "cases:{}\n",
        case(
            "no summary",
            &[scan("scanner", "2026-06-09T00:00:00Z", "LOW")],
            "deny"
        )
    );
    let report = run_cases(&p, &cases, "cases.yaml", &options()).expect("cases");
    let verdict = &report.cases[0].evaluation.attestations[0];
    assert!(!verdict.passed);
    assert!(verdict.reason.contains("summary"), "{}", verdict.reason);
}

#[test]
fn explain_lists_what_each_attestation_asks() {
    let p = policy(POLICY);
    let e = p.explain("registry.example.com/prod/app");
    assert!(e.requires.contains("a vuln attestation"), "{}", e.requires);
    assert!(e.requires.contains("at most 7d 0h old"), "{}", e.requires);
    assert!(e.requires.contains("the newest decides"), "{}", e.requires);
}

/// A keyless attestation (an `.att` layer with a Fulcio certificate) counts for the signer
/// whose identity it names, dated by its verified log time; one with no transparency-log entry
/// only for a signer that says `transparency_log: optional`.
#[test]
fn keyless_attestations_count_by_identity_and_transparency_log_rule() {
    let source = |tlog: &str| {
        format!(
            r#"version: 1
signers:
  release:
    keys: [keys/release-ci.pub]
  scanner:
    keyless: {{issuer: "https://accounts.google.com", subject: "scanner@acme.example"{tlog}}}
rules:
  - name: production
    images: ["registry.example.com/prod/**"]
    require:
      signers: [release]
      attestations:
        - type: custom
          signers: [scanner]
          max_age: 1d
default: deny
"#
        )
    };
    let digest = digest('a');
    let fact = |subject: &str, unlogged: bool| vouch_policy::AttestationFact {
        statement: vouch_attest::Statement {
            statement_type: vouch_attest::statement::STATEMENT_V1.to_string(),
            subject: vec![vouch_attest::statement::Subject {
                name: "registry.example.com/prod/app".into(),
                digest: [("sha256".to_string(), digest[7..].to_string())].into(),
            }],
            predicate_type: "https://cosign.sigstore.dev/attestation/v1".into(),
            predicate: serde_json::json!({"Data": "note"}),
        },
        key_id: String::new(),
        keyless: Some(vouch_policy::KeylessIdentity {
            issuer: "https://accounts.google.com".into(),
            subject: subject.into(),
        }),
        // Custom statements attest no time: the log time dates them.
        signed_at: Some(at("2026-06-09T12:00:00Z")),
        source: ".att layer 1".into(),
        unlogged,
    };
    let judge = |tlog: &str, a: vouch_policy::AttestationFact| {
        let mut facts = image(
            "registry.example.com/prod/app",
            &digest,
            vec![sig("keys/release-ci.pub", "registry.example.com/prod/app")],
        );
        facts.attestations.push(a);
        policy(&source(tlog)).evaluate(&facts, at("2026-06-10T00:00:00Z"))
    };
    assert!(
        judge("", fact("scanner@acme.example", false))
            .decision
            .is_allow()
    );
    let other = judge("", fact("intruder@acme.example", false));
    assert_eq!(other.deny_cause, Some(DenyCause::AttestationFailed));
    let unlogged = judge("", fact("scanner@acme.example", true));
    assert_eq!(unlogged.deny_cause, Some(DenyCause::AttestationFailed));
    assert_eq!(
        unlogged.attestations[0].statements[0].signers,
        Vec::<String>::new()
    );
    let optional = judge(
        ", transparency_log: optional",
        fact("scanner@acme.example", true),
    );
    assert!(optional.decision.is_allow(), "{:?}", optional.reasons);
    // Judged two days after its log time, it is too old.
    let mut facts = image(
        "registry.example.com/prod/app",
        &digest,
        vec![sig("keys/release-ci.pub", "registry.example.com/prod/app")],
    );
    facts.attestations.push(fact("scanner@acme.example", false));
    let later = policy(&source("")).evaluate(&facts, at("2026-06-11T13:00:00Z"));
    assert_eq!(later.deny_cause, Some(DenyCause::AttestationFailed));
}
