//! A latency-injecting TCP proxy for the benchmark (bench/run.sh): it models a remote
//! registry on loopback.
//!
//! `latency_proxy --upstream HOST [--rtt-ms MS]`
//!
//! Every byte is forwarded unchanged, in both directions, half a round trip late: a
//! request/response exchange costs one round trip more than on loopback, and a new
//! connection costs one more round trip before its first byte is forwarded (the TCP
//! handshake a remote host would need). Anything can go through, TLS included (a client
//! probing HTTPS on a plain-HTTP registry gets the registry's own answer, one round trip
//! later), and pipelined or concurrent requests overlap as they would on a real link.
//! Bandwidth is not limited.
//!
//! HTTP request lines in the client-to-registry direction are counted (`GET /v2/…
//! HTTP/1.1`), so the benchmark can say how many requests each tool makes.
//!
//! Prints its own address (`127.0.0.1:PORT`) as the first line on stdout, then obeys
//! commands read one per line from stdin, and exits when stdin closes:
//!
//! - `rtt MS`: the round trip to add from now on (new chunks of data, new connections);
//! - `stats FILE`: writes `requests=R connections=C manifest_gets=M blob_gets=B
//!   referrers_gets=F heads=H other=O` for the traffic since the last `stats` to FILE (written to FILE.tmp, then
//!   renamed, so a reader never sees half a line), and starts counting afresh.

use std::io::{BufRead as _, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    connections: AtomicU64,
    manifest_gets: AtomicU64,
    blob_gets: AtomicU64,
    referrers_gets: AtomicU64,
    heads: AtomicU64,
}

struct Shared {
    upstream: String,
    /// The added round trip, in microseconds.
    rtt_us: AtomicU64,
    counters: Counters,
}

impl Shared {
    fn rtt(&self) -> Duration {
        Duration::from_micros(self.rtt_us.load(Ordering::Relaxed))
    }

    /// Counts one line of the client's stream if it is an HTTP request line.
    fn count_line(&self, line: &[u8]) {
        let Ok(line) = std::str::from_utf8(line) else {
            return;
        };
        let line = line.trim_end_matches('\r');
        let mut parts = line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        if !METHODS.contains(&method) || !version.starts_with("HTTP/1.") {
            return;
        }
        let c = &self.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        if method == "HEAD" {
            c.heads.fetch_add(1, Ordering::Relaxed);
        } else if method == "GET" && target.contains("/manifests/") {
            c.manifest_gets.fetch_add(1, Ordering::Relaxed);
        } else if method == "GET" && target.contains("/blobs/") {
            c.blob_gets.fetch_add(1, Ordering::Relaxed);
        } else if method == "GET" && target.contains("/referrers/") {
            c.referrers_gets.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes the counters, leaving zeros.
    fn take_stats(&self) -> String {
        let c = &self.counters;
        let take = |a: &AtomicU64| a.swap(0, Ordering::Relaxed);
        let (requests, connections) = (take(&c.requests), take(&c.connections));
        let (manifest_gets, blob_gets, heads) =
            (take(&c.manifest_gets), take(&c.blob_gets), take(&c.heads));
        let referrers_gets = take(&c.referrers_gets);
        format!(
            "requests={requests} connections={connections} manifest_gets={manifest_gets} blob_gets={blob_gets} referrers_gets={referrers_gets} heads={heads} other={}\n",
            requests.saturating_sub(manifest_gets + blob_gets + referrers_gets + heads)
        )
    }
}

/// One direction of a connection: what `from` sends reaches `to` half a round trip later.
/// A reader thread stamps each chunk with its delivery time; this thread delivers it.
fn pipe(shared: Arc<Shared>, from: TcpStream, mut to: TcpStream, count_requests: bool) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let reader_shared = Arc::clone(&shared);
    let mut reader = match from.try_clone() {
        Ok(r) => r,
        Err(_) => return,
    };
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut line: Vec<u8> = Vec::new();
        loop {
            let n = reader.read(&mut buf).unwrap_or(0);
            let due = Instant::now() + reader_shared.rtt() / 2;
            if count_requests {
                for &b in &buf[..n] {
                    if b == b'\n' {
                        reader_shared.count_line(&line);
                        line.clear();
                    } else if line.len() < 8192 {
                        line.push(b);
                    }
                }
            }
            // An empty chunk is the end of the stream.
            if tx.send((due, buf[..n].to_vec())).is_err() || n == 0 {
                return;
            }
        }
    });
    for (due, chunk) in rx {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if chunk.is_empty() {
            let _ = to.shutdown(Shutdown::Write);
            return;
        }
        if to.write_all(&chunk).is_err() {
            break;
        }
    }
    // The other side is gone: tear down both directions.
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

fn handle(shared: Arc<Shared>, client: TcpStream) {
    shared.counters.connections.fetch_add(1, Ordering::Relaxed);
    // The handshake's round trip: nothing moves until it is over.
    std::thread::sleep(shared.rtt());
    let Ok(upstream) = TcpStream::connect(&shared.upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up_shared = Arc::clone(&shared);
    std::thread::spawn(move || pipe(up_shared, client, upstream, true));
    pipe(shared, upstream2, client2, false);
}

fn main() -> std::process::ExitCode {
    let mut upstream = None;
    let mut rtt_ms = 0u64;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match (arg.as_str(), it.next()) {
            ("--upstream", Some(v)) => upstream = Some(v),
            ("--rtt-ms", Some(v)) => rtt_ms = v.parse().unwrap_or(0),
            _ => {
                eprintln!("usage: latency_proxy --upstream HOST [--rtt-ms MS]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let Some(upstream) = upstream else {
        eprintln!("latency_proxy: --upstream HOST is required");
        return std::process::ExitCode::from(2);
    };
    let listener = match TcpListener::bind("127.0.0.1:0").and_then(|l| Ok((l.local_addr()?, l))) {
        Ok((addr, l)) => {
            println!("{addr}");
            l
        }
        Err(e) => {
            eprintln!("latency_proxy: bind 127.0.0.1:0: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let shared = Arc::new(Shared {
        upstream,
        rtt_us: AtomicU64::new(rtt_ms * 1000),
        counters: Counters::default(),
    });
    let accept_shared = Arc::clone(&shared);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let shared = Arc::clone(&accept_shared);
            std::thread::spawn(move || handle(shared, client));
        }
    });
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("rtt"), Some(ms)) => {
                let ms: u64 = ms.parse().unwrap_or(0);
                shared.rtt_us.store(ms * 1000, Ordering::Relaxed);
            }
            (Some("stats"), Some(file)) => {
                let tmp = format!("{file}.tmp");
                if std::fs::write(&tmp, shared.take_stats())
                    .and_then(|()| std::fs::rename(&tmp, file))
                    .is_err()
                {
                    eprintln!("latency_proxy: cannot write {file}");
                }
            }
            _ => eprintln!("latency_proxy: unknown command {line:?}"),
        }
    }
    std::process::ExitCode::SUCCESS
}
