//! The registry fixtures (TLS, htpasswd, bearer tokens, the fault proxy, credentials on
//! disk) proven against the real `docker-registry`, without vouch: plain HTTP clients only.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use vouch_e2e::fault_proxy::{Fault, FaultProxy, Outcome, Rule};
use vouch_e2e::registry::agent;
use vouch_e2e::tls::TlsOptions;
use vouch_e2e::token_server::{KeyHeader, TokenFields, TokenServer, TokenServerOptions};
use vouch_e2e::{CredentialHelper, DockerConfig, Registry, RegistryOptions, TestImage, TlsFiles};

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json";

fn status_of(resp: &Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> u16 {
    match resp {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("request failed: {e}"),
    }
}

fn json_of(resp: &mut ureq::http::Response<ureq::Body>) -> Option<serde_json::Value> {
    let bytes = resp.body_mut().read_to_vec().ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `Bearer realm="…",service="…",scope="…"` into pairs.
fn challenge_params(value: &str) -> Vec<(String, String)> {
    let rest = value.split_once(' ').map(|(_, r)| r).unwrap_or_default();
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() {
            return out;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                val.push(c);
            }
        } else {
            val = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        out.push((key.trim().to_string(), val));
    }
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {params:?}"))
}

// ---------------------------------------------------------------- TLS

#[test]
fn tls_registry_serves_push_and_pull_to_a_client_trusting_the_generated_ca() {
    let tls = TlsFiles::generate();
    for file in [
        &tls.ca_cert,
        &tls.server_cert,
        &tls.server_key,
        &tls.client_cert,
        &tls.client_key,
    ] {
        let text = std::fs::read_to_string(file).expect("PEM file");
        assert!(text.starts_with("-----BEGIN "), "{}", file.display());
    }
    let reg = Registry::start_with(RegistryOptions {
        tls: Some(tls.clone()),
        ..Default::default()
    });
    assert_eq!(reg.base_url(), format!("https://{}", reg.host));
    let img = TestImage::new("over tls");
    img.push(&reg, "app", "v1");
    assert_eq!(
        reg.get_manifest("app", "v1").expect("manifest"),
        img.manifest.bytes
    );
    assert_eq!(reg.get_blob("app", &img.layer.digest), img.layer.bytes);

    // The same over `localhost` (the DNS SAN).
    let port = reg.host.rsplit_once(':').expect("port").1;
    let resp = tls
        .agent()
        .get(&format!("https://localhost:{port}/v2/app/manifests/v1"))
        .header("Accept", ACCEPT)
        .call();
    assert_eq!(status_of(&resp), 200);

    // A client trusting another CA refuses the server; plain HTTP gets no registry answer.
    let other = TlsFiles::generate();
    let err = other
        .agent()
        .get(&format!("{}/v2/", reg.base_url()))
        .call()
        .expect_err("an unrelated CA must not verify");
    assert!(
        format!("{err}").to_lowercase().contains("certificate"),
        "{err}"
    );
    let plain = agent().get(&format!("http://{}/v2/", reg.host)).call();
    if let Ok(r) = plain {
        assert_eq!(
            r.status(),
            400,
            "Go answers plain HTTP on a TLS port with 400"
        );
    }

    // curl with --cacert agrees, where curl is installed.
    if vouch_e2e::registry::which("curl").is_some() {
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&tls.ca_cert)
            .arg(format!("{}/v2/", reg.base_url()))
            .output()
            .expect("run curl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{out:?}");
    }
}

#[test]
fn mtls_registry_requires_a_client_certificate_from_the_ca() {
    let tls = TlsFiles::generate();
    let reg = Registry::start_with(RegistryOptions {
        tls: Some(tls.clone()),
        mtls: true,
        ..Default::default()
    });
    TestImage::new("mtls").push(&reg, "app", "v1");
    let url = format!("{}/v2/app/manifests/v1", reg.base_url());
    let ok = tls
        .agent_with_client_cert()
        .get(&url)
        .header("Accept", ACCEPT)
        .call();
    assert_eq!(status_of(&ok), 200);
    assert!(
        tls.agent().get(&url).call().is_err(),
        "no client certificate must fail"
    );
    // A client certificate from another CA is refused too.
    let other = TlsFiles::generate();
    assert!(
        tls.agent_presenting(&other.client)
            .get(&url)
            .call()
            .is_err()
    );
}

#[test]
fn mismatched_and_expired_server_certificates_are_refused_by_a_verifying_client() {
    for (what, options) in [
        (
            "name mismatch",
            TlsOptions {
                server_names: vec!["registry.invalid".into()],
                expired: false,
            },
        ),
        (
            "expired",
            TlsOptions {
                expired: true,
                ..TlsOptions::default()
            },
        ),
    ] {
        let tls = TlsFiles::generate_with(options);
        // The registry itself starts (its readiness probe cannot verify, so probe raw TCP).
        let (reg, _guard) = start_unverifiable(&tls);
        let err = tls
            .agent()
            .get(&format!("https://{}/v2/", reg))
            .call()
            .expect_err(what);
        assert!(
            format!("{err}").to_lowercase().contains("certificate"),
            "{what}: {err}"
        );
    }
}

