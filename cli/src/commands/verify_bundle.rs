//! `vouch verify-bundle`: the sigstore-conformance client protocol over [`verify_bundle`].

use std::path::Path;

use anyhow::{Context, anyhow};

use vouch_keys as keys;
use vouch_sigstore::{
    Artifact, IdentityPolicy, PRODUCTION_TRUSTED_ROOT, STAGING_TRUSTED_ROOT, TrustedRoot,
    verify_bundle,
};

use crate::args::{OutputFormat, VerifyBundleArgs};
use crate::exit::{Exit, Failure, OrExit};

/// The artifact argument: `sha256:<64 hex>` is a digest unless a file by that name exists.
pub fn parse_artifact(arg: &str) -> Result<Artifact, Failure> {
    if !Path::new(arg).exists()
        && let Some(a) = Artifact::from_sha256_ref(arg)
    {
        return Ok(a);
    }
    let bytes = std::fs::read(arg)
        .with_context(|| format!("cannot read artifact {arg}"))
        .or_usage()?;
    Ok(Artifact::Bytes(bytes))
}

/// Run `verify-bundle`.
pub fn run(args: &VerifyBundleArgs) -> Result<Exit, Failure> {
    let bundle = std::fs::read(&args.bundle)
        .with_context(|| format!("cannot read bundle {}", args.bundle.display()))
        .or_usage()?;
    let root_json = match &args.trusted_root {
        Some(p) => std::fs::read(p)
            .with_context(|| format!("cannot read trusted root {}", p.display()))
            .or_usage()?,
        None if args.staging => STAGING_TRUSTED_ROOT.as_bytes().to_vec(),
        None => PRODUCTION_TRUSTED_ROOT.as_bytes().to_vec(),
    };
    let root = TrustedRoot::from_json(&root_json).or_usage()?;
    let policy = match (
        &args.key,
        &args.certificate_identity,
        &args.certificate_oidc_issuer,
    ) {
        (Some(key), None, None) => IdentityPolicy::Key(keys::load_public_key(key)?),
        (None, Some(subject), Some(issuer)) => IdentityPolicy::Identity {
            subject: subject.clone(),
            issuer: issuer.clone(),
        },
        _ => {
            return Err(Failure::usage(anyhow!(
                "give either --key, or both --certificate-identity and --certificate-oidc-issuer"
            )));
        }
    };
    let artifact = parse_artifact(&args.artifact)?;
    match verify_bundle(&bundle, &artifact, &policy, &root) {
        Ok(v) => {
            match args.output {
                OutputFormat::Text => {
                    let who = match (&v.identity, &v.key_id) {
                        (Some(id), _) => format!("{} ({})", id.subject, id.issuer),
                        (None, Some(k)) => format!("key {k}"),
                        (None, None) => "unknown signer".into(),
                    };
                    match v.signing_time {
                        Some(t) => println!("Verified OK: signed by {who} at {t}"),
                        None => println!("Verified OK: signed by {who}"),
                    }
                }
                OutputFormat::Json => {
                    let out = serde_json::json!({
                        "verified": true,
                        "signing_time": v.signing_time.map(|t| t.to_string()),
                        "identity": v.identity.as_ref().map(|i| serde_json::json!({"subject": i.subject, "issuer": i.issuer})),
                        "key_id": v.key_id,
                        "payload_type": v.payload_type,
                        "log_entries": v.log_entries.iter().map(|e| serde_json::json!({"log": e.log, "log_index": e.log_index, "kind": e.kind})).collect::<Vec<_>>(),
                    });
                    println!("{out:#}");
                }
            }
            Ok(Exit::Ok)
        }
        Err(e) => Err(Failure::new(
            Exit::Refused,
            anyhow!("bundle verification failed: {e}"),
        )),
    }
}
