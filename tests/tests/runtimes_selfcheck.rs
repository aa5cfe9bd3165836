//! The pulling clients (skopeo, podman, oras, containerd's ctr, all from Debian 13) proven
//! against a real registry, directly and through the mirror stub: the same bytes either
//! way; the requests each sends to a mirror; and how each treats a mirror that refuses
//! (what the user sees, and whether it falls back to the upstream). These are the facts a
//! verifying mirror is designed on (tests/peers/NOTES.md has the table).
//!
//! In every setup the image is named after the upstream, a pass-through stub in front of
//! the registry that records what reaches it ("upstream"), and the client is configured
//! to pull it through a second stub ("mirror").

use vouch_e2e::Registry;
use vouch_e2e::image::{Blob, TestImage, TestIndex};
use vouch_e2e::runtimes::stub::Kind;
use vouch_e2e::runtimes::{
    Answer, Client, Containerd, HostsToml, Match, MirrorStub, OrasRoute, Pull, RegistriesConf,
    oras, podman, require, skip, skopeo,
};

/// What a verifying mirror would say about a refused image.
const REASON: &str = "vouch: 127.0.0.1/test/app:v1 refused: no signature by a trusted key";

/// A registry holding the test images, the upstream tap in front of it, and a mirror
/// stub passing through to it.
struct World {
    _registry: Registry,
    upstream: MirrorStub,
    mirror: MirrorStub,
    image: TestImage,
    index: TestIndex,
}

/// `image` with a title on its layer, so `oras pull` writes it as a file.
fn titled(image: TestImage) -> TestImage {
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&image.manifest.bytes).expect("manifest JSON");
    manifest["layers"][0]["annotations"] =
        serde_json::json!({"org.opencontainers.image.title": "hello.tar"});
    TestImage {
        manifest: Blob::new(serde_json::to_vec(&manifest).expect("JSON")),
        ..image
    }
}

impl World {
    fn new(content: &str) -> World {
        let registry = Registry::start();
        let image = titled(TestImage::new(content));
        image.push(&registry, "test/app", "v1");
        let index = TestIndex::new(content);
        index.push(&registry, "test/multi", "v1");
        World {
            upstream: MirrorStub::start(&registry.host),
            mirror: MirrorStub::start(&registry.host),
            _registry: registry,
            image,
            index,
        }
    }

    /// `UPSTREAM/path`: the name the clients pull.
    fn name(&self, path: &str) -> String {
        format!("{}/{path}", self.upstream.host)
    }

    /// `MIRROR/path`: the mirror addressed as the registry itself.
    fn at_mirror(&self, path: &str) -> String {
        format!("{}/{path}", self.mirror.host)
    }

    fn up(&self) -> &str {
        &self.upstream.host
    }

    fn m(&self) -> &str {
        &self.mirror.host
    }

    fn clear(&self) {
        self.mirror.clear_log();
        self.upstream.clear_log();
    }

    /// Manifest requests that reached the upstream.
    fn upstream_manifests(&self) -> usize {
        self.upstream
            .requests()
            .iter()
            .filter(|r| r.kind == Kind::Manifest)
            .count()
    }

    fn mirror_manifests(&self) -> usize {
        self.mirror
            .requests()
            .iter()
            .filter(|r| r.kind == Kind::Manifest)
            .count()
    }

    /// The image's own digests (manifest, config, layer).
    fn image_digests(&self) -> Vec<String> {
        [&self.image.manifest, &self.image.config, &self.image.layer]
            .iter()
            .map(|b| b.digest.clone())
            .collect()
    }

    /// Evidence for failure messages.
    fn evidence(&self, pull: &Pull) -> String {
        format!(
            "{}\n--- mirror saw\n{}\n--- upstream saw\n{}",
            pull.describe(),
            self.mirror.transcript(),
            self.upstream.transcript()
        )
    }
}

/// The refusals each client is tried against, on manifest requests.
fn refusals() -> Vec<(&'static str, Answer)> {
    vec![
        ("403 DENIED", Answer::denied(REASON)),
        (
            "404 MANIFEST_UNKNOWN",
            Answer::error(404, "MANIFEST_UNKNOWN", REASON),
        ),
        (
            "401 UNAUTHORIZED",
            Answer::error(401, "UNAUTHORIZED", REASON),
        ),
        ("500 UNKNOWN", Answer::error(500, "UNKNOWN", REASON)),
        ("connection reset", Answer::Reset),
    ]
}

