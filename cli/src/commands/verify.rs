//! `vouch verify`: judge each image against keys (and keyless identities) or a trust policy,
//! `--jobs` at a time, printing each report in input order.

use std::path::Path;

use anyhow::{Context, anyhow};
use vouch_oci::reference::ImageRef;
use vouch_policy::{KeyRequirement, SubjectRegex};
use vouch_registry::StoreOptions;
use vouch_registry::cache::{Cache, CacheMode};
use vouch_registry::referrers::{FetchedBundle, MAX_BUNDLE_BYTES};
use vouch_sigstore::{TrustedRoot, UnixTime};
use vouch_verify::{
    KeyTrust, KeylessMatcher, PlatformSelector, PolicyTrust, Report, TextMatch, Trust, Verifier,
    judgement_time,
};

use crate::args::{KeylessTrustArgs, OutputFormat, VerifyArgs};
use crate::deploy::{Sourced, Sources};
use crate::exit::{Exit, Failure, OrExit};
use crate::inputs::{
    collect_images, load_policy_or_fail, load_signed_policy_or_fail, load_trusted_keys,
    open_stores, parse_annotations,
};
use crate::progress::Progress;
use crate::render::{print_json, render_report};

/// `vouch verify`.
pub async fn run(args: VerifyArgs, options: StoreOptions) -> Result<Exit, Failure> {
    if let Some(policy) = args.policy.clone() {
        return verify_policy(args, &policy, options).await;
    }
    let requirement = KeyRequirement {
        annotations: parse_annotations(&args.annotations)?,
    };
    let (images, sources) = collect_verify_images(&args)?;
    let bundle_files = load_bundle_files(&args.bundles, &images)?;
    let keys = load_trusted_keys(&args.keys)?;
    let keyless = keyless_matchers(&args.keyless)?;
    let custom_root = args
        .keyless
        .trusted_root
        .as_deref()
        .map(load_trusted_root)
        .transpose()?;
    let root = match custom_root {
        Some(root) => Some(root),
        // Only keyless identities need a trusted root: key-only runs never read the cache.
        None if keyless.is_empty() => vouch_sigstore::production_root().cloned(),
        None => super::trust_root::cached_root(args.tuf_url.as_deref(), args.offline)
            .await?
            .or_else(|| vouch_sigstore::production_root().cloned()),
    };
    let unlogged_at = args.keyless.insecure_ignore_tlog.then(|| {
        let now = judgement_time(None).map(|t| t.unix()).unwrap_or(0);
        UnixTime::from_secs(now)
    });
    let trust = Trust::Keys(KeyTrust {
        keys,
        requirement,
        keyless,
        root,
        unlogged_at,
    });
    let verifier = open_verifier(trust, bundle_files, &args, &options)?;
    let (reports, exit) = verify_batch(&verifier, &images, &args, &sources).await;
    if args.output == OutputFormat::Json {
        print_json(&serde_json::json!({ "images": reports }))?;
    }
    Ok(exit)
}

async fn verify_policy(
    args: VerifyArgs,
    policy_path: &std::path::Path,
    options: StoreOptions,
) -> Result<Exit, Failure> {
    let mut loaded = match (&args.policy_signature, &args.policy_key) {
        (Some(signature), Some(key)) => load_signed_policy_or_fail(policy_path, signature, key)?,
        _ => load_policy_or_fail(policy_path)?,
    };
    if !loaded.trusted_root_named
        && loaded.policy.has_keyless()
        && let Some(root) =
            super::trust_root::cached_root(args.tuf_url.as_deref(), args.offline).await?
    {
        loaded.trusted_root = Some(root);
    }
    let at = judgement_time(args.at.as_deref()).map_err(|e| Failure::usage(anyhow!(e)))?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<PlatformSelector>)
        .transpose()
        .map_err(|e| Failure::usage(anyhow!("--platform {e}")))?;
    let (images, sources) = collect_verify_images(&args)?;
    let bundle_files = load_bundle_files(&args.bundles, &images)?;
    let trust = Trust::Policy(Box::new(PolicyTrust {
        loaded,
        at,
        platform,
        all_platforms: args.all_platforms,
    }));
    let verifier = open_verifier(trust, bundle_files, &args, &options)?;
    let (reports, exit) = verify_batch(&verifier, &images, &args, &sources).await;
    if args.output == OutputFormat::Json {
        print_json(&serde_json::json!({ "at": at, "images": reports }))?;
    }
    Ok(exit)
}

/// The verifier for this run: registry access, the cache `--offline`/`--refresh`/`--no-cache`
/// ask for, `--identity`, `--bundle` files and `--all-signatures`.
fn open_verifier(
    trust: Trust,
    bundle_files: Vec<FetchedBundle>,
    args: &VerifyArgs,
    options: &StoreOptions,
) -> Result<Verifier, Failure> {
    let stores = open_stores(options)?;
    Ok(Verifier::new(stores, trust)
        .identity(args.identity.clone())
        .cache(Cache::open(cache_mode(args)))
        .bundle_files(bundle_files)
        .all_signatures(args.all_signatures))
}