/// A TLS registry whose certificate a verifying client refuses: start it by hand.
fn start_unverifiable(tls: &TlsFiles) -> (String, KillOnDrop) {
    let dir = tls.dir().to_path_buf();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: '{}'\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: '{}'\n    key: '{}'\n",
            dir.join("storage").display(),
            tls.server_cert.display(),
            tls.server_key.display()
        ),
    )
    .expect("config");
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let guard = KillOnDrop(child);
    let host = format!("127.0.0.1:{port}");
    let start = Instant::now();
    while TcpStream::connect(&host).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "registry did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (host, guard)
}

struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------- htpasswd

#[test]
fn htpasswd_registry_answers_401_without_credentials_and_200_with_them() {
    // Plain HTTP: Distribution 2.8 does not insist on TLS for htpasswd.
    let reg = Registry::start_with(RegistryOptions {
        htpasswd: Some(("bob".into(), "bob-secret".into())),
        ..Default::default()
    });
    let url = format!("{}/v2/", reg.base_url());
    let anon = reg.client().get(&url).call().expect("anonymous");
    assert_eq!(anon.status(), 401);
    assert_eq!(
        header(&anon, "www-authenticate").as_deref(),
        Some("Basic realm=\"vouch-e2e\"")
    );
    let wrong = reg
        .client()
        .get(&url)
        .header(
            "Authorization",
            vouch_e2e::auth::basic_header("bob", "nope"),
        )
        .call();
    assert_eq!(status_of(&wrong), 401);
    let right = reg
        .client()
        .get(&url)
        .header(
            "Authorization",
            vouch_e2e::auth::basic_header("bob", "bob-secret"),
        )
        .call();
    assert_eq!(status_of(&right), 200);
    // The content helpers authenticate by themselves.
    let img = TestImage::new("htpasswd");
    img.push(&reg, "app", "v1");
    assert_eq!(
        reg.get_manifest("app", "v1").expect("manifest"),
        img.manifest.bytes
    );
}

#[test]
fn htpasswd_over_tls() {
    let tls = TlsFiles::generate();
    let reg = Registry::start_with(RegistryOptions {
        tls: Some(tls.clone()),
        htpasswd: Some(("bob".into(), "bob-secret".into())),
        ..Default::default()
    });
    let url = format!("{}/v2/", reg.base_url());
    assert_eq!(status_of(&tls.agent().get(&url).call()), 401);
    let ok = tls
        .agent()
        .get(&url)
        .header(
            "Authorization",
            vouch_e2e::auth::basic_header("bob", "bob-secret"),
        )
        .call();
    assert_eq!(status_of(&ok), 200);
    TestImage::new("htpasswd tls").push(&reg, "app", "v1");
}

// ---------------------------------------------------------------- tokens

/// The whole client side of the token flow, by hand: challenge, token, retry.
fn token_for(client: &ureq::Agent, challenge: &str, basic: Option<&str>) -> (u16, String) {
    let params = challenge_params(challenge);
    let mut url = format!(
        "{}?service={}",
        param(&params, "realm"),
        param(&params, "service")
    );
    if let Some((_, scope)) = params.iter().find(|(k, _)| k == "scope") {
        url.push_str(&format!("&scope={scope}"));
    }
    let mut req = client.get(&url);
    if let Some(b) = basic {
        req = req.header("Authorization", b);
    }
    let mut resp = req.call().expect("token request");
    let status = resp.status().as_u16();
    let body: serde_json::Value = json_of(&mut resp).unwrap_or_default();
    let token = body["token"]
        .as_str()
        .or(body["access_token"].as_str())
        .unwrap_or_default()
        .to_string();
    (status, token)
}

