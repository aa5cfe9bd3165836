//! Embedded signed certificate timestamps (RFC 6962 §3.2): the log's signature over the
//! precertificate, rebuilt from the final certificate by removing the SCT-list extension.
//!
//! The list and each SCT are read by `x509-cert` (its `sct` feature, on `tls_codec`). vouch's
//! own: rebuilding the precertificate's TBS and checking the log's signature over it, which no
//! maintained crate does; the TBS is rebuilt from the certificate's bytes as received.

use der::asn1::AnyRef;
use der::{Decode as _, Encode as _, Tag, TagNumber, Tagged as _};
use sha2::{Digest as _, Sha256};
use spki::ObjectIdentifier;
use tls_codec::SerializeBytes as _;
use x509_cert::ext::pkix::sct::{HashAlgorithm as SctHash, SignatureAlgorithm};
use x509_cert::ext::pkix::{SignedCertificateTimestampList, sct};

use super::crypto::{HashAlgorithm, Scheme};
use super::time::UnixTime;
use super::trust_root::{LogInstance, UnusableKey};
use super::x509::{Certificate, CertificateError};

const EXT_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// Why the embedded SCTs do not show the certificate was logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SctError {
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error("certificate has no embedded SCT")]
    Missing,
    #[error("malformed SCT list: {0}")]
    MalformedList(String),
    #[error("malformed SCT: {0}")]
    Malformed(String),
    #[error("certificate too large for an SCT")]
    TooLarge,
    #[error("SCT from unknown log {0}")]
    UnknownLog(String),
    #[error("SCT time {0} outside the CT log key's validity")]
    OutsideValidity(UnixTime),
    #[error("CT log key unusable: {0}")]
    UnusableKey(UnusableKey),
    #[error("SCT hash algorithm {0} unsupported")]
    HashAlgorithm(String),
    #[error("SCT signature algorithm {0} unsupported")]
    SignatureAlgorithm(String),
    #[error("SCT signature: {0}")]
    Signature(String),
    #[error("no SCT in the list")]
    Empty,
    /// Every SCT failed, each for its reason.
    #[error("{}", join(.0))]
    NoneVerified(Vec<SctError>),
}

fn join(errors: &[SctError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The version-1 SCTs of the leaf's list. SCTs of other versions cannot be checked and are
/// skipped, as CT clients do; a malformed version-1 SCT fails the whole list.
fn parse_list(leaf: &Certificate) -> Result<Vec<sct::SignedCertificateTimestamp>, SctError> {
    let (_, list) = leaf
        .extension::<SignedCertificateTimestampList>()?
        .ok_or(SctError::Missing)?;
    let serialized = list
        .parse_timestamps()
        .map_err(|e| SctError::MalformedList(format!("{e:?}")))?;
    let mut out = Vec::new();
    for s in serialized {
        // The serialized form is the u16 length, then the SCT: its first byte is the version.
        let bytes = s
            .tls_serialize()
            .map_err(|e| SctError::Malformed(format!("{e:?}")))?;
        if bytes.get(2) != Some(&0) {
            continue;
        }
        out.push(
            s.parse_timestamp()
                .map_err(|e| SctError::Malformed(format!("{e:?}")))?,
        );
    }
    Ok(out)
}

/// The leaf's TBSCertificate without the SCT-list extension (the precertificate's TBS),
/// re-assembled from the elements as received.
fn precert_tbs(leaf: &Certificate) -> Result<Vec<u8>, CertificateError> {
    let bad = |e: der::Error| CertificateError::Malformed(e.to_string());
    let extensions_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(3),
    };
    let elements = Vec::<AnyRef<'_>>::from_der(&leaf.tbs).map_err(bad)?;
    let mut content = Vec::new();
    for element in elements {
        if element.tag() != extensions_tag {
            content.push(element.to_der().map_err(bad)?);
            continue;
        }
        let list = Vec::<AnyRef<'_>>::from_der(element.value()).map_err(bad)?;
        let mut kept = Vec::new();
        for ext in list {
            let raw = ext.to_der().map_err(bad)?;
            let decoded = x509_cert::ext::Extension::from_der(&raw).map_err(bad)?;
            if decoded.extn_id != EXT_SCT_LIST {
                kept.extend_from_slice(&raw);
            }
        }
        if !kept.is_empty() {
            let sequence = AnyRef::new(Tag::Sequence, &kept)
                .map_err(bad)?
                .to_der()
                .map_err(bad)?;
            content.push(
                AnyRef::new(extensions_tag, &sequence)
                    .map_err(bad)?
                    .to_der()
                    .map_err(bad)?,
            );
        }
    }
    AnyRef::new(Tag::Sequence, &content.concat())
        .map_err(bad)?
        .to_der()
        .map_err(bad)
}

/// Verify the leaf's embedded SCTs; at least one must be by a trusted CT log valid at the
/// SCT's time. SCTs from unknown logs are ignored.
pub(crate) fn verify_embedded_scts(
    leaf: &Certificate,
    issuer: &Certificate,
    ctlogs: &[LogInstance],
) -> Result<(), SctError> {
    let scts = parse_list(leaf)?;
    let tbs = precert_tbs(leaf)?;
    if tbs.len() >= 1 << 24 {
        return Err(SctError::TooLarge);
    }
    let issuer_key_hash = Sha256::digest(&issuer.spki);
    let mut failures = Vec::new();
    for sct in &scts {
        let time = UnixTime::from_millis(sct.timestamp);
        let log_id = &sct.log_id.key_id;
        let Some(log) = ctlogs.iter().find(|l| l.key_id == log_id) else {
            failures.push(SctError::UnknownLog(hex::encode(log_id)));
            continue;
        };
        if !log.valid_for.contains(time) {
            failures.push(SctError::OutsideValidity(time));
            continue;
        }
        let key = match &log.key {
            Ok(k) => k,
            Err(e) => {
                failures.push(SctError::UnusableKey(e.clone()));
                continue;
            }
        };
        let algorithm = &sct.signature.algorithm;
        let hash = match algorithm.hash {
            SctHash::Sha256 => HashAlgorithm::Sha256,
            SctHash::Sha384 => HashAlgorithm::Sha384,
            SctHash::Sha512 => HashAlgorithm::Sha512,
            ref other => {
                failures.push(SctError::HashAlgorithm(format!("{other:?}")));
                continue;
            }
        };
        let scheme = match algorithm.signature {
            SignatureAlgorithm::Rsa => Scheme::RsaPkcs1(hash),
            SignatureAlgorithm::Ecdsa => Scheme::Ecdsa(hash),
            SignatureAlgorithm::Ed25519 => Scheme::Ed25519,
            ref other => {
                failures.push(SctError::SignatureAlgorithm(format!("{other:?}")));
                continue;
            }
        };
        let extensions = sct.extensions.as_slice();
        let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
        signed.extend_from_slice(&sct.timestamp.to_be_bytes());
        signed.extend_from_slice(&[0, 1]); // precert_entry
        signed.extend_from_slice(&issuer_key_hash);
        signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend_from_slice(&tbs);
        signed.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        signed.extend_from_slice(extensions);
        match key.verify(scheme, &signed, sct.signature.signature.as_slice()) {
            Ok(()) => return Ok(()),
            Err(e) => failures.push(SctError::Signature(e)),
        }
    }
    if failures.is_empty() {
        failures.push(SctError::Empty);
    }
    Err(SctError::NoneVerified(failures))
}
