//! X.509 certificates the stand-in issues: CA roots and intermediates, Fulcio leaves and the
//! TSA's signing certificate. The TBSCertificate is encoded here (with `der`, from
//! `x509-cert`'s parts) rather than through a builder, because a Fulcio leaf's embedded SCT
//! must sign the exact TBS the final certificate carries minus the SCT extension
//! (RFC 6962 §3.2), so the issuer needs the TBS bytes before and after adding it.

use std::str::FromStr as _;
use std::time::{Duration, SystemTime};

use der::asn1::{BitString, Ia5String, ObjectIdentifier, OctetString};
use der::{Any, Decode as _, Encode as _, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use super::keys::{ECDSA_WITH_SHA256, EcKey, pem, random};

/// id-kp-codeSigning.
pub(crate) const EKU_CODE_SIGNING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// id-kp-timeStamping.
pub(crate) const EKU_TIME_STAMPING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

#[derive(Sequence)]
struct TbsCertificate {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: Any,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

#[derive(Sequence)]
struct Certificate {
    tbs_certificate: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA256,
        parameters: None,
    }
}

/// What a certificate says, apart from its issuer.
#[derive(Clone)]
pub(crate) struct Template {
    pub(crate) subject: Name,
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
    /// SubjectPublicKeyInfo DER.
    pub(crate) spki: Vec<u8>,
    pub(crate) extensions: Vec<Extension>,
}

/// A TBSCertificate, DER-encoded.
pub(crate) fn tbs_der(issuer: &Name, serial: &[u8], t: &Template) -> Vec<u8> {
    TbsCertificate {
        version: 2,
        serial_number: SerialNumber::new(serial).expect("serial number"),
        signature: ecdsa_sha256(),
        issuer: issuer.clone(),
        validity: Validity::new(time(t.not_before), time(t.not_after)),
        subject: t.subject.clone(),
        subject_public_key_info: Any::from_der(&t.spki).expect("SubjectPublicKeyInfo DER"),
        extensions: (!t.extensions.is_empty()).then(|| t.extensions.clone()),
    }
    .to_der()
    .expect("encode TBSCertificate")
}

/// Signs a TBSCertificate with `key` (ECDSA P-256 with SHA-256): the certificate DER.
pub(crate) fn sign_tbs(tbs: &[u8], key: &EcKey) -> Vec<u8> {
    Certificate {
        tbs_certificate: Any::from_der(tbs).expect("TBSCertificate DER"),
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(&key.sign(tbs)).expect("signature"),
    }
    .to_der()
    .expect("encode Certificate")
}

/// Whole seconds (DER times carry no fraction), as UTCTime before 2050.
fn time(t: SystemTime) -> Time {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("time after 1970")
        .as_secs();
    Time::try_from(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).expect("certificate time")
}

/// A positive serial number of 16 random bytes.
pub(crate) fn random_serial() -> Vec<u8> {
    let mut serial = random::<16>().to_vec();
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    serial
}

/// A distinguished name from RFC 4514 text.
pub(crate) fn name(text: &str) -> Name {
    Name::from_str(text).expect("distinguished name")
}

/// The empty distinguished name (a Fulcio leaf's subject).
pub(crate) fn empty_name() -> Name {
    Name::default()
}

/// An extension from an already encoded value.
pub(crate) fn extension(oid: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).expect("extension value"),
    }
}

fn typed<T: der::Encode + der::oid::AssociatedOid>(critical: bool, value: &T) -> Extension {
    extension(T::OID, critical, value.to_der().expect("encode extension"))
}

/// Subject key identifier: the first 20 bytes of SHA-256 over the key bits.
fn key_identifier(spki: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let bits = spki::SubjectPublicKeyInfoRef::from_der(spki)
        .ok()
        .and_then(|s| s.subject_public_key.as_bytes().map(<[u8]>::to_vec))
        .unwrap_or_default();
    sha2::Sha256::digest(&bits)[..20].to_vec()
}

