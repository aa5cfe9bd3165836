//! `admission.k8s.io/v1` `AdmissionReview` requests, read with bounds: the body size is capped
//! before it is read (by the service), JSON nesting by serde_json's recursion limit, and every
//! field vouch uses is type-checked. Anything that is not a v1 AdmissionReview with a request
//! and a `uid` is a [`ReviewError`], answered with HTTP 400.

use serde::Deserialize;
use serde_json::Value;

/// The API server's own limit on a request body (3 MiB); a review larger than this is refused.
pub const MAX_REVIEW_BYTES: usize = 3 * 1024 * 1024;
/// A `uid` longer than this is not one the API server made.
const MAX_UID_LEN: usize = 128;

/// Why a body is not a review vouch can answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReviewError {
    /// Not JSON, or a field of the wrong type.
    #[error("the body is not an AdmissionReview: {0}")]
    Malformed(String),
    /// JSON of another kind or version.
    #[error(
        "expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got apiVersion {api_version:?}, kind {kind:?} (set admissionReviewVersions: [\"v1\"] in the webhook configuration)"
    )]
    WrongType {
        /// `apiVersion` as sent.
        api_version: String,
        /// `kind` as sent.
        kind: String,
    },
    /// No `request`, or a request without a `uid`.
    #[error("the AdmissionReview has no {0}")]
    Missing(&'static str),
}

/// What vouch reads of an admission request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Echoed in the response.
    #[serde(default)]
    pub uid: String,
    /// The object's kind (`{group, version, kind}`).
    #[serde(default)]
    pub kind: GroupVersionKind,
    /// The resource (`{group, version, resource}`).
    #[serde(default)]
    pub resource: GroupVersionResource,
    /// `status`, `ephemeralcontainers`, `scale`, …
    #[serde(default)]
    pub sub_resource: Option<String>,
    /// The object's name (may be empty on CREATE with generateName).
    #[serde(default)]
    pub name: Option<String>,
    /// The namespace (none for cluster-scoped objects).
    #[serde(default)]
    pub namespace: Option<String>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    #[serde(default)]
    pub operation: String,
    /// Who made the request (only the user name is read, for the log).
    #[serde(default)]
    pub user_info: UserInfo,
    /// The object as it would be stored (null on DELETE).
    #[serde(default)]
    pub object: Value,
    /// The object before an UPDATE.
    #[serde(default)]
    pub old_object: Value,
    /// A dry run: nothing is stored (vouch has no side effects, so it answers the same).
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// `{group, version, kind}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupVersionKind {
    /// API group (`""` for core).
    #[serde(default)]
    pub group: String,
    /// Version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// `{group, version, resource}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupVersionResource {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// Version.
    #[serde(default)]
    pub version: String,
    /// Resource (`pods`, `deployments`, …).
    #[serde(default)]
    pub resource: String,
}

/// `userInfo` (only the name).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserInfo {
    /// The user name.
    #[serde(default)]
    pub username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    api_version: Value,
    #[serde(default)]
    kind: Value,
    #[serde(default)]
    request: Option<Value>,
}

/// The API version and kind vouch answers in.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The kind vouch reads and answers.
pub const KIND: &str = "AdmissionReview";

/// Reads a review body.
pub fn parse(body: &[u8]) -> Result<Request, ReviewError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| ReviewError::Malformed(e.to_string()))?;
    let api_version = envelope.api_version.as_str().unwrap_or_default();
    let kind = envelope.kind.as_str().unwrap_or_default();
    if api_version != API_VERSION || kind != KIND {
        return Err(ReviewError::WrongType {
            api_version: shorten(api_version),
            kind: shorten(kind),
        });
    }
    let request = match envelope.request {
        None | Some(Value::Null) => return Err(ReviewError::Missing("request")),
        Some(r) => r,
    };
    let request: Request = serde_json::from_value(request)
        .map_err(|e| ReviewError::Malformed(format!("request: {e}")))?;
    if request.uid.is_empty() {
        return Err(ReviewError::Missing("request.uid"));
    }
    if request.uid.len() > MAX_UID_LEN || request.uid.chars().any(char::is_control) {
        return Err(ReviewError::Malformed(
            "request.uid is not a Kubernetes UID".into(),
        ));
    }
    Ok(request)
}

fn shorten(s: &str) -> String {
    s.chars().take(64).collect()
}

impl Request {
    /// Whether the request can change what a pod runs: CREATE and UPDATE of the object itself
    /// or of its `ephemeralcontainers`; other subresources (`status`, `scale`, `binding`, …),
    /// DELETE and CONNECT cannot.
    pub fn may_change_images(&self) -> bool {
        matches!(self.operation.as_str(), "CREATE" | "UPDATE")
            && match self.sub_resource.as_deref() {
                None | Some("") => true,
                Some(s) => s == "ephemeralcontainers",
            }
    }

    /// Whether this is a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run == Some(true)
    }
}

/// Reads a Go duration (`10s`, `1m30s`, `1.5s`, `500ms`) as kube-apiserver writes it in the
/// `timeout` query parameter. None when it does not parse or is not positive.
pub fn parse_go_duration(text: &str) -> Option<std::time::Duration> {
    if text.is_empty() || text.len() > 32 {
        return None;
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    (total > 0.0 && total < 3600.0).then(|| std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        for bad in ["", "10", "s", "-1s", "0s", "10x", "1e3s", "99999h"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_v1_admission_reviews_with_a_uid_are_read() {
        let ok = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE","object":{}}}"#;
        assert_eq!(parse(ok).expect("reads").uid, "u1");
        let v1beta1 = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}"#;
        assert!(matches!(parse(v1beta1), Err(ReviewError::WrongType { .. })));
        let no_request = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#;
        assert_eq!(
            parse(no_request).err(),
            Some(ReviewError::Missing("request"))
        );
        let no_uid =
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}"#;
        assert_eq!(
            parse(no_uid).err(),
            Some(ReviewError::Missing("request.uid"))
        );
        let bad_type = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":7}}"#;
        assert!(matches!(parse(bad_type), Err(ReviewError::Malformed(_))));
        assert!(matches!(parse(b"\xff{"), Err(ReviewError::Malformed(_))));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(ReviewError::Malformed(_))
        ));
    }
}
