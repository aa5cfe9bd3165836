//! The stand-in's own ECDSA P-256 keys (CAs, CT log, Rekor, TSA, OIDC issuer): ring signs,
//! the SubjectPublicKeyInfo is encoded with `spki`, and the key id is SHA-256 of that DER
//! (Rekor's log ID, the CT log ID, and the checkpoint key hint's source).

use der::Encode as _;
use der::asn1::{BitString, ObjectIdentifier};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
};
use sha2::Digest as _;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// id-ecPublicKey.
pub(crate) const ID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// The P-256 curve (prime256v1).
pub(crate) const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// ecdsa-with-SHA256.
pub(crate) const ECDSA_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// An ECDSA P-256 key pair (also a client key for tests that call the APIs directly).
pub struct EcKey {
    /// Signs with DER-encoded signatures (X.509, SCTs, SETs, checkpoints, CMS).
    der: EcdsaKeyPair,
    /// Signs with JOSE's fixed `r || s` signatures (JWTs).
    fixed: EcdsaKeyPair,
    spki: Vec<u8>,
    rng: SystemRandom,
}

impl EcKey {
    /// A fresh random key.
    pub fn generate() -> EcKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("generate P-256 key");
        let der = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("load P-256 key");
        let fixed =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .expect("load P-256 key");
        let spki = p256_spki(der.public_key().as_ref());
        EcKey {
            der,
            fixed,
            spki,
            rng,
        }
    }

    /// SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The uncompressed public point (`04 || x || y`).
    pub fn public_point(&self) -> &[u8] {
        self.der.public_key().as_ref()
    }

    /// SHA-256 of the SubjectPublicKeyInfo DER.
    pub fn key_id(&self) -> [u8; 32] {
        sha2::Sha256::digest(&self.spki).into()
    }

    /// The public key as PEM (`PUBLIC KEY`).
    pub fn public_pem(&self) -> String {
        pem("PUBLIC KEY", &self.spki)
    }

    /// ECDSA over SHA-256 of `message`, DER-encoded.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.der
            .sign(&self.rng, message)
            .expect("ECDSA signing")
            .as_ref()
            .to_vec()
    }

    /// ECDSA over SHA-256 of `message`, as JOSE's 64-byte `r || s`.
    pub fn sign_fixed(&self, message: &[u8]) -> Vec<u8> {
        self.fixed
            .sign(&self.rng, message)
            .expect("ECDSA signing")
            .as_ref()
            .to_vec()
    }
}

/// The SubjectPublicKeyInfo DER of a P-256 point.
pub(crate) fn p256_spki(point: &[u8]) -> Vec<u8> {
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(der::Any::encode_from(&SECP256R1).expect("curve OID")),
        },
        subject_public_key: BitString::from_bytes(point).expect("point"),
    }
    .to_der()
    .expect("encode SubjectPublicKeyInfo")
}

/// PEM with LF line endings and 64-column lines, as Go's `encoding/pem` writes it.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).expect("PEM encoding")
}

/// Random bytes.
pub(crate) fn random<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom as _;
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).expect("random bytes");
    out
}
