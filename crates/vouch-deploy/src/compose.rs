//! Compose files: `services.*.image`, interpolated from the environment and the `.env` file
//! beside the Compose file (the environment wins, as in Compose). A service with only
//! `build:` has no image to verify and is noted; one with both is listed, since Compose pulls
//! its image before building it.

use std::collections::BTreeMap;

use crate::interpolate::{self, Dialect};
use crate::model::{ExtractError, Finding, Note, Options};
use crate::yaml::{Doc, NodeId};

/// A mapping with a `services` mapping whose entries look like services, and no
/// `apiVersion`/`kind` (those are Kubernetes objects).
pub(crate) fn is_compose(doc: &Doc<'_>, root: NodeId) -> bool {
    if doc.entries(root).is_none() || doc.get(root, "apiVersion").is_some() {
        return false;
    }
    let Some(services) = doc.get(root, "services") else {
        return false;
    };
    let Some(entries) = doc.entries(services) else {
        return false;
    };
    !entries.is_empty()
        && doc.entries_merged(services).iter().all(|(k, v)| {
            doc.str(*k).is_some_and(|name| name.starts_with("x-"))
                || doc.entries(*v).is_some()
                    && ["image", "build", "extends"]
                        .iter()
                        .any(|key| doc.get(*v, key).is_some())
        })
}

pub(crate) fn extract(
    doc: &Doc<'_>,
    root: NodeId,
    options: &Options,
    findings: &mut Vec<Finding>,
    notes: &mut Vec<Note>,
) -> Result<(), ExtractError> {
    let max = options.limits.max_interpolated_bytes;
    let dotenv = match &options.dotenv {
        Some(text) => interpolate::parse_dotenv(text, &options.env, max).map_err(|(line, m)| {
            ExtractError::at(
                1,
                1,
                format!(".env beside the Compose file, line {line}: {m}"),
            )
        })?,
        None => BTreeMap::new(),
    };
    let lookup = |name: &str| options.env.get(name).or_else(|| dotenv.get(name)).cloned();
    let Some(services) = doc.get(root, "services") else {
        return Ok(());
    };
    for (key, service) in doc.entries_merged(services) {
        let Some(name) = doc.str(key).map(str::to_string) else {
            continue;
        };
        if name.starts_with("x-") || doc.entries(service).is_none() {
            continue;
        }
        let interpolate = |id: NodeId, what: &str| -> Result<(String, String), ExtractError> {
            let raw = doc.str(id).ok_or_else(|| {
                doc.error_at(id, format!("service {name:?}: {what} must be a string"))
            })?;
            let value =
                interpolate::interpolate(raw, Dialect::Compose, &lookup, max).map_err(|f| {
                    doc.error_at(
                        id,
                        format!("service {name:?}: {}", interpolate::describe(&f)),
                    )
                })?;
            Ok((raw.to_string(), value))
        };
        match doc.get(service, "image") {
            Some(image) => {
                let (raw, value) = interpolate(image, "image")?;
                if value.trim().is_empty() {
                    return Err(doc.error_at(
                        image,
                        format!("service {name:?}: the image is empty after interpolation"),
                    ));
                }
                let platform = match doc.get(service, "platform") {
                    Some(p) if !doc.is_null(p) => Some(interpolate(p, "platform")?.1),
                    _ => None,
                };
                let node = doc.node(image);
                findings.push(Finding {
                    written: (raw != value).then_some(raw),
                    image: value,
                    line: node.line,
                    column: doc.text_column(image),
                    kind: "compose-service".into(),
                    name: None,
                    namespace: None,
                    container: Some(name.clone()),
                    field: None,
                    path: None,
                    stage: None,
                    platform,
                    site: doc.site(image),
                });
            }
            None => {
                let node = doc.node(key);
                let message = match doc.get(service, "build") {
                    Some(build) => {
                        let context = doc
                            .str(build)
                            .or_else(|| doc.get(build, "context").and_then(|c| doc.str(c)))
                            .unwrap_or(".");
                        format!("built from {context}; no image to verify")
                    }
                    None => "no image of its own (it extends another service)".into(),
                };
                notes.push(Note {
                    line: node.line,
                    kind: "compose-service".into(),
                    container: Some(name.clone()),
                    message,
                });
            }
        }
    }
    Ok(())
}
