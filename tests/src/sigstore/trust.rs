//! The files a verifier or signer is given for this Sigstore instance: `trusted_root.json`
//! (protobuf-specs TrustedRoot 0.1, both logs in it), `signing_config.json` (SigningConfig
//! 0.2, Rekor v1), `signing_config_rekor_v2.json` (the same with the Rekor v2 log instead),
//! and the single-purpose files cosign 2.5 reads from its `SIGSTORE_*` variables.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::certs::Ca;
use super::keys::EcKey;

/// Media type of a trusted root.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/// Media type of a signing config.
pub const SIGNING_CONFIG_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";

/// RFC 3339 in UTC, whole seconds.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    der::DateTime::from_system_time(t)
        .expect("time in range")
        .to_string()
}

/// Where each file was written.
#[derive(Debug, Clone)]
pub struct TrustFiles {
    /// `trusted_root.json`.
    pub trusted_root: PathBuf,
    /// `signing_config.json`.
    pub signing_config: PathBuf,
    /// `signing_config_rekor_v2.json`.
    pub signing_config_rekor_v2: PathBuf,
    /// Fulcio intermediate and root, PEM (`SIGSTORE_ROOT_FILE`).
    pub fulcio_chain: PathBuf,
    /// The CT log's public key, PEM (`SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`).
    pub ct_public_key: PathBuf,
    /// Rekor's public key, PEM (`SIGSTORE_REKOR_PUBLIC_KEY`).
    pub rekor_public_key: PathBuf,
    /// The TSA's signing certificate and root, PEM (`SIGSTORE_TSA_CERTIFICATE_FILE`).
    pub tsa_chain: PathBuf,
}

/// What the files describe.
pub(crate) struct Instance<'a> {
    pub(crate) epoch: SystemTime,
    pub(crate) oidc_url: &'a str,
    pub(crate) fulcio_url: &'a str,
    pub(crate) fulcio: (&'a Ca, &'a Ca),
    pub(crate) rekor_url: &'a str,
    pub(crate) rekor_key: &'a EcKey,
    pub(crate) rekor_v2: LogV2<'a>,
    pub(crate) ct_url: &'a str,
    pub(crate) ct_key: &'a EcKey,
    pub(crate) tsa_url: &'a str,
    pub(crate) tsa_chain: (&'a [u8], &'a Ca),
}

/// The Rekor v2 log: its checkpoint key (Ed25519) and signed-note log ID.
pub(crate) struct LogV2<'a> {
    pub(crate) url: &'a str,
    pub(crate) spki: &'a [u8],
    pub(crate) log_id: &'a [u8],
}

fn log_v2(log: &LogV2<'_>, start: &str) -> Value {
    json!({
        "baseUrl": log.url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": STANDARD.encode(log.spki),
            "keyDetails": "PKIX_ED25519",
            "validFor": {"start": start},
        },
        "logId": {"keyId": STANDARD.encode(log.log_id)},
    })
}

fn log(url: &str, key: &EcKey, start: &str) -> Value {
    json!({
        "baseUrl": url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": STANDARD.encode(key.spki_der()),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": {"start": start},
        },
        "logId": {"keyId": STANDARD.encode(key.key_id())},
    })
}

fn raw(der: &[u8]) -> Value {
    json!({"rawBytes": STANDARD.encode(der)})
}

fn service(url: &str, start: &str) -> Value {
    service_version(url, 1, start)
}

fn service_version(url: &str, version: u32, start: &str) -> Value {
    json!({"url": url, "majorApiVersion": version, "validFor": {"start": start}, "operator": "vouch-e2e"})
}

pub(crate) fn trusted_root(i: &Instance<'_>) -> Value {
    let start = rfc3339(i.epoch);
    let (intermediate, root) = i.fulcio;
    json!({
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [log(i.rekor_url, i.rekor_key, &start), log_v2(&i.rekor_v2, &start)],
        "certificateAuthorities": [{
            "subject": {"organization": "vouch-e2e", "commonName": "vouch-e2e Fulcio root"},
            "uri": i.fulcio_url,
            "certChain": {"certificates": [raw(&intermediate.cert_der), raw(&root.cert_der)]},
            "validFor": {"start": start},
        }],
        "ctlogs": [log(i.ct_url, i.ct_key, &start)],
        "timestampAuthorities": [{
            "subject": {"organization": "vouch-e2e", "commonName": "vouch-e2e TSA"},
            "uri": i.tsa_url,
            "certChain": {"certificates": [raw(i.tsa_chain.0), raw(&i.tsa_chain.1.cert_der)]},
            "validFor": {"start": start},
        }],
    })
}

pub(crate) fn signing_config(i: &Instance<'_>) -> Value {
    let start = rfc3339(i.epoch);
    json!({
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": [service(i.fulcio_url, &start)],
        "oidcUrls": [service(i.oidc_url, &start)],
        "rekorTlogUrls": [service(i.rekor_url, &start)],
        "tsaUrls": [service(i.tsa_url, &start)],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    })
}

/// The signing config with the Rekor v2 log as its only transparency log.
pub(crate) fn signing_config_rekor_v2(i: &Instance<'_>) -> Value {
    let mut config = signing_config(i);
    config["rekorTlogUrls"] = json!([service_version(i.rekor_v2.url, 2, &rfc3339(i.epoch))]);
    config
}

/// Writes every file into `dir`.
pub(crate) fn write(dir: &Path, i: &Instance<'_>, tsa_chain_pem: &str) -> TrustFiles {
    let put = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    };
    let json = |v: &Value| serde_json::to_vec_pretty(v).expect("JSON");
    let (intermediate, root) = i.fulcio;
    TrustFiles {
        trusted_root: put("trusted_root.json", &json(&trusted_root(i))),
        signing_config: put("signing_config.json", &json(&signing_config(i))),
        signing_config_rekor_v2: put(
            "signing_config_rekor_v2.json",
            &json(&signing_config_rekor_v2(i)),
        ),
        fulcio_chain: put(
            "fulcio_chain.pem",
            [intermediate.cert_pem(), root.cert_pem()]
                .concat()
                .as_bytes(),
        ),
        ct_public_key: put("ctfe.pub", i.ct_key.public_pem().as_bytes()),
        rekor_public_key: put("rekor.pub", i.rekor_key.public_pem().as_bytes()),
        tsa_chain: put("tsa_chain.pem", tsa_chain_pem.as_bytes()),
    }
}
