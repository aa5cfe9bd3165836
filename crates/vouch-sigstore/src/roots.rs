//! The Sigstore trusted roots built into vouch (it does not fetch TUF metadata): the
//! public-good production instance, the default wherever no root is given, and staging.

use crate::trust_root::TrustedRoot;

/// Snapshot of the Sigstore public-good (production) trusted root, used when no
/// `--trusted-root` is given (vouch does not fetch TUF metadata). From sigstore-python's
/// embedded copy, Apache-2.0, The Sigstore Authors.
pub const PRODUCTION_TRUSTED_ROOT: &str = include_str!("roots/production.json");
/// The same for Sigstore's staging instance (`--staging`).
pub const STAGING_TRUSTED_ROOT: &str = include_str!("roots/staging.json");

/// [`PRODUCTION_TRUSTED_ROOT`], parsed once.
pub fn production_root() -> Option<&'static TrustedRoot> {
    static ROOT: std::sync::OnceLock<Option<TrustedRoot>> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| TrustedRoot::from_json(PRODUCTION_TRUSTED_ROOT.as_bytes()).ok())
        .as_ref()
}
