//! Fulcio: short-lived code-signing certificates for OIDC identities, with an embedded SCT.
//! Speaks the legacy v1 API (`POST /api/v1/signingCert`, what cosign 2.5 calls: bearer
//! token, `publicKey.content` base64 of a PEM or DER key, `signedEmailAddress`; answers 201
//! with a PEM chain) and v2 (`POST /api/v2/signingCert` with `publicKeyRequest`, token in
//! `credentials.oidcIdentityToken` or the bearer header; answers 200 with
//! `signedCertificateEmbeddedSct.chain.certificates`), plus the trust bundle and
//! configuration endpoints.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::Encode as _;
use der::asn1::{ObjectIdentifier, Utf8StringRef};
use serde_json::{Value, json};
use sha2::Digest as _;

use super::Hostile;
use super::certs::{self, Ca, EKU_CODE_SIGNING, Template};
use super::client_key::ClientKey;
use super::ct::{CtLog, EXT_SCT_LIST};
use super::http::{Request, Response, lock};
use super::keys::pem;
use super::oidc;

/// OIDC issuer, the raw string (Fulcio's first issuer extension).
const EXT_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// OIDC issuer as a DER UTF8String.
const EXT_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");

/// How long a Fulcio certificate is valid.
pub const CERTIFICATE_LIFETIME: Duration = Duration::from_secs(600);

/// The email address a hostile Fulcio certifies instead of the token's.
pub const OTHER_EMAIL: &str = "mallory@vouch-e2e.invalid";
/// The URI a hostile Fulcio certifies instead of the token's subject.
pub const OTHER_URI: &str = "https://vouch-e2e.invalid/mallory";

/// The certificate authority behind the API.
pub(crate) struct Fulcio {
    pub(crate) root: Ca,
    pub(crate) intermediate: Ca,
    /// A CA outside the trusted root (same names, other keys), for the hostile knob.
    rogue_root: Ca,
    rogue: Ca,
    ct: Arc<CtLog>,
    trusted_issuers: Vec<String>,
    hostile: Arc<Mutex<Hostile>>,
}

impl Fulcio {
    pub(crate) fn new(
        epoch: SystemTime,
        ct: Arc<CtLog>,
        trusted_issuers: Vec<String>,
        hostile: Arc<Mutex<Hostile>>,
    ) -> Fulcio {
        let root = Ca::root("CN=vouch-e2e Fulcio root,O=vouch-e2e", epoch);
        let intermediate = root.intermediate("CN=vouch-e2e Fulcio intermediate,O=vouch-e2e", epoch);
        let rogue_root = Ca::root("CN=vouch-e2e Fulcio root,O=vouch-e2e", epoch);
        let rogue = rogue_root.intermediate("CN=vouch-e2e Fulcio intermediate,O=vouch-e2e", epoch);
        Fulcio {
            root,
            intermediate,
            rogue_root,
            rogue,
            ct,
            trusted_issuers,
            hostile,
        }
    }

    /// The chain a client should trust: intermediate, root.
    pub(crate) fn chain_pem(&self) -> Vec<String> {
        vec![self.intermediate.cert_pem(), self.root.cert_pem()]
    }

