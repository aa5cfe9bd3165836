//! Judging one signature, pure (no I/O): a `.sig` layer or a Sigstore bundle verifies under a
//! trusted key, or (keyless) under the trusted root with the identity its certificate names;
//! then its claims: the image digest it signs, and the repository it names.

use std::collections::BTreeMap;

use base64::Engine as _;
use vouch_keys::PublicKey;
use vouch_oci::oci::{SIGN_PREDICATE_TYPE, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};
use vouch_oci::payload::{self, Payload};
use vouch_oci::reference::{self, Digest, ImageRef};
use vouch_policy::{KeylessIdentity, SubjectRegex, VerifiedSignature};
use vouch_registry::cache::Entry;
use vouch_registry::referrers::FetchedBundle;
use vouch_sigstore::{
    Artifact, BundleError, HashAlgorithm, IdentityPolicy, PolicyMismatch, SigLayer, TrustedRoot,
    UnixTime, VerifiedBundle, VerifyOptions, verify_att_layer, verify_bundle_with,
    verify_sig_layer,
};

use crate::fetch::FetchedLayer;
use crate::report::{SignatureReport, short_id};

/// A public key the user trusts, with where it came from.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key.
    pub key: PublicKey,
    /// Its id: hex SHA-256 of the SPKI DER.
    pub key_id: String,
    /// The file it was read from, for messages.
    pub source: String,
}

/// A keyless identity `vouch verify` accepts without a policy: cosign's
/// `--certificate-identity[-regexp]` and `--certificate-oidc-issuer[-regexp]`.
#[derive(Debug, Clone)]
pub struct KeylessMatcher {
    /// The certificate's identity (subject alternative name).
    pub subject: TextMatch,
    /// The OIDC issuer the certificate names.
    pub issuer: TextMatch,
}

/// Exactly this text, or a regular expression that must match all of it.
#[derive(Debug, Clone)]
pub enum TextMatch {
    /// Compared exactly.
    Exact(String),
    /// Anchored at both ends.
    Regex(SubjectRegex),
}

impl TextMatch {
    fn matches(&self, text: &str) -> bool {
        match self {
            TextMatch::Exact(e) => e == text,
            TextMatch::Regex(r) => r.is_full_match(text),
        }
    }

    fn describe(&self) -> String {
        match self {
            TextMatch::Exact(e) => format!("{e:?}"),
            TextMatch::Regex(r) => format!("/{}/", r.as_str()),
        }
    }
}

impl KeylessMatcher {
    /// True when a certificate naming `id` is accepted.
    pub fn matches(&self, id: &KeylessIdentity) -> bool {
        self.subject.matches(&id.subject) && self.issuer.matches(&id.issuer)
    }

    /// `identity "…" from issuer "…"`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "identity {} from issuer {}",
            self.subject.describe(),
            self.issuer.describe()
        )
    }
}

/// How signatures (`.sig` layers and bundles) are judged before any policy.
#[derive(Debug, Clone, Copy)]
pub struct SignatureJudge<'a> {
    /// Keys whose signatures count (key-signed bundles without a log entry or timestamp
    /// included: the key is trusted directly, as for a `.sig` layer).
    pub keys: &'a [TrustedKey],
    /// The trusted root: Fulcio CAs for certificates, Rekor and TSA keys for the times.
    /// `None` only if the built-in root failed to load (then nothing keyless verifies).
    pub root: Option<&'a TrustedRoot>,
    /// Verify certificate-signed (keyless) signatures and report their identity, for the
    /// caller to judge (a policy's keyless signers, or `--certificate-identity`).
    pub keyless: bool,
    /// Also accept keyless signatures that have no transparency-log entry, checking their
    /// certificate at an RFC 3161 time or, with none, at this instant. They are marked
    /// [`VerifiedSig::unlogged`]; only a caller that opted in counts them.
    pub unlogged_at: Option<UnixTime>,
}

impl SignatureJudge<'_> {
    /// Key signatures only.
    pub fn keys(keys: &[TrustedKey]) -> SignatureJudge<'_> {
        SignatureJudge {
            keys,
            root: None,
            keyless: false,
            unlogged_at: None,
        }
    }
}

