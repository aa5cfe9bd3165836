//! One keyless signing run: check the token, make the ephemeral key, get and check the
//! certificate, then sign any number of artifacts with it while it is valid, each logged,
//! optionally timestamped, assembled, and verified offline before it is returned.
//!
//! Order matters for what the user is told and what can leak: the token is checked before
//! any request; the certificate is checked (key, identity, then chain and SCT through the
//! offline verifier) before the key signs anything that leaves the process; every answer
//! from the log and the TSA is checked before it is returned; and a failure returns nothing,
//! so the caller has nothing to store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::assemble;
use crate::error::{KeylessError, RejectionKind};
use crate::fulcio::{self, IssuedCertificate};
use crate::key::EphemeralKey;
use crate::rekor::{self, LogEntry, Proposal};
use crate::rekor_v2::{self, SIG_FORMAT_NEEDS_REKOR_V1};
use crate::signing_config::Endpoints;
use crate::token::{CertificateIdentity, IdentityToken};
use crate::transport::{Http, TransportOptions};
use crate::tsa;
use crate::verifier::{Expectation, OfflineVerifier, Rejection, SignedMaterial, Verified};

/// What the certificate check signs: never sent anywhere, only shown to the verifier.
const PROBE_MESSAGE: &[u8] = b"vouch: keyless certificate check before use";

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct KeylessOptions {
    /// The services.
    pub endpoints: Endpoints,
    /// How they are reached.
    pub transport: TransportOptions,
    /// The token audience Fulcio accepts (`sigstore` for the public instance).
    pub audience: String,
}

/// A Sigstore bundle that verified.
#[derive(Debug, Clone)]
pub struct SignedBundle {
    /// The bundle, JSON (`application/vnd.dev.sigstore.bundle.v0.3+json`).
    pub json: Vec<u8>,
    /// The log entries it carries.
    pub log_entries: Vec<LogEntry>,
    /// How many RFC 3161 timestamps it carries.
    pub timestamps: usize,
}

/// A keyless `.sig` layer signature that verified.
#[derive(Debug, Clone)]
pub struct SigLayerSignature {
    /// The raw signature over the payload.
    pub signature: Vec<u8>,
    /// The layer's annotations, `dev.cosignproject.cosign/signature` included.
    pub annotations: BTreeMap<String, String>,
    /// The log entry.
    pub log_entry: LogEntry,
}

/// The transparency-log entry kind a keyless `.att` layer is recorded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttestationEntry {
    /// `dsse` 0.0.1: cosign 2.5 `attest`'s default.
    #[default]
    Dsse,
    /// `intoto` 0.0.2: what cosign before the `dsse` type logged, and
    /// `cosign attest --rekor-entry-type intoto`.
    Intoto,
}

/// A keyless `.att` layer that verified.
#[derive(Debug, Clone)]
pub struct AttLayerSignature {
    /// The layer: the DSSE envelope, JSON.
    pub envelope: Vec<u8>,
    /// The layer's annotations: certificate, chain and log entry (no signature annotation:
    /// the signature is inside the envelope).
    pub annotations: BTreeMap<String, String>,
    /// The log entry.
    pub log_entry: LogEntry,
}

/// A signing run with a verified certificate.
pub struct KeylessSigner {
    http: Http,
    endpoints: Endpoints,
    key: EphemeralKey,
    certificate: IssuedCertificate,
    verifier: Arc<dyn OfflineVerifier>,
}

impl std::fmt::Debug for KeylessSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeylessSigner")
            .field("identity", &self.certificate.identity)
            .field("endpoints", &self.endpoints)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn rfc3339(secs: i64) -> String {
    vouch_policy::Timestamp::from_unix(secs).to_string()
}

/// Turns the verifier's refusal of a signature into the signer's error.
fn refused(r: Rejection) -> KeylessError {
    match r.kind {
        RejectionKind::InclusionProof => KeylessError::InclusionProof { reason: r.reason },
        RejectionKind::SignedEntryTimestamp => {
            KeylessError::SignedEntryTimestamp { reason: r.reason }
        }
        kind => KeylessError::NotVerified {
            kind,
            reason: r.reason,
        },
    }
}

