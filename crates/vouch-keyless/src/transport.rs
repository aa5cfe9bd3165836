//! HTTP to the Sigstore services: HTTPS only unless plain HTTP is allowed (local instances),
//! a connect timeout and a whole-request timeout, bodies read up to a bound, and retries only
//! on answers that say "try again" (429, 502, 503, 504) or a failed connection. Every request
//! here is safe to repeat: a second certificate or timestamp is harmless, and Rekor answers a
//! repeated entry with 409 and where the first one is. Errors name the URL without its query
//! and never carry a header, so a bearer token cannot leak through them.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};

use crate::error::{KeylessError, Service};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A service asking to wait longer than this is treated as unreachable.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Error messages quoted from a service are cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 512;

/// How the services are reached.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// Allow `http://` service URLs (a local or test instance). Off by default.
    pub allow_http: bool,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Retries after a failed connection or a 429/502/503/504 answer.
    pub retries: u32,
    /// Extra CA certificates (PEM) for a private instance's TLS.
    pub ca_certificates_pem: Option<Vec<u8>>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            allow_http: false,
            timeout: Duration::from_secs(30),
            retries: 2,
            ca_certificates_pem: None,
        }
    }
}

/// A request body and its media type.
pub(crate) struct Body<'a> {
    pub(crate) content_type: &'a str,
    pub(crate) bytes: Vec<u8>,
}

/// What a service answered.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
    pub(crate) location: Option<String>,
}

impl Answer {
    /// The service's own error message: `message` of a JSON error (Fulcio, Rekor), else the
    /// start of the body as text, bounded and with control characters removed.
    pub(crate) fn message(&self) -> String {
        let text = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned());
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_MESSAGE_CHARS)
            .collect();
        let clean = clean.trim();
        if clean.is_empty() {
            self.status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        } else {
            clean.to_string()
        }
    }
}

/// The HTTP client for one signing run.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    options: TransportOptions,
}

/// `scheme://host[:port]/path`, without query or fragment (which may carry secrets).
pub(crate) fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !out.contains(&next) {
            out.push_str(": ");
            out.push_str(&next);
        }
        source = s.source();
    }
    out
}

impl Http {
    pub(crate) fn new(options: &TransportOptions) -> Result<Http, KeylessError> {
        // Installing twice is harmless; the first provider wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!options.allow_http)
            .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &options.ca_certificates_pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| KeylessError::Config {
                    reason: format!("the CA certificates are not a PEM bundle: {e}"),
                })?;
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| KeylessError::Config {
            reason: format!("cannot set up the HTTP client: {}", error_chain(&e)),
        })?;
        Ok(Http {
            client,
            options: options.clone(),
        })
    }

    /// Refuses a URL this client may not use (plain HTTP unless allowed; no other scheme).
    pub(crate) fn check_url(&self, what: &str, url: &Url) -> Result<(), KeylessError> {
        check_url(what, url, self.options.allow_http)
    }

    /// Sends a request, retrying where safe, and reads at most `limit` bytes of the answer.
    /// Server errors that persist are [`KeylessError::Unreachable`]; other statuses are
    /// returned for the caller to judge.
    pub(crate) async fn send(
        &self,
        service: Service,
        method: Method,
        url: &Url,
        bearer: Option<&str>,
        body: Option<Body<'_>>,
        limit: usize,
    ) -> Result<Answer, KeylessError> {
        self.check_url(&service.to_string(), url)?;
        let shown = display_url(url);
        let unreachable = |reason: String| KeylessError::Unreachable {
            service,
            url: shown.clone(),
            reason,
        };
        // A CI token endpoint's answer may carry a token: never quoted.
        let quote = |answer: &Answer| {
            if service == Service::TokenEndpoint {
                answer
                    .status
                    .canonical_reason()
                    .unwrap_or_default()
                    .to_string()
            } else {
                answer.message()
            }
        };
        let mut attempt = 0u32;
        loop {
            let mut request = self.client.request(method.clone(), url.clone());
            if let Some(token) = bearer {
                let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| KeylessError::MalformedToken {
                        reason: "it holds characters no HTTP header may carry".into(),
                    })?;
                value.set_sensitive(true);
                request = request.header(AUTHORIZATION, value);
            }
            if let Some(b) = &body {
                request = request
                    .header(CONTENT_TYPE, b.content_type)
                    .body(b.bytes.clone());
            }
            let retry_wait = backoff(attempt);
            match request.send().await {
                Err(e) => {
                    let transient = e.is_connect() || e.is_timeout();
                    let reason = error_chain(&e.without_url());
                    if attempt < self.options.retries && transient {
                        attempt += 1;
                        tokio::time::sleep(retry_wait).await;
                        continue;
                    }
                    return Err(unreachable(reason));
                }
                Ok(mut response) => {
                    let status = response.status();
                    if is_retryable(status) {
                        let wait = retry_after(&response).unwrap_or(retry_wait);
                        if attempt < self.options.retries && wait <= MAX_RETRY_AFTER {
                            attempt += 1;
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        let body = read_bounded(&mut response, 4096).await.unwrap_or_default();
                        let answer = Answer {
                            status,
                            body,
                            location: None,
                        };
                        return Err(unreachable(format!(
                            "answered HTTP {} after {} attempt(s): {}",
                            status.as_u16(),
                            attempt + 1,
                            quote(&answer)
                        )));
                    }
                    if status.is_server_error() {
                        let body = read_bounded(&mut response, 4096).await.unwrap_or_default();
                        let answer = Answer {
                            status,
                            body,
                            location: None,
                        };
                        return Err(unreachable(format!(
                            "answered HTTP {}: {}",
                            status.as_u16(),
                            quote(&answer)
                        )));
                    }
                    let location = response
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = read_bounded(&mut response, limit)
                        .await
                        .map_err(|e| match e {
                            ReadError::TooLarge => KeylessError::BadAnswer {
                                service,
                                reason: format!("the answer is larger than {limit} bytes"),
                            },
                            ReadError::Transport(reason) => unreachable(reason),
                        })?;
                    return Ok(Answer {
                        status,
                        body,
                        location,
                    });
                }
            }
        }
    }
}

