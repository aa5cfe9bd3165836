//! Judging an image's verified statements against one attestation requirement: which
//! statements count (type, subject, signer), how each is dated, and which one decides.
//!
//! The newest statement decides (a clean scan from last week does not outvote today's scan
//! with a critical finding, and an old failing scan does not block a newer passing one);
//! statements dated the same must all pass. The date is the one the predicate attests (scan
//! or build finished), else the verified signing time; unsigned annotations never count.

use serde::Serialize;
use vouch_oci::reference::Digest;

use crate::condition::{Condition, Variables};
use crate::statement::{ArtifactDigest, Statement};

/// How far in the future a statement may be dated (clock skew between hosts).
pub const FUTURE_SKEW_SECS: i64 = 300;

/// A statement whose envelope signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStatement {
    /// The statement.
    pub statement: Statement,
    /// Names of the signers whose key or identity verified the envelope.
    pub signers: Vec<String>,
    /// A verified signing time (transparency log or RFC 3161), seconds since the epoch.
    pub signed_at: Option<i64>,
    /// Where it was found, for reports (`.att layer 2`, `bundle sha256:…`).
    pub source: String,
}

/// What one requirement asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationRequirement {
    /// The predicate type URI, matched exactly.
    pub predicate_type: String,
    /// Signer names, any one of which must have signed (empty: any verified signer).
    pub signers: Vec<String>,
    /// Oldest a deciding statement may be, in seconds.
    pub max_age: Option<i64>,
    /// A condition every deciding statement must meet.
    pub condition: Option<Condition>,
}

/// One statement as judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judged {
    /// Where it was found.
    pub source: String,
    /// Its predicate type.
    pub predicate_type: String,
    /// Who signed it.
    pub signers: Vec<String>,
    /// The time it is dated by, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dated: Option<String>,
    /// True when this statement counted for the requirement (type, subject, signer).
    pub counted: bool,
    /// True when it was among the statements that decided.
    pub decided: bool,
    /// Why it failed or was not counted; absent when it passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The outcome for one requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// True when the requirement is met.
    pub passed: bool,
    /// One line: why.
    pub reason: String,
    /// Every statement, in the order given.
    pub statements: Vec<Judged>,
}

fn rfc3339(secs: i64) -> Option<String> {
    vouch_time::format_rfc3339(jiff::SignedDuration::from_secs(secs))
}

/// The statement's date: attested by its predicate if its type has such a field, else the
/// verified signing time.
fn date_of(v: &VerifiedStatement) -> Result<Option<i64>, String> {
    match v.statement.attested_time() {
        Some(Ok(t)) => Ok(Some(t)),
        Some(Err(e)) => Err(e),
        None => Ok(v.signed_at),
    }
}

/// Judges `statements` (about `image` in `repository`) against `requirement` at `at`
/// (seconds since the epoch).
pub fn judge(
    requirement: &AttestationRequirement,
    statements: &[VerifiedStatement],
    repository: &str,
    image: &Digest,
    at: i64,
) -> Decision {
    judge_artifact(
        requirement,
        statements,
        repository,
        &ArtifactDigest::from(image),
        at,
    )
}