/// Asserts a refused pull failed, showed `shows`, (not) the mirror's message, and never
/// reached the upstream.
#[track_caller]
fn assert_refused(world: &World, pull: &Pull, what: &str, shows: &str, message_shown: bool) {
    let stderr = pull.expect_failed();
    assert!(
        stderr.contains(shows),
        "{what}: expected {shows:?} on stderr\n{}",
        world.evidence(pull)
    );
    assert_eq!(
        stderr.contains(REASON),
        message_shown,
        "{what}: the mirror's message shown: expected {message_shown}\n{}",
        world.evidence(pull)
    );
    assert!(
        world.upstream.requests().is_empty(),
        "{what}: the client went around the mirror\n{}",
        world.evidence(pull)
    );
}

/// Asserts a pull refused by the mirror succeeded from the upstream instead (fail open).
#[track_caller]
fn assert_fell_back(world: &World, pull: &Pull, what: &str, direct: &Pull) {
    let pulled = pull.expect_pulled();
    assert!(
        world.upstream_manifests() > 0 && world.mirror_manifests() > 0,
        "{what}: expected the mirror tried, then the upstream\n{}",
        world.evidence(pull)
    );
    assert_eq!(
        pulled,
        direct.expect_pulled(),
        "{what}: fallback pulled other bytes"
    );
}

// ------------------------------------------------------------------ pass-through

#[test]
fn skopeo_copy_and_inspect_through_the_stub_match_a_direct_pull() {
    if !require(Client::Skopeo, "skopeo pass-through") {
        return;
    }
    let w = World::new("skopeo pass-through");
    let digest = w.image.digest();
    let direct = skopeo::copy(&w.name(&format!("test/app@{digest}")), None);
    let pulled = direct.expect_pulled();
    assert_eq!(pulled.manifest, digest);
    for d in w.image_digests() {
        assert!(pulled.blobs.contains(&d), "{d} missing from {pulled:?}");
    }
    w.clear();

    // The mirror as the registry itself, and as the registries.conf location.
    let at_mirror = skopeo::copy(&w.at_mirror("test/app:v1"), None);
    assert_eq!(at_mirror.expect_pulled(), pulled);
    let located = skopeo::copy(
        &w.name("test/app:v1"),
        Some(&RegistriesConf::location(w.up(), w.m())),
    );
    assert_eq!(located.expect_pulled(), pulled, "{}", w.evidence(&located));
    assert!(
        w.upstream.requests().is_empty(),
        "{}",
        w.upstream.transcript()
    );

    // containers/image: `GET /v2/` (not always first: it may follow the manifest
    // request), every manifest type as its own Accept line, no ns parameter.
    let seen = w.mirror.requests();
    assert!(
        seen.iter()
            .any(|r| r.kind == Kind::Base && r.method == "GET")
    );
    let manifest = seen
        .iter()
        .find(|r| r.kind == Kind::Manifest)
        .expect("a manifest request");
    assert_eq!(manifest.method, "GET");
    assert_eq!(manifest.target, "/v2/test/app/manifests/v1");
    assert_eq!(
        manifest.header_values("accept"),
        [
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "application/vnd.docker.distribution.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.index.v1+json",
        ]
    );
    assert!(seen.iter().all(|r| r.ns.is_none() && r.method == "GET"));

    // inspect reads the manifest and config, and lists the tags.
    w.clear();
    let inspected = skopeo::inspect(&w.at_mirror("test/app:v1"), None);
    let info = inspected.expect_pulled();
    assert_eq!(info.manifest, digest);
    assert!(info.blobs.contains(&w.image.layer.digest));
    assert!(
        w.mirror.requests().iter().any(|r| r.kind == Kind::Tags),
        "{}",
        w.mirror.transcript()
    );
}

