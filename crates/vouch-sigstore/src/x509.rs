//! X.509 certificates: parsed by `x509-cert` (strict DER), paths built and checked by
//! `rustls-webpki` at a given time (signatures, validity, basicConstraints and path length,
//! extended key usage along the chain, unknown critical extensions, name constraints).
//!
//! vouch's own rules on top, each where webpki does not go (see the comments): the version
//! must admit the fields present; extensions are not repeated; the trusted chain is in issuing
//! order; the anchor itself is checked (webpki trusts an anchor's name and key as given); keyUsage
//! (webpki ignores it); validity to the nanosecond (webpki reads whole seconds); the leaf carries
//! the extended key usage asked for (webpki accepts a leaf without the extension).

use der::asn1::AnyRef;
use der::{Decode as _, Encode as _};
use rustls_pki_types::CertificateDer;
use spki::ObjectIdentifier;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};

use super::crypto::{UnsupportedAlgorithm, VerifyKey};
use super::time::UnixTime;

pub(crate) const EXT_BASIC_CONSTRAINTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.19");
pub(crate) const EXT_EXTENDED_KEY_USAGE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.37");
pub(crate) const EXT_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// id-kp-codeSigning.
pub(crate) const EKU_CODE_SIGNING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// id-kp-timeStamping.
pub(crate) const EKU_TIME_STAMPING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// The signature algorithms webpki may use for certificate signatures (its ring set).
static SIGNATURE_ALGORITHMS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PKCS1_3072_8192_SHA384,
];

/// A parsed certificate that remembers its exact encoding.
#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    pub(crate) der: Vec<u8>,
    pub(crate) parsed: x509_cert::Certificate,
    /// The TBSCertificate exactly as received: what the issuer signed.
    pub(crate) tbs: Vec<u8>,
    pub(crate) issuer: Vec<u8>,
    pub(crate) subject: Vec<u8>,
    pub(crate) not_before: UnixTime,
    pub(crate) not_after: UnixTime,
    pub(crate) spki: Vec<u8>,
}

/// Why a certificate, or its path to a trusted CA, is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CertificateError {
    /// Not DER the X.509 grammar admits.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    #[error("certificate has extensions but is not version 3")]
    ExtensionsBeforeV3,
    #[error("version 1 certificate has unique identifiers")]
    UniqueIdentifiersInV1,
    #[error("certificate signature algorithms disagree")]
    SignatureAlgorithmsDisagree,
    #[error("certificate repeats an extension")]
    RepeatedExtension,
    #[error("malformed certificate validity time")]
    ValidityTime,
    #[error("malformed certificate extension {oid}: {reason}")]
    MalformedExtension {
        oid: ObjectIdentifier,
        reason: String,
    },
    /// The key is of a kind or shape vouch does not verify with.
    #[error("{0}")]
    Key(String),
    #[error(transparent)]
    Algorithm(#[from] UnsupportedAlgorithm),
    /// The signature does not verify under the issuer's key.
    #[error("{0}")]
    Signature(String),
    #[error("certificate is not issued by a trusted CA")]
    UntrustedIssuer,
    #[error("trust anchor: {0}")]
    Anchor(String),
    #[error("certificate: {0}")]
    EndEntity(String),
    #[error("cannot validate a certificate at {0}, before 1970")]
    BeforeEpoch(UnixTime),
    #[error("certificate path leaves the trusted chain")]
    LeavesTrustedChain,
    #[error("CA certificate is not valid at {at} (valid {not_before} to {not_after})")]
    CaNotValidAt {
        at: UnixTime,
        not_before: UnixTime,
        not_after: UnixTime,
    },
    #[error("trusted chain is out of order")]
    ChainOutOfOrder,
    #[error("trusted chain signature: {0}")]
    ChainSignature(Box<CertificateError>),
    #[error("trust anchor self-signature: {0}")]
    AnchorSignature(Box<CertificateError>),
    #[error("no certificate path rule for extended key usage {0}")]
    NoPathRule(ObjectIdentifier),
    #[error("a certificate on the path lacks extended key usage {0}")]
    PathLacksEku(ObjectIdentifier),
    #[error("signing certificate is a CA")]
    LeafIsCa,
    #[error("issuing certificate is not a CA (basicConstraints)")]
    IssuerNotCa,
    #[error("CA path length constraint exceeded")]
    PathLength,
    #[error("a CA certificate is not valid at the verified time")]
    CaExpired,
    #[error("certificate has an unknown critical extension")]
    UnknownCriticalExtension,
    #[error("certificate path: {0}")]
    Path(String),
    #[error("CA certificate has unknown critical extension {0}")]
    CaUnknownCriticalExtension(ObjectIdentifier),
    #[error("CA certificate's basicConstraints is not critical")]
    BasicConstraintsNotCritical,
    #[error("CA certificate may not sign certificates (keyUsage)")]
    CaMayNotSignCertificates,
    #[error("certificate is not valid at {at} (valid {not_before} to {not_after})")]
    NotValidAt {
        at: UnixTime,
        not_before: UnixTime,
        not_after: UnixTime,
    },
    #[error("certificate may not make digital signatures (keyUsage)")]
    MayNotSign,
    #[error("certificate lacks extended key usage {0}")]
    LacksEku(ObjectIdentifier),
    /// A PEM block that does not decode.
    #[error("{0}")]
    Pem(String),
    #[error("no trusted Fulcio CA is valid at {0}")]
    NoCaValidAt(UnixTime),
    /// Every trusted CA refused the certificate, each for its reason.
    #[error("{}", join(.0))]
    NoTrustedPath(Vec<CertificateError>),
}

