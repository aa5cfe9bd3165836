//! Verification of cosign tag-based signatures: fetch the `.sig` manifest, check every
//! layer's signature, payload digest and identity, and report on each.

use std::collections::BTreeMap;

use base64::Engine as _;
use futures_util::StreamExt as _;
use serde::Serialize;
use vouch_policy::{Decision, KeyRequirement, KeylessIdentity, SubjectRegex, VerifiedSignature};

use vouch_keys::PublicKey;
use vouch_oci::oci::SIGN_PREDICATE_TYPE;
use vouch_oci::oci::{self, Limits, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};
use vouch_oci::payload::{self, Payload};
use vouch_oci::reference::{self, Digest, ImageRef};
use vouch_registry::cache::{Cache, CacheMode, Entry};
use vouch_registry::referrers::{FetchedBundle, fetch_bundles};
use vouch_registry::resolve::resolve;
use vouch_registry::{Lookup, Repo, StoreError, Stores};
use vouch_sigstore::{
    Artifact, BundleError, HashAlgorithm, IdentityPolicy, PolicyMismatch, SigLayer, TrustedRoot,
    UnixTime, VerifiedBundle, VerifyOptions, verify_bundle_with, verify_sig_layer,
};

/// Signature layers fetched at once for one image.
const LAYER_FETCH_CONCURRENCY: usize = 16;

/// How long fetching one image's `.sig` manifest and signature layers may take in all (and,
/// separately, reading its bundle referrers when they are needed).
pub const SIGNATURES_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// A public key the user trusts, with where it came from.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key.
    pub key: PublicKey,
    /// Its id: hex SHA-256 of the SPKI DER.
    pub key_id: String,
    /// The file it was read from, for messages.
    pub source: String,
}

/// What one signature layer (or Sigstore bundle) came to.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    /// 1-based position in the `.sig` manifest; bundles are numbered after the layers.
    pub index: usize,
    /// The layer's digest; for a bundle, the referrer manifest's digest (or the file given
    /// with `--bundle`).
    pub layer_digest: String,
    /// `bundle` for a Sigstore bundle; absent for a `.sig` layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    /// The certificate identity, for a keyless (certificate-signed) signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<KeylessIdentity>,
    /// The transparency-log entry's index, for a keyless signature whose entry verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<i64>,
    /// When it was signed (RFC 3339), as its log entry or RFC 3161 timestamp proves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
    /// `verified` or `rejected`.
    pub verdict: &'static str,
    /// The key it verified under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Where that key came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_source: Option<String>,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The payload's docker-reference, when the payload parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_reference: Option<String>,
    /// The payload's signed annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, serde_json::Value>,
}

impl SignatureReport {
    /// A report to fill in as checks pass; `rejected` until the last one does.
    fn pending(index: usize, layer_digest: &str, format: Option<&'static str>) -> SignatureReport {
        SignatureReport {
            index,
            layer_digest: layer_digest.to_string(),
            format,
            identity: None,
            log_index: None,
            signed_at: None,
            verdict: "rejected",
            key_id: None,
            key_source: None,
            reason: None,
            docker_reference: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// The outcome for one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// The reference as the user gave it.
    pub reference: String,
    /// The digest judged (a tag is resolved once, up front).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// `repo@digest`, for a deploy step to use instead of the tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    /// `verified`, `refused` or `error`.
    pub decision: &'static str,
    /// Why it was refused or could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every signature layer and bundle found, and its verdict.
    pub signatures: Vec<SignatureReport>,
    /// True when the registry or layout could not be read (exit code 3).
    #[serde(skip)]
    pub unreachable: bool,
}

impl ImageReport {
    fn failed(image: &ImageRef, digest: Option<&Digest>, err: &StoreError) -> ImageReport {
        ImageReport {
            reference: image.to_string(),
            digest: digest.cloned(),
            pinned: digest.map(|d| image.pinned_display(d)),
            decision: if err.is_unreachable() {
                "error"
            } else {
                "refused"
            },
            reason: Some(err.to_string()),
            signatures: Vec::new(),
            unreachable: err.is_unreachable(),
        }
    }

    /// True when verified.
    pub fn is_verified(&self) -> bool {
        self.decision == "verified"
    }
}

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

/// Where the Sigstore bundles judged with an image come from.
#[derive(Debug, Clone, Copy)]
pub enum BundleSource<'a> {
    /// The image's referrers (Referrers API, else the `sha256-<hex>` tag), read only when
    /// its `.sig` signatures alone do not already pass: more signatures never turn a pass
    /// into a refusal, and most images are signed in one format, so this saves a lookup.
    ReferrersIfNeeded,
    /// The image's referrers, always, besides its `.sig` layers (`--all-signatures`).
    Referrers,
    /// Only these bundles (`--bundle FILE`, air-gapped): nothing else is read, not even the
    /// `.sig` tag.
    Files(&'a [FetchedBundle]),
    /// The bundles the verification cache holds (`--offline`), when needed as for
    /// [`BundleSource::ReferrersIfNeeded`].
    Cached,
}

impl BundleSource<'_> {
    /// The source for a run: files if given, the cache offline, else the referrers (always
    /// with `all_signatures`, else only when needed).
    pub fn for_run<'a>(
        files: &'a [FetchedBundle],
        cache: Option<&Cache>,
        all_signatures: bool,
    ) -> BundleSource<'a> {
        if !files.is_empty() {
            BundleSource::Files(files)
        } else if cache.is_some_and(|c| c.mode() == CacheMode::Offline) {
            BundleSource::Cached
        } else if all_signatures {
            BundleSource::Referrers
        } else {
            BundleSource::ReferrersIfNeeded
        }
    }

    /// True when bundles are still to be read if the `.sig` signatures do not pass.
    pub fn deferred(self) -> bool {
        matches!(self, BundleSource::ReferrersIfNeeded | BundleSource::Cached)
    }
}

