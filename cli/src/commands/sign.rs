//! `vouch sign`: sign each image (a batch, `--jobs` at a time), or write one bundle to a file.

use std::path::Path;

use anyhow::{Context, anyhow};
use vouch_oci::reference::ImageRef;
use vouch_registry::{StoreOptions, Stores};
use vouch_sign::{SignFormat, SignOptions, bundle_for_file, sign_image};

use crate::args::{OutputFormat, SignArgs, SignatureFormat};
use crate::exit::{Exit, Failure, OrExit};
use crate::inputs::{collect_images, load_signing_key, open_stores, parse_annotations};
use crate::progress::Progress;
use crate::render::print_json;

/// Signs in flight per `--jobs` slot: a sign spends ~1 s waiting to confirm its write
/// (docs/security.md) and tens of ms working, so most of a batch's signs are waiting.
const SIGNS_IN_FLIGHT_PER_JOB: usize = 32;

pub async fn run(args: SignArgs, options: StoreOptions) -> Result<Exit, Failure> {
    if args.keyless.keyless {
        return super::sign_keyless::run(args, options).await;
    }
    let key_path = args
        .key
        .as_deref()
        .ok_or_else(|| Failure::usage(anyhow!("give --key or --keyless")))?;
    let annotations = parse_annotations(&args.annotations)?;
    let images = collect_images(&args.images, args.from.as_deref())?;
    let key = load_signing_key(
        key_path,
        args.password_file.as_deref(),
        args.allow_insecure_key_permissions,
    )?;
    let stores = open_stores(&options)?;
    let jobs = usize::from(args.jobs);
    let slots = tokio::sync::Semaphore::new(jobs);
    let options = SignOptions {
        key: key.as_ref(),
        annotations: &annotations,
        recursive: args.recursive,
        identity: args.identity.as_deref(),
        format: match (args.format, &args.output_bundle) {
            (Some(SignatureFormat::Bundle), _) | (_, Some(_)) => SignFormat::Bundle,
            (Some(SignatureFormat::Simplesigning) | None, None) => SignFormat::SimpleSigning,
        },
        slots: Some(&slots),
    };
    if let Some(path) = &args.output_bundle {
        return write_bundle_file(&stores, &images, &options, path, args.output).await;
    }
    let progress = Progress::new(images.len(), "signing");
    let mut results = Vec::new();
    let mut exit = Exit::Ok;
    // `jobs` bounds the signs at work; more may be waiting to confirm their writes.
    crate::batch::run_in_order(
        &images,
        jobs.saturating_mul(SIGNS_IN_FLIGHT_PER_JOB),
        |image| {
            let (stores, options) = (&stores, &options);
            async move {
                let r = sign_image(stores, &image, options).await;
                r.map_err(|e| (Exit::of_signing(&e), e.to_string()))
            }
        },
        |image, result| {
            progress.inc();
            match result {
                Ok(signed) => {
                    for s in &signed {
                        if args.output == OutputFormat::Text {
                            let note = if s.outcome == "already-signed" {
                                " (already signed by this key; nothing added)"
                            } else {
                                ""
                            };
                            progress.println(&format!("{}{note}", s.signed));
                        }
                    }
                    results.extend(
                        signed
                            .into_iter()
                            .map(|s| serde_json::to_value(s).unwrap_or_default()),
                    );
                }
                Err((failed, e)) => {
                    exit = exit.worst(failed);
                    progress.eprintln(&format!("error: signing {image}: {e}"));
                    results.push(serde_json::json!({"reference": image.to_string(), "error": e}));
                }
            }
        },
    )
    .await;
    progress.finish();
    if args.output == OutputFormat::Json {
        print_json(&serde_json::Value::Array(results))?;
    }
    Ok(exit)
}

/// `sign --output-bundle FILE`: one image, nothing stored, the bundle written to FILE.
async fn write_bundle_file(
    stores: &Stores,
    images: &[ImageRef],
    options: &SignOptions<'_>,
    path: &Path,
    output: OutputFormat,
) -> Result<Exit, Failure> {
    let [image] = images else {
        return Err(Failure::usage(anyhow!(
            "--output-bundle writes one bundle: give exactly one image ({} given)",
            images.len()
        )));
    };
    let (signed, bundle) = match bundle_for_file(stores, image, options).await {
        Ok(r) => r,
        Err(e) => {
            let exit = Exit::of_signing(&e);
            return Err(Failure::new(exit, anyhow!("signing {image}: {e}")));
        }
    };
    std::fs::write(path, &bundle)
        .with_context(|| format!("cannot write {}", path.display()))
        .or_usage()?;
    match output {
        OutputFormat::Text => println!("{} (bundle written to {})", signed.signed, path.display()),
        OutputFormat::Json => {
            let mut v = serde_json::to_value(&signed).unwrap_or_default();
            v["bundle_file"] = path.display().to_string().into();
            print_json(&serde_json::Value::Array(vec![v]))?;
        }
    }
    Ok(Exit::Ok)
}
