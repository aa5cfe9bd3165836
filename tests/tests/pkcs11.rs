//! Token keys through `vouch-pkcs11`, against SoftHSM2 tokens made by `softhsm2-util` with keys
//! made by OpenSC's `pkcs11-tool`: signatures checked by the curve crates, openssl, vouch's own
//! verifier and cosign 2.5; exported public keys checked against pkcs11-tool's export; and the
//! typed errors for a wrong PIN, a missing token, object or module, none showing the PIN.
//!
//! Each test that loads SoftHSM2 runs in a child process of its own (`in_token_process`).

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use vouch_e2e::peers::peers;
use vouch_e2e::softhsm::{SoftHsm, USER_PIN, in_token_process, module};
use vouch_pkcs11::{
    KeyAlgorithm, OpenOptions, Pin, Pkcs11Error, Pkcs11Signer, Pkcs11Uri, load_public_key,
};

fn open(uri: &str) -> Result<Pkcs11Signer, Pkcs11Error> {
    Pkcs11Signer::open(
        &Pkcs11Uri::parse(uri).expect("URI parses"),
        &OpenOptions::default(),
    )
}

/// Every error message must leave the PIN out, whichever PIN was tried.
fn assert_no_pin(err: &Pkcs11Error, pins: &[&str]) {
    let shown = format!("{err} {err:?}");
    for pin in pins {
        assert!(!shown.contains(pin), "PIN in the error: {shown}");
    }
}

