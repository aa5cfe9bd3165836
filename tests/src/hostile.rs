//! A hostile registry for tests: a small HTTP/1.1 server on loopback that speaks enough of
//! the distribution API for vouch (manifests and blobs by tag or digest, blob uploads,
//! manifest pushes, a bearer-token endpoint), and lets each repository script how it lies.
//!
//! One server holds many repositories; each has its own content and its own [`Handler`],
//! which sees every request and answers with a [`Reply`]: the honest answer
//! ([`Ctx::honest`]), or anything else: wrong bytes, lying headers, bodies that never end
//! or drip a byte a second, bad framing, redirects, auth storms, raw non-HTTP bytes.
//! A second listener on 127.0.0.2 (same repositories, see [`Req::via_other_host`]) plays
//! "another host" for redirects. Every request is logged per repository.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::image::Blob;

/// Largest request head or body the server reads.
const MAX_REQUEST: usize = 16 * 1024 * 1024;
/// Chunk size for endless bodies.
const CHUNK: usize = 64 * 1024;

/// How a repository answers: sees each request, returns the reply.
pub type Handler = Arc<dyn Fn(&Req, &Ctx<'_>) -> Reply + Send + Sync>;

/// What a request is, in registry terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/` (always answered 200 by the server itself).
    Base,
    /// `/v2/<repo>/manifests/<reference>`.
    Manifest(String),
    /// `/v2/<repo>/blobs/<digest>`.
    Blob(String),
    /// `/v2/<repo>/referrers/<digest>` (OCI 1.1 Referrers API).
    Referrers(String),
    /// `/v2/<repo>/blobs/uploads/` (POST).
    UploadStart,
    /// `/v2/<repo>/blobs/uploads/<id>` (PUT with `?digest=`).
    Upload(String),
    /// `/token/<repo>`: this server's token endpoint for `<repo>`.
    Token,
    /// Anything else.
    Other,
}

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Req {
    /// `GET`, `HEAD`, `PUT`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?` (empty if none).
    pub query: String,
    /// Headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (Content-Length framed requests only).
    pub body: Vec<u8>,
    /// The route.
    pub route: Route,
    /// The repository named in the path.
    pub repo: String,
    /// True when it arrived on the 127.0.0.2 listener.
    pub via_other_host: bool,
}

impl Req {
    /// A header's value (name in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter's (raw) value.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// A request as logged.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// Route.
    pub route: Route,
    /// Arrived on the 127.0.0.2 listener.
    pub via_other_host: bool,
    /// The Authorization header, if one was sent.
    pub authorization: Option<String>,
}

/// A response body.
#[derive(Debug, Clone)]
pub enum Body {
    /// These bytes.
    Bytes(Vec<u8>),
    /// `fill` repeated forever, as fast as the client reads.
    Endless(u8),
    /// `prefix`, then one `fill` byte every `every`, forever.
    Drip {
        /// Sent at once.
        prefix: Vec<u8>,
        /// The byte dripped.
        fill: u8,
        /// Time between bytes.
        every: Duration,
    },
    /// Nothing, ever; the connection stays open until the client gives up.
    Silent,
}

/// How the body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` of the actual bytes (or none for endless bodies: chunked).
    Exact,
    /// `Content-Length: n` whatever is actually sent.
    Declared(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No length: the body ends when the connection closes.
    UntilClose,
}

/// What the server sends back.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A normal HTTP response (always with `Connection: close`).
    Http {
        /// Status code.
        status: u16,
        /// Headers besides framing and `Connection`.
        headers: Vec<(String, String)>,
        /// The body.
        body: Body,
        /// How it is framed.
        framing: Framing,
    },
    /// Raw bytes as they are, then `then` (no framing at all): for broken status lines,
    /// endless or dripping headers, non-HTTP answers.
    Raw {
        /// Sent first.
        bytes: Vec<u8>,
        /// Sent after.
        then: Body,
    },
}

