#![allow(dead_code, clippy::all)]
//! RFC 3161 timestamps: a TimeStampResp (or bare TimeStampToken) whose CMS SignedData
//! carries a TSTInfo. Verified: the message imprint over the bundle's signature bytes, the
//! signed attributes (content type, message digest), the signer's signature and its chain
//! to a trusted timestamp authority at the time stamped, and that authority's validity.

use spki::ObjectIdentifier;

use super::OldAuthority as Authority;
use super::old_asn1::{self as asn1, Tlv, ctx, ctx_prim};
use super::old_time::UnixTime;
use super::old_x509::{self as x509, Certificate, EKU_TIME_STAMPING};
use crate::bundle::crypto::{HashAlgorithm, Scheme};

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ATTR_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ATTR_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

fn bad(e: asn1::DerError) -> String {
    format!("malformed timestamp: {e}")
}

fn digest_algorithm(alg: &Tlv<'_>) -> Result<HashAlgorithm, String> {
    let oid = alg.reader().expect(asn1::OID).map_err(bad)?;
    HashAlgorithm::from_oid(&oid.oid().map_err(bad)?)
        .ok_or_else(|| "unsupported timestamp digest algorithm".into())
}

struct Signer<'a> {
    /// IssuerAndSerialNumber (issuer Name DER, serial contents) or a subject key id.
    issuer_serial: Option<(&'a [u8], &'a [u8])>,
    key_id: Option<&'a [u8]>,
    digest: HashAlgorithm,
    signed_attrs: Option<Tlv<'a>>,
    signature_algorithm: Tlv<'a>,
    signature: &'a [u8],
}

impl Signer<'_> {
    fn matches(&self, cert: &Certificate) -> bool {
        match (self.issuer_serial, self.key_id) {
            (Some((issuer, serial)), _) => cert.issuer == issuer && cert.serial == serial,
            (None, Some(kid)) => x509::subject_key_id(cert).is_some_and(|k| k == kid),
            _ => false,
        }
    }
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
) -> Result<Verified, String> {
    let outer = asn1::single(token, asn1::SEQUENCE).map_err(bad)?;
    let content_info = if outer.reader().peek_tag() == Some(asn1::OID) {
        outer
    } else {
        // TimeStampResp: status, then the token.
        let mut r = outer.reader();
        let status = r.expect(asn1::SEQUENCE).map_err(bad)?;
        let code = status
            .reader()
            .expect(asn1::INTEGER)
            .and_then(|i| i.small_uint())
            .map_err(bad)?;
        if code > 1 {
            return Err(format!("timestamp response status {code} (not granted)"));
        }
        let ci = r.expect(asn1::SEQUENCE).map_err(bad)?;
        r.finish().map_err(bad)?;
        ci
    };
    let mut r = content_info.reader();
    if !r.expect(asn1::OID).map_err(bad)?.is_oid(&SIGNED_DATA) {
        return Err("timestamp token is not CMS SignedData".into());
    }
    let explicit = r.expect(ctx(0)).map_err(bad)?;
    r.finish().map_err(bad)?;
    let signed_data = asn1::single(explicit.value, asn1::SEQUENCE).map_err(bad)?;

    let mut sd = signed_data.reader();
    sd.expect(asn1::INTEGER).map_err(bad)?;
    sd.expect(asn1::SET).map_err(bad)?;
    let encap = sd.expect(asn1::SEQUENCE).map_err(bad)?;
    let embedded = match sd.optional(ctx(0)).map_err(bad)? {
        Some(set) => {
            let mut cr = set.reader();
            let mut out = Vec::new();
            while !cr.is_empty() {
                let c = cr.any().map_err(bad)?;
                if c.tag == asn1::SEQUENCE {
                    out.push(Certificate::from_der(c.raw)?);
                }
            }
            out
        }
        None => Vec::new(),
    };
    sd.optional(ctx(1)).map_err(bad)?;
    let signer_infos = sd.expect(asn1::SET).map_err(bad)?;
    sd.finish().map_err(bad)?;

    let mut er = encap.reader();
    if !er.expect(asn1::OID).map_err(bad)?.is_oid(&TST_INFO) {
        return Err("timestamp token does not carry a TSTInfo".into());
    }
    let econtent = er.expect(ctx(0)).map_err(bad)?;
    er.finish().map_err(bad)?;
    let tst_der = asn1::single(econtent.value, asn1::OCTET_STRING)
        .map_err(bad)?
        .value;

    // TSTInfo: the time and what was stamped.
    let tst = asn1::single(tst_der, asn1::SEQUENCE).map_err(bad)?;
    let mut t = tst.reader();
    if t.expect(asn1::INTEGER)
        .and_then(|i| i.small_uint())
        .map_err(bad)?
        != 1
    {
        return Err("unsupported TSTInfo version".into());
    }
    t.expect(asn1::OID).map_err(bad)?;
    let imprint = t.expect(asn1::SEQUENCE).map_err(bad)?;
    t.expect(asn1::INTEGER).map_err(bad)?;
    let gen_time = t.expect(asn1::GENERALIZED_TIME).map_err(bad)?;
    let time = UnixTime::from_generalized_time(gen_time.value)
        .ok_or_else(|| "malformed timestamp genTime".to_string())?;

    let mut ir = imprint.reader();
    let imprint_alg = digest_algorithm(&ir.expect(asn1::SEQUENCE).map_err(bad)?)?;
    let hashed = ir.expect(asn1::OCTET_STRING).map_err(bad)?.value;
    ir.finish().map_err(bad)?;
    if imprint_alg.digest(signature) != hashed {
        return Err("timestamp is not over this bundle's signature (message imprint)".into());
    }

    let mut sr = signer_infos.reader();
    let info = sr.expect(asn1::SEQUENCE).map_err(bad)?;
    if !sr.is_empty() {
        return Err("timestamp has more than one signer".into());
    }
    let signer = parse_signer(&info)?;

    // The bytes signed: the signed attributes re-tagged as a SET, or the TSTInfo itself.
    let signed_bytes = match &signer.signed_attrs {
        Some(attrs) => {
            check_attributes(attrs, signer.digest, tst_der)?;
            let mut b = attrs.raw.to_vec();
            b[0] = asn1::SET;
            b
        }
        None => tst_der.to_vec(),
    };
    let scheme = Scheme::from_algorithm(
        &signer
            .signature_algorithm
            .reader()
            .expect(asn1::OID)
            .and_then(|o| o.oid())
            .map_err(bad)?,
        Some(signer.digest),
    )?;

    let mut errors = Vec::new();
    for tsa in tsas {
        let candidates = embedded
            .iter()
            .chain(tsa.chain.iter())
            .filter(|c| signer.matches(c));
        for cert in candidates {
            let result = x509::verify_path(cert, &tsa.chain, time, &EKU_TIME_STAMPING)
                .and_then(|_| cert.key())
                .and_then(|k| k.verify(scheme, &signed_bytes, signer.signature));
            match result {
                Ok(()) if tsa.valid_for.contains(super::to_new(time)) => {
                    return Ok(Verified {
                        time,
                        authority: tsa.uri.clone(),
                    });
                }
                Ok(()) => errors.push(format!(
                    "timestamp time {time} is outside the trusted validity of {}",
                    tsa.uri
                )),
                Err(e) if tsa.uri.is_empty() => errors.push(e),
                Err(e) => errors.push(format!("{}: {e}", tsa.uri)),
            }
        }
    }
    if errors.is_empty() {
        errors.push("signed by no trusted timestamp authority".into());
    }
    errors.dedup();
    Err(errors.join("; "))
}

