//! Objects as kube-apiserver hands them to admission webhooks: what `kubectl apply` sent,
//! after the API server's defaulting (`imagePullPolicy`, `terminationMessagePath`, `dnsPolicy`,
//! `securityContext: {}`, ...), the last-applied-configuration annotation and `managedFields`,
//! and, for Pods, what the admission plugins that run before the webhooks add (ServiceAccount:
//! the `kube-api-access-*` volume and mounts; DefaultTolerationSeconds: two tolerations;
//! Priority: `priority: 0`). Every workload kind that carries a pod template is here, plus a
//! custom resource that embeds one, so a webhook's image extraction meets real shapes.
//!
//! Objects are `serde_json::Value`s so tests can bend them (add a field, break a type).

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// When an object was "applied": fixed, so objects are reproducible.
pub const APPLIED_AT: &str = "2025-06-02T09:30:00Z";
/// The service-account token volume the ServiceAccount admission plugin adds to each Pod.
pub const SERVICE_ACCOUNT_VOLUME: &str = "kube-api-access-7xk2q";
const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The kinds of object that hold pod specs, with where the pod spec sits in each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `v1` Pod: the pod spec is `/spec`.
    Pod,
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `batch/v1` Job.
    Job,
    /// `batch/v1` CronJob: the pod spec is two templates deep.
    CronJob,
    /// `v1` ReplicationController.
    ReplicationController,
    /// `v1` PodTemplate: the template is top level, beside `metadata`.
    PodTemplate,
    /// A custom resource embedding a pod template at `/spec/template` (Argo Rollouts'
    /// `argoproj.io/v1alpha1` Rollout has this shape). Not defaulted: the API server stores
    /// custom resources as sent.
    Rollout,
}

impl Kind {
    /// Every kind, Pod first.
    pub const ALL: [Kind; 10] = [
        Kind::Pod,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::ReplicationController,
        Kind::PodTemplate,
        Kind::Rollout,
    ];

    /// `kind`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::ReplicationController => "ReplicationController",
            Kind::PodTemplate => "PodTemplate",
            Kind::Rollout => "Rollout",
        }
    }

    /// API group (`""` for the core group).
    pub fn group(self) -> &'static str {
        match self {
            Kind::Pod | Kind::ReplicationController | Kind::PodTemplate => "",
            Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet | Kind::DaemonSet => "apps",
            Kind::Job | Kind::CronJob => "batch",
            Kind::Rollout => "argoproj.io",
        }
    }

    /// API version within the group.
    pub fn version(self) -> &'static str {
        match self {
            Kind::Rollout => "v1alpha1",
            _ => "v1",
        }
    }

    /// `apiVersion` as written in objects (`v1`, `apps/v1`).
    pub fn api_version(self) -> String {
        match self.group() {
            "" => self.version().to_string(),
            group => format!("{group}/{}", self.version()),
        }
    }

    /// The REST resource (`pods`, `deployments`, ...).
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::StatefulSet => "statefulsets",
            Kind::DaemonSet => "daemonsets",
            Kind::Job => "jobs",
            Kind::CronJob => "cronjobs",
            Kind::ReplicationController => "replicationcontrollers",
            Kind::PodTemplate => "podtemplates",
            Kind::Rollout => "rollouts",
        }
    }

    /// JSON pointer (RFC 6901) to the pod spec inside an object of this kind.
    pub fn pod_spec_pointer(self) -> &'static str {
        match self {
            Kind::Pod => "/spec",
            Kind::CronJob => "/spec/jobTemplate/spec/template/spec",
            Kind::PodTemplate => "/template/spec",
            _ => "/spec/template/spec",
        }
    }

    /// The kind named `kind` in `apiVersion` `api_version`, if it is one of these.
    pub fn from_type_meta(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == kind && k.api_version() == api_version)
    }

    /// An object of this kind named `name` in `namespace`, whose pod spec runs `images`, as
    /// a webhook sees it on CREATE through `kubectl apply`.
    pub fn object(self, namespace: &str, name: &str, images: &PodImages) -> Value {
        build(self, namespace, name, images)
    }
}

