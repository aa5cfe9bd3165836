//! Real registries behind TLS and auth: htpasswd, bearer tokens from a JWT token server,
//! docker config.json `auths`, a credential helper on PATH, containers auth.json, mutual
//! TLS, 429 with Retry-After, and a registry dying mid-batch. Every vouch run here uses
//! `--debug`, and its whole output is checked for the test passwords and tokens.

use std::path::Path;
use std::process::Command;

use vouch_e2e::auth::{CredentialHelper, DockerConfig, write_containers_auth};
use vouch_e2e::fault_proxy::{FaultProxy, Rule};
use vouch_e2e::registry::RegistryOptions;
use vouch_e2e::tls::TlsFiles;
use vouch_e2e::token_server::{TokenServer, TokenServerOptions};
use vouch_e2e::{Registry, Run, TEST_PASSWORD, TestImage, keygen, vouch};

const USER: &str = "ci-bot";
const PASSWORD: &str = "registry-pa55word-do-not-print";

/// Runs vouch with `--debug` and checks nothing secret appears in what it printed.
fn run(cmd: &mut Command, secrets: &[&str]) -> Run {
    let out = Run::of(cmd.arg("--debug"));
    let all = out.all();
    for secret in secrets.iter().chain([&PASSWORD, &TEST_PASSWORD]) {
        assert!(
            !all.contains(secret),
            "output contains a secret ({} chars):\n{all}",
            secret.len()
        );
    }
    assert!(
        !all.to_ascii_lowercase().contains("authorization:"),
        "{all}"
    );
    out
}

fn sign_cmd(reference: &str, key: &Path) -> Command {
    let mut cmd = vouch();
    cmd.args(["sign", reference, "--key"])
        .arg(key)
        .env("VOUCH_PASSWORD", TEST_PASSWORD);
    cmd
}

fn verify_cmd(reference: &str, public: &Path) -> Command {
    let mut cmd = vouch();
    cmd.args(["verify", reference, "--key"]).arg(public);
    cmd
}

fn with_ca(mut cmd: Command, tls: &TlsFiles) -> Command {
    cmd.arg("--registry-cacert").arg(&tls.ca_cert);
    cmd
}

#[test]
fn tls_and_htpasswd_with_docker_config_auths() {
    let tls = TlsFiles::generate();
    let reg = Registry::start_with(RegistryOptions {
        tls: Some(tls.clone()),
        htpasswd: Some((USER.into(), PASSWORD.into())),
        ..Default::default()
    });
    let img = TestImage::new("tls+htpasswd");
    img.push(&reg, "app", "v1");
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let reference = format!("{}:v1", reg.image("app"));
    let config_dir = dir.path().join("docker");
    DockerConfig::new()
        .auth(&reg.host, USER, PASSWORD)
        .write(&config_dir);

    // No CA: the certificate is not trusted, and the error says what to do.
    let out = run(
        sign_cmd(&reference, &key).env("DOCKER_CONFIG", &config_dir),
        &[],
    )
    .expect_code(3);
    assert!(out.stderr.contains("--registry-cacert"), "{}", out.stderr);

    // No credentials: refused with a hint.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let out = run(
        with_ca(sign_cmd(&reference, &key), &tls).env("DOCKER_CONFIG", &empty),
        &[],
    )
    .expect_code(3);
    assert!(out.stderr.contains("needs credentials"), "{}", out.stderr);

    // Wrong password: refused, and the stored password is not shown.
    let wrong_dir = dir.path().join("wrong");
    DockerConfig::new()
        .auth(&reg.host, USER, "wrong-pa55word-hidden")
        .write(&wrong_dir);
    let out = run(
        with_ca(sign_cmd(&reference, &key), &tls).env("DOCKER_CONFIG", &wrong_dir),
        &["wrong-pa55word-hidden"],
    )
    .expect_code(3);
    assert!(
        out.stderr.contains("refused the stored credentials"),
        "{}",
        out.stderr
    );

    // With the CA and the config: sign and verify.
    let out = run(
        with_ca(sign_cmd(&reference, &key), &tls).env("DOCKER_CONFIG", &config_dir),
        &[],
    )
    .expect_code(0);
    assert!(out.stdout.contains(img.digest()), "{}", out.stdout);
    run(
        with_ca(verify_cmd(&reference, &public), &tls).env("DOCKER_CONFIG", &config_dir),
        &[],
    )
    .expect_code(0);
    assert_eq!(reg.signature_count("app", img.digest()), 1);
}

