//! The formats vouch reads and writes around images, parse and print only (no I/O):
//! [`reference`] parses image references (registry or `oci:` layout, sha256 digests);
//! [`oci`] reads OCI and Docker manifests, indexes and OCI 1.1 referrers with bounds, and names
//! the media types of cosign's signatures; [`payload`] builds and reads the simple-signing
//! payloads cosign and vouch sign.
//!
//! Trust boundary: everything here parses bytes from a registry, a layout or the command line;
//! every parser is bounded and refuses what it cannot read unambiguously (duplicate keys,
//! digests other than sha256).
#![forbid(unsafe_code)]

pub mod oci;
pub mod payload;
pub mod reference;
