//! Public keys (`--key`, policy key files and inline PEM): PEM or DER, any key type. A key that
//! loads must survive a PEM round trip unchanged, and no input is a valid signature under the
//! fixed keys (signature decoding is attacker-controlled too: it comes from the registry).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vouch_keys::PublicKey;

const MESSAGE: &[u8] = b"{\"critical\":{\"type\":\"cosign container image signature\"}}";

fn fixed_keys() -> &'static [PublicKey] {
    static KEYS: OnceLock<Vec<PublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            include_str!("../corpus/public_key/release-ci.pub"),
            include_str!("../corpus/public_key/security-team.pub"),
            include_str!("../corpus/public_key/some-rsa-key.pub"),
            include_str!("../corpus/public_key/validecp384.pub"),
        ]
        .iter()
        .map(|pem| PublicKey::from_pem(pem).expect("fixed fuzz key loads"))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    for key in fixed_keys() {
        assert!(
            key.verify(MESSAGE, data).is_err(),
            "{} accepted a fuzzed signature",
            key.algorithm_name()
        );
    }
    let Ok(key) = PublicKey::from_pem_or_der(data) else {
        return;
    };
    let id = key.key_id();
    assert_eq!(id.len(), 64);
    let pem = key.to_pem();
    let again = PublicKey::from_pem(&pem).expect("a key vouch prints loads again");
    assert_eq!(again, key);
    assert_eq!(again.key_id(), id);
    let from_der = PublicKey::from_der(key.spki_der()).expect("canonical SPKI loads");
    assert_eq!(from_der, key);
    let _ = key.algorithm_name();
    let _ = key.verify(MESSAGE, data);
});
