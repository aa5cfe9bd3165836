//! Batches (`--from`, stdin, `--jobs`, repeated references) and the verification cache
//! (`--offline`, `--refresh`, corrupt entries) against a real registry.

use std::io::Write;
use std::process::Stdio;

use vouch_e2e::fault_proxy::FaultProxy;
use vouch_e2e::{Registry, Run, TEST_PASSWORD, TestImage, keygen, sign, verify, vouch};

fn push_many(reg: &Registry, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let img = TestImage::new(&format!("batch image {i}"));
            img.push(reg, "fleet", &format!("v{i}"));
            format!("{}@{}", reg.image("fleet"), img.digest())
        })
        .collect()
}

#[test]
fn batch_from_file_and_stdin_in_input_order_with_duplicates_done_once() {
    let reg = Registry::start();
    let refs = push_many(&reg, 12);
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("# release 1.4\n{}\n\n", refs.join("\n"))).expect("list");

    let out = Run::of(
        vouch()
            .args(["--allow-insecure-registry", "sign", "--jobs", "4", "--from"])
            .arg(&list)
            .arg("--key")
            .arg(&key)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
    let printed: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(printed, refs, "signed in input order");

    // Through a counting proxy: each distinct image is fetched once, duplicates reuse it.
    let proxy = FaultProxy::start(&reg.host);
    let via_proxy: Vec<String> = refs
        .iter()
        .map(|r| r.replace(&reg.host, &proxy.host))
        .collect();
    let mut input = via_proxy.join("\n");
    input.push('\n');
    input.push_str(&via_proxy[..3].join("\n"));
    let mut child = vouch()
        .args([
            "--allow-insecure-registry",
            "verify",
            "--no-cache",
            "--from",
            "-",
            "--key",
        ])
        .arg(&public)
        // Signed as the registry's repository; the proxy is another name for it.
        .args(["--identity", &reg.image("fleet")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write refs");
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let verified: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("VERIFIED "))
        .collect();
    assert_eq!(verified.len(), 15, "one report per input line: {stdout}");
    assert_eq!(verified[12], verified[0], "repeats are reported in place");
    assert_eq!(
        proxy.count_matching("GET", ".sig"),
        12,
        "each distinct image fetched once"
    );
    assert!(
        out.stderr.is_empty(),
        "no progress bar off a terminal: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn offline_cache_verifies_without_the_registry() {
    let reg = Registry::start();
    let refs = push_many(&reg, 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ed25519");
    let cache = dir.path().join("cache");
    let run = |extra: &[&str]| {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "verify"])
                .args(extra)
                .args(&refs)
                .arg("--key")
                .arg(&public)
                .env("XDG_CACHE_HOME", &cache),
        )
    };
    let mut sign = vouch();
    sign.args(["--allow-insecure-registry", "sign"])
        .args(&refs)
        .arg("--key")
        .arg(&key)
        .env("VOUCH_PASSWORD", TEST_PASSWORD);
    Run::of(&mut sign).expect_code(0);

    // Offline before anything is cached: exit 3, saying why.
    let out = run(&["--offline"]).expect_code(3);
    assert!(
        out.stdout.contains("not in the verification cache"),
        "{}",
        out.stdout
    );
    run(&[]).expect_code(0);
    let host = reg.host.clone();
    drop(reg);
    // The registry is gone: offline still verifies, from the cache.
    let out = run(&["--offline"]).expect_code(0);
    assert_eq!(out.stdout.matches("VERIFIED").count(), 5, "{}", out.stdout);
    // The cache holds no decision: another key still refuses.
    let (_k2, other) = keygen(dir.path(), "other", "ecdsa-p256");
    let mut cmd = vouch();
    cmd.args(["verify", "--offline"])
        .args(&refs)
        .arg("--key")
        .arg(&other)
        .env("XDG_CACHE_HOME", &cache);
    Run::of(&mut cmd).expect_code(1);
    // A tag needs the registry, even offline.
    let mut cmd = vouch();
    cmd.args(["verify", "--offline", &format!("{host}/fleet:v1"), "--key"])
        .arg(&public)
        .env("XDG_CACHE_HOME", &cache);
    let out = Run::of(&mut cmd).expect_code(3);
    assert!(out.stdout.contains("digest reference"), "{}", out.stdout);
    // --refresh ignores the cache: with the registry gone it fails, as it should.
    run(&["--refresh"]).expect_code(3);

    // Corrupt entries are ignored (offline: a miss), never trusted or fatal.
    for entry in walk(&cache) {
        std::fs::write(&entry, b"{garbage").expect("corrupt");
    }
    let out = run(&["--offline"]).expect_code(3);
    assert!(
        out.stdout.contains("not in the verification cache"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_changed_signature_manifest_is_refetched_not_served_from_cache() {
    let reg = Registry::start();
    let refs = push_many(&reg, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let (key2, public2) = keygen(dir.path(), "k2", "ecdsa-p256");
    let cache = dir.path().join("cache");
    let verify = |public: &std::path::Path| {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "verify", &refs[0], "--key"])
                .arg(public)
                .env("XDG_CACHE_HOME", &cache),
        )
    };
    let sign = |key: &std::path::Path| {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "sign", &refs[0], "--key"])
                .arg(key)
                .env("VOUCH_PASSWORD", TEST_PASSWORD),
        )
        .expect_code(0)
    };
    sign(&key);
    verify(&public).expect_code(0);
    verify(&public2).expect_code(1);
    sign(&key2);
    verify(&public2).expect_code(0);
}

