#![allow(dead_code, clippy::all)]
//! Embedded signed certificate timestamps (RFC 6962 §3.2): the log's signature over the
//! precertificate, rebuilt from the final certificate by removing the SCT-list extension.

use sha2::{Digest as _, Sha256};
use spki::ObjectIdentifier;

use super::old_asn1::{self as asn1, ctx};
use super::old_time::UnixTime;
use super::old_x509::Certificate;
use crate::bundle::crypto::{HashAlgorithm, Scheme};
use crate::bundle::trust_root::LogInstance;

const EXT_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

struct Sct<'a> {
    log_id: &'a [u8],
    timestamp: u64,
    extensions: &'a [u8],
    hash: u8,
    sig_alg: u8,
    signature: &'a [u8],
}

/// A cursor over TLS-encoded data (big-endian, length-prefixed vectors).
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated SCT".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
    fn vec16(&mut self) -> Result<&'a [u8], String> {
        let n = self.uint(2)? as usize;
        self.take(n)
    }
}

fn parse_list(ext_value: &[u8]) -> Result<Vec<Sct<'_>>, String> {
    let inner = asn1::single(ext_value, asn1::OCTET_STRING)
        .map_err(|e| format!("malformed SCT list extension: {e}"))?;
    let mut list = Tls(inner.value);
    let mut body = Tls(list.vec16()?);
    if !list.0.is_empty() {
        return Err("trailing data after SCT list".into());
    }
    let mut out = Vec::new();
    while !body.0.is_empty() {
        let mut s = Tls(body.vec16()?);
        let version = s.uint(1)?;
        if version != 0 {
            // Unknown SCT versions cannot be checked; skip them like CT clients do.
            continue;
        }
        let log_id = s.take(32)?;
        let timestamp = s.uint(8)?;
        let extensions = s.vec16()?;
        let hash = s.uint(1)? as u8;
        let sig_alg = s.uint(1)? as u8;
        let signature = s.vec16()?;
        if !s.0.is_empty() {
            return Err("trailing data in SCT".into());
        }
        out.push(Sct {
            log_id,
            timestamp,
            extensions,
            hash,
            sig_alg,
            signature,
        });
    }
    Ok(out)
}

/// The leaf's TBSCertificate without the SCT-list extension (the precertificate's TBS).
fn precert_tbs(leaf: &Certificate) -> Result<Vec<u8>, String> {
    let bad = |e: asn1::DerError| format!("malformed certificate: {e}");
    let tbs = asn1::single(&leaf.tbs, asn1::SEQUENCE).map_err(bad)?;
    let mut r = tbs.reader();
    let mut content = Vec::new();
    while !r.is_empty() {
        let el = r.any().map_err(bad)?;
        if el.tag != ctx(3) {
            content.extend_from_slice(el.raw);
            continue;
        }
        let list = asn1::single(el.value, asn1::SEQUENCE).map_err(bad)?;
        let mut er = list.reader();
        let mut kept = Vec::new();
        while !er.is_empty() {
            let ext = er.expect(asn1::SEQUENCE).map_err(bad)?;
            let oid = ext.reader().expect(asn1::OID).map_err(bad)?;
            if !oid.is_oid(&EXT_SCT_LIST) {
                kept.extend_from_slice(ext.raw);
            }
        }
        if !kept.is_empty() {
            content.extend(asn1::encode(ctx(3), &asn1::encode(asn1::SEQUENCE, &kept)));
        }
    }
    Ok(asn1::encode(asn1::SEQUENCE, &content))
}

/// Verify the leaf's embedded SCTs; at least one must be by a trusted CT log valid at the
/// SCT's time. SCTs from unknown logs are ignored.
pub(crate) fn verify_embedded_scts(
    leaf: &Certificate,
    issuer: &Certificate,
    ctlogs: &[LogInstance],
) -> Result<(), String> {
    let ext = leaf
        .extension(&EXT_SCT_LIST)
        .ok_or_else(|| "certificate has no embedded SCT".to_string())?;
    let scts = parse_list(&ext.value)?;
    let tbs = precert_tbs(leaf)?;
    if tbs.len() >= 1 << 24 {
        return Err("certificate too large for an SCT".into());
    }
    let issuer_key_hash = Sha256::digest(&issuer.spki);
    let mut failures = Vec::new();
    for sct in &scts {
        let time = UnixTime::from_millis(sct.timestamp);
        let Some(log) = ctlogs.iter().find(|l| l.key_id == sct.log_id) else {
            failures.push(format!("SCT from unknown log {}", hex::encode(sct.log_id)));
            continue;
        };
        if !log.valid_for.contains(super::to_new(time)) {
            failures.push(format!("SCT time {time} outside the CT log key's validity"));
            continue;
        }
        let key = match &log.key {
            Ok(k) => k,
            Err(e) => {
                failures.push(format!("CT log key unusable: {e}"));
                continue;
            }
        };
        let hash = match sct.hash {
            4 => HashAlgorithm::Sha256,
            5 => HashAlgorithm::Sha384,
            6 => HashAlgorithm::Sha512,
            other => {
                failures.push(format!("SCT hash algorithm {other} unsupported"));
                continue;
            }
        };
        let scheme = match sct.sig_alg {
            1 => Scheme::RsaPkcs1(hash),
            3 => Scheme::Ecdsa(hash),
            7 => Scheme::Ed25519,
            other => {
                failures.push(format!("SCT signature algorithm {other} unsupported"));
                continue;
            }
        };
        let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
        signed.extend_from_slice(&sct.timestamp.to_be_bytes());
        signed.extend_from_slice(&[0, 1]); // precert_entry
        signed.extend_from_slice(&issuer_key_hash);
        signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend_from_slice(&tbs);
        signed.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
        signed.extend_from_slice(sct.extensions);
        match key.verify(scheme, &signed, sct.signature) {
            Ok(()) => return Ok(()),
            Err(e) => failures.push(format!("SCT signature: {e}")),
        }
    }
    if failures.is_empty() {
        failures.push("no SCT in the list".into());
    }
    Err(failures.join("; "))
}