fn token_flow(options: TokenServerOptions) {
    let ts = TokenServer::start_with(options.clone());
    let tls = options.tls.clone();
    let reg = Registry::start_with(RegistryOptions {
        tls: tls.clone(),
        token_auth: Some(ts.clone()),
        ..Default::default()
    });
    let client = reg.client().clone();
    let img = TestImage::new("token");
    img.push(&reg, "app", "v1");
    assert_eq!(
        ts.request_count(),
        0,
        "minted tokens do not touch the server"
    );
    let alice = vouch_e2e::auth::basic_header("alice", "alice-secret");

    // Pull: 401 with a Bearer challenge naming the realm, service and scope.
    let url = format!("{}/v2/app/manifests/v1", reg.base_url());
    let resp = client
        .get(&url)
        .header("Accept", ACCEPT)
        .call()
        .expect("GET");
    assert_eq!(resp.status(), 401);
    let challenge = header(&resp, "www-authenticate").expect("challenge");
    let params = challenge_params(&challenge);
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert_eq!(param(&params, "realm"), ts.realm());
    assert_eq!(param(&params, "service"), ts.service());
    assert_eq!(param(&params, "scope"), "repository:app:pull");

    let (status, token) = token_for(&client, &challenge, Some(&alice));
    assert_eq!(status, 200);
    let resp = client
        .get(&url)
        .header("Accept", ACCEPT)
        .header("Authorization", format!("Bearer {token}"))
        .call();
    assert_eq!(status_of(&resp), 200);
    assert_eq!(ts.request_count(), 1);
    assert_eq!(ts.issued_tokens(), vec![token.clone()]);
    assert_eq!(ts.authorization_headers(), vec![alice.clone()]);
    let seen = &ts.requests()[0];
    assert_eq!(seen.user.as_deref(), Some("alice"));
    assert_eq!(seen.scopes, vec!["repository:app:pull".to_string()]);
    // The token is reusable until it expires.
    let again = client
        .get(&url)
        .header("Accept", ACCEPT)
        .header("Authorization", format!("Bearer {token}"))
        .call();
    assert_eq!(status_of(&again), 200);

    // Push: POST an upload, get a pull,push challenge, a token for it, and push.
    let blob = vouch_e2e::image::Blob::new(b"pushed with a token".to_vec());
    let uploads = format!("{}/v2/other/blobs/uploads/", reg.base_url());
    let resp = client.post(&uploads).send_empty().expect("POST");
    assert_eq!(resp.status(), 401);
    let challenge = header(&resp, "www-authenticate").expect("challenge");
    // Distribution 2.8 lists the actions in random order (a Go map): `pull,push` or
    // `push,pull`.
    let scope = param(&challenge_params(&challenge), "scope").to_string();
    let (resource, actions) = scope.rsplit_once(':').expect("scope");
    let mut actions: Vec<&str> = actions.split(',').collect();
    actions.sort_unstable();
    assert_eq!(
        (resource, actions),
        ("repository:other", vec!["pull", "push"])
    );
    let (_, push_token) = token_for(&client, &challenge, Some(&alice));
    let bearer = format!("Bearer {push_token}");
    let resp = client
        .post(&uploads)
        .header("Authorization", &bearer)
        .send_empty()
        .expect("POST with token");
    assert_eq!(resp.status(), 202);
    let location = header(&resp, "location").expect("location");
    let put = client
        .put(&format!("{location}&digest={}", blob.digest))
        .header("Authorization", &bearer)
        .header("Content-Type", "application/octet-stream")
        .send(&blob.bytes[..]);
    assert_eq!(status_of(&put), 201);
    assert_eq!(reg.get_blob("other", &blob.digest), blob.bytes);
    // A pull-only token cannot push.
    let resp = client
        .post(&uploads)
        .header("Authorization", format!("Bearer {token}"))
        .send_empty();
    assert_eq!(status_of(&resp), 401);

    // Without credentials the token grants nothing; wrong credentials get no token.
    let (status, anon) = token_for(&client, &challenge, None);
    assert_eq!(status, 200);
    let resp = client
        .get(&url)
        .header("Accept", ACCEPT)
        .header("Authorization", format!("Bearer {anon}"))
        .call();
    assert_eq!(status_of(&resp), 401);
    let (status, _) = token_for(
        &client,
        &challenge,
        Some(&vouch_e2e::auth::basic_header("alice", "wrong")),
    );
    assert_eq!(status, 401);
    assert_eq!(ts.request_count(), 4);
}

#[test]
fn token_auth_end_to_end_with_an_x5c_header() {
    token_flow(TokenServerOptions::default());
}

#[test]
fn token_auth_end_to_end_with_a_kid_header_and_only_access_token() {
    token_flow(TokenServerOptions {
        key_header: KeyHeader::Kid,
        fields: TokenFields::AccessTokenOnly,
        ..Default::default()
    });
}

#[test]
fn token_auth_end_to_end_over_tls_with_an_https_realm() {
    token_flow(TokenServerOptions {
        tls: Some(TlsFiles::generate()),
        ..Default::default()
    });
}

