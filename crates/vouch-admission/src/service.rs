//! The webhook's HTTP endpoints over vouch-server: `POST /validate` and `POST /mutate`
//! (AdmissionReview in, AdmissionReview out), `GET /healthz`, `/readyz` and `/metrics`.
//!
//! Every review runs under a deadline (the `--deadline`, shortened to fit the API server's
//! `?timeout=`); an image not verified by then is refused, never admitted by timing out.
//! Each distinct image is judged once per review, and once across concurrent reviews
//! (single flight through a [`Memo`] keyed by policy generation and reference). A body that is
//! not a review gets a 400; a panic is a 500 (vouch-server) — with `failurePolicy: Fail` both
//! refuse the request. One JSON log line per decision, without the object (it may hold
//! secrets in environment variables).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use vouch_server::memo::Source;
use vouch_server::metrics::{CONTENT_TYPE, LATENCY_BUCKETS};
use vouch_server::watch::Reload;
use vouch_server::{Body, Counter, Histogram, Memo, Registry, Watched, full, text};

use crate::decide::{self, Decision, ImageVerdict, Judgement};
use crate::judge::Engine;
use crate::review::{self, API_VERSION, KIND, ReviewError};

/// How the webhook behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The longest a review may take (shortened to fit the API server's `?timeout=`).
    pub deadline: Duration,
    /// Request bodies larger than this are refused with 400.
    pub max_review_bytes: usize,
    /// Reviews judged at once; more wait (within their deadline).
    pub max_reviews_in_flight: usize,
    /// Image verifications running at once, across reviews.
    pub max_verifications: usize,
    /// How long a verified (or warned) image's verdict is reused.
    pub allow_ttl: Duration,
    /// How long a refused image's verdict is reused.
    pub deny_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            deadline: Duration::from_secs(8),
            max_review_bytes: review::MAX_REVIEW_BYTES,
            max_reviews_in_flight: 1024,
            max_verifications: 64,
            allow_ttl: Duration::from_secs(60),
            deny_ttl: Duration::from_secs(10),
        }
    }
}

/// Verdicts kept at most.
const MEMO_ENTRIES: usize = 16_384;

struct Metrics {
    registry: Registry,
    reviews: Counter,
    review_seconds: Histogram,
    bad_requests: Counter,
    images: Counter,
    lookups: Counter,
    verification_seconds: Histogram,
    registry_errors: Counter,
    reloads: Counter,
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        Metrics {
            reviews: registry.counter(
                "vouch_admission_reviews_total",
                "Admission reviews answered, by webhook and decision (allow, warn, deny, exempt).",
                &["webhook", "decision"],
            ),
            review_seconds: registry.histogram(
                "vouch_admission_review_duration_seconds",
                "Time to answer an admission review.",
                &["webhook"],
                LATENCY_BUCKETS,
            ),
            bad_requests: registry.counter(
                "vouch_admission_bad_requests_total",
                "Requests refused before judging (malformed, too large, wrong type, slow).",
                &["reason"],
            ),
            images: registry.counter(
                "vouch_admission_images_total",
                "Distinct images judged in reviews, by judgement.",
                &["judgement"],
            ),
            lookups: registry.counter(
                "vouch_admission_verdict_lookups_total",
                "Image verdicts by source: cache (kept), joined (another review's verification in flight), verified.",
                &["source"],
            ),
            verification_seconds: registry.histogram(
                "vouch_admission_verification_duration_seconds",
                "Time to verify one image against the registry.",
                &[],
                LATENCY_BUCKETS,
            ),
            registry_errors: registry.counter(
                "vouch_admission_registry_errors_total",
                "Verifications that failed closed: registry unreachable, or the deadline passed.",
                &["kind"],
            ),
            reloads: registry.counter(
                "vouch_admission_policy_reloads_total",
                "Policy reloads: replaced, or refused (the old policy stays).",
                &["result"],
            ),
            registry,
        }
    }
}

/// The admission webhook.
pub struct Admission {
    engine: Arc<Watched<Engine>>,
    memo: Arc<Memo<(u64, String), ImageVerdict>>,
    settings: Settings,
    metrics: Metrics,
    reviews: Semaphore,
    verifications: Arc<Semaphore>,
    ready: AtomicBool,
}

impl Admission {
    /// Marks the server not ready (`/readyz` answers 503) while it goes on answering reviews:
    /// the first step of a graceful stop, so the Service stops sending before it closes.
    pub fn stop_being_ready(&self) {
        self.ready.store(false, Ordering::Relaxed);
    }

