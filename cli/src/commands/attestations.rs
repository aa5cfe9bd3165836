//! `vouch attestations`: fetch each image's `.att` layers, show the statements whose DSSE
//! signature verifies under a given key and that are about the image digest, and with
//! `--type` judge them (the newest decides; `--max-age`, `--condition`).

use anyhow::anyhow;
use vouch_attest::judge::{self, parse_age};
use vouch_attest::{AttestationRequirement, Condition, predicate};
use vouch_keys as keys;
use vouch_registry::StoreOptions;
use vouch_registry::resolve::resolve;
use vouch_verify::TrustedKey;
use vouch_verify::attestations::{fetch_attestations, verify_attestations};

use crate::args::{AttestationsArgs, OutputFormat};
use crate::exit::{Exit, Failure};
use crate::inputs::{collect_images, open_stores};
use crate::render::print_json;

pub async fn run(args: AttestationsArgs, options: StoreOptions) -> Result<Exit, Failure> {
    let trusted = args
        .keys
        .iter()
        .map(|path| {
            let key = keys::load_public_key(path)?;
            Ok(TrustedKey {
                key_id: key.key_id(),
                key,
                source: path.display().to_string(),
            })
        })
        .collect::<Result<Vec<_>, keys::KeyError>>()?;
    let requirement = match &args.predicate_type {
        None => None,
        Some(t) => Some(AttestationRequirement {
            predicate_type: predicate::resolve(t).map_err(Failure::usage)?,
            signers: Vec::new(),
            max_age: args
                .max_age
                .as_deref()
                .map(parse_age)
                .transpose()
                .map_err(|e| Failure::usage(anyhow!("--max-age {e}")))?,
            condition: args
                .condition
                .as_deref()
                .map(Condition::compile)
                .transpose()
                .map_err(|e| Failure::usage(anyhow!("--condition:{e}")))?,
        }),
    };
    let at = vouch_verify::judgement_time(args.at.as_deref())
        .map_err(|e| Failure::usage(anyhow!(e)))?
        .unix();
    let images = collect_images(&args.images, None)?;
    let stores = open_stores(&options)?;
    let mut exit = Exit::Ok;
    let mut out = Vec::new();
    for image in &images {
        let repo = stores.repo(image);
        let fetched = async {
            let resolved = resolve(&repo, image, false, stores.limits()).await?;
            let layers =
                fetch_attestations(&repo, image, &resolved.digest, stores.limits()).await?;
            Ok::<_, vouch_registry::StoreError>((resolved.digest, layers))
        };
        let (digest, layers) = match fetched.await {
            Ok(r) => r,
            Err(e) => {
                exit = exit.worst(Exit::of_report(e.is_unreachable(), false));
                eprintln!("error: {image}: {e}");
                out.push(
                    serde_json::json!({"reference": image.to_string(), "error": e.to_string()}),
                );
                continue;
            }
        };
        let (mut verified, rejected) = verify_attestations(&layers, &digest, &trusted);
        // Shown by the key file they verified under.
        for v in &mut verified {
            for signer in &mut v.signers {
                if let Some(k) = trusted.iter().find(|k| &k.key_id == signer) {
                    *signer = k.source.clone();
                }
            }
        }
        let shown: Vec<_> = verified
            .iter()
            .filter(|v| {
                requirement
                    .as_ref()
                    .is_none_or(|r| r.predicate_type == v.statement.predicate_type)
            })
            .collect();
        let decision = requirement.as_ref().map(|r| {
            let matching: Vec<_> = shown.iter().map(|v| (*v).clone()).collect();
            judge::judge(r, &matching, &image.default_identity(), &digest, at)
        });
        let passed = match &decision {
            Some(d) => d.passed,
            None => !shown.is_empty(),
        };
        exit = exit.worst(Exit::of_check(passed));
        let pinned = image.pinned_display(&digest);
        match args.output {
            OutputFormat::Text => {
                let verdict = if passed { "ok" } else { "REFUSED" };
                println!("{pinned}: {verdict}");
                for v in &shown {
                    println!(
                        "  {}: {} signed by {}",
                        v.source,
                        v.statement.predicate_type,
                        v.signers.join(", ")
                    );
                }
                for r in &rejected {
                    println!("  {}: not counted: {}", r.source, r.reason);
                }
                match &decision {
                    Some(d) => {
                        for s in d.statements.iter().filter(|s| s.decided) {
                            println!(
                                "  decided by {}{}",
                                s.source,
                                s.dated
                                    .as_deref()
                                    .map(|t| format!(" (dated {t})"))
                                    .unwrap_or_default()
                            );
                        }
                        println!("  {}", d.reason);
                    }
                    None if shown.is_empty() => {
                        println!("  no verified attestation of {digest} by the given keys");
                    }
                    None => {}
                }
            }
            OutputFormat::Json => {
                let statements: Vec<_> = shown
                    .iter()
                    .map(|v| {
                        serde_json::json!({
                            "source": v.source,
                            "signers": v.signers,
                            "statement": v.statement,
                        })
                    })
                    .collect();
                let mut entry = serde_json::json!({
                    "reference": image.to_string(),
                    "image": pinned,
                    "digest": digest.to_string(),
                    "passed": passed,
                    "attestations": statements,
                    "rejected": rejected,
                });
                if let Some(d) = &decision {
                    entry["decision"] = serde_json::to_value(d).unwrap_or_default();
                }
                out.push(entry);
            }
        }
    }
    if args.output == OutputFormat::Json {
        print_json(&serde_json::Value::Array(out))?;
    }
    Ok(exit)
}