impl Reply {
    /// `status` with a body and a content type.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply::Http {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Bytes(body),
            framing: Framing::Exact,
        }
    }

    /// `status` with a distribution-style JSON error body.
    pub fn error(status: u16, code: &str) -> Reply {
        let body = format!(r#"{{"errors":[{{"code":"{code}","message":"{code}"}}]}}"#);
        Reply::bytes(status, "application/json", body.into_bytes())
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::empty(status).header("Location", location)
    }

    /// `status` with no body.
    pub fn empty(status: u16) -> Reply {
        Reply::Http {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            framing: Framing::Exact,
        }
    }

    /// Adds (or replaces) a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Http { headers, .. } = &mut self {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Removes a header.
    pub fn without_header(mut self, name: &str) -> Reply {
        if let Reply::Http { headers, .. } = &mut self {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        }
        self
    }

    /// Replaces the body (keeping status and headers).
    pub fn body(mut self, new: Body) -> Reply {
        if let Reply::Http { body, .. } = &mut self {
            *body = new;
        }
        self
    }

    /// Replaces the framing.
    pub fn framing(mut self, new: Framing) -> Reply {
        if let Reply::Http { framing, .. } = &mut self {
            *framing = new;
        }
        self
    }

    /// The status code (0 for raw replies).
    pub fn status(&self) -> u16 {
        match self {
            Reply::Http { status, .. } => *status,
            Reply::Raw { .. } => 0,
        }
    }

    /// The body bytes of a plain reply (empty for streamed bodies).
    pub fn body_bytes(&self) -> &[u8] {
        match self {
            Reply::Http {
                body: Body::Bytes(b),
                ..
            } => b,
            _ => &[],
        }
    }
}

#[derive(Default)]
struct Content {
    /// By tag or digest: (media type, bytes).
    manifests: HashMap<String, (String, Vec<u8>)>,
    blobs: HashMap<String, Vec<u8>>,
}

/// One repository: content, behaviour, and the log of what was asked.
pub struct Repo {
    name: String,
    content: Mutex<Content>,
    handler: Mutex<Option<Handler>>,
    token: Mutex<Option<String>>,
    log: Mutex<Vec<Logged>>,
    uploads: AtomicUsize,
}

impl Repo {
    /// The repository name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stores a manifest under a tag or digest (its digest is always added too).
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) {
        let blob = Blob::new(bytes.to_vec());
        let mut c = lock(&self.content);
        c.manifests
            .insert(reference.into(), (media_type.into(), bytes.to_vec()));
        c.manifests
            .insert(blob.digest, (media_type.into(), bytes.to_vec()));
    }

    /// Stores a blob under its digest.
    pub fn put_blob(&self, blob: &Blob) {
        lock(&self.content)
            .blobs
            .insert(blob.digest.clone(), blob.bytes.clone());
    }

    /// A stored manifest: (media type, bytes).
    pub fn manifest(&self, reference: &str) -> Option<(String, Vec<u8>)> {
        lock(&self.content).manifests.get(reference).cloned()
    }

    /// A stored blob.
    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        lock(&self.content).blobs.get(digest).cloned()
    }

    /// Scripts this repository's behaviour.
    pub fn on(&self, handler: impl Fn(&Req, &Ctx<'_>) -> Reply + Send + Sync + 'static) {
        *lock(&self.handler) = Some(Arc::new(handler));
    }

    /// Makes the honest answer demand `Authorization: Bearer <token>` on the primary host,
    /// with a challenge naming this server's token endpoint, which hands out `token`.
    pub fn require_token(&self, token: &str) {
        *lock(&self.token) = Some(token.to_string());
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Logged> {
        lock(&self.log).clone()
    }

    /// How many requests so far match `f`.
    pub fn count(&self, f: impl Fn(&Logged) -> bool) -> usize {
        lock(&self.log).iter().filter(|l| f(l)).count()
    }
}

/// What a handler can use besides the request.
pub struct Ctx<'a> {
    repo: &'a Repo,
    host: &'a str,
    other_host: &'a str,
    hits: usize,
}

impl Ctx<'_> {
    /// The repository.
    pub fn repo(&self) -> &Repo {
        self.repo
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        self.host
    }

    /// `127.0.0.2:PORT`.
    pub fn other_host(&self) -> &str {
        self.other_host
    }

    /// How many requests with this method and path this repository has seen, this one
    /// included (1 on the first).
    pub fn hits(&self) -> usize {
        self.hits
    }

    /// What a well-behaved registry would answer.
    pub fn honest(&self, req: &Req) -> Reply {
        honest(self, req)
    }
}

