//! One image judged for admission: its reference read (registry references only — a pod spec
//! naming an `oci:` layout would make the server read its own files), verified against the
//! policy in force at the time of the request, and the report summed up as an
//! [`ImageVerdict`].

use std::collections::BTreeSet;
use std::path::Path;

use vouch_oci::reference::ImageRef;
use vouch_registry::Stores;
use vouch_registry::cache::{Cache, CacheMode};
use vouch_verify::{PolicyTrust, Report, Trust, Verifier, judgement_time, load_policy};

use crate::decide::{ImageVerdict, Judgement};

/// The policy in force: its verifier and its exempt namespaces.
pub struct Engine {
    verifier: Verifier,
    exempt: BTreeSet<String>,
    rules: usize,
}

impl Engine {
    /// Loads the policy at `path` (its keys and trusted root), to verify through `stores`,
    /// with the verification cache when `cache` is set. The error is the rendered
    /// diagnostics, file:line:col.
    pub fn load(path: &Path, stores: &Stores, cache: bool) -> Result<Engine, String> {
        let loaded = load_policy(path).map_err(|e| e.to_string())?;
        if !loaded.warnings.is_empty() {
            vouch_server::log::warn(serde_json::json!({
                "event": "policy-warnings",
                "policy": path.display().to_string(),
                "warnings": loaded.warnings,
            }));
        }
        let exempt = loaded.policy.exempt_namespaces().clone();
        let rules = loaded.policy.rules().len();
        let at = judgement_time(None)?;
        let trust = Trust::Policy(Box::new(PolicyTrust {
            loaded,
            at,
            platform: None,
            all_platforms: false,
        }));
        let mode = if cache {
            CacheMode::Normal
        } else {
            CacheMode::Disabled
        };
        Ok(Engine {
            verifier: Verifier::new(stores.clone(), trust).cache(Cache::open(mode)),
            exempt,
            rules,
        })
    }

    /// Whether objects in `namespace` are admitted unchecked (`exempt.namespaces`).
    pub fn exempts(&self, namespace: &str) -> bool {
        self.exempt.contains(namespace)
    }

    /// How many rules the policy has (for the reload log).
    pub fn rules(&self) -> usize {
        self.rules
    }

    /// Judges one reference as written in a pod spec.
    pub async fn judge(&self, reference: &str) -> ImageVerdict {
        let image = match vouch_oci::reference::parse(reference) {
            Ok(ImageRef::Registry(r)) => ImageRef::Registry(r),
            Ok(ImageRef::Layout(_)) => {
                return refused("an oci: layout is not an image a node can pull".into());
            }
            Err(e) => return refused(format!("not a valid image reference: {e}")),
        };
        let at = judgement_time(None).ok();
        let report = self.verifier.verify_at(&image, at).await;
        verdict_of(&report)
    }
}

fn refused(reason: String) -> ImageVerdict {
    ImageVerdict {
        judgement: Judgement::Deny,
        digest: None,
        reason,
    }
}

/// The verdict a report amounts to, with the reason the policy gave.
pub fn verdict_of(report: &Report) -> ImageVerdict {
    let judgement = if report.unreachable() {
        Judgement::Unreachable
    } else if report.warns() {
        Judgement::Warn
    } else if report.passes() {
        Judgement::Allow
    } else {
        Judgement::Deny
    };
    let (digest, reason) = match report {
        Report::Keys(r) => (
            r.digest.as_ref().map(ToString::to_string),
            r.reason.clone().unwrap_or_default(),
        ),
        Report::Policy(r) => {
            let reason = match &r.error {
                Some(e) => e.clone(),
                None => r
                    .judged
                    .iter()
                    .map(|j| {
                        let e = &j.evaluation;
                        let platform = j
                            .platform
                            .as_deref()
                            .map(|p| format!("{p}: "))
                            .unwrap_or_default();
                        let rule = e
                            .rule
                            .as_ref()
                            .map(|r| format!("rule {:?}: ", r.name))
                            .unwrap_or_default();
                        format!("{platform}{rule}{}", e.reasons.join("; "))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            (r.digest.as_ref().map(ToString::to_string), reason)
        }
    };
    let reason = match judgement {
        Judgement::Allow => String::new(),
        Judgement::Unreachable => format!("registry unreachable, refused (fail closed): {reason}"),
        _ => reason,
    };
    ImageVerdict {
        judgement,
        digest,
        reason,
    }
}
