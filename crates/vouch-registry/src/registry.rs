//! A small client for the OCI distribution API: manifests and blobs, by digest or tag,
//! with bounded reads and digest checks. Transport concerns (TLS, retries, redirects,
//! auth) live in [`crate::http`].

use std::sync::Arc;

use reqwest::Method;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION};

use crate::content::{Fetched, Lookup, check_digest};
use crate::error::StoreError;
use crate::http::{BoundedReadError, Request, Transport, path_of, read_bounded};
use reqwest::Url;
use vouch_oci::oci::MANIFEST_ACCEPT;
use vouch_oci::reference::Digest;

const MAX_ERROR_BODY: usize = 4 * 1024;

/// Pages of one Referrers API answer read at most.
const MAX_REFERRER_PAGES: usize = 16;

/// One repository on one registry.
pub struct RegistryRepo {
    transport: Arc<Transport>,
    /// Registry name as in references (for credentials and messages).
    registry: String,
    /// Host serving the API.
    host: String,
    repository: String,
}

impl RegistryRepo {
    /// `registry/repository`, for messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// A handle; nothing is sent until used.
    pub fn new(
        transport: Arc<Transport>,
        registry: String,
        host: String,
        repository: String,
    ) -> RegistryRepo {
        RegistryRepo {
            transport,
            registry,
            host,
            repository,
        }
    }

    async fn url(&self, suffix: &str) -> Result<String, StoreError> {
        let scheme = self.transport.scheme(&self.registry, &self.host).await?;
        Ok(format!(
            "{}://{}/v2/{}/{suffix}",
            scheme.as_str(),
            self.host,
            self.repository
        ))
    }

    fn pull_scope(&self) -> String {
        format!("repository:{}:pull", self.repository)
    }

    fn push_scope(&self) -> String {
        format!("repository:{}:pull,push", self.repository)
    }

