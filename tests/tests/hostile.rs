//! vouch against a hostile registry (tests/src/hostile.rs): wrong bytes, lying headers,
//! oversized and endless bodies, drips, bad JSON, duplicate keys, moving tags, redirects,
//! auth and error storms. Every hostile case must fail closed: a non-zero exit code (1 when
//! the content was read and is wrong, 3 when the registry could not be read properly), a
//! message that names the problem, never "VERIFIED", within a time bound, in bounded memory.
//! A few controls show the same server is a working registry when it behaves.
//!
//! Each case is a test named after it, under a libtest-mimic harness: `cargo test --test
//! hostile redirect/` runs the redirect cases, `-- --exact storm/403` one case. Cases run six
//! at a time (`--test-threads` changes that), each against its own repository on one shared
//! server, with its own scratch home. The table of every case run and the figures are
//! written to `target/hostile-report.txt`, and printed with `-- --nocapture`.
//! `HOSTILE_VERBOSE=1` prints each run's whole output, `HOSTILE_RSS=poll` measures peak RSS
//! by polling `/proc` instead of with GNU time.
//!
//! Exit codes expected, and why:
//! - 1: the registry answered and the answer is wrong (digest mismatch, too large, malformed,
//!   duplicate keys, wrong media type, a signature that does not verify or names another
//!   image): the image failed verification. `sign` has no such code: it reports any registry
//!   failure, wrong content included, as 3.
//! - 3: no usable answer (timeouts, redirect loops, auth and 5xx storms, broken HTTP).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use vouch_e2e::hostile::{Body, Ctx, Framing, Hostile, Logged, Reply, Repo, Req, Route};
use vouch_e2e::hostile::{base64, gzip_bomb};
use vouch_e2e::image::Blob;
use vouch_e2e::{TEST_PASSWORD, TestImage, TestIndex, vouch_bin, workspace_root};
use vouch_keys::{Algorithm, PrivateKey};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIG_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const MANIFEST_LIMIT: &str = "4194304-byte limit";
const LAYER_LIMIT: &str = "65536-byte limit";

/// Longest any one vouch run may take before it is killed and the case fails.
const BOUND: Duration = Duration::from_secs(150);
/// Largest peak RSS allowed for any one vouch run.
const MAX_RSS_KIB: u64 = 256 * 1024;
/// Cases run at once (most of them spend their time waiting on sockets).
const WORKERS: usize = 6;

/// Shared by every case: the server, the signing key, scratch space.
struct Env {
    server: Hostile,
    key: PrivateKey,
    public: PathBuf,
    private: PathBuf,
    other_key: PrivateKey,
    dir: tempfile::TempDir,
    config: Blob,
}

/// An image in a repository, signed once with the test key, tagged `v1`.
struct Fixture {
    repo: Arc<Repo>,
    image: TestImage,
    tag_ref: String,
    digest_ref: String,
    sig_tag: String,
    payload: Blob,
    layer: serde_json::Value,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = PrivateKey::generate(Algorithm::EcdsaP256);
        let other_key = PrivateKey::generate(Algorithm::EcdsaP256);
        let public = dir.path().join("trusted.pub");
        std::fs::write(&public, key.public_key().to_pem()).expect("write public key");
        let private = dir.path().join("trusted.key");
        std::fs::write(&private, key.to_encrypted_pem(TEST_PASSWORD.as_bytes()))
            .expect("write private key");
        let mut perms = std::fs::metadata(&private).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(&private, perms).expect("chmod 600");
        let config = Blob::new(
            br#"{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#
                .to_vec(),
        );
        Env {
            server: Hostile::start(),
            key,
            public,
            private,
            other_key,
            dir,
            config,
        }
    }

    fn host(&self) -> &str {
        self.server.host()
    }

    fn identity(&self, repo: &str) -> String {
        format!("{}/{repo}", self.host())
    }

    /// cosign's simple-signing payload, byte for byte as cosign writes it.
    fn payload(&self, identity: &str, digest: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{identity}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes()
    }

    /// A payload with a signed annotation: vouch cannot compute it, so it fetches the blob
    /// (the fixtures' default, so that hostile blob endpoints are reached at all).
    fn annotated_payload(&self, identity: &str, digest: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{identity}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":{{"fixture":"hostile"}}}}"#
        )
        .into_bytes()
    }

    /// A layer descriptor for `payload`, signed by `key`.
    fn layer_by(&self, key: &PrivateKey, payload: &Blob) -> serde_json::Value {
        serde_json::json!({
            "mediaType": SIMPLE_SIGNING,
            "digest": payload.digest,
            "size": payload.bytes.len(),
            "annotations": {SIG_ANNOTATION: base64(&key.sign(&payload.bytes))},
        })
    }

    fn layer(&self, payload: &Blob) -> serde_json::Value {
        self.layer_by(&self.key, payload)
    }

    /// A `.sig` manifest over `layers`.
    fn sig_manifest(&self, layers: &[serde_json::Value]) -> Vec<u8> {
        serde_json::to_vec(&self.sig_manifest_json(layers)).expect("JSON")
    }

    fn sig_manifest_json(&self, layers: &[serde_json::Value]) -> serde_json::Value {
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.config.digest, "size": self.config.bytes.len()},
            "layers": layers,
        })
    }

    /// A repository holding an image tagged `v1` and its valid `.sig`, whose payload carries
    /// an annotation (so verifying it fetches the signature blob).
    fn signed(&self, name: &str) -> Fixture {
        self.signed_with(name, Env::annotated_payload)
    }

    /// The same with the unannotated payload cosign and `vouch sign` write, which vouch
    /// computes instead of fetching.
    fn signed_plain(&self, name: &str) -> Fixture {
        self.signed_with(name, Env::payload)
    }

    fn signed_with(&self, name: &str, payload: fn(&Env, &str, &str) -> Vec<u8>) -> Fixture {
        let repo = self.server.repo(name);
        let image = TestImage::new(name);
        add_image(&repo, &image, Some("v1"));
        let payload = Blob::new(payload(self, &self.identity(name), image.digest()));
        let layer = self.layer(&payload);
        repo.put_blob(&payload);
        repo.put_blob(&self.config);
        let sig_tag = sig_tag(image.digest());
        repo.put_manifest(
            &sig_tag,
            OCI_MANIFEST,
            &self.sig_manifest(std::slice::from_ref(&layer)),
        );
        Fixture {
            tag_ref: format!("{}:v1", self.identity(name)),
            digest_ref: format!("{}@{}", self.identity(name), image.digest()),
            repo,
            image,
            sig_tag,
            payload,
            layer,
        }
    }
}

fn add_image(repo: &Repo, image: &TestImage, tag: Option<&str>) {
    repo.put_blob(&image.layer);
    repo.put_blob(&image.config);
    repo.put_manifest(
        tag.unwrap_or(image.digest()),
        OCI_MANIFEST,
        &image.manifest.bytes,
    );
}

fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

fn get_manifest(req: &Req, reference: &str) -> bool {
    req.method == "GET" && req.route == Route::Manifest(reference.to_string())
}

fn get_blob(req: &Req, digest: &str) -> bool {
    req.method == "GET" && req.route == Route::Blob(digest.to_string())
}

/// A repository with an unsigned image tagged `v1`; returns (repo, digest reference).
fn unsigned(env: &Env, name: &str) -> (Arc<Repo>, TestImage, String) {
    let repo = env.server.repo(name);
    let image = TestImage::new(name);
    add_image(&repo, &image, Some("v1"));
    let reference = format!("{}@{}", env.identity(name), image.digest());
    (repo, image, reference)
}

/// An empty referrers index page.
fn empty_referrers_page() -> Vec<u8> {
    format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#).into_bytes()
}