/// [`judge`] for any artifact: statements must name `image` under its own algorithm (a
/// file's provenance, an npm package's sha512). `name` is the condition's `image.name`.
pub fn judge_artifact(
    requirement: &AttestationRequirement,
    statements: &[VerifiedStatement],
    name: &str,
    image: &ArtifactDigest,
    at: i64,
) -> Decision {
    let mut judged: Vec<Judged> = Vec::with_capacity(statements.len());
    // (index into judged, date) of the statements that count.
    let mut counted: Vec<(usize, Option<i64>)> = Vec::new();
    for v in statements {
        let s = &v.statement;
        let mut entry = Judged {
            source: v.source.clone(),
            predicate_type: s.predicate_type.clone(),
            signers: v.signers.clone(),
            dated: None,
            counted: false,
            decided: false,
            reason: None,
        };
        let not_counted = if s.predicate_type != requirement.predicate_type {
            Some(format!(
                "predicate type {:?} is not the one required",
                s.predicate_type
            ))
        } else if !s.is_about_artifact(image) {
            Some(format!("its subject is not {image}"))
        } else if !requirement.signers.is_empty()
            && !v.signers.iter().any(|n| requirement.signers.contains(n))
        {
            Some(format!(
                "signed by {}, not by {}",
                describe(&v.signers),
                requirement.signers.join(", ")
            ))
        } else {
            None
        };
        if let Some(reason) = not_counted {
            entry.reason = Some(reason);
            judged.push(entry);
            continue;
        }
        entry.counted = true;
        let date = match date_of(v) {
            Ok(d) => d,
            Err(e) => {
                entry.reason = Some(format!("undated: {e}"));
                None
            }
        };
        entry.dated = date.and_then(rfc3339);
        counted.push((judged.len(), date));
        judged.push(entry);
    }
    if counted.is_empty() {
        let reason = format!(
            "no verified {} attestation of {image}{}",
            requirement.predicate_type,
            if requirement.signers.is_empty() {
                String::new()
            } else {
                format!(" by {}", requirement.signers.join(", "))
            }
        );
        return Decision {
            passed: false,
            reason,
            statements: judged,
        };
    }
    let newest = counted.iter().filter_map(|(_, d)| *d).max();
    let deciding: Vec<usize> = match newest {
        Some(t) => counted
            .iter()
            .filter(|(_, d)| *d == Some(t))
            .map(|(i, _)| *i)
            .collect(),
        None if requirement.max_age.is_some() => {
            for (i, _) in &counted {
                judged[*i]
                    .reason
                    .get_or_insert_with(|| "no trustworthy time".into());
            }
            return Decision {
                passed: false,
                reason: format!(
                    "max_age needs a trustworthy time, and no {} attestation has one (neither an attested time nor a verified signing time)",
                    requirement.predicate_type
                ),
                statements: judged,
            };
        }
        None => counted.iter().map(|(i, _)| *i).collect(),
    };
    for (i, d) in &counted {
        if !deciding.contains(i) {
            let why = if d.is_some() {
                "a newer statement decides"
            } else {
                "undated: a dated statement decides"
            };
            judged[*i].reason.get_or_insert_with(|| why.into());
        }
    }
    let by_index: Vec<(usize, &VerifiedStatement)> = {
        let mut out = Vec::new();
        for (i, _) in &counted {
            if deciding.contains(i) {
                out.push((*i, &statements[*i]));
            }
        }
        out
    };
    let mut failures = Vec::new();
    for (i, v) in by_index {
        judged[i].decided = true;
        let date = counted.iter().find(|(j, _)| *j == i).and_then(|(_, d)| *d);
        let verdict = check(requirement, v, date, name, image, at);
        judged[i].reason = verdict.clone().err();
        if let Err(e) = verdict {
            failures.push(format!("{}: {e}", v.source));
        }
    }
    let passed = failures.is_empty();
    let reason = if passed {
        format!(
            "{} attestation verified{}",
            requirement.predicate_type,
            newest
                .and_then(rfc3339)
                .map(|t| format!(", dated {t}"))
                .unwrap_or_default()
        )
    } else {
        failures.join("; ")
    };
    Decision {
        passed,
        reason,
        statements: judged,
    }
}

fn describe(signers: &[String]) -> String {
    if signers.is_empty() {
        "no listed signer".into()
    } else {
        signers.join(", ")
    }
}

fn check(
    requirement: &AttestationRequirement,
    v: &VerifiedStatement,
    date: Option<i64>,
    repository: &str,
    image: &ArtifactDigest,
    at: i64,
) -> Result<(), String> {
    if let Some(t) = date
        && t > at + FUTURE_SKEW_SECS
    {
        return Err(format!(
            "dated {} — in the future",
            rfc3339(t).unwrap_or_default()
        ));
    }
    if let Some(max) = requirement.max_age {
        let t = date.ok_or("no trustworthy time for max_age")?;
        let age = at - t;
        if age > max {
            return Err(format!(
                "{} old, more than max_age {}",
                human_age(age),
                human_age(max)
            ));
        }
    }
    if let Some(condition) = &requirement.condition {
        let variables = Variables::new(
            &v.statement.predicate,
            &v.statement.predicate_type,
            &serde_json::to_value(&v.statement.subject).unwrap_or_default(),
            &serde_json::json!({"name": repository, "digest": image.to_string()}),
        )
        .map_err(|e| format!("the condition could not be evaluated: {e}"))?;
        match condition.evaluate(&variables) {
            Ok(true) => {}
            Ok(false) => return Err("the condition is false".into()),
            Err(e) => return Err(format!("the condition could not be evaluated: {e}")),
        }
    }
    Ok(())
}

