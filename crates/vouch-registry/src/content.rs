//! What a store hands back (a manifest as fetched, with its computed digest), how it is looked
//! up (tag or digest), and the digest check every read goes through.

use vouch_oci::reference::Digest;

use crate::error::StoreError;

/// A manifest as fetched and checked.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Exact bytes served.
    pub bytes: Vec<u8>,
    /// Content type the store gave, if any.
    pub media_type: Option<String>,
    /// sha256 of `bytes` (equal to the digest asked for, when one was).
    pub digest: Digest,
}

/// A tag or a digest to look up.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    /// By tag: the answer's digest is computed from its bytes.
    Tag(&'a str),
    /// By digest: the answer must hash to it.
    Digest(&'a Digest),
}

impl std::fmt::Display for Lookup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lookup::Tag(t) => f.write_str(t),
            Lookup::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// Checks fetched bytes against the digest they were asked by.
pub(crate) fn check_digest(what: &str, expected: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
    let actual = Digest::of(bytes);
    if &actual == expected {
        Ok(())
    } else {
        Err(StoreError::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}
