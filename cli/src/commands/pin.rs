//! `vouch pin`: every tag reference in the given files rewritten to `name:tag@sha256:…`.
//!
//! Each distinct tag is resolved once, its digest computed from the manifest bytes served (an
//! index's digest for a multi-platform image, what `docker pull` gets). With `--policy` or
//! `--key` every digest to be written is verified first, and nothing is written unless all
//! pass. Edits touch only the references' bytes; each file is replaced atomically, and only
//! if it still holds what was read.

use std::collections::HashMap;

use anyhow::anyhow;
use serde::Serialize;
use vouch_deploy::rewrite::{self, Edit};
use vouch_oci::reference::{Digest, ImageRef};
use vouch_policy::KeyRequirement;
use vouch_registry::cache::{Cache, CacheMode};
use vouch_registry::{StoreError, StoreOptions, Stores};
use vouch_verify::{KeyTrust, PolicyTrust, Trust, Verifier, judgement_time};

use crate::args::{OutputFormat, PinArgs};
use crate::deploy::{Located, load, parse_all};
use crate::exit::{Exit, Failure, OrExit};
use crate::inputs::{load_policy_or_fail, load_trusted_keys, open_stores};
use crate::progress::Progress;
use crate::render::{print_json, render_report};

/// One reference pinned (or to be pinned).
#[derive(Debug, Serialize)]
struct Pinned {
    file: String,
    line: usize,
    column: usize,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<String>,
    /// The reference as written before.
    image: String,
    /// As written after.
    pinned: String,
    digest: Digest,
}

