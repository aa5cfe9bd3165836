//! A bearer-token server for Distribution's `auth: token` on 127.0.0.1: it checks basic
//! credentials on `GET /token?service=…&scope=…` (and the OAuth2 password grant on
//! `POST /token`) and issues real ES256 JWTs that `docker-registry` 2.8 verifies against
//! its `rootcertbundle`. Every request, `Authorization` header and issued token is recorded.
//!
//! What Distribution 2.8 checks in a token (registry/auth/token): the JWS signature, made
//! by a key it trusts in one of two ways: the header's `x5c` chain (standard base64 DER,
//! leaf first) verifies against the `rootcertbundle` (any key usage), or the header's `kid`
//! is the libtrust key id of a certificate's key in that bundle; `iss` equals the configured
//! issuer; `aud` is the configured service (a string: 2.8.2 calls a JSON array `aud` a
//! "malformed token"); `exp`/`nbf` hold now, with 60 s of leeway either way (a token
//! without `exp` is refused); and
//! the `access` claim lists `{type, name, actions}` covering what the request needs
//! (`pull` for GET/HEAD, `push` for writes, `delete` for DELETE; `/v2/` itself needs none).
//! The signature is JOSE's raw `r || s` (64 bytes for ES256), not DER.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SecureRandom as _;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::net::{self, Conn, Head, Server};
use crate::tls::{self, TlsFiles};

/// Which JOSE header field names the signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyHeader {
    /// `x5c`: the signing certificate, issued by a CA that is the `rootcertbundle`.
    #[default]
    X5c,
    /// `kid`: the libtrust key id of a self-signed certificate that is the `rootcertbundle`.
    Kid,
}

/// Which fields the token response carries (both are in the spec; servers differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenFields {
    /// `token` and `access_token` (Docker Hub does this).
    #[default]
    Both,
    /// Only `token`.
    TokenOnly,
    /// Only `access_token`.
    AccessTokenOnly,
}

/// How the token server behaves.
#[derive(Debug, Clone)]
pub struct TokenServerOptions {
    /// The registry's service name (`aud`, and `service` in challenges).
    pub service: String,
    /// The token issuer (`iss`).
    pub issuer: String,
    /// Users and passwords granted every action they ask for.
    pub users: Vec<(String, String)>,
    /// Names from `users` granted only `pull`.
    pub read_only_users: Vec<String>,
    /// Requests without credentials get `pull` (otherwise a token with no access, as most
    /// token servers answer anonymous requests).
    pub anonymous_pull: bool,
    /// Token lifetime in seconds (`expires_in`, and `exp` unless `token_exp` says otherwise).
    pub expires_in: u64,
    /// `exp` = now + this many seconds, whatever `expires_in` says. Negative values make
    /// tokens that are expired at once: Distribution 2.8 allows 60 s of leeway on `exp` and
    /// `nbf`, so use -120 or less for a token it refuses (`error="invalid_token"`).
    pub token_exp: Option<i64>,
    /// How the signing key is named.
    pub key_header: KeyHeader,
    /// Which fields the response carries.
    pub fields: TokenFields,
    /// Serve the realm over HTTPS with these files' server certificate.
    pub tls: Option<TlsFiles>,
}

impl Default for TokenServerOptions {
    fn default() -> TokenServerOptions {
        TokenServerOptions {
            service: "vouch-e2e-registry".into(),
            issuer: "vouch-e2e-token-issuer".into(),
            users: vec![("alice".into(), "alice-secret".into())],
            read_only_users: Vec::new(),
            anonymous_pull: false,
            expires_in: 300,
            token_exp: None,
            key_header: KeyHeader::X5c,
            fields: TokenFields::Both,
            tls: None,
        }
    }
}

/// One request the token server saw.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The authenticated user (None: anonymous or refused).
    pub user: Option<String>,
    /// `service` parameter.
    pub service: Option<String>,
    /// `scope` parameters (each may hold several space-separated scopes).
    pub scopes: Vec<String>,
    /// The response status.
    pub status: u16,
    /// The token issued, if any.
    pub token: Option<String>,
}

struct Signer {
    key: EcdsaKeyPair,
    /// `x5c` or `kid` header fields.
    header: serde_json::Value,
}

