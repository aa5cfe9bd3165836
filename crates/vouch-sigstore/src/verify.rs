//! The verification policy: what must hold, in which order, for a bundle to verify.

use std::collections::HashSet;

use super::checkpoint::{Checkpoint, CheckpointError};
use super::crypto::{HashAlgorithm, Scheme, VerifyKey};
use super::merkle::ProofError;
use super::model::{Bundle, BundleVersion, TlogEntry};
use super::rekor::{self, BodyError, Content, Signer};
use super::set::SetError;
use super::trust_root::{LogInstance, TrustedRoot, UnusableKey};
use super::x509::{self, Certificate, CertificateError, EKU_CODE_SIGNING};
use super::{
    Artifact, BundleError, IdentityPolicy, MAX_TIMESTAMPS, PolicyMismatch, SignerIdentity,
    TimeSource, VerifiedBundle, VerifiedLogEntry, VerifiedTime, VerifyOptions, dsse, fulcio,
    merkle, rfc3161, sct, set,
};

fn shape(reason: impl Into<String>) -> BundleError {
    BundleError::Bundle {
        reason: reason.into(),
    }
}

enum Material {
    Certificate(Box<Certificate>),
    Key,
}

/// Verify a Sigstore bundle, offline.
///
/// Checks, in order: the bundle's shape for its version; the signer material against the
/// policy's kind (identity or key); the signature over the artifact or DSSE envelope and the
/// artifact binding (message digest, or a statement subject); the RFC 3161 timestamps (one
/// that does not verify is ignored); every transparency-log entry (it must describe this
/// bundle's signature, signer and artifact; inclusion proof to a checkpoint signed by the
/// log; signed entry timestamp); that at least one time is verified; the certificate chain
/// to a trusted Fulcio CA at every verified time and its SCT; the identity policy.
pub fn verify_bundle(
    bundle_json: &[u8],
    artifact: &Artifact,
    policy: &IdentityPolicy,
    root: &TrustedRoot,
) -> Result<VerifiedBundle, BundleError> {
    verify_bundle_with(
        bundle_json,
        artifact,
        policy,
        root,
        &VerifyOptions::default(),
    )
}

/// [`verify_bundle`] with options. With the default options the two are the same.
///
/// `allow_untimed_key_signatures` accepts a bundle signed with the policy's key that has
/// neither a transparency-log entry nor an RFC 3161 timestamp (as `vouch sign --format
/// bundle` writes them): the key is trusted directly, as for a tag-based signature, and
/// [`VerifiedBundle::signing_time`] is `None`. A bundle that carries log entries or
/// timestamps must still verify them all; a certificate always needs a verified time.
pub fn verify_bundle_with(
    bundle_json: &[u8],
    artifact: &Artifact,
    policy: &IdentityPolicy,
    root: &TrustedRoot,
    options: &VerifyOptions,
) -> Result<VerifiedBundle, BundleError> {
    let bundle: Bundle =
        serde_json::from_slice(bundle_json).map_err(|e| shape(format!("invalid JSON: {e}")))?;
    let version = BundleVersion::from_media_type(&bundle.media_type)
        .ok_or_else(|| shape(format!("unsupported media type {:?}", bundle.media_type)))?;
    verify_parsed(&bundle, version, artifact, policy, root, options)
}

