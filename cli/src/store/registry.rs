//! A small client for the OCI distribution API: manifests and blobs, by digest or tag,
//! with bounded reads, digest checks and the bearer-token challenge.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{
    ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};

use super::{Fetched, Lookup, StoreError, StoreOptions, check_digest};
use crate::oci::MANIFEST_ACCEPT;
use crate::reference::Digest;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_TOKEN_BYTES: usize = 64 * 1024;
const MAX_ERROR_BODY: usize = 4 * 1024;
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    Http,
}

/// The shared HTTP client: one connection pool, per-host scheme and token caches.
pub struct RegistryClient {
    http: reqwest::Client,
    insecure_http: Option<reqwest::Client>,
    allow_insecure: bool,
    schemes: Mutex<HashMap<String, Scheme>>,
    tokens: Mutex<HashMap<(String, String), String>>,
}

impl RegistryClient {
    /// Builds the client (TLS with the system's roots).
    pub fn new(options: &StoreOptions) -> Result<RegistryClient, StoreError> {
        // Installing twice is harmless; the first provider wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let build = |accept_invalid: bool| {
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
                .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
                .tls_danger_accept_invalid_certs(accept_invalid)
                .build()
                .map_err(|e| StoreError::Registry {
                    registry: "-".into(),
                    request: "set up HTTP client".into(),
                    reason: error_chain(&e),
                })
        };
        Ok(RegistryClient {
            http: build(false)?,
            insecure_http: if options.allow_insecure {
                Some(build(true)?)
            } else {
                None
            },
            allow_insecure: options.allow_insecure,
            schemes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn client(&self) -> &reqwest::Client {
        self.insecure_http.as_ref().unwrap_or(&self.http)
    }

    /// Finds whether `host` speaks HTTPS; plain HTTP only when insecure registries are allowed.
    async fn scheme(&self, host: &str) -> Result<Scheme, StoreError> {
        if let Some(s) = lock(&self.schemes).get(host) {
            return Ok(*s);
        }
        let https = format!("https://{host}/v2/");
        let scheme = match self.client().get(&https).send().await {
            Ok(_) => Scheme::Https,
            Err(e) if self.allow_insecure && (e.is_connect() || e.is_request()) => {
                let http = format!("http://{host}/v2/");
                match self.client().get(&http).send().await {
                    Ok(_) => Scheme::Http,
                    Err(e2) => {
                        return Err(StoreError::Registry {
                            registry: host.into(),
                            request: "GET /v2/".into(),
                            reason: format!(
                                "HTTPS failed ({}); plain HTTP failed too ({})",
                                error_chain(&e),
                                error_chain(&e2)
                            ),
                        });
                    }
                }
            }
            Err(e) => {
                let hint = if self.allow_insecure {
                    String::new()
                } else {
                    " (if this registry serves plain HTTP, pass --allow-insecure-registry)"
                        .to_string()
                };
                return Err(StoreError::Registry {
                    registry: host.into(),
                    request: "GET /v2/".into(),
                    reason: format!("{}{hint}", error_chain(&e)),
                });
            }
        };
        lock(&self.schemes).insert(host.to_string(), scheme);
        Ok(scheme)
    }

    /// Sends a request, answering one bearer-token challenge if the registry asks.
    async fn send(
        &self,
        host: &str,
        scope: &str,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, StoreError> {
        let describe = || format!("{method} {}", path_of(url));
        let token_key = (host.to_string(), scope.to_string());
        let mut answered_challenge = false;
        loop {
            let mut request = self
                .client()
                .request(method.clone(), url)
                .headers(headers.clone());
            if let Some(token) = lock(&self.tokens).get(&token_key) {
                request = request.bearer_auth(token);
            }
            if let Some(b) = &body {
                request = request.body(b.clone());
            }
            let response = request.send().await.map_err(|e| StoreError::Registry {
                registry: host.into(),
                request: describe(),
                reason: error_chain(&e),
            })?;
            if response.status() != StatusCode::UNAUTHORIZED || answered_challenge {
                return Ok(response);
            }
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let Some(challenge) = challenge.as_deref().and_then(parse_bearer_challenge) else {
                return Err(StoreError::Registry {
                    registry: host.into(),
                    request: describe(),
                    reason: "401 Unauthorized: the registry needs credentials".into(),
                });
            };
            let token = self.fetch_token(host, &challenge, scope).await?;
            lock(&self.tokens).insert(token_key.clone(), token);
            answered_challenge = true;
        }
    }

    async fn fetch_token(
        &self,
        host: &str,
        challenge: &BearerChallenge,
        scope: &str,
    ) -> Result<String, StoreError> {
        let err = |reason: String| StoreError::Registry {
            registry: host.into(),
            request: format!("GET token from {}", challenge.realm),
            reason,
        };
        let mut realm = reqwest::Url::parse(&challenge.realm)
            .map_err(|e| err(format!("bad token realm: {e}")))?;
        if realm.scheme() != "https" && !self.allow_insecure {
            return Err(err(
                "token realm is not HTTPS (pass --allow-insecure-registry to allow it)".into(),
            ));
        }
        {
            let mut query = realm.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
        }
        let response = self
            .client()
            .get(realm)
            .send()
            .await
            .map_err(|e| err(error_chain(&e)))?;
        let status = response.status();
        let body = read_bounded(response, MAX_TOKEN_BYTES)
            .await
            .map_err(|e| err(e.to_string()))?;
        if !status.is_success() {
            return Err(err(format!("status {status}")));
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| err(format!("token response is not JSON: {e}")))?;
        parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| err("token response has no token".into()))
    }
}

/// One repository on one registry.
pub struct RegistryRepo {
    client: Arc<RegistryClient>,
    host: String,
    repository: String,
}

impl RegistryRepo {
    /// A handle; nothing is sent until used.
    pub fn new(client: Arc<RegistryClient>, host: String, repository: String) -> RegistryRepo {
        RegistryRepo {
            client,
            host,
            repository,
        }
    }

    async fn url(&self, suffix: &str) -> Result<String, StoreError> {
        let scheme = match self.client.scheme(&self.host).await? {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        Ok(format!(
            "{scheme}://{}/v2/{}/{suffix}",
            self.host, self.repository
        ))
    }

    fn pull_scope(&self) -> String {
        format!("repository:{}:pull", self.repository)
    }

    fn push_scope(&self) -> String {
        format!("repository:{}:pull,push", self.repository)
    }

    fn error(&self, request: String, reason: String) -> StoreError {
        StoreError::Registry {
            registry: self.host.clone(),
            request,
            reason,
        }
    }

    async fn status_error(&self, request: String, response: reqwest::Response) -> StoreError {
        let status = response.status();
        let body = read_bounded(response, MAX_ERROR_BODY)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        let reason = if body.is_empty() {
            format!("status {status}")
        } else {
            format!(
                "status {status}: {}",
                body.chars().take(300).collect::<String>()
            )
        };
        self.error(request, reason)
    }

    /// Fetches a manifest; `Ok(None)` on 404.
    pub async fn get_manifest(
        &self,
        lookup: Lookup<'_>,
        max: usize,
    ) -> Result<Option<Fetched>, StoreError> {
        let url = self.url(&format!("manifests/{lookup}")).await?;
        let request = format!("GET {}", path_of(&url));
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            MANIFEST_ACCEPT
                .parse()
                .map_err(|_| self.error(request.clone(), "bad header".into()))?,
        );
        let response = self
            .client
            .send(
                &self.host,
                &self.pull_scope(),
                Method::GET,
                &url,
                headers,
                None,
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(self.status_error(request, response).await);
        }
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let claimed = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let what = format!("manifest {}/{}:{lookup}", self.host, self.repository);
        let bytes = read_bounded(response, max).await.map_err(|e| match e {
            BoundedReadError::TooLarge => StoreError::TooLarge {
                what: what.clone(),
                limit: max,
            },
            BoundedReadError::Transport(reason) => self.error(request.clone(), reason),
        })?;
        let digest = Digest::of(&bytes);
        if let Lookup::Digest(expected) = lookup {
            check_digest(&what, expected, &bytes)?;
        }
        // A registry that lies in its digest header is not to be trusted with anything else.
        if let Some(claimed) = claimed
            && claimed != digest.to_string()
        {
            return Err(StoreError::DigestMismatch {
                what: format!("{what} (Docker-Content-Digest header)"),
                expected: claimed,
                actual: digest.to_string(),
            });
        }
        Ok(Some(Fetched {
            bytes,
            media_type,
            digest,
        }))
    }

    /// Fetches a blob, at most `max` bytes, checked against `digest`.
    pub async fn get_blob(&self, digest: &Digest, max: usize) -> Result<Vec<u8>, StoreError> {
        let url = self.url(&format!("blobs/{digest}")).await?;
        let request = format!("GET {}", path_of(&url));
        let what = format!("blob {}/{}@{digest}", self.host, self.repository);
        let response = self
            .client
            .send(
                &self.host,
                &self.pull_scope(),
                Method::GET,
                &url,
                HeaderMap::new(),
                None,
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(StoreError::NotFound(what));
        }
        if !response.status().is_success() {
            return Err(self.status_error(request, response).await);
        }
        let bytes = read_bounded(response, max).await.map_err(|e| match e {
            BoundedReadError::TooLarge => StoreError::TooLarge {
                what: what.clone(),
                limit: max,
            },
            BoundedReadError::Transport(reason) => self.error(request.clone(), reason),
        })?;
        check_digest(&what, digest, &bytes)?;
        Ok(bytes)
    }

    /// Uploads a blob unless the registry already has it.
    pub async fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let scope = self.push_scope();
        let head_url = self.url(&format!("blobs/{digest}")).await?;
        let head = self
            .client
            .send(
                &self.host,
                &scope,
                Method::HEAD,
                &head_url,
                HeaderMap::new(),
                None,
            )
            .await?;
        if head.status().is_success() {
            return Ok(digest);
        }
        let start_url = self.url("blobs/uploads/").await?;
        let request = format!("POST {}", path_of(&start_url));
        let started = self
            .client
            .send(
                &self.host,
                &scope,
                Method::POST,
                &start_url,
                HeaderMap::new(),
                Some(Vec::new()),
            )
            .await?;
        if started.status() != StatusCode::ACCEPTED {
            return Err(self.status_error(request, started).await);
        }
        let location = started
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.error(request.clone(), "upload started without a Location".into()))?
            .to_string();
        let mut upload = reqwest::Url::parse(&start_url)
            .and_then(|base| base.join(&location))
            .map_err(|e| self.error(request.clone(), format!("bad upload Location: {e}")))?;
        let base_host = reqwest::Url::parse(&start_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        if upload.host_str().map(str::to_string) != base_host {
            return Err(self.error(
                request,
                "upload Location points to another host; refusing to send it data".into(),
            ));
        }
        upload
            .query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let put_request = format!("PUT {}", path_of(upload.as_str()));
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(CONTENT_LENGTH, bytes.len().into());
        let finished = self
            .client
            .send(
                &self.host,
                &scope,
                Method::PUT,
                upload.as_str(),
                headers,
                Some(bytes.to_vec()),
            )
            .await?;
        if finished.status() != StatusCode::CREATED {
            return Err(self.status_error(put_request, finished).await);
        }
        Ok(digest)
    }

    /// Uploads a manifest under `tag`.
    pub async fn put_manifest(
        &self,
        tag: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let url = self.url(&format!("manifests/{tag}")).await?;
        let request = format!("PUT {}", path_of(&url));
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            media_type
                .parse()
                .map_err(|_| self.error(request.clone(), "bad media type".into()))?,
        );
        let response = self
            .client
            .send(
                &self.host,
                &self.push_scope(),
                Method::PUT,
                &url,
                headers,
                Some(bytes.to_vec()),
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(self.status_error(request, response).await);
        }
        Ok(digest)
    }
}