/// A signature that verified, with what it claims.
#[derive(Debug, Clone, Default)]
pub struct VerifiedSig {
    /// The key it verified under, for a key signature.
    pub key_id: Option<String>,
    /// The certificate identity, for a keyless signature.
    pub identity: Option<KeylessIdentity>,
    /// The repository it names: a payload's docker-reference, a statement subject's name.
    pub name: Option<String>,
    /// Its signed annotations (string values).
    pub annotations: BTreeMap<String, String>,
    /// Keyless, with no transparency-log entry (accepted only under `unlogged_at`).
    pub unlogged: bool,
    /// The verified transparency-log entry's index, for a keyless signature.
    pub log_index: Option<i64>,
    /// The earliest time its log entry or timestamps prove.
    pub signed_at: Option<UnixTime>,
}

impl VerifiedSig {
    /// What the `--key` requirement judges: the key, or the certificate identity.
    pub fn requirement_signature(&self) -> VerifiedSignature {
        let signer = match (&self.key_id, &self.identity) {
            (Some(k), _) => k.clone(),
            (None, Some(id)) => format!("{} ({})", id.subject, id.issuer),
            (None, None) => String::new(),
        };
        VerifiedSignature {
            key_id: signer,
            annotations: self.annotations.clone(),
        }
    }
}

/// Notes what a keyless verification proved on the report and the verified signature.
fn keyless_outcome(
    report: &mut SignatureReport,
    v: &VerifiedBundle,
    unlogged: bool,
) -> VerifiedSig {
    let identity = v.identity.as_ref().map(|i| KeylessIdentity {
        issuer: i.issuer.clone(),
        subject: i.subject.clone(),
    });
    report.identity = identity.clone();
    report.log_index = v.log_entries.first().map(|e| e.log_index);
    report.signed_at = v.signing_time.map(|t| t.to_string());
    VerifiedSig {
        identity,
        unlogged,
        log_index: report.log_index,
        signed_at: v.signing_time,
        ..VerifiedSig::default()
    }
}

/// Why a keyless signature without a log entry was refused.
const UNLOGGED_REFUSED: &str = "keyless signature with no transparency-log entry: nothing public records it (a policy signer with `transparency_log: optional`, or --insecure-ignore-tlog, accepts it)";

/// Checks one layer: its signature under a trusted key or, for a keyless layer (a Fulcio
/// certificate in its annotations) when `judge.keyless`, its certificate, log entry and
/// timestamps; then the payload's claims: its digest always, its repository when `identity`
/// is given (a policy judges identity itself).
pub fn judge_layer(
    index: usize,
    layer: &FetchedLayer,
    image_digest: &Digest,
    identity: Option<&str>,
    judge: &SignatureJudge<'_>,
    memo: Option<&mut Entry>,
) -> (SignatureReport, Option<VerifiedSig>) {
    let mut report = SignatureReport::pending(index, &layer.descriptor.digest, None);
    let reject = |mut report: SignatureReport, reason: String| {
        report.reason = Some(reason);
        (report, None)
    };
    if layer.descriptor.media_type != SIMPLE_SIGNING {
        let reason = format!(
            "not a simple-signing layer (media type {:?})",
            layer.descriptor.media_type
        );
        return reject(report, reason);
    }
    let payload_bytes = match &layer.payload {
        Ok(bytes) => bytes,
        Err(reason) => return reject(report, reason.clone()),
    };
    let no_annotations = BTreeMap::new();
    let annotations = layer
        .descriptor
        .annotations
        .as_ref()
        .unwrap_or(&no_annotations);
    let Some(sig_b64) = annotations.get(SIGNATURE_ANNOTATION) else {
        return reject(report, format!("no {SIGNATURE_ANNOTATION} annotation"));
    };
    // Line breaks are skipped, as Go's decoder (cosign's, skopeo's) does: some signers wrap.
    let unwrapped: String = sig_b64
        .trim()
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    let signature = match base64::engine::general_purpose::STANDARD.decode(&unwrapped) {
        Ok(s) => s,
        Err(e) => return reject(report, format!("signature is not valid base64: {e}")),
    };
    let layer_digest = layer.descriptor.digest.as_str();
    let keys = judge.keys;
    let remembered = memo.as_deref().and_then(|m| {
        keys.iter()
            .find(|k| m.verified(layer_digest, sig_b64, &k.key_id))
    });
    let found = remembered.or_else(|| {
        keys.iter()
            .find(|k| k.key.verify(payload_bytes, &signature).is_ok())
    });
    if let (Some(k), Some(m)) = (found, memo) {
        m.mark_verified(layer_digest, sig_b64, &k.key_id);
    }
    let mut verified = match (found, SigLayer::from_annotations(annotations)) {
        (Some(key), _) => {
            report.key_id = Some(key.key_id.clone());
            report.key_source = Some(key.source.clone());
            VerifiedSig {
                key_id: Some(key.key_id.clone()),
                ..VerifiedSig::default()
            }
        }
        (None, Some(material)) => {
            if !judge.keyless {
                return reject(
                    report,
                    "signed with a certificate (keyless), not a key: verify it with --certificate-identity and --certificate-oidc-issuer, or a policy with a keyless signer".into(),
                );
            }
            let Some(root) = judge.root else {
                return reject(
                    report,
                    "the built-in trusted root could not be loaded".into(),
                );
            };
            let any = IdentityPolicy::AnyCertificate;
            let strict = VerifyOptions::default();
            match verify_sig_layer(&material, &signature, payload_bytes, &any, root, &strict) {
                Ok(v) => keyless_outcome(&mut report, &v, false),
                Err(BundleError::NoLogEntry) => {
                    let Some(at) = judge.unlogged_at else {
                        return reject(report, UNLOGGED_REFUSED.into());
                    };
                    let relaxed = VerifyOptions {
                        unlogged_certificates_at: Some(at),
                        ..VerifyOptions::default()
                    };
                    match verify_sig_layer(
                        &material,
                        &signature,
                        payload_bytes,
                        &any,
                        root,
                        &relaxed,
                    ) {
                        Ok(v) => keyless_outcome(&mut report, &v, true),
                        Err(e) => {
                            return reject(report, format!("keyless signature refused: {e}"));
                        }
                    }
                }
                Err(e) => return reject(report, format!("keyless signature refused: {e}")),
            }
        }
        (None, None) => {
            let reason = not_verified_by("signature", "the payload was altered", keys);
            return reject(report, reason);
        }
    };
    let payload = match payload::parse(payload_bytes) {
        Ok(p) => p,
        Err(e) => return reject(report, format!("signed payload refused: {e}")),
    };
    report.docker_reference = Some(payload.docker_reference.clone());
    report.annotations = payload.optional.clone();
    if &payload.digest != image_digest {
        let reason = format!(
            "payload signs {}, not this image's {image_digest}: a signature of another image",
            payload.digest
        );
        return reject(report, reason);
    }
    if let Some(identity) = identity
        && !identity_matches(&payload.docker_reference, identity)
    {
        let reason = format!(
            "payload names repository {:?}, not {identity:?}: signed for another repository",
            payload.docker_reference
        );
        return reject(report, reason);
    }
    report.verdict = "verified";
    verified.name = Some(payload.docker_reference.clone());
    verified.annotations = string_annotations(&payload);
    (report, Some(verified))
}

