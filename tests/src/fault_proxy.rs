//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of one upstream (a registry, or
//! the token server). Each client connection gets its own upstream connection; requests
//! and responses go through byte for byte (request line, every header including `Host`,
//! bodies with `Content-Length` or chunked framing), so the upstream sees the proxy's
//! address as the `Host`.
//!
//! Distribution 2.8 builds absolute `Location` URLs from the request's `Host` header (and
//! the scheme of the connection it got), so with `Host` forwarded unchanged every upload
//! `Location` names the proxy, never the registry; nothing needs rewriting (the selfcheck
//! tests prove this).
//!
//! Faults are rules: for requests whose method and path match, the first K get a fault
//! (a status such as `429` with `Retry-After`, a reset connection, a closed connection, a
//! delay) and later ones are forwarded. A fixed latency can be added to every request.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::net::{self, Conn, Framing, Head, Server};
use crate::tls::TlsFiles;

/// What a rule does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` when given) without forwarding; the body
    /// is a Distribution-style JSON error.
    Status {
        /// The status code, e.g. 429, 500, 502, 503.
        code: u16,
        /// `Retry-After` value, e.g. `"1"` (seconds) or an HTTP date.
        retry_after: Option<String>,
    },
    /// Close the client's connection with a TCP reset, having read the request.
    Reset,
    /// Close the client's connection with a FIN and no response, having read the request.
    Close,
    /// Wait this long, then forward.
    Delay(Duration),
}

/// A fault for the first `times` requests matching `method` and `path_contains`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// A method (`GET`, `HEAD`, `PUT`, ...) or `None` for any.
    pub method: Option<String>,
    /// A substring of the request target (path and query); `""` matches every request.
    pub path_contains: String,
    /// What to do.
    pub fault: Fault,
    /// How many more matching requests get the fault (`usize::MAX`: all of them).
    pub times: usize,
}

impl Rule {
    /// A rule; `method` `"*"` matches any method.
    pub fn new(method: &str, path_contains: &str, fault: Fault, times: usize) -> Rule {
        Rule {
            method: (method != "*").then(|| method.to_ascii_uppercase()),
            path_contains: path_contains.to_string(),
            fault,
            times,
        }
    }

    /// `429 Too Many Requests` with `Retry-After: retry_after_secs`, `times` times.
    pub fn too_many_requests(
        method: &str,
        path_contains: &str,
        retry_after_secs: u64,
        times: usize,
    ) -> Rule {
        Rule::new(
            method,
            path_contains,
            Fault::Status {
                code: 429,
                retry_after: Some(retry_after_secs.to_string()),
            },
            times,
        )
    }

    /// `code` (e.g. 500, 502, 503) without `Retry-After`, `times` times.
    pub fn status(method: &str, path_contains: &str, code: u16, times: usize) -> Rule {
        Rule::new(
            method,
            path_contains,
            Fault::Status {
                code,
                retry_after: None,
            },
            times,
        )
    }

    /// Connection reset, `times` times.
    pub fn reset(method: &str, path_contains: &str, times: usize) -> Rule {
        Rule::new(method, path_contains, Fault::Reset, times)
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && target.contains(&self.path_contains)
    }
}

/// What the proxy did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded; the upstream answered this status.
    Forwarded(u16),
    /// Answered by a rule with this status.
    Injected(u16),
    /// Reset by a rule.
    Reset,
    /// Closed by a rule.
    Closed,
    /// The upstream could not be reached or failed mid-exchange (502 sent when possible).
    UpstreamFailed,
}

/// A request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Every header as sent.
    pub headers: Vec<(String, String)>,
    /// What happened.
    pub outcome: Outcome,
    /// When it arrived.
    pub at: Instant,
    /// A number per client connection (to see connection reuse).
    pub connection: usize,
    /// Response headers from the upstream, when forwarded.
    pub response_headers: Vec<(String, String)>,
}

impl Seen {
    /// The first value of request header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of response header `name` (case-insensitive), when forwarded.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    latency: Duration,
    seen: Vec<Seen>,
    connections: usize,
}

struct Shared {
    upstream: String,
    upstream_tls: Option<Arc<rustls::ClientConfig>>,
    state: Mutex<State>,
}

/// A running proxy; stops accepting when dropped.
pub struct FaultProxy {
    shared: Arc<Shared>,
    _server: Server,
    /// `127.0.0.1:PORT`: use it where the registry's host would go.
    pub host: String,
}

