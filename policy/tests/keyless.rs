//! Keyless signers: `keyless: {issuer, subject | subject_regex}`, counted like key signers.

mod common;

use common::*;
use vouch_policy::{
    CaseOptions, KeylessIdentity, Outcome, SignatureFact, SignatureStatus, SubjectMatcher,
    run_cases,
};

const GHA: &str = "https://token.actions.githubusercontent.com";
const APP: &str = "registry.example.com/prod/app";
const RELEASE: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3";

const POLICY: &str = r#"
version: 1
trusted_root: roots/trusted_root.json
signers:
  release-ci:
    keyless:
      issuer: https://token.actions.githubusercontent.com
      subject_regex: "https://github.com/acme/app/\\.github/workflows/release\\.yml@refs/tags/v.*"
  any-acme-workflow:
    keyless:
      issuer: https://token.actions.githubusercontent.com
      subject_regex: "https://github.com/acme/.*"
  security:
    keys: [keys/security.pub]
    keyless: {issuer: https://accounts.google.com, subject: security@acme.example}
rules:
  - name: prod
    images: ["registry.example.com/prod/**"]
    require: {signers: [release-ci, security], threshold: 2}
  - name: staging
    images: ["registry.example.com/staging/**"]
    require: {signers: [release-ci, any-acme-workflow], threshold: 2, identity: any}
"#;

fn keyless(issuer: &str, subject: &str, repo: Option<&str>) -> SignatureFact {
    SignatureFact {
        key_id: String::new(),
        keyless: Some(KeylessIdentity {
            issuer: issuer.to_string(),
            subject: subject.to_string(),
        }),
        payload_repository: repo.map(str::to_string),
        ..SignatureFact::default()
    }
}

fn eval(facts: &vouch_policy::ImageFacts) -> vouch_policy::Evaluation {
    policy(POLICY).evaluate(facts, at("2026-06-01T00:00:00Z"))
}

#[test]
fn keyless_and_key_signatures_count_together() {
    let p = policy(POLICY);
    assert_eq!(p.trusted_root(), Some("roots/trusted_root.json"));
    assert!(p.has_keyless());
    let security = p.signer("security").expect("security");
    assert_eq!(security.key_ids.len(), 1);
    assert!(matches!(
        security.keyless.as_ref().map(|k| &k.subject),
        Some(SubjectMatcher::Subject(s)) if s == "security@acme.example"
    ));

    let sigs = vec![
        keyless(GHA, RELEASE, Some(APP)),
        sig("keys/security.pub", APP),
    ];
    let e = eval(&image(APP, &digest('a'), sigs));
    assert_eq!(e.decision, Outcome::Allow, "{e}");
    assert_eq!(e.signers_counted, ["release-ci", "security"]);
    assert_eq!(
        e.signatures[0]
            .identity
            .as_ref()
            .map(|i| i.subject.as_str()),
        Some(RELEASE)
    );
    assert!(e.to_string().contains("identity \""), "{e}");

    // The same signer through its key and its keyless identity counts once.
    let sigs = vec![
        sig("keys/security.pub", APP),
        keyless(
            "https://accounts.google.com",
            "security@acme.example",
            Some(APP),
        ),
    ];
    let e = eval(&image(APP, &digest('b'), sigs));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.signers_counted, ["security"]);
    assert_eq!(
        e.signatures[1].status,
        SignatureStatus::SignerAlreadyCounted
    );
}

#[test]
fn subject_regex_matches_the_whole_subject_and_the_issuer_exactly() {
    let with = |issuer: &str, subject: &str| {
        let sigs = vec![
            keyless(issuer, subject, Some(APP)),
            sig("keys/security.pub", APP),
        ];
        eval(&image(APP, &digest('c'), sigs))
    };
    assert_eq!(with(GHA, RELEASE).decision, Outcome::Allow);
    // Anchored: a prefix, a suffix or a substring is not a match.
    for subject in [
        &format!("x{RELEASE}"),
        "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
        "https://github.com/acme/app/.github/workflows/release.yml",
        &format!("https://evil.example/?{RELEASE}"),
    ] {
        let e = with(GHA, subject);
        assert_eq!(e.decision, Outcome::Deny, "{subject}");
        // Not release-ci; at most the catch-all acme signer, which rule "prod" does not trust.
        assert!(
            matches!(
                e.signatures[0].status,
                SignatureStatus::UnknownIdentity | SignatureStatus::UntrustedByRule
            ),
            "{e}"
        );
    }
    // The right subject from another issuer is someone else.
    let e = with("https://accounts.google.com", RELEASE);
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.signatures[0].status, SignatureStatus::UnknownIdentity);
    assert!(e.signatures[0].reason.contains("matches no keyless signer"));
}