    /// A webhook judging with the policy `engine` holds.
    pub fn new(engine: Arc<Watched<Engine>>, settings: Settings) -> Arc<Admission> {
        Arc::new(Admission {
            engine,
            memo: Arc::new(Memo::new(MEMO_ENTRIES)),
            reviews: Semaphore::new(settings.max_reviews_in_flight.max(1)),
            verifications: Arc::new(Semaphore::new(settings.max_verifications.max(1))),
            settings,
            metrics: Metrics::new(),
            ready: AtomicBool::new(true),
        })
    }

    /// What to do after a reload: log it, count it, and forget verdicts made under the old
    /// policy.
    pub fn on_reload(self: &Arc<Self>) -> Arc<dyn Fn(&Reload) + Send + Sync> {
        let me = Arc::clone(self);
        Arc::new(move |outcome: &Reload| match outcome {
            Reload::Replaced(generation) => {
                me.memo.clear();
                me.metrics.reloads.inc(&["replaced"]);
                vouch_server::log::info(json!({
                    "event": "policy-reloaded",
                    "policy": me.engine.path().display().to_string(),
                    "generation": generation,
                    "rules": me.engine.current().rules(),
                }));
            }
            Reload::Refused(reason) => {
                me.metrics.reloads.inc(&["refused"]);
                vouch_server::log::warn(json!({
                    "event": "policy-reload-refused",
                    "policy": me.engine.path().display().to_string(),
                    "reason": reason,
                    "kept": "the policy in force stays",
                }));
            }
            Reload::Unchanged => {}
        })
    }

