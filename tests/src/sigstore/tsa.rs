//! An RFC 3161 timestamp authority with Sigstore's TSA endpoints: `POST /api/v1/timestamp`
//! (`application/timestamp-query` in, `application/timestamp-reply` out) and
//! `GET /api/v1/timestamp/certchain`. Requests are parsed with `der`; the reply is a CMS
//! SignedData (from `cms`'s types) over a TSTInfo, with content-type, signing-time,
//! message-digest and ESS signing-certificate-v2 attributes, signed by a certificate whose
//! only extended key usage is a critical timeStamping.

use std::time::{Duration, SystemTime};

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{GeneralizedTime, Int, ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode as _, Encode as _, Sequence};
use sha2::Digest as _;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;

use super::certs::{self, Ca, EKU_TIME_STAMPING, Template};
use super::http::{Request, Response};
use super::keys::{ECDSA_WITH_SHA256, EcKey, pem};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ATTR_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ATTR_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ATTR_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const ATTR_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
/// The policy stamped when a request names none.
const DEFAULT_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.2");

#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    #[asn1(optional = "true")]
    req_policy: Option<ObjectIdentifier>,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

#[derive(Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: GeneralizedTime,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
}

#[derive(Sequence)]
struct PkiStatusInfo {
    status: u8,
}

#[derive(Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<ContentInfo>,
}

/// ESSCertIDv2 with the default hash (SHA-256) left out, as DER requires.
#[derive(Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
}

#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// The timestamp authority.
pub(crate) struct Tsa {
    pub(crate) root: Ca,
    key: EcKey,
    pub(crate) cert_der: Vec<u8>,
    serial: Vec<u8>,
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    }
}

fn attribute(oid: ObjectIdentifier, value: &(impl der::EncodeValue + der::Tagged)) -> Attribute {
    Attribute {
        oid,
        values: SetOfVec::try_from(vec![Any::encode_from(value).expect("attribute value")])
            .expect("attribute set"),
    }
}

impl Tsa {
    pub(crate) fn new(epoch: SystemTime) -> Tsa {
        let root = Ca::root("CN=vouch-e2e TSA root,O=vouch-e2e", epoch);
        let key = EcKey::generate();
        let serial = certs::random_serial();
        let tbs = root.leaf_tbs(
            &serial,
            Template {
                subject: certs::name("CN=vouch-e2e TSA,O=vouch-e2e"),
                not_before: epoch,
                not_after: epoch + Duration::from_secs(5 * 365 * 86400),
                spki: key.spki_der().to_vec(),
                extensions: certs::leaf_extensions(EKU_TIME_STAMPING, true),
            },
        );
        let cert_der = certs::sign_tbs(&tbs, &root.key);
        Tsa {
            root,
            key,
            cert_der,
            serial,
        }
    }

    /// The chain as the trusted root and `certchain` give it: signing certificate, root.
    pub(crate) fn chain_pem(&self) -> Vec<String> {
        vec![pem("CERTIFICATE", &self.cert_der), self.root.cert_pem()]
    }

    pub(crate) fn answer(&self, req: &Request) -> Response {
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/api/v1/timestamp") => match self.stamp(&req.body) {
                Ok(reply) => Response::new(200, "application/timestamp-reply", reply),
                Err(e) => Response::error(400, e),
            },
            ("GET", "/api/v1/timestamp/certchain") => Response::new(
                200,
                "application/pem-certificate-chain",
                self.chain_pem().concat(),
            ),
            (_, p) if p.starts_with("/api/v1/timestamp") => {
                Response::error(405, "method not allowed")
            }
            _ => Response::error(404, "not found"),
        }
    }

    /// A TimeStampResp (granted) for a DER TimeStampReq.
    fn stamp(&self, query: &[u8]) -> Result<Vec<u8>, String> {
        let req = TimeStampReq::from_der(query)
            .map_err(|e| format!("malformed timestamp request: {e}"))?;
        if req.version != 1 {
            return Err("unsupported timestamp request version".into());
        }
        let want_len = match req.message_imprint.hash_algorithm.oid {
            ID_SHA256 => 32,
            ID_SHA384 => 48,
            ID_SHA512 => 64,
            other => return Err(format!("unsupported hash algorithm {other}")),
        };
        if req.message_imprint.hashed_message.as_bytes().len() != want_len {
            return Err("message imprint has the wrong length for its algorithm".into());
        }
        if req.extensions.is_some() {
            return Err("timestamp request extensions are not supported".into());
        }
        let now = SystemTime::now();
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| "clock before 1970")?
            .as_secs();
        let gen_time = GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
            .map_err(|e| format!("time: {e}"))?;
        let mut serial = certs::random_serial();
        serial.truncate(12);
        let tst = TstInfo {
            version: 1,
            policy: req.req_policy.unwrap_or(DEFAULT_POLICY),
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: req.message_imprint.hash_algorithm.oid,
                    parameters: None,
                },
                hashed_message: req.message_imprint.hashed_message,
            },
            serial_number: Int::new(&serial).map_err(|e| e.to_string())?,
            gen_time,
            nonce: req.nonce,
        }
        .to_der()
        .map_err(|e| format!("TSTInfo: {e}"))?;

        // RFC 5652 §11.3: signingTime is a UTCTime until 2050.
        let signing_time =
            x509_cert::time::Time::try_from(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
                .map_err(|e| format!("time: {e}"))?;
        let signed_attrs = SetOfVec::try_from(vec![
            attribute(ATTR_CONTENT_TYPE, &ID_CT_TST_INFO),
            attribute(ATTR_SIGNING_TIME, &signing_time),
            attribute(
                ATTR_MESSAGE_DIGEST,
                &OctetString::new(sha2::Sha256::digest(&tst).to_vec()).expect("digest"),
            ),
            attribute(
                ATTR_SIGNING_CERTIFICATE_V2,
                &SigningCertificateV2 {
                    certs: vec![EssCertIdV2 {
                        cert_hash: OctetString::new(sha2::Sha256::digest(&self.cert_der).to_vec())
                            .expect("hash"),
                    }],
                },
            ),
        ])
        .map_err(|e| format!("signed attributes: {e}"))?;
        // The signature covers the attributes' DER as a SET OF (RFC 5652 §5.4).
        let signature = self
            .key
            .sign(&signed_attrs.to_der().map_err(|e| e.to_string())?);

        let certificates = if req.cert_req {
            let cert = x509_cert::Certificate::from_der(&self.cert_der)
                .map_err(|e| format!("TSA certificate: {e}"))?;
            Some(CertificateSet(
                SetOfVec::try_from(vec![CertificateChoices::Certificate(cert)])
                    .map_err(|e| e.to_string())?,
            ))
        } else {
            None
        };
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: self.root.subject.clone(),
                serial_number: SerialNumber::new(&self.serial).map_err(|e| e.to_string())?,
            }),
            digest_alg: sha256_alg(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: OctetString::new(signature).map_err(|e| e.to_string())?,
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![sha256_alg()]).map_err(|e| e.to_string())?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(
                    Any::encode_from(&OctetString::new(tst).map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())?,
                ),
            },
            certificates,
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).map_err(|e| e.to_string())?),
        };
        TimeStampResp {
            status: PkiStatusInfo { status: 0 },
            time_stamp_token: Some(ContentInfo {
                content_type: ID_SIGNED_DATA,
                content: Any::encode_from(&signed_data).map_err(|e| e.to_string())?,
            }),
        }
        .to_der()
        .map_err(|e| format!("TimeStampResp: {e}"))
    }
}
