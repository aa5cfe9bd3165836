//! Kubernetes manifests (YAML and JSON streams): extraction never panics, spans stay inside
//! the input on character boundaries, and pinning every reference reads back pinned.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/deploy.rs"]
mod deploy;

use vouch_deploy::Options;

fuzz_target!(|data: &[u8]| {
    deploy::check("manifest.yaml", data, &Options::default());
});
