//! The mirror service: routes each request, decides manifests under the policy in force
//! (once per digest however many ask at the same time, then from the memo and the record),
//! serves allowed manifests' exact upstream bytes and their blobs, refuses the rest, and
//! counts and logs every decision.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::json;
use vouch_oci::oci::{self, Manifest};
use vouch_oci::reference::{Digest, ImageRef};
use vouch_registry::cache::{Cache, CacheMode};
use vouch_registry::{Fetched, Lookup, Stores};
use vouch_server::memo::Source;
use vouch_server::metrics::{self, Counter, Histogram};
use vouch_server::watch::Reload;
use vouch_server::{Body, Memo, Service, Watched, full, text};
use vouch_verify::{PolicyTrust, Report, Trust, Verifier, judgement_time, load_policy};

use crate::answer::{self, denied, error};
use crate::record::{Kind, Record};
use crate::route::{self, Name, Reference, Route, RouteError};
use crate::stream;

/// Largest tags list passed on.
const MAX_TAGS_BYTES: usize = 1024 * 1024;
/// Manifests kept in memory by digest (allowed ones only).
const MAX_KEPT_MANIFESTS: usize = 1024;

/// Which upstream registries the mirror serves.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    /// Used when a request names none (no host prefix, no `ns`).
    pub default: Option<String>,
    /// Every registry a request may name (the default included).
    pub allowed: Vec<String>,
    /// Any registry a request names may be reached.
    pub any: bool,
}

impl Upstreams {
    /// The upstream for a request: the host prefix of the path, else `ns`, else the
    /// default; an error message if it names none or one not served.
    pub fn choose(&self, prefix: Option<&str>, ns: Option<&str>) -> Result<String, String> {
        let named = prefix.or(ns);
        match named {
            Some(host) if self.any || self.allowed.iter().any(|a| a == host) => {
                Ok(host.to_string())
            }
            Some(host) => Err(format!(
                "vouch mirror: registry {host} is not one this mirror serves (--upstream)"
            )),
            None => self.default.clone().ok_or_else(|| {
                "vouch mirror: no upstream registry named (no --upstream default, no host in the path, no ns parameter)".to_string()
            }),
        }
    }
}

/// Settings of a mirror.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// The upstreams.
    pub upstreams: Upstreams,
    /// How long a decision (allow or deny) is kept.
    pub decision_ttl: Duration,
    /// How long a failure to verify is kept (short: the upstream may come back).
    pub error_ttl: Duration,
    /// Time one verification (manifest, signatures, bundles) may take; past it, a refusal.
    pub verify_timeout: Duration,
    /// Longest wait for the next bytes of a blob from the upstream.
    pub blob_idle_timeout: Duration,
    /// Largest blob served.
    pub max_blob_bytes: u64,
    /// Directory shared by replicas: the record of what was allowed, and the signature
    /// cache. `None`: memory only (one replica).
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Default for MirrorOptions {
    fn default() -> MirrorOptions {
        MirrorOptions {
            upstreams: Upstreams::default(),
            decision_ttl: Duration::from_secs(300),
            error_ttl: Duration::from_secs(5),
            verify_timeout: Duration::from_secs(60),
            blob_idle_timeout: Duration::from_secs(30),
            max_blob_bytes: 16 * 1024 * 1024 * 1024,
            cache_dir: None,
        }
    }
}

/// A loaded policy and the verifier built on it.
pub struct Engine {
    /// The verifier.
    pub verifier: Verifier,
    /// sha256 of the policy file: what decisions and records are filed under, the same in
    /// every replica running the same policy.
    pub id: String,
}

impl Engine {
    /// Loads the policy at `path` and builds a verifier on `stores` (with the signature
    /// cache in `cache_dir`, if given). The error is the rendered diagnostics.
    pub fn load(path: &Path, stores: &Stores, cache_dir: Option<&Path>) -> Result<Engine, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let loaded = load_policy(path).map_err(|e| match e {
            vouch_verify::PolicyLoadError::Invalid {
                rendered, errors, ..
            } => {
                format!(
                    "{rendered}{}: {errors} error(s) in the policy",
                    path.display()
                )
            }
            other => other.to_string(),
        })?;
        let at = judgement_time(None)?;
        let trust = Trust::Policy(Box::new(PolicyTrust {
            loaded,
            at,
            platform: None,
            all_platforms: false,
        }));
        let cache = match cache_dir {
            Some(dir) => Cache::at(dir.join("signatures"), CacheMode::Normal),
            None => Cache::open(CacheMode::Normal),
        };
        Ok(Engine {
            verifier: Verifier::new(stores.clone(), trust).cache(cache),
            id: Digest::of(&bytes).hex()[..32].to_string(),
        })
    }
}

