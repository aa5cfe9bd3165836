//! A stand-in for a registry mirror, to learn how real pulling clients treat one: a small
//! HTTP/1.1 server on loopback that records every request and answers each by the first
//! matching rule: pass the request through to the upstream registry, answer a given
//! status and body (a Distribution error such as `403 DENIED`), or reset the connection.
//!
//! Pass-through does what a mirror must do to the request: the `ns` query parameter
//! (containerd names the upstream with it) is dropped, and a repository name prefixed
//! with a registry host (what a `registries.conf` location with a path sends: a first
//! component with a `.` or `:`, or `localhost`, as in the reference grammar) loses the
//! prefix. Everything else goes to the upstream as sent (method, `Accept`, `Range`),
//! and its answer comes back byte for byte.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::net::{self, Conn, Framing, Head, Server};

/// How the stub answers a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Forward to the upstream (the request's path rewritten as described above).
    PassThrough,
    /// This status, body and `Content-Type` (a HEAD gets the headers only).
    Status {
        /// The status code.
        code: u16,
        /// The body.
        body: Vec<u8>,
        /// Its `Content-Type`.
        content_type: String,
        /// Extra headers, e.g. `WWW-Authenticate`.
        headers: Vec<(String, String)>,
    },
    /// Reset the connection (TCP RST) without answering.
    Reset,
}

impl Answer {
    /// A Distribution error body `{"errors":[{"code":…,"message":…}]}` with `status`.
    pub fn error(status: u16, code: &str, message: &str) -> Answer {
        let body = serde_json::to_vec(&serde_json::json!({
            "errors": [{"code": code, "message": message}]
        }))
        .expect("JSON");
        Answer::Status {
            code: status,
            body,
            content_type: "application/json; charset=utf-8".into(),
            headers: Vec::new(),
        }
    }

    /// `403` with a `DENIED` error: what a verifying mirror answers for a refused image.
    pub fn denied(message: &str) -> Answer {
        Answer::error(403, "DENIED", message)
    }

    /// Adds a header to a [`Answer::Status`] answer.
    pub fn with_header(mut self, name: &str, value: &str) -> Answer {
        if let Answer::Status { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// A short label for logs: `pass`, `403`, `reset`.
    pub fn label(&self) -> String {
        match self {
            Answer::PassThrough => "pass".into(),
            Answer::Status { code, .. } => code.to_string(),
            Answer::Reset => "reset".into(),
        }
    }
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Every request.
    Any,
    /// `GET|HEAD /v2/` (the API version check).
    Base,
    /// Manifest requests (`/manifests/`).
    Manifests,
    /// Blob requests (`/blobs/`).
    Blobs,
    /// Requests whose target contains this text.
    PathContains(String),
}

impl Match {
    fn matches(&self, request: &Request) -> bool {
        match self {
            Match::Any => true,
            Match::Base => request.kind == Kind::Base,
            Match::Manifests => request.kind == Kind::Manifest,
            Match::Blobs => request.kind == Kind::Blob,
            Match::PathContains(s) => request.target.contains(s.as_str()),
        }
    }
}

/// What a request asked for, in registry terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/v2/`.
    Base,
    /// `/v2/<name>/manifests/<reference>`.
    Manifest,
    /// `/v2/<name>/blobs/<digest>`.
    Blob,
    /// `/v2/<name>/tags/list`.
    Tags,
    /// `/v2/<name>/referrers/<digest>`.
    Referrers,
    /// Anything else.
    Other,
}

/// A request the stub saw, and what it answered.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Every header as sent, in order.
    pub headers: Vec<(String, String)>,
    /// What it asked for.
    pub kind: Kind,
    /// The repository name as sent (possibly host-prefixed); empty for `/v2/`.
    pub name: String,
    /// The tag or digest (manifests, blobs, referrers).
    pub reference: String,
    /// The `ns` query parameter, if any.
    pub ns: Option<String>,
    /// What the stub did: `pass 200`, `403`, `reset`, `pass failed`.
    pub answered: String,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order (clients may send `Accept` more than once).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `METHOD target -> answer`, for logs and evidence.
    pub fn line(&self) -> String {
        format!("{} {} -> {}", self.method, self.target, self.answered)
    }
}