/// The images of one pod spec, by where they appear.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodImages {
    /// `containers[].image`, named `app`, `app-1`, ...
    pub containers: Vec<String>,
    /// `initContainers[].image`, named `init`, `init-1`, ...
    pub init_containers: Vec<String>,
    /// `ephemeralContainers[].image` (Pods only; `kubectl debug`), named `debugger-0`, ...
    pub ephemeral_containers: Vec<String>,
    /// `volumes[].image.reference` (image volumes), named `image-0`, ...
    pub image_volumes: Vec<String>,
}

impl PodImages {
    /// One container per image.
    pub fn containers(images: &[&str]) -> PodImages {
        PodImages {
            containers: images.iter().map(|s| s.to_string()).collect(),
            ..PodImages::default()
        }
    }

    /// `count` containers all running `image` (duplicated images; 10,000-container pods).
    pub fn repeated(image: &str, count: usize) -> PodImages {
        PodImages {
            containers: vec![image.to_string(); count],
            ..PodImages::default()
        }
    }

    /// `containers` cycling through `images` until there are `count` of them.
    pub fn cycled(images: &[&str], count: usize) -> PodImages {
        PodImages {
            containers: images
                .iter()
                .cycle()
                .take(count)
                .map(|s| s.to_string())
                .collect(),
            ..PodImages::default()
        }
    }

    /// Adds init containers.
    pub fn with_init(mut self, images: &[&str]) -> PodImages {
        self.init_containers
            .extend(images.iter().map(|s| s.to_string()));
        self
    }

    /// Adds ephemeral containers.
    pub fn with_ephemeral(mut self, images: &[&str]) -> PodImages {
        self.ephemeral_containers
            .extend(images.iter().map(|s| s.to_string()));
        self
    }

    /// Adds image volumes.
    pub fn with_image_volumes(mut self, references: &[&str]) -> PodImages {
        self.image_volumes
            .extend(references.iter().map(|s| s.to_string()));
        self
    }

    /// Every image, in spec order: init containers, containers, ephemeral containers, image
    /// volumes (duplicates kept).
    pub fn all(&self) -> Vec<&str> {
        self.init_containers
            .iter()
            .chain(&self.containers)
            .chain(&self.ephemeral_containers)
            .chain(&self.image_volumes)
            .map(String::as_str)
            .collect()
    }

    /// The distinct images, sorted.
    pub fn distinct(&self) -> Vec<&str> {
        let mut all = self.all();
        all.sort_unstable();
        all.dedup();
        all
    }
}

fn container_name(prefix: &str, i: usize) -> String {
    if i == 0 {
        prefix.to_string()
    } else {
        format!("{prefix}-{i}")
    }
}

/// The `imagePullPolicy` the API server defaults: `Always` for `:latest` or an untagged,
/// undigested reference, `IfNotPresent` otherwise.
pub fn default_pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
        None if digest.is_some() => "IfNotPresent",
        None => "Always",
    }
}

/// A container as stored: the user's name and image plus the API server's defaults.
fn defaulted_container(name: &str, image: &str, defaulted: bool, token_mount: bool) -> Value {
    let mut c = Map::new();
    c.insert("name".into(), json!(name));
    c.insert("image".into(), json!(image));
    if defaulted {
        c.insert("resources".into(), json!({}));
        if token_mount {
            c.insert(
                "volumeMounts".into(),
                json!([{"name": SERVICE_ACCOUNT_VOLUME, "readOnly": true,
                        "mountPath": SERVICE_ACCOUNT_MOUNT}]),
            );
        }
        c.insert(
            "terminationMessagePath".into(),
            json!("/dev/termination-log"),
        );
        c.insert("terminationMessagePolicy".into(), json!("File"));
        c.insert("imagePullPolicy".into(), json!(default_pull_policy(image)));
    }
    Value::Object(c)
}

/// The pod spec the user wrote (what goes into last-applied-configuration).
fn user_pod_spec(images: &PodImages, restart_policy: Option<&str>) -> Value {
    let mut spec = Map::new();
    if !images.init_containers.is_empty() {
        spec.insert(
            "initContainers".into(),
            images
                .init_containers
                .iter()
                .enumerate()
                .map(|(i, image)| json!({"name": container_name("init", i), "image": image}))
                .collect(),
        );
    }
    spec.insert(
        "containers".into(),
        images
            .containers
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": container_name("app", i), "image": image}))
            .collect(),
    );
    if !images.image_volumes.is_empty() {
        spec.insert(
            "volumes".into(),
            images
                .image_volumes
                .iter()
                .enumerate()
                .map(|(i, r)| json!({"name": format!("image-{i}"), "image": {"reference": r}}))
                .collect(),
        );
    }
    if let Some(policy) = restart_policy {
        spec.insert("restartPolicy".into(), json!(policy));
    }
    Value::Object(spec)
}