fn honest(ctx: &Ctx<'_>, req: &Req) -> Reply {
    let repo = ctx.repo;
    if req.route == Route::Token {
        return match lock(&repo.token).clone() {
            Some(t) => Reply::bytes(
                200,
                "application/json",
                format!(r#"{{"token":"{t}","expires_in":300}}"#).into_bytes(),
            ),
            None => Reply::error(404, "NOT_FOUND"),
        };
    }
    if let Some(token) = lock(&repo.token).clone()
        && !req.via_other_host
        && req.header("authorization") != Some(format!("Bearer {token}").as_str())
    {
        let challenge = format!(
            r#"Bearer realm="http://{}/token/{}",service="hostile""#,
            ctx.host, repo.name
        );
        return Reply::error(401, "UNAUTHORIZED").header("WWW-Authenticate", &challenge);
    }
    let head = req.method == "HEAD";
    match (&req.route, req.method.as_str()) {
        (Route::Manifest(reference), "GET" | "HEAD") => match repo.manifest(reference) {
            Some((media_type, bytes)) => {
                let digest = Blob::new(bytes.clone()).digest;
                let len = bytes.len() as u64;
                let reply = Reply::bytes(200, &media_type, if head { Vec::new() } else { bytes })
                    .header("Docker-Content-Digest", &digest);
                if head {
                    reply.framing(Framing::Declared(len))
                } else {
                    reply
                }
            }
            None => Reply::error(404, "MANIFEST_UNKNOWN"),
        },
        (Route::Manifest(reference), "PUT") => {
            let media_type = req.header("content-type").unwrap_or("").to_string();
            repo.put_manifest(reference, &media_type, &req.body);
            let digest = Blob::new(req.body.clone()).digest;
            Reply::empty(201)
                .header("Docker-Content-Digest", &digest)
                .header("Location", &format!("/v2/{}/manifests/{digest}", repo.name))
        }
        (Route::Blob(digest), "GET" | "HEAD") => match repo.blob(digest) {
            Some(bytes) => {
                let len = bytes.len() as u64;
                let reply = Reply::bytes(
                    200,
                    "application/octet-stream",
                    if head { Vec::new() } else { bytes },
                )
                .header("Docker-Content-Digest", digest);
                if head {
                    reply.framing(Framing::Declared(len))
                } else {
                    reply
                }
            }
            None => Reply::error(404, "BLOB_UNKNOWN"),
        },
        (Route::UploadStart, "POST") => {
            let id = repo.uploads.fetch_add(1, Ordering::SeqCst);
            Reply::empty(202)
                .header(
                    "Location",
                    &format!("/v2/{}/blobs/uploads/u{id}", repo.name),
                )
                .header("Range", "0-0")
        }
        (Route::Upload(_), "PUT") => {
            let blob = Blob::new(req.body.clone());
            if req.query_param("digest").map(|d| d.replace("%3A", ":")) != Some(blob.digest.clone())
            {
                return Reply::error(400, "DIGEST_INVALID");
            }
            repo.put_blob(&blob);
            Reply::empty(201).header("Docker-Content-Digest", &blob.digest)
        }
        // A registry without the Referrers API (Distribution 2.8) answers 404.
        (Route::Referrers(_), _) => Reply::error(404, "NOT_FOUND"),
        _ => Reply::error(405, "UNSUPPORTED"),
    }
}

struct Shared {
    repos: Mutex<HashMap<String, Arc<Repo>>>,
    host: String,
    other_host: String,
    stop: AtomicBool,
}

/// The running server; stopped when dropped.
pub struct Hostile {
    shared: Arc<Shared>,
}

impl Hostile {
    /// Starts listening on 127.0.0.1 and 127.0.0.2 (free ports).
    pub fn start() -> Hostile {
        let primary = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let other = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2 (loopback)");
        let addr = |l: &TcpListener| l.local_addr().expect("local addr").to_string();
        let shared = Arc::new(Shared {
            repos: Mutex::new(HashMap::new()),
            host: addr(&primary),
            other_host: addr(&other),
            stop: AtomicBool::new(false),
        });
        for (listener, via_other) in [(primary, false), (other, true)] {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(&listener, &shared, via_other));
        }
        Hostile { shared }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.shared.host
    }

    /// `127.0.0.2:PORT`, the "other host".
    pub fn other_host(&self) -> &str {
        &self.shared.other_host
    }

    /// Creates (or returns) a repository; it answers honestly until scripted.
    pub fn repo(&self, name: &str) -> Arc<Repo> {
        lock(&self.shared.repos)
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Repo {
                    name: name.to_string(),
                    content: Mutex::new(Content::default()),
                    handler: Mutex::new(None),
                    token: Mutex::new(None),
                    log: Mutex::new(Vec::new()),
                    uploads: AtomicUsize::new(0),
                })
            })
            .clone()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake both accept loops.
        for host in [&self.shared.host, &self.shared.other_host] {
            let _ = TcpStream::connect(host);
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, via_other: bool) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = serve(stream, &shared, via_other);
        });
    }
}

