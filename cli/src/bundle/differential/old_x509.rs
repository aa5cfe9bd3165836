#![allow(dead_code, clippy::all)]
//! X.509 certificates: parsing (keeping the signed bytes) and path validation at a given time.

use spki::ObjectIdentifier;

use super::old_asn1::{self as asn1, Tlv, ctx};
use super::old_time::UnixTime;
use crate::bundle::crypto::{Scheme, VerifyKey};

pub(crate) const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
pub(crate) const EXT_BASIC_CONSTRAINTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.19");
pub(crate) const EXT_EXTENDED_KEY_USAGE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.37");
pub(crate) const EXT_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
pub(crate) const EXT_SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// id-kp-codeSigning.
pub(crate) const EKU_CODE_SIGNING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// id-kp-timeStamping.
pub(crate) const EKU_TIME_STAMPING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// Critical extensions we understand; any other critical extension makes a certificate unusable.
const UNDERSTOOD_CRITICAL: [ObjectIdentifier; 4] = [
    EXT_KEY_USAGE,
    EXT_BASIC_CONSTRAINTS,
    EXT_EXTENDED_KEY_USAGE,
    EXT_SUBJECT_ALT_NAME,
];

/// One extension.
#[derive(Debug, Clone)]
pub(crate) struct Extension {
    pub(crate) oid: Vec<u8>,
    pub(crate) critical: bool,
    /// The OCTET STRING's contents.
    pub(crate) value: Vec<u8>,
}

/// A parsed certificate that remembers its exact encoding.
#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    pub(crate) der: Vec<u8>,
    pub(crate) tbs: Vec<u8>,
    signature_algorithm: Vec<u8>,
    signature: Vec<u8>,
    pub(crate) serial: Vec<u8>,
    pub(crate) issuer: Vec<u8>,
    pub(crate) subject: Vec<u8>,
    pub(crate) not_before: UnixTime,
    pub(crate) not_after: UnixTime,
    pub(crate) spki: Vec<u8>,
    pub(crate) extensions: Vec<Extension>,
}

fn derr(e: asn1::DerError) -> String {
    format!("malformed certificate: {e}")
}

fn parse_time(t: &Tlv<'_>) -> Result<UnixTime, String> {
    let parsed = match t.tag {
        asn1::UTC_TIME => UnixTime::from_utc_time(t.value),
        asn1::GENERALIZED_TIME => UnixTime::from_generalized_time(t.value),
        _ => None,
    };
    parsed.ok_or_else(|| "malformed certificate validity time".to_string())
}

impl Certificate {
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, String> {
        let cert = asn1::single(der, asn1::SEQUENCE).map_err(derr)?;
        let mut r = cert.reader();
        let tbs = r.expect(asn1::SEQUENCE).map_err(derr)?;
        let sig_alg = r.expect(asn1::SEQUENCE).map_err(derr)?;
        let sig = r.expect(asn1::BIT_STRING).map_err(derr)?;
        r.finish().map_err(derr)?;

        let mut t = tbs.reader();
        if let Some(v) = t.optional(ctx(0)).map_err(derr)? {
            let version = asn1::single(v.value, asn1::INTEGER)
                .and_then(|i| i.small_uint())
                .map_err(derr)?;
            if version != 2 {
                return Err(format!("unsupported certificate version {}", version + 1));
            }
        }
        let serial = t.expect(asn1::INTEGER).map_err(derr)?;
        let inner_alg = t.expect(asn1::SEQUENCE).map_err(derr)?;
        if inner_alg.raw != sig_alg.raw {
            return Err("certificate signature algorithms disagree".into());
        }
        let issuer = t.expect(asn1::SEQUENCE).map_err(derr)?;
        let validity = t.expect(asn1::SEQUENCE).map_err(derr)?;
        let subject = t.expect(asn1::SEQUENCE).map_err(derr)?;
        let spki = t.expect(asn1::SEQUENCE).map_err(derr)?;
        t.optional(asn1::ctx_prim(1)).map_err(derr)?;
        t.optional(asn1::ctx_prim(2)).map_err(derr)?;
        let mut extensions = Vec::new();
        if let Some(exts) = t.optional(ctx(3)).map_err(derr)? {
            let list = asn1::single(exts.value, asn1::SEQUENCE).map_err(derr)?;
            let mut er = list.reader();
            while !er.is_empty() {
                let ext = er.expect(asn1::SEQUENCE).map_err(derr)?;
                let mut x = ext.reader();
                let oid = x.expect(asn1::OID).map_err(derr)?;
                let critical = match x.optional(asn1::BOOLEAN).map_err(derr)? {
                    Some(b) => b.boolean().map_err(derr)?,
                    None => false,
                };
                let value = x.expect(asn1::OCTET_STRING).map_err(derr)?;
                x.finish().map_err(derr)?;
                if extensions.iter().any(|e: &Extension| e.oid == oid.value) {
                    return Err("certificate repeats an extension".into());
                }
                extensions.push(Extension {
                    oid: oid.value.to_vec(),
                    critical,
                    value: value.value.to_vec(),
                });
            }
        }
        t.finish().map_err(derr)?;

        let mut v = validity.reader();
        let not_before = parse_time(&v.any().map_err(derr)?)?;
        let not_after = parse_time(&v.any().map_err(derr)?)?;
        v.finish().map_err(derr)?;

        Ok(Certificate {
            der: der.to_vec(),
            tbs: tbs.raw.to_vec(),
            signature_algorithm: sig_alg.raw.to_vec(),
            signature: sig.bit_string_bytes().map_err(derr)?.to_vec(),
            serial: serial.value.to_vec(),
            issuer: issuer.raw.to_vec(),
            subject: subject.raw.to_vec(),
            not_before,
            not_after,
            spki: spki.raw.to_vec(),
            extensions,
        })
    }