/// The `.sig` layers (unless `--bundle` files replace them) and the bundles of `digest`
/// (none yet for deferred sources: see [`deferred_bundles`]), within
/// [`SIGNATURES_DEADLINE`]. `likely_references` are the docker-references a payload of
/// this image probably names (see [`likely_payload_references`]).
pub async fn fetch_signatures(
    repo: &Repo,
    image: &ImageRef,
    digest: &Digest,
    limits: &Limits,
    cache_use: CacheUse<'_>,
    bundles: BundleSource<'_>,
    likely_references: &[String],
) -> Result<(Vec<FetchedLayer>, Option<Entry>, Vec<FetchedBundle>), StoreError> {
    let layers = async {
        match bundles {
            BundleSource::Files(_) => Ok((Vec::new(), None)),
            _ => fetch_signature_layers(repo, digest, limits, cache_use, likely_references).await,
        }
    };
    let referrers = async {
        match bundles {
            BundleSource::Referrers => fetch_bundles(repo, digest, limits).await,
            BundleSource::Files(files) => Ok(files.to_vec()),
            BundleSource::ReferrersIfNeeded | BundleSource::Cached => Ok(Vec::new()),
        }
    };
    // The `.sig` tag and the referrers are fetched at the same time.
    let work = async {
        let (layers, referrers) = tokio::join!(layers, referrers);
        let (layers, mut entry) = layers?;
        let referrers = referrers?;
        if let (BundleSource::Referrers, Some(e)) = (bundles, entry.as_mut()) {
            e.set_bundles(&referrers);
        }
        Ok::<_, StoreError>((layers, entry, referrers))
    };
    within_deadline(image, digest, work).await
}

/// The bundles of a deferred source, once the `.sig` signatures did not pass: `digest`'s
/// referrers, read within [`SIGNATURES_DEADLINE`] and noted in the cache `entry`; or, offline,
/// those the entry holds (none if the referrers were never read online). A layout has no
/// cache entry: it is read, being local.
pub async fn deferred_bundles(
    repo: &Repo,
    image: &ImageRef,
    digest: &Digest,
    limits: &Limits,
    source: BundleSource<'_>,
    entry: Option<&mut Entry>,
) -> Result<Vec<FetchedBundle>, StoreError> {
    if let (BundleSource::Cached, Some(entry)) = (source, &entry) {
        return Ok(entry.bundles().unwrap_or_default());
    }
    let bundles = within_deadline(image, digest, fetch_bundles(repo, digest, limits)).await?;
    if let Some(e) = entry {
        e.set_bundles(&bundles);
    }
    Ok(bundles)
}

async fn within_deadline<T>(
    image: &ImageRef,
    digest: &Digest,
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    // Each request has its own deadline; this bounds them together, so a registry that
    // answers each of 1,000 layers just inside the request timeout cannot hold us for hours.
    match tokio::time::timeout(SIGNATURES_DEADLINE, work).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Registry {
            registry: image.repository_display(),
            request: format!("fetch the signatures of {digest}"),
            reason: format!(
                "not done after {} s; a registry this slow is treated as unavailable",
                SIGNATURES_DEADLINE.as_secs()
            ),
        }),
    }
}

