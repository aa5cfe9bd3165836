//! Public keys: parsing (SPKI, PKCS#1), canonical encoding, key ids and signature verification.

use std::fmt;

use pkcs8::der::Decode;
use pkcs8::{DecodePublicKey, EncodePublicKey, PrivateKeyInfoRef, SubjectPublicKeyInfoRef};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use sha2::{Digest as _, Sha256};

use super::verify_key::{Failure, VerifyKey};
use super::{KeyError, SignatureError, oids, pem};

/// A public verification key; equality compares the canonical SPKI encoding.
#[derive(Clone)]
pub struct PublicKey {
    /// The parsed key (shared with `private.rs`, which builds a key's public half).
    material: VerifyKey,
    /// Canonical re-encoding, so the key id does not depend on how the input was encoded.
    spki_der: Vec<u8>,
}

fn malformed(what: &'static str, reason: impl fmt::Display) -> KeyError {
    KeyError::Malformed {
        what,
        reason: reason.to_string(),
    }
}

impl PublicKey {
    pub(crate) fn from_material(material: VerifyKey) -> Self {
        let doc = match &material {
            VerifyKey::P256(k) => k.to_public_key_der(),
            VerifyKey::P384(k) => k.to_public_key_der(),
            VerifyKey::Ed25519(k) => k.to_public_key_der(),
            VerifyKey::Rsa(k) => k.to_public_key_der(),
        };
        let spki_der = doc
            .expect("encoding a valid in-memory public key cannot fail")
            .into_vec();
        PublicKey { material, spki_der }
    }

    /// Parse a `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) PEM.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let block = pem::decode_first(pem)?;
        match block.label.as_str() {
            "PUBLIC KEY" => Self::from_spki_der(&block.der),
            "RSA PUBLIC KEY" => Self::from_pkcs1_der(&block.der),
            label if label.contains("PRIVATE KEY") => Err(KeyError::PrivateKeyGiven),
            other => Err(KeyError::UnexpectedPemLabel {
                found: other.to_string(),
                expected: "PUBLIC KEY or RSA PUBLIC KEY",
            }),
        }
    }

    /// Parse DER: SPKI, or PKCS#1 `RSAPublicKey`.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        if SubjectPublicKeyInfoRef::from_der(der).is_ok() {
            Self::from_spki_der(der)
        } else if rsa::pkcs1::RsaPublicKeyRef::from_der(der).is_ok() {
            Self::from_pkcs1_der(der)
        } else if looks_like_private_key_der(der) {
            Err(KeyError::PrivateKeyGiven)
        } else {
            Err(malformed(
                "public key",
                "neither PEM nor a DER SubjectPublicKeyInfo",
            ))
        }
    }

    /// Parse either PEM or DER, deciding by content.
    pub fn from_pem_or_der(data: &[u8]) -> Result<Self, KeyError> {
        if pem::looks_like_pem(data) {
            let text = std::str::from_utf8(data)
                .map_err(|_| KeyError::Pem("file is not valid UTF-8".into()))?;
            Self::from_pem(text)
        } else {
            Self::from_der(data)
        }
    }

    fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        const WHAT: &str = "public key";
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| malformed(WHAT, e))?;
        let material = match spki.algorithm.oid {
            oids::EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| malformed(WHAT, "EC key without a named curve"))?;
                match curve {
                    oids::P256 => VerifyKey::P256(
                        p256::ecdsa::VerifyingKey::from_public_key_der(der)
                            .map_err(|e| malformed(WHAT, e))?,
                    ),
                    oids::P384 => VerifyKey::P384(
                        p384::ecdsa::VerifyingKey::from_public_key_der(der)
                            .map_err(|e| malformed(WHAT, e))?,
                    ),
                    other => return Err(KeyError::UnsupportedKeyType(oids::curve_name(&other))),
                }
            }
            oids::ED25519 => VerifyKey::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der)
                    .map_err(|e| malformed(WHAT, e))?,
            ),
            oids::RSA => {
                let pkcs1 = spki
                    .subject_public_key
                    .as_bytes()
                    .ok_or_else(|| malformed(WHAT, "RSA key bit string has unused bits"))?;
                return Self::from_pkcs1_der(pkcs1);
            }
            other => return Err(KeyError::UnsupportedKeyType(oids::algorithm_name(&other))),
        };
        Ok(Self::from_material(material))
    }

    fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        const WHAT: &str = "RSA public key";
        let parsed = rsa::pkcs1::RsaPublicKeyRef::from_der(der).map_err(|e| malformed(WHAT, e))?;
        oids::check_rsa_bits(oids::bit_length(parsed.modulus.as_bytes()))?;
        let key = rsa::PublicKey::from_pkcs1_der(der).map_err(|e| malformed(WHAT, e))?;
        Ok(Self::from_material(VerifyKey::Rsa(key)))
    }

    /// SPKI PEM (label `PUBLIC KEY`).
    pub fn to_pem(&self) -> String {
        pem::encode("PUBLIC KEY", &self.spki_der)
    }

    /// DER-encoded SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Key id: lowercase hex SHA-256 of the SPKI DER.
    pub fn key_id(&self) -> String {
        hex::encode(Sha256::digest(&self.spki_der))
    }

    /// Algorithm name, e.g. `ecdsa-p256`, `ed25519`, `rsa-3072`.
    pub fn algorithm_name(&self) -> String {
        match &self.material {
            VerifyKey::P256(_) => "ecdsa-p256".into(),
            VerifyKey::P384(_) => "ecdsa-p384".into(),
            VerifyKey::Ed25519(_) => "ed25519".into(),
            VerifyKey::Rsa(k) => format!("rsa-{}", oids::bit_length(&k.n_bytes())),
        }
    }

    /// Verify `sig` over `msg`: ECDSA (DER, or fixed r||s of the exact size) with SHA-256/384,
    /// Ed25519 (pure, then Ed25519ph), or RSA PKCS#1 v1.5 with SHA-256.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        let scheme = self.material.default_scheme();
        self.material
            .check(scheme, msg, sig, true)
            .map_err(|failure| match failure {
                Failure::Malformed(reason) => SignatureError::Malformed {
                    algorithm: self.algorithm_name(),
                    reason,
                },
                Failure::Mismatch => SignatureError::Mismatch {
                    algorithm: self.algorithm_name(),
                    key_id: self.key_id(),
                },
            })
    }
}

