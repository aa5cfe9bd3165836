//! `admission.k8s.io/v1` `AdmissionReview` requests as kube-apiserver builds them
//! (k8s.io/apiserver/pkg/admission/plugin/webhook/request/admissionreview.go,
//! `CreateV1AdmissionReview`): a fresh random UID per call, `kind`/`resource`/`subResource`
//! and their `request*` twins, `name` and `namespace` omitted when empty, `userInfo`,
//! `object` (`null` on DELETE), `oldObject` (`null` on CREATE and CONNECT), `dryRun` always
//! present, and `options` (`CreateOptions`, `UpdateOptions`, `DeleteOptions`; `null` on CONNECT).

use serde_json::{Map, Value, json};

use super::gojson;
use super::objects::Kind;

/// The admission operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `CREATE`.
    Create,
    /// `UPDATE` (also PATCH, and `kubectl debug`'s ephemeral containers).
    Update,
    /// `DELETE`.
    Delete,
    /// `CONNECT` (exec, attach, port-forward, proxy).
    Connect,
}

impl Operation {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// The authenticated user behind a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// `username`.
    pub username: String,
    /// `uid` (omitted when empty).
    pub uid: String,
    /// `groups`.
    pub groups: Vec<String>,
    /// `extra`, in order (omitted when empty).
    pub extra: Vec<(String, Vec<String>)>,
}

impl UserInfo {
    /// A cluster admin using kubectl with a client certificate (kind's `kubernetes-admin`).
    pub fn kubectl_admin() -> UserInfo {
        UserInfo {
            username: "kubernetes-admin".into(),
            uid: String::new(),
            groups: vec![
                "kubeadm:cluster-admins".into(),
                "system:authenticated".into(),
            ],
            extra: Vec::new(),
        }
    }

    /// An OIDC-authenticated developer, with `extra` as an authenticating proxy fills it.
    pub fn developer() -> UserInfo {
        UserInfo {
            username: "oidc:jane@example.com".into(),
            uid: "2d1c6f1e-0f3e-4d2b-9a51-7f5a9c3e1b20".into(),
            groups: vec!["oidc:developers".into(), "system:authenticated".into()],
            extra: vec![(
                "authentication.kubernetes.io/credential-id".into(),
                vec!["JTI=5e8a2a4c-4f4b-4bd1-9d43-6b0d1c9f2d11".into()],
            )],
        }
    }

    /// A controller's service account in `kube-system` (`replicaset-controller`,
    /// `job-controller`, `cronjob-controller`, ...), as controllers create Pods and Jobs.
    pub fn controller(name: &str) -> UserInfo {
        UserInfo {
            username: format!("system:serviceaccount:kube-system:{name}"),
            uid: super::objects::uid_for(name),
            groups: vec![
                "system:serviceaccounts".into(),
                "system:serviceaccounts:kube-system".into(),
                "system:authenticated".into(),
            ],
            extra: Vec::new(),
        }
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.username.is_empty() {
            m.insert("username".into(), json!(self.username));
        }
        if !self.uid.is_empty() {
            m.insert("uid".into(), json!(self.uid));
        }
        if !self.groups.is_empty() {
            m.insert("groups".into(), json!(self.groups));
        }
        if !self.extra.is_empty() {
            let extra: Map<String, Value> = self
                .extra
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            m.insert("extra".into(), Value::Object(extra));
        }
        Value::Object(m)
    }
}

/// A group/version/kind or group/version/resource triple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupVersion {
    /// API group (`""` for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind (for a GVK) or resource (for a GVR).
    pub name: String,
}

impl GroupVersion {
    fn gvk(&self) -> Value {
        json!({"group": self.group, "version": self.version, "kind": self.name})
    }
    fn gvr(&self) -> Value {
        json!({"group": self.group, "version": self.version, "resource": self.name})
    }
}

