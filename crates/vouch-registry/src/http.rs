//! The HTTP transport under the registry client: TLS settings, plain HTTP only when allowed,
//! retries with backoff on 429/5xx/resets (honouring `Retry-After`), redirects followed by
//! hand so credentials never cross to another host, and the Basic/Bearer auth dance.
//! Nothing here logs a header, a token or a password.
//! vouch's own on top of reqwest: no client crate bounds sizes, honours `Retry-After` and keeps
//! credentials on their host the way a verifier must.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{
    AUTHORIZATION, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};
use zeroize::Zeroizing;

use crate::credentials::{CredentialSources, Credentials};
use crate::error::StoreError;
use crate::options::StoreOptions;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TOKEN_BYTES: usize = 64 * 1024;
const MAX_REDIRECTS: usize = 5;
/// A registry asking us to wait longer than this is treated as unavailable.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// The main message when an HTTPS request got a plain-HTTP answer.
const PLAIN_HTTP: &str = "the registry answered plain HTTP, not HTTPS; pass --allow-insecure-registry to use it over plain HTTP";
/// Added to TLS failures (an unknown CA, a self-signed certificate), never to DNS or
/// connection errors, which no flag fixes.
const INSECURE_HINT: &str = " (if this registry serves plain HTTP or a self-signed certificate, pass --allow-insecure-registry, or --registry-cacert for a private CA)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Https,
    Http,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// (registry, scope): tokens are per both.
type TokenKey = (String, String);
/// Serializes token fetches (or scheme probes) for one key.
type TokenGate = std::sync::Arc<tokio::sync::Mutex<()>>;

struct CachedToken {
    value: Zeroizing<String>,
    expires: Instant,
}

/// How a host wants to be authenticated, once it has told us.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AuthMode {
    Basic,
    Bearer,
}

/// One connection pool for every registry, with per-host caches.
pub struct Transport {
    client: reqwest::Client,
    allow_insecure: bool,
    retries: u32,
    debug: bool,
    credential_sources: CredentialSources,
    schemes: Mutex<HashMap<String, Scheme>>,
    tokens: Mutex<HashMap<(String, String), CachedToken>>,
    token_gates: Mutex<HashMap<TokenKey, TokenGate>>,
    probe_gates: Mutex<HashMap<String, TokenGate>>,
    without_referrers_api: Mutex<std::collections::HashSet<String>>,
    modes: Mutex<HashMap<String, AuthMode>>,
    credentials: Mutex<HashMap<String, Option<Credentials>>>,
}

/// A request about to be sent.
pub(crate) struct Request<'a> {
    /// Registry name for credentials and messages (`docker.io`, `host:port`).
    pub registry: &'a str,
    /// Token scope, e.g. `repository:app:pull`.
    pub scope: &'a str,
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
}

