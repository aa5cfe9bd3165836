//! Image references: `host[:port]/repo[:tag][@sha256:…]` with Docker's normalization, and
//! `oci:PATH[:TAG|@DIGEST]` for an OCI image layout on disk.
//!
//! The registry form follows the distribution reference grammar exactly ([`grammar`], tested
//! with the grammar's own table); no maintained Rust crate implements it without pulling in a
//! large dependency tree. vouch's own rules on top: `oci:` layouts; Docker Hub normalization
//! (a first component without `.` or `:`, other than `localhost`, is a Docker Hub path);
//! sha256 digests only, in lowercase hex; ports that fit 16 bits.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The registry Docker assumes when a reference names none.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
const MAX_REFERENCE_LEN: usize = 4096;
const MAX_REPOSITORY_LEN: usize = 255;

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

    /// cosign's attestation tag for this digest: `sha256-<hex>.att`.
    pub fn attestation_tag(&self) -> String {
        format!("sha256-{}.att", self.hex)
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
    // The grammar's limit, on the normalized name (as distribution's normalized parse does), so
    // the name vouch prints parses again.
    if registry.len() + 1 + repository.len() > grammar::NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::Repository(repository));
    }
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
    if grammar::is_tag(tag) {
        Ok(())
    } else {
        Err(ReferenceError::Tag(tag.to_string()))
    }
}

fn validate_host(host: &str) -> Result<(), ReferenceError> {
    // vouch: a port is a TCP port (the grammar takes any run of digits).
    let port_fits = match grammar::split_port(host) {
        Some((_, port)) => port.len() <= 5 && port.parse::<u16>().is_ok(),
        None => true,
    };
    if grammar::is_domain(host) && port_fits {
        Ok(())
    } else {
        Err(ReferenceError::Host(host.to_string()))
    }
}

fn validate_repository(repo: &str) -> Result<(), ReferenceError> {
    if repo.len() <= MAX_REPOSITORY_LEN && grammar::is_path(repo) {
        Ok(())
    } else {
        Err(ReferenceError::Repository(repo.to_string()))
    }
}

/// The distribution reference grammar (github.com/distribution/reference, `regexp.go`):
///
/// ```text
/// name             := [domain '/'] path
/// domain           := host [':' port-number]
/// host             := domain-name | '[' IPv6address ']'        ; IPv6: hex digits and ':'
/// domain-name      := domain-component ['.' domain-component]*
/// domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
/// port-number      := /[0-9]+/
/// path             := path-component ['/' path-component]*
/// path-component   := alpha-numeric [separator alpha-numeric]*
/// alpha-numeric    := /[a-z0-9]+/
/// separator        := /[_.]|__|[-]+/
/// tag              := /[\w][\w.-]{0,127}/
/// digest           := algorithm ':' /[0-9a-fA-F]{32,}/
/// algorithm        := component [ /[+._-]/ component ]*   ; component := /[A-Za-z][A-Za-z0-9]*/
/// ```
///
/// A name is at most 255 characters.
pub(crate) mod grammar {
    /// Longest name (domain and path) the grammar allows.
    pub(crate) const NAME_TOTAL_LENGTH_MAX: usize = 255;

    pub(crate) fn is_domain_component(c: &str) -> bool {
        let b = c.as_bytes();
        let inner = |x: &u8| x.is_ascii_alphanumeric() || *x == b'-';
        match b {
            [] => false,
            [only] => only.is_ascii_alphanumeric(),
            [first, middle @ .., last] => {
                first.is_ascii_alphanumeric()
                    && last.is_ascii_alphanumeric()
                    && middle.iter().all(inner)
            }
        }
    }

    /// `host [':' port]` split at the port, if there is one.
    pub(crate) fn split_port(domain: &str) -> Option<(&str, &str)> {
        let (host, port) = domain.rsplit_once(':')?;
        // A colon inside IPv6 brackets is not a port separator.
        if host.starts_with('[') && !host.ends_with(']') {
            return None;
        }
        Some((host, port))
    }

