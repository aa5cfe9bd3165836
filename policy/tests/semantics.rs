//! One or more tests for each semantic rule in docs/policy.md.

mod common;

use common::*;
use vouch_policy::{
    DenyCause, Evaluation, Outcome, SignatureStatus, Timestamp, combine_platform, overall,
};

const PROD: &str = "registry.example.com/prod/app";
const NOW: &str = "2026-06-01T00:00:00Z";

fn example() -> vouch_policy::Policy {
    policy(&fixture("example.yaml"))
}

fn eval(p: &vouch_policy::Policy, img: &vouch_policy::ImageFacts) -> Evaluation {
    p.evaluate(img, at(NOW))
}

fn prod_sigs() -> Vec<vouch_policy::SignatureFact> {
    vec![
        with_annotations(sig("keys/release-ci.pub", PROD), &[("env", "prod")]),
        with_annotations(sig("keys/security.pub", PROD), &[("env", "prod")]),
    ]
}

#[test]
fn example_policy_is_valid_in_yaml_and_json() {
    let p = example();
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    assert_eq!(p.rules().len(), 6);
    let j = policy(&fixture("example.json"));
    assert_eq!(j.rules().len(), 2);
    let e = j.evaluate(&image(PROD, &digest('a'), prod_sigs()), at(NOW));
    assert_eq!(e.decision, Outcome::Allow);
}

#[test]
fn most_specific_rule_wins_and_says_why() {
    let p = example();
    let s = p.select_rule(PROD).expect("rule");
    assert_eq!(s.name, "production");
    assert_eq!(s.pattern, "registry.example.com/prod/**");
    assert_eq!(
        s.why_it_won,
        "\"registry.example.com/prod/**\" is more specific than \"registry.example.com/**\" of rule \"everything else on our registry\" (more literal segments: 2 against 1)"
    );
    assert_eq!(s.also_matched.len(), 1);
    let pay = p
        .select_rule("registry.example.com/prod/payments")
        .expect("rule");
    assert_eq!(pay.name, "production payments");
    assert_eq!(pay.also_matched.len(), 2);
    assert_eq!(
        p.select_rule("registry.example.com/other").map(|s| s.name),
        Some("everything else on our registry".to_string())
    );
    assert_eq!(p.select_rule("ghcr.io/x/y"), None);
    // `**` matches zero segments: the prod repository itself is under the production rule.
    assert_eq!(
        p.select_rule("registry.example.com/prod").map(|s| s.name),
        Some("production".to_string())
    );
}

#[test]
fn rule_order_never_matters() {
    let a = policy(
        "version: 1\nrules:\n  - {name: wide, images: [\"r.io/**\"], allow: always}\n  - {name: narrow, images: [\"r.io/a/*\"], allow: always}\n",
    );
    let b = policy(
        "version: 1\nrules:\n  - {name: narrow, images: [\"r.io/a/*\"], allow: always}\n  - {name: wide, images: [\"r.io/**\"], allow: always}\n",
    );
    for repo in ["r.io/a/b", "r.io/a", "r.io/a/b/c", "r.io/x"] {
        assert_eq!(
            a.select_rule(repo).map(|s| s.name),
            b.select_rule(repo).map(|s| s.name),
            "{repo}"
        );
    }
    assert_eq!(
        a.select_rule("r.io/a/b").map(|s| s.name),
        Some("narrow".into())
    );
}

#[test]
fn tying_rules_are_refused_with_an_example_image() {
    let err = load(
        "version: 1\nrules:\n  - {name: svc, images: [\"r.io/**/*-svc\"], allow: always}\n  - {name: api, images: [\"r.io/*-api/**\"], allow: always}\n",
    )
    .expect_err("ambiguous");
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].code, "ambiguous-rules");
    assert!(err[0].message.contains("e.g. \""), "{}", err[0].message);
    // The same pair is fine when a more specific rule takes every image they would tie on.
    policy(
        "version: 1\nrules:\n  - {name: one, images: [\"r.io/*/*/x\"], allow: always}\n  - {name: two, images: [\"r.io/*/x/*\"], allow: always}\n  - {name: three, images: [\"r.io/*/x/x\"], allow: always}\n",
    );
    let err = load(
        "version: 1\nrules:\n  - {name: one, images: [\"r.io/*/*/x\"], allow: always}\n  - {name: two, images: [\"r.io/*/x/*\"], allow: always}\n",
    )
    .expect_err("ambiguous");
    assert!(
        err[0].message.contains("\"r.io/y/x/x\""),
        "{}",
        err[0].message
    );
    // The same pattern in two rules is the simplest tie.
    let err = load(
        "version: 1\nrules:\n  - {name: a, images: [\"r.io/x\"], allow: always}\n  - {name: b, images: [\"r.io/x\", \"r.io/y\"], allow: always}\n",
    )
    .expect_err("ambiguous");
    assert_eq!(err[0].code, "ambiguous-rules");
}

