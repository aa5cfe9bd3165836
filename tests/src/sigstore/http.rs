//! Just enough HTTP/1.1 for the stand-in's services: one loopback server per service on a
//! random port, keep-alive, bodies bounded before they are read, and every request recorded.
//! A handler never sees more than `max_body` bytes, and a malformed request only ends its
//! own connection.

use std::io::{self, Read as _, Write};
use std::sync::{Arc, Mutex};

use crate::net::{self, Conn, Framing, Head, Server};

/// A request as a handler sees it.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Path without the query.
    pub(crate) path: String,
    /// Decoded query parameters.
    pub(crate) query: Vec<(String, String)>,
    pub(crate) head: Head,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The first query parameter `name`.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A handler's answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(
            status,
            "application/json",
            serde_json::to_vec(value).expect("JSON"),
        )
    }

    /// An error in the shape the Sigstore services use: `{"code": N, "message": "..."}`.
    pub(crate) fn error(status: u16, message: impl Into<String>) -> Response {
        Response::json(
            status,
            &serde_json::json!({"code": status, "message": message.into()}),
        )
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One request a service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Which service: `oidc`, `fulcio`, `rekor` or `tsa`.
    pub service: &'static str,
    /// The request method.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// The status answered.
    pub status: u16,
}

/// The record of every exchange, shared by the services of one stand-in.
pub(crate) type Journal = Arc<Mutex<Vec<Exchange>>>;

/// Exchanges a journal keeps (the oldest are dropped first).
const MAX_JOURNAL: usize = 10_000;

/// Locks a mutex even if a handler panicked while holding it: a bug in one request must
/// not take the service down for the rest of the test.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts a service on 127.0.0.1, random port.
pub(crate) fn serve<F>(
    service: &'static str,
    max_body: usize,
    journal: Journal,
    handler: F,
) -> Server
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    Server::start(None, move |conn| {
        connection(service, max_body, &journal, &handler, conn)
    })
}

fn connection<F>(
    service: &'static str,
    max_body: usize,
    journal: &Journal,
    handler: &F,
    mut conn: Conn,
) where
    F: Fn(&Request) -> Response,
{
    loop {
        let Ok(Some(head)) = Head::read(&mut conn.reader) else {
            return;
        };
        let target = head.target().to_string();
        let record = |status: u16| {
            let mut journal = lock(journal);
            if journal.len() >= MAX_JOURNAL {
                journal.remove(0);
            }
            journal.push(Exchange {
                service,
                method: head.method().to_string(),
                target: target.clone(),
                status,
            })
        };
        let body = match read_body(&mut conn, &head, max_body) {
            Ok(b) => b,
            Err(status) => {
                record(status);
                let r = net::response(
                    status,
                    net::reason(status),
                    &[("Connection", "close".into())],
                    b"",
                );
                let _ = conn.send(&r);
                linger(conn);
                return;
            }
        };
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let request = Request {
            method: head.method().to_string(),
            path: net::percent_decode(path, false),
            query: net::parse_form(query),
            head: head.clone(),
            body,
        };
        // A panicking handler (a bug) answers 500 instead of dropping the connection.
        let response = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&request)))
            .unwrap_or_else(|_| Response::error(500, "internal error"));
        record(response.status);
        let headers: Vec<(&str, String)> = response
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.clone()))
            .collect();
        let bytes = net::response(
            response.status,
            net::reason(response.status),
            &headers,
            &response.body,
        );
        if conn.send(&bytes).is_err() || head.has_token("connection", "close") {
            conn.close();
            return;
        }
    }
}

/// Closes after an early answer: the client may still be sending, and closing a socket
/// with unread input resets it, which can destroy the answer in flight. So half-close,
/// then read and drop what is left (bounded in bytes and time).
fn linger(mut conn: Conn) {
    let _ = conn.socket.shutdown(std::net::Shutdown::Write);
    let _ = conn
        .socket
        .set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let _ = io::copy(&mut (&mut conn.reader).take(8 << 20), &mut io::sink());
    conn.close();
}

/// Reads a request body of at most `max` bytes; Err(status) to answer instead.
fn read_body(conn: &mut Conn, head: &Head, max: usize) -> Result<Vec<u8>, u16> {
    match head.request_framing().map_err(|_| 400u16)? {
        Framing::Length(n) if n > max as u64 => Err(413),
        Framing::Length(n) => {
            let mut body = Vec::with_capacity(n as usize);
            (&mut conn.reader)
                .take(n)
                .read_to_end(&mut body)
                .map_err(|_| 400u16)?;
            if body.len() as u64 != n {
                return Err(400);
            }
            Ok(body)
        }
        Framing::Chunked => {
            let mut framed = Bounded {
                out: Vec::new(),
                max: max + max / 8 + 1024,
            };
            net::copy_body(&mut conn.reader, &mut framed, Framing::Chunked).map_err(|e| {
                if e.kind() == io::ErrorKind::FileTooLarge {
                    413u16
                } else {
                    400
                }
            })?;
            let body = net::read_body(&mut framed.out.as_slice(), Framing::Chunked, u64::MAX)
                .map_err(|_| 400u16)?;
            if body.len() > max {
                return Err(413);
            }
            Ok(body)
        }
        Framing::UntilClose => Err(400),
    }
}

/// A writer that refuses to grow past `max` bytes.
struct Bounded {
    out: Vec<u8>,
    max: usize,
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out.len() + buf.len() > self.max {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "body too big"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
