//! The decision for one review, pure: which images an object uses (and which of them an
//! UPDATE changes), and, given each distinct image's verdict, the answer — allowed or refused
//! with a message naming each refused image and why, warnings for rules in warn mode, and
//! for the mutating webhook a JSON Patch that pins each verified reference to its digest.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};
use vouch_deploy::ObjectImage;

/// Distinct images in one review at most; more is refused (no pod needs them, and each costs
/// registry requests).
pub const MAX_DISTINCT_IMAGES: usize = 256;
/// Refused images named in a message at most; the rest are counted.
const MAX_NAMED_REFUSALS: usize = 16;
/// Warnings in one answer at most.
const MAX_WARNINGS: usize = 16;
/// The API server cuts warnings longer than this.
pub const MAX_WARNING_CHARS: usize = 120;
/// A refusal reason is cut to this many characters (kubectl prints them all on one line).
const MAX_REASON_CHARS: usize = 400;

/// How one image was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Verified: admitted and pinned.
    Allow,
    /// Would be refused, but its rule is in warn mode: admitted with a warning, not pinned.
    Warn,
    /// Refused by the policy or the keys.
    Deny,
    /// The registry could not be read: refused (fail closed).
    Unreachable,
    /// Not verified within the review's deadline: refused (fail closed).
    TimedOut,
}

impl Judgement {
    /// The word for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Judgement::Allow => "allow",
            Judgement::Warn => "warn",
            Judgement::Deny => "deny",
            Judgement::Unreachable => "unreachable",
            Judgement::TimedOut => "timeout",
        }
    }

    fn admits(self) -> bool {
        matches!(self, Judgement::Allow | Judgement::Warn)
    }
}

/// The verdict on one distinct image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageVerdict {
    /// How it was judged.
    pub judgement: Judgement,
    /// The digest verified (`sha256:…`), when the reference resolved.
    pub digest: Option<String>,
    /// Why it was refused or warned about (empty when allowed).
    pub reason: String,
}

/// The images of a request's object that need a verdict: every image on CREATE; on UPDATE
/// only those the update adds or changes (an image at the same place with the same text was
/// admitted when it was set, so label and finalizer updates of running workloads never wait
/// on a registry).
pub fn images_to_check(object: &Value, old_object: &Value) -> Result<Vec<ObjectImage>, String> {
    let images = vouch_deploy::extract_object(object).map_err(|e| e.to_string())?;
    if old_object.is_null() {
        return Ok(images);
    }
    let old: HashSet<(String, String)> = vouch_deploy::extract_object(old_object)
        .map(|found| found.into_iter().map(|i| (i.path, i.image)).collect())
        .unwrap_or_default();
    Ok(images
        .into_iter()
        .filter(|i| !old.contains(&(i.path.clone(), i.image.clone())))
        .collect())
}

/// The distinct references among `images`, in first-seen order.
pub fn distinct(images: &[ObjectImage]) -> Vec<String> {
    let mut seen = HashSet::new();
    images
        .iter()
        .filter(|i| seen.insert(i.image.as_str()))
        .map(|i| i.image.clone())
        .collect()
}

/// The answer to one review.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Admitted.
    pub allowed: bool,
    /// Why not (`status.message`), when refused.
    pub message: Option<String>,
    /// Warnings (each at most [`MAX_WARNING_CHARS`] characters).
    pub warnings: Vec<String>,
    /// JSON Patch operations (mutating webhook, admitted only).
    pub patch: Vec<Value>,
}

impl Decision {
    /// Admitted, nothing to say.
    pub fn allow() -> Decision {
        Decision {
            allowed: true,
            message: None,
            warnings: Vec::new(),
            patch: Vec::new(),
        }
    }

    /// Refused with `message`.
    pub fn refuse(message: impl Into<String>) -> Decision {
        Decision {
            allowed: false,
            message: Some(message.into()),
            warnings: Vec::new(),
            patch: Vec::new(),
        }
    }
}

/// Decides from each image's verdict. An image without a verdict is refused. With `pin`, the
/// admitted answer carries a patch replacing each verified reference with
/// `reference@digest` (an existing digest is left alone: it is the one verified).
pub fn decide(
    images: &[ObjectImage],
    verdicts: &BTreeMap<String, ImageVerdict>,
    pin: bool,
) -> Decision {
    let missing = ImageVerdict {
        judgement: Judgement::TimedOut,
        digest: None,
        reason: "not verified".into(),
    };
    let verdict_of = |image: &str| verdicts.get(image).unwrap_or(&missing);
    let order = distinct(images);
    let refused: Vec<(&str, &ImageVerdict)> = order
        .iter()
        .map(|i| (i.as_str(), verdict_of(i)))
        .filter(|(_, v)| !v.judgement.admits())
        .collect();
    if !refused.is_empty() {
        let mut message = format!(
            "vouch refused {} of {} image{}: ",
            refused.len(),
            order.len(),
            if order.len() == 1 { "" } else { "s" }
        );
        let named: Vec<String> = refused
            .iter()
            .take(MAX_NAMED_REFUSALS)
            .map(|(image, v)| {
                format!(
                    "{image} ({}): {}",
                    where_used(images, image),
                    cut(&v.reason, MAX_REASON_CHARS)
                )
            })
            .collect();
        message.push_str(&named.join("; "));
        if refused.len() > MAX_NAMED_REFUSALS {
            message.push_str(&format!(
                "; and {} more",
                refused.len() - MAX_NAMED_REFUSALS
            ));
        }
        return Decision::refuse(message);
    }
    let mut decision = Decision::allow();
    for image in &order {
        let v = verdict_of(image);
        if v.judgement == Judgement::Warn && decision.warnings.len() < MAX_WARNINGS {
            decision.warnings.push(cut(
                &format!("vouch: {image} would be refused: {}", v.reason),
                MAX_WARNING_CHARS,
            ));
        }
    }
    if pin {
        for found in images {
            let v = verdict_of(&found.image);
            let (Judgement::Allow, Some(digest)) = (v.judgement, &v.digest) else {
                continue;
            };
            if let Ok(Some(pinned)) = vouch_deploy::rewrite::pinned_text(&found.image, digest) {
                decision.patch.push(json!({
                    "op": "replace",
                    "path": found.path,
                    "value": pinned,
                }));
            }
        }
    }
    decision
}