/// `path` under the service's base URL, whether or not the base ends with a slash
/// (`https://host/prefix` + `api/v1/x` is `https://host/prefix/api/v1/x`).
pub(crate) fn endpoint(base: &Url, path: &str) -> Result<Url, KeylessError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.set_query(None);
    base.join(path).map_err(|e| KeylessError::Config {
        reason: format!("{}: {e}", display_url(&base)),
    })
}

pub(crate) fn check_url(what: &str, url: &Url, allow_http: bool) -> Result<(), KeylessError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" => Err(KeylessError::Config {
            reason: format!(
                "{what} URL {} is plain HTTP; only HTTPS is used unless plain HTTP is explicitly allowed for a local instance",
                display_url(url)
            ),
        }),
        other => Err(KeylessError::Config {
            reason: format!(
                "{what} URL {} has scheme {other:?}; expected https",
                display_url(url)
            ),
        }),
    }
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(4))
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

enum ReadError {
    TooLarge,
    Transport(String),
}

async fn read_bounded(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(ReadError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(ReadError::Transport(error_chain(&e.without_url()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_lose_query_and_credentials() {
        let url =
            Url::parse("https://user:pw@example.com/api/v1/x?token=secret#frag").expect("url");
        assert_eq!(display_url(&url), "https://example.com/api/v1/x");
    }

    #[test]
    fn endpoints_keep_the_base_path() {
        let at = |base: &str| {
            endpoint(&Url::parse(base).expect("url"), "api/v1/log/entries")
                .expect("join")
                .to_string()
        };
        assert_eq!(
            at("https://rekor.example"),
            "https://rekor.example/api/v1/log/entries"
        );
        assert_eq!(
            at("https://example.com/rekor"),
            "https://example.com/rekor/api/v1/log/entries"
        );
        assert_eq!(
            at("https://example.com/rekor/"),
            "https://example.com/rekor/api/v1/log/entries"
        );
    }

    #[test]
    fn plain_http_only_when_allowed() {
        let http = Url::parse("http://127.0.0.1:1/").expect("url");
        assert!(check_url("Fulcio", &http, true).is_ok());
        let err = check_url("Fulcio", &http, false).expect_err("refused");
        assert!(err.to_string().contains("plain HTTP"), "{err}");
        let ftp = Url::parse("ftp://example.com/").expect("url");
        assert!(check_url("Rekor", &ftp, true).is_err());
    }

    #[test]
    fn messages_are_bounded_and_clean() {
        let answer = Answer {
            status: StatusCode::BAD_REQUEST,
            body: format!("{{\"message\":\"bad\\nthing{}\"}}", "x".repeat(2000)).into_bytes(),
            location: None,
        };
        let m = answer.message();
        assert!(m.starts_with("bad thing"), "{m}");
        assert_eq!(m.chars().count(), MAX_MESSAGE_CHARS);
        let empty = Answer {
            status: StatusCode::UNAUTHORIZED,
            body: Vec::new(),
            location: None,
        };
        assert_eq!(empty.message(), "Unauthorized");
    }
}
