//! Which services to sign with: a Sigstore signing config (`signing_config.json`,
//! `application/vnd.dev.sigstore.signingconfig.v0.2+json`) lists CA, OIDC, Rekor and TSA
//! URLs, each with an API version and a validity window, and how many logs and TSAs to use.
//! Selection follows the Sigstore clients: among the services valid now whose API version
//! this signer speaks, the newest API version, then the most recently started service;
//! `ANY` takes one, `EXACT` that many, `ALL` every one. `--fulcio-url`, `--rekor-url` and
//! `--tsa-url` replace a selection; `--rekor-version` says which Rekor API the chosen (or
//! given) logs speak. A Rekor v2 log signs no time, so choosing one requires a timestamp
//! authority. The default is the public-good instance's config.

use std::fmt;

use serde::Deserialize;
use url::Url;

use crate::error::KeylessError;

/// The public-good instance's signing config (from sigstore-python's embedded copy of the
/// TUF target `signing_config.v0.2.json`, Apache-2.0, The Sigstore Authors).
pub const PUBLIC_GOOD_SIGNING_CONFIG: &str =
    include_str!("configs/public-good.signing_config.v0.2.json");

const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";
/// Fulcio API versions this signer speaks (the v2 `signingCert` endpoint belongs to 1).
const FULCIO_VERSIONS: [u32; 1] = [1];
/// Rekor API versions this signer can write to.
const REKOR_VERSIONS: [u32; 2] = [1, 2];
const TSA_VERSIONS: [u32; 1] = [1];
/// A config larger than this is refused before it is parsed.
const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// At most this many services of one kind.
const MAX_SERVICES: usize = 64;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    media_type: String,
    #[serde(default)]
    ca_urls: Vec<RawService>,
    #[serde(default)]
    oidc_urls: Vec<RawService>,
    #[serde(default)]
    rekor_tlog_urls: Vec<RawService>,
    #[serde(default)]
    tsa_urls: Vec<RawService>,
    rekor_tlog_config: Option<RawSelector>,
    tsa_config: Option<RawSelector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawService {
    url: String,
    major_api_version: u32,
    valid_for: RawRange,
    #[serde(default)]
    operator: String,
}

#[derive(Deserialize)]
struct RawRange {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSelector {
    selector: String,
    #[serde(default)]
    count: Option<u32>,
}

/// One service of a signing config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// Its URL.
    pub url: Url,
    /// The major API version it speaks.
    pub major_api_version: u32,
    /// First second of validity, Unix seconds.
    pub start: i64,
    /// Last second of validity, if it ends.
    pub end: Option<i64>,
    /// Who runs it.
    pub operator: String,
}

impl ServiceEntry {
    fn valid_at(&self, now: i64) -> bool {
        self.start <= now && self.end.is_none_or(|e| now <= e)
    }
}

/// How many services of a kind to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// Every matching service.
    All,
    /// One.
    Any,
    /// Exactly this many.
    Exact(u32),
}

/// A parsed signing config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningConfig {
    /// Certificate authorities (Fulcio).
    pub ca: Vec<ServiceEntry>,
    /// OIDC providers (for interactive sign-in; not used by CI tokens).
    pub oidc: Vec<ServiceEntry>,
    /// Transparency logs.
    pub rekor: Vec<ServiceEntry>,
    /// Timestamp authorities.
    pub tsa: Vec<ServiceEntry>,
    /// How many logs.
    pub rekor_selector: Selector,
    /// How many TSAs.
    pub tsa_selector: Selector,
}

/// URLs given on the command line, replacing the config's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOverrides {
    /// `--fulcio-url`.
    pub fulcio: Option<Url>,
    /// `--rekor-url`.
    pub rekor: Option<Url>,
    /// `--rekor-version`: the API version of `rekor` (default 1) or, without it, the only
    /// version chosen from the config.
    pub rekor_version: Option<u32>,
    /// `--tsa-url`: a TSA's timestamp endpoint (`…/api/v1/timestamp`).
    pub tsa: Option<Url>,
}

