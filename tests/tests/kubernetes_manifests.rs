//! deploy/kubernetes: every manifest parses as YAML and says what running vouch as a webhook
//! needs (the webhook configurations above all: Fail, None, 10 s, Equivalent, v1, the rules,
//! the namespace exclusion); the example policy passes `vouch policy check`; cert-manager.yaml
//! keeps the same webhooks; gen-certs.sh makes a certificate the API server would accept.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use saphyr::{LoadableYamlNode as _, ScalarOwned, YamlOwned};
use serde_json::{Map, Value, json};
use vouch_e2e::{Run, vouch, workspace_root};

fn deploy_dir() -> PathBuf {
    workspace_root().join("deploy/kubernetes")
}

fn to_json(y: &YamlOwned, file: &Path) -> Value {
    match y {
        YamlOwned::Value(s) => match s {
            ScalarOwned::Null => Value::Null,
            ScalarOwned::Boolean(b) => json!(b),
            ScalarOwned::Integer(i) => json!(i),
            ScalarOwned::FloatingPoint(f) => json!(f.into_inner()),
            ScalarOwned::String(s) => json!(s),
        },
        YamlOwned::Sequence(items) => items.iter().map(|i| to_json(i, file)).collect(),
        YamlOwned::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    YamlOwned::Value(ScalarOwned::String(s)) => s.clone(),
                    other => panic!("{}: a non-string key {other:?}", file.display()),
                };
                out.insert(key, to_json(v, file));
            }
            Value::Object(out)
        }
        other => panic!(
            "{}: {other:?}: anchors, aliases and tags are not used in manifests",
            file.display()
        ),
    }
}

/// Every document of a manifest file, as JSON.
fn load(name: &str) -> Vec<Value> {
    let path = deploy_dir().join(name);
    let text = std::fs::read_to_string(&path).expect("read manifest");
    yaml_1_1_safe(&text, &path);
    let docs = YamlOwned::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
    docs.iter().map(|d| to_json(d, &path)).collect()
}

