//! kube-apiserver's webhook client (k8s.io/apiserver/pkg/util/webhook/client.go and the
//! client-go REST client it builds): HTTPS to `<service>.<namespace>.svc` — that name is the
//! TLS server name and the name the certificate is checked for, against the `caBundle` alone —
//! dialled at the Service's endpoint; ALPN `http/1.1` only (kube-apiserver turns HTTP/2 off
//! for webhooks; [`Alpn::H2AndHttp11`] offers both, for servers that must speak HTTP/2 too);
//! `POST <path>?timeout=10s` (the remaining deadline rounded up to whole seconds, in Go's
//! duration format) with `User-Agent: kube-apiserver-admission`, `Accept: application/json,
//! */*`, `Content-Type: application/json` and Go's transport's `Accept-Encoding: gzip`;
//! keep-alive connections reused (up to 25 idle); the whole call bounded by the webhook's
//! `timeoutSeconds`. Answers are judged by [`super::verdict::check`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
use tokio::net::TcpStream;

use super::review::Review;
use super::verdict::{self, CallError, Sent, Verdict, WebhookIdentity};

/// kube-apiserver's webhook User-Agent (`setGlobalDefaults` in util/webhook/authentication.go).
pub const USER_AGENT: &str = "kube-apiserver-admission";
/// client-go's `idleConnsPerHost`.
pub const MAX_IDLE_CONNECTIONS: usize = 25;
/// A bound on answers the harness reads (client-go reads without one).
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Which protocols the client offers in ALPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alpn {
    /// `http/1.1` only, as kube-apiserver does for webhooks (kubernetes issue 75791).
    KubeApiserver,
    /// `h2` then `http/1.1`, as Go clients do by default.
    H2AndHttp11,
}

/// The protocol a connection settled on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1.
    Http11,
    /// HTTP/2.
    Http2,
}

/// One webhook as a `ValidatingWebhookConfiguration`/`MutatingWebhookConfiguration` entry
/// describes it, plus where its Service resolves to on this machine.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// The webhook's name, and whether it is mutating.
    pub identity: WebhookIdentity,
    /// The TLS server name and Host: `<service>.<namespace>.svc` (or a URL's host).
    pub server_name: String,
    /// The Service port (Host header), 443 by default.
    pub service_port: u16,
    /// `clientConfig.service.path`.
    pub path: String,
    /// The endpoint the Service resolves to (a loopback address here).
    pub endpoint: SocketAddr,
    /// `clientConfig.caBundle`, PEM.
    pub ca_bundle: Vec<u8>,
    /// `timeoutSeconds` (default 10, at most 30).
    pub timeout_seconds: u64,
    /// The API request's own remaining time, when shorter than `timeoutSeconds`.
    pub request_deadline: Option<Duration>,
    /// ALPN offer.
    pub alpn: Alpn,
}

impl WebhookConfig {
    /// A webhook reached through Service `service` in `namespace` at `path`, served at
    /// `endpoint`, trusting `ca_bundle`: 10 s timeout, port 443, ALPN as kube-apiserver.
    pub fn service(
        identity: WebhookIdentity,
        service: &str,
        namespace: &str,
        path: &str,
        endpoint: SocketAddr,
        ca_bundle: &[u8],
    ) -> WebhookConfig {
        WebhookConfig {
            identity,
            server_name: format!("{service}.{namespace}.svc"),
            service_port: 443,
            path: path.to_string(),
            endpoint,
            ca_bundle: ca_bundle.to_vec(),
            timeout_seconds: 10,
            request_deadline: None,
            alpn: Alpn::KubeApiserver,
        }
    }

    /// vouch's validating webhook as deploy/kubernetes configures it (`validate.vouch.dev`,
    /// Service `vouch-webhook` in `vouch-system`, path `/validate`).
    pub fn vouch_validating(endpoint: SocketAddr, ca_bundle: &[u8]) -> WebhookConfig {
        WebhookConfig::service(
            WebhookIdentity {
                name: "validate.vouch.dev".into(),
                mutating: false,
            },
            "vouch-webhook",
            "vouch-system",
            "/validate",
            endpoint,
            ca_bundle,
        )
    }

