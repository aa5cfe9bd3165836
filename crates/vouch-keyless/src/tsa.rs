//! RFC 3161 timestamps over a signature: a `TimeStampReq` whose message imprint is the
//! SHA-256 of the raw signature bytes (what cosign and the Sigstore bundle stamp), with a
//! nonce and a request for the TSA's certificate; the `TimeStampResp` is read far enough to
//! know it was granted and that its token stamps this imprint with this nonce. Its CMS
//! signature and the TSA's chain are the offline verifier's to check.
//!
//! The request and the response's outer structures are small typed `der` structures (no
//! maintained crate writes a TimeStampReq with `der` 0.8); the token's SignedData is read
//! by `cms`.

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::{AnyRef, ObjectIdentifier, OctetString, OctetStringRef, Uint};
use der::{Decode as _, Encode as _, Reader as _, Sequence, Tag, Tagged as _};
use reqwest::{Method, Url};
use sha2::{Digest as _, Sha256};
use spki::AlgorithmIdentifierOwned;

use crate::error::{KeylessError, Service};
use crate::transport::{Body, Http};

const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Largest answer read from a TSA (a response with a certificate chain is a few KiB).
const MAX_ANSWER: usize = 64 * 1024;

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
    nonce: Option<Uint>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
}

#[derive(Sequence)]
struct PkiStatusInfo<'a> {
    status: u32,
    #[asn1(optional = "true")]
    status_string: Option<Vec<der::asn1::Utf8StringRef<'a>>>,
    #[asn1(optional = "true")]
    fail_info: Option<der::asn1::BitStringRef<'a>>,
}

#[derive(Sequence)]
struct TimeStampResp<'a> {
    status: PkiStatusInfo<'a>,
    #[asn1(optional = "true")]
    time_stamp_token: Option<ContentInfo>,
}

fn bad(reason: impl Into<String>) -> KeylessError {
    KeylessError::BadTimestamp {
        reason: reason.into(),
    }
}

/// The request for a timestamp over `signature`, and the nonce it carries.
fn request(signature: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KeylessError> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| KeylessError::Key {
        reason: format!("the system's random number generator failed: {e}"),
    })?;
    // Positive and of full length, so it reads back the same.
    nonce[0] = (nonce[0] & 0x7f) | 0x40;
    let der = TimeStampReq {
        version: 1,
        message_imprint: imprint(signature)?,
        nonce: Some(Uint::new(&nonce).map_err(|e| bad(e.to_string()))?),
        cert_req: true,
    }
    .to_der()
    .map_err(|e| bad(format!("cannot encode the request: {e}")))?;
    Ok((der, nonce.to_vec()))
}

fn imprint(signature: &[u8]) -> Result<MessageImprint, KeylessError> {
    Ok(MessageImprint {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ID_SHA256,
            parameters: None,
        },
        hashed_message: OctetString::new(Sha256::digest(signature).to_vec())
            .map_err(|e| bad(e.to_string()))?,
    })
}

/// Asks the TSA at `url` to stamp `signature`; the DER `TimeStampResp` it granted.
pub(crate) async fn timestamp(
    http: &Http,
    url: &Url,
    signature: &[u8],
) -> Result<Vec<u8>, KeylessError> {
    let (body, nonce) = request(signature)?;
    let answer = http
        .send(
            Service::TimestampAuthority,
            Method::POST,
            url,
            None,
            Some(Body {
                content_type: "application/timestamp-query",
                bytes: body,
            }),
            MAX_ANSWER,
        )
        .await?;
    if !answer.status.is_success() {
        return Err(KeylessError::TimestampRefused {
            status: answer.status.as_u16(),
            message: answer.message(),
        });
    }
    check_response(&answer.body, signature, &nonce)?;
    Ok(answer.body)
}