/// The simple-signing payload cosign and vouch sign for an image.
fn cosign_payload() -> Vec<u8> {
    br#"{"critical":{"identity":{"docker-reference":"registry.example.com/app"},"image":{"docker-manifest-digest":"sha256:0c5e0b5e0c6f0a1d1f9b9ed7d8c3b3f6b6c2b8f7b5c84a8e6a0a3e7d1b2c3d4e"},"type":"cosign container image signature"},"optional":null}"#.to_vec()
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// What pkcs11-tool exports for the public key with `id_hex`, as DER SPKI.
fn exported_by_pkcs11_tool(hsm: &SoftHsm, token: &str, id_hex: &str) -> Vec<u8> {
    let out = hsm.dir().join(format!("pub-{id_hex}.der"));
    hsm.pkcs11_tool(
        token,
        &[
            "--read-object",
            "--type",
            "pubkey",
            "--id",
            id_hex,
            "-o",
            out.to_str().expect("UTF-8 path"),
        ],
    );
    std::fs::read(out).expect("pkcs11-tool's export")
}

fn cosign_verify_blob(dir: &Path, pem: &str, payload: &[u8], signature: &[u8]) -> Command {
    std::fs::write(dir.join("token.pub"), pem).expect("write pub");
    std::fs::write(dir.join("payload.json"), payload).expect("write payload");
    std::fs::write(
        dir.join("payload.sig"),
        base64::engine::general_purpose::STANDARD.encode(signature),
    )
    .expect("write sig");
    let home = dir.join("cosign-home");
    std::fs::create_dir_all(&home).expect("cosign home");
    let mut cmd = peers().cosign(&home);
    cmd.arg("verify-blob")
        .arg("--key")
        .arg(dir.join("token.pub"))
        .arg("--signature")
        .arg(dir.join("payload.sig"))
        .arg("--insecure-ignore-tlog=true")
        .arg(dir.join("payload.json"));
    cmd
}

#[test]
fn p256_token_key_signs_what_openssl_vouch_and_cosign_verify() {
    in_token_process(
        "p256_token_key_signs_what_openssl_vouch_and_cosign_verify",
        |hsm| {
            hsm.init_token("ci");
            hsm.keygen("ci", "EC:prime256v1", "release", "01");
        },
        |hsm| {
            let signer = open(&hsm.uri("ci", "release")).expect("opens");
            assert_eq!(signer.algorithm(), KeyAlgorithm::EcdsaP256);
            let spki = signer.public_key_spki_der();
            assert_eq!(spki, exported_by_pkcs11_tool(hsm, "ci", "01"));

            // vouch's own key code reads the exported key with the same key id.
            let public = vouch_keys::PublicKey::from_pem(&signer.public_key_pem()).expect("pem");
            assert_eq!(public.key_id(), signer.key_id());
            assert_eq!(public.algorithm_name(), "ecdsa-p256");

            let payload = cosign_payload();
            let signature = signer.sign(&payload).expect("signs");
            // DER, as cosign writes it (a SEQUENCE), verified by vouch, p256 and openssl.
            assert_eq!(signature[0], 0x30, "a DER SEQUENCE");
            public.verify(&payload, &signature).expect("vouch verifies");
            let verifying =
                <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_der(
                    &spki,
                )
                .expect("p256 key");
            let parsed = p256::ecdsa::DerSignature::try_from(signature.as_slice()).expect("DER");
            p256::ecdsa::signature::Verifier::verify(&verifying, &payload, &parsed)
                .expect("p256 verifies");
            assert!(public.verify(b"another payload", &signature).is_err());

            let dir = hsm.dir();
            std::fs::write(dir.join("openssl.pub"), signer.public_key_pem()).expect("pub");
            std::fs::write(dir.join("sig.der"), &signature).expect("sig");
            std::fs::write(dir.join("payload"), &payload).expect("payload");
            let verified = run_ok(
                Command::new("openssl")
                    .args(["dgst", "-sha256", "-verify"])
                    .arg(dir.join("openssl.pub"))
                    .arg("-signature")
                    .arg(dir.join("sig.der"))
                    .arg(dir.join("payload")),
            );
            assert!(verified.contains("Verified OK"), "{verified}");

            // cosign verifies the token's signature over a simple-signing payload.
            let out = run_ok(&mut cosign_verify_blob(
                dir,
                &signer.public_key_pem(),
                &payload,
                &signature,
            ));
            assert!(out.contains("Verified OK"), "{out}");
            // ... and refuses it over other bytes (the check can fail).
            let mut tampered = payload.clone();
            tampered[20] ^= 1;
            let refused = cosign_verify_blob(dir, &signer.public_key_pem(), &tampered, &signature)
                .output()
                .expect("cosign");
            assert!(
                !refused.status.success(),
                "cosign accepted a tampered payload"
            );
        },
    );
}

#[test]
fn ed25519_token_key_signs_with_ckm_eddsa() {
    in_token_process(
        "ed25519_token_key_signs_with_ckm_eddsa",
        |hsm| {
            hsm.init_token("ci");
            hsm.keygen("ci", "EC:edwards25519", "ed", "02");
        },
        |hsm| {
            let signer = open(&hsm.uri("ci", "ed")).expect("opens");
            assert_eq!(signer.algorithm(), KeyAlgorithm::Ed25519);
            let public = vouch_keys::PublicKey::from_pem(&signer.public_key_pem()).expect("pem");
            assert_eq!(public.algorithm_name(), "ed25519");
            assert_eq!(public.key_id(), signer.key_id());
            // pkcs11-tool exports Edwards keys as PEM.
            let spki = signer.public_key_spki_der();
            let exported = exported_by_pkcs11_tool(hsm, "ci", "02");
            let exported = vouch_keys::PublicKey::from_pem_or_der(&exported).expect("export");
            assert_eq!(exported.spki_der(), spki);

            let payload = cosign_payload();
            let signature = signer.sign(&payload).expect("signs");
            assert_eq!(signature.len(), 64);
            public.verify(&payload, &signature).expect("vouch verifies");
            let key = <ed25519_dalek::VerifyingKey as ed25519_dalek::pkcs8::DecodePublicKey>::from_public_key_der(&spki)
                .expect("ed25519 key");
            let parsed = ed25519_dalek::Signature::from_slice(&signature).expect("signature");
            key.verify_strict(&payload, &parsed)
                .expect("dalek verifies");

            let dir = hsm.dir();
            std::fs::write(dir.join("ed.pub"), signer.public_key_pem()).expect("pub");
            std::fs::write(dir.join("ed.sig"), &signature).expect("sig");
            std::fs::write(dir.join("payload"), &payload).expect("payload");
            let verified = run_ok(
                Command::new("openssl")
                    .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
                    .arg(dir.join("ed.pub"))
                    .arg("-sigfile")
                    .arg(dir.join("ed.sig"))
                    .arg("-in")
                    .arg(dir.join("payload")),
            );
            assert!(
                verified.contains("Signature Verified Successfully"),
                "{verified}"
            );

            let out = run_ok(&mut cosign_verify_blob(
                dir,
                &signer.public_key_pem(),
                &payload,
                &signature,
            ));
            assert!(out.contains("Verified OK"), "{out}");
        },
    );
}

#[test]
fn public_key_of_an_imported_key_and_from_a_certificate() {
    in_token_process(
        "public_key_of_an_imported_key_and_from_a_certificate",
        |hsm| {
            hsm.init_token("ci");
            let dir = hsm.dir();
            let key = dir.join("soft.pem");
            run_ok(
                Command::new("openssl")
                    .args([
                        "genpkey",
                        "-algorithm",
                        "EC",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-out",
                    ])
                    .arg(&key),
            );
            run_ok(
                Command::new("openssl")
                    .args(["pkey", "-pubout", "-outform", "DER", "-in"])
                    .arg(&key)
                    .arg("-out")
                    .arg(dir.join("soft.pub.der")),
            );
            run_ok(
                Command::new("openssl")
                    .args([
                        "req",
                        "-new",
                        "-x509",
                        "-subj",
                        "/CN=vouch test",
                        "-days",
                        "1",
                        "-outform",
                        "DER",
                        "-key",
                    ])
                    .arg(&key)
                    .arg("-out")
                    .arg(dir.join("soft.crt.der")),
            );
            hsm.import("ci", &key, "imported", "0a");
            // Only the certificate is left to give the public key.
            hsm.pkcs11_tool("ci", &["--delete-object", "--type", "pubkey", "--id", "0a"]);
            let cert = dir.join("soft.crt.der");
            hsm.pkcs11_tool(
                "ci",
                &[
                    "--write-object",
                    cert.to_str().expect("UTF-8"),
                    "--type",
                    "cert",
                    "--id",
                    "0a",
                    "--label",
                    "imported",
                ],
            );
        },
        |hsm| {
            let expected = std::fs::read(hsm.dir().join("soft.pub.der")).expect("openssl's SPKI");
            let signer = open(&hsm.uri("ci", "imported")).expect("opens");
            assert_eq!(signer.public_key_spki_der(), expected);
            assert_eq!(signer.key_id(), vouch_pkcs11::key_id(&expected));
            let signature = signer.sign(b"payload").expect("signs");
            vouch_keys::PublicKey::from_der(&expected)
                .expect("key")
                .verify(b"payload", &signature)
                .expect("verifies under openssl's key");
        },
    );
}

#[test]
fn public_half_loads_without_a_pin_and_by_id() {
    in_token_process(
        "public_half_loads_without_a_pin_and_by_id",
        |hsm| {
            hsm.init_token("ci");
            hsm.keygen("ci", "EC:prime256v1", "release", "01");
            hsm.keygen("ci", "EC:prime256v1", "other", "02");
        },
        |hsm| {
            let module = module();
            let no_pin = format!("pkcs11:token=ci;id=%01?module-path={}", module.display());
            let uri = Pkcs11Uri::parse(&no_pin).expect("parses");
            let public = load_public_key(&uri, &OpenOptions::default()).expect("public half");
            let signer = open(&hsm.uri("ci", "release")).expect("opens");
            assert_eq!(public.spki_der(), signer.public_key_spki_der());
            let other = open(&hsm.uri("ci", "other")).expect("opens");
            assert_ne!(other.key_id(), signer.key_id());
            // The private key needs the PIN: none given is a clear error.
            let err = Pkcs11Signer::open(&uri, &OpenOptions::default()).expect_err("no PIN");
            assert!(matches!(err, Pkcs11Error::PinRequired { .. }), "{err:?}");
            assert!(err.to_string().contains("pin-source"), "{err}");
            // ... which the caller may supply instead of the URI.
            let options = OpenOptions {
                pin: Some(Pin::new(USER_PIN)),
                ..OpenOptions::default()
            };
            let by_id = Pkcs11Signer::open(&uri, &options).expect("opens with the caller's PIN");
            assert_eq!(by_id.key_id(), signer.key_id());
            // So may the module path.
            let bare = Pkcs11Uri::parse("pkcs11:token=ci;object=release").expect("parses");
            let err = Pkcs11Signer::open(&bare, &options).expect_err("no module");
            assert!(matches!(err, Pkcs11Error::ModuleNotGiven), "{err:?}");
            let options = OpenOptions {
                module_path: Some(module),
                ..options
            };
            let signer2 = Pkcs11Signer::open(&bare, &options).expect("module from options");
            assert_eq!(signer2.key_id(), signer.key_id());
        },
    );
}

#[test]
fn wrong_pin_is_a_typed_error_that_never_shows_the_pin() {
    in_token_process(
        "wrong_pin_is_a_typed_error_that_never_shows_the_pin",
        |hsm| {
            hsm.init_token("ci");
            hsm.keygen("ci", "EC:prime256v1", "release", "01");
        },
        |hsm| {
            let module = module();
            let wrong = "Xw9wrong";
            let by_value = format!(
                "pkcs11:token=ci;object=release?module-path={}&pin-value={wrong}",
                module.display()
            );
            let err = open(&by_value).expect_err("wrong PIN");
            assert!(matches!(err, Pkcs11Error::WrongPin { .. }), "{err:?}");
            assert!(err.to_string().contains("wrong PIN"), "{err}");
            assert_no_pin(&err, &[wrong, USER_PIN]);

            let pin_file = hsm.dir().join("wrong-pin");
            std::fs::write(&pin_file, format!("{wrong}\n")).expect("write");
            let by_file = format!(
                "pkcs11:token=ci;object=release?module-path={}&pin-source={}",
                module.display(),
                pin_file.display()
            );
            let err = open(&by_file).expect_err("wrong PIN");
            assert!(matches!(err, Pkcs11Error::WrongPin { .. }), "{err:?}");
            assert_no_pin(&err, &[wrong, USER_PIN]);

            let missing = format!(
                "pkcs11:token=ci;object=release?module-path={}&pin-source={}",
                module.display(),
                hsm.dir().join("no-such-file").display()
            );
            let err = open(&missing).expect_err("no PIN file");
            assert!(matches!(err, Pkcs11Error::PinSource { .. }), "{err:?}");

            // The right PIN in the URI works, and the signer's Debug shows no PIN either.
            let by_value = format!(
                "pkcs11:token=ci;object=release?module-path={}&pin-value={USER_PIN}",
                module.display()
            );
            let signer = open(&by_value).expect("right PIN");
            assert!(!format!("{signer:?}").contains(USER_PIN));
        },
    );
}

#[test]
fn missing_token_or_object_names_what_is_there() {
    in_token_process(
        "missing_token_or_object_names_what_is_there",
        |hsm| {
            hsm.init_token("ci");
            // Not "ci-…": pkcs11-tool's --token-label matches a prefix.
            hsm.init_token("other");
            hsm.keygen("ci", "EC:prime256v1", "release", "01");
            hsm.keygen("ci", "EC:prime256v1", "dup", "03");
            hsm.keygen("ci", "EC:prime256v1", "dup", "04");
        },
        |hsm| {
            let err = open(&hsm.uri("nope", "release")).expect_err("no token");
            let Pkcs11Error::TokenNotFound { available, .. } = &err else {
                panic!("{err:?}");
            };
            assert_eq!(available.len(), 2, "{available:?}");
            assert!(err.to_string().contains("\"ci\""), "{err}");
            assert_no_pin(&err, &[USER_PIN]);

            let err = open(&hsm.uri("ci", "missing")).expect_err("no object");
            let Pkcs11Error::KeyNotFound { available, .. } = &err else {
                panic!("{err:?}");
            };
            assert!(
                available.iter().any(|k| k.contains("\"release\"")),
                "{available:?}"
            );
            assert!(err.to_string().contains("\"missing\""), "{err}");
            assert_no_pin(&err, &[USER_PIN]);

            // Two keys labelled alike: refused, never a guess; the id picks one.
            let err = open(&hsm.uri("ci", "dup")).expect_err("ambiguous");
            assert!(matches!(err, Pkcs11Error::AmbiguousKey { .. }), "{err:?}");
            let uri = format!(
                "pkcs11:token=ci;object=dup;id=%04?module-path={}&pin-source={}",
                module().display(),
                hsm.pin_file().display()
            );
            open(&uri).expect("the id picks one");

            // slot-id and token must both match (cosign would use slot-id alone).
            let wrong_slot = format!(
                "pkcs11:token=ci;slot-id=1;object=release?module-path={}&pin-source={}",
                module().display(),
                hsm.pin_file().display()
            );
            let err = open(&wrong_slot).expect_err("slot mismatch");
            assert!(matches!(err, Pkcs11Error::TokenNotFound { .. }), "{err:?}");
        },
    );
}

#[test]
fn one_signer_serves_threads_one_signature_at_a_time() {
    in_token_process(
        "one_signer_serves_threads_one_signature_at_a_time",
        |hsm| {
            hsm.init_token("ci");
            hsm.keygen("ci", "EC:prime256v1", "release", "01");
        },
        |hsm| {
            let signer = open(&hsm.uri("ci", "release")).expect("opens");
            let public =
                vouch_keys::PublicKey::from_der(&signer.public_key_spki_der()).expect("key");
            std::thread::scope(|scope| {
                for n in 0..4 {
                    let (signer, public) = (&signer, &public);
                    scope.spawn(move || {
                        for i in 0..10 {
                            let message = format!("message {n}.{i}");
                            let signature = signer.sign(message.as_bytes()).expect("signs");
                            public
                                .verify(message.as_bytes(), &signature)
                                .expect("verifies");
                        }
                    });
                }
            });
        },
    );
}

#[test]
fn missing_or_unloadable_module_is_a_typed_error() {
    let uri =
        |path: &str| format!("pkcs11:token=ci;object=k?module-path={path}&pin-value={USER_PIN}");
    let err = open(&uri("/nonexistent/libpkcs11.so")).expect_err("missing");
    assert!(matches!(err, Pkcs11Error::ModuleNotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/libpkcs11.so"),
        "{err}"
    );
    assert_no_pin(&err, &[USER_PIN]);

    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_library = dir.path().join("module.so");
    std::fs::write(&not_a_library, b"not an ELF file").expect("write");
    let err = open(&uri(&not_a_library.to_string_lossy())).expect_err("not a library");
    assert!(matches!(err, Pkcs11Error::ModuleLoad { .. }), "{err:?}");
    assert_no_pin(&err, &[USER_PIN]);

    let err = open(&uri(&dir.path().to_string_lossy())).expect_err("a directory");
    assert!(matches!(err, Pkcs11Error::ModuleLoad { .. }), "{err:?}");

    // A real shared library that is no PKCS#11 module.
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file());
    if let Some(libm) = libm {
        let err = open(&uri(libm)).expect_err("not PKCS#11");
        assert!(matches!(err, Pkcs11Error::ModuleLoad { .. }), "{err:?}");
        assert!(err.to_string().contains("C_GetFunctionList"), "{err}");
    }
}
