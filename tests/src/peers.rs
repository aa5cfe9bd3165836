//! cosign 2.5 and skopeo 1.18 from Debian 13, unpacked by `tests/peers/fetch-peers.sh`
//! into a cache (nothing installed system-wide).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Paths to the peer tools' wrapper scripts.
#[derive(Debug)]
pub struct Peers {
    /// `cosign` wrapper.
    pub cosign: PathBuf,
    /// `skopeo` wrapper.
    pub skopeo: PathBuf,
}

/// The cache the fetch script fills.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("VOUCH_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/vouch-peers")
        })
}

/// The peers, fetched on first use if the cache lacks them.
pub fn peers() -> &'static Peers {
    static PEERS: OnceLock<Peers> = OnceLock::new();
    PEERS.get_or_init(|| {
        let dir = peers_dir();
        let cosign = dir.join("bin/cosign");
        let skopeo = dir.join("bin/skopeo");
        if !(cosign.is_file() && skopeo.is_file()) {
            let script = crate::workspace_root().join("tests/peers/fetch-peers.sh");
            let status = Command::new("bash")
                .arg(&script)
                .env("VOUCH_PEERS_DIR", &dir)
                .status()
                .expect("run fetch-peers.sh");
            assert!(status.success(), "{} failed", script.display());
        }
        Peers { cosign, skopeo }
    })
}

impl Peers {
    /// A cosign command that never reaches a transparency log or the network at large.
    pub fn cosign(&self, home: &Path) -> Command {
        let mut cmd = Command::new(&self.cosign);
        cmd.env("HOME", home)
            .env("TUF_ROOT", home.join(".sigstore"))
            .env("SIGSTORE_NO_CACHE", "1")
            .env_remove("COSIGN_PASSWORD")
            .env_remove("COSIGN_EXPERIMENTAL");
        cmd
    }

    /// A skopeo command with its own config dirs.
    pub fn skopeo(&self, home: &Path) -> Command {
        let mut cmd = Command::new(&self.skopeo);
        cmd.env("HOME", home).env("XDG_RUNTIME_DIR", home);
        cmd
    }
}
