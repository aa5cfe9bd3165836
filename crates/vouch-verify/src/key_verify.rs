//! `vouch verify --key`: an image passes when a signature verifies under one of the trusted
//! keys (or accepted keyless identities) and carries the required annotations.

use vouch_oci::reference::Digest;
use vouch_oci::reference::ImageRef;
use vouch_policy::{Decision, KeyRequirement, VerifiedSignature};
use vouch_registry::Stores;
use vouch_registry::cache::Cache;
use vouch_registry::referrers::FetchedBundle;
use vouch_sigstore::{TrustedRoot, UnixTime};

use crate::fetch::{
    BundleSource, CacheUse, cache_subject, deferred_bundles, fetch_signatures,
    likely_payload_references, remember, resolve_for_verify,
};
use crate::judge::{
    KeylessMatcher, SignatureJudge, TrustedKey, VerifiedSig, judge_bundle, judge_layer,
};
use crate::report::{ImageReport, SignatureReport};

/// What must hold for an image to be accepted.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// Keys whose signatures count.
    pub keys: &'a [TrustedKey],
    /// The policy requirement (annotations).
    pub requirement: &'a KeyRequirement,
    /// Overrides the repository the payload must name (`--identity`).
    pub identity: Option<&'a str>,
    /// The verification cache, if in use.
    pub cache: Option<&'a Cache>,
    /// Where Sigstore bundles come from.
    pub bundles: BundleSource<'a>,
    /// Keyless identities whose signatures count (`--certificate-identity`, …).
    pub keyless: &'a [KeylessMatcher],
    /// The trusted root for keyless signatures and timed bundles.
    pub root: Option<&'a TrustedRoot>,
    /// Accept unlogged keyless signatures, checking them at this instant
    /// (`--insecure-ignore-tlog`).
    pub unlogged_at: Option<UnixTime>,
}

/// Verifies one image against the keys and requirement.
pub async fn verify_image(
    stores: &Stores,
    image: &ImageRef,
    expect: &Expectations<'_>,
) -> ImageReport {
    let limits = stores.limits();
    let repo = stores.repo(image);
    let resolved = match resolve_for_verify(&repo, image, false, limits, expect.cache).await {
        Ok(r) => r,
        Err(e) => return ImageReport::failed(image, None, &e),
    };
    let digest = resolved.digest;
    let subject = cache_subject(image, &digest);
    let cache_use = CacheUse {
        cache: expect.cache,
        subject: subject.as_deref(),
    };
    let identity = expect
        .identity
        .map(str::to_string)
        .unwrap_or_else(|| image.default_identity());
    let likely = likely_payload_references(image, expect.identity);
    let fetched = fetch_signatures(
        &repo,
        image,
        &digest,
        limits,
        cache_use,
        expect.bundles,
        &likely,
    )
    .await;
    let (layers, mut entry, bundles) = match fetched {
        Ok(l) => l,
        Err(e) => return ImageReport::failed(image, Some(&digest), &e),
    };
    let judge = SignatureJudge {
        keys: expect.keys,
        root: expect.root,
        keyless: !expect.keyless.is_empty(),
        unlogged_at: expect.unlogged_at,
    };
    let mut judged = Judged {
        reports: Vec::new(),
        verified: Vec::new(),
        judge,
        keyless: expect.keyless,
    };
    for (i, layer) in layers.iter().enumerate() {
        let judgement = judge_layer(
            i + 1,
            layer,
            &digest,
            Some(&identity),
            &judged.judge,
            entry.as_mut(),
        );
        judged.add(judgement);
    }
    judged.add_bundles(&bundles, &digest, &identity);
    let mut decision = expect.requirement.evaluate(&judged.verified);
    // Offline, bundles never read online are not in the cache: a refusal says so.
    let mut uncached_bundles = false;
    if matches!(decision, Decision::Deny(_)) && expect.bundles.deferred() {
        uncached_bundles = matches!(expect.bundles, BundleSource::Cached)
            && entry.as_ref().is_some_and(|e| !e.has_bundles());
        let deferred = deferred_bundles(
            &repo,
            image,
            &digest,
            limits,
            expect.bundles,
            entry.as_mut(),
        )
        .await;
        let bundles = match deferred {
            Ok(b) => b,
            Err(e) => {
                remember(cache_use, entry);
                return ImageReport::failed(image, Some(&digest), &e);
            }
        };
        if !bundles.is_empty() {
            judged.add_bundles(&bundles, &digest, &identity);
            decision = expect.requirement.evaluate(&judged.verified);
        }
    }
    remember(cache_use, entry);
    let reports = judged.reports;
    let (decision, reason) = match &decision {
        Decision::Allow { .. } => ("verified", None),
        Decision::Deny(denial) => {
            let reason = if reports.is_empty() {
                match expect.bundles {
                    BundleSource::Files(_) => "no signatures: the bundles given hold none".into(),
                    BundleSource::Cached => format!(
                        "no signatures: when last read online, {} had no {} tag and no Sigstore bundle referrers (run without --offline to look again)",
                        image.repository_display(),
                        digest.signature_tag()
                    ),
                    _ => format!(
                        "no signatures: {} has no {} tag and no Sigstore bundle referrers (sign it with `vouch sign`)",
                        image.repository_display(),
                        digest.signature_tag()
                    ),
                }
            } else {
                denial.to_string()
            };
            let reason = if uncached_bundles {
                format!(
                    "{reason} (offline: this image's Sigstore bundle referrers were never read, so they are not in the verification cache; run without --offline to read them)"
                )
            } else {
                reason
            };
            ("refused", Some(reason))
        }
    };
    ImageReport {
        reference: image.to_string(),
        pinned: Some(image.pinned_display(&digest)),
        digest: Some(digest),
        decision,
        reason,
        signatures: reports,
        unreachable: false,
    }
}

/// The signatures of one image judged so far (for `--key`).
struct Judged<'a> {
    reports: Vec<SignatureReport>,
    verified: Vec<VerifiedSignature>,
    judge: SignatureJudge<'a>,
    keyless: &'a [KeylessMatcher],
}

impl Judged<'_> {
    /// Adds one judged signature; a keyless one counts only if its identity is accepted.
    fn add(&mut self, (mut report, sig): (SignatureReport, Option<VerifiedSig>)) {
        if let Some(sig) = sig {
            match &sig.identity {
                Some(id) if !self.keyless.iter().any(|m| m.matches(id)) => {
                    report.verdict = "rejected";
                    report.reason = Some(format!(
                        "certificate identity {:?} from {} is not the one asked for ({})",
                        id.subject,
                        id.issuer,
                        self.keyless
                            .iter()
                            .map(KeylessMatcher::describe)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
                _ => self.verified.push(sig.requirement_signature()),
            }
        }
        self.reports.push(report);
    }

    /// Judges `bundles`, numbering them after what was judged before.
    fn add_bundles(&mut self, bundles: &[FetchedBundle], digest: &Digest, identity: &str) {
        for bundle in bundles {
            let index = self.reports.len() + 1;
            let judgement = judge_bundle(index, bundle, digest, Some(identity), &self.judge);
            self.add(judgement);
        }
    }
}
