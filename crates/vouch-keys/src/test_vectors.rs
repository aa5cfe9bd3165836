//! Access to the public test vectors copied into `tests/vectors`.

use std::path::PathBuf;

/// Absolute path of a file under `tests/vectors`.
pub(crate) fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/vectors")
        .join(rel)
}

/// Contents of a vector file as text.
pub(crate) fn text(rel: &str) -> String {
    let p = path(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("test vector {}: {e}", p.display()))
}
