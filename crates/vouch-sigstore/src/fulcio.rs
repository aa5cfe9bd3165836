//! Fulcio certificate identities: the SAN (URI, email or otherName) and the OIDC issuer,
//! decoded by `x509-cert` and `der`.

use der::Decode as _;
use der::asn1::Utf8StringRef;
use spki::ObjectIdentifier;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::x509::Certificate;

/// OIDC issuer, v1: the extension value is the raw string.
const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// OIDC issuer, v2: the extension value is a DER UTF8String.
const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's otherName type for usernames (`user!domain`).
const OTHER_NAME_USERNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// The subject alternative names a signer identity can be: email, URI and Fulcio's
/// username otherName. DNS names and IPs are not signer identities here.
/// Why a Fulcio certificate's identity or issuer cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The subjectAltName extension (or a username in it) does not decode.
    #[error("malformed subjectAltName: {0}")]
    SubjectAltName(String),
    /// The OIDC issuer extension (v2) does not decode.
    #[error("malformed OIDC issuer extension: {0}")]
    IssuerExtension(String),
    /// The OIDC issuer extension (v1) is not UTF-8.
    #[error("OIDC issuer is not UTF-8")]
    IssuerNotUtf8,
}

pub(crate) fn san_identities(cert: &Certificate) -> Result<Vec<String>, IdentityError> {
    let Some((_, SubjectAltName(names))) = cert
        .extension::<SubjectAltName>()
        .map_err(|e| IdentityError::SubjectAltName(e.to_string()))?
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for name in names {
        match name {
            GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => {
                out.push(s.to_string());
            }
            GeneralName::OtherName(other) if other.type_id == OTHER_NAME_USERNAME => {
                let s = other
                    .value
                    .decode_as::<Utf8StringRef<'_>>()
                    .map_err(|e| IdentityError::SubjectAltName(e.to_string()))?;
                out.push(s.to_string());
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The OIDC issuer: the v2 extension if present, else v1.
pub(crate) fn oidc_issuer(cert: &Certificate) -> Result<Option<String>, IdentityError> {
    if let Some(value) = cert.extension_value(&ISSUER_V2) {
        let s = Utf8StringRef::from_der(value)
            .map_err(|e| IdentityError::IssuerExtension(e.to_string()))?;
        return Ok(Some(s.to_string()));
    }
    if let Some(value) = cert.extension_value(&ISSUER_V1) {
        // vouch: Fulcio's first issuer extension holds the bare string, not a DER value.
        return String::from_utf8(value.to_vec())
            .map(Some)
            .map_err(|_| IdentityError::IssuerNotUtf8);
    }
    Ok(None)
}
