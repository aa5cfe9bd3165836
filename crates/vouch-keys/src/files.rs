//! Key files on disk: `PREFIX.key` (encrypted, mode 0600) and `PREFIX.pub`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{KeyError, PrivateKey, PublicKey};

/// Key files are a few KiB; anything far larger is the wrong file.
const MAX_KEY_FILE: u64 = 1024 * 1024;

/// Write `PREFIX.key` (encrypted with `password`, mode 0600) and `PREFIX.pub`. Without `force`,
/// refuses if either file exists. Returns the two paths.
pub fn write_key_pair(
    prefix: &Path,
    key: &PrivateKey,
    password: &[u8],
    force: bool,
) -> Result<(PathBuf, PathBuf), KeyError> {
    // A directory prefix would write the hidden files `DIR/.key` and `DIR/.pub`.
    if prefix.as_os_str().as_encoded_bytes().ends_with(b"/") || prefix.is_dir() {
        return Err(KeyError::Write {
            path: prefix.to_path_buf(),
            error: io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory; give a file name prefix such as DIR/release",
            ),
        });
    }
    let key_path = with_suffix(prefix, ".key");
    let pub_path = with_suffix(prefix, ".pub");
    if !force {
        // Check both up front so we never leave half a pair behind.
        for path in [&key_path, &pub_path] {
            if path.symlink_metadata().is_ok() {
                return Err(KeyError::AlreadyExists(path.clone()));
            }
        }
    }
    // Encrypt before touching the filesystem: scrypt is the slow part.
    let encrypted = key.to_encrypted_pem(password);
    let public = key.public_key().to_pem();

    write_file(&key_path, encrypted.as_bytes(), 0o600, force)?;
    if let Err(e) = write_file(&pub_path, public.as_bytes(), 0o644, force) {
        if !force {
            // We created the .key moments ago; do not leave an orphan.
            let _ = std::fs::remove_file(&key_path);
        }
        return Err(e);
    }
    Ok((key_path, pub_path))
}

/// Load an encrypted private key file. Refuses files readable by group or others unless
/// `allow_insecure_permissions`.
pub fn load_private_key(
    path: &Path,
    password: &[u8],
    allow_insecure_permissions: bool,
) -> Result<PrivateKey, KeyError> {
    let read_err = |error| KeyError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = File::open(path).map_err(read_err)?;
    // Check the opened file, not the path, so a swapped file cannot slip past.
    let metadata = file.metadata().map_err(read_err)?;
    if metadata.is_dir() {
        return Err(read_err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory, not a key file",
        )));
    }
    let bytes = read_bounded(file, metadata.len()).map_err(read_err)?;
    // Only a file holding a private key is a secret; anything else (a .pub given by mistake)
    // cannot load below, and is better refused for what it is than for its mode.
    if bytes.windows(11).any(|w| w == b"PRIVATE KEY") {
        check_permissions(path, &metadata, allow_insecure_permissions)?;
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| read_err(io::Error::new(io::ErrorKind::InvalidData, "not a PEM file")))?;
    PrivateKey::from_encrypted_pem(text, password).map_err(|e| in_file(path, e))
}

/// Load a public key file (PEM `PUBLIC KEY` / `RSA PUBLIC KEY`, or DER).
pub fn load_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let read_err = |error| KeyError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = File::open(path).map_err(read_err)?;
    let len = file.metadata().map_err(read_err)?.len();
    // Zeroizing in case someone points us at a private key by mistake.
    let bytes = read_bounded(file, len).map_err(read_err)?;
    PublicKey::from_pem_or_der(&bytes).map_err(|e| in_file(path, e))
}

fn in_file(path: &Path, error: KeyError) -> KeyError {
    KeyError::InFile {
        path: path.to_path_buf(),
        source: Box::new(error),
    }
}

/// `prefix` + `suffix` without treating dots in the prefix as an extension.
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(prefix.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Read a whole file (at most `MAX_KEY_FILE`), sized up front so secrets are not reallocated.
fn read_bounded(file: File, len_hint: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    if len_hint > MAX_KEY_FILE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "file is too large to be a key",
        ));
    }
    let capacity = usize::try_from(len_hint).unwrap_or(0) + 1;
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_KEY_FILE).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(unix)]
fn check_permissions(
    path: &Path,
    metadata: &std::fs::Metadata,
    allow: bool,
) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 && !allow {
        return Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path, _: &std::fs::Metadata, _: bool) -> Result<(), KeyError> {
    Ok(())
}

