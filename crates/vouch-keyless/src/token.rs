//! OIDC identity tokens: where they come from (an explicit value, `SIGSTORE_ID_TOKEN` as
//! GitLab CI's `id_tokens` sets it, GitHub Actions' token endpoint), what their claims say,
//! and the local checks that turn a token Fulcio would refuse into a clear error before any
//! request is made (expiry, audience, unverified email).
//!
//! The claims are read without verifying the token's signature: Fulcio verifies it, and
//! nothing here trusts the claims for more than messages and the identity to expect on the
//! certificate. The token itself is a secret: it is held in a zeroizing buffer, sent only to
//! Fulcio, and never formatted (`Debug` shows the claims, never the token).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, Url};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{KeylessError, Service};
use crate::transport::{Http, TransportOptions, display_url};

/// The audience Fulcio's public instance accepts.
pub const SIGSTORE_AUDIENCE: &str = "sigstore";
/// Longest token accepted (real ones are a few KiB).
const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Largest answer read from the GitHub token endpoint.
const MAX_TOKEN_ANSWER: usize = 128 * 1024;
/// Tolerated clock difference for `nbf`.
const CLOCK_SKEW_SECS: i64 = 60;

/// The environment variable an explicit token (or GitLab's `id_tokens`) arrives in.
pub const ENV_SIGSTORE_ID_TOKEN: &str = "SIGSTORE_ID_TOKEN";
/// GitHub Actions: the token endpoint (with `permissions: id-token: write`).
pub const ENV_ACTIONS_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// GitHub Actions: the bearer token for that endpoint.
pub const ENV_ACTIONS_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `--identity-token` (a token, or a file holding one).
    Explicit,
    /// `SIGSTORE_ID_TOKEN`, outside GitLab CI.
    Environment,
    /// `SIGSTORE_ID_TOKEN` in GitLab CI (`id_tokens`).
    GitLab,
    /// GitHub Actions' token endpoint.
    GitHubActions,
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenSource::Explicit => "--identity-token",
            TokenSource::Environment => "SIGSTORE_ID_TOKEN",
            TokenSource::GitLab => "GitLab CI id_tokens (SIGSTORE_ID_TOKEN)",
            TokenSource::GitHubActions => "GitHub Actions",
        })
    }
}

/// The identity a Fulcio certificate names: its subject alternative name and OIDC issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// The SAN (email, URI or username).
    pub subject: String,
    /// The OIDC issuer URL.
    pub issuer: String,
}

impl fmt::Display for CertificateIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (issuer {})", self.subject, self.issuer)
    }
}

/// What a token's claims say (unverified).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenClaims {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `aud`, as a list.
    pub audience: Vec<String>,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
    /// `nbf`, Unix seconds.
    pub not_before: Option<i64>,
    /// `email`.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: Option<bool>,
    /// GitHub Actions: `job_workflow_ref` (`owner/repo/.github/workflows/f.yml@ref`).
    pub job_workflow_ref: Option<String>,
    /// GitLab CI: `ci_config_ref_uri` (`gitlab.com/group/project//.gitlab-ci.yml@ref`).
    pub ci_config_ref_uri: Option<String>,
    /// Buildkite: `organization_slug`.
    pub buildkite_organization: Option<String>,
    /// Buildkite: `pipeline_slug`.
    pub buildkite_pipeline: Option<String>,
}

/// An OIDC identity token and its claims.
pub struct IdentityToken {
    secret: Zeroizing<String>,
    claims: TokenClaims,
    source: TokenSource,
}

impl fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityToken")
            .field("source", &self.source)
            .field("claims", &self.claims)
            .field("token", &"<redacted>")
            .finish()
    }
}

fn malformed(reason: impl Into<String>) -> KeylessError {
    KeylessError::MalformedToken {
        reason: reason.into(),
    }
}

fn rfc3339(secs: i64) -> String {
    vouch_policy::Timestamp::from_unix(secs).to_string()
}

/// A NumericDate: an integer or a JSON number with a fraction (rounded down).
fn numeric_date(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}

fn optional_text(claims: &Value, name: &str) -> Result<Option<String>, KeylessError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed(format!("claim {name:?} is not a string"))),
    }
}