fn parse_target(target: &str) -> (Kind, String, String, Option<String>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let ns = net::parse_form(query)
        .into_iter()
        .find(|(k, _)| k == "ns")
        .map(|(_, v)| v);
    let Some(rest) = path.strip_prefix("/v2/") else {
        return (Kind::Other, String::new(), String::new(), ns);
    };
    if rest.is_empty() {
        return (Kind::Base, String::new(), String::new(), ns);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return (Kind::Tags, name.to_string(), String::new(), ns);
    }
    for (marker, kind) in [
        ("/manifests/", Kind::Manifest),
        ("/blobs/", Kind::Blob),
        ("/referrers/", Kind::Referrers),
    ] {
        if let Some((name, reference)) = rest.rsplit_once(marker) {
            return (kind, name.to_string(), reference.to_string(), ns);
        }
    }
    (Kind::Other, rest.to_string(), String::new(), ns)
}

struct State {
    upstream: Option<String>,
    rules: Vec<(Match, Option<String>, Answer)>,
    seen: Vec<Request>,
}

/// A running stub mirror; stops accepting when dropped.
pub struct MirrorStub {
    state: Arc<Mutex<State>>,
    _server: Server,
    /// `127.0.0.1:PORT`.
    pub host: String,
}

impl MirrorStub {
    /// A stub in front of the plain-HTTP registry `upstream` (`127.0.0.1:PORT`) that
    /// passes every request through until rules say otherwise.
    pub fn start(upstream: &str) -> MirrorStub {
        MirrorStub::start_inner(Some(upstream.to_string()))
    }

    /// A stub with no upstream: requests no rule matches get `404 NAME_UNKNOWN`.
    pub fn standalone() -> MirrorStub {
        MirrorStub::start_inner(None)
    }

    fn start_inner(upstream: Option<String>) -> MirrorStub {
        let state = Arc::new(Mutex::new(State {
            upstream,
            rules: Vec::new(),
            seen: Vec::new(),
        }));
        let for_handler = Arc::clone(&state);
        let server = Server::start(None, move |conn| serve(&for_handler, conn));
        MirrorStub {
            host: server.host(),
            state,
            _server: server,
        }
    }

    /// Answers requests matching `what` (any method) with `answer`. Rules are tried in
    /// the order they were added; the first match wins.
    pub fn on(&self, what: Match, answer: Answer) -> &MirrorStub {
        self.lock().rules.push((what, None, answer));
        self
    }

    /// Like [`MirrorStub::on`], for one method only (`GET`, `HEAD`).
    pub fn on_method(&self, method: &str, what: Match, answer: Answer) -> &MirrorStub {
        self.lock()
            .rules
            .push((what, Some(method.to_ascii_uppercase()), answer));
        self
    }

    /// Removes every rule (back to pure pass-through).
    pub fn clear_rules(&self) {
        self.lock().rules.clear();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().seen.clone()
    }

    /// Forgets the requests seen so far.
    pub fn clear_log(&self) {
        self.lock().seen.clear();
    }

