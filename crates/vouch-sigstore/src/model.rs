//! The Sigstore bundle as JSON (protobuf-specs `Bundle`, v0.1 to v0.3).

use serde::Deserialize;

use super::b64::{int64, serde_bytes};

/// Bundle format versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BundleVersion {
    /// `…bundle+json;version=0.1`
    V0_1,
    /// `…bundle+json;version=0.2`
    V0_2,
    /// `…bundle+json;version=0.3` or `…bundle.v0.3+json`
    V0_3,
}

impl BundleVersion {
    pub(crate) fn from_media_type(m: &str) -> Option<Self> {
        match m {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Some(BundleVersion::V0_1),
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Some(BundleVersion::V0_2),
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => Some(BundleVersion::V0_3),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Bundle {
    pub(crate) media_type: String,
    pub(crate) verification_material: VerificationMaterial,
    pub(crate) message_signature: Option<MessageSignature>,
    pub(crate) dsse_envelope: Option<Envelope>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerificationMaterial {
    pub(crate) x509_certificate_chain: Option<CertificateChain>,
    pub(crate) certificate: Option<RawBytes>,
    pub(crate) public_key: Option<PublicKeyIdentifier>,
    #[serde(default)]
    pub(crate) tlog_entries: Vec<TlogEntry>,
    pub(crate) timestamp_verification_data: Option<TimestampVerificationData>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CertificateChain {
    #[serde(default)]
    pub(crate) certificates: Vec<RawBytes>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawBytes {
    #[serde(with = "serde_bytes")]
    pub(crate) raw_bytes: Vec<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PublicKeyIdentifier {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TlogEntry {
    // Protobuf JSON leaves out zero values: a missing index is entry 0.
    #[serde(default, with = "int64")]
    pub(crate) log_index: i64,
    pub(crate) log_id: LogId,
    pub(crate) kind_version: KindVersion,
    #[serde(default, with = "int64::opt")]
    pub(crate) integrated_time: Option<i64>,
    pub(crate) inclusion_promise: Option<InclusionPromise>,
    pub(crate) inclusion_proof: Option<InclusionProof>,
    #[serde(with = "serde_bytes")]
    pub(crate) canonicalized_body: Vec<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogId {
    #[serde(with = "serde_bytes")]
    pub(crate) key_id: Vec<u8>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct KindVersion {
    pub(crate) kind: String,
    pub(crate) version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InclusionPromise {
    #[serde(with = "serde_bytes")]
    pub(crate) signed_entry_timestamp: Vec<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InclusionProof {
    #[serde(default, with = "int64")]
    pub(crate) log_index: i64,
    #[serde(with = "serde_bytes")]
    pub(crate) root_hash: Vec<u8>,
    #[serde(with = "int64")]
    pub(crate) tree_size: i64,
    #[serde(default)]
    pub(crate) hashes: Vec<String>,
    pub(crate) checkpoint: Option<CheckpointEnvelope>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckpointEnvelope {
    pub(crate) envelope: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TimestampVerificationData {
    #[serde(default)]
    pub(crate) rfc3161_timestamps: Vec<Rfc3161Timestamp>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Rfc3161Timestamp {
    #[serde(with = "serde_bytes")]
    pub(crate) signed_timestamp: Vec<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageSignature {
    pub(crate) message_digest: Option<HashOutput>,
    #[serde(with = "serde_bytes")]
    pub(crate) signature: Vec<u8>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct HashOutput {
    pub(crate) algorithm: String,
    #[serde(with = "serde_bytes")]
    pub(crate) digest: Vec<u8>,
}

/// A DSSE envelope (payload and signatures base64 in JSON).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Envelope {
    #[serde(with = "serde_bytes")]
    pub(crate) payload: Vec<u8>,
    pub(crate) payload_type: String,
    #[serde(default)]
    pub(crate) signatures: Vec<DsseSignature>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DsseSignature {
    #[serde(with = "serde_bytes")]
    pub(crate) sig: Vec<u8>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) keyid: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_log_index_is_entry_zero() {
        // Protobuf JSON writes no `logIndex` for the first entry of a log.
        let entry: TlogEntry = serde_json::from_str(
            r#"{"logId":{"keyId":"AA=="},"kindVersion":{"kind":"hashedrekord","version":"0.0.1"},
                "inclusionProof":{"rootHash":"AA==","treeSize":"1","hashes":[]},
                "canonicalizedBody":"e30="}"#,
        )
        .expect("parses");
        assert_eq!(entry.log_index, 0);
        assert_eq!(entry.inclusion_proof.expect("proof").log_index, 0);
    }
}