impl IdentityToken {
    /// Reads a token's claims. Nothing about time or audience is checked here (see
    /// [`IdentityToken::check`]).
    pub fn parse(token: &str, source: TokenSource) -> Result<IdentityToken, KeylessError> {
        let secret = Zeroizing::new(token.trim().to_string());
        if secret.is_empty() {
            return Err(malformed("it is empty"));
        }
        if secret.len() > MAX_TOKEN_BYTES {
            return Err(malformed(format!(
                "it is longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let parts: Vec<&str> = secret.split('.').collect();
        if parts.len() != 3 {
            return Err(malformed(
                "it is not a JWT (three base64url parts separated by dots)",
            ));
        }
        let header = URL_SAFE_NO_PAD
            .decode(parts[0])
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(Value::is_object)
            .ok_or_else(|| malformed("its header is not base64url JSON"))?;
        if header.get("alg").and_then(Value::as_str) == Some("none") {
            return Err(malformed("it is unsigned (alg \"none\")"));
        }
        let payload = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(parts[1])
                .map_err(|_| malformed("its claims are not base64url"))?,
        );
        let claims: Value =
            serde_json::from_slice(&payload).map_err(|_| malformed("its claims are not JSON"))?;
        if !claims.is_object() {
            return Err(malformed("its claims are not a JSON object"));
        }
        let issuer =
            optional_text(&claims, "iss")?.ok_or_else(|| malformed("it has no issuer (iss)"))?;
        let subject =
            optional_text(&claims, "sub")?.ok_or_else(|| malformed("it has no subject (sub)"))?;
        let audience = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .map(|a| {
                    a.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| malformed("an audience (aud) is not a string"))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(malformed("it has no audience (aud)")),
        };
        let expires_at = claims
            .get("exp")
            .and_then(numeric_date)
            .ok_or_else(|| malformed("it has no expiry (exp)"))?;
        let not_before = claims.get("nbf").and_then(numeric_date);
        let email_verified = match claims.get("email_verified") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            // Some issuers send the string form.
            Some(Value::String(s)) if s == "true" || s == "false" => Some(s == "true"),
            Some(_) => return Err(malformed("claim \"email_verified\" is not a boolean")),
        };
        let parsed = TokenClaims {
            issuer,
            subject,
            audience,
            expires_at,
            not_before,
            email: optional_text(&claims, "email")?,
            email_verified,
            job_workflow_ref: optional_text(&claims, "job_workflow_ref")?,
            ci_config_ref_uri: optional_text(&claims, "ci_config_ref_uri")?,
            buildkite_organization: optional_text(&claims, "organization_slug")?,
            buildkite_pipeline: optional_text(&claims, "pipeline_slug")?,
        };
        Ok(IdentityToken {
            secret,
            claims: parsed,
            source,
        })
    }

    /// The claims.
    pub fn claims(&self) -> &TokenClaims {
        &self.claims
    }

    /// Where the token came from.
    pub fn source(&self) -> TokenSource {
        self.source
    }

    /// The token itself, for the request to Fulcio only.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// `text` with the token, and each of its parts, replaced (for quoting a service's
    /// message that might echo it).
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.replace(self.secret.as_str(), "<redacted>");
        for part in self.secret.split('.').filter(|p| p.len() >= 8) {
            out = out.replace(part, "<redacted>");
        }
        out
    }

    /// The local checks Fulcio would otherwise refuse with a less clear message: the token
    /// has not expired and is already valid at `now` (Unix seconds), `audience` is among its
    /// audiences, and an email claim is verified.
    pub fn check(&self, now: i64, audience: &str) -> Result<(), KeylessError> {
        let c = &self.claims;
        if c.expires_at <= now {
            return Err(KeylessError::TokenExpired {
                expired_at: rfc3339(c.expires_at),
                now: rfc3339(now),
            });
        }
        if let Some(nbf) = c.not_before
            && nbf > now + CLOCK_SKEW_SECS
        {
            return Err(KeylessError::TokenNotYetValid {
                not_before: rfc3339(nbf),
                now: rfc3339(now),
            });
        }
        if !c.audience.iter().any(|a| a == audience) {
            return Err(KeylessError::WrongAudience {
                expected: audience.to_string(),
                found: c.audience.clone(),
            });
        }
        if let Some(email) = &c.email
            && c.email_verified != Some(true)
        {
            return Err(KeylessError::EmailNotVerified {
                email: email.clone(),
            });
        }
        Ok(())
    }

    /// What the proof of possession signs: the email for a token that carries one, else the
    /// subject (Fulcio's rule: the challenge is the identity claim of the token).
    pub fn challenge(&self) -> &str {
        self.claims.email.as_deref().unwrap_or(&self.claims.subject)
    }

    /// The identity Fulcio certifies for this token, by Fulcio's rules for its issuer
    /// types: an email token's email; a GitHub Actions workflow
    /// (`https://github.com/` + `job_workflow_ref`); a GitLab CI pipeline (`https://` +
    /// `ci_config_ref_uri`); a Buildkite job (`https://buildkite.com/ORG/PIPELINE`); else
    /// the subject. The issuer is the token's.
    pub fn expected_identity(&self) -> CertificateIdentity {
        let c = &self.claims;
        let subject = if let Some(email) = &c.email {
            email.clone()
        } else if let Some(workflow) = &c.job_workflow_ref {
            format!("https://github.com/{workflow}")
        } else if let Some(config) = &c.ci_config_ref_uri {
            format!("https://{config}")
        } else if let (Some(org), Some(pipeline)) =
            (&c.buildkite_organization, &c.buildkite_pipeline)
        {
            format!("https://buildkite.com/{org}/{pipeline}")
        } else {
            c.subject.clone()
        };
        CertificateIdentity {
            subject,
            issuer: c.issuer.clone(),
        }
    }

    /// Whether a certificate naming `found` was issued for this token. For a GitHub
    /// Enterprise workflow the host differs from github.com, so a workflow token accepts any
    /// `https://HOST/` + `job_workflow_ref`; every other rule is exact, and the issuer always
    /// is.
    pub fn accepts(&self, found: &CertificateIdentity) -> bool {
        if found.issuer != self.claims.issuer {
            return false;
        }
        let expected = self.expected_identity();
        if found.subject == expected.subject {
            return true;
        }
        match (&self.claims.email, &self.claims.job_workflow_ref) {
            (None, Some(workflow)) => found
                .subject
                .strip_prefix("https://")
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(host, path)| !host.is_empty() && path == workflow),
            _ => false,
        }
    }
}

