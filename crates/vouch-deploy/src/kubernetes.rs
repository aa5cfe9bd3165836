//! Kubernetes objects: every container image of every pod spec, wherever the pod spec sits.
//!
//! A pod spec is found by shape, not by a list of kinds: any mapping with a `containers` list
//! of mappings. That covers Pod, the workload kinds (`spec.template.spec`), CronJob
//! (`spec.jobTemplate.spec.template.spec`), PodTemplate (`template.spec`) and custom resources
//! that embed a pod template or pod spec. In each, `containers`, `initContainers` and
//! `ephemeralContainers` give images, and so do image volumes (`volumes[].image.reference`).
//! `*List` objects are read item by item. Objects whose API group holds patterns or schemas
//! rather than workloads (Kyverno and Gatekeeper policies, CRDs, admission policies) are
//! skipped, as are objects without pod specs.
//!
//! The same walk runs over a spanned YAML document (files) and over a `serde_json::Value`
//! (an object already decoded, e.g. from an AdmissionReview).

use serde::Serialize;

use crate::model::{ExtractError, Finding};
use crate::yaml::{Doc, NodeId, YamlTree};

/// API groups whose objects mention `containers` as patterns or schemas, not workloads.
const PATTERN_GROUPS: &[&str] = &[
    "apiextensions.k8s.io",
    "admissionregistration.k8s.io",
    "kyverno.io",
    "policies.kyverno.io",
    "wgpolicyk8s.io",
    "templates.gatekeeper.sh",
    "constraints.gatekeeper.sh",
    "mutations.gatekeeper.sh",
    "expansion.gatekeeper.sh",
];

/// The container lists of a pod spec, and their names in findings.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Deepest path searched for pod specs inside one object.
const MAX_SEARCH_DEPTH: usize = 96;

/// A tree the walk can read: a spanned YAML document or a decoded JSON value.
trait Tree {
    type Id: Copy;
    fn get(&self, map: Self::Id, key: &str) -> Option<Self::Id>;
    fn str(&self, id: Self::Id) -> Option<&str>;
    fn is_map(&self, id: Self::Id) -> bool;
    fn is_null(&self, id: Self::Id) -> bool;
    /// (key, value) pairs of a mapping with string keys; None for other nodes.
    fn entries(&self, id: Self::Id) -> Option<Vec<(&str, Self::Id)>>;
    fn items(&self, id: Self::Id) -> Option<Vec<Self::Id>>;
    /// Counts a visit; false when the budget is spent (the walk then stops).
    fn visit(&self) -> bool;
}

impl<'d, 's> Tree for YamlTree<'d, 's> {
    type Id = NodeId;
    fn get(&self, map: NodeId, key: &str) -> Option<NodeId> {
        self.doc.get(map, key)
    }
    fn str(&self, id: NodeId) -> Option<&str> {
        self.doc.str(id)
    }
    fn is_map(&self, id: NodeId) -> bool {
        self.doc.entries(id).is_some()
    }
    fn is_null(&self, id: NodeId) -> bool {
        self.doc.is_null(id)
    }
    fn entries(&self, id: NodeId) -> Option<Vec<(&str, NodeId)>> {
        self.doc.entries(id)?;
        Some(
            self.doc
                .entries_merged(id)
                .into_iter()
                .filter_map(|(k, v)| Some((self.doc.str(k)?, v)))
                .collect(),
        )
    }
    fn items(&self, id: NodeId) -> Option<Vec<NodeId>> {
        self.doc.items(id).map(<[NodeId]>::to_vec)
    }
    fn visit(&self) -> bool {
        YamlTree::visit(self)
    }
}

struct JsonTree<'v>(std::marker::PhantomData<&'v ()>);

impl<'v> Tree for JsonTree<'v> {
    type Id = &'v serde_json::Value;
    fn get(&self, map: Self::Id, key: &str) -> Option<Self::Id> {
        map.as_object()?.get(key)
    }
    fn str(&self, id: Self::Id) -> Option<&str> {
        id.as_str()
    }
    fn is_map(&self, id: Self::Id) -> bool {
        id.is_object()
    }
    fn is_null(&self, id: Self::Id) -> bool {
        id.is_null()
    }
    fn entries(&self, id: Self::Id) -> Option<Vec<(&str, Self::Id)>> {
        Some(
            id.as_object()?
                .iter()
                .map(|(k, v)| (k.as_str(), v))
                .collect(),
        )
    }
    fn items(&self, id: Self::Id) -> Option<Vec<Self::Id>> {
        Some(id.as_array()?.iter().collect())
    }
    fn visit(&self) -> bool {
        true
    }
}