fn join(errors: &[CertificateError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn malformed(e: impl std::fmt::Display) -> CertificateError {
    CertificateError::Malformed(e.to_string())
}

impl Certificate {
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let parsed = x509_cert::Certificate::from_der(der).map_err(malformed)?;
        // The signed bytes are taken from the input, never from a re-encoding.
        let outer = AnyRef::from_der(der).map_err(malformed)?;
        let tbs = AnyRef::decode(&mut der::SliceReader::new(outer.value()).map_err(malformed)?)
            .map_err(malformed)?;
        let tbs_cert = parsed.tbs_certificate();
        // vouch: RFC 5280 §4.1.2.1 ties fields to versions; x509-cert reads them in any version
        // (a v1 certificate with extensions used to be taken as it came).
        use x509_cert::certificate::Version;
        if tbs_cert.extensions().is_some() && tbs_cert.version() != Version::V3 {
            return Err(CertificateError::ExtensionsBeforeV3);
        }
        if (tbs_cert.issuer_unique_id().is_some() || tbs_cert.subject_unique_id().is_some())
            && tbs_cert.version() == Version::V1
        {
            return Err(CertificateError::UniqueIdentifiersInV1);
        }
        if parsed.signature().as_bytes().is_none() {
            return Err(malformed("the signature has unused bits"));
        }
        if tbs_cert.signature() != parsed.signature_algorithm() {
            return Err(CertificateError::SignatureAlgorithmsDisagree);
        }
        // vouch: RFC 5280 §4.2 allows one instance of an extension; readers disagree on which
        // of two counts, so a repeat is refused.
        let extensions = tbs_cert.extensions().map(Vec::as_slice).unwrap_or_default();
        for (i, e) in extensions.iter().enumerate() {
            if extensions[..i].iter().any(|o| o.extn_id == e.extn_id) {
                return Err(CertificateError::RepeatedExtension);
            }
        }
        let time = |t: x509_cert::time::Time| {
            UnixTime::from_unix_duration(t.to_unix_duration()).ok_or(CertificateError::ValidityTime)
        };
        let validity = tbs_cert.validity();
        Ok(Certificate {
            der: der.to_vec(),
            tbs: tbs.to_der().map_err(malformed)?,
            issuer: tbs_cert.issuer().to_der().map_err(malformed)?,
            subject: tbs_cert.subject().to_der().map_err(malformed)?,
            not_before: time(validity.not_before)?,
            not_after: time(validity.not_after)?,
            spki: tbs_cert
                .subject_public_key_info()
                .to_der()
                .map_err(malformed)?,
            parsed,
        })
    }

    /// An extension's criticality and decoded value, if present.
    pub(crate) fn extension<'a, T>(&'a self) -> Result<Option<(bool, T)>, CertificateError>
    where
        T: der::Decode<'a, Error = der::Error> + const_oid::AssociatedOid,
    {
        self.parsed
            .tbs_certificate()
            .get_extension::<T>()
            .map_err(|e| CertificateError::MalformedExtension {
                oid: T::OID,
                reason: e.to_string(),
            })
    }

    /// The raw value of the extension `oid` (its OCTET STRING's contents), if present.
    pub(crate) fn extension_value(&self, oid: &ObjectIdentifier) -> Option<&[u8]> {
        self.parsed
            .tbs_certificate()
            .extensions()?
            .iter()
            .find(|e| e.extn_id == *oid)
            .map(|e| e.extn_value.as_bytes())
    }

    /// Whether the extension `oid` is present and marked critical.
    pub(crate) fn is_critical(&self, oid: &ObjectIdentifier) -> bool {
        self.parsed
            .tbs_certificate()
            .extensions()
            .is_some_and(|l| l.iter().any(|e| e.extn_id == *oid && e.critical))
    }

    pub(crate) fn serial(&self) -> &[u8] {
        self.parsed.tbs_certificate().serial_number().as_bytes()
    }

    pub(crate) fn key(&self) -> Result<VerifyKey, CertificateError> {
        VerifyKey::from_spki_der(&self.spki).map_err(CertificateError::Key)
    }

    pub(crate) fn valid_at(&self, t: UnixTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    pub(crate) fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// Check this certificate's signature with `issuer`'s key.
    pub(crate) fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), CertificateError> {
        let scheme =
            super::crypto::scheme_from_algorithm(&self.parsed.signature_algorithm().oid, None)?;
        let signature = self
            .parsed
            .signature()
            .as_bytes()
            .ok_or_else(|| malformed("signature has unused bits"))?;
        issuer
            .key()?
            .verify(scheme, &self.tbs, signature)
            .map_err(CertificateError::Signature)
    }

    /// (cA, pathLenConstraint) if the extension is present.
    pub(crate) fn basic_constraints(&self) -> Result<Option<(bool, Option<u8>)>, CertificateError> {
        Ok(self
            .extension::<BasicConstraints>()?
            .map(|(_, bc)| (bc.ca, bc.path_len_constraint)))
    }

    /// The keyUsage extension, if present.
    pub(crate) fn key_usage(&self) -> Result<Option<KeyUsage>, CertificateError> {
        Ok(self.extension::<KeyUsage>()?.map(|(_, ku)| ku))
    }

    /// The ExtendedKeyUsage OIDs, if the extension is present.
    pub(crate) fn extended_key_usage(
        &self,
    ) -> Result<Option<Vec<ObjectIdentifier>>, CertificateError> {
        Ok(self.extension::<ExtendedKeyUsage>()?.map(|(_, eku)| eku.0))
    }
}

