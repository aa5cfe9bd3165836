//! What can go wrong opening a token key or signing with it. Every message says what to do and
//! none holds a PIN: errors carry names, paths and PKCS#11 return codes only.

use std::path::PathBuf;

use crate::uri::UriError;

/// An error from a PKCS#11 key. All are key or configuration errors to the caller (vouch's
/// exit code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The URI was refused.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// Neither the URI nor the environment names a module.
    #[error(
        "no PKCS#11 module given: add module-path=/path/to/module.so to the URI, or set VOUCH_PKCS11_MODULE_PATH"
    )]
    ModuleNotGiven,
    /// The module file does not exist.
    #[error("PKCS#11 module {} does not exist; check module-path (e.g. /usr/lib/softhsm/libsofthsm2.so for SoftHSM2)", .path.display())]
    ModuleNotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The module exists but could not be loaded or initialised.
    #[error("cannot load PKCS#11 module {}: {reason}", .path.display())]
    ModuleLoad {
        /// The path given.
        path: PathBuf,
        /// Why (the dynamic loader's message, or the PKCS#11 return code).
        reason: String,
    },
    /// The module's library information does not match the URI's `library-*` attributes.
    #[error("PKCS#11 module {} is {found}, which does not match the URI's library attributes", .path.display())]
    LibraryMismatch {
        /// The module.
        path: PathBuf,
        /// What the module reports.
        found: String,
    },
    /// No token matches the URI.
    #[error("no PKCS#11 token matches {wanted}; tokens present: {}", list_or_none(.available))]
    TokenNotFound {
        /// The token the URI names, described.
        wanted: String,
        /// The tokens present (label, serial and slot).
        available: Vec<String>,
    },
    /// More than one token matches the URI.
    #[error("{} PKCS#11 tokens match {wanted}: {}; add serial=… or slot-id=… to the URI", .matching.len(), .matching.join(", "))]
    AmbiguousToken {
        /// The token the URI names, described.
        wanted: String,
        /// The matching tokens.
        matching: Vec<String>,
    },
    /// The token needs a PIN and none was given.
    #[error(
        "{token} needs a PIN: add pin-source=/path/to/pin-file to the URI, or set VOUCH_PKCS11_PIN"
    )]
    PinRequired {
        /// The token, described.
        token: String,
    },
    /// The token refused the PIN.
    #[error(
        "{token} refused the PIN (wrong PIN); check it before trying again, as tokens lock after a few wrong PINs"
    )]
    WrongPin {
        /// The token, described.
        token: String,
    },
    /// The PIN is locked after too many wrong tries.
    #[error(
        "{token} has locked its user PIN after too many wrong tries; unlock it with the SO PIN"
    )]
    PinLocked {
        /// The token, described.
        token: String,
    },
    /// The `pin-source` file could not be used.
    #[error("cannot read the PIN from {}: {reason}", .path.display())]
    PinSource {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No private key matches the URI.
    #[error("no private key matches {wanted}{}", keys_present(.available))]
    KeyNotFound {
        /// The key the URI names, described.
        wanted: String,
        /// The private keys on the token (label and id), when they could be listed.
        available: Vec<String>,
    },
    /// More than one private key matches the URI.
    #[error(
        "more than one private key matches {wanted}; add id=… or object=… to the URI to pick one"
    )]
    AmbiguousKey {
        /// The key the URI names, described.
        wanted: String,
    },
    /// The private key was found, but neither a public key object nor a certificate for it.
    #[error(
        "{wanted} has no public key object or certificate with the same id or label; vouch needs one to know the public key"
    )]
    PublicKeyNotFound {
        /// The key, described.
        wanted: String,
    },
    /// A key type vouch cannot sign with through PKCS#11.
    #[error("{wanted} is {found}; PKCS#11 keys must be ECDSA P-256 or Ed25519")]
    UnsupportedKey {
        /// The key, described.
        wanted: String,
        /// What it is.
        found: String,
    },
    /// The key's attributes forbid signing, or need a PIN for every signature.
    #[error("{wanted} cannot be used: {reason}")]
    KeyUnusable {
        /// The key, described.
        wanted: String,
        /// Why.
        reason: String,
    },
    /// The token does not offer the signing mechanism the key needs.
    #[error("{token} does not offer {mechanism} signing")]
    MechanismUnsupported {
        /// The token, described.
        token: String,
        /// `CKM_ECDSA` or `CKM_EDDSA`.
        mechanism: &'static str,
    },
    /// A key attribute is malformed (for example an EC point that is not on the curve).
    #[error("{wanted}: malformed {attribute}: {reason}")]
    MalformedAttribute {
        /// The key, described.
        wanted: String,
        /// Which attribute.
        attribute: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The token's signature does not verify under the public key found for it: the public key
    /// object belongs to another key, or the token is faulty. Nothing signed is returned.
    #[error(
        "the signature {wanted} made does not verify under the public key found with it; the token's public key object may belong to another key"
    )]
    SignatureCheck {
        /// The key, described.
        wanted: String,
    },
    /// Any other PKCS#11 failure.
    #[error("PKCS#11 {operation} failed on {token}: {code}")]
    Token {
        /// The token, described.
        token: String,
        /// What was being done, e.g. `C_Sign`.
        operation: String,
        /// The return code, e.g. `CKR_DEVICE_REMOVED`.
        code: String,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

fn keys_present(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("; private keys on the token: {}", items.join(", "))
    }
}

/// PKCS#11 return-code name for a cryptoki error: `PinIncorrect` becomes `CKR_PIN_INCORRECT`.
pub(crate) fn code_name(error: &cryptoki::error::Error) -> String {
    match error {
        cryptoki::error::Error::Pkcs11(rv, _) => {
            let camel = format!("{rv:?}");
            let mut out = String::from("CKR");
            for c in camel.chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
        other => other.to_string(),
    }
}

/// The PKCS#11 function a cryptoki error came from, e.g. `C_Sign`.
pub(crate) fn function_name(error: &cryptoki::error::Error, fallback: &str) -> String {
    match error {
        cryptoki::error::Error::Pkcs11(_, function) => format!("C_{function:?}"),
        _ => fallback.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;
    use cryptoki::error::{Error, RvError};

    #[test]
    fn return_codes_read_as_in_the_standard() {
        let err = Error::Pkcs11(RvError::PinIncorrect, Function::Login);
        assert_eq!(code_name(&err), "CKR_PIN_INCORRECT");
        assert_eq!(function_name(&err, "?"), "C_Login");
        let err = Error::Pkcs11(RvError::DeviceRemoved, Function::Sign);
        assert_eq!(code_name(&err), "CKR_DEVICE_REMOVED");
    }
}