/// Checks one bundle: it verifies (signature, times, certificate) for a trusted key or, with
/// `judge.keyless`, any certificate of the trusted root; it is an image signature (a DSSE
/// in-toto statement with predicate type `https://sigstore.dev/cosign/sign/v1`) whose subject
/// is this image's digest; its subject names `identity`'s repository when that is given.
pub fn judge_bundle(
    index: usize,
    fetched: &FetchedBundle,
    image_digest: &Digest,
    identity: Option<&str>,
    judge: &SignatureJudge<'_>,
) -> (SignatureReport, Option<VerifiedSig>) {
    let mut report = SignatureReport::pending(index, &fetched.source, Some("bundle"));
    let reject = |mut report: SignatureReport, reason: String| {
        report.reason = Some(reason);
        (report, None)
    };
    let bytes = match &fetched.bundle {
        Ok(b) => b,
        Err(reason) => return reject(report, reason.clone()),
    };
    let Some(root) = judge.root else {
        return reject(
            report,
            "the built-in trusted root could not be loaded".into(),
        );
    };
    let (v, key, certificate) = match verify_fetched_bundle(bytes, image_digest, root, judge) {
        Ok(found) => found,
        Err(reason) => return reject(report, reason),
    };
    let mut verified = if certificate {
        keyless_outcome(&mut report, &v, false)
    } else {
        VerifiedSig::default()
    };
    if let Some(key) = key {
        report.key_id = Some(key.key_id.clone());
        report.key_source = Some(key.source.clone());
        verified.key_id = Some(key.key_id.clone());
    }
    let Some(statement) = &v.statement else {
        return reject(
            report,
            "a message signature, not a cosign image signature (a DSSE in-toto statement)".into(),
        );
    };
    if statement.predicate_type != SIGN_PREDICATE_TYPE {
        let reason = format!(
            "an attestation (predicate type {:?}), not an image signature ({SIGN_PREDICATE_TYPE})",
            statement.predicate_type
        );
        return reject(report, reason);
    }
    let Some(subject) = statement
        .subject
        .iter()
        .find(|s| s.digest.get("sha256").map(String::as_str) == Some(image_digest.hex()))
    else {
        return reject(
            report,
            format!("the statement names no sha256 subject {image_digest}"),
        );
    };
    let name = (!subject.name.is_empty()).then(|| subject.name.clone());
    report.docker_reference = name.clone();
    report.annotations = subject
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(identity) = identity {
        match &name {
            None => {
                let reason = format!(
                    "the statement names no repository (a cosign v3 signature), so it cannot show it is for {identity:?}; a policy rule with `identity: any` can accept it"
                );
                return reject(report, reason);
            }
            Some(n) if !identity_matches(n, identity) => {
                let reason = format!(
                    "the statement names repository {n:?}, not {identity:?}: signed for another repository"
                );
                return reject(report, reason);
            }
            Some(_) => {}
        }
    }
    report.verdict = "verified";
    verified.name = name;
    verified.annotations = subject
        .annotations
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    (report, Some(verified))
}