/// Answers requests matching `when` with `then`, everything else honestly.
fn intercept(
    repo: &Repo,
    when: impl Fn(&Req) -> bool + Send + Sync + 'static,
    then: impl Fn(&Req, &Ctx<'_>) -> Reply + Send + Sync + 'static,
) {
    repo.on(move |req, ctx| {
        if when(req) {
            then(req, ctx)
        } else {
            ctx.honest(req)
        }
    });
}

/// The honest reply with another body (and framing).
fn honest_with(req: &Req, ctx: &Ctx<'_>, body: Body, framing: Framing) -> Reply {
    ctx.honest(req).body(body).framing(framing)
}

/// Valid `.sig` JSON padded with an unknown top-level field to `size` bytes.
fn padded(json: &serde_json::Value, size: usize) -> Vec<u8> {
    let mut v = json.clone();
    v["padding"] = "".into();
    let base = serde_json::to_vec(&v).expect("JSON").len();
    v["padding"] = "x".repeat(size.saturating_sub(base)).into();
    serde_json::to_vec(&v).expect("JSON")
}

fn raw_status(status_and_headers: &str, then: Body) -> Reply {
    Reply::Raw {
        bytes: status_and_headers.as_bytes().to_vec(),
        then,
    }
}

fn drip(prefix: &[u8]) -> Body {
    Body::Drip {
        prefix: prefix.to_vec(),
        fill: b' ',
        every: Duration::from_secs(1),
    }
}

type Check = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What to run and what must come of it.
struct Plan {
    args: Vec<String>,
    envs: Vec<(String, String)>,
    expect: i32,
    needles: Vec<String>,
    forbidden: Vec<String>,
    /// Other acceptable (exit code, needle) outcomes besides `expect` and `needles`.
    alternatives: Vec<(i32, String)>,
    control: bool,
    checks: Vec<Check>,
}

impl Plan {
    fn verify(env: &Env, reference: &str) -> Plan {
        Plan::verify_with(reference, &env.public)
    }

    fn verify_with(reference: &str, key: &Path) -> Plan {
        Plan {
            args: vec![
                "--allow-insecure-registry".into(),
                "verify".into(),
                reference.into(),
                "--key".into(),
                key.display().to_string(),
            ],
            envs: Vec::new(),
            expect: 1,
            needles: Vec::new(),
            forbidden: Vec::new(),
            alternatives: Vec::new(),
            control: false,
            checks: Vec::new(),
        }
    }

    fn sign(env: &Env, reference: &str) -> Plan {
        Plan {
            args: vec![
                "--allow-insecure-registry".into(),
                "sign".into(),
                reference.into(),
                "--key".into(),
                env.private.display().to_string(),
            ],
            envs: vec![("VOUCH_PASSWORD".into(), TEST_PASSWORD.into())],
            expect: 3,
            needles: Vec::new(),
            forbidden: Vec::new(),
            alternatives: Vec::new(),
            control: false,
            checks: Vec::new(),
        }
    }

    fn arg(mut self, a: &str) -> Plan {
        self.args.push(a.into());
        self
    }

    fn code(mut self, code: i32) -> Plan {
        self.expect = code;
        self
    }

    /// Every needle must appear in stdout or stderr (case-insensitive).
    fn says(mut self, needle: &str) -> Plan {
        self.needles.push(needle.into());
        self
    }

    /// Accepts exit `code` with output saying `needle`; with alternatives, the outcome must
    /// match one of them (`expect` and `says` are then ignored).
    fn or(mut self, code: i32, needle: &str) -> Plan {
        self.alternatives.push((code, needle.into()));
        self
    }

    /// The output must not contain `text` (case-sensitive), e.g. a secret.
    fn never_says(mut self, text: &str) -> Plan {
        self.forbidden.push(text.into());
        self
    }

    fn control(mut self) -> Plan {
        self.control = true;
        self.expect = 0;
        self
    }

    fn check(mut self, f: impl Fn() -> Result<(), String> + Send + Sync + 'static) -> Plan {
        self.checks.push(Box::new(f));
        self
    }

    /// At most `max` requests of `repo` match `f`.
    fn at_most(
        self,
        repo: &Arc<Repo>,
        max: usize,
        what: &'static str,
        f: impl Fn(&Logged) -> bool + Send + Sync + 'static,
    ) -> Plan {
        let repo = repo.clone();
        self.check(move || {
            let n = repo.count(&f);
            if n <= max {
                Ok(())
            } else {
                Err(format!("{n} requests for {what}, expected at most {max}"))
            }
        })
    }

    /// No blob was fetched from `repo`.
    fn no_blob_fetched(self, repo: &Arc<Repo>) -> Plan {
        self.at_most(repo, 0, "blobs", |l| matches!(l.route, Route::Blob(_)))
    }

    /// Nothing was written to `repo`.
    fn nothing_written(self, repo: &Arc<Repo>) -> Plan {
        self.at_most(repo, 0, "writes (PUT/POST)", |l| {
            l.method == "PUT" || l.method == "POST"
        })
    }
}

type Case = (&'static str, fn(&Env, &str) -> Plan);

/// Every case: (name, setup). The name is also the repository the case lives in.
const CASES: &[Case] = &[
    // Controls: the server is a working registry when it behaves.
    ("control/honest-by-tag", |env, name| {
        let fx = env.signed(name);
        Plan::verify(env, &fx.tag_ref)
            .control()
            .says("VERIFIED")
            .says(fx.image.digest())
    }),
    ("control/honest-by-digest", |env, name| {
        let fx = env.signed(name);
        Plan::verify(env, &fx.digest_ref).control().says("VERIFIED")
    }),
    ("control/referrers-api-bundle-on-page-2", |env, name| {
        // A bundle-only image behind a paginating Referrers API: page 1 is empty and
        // links to page 2, which lists the bundle.
        let (repo, image, reference) = unsigned(env, name);
        let signed = Command::new(vouch_bin())
            .args([
                "--allow-insecure-registry",
                "sign",
                &reference,
                "--format",
                "bundle",
            ])
            .arg("--key")
            .arg(&env.private)
            .env("VOUCH_PASSWORD", TEST_PASSWORD)
            .output()
            .expect("run vouch sign");
        assert!(
            signed.status.success(),
            "{}",
            String::from_utf8_lossy(&signed.stderr)
        );
        let tag = image.digest().replace(':', "-");
        let (_, index) = repo.manifest(&tag).expect("referrers tag written by sign");
        let digest = image.digest().to_string();
        let repo_name = name.to_string();
        intercept(
            &repo,
            |req| matches!(req.route, Route::Referrers(_)),
            move |req, _| match req.query_param("last") {
                None => {
                    let to = format!("</v2/{repo_name}/referrers/{digest}?last=1>; rel=\"next\"");
                    Reply::bytes(200, OCI_INDEX, empty_referrers_page()).header("Link", &to)
                }
                Some(_) => Reply::bytes(200, OCI_INDEX, index.clone()),
            },
        );
        Plan::verify(env, &reference)
            .control()
            .says("VERIFIED")
            .says("bundle")
            // Two pages, plus the lookup `vouch sign` made before attaching the bundle.
            .at_most(&repo, 3, "referrers requests", |l| {
                matches!(l.route, Route::Referrers(_))
            })
    }),
    (
        "control/unannotated-payload-is-computed-not-fetched",
        |env, name| {
            // The payload's bytes follow from the digest and repository; the layer digest
            // proves them, so a broken blob endpoint is never asked.
            let fx = env.signed_plain(name);
            let d = fx.payload.digest.clone();
            intercept(
                &fx.repo,
                move |req| get_blob(req, &d),
                |_, _| Reply::error(500, "INTERNAL"),
            );
            Plan::verify(env, &fx.digest_ref)
                .control()
                .says("VERIFIED")
                .no_blob_fetched(&fx.repo)
        },
    ),
    (
        "control/bearer-token-and-blob-redirect-to-cdn-host",
        |env, name| {
            // A blob redirect to another host is normal (CDNs); the content is digest-checked,
            // and the token must not follow it there.
            let fx = env.signed(name);
            fx.repo.require_token("s3cret-token");
            let repo_name = name.to_string();
            fx.repo.on(move |req, ctx| {
                let honest = ctx.honest(req);
                match &req.route {
                    Route::Blob(d) if !req.via_other_host && honest.status() == 200 => {
                        let to = format!("http://{}/v2/{repo_name}/blobs/{d}", ctx.other_host());
                        Reply::redirect(307, &to)
                    }
                    _ => honest,
                }
            });
            let repo = fx.repo.clone();
            Plan::verify(env, &fx.tag_ref)
                .control()
                .says("VERIFIED")
                .check(move || {
                    let log = repo.requests();
                    let leaked = log
                        .iter()
                        .any(|l| l.via_other_host && l.authorization.is_some());
                    let cdn = log.iter().filter(|l| l.via_other_host).count();
                    let authed = log
                        .iter()
                        .any(|l| l.authorization.as_deref() == Some("Bearer s3cret-token"));
                    match (leaked, cdn, authed) {
                        (true, _, _) => Err("Authorization was sent to the other host".into()),
                        (_, 0, _) => Err("the blob was never fetched from the other host".into()),
                        (_, _, false) => Err("the token was never used".into()),
                        _ => Ok(()),
                    }
                })
        },
    ),
    ("control/tag-moves-after-resolve", |env, name| {
        // The tag first names the signed image, then an unsigned one: vouch judges, and
        // reports, the digest it resolved, and never asks for the tag again.
        let fx = env.signed(name);
        let evil = TestImage::new("evil, unsigned");
        add_image(&fx.repo, &evil, None);
        let evil_bytes = evil.manifest.bytes.clone();
        intercept(
            &fx.repo,
            |req| get_manifest(req, "v1"),
            move |req, ctx| {
                let honest = ctx.honest(req);
                if ctx.hits() == 1 {
                    honest
                } else {
                    let digest = Blob::new(evil_bytes.clone()).digest;
                    honest
                        .body(Body::Bytes(evil_bytes.clone()))
                        .header("Docker-Content-Digest", &digest)
                }
            },
        );
        Plan::verify(env, &fx.tag_ref)
            .control()
            .says(&format!("VERIFIED {}", fx.digest_ref))
            .at_most(&fx.repo, 1, "the tag", |l| {
                l.path.ends_with("/manifests/v1")
            })
    }),
    ("control/sign-honest", |env, name| {
        let fx = env.signed_plain(name);
        let repo = fx.repo.clone();
        let sig_tag = fx.sig_tag.clone();
        Plan::sign(env, &fx.tag_ref)
            .control()
            .says(&fx.digest_ref)
            .check(move || {
                // The key had already signed it: nothing new may be written.
                let (_, bytes) = repo.manifest(&sig_tag).ok_or("no .sig")?;
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                match v["layers"].as_array().map(Vec::len) {
                    Some(1) => Ok(()),
                    n => Err(format!(".sig has {n:?} layers, expected 1")),
                }
            })
    }),
    ("control/sign-new-signature-and-tag-moves", |env, name| {
        // Unsigned image; the tag moves to another image after resolve: the signature
        // written must name the first digest, under the first digest's .sig tag.
        let repo = env.server.repo(name);
        let image = TestImage::new(name);
        let evil = TestImage::new("moved-to");
        add_image(&repo, &image, Some("v1"));
        add_image(&repo, &evil, None);
        let evil_bytes = evil.manifest.bytes.clone();
        intercept(
            &repo,
            |req| get_manifest(req, "v1"),
            move |req, ctx| {
                if ctx.hits() == 1 {
                    ctx.honest(req)
                } else {
                    Reply::bytes(200, OCI_MANIFEST, evil_bytes.clone())
                }
            },
        );
        let check_repo = repo.clone();
        let good = image.digest().to_string();
        let bad = evil.digest().to_string();
        Plan::sign(env, &format!("{}:v1", env.identity(name)))
            .control()
            .says(image.digest())
            .check(move || {
                if check_repo.manifest(&sig_tag(&bad)).is_some() {
                    return Err("signed the digest the tag moved to".into());
                }
                let (_, bytes) = check_repo
                    .manifest(&sig_tag(&good))
                    .ok_or("no .sig for the resolved digest")?;
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                let payload_digest = v["layers"][0]["digest"].as_str().unwrap_or_default();
                let payload = check_repo
                    .blob(payload_digest)
                    .ok_or("payload not pushed")?;
                if String::from_utf8_lossy(&payload).contains(&good) {
                    Ok(())
                } else {
                    Err("payload does not name the resolved digest".into())
                }
            })
    }),
    // Tags, digests and lying headers.
    ("tag/docker-content-digest-lies", |env, name| {
        // The tag serves an unsigned image's bytes but claims the signed image's digest.
        let fx = env.signed(name);
        let evil = TestImage::new("evil");
        let evil_bytes = evil.manifest.bytes.clone();
        let claimed = fx.image.digest().to_string();
        intercept(
            &fx.repo,
            |req| get_manifest(req, "v1"),
            move |req, ctx| {
                ctx.honest(req)
                    .body(Body::Bytes(evil_bytes.clone()))
                    .header("Docker-Content-Digest", &claimed)
            },
        );
        Plan::verify(env, &fx.tag_ref)
            .says("Docker-Content-Digest")
            .says(evil.digest())
    }),
    ("tag/serves-an-unsigned-image", |env, name| {
        let fx = env.signed(name);
        let evil = TestImage::new("evil");
        let evil_bytes = evil.manifest.bytes.clone();
        intercept(
            &fx.repo,
            |req| get_manifest(req, "v1"),
            move |_, _| Reply::bytes(200, OCI_MANIFEST, evil_bytes.clone()),
        );
        Plan::verify(env, &fx.tag_ref)
            .says("no signatures")
            .says(evil.digest())
    }),
    ("tag/moves-between-resolve-and-sig-fetch", |env, name| {
        // First answer: an unsigned image. Every later answer: the signed one. A verifier
        // that asked again would verify the signed image while the deploy pulls the other.
        let fx = env.signed(name);
        let evil = TestImage::new("evil");
        add_image(&fx.repo, &evil, None);
        let evil_bytes = evil.manifest.bytes.clone();
        intercept(
            &fx.repo,
            |req| get_manifest(req, "v1"),
            move |req, ctx| {
                if ctx.hits() == 1 {
                    Reply::bytes(200, OCI_MANIFEST, evil_bytes.clone())
                } else {
                    ctx.honest(req)
                }
            },
        );
        let good_sig = fx.sig_tag.clone();
        Plan::verify(env, &fx.tag_ref)
            .says(&format!(
                "REFUSED  {}@{}",
                env.identity(name),
                evil.digest()
            ))
            .says("no signatures")
            .at_most(&fx.repo, 1, "the tag", |l| {
                l.path.ends_with("/manifests/v1")
            })
            .at_most(&fx.repo, 0, "the signed image's .sig", move |l| {
                l.path.ends_with(&good_sig)
            })
    }),
    ("sig/docker-content-digest-lies", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |req, ctx| {
                let other = Blob::new(b"something else".to_vec()).digest;
                ctx.honest(req).header("Docker-Content-Digest", &other)
            },
        );
        Plan::verify(env, &fx.tag_ref).says("Docker-Content-Digest")
    }),
    // Signature blobs.
    ("sig-blob/bytes-do-not-match-digest", |env, name| {
        let fx = env.signed(name);
        let d = fx.payload.digest.clone();
        let other = env.payload(&env.identity(name), &Blob::new(b"x".to_vec()).digest);
        intercept(
            &fx.repo,
            move |req| get_blob(req, &d),
            move |req, ctx| ctx.honest(req).body(Body::Bytes(other.clone())),
        );
        Plan::verify(env, &fx.tag_ref)
            .says("content digest is")
            .says(&fx.payload.digest)
    }),
    ("sig-blob/206-partial-content", |env, name| {
        let fx = env.signed(name);
        let d = fx.payload.digest.clone();
        let half = fx.payload.bytes[..fx.payload.bytes.len() / 2].to_vec();
        intercept(
            &fx.repo,
            move |req| get_blob(req, &d),
            move |_, _| Reply::bytes(206, "application/octet-stream", half.clone()),
        );
        Plan::verify(env, &fx.tag_ref).says("content digest is")
    }),
    ("sig-blob/empty-200", |env, name| {
        let fx = env.signed(name);
        let d = fx.payload.digest.clone();
        intercept(
            &fx.repo,
            move |req| get_blob(req, &d),
            |_, _| Reply::bytes(200, "application/octet-stream", Vec::new()),
        );
        Plan::verify(env, &fx.tag_ref).says("content digest is")
    }),
    ("sig-blob/missing-404", |env, name| {
        let fx = env.signed(name);
        let d = fx.payload.digest.clone();
        intercept(
            &fx.repo,
            move |req| get_blob(req, &d),
            |_, _| Reply::error(404, "BLOB_UNKNOWN"),
        );
        Plan::verify(env, &fx.tag_ref).says("not found")
    }),
    (
        "sig-blob/redirect-to-other-host-with-wrong-bytes",
        |env, name| {
            let fx = env.signed(name);
            let d = fx.payload.digest.clone();
            let other = env.payload(&env.identity(name), &Blob::new(b"y".to_vec()).digest);
            intercept(
                &fx.repo,
                move |req| get_blob(req, &d),
                move |req, ctx| {
                    if req.via_other_host {
                        Reply::bytes(200, "application/octet-stream", other.clone())
                    } else {
                        let to = format!("http://{}{}", ctx.other_host(), req.path);
                        Reply::redirect(307, &to)
                    }
                },
            );
            Plan::verify(env, &fx.tag_ref).says("content digest is")
        },
    ),
    // Signatures that are genuine but not for this image.
    ("sig/replayed-from-another-image", |env, name| {
        let fx = env.signed(name);
        let other = TestImage::new("another image");
        let payload = Blob::new(env.payload(&env.identity(name), other.digest()));
        fx.repo.put_blob(&payload);
        let manifest = env.sig_manifest(&[env.layer(&payload)]);
        fx.repo.put_manifest(&fx.sig_tag, OCI_MANIFEST, &manifest);
        Plan::verify(env, &fx.tag_ref).says("a signature of another image")
    }),
    ("sig/signed-for-another-repository", |env, name| {
        let fx = env.signed(name);
        let payload = Blob::new(env.payload(&env.identity("elsewhere"), fx.image.digest()));
        fx.repo.put_blob(&payload);
        let manifest = env.sig_manifest(&[env.layer(&payload)]);
        fx.repo.put_manifest(&fx.sig_tag, OCI_MANIFEST, &manifest);
        Plan::verify(env, &fx.tag_ref).says("signed for another repository")
    }),
    ("sig/signed-by-an-untrusted-key", |env, name| {
        let fx = env.signed(name);
        let manifest = env.sig_manifest(&[env.layer_by(&env.other_key, &fx.payload)]);
        fx.repo.put_manifest(&fx.sig_tag, OCI_MANIFEST, &manifest);
        Plan::verify(env, &fx.tag_ref).says("does not verify")
    }),
    // Sizes.
    ("size/sig-manifest-5mib-with-content-length", |env, name| {
        let fx = env.signed(name);
        let body = padded(
            &env.sig_manifest_json(std::slice::from_ref(&fx.layer)),
            5 << 20,
        );
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            move |req, ctx| honest_with(req, ctx, Body::Bytes(body.clone()), Framing::Exact),
        );
        Plan::verify(env, &fx.tag_ref).says(MANIFEST_LIMIT)
    }),
    ("size/sig-manifest-5mib-chunked", |env, name| {
        let fx = env.signed(name);
        let body = padded(
            &env.sig_manifest_json(std::slice::from_ref(&fx.layer)),
            5 << 20,
        );
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            move |req, ctx| honest_with(req, ctx, Body::Bytes(body.clone()), Framing::Chunked),
        );
        Plan::verify(env, &fx.tag_ref).says(MANIFEST_LIMIT)
    }),
    ("size/sig-manifest-5mib-until-close", |env, name| {
        let fx = env.signed(name);
        let body = padded(
            &env.sig_manifest_json(std::slice::from_ref(&fx.layer)),
            5 << 20,
        );
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            move |req, ctx| honest_with(req, ctx, Body::Bytes(body.clone()), Framing::UntilClose),
        );
        Plan::verify(env, &fx.tag_ref).says(MANIFEST_LIMIT)
    }),
    ("size/image-manifest-5mib-chunked", |env, name| {
        let fx = env.signed(name);
        let manifest: serde_json::Value =
            serde_json::from_slice(&fx.image.manifest.bytes).expect("JSON");
        let body = padded(&manifest, 5 << 20);
        intercept(
            &fx.repo,
            |req| get_manifest(req, "v1"),
            move |req, ctx| honest_with(req, ctx, Body::Bytes(body.clone()), Framing::Chunked),
        );
        Plan::verify(env, &fx.tag_ref).says(MANIFEST_LIMIT)
    }),
    ("size/annotation-10mib", |env, name| {
        let fx = env.signed(name);
        let mut layer = fx.layer.clone();
        layer["annotations"][SIG_ANNOTATION] = "A".repeat(10 << 20).into();
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, &env.sig_manifest(&[layer]));
        Plan::verify(env, &fx.tag_ref)
            .says(MANIFEST_LIMIT)
            .no_blob_fetched(&fx.repo)
    }),
    ("size/sig-layer-descriptor-claims-1gib", |env, name| {
        let fx = env.signed(name);
        let mut layer = fx.layer.clone();
        layer["size"] = (1u64 << 30).into();
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, &env.sig_manifest(&[layer]));
        Plan::verify(env, &fx.tag_ref)
            .says(LAYER_LIMIT)
            .no_blob_fetched(&fx.repo)
    }),
    ("size/sig-layer-body-10mib", |env, name| {
        let fx = env.signed(name);
        let d = fx.payload.digest.clone();
        intercept(
            &fx.repo,
            move |req| get_blob(req, &d),
            |req, ctx| {
                honest_with(
                    req,
                    ctx,
                    Body::Bytes(vec![b'{'; 10 << 20]),
                    Framing::Chunked,
                )
            },
        );
        Plan::verify(env, &fx.tag_ref).says(LAYER_LIMIT)
    }),
    ("size/sig-layer-64kib-plus-1-validly-signed", |env, name| {
        let fx = env.signed(name);
        let mut payload = env.payload(&env.identity(name), fx.image.digest());
        payload.pop();
        payload.resize(64 * 1024, b' ');
        payload.push(b'}');
        let payload = Blob::new(payload);
        assert_eq!(payload.bytes.len(), 64 * 1024 + 1);
        fx.repo.put_blob(&payload);
        fx.repo.put_manifest(
            &fx.sig_tag,
            OCI_MANIFEST,
            &env.sig_manifest(&[env.layer(&payload)]),
        );
        Plan::verify(env, &fx.tag_ref)
            .says(LAYER_LIMIT)
            .no_blob_fetched(&fx.repo)
    }),
    ("size/sig-blob-content-length-1gib", |env, name| {
        let fx = env.signed(name);
        let d = fx.payload.digest.clone();
        intercept(
            &fx.repo,
            move |req| get_blob(req, &d),
            |req, ctx| honest_with(req, ctx, Body::Silent, Framing::Declared(1 << 30)),
        );
        Plan::verify(env, &fx.tag_ref).says(LAYER_LIMIT)
    }),
    ("size/sig-manifest-100000-layers", |env, name| {
        let fx = env.signed(name);
        let layers = vec![fx.layer.clone(); 100_000];
        let body = env.sig_manifest(&layers);
        assert!(body.len() > 4 << 20);
        fx.repo.put_manifest(&fx.sig_tag, OCI_MANIFEST, &body);
        Plan::verify(env, &fx.tag_ref)
            .says(MANIFEST_LIMIT)
            .no_blob_fetched(&fx.repo)
    }),
    (
        "size/sig-manifest-100000-compact-layers-under-4mib",
        |env, name| {
            let fx = env.signed(name);
            let layers =
                vec![serde_json::json!({"mediaType": "", "digest": "", "size": 0}); 100_000];
            let body = env.sig_manifest(&layers);
            assert!(body.len() < 4 << 20, "{} bytes", body.len());
            fx.repo.put_manifest(&fx.sig_tag, OCI_MANIFEST, &body);
            Plan::verify(env, &fx.tag_ref)
                .says("100000 signature layers, more than the limit of 1000")
                .no_blob_fetched(&fx.repo)
        },
    ),
    ("size/sig-manifest-1001-layers", |env, name| {
        let fx = env.signed(name);
        let layers = vec![fx.layer.clone(); 1001];
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, &env.sig_manifest(&layers));
        Plan::verify(env, &fx.tag_ref)
            .says("1001 signature layers")
            .no_blob_fetched(&fx.repo)
    }),
    ("size/gzip-bomb-sig-manifest", |env, name| {
        // 256 MiB of zeros in ~1.7 MB of gzip, served with Content-Encoding: gzip. vouch
        // must not inflate it (reqwest is built without decompression): the bytes are
        // judged as they are, and are not JSON.
        let fx = env.signed(name);
        let bomb = gzip_bomb(256 << 20);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            move |req, ctx| {
                honest_with(req, ctx, Body::Bytes(bomb.clone()), Framing::Exact)
                    .header("Content-Encoding", "gzip")
                    .without_header("Docker-Content-Digest")
            },
        );
        Plan::verify(env, &fx.tag_ref).says("malformed manifest")
    }),
    // Bodies that never end, or end too slowly.
    ("endless/sig-manifest", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |req, ctx| honest_with(req, ctx, Body::Endless(b' '), Framing::Chunked),
        );
        Plan::verify(env, &fx.tag_ref).says(MANIFEST_LIMIT)
    }),
    ("endless/image-manifest-until-close", |env, name| {
        let fx = env.signed(name);
        intercept(
            &fx.repo,
            |req| get_manifest(req, "v1"),
            |req, ctx| honest_with(req, ctx, Body::Endless(b' '), Framing::UntilClose),
        );
        Plan::verify(env, &fx.tag_ref).says(MANIFEST_LIMIT)
    }),
    ("endless/sig-blob", |env, name| {
        let fx = env.signed(name);
        let d = fx.payload.digest.clone();
        intercept(
            &fx.repo,
            move |req| get_blob(req, &d),
            |req, ctx| honest_with(req, ctx, Body::Endless(b'{'), Framing::Chunked),
        );
        Plan::verify(env, &fx.tag_ref).says(LAYER_LIMIT)
    }),
    ("endless/error-body-403", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |_, _| Reply::error(403, "DENIED").body(Body::Endless(b'x')),
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("status 403 Forbidden")
    }),
    ("drip/sig-manifest-body-1-byte-per-second", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |req, ctx| honest_with(req, ctx, drip(b"{\"schemaVersion\":2,"), Framing::Chunked),
        );
        Plan::verify(env, &fx.tag_ref).code(3).says("timed out")
    }),
    (
        "drip/image-manifest-body-with-content-length",
        |env, name| {
            let fx = env.signed(name);
            let len = fx.image.manifest.bytes.len() as u64;
            intercept(
                &fx.repo,
                |req| get_manifest(req, "v1"),
                move |req, ctx| honest_with(req, ctx, drip(b"{"), Framing::Declared(len)),
            );
            Plan::verify(env, &fx.tag_ref).code(3).says("timed out")
        },
    ),
    ("drip/sig-blob-body", |env, name| {
        let fx = env.signed(name);
        let d = fx.payload.digest.clone();
        intercept(
            &fx.repo,
            move |req| get_blob(req, &d),
            |req, ctx| honest_with(req, ctx, drip(b"{"), Framing::Chunked),
        );
        Plan::verify(env, &fx.tag_ref).code(3).says("timed out")
    }),
    ("drip/response-headers", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |_, _| raw_status("HTTP/1.1 200 OK\r\nX-Slow: ", drip(b"")),
        );
        Plan::verify(env, &fx.tag_ref).code(3).says("timed out")
    }),
    ("drip/silent-after-accept", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |_, _| raw_status("", Body::Silent),
        );
        Plan::verify(env, &fx.tag_ref).code(3).says("timed out")
    }),
    // Bad JSON and media types.
    ("json/sig-manifest-invalid", |env, name| {
        let fx = env.signed(name);
        fx.repo.put_manifest(
            &fx.sig_tag,
            OCI_MANIFEST,
            b"{\"schemaVersion\":2,\"layers\":[",
        );
        Plan::verify(env, &fx.tag_ref).says("malformed manifest")
    }),
    ("json/image-manifest-invalid", |env, name| {
        let fx = env.signed(name);
        fx.repo.put_manifest("v1", OCI_MANIFEST, b"not json at all");
        Plan::verify(env, &fx.tag_ref).says("malformed manifest")
    }),
    ("json/sig-manifest-binary-garbage", |env, name| {
        let fx = env.signed(name);
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 151 % 256) as u8).collect();
        fx.repo.put_manifest(&fx.sig_tag, OCI_MANIFEST, &garbage);
        Plan::verify(env, &fx.tag_ref).says("malformed manifest")
    }),
    ("json/sig-manifest-1m-deep-nesting", |env, name| {
        let fx = env.signed(name);
        let mut body = b"{\"schemaVersion\":2,\"x\":".to_vec();
        body.extend(std::iter::repeat_n(b'[', 1_000_000));
        fx.repo.put_manifest(&fx.sig_tag, OCI_MANIFEST, &body);
        Plan::verify(env, &fx.tag_ref).says("malformed manifest")
    }),
    ("json/sig-manifest-schema-version-1", |env, name| {
        let fx = env.signed(name);
        let mut v = env.sig_manifest_json(std::slice::from_ref(&fx.layer));
        v["schemaVersion"] = 1.into();
        fx.repo.put_manifest(
            &fx.sig_tag,
            OCI_MANIFEST,
            &serde_json::to_vec(&v).expect("JSON"),
        );
        Plan::verify(env, &fx.tag_ref).says("schemaVersion 1")
    }),
    ("media-type/sig-served-as-index", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |req, ctx| ctx.honest(req).header("Content-Type", OCI_INDEX),
        );
        Plan::verify(env, &fx.tag_ref).says("but was served as")
    }),
    ("media-type/image-served-as-docker-list", |env, name| {
        let fx = env.signed(name);
        intercept(
            &fx.repo,
            |req| get_manifest(req, "v1"),
            |req, ctx| ctx.honest(req).header("Content-Type", DOCKER_LIST),
        );
        Plan::verify(env, &fx.tag_ref).says("but was served as")
    }),
    ("media-type/sig-unsupported-schema1", |env, name| {
        let fx = env.signed(name);
        let mt = "application/vnd.docker.distribution.manifest.v1+prettyjws";
        let mut v = env.sig_manifest_json(std::slice::from_ref(&fx.layer));
        v["mediaType"] = mt.into();
        fx.repo
            .put_manifest(&fx.sig_tag, mt, &serde_json::to_vec(&v).expect("JSON"));
        Plan::verify(env, &fx.tag_ref).says("unsupported manifest media type")
    }),
    ("media-type/sig-is-an-index", |env, name| {
        let fx = env.signed(name);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": fx.image.digest(), "size": fx.image.manifest.bytes.len()}],
        });
        fx.repo.put_manifest(
            &fx.sig_tag,
            OCI_INDEX,
            &serde_json::to_vec(&index).expect("JSON"),
        );
        Plan::verify(env, &fx.tag_ref).says("an index where an image manifest was expected")
    }),
    // Duplicate keys: one document, two readings. Refused wherever they occur.
    ("dup-keys/sig-layers-empty-then-valid", |env, name| {
        let fx = env.signed(name);
        let body = dup_layers(
            env,
            "[]",
            &serde_json::to_string(&[&fx.layer]).expect("JSON"),
        );
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, body.as_bytes());
        Plan::verify(env, &fx.tag_ref).says("duplicate field")
    }),
    ("dup-keys/sig-layers-valid-then-empty", |env, name| {
        let fx = env.signed(name);
        let body = dup_layers(
            env,
            &serde_json::to_string(&[&fx.layer]).expect("JSON"),
            "[]",
        );
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, body.as_bytes());
        Plan::verify(env, &fx.tag_ref).says("duplicate field")
    }),
    ("dup-keys/sig-media-type", |env, name| {
        let fx = env.signed(name);
        let layers = serde_json::to_string(&[&fx.layer]).expect("JSON");
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","mediaType":"{OCI_MANIFEST}","config":{},"layers":{layers}}}"#,
            config_json(env)
        );
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, body.as_bytes());
        Plan::verify(env, &fx.tag_ref).says("duplicate field")
    }),
    ("dup-keys/sig-layer-digest", |env, name| {
        let fx = env.signed(name);
        let layer = format!(
            r#"{{"mediaType":"{SIMPLE_SIGNING}","digest":"{}","digest":"{}","size":{},"annotations":{}}}"#,
            Blob::new(b"other".to_vec()).digest,
            fx.payload.digest,
            fx.payload.bytes.len(),
            fx.layer["annotations"]
        );
        let body = dup_layers(env, &format!("[{layer}]"), "");
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, body.as_bytes());
        Plan::verify(env, &fx.tag_ref).says("duplicate field")
    }),
    ("dup-keys/sig-signature-annotation", |env, name| {
        // Two signature annotations: the first garbage, the last valid. A reader that keeps
        // the last verifies; one that keeps the first does not. Refuse the document.
        let fx = env.signed(name);
        let valid = fx.layer["annotations"][SIG_ANNOTATION]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let layer = format!(
            r#"{{"mediaType":"{SIMPLE_SIGNING}","digest":"{}","size":{},"annotations":{{"{SIG_ANNOTATION}":"AAAA","{SIG_ANNOTATION}":"{valid}"}}}}"#,
            fx.payload.digest,
            fx.payload.bytes.len(),
        );
        let body = dup_layers(env, &format!("[{layer}]"), "");
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, body.as_bytes());
        Plan::verify(env, &fx.tag_ref).says("duplicate")
    }),
    ("dup-keys/payload-optional", |env, name| {
        let fx = env.signed(name);
        let payload = String::from_utf8(env.payload(&env.identity(name), fx.image.digest()))
            .expect("utf8")
            .replace(
                r#""optional":null"#,
                r#""optional":{"env":"prod","env":"dev"}"#,
            );
        let payload = Blob::new(payload.into_bytes());
        fx.repo.put_blob(&payload);
        fx.repo.put_manifest(
            &fx.sig_tag,
            OCI_MANIFEST,
            &env.sig_manifest(&[env.layer(&payload)]),
        );
        Plan::verify(env, &fx.tag_ref)
            .arg("-a")
            .arg("env=prod")
            .says("duplicate key")
    }),
    ("dup-keys/payload-critical", |env, name| {
        // The first `critical` names another image, the last names this one.
        let fx = env.signed(name);
        let mine =
            String::from_utf8(env.payload(&env.identity(name), fx.image.digest())).expect("utf8");
        let theirs =
            String::from_utf8(env.payload(&env.identity(name), &Blob::new(b"z".to_vec()).digest))
                .expect("utf8");
        let critical = |p: &str| {
            p.trim_start_matches("{\"critical\":")
                .trim_end_matches(",\"optional\":null}")
                .to_string()
        };
        let payload = format!(
            r#"{{"critical":{},"critical":{},"optional":null}}"#,
            critical(&theirs),
            critical(&mine)
        );
        let payload = Blob::new(payload.into_bytes());
        fx.repo.put_blob(&payload);
        fx.repo.put_manifest(
            &fx.sig_tag,
            OCI_MANIFEST,
            &env.sig_manifest(&[env.layer(&payload)]),
        );
        Plan::verify(env, &fx.tag_ref).says("duplicate field")
    }),
    ("payload/trailing-data-after-the-json", |env, name| {
        let fx = env.signed(name);
        let mut payload = env.payload(&env.identity(name), fx.image.digest());
        payload.extend_from_slice(b"{\"critical\":{}}");
        let payload = Blob::new(payload);
        fx.repo.put_blob(&payload);
        fx.repo.put_manifest(
            &fx.sig_tag,
            OCI_MANIFEST,
            &env.sig_manifest(&[env.layer(&payload)]),
        );
        Plan::verify(env, &fx.tag_ref).says("trailing characters")
    }),
    ("payload/uppercase-digest", |env, name| {
        // Same hash, other spelling: cosign compares strings and would refuse it; so does vouch.
        let fx = env.signed(name);
        let upper = fx
            .image
            .digest()
            .to_uppercase()
            .replace("SHA256:", "sha256:");
        let payload = Blob::new(env.payload(&env.identity(name), &upper));
        fx.repo.put_blob(&payload);
        fx.repo.put_manifest(
            &fx.sig_tag,
            OCI_MANIFEST,
            &env.sig_manifest(&[env.layer(&payload)]),
        );
        Plan::verify(env, &fx.tag_ref).says("is not a sha256 digest")
    }),
    ("payload/wrong-critical-type", |env, name| {
        let fx = env.signed(name);
        let payload = String::from_utf8(env.payload(&env.identity(name), fx.image.digest()))
            .expect("utf8")
            .replace(
                "cosign container image signature",
                "atomic container signature",
            );
        let payload = Blob::new(payload.into_bytes());
        fx.repo.put_blob(&payload);
        fx.repo.put_manifest(
            &fx.sig_tag,
            OCI_MANIFEST,
            &env.sig_manifest(&[env.layer(&payload)]),
        );
        Plan::verify(env, &fx.tag_ref).says("payload type is \"atomic container signature\"")
    }),
    ("sig-blob/descriptor-understates-size", |env, name| {
        let fx = env.signed(name);
        let mut layer = fx.layer.clone();
        layer["size"] = 10.into();
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, &env.sig_manifest(&[layer]));
        Plan::verify(env, &fx.tag_ref).says("but the manifest says 10")
    }),
    ("json/sig-layer-size-negative", |env, name| {
        let fx = env.signed(name);
        let mut layer = fx.layer.clone();
        layer["size"] = (-1).into();
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, &env.sig_manifest(&[layer]));
        Plan::verify(env, &fx.tag_ref).says("malformed manifest")
    }),
    ("size/tag-is-an-index-with-100000-children", |env, name| {
        let fx = env.signed(name);
        let child = serde_json::json!({"mediaType": "", "digest": "", "size": 0});
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": vec![child; 100_000],
        });
        let body = serde_json::to_vec(&index).expect("JSON");
        assert!(body.len() < 4 << 20);
        fx.repo.put_manifest("v1", OCI_INDEX, &body);
        Plan::verify(env, &fx.tag_ref).says("100000 index children, more than the limit of 1000")
    }),
    // Descriptor digests.
    ("digest/sig-layer-sha512", |env, name| {
        let fx = env.signed(name);
        let mut layer = fx.layer.clone();
        layer["digest"] = format!("sha512:{}", "ab".repeat(64)).into();
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, &env.sig_manifest(&[layer]));
        Plan::verify(env, &fx.tag_ref)
            .says("not a sha256 digest")
            .no_blob_fetched(&fx.repo)
    }),
    ("digest/sig-layer-path-traversal", |env, name| {
        let fx = env.signed(name);
        let mut layer = fx.layer.clone();
        layer["digest"] = "sha256:../../../token/x".into();
        fx.repo
            .put_manifest(&fx.sig_tag, OCI_MANIFEST, &env.sig_manifest(&[layer]));
        Plan::verify(env, &fx.tag_ref)
            .says("not a sha256 digest")
            .no_blob_fetched(&fx.repo)
    }),
    // Redirects.
    ("redirect/loop-on-sig-blob", |env, name| {
        let fx = env.signed(name);
        let d = fx.payload.digest.clone();
        intercept(
            &fx.repo,
            move |req| get_blob(req, &d),
            |req, ctx| Reply::redirect(302, &format!("{}?n={}", req.path, ctx.hits())),
        );
        Plan::verify(env, &fx.tag_ref).code(3).says("redirects")
    }),
    ("redirect/loop-on-sig-manifest-to-itself", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |req, _| Reply::redirect(307, &req.path),
        );
        Plan::verify(env, &fx.tag_ref).code(3).says("redirects")
    }),
    ("redirect/ping-pong-between-hosts", |env, name| {
        let fx = env.signed(name);
        intercept(
            &fx.repo,
            |req| get_manifest(req, "v1"),
            |req, ctx| {
                let to = if req.via_other_host {
                    ctx.host()
                } else {
                    ctx.other_host()
                };
                Reply::redirect(302, &format!("http://{to}{}", req.path))
            },
        );
        Plan::verify(env, &fx.tag_ref).code(3).says("redirects")
    }),
    (
        "redirect/signed-cdn-url-not-leaked-when-the-cdn-fails",
        |env, name| {
            // Blob URLs on CDNs carry short-lived credentials in the query (presigned URLs);
            // when the CDN then fails, the error must not print them.
            let fx = env.signed(name);
            let d = fx.payload.digest.clone();
            intercept(
                &fx.repo,
                move |req| get_blob(req, &d),
                |req, ctx| {
                    if req.via_other_host {
                        raw_status("SSH-2.0-OpenSSH_9.6\r\n", Body::Bytes(Vec::new()))
                    } else {
                        let to = format!(
                            "http://{}{}?X-Amz-Signature=s3cr3t-presigned&X-Amz-Credential=AKIDEXAMPLE",
                            ctx.other_host(),
                            req.path
                        );
                        Reply::redirect(307, &to)
                    }
                },
            );
            Plan::verify(env, &fx.tag_ref)
                .code(3)
                .says("invalid HTTP version parsed")
                .never_says("s3cr3t-presigned")
                .never_says("AKIDEXAMPLE")
        },
    ),
    ("redirect/to-a-file-url", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |_, _| Reply::redirect(302, "file:///etc/passwd"),
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("file URL refused")
    }),
    // Auth and error storms.
    ("storm/401-and-token-endpoint-401", |env, name| {
        let fx = env.signed(name);
        let repo_name = name.to_string();
        fx.repo.on(move |_, ctx| {
            let challenge = format!(
                r#"Bearer realm="http://{}/token/{repo_name}",service="hostile""#,
                ctx.host()
            );
            Reply::error(401, "UNAUTHORIZED").header("WWW-Authenticate", &challenge)
        });
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("token service refused")
            .at_most(&fx.repo, 10, "anything", |_| true)
    }),
    ("storm/401-even-with-a-token", |env, name| {
        let fx = env.signed(name);
        fx.repo.require_token("t0ken");
        let repo_name = name.to_string();
        fx.repo.on(move |req, ctx| {
            if req.route == Route::Token {
                return ctx.honest(req);
            }
            let challenge = format!(
                r#"Bearer realm="http://{}/token/{repo_name}",service="hostile""#,
                ctx.host()
            );
            Reply::error(401, "UNAUTHORIZED").header("WWW-Authenticate", &challenge)
        });
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("401 Unauthorized: the registry needs credentials")
            .at_most(&fx.repo, 10, "anything", |_| true)
    }),
    ("storm/401-without-a-challenge", |env, name| {
        let fx = env.signed(name);
        fx.repo.on(|_, _| Reply::error(401, "UNAUTHORIZED"));
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("WWW-Authenticate")
            .at_most(&fx.repo, 10, "anything", |_| true)
    }),
    ("storm/403", |env, name| {
        let fx = env.signed(name);
        fx.repo.on(|_, _| Reply::error(403, "DENIED"));
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("status 403 Forbidden")
            .at_most(&fx.repo, 10, "anything", |_| true)
    }),
    ("storm/500", |env, name| {
        let fx = env.signed(name);
        fx.repo.on(|_, _| Reply::error(500, "INTERNAL"));
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("status 500 Internal Server Error (gave up after 5 attempts)")
            .at_most(&fx.repo, 10, "anything", |_| true)
    }),
    ("storm/500-on-the-sig-blob-only", |env, name| {
        let fx = env.signed(name);
        let d = fx.payload.digest.clone();
        intercept(
            &fx.repo,
            move |req| get_blob(req, &d),
            |_, _| Reply::error(500, "INTERNAL"),
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("status 500 Internal Server Error (gave up after 5 attempts)")
    }),
    ("storm/429-retry-after-one-hour", |env, name| {
        let fx = env.signed(name);
        fx.repo
            .on(|_, _| Reply::error(429, "TOOMANYREQUESTS").header("Retry-After", "3600"));
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("retry after 3600")
    }),
    ("storm/503-retry-after-a-far-date", |env, name| {
        let fx = env.signed(name);
        fx.repo.on(|_, _| {
            Reply::error(503, "UNAVAILABLE").header("Retry-After", "Fri, 31 Dec 2100 23:59:59 GMT")
        });
        Plan::verify(env, &fx.tag_ref).code(3).says("retry after")
    }),
    ("storm/503-retry-after-59s-every-time", |env, name| {
        // Each wait is under vouch's 60 s cap; the retries must not add up to minutes.
        let fx = env.signed(name);
        fx.repo
            .on(|_, _| Reply::error(503, "UNAVAILABLE").header("Retry-After", "59"));
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("status 503 Service Unavailable")
            .at_most(&fx.repo, 2, "tag requests", |l| {
                l.path.ends_with("/manifests/v1")
            })
    }),
    ("storm/token-endpoint-endless-body", |env, name| {
        let fx = env.signed(name);
        fx.repo.require_token("t0ken");
        intercept(
            &fx.repo,
            |req| req.route == Route::Token,
            |_, _| {
                Reply::bytes(200, "application/json", Vec::new())
                    .body(Body::Endless(b' '))
                    .framing(Framing::Chunked)
            },
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("GET token")
            .says("larger than allowed")
    }),
    ("storm/token-endpoint-drips", |env, name| {
        let fx = env.signed(name);
        fx.repo.require_token("t0ken");
        intercept(
            &fx.repo,
            |req| req.route == Route::Token,
            |_, _| {
                Reply::bytes(200, "application/json", Vec::new())
                    .body(drip(b"{\"token\":\""))
                    .framing(Framing::Chunked)
            },
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("GET token")
            .says("timed out")
    }),
    ("storm/token-realm-is-a-file-url", |env, name| {
        let fx = env.signed(name);
        fx.repo.on(|_, _| {
            Reply::error(401, "UNAUTHORIZED").header(
                "WWW-Authenticate",
                r#"Bearer realm="file:///etc/passwd",service="x""#,
            )
        });
        Plan::verify(env, &fx.tag_ref).code(3).says("GET token")
    }),
    ("storm/token-with-a-newline", |env, name| {
        // A token that cannot be a header value must not be sent (or split into headers).
        let fx = env.signed(name);
        fx.repo.require_token("abc\\r\\nX-Injected: 1");
        let repo = fx.repo.clone();
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("401 Unauthorized")
            .check(move || {
                if repo.count(|l| {
                    l.authorization
                        .as_deref()
                        .is_some_and(|a| a.contains("abc"))
                }) > 0
                {
                    Err("the token was sent".into())
                } else {
                    Ok(())
                }
            })
    }),
    // Broken HTTP.
    ("http/body-shorter-than-content-length", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |req, ctx| {
                let honest = ctx.honest(req);
                let len = honest.body_bytes().len() as u64 + 1000;
                honest.framing(Framing::Declared(len))
            },
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("end of file before message length reached")
    }),
    ("http/content-length-overflows-u64", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |_, _| {
                raw_status(
                    "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                    Body::Bytes(b"{}".to_vec()),
                )
            },
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("invalid content-length parsed")
    }),
    ("http/two-different-content-lengths", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |_, _| {
                raw_status(
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 200\r\n\r\n",
                    Body::Bytes(b"{}".to_vec()),
                )
            },
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("invalid content-length parsed")
    }),
    ("http/endless-header-line", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |_, _| raw_status("HTTP/1.1 200 OK\r\nX-Flood: ", Body::Endless(b'a')),
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("message head is too large")
    }),
    ("http/not-http-at-all", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |_, _| raw_status("SSH-2.0-OpenSSH_9.6\r\n", Body::Bytes(Vec::new())),
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("invalid HTTP version parsed")
    }),
    ("http/garbage-status-code", |env, name| {
        let fx = env.signed(name);
        let sig = fx.sig_tag.clone();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &sig),
            |_, _| raw_status("HTTP/1.1 999999 NOPE\r\n\r\n", Body::Bytes(Vec::new())),
        );
        Plan::verify(env, &fx.tag_ref)
            .code(3)
            .says("invalid HTTP status-code parsed")
    }),
    // The Referrers API (vouch also looks there for Sigstore bundles: for a signed image, only
    // with --all-signatures, since its `.sig` signature already passes).
    ("referrers/endless-index", |env, name| {
        let fx = env.signed(name);
        intercept(
            &fx.repo,
            |req| matches!(req.route, Route::Referrers(_)),
            |_, _| {
                Reply::bytes(200, OCI_INDEX, Vec::new())
                    .body(Body::Endless(b' '))
                    .framing(Framing::Chunked)
            },
        );
        Plan::verify(env, &fx.tag_ref)
            .arg("--all-signatures")
            .says("referrers")
            .says(MANIFEST_LIMIT)
    }),
    (
        "referrers/index-with-100000-entries-and-no-sig",
        |env, name| {
            let fx = env.signed(name);
            let sig = fx.sig_tag.clone();
            let entry = serde_json::json!({"mediaType": "", "digest": "", "size": 0});
            let index = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": vec![entry; 100_000],
            });
            let body = serde_json::to_vec(&index).expect("JSON");
            assert!(body.len() < 4 << 20);
            intercept(
                &fx.repo,
                move |req| matches!(req.route, Route::Referrers(_)) || get_manifest(req, &sig),
                move |req, _| {
                    if matches!(req.route, Route::Referrers(_)) {
                        Reply::bytes(200, OCI_INDEX, body.clone())
                    } else {
                        Reply::error(404, "MANIFEST_UNKNOWN")
                    }
                },
            );
            Plan::verify(env, &fx.tag_ref).says("100000 referrers, more than the limit of 1000")
        },
    ),
    (
        "referrers/entry-bytes-do-not-match-and-no-sig",
        |env, name| {
            // The index lists a bundle manifest; fetched by its digest, other bytes come back.
            let fx = env.signed(name);
            let sig = fx.sig_tag.clone();
            let listed = Blob::new(b"{\"schemaVersion\":2}".to_vec());
            let index = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [{
                    "mediaType": OCI_MANIFEST,
                    "digest": listed.digest,
                    "size": listed.bytes.len(),
                    "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                }],
            });
            let body = serde_json::to_vec(&index).expect("JSON");
            let wrong_for = listed.digest.clone();
            intercept(
                &fx.repo,
                move |req| {
                    matches!(req.route, Route::Referrers(_))
                        || get_manifest(req, &sig)
                        || get_manifest(req, &wrong_for)
                },
                move |req, _| match &req.route {
                    Route::Referrers(_) => Reply::bytes(200, OCI_INDEX, body.clone()),
                    Route::Manifest(r) if r.starts_with("sha256:") => {
                        Reply::bytes(200, OCI_MANIFEST, b"{\"schemaVersion\":2,\"x\":1}".to_vec())
                    }
                    _ => Reply::error(404, "MANIFEST_UNKNOWN"),
                },
            );
            Plan::verify(env, &fx.tag_ref).says("content digest is")
        },
    ),
    ("referrers/next-page-on-another-host", |env, name| {
        // No `.sig`, so the referrers are read; page 1 sends vouch to another host.
        let (repo, image, reference) = unsigned(env, name);
        let digest = image.digest().to_string();
        let repo_name = name.to_string();
        intercept(
            &repo,
            |req| matches!(req.route, Route::Referrers(_)),
            move |_, ctx| {
                let to = format!(
                    "<http://{}/v2/{repo_name}/referrers/{digest}?last=1>; rel=\"next\"",
                    ctx.other_host()
                );
                Reply::bytes(200, OCI_INDEX, empty_referrers_page()).header("Link", &to)
            },
        );
        Plan::verify(env, &reference)
            .code(3)
            .says("next page of referrers")
            .says("not followed")
            .check(move || {
                let strays = repo.count(|l| l.via_other_host);
                if strays == 0 {
                    Ok(())
                } else {
                    Err(format!("{strays} requests went to the other host"))
                }
            })
    }),
    ("referrers/endless-pagination", |env, name| {
        let (repo, image, reference) = unsigned(env, name);
        let digest = image.digest().to_string();
        let repo_name = name.to_string();
        intercept(
            &repo,
            |req| matches!(req.route, Route::Referrers(_)),
            move |req, _| {
                let page: u64 = req
                    .query_param("last")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                let to = format!(
                    "</v2/{repo_name}/referrers/{digest}?last={}>; rel=\"next\"",
                    page + 1
                );
                Reply::bytes(200, OCI_INDEX, empty_referrers_page()).header("Link", &to)
            },
        );
        Plan::verify(env, &reference)
            .code(3)
            .says("more than 16 pages of referrers")
            .at_most(&repo, 16, "referrers pages", |l| {
                matches!(l.route, Route::Referrers(_))
            })
    }),
    ("referrers/500-storm", |env, name| {
        let fx = env.signed(name);
        intercept(
            &fx.repo,
            |req| matches!(req.route, Route::Referrers(_)),
            |_, _| Reply::error(500, "INTERNAL"),
        );
        Plan::verify(env, &fx.tag_ref)
            .arg("--all-signatures")
            .code(3)
            .says("status 500 Internal Server Error (gave up after 5 attempts)")
    }),
    ("referrers/drip", |env, name| {
        let fx = env.signed(name);
        intercept(
            &fx.repo,
            |req| matches!(req.route, Route::Referrers(_)),
            |_, _| {
                Reply::bytes(200, OCI_INDEX, Vec::new())
                    .body(drip(b"{"))
                    .framing(Framing::Chunked)
            },
        );
        Plan::verify(env, &fx.tag_ref)
            .arg("--all-signatures")
            .code(3)
            .says("timed out")
    }),
    // Many layers.
    ("many/1000-distinct-layers-none-verifies", |env, name| {
        // At the layer limit, 1,000 different payloads fetched and judged.
        let fx = env.signed(name);
        distinct_bogus_layers(env, &fx, 1000);
        Plan::verify(env, &fx.tag_ref)
            .says("signature 1000: rejected")
            .says("does not verify")
    }),
    (
        "many/1000-distinct-layers-each-blob-answers-after-2s",
        |env, name| {
            // Each request is well within the timeout; one after another they are not. Fetched
            // concurrently they end in seconds; fetched in turn, the 120 s signature deadline
            // ends them. Either way: refused or error, never verified, bounded.
            let fx = env.signed(name);
            let digests = distinct_bogus_layers(env, &fx, 1000);
            intercept(
                &fx.repo,
                move |req| matches!(&req.route, Route::Blob(d) if digests.contains(d)),
                |req, ctx| {
                    std::thread::sleep(Duration::from_secs(2));
                    ctx.honest(req)
                },
            );
            Plan::verify(env, &fx.tag_ref)
                .or(1, "signature 1000: rejected")
                .or(3, "not done after 120 s")
        },
    ),
    // Signing against a hostile registry: nothing may be signed or written.
    ("sign/docker-content-digest-lies", |env, name| {
        let fx = env.signed(name);
        let evil = TestImage::new("evil");
        let evil_bytes = evil.manifest.bytes.clone();
        let claimed = fx.image.digest().to_string();
        intercept(
            &fx.repo,
            |req| get_manifest(req, "v1"),
            move |req, ctx| {
                ctx.honest(req)
                    .body(Body::Bytes(evil_bytes.clone()))
                    .header("Docker-Content-Digest", &claimed)
            },
        );
        Plan::sign(env, &fx.tag_ref)
            .says("Docker-Content-Digest")
            .nothing_written(&fx.repo)
    }),
    ("sign/by-digest-bytes-do-not-match", |env, name| {
        let fx = env.signed(name);
        let evil = TestImage::new("evil");
        let evil_bytes = evil.manifest.bytes.clone();
        let d = fx.image.digest().to_string();
        intercept(
            &fx.repo,
            move |req| get_manifest(req, &d),
            move |_, _| Reply::bytes(200, OCI_MANIFEST, evil_bytes.clone()),
        );
        Plan::sign(env, &fx.digest_ref)
            .says("content digest is")
            .nothing_written(&fx.repo)
    }),
    (
        "sign/recursive-index-child-bytes-do-not-match",
        |env, name| {
            let repo = env.server.repo(name);
            let index = TestIndex::new(name);
            for (_, child) in &index.children {
                add_image(&repo, child, None);
            }
            repo.put_manifest("v1", OCI_INDEX, &index.index.bytes);
            let child = index.children[1].1.digest().to_string();
            let evil = TestImage::new("evil").manifest.bytes;
            intercept(
                &repo,
                move |req| get_manifest(req, &child),
                move |_, _| Reply::bytes(200, OCI_MANIFEST, evil.clone()),
            );
            Plan::sign(env, &format!("{}:v1", env.identity(name)))
                .arg("--recursive")
                .says("content digest is")
                .nothing_written(&repo)
        },
    ),
    ("sign/existing-sig-is-garbage", |env, name| {
        // Someone's .sig cannot be read: vouch must not replace it (and lose their layers).
        let fx = env.signed(name);
        let image = TestImage::new("fresh");
        add_image(&fx.repo, &image, Some("fresh"));
        fx.repo
            .put_manifest(&sig_tag(image.digest()), OCI_MANIFEST, b"{\"layers\":[{");
        Plan::sign(env, &format!("{}:fresh", env.identity(name)))
            .says("malformed manifest")
            .at_most(&fx.repo, 0, "manifest writes", |l| {
                l.method == "PUT" && matches!(l.route, Route::Manifest(_))
            })
    }),
    ("sign/sig-write-never-sticks", |env, name| {
        // Every PUT is acknowledged, none is kept: vouch must give up, not loop.
        let repo = env.server.repo(name);
        let image = TestImage::new(name);
        add_image(&repo, &image, Some("v1"));
        intercept(
            &repo,
            |req| req.method == "PUT" && matches!(req.route, Route::Manifest(_)),
            |_, _| Reply::empty(201),
        );
        Plan::sign(env, &format!("{}:v1", env.identity(name))).says("gave up")
    }),
    ("sign/upload-location-on-another-host", |env, name| {
        let repo = env.server.repo(name);
        let image = TestImage::new(name);
        add_image(&repo, &image, Some("v1"));
        let repo_name = name.to_string();
        intercept(
            &repo,
            |req| req.route == Route::UploadStart,
            move |_, ctx| {
                let to = format!("http://{}/v2/{repo_name}/blobs/uploads/x", ctx.other_host());
                Reply::empty(202).header("Location", &to)
            },
        );
        Plan::sign(env, &format!("{}:v1", env.identity(name)))
            .says("another host")
            .at_most(&repo, 0, "requests to the other host", |l| l.via_other_host)
            .at_most(&repo, 0, "manifest writes", |l| {
                l.method == "PUT" && matches!(l.route, Route::Manifest(_))
            })
    }),
];

