//! The ephemeral signing key: ECDSA P-256, made in memory for one signing run, never
//! written anywhere, and zeroized when dropped (`p256`'s signing key clears itself).

use std::fmt;

use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{EncodePublicKey as _, LineEnding};

use crate::error::KeylessError;

/// A P-256 key that lives as long as one signing run.
pub(crate) struct EphemeralKey {
    key: p256::ecdsa::SigningKey,
    spki_der: Vec<u8>,
    public_pem: String,
}

impl fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralKey")
            .field("algorithm", &"ecdsa-p256")
            .field("private", &"<redacted>")
            .finish()
    }
}

impl EphemeralKey {
    pub(crate) fn generate() -> Result<EphemeralKey, KeylessError> {
        let key = p256::ecdsa::SigningKey::try_generate().map_err(|e| KeylessError::Key {
            reason: format!("the system's random number generator failed: {e}"),
        })?;
        let public = key.verifying_key();
        let spki_der = public
            .to_public_key_der()
            .map_err(|e| KeylessError::Key {
                reason: format!("cannot encode the public key: {e}"),
            })?
            .as_bytes()
            .to_vec();
        let public_pem =
            public
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| KeylessError::Key {
                    reason: format!("cannot encode the public key: {e}"),
                })?;
        Ok(EphemeralKey {
            key,
            spki_der,
            public_pem,
        })
    }

    /// The public key's SubjectPublicKeyInfo, DER.
    pub(crate) fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The public key, PEM (what Fulcio's request carries).
    pub(crate) fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// ECDSA-SHA256 over `message`, DER-encoded (what Sigstore and cosign store).
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: p256::ecdsa::DerSignature = self.key.sign(message);
        signature.as_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey as _;

    #[test]
    fn signs_what_its_public_key_verifies() {
        let key = EphemeralKey::generate().expect("key");
        let public = p256::ecdsa::VerifyingKey::from_public_key_der(key.spki_der()).expect("spki");
        let sig = p256::ecdsa::DerSignature::try_from(key.sign(b"hello").as_slice()).expect("der");
        assert!(public.verify(b"hello", &sig).is_ok());
        assert!(public.verify(b"other", &sig).is_err());
        assert!(key.public_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(!format!("{key:?}").contains(&hex::encode(key.spki_der())));
        // Two runs never share a key.
        assert_ne!(
            EphemeralKey::generate().expect("key").spki_der(),
            key.spki_der()
        );
    }
}
