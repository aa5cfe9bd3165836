//! Dockerfiles: extraction never panics, spans stay inside the input, and pinning every
//! reference (FROM words, ARG defaults, --from values) reads back pinned.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/deploy.rs"]
mod deploy;

use vouch_deploy::Options;

fuzz_target!(|data: &[u8]| {
    let options = Options {
        build_args: [("TAG".to_string(), "1.0".to_string())].into(),
        ..Options::default()
    };
    deploy::check("Dockerfile", data, &options);
});
