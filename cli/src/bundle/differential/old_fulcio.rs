#![allow(dead_code, clippy::all)]
//! Fulcio certificate identities: the SAN (URI, email or otherName) and the OIDC issuer.

use spki::ObjectIdentifier;

use super::old_asn1::{self as asn1, ctx, ctx_prim};
use super::old_x509::{Certificate, EXT_SUBJECT_ALT_NAME};

/// OIDC issuer, v1: the extension value is the raw string.
const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// OIDC issuer, v2: the extension value is a DER UTF8String.
const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's otherName type for usernames (`user!domain`).
const OTHER_NAME_USERNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// The subject alternative names a signer identity can be: email, URI and Fulcio's
/// username otherName. DNS names and IPs are not signer identities here.
pub(crate) fn san_identities(cert: &Certificate) -> Result<Vec<String>, String> {
    let Some(ext) = cert.extension(&EXT_SUBJECT_ALT_NAME) else {
        return Ok(Vec::new());
    };
    let bad = |e: asn1::DerError| format!("malformed subjectAltName: {e}");
    let seq = asn1::single(&ext.value, asn1::SEQUENCE).map_err(bad)?;
    let mut r = seq.reader();
    let mut out = Vec::new();
    while !r.is_empty() {
        let name = r.any().map_err(bad)?;
        match name.tag {
            t if t == ctx_prim(1) || t == ctx_prim(6) => {
                out.push(
                    String::from_utf8(name.value.to_vec())
                        .map_err(|_| "subjectAltName is not text".to_string())?,
                );
            }
            t if t == ctx(0) => {
                let mut o = name.reader();
                let oid = o.expect(asn1::OID).map_err(bad)?;
                let value = o.expect(ctx(0)).map_err(bad)?;
                o.finish().map_err(bad)?;
                if oid.is_oid(&OTHER_NAME_USERNAME) {
                    let s = asn1::single(value.value, asn1::UTF8_STRING).map_err(bad)?;
                    out.push(
                        String::from_utf8(s.value.to_vec())
                            .map_err(|_| "otherName is not UTF-8".to_string())?,
                    );
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The OIDC issuer: the v2 extension if present, else v1.
pub(crate) fn oidc_issuer(cert: &Certificate) -> Result<Option<String>, String> {
    if let Some(ext) = cert.extension(&ISSUER_V2) {
        let s = asn1::single(&ext.value, asn1::UTF8_STRING)
            .map_err(|e| format!("malformed OIDC issuer extension: {e}"))?;
        return String::from_utf8(s.value.to_vec())
            .map(Some)
            .map_err(|_| "OIDC issuer is not UTF-8".into());
    }
    if let Some(ext) = cert.extension(&ISSUER_V1) {
        return String::from_utf8(ext.value.clone())
            .map(Some)
            .map_err(|_| "OIDC issuer is not UTF-8".into());
    }
    Ok(None)
}
