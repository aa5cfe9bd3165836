//! The benchmark's floor: the HTTP requests a signature verifier cannot avoid, issued by a
//! minimal blocking client, and nothing else (no signature checks, no policy, no cache).
//!
//! For each image reference read from a file (one per line, `host/repo@sha256:…` or
//! `host/repo:tag`):
//!
//! 1. a tag reference first costs `GET /v2/<repo>/manifests/<tag>` (the digest is the SHA-256
//!    of the bytes served);
//! 2. `GET /v2/<repo>/manifests/sha256-<hex>.sig` with the OCI Accept header;
//! 3. `GET /v2/<repo>/blobs/<digest>` for each simple-signing layer it lists.
//!
//! Every body is read in full and every blob checked against its digest. `--jobs` worker
//! threads each own one keep-alive connection (one `ureq::Agent` per thread, so no pool can
//! close and reopen connections behind our back) and take the next image from a shared
//! counter. Plain HTTP only.
//!
//! With `--referrers`, each image also costs what a verifier that looks for Sigstore bundles
//! attached as OCI referrers pays first: `GET /v2/<repo>/referrers/<digest>` and, when the
//! registry has no Referrers API (404), `GET /v2/<repo>/manifests/sha256-<hex>` (the
//! fallback tag). Either may be 404 (no referrers); the bundles themselves are not fetched.
//!
//! With `--manifest-only`, the blobs are not fetched: the floor of a verifier that, like
//! vouch, can compute an unannotated payload from the image digest and repository and only
//! checks it against the layer digest (a blob is fetched only when that fails).
//!
//! Usage: `floor --refs FILE [--jobs N] [--count N] [--referrers] [--manifest-only]`. Prints one line,
//! `floor: N images, R requests, B bytes, T ms`, on stdout; exits 1 if any request failed
//! or any image had no signature layer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::Digest as _;

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

struct Args {
    refs: String,
    jobs: usize,
    count: Option<usize>,
    referrers: bool,
    manifest_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut refs = None;
    let mut jobs = 8;
    let mut count = None;
    let mut referrers = false;
    let mut manifest_only = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--referrers" => referrers = true,
            "--manifest-only" => manifest_only = true,
            "--refs" => refs = Some(value("--refs")?),
            "--jobs" => {
                jobs = value("--jobs")?
                    .parse()
                    .map_err(|e| format!("--jobs: {e}"))?
            }
            "--count" => {
                count = Some(
                    value("--count")?
                        .parse()
                        .map_err(|e| format!("--count: {e}"))?,
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        refs: refs.ok_or("--refs FILE is required")?,
        jobs: jobs.max(1),
        count,
        referrers,
        manifest_only,
    })
}

/// `host`, `repo`, and either a digest (`sha256:…`) or a tag.
struct Target {
    host: String,
    repo: String,
    digest: Option<String>,
    tag: Option<String>,
}

fn parse_ref(r: &str) -> Result<Target, String> {
    let (host, rest) = r.split_once('/').ok_or(format!("{r}: no repository"))?;
    if let Some((repo, digest)) = rest.split_once('@') {
        return Ok(Target {
            host: host.into(),
            repo: repo.into(),
            digest: Some(digest.into()),
            tag: None,
        });
    }
    let (repo, tag) = match rest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (rest, "latest"),
    };
    Ok(Target {
        host: host.into(),
        repo: repo.into(),
        digest: None,
        tag: Some(tag.into()),
    })
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
}

fn get(
    agent: &ureq::Agent,
    url: &str,
    accept: Option<&str>,
    counters: &Counters,
) -> Result<Vec<u8>, String> {
    match get_any(agent, url, accept, counters)? {
        (200, body) => Ok(body),
        (status, _) => Err(format!("GET {url}: status {status}")),
    }
}

/// A GET whatever its status: (status, body).
fn get_any(
    agent: &ureq::Agent,
    url: &str,
    accept: Option<&str>,
    counters: &Counters,
) -> Result<(u16, Vec<u8>), String> {
    let mut req = agent.get(url);
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .with_config()
        .limit(4 << 20)
        .read_to_vec()
        .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
    counters
        .bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    Ok((status, body))
}