#[test]
fn shadowed_rules_are_reported() {
    let p = policy(
        "version: 1\nrules:\n  - {name: all, images: [\"r.io/**\"], allow: always}\n  - {name: deep, images: [\"r.io/**/*\"], allow: always}\n",
    );
    let codes: Vec<&str> = p.warnings().iter().map(|d| d.code).collect();
    assert_eq!(codes, ["unreachable-rule"]);
    assert!(p.warnings()[0].message.contains("\"deep\""));
}

#[test]
fn revoked_digest_beats_everything() {
    let p = example();
    let dead = format!("sha256:dead{}", "0".repeat(60));
    let e = eval(&p, &image(PROD, &dead, prod_sigs()));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.deny_cause, Some(DenyCause::RevokedDigest));
    // Even an explicit opt-out, a warn-mode rule, or `default: allow`.
    for repo in [
        "registry.example.com/dev/x",
        "registry.example.com/staging/x",
    ] {
        let e = eval(&p, &image(repo, &dead, vec![]));
        assert_eq!(e.decision, Outcome::Deny, "{repo}");
    }
    let open = policy(&format!(
        "version: 1\nrevoked: {{digests: [\"{dead}\"]}}\ndefault: allow\n"
    ));
    assert_eq!(
        open.evaluate(&image("ghcr.io/a/b", &dead, vec![]), at(NOW))
            .decision,
        Outcome::Deny
    );
}

#[test]
fn revoked_key_never_counts() {
    let src = format!(
        "version: 1\nsigners:\n  a: {{keys: [a.pub]}}\nrules:\n  - {{name: r, images: [\"r.io/**\"], require: {{signers: [a]}}}}\nrevoked:\n  keys: [\"{}\"]\n",
        key_id("a.pub")
    );
    let p = policy(&src);
    let e = p.evaluate(
        &image("r.io/x", &digest('a'), vec![sig("a.pub", "r.io/x")]),
        at(NOW),
    );
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.signatures[0].status, SignatureStatus::RevokedKey);
}

#[test]
fn digest_pin_mismatch_denies_a_well_signed_image() {
    let p = example();
    let repo = "registry.example.com/prod/payments";
    let sigs = vec![
        sig("keys/release-ci.pub", repo),
        sig("keys/security.pub", repo),
    ];
    let ok = eval(&p, &image(repo, &digest('1'), sigs.clone()));
    assert_eq!(ok.decision, Outcome::Allow);
    let e = eval(&p, &image(repo, &digest('3'), sigs));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.deny_cause, Some(DenyCause::DigestNotPinned));
    assert_eq!(e.signers_counted.len(), 2);
}

#[test]
fn allow_pinned_and_allow_always() {
    let p = example();
    let alpine = "docker.io/library/alpine";
    assert_eq!(
        eval(&p, &image(alpine, &digest('2'), vec![])).decision,
        Outcome::AllowPinned
    );
    let e = eval(&p, &image(alpine, &digest('4'), vec![]));
    assert_eq!(
        (e.decision, e.deny_cause),
        (Outcome::Deny, Some(DenyCause::DigestNotPinned))
    );
    let e = eval(
        &p,
        &image("registry.example.com/dev/tool", &digest('4'), vec![]),
    );
    assert_eq!(e.decision, Outcome::AllowAlways);
    assert!(e.reasons[0].contains("explicit opt-out"));
}

