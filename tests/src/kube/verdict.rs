//! The API server's reading of a webhook's answer, check for check: client-go's response
//! handling (status 200–206, a parsable Content-Type, a JSON body with `apiVersion`/`kind`),
//! `VerifyAdmissionResponse` (k8s.io/apiserver/.../webhook/request/admissionreview.go: `response`
//! present, `response.uid` equal to the request's, `admission.k8s.io/v1` `AdmissionReview`,
//! `patch` and `patchType` together and only from mutating webhooks), the mutating
//! dispatcher's patch handling (JSON Patch only, decoded, refused on DELETE, applied to the
//! object), `ToStatusErr` for refusals (default code 403, the "admission webhook ... denied the
//! request" message kubectl prints), and the warning recorder (empty, duplicate and
//! control-character warnings dropped; past 4096 characters in all, each cut to 256).
//!
//! An answer the API server would not accept is a [`CallError`]: with `failurePolicy: Fail`
//! the request is refused with an internal error, whatever the webhook meant.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde_json::Value;

/// Which webhook answered, as the API server knows it.
#[derive(Clone, Debug)]
pub struct WebhookIdentity {
    /// The webhook's `name` in its configuration (e.g. `validate.vouch.dev`).
    pub name: String,
    /// Mutating (patches allowed) or validating.
    pub mutating: bool,
}

/// An accepted answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// `response.uid` (equal to the request's).
    pub uid: String,
    /// `response.allowed` (missing or null reads as false, as Go's decoder does).
    pub allowed: bool,
    /// Whether `allowed` was present as a boolean (kube-apiserver does not require it; a
    /// webhook that leaves it out refuses without saying so).
    pub allowed_present: bool,
    /// `response.status` as sent.
    pub status: Option<Value>,
    /// When refused: what the API server returns to the client.
    pub refusal: Option<Refusal>,
    /// `response.warnings` as sent.
    pub warnings: Vec<String>,
    /// The `Warning` header values the API server would send the client (`299 - "text"`),
    /// after its filtering and truncation, for these warnings alone.
    pub warning_headers: Vec<String>,
    /// `response.auditAnnotations`.
    pub audit_annotations: BTreeMap<String, String>,
    /// The decoded JSON Patch (mutating webhooks), if any.
    pub patch: Option<Value>,
    /// The request's `object` with the patch applied (mutating webhooks, allowed, with an
    /// object); the object unchanged when there was no patch.
    pub patched_object: Option<Value>,
    /// Whether the patch changed the object (what makes the API server re-invoke other
    /// `IfNeeded` webhooks).
    pub changed: bool,
}

/// A refusal as the client (kubectl) sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status code returned to the client (`status.code`, 403 when 0 or absent).
    pub code: u16,
    /// `reason` (`Forbidden`, or the webhook's own).
    pub reason: String,
    /// The webhook's own message (`status.message`, else `status.reason`), unprefixed.
    pub webhook_message: String,
    /// The full message the client prints, e.g. `pods "web" is forbidden: admission webhook
    /// "validate.vouch.dev" denied the request: ...`.
    pub message: String,
}

