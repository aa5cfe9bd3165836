//! Trust policy files: YAML or JSON from the user's repository. Parsing, validation, the
//! rustc-style rendering of every diagnostic (spans into arbitrary UTF-8), and, for a policy
//! that validates, rule selection and evaluation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_policy::{
    ImageFacts, KeySource, KeylessIdentity, SignatureFact, Timestamp, parse, render, validate,
};

const FILE: &str = "fuzz.yaml";
const KEY_A: &str = "e82cee53fdda2bbd0f2e5a0d1d6d4e3bb3d6c1f5f8c5b4a3a2a1f0e9d8c7b6a5";
const KEY_B: &str = "0000000000000000000000000000000000000000000000000000000000000bad";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SUBJECT: &str =
    "https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1.2.3";

/// Key files are read by the CLI; here an entry resolves to one of two fixed ids (so keys shared
/// between signers happen) or fails, depending only on its text.
fn resolve(source: &KeySource) -> Result<String, String> {
    match source.text.len() % 3 {
        0 => Err(format!("cannot read {}", source.text)),
        1 => Ok(KEY_A.to_string()),
        _ => Ok(KEY_B.to_string()),
    }
}

const REPOSITORIES: [&str; 4] = [
    "registry.example.com/prod/app",
    "registry.example.com/staging/web",
    "docker.io/library/alpine",
    "ghcr.io/someone/tool",
];

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Timestamp::parse_rfc3339(source.trim());
    let raw = match parse(source, FILE) {
        Ok(raw) => raw,
        Err(diags) => {
            assert!(diags.has_errors(), "parse failed without an error");
            let _ = render(&diags, source, FILE);
            return;
        }
    };
    let _ = raw.key_sources();
    let _ = render(raw.diagnostics(), source, FILE);
    let policy = match validate(raw, &resolve) {
        Ok(policy) => policy,
        Err(diags) => {
            assert!(diags.has_errors(), "validation failed without an error");
            let _ = diags.summary();
            let _ = render(&diags, source, FILE);
            return;
        }
    };
    let _ = render(policy.warnings(), source, FILE);
    let at = Timestamp::from_unix(1_780_000_000);
    for repository in REPOSITORIES {
        let _ = policy.explain(repository);
        let facts = ImageFacts {
            repository: repository.to_string(),
            tag: Some("v1".to_string()),
            digest: format!("sha256:{}", "2".repeat(64)),
            signatures: [KEY_A, KEY_B]
                .iter()
                .enumerate()
                .map(|(index, key)| SignatureFact {
                    key_id: key.to_string(),
                    payload_repository: Some(repository.to_string()),
                    index,
                    ..SignatureFact::default()
                })
                // A certificate identity, for `keyless` signers and their `subject_regex`.
                .chain([SignatureFact {
                    keyless: Some(KeylessIdentity {
                        issuer: ISSUER.to_string(),
                        subject: SUBJECT.to_string(),
                    }),
                    index: 2,
                    ..SignatureFact::default()
                }])
                .collect(),
            attestations: Vec::new(),
        };
        let evaluation = policy.evaluate(&facts, at);
        let _ = vouch_policy::overall(std::slice::from_ref(&evaluation));
    }
});