impl KeylessSigner {
    /// Checks `token` (expiry, audience, email) and the endpoints' schemes before any
    /// request; then makes an ephemeral key, asks Fulcio for a certificate, and accepts it
    /// only if it certifies this key and the token's identity and passes `verifier` (chain
    /// to a trusted CA and SCT, at this instant). The token is not kept.
    pub async fn start(
        token: &IdentityToken,
        options: &KeylessOptions,
        verifier: Arc<dyn OfflineVerifier>,
    ) -> Result<KeylessSigner, KeylessError> {
        token.check(now(), &options.audience)?;
        options.endpoints.check(options.transport.allow_http)?;
        if options.endpoints.rekor.is_empty() {
            return Err(KeylessError::Config {
                reason: "no transparency log to write to".into(),
            });
        }
        if options.endpoints.rekor_version == 2 && options.endpoints.tsa.is_empty() {
            return Err(KeylessError::Config {
                reason: "a Rekor v2 log records no signing time: a timestamp authority is needed"
                    .into(),
            });
        }
        let http = Http::new(&options.transport)?;
        let key = EphemeralKey::generate()?;
        let certificate =
            fulcio::request_certificate(&http, &options.endpoints.fulcio, token, &key).await?;
        let signer = KeylessSigner {
            http,
            endpoints: options.endpoints.clone(),
            key,
            certificate,
            verifier,
        };
        signer.check_certificate()?;
        Ok(signer)
    }

    /// The certificate against the trusted root, through the verifier: a bundle of a local
    /// probe signature with no log entry, judged at this instant.
    fn check_certificate(&self) -> Result<(), KeylessError> {
        let digest: [u8; 32] = Sha256::digest(PROBE_MESSAGE).into();
        let probe = assemble::message_bundle(
            &self.certificate.leaf_der,
            &digest,
            &self.key.sign(PROBE_MESSAGE),
            &[],
            &[],
        );
        self.verifier
            .verify(
                &SignedMaterial::Bundle {
                    json: &probe,
                    artifact_sha256: digest,
                },
                &Expectation {
                    identity: &self.certificate.identity,
                    unlogged_at: Some(now()),
                },
            )
            .map(|_| ())
            .map_err(|r| KeylessError::UntrustedCertificate { reason: r.reason })
    }

    /// The identity the certificate names (to show the user what they sign as).
    pub fn identity(&self) -> &CertificateIdentity {
        &self.certificate.identity
    }

    /// The certificate and the chain Fulcio returned.
    pub fn certificate(&self) -> &IssuedCertificate {
        &self.certificate
    }

