//! Private signing keys: parsing (PKCS#8, and for import PKCS#1/SEC1), signing, encryption.

use std::fmt;

use p256::ecdsa::signature::{SignatureEncoding, Signer};
use p256::elliptic_curve::Generate;
use pkcs8::der::asn1::AnyRef;
use pkcs8::der::{Decode, Tag, Tagged};
use pkcs8::{EncodePrivateKey, ObjectIdentifier, PrivateKeyInfoRef};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::public::PublicKey;
use super::verify_key::VerifyKey;
use super::{Algorithm, KeyError, encrypted, oids, pem};

/// A private signing key: ECDSA P-256/P-384, Ed25519 or RSA 2048–4096.
#[derive(Clone)]
pub struct PrivateKey(Inner);

// Every variant zeroizes its secret on drop.
#[derive(Clone)]
enum Inner {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
}

const ACCEPTED_ENCRYPTED: &str = "ENCRYPTED SIGSTORE PRIVATE KEY (or ENCRYPTED COSIGN PRIVATE KEY)";
const ACCEPTED_PLAIN: &str = "PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY";

fn malformed(what: &'static str, reason: impl fmt::Display) -> KeyError {
    KeyError::Malformed {
        what,
        reason: reason.to_string(),
    }
}

impl PrivateKey {
    /// Generate a fresh key. Panics only if the OS random number generator fails.
    pub fn generate(algorithm: Algorithm) -> Self {
        const RNG: &str = "OS random number generator failed";
        match algorithm {
            Algorithm::EcdsaP256 => PrivateKey(Inner::P256(
                p256::ecdsa::SigningKey::try_generate().expect(RNG),
            )),
            Algorithm::Ed25519 => PrivateKey(Inner::Ed25519(
                ed25519_dalek::SigningKey::try_generate().expect(RNG),
            )),
        }
    }

    /// Load a cosign/sigstore encrypted private key PEM. An unencrypted PKCS#8 `PRIVATE KEY`
    /// is accepted only with an empty password, as cosign and sigstore-rs do.
    pub fn from_encrypted_pem(pem: &str, password: &[u8]) -> Result<Self, KeyError> {
        let block = pem::decode_first(pem)?;
        match block.label.as_str() {
            encrypted::SIGSTORE_LABEL | encrypted::COSIGN_LABEL => {
                let der = encrypted::decrypt(&block.der, password)?;
                Self::from_pkcs8_der(&der).map_err(|e| match e {
                    KeyError::Malformed { reason, .. } => KeyError::Malformed {
                        what: "decrypted private key",
                        reason: format!("not a PKCS#8 private key ({reason})"),
                    },
                    other => other,
                })
            }
            "PRIVATE KEY" if password.is_empty() => Self::from_pkcs8_der(&block.der),
            "PRIVATE KEY" => Err(KeyError::UnencryptedWithPassword),
            other => Err(KeyError::UnexpectedPemLabel {
                found: other.to_string(),
                expected: ACCEPTED_ENCRYPTED,
            }),
        }
    }

