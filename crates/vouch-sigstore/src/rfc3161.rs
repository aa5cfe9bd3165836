//! RFC 3161 timestamps: a TimeStampResp (or bare TimeStampToken) whose CMS SignedData
//! carries a TSTInfo. Verified: the message imprint over the bundle's signature bytes, the
//! signed attributes (content type, message digest), the signer's signature and its chain
//! to a trusted timestamp authority at the time stamped, and that authority's validity.
//!
//! The `cms` crate decodes the SignedData; TSTInfo and the response around the token are small
//! typed structures on `der` (no maintained crate reads them with `der` 0.8), and must be
//! consumed whole. vouch's own: the exact bytes of the signed attributes and of the embedded
//! certificates are read beside the typed decode, so signatures are checked over what was
//! received (`der` re-sorts a SET OF); genTime may carry a fraction of a second, which `der`'s
//! GeneralizedTime does not read; the signer's extended key usage is RFC 3161 §2.3's.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{AnyRef, IntRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode as _, Reader as _, Sequence, Tag, TagNumber, Tagged as _};
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::crypto::{HashAlgorithm, UnsupportedAlgorithm};
use super::time::UnixTime;
use super::trust_root::Authority;
use super::x509::{self, Certificate, CertificateError, EKU_TIME_STAMPING, EXT_EXTENDED_KEY_USAGE};

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ATTR_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ATTR_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

/// `[0]` constructed: SignedData's certificates, SignerInfo's signed attributes.
const CONTEXT_0: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber(0),
};

/// `TimeStampResp` (RFC 3161 §2.4.2).
#[derive(Sequence)]
struct TimeStampResp<'a> {
    status: PkiStatusInfo<'a>,
    #[asn1(optional = "true")]
    time_stamp_token: Option<ContentInfo>,
}

/// `PKIStatusInfo` (RFC 4210 §5.2.3).
#[derive(Sequence)]
struct PkiStatusInfo<'a> {
    status: u32,
    #[asn1(optional = "true")]
    status_string: Option<Vec<der::asn1::Utf8StringRef<'a>>>,
    #[asn1(optional = "true")]
    fail_info: Option<der::asn1::BitStringRef<'a>>,
}

/// `TSTInfo` (RFC 3161 §2.4.2).
#[derive(Sequence)]
struct TstInfo<'a> {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint<'a>,
    serial_number: IntRef<'a>,
    /// A GeneralizedTime, read by vouch (it may have a fraction).
    gen_time: AnyRef<'a>,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<IntRef<'a>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

#[derive(Sequence)]
struct MessageImprint<'a> {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: &'a OctetStringRef,
}

#[derive(Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u64>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

/// Why an RFC 3161 timestamp does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TimestampError {
    #[error("malformed timestamp: {0}")]
    Malformed(String),
    #[error("unsupported timestamp digest algorithm")]
    DigestAlgorithm,
    #[error("timestamp response status {0} (not granted)")]
    NotGranted(u32),
    #[error("timestamp token is not CMS SignedData")]
    NotSignedData,
    #[error("timestamp token does not carry a TSTInfo")]
    NotTstInfo,
    #[error("unsupported TSTInfo version")]
    Version,
    #[error("malformed timestamp genTime")]
    GenTime,
    #[error("timestamp is not over this bundle's signature (message imprint)")]
    MessageImprint,
    #[error("timestamp has more than one signer")]
    SeveralSigners,
    #[error(transparent)]
    Algorithm(#[from] UnsupportedAlgorithm),
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// The signature does not verify under the signer's key.
    #[error("{0}")]
    Signature(String),
    #[error("the timestamp authority's extended key usage is not critical")]
    EkuNotCritical,
    #[error("the timestamp authority's certificate must have the one extended key usage {0}")]
    Eku(ObjectIdentifier),
    #[error("timestamp time {time} is outside the trusted validity of {uri}")]
    OutsideValidity { time: UnixTime, uri: String },
    /// What one trusted authority found.
    #[error("{uri}: {cause}")]
    Authority {
        uri: String,
        cause: Box<TimestampError>,
    },
    #[error("signed by no trusted timestamp authority")]
    NoTrustedAuthority,
    /// Every candidate failed, each for its reason.
    #[error("{}", join(.0))]
    NotVerified(Vec<TimestampError>),
    #[error("timestamp repeats a signed attribute")]
    RepeatedAttribute,
    #[error("timestamp signed attributes do not name TSTInfo")]
    ContentType,
    #[error("timestamp message-digest attribute does not match the TSTInfo")]
    MessageDigest,
}

fn join(errors: &[TimestampError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn bad(e: impl std::fmt::Display) -> TimestampError {
    TimestampError::Malformed(e.to_string())
}

fn digest_algorithm(alg: &AlgorithmIdentifierOwned) -> Result<HashAlgorithm, TimestampError> {
    super::crypto::hash_from_oid(&alg.oid).ok_or(TimestampError::DigestAlgorithm)
}

/// The elements of a constructed value, each as received.
fn elements(value: &[u8]) -> der::Result<Vec<AnyRef<'_>>> {
    let mut reader = der::SliceReader::new(value)?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        out.push(AnyRef::decode(&mut reader)?);
    }
    Ok(out)
}