/// A fresh random (version 4) UID, as `uuid.NewUUID()` makes for each webhook call.
pub fn random_uid() -> String {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system randomness");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Operation options as the API server passes them (`request.options`).
pub fn options(kind: &str, field_manager: Option<&str>, dry_run: bool) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!(kind));
    m.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
    if dry_run {
        m.insert("dryRun".into(), json!(["All"]));
    }
    if let Some(manager) = field_manager {
        m.insert("fieldManager".into(), json!(manager));
    }
    if kind != "DeleteOptions" && field_manager == Some("kubectl-client-side-apply") {
        // kubectl has sent fieldValidation=Strict by default since 1.27.
        m.insert("fieldValidation".into(), json!("Strict"));
    }
    if kind == "DeleteOptions" {
        m.insert("propagationPolicy".into(), json!("Background"));
    }
    Value::Object(m)
}

/// One AdmissionReview request, ready to send.
#[derive(Clone, Debug)]
pub struct Review {
    /// `request.uid`: the response must echo it.
    pub uid: String,
    /// The whole `AdmissionReview` document.
    pub body: Value,
}

impl Review {
    /// The body as kube-apiserver puts it on the wire (Go's JSON encoding plus newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        gojson::encode(&self.body)
    }

    /// `request`.
    pub fn request(&self) -> &Value {
        &self.body["request"]
    }

    /// `request.object` (`Null` on DELETE).
    pub fn object(&self) -> &Value {
        &self.body["request"]["object"]
    }

    /// `request.operation`.
    pub fn operation(&self) -> &str {
        self.body["request"]["operation"].as_str().unwrap_or("")
    }

    /// Whether `request.dryRun` is true.
    pub fn dry_run(&self) -> bool {
        self.body["request"]["dryRun"].as_bool().unwrap_or(false)
    }

    /// The same request sent again with a new UID and `object` replaced: what the API server
    /// sends a `reinvocationPolicy: IfNeeded` webhook after later webhooks changed the object,
    /// and what each next webhook in the chain receives.
    pub fn resend_with_object(&self, object: Value) -> Review {
        let mut body = self.body.clone();
        let uid = random_uid();
        body["request"]["uid"] = json!(uid);
        body["request"]["object"] = object;
        Review { uid, body }
    }

    /// The review a validating webhook receives for the same request after mutation: a new
    /// UID and `object` = the mutated object with, on CREATE, the fields the API server sets
    /// before validating admission ([`super::objects::persisted`]).
    pub fn for_validation(&self, mutated: &Value) -> Review {
        let object = if self.operation() == "CREATE" && mutated.is_object() {
            super::objects::persisted(mutated)
        } else {
            mutated.clone()
        };
        self.resend_with_object(object)
    }
}

/// Builds a [`Review`]. Kind, resource, name and namespace come from the object unless set.
#[derive(Clone, Debug)]
pub struct ReviewBuilder {
    operation: Operation,
    object: Value,
    old_object: Value,
    kind: Option<GroupVersion>,
    resource: Option<GroupVersion>,
    sub_resource: String,
    request_kind: Option<GroupVersion>,
    request_resource: Option<GroupVersion>,
    request_sub_resource: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    user: UserInfo,
    dry_run: bool,
    options: Option<Value>,
    field_manager: Option<String>,
}

impl ReviewBuilder {
    fn new(operation: Operation, object: Value, old_object: Value) -> ReviewBuilder {
        ReviewBuilder {
            operation,
            object,
            old_object,
            kind: None,
            resource: None,
            sub_resource: String::new(),
            request_kind: None,
            request_resource: None,
            request_sub_resource: None,
            name: None,
            namespace: None,
            user: UserInfo::kubectl_admin(),
            dry_run: false,
            options: None,
            field_manager: Some("kubectl-client-side-apply".into()),
        }
    }

    /// CREATE of `object` (`kubectl apply` of a new object).
    pub fn create(object: Value) -> ReviewBuilder {
        ReviewBuilder::new(Operation::Create, object, Value::Null)
    }

