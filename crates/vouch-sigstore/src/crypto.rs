//! Algorithm identifiers of X.509, CMS and protobuf, mapped to the key types' schemes and
//! digests (`vouch_keys::VerifyKey` does the verifying).

use spki::ObjectIdentifier;

pub use vouch_keys::HashAlgorithm;
pub(crate) use vouch_keys::{Scheme, VerifyKey};

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
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

/// A digest algorithm from an AlgorithmIdentifier's OID.
pub(crate) fn hash_from_oid(oid: &ObjectIdentifier) -> Option<HashAlgorithm> {
    match *oid {
        SHA256 => Some(HashAlgorithm::Sha256),
        SHA384 => Some(HashAlgorithm::Sha384),
        SHA512 => Some(HashAlgorithm::Sha512),
        _ => None,
    }
}

/// A digest algorithm from its protobuf enum name (`SHA2_256`).
pub(crate) fn hash_from_proto(name: &str) -> Option<HashAlgorithm> {
    match name {
        "SHA2_256" => Some(HashAlgorithm::Sha256),
        "SHA2_384" => Some(HashAlgorithm::Sha384),
        "SHA2_512" => Some(HashAlgorithm::Sha512),
        _ => None,
    }
}

/// A signature algorithm vouch does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported signature algorithm {0}")]
pub(crate) struct UnsupportedAlgorithm(pub(crate) ObjectIdentifier);

/// A signature scheme from a signature AlgorithmIdentifier's OID (X.509, CMS). `digest` is the
/// CMS digest algorithm, used when the signature algorithm names only the key type.
pub(crate) fn scheme_from_algorithm(
    oid: &ObjectIdentifier,
    digest: Option<HashAlgorithm>,
) -> Result<Scheme, UnsupportedAlgorithm> {
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
        _ => return Err(UnsupportedAlgorithm(*oid)),
    };
    Ok(scheme)
}
