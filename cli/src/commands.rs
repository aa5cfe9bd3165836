//! The command layer: flags in, library calls, human or JSON output, exit codes out.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, anyhow};
use vouch_policy::{KeyRequirement, SubjectRegex};

use crate::args::{
    Cli, Command, KeyCommand, KeygenAlgorithm, KeygenArgs, LoginArgs, OutputFormat, PolicyCommand,
    SignArgs, SignatureFormat, VerifyArgs,
};
use crate::deploy::{Sourced, Sources};
use vouch_keys::{self as keys, Algorithm, PrivateKey};
use vouch_oci::reference::{self, ImageRef};
use vouch_registry::cache::{Cache, CacheMode};
use vouch_registry::referrers::{FetchedBundle, MAX_BUNDLE_BYTES};
use vouch_registry::{StoreOptions, Stores};
use vouch_sign::{SignFormat, SignOptions, bundle_for_file, sign_image};
use vouch_sigstore::{TrustedRoot, UnixTime};
use vouch_verify::policy_verify::{
    LoadedPolicy, PlatformSelector, PolicyImageReport, PolicyLoadError, PolicyRun, judgement_time,
    load_policy, read_text, render_report, verify_with_policy,
};
use vouch_verify::verify::{
    BundleSource, Expectations, ImageReport, KeylessMatcher, TextMatch, TrustedKey, short_id,
    verify_image,
};

/// Documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// At least one image failed verification.
    Refused = 1,
    /// Usage, configuration, key or password error.
    Usage = 2,
    /// A registry or layout could not be reached or read.
    Unreachable = 3,
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong, with its causes.
    pub error: anyhow::Error,
}

impl Failure {
    fn usage(error: anyhow::Error) -> Failure {
        Failure {
            exit: Exit::Usage,
            error,
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::usage(e.into())
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<Exit, Failure> {
    let globals = cli_globals(&cli);
    match cli.command {
        Command::Keygen(args) => keygen(args),
        Command::Key(KeyCommand::Id {
            file,
            password_file,
        }) => key_id(&file, password_file.as_deref()),
        Command::Policy(command) => policy_command(command),
        Command::Login(args) => login(args),
        Command::Logout { registry } => logout(&registry),
        Command::Sign(args) => {
            let options = store_options(&globals);
            let runtime = runtime()?;
            runtime.block_on(sign(args, options))
        }
        Command::VerifyBundle(args) => crate::verify_bundle::run(&args),
        Command::Verify(args) => {
            let options = store_options(&globals);
            let runtime = runtime()?;
            runtime.block_on(verify(*args, options))
        }
        Command::Images(args) => crate::deploy::images(args),
        Command::Pin(args) => {
            let options = store_options(&globals);
            let runtime = runtime()?;
            runtime.block_on(crate::pin::pin(args, options))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::usage)
}

fn keygen(args: KeygenArgs) -> Result<Exit, Failure> {
    let algorithm = match args.algorithm {
        KeygenAlgorithm::EcdsaP256 => Algorithm::EcdsaP256,
        KeygenAlgorithm::Ed25519 => Algorithm::Ed25519,
    };
    let password = keys::obtain_password(args.password_file.as_deref(), true)?;
    let key = PrivateKey::generate(algorithm);
    let (private_path, public_path) = keys::write_key_pair(
        &args.output_key_prefix,
        &key,
        password.as_bytes(),
        args.force,
    )?;
    let key_id = key.public_key().key_id();
    match args.output {
        OutputFormat::Text => {
            println!("Private key written to {}", private_path.display());
            println!("Public key written to {}", public_path.display());
            println!("Key id: {key_id}");
        }
        OutputFormat::Json => print_json(&serde_json::json!({
            "private_key": private_path,
            "public_key": public_path,
            "algorithm": algorithm.as_str(),
            "key_id": key_id,
        }))?,
    }
    Ok(Exit::Ok)
}

fn key_id(file: &Path, password_file: Option<&Path>) -> Result<Exit, Failure> {
    use std::io::Read as _;
    // Bytes, not text: a public key may be DER. Bounded: a device is not a key file.
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(1 << 20).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", file.display()))?;
    let public = if bytes.windows(16).any(|w| w == b"PRIVATE KEY-----") {
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("cannot read {}: not a PEM file", file.display()))?;
        let password = keys::obtain_password(password_file, false)?;
        PrivateKey::from_encrypted_pem(text, password.as_bytes())
            .with_context(|| format!("cannot load private key {}", file.display()))?
            .public_key()
    } else {
        keys::load_public_key(file)?
    };
    println!("{}", public.key_id());
    Ok(Exit::Ok)
}

fn parse_annotations(pairs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            Failure::usage(anyhow!(
                "annotation {pair:?} is not KEY=VALUE (example: -a env=prod)"
            ))
        })?;
        if k.is_empty() {
            return Err(Failure::usage(anyhow!(
                "annotation {pair:?} has an empty key"
            )));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Failure::usage(anyhow!("annotation {k:?} given twice")));
        }
    }
    Ok(out)
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

