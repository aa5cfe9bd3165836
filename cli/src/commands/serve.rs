//! `vouch serve`: the Kubernetes admission webhook (vouch-admission) on its listener.

use std::time::Duration;

use anyhow::anyhow;
use vouch_admission::{ServeConfig, ServeError, Settings};
use vouch_registry::StoreOptions;
use vouch_server::{Limits, TlsFiles};

use crate::args::ServeArgs;
use crate::exit::{Exit, Failure};
use crate::inputs::open_stores;

/// `vouch serve`.
pub async fn run(args: ServeArgs, options: StoreOptions) -> Result<Exit, Failure> {
    if !(args.deadline.is_finite() && args.deadline > 0.0 && args.deadline <= 30.0) {
        return Err(Failure::usage(anyhow!(
            "--deadline {} is not between 0 and 30 seconds (the API server waits at most 30)",
            args.deadline
        )));
    }
    let stores = open_stores(&options)?;
    let config = ServeConfig {
        policy: args.policy,
        listen: args.listen,
        tls: TlsFiles {
            cert: args.tls_cert,
            key: args.tls_key,
        },
        cache: !args.no_cache,
        reload_interval: Duration::from_secs(args.reload_interval.max(1)),
        settings: Settings {
            deadline: Duration::from_secs_f64(args.deadline),
            max_reviews_in_flight: args.max_reviews.max(1),
            max_verifications: args.max_verifications.max(1),
            allow_ttl: Duration::from_secs(args.verified_ttl),
            deny_ttl: Duration::from_secs(args.refused_ttl),
            ..Settings::default()
        },
        limits: Limits::default(),
        shutdown_delay: Duration::from_secs(args.shutdown_delay),
    };
    match vouch_admission::run(config, stores).await {
        Ok(()) => Ok(Exit::Ok),
        Err(e @ ServeError::Policy(_)) => Err(Failure::usage(anyhow!(
            "{}\nthe policy does not load; check it with `vouch policy check`",
            e.to_string().trim_end()
        ))),
        Err(e) => Err(Failure::usage(anyhow!(e))),
    }
}
