//! Sigstore bundles (`verify-bundle`): the whole offline verification over attacker JSON, with
//! the production trusted root and the conformance suite's artifact, identity and key.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vouch_keys::PublicKey;
use vouch_sigstore::PRODUCTION_TRUSTED_ROOT;
use vouch_sigstore::{Artifact, IdentityPolicy, TrustedRoot, verify_bundle};

const ARTIFACT: &[u8] = include_bytes!("../fixtures/a.txt");
const KEY: &str = include_str!("../fixtures/managed-key.pub");
const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

struct Fixed {
    root: TrustedRoot,
    policies: [IdentityPolicy; 2],
    artifacts: [Artifact; 2],
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let digest = format!("sha256:{}", hex(&sha256(ARTIFACT)));
        Fixed {
            root: TrustedRoot::from_json(PRODUCTION_TRUSTED_ROOT.as_bytes())
                .expect("built-in root"),
            policies: [
                IdentityPolicy::Identity {
                    subject: IDENTITY.to_string(),
                    issuer: ISSUER.to_string(),
                },
                IdentityPolicy::Key(PublicKey::from_pem(KEY).expect("fixture key")),
            ],
            artifacts: [
                Artifact::Bytes(ARTIFACT.to_vec()),
                Artifact::from_sha256_ref(&digest).expect("digest"),
            ],
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixed = fixed();
    for policy in &fixed.policies {
        for artifact in &fixed.artifacts {
            if let Ok(verified) = verify_bundle(data, artifact, policy, &fixed.root) {
                assert!(
                    !verified.verified_times.is_empty(),
                    "verified without a time"
                );
                match policy {
                    IdentityPolicy::Identity { .. } | IdentityPolicy::AnyCertificate => {
                        assert!(verified.identity.is_some())
                    }
                    IdentityPolicy::Key(_) => assert!(verified.key_id.is_some()),
                }
            }
        }
    }
});

fn sha256(data: &[u8]) -> Vec<u8> {
    vouch_sigstore::HashAlgorithm::Sha256.digest(data)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