    /// vouch's mutating webhook (`mutate.vouch.dev`, path `/mutate`).
    pub fn vouch_mutating(endpoint: SocketAddr, ca_bundle: &[u8]) -> WebhookConfig {
        WebhookConfig::service(
            WebhookIdentity {
                name: "mutate.vouch.dev".into(),
                mutating: true,
            },
            "vouch-webhook",
            "vouch-system",
            "/mutate",
            endpoint,
            ca_bundle,
        )
    }

    /// With another ALPN offer.
    pub fn with_alpn(mut self, alpn: Alpn) -> WebhookConfig {
        self.alpn = alpn;
        self
    }

    /// With another `timeoutSeconds`.
    pub fn with_timeout_seconds(mut self, seconds: u64) -> WebhookConfig {
        self.timeout_seconds = seconds;
        self
    }

    /// With the TLS server name a `clientConfig.url` host would give (an IP checks IP SANs).
    pub fn with_server_name(mut self, name: &str) -> WebhookConfig {
        self.server_name = name.to_string();
        self
    }

    /// The time the API server gives one call.
    pub fn call_timeout(&self) -> Duration {
        let hook = Duration::from_secs(self.timeout_seconds);
        self.request_deadline.map_or(hook, |d| d.min(hook))
    }

    /// `Host` / `:authority`: `JoinHostPort(serverName, port)`; Go keeps `:443`.
    pub fn authority(&self) -> String {
        if self.server_name.contains(':') {
            format!("[{}]:{}", self.server_name, self.service_port)
        } else {
            format!("{}:{}", self.server_name, self.service_port)
        }
    }
}

/// What went over the wire for one call.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The protocol used.
    pub protocol: Protocol,
    /// The request target sent (`/validate?timeout=10s`).
    pub target: String,
    /// Response status.
    pub status: u16,
    /// Response headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// Response body, gunzipped when the server used gzip.
    pub body: Vec<u8>,
    /// From the start of the call to the end of the body.
    pub elapsed: Duration,
    /// Whether the call went over a reused connection.
    pub reused_connection: bool,
}

impl Exchange {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One review's outcome: the exchange (when an answer came) and the API server's verdict.
#[derive(Debug)]
pub struct Outcome {
    /// The raw exchange, if the call got an answer.
    pub exchange: Option<Exchange>,
    /// The verdict, or why the API server would count the call as failed.
    pub result: Result<Verdict, CallError>,
    /// From the start of the call to the verdict.
    pub elapsed: Duration,
}

impl Outcome {
    /// The verdict; panics with the call error otherwise.
    #[track_caller]
    pub fn verdict(&self) -> &Verdict {
        match &self.result {
            Ok(v) => v,
            Err(e) => panic!(
                "the API server would not accept this answer: {e}\n--- body\n{}",
                self.exchange
                    .as_ref()
                    .map(|x| String::from_utf8_lossy(&x.body).into_owned())
                    .unwrap_or_default()
            ),
        }
    }

    /// The verdict of an allowed review; panics otherwise.
    #[track_caller]
    pub fn allowed(&self) -> &Verdict {
        let v = self.verdict();
        assert!(v.allowed, "refused: {:?}", v.refusal);
        v
    }