#[test]
fn credential_helper_on_path_and_containers_auth_file() {
    let tls = TlsFiles::generate();
    let reg = Registry::start_with(RegistryOptions {
        tls: Some(tls.clone()),
        htpasswd: Some((USER.into(), PASSWORD.into())),
        ..Default::default()
    });
    TestImage::new("helper").push(&reg, "app", "v1");
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ed25519");
    let reference = format!("{}:v1", reg.image("app"));

    let helper = CredentialHelper::install(
        &dir.path().join("bin"),
        "vouchtest",
        &[(reg.host.as_str(), USER, PASSWORD)],
    );
    let config_dir = dir.path().join("docker");
    DockerConfig::new()
        .cred_helper(&reg.host, "vouchtest")
        .write(&config_dir);
    run(
        with_ca(sign_cmd(&reference, &key), &tls)
            .env("DOCKER_CONFIG", &config_dir)
            .env("PATH", helper.path_env()),
        &[],
    )
    .expect_code(0);
    assert!(!helper.calls().is_empty(), "the helper was asked");

    // containers' auth.json through REGISTRY_AUTH_FILE, with no docker config at all.
    let auth_file = write_containers_auth(
        &dir.path().join("auth.json"),
        &[(reg.host.as_str(), USER, PASSWORD)],
    );
    let nothing = dir.path().join("no-docker");
    std::fs::create_dir_all(&nothing).expect("dir");
    run(
        with_ca(verify_cmd(&reference, &public), &tls)
            .env("DOCKER_CONFIG", &nothing)
            .env("REGISTRY_AUTH_FILE", &auth_file),
        &[],
    )
    .expect_code(0);
}

#[test]
fn bearer_tokens_from_a_token_server_are_fetched_and_reused() {
    let tls = TlsFiles::generate();
    let ts = TokenServer::start_with(TokenServerOptions {
        users: vec![(USER.into(), PASSWORD.into())],
        tls: Some(tls.clone()),
        ..Default::default()
    });
    let reg = Registry::start_with(RegistryOptions {
        tls: Some(tls.clone()),
        token_auth: Some(ts.clone()),
        ..Default::default()
    });
    let images: Vec<TestImage> = (0..3)
        .map(|i| {
            let img = TestImage::new(&format!("token {i}"));
            img.push(&reg, "team/app", &format!("v{i}"));
            img
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let config_dir = dir.path().join("docker");
    DockerConfig::new()
        .auth(&reg.host, USER, PASSWORD)
        .write(&config_dir);

    let mut sign = vouch();
    sign.args(["sign"])
        .args((0..3).map(|i| format!("{}:v{i}", reg.image("team/app"))))
        .arg("--key")
        .arg(&key)
        .arg("--registry-cacert")
        .arg(&tls.ca_cert)
        .env("VOUCH_PASSWORD", TEST_PASSWORD)
        .env("DOCKER_CONFIG", &config_dir);
    let out = run(&mut sign, &[]);
    let tokens = ts.issued_tokens();
    for t in &tokens {
        assert!(!out.all().contains(t.as_str()), "token printed");
    }
    let out = out.expect_code(0);
    assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);
    // One token per scope, reused across the three images.
    let requests = ts.request_count();
    assert!(
        (1..=3).contains(&requests),
        "token requests for 3 images: {requests}"
    );

    let mut verify = vouch();
    verify
        .args(["verify"])
        .args((0..3).map(|i| format!("{}:v{i}", reg.image("team/app"))))
        .arg("--key")
        .arg(&public)
        .arg("--registry-cacert")
        .arg(&tls.ca_cert)
        .env("DOCKER_CONFIG", &config_dir);
    let out = run(&mut verify, &[]);
    for t in ts.issued_tokens() {
        assert!(!out.all().contains(t.as_str()), "token printed");
    }
    out.expect_code(0);
    for img in &images {
        assert_eq!(reg.signature_count("team/app", img.digest()), 1);
    }

    // Wrong credentials: the token service refuses, and vouch says so.
    let wrong = dir.path().join("wrong");
    DockerConfig::new()
        .auth(&reg.host, USER, "not-the-token-pa55")
        .write(&wrong);
    let out = run(
        with_ca(
            verify_cmd(&format!("{}:v0", reg.image("team/app")), &public),
            &tls,
        )
        .env("DOCKER_CONFIG", &wrong),
        &["not-the-token-pa55"],
    )
    .expect_code(3);
    assert!(out.all().contains("token service refused"), "{}", out.all());
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let tls = TlsFiles::generate();
    let reg = Registry::start_with(RegistryOptions {
        tls: Some(tls.clone()),
        mtls: true,
        ..Default::default()
    });
    TestImage::new("mtls").push(&reg, "app", "v1");
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _public) = keygen(dir.path(), "k", "ecdsa-p256");
    let reference = format!("{}:v1", reg.image("app"));
    run(&mut with_ca(sign_cmd(&reference, &key), &tls), &[]).expect_code(3);
    let mut cmd = with_ca(sign_cmd(&reference, &key), &tls);
    cmd.arg("--registry-client-cert")
        .arg(&tls.client_cert)
        .arg("--registry-client-key")
        .arg(&tls.client_key);
    run(&mut cmd, &[]).expect_code(0);
}