/// The references from the command line, `--from` and `-f`, parsed, with the files'
/// places for each image.
fn collect_verify_images(args: &VerifyArgs) -> Result<(Vec<ImageRef>, Sources), Failure> {
    let stdin = Path::new("-");
    if args.from.as_deref() == Some(stdin) && args.deploy.files.iter().any(|f| f == stdin) {
        return Err(Failure::usage(anyhow!(
            "--from - and -f - both read standard input; give one of them a file"
        )));
    }
    let direct = if args.images.is_empty() && args.from.is_none() {
        Vec::new()
    } else {
        collect_images(&args.images, args.from.as_deref())?
    };
    crate::deploy::verify_images(direct, &args.deploy)
}

/// `verify --bundle FILE…`: the files, read whole (bounded), for one image named without
/// the network.
fn load_bundle_files(
    paths: &[std::path::PathBuf],
    images: &[ImageRef],
) -> Result<Vec<FetchedBundle>, Failure> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    match images {
        [ImageRef::Layout(_)] => {}
        [ImageRef::Registry(r)] if r.digest.is_some() => {}
        [image] => {
            return Err(Failure::usage(anyhow!(
                "--bundle verifies without the network: name {image} by digest (repo@sha256:…) or give an oci: layout"
            )));
        }
        _ => {
            return Err(Failure::usage(anyhow!(
                "--bundle judges one image ({} given)",
                images.len()
            )));
        }
    }
    paths
        .iter()
        .map(|p| {
            use std::io::Read as _;
            let mut bytes = Vec::new();
            std::fs::File::open(p)
                .and_then(|f| f.take(MAX_BUNDLE_BYTES as u64 + 1).read_to_end(&mut bytes))
                .with_context(|| format!("cannot read bundle {}", p.display()))
                .or_usage()?;
            if bytes.len() > MAX_BUNDLE_BYTES {
                return Err(Failure::usage(anyhow!(
                    "bundle {} is larger than {MAX_BUNDLE_BYTES} bytes",
                    p.display()
                )));
            }
            Ok(FetchedBundle {
                source: p.display().to_string(),
                bundle: Ok(bytes),
            })
        })
        .collect()
}

/// The keyless identity of cosign's `--certificate-identity[-regexp]` and
/// `--certificate-oidc-issuer[-regexp]` flags, if given (both halves are needed).
pub(crate) fn keyless_matchers(args: &KeylessTrustArgs) -> Result<Vec<KeylessMatcher>, Failure> {
    let flags = IdentityFlags {
        identity: args.certificate_identity.as_deref(),
        identity_regexp: args.certificate_identity_regexp.as_deref(),
        issuer: args.certificate_oidc_issuer.as_deref(),
        issuer_regexp: args.certificate_oidc_issuer_regexp.as_deref(),
    };
    match keyless_matcher(&flags)? {
        Some(m) => Ok(vec![m]),
        None if args.trusted_root.is_none() && !args.insecure_ignore_tlog => Ok(Vec::new()),
        None => Err(Failure::usage(anyhow!(
            "--trusted-root and --insecure-ignore-tlog are for keyless signatures: also give --certificate-identity (or -regexp) and --certificate-oidc-issuer (or -regexp)"
        ))),
    }
}

/// cosign's four keyless identity flags, as given.
pub(crate) struct IdentityFlags<'a> {
    pub identity: Option<&'a str>,
    pub identity_regexp: Option<&'a str>,
    pub issuer: Option<&'a str>,
    pub issuer_regexp: Option<&'a str>,
}