    /// The refusal of a refused review; panics otherwise.
    #[track_caller]
    pub fn refused(&self) -> &verdict::Refusal {
        let v = self.verdict();
        v.refusal.as_ref().expect("the review was allowed")
    }
}

/// A webhook client with its own runtime and connection pool. Blocking calls.
pub struct WebhookClient {
    config: WebhookConfig,
    tls: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    runtime: tokio::runtime::Runtime,
    pool: Arc<Mutex<Pool>>,
}

#[derive(Default)]
struct Pool {
    idle: Vec<http1::SendRequest<Full<Bytes>>>,
    h2: Option<http2::SendRequest<Full<Bytes>>>,
}

enum Conn {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl WebhookClient {
    /// A client for `config`; panics on a caBundle without certificates or a bad name.
    pub fn new(config: WebhookConfig) -> WebhookClient {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&config.ca_bundle) {
            roots
                .add(cert.expect("caBundle PEM"))
                .expect("caBundle certificate");
        }
        assert!(!roots.is_empty(), "caBundle holds no certificate");
        let mut tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = match config.alpn {
            Alpn::KubeApiserver => vec![b"http/1.1".to_vec()],
            Alpn::H2AndHttp11 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        };
        let server_name =
            ServerName::try_from(config.server_name.clone()).expect("a valid server name");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        WebhookClient {
            config,
            tls: Arc::new(tls),
            server_name,
            runtime,
            pool: Arc::new(Mutex::new(Pool::default())),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Sends `review` and judges the answer.
    pub fn send(&self, review: &Review) -> Outcome {
        self.runtime.block_on(self.call(review))
    }

    /// Sends `body` as the review body (malformed or huge bodies); the answer is judged as
    /// if `review` had been sent.
    pub fn send_body(&self, review: &Review, body: Vec<u8>) -> Outcome {
        self.runtime.block_on(self.call_with_body(review, body))
    }

    /// Sends every review, at most `concurrency` at once, and returns the outcomes in order.
    pub fn send_concurrently(&self, reviews: &[Review], concurrency: usize) -> Vec<Outcome> {
        self.runtime.block_on(async {
            let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
            let mut tasks = Vec::with_capacity(reviews.len());
            for review in reviews {
                let permit = Arc::clone(&sem);
                let me = self.handle();
                let review = review.clone();
                tasks.push(tokio::spawn(async move {
                    let _p = permit.acquire_owned().await.expect("semaphore");
                    me.call(&review).await
                }));
            }
            let mut out = Vec::with_capacity(tasks.len());
            for t in tasks {
                out.push(t.await.expect("review task"));
            }
            out
        })
    }

    fn handle(&self) -> Handle {
        Handle {
            config: self.config.clone(),
            tls: Arc::clone(&self.tls),
            server_name: self.server_name.clone(),
            pool: Arc::clone(&self.pool),
        }
    }

    async fn call(&self, review: &Review) -> Outcome {
        self.handle().call(review).await
    }

    async fn call_with_body(&self, review: &Review, body: Vec<u8>) -> Outcome {
        self.handle().call_with_body(review, body).await
    }
}

/// The shareable part of a client, moved into concurrent tasks.
#[derive(Clone)]
struct Handle {
    config: WebhookConfig,
    tls: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    pool: Arc<Mutex<Pool>>,
}

impl Handle {
    async fn call(&self, review: &Review) -> Outcome {
        self.call_with_body(review, review.to_bytes()).await
    }

    async fn call_with_body(&self, review: &Review, body: Vec<u8>) -> Outcome {
        let start = Instant::now();
        let deadline = start + self.config.call_timeout();
        let exchange = tokio::time::timeout_at(
            deadline.into(),
            self.exchange(Bytes::from(body), deadline, start),
        )
        .await
        .unwrap_or(Err(CallError::Timeout));
        let (exchange, result) = match exchange {
            Ok(x) => {
                let result = verdict::check(
                    &Sent::of(review),
                    &self.config.identity,
                    x.status,
                    x.header("content-type"),
                    &x.body,
                );
                (Some(x), result)
            }
            Err(e) => (None, Err(e)),
        };
        Outcome {
            exchange,
            result,
            elapsed: start.elapsed(),
        }
    }

    async fn exchange(
        &self,
        body: Bytes,
        deadline: Instant,
        start: Instant,
    ) -> Result<Exchange, CallError> {
        let target = format!(
            "{}?timeout={}",
            clean_path(&self.config.path),
            go_duration_rounded_up(deadline.saturating_duration_since(Instant::now()))
        );
        let (mut conn, mut reused) = self.checkout().await?;
        let response = loop {
            let request = self.request(&conn, &target, body.clone());
            let sent = match &mut conn {
                Conn::H1(s) => s.try_send_request(request).await,
                Conn::H2(s) => s.try_send_request(request).await,
            };
            match sent {
                Ok(r) => break r,
                // A reused connection the server had closed, before anything was written:
                // Go's transport retries such a request on a new connection.
                Err(e) if reused && e.message().is_some() => {
                    conn = self.connect().await?;
                    reused = false;
                }
                Err(e) => return Err(CallError::Http(e.into_error().to_string())),
            }
        };
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let gzip = response
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let raw = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| CallError::Http(format!("reading the answer: {e}")))?
            .to_bytes();
        let body = if gzip {
            use std::io::Read as _;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .take(MAX_ANSWER_BYTES as u64)
                .read_to_end(&mut out)
                .map_err(|e| CallError::Http(format!("gzip: {e}")))?;
            out
        } else {
            raw.to_vec()
        };
        let protocol = match &conn {
            Conn::H1(_) => Protocol::Http11,
            Conn::H2(_) => Protocol::Http2,
        };
        self.checkin(conn);
        Ok(Exchange {
            protocol,
            target,
            status,
            headers,
            body,
            elapsed: start.elapsed(),
            reused_connection: reused,
        })
    }

