//! The listing of every file in tests/fixtures/deploy, checked exactly: no image missed, none
//! invented, each at its line and column with its kind and container.

use std::collections::BTreeMap;
use std::path::PathBuf;

use vouch_deploy::{Options, Site, extract};

fn fixture(rel: &str) -> (Vec<u8>, PathBuf) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/deploy")
        .join(rel);
    (std::fs::read(&path).expect("read fixture"), path)
}

/// One line per finding: `line:column image kind [name] [container] [stage]`, then notes.
fn listing(rel: &str, options: &Options) -> String {
    let (bytes, path) = fixture(rel);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let x = extract(name.as_deref(), &bytes, options).expect("extracts");
    let mut out = String::new();
    for f in &x.findings {
        let mut parts = vec![
            format!("{}:{}", f.line, f.column),
            f.image.clone(),
            f.kind.clone(),
        ];
        parts.extend(f.name.clone());
        parts.extend(
            f.container
                .clone()
                .map(|c| format!("{}={c}", f.field.unwrap_or("service"))),
        );
        parts.extend(f.stage.clone().map(|s| format!("stage={s}")));
        parts.extend(f.platform.clone().map(|p| format!("platform={p}")));
        out.push_str(&parts.join(" "));
        out.push('\n');
        // The span holds the text as written, so pinning edits exactly that.
        if let Site::Text { span } = f.site {
            let written = std::str::from_utf8(&bytes[span.start..span.end]).expect("utf8");
            let expected = f.written.as_deref().unwrap_or(&f.image);
            // (A FROM naming one ARG is pinned at the ARG's default, which is the image.)
            assert!(
                written == expected || written == f.image,
                "{rel}:{}: span holds {written:?}, expected {expected:?}",
                f.line
            );
        }
    }
    for n in &x.notes {
        out.push_str(&format!(
            "{} note {} {}\n",
            n.line,
            n.container.as_deref().unwrap_or("-"),
            n.message
        ));
    }
    out
}

fn compose_options() -> Options {
    let (env, _) = fixture("compose/.env");
    Options {
        dotenv: Some(String::from_utf8(env).expect("utf8")),
        ..Options::default()
    }
}

#[test]
fn helm_rendered_chart() {
    assert_eq!(
        listing("helm/rendered.yaml", &Options::default()),
        "\
60:19 registry.example.com/shop/migrate:2.3.1 Deployment shop-web initContainers=migrate
64:19 registry.example.com/shop/web:2.3.1 Deployment shop-web containers=web
70:18 registry.example.com/shop/exporter:0.9 Deployment shop-web containers=metrics
89:18 registry.example.com/library/postgres:16 StatefulSet shop-db containers=postgres
118:18 registry.example.com/shop/agent:2.3.1 DaemonSet shop-agent containers=agent
134:22 registry.example.com/shop/web:2.3.1 CronJob shop-report containers=report
150:18 registry.example.com/shop/migrate:2.3.1 Job shop-seed containers=seed
"
    );
}

#[test]
fn kustomize_output() {
    assert_eq!(
        listing("kustomize/build.yaml", &Options::default()),
        "\
44:16 registry.example.com/team/api:1.8.0 Deployment api containers=api
46:16 registry.example.com/team/sidecar@sha256:2b0b5a7bd3f8e0d4c2a1f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8 Deployment api containers=sidecar
56:12 registry.example.com/team/api:1.8.0 Pod debug containers=api
59:12 registry.example.com/tools/netshoot:0.13 Pod debug ephemeralContainers=debugger
64:18 registry.example.com/team/models:2024-06 Pod debug volumes=models
80:16 registry.example.com/team/legacy:0.1 ReplicationController legacy containers=legacy
98:16 registry.example.com/team/api:1.9.0-rc.1 ReplicaSet canary containers=api
112:14 registry.example.com/team/worker:1.8.0 PodTemplate worker-template containers=worker
"
    );
}

#[test]
fn operator_custom_resources() {
    assert_eq!(
        listing("operator/cluster.yaml", &Options::default()),
        "\
12:16 registry.example.com/db/postgres-ha:16.4 PostgresCluster orders containers=postgres
18:18 registry.example.com/db/bootstrap:16.4 PostgresCluster orders initContainers=bootstrap
27:24 registry.example.com/db/backup:2.1 PostgresCluster orders containers=backup
42:18 registry.example.com/shop/checkout:3.0.0 Rollout checkout containers=checkout
"
    );
}

#[test]
fn compose_project_with_dotenv() {
    assert_eq!(
        listing("compose/compose.yaml", &compose_options()),
        "\
4:12 registry.example.com/shop/web:2.3.1 compose-service service=web
9:13 registry.example.com/library/postgres:16 compose-service service=db platform=linux/amd64
12:13 registry.example.com/library/redis:7.4.1 compose-service service=cache
19:12 registry.example.com/shop/admin:1.2 compose-service service=admin
13 note worker built from ./worker; no image to verify
"
    );
}

#[test]
fn compose_environment_wins_over_dotenv() {
    let mut options = compose_options();
    options.env = BTreeMap::from([
        ("REGISTRY".to_string(), "127.0.0.1:5000".to_string()),
        ("WEB_TAG".to_string(), "9".to_string()),
    ]);
    let listed = listing("compose/compose.yaml", &options);
    assert!(
        listed.starts_with("4:12 127.0.0.1:5000/shop/web:9 "),
        "{listed}"
    );
    // Without .env, ADMIN_TAG's `:?` fires, naming the line.
    let (bytes, _) = fixture("compose/compose.yaml");
    let e = extract(Some("compose.yaml"), &bytes, &Options::default()).expect_err("refused");
    assert_eq!(
        e.to_string(),
        "4:12: service \"web\": variable REGISTRY is not set (set it in the environment or in .env beside the file, or give a default: ${REGISTRY:-…})"
    );
}

#[test]
fn multi_stage_dockerfiles() {
    assert_eq!(
        listing("docker/Dockerfile", &Options::default()),
        "\
6:32 registry.example.com/library/golang:1.22-alpine dockerfile-from stage=build platform=$BUILDPLATFORM
11:28 registry.example.com/tools/protoc:25.1 dockerfile-mount-from stage=build
17:6 registry.example.com/library/distroless-static:nonroot dockerfile-from stage=2
19:13 registry.example.com/tools/certs:2024 dockerfile-copy-from stage=2
"
    );
    assert_eq!(
        listing("docker/tools.Dockerfile", &Options::default()),
        "6:6 registry.example.com/library/alpine:3.20 dockerfile-from stage=base\n"
    );
    let args = Options {
        build_args: BTreeMap::from([
            ("GO_VERSION".to_string(), "1.23".to_string()),
            ("BUILDPLATFORM".to_string(), "linux/amd64".to_string()),
        ]),
        ..Options::default()
    };
    let listed = listing("docker/Dockerfile", &args);
    assert!(
        listed.starts_with("6:32 registry.example.com/library/golang:1.23-alpine dockerfile-from stage=build platform=linux/amd64\n"),
        "{listed}"
    );
}

#[test]
fn json_list() {
    assert_eq!(
        listing("json/list.json", &Options::default()),
        "13:63 registry.example.com/edge/proxy:1.27 Deployment edge containers=proxy\n"
    );
}