fn parse_signer<'a>(info: &Tlv<'a>) -> Result<Signer<'a>, String> {
    let mut r = info.reader();
    r.expect(asn1::INTEGER).map_err(bad)?;
    let sid = r.any().map_err(bad)?;
    let (issuer_serial, key_id) = if sid.tag == asn1::SEQUENCE {
        let mut s = sid.reader();
        let issuer = s.expect(asn1::SEQUENCE).map_err(bad)?;
        let serial = s.expect(asn1::INTEGER).map_err(bad)?;
        s.finish().map_err(bad)?;
        (Some((issuer.raw, serial.value)), None)
    } else if sid.tag == ctx_prim(0) {
        (None, Some(sid.value))
    } else {
        return Err("malformed timestamp signer identifier".into());
    };
    let digest = digest_algorithm(&r.expect(asn1::SEQUENCE).map_err(bad)?)?;
    let signed_attrs = r.optional(ctx(0)).map_err(bad)?;
    let signature_algorithm = r.expect(asn1::SEQUENCE).map_err(bad)?;
    let signature = r.expect(asn1::OCTET_STRING).map_err(bad)?.value;
    r.optional(ctx(1)).map_err(bad)?;
    r.finish().map_err(bad)?;
    Ok(Signer {
        issuer_serial,
        key_id,
        digest,
        signed_attrs,
        signature_algorithm,
        signature,
    })
}

fn check_attributes(attrs: &Tlv<'_>, digest: HashAlgorithm, tst: &[u8]) -> Result<(), String> {
    let (mut content_type, mut message_digest) = (None, None);
    let mut r = attrs.reader();
    while !r.is_empty() {
        let attr = r.expect(asn1::SEQUENCE).map_err(bad)?;
        let mut a = attr.reader();
        let oid = a.expect(asn1::OID).map_err(bad)?;
        let values = a.expect(asn1::SET).map_err(bad)?;
        let slot = if oid.is_oid(&ATTR_CONTENT_TYPE) {
            &mut content_type
        } else if oid.is_oid(&ATTR_MESSAGE_DIGEST) {
            &mut message_digest
        } else {
            continue;
        };
        if slot.is_some() {
            return Err("timestamp repeats a signed attribute".into());
        }
        let mut vr = values.reader();
        let v = vr.any().map_err(bad)?;
        vr.finish().map_err(bad)?;
        *slot = Some(v);
    }
    match content_type {
        Some(ct) if ct.is_oid(&TST_INFO) => {}
        _ => return Err("timestamp signed attributes do not name TSTInfo".into()),
    }
    match message_digest {
        Some(md) if md.tag == asn1::OCTET_STRING && md.value == digest.digest(tst) => Ok(()),
        _ => Err("timestamp message-digest attribute does not match the TSTInfo".into()),
    }
}
