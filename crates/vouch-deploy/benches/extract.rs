//! Extraction speed on a Helm-sized stream: 5,000 documents (~10 MB) of Deployments,
//! Services and ConfigMaps. `cargo bench -p vouch-deploy --bench extract` prints the best and
//! median of 10 runs; `-- --write FILE` writes the stream instead (bench/deploy.sh times
//! `vouch images` on it for peak RSS). With `RAW=1` it also times saphyr's bare event parse of
//! the whole stream, the floor for a parser-based extraction that reads every document.

use std::fmt::Write as _;
use std::time::Instant;

/// The stream: every fifth document a ConfigMap, every fifth a Service, the rest workloads.
fn stream(documents: usize) -> String {
    let mut s = String::new();
    for i in 0..documents {
        s.push_str("---\n# Source: platform/templates/resources.yaml\n");
        match i % 5 {
            0 => {
                let _ = write!(
                    s,
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-{i}\n  namespace: prod\n  labels:\n    app.kubernetes.io/name: svc-{i}\n    app.kubernetes.io/part-of: platform\ndata:\n"
                );
                for k in 0..40 {
                    let _ = writeln!(
                        s,
                        "  key_{k}: \"value number {k} for service {i}, long enough to look real\""
                    );
                }
            }
            1 => {
                let _ = write!(
                    s,
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: prod\n  labels:\n    app.kubernetes.io/name: svc-{i}\n    app.kubernetes.io/instance: platform\n    app.kubernetes.io/managed-by: Helm\n    helm.sh/chart: platform-1.4.2\nspec:\n  type: ClusterIP\n  selector:\n    app.kubernetes.io/name: svc-{i}\n  ports:\n    - name: http\n      port: 80\n      targetPort: http\n      protocol: TCP\n    - name: metrics\n      port: 9090\n      targetPort: metrics\n      protocol: TCP\n"
                );
                for k in 0..12 {
                    let _ = writeln!(
                        s,
                        "# padding comment line {k} as Helm leaves them in rendered output"
                    );
                }
            }
            _ => {
                let _ = write!(
                    s,
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{i}\n  namespace: prod\n  labels:\n    app.kubernetes.io/name: svc-{i}\n    app.kubernetes.io/instance: platform\n    app.kubernetes.io/version: \"1.4.{i}\"\n    app.kubernetes.io/managed-by: Helm\n  annotations:\n    deployment.kubernetes.io/revision: \"3\"\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: svc-{i}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: svc-{i}\n    spec:\n      serviceAccountName: svc-{i}\n      securityContext:\n        runAsNonRoot: true\n        seccompProfile: {{type: RuntimeDefault}}\n      initContainers:\n        - name: migrate\n          image: \"registry.example.com/platform/migrate:1.4.{i}\"\n          args: [\"--database\", \"$(DATABASE_URL)\"]\n      containers:\n        - name: app\n          image: registry.example.com/platform/svc-{i}:1.4.{i}\n          imagePullPolicy: IfNotPresent\n          ports:\n            - {{name: http, containerPort: 8080, protocol: TCP}}\n            - {{name: metrics, containerPort: 9090, protocol: TCP}}\n          env:\n            - name: DATABASE_URL\n              valueFrom:\n                secretKeyRef: {{name: db-{i}, key: url}}\n            - name: LOG_LEVEL\n              value: info\n          resources:\n            requests: {{cpu: 100m, memory: 128Mi}}\n            limits: {{cpu: \"1\", memory: 512Mi}}\n          livenessProbe:\n            httpGet: {{path: /healthz, port: http}}\n          readinessProbe:\n            httpGet: {{path: /ready, port: http}}\n        - name: proxy\n          image: docker.io/envoyproxy/envoy:v1.31.{}\n          args: [\"-c\", \"/etc/envoy/envoy.yaml\"]\n      volumes:\n        - name: config\n          configMap: {{name: settings-{i}}}\n",
                    i % 7
                );
            }
        }
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let documents = 5_000;
    let text = stream(documents);
    if let Some(i) = args.iter().position(|a| a == "--write") {
        let path = args.get(i + 1).expect("--write FILE");
        std::fs::write(path, &text).expect("write the stream");
        eprintln!("wrote {path}: {documents} documents, {} bytes", text.len());
        return;
    }
    let options = vouch_deploy::Options::default();
    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..10 {
        let start = Instant::now();
        let extraction = vouch_deploy::extract(Some("stream.yaml"), text.as_bytes(), &options)
            .expect("extracts");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        found = extraction.findings.len();
    }
    times.sort_by(f64::total_cmp);
    if std::env::var_os("RAW").is_some() {
        for _ in 0..5 {
            let start = Instant::now();
            let mut p = saphyr_parser::Parser::new_from_str(&text);
            let mut n = 0usize;
            while let Some(Ok(_)) = p.next_event() {
                n += 1;
            }
            println!(
                "raw saphyr: {n} events {:.1} ms",
                start.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
    println!(
        "extract: {documents} documents, {:.1} MB, {found} images: best {:.1} ms, median {:.1} ms",
        text.len() as f64 / 1e6,
        times[0],
        times[times.len() / 2]
    );
}
