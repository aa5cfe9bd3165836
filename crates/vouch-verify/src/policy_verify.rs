//! `vouch verify --policy`: load a trust policy (reading its key files), verify each
//! signature layer against every key the policy names, and let the engine decide.

use std::cell::RefCell;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use vouch_policy::{
    AttestationFact, DenyCause, Evaluation, ImageFacts, KeySource, Outcome, Policy, SignatureFact,
    Timestamp,
};

use crate::attestations::{fetch_attestations, verify_attestations};
use crate::fetch::{
    BundleSource, CacheUse, cache_subject, deferred_bundles, fetch_signatures,
    likely_payload_references, remember, resolve_for_verify,
};
use crate::judge::{
    SignatureJudge, TrustedKey, VerifiedSig, att_layer_attestation, bundle_attestation,
    judge_bundle, judge_layer,
};
use crate::report::SignatureReport;
use vouch_keys::{self as keys, PublicKey};
use vouch_oci::oci::{self, Platform};
use vouch_oci::reference::{self, Digest, ImageRef};
use vouch_registry::cache::{Cache, CacheMode, Entry};
use vouch_registry::referrers::FetchedBundle;
use vouch_registry::{Repo, StoreError, Stores};
use vouch_sigstore::{TrustedRoot, UnixTime};

/// A validated policy and the keys its signers name.
pub struct LoadedPolicy {
    /// The policy.
    pub policy: Policy,
    /// Every key the policy names, parsed.
    pub keys: Vec<TrustedKey>,
    /// The policy's `trusted_root`, or the built-in Sigstore production root; `None` only
    /// when the built-in one failed to load.
    pub trusted_root: Option<TrustedRoot>,
    /// True when the policy names its own `trusted_root` (the caller may replace the
    /// built-in default with a newer verified one, never a root the policy named).
    pub trusted_root_named: bool,
    /// Rendered warnings (empty when none).
    pub warnings: String,
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    /// The file could not be read.
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        /// `policy` or `cases`.
        what: String,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The policy has errors; `rendered` shows each with file:line:col.
    #[error("{rendered}")]
    Invalid {
        /// The rendered diagnostics.
        rendered: String,
        /// How many errors.
        errors: usize,
        /// The diagnostics themselves, errors first (for `policy check --output json`).
        diagnostics: Vec<vouch_policy::Diagnostic>,
    },
}

/// Reads a text input (policy or cases file) with a size bound and clear errors.
pub fn read_text(path: &Path, what: &str) -> Result<String, PolicyLoadError> {
    let err = |reason: String| PolicyLoadError::Read {
        what: what.to_string(),
        path: path.display().to_string(),
        reason,
    };
    if path.is_dir() {
        return Err(err(format!("is a directory, not a {what} file")));
    }
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let limit = vouch_policy::MAX_SOURCE_BYTES as u64;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(err(format!("larger than {limit} bytes")));
    }
    String::from_utf8(bytes).map_err(|e| {
        err(format!(
            "not UTF-8 text (invalid byte at offset {}): is this a {what} file?",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// A policy file's text, read as [`load_policy`] reads it (bounded, UTF-8).
pub fn read_policy_text(path: &Path) -> Result<String, PolicyLoadError> {
    read_text(path, "policy")
}

/// Loads and validates a policy file; key paths are relative to the policy's directory.
pub fn load_policy(path: &Path) -> Result<LoadedPolicy, PolicyLoadError> {
    let source = read_text(path, "policy")?;
    load_policy_text(path, source)
}

/// [`load_policy`] of text already read from `path` (whose signature was checked on exactly
/// these bytes, so the file is not read a second time); key files resolve next to `path`.
pub fn load_policy_text(path: &Path, source: String) -> Result<LoadedPolicy, PolicyLoadError> {
    let name = path.display().to_string();
    let invalid = |diags: vouch_policy::Diagnostics| {
        // Errors before warnings, so the first line printed names what stops the policy.
        let (mut ordered, warnings): (Vec<_>, Vec<_>) =
            diags.0.into_iter().partition(|d| d.is_error());
        let errors = ordered.len();
        ordered.extend(warnings);
        PolicyLoadError::Invalid {
            errors,
            rendered: vouch_policy::render(&ordered, &source, &name),
            diagnostics: ordered,
        }
    };
    let raw = vouch_policy::parse(&source, &name).map_err(invalid)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let keys: RefCell<Vec<TrustedKey>> = RefCell::new(Vec::new());
    let resolve = |source: &KeySource| -> Result<String, String> {
        let (key, origin) = if source.inline {
            let key = PublicKey::from_pem(&source.text).map_err(|e| e.to_string())?;
            (key, format!("inline key of {}", source.signer))
        } else {
            let file = base.join(&source.text);
            let key = keys::load_public_key(&file).map_err(|e| e.to_string())?;
            (key, source.text.clone())
        };
        let key_id = key.key_id();
        let mut keys = keys.borrow_mut();
        if !keys.iter().any(|k| k.key_id == key_id) {
            keys.push(TrustedKey {
                key,
                key_id: key_id.clone(),
                source: origin,
            });
        }
        Ok(key_id)
    };
    let root: RefCell<Option<TrustedRoot>> = RefCell::new(None);
    let resolve_root = |text: &str| -> Result<(), String> {
        let file = base.join(text);
        let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {text}: {e}"))?;
        let parsed = TrustedRoot::from_json(&bytes).map_err(|e| format!("{text}: {e}"))?;
        *root.borrow_mut() = Some(parsed);
        Ok(())
    };
    let policy = vouch_policy::validate_with_root(raw, &resolve, &resolve_root).map_err(invalid)?;
    let named = root.into_inner();
    let trusted_root_named = named.is_some();
    let trusted_root = named.or_else(|| vouch_sigstore::production_root().cloned());
    let warnings = if policy.warnings().is_empty() {
        String::new()
    } else {
        vouch_policy::render(policy.warnings(), &source, &name)
    };
    Ok(LoadedPolicy {
        policy,
        keys: keys.into_inner(),
        trusted_root,
        trusted_root_named,
        warnings,
    })
}

/// `--platform os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSelector {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl std::str::FromStr for PlatformSelector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(PlatformSelector {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(PlatformSelector {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(format!(
                "{s:?} is not os/arch[/variant], e.g. linux/arm64/v8"
            )),
        }
    }
}