/// The extensions every issued certificate carries: key identifiers.
fn key_ids(spki: &[u8], issuer_spki: &[u8]) -> Vec<Extension> {
    vec![
        typed(
            false,
            &SubjectKeyIdentifier(OctetString::new(key_identifier(spki)).expect("key id")),
        ),
        typed(
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(
                    OctetString::new(key_identifier(issuer_spki)).expect("key id"),
                ),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        ),
    ]
}

/// CA extensions: critical basicConstraints (cA, optional path length) and keyUsage
/// keyCertSign + cRLSign.
fn ca_extensions(path_len: Option<u8>) -> Vec<Extension> {
    vec![
        typed(
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: path_len,
            },
        ),
        typed(true, &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)),
    ]
}

/// Leaf extensions: critical keyUsage digitalSignature and the extended key usage.
pub(crate) fn leaf_extensions(eku: ObjectIdentifier, eku_critical: bool) -> Vec<Extension> {
    vec![
        typed(true, &KeyUsage(KeyUsages::DigitalSignature.into())),
        typed(eku_critical, &ExtendedKeyUsage(vec![eku])),
    ]
}

/// A subjectAltName with one email address or URI (critical: Fulcio leaves have an empty
/// subject, RFC 5280 §4.2.1.6).
pub(crate) fn san(identity: &str, is_email: bool) -> Result<Extension, String> {
    let text = Ia5String::new(identity).map_err(|_| format!("{identity:?} is not IA5 text"))?;
    let name = if is_email {
        GeneralName::Rfc822Name(text)
    } else {
        GeneralName::UniformResourceIdentifier(text)
    };
    Ok(typed(true, &SubjectAltName(vec![name])))
}

/// A certificate authority: its key and certificate.
pub(crate) struct Ca {
    pub(crate) key: EcKey,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) subject: Name,
}

impl Ca {
    /// A self-signed root valid from `not_before` for ten years.
    pub(crate) fn root(subject: &str, not_before: SystemTime) -> Ca {
        let key = EcKey::generate();
        let subject = name(subject);
        let mut extensions = ca_extensions(Some(1));
        extensions.extend(key_ids(key.spki_der(), key.spki_der()));
        let tbs = tbs_der(
            &subject,
            &random_serial(),
            &Template {
                subject: subject.clone(),
                not_before,
                not_after: not_before + Duration::from_secs(10 * 365 * 86400),
                spki: key.spki_der().to_vec(),
                extensions,
            },
        );
        let cert_der = sign_tbs(&tbs, &key);
        Ca {
            key,
            cert_der,
            subject,
        }
    }

    /// An intermediate CA issued by `self`, valid as long as its issuer.
    pub(crate) fn intermediate(&self, subject: &str, not_before: SystemTime) -> Ca {
        let key = EcKey::generate();
        let subject = name(subject);
        let mut extensions = ca_extensions(Some(0));
        extensions.extend(key_ids(key.spki_der(), self.key.spki_der()));
        let tbs = tbs_der(
            &self.subject,
            &random_serial(),
            &Template {
                subject: subject.clone(),
                not_before,
                not_after: not_before + Duration::from_secs(10 * 365 * 86400 - 86400),
                spki: key.spki_der().to_vec(),
                extensions,
            },
        );
        Ca {
            cert_der: sign_tbs(&tbs, &self.key),
            key,
            subject,
        }
    }

    /// The TBSCertificate of a leaf it would issue: `template` plus key identifiers.
    pub(crate) fn leaf_tbs(&self, serial: &[u8], mut template: Template) -> Vec<u8> {
        let ids = key_ids(&template.spki, self.key.spki_der());
        template.extensions.splice(0..0, ids);
        tbs_der(&self.subject, serial, &template)
    }

    /// The certificate as PEM.
    pub(crate) fn cert_pem(&self) -> String {
        pem("CERTIFICATE", &self.cert_der)
    }
}
