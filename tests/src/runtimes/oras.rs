//! oras 1.2: `oras pull --plain-http` into an output dir. oras has no mirror setting: it
//! pulls from the registry its reference names, or, with `--resolve`, from another
//! address for that name (the request still says `Host: <the name>`).
//!
//! `oras pull` writes only layers that carry an `org.opencontainers.image.title`
//! annotation (as files of that name); others are skipped, with a note on stderr.

use std::collections::BTreeSet;

use super::{Client, Pull, Pulled, digest_of, run_bounded, tool_command};

/// Where `oras pull` connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrasRoute<'a> {
    /// To the host the reference names.
    Direct,
    /// To this `127.0.0.1:PORT` instead (`--resolve NAME_HOST:NAME_PORT:IP:PORT`).
    Resolve(&'a str),
}

/// `oras pull --plain-http -o DIR --config config.json REFERENCE`. On success,
/// [`Pulled`] holds the `Digest:` oras printed and the digests of the files it wrote
/// (titled layers and the config), each hashed from disk.
pub fn pull(reference: &str, route: OrasRoute<'_>) -> Pull {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    // Relative to the output dir: oras refuses to write outside it.
    let config = "config.json";
    let mut cmd = tool_command("oras", dir.path());
    cmd.args(["pull", "--plain-http", "--no-tty", "-o"])
        .arg(&out)
        .args(["--config", config]);
    if let OrasRoute::Resolve(to) = route {
        let name_host = reference.split('/').next().unwrap_or_default();
        cmd.arg("--resolve").arg(format!("{name_host}:{to}"));
    }
    cmd.arg(reference);
    let (code, stdout, stderr, timed_out) = run_bounded(&mut cmd);
    let pulled = (code == 0 && !timed_out)
        .then(|| {
            let manifest = stdout
                .lines()
                .find_map(|l| l.strip_prefix("Digest: "))?
                .trim()
                .to_string();
            let mut blobs = BTreeSet::new();
            for entry in std::fs::read_dir(&out).into_iter().flatten().flatten() {
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    blobs.insert(digest_of(&bytes));
                }
            }
            Some(Pulled { manifest, blobs })
        })
        .flatten();
    Pull {
        client: Client::Oras,
        code,
        stdout,
        stderr,
        timed_out,
        pulled,
    }
}
