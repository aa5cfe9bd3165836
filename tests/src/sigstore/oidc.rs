//! The OIDC issuer: OpenID discovery and a JWKS on loopback, ES256 identity tokens minted for
//! tests, and the token check Fulcio makes (discovery and keys fetched over HTTP from the
//! token's issuer, as a real Fulcio does; signature, `iss`, `aud`, `exp`, `nbf`).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::http::{self, Journal, Request, Response};
use super::keys::EcKey;
use crate::net::Server;

/// The audience Sigstore clients ask tokens for.
pub const AUDIENCE: &str = "sigstore";

/// How long minted tokens live.
const TOKEN_LIFETIME: Duration = Duration::from_secs(600);

/// A running issuer.
pub(crate) struct Oidc {
    key: Arc<EcKey>,
    kid: String,
    url: String,
    _server: Server,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl Oidc {
    pub(crate) fn start(journal: Journal) -> Oidc {
        let key = Arc::new(EcKey::generate());
        let kid = hex::encode(&key.key_id()[..8]);
        let url_cell: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
        let server = {
            let (key, kid, url) = (Arc::clone(&key), kid.clone(), Arc::clone(&url_cell));
            http::serve("oidc", 4096, journal, move |req| {
                answer(req, url.get().map_or("", String::as_str), &key, &kid)
            })
        };
        let url = format!("http://{}", server.host());
        url_cell.set(url.clone()).expect("issuer URL set once");
        Oidc {
            key,
            kid,
            url,
            _server: server,
        }
    }

    /// The issuer URL (`iss`).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A token with these claims, signed with the issuer's key.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("JWT header")),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("JWT claims"))
        );
        let sig = self.key.sign_fixed(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// The usual claims: this issuer, audience `sigstore`, valid for ten minutes.
    pub(crate) fn claims(&self, subject: &str) -> Value {
        let now = now_secs();
        json!({
            "iss": self.url,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME.as_secs(),
        })
    }
}

fn answer(req: &Request, url: &str, key: &EcKey, kid: &str) -> Response {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/.well-known/openid-configuration") => Response::json(
            200,
            &json!({
                "issuer": url,
                "jwks_uri": format!("{url}/keys"),
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
                "claims_supported": ["sub", "email", "email_verified", "iss", "aud", "exp", "iat"],
            }),
        ),
        ("GET", "/keys") => {
            let point = key.public_point();
            Response::json(
                200,
                &json!({"keys": [{
                    "kty": "EC",
                    "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                    "kid": kid,
                    "alg": "ES256",
                    "use": "sig",
                }]}),
            )
        }
        ("GET", _) => Response::error(404, "not found"),
        _ => Response::error(405, "method not allowed"),
    }
}

/// What Fulcio learns from a verified token.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    /// A verified email address, if the token has one.
    pub(crate) email: Option<String>,
}

fn part(token: &str, i: usize) -> Result<Vec<u8>, String> {
    let p = token.split('.').nth(i).ok_or("token is not a JWS")?;
    URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| "token part is not base64url".to_string())
}

/// Verifies an identity token issued by one of `trusted_issuers`, fetching the issuer's
/// discovery document and keys over HTTP.
pub(crate) fn verify(token: &str, trusted_issuers: &[String]) -> Result<Identity, String> {
    if token.len() > 16 * 1024 || token.split('.').count() != 3 {
        return Err("malformed identity token".into());
    }
    let header: Value =
        serde_json::from_slice(&part(token, 0)?).map_err(|_| "token header is not JSON")?;
    let claims: Value =
        serde_json::from_slice(&part(token, 1)?).map_err(|_| "token claims are not JSON")?;
    let signature = part(token, 2)?;
    if header["alg"] != "ES256" {
        return Err(format!("unsupported token algorithm {}", header["alg"]));
    }
    let issuer = claims["iss"].as_str().ok_or("token has no issuer")?;
    if !trusted_issuers.iter().any(|i| i == issuer) {
        return Err(format!("issuer {issuer} is not trusted"));
    }

    let agent = crate::registry::agent();
    let fetch = |url: &str| -> Result<Value, String> {
        let mut resp = agent
            .get(url)
            .call()
            .map_err(|e| format!("fetch {url}: {e}"))?;
        if resp.status() != 200 {
            return Err(format!("fetch {url}: status {}", resp.status()));
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .map_err(|e| format!("read {url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|_| format!("{url} is not JSON"))
    };
    let discovery = fetch(&format!("{issuer}/.well-known/openid-configuration"))?;
    if discovery["issuer"] != issuer {
        return Err("discovery document names another issuer".into());
    }
    let jwks_uri = discovery["jwks_uri"].as_str().ok_or("no jwks_uri")?;
    let jwks = fetch(jwks_uri)?;
    let kid = header["kid"].as_str();
    let keys = jwks["keys"].as_array().ok_or("JWKS has no keys")?;
    let verified = keys
        .iter()
        .filter(|k| kid.is_none() || k["kid"].as_str() == kid)
        .filter(|k| k["kty"] == "EC" && k["crv"] == "P-256")
        .filter_map(|k| {
            let x = URL_SAFE_NO_PAD.decode(k["x"].as_str()?).ok()?;
            let y = URL_SAFE_NO_PAD.decode(k["y"].as_str()?).ok()?;
            Some([&[4u8][..], &x, &y].concat())
        })
        .any(|point| {
            let input = &token[..token.rfind('.').unwrap_or(0)];
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                point,
            )
            .verify(input.as_bytes(), &signature)
            .is_ok()
        });
    if !verified {
        return Err("token signature does not verify under the issuer's keys".into());
    }

    let audience_ok = match &claims["aud"] {
        Value::String(a) => a == AUDIENCE,
        Value::Array(list) => list.iter().any(|a| a == AUDIENCE),
        _ => false,
    };
    if !audience_ok {
        return Err(format!("token audience is not {AUDIENCE:?}"));
    }
    let now = now_secs();
    let exp = claims["exp"].as_u64().ok_or("token has no expiry")?;
    if exp <= now {
        return Err("token has expired".into());
    }
    if claims["nbf"].as_u64().is_some_and(|nbf| nbf > now + 300) {
        return Err("token is not valid yet".into());
    }
    let subject = claims["sub"].as_str().ok_or("token has no subject")?;
    let email = match claims["email"].as_str() {
        Some(e) if claims["email_verified"] == true => Some(e.to_string()),
        Some(_) => return Err("token email is not verified".into()),
        None => None,
    };
    Ok(Identity {
        issuer: issuer.to_string(),
        subject: subject.to_string(),
        email,
    })
}