/// The pod spec as stored. `pod` adds what admission plugins add to Pods only.
fn defaulted_pod_spec(images: &PodImages, restart_policy: &str, pod: bool) -> Value {
    let mut spec = Map::new();
    let mut volumes: Vec<Value> = images
        .image_volumes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({"name": format!("image-{i}"),
                   "image": {"reference": r, "pullPolicy": default_pull_policy(r)}})
        })
        .collect();
    if pod {
        volumes.push(json!({
            "name": SERVICE_ACCOUNT_VOLUME,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt",
                                   "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ],
                "defaultMode": 420
            }
        }));
    }
    if !volumes.is_empty() {
        spec.insert("volumes".into(), Value::Array(volumes));
    }
    if !images.init_containers.is_empty() {
        spec.insert(
            "initContainers".into(),
            images
                .init_containers
                .iter()
                .enumerate()
                .map(|(i, image)| defaulted_container(&container_name("init", i), image, true, pod))
                .collect(),
        );
    }
    spec.insert(
        "containers".into(),
        images
            .containers
            .iter()
            .enumerate()
            .map(|(i, image)| defaulted_container(&container_name("app", i), image, true, pod))
            .collect(),
    );
    if pod && !images.ephemeral_containers.is_empty() {
        spec.insert(
            "ephemeralContainers".into(),
            ephemeral_containers(&images.ephemeral_containers),
        );
    }
    spec.insert("restartPolicy".into(), json!(restart_policy));
    spec.insert("terminationGracePeriodSeconds".into(), json!(30));
    spec.insert("dnsPolicy".into(), json!("ClusterFirst"));
    if pod {
        spec.insert("serviceAccountName".into(), json!("default"));
        spec.insert("serviceAccount".into(), json!("default"));
    }
    spec.insert("securityContext".into(), json!({}));
    spec.insert("schedulerName".into(), json!("default-scheduler"));
    if pod {
        spec.insert(
            "tolerations".into(),
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300}
            ]),
        );
        spec.insert("priority".into(), json!(0));
        spec.insert("enableServiceLinks".into(), json!(true));
        spec.insert("preemptionPolicy".into(), json!("PreemptLowerPriority"));
    }
    Value::Object(spec)
}

/// Ephemeral containers as `kubectl debug -it --image=IMAGE --target=app` adds them.
fn ephemeral_containers(images: &[String]) -> Value {
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            json!({
                "name": format!("debugger-{i}"),
                "image": image,
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": default_pull_policy(image),
                "stdin": true,
                "tty": true,
                "targetContainerName": "app"
            })
        })
        .collect()
}

/// `managedFields` shape for `manifest`: `f:` keys for fields, `k:{"name":...}` for list
/// items keyed by name, as the API server's field manager records them.
fn fields_v1(manifest: &Value) -> Value {
    match manifest {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                if key == "apiVersion" || key == "kind" {
                    continue;
                }
                out.insert(format!("f:{key}"), fields_v1(value));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut out = Map::new();
            for item in items {
                if let Some(name) = item.get("name").and_then(Value::as_str) {
                    let mut inner = fields_v1(item);
                    if let Value::Object(m) = &mut inner {
                        m.insert(".".into(), json!({}));
                    }
                    out.insert(format!("k:{{\"name\":\"{name}\"}}"), inner);
                }
            }
            Value::Object(out)
        }
        _ => json!({}),
    }
}

/// The last-applied-configuration annotation value kubectl writes: the manifest as compact
/// JSON (sorted keys, Go escaping) with `metadata.annotations: {}` and a trailing newline.
fn last_applied(manifest: &Value) -> String {
    let text = super::gojson::encode(manifest);
    String::from_utf8(text).expect("JSON is UTF-8")
}