/// The exact encodings, from a SignedData: each embedded certificate, and the signed attributes
/// of its (only) signer re-tagged as the SET the signature covers (RFC 5652 §5.4).
struct Received {
    certificates: Vec<Vec<u8>>,
    signed_attributes: Option<Vec<u8>>,
}

fn received(signed_data: &[u8]) -> der::Result<Received> {
    let top = AnyRef::from_der(signed_data)?;
    let parts = elements(top.value())?;
    let mut certificates = Vec::new();
    if let Some(set) = parts.iter().find(|p| p.tag() == CONTEXT_0) {
        for c in elements(set.value())? {
            if c.tag() == Tag::Sequence {
                certificates.push(c.to_der()?);
            }
        }
    }
    let mut signed_attributes = None;
    let signer_infos = match parts.last() {
        Some(set) => elements(set.value())?,
        None => Vec::new(),
    };
    if let Some(info) = signer_infos.first()
        && let Some(attrs) = elements(info.value())?
            .iter()
            .find(|p| p.tag() == CONTEXT_0)
    {
        signed_attributes = Some(AnyRef::new(Tag::Set, attrs.value())?.to_der()?);
    }
    Ok(Received {
        certificates,
        signed_attributes,
    })
}

/// What a verified timestamp says.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub(crate) time: UnixTime,
    pub(crate) authority: String,
}

/// Verify one timestamp over `signature` (the bytes that were timestamped).
pub(crate) fn verify(
    token: &[u8],
    signature: &[u8],
    tsas: &[Authority],
) -> Result<Verified, TimestampError> {
    let content_info = match ContentInfo::from_der(token) {
        Ok(ci) => ci,
        Err(_) => {
            let response = TimeStampResp::from_der(token).map_err(bad)?;
            if response.status.status > 1 {
                return Err(TimestampError::NotGranted(response.status.status));
            }
            response
                .time_stamp_token
                .ok_or_else(|| bad("the response carries no token"))?
        }
    };
    if content_info.content_type != SIGNED_DATA {
        return Err(TimestampError::NotSignedData);
    }
    let signed_data_der = content_info.content.to_der().map_err(bad)?;
    let signed_data = SignedData::from_der(&signed_data_der).map_err(bad)?;
    let raw = received(&signed_data_der).map_err(bad)?;
    let embedded = raw
        .certificates
        .iter()
        .map(|c| Certificate::from_der(c))
        .collect::<Result<Vec<_>, _>>()?;

    let encap = &signed_data.encap_content_info;
    if encap.econtent_type != TST_INFO {
        return Err(TimestampError::NotTstInfo);
    }
    let econtent = encap
        .econtent
        .as_ref()
        .ok_or_else(|| bad("the token has no content"))?;
    let tst_der = econtent
        .decode_as::<&OctetStringRef>()
        .map_err(bad)?
        .as_bytes();

    // TSTInfo, consumed whole: the time and what was stamped.
    let tst = TstInfo::from_der(tst_der).map_err(bad)?;
    if tst.version != 1 {
        return Err(TimestampError::Version);
    }
    if tst.gen_time.tag() != Tag::GeneralizedTime {
        return Err(bad("genTime is not a GeneralizedTime"));
    }
    let time =
        UnixTime::from_generalized_time(tst.gen_time.value()).ok_or(TimestampError::GenTime)?;
    let imprint_alg = digest_algorithm(&tst.message_imprint.hash_algorithm)?;
    if imprint_alg.digest(signature) != tst.message_imprint.hashed_message.as_bytes() {
        return Err(TimestampError::MessageImprint);
    }

    let [signer] = signed_data.signer_infos.0.as_slice() else {
        return Err(if signed_data.signer_infos.0.is_empty() {
            bad("no signer")
        } else {
            TimestampError::SeveralSigners
        });
    };
    let digest = digest_algorithm(&signer.digest_alg)?;

    // The bytes signed: the signed attributes as a SET, or the TSTInfo itself.
    let signed_bytes = match (&signer.signed_attrs, raw.signed_attributes) {
        (Some(_), Some(bytes)) => {
            check_attributes(signer, digest, tst_der)?;
            bytes
        }
        (None, None) => tst_der.to_vec(),
        _ => return Err(bad("signed attributes")),
    };
    let scheme =
        super::crypto::scheme_from_algorithm(&signer.signature_algorithm.oid, Some(digest))?;

    let mut errors = Vec::new();
    for tsa in tsas {
        let candidates = embedded
            .iter()
            .chain(tsa.chain.iter())
            .filter(|c| signer_matches(&signer.sid, c));
        for cert in candidates {
            let result = check_signer_eku(cert).and_then(|()| {
                x509::verify_path(cert, &tsa.chain, time, &EKU_TIME_STAMPING)?;
                cert.key()?
                    .verify(scheme, &signed_bytes, signer.signature.as_bytes())
                    .map_err(TimestampError::Signature)
            });
            match result {
                Ok(()) if tsa.valid_for.contains(time) => {
                    return Ok(Verified {
                        time,
                        authority: tsa.uri.clone(),
                    });
                }
                Ok(()) => errors.push(TimestampError::OutsideValidity {
                    time,
                    uri: tsa.uri.clone(),
                }),
                Err(e) if tsa.uri.is_empty() => errors.push(e),
                Err(e) => errors.push(TimestampError::Authority {
                    uri: tsa.uri.clone(),
                    cause: Box::new(e),
                }),
            }
        }
    }
    if errors.is_empty() {
        errors.push(TimestampError::NoTrustedAuthority);
    }
    // Repeats are dropped by what they say, as one message lists them.
    errors.dedup_by(|a, b| a.to_string() == b.to_string());
    Err(TimestampError::NotVerified(errors))
}