#[test]
fn too_many_requests_with_retry_after_then_success() {
    let reg = Registry::start();
    let img = TestImage::new("429");
    img.push(&reg, "app", "v1");
    let proxy = FaultProxy::start(&reg.host);
    proxy.add_rule(Rule::too_many_requests("GET", "/manifests/", 1, 2));
    proxy.add_rule(Rule::status("PUT", "/manifests/", 503, 1));
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let reference = format!("{}:v1", proxy.image("app"));
    let started = std::time::Instant::now();
    let mut cmd = sign_cmd(&reference, &key);
    cmd.arg("--allow-insecure-registry");
    let out = run(&mut cmd, &[]).expect_code(0);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "Retry-After: 1 was honoured twice"
    );
    assert!(
        out.stderr.contains("429"),
        "--debug shows the 429s: {}",
        out.stderr
    );
    assert_eq!(
        proxy.remaining(),
        vec![0, 0],
        "every injected fault was hit"
    );
    let mut cmd = verify_cmd(&reference, &public);
    cmd.arg("--allow-insecure-registry");
    run(&mut cmd, &[]).expect_code(0);
    assert_eq!(reg.signature_count("app", img.digest()), 1);
}

#[test]
fn registry_dying_mid_batch_exits_3_per_image_and_corrupts_nothing() {
    let reg = Registry::start();
    let images: Vec<TestImage> = (0..6)
        .map(|i| {
            let img = TestImage::new(&format!("batch {i}"));
            img.push(&reg, "batch", &format!("v{i}"));
            img
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    // Sign the first three, so there is something to keep intact.
    for i in 0..3 {
        let mut cmd = sign_cmd(&format!("{}:v{i}", reg.image("batch")), &key);
        cmd.arg("--allow-insecure-registry");
        run(&mut cmd, &[]).expect_code(0);
    }
    // Slow the registry down behind a proxy, and kill it while the batch runs.
    let proxy = FaultProxy::start(&reg.host);
    proxy.set_latency(std::time::Duration::from_millis(150));
    let mut cmd = vouch();
    cmd.args(["--allow-insecure-registry", "--retries", "1", "sign"])
        .args((0..6).map(|i| format!("{}:v{i}", proxy.image("batch"))))
        .arg("--key")
        .arg(&key)
        .env("VOUCH_PASSWORD", TEST_PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.arg("--debug").spawn().expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    reg.kill();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let failed = stderr
        .lines()
        .filter(|l| l.starts_with("error: signing"))
        .count();
    assert!(failed >= 1, "a message per failed image: {stderr}");
    assert!(!stderr.contains(PASSWORD) && !stderr.contains(TEST_PASSWORD));

    // Bring it back: the signatures made before are all there and verify.
    reg.restart();
    for img in &images[..3] {
        assert!(reg.signature_count("batch", img.digest()) >= 1);
    }
    let mut cmd = vouch();
    cmd.args(["--allow-insecure-registry", "verify"])
        .args((0..3).map(|i| format!("{}:v{i}", reg.image("batch"))))
        .arg("--key")
        .arg(&public);
    run(&mut cmd, &[]).expect_code(0);
}

#[test]
fn login_and_logout_write_docker_config() {
    let tls = TlsFiles::generate();
    let reg = Registry::start_with(RegistryOptions {
        tls: Some(tls.clone()),
        htpasswd: Some((USER.into(), PASSWORD.into())),
        ..Default::default()
    });
    TestImage::new("login").push(&reg, "app", "v1");
    let dir = tempfile::tempdir().expect("tempdir");
    let (_key, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let config_dir = dir.path().join("docker");
    let mut login = vouch();
    login
        .args(["login", &reg.host, "--username", USER, "--password-stdin"])
        .env("DOCKER_CONFIG", &config_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().expect("spawn login");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{PASSWORD}").expect("write password");
    }
    let out = child.wait_with_output().expect("login");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));
    let reference = format!("{}:v1", reg.image("app"));
    // Verify gets as far as "no signatures": the login worked.
    let out = run(
        with_ca(verify_cmd(&reference, &public), &tls).env("DOCKER_CONFIG", &config_dir),
        &[],
    )
    .expect_code(1);
    assert!(out.stdout.contains("no signatures"), "{}", out.stdout);
    Run::of(
        vouch()
            .args(["logout", &reg.host])
            .env("DOCKER_CONFIG", &config_dir),
    )
    .expect_code(0);
    run(
        with_ca(verify_cmd(&reference, &public), &tls).env("DOCKER_CONFIG", &config_dir),
        &[],
    )
    .expect_code(3);
}
