//! A local Sigstore: an OIDC issuer, Fulcio, Rekor (v1, and a Rekor v2 log beside it) and an
//! RFC 3161 TSA on loopback (random ports), with their own CA, CT log, log and TSA keys, and
//! the trusted root and signing configs that describe them. Real clients (cosign 2.5, vouch) sign and verify against it
//! as they would against the public-good instance; [`Hostile`] turns single services into
//! liars for refusal tests.
//!
//! ```no_run
//! use vouch_e2e::sigstore::Sigstore;
//! let sigstore = Sigstore::start();
//! let token = sigstore.email_token("alice@example.com");
//! // cosign sign --fulcio-url {sigstore.fulcio_url()} --rekor-url {sigstore.rekor_url()} \
//! //   --identity-token {token} ... with sigstore.cosign_env()
//! ```

mod certs;
mod client_key;
mod cosign;
mod ct;
mod fulcio;
mod http;
mod keys;
mod merkle;
mod oidc;
mod rekor;
mod rekor_entry;
mod rekor_v2;
mod sentinel;
mod trust;
mod tsa;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub use cosign::SignOptions;
pub use fulcio::{CERTIFICATE_LIFETIME, OTHER_EMAIL, OTHER_URI};
pub use http::Exchange;
pub use keys::EcKey;
pub use oidc::AUDIENCE;
pub use rekor::LOG_NAME;
pub use rekor_v2::LOG_V2_NAME;
pub use trust::{SIGNING_CONFIG_MEDIA_TYPE, TRUSTED_ROOT_MEDIA_TYPE, TrustFiles};

use crate::net::Server;
use http::{Journal, lock};

/// Ways the services lie, for refusal tests. All off by default; each is a single switch,
/// settable at start or at any time with [`Sigstore::set_hostile`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hostile {
    /// Fulcio certifies another identity than the token's ([`OTHER_EMAIL`] or
    /// [`OTHER_URI`]), with a valid chain and SCT.
    pub fulcio_other_identity: bool,
    /// Fulcio issues from a CA that is not in the trusted root (same names, other keys); the
    /// SCT is still valid.
    pub fulcio_untrusted_ca: bool,
    /// Rekor (v1 and v2) logs and returns an entry for another signature (one bit flipped),
    /// with a valid SET (v1) and inclusion proof for that entry.
    pub rekor_other_signature: bool,
    /// Rekor's (v1 and v2) inclusion proofs do not lead to the (correctly signed)
    /// checkpoint's root.
    pub rekor_bad_inclusion_proof: bool,
    /// Rekor's (v1 and v2) checkpoints carry a well-formed signature line, named and keyed
    /// as the log's, whose signature does not verify.
    pub rekor_bad_checkpoint: bool,
    /// Rekor's signed entry timestamps are well-formed signatures that do not verify.
    pub rekor_bad_set: bool,
    /// Rekor's integrated time is an hour after the certificate expired (signed as such).
    pub rekor_time_after_expiry: bool,
    /// Rekor (v1 and v2) answers every request with 503.
    pub rekor_down: bool,
}

/// How [`Sigstore::start_with`] sets the instance up.
#[derive(Debug, Clone, Default)]
pub struct SigstoreOptions {
    /// Hostile knobs in force from the start.
    pub hostile: Hostile,
}

/// Request bodies the services accept at most (Rekor entries carry certificates and
/// envelopes; everything else is small).
const MAX_BODY: usize = 1 << 20;

/// A running Sigstore stand-in; its servers stop and its files go when it is dropped.
pub struct Sigstore {
    dir: tempfile::TempDir,
    journal: Journal,
    hostile: Arc<Mutex<Hostile>>,
    oidc: oidc::Oidc,
    fulcio: Arc<fulcio::Fulcio>,
    rekor: Arc<rekor::Rekor>,
    rekor_v2: Arc<rekor_v2::RekorV2>,
    tsa: Arc<tsa::Tsa>,
    sentinel: sentinel::Sentinel,
    files: TrustFiles,
    fulcio_url: String,
    rekor_url: String,
    rekor_v2_url: String,
    tsa_base_url: String,
    _servers: Vec<Server>,
}

impl std::fmt::Debug for Sigstore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sigstore")
            .field("oidc", &self.oidc.url())
            .field("fulcio", &self.fulcio_url)
            .field("rekor", &self.rekor_url)
            .field("rekor_v2", &self.rekor_v2_url)
            .field("tsa", &self.tsa_base_url)
            .finish_non_exhaustive()
    }
}

impl Sigstore {
    /// Starts an honest instance.
    pub fn start() -> Sigstore {
        Sigstore::start_with(SigstoreOptions::default())
    }

