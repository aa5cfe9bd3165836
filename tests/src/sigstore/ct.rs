//! The stand-in CT log: it never runs as a server (Fulcio embeds its SCTs), it only signs
//! precertificates as RFC 6962 §3.2 defines, so the SCT list in a Fulcio leaf verifies
//! under the CT key published in the trusted root.

use std::time::SystemTime;

use der::asn1::ObjectIdentifier;

use super::keys::EcKey;

/// The SCT-list extension (RFC 6962 §3.3).
pub(crate) const EXT_SCT_LIST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// A CT log's signing key.
pub(crate) struct CtLog {
    pub(crate) key: EcKey,
}

fn u16_len(n: usize) -> [u8; 2] {
    u16::try_from(n)
        .expect("TLS vector fits 16 bits")
        .to_be_bytes()
}

impl CtLog {
    pub(crate) fn new() -> CtLog {
        CtLog {
            key: EcKey::generate(),
        }
    }

    /// The extension value to embed: an OCTET STRING holding a SignedCertificateTimestampList
    /// with one SCT over the precertificate `tbs` issued by the key whose SPKI hashes to
    /// `issuer_key_hash`.
    pub(crate) fn embedded_sct_list(
        &self,
        issuer_key_hash: &[u8; 32],
        tbs: &[u8],
        at: SystemTime,
    ) -> Vec<u8> {
        let timestamp = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("time after 1970")
            .as_millis() as u64;
        let tbs_len = u32::try_from(tbs.len()).expect("TBS size");
        assert!(tbs_len < 1 << 24, "TBS too large for an SCT");

        // digitally-signed struct: version v1, certificate_timestamp, timestamp,
        // precert_entry, issuer_key_hash, opaque TBS<1..2^24-1>, extensions<0..2^16-1>.
        let mut signed = vec![0u8, 0u8];
        signed.extend_from_slice(&timestamp.to_be_bytes());
        signed.extend_from_slice(&[0, 1]);
        signed.extend_from_slice(issuer_key_hash);
        signed.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
        signed.extend_from_slice(tbs);
        signed.extend_from_slice(&[0, 0]);
        let signature = self.key.sign(&signed);

        // SignedCertificateTimestamp: version, log id, timestamp, extensions, then the
        // DigitallySigned: hash sha256 (4), signature ecdsa (3), opaque signature<0..2^16-1>.
        let mut sct = vec![0u8];
        sct.extend_from_slice(&self.key.key_id());
        sct.extend_from_slice(&timestamp.to_be_bytes());
        sct.extend_from_slice(&[0, 0]);
        sct.extend_from_slice(&[4, 3]);
        sct.extend_from_slice(&u16_len(signature.len()));
        sct.extend_from_slice(&signature);

        let mut list_body = u16_len(sct.len()).to_vec();
        list_body.extend_from_slice(&sct);
        let mut list = u16_len(list_body.len()).to_vec();
        list.extend_from_slice(&list_body);
        use der::Encode as _;
        der::asn1::OctetString::new(list)
            .and_then(|o| o.to_der())
            .expect("SCT list")
    }
}