/// The docker-references a signature payload of `image` most likely names: the identity
/// it is judged by (`--identity`, else its repository) and, on Docker Hub, cosign's
/// `index.docker.io/…` spelling. Only a hint: see [`known_payload`].
pub fn likely_payload_references(image: &ImageRef, identity: Option<&str>) -> Vec<String> {
    let mut references = vec![image.default_identity()];
    if let ImageRef::Registry(r) = image
        && r.registry == reference::DOCKER_HUB
    {
        references.push(format!("index.docker.io/{}", r.repository));
    }
    if let Some(identity) = identity
        && !references.iter().any(|r| r == identity)
    {
        references.push(identity.to_string());
    }
    references
}

/// The bytes of a signature layer, without fetching them, when they are the payload cosign
/// and vouch write for an unannotated signature: that payload is fixed by the image digest
/// and the docker-reference, so a candidate whose SHA-256 is the layer's digest *is* the
/// layer (exactly what a fetch checked against that digest would return). Anything else,
/// e.g. a payload with annotations or a timestamp, is fetched.
fn known_payload(
    descriptor: &oci::Descriptor,
    layer_digest: &Digest,
    image_digest: &Digest,
    likely_references: &[String],
) -> Option<Vec<u8>> {
    let no_annotations = BTreeMap::new();
    likely_references
        .iter()
        .map(|r| payload::build(r, image_digest, &no_annotations))
        .find(|bytes| bytes.len() as u64 == descriptor.size && &Digest::of(bytes) == layer_digest)
}

/// `registry/repo@digest` for the cache (None for layouts, which are local already).
pub fn cache_subject(image: &ImageRef, digest: &Digest) -> Option<String> {
    match image {
        ImageRef::Registry(r) => Some(format!("{}@{digest}", r.repository_name())),
        ImageRef::Layout(_) => None,
    }
}

/// Resolves without the network when the cache is offline (digest references only).
pub async fn resolve_for_verify(
    repo: &Repo,
    image: &ImageRef,
    need_manifest: bool,
    limits: &Limits,
    cache: Option<&Cache>,
) -> Result<vouch_registry::resolve::Resolved, StoreError> {
    let offline = cache.is_some_and(|c| c.mode() == CacheMode::Offline);
    if offline && matches!(image, ImageRef::Registry(_)) {
        return match (image.digest(), need_manifest) {
            (Some(d), false) => Ok(vouch_registry::resolve::Resolved {
                digest: d.clone(),
                manifest: None,
            }),
            (None, _) => Err(StoreError::Offline(format!(
                "{image}: --offline needs a digest reference (repo@sha256:…); a tag needs the registry"
            ))),
            (Some(_), true) => Err(StoreError::Offline(format!(
                "{image}: --offline cannot read an index for --platform/--all-platforms"
            ))),
        };
    }
    resolve(repo, image, need_manifest, limits).await
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

/// A keyless identity `vouch verify` accepts without a policy: cosign's
/// `--certificate-identity[-regexp]` and `--certificate-oidc-issuer[-regexp]`.
#[derive(Debug, Clone)]
pub struct KeylessMatcher {
    /// The certificate's identity (subject alternative name).
    pub subject: TextMatch,
    /// The OIDC issuer the certificate names.
    pub issuer: TextMatch,
}

/// Exactly this text, or a regular expression that must match all of it.
#[derive(Debug, Clone)]
pub enum TextMatch {
    /// Compared exactly.
    Exact(String),
    /// Anchored at both ends.
    Regex(SubjectRegex),
}

impl TextMatch {
    fn matches(&self, text: &str) -> bool {
        match self {
            TextMatch::Exact(e) => e == text,
            TextMatch::Regex(r) => r.is_full_match(text),
        }
    }

    fn describe(&self) -> String {
        match self {
            TextMatch::Exact(e) => format!("{e:?}"),
            TextMatch::Regex(r) => format!("/{}/", r.as_str()),
        }
    }
}

impl KeylessMatcher {
    /// True when a certificate naming `id` is accepted.
    pub fn matches(&self, id: &KeylessIdentity) -> bool {
        self.subject.matches(&id.subject) && self.issuer.matches(&id.issuer)
    }

    /// `identity "…" from issuer "…"`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "identity {} from issuer {}",
            self.subject.describe(),
            self.issuer.describe()
        )
    }
}

/// One layer of a `.sig` manifest, fetched as far as it could be.
#[derive(Debug, Clone)]
pub struct FetchedLayer {
    /// The layer's descriptor.
    pub descriptor: oci::Descriptor,
    /// The payload bytes, or why they could not be had.
    pub payload: Result<Vec<u8>, String>,
}

/// Where signature layers may come from besides the registry.
#[derive(Clone, Copy, Default)]
pub struct CacheUse<'a> {
    /// The verification cache, if in use.
    pub cache: Option<&'a Cache>,
    /// `registry/repo@digest` (registry images only; layouts are local already).
    pub subject: Option<&'a str>,
}