    /// Starts an instance as `options` say.
    pub fn start_with(options: SigstoreOptions) -> Sigstore {
        let dir = tempfile::tempdir().expect("tempdir for the Sigstore stand-in");
        std::fs::create_dir_all(dir.path().join("tuf")).expect("TUF_ROOT dir");
        // Keys and CAs are valid from a day ago, so clock skew never matters.
        let epoch = SystemTime::now() - Duration::from_secs(86400);
        let journal: Journal = Arc::default();
        let hostile = Arc::new(Mutex::new(options.hostile));

        let oidc = oidc::Oidc::start(Arc::clone(&journal));
        let ct = Arc::new(ct::CtLog::new());
        let fulcio = Arc::new(fulcio::Fulcio::new(
            epoch,
            Arc::clone(&ct),
            vec![oidc.url().to_string()],
            Arc::clone(&hostile),
        ));
        let rekor = Arc::new(rekor::Rekor::new(Arc::clone(&hostile)));
        let rekor_v2 = Arc::new(rekor_v2::RekorV2::new(Arc::clone(&hostile)));
        let tsa = Arc::new(tsa::Tsa::new(epoch));

        let fulcio_server = {
            let f = Arc::clone(&fulcio);
            http::serve("fulcio", MAX_BODY, Arc::clone(&journal), move |r| {
                f.answer(r)
            })
        };
        let rekor_server = {
            let r = Arc::clone(&rekor);
            http::serve("rekor", MAX_BODY, Arc::clone(&journal), move |q| {
                r.answer(q)
            })
        };
        let rekor_v2_server = {
            let r = Arc::clone(&rekor_v2);
            http::serve("rekor-v2", MAX_BODY, Arc::clone(&journal), move |q| {
                r.answer(q)
            })
        };
        let tsa_server = {
            let t = Arc::clone(&tsa);
            http::serve("tsa", 64 * 1024, Arc::clone(&journal), move |r| t.answer(r))
        };
        let fulcio_url = format!("http://{}", fulcio_server.host());
        let rekor_url = format!("http://{}", rekor_server.host());
        let rekor_v2_url = format!("http://{}", rekor_v2_server.host());
        let tsa_base_url = format!("http://{}", tsa_server.host());

        let tsa_chain_pem = tsa.chain_pem().concat();
        let files = trust::write(
            dir.path(),
            &trust::Instance {
                epoch,
                oidc_url: oidc.url(),
                fulcio_url: &fulcio_url,
                fulcio: (&fulcio.intermediate, &fulcio.root),
                rekor_url: &rekor_url,
                rekor_key: &rekor.key,
                rekor_v2: trust::LogV2 {
                    url: &rekor_v2_url,
                    spki: &rekor_v2.spki_der(),
                    log_id: &rekor_v2.log_id(),
                },
                // The CT log has no server of its own; Fulcio embeds its SCTs.
                ct_url: &format!("{fulcio_url}/ct"),
                ct_key: &ct.key,
                tsa_url: &format!("{tsa_base_url}/api/v1/timestamp"),
                tsa_chain: (&tsa.cert_der, &tsa.root),
            },
            &tsa_chain_pem,
        );
        Sigstore {
            dir,
            journal,
            hostile,
            oidc,
            fulcio,
            rekor,
            rekor_v2,
            tsa,
            sentinel: sentinel::Sentinel::start(),
            files,
            fulcio_url,
            rekor_url,
            rekor_v2_url,
            tsa_base_url,
            _servers: vec![fulcio_server, rekor_server, rekor_v2_server, tsa_server],
        }
    }

    /// The OIDC issuer URL (`iss` of its tokens; the certificate's OIDC issuer).
    pub fn oidc_issuer(&self) -> &str {
        self.oidc.url()
    }

    /// Fulcio's base URL.
    pub fn fulcio_url(&self) -> &str {
        &self.fulcio_url
    }

    /// Rekor's base URL.
    pub fn rekor_url(&self) -> &str {
        &self.rekor_url
    }

    /// The Rekor v2 log's base URL.
    pub fn rekor_v2_url(&self) -> &str {
        &self.rekor_v2_url
    }

    /// The TSA's timestamp endpoint (`.../api/v1/timestamp`), as `--timestamp-server-url`
    /// and the signing config take it.
    pub fn tsa_url(&self) -> String {
        format!("{}/api/v1/timestamp", self.tsa_base_url)
    }

    /// The TSA's base URL.
    pub fn tsa_base_url(&self) -> &str {
        &self.tsa_base_url
    }

    /// A token whose subject is `subject` (a URI, such as a CI workflow identity: Fulcio
    /// certifies a URI subject as a URI SAN).
    pub fn token(&self, subject: &str) -> String {
        self.oidc.sign(&self.oidc.claims(subject))
    }

