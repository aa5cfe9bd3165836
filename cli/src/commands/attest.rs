//! `vouch attest`: sign an in-toto statement about each image's digest into its `.att`
//! manifest or a bundle referrer, with a key or keylessly (`--keyless`).

use std::io::Read as _;

use anyhow::{Context, anyhow};
use vouch_attest::predicate;
use vouch_keyless::AttestationEntry;
use vouch_keys as keys;
use vouch_oci::reference::ImageRef;
use vouch_registry::StoreOptions;
use vouch_sign::attest::{
    AttestFormat, AttestOptions, KeylessAttestOptions, attest_image, attest_image_keyless,
    attestation_bundle_for_file,
};

use crate::args::{AttestArgs, AttestationFormat, OutputFormat, RekorEntryType};
use crate::exit::{Exit, Failure};
use crate::inputs::{collect_images, open_stores};
use crate::render::print_json;

/// Attestations in flight per `--jobs` slot with --keyless, as for `sign --keyless`.
const ATTESTS_IN_FLIGHT_PER_JOB: usize = 32;

pub async fn run(args: AttestArgs, options: StoreOptions) -> Result<Exit, Failure> {
    let predicate_type = predicate::resolve(&args.predicate_type).map_err(Failure::usage)?;
    let predicate = read_predicate(&args, &predicate_type)?;
    let images = collect_images(&args.images, None)?;
    if args.keyless.keyless {
        return run_keyless(&args, &images, &predicate_type, &predicate, options).await;
    }
    let key_path = args
        .key
        .as_deref()
        .ok_or_else(|| Failure::usage(anyhow!("give --key or --keyless")))?;
    let password = keys::obtain_password(args.password_file.as_deref(), false)?;
    let key = keys::load_private_key(
        key_path,
        password.as_bytes(),
        args.allow_insecure_key_permissions,
    )?;
    drop(password);
    let stores = open_stores(&options)?;
    let attest = AttestOptions {
        key: &key,
        format: match args.format {
            Some(AttestationFormat::Att) | None => AttestFormat::Att,
            Some(AttestationFormat::Bundle) => AttestFormat::Bundle,
        },
        predicate_type: &predicate_type,
        predicate: &predicate,
    };
    if let Some(path) = &args.output_bundle {
        let [image] = images.as_slice() else {
            return Err(Failure::usage(anyhow!(
                "--output-bundle writes one bundle: give exactly one image ({} given)",
                images.len()
            )));
        };
        let (done, bundle) = attestation_bundle_for_file(&stores, image, &attest)
            .await
            .map_err(|e| Failure::new(Exit::of_signing(&e), anyhow!("attesting {image}: {e}")))?;
        std::fs::write(path, &bundle)
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(Failure::usage)?;
        match args.output {
            OutputFormat::Text => println!(
                "{} ({predicate_type}; bundle written to {})",
                done.attested,
                path.display()
            ),
            OutputFormat::Json => {
                let mut v = serde_json::to_value(&done).unwrap_or_default();
                v["bundle_file"] = path.display().to_string().into();
                print_json(&serde_json::Value::Array(vec![v]))?;
            }
        }
        return Ok(Exit::Ok);
    }
    let mut exit = Exit::Ok;
    let mut results = Vec::new();
    for image in &images {
        match attest_image(&stores, image, &attest).await {
            Ok(done) => {
                if args.output == OutputFormat::Text {
                    println!("{} ({predicate_type})", done.attested);
                }
                results.push(serde_json::to_value(&done).unwrap_or_default());
            }
            Err(e) => {
                exit = exit.worst(Exit::of_signing(&e));
                eprintln!("error: attesting {image}: {e}");
                results.push(
                    serde_json::json!({"reference": image.to_string(), "error": e.to_string()}),
                );
            }
        }
    }
    if args.output == OutputFormat::Json {
        print_json(&serde_json::Value::Array(results))?;
    }
    Ok(exit)
}

