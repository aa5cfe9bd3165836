//! Private key import. The first byte picks the layer:
//!
//! - 0: the input is the JSON body of an encrypted key (scrypt parameters, salt, nonce,
//!   ciphertext); the target wraps it in PEM under one of the two accepted labels and loads it
//!   with a fixed password;
//! - 1: the input is PEM text, loaded as an unencrypted import and as a signing key with an
//!   empty password;
//! - 2: the input is DER, parsed as PKCS#8, SEC1 and PKCS#1.
//!
//! scrypt with the parameters real keys use (N = 2^16) takes a large fraction of a second, and
//! what follows it is a MAC check that no mutated input passes, so inputs whose KDF would cost
//! more than `MAX_FUZZ_WORK` are skipped before vouch sees them. The parameter checks, the
//! base64 and JSON layers, and decryption with cheap parameters are still fuzzed; the parameter
//! limits themselves are covered by unit tests in `crates/vouch-keys/src/encrypted.rs`.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use vouch_keys::PrivateKey;

const PASSWORD: &[u8] = b"fuzz";
/// scrypt work N·r·p allowed per input: 2^10·8 is about 1 MiB and a millisecond.
const MAX_FUZZ_WORK: u64 = 1 << 13;
const LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => envelope(rest, LABELS[usize::from(selector / 3 % 2)]),
        1 => pem_text(rest),
        _ => der(rest),
    }
});

fn envelope(json: &[u8], label: &str) {
    if kdf_too_costly(json) {
        return;
    }
    let pem = pem_block(label, json);
    if let Ok(key) = PrivateKey::from_encrypted_pem(&pem, PASSWORD) {
        check_key(&key);
    }
}

fn pem_text(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(key) = PrivateKey::from_unencrypted_pem(text) {
        check_key(&key);
    }
    // Both encrypted labels contain this word; those inputs go through `envelope` instead.
    if !text.contains("ENCRYPTED")
        && let Ok(key) = PrivateKey::from_encrypted_pem(text, b"")
    {
        check_key(&key);
    }
}

fn der(bytes: &[u8]) {
    for key in [
        PrivateKey::from_pkcs8_der(bytes),
        PrivateKey::from_sec1_der(bytes),
        PrivateKey::from_pkcs1_der(bytes),
    ]
    .into_iter()
    .flatten()
    {
        check_key(&key);
    }
}

/// A key that loads re-encodes to PKCS#8 that loads as the same key (what `keygen --force`
/// style re-encryption relies on), and its public half is well formed.
fn check_key(key: &PrivateKey) {
    let public = key.public_key();
    assert_eq!(public.key_id().len(), 64);
    let der = key.to_pkcs8_der();
    let again = PrivateKey::from_pkcs8_der(&der).expect("vouch's own PKCS#8 loads");
    assert_eq!(again.public_key(), public);
    let _ = key.algorithm_name();
}

/// True when the body parses as JSON whose scrypt parameters would pass vouch's bounds yet
/// cost more than `MAX_FUZZ_WORK`. Anything else is cheap for vouch to refuse or decrypt.
fn kdf_too_costly(json: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return false;
    };
    let param = |name: &str| value.pointer(&format!("/kdf/params/{name}"))?.as_u64();
    let (Some(n), Some(r), Some(p)) = (param("N"), param("r"), param("p")) else {
        return false;
    };
    n.saturating_mul(r).saturating_mul(p) > MAX_FUZZ_WORK
}

fn pem_block(label: &str, body: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.chunks(48) {
        let _ = writeln!(out, "{}", STANDARD.encode(chunk));
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}
