//! Verification keys and signature schemes for the bundle verifier: unlike `keys::PublicKey`,
//! the hash is chosen by the caller (X.509 and CMS name it explicitly) and prehashed
//! messages are supported (a `sha256:` artifact digest).

use ed25519_dalek::Digest as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use pkcs8::DecodePublicKey as _;
use pkcs8::der::Decode as _;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlgorithm::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlgorithm::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// Output size in bytes.
    pub fn output_size(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }

    /// Lower-case name as in-toto and Rekor write it (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha384 => "sha384",
            HashAlgorithm::Sha512 => "sha512",
        }
    }

    /// From an AlgorithmIdentifier's OID.
    pub(crate) fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            SHA256 => Some(HashAlgorithm::Sha256),
            SHA384 => Some(HashAlgorithm::Sha384),
            SHA512 => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }

    /// From the protobuf enum name (`SHA2_256`).
    pub(crate) fn from_proto(name: &str) -> Option<Self> {
        match name {
            "SHA2_256" => Some(HashAlgorithm::Sha256),
            "SHA2_384" => Some(HashAlgorithm::Sha384),
            "SHA2_512" => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }
}

/// How a signature is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Ecdsa(HashAlgorithm),
    Ed25519,
    RsaPkcs1(HashAlgorithm),
}

impl Scheme {
    /// From a signature AlgorithmIdentifier's OID (X.509, CMS). `digest` is the CMS digest
    /// algorithm, used when the signature algorithm names only the key type.
    pub(crate) fn from_algorithm(
        oid: &ObjectIdentifier,
        digest: Option<HashAlgorithm>,
    ) -> Result<Self, String> {
        let scheme = match (*oid, digest) {
            (ECDSA_SHA256, _) => Scheme::Ecdsa(HashAlgorithm::Sha256),
            (ECDSA_SHA384, _) => Scheme::Ecdsa(HashAlgorithm::Sha384),
            (ECDSA_SHA512, _) => Scheme::Ecdsa(HashAlgorithm::Sha512),
            (RSA_SHA256, _) => Scheme::RsaPkcs1(HashAlgorithm::Sha256),
            (RSA_SHA384, _) => Scheme::RsaPkcs1(HashAlgorithm::Sha384),
            (RSA_SHA512, _) => Scheme::RsaPkcs1(HashAlgorithm::Sha512),
            (ED25519, _) => Scheme::Ed25519,
            (EC_PUBLIC_KEY, Some(d)) => Scheme::Ecdsa(d),
            (RSA, Some(d)) => Scheme::RsaPkcs1(d),
            _ => return Err(format!("unsupported signature algorithm {oid}")),
        };
        Ok(scheme)
    }
}

/// A public key that can check signatures.
#[derive(Clone)]
pub(crate) enum VerifyKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(rsa::PublicKey),
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl VerifyKey {
    /// From a DER SubjectPublicKeyInfo.
    pub(crate) fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| e.to_string())?;
        let key = match spki.algorithm.oid {
            EC_PUBLIC_KEY => match spki.algorithm.parameters_oid().map_err(|e| e.to_string())? {
                P256 => VerifyKey::P256(
                    p256::ecdsa::VerifyingKey::from_public_key_der(der)
                        .map_err(|e| e.to_string())?,
                ),
                P384 => VerifyKey::P384(
                    p384::ecdsa::VerifyingKey::from_public_key_der(der)
                        .map_err(|e| e.to_string())?,
                ),
                other => return Err(format!("unsupported EC curve {other}")),
            },
            ED25519 => VerifyKey::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der).map_err(|e| e.to_string())?,
            ),
            RSA => {
                VerifyKey::Rsa(rsa::PublicKey::from_public_key_der(der).map_err(|e| e.to_string())?)
            }
            other => return Err(format!("unsupported key algorithm {other}")),
        };
        Ok(key)
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            VerifyKey::P256(_) => "ecdsa-p256",
            VerifyKey::P384(_) => "ecdsa-p384",
            VerifyKey::Ed25519(_) => "ed25519",
            VerifyKey::Rsa(_) => "rsa",
        }
    }

    /// The hash this key signs messages with when nothing else says (sigstore's defaults).
    pub(crate) fn default_hash(&self) -> HashAlgorithm {
        match self {
            VerifyKey::P384(_) => HashAlgorithm::Sha384,
            _ => HashAlgorithm::Sha256,
        }
    }

    /// The scheme used for raw-message signatures (DSSE, SET, checkpoints, artifacts).
    pub(crate) fn default_scheme(&self) -> Scheme {
        match self {
            VerifyKey::Ed25519(_) => Scheme::Ed25519,
            VerifyKey::Rsa(_) => Scheme::RsaPkcs1(HashAlgorithm::Sha256),
            _ => Scheme::Ecdsa(self.default_hash()),
        }
    }

    /// Verify `sig` over `msg` with `scheme`.
    pub(crate) fn verify(&self, scheme: Scheme, msg: &[u8], sig: &[u8]) -> Result<(), String> {
        match (self, scheme) {
            (VerifyKey::Ed25519(k), Scheme::Ed25519) => {
                let sig = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| "malformed Ed25519 signature".to_string())?;
                k.verify(msg, &sig)
                    .map_err(|_| "Ed25519 signature mismatch".to_string())
            }
            (VerifyKey::Ed25519(_), _) => Err("Ed25519 key with a non-Ed25519 scheme".into()),
            (_, Scheme::Ecdsa(h)) | (_, Scheme::RsaPkcs1(h)) => {
                self.verify_prehashed(scheme, &h.digest(msg), sig)
            }
            (_, Scheme::Ed25519) => Err(format!("{} key with the Ed25519 scheme", self.name())),
        }
    }

    /// Verify `sig` over a message whose digest (under the scheme's hash) is `digest`.
    pub(crate) fn verify_prehashed(
        &self,
        scheme: Scheme,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        let mismatch = || format!("{} signature mismatch", self.name());
        match (self, scheme) {
            (VerifyKey::P256(k), Scheme::Ecdsa(h)) if digest.len() == h.output_size() => {
                let s = p256::ecdsa::Signature::from_der(sig)
                    .map_err(|_| "malformed ECDSA signature (not DER)".to_string())?;
                k.verify_prehash(digest, &s).map_err(|_| mismatch())
            }
            (VerifyKey::P384(k), Scheme::Ecdsa(h)) if digest.len() == h.output_size() => {
                let s = p384::ecdsa::Signature::from_der(sig)
                    .map_err(|_| "malformed ECDSA signature (not DER)".to_string())?;
                k.verify_prehash(digest, &s).map_err(|_| mismatch())
            }
            (VerifyKey::Rsa(k), Scheme::RsaPkcs1(h)) if digest.len() == h.output_size() => {
                let padding = match h {
                    HashAlgorithm::Sha256 => rsa::pkcs1v15::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    HashAlgorithm::Sha384 => rsa::pkcs1v15::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    HashAlgorithm::Sha512 => rsa::pkcs1v15::Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                k.verify(padding, digest, sig).map_err(|_| mismatch())
            }
            (VerifyKey::Ed25519(_), _) => {
                Err("Ed25519 signs whole messages; a digest alone cannot be checked".into())
            }
            _ => Err(format!(
                "{scheme:?} does not fit a {} key or a {}-byte digest",
                self.name(),
                digest.len()
            )),
        }
    }
}