impl FaultProxy {
    /// A plain-HTTP proxy in front of the plain-HTTP `upstream` (`127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_inner(upstream, None, None)
    }

    /// An HTTPS proxy (serving `tls`'s server certificate) in front of an HTTPS `upstream`
    /// whose certificate `tls`'s CA signed (a registry started with the same [`TlsFiles`]).
    pub fn start_tls(upstream: &str, tls: &TlsFiles) -> FaultProxy {
        FaultProxy::start_inner(
            upstream,
            Some(tls.server_config(false)),
            Some(tls.client_config(false)),
        )
    }

    fn start_inner(
        upstream: &str,
        server_tls: Option<Arc<rustls::ServerConfig>>,
        upstream_tls: Option<Arc<rustls::ClientConfig>>,
    ) -> FaultProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            upstream_tls,
            state: Mutex::new(State::default()),
        });
        let for_handler = Arc::clone(&shared);
        let server = Server::start(server_tls, move |conn| serve(&for_handler, conn));
        FaultProxy {
            host: server.host(),
            shared,
            _server: server,
        }
    }

    /// `127.0.0.1:PROXYPORT/repo`.
    pub fn image(&self, repo: &str) -> String {
        format!("{}/{repo}", self.host)
    }

    /// Adds a rule after the existing ones (the first matching rule with fault left wins).
    pub fn add_rule(&self, rule: Rule) -> &FaultProxy {
        self.state().rules.push(rule);
        self
    }

    /// Removes every rule.
    pub fn clear_rules(&self) {
        self.state().rules.clear();
    }

    /// Faults the rules still hold (`times` left per rule, in order).
    pub fn remaining(&self) -> Vec<usize> {
        self.state().rules.iter().map(|r| r.times).collect()
    }

    /// Waits `latency` before handling each request (rules included).
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.state().seen.clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.state().seen.len()
    }

    /// How many requests matched `method` (`"*"` any) and `path_contains`.
    pub fn count_matching(&self, method: &str, path_contains: &str) -> usize {
        let probe = Rule::new(method, path_contains, Fault::Reset, 0);
        self.state()
            .seen
            .iter()
            .filter(|s| probe.matches(&s.method, &s.target))
            .count()
    }

    /// How many client connections were accepted.
    pub fn connections(&self) -> usize {
        self.state().connections
    }

    /// Forgets the requests seen so far.
    pub fn clear_log(&self) {
        self.state().seen.clear();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().expect("proxy state")
    }
}

impl Shared {
    fn record(&self, head: &Head, outcome: Outcome, connection: usize, response: Option<&Head>) {
        let seen = Seen {
            method: head.method().to_string(),
            target: head.target().to_string(),
            headers: head.headers.clone(),
            outcome,
            at: Instant::now(),
            connection,
            response_headers: response.map(|r| r.headers.clone()).unwrap_or_default(),
        };
        self.state.lock().expect("proxy state").seen.push(seen);
    }
}

fn serve(shared: &Shared, mut client: Conn) {
    let connection = {
        let mut state = shared.state.lock().expect("proxy state");
        state.connections += 1;
        state.connections
    };
    let mut upstream: Option<Conn> = None;
    loop {
        let Ok(Some(head)) = Head::read(&mut client.reader) else {
            return;
        };
        let Ok(framing) = head.request_framing() else {
            return;
        };
        let expect_continue = head.has_token("expect", "100-continue");
        let (latency, fault) = {
            let mut state = shared.state.lock().expect("proxy state");
            let fault = state
                .rules
                .iter_mut()
                .find(|r| r.times > 0 && r.matches(head.method(), head.target()))
                .map(|r| {
                    r.times -= 1;
                    r.fault.clone()
                });
            (state.latency, fault)
        };
        std::thread::sleep(latency);

        match fault {
            Some(Fault::Delay(d)) => std::thread::sleep(d),
            Some(injected) => {
                // Read the body first: closing a socket with unread data sends a reset,
                // and the client would lose the response. A client waiting for
                // `100 Continue` sends no body.
                if !expect_continue
                    && net::copy_body(&mut client.reader, &mut std::io::sink(), framing).is_err()
                {
                    return;
                }
                match injected {
                    Fault::Reset => {
                        shared.record(&head, Outcome::Reset, connection, None);
                        client.reset();
                    }
                    Fault::Close => {
                        shared.record(&head, Outcome::Closed, connection, None);
                        client.close();
                    }
                    Fault::Status { code, retry_after } => {
                        shared.record(&head, Outcome::Injected(code), connection, None);
                        let bytes = injected_response(code, retry_after, expect_continue);
                        if client.send(&bytes).is_err() || expect_continue {
                            client.close();
                            return;
                        }
                        continue;
                    }
                    Fault::Delay(_) => {}
                }
                return;
            }
            None => {}
        }

        match forward(
            shared,
            &mut client,
            &mut upstream,
            &head,
            framing,
            expect_continue,
            connection,
        ) {
            Ok(keep_alive) => {
                if !keep_alive {
                    client.close();
                    return;
                }
            }
            Err(Failed {
                sent_anything,
                recorded,
            }) => {
                if !recorded {
                    shared.record(&head, Outcome::UpstreamFailed, connection, None);
                }
                if !sent_anything {
                    let body = br#"{"errors":[{"code":"UNAVAILABLE","message":"fault proxy: upstream failed"}]}"#;
                    let _ = client.send(&net::response(
                        502,
                        "Bad Gateway",
                        &[
                            ("Content-Type", "application/json".into()),
                            ("Connection", "close".into()),
                        ],
                        body,
                    ));
                }
                client.close();
                return;
            }
        }
    }
}

