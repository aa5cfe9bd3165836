//! Snapshots of `policy explain` output and of evaluations (text and JSON).

mod common;

use common::*;
use vouch_policy::combine_platform;

const NOW: &str = "2026-06-01T00:00:00Z";
const PROD: &str = "registry.example.com/prod/app";

#[test]
fn explain_output() {
    let p = policy(&fixture("example.yaml"));
    let text: String = [
        PROD,
        "registry.example.com/prod/payments",
        "registry.example.com/prod",
        "registry.example.com/staging/web",
        "registry.example.com/dev/tool",
        "registry.example.com/other",
        "docker.io/library/alpine",
        "ghcr.io/someone/else",
    ]
    .iter()
    .map(|repo| p.explain(repo).to_string())
    .collect::<Vec<_>>()
    .join("\n");
    insta::assert_snapshot!(text);
}

#[test]
fn explain_json() {
    let p = policy(&fixture("example.yaml"));
    let json = serde_json::to_string_pretty(&p.explain("registry.example.com/prod/payments"))
        .expect("json");
    insta::assert_snapshot!(json);
}

#[test]
fn evaluations() {
    let p = policy(&fixture("example.yaml"));
    let prod_ok = vec![
        with_annotations(sig("keys/release-ci.pub", PROD), &[("env", "prod")]),
        with_annotations(sig("keys/security.pub", PROD), &[("env", "prod")]),
    ];
    let mut tagged = image(PROD, &digest('a'), prod_ok);
    tagged.tag = Some("1.0".into());
    let half = image(
        PROD,
        &digest('b'),
        vec![
            with_annotations(sig("keys/release-ci.pub", PROD), &[("env", "prod")]),
            with_annotations(sig("keys/release-ci-2025.pub", PROD), &[("env", "prod")]),
            with_annotations(sig("keys/security.pub", PROD), &[("env", "dev")]),
            sig("keys/ops.pub", "registry.example.com/prod/other"),
            sig("unknown.pub", PROD),
        ],
    );
    let cases = [
        ("allowed", p.evaluate(&tagged, at(NOW))),
        ("denied", p.evaluate(&half, at(NOW))),
        ("expired", p.evaluate(&tagged, at("2028-01-01T00:00:00Z"))),
        (
            "warn",
            p.evaluate(
                &image("registry.example.com/staging/web", &digest('c'), vec![]),
                at(NOW),
            ),
        ),
        (
            "pinned",
            p.evaluate(
                &image("docker.io/library/alpine", &digest('2'), vec![]),
                at(NOW),
            ),
        ),
        (
            "not pinned",
            p.evaluate(
                &image("docker.io/library/alpine", &digest('3'), vec![]),
                at(NOW),
            ),
        ),
        (
            "opt-out",
            p.evaluate(
                &image(
                    "registry.example.com/dev/tool",
                    &digest('d'),
                    vec![sig("keys/ops.pub", "registry.example.com/dev/tool")],
                ),
                at(NOW),
            ),
        ),
        (
            "revoked",
            p.evaluate(
                &image(PROD, &format!("sha256:dead{}", "0".repeat(60)), vec![]),
                at(NOW),
            ),
        ),
        (
            "no rule",
            p.evaluate(&image("ghcr.io/a/b", &digest('e'), vec![]), at(NOW)),
        ),
    ];
    let text: String = cases
        .iter()
        .map(|(name, e)| format!("## {name}\n{e}"))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("evaluations_text", text);
    let denied = &cases[1].1;
    insta::assert_snapshot!(
        "evaluation_json_denied",
        serde_json::to_string_pretty(denied).expect("json")
    );
    let via = combine_platform(
        &p.evaluate(&image(PROD, &digest('f'), vec![]), at(NOW)),
        Some(&cases[0].1),
    );
    insta::assert_snapshot!(
        "evaluation_json_via_index",
        serde_json::to_string_pretty(&via).expect("json")
    );
}