    async fn review(&self, request: Request<Incoming>, mutating: bool) -> Response<Body> {
        let started = Instant::now();
        let webhook = if mutating { "mutate" } else { "validate" };
        let deadline = started + deadline_for(self.settings.deadline, request.uri().query());
        if let Some(ct) = request.headers().get(header::CONTENT_TYPE)
            && !ct
                .to_str()
                .unwrap_or_default()
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        {
            return self.bad_request(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content-type",
                "send Content-Type: application/json (an admission.k8s.io/v1 AdmissionReview)",
            );
        }
        let limit = self.settings.max_review_bytes;
        let body = match tokio::time::timeout_at(
            deadline.into(),
            vouch_server::read_limited(request.into_body(), limit),
        )
        .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(vouch_server::BodyError::TooLarge { .. })) => {
                return self.bad_request(
                    StatusCode::BAD_REQUEST,
                    "too-large",
                    &format!(
                        "the review is larger than {limit} bytes (the API server's own limit on a request body)"
                    ),
                );
            }
            Ok(Err(e)) => return self.bad_request(StatusCode::BAD_REQUEST, "read", &e.to_string()),
            Err(_) => {
                return self.bad_request(
                    StatusCode::REQUEST_TIMEOUT,
                    "slow-body",
                    "the request body did not arrive within the review deadline",
                );
            }
        };
        let parsed = match review::parse(&body) {
            Ok(r) => r,
            Err(e) => {
                let reason = match e {
                    ReviewError::Malformed(_) => "malformed",
                    ReviewError::WrongType { .. } => "wrong-type",
                    ReviewError::Missing(_) => "missing-field",
                };
                return self.bad_request(StatusCode::BAD_REQUEST, reason, &e.to_string());
            }
        };
        drop(body);
        let (decision, label, judged) = self.decide(&parsed, mutating, deadline).await;
        let elapsed = started.elapsed();
        self.metrics.reviews.inc(&[webhook, label]);
        self.metrics
            .review_seconds
            .observe(&[webhook], elapsed.as_secs_f64());
        let images: Vec<Value> = judged
            .iter()
            .take(32)
            .map(|(image, v)| {
                let mut e = json!({"image": image, "judgement": v.judgement.as_str()});
                if let Some(d) = &v.digest {
                    e["digest"] = d.clone().into();
                }
                if !v.reason.is_empty() {
                    e["reason"] = decide::cut(&v.reason, 400).into();
                }
                e
            })
            .collect();
        vouch_server::log::info(json!({
            "event": "admission",
            "webhook": webhook,
            "uid": parsed.uid,
            "operation": parsed.operation,
            "kind": parsed.kind.kind,
            "resource": parsed.resource.resource,
            "sub_resource": parsed.sub_resource,
            "namespace": parsed.namespace,
            "name": parsed.name,
            "user": parsed.user_info.username,
            "dry_run": parsed.is_dry_run(),
            "decision": label,
            "allowed": decision.allowed,
            "message": decision.message,
            "patched": decision.patch.len(),
            "images": images,
            "elapsed_ms": (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        }));
        let answer = answer(&parsed.uid, &decision, mutating);
        full(
            StatusCode::OK,
            "application/json",
            serde_json::to_vec(&answer).unwrap_or_default(),
        )
    }

    async fn decide(
        &self,
        request: &review::Request,
        pin: bool,
        deadline: Instant,
    ) -> (Decision, &'static str, BTreeMap<String, ImageVerdict>) {
        let none = BTreeMap::new();
        if !request.may_change_images() {
            return (Decision::allow(), "allow", none);
        }
        let (engine, generation) = self.engine.current_with_generation();
        if let Some(ns) = request.namespace.as_deref()
            && engine.exempts(ns)
        {
            return (Decision::allow(), "exempt", none);
        }
        let images = match decide::images_to_check(&request.object, &request.old_object) {
            Ok(i) => i,
            Err(e) => {
                let d = Decision::refuse(format!("vouch cannot read the object's images: {e}"));
                return (d, "deny", none);
            }
        };
        let distinct = decide::distinct(&images);
        if distinct.is_empty() {
            return (Decision::allow(), "allow", none);
        }
        if distinct.len() > decide::MAX_DISTINCT_IMAGES {
            let d = Decision::refuse(format!(
                "vouch refused the object: it names {} distinct images, more than the {} one review may verify",
                distinct.len(),
                decide::MAX_DISTINCT_IMAGES
            ));
            return (d, "deny", none);
        }
        let verdicts = self
            .judge_all(&engine, generation, &distinct, deadline)
            .await;
        let decision = decide::decide(&images, &verdicts, pin);
        let label = if !decision.allowed {
            "deny"
        } else if decision.warnings.is_empty() {
            "allow"
        } else {
            "warn"
        };
        (decision, label, verdicts)
    }

    /// Each distinct image's verdict, concurrently, each by the deadline.
    async fn judge_all(
        &self,
        engine: &Arc<Engine>,
        generation: u64,
        images: &[String],
        deadline: Instant,
    ) -> BTreeMap<String, ImageVerdict> {
        let seconds = self.settings.deadline.as_secs_f64();
        let _permit = match tokio::time::timeout_at(deadline.into(), self.reviews.acquire()).await {
            Ok(Ok(p)) => Some(p),
            _ => None,
        };
        let judged = futures_util::future::join_all(images.iter().map(|image| async move {
            let lookup = self.memo.get_or_compute(
                (generation, image.clone()),
                |v: &ImageVerdict| match v.judgement {
                    Judgement::Allow | Judgement::Warn => self.settings.allow_ttl,
                    Judgement::Deny => self.settings.deny_ttl,
                    Judgement::Unreachable | Judgement::TimedOut => Duration::ZERO,
                },
                || self.verify_one(engine, image),
            );
            let verdict = match tokio::time::timeout_at(deadline.into(), lookup).await {
                Ok((v, source)) => {
                    let source = match source {
                        Source::Memo => "cache",
                        Source::Joined => "joined",
                        Source::Computed => "verified",
                    };
                    self.metrics.lookups.inc(&[source]);
                    v
                }
                Err(_) => {
                    self.metrics.registry_errors.inc(&["deadline"]);
                    ImageVerdict {
                        judgement: Judgement::TimedOut,
                        digest: None,
                        reason: format!(
                            "not verified within the review deadline ({seconds:.1}s or the API server's timeout); refused (fail closed): is the registry slow or unreachable?"
                        ),
                    }
                }
            };
            self.metrics.images.inc(&[verdict.judgement.as_str()]);
            (image.clone(), verdict)
        }))
        .await;
        judged.into_iter().collect()
    }

    async fn verify_one(&self, engine: &Arc<Engine>, image: &str) -> ImageVerdict {
        let _slot = Arc::clone(&self.verifications).acquire_owned().await.ok();
        let started = Instant::now();
        let verdict = engine.judge(image).await;
        self.metrics
            .verification_seconds
            .observe(&[], started.elapsed().as_secs_f64());
        if verdict.judgement == Judgement::Unreachable {
            self.metrics.registry_errors.inc(&["unreachable"]);
        }
        verdict
    }

    fn bad_request(&self, status: StatusCode, reason: &str, message: &str) -> Response<Body> {
        self.metrics.bad_requests.inc(&[reason]);
        vouch_server::log::warn(json!({
            "event": "bad-request",
            "status": status.as_u16(),
            "reason": reason,
            "message": message,
        }));
        text(status, message)
    }
}

