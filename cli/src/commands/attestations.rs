//! `vouch attestations`: fetch each image's `.att` layers, show the statements whose DSSE
//! signature verifies (under a given key, or keyless under the trusted root for a given
//! identity, or as a policy's signers) and that are about the image digest; with `--type`
//! judge them (the newest decides; `--max-age`, `--condition`), with `--policy` judge what
//! the image's rule requires of attestations.

use anyhow::anyhow;
use vouch_attest::judge::{self, parse_age};
use vouch_attest::{AttestationRequirement, Condition, predicate};
use vouch_oci::reference::{Digest, ImageRef};
use vouch_policy::{AttestationVerdict, ImageFacts, RuleKind, Timestamp};
use vouch_registry::StoreOptions;
use vouch_registry::resolve::resolve;
use vouch_sigstore::{TrustedRoot, UnixTime};
use vouch_verify::attestations::{
    Rejected, VerifiedAttestation, fetch_attestations, fetch_referrer_bundles, verify_attestations,
    verify_bundle_attestations,
};
use vouch_verify::judge::SignatureJudge;
use vouch_verify::{KeylessMatcher, LoadedPolicy, TrustedKey};

use super::verify::{keyless_matchers, load_trusted_root};
use crate::args::{AttestationsArgs, OutputFormat};
use crate::exit::{Exit, Failure};
use crate::inputs::{collect_images, load_policy_or_fail, load_trusted_keys, open_stores};
use crate::render::print_json;

/// Whose attestations count.
enum Trust {
    /// `--key` and the keyless flags.
    Given {
        keys: Vec<TrustedKey>,
        identities: Vec<KeylessMatcher>,
        root: Option<TrustedRoot>,
        unlogged_at: Option<UnixTime>,
    },
    /// `--policy`: its signers, for what the image's rule requires.
    Policy(Box<LoadedPolicy>),
}

impl Trust {
    fn judge(&self, at: i64) -> SignatureJudge<'_> {
        match self {
            Trust::Given {
                keys,
                identities,
                root,
                unlogged_at,
            } => SignatureJudge {
                keys,
                root: root.as_ref(),
                keyless: !identities.is_empty(),
                unlogged_at: *unlogged_at,
            },
            Trust::Policy(loaded) => loaded.judge(Timestamp::from_unix(at)),
        }
    }

    fn key_source(&self, key_id: &str) -> String {
        let keys = match self {
            Trust::Given { keys, .. } => keys.as_slice(),
            Trust::Policy(loaded) => loaded.keys.as_slice(),
        };
        keys.iter()
            .find(|k| k.key_id == key_id)
            .map_or_else(|| key_id.to_string(), |k| k.source.clone())
    }
}

async fn load_trust(args: &AttestationsArgs) -> Result<Trust, Failure> {
    if let Some(path) = &args.policy {
        let mut loaded = load_policy_or_fail(path)?;
        if !loaded.trusted_root_named
            && loaded.policy.has_keyless()
            && let Some(root) =
                super::trust_root::cached_root(args.tuf_url.as_deref(), false).await?
        {
            loaded.trusted_root = Some(root);
        }
        return Ok(Trust::Policy(Box::new(loaded)));
    }
    let keys = load_trusted_keys(&args.keys)?;
    let identities = keyless_matchers(&args.keyless)?;
    let root = match args.keyless.trusted_root.as_deref() {
        Some(path) => Some(load_trusted_root(path)?),
        // Key-signed bundles are checked against a root too (their log entry or timestamp,
        // if any); key-only runs never read the cache, as `vouch verify`.
        None if identities.is_empty() => vouch_sigstore::production_root().cloned(),
        None => super::trust_root::cached_root(args.tuf_url.as_deref(), false)
            .await?
            .or_else(|| vouch_sigstore::production_root().cloned()),
    };
    let unlogged_at = args.keyless.insecure_ignore_tlog.then(|| {
        let now = vouch_verify::judgement_time(None).map_or(0, |t| t.unix());
        UnixTime::from_secs(now)
    });
    Ok(Trust::Given {
        keys,
        identities,
        root,
        unlogged_at,
    })
}