/// `container "app"`, `init container "init"`, … — where a refused image is used (first place,
/// and how many more).
fn where_used(images: &[ObjectImage], image: &str) -> String {
    let places: Vec<&ObjectImage> = images.iter().filter(|i| i.image == image).collect();
    let Some(first) = places.first() else {
        return String::new();
    };
    let what = match first.field {
        "initContainers" => "init container",
        "ephemeralContainers" => "ephemeral container",
        "volumes" => "image volume",
        _ => "container",
    };
    let name = first.container.as_deref().unwrap_or("?");
    match places.len() {
        1 => format!("{what} {name:?}"),
        n => format!("{what} {name:?} and {} more", n - 1),
    }
}

/// `text` cut to `max` characters, ending with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(images: &[&str]) -> Value {
        let containers: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
            .collect();
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": containers}})
    }

    fn verdict(judgement: Judgement, digest: Option<&str>, reason: &str) -> ImageVerdict {
        ImageVerdict {
            judgement,
            digest: digest.map(str::to_string),
            reason: reason.into(),
        }
    }

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn verified_images_are_pinned_once_per_place_and_again_not_at_all() {
        let object = pod(&["r.io/app:1", "r.io/app:1", "r.io/db"]);
        let images = images_to_check(&object, &Value::Null).expect("images");
        assert_eq!(distinct(&images), ["r.io/app:1", "r.io/db"]);
        let verdicts = BTreeMap::from([
            (
                "r.io/app:1".to_string(),
                verdict(Judgement::Allow, Some(D), ""),
            ),
            (
                "r.io/db".to_string(),
                verdict(Judgement::Allow, Some(D), ""),
            ),
        ]);
        let d = decide(&images, &verdicts, true);
        assert!(d.allowed);
        assert_eq!(d.patch.len(), 3);
        assert_eq!(d.patch[0]["path"], "/spec/containers/0/image");
        assert_eq!(d.patch[0]["value"], format!("r.io/app:1@{D}"));
        // Pinned already: nothing to patch (the API server's reinvocation is a no-op).
        let pinned = format!("r.io/app:1@{D}");
        let object = pod(&[&pinned]);
        let images = images_to_check(&object, &Value::Null).expect("images");
        let verdicts = BTreeMap::from([(pinned.clone(), verdict(Judgement::Allow, Some(D), ""))]);
        assert!(decide(&images, &verdicts, true).patch.is_empty());
    }

    #[test]
    fn a_refusal_names_each_refused_image_and_where_it_is_used() {
        let object = pod(&["r.io/ok:1", "r.io/bad:1", "r.io/bad:1"]);
        let images = images_to_check(&object, &Value::Null).expect("images");
        let verdicts = BTreeMap::from([
            (
                "r.io/ok:1".to_string(),
                verdict(Judgement::Allow, Some(D), ""),
            ),
            (
                "r.io/bad:1".to_string(),
                verdict(Judgement::Deny, None, "no signature"),
            ),
        ]);
        let d = decide(&images, &verdicts, true);
        assert!(!d.allowed);
        assert!(d.patch.is_empty());
        assert_eq!(
            d.message.as_deref(),
            Some(
                "vouch refused 1 of 2 images: r.io/bad:1 (container \"c1\" and 1 more): no signature"
            )
        );
        // An image nobody judged (the deadline passed) is refused too.
        let d = decide(&images, &BTreeMap::new(), false);
        assert!(!d.allowed);
    }

    #[test]
    fn warn_mode_admits_with_short_warnings_and_no_pin() {
        let long = format!("r.io/{}:1", "a".repeat(200));
        let object = pod(&[&long]);
        let images = images_to_check(&object, &Value::Null).expect("images");
        let verdicts =
            BTreeMap::from([(long.clone(), verdict(Judgement::Warn, Some(D), "unsigned"))]);
        let d = decide(&images, &verdicts, true);
        assert!(d.allowed && d.patch.is_empty());
        assert_eq!(d.warnings.len(), 1);
        assert_eq!(d.warnings[0].chars().count(), MAX_WARNING_CHARS);
    }

    #[test]
    fn an_update_checks_only_the_images_it_changes() {
        let old = pod(&["r.io/a:1", "r.io/b:1"]);
        let new = pod(&["r.io/a:1", "r.io/b:2"]);
        let images = images_to_check(&new, &old).expect("images");
        assert_eq!(distinct(&images), ["r.io/b:2"]);
    }
}
