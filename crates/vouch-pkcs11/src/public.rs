//! A token key's public half: built from PKCS#11 attributes (`CKA_EC_PARAMS`, `CKA_EC_POINT`) or a
//! certificate, checked by the curve crates, and written as SubjectPublicKeyInfo; and the check of
//! every signature the token returns against it.

use std::fmt;

use der::Decode;
use der::asn1::{ObjectIdentifier, OctetString, PrintableStringRef};
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};
use spki::{DecodePublicKey, EncodePublicKey};

/// The key algorithms a token key can have here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256; signatures over SHA-256 of the message, DER-encoded.
    EcdsaP256,
    /// Pure Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// vouch's name for it, as `vouch keygen --algorithm` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const P256_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// id-Ed25519 (RFC 8410), which PKCS#11 3.0 allows in `CKA_EC_PARAMS`.
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// The older curve25519 OID some tokens still write for Ed25519 keys.
const ED25519_LEGACY_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11591.15.1");

/// A checked public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    algorithm: KeyAlgorithm,
    spki_der: Vec<u8>,
}

impl PublicKeyInfo {
    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// PEM SubjectPublicKeyInfo (`PUBLIC KEY`), as `vouch keygen` writes `.pub` files.
    pub fn to_pem(&self) -> String {
        let mut pem = pem_encode(&self.spki_der);
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        pem
    }

    /// vouch's key id: lowercase hex SHA-256 of the SPKI DER.
    pub fn key_id(&self) -> String {
        key_id(&self.spki_der)
    }

    /// From `CKA_EC_PARAMS` and `CKA_EC_POINT` of a `CKK_EC` or `CKK_EC_EDWARDS` key.
    pub(crate) fn from_ec_attributes(params: &[u8], point: &[u8]) -> Result<Self, String> {
        match curve(params)? {
            KeyAlgorithm::EcdsaP256 => {
                let sec1 = unwrap_point(point, 65)?;
                let key = p256::PublicKey::from_sec1_bytes(sec1)
                    .map_err(|_| "not a point on P-256".to_string())?;
                Ok(Self::from_der(
                    KeyAlgorithm::EcdsaP256,
                    key.to_public_key_der(),
                ))
            }
            KeyAlgorithm::Ed25519 => {
                let bytes: [u8; 32] = unwrap_point(point, 32)?
                    .try_into()
                    .map_err(|_| "an Ed25519 key is 32 bytes".to_string())?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| "not a valid Ed25519 public key".to_string())?;
                Ok(Self::from_der(
                    KeyAlgorithm::Ed25519,
                    key.to_public_key_der(),
                ))
            }
        }
    }

    /// From a DER SubjectPublicKeyInfo (of a certificate on the token).
    pub(crate) fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        if let Ok(key) = p256::PublicKey::from_public_key_der(der) {
            return Ok(Self::from_der(
                KeyAlgorithm::EcdsaP256,
                key.to_public_key_der(),
            ));
        }
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(Self::from_der(
                KeyAlgorithm::Ed25519,
                key.to_public_key_der(),
            ));
        }
        Err("the certificate's key is neither ECDSA P-256 nor Ed25519".to_string())
    }

    fn from_der(algorithm: KeyAlgorithm, der: spki::Result<spki::Document>) -> Self {
        let spki_der = der
            .expect("encoding a checked public key as SPKI cannot fail")
            .into_vec();
        PublicKeyInfo {
            algorithm,
            spki_der,
        }
    }

    /// Turn what `C_Sign` returned into the signature vouch and cosign write, after checking it
    /// verifies over `message` under this key. ECDSA: PKCS#11 returns r||s, written as DER.
    pub(crate) fn finish_signature(&self, message: &[u8], raw: &[u8]) -> Option<Vec<u8>> {
        match self.algorithm {
            KeyAlgorithm::EcdsaP256 => {
                let key = p256::ecdsa::VerifyingKey::from_public_key_der(&self.spki_der).ok()?;
                let signature = p256::ecdsa::Signature::from_slice(raw).ok()?;
                key.verify(message, &signature).ok()?;
                Some(signature.to_der().as_bytes().to_vec())
            }
            KeyAlgorithm::Ed25519 => {
                let key = ed25519_dalek::VerifyingKey::from_public_key_der(&self.spki_der).ok()?;
                let signature = ed25519_dalek::Signature::from_slice(raw).ok()?;
                key.verify_strict(message, &signature).ok()?;
                Some(raw.to_vec())
            }
        }
    }
}

impl fmt::Debug for PublicKeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKeyInfo")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id())
            .finish()
    }
}

/// vouch's key id of a DER SubjectPublicKeyInfo: lowercase hex SHA-256.
pub fn key_id(spki_der: &[u8]) -> String {
    hex::encode(Sha256::digest(spki_der))
}

fn pem_encode(der: &[u8]) -> String {
    use spki::der::pem::{LineEnding, encode_string};
    encode_string("PUBLIC KEY", LineEnding::LF, der).expect("PEM-encoding DER cannot fail")
}

