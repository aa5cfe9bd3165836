//! PEM: `pem-rfc7468` decodes each block (label grammar, constant-time base64, line
//! structure) and encodes ours. vouch's own framing around it: like Go's `pem.Decode`, which
//! cosign uses, text may come before and after a block and a file may hold several blocks
//! (pem-rfc7468 reads one document that ends at its END line).

use zeroize::Zeroizing;

use super::KeyError;

/// One decoded PEM block. The body may be a private key, hence `Zeroizing`.
pub struct Block {
    /// The label, e.g. `CERTIFICATE`.
    pub label: String,
    /// The decoded body.
    pub der: Zeroizing<Vec<u8>>,
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
    blocks(text)
        .next()
        .unwrap_or_else(|| Err(KeyError::Pem("no PEM block found".into())))
}

/// Every PEM block in `text`, in order; one that cannot be decoded ends the list with its error.
pub(crate) fn blocks(text: &str) -> impl Iterator<Item = Result<Block, KeyError>> + '_ {
    const BEGIN: &str = "-----BEGIN ";
    let mut rest = text;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let start = rest.find(BEGIN)?;
        let result = one_block(&rest[start..]);
        match &result {
            Ok((_, used)) => rest = &rest[start + used..],
            Err(_) => failed = true,
        }
        Some(result.map(|(block, _)| block))
    })
}

/// Every block labelled `label` in `text` (blocks with other labels are not looked at).
pub fn blocks_labelled<'t>(
    text: &'t str,
    label: &str,
) -> impl Iterator<Item = Result<Block, KeyError>> + 't {
    let begin = format!("-----BEGIN {label}-----");
    let mut rest = text;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let start = rest.find(&begin)?;
        let result = one_block(&rest[start..]);
        match &result {
            Ok((_, used)) => rest = &rest[start + used..],
            Err(_) => failed = true,
        }
        Some(result.map(|(block, _)| block))
    })
}

/// The block at the start of `text`, and how many bytes of `text` it spans.
fn one_block(text: &str) -> Result<(Block, usize), KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    let after_begin = &text[BEGIN.len()..];
    let label_end = after_begin
        .find("-----")
        .ok_or_else(|| KeyError::Pem("unterminated BEGIN line".into()))?;
    let label = &after_begin[..label_end];
    if label.contains(['\n', '\r']) {
        return Err(KeyError::Pem("unterminated BEGIN line".into()));
    }
    let end_marker = format!("-----END {label}-----");
    let end = text
        .find(&end_marker)
        .ok_or_else(|| KeyError::Pem(format!("no \"{end_marker}\" line")))?
        + end_marker.len();
    let body = &after_begin[label_end + 5..end - end_marker.len()];
    // RFC 1421 headers mean legacy OpenSSL encryption, which we cannot decrypt.
    if body.lines().any(|line| line.contains(':')) {
        return Err(KeyError::Pem(format!(
            "PEM block \"{label}\" has headers (legacy OpenSSL encryption is not supported)"
        )));
    }
    let document = &text.as_bytes()[..end];
    let invalid =
        |e: pem_rfc7468::Error| KeyError::Pem(format!("invalid PEM block \"{label}\": {e}"));
    // 64-column lines decode in constant time; other widths (some tools write 76) are
    // detected first.
    let mut decoder = pem_rfc7468::Decoder::new(document)
        .or_else(|_| pem_rfc7468::Decoder::new_detect_wrap(document))
        .map_err(invalid)?;
    let mut der = Zeroizing::new(vec![0u8; decoder.remaining_len()]);
    let len = decoder.decode(&mut der).map_err(invalid)?.len();
    if !decoder.is_finished() {
        return Err(KeyError::Pem(format!(
            "invalid PEM block \"{label}\": trailing data"
        )));
    }
    der.truncate(len);
    Ok((
        Block {
            label: label.to_string(),
            der,
        },
        end,
    ))
}

/// Encode `der` as PEM with 64-column lines and a trailing newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    // Labels are vouch's constants and the length is bounded by memory: encoding cannot fail.
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_leading_text() {
        let data: Vec<u8> = (0..=200u8).collect();
        let pem = encode("TEST BLOCK", &data);
        assert!(pem.lines().all(|l| l.len() <= 64));
        let with_junk = format!("some comment\n{pem}trailing");
        let block = decode_first(&with_junk).expect("decodes");
        assert_eq!(block.label, "TEST BLOCK");
        assert_eq!(&block.der[..], &data[..]);
    }

    #[test]
    fn rejects_bad_framing() {
        assert!(decode_first("nothing here").is_err());
        assert!(decode_first("-----BEGIN X-----\nAAAA\n").is_err());
        assert!(decode_first("-----BEGIN X-----\nAA!A\n-----END X-----\n").is_err());
        let headers = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let err = decode_first(headers).expect_err("headers rejected");
        assert!(err.to_string().contains("legacy OpenSSL"), "{err}");
    }
}
