//! A stand-in for the internet: cosign is pointed at it as its HTTP(S) proxy, so anything
//! it would fetch from outside (TUF metadata, public-good services) arrives here instead of
//! waiting on DNS, is refused at once, and is recorded for tests to assert on. Go never
//! proxies loopback addresses, so the stand-in's own services and the test registry are
//! reached directly.

use std::io::{BufRead as _, Read, Write as _};
use std::sync::{Arc, Mutex};

use super::http::lock;
use crate::net::Server;

pub(crate) struct Sentinel {
    attempts: Arc<Mutex<Vec<String>>>,
    server: Server,
}

impl Sentinel {
    pub(crate) fn start() -> Sentinel {
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let server = {
            let attempts = Arc::clone(&attempts);
            Server::start(None, move |mut conn| {
                let mut line = String::new();
                let _ = Read::take(&mut conn.reader, 4096).read_line(&mut line);
                lock(&attempts).push(line.trim_end().to_string());
                let _ = conn.reader.get_mut().write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                conn.close();
            })
        };
        Sentinel { attempts, server }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.server.host())
    }

    /// Request lines received (`CONNECT host:443 HTTP/1.1`, `GET http://...`).
    pub(crate) fn attempts(&self) -> Vec<String> {
        lock(&self.attempts).clone()
    }
}
