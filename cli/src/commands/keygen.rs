//! `vouch keygen`: a new key pair, the private key encrypted in cosign's format.

use vouch_keys::{self as keys, Algorithm, PrivateKey};

use crate::args::{KeygenAlgorithm, KeygenArgs, OutputFormat};
use crate::exit::{Exit, Failure};
use crate::render::print_json;

pub fn run(args: KeygenArgs) -> Result<Exit, Failure> {
    let algorithm = match args.algorithm {
        KeygenAlgorithm::EcdsaP256 => Algorithm::EcdsaP256,
        KeygenAlgorithm::Ed25519 => Algorithm::Ed25519,
    };
    let password = keys::obtain_password(args.password_file.as_deref(), true)?;
    let key = PrivateKey::generate(algorithm);
    let (private_path, public_path) = keys::write_key_pair(
        &args.output_key_prefix,
        &key,
        password.as_bytes(),
        args.force,
    )?;
    let key_id = key.public_key().key_id();
    match args.output {
        OutputFormat::Text => {
            println!("Private key written to {}", private_path.display());
            println!("Public key written to {}", public_path.display());
            println!("Key id: {key_id}");
        }
        OutputFormat::Json => print_json(&serde_json::json!({
            "private_key": private_path,
            "public_key": public_path,
            "algorithm": algorithm.as_str(),
            "key_id": key_id,
        }))?,
    }
    Ok(Exit::Ok)
}
