//! The one verifying-key type: keys from key files, certificates, trusted roots and log
//! entries all check signatures here.
//!
//! Parsing is strict and done by the RustCrypto types (points on the curve, DER signatures);
//! the arithmetic is ring's, whose assembly does ECDSA several times faster than the portable
//! crates (docs/performance.md). RustCrypto verifies only what ring has no API for: a signature
//! over a digest alone (an artifact known only by its `sha256:` digest), ECDSA with SHA-512, and
//! Ed25519ph.

use ed25519_dalek::{Digest as _, Sha512};
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use pkcs8::DecodePublicKey as _;
use pkcs8::der::Decode as _;
use rsa::traits::PublicKeyParts as _;
use spki::SubjectPublicKeyInfoRef;

use super::oids;

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
}

/// How a signature is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// ECDSA (DER signature) over the message's digest.
    Ecdsa(HashAlgorithm),
    /// Pure Ed25519.
    Ed25519,
    /// RSA PKCS#1 v1.5 over the message's digest.
    RsaPkcs1(HashAlgorithm),
}

/// A public key that can check signatures.
#[derive(Clone)]
pub enum VerifyKey {
    /// ECDSA on NIST P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA on NIST P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA, of any size (key files add their own size rule).
    Rsa(rsa::PublicKey),
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A signature that is not a valid encoding, or does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    Malformed(String),
    Mismatch,
}

