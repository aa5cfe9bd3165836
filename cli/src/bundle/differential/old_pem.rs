#![allow(dead_code, clippy::all)]
//! Minimal PEM framing. Hand-rolled rather than pem-rfc7468 because, like Go's `pem.Decode`
//! (which cosign uses), we must tolerate text before the block and cosign's non-standard labels.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::keys::KeyError;

/// One decoded PEM block. The body may be a private key, hence `Zeroizing`.
pub(crate) struct Block {
    pub(crate) label: String,
    pub(crate) der: Zeroizing<Vec<u8>>,
}

// Only the label and size: the body may be a private key.
impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("label", &self.label)
            .field("len", &self.der.len())
            .finish()
    }
}

/// True if the text looks like PEM rather than binary DER.
pub(crate) fn looks_like_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Decode the first PEM block in `text`.
pub(crate) fn decode_first(text: &str) -> Result<Block, KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    let start = text
        .find(BEGIN)
        .ok_or_else(|| KeyError::Pem("no PEM block found".into()))?;
    let after_begin = &text[start + BEGIN.len()..];
    let label_end = after_begin
        .find("-----")
        .ok_or_else(|| KeyError::Pem("unterminated BEGIN line".into()))?;
    let label = &after_begin[..label_end];
    if label.contains(['\n', '\r']) {
        return Err(KeyError::Pem("unterminated BEGIN line".into()));
    }
    let body_and_rest = &after_begin[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body_and_rest
        .find(&end_marker)
        .ok_or_else(|| KeyError::Pem(format!("no \"{end_marker}\" line")))?;
    let body = &body_and_rest[..body_end];
    // RFC 1421 headers mean legacy OpenSSL encryption, which we cannot decrypt.
    if body.lines().any(|line| line.contains(':')) {
        return Err(KeyError::Pem(format!(
            "PEM block \"{label}\" has headers (legacy OpenSSL encryption is not supported)"
        )));
    }
    let compact: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let der = STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| KeyError::Pem(format!("invalid base64 in PEM block \"{label}\": {e}")))?;
    Ok(Block {
        label: label.to_string(),
        der: Zeroizing::new(der),
    })
}

/// Encode `der` as PEM with 64-column lines and a trailing newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // base64 output is ASCII, so splitting on byte boundaries is safe.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}