/// Adds the apply bookkeeping to `object` (whose `metadata` exists) for `manifest`.
fn add_apply_metadata(object: &mut Value, manifest: &Value) {
    let mut fields = fields_v1(manifest);
    if let Some(meta) = fields.get_mut("f:metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "f:annotations".into(),
            json!({".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}),
        );
    }
    let api_version = manifest["apiVersion"].clone();
    let meta = object["metadata"]
        .as_object_mut()
        .expect("objects have metadata");
    meta.insert(
        "annotations".into(),
        json!({"kubectl.kubernetes.io/last-applied-configuration": last_applied(manifest)}),
    );
    meta.insert(
        "managedFields".into(),
        json!([{
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "apiVersion": api_version,
            "time": APPLIED_AT,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields
        }]),
    );
}

fn labels(name: &str) -> Value {
    json!({"app": name})
}

fn template(name: &str, spec: Value) -> Value {
    json!({"metadata": {"creationTimestamp": null, "labels": labels(name)}, "spec": spec})
}

fn user_template(name: &str, spec: Value) -> Value {
    json!({"metadata": {"labels": labels(name)}, "spec": spec})
}

fn build(kind: Kind, namespace: &str, name: &str, images: &PodImages) -> Value {
    let api_version = kind.api_version();
    let restart = match kind {
        Kind::Job | Kind::CronJob => "Never",
        _ => "Always",
    };
    let user_restart = matches!(kind, Kind::Job | Kind::CronJob).then_some("Never");
    let user_spec = user_pod_spec(images, user_restart);
    let defaulted = defaulted_pod_spec(images, restart, kind == Kind::Pod);
    let selector = json!({"matchLabels": labels(name)});

    // What the user applied, then what the API server stores.
    let (manifest_body, stored_body): (Value, Value) = match kind {
        Kind::Pod => (
            json!({"spec": user_spec}),
            json!({"spec": defaulted, "status": {}}),
        ),
        Kind::Deployment => (
            json!({"spec": {"replicas": 2, "selector": selector,
                            "template": user_template(name, user_spec)}}),
            json!({"spec": {
                "replicas": 2,
                "selector": selector,
                "template": template(name, defaulted),
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600
            }, "status": {}}),
        ),
        Kind::ReplicaSet => (
            json!({"spec": {"replicas": 2, "selector": selector,
                            "template": user_template(name, user_spec)}}),
            json!({"spec": {"replicas": 2, "selector": selector,
                            "template": template(name, defaulted)},
                   "status": {"replicas": 0}}),
        ),
        Kind::StatefulSet => (
            json!({"spec": {"serviceName": name, "replicas": 2, "selector": selector,
                            "template": user_template(name, user_spec)}}),
            json!({"spec": {
                "replicas": 2,
                "selector": selector,
                "template": template(name, defaulted),
                "serviceName": name,
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "revisionHistoryLimit": 10,
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                                                         "whenScaled": "Retain"}
            }, "status": {"replicas": 0, "availableReplicas": 0}}),
        ),
        Kind::DaemonSet => (
            json!({"spec": {"selector": selector, "template": user_template(name, user_spec)}}),
            json!({"spec": {
                "selector": selector,
                "template": template(name, defaulted),
                "updateStrategy": {"type": "RollingUpdate",
                                   "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "revisionHistoryLimit": 10
            }, "status": {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                          "desiredNumberScheduled": 0, "numberReady": 0}}),
        ),
        Kind::Job => (
            json!({"spec": {"template": user_template(name, user_spec)}}),
            json!({"spec": {
                "parallelism": 1,
                "completions": 1,
                "backoffLimit": 6,
                "template": template(name, defaulted),
                "completionMode": "NonIndexed",
                "suspend": false,
                "podReplacementPolicy": "TerminatingOrFailed"
            }, "status": {}}),
        ),
        Kind::CronJob => (
            json!({"spec": {"schedule": "*/5 * * * *",
                            "jobTemplate": {"spec": {"template": user_template(name, user_spec)}}}}),
            json!({"spec": {
                "schedule": "*/5 * * * *",
                "concurrencyPolicy": "Allow",
                "suspend": false,
                "jobTemplate": {"metadata": {"creationTimestamp": null},
                                "spec": {"template": template(name, defaulted)}},
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1
            }, "status": {}}),
        ),
        Kind::ReplicationController => (
            json!({"spec": {"replicas": 2, "selector": labels(name),
                            "template": user_template(name, user_spec)}}),
            json!({"spec": {"replicas": 2, "selector": labels(name),
                            "template": template(name, defaulted)},
                   "status": {"replicas": 0}}),
        ),
        Kind::PodTemplate => (
            json!({"template": user_template(name, user_spec)}),
            json!({"template": template(name, defaulted)}),
        ),
        Kind::Rollout => {
            let body = json!({"spec": {
                "replicas": 2,
                "selector": selector,
                "template": user_template(name, user_spec),
                "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}
            }});
            (body.clone(), body)
        }
    };

    let mut manifest = json!({
        "apiVersion": api_version,
        "kind": kind.name(),
        "metadata": {"annotations": {}, "labels": labels(name), "name": name,
                     "namespace": namespace}
    });
    merge(&mut manifest, manifest_body);

    let mut object = json!({
        "kind": kind.name(),
        "apiVersion": api_version,
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null,
                     "labels": labels(name)}
    });
    if kind == Kind::Rollout {
        // Custom resources keep exactly what was sent: no creationTimestamp: null.
        object["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("creationTimestamp");
    }
    merge(&mut object, stored_body);
    add_apply_metadata(&mut object, &manifest);
    object
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

/// A Pod created by a ReplicaSet controller: `generateName` and no `name` (so the review has
/// no `request.name`), an owner reference, the `pod-template-hash` label, and no apply
/// bookkeeping.
pub fn pod_from_replicaset(namespace: &str, replicaset: &str, images: &PodImages) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "generateName": format!("{replicaset}-"),
            "namespace": namespace,
            "creationTimestamp": null,
            "labels": {"app": replicaset.rsplit_once('-').map_or(replicaset, |p| p.0),
                       "pod-template-hash": replicaset.rsplit('-').next().unwrap_or("")},
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": replicaset,
                "uid": uid_for(replicaset),
                "controller": true,
                "blockOwnerDeletion": true
            }],
            "managedFields": [{
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "v1",
                "time": APPLIED_AT,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {}},
                             "f:spec": {}}
            }]
        },
        "spec": defaulted_pod_spec(images, "Always", true),
        "status": {}
    })
}

