//! `trusted_root.json` (`verify-bundle --trusted-root`): parsing and validation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_sigstore::TrustedRoot;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = TrustedRoot::from_json(data) {
        let _ = root.counts();
        let _ = root.usable_tlogs();
    }
});
