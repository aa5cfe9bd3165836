//! The sigstore/cosign encrypted private key body: scrypt-derived key + NaCl secretbox over
//! PKCS#8 DER, serialized as JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::KeyError;

/// PEM label we write (cosign ≥ 1.x and sigstore-rs write this one).
pub(crate) const SIGSTORE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// Older cosign label, still accepted on import.
pub(crate) const COSIGN_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

const KDF_NAME: &str = "scrypt";
const CIPHER_NAME: &str = "nacl/secretbox";
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Parameters cosign writes (N = 2^16).
pub(crate) const WRITE_LOG_N: u8 = 16;
const WRITE_R: u32 = 8;
const WRITE_P: u32 = 1;

/// Upper bounds for parameters read from a file, so a hostile key cannot make us burn
/// gigabytes or minutes: N ≤ 2^20, and total work N·r·p ≤ 2^20·8 (about 1 GiB of memory).
const MAX_LOG_N: u32 = 20;
const MAX_R_TIMES_P: u64 = 64;
const MAX_WORK: u64 = (1 << MAX_LOG_N) * 8;
/// No real key is anywhere near this; it bounds allocation on garbage input.
const MAX_CIPHERTEXT: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u64,
    p: u64,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn unsupported(msg: impl Into<String>) -> KeyError {
    KeyError::UnsupportedEncryption(msg.into())
}

fn malformed(msg: impl Into<String>) -> KeyError {
    KeyError::Malformed {
        what: "encrypted private key",
        reason: msg.into(),
    }
}

/// Validate scrypt parameters from a file and convert them for the `scrypt` crate.
fn checked_params(p: &ScryptParams) -> Result<scrypt::Params, KeyError> {
    if p.n < 2 || !p.n.is_power_of_two() {
        return Err(unsupported(format!(
            "scrypt N must be a power of two ≥ 2, got {}",
            p.n
        )));
    }
    let log_n = p.n.trailing_zeros();
    if log_n > MAX_LOG_N {
        return Err(unsupported(format!(
            "scrypt N = {} is above the limit of 2^{MAX_LOG_N}",
            p.n
        )));
    }
    if p.r == 0 || p.p == 0 {
        return Err(unsupported("scrypt r and p must be at least 1"));
    }
    let rp = p.r.saturating_mul(p.p);
    if rp > MAX_R_TIMES_P {
        return Err(unsupported(format!(
            "scrypt r*p = {rp} is too large (limit {MAX_R_TIMES_P})"
        )));
    }
    let work = p.n.saturating_mul(rp);
    if work > MAX_WORK {
        return Err(unsupported(format!(
            "scrypt cost N*r*p = {work} is too large (limit {MAX_WORK})"
        )));
    }
    // Bounds above make these conversions lossless.
    let (r, pp) = (
        u32::try_from(p.r).map_err(|_| unsupported("scrypt r out of range"))?,
        u32::try_from(p.p).map_err(|_| unsupported("scrypt p out of range"))?,
    );
    let log_n = u8::try_from(log_n).map_err(|_| unsupported("scrypt N out of range"))?;
    scrypt::Params::new(log_n, r, pp)
        .map_err(|_| unsupported(format!("invalid scrypt parameters N={} r={r} p={pp}", p.n)))
}

fn derive_key(
    password: &[u8],
    salt: &[u8],
    params: &scrypt::Params,
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, params, key.as_mut_slice())
        .map_err(|_| unsupported("scrypt rejected the output length"))?;
    Ok(key)
}

fn decode_field(name: &str, b64: &str, expected_len: Option<usize>) -> Result<Vec<u8>, KeyError> {
    let bytes = STANDARD
        .decode(b64)
        .map_err(|e| malformed(format!("{name} is not valid base64: {e}")))?;
    match expected_len {
        Some(len) if bytes.len() != len => Err(unsupported(format!(
            "{name} must be {len} bytes, got {}",
            bytes.len()
        ))),
        _ => Ok(bytes),
    }
}