/// A deterministic UID-shaped string for `seed` (for owner references and stored objects).
pub fn uid_for(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A deterministic `sha256:` digest for `seed`, for status fields that report digests.
pub fn fake_digest(seed: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(seed.as_bytes())))
}

/// `object` as stored: what the API server sets on CREATE before validating admission and
/// persistence (`metadata.uid`, `creationTimestamp`; `generation: 1` for workloads; a Pod's
/// `status.phase: Pending` and `qosClass`). Validating webhooks see this on CREATE.
pub fn persisted(object: &Value) -> Value {
    let mut out = object.clone();
    let kind = out["kind"].as_str().unwrap_or_default().to_string();
    let name = out["metadata"]["name"]
        .as_str()
        .or_else(|| out["metadata"]["generateName"].as_str())
        .unwrap_or("object")
        .to_string();
    let meta = out["metadata"].as_object_mut().expect("metadata");
    meta.insert("uid".into(), json!(uid_for(&format!("{kind}/{name}"))));
    meta.insert("creationTimestamp".into(), json!(APPLIED_AT));
    match kind.as_str() {
        "Pod" => {
            out["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        "PodTemplate" | "ReplicationController" => {
            if kind == "ReplicationController" {
                out["metadata"]["generation"] = json!(1);
            }
        }
        _ => {
            out["metadata"]["generation"] = json!(1);
        }
    }
    out
}

/// A running Pod as stored after scheduling: [`persisted`] plus `resourceVersion`,
/// `spec.nodeName` and a `Running` status whose `containerStatuses` report each image and the
/// digest the kubelet pulled (`imageID`). The `oldObject` of a `kubectl debug` review and of
/// a DELETE.
pub fn running_pod(namespace: &str, name: &str, images: &PodImages) -> Value {
    let mut spec_images = images.clone();
    spec_images.ephemeral_containers.clear();
    let mut pod = persisted(&Kind::Pod.object(namespace, name, &spec_images));
    pod["metadata"]["resourceVersion"] = json!("48213");
    pod["spec"]["nodeName"] = json!("worker-1");
    let statuses = |prefix: &str, list: &[String]| -> Value {
        list.iter()
            .enumerate()
            .map(|(i, image)| {
                let repo = image.split(['@']).next().unwrap_or(image);
                let repo = match repo.rsplit_once(':') {
                    Some((r, tag)) if !tag.contains('/') => r,
                    _ => repo,
                };
                json!({
                    "name": container_name(prefix, i),
                    "state": {"running": {"startedAt": APPLIED_AT}},
                    "lastState": {},
                    "ready": true,
                    "restartCount": 0,
                    "image": image,
                    "imageID": format!("{repo}@{}", fake_digest(image)),
                    "containerID": format!("containerd://{}", &fake_digest(&format!("{name}/{i}"))[7..]),
                    "started": true
                })
            })
            .collect()
    };
    pod["status"] = json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null,
                        "lastTransitionTime": APPLIED_AT}],
        "hostIP": "10.0.0.11",
        "podIP": "10.244.1.17",
        "podIPs": [{"ip": "10.244.1.17"}],
        "startTime": APPLIED_AT,
        "containerStatuses": statuses("app", &images.containers),
        "qosClass": "BestEffort"
    });
    if !images.init_containers.is_empty() {
        pod["status"]["initContainerStatuses"] = statuses("init", &images.init_containers);
    }
    pod
}