/// The checks of [`verify_bundle_with`] on a bundle already parsed (or assembled from a
/// cosign `.sig` layer's annotations, see [`super::sig_layer`]), judged as `version`.
pub(crate) fn verify_parsed(
    bundle: &Bundle,
    version: BundleVersion,
    artifact: &Artifact,
    policy: &IdentityPolicy,
    root: &TrustedRoot,
    options: &VerifyOptions,
) -> Result<VerifiedBundle, BundleError> {
    let vm = &bundle.verification_material;

    // Signer material: exactly one of chain, certificate, public key.
    let material = match (&vm.x509_certificate_chain, &vm.certificate, &vm.public_key) {
        (Some(chain), None, None) => {
            let certs = x509::parse_all(
                &chain
                    .certificates
                    .iter()
                    .map(|c| c.raw_bytes.clone())
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| BundleError::Certificate {
                reason: e.to_string(),
            })?;
            check_bundle_chain(&certs)?;
            let leaf = certs
                .into_iter()
                .next()
                .ok_or_else(|| shape("empty certificate chain"))?;
            Material::Certificate(Box::new(leaf))
        }
        (None, Some(cert), None) => Material::Certificate(Box::new(
            Certificate::from_der(&cert.raw_bytes).map_err(|e| BundleError::Certificate {
                reason: e.to_string(),
            })?,
        )),
        (None, None, Some(_)) => Material::Key,
        _ => {
            return Err(shape(
                "verification material must be exactly one of a certificate chain, a certificate or a public key",
            ));
        }
    };

    // The signer's key, and the policy's view of the material.
    let (key, spki, key_id) = match (&material, policy) {
        (Material::Certificate(_), IdentityPolicy::Key(_)) => {
            return Err(BundleError::Policy(PolicyMismatch::CertificateInsteadOfKey));
        }
        (Material::Key, IdentityPolicy::Identity { .. } | IdentityPolicy::AnyCertificate) => {
            return Err(BundleError::Policy(PolicyMismatch::KeyInsteadOfCertificate));
        }
        (
            Material::Certificate(leaf),
            IdentityPolicy::Identity { .. } | IdentityPolicy::AnyCertificate,
        ) => (
            leaf.key().map_err(|e| BundleError::Certificate {
                reason: e.to_string(),
            })?,
            leaf.spki.clone(),
            None,
        ),
        (Material::Key, IdentityPolicy::Key(k)) => (
            VerifyKey::from_spki_der(k.spki_der()).map_err(|e| BundleError::Input {
                reason: format!("unusable key: {e}"),
            })?,
            k.spki_der().to_vec(),
            Some(k.key_id()),
        ),
    };
    let signer = match &material {
        Material::Certificate(leaf) => Signer::Certificate(&leaf.der),
        Material::Key => Signer::Key(&spki),
    };

    // The content and its binding to the artifact (checked before any log work so the
    // log entry is compared with the artifact's digest, not the bundle's claim).
    let (content, signature_bytes, checked) =
        match (&bundle.message_signature, &bundle.dsse_envelope) {
            (Some(ms), None) => {
                let algorithm = match &ms.message_digest {
                    Some(md) => super::crypto::hash_from_proto(&md.algorithm).ok_or_else(|| {
                        shape(format!("unsupported digest algorithm {:?}", md.algorithm))
                    })?,
                    None => key.default_hash(),
                };
                let digest = artifact
                    .digest(algorithm)
                    .ok_or_else(|| BundleError::Input {
                        reason: format!(
                            "the bundle needs the artifact's {} digest",
                            algorithm.name()
                        ),
                    })?;
                if let Some(md) = &ms.message_digest
                    && md.digest != digest
                {
                    return Err(BundleError::ArtifactMismatch {
                        reason: "the bundle's message digest is not the artifact's".into(),
                    });
                }
                verify_message(&key, artifact, algorithm, &digest, &ms.signature)?;
                (
                    ContentOwned::Message { algorithm, digest },
                    ms.signature.clone(),
                    None,
                )
            }
            (None, Some(env)) => {
                let [sig] = env.signatures.as_slice() else {
                    return Err(shape(format!(
                        "DSSE envelope must have exactly one signature, has {}",
                        env.signatures.len()
                    )));
                };
                let pae = dsse::pae(&env.payload_type, &env.payload);
                key.verify(key.default_scheme(), &pae, &sig.sig)
                    .map_err(|e| BundleError::Signature {
                        reason: format!("DSSE envelope: {e}"),
                    })?;
                let statement = check_statement(&env.payload_type, &env.payload, artifact)?;
                (ContentOwned::Dsse, sig.sig.clone(), Some(statement))
            }
            _ => {
                return Err(shape(
                    "bundle must have exactly one of messageSignature and dsseEnvelope",
                ));
            }
        };
    let content = match &content {
        ContentOwned::Message { algorithm, digest } => Content::Message {
            algorithm: *algorithm,
            digest,
            signature: &signature_bytes,
        },
        ContentOwned::Dsse => Content::Dsse(
            bundle
                .dsse_envelope
                .as_ref()
                .ok_or_else(|| shape("no envelope"))?,
        ),
    };

    // RFC 3161 timestamps over the signature.
    let mut times = Vec::new();
    let stamps = vm
        .timestamp_verification_data
        .as_ref()
        .map(|t| t.rfc3161_timestamps.as_slice())
        .unwrap_or_default();
    if stamps.len() > MAX_TIMESTAMPS {
        return Err(shape(format!(
            "{} timestamps; at most {MAX_TIMESTAMPS} are accepted",
            stamps.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut timestamp_errors = Vec::new();
    for (index, ts) in stamps.iter().enumerate() {
        if !seen.insert(&ts.signed_timestamp) {
            return Err(BundleError::Timestamp {
                index,
                reason: "duplicate timestamp".into(),
            });
        }
        // As sigstore-go and sigstore-python: a timestamp that does not verify is not a
        // verified time, and is otherwise ignored (it cannot make a bundle pass).
        match rfc3161::verify(&ts.signed_timestamp, &signature_bytes, &root.tsas) {
            Ok(v) => times.push(VerifiedTime {
                time: v.time,
                source: TimeSource::TimestampAuthority { uri: v.authority },
            }),
            Err(e) => timestamp_errors.push(BundleError::Timestamp {
                index,
                reason: e.to_string(),
            }),
        }
    }
    let tsa_times: Vec<_> = times.iter().map(|t| t.time).collect();
    // With no SET to fall back on, a failed timestamp is the reason to report.
    if tsa_times.is_empty()
        && vm
            .tlog_entries
            .iter()
            .all(|e| e.inclusion_promise.is_none())
        && let Some(first) = timestamp_errors.into_iter().next()
    {
        return Err(first);
    }

    // A key trusted directly, with nothing that claims a time: allowed only when asked for.
    let untimed = options.allow_untimed_key_signatures
        && matches!(material, Material::Key)
        && vm.tlog_entries.is_empty()
        && stamps.is_empty();
    // A certificate that was never logged: allowed only when asked for, and then checked at
    // its verified timestamps or, with none, at the caller's verification time.
    let unlogged_at = options
        .unlogged_certificates_at
        .filter(|_| matches!(material, Material::Certificate(_)) && vm.tlog_entries.is_empty());

    // Transparency-log entries.
    if vm.tlog_entries.is_empty() && !untimed && unlogged_at.is_none() {
        return Err(BundleError::NoLogEntry);
    }
    let mut log_entries = Vec::new();
    for (i, entry) in vm.tlog_entries.iter().enumerate() {
        let fail = |cause: LogEntryError| BundleError::Tlog {
            entry: i,
            reason: cause.to_string(),
        };
        let log = root
            .tlogs
            .iter()
            .find(|l| l.key_id == entry.log_id.key_id)
            .ok_or_else(|| fail(LogEntryError::UnknownLog))?;
        let set_time =
            verify_entry(entry, log, version, &content, signer, &tsa_times).map_err(fail)?;
        if let Some(t) = set_time {
            times.push(VerifiedTime {
                time: t,
                source: TimeSource::TransparencyLog {
                    log: log.base_url.clone(),
                },
            });
        }
        log_entries.push(VerifiedLogEntry {
            log: log.base_url.clone(),
            log_index: entry.log_index,
            kind: format!("{} {}", entry.kind_version.kind, entry.kind_version.version),
        });
    }
    let signing_time = times.iter().map(|t| t.time).min();
    if signing_time.is_none() && !untimed && unlogged_at.is_none() {
        return Err(BundleError::NoVerifiedTime);
    }

    // The certificate, at every verified time (an unlogged, untimed one at the caller's
    // time), and the identity policy.
    let certificate_times: Vec<super::UnixTime> = match (times.is_empty(), unlogged_at) {
        (true, Some(at)) => vec![at],
        _ => times.iter().map(|t| t.time).collect(),
    };
    let identity = match (&material, policy) {
        (Material::Certificate(leaf), IdentityPolicy::Identity { subject, issuer }) => {
            check_certificate(leaf, root, &certificate_times)?;
            Some(check_identity(leaf, subject, issuer)?)
        }
        (Material::Certificate(leaf), IdentityPolicy::AnyCertificate) => {
            check_certificate(leaf, root, &certificate_times)?;
            Some(certificate_identity(leaf)?)
        }
        _ => None,
    };

    let (payload_type, statement, payload) = match (&bundle.dsse_envelope, checked) {
        (Some(env), statement) => (
            Some(env.payload_type.clone()),
            statement,
            Some(env.payload.clone()),
        ),
        (None, _) => (None, None, None),
    };
    Ok(VerifiedBundle {
        version,
        signing_time,
        verified_times: times,
        identity,
        key_id,
        payload_type,
        statement,
        payload,
        log_entries,
    })
}

enum ContentOwned {
    Message {
        algorithm: HashAlgorithm,
        digest: Vec<u8>,
    },
    Dsse,
}

/// A chain in the bundle is only a hint (paths are built from the trusted root), but it must
/// at least be a chain: each certificate issued by the next.
fn check_bundle_chain(certs: &[Certificate]) -> Result<(), BundleError> {
    for pair in certs.windows(2) {
        if pair[0].issuer != pair[1].subject || pair[0].verify_signed_by(&pair[1]).is_err() {
            return Err(BundleError::Certificate {
                reason: "the bundle's certificate chain is not in issuing order".into(),
            });
        }
    }
    Ok(())
}

fn verify_message(
    key: &VerifyKey,
    artifact: &Artifact,
    algorithm: HashAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), BundleError> {
    let result = match key {
        VerifyKey::Ed25519(_) => match artifact {
            Artifact::Bytes(b) => key.verify(Scheme::Ed25519, b, signature),
            Artifact::Digest { .. } => {
                return Err(BundleError::Input {
                    reason: "an Ed25519 signature needs the artifact itself, not its digest".into(),
                });
            }
        },
        VerifyKey::Rsa(_) => key.verify_prehashed(Scheme::RsaPkcs1(algorithm), digest, signature),
        _ => key.verify_prehashed(Scheme::Ecdsa(algorithm), digest, signature),
    };
    result.map_err(|reason| BundleError::Signature { reason })
}

fn check_statement(
    payload_type: &str,
    payload: &[u8],
    artifact: &Artifact,
) -> Result<super::Statement, BundleError> {
    if payload_type != dsse::IN_TOTO_PAYLOAD_TYPE {
        return Err(BundleError::ArtifactMismatch {
            reason: format!("DSSE payload type {payload_type:?} is not an in-toto statement"),
        });
    }
    let statement = dsse::parse_statement(payload).map_err(|e| BundleError::ArtifactMismatch {
        reason: e.to_string(),
    })?;
    let matches = statement.subject.iter().any(|s| {
        s.digest.iter().any(|(alg, hex_value)| {
            let algorithm = match alg.as_str() {
                "sha256" => HashAlgorithm::Sha256,
                "sha384" => HashAlgorithm::Sha384,
                "sha512" => HashAlgorithm::Sha512,
                _ => return false,
            };
            let want = hex::decode(hex_value).ok();
            want.is_some() && artifact.digest(algorithm) == want
        })
    });
    if !matches {
        return Err(BundleError::ArtifactMismatch {
            reason: "the artifact's digest matches no subject of the statement".into(),
        });
    }
    Ok(statement)
}

/// Why a transparency-log entry does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum LogEntryError {
    #[error("entry is from a log that is not in the trusted root")]
    UnknownLog,
    #[error("negative log index")]
    NegativeIndex,
    #[error("the log's key is unusable: {0}")]
    UnusableKey(UnusableKey),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Set(#[from] SetError),
    #[error("integrated time {0} is outside the log key's validity")]
    OutsideValidity(super::UnixTime),
    #[error("signed entry timestamp without an integrated time")]
    SetWithoutTime,
    #[error("a v0.1 bundle needs a signed entry timestamp")]
    V01NeedsSet,
    #[error("entry has no inclusion proof (required from bundle v0.2)")]
    NoInclusionProof,
    #[error("no signed entry timestamp, and no verified timestamp within the log key's validity")]
    NoVerifiedTime,
    #[error("inclusion proof has a negative index or an empty tree")]
    ProofShape,
    #[error("inclusion proof hash is not 32 bytes")]
    ProofHash,
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("inclusion proof does not lead to its root hash")]
    ProofRoot,
    #[error("inclusion proof has no checkpoint")]
    NoCheckpoint,
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("checkpoint is for a different tree than the inclusion proof")]
    CheckpointTree,
    #[error("log id is too short")]
    LogIdTooShort,
}

/// Verify one log entry; returns the integrated time if a SET proves it.
fn verify_entry(
    entry: &TlogEntry,
    log: &LogInstance,
    version: BundleVersion,
    content: &Content<'_>,
    signer: Signer<'_>,
    tsa_times: &[super::UnixTime],
) -> Result<Option<super::UnixTime>, LogEntryError> {
    if entry.log_index < 0 {
        return Err(LogEntryError::NegativeIndex);
    }
    let key = log
        .key
        .as_ref()
        .map_err(|e| LogEntryError::UnusableKey(e.clone()))?;
    rekor::check_body(
        &entry.canonicalized_body,
        &entry.kind_version,
        content,
        signer,
    )?;

    let mut set_time = None;
    match (&entry.inclusion_promise, entry.integrated_time) {
        (Some(promise), Some(t)) if t > 0 => {
            set::verify(
                key,
                &promise.signed_entry_timestamp,
                &entry.canonicalized_body,
                t,
                &entry.log_id.key_id,
                entry.log_index,
            )?;
            let t = super::UnixTime::from_secs(t);
            if !log.valid_for.contains(t) {
                return Err(LogEntryError::OutsideValidity(t));
            }
            set_time = Some(t);
        }
        (Some(_), _) => return Err(LogEntryError::SetWithoutTime),
        (None, _) if version == BundleVersion::V0_1 => {
            return Err(LogEntryError::V01NeedsSet);
        }
        (None, _) => {}
    }

    match &entry.inclusion_proof {
        Some(proof) => verify_inclusion(entry, proof, log, key)?,
        None if version >= BundleVersion::V0_2 => {
            return Err(LogEntryError::NoInclusionProof);
        }
        None => {}
    }

    // Without a SET the log's key must have been valid at a timestamp's time.
    if set_time.is_none() && !tsa_times.iter().any(|t| log.valid_for.contains(*t)) {
        return Err(LogEntryError::NoVerifiedTime);
    }
    Ok(set_time)
}

fn verify_inclusion(
    entry: &TlogEntry,
    proof: &super::model::InclusionProof,
    log: &LogInstance,
    key: &VerifyKey,
) -> Result<(), LogEntryError> {
    if proof.log_index < 0 || proof.tree_size <= 0 {
        return Err(LogEntryError::ProofShape);
    }
    let hashes = proof
        .hashes
        .iter()
        .map(|h| {
            super::b64::decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or(LogEntryError::ProofHash)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = merkle::leaf_hash(&entry.canonicalized_body);
    let root = merkle::root_from_inclusion_proof(
        proof.log_index as u64,
        proof.tree_size as u64,
        leaf,
        &hashes,
    )?;
    if root[..] != proof.root_hash[..] {
        return Err(LogEntryError::ProofRoot);
    }
    let envelope = proof
        .checkpoint
        .as_ref()
        .ok_or(LogEntryError::NoCheckpoint)?;
    let checkpoint = Checkpoint::parse(&envelope.envelope)?;
    if checkpoint.size != proof.tree_size as u64 || checkpoint.root_hash != proof.root_hash {
        return Err(LogEntryError::CheckpointTree);
    }
    let hint = log.key_id.get(..4).ok_or(LogEntryError::LogIdTooShort)?;
    Ok(checkpoint.verify(hint, key)?)
}

/// The chain to a trusted Fulcio CA at every one of `times`, and the embedded SCT.
fn check_certificate(
    leaf: &Certificate,
    root: &TrustedRoot,
    times: &[super::UnixTime],
) -> Result<(), BundleError> {
    let mut issuer_cert = None;
    for t in times {
        let issuing = verify_certificate(leaf, root, *t)?;
        issuer_cert.get_or_insert(issuing);
    }
    let issuing = issuer_cert.ok_or(BundleError::NoVerifiedTime)?;
    sct::verify_embedded_scts(leaf, &issuing, &root.ctlogs).map_err(|e| BundleError::Certificate {
        reason: e.to_string(),
    })
}

fn verify_certificate(
    leaf: &Certificate,
    root: &TrustedRoot,
    at: super::UnixTime,
) -> Result<Certificate, BundleError> {
    let mut errors: Vec<CertificateError> = Vec::new();
    for ca in &root.cas {
        if !ca.valid_for.contains(at) {
            continue;
        }
        match x509::verify_path(leaf, &ca.chain, at, &EKU_CODE_SIGNING) {
            Ok(issuer) => return Ok(issuer.clone()),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        errors.push(CertificateError::NoCaValidAt(at));
    }
    // Repeats are dropped by what they say, as one message lists them.
    errors.dedup_by(|a, b| a.to_string() == b.to_string());
    Err(BundleError::Certificate {
        reason: CertificateError::NoTrustedPath(errors).to_string(),
    })
}

/// The one identity a Fulcio certificate names, and its issuer (for the caller to judge).
fn certificate_identity(leaf: &Certificate) -> Result<SignerIdentity, BundleError> {
    let sans = fulcio::san_identities(leaf).map_err(|e| BundleError::Certificate {
        reason: e.to_string(),
    })?;
    let [subject] = sans.as_slice() else {
        return Err(BundleError::Certificate {
            reason: format!(
                "the certificate names {} signer identities; a Fulcio certificate names exactly one",
                sans.len()
            ),
        });
    };
    let issuer = fulcio::oidc_issuer(leaf)
        .map_err(|e| BundleError::Certificate {
            reason: e.to_string(),
        })?
        .ok_or_else(|| BundleError::Certificate {
            reason: "the certificate names no OIDC issuer".into(),
        })?;
    Ok(SignerIdentity {
        subject: subject.clone(),
        issuer,
    })
}

fn check_identity(
    leaf: &Certificate,
    subject: &str,
    issuer: &str,
) -> Result<SignerIdentity, BundleError> {
    let sans = fulcio::san_identities(leaf).map_err(|e| BundleError::Certificate {
        reason: e.to_string(),
    })?;
    if !sans.iter().any(|s| s == subject) {
        return Err(BundleError::Policy(PolicyMismatch::Subject {
            expected: subject.to_string(),
            found: sans,
        }));
    }
    let found = fulcio::oidc_issuer(leaf).map_err(|e| BundleError::Certificate {
        reason: e.to_string(),
    })?;
    if found.as_deref() != Some(issuer) {
        return Err(BundleError::Policy(PolicyMismatch::Issuer {
            expected: issuer.to_string(),
            found,
        }));
    }
    Ok(SignerIdentity {
        subject: subject.to_string(),
        issuer: issuer.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::Value;

    use super::*;
    use crate::Phase;

    const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    const GHA: &str = "https://token.actions.githubusercontent.com";

    fn vector(rel: &str) -> Vec<u8> {
        let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/vectors")
            .join(rel);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn case(name: &str) -> Value {
        serde_json::from_slice(&vector(&format!(
            "sigstore-conformance/test/assets/bundle-verify/{name}/bundle.sigstore.json"
        )))
        .expect("bundle")
    }

    fn root(case_name: Option<&str>) -> TrustedRoot {
        let rel = match case_name {
            Some(c) => {
                format!("sigstore-conformance/test/assets/bundle-verify/{c}/trusted_root.json")
            }
            None => {
                "sigstore-python/sigstore/_store/tuf-repo-cdn.sigstore.dev/trusted_root.json".into()
            }
        };
        TrustedRoot::from_json(&vector(&rel)).expect("root")
    }

    fn a_txt() -> Artifact {
        Artifact::Bytes(vector("sigstore-conformance/test/assets/a.txt"))
    }

    fn beacon() -> IdentityPolicy {
        IdentityPolicy::Identity {
            subject: BEACON.into(),
            issuer: GHA.into(),
        }
    }

    fn check(bundle: &Value, root: &TrustedRoot) -> Result<VerifiedBundle, BundleError> {
        verify_bundle(
            &serde_json::to_vec(bundle).expect("json"),
            &a_txt(),
            &beacon(),
            root,
        )
    }

    #[test]
    fn rekor_v1_mutations_are_caught() {
        let good = case("happy-path-v0.3");
        let prod = root(None);
        let v = check(&good, &prod).expect("happy path");
        assert_eq!(v.signing_time.map(|t| t.secs()), Some(1_710_869_186));
        assert_eq!(
            v.identity.as_ref().map(|i| i.subject.as_str()),
            Some(BEACON)
        );
        assert!(matches!(
            v.verified_times[0].source,
            TimeSource::TransparencyLog { .. }
        ));

        let entry = "/verificationMaterial/tlogEntries/0";
        type Mutation = (&'static str, Box<dyn Fn(&mut Value)>, Phase);
        let mutations: Vec<Mutation> = vec![
            (
                "integrated time",
                Box::new(move |b: &mut Value| {
                    *b.pointer_mut(&format!("{entry}/integratedTime"))
                        .expect("t") = "1710869187".into();
                }),
                Phase::Tlog,
            ),
            (
                "log index",
                Box::new(move |b: &mut Value| {
                    *b.pointer_mut(&format!("{entry}/logIndex")).expect("i") = "79571824".into();
                }),
                Phase::Tlog,
            ),
            (
                "no SET",
                Box::new(move |b: &mut Value| {
                    b.pointer_mut(entry)
                        .and_then(Value::as_object_mut)
                        .expect("e")
                        .remove("inclusionPromise");
                }),
                Phase::Tlog,
            ),
            (
                "no checkpoint",
                Box::new(move |b: &mut Value| {
                    b.pointer_mut(&format!("{entry}/inclusionProof"))
                        .and_then(Value::as_object_mut)
                        .expect("p")
                        .remove("checkpoint");
                }),
                Phase::Tlog,
            ),
            (
                "proof index",
                Box::new(move |b: &mut Value| {
                    *b.pointer_mut(&format!("{entry}/inclusionProof/logIndex"))
                        .expect("i") = "75408391".into();
                }),
                Phase::Tlog,
            ),
            (
                "unknown kind",
                Box::new(move |b: &mut Value| {
                    *b.pointer_mut(&format!("{entry}/kindVersion/version"))
                        .expect("v") = "0.0.9".into();
                }),
                Phase::Tlog,
            ),
            (
                "no entries",
                Box::new(|b: &mut Value| {
                    *b.pointer_mut("/verificationMaterial/tlogEntries")
                        .expect("l") = Value::Array(vec![]);
                }),
                Phase::Tlog,
            ),
            (
                "two contents",
                Box::new(|b: &mut Value| {
                    b["dsseEnvelope"] =
                        serde_json::json!({"payload": "", "payloadType": "x", "signatures": []});
                }),
                Phase::Bundle,
            ),
        ];
        for (what, mutate, phase) in mutations {
            let mut b = good.clone();
            mutate(&mut b);
            let err = check(&b, &prod).expect_err(what);
            assert_eq!(err.phase(), phase, "{what}: {err}");
        }

        // Policy: wrong identity, wrong issuer, and a key where a certificate is.
        let bytes = serde_json::to_vec(&good).expect("json");
        for policy in [
            IdentityPolicy::Identity {
                subject: "someone@example.com".into(),
                issuer: GHA.into(),
            },
            IdentityPolicy::Identity {
                subject: BEACON.into(),
                issuer: "https://accounts.google.com".into(),
            },
        ] {
            let err = verify_bundle(&bytes, &a_txt(), &policy, &prod).expect_err("policy");
            assert_eq!(err.phase(), Phase::Policy, "{err}");
        }
        let key = vouch_keys::PublicKey::from_pem_or_der(&vector(
            "sigstore-conformance/test/assets/bundle-verify/managed-key-happy-path/key.pub",
        ))
        .expect("key");
        let err =
            verify_bundle(&bytes, &a_txt(), &IdentityPolicy::Key(key), &prod).expect_err("key");
        assert_eq!(
            err,
            BundleError::Policy(PolicyMismatch::CertificateInsteadOfKey)
        );

        // The staging root knows neither this log nor this CA.
        let staging = TrustedRoot::from_json(&vector(
            "sigstore-python/sigstore/_store/tuf-repo-cdn.sigstage.dev/trusted_root.json",
        ))
        .expect("staging");
        assert!(check(&good, &staging).is_err());
    }

    #[test]
    fn rekor_v2_needs_a_timestamp_and_a_valid_checkpoint() {
        let name = "rekor2-happy-path";
        let good = case(name);
        let r = root(Some(name));
        let v = check(&good, &r).expect("happy path");
        assert!(matches!(
            v.verified_times.as_slice(),
            [VerifiedTime {
                source: TimeSource::TimestampAuthority { .. },
                ..
            }]
        ));

        let mut no_ts = good.clone();
        no_ts["verificationMaterial"]
            .as_object_mut()
            .expect("vm")
            .remove("timestampVerificationData");
        assert!(check(&no_ts, &r).is_err());

        let cp = "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint/envelope";
        let envelope = good
            .pointer(cp)
            .and_then(Value::as_str)
            .expect("cp")
            .to_string();
        // A forged log signature line with the right name and hint must not verify.
        let (text, sig_line) = envelope.split_once("\n\n").expect("note");
        let (prefix, b64) = sig_line.trim_end().rsplit_once(' ').expect("line");
        let mut raw = STANDARD.decode(b64).expect("b64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let forged = format!("{text}\n\n{prefix} {}\n", STANDARD.encode(&raw));
        let mut b = good.clone();
        *b.pointer_mut(cp).expect("cp") = forged.into();
        let err = check(&b, &r).expect_err("forged checkpoint");
        assert_eq!(err.phase(), Phase::Tlog, "{err}");
    }

    #[test]
    fn sct_signatures_are_checked() {
        let good = case("happy-path-v0.3");
        let der = STANDARD
            .decode(
                good.pointer("/verificationMaterial/certificate/rawBytes")
                    .and_then(Value::as_str)
                    .expect("cert"),
            )
            .expect("b64");
        let leaf = Certificate::from_der(&der).expect("leaf");
        let mut prod = root(None);
        let issuer = verify_certificate(&leaf, &prod, crate::UnixTime::from_secs(1_710_869_186))
            .expect("chain");
        sct::verify_embedded_scts(&leaf, &issuer, &prod.ctlogs).expect("SCT");
        // Same log id, another key: the SCT must no longer verify.
        let rekor_key = prod.tlogs[0].key.clone();
        for log in &mut prod.ctlogs {
            log.key = rekor_key.clone();
        }
        assert!(sct::verify_embedded_scts(&leaf, &issuer, &prod.ctlogs).is_err());
    }

    #[test]
    fn dsse_subject_digest_is_the_artifact() {
        let bundle = vector("sigstore-rs/tests/data/bundle_v03.json");
        let r = root(None);
        let policy = IdentityPolicy::Identity {
            subject: "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0".into(),
            issuer: GHA.into(),
        };
        let v: Value = serde_json::from_slice(&bundle).expect("json");
        let payload = STANDARD
            .decode(v["dsseEnvelope"]["payload"].as_str().expect("payload"))
            .expect("b64");
        let stmt: Value = serde_json::from_slice(&payload).expect("statement");
        let digest = hex::decode(
            stmt["subject"][0]["digest"]["sha256"]
                .as_str()
                .expect("sha256"),
        )
        .expect("hex");
        let artifact = Artifact::Digest {
            algorithm: HashAlgorithm::Sha256,
            digest,
        };
        let ok = verify_bundle(&bundle, &artifact, &policy, &r).expect("verifies");
        let statement = ok.statement.expect("statement");
        assert_eq!(
            statement.predicate_type,
            "https://sigstore.dev/cosign/sign/v1"
        );
        assert_eq!(ok.payload_type.as_deref(), Some(dsse::IN_TOTO_PAYLOAD_TYPE));
        assert_eq!(ok.log_entries[0].kind, "dsse 0.0.1");

        // The DSSE entry body is bound to the envelope: another payload type breaks it.
        let mut other: Value = v.clone();
        other["dsseEnvelope"]["payloadType"] = "application/json".into();
        let err = verify_bundle(
            &serde_json::to_vec(&other).expect("json"),
            &artifact,
            &policy,
            &r,
        )
        .expect_err("payload type");
        assert!(matches!(err.phase(), Phase::Signature), "{err}");
    }
}
