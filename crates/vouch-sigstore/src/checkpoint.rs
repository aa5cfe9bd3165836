//! Signed-note checkpoints (C2SP tlog-checkpoint / signed-note): origin, tree size and root
//! hash, followed by signature lines `— <name> <base64(key hint || signature)>`.
//! vouch's own: no maintained Rust crate reads Rekor's signed notes without a full client.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::crypto::VerifyKey;

/// One signature line.
/// Why a checkpoint does not parse, or is not signed by the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CheckpointError {
    #[error("checkpoint has no signature block")]
    NoSignatureBlock,
    #[error("checkpoint has no origin")]
    NoOrigin,
    #[error("checkpoint tree size {0:?} is not a number")]
    TreeSize(String),
    #[error("checkpoint root hash {0:?} is not 32 bytes")]
    RootHash(String),
    #[error("checkpoint has no signatures")]
    NoSignatures,
    #[error("checkpoint signature block does not end with a newline")]
    NoFinalNewline,
    #[error("malformed checkpoint signature line {0:?}")]
    SignatureLine(String),
    #[error("checkpoint signature for {0:?} is not base64")]
    SignatureBase64(String),
    #[error("checkpoint signature by {0} is invalid")]
    InvalidSignature(String),
    #[error("checkpoint has no signature by {name} with the log's key hint {hint}")]
    NoSignatureBy { name: String, hint: String },
}

#[derive(Debug, Clone)]
pub(crate) struct NoteSignature {
    pub(crate) name: String,
    pub(crate) hint: [u8; 4],
    pub(crate) signature: Vec<u8>,
}

/// A parsed checkpoint.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoint {
    pub(crate) origin: String,
    pub(crate) size: u64,
    pub(crate) root_hash: Vec<u8>,
    /// The signed text: every body line with its newline.
    pub(crate) text: String,
    pub(crate) signatures: Vec<NoteSignature>,
}

impl Checkpoint {
    pub(crate) fn parse(envelope: &str) -> Result<Self, CheckpointError> {
        let split = envelope
            .find("\n\n")
            .ok_or(CheckpointError::NoSignatureBlock)?;
        let text = &envelope[..=split];
        let sigs = &envelope[split + 2..];
        let mut lines = text.lines();
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(CheckpointError::NoOrigin);
        }
        let size_line = lines.next().unwrap_or_default();
        let valid_number = !size_line.is_empty()
            && size_line.bytes().all(|b| b.is_ascii_digit())
            && (size_line == "0" || !size_line.starts_with('0'));
        let size: u64 = valid_number
            .then(|| size_line.parse().ok())
            .flatten()
            .ok_or_else(|| CheckpointError::TreeSize(size_line.to_string()))?;
        let root_line = lines.next().unwrap_or_default();
        let root_hash = STANDARD
            .decode(root_line)
            .ok()
            .filter(|h| h.len() == 32)
            .ok_or_else(|| CheckpointError::RootHash(root_line.to_string()))?;
        if sigs.is_empty() {
            return Err(CheckpointError::NoSignatures);
        }
        if !sigs.ends_with('\n') {
            return Err(CheckpointError::NoFinalNewline);
        }
        let mut signatures = Vec::new();
        for line in sigs.lines() {
            let malformed = || CheckpointError::SignatureLine(line.to_string());
            let rest = line.strip_prefix("\u{2014} ").ok_or_else(malformed)?;
            let (name, b64) = rest.rsplit_once(' ').ok_or_else(malformed)?;
            let raw = STANDARD
                .decode(b64)
                .map_err(|_| CheckpointError::SignatureBase64(name.to_string()))?;
            if name.is_empty() || name.contains(char::is_whitespace) || raw.len() < 5 {
                return Err(malformed());
            }
            let mut hint = [0u8; 4];
            hint.copy_from_slice(&raw[..4]);
            signatures.push(NoteSignature {
                name: name.to_string(),
                hint,
                signature: raw[4..].to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(CheckpointError::NoSignatures);
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root_hash,
            text: text.to_string(),
            signatures,
        })
    }

    /// The name the log signs as: the origin, whose Rekor v1 form is `<name> - <tree id>`.
    fn signer_name(&self) -> &str {
        self.origin
            .split_once(" - ")
            .map_or(self.origin.as_str(), |(name, _)| name)
    }

    /// Some signature line must be by the log: named as the origin, with the log's key hint
    /// and a valid signature. Other lines (witness cosignatures, unknown keys) are ignored.
    pub(crate) fn verify(&self, hint: &[u8], key: &VerifyKey) -> Result<(), CheckpointError> {
        let name = self.signer_name();
        let mut tried = false;
        for sig in &self.signatures {
            if sig.name != name || sig.hint != hint {
                continue;
            }
            tried = true;
            if key
                .verify(key.default_scheme(), self.text.as_bytes(), &sig.signature)
                .is_ok()
            {
                return Ok(());
            }
        }
        Err(if tried {
            CheckpointError::InvalidSignature(name.to_string())
        } else {
            CheckpointError::NoSignatureBy {
                name: name.to_string(),
                hint: hex::encode(hint),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let ok = "log.example\n736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n\n\u{2014} log.example AAAAAAECAwQ=\n";
        let c = Checkpoint::parse(ok).expect("parses");
        assert_eq!(c.origin, "log.example");
        assert_eq!(c.size, 736);
        assert_eq!(c.text.lines().count(), 3);
        assert_eq!(c.signatures[0].hint, [0, 0, 0, 0]);
        assert_eq!(c.signer_name(), "log.example");
        let v1 =
            Checkpoint::parse(&ok.replacen("log.example\n", "log.example - 123\n", 1)).expect("v1");
        assert_eq!(v1.signer_name(), "log.example");
        for bad in [
            "736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n\n\u{2014} l AAAAAAECAwQ=\n",
            "log.example\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n\n\u{2014} l AAAAAAECAwQ=\n",
            "log.example\n736\n\n\u{2014} l AAAAAAECAwQ=\n",
            "log.example\n736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n\n",
            "log.example\n0736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n\n\u{2014} l AAAAAAECAwQ=\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }
}