impl Transport {
    /// Builds the HTTP client from the TLS and network settings.
    pub fn new(options: &StoreOptions) -> Result<Transport, StoreError> {
        // Installing twice is harmless; the first provider wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let setup = StoreError::Setup;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(32)
            .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
            .tls_danger_accept_invalid_certs(options.allow_insecure);
        let mut roots = Vec::new();
        for path in &options.ca_certs {
            let pem = std::fs::read(path).map_err(|e| {
                setup(format!(
                    "--registry-cacert: cannot read CA file {}: {e}",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                setup(format!(
                    "--registry-cacert: {} is not a PEM certificate bundle: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(setup(format!(
                    "--registry-cacert: {} holds no certificate",
                    path.display()
                )));
            }
            roots.extend(certs);
        }
        if !roots.is_empty() {
            builder = builder.tls_certs_merge(roots);
        }
        if let Some((cert, key)) = &options.client_identity {
            let mut pem = std::fs::read(cert).map_err(|e| {
                setup(format!(
                    "--registry-client-cert: cannot read {}: {e}",
                    cert.display()
                ))
            })?;
            let key_pem = Zeroizing::new(std::fs::read(key).map_err(|e| {
                setup(format!(
                    "--registry-client-key: cannot read {}: {e}",
                    key.display()
                ))
            })?);
            pem.push(b'\n');
            pem.extend_from_slice(&key_pem);
            let pem = Zeroizing::new(pem);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|_| {
                setup(format!(
                    "--registry-client-cert/--registry-client-key: {} and {} are not a PEM certificate and private key",
                    cert.display(),
                    key.display()
                ))
            })?;
            builder = builder.identity(identity);
        }
        let client = builder.build().map_err(|e| {
            setup(format!(
                "cannot set up the HTTP client: {}",
                error_chain(&e)
            ))
        })?;
        Ok(Transport {
            client,
            allow_insecure: options.allow_insecure,
            retries: options.retries,
            debug: options.debug,
            credential_sources: options.credentials.clone(),
            schemes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            token_gates: Mutex::new(HashMap::new()),
            probe_gates: Mutex::new(HashMap::new()),
            without_referrers_api: Mutex::new(std::collections::HashSet::new()),
            modes: Mutex::new(HashMap::new()),
            credentials: Mutex::new(HashMap::new()),
        })
    }

    /// False once `host` answered that it has no Referrers API.
    pub(crate) fn may_have_referrers_api(&self, host: &str) -> bool {
        !lock(&self.without_referrers_api).contains(host)
    }

    /// Remembers that `host` has no Referrers API.
    pub(crate) fn no_referrers_api(&self, host: &str) {
        lock(&self.without_referrers_api).insert(host.to_string());
    }

    /// Whether `host` speaks HTTPS; plain HTTP only when insecure registries are allowed.
    pub(crate) async fn scheme(&self, registry: &str, host: &str) -> Result<Scheme, StoreError> {
        if !self.allow_insecure {
            // HTTPS is the only choice: no probe, one request saved per registry.
            return Ok(Scheme::Https);
        }
        if let Some(s) = lock(&self.schemes).get(host) {
            return Ok(*s);
        }
        // Concurrent first requests to a host wait for one probe.
        let gate = lock(&self.probe_gates)
            .entry(host.to_string())
            .or_default()
            .clone();
        let _turn = gate.lock().await;
        if let Some(s) = lock(&self.schemes).get(host) {
            return Ok(*s);
        }
        let probe = |scheme: Scheme, retries: u32| {
            let url = format!("{}://{host}/v2/", scheme.as_str());
            self.with_retries(registry, "GET /v2/", retries, move || {
                self.client.get(url.clone())
            })
        };
        // With plain HTTP allowed, a failed HTTPS probe falls through to HTTP at once.
        let https_retries = if self.allow_insecure { 0 } else { self.retries };
        let scheme = match probe(Scheme::Https, https_retries).await {
            Ok(_) => Scheme::Https,
            Err(https_err) if self.allow_insecure => {
                match probe(Scheme::Http, self.retries).await {
                    Ok(_) => Scheme::Http,
                    Err(http_err) => {
                        return Err(StoreError::Registry {
                            registry: registry.into(),
                            request: "GET /v2/".into(),
                            reason: format!(
                                "HTTPS failed ({}); plain HTTP failed too ({})",
                                reason_of(&https_err),
                                reason_of(&http_err)
                            ),
                        });
                    }
                }
            }
            Err(e) => {
                return Err(StoreError::Registry {
                    registry: registry.into(),
                    request: "GET /v2/".into(),
                    reason: format!("{}{INSECURE_HINT}", reason_of(&e)),
                });
            }
        };
        lock(&self.schemes).insert(host.to_string(), scheme);
        Ok(scheme)
    }

    fn credentials_for(&self, registry: &str) -> Result<Option<Credentials>, StoreError> {
        if let Some(c) = lock(&self.credentials).get(registry) {
            return Ok(c.clone());
        }
        let found = self
            .credential_sources
            .lookup(registry)
            .map_err(|e| StoreError::Registry {
                registry: registry.into(),
                request: "read credentials".into(),
                reason: e.to_string(),
            })?;
        lock(&self.credentials).insert(registry.to_string(), found.clone());
        Ok(found)
    }

    /// Sends a request: retries, manual redirects, and one answer to an auth challenge.
    pub(crate) async fn send(&self, req: Request<'_>) -> Result<reqwest::Response, StoreError> {
        let origin = origin_of(&req.url);
        let mut url = req.url.clone();
        let mut redirects = 0usize;
        let mut answered_challenge = false;
        let describe = |url: &str| format!("{} {}", req.method, path_of(url));
        loop {
            let same_origin = origin_of(&url) == origin;
            let auth = if same_origin {
                self.authorization(req.registry, req.scope)?
            } else {
                None
            };
            let response = self
                .with_retries(req.registry, &describe(&url), self.retries, || {
                    let mut b = self
                        .client
                        .request(req.method.clone(), url.clone())
                        .headers(req.headers.clone());
                    if let Some(a) = &auth {
                        b = b.header(AUTHORIZATION, a.clone());
                    }
                    if let Some(body) = &req.body {
                        b = b.body(body.clone());
                    }
                    b
                })
                .await
                .map_err(|e| {
                    let failure = if !self.allow_insecure && url.starts_with("https:") {
                        https_failure(&e)
                    } else {
                        HttpsFailure::Other
                    };
                    let mut err = e.into_store_error(req.registry, &describe(&url));
                    if let StoreError::Registry { reason, .. } = &mut err {
                        match failure {
                            HttpsFailure::PlainHttp => *reason = PLAIN_HTTP.into(),
                            HttpsFailure::Tls => reason.push_str(INSECURE_HINT),
                            HttpsFailure::Other => {}
                        }
                    }
                    err
                })?;
            let status = response.status();
            if status.is_redirection()
                && let Some(location) = response.headers().get(LOCATION)
            {
                redirects += 1;
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| Url::parse(&url).ok()?.join(l).ok())
                    .ok_or_else(|| {
                        registry_error(
                            req.registry,
                            &describe(&url),
                            "redirect with an unusable Location".into(),
                        )
                    })?;
                if redirects > MAX_REDIRECTS {
                    return Err(registry_error(
                        req.registry,
                        &describe(&req.url),
                        format!("more than {MAX_REDIRECTS} redirects (a redirect loop?)"),
                    ));
                }
                if next.scheme() == "http" && url.starts_with("https:") && !self.allow_insecure {
                    return Err(registry_error(
                        req.registry,
                        &describe(&url),
                        "redirect from HTTPS to plain HTTP refused (pass --allow-insecure-registry to allow it)".into(),
                    ));
                }
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(registry_error(
                        req.registry,
                        &describe(&url),
                        format!("redirect to a {} URL refused", next.scheme()),
                    ));
                }
                url = next.to_string();
                continue;
            }
            if status == StatusCode::UNAUTHORIZED && same_origin && !answered_challenge {
                answered_challenge = true;
                self.answer_challenge(&req, &response, &describe(&url))
                    .await?;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED {
                let creds = self.credentials_for(req.registry)?;
                let reason = if creds.is_some() {
                    "401 Unauthorized: the registry refused the stored credentials (check `vouch login` or your docker config)"
                } else {
                    "401 Unauthorized: the registry needs credentials (run `vouch login` or `docker login`)"
                };
                return Err(registry_error(req.registry, &describe(&url), reason.into()));
            }
            return Ok(response);
        }
    }