impl PlatformSelector {
    fn matches(&self, p: &Platform) -> bool {
        p.os == self.os
            && p.architecture == self.architecture
            && (self.variant.is_none() || self.variant == p.variant)
    }
}

/// How images are judged.
pub struct PolicyRun<'a> {
    /// The policy and its keys.
    pub loaded: &'a LoadedPolicy,
    /// The instant signer validity is judged at.
    pub at: Timestamp,
    /// Judge this index child instead of the index.
    pub platform: Option<&'a PlatformSelector>,
    /// Judge every child of an index (each must pass).
    pub all_platforms: bool,
    /// The repository to judge as, instead of the image's own (e.g. for `oci:` layouts).
    pub identity: Option<&'a str>,
    /// The verification cache, if in use.
    pub cache: Option<&'a Cache>,
    /// Where Sigstore bundles come from.
    pub bundles: BundleSource<'a>,
}

impl PolicyRun<'_> {
    /// How signatures are judged for the policy: its keys; keyless certificates when it has
    /// keyless signers; unlogged ones (checked at the time judged) when a signer accepts them.
    fn judge(&self) -> SignatureJudge<'_> {
        let policy = &self.loaded.policy;
        SignatureJudge {
            keys: &self.loaded.keys,
            root: self.loaded.trusted_root.as_ref(),
            keyless: policy.has_keyless(),
            unlogged_at: policy
                .accepts_unlogged()
                .then(|| UnixTime::from_secs(self.at.unix())),
        }
    }
}

/// One judged manifest: the engine's evaluation plus the layers refused before it.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    /// The platform, for index children.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `repo@digest` judged.
    pub pinned: String,
    /// The engine's evaluation.
    pub evaluation: Evaluation,
    /// Signature layers that failed before the policy (bad signature, other image, …).
    pub rejected_signatures: Vec<SignatureReport>,
}

/// The outcome for one image reference.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyImageReport {
    /// The reference as given.
    pub reference: String,
    /// The digest the reference resolved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// `allow`, `warn`, `deny` or `error`.
    pub decision: &'static str,
    /// The engine's outcome (`allow`, `allow-pinned`, `allow-always`, `allow-default`, `warn`, `deny`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Why it could not be judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What was judged: the image itself, or its platform children.
    pub judged: Vec<Judged>,
    /// True when the registry or layout could not be read (exit code 3).
    #[serde(skip)]
    pub unreachable: bool,
}