#[test]
fn threshold_counts_distinct_signers_not_signatures() {
    let p = example();
    // One signer signing twice counts once.
    let twice = vec![
        with_annotations(sig("keys/release-ci.pub", PROD), &[("env", "prod")]),
        with_annotations(sig("keys/release-ci.pub", PROD), &[("env", "prod")]),
    ];
    let e = eval(&p, &image(PROD, &digest('a'), twice));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.signers_counted, ["release-ci"]);
    assert_eq!(e.signatures[1].status, SignatureStatus::KeyAlreadyCounted);
    // Two keys of the same signer (rotation) count once.
    let rotated = vec![
        with_annotations(sig("keys/release-ci.pub", PROD), &[("env", "prod")]),
        with_annotations(sig("keys/release-ci-2025.pub", PROD), &[("env", "prod")]),
    ];
    let e = eval(&p, &image(PROD, &digest('a'), rotated));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(
        e.signatures[1].status,
        SignatureStatus::SignerAlreadyCounted
    );
    assert_eq!(
        e.to_pass[0],
        "a valid signature from \"security-team\" (1 more distinct signer needed)"
    );
    // A key not listed under the rule's signers never counts.
    let ops = vec![
        with_annotations(sig("keys/release-ci.pub", PROD), &[("env", "prod")]),
        with_annotations(sig("keys/ops.pub", PROD), &[("env", "prod")]),
    ];
    let e = eval(&p, &image(PROD, &digest('a'), ops));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.signatures[1].status, SignatureStatus::UntrustedByRule);
    assert_eq!(
        e.signatures[1].reason,
        format!(
            "key {} of signer \"ops\" is not trusted by rule \"production\"",
            &key_id("keys/ops.pub")[..12]
        )
    );
    // Both signers: allowed.
    assert_eq!(
        eval(&p, &image(PROD, &digest('a'), prod_sigs())).decision,
        Outcome::Allow
    );
}

#[test]
fn a_key_under_two_signers_counts_for_one_of_them() {
    let src = "version: 1\nsigners:\n  a: {keys: [shared.pub]}\n  b: {keys: [shared.pub, b.pub]}\nrules:\n  - {name: r, images: [\"r.io/**\"], require: {signers: [a, b], threshold: 2}}\n";
    let p = policy(src);
    assert_eq!(p.warnings()[0].code, "shared-key");
    let only_shared = image("r.io/x", &digest('a'), vec![sig("shared.pub", "r.io/x")]);
    let e = p.evaluate(&only_shared, at(NOW));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.signers_counted.len(), 1);
    // With b's own key too, the shared key must count for a: a maximum matching finds it
    // whatever order the signatures come in.
    for sigs in [
        vec![sig("shared.pub", "r.io/x"), sig("b.pub", "r.io/x")],
        vec![sig("b.pub", "r.io/x"), sig("shared.pub", "r.io/x")],
    ] {
        let e = p.evaluate(&image("r.io/x", &digest('a'), sigs), at(NOW));
        assert_eq!(e.decision, Outcome::Allow);
        assert_eq!(e.signers_counted, ["a", "b"]);
    }
}

#[test]
fn validity_window_is_judged_at_the_given_instant() {
    let p = example();
    let img = image(PROD, &digest('a'), prod_sigs());
    assert_eq!(
        p.evaluate(&img, at("2026-01-01T00:00:00Z")).decision,
        Outcome::Allow
    );
    assert_eq!(
        p.evaluate(&img, at("2027-06-30T00:00:00Z")).decision,
        Outcome::Allow
    );
    let late = p.evaluate(&img, at("2027-06-30T00:00:01Z"));
    assert_eq!(late.decision, Outcome::Deny);
    assert_eq!(late.signatures[0].status, SignatureStatus::OutsideValidity);
    assert_eq!(
        late.signatures[0].reason,
        "signer \"release-ci\" expired at 2027-06-30T00:00:00Z"
    );
    assert!(
        late.to_pass.iter().any(|t| t.contains("expired")),
        "{:?}",
        late.to_pass
    );
    let early = p.evaluate(&img, at("2025-12-31T23:59:59Z"));
    assert_eq!(
        early.signatures[0].reason,
        "signer \"release-ci\" is not valid before 2026-01-01T00:00:00Z"
    );
    assert_eq!(
        late.at,
        Timestamp::parse_rfc3339("2027-06-30T00:00:01Z").expect("t")
    );
}