/// `attest --keyless`: one session for every image, `--jobs` at a time, output in input
/// order; each attestation stored only once it verified.
async fn run_keyless(
    args: &AttestArgs,
    images: &[ImageRef],
    predicate_type: &str,
    predicate: &serde_json::Value,
    options: StoreOptions,
) -> Result<Exit, Failure> {
    let stores = open_stores(&options)?;
    let att_layer = args.format == Some(AttestationFormat::Att);
    let signer = super::sign_keyless::start_session(&args.keyless, att_layer).await?;
    let identity = signer.identity().clone();
    if args.output == OutputFormat::Text {
        eprintln!("attesting as {identity}");
    }
    let jobs = usize::from(args.jobs);
    let slots = tokio::sync::Semaphore::new(jobs);
    let attest = KeylessAttestOptions {
        signer: &signer,
        slots: Some(&slots),
        format: match args.format {
            Some(AttestationFormat::Att) => AttestFormat::Att,
            Some(AttestationFormat::Bundle) | None => AttestFormat::Bundle,
        },
        att_entry: match args.rekor_entry_type {
            RekorEntryType::Dsse => AttestationEntry::Dsse,
            RekorEntryType::Intoto => AttestationEntry::Intoto,
        },
        predicate_type,
        predicate,
    };
    let mut exit = Exit::Ok;
    let mut results = Vec::new();
    crate::batch::run_in_order(
        images,
        jobs.saturating_mul(ATTESTS_IN_FLIGHT_PER_JOB),
        |image| {
            let (stores, attest) = (&stores, &attest);
            async move {
                attest_image_keyless(stores, &image, attest)
                    .await
                    .map_err(|e| (Exit::of_keyless_sign(&e), e.to_string()))
            }
        },
        |image, result| match result {
            Ok(done) => {
                if args.output == OutputFormat::Text {
                    println!("{} ({predicate_type})", done.attested);
                }
                let mut v = serde_json::to_value(&done).unwrap_or_default();
                v["certificate_identity"] = identity.subject.clone().into();
                v["certificate_oidc_issuer"] = identity.issuer.clone().into();
                results.push(v);
            }
            Err((failed, e)) => {
                exit = exit.worst(failed);
                eprintln!("error: attesting {image}: {e} (nothing was stored for it)");
                results.push(serde_json::json!({"reference": image.to_string(), "error": e}));
            }
        },
    )
    .await;
    if args.output == OutputFormat::Json {
        print_json(&serde_json::Value::Array(results))?;
    }
    Ok(exit)
}

/// The predicate: JSON for every type but `custom`, which cosign wraps as
/// `{"Data": text, "Timestamp": now}`, and so does vouch.
fn read_predicate(args: &AttestArgs, predicate_type: &str) -> Result<serde_json::Value, Failure> {
    let limit = vouch_attest::statement::MAX_STATEMENT_BYTES - 64 * 1024;
    let mut bytes = Vec::new();
    let what = args.predicate.display().to_string();
    let reader: Box<dyn std::io::Read> = if what == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.predicate)
                .with_context(|| format!("cannot read the predicate {what}"))
                .map_err(Failure::usage)?,
        )
    };
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the predicate {what}"))
        .map_err(Failure::usage)?;
    if bytes.len() > limit {
        return Err(Failure::usage(anyhow!(
            "the predicate {what} is larger than the {limit}-byte limit"
        )));
    }
    if predicate_type == predicate::CUSTOM {
        let text = String::from_utf8(bytes)
            .map_err(|_| Failure::usage(anyhow!("the predicate {what} is not UTF-8 text")))?;
        let now = vouch_verify::judgement_time(None)
            .map(|t| t.to_string())
            .unwrap_or_default();
        return Ok(serde_json::json!({"Data": text, "Timestamp": now}));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Failure::usage(anyhow!(
            "the predicate {what} is not JSON ({e}); only --type custom takes plain text"
        ))
    })
}