impl PolicyImageReport {
    fn error(image: &ImageRef, digest: Option<Digest>, e: &StoreError) -> PolicyImageReport {
        PolicyImageReport {
            reference: image.to_string(),
            digest,
            decision: if e.is_unreachable() { "error" } else { "deny" },
            outcome: None,
            error: Some(e.to_string()),
            judged: Vec::new(),
            unreachable: e.is_unreachable(),
        }
    }

    fn usage(image: &ImageRef, digest: Option<Digest>, message: String) -> PolicyImageReport {
        PolicyImageReport {
            reference: image.to_string(),
            digest,
            decision: "deny",
            outcome: None,
            error: Some(message),
            judged: Vec::new(),
            unreachable: false,
        }
    }
}

fn decision_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Warn => "warn",
        o if o.passes() => "allow",
        _ => "deny",
    }
}

/// The repository an image is judged as.
fn judged_repository(image: &ImageRef, identity: Option<&str>) -> String {
    match identity {
        Some(i) => match reference::parse(i) {
            Ok(ImageRef::Registry(r)) => r.repository_name(),
            _ => i.to_string(),
        },
        None => image.default_identity(),
    }
}

/// What is known of one manifest's signatures: the facts the engine judges, and the
/// signatures refused before it.
struct Gathered {
    facts: ImageFacts,
    rejected: Vec<SignatureReport>,
    /// Signatures judged so far (layers, then bundles), for numbering the next.
    judged: usize,
    /// What to store in the verification cache, once all is judged.
    entry: Option<Entry>,
    /// The cache's name for the image.
    subject: Option<String>,
}

impl Gathered {
    fn remember(self, run: &PolicyRun<'_>) -> Vec<SignatureReport> {
        let cache_use = CacheUse {
            cache: run.cache,
            subject: self.subject.as_deref(),
        };
        remember(cache_use, self.entry);
        self.rejected
    }
}

/// Verifies the `.sig` layers and bundles of `digest` against the policy's keys (and, for
/// keyless signers, its trusted root) and builds the facts.
async fn facts_for(
    repo: &Repo,
    stores: &Stores,
    image: &ImageRef,
    repository: &str,
    tag: Option<&str>,
    digest: &Digest,
    run: &PolicyRun<'_>,
) -> Result<Gathered, StoreError> {
    let subject = cache_subject(image, digest);
    let cache_use = CacheUse {
        cache: run.cache,
        subject: subject.as_deref(),
    };
    let likely = likely_payload_references(image, run.identity);
    let (layers, mut entry, bundles) = fetch_signatures(
        repo,
        image,
        digest,
        stores.limits(),
        cache_use,
        run.bundles,
        &likely,
    )
    .await?;
    let judge = run.judge();
    let mut signatures = Vec::new();
    let mut rejected = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        match judge_layer(i + 1, layer, digest, None, &judge, entry.as_mut()) {
            (_, Some(v)) => signatures.push(fact(i + 1, v)),
            (report, None) => rejected.push(report),
        }
    }
    let mut gathered = Gathered {
        facts: ImageFacts {
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.to_string(),
            signatures,
            attestations: Vec::new(),
        },
        rejected,
        judged: layers.len(),
        entry,
        subject: subject.clone(),
    };
    add_bundle_facts(&mut gathered, &bundles, digest, run);
    if run.loaded.policy.needs_attestations(repository) {
        let read = matches!(run.bundles, BundleSource::Referrers).then_some(bundles.as_slice());
        gathered.facts.attestations =
            attestation_facts(repo, image, digest, stores.limits(), run, read).await?;
    }
    Ok(gathered)
}