/// The references from the command line and `--from`, parsed.
fn collect_images(
    images: &[String],
    from: Option<&std::path::Path>,
) -> Result<Vec<ImageRef>, Failure> {
    let mut all = images.to_vec();
    if let Some(path) = from {
        let listed = crate::batch::read_reference_list(path).map_err(|e| {
            Failure::usage(anyhow!(
                "cannot read references from {}: {e}",
                path.display()
            ))
        })?;
        all.extend(listed);
    }
    if all.is_empty() {
        return Err(Failure::usage(anyhow!("no image references given")));
    }
    parse_images(&all)
}

fn parse_images(images: &[String]) -> Result<Vec<ImageRef>, Failure> {
    images
        .iter()
        .map(|s| {
            reference::parse(s)
                .with_context(|| format!("bad image reference {s:?}"))
                .map_err(Failure::usage)
        })
        .collect()
}

/// The global flags that shape registry access.
struct Globals {
    allow_insecure: bool,
    ca_certs: Vec<std::path::PathBuf>,
    client_identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    timeout: u64,
    retries: u32,
    debug: bool,
}

fn cli_globals(cli: &Cli) -> Globals {
    Globals {
        allow_insecure: cli.allow_insecure_registry,
        ca_certs: cli.registry_cacert.clone(),
        client_identity: cli
            .registry_client_cert
            .clone()
            .zip(cli.registry_client_key.clone()),
        timeout: cli.timeout,
        retries: cli.retries,
        debug: cli.debug,
    }
}

fn store_options(g: &Globals) -> StoreOptions {
    StoreOptions {
        allow_insecure: g.allow_insecure,
        ca_certs: g.ca_certs.clone(),
        client_identity: g.client_identity.clone(),
        timeout: std::time::Duration::from_secs(g.timeout.max(1)),
        retries: g.retries,
        debug: g.debug,
        ..StoreOptions::default()
    }
}

fn stores(options: &StoreOptions) -> Result<Stores, Failure> {
    Stores::new(options).map_err(|e| Failure::usage(e.into()))
}

fn docker_config_path() -> Result<std::path::PathBuf, Failure> {
    vouch_registry::credentials::CredentialSources::from_env()
        .docker_config
        .ok_or_else(|| {
            Failure::usage(anyhow!(
                "cannot find docker's config: set DOCKER_CONFIG or HOME"
            ))
        })
}

fn login(args: LoginArgs) -> Result<Exit, Failure> {
    use std::io::Read as _;
    let mut secret = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut secret)
        .context("reading the password from standard input")?;
    let trimmed = zeroize::Zeroizing::new(secret.trim_end_matches(['\r', '\n']).to_string());
    if trimmed.is_empty() {
        return Err(Failure::usage(anyhow!("no password on standard input")));
    }
    let path = docker_config_path()?;
    let creds = vouch_registry::credentials::Credentials {
        username: args.username,
        secret: trimmed,
    };
    vouch_registry::credentials::store_login(&path, &args.registry, &creds)?;
    println!("Login for {} stored in {}", args.registry, path.display());
    Ok(Exit::Ok)
}

fn logout(registry: &str) -> Result<Exit, Failure> {
    let path = docker_config_path()?;
    if vouch_registry::credentials::remove_login(&path, registry)? {
        println!("Removed {registry} from {}", path.display());
    } else {
        println!("No login for {registry} in {}", path.display());
    }
    Ok(Exit::Ok)
}

/// Signs in flight per `--jobs` slot: a sign spends ~1 s waiting to confirm its write
/// (docs/security.md) and tens of ms working, so most of a batch's signs are waiting.
const SIGNS_IN_FLIGHT_PER_JOB: usize = 32;