    /// Encrypt as an `ENCRYPTED SIGSTORE PRIVATE KEY` PEM (scrypt N=65536, r=8, p=1).
    /// Panics only if the OS random number generator fails.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> String {
        let der = self.to_pkcs8_der();
        let json = encrypted::encrypt(&der, password);
        pem::encode(encrypted::SIGSTORE_LABEL, &json)
    }

    /// Load an unencrypted private key PEM (`PRIVATE KEY`, `EC PRIVATE KEY` or
    /// `RSA PRIVATE KEY`), e.g. for importing a key made by another tool.
    pub fn from_unencrypted_pem(pem: &str) -> Result<Self, KeyError> {
        let block = pem::decode_first(pem)?;
        match block.label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&block.der),
            "EC PRIVATE KEY" => Self::from_sec1_der(&block.der),
            "RSA PRIVATE KEY" => Self::from_pkcs1_der(&block.der),
            other => Err(KeyError::UnexpectedPemLabel {
                found: other.to_string(),
                expected: ACCEPTED_PLAIN,
            }),
        }
    }

    /// Parse a PKCS#8 `PrivateKeyInfo` (DER).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        const WHAT: &str = "PKCS#8 private key";
        let info = PrivateKeyInfoRef::from_der(der).map_err(|e| malformed(WHAT, e))?;
        let inner = match info.algorithm.oid {
            oids::EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| malformed(WHAT, "EC key without a named curve"))?;
                match curve {
                    oids::P256 => Inner::P256(
                        p256::ecdsa::SigningKey::try_from(info).map_err(|e| malformed(WHAT, e))?,
                    ),
                    oids::P384 => Inner::P384(
                        p384::ecdsa::SigningKey::try_from(info).map_err(|e| malformed(WHAT, e))?,
                    ),
                    other => return Err(KeyError::UnsupportedKeyType(oids::curve_name(&other))),
                }
            }
            oids::ED25519 => Inner::Ed25519(
                ed25519_dalek::SigningKey::try_from(info).map_err(|e| malformed(WHAT, e))?,
            ),
            oids::RSA => return Self::from_pkcs1_der(info.private_key.as_bytes()),
            other => return Err(KeyError::UnsupportedKeyType(oids::algorithm_name(&other))),
        };
        Ok(PrivateKey(inner))
    }

    /// Parse a PKCS#1 `RSAPrivateKey` (DER), enforcing 2048–4096 bits.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        const WHAT: &str = "RSA private key";
        // Check the size first so oversized keys get a size error, not a generic parse error.
        let parsed = rsa::pkcs1::RsaPrivateKeyRef::from_der(der).map_err(|e| malformed(WHAT, e))?;
        oids::check_rsa_bits(oids::bit_length(parsed.modulus.as_bytes()))?;
        let key = rsa::PrivateKey::from_pkcs1_der(der).map_err(|e| malformed(WHAT, e))?;
        Ok(PrivateKey(Inner::Rsa(Box::new(
            rsa::pkcs1v15::SigningKey::new(key),
        ))))
    }

    /// Parse a SEC1 `ECPrivateKey` (DER) on P-256 or P-384.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        const WHAT: &str = "EC private key";
        match sec1_curve(der) {
            Some(oids::P256) => p256::SecretKey::from_sec1_der(der)
                .map(|k| PrivateKey(Inner::P256(k.into())))
                .map_err(|e| malformed(WHAT, e)),
            Some(oids::P384) => p384::SecretKey::from_sec1_der(der)
                .map(|k| PrivateKey(Inner::P384(k.into())))
                .map_err(|e| malformed(WHAT, e)),
            Some(other) => Err(KeyError::UnsupportedKeyType(oids::curve_name(&other))),
            // No curve parameters: the scalar length tells the curves apart.
            None => p256::SecretKey::from_sec1_der(der)
                .map(|k| PrivateKey(Inner::P256(k.into())))
                .or_else(|_| {
                    p384::SecretKey::from_sec1_der(der).map(|k| PrivateKey(Inner::P384(k.into())))
                })
                .map_err(|e| malformed(WHAT, e)),
        }
    }

    /// PKCS#8 DER of this key. Ed25519 is written as version 1 (seed only), as Go writes it.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let doc = match &self.0 {
            Inner::P256(k) => k.to_pkcs8_der(),
            Inner::P384(k) => k.to_pkcs8_der(),
            Inner::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der(),
            Inner::Rsa(k) => k.to_pkcs8_der(),
        };
        let doc = doc.expect("encoding a valid in-memory key as PKCS#8 cannot fail");
        Zeroizing::new(doc.as_bytes().to_vec())
    }

    /// Sign `msg`: ECDSA (SHA-256 for P-256, SHA-384 for P-384) as ASN.1 DER, pure Ed25519,
    /// or RSA PKCS#1 v1.5 with SHA-256.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.0 {
            Inner::P256(k) => {
                let sig: p256::ecdsa::DerSignature = k.sign(msg);
                sig.as_bytes().to_vec()
            }
            Inner::P384(k) => {
                let sig: p384::ecdsa::DerSignature = k.sign(msg);
                sig.as_bytes().to_vec()
            }
            Inner::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            Inner::Rsa(k) => {
                let sig: rsa::pkcs1v15::Signature = k.sign(msg);
                sig.to_vec()
            }
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_material(match &self.0 {
            Inner::P256(k) => VerifyKey::P256(*k.verifying_key()),
            Inner::P384(k) => VerifyKey::P384(*k.verifying_key()),
            Inner::Ed25519(k) => VerifyKey::Ed25519(k.verifying_key()),
            Inner::Rsa(k) => {
                let key: &rsa::PrivateKey = k.as_ref().as_ref();
                VerifyKey::Rsa(key.to_public_key())
            }
        })
    }

    /// Algorithm name, e.g. `ecdsa-p256`, `ed25519`, `rsa-3072`.
    pub fn algorithm_name(&self) -> String {
        match &self.0 {
            Inner::P256(_) => "ecdsa-p256".into(),
            Inner::P384(_) => "ecdsa-p384".into(),
            Inner::Ed25519(_) => "ed25519".into(),
            Inner::Rsa(k) => {
                let key: &rsa::PrivateKey = k.as_ref().as_ref();
                format!("rsa-{}", oids::bit_length(&key.n_bytes()))
            }
        }
    }
}

// Never print key material, only what identifies the key.
impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm_name())
            .field("key_id", &self.public_key().key_id())
            .finish_non_exhaustive()
    }
}

