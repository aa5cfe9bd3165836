//! Batches (`--from`, stdin, `--jobs`, repeated references) and the verification cache
//! (`--offline`, `--refresh`, corrupt entries) against a real registry.

use std::io::Write;
use std::process::Stdio;

use vouch_e2e::fault_proxy::FaultProxy;
use vouch_e2e::{Registry, Run, TEST_PASSWORD, TestImage, keygen, vouch};

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