/// Fetches the `.sig` manifest of `digest` and its simple-signing layers (concurrently).
/// No tag → no layers. Returns the cache entry to update with what verifies.
pub async fn fetch_signature_layers(
    repo: &Repo,
    digest: &Digest,
    limits: &Limits,
    cache_use: CacheUse<'_>,
    likely_references: &[String],
) -> Result<(Vec<FetchedLayer>, Option<Entry>), StoreError> {
    let tag = digest.signature_tag();
    let cached = match (cache_use.cache, cache_use.subject) {
        (Some(cache), Some(subject)) => Some((cache, subject, cache.get(subject))),
        _ => None,
    };
    let (manifest_bytes, media_type, mut entry) = match &cached {
        Some((cache, subject, entry)) if cache.mode() == CacheMode::Offline => {
            let Some(entry) = entry else {
                return Err(StoreError::Offline(format!(
                    "{subject}: not in the verification cache (run once without --offline)"
                )));
            };
            if !entry.has_sig_tag() {
                return Ok((Vec::new(), Some(entry.clone())));
            }
            (entry.sig_manifest().to_vec(), None, Some(entry.clone()))
        }
        _ => {
            let Some(fetched) = repo.get_manifest(Lookup::Tag(&tag), limits).await? else {
                // Remembered too, so that --offline knows the tag is missing, not uncached.
                return Ok((Vec::new(), cached.map(|_| Entry::without_sig_tag())));
            };
            let entry = cached.as_ref().map(|(_, _, entry)| match entry {
                // Same manifest as last time: its payloads and verdicts still apply.
                Some(e) if e.sig_manifest() == fetched.bytes.as_slice() => e.clone(),
                _ => Entry::new(&fetched.bytes).unwrap_or_default(),
            });
            (fetched.bytes, fetched.media_type, entry)
        }
    };
    let what = format!("signature manifest {tag}");
    let manifest =
        oci::parse_manifest(&manifest_bytes, media_type.as_deref(), limits).map_err(|source| {
            StoreError::Manifest {
                what: what.clone(),
                source,
            }
        })?;
    let oci::Manifest::Image(manifest) = manifest else {
        return Err(StoreError::Manifest {
            what,
            source: oci::ManifestError::Malformed(
                "an index where an image manifest was expected".into(),
            ),
        });
    };
    if manifest.layers.len() > limits.max_signature_layers {
        return Err(StoreError::Manifest {
            what,
            source: oci::ManifestError::TooMany {
                what: "signature layers",
                count: manifest.layers.len(),
                limit: limits.max_signature_layers,
            },
        });
    }
    let offline = cached
        .as_ref()
        .is_some_and(|(c, _, _)| c.mode() == CacheMode::Offline);
    let entry_ref = entry.as_ref();
    let fetches = manifest.layers.iter().map(|descriptor| async move {
        // Other attachments are reported by judge_layer; no need to fetch them.
        if descriptor.media_type != SIMPLE_SIGNING {
            return Ok(Err("not fetched".to_string()));
        }
        if descriptor.size > limits.max_signature_layer_bytes as u64 {
            return Ok(Err(format!(
                "layer is {} bytes, more than the {}-byte limit",
                descriptor.size, limits.max_signature_layer_bytes
            )));
        }
        let layer_digest = match descriptor.sha256() {
            Ok(d) => d,
            Err(e) => return Ok(Err(e.to_string())),
        };
        if let Some(bytes) = entry_ref.and_then(|e| e.payload(&descriptor.digest)) {
            return Ok(check_size(bytes, descriptor.size));
        }
        if let Some(bytes) = known_payload(descriptor, &layer_digest, digest, likely_references)
        {
            return Ok(Ok(bytes));
        }
        if offline {
            return Err(StoreError::Offline(format!(
                "payload {layer_digest} is not in the verification cache (run once without --offline)"
            )));
        }
        match repo
            .get_blob(&layer_digest, limits.max_signature_layer_bytes)
            .await
        {
            Ok(bytes) => Ok(check_size(bytes, descriptor.size)),
            Err(e) if e.is_unreachable() => Err(e),
            Err(e) => Ok(Err(e.to_string())),
        }
    });
    // Bounded: a `.sig` manifest listing 1,000 layers must not open 1,000 connections.
    let payloads: Vec<_> = futures_util::stream::iter(fetches)
        .buffered(LAYER_FETCH_CONCURRENCY)
        .collect()
        .await;
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (descriptor, payload) in manifest.layers.into_iter().zip(payloads) {
        let payload = payload?;
        if let (Some(e), Ok(bytes)) = (entry.as_mut(), &payload) {
            e.add_payload(&descriptor.digest, bytes);
        }
        layers.push(FetchedLayer {
            descriptor,
            payload,
        });
    }
    Ok((layers, entry))
}

