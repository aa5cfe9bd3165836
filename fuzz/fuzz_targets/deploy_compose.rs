//! Compose files with interpolation: the first line of the input is a `.env` file (with
//! `\\n` for newlines), the rest the Compose file. Extraction never panics, spans stay inside
//! the input, and pinning every reference reads back pinned.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/deploy.rs"]
mod deploy;

use vouch_deploy::Options;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(0);
    let (dotenv, compose) = data.split_at(split);
    let Ok(dotenv) = std::str::from_utf8(dotenv) else {
        return;
    };
    let options = Options {
        dotenv: Some(dotenv.replace("\\n", "\n")),
        env: [("HOST".to_string(), "registry.example.com".to_string())].into(),
        ..Options::default()
    };
    deploy::check("compose.yaml", compose, &options);
});
