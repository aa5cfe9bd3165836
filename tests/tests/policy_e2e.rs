//! `vouch verify --policy` on a real registry: thresholds, rotation, revocation, pins,
//! warn mode, opt-outs, validity windows, identity, multi-arch; `vouch policy …` commands.

use std::path::{Path, PathBuf};

use vouch_e2e::{Registry, Run, TestImage, TestIndex, keygen, sign, vouch};

struct Env {
    reg: Registry,
    dir: tempfile::TempDir,
    release: (PathBuf, PathBuf),
    release_2025: (PathBuf, PathBuf),
    security: (PathBuf, PathBuf),
    outsider: (PathBuf, PathBuf),
}

impl Env {
    fn new() -> Env {
        let reg = Registry::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let release = keygen(dir.path(), "release", "ecdsa-p256");
        let release_2025 = keygen(dir.path(), "release-2025", "ed25519");
        let security = keygen(dir.path(), "security", "ed25519");
        let outsider = keygen(dir.path(), "outsider", "ecdsa-p256");
        Env {
            reg,
            dir,
            release,
            release_2025,
            security,
            outsider,
        }
    }

    fn key_id(&self, public: &Path) -> String {
        Run::of(vouch().args(["key", "id"]).arg(public))
            .expect_code(0)
            .stdout
            .trim()
            .to_string()
    }

    /// Writes the policy with `{host}` and `{extra}` filled in.
    fn policy(&self, extra_rules: &str, revoked: &str) -> PathBuf {
        let host = &self.reg.host;
        let text = format!(
            r#"version: 1
signers:
  release-ci:
    keys: [release.pub, release-2025.pub]
    not_before: 2026-01-01T00:00:00Z
    not_after: 2027-06-30T00:00:00Z
  security-team:
    keys: [security.pub]
rules:
  - name: production
    images: ["{host}/prod/**"]
    require:
      signers: [release-ci, security-team]
      threshold: 2
      annotations: {{env: prod}}
  - name: staging
    images: ["{host}/staging/**"]
    require: {{signers: [release-ci]}}
    mode: warn
  - name: sandbox
    images: ["{host}/dev/**"]
    allow: always
{extra_rules}
{revoked}
default: deny
"#
        );
        let path = self.dir.path().join("policy.yaml");
        std::fs::write(&path, text).expect("write policy");
        Run::of(vouch().args(["policy", "check"]).arg(&path)).expect_code(0);
        path
    }

    fn push(&self, repo: &str, content: &str) -> (TestImage, String) {
        let img = TestImage::new(content);
        img.push(&self.reg, repo, "v1");
        (img, format!("{}:v1", self.reg.image(repo)))
    }

    fn verify(&self, policy: &Path, reference: &str, extra: &[&str]) -> Run {
        Run::of(
            vouch()
                .args(["--allow-insecure-registry", "verify", "--policy"])
                .arg(policy)
                .args(["--at", "2026-12-01T00:00:00Z", reference])
                .args(extra),
        )
    }
}

const PROD: &[&str] = &["-a", "env=prod"];

