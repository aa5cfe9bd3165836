//! `vouch key id` and `vouch key public`: a key's id (hex SHA-256 of the SPKI) and its public
//! half as PEM, from a key file or a `pkcs11:` key on a token.

use std::path::Path;

use anyhow::Context;
use vouch_keys::{self as keys, PrivateKey, PublicKey};

use crate::exit::{Exit, Failure, OrExit};

/// Prints the key's id.
pub fn id(key: &Path, password_file: Option<&Path>) -> Result<Exit, Failure> {
    println!("{}", public_half(key, password_file)?.key_id());
    Ok(Exit::Ok)
}

/// Prints the public key as PEM: what a `.pub` file holds, for `verify --key` and cosign.
pub fn public(key: &Path, password_file: Option<&Path>) -> Result<Exit, Failure> {
    print!("{}", public_half(key, password_file)?.to_pem());
    Ok(Exit::Ok)
}

/// The public key of a public or private key file, or of a `pkcs11:` key.
fn public_half(key: &Path, password_file: Option<&Path>) -> Result<PublicKey, Failure> {
    use std::io::Read as _;
    if key
        .to_str()
        .is_some_and(vouch_pkcs11::Pkcs11Uri::is_pkcs11_uri)
    {
        return Ok(crate::inputs::load_public_key(key)?.0);
    }
    // Bytes, not text: a public key may be DER. Bounded: a device is not a key file.
    let mut bytes = Vec::new();
    std::fs::File::open(key)
        .and_then(|f| f.take(1 << 20).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", key.display()))
        .or_usage()?;
    if bytes.windows(16).any(|w| w == b"PRIVATE KEY-----") {
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("cannot read {}: not a PEM file", key.display()))
            .or_usage()?;
        let password = keys::obtain_password(password_file, false)?;
        Ok(PrivateKey::from_encrypted_pem(text, password.as_bytes())
            .with_context(|| format!("cannot load private key {}", key.display()))
            .or_usage()?
            .public_key())
    } else {
        Ok(keys::load_public_key(key)?)
    }
}