/// Replaces the `.sig` of `fx` with `n` layers of distinct payloads whose signature
/// annotations are not signatures; returns the payload digests.
fn distinct_bogus_layers(env: &Env, fx: &Fixture, n: usize) -> Vec<String> {
    let base = String::from_utf8(env.payload(&env.identity(fx.repo.name()), fx.image.digest()))
        .expect("utf8");
    let mut layers = Vec::new();
    let mut digests = Vec::new();
    for i in 0..n {
        let payload = Blob::new(
            base.replace(
                r#""optional":null"#,
                &format!(r#""optional":{{"n":"{i}"}}"#),
            )
            .into_bytes(),
        );
        fx.repo.put_blob(&payload);
        let mut layer = env.layer(&payload);
        layer["annotations"][SIG_ANNOTATION] = "AAAA".into();
        layers.push(layer);
        digests.push(payload.digest);
    }
    fx.repo
        .put_manifest(&fx.sig_tag, OCI_MANIFEST, &env.sig_manifest(&layers));
    digests
}

fn config_json(env: &Env) -> String {
    format!(
        r#"{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":{}}}"#,
        env.config.digest,
        env.config.bytes.len()
    )
}

/// A `.sig` manifest with `"layers"` twice (once when `second` is empty).
fn dup_layers(env: &Env, first: &str, second: &str) -> String {
    let second = if second.is_empty() {
        String::new()
    } else {
        format!(r#","layers":{second}"#)
    };
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{},"layers":{first}{second}}}"#,
        config_json(env)
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What came of one case.
struct Outcome {
    name: &'static str,
    control: bool,
    code: i32,
    secs: f64,
    rss_kib: u64,
    failure: Option<String>,
    /// The output line that names the problem.
    message: String,
}

/// One vouch run: exit code, output, wall time, peak RSS.
struct Measured {
    code: i32,
    stdout: String,
    stderr: String,
    secs: f64,
    rss_kib: u64,
    timed_out: bool,
}

/// Runs vouch with `args`, killed after [`BOUND`]. Peak RSS comes from GNU time (the
/// kernel's own accounting, via wait4) when installed, else from polling VmHWM.
fn run_vouch(plan: &Plan, scratch: &Path) -> Measured {
    std::fs::create_dir_all(scratch.join("docker")).expect("scratch dir");
    let out_path = scratch.join("stdout");
    let err_path = scratch.join("stderr");
    let rss_path = scratch.join("rss");
    let time = gnu_time();
    let mut cmd = if let Some(time) = time {
        let mut c = Command::new(time);
        c.args(["-f", "%M", "-o"]).arg(&rss_path).arg(vouch_bin());
        c
    } else {
        Command::new(vouch_bin())
    };
    cmd.args(&plan.args)
        .env_remove("VOUCH_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env_remove("VOUCH_ALLOW_INSECURE_REGISTRY")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        // The verification cache goes under HOME, so no two cases (or runs) share one.
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", scratch)
        .env("DOCKER_CONFIG", scratch.join("docker"))
        .env("NO_COLOR", "1")
        .envs(plan.envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn vouch");
    let pid = child.id();
    let mut polled = 0u64;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for vouch") {
            break status;
        }
        if started.elapsed() > BOUND {
            timed_out = true;
            // The whole process group: GNU time and vouch under it.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
            break child.wait().expect("wait for killed vouch");
        }
        polled = polled.max(vm_hwm_kib(pid));
        std::thread::sleep(Duration::from_millis(5));
    };
    let secs = started.elapsed().as_secs_f64();
    let rss_kib = std::fs::read_to_string(&rss_path)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(polled);
    Measured {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        secs,
        rss_kib,
        timed_out,
    }
}

/// GNU time, unless missing or `HOSTILE_RSS=poll` asks for polling instead.
fn gnu_time() -> Option<&'static Path> {
    let time = Path::new("/usr/bin/time");
    (time.is_file() && std::env::var("HOSTILE_RSS").as_deref() != Ok("poll")).then_some(time)
}