/// One image in a decoded Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectImage {
    /// The reference as written.
    pub image: String,
    /// The kind of the object that holds it (an item's kind inside a `*List`).
    pub kind: String,
    /// That object's name, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The container or image volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// `containers`, `initContainers`, `ephemeralContainers` or `volumes`.
    pub field: &'static str,
    /// JSON pointer to the reference from the object's root.
    pub path: String,
}

/// A problem in a decoded object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ObjectError {
    /// JSON pointer to the offending value.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Every image an already-decoded Kubernetes object uses (Pod, workload, CronJob, `*List`,
/// custom resource with a pod template…); an object without pod specs has none.
pub fn extract_object(object: &serde_json::Value) -> Result<Vec<ObjectImage>, ObjectError> {
    let tree = JsonTree(std::marker::PhantomData);
    let mut walk = Walk {
        tree: &tree,
        path: Vec::new(),
        out: Vec::new(),
    };
    walk.object(object, 0)
        .map_err(|(id, message)| ObjectError {
            path: pointer_to(object, id),
            message,
        })?;
    Ok(walk
        .out
        .into_iter()
        .map(|f| ObjectImage {
            image: f.image,
            kind: f.kind,
            name: f.name,
            container: f.container,
            field: f.field,
            path: f.path,
        })
        .collect())
}

