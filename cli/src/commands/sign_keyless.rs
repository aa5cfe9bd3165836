//! `vouch sign --keyless`: find the OIDC token, start one keyless session (certificate
//! checked against the trusted root), sign the images with it (`--jobs` at a time, output
//! in input order) and store what verified. The session setup is shared with `attest` and
//! `sign-blob --keyless`. The
//! token is a secret: it goes to Fulcio and nowhere else — never printed, never logged.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use vouch_keyless::{
    EndpointOverrides, KeylessOptions, KeylessSigner, SIG_FORMAT_NEEDS_REKOR_V1, SIGSTORE_AUDIENCE,
    SigningConfig, TokenLookup, TransportOptions, find_token,
};
use vouch_registry::StoreOptions;
use vouch_sign::keyless::{KeylessFormat, KeylessSignOptions, RootVerifier, sign_image_keyless};
use vouch_sigstore::{PRODUCTION_TRUSTED_ROOT, TrustedRoot};
use vouch_tuf::CachedTrust;

use crate::args::{KeylessArgs, OutputFormat, SignArgs, SignatureFormat};
use crate::exit::{Exit, Failure, OrExit};
use crate::inputs::{collect_images, open_stores, parse_annotations};
use crate::render::print_json;

/// Signs in flight per `--jobs` slot, as for key signing: `--jobs` bounds the signs talking
/// to the services and the registry; the rest wait (~1 s) to confirm their writes.
const SIGNS_IN_FLIGHT_PER_JOB: usize = 32;

