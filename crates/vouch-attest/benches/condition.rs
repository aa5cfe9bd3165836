//! CEL condition cost: compile once, evaluate the "no critical finding" condition over a
//! Trivy scan record of 20, 100 and 4,000 findings and the SLSA builder-id condition,
//! and print microseconds per evaluation (the statement bound once, as the judge does per
//! statement; binding is measured apart). `cargo bench -p vouch-attest`.

use std::time::Instant;

use vouch_attest::{Condition, Variables};

fn variables(predicate: serde_json::Value) -> Variables {
    Variables::new(
        &predicate,
        vouch_attest::predicate::VULN,
        &serde_json::json!([{"name": "reg/app", "digest": {"sha256": "00"}}]),
        &serde_json::json!({"name": "reg/app", "digest": "sha256:00"}),
    )
    .expect("variables")
}

fn measure(name: &str, condition: &Condition, vars: &Variables, rounds: u32) {
    let started = Instant::now();
    for _ in 0..rounds {
        assert_eq!(condition.evaluate(vars), Ok(true));
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        assert_eq!(condition.evaluate_unbounded(vars), Ok(true));
    }
    let inline = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    println!(
        "{name}: {per:.1} µs per evaluation with the deadline, {inline:.1} µs on the calling thread ({rounds} rounds)"
    );
}

fn main() {
    let small = Condition::compile(
        r#"predicate.runDetails.builder.id.startsWith("https://github.com/acme/")"#,
    )
    .expect("compile");
    let provenance = variables(serde_json::json!({
        "runDetails": {"builder": {"id": "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"}}
    }));
    measure("slsa builder id", &small, &provenance, 2000);

    let scan = Condition::compile(
        r#"predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) ||
             r.Vulnerabilities.all(v, v.Severity != "CRITICAL"))"#,
    )
    .expect("compile");
    for (results, per) in [(1, 20), (5, 20), (200, 20)] {
        scan_record(&scan, results, per);
    }
}

/// The "no critical finding" condition over a record of `results` × `per` findings.
fn scan_record(scan: &Condition, results: usize, per: usize) {
    let results: Vec<_> = (0..results)
        .map(|i| {
            let findings: Vec<_> = (0..per)
                .map(|j| finding(&format!("CVE-2026-{i}{j}")))
                .collect();
            serde_json::json!({"Target": format!("t{i}"), "Vulnerabilities": findings})
        })
        .collect();
    let predicate = serde_json::json!({"scanner": {"result": {"Results": results}}});
    let findings = results.len() * per;
    let started = Instant::now();
    let record = variables(predicate);
    println!(
        "binding the {findings}-finding record: {:.1} µs",
        started.elapsed().as_secs_f64() * 1e6
    );
    let rounds = (200_000 / findings.max(1)).clamp(20, 2000) as u32;
    measure(
        &format!("no critical, {findings} findings"),
        scan,
        &record,
        rounds,
    );
}

/// One finding as Trivy writes it (the fields a CEL loop step copies along).
fn finding(id: &str) -> serde_json::Value {
    serde_json::json!({
        "VulnerabilityID": id,
        "PkgName": "libexample",
        "InstalledVersion": "1.2.3-1",
        "FixedVersion": "1.2.3-2",
        "Severity": "LOW",
        "Title": "libexample: out-of-bounds read in the parser",
        "Description": "A crafted input makes the parser read past the end of its buffer, which may disclose memory contents to a remote attacker.",
        "References": [
            format!("https://nvd.nist.gov/vuln/detail/{id}"),
            "https://security-tracker.debian.org/tracker/libexample",
        ],
        "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", "V3Score": 5.3}},
    })
}
