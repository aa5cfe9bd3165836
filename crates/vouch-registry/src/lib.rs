//! Talking to registries and OCI image layouts: the HTTP transport (TLS, auth, retries, size
//! and time bounds), registry and layout repositories, docker credentials, tag resolution,
//! Sigstore bundle referrers, and the verification cache.
//!
//! Trust boundary: everything read from a registry, a layout or the cache is untrusted. Every
//! manifest and blob is checked against the digest it was asked by (a tag's answer is hashed
//! once and only its digest used after); every size, count and wait is bounded; credentials
//! never leave the host they belong to and are never printed. Whether a signature is good is
//! not decided here.
#![forbid(unsafe_code)]

pub mod cache;
mod content;
pub mod credentials;
mod error;
mod http;
mod layout;
mod options;
pub mod referrers;
mod registry;
pub mod resolve;
mod store;

pub use content::{Fetched, Lookup};
pub use error::StoreError;
pub use options::StoreOptions;
pub use registry::BlobStream;
pub use store::{Repo, Stores};
