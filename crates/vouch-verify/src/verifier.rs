//! [`Verifier`]: set up once (registry access, what is trusted, the cache), then judge image
//! after image. What `vouch verify` and `vouch pin` run, and what a long-running caller (an
//! admission webhook, a registry mirror) holds.

use serde::Serialize;
use vouch_oci::reference::ImageRef;
use vouch_policy::{KeyRequirement, Timestamp};
use vouch_registry::Stores;
use vouch_registry::cache::Cache;
use vouch_registry::referrers::FetchedBundle;
use vouch_sigstore::{TrustedRoot, UnixTime};

use crate::fetch::BundleSource;
use crate::judge::{KeylessMatcher, TrustedKey};
use crate::key_verify::{Expectations, verify_image};
use crate::policy_verify::{
    LoadedPolicy, PlatformSelector, PolicyImageReport, PolicyRun, verify_with_policy,
};
use crate::report::ImageReport;

/// What an image must satisfy.
pub enum Trust {
    /// Signatures by trusted keys or accepted keyless identities, carrying the required
    /// annotations (`vouch verify --key`, `--certificate-identity`).
    Keys(KeyTrust),
    /// A trust policy (`vouch verify --policy`); boxed, being the larger by far.
    Policy(Box<PolicyTrust>),
}

/// Keys and keyless identities whose signatures count.
pub struct KeyTrust {
    /// Keys whose signatures count.
    pub keys: Vec<TrustedKey>,
    /// The annotations a signature must carry.
    pub requirement: KeyRequirement,
    /// Keyless identities whose signatures count.
    pub keyless: Vec<KeylessMatcher>,
    /// The trusted root for keyless signatures and timed bundles (usually
    /// [`vouch_sigstore::production_root`]); `None`: nothing keyless verifies.
    pub root: Option<TrustedRoot>,
    /// Accept unlogged keyless signatures, checking them at this instant
    /// (`--insecure-ignore-tlog`).
    pub unlogged_at: Option<UnixTime>,
}

/// A trust policy, and how it is applied.
pub struct PolicyTrust {
    /// The policy, its keys and its trusted root.
    pub loaded: LoadedPolicy,
    /// The instant signer validity is judged at.
    pub at: Timestamp,
    /// Judge this child of an index instead of the index.
    pub platform: Option<PlatformSelector>,
    /// Judge every child of an index (each must pass).
    pub all_platforms: bool,
}

/// Judges images against what it was built with. Cheap to call concurrently: `verify` takes
/// `&self`, and the stores share one connection pool.
pub struct Verifier {
    stores: Stores,
    trust: Trust,
    identity: Option<String>,
    cache: Option<Cache>,
    bundle_files: Vec<FetchedBundle>,
    all_signatures: bool,
}

impl Verifier {
    /// Judges images from `stores` against `trust`, each as its own repository, with no
    /// cache, reading bundle referrers only when the `.sig` signatures do not pass.
    pub fn new(stores: Stores, trust: Trust) -> Verifier {
        Verifier {
            stores,
            trust,
            identity: None,
            cache: None,
            bundle_files: Vec::new(),
            all_signatures: false,
        }
    }

    /// Judges every image as this repository (`--identity`; e.g. for `oci:` layouts).
    pub fn identity(mut self, identity: Option<String>) -> Verifier {
        self.identity = identity;
        self
    }

    /// Reads and fills this verification cache (an offline cache reads nothing else).
    pub fn cache(mut self, cache: Option<Cache>) -> Verifier {
        self.cache = cache;
        self
    }

    /// Judges only these bundles, and reads nothing at all (`--bundle FILE`, air-gapped).
    pub fn bundle_files(mut self, files: Vec<FetchedBundle>) -> Verifier {
        self.bundle_files = files;
        self
    }

    /// Reads every signature in both formats, even when the `.sig` ones already pass
    /// (`--all-signatures`).
    pub fn all_signatures(mut self, all: bool) -> Verifier {
        self.all_signatures = all;
        self
    }

    /// Judges one image: its tag resolved once, its signatures fetched (bounded in size,
    /// count and time) and judged, the decision made. Never fails: a registry that cannot be
    /// read gives a report that says so ([`Report::unreachable`]).
    pub async fn verify(&self, image: &ImageRef) -> Report {
        self.verify_at(image, None).await
    }

    /// [`Verifier::verify`], judging a policy's signer validity at `at` instead of the instant
    /// the policy was set up with (a long-running server judges at the time of each request).
    pub async fn verify_at(&self, image: &ImageRef, at: Option<Timestamp>) -> Report {
        let cache = self.cache.as_ref();
        let bundles = BundleSource::for_run(&self.bundle_files, cache, self.all_signatures);
        let identity = self.identity.as_deref();
        match &self.trust {
            Trust::Keys(k) => {
                let expect = Expectations {
                    keys: &k.keys,
                    requirement: &k.requirement,
                    identity,
                    cache,
                    bundles,
                    keyless: &k.keyless,
                    root: k.root.as_ref(),
                    unlogged_at: k.unlogged_at,
                };
                Report::Keys(verify_image(&self.stores, image, &expect).await)
            }
            Trust::Policy(p) => {
                let run = PolicyRun {
                    loaded: &p.loaded,
                    at: at.unwrap_or(p.at),
                    platform: p.platform.as_ref(),
                    all_platforms: p.all_platforms,
                    identity,
                    cache,
                    bundles,
                };
                Report::Policy(verify_with_policy(&self.stores, image, &run).await)
            }
        }
    }

    /// Trims the verification cache to its bound (after a batch).
    pub fn trim_cache(&self) {
        if let Some(c) = &self.cache {
            c.trim();
        }
    }
}

/// The outcome for one image; serialized as the report it holds.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Report {
    /// Judged against keys.
    Keys(ImageReport),
    /// Judged against a policy.
    Policy(PolicyImageReport),
}

impl Report {
    /// True when the image is accepted (under a policy, also by a rule in warn mode).
    pub fn passes(&self) -> bool {
        match self {
            Report::Keys(r) => r.is_verified(),
            Report::Policy(r) => matches!(r.decision, "allow" | "warn"),
        }
    }

    /// True when a policy would refuse the image but its rule is in warn mode.
    pub fn warns(&self) -> bool {
        matches!(self, Report::Policy(r) if r.decision == "warn")
    }

    /// True when the registry or layout could not be read (nothing was judged).
    pub fn unreachable(&self) -> bool {
        match self {
            Report::Keys(r) => r.unreachable,
            Report::Policy(r) => r.unreachable,
        }
    }

    /// The reference as given.
    pub fn reference(&self) -> &str {
        match self {
            Report::Keys(r) => &r.reference,
            Report::Policy(r) => &r.reference,
        }
    }
}
