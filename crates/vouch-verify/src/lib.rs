//! Verification of image signatures: fetch an image's `.sig` layers and Sigstore bundles,
//! judge each signature, and decide against keys or a trust policy.
//!
//! Trust boundary: signatures, payloads and bundles come from registries, layouts, files and
//! the cache as untrusted bytes; what leaves is a report that says which signatures verified
//! and why the image was accepted or refused. The tag of a reference is resolved once, and only
//! its digest is judged.
//!
//! # Use
//!
//! Build a [`Verifier`] once, then call [`Verifier::verify`] for each image:
//!
//! ```no_run
//! # async fn example(image: &vouch_oci::reference::ImageRef) -> Result<(), Box<dyn std::error::Error>> {
//! use vouch_registry::{StoreOptions, Stores};
//! use vouch_verify::{PolicyTrust, Trust, Verifier, judgement_time, load_policy};
//!
//! let stores = Stores::new(&StoreOptions::default())?;
//! let trust = Trust::Policy(Box::new(PolicyTrust {
//!     loaded: load_policy(std::path::Path::new("policy.yaml"))?,
//!     at: judgement_time(None)?,
//!     platform: None,
//!     all_platforms: false,
//! }));
//! let verifier = Verifier::new(stores, trust);
//! let report = verifier.verify(image).await;
//! if !report.passes() {
//!     eprintln!("{} refused", report.reference());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`Report`] serializes as the JSON `vouch verify --output json` prints for each image;
//! [`Report::unreachable`] tells a registry that could not be read (fail closed) from a
//! refusal. [`Trust::Keys`] judges against keys and keyless identities instead of a policy.
//!
//! The modules underneath, for callers that need one step: [`fetch`] (the I/O: `.sig` layers,
//! bundle referrers, deadlines, the cache), [`judge`] (one signature, pure), [`report`] (what
//! is reported), [`key_verify`] and [`policy_verify`] (the two decisions).
#![forbid(unsafe_code)]

pub mod attestations;
pub mod fetch;
pub mod judge;
pub mod key_verify;
pub mod policy_verify;
pub mod report;
mod verifier;

pub use judge::{KeylessMatcher, TextMatch, TrustedKey};
pub use policy_verify::{
    LoadedPolicy, PlatformSelector, PolicyImageReport, PolicyLoadError, judgement_time, load_policy,
};
pub use report::{ImageReport, SignatureReport};
pub use verifier::{KeyTrust, PolicyTrust, Report, Trust, Verifier};
