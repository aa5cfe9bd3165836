//! Snapshots of the reports `vouch verify` gives, with and without a policy, on an OCI layout
//! signed with the fixed example keys (paths filtered out). Their human rendering is
//! snapshotted where it is done, in cli/src/render.rs.

use std::collections::BTreeMap;
use std::path::Path;

use vouch_keys::{self as keys, PrivateKey};
use vouch_oci::reference::{self, ImageRef};
use vouch_policy::{KeyRequirement, Timestamp};
use vouch_registry::{StoreOptions, Stores};
use vouch_sign::{SignOptions, sign_image};
use vouch_verify::judge::TrustedKey;
use vouch_verify::key_verify::{Expectations, verify_image};
use vouch_verify::policy_verify::{PolicyRun, load_policy, verify_with_policy};

const EXAMPLE_PASSWORD: &[u8] = b"vouch-example";
const IDENTITY: &str = "registry.example.com/prod/app";

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-example")
        .join(name)
}

fn private(name: &str) -> PrivateKey {
    let pem = std::fs::read_to_string(example(name)).expect("key");
    PrivateKey::from_encrypted_pem(&pem, EXAMPLE_PASSWORD).expect("decrypt example key")
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
        let key = private(key);
        sign_image(
            &stores,
            &image,
            &SignOptions {
                key: &key,
                annotations: &annotations,
                recursive: false,
                identity: Some(IDENTITY),
                format: vouch_sign::SignFormat::SimpleSigning,
                slots: None,
            },
        )
        .await
        .expect("sign");
    }
    image
}

fn filtered(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "[TMP]")
}

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
        bundles: vouch_verify::fetch::BundleSource::Referrers,
    };
    let report = verify_with_policy(&stores, &image, &run).await;
    let json = serde_json::to_string_pretty(&report).expect("json");
    insta::assert_snapshot!(filtered(&json, dir.path()));
}

#[tokio::test]
async fn key_verify_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = signed_layout(dir.path(), &[("security-team.key", &[("env", "prod")])]).await;
    let key = keys::load_public_key(&example("security-team.pub")).expect("pub");
    let wrong = keys::load_public_key(&example("release-ci.pub")).expect("pub");
    let stores = Stores::new(&StoreOptions::default()).expect("stores");
    let mut out = String::new();
    for (label, public) in [("right key", key), ("wrong key", wrong)] {
        let trusted = [TrustedKey {
            key_id: public.key_id(),
            key: public,
            source: "example.pub".into(),
        }];
        let requirement = KeyRequirement::default();
        let report = verify_image(
            &stores,
            &image,
            &Expectations {
                keys: &trusted,
                requirement: &requirement,
                identity: Some(IDENTITY),
                cache: None,
                bundles: vouch_verify::fetch::BundleSource::Referrers,
                keyless: &[],
                root: vouch_sigstore::production_root(),
                unlogged_at: None,
            },
        )
        .await;
        out.push_str(&format!(
            "## {label}\n{}\n",
            serde_json::to_string_pretty(&report).expect("json")
        ));
    }
    insta::assert_snapshot!(filtered(&out, dir.path()));
}