/// Named curve from a SEC1 `ECPrivateKey`'s `[0] parameters`, if present.
fn sec1_curve(der: &[u8]) -> Option<ObjectIdentifier> {
    let fields: Vec<AnyRef<'_>> = Decode::from_der(der).ok()?;
    let params = fields.iter().find(|f| {
        matches!(f.tag(), Tag::ContextSpecific { constructed: true, number } if number.value() == 0)
    })?;
    ObjectIdentifier::from_der(params.value()).ok()
}

#[cfg(test)]
mod tests {
    use super::super::test_vectors;
    use super::*;

    const COSIGN_KEYS: &str = "cosign/extracted/pkg/cosign/keys_test";

    fn cosign_import(name: &str) -> Result<PrivateKey, KeyError> {
        PrivateKey::from_unencrypted_pem(&test_vectors::text(&format!("{COSIGN_KEYS}/{name}.pem")))
    }

    fn assert_roundtrip(key: &PrivateKey) {
        let msg = b"sign me";
        let sig = key.sign(msg);
        let public = key.public_key();
        public.verify(msg, &sig).expect("own signature verifies");
        assert!(public.verify(b"sign me!", &sig).is_err());
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        for alg in Algorithm::ALL {
            let key = PrivateKey::generate(alg);
            assert_eq!(key.algorithm_name(), alg.as_str());
            assert_roundtrip(&key);
            let again = PrivateKey::from_pkcs8_der(&key.to_pkcs8_der()).expect("pkcs8 roundtrip");
            assert_eq!(again.public_key(), key.public_key());
        }
    }

    #[test]
    fn ecdsa_signatures_are_der() {
        let key = PrivateKey::generate(Algorithm::EcdsaP256);
        let sig = key.sign(b"payload");
        assert_eq!(sig[0], 0x30, "DER SEQUENCE");
        assert_eq!(usize::from(sig[1]) + 2, sig.len());
    }

    #[test]
    fn ed25519_pkcs8_is_seed_only_like_go() {
        let der = PrivateKey::generate(Algorithm::Ed25519).to_pkcs8_der();
        // Version 0 PrivateKeyInfo with a 32-byte seed is exactly 48 bytes.
        assert_eq!(der.len(), 48);
    }

    #[test]
    fn cosign_import_vectors_accepted() {
        let expected = [
            ("validrsa", "rsa-2048"),
            ("validrsapkcs1", "rsa-2048"),
            ("validrsapkcs8", "rsa-2048"),
            ("validecp256", "ecdsa-p256"),
            ("validecp384", "ecdsa-p384"),
            ("validecpkcs8", "ecdsa-p256"),
            ("ed25519key", "ed25519"),
        ];
        for (name, alg) in expected {
            let key = cosign_import(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(key.algorithm_name(), alg, "{name}");
            assert_roundtrip(&key);
            // Re-export as PKCS#8 and encrypt (small N to stay fast): same key comes back.
            let der = key.to_pkcs8_der();
            let again = PrivateKey::from_pkcs8_der(&der).expect("pkcs8 roundtrip");
            assert_eq!(again.public_key(), key.public_key(), "{name}");
            let pem = pem::encode(
                encrypted::SIGSTORE_LABEL,
                &encrypted::encrypt_with_log_n(&der, b"pw", 10),
            );
            let decrypted = PrivateKey::from_encrypted_pem(&pem, b"pw").expect("decrypts");
            assert_eq!(decrypted.public_key(), key.public_key(), "{name}");
        }
    }

    #[test]
    fn cosign_import_vectors_rejected() {
        let msg = |name: &str| match cosign_import(name) {
            Err(e) => e.to_string(),
            Ok(k) => panic!("{name} should be rejected, got {k:?}"),
        };
        assert!(msg("invalidecp224").contains("P-224"));
        assert!(msg("validecp521").contains("P-521"));
        assert!(msg("invalidecunsupported").contains("secp256k1"));
        assert!(matches!(
            cosign_import("invalidrsasmallkey"),
            Err(KeyError::RsaKeySize(1024))
        ));
        assert!(matches!(
            cosign_import("invalidrsalargekey"),
            Err(KeyError::RsaKeySize(5120))
        ));
        assert!(msg("invalidrsawithpubkey").contains("PUBLIC KEY"));
        assert!(msg("invalidkey").contains("PGP PRIVATE KEY BLOCK"));
    }

    #[test]
    fn debug_does_not_leak_secrets() {
        let key = cosign_import("validecpkcs8").expect("loads");
        let dbg = format!("{key:?}");
        assert!(dbg.contains("ecdsa-p256") && dbg.contains(&key.public_key().key_id()));
        let secret_hex = hex::encode(&key.to_pkcs8_der()[36..68]);
        assert!(!dbg.contains(&secret_hex));
    }
}
