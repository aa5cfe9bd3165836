#![allow(dead_code, clippy::all)]
//! Image references: `host[:port]/repo[:tag][@sha256:…]` with Docker's normalization, and
//! `oci:PATH[:TAG|@DIGEST]` for an OCI image layout on disk.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The registry Docker assumes when a reference names none.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
const MAX_REFERENCE_LEN: usize = 4096;
const MAX_REPOSITORY_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// Why a reference could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The reference is empty.
    #[error("empty image reference")]
    Empty,
    /// The reference is implausibly long.
    #[error("image reference is longer than {MAX_REFERENCE_LEN} characters")]
    TooLong,
    /// A digest is malformed or uses an unsupported algorithm.
    #[error("invalid digest {0:?}: expected sha256: followed by 64 lowercase hex characters")]
    Digest(String),
    /// A tag is malformed.
    #[error(
        "invalid tag {0:?}: tags are 1-128 characters of letters, digits, '_', '.', '-' and may not start with '.' or '-'"
    )]
    Tag(String),
    /// A repository path component is malformed.
    #[error(
        "invalid repository {0:?}: path components are lowercase letters and digits, separated by '.', '_', '__' or '-'"
    )]
    Repository(String),
    /// The registry host is malformed.
    #[error("invalid registry host {0:?}")]
    Host(String),
    /// An `oci:` reference has no path.
    #[error("oci: reference without a path (expected oci:PATH[:TAG|@DIGEST])")]
    EmptyLayoutPath,
}

/// A content digest. Only sha256 is accepted: it is what registries and cosign use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest {
            hex: hex::encode(sha2::Sha256::digest(bytes)),
        }
    }

    /// The 64 lowercase hex characters.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The tag under which cosign stores signatures for this digest.
    pub fn signature_tag(&self) -> String {
        format!("sha256-{}.sig", self.hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| ReferenceError::Digest(s.to_string()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::Digest(s.to_string()));
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A reference to an image in a registry, normalized as Docker does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryRef {
    /// Registry host and optional port, e.g. `docker.io` or `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/alpine`.
    pub repository: String,
    /// Tag, if one was given.
    pub tag: Option<String>,
    /// Digest, if one was given.
    pub digest: Option<Digest>,
}

impl RegistryRef {
    /// `registry/repository`: what cosign writes as the payload's docker-reference.
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The host to contact for the registry API.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }
}

/// A reference to an image inside an OCI image layout directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayoutRef {
    /// The layout directory.
    pub path: PathBuf,
    /// Tag (the `org.opencontainers.image.ref.name` annotation), if one was given.
    pub tag: Option<String>,
    /// Digest, if one was given.
    pub digest: Option<Digest>,
}

