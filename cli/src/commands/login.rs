//! `vouch login` and `vouch logout`: registry credentials in docker's config.json.

use anyhow::{Context, anyhow};

use crate::args::LoginArgs;
use crate::exit::{Exit, Failure, OrExit};

fn docker_config_path() -> Result<std::path::PathBuf, Failure> {
    vouch_registry::credentials::CredentialSources::from_env()
        .docker_config
        .ok_or_else(|| {
            Failure::usage(anyhow!(
                "cannot find docker's config: set DOCKER_CONFIG or HOME"
            ))
        })
}

pub fn login(args: LoginArgs) -> Result<Exit, Failure> {
    use std::io::Read as _;
    let mut secret = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut secret)
        .context("reading the password from standard input")
        .or_usage()?;
    let trimmed = zeroize::Zeroizing::new(secret.trim_end_matches(['\r', '\n']).to_string());
    if trimmed.is_empty() {
        return Err(Failure::usage(anyhow!("no password on standard input")));
    }
    let path = docker_config_path()?;
    let creds = vouch_registry::credentials::Credentials {
        username: args.username,
        secret: trimmed,
    };
    vouch_registry::credentials::store_login(&path, &args.registry, &creds)?;
    println!("Login for {} stored in {}", args.registry, path.display());
    Ok(Exit::Ok)
}

pub fn logout(registry: &str) -> Result<Exit, Failure> {
    let path = docker_config_path()?;
    if vouch_registry::credentials::remove_login(&path, registry)? {
        println!("Removed {registry} from {}", path.display());
    } else {
        println!("No login for {registry} in {}", path.display());
    }
    Ok(Exit::Ok)
}
