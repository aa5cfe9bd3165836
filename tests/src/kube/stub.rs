//! A tiny HTTPS webhook stand-in for testing the harness's client and flows only: records
//! each request and answers with what the test's closure says. Not a model of vouch.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::tls::{TlsFiles, TlsOptions};

/// A request as the stub saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub version: http::Version,
    pub target: String,
    /// Names lowercased; HTTP/2's `:authority` added.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What to answer.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Answer {
    pub fn json(body: serde_json::Value) -> Answer {
        Answer {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: serde_json::to_vec(&body).expect("json"),
            delay: Duration::ZERO,
        }
    }
}

type Handler = dyn Fn(&Seen) -> Answer + Send + Sync;

pub struct Stub {
    pub addr: SocketAddr,
    pub tls: TlsFiles,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub connections: Arc<AtomicUsize>,
    /// Serves until the stub is dropped.
    _runtime: tokio::runtime::Runtime,
}

impl Stub {
    /// A stub with a certificate for `names`, offering `alpn`, answering with `handler`.
    pub fn start(
        names: &[&str],
        alpn: &[&[u8]],
        handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    ) -> Stub {
        let tls = TlsFiles::generate_with(TlsOptions {
            server_names: names.iter().map(|s| s.to_string()).collect(),
            expired: false,
        });
        let mut config = (*tls.server_config(false)).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let seen = Arc::clone(&seen);
            let connections = Arc::clone(&connections);
            runtime.spawn(async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let acceptor = acceptor.clone();
                    let seen = Arc::clone(&seen);
                    let handler = Arc::clone(&handler);
                    tokio::spawn(async move {
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                        let service =
                            service_fn(move |req: http::Request<hyper::body::Incoming>| {
                                let seen = Arc::clone(&seen);
                                let handler = Arc::clone(&handler);
                                async move {
                                    let version = req.version();
                                    let target = req
                                        .uri()
                                        .path_and_query()
                                        .map(|p| p.as_str().to_string())
                                        .unwrap_or_default();
                                    let mut headers: Vec<(String, String)> = req
                                        .headers()
                                        .iter()
                                        .map(|(k, v)| {
                                            (k.to_string(), v.to_str().unwrap_or("").to_string())
                                        })
                                        .collect();
                                    if let Some(a) = req.uri().authority() {
                                        headers.push((":authority".into(), a.to_string()));
                                    }
                                    let body = req
                                        .into_body()
                                        .collect()
                                        .await
                                        .map(|b| b.to_bytes().to_vec())
                                        .unwrap_or_default();
                                    let s = Seen {
                                        version,
                                        target,
                                        headers,
                                        body,
                                    };
                                    seen.lock().expect("lock").push(s.clone());
                                    let answer = handler(&s);
                                    tokio::time::sleep(answer.delay).await;
                                    let mut resp = http::Response::builder().status(answer.status);
                                    for (k, v) in answer.headers {
                                        resp = resp.header(k, v);
                                    }
                                    Ok::<_, std::convert::Infallible>(
                                        resp.body(Full::new(Bytes::from(answer.body)))
                                            .expect("response"),
                                    )
                                }
                            });
                        let io = TokioIo::new(stream);
                        if h2 {
                            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                .serve_connection(io, service)
                                .await;
                        } else {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, service)
                                .await;
                        }
                    });
                }
            });
        }
        Stub {
            addr,
            tls,
            seen,
            connections,
            _runtime: runtime,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// The uid of a review body.
pub fn uid_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("review JSON");
    v["request"]["uid"].as_str().expect("uid").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::client::{Alpn, Protocol, WebhookClient, WebhookConfig};
    use crate::kube::objects::{Kind, PodImages};
    use crate::kube::review::ReviewBuilder;
    use crate::kube::verdict::CallError;
    use base64::Engine as _;
    use serde_json::{Value, json};

    const SVC: &str = "vouch-webhook.vouch-system.svc";

    fn allow_all() -> impl Fn(&Seen) -> Answer + Send + Sync + 'static {
        |s: &Seen| {
            Answer::json(
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                "response": {"uid": uid_of(&s.body), "allowed": true}}),
            )
        }
    }

    /// Pins every container image without a digest to a made-up digest.
    fn pinner() -> impl Fn(&Seen) -> Answer + Send + Sync + 'static {
        |s: &Seen| {
            let review: Value = serde_json::from_slice(&s.body).expect("json");
            let object = &review["request"]["object"];
            let mut ops = Vec::new();
            for (i, c) in object["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let image = c["image"].as_str().unwrap_or_default();
                if !image.contains('@') {
                    ops.push(json!({"op": "replace", "path": format!("/spec/containers/{i}/image"),
                                    "value": format!("{image}@{}", crate::kube::objects::fake_digest(image))}));
                }
            }
            let mut response = json!({"uid": review["request"]["uid"], "allowed": true});
            if !ops.is_empty() {
                response["patchType"] = json!("JSONPatch");
                response["patch"] = json!(
                    base64::engine::general_purpose::STANDARD
                        .encode(serde_json::to_vec(&ops).expect("json"))
                );
            }
            Answer::json(
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                "response": response}),
            )
        }
    }

    fn pod_review() -> crate::kube::review::Review {
        ReviewBuilder::create(Kind::Pod.object("team-a", "web", &PodImages::containers(&["a:1"])))
            .build()
    }

    #[test]
    fn sends_what_kube_apiserver_sends() {
        let stub = Stub::start(&[SVC], &[b"h2", b"http/1.1"], allow_all());
        let client = WebhookClient::new(WebhookConfig::vouch_validating(
            stub.addr,
            stub.tls.ca_pem.as_bytes(),
        ));
        let review = pod_review();
        let outcome = client.send(&review);
        let v = outcome.allowed();
        assert_eq!(v.uid, review.uid);
        let x = outcome.exchange.as_ref().expect("exchange");
        assert_eq!(
            x.protocol,
            Protocol::Http11,
            "kube-apiserver offers http/1.1 only"
        );
        let seen = stub.seen();
        assert_eq!(seen.len(), 1);
        let s = &seen[0];
        assert_eq!(s.version, http::Version::HTTP_11);
        assert_eq!(s.target, "/validate?timeout=10s");
        let h = |name: &str| {
            s.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {name} header"))
        };
        assert_eq!(h("host"), "vouch-webhook.vouch-system.svc:443");
        assert_eq!(h("user-agent"), "kube-apiserver-admission");
        assert_eq!(h("accept"), "application/json, */*");
        assert_eq!(h("content-type"), "application/json");
        assert_eq!(h("accept-encoding"), "gzip");
        assert_eq!(h("content-length"), s.body.len().to_string());
        assert_eq!(s.body, review.to_bytes());
    }

    #[test]
    fn offers_h2_when_asked_and_falls_back_to_http11() {
        let h2 = Stub::start(&[SVC], &[b"h2", b"http/1.1"], allow_all());
        let client = WebhookClient::new(
            WebhookConfig::vouch_validating(h2.addr, h2.tls.ca_pem.as_bytes())
                .with_alpn(Alpn::H2AndHttp11),
        );
        let o = client.send(&pod_review());
        o.allowed();
        assert_eq!(
            o.exchange.as_ref().map(|x| x.protocol),
            Some(Protocol::Http2)
        );
        let s = &h2.seen()[0];
        assert_eq!(s.version, http::Version::HTTP_2);
        assert_eq!(s.target, "/validate?timeout=10s");
        assert!(
            s.headers
                .iter()
                .any(|(k, v)| k == ":authority" && v == "vouch-webhook.vouch-system.svc:443")
        );

        let h1 = Stub::start(&[SVC], &[b"http/1.1"], allow_all());
        let client = WebhookClient::new(
            WebhookConfig::vouch_validating(h1.addr, h1.tls.ca_pem.as_bytes())
                .with_alpn(Alpn::H2AndHttp11),
        );
        let o = client.send(&pod_review());
        assert_eq!(
            o.exchange.as_ref().map(|x| x.protocol),
            Some(Protocol::Http11)
        );
    }

    #[test]
    fn checks_the_certificate_against_the_ca_bundle_and_service_name() {
        let wrong_name = Stub::start(&["other.vouch-system.svc"], &[b"http/1.1"], allow_all());
        let client = WebhookClient::new(WebhookConfig::vouch_validating(
            wrong_name.addr,
            wrong_name.tls.ca_pem.as_bytes(),
        ));
        assert!(matches!(
            client.send(&pod_review()).result,
            Err(CallError::Tls(_))
        ));

        let good = Stub::start(&[SVC], &[b"http/1.1"], allow_all());
        let other_ca = crate::tls::TlsFiles::generate();
        let client = WebhookClient::new(WebhookConfig::vouch_validating(
            good.addr,
            other_ca.ca_pem.as_bytes(),
        ));
        assert!(matches!(
            client.send(&pod_review()).result,
            Err(CallError::Tls(_))
        ));

        // A URL webhook at an IP checks the IP SAN.
        let ip = Stub::start(&["127.0.0.1"], &[b"http/1.1"], allow_all());
        let client = WebhookClient::new(
            WebhookConfig::vouch_validating(ip.addr, ip.tls.ca_pem.as_bytes())
                .with_server_name("127.0.0.1"),
        );
        client.send(&pod_review()).allowed();
    }

    #[test]
    fn enforces_the_timeout() {
        let slow = Stub::start(&[SVC], &[b"http/1.1"], |s: &Seen| {
            let mut a = Answer::json(json!({"apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview", "response": {"uid": uid_of(&s.body), "allowed": true}}));
            a.delay = Duration::from_secs(5);
            a
        });
        let client = WebhookClient::new(
            WebhookConfig::vouch_validating(slow.addr, slow.tls.ca_pem.as_bytes())
                .with_timeout_seconds(1),
        );
        let o = client.send(&pod_review());
        assert!(
            matches!(o.result, Err(CallError::Timeout)),
            "{:?}",
            o.result
        );
        assert!(o.elapsed < Duration::from_secs(3), "{:?}", o.elapsed);
        assert_eq!(slow.seen()[0].target, "/validate?timeout=1s");
    }

    #[test]
    fn reads_gzip_answers_and_reuses_connections() {
        let stub = Stub::start(&[SVC], &[b"http/1.1"], |s: &Seen| {
            use std::io::Write as _;
            let body = serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview", "response": {"uid": uid_of(&s.body), "allowed": true}}))
            .expect("json");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&body).expect("gzip");
            Answer {
                status: 200,
                headers: vec![
                    ("content-type", "application/json".into()),
                    ("content-encoding", "gzip".into()),
                ],
                body: gz.finish().expect("gzip"),
                delay: Duration::ZERO,
            }
        });
        let client = WebhookClient::new(WebhookConfig::vouch_validating(
            stub.addr,
            stub.tls.ca_pem.as_bytes(),
        ));
        let first = client.send(&pod_review());
        first.allowed();
        let second = client.send(&pod_review());
        second.allowed();
        assert!(
            second
                .exchange
                .as_ref()
                .is_some_and(|x| x.reused_connection)
        );
        assert_eq!(stub.connections.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn concurrent_reviews_each_get_their_own_answer() {
        let stub = Stub::start(&[SVC], &[b"http/1.1"], allow_all());
        let client = WebhookClient::new(WebhookConfig::vouch_validating(
            stub.addr,
            stub.tls.ca_pem.as_bytes(),
        ));
        let reviews: Vec<_> = (0..40).map(|_| pod_review()).collect();
        let outcomes = client.send_concurrently(&reviews, 20);
        for (r, o) in reviews.iter().zip(&outcomes) {
            assert_eq!(o.allowed().uid, r.uid);
        }
        let n = stub.connections.load(Ordering::SeqCst);
        assert!((1..=20).contains(&n), "{n} connections");
    }

    #[test]
    fn error_statuses_and_wrong_uids_fail_the_call() {
        let stub = Stub::start(&[SVC], &[b"http/1.1"], |s: &Seen| {
            if s.body.windows(6).any(|w| w == b"broken") {
                Answer {
                    status: 500,
                    headers: vec![],
                    body: b"oops".to_vec(),
                    delay: Duration::ZERO,
                }
            } else {
                Answer::json(json!({"apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview", "response": {"uid": "not-it", "allowed": true}}))
            }
        });
        let client = WebhookClient::new(WebhookConfig::vouch_validating(
            stub.addr,
            stub.tls.ca_pem.as_bytes(),
        ));
        assert!(matches!(
            client.send(&pod_review()).result,
            Err(CallError::Invalid(_))
        ));
        let broken =
            ReviewBuilder::create(Kind::Pod.object("broken", "p", &PodImages::default())).build();
        assert!(matches!(
            client.send(&broken).result,
            Err(CallError::Status { code: 500, .. })
        ));
    }

    #[test]
    fn mutation_reinvocation_and_validation_flow() {
        let stub = Stub::start(&[SVC], &[b"http/1.1"], pinner());
        let ca = stub.tls.ca_pem.clone();
        let mutating = WebhookClient::new(WebhookConfig::vouch_mutating(stub.addr, ca.as_bytes()));
        let validating =
            WebhookClient::new(WebhookConfig::vouch_validating(stub.addr, ca.as_bytes()));
        let review = ReviewBuilder::create(Kind::Pod.object(
            "ns",
            "p",
            &PodImages::containers(&["a:1", "b:2"]),
        ))
        .build();

        let r = crate::kube::flow::mutate_with_reinvocation(&mutating, &review, |obj| {
            // A later webhook injects a sidecar with an unpinned image.
            let c = json!({"name": "sidecar", "image": "proxy:1"});
            obj["spec"]["containers"]
                .as_array_mut()
                .expect("containers")
                .push(c);
        })
        .expect("flow");
        assert!(r.first.verdict().changed);
        let second = r
            .second
            .as_ref()
            .expect("re-invoked because the object changed");
        assert_ne!(second.verdict().uid, r.first.verdict().uid);
        let images = crate::kube::objects::images_in(&r.object);
        assert_eq!(images.len(), 3);
        assert!(images.iter().all(|i| i.contains("@sha256:")), "{images:?}");

        // Idempotent: the pinned object sent again changes nothing.
        let again = mutating.send(&review.resend_with_object(r.object.clone()));
        assert!(!again.verdict().changed);

        let (m, v) = crate::kube::flow::admit(&mutating, &validating, &review);
        m.allowed();
        let v = v.expect("validating call");
        v.allowed();
        let seen = stub.seen();
        let last: Value = serde_json::from_slice(&seen.last().expect("seen").body).expect("json");
        assert_eq!(last["request"]["object"]["status"]["phase"], "Pending");
        assert!(seen.last().expect("seen").target.starts_with("/validate?"));
    }
}
