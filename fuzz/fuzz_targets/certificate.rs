//! X.509 certificates (Fulcio leaves, trusted-root chains, timestamp authorities): parsing,
//! the identities and SCT list vouch reads, and path validation against the production root.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use vouch_sigstore::PRODUCTION_TRUSTED_ROOT;
use vouch_sigstore::{TrustedRoot, fuzz_certificate, fuzz_certificate_pem};

fn root() -> &'static TrustedRoot {
    static ROOT: OnceLock<TrustedRoot> = OnceLock::new();
    ROOT.get_or_init(|| {
        TrustedRoot::from_json(PRODUCTION_TRUSTED_ROOT.as_bytes()).expect("built-in root")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(reading) = fuzz_certificate(data, root()) else {
        return;
    };
    // Oracle: the same certificate as PEM reads the same.
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    let from_pem = fuzz_certificate_pem(&pem, root()).expect("its PEM form parses");
    assert_eq!(from_pem, vec![reading]);
});