/// Why the API server would not accept an answer (the call failed: `failurePolicy` decides).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// TCP connect failed.
    Connect(String),
    /// TLS handshake failed (certificate not from the caBundle, wrong name, ...).
    Tls(String),
    /// No answer within the webhook's timeout.
    Timeout,
    /// HTTP-level failure (connection reset, malformed response).
    Http(String),
    /// Status outside 200–206.
    Status {
        /// The HTTP status.
        code: u16,
        /// The first bytes of the body.
        body: String,
    },
    /// The Content-Type header does not parse as a media type.
    ContentType(String),
    /// The body is not a decodable object (not JSON, no `kind`, a field of the wrong type).
    Decode(String),
    /// `VerifyAdmissionResponse` refused it (uid, apiVersion/kind, patch rules).
    Invalid(String),
    /// The patch does not decode as a JSON Patch or its type is not `JSONPatch`.
    Patch(String),
    /// The patch does not apply to the object, or patches a DELETE.
    PatchApply(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Connect(e) => write!(f, "connect: {e}"),
            CallError::Tls(e) => write!(f, "TLS: {e}"),
            CallError::Timeout => write!(f, "context deadline exceeded"),
            CallError::Http(e) => write!(f, "HTTP: {e}"),
            CallError::Status { code, body } => write!(f, "status {code}: {body}"),
            CallError::ContentType(e) => write!(f, "content type: {e}"),
            CallError::Decode(e) => write!(f, "decode: {e}"),
            CallError::Invalid(e) => write!(f, "received invalid webhook response: {e}"),
            CallError::Patch(e) => write!(f, "patch: {e}"),
            CallError::PatchApply(e) => write!(f, "patch apply: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

/// What the API server knows of the request when it reads the answer.
#[derive(Clone, Debug)]
pub struct Sent<'a> {
    /// `request.uid`.
    pub uid: &'a str,
    /// `request.object` (`Null` on DELETE).
    pub object: &'a Value,
    /// `request.resource.resource` and group, for refusal messages.
    pub resource: &'a str,
    /// `request.resource.group`.
    pub group: &'a str,
    /// `request.name` (`""` when absent).
    pub name: &'a str,
}

impl<'a> Sent<'a> {
    /// The facts of `review`.
    pub fn of(review: &'a super::review::Review) -> Sent<'a> {
        let r = review.request();
        Sent {
            uid: &review.uid,
            object: &r["object"],
            resource: r["resource"]["resource"].as_str().unwrap_or(""),
            group: r["resource"]["group"].as_str().unwrap_or(""),
            name: r["name"].as_str().unwrap_or(""),
        }
    }
}

/// Whether an HTTP status is one client-go decodes as a result (200–206).
pub fn status_accepted(code: u16) -> bool {
    (200..=206).contains(&code)
}

/// Checks an answer as the API server does and returns its verdict. `content_type` is the
/// response's Content-Type header, if any; `body` is the (decompressed) body.
pub fn check(
    sent: &Sent<'_>,
    webhook: &WebhookIdentity,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Verdict, CallError> {
    if let Some(ct) = content_type {
        parse_media_type(ct).map_err(CallError::ContentType)?;
    }
    if !status_accepted(status) {
        let shown = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
        return Err(CallError::Status {
            code: status,
            body: shown,
        });
    }
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| CallError::Decode(format!("not JSON: {e}")))?;
    let Value::Object(doc) = doc else {
        return Err(CallError::Decode("the body is not a JSON object".into()));
    };
    // The universal deserializer reads apiVersion/kind first; no kind, no object.
    let kind = opt_string(doc.get("kind"), "kind")?;
    let api_version = opt_string(doc.get("apiVersion"), "apiVersion")?;
    if kind.is_empty() {
        return Err(CallError::Decode("Object 'Kind' is missing".into()));
    }
    if api_version.is_empty() {
        return Err(CallError::Decode("Object 'apiVersion' is missing".into()));
    }
    let response = match doc.get("response") {
        None | Some(Value::Null) => None,
        Some(Value::Object(r)) => Some(r),
        Some(_) => return Err(CallError::Decode("response: not an object".into())),
    };
    // Type checks of every field Go decodes, before any semantic check.
    let decoded = match response {
        Some(r) => Some(decode_response(r)?),
        None => None,
    };
    if api_version != "admission.k8s.io/v1" || kind != "AdmissionReview" {
        // A v1beta1 answer is decoded as v1beta1 and converted; the API server then
        // compares the group/version/kind with v1's.
        return Err(CallError::Invalid(format!(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got \
             {api_version}, Kind={kind}"
        )));
    }
    let Some(r) = decoded else {
        return Err(CallError::Invalid("webhook response was absent".into()));
    };
    if r.uid != sent.uid {
        return Err(CallError::Invalid(format!(
            "expected response.uid={:?}, got {:?}",
            sent.uid, r.uid
        )));
    }
    let patch_bytes = r.patch.clone().unwrap_or_default();
    if webhook.mutating {
        if !patch_bytes.is_empty() && r.patch_type.is_none() {
            return Err(CallError::Invalid(
                "webhook returned response.patch but not response.patchType".into(),
            ));
        }
        if patch_bytes.is_empty() && r.patch_type.is_some() {
            return Err(CallError::Invalid(
                "webhook returned response.patchType but not response.patch".into(),
            ));
        }
        if r.patch_type.as_deref() == Some("") {
            return Err(CallError::Invalid(
                "webhook returned invalid response.patchType of \"\"".into(),
            ));
        }
    } else {
        if !patch_bytes.is_empty() {
            return Err(CallError::Invalid(
                "validating webhook may not return response.patch".into(),
            ));
        }
        if r.patch_type.is_some() {
            return Err(CallError::Invalid(
                "validating webhook may not return response.patchType".into(),
            ));
        }
    }

    let warning_headers = warning_headers(&r.warnings);
    let mut verdict = Verdict {
        uid: r.uid,
        allowed: r.allowed.unwrap_or(false),
        allowed_present: r.allowed.is_some(),
        status: r.status.clone(),
        refusal: None,
        warnings: r.warnings,
        warning_headers,
        audit_annotations: r.audit_annotations,
        patch: None,
        patched_object: None,
        changed: false,
    };
    if !verdict.allowed {
        verdict.refusal = Some(refusal(sent, &webhook.name, r.status.as_ref()));
        return Ok(verdict);
    }
    if !webhook.mutating {
        return Ok(verdict);
    }
    if patch_bytes.is_empty() {
        verdict.patched_object = (!sent.object.is_null()).then(|| sent.object.clone());
        return Ok(verdict);
    }
    let patch_json: Value = serde_json::from_slice(&patch_bytes)
        .map_err(|e| CallError::Patch(format!("received undecodable patch: {e}")))?;
    let Some(ops) = patch_json.as_array() else {
        return Err(CallError::Patch(
            "received undecodable patch: not a JSON array".into(),
        ));
    };
    if ops.is_empty() {
        verdict.patch = Some(patch_json);
        verdict.patched_object = (!sent.object.is_null()).then(|| sent.object.clone());
        return Ok(verdict);
    }
    if sent.object.is_null() {
        return Err(CallError::PatchApply(format!(
            "admission webhook {:?} attempted to modify the object, which is not supported \
             for this operation",
            webhook.name
        )));
    }
    match r.patch_type.as_deref() {
        Some("JSONPatch") => {}
        other => {
            return Err(CallError::Patch(format!(
                "unsupported patch type {:?}",
                other.unwrap_or("")
            )));
        }
    }
    let patched = apply_patch(sent.object, &patch_json).map_err(CallError::PatchApply)?;
    verdict.changed = &patched != sent.object;
    verdict.patch = Some(patch_json);
    verdict.patched_object = Some(patched);
    Ok(verdict)
}

/// Applies an RFC 6902 JSON Patch to `object` with the `json-patch` crate.
pub fn apply_patch(object: &Value, patch: &Value) -> Result<Value, String> {
    let patch: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| format!("not a JSON Patch: {e}"))?;
    let mut out = object.clone();
    json_patch::patch(&mut out, &patch).map_err(|e| e.to_string())?;
    Ok(out)
}

struct DecodedResponse {
    uid: String,
    allowed: Option<bool>,
    status: Option<Value>,
    patch: Option<Vec<u8>>,
    patch_type: Option<String>,
    audit_annotations: BTreeMap<String, String>,
    warnings: Vec<String>,
}

fn opt_string(v: Option<&Value>, field: &str) -> Result<String, CallError> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(CallError::Decode(format!(
            "{field}: cannot unmarshal {} into a string",
            json_type(other)
        ))),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's decoding of `AdmissionResponse`: field names are case-sensitive, unknown fields are
/// ignored, `null` leaves the zero value, any other type mismatch fails the whole decode.
fn decode_response(r: &serde_json::Map<String, Value>) -> Result<DecodedResponse, CallError> {
    let uid = opt_string(r.get("uid"), "response.uid")?;
    let allowed = match r.get("allowed") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(CallError::Decode(format!(
                "response.allowed: cannot unmarshal {} into a bool",
                json_type(other)
            )));
        }
    };
    let status = match r.get("status") {
        None | Some(Value::Null) => None,
        Some(s @ Value::Object(_)) => {
            check_status_types(s)?;
            Some(s.clone())
        }
        Some(other) => {
            return Err(CallError::Decode(format!(
                "response.status: cannot unmarshal {} into a Status",
                json_type(other)
            )));
        }
    };
    let patch =
        match r.get("patch") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(go_base64(s).map_err(|e| {
                CallError::Decode(format!("response.patch: illegal base64 data: {e}"))
            })?),
            Some(other) => {
                return Err(CallError::Decode(format!(
                    "response.patch: cannot unmarshal {} into []byte",
                    json_type(other)
                )));
            }
        };
    let patch_type = match r.get("patchType") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(CallError::Decode(format!(
                "response.patchType: cannot unmarshal {} into a string",
                json_type(other)
            )));
        }
    };
    let mut audit_annotations = BTreeMap::new();
    match r.get("auditAnnotations") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                audit_annotations.insert(k.clone(), opt_string(Some(v), "auditAnnotations")?);
            }
        }
        Some(other) => {
            return Err(CallError::Decode(format!(
                "response.auditAnnotations: cannot unmarshal {}",
                json_type(other)
            )));
        }
    }
    let mut warnings = Vec::new();
    match r.get("warnings") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for w in items {
                warnings.push(opt_string(Some(w), "response.warnings")?);
            }
        }
        Some(other) => {
            return Err(CallError::Decode(format!(
                "response.warnings: cannot unmarshal {} into []string",
                json_type(other)
            )));
        }
    }
    Ok(DecodedResponse {
        uid,
        allowed,
        status,
        patch,
        patch_type,
        audit_annotations,
        warnings,
    })
}

