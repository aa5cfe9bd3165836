//! `vouch sign-blob` and `vouch verify-blob`: files signed in cosign's blob formats, a base64
//! signature (ECDSA over the file's SHA-256, or pure Ed25519) or a Sigstore bundle with a
//! message signature, so cosign's `sign-blob`/`verify-blob` and vouch read each other's;
//! `sign-blob --keyless` writes a keyless bundle (Fulcio certificate, Rekor entry).

use std::path::Path;

use anyhow::{Context, anyhow};
use base64::Engine as _;
use vouch_sigstore::build::key_signed_message_bundle;
use vouch_sigstore::{Artifact, IdentityPolicy, VerifyOptions, verify_bundle_with};

use crate::args::{OutputFormat, SignBlobArgs, VerifyBlobArgs};
use crate::exit::{Exit, Failure, OrExit};
use crate::inputs::{load_public_key, load_signing_key};

/// The largest file signed or verified: read whole, as Ed25519 signs the message itself.
pub const MAX_BLOB_LEN: u64 = 1 << 30;
/// The largest signature or bundle file read.
const MAX_SIGNATURE_FILE_LEN: u64 = 1 << 20;

pub fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, Failure> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {what} {}", path.display()))
        .or_usage()?;
    if bytes.len() as u64 > max {
        return Err(Failure::usage(anyhow!(
            "{what} {} is larger than the {max}-byte limit",
            path.display()
        )));
    }
    Ok(bytes)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
        .or_usage()
}

/// `vouch sign-blob --keyless`: the file signed by a keyless session and the bundle written
/// only once it verified.
pub async fn sign_keyless(args: &SignBlobArgs) -> Result<Exit, Failure> {
    let bundle_path = args
        .bundle
        .as_deref()
        .ok_or_else(|| Failure::usage(anyhow!("--keyless writes a bundle: give --bundle FILE")))?;
    let message = read_bounded(&args.file, MAX_BLOB_LEN, "file")?;
    let signer = super::sign_keyless::start_session(&args.keyless, false).await?;
    let identity = signer.identity().clone();
    if args.output == OutputFormat::Text {
        eprintln!("signing as {identity}");
    }
    let file = args.file.display().to_string();
    let bundle = signer.sign_message(&message).await.map_err(|e| {
        Failure::new(
            Exit::of_keyless(&e),
            anyhow!("signing {file}: {e} (nothing was written)"),
        )
    })?;
    write(bundle_path, &bundle.json)?;
    match args.output {
        OutputFormat::Text => println!("{file} (bundle written to {})", bundle_path.display()),
        OutputFormat::Json => {
            let out = serde_json::json!({
                "file": file,
                "bundle_file": bundle_path.display().to_string(),
                "certificate_identity": identity.subject,
                "certificate_oidc_issuer": identity.issuer,
                "log_entries": bundle.log_entries.len(),
                "timestamps": bundle.timestamps,
            });
            println!("{out:#}");
        }
    }
    Ok(Exit::Ok)
}

/// `vouch sign-blob`.
pub fn sign(args: &SignBlobArgs) -> Result<Exit, Failure> {
    let key_path = args
        .key
        .as_deref()
        .ok_or_else(|| Failure::usage(anyhow!("give --key or --keyless")))?;
    let key = load_signing_key(
        key_path,
        args.password_file.as_deref(),
        args.allow_insecure_key_permissions,
    )?;
    let message = read_bounded(&args.file, MAX_BLOB_LEN, "file")?;
    let signature = key.sign_message(&message).or_usage()?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&signature);
    if let Some(path) = &args.bundle {
        let bundle = key_signed_message_bundle(key.as_ref(), &message).or_usage()?;
        write(path, &bundle)?;
    }
    match &args.output_signature {
        Some(path) => write(path, encoded.as_bytes())?,
        None => println!("{encoded}"),
    }
    Ok(Exit::Ok)
}

/// `vouch verify-blob`.
pub fn verify(args: &VerifyBlobArgs) -> Result<Exit, Failure> {
    let (public, source) = load_public_key(&args.key)?;
    let message = read_bounded(&args.file, MAX_BLOB_LEN, "file")?;
    let outcome = if let Some(path) = &args.signature {
        let text = read_bounded(path, MAX_SIGNATURE_FILE_LEN, "signature")?;
        let text = String::from_utf8_lossy(&text);
        let signature = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .with_context(|| format!("{}: not a base64 signature", path.display()))
            .or_usage()?;
        public
            .verify(&message, &signature)
            .map_err(|e| format!("the signature does not verify under key {source}: {e}"))
    } else if let Some(path) = &args.bundle {
        let bundle = read_bounded(path, MAX_SIGNATURE_FILE_LEN, "bundle")?;
        let root = vouch_sigstore::production_root().ok_or_else(|| {
            Failure::usage(anyhow!("the built-in trusted root could not be loaded"))
        })?;
        let options = VerifyOptions {
            allow_untimed_key_signatures: true,
            ..VerifyOptions::default()
        };
        verify_bundle_with(
            &bundle,
            &Artifact::Bytes(message),
            &IdentityPolicy::Key(public.clone()),
            root,
            &options,
        )
        .map(|_| ())
        .map_err(|e| format!("the bundle does not verify under key {source}: {e}"))
    } else {
        return Err(Failure::usage(anyhow!("give --signature or --bundle")));
    };
    let file = args.file.display().to_string();
    match (&outcome, args.output) {
        (Ok(()), OutputFormat::Text) => println!("Verified OK: {file} (key {})", public.key_id()),
        (Err(reason), OutputFormat::Text) => println!("REFUSED {file}: {reason}"),
        (_, OutputFormat::Json) => {
            let out = serde_json::json!({
                "file": file,
                "verified": outcome.is_ok(),
                "key_id": public.key_id(),
                "reason": outcome.as_ref().err(),
            });
            println!("{out:#}");
        }
    }
    Ok(Exit::of_check(outcome.is_ok()))
}