#[test]
fn podman_pulls_through_a_location_a_location_path_and_a_mirror_entry_with_identical_bytes() {
    if !require(Client::Podman, "podman pass-through") {
        return;
    }
    let w = World::new("podman pass-through");
    let digest = w.image.digest();
    let direct = podman::pull(
        &w.name(&format!("test/app@{digest}")),
        &RegistriesConf::direct(w.up()),
    );
    let pulled = direct.expect_pulled().clone();
    assert_eq!(pulled.manifest, digest);
    for d in w.image_digests() {
        assert!(pulled.blobs.contains(&d), "{d} missing from {pulled:?}");
    }

    for (what, conf, image) in [
        (
            "location",
            RegistriesConf::location(w.up(), w.m()),
            w.name(&format!("test/app@{digest}")),
        ),
        (
            "mirror entry",
            RegistriesConf::mirror(w.up(), w.m(), "all"),
            w.name(&format!("test/app@{digest}")),
        ),
        // A location with a path: the name cannot carry a port then (a path component
        // may not hold ':'), so the upstream is named `localhost`, never contacted.
        (
            "location with a path",
            RegistriesConf::location("localhost", &format!("{}/localhost", w.m())),
            format!("localhost/test/app@{digest}"),
        ),
    ] {
        w.clear();
        let through = podman::pull(&image, &conf);
        assert_eq!(
            through.expect_pulled(),
            &pulled,
            "{what}\n{}",
            w.evidence(&through)
        );
        assert!(
            w.upstream.requests().is_empty(),
            "{what}: {}",
            w.upstream.transcript()
        );
        let manifest = w
            .mirror
            .requests()
            .into_iter()
            .find(|r| r.kind == Kind::Manifest)
            .expect("manifest request");
        let expected_name = if what == "location with a path" {
            "localhost/test/app"
        } else {
            "test/app"
        };
        assert_eq!(manifest.name, expected_name, "{what}");
        assert_eq!(manifest.method, "GET", "{what}");
        assert!(
            w.mirror.requests().iter().any(|r| r.kind == Kind::Base),
            "{what}: no GET /v2/"
        );
    }

    // A multi-platform index: podman resolves it and keeps the index and this machine's
    // child, recording the index digest as what was pulled.
    w.clear();
    let index = podman::pull(
        &w.name("test/multi:v1"),
        &RegistriesConf::location(w.up(), w.m()),
    );
    let got = index.expect_pulled();
    assert_eq!(got.manifest, w.index.digest(), "{}", w.evidence(&index));
    let amd64 = &w.index.children[0].1;
    assert!(got.blobs.contains(amd64.digest()) && got.blobs.contains(&amd64.config.digest));
}

#[test]
fn oras_pulls_through_the_stub_and_through_resolve_with_identical_files() {
    if !require(Client::Oras, "oras pass-through") {
        return;
    }
    let w = World::new("oras pass-through");
    let digest = w.image.digest();
    let direct = oras::pull(&w.name(&format!("test/app@{digest}")), OrasRoute::Direct);
    let pulled = direct.expect_pulled().clone();
    assert_eq!(pulled.manifest, digest);
    assert_eq!(
        pulled.blobs,
        [w.image.layer.digest.clone(), w.image.config.digest.clone()]
            .into_iter()
            .collect()
    );
    w.clear();

    let through = oras::pull(&w.at_mirror("test/app:v1"), OrasRoute::Direct);
    assert_eq!(through.expect_pulled(), &pulled);
    // oras-go: no `/v2/` check, GET for the manifest, one Accept line listing the types.
    let seen = w.mirror.requests();
    assert!(
        seen.iter()
            .all(|r| r.kind != Kind::Base && r.method == "GET")
    );
    let manifest = seen
        .iter()
        .find(|r| r.kind == Kind::Manifest)
        .expect("manifest");
    assert_eq!(
        manifest.header_values("accept"),
        [
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.oci.artifact.manifest.v1+json"
        ]
    );

    // --resolve: the reference names the upstream, the connection goes to the mirror,
    // which learns the name only from the Host header.
    w.clear();
    let port = w.up().rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
    let resolved = oras::pull(
        &format!("localhost:{port}/test/app:v1"),
        OrasRoute::Resolve(w.m()),
    );
    assert_eq!(
        resolved.expect_pulled(),
        &pulled,
        "{}",
        w.evidence(&resolved)
    );
    assert!(w.upstream.requests().is_empty());
    let manifest = w.mirror.requests().into_iter().next().expect("request");
    assert_eq!(
        manifest.header("host"),
        Some(format!("localhost:{port}").as_str())
    );
}