impl LayoutRef {
    /// The identity signatures name for a layout image: the layout directory's name.
    /// `--identity` overrides it, e.g. to sign for the repository the image will be pushed to.
    pub fn default_identity(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// An image reference of either kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageRef {
    /// An image in a registry.
    Registry(RegistryRef),
    /// An image in an OCI layout on disk.
    Layout(LayoutRef),
}

impl ImageRef {
    /// The digest given in the reference, if any.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            ImageRef::Registry(r) => r.digest.as_ref(),
            ImageRef::Layout(l) => l.digest.as_ref(),
        }
    }

    /// The tag given in the reference, if any.
    pub fn tag(&self) -> Option<&str> {
        match self {
            ImageRef::Registry(r) => r.tag.as_deref(),
            ImageRef::Layout(l) => l.tag.as_deref(),
        }
    }

    /// The repository part, without tag or digest: `host/repo` or `oci:PATH`.
    pub fn repository_display(&self) -> String {
        match self {
            ImageRef::Registry(r) => r.repository_name(),
            ImageRef::Layout(l) => format!("oci:{}", l.path.display()),
        }
    }

    /// The identity a signature's docker-reference must name.
    pub fn default_identity(&self) -> String {
        match self {
            ImageRef::Registry(r) => r.repository_name(),
            ImageRef::Layout(l) => l.default_identity(),
        }
    }

    /// The same image pinned to `digest` (the tag is kept for display only).
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        let mut pinned = self.clone();
        match &mut pinned {
            ImageRef::Registry(r) => r.digest = Some(digest),
            ImageRef::Layout(l) => l.digest = Some(digest),
        }
        pinned
    }

    /// `repo@digest` when the digest is known, else the reference as given.
    pub fn pinned_display(&self, digest: &Digest) -> String {
        match self {
            ImageRef::Registry(r) => format!("{}@{}", r.repository_name(), digest),
            ImageRef::Layout(l) => {
                let path = l.path.display().to_string();
                // Without its tag, `oci:dir:x:v1` would print as `oci:dir:x@…`, which reads back
                // as directory `dir`, tag `x`: keep the tag when the last path part has a ':'.
                match &l.tag {
                    Some(tag) if path.rsplit('/').next().is_some_and(|p| p.contains(':')) => {
                        format!("oci:{path}:{tag}@{digest}")
                    }
                    _ => format!("oci:{path}@{digest}"),
                }
            }
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository_display())?;
        if let Some(tag) = self.tag() {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = self.digest() {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// Parses an image reference.
pub fn parse(input: &str) -> Result<ImageRef, ReferenceError> {
    if input.is_empty() {
        return Err(ReferenceError::Empty);
    }
    if input.len() > MAX_REFERENCE_LEN {
        return Err(ReferenceError::TooLong);
    }
    if let Some(rest) = input.strip_prefix("oci:") {
        return parse_layout(rest).map(ImageRef::Layout);
    }
    parse_registry(input).map(ImageRef::Registry)
}

fn parse_layout(rest: &str) -> Result<LayoutRef, ReferenceError> {
    let (rest, digest) = split_digest(rest)?;
    // A tag follows the last ':' only if no '/' comes after it, so `oci:/a:b/c` is a path.
    let (path, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => {
            let tag = &rest[i + 1..];
            validate_tag(tag)?;
            (&rest[..i], Some(tag.to_string()))
        }
        _ => (rest, None),
    };
    if path.is_empty() {
        return Err(ReferenceError::EmptyLayoutPath);
    }
    Ok(LayoutRef {
        path: PathBuf::from(path),
        tag,
        digest,
    })
}

fn parse_registry(input: &str) -> Result<RegistryRef, ReferenceError> {
    let (rest, digest) = split_digest(input)?;
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => {
            let tag = &rest[i + 1..];
            validate_tag(tag)?;
            (&rest[..i], Some(tag.to_string()))
        }
        _ => (rest, None),
    };
    let (registry, repository) = match name.split_once('/') {
        Some((first, remainder))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), remainder.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let registry = match registry.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => registry,
    };
    validate_host(&registry)?;
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    validate_repository(&repository)?;
    Ok(RegistryRef {
        registry,
        repository,
        tag,
        digest,
    })
}

fn split_digest(s: &str) -> Result<(&str, Option<Digest>), ReferenceError> {
    match s.rsplit_once('@') {
        Some((rest, digest)) => Ok((rest, Some(digest.parse()?))),
        None => Ok((s, None)),
    }
}

fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    let ok = !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::Tag(tag.to_string()))
    }
}

fn validate_host(host: &str) -> Result<(), ReferenceError> {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') || name.starts_with('[') => (name, Some(port)),
        _ => (host, None),
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    if name_ok && port_ok {
        Ok(())
    } else {
        Err(ReferenceError::Host(host.to_string()))
    }
}

fn validate_repository(repo: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::Repository(repo.to_string());
    if repo.is_empty() || repo.len() > MAX_REPOSITORY_LEN {
        return Err(bad());
    }
    for component in repo.split('/') {
        if !valid_path_component(component) {
            return Err(bad());
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, the distribution reference grammar.
fn valid_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}