/// kubectl reads YAML 1.1 (sigs.k8s.io/yaml): plain `yes`/`no`/`on`/`off` are booleans and a
/// leading `0` makes an octal number there, unlike in YAML 1.2. Manifests avoid both.
fn yaml_1_1_safe(text: &str, path: &Path) {
    for (i, line) in text.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or("").trim_end();
        if code.trim_start().starts_with('#') {
            continue;
        }
        let Some((_, value)) = code.split_once(": ") else {
            continue;
        };
        let v = value.trim();
        let ambiguous =
            matches!(
                v.to_ascii_lowercase().as_str(),
                "yes" | "no" | "on" | "off" | "y" | "n"
            ) || (v.len() > 1 && v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit()));
        assert!(
            !ambiguous,
            "{}:{}: {v:?} reads differently in YAML 1.1 (kubectl) and 1.2: quote it or \
             write it plainly",
            path.display(),
            i + 1
        );
    }
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .expect("matchLabels")
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn vouch_yaml_runs_vouch_as_the_webhook_service() {
    let docs = load("vouch.yaml");
    let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ConfigMap",
            "Deployment",
            "Namespace",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount"
        ])
    );
    for d in &docs {
        if d["kind"] != "Namespace" {
            assert_eq!(d["metadata"]["namespace"], "vouch-system", "{}", d["kind"]);
        }
    }
    assert_eq!(find(&docs, "Namespace")["metadata"]["name"], "vouch-system");

    let deploy = find(&docs, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(
        deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );
    let pod = &deploy["spec"]["template"];
    let pod_labels = &pod["metadata"]["labels"];
    assert!(labels_match(
        &deploy["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    let spec = &pod["spec"];
    assert_eq!(
        spec["serviceAccountName"],
        find(&docs, "ServiceAccount")["metadata"]["name"]
    );
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert!(
        spec["securityContext"]["runAsUser"]
            .as_i64()
            .is_some_and(|u| u > 0)
    );
    let anti = &spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        [0]["podAffinityTerm"];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    assert!(labels_match(
        &anti["labelSelector"]["matchLabels"],
        pod_labels
    ));

    let containers = spec["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        args,
        [
            "serve",
            "--policy",
            "/etc/vouch/policy.yaml",
            "--listen",
            "0.0.0.0:8443",
            "--tls-cert",
            "/etc/vouch/tls/tls.crt",
            "--tls-key",
            "/etc/vouch/tls/tls.key"
        ]
    );
    assert_eq!(
        c["ports"][0],
        json!({"name": "https", "containerPort": 8443, "protocol": "TCP"})
    );
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], "https", "{probe}");
        assert_eq!(get["scheme"], "HTTPS", "{probe}");
    }
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));

    // /etc/vouch holds policy.yaml and tls/ from the ConfigMap and the TLS Secret, in one
    // projected volume so both update in place.
    let mount = c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["mountPath"] == "/etc/vouch")
        .expect("/etc/vouch mount");
    assert!(
        mount.get("subPath").is_none(),
        "subPath mounts never update"
    );
    let volume = spec["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume");
    let sources = volume["projected"]["sources"]
        .as_array()
        .expect("projected");
    let mut paths = BTreeSet::new();
    for s in sources {
        let (kind, name) = if s.get("configMap").is_some() {
            ("configMap", s["configMap"]["name"].as_str())
        } else {
            ("secret", s["secret"]["name"].as_str())
        };
        for item in s[kind]["items"].as_array().expect("items") {
            paths.insert((name.expect("name"), item["path"].as_str().expect("path")));
        }
    }
    assert_eq!(
        paths,
        BTreeSet::from([
            ("vouch-policy", "policy.yaml"),
            ("vouch-webhook-tls", "tls/tls.crt"),
            ("vouch-webhook-tls", "tls/tls.key")
        ])
    );
    assert_eq!(volume["projected"]["defaultMode"], 0o440);

    let service = find(&docs, "Service");
    assert_eq!(service["metadata"]["name"], "vouch-webhook");
    assert!(labels_match(&service["spec"]["selector"], pod_labels));
    assert_eq!(service["spec"]["ports"][0]["port"], 443);
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"],
        c["ports"][0]["name"]
    );

    let pdb = find(&docs, "PodDisruptionBudget");
    assert!(labels_match(
        &pdb["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    assert!(
        pdb["spec"]["minAvailable"]
            .as_i64()
            .is_some_and(|m| (1..2).contains(&m))
    );
}

#[test]
fn the_example_policy_in_the_config_map_passes_policy_check() {
    let docs = load("vouch.yaml");
    let policy = find(&docs, "ConfigMap")["data"]["policy.yaml"]
        .as_str()
        .expect("policy.yaml");
    assert!(policy.contains("mode: warn"), "a first install warns");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, policy).expect("write policy");
    let run = Run::of(vouch().args(["policy", "check"]).arg(&file));
    assert_eq!(run.code, 0, "{}", run.all());
}

