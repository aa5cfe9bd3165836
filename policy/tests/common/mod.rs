//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use vouch_policy::{
    Diagnostics, ImageFacts, ImageName, KeySource, Policy, SignatureFact, Timestamp, parse,
    validate,
};

/// A stable fake key id for a key entry: the tests do no I/O, like the engine.
pub fn key_id(text: &str) -> String {
    // FNV-1a, widened to 64 hex digits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:016x}{:048x}", h, 0)
}

/// Resolves every key entry to its fake id; entries containing "missing" fail like an
/// unreadable file would.
pub fn resolve(k: &KeySource) -> Result<String, String> {
    if k.text.contains("missing") {
        Err(format!("cannot read {}: No such file or directory", k.text))
    } else {
        Ok(key_id(&k.text))
    }
}

pub fn load(source: &str) -> Result<Policy, Diagnostics> {
    validate(parse(source, "policy.yaml")?, &resolve)
}

pub fn policy(source: &str) -> Policy {
    match load(source) {
        Ok(p) => p,
        Err(d) => panic!(
            "policy refused:\n{}",
            vouch_policy::render(&d, source, "policy.yaml")
        ),
    }
}

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).expect("timestamp")
}

pub fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// A signature by the key written as `key_text` in the policy, naming `repo`.
pub fn sig(key_text: &str, repo: &str) -> SignatureFact {
    SignatureFact {
        key_id: key_id(key_text),
        keyless: None,
        payload_repository: Some(repo.to_string()),
        payload_tag: None,
        annotations: BTreeMap::new(),
        index: 0,
        ..SignatureFact::default()
    }
}

pub fn with_annotations(mut s: SignatureFact, pairs: &[(&str, &str)]) -> SignatureFact {
    s.annotations = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s
}

pub fn image(repo: &str, digest: &str, mut sigs: Vec<SignatureFact>) -> ImageFacts {
    for (i, s) in sigs.iter_mut().enumerate() {
        s.index = i;
    }
    ImageFacts {
        repository: repo.to_string(),
        tag: None,
        digest: digest.to_string(),
        signatures: sigs,
        attestations: Vec::new(),
    }
}

/// A toy normalizer for cases files: `host/path[:tag][@digest]`, Docker Hub short names.
pub fn normalize(reference: &str) -> Result<ImageName, String> {
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (reference, None),
    };
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t.to_string())),
        _ => (rest, None),
    };
    if name.is_empty() || name.contains(' ') {
        return Err("invalid reference".to_string());
    }
    let first = name.split('/').next().unwrap_or_default();
    let repository = if first.contains('.') || first.contains(':') || first == "localhost" {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    Ok(ImageName {
        repository,
        tag,
        digest,
    })
}
