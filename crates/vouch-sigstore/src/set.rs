//! Signed entry timestamps: Rekor v1's signature over the canonical JSON of
//! `{body, integratedTime, logID, logIndex}` (keys sorted, no whitespace).
//! vouch's own: the canonical form is Rekor's, and only these four fields are ever signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::crypto::VerifyKey;

/// The bytes a SET signs.
pub(crate) fn signed_payload(
    body: &[u8],
    integrated_time: i64,
    log_id: &[u8],
    log_index: i64,
) -> Vec<u8> {
    // Every value is base64, hex or an integer, so no JSON escaping is needed.
    format!(
        "{{\"body\":\"{}\",\"integratedTime\":{integrated_time},\"logID\":\"{}\",\"logIndex\":{log_index}}}",
        STANDARD.encode(body),
        hex::encode(log_id)
    )
    .into_bytes()
}

/// A signed entry timestamp that does not verify under the log's key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signed entry timestamp: {0}")]
pub(crate) struct SetError(String);

/// Verify a SET with the log's key.
pub(crate) fn verify(
    key: &VerifyKey,
    set: &[u8],
    body: &[u8],
    integrated_time: i64,
    log_id: &[u8],
    log_index: i64,
) -> Result<(), SetError> {
    let msg = signed_payload(body, integrated_time, log_id, log_index);
    key.verify(key.default_scheme(), &msg, set)
        .map_err(SetError)
}