/// PKCS#8, PKCS#1 RSA or SEC1 EC private key DER, to give a helpful error for a swapped file.
fn looks_like_private_key_der(der: &[u8]) -> bool {
    PrivateKeyInfoRef::from_der(der).is_ok()
        || rsa::pkcs1::RsaPrivateKeyRef::from_der(der).is_ok()
        || p256::SecretKey::from_sec1_der(der).is_ok()
        || p384::SecretKey::from_sec1_der(der).is_ok()
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm_name())
            .field("key_id", &self.key_id())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Digest as _, Sha512};

    use super::super::test_vectors;
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    const FIXTURES: &str = "containers-image/signature/fixtures";
    const VALID_CASE: &str = "containers-image/derived-simple-signing/cosign-key-valid";
    // `openssl pkey -pubin -in cosign.pub -outform DER | sha256sum`
    const COSIGN_PUB_KEY_ID: &str =
        "c87a79018f346cc02482448b77296b0bea143ef2ccab99b04776fb0f638f301f";

    fn fixture_key(name: &str) -> PublicKey {
        PublicKey::from_pem(&test_vectors::text(&format!("{FIXTURES}/{name}"))).expect("loads")
    }

    fn valid_case() -> (Vec<u8>, Vec<u8>) {
        let payload = std::fs::read(test_vectors::path(&format!("{VALID_CASE}/payload.json")))
            .expect("payload");
        let sig_b64 = test_vectors::text(&format!("{VALID_CASE}/signature.b64"));
        let sig = STANDARD.decode(sig_b64.trim()).expect("base64 signature");
        (payload, sig)
    }

    #[test]
    fn containers_image_cosign_signature_verifies() {
        let (payload, sig) = valid_case();
        let key = fixture_key("cosign.pub");
        assert_eq!(key.algorithm_name(), "ecdsa-p256");
        key.verify(&payload, &sig).expect("valid signature");

        let other = fixture_key("cosign2.pub");
        assert!(matches!(
            other.verify(&payload, &sig),
            Err(SignatureError::Mismatch { .. })
        ));

        let mut flipped = payload.clone();
        flipped[10] ^= 0x01;
        let err = key
            .verify(&flipped, &sig)
            .expect_err("flipped payload fails");
        assert!(matches!(err, SignatureError::Mismatch { .. }));
        assert!(err.to_string().contains(COSIGN_PUB_KEY_ID), "{err}");
    }

    #[test]
    fn ecdsa_signature_encodings() {
        let (payload, sig) = valid_case();
        let key = fixture_key("cosign.pub");
        // The same signature in fixed-size r||s form is accepted.
        let fixed = p256::ecdsa::Signature::from_der(&sig)
            .expect("der")
            .to_bytes();
        key.verify(&payload, &fixed).expect("r||s form verifies");
        // Truncated DER or odd sizes are malformed, not mismatches.
        for bad in [&sig[..sig.len() - 1], &fixed[..63], &[][..]] {
            assert!(matches!(
                key.verify(&payload, bad),
                Err(SignatureError::Malformed { .. })
            ));
        }
        let mut trailing = sig.clone();
        trailing.push(0);
        assert!(matches!(
            key.verify(&payload, &trailing),
            Err(SignatureError::Malformed { .. })
        ));
    }

    #[test]
    fn key_id_is_sha256_of_spki_and_stable() {
        let key = fixture_key("cosign.pub");
        assert_eq!(key.key_id(), COSIGN_PUB_KEY_ID);
        let reparsed = PublicKey::from_pem(&key.to_pem()).expect("roundtrip");
        assert_eq!(reparsed.key_id(), COSIGN_PUB_KEY_ID);
        let from_der = PublicKey::from_der(key.spki_der()).expect("der");
        assert_eq!(from_der, key);
        assert_eq!(
            key.to_pem(),
            test_vectors::text(&format!("{FIXTURES}/cosign.pub"))
        );
    }

    #[test]
    fn cosign_public_key_testdata() {
        let dir = "cosign/pkg/cosign/testdata";
        let google = PublicKey::from_pem_or_der(
            &std::fs::read(test_vectors::path(&format!("{dir}/google"))).expect("read"),
        )
        .expect("PKIX RSA");
        assert_eq!(google.algorithm_name(), "rsa-4096");
        let pkcs1 = PublicKey::from_pem_or_der(
            &std::fs::read(test_vectors::path(&format!("{dir}/rsa"))).expect("read"),
        )
        .expect("PKCS#1 RSA");
        assert!(pkcs1.algorithm_name().starts_with("rsa-"));
        // PKCS#1 input is re-encoded as SPKI.
        assert!(pkcs1.to_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        let der = PublicKey::from_pem_or_der(
            &std::fs::read(test_vectors::path(&format!(
                "{dir}/letsencrypt-testflume-2021"
            )))
            .expect("read"),
        )
        .expect("DER P-256");
        assert_eq!(der.algorithm_name(), "ecdsa-p256");
        assert!(
            PublicKey::from_pem_or_der(
                &std::fs::read(test_vectors::path(&format!(
                    "{dir}/garbage-there-are-limits"
                )))
                .expect("read")
            )
            .is_err()
        );
    }

    #[test]
    fn sigstore_rs_example_public_key_encodings() {
        let dir = "sigstore-rs/examples/key_interface/key_pair_import";
        let der = std::fs::read(test_vectors::path(&format!(
            "{dir}/ECDSA_P256_ASN1_PUBLIC_DER.pub"
        )))
        .expect("read");
        let from_der = PublicKey::from_pem_or_der(&der).expect("DER SPKI");
        // `sha256sum ECDSA_P256_ASN1_PUBLIC_DER.pub`: the file is already canonical SPKI.
        assert_eq!(
            from_der.key_id(),
            "6443066c3e55474ae8d3136a283f17504c87964446a9d42742c874705ac1aee5"
        );
        assert_eq!(from_der.spki_der(), &der[..]);
        let pem = test_vectors::text(&format!("{dir}/ECDSA_P256_ASN1_PUBLIC_PEM.pub"));
        assert_eq!(
            PublicKey::from_pem(&pem).expect("PEM").algorithm_name(),
            "ecdsa-p256"
        );
    }

    #[test]
    fn private_key_given_as_public_key() {
        for rel in [
            "sigstore-rs/tests/data/keys/ecdsa_private.key",
            "sigstore-rs/tests/data/keys/ecdsa_encrypted_private.key",
            "sigstore-rs/tests/data/keys/rsa_private.key",
            "cosign/extracted/pkg/cosign/keys_test/validecp256.pem",
        ] {
            let err = PublicKey::from_pem(&test_vectors::text(rel)).expect_err(rel);
            assert!(matches!(err, KeyError::PrivateKeyGiven), "{rel}: {err}");
            assert_eq!(err.to_string(), "this is a private key; pass the .pub file");
        }
        let pkcs8_der = crate::PrivateKey::generate(crate::Algorithm::EcdsaP256).to_pkcs8_der();
        assert!(matches!(
            PublicKey::from_der(&pkcs8_der),
            Err(KeyError::PrivateKeyGiven)
        ));
        let der_key = std::fs::read(test_vectors::path(
            "sigstore-rs/examples/key_interface/key_pair_import/ECDSA_P256_ASN1_PRIVATE_DER.key",
        ))
        .expect("read");
        assert!(matches!(
            PublicKey::from_pem_or_der(&der_key),
            Err(KeyError::PrivateKeyGiven)
        ));
    }

    #[test]
    fn p256_signatures_verify_in_every_accepted_encoding() {
        use p256::ecdsa::Signature;
        let key = super::super::PrivateKey::generate(super::super::Algorithm::EcdsaP256);
        let public = key.public_key();
        let der = key.sign(b"payload");
        let parsed = Signature::from_der(&der).expect("DER");
        let (r, s) = parsed.split_scalars();
        // Go's crypto/ecdsa does not normalize s: both halves of the curve order must verify.
        let flipped = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).expect("n - s");
        for sig in [
            der.clone(),
            parsed.to_bytes().to_vec(),
            flipped.to_der().as_bytes().to_vec(),
            flipped.to_bytes().to_vec(),
        ] {
            public.verify(b"payload", &sig).expect("verifies");
            assert!(matches!(
                public.verify(b"payloaD", &sig),
                Err(SignatureError::Mismatch { .. })
            ));
        }
        let mut zero_s = parsed.to_bytes().to_vec();
        zero_s[32..].fill(0);
        assert!(matches!(
            public.verify(b"payload", &zero_s),
            Err(SignatureError::Malformed { .. })
        ));
        let other = super::super::PrivateKey::generate(super::super::Algorithm::EcdsaP256);
        assert!(other.public_key().verify(b"payload", &der).is_err());
    }

    #[test]
    fn ed25519ph_signatures_verify() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let public = PublicKey::from_der(
            signing
                .verifying_key()
                .to_public_key_der()
                .expect("spki")
                .as_bytes(),
        )
        .expect("ed25519 spki");
        let msg = b"prehashed payload";
        let ph = signing
            .sign_prehashed(Sha512::new_with_prefix(msg), None)
            .expect("ph sign")
            .to_bytes();
        public.verify(msg, &ph).expect("Ed25519ph verifies");
        assert!(matches!(
            public.verify(b"other payload", &ph),
            Err(SignatureError::Mismatch { .. })
        ));
        // A context string changes the domain, so it must not verify.
        let with_ctx = signing
            .sign_prehashed(Sha512::new_with_prefix(msg), Some(b"ctx"))
            .expect("ph sign")
            .to_bytes();
        assert!(public.verify(msg, &with_ctx).is_err());
        assert!(matches!(
            public.verify(msg, &ph[..63]),
            Err(SignatureError::Malformed { .. })
        ));
    }

    #[test]
    fn rsa_signature_size_is_checked() {
        let key = crate::PrivateKey::from_unencrypted_pem(&test_vectors::text(
            "cosign/extracted/pkg/cosign/keys_test/validrsa.pem",
        ))
        .expect("rsa");
        let public = key.public_key();
        let sig = key.sign(b"m");
        assert_eq!(sig.len(), 256);
        public.verify(b"m", &sig).expect("verifies");
        assert!(matches!(
            public.verify(b"m", &sig[1..]),
            Err(SignatureError::Malformed { .. })
        ));
        assert!(matches!(
            public.verify(b"n", &sig),
            Err(SignatureError::Mismatch { .. })
        ));
    }

    #[test]
    fn certificates_and_other_blocks_rejected() {
        let err = PublicKey::from_pem(&test_vectors::text(&format!(
            "{FIXTURES}/fulcio_v1.crt.pem"
        )))
        .expect_err("certificate rejected");
        assert!(err.to_string().contains("CERTIFICATE"), "{err}");
    }
}