fn signer_matches(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            isn.issuer
                .to_der()
                .is_ok_and(|issuer| issuer == cert.issuer)
                && isn.serial_number.as_bytes() == cert.serial()
        }
        SignerIdentifier::SubjectKeyIdentifier(kid) => {
            x509::subject_key_id(cert).is_some_and(|k| k == kid.0.as_bytes())
        }
    }
}

/// RFC 3161 §2.3: the TSA's certificate has exactly one extended key usage, id-kp-timeStamping,
/// in a critical extension.
fn check_signer_eku(cert: &Certificate) -> Result<(), TimestampError> {
    match cert.extended_key_usage()? {
        Some(list) if list == [EKU_TIME_STAMPING] && cert.is_critical(&EXT_EXTENDED_KEY_USAGE) => {
            Ok(())
        }
        Some(list) if list == [EKU_TIME_STAMPING] => Err(TimestampError::EkuNotCritical),
        _ => Err(TimestampError::Eku(EKU_TIME_STAMPING)),
    }
}

fn check_attributes(
    signer: &SignerInfo,
    digest: HashAlgorithm,
    tst: &[u8],
) -> Result<(), TimestampError> {
    let (mut content_type, mut message_digest) = (None, None);
    for attr in signer.signed_attrs.iter().flat_map(|a| a.iter()) {
        let slot = if attr.oid == ATTR_CONTENT_TYPE {
            &mut content_type
        } else if attr.oid == ATTR_MESSAGE_DIGEST {
            &mut message_digest
        } else {
            continue;
        };
        if slot.is_some() {
            return Err(TimestampError::RepeatedAttribute);
        }
        let [value] = attr.values.as_slice() else {
            return Err(bad("a signed attribute must have one value"));
        };
        *slot = Some(value);
    }
    match content_type.map(|v| v.decode_as::<ObjectIdentifier>()) {
        Some(Ok(oid)) if oid == TST_INFO => {}
        _ => return Err(TimestampError::ContentType),
    }
    match message_digest.map(|v| v.decode_as::<&OctetStringRef>()) {
        Some(Ok(md)) if md.as_bytes() == digest.digest(tst) => Ok(()),
        _ => Err(TimestampError::MessageDigest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrustedRoot;

    fn vector(rel: &str) -> Vec<u8> {
        let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/vectors")
            .join(rel);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// sigstore-python #1482: a response without embedded certificates verifies against the
    /// trusted root's TSA chain.
    #[test]
    fn timestamp_without_embedded_certificates() {
        let root = TrustedRoot::from_json(&vector(
            "sigstore-python/sigstore/_store/tuf-repo-cdn.sigstage.dev/trusted_root.json",
        ))
        .expect("staging root");
        let token = vector("sigstore-python/test/assets/tsa/issue1482-timestamp-with-no-cert");
        let message = vector("sigstore-python/test/assets/tsa/issue1482-message");
        let v = verify(&token, &message, &root.tsas).expect("verifies");
        assert!(v.authority.contains("sigstage"), "{}", v.authority);

        let mut other = message.clone();
        other.push(b'!');
        let err = verify(&token, &other, &root.tsas)
            .expect_err("other message")
            .to_string();
        assert!(err.contains("message imprint"), "{err}");

        // Any flipped byte in the token must be caught (parse, imprint, digest or signature).
        for i in (0..token.len()).step_by(7) {
            let mut bad = token.clone();
            bad[i] ^= 0x01;
            if let Ok(v2) = verify(&bad, &message, &root.tsas) {
                // Only bytes outside everything signed may change without effect: none here
                // but the unsigned status/CMS framing, which must still give the same time.
                assert_eq!(v2.time, v.time, "byte {i}");
            }
        }

        let prod = TrustedRoot::from_json(&vector(
            "sigstore-python/sigstore/_store/tuf-repo-cdn.sigstore.dev/trusted_root.json",
        ))
        .expect("production root");
        assert!(
            verify(&token, &message, &prod.tsas).is_err(),
            "untrusted TSA"
        );
    }
}