    /// The services in use.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    fn check_still_valid(&self) -> Result<(), KeylessError> {
        if now() > self.certificate.not_after {
            return Err(KeylessError::CertificateExpired {
                expired_at: rfc3339(self.certificate.not_after),
            });
        }
        Ok(())
    }

    /// Logs `proposal` in each log, checking each answer against the certificate's validity.
    async fn log(&self, proposal: &Proposal, logs: usize) -> Result<Vec<LogEntry>, KeylessError> {
        let mut entries = Vec::new();
        for url in self.endpoints.rekor.iter().take(logs) {
            let entry = match self.endpoints.rekor_version {
                2 => rekor_v2::create_entry(&self.http, url, proposal).await?,
                _ => rekor::create_entry(&self.http, url, proposal).await?,
            };
            let c = &self.certificate;
            // Rekor v2 states no time; the timestamp's is checked by the verifier.
            if let Some(t) = entry.integrated_time
                && (t < c.not_before || t > c.not_after)
            {
                return Err(KeylessError::LoggedOutsideCertificateValidity {
                    integrated_time: rfc3339(t),
                    not_before: rfc3339(c.not_before),
                    not_after: rfc3339(c.not_after),
                });
            }
            if entry.inclusion_proof.is_none() {
                return Err(KeylessError::BadAnswer {
                    service: crate::error::Service::Rekor,
                    reason: "the entry came without an inclusion proof".into(),
                });
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    async fn stamp(&self, signature: &[u8], count: usize) -> Result<Vec<Vec<u8>>, KeylessError> {
        let mut stamps = Vec::new();
        for url in self.endpoints.tsa.iter().take(count) {
            stamps.push(tsa::timestamp(&self.http, url, signature).await?);
        }
        Ok(stamps)
    }

    fn judge(
        &self,
        material: &SignedMaterial<'_>,
        entries: usize,
        stamps: usize,
    ) -> Result<Verified, KeylessError> {
        let verified = self
            .verifier
            .verify(
                material,
                &Expectation {
                    identity: &self.certificate.identity,
                    unlogged_at: None,
                },
            )
            .map_err(refused)?;
        if verified.log_entries != entries {
            return Err(KeylessError::NotVerified {
                kind: RejectionKind::LogEntry,
                reason: format!("{} of {entries} log entries verified", verified.log_entries),
            });
        }
        if verified.timestamps < stamps {
            return Err(KeylessError::BadTimestamp {
                reason: "the timestamp does not verify against the trusted root".into(),
            });
        }
        Ok(verified)
    }

    async fn sign_digest_bundle(
        &self,
        signed: &[u8],
        digest: [u8; 32],
    ) -> Result<(Vec<u8>, Vec<LogEntry>, Vec<Vec<u8>>), KeylessError> {
        let signature = self.key.sign(signed);
        let proposal = Proposal::HashedRekord {
            digest,
            signature: signature.clone(),
            certificate_pem: self.certificate.leaf_pem.clone(),
        };
        let entries = self.log(&proposal, usize::MAX).await?;
        let stamps = self.stamp(&signature, usize::MAX).await?;
        Ok((signature, entries, stamps))
    }

    /// Signs `message` and returns a verified Sigstore bundle v0.3 with a message signature
    /// (logged as `hashedrekord`).
    pub async fn sign_message(&self, message: &[u8]) -> Result<SignedBundle, KeylessError> {
        self.check_still_valid()?;
        let digest: [u8; 32] = Sha256::digest(message).into();
        let (signature, entries, stamps) = self.sign_digest_bundle(message, digest).await?;
        let json = assemble::message_bundle(
            &self.certificate.leaf_der,
            &digest,
            &signature,
            &entries,
            &stamps,
        );
        self.judge(
            &SignedMaterial::Bundle {
                json: &json,
                artifact_sha256: digest,
            },
            entries.len(),
            stamps.len(),
        )?;
        Ok(SignedBundle {
            json,
            log_entries: entries,
            timestamps: stamps.len(),
        })
    }

    /// Signs `payload` of `payload_type` in a DSSE envelope and returns a verified Sigstore
    /// bundle v0.3 (logged as `dsse`). `subject_sha256` is the digest of the artifact the
    /// payload's in-toto statement names (an image manifest digest for an image signature);
    /// the verifier checks the statement names it.
    pub async fn sign_dsse(
        &self,
        payload_type: &str,
        payload: &[u8],
        subject_sha256: [u8; 32],
    ) -> Result<SignedBundle, KeylessError> {
        self.check_still_valid()?;
        let signature = self.key.sign(&assemble::pae(payload_type, payload));
        let envelope = assemble::envelope(payload_type, payload, &signature);
        let proposal = Proposal::Dsse {
            envelope_json: envelope.to_string(),
            payload: payload.to_vec(),
            signature: signature.clone(),
            certificate_pem: self.certificate.leaf_pem.clone(),
        };
        let entries = self.log(&proposal, usize::MAX).await?;
        let stamps = self.stamp(&signature, usize::MAX).await?;
        let json = assemble::dsse_bundle(&self.certificate.leaf_der, &envelope, &entries, &stamps);
        self.judge(
            &SignedMaterial::Bundle {
                json: &json,
                artifact_sha256: subject_sha256,
            },
            entries.len(),
            stamps.len(),
        )?;
        Ok(SignedBundle {
            json,
            log_entries: entries,
            timestamps: stamps.len(),
        })
    }

    /// Signs `payload` of `payload_type` into a DSSE envelope for a cosign 2.x `.att` layer
    /// and returns the envelope and the layer's annotations: one log entry (the first log)
    /// of the kind asked — `dsse` 0.0.1 as cosign 2.5 `attest` logs by default, or `intoto`
    /// 0.0.2 as older cosign does (`--rekor-entry-type intoto`). No RFC 3161 timestamp:
    /// cosign 2.x stamps an attestation's envelope bytes where bundles stamp the signature,
    /// so the log's time is the one the layer proves. The log's full answer and the layer
    /// must both verify, the statement naming `subject_sha256`.
    pub async fn sign_att_layer(
        &self,
        payload_type: &str,
        payload: &[u8],
        subject_sha256: [u8; 32],
        entry_kind: AttestationEntry,
    ) -> Result<AttLayerSignature, KeylessError> {
        if self.endpoints.rekor_version != 1 {
            return Err(KeylessError::Config {
                reason: SIG_FORMAT_NEEDS_REKOR_V1.into(),
            });
        }
        self.check_still_valid()?;
        let signature = self.key.sign(&assemble::pae(payload_type, payload));
        let envelope = assemble::envelope(payload_type, payload, &signature);
        let envelope_bytes = serde_json::to_vec(&envelope).unwrap_or_default();
        let proposal = match entry_kind {
            AttestationEntry::Dsse => Proposal::Dsse {
                envelope_json: String::from_utf8_lossy(&envelope_bytes).into_owned(),
                payload: payload.to_vec(),
                signature,
                certificate_pem: self.certificate.leaf_pem.clone(),
            },
            AttestationEntry::Intoto => Proposal::Intoto {
                envelope_bytes: envelope_bytes.clone(),
                payload_type: payload_type.to_string(),
                payload: payload.to_vec(),
                signature,
                certificate_pem: self.certificate.leaf_pem.clone(),
            },
        };
        let mut entries = self.log(&proposal, 1).await?;
        let full = assemble::dsse_bundle(&self.certificate.leaf_der, &envelope, &entries, &[]);
        self.judge(
            &SignedMaterial::Bundle {
                json: &full,
                artifact_sha256: subject_sha256,
            },
            1,
            0,
        )?;
        let entry = entries.remove(0);
        let annotations = assemble::att_layer_annotations(&self.certificate, &entry);
        self.judge(
            &SignedMaterial::AttLayer {
                annotations: &annotations,
                envelope: &envelope_bytes,
                artifact_sha256: subject_sha256,
            },
            1,
            0,
        )?;
        Ok(AttLayerSignature {
            envelope: envelope_bytes,
            annotations,
            log_entry: entry,
        })
    }

    /// Signs a `.sig` layer's `payload` (a simple-signing payload) and returns cosign 2.x's
    /// annotations for it: one log entry (the first log), at most one timestamp (the first
    /// TSA). The log's full answer (inclusion proof and checkpoint, which the annotations do
    /// not keep) and the annotations themselves must both verify.
    pub async fn sign_sig_layer(&self, payload: &[u8]) -> Result<SigLayerSignature, KeylessError> {
        if self.endpoints.rekor_version != 1 {
            return Err(KeylessError::Config {
                reason: SIG_FORMAT_NEEDS_REKOR_V1.into(),
            });
        }
        self.check_still_valid()?;
        let digest: [u8; 32] = Sha256::digest(payload).into();
        let signature = self.key.sign(payload);
        let proposal = Proposal::HashedRekord {
            digest,
            signature: signature.clone(),
            certificate_pem: self.certificate.leaf_pem.clone(),
        };
        let mut entries = self.log(&proposal, 1).await?;
        let stamps = self.stamp(&signature, 1).await?;
        let full = assemble::message_bundle(
            &self.certificate.leaf_der,
            &digest,
            &signature,
            &entries,
            &stamps,
        );
        self.judge(
            &SignedMaterial::Bundle {
                json: &full,
                artifact_sha256: digest,
            },
            1,
            stamps.len(),
        )?;
        let entry = entries.remove(0);
        let annotations = assemble::sig_layer_annotations(
            &signature,
            &self.certificate,
            &entry,
            stamps.first().map(Vec::as_slice),
        );
        self.judge(
            &SignedMaterial::SigLayer {
                annotations: &annotations,
                signature: &signature,
                payload,
            },
            1,
            stamps.len(),
        )?;
        Ok(SigLayerSignature {
            signature,
            annotations,
            log_entry: entry,
        })
    }
}