/// `vouch pin`.
pub async fn run(args: PinArgs, options: StoreOptions) -> Result<Exit, Failure> {
    let loaded = load(&args.input, false)?;
    let located = parse_all(&loaded)?;
    if args.check {
        return check(&located, args.output);
    }
    // Each reference to rewrite, with the tag reference to resolve for it.
    let mut targets: Vec<(&Located<'_>, ImageRef)> = Vec::new();
    for l in &located {
        match (l.image.digest(), &l.image) {
            (None, _) => targets.push((l, l.image.clone())),
            (Some(_), ImageRef::Registry(r)) if args.update => {
                if r.tag.is_none() {
                    eprintln!(
                        "note: {}:{}: {} has a digest and no tag: nothing to re-resolve",
                        l.file.display, l.finding.line, l.finding.image
                    );
                    continue;
                }
                let mut query = r.clone();
                query.digest = None;
                targets.push((l, ImageRef::Registry(query)));
            }
            _ => {}
        }
    }
    if targets.is_empty() {
        match args.output {
            OutputFormat::Text => eprintln!(
                "nothing to pin: all {} references have a digest",
                located.len()
            ),
            OutputFormat::Json => print_json(&serde_json::json!({ "pinned": [] }))?,
        }
        return Ok(Exit::Ok);
    }
    let mut queries: Vec<ImageRef> = Vec::new();
    for (_, q) in &targets {
        if !queries.contains(q) {
            queries.push(q.clone());
        }
    }
    let stores = open_stores(&options)?;
    let digests = resolve_all(&stores, &queries, usize::from(args.jobs)).await?;
    if args.policy.is_some() || !args.keys.is_empty() {
        let pinned: Vec<ImageRef> = queries
            .iter()
            .map(|q| q.with_digest(digests[&q.to_string()].clone()))
            .collect();
        verify_all(&args, &stores, &pinned).await?;
    }
    // The edits, file by file.
    let mut errors = Vec::new();
    let mut changes: Vec<(&crate::deploy::Loaded, Vec<u8>)> = Vec::new();
    let mut report = Vec::new();
    for file in &loaded {
        let mut edits: Vec<Edit> = Vec::new();
        for (l, q) in targets.iter().filter(|(l, _)| std::ptr::eq(l.file, file)) {
            let f = l.finding;
            let digest = &digests[&q.to_string()];
            let written = f.written.as_deref().unwrap_or(&f.image);
            match rewrite::pin_edit(&file.bytes, &f.site, written, &digest.to_string()) {
                Ok(Some(edit)) => {
                    edits.push(edit);
                    report.push(Pinned {
                        file: file.display.clone(),
                        line: f.line,
                        column: f.column,
                        kind: f.kind.clone(),
                        container: f.container.clone(),
                        image: written.to_string(),
                        pinned: rewrite::pinned_text(written, &digest.to_string())
                            .ok()
                            .flatten()
                            .unwrap_or_else(|| written.to_string()),
                        digest: digest.clone(),
                    });
                }
                Ok(None) => {}
                Err(e) => errors.push(format!(
                    "{}:{}:{}: cannot pin {}: {e}",
                    file.display, f.line, f.column, f.image
                )),
            }
        }
        if edits.is_empty() {
            continue;
        }
        match rewrite::apply(&file.bytes, &edits) {
            Ok(new) if new != file.bytes => changes.push((file, new)),
            Ok(_) => {}
            Err(e) => errors.push(format!("{}: {e}", file.display)),
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("error: {e}");
        }
        return Err(Failure::usage(anyhow!(
            "nothing was written: {} references cannot be pinned",
            errors.len()
        )));
    }
    if args.dry_run {
        match args.output {
            OutputFormat::Text => {
                for (file, new) in &changes {
                    print!("{}", rewrite::unified_diff(&file.display, &file.bytes, new));
                }
                eprintln!(
                    "would pin {} references in {} files (dry run: nothing written)",
                    report.len(),
                    changes.len()
                );
            }
            OutputFormat::Json => print_json(&serde_json::json!({
                "dry_run": true,
                "pinned": report,
                "diff": changes.iter().map(|(f, new)| rewrite::unified_diff(&f.display, &f.bytes, new)).collect::<String>(),
            }))?,
        }
        return Ok(Exit::Ok);
    }
    // Every file is checked before any is written, and each again just before its rename.
    for (file, _) in &changes {
        let path = file
            .path
            .as_deref()
            .ok_or_else(|| anyhow!("no path"))
            .or_usage()?;
        let same = rewrite::unchanged(path, &file.bytes)
            .map_err(|e| anyhow!("{}: {e}", file.display))
            .or_usage()?;
        if !same {
            return Err(Failure::usage(anyhow!(
                "{}: changed on disk since vouch read it; nothing was written (run again)",
                file.display
            )));
        }
    }
    for (file, new) in &changes {
        let path = file
            .path
            .as_deref()
            .ok_or_else(|| anyhow!("no path"))
            .or_usage()?;
        rewrite::write_if_unchanged(path, &file.bytes, new)
            .map_err(|e| anyhow!(e))
            .or_usage()?;
    }
    match args.output {
        OutputFormat::Text => {
            for p in &report {
                println!("{}:{}  {} -> {}", p.file, p.line, p.image, p.pinned);
            }
            eprintln!(
                "pinned {} references in {} files",
                report.len(),
                changes.len()
            );
        }
        OutputFormat::Json => print_json(&serde_json::json!({ "pinned": report }))?,
    }
    Ok(Exit::Ok)
}

/// `--check`: every reference without a digest, exit 1 if there is one.
fn check(located: &[Located<'_>], output: OutputFormat) -> Result<Exit, Failure> {
    let unpinned: Vec<&Located<'_>> = located
        .iter()
        .filter(|l| l.image.digest().is_none())
        .collect();
    match output {
        OutputFormat::Text => {
            for l in &unpinned {
                println!(
                    "{}:{}:{}: {} is not pinned to a digest",
                    l.file.display, l.finding.line, l.finding.column, l.finding.image
                );
            }
            if unpinned.is_empty() {
                eprintln!("all {} references are pinned to digests", located.len());
            } else {
                eprintln!(
                    "{} of {} references are not pinned; `vouch pin -f …` pins them",
                    unpinned.len(),
                    located.len()
                );
            }
        }
        OutputFormat::Json => {
            let list: Vec<_> = unpinned
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "file": l.file.display,
                        "line": l.finding.line,
                        "column": l.finding.column,
                        "image": l.finding.image,
                        "kind": l.finding.kind,
                        "container": l.finding.container,
                    })
                })
                .collect();
            print_json(&serde_json::json!({ "references": located.len(), "unpinned": list }))?;
        }
    }
    Ok(Exit::of_check(unpinned.is_empty()))
}

