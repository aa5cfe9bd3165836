//! Signing keys: cosign-compatible encrypted private keys, public keys, passwords and key files,
//! and [`VerifyKey`], the one verifying-key type every signature check of vouch goes through.
//!
//! Private keys are stored in the sigstore/cosign encrypted PEM format (scrypt + NaCl secretbox
//! over PKCS#8), so keys made by `vouch keygen` work with cosign and vice versa.
//!
//! Trust boundary: key files, passwords and key material from certificates, trusted roots and
//! log entries come in as untrusted bytes; what leaves is a parsed key that checks signatures,
//! or a typed [`KeyError`]. Secrets are zeroized and never printed.
#![forbid(unsafe_code)]

mod encrypted;
mod files;
mod oids;
mod password;
pub mod pem;
mod private;
mod public;
#[cfg(test)]
mod test_vectors;
mod verify_key;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use files::{load_private_key, load_public_key, write_key_pair};
pub use password::{obtain_password, password_from_env_or_file};
pub use private::PrivateKey;
pub use public::PublicKey;
pub use verify_key::HashAlgorithm;
pub use verify_key::{Scheme, VerifyKey};

/// Key algorithms `vouch keygen` can generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// ECDSA on NIST P-256 with SHA-256 (cosign's default).
    #[default]
    EcdsaP256,
    /// Pure Ed25519.
    Ed25519,
}

impl Algorithm {
    /// Every algorithm, in the order shown in help text.
    pub const ALL: [Algorithm; 2] = [Algorithm::EcdsaP256, Algorithm::Ed25519];

    /// The command-line name, e.g. `ecdsa-p256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256 => "ecdsa-p256",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| KeyError::UnknownAlgorithm(s.to_string()))
    }
}

/// Errors from loading, parsing, encrypting or storing keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A file could not be read.
    #[error("cannot read {}: {error}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error (already part of the message, so not chained as a source).
        error: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {error}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error (already part of the message, so not chained as a source).
        error: std::io::Error,
    },
    /// Refused to overwrite an existing file.
    #[error("{} already exists; use --force to overwrite it", .0.display())]
    AlreadyExists(PathBuf),
    /// A private key file is readable by group or others.
    #[error(
        "private key {path} is accessible by group or others (mode {mode:03o}); run `chmod 600 {path}` or pass --allow-insecure-key-permissions",
        path = .path.display()
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Not valid PEM.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// A PEM block of the wrong kind.
    #[error("unexpected PEM block \"{found}\"; expected {expected}")]
    UnexpectedPemLabel {
        /// The label found.
        found: String,
        /// What was acceptable.
        expected: &'static str,
    },
    /// A private key was given where a public key was expected.
    #[error("this is a private key; pass the .pub file")]
    PrivateKeyGiven,
    /// A key file's contents were refused; says which file, as several may be given.
    #[error("{}: {source}", .path.display())]
    InFile {
        /// The key file.
        path: PathBuf,
        /// Why it was refused.
        source: Box<KeyError>,
    },
    /// A well-formed key of a type we do not support.
    #[error("unsupported key type: {0} (supported: ECDSA P-256/P-384, Ed25519, RSA 2048-4096)")]
    UnsupportedKeyType(String),
    /// An RSA key outside 2048..=4096 bits.
    #[error("RSA key size not supported: {0} bits (must be 2048 to 4096)")]
    RsaKeySize(usize),
    /// Structurally invalid key data.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// Encrypted key uses parameters or algorithms we refuse.
    #[error("unsupported encrypted private key: {0}")]
    UnsupportedEncryption(String),
    /// Decryption failed: the password is wrong or the file was altered.
    #[error("wrong password or corrupted key")]
    WrongPassword,
    /// An unencrypted private key was loaded with a non-empty password.
    #[error("unencrypted private key but a password was given")]
    UnencryptedWithPassword,
    /// No password source was available and no terminal to prompt on.
    #[error(
        "no password available: set VOUCH_PASSWORD or COSIGN_PASSWORD, or pass --password-file"
    )]
    NoPassword,
    /// The two interactive password entries differed.
    #[error("passwords do not match")]
    PasswordMismatch,
    /// A password source held bytes that are not UTF-8.
    #[error("password from {0} is not valid UTF-8")]
    PasswordNotUtf8(String),
    /// Reading a password from the terminal failed.
    #[error("cannot read password from the terminal: {0}")]
    Prompt(std::io::Error),
    /// An unknown `--algorithm` value.
    #[error("unknown key algorithm \"{0}\"; expected ecdsa-p256 or ed25519")]
    UnknownAlgorithm(String),
}

/// Why a signature failed to verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature bytes are not a valid encoding for this key type.
    #[error("malformed {algorithm} signature: {reason}")]
    Malformed {
        /// Key algorithm, e.g. `ecdsa-p256`.
        algorithm: String,
        /// What is wrong with the encoding.
        reason: String,
    },
    /// Well-formed, but not a signature by this key over this message.
    #[error("signature does not match the payload for {algorithm} key {key_id}")]
    Mismatch {
        /// Key algorithm, e.g. `ecdsa-p256`.
        algorithm: String,
        /// The key's id (hex SHA-256 of its SPKI DER).
        key_id: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_roundtrip() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.to_string().parse::<Algorithm>().expect("parses"), alg);
        }
        assert_eq!(
            "ecdsa-p256".parse::<Algorithm>().expect("p256"),
            Algorithm::EcdsaP256
        );
        assert_eq!(
            "ed25519".parse::<Algorithm>().expect("ed"),
            Algorithm::Ed25519
        );
        let err = "rsa".parse::<Algorithm>().expect_err("rejected");
        assert!(err.to_string().contains("ecdsa-p256 or ed25519"));
        assert_eq!(Algorithm::default(), Algorithm::EcdsaP256);
    }

    #[test]
    fn types_are_thread_safe() {
        fn check<T: Send + Sync + 'static>() {}
        check::<PrivateKey>();
        check::<PublicKey>();
        check::<KeyError>();
        check::<SignatureError>();
    }

    #[test]
    fn no_password_message_names_all_sources() {
        let msg = KeyError::NoPassword.to_string();
        for s in ["VOUCH_PASSWORD", "COSIGN_PASSWORD", "--password-file"] {
            assert!(msg.contains(s), "{msg}");
        }
    }
}
