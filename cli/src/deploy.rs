//! Images from the files teams deploy, for `vouch images -f`, `vouch verify -f` and `vouch pin`.
//!
//! The files are walked and read by `vouch_deploy`; here every reference found is parsed as an
//! image reference (a parse failure is an error naming file:line, never a skip) and duplicates
//! are merged with all their places kept.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use serde::Serialize;
use vouch_deploy::walk::{Source, WalkLimits};
use vouch_deploy::{ExtractError, Extraction, Finding, Options};

use crate::args::FileArgs;
use crate::exit::Failure;
use vouch_oci::reference::{self, ImageRef};

/// Where an image is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    /// The file (`<stdin>` for standard input).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What uses it (`Deployment`, `compose-service`, `dockerfile-from`, …).
    pub kind: String,
    /// The Kubernetes object's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The container, image volume or Compose service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The Dockerfile stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Which list of the pod spec (`containers`, `initContainers`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl Place {
    fn of(file: &str, f: &Finding) -> Place {
        Place {
            file: file.to_string(),
            line: f.line,
            column: f.column,
            kind: f.kind.clone(),
            name: f.name.clone(),
            container: f.container.clone(),
            stage: f.stage.clone(),
            field: f.field,
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} ({})", self.file, self.line, self.what())
    }
}

impl Place {
    /// `Deployment api, container app`, `compose service web`, `FROM, stage build`.
    fn what(&self) -> String {
        describe(
            &self.kind,
            self.name.as_deref(),
            self.container.as_deref(),
            self.stage.as_deref(),
            self.field,
        )
    }
}

pub fn describe(
    kind: &str,
    name: Option<&str>,
    container: Option<&str>,
    stage: Option<&str>,
    field: Option<&str>,
) -> String {
    let stage = stage.map(|s| format!(", stage {s}")).unwrap_or_default();
    match kind {
        "compose-service" => format!("compose service {}", container.unwrap_or("?")),
        "dockerfile-from" => format!("FROM{stage}"),
        "dockerfile-copy-from" => format!("COPY --from{stage}"),
        "dockerfile-mount-from" => format!("RUN --mount from{stage}"),
        _ => {
            let mut s = kind.to_string();
            if let Some(n) = name {
                s.push(' ');
                s.push_str(n);
            }
            if let Some(c) = container {
                let what = match field {
                    Some("initContainers") => "init container",
                    Some("ephemeralContainers") => "ephemeral container",
                    Some("volumes") => "image volume",
                    _ => "container",
                };
                s.push_str(&format!(", {what} {c}"));
            }
            s
        }
    }
}

/// The places each image (by its normalized reference) is used.
pub type Sources = HashMap<String, Vec<Place>>;

/// One file read.
pub struct Loaded {
    /// How it is named in messages.
    pub display: String,
    /// Its path (None for standard input).
    pub path: Option<PathBuf>,
    /// The bytes read.
    pub bytes: Vec<u8>,
    /// What was found.
    pub extraction: Extraction,
}

/// A finding with its reference parsed.
pub struct Located<'a> {
    /// The file.
    pub file: &'a Loaded,
    /// The finding.
    pub finding: &'a Finding,
    /// The parsed reference.
    pub image: ImageRef,
}

