//! Records the commit the binary is built from for `vouch --version` (`VOUCH_COMMIT`): `git
//! rev-parse` of this checkout, or `unknown` outside one (a source tarball, `cargo install`
//! from a copy without `.git`) or where git is missing.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=VOUCH_COMMIT={commit}");
    // Built again when HEAD moves (a commit, a checkout), not on every edit.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let common = git(&["rev-parse", "--git-common-dir"])
                .map(|c| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(c))
                .unwrap_or(dir);
            // A packed ref has no file of its own (a missing file would rebuild every time).
            for path in [common.join(head), common.join("packed-refs")] {
                if path.is_file() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