/// `pod` (a running Pod) with `images` added as ephemeral containers, as the
/// `pods/ephemeralcontainers` subresource request of `kubectl debug` carries it.
pub fn with_ephemeral_containers(pod: &Value, images: &[&str]) -> Value {
    let mut out = pod.clone();
    let mut list = out["spec"]["ephemeralContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let start = list.len();
    let owned: Vec<String> = images.iter().map(|s| s.to_string()).collect();
    if let Value::Array(new) = ephemeral_containers(&owned) {
        for (i, mut c) in new.into_iter().enumerate() {
            c["name"] = json!(format!("debugger-{}", start + i));
            list.push(c);
        }
    }
    out["spec"]["ephemeralContainers"] = Value::Array(list);
    out
}

/// `object`'s pod spec images replaced: container `index` of the list `field`
/// (`containers`, `initContainers`) now runs `image`. For UPDATE reviews (an image bump).
pub fn set_image(object: &mut Value, field: &str, index: usize, image: &str) {
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    let pointer = Kind::ALL
        .into_iter()
        .find(|k| k.name() == kind)
        .map_or("/spec/template/spec", Kind::pod_spec_pointer);
    let container = object
        .pointer_mut(&format!("{pointer}/{field}/{index}"))
        .unwrap_or_else(|| panic!("{kind} has no {field}[{index}]"));
    container["image"] = json!(image);
    if container.get("imagePullPolicy").is_some() {
        container["imagePullPolicy"] = json!(default_pull_policy(image));
    }
}

/// Every image reference in `object`'s pod spec, in spec order (init containers, containers,
/// ephemeral containers, image volumes), for comparing with what a webhook pinned.
pub fn images_in(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let pointer = Kind::ALL
        .into_iter()
        .find(|k| k.name() == kind)
        .map_or("/spec/template/spec", Kind::pod_spec_pointer);
    let Some(spec) = object.pointer(pointer) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for field in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec[field].as_array().into_iter().flatten() {
            if let Some(image) = c["image"].as_str() {
                out.push(image.to_string());
            }
        }
    }
    for v in spec["volumes"].as_array().into_iter().flatten() {
        if let Some(r) = v.pointer("/image/reference").and_then(Value::as_str) {
            out.push(r.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMG: &str = "registry.example:5000/team/app:1.0";

    #[test]
    fn every_kind_puts_its_images_where_its_pointer_says() {
        let images = PodImages::containers(&[IMG, "busybox"]).with_init(&["init:2"]);
        for kind in Kind::ALL {
            let object = kind.object("team-a", "web", &images);
            assert_eq!(object["kind"], kind.name());
            assert_eq!(object["apiVersion"], kind.api_version());
            let spec = object
                .pointer(kind.pod_spec_pointer())
                .unwrap_or_else(|| panic!("{kind:?}: no pod spec"));
            assert_eq!(spec["containers"][0]["image"], IMG, "{kind:?}");
            assert_eq!(
                images_in(&object),
                vec!["init:2", IMG, "busybox"],
                "{kind:?}"
            );
            assert_eq!(
                Kind::from_type_meta(&kind.api_version(), kind.name()),
                Some(kind)
            );
        }
    }

    #[test]
    fn builtin_kinds_are_defaulted_and_custom_resources_are_not() {
        let images = PodImages::containers(&["busybox", IMG]);
        let deploy = Kind::Deployment.object("ns", "web", &images);
        let c = &deploy["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["imagePullPolicy"], "Always", "untagged means latest");
        assert_eq!(c[1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c[1]["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(
            deploy["spec"]["template"]["metadata"]["creationTimestamp"],
            Value::Null
        );
        assert_eq!(
            deploy["spec"]["template"]["spec"]["securityContext"],
            json!({})
        );
        assert!(
            deploy["spec"]["template"]["spec"]
                .get("tolerations")
                .is_none()
        );

        let pod = Kind::Pod.object("ns", "web", &images);
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["name"],
            SERVICE_ACCOUNT_VOLUME
        );
        assert_eq!(pod["spec"]["tolerations"].as_array().map(Vec::len), Some(2));

        let rollout = Kind::Rollout.object("ns", "web", &images);
        let c = &rollout["spec"]["template"]["spec"]["containers"][0];
        assert!(c.get("imagePullPolicy").is_none());
    }

    #[test]
    fn last_applied_is_the_users_manifest_with_a_newline() {
        let pod = Kind::Pod.object("ns", "web", &PodImages::containers(&[IMG]));
        let applied =
            pod["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .expect("annotation");
        assert!(applied.ends_with('\n'));
        let manifest: Value = serde_json::from_str(applied).expect("JSON");
        assert_eq!(
            manifest,
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"annotations": {}, "labels": {"app": "web"}, "name": "web",
                                "namespace": "ns"},
                   "spec": {"containers": [{"image": IMG, "name": "app"}]}})
        );
        let fields = &pod["metadata"]["managedFields"][0]["fieldsV1"];
        assert!(fields["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"].is_object());
    }

    #[test]
    fn pull_policy_defaults_follow_the_tag() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/nginx:1"),
            "IfNotPresent"
        );
        assert_eq!(
            default_pull_policy(&format!("nginx@{}", fake_digest("x"))),
            "IfNotPresent"
        );
    }

    #[test]
    fn image_volumes_ephemeral_and_running_pods() {
        let images = PodImages::containers(&[IMG])
            .with_image_volumes(&["models:v1"])
            .with_ephemeral(&["busybox:1.36"]);
        let pod = Kind::Pod.object("ns", "p", &images);
        assert_eq!(pod["spec"]["volumes"][0]["image"]["reference"], "models:v1");
        assert_eq!(
            pod["spec"]["ephemeralContainers"][0]["image"],
            "busybox:1.36"
        );

        let running = running_pod("ns", "p", &PodImages::containers(&[IMG]));
        assert_eq!(running["status"]["phase"], "Running");
        assert!(running["metadata"]["uid"].is_string());
        let debugged = with_ephemeral_containers(&running, &["busybox:1.36"]);
        assert_eq!(images_in(&debugged), vec![IMG, "busybox:1.36"]);
        assert_eq!(
            debugged["spec"]["ephemeralContainers"][0]["targetContainerName"],
            "app"
        );
    }

    #[test]
    fn controller_made_pods_have_no_name() {
        let pod = pod_from_replicaset("ns", "web-5d4f8b7c9", &PodImages::containers(&[IMG]));
        assert!(pod["metadata"].get("name").is_none());
        assert_eq!(pod["metadata"]["generateName"], "web-5d4f8b7c9-");
        assert_eq!(pod["metadata"]["labels"]["pod-template-hash"], "5d4f8b7c9");
    }

    #[test]
    fn many_containers_and_set_image() {
        let images = PodImages::cycled(&["a:1", "b:1", "c:1", "d:1"], 8);
        assert_eq!(images.distinct(), vec!["a:1", "b:1", "c:1", "d:1"]);
        let mut pod = Kind::Pod.object("ns", "p", &PodImages::repeated(IMG, 10_000));
        assert_eq!(
            pod["spec"]["containers"].as_array().map(Vec::len),
            Some(10_000)
        );
        assert_eq!(pod["spec"]["containers"][9_999]["name"], "app-9999");
        set_image(&mut pod, "containers", 3, "busybox");
        assert_eq!(pod["spec"]["containers"][3]["imagePullPolicy"], "Always");
    }
}