#[test]
fn registry_refuses_tokens_with_wrong_claims_or_signer() {
    let ts = TokenServer::start();
    let reg = Registry::start_with(RegistryOptions {
        token_auth: Some(ts.clone()),
        ..Default::default()
    });
    TestImage::new("claims").push(&reg, "app", "v1");
    let url = format!("{}/v2/app/manifests/v1", reg.base_url());
    let try_token = |token: &str| -> u16 {
        status_of(
            &reg.client()
                .get(&url)
                .header("Accept", ACCEPT)
                .header("Authorization", format!("Bearer {token}"))
                .call(),
        )
    };
    assert_eq!(try_token(&ts.mint("alice", &[("app", &["pull"])])), 200);
    assert_eq!(
        try_token(&ts.mint("alice", &[("elsewhere", &["pull"])])),
        401
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = |iss: &str, aud: &str, exp: u64| {
        serde_json::json!({
            "iss": iss, "sub": "alice", "aud": aud, "exp": exp, "nbf": now - 10, "iat": now - 10,
            "jti": "x", "access": [{"type": "repository", "name": "app", "actions": ["pull"]}],
        })
    };
    assert_eq!(
        try_token(&ts.sign_claims(&claims(ts.issuer(), ts.service(), now + 60))),
        200
    );
    assert_eq!(
        try_token(&ts.sign_claims(&claims("someone-else", ts.service(), now + 60))),
        401
    );
    assert_eq!(
        try_token(&ts.sign_claims(&claims(ts.issuer(), "another-service", now + 60))),
        401
    );
    // Expired well past any leeway.
    assert_eq!(
        try_token(&ts.sign_claims(&claims(ts.issuer(), ts.service(), now - 3600))),
        401
    );
    // 60 s of leeway: 30 s past `exp` still passes.
    assert_eq!(
        try_token(&ts.sign_claims(&claims(ts.issuer(), ts.service(), now - 30))),
        200
    );
    // 2.8.2 takes `aud` only as a string: an array is a "malformed token".
    let mut array_aud = claims(ts.issuer(), ts.service(), now + 60);
    array_aud["aud"] = serde_json::json!([ts.service()]);
    assert_eq!(try_token(&ts.sign_claims(&array_aud)), 401);
    // Signed by another token server's key (same issuer and service names).
    let stranger = TokenServer::start();
    assert_eq!(
        try_token(&stranger.mint("alice", &[("app", &["pull"])])),
        401
    );
}

#[test]
fn token_server_read_only_users_and_anonymous_pull() {
    let ts = TokenServer::start_with(TokenServerOptions {
        users: vec![
            ("alice".into(), "alice-secret".into()),
            ("reader".into(), "reader-secret".into()),
        ],
        read_only_users: vec!["reader".into()],
        anonymous_pull: true,
        ..Default::default()
    });
    let client = agent();
    let get = |auth: Option<String>, scope: &str| -> serde_json::Value {
        let mut req = client.get(&format!(
            "{}?service={}&scope={scope}",
            ts.realm(),
            ts.service()
        ));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let mut resp = req.call().expect("token");
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = json_of(&mut resp).expect("JSON");
        let token = body["token"].as_str().expect("token");
        let claims = token.split('.').nth(1).expect("claims");
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .expect("base64url"),
        )
        .expect("claims JSON")
    };
    let reader = get(
        Some(vouch_e2e::auth::basic_header("reader", "reader-secret")),
        "repository:app:pull,push",
    );
    assert_eq!(reader["access"][0]["actions"], serde_json::json!(["pull"]));
    let anonymous = get(None, "repository:app:pull,push");
    assert_eq!(
        anonymous["access"][0]["actions"],
        serde_json::json!(["pull"])
    );
    assert_eq!(anonymous["sub"], "");
    let alice = get(
        Some(vouch_e2e::auth::basic_header("alice", "alice-secret")),
        "repository:app:pull,push",
    );
    assert_eq!(
        alice["access"][0]["actions"],
        serde_json::json!(["pull", "push"])
    );
    assert_eq!(alice["aud"], ts.service());
    assert_eq!(alice["iss"], ts.issuer());
    // The OAuth2 password grant answers too.
    let mut resp = client
        .post(&ts.realm())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!(
            "grant_type=password&username=alice&password=alice-secret&service={}&scope=repository%3Aapp%3Apull&client_id=test",
            ts.service()
        ))
        .expect("POST token");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = json_of(&mut resp).expect("JSON");
    assert!(body["access_token"].is_string(), "{body}");
    assert_eq!(ts.request_count(), 4);
}

// ---------------------------------------------------------------- fault proxy

