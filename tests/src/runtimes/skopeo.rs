//! skopeo 1.18: `skopeo copy docker://… oci:DIR` (a pull into an OCI layout) and
//! `skopeo inspect`, optionally routed by a private `registries.conf`.

use std::collections::BTreeSet;
use std::path::Path;

use super::podman::{ACCEPT_ANYTHING, RegistriesConf};
use super::{Client, Pull, Pulled, blob_dir_digests, run_bounded, tool_command};

fn command(home: &Path, conf: Option<&RegistriesConf>) -> std::process::Command {
    std::fs::write(home.join("policy.json"), ACCEPT_ANYTHING).expect("policy");
    let mut cmd = tool_command("skopeo", home);
    cmd.arg("--policy").arg(home.join("policy.json"));
    if let Some(conf) = conf {
        conf.write(&home.join("registries.conf"));
        cmd.arg("--registries-conf")
            .arg(home.join("registries.conf"));
    }
    cmd
}

/// `skopeo copy --preserve-digests docker://IMAGE oci:DIR` (without that flag an
/// uncompressed layer is compressed on the way into the layout, changing the manifest).
/// Plain HTTP is allowed for the source (by
/// `--src-tls-verify=false` without a `registries.conf`, by its `insecure` entries
/// with one). On success, [`Pulled`] holds the manifest digest the layout's index
/// names and every blob in the layout (manifest included), each re-hashed.
pub fn copy(image: &str, conf: Option<&RegistriesConf>) -> Pull {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("layout");
    let mut cmd = command(dir.path(), conf);
    cmd.args(["copy", "--preserve-digests"]);
    if conf.is_none() {
        cmd.arg("--src-tls-verify=false");
    }
    cmd.arg(format!("docker://{image}"))
        .arg(format!("oci:{}", layout.display()));
    let (code, stdout, stderr, timed_out) = run_bounded(&mut cmd);
    let pulled = (code == 0 && !timed_out)
        .then(|| {
            let index: serde_json::Value =
                serde_json::from_slice(&std::fs::read(layout.join("index.json")).ok()?).ok()?;
            Some(Pulled {
                manifest: index["manifests"][0]["digest"].as_str()?.to_string(),
                blobs: blob_dir_digests(&layout.join("blobs/sha256")),
            })
        })
        .flatten();
    Pull {
        client: Client::Skopeo,
        code,
        stdout,
        stderr,
        timed_out,
        pulled,
    }
}

/// `skopeo inspect docker://IMAGE`: reads the manifest and config, stores nothing. On
/// success, [`Pulled`] holds the reported `Digest` and `Layers` (for an index, those of
/// the platform image skopeo picked).
pub fn inspect(image: &str, conf: Option<&RegistriesConf>) -> Pull {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = command(dir.path(), conf);
    cmd.arg("inspect");
    if conf.is_none() {
        cmd.arg("--tls-verify=false");
    }
    cmd.arg(format!("docker://{image}"));
    let (code, stdout, stderr, timed_out) = run_bounded(&mut cmd);
    let pulled = (code == 0 && !timed_out)
        .then(|| {
            let json: serde_json::Value = serde_json::from_str(&stdout).ok()?;
            let blobs: BTreeSet<String> = json["Layers"]
                .as_array()?
                .iter()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect();
            Some(Pulled {
                manifest: json["Digest"].as_str()?.to_string(),
                blobs,
            })
        })
        .flatten();
    Pull {
        client: Client::Skopeo,
        code,
        stdout,
        stderr,
        timed_out,
        pulled,
    }
}
