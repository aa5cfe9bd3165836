//! Token PINs: held zeroized, never printed, and read from a `pin-source` file with a bound.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::Pkcs11Error;

/// The largest `pin-source` file read, in bytes. Tokens' PINs are far shorter (PKCS#11 tokens
/// report their maximum, usually 8 to 255).
pub const MAX_PIN_FILE_LEN: u64 = 1024;

/// A token PIN. Its bytes are wiped on drop; `Debug` shows `<redacted>`, and there is no
/// `Display`.
#[derive(Clone)]
pub struct Pin(Zeroizing<Vec<u8>>);

impl Pin {
    /// A PIN from its bytes (PKCS#11 PINs are usually, but not necessarily, UTF-8).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Pin(Zeroizing::new(bytes.into()))
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Read a PIN from a file as `pin-source` names it: a path, or a `file:` URI with an absolute
    /// path (`file:/run/pin`, `file:///run/pin`). One trailing newline is ignored. The file must
    /// be a regular file of at most [`MAX_PIN_FILE_LEN`] bytes holding a non-empty PIN.
    pub fn from_source(source: &Path) -> Result<Self, Pkcs11Error> {
        let path = pin_source_path(source)?;
        let fail = |reason: String| Pkcs11Error::PinSource {
            path: path.clone(),
            reason,
        };
        let mut file = std::fs::File::open(&path).map_err(|e| fail(e.to_string()))?;
        let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
        if !meta.is_file() {
            return Err(fail("not a regular file".into()));
        }
        if meta.len() > MAX_PIN_FILE_LEN {
            return Err(fail(format!(
                "{} bytes; a PIN file holds at most {MAX_PIN_FILE_LEN}",
                meta.len()
            )));
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(64));
        (&mut file)
            .take(MAX_PIN_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(e.to_string()))?;
        if bytes.len() as u64 > MAX_PIN_FILE_LEN {
            return Err(fail(format!(
                "grew past {MAX_PIN_FILE_LEN} bytes while being read"
            )));
        }
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        if bytes.is_empty() {
            return Err(fail("the file is empty".into()));
        }
        Ok(Pin(bytes))
    }
}

/// The file a `pin-source` value names. RFC 7512 lets it be any URI; only files are read.
fn pin_source_path(source: &Path) -> Result<PathBuf, Pkcs11Error> {
    let text = source.to_string_lossy();
    let refuse = |reason: &str| Pkcs11Error::PinSource {
        path: source.to_path_buf(),
        reason: reason.to_string(),
    };
    if text.starts_with('|') {
        return Err(refuse(
            "running a program for the PIN (pin-source=|PROGRAM) is not supported; write the PIN to a file",
        ));
    }
    if let Some(rest) = text.strip_prefix("file:") {
        let path = rest
            .strip_prefix("//localhost")
            .or_else(|| rest.strip_prefix("//"))
            .unwrap_or(rest);
        if !path.starts_with('/') {
            return Err(refuse(
                "a file: URI needs an absolute path (file:/path/to/pin)",
            ));
        }
        return Ok(PathBuf::from(path));
    }
    let scheme_len = text
        .find(':')
        .filter(|&i| {
            i > 0
                && text[..i].starts_with(|c: char| c.is_ascii_alphabetic())
                && text[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
        .is_some();
    if scheme_len {
        return Err(refuse(
            "only files can hold the PIN: give a path or a file: URI (write ./NAME for a relative path with a ':')",
        ));
    }
    Ok(source.to_path_buf())
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_pin() {
        assert_eq!(format!("{:?}", Pin::new("123456")), "Pin(<redacted>)");
    }

    #[test]
    fn pin_source_forms() {
        assert_eq!(
            pin_source_path(Path::new("file:/run/pin")).expect("file:"),
            PathBuf::from("/run/pin")
        );
        assert_eq!(
            pin_source_path(Path::new("file:///run/pin")).expect("file:///"),
            PathBuf::from("/run/pin")
        );
        assert_eq!(
            pin_source_path(Path::new("file://localhost/run/pin")).expect("localhost"),
            PathBuf::from("/run/pin")
        );
        assert_eq!(
            pin_source_path(Path::new("secrets/pin")).expect("relative"),
            PathBuf::from("secrets/pin")
        );
        for refused in [
            "|/usr/bin/get-pin",
            "env:PIN",
            "file:relative",
            "https://x/pin",
        ] {
            assert!(
                pin_source_path(Path::new(refused)).is_err(),
                "{refused} accepted"
            );
        }
    }

    #[test]
    fn reads_a_pin_file_with_one_trailing_newline_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pin");
        std::fs::write(&path, "12 34\r\n").expect("write");
        assert_eq!(Pin::from_source(&path).expect("reads").expose(), b"12 34");
        std::fs::write(&path, "1234\n\n").expect("write");
        assert_eq!(Pin::from_source(&path).expect("reads").expose(), b"1234\n");
    }

    #[test]
    fn refuses_empty_large_and_odd_pin_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pin");
        std::fs::write(&path, "\n").expect("write");
        assert!(Pin::from_source(&path).is_err());
        std::fs::write(&path, vec![b'1'; MAX_PIN_FILE_LEN as usize + 1]).expect("write");
        let err = Pin::from_source(&path).expect_err("too large");
        assert!(err.to_string().contains("at most 1024"), "{err}");
        assert!(Pin::from_source(dir.path()).is_err(), "a directory");
        assert!(Pin::from_source(&dir.path().join("missing")).is_err());
    }
}
