//! Evaluating 1,000 images against a 1,000-rule policy. Run with `cargo bench -p vouch-policy`.
//!
//! Prints the time to parse and validate the policy (overlap analysis included) and to
//! evaluate every image, with the per-image figure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};
use vouch_policy::{ImageFacts, KeySource, Policy, SignatureFact, Timestamp, parse, validate};

const RULES: usize = 1_000;
const IMAGES: usize = 1_000;
const ROUNDS: usize = 20;

fn key_id(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}{:048x}", 0)
}

fn resolve(k: &KeySource) -> Result<String, String> {
    Ok(key_id(&k.text))
}

/// 800 team subtrees needing 2 of 3 signers, 100 more specific `app-*` rules in warn mode,
/// 50 pinned mirrors, 49 opt-out organisations and one catch-all.
fn policy_source() -> String {
    let mut s = String::from("version: 1\nsigners:\n");
    for i in 0..50 {
        let _ = writeln!(
            s,
            "  signer-{i}: {{keys: [keys/s{i}.pub, keys/s{i}-old.pub]}}"
        );
    }
    s.push_str("rules:\n");
    for i in 0..800 {
        let _ = writeln!(
            s,
            "  - name: team {i}\n    images: [\"registry.example.com/team-{i}/**\"]\n    require: {{signers: [signer-{}, signer-{}, signer-{}], threshold: 2, annotations: {{team: t{i}}}}}",
            i % 50,
            (i + 1) % 50,
            (i + 2) % 50
        );
    }
    for i in 0..100 {
        let _ = writeln!(
            s,
            "  - name: team {i} apps\n    images: [\"registry.example.com/team-{i}/app-*\"]\n    require: {{signers: [signer-{}], identity: exact}}\n    mode: warn",
            i % 50
        );
    }
    for i in 0..50 {
        let _ = writeln!(
            s,
            "  - name: mirror {i}\n    images: [\"mirror-{i}.example.com/**\"]\n    allow: pinned\n    digests: [\"sha256:{i:064x}\"]"
        );
    }
    for i in 0..49 {
        let _ = writeln!(
            s,
            "  - name: org {i}\n    images: [\"docker.io/org-{i}/*\"]\n    allow: always"
        );
    }
    s.push_str(
        "  - name: everything else\n    images: [\"**\"]\n    require: {signers: [signer-0]}\n",
    );
    s
}

fn images() -> Vec<ImageFacts> {
    (0..IMAGES)
        .map(|n| {
            let (repository, team) = match n % 10 {
                0..=6 => (
                    format!("registry.example.com/team-{}/svc-{n}", n % 800),
                    n % 800,
                ),
                7 => (
                    format!("registry.example.com/team-{}/app-{n}", n % 100),
                    n % 100,
                ),
                8 => (format!("mirror-{}.example.com/lib/x", n % 50), 0),
                _ => (format!("docker.io/org-{}/tool", n % 49), 0),
            };
            let signatures = (0..3)
                .map(|k| SignatureFact {
                    key_id: key_id(&format!("keys/s{}.pub", (team + k) % 50)),
                    keyless: None,
                    payload_repository: Some(repository.clone()),
                    payload_tag: None,
                    annotations: BTreeMap::from([("team".to_string(), format!("t{team}"))]),
                    index: k,
                    ..SignatureFact::default()
                })
                .collect();
            ImageFacts {
                repository,
                tag: None,
                digest: format!("sha256:{n:064x}"),
                signatures,
                attestations: Vec::new(),
            }
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let source = policy_source();
    let mut load_times = Vec::new();
    let mut policy: Option<Policy> = None;
    for _ in 0..5 {
        let start = Instant::now();
        let raw = parse(black_box(&source), "bench.yaml").expect("parses");
        let p = validate(raw, &resolve).expect("validates");
        load_times.push(start.elapsed());
        policy = Some(p);
    }
    let Some(policy) = policy else { return };
    assert_eq!(policy.rules().len(), RULES);

    let images = images();
    let at = Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").expect("time");
    let mut eval_times = Vec::new();
    let mut allowed = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        allowed = 0;
        for img in &images {
            let e = policy.evaluate(black_box(img), at);
            allowed += usize::from(e.decision.passes());
        }
        eval_times.push(start.elapsed());
    }
    let mut select_times = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for img in &images {
            black_box(policy.select_rule(black_box(&img.repository)));
        }
        select_times.push(start.elapsed());
    }
    let load = median(load_times);
    let eval = median(eval_times);
    let select = median(select_times);
    println!("policy: {RULES} rules, {} bytes of YAML", source.len());
    println!("parse + validate (with overlap analysis): {load:.2?}");
    println!(
        "evaluate {IMAGES} images, 3 signatures each: {eval:.2?} total, {:.2?} per image ({allowed} pass)",
        eval / IMAGES as u32
    );
    println!(
        "select_rule alone: {select:.2?} total, {:.2?} per image",
        select / IMAGES as u32
    );
}