/// A review's deadline: `configured`, or less when the API server gives the call less time
/// (`?timeout=` in Go's duration format), leaving a fifth of that time (0.2 s to 2 s) for the
/// answer to travel back.
pub fn deadline_for(configured: Duration, query: Option<&str>) -> Duration {
    let timeout = query
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("timeout="))
        .and_then(review::parse_go_duration);
    match timeout {
        Some(t) => {
            let margin = (t / 5).clamp(Duration::from_millis(200), Duration::from_secs(2));
            configured.min(t.saturating_sub(margin))
        }
        None => configured,
    }
}

/// The AdmissionReview answering `uid` with `decision`.
pub fn answer(uid: &str, decision: &Decision, mutating: bool) -> Value {
    let mut response = json!({"uid": uid, "allowed": decision.allowed});
    if !decision.allowed {
        response["status"] = json!({
            "code": 403,
            "reason": "Forbidden",
            "message": decision.message.clone().unwrap_or_else(|| "refused by vouch".into()),
        });
    }
    if !decision.warnings.is_empty() {
        response["warnings"] = json!(decision.warnings);
    }
    if mutating && decision.allowed && !decision.patch.is_empty() {
        let patch = serde_json::to_vec(&decision.patch).unwrap_or_default();
        response["patchType"] = "JSONPatch".into();
        response["patch"] = base64::engine::general_purpose::STANDARD
            .encode(patch)
            .into();
    }
    json!({"apiVersion": API_VERSION, "kind": KIND, "response": response})
}

impl vouch_server::Service for Admission {
    async fn call(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        let path = request.uri().path().to_string();
        match (request.method().clone(), path.as_str()) {
            (Method::POST, "/validate") => self.review(request, false).await,
            (Method::POST, "/mutate") => self.review(request, true).await,
            (Method::GET, "/healthz") => text(StatusCode::OK, "ok"),
            (Method::GET, "/readyz") => {
                if self.ready.load(Ordering::Relaxed) {
                    text(StatusCode::OK, "ready")
                } else {
                    text(StatusCode::SERVICE_UNAVAILABLE, "the policy is not loaded")
                }
            }
            (Method::GET, "/metrics") => {
                full(StatusCode::OK, CONTENT_TYPE, self.metrics.registry.render())
            }
            (_, "/validate" | "/mutate") => text(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST an admission.k8s.io/v1 AdmissionReview",
            ),
            (_, "/healthz" | "/readyz" | "/metrics") => {
                text(StatusCode::METHOD_NOT_ALLOWED, "use GET")
            }
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: vouch serves POST /validate, POST /mutate, GET /healthz, /readyz, /metrics",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_fits_the_api_servers_timeout() {
        let eight = Duration::from_secs(8);
        assert_eq!(deadline_for(eight, None), eight);
        assert_eq!(deadline_for(eight, Some("timeout=10s")), eight);
        assert_eq!(
            deadline_for(eight, Some("timeout=5s")),
            Duration::from_secs(4)
        );
        assert_eq!(deadline_for(eight, Some("x=1&timeout=30s")), eight);
        assert_eq!(
            deadline_for(eight, Some("timeout=1s")),
            Duration::from_millis(800)
        );
        assert_eq!(deadline_for(eight, Some("timeout=banana")), eight);
    }

    #[test]
    fn answers_are_admission_reviews_with_the_request_uid() {
        let refused = answer("u-1", &Decision::refuse("no"), true);
        assert_eq!(refused["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(refused["kind"], "AdmissionReview");
        assert_eq!(refused["response"]["uid"], "u-1");
        assert_eq!(refused["response"]["allowed"], false);
        assert_eq!(refused["response"]["status"]["code"], 403);
        assert!(refused["response"].get("patch").is_none());
        let mut pinned = Decision::allow();
        pinned
            .patch
            .push(json!({"op": "replace", "path": "/a", "value": "b"}));
        let allowed = answer("u-2", &pinned, true);
        assert_eq!(allowed["response"]["patchType"], "JSONPatch");
        let patch = base64::engine::general_purpose::STANDARD
            .decode(allowed["response"]["patch"].as_str().expect("patch"))
            .expect("base64");
        assert_eq!(
            serde_json::from_slice::<Value>(&patch).expect("json"),
            json!([{"op": "replace", "path": "/a", "value": "b"}])
        );
        // A validating answer never carries a patch.
        assert!(
            answer("u-3", &pinned, false)["response"]
                .get("patch")
                .is_none()
        );
    }
}