/// The webhooks of a configuration, with their shared expectations checked.
fn check_webhooks(config: &Value, mutating: bool) -> Vec<Value> {
    let webhooks = config["webhooks"].as_array().expect("webhooks").clone();
    assert!(!webhooks.is_empty());
    for w in &webhooks {
        let name = w["name"].as_str().expect("name");
        assert!(name.split('.').count() >= 3, "{name}: not fully qualified");
        assert_eq!(w["failurePolicy"], "Fail", "{name}");
        assert_eq!(w["sideEffects"], "None", "{name}");
        assert_eq!(w["timeoutSeconds"], 10, "{name}");
        assert_eq!(w["matchPolicy"], "Equivalent", "{name}");
        assert_eq!(w["admissionReviewVersions"], json!(["v1"]), "{name}");
        let svc = &w["clientConfig"]["service"];
        assert_eq!(svc["name"], "vouch-webhook");
        assert_eq!(svc["namespace"], "vouch-system");
        assert_eq!(svc["port"], 443);
        assert_eq!(svc["path"], if mutating { "/mutate" } else { "/validate" });
        assert!(w["clientConfig"].get("url").is_none());
        assert_eq!(
            w["namespaceSelector"],
            json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name",
                                          "operator": "NotIn", "values": ["vouch-system"]}]}),
            "{name}: exclude vouch's namespace and nothing else"
        );
        assert!(w.get("objectSelector").is_none(), "{name}");
        if mutating {
            assert_eq!(w["reinvocationPolicy"], "IfNeeded", "{name}");
        } else {
            assert!(w.get("reinvocationPolicy").is_none());
        }
        let mut covered = BTreeSet::new();
        for rule in w["rules"].as_array().expect("rules") {
            let ops: BTreeSet<&str> = rule["operations"]
                .as_array()
                .expect("operations")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                ops.contains("CREATE") && ops.contains("UPDATE"),
                "{name}: {ops:?}"
            );
            assert_eq!(rule["apiVersions"], json!(["v1"]));
            assert_eq!(rule["scope"], "Namespaced");
            for g in rule["apiGroups"].as_array().expect("groups") {
                for r in rule["resources"].as_array().expect("resources") {
                    covered.insert(format!(
                        "{}/{}",
                        g.as_str().expect("group"),
                        r.as_str().expect("resource")
                    ));
                }
            }
        }
        let wanted: BTreeSet<String> = [
            "/pods",
            "/pods/ephemeralcontainers",
            "/replicationcontrollers",
            "/podtemplates",
            "apps/deployments",
            "apps/replicasets",
            "apps/statefulsets",
            "apps/daemonsets",
            "batch/jobs",
            "batch/cronjobs",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(covered, wanted, "{name}");
    }
    webhooks
}

#[test]
fn webhook_configurations_fail_closed_and_cover_every_workload() {
    let docs = load("webhooks.yaml");
    assert_eq!(docs.len(), 2);
    let m = find(&docs, "MutatingWebhookConfiguration");
    let v = find(&docs, "ValidatingWebhookConfiguration");
    for d in [m, v] {
        assert_eq!(d["apiVersion"], "admissionregistration.k8s.io/v1");
    }
    let mw = check_webhooks(m, true);
    let vw = check_webhooks(v, false);
    assert_eq!(mw[0]["name"], "mutate.vouch.dev");
    assert_eq!(vw[0]["name"], "validate.vouch.dev");
    // gen-certs.sh fills these in.
    assert_eq!(mw[0]["clientConfig"]["caBundle"], "");
    assert_eq!(vw[0]["clientConfig"]["caBundle"], "");
    // The same rules for both.
    assert_eq!(mw[0]["rules"], vw[0]["rules"]);
}