/// Verifies a bundle's signature, times and certificate for `image_digest`: by a trusted key,
/// or (with `judge.keyless`) by any certificate of the trusted root. Returns the verified
/// bundle, the key, and whether a certificate signed it.
fn verify_fetched_bundle<'k>(
    bytes: &[u8],
    image_digest: &Digest,
    root: &TrustedRoot,
    judge: &SignatureJudge<'k>,
) -> Result<(VerifiedBundle, Option<&'k TrustedKey>, bool), String> {
    let artifact = Artifact::Digest {
        algorithm: HashAlgorithm::Sha256,
        digest: hex::decode(image_digest.hex()).unwrap_or_default(),
    };
    let options = VerifyOptions {
        allow_untimed_key_signatures: true,
        ..VerifyOptions::default()
    };
    let mut certificate = false;
    let mut errors: Vec<BundleError> = Vec::new();
    if judge.keyless {
        match verify_bundle_with(
            bytes,
            &artifact,
            &IdentityPolicy::AnyCertificate,
            root,
            &options,
        ) {
            Ok(v) => return Ok((v, None, true)),
            Err(BundleError::Policy(PolicyMismatch::KeyInsteadOfCertificate)) => {}
            Err(e) => return Err(format!("keyless bundle refused: {e}")),
        }
    }
    for key in judge.keys {
        let policy = IdentityPolicy::Key(key.key.clone());
        match verify_bundle_with(bytes, &artifact, &policy, root, &options) {
            Ok(v) => return Ok((v, Some(key), false)),
            Err(BundleError::Policy(PolicyMismatch::CertificateInsteadOfKey)) => {
                certificate = true;
                break;
            }
            Err(e) => errors.push(e),
        }
    }
    Err(if certificate {
        "signed with a certificate (keyless), not a key: verify it with --certificate-identity and --certificate-oidc-issuer, or a policy with a keyless signer".to_string()
    } else if let Some(e) = errors
        .iter()
        .find(|e| !matches!(e, BundleError::Signature { .. }))
    {
        format!("bundle refused: {e}")
    } else {
        match judge.keys {
            [] => "a key-signed bundle, and no key to verify it with".to_string(),
            keys => not_verified_by("bundle signature", "altered", keys),
        }
    })
}

/// An attestation carried in a Sigstore bundle (cosign v3, GitHub's `attest-build-provenance`):
/// verified like a bundle signature, and its statement read in full.
#[derive(Debug, Clone)]
pub struct BundleAttestation {
    /// The statement.
    pub statement: vouch_attest::Statement,
    /// The key it verified under, for a key-signed bundle.
    pub key_id: Option<String>,
    /// The certificate identity, for a keyless bundle.
    pub identity: Option<KeylessIdentity>,
    /// The earliest verified time (log integration or RFC 3161), seconds since the epoch.
    pub signed_at: Option<i64>,
}

