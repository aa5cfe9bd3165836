//! podman 5.4 pulling as root into a throw-away storage root (vfs driver), with a private
//! `registries.conf` (shared with skopeo) that says where each registry is pulled from.
//!
//! What podman still writes outside its temp dirs as root, and why that cannot be moved:
//! `/run/containers/networks` (netavark's run dir is fixed for root) and
//! `/run/lock/netavark.lock` (both empty), and `/var/lib/containers/cache`
//! (containers/image's blob-info cache, fixed for root; skopeo uses it too).

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine as _;

use super::{Client, Pull, Pulled, digest_of, run_bounded, tool_command};

/// A `registries.conf` (v2) for containers/image clients: every entry allows plain HTTP,
/// as the test registries are on loopback without TLS.
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    text: String,
}

impl RegistriesConf {
    /// Only `host`, pulled from directly.
    pub fn direct(host: &str) -> RegistriesConf {
        RegistriesConf::default().with_toml(&format!(
            "[[registry]]\nlocation = \"{host}\"\ninsecure = true\n"
        ))
    }

    /// Images named `upstream/…` are pulled from `location/…` instead: `location` is a
    /// host, or a host and path (`MIRROR/UPSTREAM` sends `/v2/UPSTREAM/repo/…`). The
    /// mirror is then the only source; nothing falls back to `upstream`.
    pub fn location(upstream: &str, location: &str) -> RegistriesConf {
        RegistriesConf::default().with_toml(&format!(
            "[[registry]]\nprefix = \"{upstream}\"\nlocation = \"{location}\"\ninsecure = true\n"
        ))
    }

    /// `upstream` stays the registry's location and `mirror` is tried first, as a
    /// `[[registry.mirror]]`; `pull_from_mirror` is `all`, `digest-only` or `tag-only`.
    pub fn mirror(upstream: &str, mirror: &str, pull_from_mirror: &str) -> RegistriesConf {
        RegistriesConf::default().with_toml(&format!(
            "[[registry]]\nlocation = \"{upstream}\"\ninsecure = true\n\n[[registry.mirror]]\nlocation = \"{mirror}\"\ninsecure = true\npull-from-mirror = \"{pull_from_mirror}\"\n"
        ))
    }

    /// Appends raw TOML.
    pub fn with_toml(mut self, toml: &str) -> RegistriesConf {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(toml);
        self
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Writes it to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, &self.text).expect("write registries.conf");
    }
}

/// containers/image's policy that accepts anything: signature checks are not what the
/// pull-through tests look at.
pub const ACCEPT_ANYTHING: &str = r#"{"default":[{"type":"insecureAcceptAnything"}]}"#;

/// `podman pull IMAGE` as root with `conf` as its `registries.conf`, in a fresh storage
/// root. On success, [`Pulled`] holds the digest of what the image was pulled by (its
/// resolved manifest, or the index), and the manifests (re-hashed from storage), the
/// config (re-hashed) and the layers (as the storage recorded them: it keeps them
/// unpacked, not as blobs).
pub fn pull(image: &str, conf: &RegistriesConf) -> Pull {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for sub in ["root", "run", "tmp", "home", "copy"] {
        std::fs::create_dir_all(d.join(sub)).expect("podman dirs");
    }
    conf.write(&d.join("registries.conf"));
    std::fs::write(d.join("policy.json"), ACCEPT_ANYTHING).expect("policy");
    // Added to the helpers' containers.conf that fetch-peers.sh wrote: keep every
    // temporary file and lock in the temp dir.
    std::fs::write(
        d.join("containers.conf"),
        format!(
            "[engine]\nlock_type = \"file\"\nevents_logger = \"none\"\nimage_copy_tmp_dir = \"{}\"\n",
            d.join("copy").display()
        ),
    )
    .expect("containers.conf");
    let mut cmd = tool_command("podman", &d.join("home"));
    cmd.env("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"))
        .env("CONTAINERS_CONF_OVERRIDE", d.join("containers.conf"))
        .env("PODMAN_IGNORE_CGROUPSV1_WARNING", "1")
        .arg("--root")
        .arg(d.join("root"))
        .arg("--runroot")
        .arg(d.join("run"))
        .arg("--tmpdir")
        .arg(d.join("tmp"))
        .args(["--storage-driver", "vfs", "pull", "--signature-policy"])
        .arg(d.join("policy.json"))
        .arg(image);
    let (code, stdout, stderr, timed_out) = run_bounded(&mut cmd);
    let pulled = if code == 0 && !timed_out {
        stored(&d.join("root"))
    } else {
        None
    };
    Pull {
        client: Client::Podman,
        code,
        stdout,
        stderr,
        timed_out,
        pulled,
    }
}

/// Reads what containers/storage holds under `root` (vfs driver).
fn stored(root: &Path) -> Option<Pulled> {
    let images: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("vfs-images/images.json")).ok()?).ok()?;
    let image = images.as_array()?.first()?;
    let id = image["id"].as_str()?;
    let mut blobs = BTreeSet::new();
    // Big data: "manifest", "manifest-<digest>" (each manifest pulled) and the config
    // under its digest; files are named "=" + base64 of the key.
    for key in image["big-data-names"]
        .as_array()?
        .iter()
        .filter_map(|k| k.as_str())
    {
        if key == "manifest" {
            continue;
        }
        let file = format!(
            "={}",
            base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
        );
        let bytes = std::fs::read(root.join("vfs-images").join(id).join(file)).ok()?;
        blobs.insert(digest_of(&bytes));
    }
    let layers: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("vfs-layers/layers.json")).ok()?).ok()?;
    for layer in layers.as_array()? {
        if let Some(d) = layer["compressed-diff-digest"].as_str() {
            blobs.insert(d.to_string());
        }
    }
    Some(Pulled {
        manifest: image["digest"].as_str()?.to_string(),
        blobs,
    })
}