/// Resolves each tag once; any failure fails the whole pin (exit 2 for a missing image,
/// 3 for an unreachable registry) before anything is written.
async fn resolve_all(
    stores: &Stores,
    queries: &[ImageRef],
    jobs: usize,
) -> Result<HashMap<String, Digest>, Failure> {
    let mut digests = HashMap::new();
    let mut errors = Vec::new();
    let mut exit = Exit::Ok;
    let progress = Progress::new(queries.len(), "resolving");
    crate::batch::run_in_order(
        queries,
        jobs,
        |q| async move {
            let repo = stores.repo(&q);
            vouch_registry::resolve::resolve(&repo, &q, false, stores.limits())
                .await
                .map(|r| r.digest)
                .map_err(|e| (Exit::of_resolving(&e), describe_store_error(&e)))
        },
        |q, result| {
            progress.inc();
            match result {
                Ok(d) => {
                    digests.insert(q.to_string(), d);
                }
                Err((failed, e)) => {
                    exit = exit.worst(failed);
                    errors.push(format!("resolving {q}: {e}"));
                }
            }
        },
    )
    .await;
    progress.finish();
    if errors.is_empty() {
        return Ok(digests);
    }
    for e in &errors[..errors.len() - 1] {
        eprintln!("error: {e}");
    }
    let last = &errors[errors.len() - 1];
    Err(Failure::new(exit, anyhow!("{last}; nothing was written")))
}

fn describe_store_error(e: &StoreError) -> String {
    match e {
        StoreError::NotFound(what) => format!("{what}: not found in the registry"),
        other => other.to_string(),
    }
}

/// Verifies every digest about to be written; any refusal fails the pin.
async fn verify_all(args: &PinArgs, stores: &Stores, pinned: &[ImageRef]) -> Result<(), Failure> {
    let cache = Cache::open(CacheMode::Normal);
    let jobs = usize::from(args.jobs);
    let mut failed = 0usize;
    let mut exit = Exit::Ok;
    let mut reports: Vec<serde_json::Value> = Vec::new();
    let text = args.output == OutputFormat::Text;
    let trust = if let Some(policy) = &args.policy {
        let loaded = load_policy_or_fail(policy)?;
        let at = judgement_time(None).map_err(|e| anyhow!(e)).or_usage()?;
        Trust::Policy(Box::new(PolicyTrust {
            loaded,
            at,
            platform: None,
            all_platforms: false,
        }))
    } else {
        Trust::Keys(KeyTrust {
            keys: load_trusted_keys(&args.keys)?,
            requirement: KeyRequirement::default(),
            keyless: Vec::new(),
            root: vouch_sigstore::production_root().cloned(),
            unlogged_at: None,
        })
    };
    let verifier = Verifier::new(stores.clone(), trust).cache(cache);
    let work = |image: ImageRef| {
        let verifier = &verifier;
        async move { verifier.verify(&image).await }
    };
    crate::batch::run_in_order(pinned, jobs, work, |_, report| {
        exit = exit.worst(Exit::of_report(report.unreachable(), report.passes()));
        if !report.passes() {
            failed += 1;
        }
        if text {
            eprint!("{}", render_report(&report));
        }
        reports.push(serde_json::to_value(&report).unwrap_or_default());
    })
    .await;
    verifier.trim_cache();
    if failed == 0 {
        return Ok(());
    }
    if !text {
        print_json(&serde_json::json!({ "pinned": [], "images": reports }))?;
    }
    Err(Failure::new(
        exit,
        anyhow!(
            "{failed} of {} images did not verify; nothing was written",
            pinned.len()
        ),
    ))
}