/// The services one signing run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Fulcio's base URL.
    pub fulcio: Url,
    /// The transparency logs to write to (at least one).
    pub rekor: Vec<Url>,
    /// Their Rekor API version (1 or 2): one version for all, the newest the config offers.
    pub rekor_version: u32,
    /// The TSAs' timestamp endpoints (none: no RFC 3161 timestamp).
    pub tsa: Vec<Url>,
}

impl fmt::Display for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |urls: &[Url]| urls.iter().map(Url::as_str).collect::<Vec<_>>().join(", ");
        write!(
            f,
            "Fulcio {}, Rekor v{} {}, TSA {}",
            self.fulcio,
            self.rekor_version,
            list(&self.rekor),
            if self.tsa.is_empty() {
                "none".into()
            } else {
                list(&self.tsa)
            }
        )
    }
}

fn config_error(reason: impl Into<String>) -> KeylessError {
    KeylessError::Config {
        reason: reason.into(),
    }
}

fn time(s: &str, what: &str) -> Result<i64, KeylessError> {
    vouch_policy::Timestamp::parse_rfc3339(s)
        .map(|t| t.unix())
        .map_err(|e| config_error(format!("{what}: {e}")))
}

fn service(raw: &RawService, what: &str) -> Result<ServiceEntry, KeylessError> {
    let url =
        Url::parse(&raw.url).map_err(|e| config_error(format!("{what} {:?}: {e}", raw.url)))?;
    let start = raw
        .valid_for
        .start
        .as_deref()
        .ok_or_else(|| config_error(format!("{what} {url}: validFor has no start")))?;
    let start = time(start, &format!("{what} {url}"))?;
    let end = raw
        .valid_for
        .end
        .as_deref()
        .map(|e| time(e, &format!("{what} {url}")))
        .transpose()?;
    if end.is_some_and(|e| e < start) {
        return Err(config_error(format!(
            "{what} {url}: validFor ends before it starts"
        )));
    }
    Ok(ServiceEntry {
        url,
        major_api_version: raw.major_api_version,
        start,
        end,
        operator: raw.operator.clone(),
    })
}

fn services(raw: &[RawService], what: &str) -> Result<Vec<ServiceEntry>, KeylessError> {
    if raw.len() > MAX_SERVICES {
        return Err(config_error(format!(
            "more than {MAX_SERVICES} {what} entries"
        )));
    }
    raw.iter().map(|s| service(s, what)).collect()
}

fn selector(raw: Option<&RawSelector>, what: &str) -> Result<Selector, KeylessError> {
    let Some(raw) = raw else {
        return Ok(Selector::Any);
    };
    match (raw.selector.as_str(), raw.count) {
        ("ALL", _) => Ok(Selector::All),
        ("ANY", _) => Ok(Selector::Any),
        ("EXACT", Some(n)) if n > 0 => Ok(Selector::Exact(n)),
        ("EXACT", _) => Err(config_error(format!(
            "{what}: selector EXACT needs a positive count"
        ))),
        (other, _) => Err(config_error(format!("{what}: unknown selector {other:?}"))),
    }
}

/// The services valid at `now` with a supported API version: all of the newest supported
/// version, most recently started first.
fn candidates<'a>(list: &'a [ServiceEntry], supported: &[u32], now: i64) -> Vec<&'a ServiceEntry> {
    let valid: Vec<&ServiceEntry> = list
        .iter()
        .filter(|s| s.valid_at(now) && supported.contains(&s.major_api_version))
        .collect();
    let Some(newest) = valid.iter().map(|s| s.major_api_version).max() else {
        return Vec::new();
    };
    let mut chosen: Vec<&ServiceEntry> = valid
        .into_iter()
        .filter(|s| s.major_api_version == newest)
        .collect();
    chosen.sort_by_key(|s| std::cmp::Reverse(s.start));
    chosen
}

fn select<'a>(
    list: &'a [ServiceEntry],
    supported: &[u32],
    selector: Selector,
    now: i64,
) -> Vec<&'a ServiceEntry> {
    let chosen = candidates(list, supported, now);
    let take = match selector {
        Selector::All => chosen.len(),
        Selector::Any => 1,
        Selector::Exact(n) => n as usize,
    };
    chosen.into_iter().take(take).collect()
}