#[test]
fn containerd_pulls_through_server_and_host_entries_with_identical_bytes() {
    if !require(Client::Containerd, "containerd pass-through") {
        return;
    }
    let daemon = match Containerd::start() {
        Ok(d) => d,
        Err(reason) => return skip("containerd pass-through", &reason),
    };
    let w = World::new("containerd pass-through");
    let digest = w.image.digest();
    let direct = daemon.pull(&w.name(&format!("test/app@{digest}")), &HostsToml::None);
    let pulled = direct.expect_pulled().clone();
    assert_eq!(pulled.manifest, digest);
    assert_eq!(
        pulled.blobs,
        w.image_digests().into_iter().collect(),
        "{}",
        w.evidence(&direct)
    );

    for (what, hosts) in [
        (
            "server",
            HostsToml::Server {
                mirror: w.m().into(),
            },
        ),
        (
            "host entry",
            HostsToml::Host {
                mirror: w.m().into(),
                upstream: w.up().into(),
            },
        ),
    ] {
        w.clear();
        let through = daemon.pull(&w.name("test/app:v1"), &hosts);
        assert_eq!(
            through.expect_pulled(),
            &pulled,
            "{what}\n{}",
            w.evidence(&through)
        );
        assert!(
            w.upstream.requests().is_empty(),
            "{what}: {}",
            w.upstream.transcript()
        );
        // containerd: no `/v2/`; HEAD by tag, then GET by digest; every request names
        // the upstream in `ns`; Accept ends in */*.
        let seen = w.mirror.requests();
        assert!(seen.iter().all(|r| r.kind != Kind::Base));
        assert!(
            seen.iter().all(|r| r.ns.as_deref() == Some(w.up())),
            "{what}: {seen:?}"
        );
        let manifests: Vec<_> = seen.iter().filter(|r| r.kind == Kind::Manifest).collect();
        assert_eq!(
            manifests
                .iter()
                .map(|r| format!("{} {}", r.method, r.reference))
                .collect::<Vec<_>>(),
            ["HEAD v1".to_string(), format!("GET {digest}")],
            "{what}"
        );
        assert!(
            manifests[0]
                .header("accept")
                .is_some_and(|a| a.ends_with("*/*"))
        );
        assert_eq!(
            manifests[1].header("accept"),
            Some("application/vnd.oci.image.manifest.v1+json, */*"),
            "{what}: GET by digest asks for the type HEAD reported"
        );
    }

    // An index: HEAD by tag, GET the index by digest, GET this machine's child.
    w.clear();
    let index = daemon.pull(
        &w.name("test/multi:v1"),
        &HostsToml::Server {
            mirror: w.m().into(),
        },
    );
    let got = index.expect_pulled();
    assert_eq!(got.manifest, w.index.digest());
    let amd64 = w.index.children[0].1.digest().to_string();
    let refs: Vec<String> = w
        .mirror
        .requests()
        .iter()
        .filter(|r| r.kind == Kind::Manifest)
        .map(|r| format!("{} {}", r.method, r.reference))
        .collect();
    assert_eq!(
        refs,
        [
            "HEAD v1".to_string(),
            format!("GET {}", w.index.digest()),
            format!("GET {amd64}"),
        ]
    );
}

// ------------------------------------------------------------------ refusals

#[test]
fn skopeo_shows_the_mirrors_reason_and_falls_back_only_from_a_mirror_entry() {
    if !require(Client::Skopeo, "skopeo refusals") {
        return;
    }
    let w = World::new("skopeo refusals");
    let direct = skopeo::copy(&w.name("test/app:v1"), None);
    direct.expect_pulled();
    for (what, answer) in refusals() {
        w.mirror.clear_rules();
        w.mirror.on(Match::Manifests, answer);
        let shows = match what {
            "403 DENIED" => "denied: ",
            "404 MANIFEST_UNKNOWN" => "manifest unknown: ",
            "401 UNAUTHORIZED" => "unauthorized: ",
            "500 UNKNOWN" => "received unexpected HTTP status: 500 Internal Server Error",
            _ => "connection reset by peer",
        };
        let message_shown = !matches!(what, "500 UNKNOWN" | "connection reset");
        for (config, conf) in [
            ("mirror as the registry", None),
            ("location", Some(RegistriesConf::location(w.up(), w.m()))),
        ] {
            w.clear();
            let image = if conf.is_some() {
                w.name("test/app:v1")
            } else {
                w.at_mirror("test/app:v1")
            };
            let pull = skopeo::copy(&image, conf.as_ref());
            assert_refused(
                &w,
                &pull,
                &format!("{what}, {config}"),
                shows,
                message_shown,
            );
            let inspect = skopeo::inspect(&image, conf.as_ref());
            assert_refused(
                &w,
                &inspect,
                &format!("{what}, {config}, inspect"),
                shows,
                message_shown,
            );
        }
        w.clear();
        let pull = skopeo::copy(
            &w.name("test/app:v1"),
            Some(&RegistriesConf::mirror(w.up(), w.m(), "all")),
        );
        assert_fell_back(&w, &pull, &format!("{what}, mirror entry"), &direct);
    }
}

