//! Responses in the Distribution API's shapes: error bodies (`{"errors":[{"code","message"}]}`)
//! and the headers every answer carries.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use vouch_server::{Body, empty, full};

/// The API version header every registry answer carries.
pub const API_VERSION: (&str, &str) = ("docker-distribution-api-version", "registry/2.0");

/// Longest message put in an error body (runtimes print it whole).
const MAX_MESSAGE: usize = 2000;

/// A Distribution error: `status` with `code` and `message`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let message: String = message.chars().take(MAX_MESSAGE).collect();
    let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
    let mut response = full(
        status,
        "application/json; charset=utf-8",
        serde_json::to_vec(&body).unwrap_or_default(),
    );
    stamp(&mut response);
    response
}

/// `403 DENIED`: what a runtime shows its user as the reason a pull failed.
pub fn denied(message: &str) -> Response<Body> {
    error(StatusCode::FORBIDDEN, "DENIED", message)
}

/// Content with its type, length and digest; headers only for a HEAD.
pub fn content(
    head: bool,
    media_type: &str,
    digest: &str,
    length: Option<u64>,
    body: Option<Body>,
    bytes: Option<Bytes>,
) -> Response<Body> {
    let mut response = match (head, body, bytes) {
        (false, Some(body), _) => {
            let mut r = Response::new(body);
            *r.status_mut() = StatusCode::OK;
            r
        }
        (false, None, Some(bytes)) => full(StatusCode::OK, media_type, bytes),
        _ => empty(StatusCode::OK),
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(media_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(digest) {
        headers.insert("docker-content-digest", v.clone());
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{digest}\"")) {
            headers.insert(header::ETAG, etag);
        }
    }
    if let Some(len) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    stamp(&mut response);
    response
}

/// Adds the API version header.
pub fn stamp(response: &mut Response<Body>) {
    response
        .headers_mut()
        .insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
}
