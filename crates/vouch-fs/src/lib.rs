//! Writing files the way keys, credentials, OCI layouts and the verification cache need it.
//!
//! Replacing a file atomically, the one way vouch does it: a temporary file in the same
//! directory, written (and flushed to disk when asked), then renamed over the target by
//! tempfile's `persist`. A reader sees the old file or the new one, never part of one; a failed
//! write leaves no temporary file behind (tempfile removes it on drop). Beside it, creating a
//! file that must not exist yet, and a directory only its owner may enter, with their modes
//! set at creation (never loosened, then tightened).
//!
//! Trust boundary: the local file system. Nothing here reads what it writes back.
#![forbid(unsafe_code)]

use std::io::{self, Write as _};
use std::path::Path;

/// Replaces (or creates) `path` with `bytes`. `mode` is the new file's permission bits (the
/// umask still applies), so an old file's looser mode is never inherited; `sync` flushes the
/// data to disk before the rename.
pub fn replace(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".vouch-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(bytes)?;
    if sync {
        file.as_file().sync_all()?;
    }
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Creates `path` with `mode` and writes `contents`, flushed to disk; fails if `path` exists
/// (`create_new`), so nothing is ever overwritten.
pub fn create_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Creates `dir` and its missing parents, those it creates with mode 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn replaces_with_the_given_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"old").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        replace(&path, b"new", 0o600, true).expect("replace");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
        // A directory in the way fails the rename and leaves nothing behind.
        let blocked = dir.path().join("d");
        std::fs::create_dir_all(blocked.join("x")).expect("mkdir");
        assert!(replace(&blocked.join("x"), b"y", 0o644, false).is_err());
        assert_eq!(std::fs::read_dir(&blocked).expect("dir").count(), 1);
    }
}
