//! What a request asks for: the Distribution API paths the mirror serves, parsed strictly
//! (repository names and references by the reference grammar), plus the upstream it names
//! through a host-prefixed repository or containerd's `ns` query parameter. Pure: no I/O.

use vouch_oci::reference::Digest;

/// Longest repository name accepted (the Distribution API's limit).
const MAX_NAME: usize = 255;
/// Longest tag accepted.
const MAX_TAG: usize = 128;

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A tag, resolved upstream on each request.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

/// What was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /v2/`: the API version check.
    Base,
    /// `/healthz`.
    Health,
    /// `/readyz`.
    Ready,
    /// `/metrics`.
    Metrics,
    /// `/v2/<name>/manifests/<reference>`.
    Manifest(Name, Reference),
    /// `/v2/<name>/blobs/<digest>`.
    Blob(Name, Digest),
    /// `/v2/<name>/tags/list`.
    Tags(Name),
    /// `/v2/<name>/referrers/<digest>`.
    Referrers(Name, Digest),
    /// An upload (`/v2/<name>/blobs/uploads/…`): a write.
    Upload,
}

/// A repository as the client named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The registry the path names (`/v2/registry.example.com/team/app/…`), if it does.
    pub host: Option<String>,
    /// The repository within it.
    pub repository: String,
}

/// Why a path is not one the mirror serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// Not an API path at all.
    NotFound,
    /// A repository name outside the grammar.
    BadName(String),
    /// A tag or digest outside the grammar.
    BadReference(String),
}

/// Parses a request path (without the query).
pub fn parse(path: &str) -> Result<Route, RouteError> {
    match path {
        "/v2" | "/v2/" => return Ok(Route::Base),
        "/healthz" => return Ok(Route::Health),
        "/readyz" => return Ok(Route::Ready),
        "/metrics" => return Ok(Route::Metrics),
        _ => {}
    }
    let rest = path.strip_prefix("/v2/").ok_or(RouteError::NotFound)?;
    if let Some((name, _)) = rest.split_once("/blobs/uploads") {
        name_of(name)?;
        return Ok(Route::Upload);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Ok(Route::Tags(name_of(name)?));
    }
    for (marker, kind) in [("/manifests/", 0u8), ("/blobs/", 1), ("/referrers/", 2)] {
        if let Some(at) = rest.rfind(marker) {
            let name = name_of(&rest[..at])?;
            let reference = &rest[at + marker.len()..];
            return match kind {
                0 => Ok(Route::Manifest(name, reference_of(reference)?)),
                1 => Ok(Route::Blob(name, digest_of(reference)?)),
                _ => Ok(Route::Referrers(name, digest_of(reference)?)),
            };
        }
    }
    Err(RouteError::NotFound)
}

/// The `ns` query parameter (containerd names the upstream registry with it), validated as a
/// registry host.
pub fn namespace(query: Option<&str>) -> Option<Result<String, RouteError>> {
    let query = query?;
    let ns = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "ns")
        .map(|(_, v)| v.into_owned())?;
    Some(if is_host(&ns) {
        Ok(ns)
    } else {
        Err(RouteError::BadName(format!("ns={ns}")))
    })
}

fn name_of(raw: &str) -> Result<Name, RouteError> {
    let bad = || RouteError::BadName(raw.chars().take(300).collect());
    if raw.is_empty() || raw.len() > MAX_NAME {
        return Err(bad());
    }
    let mut parts = raw.split('/');
    let first = parts.next().ok_or_else(bad)?;
    let (host, repository) =
        if raw.contains('/') && (first.contains(['.', ':']) || first == "localhost") {
            if !is_host(first) {
                return Err(bad());
            }
            (Some(first.to_string()), &raw[first.len() + 1..])
        } else {
            (None, raw)
        };
    if repository.is_empty() || !repository.split('/').all(is_path_component) {
        return Err(bad());
    }
    Ok(Name {
        host,
        repository: repository.to_string(),
    })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
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

/// A registry host: DNS labels or an IPv4 address, optionally `:port`.
fn is_host(h: &str) -> bool {
    let (name, port) = match h.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (h, None),
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn reference_of(raw: &str) -> Result<Reference, RouteError> {
    if raw.contains(':') {
        return digest_of(raw).map(Reference::Digest);
    }
    let b = raw.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    if b.is_empty()
        || b.len() > MAX_TAG
        || !word(b[0])
        || !b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
    {
        return Err(RouteError::BadReference(raw.chars().take(200).collect()));
    }
    Ok(Reference::Tag(raw.to_string()))
}

fn digest_of(raw: &str) -> Result<Digest, RouteError> {
    raw.parse::<Digest>()
        .map_err(|_| RouteError::BadReference(raw.chars().take(200).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    fn name(host: Option<&str>, repo: &str) -> Name {
        Name {
            host: host.map(str::to_string),
            repository: repo.to_string(),
        }
    }

    #[test]
    fn api_paths() {
        assert_eq!(parse("/v2/"), Ok(Route::Base));
        assert_eq!(
            parse("/v2/test/app/manifests/v1"),
            Ok(Route::Manifest(
                name(None, "test/app"),
                Reference::Tag("v1".into())
            ))
        );
        assert_eq!(
            parse(&format!("/v2/app/blobs/{D}")),
            Ok(Route::Blob(name(None, "app"), D.parse().expect("digest")))
        );
        assert_eq!(
            parse("/v2/a/b/tags/list"),
            Ok(Route::Tags(name(None, "a/b")))
        );
        assert_eq!(parse("/v2/a/blobs/uploads/"), Ok(Route::Upload));
    }

    #[test]
    fn host_prefixed_names_name_the_upstream() {
        assert_eq!(
            parse("/v2/registry.example.com/team/app/manifests/1.0"),
            Ok(Route::Manifest(
                name(Some("registry.example.com"), "team/app"),
                Reference::Tag("1.0".into())
            ))
        );
        assert_eq!(
            parse("/v2/localhost:5000/app/manifests/1"),
            Ok(Route::Manifest(
                name(Some("localhost:5000"), "app"),
                Reference::Tag("1".into())
            ))
        );
        // A single component is a repository, never a host.
        assert_eq!(
            parse("/v2/app.io/manifests/1"),
            Ok(Route::Manifest(
                name(None, "app.io"),
                Reference::Tag("1".into())
            ))
        );
    }

    #[test]
    fn hostile_paths_are_refused() {
        for p in [
            "/v2/../etc/manifests/v1",
            "/v2/Test/manifests/v1",
            "/v2/a//b/manifests/v1",
            "/v2/a/manifests/",
            "/v2/a/manifests/v1%2f..",
            "/v2/a/manifests/sha256:abc",
            "/v2/a/blobs/v1",
            "/v2/a-/manifests/v1",
            "/v2/evil_host:99999/a/manifests/v1",
            "/v2//manifests/v1",
        ] {
            assert!(parse(p).is_err(), "{p} accepted: {:?}", parse(p));
        }
        assert_eq!(parse("/v3/"), Err(RouteError::NotFound));
        let long = format!("/v2/{}/manifests/v1", "a".repeat(300));
        assert!(matches!(parse(&long), Err(RouteError::BadName(_))));
    }

    #[test]
    fn containerd_names_the_upstream_in_ns() {
        assert_eq!(
            namespace(Some("ns=127.0.0.1%3A5000")),
            Some(Ok("127.0.0.1:5000".into()))
        );
        assert_eq!(namespace(Some("n=1")), None);
        assert!(matches!(
            namespace(Some("ns=evil%2Fpath")),
            Some(Err(RouteError::BadName(_)))
        ));
    }
}