fn check_size(bytes: Vec<u8>, size: u64) -> Result<Vec<u8>, String> {
    if bytes.len() as u64 == size {
        Ok(bytes)
    } else {
        Err(format!(
            "payload is {} bytes but the manifest says {size}",
            bytes.len()
        ))
    }
}

/// Stores what was fetched and verified, unless the cache is read-only for this run.
pub fn remember(cache_use: CacheUse<'_>, entry: Option<Entry>) {
    if let (Some(cache), Some(subject), Some(entry)) = (cache_use.cache, cache_use.subject, entry)
        && cache.mode() != CacheMode::Offline
    {
        cache.put(subject, &entry);
    }
}

/// How signatures (`.sig` layers and bundles) are judged before any policy.
#[derive(Debug, Clone, Copy)]
pub struct SignatureJudge<'a> {
    /// Keys whose signatures count (key-signed bundles without a log entry or timestamp
    /// included: the key is trusted directly, as for a `.sig` layer).
    pub keys: &'a [TrustedKey],
    /// The trusted root: Fulcio CAs for certificates, Rekor and TSA keys for the times.
    /// `None` only if the built-in root failed to load (then nothing keyless verifies).
    pub root: Option<&'a TrustedRoot>,
    /// Verify certificate-signed (keyless) signatures and report their identity, for the
    /// caller to judge (a policy's keyless signers, or `--certificate-identity`).
    pub keyless: bool,
    /// Also accept keyless signatures that have no transparency-log entry, checking their
    /// certificate at an RFC 3161 time or, with none, at this instant. They are marked
    /// [`VerifiedSig::unlogged`]; only a caller that opted in counts them.
    pub unlogged_at: Option<UnixTime>,
}

impl SignatureJudge<'_> {
    /// Key signatures only.
    pub fn keys(keys: &[TrustedKey]) -> SignatureJudge<'_> {
        SignatureJudge {
            keys,
            root: None,
            keyless: false,
            unlogged_at: None,
        }
    }
}

/// A signature that verified, with what it claims.
#[derive(Debug, Clone, Default)]
pub struct VerifiedSig {
    /// The key it verified under, for a key signature.
    pub key_id: Option<String>,
    /// The certificate identity, for a keyless signature.
    pub identity: Option<KeylessIdentity>,
    /// The repository it names: a payload's docker-reference, a statement subject's name.
    pub name: Option<String>,
    /// Its signed annotations (string values).
    pub annotations: BTreeMap<String, String>,
    /// Keyless, with no transparency-log entry (accepted only under `unlogged_at`).
    pub unlogged: bool,
    /// The verified transparency-log entry's index, for a keyless signature.
    pub log_index: Option<i64>,
    /// The earliest time its log entry or timestamps prove.
    pub signed_at: Option<UnixTime>,
}

impl VerifiedSig {
    /// What the `--key` requirement judges: the key, or the certificate identity.
    pub fn requirement_signature(&self) -> VerifiedSignature {
        let signer = match (&self.key_id, &self.identity) {
            (Some(k), _) => k.clone(),
            (None, Some(id)) => format!("{} ({})", id.subject, id.issuer),
            (None, None) => String::new(),
        };
        VerifiedSignature {
            key_id: signer,
            annotations: self.annotations.clone(),
        }
    }
}

/// Notes what a keyless verification proved on the report and the verified signature.
fn keyless_outcome(
    report: &mut SignatureReport,
    v: &VerifiedBundle,
    unlogged: bool,
) -> VerifiedSig {
    let identity = v.identity.as_ref().map(|i| KeylessIdentity {
        issuer: i.issuer.clone(),
        subject: i.subject.clone(),
    });
    report.identity = identity.clone();
    report.log_index = v.log_entries.first().map(|e| e.log_index);
    report.signed_at = v.signing_time.map(|t| t.to_string());
    VerifiedSig {
        identity,
        unlogged,
        log_index: report.log_index,
        signed_at: v.signing_time,
        ..VerifiedSig::default()
    }
}

/// Why a keyless signature without a log entry was refused.
const UNLOGGED_REFUSED: &str = "keyless signature with no transparency-log entry: nothing public records it (a policy signer with `transparency_log: optional`, or --insecure-ignore-tlog, accepts it)";