/// VmHWM of `pid` and of its children (vouch runs under GNU time), in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let hwm = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
            })
            .unwrap_or(0u64)
    };
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    children
        .split_whitespace()
        .map(hwm)
        .chain(std::iter::once(hwm(&pid.to_string())))
        .max()
        .unwrap_or(0)
}

/// The first output line holding the first needle (else the first line), shortened.
fn telling_line(plan: &Plan, m: &Measured, name: &str) -> String {
    let all = format!("{}{}", m.stdout, m.stderr).replace(name, "<repo>");
    let needle = plan
        .needles
        .first()
        .or(plan
            .alternatives
            .iter()
            .map(|(_, n)| n)
            .find(|n| all.to_lowercase().contains(&n.to_lowercase())))
        .map(|n| n.to_lowercase());
    let line = all
        .lines()
        .find(|l| {
            needle
                .as_ref()
                .is_some_and(|n| l.to_lowercase().contains(n))
        })
        .or_else(|| all.lines().next())
        .unwrap_or_default()
        .trim();
    let mut short: String = line.chars().take(200).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

fn judge(plan: &Plan, m: &Measured, name: &str) -> Option<String> {
    let all = format!("{}{}", m.stdout, m.stderr);
    // Needles must name the problem, not match the repository (the case's name) by chance.
    let lower = all.replace(name, "<repo>").to_lowercase();
    let says = |needle: &str| lower.contains(&needle.replace(name, "<repo>").to_lowercase());
    let mut problems = Vec::new();
    if m.timed_out {
        problems.push(format!("still running after {} s: killed", BOUND.as_secs()));
    }
    if !plan.control && (m.code == 0 || all.contains("VERIFIED")) {
        problems.push("FAILED OPEN: reported success".into());
    }
    let alternative = plan
        .alternatives
        .iter()
        .find(|(code, needle)| m.code == *code && says(needle));
    if !plan.alternatives.is_empty() {
        if alternative.is_none() {
            problems.push(format!(
                "exit code {} saying none of the expected things; expected one of {:?}",
                m.code, plan.alternatives
            ));
        }
    } else {
        if m.code != plan.expect {
            problems.push(format!("exit code {}, expected {}", m.code, plan.expect));
        }
        for needle in &plan.needles {
            if !says(needle) {
                problems.push(format!("output does not say {needle:?}"));
            }
        }
    }
    for text in &plan.forbidden {
        if all.contains(text.as_str()) {
            problems.push(format!("output contains {text:?}"));
        }
    }
    if m.rss_kib > MAX_RSS_KIB {
        problems.push(format!("peak RSS {} KiB over {MAX_RSS_KIB} KiB", m.rss_kib));
    }
    for check in &plan.checks {
        if let Err(e) = check() {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "{}\n--- stdout\n{}--- stderr\n{}",
            problems.join("; "),
            clip(&m.stdout),
            clip(&m.stderr)
        ))
    }
}