/// The referrers lookup: the Referrers API, else the `sha256-<hex>` fallback tag.
fn fetch_referrers(
    agent: &ureq::Agent,
    base: &str,
    digest: &str,
    counters: &Counters,
) -> Result<(), String> {
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    let url = format!("{base}/referrers/{digest}");
    match get_any(agent, &url, Some(INDEX), counters)? {
        (200, _) => return Ok(()),
        (404, _) => {}
        (status, _) => return Err(format!("GET {url}: status {status}")),
    }
    let url = format!("{base}/manifests/{}", digest.replace(':', "-"));
    match get_any(agent, &url, Some(INDEX), counters)? {
        (200 | 404, _) => Ok(()),
        (status, _) => Err(format!("GET {url}: status {status}")),
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The requests for one image; Ok(number of signature layers fetched).
fn fetch_one(
    agent: &ureq::Agent,
    r: &str,
    referrers: bool,
    manifest_only: bool,
    counters: &Counters,
) -> Result<usize, String> {
    let t = parse_ref(r)?;
    let base = format!("http://{}/v2/{}", t.host, t.repo);
    let digest = match (t.digest, t.tag) {
        (Some(d), _) => d,
        (None, Some(tag)) => sha256(&get(
            agent,
            &format!("{base}/manifests/{tag}"),
            Some(ACCEPT),
            counters,
        )?),
        (None, None) => return Err(format!("{r}: neither tag nor digest")),
    };
    if referrers {
        fetch_referrers(agent, &base, &digest, counters)?;
    }
    let sig_tag = format!("{}.sig", digest.replace(':', "-"));
    let manifest = get(
        agent,
        &format!("{base}/manifests/{sig_tag}"),
        Some(ACCEPT),
        counters,
    )?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest).map_err(|e| format!("{r}: .sig manifest: {e}"))?;
    let mut fetched = 0;
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        if layer["mediaType"] != SIMPLE_SIGNING {
            continue;
        }
        let Some(layer_digest) = layer["digest"].as_str() else {
            return Err(format!("{r}: layer without digest"));
        };
        if manifest_only {
            fetched += 1;
            continue;
        }
        let blob = get(
            agent,
            &format!("{base}/blobs/{layer_digest}"),
            None,
            counters,
        )?;
        if sha256(&blob) != layer_digest {
            return Err(format!(
                "{r}: blob {layer_digest} does not match its digest"
            ));
        }
        fetched += 1;
    }
    if fetched == 0 {
        return Err(format!("{r}: no signature layer"));
    }
    Ok(fetched)
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("floor: {e}\nusage: floor --refs FILE [--jobs N] [--count N]");
            return std::process::ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(&args.refs) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("floor: cannot read {}: {e}", args.refs);
            return std::process::ExitCode::from(2);
        }
    };
    let mut refs: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if let Some(n) = args.count {
        refs.truncate(n);
    }
    let refs = Arc::new(refs);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let counters = Arc::new(Counters::default());
    let referrers = args.referrers;
    let manifest_only = args.manifest_only;
    let start = Instant::now();
    let workers: Vec<_> = (0..args.jobs.min(refs.len().max(1)))
        .map(|_| {
            let (refs, next, failures, counters) = (
                Arc::clone(&refs),
                Arc::clone(&next),
                Arc::clone(&failures),
                Arc::clone(&counters),
            );
            std::thread::spawn(move || {
                // One agent per worker: one keep-alive connection, reused for every request.
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(r) = refs.get(i) else { break };
                    if let Err(e) = fetch_one(&agent, r, referrers, manifest_only, &counters)
                        && failures.fetch_add(1, Ordering::Relaxed) < 5
                    {
                        eprintln!("floor: {e}");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        if w.join().is_err() {
            failures.fetch_add(1, Ordering::Relaxed);
        }
    }
    let elapsed = start.elapsed();
    println!(
        "floor: {} images, {} requests, {} bytes, {:.1} ms, {} jobs",
        refs.len(),
        counters.requests.load(Ordering::Relaxed),
        counters.bytes.load(Ordering::Relaxed),
        elapsed.as_secs_f64() * 1000.0,
        args.jobs
    );
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("floor: {failed} images failed");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}