/// What the policy said of one digest.
#[derive(Debug, Clone)]
struct Decision {
    allowed: bool,
    /// Allowed by a rule in warn mode.
    warn: bool,
    /// The upstream or the signatures could not be read (or not in time).
    unreachable: bool,
    reason: String,
}

struct Metrics {
    registry: metrics::Registry,
    requests: Counter,
    decisions: Counter,
    verification: Histogram,
    cache: Counter,
    upstream_errors: Counter,
    blob_bytes: Counter,
    policy_reloads: Counter,
}

impl Metrics {
    fn new() -> Metrics {
        let registry = metrics::Registry::new();
        Metrics {
            requests: registry.counter(
                "vouch_mirror_requests_total",
                "Requests answered, by route and status.",
                &["route", "status"],
            ),
            decisions: registry.counter(
                "vouch_mirror_decisions_total",
                "Manifest decisions served: allow, warn, deny, error.",
                &["decision"],
            ),
            verification: registry.histogram(
                "vouch_mirror_verification_seconds",
                "Time to verify one image digest (cache misses only).",
                &[],
                metrics::LATENCY_BUCKETS,
            ),
            cache: registry.counter(
                "vouch_mirror_cache_total",
                "How manifest decisions were found: computed, joined (in flight), memo, record.",
                &["source"],
            ),
            upstream_errors: registry.counter(
                "vouch_mirror_upstream_errors_total",
                "Upstream reads that failed, by what was read.",
                &["what"],
            ),
            blob_bytes: registry.counter(
                "vouch_mirror_blob_bytes_total",
                "Blob bytes passed to clients after their digest checked.",
                &[],
            ),
            policy_reloads: registry.counter(
                "vouch_mirror_policy_reloads_total",
                "Policy reloads: replaced or refused.",
                &["outcome"],
            ),
            registry,
        }
    }
}

/// The mirror: a [`Service`] for [`vouch_server::serve`].
pub struct Mirror {
    options: MirrorOptions,
    stores: Stores,
    policy: Arc<Watched<Engine>>,
    decisions: Memo<(String, String), Decision>,
    record: Record,
    manifests: Mutex<HashMap<String, Arc<Fetched>>>,
    /// When this process last recorded what each allowed manifest reaches: recorded again
    /// only after half the decision's lifetime, not on every pull.
    recorded: Mutex<HashMap<String, Instant>>,
    metrics: Metrics,
}

impl Mirror {
    /// A mirror reading upstreams through `stores`, judging by the watched policy.
    pub fn new(options: MirrorOptions, stores: Stores, policy: Arc<Watched<Engine>>) -> Mirror {
        let record = Record::new(options.cache_dir.clone(), 100_000);
        Mirror {
            options,
            stores,
            policy,
            decisions: Memo::new(10_000),
            record,
            manifests: Mutex::new(HashMap::new()),
            recorded: Mutex::new(HashMap::new()),
            metrics: Metrics::new(),
        }
    }

    /// Called after each reload attempt: a new policy forgets decisions made under the old
    /// one; a refused one is logged and the old one stays in force.
    pub fn policy_reloaded(&self, outcome: &Reload) {
        match outcome {
            Reload::Unchanged => {}
            Reload::Replaced(generation) => {
                self.decisions.clear();
                self.record.clear();
                self.recorded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                self.metrics.policy_reloads.inc(&["replaced"]);
                vouch_server::log::info(json!({
                    "event": "policy-reloaded",
                    "generation": generation,
                    "policy": self.policy.current().id,
                }));
            }
            Reload::Refused(reason) => {
                self.metrics.policy_reloads.inc(&["refused"]);
                vouch_server::log::warn(json!({
                    "event": "policy-refused",
                    "reason": reason,
                    "kept": self.policy.current().id,
                }));
            }
        }
    }