    fn request(&self, conn: &Conn, target: &str, body: Bytes) -> http::Request<Full<Bytes>> {
        let authority = self.config.authority();
        let len = body.len();
        let builder = match conn {
            // Go writes Host and User-Agent first, then Content-Length, the other headers
            // sorted, and the transport's Accept-Encoding last.
            Conn::H1(_) => http::Request::post(target)
                .version(http::Version::HTTP_11)
                .header(http::header::HOST, &authority),
            Conn::H2(_) => http::Request::post(format!("https://{authority}{target}"))
                .version(http::Version::HTTP_2),
        };
        builder
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::CONTENT_LENGTH, len)
            .header(http::header::ACCEPT, "application/json, */*")
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT_ENCODING, "gzip")
            .body(Full::new(body))
            .expect("a valid request")
    }

    async fn checkout(&self) -> Result<(Conn, bool), CallError> {
        loop {
            let pooled = {
                let mut pool = self.pool.lock().expect("pool lock");
                if let Some(h2) = &pool.h2 {
                    if h2.is_closed() {
                        pool.h2 = None;
                        None
                    } else {
                        Some(Conn::H2(h2.clone()))
                    }
                } else {
                    pool.idle.pop().map(Conn::H1)
                }
            };
            match pooled {
                Some(Conn::H1(mut s)) => {
                    if !s.is_closed() && s.ready().await.is_ok() {
                        return Ok((Conn::H1(s), true));
                    }
                }
                Some(Conn::H2(mut s)) => {
                    if s.ready().await.is_ok() {
                        return Ok((Conn::H2(s), true));
                    }
                    self.pool.lock().expect("pool lock").h2 = None;
                }
                None => return Ok((self.connect().await?, false)),
            }
        }
    }

    fn checkin(&self, conn: Conn) {
        let mut pool = self.pool.lock().expect("pool lock");
        match conn {
            Conn::H1(s) => {
                if !s.is_closed() && pool.idle.len() < MAX_IDLE_CONNECTIONS {
                    pool.idle.push(s);
                }
            }
            Conn::H2(s) => {
                if !s.is_closed() && pool.h2.is_none() {
                    pool.h2 = Some(s);
                }
            }
        }
    }

    async fn connect(&self) -> Result<Conn, CallError> {
        let tcp = TcpStream::connect(self.config.endpoint)
            .await
            .map_err(|e| CallError::Connect(e.to_string()))?;
        tcp.set_nodelay(true)
            .map_err(|e| CallError::Connect(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| CallError::Tls(e.to_string()))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        if h2 {
            let (send, conn) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(|e| CallError::Http(e.to_string()))?;
            tokio::spawn(conn);
            let mut pool = self.pool.lock().expect("pool lock");
            if pool.h2.is_none() {
                pool.h2 = Some(send.clone());
            }
            Ok(Conn::H2(send))
        } else {
            let (send, conn) = http1::Builder::new()
                .title_case_headers(true)
                .handshake(io)
                .await
                .map_err(|e| CallError::Http(e.to_string()))?;
            tokio::spawn(conn);
            Ok(Conn::H1(send))
        }
    }
}

/// `path.Join("/", p)`: rooted, `.`/`..` resolved, no doubled or trailing slashes.
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The `timeout` query value: `d` rounded up to a whole second, written as Go's
/// `Duration.String` writes it (`10s`, `1m30s`, `1h0m0s`).
pub fn go_duration_rounded_up(d: Duration) -> String {
    let mut secs = d.as_secs();
    if d.subsec_nanos() > 0 {
        secs += 1;
    }
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_parameter_is_rounded_up_go_style() {
        assert_eq!(go_duration_rounded_up(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration_rounded_up(Duration::from_millis(9_999)), "10s");
        assert_eq!(go_duration_rounded_up(Duration::from_millis(4_001)), "5s");
        assert_eq!(go_duration_rounded_up(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration_rounded_up(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration_rounded_up(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn paths_are_joined_like_path_join() {
        assert_eq!(clean_path("/validate"), "/validate");
        assert_eq!(clean_path("validate/"), "/validate");
        assert_eq!(clean_path("//a/./b/../c"), "/a/c");
        assert_eq!(clean_path(""), "/");
    }
}
