//! `vouch mirror` end to end: a real `docker-registry` upstream, images signed by vouch and
//! by cosign, the real pulling clients (skopeo, podman, oras, containerd's ctr) configured
//! to pull through the mirror as their only endpoint, plus raw HTTP for what no client
//! sends on purpose (blobs without their manifest, writes, garbage). A hostile upstream
//! (tests/src/hostile.rs) stands in for registries that lie, stall or die mid-blob.

use std::path::PathBuf;
use std::time::Duration;

use vouch_e2e::hostile::{Body, Framing, Hostile, Reply, Route as HostileRoute};
use vouch_e2e::image::Blob;
use vouch_e2e::registry::agent;
use vouch_e2e::runtimes::{
    Client, Containerd, HostsToml, OrasRoute, RegistriesConf, oras, podman, require, skip, skopeo,
};
use vouch_e2e::{Registry, Run, TestImage, TestIndex, VouchMirror, keygen, sign, vouch};

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The registry, keys, the policy and the images every test pulls.
struct World {
    reg: Registry,
    dir: tempfile::TempDir,
    policy: PathBuf,
    signed: TestImage,
    unsigned: TestImage,
    wrong: TestImage,
    revoked: TestImage,
    index: TestIndex,
}

fn policy_text(host: &str, revoked: &str) -> String {
    format!(
        r#"version: 1
signers:
  release:
    keys: [release.pub]
rules:
  - name: everything
    images: ["{host}/**"]
    require: {{signers: [release]}}
revoked:
  digests: ["{revoked}"]
default: deny
"#
    )
}

impl World {
    fn new() -> World {
        let reg = Registry::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let (release, _) = keygen(dir.path(), "release", "ecdsa-p256");
        let (outsider, _) = keygen(dir.path(), "outsider", "ecdsa-p256");
        let push = |repo: &str, content: &str| {
            let image = TestImage::new(content);
            image.push(&reg, repo, "v1");
            image
        };
        let signed = push("test/signed", "signed");
        let unsigned = push("test/unsigned", "unsigned");
        let wrong = push("test/wrong", "wrong");
        let revoked = push("test/revoked", "revoked");
        for (image, repo, key) in [
            (&signed, "test/signed", &release),
            (&wrong, "test/wrong", &outsider),
            (&revoked, "test/revoked", &release),
        ] {
            sign(&format!("{}/{repo}@{}", reg.host, image.digest()), key, &[]).expect_code(0);
        }
        let index = TestIndex::new("multi");
        index.push(&reg, "test/multi", "v1");
        sign(
            &format!("{}/test/multi@{}", reg.host, index.digest()),
            &release,
            &[],
        )
        .expect_code(0);
        let policy = dir.path().join("policy.yaml");
        std::fs::write(&policy, policy_text(&reg.host, revoked.digest())).expect("policy");
        Run::of(vouch().args(["policy", "check"]).arg(&policy)).expect_code(0);
        World {
            reg,
            dir,
            policy,
            signed,
            unsigned,
            wrong,
            revoked,
            index,
        }
    }

    fn mirror(&self) -> VouchMirror {
        VouchMirror::start(&self.policy, &[&self.reg.host], &[])
    }
}

/// A GET or HEAD: status, headers we look at, body.
struct Got {
    status: u16,
    digest: Option<String>,
    content_type: Option<String>,
    length: Option<String>,
    body: Vec<u8>,
}