    async fn send(
        &self,
        scope: &str,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, StoreError> {
        self.transport
            .send(Request {
                registry: &self.registry,
                scope,
                method,
                url: url.to_string(),
                headers,
                body,
            })
            .await
    }

    fn error(&self, request: String, reason: String) -> StoreError {
        StoreError::Registry {
            registry: self.registry.clone(),
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
            .send(&self.pull_scope(), Method::GET, &url, headers, None)
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
        let what = format!("manifest {}/{}:{lookup}", self.registry, self.repository);
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
        let what = format!("blob {}/{}@{digest}", self.registry, self.repository);
        let response = self
            .send(
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

    async fn has_blob(&self, digest: &Digest, scope: &str) -> bool {
        let Ok(url) = self.url(&format!("blobs/{digest}")).await else {
            return false;
        };
        self.send(scope, Method::HEAD, &url, HeaderMap::new(), None)
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Uploads a blob unless the registry already has it.
    pub async fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let scope = self.push_scope();
        let head_url = self.url(&format!("blobs/{digest}")).await?;
        let head = self
            .send(&scope, Method::HEAD, &head_url, HeaderMap::new(), None)
            .await?;
        if head.status().is_success() {
            return Ok(digest);
        }
        let start_url = self.url("blobs/uploads/").await?;
        let request = format!("POST {}", path_of(&start_url));
        let started = self
            .send(
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
            .send(
                &scope,
                Method::PUT,
                upload.as_str(),
                headers,
                Some(bytes.to_vec()),
            )
            .await?;
        if finished.status() != StatusCode::CREATED {
            let err = self.status_error(put_request, finished).await;
            // A retried PUT can find its upload already completed: the blob is what counts.
            return if self.has_blob(&digest, &scope).await {
                Ok(digest)
            } else {
                Err(err)
            };
        }
        Ok(digest)
    }

    /// The Referrers API's answer for `digest`: its pages (following `Link: <…>; rel="next"`,
    /// at most [`MAX_REFERRER_PAGES`], same origin and repository only), at most `max` bytes
    /// in all, or `Ok(None)` when the registry has no Referrers API (404, and the 400/405/501
    /// some registries answer for an unknown endpoint). The index is computed by the
    /// registry, so there is no digest to check; each manifest it lists is fetched by digest.
    pub async fn get_referrers(
        &self,
        digest: &Digest,
        max: usize,
    ) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        // Per the distribution spec a registry with the API answers 200 even when nothing
        // refers to the digest, so one "unsupported" answer holds for the whole run.
        if !self.transport.may_have_referrers_api(&self.host) {
            return Ok(None);
        }
        let first = self.url(&format!("referrers/{digest}")).await?;
        let what = format!(
            "referrers of {}/{}@{digest}",
            self.registry, self.repository
        );
        let mut url = first.clone();
        let mut pages = Vec::new();
        let mut budget = max;
        loop {
            let request = format!("GET {}", path_of(&url));
            let mut headers = HeaderMap::new();
            headers.insert(
                ACCEPT,
                reqwest::header::HeaderValue::from_static(vouch_oci::oci::OCI_INDEX),
            );
            let response = self
                .send(&self.pull_scope(), Method::GET, &url, headers, None)
                .await?;
            if pages.is_empty()
                && matches!(
                    response.status(),
                    StatusCode::NOT_FOUND
                        | StatusCode::BAD_REQUEST
                        | StatusCode::METHOD_NOT_ALLOWED
                        | StatusCode::NOT_IMPLEMENTED
                )
            {
                self.transport.no_referrers_api(&self.host);
                return Ok(None);
            }
            if !response.status().is_success() {
                return Err(self.status_error(request, response).await);
            }
            let next = next_page(response.headers(), &url)
                .map_err(|reason| self.error(request.clone(), reason))?;
            let bytes = read_bounded(response, budget).await.map_err(|e| match e {
                BoundedReadError::TooLarge => StoreError::TooLarge {
                    what: what.clone(),
                    limit: max,
                },
                BoundedReadError::Transport(reason) => self.error(request.clone(), reason),
            })?;
            budget -= bytes.len().min(budget);
            pages.push(bytes);
            match next {
                None => return Ok(Some(pages)),
                Some(_) if pages.len() >= MAX_REFERRER_PAGES => {
                    return Err(self.error(
                        request,
                        format!(
                            "more than {MAX_REFERRER_PAGES} pages of referrers; not read further"
                        ),
                    ));
                }
                Some(next) => url = next,
            }
        }
    }

    /// Uploads a manifest by its digest (an OCI 1.1 artifact with a `subject`). Returns its
    /// digest and whether the registry answered with an `OCI-Subject` header: a registry
    /// with the Referrers API indexes the subject itself; without one the client keeps the
    /// `sha256-<hex>` referrers tag up to date.
    pub async fn put_referrer_manifest(
        &self,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(Digest, bool), StoreError> {
        let digest = Digest::of(bytes);
        let response = self
            .put_manifest_at(&digest.to_string(), bytes, media_type)
            .await?;
        Ok((digest, response.headers().contains_key("oci-subject")))
    }

    /// Uploads a manifest under `tag`.
    pub async fn put_manifest(
        &self,
        tag: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, StoreError> {
        self.put_manifest_at(tag, bytes, media_type).await?;
        Ok(Digest::of(bytes))
    }

    /// PUT `/manifests/<reference>`; anything but 201 Created is an error.
    async fn put_manifest_at(
        &self,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<reqwest::Response, StoreError> {
        let url = self.url(&format!("manifests/{reference}")).await?;
        let request = format!("PUT {}", path_of(&url));
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            media_type
                .parse()
                .map_err(|_| self.error(request.clone(), "bad media type".into()))?,
        );
        let response = self
            .send(
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
        Ok(response)
    }

    /// Opens a blob for streaming: the caller reads it chunk by chunk and checks the digest
    /// itself (see [`BlobStream`]). `Ok(None)` on 404. A declared length over `max` is
    /// refused before any byte is read.
    pub async fn open_blob(
        &self,
        digest: &Digest,
        max: u64,
    ) -> Result<Option<BlobStream>, StoreError> {
        let url = self.url(&format!("blobs/{digest}")).await?;
        let request = format!("GET {}", path_of(&url));
        let what = format!("blob {}/{}@{digest}", self.registry, self.repository);
        let response = self
            .send(
                &self.pull_scope(),
                Method::GET,
                &url,
                HeaderMap::new(),
                None,
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(self.status_error(request, response).await);
        }
        let length = response.content_length();
        if length.is_some_and(|len| len > max) {
            return Err(StoreError::TooLarge {
                what,
                limit: usize::try_from(max).unwrap_or(usize::MAX),
            });
        }
        Ok(Some(BlobStream {
            response,
            length,
            registry: self.registry.clone(),
            request,
        }))
    }

    /// A small read-only document under the repository (`tags/list`, `referrers/<digest>`):
    /// its bytes and content type, at most `max` bytes; `Ok(None)` on 404. No digest to
    /// check: the registry computes these answers.
    pub async fn get_document(
        &self,
        suffix: &str,
        accept: Option<&str>,
        max: usize,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, StoreError> {
        let url = self.url(suffix).await?;
        let request = format!("GET {}", path_of(&url));
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept.and_then(|a| a.parse().ok()) {
            headers.insert(ACCEPT, accept);
        }
        let response = self
            .send(&self.pull_scope(), Method::GET, &url, headers, None)
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
        let bytes = read_bounded(response, max).await.map_err(|e| match e {
            BoundedReadError::TooLarge => StoreError::TooLarge {
                what: request.clone(),
                limit: max,
            },
            BoundedReadError::Transport(reason) => self.error(request.clone(), reason),
        })?;
        Ok(Some((bytes, media_type)))
    }
}

/// A blob being read from a registry, chunk by chunk. Nothing here checks the digest: the
/// reader hashes what it reads and decides (a mirror passing the bytes on must not hold a
/// whole layer in memory).
pub struct BlobStream {
    response: reqwest::Response,
    length: Option<u64>,
    registry: String,
    request: String,
}

impl BlobStream {
    /// The length the registry declared, if it did.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// The next chunk; `Ok(None)` at the end.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, StoreError> {
        self.response
            .chunk()
            .await
            .map_err(|e| StoreError::Registry {
                registry: self.registry.clone(),
                request: self.request.clone(),
                reason: crate::http::error_chain(&e),
            })
    }
}

/// The `rel="next"` target of a Referrers API page's `Link` header, resolved against the
/// page's URL. It must stay on the same origin (credentials are sent there) and path (the
/// same image's referrers; only the query changes); anything else is refused, not followed.
fn next_page(headers: &HeaderMap, current: &str) -> Result<Option<String>, String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let value = value
            .to_str()
            .map_err(|_| "a Link header that is not text".to_string())?;
        for link in value.split(',') {
            let Some((target, params)) = link
                .trim()
                .strip_prefix('<')
                .and_then(|l| l.split_once('>'))
            else {
                continue;
            };
            let is_next = params
                .split(';')
                .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
            if !is_next {
                continue;
            }
            let base = Url::parse(current).map_err(|e| e.to_string())?;
            let next = base
                .join(target)
                .map_err(|_| "a next-page Link that is not a URL".to_string())?;
            if next.origin() != base.origin() {
                return Err(format!(
                    "the next page of referrers is on {}, not {}: not followed",
                    next.host_str().unwrap_or("another host"),
                    base.host_str().unwrap_or("this host")
                ));
            }
            // Only the query may change: the next page of the same image's referrers.
            if next.path() != base.path() {
                return Err(format!(
                    "the next page of referrers, {}, is not another page of {}: not followed",
                    next.path(),
                    base.path()
                ));
            }
            return Ok(Some(next.to_string()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::LINK,
            reqwest::header::HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    const PAGE: &str = "https://r.example/v2/team/app/referrers/sha256:aa";

    #[test]
    fn next_page_links_are_followed_only_within_the_repository() {
        let next = |value: &str| next_page(&link(value), PAGE);
        assert_eq!(next("").expect("no link"), None);
        assert_eq!(
            next(r#"</v2/team/app/referrers/sha256:aa?last=x>; rel="next""#).expect("relative"),
            Some(format!("{PAGE}?last=x"))
        );
        assert_eq!(
            next(r#"<https://r.example/v2/team/app/referrers/sha256:aa?n=2>;rel=next, </x>; rel="prev""#)
                .expect("absolute"),
            Some(format!("{PAGE}?n=2"))
        );
        assert_eq!(
            next(r#"</v2/team/app/referrers/sha256:aa?p=0>; rel="prev""#).expect("prev"),
            None
        );
        let refused = [
            r#"<https://evil.example/v2/team/app/referrers/sha256:aa>; rel="next""#,
            r#"<http://r.example/v2/team/app/referrers/sha256:aa>; rel="next""#,
            r#"<https://r.example:444/v2/team/app/referrers/sha256:aa>; rel="next""#,
            r#"</v2/other/referrers/sha256:aa>; rel="next""#,
            r#"</v2/team/app/manifests/latest>; rel="next""#,
            r#"</v2/team/app/referrers/../../other/referrers/x>; rel="next""#,
            r#"</v2/team/app/referrers/sha256:bb>; rel="next""#,
        ];
        for value in refused {
            assert!(next(value).is_err(), "{value}");
        }
    }
}