/// At most 3,000 characters of output in a failure message.
fn clip(text: &str) -> String {
    if text.chars().count() <= 3000 {
        return text.to_string();
    }
    let head: String = text.chars().take(3000).collect();
    format!(
        "{head}\n[… {} more characters]\n",
        text.chars().count() - 3000
    )
}

/// Cases that wait out drips, timeouts or retries (half a minute to two): started first, so
/// that the run takes about as long as the slowest of them, not that plus the rest.
const SLOW_FIRST: &[&str] = &[
    "many/1000-distinct-layers-each-blob-answers-after-2s",
    "storm/503-retry-after-59s-every-time",
    "sign/sig-write-never-sticks",
    "drip/sig-manifest-body-1-byte-per-second",
    "drip/image-manifest-body-with-content-length",
    "drip/sig-blob-body",
    "drip/response-headers",
    "drip/silent-after-accept",
    "storm/token-endpoint-drips",
    "referrers/drip",
];

/// Each case is a test of its own, named after it (`cargo test --test hostile redirect/`
/// runs the redirect cases). Afterwards the table of every case run is written to
/// `target/hostile-report.txt`, and printed with `--nocapture`.
fn main() -> std::process::ExitCode {
    use libtest_mimic::{Arguments, Trial};

    let mut args = Arguments::from_args();
    // Cases mostly wait on sockets: run more at once than there are cores.
    args.test_threads = args.test_threads.or_else(|| {
        std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|n| n.parse().ok())
            .or(Some(WORKERS))
    });
    let names: Vec<&str> = CASES.iter().map(|(n, _)| *n).collect();
    for (i, n) in names.iter().enumerate() {
        assert!(!names[..i].contains(n), "case {n} listed twice");
    }
    for n in SLOW_FIRST {
        assert!(
            names.contains(n),
            "SLOW_FIRST names {n}, which is not a case"
        );
    }
    let mut order: Vec<&Case> = CASES.iter().collect();
    order.sort_by_key(|(n, _)| SLOW_FIRST.iter().position(|s| s == n).unwrap_or(usize::MAX));

    // Started by the first case that runs (none, for `--list` or a filter matching no case).
    let env: Arc<OnceLock<Env>> = Arc::new(OnceLock::new());
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::new(Mutex::new(Vec::new()));
    let trials = order
        .into_iter()
        .map(|&(name, setup)| {
            let (env, outcomes) = (env.clone(), outcomes.clone());
            Trial::test(name, move || {
                let env = env.get_or_init(|| {
                    let env = Env::new();
                    // Build the binary once, before the clock starts on any case.
                    let _ = vouch_bin();
                    env
                });
                let outcome = run_case(env, name, setup);
                let failure = outcome.failure.clone();
                lock(&outcomes).push(outcome);
                failure.map_or(Ok(()), |f| Err(f.into()))
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);

    let mut outcomes = std::mem::take(&mut *lock(&outcomes));
    if !outcomes.is_empty() {
        outcomes.sort_by_key(|o| CASES.iter().position(|(n, _)| *n == o.name));
        let table = report(&outcomes);
        if args.nocapture {
            println!("{table}");
        }
        let report = workspace_root().join("target").join("hostile-report.txt");
        let _ = std::fs::write(&report, &table);
    }
    // Stops the server and removes the scratch directory.
    drop(env);
    conclusion.exit_code()
}

/// Sets up one case, runs vouch and judges what came of it.
fn run_case(env: &Env, name: &'static str, setup: fn(&Env, &str) -> Plan) -> Outcome {
    let plan = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| setup(env, name))) {
        Ok(plan) => plan,
        Err(_) => {
            return Outcome {
                name,
                control: false,
                code: -1,
                secs: 0.0,
                rss_kib: 0,
                failure: Some("the case's setup panicked".into()),
                message: String::new(),
            };
        }
    };
    let scratch = env.dir.path().join("cases").join(name);
    let m = run_vouch(&plan, &scratch);
    let failure = judge(&plan, &m, name);
    let message = telling_line(&plan, &m, name);
    if std::env::var_os("HOSTILE_VERBOSE").is_some() {
        println!("== {name} (exit {})\n{}{}", m.code, m.stdout, m.stderr);
    }
    Outcome {
        name,
        control: plan.control,
        code: m.code,
        secs: m.secs,
        rss_kib: m.rss_kib,
        failure,
        message,
    }
}