/// Decrypt the JSON body of an encrypted key, returning the inner PKCS#8 DER.
pub(crate) fn decrypt(json: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let env: Envelope = serde_json::from_slice(json)
        .map_err(|e| malformed(format!("body is not the expected JSON: {e}")))?;
    if env.kdf.name != KDF_NAME {
        return Err(unsupported(format!(
            "key derivation \"{}\" (only scrypt is supported)",
            env.kdf.name
        )));
    }
    if env.cipher.name != CIPHER_NAME {
        return Err(unsupported(format!(
            "cipher \"{}\" (only nacl/secretbox is supported)",
            env.cipher.name
        )));
    }
    // Validate everything cheap before running the expensive KDF.
    let params = checked_params(&env.kdf.params)?;
    let salt = decode_field("salt", &env.kdf.salt, Some(SALT_LEN))?;
    let nonce = decode_field("nonce", &env.cipher.nonce, Some(NONCE_LEN))?;
    if env.ciphertext.len() > MAX_CIPHERTEXT * 4 / 3 + 4 {
        return Err(malformed("ciphertext is implausibly large"));
    }
    let mut buf = Zeroizing::new(decode_field("ciphertext", &env.ciphertext, None)?);
    if buf.len() < TAG_LEN {
        return Err(malformed(
            "ciphertext is shorter than the authentication tag",
        ));
    }

    let key = derive_key(password, &salt, &params)?;
    let cipher = XSalsa20Poly1305::new(key.as_slice().into());
    // Decrypting in place only shrinks the buffer, so no plaintext copy is left behind.
    cipher
        .decrypt_in_place(Nonce::from_slice(&nonce), b"", &mut *buf)
        .map_err(|_| KeyError::WrongPassword)?;
    Ok(buf)
}

/// Encrypt PKCS#8 DER into the JSON body, with cosign's default scrypt cost.
pub(crate) fn encrypt(pkcs8_der: &[u8], password: &[u8]) -> Vec<u8> {
    encrypt_with_log_n(pkcs8_der, password, WRITE_LOG_N)
}