/// Checks that `response` grants a token stamping SHA-256(`signature`) with `nonce`.
fn check_response(response: &[u8], signature: &[u8], nonce: &[u8]) -> Result<(), KeylessError> {
    let resp = TimeStampResp::from_der(response)
        .map_err(|e| bad(format!("the answer is not a TimeStampResp: {e}")))?;
    // 0 granted, 1 granted with modifications.
    if resp.status.status > 1 {
        let text = resp
            .status
            .status_string
            .unwrap_or_default()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(KeylessError::TimestampRefused {
            status: 200,
            message: format!("PKI status {}: {text}", resp.status.status),
        });
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| bad("a granted response without a token"))?;
    if token.content_type != ID_SIGNED_DATA {
        return Err(bad("the token is not CMS SignedData"));
    }
    let signed: SignedData = token
        .content
        .decode_as()
        .map_err(|e| bad(format!("the token's SignedData: {e}")))?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(bad("the token does not hold a TSTInfo"));
    }
    let econtent = signed
        .encap_content_info
        .econtent
        .ok_or_else(|| bad("the token has no content"))?;
    let tst = econtent
        .decode_as::<&OctetStringRef>()
        .map_err(|e| bad(format!("the token's content: {e}")))?;
    let (imprint_der, token_nonce) =
        read_tst_info(tst.as_bytes()).map_err(|e| bad(format!("the token's TSTInfo: {e}")))?;
    let want = imprint(signature)?
        .to_der()
        .map_err(|e| bad(e.to_string()))?;
    if imprint_der != want {
        return Err(bad(
            "the timestamp covers another message than this signature",
        ));
    }
    if token_nonce.as_deref() != Some(nonce) {
        return Err(bad("the timestamp does not carry the request's nonce"));
    }
    Ok(())
}

/// For the fuzz target: whether `response` grants a stamp over a fixed signature and nonce.
pub(crate) fn fuzz_check(response: &[u8]) -> bool {
    check_response(response, b"fuzz signature", &[0x40, 1, 2, 3, 4, 5, 6, 7]).is_ok()
}

/// The message imprint (DER) and nonce of a TSTInfo (RFC 3161 §2.4.2).
fn read_tst_info(der: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), der::Error> {
    let mut reader = der::SliceReader::new(der)?;
    let parsed = reader.sequence(|r| {
        let _version = u8::decode(r)?;
        let _policy: ObjectIdentifier = r.decode()?;
        let imprint = r.tlv_bytes()?.to_vec();
        let _serial = AnyRef::decode(r)?;
        let _gen_time = AnyRef::decode(r)?;
        // accuracy, ordering, nonce, [0] tsa, [1] extensions: only the nonce matters.
        let mut nonce = None;
        while !r.is_finished() {
            let item = AnyRef::decode(r)?;
            if item.tag() == Tag::Integer {
                let value = Uint::new(item.value())?;
                nonce = Some(value.as_bytes().to_vec());
            }
        }
        Ok::<_, der::Error>((imprint, nonce))
    })?;
    reader.finish()?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_stamp_the_raw_signature() {
        let (der, nonce) = request(b"raw signature").expect("request");
        let req = TimeStampReq::from_der(&der).expect("decodes");
        assert_eq!(req.version, 1);
        assert!(req.cert_req);
        assert_eq!(req.message_imprint.hash_algorithm.oid, ID_SHA256);
        assert_eq!(
            req.message_imprint.hashed_message.as_bytes(),
            Sha256::digest(b"raw signature").as_slice()
        );
        assert_eq!(req.nonce.expect("nonce").as_bytes(), nonce.as_slice());
        assert_ne!(request(b"raw signature").expect("again").1, nonce);
    }

    #[test]
    fn refuses_what_is_not_a_granted_response() {
        for body in [
            &b""[..],
            b"\x30\x03\x02\x01\x00",
            b"\x30\x05\x30\x03\x02\x01\x02",
        ] {
            assert!(check_response(body, b"sig", b"n").is_err());
        }
        let err =
            check_response(b"\x30\x05\x30\x03\x02\x01\x02", b"sig", b"n").expect_err("rejection");
        assert!(
            matches!(err, KeylessError::TimestampRefused { .. }),
            "{err}"
        );
    }
}
