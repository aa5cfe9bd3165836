//! [`Signer`]: what signs for vouch, whether a key file's key in this process or a key that
//! never leaves a hardware token. The signing code asks for nothing else, so a new kind of key
//! (a token, a KMS) plugs in without touching how signatures are built or stored.

use crate::{PrivateKey, PublicKey};

/// A key that signs as cosign does for its algorithm (ECDSA over SHA-256/384 as ASN.1 DER, pure
/// Ed25519, RSA PKCS#1 v1.5 with SHA-256), and knows its public half.
pub trait Signer: Send + Sync {
    /// Signs `message`; a key outside this process (a token) can fail.
    fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;
    /// The public half, for key ids and for checking what is already signed.
    fn public_key(&self) -> PublicKey;
}

/// A key that could not sign; the message names the key and what to do, and never a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SignerError(pub String);

impl Signer for PrivateKey {
    fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.sign(message))
    }

    fn public_key(&self) -> PublicKey {
        PrivateKey::public_key(self)
    }
}
