//! Human output of verification reports, and JSON on stdout.

use std::io::Write;

use anyhow::Context;
use vouch_verify::report::short_id;
use vouch_verify::{ImageReport, PolicyImageReport, Report};

use crate::exit::{Failure, OrExit};

/// Human report for one image.
pub fn render_report(report: &Report) -> String {
    match report {
        Report::Keys(r) => render_key_report(r),
        Report::Policy(r) => render_policy_report(r),
    }
}

/// Human report for one image judged against keys.
pub fn render_key_report(report: &ImageReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let subject = report.pinned.as_deref().unwrap_or(&report.reference);
    let from = if report.pinned.is_some() && !report.reference.contains('@') {
        format!(" (from {})", report.reference)
    } else {
        String::new()
    };
    match report.decision {
        "verified" => out.push_str(&format!("VERIFIED {subject}{from}\n")),
        "refused" => out.push_str(&format!("REFUSED  {subject}{from}\n")),
        _ => out.push_str(&format!("ERROR    {subject}{from}\n")),
    }
    if let Some(reason) = &report.reason {
        let _ = writeln!(out, "  reason: {reason}");
    }
    for sig in &report.signatures {
        let key = match (&sig.key_id, &sig.identity) {
            (Some(id), _) => format!(
                " key {} ({})",
                short_id(id),
                sig.key_source.as_deref().unwrap_or("?")
            ),
            (None, Some(identity)) => {
                let log = match (sig.log_index, &sig.signed_at) {
                    (Some(i), Some(t)) => format!(", log index {i}, signed {t}"),
                    (Some(i), None) => format!(", log index {i}"),
                    (None, Some(t)) => format!(", not logged, timestamped {t}"),
                    (None, None) => ", not logged".to_string(),
                };
                format!(" {} ({}){log}", identity.subject, identity.issuer)
            }
            (None, None) => String::new(),
        };
        let what = if sig.format == Some("bundle") {
            "bundle"
        } else {
            "signature"
        };
        match sig.verdict {
            "verified" => {
                let annotations: Vec<String> = sig
                    .annotations
                    .iter()
                    .map(|(k, v)| match v.as_str() {
                        Some(s) => format!("{k}={s}"),
                        None => format!("{k}={v}"),
                    })
                    .collect();
                let annotations = if annotations.is_empty() {
                    String::new()
                } else {
                    format!(", annotations {}", annotations.join(" "))
                };
                let _ = writeln!(out, "  {what} {}: verified by{key}{annotations}", sig.index);
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  {what} {}: rejected{}: {}",
                    sig.index,
                    if key.is_empty() {
                        String::new()
                    } else {
                        format!(" (signed by{key})")
                    },
                    sig.reason.as_deref().unwrap_or("unknown reason")
                );
            }
        }
    }
    out
}

/// Human report for one image judged under a policy.
pub fn render_policy_report(report: &PolicyImageReport) -> String {
    let mut out = String::new();
    let head = match report.decision {
        "allow" => "ALLOW",
        "warn" => "WARN ",
        "deny" => "DENY ",
        _ => "ERROR",
    };
    let subject = match &report.digest {
        Some(d) if !report.reference.contains('@') => {
            format!("{} (resolved to {d})", report.reference)
        }
        _ => report.reference.clone(),
    };
    out.push_str(&format!("{head} {subject}\n"));
    if let Some(e) = &report.error {
        out.push_str(&format!("  reason: {e}\n"));
    }
    for j in &report.judged {
        if let Some(p) = &j.platform {
            out.push_str(&format!("  platform {p}: {}\n", j.pinned));
        }
        for line in j.evaluation.to_string().lines() {
            out.push_str(&format!("  {line}\n"));
        }
        for r in &j.rejected_signatures {
            let key = r
                .key_id
                .as_deref()
                .map(|k| format!(" key {}", short_id(k)))
                .unwrap_or_default();
            out.push_str(&format!(
                "    {} #{}{key}: rejected before the policy: {}\n",
                if r.format == Some("bundle") {
                    "bundle"
                } else {
                    "signature"
                },
                r.index,
                r.reason.as_deref().unwrap_or("unknown reason")
            ));
        }
    }
    out
}

pub fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)
        .context("writing JSON")
        .or_usage()?;
    writeln!(stdout).context("writing JSON").or_usage()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use vouch_keys::PrivateKey;
    use vouch_oci::reference::{self, ImageRef};
    use vouch_policy::Timestamp;
    use vouch_registry::{StoreOptions, Stores};
    use vouch_sign::{SignFormat, SignOptions, sign_image};
    use vouch_verify::fetch::BundleSource;
    use vouch_verify::policy_verify::{PolicyRun, load_policy, verify_with_policy};

    use super::render_policy_report;

    const EXAMPLE_PASSWORD: &[u8] = b"vouch-example";
    const IDENTITY: &str = "registry.example.com/prod/app";

    fn example(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../keys-example")
            .join(name)
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }

    /// The example image, signed by each `(key, annotations)`.
    async fn signed_layout(dir: &Path, signers: &[(&str, &[(&str, &str)])]) -> ImageRef {
        let layout = dir.join("image");
        copy_dir(&example("sample-image"), &layout);
        let image = reference::parse(&format!("oci:{}:v1", layout.display())).expect("ref");
        let stores = Stores::new(&StoreOptions::default()).expect("stores");
        for (key, annotations) in signers {
            let annotations: BTreeMap<String, String> = annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let pem = std::fs::read_to_string(example(key)).expect("key");
            let key = PrivateKey::from_encrypted_pem(&pem, EXAMPLE_PASSWORD).expect("decrypt");
            let options = SignOptions {
                key: &key,
                annotations: &annotations,
                recursive: false,
                identity: Some(IDENTITY),
                format: SignFormat::SimpleSigning,
                slots: None,
            };
            sign_image(&stores, &image, &options).await.expect("sign");
        }
        image
    }

    /// What `vouch verify --policy` prints for an image one signer short of its rule.
    #[tokio::test]
    async fn policy_verify_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = signed_layout(
            dir.path(),
            &[
                ("release-ci.key", &[("env", "prod")]),
                ("security-team.key", &[("env", "dev")]),
            ],
        )
        .await;
        for name in ["release-ci.pub", "security-team.pub"] {
            std::fs::copy(example(name), dir.path().join(name)).expect("copy key");
        }
        let policy_path = dir.path().join("policy.yaml");
        std::fs::write(
            &policy_path,
            "version: 1\nsigners:\n  release-ci:\n    keys: [release-ci.pub]\n  security-team:\n    keys: [security-team.pub]\nrules:\n  - name: production\n    images: [\"registry.example.com/prod/**\"]\n    require:\n      signers: [release-ci, security-team]\n      threshold: 2\n      annotations: {env: prod}\ndefault: deny\n",
        )
        .expect("policy");
        let loaded = load_policy(&policy_path).expect("policy loads");
        let stores = Stores::new(&StoreOptions::default()).expect("stores");
        let run = PolicyRun {
            loaded: &loaded,
            at: Timestamp::parse_rfc3339("2026-12-01T00:00:00Z").expect("time"),
            platform: None,
            all_platforms: false,
            identity: Some(IDENTITY),
            cache: None,
            bundles: BundleSource::Referrers,
        };
        let report = verify_with_policy(&stores, &image, &run).await;
        let rendered =
            render_policy_report(&report).replace(&dir.path().display().to_string(), "[TMP]");
        insta::assert_snapshot!(rendered);
    }
}
