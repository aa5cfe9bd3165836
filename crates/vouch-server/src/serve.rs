//! The listener: TLS (or plain HTTP on loopback, for tests and sidecars), HTTP/1.1 and HTTP/2
//! on one port, and the bounds that keep one client from taking the server down.
//!
//! - a cap on open connections (past it, new ones are closed at once);
//! - TLS handshakes and HTTP/1.1 request heads must arrive within a time limit;
//! - a bounded number of concurrent HTTP/2 streams per connection;
//! - a panic while serving one request is answered with a 500 and logged; the connection and
//!   the server go on.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// An error inside a streamed response body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: a whole buffer or a stream (the mirror streams blobs).
pub type Body = BoxBody<Bytes, BoxError>;

/// A request handler.
pub trait Service: Send + Sync + 'static {
    /// Answers one request from `peer`.
    fn call(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send;
}

/// Bounds on what clients may hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at most; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time for a client to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for a client to send an HTTP/1.1 request head.
    pub header_read_timeout: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_concurrent_streams: 256,
        }
    }
}

/// A whole response body.
pub fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut body = body.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    full(status, "text/plain; charset=utf-8", body)
}

/// A response with no body.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(
        Empty::new()
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}

/// Serves `service` on `listener` until `shutdown` completes: TLS with `tls` (ALPN picks
/// HTTP/2 or HTTP/1.1), or plain HTTP without it.
pub async fn serve<S: Service>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    service: Arc<S>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let limits = Arc::new(limits);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(e) => {
                    crate::log::warn(serde_json::json!({"event": "accept-failed", "reason": e.to_string()}));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, service, limits) =
            (acceptor.clone(), Arc::clone(&service), Arc::clone(&limits));
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                Some(acceptor) => {
                    // A failed or slow handshake is the client's problem; nothing to answer.
                    let handshake = acceptor.accept(stream);
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(limits.handshake_timeout, handshake).await
                    {
                        serve_connection(TokioIo::new(tls), peer, service, &limits).await
                    }
                }
                None => serve_connection(TokioIo::new(stream), peer, service, &limits).await,
            }
        });
    }
}

async fn serve_connection<I, S>(io: I, peer: SocketAddr, service: Arc<S>, limits: &Limits)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: Service,
{
    let handler = hyper::service::service_fn(move |request: Request<Incoming>| {
        let service = Arc::clone(&service);
        async move {
            let answer = AssertUnwindSafe(service.call(request, peer))
                .catch_unwind()
                .await;
            Ok::<_, Infallible>(answer.unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                crate::log::warn(serde_json::json!({
                    "event": "request-panicked",
                    "client": peer.to_string(),
                    "panic": what,
                }));
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }))
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams);
    // A connection that breaks is the client's problem; the server goes on.
    let _ = builder.serve_connection(io, handler).await;
}