#[test]
fn identity_modes() {
    let p = example();
    // repository: the payload must name the image's repository.
    let wrong = vec![
        with_annotations(
            sig("keys/release-ci.pub", "registry.example.com/prod/other"),
            &[("env", "prod")],
        ),
        with_annotations(sig("keys/security.pub", PROD), &[("env", "prod")]),
    ];
    let e = eval(&p, &image(PROD, &digest('a'), wrong));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.signatures[0].status, SignatureStatus::IdentityMismatch);
    assert_eq!(
        e.signatures[0].reason,
        "payload names registry.example.com/prod/other, rule \"production\" requires registry.example.com/prod/app"
    );
    // exact: a tag reference needs the tag too; a digest reference only the repository.
    let st = "registry.example.com/staging/app";
    let mut s = sig("keys/ops.pub", st);
    s.payload_tag = Some("1.0".into());
    let mut img = image(st, &digest('a'), vec![s.clone()]);
    img.tag = Some("1.0".into());
    assert_eq!(eval(&p, &img).decision, Outcome::Allow);
    img.tag = Some("2.0".into());
    let e = eval(&p, &img);
    assert_eq!(e.decision, Outcome::Warn);
    assert_eq!(
        e.signatures[0].reason,
        "payload names registry.example.com/staging/app:1.0, rule \"staging\" requires exactly registry.example.com/staging/app:2.0"
    );
    img.tag = None;
    assert_eq!(eval(&p, &img).decision, Outcome::Allow);
    // any: no check.
    let any = policy(
        "version: 1\nsigners: {a: {keys: [a.pub]}}\nrules:\n  - {name: r, images: [\"r.io/**\"], require: {signers: [a], identity: any}}\n",
    );
    let e = any.evaluate(
        &image("r.io/x", &digest('a'), vec![sig("a.pub", "elsewhere.io/y")]),
        at(NOW),
    );
    assert_eq!(e.decision, Outcome::Allow);
    let mut none = sig("a.pub", "x");
    none.payload_repository = None;
    let e = any.evaluate(&image("r.io/x", &digest('a'), vec![none]), at(NOW));
    assert_eq!(e.decision, Outcome::Allow);
}

#[test]
fn annotations_must_be_signed_with_the_required_values() {
    let p = example();
    let sigs = vec![
        with_annotations(sig("keys/release-ci.pub", PROD), &[("env", "dev")]),
        sig("keys/security.pub", PROD),
    ];
    let e = eval(&p, &image(PROD, &digest('a'), sigs));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(
        e.signatures[0].reason,
        "annotation env=dev, rule requires env=prod"
    );
    assert_eq!(
        e.signatures[1].reason,
        "annotation env missing, rule requires env=prod"
    );
    assert_eq!(e.signatures[1].status, SignatureStatus::AnnotationMismatch);
    assert!(e
        .to_pass
        .contains(&"\"release-ci\" signed, but signature #0 was refused: annotation env=dev, rule requires env=prod".to_string()));
}

#[test]
fn warn_mode_reports_a_deny_and_passes() {
    let p = example();
    let e = eval(
        &p,
        &image("registry.example.com/staging/app", &digest('a'), vec![]),
    );
    assert_eq!(e.decision, Outcome::Warn);
    assert!(e.decision.passes());
    assert_eq!(e.deny_cause, Some(DenyCause::NotEnoughSigners));
    assert!(!e.to_pass.is_empty());
}

#[test]
fn default_decides_when_no_rule_matches() {
    let p = example();
    let e = eval(&p, &image("ghcr.io/a/b", &digest('a'), vec![]));
    assert_eq!(
        (e.decision, e.deny_cause),
        (Outcome::Deny, Some(DenyCause::NoMatchingRule))
    );
    assert_eq!(e.rule, None);
    let omitted =
        policy("version: 1\nrules:\n  - {name: r, images: [\"r.io/**\"], allow: always}\n");
    assert_eq!(
        omitted
            .evaluate(&image("ghcr.io/a/b", &digest('a'), vec![]), at(NOW))
            .decision,
        Outcome::Deny
    );
    let open = policy(
        "version: 1\nrules:\n  - {name: r, images: [\"r.io/**\"], allow: always}\ndefault: allow\n",
    );
    assert_eq!(
        open.evaluate(&image("ghcr.io/a/b", &digest('a'), vec![]), at(NOW))
            .decision,
        Outcome::AllowDefault
    );
}

#[test]
fn unknown_keys_are_reported_not_counted() {
    let p = example();
    let mut sigs = prod_sigs();
    sigs.push(sig("someone-else.pub", PROD));
    let e = eval(&p, &image(PROD, &digest('a'), sigs));
    assert_eq!(e.decision, Outcome::Allow);
    assert_eq!(e.signatures[2].status, SignatureStatus::UnknownKey);
    assert_eq!(e.signatures[2].signer, None);
}

#[test]
fn the_digest_judged_is_always_reported() {
    let p = example();
    let mut img = image(PROD, &digest('a'), prod_sigs());
    img.tag = Some("1.0".into());
    let e = eval(&p, &img);
    assert_eq!(e.digest, digest('a'));
    assert_eq!(e.tag.as_deref(), Some("1.0"));
}