fn urls(chosen: Vec<&ServiceEntry>) -> Vec<Url> {
    chosen.into_iter().map(|s| s.url.clone()).collect()
}

impl SigningConfig {
    /// Parses and validates a signing config.
    pub fn from_json(json: &[u8]) -> Result<SigningConfig, KeylessError> {
        if json.len() > MAX_CONFIG_BYTES {
            return Err(config_error(format!(
                "the signing config is larger than {MAX_CONFIG_BYTES} bytes"
            )));
        }
        let raw: RawConfig = serde_json::from_slice(json)
            .map_err(|e| config_error(format!("signing config: {e}")))?;
        if raw.media_type != MEDIA_TYPE {
            return Err(config_error(format!(
                "signing config media type {:?} is not {MEDIA_TYPE:?}",
                raw.media_type
            )));
        }
        Ok(SigningConfig {
            ca: services(&raw.ca_urls, "caUrls")?,
            oidc: services(&raw.oidc_urls, "oidcUrls")?,
            rekor: services(&raw.rekor_tlog_urls, "rekorTlogUrls")?,
            tsa: services(&raw.tsa_urls, "tsaUrls")?,
            rekor_selector: selector(raw.rekor_tlog_config.as_ref(), "rekorTlogConfig")?,
            tsa_selector: selector(raw.tsa_config.as_ref(), "tsaConfig")?,
        })
    }

    /// The public-good instance's config.
    pub fn public_good() -> SigningConfig {
        // Embedded and tested; a parse failure would be a build defect.
        SigningConfig::from_json(PUBLIC_GOOD_SIGNING_CONFIG.as_bytes()).unwrap_or(SigningConfig {
            ca: Vec::new(),
            oidc: Vec::new(),
            rekor: Vec::new(),
            tsa: Vec::new(),
            rekor_selector: Selector::Any,
            tsa_selector: Selector::Any,
        })
    }

    /// The services to use at `now` (Unix seconds), with `overrides` replacing the config's
    /// choice for each service given.
    pub fn endpoints(
        &self,
        now: i64,
        overrides: &EndpointOverrides,
    ) -> Result<Endpoints, KeylessError> {
        let fulcio = match &overrides.fulcio {
            Some(url) => url.clone(),
            None => urls(select(&self.ca, &FULCIO_VERSIONS, Selector::Any, now))
                .into_iter()
                .next()
                .ok_or_else(|| {
                    config_error(
                        "the signing config lists no certificate authority valid now; pass --fulcio-url",
                    )
                })?,
        };
        let versions = match overrides.rekor_version {
            Some(v) if REKOR_VERSIONS.contains(&v) => vec![v],
            Some(v) => {
                return Err(config_error(format!(
                    "Rekor API version {v} is not supported; vouch writes to Rekor v1 and v2"
                )));
            }
            None => REKOR_VERSIONS.to_vec(),
        };
        let (rekor, rekor_version) = match &overrides.rekor {
            Some(url) => (vec![url.clone()], overrides.rekor_version.unwrap_or(1)),
            None => {
                let chosen = select(&self.rekor, &versions, self.rekor_selector, now);
                let wanted = match self.rekor_selector {
                    Selector::Exact(n) => n as usize,
                    _ => 1,
                };
                if chosen.len() < wanted {
                    let which = match overrides.rekor_version {
                        Some(v) => format!("Rekor v{v}"),
                        None => "Rekor v1 or v2".into(),
                    };
                    return Err(config_error(format!(
                        "the signing config lists {} usable {which} log(s) valid now, {wanted} needed; pass --rekor-url",
                        chosen.len()
                    )));
                }
                let version = chosen.first().map_or(1, |s| s.major_api_version);
                (urls(chosen), version)
            }
        };
        let tsa = match &overrides.tsa {
            Some(url) => vec![url.clone()],
            None => {
                let chosen = urls(select(&self.tsa, &TSA_VERSIONS, self.tsa_selector, now));
                if let Selector::Exact(n) = self.tsa_selector
                    && chosen.len() < n as usize
                {
                    return Err(config_error(format!(
                        "the signing config asks for {n} timestamp authorities; {} are valid now",
                        chosen.len()
                    )));
                }
                chosen
            }
        };
        if rekor_version == 2 && tsa.is_empty() {
            return Err(config_error(
                "a Rekor v2 log records no signing time, so keyless signing to it needs a timestamp authority, and the signing config lists none valid now; pass --tsa-url",
            ));
        }
        Ok(Endpoints {
            fulcio,
            rekor,
            rekor_version,
            tsa,
        })
    }
}