fn serve(stream: TcpStream, shared: &Shared, via_other: bool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    // A client that stops reading must not pin this thread forever.
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let Some(mut req) = read_request(&stream)? else {
        // Not HTTP (e.g. a TLS ClientHello from the HTTPS probe): hang up.
        return stream.shutdown(Shutdown::Both);
    };
    req.via_other_host = via_other;
    let reply = if req.route == Route::Base {
        Reply::bytes(200, "application/json", b"{}".to_vec())
            .header("Docker-Distribution-API-Version", "registry/2.0")
    } else {
        let repo = lock(&shared.repos).get(&req.repo).cloned();
        match repo {
            None => Reply::error(404, "NAME_UNKNOWN"),
            Some(repo) => {
                let hits = {
                    let mut log = lock(&repo.log);
                    log.push(Logged {
                        method: req.method.clone(),
                        path: req.path.clone(),
                        route: req.route.clone(),
                        via_other_host: via_other,
                        authorization: req.header("authorization").map(str::to_string),
                    });
                    log.iter()
                        .filter(|l| l.method == req.method && l.path == req.path)
                        .count()
                };
                let ctx = Ctx {
                    repo: &repo,
                    host: &shared.host,
                    other_host: &shared.other_host,
                    hits,
                };
                let handler = lock(&repo.handler).clone();
                match handler {
                    Some(h) => h(&req, &ctx),
                    None => honest(&ctx, &req),
                }
            }
        }
    };
    write_reply(stream, reply, &req.method, &shared.stop)
}

fn read_request(stream: &TcpStream) -> std::io::Result<Option<Req>> {
    let mut reader = BufReader::new(stream);
    if !reader
        .fill_buf()?
        .first()
        .is_some_and(u8::is_ascii_uppercase)
    {
        return Ok(None);
    }
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 || head.len() > MAX_REQUEST {
            return Ok(None);
        }
        head.extend_from_slice(&line);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_REQUEST);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    let (route, repo) = route_of(&path);
    Ok(Some(Req {
        method,
        path,
        query,
        headers,
        body,
        route,
        repo,
        via_other_host: false,
    }))
}

