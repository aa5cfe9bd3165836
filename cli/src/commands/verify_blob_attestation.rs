//! `vouch verify-blob-attestation`: attestations of a file (a release tarball, an npm package)
//! in Sigstore bundles, verified offline under a key or a keyless identity, their statements
//! read strictly, and with `--type` judged as image attestations are (the newest decides).

use std::path::Path;

use anyhow::anyhow;
use serde_json::json;
use vouch_attest::judge::{self, parse_age};
use vouch_attest::{
    ArtifactDigest, AttestationRequirement, Condition, VerifiedStatement, predicate, statement,
};
use vouch_policy::KeylessIdentity;
use vouch_sigstore::{
    Artifact, BundleError, HashAlgorithm, IdentityPolicy, PolicyMismatch, TrustedRoot,
    VerifyOptions, verify_bundle_with,
};
use vouch_verify::KeylessMatcher;

use super::blob::{MAX_BLOB_LEN, read_bounded};
use super::verify::{IdentityFlags, keyless_matcher, load_trusted_root};
use crate::args::{OutputFormat, VerifyBlobAttestationArgs};
use crate::exit::{Exit, Failure};
use crate::inputs::load_public_key;
use crate::render::print_json;

/// The largest bundle read: a DSSE envelope may carry an SBOM of several megabytes.
const MAX_ATTESTATION_BUNDLE_BYTES: u64 = 16 * 1024 * 1024;

/// The file or digest the statements must be about.
struct Subject {
    /// What the bundle verifier checks the statement's subjects against.
    artifact: Artifact,
    /// The digests known for it, in the order they are tried for judging.
    digests: Vec<ArtifactDigest>,
    /// The condition's `image.name`: the file name, or empty for a digest.
    name: String,
}

fn read_subject(arg: &str) -> Result<Subject, Failure> {
    let path = Path::new(arg);
    if !path.exists()
        && let Some(digest) = ArtifactDigest::parse(arg)
    {
        let algorithm = match digest.algorithm.as_str() {
            "sha512" => HashAlgorithm::Sha512,
            _ => HashAlgorithm::Sha256,
        };
        let raw = hex::decode(&digest.hex).map_err(|e| Failure::usage(anyhow!("{arg}: {e}")))?;
        return Ok(Subject {
            artifact: Artifact::Digest {
                algorithm,
                digest: raw,
            },
            digests: vec![digest],
            name: String::new(),
        });
    }
    if !path.exists() {
        return Err(Failure::usage(anyhow!(
            "{arg}: no such file, and not a digest (sha256:<64 hex> or sha512:<128 hex>)"
        )));
    }
    let bytes = read_bounded(path, MAX_BLOB_LEN, "file")?;
    let digests = [
        ("sha256", HashAlgorithm::Sha256),
        ("sha512", HashAlgorithm::Sha512),
    ]
    .into_iter()
    .map(|(name, algorithm)| ArtifactDigest {
        algorithm: name.into(),
        hex: hex::encode(algorithm.digest(&bytes)),
    })
    .collect();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Subject {
        artifact: Artifact::Bytes(bytes),
        digests,
        name,
    })
}

/// Who may have signed: a key, a keyless identity, or either.
struct Trust {
    key: Option<(vouch_keys::PublicKey, String)>,
    identity: Option<KeylessMatcher>,
    root: TrustedRoot,
}

/// Verifies one bundle and reads its statement; the signer is named for reports.
fn verify_one(
    bytes: &[u8],
    subject: &Subject,
    trust: &Trust,
) -> Result<(statement::Statement, String, Option<i64>), String> {
    let mut certificate_signed = false;
    if let Some((key, source)) = &trust.key {
        let options = VerifyOptions {
            allow_untimed_key_signatures: true,
            ..VerifyOptions::default()
        };
        let policy = IdentityPolicy::Key(key.clone());
        match verify_bundle_with(bytes, &subject.artifact, &policy, &trust.root, &options) {
            Ok(v) => return read_statement(&v, format!("key {source}")),
            Err(BundleError::Policy(PolicyMismatch::CertificateInsteadOfKey)) => {
                certificate_signed = true;
            }
            Err(e) if trust.identity.is_none() => return Err(e.to_string()),
            Err(_) => {}
        }
    }
    let Some(matcher) = &trust.identity else {
        debug_assert!(certificate_signed);
        return Err("signed with a certificate (keyless), not a key: give --certificate-identity and --certificate-oidc-issuer".into());
    };
    let options = VerifyOptions::default();
    let v = verify_bundle_with(
        bytes,
        &subject.artifact,
        &IdentityPolicy::AnyCertificate,
        &trust.root,
        &options,
    )
    .map_err(|e| match e {
        BundleError::Policy(PolicyMismatch::KeyInsteadOfCertificate) => {
            "signed with a key, not a certificate: give --key".to_string()
        }
        e => e.to_string(),
    })?;
    let Some(id) = &v.identity else {
        return Err("the certificate names no identity".into());
    };
    let identity = KeylessIdentity {
        issuer: id.issuer.clone(),
        subject: id.subject.clone(),
    };
    if !matcher.matches(&identity) {
        return Err(format!(
            "signed by {} ({}), not {}",
            identity.subject,
            identity.issuer,
            matcher.describe()
        ));
    }
    read_statement(&v, format!("{} ({})", identity.subject, identity.issuer))
}