/// Checks one layer: its signature under a trusted key or, for a keyless layer (a Fulcio
/// certificate in its annotations) when `judge.keyless`, its certificate, log entry and
/// timestamps; then the payload's claims: its digest always, its repository when `identity`
/// is given (a policy judges identity itself).
pub fn judge_layer(
    index: usize,
    layer: &FetchedLayer,
    image_digest: &Digest,
    identity: Option<&str>,
    judge: &SignatureJudge<'_>,
    memo: Option<&mut Entry>,
) -> (SignatureReport, Option<VerifiedSig>) {
    let mut report = SignatureReport::pending(index, &layer.descriptor.digest, None);
    let reject = |mut report: SignatureReport, reason: String| {
        report.reason = Some(reason);
        (report, None)
    };
    if layer.descriptor.media_type != SIMPLE_SIGNING {
        let reason = format!(
            "not a simple-signing layer (media type {:?})",
            layer.descriptor.media_type
        );
        return reject(report, reason);
    }
    let payload_bytes = match &layer.payload {
        Ok(bytes) => bytes,
        Err(reason) => return reject(report, reason.clone()),
    };
    let no_annotations = BTreeMap::new();
    let annotations = layer
        .descriptor
        .annotations
        .as_ref()
        .unwrap_or(&no_annotations);
    let Some(sig_b64) = annotations.get(SIGNATURE_ANNOTATION) else {
        return reject(report, format!("no {SIGNATURE_ANNOTATION} annotation"));
    };
    // Line breaks are skipped, as Go's decoder (cosign's, skopeo's) does: some signers wrap.
    let unwrapped: String = sig_b64
        .trim()
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    let signature = match base64::engine::general_purpose::STANDARD.decode(&unwrapped) {
        Ok(s) => s,
        Err(e) => return reject(report, format!("signature is not valid base64: {e}")),
    };
    let layer_digest = layer.descriptor.digest.as_str();
    let keys = judge.keys;
    let remembered = memo.as_deref().and_then(|m| {
        keys.iter()
            .find(|k| m.verified(layer_digest, sig_b64, &k.key_id))
    });
    let found = remembered.or_else(|| {
        keys.iter()
            .find(|k| k.key.verify(payload_bytes, &signature).is_ok())
    });
    if let (Some(k), Some(m)) = (found, memo) {
        m.mark_verified(layer_digest, sig_b64, &k.key_id);
    }
    let mut verified = match (found, SigLayer::from_annotations(annotations)) {
        (Some(key), _) => {
            report.key_id = Some(key.key_id.clone());
            report.key_source = Some(key.source.clone());
            VerifiedSig {
                key_id: Some(key.key_id.clone()),
                ..VerifiedSig::default()
            }
        }
        (None, Some(material)) => {
            if !judge.keyless {
                return reject(
                    report,
                    "signed with a certificate (keyless), not a key: verify it with --certificate-identity and --certificate-oidc-issuer, or a policy with a keyless signer".into(),
                );
            }
            let Some(root) = judge.root else {
                return reject(
                    report,
                    "the built-in trusted root could not be loaded".into(),
                );
            };
            let any = IdentityPolicy::AnyCertificate;
            let strict = VerifyOptions::default();
            match verify_sig_layer(&material, &signature, payload_bytes, &any, root, &strict) {
                Ok(v) => keyless_outcome(&mut report, &v, false),
                Err(BundleError::NoLogEntry) => {
                    let Some(at) = judge.unlogged_at else {
                        return reject(report, UNLOGGED_REFUSED.into());
                    };
                    let relaxed = VerifyOptions {
                        unlogged_certificates_at: Some(at),
                        ..VerifyOptions::default()
                    };
                    match verify_sig_layer(
                        &material,
                        &signature,
                        payload_bytes,
                        &any,
                        root,
                        &relaxed,
                    ) {
                        Ok(v) => keyless_outcome(&mut report, &v, true),
                        Err(e) => {
                            return reject(report, format!("keyless signature refused: {e}"));
                        }
                    }
                }
                Err(e) => return reject(report, format!("keyless signature refused: {e}")),
            }
        }
        (None, None) => {
            let reason = not_verified_by("signature", "the payload was altered", keys);
            return reject(report, reason);
        }
    };
    let payload = match payload::parse(payload_bytes) {
        Ok(p) => p,
        Err(e) => return reject(report, format!("signed payload refused: {e}")),
    };
    report.docker_reference = Some(payload.docker_reference.clone());
    report.annotations = payload.optional.clone();
    if &payload.digest != image_digest {
        let reason = format!(
            "payload signs {}, not this image's {image_digest}: a signature of another image",
            payload.digest
        );
        return reject(report, reason);
    }
    if let Some(identity) = identity
        && !identity_matches(&payload.docker_reference, identity)
    {
        let reason = format!(
            "payload names repository {:?}, not {identity:?}: signed for another repository",
            payload.docker_reference
        );
        return reject(report, reason);
    }
    report.verdict = "verified";
    verified.name = Some(payload.docker_reference.clone());
    verified.annotations = string_annotations(&payload);
    (report, Some(verified))
}