/// Encrypt with a chosen N = 2^log_n (tests use a small N to stay fast).
pub(crate) fn encrypt_with_log_n(pkcs8_der: &[u8], password: &[u8], log_n: u8) -> Vec<u8> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    // A machine without a working OS RNG cannot produce a safe key file at all.
    getrandom::fill(&mut salt).expect("OS random number generator failed");
    getrandom::fill(&mut nonce).expect("OS random number generator failed");

    let params =
        scrypt::Params::new(log_n, WRITE_R, WRITE_P).expect("built-in scrypt parameters are valid");
    let key = derive_key(password, &salt, &params).expect("32-byte scrypt output is valid");
    let cipher = XSalsa20Poly1305::new(key.as_slice().into());

    // Reserve room for the tag up front so the plaintext is never reallocated (and left unzeroed).
    let mut buf = Zeroizing::new(Vec::with_capacity(pkcs8_der.len() + TAG_LEN));
    buf.extend_from_slice(pkcs8_der);
    cipher
        .encrypt_in_place(Nonce::from_slice(&nonce), b"", &mut *buf)
        .expect("secretbox encryption of an in-memory buffer cannot fail");

    let env = Envelope {
        kdf: Kdf {
            name: KDF_NAME.into(),
            params: ScryptParams {
                n: 1u64 << log_n,
                r: WRITE_R.into(),
                p: WRITE_P.into(),
            },
            salt: STANDARD.encode(salt),
        },
        cipher: Cipher {
            name: CIPHER_NAME.into(),
            nonce: STANDARD.encode(nonce),
        },
        ciphertext: STANDARD.encode(&*buf),
    };
    serde_json::to_vec(&env).expect("serializing plain structs cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope_json(n: u64, r: u64, p: u64, salt_len: usize, nonce_len: usize) -> Vec<u8> {
        serde_json::json!({
            "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p},
                    "salt": STANDARD.encode(vec![1u8; salt_len])},
            "cipher": {"name": "nacl/secretbox", "nonce": STANDARD.encode(vec![2u8; nonce_len])},
            "ciphertext": STANDARD.encode([3u8; 64]),
        })
        .to_string()
        .into_bytes()
    }

    fn unsupported_msg(json: &[u8]) -> String {
        match decrypt(json, b"pw") {
            Err(e @ KeyError::UnsupportedEncryption(_)) => e.to_string(),
            Err(other) => panic!("expected UnsupportedEncryption, got {other:?}"),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn hostile_kdf_params_are_rejected_before_running_scrypt() {
        assert!(unsupported_msg(&envelope_json(1 << 21, 8, 1, 32, 24)).contains("2^20"));
        assert!(unsupported_msg(&envelope_json(1 << 40, 8, 1, 32, 24)).contains("2^20"));
        assert!(unsupported_msg(&envelope_json(1000, 8, 1, 32, 24)).contains("power of two"));
        assert!(unsupported_msg(&envelope_json(0, 8, 1, 32, 24)).contains("power of two"));
        assert!(unsupported_msg(&envelope_json(1024, 8, 100, 32, 24)).contains("r*p"));
        assert!(unsupported_msg(&envelope_json(1024, u64::MAX, 2, 32, 24)).contains("r*p"));
        assert!(unsupported_msg(&envelope_json(1 << 20, 16, 1, 32, 24)).contains("N*r*p"));
        assert!(unsupported_msg(&envelope_json(1024, 0, 1, 32, 24)).contains("at least 1"));
        assert!(unsupported_msg(&envelope_json(1024, 8, 1, 16, 24)).contains("salt must be 32"));
        assert!(unsupported_msg(&envelope_json(1024, 8, 1, 32, 12)).contains("nonce must be 24"));
    }

    #[test]
    fn unknown_kdf_or_cipher_rejected() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&envelope_json(1024, 8, 1, 32, 24)).expect("json");
        v["kdf"]["name"] = "argon2id".into();
        assert!(unsupported_msg(v.to_string().as_bytes()).contains("argon2id"));
        let mut v: serde_json::Value =
            serde_json::from_slice(&envelope_json(1024, 8, 1, 32, 24)).expect("json");
        v["cipher"]["name"] = "aes-gcm".into();
        assert!(unsupported_msg(v.to_string().as_bytes()).contains("aes-gcm"));
        assert!(matches!(
            decrypt(b"{not json", b""),
            Err(KeyError::Malformed { .. })
        ));
    }

    #[test]
    fn small_n_roundtrip_and_wrong_password() {
        let secret = b"not really pkcs8 but any bytes will do";
        let json = encrypt_with_log_n(secret, b"correct horse", 10);
        let plain = decrypt(&json, b"correct horse").expect("decrypts");
        assert_eq!(&plain[..], &secret[..]);
        assert!(matches!(
            decrypt(&json, b"battery staple"),
            Err(KeyError::WrongPassword)
        ));
        let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(v["kdf"]["params"]["N"], 1024);
        assert_eq!(v["kdf"]["params"]["r"], 8);
        assert_eq!(v["kdf"]["params"]["p"], 1);
    }

    // End-to-end through `PrivateKey`, with keys written by cosign and sigstore-rs.
    mod vectors {
        use super::super::super::test_vectors;
        use super::super::super::{Algorithm, KeyError, PrivateKey, PublicKey};
        use super::*;

        const SIGSTORE_RS: &str = "sigstore-rs/tests/data/keys";
        const COSIGN_KEYS: &str = "cosign/extracted/pkg/cosign/keys_test";

        fn load(rel: &str, password: &[u8]) -> Result<PrivateKey, KeyError> {
            PrivateKey::from_encrypted_pem(&test_vectors::text(rel), password)
        }

        fn assert_signs(key: &PrivateKey, public: &PublicKey) {
            let msg = b"{\"critical\":{}}";
            public
                .verify(msg, &key.sign(msg))
                .expect("signature verifies");
        }

        #[test]
        fn sigstore_rs_encrypted_keys_load_with_password_123() {
            for (name, alg) in [
                ("ecdsa", "ecdsa-p256"),
                ("ed25519", "ed25519"),
                ("rsa", "rsa-4096"),
            ] {
                let rel = format!("{SIGSTORE_RS}/{name}_encrypted_private.key");
                let key = load(&rel, b"123").unwrap_or_else(|e| panic!("{rel}: {e}"));
                assert_eq!(key.algorithm_name(), alg, "{rel}");
                assert_signs(&key, &key.public_key());
                // The same public key after a PEM round trip, as a verifier would load it.
                let reloaded = PublicKey::from_pem(&key.public_key().to_pem()).expect("pub pem");
                assert_signs(&key, &reloaded);

                assert!(
                    matches!(load(&rel, b"1234"), Err(KeyError::WrongPassword)),
                    "{rel} with the wrong password"
                );
            }
        }

        #[test]
        fn cosign_generated_key_with_empty_password() {
            let key = load(
                &format!("{SIGSTORE_RS}/cosign_generated_encrypted_empty_private.key"),
                b"",
            )
            .expect("empty password");
            assert_signs(&key, &key.public_key());
        }

        #[test]
        fn unencrypted_pkcs8_only_with_empty_password() {
            let rel = format!("{SIGSTORE_RS}/ecdsa_private.key");
            let key = load(&rel, b"").expect("empty password accepted");
            assert_eq!(key.algorithm_name(), "ecdsa-p256");
            // PKCS#8 v2 (seed plus embedded public key), as written by sigstore-rs.
            let ed = load(&format!("{SIGSTORE_RS}/ed25519_private.key"), b"").expect("ed25519 v2");
            assert_signs(&ed, &ed.public_key());
            let err = load(&rel, b"123").expect_err("password rejected");
            assert!(matches!(err, KeyError::UnencryptedWithPassword));
            assert_eq!(
                err.to_string(),
                "unencrypted private key but a password was given"
            );
            // Other unencrypted encodings are for import, not for signing keys.
            let err =
                load(&format!("{SIGSTORE_RS}/rsa_private.key"), b"").expect_err("PKCS#1 rejected");
            assert!(matches!(err, KeyError::UnexpectedPemLabel { .. }), "{err}");
        }

        #[test]
        fn cosign_keys_test_vectors() {
            // The vectors README calls this one RSA, but its 154-byte ciphertext (138 + 16-byte
            // tag) is a P-256 PKCS#8 key, which is what it decrypts to.
            let cosign =
                load(&format!("{COSIGN_KEYS}/pemcosignkey.pem"), b"hello").expect("COSIGN label");
            assert_eq!(cosign.algorithm_name(), "ecdsa-p256");
            assert_signs(&cosign, &cosign.public_key());
            let sigstore = load(&format!("{COSIGN_KEYS}/pemsigstorekey.pem"), b"hello")
                .expect("SIGSTORE label");
            assert_signs(&sigstore, &sigstore.public_key());

            // Decrypts, but the payload is a SEC1 key rather than PKCS#8.
            let err = load(&format!("{COSIGN_KEYS}/pemcosigneckey.pem"), b"hello")
                .expect_err("SEC1 inside is rejected");
            assert!(matches!(err, KeyError::Malformed { .. }), "{err}");
            assert!(err.to_string().contains("PKCS#8"), "{err}");
        }

        #[test]
        fn sigstore_rs_import_example_loads_with_its_password() {
            // The example's files are independent keys (their public halves differ), so the
            // encrypted one is only checked against itself.
            let dir = "sigstore-rs/examples/key_interface/key_pair_import";
            let rel = format!("{dir}/ECDSA_P256_ASN1_ENCRYPTED_PRIVATE_PEM.key");
            let key = load(&rel, b"password").expect("loads");
            assert_signs(&key, &key.public_key());
            assert!(matches!(load(&rel, b"hello"), Err(KeyError::WrongPassword)));
        }

        #[test]
        fn generated_keys_roundtrip_through_encrypted_pem() {
            for alg in Algorithm::ALL {
                let key = PrivateKey::generate(alg);
                let pem = key.to_encrypted_pem(b"s3cret");
                assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
                assert!(pem.ends_with("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));

                let body = crate::pem::decode_first(&pem).expect("pem");
                let v: serde_json::Value = serde_json::from_slice(&body.der).expect("json");
                assert_eq!(v["kdf"]["name"], "scrypt");
                assert_eq!(
                    v["kdf"]["params"],
                    serde_json::json!({"N": 65536, "r": 8, "p": 1})
                );
                assert_eq!(v["cipher"]["name"], "nacl/secretbox");
                let b64_len = |x: &serde_json::Value| {
                    STANDARD
                        .decode(x.as_str().expect("string"))
                        .expect("base64")
                        .len()
                };
                assert_eq!(b64_len(&v["kdf"]["salt"]), 32);
                assert_eq!(b64_len(&v["cipher"]["nonce"]), 24);

                let loaded = PrivateKey::from_encrypted_pem(&pem, b"s3cret").expect("decrypts");
                assert_eq!(loaded.public_key(), key.public_key());
                assert_signs(&loaded, &key.public_key());
                assert!(matches!(
                    PrivateKey::from_encrypted_pem(&pem, b"s3cret!"),
                    Err(KeyError::WrongPassword)
                ));
            }
        }
    }
}