fn parse_build_args(pairs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            Failure::usage(anyhow!(
                "--build-arg {pair:?} is not NAME=VALUE (example: --build-arg GO_VERSION=1.23)"
            ))
        })?;
        if k.is_empty() {
            return Err(Failure::usage(anyhow!(
                "--build-arg {pair:?} has an empty name"
            )));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Reads every file `-f` names (directories walked), reporting every problem at once.
pub fn load(input: &FileArgs, allow_stdin: bool) -> Result<Vec<Loaded>, Failure> {
    let walked = vouch_deploy::walk::walk(&input.files, &WalkLimits::default())
        .map_err(|e| Failure::usage(anyhow!(e)))?;
    if input.verbose {
        for (path, why) in &walked.skipped {
            eprintln!("note: skipped {path}: {why}");
        }
    }
    let mut options = Options {
        env: std::env::vars().collect(),
        build_args: parse_build_args(&input.build_args)?,
        ..Options::default()
    };
    let limit = options.limits.max_file_bytes;
    let mut dotenvs: HashMap<PathBuf, Option<String>> = HashMap::new();
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for source in walked.sources {
        let display = source.display();
        let (bytes, path, explicit) = match &source {
            Source::Stdin => {
                if !allow_stdin {
                    return Err(Failure::usage(anyhow!(
                        "pin rewrites files in place: it cannot rewrite standard input (-); name the files"
                    )));
                }
                let read = vouch_deploy::walk::read_all_bounded(std::io::stdin().lock(), limit);
                (read, None, true)
            }
            Source::File { path, explicit } => (
                vouch_deploy::walk::read_bounded(path, limit),
                Some(path.clone()),
                *explicit,
            ),
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                errors.push(format!("{display}: cannot read: {e}"));
                continue;
            }
        };
        let dir = match &path {
            Some(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
            None => PathBuf::from("."),
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let dotenv = match dotenvs.get(&dir) {
            Some(d) => d.clone(),
            None => {
                let d = match vouch_deploy::walk::read_dotenv(&dir) {
                    Ok(d) => d,
                    Err(e) => {
                        errors.push(format!("{e}"));
                        None
                    }
                };
                dotenvs.insert(dir.clone(), d.clone());
                d
            }
        };
        options.dotenv = dotenv;
        let name = path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        match vouch_deploy::extract(name.as_deref(), &bytes, &options) {
            Ok(extraction) => loaded.push(Loaded {
                display,
                path,
                bytes,
                extraction,
            }),
            Err(ExtractError::NotRecognized(why)) if !explicit => {
                if input.verbose {
                    eprintln!("note: skipped {display}: {why}");
                }
            }
            Err(ExtractError::NotRecognized(why)) => errors.push(format!(
                "{display}: not a Kubernetes manifest, Compose file or Dockerfile ({why})"
            )),
            Err(ExtractError::At {
                line,
                column,
                message,
            }) => errors.push(format!("{display}:{line}:{column}: {message}")),
            Err(e @ ExtractError::TooLarge { .. }) => errors.push(format!("{display}: {e}")),
        }
    }
    fail_on(errors)?;
    Ok(loaded)
}

/// Prints every error and fails (exit 2) if there is one.
fn fail_on(errors: Vec<String>) -> Result<(), Failure> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(Failure::usage(anyhow!("{}", errors[0]))),
        n => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            Err(Failure::usage(anyhow!("{n} problems in the given files")))
        }
    }
}

/// Parses every finding's reference; a bad one is an error naming file:line:col.
pub fn parse_all(loaded: &[Loaded]) -> Result<Vec<Located<'_>>, Failure> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for file in loaded {
        for finding in &file.extraction.findings {
            match parse_reference(&finding.image) {
                Ok(image) => out.push(Located {
                    file,
                    finding,
                    image,
                }),
                Err(e) => errors.push(format!(
                    "{}:{}:{}: {e}",
                    file.display, finding.line, finding.column
                )),
            }
        }
    }
    fail_on(errors)?;
    Ok(out)
}

fn parse_reference(text: &str) -> Result<ImageRef, String> {
    let trimmed = text.trim();
    if trimmed.contains("{{") || trimmed.contains("}}") {
        return Err(format!(
            "{text:?} is an unrendered template, not an image reference: render it first (helm template … | vouch … -f -)"
        ));
    }
    if trimmed.starts_with("oci:") {
        return Err(format!(
            "{text:?}: an oci: layout is not an image a cluster or build pulls"
        ));
    }
    reference::parse(trimmed).map_err(|e| format!("{text:?} is not a valid image reference: {e}"))
}

/// The images `verify` judges: the command line's and `--from`'s as before, then those the
/// files use, each distinct image once, with every place it is used.
pub fn verify_images(
    direct: Vec<ImageRef>,
    input: &FileArgs,
) -> Result<(Vec<ImageRef>, Sources), Failure> {
    let mut images = direct;
    let mut sources = Sources::new();
    if input.files.is_empty() {
        return Ok((images, sources));
    }
    let loaded = load(input, true)?;
    let located = parse_all(&loaded)?;
    let mut seen: std::collections::HashSet<String> =
        images.iter().map(ToString::to_string).collect();
    if located.is_empty() {
        eprintln!("note: the given files use no images");
    }
    for l in located {
        let key = l.image.to_string();
        sources
            .entry(key.clone())
            .or_default()
            .push(Place::of(&l.file.display, l.finding));
        if seen.insert(key) {
            images.push(l.image);
        }
    }
    Ok((images, sources))
}

/// A report with the places its image is used, serialized as one object.
#[derive(Debug, Clone, Serialize)]
pub struct Sourced<R> {
    /// The report.
    #[serde(flatten)]
    pub report: R,
    /// Every file:line the image came from (none for images named directly).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Place>,
}

/// The lines a text report gets for its places.
pub fn render_sources(places: &[Place]) -> String {
    places.iter().map(|p| format!("  used at {p}\n")).collect()
}
