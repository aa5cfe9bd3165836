//! The listener against a real HTTPS client: HTTP/2 and HTTP/1.1 on one port, a request that
//! panics answered with a 500 while the server goes on, bodies over the limit refused, and a
//! rotated certificate served to new connections without a restart.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use vouch_server::{Body, Limits, ReloadingCertificate, Service, TlsFiles, read_limited, text};

struct Echo;

impl Service for Echo {
    async fn call(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        match request.uri().path() {
            "/panic" => panic!("boom"),
            "/body" => match read_limited(request.into_body(), 16).await {
                Ok(b) => text(StatusCode::OK, format!("{} bytes", b.len())),
                Err(e) => text(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            },
            _ => text(StatusCode::OK, "ok"),
        }
    }
}

/// A CA and a serving certificate for 127.0.0.1 signed by it, written to `dir`.
fn issue(dir: &Path, name: &str) -> (TlsFiles, reqwest::Certificate) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} CA"));
    let issuer = rcgen::Issuer::new(ca.clone(), &ca_key);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let cert = params.signed_by(&key, &issuer).expect("leaf");
    let files = TlsFiles {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.cert, cert.pem()).expect("cert");
    std::fs::write(&files.key, key.serialize_pem()).expect("key");
    let root = reqwest::Certificate::from_pem(ca_cert.pem().as_bytes()).expect("ca pem");
    (files, root)
}

fn client(root: reqwest::Certificate, http1_only: bool) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([root])
        .timeout(Duration::from_secs(10));
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().expect("client")
}

async fn start(files: TlsFiles) -> SocketAddr {
    let resolver = ReloadingCertificate::load(files).expect("certificate");
    let tls = resolver.server_config().expect("tls config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(vouch_server::serve(
        listener,
        Some(tls),
        Arc::new(Echo),
        Limits::default(),
        std::future::pending(),
    ));
    addr
}

#[tokio::test]
async fn http2_and_http1_panics_and_body_limits() {
    let dir = tempfile::tempdir().expect("dir");
    let (files, root) = issue(dir.path(), "one");
    let addr = start(files).await;
    let url = |path: &str| format!("https://{addr}{path}");

    let h2 = client(root.clone(), false);
    let r = h2.get(url("/")).send().await.expect("h2 request");
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let h1 = client(root, true);
    let r = h1.get(url("/")).send().await.expect("h1 request");
    assert_eq!(r.version(), http::Version::HTTP_11);

    for c in [&h2, &h1] {
        let r = c.get(url("/panic")).send().await.expect("answered");
        assert_eq!(r.status(), 500);
        let r = c.get(url("/")).send().await.expect("still serving");
        assert_eq!(r.status(), 200);
    }
    let r = h2
        .post(url("/body"))
        .body(vec![0u8; 17])
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 413);
    let r = h2
        .post(url("/body"))
        .body(vec![0u8; 16])
        .send()
        .await
        .expect("answered");
    assert_eq!(r.text().await.expect("text"), "16 bytes\n");
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let (files, old_root) = issue(dir.path(), "old");
    let addr = start(files.clone()).await;
    let url = format!("https://{addr}/");
    client(old_root.clone(), true)
        .get(&url)
        .send()
        .await
        .expect("old certificate");

    let (new, new_root) = issue(dir.path(), "new");
    std::fs::rename(&new.cert, &files.cert).expect("cert");
    std::fs::rename(&new.key, &files.key).expect("key");
    // The files are looked at no more than once a second.
    let mut served_new = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if client(new_root.clone(), true)
            .get(&url)
            .send()
            .await
            .is_ok()
        {
            served_new = true;
            break;
        }
    }
    assert!(served_new, "the new certificate was never served");
    assert!(
        client(old_root, true).get(&url).send().await.is_err(),
        "a client trusting only the old CA must now fail"
    );
}

#[tokio::test]
async fn slow_handshakes_and_garbage_do_not_stop_the_server() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().expect("dir");
    let (files, root) = issue(dir.path(), "one");
    let addr = start(files).await;
    // A client that connects and says nothing, and one that sends garbage.
    let _idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut junk = tokio::net::TcpStream::connect(addr).await.expect("connect");
    junk.write_all(b"\x16\x03\x01\xff\xffgarbage")
        .await
        .expect("write");
    let r = client(root, false)
        .get(format!("https://{addr}/"))
        .send()
        .await
        .expect("served");
    assert_eq!(r.status(), 200);
}