    /// UPDATE from `old` (as stored) to `new`.
    pub fn update(old: Value, new: Value) -> ReviewBuilder {
        ReviewBuilder::new(Operation::Update, new, old)
    }

    /// DELETE of `old` (`object` is null).
    pub fn delete(old: Value) -> ReviewBuilder {
        let mut b = ReviewBuilder::new(Operation::Delete, Value::Null, old);
        b.field_manager = None;
        b
    }

    /// CONNECT to `pods/exec` of the Pod `name`: `object` is the `PodExecOptions`.
    pub fn connect_exec(namespace: &str, name: &str, command: &[&str]) -> ReviewBuilder {
        let exec = json!({"kind": "PodExecOptions", "apiVersion": "v1", "stdin": true,
                          "stdout": true, "tty": true, "container": "app", "command": command});
        let mut b = ReviewBuilder::new(Operation::Connect, exec, Value::Null);
        b.kind = Some(gv("", "v1", "PodExecOptions"));
        b.resource = Some(gv("", "v1", "pods"));
        b.sub_resource = "exec".into();
        b.name = Some(name.into());
        b.namespace = Some(namespace.into());
        b.field_manager = None;
        b
    }

    /// `kubectl debug`: UPDATE of the `pods/ephemeralcontainers` subresource from `old` (the
    /// running Pod) to `new` (the Pod with its `ephemeralContainers`).
    pub fn ephemeral_containers(old: Value, new: Value) -> ReviewBuilder {
        let mut b = ReviewBuilder::update(old, new);
        b.sub_resource = "ephemeralcontainers".into();
        b.field_manager = None;
        b
    }

    /// Another subresource (`status`, `scale`, ...).
    pub fn sub_resource(mut self, sub_resource: &str) -> ReviewBuilder {
        self.sub_resource = sub_resource.into();
        self
    }

    /// Overrides `kind` (e.g. `autoscaling/v1 Scale` for `scale`).
    pub fn kind(mut self, group: &str, version: &str, kind: &str) -> ReviewBuilder {
        self.kind = Some(gv(group, version, kind));
        self
    }

    /// Overrides `resource`.
    pub fn resource(mut self, group: &str, version: &str, resource: &str) -> ReviewBuilder {
        self.resource = Some(gv(group, version, resource));
        self
    }

    /// Sets `requestKind`/`requestResource`/`requestSubResource` apart from
    /// `kind`/`resource`: the original request was for another version and `matchPolicy:
    /// Equivalent` converted it.
    pub fn requested_as(
        mut self,
        kind: (&str, &str, &str),
        resource: (&str, &str, &str),
        sub_resource: &str,
    ) -> ReviewBuilder {
        self.request_kind = Some(gv(kind.0, kind.1, kind.2));
        self.request_resource = Some(gv(resource.0, resource.1, resource.2));
        self.request_sub_resource = Some(sub_resource.into());
        self
    }

    /// Overrides `request.name` (empty: omitted, as for `generateName` creations).
    pub fn name(mut self, name: &str) -> ReviewBuilder {
        self.name = Some(name.into());
        self
    }

    /// Overrides `request.namespace`.
    pub fn namespace(mut self, namespace: &str) -> ReviewBuilder {
        self.namespace = Some(namespace.into());
        self
    }

    /// The requesting user (default [`UserInfo::kubectl_admin`]).
    pub fn user(mut self, user: UserInfo) -> ReviewBuilder {
        self.user = user;
        self
    }

    /// `dryRun: true` (`kubectl apply --dry-run=server`); also `dryRun: ["All"]` in options.
    pub fn dry_run(mut self, dry_run: bool) -> ReviewBuilder {
        self.dry_run = dry_run;
        self
    }