#[derive(Debug, thiserror::Error)]
enum BoundedReadError {
    #[error("body larger than allowed")]
    TooLarge,
    #[error("{0}")]
    Transport(String),
}

/// Reads at most `max` bytes of body, refusing early on a larger Content-Length.
async fn read_bounded(
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

#[derive(Debug, PartialEq)]
struct BearerChallenge {
    realm: String,
    service: Option<String>,
}

/// Parses `Bearer realm="…",service="…",scope="…"`.
fn parse_bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let rest = header.trim();
    let (scheme, params) = rest.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for (key, value) in parse_auth_params(params) {
        match key.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
    }
    Some(BearerChallenge {
        realm: realm?,
        service,
    })
}

fn parse_auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    _ => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
    out
}

fn path_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| url.to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned cache only means another task panicked mid-insert; the data is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The error and its causes on one line, e.g. "error sending request: connection refused".
fn error_chain(e: &dyn std::error::Error) -> String {
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
    fn parses_bearer_challenges() {
        let c = parse_bearer_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .expect("bearer");
        assert_eq!(c.realm, "https://auth.docker.io/token");
        assert_eq!(c.service.as_deref(), Some("registry.docker.io"));
        assert!(parse_bearer_challenge(r#"Basic realm="x""#).is_none());
        assert!(parse_bearer_challenge("Bearer service=\"x\"").is_none());
    }

    #[test]
    fn path_only_in_messages() {
        assert_eq!(
            path_of("https://h:5000/v2/app/blobs/uploads/abc?_state=secret&digest=x"),
            "/v2/app/blobs/uploads/abc"
        );
    }
}
