//! Plumbing shared by the token server and the fault proxy: a loopback accept loop (plain
//! or TLS) with a thread per connection, and just enough HTTP/1.1 to read a message head
//! and move a body along by its framing, byte for byte.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A byte stream: a TCP socket or a TLS session over one.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A connection: the (possibly TLS) stream, buffered for reading, and a handle on the
/// socket itself (for shutdown, timeouts and resets).
pub struct Conn {
    /// Read from here; write through `reader.get_mut()`.
    pub reader: BufReader<Box<dyn Stream>>,
    /// The underlying socket.
    pub socket: TcpStream,
}

impl Conn {
    /// Wraps a socket, adding TLS on the server side when `tls` is given.
    pub fn accept(socket: TcpStream, tls: Option<&Arc<rustls::ServerConfig>>) -> io::Result<Conn> {
        let handle = socket.try_clone()?;
        let stream: Box<dyn Stream> = match tls {
            Some(config) => {
                let session =
                    rustls::ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
                Box::new(rustls::StreamOwned::new(session, socket))
            }
            None => {
                // A TLS ClientHello (a client probing for HTTPS) gets an immediate 400 and
                // close, as from Go's plain-HTTP servers, instead of a wait for headers.
                let mut first = [0u8; 1];
                if socket.peek(&mut first)? == 1 && first[0] == TLS_HANDSHAKE_RECORD {
                    let mut socket = socket;
                    let _ = socket.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "TLS handshake on a plain-HTTP port",
                    ));
                }
                Box::new(socket)
            }
        };
        Ok(Conn {
            reader: BufReader::new(stream),
            socket: handle,
        })
    }

    /// Connects to `host` (`127.0.0.1:PORT`), with TLS when `tls` is given.
    pub fn connect(host: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> io::Result<Conn> {
        let socket = TcpStream::connect(host)?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(IO_TIMEOUT))?;
        socket.set_write_timeout(Some(IO_TIMEOUT))?;
        let handle = socket.try_clone()?;
        let stream: Box<dyn Stream> = match tls {
            Some(config) => {
                let ip = host
                    .rsplit_once(':')
                    .map(|(h, _)| h)
                    .unwrap_or(host)
                    .to_string();
                let name = rustls::pki_types::ServerName::try_from(ip)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let session = rustls::ClientConnection::new(Arc::clone(config), name)
                    .map_err(io::Error::other)?;
                Box::new(rustls::StreamOwned::new(session, socket))
            }
            None => Box::new(socket),
        };
        Ok(Conn {
            reader: BufReader::new(stream),
            socket: handle,
        })
    }

    /// Writes all of `bytes` and flushes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let w = self.reader.get_mut();
        w.write_all(bytes)?;
        w.flush()
    }

    /// Closes the connection with a TCP reset (SO_LINGER 0) instead of a FIN.
    pub fn reset(self) {
        let _ = socket2::SockRef::from(&self.socket).set_linger(Some(Duration::ZERO));
        drop(self);
    }

    /// Closes the connection with a FIN, after flushing (and, for TLS, close_notify is not
    /// sent: the peer sees a plain end of stream).
    pub fn close(self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// How long a fixture waits on a quiet peer before giving up on the connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// A loopback server: an accept loop on its own thread, a thread per connection. Stops
/// accepting when dropped (connections already open finish on their own).
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `127.0.0.1:0` and hands each accepted connection to `handler` on a new thread.
    pub fn start<F>(tls: Option<Arc<rustls::ServerConfig>>, handler: F) -> Server
    where
        F: Fn(Conn) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for socket in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(socket) = socket else { continue };
                    let _ = socket.set_nodelay(true);
                    let _ = socket.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = socket.set_write_timeout(Some(IO_TIMEOUT));
                    let handler = Arc::clone(&handler);
                    let tls = tls.clone();
                    std::thread::spawn(move || {
                        if let Ok(conn) = Conn::accept(socket, tls.as_ref()) {
                            handler(conn);
                        }
                    });
                }
            })
        };
        Server {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A request or response head as received.
#[derive(Debug, Clone)]
pub struct Head {
    /// The exact bytes, up to and including the blank line.
    pub raw: Vec<u8>,
    /// The request line or status line.
    pub start: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
}

const MAX_HEAD: usize = 256 * 1024;

impl Head {
    /// Reads a head; `Ok(None)` on end of stream before its first byte.
    pub fn read(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
        let mut raw = Vec::new();
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = reader.take(MAX_HEAD as u64).read_until(b'\n', &mut line)?;
            if n == 0 {
                if raw.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "end of stream inside a message head",
                ));
            }
            raw.extend_from_slice(&line);
            if raw.len() > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too big"));
            }
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            if text.is_empty() {
                if lines.is_empty() {
                    // Tolerate blank lines before a request line (RFC 9112 2.2).
                    raw.clear();
                    continue;
                }
                break;
            }
            lines.push(text);
        }
        let start = lines.remove(0);
        let headers = lines
            .into_iter()
            .filter_map(|l| {
                l.split_once(':')
                    .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        Ok(Some(Head {
            raw,
            start,
            headers,
        }))
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header `name` holds `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// A request's method.
    pub fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or_default()
    }

    /// A request's target (path and query).
    pub fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or_default()
    }

    /// A response's status code (0 if unreadable).
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// How a request's body is framed.
    pub fn request_framing(&self) -> io::Result<Framing> {
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        match self.header("content-length") {
            Some(v) => v
                .parse()
                .map(Framing::Length)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length")),
            None => Ok(Framing::Length(0)),
        }
    }

    /// How a response to a `method` request is framed.
    pub fn response_framing(&self, method: &str) -> io::Result<Framing> {
        let status = self.status();
        if method.eq_ignore_ascii_case("HEAD")
            || (100..200).contains(&status)
            || status == 204
            || status == 304
        {
            return Ok(Framing::Length(0));
        }
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        match self.header("content-length") {
            Some(v) => v
                .parse()
                .map(Framing::Length)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length")),
            None => Ok(Framing::UntilClose),
        }
    }
}

/// How a message body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` bytes (0: no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// Copies one body from `from` to `to` exactly as framed (chunk sizes, extensions and
/// trailers included); returns the bytes copied.
pub fn copy_body(
    from: &mut impl BufRead,
    to: &mut impl Write,
    framing: Framing,
) -> io::Result<u64> {
    match framing {
        Framing::Length(n) => {
            let copied = io::copy(&mut from.take(n), to)?;
            if copied != n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "body shorter than its content-length",
                ));
            }
            Ok(copied)
        }
        Framing::UntilClose => io::copy(from, to),
        Framing::Chunked => {
            let mut total = 0u64;
            loop {
                let mut line = Vec::new();
                from.take(4096).read_until(b'\n', &mut line)?;
                if !line.ends_with(b"\n") {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "bad chunk size line",
                    ));
                }
                to.write_all(&line)?;
                total += line.len() as u64;
                let text = String::from_utf8_lossy(&line);
                let size_text = text.trim().split(';').next().unwrap_or_default().trim();
                let size = u64::from_str_radix(size_text, 16)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
                if size == 0 {
                    // Trailer fields, then a blank line.
                    loop {
                        let mut t = Vec::new();
                        from.take(MAX_HEAD as u64).read_until(b'\n', &mut t)?;
                        if !t.ends_with(b"\n") {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "end of stream in chunked trailer",
                            ));
                        }
                        to.write_all(&t)?;
                        total += t.len() as u64;
                        if t == b"\r\n" || t == b"\n" {
                            return Ok(total);
                        }
                    }
                }
                // The chunk and its CRLF.
                let want = size + 2;
                let copied = io::copy(&mut from.take(want), to)?;
                if copied != want {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "end of stream inside a chunk",
                    ));
                }
                total += copied;
            }
        }
    }
}

/// Reads one body and returns its content (chunked framing removed).
pub fn read_body(from: &mut impl BufRead, framing: Framing, limit: u64) -> io::Result<Vec<u8>> {
    let mut framed = Vec::new();
    copy_body(from, &mut framed, framing)?;
    if framed.len() as u64 > limit {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "body too big"));
    }
    if framing != Framing::Chunked {
        return Ok(framed);
    }
    let mut out = Vec::new();
    let mut rest = &framed[..];
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(&rest[..nl]);
        let size_text = text.trim().split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).unwrap_or(0);
        rest = &rest[nl + 1..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    Ok(out)
}

/// A complete response with a `Content-Length` body.
pub fn response(status: u16, reason: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The usual reason phrase of `status`.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Decodes `%XX` escapes and, with `plus_is_space`, `+` (form encoding).
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `a=1&b=2` into decoded pairs (keys may repeat).
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}