    /// A token with a verified `email` (Fulcio certifies it as an email SAN).
    pub fn email_token(&self, email: &str) -> String {
        let mut claims = self.oidc.claims(&format!("user-{}", hex::encode(email)));
        claims["email"] = email.into();
        claims["email_verified"] = true.into();
        self.oidc.sign(&claims)
    }

    /// The claims [`Sigstore::token`] would sign, to modify for [`Sigstore::sign_claims`].
    pub fn claims(&self, subject: &str) -> serde_json::Value {
        self.oidc.claims(subject)
    }

    /// A token with exactly these claims, signed by the issuer (wrong audience, expired...).
    pub fn sign_claims(&self, claims: &serde_json::Value) -> String {
        self.oidc.sign(claims)
    }

    /// The files describing this instance.
    pub fn files(&self) -> &TrustFiles {
        &self.files
    }

    /// `trusted_root.json`.
    pub fn trusted_root_path(&self) -> &Path {
        &self.files.trusted_root
    }

    /// `signing_config.json`.
    pub fn signing_config_path(&self) -> &Path {
        &self.files.signing_config
    }

    /// `signing_config_rekor_v2.json`: the same services, with the Rekor v2 log as the only
    /// transparency log.
    pub fn signing_config_rekor_v2_path(&self) -> &Path {
        &self.files.signing_config_rekor_v2
    }

    /// A scratch directory that lives as long as the instance.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment cosign 2.5 needs to use this instance and nothing else: the
    /// `SIGSTORE_*` files (Fulcio chain, CT key, Rekor key, TSA chain), an empty `TUF_ROOT`,
    /// and the proxy sentinel (see [`Sigstore::network_attempts`]).
    ///
    /// What cosign 2.5 reads (anything missing sends it to the public TUF repository):
    /// `sign`/`sign-blob` check the SCT with `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`; `verify` and
    /// `verify-blob` of cosign's own formats need `SIGSTORE_ROOT_FILE`,
    /// `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE` and `SIGSTORE_REKOR_PUBLIC_KEY` (the Rekor key even
    /// with `--trusted-root`), plus `SIGSTORE_TSA_CERTIFICATE_FILE` for
    /// `--use-signed-timestamps`; `verify-blob --new-bundle-format` needs `--trusted-root`
    /// and no variable.
    pub fn cosign_env(&self) -> Vec<(String, String)> {
        let path = |p: &PathBuf| p.display().to_string();
        let proxy = self.sentinel.url();
        vec![
            ("SIGSTORE_ROOT_FILE".into(), path(&self.files.fulcio_chain)),
            (
                "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE".into(),
                path(&self.files.ct_public_key),
            ),
            (
                "SIGSTORE_REKOR_PUBLIC_KEY".into(),
                path(&self.files.rekor_public_key),
            ),
            (
                "SIGSTORE_TSA_CERTIFICATE_FILE".into(),
                path(&self.files.tsa_chain),
            ),
            (
                "TUF_ROOT".into(),
                self.dir.path().join("tuf").display().to_string(),
            ),
            ("HTTPS_PROXY".into(), proxy.clone()),
            ("HTTP_PROXY".into(), proxy),
            ("NO_PROXY".into(), String::new()),
        ]
    }

    /// Every request that tried to leave the machine through the proxy sentinel: empty
    /// means the client used nothing but this instance (and loopback).
    pub fn network_attempts(&self) -> Vec<String> {
        self.sentinel.attempts()
    }

    /// Every request the services answered, in order.
    pub fn requests(&self) -> Vec<Exchange> {
        lock(&self.journal).clone()
    }

    /// The requests one service (`oidc`, `fulcio`, `rekor`, `rekor-v2`, `tsa`) answered.
    pub fn requests_to(&self, service: &str) -> Vec<Exchange> {
        self.requests()
            .into_iter()
            .filter(|e| e.service == service)
            .collect()
    }

    /// How many entries the log holds, counting the one it starts with (so the first
    /// client entry has index 1).
    pub fn rekor_size(&self) -> usize {
        self.rekor.size()
    }

    /// How many entries the Rekor v2 log holds, counting the one it starts with.
    pub fn rekor_v2_size(&self) -> usize {
        self.rekor_v2.size()
    }

    /// The hostile knobs in force.
    pub fn hostile(&self) -> Hostile {
        *lock(&self.hostile)
    }

    /// Changes the hostile knobs; later requests see the change.
    pub fn set_hostile(&self, hostile: Hostile) {
        *lock(&self.hostile) = hostile;
    }

    /// The TSA's signing certificate, DER.
    pub fn tsa_certificate(&self) -> &[u8] {
        &self.tsa.cert_der
    }

    /// The Fulcio root certificate, DER.
    pub fn fulcio_root(&self) -> &[u8] {
        &self.fulcio.root.cert_der
    }
}