#[test]
fn two_person_rule_counts_distinct_signers_not_layers() {
    let env = Env::new();
    let policy = env.policy("", "");
    let (img, reference) = env.push("prod/app", "two person");

    sign(&reference, &env.release.0, PROD).expect_code(0);
    let out = env.verify(&policy, &reference, &[]).expect_code(1);
    assert!(out.stdout.starts_with("DENY"), "{}", out.stdout);
    assert!(
        out.stdout.contains("threshold 2") && out.stdout.contains("security-team"),
        "says what would make it pass: {}",
        out.stdout
    );
    // The same signer with its second (rotated) key: still one signer.
    sign(&reference, &env.release_2025.0, PROD).expect_code(0);
    let out = env.verify(&policy, &reference, &[]).expect_code(1);
    assert!(out.stdout.contains("already counted"), "{}", out.stdout);
    // A key the policy does not know never counts.
    sign(&reference, &env.outsider.0, PROD).expect_code(0);
    env.verify(&policy, &reference, &[]).expect_code(1);
    // An annotation mismatch does not count either.
    sign(&reference, &env.security.0, &["-a", "env=dev"]).expect_code(0);
    let out = env.verify(&policy, &reference, &[]).expect_code(1);
    assert!(out.stdout.contains("env=dev"), "{}", out.stdout);
    // The second person: allowed, and the JSON says which digest was judged.
    sign(&reference, &env.security.0, PROD).expect_code(0);
    let out = env
        .verify(&policy, &reference, &["--output", "json"])
        .expect_code(0);
    let json = out.json();
    let image = &json["images"][0];
    assert_eq!(image["decision"], "allow");
    assert_eq!(image["digest"], img.digest());
    let evaluation = &image["judged"][0]["evaluation"];
    assert_eq!(evaluation["rule"]["name"], "production");
    assert_eq!(
        evaluation["signers_counted"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(env.reg.signature_count("prod/app", img.digest()), 5);
}

#[test]
fn revocation_beats_everything() {
    let env = Env::new();
    let (img, reference) = env.push("prod/app", "revoked");
    sign(&reference, &env.release.0, PROD).expect_code(0);
    sign(&reference, &env.security.0, PROD).expect_code(0);
    let ok = env.policy("", "");
    env.verify(&ok, &reference, &[]).expect_code(0);

    let by_digest = env.policy("", &format!("revoked:\n  digests: [\"{}\"]", img.digest()));
    let out = env.verify(&by_digest, &reference, &[]).expect_code(1);
    assert!(out.stdout.contains("is revoked"), "{}", out.stdout);

    let key = env.key_id(&env.security.1);
    let by_key = env.policy("", &format!("revoked:\n  keys: [\"{key}\"]"));
    let out = env.verify(&by_key, &reference, &[]).expect_code(1);
    assert!(out.stdout.contains("revoked"), "{}", out.stdout);
}

#[test]
fn digest_pin_mismatch_denies_a_well_signed_image() {
    let env = Env::new();
    let (_img, reference) = env.push("prod/pinned", "pin");
    sign(&reference, &env.release.0, PROD).expect_code(0);
    sign(&reference, &env.security.0, PROD).expect_code(0);
    let host = &env.reg.host;
    let policy = env.policy(
        &format!(
            "  - name: pinned service\n    images: [\"{host}/prod/pinned\"]\n    require: {{signers: [release-ci, security-team], threshold: 2}}\n    digests: [\"sha256:{}\"]\n",
            "1".repeat(64)
        ),
        "",
    );
    let out = env.verify(&policy, &reference, &[]).expect_code(1);
    assert!(out.stdout.contains("pinned service"), "{}", out.stdout);
    assert!(out.stdout.contains("not among"), "{}", out.stdout);
}

#[test]
fn warn_mode_reports_and_exits_zero_and_opt_out_is_shown() {
    let env = Env::new();
    let policy = env.policy("", "");
    let (_s, staging) = env.push("staging/web", "staging");
    let out = env.verify(&policy, &staging, &[]).expect_code(0);
    assert!(out.stdout.starts_with("WARN"), "{}", out.stdout);
    assert!(out.stderr.contains("warn mode"), "{}", out.stderr);

    let (_d, dev) = env.push("dev/tool", "sandbox");
    let out = env.verify(&policy, &dev, &[]).expect_code(0);
    assert!(out.stdout.contains("ALLOW-ALWAYS"), "{}", out.stdout);

    let (_o, other) = env.push("elsewhere/app", "no rule");
    let out = env.verify(&policy, &other, &[]).expect_code(1);
    assert!(out.stdout.contains("default"), "{}", out.stdout);
}

#[test]
fn pinned_base_images_need_no_signature() {
    let env = Env::new();
    let (img, reference) = env.push("base/alpine", "base");
    let host = &env.reg.host;
    let policy = env.policy(
        &format!(
            "  - name: base images\n    images: [\"{host}/base/*\"]\n    allow: pinned\n    digests: [\"{}\"]\n",
            img.digest()
        ),
        "",
    );
    let out = env.verify(&policy, &reference, &[]).expect_code(0);
    assert!(out.stdout.contains("ALLOW-PINNED"), "{}", out.stdout);
    let (_other, other_ref) = env.push("base/debian", "another base");
    env.verify(&policy, &other_ref, &[]).expect_code(1);
}

#[test]
fn signer_validity_is_judged_at_the_given_time() {
    let env = Env::new();
    let policy = env.policy("", "");
    let (_img, reference) = env.push("prod/app", "validity");
    sign(&reference, &env.release.0, PROD).expect_code(0);
    sign(&reference, &env.security.0, PROD).expect_code(0);
    env.verify(&policy, &reference, &[]).expect_code(0);
    let late = Run::of(
        vouch()
            .args(["--allow-insecure-registry", "verify", "--policy"])
            .arg(&policy)
            .args(["--at", "2027-07-01T00:00:00Z", &reference]),
    )
    .expect_code(1);
    assert!(
        late.stdout.contains("expired at 2027-06-30"),
        "{}",
        late.stdout
    );
    let early = Run::of(
        vouch()
            .args(["--allow-insecure-registry", "verify", "--policy"])
            .arg(&policy)
            .args(["--at", "2025-12-31T00:00:00Z", &reference]),
    )
    .expect_code(1);
    assert!(
        early.stdout.contains("not valid before"),
        "{}",
        early.stdout
    );
}

#[test]
fn identity_must_name_the_repository() {
    let env = Env::new();
    let policy = env.policy("", "");
    let (_img, reference) = env.push("prod/app", "identity");
    let other = format!("{}/prod/other", env.reg.host);
    sign(
        &reference,
        &env.release.0,
        &["-a", "env=prod", "--identity", &other],
    )
    .expect_code(0);
    sign(&reference, &env.security.0, PROD).expect_code(0);
    let out = env.verify(&policy, &reference, &[]).expect_code(1);
    assert!(out.stdout.contains("prod/other"), "{}", out.stdout);
}

#[test]
fn multi_arch_index_children_and_all_platforms() {
    let env = Env::new();
    let host = &env.reg.host;
    let policy = env.policy(
        &format!("  - name: multi\n    images: [\"{host}/multi/**\"]\n    require: {{signers: [release-ci]}}\n"),
        "",
    );
    // Only the index is signed: a child passes through the index the user named.
    let index = TestIndex::new("multi arch");
    index.push(&env.reg, "multi/app", "v1");
    let reference = format!("{}:v1", env.reg.image("multi/app"));
    sign(&reference, &env.release.0, &[]).expect_code(0);
    env.verify(&policy, &reference, &[]).expect_code(0);
    let out = env
        .verify(
            &policy,
            &reference,
            &["--platform", "linux/arm64/v8", "--output", "json"],
        )
        .expect_code(0);
    let judged = &out.json()["images"][0]["judged"][0];
    assert_eq!(judged["platform"], "linux/arm64/v8");
    assert_eq!(judged["evaluation"]["digest"], index.children[1].1.digest());
    assert_eq!(judged["evaluation"]["via_index"], index.digest());
    // Asking for the child directly: it is not signed itself, so it is refused.
    let child = format!(
        "{}@{}",
        env.reg.image("multi/app"),
        index.children[1].1.digest()
    );
    env.verify(&policy, &child, &[]).expect_code(1);

    // A second index: children signed, index not. The index itself fails, the signed
    // child passes on its own, and --all-platforms needs every child.
    let index2 = TestIndex::new("multi arch 2");
    index2.push(&env.reg, "multi/app", "v2");
    let reference2 = format!("{}:v2", env.reg.image("multi/app"));
    let amd64 = format!(
        "{}@{}",
        env.reg.image("multi/app"),
        index2.children[0].1.digest()
    );
    sign(&amd64, &env.release.0, &[]).expect_code(0);
    env.verify(&policy, &reference2, &[]).expect_code(1);
    env.verify(&policy, &reference2, &["--platform", "linux/amd64"])
        .expect_code(0);
    let out = env
        .verify(&policy, &reference2, &["--all-platforms"])
        .expect_code(1);
    assert!(out.stdout.contains("linux/arm64/v8"), "{}", out.stdout);
    let arm = format!(
        "{}@{}",
        env.reg.image("multi/app"),
        index2.children[1].1.digest()
    );
    sign(&arm, &env.release.0, &[]).expect_code(0);
    env.verify(&policy, &reference2, &["--all-platforms"])
        .expect_code(0);
    let out = env
        .verify(&policy, &reference2, &["--platform", "windows/amd64"])
        .expect_code(1);
    assert!(out.stdout.contains("no platform"), "{}", out.stdout);
}

#[test]
fn policy_test_runs_cases_offline() {
    let env = Env::new();
    let policy = env.policy("", "");
    let host = &env.reg.host;
    let cases = env.dir.path().join("cases.yaml");
    std::fs::write(
        &cases,
        format!(
            r#"cases:
  - name: two signers allow production
    image: {host}/prod/app:1.0
    at: 2026-12-01T00:00:00Z
    signatures:
      - {{signer: release-ci, annotations: {{env: prod}}}}
      - {{signer: security-team, annotations: {{env: prod}}}}
    expect: {{decision: allow, rule: production}}
  - name: one signer is not enough
    image: {host}/prod/app:1.0
    at: 2026-12-01T00:00:00Z
    signatures:
      - {{signer: release-ci, annotations: {{env: prod}}}}
    expect: {{decision: deny, rule: production}}
"#
        ),
    )
    .expect("cases");
    let out = Run::of(vouch().args(["policy", "test"]).arg(&policy).arg(&cases)).expect_code(0);
    assert!(
        out.stdout.contains("2 cases: 2 passed, 0 failed"),
        "{}",
        out.stdout
    );
    // A wrong expectation fails the run with exit 1 and says which case.
    let text = std::fs::read_to_string(&cases).expect("read").replace(
        "expect: {decision: deny, rule: production}",
        "expect: {decision: allow, rule: production}",
    );
    std::fs::write(&cases, text).expect("write");
    let out = Run::of(vouch().args(["policy", "test"]).arg(&policy).arg(&cases)).expect_code(1);
    assert!(
        out.stdout.contains("one signer is not enough"),
        "{}",
        out.stdout
    );
}

#[test]
fn broken_policy_is_exit_2_with_positions() {
    let env = Env::new();
    let path = env.dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        "version: 1\nsigners:\n  ci:\n    keys: [release.pub]\nrules:\n  - name: a\n    images: [\"x.io/**\"]\n    require: {signers: [cl]}\n",
    )
    .expect("write");
    let out = Run::of(vouch().args(["policy", "check"]).arg(&path)).expect_code(2);
    assert!(
        out.stderr
            .contains("broken.yaml:8:25: error[unknown-signer]"),
        "{}",
        out.stderr
    );
    let out = env.verify(&path, "127.0.0.1:1/x:v1", &[]).expect_code(2);
    assert!(
        out.stderr.contains("error[unknown-signer]"),
        "{}",
        out.stderr
    );
}
