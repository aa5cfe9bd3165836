//! Property tests: rule order never matters, adding a signature never turns allow into deny,
//! revoking never turns deny into allow.

mod common;

use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use vouch_policy::{Evaluation, ImageFacts, Policy, SignatureFact};

const NOW: &str = "2026-06-01T00:00:00Z";

// ---- rule order -------------------------------------------------------------------------

fn segment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "b", "ab", "*", "a*", "*b", "**"])
}

fn pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..4).prop_filter_map("well-formed", |segs| {
        let p = format!("r.io/{}", segs.join("/"));
        (!p.contains("**/**")).then_some(p)
    })
}

fn repo() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "ab", "ba", "c"]), 0..4).prop_map(
        |segs| {
            if segs.is_empty() {
                "r.io".to_string()
            } else {
                format!("r.io/{}", segs.join("/"))
            }
        },
    )
}

fn rules_yaml(rules: &[(usize, Vec<String>)]) -> String {
    let mut s = String::from("version: 1\nrules:\n");
    for (i, pats) in rules {
        let list: Vec<String> = pats.iter().map(|p| format!("\"{p}\"")).collect();
        s.push_str(&format!(
            "  - {{name: r{i}, images: [{}], allow: always}}\n",
            list.join(", ")
        ));
    }
    s
}

fn codes(source: &str) -> Result<Policy, Vec<&'static str>> {
    load(source).map_err(|d| {
        let mut c: Vec<&'static str> = d.iter().map(|d| d.code).collect();
        c.sort_unstable();
        c
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn rule_selection_does_not_depend_on_rule_order(
        (rules, shuffled) in prop::collection::vec(prop::collection::vec(pattern(), 1..3), 1..6)
            .prop_map(|v| v.into_iter().enumerate().collect::<Vec<_>>())
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        repos in prop::collection::vec(repo(), 1..8),
    ) {
        let a = codes(&rules_yaml(&rules));
        let b = codes(&rules_yaml(&shuffled));
        match (a, b) {
            (Ok(a), Ok(b)) => {
                let mut wa: Vec<_> = a.warnings().iter().map(|d| d.code).collect();
                let mut wb: Vec<_> = b.warnings().iter().map(|d| d.code).collect();
                wa.sort_unstable();
                wb.sort_unstable();
                prop_assert_eq!(wa, wb);
                for r in &repos {
                    let sa = a.select_rule(r);
                    let sb = b.select_rule(r);
                    prop_assert_eq!(sa.as_ref().map(|s| &s.name), sb.as_ref().map(|s| &s.name), "{}", r);
                    prop_assert_eq!(sa.map(|s| s.pattern), sb.map(|s| s.pattern));
                }
            }
            (Err(ea), Err(eb)) => prop_assert_eq!(ea, eb),
            (a, b) => prop_assert!(false, "one order validated and the other not: {:?} / {:?}", a.is_ok(), b.is_ok()),
        }
    }

    #[test]
    fn selected_rule_matches_and_no_matching_rule_is_more_specific(
        rules in prop::collection::vec(prop::collection::vec(pattern(), 1..3), 1..6)
            .prop_map(|v| v.into_iter().enumerate().collect::<Vec<_>>()),
        repos in prop::collection::vec(repo(), 1..8),
    ) {
        if let Ok(p) = codes(&rules_yaml(&rules)) {
            for r in &repos {
                let best = p.rules().iter().flat_map(|rule| rule.images.iter())
                    .filter(|pat| pat.matches(r))
                    .map(|pat| pat.specificity())
                    .max();
                match p.select_rule(r) {
                    None => prop_assert!(best.is_none(), "{} matched but nothing selected", r),
                    Some(s) => prop_assert_eq!(Some(s.specificity), best),
                }
            }
        }
    }
}

// ---- monotonicity -----------------------------------------------------------------------

#[derive(Debug, Clone)]
struct RuleSpec {
    signers: Vec<usize>,
    threshold: usize,
    identity: &'static str,
    annotation: Option<&'static str>,
    pinned: Option<Vec<char>>,
    warn: bool,
}

const SIGNERS: [&str; 3] = ["a", "b", "c"];
// Key k0 belongs to a, k1 to b, k2 to c, k3 to both a and b (shared), k4 to nobody.
const KEYS: [&str; 5] = ["k0.pub", "k1.pub", "k2.pub", "k3.pub", "k4.pub"];

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        prop::sample::subsequence(vec![0usize, 1, 2], 1..=3),
        1usize..=3,
        prop::sample::select(vec!["repository", "exact", "any"]),
        prop::option::of(prop::sample::select(vec!["prod", "dev"])),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!['1', '2', '3']),
            1..3,
        )),
        any::<bool>(),
    )
        .prop_map(
            |(signers, t, identity, annotation, pinned, warn)| RuleSpec {
                threshold: t.min(signers.len()),
                signers,
                identity,
                annotation,
                pinned,
                warn,
            },
        )
}