struct Inner {
    options: TokenServerOptions,
    signer: Signer,
    rng: ring::rand::SystemRandom,
    log: Mutex<Vec<TokenRequest>>,
    /// The PEM file the registry trusts (`rootcertbundle`).
    bundle: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A running token server; stops when the last clone is dropped.
#[derive(Clone)]
pub struct TokenServer {
    inner: Arc<Inner>,
    server: Arc<Server>,
    /// `127.0.0.1:PORT`.
    pub host: String,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// libtrust's key id: SHA-256 of the SPKI DER, first 240 bits, base32 without padding, in
/// twelve colon-separated groups of four (`ABCD:EFGH:…`).
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let bytes = &digest.as_ref()[..30];
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut encoded = String::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            encoded.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    let groups: Vec<&str> = (0..encoded.len() / 4)
        .map(|i| &encoded[i * 4..i * 4 + 4])
        .collect();
    groups.join(":")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl TokenServer {
    /// Starts a token server with default options (user `alice` / `alice-secret`).
    pub fn start() -> TokenServer {
        TokenServer::start_with(TokenServerOptions::default())
    }

    /// Starts a token server on a free loopback port.
    pub fn start_with(options: TokenServerOptions) -> TokenServer {
        let dir = tempfile::tempdir().expect("tempdir for token server");
        let bundle = dir.path().join("token-root.pem");
        let signing = match options.key_header {
            KeyHeader::X5c => {
                let ca = TlsFiles::generate();
                let leaf = ca.issue(&["vouch-e2e token signer".to_string()], true);
                std::fs::write(&bundle, &ca.ca_pem).expect("write rootcertbundle");
                let header = serde_json::json!({"x5c": [STANDARD.encode(&leaf.cert_der)]});
                (leaf, header)
            }
            KeyHeader::Kid => {
                let cert = tls::self_signed("vouch-e2e token signer");
                std::fs::write(&bundle, &cert.cert_pem).expect("write rootcertbundle");
                let header = serde_json::json!({"kid": libtrust_key_id(&cert.spki_der)});
                (cert, header)
            }
        };
        let rng = ring::rand::SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &signing.0.key_der, &rng)
                .expect("load token signing key");
        let server_tls = options.tls.as_ref().map(|t| t.server_config(false));
        let inner = Arc::new(Inner {
            options,
            signer: Signer {
                key,
                header: signing.1,
            },
            rng,
            log: Mutex::new(Vec::new()),
            bundle,
            _dir: dir,
        });
        let handler_inner = Arc::clone(&inner);
        let server = Server::start(server_tls, move |conn| handle(&handler_inner, conn));
        TokenServer {
            host: server.host(),
            inner,
            server: Arc::new(server),
        }
    }

    /// The realm URL for challenges: `http[s]://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        let scheme = if self.inner.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/token", self.server.host())
    }

    /// The service name (`aud`).
    pub fn service(&self) -> &str {
        &self.inner.options.service
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.inner.options.issuer
    }

    /// The PEM bundle the registry must trust (`auth.token.rootcertbundle`).
    pub fn rootcertbundle(&self) -> &std::path::Path {
        &self.inner.bundle
    }

    /// The options it runs with.
    pub fn options(&self) -> &TokenServerOptions {
        &self.inner.options
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.inner.log.lock().expect("token log").clone()
    }

    /// How many requests reached the server.
    pub fn request_count(&self) -> usize {
        self.inner.log.lock().expect("token log").len()
    }

    /// Every token issued over HTTP (not those from [`TokenServer::mint`]).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter_map(|r| r.token)
            .collect()
    }

    /// Every `Authorization` header received.
    pub fn authorization_headers(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter_map(|r| r.authorization)
            .collect()
    }

    /// Forgets the requests seen so far.
    pub fn clear_log(&self) {
        self.inner.log.lock().expect("token log").clear();
    }

    /// A token for `subject` granting `access` (`(repository, actions)`), signed as the
    /// server signs, without a request (not counted or recorded): for a test harness that
    /// puts content into a registry behind token auth.
    pub fn mint(&self, subject: &str, access: &[(&str, &[&str])]) -> String {
        let access: Vec<serde_json::Value> = access
            .iter()
            .map(|(name, actions)| {
                serde_json::json!({"type": "repository", "name": name, "actions": actions})
            })
            .collect();
        self.inner.sign(subject, access)
    }

    /// A token with arbitrary claims and this server's signature and key header (for
    /// negative tests: wrong `aud`, `iss`, expired...). Claims are used as given.
    pub fn sign_claims(&self, claims: &serde_json::Value) -> String {
        self.inner.sign_raw(claims)
    }
}

impl Inner {
    fn sign(&self, subject: &str, access: Vec<serde_json::Value>) -> String {
        let t = now();
        let exp = match self.options.token_exp {
            Some(offset) => t.saturating_add_signed(offset),
            None => t + self.options.expires_in,
        };
        let mut jti = [0u8; 16];
        self.rng.fill(&mut jti).expect("random jti");
        let claims = serde_json::json!({
            "iss": self.options.issuer,
            "sub": subject,
            "aud": self.options.service,
            "exp": exp,
            "nbf": t.saturating_sub(5),
            "iat": t,
            "jti": hex::encode(jti),
            "access": access,
        });
        self.sign_raw(&claims)
    }

