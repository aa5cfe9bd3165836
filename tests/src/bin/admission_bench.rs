//! The admission webhook's benchmark (bench/admission.sh, figures in docs/performance.md):
//! a real registry with 4 signed images, `vouch serve` (the release binary), and the API
//! server's side of the protocol. Cold: one 8-container pod with 4 distinct images — registry
//! requests (through a counting proxy) and time, against `vouch verify` of the 4 images.
//! Warm: reviews of such pods at 200 concurrent — p50/p99 latency, throughput, peak RSS.
//!
//! Usage: admission_bench [REVIEWS] (default 5000). VOUCH_BIN: the binary measured
//! (default target/release/vouch).

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vouch_e2e::fault_proxy::FaultProxy;
use vouch_e2e::kube::{Kind, PodImages, ReviewBuilder, WebhookClient, WebhookConfig};
use vouch_e2e::tls::{TlsFiles, TlsOptions};
use vouch_e2e::{Registry, TestImage, keygen, sign, workspace_root};

fn main() {
    let reviews: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000);
    let bin = std::env::var_os("VOUCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release/vouch"));
    assert!(
        bin.is_file(),
        "{} missing: cargo build --release -p vouch",
        bin.display()
    );
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg.host);
    let dir = tempfile::tempdir().expect("dir");
    let (key, _) = keygen(dir.path(), "release", "ecdsa-p256");
    let mut images = Vec::new();
    for i in 0..4 {
        let img = TestImage::new(&format!("bench {i}"));
        img.push(&reg, &format!("apps/app{i}"), "1.0");
        // Signed through the proxy: the signature names the repository as clients see it.
        let reference = format!("{}:1.0", proxy.image(&format!("apps/app{i}")));
        sign(&reference, &key, &[]).expect_code(0);
        images.push(reference);
    }
    let policy = dir.path().join("policy.yaml");
    let host = proxy.image("x").trim_end_matches("/x").to_string();
    std::fs::write(
        &policy,
        format!(
            "version: 1\nsigners:\n  release-ci:\n    keys: [release.pub]\nrules:\n  - name: apps\n    images: [\"{host}/apps/**\"]\n    require: {{signers: [release-ci]}}\ndefault: deny\n"
        ),
    )
    .expect("policy");
    let cache = dir.path().join("cache");

    // `vouch verify` of the 4 images, cold (no cache), for comparison.
    proxy.requests();
    let before = proxy.count();
    let start = Instant::now();
    let status = Command::new(&bin)
        .args([
            "--allow-insecure-registry",
            "verify",
            "--no-cache",
            "--policy",
        ])
        .arg(&policy)
        .args(&images)
        .env("XDG_CACHE_HOME", &cache)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("vouch verify");
    let verify_time = start.elapsed();
    assert!(status.success(), "vouch verify failed");
    let verify_requests = proxy.count() - before;

    let tls = TlsFiles::generate_with(TlsOptions {
        server_names: vec!["vouch-webhook.vouch-system.svc".into(), "localhost".into()],
        expired: false,
    });
    let mut child = Command::new(&bin)
        .args([
            "--allow-insecure-registry",
            "serve",
            "--no-cache",
            "--policy",
        ])
        .arg(&policy)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&tls.server_cert)
        .arg("--tls-key")
        .arg(&tls.server_key)
        .env("XDG_CACHE_HOME", &cache)
        .stderr(Stdio::piped())
        .spawn()
        .expect("vouch serve");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let address = loop {
        let line = lines.next().expect("serve log").expect("line");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["event"] == "listening" {
            break v["address"]
                .as_str()
                .expect("address")
                .parse()
                .expect("addr");
        }
    };
    // Drain the log (one line per review) so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    let client = WebhookClient::new(WebhookConfig::vouch_mutating(
        address,
        tls.ca_pem.as_bytes(),
    ));
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let review = |i: usize| {
        ReviewBuilder::create(Kind::Pod.object(
            "bench",
            &format!("p{i}"),
            &PodImages::cycled(&refs, 8),
        ))
        .build()
    };

    let before = proxy.count();
    let cold = client.send(&review(0));
    assert!(cold.allowed().changed);
    let cold_requests = proxy.count() - before;

    let batch: Vec<_> = (1..=reviews).map(review).collect();
    let start = Instant::now();
    let outcomes = client.send_concurrently(&batch, 200);
    let wall = start.elapsed();
    let mut latencies: Vec<Duration> = outcomes
        .iter()
        .map(|o| {
            assert!(o.allowed().changed);
            o.elapsed
        })
        .collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_string();
    // The server's own view: time from request to answer, from its histogram.
    let metrics = tls
        .agent()
        .get(&format!("https://localhost:{}/metrics", address.port()))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    let server_side = histogram_quantiles(
        &metrics,
        "vouch_admission_review_duration_seconds_bucket{webhook=\"mutate\"",
    );
    let _ = child.kill();
    let _ = child.wait();

    println!("| figure | value |\n|---|---|");
    println!(
        "| `vouch verify` of the 4 images, cold | {:.0} ms, {verify_requests} registry requests |",
        verify_time.as_secs_f64() * 1e3
    );
    println!(
        "| one 8-container pod (4 distinct images), cold | {:.0} ms, {cold_requests} registry requests |",
        cold.elapsed.as_secs_f64() * 1e3
    );
    println!(
        "| warm reviews at 200 concurrent | {reviews} in {:.2} s: {:.0} reviews/s |",
        wall.as_secs_f64(),
        reviews as f64 / wall.as_secs_f64()
    );
    println!(
        "| warm review latency p50 / p99 | {:.2} ms / {:.2} ms |",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    println!(
        "| warm review time in the server, p50 / p99 (histogram bucket bounds) | ≤ {} / ≤ {} |",
        server_side.0, server_side.1
    );
    println!(
        "| peak RSS of `vouch serve` | {} |",
        hwm.trim_start_matches("VmHWM:").trim()
    );
}

/// The upper bounds of the buckets holding the median and the 99th percentile.
fn histogram_quantiles(metrics: &str, prefix: &str) -> (String, String) {
    let buckets: Vec<(String, f64)> = metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?.to_string();
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, count))
        })
        .collect();
    let total = buckets.last().map(|b| b.1).unwrap_or(0.0);
    let at = |q: f64| {
        buckets
            .iter()
            .find(|(_, c)| *c >= total * q)
            .map(|(le, _)| format!("{le} s"))
            .unwrap_or_else(|| "?".into())
    };
    (at(0.5), at(0.99))
}