    async fn answer(
        &self,
        request: &Request<Incoming>,
        peer: SocketAddr,
    ) -> (&'static str, Response<Body>) {
        let path = request.uri().path();
        let route = match route::parse(path) {
            Ok(r) => r,
            Err(RouteError::NotFound) => {
                return (
                    "bad",
                    error(
                        StatusCode::NOT_FOUND,
                        "NOT_FOUND",
                        "vouch mirror: no such endpoint",
                    ),
                );
            }
            Err(RouteError::BadName(n)) => {
                return (
                    "bad",
                    error(
                        StatusCode::BAD_REQUEST,
                        "NAME_INVALID",
                        &format!("vouch mirror: invalid repository name {n:?}"),
                    ),
                );
            }
            Err(RouteError::BadReference(r)) => {
                return (
                    "bad",
                    error(
                        StatusCode::BAD_REQUEST,
                        "MANIFEST_INVALID",
                        &format!("vouch mirror: invalid tag or digest {r:?}"),
                    ),
                );
            }
        };
        let method = request.method();
        let head = method == Method::HEAD;
        if method != Method::GET && !head || matches!(route, Route::Upload) {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "vouch mirror: read-only; push to the upstream registry",
            );
            r.headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
            return ("write", r);
        }
        let query = request.uri().query();
        let ns = match route::namespace(query) {
            None => None,
            Some(Ok(ns)) => Some(ns),
            Some(Err(RouteError::BadName(n))) | Some(Err(RouteError::BadReference(n))) => {
                return (
                    "bad",
                    error(
                        StatusCode::BAD_REQUEST,
                        "NAME_INVALID",
                        &format!("vouch mirror: invalid registry {n:?}"),
                    ),
                );
            }
            Some(Err(RouteError::NotFound)) => None,
        };
        match route {
            Route::Base => {
                let mut r = full(StatusCode::OK, "application/json", "{}");
                answer::stamp(&mut r);
                ("base", r)
            }
            Route::Health => ("health", text(StatusCode::OK, "ok")),
            Route::Ready => ("health", text(StatusCode::OK, "ready")),
            Route::Metrics => (
                "metrics",
                full(
                    StatusCode::OK,
                    metrics::CONTENT_TYPE,
                    self.metrics.registry.render(),
                ),
            ),
            Route::Manifest(name, reference) => (
                "manifest",
                self.manifest(&name, &reference, ns.as_deref(), head, peer)
                    .await,
            ),
            Route::Blob(name, digest) => (
                "blob",
                self.blob(&name, &digest, ns.as_deref(), head, peer).await,
            ),
            Route::Tags(name) => ("tags", self.tags(&name, ns.as_deref(), query, head).await),
            Route::Referrers(name, digest) => (
                "referrers",
                self.referrers(&name, &digest, ns.as_deref(), query, head)
                    .await,
            ),
            Route::Upload => unreachable_route(),
        }
    }

    /// The image the request is about, in its upstream.
    fn image(
        &self,
        name: &Name,
        ns: Option<&str>,
        at: &str,
    ) -> Result<ImageRef, Box<Response<Body>>> {
        let upstream = self
            .options
            .upstreams
            .choose(name.host.as_deref(), ns)
            .map_err(|m| Box::new(denied(&m)))?;
        vouch_oci::reference::parse(&format!("{upstream}/{}{at}", name.repository)).map_err(|e| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                "NAME_INVALID",
                &format!("vouch mirror: {upstream}/{}: {e}", name.repository),
            ))
        })
    }

    async fn manifest(
        &self,
        name: &Name,
        reference: &Reference,
        ns: Option<&str>,
        head: bool,
        peer: SocketAddr,
    ) -> Response<Body> {
        let suffix = match reference {
            Reference::Tag(t) => format!(":{t}"),
            Reference::Digest(d) => format!("@{d}"),
        };
        let image = match self.image(name, ns, &suffix) {
            Ok(i) => i,
            Err(r) => return *r,
        };
        let ImageRef::Registry(reg) = &image else {
            return error(
                StatusCode::BAD_REQUEST,
                "NAME_INVALID",
                "vouch mirror: not a registry image",
            );
        };
        let repository = reg.repository_name();
        let (engine, _) = self.policy.current_with_generation();

        // 1. The manifest, once: its bytes are what is judged and what is served.
        let fetched = match self.fetch_manifest(&image, &repository, reference).await {
            Ok(Some(f)) => f,
            Ok(None) => {
                return error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    &format!("vouch mirror: {image}: manifest unknown upstream"),
                );
            }
            Err(reason) => {
                self.metrics.upstream_errors.inc(&["manifest"]);
                let decision = Decision {
                    allowed: false,
                    warn: false,
                    unreachable: true,
                    reason: format!("the upstream could not be read: {reason}"),
                };
                self.log_decision(&image.to_string(), None, &decision, "upstream", peer);
                self.metrics.decisions.inc(&["error"]);
                return denied(&format!("vouch: {image} refused: {}", decision.reason));
            }
        };
        let digest = fetched.digest.clone();
        let pinned = format!("{repository}@{digest}");
        let parsed = match oci::parse_manifest(
            &fetched.bytes,
            fetched.media_type.as_deref(),
            self.stores.limits(),
        ) {
            Ok(p) => p,
            Err(e) => {
                let decision = Decision {
                    allowed: false,
                    warn: false,
                    unreachable: false,
                    reason: format!("malformed manifest: {e}"),
                };
                self.log_decision(&pinned, Some(&digest), &decision, "parse", peer);
                self.metrics.decisions.inc(&["deny"]);
                return denied(&format!("vouch: {pinned} refused: {}", decision.reason));
            }
        };

        // 2. The decision for that digest: recorded (an allowed index's child, or another
        // replica's), remembered, or verified now.
        let (decision, source) = if self
            .record
            .lookup(&engine.id, &repository, &digest)
            .is_some_and(|a| a.kind == Kind::Manifest)
        {
            (
                Decision {
                    allowed: true,
                    warn: false,
                    unreachable: false,
                    reason: "recorded as allowed".into(),
                },
                "record",
            )
        } else {
            let at = image.with_digest(digest.clone());
            let ttl = (self.options.decision_ttl, self.options.error_ttl);
            let (d, source) = self
                .decisions
                .get_or_compute(
                    (engine.id.clone(), pinned.clone()),
                    move |d: &Decision| if d.unreachable { ttl.1 } else { ttl.0 },
                    || self.verify(&engine, at),
                )
                .await;
            let source = match source {
                Source::Memo => "memo",
                Source::Joined => "joined",
                Source::Computed => "computed",
            };
            (d, source)
        };
        self.metrics.cache.inc(&[source]);
        let label = if !decision.allowed {
            if decision.unreachable {
                "error"
            } else {
                "deny"
            }
        } else if decision.warn {
            "warn"
        } else {
            "allow"
        };
        self.metrics.decisions.inc(&[label]);
        self.log_decision(&pinned, Some(&digest), &decision, source, peer);

        let media_type = fetched
            .media_type
            .clone()
            .or_else(|| media_type_of(&parsed))
            .unwrap_or_else(|| oci::OCI_MANIFEST.to_string());
        if !decision.allowed {
            // containerd resolves a tag with HEAD and shows no body; answering its HEAD lets
            // the GET by digest that follows carry the reason (that GET is refused).
            if head && ns.is_some() && !decision.unreachable {
                return answer::content(
                    true,
                    &media_type,
                    &digest.to_string(),
                    Some(fetched.bytes.len() as u64),
                    None,
                    None,
                );
            }
            return denied(&format!("vouch: {pinned} refused: {}", decision.reason));
        }

        // 3. Allowed: record what it reaches, serve exactly the bytes judged.
        self.allow_reachable(
            &engine.id,
            &repository,
            &digest,
            fetched.bytes.len() as u64,
            &parsed,
        );
        let length = fetched.bytes.len() as u64;
        self.keep_manifest(&pinned, &fetched);
        answer::content(
            head,
            &media_type,
            &digest.to_string(),
            Some(length),
            None,
            Some(Bytes::from(fetched.bytes.clone())),
        )
    }

    async fn fetch_manifest(
        &self,
        image: &ImageRef,
        repository: &str,
        reference: &Reference,
    ) -> Result<Option<Arc<Fetched>>, String> {
        if let Reference::Digest(d) = reference
            && let Some(kept) = self.kept_manifest(&format!("{repository}@{d}"))
        {
            return Ok(Some(kept));
        }
        let repo = self.stores.repo(image);
        let lookup = match reference {
            Reference::Tag(t) => Lookup::Tag(t),
            Reference::Digest(d) => Lookup::Digest(d),
        };
        let read = repo.get_manifest(lookup, self.stores.limits());
        match tokio::time::timeout(self.options.verify_timeout, read).await {
            Err(_) => Err(format!("no answer in {:?}", self.options.verify_timeout)),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(f)) => Ok(f.map(Arc::new)),
        }
    }

    fn kept_manifest(&self, key: &str) -> Option<Arc<Fetched>> {
        self.manifests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn keep_manifest(&self, key: &str, fetched: &Arc<Fetched>) {
        let mut kept = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_KEPT_MANIFESTS {
            kept.clear();
        }
        kept.insert(key.to_string(), Arc::clone(fetched));
    }

    async fn verify(&self, engine: &Engine, image: ImageRef) -> Decision {
        let started = Instant::now();
        let at = judgement_time(None).ok();
        let outcome = tokio::time::timeout(
            self.options.verify_timeout,
            engine.verifier.verify_at(&image, at),
        )
        .await;
        self.metrics
            .verification
            .observe(&[], started.elapsed().as_secs_f64());
        match outcome {
            Err(_) => Decision {
                allowed: false,
                warn: false,
                unreachable: true,
                reason: format!("could not be verified in {:?}", self.options.verify_timeout),
            },
            Ok(report) => Decision {
                allowed: report.passes(),
                warn: report.warns(),
                unreachable: report.unreachable(),
                reason: reason_of(&report),
            },
        }
    }

    fn allow_reachable(
        &self,
        policy: &str,
        repository: &str,
        digest: &Digest,
        size: u64,
        parsed: &Manifest,
    ) {
        {
            let key = format!("{policy} {repository}@{digest}");
            let mut recorded = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = self.options.decision_ttl / 2;
            // Also written again if the record lost it (trimmed).
            if recorded.get(&key).is_some_and(|at| at.elapsed() < fresh)
                && self.record.lookup(policy, repository, digest).is_some()
            {
                return;
            }
            if recorded.len() >= 100_000 {
                recorded.clear();
            }
            recorded.insert(key, Instant::now());
        }
        let mut items = vec![(digest.clone(), Kind::Manifest, Some(size))];
        match parsed {
            Manifest::Image(m) => {
                for d in std::iter::once(&m.config).chain(&m.layers) {
                    if let Ok(digest) = d.sha256() {
                        items.push((digest, Kind::Blob, Some(d.size)));
                    }
                }
            }
            Manifest::Index(i) => {
                for d in &i.manifests {
                    if let Ok(digest) = d.sha256() {
                        items.push((digest, Kind::Manifest, Some(d.size)));
                    }
                }
            }
        }
        if let Err(e) = self
            .record
            .allow(policy, repository, &items, self.options.decision_ttl)
        {
            vouch_server::log::warn(json!({
                "event": "record-write-failed",
                "reason": e.to_string(),
            }));
        }
    }

    async fn blob(
        &self,
        name: &Name,
        digest: &Digest,
        ns: Option<&str>,
        head: bool,
        peer: SocketAddr,
    ) -> Response<Body> {
        let image = match self.image(name, ns, &format!("@{digest}")) {
            Ok(i) => i,
            Err(r) => return *r,
        };
        let ImageRef::Registry(reg) = &image else {
            return error(
                StatusCode::BAD_REQUEST,
                "NAME_INVALID",
                "vouch mirror: not a registry image",
            );
        };
        let repository = reg.repository_name();
        let engine = self.policy.current();
        let Some(allowed) = self.record.lookup(&engine.id, &repository, digest) else {
            vouch_server::log::info(json!({
                "event": "blob-refused",
                "image": repository,
                "digest": digest.to_string(),
                "client": peer.to_string(),
            }));
            return denied(&format!(
                "vouch: blob {digest} of {repository} refused: it is not part of an image this mirror allowed (pull the image by its tag or digest)"
            ));
        };
        let size = allowed.size.unwrap_or(self.options.max_blob_bytes);
        if size > self.options.max_blob_bytes {
            return denied(&format!(
                "vouch: blob {digest} of {repository} refused: {size} bytes is over the mirror's {}-byte limit",
                self.options.max_blob_bytes
            ));
        }
        if head {
            return answer::content(
                true,
                "application/octet-stream",
                &digest.to_string(),
                allowed.size,
                None,
                None,
            );
        }
        let repo = self.stores.repo(&image);
        let opened =
            tokio::time::timeout(self.options.verify_timeout, repo.open_blob(digest, size)).await;
        let upstream = match opened {
            Ok(Ok(Some(s))) => s,
            Ok(Ok(None)) => {
                return error(
                    StatusCode::NOT_FOUND,
                    "BLOB_UNKNOWN",
                    &format!("vouch mirror: blob {digest} of {repository}: unknown upstream"),
                );
            }
            Ok(Err(e)) => {
                self.metrics.upstream_errors.inc(&["blob"]);
                return error(
                    StatusCode::BAD_GATEWAY,
                    "UNKNOWN",
                    &format!("vouch mirror: blob {digest} of {repository}: {e}"),
                );
            }
            Err(_) => {
                self.metrics.upstream_errors.inc(&["blob"]);
                return error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "UNKNOWN",
                    &format!(
                        "vouch mirror: blob {digest} of {repository}: no answer from the upstream"
                    ),
                );
            }
        };
        let bytes_counter = self.metrics.blob_bytes.clone();
        let errors = self.metrics.upstream_errors.clone();
        let (what, client) = (format!("{repository}@{digest}"), peer.to_string());
        let body = stream::checked(
            upstream,
            digest.clone(),
            size,
            self.options.blob_idle_timeout,
            move |end| match end {
                Ok(n) => bytes_counter.add(&[], n),
                Err(why) => {
                    errors.inc(&["blob"]);
                    vouch_server::log::warn(json!({
                        "event": "blob-cut",
                        "blob": what,
                        "reason": why,
                        "client": client,
                    }));
                }
            },
        );
        answer::content(
            false,
            "application/octet-stream",
            &digest.to_string(),
            Some(size),
            Some(body),
            None,
        )
    }

    async fn tags(
        &self,
        name: &Name,
        ns: Option<&str>,
        query: Option<&str>,
        head: bool,
    ) -> Response<Body> {
        let mut suffix = "tags/list".to_string();
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .filter(|(k, v)| {
                    (k == "n"
                        && !v.is_empty()
                        && v.len() < 8
                        && v.bytes().all(|b| b.is_ascii_digit()))
                        || (k == "last"
                            && v.len() <= 128
                            && v.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
                })
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        if !params.is_empty() {
            suffix.push('?');
            suffix.push_str(&encode_query(params));
        }
        self.document(
            name,
            ns,
            &suffix,
            Some("application/json"),
            "application/json",
            head,
        )
        .await
    }

    async fn referrers(
        &self,
        name: &Name,
        digest: &Digest,
        ns: Option<&str>,
        query: Option<&str>,
        head: bool,
    ) -> Response<Body> {
        let mut suffix = format!("referrers/{digest}");
        if let Some(t) = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == "artifactType")
            .map(|(_, v)| v.into_owned())
            .filter(|v| {
                v.len() <= 255
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-+/".contains(&b))
            })
        {
            suffix.push_str(&format!("?artifactType={t}"));
        }
        self.document(
            name,
            ns,
            &suffix,
            Some(oci::OCI_INDEX),
            oci::OCI_INDEX,
            head,
        )
        .await
    }

    async fn document(
        &self,
        name: &Name,
        ns: Option<&str>,
        suffix: &str,
        accept: Option<&str>,
        default_type: &str,
        head: bool,
    ) -> Response<Body> {
        let image = match self.image(name, ns, "") {
            Ok(i) => i,
            Err(r) => return *r,
        };
        let repo = self.stores.repo(&image);
        let read = repo.get_document(suffix, accept, MAX_TAGS_BYTES);
        match tokio::time::timeout(self.options.verify_timeout, read).await {
            Ok(Ok(Some((bytes, media_type)))) => {
                let media_type = media_type.unwrap_or_else(|| default_type.to_string());
                let mut r = if head {
                    vouch_server::empty(StatusCode::OK)
                } else {
                    full(StatusCode::OK, &media_type, bytes.clone())
                };
                if head {
                    r.headers_mut()
                        .insert(header::CONTENT_LENGTH, http::HeaderValue::from(bytes.len()));
                }
                answer::stamp(&mut r);
                r
            }
            Ok(Ok(None)) => error(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                &format!("vouch mirror: {image}: unknown upstream"),
            ),
            Ok(Err(e)) => {
                self.metrics.upstream_errors.inc(&["document"]);
                error(
                    StatusCode::BAD_GATEWAY,
                    "UNKNOWN",
                    &format!("vouch mirror: {e}"),
                )
            }
            Err(_) => {
                self.metrics.upstream_errors.inc(&["document"]);
                error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "UNKNOWN",
                    "vouch mirror: no answer from the upstream",
                )
            }
        }
    }

    fn log_decision(
        &self,
        image: &str,
        digest: Option<&Digest>,
        decision: &Decision,
        source: &str,
        peer: SocketAddr,
    ) {
        let label = if !decision.allowed {
            if decision.unreachable {
                "error"
            } else {
                "deny"
            }
        } else if decision.warn {
            "warn"
        } else {
            "allow"
        };
        // Decisions found in the memo are not logged again (one line per verification), so a
        // busy node does not write a line per pull; refusals always are.
        if decision.allowed && matches!(source, "memo" | "record") {
            return;
        }
        vouch_server::log::info(json!({
            "event": "decision",
            "image": image,
            "digest": digest.map(ToString::to_string),
            "decision": label,
            "reason": decision.reason,
            "source": source,
            "client": peer.to_string(),
        }));
    }
}

