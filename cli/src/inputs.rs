//! What the command line names, read and checked: image references (arguments and `--from`
//! lists), annotations, key files, policies, and the registry connection.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, anyhow};
use vouch_keys as keys;
use vouch_oci::reference::{self, ImageRef};
use vouch_registry::{StoreOptions, Stores};
use vouch_verify::judge::TrustedKey;
use vouch_verify::policy_verify::{LoadedPolicy, PolicyLoadError, load_policy};

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
            reference::parse(s)
                .with_context(|| format!("bad image reference {s:?}"))
                .map_err(Failure::usage)
        })
        .collect()
}

pub fn load_trusted_keys(paths: &[std::path::PathBuf]) -> Result<Vec<TrustedKey>, Failure> {
    let mut out: Vec<TrustedKey> = Vec::new();
    for path in paths {
        let key = keys::load_public_key(path)?;
        let key_id = key.key_id();
        if out.iter().any(|k| k.key_id == key_id) {
            continue;
        }
        out.push(TrustedKey {
            key,
            key_id,
            source: path.display().to_string(),
        });
    }
    Ok(out)
}

/// Loads a policy; on errors prints every diagnostic and fails with exit 2.
pub fn load_policy_or_fail(path: &Path) -> Result<LoadedPolicy, Failure> {
    match load_policy(path) {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprint!("{}", loaded.warnings);
            }
            Ok(loaded)
        }
        Err(PolicyLoadError::Invalid { rendered, errors }) => {
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
