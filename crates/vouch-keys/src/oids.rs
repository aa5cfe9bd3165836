//! Object identifiers for the key types we accept, readable names for the ones we reject, and
//! the RSA size rule public and private keys share.

use pkcs8::ObjectIdentifier;

use super::KeyError;

/// id-ecPublicKey (RFC 5480).
pub(crate) const EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 / secp256r1.
pub(crate) const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1.
pub(crate) const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// id-Ed25519 (RFC 8410).
pub(crate) const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// rsaEncryption (PKCS #1).
pub(crate) const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Human name for an EC curve OID we do not support, so errors say "P-521" rather than digits.
pub(crate) fn curve_name(oid: &ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.10045.3.1.1" => "P-192",
        "1.3.132.0.33" => "P-224",
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1",
        "1.3.36.3.3.2.8.1.1.13" => "brainpoolP512r1",
        other => return format!("EC curve with OID {other}"),
    };
    format!("ECDSA curve {name}")
}

/// Human name for a key algorithm OID we do not support.
pub(crate) fn algorithm_name(oid: &ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.10040.4.1" => "DSA",
        "1.3.101.113" => "Ed448",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.2.840.113549.1.1.10" => "RSA-PSS (restricted RSA keys)",
        "1.2.840.10046.2.1" => "Diffie-Hellman",
        other => return format!("key algorithm with OID {other}"),
    };
    name.to_string()
}

/// Bit length of a big-endian unsigned integer (leading zero bytes allowed).
pub(crate) fn bit_length(be: &[u8]) -> usize {
    let trimmed = match be.iter().position(|&b| b != 0) {
        Some(i) => &be[i..],
        None => return 0,
    };
    (trimmed.len() - 1) * 8 + (8 - trimmed[0].leading_zeros() as usize)
}

/// Reject RSA moduli outside 2048..=4096 bits (cosign's limits).
pub(crate) fn check_rsa_bits(bits: usize) -> Result<(), KeyError> {
    if (2048..=4096).contains(&bits) {
        Ok(())
    } else {
        Err(KeyError::RsaKeySize(bits))
    }
}
