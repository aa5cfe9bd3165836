//! Public keys the stand-in receives from clients (Fulcio's proof of possession, Rekor's
//! entries): parsed from PEM or DER SubjectPublicKeyInfo or a certificate, and checked over
//! a message or, for Rekor's hashedrekord, over a digest.

use der::Decode as _;
use der::asn1::ObjectIdentifier;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use spki::SubjectPublicKeyInfoRef;

use super::keys::ID_EC_PUBLIC_KEY;

const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A client's verification key.
pub(crate) enum ClientKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(Vec<u8>),
}

impl ClientKey {
    /// From SubjectPublicKeyInfo DER.
    pub(crate) fn from_spki_der(der: &[u8]) -> Result<ClientKey, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| format!("malformed public key: {e}"))?;
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or("malformed public key bit string")?;
        let oid = spki.algorithm.oid;
        if oid == ID_ED25519 {
            return Ok(ClientKey::Ed25519(point.to_vec()));
        }
        if oid != ID_EC_PUBLIC_KEY {
            return Err(format!("unsupported public key algorithm {oid}"));
        }
        let curve: ObjectIdentifier = spki
            .algorithm
            .parameters
            .ok_or("EC key without curve")?
            .decode_as()
            .map_err(|e| format!("malformed EC curve: {e}"))?;
        if curve == super::keys::SECP256R1 {
            p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(ClientKey::P256)
                .map_err(|_| "invalid P-256 point".to_string())
        } else if curve == SECP384R1 {
            p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(ClientKey::P384)
                .map_err(|_| "invalid P-384 point".to_string())
        } else {
            Err(format!("unsupported curve {curve}"))
        }
    }

    /// From PEM: a `PUBLIC KEY` or a `CERTIFICATE` (its key). Also returns the SPKI DER.
    pub(crate) fn from_pem(text: &[u8]) -> Result<(ClientKey, Vec<u8>), String> {
        let (label, der) = der::pem::decode_vec(text).map_err(|e| format!("malformed PEM: {e}"))?;
        let spki = match label {
            "PUBLIC KEY" => der,
            "CERTIFICATE" => certificate_spki(&der)?,
            other => return Err(format!("unsupported PEM label {other:?}")),
        };
        Ok((ClientKey::from_spki_der(&spki)?, spki))
    }

    /// Checks a signature over `message` (ECDSA with the curve's usual hash, or Ed25519).
    pub(crate) fn verify_message(&self, message: &[u8], signature: &[u8]) -> Result<(), String> {
        let ok = match self {
            ClientKey::P256(k) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
            ClientKey::P384(k) => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
            ClientKey::Ed25519(k) => {
                ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, k)
                    .verify(message, signature)
                    .is_ok()
            }
        };
        ok.then_some(())
            .ok_or_else(|| "signature does not verify".into())
    }

    /// Checks an ECDSA signature over a precomputed digest.
    pub(crate) fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> Result<(), String> {
        let ok = match self {
            ClientKey::P256(k) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
            ClientKey::P384(k) => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
            ClientKey::Ed25519(_) => return Err("Ed25519 cannot sign a bare digest".into()),
        };
        ok.then_some(())
            .ok_or_else(|| "signature does not verify".into())
    }
}

/// The SubjectPublicKeyInfo DER of a certificate.
pub(crate) fn certificate_spki(cert_der: &[u8]) -> Result<Vec<u8>, String> {
    use der::Encode as _;
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| format!("malformed certificate: {e}"))?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| format!("certificate key: {e}"))
}