pub async fn run(args: SignArgs, options: StoreOptions) -> Result<Exit, Failure> {
    let annotations = parse_annotations(&args.annotations)?;
    let images = collect_images(&args.images, args.from.as_deref())?;
    let format = match args.format {
        Some(SignatureFormat::Simplesigning) => KeylessFormat::Sig,
        Some(SignatureFormat::Bundle) | None => KeylessFormat::Bundle,
    };
    let stores = open_stores(&options)?;
    let signer = start_session(&args.keyless, format == KeylessFormat::Sig).await?;
    let identity = signer.identity().clone();
    if args.output == OutputFormat::Text {
        eprintln!("signing as {identity}");
    }

    let jobs = usize::from(args.jobs);
    let slots = tokio::sync::Semaphore::new(jobs);
    let sign_options = KeylessSignOptions {
        signer: &signer,
        annotations: &annotations,
        recursive: args.recursive,
        identity: args.identity.as_deref(),
        format,
        slots: Some(&slots),
    };
    let mut results = Vec::new();
    let mut exit = Exit::Ok;
    // `jobs` bounds the signs at work; more may be waiting to confirm their writes.
    crate::batch::run_in_order(
        &images,
        jobs.saturating_mul(SIGNS_IN_FLIGHT_PER_JOB),
        |image| {
            let (stores, sign_options) = (&stores, &sign_options);
            async move {
                sign_image_keyless(stores, &image, sign_options)
                    .await
                    .map_err(|e| (Exit::of_keyless_sign(&e), e.to_string()))
            }
        },
        |image, result| match result {
            Ok(signed) => {
                for s in signed {
                    if args.output == OutputFormat::Text {
                        println!("{}", s.signed);
                    }
                    let mut v = serde_json::to_value(&s).unwrap_or_default();
                    v["certificate_identity"] = identity.subject.clone().into();
                    v["certificate_oidc_issuer"] = identity.issuer.clone().into();
                    results.push(v);
                }
            }
            Err((failed, e)) => {
                exit = exit.worst(failed);
                eprintln!("error: signing {image}: {e} (nothing was stored for it)");
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

/// Starts the keyless session every `--keyless` command uses: the trust (flags, else the
/// cached TUF copy), the services, the token, then the certificate, checked against the
/// trusted root. The token is dropped before this returns.
/// `needs_signed_entry_timestamp`: the result is stored in cosign 2.x's `.sig` or `.att`
/// layer format, whose annotations carry a Rekor v1 signed entry timestamp.
pub(crate) async fn start_session(
    args: &KeylessArgs,
    needs_signed_entry_timestamp: bool,
) -> Result<KeylessSigner, Failure> {
    let cached = match (&args.trusted_root, &args.signing_config) {
        (Some(_), Some(_)) => None,
        _ => super::trust_root::cached_trust(args.tuf_url.as_deref(), false).await?,
    };
    let keyless_options = session_options(args, cached.as_ref())?;
    if needs_signed_entry_timestamp && keyless_options.endpoints.rekor_version != 1 {
        return Err(Failure::usage(anyhow!(
            "keyless signing: {SIG_FORMAT_NEEDS_REKOR_V1}"
        )));
    }
    let root = trusted_root(args.trusted_root.as_deref(), cached.as_ref())?;
    let env = |name: &str| std::env::var(name).ok();
    let token = find_token(&TokenLookup {
        explicit: args.identity_token.as_deref(),
        env: &env,
        audience: &keyless_options.audience,
        transport: &keyless_options.transport,
    })
    .await
    .map_err(|e| Failure::new(Exit::of_keyless(&e), anyhow!("keyless signing: {e}")))?;
    let signer = KeylessSigner::start(&token, &keyless_options, Arc::new(RootVerifier::new(root)))
        .await
        .map_err(|e| Failure::new(Exit::of_keyless(&e), anyhow!("keyless signing: {e}")))?;
    drop(token);
    Ok(signer)
}

/// The services (`--signing-config`, else the cached one, else the public-good instance's;
/// then the URL overrides) and how to reach them. Plain HTTP only to a loopback address (a
/// local instance).
fn session_options(
    args: &KeylessArgs,
    cached: Option<&CachedTrust>,
) -> Result<KeylessOptions, Failure> {
    let config = match &args.signing_config {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read signing config {}", path.display()))
                .or_usage()?;
            SigningConfig::from_json(&bytes)
                .map_err(|e| Failure::usage(anyhow!("signing config {}: {e}", path.display())))?
        }
        None => match cached.and_then(|c| c.signing_config.as_deref()) {
            Some(bytes) => SigningConfig::from_json(bytes)
                .map_err(|e| Failure::usage(anyhow!("cached signing config: {e}")))?,
            None => SigningConfig::public_good(),
        },
    };
    let url = |flag: &str, value: &Option<String>| -> Result<Option<url::Url>, Failure> {
        value
            .as_deref()
            .map(|v| url::Url::parse(v).map_err(|e| Failure::usage(anyhow!("{flag} {v}: {e}"))))
            .transpose()
    };
    let overrides = EndpointOverrides {
        fulcio: url("--fulcio-url", &args.fulcio_url)?,
        rekor: url("--rekor-url", &args.rekor_url)?,
        tsa: url("--tsa-url", &args.tsa_url)?,
        rekor_version: args.rekor_version,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let endpoints = config
        .endpoints(now, &overrides)
        .map_err(|e| Failure::usage(anyhow!("keyless signing: {e}")))?;
    let loopback = std::iter::once(&endpoints.fulcio)
        .chain(&endpoints.rekor)
        .chain(&endpoints.tsa)
        .all(|u| match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        });
    Ok(KeylessOptions {
        endpoints,
        transport: TransportOptions {
            allow_http: loopback,
            timeout: Duration::from_secs(30),
            ..TransportOptions::default()
        },
        audience: SIGSTORE_AUDIENCE.into(),
    })
}

/// The root each signature must verify against before it is stored: `--trusted-root`, else
/// the newest cached one, else the built-in one.
fn trusted_root(path: Option<&Path>, cached: Option<&CachedTrust>) -> Result<TrustedRoot, Failure> {
    let json = match (path, cached) {
        (Some(p), _) => std::fs::read(p)
            .with_context(|| format!("cannot read trusted root {}", p.display()))
            .or_usage()?,
        (None, Some(c)) => c.trusted_root.clone(),
        (None, None) => PRODUCTION_TRUSTED_ROOT.as_bytes().to_vec(),
    };
    TrustedRoot::from_json(&json).or_usage()
}