    /// The requests as `METHOD target -> answer` lines.
    pub fn transcript(&self) -> String {
        self.requests()
            .iter()
            .map(Request::line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serve(state: &Mutex<State>, mut client: Conn) {
    loop {
        let Ok(Some(head)) = Head::read(&mut client.reader) else {
            return;
        };
        let Ok(framing) = head.request_framing() else {
            return;
        };
        // Read any request body first: closing with unread data would reset the
        // connection before the client reads the answer.
        let mut body = Vec::new();
        if net::copy_body(&mut client.reader, &mut body, framing).is_err() {
            return;
        }
        let (kind, name, reference, ns) = parse_target(head.target());
        let mut request = Request {
            method: head.method().to_string(),
            target: head.target().to_string(),
            headers: head.headers.clone(),
            kind,
            name,
            reference,
            ns,
            answered: String::new(),
        };
        let (answer, upstream) = {
            let s = state.lock().unwrap_or_else(|e| e.into_inner());
            let answer = s
                .rules
                .iter()
                .find(|(m, method, _)| {
                    m.matches(&request)
                        && method
                            .as_deref()
                            .is_none_or(|x| x.eq_ignore_ascii_case(&request.method))
                })
                .map(|(_, _, a)| a.clone());
            let answer = match (answer, &s.upstream) {
                (Some(a), _) => a,
                (None, Some(_)) => Answer::PassThrough,
                (None, None) => Answer::error(404, "NAME_UNKNOWN", "mirror stub: no upstream"),
            };
            (answer, s.upstream.clone())
        };
        let record = |request: &mut Request, answered: String| {
            request.answered = answered;
            state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .seen
                .push(request.clone());
        };
        match answer {
            Answer::Reset => {
                record(&mut request, "reset".into());
                client.reset();
                return;
            }
            Answer::Status {
                code,
                body: reply,
                content_type,
                headers,
            } => {
                record(&mut request, code.to_string());
                let mut all: Vec<(&str, String)> = vec![
                    ("Content-Type", content_type),
                    (
                        "Docker-Distribution-Api-Version",
                        "registry/2.0".to_string(),
                    ),
                ];
                all.extend(headers.iter().map(|(n, v)| (n.as_str(), v.clone())));
                let mut bytes = net::response(code, net::reason(code), &all, &reply);
                if head.method().eq_ignore_ascii_case("HEAD") {
                    // Same headers (Content-Length included), no body.
                    bytes.truncate(bytes.len() - reply.len());
                }
                if client.send(&bytes).is_err() {
                    return;
                }
            }
            Answer::PassThrough => {
                let Some(upstream) = upstream else { return };
                match pass_through(&upstream, &head, &request, &body, &mut client) {
                    Ok((status, keep_alive)) => {
                        record(&mut request, format!("pass {status}"));
                        if !keep_alive {
                            client.close();
                            return;
                        }
                    }
                    Err(_) => {
                        record(&mut request, "pass failed".into());
                        client.close();
                        return;
                    }
                }
            }
        }
    }
}

/// Whether a repository name's first component names a registry host.
fn is_host(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// The upstream target for a request: `ns` dropped, a host prefix on the name removed.
fn upstream_target(request: &Request) -> String {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let path = match path.strip_prefix("/v2/").and_then(|r| r.split_once('/')) {
        Some((first, rest)) if is_host(first) && request.name.contains('/') => {
            format!("/v2/{rest}")
        }
        _ => path.to_string(),
    };
    let query: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("ns="))
        .collect();
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Forwards one request on a fresh upstream connection; returns the upstream's status
/// and whether the client connection can stay open.
fn pass_through(
    upstream: &str,
    head: &Head,
    request: &Request,
    body: &[u8],
    client: &mut Conn,
) -> std::io::Result<(u16, bool)> {
    let mut out = format!(
        "{} {} HTTP/1.1\r\nHost: {upstream}\r\n",
        head.method(),
        upstream_target(request)
    );
    for (n, v) in &head.headers {
        if ["host", "connection", "content-length", "transfer-encoding"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h))
        {
            continue;
        }
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut up = Conn::connect(upstream, None)?;
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    up.send(&bytes)?;
    let response = Head::read(&mut up.reader)?.ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no upstream answer")
    })?;
    let framing = response.response_framing(head.method())?;
    // The upstream was asked to close; the client need not be.
    let mut relayed = format!("{}\r\n", response.start);
    for (n, v) in &response.headers {
        if !n.eq_ignore_ascii_case("connection") {
            relayed.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    relayed.push_str("\r\n");
    client.send(relayed.as_bytes())?;
    net::copy_body(&mut up.reader, client.reader.get_mut(), framing)?;
    std::io::Write::flush(client.reader.get_mut())?;
    Ok((response.status(), framing != Framing::UntilClose))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_in_registry_terms() {
        let (k, n, r, ns) =
            parse_target("/v2/127.0.0.1:5000/test/app/manifests/v1?ns=127.0.0.1%3A5000");
        assert_eq!(k, Kind::Manifest);
        assert_eq!(n, "127.0.0.1:5000/test/app");
        assert_eq!(r, "v1");
        assert_eq!(ns.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(parse_target("/v2/").0, Kind::Base);
        assert_eq!(parse_target("/v2/a/b/tags/list").1, "a/b");
        // A repository may itself be called "blobs".
        let (k, n, r, _) = parse_target("/v2/x/blobs/blobs/sha256:ab");
        assert_eq!(
            (k, n.as_str(), r.as_str()),
            (Kind::Blob, "x/blobs", "sha256:ab")
        );
    }

    #[test]
    fn pass_through_drops_ns_and_the_upstream_prefix_only() {
        let req = |target: &str| {
            let (kind, name, reference, ns) = parse_target(target);
            Request {
                method: "GET".into(),
                target: target.into(),
                headers: Vec::new(),
                kind,
                name,
                reference,
                ns,
                answered: String::new(),
            }
        };
        assert_eq!(
            upstream_target(&req("/v2/127.0.0.1:5000/t/a/manifests/v1")),
            "/v2/t/a/manifests/v1"
        );
        assert_eq!(
            upstream_target(&req("/v2/localhost/t/manifests/v1")),
            "/v2/t/manifests/v1"
        );
        assert_eq!(
            upstream_target(&req("/v2/t/a/blobs/sha256:1?ns=127.0.0.1:5000&x=1")),
            "/v2/t/a/blobs/sha256:1?x=1"
        );
        // A one-component name is a repository, whatever it looks like.
        assert_eq!(
            upstream_target(&req("/v2/app/manifests/v1")),
            "/v2/app/manifests/v1"
        );
    }
}