/// Parse every certificate of a list (DER).
pub(crate) fn parse_all(ders: &[Vec<u8>]) -> Result<Vec<Certificate>, CertificateError> {
    ders.iter().map(|d| Certificate::from_der(d)).collect()
}

/// Validate `leaf` at `at` against a trusted chain `cas` (issuer first, trust anchor last).
///
/// The leaf must be issued by some `cas[i]`, and `cas[i..]` must be a path to the last
/// certificate. Every certificate on the path must be valid at `at`. Returns the leaf's
/// issuer (its key is needed for SCTs).
pub(crate) fn verify_path<'c>(
    leaf: &Certificate,
    cas: &'c [Certificate],
    at: UnixTime,
    required_eku: &ObjectIdentifier,
) -> Result<&'c Certificate, CertificateError> {
    let cas: Vec<&Certificate> = cas.iter().filter(|c| c.der != leaf.der).collect();
    let (anchor, intermediates) = cas.split_last().ok_or(CertificateError::UntrustedIssuer)?;
    check_leaf(leaf, at, required_eku)?;

    // webpki: the path from the leaf through the trusted intermediates to the anchor.
    let anchor_der = CertificateDer::from(anchor.der.as_slice());
    let trust_anchor = webpki::anchor_from_trusted_cert(&anchor_der)
        .map_err(|e| CertificateError::Anchor(e.to_string()))?;
    let leaf_der = CertificateDer::from(leaf.der.as_slice());
    let end_entity = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| CertificateError::EndEntity(e.to_string()))?;
    let intermediate_ders: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.der.as_slice()))
        .collect();
    let whole_seconds = u64::try_from(at.secs()).map_err(|_| CertificateError::BeforeEpoch(at))?;
    let time =
        rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(whole_seconds));
    let path = end_entity
        .verify_for_usage(
            SIGNATURE_ALGORITHMS,
            std::slice::from_ref(&trust_anchor),
            &intermediate_ders,
            time,
            key_usage(required_eku)?,
            None,
            None,
        )
        .map_err(|e| path_error(&e, required_eku))?;
    let first_intermediate = path
        .intermediate_certificates()
        .next()
        .map(|c| c.der().to_vec());
    let start = match first_intermediate {
        Some(der) => intermediates
            .iter()
            .position(|c| c.der == der)
            .ok_or(CertificateError::LeavesTrustedChain)?,
        None => intermediates.len(),
    };

    // vouch: the trusted root lists each chain in issuing order; a chain out of order is a
    // broken trusted root, whatever path webpki could still find through it.
    let path = &cas[start..];
    for (i, ca) in path.iter().enumerate() {
        // vouch: validity at the exact instant, the anchor's included (webpki reads whole
        // seconds and never looks at the anchor's own validity).
        if !ca.valid_at(at) {
            return Err(CertificateError::CaNotValidAt {
                at,
                not_before: ca.not_before,
                not_after: ca.not_after,
            });
        }
        check_ca(ca, i)?;
        match path.get(i + 1) {
            Some(parent) => {
                if ca.issuer != parent.subject {
                    return Err(CertificateError::ChainOutOfOrder);
                }
                ca.verify_signed_by(parent)
                    .map_err(|e| CertificateError::ChainSignature(Box::new(e)))?;
            }
            None => {
                // vouch: the anchor is trusted as given, but a self-signed one must be intact.
                if ca.is_self_issued() {
                    ca.verify_signed_by(ca)
                        .map_err(|e| CertificateError::AnchorSignature(Box::new(e)))?;
                }
            }
        }
    }
    Ok(path[0])
}