/// Which curve `CKA_EC_PARAMS` names: an OID, or for Ed25519 the printable string
/// "edwards25519" that PKCS#11 3.0 also allows (SoftHSM2 writes that).
fn curve(params: &[u8]) -> Result<KeyAlgorithm, String> {
    if let Ok(oid) = ObjectIdentifier::from_der(params) {
        return match oid {
            P256_OID => Ok(KeyAlgorithm::EcdsaP256),
            ED25519_OID | ED25519_LEGACY_OID => Ok(KeyAlgorithm::Ed25519),
            other => Err(format!(
                "curve {other} (only P-256 and Ed25519 are supported)"
            )),
        };
    }
    if let Ok(name) = PrintableStringRef::from_der(params) {
        return match name.as_str() {
            "edwards25519" => Ok(KeyAlgorithm::Ed25519),
            other => Err(format!(
                "curve {other:?} (only P-256 and Ed25519 are supported)"
            )),
        };
    }
    Err("CKA_EC_PARAMS is neither a curve OID nor a curve name".to_string())
}

/// `CKA_EC_POINT` is a DER OCTET STRING around the point; some tokens give the bare point.
/// The lengths tell the two apart: a bare point is never a DER OCTET STRING of `len` bytes.
fn unwrap_point(point: &[u8], len: usize) -> Result<&[u8], String> {
    if OctetString::from_der(point).is_ok_and(|octets| octets.as_bytes().len() == len) {
        return Ok(&point[point.len() - len..]);
    }
    if point.len() == len {
        return Ok(point);
    }
    Err(format!(
        "CKA_EC_POINT is {} bytes, neither a {len}-byte point nor one in a DER OCTET STRING",
        point.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;

    fn p256_attributes(key: &p256::ecdsa::SigningKey) -> (Vec<u8>, Vec<u8>) {
        let params = der::Encode::to_der(&P256_OID).expect("oid");
        let point = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        (params, point)
    }

    #[test]
    fn p256_point_in_an_octet_string_or_bare() {
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("key");
        let (params, point) = p256_attributes(&key);
        let wrapped =
            der::Encode::to_der(&OctetString::new(point.clone()).expect("octets")).expect("der");
        let a = PublicKeyInfo::from_ec_attributes(&params, &wrapped).expect("wrapped");
        let b = PublicKeyInfo::from_ec_attributes(&params, &point).expect("bare");
        assert_eq!(a, b);
        assert_eq!(a.algorithm(), KeyAlgorithm::EcdsaP256);
        let expected = key.verifying_key().to_public_key_der().expect("spki");
        assert_eq!(a.spki_der(), expected.as_bytes());
        assert!(a.to_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    }

    #[test]
    fn p256_point_off_the_curve_is_refused() {
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("key");
        let (params, mut point) = p256_attributes(&key);
        point[64] ^= 1;
        assert!(PublicKeyInfo::from_ec_attributes(&params, &point).is_err());
        assert!(PublicKeyInfo::from_ec_attributes(&params, &point[..40]).is_err());
    }

    #[test]
    fn ed25519_by_name_or_oid() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let point = key.verifying_key().to_bytes();
        let wrapped =
            der::Encode::to_der(&OctetString::new(point.to_vec()).expect("octets")).expect("der");
        let by_name = [&[0x13, 0x0c][..], b"edwards25519"].concat();
        let by_oid = der::Encode::to_der(&ED25519_OID).expect("oid");
        let a = PublicKeyInfo::from_ec_attributes(&by_name, &wrapped).expect("name");
        let b = PublicKeyInfo::from_ec_attributes(&by_oid, &point).expect("oid");
        assert_eq!(a, b);
        assert_eq!(a.algorithm(), KeyAlgorithm::Ed25519);
    }

    #[test]
    fn other_curves_are_named_in_the_error() {
        let p384 = der::Encode::to_der(&ObjectIdentifier::new_unwrap("1.3.132.0.34")).expect("oid");
        let err = PublicKeyInfo::from_ec_attributes(&p384, &[4; 97]).expect_err("p384");
        assert!(err.contains("1.3.132.0.34"), "{err}");
    }

    #[test]
    fn raw_ecdsa_signature_becomes_der_and_is_checked() {
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("key");
        let (params, point) = p256_attributes(&key);
        let info = PublicKeyInfo::from_ec_attributes(&params, &point).expect("info");
        let signature: p256::ecdsa::Signature = key.sign(b"payload");
        let der = info
            .finish_signature(b"payload", &signature.to_bytes())
            .expect("verifies");
        assert_eq!(der, signature.to_der().as_bytes());
        assert!(
            info.finish_signature(b"other", &signature.to_bytes())
                .is_none()
        );
        assert!(
            info.finish_signature(b"payload", &der).is_none(),
            "DER is not r||s"
        );
    }

    #[test]
    fn key_id_is_sha256_of_the_spki() {
        assert_eq!(
            key_id(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
