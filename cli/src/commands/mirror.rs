//! `vouch mirror`: load the policy, open the listener, serve the verifying mirror until
//! SIGINT or SIGTERM. Wiring only; the mirror is `vouch_mirror`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use vouch_mirror::{Engine, Mirror, MirrorOptions, Upstreams};
use vouch_registry::StoreOptions;
use vouch_server::watch::{Loader, Reload};
use vouch_server::{Limits, ReloadingCertificate, TlsFiles, Watched};

use crate::args::MirrorArgs;
use crate::exit::{Exit, Failure};
use crate::inputs::open_stores;

/// `vouch mirror`.
pub async fn run(args: MirrorArgs, options: StoreOptions) -> Result<Exit, Failure> {
    if args.tls_cert.is_none() && !args.listen.ip().is_loopback() && !args.allow_plain_http {
        return Err(Failure::usage(anyhow!(
            "--listen {}: without --tls-cert/--tls-key only a loopback address is served (pass --allow-plain-http to serve plain HTTP there anyway)",
            args.listen
        )));
    }
    if args.upstream.is_empty() && !args.any_upstream {
        return Err(Failure::usage(anyhow!(
            "name the upstream registry with --upstream HOST (or allow any with --any-upstream)"
        )));
    }
    let stores = open_stores(&options)?;
    let cache_dir = args.cache_dir.clone();
    if let Some(dir) = &cache_dir {
        vouch_fs::create_private_dir(dir)
            .with_context(|| format!("--cache-dir {}", dir.display()))
            .map_err(Failure::usage)?;
    }
    let loader: Loader<Engine> = {
        let (stores, dir) = (stores.clone(), cache_dir.clone());
        Arc::new(move |path| Engine::load(path, &stores, dir.as_deref()))
    };
    let policy = Watched::load(&args.policy, &*loader).map_err(|e| {
        Failure::usage(anyhow!("{e}").context(format!("policy {}", args.policy.display())))
    })?;
    let policy = Arc::new(policy);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let certificate = ReloadingCertificate::load(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
            .map_err(Failure::usage)?;
            Some(certificate.server_config().map_err(Failure::usage)?)
        }
        _ => None,
    };
    let mirror = Arc::new(Mirror::new(
        MirrorOptions {
            upstreams: Upstreams {
                default: args.upstream.first().cloned(),
                allowed: args.upstream.clone(),
                any: args.any_upstream,
            },
            decision_ttl: Duration::from_secs(args.decision_ttl.max(1)),
            verify_timeout: Duration::from_secs(args.verify_timeout.max(1)),
            max_blob_bytes: args.max_blob_bytes,
            cache_dir,
            ..MirrorOptions::default()
        },
        stores,
        Arc::clone(&policy),
    ));
    {
        let mirror = Arc::clone(&mirror);
        policy.spawn_reloader(
            Duration::from_secs(args.reload_interval.max(1)),
            loader,
            Arc::new(move |outcome: &Reload| mirror.policy_reloaded(outcome)),
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))
        .map_err(Failure::usage)?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::usage(anyhow!(e)))?;
    vouch_server::log::info(serde_json::json!({
        "event": "listening",
        "address": address.to_string(),
        "scheme": if tls.is_some() { "https" } else { "http" },
        "upstreams": args.upstream,
        "policy": args.policy.display().to_string(),
    }));
    vouch_server::serve(listener, tls, mirror, Limits::default(), shutdown())
        .await
        .context("serving")
        .map_err(|e| Failure::new(Exit::Unreachable, e))?;
    Ok(Exit::Ok)
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