/// webpki's extended-key-usage rule, for every certificate on the path: one that lists key
/// purposes must list this one. (That the leaf lists it at all is checked in `check_leaf`.)
fn key_usage(eku: &ObjectIdentifier) -> Result<webpki::KeyUsage, CertificateError> {
    const CODE_SIGNING: &[u8] = EKU_CODE_SIGNING.as_bytes();
    const TIME_STAMPING: &[u8] = EKU_TIME_STAMPING.as_bytes();
    match *eku {
        EKU_CODE_SIGNING => Ok(webpki::KeyUsage::required_if_present(CODE_SIGNING)),
        EKU_TIME_STAMPING => Ok(webpki::KeyUsage::required_if_present(TIME_STAMPING)),
        _ => Err(CertificateError::NoPathRule(*eku)),
    }
}

fn path_error(e: &webpki::Error, eku: &ObjectIdentifier) -> CertificateError {
    use webpki::Error as E;
    match e {
        // A namesake of a trusted CA (same name, another key) is no trusted issuer either.
        E::UnknownIssuer | E::InvalidSignatureForPublicKey => CertificateError::UntrustedIssuer,
        E::RequiredEkuNotFoundContext(_) => CertificateError::PathLacksEku(*eku),
        E::CaUsedAsEndEntity => CertificateError::LeafIsCa,
        E::EndEntityUsedAsCa => CertificateError::IssuerNotCa,
        E::PathLenConstraintViolated => CertificateError::PathLength,
        E::CertExpired { .. } | E::CertNotValidYet { .. } => CertificateError::CaExpired,
        E::UnsupportedCriticalExtension => CertificateError::UnknownCriticalExtension,
        other => CertificateError::Path(other.to_string()),
    }
}