#[test]
fn one_identity_matched_by_two_signers_counts_for_one() {
    let repo = "registry.example.com/staging/app";
    let e = eval(&image(
        repo,
        &digest('d'),
        vec![keyless(GHA, RELEASE, None)],
    ));
    assert_eq!(e.decision, Outcome::Deny, "{e}");
    assert_eq!(e.signers_counted.len(), 1);
    // A second signature by the same identity adds nothing; another acme workflow does.
    let e = eval(&image(
        repo,
        &digest('d'),
        vec![keyless(GHA, RELEASE, None), keyless(GHA, RELEASE, None)],
    ));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.signatures[1].status, SignatureStatus::KeyAlreadyCounted);
    let e = eval(&image(
        repo,
        &digest('d'),
        vec![
            keyless(GHA, RELEASE, None),
            keyless(
                GHA,
                "https://github.com/acme/tools/.github/workflows/x.yml@refs/heads/main",
                None,
            ),
        ],
    ));
    assert_eq!(e.decision, Outcome::Allow, "{e}");
    assert_eq!(e.signers_counted, ["release-ci", "any-acme-workflow"]);
}

#[test]
fn a_signature_naming_no_repository_needs_identity_any() {
    // cosign v3 statements name no repository: `identity: repository` (the default) refuses them.
    let sigs = vec![keyless(GHA, RELEASE, None), sig("keys/security.pub", APP)];
    let e = eval(&image(APP, &digest('e'), sigs));
    assert_eq!(e.decision, Outcome::Deny);
    assert_eq!(e.signatures[0].status, SignatureStatus::IdentityMismatch);
}