#[test]
fn proxy_forwards_push_and_pull_and_locations_point_at_the_proxy() {
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg.host);
    let client = agent();
    let base = format!("http://{}", proxy.host);

    // Monolithic upload: Location comes back naming the proxy (Host was forwarded).
    let blob = vouch_e2e::image::Blob::new(b"through the proxy".to_vec());
    let resp = client
        .post(&format!("{base}/v2/app/blobs/uploads/"))
        .send_empty()
        .expect("POST");
    assert_eq!(resp.status(), 202);
    let location = header(&resp, "location").expect("location");
    assert!(
        location.starts_with(&format!("http://{}/v2/app/blobs/uploads/", proxy.host)),
        "{location}"
    );
    // A chunked PATCH (no Content-Length), then the closing PUT.
    let mut reader = &blob.bytes[..];
    let resp = client
        .patch(&location)
        .header("Content-Type", "application/octet-stream")
        .send(ureq::SendBody::from_reader(&mut reader))
        .expect("PATCH");
    assert_eq!(resp.status(), 202, "chunked PATCH");
    let location = header(&resp, "location").expect("location");
    assert!(location.contains(&proxy.host), "{location}");
    let resp = client
        .put(&format!("{location}&digest={}", blob.digest))
        .send_empty();
    assert_eq!(status_of(&resp), 201);
    let patch = proxy
        .requests()
        .into_iter()
        .find(|s| s.method == "PATCH")
        .expect("PATCH seen");
    assert_eq!(patch.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reg.get_blob("app", &blob.digest), blob.bytes);

    // HEAD (a Content-Length but no body) then GET on the same kept-alive connection.
    let img = TestImage::new("proxied");
    img.push(&reg, "app", "v1");
    let url = format!("{base}/v2/app/manifests/v1");
    let head = client
        .head(&url)
        .header("Accept", ACCEPT)
        .call()
        .expect("HEAD");
    assert_eq!(head.status(), 200);
    assert_eq!(
        header(&head, "docker-content-digest").as_deref(),
        Some(img.digest())
    );
    let mut get = client
        .get(&url)
        .header("Accept", ACCEPT)
        .call()
        .expect("GET");
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.body_mut().read_to_vec().expect("body"),
        img.manifest.bytes
    );
    let seen = proxy.requests();
    let (h, g) = (&seen[seen.len() - 2], &seen[seen.len() - 1]);
    assert_eq!((h.method.as_str(), g.method.as_str()), ("HEAD", "GET"));
    assert_eq!(h.connection, g.connection, "the connection was kept alive");
    assert_eq!(g.outcome, Outcome::Forwarded(200));
    assert_eq!(g.header("host"), Some(proxy.host.as_str()));
    assert_eq!(proxy.count(), 5);
    assert_eq!(proxy.count_matching("GET", "/manifests/"), 1);
}

#[test]
fn proxy_answers_429_with_retry_after_then_forwards() {
    let reg = Registry::start();
    let img = TestImage::new("429");
    img.push(&reg, "app", "v1");
    let proxy = FaultProxy::start(&reg.host);
    proxy.add_rule(Rule::too_many_requests("GET", "/manifests/", 2, 2));
    let url = format!("http://{}/v2/app/manifests/v1", proxy.host);
    let client = agent();
    for _ in 0..2 {
        let mut resp = client
            .get(&url)
            .header("Accept", ACCEPT)
            .call()
            .expect("GET");
        assert_eq!(resp.status(), 429);
        assert_eq!(header(&resp, "retry-after").as_deref(), Some("2"));
        let body: serde_json::Value = json_of(&mut resp).expect("error JSON");
        assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    }
    let mut resp = client
        .get(&url)
        .header("Accept", ACCEPT)
        .call()
        .expect("GET");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.body_mut().read_to_vec().expect("body"),
        img.manifest.bytes
    );
    // Other paths were never affected.
    let v2 = client.get(&format!("http://{}/v2/", proxy.host)).call();
    assert_eq!(status_of(&v2), 200);
    assert_eq!(proxy.remaining(), vec![0]);
    let outcomes: Vec<Outcome> = proxy.requests().into_iter().map(|s| s.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Injected(429),
            Outcome::Injected(429),
            Outcome::Forwarded(200),
            Outcome::Forwarded(200)
        ]
    );
}

#[test]
fn proxy_injects_5xx_then_forwards_and_keeps_the_connection() {
    let reg = Registry::start();
    TestImage::new("5xx").push(&reg, "app", "v1");
    let proxy = FaultProxy::start(&reg.host);
    proxy
        .add_rule(Rule::status("*", "/manifests/", 500, 1))
        .add_rule(Rule::status("*", "/manifests/", 502, 1))
        .add_rule(Rule::new(
            "GET",
            "/manifests/",
            Fault::Status {
                code: 503,
                retry_after: Some("1".into()),
            },
            1,
        ));
    let url = format!("http://{}/v2/app/manifests/v1", proxy.host);
    let client = agent();
    let statuses: Vec<(u16, Option<String>)> = (0..4)
        .map(|_| {
            let mut resp = client
                .get(&url)
                .header("Accept", ACCEPT)
                .call()
                .expect("GET");
            // Read the body so ureq can reuse the connection.
            resp.body_mut().read_to_vec().expect("body");
            (resp.status().as_u16(), header(&resp, "retry-after"))
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            (500, None),
            (502, None),
            (503, Some("1".to_string())),
            (200, None)
        ]
    );
    let seen = proxy.requests();
    assert!(seen.iter().all(|s| s.connection == seen[0].connection));
    // A fault on a request with a body: the body is read, the answer still arrives.
    proxy.add_rule(Rule::status("POST", "/blobs/uploads/", 503, 1));
    let resp = client
        .post(&format!("http://{}/v2/app/blobs/uploads/", proxy.host))
        .send(&b"some body"[..]);
    assert_eq!(status_of(&resp), 503);
}