/// Create `path` with `mode`. Without `force` the file must not exist (`create_new`); with it,
/// write a temp file and rename over, so an old file's looser mode is never inherited.
fn write_file(path: &Path, contents: &[u8], mode: u32, force: bool) -> Result<(), KeyError> {
    let write_err = |error| KeyError::Write {
        path: path.to_path_buf(),
        error,
    };
    if !force {
        return vouch_fs::create_new(path, contents, mode).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                KeyError::AlreadyExists(path.to_path_buf())
            } else {
                write_err(e)
            }
        });
    }
    vouch_fs::replace(path, contents, mode, true).map_err(write_err)
}

#[cfg(all(test, unix))]
mod tests {
    use super::super::{Algorithm, test_vectors};
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn writes_pair_with_private_mode_and_loads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = dir.path().join("release.v1");
        let key = PrivateKey::generate(Algorithm::Ed25519);
        let (key_path, pub_path) = write_key_pair(&prefix, &key, b"pw", false).expect("writes");
        assert_eq!(key_path, dir.path().join("release.v1.key"));
        assert_eq!(pub_path, dir.path().join("release.v1.pub"));
        assert_eq!(mode_of(&key_path), 0o600);

        let loaded = load_private_key(&key_path, b"pw", false).expect("loads");
        assert_eq!(loaded.public_key(), key.public_key());
        assert_eq!(load_public_key(&pub_path).expect("pub"), key.public_key());
        let err = load_private_key(&key_path, b"wrong", false).expect_err("wrong password");
        assert!(
            matches!(&err, KeyError::InFile { source, .. } if matches!(**source, KeyError::WrongPassword)),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("release.v1.key: wrong password"),
            "{err}"
        );
    }

    #[test]
    fn refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = dir.path().join("cosign");
        let pub_path = dir.path().join("cosign.pub");
        std::fs::write(&pub_path, "existing").expect("write");
        let key = PrivateKey::generate(Algorithm::EcdsaP256);

        let err = write_key_pair(&prefix, &key, b"", false).expect_err("refused");
        let msg = err.to_string();
        assert!(
            msg.contains("cosign.pub") && msg.contains("--force"),
            "{msg}"
        );
        assert!(
            !dir.path().join("cosign.key").exists(),
            "no half-written pair"
        );
        assert_eq!(
            std::fs::read_to_string(&pub_path).expect("read"),
            "existing"
        );

        // With force, both are replaced and a previously loose key mode is not inherited.
        let key_path = dir.path().join("cosign.key");
        std::fs::write(&key_path, "old").expect("write");
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write_key_pair(&prefix, &key, b"", true).expect("forced");
        assert_eq!(mode_of(&key_path), 0o600);
        assert_eq!(load_public_key(&pub_path).expect("pub"), key.public_key());
        let leftovers = std::fs::read_dir(dir.path()).expect("ls").count();
        assert_eq!(leftovers, 2, "no temp files left behind");
    }

    #[test]
    fn insecure_key_permissions_refused_unless_allowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plain.key");
        // Unencrypted PKCS#8 with an empty password avoids a slow scrypt run here.
        let pem = test_vectors::text("sigstore-rs/tests/data/keys/ecdsa_private.key");
        std::fs::write(&path, &pem).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");

        let err = load_private_key(&path, b"", false).expect_err("refused");
        let msg = err.to_string();
        assert!(matches!(
            err,
            KeyError::InsecurePermissions { mode: 0o640, .. }
        ));
        assert!(
            msg.contains(&format!("chmod 600 {}", path.display())),
            "{msg}"
        );
        assert!(msg.contains("--allow-insecure-key-permissions"), "{msg}");

        load_private_key(&path, b"", true).expect("allowed explicitly");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        load_private_key(&path, b"", false).expect("0600 is fine");
    }

    #[test]
    fn read_errors_name_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.pub");
        let err = load_public_key(&missing).expect_err("missing");
        assert!(err.to_string().contains("nope.pub"), "{err}");
        let err = load_private_key(&dir.path().join("nope.key"), b"", false).expect_err("missing");
        assert!(err.to_string().contains("nope.key"), "{err}");
    }
}