/// The identity the flags name: `None` when none is given; an error when only one half is.
pub(crate) fn keyless_matcher(
    flags: &IdentityFlags<'_>,
) -> Result<Option<KeylessMatcher>, Failure> {
    let regex = |flag: &str, text: &str| {
        SubjectRegex::new(text)
            .map(TextMatch::Regex)
            .map_err(|e| Failure::usage(anyhow!("{flag} {text:?} does not compile: {e}")))
    };
    let subject = match (flags.identity, flags.identity_regexp) {
        (Some(s), _) => Some(TextMatch::Exact(s.to_string())),
        (None, Some(r)) => Some(regex("--certificate-identity-regexp", r)?),
        (None, None) => None,
    };
    let issuer = match (flags.issuer, flags.issuer_regexp) {
        (Some(s), _) => Some(TextMatch::Exact(s.to_string())),
        (None, Some(r)) => Some(regex("--certificate-oidc-issuer-regexp", r)?),
        (None, None) => None,
    };
    match (subject, issuer) {
        (Some(subject), Some(issuer)) => Ok(Some(KeylessMatcher { subject, issuer })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(Failure::usage(anyhow!(
            "a keyless identity needs its issuer too: add --certificate-oidc-issuer URL (or --certificate-oidc-issuer-regexp)"
        ))),
        (None, Some(_)) => Err(Failure::usage(anyhow!(
            "a keyless issuer needs the identity too: add --certificate-identity IDENTITY (or --certificate-identity-regexp)"
        ))),
    }
}

/// Reads a Sigstore trusted_root.json given on the command line.
pub(crate) fn load_trusted_root(path: &Path) -> Result<TrustedRoot, Failure> {
    use std::io::Read as _;
    const MAX_TRUSTED_ROOT_BYTES: u64 = 4 * 1024 * 1024;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TRUSTED_ROOT_BYTES + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read trusted root {}", path.display()))
        .or_usage()?;
    if bytes.len() as u64 > MAX_TRUSTED_ROOT_BYTES {
        return Err(Failure::usage(anyhow!(
            "trusted root {} is larger than {MAX_TRUSTED_ROOT_BYTES} bytes",
            path.display()
        )));
    }
    TrustedRoot::from_json(&bytes)
        .map_err(|e| Failure::usage(anyhow!("trusted root {}: {e}", path.display())))
}

fn cache_mode(args: &VerifyArgs) -> CacheMode {
    if args.offline {
        CacheMode::Offline
    } else if args.refresh {
        CacheMode::Refresh
    } else if args.no_cache {
        CacheMode::Disabled
    } else {
        CacheMode::Normal
    }
}

/// Verifies `images`, `--jobs` at a time, printing each report in input order (text) or
/// collecting them (JSON), each with the file places it came from, with a progress bar on a
/// terminal; trims the cache. The exit code is the worst report's.
async fn verify_batch(
    verifier: &Verifier,
    images: &[ImageRef],
    args: &VerifyArgs,
    sources: &Sources,
) -> (Vec<Sourced<Report>>, Exit) {
    let progress = Progress::new(images.len(), "verifying");
    let mut reports = Vec::new();
    let mut exit = Exit::Ok;
    let (mut refused, mut unchecked) = (0, 0);
    let work = |image: ImageRef| async move { verifier.verify(&image).await };
    crate::batch::run_in_order(images, usize::from(args.jobs), work, |image, report| {
        progress.inc();
        if report.unreachable() {
            unchecked += 1;
        } else if !report.passes() {
            refused += 1;
        }
        exit = exit.worst(Exit::of_report(report.unreachable(), report.passes()));
        // A layout is judged by its directory's name, which the policy's rules rarely
        // match: say how to name the repository it is meant for.
        if args.policy.is_some()
            && args.identity.is_none()
            && !report.passes()
            && !report.unreachable()
            && let ImageRef::Layout(_) = &image
        {
            progress.eprintln(&format!(
                "hint: {image} is an OCI layout, judged as repository {:?}; pass --identity REPOSITORY to judge it as the repository it is published to",
                image.default_identity()
            ));
        }
        if report.warns() {
            progress.eprintln(&format!(
                "warning: {} would be refused, but its rule is in warn mode",
                report.reference()
            ));
        }
        let places = sources.get(&image.to_string()).cloned().unwrap_or_default();
        match args.output {
            OutputFormat::Text => progress.println(
                (render_report(&report) + &crate::deploy::render_sources(&places)).trim_end(),
            ),
            OutputFormat::Json => reports.push(Sourced {
                report,
                sources: places,
            }),
        }
    })
    .await;
    progress.finish();
    verifier.trim_cache();
    // The report may go to a file; a failure still leaves a line in the CI log.
    if let Some(summary) = failure_summary(images.len(), refused, unchecked) {
        eprintln!("{summary}");
    }
    (reports, exit)
}

/// `vouch: 2 of 5 images refused, 1 could not be checked`, or `None` when all passed.
fn failure_summary(total: usize, refused: usize, unchecked: usize) -> Option<String> {
    let images = if total == 1 { "image" } else { "images" };
    match (refused, unchecked) {
        (0, 0) => None,
        (r, 0) => Some(format!("vouch: {r} of {total} {images} refused")),
        (0, u) => Some(format!(
            "vouch: {u} of {total} {images} could not be checked"
        )),
        (r, u) => Some(format!(
            "vouch: {r} of {total} {images} refused, {u} could not be checked"
        )),
    }
}

#[cfg(test)]
mod summary_tests {
    use super::failure_summary;

    #[test]
    fn failure_summary_counts_refused_and_unchecked() {
        assert_eq!(failure_summary(5, 0, 0), None);
        assert_eq!(
            failure_summary(5, 2, 1).as_deref(),
            Some("vouch: 2 of 5 images refused, 1 could not be checked")
        );
        assert_eq!(
            failure_summary(1, 1, 0).as_deref(),
            Some("vouch: 1 of 1 image refused")
        );
        assert_eq!(
            failure_summary(3, 0, 3).as_deref(),
            Some("vouch: 3 of 3 images could not be checked")
        );
    }
}