/// A raw HTTP/1.1 GET on a fresh connection: Ok(status line) or the I/O error.
fn raw_get(host: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {ACCEPT}\r\n\r\n"
    )?;
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf)?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed without a response",
        ));
    }
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    Ok(text.lines().next().unwrap_or_default().to_string())
}

#[test]
fn proxy_resets_or_closes_connections_then_forwards() {
    let reg = Registry::start();
    TestImage::new("reset").push(&reg, "app", "v1");
    let proxy = FaultProxy::start(&reg.host);
    proxy
        .add_rule(Rule::reset("GET", "/manifests/", 2))
        .add_rule(Rule::new("GET", "/manifests/", Fault::Close, 1));
    for _ in 0..2 {
        let err = raw_get(&proxy.host, "/v2/app/manifests/v1").expect_err("reset");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    }
    let err = raw_get(&proxy.host, "/v2/app/manifests/v1").expect_err("closed");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    assert_eq!(
        raw_get(&proxy.host, "/v2/app/manifests/v1").expect("forwarded"),
        "HTTP/1.1 200 OK"
    );
    let outcomes: Vec<Outcome> = proxy.requests().into_iter().map(|s| s.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Reset,
            Outcome::Reset,
            Outcome::Closed,
            Outcome::Forwarded(200)
        ]
    );
}

#[test]
fn proxy_adds_latency_and_delays() {
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg.host);
    let url = format!("http://{}/v2/", proxy.host);
    let client = agent();
    proxy.set_latency(Duration::from_millis(300));
    let start = Instant::now();
    assert_eq!(status_of(&client.get(&url).call()), 200);
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    proxy.set_latency(Duration::ZERO);
    proxy.add_rule(Rule::new(
        "GET",
        "/v2/",
        Fault::Delay(Duration::from_millis(400)),
        1,
    ));
    let start = Instant::now();
    assert_eq!(status_of(&client.get(&url).call()), 200);
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert_eq!(status_of(&client.get(&url).call()), 200);
    assert!(
        start.elapsed() < Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn tls_proxy_in_front_of_a_tls_registry() {
    let tls = TlsFiles::generate();
    let reg = Registry::start_with(RegistryOptions {
        tls: Some(tls.clone()),
        ..Default::default()
    });
    let img = TestImage::new("tls proxy");
    img.push(&reg, "app", "v1");
    let proxy = FaultProxy::start_tls(&reg.host, &tls);
    proxy.add_rule(Rule::too_many_requests("GET", "/manifests/", 1, 1));
    let client = tls.agent();
    let url = format!("https://{}/v2/app/manifests/v1", proxy.host);
    assert_eq!(
        status_of(&client.get(&url).header("Accept", ACCEPT).call()),
        429
    );
    let mut resp = client
        .get(&url)
        .header("Accept", ACCEPT)
        .call()
        .expect("GET");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.body_mut().read_to_vec().expect("body"),
        img.manifest.bytes
    );
    let resp = client
        .post(&format!("https://{}/v2/app/blobs/uploads/", proxy.host))
        .send_empty()
        .expect("POST");
    let location = header(&resp, "location").expect("location");
    assert!(
        location.starts_with(&format!("https://{}/", proxy.host)),
        "{location}"
    );
}

#[test]
fn proxy_in_front_of_token_auth_passes_authorization_through() {
    let ts = TokenServer::start();
    let reg = Registry::start_with(RegistryOptions {
        token_auth: Some(ts.clone()),
        ..Default::default()
    });
    TestImage::new("auth proxy").push(&reg, "app", "v1");
    let proxy = FaultProxy::start(&reg.host);
    let token_proxy = FaultProxy::start(&ts.host);
    token_proxy.add_rule(Rule::status("GET", "/token", 503, 1));
    let client = agent();
    let url = format!("http://{}/v2/app/manifests/v1", proxy.host);
    let resp = client
        .get(&url)
        .header("Accept", ACCEPT)
        .call()
        .expect("GET");
    assert_eq!(resp.status(), 401);
    let realm = format!(
        "http://{}/token?service={}&scope=repository:app:pull",
        token_proxy.host,
        ts.service()
    );
    let alice = vouch_e2e::auth::basic_header("alice", "alice-secret");
    assert_eq!(
        status_of(&client.get(&realm).header("Authorization", &alice).call()),
        503
    );
    let mut resp = client
        .get(&realm)
        .header("Authorization", &alice)
        .call()
        .expect("token");
    assert_eq!(resp.status(), 200);
    let token = json_of(&mut resp).expect("JSON")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let bearer = format!("Bearer {token}");
    let resp = client
        .get(&url)
        .header("Accept", ACCEPT)
        .header("Authorization", &bearer)
        .call();
    assert_eq!(status_of(&resp), 200);
    assert_eq!(
        proxy.requests()[1].header("authorization"),
        Some(bearer.as_str())
    );
    assert_eq!(
        ts.request_count(),
        1,
        "the 503 never reached the token server"
    );
    assert_eq!(token_proxy.count(), 2);
}