/// Reads a bundle as an attestation of `image_digest`: `Ok(None)` when it verifies but is an
/// image signature (cosign's sign predicate type), `Err` when it does not verify or is not a
/// statement about this digest vouch reads.
pub fn bundle_attestation(
    fetched: &FetchedBundle,
    image_digest: &Digest,
    judge: &SignatureJudge<'_>,
) -> Result<Option<BundleAttestation>, String> {
    let bytes = fetched.bundle.as_ref().map_err(Clone::clone)?;
    let root = judge
        .root
        .ok_or("the built-in trusted root could not be loaded")?;
    let (v, key, certificate) = verify_fetched_bundle(bytes, image_digest, root, judge)?;
    let payload = v
        .payload
        .as_deref()
        .ok_or("a message signature, not a DSSE statement")?;
    let statement = vouch_attest::statement::parse(payload).map_err(|e| e.to_string())?;
    if statement.predicate_type == SIGN_PREDICATE_TYPE {
        return Ok(None);
    }
    if !statement.is_about(image_digest) {
        return Err(format!(
            "a statement about another image than {image_digest}"
        ));
    }
    let identity = if certificate {
        v.identity.as_ref().map(|id| KeylessIdentity {
            issuer: id.issuer.clone(),
            subject: id.subject.clone(),
        })
    } else {
        None
    };
    Ok(Some(BundleAttestation {
        statement,
        key_id: key.map(|k| k.key_id.clone()),
        identity,
        signed_at: v.signing_time.map(|t| t.secs()),
    }))
}

/// Reads a keyless `.att` layer (cosign 2.x `attest` with a Fulcio certificate: the
/// certificate, chain and log entry in its annotations) as an attestation of `image_digest`,
/// as [`bundle_attestation`] reads a keyless bundle: `Ok(None)` when the layer carries no
/// certificate (a key-signed layer, judged under the keys) or keyless signatures are not
/// being judged; `Err` when it does not verify against the trusted root.
pub fn att_layer_attestation(
    annotations: &BTreeMap<String, String>,
    envelope: &[u8],
    image_digest: &Digest,
    judge: &SignatureJudge<'_>,
) -> Result<Option<BundleAttestation>, String> {
    let Some(layer) = SigLayer::from_annotations(annotations) else {
        return Ok(None);
    };
    if !judge.keyless {
        return Ok(None);
    }
    let root = judge
        .root
        .ok_or("the built-in trusted root could not be loaded")?;
    let artifact = Artifact::Digest {
        algorithm: HashAlgorithm::Sha256,
        digest: hex::decode(image_digest.hex()).unwrap_or_default(),
    };
    let v = verify_att_layer(
        &layer,
        envelope,
        &artifact,
        &IdentityPolicy::AnyCertificate,
        root,
        &VerifyOptions::default(),
    )
    .map_err(|e| format!("keyless attestation refused: {e}"))?;
    let payload = v.payload.as_deref().ok_or("no DSSE statement")?;
    let statement = vouch_attest::statement::parse(payload).map_err(|e| e.to_string())?;
    if !statement.is_about(image_digest) {
        return Err(format!(
            "a statement about another image than {image_digest}"
        ));
    }
    Ok(Some(BundleAttestation {
        statement,
        key_id: None,
        identity: v.identity.as_ref().map(|id| KeylessIdentity {
            issuer: id.issuer.clone(),
            subject: id.subject.clone(),
        }),
        signed_at: v.signing_time.map(|t| t.secs()),
    }))
}

fn string_annotations(payload: &Payload) -> BTreeMap<String, String> {
    payload
        .optional
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect()
}

/// Whether a payload's docker-reference names `expected`'s repository. A tag or digest in
/// the payload is ignored, as skopeo's `matchRepository` does.
pub fn identity_matches(docker_reference: &str, expected: &str) -> bool {
    if docker_reference == expected {
        return true;
    }
    match (
        reference::parse(docker_reference),
        reference::parse(expected),
    ) {
        (Ok(ImageRef::Registry(a)), Ok(ImageRef::Registry(b))) => {
            a.registry == b.registry && a.repository == b.repository
        }
        _ => false,
    }
}

/// Why a signature verified under none of `keys`, naming the key when there is one.
fn not_verified_by(what: &str, tampered: &str, keys: &[TrustedKey]) -> String {
    match keys {
        [only] => format!(
            "{what} does not verify under key {} ({}): signed by another key, or {tampered}",
            short_id(&only.key_id),
            only.source
        ),
        _ => format!(
            "{what} does not verify under any of the {} given keys: signed by another key, or {tampered}",
            keys.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_matching() {
        assert!(identity_matches("127.0.0.1:5000/app", "127.0.0.1:5000/app"));
        assert!(identity_matches(
            "127.0.0.1:5000/app:v1",
            "127.0.0.1:5000/app"
        ));
        assert!(identity_matches("alpine", "docker.io/library/alpine"));
        assert!(!identity_matches(
            "127.0.0.1:5000/other",
            "127.0.0.1:5000/app"
        ));
        assert!(!identity_matches(
            "127.0.0.1:5001/app",
            "127.0.0.1:5000/app"
        ));
        assert!(!identity_matches("", "127.0.0.1:5000/app"));
    }
}