/// Who signed an attestation, for display: key files, and the certificate identity.
fn signers(v: &VerifiedAttestation, trust: &Trust) -> Vec<String> {
    let mut out: Vec<String> = v.key_ids.iter().map(|k| trust.key_source(k)).collect();
    if let Some(id) = &v.identity {
        out.push(format!("{} ({})", id.subject, id.issuer));
    }
    out
}

/// With the keyless flags, keyless attestations by another identity are set aside.
fn keep_given_identities(
    verified: Vec<VerifiedAttestation>,
    rejected: &mut Vec<Rejected>,
    trust: &Trust,
) -> Vec<VerifiedAttestation> {
    let Trust::Given { identities, .. } = trust else {
        return verified;
    };
    let mut kept = Vec::new();
    for v in verified {
        match &v.identity {
            Some(id) if !identities.iter().any(|m| m.matches(id)) => rejected.push(Rejected {
                source: v.source.clone(),
                claimed_type: Some(v.statement.predicate_type.clone()),
                reason: format!(
                    "keyless, by identity {:?} from issuer {:?}, not {}",
                    id.subject,
                    id.issuer,
                    identities
                        .iter()
                        .map(KeylessMatcher::describe)
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            }),
            _ => kept.push(v),
        }
    }
    kept
}

/// What the policy's rule for `image` says of its attestations (`None`: it requires none).
fn policy_verdicts(
    loaded: &LoadedPolicy,
    image: &ImageRef,
    digest: &Digest,
    verified: &[VerifiedAttestation],
    only_type: Option<&str>,
    at: i64,
) -> Option<Vec<AttestationVerdict>> {
    let repository = image.default_identity();
    let rule = loaded
        .policy
        .select_rule(&repository)
        .and_then(|s| loaded.policy.rule(&s.name))?;
    let RuleKind::Require(req) = &rule.kind else {
        return None;
    };
    if req.attestations.is_empty() {
        return None;
    }
    let facts = ImageFacts {
        repository,
        tag: image.tag().map(str::to_string),
        digest: digest.to_string(),
        signatures: Vec::new(),
        attestations: verified
            .iter()
            .flat_map(VerifiedAttestation::facts)
            .collect(),
    };
    let evaluation = loaded.policy.evaluate(&facts, Timestamp::from_unix(at));
    Some(
        evaluation
            .attestations
            .into_iter()
            .filter(|v| only_type.is_none_or(|t| t == v.predicate_type))
            .collect(),
    )
}

pub async fn run(args: AttestationsArgs, options: StoreOptions) -> Result<Exit, Failure> {
    let trust = load_trust(&args).await?;
    let only_type = args
        .predicate_type
        .as_deref()
        .map(predicate::resolve)
        .transpose()
        .map_err(Failure::usage)?;
    let requirement = match (&only_type, &trust) {
        (Some(t), Trust::Given { .. }) => Some(AttestationRequirement {
            predicate_type: t.clone(),
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
        _ => None,
    };
    let at = vouch_verify::judgement_time(args.at.as_deref())
        .map_err(|e| Failure::usage(anyhow!(e)))?
        .unix();
    let images = collect_images(&args.images, None)?;
    let stores = open_stores(&options)?;
    let signature_judge = trust.judge(at);
    let mut exit = Exit::Ok;
    let mut out = Vec::new();
    for image in &images {
        let repo = stores.repo(image);
        let fetched = async {
            let resolved = resolve(&repo, image, false, stores.limits()).await?;
            let layers =
                fetch_attestations(&repo, image, &resolved.digest, stores.limits()).await?;
            let bundles =
                fetch_referrer_bundles(&repo, image, &resolved.digest, stores.limits()).await?;
            Ok::<_, vouch_registry::StoreError>((resolved.digest, layers, bundles))
        };
        let (digest, layers, bundles) = match fetched.await {
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
        let (mut verified, mut rejected) = verify_attestations(&layers, &digest, &signature_judge);
        let (from_bundles, bundles_rejected) =
            verify_bundle_attestations(&bundles, &digest, &signature_judge);
        verified.extend(from_bundles);
        rejected.extend(bundles_rejected);
        let verified = keep_given_identities(verified, &mut rejected, &trust);
        let shown: Vec<&VerifiedAttestation> = verified
            .iter()
            .filter(|v| {
                only_type
                    .as_ref()
                    .is_none_or(|t| *t == v.statement.predicate_type)
            })
            .collect();
        let decision = requirement.as_ref().map(|r| {
            let matching: Vec<_> = shown
                .iter()
                .map(|v| v.statement_for(signers(v, &trust)))
                .collect();
            judge::judge(r, &matching, &image.default_identity(), &digest, at)
        });
        let verdicts = match &trust {
            Trust::Policy(loaded) => {
                policy_verdicts(loaded, image, &digest, &verified, only_type.as_deref(), at)
            }
            Trust::Given { .. } => None,
        };
        let passed = match (&decision, &verdicts) {
            (Some(d), _) => d.passed,
            (None, Some(v)) if !v.is_empty() => v.iter().all(|v| v.passed),
            _ => !shown.is_empty(),
        };
        exit = exit.worst(Exit::of_check(passed));
        let pinned = image.pinned_display(&digest);
        match args.output {
            OutputFormat::Text => {
                let verdict = if passed { "ok" } else { "REFUSED" };
                println!("{pinned}: {verdict}");
                for v in &shown {
                    let logged = match (v.log_index, v.signed_at) {
                        (Some(index), Some(t)) => {
                            format!(", log index {index}, signed {}", UnixTime::from_secs(t))
                        }
                        _ if v.unlogged => ", no transparency-log entry".to_string(),
                        _ => String::new(),
                    };
                    println!(
                        "  {}: {} signed by {}{logged}",
                        v.source,
                        v.statement.predicate_type,
                        signers(v, &trust).join(", ")
                    );
                }
                for r in &rejected {
                    println!("  {}: not counted: {}", r.source, r.reason);
                }
                if let Some(d) = &decision {
                    print_decided(&d.statements);
                    println!("  {}", d.reason);
                }
                match &verdicts {
                    Some(verdicts) => {
                        for v in verdicts {
                            let word = if v.passed { "passed" } else { "REFUSED" };
                            println!("  attestation {}: {word}", v.written_type);
                            print_decided(&v.statements);
                            println!("    {}", v.reason);
                        }
                        if verdicts.is_empty() {
                            println!("  the policy's rule requires no attestation of that type");
                        }
                    }
                    None if matches!(trust, Trust::Policy(_)) => println!(
                        "  the policy's rule for {} requires no attestations",
                        image.default_identity()
                    ),
                    None => {}
                }
                if decision.is_none() && verdicts.is_none() && shown.is_empty() {
                    println!("  no verified attestation of {digest} by the given signers");
                }
            }
            OutputFormat::Json => {
                let statements: Vec<_> = shown
                    .iter()
                    .map(|v| {
                        let mut entry = serde_json::json!({
                            "source": v.source,
                            "signers": signers(v, &trust),
                            "statement": v.statement,
                        });
                        if let Some(id) = &v.identity {
                            entry["identity"] = serde_json::to_value(id).unwrap_or_default();
                            entry["log_index"] = v.log_index.into();
                            entry["signed_at"] = v
                                .signed_at
                                .map(|t| UnixTime::from_secs(t).to_string())
                                .into();
                        }
                        entry
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
                if let Some(v) = &verdicts {
                    entry["requirements"] = serde_json::to_value(v).unwrap_or_default();
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

fn print_decided(statements: &[judge::Judged]) {
    for s in statements.iter().filter(|s| s.decided) {
        println!(
            "  decided by {}{}",
            s.source,
            s.dated
                .as_deref()
                .map(|t| format!(" (dated {t})"))
                .unwrap_or_default()
        );
    }
}