// ---------------------------------------------------------------- kill and restart

#[test]
fn killed_registry_refuses_connections_and_a_restart_serves_the_same_content() {
    let reg = Registry::start();
    let img = TestImage::new("kill");
    img.push(&reg, "app", "v1");
    let proxy = FaultProxy::start(&reg.host);
    assert!(reg.is_running());
    reg.kill();
    assert!(!reg.is_running());
    reg.kill(); // twice is fine
    let err = TcpStream::connect(&reg.host).expect_err("nothing listens");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let resp = agent().get(&format!("http://{}/v2/", proxy.host)).call();
    assert_eq!(
        status_of(&resp),
        502,
        "the proxy answers 502 for a dead upstream"
    );
    reg.restart();
    assert!(reg.is_running());
    assert_eq!(
        reg.get_manifest("app", "v1").expect("manifest"),
        img.manifest.bytes
    );
    assert_eq!(
        status_of(&agent().get(&format!("http://{}/v2/", proxy.host)).call()),
        200
    );
}

#[test]
fn kill_from_another_thread_mid_request_stream() {
    let reg = std::sync::Arc::new(Registry::start());
    TestImage::new("kill thread").push(&reg, "app", "v1");
    let killer = {
        let reg = std::sync::Arc::clone(&reg);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            reg.kill();
        })
    };
    let url = format!("{}/v2/app/manifests/v1", reg.base_url());
    let start = Instant::now();
    let mut ok = 0;
    let mut failed = false;
    while start.elapsed() < Duration::from_secs(10) {
        match agent().get(&url).header("Accept", ACCEPT).call() {
            Ok(r) if r.status() == 200 => ok += 1,
            _ => {
                failed = true;
                break;
            }
        }
    }
    killer.join().expect("killer");
    assert!(ok > 0 && failed, "ok={ok} failed={failed}");
}

// ---------------------------------------------------------------- credentials on disk