/// The image's attestations that verify under the policy's keys (and, for keyless signers,
/// its trusted root), for a rule that requires attestations: `.att` layers (key-signed, or
/// keyless with cosign 2.x's certificate annotations) and Sigstore bundles (its referrers, or the `--bundle` files, which are then all that is read). Not
/// cached: `--offline` cannot judge them.
async fn attestation_facts(
    repo: &Repo,
    image: &ImageRef,
    digest: &Digest,
    limits: &oci::Limits,
    run: &PolicyRun<'_>,
    referrers_read: Option<&[FetchedBundle]>,
) -> Result<Vec<AttestationFact>, StoreError> {
    let mut facts = Vec::new();
    let bundles: Vec<FetchedBundle> = match run.bundles {
        BundleSource::Files(files) => files.to_vec(),
        _ if run.cache.is_some_and(|c| c.mode() == CacheMode::Offline) => {
            return Err(StoreError::Offline(format!(
                "{image}: its rule requires attestations, which the verification cache does not hold; verify without --offline"
            )));
        }
        _ => {
            let fetched = fetch_attestations(repo, image, digest, limits).await?;
            let judge = run.judge();
            for f in &fetched {
                let (Some(annotations), Ok(envelope)) =
                    (f.descriptor.annotations.as_ref(), f.envelope.as_ref())
                else {
                    continue;
                };
                if let Ok(Some(a)) = att_layer_attestation(annotations, envelope, digest, &judge) {
                    facts.push(AttestationFact {
                        statement: a.statement,
                        key_id: String::new(),
                        keyless: a.identity,
                        signed_at: a.signed_at.map(Timestamp::from_unix),
                        source: f.source.clone(),
                    });
                }
            }
            let (verified, _) = verify_attestations(&fetched, digest, &run.loaded.keys);
            for v in verified {
                for key_id in &v.signers {
                    facts.push(AttestationFact {
                        statement: v.statement.clone(),
                        key_id: key_id.clone(),
                        keyless: None,
                        signed_at: None,
                        source: v.source.clone(),
                    });
                }
            }
            match referrers_read {
                Some(read) => read.to_vec(),
                None => {
                    let fetching = vouch_registry::referrers::fetch_bundles(repo, digest, limits);
                    match tokio::time::timeout(crate::fetch::SIGNATURES_DEADLINE, fetching).await {
                        Ok(r) => r?,
                        Err(_) => {
                            return Err(StoreError::Registry {
                                registry: image.repository_display(),
                                request: format!("fetch the referrers of {digest}"),
                                reason: "too slow; treated as unavailable".into(),
                            });
                        }
                    }
                }
            }
        }
    };
    let judge = run.judge();
    for (i, bundle) in bundles.iter().enumerate() {
        if let Ok(Some(a)) = bundle_attestation(bundle, digest, &judge) {
            facts.push(AttestationFact {
                statement: a.statement,
                key_id: a.key_id.unwrap_or_default(),
                keyless: a.identity,
                signed_at: a.signed_at.map(Timestamp::from_unix),
                source: format!("bundle {} ({})", i + 1, bundle.source),
            });
        }
    }
    Ok(facts)
}

/// Judges `bundles` and adds those that verify to the facts.
fn add_bundle_facts(
    gathered: &mut Gathered,
    bundles: &[FetchedBundle],
    digest: &Digest,
    run: &PolicyRun<'_>,
) {
    let judge = run.judge();
    for bundle in bundles {
        gathered.judged += 1;
        let index = gathered.judged;
        match judge_bundle(index, bundle, digest, None, &judge) {
            (_, Some(v)) => gathered.facts.signatures.push(fact(index, v)),
            (report, None) => gathered.rejected.push(report),
        }
    }
}

/// What the engine is told of a signature that verified.
fn fact(index: usize, v: VerifiedSig) -> SignatureFact {
    let (payload_repository, payload_tag) = match v.name.as_deref().map(reference::parse) {
        Some(Ok(ImageRef::Registry(r))) => (Some(r.repository_name()), r.tag.clone()),
        Some(_) => (v.name.clone(), None),
        None => (None, None),
    };
    SignatureFact {
        key_id: v.key_id.unwrap_or_default(),
        keyless: v.identity,
        payload_repository,
        payload_tag,
        annotations: v.annotations,
        index,
        unlogged: v.unlogged,
        log_index: v.log_index,
        signed_at: v.signed_at.map(|t| Timestamp::from_unix(t.secs())),
    }
}