    pub(crate) fn is_domain(domain: &str) -> bool {
        let (host, port) = match split_port(domain) {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        };
        if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return false;
        }
        match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(ipv6) => {
                !ipv6.is_empty() && ipv6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
            }
            None => host.split('.').all(is_domain_component),
        }
    }

    pub(crate) fn is_path_component(c: &str) -> bool {
        let b = c.as_bytes();
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
                return false;
            }
        }
        true
    }

    pub(crate) fn is_path(path: &str) -> bool {
        path.split('/').all(is_path_component)
    }

    pub(crate) fn is_tag(tag: &str) -> bool {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let b = tag.as_bytes();
        !b.is_empty()
            && b.len() <= 128
            && word(b[0])
            && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
    }

    // The whole-reference reading below is what the grammar's table tests; vouch's own parser
    // reads digests with `Digest` (sha256 only).
    #[cfg(test)]
    pub(crate) fn is_digest(digest: &str) -> bool {
        let Some((algorithm, hex)) = digest.split_once(':') else {
            return false;
        };
        let component = |c: &str| {
            let b = c.as_bytes();
            !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
        };
        hex.len() >= 32
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && algorithm.split(['+', '.', '_', '-']).all(component)
    }

    /// A reference split as the grammar reads it: (domain, path, tag, digest).
    #[cfg(test)]
    pub(crate) type Parts<'a> = (Option<&'a str>, &'a str, Option<&'a str>, Option<&'a str>);

    /// Parses `name [':' tag] ['@' digest]` as the grammar does (no normalization): a first
    /// path component followed by '/' is the domain whenever it can be one.
    #[cfg(test)]
    pub(crate) fn parse(reference: &str) -> Option<Parts<'_>> {
        let (rest, digest) = match reference.split_once('@') {
            Some((r, d)) => (r, Some(d).filter(|d| is_digest(d))?.into()),
            None => (reference, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if tag.is_some_and(|t| !is_tag(t)) || name.is_empty() || name.len() > NAME_TOTAL_LENGTH_MAX
        {
            return None;
        }
        if let Some((domain, path)) = name.split_once('/')
            && is_domain(domain)
            && is_path(path)
        {
            return Some((Some(domain), path, tag, digest));
        }
        is_path(name).then_some((None, name, tag, digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn reg(s: &str) -> RegistryRef {
        match parse(s).expect(s) {
            ImageRef::Registry(r) => r,
            ImageRef::Layout(_) => panic!("expected a registry reference for {s}"),
        }
    }

    #[test]
    fn docker_hub_normalization() {
        let r = reg("alpine");
        assert_eq!(r.repository_name(), "docker.io/library/alpine");
        assert_eq!(r.tag, None);
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(
            reg("bitnami/redis:7").repository_name(),
            "docker.io/bitnami/redis"
        );
        assert_eq!(
            reg("index.docker.io/library/alpine").repository_name(),
            "docker.io/library/alpine"
        );
    }

    #[test]
    fn host_port_tag_and_digest() {
        let r = reg(&format!("127.0.0.1:5000/test/app:v1@{D}"));
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "test/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(
            r.digest.as_ref().map(ToString::to_string).as_deref(),
            Some(D)
        );
        let r = reg("localhost/app");
        assert_eq!(r.registry, "localhost");
        let r = reg("127.0.0.1:5000/app");
        assert_eq!(r.tag, None, "a port is not a tag");
    }

    #[test]
    fn signature_tag_matches_cosign() {
        let d: Digest = D.parse().expect("digest");
        assert_eq!(
            d.signature_tag(),
            "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig"
        );
    }

    #[test]
    fn layout_references() {
        let ImageRef::Layout(l) = parse("oci:/tmp/img:v1").expect("parse") else {
            panic!("layout")
        };
        assert_eq!(l.path, PathBuf::from("/tmp/img"));
        assert_eq!(l.tag.as_deref(), Some("v1"));
        let ImageRef::Layout(l) = parse(&format!("oci:./a:b/img@{D}")).expect("parse") else {
            panic!("layout")
        };
        assert_eq!(l.path, PathBuf::from("./a:b/img"));
        assert_eq!(l.tag, None);
        assert!(l.digest.is_some());
        assert_eq!(l.default_identity(), "img");
        assert_eq!(parse("oci:"), Err(ReferenceError::EmptyLayoutPath));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "UPPER/case",
            "a//b",
            "repo:",
            "repo:-tag",
            "repo@sha256:abc",
            "repo@md5:0123",
            &format!("repo@{}", D.to_uppercase()),
            "host:99999/repo",
            "a/b_-c",
            "-lead",
            "trail-",
            "repo:tag with space",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must be rejected");
        }
        assert_eq!(
            parse(&"a".repeat(5000)).err(),
            Some(ReferenceError::TooLong)
        );
    }

    #[test]
    fn fuzz_reference_layout_pinned_display_with_colon_in_path() {
        // Found by fuzz/fuzz_targets/reference.rs: the pinned form named another directory.
        for input in [
            format!("oci:dir:x:v1@{D}"),
            format!("oci:oci:imv1@sha256:{}:t@{D}", &D[7..]),
            "oci:/tmp/a:b:latest".to_string(),
        ] {
            let image = parse(&input).expect("parses");
            let digest: Digest = D.parse().expect("digest");
            let pinned = parse(&image.pinned_display(&digest)).expect("pinned form parses");
            assert_eq!(
                pinned.repository_display(),
                image.repository_display(),
                "{input}"
            );
            assert_eq!(pinned.digest(), Some(&digest), "{input}");
        }
        let plain = parse("oci:/tmp/img:v1").expect("parses");
        let digest: Digest = D.parse().expect("digest");
        assert_eq!(plain.pinned_display(&digest), format!("oci:/tmp/img@{D}"));
    }

    #[test]
    fn fuzz_reference_normalized_name_over_255() {
        // Found by fuzz/fuzz_targets/reference.rs: a 240-character Docker Hub name parsed, but
        // its display `docker.io/library/…` was over the grammar's 255 and did not.
        let short = "a".repeat(255 - "docker.io/library/".len());
        let image = parse(&short).expect("fits");
        assert_eq!(parse(&image.to_string()).expect("display parses"), image);
        let long = format!("{short}b");
        assert!(parse(&long).is_err(), "normalized name over 255");
        assert!(parse(&format!("docker.io/library/{long}")).is_err());
    }

    #[test]
    fn accepts_valid_separators() {
        for good in ["a.b/c__d/e---f", "my_repo", "x-y.z/a1"] {
            assert!(parse(good).is_ok(), "{good:?} must parse");
        }
    }

    #[test]
    fn host_grammar_no_longer_drifts() {
        // The old host check took any run of letters, digits, '.', '-', brackets and colons.
        for bad in [
            "a..b/repo",
            "-x.io/repo",
            "x-.io/repo",
            "a.b[c]/repo",
            "[1:2/repo",
            "[]:5000/repo",
            "[fe80::1%eth0]:5000/repo",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must be rejected");
        }
        for good in [
            "[::1]:5000/repo",
            "xn--n3h.com/myimage",
            "sub-dom1.foo.com/bar/baz",
        ] {
            assert!(parse(good).is_ok(), "{good:?} must parse");
        }
    }

    /// The distribution grammar's own table (distribution/reference `TestReferenceParse`):
    /// input, then `Some((domain, path, tag, digest))` or `None` for an error. Where vouch
    /// differs on top of the grammar, the second column says what vouch gives.
    #[test]
    fn distribution_reference_table() {
        const F64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
        let sha256 = format!("sha256:{F64}");
        let sha512 = format!("sha512:{F64}{F64}");
        let long_ok = format!("{}a:tag-puts-this-over-max", "a/".repeat(127));
        let long_repo = format!("{}a", "a/".repeat(127));
        type Expected<'a> = Option<(Option<&'a str>, &'a str, Option<&'a str>, Option<String>)>;
        let cases: Vec<(String, Expected<'_>)> = vec![
            ("test_com".into(), Some((None, "test_com", None, None))),
            (
                "test.com:tag".into(),
                Some((None, "test.com", Some("tag"), None)),
            ),
            (
                "test.com:5000".into(),
                Some((None, "test.com", Some("5000"), None)),
            ),
            (
                "test.com/repo:tag".into(),
                Some((Some("test.com"), "repo", Some("tag"), None)),
            ),
            (
                "test:5000/repo".into(),
                Some((Some("test:5000"), "repo", None, None)),
            ),
            (
                "test:5000/repo:tag".into(),
                Some((Some("test:5000"), "repo", Some("tag"), None)),
            ),
            (
                format!("test:5000/repo@{sha256}"),
                Some((Some("test:5000"), "repo", None, Some(sha256.clone()))),
            ),
            (
                format!("test:5000/repo:tag@{sha256}"),
                Some((Some("test:5000"), "repo", Some("tag"), Some(sha256.clone()))),
            ),
            ("".into(), None),
            (":justtag".into(), None),
            (format!("@{sha256}"), None),
            (
                "repo@sha256:ffffffffffffffffffffffffffffffffff".into(),
                None,
            ),
            (format!("validname@invaliddigest:{F64}"), None),
            ("Uppercase:tag".into(), None),
            ("test:5000/Uppercase/lowercase:tag".into(), None),
            (
                "lowercase:Uppercase".into(),
                Some((None, "lowercase", Some("Uppercase"), None)),
            ),
            (format!("{}a:tag", "a/".repeat(128)), None),
            (
                long_ok.clone(),
                Some((
                    Some("a"),
                    &long_repo[2..],
                    Some("tag-puts-this-over-max"),
                    None,
                )),
            ),
            ("aa/asdf$$^/aa".into(), None),
            (
                "sub-dom1.foo.com/bar/baz/quux".into(),
                Some((Some("sub-dom1.foo.com"), "bar/baz/quux", None, None)),
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag".into(),
                Some((
                    Some("sub-dom1.foo.com"),
                    "bar/baz/quux",
                    Some("some-long-tag"),
                    None,
                )),
            ),
            (
                "b.gcr.io/test.example.com/my-app:test.example.com".into(),
                Some((
                    Some("b.gcr.io"),
                    "test.example.com/my-app",
                    Some("test.example.com"),
                    None,
                )),
            ),
            (
                "xn--n3h.com/myimage:xn--n3h.com".into(),
                Some((Some("xn--n3h.com"), "myimage", Some("xn--n3h.com"), None)),
            ),
            (
                format!("xn--7o8h.com/myimage:xn--7o8h.com@{sha512}"),
                Some((
                    Some("xn--7o8h.com"),
                    "myimage",
                    Some("xn--7o8h.com"),
                    Some(sha512.clone()),
                )),
            ),
            (
                "foo_bar.com:8080".into(),
                Some((None, "foo_bar.com", Some("8080"), None)),
            ),
            (
                "foo/foo_bar.com:8080".into(),
                Some((Some("foo"), "foo_bar.com", Some("8080"), None)),
            ),
            (
                "192.168.1.1".into(),
                Some((None, "192.168.1.1", None, None)),
            ),
            (
                "192.168.1.1:tag".into(),
                Some((None, "192.168.1.1", Some("tag"), None)),
            ),
            (
                "192.168.1.1:5000".into(),
                Some((None, "192.168.1.1", Some("5000"), None)),
            ),
            (
                "192.168.1.1/repo".into(),
                Some((Some("192.168.1.1"), "repo", None, None)),
            ),
            (
                "192.168.1.1:5000/repo".into(),
                Some((Some("192.168.1.1:5000"), "repo", None, None)),
            ),
            (
                "192.168.1.1:5000/repo:5050".into(),
                Some((Some("192.168.1.1:5000"), "repo", Some("5050"), None)),
            ),
            ("[2001:db8::1]".into(), None),
            ("[2001:db8::1]:5000".into(), None),
            ("[2001:db8::1]:tag".into(), None),
            (
                "[2001:db8::1]/repo".into(),
                Some((Some("[2001:db8::1]"), "repo", None, None)),
            ),
            (
                "[2001:db8:1:2:3:4:5:6]/repo:tag".into(),
                Some((Some("[2001:db8:1:2:3:4:5:6]"), "repo", Some("tag"), None)),
            ),
            (
                "[2001:db8::1]:5000/repo".into(),
                Some((Some("[2001:db8::1]:5000"), "repo", None, None)),
            ),
            (
                "[2001:db8::1]:5000/repo:tag".into(),
                Some((Some("[2001:db8::1]:5000"), "repo", Some("tag"), None)),
            ),
            (
                format!("[2001:db8::1]:5000/repo@{sha256}"),
                Some((
                    Some("[2001:db8::1]:5000"),
                    "repo",
                    None,
                    Some(sha256.clone()),
                )),
            ),
            (
                format!("[2001:db8::1]:5000/repo:tag@{sha256}"),
                Some((
                    Some("[2001:db8::1]:5000"),
                    "repo",
                    Some("tag"),
                    Some(sha256.clone()),
                )),
            ),
            (
                "[2001:db8::]:5000/repo".into(),
                Some((Some("[2001:db8::]:5000"), "repo", None, None)),
            ),
            (
                "[::1]:5000/repo".into(),
                Some((Some("[::1]:5000"), "repo", None, None)),
            ),
            ("[fe80::1%eth0]:5000/repo".into(), None),
            ("[fe80::1%@invalidzone]:5000/repo".into(), None),
        ];
        for (input, want) in &cases {
            let got = grammar::parse(input).map(|(d, p, t, g)| (d, p, t, g.map(str::to_string)));
            // The grammar has no digest lengths or algorithm list: the table's Go side checks
            // them with go-digest (sha256, sha384, sha512 in lowercase hex of their length).
            let registered = |g: &str| {
                let (algorithm, hex) = g.split_once(':').unwrap_or_default();
                let len = match algorithm {
                    "sha256" => 64,
                    "sha384" => 96,
                    "sha512" => 128,
                    _ => return false,
                };
                hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            };
            let got = got.filter(|(_, _, _, g)| g.as_deref().is_none_or(registered));
            assert_eq!(&got, want, "{input:?}");
            // vouch on top: sha256 only, and the digest's validity comes from Digest.
            let vouch = parse(input);
            let sha256_or_none = want
                .as_ref()
                .is_some_and(|w| w.3.as_deref().is_none_or(|d| d.starts_with("sha256:")));
            if !sha256_or_none {
                assert!(vouch.is_err(), "{input:?}: vouch takes sha256 digests only");
            }
        }
    }

    #[test]
    fn display_roundtrip() {
        let s = format!("127.0.0.1:5000/test/app:v1@{D}");
        assert_eq!(parse(&s).expect("parse").to_string(), s);
    }
}