fn check_status_types(s: &Value) -> Result<(), CallError> {
    for field in ["status", "message", "reason"] {
        opt_string(s.get(field), &format!("response.status.{field}"))?;
    }
    match s.get("code") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Number(n)) if n.as_i64().is_some_and(|c| i32::try_from(c).is_ok()) => Ok(()),
        Some(other) => Err(CallError::Decode(format!(
            "response.status.code: cannot unmarshal {other} into int32"
        ))),
    }
}

/// Go's `[]byte` JSON decoding: standard base64 with padding; `\r` and `\n` are skipped.
fn go_base64(s: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    );
    engine.decode(cleaned).map_err(|e| e.to_string())
}

/// `ToStatusErr`: the refusal the client sees.
fn refusal(sent: &Sent<'_>, webhook: &str, status: Option<&Value>) -> Refusal {
    let get = |f: &str| {
        status
            .and_then(|s| s.get(f))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut code = status
        .and_then(|s| s.get("code"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if code == 0 {
        code = 403;
    }
    let message = get("message");
    let reason = get("reason");
    let denied = format!("admission webhook {webhook:?} denied the request");
    let (webhook_message, text) = if !message.is_empty() {
        (message.clone(), format!("{denied}: {message}"))
    } else if !reason.is_empty() {
        (reason.clone(), format!("{denied}: {reason}"))
    } else {
        (String::new(), format!("{denied} without explanation"))
    };
    let name = if sent.name.is_empty() {
        "Unknown"
    } else {
        sent.name
    };
    let group_resource = if sent.group.is_empty() {
        sent.resource.to_string()
    } else {
        format!("{}.{}", sent.resource, sent.group)
    };
    let prefix = if code == 500 {
        "Internal error occurred".to_string()
    } else {
        format!("{group_resource} {name:?} is forbidden")
    };
    let reason = if reason.is_empty() {
        if code == 500 {
            "InternalError"
        } else {
            "Forbidden"
        }
        .to_string()
    } else {
        reason
    };
    Refusal {
        code: u16::try_from(code).unwrap_or(500),
        reason,
        webhook_message,
        message: format!("{prefix}: {text}"),
    }
}

const WARNINGS_TOTAL_RUNES: usize = 4 * 1024;
const WARNING_ITEM_RUNES: usize = 256;

/// The `Warning` headers the API server's recorder (k8s.io/apiserver/pkg/endpoints/filters/
/// warning.go) emits for `warnings` from one webhook: empty and duplicate texts dropped, texts
/// with control characters or invalid UTF-8 dropped (`NewWarningHeader` refuses them), and once
/// the total passes 4096 characters every text cut to 256 and later ones dropped.
pub fn warning_headers(warnings: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut ordered: Vec<&str> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    let mut written = 0usize;
    let mut truncating = false;
    for text in warnings {
        if text.is_empty() {
            continue;
        }
        if written >= WARNINGS_TOTAL_RUNES && truncating {
            break;
        }
        if !seen.insert(text.as_str()) {
            continue;
        }
        ordered.push(text);
        let mut t: String = text.clone();
        let mut len = t.chars().count();
        if truncating && len > WARNING_ITEM_RUNES {
            t = t.chars().take(WARNING_ITEM_RUNES).collect();
            len = WARNING_ITEM_RUNES;
        }
        let Some(header) = warning_header(&t) else {
            continue;
        };
        if written + len <= WARNINGS_TOTAL_RUNES || truncating {
            written += len;
            out.push(header);
            continue;
        }
        truncating = true;
        written = 0;
        out.clear();
        for w in &ordered {
            let cut: String = w.chars().take(WARNING_ITEM_RUNES).collect();
            if let Some(h) = warning_header(&cut) {
                written += cut.chars().count();
                out.push(h);
            }
        }
    }
    out
}

/// `NewWarningHeader(299, "", text)`: `299 - "text"` with `"` and `\` escaped, or `None` for a
/// text holding control characters.
pub fn warning_header(text: &str) -> Option<String> {
    if text.chars().any(char::is_control) {
        return None;
    }
    let mut out = String::from("299 - \"");
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

/// Go's `mime.ParseMediaType`, reduced to what decides acceptance: `type/subtype` tokens and
/// `;`-separated `name=value` parameters (value a token or a quoted string).
pub fn parse_media_type(value: &str) -> Result<(String, Vec<(String, String)>), String> {
    fn is_token(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    }
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((t, s)) = media.split_once('/') else {
        return Err(format!(
            "mime: expected slash after first token in {value:?}"
        ));
    };
    if !is_token(t) || !is_token(s) {
        return Err(format!("mime: expected token in {value:?}"));
    }
    let mut params = Vec::new();
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let Some((k, v)) = p.split_once('=') else {
            return Err(format!("mime: invalid media parameter {p:?}"));
        };
        let v = v.trim();
        let v = if let Some(inner) = v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
            inner.to_string()
        } else if is_token(v) {
            v.to_string()
        } else {
            return Err(format!("mime: invalid media parameter {p:?}"));
        };
        if !is_token(k.trim()) {
            return Err(format!("mime: invalid media parameter {p:?}"));
        }
        params.push((k.trim().to_ascii_lowercase(), v));
    }
    Ok((media, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UID: &str = "0d7a3c52-8c1b-4b8e-9f59-1e2c3d4e5f60";

    fn sent(object: &Value) -> Sent<'_> {
        Sent {
            uid: UID,
            object,
            resource: "pods",
            group: "",
            name: "web",
        }
    }

    fn validating() -> WebhookIdentity {
        WebhookIdentity {
            name: "validate.vouch.dev".into(),
            mutating: false,
        }
    }

    fn mutating() -> WebhookIdentity {
        WebhookIdentity {
            name: "mutate.vouch.dev".into(),
            mutating: true,
        }
    }

    fn answer(response: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1",
                                   "kind": "AdmissionReview", "response": response}))
        .expect("json")
    }

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(v).expect("json"))
    }

    #[test]
    fn allowed_answer() {
        let obj = json!({"kind": "Pod"});
        let v = check(
            &sent(&obj),
            &validating(),
            200,
            Some("application/json"),
            &answer(json!({"uid": UID, "allowed": true})),
        )
        .expect("accepted");
        assert!(v.allowed && v.allowed_present);
        assert!(v.refusal.is_none());
    }

    #[test]
    fn uid_kind_and_version_must_match() {
        let obj = json!({});
        let wrong_uid = check(
            &sent(&obj),
            &validating(),
            200,
            None,
            &answer(json!({"uid": "other", "allowed": true})),
        );
        assert!(matches!(wrong_uid, Err(CallError::Invalid(m)) if m.contains("response.uid")));

        let v1beta1 = serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1beta1",
            "kind": "AdmissionReview", "response": {"uid": UID, "allowed": true}}))
        .expect("json");
        assert!(matches!(
            check(&sent(&obj), &validating(), 200, None, &v1beta1),
            Err(CallError::Invalid(_))
        ));

        let no_kind =
            serde_json::to_vec(&json!({"response": {"uid": UID, "allowed": true}})).expect("json");
        assert!(matches!(
            check(&sent(&obj), &validating(), 200, None, &no_kind),
            Err(CallError::Decode(_))
        ));

        let absent = serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview"}))
        .expect("json");
        assert!(matches!(
            check(&sent(&obj), &validating(), 200, None, &absent),
            Err(CallError::Invalid(m)) if m.contains("absent")
        ));
    }

    #[test]
    fn http_status_content_type_and_types() {
        let obj = json!({});
        let ok = answer(json!({"uid": UID, "allowed": true}));
        assert!(matches!(
            check(&sent(&obj), &validating(), 500, None, &ok),
            Err(CallError::Status { code: 500, .. })
        ));
        assert!(check(&sent(&obj), &validating(), 206, None, &ok).is_ok());
        // Any parsable media type is read (the webhook client's serializer takes all).
        assert!(
            check(
                &sent(&obj),
                &validating(),
                200,
                Some("text/plain; charset=utf-8"),
                &ok
            )
            .is_ok()
        );
        assert!(matches!(
            check(&sent(&obj), &validating(), 200, Some("json"), &ok),
            Err(CallError::ContentType(_))
        ));
        assert!(matches!(
            check(
                &sent(&obj),
                &validating(),
                200,
                None,
                &answer(json!({"uid": UID, "allowed": "true"}))
            ),
            Err(CallError::Decode(_))
        ));
        assert!(matches!(
            check(&sent(&obj), &validating(), 200, None, b"not json"),
            Err(CallError::Decode(_))
        ));
    }

    #[test]
    fn missing_allowed_is_a_silent_refusal() {
        let obj = json!({});
        let v = check(
            &sent(&obj),
            &validating(),
            200,
            None,
            &answer(json!({"uid": UID})),
        )
        .expect("accepted");
        assert!(!v.allowed && !v.allowed_present);
        let r = v.refusal.expect("refused");
        assert_eq!(r.code, 403);
        assert_eq!(
            r.message,
            "pods \"web\" is forbidden: admission webhook \"validate.vouch.dev\" denied the \
             request without explanation"
        );
    }

    #[test]
    fn refusal_message_as_kubectl_prints_it() {
        let obj = json!({});
        let v = check(
            &sent(&obj),
            &validating(),
            200,
            None,
            &answer(json!({
            "uid": UID, "allowed": false,
            "status": {"code": 403, "message": "image x: no valid signature"}})),
        )
        .expect("accepted");
        let r = v.refusal.expect("refused");
        assert_eq!(r.webhook_message, "image x: no valid signature");
        assert_eq!(r.reason, "Forbidden");
        assert_eq!(
            r.message,
            "pods \"web\" is forbidden: admission webhook \"validate.vouch.dev\" denied the \
             request: image x: no valid signature"
        );
    }

    #[test]
    fn patch_rules() {
        let obj = json!({"spec": {"containers": [{"image": "a:1"}]}});
        let patch = json!([{"op": "replace", "path": "/spec/containers/0/image",
                            "value": "a:1@sha256:00"}]);
        let v = check(
            &sent(&obj),
            &mutating(),
            200,
            None,
            &answer(json!({
            "uid": UID, "allowed": true, "patchType": "JSONPatch", "patch": b64(&patch)})),
        )
        .expect("accepted");
        assert!(v.changed);
        assert_eq!(
            v.patched_object.expect("patched")["spec"]["containers"][0]["image"],
            "a:1@sha256:00"
        );

        let no_type = answer(json!({"uid": UID, "allowed": true, "patch": b64(&patch)}));
        assert!(matches!(
            check(&sent(&obj), &mutating(), 200, None, &no_type),
            Err(CallError::Invalid(_))
        ));
        let no_patch = answer(json!({"uid": UID, "allowed": true, "patchType": "JSONPatch"}));
        assert!(matches!(
            check(&sent(&obj), &mutating(), 200, None, &no_patch),
            Err(CallError::Invalid(_))
        ));
        let from_validating = answer(json!({"uid": UID, "allowed": true,
                                            "patchType": "JSONPatch", "patch": b64(&patch)}));
        assert!(
            matches!(check(&sent(&obj), &validating(), 200, None, &from_validating),
                         Err(CallError::Invalid(m)) if m.contains("validating"))
        );
        let merge = answer(json!({"uid": UID, "allowed": true,
                                  "patchType": "MergePatch", "patch": b64(&patch)}));
        assert!(matches!(
            check(&sent(&obj), &mutating(), 200, None, &merge),
            Err(CallError::Patch(_))
        ));
        let bad_path = json!([{"op": "replace", "path": "/spec/containers/5/image", "value": "x"}]);
        let bad = answer(
            json!({"uid": UID, "allowed": true, "patchType": "JSONPatch",
                                "patch": b64(&bad_path)}),
        );
        assert!(matches!(
            check(&sent(&obj), &mutating(), 200, None, &bad),
            Err(CallError::PatchApply(_))
        ));
        let null = Value::Null;
        assert!(matches!(
            check(&sent(&null), &mutating(), 200, None, &answer(json!({
                "uid": UID, "allowed": true, "patchType": "JSONPatch", "patch": b64(&patch)}))),
            Err(CallError::PatchApply(m)) if m.contains("not supported for this operation")
        ));
        let empty = check(
            &sent(&obj),
            &mutating(),
            200,
            None,
            &answer(json!({
            "uid": UID, "allowed": true, "patchType": "JSONPatch", "patch": b64(&json!([]))})),
        )
        .expect("an empty patch is accepted");
        assert!(!empty.changed);
    }

    #[test]
    fn base64_as_go_reads_it() {
        assert_eq!(go_base64("W10=").expect("ok"), b"[]");
        assert_eq!(go_base64("W1\n0=").expect("newlines skipped"), b"[]");
        assert!(go_base64("W10").is_err(), "padding required");
        assert!(go_base64("W10_").is_err(), "URL alphabet refused");
    }

    #[test]
    fn warnings_as_the_api_server_forwards_them() {
        let long = "x".repeat(300);
        let ws = vec![
            "image a:1 is not signed (mode: warn)".to_string(),
            "image a:1 is not signed (mode: warn)".to_string(),
            String::new(),
            "bad\ncontrol".to_string(),
            "quote \" and \\".to_string(),
            long.clone(),
        ];
        let h = warning_headers(&ws);
        assert_eq!(
            h,
            vec![
                "299 - \"image a:1 is not signed (mode: warn)\"".to_string(),
                "299 - \"quote \\\" and \\\\\"".to_string(),
                format!("299 - \"{long}\""),
            ],
            "under 4096 characters nothing is cut"
        );
        let many: Vec<String> = (0..20)
            .map(|i| format!("{i:03}{}", "y".repeat(297)))
            .collect();
        let h = warning_headers(&many);
        assert!(h.iter().all(|x| x.chars().count() <= 256 + 8));
        assert_eq!(h.len(), 16, "4096 / 256 warnings fit once truncating");
    }

    #[test]
    fn media_types() {
        assert!(parse_media_type("application/json").is_ok());
        assert!(parse_media_type("application/json; charset=utf-8").is_ok());
        assert!(parse_media_type("application/json;charset=\"utf-8\"").is_ok());
        assert!(parse_media_type("application").is_err());
        assert!(parse_media_type("application/json; charset").is_err());
    }
}
