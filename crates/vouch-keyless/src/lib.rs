//! vouch-keyless: the material of a keyless Sigstore signature, obtained and checked.
//!
//! An OIDC identity token ([`token`]: explicit, GitLab CI's `id_tokens`, GitHub Actions'
//! endpoint) is exchanged at Fulcio ([`fulcio`]) for a short-lived certificate for an
//! ephemeral P-256 key (module `key`); each signature is recorded in Rekor v1 ([`rekor`]) or
//! Rekor v2 (module `rekor_v2`, which then needs a timestamp) and optionally stamped by an
//! RFC 3161 authority (module `tsa`); the services come from a Sigstore signing config
//! ([`signing_config`]); [`assemble`] writes a Sigstore bundle v0.3 or cosign
//! 2.x's `.sig` layer annotations; [`session`] runs it all in order and returns nothing that
//! the caller's offline verifier ([`verifier`]) does not accept. [`transport`] is the HTTP
//! under all of it; [`error`] says what went wrong.
//!
//! ```no_run
//! # async fn run(verifier: std::sync::Arc<dyn vouch_keyless::OfflineVerifier>) -> Result<(), vouch_keyless::KeylessError> {
//! use vouch_keyless::*;
//! let env = |name: &str| std::env::var(name).ok();
//! let transport = TransportOptions::default();
//! let token = find_token(&TokenLookup {
//!     explicit: None,
//!     env: &env,
//!     audience: SIGSTORE_AUDIENCE,
//!     transport: &transport,
//! })
//! .await?;
//! let endpoints = SigningConfig::public_good().endpoints(0, &EndpointOverrides::default())?;
//! let options = KeylessOptions { endpoints, transport, audience: SIGSTORE_AUDIENCE.into() };
//! let signer = KeylessSigner::start(&token, &options, verifier).await?;
//! println!("signing as {}", signer.identity());
//! let bundle = signer.sign_message(b"artifact").await?;
//! # let _ = bundle; Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod assemble;
pub mod error;
pub mod fulcio;
mod key;
pub mod rekor;
mod rekor_v2;
pub mod session;
pub mod signing_config;
pub mod token;
pub mod transport;
mod tsa;
pub mod verifier;

pub use assemble::{
    BUNDLE_ANNOTATION, BUNDLE_V03_MEDIA_TYPE, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION,
    RFC3161_ANNOTATION, SIGNATURE_ANNOTATION,
};
pub use error::{KeylessError, RejectionKind, Service};
pub use fulcio::IssuedCertificate;
pub use rekor::{InclusionProof, LogEntry};
pub use rekor_v2::SIG_FORMAT_NEEDS_REKOR_V1;
pub use session::{
    AttLayerSignature, AttestationEntry, KeylessOptions, KeylessSigner, SigLayerSignature,
    SignedBundle,
};
pub use signing_config::{
    EndpointOverrides, Endpoints, PUBLIC_GOOD_SIGNING_CONFIG, Selector, ServiceEntry, SigningConfig,
};
pub use token::{
    CertificateIdentity, IdentityToken, SIGSTORE_AUDIENCE, TokenClaims, TokenLookup, TokenSource,
    find_token,
};
pub use transport::TransportOptions;
pub use verifier::{Expectation, OfflineVerifier, Rejection, SignedMaterial, Verified};

/// Feeds `data` to the parser of one kind of answer, as the `keyless_answers` fuzz target
/// does: 0 an identity token, 1 Fulcio's answer, 2 Rekor's answer (then checked against a
/// fixed hashedrekord and DSSE proposal, and written out in both formats), 3 a TSA's answer,
/// 4 a signing config, 5 a Rekor v2 answer (checked and written out like Rekor's). True when
/// the input was accepted.
#[doc(hidden)]
pub fn fuzz_answer(kind: u8, data: &[u8]) -> bool {
    match kind {
        0 => std::str::from_utf8(data).is_ok_and(|text| {
            IdentityToken::parse(text, TokenSource::Explicit).is_ok_and(|t| {
                let _ = t.check(0, SIGSTORE_AUDIENCE);
                let _ = t.accepts(&t.expected_identity());
                true
            })
        }),
        1 => fulcio::fuzz_parse(data),
        2 => rekor::fuzz_parse(data),
        3 => tsa::fuzz_check(data),
        5 => rekor_v2::fuzz_parse(data),
        _ => SigningConfig::from_json(data).is_ok_and(|c| {
            let _ = c.endpoints(0, &EndpointOverrides::default());
            true
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fuzz_seeds_reach_past_the_parsers() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/keyless_answers");
        for (seed, accepted) in [
            ("token", true),
            ("fulcio", true),
            ("rekor", true),
            // A real answer, for another signature and nonce than the fixed ones.
            ("tsa", false),
            ("signing_config", true),
            ("rekor_v2", true),
        ] {
            let data = std::fs::read(dir.join(seed)).expect("seed");
            assert_eq!(super::fuzz_answer(data[0], &data[1..]), accepted, "{seed}");
        }
    }
}