impl VerifyKey {
    /// From a DER SubjectPublicKeyInfo: ECDSA P-256/P-384, Ed25519 or RSA of any size (key
    /// files add their own size rule).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| e.to_string())?;
        let key = match spki.algorithm.oid {
            oids::EC_PUBLIC_KEY => match spki
                .algorithm
                .parameters_oid()
                .map_err(|_| "EC key without a named curve".to_string())?
            {
                oids::P256 => VerifyKey::P256(
                    p256::ecdsa::VerifyingKey::from_public_key_der(der)
                        .map_err(|e| e.to_string())?,
                ),
                oids::P384 => VerifyKey::P384(
                    p384::ecdsa::VerifyingKey::from_public_key_der(der)
                        .map_err(|e| e.to_string())?,
                ),
                other => return Err(format!("unsupported {}", oids::curve_name(&other))),
            },
            oids::ED25519 => VerifyKey::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der).map_err(|e| e.to_string())?,
            ),
            oids::RSA => {
                VerifyKey::Rsa(rsa::PublicKey::from_public_key_der(der).map_err(|e| e.to_string())?)
            }
            other => return Err(format!("unsupported {}", oids::algorithm_name(&other))),
        };
        Ok(key)
    }

    pub fn name(&self) -> &'static str {
        match self {
            VerifyKey::P256(_) => "ecdsa-p256",
            VerifyKey::P384(_) => "ecdsa-p384",
            VerifyKey::Ed25519(_) => "ed25519",
            VerifyKey::Rsa(_) => "rsa",
        }
    }

    /// The hash this key signs messages with when nothing else says (cosign's and sigstore's
    /// defaults).
    pub fn default_hash(&self) -> HashAlgorithm {
        match self {
            VerifyKey::P384(_) => HashAlgorithm::Sha384,
            _ => HashAlgorithm::Sha256,
        }
    }

    /// The scheme used for raw-message signatures (DSSE, SET, checkpoints, artifacts).
    pub fn default_scheme(&self) -> Scheme {
        match self {
            VerifyKey::Ed25519(_) => Scheme::Ed25519,
            VerifyKey::Rsa(_) => Scheme::RsaPkcs1(HashAlgorithm::Sha256),
            _ => Scheme::Ecdsa(self.default_hash()),
        }
    }

    /// Verify `sig` over `msg` with `scheme`; an ECDSA signature must be DER.
    pub fn verify(&self, scheme: Scheme, msg: &[u8], sig: &[u8]) -> Result<(), String> {
        self.check(scheme, msg, sig, false)
            .map_err(|f| self.describe(f))
    }

    /// Verify `sig` over `msg` with `scheme`; ECDSA signatures may also be the fixed-size
    /// `r || s` form (cosign's key-signed layers accept both), and an Ed25519 key also
    /// accepts Ed25519ph (KMS-backed signers make those).
    pub(crate) fn check(
        &self,
        scheme: Scheme,
        msg: &[u8],
        sig: &[u8],
        lenient_encoding: bool,
    ) -> Result<(), Failure> {
        use ring::signature as ring_sig;
        let malformed = |reason: &str| Failure::Malformed(reason.to_string());
        // Both curves: parse strictly, then let ring do the arithmetic over the DER form.
        macro_rules! ecdsa {
            ($curve:ident, $key:expr, $fixed_len:expr, $h:expr, $sha256:expr, $sha384:expr) => {{
                let parsed = match $curve::ecdsa::Signature::from_der(sig) {
                    Ok(p) => p,
                    Err(_) if lenient_encoding && sig.len() == $fixed_len => {
                        $curve::ecdsa::Signature::from_slice(sig)
                            .map_err(|_| malformed("r or s out of range"))?
                    }
                    Err(_) => return Err(malformed("not an ASN.1 DER ECDSA signature")),
                };
                let algorithm: &'static ring_sig::EcdsaVerificationAlgorithm = match $h {
                    HashAlgorithm::Sha256 => $sha256,
                    HashAlgorithm::Sha384 => $sha384,
                    // ring has no ECDSA with SHA-512.
                    HashAlgorithm::Sha512 => {
                        return $key
                            .verify_prehash(&$h.digest(msg), &parsed)
                            .map_err(|_| Failure::Mismatch);
                    }
                };
                let point = $key.to_sec1_point(false);
                ring_sig::UnparsedPublicKey::new(algorithm, point.as_bytes())
                    .verify(msg, parsed.to_der().as_bytes())
                    .map_err(|_| Failure::Mismatch)
            }};
        }
        match (self, scheme) {
            (VerifyKey::P256(k), Scheme::Ecdsa(h)) => ecdsa!(
                p256,
                k,
                64,
                h,
                &ring_sig::ECDSA_P256_SHA256_ASN1,
                &ring_sig::ECDSA_P256_SHA384_ASN1
            ),
            (VerifyKey::P384(k), Scheme::Ecdsa(h)) => ecdsa!(
                p384,
                k,
                96,
                h,
                &ring_sig::ECDSA_P384_SHA256_ASN1,
                &ring_sig::ECDSA_P384_SHA384_ASN1
            ),
            (VerifyKey::Ed25519(k), Scheme::Ed25519) => {
                let parsed = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| malformed("Ed25519 signatures are 64 bytes"))?;
                let pure = ring_sig::UnparsedPublicKey::new(&ring_sig::ED25519, k.as_bytes())
                    .verify(msg, sig);
                if pure.is_ok() {
                    return Ok(());
                }
                // Ed25519ph (SHA-512 prehash, empty context): ring has no API for it.
                if lenient_encoding
                    && k.verify_prehashed(Sha512::new_with_prefix(msg), None, &parsed)
                        .is_ok()
                {
                    return Ok(());
                }
                Err(Failure::Mismatch)
            }
            (VerifyKey::Rsa(k), Scheme::RsaPkcs1(h)) => {
                if sig.len() != k.size() {
                    return Err(Failure::Malformed(format!(
                        "{} bytes long; this key's signatures are {} bytes",
                        sig.len(),
                        k.size()
                    )));
                }
                let algorithm = match h {
                    HashAlgorithm::Sha256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
                    HashAlgorithm::Sha384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
                    HashAlgorithm::Sha512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
                };
                ring_sig::RsaPublicKeyComponents {
                    n: k.n_bytes(),
                    e: k.e_bytes(),
                }
                .verify(algorithm, msg, sig)
                .map_err(|_| Failure::Mismatch)
            }
            (_, scheme) => Err(Failure::Malformed(format!(
                "{scheme:?} does not fit a {} key",
                self.name()
            ))),
        }
    }

    fn describe(&self, failure: Failure) -> String {
        match failure {
            Failure::Malformed(reason) => format!("malformed {} signature: {reason}", self.name()),
            Failure::Mismatch => format!("{} signature mismatch", self.name()),
        }
    }

    /// Verify `sig` over a message whose digest (under the scheme's hash) is `digest`. Only
    /// for messages known by their digest alone: ring verifies whole messages, so this is the
    /// RustCrypto path.
    pub fn verify_prehashed(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_and_rustcrypto_agree_on_digest_and_message_forms() {
        let key = crate::PrivateKey::generate(crate::Algorithm::EcdsaP256);
        let public = key.public_key();
        let verify_key = VerifyKey::from_spki_der(public.spki_der()).expect("key");
        let sig = key.sign(b"message");
        let scheme = verify_key.default_scheme();
        verify_key.verify(scheme, b"message", &sig).expect("ring");
        verify_key
            .verify_prehashed(scheme, &HashAlgorithm::Sha256.digest(b"message"), &sig)
            .expect("RustCrypto");
        assert!(verify_key.verify(scheme, b"messagE", &sig).is_err());
        // The bundle forms take DER only.
        let fixed = p256::ecdsa::Signature::from_der(&sig)
            .expect("der")
            .to_bytes();
        assert!(verify_key.verify(scheme, b"message", &fixed).is_err());
        assert_eq!(verify_key.check(scheme, b"message", &fixed, true), Ok(()));
    }
}