fn route_of(path: &str) -> (Route, String) {
    if path == "/v2/" || path == "/v2" {
        return (Route::Base, String::new());
    }
    if let Some(repo) = path.strip_prefix("/token/") {
        return (Route::Token, repo.to_string());
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return (Route::Other, String::new());
    };
    if let Some((repo, digest)) = rest.split_once("/referrers/") {
        return (Route::Referrers(digest.to_string()), repo.to_string());
    }
    if let Some((repo, reference)) = rest.split_once("/manifests/") {
        return (Route::Manifest(reference.to_string()), repo.to_string());
    }
    if let Some((repo, id)) = rest.split_once("/blobs/uploads/") {
        let route = if id.is_empty() {
            Route::UploadStart
        } else {
            Route::Upload(id.to_string())
        };
        return (route, repo.to_string());
    }
    if let Some((repo, digest)) = rest.split_once("/blobs/") {
        return (Route::Blob(digest.to_string()), repo.to_string());
    }
    (Route::Other, String::new())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

fn write_reply(
    mut stream: TcpStream,
    reply: Reply,
    method: &str,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let (head, body, chunked) = match reply {
        Reply::Raw { bytes, then } => (bytes, then, false),
        Reply::Http {
            status,
            headers,
            body,
            framing,
        } => {
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (n, v) in &headers {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
            let streamed = !matches!(body, Body::Bytes(_));
            let chunked = match framing {
                Framing::Exact if !streamed => {
                    let len = match &body {
                        Body::Bytes(b) => b.len(),
                        _ => 0,
                    };
                    head.push_str(&format!("Content-Length: {len}\r\n"));
                    false
                }
                Framing::Declared(n) => {
                    head.push_str(&format!("Content-Length: {n}\r\n"));
                    false
                }
                Framing::Exact | Framing::Chunked => {
                    head.push_str("Transfer-Encoding: chunked\r\n");
                    true
                }
                Framing::UntilClose => false,
            };
            head.push_str("Connection: close\r\n\r\n");
            (head.into_bytes(), body, chunked)
        }
    };
    stream.write_all(&head)?;
    if method == "HEAD" {
        return stream.flush();
    }
    let send = |stream: &mut TcpStream, data: &[u8]| -> std::io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if chunked {
            stream.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
            stream.write_all(data)?;
            stream.write_all(b"\r\n")
        } else {
            stream.write_all(data)
        }
    };
    match body {
        Body::Bytes(b) => send(&mut stream, &b)?,
        Body::Endless(fill) => {
            let chunk = vec![fill; CHUNK];
            while !stop.load(Ordering::SeqCst) {
                send(&mut stream, &chunk)?;
            }
        }
        Body::Drip {
            prefix,
            fill,
            every,
        } => {
            send(&mut stream, &prefix)?;
            while !stop.load(Ordering::SeqCst) {
                send(&mut stream, &[fill])?;
                stream.flush()?;
                std::thread::sleep(every);
            }
        }
        Body::Silent => {
            stream.flush()?;
            wait_for_close(&stream, stop);
        }
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n")?;
    }
    stream.flush()?;
    // Let the client read everything before the close.
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// Holds the connection open, sending nothing, until the peer hangs up or the server stops.
fn wait_for_close(stream: &TcpStream, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 1024];
    let mut reader = stream;
    while !stop.load(Ordering::SeqCst) {
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Standard base64 with padding (for signature annotations).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A gzip member whose deflate stream expands to `size` zero bytes (a "gzip bomb"): one
/// literal, then back-references of length 258 at distance 1 in a fixed-Huffman block,
/// 13 bits per 258 bytes. The CRC is left zero: nothing should ever inflate it.
pub fn gzip_bomb(size: u64) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        /// `len` bits of `value`, least significant first (deflate's bit order).
        fn put(&mut self, value: u64, len: u32) {
            self.acc |= value << self.n;
            self.n += len;
            while self.n >= 8 {
                self.out.push((self.acc & 0xff) as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// A Huffman code: its bits go most significant first.
        fn code(&mut self, code: u64, len: u32) {
            let mut reversed = 0;
            for i in 0..len {
                reversed |= ((code >> i) & 1) << (len - 1 - i);
            }
            self.put(reversed, len);
        }
    }
    let mut bits = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // fixed Huffman
    bits.code(0x30, 8); // literal 0
    let mut produced = 1u64;
    while produced + 258 <= size {
        bits.code(0xc5, 8); // length symbol 285: 258 bytes
        bits.code(0, 5); // distance code 0: distance 1
        produced += 258;
    }
    bits.code(0, 7); // end of block
    bits.put(0, 7); // flush to a byte boundary
    let mut out = bits.out;
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&((produced & 0xffff_ffff) as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn gzip_bomb_inflates_to_its_size() {
        // gzip(1) is the independent check, where installed; it reports the (deliberately)
        // wrong CRC after writing everything out.
        let bomb = gzip_bomb(1 << 20);
        assert!(bomb.len() < 8 * 1024, "{} bytes", bomb.len());
        let Ok(mut child) = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
        else {
            return;
        };
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(&bomb));
        let out = child.wait_with_output().expect("gzip output");
        writer.join().expect("writer").expect("write");
        let expected = 1 + (((1u64 << 20) - 1) / 258) * 258;
        assert_eq!(out.stdout.len() as u64, expected);
        assert!(out.stdout.iter().all(|&b| b == 0));
    }

    #[test]
    fn routes() {
        assert_eq!(route_of("/v2/").0, Route::Base);
        assert_eq!(
            route_of("/v2/a/b/manifests/v1"),
            (Route::Manifest("v1".into()), "a/b".into())
        );
        assert_eq!(
            route_of("/v2/a/blobs/uploads/"),
            (Route::UploadStart, "a".into())
        );
        assert_eq!(
            route_of("/v2/a/blobs/sha256:00"),
            (Route::Blob("sha256:00".into()), "a".into())
        );
        assert_eq!(route_of("/token/a/b"), (Route::Token, "a/b".into()));
    }
}