fn policy_yaml(rules: &[RuleSpec], revoked_digests: &[char], revoked_keys: &[usize]) -> String {
    let mut s = String::from(
        "version: 1\nsigners:\n  a: {keys: [k0.pub, k3.pub], not_after: 2027-01-01T00:00:00Z}\n  b: {keys: [k1.pub, k3.pub]}\n  c: {keys: [k2.pub], not_before: 2026-03-01T00:00:00Z}\nrules:\n",
    );
    for (i, r) in rules.iter().enumerate() {
        let signers: Vec<&str> = r.signers.iter().map(|&j| SIGNERS[j]).collect();
        s.push_str(&format!(
            "  - name: r{i}\n    images: [\"r.io/p{i}/**\"]\n    require: {{signers: [{}], threshold: {}, identity: {}{}}}\n    mode: {}\n",
            signers.join(", "),
            r.threshold,
            r.identity,
            r.annotation.map(|a| format!(", annotations: {{env: {a}}}")).unwrap_or_default(),
            if r.warn { "warn" } else { "enforce" },
        ));
        if let Some(pins) = &r.pinned {
            let list: Vec<String> = pins.iter().map(|c| format!("\"{}\"", digest(*c))).collect();
            s.push_str(&format!("    digests: [{}]\n", list.join(", ")));
        }
    }
    s.push_str("  - {name: rest, images: [\"r.io/**\"], allow: always}\n");
    let digests: Vec<String> = revoked_digests
        .iter()
        .map(|c| format!("\"{}\"", digest(*c)))
        .collect();
    let keys: Vec<String> = revoked_keys
        .iter()
        .map(|&k| format!("\"{}\"", key_id(KEYS[k])))
        .collect();
    s.push_str(&format!(
        "revoked: {{digests: [{}], keys: [{}]}}\n",
        digests.join(", "),
        keys.join(", ")
    ));
    s
}

fn signature() -> impl Strategy<Value = SignatureFact> {
    (
        0usize..KEYS.len(),
        prop::option::of(prop::sample::select(vec!["prod", "dev"])),
        prop::sample::select(vec![None, Some("same"), Some("r.io/elsewhere")]),
        prop::option::of(prop::sample::select(vec!["1.0", "2.0"])),
    )
        .prop_map(|(k, env, repo, tag)| {
            let mut annotations = BTreeMap::new();
            if let Some(e) = env {
                annotations.insert("env".to_string(), e.to_string());
            }
            SignatureFact {
                key_id: key_id(KEYS[k]),
                keyless: None,
                // "same" is replaced by the image's repository.
                payload_repository: repo.map(str::to_string),
                payload_tag: tag.map(str::to_string),
                annotations,
                index: 0,
                ..SignatureFact::default()
            }
        })
}

fn facts(rule: usize, digest_char: char, tag: Option<&str>, sigs: &[SignatureFact]) -> ImageFacts {
    let repository = format!("r.io/p{rule}/app");
    let signatures = sigs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut s = s.clone();
            if s.payload_repository.as_deref() == Some("same") {
                s.payload_repository = Some(repository.clone());
            }
            s.index = i;
            s
        })
        .collect();
    ImageFacts {
        repository,
        tag: tag.map(str::to_string),
        digest: digest(digest_char),
        signatures,
        attestations: Vec::new(),
    }
}