    pub(crate) fn extension(&self, oid: &ObjectIdentifier) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.oid == oid.as_bytes())
    }

    pub(crate) fn key(&self) -> Result<VerifyKey, String> {
        VerifyKey::from_spki_der(&self.spki)
    }

    pub(crate) fn valid_at(&self, t: UnixTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    pub(crate) fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// Check this certificate's signature with `issuer`'s key.
    pub(crate) fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), String> {
        let alg = asn1::single(&self.signature_algorithm, asn1::SEQUENCE).map_err(derr)?;
        let scheme = Scheme::from_algorithm(
            &alg.reader()
                .expect(asn1::OID)
                .and_then(|o| o.oid())
                .map_err(derr)?,
            None,
        )?;
        issuer.key()?.verify(scheme, &self.tbs, &self.signature)
    }

    /// (cA, pathLenConstraint) if the extension is present.
    pub(crate) fn basic_constraints(&self) -> Result<Option<(bool, Option<u64>)>, String> {
        let Some(ext) = self.extension(&EXT_BASIC_CONSTRAINTS) else {
            return Ok(None);
        };
        let seq = asn1::single(&ext.value, asn1::SEQUENCE).map_err(derr)?;
        let mut r = seq.reader();
        let ca = match r.optional(asn1::BOOLEAN).map_err(derr)? {
            Some(b) => b.boolean().map_err(derr)?,
            None => false,
        };
        let path_len = match r.optional(asn1::INTEGER).map_err(derr)? {
            Some(i) => Some(i.small_uint().map_err(derr)?),
            None => None,
        };
        r.finish().map_err(derr)?;
        Ok(Some((ca, path_len)))
    }

    /// KeyUsage bit `n` (0 = digitalSignature, 5 = keyCertSign), if the extension is present.
    pub(crate) fn key_usage(&self, bit: usize) -> Result<Option<bool>, String> {
        let Some(ext) = self.extension(&EXT_KEY_USAGE) else {
            return Ok(None);
        };
        let bs = asn1::single(&ext.value, asn1::BIT_STRING).map_err(derr)?;
        let bytes = bs
            .value
            .split_first()
            .map(|(_, rest)| rest)
            .ok_or_else(|| "empty KeyUsage".to_string())?;
        Ok(Some(
            bytes
                .get(bit / 8)
                .is_some_and(|b| b & (0x80 >> (bit % 8)) != 0),
        ))
    }

    /// The ExtendedKeyUsage OIDs (DER contents), if the extension is present.
    pub(crate) fn extended_key_usage(&self) -> Result<Option<Vec<Vec<u8>>>, String> {
        let Some(ext) = self.extension(&EXT_EXTENDED_KEY_USAGE) else {
            return Ok(None);
        };
        let seq = asn1::single(&ext.value, asn1::SEQUENCE).map_err(derr)?;
        let mut r = seq.reader();
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(r.expect(asn1::OID).map_err(derr)?.value.to_vec());
        }
        Ok(Some(out))
    }

    fn unknown_critical(&self) -> Option<String> {
        self.extensions
            .iter()
            .find(|e| e.critical && !UNDERSTOOD_CRITICAL.iter().any(|o| o.as_bytes() == e.oid))
            .map(|e| {
                ObjectIdentifier::from_bytes(&e.oid)
                    .map(|o| o.to_string())
                    .unwrap_or_else(|_| hex::encode(&e.oid))
            })
    }
}