/// Most a `max_age` may be: ten years.
const MAX_AGE_LIMIT_SECS: i64 = 10 * 366 * 86_400;

/// Reads an age: a whole number followed by `s`, `m`, `h` or `d` (`7d`, `36h`).
pub fn parse_age(text: &str) -> Result<i64, String> {
    let unit = text.chars().last().unwrap_or(' ');
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: an age is a number followed by s, m, h or d, e.g. 7d"
            ));
        }
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{text:?}: an age is a whole number followed by s, m, h or d, e.g. 7d"
        ));
    }
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&secs| secs <= MAX_AGE_LIMIT_SECS)
        .ok_or_else(|| format!("{text:?}: longer than ten years"))
}

/// `8d 2h`, `5h 3m`, `40s`.
pub fn human_age(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predicate::VULN;
    use crate::statement;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;

    fn digest() -> Digest {
        format!("sha256:{}", "a".repeat(64))
            .parse()
            .expect("digest")
    }

    fn scan(finished: i64, critical: bool, signer: &str, sha: &str) -> VerifiedStatement {
        let severity = if critical { "CRITICAL" } else { "LOW" };
        let predicate = serde_json::json!({
            "scanner": {"result": {"Results": [{"Vulnerabilities": [{"Severity": severity}]}]}},
            "metadata": {"scanFinishedOn": rfc3339(finished)},
        });
        let bytes = serde_json::to_vec(&serde_json::json!({
            "_type": statement::STATEMENT_V01,
            "subject": [{"name": "r", "digest": {"sha256": sha}}],
            "predicateType": VULN,
            "predicate": predicate,
        }))
        .expect("json");
        VerifiedStatement {
            statement: statement::parse(&bytes).expect("statement"),
            signers: vec![signer.into()],
            signed_at: None,
            source: format!("scan {finished}"),
        }
    }

    fn requirement(max_age_days: Option<i64>) -> AttestationRequirement {
        AttestationRequirement {
            predicate_type: VULN.into(),
            signers: vec!["scanner".into()],
            max_age: max_age_days.map(|d| d * DAY),
            condition: Some(
                Condition::compile(
                    "predicate.scanner.result.Results.all(r, r.Vulnerabilities.all(v, v.Severity != 'CRITICAL'))",
                )
                .expect("condition"),
            ),
        }
    }

    fn run(req: &AttestationRequirement, s: &[VerifiedStatement]) -> Decision {
        judge(req, s, "r", &digest(), NOW)
    }

    fn statement_with(
        predicate_type: &str,
        predicate: serde_json::Value,
        digest: (&str, &str),
    ) -> Statement {
        let bytes = serde_json::to_vec(&serde_json::json!({
            "_type": statement::STATEMENT_V1,
            "subject": [{"name": "pkg", "digest": {digest.0: digest.1}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        }))
        .expect("json");
        statement::parse(&bytes).expect("statement")
    }

    #[test]
    fn provenance_without_its_optional_finish_time_is_dated_by_its_signing_time() {
        let sha512 = "b".repeat(128);
        let artifact = ArtifactDigest::parse(&format!("sha512:{sha512}")).expect("digest");
        let provenance = VerifiedStatement {
            statement: statement_with(
                crate::predicate::SLSA_V1,
                serde_json::json!({"runDetails": {"builder": {"id": "b"}}}),
                ("sha512", &sha512),
            ),
            signers: vec!["ci".into()],
            signed_at: Some(NOW - DAY),
            source: "bundle".into(),
        };
        let req = AttestationRequirement {
            predicate_type: crate::predicate::SLSA_V1.into(),
            signers: Vec::new(),
            max_age: Some(7 * DAY),
            condition: None,
        };
        let d = judge_artifact(
            &req,
            std::slice::from_ref(&provenance),
            "pkg",
            &artifact,
            NOW,
        );
        assert!(d.passed, "{}", d.reason);
        assert_eq!(d.statements[0].dated, rfc3339(NOW - DAY));
        let d = judge_artifact(&req, &[provenance], "pkg", &artifact, NOW + 7 * DAY);
        assert!(!d.passed);
        assert!(d.reason.contains("more than max_age"), "{}", d.reason);
    }

    #[test]
    fn a_scan_without_its_finish_time_is_undated_even_when_signed() {
        let a = "a".repeat(64);
        let scan = VerifiedStatement {
            statement: statement_with(VULN, serde_json::json!({"scanner": {}}), ("sha256", &a)),
            signers: vec!["scanner".into()],
            signed_at: Some(NOW - DAY),
            source: "bundle".into(),
        };
        let d = run(&requirement(Some(7)), &[scan]);
        assert!(!d.passed);
        assert!(
            d.statements[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("scanFinishedOn")),
            "{:?}",
            d.statements[0]
        );
    }

    #[test]
    fn a_statement_about_the_same_hex_under_another_algorithm_does_not_count() {
        let hex = "c".repeat(64);
        let s = statement_with(VULN, serde_json::json!({}), ("sha512", &hex));
        assert!(!s.is_about_artifact(&ArtifactDigest {
            algorithm: "sha256".into(),
            hex: hex.clone()
        }));
        assert!(ArtifactDigest::parse(&format!("sha512:{hex}")).is_none());
        assert!(ArtifactDigest::parse(&format!("sha256:{}", hex.to_uppercase())).is_none());
    }

    #[test]
    fn six_days_old_passes_and_eight_days_old_fails_max_age_7d() {
        let a = "a".repeat(64);
        assert!(
            run(
                &requirement(Some(7)),
                &[scan(NOW - 6 * DAY, false, "scanner", &a)]
            )
            .passed
        );
        let d = run(
            &requirement(Some(7)),
            &[scan(NOW - 8 * DAY, false, "scanner", &a)],
        );
        assert!(!d.passed);
        assert!(d.reason.contains("more than max_age 7d"), "{}", d.reason);
    }

    #[test]
    fn the_newest_scan_decides() {
        let a = "a".repeat(64);
        let today_critical = scan(NOW - 3600, true, "scanner", &a);
        let last_week_clean = scan(NOW - 6 * DAY, false, "scanner", &a);
        let d = run(&requirement(Some(7)), &[last_week_clean, today_critical]);
        assert!(!d.passed, "a newer critical scan is not outvoted");
        assert!(d.statements[1].decided && !d.statements[0].decided);
        let old_critical = scan(NOW - 5 * DAY, true, "scanner", &a);
        assert!(
            run(
                &requirement(Some(7)),
                &[old_critical, scan(NOW - 60, false, "scanner", &a)]
            )
            .passed
        );
    }

    #[test]
    fn equal_dates_must_all_pass() {
        let a = "a".repeat(64);
        let d = run(
            &requirement(None),
            &[
                scan(NOW - 60, false, "scanner", &a),
                scan(NOW - 60, true, "scanner", &a),
            ],
        );
        assert!(!d.passed);
    }

    #[test]
    fn another_digest_and_an_unlisted_signer_do_not_count() {
        let other = scan(NOW - 60, false, "scanner", &"b".repeat(64));
        let stranger = scan(NOW - 60, false, "someone", &"a".repeat(64));
        let d = run(&requirement(Some(7)), &[other, stranger]);
        assert!(!d.passed);
        assert!(d.statements.iter().all(|s| !s.counted));
        assert!(
            d.statements[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("subject"))
        );
        assert!(
            d.statements[1]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("someone"))
        );
    }

    #[test]
    fn ages_read_whole_units_only() {
        assert_eq!(parse_age("7d"), Ok(7 * DAY));
        assert_eq!(parse_age("90m"), Ok(5400));
        assert!(parse_age("7").is_err());
        assert!(parse_age("d").is_err());
        assert!(parse_age("-1d").is_err());
        assert!(parse_age("1.5d").is_err());
        assert!(parse_age("99999999999999999d").is_err());
    }

    #[test]
    fn a_statement_from_the_future_fails() {
        let d = run(
            &requirement(None),
            &[scan(NOW + DAY, false, "scanner", &"a".repeat(64))],
        );
        assert!(!d.passed);
        assert!(d.reason.contains("future"), "{}", d.reason);
    }

    #[test]
    fn max_age_without_a_time_fails_and_says_why() {
        let a = "a".repeat(64);
        let mut custom = scan(NOW, false, "scanner", &a);
        custom.statement.predicate_type = crate::predicate::CUSTOM.into();
        let req = AttestationRequirement {
            predicate_type: crate::predicate::CUSTOM.into(),
            condition: None,
            ..requirement(Some(7))
        };
        let d = run(&req, &[custom.clone()]);
        assert!(!d.passed);
        assert!(d.reason.contains("trustworthy time"), "{}", d.reason);
        custom.signed_at = Some(NOW - DAY);
        assert!(run(&req, &[custom]).passed);
    }
}