fn instant() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "2026-01-01T00:00:00Z",
        NOW,
        "2027-01-01T00:00:00Z",
        "2027-06-01T00:00:00Z",
    ])
}

fn eval(p: &Policy, f: &ImageFacts, when: &str) -> Evaluation {
    p.evaluate(f, at(when))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn adding_a_valid_signature_never_turns_allow_into_deny(
        rules in prop::collection::vec(rule_spec(), 1..4),
        pick in 0usize..4,
        digest_char in prop::sample::select(vec!['1', '2', '3']),
        tag in prop::option::of(prop::sample::select(vec!["1.0", "2.0"])),
        sigs in prop::collection::vec(signature(), 0..5),
        extra in signature(),
        position in 0usize..6,
        when in instant(),
    ) {
        let p = policy(&policy_yaml(&rules, &[], &[]));
        let rule = pick % rules.len();
        let before = eval(&p, &facts(rule, digest_char, tag, &sigs), when);
        let mut more = sigs.clone();
        more.insert(position.min(more.len()), extra);
        let after = eval(&p, &facts(rule, digest_char, tag, &more), when);
        if before.decision.is_allow() {
            prop_assert!(after.decision.is_allow(), "{}\n-- became --\n{}", before, after);
        }
        if before.decision.passes() {
            prop_assert!(after.decision.passes());
        }
        prop_assert!(after.signers_counted.len() >= before.signers_counted.len());
    }

    #[test]
    fn revoking_never_turns_deny_into_allow(
        rules in prop::collection::vec(rule_spec(), 1..4),
        pick in 0usize..4,
        digest_char in prop::sample::select(vec!['1', '2', '3']),
        tag in prop::option::of(prop::sample::select(vec!["1.0", "2.0"])),
        sigs in prop::collection::vec(signature(), 0..5),
        revoked_digests in prop::collection::vec(prop::sample::select(vec!['1', '2', '3']), 0..2),
        revoked_keys in prop::sample::subsequence(vec![0usize, 1, 2, 3, 4], 0..=2),
        when in instant(),
    ) {
        let mut revoked_digests = revoked_digests;
        revoked_digests.sort_unstable();
        revoked_digests.dedup();
        let open = policy(&policy_yaml(&rules, &[], &[]));
        let closed = policy(&policy_yaml(&rules, &revoked_digests, &revoked_keys));
        let rule = pick % rules.len();
        let f = facts(rule, digest_char, tag, &sigs);
        let before = eval(&open, &f, when);
        let after = eval(&closed, &f, when);
        if !before.decision.is_allow() {
            prop_assert!(!after.decision.is_allow(), "{}\n-- became --\n{}", before, after);
        }
        if !before.decision.passes() {
            prop_assert!(!after.decision.passes());
        }
        prop_assert_eq!(before.rule.map(|r| r.name), after.rule.map(|r| r.name));
    }
}

// ---- garbage ----------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn garbage_is_diagnosed_never_a_panic(
        text in prop_oneof![
            ".{0,200}",
            "[\\[\\]{}:,\\-#&*!|>'\" \\nabvrsio0-9.?%@`]{0,200}",
            "(version: 1\n|rules:\n|  - |name: x\n|images: \\[\"r.io/\\*\\*\"\\]\n|allow: always\n|signers: \\{a: \\{keys: \\[k\\]\\}\\}\n|  ){0,12}",
        ],
    ) {
        let source = text.as_str();
        match load(source) {
            Ok(p) => {
                let _ = vouch_policy::render(p.warnings(), source, "p.yaml");
                let _ = p.explain("r.io/x");
                let options = vouch_policy::CaseOptions { now: at(NOW), normalize: &normalize };
                let _ = vouch_policy::run_cases(&p, source, "c.yaml", &options);
            }
            Err(d) => {
                prop_assert!(d.has_errors());
                let shown = vouch_policy::render(&d, source, "p.yaml");
                prop_assert!(shown.contains("error["));
            }
        }
    }
}
