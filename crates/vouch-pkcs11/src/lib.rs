//! Signing keys held in PKCS#11 tokens (HSMs, smart cards, YubiKeys, cloud KMS behind PKCS#11,
//! SoftHSM2), named by RFC 7512 `pkcs11:` URIs as cosign accepts them.
//!
//! - [`Pkcs11Uri`] parses a URI strictly; its `Debug` and `Display` never show a PIN.
//! - [`Pkcs11Signer::open`] loads the module, picks the one token and the one key pair the URI
//!   names, logs in, and signs: ECDSA P-256 (`CKM_ECDSA` over the SHA-256 of the message,
//!   returned as DER, cosign's form) or pure Ed25519 (`CKM_EDDSA`). Every signature is checked
//!   against the key's public half before it is returned.
//! - [`load_public_key`] exports only the public half (SPKI DER or PEM, and vouch's key id).
//!
//! Every failure is a [`Pkcs11Error`] naming what to fix; none contains the PIN.
//!
//! The PIN comes from the URI (`pin-source=FILE`, or `pin-value=PIN`, which is visible to other
//! users in process lists and stays in shell history and CI logs: prefer `pin-source`), else
//! from [`OpenOptions`] (see [`OpenOptions::from_env`]).
//!
//! PKCS#11 modules are native libraries loaded into the process; the `cryptoki` crate does that
//! through FFI with `unsafe` code of its own. This crate has none.
#![forbid(unsafe_code)]

mod error;
mod module;
mod pin;
mod public;
mod signer;
mod uri;

pub use error::Pkcs11Error;
pub use pin::{MAX_PIN_FILE_LEN, Pin};
pub use public::{KeyAlgorithm, PublicKeyInfo, key_id};
pub use signer::{OpenOptions, Pkcs11Signer, load_public_key};
pub use uri::{MAX_URI_LEN, ObjectType, PinSpec, Pkcs11Uri, UriError};