#[test]
fn cases_can_sign_as_keyless_identities() {
    let cases = format!(
        r#"
at: 2026-06-01T00:00:00Z
cases:
  - name: release workflow and security key
    image: {APP}:1.0
    signatures:
      - keyless: {{issuer: "{GHA}", subject: "{RELEASE}"}}
      - signer: security
    expect: {{decision: allow, rule: prod}}
  - name: security's keyless identity stands in for its key
    image: {APP}:1.0
    signatures:
      - keyless: {{issuer: "{GHA}", subject: "{RELEASE}"}}
      - keyless: {{issuer: https://accounts.google.com, subject: security@acme.example}}
    expect: {{decision: allow}}
  - name: wrong issuer
    image: {APP}:1.0
    signatures:
      - keyless: {{issuer: https://accounts.google.com, subject: "{RELEASE}"}}
      - signer: security
    expect: {{decision: deny}}
"#
    );
    let options = CaseOptions {
        now: at("2026-06-01T00:00:00Z"),
        normalize: &normalize,
    };
    let report = run_cases(&policy(POLICY), &cases, "cases.yaml", &options).expect("cases");
    assert!(report.all_passed(), "{report}");

    // A regex signer cannot be signed for by name: the case must give the identity.
    let bad = format!(
        "cases:\n  - name: x\n    image: {APP}:1.0\n    signatures: [{{signer: release-ci}}]\n    expect: {{decision: allow}}\n"
    );
    let diags = run_cases(&policy(POLICY), &bad, "cases.yaml", &options).expect_err("refused");
    assert_eq!(diags.0[0].code, "missing-key");
}

#[test]
fn regexes_are_bounded() {
    let huge = format!(
        "version: 1\nsigners:\n  s:\n    keyless: {{issuer: \"{GHA}\", subject_regex: \"(a{{1000}}){{1000}}\"}}\nrules: []\n"
    );
    let diags = load(&huge).expect_err("too big");
    assert!(diags.iter().any(|d| d.code == "bad-regex"), "{diags:?}");
}

const UNLOGGED_POLICY: &str = r#"
version: 1
signers:
  release-ci:
    keyless:
      issuer: https://token.actions.githubusercontent.com
      subject_regex: "https://github.com/acme/app/\\.github/workflows/release\\.yml@refs/tags/v.*"
  private-ca:
    keyless:
      issuer: https://oidc.internal.example
      subject: builder@internal.example
      transparency_log: optional
  security:
    keys: [keys/security.pub]
rules:
  - name: prod
    images: ["registry.example.com/prod/**"]
    require: {signers: [release-ci, private-ca, security], threshold: 2}
"#;

fn unlogged(mut s: SignatureFact) -> SignatureFact {
    s.unlogged = true;
    s
}

#[test]
fn unlogged_keyless_signatures_count_only_for_signers_that_accept_them() {
    let p = policy(UNLOGGED_POLICY);
    assert!(p.accepts_unlogged());
    assert!(!policy(POLICY).accepts_unlogged());
    let at = at("2026-06-01T00:00:00Z");
    let internal = "https://oidc.internal.example";

    // An unlogged release-ci signature does not count: its signer requires a log entry.
    let e = p.evaluate(
        &image(
            APP,
            &digest('a'),
            vec![
                unlogged(keyless(GHA, RELEASE, Some(APP))),
                sig("keys/security.pub", APP),
            ],
        ),
        at,
    );
    assert_eq!(e.decision, Outcome::Deny, "{e}");
    assert_eq!(e.signatures[0].status, SignatureStatus::Unlogged);
    assert!(
        e.signatures[0]
            .reason
            .contains("transparency_log: optional"),
        "{e}"
    );
    assert_eq!(e.signers_counted, ["security"]);

    // The same signature, logged, counts.
    let e = p.evaluate(
        &image(
            APP,
            &digest('a'),
            vec![
                keyless(GHA, RELEASE, Some(APP)),
                sig("keys/security.pub", APP),
            ],
        ),
        at,
    );
    assert_eq!(e.decision, Outcome::Allow, "{e}");

    // private-ca says `transparency_log: optional`: its unlogged signature counts, together
    // with a key signer for the threshold.
    let e = p.evaluate(
        &image(
            APP,
            &digest('b'),
            vec![
                unlogged(keyless(internal, "builder@internal.example", Some(APP))),
                sig("keys/security.pub", APP),
            ],
        ),
        at,
    );
    assert_eq!(e.decision, Outcome::Allow, "{e}");
    assert_eq!(e.signers_counted, ["private-ca", "security"]);
    assert!(e.to_string().contains("not logged"), "{e}");
}

#[test]
fn transparency_log_takes_two_words() {
    let src = UNLOGGED_POLICY.replace("transparency_log: optional", "transparency_log: maybe");
    let diags = vouch_policy::parse(&src, "p.yaml")
        .and_then(|raw| vouch_policy::validate(raw, &|_| Ok("0".repeat(64))))
        .expect_err("unknown value");
    let d = diags
        .0
        .iter()
        .find(|d| d.code == "unknown-value")
        .expect("code");
    assert!(
        d.message.contains("`required`, `optional`"),
        "{}",
        d.message
    );
}

#[test]
fn cases_can_give_an_unlogged_keyless_signature() {
    let p = policy(UNLOGGED_POLICY);
    let cases = r#"
cases:
  - name: unlogged private CA signature counts with the security key
    image: registry.example.com/prod/app:1
    signatures:
      - keyless: {issuer: https://oidc.internal.example, subject: builder@internal.example}
        logged: false
      - signer: security
    expect: {decision: allow}
  - name: unlogged release-ci signature does not count
    image: registry.example.com/prod/app:1
    signatures:
      - keyless: {issuer: https://token.actions.githubusercontent.com, subject: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"}
        logged: false
      - signer: security
    expect: {decision: deny}
"#;
    let normalize = |s: &str| -> Result<vouch_policy::ImageName, String> {
        let (repository, tag) = s.split_once(':').ok_or("no tag")?;
        Ok(vouch_policy::ImageName {
            repository: repository.to_string(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    };
    let options = CaseOptions {
        now: at("2026-06-01T00:00:00Z"),
        normalize: &normalize,
    };
    let report = run_cases(&p, cases, "cases.yaml", &options).expect("cases parse");
    assert!(report.all_passed(), "{report}");
}
