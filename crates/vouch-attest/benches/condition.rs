//! CEL condition cost: compile once, evaluate the "no critical finding" condition over a
//! Trivy-sized scan record (200 results × 20 findings) and the SLSA builder-id condition,
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
    let results: Vec<_> = (0..200)
        .map(|i| {
            let findings: Vec<_> = (0..20)
                .map(|j| serde_json::json!({"VulnerabilityID": format!("CVE-2026-{i}{j}"), "Severity": "LOW"}))
                .collect();
            serde_json::json!({"Target": format!("t{i}"), "Vulnerabilities": findings})
        })
        .collect();
    let predicate = serde_json::json!({"scanner": {"result": {"Results": results}}});
    let started = Instant::now();
    let record = variables(predicate);
    println!(
        "binding the 4000-finding record: {:.1} µs",
        started.elapsed().as_secs_f64() * 1e6
    );
    measure("no critical, 4000 findings", &scan, &record, 50);
}
