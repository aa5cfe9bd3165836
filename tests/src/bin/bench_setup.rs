//! Benchmark setup helper (bench/run.sh).
//!
//! `bench_setup port`: prints a free port on 127.0.0.1.
//!
//! `bench_setup push --registry HOST --prefix PATH --count N [--repos R] [--jobs J]
//! --out FILE [--tags-out FILE]`: pushes N distinct single-platform OCI images to the
//! plain-HTTP registry at HOST, spread over R repositories `PATH/app0` … `PATH/app{R-1}`,
//! image `i` in repository `i % R` tagged `i<i>`. All images share one config blob and one
//! layer blob (pushed once per repository); their manifests differ by an annotation, so
//! pushing 10,000 images is 10,000 small manifest PUTs. Writes the digest references
//! (`HOST/PATH/appK@sha256:…`) to `--out` and the tag references to `--tags-out`, one per
//! line, in image order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use vouch_e2e::TestImage;
use vouch_e2e::image::{Blob, OCI_MANIFEST};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn push_blob(agent: &ureq::Agent, host: &str, repo: &str, blob: &Blob) -> Result<(), String> {
    let base = format!("http://{host}/v2/{repo}");
    let start = agent
        .post(&format!("{base}/blobs/uploads/"))
        .send_empty()
        .map_err(|e| format!("start upload to {repo}: {e}"))?;
    if start.status() != 202 {
        return Err(format!("start upload to {repo}: status {}", start.status()));
    }
    let location = start
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or("upload without Location")?
        .to_string();
    let url = if location.starts_with("http") {
        location
    } else {
        format!("http://{host}{location}")
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let resp = agent
        .put(&format!("{url}{sep}digest={}", blob.digest))
        .header("Content-Type", "application/octet-stream")
        .send(&blob.bytes[..])
        .map_err(|e| format!("upload blob to {repo}: {e}"))?;
    if resp.status() != 201 {
        return Err(format!("upload blob to {repo}: status {}", resp.status()));
    }
    Ok(())
}

fn push_manifest(
    agent: &ureq::Agent,
    host: &str,
    repo: &str,
    tag: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let resp = agent
        .put(&format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .header("Content-Type", OCI_MANIFEST)
        .send(bytes)
        .map_err(|e| format!("put manifest {repo}:{tag}: {e}"))?;
    if resp.status() != 201 {
        return Err(format!(
            "put manifest {repo}:{tag}: status {}",
            resp.status()
        ));
    }
    Ok(())
}

struct PushArgs {
    registry: String,
    prefix: String,
    count: usize,
    repos: usize,
    jobs: usize,
    out: String,
    tags_out: Option<String>,
}

fn parse_push(mut it: impl Iterator<Item = String>) -> Result<PushArgs, String> {
    let (mut registry, mut prefix, mut out, mut tags_out) = (None, None, None, None);
    let (mut count, mut repos, mut jobs) = (None, 10, 8);
    while let Some(arg) = it.next() {
        let value = it.next().ok_or(format!("{arg} needs a value"))?;
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{arg}: {e}"));
        match arg.as_str() {
            "--registry" => registry = Some(value),
            "--prefix" => prefix = Some(value),
            "--count" => count = Some(number(&value)?),
            "--repos" => repos = number(&value)?.max(1),
            "--jobs" => jobs = number(&value)?.max(1),
            "--out" => out = Some(value),
            "--tags-out" => tags_out = Some(value),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(PushArgs {
        registry: registry.ok_or("--registry is required")?,
        prefix: prefix.ok_or("--prefix is required")?,
        count: count.ok_or("--count is required")?,
        repos,
        jobs,
        out: out.ok_or("--out is required")?,
        tags_out,
    })
}

/// The manifest of image `i`: the shared config and layer, and an annotation naming it.
fn manifest(base: &TestImage, prefix: &str, i: usize) -> Blob {
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": base.config.digest, "size": base.config.bytes.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": base.layer.digest, "size": base.layer.bytes.len()}],
        "annotations": {"dev.vouch.bench.image": format!("{prefix}/{i}")},
    });
    Blob::new(serde_json::to_vec(&m).expect("manifest JSON"))
}

fn push(args: PushArgs) -> Result<(), String> {
    let started = Instant::now();
    let base = TestImage::new("vouch benchmark image\n");
    let repos: Vec<String> = (0..args.repos.min(args.count.max(1)))
        .map(|k| format!("{}/app{k}", args.prefix))
        .collect();
    let setup = agent();
    for repo in &repos {
        push_blob(&setup, &args.registry, repo, &base.layer)?;
        push_blob(&setup, &args.registry, repo, &base.config)?;
    }
    let digests: Vec<Blob> = (0..args.count)
        .map(|i| manifest(&base, &args.prefix, i))
        .collect();
    let digests = Arc::new(digests);
    let repos = Arc::new(repos);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..args.jobs)
        .map(|_| {
            let (digests, repos, next) =
                (Arc::clone(&digests), Arc::clone(&repos), Arc::clone(&next));
            let host = args.registry.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let agent = agent();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(m) = digests.get(i) else {
                        return Ok(());
                    };
                    let repo = &repos[i % repos.len()];
                    push_manifest(&agent, &host, repo, &format!("i{i}"), &m.bytes)?;
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| "a push thread panicked".to_string())??;
    }
    let mut refs = String::new();
    let mut tags = String::new();
    for (i, m) in digests.iter().enumerate() {
        let repo = &repos[i % repos.len()];
        refs.push_str(&format!("{}/{repo}@{}\n", args.registry, m.digest));
        tags.push_str(&format!("{}/{repo}:i{i}\n", args.registry));
    }
    std::fs::write(&args.out, refs).map_err(|e| format!("write {}: {e}", args.out))?;
    if let Some(t) = &args.tags_out {
        std::fs::write(t, tags).map_err(|e| format!("write {t}: {e}"))?;
    }
    eprintln!(
        "bench_setup: pushed {} images to {}/{} in {:.1} s",
        args.count,
        args.registry,
        args.prefix,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let mut it = std::env::args().skip(1);
    let result = match it.next().as_deref() {
        Some("port") => std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| println!("{}", a.port()))
            .map_err(|e| format!("bind 127.0.0.1:0: {e}")),
        Some("push") => parse_push(it).and_then(push),
        _ => Err("usage: bench_setup port | bench_setup push --registry HOST --prefix PATH --count N [--repos R] [--jobs J] --out FILE [--tags-out FILE]".into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_setup: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