/// Checks one bundle: it verifies (signature, times, certificate) for a trusted key or, with
/// `judge.keyless`, any certificate of the trusted root; it is an image signature (a DSSE
/// in-toto statement with predicate type `https://sigstore.dev/cosign/sign/v1`) whose subject
/// is this image's digest; its subject names `identity`'s repository when that is given.
pub fn judge_bundle(
    index: usize,
    fetched: &FetchedBundle,
    image_digest: &Digest,
    identity: Option<&str>,
    judge: &SignatureJudge<'_>,
) -> (SignatureReport, Option<VerifiedSig>) {
    let mut report = SignatureReport::pending(index, &fetched.source, Some("bundle"));
    let reject = |mut report: SignatureReport, reason: String| {
        report.reason = Some(reason);
        (report, None)
    };
    let bytes = match &fetched.bundle {
        Ok(b) => b,
        Err(reason) => return reject(report, reason.clone()),
    };
    let Some(root) = judge.root else {
        return reject(
            report,
            "the built-in trusted root could not be loaded".into(),
        );
    };
    let artifact = Artifact::Digest {
        algorithm: HashAlgorithm::Sha256,
        digest: hex::decode(image_digest.hex()).unwrap_or_default(),
    };
    let options = VerifyOptions {
        allow_untimed_key_signatures: true,
        ..VerifyOptions::default()
    };
    let mut certificate = false;
    let mut verified = None;
    let mut errors: Vec<BundleError> = Vec::new();
    if judge.keyless {
        match verify_bundle_with(
            bytes,
            &artifact,
            &IdentityPolicy::AnyCertificate,
            root,
            &options,
        ) {
            Ok(v) => {
                certificate = true;
                verified = Some((v, None));
            }
            Err(BundleError::Policy(PolicyMismatch::KeyInsteadOfCertificate)) => {}
            Err(e) => {
                return reject(report, format!("keyless bundle refused: {e}"));
            }
        }
    }
    if verified.is_none() {
        for key in judge.keys {
            let policy = IdentityPolicy::Key(key.key.clone());
            match verify_bundle_with(bytes, &artifact, &policy, root, &options) {
                Ok(v) => {
                    verified = Some((v, Some(key)));
                    break;
                }
                Err(BundleError::Policy(PolicyMismatch::CertificateInsteadOfKey)) => {
                    certificate = true;
                    break;
                }
                Err(e) => errors.push(e),
            }
        }
    }
    let Some((v, key)) = verified else {
        let reason = if certificate {
            "signed with a certificate (keyless), not a key: verify it with --certificate-identity and --certificate-oidc-issuer, or a policy with a keyless signer".to_string()
        } else if let Some(e) = errors
            .iter()
            .find(|e| !matches!(e, BundleError::Signature { .. }))
        {
            format!("bundle refused: {e}")
        } else {
            match judge.keys {
                [] => "a key-signed bundle, and no key to verify it with".to_string(),
                keys => not_verified_by("bundle signature", "altered", keys),
            }
        };
        return reject(report, reason);
    };
    let mut verified = if certificate {
        keyless_outcome(&mut report, &v, false)
    } else {
        VerifiedSig::default()
    };
    if let Some(key) = key {
        report.key_id = Some(key.key_id.clone());
        report.key_source = Some(key.source.clone());
        verified.key_id = Some(key.key_id.clone());
    }
    let Some(statement) = &v.statement else {
        return reject(
            report,
            "a message signature, not a cosign image signature (a DSSE in-toto statement)".into(),
        );
    };
    if statement.predicate_type != SIGN_PREDICATE_TYPE {
        let reason = format!(
            "an attestation (predicate type {:?}), not an image signature ({SIGN_PREDICATE_TYPE})",
            statement.predicate_type
        );
        return reject(report, reason);
    }
    let Some(subject) = statement
        .subject
        .iter()
        .find(|s| s.digest.get("sha256").map(String::as_str) == Some(image_digest.hex()))
    else {
        return reject(
            report,
            format!("the statement names no sha256 subject {image_digest}"),
        );
    };
    let name = (!subject.name.is_empty()).then(|| subject.name.clone());
    report.docker_reference = name.clone();
    report.annotations = subject
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(identity) = identity {
        match &name {
            None => {
                let reason = format!(
                    "the statement names no repository (a cosign v3 signature), so it cannot show it is for {identity:?}; a policy rule with `identity: any` can accept it"
                );
                return reject(report, reason);
            }
            Some(n) if !identity_matches(n, identity) => {
                let reason = format!(
                    "the statement names repository {n:?}, not {identity:?}: signed for another repository"
                );
                return reject(report, reason);
            }
            Some(_) => {}
        }
    }
    report.verdict = "verified";
    verified.name = name;
    verified.annotations = subject
        .annotations
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    (report, Some(verified))
}