/// The table of outcomes (in case order) and the figures.
fn report(outcomes: &[Outcome]) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<58} {:>4} {:>8} {:>10}  verdict",
        "case", "exit", "seconds", "peak KiB"
    );
    for o in outcomes {
        let verdict = match (&o.failure, o.control) {
            (None, true) => "ok (control: verified/signed)",
            (None, false) => "failed closed",
            (Some(_), _) => "FAIL",
        };
        let _ = writeln!(
            table,
            "{:<58} {:>4} {:>8.2} {:>10}  {verdict}",
            o.name, o.code, o.secs, o.rss_kib
        );
    }
    let _ = writeln!(table, "\nWhat vouch said (the line naming the problem):");
    for o in outcomes {
        let _ = writeln!(table, "{:<58} {}", o.name, o.message);
    }
    let hostile: Vec<&Outcome> = outcomes.iter().filter(|o| !o.control).collect();
    let closed = hostile.iter().filter(|o| o.failure.is_none()).count();
    let controls = outcomes.len() - hostile.len();
    let controls_ok = outcomes
        .iter()
        .filter(|o| o.control && o.failure.is_none())
        .count();
    let slowest = hostile
        .iter()
        .max_by(|a, b| a.secs.total_cmp(&b.secs))
        .map(|o| format!("{:.1} s ({})", o.secs, o.name))
        .unwrap_or_default();
    let peak = outcomes.iter().max_by_key(|o| o.rss_kib);
    let peak = peak
        .map(|o| format!("{:.1} MiB ({})", o.rss_kib as f64 / 1024.0, o.name))
        .unwrap_or_default();
    let rss_source = if gnu_time().is_some() {
        "GNU time %M, from wait4"
    } else {
        "polled VmHWM every 5 ms: a lower bound"
    };
    let _ = writeln!(
        table,
        "\n{} hostile cases, {closed} failed closed; {controls_ok}/{controls} controls verified; slowest hostile case {slowest}; peak RSS {peak} [{rss_source}]",
        hostile.len()
    );
    table
}