fn read_statement(
    v: &vouch_sigstore::VerifiedBundle,
    signer: String,
) -> Result<(statement::Statement, String, Option<i64>), String> {
    let payload = v
        .payload
        .as_deref()
        .ok_or("a message signature, not a DSSE attestation")?;
    let statement = statement::parse(payload).map_err(|e| e.to_string())?;
    Ok((statement, signer, v.signing_time.map(|t| t.secs())))
}

/// `vouch verify-blob-attestation`.
pub fn run(args: &VerifyBlobAttestationArgs) -> Result<Exit, Failure> {
    let identity = keyless_matcher(&IdentityFlags {
        identity: args.certificate_identity.as_deref(),
        identity_regexp: args.certificate_identity_regexp.as_deref(),
        issuer: args.certificate_oidc_issuer.as_deref(),
        issuer_regexp: args.certificate_oidc_issuer_regexp.as_deref(),
    })?;
    let key = match &args.key {
        Some(path) => Some((load_public_key(path)?.0, path.display().to_string())),
        None => None,
    };
    let root = match &args.trusted_root {
        Some(path) => load_trusted_root(path)?,
        None => vouch_sigstore::production_root().cloned().ok_or_else(|| {
            Failure::usage(anyhow!("the built-in trusted root could not be loaded"))
        })?,
    };
    let requirement = match &args.predicate_type {
        None => None,
        Some(t) => Some(AttestationRequirement {
            predicate_type: predicate::resolve(t).map_err(Failure::usage)?,
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
    };
    let at = vouch_verify::judgement_time(args.at.as_deref())
        .map_err(|e| Failure::usage(anyhow!(e)))?
        .unix();
    let subject = read_subject(&args.artifact)?;
    let trust = Trust {
        key,
        identity,
        root,
    };

    let mut verified: Vec<VerifiedStatement> = Vec::new();
    let mut rejected: Vec<(String, String)> = Vec::new();
    for path in &args.bundles {
        let source = format!("bundle {}", path.display());
        let bytes = read_bounded(path, MAX_ATTESTATION_BUNDLE_BYTES, "bundle")?;
        match verify_one(&bytes, &subject, &trust) {
            Ok((statement, signer, signed_at)) => verified.push(VerifiedStatement {
                statement,
                signers: vec![signer],
                signed_at,
                source,
            }),
            Err(reason) => rejected.push((source, reason)),
        }
    }
    // Judged under the algorithm the verified statements name the file by.
    let digest = subject
        .digests
        .iter()
        .find(|d| verified.iter().any(|v| v.statement.is_about_artifact(d)))
        .unwrap_or(&subject.digests[0])
        .clone();
    let shown: Vec<VerifiedStatement> = verified
        .into_iter()
        .filter(|v| {
            requirement
                .as_ref()
                .is_none_or(|r| r.predicate_type == v.statement.predicate_type)
        })
        .collect();
    let decision = requirement
        .as_ref()
        .map(|r| judge::judge_artifact(r, &shown, &subject.name, &digest, at));
    let passed = match &decision {
        Some(d) => d.passed,
        None => !shown.is_empty(),
    };
    match args.output {
        OutputFormat::Text => {
            let verdict = if passed { "ok" } else { "REFUSED" };
            match subject.name.as_str() {
                "" => println!("{digest}: {verdict}"),
                _ => println!("{} ({digest}): {verdict}", args.artifact),
            }
            for v in &shown {
                println!(
                    "  {}: {} signed by {}",
                    v.source,
                    v.statement.predicate_type,
                    v.signers.join(", ")
                );
            }
            for (source, reason) in &rejected {
                println!("  {source}: not counted: {reason}");
            }
            match &decision {
                Some(d) => {
                    for s in d.statements.iter().filter(|s| s.decided) {
                        let dated = s.dated.as_deref().map(|t| format!(" (dated {t})"));
                        println!("  decided by {}{}", s.source, dated.unwrap_or_default());
                    }
                    println!("  {}", d.reason);
                }
                None if shown.is_empty() => println!("  no attestation of {digest} verified"),
                None => {}
            }
        }
        OutputFormat::Json => {
            let statements: Vec<_> = shown
                .iter()
                .map(
                    |v| json!({"source": v.source, "signers": v.signers, "statement": v.statement}),
                )
                .collect();
            let rejected: Vec<_> = rejected
                .iter()
                .map(|(source, reason)| json!({"source": source, "reason": reason}))
                .collect();
            let mut out = json!({
                "artifact": args.artifact,
                "digest": digest.to_string(),
                "passed": passed,
                "attestations": statements,
                "rejected": rejected,
            });
            if let Some(d) = &decision {
                out["decision"] = serde_json::to_value(d).unwrap_or_default();
            }
            print_json(&out)?;
        }
    }
    Ok(Exit::of_check(passed))
}