#[test]
fn podman_shows_the_mirrors_reason_and_falls_back_from_a_mirror_entry_but_not_for_blobs() {
    if !require(Client::Podman, "podman refusals") {
        return;
    }
    let w = World::new("podman refusals");
    let direct = podman::pull(&w.name("test/app:v1"), &RegistriesConf::direct(w.up()));
    direct.expect_pulled();
    for (what, answer) in refusals() {
        w.mirror.clear_rules();
        w.mirror.on(Match::Manifests, answer);
        w.clear();
        let pull = podman::pull(
            &w.name("test/app:v1"),
            &RegistriesConf::location(w.up(), w.m()),
        );
        let (shows, message_shown) = match what {
            "403 DENIED" => ("denied: ", true),
            "404 MANIFEST_UNKNOWN" => ("manifest unknown: ", true),
            "401 UNAUTHORIZED" => ("unauthorized: ", true),
            "500 UNKNOWN" => (
                "received unexpected HTTP status: 500 Internal Server Error",
                false,
            ),
            _ => ("connection reset by peer", false),
        };
        assert_refused(
            &w,
            &pull,
            &format!("{what}, location"),
            shows,
            message_shown,
        );
        assert_eq!(pull.code, 125, "podman's exit code for a failed pull");
        // podman retries network errors (3 times, 1 s apart), not HTTP statuses.
        let expected_tries = if what == "connection reset" { 4 } else { 1 };
        assert_eq!(
            w.mirror_manifests(),
            expected_tries,
            "{what}: {}",
            w.mirror.transcript()
        );

        w.clear();
        let pull = podman::pull(
            &w.name("test/app:v1"),
            &RegistriesConf::mirror(w.up(), w.m(), "all"),
        );
        assert_fell_back(&w, &pull, &format!("{what}, mirror entry"), &direct);
    }

    // `pull-from-mirror = "digest-only"`: a tag never goes to the mirror at all.
    w.mirror.clear_rules();
    w.clear();
    let pull = podman::pull(
        &w.name("test/app:v1"),
        &RegistriesConf::mirror(w.up(), w.m(), "digest-only"),
    );
    pull.expect_pulled();
    assert!(w.mirror.requests().is_empty(), "{}", w.mirror.transcript());

    // A blob refused after the mirror served the manifest: no fallback, the pull fails
    // with the mirror's message.
    w.mirror.on(Match::Blobs, Answer::denied(REASON));
    w.clear();
    let pull = podman::pull(
        &w.name("test/app:v1"),
        &RegistriesConf::mirror(w.up(), w.m(), "all"),
    );
    assert_refused(
        &w,
        &pull,
        "blob 403, mirror entry",
        "fetching blob: denied: ",
        true,
    );
}

#[test]
fn oras_shows_the_mirrors_reason_for_403_and_401_without_a_challenge() {
    if !require(Client::Oras, "oras refusals") {
        return;
    }
    let w = World::new("oras refusals");
    for (what, answer) in refusals() {
        w.mirror.clear_rules();
        w.mirror.on(Match::Manifests, answer);
        w.clear();
        let pull = oras::pull(&w.at_mirror("test/app:v1"), OrasRoute::Direct);
        let (shows, message_shown, tries) = match what {
            "403 DENIED" => (
                "Error response from registry: failed to resolve v1: denied: ",
                true,
                1,
            ),
            // The 404's message is dropped for oras's own wording.
            "404 MANIFEST_UNKNOWN" => ("/test/app:v1: not found", false, 1),
            "401 UNAUTHORIZED" => ("unauthorized: ", true, 1),
            // oras-go retries a 5xx five times (about 7 s in all).
            "500 UNKNOWN" => ("failed to resolve v1: unknown: ", true, 6),
            _ => ("connection reset by peer", false, 1),
        };
        assert_refused(&w, &pull, what, shows, message_shown);
        assert_eq!(
            w.mirror_manifests(),
            tries,
            "{what}: {}",
            w.mirror.transcript()
        );
    }
    // With a Basic challenge, oras asks for credentials instead of showing the message.
    w.mirror.clear_rules();
    w.mirror.on(
        Match::Manifests,
        Answer::error(401, "UNAUTHORIZED", REASON)
            .with_header("WWW-Authenticate", "Basic realm=\"mirror\""),
    );
    w.clear();
    let pull = oras::pull(&w.at_mirror("test/app:v1"), OrasRoute::Direct);
    assert_refused(
        &w,
        &pull,
        "401 with a challenge",
        "basic credential not found",
        false,
    );
}