    fn authorization(
        &self,
        registry: &str,
        scope: &str,
    ) -> Result<Option<HeaderValue>, StoreError> {
        let mode = lock(&self.modes).get(registry).copied();
        let value = match mode {
            Some(AuthMode::Bearer) => {
                let tokens = lock(&self.tokens);
                match tokens.get(&(registry.to_string(), scope.to_string())) {
                    Some(t) if t.expires > Instant::now() => {
                        Some(Zeroizing::new(format!("Bearer {}", t.value.as_str())))
                    }
                    _ => None,
                }
            }
            Some(AuthMode::Basic) => self.credentials_for(registry)?.map(|c| c.basic_header()),
            None => None,
        };
        Ok(value.and_then(|v| {
            let mut header = HeaderValue::from_str(&v).ok()?;
            header.set_sensitive(true);
            Some(header)
        }))
    }

    async fn answer_challenge(
        &self,
        req: &Request<'_>,
        response: &reqwest::Response,
        request: &str,
    ) -> Result<(), StoreError> {
        // Every WWW-Authenticate value and every challenge in each (RFC 7235 §4.1).
        let challenge = choose_challenge(
            response
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let creds = self.credentials_for(req.registry)?;
        match challenge {
            Some(Challenge::Bearer { realm, service }) => {
                // Concurrent requests that met the same challenge wait for one token fetch.
                let key = (req.registry.to_string(), req.scope.to_string());
                let gate = lock(&self.token_gates).entry(key.clone()).or_default().clone();
                let _turn = gate.lock().await;
                if lock(&self.tokens)
                    .get(&key)
                    .is_some_and(|t| t.expires > Instant::now())
                {
                    lock(&self.modes).insert(req.registry.to_string(), AuthMode::Bearer);
                    return Ok(());
                }
                let (token, lifetime) = self
                    .fetch_token(req.registry, &realm, service.as_deref(), req.scope, creds.as_ref())
                    .await?;
                lock(&self.modes).insert(req.registry.to_string(), AuthMode::Bearer);
                lock(&self.tokens).insert(
                    (req.registry.to_string(), req.scope.to_string()),
                    CachedToken {
                        value: token,
                        // Renew a little early so a token never expires mid-request.
                        expires: Instant::now() + lifetime.saturating_sub(Duration::from_secs(5)),
                    },
                );
                Ok(())
            }
            Some(Challenge::Basic) if creds.is_some() => {
                if !self.allow_insecure && req.url.starts_with("http:") {
                    return Err(registry_error(
                        req.registry,
                        request,
                        "refusing to send a password over plain HTTP".into(),
                    ));
                }
                lock(&self.modes).insert(req.registry.to_string(), AuthMode::Basic);
                Ok(())
            }
            Some(Challenge::Basic) => Err(registry_error(
                req.registry,
                request,
                "401 Unauthorized: the registry needs credentials (run `vouch login` or `docker login`)".into(),
            )),
            None => Err(registry_error(
                req.registry,
                request,
                "401 Unauthorized with no usable WWW-Authenticate challenge".into(),
            )),
        }
    }

    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        creds: Option<&Credentials>,
    ) -> Result<(Zeroizing<String>, Duration), StoreError> {
        let request = "GET token";
        let err = |reason: String| registry_error(registry, request, reason);
        let mut url = Url::parse(realm).map_err(|e| err(format!("bad token realm: {e}")))?;
        if url.scheme() != "https" && !self.allow_insecure {
            return Err(err(
                "token realm is not HTTPS (pass --allow-insecure-registry to allow it)".into(),
            ));
        }
        let identity_token = creds.filter(|c| c.is_identity_token());
        let response = if let Some(c) = identity_token {
            // OAuth2 refresh-token grant, as docker does with identity tokens. The serializer
            // is not Send: it must be gone before the first await, so verification futures can
            // run on a multi-threaded server.
            let body = {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token");
                form.append_pair("refresh_token", c.secret.as_str());
                form.append_pair("client_id", "vouch");
                form.append_pair("scope", scope);
                if let Some(s) = service {
                    form.append_pair("service", s);
                }
                Zeroizing::new(form.finish())
            };
            self.with_retries(registry, request, self.retries, || {
                self.client
                    .post(url.clone())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.as_str().to_string())
            })
            .await
        } else {
            {
                let mut query = url.query_pairs_mut();
                if let Some(s) = service {
                    query.append_pair("service", s);
                }
                query.append_pair("scope", scope);
            }
            let basic = creds.map(|c| {
                let mut h = HeaderValue::from_str(&c.basic_header())
                    .unwrap_or(HeaderValue::from_static(""));
                h.set_sensitive(true);
                h
            });
            self.with_retries(registry, request, self.retries, || {
                let mut b = self.client.get(url.clone());
                if let Some(h) = &basic {
                    b = b.header(AUTHORIZATION, h.clone());
                }
                b
            })
            .await
        }
        .map_err(|e| e.into_store_error(registry, request))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(err(format!(
                "the token service refused {} ({status})",
                if creds.is_some() {
                    "the stored credentials"
                } else {
                    "anonymous access; run `vouch login`"
                }
            )));
        }
        if !status.is_success() {
            return Err(err(format!("token service answered {status}")));
        }
        let body = Zeroizing::new(
            read_bounded(response, MAX_TOKEN_BYTES)
                .await
                .map_err(|e| err(e.to_string()))?,
        );
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<Zeroizing<String>>,
            access_token: Option<Zeroizing<String>>,
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| err("token response is not JSON".into()))?;
        let lifetime = parsed
            .expires_in
            .map(|s| Duration::from_secs(s.clamp(10, 3600)))
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| err("token response has no token".into()))?;
        Ok((token, lifetime))
    }

    /// Sends with bounded retries: exponential backoff with jitter on resets and refused
    /// connections, 429 and 5xx (not timeouts); `Retry-After` is honoured up to a limit,
    /// which also bounds the sum of one request's waits.
    async fn with_retries<F>(
        &self,
        registry: &str,
        request: &str,
        retries: u32,
        build: F,
    ) -> Result<reqwest::Response, SendError>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        let mut attempt = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            let started = Instant::now();
            // reqwest puts the whole URL in its errors; a redirect target's query can hold
            // credentials (presigned CDN URLs), and messages carry only paths.
            let result = build().send().await.map_err(reqwest::Error::without_url);
            if self.debug {
                let outcome = match &result {
                    Ok(r) => r.status().to_string(),
                    Err(e) => format!("error: {}", error_chain(e)),
                };
                eprintln!(
                    "debug: {registry}: {request} -> {outcome} ({} ms)",
                    started.elapsed().as_millis()
                );
            }
            let retry_after = match &result {
                Ok(r) if is_retryable_status(r.status()) => Some(retry_after(r.headers())),
                Ok(_) => return result.map_err(SendError::Transport),
                Err(e) if is_transient(e) => Some(None),
                Err(_) => return result.map_err(SendError::Transport),
            };
            if attempt >= retries {
                return match result {
                    Ok(r) => Err(SendError::Status(r.status(), attempt + 1)),
                    Err(e) => Err(SendError::GaveUp(e, attempt + 1)),
                };
            }
            let delay = match retry_after.flatten() {
                Some(d) if d > MAX_RETRY_AFTER => {
                    return Err(SendError::RetryAfterTooLong(d));
                }
                Some(d) => d,
                None => backoff(attempt),
            };
            // One request's waits together stay under the cap too: a registry answering
            // 503 with `Retry-After: 59` every time would otherwise hold us for minutes.
            if waited + delay > MAX_RETRY_AFTER {
                return match result {
                    Ok(r) => Err(SendError::Status(r.status(), attempt + 1)),
                    Err(e) => Err(SendError::GaveUp(e, attempt + 1)),
                };
            }
            waited += delay;
            attempt += 1;
            tokio::time::sleep(delay).await;
        }
    }
}