impl Endpoints {
    /// Refuses plain-HTTP or non-HTTP URLs unless `allow_http` (a local instance).
    pub fn check(&self, allow_http: bool) -> Result<(), KeylessError> {
        crate::transport::check_url("Fulcio", &self.fulcio, allow_http)?;
        for url in &self.rekor {
            crate::transport::check_url("Rekor", url, allow_http)?;
        }
        for url in &self.tsa {
            crate::transport::check_url("TSA", url, allow_http)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn entry(url: &str, version: u32, start: &str, end: Option<&str>) -> serde_json::Value {
        let mut valid = json!({"start": start});
        if let Some(e) = end {
            valid["end"] = e.into();
        }
        json!({"url": url, "majorApiVersion": version, "validFor": valid, "operator": "t"})
    }

    #[test]
    fn public_good_selects_its_services() {
        let config = SigningConfig::from_json(PUBLIC_GOOD_SIGNING_CONFIG.as_bytes()).expect("ok");
        assert_eq!(config, SigningConfig::public_good());
        let e = config
            .endpoints(NOW, &EndpointOverrides::default())
            .expect("endpoints");
        assert_eq!(e.fulcio.as_str(), "https://fulcio.sigstore.dev/");
        assert_eq!(e.rekor[0].as_str(), "https://rekor.sigstore.dev/");
        assert_eq!(
            e.tsa[0].as_str(),
            "https://timestamp.sigstore.dev/api/v1/timestamp"
        );
        assert!(e.check(false).is_ok());
        // Before the TSA's validity started, there is none.
        let e = config
            .endpoints(1_700_000_000, &EndpointOverrides::default())
            .expect("endpoints");
        assert!(e.tsa.is_empty());
    }

    #[test]
    fn selection_by_validity_version_and_selector() {
        let config = json!({
            "mediaType": MEDIA_TYPE,
            "caUrls": [
                entry("https://old-ca.example", 1, "2020-01-01T00:00:00Z", Some("2021-01-01T00:00:00Z")),
                entry("https://ca.example", 1, "2021-01-01T00:00:00Z", None),
                entry("https://future-ca.example", 2, "2021-01-01T00:00:00Z", None),
            ],
            "rekorTlogUrls": [
                entry("https://log-a.example", 1, "2021-01-01T00:00:00Z", None),
                entry("https://log-b.example", 1, "2022-01-01T00:00:00Z", None),
                entry("https://log-v2.example", 2, "2023-01-01T00:00:00Z", None),
            ],
            "tsaUrls": [entry("https://tsa.example/api/v1/timestamp", 1, "2021-01-01T00:00:00Z", None)],
            "rekorTlogConfig": {"selector": "ALL"},
            "tsaConfig": {"selector": "ANY"},
        });
        let c = SigningConfig::from_json(&serde_json::to_vec(&config).expect("json")).expect("ok");
        let e = c
            .endpoints(NOW, &EndpointOverrides::default())
            .expect("endpoints");
        assert_eq!(e.fulcio.as_str(), "https://ca.example/");
        // The newest API version the config offers wins, as in the Sigstore clients.
        let logs: Vec<&str> = e.rekor.iter().map(Url::as_str).collect();
        assert_eq!(
            (logs.as_slice(), e.rekor_version),
            (&["https://log-v2.example/"][..], 2)
        );
        // --rekor-version 1 keeps to the v1 logs, all of them (selector ALL).
        let v1_only = EndpointOverrides {
            rekor_version: Some(1),
            ..EndpointOverrides::default()
        };
        let e = c.endpoints(NOW, &v1_only).expect("endpoints");
        let logs: Vec<&str> = e.rekor.iter().map(Url::as_str).collect();
        assert_eq!(logs, ["https://log-b.example/", "https://log-a.example/"]);
        assert_eq!(e.rekor_version, 1);
        let v3 = EndpointOverrides {
            rekor_version: Some(3),
            ..EndpointOverrides::default()
        };
        let err = c.endpoints(NOW, &v3).expect_err("v3");
        assert!(err.to_string().contains("version 3"), "{err}");

        let mut overrides = EndpointOverrides {
            fulcio: Some(Url::parse("http://127.0.0.1:1").expect("url")),
            rekor: Some(Url::parse("http://127.0.0.1:2").expect("url")),
            tsa: None,
            rekor_version: None,
        };
        let e = c.endpoints(NOW, &overrides).expect("endpoints");
        assert_eq!((e.rekor.len(), e.rekor_version), (1, 1));
        assert!(e.check(false).is_err());
        assert!(e.check(true).is_ok());
        overrides.rekor_version = Some(2);
        assert_eq!(c.endpoints(NOW, &overrides).expect("v2").rekor_version, 2);

        // Only Rekor v2 valid: chosen, with the timestamp authority it needs.
        let mut only_v2 = config.clone();
        only_v2["rekorTlogUrls"] = json!([entry(
            "https://log-v2.example",
            2,
            "2023-01-01T00:00:00Z",
            None
        )]);
        let c = SigningConfig::from_json(&serde_json::to_vec(&only_v2).expect("json")).expect("ok");
        let e = c.endpoints(NOW, &EndpointOverrides::default()).expect("v2");
        assert_eq!((e.rekor_version, e.tsa.len()), (2, 1));
        assert!(
            e.to_string().contains("Rekor v2 https://log-v2.example/"),
            "{e}"
        );
        let err = c.endpoints(NOW, &v1_only).expect_err("no v1 log");
        assert!(err.to_string().contains("Rekor v1"), "{err}");
        // ...and without one, a clear refusal.
        only_v2["tsaUrls"] = json!([]);
        let c = SigningConfig::from_json(&serde_json::to_vec(&only_v2).expect("json")).expect("ok");
        let err = c
            .endpoints(NOW, &EndpointOverrides::default())
            .expect_err("v2 without a TSA");
        assert!(err.to_string().contains("timestamp authority"), "{err}");
        assert_eq!(err.exit_code(), 2);

        // EXACT asks for more than there are.
        let mut exact = config;
        exact["rekorTlogConfig"] = json!({"selector": "EXACT", "count": 3});
        let c = SigningConfig::from_json(&serde_json::to_vec(&exact).expect("json")).expect("ok");
        assert!(c.endpoints(NOW, &EndpointOverrides::default()).is_err());
    }

    #[test]
    fn malformed_configs_are_refused() {
        for bad in [
            json!({"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.1+json"}),
            json!({"mediaType": MEDIA_TYPE, "caUrls": [{"url": "::", "majorApiVersion": 1, "validFor": {"start": "2021-01-01T00:00:00Z"}}]}),
            json!({"mediaType": MEDIA_TYPE, "caUrls": [{"url": "https://a", "majorApiVersion": 1, "validFor": {}}]}),
            json!({"mediaType": MEDIA_TYPE, "caUrls": [{"url": "https://a", "majorApiVersion": 1, "validFor": {"start": "yesterday"}}]}),
            json!({"mediaType": MEDIA_TYPE, "rekorTlogConfig": {"selector": "SOME"}}),
            json!({"mediaType": MEDIA_TYPE, "rekorTlogConfig": {"selector": "EXACT"}}),
        ] {
            let err = SigningConfig::from_json(&serde_json::to_vec(&bad).expect("json"))
                .expect_err("refused");
            assert_eq!(err.exit_code(), 2, "{err}");
        }
    }
}