#[test]
fn containerd_shows_no_reason_for_a_refused_head_and_falls_back_from_a_host_entry() {
    if !require(Client::Containerd, "containerd refusals") {
        return;
    }
    let daemon = match Containerd::start() {
        Ok(d) => d,
        Err(reason) => return skip("containerd refusals", &reason),
    };
    let w = World::new("containerd refusals");
    let direct = daemon.pull(&w.name("test/app:v1"), &HostsToml::None);
    direct.expect_pulled();
    let server = HostsToml::Server {
        mirror: w.m().into(),
    };
    let host = HostsToml::Host {
        mirror: w.m().into(),
        upstream: w.up().into(),
    };
    for (what, answer) in refusals() {
        w.mirror.clear_rules();
        w.mirror.on(Match::Manifests, answer);
        w.clear();
        let pull = daemon.pull(&w.name("test/app:v1"), &server);
        // Resolution is a HEAD: no body, so no message, whatever the mirror wrote.
        let shows = match what {
            "403 DENIED" => "unexpected status from HEAD request to",
            "404 MANIFEST_UNKNOWN" => "/test/app:v1: not found",
            "401 UNAUTHORIZED" => ": 401 Unauthorized",
            "500 UNKNOWN" => ": 500 Internal Server Error",
            _ => "connection reset by peer",
        };
        assert_refused(&w, &pull, &format!("{what}, server"), shows, false);
        if what == "403 DENIED" {
            assert!(pull.stderr.contains(": 403 Forbidden"), "{}", pull.stderr);
        }
        let seen = w.mirror.requests();
        assert_eq!(seen.len(), 1, "{what}: {}", w.mirror.transcript());
        assert_eq!(seen[0].method, "HEAD");

        w.clear();
        let pull = daemon.pull(&w.name("test/app:v1"), &host);
        assert_fell_back(&w, &pull, &format!("{what}, host entry"), &direct);
    }

    // A refusal on GET (HEAD answered) reaches the user verbatim.
    w.mirror.clear_rules();
    w.mirror
        .on_method("GET", Match::Manifests, Answer::denied(REASON));
    w.clear();
    let pull = daemon.pull(&w.name("test/app:v1"), &server);
    assert_refused(
        &w,
        &pull,
        "GET 403, server",
        "403 Forbidden - Server message: denied: ",
        true,
    );

    // Blobs refused: a host entry falls back for them too; as the server, the message
    // is shown.
    w.mirror.clear_rules();
    w.mirror.on(Match::Blobs, Answer::denied(REASON));
    w.clear();
    let pull = daemon.pull(&w.name("test/app:v1"), &server);
    assert_refused(
        &w,
        &pull,
        "blob 403, server",
        "Server message: denied: ",
        true,
    );
    w.clear();
    let pull = daemon.pull(&w.name("test/app:v1"), &host);
    pull.expect_pulled();
    assert!(
        w.upstream.requests().iter().any(|r| r.kind == Kind::Blob),
        "blob 403, host entry: expected blobs from the upstream\n{}",
        w.evidence(&pull)
    );
}

#[test]
fn containerd_1_7_ignores_a_hosts_toml_without_a_host_table_and_pulls_around_the_mirror() {
    if !require(Client::Containerd, "containerd server-only hosts.toml") {
        return;
    }
    let daemon = match Containerd::start() {
        Ok(d) => d,
        Err(reason) => return skip("containerd server-only hosts.toml", &reason),
    };
    let w = World::new("containerd server only");
    w.mirror.on(Match::Any, Answer::denied(REASON));
    let pull = daemon.pull(
        &w.name("test/app:v1"),
        &HostsToml::Raw(format!("server = \"http://{}\"\n", w.m())),
    );
    pull.expect_pulled();
    assert!(
        pull.stderr.contains("failed to decode hosts.toml")
            && pull.stderr.contains("invalid `host` tree"),
        "{}",
        pull.stderr
    );
    assert!(w.mirror.requests().is_empty(), "{}", w.mirror.transcript());
    assert!(w.upstream_manifests() > 0);
}