/// CA requirements webpki leaves to the caller (RFC 5280 §4.2.1.3, §4.2.1.9), for every CA on
/// the path, the anchor included: a critical basicConstraints with cA set, a keyUsage allowing
/// certificate signing, a path length that admits the `below` CA certificates between it and
/// the leaf, and no critical extension vouch does not know (webpki does not parse the anchor's).
fn check_ca(ca: &Certificate, below: usize) -> Result<(), CertificateError> {
    if let Some(oid) = unknown_critical(ca) {
        return Err(CertificateError::CaUnknownCriticalExtension(oid));
    }
    match ca.basic_constraints()? {
        Some((true, path_len)) => {
            if path_len.is_some_and(|n| below > usize::from(n)) {
                return Err(CertificateError::PathLength);
            }
        }
        _ => return Err(CertificateError::IssuerNotCa),
    }
    if !ca.is_critical(&EXT_BASIC_CONSTRAINTS) {
        return Err(CertificateError::BasicConstraintsNotCritical);
    }
    if !ca.key_usage()?.is_some_and(|ku| ku.key_cert_sign()) {
        return Err(CertificateError::CaMayNotSignCertificates);
    }
    Ok(())
}

/// Leaf requirements webpki leaves to the caller: validity at the exact instant, a keyUsage
/// (if any) that allows signatures, and the extended key usage listed (webpki's rule accepts a
/// leaf without the extension).
fn check_leaf(
    leaf: &Certificate,
    at: UnixTime,
    eku: &ObjectIdentifier,
) -> Result<(), CertificateError> {
    if !leaf.valid_at(at) {
        return Err(CertificateError::NotValidAt {
            at,
            not_before: leaf.not_before,
            not_after: leaf.not_after,
        });
    }
    if leaf.key_usage()?.is_some_and(|ku| !ku.digital_signature()) {
        return Err(CertificateError::MayNotSign);
    }
    match leaf.extended_key_usage()? {
        Some(list) if list.contains(eku) => Ok(()),
        _ => Err(CertificateError::LacksEku(*eku)),
    }
}

/// Critical extensions vouch understands on a CA; webpki checks the others' on the leaf and
/// intermediates, not on the anchor.
fn unknown_critical(cert: &Certificate) -> Option<ObjectIdentifier> {
    const UNDERSTOOD: [ObjectIdentifier; 4] = [
        ObjectIdentifier::new_unwrap("2.5.29.15"),
        EXT_BASIC_CONSTRAINTS,
        EXT_EXTENDED_KEY_USAGE,
        EXT_SUBJECT_ALT_NAME,
    ];
    cert.parsed
        .tbs_certificate()
        .extensions()?
        .iter()
        .find(|e| e.critical && !UNDERSTOOD.contains(&e.extn_id))
        .map(|e| e.extn_id)
}

/// Read a SubjectKeyIdentifier, if present.
pub(crate) fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    cert.extension::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, k)| k.0.as_bytes().to_vec())
}