/// Judges one image reference under the policy.
pub async fn verify_with_policy(
    stores: &Stores,
    image: &ImageRef,
    run: &PolicyRun<'_>,
) -> PolicyImageReport {
    let limits = stores.limits();
    let repo = stores.repo(image);
    let need_manifest = run.platform.is_some() || run.all_platforms;
    let resolved = match resolve_for_verify(&repo, image, need_manifest, limits, run.cache).await {
        Ok(r) => r,
        Err(e) => return PolicyImageReport::error(image, None, &e),
    };
    let digest = resolved.digest.clone();
    let repository = judged_repository(image, run.identity);
    let judge = |d: Digest, tag: Option<String>, index_allows: bool| {
        let repo = &repo;
        let repository = repository.clone();
        async move {
            let mut gathered =
                facts_for(repo, stores, image, &repository, tag.as_deref(), &d, run).await?;
            let mut evaluation = run.loaded.policy.evaluate(&gathered.facts, run.at);
            // Bundles can only add signers, so they are read only when signers are what is
            // missing (not for a revoked or unpinned digest, nor under a passing index).
            let signers_missing = !evaluation.decision.is_allow()
                && evaluation.deny_cause == Some(DenyCause::NotEnoughSigners);
            if signers_missing && !index_allows && run.bundles.deferred() {
                let limits = stores.limits();
                let entry = gathered.entry.as_mut();
                match deferred_bundles(repo, image, &d, limits, run.bundles, entry).await {
                    Ok(bundles) if !bundles.is_empty() => {
                        add_bundle_facts(&mut gathered, &bundles, &d, run);
                        evaluation = run.loaded.policy.evaluate(&gathered.facts, run.at);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        gathered.remember(run);
                        return Err(e);
                    }
                }
            }
            Ok::<_, StoreError>((evaluation, gathered.remember(run), d))
        }
    };
    let (index_eval, index_rejected, _) =
        match judge(digest.clone(), image.tag().map(str::to_string), false).await {
            Ok(j) => j,
            Err(e) => return PolicyImageReport::error(image, Some(digest), &e),
        };
    if !need_manifest {
        let outcome = index_eval.decision;
        return PolicyImageReport {
            reference: image.to_string(),
            digest: Some(digest.clone()),
            decision: decision_word(outcome),
            outcome: Some(outcome),
            error: None,
            judged: vec![Judged {
                platform: None,
                pinned: image.pinned_display(&digest),
                evaluation: index_eval,
                rejected_signatures: index_rejected,
            }],
            unreachable: false,
        };
    }
    let children = match &resolved.manifest {
        Some((_, oci::Manifest::Index(index))) => index.manifests.clone(),
        _ => {
            return PolicyImageReport::usage(
                image,
                Some(digest),
                format!(
                    "{} is a single-platform image, not an index: drop --platform/--all-platforms",
                    image
                ),
            );
        }
    };
    let mut selected = Vec::new();
    for child in &children {
        let Some(platform) = &child.platform else {
            continue;
        };
        if run.all_platforms || run.platform.is_some_and(|p| p.matches(platform)) {
            match child.sha256() {
                Ok(d) => selected.push((platform.to_string(), d)),
                Err(e) => {
                    return PolicyImageReport::usage(
                        image,
                        Some(digest),
                        format!("index child: {e}"),
                    );
                }
            }
        }
    }
    if selected.is_empty() {
        let available: Vec<String> = children
            .iter()
            .filter_map(|c| c.platform.as_ref().map(ToString::to_string))
            .collect();
        return PolicyImageReport::usage(
            image,
            Some(digest),
            format!(
                "no platform of {image} matches; it has {}",
                if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join(", ")
                }
            ),
        );
    }
    let mut judged = Vec::new();
    let mut evaluations = Vec::new();
    for (platform, child_digest) in selected {
        // Children are listed in the index the user named; they pass through it if it passes.
        let index_allows = index_eval.decision.is_allow();
        let (child_eval, rejected, d) = match judge(child_digest, None, index_allows).await {
            Ok(j) => j,
            Err(e) => return PolicyImageReport::error(image, Some(digest), &e),
        };
        let combined = vouch_policy::combine_platform(&child_eval, Some(&index_eval));
        evaluations.push(combined.clone());
        judged.push(Judged {
            platform: Some(platform),
            pinned: image.pinned_display(&d),
            evaluation: combined,
            rejected_signatures: rejected,
        });
    }
    let outcome = vouch_policy::overall(&evaluations).unwrap_or(Outcome::Deny);
    PolicyImageReport {
        reference: image.to_string(),
        digest: Some(digest),
        decision: decision_word(outcome),
        outcome: Some(outcome),
        error: None,
        judged,
        unreachable: false,
    }
}

/// Reads `--at`, or now.
pub fn judgement_time(at: Option<&str>) -> Result<Timestamp, String> {
    match at {
        Some(s) => Timestamp::parse_rfc3339(s).map_err(|e| format!("--at {s:?}: {e}")),
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            Ok(Timestamp::from_unix(now))
        }
    }
}