async fn sign(args: SignArgs, options: StoreOptions) -> Result<Exit, Failure> {
    let annotations = parse_annotations(&args.annotations)?;
    let images = collect_images(&args.images, args.from.as_deref())?;
    let password = keys::obtain_password(args.password_file.as_deref(), false)?;
    let key = keys::load_private_key(
        &args.key,
        password.as_bytes(),
        args.allow_insecure_key_permissions,
    )?;
    drop(password);
    let stores = stores(&options)?;
    let jobs = usize::from(args.jobs);
    let slots = tokio::sync::Semaphore::new(jobs);
    let options = SignOptions {
        key: &key,
        annotations: &annotations,
        recursive: args.recursive,
        identity: args.identity.as_deref(),
        format: match (args.format, &args.output_bundle) {
            (SignatureFormat::Bundle, _) | (_, Some(_)) => SignFormat::Bundle,
            (SignatureFormat::Simplesigning, None) => SignFormat::SimpleSigning,
        },
        slots: Some(&slots),
    };
    if let Some(path) = &args.output_bundle {
        return write_bundle_file(&stores, &images, &options, path, args.output).await;
    }
    let progress = crate::batch::Progress::new(images.len(), "signing");
    let mut results = Vec::new();
    let mut worst = Exit::Ok as u8;
    // `jobs` bounds the signs at work; more may be waiting to confirm their writes.
    crate::batch::run_in_order(
        &images,
        jobs.saturating_mul(SIGNS_IN_FLIGHT_PER_JOB),
        |image| {
            let (stores, options) = (&stores, &options);
            async move {
                let r = sign_image(stores, &image, options).await;
                r.map_err(|e| {
                    (
                        matches!(e, vouch_registry::StoreError::NotFound(_)),
                        e.to_string(),
                    )
                })
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
                Err((not_found, e)) => {
                    worst = worst.max(if not_found {
                        Exit::Usage as u8
                    } else {
                        Exit::Unreachable as u8
                    });
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
    Ok(match worst {
        0 => Exit::Ok,
        2 => Exit::Usage,
        _ => Exit::Unreachable,
    })
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
            let exit = if matches!(e, vouch_registry::StoreError::NotFound(_)) {
                Exit::Usage
            } else {
                Exit::Unreachable
            };
            return Err(Failure {
                exit,
                error: anyhow!("signing {image}: {e}"),
            });
        }
    };
    std::fs::write(path, &bundle).with_context(|| format!("cannot write {}", path.display()))?;
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
                .with_context(|| format!("cannot read bundle {}", p.display()))?;
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

pub(crate) fn load_trusted_keys(paths: &[std::path::PathBuf]) -> Result<Vec<TrustedKey>, Failure> {
    let mut out: Vec<TrustedKey> = Vec::new();
    for path in paths {
        let key = keys::load_public_key(path)?;
        let key_id = key.key_id();
        if out.iter().any(|k| k.key_id == key_id) {
            continue;
        }
        out.push(TrustedKey {
            key,
            key_id,
            source: path.display().to_string(),
        });
    }
    Ok(out)
}

/// The keyless identity of cosign's `--certificate-identity[-regexp]` and
/// `--certificate-oidc-issuer[-regexp]` flags, if given (both halves are needed).
fn keyless_matchers(args: &VerifyArgs) -> Result<Vec<KeylessMatcher>, Failure> {
    let regex = |flag: &str, text: &str| {
        SubjectRegex::new(text)
            .map(TextMatch::Regex)
            .map_err(|e| Failure::usage(anyhow!("{flag} {text:?} does not compile: {e}")))
    };
    let subject = match (
        &args.certificate_identity,
        &args.certificate_identity_regexp,
    ) {
        (Some(s), _) => Some(TextMatch::Exact(s.clone())),
        (None, Some(r)) => Some(regex("--certificate-identity-regexp", r)?),
        (None, None) => None,
    };
    let issuer = match (
        &args.certificate_oidc_issuer,
        &args.certificate_oidc_issuer_regexp,
    ) {
        (Some(s), _) => Some(TextMatch::Exact(s.clone())),
        (None, Some(r)) => Some(regex("--certificate-oidc-issuer-regexp", r)?),
        (None, None) => None,
    };
    match (subject, issuer) {
        (Some(subject), Some(issuer)) => Ok(vec![KeylessMatcher { subject, issuer }]),
        (None, None) if args.trusted_root.is_none() && !args.insecure_ignore_tlog => Ok(Vec::new()),
        (None, None) => Err(Failure::usage(anyhow!(
            "--trusted-root and --insecure-ignore-tlog are for keyless signatures: also give --certificate-identity (or -regexp) and --certificate-oidc-issuer (or -regexp)"
        ))),
        (Some(_), None) => Err(Failure::usage(anyhow!(
            "a keyless identity needs its issuer too: add --certificate-oidc-issuer URL (or --certificate-oidc-issuer-regexp)"
        ))),
        (None, Some(_)) => Err(Failure::usage(anyhow!(
            "a keyless issuer needs the identity too: add --certificate-identity IDENTITY (or --certificate-identity-regexp)"
        ))),
    }
}

/// Reads a Sigstore trusted_root.json given on the command line.
fn load_trusted_root(path: &Path) -> Result<TrustedRoot, Failure> {
    use std::io::Read as _;
    const MAX_TRUSTED_ROOT_BYTES: u64 = 4 * 1024 * 1024;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TRUSTED_ROOT_BYTES + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read trusted root {}", path.display()))?;
    if bytes.len() as u64 > MAX_TRUSTED_ROOT_BYTES {
        return Err(Failure::usage(anyhow!(
            "trusted root {} is larger than {MAX_TRUSTED_ROOT_BYTES} bytes",
            path.display()
        )));
    }
    TrustedRoot::from_json(&bytes)
        .map_err(|e| Failure::usage(anyhow!("trusted root {}: {e}", path.display())))
}

async fn verify_policy(
    args: VerifyArgs,
    policy_path: &std::path::Path,
    options: StoreOptions,
) -> Result<Exit, Failure> {
    let loaded = load_policy_or_fail(policy_path)?;
    let at = judgement_time(args.at.as_deref()).map_err(|e| Failure::usage(anyhow!(e)))?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<PlatformSelector>)
        .transpose()
        .map_err(|e| Failure::usage(anyhow!("--platform {e}")))?;
    let (images, sources) = collect_verify_images(&args)?;
    let bundle_files = load_bundle_files(&args.bundles, &images)?;
    let stores = stores(&options)?;
    let cache = Cache::open(cache_mode(&args));
    let run = PolicyRun {
        loaded: &loaded,
        at,
        platform: platform.as_ref(),
        all_platforms: args.all_platforms,
        identity: args.identity.as_deref(),
        cache: cache.as_ref(),
        bundles: BundleSource::for_run(&bundle_files, cache.as_ref(), args.all_signatures),
    };
    let (reports, tally) = verify_batch(&images, &args, cache.as_ref(), &sources, |image| {
        let (stores, run) = (&stores, &run);
        async move { verify_with_policy(stores, &image, run).await }
    })
    .await;
    if args.output == OutputFormat::Json {
        print_json(&serde_json::json!({ "at": at, "images": reports }))?;
    }
    Ok(tally.exit())
}

/// A verification report as the batch loop sees it.
trait VerifyReport: Clone {
    fn unreachable(&self) -> bool;
    fn passes(&self) -> bool;
    fn render(&self) -> String;
    /// A line for stderr, e.g. for a pass in warn mode.
    fn warning(&self) -> Option<String> {
        None
    }
}

impl VerifyReport for ImageReport {
    fn unreachable(&self) -> bool {
        self.unreachable
    }
    fn passes(&self) -> bool {
        self.is_verified()
    }
    fn render(&self) -> String {
        render_key_report(self)
    }
}

impl VerifyReport for PolicyImageReport {
    fn unreachable(&self) -> bool {
        self.unreachable
    }
    fn passes(&self) -> bool {
        matches!(self.decision, "allow" | "warn")
    }
    fn render(&self) -> String {
        render_report(self)
    }
    fn warning(&self) -> Option<String> {
        (self.decision == "warn").then(|| {
            format!(
                "warning: {} would be refused, but its rule is in warn mode",
                self.reference
            )
        })
    }
}

/// Verifies `images` with `work`, `--jobs` at a time, printing each report in input order
/// (text) or collecting them (JSON), each with the file places it came from, with a progress
/// bar on a terminal; trims the cache.
async fn verify_batch<R, W, Fut>(
    images: &[ImageRef],
    args: &VerifyArgs,
    cache: Option<&Cache>,
    sources: &Sources,
    work: W,
) -> (Vec<Sourced<R>>, Tally)
where
    R: VerifyReport,
    W: Fn(ImageRef) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let progress = crate::batch::Progress::new(images.len(), "verifying");
    let mut reports = Vec::new();
    let mut tally = Tally::default();
    crate::batch::run_in_order(images, usize::from(args.jobs), work, |image, report: R| {
        progress.inc();
        tally.unreachable |= report.unreachable();
        tally.refused |= !report.passes();
        if let Some(warning) = report.warning() {
            progress.eprintln(&warning);
        }
        let places = sources.get(&image.to_string()).cloned().unwrap_or_default();
        match args.output {
            OutputFormat::Text => progress
                .println((report.render() + &crate::deploy::render_sources(&places)).trim_end()),
            OutputFormat::Json => reports.push(Sourced {
                report,
                sources: places,
            }),
        }
    })
    .await;
    progress.finish();
    if let Some(c) = cache {
        c.trim();
    }
    (reports, tally)
}

/// Loads a policy; on errors prints every diagnostic and fails with exit 2.
pub(crate) fn load_policy_or_fail(path: &std::path::Path) -> Result<LoadedPolicy, Failure> {
    match load_policy(path) {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprint!("{}", loaded.warnings);
            }
            Ok(loaded)
        }
        Err(PolicyLoadError::Invalid { rendered, errors }) => {
            eprint!("{rendered}");
            Err(Failure::usage(anyhow!(
                "{}: {errors} error{} in the policy",
                path.display(),
                if errors == 1 { "" } else { "s" }
            )))
        }
        Err(e) => Err(Failure::usage(e.into())),
    }
}

