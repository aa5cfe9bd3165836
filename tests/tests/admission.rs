//! `vouch serve`, the admission webhook, end to end: the real binary behind the API server's
//! side of the protocol (tests/src/kube), verifying images signed by vouch in a real
//! docker-registry. Flows (allow and pin, refuse, every workload kind, ephemeral containers,
//! reinvocation, exempt namespaces, policy reload), hostile requests, a registry that never
//! answers, and 200 concurrent reviews (correctness only; speed is in bench/).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vouch_e2e::kube::{
    Alpn, CallError, Kind, PodImages, Protocol, ReviewBuilder, WebhookClient, WebhookConfig, admit,
    mutate_with_reinvocation,
};
use vouch_e2e::tls::{TlsFiles, TlsOptions};
use vouch_e2e::{Registry, TestImage, keygen, sign, vouch};

const SERVICE_NAME: &str = "vouch-webhook.vouch-system.svc";

/// A running `vouch serve`, killed when dropped, with its log lines.
struct Server {
    child: Child,
    address: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(policy: &std::path::Path, tls: &TlsFiles, extra: &[&str]) -> Server {
        let mut child = vouch()
            .args([
                "--allow-insecure-registry",
                "--timeout",
                "5",
                "--retries",
                "0",
            ])
            .arg("serve")
            .arg("--policy")
            .arg(policy)
            .args(["--listen", "127.0.0.1:0", "--reload-interval", "1"])
            .arg("--tls-cert")
            .arg(&tls.server_cert)
            .arg("--tls-key")
            .arg(&tls.server_key)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vouch serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["event"] == "listening"
                {
                    let _ = tx.send(v["address"].as_str().unwrap_or_default().to_string());
                }
                lines.lock().expect("log").push(line);
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("vouch serve did not start: {:?}", log.lock()));
        Server {
            child,
            address: address.parse().expect("address"),
            log,
        }
    }

    fn validating(&self, tls: &TlsFiles) -> WebhookClient {
        WebhookClient::new(WebhookConfig::vouch_validating(
            self.address,
            tls.ca_pem.as_bytes(),
        ))
    }

    fn mutating(&self, tls: &TlsFiles) -> WebhookClient {
        WebhookClient::new(WebhookConfig::vouch_mutating(
            self.address,
            tls.ca_pem.as_bytes(),
        ))
    }

    fn events(&self, event: &str) -> Vec<Value> {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// GET `path` over TLS (HTTP/1.1), returning status and body.
    fn get(&self, tls: &TlsFiles, path: &str) -> (u16, String) {
        let agent = tls.agent();
        let url = format!("https://localhost:{}{path}", self.address.port());
        match agent.get(&url).call() {
            Ok(mut r) => (
                r.status().as_u16(),
                r.body_mut().read_to_string().unwrap_or_default(),
            ),
            Err(ureq::Error::StatusCode(code)) => (code, String::new()),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    fn metric(&self, tls: &TlsFiles, line_prefix: &str) -> u64 {
        let (_, text) = self.get(tls, "/metrics");
        text.lines()
            .find(|l| l.starts_with(line_prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// A registry with signed and unsigned images, a key, a policy and TLS files for the
/// webhook's Service name.
struct Env {
    reg: Registry,
    dir: tempfile::TempDir,
    tls: TlsFiles,
    signed: Vec<(String, String)>,
    unsigned: String,
}

impl Env {
    fn new(signed: usize) -> Env {
        let reg = Registry::start();
        let dir = tempfile::tempdir().expect("dir");
        let (key, _public) = keygen(dir.path(), "release", "ecdsa-p256");
        let mut images = Vec::new();
        for i in 0..signed {
            let img = TestImage::new(&format!("signed {i}"));
            img.push(&reg, &format!("apps/app{i}"), "1.0");
            let reference = format!("{}:1.0", reg.image(&format!("apps/app{i}")));
            sign(&reference, &key, &[]).expect_code(0);
            images.push((reference, img.digest().to_string()));
        }
        let img = TestImage::new("unsigned");
        img.push(&reg, "apps/unsigned", "1.0");
        let unsigned = format!("{}:1.0", reg.image("apps/unsigned"));
        let tls = TlsFiles::generate_with(TlsOptions {
            server_names: vec![SERVICE_NAME.into(), "localhost".into(), "127.0.0.1".into()],
            expired: false,
        });
        let env = Env {
            reg,
            dir,
            tls,
            signed: images,
            unsigned,
        };
        env.write_policy("enforce", "");
        env
    }

    fn policy_path(&self) -> PathBuf {
        self.dir.path().join("policy.yaml")
    }

    /// The policy: images of this registry need the release key; `mode` for the rule.
    fn write_policy(&self, mode: &str, extra: &str) {
        let text = format!(
            r#"version: 1
signers:
  release-ci:
    keys: [release.pub]
rules:
  - name: apps
    images: ["{}/apps/**"]
    require:
      signers: [release-ci]
    mode: {mode}
default: deny
{extra}
"#,
            self.reg.host
        );
        // Written beside and renamed over, as a ConfigMap update swaps the file.
        let tmp = self.dir.path().join("policy.yaml.new");
        std::fs::write(&tmp, text).expect("write policy");
        std::fs::rename(&tmp, self.policy_path()).expect("rename policy");
    }

    fn serve(&self, extra: &[&str]) -> Server {
        Server::start(&self.policy_path(), &self.tls, extra)
    }

    fn signed(&self, i: usize) -> &str {
        &self.signed[i].0
    }

    fn pinned(&self, i: usize) -> String {
        format!("{}@{}", self.signed[i].0, self.signed[i].1)
    }
}

fn pod(namespace: &str, images: &PodImages) -> Value {
    Kind::Pod.object(namespace, "web", images)
}

fn pointer<'a>(object: &'a Value, p: &str) -> &'a Value {
    object.pointer(p).unwrap_or(&Value::Null)
}

#[test]
fn a_signed_pod_is_allowed_and_pinned_and_an_unsigned_one_refused() {
    let env = Env::new(2);
    let server = env.serve(&[]);
    let (mutating, validating) = (server.mutating(&env.tls), server.validating(&env.tls));

    let review = ReviewBuilder::create(pod(
        "default",
        &PodImages::containers(&[env.signed(0), env.signed(1), env.signed(0)])
            .with_init(&[env.signed(1)]),
    ))
    .build();
    let (m, v) = admit(&mutating, &validating, &review);
    let patched = m.allowed().patched_object.clone().expect("patched");
    assert_eq!(
        pointer(&patched, "/spec/containers/0/image"),
        &json!(env.pinned(0))
    );
    assert_eq!(
        pointer(&patched, "/spec/containers/1/image"),
        &json!(env.pinned(1))
    );
    assert_eq!(
        pointer(&patched, "/spec/containers/2/image"),
        &json!(env.pinned(0))
    );
    assert_eq!(
        pointer(&patched, "/spec/initContainers/0/image"),
        &json!(env.pinned(1))
    );
    let v = v.expect("validated");
    assert!(
        v.allowed().patch.is_none(),
        "a validating answer never patches"
    );

    // Reinvocation after a sidecar injector added a container: the sidecar is pinned too,
    // and what was pinned stays as it is (the patch is idempotent).
    let flow = mutate_with_reinvocation(&mutating, &review, |object| {
        object["spec"]["containers"]
            .as_array_mut()
            .expect("containers")
            .push(json!({"name": "sidecar", "image": env.signed(1)}));
    })
    .expect("reinvocation");
    let second = flow.second.expect("called again").result.expect("accepted");
    assert!(second.allowed);
    assert_eq!(
        pointer(&flow.object, "/spec/containers/3/image"),
        &json!(env.pinned(1))
    );
    assert_eq!(
        pointer(&flow.object, "/spec/containers/0/image"),
        &json!(env.pinned(0))
    );
    // A third call on the settled object changes nothing.
    let again = mutating.send(&review.resend_with_object(flow.object.clone()));
    assert!(!again.allowed().changed, "{:?}", again.allowed().patch);

    // An unsigned init container refuses the pod, in both webhooks, naming the image.
    let bad = ReviewBuilder::create(pod(
        "default",
        &PodImages::containers(&[env.signed(0)]).with_init(&[&env.unsigned]),
    ))
    .build();
    for client in [&mutating, &validating] {
        let out = client.send(&bad);
        let refusal = out.refused();
        assert_eq!(refusal.code, 403);
        assert!(
            refusal.webhook_message.contains(&env.unsigned)
                && refusal.webhook_message.contains("init container \"init\"")
                && refusal.webhook_message.contains("threshold 1"),
            "{}",
            refusal.message
        );
        assert!(
            refusal
                .message
                .contains("denied the request: vouch refused 1 of 2 images"),
            "{}",
            refusal.message
        );
    }
    // A dry run is judged the same way.
    let dry = ReviewBuilder::create(pod("default", &PodImages::containers(&[&env.unsigned])))
        .dry_run(true)
        .build();
    validating.send(&dry).refused();

    // One log line per decision, without the object.
    let decisions = server.events("admission");
    assert!(
        decisions
            .iter()
            .any(|d| d["decision"] == "deny" && d["dry_run"] == true)
    );
    assert!(decisions.iter().all(|d| d.get("object").is_none()));
    assert!(
        server.metric(
            &env.tls,
            "vouch_admission_reviews_total{webhook=\"validate\",decision=\"deny\"}"
        ) >= 2
    );
}

#[test]
fn every_workload_kind_is_checked_and_pinned() {
    let env = Env::new(1);
    let server = env.serve(&[]);
    let mutating = server.mutating(&env.tls);
    for kind in Kind::ALL {
        let object = kind.object("team-a", "app", &PodImages::containers(&[env.signed(0)]));
        let out = mutating.send(&ReviewBuilder::create(object).build());
        let patched = out.allowed().patched_object.clone().expect("patched");
        let at = format!("{}/containers/0/image", kind.pod_spec_pointer());
        assert_eq!(pointer(&patched, &at), &json!(env.pinned(0)), "{kind:?}");

        let object = kind.object("team-a", "app", &PodImages::containers(&[&env.unsigned]));
        let refusal = mutating
            .send(&ReviewBuilder::create(object).build())
            .refused()
            .clone();
        assert!(
            refusal.webhook_message.contains(&env.unsigned),
            "{kind:?}: {}",
            refusal.message
        );
    }
    // Image volumes are images too.
    let object = pod(
        "team-a",
        &PodImages {
            image_volumes: vec![env.unsigned.clone()],
            ..PodImages::containers(&[env.signed(0)])
        },
    );
    let refusal = mutating
        .send(&ReviewBuilder::create(object).build())
        .refused()
        .clone();
    assert!(
        refusal.webhook_message.contains("image volume"),
        "{}",
        refusal.message
    );
}

#[test]
fn ephemeral_containers_updates_and_operations_without_images() {
    let env = Env::new(1);
    let server = env.serve(&[]);
    let validating = server.validating(&env.tls);
    let old = pod("default", &PodImages::containers(&[&env.pinned(0)]));
    // kubectl debug with an unsigned debugger image: refused.
    let new = pod(
        "default",
        &PodImages::containers(&[&env.pinned(0)]).with_ephemeral(&[&env.unsigned]),
    );
    let refusal = validating
        .send(&ReviewBuilder::ephemeral_containers(old.clone(), new).build())
        .refused()
        .clone();
    assert!(
        refusal.webhook_message.contains("ephemeral container"),
        "{}",
        refusal.message
    );
    // With a signed one: allowed.
    let new = pod(
        "default",
        &PodImages::containers(&[&env.pinned(0)]).with_ephemeral(&[env.signed(0)]),
    );
    validating
        .send(&ReviewBuilder::ephemeral_containers(old.clone(), new).build())
        .allowed();

    // An UPDATE that does not change images (a label) is not re-verified, even for an image
    // that would now be refused: it was admitted when it was set.
    let stored = pod("default", &PodImages::containers(&[&env.unsigned]));
    let mut labelled = stored.clone();
    labelled["metadata"]["labels"]["touched"] = json!("yes");
    validating
        .send(&ReviewBuilder::update(stored.clone(), labelled).build())
        .allowed();
    // An UPDATE that changes an image to an unsigned one is refused.
    let changed = pod(
        "default",
        &PodImages::containers(&[&format!("{}-x", env.unsigned)]),
    );
    validating
        .send(&ReviewBuilder::update(old.clone(), changed).build())
        .refused();

    // DELETE, CONNECT and status updates carry no new image: allowed.
    validating
        .send(&ReviewBuilder::delete(stored.clone()).build())
        .allowed();
    validating
        .send(&ReviewBuilder::connect_exec("default", "web", &["sh"]).build())
        .allowed();
    let mut status = stored.clone();
    status["status"] = json!({"phase": "Running"});
    status["spec"]["containers"][0]["image"] = json!("never-checked:1");
    validating
        .send(
            &ReviewBuilder::update(stored, status)
                .sub_resource("status")
                .build(),
        )
        .allowed();
}

#[test]
fn exempt_namespaces_and_policy_reload() {
    let env = Env::new(1);
    env.write_policy("enforce", "exempt:\n  namespaces: [kube-system]\n");
    let server = env.serve(&[]);
    let validating = server.validating(&env.tls);
    let unsigned = PodImages::containers(&[&env.unsigned]);
    // Only the namespace the policy names is exempt.
    validating
        .send(&ReviewBuilder::create(pod("kube-system", &unsigned)).build())
        .allowed();
    validating
        .send(&ReviewBuilder::create(pod("kube-public", &unsigned)).build())
        .refused();

    // A policy that does not validate is refused; the old one stays in force.
    std::fs::write(env.policy_path(), "version: 1\nrules: [{name: x}]\n").expect("write");
    wait_for(
        || !server.events("policy-reload-refused").is_empty(),
        "refused reload",
    );
    validating
        .send(&ReviewBuilder::create(pod("kube-system", &unsigned)).build())
        .allowed();
    validating
        .send(&ReviewBuilder::create(pod("default", &unsigned)).build())
        .refused();

    // A valid new policy (warn mode, nothing exempt) is in force without a restart:
    // the unsigned image is admitted with a short warning, kube-system is no longer exempt.
    env.write_policy("warn", "");
    wait_for(|| !server.events("policy-reloaded").is_empty(), "reload");
    let v = validating
        .send(&ReviewBuilder::create(pod("kube-system", &unsigned)).build())
        .allowed()
        .clone();
    assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
    assert!(v.warnings[0].chars().count() <= 120, "{}", v.warnings[0]);
    assert!(
        v.warnings[0].contains("would be refused"),
        "{}",
        v.warnings[0]
    );
    assert_eq!(
        server.metric(
            &env.tls,
            "vouch_admission_policy_reloads_total{result=\"refused\"}"
        ),
        1
    );
}

fn wait_for(mut condition: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bad_requests_get_a_400_and_the_server_goes_on() {
    let env = Env::new(1);
    let server = env.serve(&[]);
    let validating = server.validating(&env.tls);
    let review =
        ReviewBuilder::create(pod("default", &PodImages::containers(&[env.signed(0)]))).build();

    let status = |body: Vec<u8>| match validating.send_body(&review, body).result {
        Err(CallError::Status { code, body }) => (code, body),
        other => panic!("expected an HTTP error, got {other:?}"),
    };
    let (code, body) = status(b"{not json".to_vec());
    assert_eq!(code, 400);
    assert!(body.contains("not an AdmissionReview"), "{body}");
    let mut v1beta1 = review.body.clone();
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let (code, body) = status(serde_json::to_vec(&v1beta1).expect("json"));
    assert_eq!(code, 400);
    assert!(body.contains("admissionReviewVersions"), "{body}");
    let mut no_request = review.body.clone();
    no_request["request"] = Value::Null;
    assert_eq!(
        status(serde_json::to_vec(&no_request).expect("json")).0,
        400
    );
    // Larger than the API server's own 3 MiB limit.
    let mut huge = review.body.clone();
    huge["request"]["object"]["metadata"]["annotations"]["x"] = json!("a".repeat(3 << 20));
    let (code, body) = status(serde_json::to_vec(&huge).expect("json"));
    assert_eq!(code, 400);
    assert!(body.contains("larger than"), "{body}");

    // A client that stalls in the middle of its TLS handshake does not hold up others.
    let mut slow = std::net::TcpStream::connect(server.address).expect("connect");
    slow.write_all(b"\x16\x03\x01").expect("write");

    // 10,000 containers of one image (duplicated images are verified once); containers cut
    // to name and image so the review stays under the API server's 3 MiB.
    let mut object = pod("default", &PodImages::repeated(env.signed(0), 10_000));
    for c in object["spec"]["containers"]
        .as_array_mut()
        .expect("containers")
    {
        *c = json!({"name": c["name"], "image": c["image"]});
    }
    let many = ReviewBuilder::create(object).build();
    let out = server.mutating(&env.tls).send(&many);
    let v = out.allowed();
    let patched = v.patched_object.as_ref().expect("patched");
    assert_eq!(
        pointer(patched, "/spec/containers/9999/image"),
        &json!(env.pinned(0))
    );

    // Still serving, healthy and ready; the bad requests are counted.
    validating.send(&review).allowed();
    assert_eq!(server.get(&env.tls, "/healthz").0, 200);
    assert_eq!(server.get(&env.tls, "/readyz").0, 200);
    assert_eq!(server.get(&env.tls, "/nope").0, 404);
    assert!(
        server.metric(
            &env.tls,
            "vouch_admission_bad_requests_total{reason=\"malformed\"}"
        ) >= 1
    );
    assert_eq!(
        server.metric(
            &env.tls,
            "vouch_admission_bad_requests_total{reason=\"too-large\"}"
        ),
        1
    );
    drop(slow);
}

/// A "registry" that accepts connections and never answers.
fn silent_registry() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    (listener, host)
}

#[test]
fn a_registry_that_never_answers_is_refused_within_the_deadline() {
    let env = Env::new(0);
    let (listener, host) = silent_registry();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for s in listener.incoming().map_while(Result::ok) {
            keep.lock().expect("conns").push(s);
        }
    });
    let server = env.serve(&["--deadline", "2"]);
    let validating = server.validating(&env.tls);
    let image = format!("{host}/apps/app:1.0");
    let out = validating
        .send(&ReviewBuilder::create(pod("default", &PodImages::containers(&[&image]))).build());
    let refusal = out.refused().clone();
    assert!(
        refusal.webhook_message.contains("deadline"),
        "{}",
        refusal.message
    );
    assert!(
        out.elapsed < Duration::from_secs(5),
        "answered after {:?}",
        out.elapsed
    );

    // A registry that refuses connections: refused at once, saying it is unreachable.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_host = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let image = format!("{closed_host}/apps/app:1.0");
    let refusal = validating
        .send(&ReviewBuilder::create(pod("default", &PodImages::containers(&[&image]))).build())
        .refused()
        .clone();
    assert!(
        refusal.webhook_message.contains("unreachable"),
        "{}",
        refusal.message
    );
    assert!(
        server.metric(
            &env.tls,
            "vouch_admission_registry_errors_total{kind=\"deadline\"}"
        ) >= 1
    );
}

#[test]
fn two_hundred_concurrent_reviews_are_all_answered_correctly() {
    let env = Env::new(4);
    let server = env.serve(&[]);
    let mutating = server.mutating(&env.tls);
    let images: Vec<&str> = (0..4).map(|i| env.signed(i)).collect();
    let reviews: Vec<_> = (0..200)
        .map(|i| {
            let object = Kind::Pod.object("load", &format!("p{i}"), &PodImages::cycled(&images, 8));
            ReviewBuilder::create(object).build()
        })
        .collect();
    let outcomes = mutating.send_concurrently(&reviews, 200);
    for (review, out) in reviews.iter().zip(&outcomes) {
        let v = out.allowed();
        assert_eq!(v.uid, review.uid);
        let patched = v.patched_object.as_ref().expect("patched");
        for c in 0..8 {
            let at = format!("/spec/containers/{c}/image");
            assert_eq!(pointer(patched, &at), &json!(env.pinned(c % 4)), "{at}");
        }
    }
    // Each distinct image was verified once, whatever the concurrency (single flight).
    assert_eq!(
        server.metric(
            &env.tls,
            "vouch_admission_verdict_lookups_total{source=\"verified\"}"
        ),
        4
    );
}

#[test]
fn http2_when_offered_and_a_rotated_certificate_is_served_without_restart() {
    let env = Env::new(1);
    let server = env.serve(&[]);
    let review =
        ReviewBuilder::create(pod("default", &PodImages::containers(&[env.signed(0)]))).build();
    // kube-apiserver offers only http/1.1; a client offering h2 gets HTTP/2.
    let h1 = server.validating(&env.tls).send(&review);
    h1.allowed();
    assert_eq!(
        h1.exchange.as_ref().expect("exchange").protocol,
        Protocol::Http11
    );
    let h2 = WebhookClient::new(
        WebhookConfig::vouch_validating(server.address, env.tls.ca_pem.as_bytes())
            .with_alpn(Alpn::H2AndHttp11),
    )
    .send(&review);
    h2.allowed();
    assert_eq!(
        h2.exchange.as_ref().expect("exchange").protocol,
        Protocol::Http2
    );

    // cert-manager renews the Secret under a new CA: the files change in place.
    let renewed = TlsFiles::generate_with(TlsOptions {
        server_names: vec![SERVICE_NAME.into()],
        expired: false,
    });
    let swap = |from: &std::path::Path, to: &std::path::Path| {
        let tmp = to.with_extension("new");
        std::fs::copy(from, &tmp).expect("copy");
        std::fs::rename(&tmp, to).expect("rename");
    };
    swap(&renewed.server_key, &env.tls.server_key);
    swap(&renewed.server_cert, &env.tls.server_cert);
    let new_ca = server.validating(&renewed);
    wait_for(
        || new_ca.send(&review).result.is_ok(),
        "the renewed certificate",
    );
    let old_ca = server.validating(&env.tls).send(&review);
    assert!(
        matches!(old_ca.result, Err(CallError::Tls(_))),
        "{:?}",
        old_ca.result
    );
}

#[test]
fn sigterm_stops_readiness_first_and_reviews_are_still_answered() {
    let env = Env::new(1);
    let mut server = env.serve(&["--shutdown-delay", "3"]);
    let validating = server.validating(&env.tls);
    let review =
        ReviewBuilder::create(pod("default", &PodImages::containers(&[env.signed(0)]))).build();
    validating.send(&review).allowed();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    wait_for(|| !server.events("stopping").is_empty(), "stopping");
    assert_eq!(server.get(&env.tls, "/readyz").0, 503);
    validating.send(&review).allowed();
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn a_slow_client_gets_a_timeout_not_a_hold_on_the_server() {
    let env = Env::new(1);
    let server = env.serve(&["--deadline", "1"]);
    // Headers promise a body that never comes (the slow-loris pattern).
    let tcp = std::net::TcpStream::connect(server.address).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = rustls::ClientConnection::new(env.tls.client_config(false), name).expect("tls");
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    let started = Instant::now();
    stream
        .write_all(
            b"POST /validate?timeout=10s HTTP/1.1\r\nHost: vouch\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"apiVersion\":",
        )
        .expect("write");
    // Meanwhile other reviews are answered.
    let review =
        ReviewBuilder::create(pod("default", &PodImages::containers(&[env.signed(0)]))).build();
    server.validating(&env.tls).send(&review).allowed();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match std::io::Read::read(&mut stream, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&answer);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        server.metric(
            &env.tls,
            "vouch_admission_bad_requests_total{reason=\"slow-body\"}"
        ),
        1
    );
}