    pub(crate) fn answer(&self, req: &Request) -> Response {
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/api/v1/signingCert") => self.v1_signing_cert(req),
            ("POST", "/api/v2/signingCert") => self.v2_signing_cert(req),
            ("GET", "/api/v1/rootCert") => Response::new(
                200,
                "application/pem-certificate-chain",
                self.chain_pem().concat(),
            ),
            ("GET", "/api/v2/trustBundle") => Response::json(
                200,
                &json!({"chains": [{"certificates": self.chain_pem()}]}),
            ),
            ("GET", "/api/v2/configuration") => Response::json(
                200,
                &json!({"issuers": self.trusted_issuers.iter().map(|i| json!({
                    "issuerUrl": i,
                    "audience": oidc::AUDIENCE,
                    "challengeClaim": "sub",
                })).collect::<Vec<_>>()}),
            ),
            (_, p) if p.starts_with("/api/") => Response::error(405, "method not allowed"),
            _ => Response::error(404, "not found"),
        }
    }

    fn v1_signing_cert(&self, req: &Request) -> Response {
        let Some(token) = bearer(req) else {
            return Response::error(401, "missing bearer token");
        };
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return Response::error(400, "request is not JSON");
        };
        let Some(key) = body["publicKey"]["content"]
            .as_str()
            .and_then(|c| STANDARD.decode(c).ok())
        else {
            return Response::error(400, "publicKey.content must be base64");
        };
        let Some(proof) = body["signedEmailAddress"]
            .as_str()
            .and_then(|c| STANDARD.decode(c).ok())
        else {
            return Response::error(400, "signedEmailAddress must be base64");
        };
        match self.issue(token, &key, &proof) {
            Ok(chain) => Response::new(201, "application/pem-certificate-chain", chain.concat()),
            Err(r) => r,
        }
    }

    fn v2_signing_cert(&self, req: &Request) -> Response {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return Response::error(400, "request is not JSON");
        };
        let token = body["credentials"]["oidcIdentityToken"]
            .as_str()
            .or_else(|| bearer(req));
        let Some(token) = token else {
            return Response::error(401, "missing identity token");
        };
        let pkr = &body["publicKeyRequest"];
        let Some(key) = pkr["publicKey"]["content"].as_str() else {
            return Response::error(400, "publicKeyRequest.publicKey.content is required");
        };
        let Some(proof) = pkr["proofOfPossession"]
            .as_str()
            .and_then(|c| STANDARD.decode(c).ok())
        else {
            return Response::error(400, "proofOfPossession must be base64");
        };
        match self.issue(token, key.as_bytes(), &proof) {
            Ok(chain) => Response::json(
                200,
                &json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}),
            ),
            Err(r) => r,
        }
    }

    /// Checks the token and the proof of possession, then issues: PEM leaf, intermediate,
    /// root.
    fn issue(&self, token: &str, key: &[u8], proof: &[u8]) -> Result<Vec<String>, Response> {
        let identity = oidc::verify(token, &self.trusted_issuers)
            .map_err(|e| Response::error(401, format!("invalid identity token: {e}")))?;
        let (client_key, spki) = if key.starts_with(b"-----BEGIN") {
            ClientKey::from_pem(key)
        } else {
            ClientKey::from_spki_der(key).map(|k| (k, key.to_vec()))
        }
        .map_err(|e| Response::error(400, format!("public key: {e}")))?;

        // The challenge is the identity the certificate names: the email, else the subject.
        let (challenge, is_email) = match &identity.email {
            Some(e) => (e.clone(), true),
            None => (identity.subject.clone(), false),
        };
        client_key
            .verify_message(challenge.as_bytes(), proof)
            .map_err(|e| Response::error(400, format!("proof of possession: {e}")))?;
        if !is_email && !challenge.contains("://") {
            return Err(Response::error(
                400,
                "the token has neither an email nor a URI subject",
            ));
        }

        let hostile = *lock(&self.hostile);
        let certified = match (hostile.fulcio_other_identity, is_email) {
            (false, _) => challenge,
            (true, true) => OTHER_EMAIL.to_string(),
            (true, false) => OTHER_URI.to_string(),
        };
        let ca = if hostile.fulcio_untrusted_ca {
            &self.rogue
        } else {
            &self.intermediate
        };
        let leaf = self
            .leaf(ca, &spki, &certified, is_email, &identity.issuer)
            .map_err(|e| Response::error(400, e))?;
        let root = if hostile.fulcio_untrusted_ca {
            &self.rogue_root
        } else {
            &self.root
        };
        Ok(vec![
            pem("CERTIFICATE", &leaf),
            ca.cert_pem(),
            root.cert_pem(),
        ])
    }

    fn leaf(
        &self,
        ca: &Ca,
        spki: &[u8],
        identity: &str,
        is_email: bool,
        issuer: &str,
    ) -> Result<Vec<u8>, String> {
        let now = SystemTime::now();
        let mut extensions = certs::leaf_extensions(EKU_CODE_SIGNING, false);
        extensions.push(certs::san(identity, is_email)?);
        extensions.push(certs::extension(
            EXT_ISSUER_V1,
            false,
            issuer.as_bytes().to_vec(),
        ));
        extensions.push(certs::extension(
            EXT_ISSUER_V2,
            false,
            Utf8StringRef::new(issuer)
                .and_then(|s| s.to_der())
                .map_err(|e| format!("issuer: {e}"))?,
        ));
        let mut template = Template {
            subject: certs::empty_name(),
            not_before: now,
            not_after: now + CERTIFICATE_LIFETIME,
            spki: spki.to_vec(),
            extensions,
        };
        let serial = certs::random_serial();
        // The precertificate's TBS is the final TBS without the SCT list.
        let precert_tbs = ca.leaf_tbs(&serial, template.clone());
        let issuer_key_hash: [u8; 32] = sha2::Sha256::digest(ca.key.spki_der()).into();
        let scts = self
            .ct
            .embedded_sct_list(&issuer_key_hash, &precert_tbs, now);
        template
            .extensions
            .push(certs::extension(EXT_SCT_LIST, false, scts));
        let tbs = ca.leaf_tbs(&serial, template);
        Ok(certs::sign_tbs(&tbs, &ca.key))
    }
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.head.header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}
