//! How tough fetches metadata and targets: HTTPS (plain HTTP only when allowed, for a local
//! repository), a `file://` mirror, or the cache. Each file is read up to a bound (tough
//! applies the repository's tighter limits on top), retried only on a failed connection or a
//! "try again" answer (GETs are always safe to repeat), and recorded, so that exactly what
//! was verified can be kept as the cache's mirror.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::StatusCode;
use tough::{Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

use crate::error::TufError;

/// No metadata file or target vouch reads is near this size.
const MAX_FILE: usize = 16 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Files fetched, by URL, in order.
pub(crate) type Record = Arc<Mutex<Vec<(Url, Vec<u8>)>>>;

/// The transport tough uses.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    allow_http: bool,
    retries: u32,
    record: Record,
}

fn lock(record: &Record) -> std::sync::MutexGuard<'_, Vec<(Url, Vec<u8>)>> {
    record
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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

fn other(url: &Url, reason: String) -> TransportError {
    TransportError::new_with_cause(TransportErrorKind::Other, url.as_str(), reason)
}

impl Fetcher {
    pub(crate) fn new(
        allow_http: bool,
        timeout: Duration,
        retries: u32,
    ) -> Result<Fetcher, TufError> {
        // Installing twice is harmless; the first provider wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .https_only(!allow_http)
            .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TufError::Config {
                reason: format!("cannot set up the HTTP client: {}", error_chain(&e)),
            })?;
        Ok(Fetcher {
            client,
            allow_http,
            retries,
            record: Record::default(),
        })
    }

    /// Everything fetched so far.
    pub(crate) fn recorded(&self) -> Vec<(Url, Vec<u8>)> {
        lock(&self.record).clone()
    }

    async fn get(&self, url: &Url) -> Result<Vec<u8>, TransportError> {
        match url.scheme() {
            "file" => read_file(url).await,
            "https" => self.get_http(url).await,
            "http" if self.allow_http => self.get_http(url).await,
            _ => Err(TransportError::new(
                TransportErrorKind::UnsupportedUrlScheme,
                url.as_str(),
            )),
        }
    }

    async fn get_http(&self, url: &Url) -> Result<Vec<u8>, TransportError> {
        let mut attempt = 0;
        loop {
            let wait = Duration::from_millis(250u64 << attempt.min(4));
            let response = match self.client.get(url.clone()).send().await {
                Ok(r) => r,
                Err(e) if attempt < self.retries && (e.is_connect() || e.is_timeout()) => {
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(e) => return Err(other(url, error_chain(&e.without_url()))),
            };
            let status = response.status();
            if matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ) && attempt < self.retries
            {
                attempt += 1;
                tokio::time::sleep(wait).await;
                continue;
            }
            // Object stores answer 403 for a file that does not exist.
            if status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN {
                return Err(TransportError::new(
                    TransportErrorKind::FileNotFound,
                    url.as_str(),
                ));
            }
            if !status.is_success() {
                return Err(other(url, format!("HTTP {}", status.as_u16())));
            }
            return read_bounded(response, url).await;
        }
    }
}

async fn read_bounded(
    mut response: reqwest::Response,
    url: &Url,
) -> Result<Vec<u8>, TransportError> {
    let too_large = || other(url, format!("larger than {MAX_FILE} bytes"));
    if response
        .content_length()
        .is_some_and(|n| n > MAX_FILE as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| other(url, error_chain(&e.without_url())))?
    {
        if body.len() + chunk.len() > MAX_FILE {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_file(url: &Url) -> Result<Vec<u8>, TransportError> {
    use tokio::io::AsyncReadExt as _;
    let path: PathBuf = url
        .to_file_path()
        .map_err(|()| other(url, "not a local file path".into()))?;
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TransportError::new(
                TransportErrorKind::FileNotFound,
                url.as_str(),
            ));
        }
        Err(e) => return Err(other(url, e.to_string())),
    };
    let mut body = Vec::new();
    file.take(MAX_FILE as u64 + 1)
        .read_to_end(&mut body)
        .await
        .map_err(|e| other(url, e.to_string()))?;
    if body.len() > MAX_FILE {
        return Err(other(url, format!("larger than {MAX_FILE} bytes")));
    }
    Ok(body)
}

#[async_trait]
impl Transport for Fetcher {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let body = self.get(&url).await?;
        lock(&self.record).push((url, body.clone()));
        let chunk: Result<Bytes, TransportError> = Ok(Bytes::from(body));
        Ok(Box::pin(futures_util::stream::iter([chunk])))
    }
}
