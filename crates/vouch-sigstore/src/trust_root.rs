//! The trusted root (`trusted_root.json`, protobuf-specs `TrustedRoot`): transparency logs,
//! Fulcio CAs, CT logs and timestamp authorities, each with the time range it is trusted for.

use rsa::pkcs1::DecodeRsaPublicKey as _;
use serde::Deserialize;

use super::b64::serde_bytes;
use super::crypto::VerifyKey;
use super::time::UnixTime;
use super::x509::Certificate;

const MEDIA_TYPES: [&str; 2] = [
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
];

/// A closed interval `[start, end]`; no `end` means open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// First instant of trust.
    pub start: UnixTime,
    /// Last instant of trust, inclusive.
    pub end: Option<UnixTime>,
}

impl TimeRange {
    /// Whether `t` lies in the range (both ends included).
    pub fn contains(&self, t: UnixTime) -> bool {
        self.start <= t && self.end.is_none_or(|e| t <= e)
    }
}

/// A transparency or CT log.
#[derive(Debug, Clone)]
pub(crate) struct LogInstance {
    pub(crate) base_url: String,
    pub(crate) key_id: Vec<u8>,
    /// The key, or why it cannot be used (unsupported type): such logs still parse.
    pub(crate) key: Result<VerifyKey, UnusableKey>,
    pub(crate) valid_for: TimeRange,
}

/// Why a log's key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UnusableKey {
    /// `PKCS1_RSA…` key details, but neither PKCS#1 nor SPKI.
    #[error("unparseable PKCS#1 RSA key")]
    Pkcs1Rsa,
    /// An SPKI of a kind or shape vouch does not verify with.
    #[error("{0}")]
    Spki(String),
}

/// A Fulcio CA or a timestamp authority: a chain (issuing cert first, root last).
#[derive(Debug, Clone)]
pub(crate) struct Authority {
    pub(crate) uri: String,
    pub(crate) chain: Vec<Certificate>,
    pub(crate) valid_for: TimeRange,
}

/// A parsed, validated trusted root.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub(crate) tlogs: Vec<LogInstance>,
    pub(crate) ctlogs: Vec<LogInstance>,
    pub(crate) cas: Vec<Authority>,
    pub(crate) tsas: Vec<Authority>,
}

/// Why a trusted root was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trusted root: {0}")]
pub struct TrustRootError(pub String);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: RawPublicKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    #[serde(with = "serde_bytes")]
    key_id: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    #[serde(default, with = "serde_bytes")]
    raw_bytes: Vec<u8>,
    #[serde(default)]
    key_details: String,
    valid_for: Option<RawRange>,
}

#[derive(Deserialize)]
struct RawRange {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: Option<RawRange>,
}

#[derive(Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    #[serde(with = "serde_bytes")]
    raw_bytes: Vec<u8>,
}

fn range(r: Option<&RawRange>, what: &str) -> Result<TimeRange, TrustRootError> {
    let bad = |m: String| TrustRootError(format!("{what}: {m}"));
    // A range without a start is malformed, not unbounded (protobuf-specs requires it).
    let r = r.ok_or_else(|| bad("no validFor".into()))?;
    let start = r
        .start
        .as_deref()
        .ok_or_else(|| bad("validFor has no start".into()))?;
    let start = UnixTime::parse_rfc3339(start).ok_or_else(|| bad(format!("bad time {start:?}")))?;
    let end = match r.end.as_deref() {
        Some(e) => Some(UnixTime::parse_rfc3339(e).ok_or_else(|| bad(format!("bad time {e:?}")))?),
        None => None,
    };
    if end.is_some_and(|e| e < start) {
        return Err(bad("validFor ends before it starts".into()));
    }
    Ok(TimeRange { start, end })
}

fn log(raw: &RawLog, what: &str) -> Result<LogInstance, TrustRootError> {
    let what = format!("{what} {}", raw.base_url);
    let valid_for = range(raw.public_key.valid_for.as_ref(), &what)?;
    let bytes = &raw.public_key.raw_bytes;
    let key = if raw.public_key.key_details.starts_with("PKCS1_RSA") {
        rsa::PublicKey::from_pkcs1_der(bytes)
            .map(VerifyKey::Rsa)
            .or_else(|_| VerifyKey::from_spki_der(bytes))
            .map_err(|_| UnusableKey::Pkcs1Rsa)
    } else {
        VerifyKey::from_spki_der(bytes).map_err(UnusableKey::Spki)
    };
    Ok(LogInstance {
        base_url: raw.base_url.clone(),
        key_id: raw.log_id.key_id.clone(),
        key,
        valid_for,
    })
}

fn authority(raw: &RawAuthority, what: &str) -> Result<Authority, TrustRootError> {
    let what = format!("{what} {}", raw.uri);
    if raw.cert_chain.certificates.is_empty() {
        return Err(TrustRootError(format!("{what}: missing a certificate")));
    }
    let chain = raw
        .cert_chain
        .certificates
        .iter()
        .map(|c| Certificate::from_der(&c.raw_bytes))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrustRootError(format!("{what}: {e}")))?;
    Ok(Authority {
        uri: raw.uri.clone(),
        chain,
        valid_for: range(raw.valid_for.as_ref(), &what)?,
    })
}

impl TrustedRoot {
    /// Parse and validate `trusted_root.json`.
    pub fn from_json(json: &[u8]) -> Result<Self, TrustRootError> {
        let raw: RawRoot =
            serde_json::from_slice(json).map_err(|e| TrustRootError(e.to_string()))?;
        if !MEDIA_TYPES.contains(&raw.media_type.as_str()) {
            return Err(TrustRootError(format!(
                "unsupported media type {:?}",
                raw.media_type
            )));
        }
        Ok(TrustedRoot {
            tlogs: raw
                .tlogs
                .iter()
                .map(|l| log(l, "tlog"))
                .collect::<Result<_, _>>()?,
            ctlogs: raw
                .ctlogs
                .iter()
                .map(|l| log(l, "ctlog"))
                .collect::<Result<_, _>>()?,
            cas: raw
                .certificate_authorities
                .iter()
                .map(|a| authority(a, "certificate authority"))
                .collect::<Result<_, _>>()?,
            tsas: raw
                .timestamp_authorities
                .iter()
                .map(|a| authority(a, "timestamp authority"))
                .collect::<Result<_, _>>()?,
        })
    }

    /// How many of each: (tlogs, CAs, CT logs, TSAs).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.tlogs.len(),
            self.cas.len(),
            self.ctlogs.len(),
            self.tsas.len(),
        )
    }

    /// How many transparency logs have a key this verifier can use.
    pub fn usable_tlogs(&self) -> usize {
        self.tlogs.iter().filter(|l| l.key.is_ok()).count()
    }
}