#[test]
fn only_the_requests_a_verdict_needs() {
    let reg = Registry::start();
    let refs = push_many(&reg, 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    sign(&refs[0], &key, &[]).expect_code(0);
    sign(&refs[1], &key, &["-a", "env=prod"]).expect_code(0);
    sign(&refs[2], &key, &["--format", "bundle"]).expect_code(0);
    sign(&refs[3], &key, &[]).expect_code(0);
    sign(&refs[3], &key, &["--format", "bundle"]).expect_code(0);

    let proxy = FaultProxy::start(&reg.host);
    let via = |r: &String| r.replace(&reg.host, &proxy.host);
    let identity = reg.image("fleet");
    let verify_via = |r: &String, extra: &[&str]| {
        let mut args = vec!["--no-cache", "--identity", identity.as_str()];
        args.extend_from_slice(extra);
        verify(&via(r), &[&public], &args)
    };

    // `.sig` signatures that verify: one request each, for the `.sig` manifest. The
    // unannotated payload is computed and checked against the layer digest instead of
    // fetched; the annotated one is fetched. No referrers lookup: it could not change a pass.
    for r in [&refs[0], &refs[1], &refs[3]] {
        verify_via(r, &[]).expect_code(0);
    }
    assert_eq!(proxy.count_matching("GET", ".sig"), 3);
    assert_eq!(
        proxy.count_matching("GET", "/blobs/"),
        1,
        "only the annotated payload"
    );
    assert_eq!(proxy.count_matching("GET", "/referrers/"), 0);
    assert_eq!(
        proxy.count_matching("GET", "/manifests/sha256-"),
        3,
        "no referrers fallback tag"
    );

    // Bundle-only: the `.sig` tag is missing, so the referrers are read, and it verifies.
    proxy.clear_log();
    let out = verify_via(&refs[2], &["--output", "json"]).expect_code(0);
    let sigs = out.json()["images"][0]["signatures"].clone();
    assert_eq!(sigs[0]["format"], "bundle", "{sigs}");
    assert!(
        proxy.count_matching("GET", "/referrers/")
            + proxy.count_matching("GET", "/manifests/sha256-")
            >= 2,
        "the referrers were looked up"
    );

    // Both formats: the default stops at the `.sig` signature; --all-signatures lists both.
    let out = verify_via(&refs[3], &["--output", "json"]).expect_code(0);
    let sigs = out.json()["images"][0]["signatures"].clone();
    assert_eq!(sigs.as_array().map(Vec::len), Some(1), "{sigs}");
    let out = verify_via(&refs[3], &["--all-signatures", "--output", "json"]).expect_code(0);
    let sigs = out.json()["images"][0]["signatures"].clone();
    let formats: Vec<&str> = sigs
        .as_array()
        .expect("signatures")
        .iter()
        .map(|s| s["format"].as_str().unwrap_or("sig"))
        .collect();
    assert_eq!(formats, ["sig", "bundle"], "{sigs}");

    // A `.sig` signature under another key does not pass, so the bundle is still read: a
    // bundle by the trusted key then verifies the image.
    let (other_key, _) = keygen(dir.path(), "other", "ed25519");
    sign(&refs[2], &other_key, &[]).expect_code(0);
    let out = verify_via(&refs[2], &["--output", "json"]).expect_code(0);
    let sigs = out.json()["images"][0]["signatures"].clone();
    assert_eq!(sigs[0]["verdict"], "rejected", "{sigs}");
    assert_eq!(sigs[1]["verdict"], "verified", "{sigs}");
    assert_eq!(sigs[1]["format"], "bundle", "{sigs}");
}

#[test]
fn offline_judges_the_bundles_last_read() {
    let reg = Registry::start();
    let refs = push_many(&reg, 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (a_key, a_pub) = keygen(dir.path(), "a", "ecdsa-p256");
    let (b_key, b_pub) = keygen(dir.path(), "b", "ed25519");
    sign(&refs[0], &a_key, &["--format", "bundle"]).expect_code(0);
    sign(&refs[1], &a_key, &[]).expect_code(0);
    sign(&refs[1], &b_key, &["--format", "bundle"]).expect_code(0);
    sign(&refs[2], &a_key, &[]).expect_code(0);
    sign(&refs[2], &b_key, &["--format", "bundle"]).expect_code(0);
    let cache = dir.path().join("cache");
    let run = |reference: &str, public: &std::path::Path, extra: &[&str]| {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "verify", reference, "--key"])
                .arg(public)
                .args(extra)
                .env("XDG_CACHE_HOME", &cache),
        )
    };
    // Online: the bundle-only image needs its referrers, which are cached with it; the
    // others pass on their `.sig` signature, and only --all-signatures reads their bundles.
    run(&refs[0], &a_pub, &[]).expect_code(0);
    run(&refs[1], &a_pub, &[]).expect_code(0);
    run(&refs[2], &a_pub, &["--all-signatures"]).expect_code(0);
    drop(reg);

    let out = run(&refs[0], &a_pub, &["--offline", "--output", "json"]).expect_code(0);
    assert_eq!(out.json()["images"][0]["signatures"][0]["format"], "bundle");
    // Judged by another key offline: the bundles read online count; those never read are
    // not in the cache, and the refusal says so.
    run(&refs[2], &b_pub, &["--offline"]).expect_code(0);
    let out = run(&refs[1], &b_pub, &["--offline"]).expect_code(1);
    assert!(
        out.stdout.contains("not in the verification cache"),
        "{}",
        out.stdout
    );
    // A policy judges the cached bundles the same way.
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 1\nsigners:\n  b:\n    keys: [b.pub]\nrules:\n  - name: all\n    images: [\"**\"]\n    require: {signers: [b], threshold: 1}\n",
    )
    .expect("policy");
    let mut cmd = vouch();
    cmd.args(["verify", "--offline", "--policy"])
        .arg(&policy)
        .arg(&refs[2])
        .env("XDG_CACHE_HOME", &cache);
    Run::of(&mut cmd).expect_code(0);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
