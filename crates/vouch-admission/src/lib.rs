//! vouch's Kubernetes admission webhook (`vouch serve`): the API server sends every Pod and
//! workload before storing it; vouch verifies each image against the trust policy and answers
//! `allowed`, or refused with a message naming each refused image and why, and (mutating) a
//! JSON Patch pinning each verified tag to the digest verified.
//!
//! Trust boundary: the AdmissionReview bytes from the network (read by [`review`] with
//! bounds) and the registries (read by vouch-verify). Fails closed: a review that cannot be
//! judged in time, an unreachable registry, a malformed body are refusals. [`decide`] is the
//! pure decision, [`judge`] one image against the policy, [`service`] the endpoints; [`run`]
//! puts them on a listener.
#![forbid(unsafe_code)]

pub mod decide;
pub mod judge;
pub mod review;
pub mod service;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vouch_registry::Stores;
use vouch_server::{Limits, ReloadingCertificate, TlsFiles, Watched};

pub use service::{Admission, Settings};

/// Everything `vouch serve` is given.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The trust policy file (reloaded on change and on SIGHUP).
    pub policy: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The serving certificate and key (re-read when they change).
    pub tls: TlsFiles,
    /// Use the verification cache on disk.
    pub cache: bool,
    /// How often the policy file is looked at.
    pub reload_interval: Duration,
    /// Review bounds.
    pub settings: Settings,
    /// Connection bounds.
    pub limits: Limits,
    /// After SIGTERM, how long to go on answering (not ready) before closing, so the
    /// Service's endpoints drop this Pod first.
    pub shutdown_delay: Duration,
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The policy does not load (rendered diagnostics).
    #[error("{0}")]
    Policy(String),
    /// The certificate or key does not load.
    #[error("{0}")]
    Tls(String),
    /// The address cannot be listened on.
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        reason: String,
    },
}

/// Serves the webhook until SIGTERM or Ctrl-C (then answers, not ready, for
/// `shutdown_delay` more). Logs `{"event":"listening","address":…}` once
/// the policy and certificate are loaded and the port is open.
pub async fn run(config: ServeConfig, stores: Stores) -> Result<(), ServeError> {
    let cache = config.cache;
    let loader_stores = stores.clone();
    let loader: vouch_server::watch::Loader<judge::Engine> =
        Arc::new(move |path| judge::Engine::load(path, &loader_stores, cache));
    let engine = Arc::new(Watched::load(&config.policy, &*loader).map_err(ServeError::Policy)?);
    let certificate = ReloadingCertificate::load(config.tls.clone())
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let tls = certificate
        .server_config()
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServeError::Listen {
            address: config.listen,
            reason: e.to_string(),
        })?;
    let address = listener.local_addr().unwrap_or(config.listen);
    let admission = Admission::new(Arc::clone(&engine), config.settings.clone());
    let _reloader = engine.spawn_reloader(config.reload_interval, loader, admission.on_reload());
    vouch_server::log::info(serde_json::json!({
        "event": "listening",
        "address": address.to_string(),
        "policy": config.policy.display().to_string(),
        "rules": engine.current().rules(),
        "deadline_seconds": config.settings.deadline.as_secs_f64(),
    }));
    let stopping = Arc::clone(&admission);
    let delay = config.shutdown_delay;
    let stop = async move {
        shutdown().await;
        stopping.stop_being_ready();
        vouch_server::log::info(serde_json::json!({
            "event": "stopping",
            "delay_seconds": delay.as_secs_f64(),
        }));
        tokio::time::sleep(delay).await;
    };
    vouch_server::serve(listener, Some(tls), admission, config.limits, stop)
        .await
        .map_err(|e| ServeError::Listen {
            address,
            reason: e.to_string(),
        })?;
    vouch_server::log::info(serde_json::json!({"event": "stopped"}));
    Ok(())
}

async fn shutdown() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