/// How a send failed, before it is given registry context.
#[derive(Debug)]
pub(crate) enum SendError {
    Transport(reqwest::Error),
    GaveUp(reqwest::Error, u32),
    Status(StatusCode, u32),
    RetryAfterTooLong(Duration),
}

impl SendError {
    fn into_store_error(self, registry: &str, request: &str) -> StoreError {
        let reason = match self {
            SendError::Transport(e) => error_chain(&e),
            SendError::GaveUp(e, tries) => {
                format!("{} (gave up after {tries} attempts)", error_chain(&e))
            }
            SendError::Status(status, tries) => {
                format!("status {status} (gave up after {tries} attempts)")
            }
            SendError::RetryAfterTooLong(d) => format!(
                "the registry asked to retry after {} s, longer than vouch waits ({} s)",
                d.as_secs(),
                MAX_RETRY_AFTER.as_secs()
            ),
        };
        registry_error(registry, request, reason)
    }
}

/// What an HTTPS request's failure says about the registry's TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpsFailure {
    /// The answer was not TLS at all: a plain-HTTP registry.
    PlainHttp,
    /// TLS failed: a certificate vouch does not trust, or a handshake error.
    Tls,
    /// Anything else: DNS, a refused connection, a timeout, an HTTP status.
    Other,
}