#[test]
fn cert_manager_yaml_has_the_same_webhooks_with_the_injector_annotation() {
    let cm = load("cert-manager.yaml");
    let plain = load("webhooks.yaml");
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let mut ours = find(&cm, kind).clone();
        assert_eq!(
            ours["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "vouch-system/vouch-webhook",
            "{kind}"
        );
        ours["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("annotations");
        let mut theirs = find(&plain, kind).clone();
        for w in theirs["webhooks"].as_array_mut().expect("webhooks") {
            w["clientConfig"]
                .as_object_mut()
                .expect("clientConfig")
                .remove("caBundle");
        }
        assert_eq!(ours, theirs, "{kind} drifted from webhooks.yaml");
    }
    let cert = cm
        .iter()
        .find(|d| d["kind"] == "Certificate" && d["metadata"]["name"] == "vouch-webhook")
        .expect("serving Certificate");
    assert_eq!(cert["spec"]["secretName"], "vouch-webhook-tls");
    assert!(
        cert["spec"]["dnsNames"]
            .as_array()
            .expect("dnsNames")
            .contains(&json!("vouch-webhook.vouch-system.svc"))
    );
    assert!(
        cert["spec"]["usages"]
            .as_array()
            .expect("usages")
            .contains(&json!("server auth"))
    );
}

/// Runs gen-certs.sh without kubectl and checks, with a real TLS handshake, that the
/// certificate it makes is accepted for vouch-webhook.vouch-system.svc by a client trusting
/// only the caBundle it wrote into webhooks.yaml, as kube-apiserver trusts it.
#[test]
fn gen_certs_makes_a_certificate_the_api_server_accepts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = Run::of(
        std::process::Command::new("bash")
            .arg(deploy_dir().join("gen-certs.sh"))
            .args(["--no-apply", "--dir"])
            .arg(dir.path()),
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let read = |name: &str| std::fs::read(dir.path().join(name)).expect("generated file");

    let secret = YamlOwned::load_from_str(&String::from_utf8(read("secret.yaml")).expect("utf-8"))
        .expect("secret.yaml is YAML");
    let secret = to_json(&secret[0], Path::new("secret.yaml"));
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(secret["metadata"]["name"], "vouch-webhook-tls");
    let b64 = base64::engine::general_purpose::STANDARD;
    let cert_pem = b64
        .decode(secret["data"]["tls.crt"].as_str().expect("tls.crt"))
        .expect("base64");
    let key_pem = b64
        .decode(secret["data"]["tls.key"].as_str().expect("tls.key"))
        .expect("base64");

    let hooks = YamlOwned::load_from_str(&String::from_utf8(read("webhooks.yaml")).expect("utf-8"))
        .expect("webhooks.yaml is YAML");
    let mut bundles = BTreeSet::new();
    for doc in &hooks {
        let doc = to_json(doc, Path::new("webhooks.yaml"));
        for w in doc["webhooks"].as_array().expect("webhooks") {
            bundles.insert(
                w["clientConfig"]["caBundle"]
                    .as_str()
                    .expect("caBundle")
                    .to_string(),
            );
        }
    }
    assert_eq!(bundles.len(), 1, "one caBundle for both webhooks");
    let ca_bundle = b64
        .decode(bundles.first().expect("bundle"))
        .expect("caBundle is base64");
    assert_eq!(ca_bundle, read("ca.crt"));

    handshake(
        &ca_bundle,
        &cert_pem,
        &key_pem,
        "vouch-webhook.vouch-system.svc",
    )
    .expect("the API server's name is accepted");
    assert!(
        handshake(&ca_bundle, &cert_pem, &key_pem, "other.vouch-system.svc").is_err(),
        "another name is refused"
    );

    // Running it again keeps the CA (caBundle unchanged) and issues a new certificate.
    let again = Run::of(
        std::process::Command::new("bash")
            .arg(deploy_dir().join("gen-certs.sh"))
            .args(["--no-apply", "--dir"])
            .arg(dir.path()),
    );
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(read("ca.crt"), ca_bundle);
    assert_ne!(read("tls.crt"), cert_pem);
}

/// A TLS handshake over loopback: a server presenting `cert_pem`/`key_pem`, a client
/// trusting `ca_pem` alone and dialling `name`.
fn handshake(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8], name: &str) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let provider = vouch_e2e::tls::provider();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| e.to_string())?;
    let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = Arc::new(server);
    let serving = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        let conn = rustls::ServerConnection::new(server).expect("server session");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut byte = [0u8; 1];
        let _ = tls.read(&mut byte);
    });
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let conn =
        rustls::ClientConnection::new(Arc::new(client), server_name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let result = tls.write_all(b"x").and_then(|()| tls.flush());
    drop(tls);
    let _ = serving.join();
    result.map_err(|e| e.to_string())
}