fn policy_command(command: PolicyCommand) -> Result<Exit, Failure> {
    match command {
        PolicyCommand::Check { file } => {
            let loaded = load_policy_or_fail(&file)?;
            let p = &loaded.policy;
            println!(
                "{}: ok ({} rules, {} signers, {} keys{})",
                file.display(),
                p.rules().len(),
                p.signers().len(),
                loaded.keys.len(),
                if p.warnings().is_empty() {
                    String::new()
                } else {
                    format!(", {} warnings", p.warnings().len())
                }
            );
            Ok(Exit::Ok)
        }
        PolicyCommand::Explain {
            file,
            images,
            output,
        } => {
            let loaded = load_policy_or_fail(&file)?;
            let images = parse_images(&images)?;
            let explanations: Vec<_> = images
                .iter()
                .map(|i| loaded.policy.explain(&i.default_identity()))
                .collect();
            match output {
                OutputFormat::Text => {
                    for e in &explanations {
                        println!("{e}");
                    }
                }
                OutputFormat::Json => print_json(&explanations)?,
            }
            Ok(Exit::Ok)
        }
        PolicyCommand::Test {
            file,
            cases,
            output,
        } => {
            let loaded = load_policy_or_fail(&file)?;
            let source = read_text(&cases, "cases")?;
            let now = judgement_time(None).map_err(|e| Failure::usage(anyhow!(e)))?;
            let normalize = |s: &str| -> Result<vouch_policy::ImageName, String> {
                match reference::parse(s) {
                    Ok(ImageRef::Registry(r)) => Ok(vouch_policy::ImageName {
                        repository: r.repository_name(),
                        tag: r.tag.clone(),
                        digest: r.digest.as_ref().map(ToString::to_string),
                    }),
                    Ok(ImageRef::Layout(_)) => {
                        Err("oci: layouts have no repository name; use the repository the image is deployed as".into())
                    }
                    Err(e) => Err(e.to_string()),
                }
            };
            let options = vouch_policy::CaseOptions {
                now,
                normalize: &normalize,
            };
            let name = cases.display().to_string();
            let report = match vouch_policy::run_cases(&loaded.policy, &source, &name, &options) {
                Ok(r) => r,
                Err(diags) => {
                    eprint!("{}", vouch_policy::render(&diags, &source, &name));
                    return Err(Failure::usage(anyhow!("{name}: the cases file has errors")));
                }
            };
            match output {
                OutputFormat::Text => print!("{report}"),
                OutputFormat::Json => print_json(&report)?,
            }
            Ok(if report.all_passed() {
                Exit::Ok
            } else {
                Exit::Refused
            })
        }
    }
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

/// Tallies a batch's outcomes into the exit code.
#[derive(Default)]
struct Tally {
    unreachable: bool,
    refused: bool,
}

impl Tally {
    fn exit(&self) -> Exit {
        if self.unreachable {
            Exit::Unreachable
        } else if self.refused {
            Exit::Refused
        } else {
            Exit::Ok
        }
    }
}

async fn verify(args: VerifyArgs, options: StoreOptions) -> Result<Exit, Failure> {
    if let Some(policy) = args.policy.clone() {
        return verify_policy(args, &policy, options).await;
    }
    let requirement = KeyRequirement {
        annotations: parse_annotations(&args.annotations)?,
    };
    let (images, sources) = collect_verify_images(&args)?;
    let bundle_files = load_bundle_files(&args.bundles, &images)?;
    let keys = load_trusted_keys(&args.keys)?;
    let keyless = keyless_matchers(&args)?;
    let custom_root = args
        .trusted_root
        .as_deref()
        .map(load_trusted_root)
        .transpose()?;
    let root = custom_root
        .as_ref()
        .or_else(|| vouch_sigstore::production_root());
    let unlogged_at = args.insecure_ignore_tlog.then(|| {
        let now = judgement_time(None).map(|t| t.unix()).unwrap_or(0);
        UnixTime::from_secs(now)
    });
    let stores = stores(&options)?;
    let cache = Cache::open(cache_mode(&args));
    let expect = Expectations {
        keys: &keys,
        requirement: &requirement,
        identity: args.identity.as_deref(),
        cache: cache.as_ref(),
        bundles: BundleSource::for_run(&bundle_files, cache.as_ref(), args.all_signatures),
        keyless: &keyless,
        root,
        unlogged_at,
    };
    let (reports, tally) = verify_batch(&images, &args, cache.as_ref(), &sources, |image| {
        let (stores, expect) = (&stores, &expect);
        async move { verify_image(stores, &image, expect).await }
    })
    .await;
    if args.output == OutputFormat::Json {
        print_json(&serde_json::json!({ "images": reports }))?;
    }
    Ok(tally.exit())
}

pub(crate) fn render_key_report(report: &ImageReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let subject = report.pinned.as_deref().unwrap_or(&report.reference);
    let from = if report.pinned.is_some() && !report.reference.contains('@') {
        format!(" (from {})", report.reference)
    } else {
        String::new()
    };
    match report.decision {
        "verified" => out.push_str(&format!("VERIFIED {subject}{from}\n")),
        "refused" => out.push_str(&format!("REFUSED  {subject}{from}\n")),
        _ => out.push_str(&format!("ERROR    {subject}{from}\n")),
    }
    if let Some(reason) = &report.reason {
        let _ = writeln!(out, "  reason: {reason}");
    }
    for sig in &report.signatures {
        let key = match (&sig.key_id, &sig.identity) {
            (Some(id), _) => format!(
                " key {} ({})",
                short_id(id),
                sig.key_source.as_deref().unwrap_or("?")
            ),
            (None, Some(identity)) => {
                let log = match (sig.log_index, &sig.signed_at) {
                    (Some(i), Some(t)) => format!(", log index {i}, signed {t}"),
                    (Some(i), None) => format!(", log index {i}"),
                    (None, Some(t)) => format!(", not logged, timestamped {t}"),
                    (None, None) => ", not logged".to_string(),
                };
                format!(" {} ({}){log}", identity.subject, identity.issuer)
            }
            (None, None) => String::new(),
        };
        let what = if sig.format == Some("bundle") {
            "bundle"
        } else {
            "signature"
        };
        match sig.verdict {
            "verified" => {
                let annotations: Vec<String> = sig
                    .annotations
                    .iter()
                    .map(|(k, v)| match v.as_str() {
                        Some(s) => format!("{k}={s}"),
                        None => format!("{k}={v}"),
                    })
                    .collect();
                let annotations = if annotations.is_empty() {
                    String::new()
                } else {
                    format!(", annotations {}", annotations.join(" "))
                };
                let _ = writeln!(out, "  {what} {}: verified by{key}{annotations}", sig.index);
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  {what} {}: rejected{}: {}",
                    sig.index,
                    if key.is_empty() {
                        String::new()
                    } else {
                        format!(" (signed by{key})")
                    },
                    sig.reason.as_deref().unwrap_or("unknown reason")
                );
            }
        }
    }
    out
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value).context("writing JSON")?;
    writeln!(stdout).context("writing JSON")?;
    Ok(())
}
