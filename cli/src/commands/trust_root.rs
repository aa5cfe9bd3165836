//! `vouch trust-root update`: fetch Sigstore's trusted root and signing config through TUF
//! into `$XDG_CACHE_HOME/vouch/tuf`; and the lookup verification and keyless signing share:
//! the newest verified cached root (expired metadata refused unless `--offline`), or `None`
//! when nothing was ever cached (the caller then uses the root built into vouch).

use std::path::Path;

use anyhow::{Context, anyhow};
use vouch_keyless::SigningConfig;
use vouch_sigstore::TrustedRoot;
use vouch_tuf::{CachedTrust, Expiry, TrustedRootChoice, TufError, TufOptions};

use crate::args::{OutputFormat, TrustRootUpdateArgs};
use crate::exit::{Exit, Failure, OrExit};
use crate::render::print_json;

/// `vouch trust-root update`.
pub async fn update(args: TrustRootUpdateArgs) -> Result<Exit, Failure> {
    let options = tuf_options(args.tuf_url.as_deref(), args.tuf_root.as_deref())?;
    let usable = |root: &[u8], config: Option<&[u8]>| -> Result<(), String> {
        TrustedRoot::from_json(root).map_err(|e| format!("trusted_root.json: {e}"))?;
        if let Some(config) = config {
            SigningConfig::from_json(config).map_err(|e| format!("signing config: {e}"))?;
        }
        Ok(())
    };
    let report = vouch_tuf::update(&options, &usable)
        .await
        .map_err(|e| tuf_failure(&e, "trust-root update"))?;
    let trust = &report.trust;
    let expires = vouch_policy::Timestamp::from_unix(trust.expires).to_string();
    match args.output {
        OutputFormat::Text => {
            let before = report
                .root_version_before
                .map_or("none".to_string(), |v| v.to_string());
            println!(
                "trusted root updated from {}: TUF root version {} (was {before}), targets version {}, signing config {}; valid until {expires} ({} metadata)",
                options.url,
                trust.root_version,
                trust.targets_version,
                if trust.signing_config.is_some() {
                    "included"
                } else {
                    "absent"
                },
                trust.expires_role,
            );
        }
        OutputFormat::Json => print_json(&serde_json::json!({
            "tuf_url": options.url.as_str(),
            "cache": options.cache_dir.display().to_string(),
            "root_version_before": report.root_version_before,
            "root_version": trust.root_version,
            "targets_version": trust.targets_version,
            "signing_config": trust.signing_config.is_some(),
            "expires": expires,
            "expires_role": trust.expires_role,
        }))?,
    }
    Ok(Exit::Ok)
}

/// The TUF repository (`--tuf-url`, default Sigstore's), its root of trust (`--tuf-root`),
/// and the cache. Plain HTTP only to a loopback address (a local repository).
pub fn tuf_options(url: Option<&str>, root: Option<&Path>) -> Result<TufOptions, Failure> {
    let cache_dir = cache_dir().ok_or_else(|| {
        Failure::usage(anyhow!(
            "no cache directory for trusted roots: set XDG_CACHE_HOME or HOME"
        ))
    })?;
    let mut options = TufOptions::sigstore(cache_dir);
    if let Some(url) = url {
        options.url =
            url::Url::parse(url).map_err(|e| Failure::usage(anyhow!("--tuf-url {url}: {e}")))?;
        options.allow_http = match options.url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
    }
    if let Some(path) = root {
        options.root = Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read TUF root {}", path.display()))
                .or_usage()?,
        );
    }
    Ok(options)
}

fn cache_dir() -> Option<std::path::PathBuf> {
    let env = |name: &str| std::env::var(name).ok();
    vouch_tuf::default_cache_dir(&env)
}

/// The newest verified cached trust for the repository at `url` (default Sigstore's);
/// `None` when nothing was ever cached (or there is no cache directory at all). `offline`
/// accepts expired metadata.
pub async fn cached_trust(
    url: Option<&str>,
    offline: bool,
) -> Result<Option<CachedTrust>, Failure> {
    if cache_dir().is_none() {
        return Ok(None);
    }
    let options = tuf_options(url, None)?;
    let expiry = if offline {
        Expiry::AcceptExpired
    } else {
        Expiry::Enforce
    };
    match vouch_tuf::newest_trusted_root(&options, expiry).await {
        Ok(TrustedRootChoice::Cached(trust)) => Ok(Some(trust)),
        Ok(TrustedRootChoice::Embedded) => Ok(None),
        Err(e) => Err(tuf_failure(&e, "cached trusted root")),
    }
}

/// The cached trusted root, parsed (see [`cached_trust`]).
pub async fn cached_root(url: Option<&str>, offline: bool) -> Result<Option<TrustedRoot>, Failure> {
    let Some(trust) = cached_trust(url, offline).await? else {
        return Ok(None);
    };
    TrustedRoot::from_json(&trust.trusted_root)
        .map(Some)
        .map_err(|e| Failure::usage(anyhow!("cached trusted root: {e}")))
}

fn tuf_failure(e: &TufError, what: &str) -> Failure {
    Failure::new(Exit::of_tuf(e), anyhow!("{what}: {e}"))
}