    fn sign_raw(&self, claims: &serde_json::Value) -> String {
        let mut header = serde_json::json!({"typ": "JWT", "alg": "ES256"});
        if let (Some(h), Some(extra)) = (header.as_object_mut(), self.signer.header.as_object()) {
            h.extend(extra.clone());
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("JWT header")),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("JWT claims")),
        );
        let sig = self
            .signer
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .expect("sign token");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// Checks credentials: Ok(Some(user)), Ok(None) for anonymous, Err on bad ones.
    fn authenticate(&self, user: Option<(&str, &str)>) -> Result<Option<String>, ()> {
        match user {
            None => Ok(None),
            Some((u, p)) => self
                .options
                .users
                .iter()
                .find(|(name, pass)| name == u && pass == p)
                .map(|(name, _)| Some(name.clone()))
                .ok_or(()),
        }
    }

    /// The access claim for `scopes` as granted to `user`.
    fn grant(&self, user: Option<&str>, scopes: &[String]) -> Vec<serde_json::Value> {
        let allowed = |action: &str| -> bool {
            match user {
                Some(u) if self.options.read_only_users.iter().any(|r| r == u) => action == "pull",
                Some(_) => true,
                None => self.options.anonymous_pull && action == "pull",
            }
        };
        scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .filter_map(|scope| {
                // type[(class)]:name:actions, where name may itself hold a colon.
                let (typ, rest) = scope.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                let typ = typ.split('(').next().unwrap_or(typ);
                let granted: Vec<&str> = actions.split(',').filter(|a| allowed(a)).collect();
                Some(serde_json::json!({"type": typ, "name": name, "actions": granted}))
            })
            .collect()
    }
}

fn basic_credentials(header: Option<&str>) -> Option<(String, String)> {
    let value = header?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn handle(inner: &Inner, mut conn: Conn) {
    loop {
        let Ok(Some(head)) = Head::read(&mut conn.reader) else {
            return;
        };
        let Ok(framing) = head.request_framing() else {
            return;
        };
        let Ok(body) = net::read_body(&mut conn.reader, framing, 1 << 20) else {
            return;
        };
        let (bytes, close) = answer(inner, &head, &body);
        if conn.send(&bytes).is_err() || close {
            conn.close();
            return;
        }
    }
}

fn answer(inner: &Inner, head: &Head, body: &[u8]) -> (Vec<u8>, bool) {
    let close = head.has_token("connection", "close");
    let method = head.method().to_string();
    let target = head.target().to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let authorization = head.header("authorization").map(str::to_string);
    let mut record = TokenRequest {
        method: method.clone(),
        target: target.clone(),
        authorization: authorization.clone(),
        user: None,
        service: None,
        scopes: Vec::new(),
        status: 0,
        token: None,
    };

    let json = |status: u16, value: serde_json::Value, extra: &[(&str, String)]| {
        let mut headers = vec![("Content-Type", "application/json".to_string())];
        headers.extend(extra.iter().cloned());
        net::response(
            status,
            net::reason(status),
            &headers,
            &serde_json::to_vec(&value).expect("JSON"),
        )
    };

    let (params, credentials) = match (method.as_str(), path) {
        ("GET", "/token") => (
            net::parse_form(query),
            basic_credentials(authorization.as_deref()),
        ),
        ("POST", "/token") => {
            let form = net::parse_form(&String::from_utf8_lossy(body));
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if get("grant_type").as_deref() != Some("password") {
                record.status = 400;
                inner.log.lock().expect("token log").push(record);
                let err = serde_json::json!({"error": "unsupported_grant_type"});
                return (json(400, err, &[]), close);
            }
            let creds = get("username").zip(get("password"));
            (form, creds)
        }
        _ => {
            record.status = 404;
            inner.log.lock().expect("token log").push(record);
            return (net::response(404, "Not Found", &[], b"not found\n"), close);
        }
    };
    record.service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone());
    record.scopes = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();

    let user = match inner.authenticate(credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())))
    {
        Ok(u) => u,
        Err(()) => {
            record.status = 401;
            inner.log.lock().expect("token log").push(record);
            let err = serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]});
            return (
                json(
                    401,
                    err,
                    &[(
                        "WWW-Authenticate",
                        "Basic realm=\"vouch-e2e token server\"".to_string(),
                    )],
                ),
                close,
            );
        }
    };
    if record
        .service
        .as_deref()
        .is_some_and(|s| s != inner.options.service)
    {
        record.status = 400;
        inner.log.lock().expect("token log").push(record);
        let err = serde_json::json!({"errors": [{"code": "DENIED", "message": "unknown service"}]});
        return (json(400, err, &[]), close);
    }
    let access = inner.grant(user.as_deref(), &record.scopes);
    let token = inner.sign(user.as_deref().unwrap_or(""), access);
    let mut response = serde_json::json!({"expires_in": inner.options.expires_in});
    match inner.options.fields {
        TokenFields::Both => {
            response["token"] = token.clone().into();
            response["access_token"] = token.clone().into();
        }
        TokenFields::TokenOnly => response["token"] = token.clone().into(),
        TokenFields::AccessTokenOnly => response["access_token"] = token.clone().into(),
    }
    record.user = user;
    record.status = 200;
    record.token = Some(token);
    inner.log.lock().expect("token log").push(record);
    (json(200, response, &[]), close)
}