    /// The `fieldManager` in options (default `kubectl-client-side-apply` for CREATE/UPDATE;
    /// `None` to leave it out).
    pub fn field_manager(mut self, manager: Option<&str>) -> ReviewBuilder {
        self.field_manager = manager.map(str::to_string);
        self
    }

    /// Replaces `request.options` wholesale.
    pub fn options(mut self, options: Value) -> ReviewBuilder {
        self.options = Some(options);
        self
    }

    /// The review, with a fresh UID.
    pub fn build(self) -> Review {
        let subject = if self.object.is_null() {
            &self.old_object
        } else {
            &self.object
        };
        let api_version = subject["apiVersion"].as_str().unwrap_or_default();
        let kind_name = subject["kind"].as_str().unwrap_or_default();
        let known = Kind::from_type_meta(api_version, kind_name);
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        let kind = self.kind.unwrap_or_else(|| GroupVersion {
            group: group.clone(),
            version: version.clone(),
            name: kind_name.to_string(),
        });
        let resource = self.resource.unwrap_or_else(|| GroupVersion {
            group,
            version,
            name: known.map_or_else(
                || format!("{}s", kind_name.to_lowercase()),
                |k| k.resource().to_string(),
            ),
        });
        let name = self.name.unwrap_or_else(|| {
            subject["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        let namespace = self.namespace.unwrap_or_else(|| {
            subject["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        let options = self.options.unwrap_or_else(|| match self.operation {
            Operation::Create => {
                options("CreateOptions", self.field_manager.as_deref(), self.dry_run)
            }
            Operation::Update => {
                options("UpdateOptions", self.field_manager.as_deref(), self.dry_run)
            }
            Operation::Delete => options("DeleteOptions", None, self.dry_run),
            Operation::Connect => Value::Null,
        });

        let uid = random_uid();
        let mut request = Map::new();
        request.insert("uid".into(), json!(uid));
        request.insert("kind".into(), kind.gvk());
        request.insert("resource".into(), resource.gvr());
        if !self.sub_resource.is_empty() {
            request.insert("subResource".into(), json!(self.sub_resource));
        }
        request.insert(
            "requestKind".into(),
            self.request_kind.as_ref().unwrap_or(&kind).gvk(),
        );
        request.insert(
            "requestResource".into(),
            self.request_resource.as_ref().unwrap_or(&resource).gvr(),
        );
        let request_sub = self
            .request_sub_resource
            .unwrap_or_else(|| self.sub_resource.clone());
        if !request_sub.is_empty() {
            request.insert("requestSubResource".into(), json!(request_sub));
        }
        if !name.is_empty() {
            request.insert("name".into(), json!(name));
        }
        if !namespace.is_empty() {
            request.insert("namespace".into(), json!(namespace));
        }
        request.insert("operation".into(), json!(self.operation.as_str()));
        request.insert("userInfo".into(), self.user.to_json());
        request.insert("object".into(), self.object);
        request.insert("oldObject".into(), self.old_object);
        request.insert("dryRun".into(), json!(self.dry_run));
        request.insert("options".into(), options);

        let body = json!({
            "kind": "AdmissionReview",
            "apiVersion": "admission.k8s.io/v1",
            "request": Value::Object(request)
        });
        Review { uid, body }
    }
}

fn gv(group: &str, version: &str, name: &str) -> GroupVersion {
    GroupVersion {
        group: group.into(),
        version: version.into(),
        name: name.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::objects::{Kind, PodImages, running_pod, with_ephemeral_containers};

    #[test]
    fn create_review_has_every_field_kube_apiserver_sends() {
        let deploy = Kind::Deployment.object("team-a", "web", &PodImages::containers(&["a:1"]));
        let review = ReviewBuilder::create(deploy.clone()).build();
        let r = review.request();
        assert_eq!(review.body["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(review.body["kind"], "AdmissionReview");
        assert_eq!(r["uid"], review.uid.as_str());
        assert_eq!(
            r["kind"],
            json!({"group": "apps", "version": "v1", "kind": "Deployment"})
        );
        assert_eq!(
            r["resource"],
            json!({"group": "apps", "version": "v1", "resource": "deployments"})
        );
        assert_eq!(r["requestKind"], r["kind"]);
        assert_eq!(r["requestResource"], r["resource"]);
        assert!(r.get("subResource").is_none());
        assert_eq!(r["name"], "web");
        assert_eq!(r["namespace"], "team-a");
        assert_eq!(r["operation"], "CREATE");
        assert_eq!(r["object"], deploy);
        assert_eq!(r["oldObject"], Value::Null, "sent as null, not left out");
        assert_eq!(r["dryRun"], false);
        assert_eq!(
            r["options"],
            json!({"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1",
                   "fieldManager": "kubectl-client-side-apply", "fieldValidation": "Strict"})
        );
        assert_eq!(r["userInfo"]["username"], "kubernetes-admin");
        let text = String::from_utf8(review.to_bytes()).expect("utf-8");
        assert!(text.ends_with("}\n"));
        assert!(text.contains("\"oldObject\":null"));
    }

    #[test]
    fn uids_are_fresh_random_v4() {
        let a = random_uid();
        let b = random_uid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn debug_delete_connect_and_dry_run_shapes() {
        let running = running_pod("ns", "p", &PodImages::containers(&["a:1"]));
        let debugged = with_ephemeral_containers(&running, &["busybox:1.36"]);
        let review = ReviewBuilder::ephemeral_containers(running.clone(), debugged).build();
        let r = review.request();
        assert_eq!(r["subResource"], "ephemeralcontainers");
        assert_eq!(r["requestSubResource"], "ephemeralcontainers");
        assert_eq!(r["operation"], "UPDATE");
        assert_eq!(r["kind"]["kind"], "Pod");
        assert_eq!(r["options"]["kind"], "UpdateOptions");

        let delete = ReviewBuilder::delete(running).build();
        assert_eq!(delete.object(), &Value::Null);
        assert_eq!(delete.request()["oldObject"]["kind"], "Pod");
        assert_eq!(delete.request()["options"]["kind"], "DeleteOptions");
        assert_eq!(delete.request()["name"], "p");

        let connect = ReviewBuilder::connect_exec("ns", "p", &["sh"]).build();
        assert_eq!(connect.request()["subResource"], "exec");
        assert_eq!(connect.request()["options"], Value::Null);
        assert_eq!(connect.object()["kind"], "PodExecOptions");

        let dry = ReviewBuilder::create(Kind::Pod.object("ns", "p", &PodImages::default()))
            .dry_run(true)
            .build();
        assert!(dry.dry_run());
        assert_eq!(dry.request()["options"]["dryRun"], json!(["All"]));
    }

    #[test]
    fn resend_and_validation_reviews_get_new_uids() {
        let pod = Kind::Pod.object("ns", "p", &PodImages::containers(&["a:1"]));
        let review = ReviewBuilder::create(pod.clone()).build();
        let again = review.resend_with_object(pod.clone());
        assert_ne!(again.uid, review.uid);
        assert_eq!(again.request()["uid"], again.uid.as_str());
        let validating = review.for_validation(&pod);
        assert_eq!(validating.object()["status"]["phase"], "Pending");
        assert!(validating.object()["metadata"]["uid"].is_string());
    }

    #[test]
    fn generate_name_pods_have_no_request_name() {
        let pod = crate::kube::objects::pod_from_replicaset(
            "ns",
            "web-5d4f8b7c9",
            &PodImages::containers(&["a:1"]),
        );
        let review = ReviewBuilder::create(pod)
            .user(UserInfo::controller("replicaset-controller"))
            .field_manager(None)
            .build();
        assert!(review.request().get("name").is_none());
        assert_eq!(review.request()["namespace"], "ns");
        assert_eq!(
            review.request()["options"],
            json!({"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"})
        );
    }
}