/// The JSON pointer of `target` inside `root` (by address), for error messages.
fn pointer_to(root: &serde_json::Value, target: &serde_json::Value) -> String {
    fn find(v: &serde_json::Value, t: &serde_json::Value, path: &mut Vec<String>) -> bool {
        if std::ptr::eq(v, t) {
            return true;
        }
        match v {
            serde_json::Value::Object(m) => {
                for (k, c) in m {
                    path.push(k.clone());
                    if find(c, t, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            serde_json::Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    path.push(i.to_string());
                    if find(c, t, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            _ => {}
        }
        false
    }
    let mut path = Vec::new();
    find(root, target, &mut path);
    pointer(&path)
}

fn pointer(segments: &[String]) -> String {
    let mut out = String::new();
    for s in segments {
        out.push('/');
        out.push_str(&s.replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// Whether a document's root is a Kubernetes object (a mapping with apiVersion and kind).
pub(crate) fn is_object(tree: &YamlTree<'_, '_>, root: NodeId) -> bool {
    tree.doc.entries(root).is_some()
        && tree
            .doc
            .get(root, "apiVersion")
            .and_then(|v| tree.doc.str(v))
            .is_some()
        && tree
            .doc
            .get(root, "kind")
            .and_then(|v| tree.doc.str(v))
            .is_some()
}

/// A finding before it has a place in a file.
struct Raw<Id> {
    image: String,
    at: Id,
    kind: String,
    name: Option<String>,
    namespace: Option<String>,
    container: Option<String>,
    field: &'static str,
    path: String,
}

struct Walk<'t, T: Tree> {
    tree: &'t T,
    path: Vec<String>,
    out: Vec<Raw<T::Id>>,
}

type WalkError<Id> = (Id, String);

impl<T: Tree> Walk<'_, T> {
    fn object(&mut self, obj: T::Id, depth: usize) -> Result<(), WalkError<T::Id>> {
        let t = self.tree;
        if !t.visit() || depth > MAX_SEARCH_DEPTH {
            return Ok(());
        }
        let kind = t.get(obj, "kind").and_then(|k| t.str(k)).unwrap_or("");
        let api_version = t
            .get(obj, "apiVersion")
            .and_then(|k| t.str(k))
            .unwrap_or("");
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        if PATTERN_GROUPS.contains(&group) {
            return Ok(());
        }
        if kind.ends_with("List")
            && let Some(items_node) = t.get(obj, "items")
            && let Some(items) = t.items(items_node)
        {
            for (i, item) in items.into_iter().enumerate() {
                if t.is_map(item) {
                    self.path.push("items".into());
                    self.path.push(i.to_string());
                    self.object(item, depth + 1)?;
                    self.path.pop();
                    self.path.pop();
                }
            }
            return Ok(());
        }
        let meta = t.get(obj, "metadata");
        let name = meta
            .and_then(|m| t.get(m, "name"))
            .and_then(|n| t.str(n))
            .map(str::to_string);
        let namespace = meta
            .and_then(|m| t.get(m, "namespace"))
            .and_then(|n| t.str(n))
            .map(str::to_string);
        let context = Context {
            kind: kind.to_string(),
            name,
            namespace,
        };
        let base = self.path.len();
        let entries = t.entries(obj).unwrap_or_default();
        for (key, value) in entries {
            // The object's own metadata and status hold no pod specs to deploy.
            if matches!(key, "metadata" | "status" | "apiVersion" | "kind") {
                continue;
            }
            self.path.push(key.to_string());
            self.search(value, &context, depth + 1)?;
            self.path.truncate(base);
        }
        Ok(())
    }

    fn search(&mut self, node: T::Id, ctx: &Context, depth: usize) -> Result<(), WalkError<T::Id>> {
        let t = self.tree;
        if !t.visit() || depth > MAX_SEARCH_DEPTH {
            return Ok(());
        }
        if let Some(entries) = t.entries(node) {
            if self.is_pod_spec(node) {
                return self.pod_spec(node, ctx);
            }
            for (key, value) in entries {
                self.path.push(key.to_string());
                let r = self.search(value, ctx, depth + 1);
                self.path.pop();
                r?;
            }
        } else if let Some(items) = t.items(node) {
            for (i, item) in items.into_iter().enumerate() {
                self.path.push(i.to_string());
                let r = self.search(item, ctx, depth + 1);
                self.path.pop();
                r?;
            }
        }
        Ok(())
    }

    /// A mapping with a `containers` list whose entries are mappings with `image` or `name`.
    fn is_pod_spec(&self, node: T::Id) -> bool {
        let t = self.tree;
        let Some(containers) = t.get(node, "containers").and_then(|c| t.items(c)) else {
            return false;
        };
        !containers.is_empty()
            && containers.iter().all(|c| t.is_map(*c))
            && containers
                .iter()
                .any(|c| t.get(*c, "image").is_some() || t.get(*c, "name").is_some())
    }

    fn pod_spec(&mut self, spec: T::Id, ctx: &Context) -> Result<(), WalkError<T::Id>> {
        let t = self.tree;
        for field in CONTAINER_LISTS {
            let Some(list) = t.get(spec, field) else {
                continue;
            };
            let Some(items) = t.items(list) else {
                if t.is_null(list) {
                    continue;
                }
                return Err((list, format!("{field} must be a list")));
            };
            for (i, c) in items.into_iter().enumerate() {
                if !t.visit() {
                    return Ok(());
                }
                let Some(image) = t.get(c, "image") else {
                    continue;
                };
                let container = t.get(c, "name").and_then(|n| t.str(n)).map(str::to_string);
                let what = match &container {
                    Some(n) => format!("container {n:?}"),
                    None => format!("{field}[{i}]"),
                };
                let text = self.image_text(image, &what)?;
                self.push(
                    text,
                    image,
                    ctx,
                    container,
                    field,
                    &[field, &i.to_string(), "image"],
                );
            }
        }
        if let Some(volumes) = t.get(spec, "volumes").and_then(|v| t.items(v)) {
            for (i, v) in volumes.into_iter().enumerate() {
                let Some(source) = t.get(v, "image") else {
                    continue;
                };
                if !t.is_map(source) {
                    continue;
                }
                let Some(reference) = t.get(source, "reference") else {
                    continue;
                };
                let name = t.get(v, "name").and_then(|n| t.str(n)).map(str::to_string);
                let what = match &name {
                    Some(n) => format!("image volume {n:?}"),
                    None => format!("volumes[{i}]"),
                };
                let text = self.image_text(reference, &what)?;
                self.push(
                    text,
                    reference,
                    ctx,
                    name,
                    "volumes",
                    &["volumes", &i.to_string(), "image", "reference"],
                );
            }
        }
        Ok(())
    }

    fn image_text(&self, image: T::Id, what: &str) -> Result<String, WalkError<T::Id>> {
        let t = self.tree;
        match t.str(image) {
            Some(s) if !s.trim().is_empty() => Ok(s.to_string()),
            Some(_) => Err((image, format!("{what} has an empty image"))),
            None if t.is_null(image) => Err((image, format!("{what} has an empty image"))),
            None => Err((
                image,
                format!(
                    "{what}: the image is not a string (an unrendered template such as {{{{ .Values.image }}}}?)"
                ),
            )),
        }
    }

    fn push(
        &mut self,
        image: String,
        at: T::Id,
        ctx: &Context,
        container: Option<String>,
        field: &'static str,
        tail: &[&str],
    ) {
        let mut segments = self.path.clone();
        segments.extend(tail.iter().map(|s| s.to_string()));
        self.out.push(Raw {
            image,
            at,
            kind: ctx.kind.clone(),
            name: ctx.name.clone(),
            namespace: ctx.namespace.clone(),
            container,
            field,
            path: pointer(&segments),
        });
    }
}

struct Context {
    kind: String,
    name: Option<String>,
    namespace: Option<String>,
}

/// Every image of the Kubernetes object at `root`, with places in the file.
pub(crate) fn extract_yaml(
    tree: &YamlTree<'_, '_>,
    root: NodeId,
    findings: &mut Vec<Finding>,
) -> Result<(), ExtractError> {
    let mut walk = Walk {
        tree,
        path: Vec::new(),
        out: Vec::new(),
    };
    walk.object(root, 0)
        .map_err(|(id, message)| tree.doc.error_at(id, message))?;
    tree.check_budget()?;
    let first = findings.len();
    // A node shared through an alias or merge key is one reference in the file: listed once.
    let mut seen = std::collections::HashSet::new();
    findings.extend(
        walk.out
            .into_iter()
            .filter(|r| seen.insert(r.at))
            .map(|r| finding(tree.doc, r)),
    );
    findings[first..].sort_by_key(|f| (f.line, f.column));
    Ok(())
}

fn finding(doc: &Doc<'_>, r: Raw<NodeId>) -> Finding {
    let node = doc.node(r.at);
    Finding {
        image: r.image,
        line: node.line,
        column: doc.text_column(r.at),
        kind: r.kind,
        name: r.name,
        namespace: r.namespace,
        container: r.container,
        field: Some(r.field),
        path: Some(r.path),
        stage: None,
        platform: None,
        written: None,
        site: doc.site(r.at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decoded_objects() {
        let cron = json!({
            "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [{"name": "job", "image": "registry.example/job:2"}],
                "volumes": [{"name": "data", "image": {"reference": "registry.example/data:1"}}]
            }}}}}
        });
        let found = extract_object(&cron).expect("extracts");
        let summary: Vec<_> = found
            .iter()
            .map(|f| (f.image.as_str(), f.field, f.path.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "registry.example/job:2",
                    "containers",
                    "/spec/jobTemplate/spec/template/spec/containers/0/image"
                ),
                (
                    "busybox:1.36",
                    "initContainers",
                    "/spec/jobTemplate/spec/template/spec/initContainers/0/image"
                ),
                (
                    "registry.example/data:1",
                    "volumes",
                    "/spec/jobTemplate/spec/template/spec/volumes/0/image/reference"
                ),
            ]
        );
        assert!(
            found
                .iter()
                .all(|f| f.kind == "CronJob" && f.name.as_deref() == Some("nightly"))
        );
    }

    #[test]
    fn policies_and_non_workloads_are_skipped() {
        let policy = json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
            "spec": {"rules": [{"validate": {"pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}}}]}});
        assert_eq!(extract_object(&policy).expect("ok"), []);
        let svc = json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}]}});
        assert_eq!(extract_object(&svc).expect("ok"), []);
    }

    #[test]
    fn a_non_string_image_is_an_error_with_its_path() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "spec": {"containers": [{"name": "a", "image": {"repository": "x"}}]}});
        let e = extract_object(&pod).expect_err("refused");
        assert_eq!(e.path, "/spec/containers/0/image");
    }
}
