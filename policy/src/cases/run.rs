//! Running cases: each case judged by the policy at its instant, compared with what it
//! expects, and the report.

use super::read::{Case, CaseOptions, ExpectedRule, read_cases};
use crate::diag::{Diagnostic, Diagnostics};
use crate::eval::Evaluation;
use crate::model::Policy;
use crate::time::Timestamp;
use serde::Serialize;
use std::fmt;

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Line of the case in the cases file.
    pub line: usize,
    /// True when the decision (and rule, if given) were as expected.
    pub passed: bool,
    /// The expected decision as written: `allow`, `deny`, `warn`, or an exact allow kind.
    pub expected_decision: String,
    /// The expected rule, if the case names one.
    pub expected_rule: Option<ExpectedRule>,
    /// What went differently, in words.
    pub failures: Vec<String>,
    /// The full evaluation.
    pub evaluation: Evaluation,
}

/// All case results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseReport {
    /// The cases file's name.
    pub file: String,
    /// Results, in file order.
    pub cases: Vec<CaseResult>,
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Warnings about the cases file.
    pub warnings: Vec<Diagnostic>,
}

/// Runs a cases file against a policy:
///
/// ```yaml
/// at: 2026-06-01T00:00:00Z            # optional, for every case
/// cases:
///   - name: prod image signed by both teams
///     image: registry.example.com/prod/app:1.0
///     digest: sha256:…                # optional
///     signatures:
///       - signer: release-ci          # its first key; or `key: <key id>`
///         annotations: {env: prod}
///       - signer: security-team
///         identity: registry.example.com/prod/other   # optional payload docker-reference
///     expect: {decision: allow, rule: production}
/// ```
///
/// Problems in the cases file (unknown signers or rules, bad references, …) are all returned
/// as diagnostics; failing cases are not errors, they are in the report.
pub fn run_cases(
    policy: &Policy,
    cases_source: &str,
    file_name: &str,
    options: &CaseOptions<'_>,
) -> Result<CaseReport, Diagnostics> {
    let (cases, warnings) = read_cases(policy, cases_source, options)?;
    let results: Vec<CaseResult> = cases
        .into_iter()
        .map(|c| run_one(policy, c, options.now))
        .collect();
    let passed = results.iter().filter(|r| r.passed).count();
    Ok(CaseReport {
        file: file_name.to_string(),
        failed: results.len() - passed,
        passed,
        cases: results,
        warnings,
    })
}

fn run_one(policy: &Policy, case: Case, now: Timestamp) -> CaseResult {
    let evaluation = policy.evaluate(&case.facts, case.at.unwrap_or(now));
    let mut failures = Vec::new();
    let actual = evaluation.decision;
    let decision_ok = if case.expect.contains('-') {
        actual.as_str() == case.expect
    } else {
        actual.class() == case.expect
    };
    let actual_rule = evaluation.rule.as_ref().map(|r| r.name.as_str());
    if !decision_ok {
        failures.push(format!(
            "expected decision {}, got {}{}",
            case.expect,
            actual,
            actual_rule
                .map(|r| format!(" (rule \"{r}\")"))
                .unwrap_or_default()
        ));
    }
    match (&case.rule, actual_rule) {
        (Some(ExpectedRule::Rule(want)), got) if got != Some(want.as_str()) => {
            failures.push(format!(
                "expected rule \"{want}\", got {}",
                got.map_or("no rule".to_string(), |g| format!("\"{g}\""))
            ));
        }
        (Some(ExpectedRule::NoRule), Some(got)) => {
            failures.push(format!("expected no rule, got \"{got}\""));
        }
        _ => {}
    }
    CaseResult {
        name: case.name,
        line: case.span.line,
        passed: failures.is_empty(),
        expected_decision: case.expect,
        expected_rule: case.rule,
        failures,
        evaluation,
    }
}

impl CaseReport {
    /// True when every case passed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }
}

impl fmt::Display for CaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.cases {
            let status = if c.passed { "ok" } else { "FAILED" };
            writeln!(
                f,
                "case \"{}\" ({}:{}) ... {status}",
                c.name, self.file, c.line
            )?;
            for failure in &c.failures {
                writeln!(f, "    {failure}")?;
            }
            if !c.passed {
                for r in &c.evaluation.reasons {
                    writeln!(f, "    reason: {r}")?;
                }
            }
        }
        write!(
            f,
            "{} case{}: {} passed, {} failed",
            self.cases.len(),
            if self.cases.len() == 1 { "" } else { "s" },
            self.passed,
            self.failed
        )?;
        writeln!(f)?;
        Ok(())
    }
}