#[test]
fn docker_config_auths_authenticate_against_an_htpasswd_registry() {
    let reg = Registry::start_with(RegistryOptions {
        htpasswd: Some(("carol".into(), "carol-secret".into())),
        ..Default::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = DockerConfig::new()
        .auth(&reg.host, "carol", "carol-secret")
        .write(dir.path());
    assert_eq!(path, dir.path().join("config.json"));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
    let auth = doc["auths"][&reg.host]["auth"].as_str().expect("auth");
    let resp = reg
        .client()
        .get(&format!("{}/v2/", reg.base_url()))
        .header("Authorization", format!("Basic {auth}"))
        .call();
    assert_eq!(status_of(&resp), 200);

    // The same in a containers auth.json.
    let auth_json = vouch_e2e::auth::write_containers_auth(
        &dir.path().join("containers/auth.json"),
        &[(&reg.host, "carol", "carol-secret")],
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&auth_json).expect("read")).expect("JSON");
    assert_eq!(doc["auths"][&reg.host]["auth"].as_str(), Some(auth));

    let helpers = DockerConfig::new()
        .cred_helper(&reg.host, "vouchtest")
        .creds_store("desktop")
        .json();
    assert_eq!(helpers["credHelpers"][&reg.host], "vouchtest");
    assert_eq!(helpers["credsStore"], "desktop");
}

fn run_helper(helper: &CredentialHelper, action: &str, stdin: &str) -> (i32, String) {
    let mut child = Command::new(format!("docker-credential-{}", helper.name))
        .arg(action)
        .env("PATH", helper.path_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run helper from PATH");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("helper output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn credential_helper_answers_get_and_its_credentials_work_on_the_registry() {
    let reg = Registry::start_with(RegistryOptions {
        htpasswd: Some(("dave".into(), "it's a \"secret\"".into())),
        ..Default::default()
    });
    let bin = tempfile::tempdir().expect("tempdir");
    let helper = CredentialHelper::install(
        bin.path(),
        "vouchtest",
        &[(&reg.host, "dave", "it's a \"secret\"")],
    );
    for asked in [
        reg.host.clone(),
        format!("https://{}", reg.host),
        format!("{}/", reg.host),
    ] {
        let (code, out) = run_helper(&helper, "get", &asked);
        assert_eq!(code, 0, "{asked}: {out}");
        let creds: serde_json::Value = serde_json::from_str(&out).expect("helper JSON");
        assert_eq!(creds["ServerURL"], reg.host.as_str());
        assert_eq!(creds["Username"], "dave");
        let resp = reg
            .client()
            .get(&format!("{}/v2/", reg.base_url()))
            .header(
                "Authorization",
                vouch_e2e::auth::basic_header(
                    creds["Username"].as_str().expect("user"),
                    creds["Secret"].as_str().expect("secret"),
                ),
            )
            .call();
        assert_eq!(status_of(&resp), 200);
    }
    let (code, out) = run_helper(&helper, "get", "127.0.0.1:1");
    assert_eq!(code, 1);
    assert_eq!(out.trim(), "credentials not found in native keychain");
    let calls = helper.calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(calls[0], format!("get {}", reg.host));

    let broken = CredentialHelper::install_failing(bin.path(), "broken", "keychain locked");
    let (code, out) = run_helper(&broken, "get", &reg.host);
    assert_eq!((code, out.trim()), (1, "keychain locked"));
}

/// Reads one message head (up to the blank line) from a raw stream.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read head");
        assert_eq!(
            n,
            1,
            "closed inside a head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn proxy_relays_expect_100_continue_and_faults_skip_the_body() {
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg.host);
    let blob = vouch_e2e::image::Blob::new(b"sent after 100 Continue".to_vec());
    let resp = agent()
        .post(&format!("http://{}/v2/app/blobs/uploads/", proxy.host))
        .send_empty()
        .expect("POST");
    let location = header(&resp, "location").expect("location");
    let path = location
        .strip_prefix(&format!("http://{}", proxy.host))
        .expect("location names the proxy");

    let mut s = TcpStream::connect(&proxy.host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "PUT {path}&digest={} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        blob.digest,
        proxy.host,
        blob.bytes.len()
    )
    .expect("write head");
    let interim = read_head(&mut s);
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    s.write_all(&blob.bytes).expect("write body");
    let fin = read_head(&mut s);
    assert!(fin.starts_with("HTTP/1.1 201 Created"), "{fin}");
    assert_eq!(reg.get_blob("app", &blob.digest), blob.bytes);

    // An injected fault answers at once; the client never sends its body.
    proxy.add_rule(Rule::too_many_requests("PUT", "", 1, 1));
    let mut s = TcpStream::connect(&proxy.host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "PUT /v2/app/manifests/x HTTP/1.1\r\nHost: {}\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
        proxy.host
    )
    .expect("write head");
    let fin = read_head(&mut s);
    assert!(fin.starts_with("HTTP/1.1 429 Too Many Requests"), "{fin}");
    assert!(fin.contains("Retry-After: 1\r\n"), "{fin}");
}

#[test]
fn proxy_passes_chunked_and_close_delimited_responses_byte_for_byte() {
    // A scripted upstream: a chunked response with an extension and a trailer, then a
    // response whose body ends when the connection closes.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let upstream_host = upstream.local_addr().expect("addr").to_string();
    let chunked: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Test: 1\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: y\r\n\r\n";
    let until_close: &[u8] = b"HTTP/1.1 200 OK\r\nX-Test: 2\r\n\r\nthe rest of the stream";
    let server = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().expect("accept");
        let mut seen = Vec::new();
        for reply in [chunked, until_close] {
            let head = read_head(&mut s);
            seen.push(head);
            s.write_all(reply).expect("reply");
        }
        seen
    });
    let proxy = FaultProxy::start(&upstream_host);
    let mut s = TcpStream::connect(&proxy.host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let first = format!(
        "GET /a?x=1 HTTP/1.1\r\nHost: {}\r\nX-Custom: kept\r\n\r\n",
        proxy.host
    );
    s.write_all(first.as_bytes()).expect("write");
    let mut got = vec![0u8; chunked.len()];
    s.read_exact(&mut got).expect("chunked response");
    assert_eq!(got, chunked);
    let second = format!("GET /b HTTP/1.1\r\nHost: {}\r\n\r\n", proxy.host);
    s.write_all(second.as_bytes()).expect("write");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("until close");
    assert_eq!(rest, until_close);
    let seen = server.join().expect("upstream");
    assert_eq!(
        seen,
        vec![first, second],
        "requests reach the upstream unchanged"
    );
}

#[test]
fn token_server_can_issue_tokens_the_registry_finds_expired() {
    let ts = TokenServer::start_with(TokenServerOptions {
        token_exp: Some(-120),
        ..Default::default()
    });
    let reg = Registry::start_with(RegistryOptions {
        token_auth: Some(ts.clone()),
        ..Default::default()
    });
    let client = reg.client().clone();
    let url = format!("{}/v2/", reg.base_url());
    let resp = client.get(&url).call().expect("GET");
    let challenge = header(&resp, "www-authenticate").expect("challenge");
    let (status, token) = token_for(
        &client,
        &challenge,
        Some(&vouch_e2e::auth::basic_header("alice", "alice-secret")),
    );
    assert_eq!(status, 200);
    let resp = client
        .get(&url)
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .expect("GET");
    assert_eq!(resp.status(), 401);
    let challenge = header(&resp, "www-authenticate").expect("challenge");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}