fn injected_response(code: u16, retry_after: Option<String>, close: bool) -> Vec<u8> {
    let error_code = match code {
        429 => "TOOMANYREQUESTS",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    let body = serde_json::to_vec(&serde_json::json!({
        "errors": [{"code": error_code, "message": format!("fault proxy: injected {code}")}]
    }))
    .expect("JSON");
    let mut headers = vec![("Content-Type", "application/json".to_string())];
    if let Some(r) = retry_after {
        headers.push(("Retry-After", r));
    }
    if close {
        headers.push(("Connection", "close".into()));
    }
    net::response(code, net::reason(code), &headers, &body)
}

/// How forwarding failed: whether any byte reached the client, and whether the request
/// was recorded already.
#[derive(Clone, Copy)]
struct Failed {
    sent_anything: bool,
    recorded: bool,
}

/// Forwards one exchange; Ok(keep the connection). The request is recorded as soon as the
/// final response head arrives, before the client sees it, so a client that got its answer
/// always finds the request in the log.
#[allow(clippy::too_many_arguments)]
fn forward(
    shared: &Shared,
    client: &mut Conn,
    upstream_slot: &mut Option<Conn>,
    head: &Head,
    framing: Framing,
    expect_continue: bool,
    connection: usize,
) -> Result<bool, Failed> {
    let mut state = Failed {
        sent_anything: false,
        recorded: false,
    };
    if upstream_slot.is_none() {
        *upstream_slot =
            Some(Conn::connect(&shared.upstream, shared.upstream_tls.as_ref()).map_err(|_| state)?);
    }
    let upstream = upstream_slot.as_mut().ok_or(state)?;
    upstream.send(&head.raw).map_err(|_| state)?;

    let is_final = |h: &Head| !(100..200).contains(&h.status()) || h.status() == 101;
    // With `Expect: 100-continue`, the upstream speaks first: a 100 lets the body through,
    // a final status means no body follows.
    let mut body_sent = false;
    if !expect_continue {
        copy_request_body(client, upstream, framing).map_err(|_| state)?;
        body_sent = true;
    }
    let response = loop {
        let response = Head::read(&mut upstream.reader)
            .ok()
            .flatten()
            .ok_or(state)?;
        let done = is_final(&response);
        if done {
            shared.record(
                head,
                Outcome::Forwarded(response.status()),
                connection,
                Some(&response),
            );
            state.recorded = true;
        }
        client.send(&response.raw).map_err(|_| state)?;
        state.sent_anything = true;
        if done {
            break response;
        }
        if response.status() == 100 && !body_sent {
            copy_request_body(client, upstream, framing).map_err(|_| state)?;
            body_sent = true;
        }
    };
    let response_framing = response
        .response_framing(head.method())
        .map_err(|_| state)?;
    net::copy_body(
        &mut upstream.reader,
        client.reader.get_mut(),
        response_framing,
    )
    .map_err(|_| state)?;
    client.reader.get_mut().flush().map_err(|_| state)?;

    let keep_alive = body_sent
        && response_framing != Framing::UntilClose
        && !head.has_token("connection", "close")
        && !response.has_token("connection", "close");
    if !keep_alive {
        *upstream_slot = None;
    }
    Ok(keep_alive)
}

fn copy_request_body(
    client: &mut Conn,
    upstream: &mut Conn,
    framing: Framing,
) -> std::io::Result<()> {
    net::copy_body(&mut client.reader, upstream.reader.get_mut(), framing)?;
    upstream.reader.get_mut().flush()
}
