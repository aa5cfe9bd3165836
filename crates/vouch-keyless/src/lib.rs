//! vouch-keyless: the material of a keyless Sigstore signature, obtained and checked.
//!
//! An OIDC identity token ([`token`]: explicit, GitLab CI's `id_tokens`, GitHub Actions'
//! endpoint) is exchanged at Fulcio ([`fulcio`]) for a short-lived certificate for an
//! ephemeral P-256 key ([`key`]); each signature is recorded in Rekor v1 ([`rekor`]) and
//! optionally stamped by an RFC 3161 authority ([`tsa`]); the services come from a Sigstore
//! signing config ([`signing_config`]); [`assemble`] writes a Sigstore bundle v0.3 or cosign
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
pub use session::{KeylessOptions, KeylessSigner, SigLayerSignature, SignedBundle};
pub use signing_config::{
    EndpointOverrides, Endpoints, PUBLIC_GOOD_SIGNING_CONFIG, Selector, ServiceEntry, SigningConfig,
};
pub use token::{
    CertificateIdentity, IdentityToken, SIGSTORE_AUDIENCE, TokenClaims, TokenLookup, TokenSource,
    find_token,
};
pub use transport::TransportOptions;
pub use verifier::{Expectation, OfflineVerifier, Rejection, SignedMaterial, Verified};
