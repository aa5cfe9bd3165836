//! Where private-key passwords come from: environment, a password file, or a terminal prompt.

use std::ffi::OsString;
use std::io::{IsTerminal, Read};
use std::path::Path;

use zeroize::Zeroizing;

use super::KeyError;

/// Environment variables consulted, in order (cosign's name kept for drop-in use).
const ENV_VARS: [&str; 2] = ["VOUCH_PASSWORD", "COSIGN_PASSWORD"];
/// A password file larger than this is certainly a mistake (e.g. the key file itself).
const MAX_PASSWORD_FILE: u64 = 64 * 1024;

/// Password from `VOUCH_PASSWORD`, else `COSIGN_PASSWORD`, else the password file (one
/// trailing newline removed), else `None`. An empty variable counts as an empty password.
pub fn password_from_env_or_file(
    password_file: Option<&Path>,
) -> Result<Option<Zeroizing<String>>, KeyError> {
    password_from(|name| std::env::var_os(name), password_file)
}

/// Like [`password_from_env_or_file`], falling back to an interactive prompt when stdin is a
/// terminal (asked twice when `confirm`), else [`KeyError::NoPassword`].
pub fn obtain_password(
    password_file: Option<&Path>,
    confirm: bool,
) -> Result<Zeroizing<String>, KeyError> {
    if let Some(password) = password_from_env_or_file(password_file)? {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(KeyError::NoPassword);
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("Enter password for private key: ").map_err(KeyError::Prompt)?,
    );
    if confirm {
        let second = Zeroizing::new(
            rpassword::prompt_password("Enter password for private key again: ")
                .map_err(KeyError::Prompt)?,
        );
        if *first != *second {
            return Err(KeyError::PasswordMismatch);
        }
    }
    Ok(first)
}

/// The lookup order, with the environment injectable so tests need not mutate process state.
fn password_from(
    env: impl Fn(&str) -> Option<OsString>,
    password_file: Option<&Path>,
) -> Result<Option<Zeroizing<String>>, KeyError> {
    for name in ENV_VARS {
        if let Some(value) = env(name) {
            return value
                .into_string()
                .map(|s| Some(Zeroizing::new(s)))
                .map_err(|_| KeyError::PasswordNotUtf8(format!("${name}")));
        }
    }
    match password_file {
        Some(path) => read_password_file(path).map(Some),
        None => Ok(None),
    }
}

fn read_password_file(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    let read_err = |error| KeyError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(256));
    file.take(MAX_PASSWORD_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_PASSWORD_FILE {
        return Err(read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "password file is larger than 64 KiB",
        )));
    }
    // Only the newline an editor or `echo` adds; other whitespace may be part of the password.
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| KeyError::PasswordNotUtf8(path.display().to_string()))?;
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    fn get(pairs: &'static [(&'static str, &'static str)], file: Option<&Path>) -> Option<String> {
        password_from(env_of(pairs), file)
            .expect("no error")
            .map(|p| p.to_string())
    }

    #[test]
    fn lookup_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n\n").expect("write");
        let f = Some(file.as_path());

        assert_eq!(
            get(&[("VOUCH_PASSWORD", "v"), ("COSIGN_PASSWORD", "c")], f).as_deref(),
            Some("v")
        );
        assert_eq!(get(&[("COSIGN_PASSWORD", "c")], f).as_deref(), Some("c"));
        // Exactly one trailing newline is removed.
        assert_eq!(get(&[], f).as_deref(), Some("from-file\n"));
        assert_eq!(get(&[], None), None);
        // An explicitly empty variable is an empty password, as in cosign.
        assert_eq!(get(&[("VOUCH_PASSWORD", "")], f).as_deref(), Some(""));
    }

    #[test]
    fn password_file_details() {
        let dir = tempfile::tempdir().expect("tempdir");
        let crlf = dir.path().join("crlf");
        std::fs::write(&crlf, " spaced pw \r\n").expect("write");
        assert_eq!(get(&[], Some(&crlf)).as_deref(), Some(" spaced pw "));

        let missing = dir.path().join("missing");
        let err = password_from(env_of(&[]), Some(&missing)).expect_err("missing file");
        assert!(err.to_string().contains("missing"), "{err}");

        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe]).expect("write");
        assert!(matches!(
            password_from(env_of(&[]), Some(&binary)),
            Err(KeyError::PasswordNotUtf8(_))
        ));
    }
}