fn string_annotations(payload: &Payload) -> BTreeMap<String, String> {
    payload
        .optional
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect()
}

/// Whether a payload's docker-reference names `expected`'s repository. A tag or digest in
/// the payload is ignored, as skopeo's `matchRepository` does.
pub fn identity_matches(docker_reference: &str, expected: &str) -> bool {
    if docker_reference == expected {
        return true;
    }
    match (
        reference::parse(docker_reference),
        reference::parse(expected),
    ) {
        (Ok(ImageRef::Registry(a)), Ok(ImageRef::Registry(b))) => {
            a.registry == b.registry && a.repository == b.repository
        }
        _ => false,
    }
}

/// Why a signature verified under none of `keys`, naming the key when there is one.
fn not_verified_by(what: &str, tampered: &str, keys: &[TrustedKey]) -> String {
    match keys {
        [only] => format!(
            "{what} does not verify under key {} ({}): signed by another key, or {tampered}",
            short_id(&only.key_id),
            only.source
        ),
        _ => format!(
            "{what} does not verify under any of the {} given keys: signed by another key, or {tampered}",
            keys.len()
        ),
    }
}

/// The first 12 hex characters of a key id, for human output.
pub fn short_id(key_id: &str) -> &str {
    key_id.get(..12).unwrap_or(key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_matching() {
        assert!(identity_matches("127.0.0.1:5000/app", "127.0.0.1:5000/app"));
        assert!(identity_matches(
            "127.0.0.1:5000/app:v1",
            "127.0.0.1:5000/app"
        ));
        assert!(identity_matches("alpine", "docker.io/library/alpine"));
        assert!(!identity_matches(
            "127.0.0.1:5000/other",
            "127.0.0.1:5000/app"
        ));
        assert!(!identity_matches(
            "127.0.0.1:5001/app",
            "127.0.0.1:5000/app"
        ));
        assert!(!identity_matches("", "127.0.0.1:5000/app"));
    }

    fn layer_for(bytes: &[u8]) -> (oci::Descriptor, Digest) {
        let digest = Digest::of(bytes);
        let descriptor = oci::Descriptor {
            media_type: SIMPLE_SIGNING.to_string(),
            digest: digest.to_string(),
            size: bytes.len() as u64,
            annotations: None,
            platform: None,
        };
        (descriptor, digest)
    }

    #[test]
    fn known_payload_only_when_the_layer_digest_proves_it() {
        let image = Digest::of(b"image");
        let likely = vec!["127.0.0.1:5000/app".to_string()];
        let plain = payload::build(&likely[0], &image, &BTreeMap::new());
        let (descriptor, digest) = layer_for(&plain);
        assert_eq!(
            known_payload(&descriptor, &digest, &image, &likely),
            Some(plain)
        );
        // Annotated, another repository, another image: not computable, so fetched.
        let annotated = payload::build(
            &likely[0],
            &image,
            &BTreeMap::from([("env".to_string(), "prod".to_string())]),
        );
        let other_repo = payload::build("127.0.0.1:5000/other", &image, &BTreeMap::new());
        let other_image = payload::build(&likely[0], &Digest::of(b"other"), &BTreeMap::new());
        for bytes in [annotated, other_repo, other_image] {
            let (descriptor, digest) = layer_for(&bytes);
            assert_eq!(known_payload(&descriptor, &digest, &image, &likely), None);
        }
        // A descriptor whose size disagrees is never satisfied from a guess.
        let (mut descriptor, digest) =
            layer_for(&payload::build(&likely[0], &image, &BTreeMap::new()));
        descriptor.size += 1;
        assert_eq!(known_payload(&descriptor, &digest, &image, &likely), None);
    }

    #[test]
    fn likely_references_cover_cosign_spellings_and_the_identity() {
        let hub = reference::parse("alpine").expect("parse");
        assert_eq!(
            likely_payload_references(&hub, None),
            ["docker.io/library/alpine", "index.docker.io/library/alpine"]
        );
        let local = reference::parse("127.0.0.1:5000/app:v1").expect("parse");
        assert_eq!(
            likely_payload_references(&local, Some("registry.example.com/app")),
            ["127.0.0.1:5000/app", "registry.example.com/app"]
        );
        assert_eq!(
            likely_payload_references(&local, Some("127.0.0.1:5000/app")),
            ["127.0.0.1:5000/app"]
        );
    }
}