/// Where to look for a token, in order: the explicit value, `SIGSTORE_ID_TOKEN`, GitHub
/// Actions' endpoint. `env` reads an environment variable (tests pass their own).
pub struct TokenLookup<'a> {
    /// `--identity-token`: a token, or the path of a file holding one.
    pub explicit: Option<&'a str>,
    /// Reads the environment.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The audience to ask GitHub Actions for.
    pub audience: &'a str,
    /// How to reach the token endpoint.
    pub transport: &'a TransportOptions,
}

impl fmt::Debug for TokenLookup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenLookup")
            .field("explicit", &self.explicit.map(|_| "<redacted>"))
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Finds the identity token (see [`TokenLookup`]). Reads a file or asks GitHub Actions'
/// endpoint only when no token was given directly; checks nothing about the token's claims
/// beyond their shape (see [`IdentityToken::check`]).
pub async fn find_token(lookup: &TokenLookup<'_>) -> Result<IdentityToken, KeylessError> {
    if let Some(value) = lookup.explicit {
        return explicit_token(value);
    }
    let present = |name: &str| (lookup.env)(name).filter(|v| !v.trim().is_empty());
    if let Some(token) = present(ENV_SIGSTORE_ID_TOKEN) {
        let token = Zeroizing::new(token);
        let source = if present("GITLAB_CI").is_some() {
            TokenSource::GitLab
        } else {
            TokenSource::Environment
        };
        return IdentityToken::parse(&token, source);
    }
    if let (Some(url), Some(bearer)) = (
        present(ENV_ACTIONS_REQUEST_URL),
        present(ENV_ACTIONS_REQUEST_TOKEN),
    ) {
        let bearer = Zeroizing::new(bearer);
        return github_actions_token(&url, &bearer, lookup.audience, lookup.transport).await;
    }
    if present("GITHUB_ACTIONS").is_some() {
        return Err(KeylessError::AmbientToken {
            reason: format!(
                "{ENV_ACTIONS_REQUEST_URL} is not set: give the job `permissions: id-token: write`"
            ),
        });
    }
    Err(KeylessError::NoToken)
}