fn encode_query(params: Vec<(String, String)>) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    serializer.extend_pairs(params);
    serializer.finish()
}

fn unreachable_route() -> (&'static str, Response<Body>) {
    (
        "write",
        error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "vouch mirror: read-only",
        ),
    )
}

fn media_type_of(parsed: &Manifest) -> Option<String> {
    match parsed {
        Manifest::Image(m) => m.media_type.clone(),
        Manifest::Index(i) => i.media_type.clone(),
    }
}

/// One line saying why: the error, else each judged manifest's reasons.
fn reason_of(report: &Report) -> String {
    match report {
        Report::Keys(r) => r.reason.clone().unwrap_or_else(|| r.decision.to_string()),
        Report::Policy(r) => {
            if let Some(e) = &r.error {
                return e.clone();
            }
            let mut parts = Vec::new();
            for j in &r.judged {
                let mut why = j.evaluation.reasons.join("; ");
                if why.is_empty() {
                    why = j.evaluation.decision.to_string();
                }
                if let Some(rule) = &j.evaluation.rule {
                    why = format!("rule \"{}\": {why}", rule.name);
                }
                if !j.evaluation.to_pass.is_empty() {
                    why.push_str(&format!("; to pass: {}", j.evaluation.to_pass.join("; ")));
                }
                if !matches!(r.decision, "allow")
                    && let Some(first) = j.rejected_signatures.first()
                {
                    why.push_str(&format!(
                        "; signature #{} rejected: {}",
                        first.index,
                        first.reason.as_deref().unwrap_or("unknown reason")
                    ));
                }
                match &j.platform {
                    Some(p) => parts.push(format!("{p}: {why}")),
                    None => parts.push(why),
                }
            }
            if parts.is_empty() {
                r.decision.to_string()
            } else {
                parts.join(" | ")
            }
        }
    }
}