#[test]
fn multi_arch_child_passes_on_its_own_or_through_its_index() {
    let p = example();
    let signed = eval(&p, &image(PROD, &digest('a'), prod_sigs()));
    let unsigned = eval(&p, &image(PROD, &digest('b'), vec![]));
    // Child signed itself: passes, index or not.
    assert_eq!(combine_platform(&signed, None).decision, Outcome::Allow);
    assert_eq!(
        combine_platform(&signed, Some(&unsigned)).decision,
        Outcome::Allow
    );
    // Unsigned child from a signed index: passes through the index.
    let via = combine_platform(&unsigned, Some(&signed));
    assert_eq!(via.decision, Outcome::Allow);
    assert_eq!(via.via_index, Some(digest('a')));
    assert_eq!(via.digest, digest('b'));
    // Unsigned child named directly, or from an unsigned index: refused.
    assert_eq!(combine_platform(&unsigned, None).decision, Outcome::Deny);
    assert_eq!(
        combine_platform(&unsigned, Some(&unsigned)).decision,
        Outcome::Deny
    );
    // A revoked child is refused whatever its index says.
    let dead = format!("sha256:dead{}", "0".repeat(60));
    let revoked = eval(&p, &image(PROD, &dead, prod_sigs()));
    assert_eq!(
        combine_platform(&revoked, Some(&signed)).decision,
        Outcome::Deny
    );
    // --all-platforms: every child must pass.
    assert_eq!(
        overall(&[signed.clone(), via.clone()]),
        Some(Outcome::Allow)
    );
    assert_eq!(overall(&[signed, unsigned]), Some(Outcome::Deny));
    assert_eq!(overall(&[]), None);
}

#[test]
fn select_rule_is_fast_path_consistent_with_patterns() {
    let p = example();
    for r in p.rules() {
        for pat in &r.images {
            assert!(!pat.as_str().is_empty());
        }
    }
    assert!(p.key_ids().contains(&key_id("keys/ops.pub").as_str()));
    assert_eq!(p.signers_of_key(&key_id("keys/ops.pub")), ["ops"]);
}

#[test]
fn a_pin_applies_to_allow_always_too() {
    let p = policy(&format!(
        "version: 1\nrules:\n  - {{name: r, images: [\"r.io/**\"], allow: always, digests: [\"{}\"]}}\n",
        digest('1')
    ));
    let ok = p.evaluate(&image("r.io/x", &digest('1'), vec![]), at(NOW));
    assert_eq!(ok.decision, Outcome::AllowAlways);
    let no = p.evaluate(&image("r.io/x", &digest('2'), vec![]), at(NOW));
    assert_eq!(
        (no.decision, no.deny_cause),
        (Outcome::Deny, Some(DenyCause::DigestNotPinned))
    );
}

#[test]
fn key_sources_are_listed_in_file_order_with_inline_pem_flagged() {
    let src = "version: 1\nsigners:\n  a:\n    keys:\n      - keys/a.pub\n      - |\n        -----BEGIN PUBLIC KEY-----\n        AAAA\n        -----END PUBLIC KEY-----\n  b: {keys: [../b.pub]}\nrules:\n  - {name: r, images: [\"r.io/**\"], require: {signers: [a, b]}}\n";
    let raw = vouch_policy::parse(src, "p.yaml").expect("parses");
    let sources = raw.key_sources();
    let summary: Vec<(&str, bool, usize)> = sources
        .iter()
        .map(|k| (k.signer.as_str(), k.inline, k.span.line))
        .collect();
    assert_eq!(summary, [("a", false, 5), ("a", true, 7), ("b", false, 10)]);
    assert!(
        sources[1]
            .text
            .starts_with("-----BEGIN PUBLIC KEY-----\nAAAA\n")
    );
    let seen = std::cell::RefCell::new(Vec::new());
    let p = vouch_policy::validate(raw, &|k| {
        seen.borrow_mut().push(k.text.clone());
        resolve(k)
    })
    .expect("valid");
    assert_eq!(seen.borrow().len(), 3);
    assert_eq!(p.signer("a").map(|s| s.key_ids.len()), Some(2));
}

#[test]
fn schema_errors_and_semantic_errors_come_together() {
    let src = "version: 1\nsigners:\n  a: {keys: [a.pub], color: blue}\nrules:\n  - {name: r, images: [\"r.io/**\"], require: {signers: [b]}}\n";
    let raw = vouch_policy::parse(src, "p.yaml").expect("readable");
    assert_eq!(raw.diagnostics().len(), 1);
    let err = vouch_policy::validate(raw, &resolve).expect_err("invalid");
    let codes: Vec<&str> = err.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["unused-signer", "unknown-key", "unknown-signer"]);
    assert_eq!(err.summary(), "2 errors, 1 warning");
}