fn explicit_token(value: &str) -> Result<IdentityToken, KeylessError> {
    let trimmed = value.trim();
    // cosign's convention: a value that is not a JWT but names a file is read from it.
    if trimmed.split('.').count() != 3 {
        let path = std::path::Path::new(trimmed);
        if path.is_file() {
            let bytes = read_token_file(path)?;
            return IdentityToken::parse(&bytes, TokenSource::Explicit);
        }
    }
    IdentityToken::parse(trimmed, TokenSource::Explicit)
}

fn read_token_file(path: &std::path::Path) -> Result<Zeroizing<String>, KeylessError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .map_err(|e| malformed(format!("cannot read token file {}: {e}", path.display())))?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_TOKEN_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| malformed(format!("cannot read token file {}: {e}", path.display())))?;
    if text.len() > MAX_TOKEN_BYTES {
        return Err(malformed(format!(
            "token file {} is longer than {MAX_TOKEN_BYTES} bytes",
            path.display()
        )));
    }
    Ok(text)
}

/// Asks GitHub Actions' token endpoint for a token for `audience`.
async fn github_actions_token(
    request_url: &str,
    bearer: &str,
    audience: &str,
    transport: &TransportOptions,
) -> Result<IdentityToken, KeylessError> {
    let ambient = |reason: String| KeylessError::AmbientToken { reason };
    let mut url = Url::parse(request_url)
        .map_err(|_| ambient(format!("{ENV_ACTIONS_REQUEST_URL} is not a URL")))?;
    url.query_pairs_mut().append_pair("audience", audience);
    let http = Http::new(transport)?;
    let answer = http
        .send(
            Service::TokenEndpoint,
            Method::GET,
            &url,
            Some(bearer),
            None,
            MAX_TOKEN_ANSWER,
        )
        .await?;
    if !answer.status.is_success() {
        // The body is not quoted: an endpoint's answer may carry a token.
        return Err(ambient(format!(
            "{} answered HTTP {} {}; check the job's `permissions: id-token: write`",
            display_url(&url),
            answer.status.as_u16(),
            answer.status.canonical_reason().unwrap_or_default()
        )));
    }
    let body = Zeroizing::new(answer.body);
    let value: Value = serde_json::from_slice(&body)
        .map_err(|_| ambient("the token endpoint's answer is not JSON".into()))?;
    let token = Zeroizing::new(
        value
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| ambient("the token endpoint's answer has no \"value\"".into()))?
            .to_string(),
    );
    IdentityToken::parse(&token, TokenSource::GitHubActions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("json"));
        format!("{header}.{payload}.c2lnbmF0dXJlLXNlY3JldA")
    }

    fn claims() -> Value {
        json!({"iss": "https://issuer.example", "sub": "https://example.com/ci", "aud": "sigstore", "exp": 2_000, "nbf": 1_000})
    }

    #[test]
    fn checks_expiry_audience_and_email() {
        let t = IdentityToken::parse(&jwt(&claims()), TokenSource::Explicit).expect("parse");
        assert!(t.check(1_500, SIGSTORE_AUDIENCE).is_ok());
        assert!(matches!(
            t.check(2_000, SIGSTORE_AUDIENCE),
            Err(KeylessError::TokenExpired { .. })
        ));
        assert!(matches!(
            t.check(500, SIGSTORE_AUDIENCE),
            Err(KeylessError::TokenNotYetValid { .. })
        ));
        let err = t.check(1_500, "other").expect_err("audience");
        assert!(err.to_string().contains("\"other\""), "{err}");

        let mut c = claims();
        c["aud"] = json!(["x", "sigstore"]);
        c["email"] = "a@example.com".into();
        let t = IdentityToken::parse(&jwt(&c), TokenSource::Explicit).expect("parse");
        assert!(matches!(
            t.check(1_500, SIGSTORE_AUDIENCE),
            Err(KeylessError::EmailNotVerified { .. })
        ));
        c["email_verified"] = true.into();
        let t = IdentityToken::parse(&jwt(&c), TokenSource::Explicit).expect("parse");
        assert!(t.check(1_500, SIGSTORE_AUDIENCE).is_ok());
        assert_eq!(t.challenge(), "a@example.com");
        assert_eq!(t.expected_identity().subject, "a@example.com");
    }

    #[test]
    fn ci_identities_follow_fulcio() {
        let mut c = claims();
        c["sub"] = "repo:acme/app:ref:refs/heads/main".into();
        c["job_workflow_ref"] = "acme/app/.github/workflows/release.yml@refs/heads/main".into();
        let t = IdentityToken::parse(&jwt(&c), TokenSource::GitHubActions).expect("parse");
        assert_eq!(t.challenge(), "repo:acme/app:ref:refs/heads/main");
        let want = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
        assert_eq!(t.expected_identity().subject, want);
        let id = |s: &str, i: &str| CertificateIdentity {
            subject: s.into(),
            issuer: i.into(),
        };
        assert!(t.accepts(&id(want, "https://issuer.example")));
        assert!(t.accepts(&id(
            "https://ghe.example.com/acme/app/.github/workflows/release.yml@refs/heads/main",
            "https://issuer.example"
        )));
        assert!(!t.accepts(&id(want, "https://other.example")));
        assert!(!t.accepts(&id(
            "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main",
            "https://issuer.example"
        )));

        let mut c = claims();
        c["ci_config_ref_uri"] = "gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main".into();
        let t = IdentityToken::parse(&jwt(&c), TokenSource::GitLab).expect("parse");
        assert_eq!(
            t.expected_identity().subject,
            "https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main"
        );
        assert!(!t.accepts(&id("https://example.com/ci", "https://issuer.example")));
    }

    #[test]
    fn malformed_tokens_are_refused_without_echoing_them() {
        let mut no_exp = claims();
        no_exp.as_object_mut().expect("object").remove("exp");
        let unsigned = {
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
            let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).expect("json"));
            format!("{header}.{payload}.")
        };
        for bad in [
            "".to_string(),
            "not-a-jwt".into(),
            "a.b.c".into(),
            jwt(&no_exp),
            jwt(&json!(["array"])),
            unsigned,
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            let err = IdentityToken::parse(&bad, TokenSource::Explicit).expect_err("malformed");
            assert_eq!(err.exit_code(), 2);
            if bad.len() > 3 {
                assert!(!err.to_string().contains(&bad), "{err}");
            }
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let raw = jwt(&claims());
        let t = IdentityToken::parse(&raw, TokenSource::Explicit).expect("parse");
        let shown = format!("{t:?}");
        assert!(shown.contains("<redacted>"));
        for part in raw.split('.') {
            assert!(!shown.contains(part), "{shown}");
        }
    }

    #[tokio::test]
    async fn lookup_order_and_missing_permission() {
        let raw = jwt(&claims());
        let transport = TransportOptions::default();
        let env_with = |vars: Vec<(&'static str, String)>| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        };
        let gitlab = env_with(vec![
            (ENV_SIGSTORE_ID_TOKEN, raw.clone()),
            ("GITLAB_CI", "true".into()),
        ]);
        let t = find_token(&TokenLookup {
            explicit: None,
            env: &gitlab,
            audience: SIGSTORE_AUDIENCE,
            transport: &transport,
        })
        .await
        .expect("token");
        assert_eq!(t.source(), TokenSource::GitLab);
        let t = find_token(&TokenLookup {
            explicit: Some(&raw),
            env: &gitlab,
            audience: SIGSTORE_AUDIENCE,
            transport: &transport,
        })
        .await
        .expect("token");
        assert_eq!(t.source(), TokenSource::Explicit);

        let nothing = env_with(vec![]);
        let err = find_token(&TokenLookup {
            explicit: None,
            env: &nothing,
            audience: SIGSTORE_AUDIENCE,
            transport: &transport,
        })
        .await
        .expect_err("none");
        assert_eq!(err, KeylessError::NoToken);
        let actions = env_with(vec![("GITHUB_ACTIONS", "true".into())]);
        let err = find_token(&TokenLookup {
            explicit: None,
            env: &actions,
            audience: SIGSTORE_AUDIENCE,
            transport: &transport,
        })
        .await
        .expect_err("no permission");
        assert!(err.to_string().contains("id-token: write"), "{err}");
    }
}