impl Got {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The message of a Distribution error body.
    fn message(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn request(method: &str, url: &str) -> Got {
    let agent = agent();
    let response = match method {
        "GET" => agent.get(url).header("Accept", ACCEPT).call(),
        "HEAD" => agent.head(url).header("Accept", ACCEPT).call(),
        "PUT" => agent.put(url).send(&b"{}"[..]),
        "POST" => agent.post(url).send(&b""[..]),
        "DELETE" => agent.delete(url).call(),
        other => panic!("method {other}"),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let header = |n: &str| {
        response
            .headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (status, digest, content_type, length) = (
        response.status().as_u16(),
        header("docker-content-digest"),
        header("content-type"),
        header("content-length"),
    );
    let body = response
        .into_body()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    Got {
        status,
        digest,
        content_type,
        length,
        body,
    }
}

fn get(url: &str) -> Got {
    request("GET", url)
}

#[test]
fn a_signed_image_is_served_byte_for_byte_and_its_blobs_follow() {
    let w = World::new();
    let m = w.mirror();
    let by_tag = get(&format!("{}/v2/test/signed/manifests/v1", m.url()));
    assert_eq!(by_tag.status, 200, "{}", by_tag.text());
    assert_eq!(by_tag.body, w.signed.manifest.bytes, "exact upstream bytes");
    assert_eq!(by_tag.digest.as_deref(), Some(w.signed.digest()));
    assert_eq!(
        by_tag.content_type.as_deref(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    let head = request("HEAD", &format!("{}/v2/test/signed/manifests/v1", m.url()));
    assert_eq!(head.status, 200);
    assert_eq!(head.digest.as_deref(), Some(w.signed.digest()));
    assert_eq!(head.length, Some(w.signed.manifest.bytes.len().to_string()));
    for blob in [&w.signed.config, &w.signed.layer] {
        let got = get(&format!("{}/v2/test/signed/blobs/{}", m.url(), blob.digest));
        assert_eq!(got.status, 200, "{}", got.text());
        assert_eq!(got.body, blob.bytes);
        let head = request(
            "HEAD",
            &format!("{}/v2/test/signed/blobs/{}", m.url(), blob.digest),
        );
        assert_eq!(
            (head.status, head.length),
            (200, Some(blob.bytes.len().to_string()))
        );
    }
    // A second pull is decided from the memo: one verification, however many pulls.
    for _ in 0..3 {
        assert_eq!(
            get(&format!("{}/v2/test/signed/manifests/v1", m.url())).status,
            200
        );
    }
    let metrics = get(&format!("{}/metrics", m.url())).text();
    assert!(
        metrics.contains("vouch_mirror_cache_total{source=\"computed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vouch_mirror_decisions_total{decision=\"allow\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vouch_mirror_verification_seconds_count 1"),
        "{metrics}"
    );
    let decisions = m.events("decision");
    assert!(
        decisions.iter().any(|d| d["decision"] == "allow"
            && d["digest"] == w.signed.digest()
            && d["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("127.0.0.1:"))),
        "{decisions:?}"
    );
}

#[test]
fn refused_images_get_403_denied_naming_the_image_and_the_reason() {
    let w = World::new();
    let m = w.mirror();
    for (repo, image, reason) in [
        ("test/unsigned", &w.unsigned, "signature"),
        ("test/wrong", &w.wrong, "signature"),
        ("test/revoked", &w.revoked, "revoked"),
    ] {
        for reference in ["v1", image.digest()] {
            let got = get(&format!("{}/v2/{repo}/manifests/{reference}", m.url()));
            assert_eq!(got.status, 403, "{repo}:{reference}: {}", got.text());
            assert_eq!(got.code(), "DENIED");
            let message = got.message();
            assert!(
                message.starts_with(&format!("vouch: {}/{repo}@{}", w.reg.host, image.digest())),
                "{message}"
            );
            assert!(message.to_lowercase().contains(reason), "{repo}: {message}");
            assert!(got.digest.is_none(), "no digest for a refusal");
        }
        // Nor its blobs, even asked for directly.
        let blob = get(&format!(
            "{}/v2/{repo}/blobs/{}",
            m.url(),
            image.layer.digest
        ));
        assert_eq!(blob.status, 403, "{}", blob.text());
        assert!(
            blob.message()
                .contains("not part of an image this mirror allowed")
        );
    }
    let denied = m.events("decision");
    assert!(
        denied.iter().filter(|d| d["decision"] == "deny").count() >= 3,
        "{denied:?}"
    );
}

#[test]
fn a_blob_asked_for_without_its_manifest_is_refused_even_for_a_signed_image() {
    let w = World::new();
    let m = w.mirror();
    let blob = get(&format!(
        "{}/v2/test/signed/blobs/{}",
        m.url(),
        w.signed.layer.digest
    ));
    assert_eq!(blob.status, 403, "{}", blob.text());
    assert_eq!(blob.code(), "DENIED");
    // A blob of an allowed image is still refused in another repository.
    assert_eq!(
        get(&format!("{}/v2/test/signed/manifests/v1", m.url())).status,
        200
    );
    let elsewhere = get(&format!(
        "{}/v2/test/unsigned/blobs/{}",
        m.url(),
        w.signed.layer.digest
    ));
    assert_eq!(elsewhere.status, 403);
}

#[test]
fn a_tag_moved_after_verification_serves_the_verified_digest_never_the_new_content() {
    let w = World::new();
    let m = w.mirror();
    let first = get(&format!("{}/v2/test/signed/manifests/v1", m.url()));
    assert_eq!(first.digest.as_deref(), Some(w.signed.digest()));
    // The tag now names unsigned content (pushed into the signed repository).
    w.unsigned.push(&w.reg, "test/signed", "v1");
    // A pull in progress still gets the blobs of what it was given.
    let blob = get(&format!(
        "{}/v2/test/signed/blobs/{}",
        m.url(),
        w.signed.layer.digest
    ));
    assert_eq!(blob.status, 200);
    // The tag's new content is judged on its own and refused; the old digest still serves.
    let moved = get(&format!("{}/v2/test/signed/manifests/v1", m.url()));
    assert_eq!(moved.status, 403, "{}", moved.text());
    assert!(
        moved.message().contains(w.unsigned.digest()),
        "{}",
        moved.message()
    );
    let pinned = get(&format!(
        "{}/v2/test/signed/manifests/{}",
        m.url(),
        w.signed.digest()
    ));
    assert_eq!(pinned.status, 200);
    let new_blob = get(&format!(
        "{}/v2/test/signed/blobs/{}",
        m.url(),
        w.unsigned.layer.digest
    ));
    assert_eq!(new_blob.status, 403);
}

#[test]
fn a_signed_index_allows_its_children_and_an_unsigned_one_refuses_them() {
    let w = World::new();
    let m = w.mirror();
    let index = get(&format!("{}/v2/test/multi/manifests/v1", m.url()));
    assert_eq!(index.status, 200, "{}", index.text());
    assert_eq!(index.body, w.index.index.bytes);
    for (_, child) in &w.index.children {
        let got = get(&format!(
            "{}/v2/test/multi/manifests/{}",
            m.url(),
            child.digest()
        ));
        assert_eq!(got.status, 200, "{}", got.text());
        assert_eq!(got.body, child.manifest.bytes);
        let layer = get(&format!(
            "{}/v2/test/multi/blobs/{}",
            m.url(),
            child.layer.digest
        ));
        assert_eq!(layer.body, child.layer.bytes);
    }
    // The same index unsigned, elsewhere: index and children refused.
    w.index.push(&w.reg, "test/multi-unsigned", "v1");
    let refused = get(&format!("{}/v2/test/multi-unsigned/manifests/v1", m.url()));
    assert_eq!(refused.status, 403);
    let (_, child) = &w.index.children[0];
    let child_refused = get(&format!(
        "{}/v2/test/multi-unsigned/manifests/{}",
        m.url(),
        child.digest()
    ));
    assert_eq!(child_refused.status, 403, "{}", child_refused.text());
}

#[test]
fn upstreams_are_named_by_host_prefix_or_ns_and_only_those_served() {
    let w = World::new();
    let m = w.mirror();
    let host = &w.reg.host;
    let prefixed = get(&format!("{}/v2/{host}/test/signed/manifests/v1", m.url()));
    assert_eq!(prefixed.status, 200, "{}", prefixed.text());
    let blob = get(&format!(
        "{}/v2/{host}/test/signed/blobs/{}",
        m.url(),
        w.signed.layer.digest
    ));
    assert_eq!(blob.status, 200);
    let ns = get(&format!(
        "{}/v2/test/signed/manifests/v1?ns={}",
        m.url(),
        host.replace(':', "%3A")
    ));
    assert_eq!(ns.status, 200, "{}", ns.text());
    // A registry not given with --upstream is not reached.
    for url in [
        format!(
            "{}/v2/registry.example.com/test/signed/manifests/v1",
            m.url()
        ),
        format!("{}/v2/test/signed/manifests/v1?ns=127.0.0.9%3A1", m.url()),
    ] {
        let got = get(&url);
        assert_eq!(got.status, 403, "{url}: {}", got.text());
        assert!(
            got.message().contains("not one this mirror serves"),
            "{}",
            got.message()
        );
    }
    // containerd's HEAD of a refused tag is answered, so its GET by digest shows why.
    let head = request(
        "HEAD",
        &format!(
            "{}/v2/test/unsigned/manifests/v1?ns={}",
            m.url(),
            host.replace(':', "%3A")
        ),
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.digest.as_deref(), Some(w.unsigned.digest()));
    let plain_head = request(
        "HEAD",
        &format!("{}/v2/test/unsigned/manifests/v1", m.url()),
    );
    assert_eq!(plain_head.status, 403);
}

#[test]
fn writes_and_bad_requests_are_refused_and_the_mirror_stays_up() {
    let w = World::new();
    let m = w.mirror();
    for method in ["PUT", "POST", "DELETE"] {
        for path in [
            "/v2/test/signed/manifests/v1",
            "/v2/test/signed/blobs/uploads/",
        ] {
            let got = request(method, &format!("{}{path}", m.url()));
            assert_eq!(got.status, 405, "{method} {path}");
            assert_eq!(got.code(), "UNSUPPORTED");
        }
    }
    for (path, status) in [
        ("/v2/../../etc/passwd/manifests/v1", 400),
        ("/v2/Test/manifests/v1", 400),
        ("/v2/test/signed/manifests/sha256:zz", 400),
        ("/v2/test/signed/blobs/v1", 400),
        ("/v2/test/signed/manifests/v1?ns=a%2Fb", 400),
        ("/nothing", 404),
        ("/v2/test/nothing/manifests/v1", 404),
    ] {
        let got = get(&format!("{}{path}", m.url()));
        assert_eq!(got.status, status, "{path}: {}", got.text());
    }
    // Raw garbage on the socket.
    use std::io::{Read as _, Write as _};
    for junk in [
        &b"\x16\x03\x01garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nX: \xff\xfe\r\n\r\n",
    ] {
        if let Ok(mut s) = std::net::TcpStream::connect(&m.host) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(junk);
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    }
    assert!(m.is_running());
    assert_eq!(get(&format!("{}/healthz", m.url())).status, 200);
    assert_eq!(get(&format!("{}/readyz", m.url())).status, 200);
    assert_eq!(
        get(&format!("{}/v2/test/signed/manifests/v1", m.url())).status,
        200
    );
    let base = get(&format!("{}/v2/", m.url()));
    assert_eq!((base.status, base.text().as_str()), (200, "{}"));
    let tags = get(&format!("{}/v2/test/signed/tags/list", m.url()));
    assert_eq!(tags.status, 200, "{}", tags.text());
    assert!(tags.text().contains("\"v1\""), "{}", tags.text());
}

#[test]
fn a_new_policy_is_applied_and_an_invalid_one_refused() {
    let w = World::new();
    let m = w.mirror();
    assert_eq!(
        get(&format!("{}/v2/test/signed/manifests/v1", m.url())).status,
        200
    );
    // Revoke the signed image: after the reload it is refused, blobs included.
    std::fs::write(&w.policy, policy_text(&w.reg.host, w.signed.digest())).expect("policy");
    m.hangup();
    assert!(
        m.wait_for("policy-reloaded", Duration::from_secs(20), |_| true),
        "{:?}",
        m.log()
    );
    let refused = get(&format!("{}/v2/test/signed/manifests/v1", m.url()));
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.message().contains("revoked"),
        "{}",
        refused.message()
    );
    let blob = get(&format!(
        "{}/v2/test/signed/blobs/{}",
        m.url(),
        w.signed.layer.digest
    ));
    assert_eq!(blob.status, 403);
    // A policy that does not validate is refused; the one in force stays.
    std::fs::write(&w.policy, "version: 1\nrules: [oops\n").expect("policy");
    m.hangup();
    assert!(
        m.wait_for("policy-refused", Duration::from_secs(20), |_| true),
        "{:?}",
        m.log()
    );
    assert_eq!(
        get(&format!("{}/v2/test/signed/manifests/v1", m.url())).status,
        403
    );
    assert_eq!(
        get(&format!("{}/v2/test/revoked/manifests/v1", m.url())).status,
        200
    );
}

#[test]
fn replicas_sharing_a_cache_dir_serve_blobs_of_manifests_the_other_allowed() {
    let w = World::new();
    let shared = w.dir.path().join("shared");
    let dir = shared.to_str().expect("utf-8");
    let a = VouchMirror::start(&w.policy, &[&w.reg.host], &["--cache-dir", dir]);
    let b = VouchMirror::start(&w.policy, &[&w.reg.host], &["--cache-dir", dir]);
    assert_eq!(
        get(&format!("{}/v2/test/signed/manifests/v1", a.url())).status,
        200
    );
    let blob = get(&format!(
        "{}/v2/test/signed/blobs/{}",
        b.url(),
        w.signed.layer.digest
    ));
    assert_eq!(blob.status, 200, "{}", blob.text());
    assert_eq!(blob.body, w.signed.layer.bytes);
    // Without the shared dir, a replica refuses what it never allowed.
    let c = w.mirror();
    assert_eq!(
        get(&format!(
            "{}/v2/test/signed/blobs/{}",
            c.url(),
            w.signed.layer.digest
        ))
        .status,
        403
    );
}

#[test]
fn an_unreachable_upstream_is_a_refusal() {
    let w = World::new();
    let m = w.mirror();
    w.reg.kill();
    let got = get(&format!("{}/v2/test/signed/manifests/v1", m.url()));
    assert_eq!(got.status, 403, "{}", got.text());
    assert!(
        got.message().contains("could not be read"),
        "{}",
        got.message()
    );
}

#[test]
fn sixty_four_concurrent_pulls_of_twenty_images() {
    let w = World::new();
    let (release, _) = (w.dir.path().join("release.key"), ());
    let mut images = Vec::new();
    for i in 0..20 {
        let image = TestImage::new(&format!("load-{i}"));
        let repo = format!("load/app{i}");
        image.push(&w.reg, &repo, "v1");
        sign(
            &format!("{}/{repo}@{}", w.reg.host, image.digest()),
            &release,
            &[],
        )
        .expect_code(0);
        images.push((repo, image));
    }
    let m = w.mirror();
    let images = std::sync::Arc::new(images);
    let threads: Vec<_> = (0..64)
        .map(|t| {
            let (images, url) = (std::sync::Arc::clone(&images), m.url());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for k in 0..20 {
                    let (repo, image) = &images[(t + k) % images.len()];
                    let manifest = get(&format!("{url}/v2/{repo}/manifests/v1"));
                    if manifest.status != 200 || manifest.body != image.manifest.bytes {
                        failures.push(format!("{repo}: manifest {}", manifest.status));
                        continue;
                    }
                    for blob in [&image.config, &image.layer] {
                        let got = get(&format!("{url}/v2/{repo}/blobs/{}", blob.digest));
                        if got.status != 200 || got.body != blob.bytes {
                            failures.push(format!("{repo}: blob {}", got.status));
                        }
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    let metrics = get(&format!("{}/metrics", m.url())).text();
    // Bounded memory (a debug build; the release figure is in docs/performance.md).
    let rss = m.peak_rss_kib().expect("VmHWM");
    assert!(rss < 256 * 1024, "peak RSS {rss} KiB");
    assert!(m.is_running());
    // Each image verified once however many pulled it at the same time.
    assert!(
        metrics.contains("vouch_mirror_verification_seconds_count 20"),
        "{metrics}"
    );
}

// The pulling clients, each configured with the mirror as its only endpoint.

#[test]
fn skopeo_pulls_signed_images_through_the_mirror_and_shows_refusals() {
    if !require(
        Client::Skopeo,
        "skopeo_pulls_signed_images_through_the_mirror_and_shows_refusals",
    ) {
        return;
    }
    let w = World::new();
    let m = w.mirror();
    let direct = skopeo::copy(&format!("{}/test/signed:v1", w.reg.host), None);
    let through = skopeo::copy(&format!("{}/test/signed:v1", m.host), None);
    assert_eq!(
        through.expect_pulled(),
        direct.expect_pulled(),
        "same bytes as a direct pull"
    );
    let inspected = skopeo::inspect(&format!("{}/test/signed:v1", m.host), None);
    assert_eq!(inspected.expect_pulled().manifest, w.signed.digest());
    // registries.conf: the upstream's location is the mirror.
    let conf = RegistriesConf::location(&w.reg.host, &m.host);
    let routed = skopeo::copy(&format!("{}/test/signed:v1", w.reg.host), Some(&conf));
    assert_eq!(routed.expect_pulled(), direct.expect_pulled());
    for repo in ["test/unsigned", "test/wrong", "test/revoked"] {
        let pull = skopeo::copy(&format!("{}/{repo}:v1", w.reg.host), Some(&conf));
        let stderr = pull.expect_failed();
        assert!(
            stderr.contains(&format!("denied: vouch: {}/{repo}@sha256:", w.reg.host))
                && stderr.contains("refused"),
            "{repo}: {stderr}"
        );
    }
    let multi = skopeo::copy(&format!("{}/test/multi:v1", m.host), None);
    multi.expect_pulled();
}

#[test]
fn podman_pulls_through_the_mirror_as_the_registry_location() {
    if !require(
        Client::Podman,
        "podman_pulls_through_the_mirror_as_the_registry_location",
    ) {
        return;
    }
    let w = World::new();
    let m = w.mirror();
    let conf = RegistriesConf::location(&w.reg.host, &m.host);
    let pulled = podman::pull(&format!("{}/test/signed:v1", w.reg.host), &conf);
    let direct = podman::pull(
        &format!("{}/test/signed:v1", w.reg.host),
        &RegistriesConf::direct(&w.reg.host),
    );
    assert_eq!(pulled.expect_pulled(), direct.expect_pulled());
    let refused = podman::pull(&format!("{}/test/unsigned:v1", w.reg.host), &conf);
    let stderr = refused.expect_failed();
    assert!(
        stderr.contains("denied: vouch:") && stderr.contains(w.unsigned.digest()),
        "{stderr}"
    );
}

#[test]
fn oras_pulls_through_the_mirror() {
    if !require(Client::Oras, "oras_pulls_through_the_mirror") {
        return;
    }
    let w = World::new();
    // oras writes only layers with a title.
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&w.signed.manifest.bytes).expect("manifest JSON");
    manifest["layers"][0]["annotations"] =
        serde_json::json!({"org.opencontainers.image.title": "hello.tar"});
    let titled = TestImage {
        manifest: Blob::new(serde_json::to_vec(&manifest).expect("JSON")),
        ..TestImage::new("signed")
    };
    titled.push(&w.reg, "test/titled", "v1");
    let release = w.dir.path().join("release.key");
    sign(
        &format!("{}/test/titled@{}", w.reg.host, titled.digest()),
        &release,
        &[],
    )
    .expect_code(0);
    let m = w.mirror();
    let through = oras::pull(&format!("{}/test/titled:v1", m.host), OrasRoute::Direct);
    let direct = oras::pull(&format!("{}/test/titled:v1", w.reg.host), OrasRoute::Direct);
    assert!(through.expect_pulled().blobs.contains(&titled.layer.digest));
    assert_eq!(through.expect_pulled(), direct.expect_pulled());
    let refused = oras::pull(&format!("{}/test/wrong:v1", m.host), OrasRoute::Direct);
    let stderr = refused.expect_failed();
    assert!(stderr.contains("denied: vouch:"), "{stderr}");
}

#[test]
fn containerd_pulls_through_the_mirror_as_its_server_and_shows_why_it_refuses() {
    if !require(
        Client::Containerd,
        "containerd_pulls_through_the_mirror_as_its_server_and_shows_why_it_refuses",
    ) {
        return;
    }
    let containerd = match Containerd::start() {
        Ok(c) => c,
        Err(reason) => {
            skip(
                "containerd_pulls_through_the_mirror_as_its_server_and_shows_why_it_refuses",
                &reason,
            );
            return;
        }
    };
    let w = World::new();
    let m = w.mirror();
    let hosts = HostsToml::Server {
        mirror: m.host.clone(),
    };
    let through = containerd.pull(&format!("{}/test/signed:v1", w.reg.host), &hosts);
    let direct = containerd.pull(&format!("{}/test/signed:v1", w.reg.host), &HostsToml::None);
    assert_eq!(
        through.expect_pulled(),
        direct.expect_pulled(),
        "{}",
        containerd.log()
    );
    let refused = containerd.pull(&format!("{}/test/unsigned:v1", w.reg.host), &hosts);
    let stderr = refused.expect_failed();
    assert!(
        stderr.contains("Server message: denied: vouch:") && stderr.contains(w.unsigned.digest()),
        "{stderr}"
    );
    let index = containerd.pull(&format!("{}/test/multi:v1", w.reg.host), &hosts);
    index.expect_pulled();
}

// A hostile upstream: what it serves wrongly never reaches the client.

struct HostileWorld {
    server: Hostile,
    dir: tempfile::TempDir,
    policy: PathBuf,
    key: PathBuf,
}

impl HostileWorld {
    fn new() -> HostileWorld {
        let server = Hostile::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let (key, _) = keygen(dir.path(), "release", "ecdsa-p256");
        let policy = dir.path().join("policy.yaml");
        let text = policy_text(server.host(), &format!("sha256:{}", "0".repeat(64)));
        std::fs::write(&policy, text).expect("policy");
        HostileWorld {
            server,
            dir,
            policy,
            key,
        }
    }

    /// A signed image in `repo` (pushed and signed honestly, before the handler lies).
    fn signed(&self, repo: &str, content: &str) -> TestImage {
        let r = self.server.repo(repo);
        let image = TestImage::new(content);
        r.put_blob(&image.config);
        r.put_blob(&image.layer);
        r.put_manifest(
            "v1",
            "application/vnd.oci.image.manifest.v1+json",
            &image.manifest.bytes,
        );
        sign(
            &format!("{}/{repo}@{}", self.server.host(), image.digest()),
            &self.key,
            &[],
        )
        .expect_code(0);
        image
    }

    fn mirror(&self) -> VouchMirror {
        let _ = &self.dir;
        VouchMirror::start(&self.policy, &[self.server.host()], &[])
    }
}

#[test]
fn hostile_upstream_wrong_blob_bytes_are_cut_before_the_client_has_them() {
    let h = HostileWorld::new();
    // Layers of several frames: the mirror passes most of a blob on before its end.
    let image = h.signed(
        "lying-blob",
        &format!("lying-blob{}", "x".repeat(3_000_000)),
    );
    let honest = h.signed(
        "honest-blob",
        &format!("honest-blob{}", "y".repeat(3_000_000)),
    );
    let layer = image.layer.digest.clone();
    let size = image.layer.bytes.len();
    // The right bytes but the very last one.
    let mut wrong = image.layer.bytes.clone();
    *wrong.last_mut().expect("bytes") ^= 1;
    h.server
        .repo("lying-blob")
        .on(move |req, ctx| match &req.route {
            HostileRoute::Blob(d) if *d == layer => {
                Reply::bytes(200, "application/octet-stream", wrong.clone())
            }
            _ => ctx.honest(req),
        });
    let m = h.mirror();
    assert_eq!(
        get(&format!("{}/v2/honest-blob/manifests/v1", m.url())).status,
        200
    );
    let big = get(&format!(
        "{}/v2/honest-blob/blobs/{}",
        m.url(),
        honest.layer.digest
    ));
    assert_eq!((big.status, big.body == honest.layer.bytes), (200, true));
    assert_eq!(
        get(&format!("{}/v2/lying-blob/manifests/v1", m.url())).status,
        200
    );
    let agent = agent();
    let response = agent
        .get(&format!(
            "{}/v2/lying-blob/blobs/{}",
            m.url(),
            image.layer.digest
        ))
        .call();
    let body = response.ok().and_then(|r| r.into_body().read_to_vec().ok());
    assert!(
        body.as_ref().is_none_or(|b| b.len() < size),
        "the client received the whole wrong blob"
    );
    assert!(
        m.wait_for("blob-cut", Duration::from_secs(10), |e| e["reason"]
            .as_str()
            .is_some_and(|r| r.contains("hash"))),
        "{:?}",
        m.log()
    );
}

#[test]
fn hostile_upstream_dying_mid_blob_or_sending_too_much_is_cut() {
    let h = HostileWorld::new();
    let image = h.signed("dying", "dying");
    let layer = image.layer.digest.clone();
    let bytes = image.layer.bytes.clone();
    h.server.repo("dying").on(move |req, ctx| match &req.route {
        // Half the blob, a length that promises all of it, then the connection closes.
        HostileRoute::Blob(d) if *d == layer => Reply::bytes(
            200,
            "application/octet-stream",
            bytes[..bytes.len() / 2].to_vec(),
        )
        .framing(Framing::Declared(bytes.len() as u64)),
        _ => ctx.honest(req),
    });
    let m = h.mirror();
    assert_eq!(
        get(&format!("{}/v2/dying/manifests/v1", m.url())).status,
        200
    );
    let got = agent()
        .get(&format!(
            "{}/v2/dying/blobs/{}",
            m.url(),
            image.layer.digest
        ))
        .call()
        .ok()
        .and_then(|r| r.into_body().read_to_vec().ok());
    assert!(got.is_none_or(|b| b != image.layer.bytes));

    let endless = h.signed("endless", "endless");
    let layer = endless.layer.digest.clone();
    h.server
        .repo("endless")
        .on(move |req, ctx| match &req.route {
            HostileRoute::Blob(d) if *d == layer => {
                Reply::bytes(200, "application/octet-stream", Vec::new())
                    .body(Body::Endless(b'a'))
                    .framing(Framing::Chunked)
            }
            _ => ctx.honest(req),
        });
    assert_eq!(
        get(&format!("{}/v2/endless/manifests/v1", m.url())).status,
        200
    );
    let got = agent()
        .get(&format!(
            "{}/v2/endless/blobs/{}",
            m.url(),
            endless.layer.digest
        ))
        .call()
        .ok()
        .and_then(|r| r.into_body().read_to_vec().ok());
    assert!(got.is_none(), "an endless blob must be cut");
    assert!(m.is_running());
}

#[test]
fn hostile_upstream_lying_or_stalling_manifests_are_refused() {
    let h = HostileWorld::new();
    // A manifest whose digest header lies.
    let lying = h.signed("lying-digest", "lying-digest");
    let other = Blob::new(b"{}".to_vec());
    h.server
        .repo("lying-digest")
        .on(move |req, ctx| match &req.route {
            HostileRoute::Manifest(_) => ctx
                .honest(req)
                .header("Docker-Content-Digest", &other.digest),
            _ => ctx.honest(req),
        });
    // A manifest larger than the limit.
    let big = h.signed("big", "big");
    h.server.repo("big").on(move |req, ctx| match &req.route {
        HostileRoute::Manifest(_) => Reply::bytes(
            200,
            "application/vnd.oci.image.manifest.v1+json",
            Vec::new(),
        )
        .body(Body::Endless(b' '))
        .framing(Framing::Chunked),
        _ => ctx.honest(req),
    });
    // A manifest that never comes.
    let slow = h.signed("slow", "slow");
    h.server.repo("slow").on(move |req, ctx| match &req.route {
        HostileRoute::Manifest(_) => Reply::bytes(
            200,
            "application/vnd.oci.image.manifest.v1+json",
            Vec::new(),
        )
        .body(Body::Silent),
        _ => ctx.honest(req),
    });
    let m = h.mirror();
    for (repo, image, why) in [
        ("lying-digest", &lying, "Docker-Content-Digest"),
        ("big", &big, "limit"),
        ("slow", &slow, "could not be read"),
    ] {
        let got = get(&format!("{}/v2/{repo}/manifests/v1", m.url()));
        assert_eq!(got.status, 403, "{repo}: {}", got.text());
        assert!(got.message().contains(why), "{repo}: {}", got.message());
        let blob = get(&format!(
            "{}/v2/{repo}/blobs/{}",
            m.url(),
            image.layer.digest
        ));
        assert_eq!(blob.status, 403, "{repo} blob");
    }
    assert!(m.is_running());
}

#[test]
fn an_image_signed_by_cosign_pulls_through_the_mirror() {
    let w = World::new();
    let peers = vouch_e2e::peers::peers();
    let home = w.dir.path().join("cosign-home");
    std::fs::create_dir_all(&home).expect("home");
    let prefix = w.dir.path().join("cosign");
    Run::of(
        peers
            .cosign(&home)
            .args(["generate-key-pair", "--output-key-prefix"])
            .arg(&prefix)
            .env("COSIGN_PASSWORD", vouch_e2e::TEST_PASSWORD),
    )
    .expect_code(0);
    let image = TestImage::new("cosigned");
    image.push(&w.reg, "test/cosigned", "v1");
    Run::of(
        peers
            .cosign(&home)
            .args([
                "sign",
                "--tlog-upload=false",
                "-y",
                "--allow-insecure-registry",
                "--key",
            ])
            .arg(prefix.with_extension("key"))
            .arg(format!("{}/test/cosigned@{}", w.reg.host, image.digest()))
            .env("COSIGN_PASSWORD", vouch_e2e::TEST_PASSWORD),
    )
    .expect_code(0);
    let policy = w.dir.path().join("cosign-policy.yaml");
    let text = policy_text(&w.reg.host, w.revoked.digest())
        .replace("keys: [release.pub]", "keys: [cosign.pub]");
    std::fs::write(&policy, text).expect("policy");
    let m = VouchMirror::start(&policy, &[&w.reg.host], &[]);
    let got = get(&format!("{}/v2/test/cosigned/manifests/v1", m.url()));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.body, image.manifest.bytes);
    // Signed by vouch's release key, which this policy does not trust: refused.
    assert_eq!(
        get(&format!("{}/v2/test/signed/manifests/v1", m.url())).status,
        403
    );
}

#[test]
fn tls_is_served_with_the_given_certificate() {
    let w = World::new();
    let tls = vouch_e2e::TlsFiles::generate();
    let (cert, key) = (
        tls.server_cert.to_str().expect("utf-8"),
        tls.server_key.to_str().expect("utf-8"),
    );
    let m = VouchMirror::start(
        &w.policy,
        &[&w.reg.host],
        &["--tls-cert", cert, "--tls-key", key],
    );
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&tls.ca_cert)
        .args([
            "-H",
            &format!("Accept: {ACCEPT}"),
            "-o",
            "-",
            "-w",
            "\n%{http_code} %{http_version}",
        ])
        .arg(format!("https://{}/v2/test/signed/manifests/v1", m.host))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with("200 2"),
        "HTTP/2 over TLS: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with(&String::from_utf8_lossy(&w.signed.manifest.bytes).into_owned()));
}

#[test]
fn bad_setups_are_usage_errors() {
    let w = World::new();
    // Plain HTTP beyond loopback, no upstream, a policy with errors: exit 2, saying what to do.
    let run = |args: &[&str], policy: &std::path::Path| {
        Run::of(vouch().args(["mirror", "--policy"]).arg(policy).args(args))
    };
    let plain = run(
        &["--listen", "0.0.0.0:0", "--upstream", &w.reg.host],
        &w.policy,
    )
    .expect_code(2);
    assert!(
        plain.stderr.contains("--allow-plain-http"),
        "{}",
        plain.stderr
    );
    let none = run(&["--listen", "127.0.0.1:0"], &w.policy).expect_code(2);
    assert!(none.stderr.contains("--upstream"), "{}", none.stderr);
    let broken = w.dir.path().join("broken.yaml");
    std::fs::write(&broken, "version: 1\nrules: [oops\n").expect("policy");
    let bad = run(
        &["--listen", "127.0.0.1:0", "--upstream", &w.reg.host],
        &broken,
    )
    .expect_code(2);
    assert!(bad.stderr.contains("broken.yaml"), "{}", bad.stderr);
}