fn https_failure(e: &SendError) -> HttpsFailure {
    let (SendError::Transport(e) | SendError::GaveUp(e, _)) = e else {
        return HttpsFailure::Other;
    };
    match find_tls_error(e) {
        // A TLS record whose first byte is `H` (of `HTTP/1.1 400`) is no record type.
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
            HttpsFailure::PlainHttp
        }
        Some(_) => HttpsFailure::Tls,
        None => HttpsFailure::Other,
    }
}

/// The rustls error somewhere in `e`'s causes. An io::Error's `source()` skips the error it
/// wraps (and hyper wraps io errors in io errors), so each one is opened too.
fn find_tls_error<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        && let Some(tls) = find_tls_error(inner)
    {
        return Some(tls);
    }
    e.source().and_then(find_tls_error)
}

fn reason_of(e: &SendError) -> String {
    match e {
        SendError::Transport(e) | SendError::GaveUp(e, _) => error_chain(e),
        SendError::Status(s, _) => format!("status {s}"),
        SendError::RetryAfterTooLong(d) => format!("Retry-After {} s", d.as_secs()),
    }
}

/// Resets and refusals may pass; TLS and protocol errors will not, and neither does our
/// own deadline running out: `--timeout` is what the user allows for a request, and a
/// registry that stalled for all of it is not retried (a stall would otherwise take
/// (retries + 1) × timeout).
fn is_transient(e: &reqwest::Error) -> bool {
    if e.is_timeout() {
        return false;
    }
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return false;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | BrokenPipe
                    | TimedOut
                    | UnexpectedEof
            ) && io
                .get_ref()
                .is_none_or(|inner| inner.downcast_ref::<rustls::Error>().is_none());
        }
        if s.to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        source = s.source();
    }
    false
}

fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// 200 ms, 400 ms, 800 ms, … capped at 5 s, with full jitter.
fn backoff(attempt: u32) -> Duration {
    let cap = (200u64 << attempt.min(5)).min(5000);
    let mut r = [0u8; 2];
    let _ = getrandom::fill(&mut r);
    let jitter = u64::from(u16::from_le_bytes(r)) % (cap / 2 + 1);
    Duration::from_millis(cap / 2 + jitter)
}

#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
    },
    Basic,
}

/// One challenge as written: its scheme and parameters (a token68 is kept as one nameless
/// parameter).
#[derive(Debug, PartialEq, Eq)]
struct RawChallenge {
    scheme: String,
    params: Vec<(String, String)>,
}

/// The challenge to answer among every one offered: Bearer with a realm (the token flow, which
/// also works without credentials), else Basic. Schemes vouch does not speak are skipped.
fn choose_challenge<'a>(headers: impl Iterator<Item = &'a str>) -> Option<Challenge> {
    let all: Vec<RawChallenge> = headers.flat_map(parse_challenges).collect();
    let bearer = all.iter().find_map(|c| {
        if !c.scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let param = |name: &str| {
            c.params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge::Bearer {
            realm: param("realm")?,
            service: param("service"),
        })
    });
    bearer.or_else(|| {
        all.iter()
            .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
            .then_some(Challenge::Basic)
    })
}

/// The challenge to answer in one `WWW-Authenticate` value.
#[cfg(test)]
fn parse_challenge(header: &str) -> Option<Challenge> {
    choose_challenge(std::iter::once(header))
}

