//! `vouch key id`: the id (hex SHA-256 of the SPKI) of a public or private key file.

use std::path::Path;

use anyhow::Context;
use vouch_keys::{self as keys, PrivateKey};

use crate::exit::{Exit, Failure, OrExit};

pub fn id(file: &Path, password_file: Option<&Path>) -> Result<Exit, Failure> {
    use std::io::Read as _;
    // Bytes, not text: a public key may be DER. Bounded: a device is not a key file.
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(1 << 20).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", file.display()))
        .or_usage()?;
    let public = if bytes.windows(16).any(|w| w == b"PRIVATE KEY-----") {
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("cannot read {}: not a PEM file", file.display()))
            .or_usage()?;
        let password = keys::obtain_password(password_file, false)?;
        PrivateKey::from_encrypted_pem(text, password.as_bytes())
            .with_context(|| format!("cannot load private key {}", file.display()))
            .or_usage()?
            .public_key()
    } else {
        keys::load_public_key(file)?
    };
    println!("{}", public.key_id());
    Ok(Exit::Ok)
}