/// Split a PEM text into the DER of each CERTIFICATE block (other blocks are skipped).
pub(crate) fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, CertificateError> {
    let mut out = Vec::new();
    for block in vouch_keys::pem::blocks_labelled(text, "CERTIFICATE") {
        out.push(
            block
                .map_err(|e| CertificateError::Pem(e.to_string()))?
                .der
                .to_vec(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(name: &str) -> Certificate {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/vectors/sigstore-python/test/assets/x509")
            .join(name);
        let text = std::fs::read_to_string(&path).expect("vector");
        let ders = pem_certificates(&text).expect("pem");
        Certificate::from_der(&ders[0]).expect("parses")
    }

    /// The leaf checks: vouch's own, then webpki's path to the bogus root.
    fn check_leaf_path(
        leaf: &Certificate,
        at: UnixTime,
        eku: &ObjectIdentifier,
    ) -> Result<(), CertificateError> {
        check_leaf(leaf, at, eku)?;
        verify_path(leaf, &[pem("bogus-root.pem")], at, eku).map(|_| ())
    }

    /// `der` with the TBSCertificate's version field removed: a v1 certificate that still
    /// carries the extensions (its signature no longer matches; parsing must refuse it first).
    fn as_v1(der: &[u8]) -> Vec<u8> {
        let outer = AnyRef::from_der(der).expect("certificate");
        let mut reader = der::SliceReader::new(outer.value()).expect("reader");
        let tbs = AnyRef::decode(&mut reader).expect("tbs");
        let rest = &outer.value()[tbs.to_der().expect("tbs").len()..];
        let mut fields = der::SliceReader::new(tbs.value()).expect("fields");
        let version = AnyRef::decode(&mut fields).expect("version");
        let without_version = &tbs.value()[version.to_der().expect("version").len()..];
        let tbs_v1 = AnyRef::new(der::Tag::Sequence, without_version)
            .expect("tbs")
            .to_der()
            .expect("tbs");
        AnyRef::new(der::Tag::Sequence, &[tbs_v1.as_slice(), rest].concat())
            .expect("certificate")
            .to_der()
            .expect("certificate")
    }

    #[test]
    fn v1_certificate_with_extensions_is_refused() {
        let leaf = pem("bogus-leaf.pem");
        let v1 = as_v1(&leaf.der);
        let err = Certificate::from_der(&v1)
            .expect_err("v1 with extensions")
            .to_string();
        assert!(err.contains("not version 3"), "{err}");
    }

    #[test]
    fn sigstore_python_bogus_certificates() {
        let at = UnixTime::parse_rfc3339("2024-01-01T00:00:00Z").expect("time");
        check_leaf_path(&pem("bogus-leaf.pem"), at, &EKU_CODE_SIGNING).expect("good leaf");
        for bad in [
            "bogus-leaf-invalid-eku.pem",
            "bogus-leaf-invalid-ku.pem",
            "bogus-leaf-missing-eku.pem",
            "bogus-root.pem",
        ] {
            assert!(
                check_leaf_path(&pem(bad), at, &EKU_CODE_SIGNING).is_err(),
                "{bad}"
            );
        }
        let early = UnixTime::parse_rfc3339("2022-12-31T23:59:59Z").expect("time");
        assert!(check_leaf_path(&pem("bogus-leaf.pem"), early, &EKU_CODE_SIGNING).is_err());

        check_ca(&pem("bogus-root.pem"), 0).expect("good root");
        check_ca(&pem("bogus-intermediate.pem"), 1).expect("pathlen 1");
        assert!(
            check_ca(&pem("bogus-intermediate.pem"), 2).is_err(),
            "pathlen"
        );
        for bad in [
            "bogus-root-invalid-ku.pem",
            "bogus-root-missing-ku.pem",
            "bogus-root-noncritical-bc.pem",
            "bogus-leaf.pem",
        ] {
            assert!(check_ca(&pem(bad), 0).is_err(), "{bad}");
        }
    }
}