/// Parse every certificate of a list (DER).
pub(crate) fn parse_all(ders: &[Vec<u8>]) -> Result<Vec<Certificate>, String> {
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
) -> Result<&'c Certificate, String> {
    let cas: Vec<&Certificate> = cas.iter().filter(|c| c.der != leaf.der).collect();
    let start = cas
        .iter()
        .position(|c| c.subject == leaf.issuer && leaf.verify_signed_by(c).is_ok())
        .ok_or_else(|| "certificate is not issued by a trusted CA".to_string())?;
    check_leaf(leaf, at, required_eku)?;
    let path = &cas[start..];
    for (i, ca) in path.iter().enumerate() {
        if !ca.valid_at(at) {
            return Err(format!(
                "CA certificate is not valid at {at} (valid {} to {})",
                ca.not_before, ca.not_after
            ));
        }
        check_ca(ca, i)?;
        match path.get(i + 1) {
            Some(parent) => {
                if ca.issuer != parent.subject {
                    return Err("trusted chain is out of order".into());
                }
                ca.verify_signed_by(parent)
                    .map_err(|e| format!("trusted chain signature: {e}"))?;
            }
            None => {
                // The anchor is trusted as given; a self-signed one must still be intact.
                if ca.is_self_issued() {
                    ca.verify_signed_by(ca)
                        .map_err(|e| format!("trust anchor self-signature: {e}"))?;
                }
            }
        }
    }
    Ok(path[0])
}

/// CA requirements (RFC 5280 §4.2.1.3, §4.2.1.9): a critical basicConstraints with cA set,
/// a keyUsage allowing certificate signing, and a path length that admits the
/// `below` CA certificates between it and the leaf.
fn check_ca(ca: &Certificate, below: usize) -> Result<(), String> {
    if let Some(oid) = ca.unknown_critical() {
        return Err(format!(
            "CA certificate has unknown critical extension {oid}"
        ));
    }
    match ca.basic_constraints()? {
        Some((true, path_len)) => {
            if path_len.is_some_and(|n| (below as u64) > n) {
                return Err("CA path length constraint exceeded".into());
            }
        }
        _ => return Err("issuing certificate is not a CA (basicConstraints)".into()),
    }
    if ca
        .extension(&EXT_BASIC_CONSTRAINTS)
        .is_some_and(|e| !e.critical)
    {
        return Err("CA certificate's basicConstraints is not critical".into());
    }
    if ca.key_usage(5)? != Some(true) {
        return Err("CA certificate may not sign certificates (keyUsage)".into());
    }
    Ok(())
}

fn check_leaf(leaf: &Certificate, at: UnixTime, eku: &ObjectIdentifier) -> Result<(), String> {
    if !leaf.valid_at(at) {
        return Err(format!(
            "certificate is not valid at {at} (valid {} to {})",
            leaf.not_before, leaf.not_after
        ));
    }
    if let Some(oid) = leaf.unknown_critical() {
        return Err(format!("certificate has unknown critical extension {oid}"));
    }
    if let Some((true, _)) = leaf.basic_constraints()? {
        return Err("signing certificate is a CA".into());
    }
    if leaf.key_usage(0)? == Some(false) {
        return Err("certificate may not make digital signatures (keyUsage)".into());
    }
    match leaf.extended_key_usage()? {
        Some(list) if list.iter().any(|o| o == eku.as_bytes()) => Ok(()),
        _ => Err(format!("certificate lacks extended key usage {eku}")),
    }
}

/// Read a SubjectKeyIdentifier, if present.
pub(crate) fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let ext = cert.extension(&EXT_SUBJECT_KEY_ID)?;
    asn1::single(&ext.value, asn1::OCTET_STRING)
        .ok()
        .map(|t| t.value.to_vec())
}

/// Split a PEM text into the DER of each CERTIFICATE block.
pub(crate) fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine as _;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + 27..];
        let end = body
            .find("-----END CERTIFICATE-----")
            .ok_or_else(|| "unterminated PEM certificate".to_string())?;
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        out.push(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("bad PEM base64: {e}"))?,
        );
        rest = &body[end + 25..];
    }
    Ok(out)
}