/// Every challenge in one `WWW-Authenticate` value (RFC 7235 §2.1, §4.1):
/// `1#( auth-scheme [ 1*SP ( token68 / #auth-param ) ] )`. Commas separate both challenges and
/// parameters; a token not followed by `=` starts the next challenge. Malformed input ends the
/// list where it stops making sense.
fn parse_challenges(header: &str) -> Vec<RawChallenge> {
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let is_token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    let b: Vec<char> = header.chars().collect();
    let mut i = 0;
    let skip = |i: &mut usize, set: &dyn Fn(char) -> bool| {
        while *i < b.len() && set(b[*i]) {
            *i += 1;
        }
    };
    let mut out: Vec<RawChallenge> = Vec::new();
    loop {
        skip(&mut i, &|c| c == ',' || c == ' ' || c == '\t');
        let start = i;
        skip(&mut i, &is_tchar);
        if i == start {
            break;
        }
        let token: String = b[start..i].iter().collect();
        let after_token = i;
        skip(&mut i, &|c| c == ' ' || c == '\t');
        if i < b.len() && b[i] == '=' && !out.is_empty() {
            // auth-param = token BWS "=" BWS ( token / quoted-string )
            i += 1;
            skip(&mut i, &|c| c == ' ' || c == '\t');
            let mut value = String::new();
            if i < b.len() && b[i] == '"' {
                i += 1;
                let mut closed = false;
                while i < b.len() {
                    match b[i] {
                        '\\' if i + 1 < b.len() => {
                            value.push(b[i + 1]);
                            i += 2;
                        }
                        '"' => {
                            i += 1;
                            closed = true;
                            break;
                        }
                        c => {
                            value.push(c);
                            i += 1;
                        }
                    }
                }
                if !closed {
                    break;
                }
            } else {
                let v = i;
                skip(&mut i, &is_tchar);
                value = b[v..i].iter().collect();
            }
            if let Some(current) = out.last_mut() {
                current.params.push((token, value));
            }
            continue;
        }
        // A new challenge; a token68 may follow its scheme.
        i = after_token;
        let mut challenge = RawChallenge {
            scheme: token,
            params: Vec::new(),
        };
        let mut j = i;
        skip(&mut j, &|c| c == ' ');
        if j > i {
            let t = j;
            skip(&mut j, &is_token68);
            skip(&mut j, &|c| c == '=');
            let mut end = j;
            skip(&mut end, &|c| c == ' ' || c == '\t');
            let ends_here = end == b.len() || b[end] == ',';
            // A token68 runs to the end of the challenge: `realm="x"` is a parameter instead.
            if j > t && ends_here && !b[t..j].iter().all(|c| *c == '=') {
                challenge
                    .params
                    .push((String::new(), b[t..j].iter().collect()));
                i = end;
            }
        }
        out.push(challenge);
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum BoundedReadError {
    #[error("body larger than allowed")]
    TooLarge,
    #[error("{0}")]
    Transport(String),
}

/// Reads at most `max` bytes of body, refusing early on a larger Content-Length.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BoundedReadError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(BoundedReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BoundedReadError::Transport(error_chain(&e)))?
    {
        if body.len() + chunk.len() > max {
            return Err(BoundedReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(crate) fn registry_error(registry: &str, request: &str, reason: String) -> StoreError {
    StoreError::Registry {
        registry: registry.to_string(),
        request: request.to_string(),
        reason,
    }
}

fn origin_of(url: &str) -> Option<(String, String, Option<u16>)> {
    let u = Url::parse(url).ok()?;
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_string(),
        u.port_or_known_default(),
    ))
}

/// The path of a URL: what messages show (queries can carry upload state).
pub(crate) fn path_of(url: &str) -> String {
    Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| url.to_string())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned cache only means another task panicked mid-insert; the data is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The error and its causes on one line, e.g. "error sending request: connection refused".
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let Some(Challenge::Bearer { realm, service }) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        ) else {
            panic!("bearer")
        };
        assert_eq!(realm, "https://auth.docker.io/token");
        assert_eq!(service.as_deref(), Some("registry.docker.io"));
        assert!(matches!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        ));
        assert!(parse_challenge("Bearer service=\"x\"").is_none());
        assert!(parse_challenge("Negotiate").is_none());
    }

    #[test]
    fn reads_every_challenge_and_every_header_value() {
        // Two challenges in one value (RFC 7235 §4.1): Bearer is chosen over Basic either way.
        let both = r#"Basic realm="registry", Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull""#;
        assert_eq!(
            parse_challenge(both),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg".into()),
            })
        );
        let raw = parse_challenges(both);
        assert_eq!(raw.len(), 2);
        assert_eq!(raw[0].scheme, "Basic");
        assert_eq!(raw[1].params.len(), 3);
        // An unknown scheme first, with a token68, then Basic.
        let negotiate = parse_challenges("Negotiate abc123==, Basic realm=\"x\"");
        assert_eq!(negotiate.len(), 2);
        assert_eq!(
            negotiate[0].params,
            vec![(String::new(), "abc123==".to_string())]
        );
        assert_eq!(
            parse_challenge("Negotiate abc123==, Basic realm=\"x\""),
            Some(Challenge::Basic)
        );
        // Values of several headers: a Bearer without a realm is unusable, Basic is next.
        assert_eq!(
            choose_challenge(["Bearer service=\"x\"", "Basic realm=\"y\""].into_iter()),
            Some(Challenge::Basic)
        );
        assert_eq!(
            choose_challenge(["Basic", "bearer Realm=\"https://t/x\""].into_iter()),
            Some(Challenge::Bearer {
                realm: "https://t/x".into(),
                service: None
            })
        );
        // Quoted strings keep commas and escaped quotes; spaces around '=' are allowed.
        assert_eq!(
            parse_challenges(r#"Bearer realm = "a,b\"c", service=s"#)[0].params,
            vec![
                ("realm".to_string(), "a,b\"c".to_string()),
                ("service".to_string(), "s".to_string())
            ]
        );
        for nothing in ["", ",", "  ,, ", "\"unterminated"] {
            assert_eq!(
                choose_challenge(std::iter::once(nothing)),
                None,
                "{nothing:?}"
            );
        }
    }

    #[test]
    fn path_only_in_messages() {
        assert_eq!(
            path_of("https://h:5000/v2/app/blobs/uploads/abc?_state=secret&digest=x"),
            "/v2/app/blobs/uploads/abc"
        );
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a past date means now"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) <= Duration::from_millis(200));
        assert!(backoff(3) >= Duration::from_millis(800));
        assert!(backoff(30) <= Duration::from_secs(5));
    }
}
