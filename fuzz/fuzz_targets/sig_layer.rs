//! Keyless `.sig` layers: cosign 2.x's certificate, chain, Rekor-bundle and RFC 3161
//! annotations (attacker text from a registry), assembled and verified offline against the
//! production trusted root, over a real payload and signature; with a fifth part, the same
//! annotations on a keyless `.att` layer whose bytes (the DSSE envelope) are that part.
//!
//! Input: the four annotation values, then optionally the envelope, separated by 0xFF
//! bytes (a missing one is absent).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vouch_sigstore::PRODUCTION_TRUSTED_ROOT;
use vouch_sigstore::{
    Artifact, HashAlgorithm, IdentityPolicy, SigLayer, TrustedRoot, VerifyOptions,
    verify_att_layer, verify_sig_layer,
};

const PAYLOAD: &[u8] = include_bytes!("../fixtures/sig-layer/payload.json");
const SIGNATURE_B64: &str = include_str!("../fixtures/sig-layer/signature.b64");

fn root() -> &'static TrustedRoot {
    static ROOT: OnceLock<TrustedRoot> = OnceLock::new();
    ROOT.get_or_init(|| TrustedRoot::from_json(PRODUCTION_TRUSTED_ROOT.as_bytes()).expect("root"))
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xFF).map(String::from_utf8_lossy);
    let envelope = data.split(|b| *b == 0xFF).nth(4);
    let (Some(certificate), chain, bundle, timestamp) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let layer = SigLayer {
        certificate_pem: &certificate,
        chain_pem: chain.as_deref(),
        rekor_bundle: bundle.as_deref(),
        rfc3161_timestamp: timestamp.as_deref(),
    };
    use base64::Engine as _;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(SIGNATURE_B64.trim())
        .expect("fixture signature");
    let verified = verify_sig_layer(
        &layer,
        &signature,
        PAYLOAD,
        &IdentityPolicy::AnyCertificate,
        root(),
        &VerifyOptions::default(),
    );
    let attested = envelope.map(|envelope| {
        verify_att_layer(
            &layer,
            envelope,
            &Artifact::Digest {
                algorithm: HashAlgorithm::Sha256,
                digest: vec![0; 32],
            },
            &IdentityPolicy::AnyCertificate,
            root(),
            &VerifyOptions::default(),
        )
    });
    for v in [verified.ok(), attested.and_then(Result::ok)]
        .into_iter()
        .flatten()
    {
        // Without the opt-in, a keyless layer passes only with a verified log entry and time.
        assert!(!v.log_entries.is_empty(), "verified without a log entry");
        assert!(v.signing_time.is_some(), "verified without a time");
        assert!(v.identity.is_some(), "verified without an identity");
    }
});
