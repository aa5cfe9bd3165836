//! Verification of image signatures: fetch an image's `.sig` layers and Sigstore bundles,
//! judge each signature, and decide against keys or a trust policy.
//!
//! Trust boundary: signatures, payloads and bundles come from registries, layouts, files and
//! the cache as untrusted bytes; what leaves is a report that says which signatures verified
//! and why the image was accepted or refused. The tag of a reference is resolved once, and only
//! its digest is judged.
#![forbid(unsafe_code)]

pub mod fetch;
pub mod judge;
pub mod key_verify;
pub mod policy_verify;
pub mod report;
