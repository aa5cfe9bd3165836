//! What vouch's long-running servers (the admission webhook and the registry mirror) share.
//!
//! The trust boundary here is the network: every byte a client sends is hostile until a
//! service has judged it. This crate gives the services a listener that cannot be taken down
//! by one request — HTTPS with a certificate that is re-read when its files change, HTTP/1.1
//! and HTTP/2, bounded bodies and header reads, a cap on connections, a panic in one request
//! answered with a 500 instead of a dead connection — plus the pieces both services need
//! around a verifier: a memo of decisions that computes each key once however many requests
//! ask at the same time ([`memo`]), files watched for changes and reloaded only when the new
//! content is valid ([`watch`]), Prometheus metrics ([`metrics`]) and one-line JSON logs
//! ([`log`]). It knows nothing of images, policies or registries.
#![forbid(unsafe_code)]

pub mod body;
pub mod log;
pub mod memo;
pub mod metrics;
pub mod serve;
pub mod tls;
pub mod watch;

pub use body::{BodyError, read_limited};
pub use memo::Memo;
pub use metrics::{Counter, Histogram, Registry};
pub use serve::{Body, Limits, Service, empty, full, serve, text};
pub use tls::{ReloadingCertificate, TlsError, TlsFiles};
pub use watch::Watched;