impl Service for Mirror {
    async fn call(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let (route, response) = self.answer(&request, peer).await;
        self.metrics
            .requests
            .inc(&[route, response.status().as_str()]);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstreams(any: bool) -> Upstreams {
        Upstreams {
            default: Some("a.example".into()),
            allowed: vec!["a.example".into(), "b.example:5000".into()],
            any,
        }
    }

    #[test]
    fn the_path_host_wins_over_ns_and_ns_over_the_default() {
        let u = upstreams(false);
        assert_eq!(u.choose(None, None), Ok("a.example".into()));
        assert_eq!(
            u.choose(None, Some("b.example:5000")),
            Ok("b.example:5000".into())
        );
        assert_eq!(
            u.choose(Some("b.example:5000"), Some("a.example")),
            Ok("b.example:5000".into())
        );
    }

    #[test]
    fn a_registry_not_given_is_never_reached() {
        let u = upstreams(false);
        for (prefix, ns) in [
            (Some("evil.example"), None),
            (None, Some("169.254.169.254")),
        ] {
            let e = u.choose(prefix, ns).expect_err("refused");
            assert!(e.contains("not one this mirror serves"), "{e}");
        }
        assert_eq!(
            upstreams(true).choose(Some("evil.example"), None),
            Ok("evil.example".into())
        );
        let none = Upstreams::default()
            .choose(None, None)
            .expect_err("no default");
        assert!(none.contains("no upstream"), "{none}");
    }
}
