//! A verifying registry mirror: the read side of the OCI Distribution API (`/v2/`, manifests
//! and blobs by GET and HEAD, tags lists, referrers) in front of upstream registries, serving
//! an image only when a trust policy allows it.
//!
//! Trust boundary: clients (runtimes pulling through the mirror) and upstream registries are
//! both untrusted. A manifest is resolved upstream once, its digest computed from the bytes,
//! the image verified at that digest, and exactly those bytes served under that digest or a
//! `403 DENIED` whose message names the image and the reason. A blob is served only when it
//! is reachable from a manifest the mirror allowed ([`record`]), streamed with its digest and
//! size checked ([`stream`]). Anything that cannot be read or verified in time is a refusal,
//! never an allow. Requests are parsed by [`route`]; the service is [`mirror::Mirror`].
#![forbid(unsafe_code)]

pub mod answer;
pub mod mirror;
pub mod record;
pub mod route;
pub mod stream;

pub use mirror::{Engine, Mirror, MirrorOptions, Upstreams};
