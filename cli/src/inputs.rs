//! What the command line names, read and checked: image references (arguments and `--from`
//! lists), annotations, key files, policies, and the registry connection.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, anyhow};
use vouch_keys::{self as keys, PublicKey, Signer};
use vouch_oci::reference::{self, ImageRef};
use vouch_pkcs11::{OpenOptions, Pkcs11Signer, Pkcs11Uri};
use vouch_registry::{StoreOptions, Stores};
use vouch_verify::judge::TrustedKey;
use vouch_verify::policy_verify::{
    LoadedPolicy, PolicyLoadError, load_policy, load_policy_text, read_policy_text,
};

use crate::exit::Failure;

pub fn parse_annotations(pairs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
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

/// The references from the command line and `--from`, parsed.
pub fn collect_images(images: &[String], from: Option<&Path>) -> Result<Vec<ImageRef>, Failure> {
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

pub fn parse_images(images: &[String]) -> Result<Vec<ImageRef>, Failure> {
    images
        .iter()
        .map(|s| {
            reference::parse(s).map_err(|e| {
                let hint = layout_suggestion(s)
                    .map(|hint| format!(" ({hint})"))
                    .unwrap_or_default();
                Failure::usage(anyhow!("bad image reference {s:?}: {e:#}{hint}"))
            })
        })
        .collect()
}

pub fn load_trusted_keys(paths: &[std::path::PathBuf]) -> Result<Vec<TrustedKey>, Failure> {
    let mut out: Vec<TrustedKey> = Vec::new();
    for path in paths {
        let (key, source) = load_public_key(path)?;
        let key_id = key.key_id();
        if out.iter().any(|k| k.key_id == key_id) {
            continue;
        }
        out.push(TrustedKey {
            key,
            key_id,
            source,
        });
    }
    Ok(out)
}

/// A filesystem path given where a reference belongs: if it is an OCI layout, the `oci:`
/// reference for it.
fn layout_suggestion(text: &str) -> Option<String> {
    let path = Path::new(text);
    if path.join("oci-layout").is_file() {
        Some(format!("{text} is an OCI image layout: name it oci:{text}"))
    } else if path.is_dir() {
        Some(format!(
            "{text} is a directory; an OCI image layout is named oci:PATH"
        ))
    } else {
        None
    }
}

/// `--key pkcs11:…`: a key on a PKCS#11 token (RFC 7512 URI), else `None` for a key file.
/// The URI's PIN, if any, is never shown: errors and [`Pkcs11Uri`]'s `Display` redact it.
fn pkcs11_uri(key: &Path) -> Result<Option<Pkcs11Uri>, Failure> {
    let Some(text) = key.to_str().filter(|t| Pkcs11Uri::is_pkcs11_uri(t)) else {
        return Ok(None);
    };
    Pkcs11Uri::parse(text)
        .map(Some)
        .map_err(|e| Failure::usage(anyhow!("bad PKCS#11 URI in --key: {e}")))
}

/// The signing key `--key` names: an encrypted key file (its password from the environment,
/// `password_file` or a prompt), or `pkcs11:…` on a token (module and PIN from the URI or
/// `VOUCH_PKCS11_MODULE_PATH`/`VOUCH_PKCS11_PIN`, and cosign's `COSIGN_` spellings).
pub fn load_signing_key(
    key: &Path,
    password_file: Option<&Path>,
    allow_insecure_key_permissions: bool,
) -> Result<Box<dyn Signer>, Failure> {
    if let Some(uri) = pkcs11_uri(key)? {
        let signer = Pkcs11Signer::open(&uri, &OpenOptions::from_env())?;
        return Ok(Box::new(signer));
    }
    keys::refuse_public_key_file(key)?;
    let password = keys::obtain_password(password_file, false)?;
    let key = keys::load_private_key(key, password.as_bytes(), allow_insecure_key_permissions)?;
    Ok(Box::new(key))
}

/// A public key `--key` names: a `.pub` file, or the public half of a `pkcs11:…` key; with
/// how reports name it (the path, or the URI with any PIN redacted).
pub fn load_public_key(key: &Path) -> Result<(PublicKey, String), Failure> {
    if let Some(uri) = pkcs11_uri(key)? {
        let public = vouch_pkcs11::load_public_key(&uri, &OpenOptions::from_env())?;
        let public = public
            .to_vouch_key()
            .with_context(|| format!("the public key of {}", uri.describe_key()))
            .map_err(Failure::usage)?;
        return Ok((public, uri.to_string()));
    }
    Ok((keys::load_public_key(key)?, key.display().to_string()))
}

/// Loads a policy; on errors prints every diagnostic and fails with exit 2.
pub fn load_policy_or_fail(path: &Path) -> Result<LoadedPolicy, Failure> {
    policy_or_fail(path, load_policy(path))
}

/// `--policy P --policy-signature S --policy-key K`: the policy is used only if S (base64,
/// `sign-blob`'s format) verifies under K over exactly the bytes that are then loaded.
/// Key files the policy names are not covered by the signature; inline keys are.
pub fn load_signed_policy_or_fail(
    path: &Path,
    signature: &Path,
    key: &Path,
) -> Result<LoadedPolicy, Failure> {
    use base64::Engine as _;
    use std::io::Read as _;
    let text = read_policy_text(path)?;
    let (public, source) = load_public_key(key)?;
    let mut encoded = Vec::new();
    std::fs::File::open(signature)
        .and_then(|f| f.take(1 << 20).read_to_end(&mut encoded))
        .with_context(|| format!("cannot read policy signature {}", signature.display()))
        .map_err(Failure::usage)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(String::from_utf8_lossy(&encoded).trim())
        .with_context(|| format!("{}: not a base64 signature", signature.display()))
        .map_err(Failure::usage)?;
    public.verify(text.as_bytes(), &decoded).map_err(|e| {
        Failure::usage(anyhow!(
            "refusing policy {}: its signature {} does not verify under key {source} ({e}); sign the reviewed policy with `vouch sign-blob`",
            path.display(),
            signature.display()
        ))
    })?;
    policy_or_fail(path, load_policy_text(path, text))
}

fn policy_or_fail(
    path: &Path,
    loaded: Result<LoadedPolicy, PolicyLoadError>,
) -> Result<LoadedPolicy, Failure> {
    match loaded {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprint!("{}", loaded.warnings);
            }
            Ok(loaded)
        }
        Err(PolicyLoadError::Invalid {
            rendered, errors, ..
        }) => {
            eprint!("{rendered}");
            Err(Failure::usage(anyhow!(
                "{}: {errors} error{} in the policy",
                path.display(),
                if errors == 1 { "" } else { "s" }
            )))
        }
        Err(e) => Err(Failure::usage(e)),
    }
}

/// Sets up registry access; a CA or client-certificate file that cannot be used is a usage
/// error.
pub fn open_stores(options: &StoreOptions) -> Result<Stores, Failure> {
    Stores::new(options).map_err(Failure::usage)
}
