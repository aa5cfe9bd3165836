//! cosign 2.5 against the stand-in: commands with its environment, and the keyless
//! `sign` and `verify` invocations tests repeat.

use std::path::Path;
use std::process::Command;

use super::Sigstore;
use crate::Run;
use crate::peers::peers;

/// What [`Sigstore::cosign_sign`] asks cosign for.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// Also get an RFC 3161 timestamp from the TSA (`--timestamp-server-url`).
    pub timestamp: bool,
    /// Record the signature in Rekor (`--tlog-upload`, on by default).
    pub tlog_upload: bool,
    /// More arguments, placed before the image.
    pub extra: Vec<String>,
}

impl Default for SignOptions {
    fn default() -> SignOptions {
        SignOptions {
            timestamp: false,
            tlog_upload: true,
            extra: Vec::new(),
        }
    }
}

impl Sigstore {
    /// A cosign command with `home` as its HOME and this instance's [`Sigstore::cosign_env`].
    pub fn cosign(&self, home: &Path) -> Command {
        let mut cmd = peers().cosign(home);
        cmd.envs(self.cosign_env());
        cmd
    }

    /// Keyless `cosign sign` of `image` (`HOST/REPO@sha256:...`, plain-HTTP registry) with
    /// the identity `token`.
    pub fn cosign_sign(&self, home: &Path, image: &str, token: &str, options: &SignOptions) -> Run {
        let mut cmd = self.cosign(home);
        cmd.args(["sign", "--yes", "--allow-insecure-registry"])
            .args(["--fulcio-url", self.fulcio_url()])
            .args(["--rekor-url", self.rekor_url()])
            .args(["--identity-token", token]);
        if options.timestamp {
            cmd.args(["--timestamp-server-url", &self.tsa_url()]);
        }
        if !options.tlog_upload {
            cmd.arg("--tlog-upload=false");
        }
        cmd.args(&options.extra).arg(image);
        Run::of(&mut cmd)
    }

    /// `cosign verify` of `image` for a keyless signer; `extra` goes before the image.
    pub fn cosign_verify(
        &self,
        home: &Path,
        image: &str,
        identity: &str,
        issuer: &str,
        extra: &[&str],
    ) -> Run {
        let mut cmd = self.cosign(home);
        cmd.args(["verify", "--allow-insecure-registry"])
            .args(["--rekor-url", self.rekor_url()])
            .args(["--certificate-identity", identity])
            .args(["--certificate-oidc-issuer", issuer])
            .args(extra)
            .arg(image);
        Run::of(&mut cmd)
    }
}
