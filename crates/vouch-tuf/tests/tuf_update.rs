//! `vouch-tuf` against a TUF repository generated here and served on 127.0.0.1: updates from
//! the root of trust and reads back offline; and each attack the TUF specification names
//! (root rotation not signed by the old root, an expired timestamp, a target that does not
//! match its hash, a rollback of timestamp or snapshot, a freeze) refused as the
//! specification requires, with the cache left as it was.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{FileServer, Repo, Roles, at, far, now, signing_config, trusted_root};
use url::Url;
use vouch_tuf::{
    Expiry, SIGNING_CONFIG_TARGET, TRUSTED_ROOT_TARGET, TrustedRootChoice, TufError, TufOptions,
    newest_trusted_root, read_cached, update,
};

/// A repository, its server, and a cache.
struct Bench {
    repo: Repo,
    server: FileServer,
    cache: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("repo dir");
        let repo = Repo::new(dir.path());
        let server = FileServer::start(dir.path());
        Bench {
            repo,
            server,
            cache: tempfile::tempdir().expect("cache dir"),
            _dir: dir,
        }
    }

    fn options(&self) -> TufOptions {
        TufOptions {
            url: Url::parse(&self.server.url).expect("url"),
            root: Some(self.repo.initial_root.clone()),
            cache_dir: self.cache.path().to_path_buf(),
            allow_http: true,
            timeout: Duration::from_secs(10),
            retries: 0,
        }
    }

    /// Later runs need no `--tuf-root`: the first update kept it.
    fn options_without_root(&self) -> TufOptions {
        TufOptions {
            root: None,
            ..self.options()
        }
    }

    fn publish(&mut self, n: u32) {
        self.repo.publish(
            &[
                (TRUSTED_ROOT_TARGET, &trusted_root(n)),
                (SIGNING_CONFIG_TARGET, &signing_config(n)),
            ],
            &far(),
        );
    }
}

/// An update whose targets the caller can always use.
async fn update_ok(options: &TufOptions) -> Result<vouch_tuf::UpdateReport, TufError> {
    update(options, &|_, _| Ok(())).await
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The cached trusted root's `n`, verified offline.
fn cached_n(options: &TufOptions) -> u64 {
    let trust = block(read_cached(options, Expiry::Enforce))
        .expect("cache verifies")
        .expect("cache exists");
    let v: serde_json::Value = serde_json::from_slice(&trust.trusted_root).expect("JSON");
    v["n"].as_u64().expect("n")
}

fn mirrors(cache: &Path) -> usize {
    std::fs::read_dir(cache)
        .expect("cache")
        .flatten()
        .flat_map(|repo| {
            std::fs::read_dir(repo.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| e.file_name().to_string_lossy().starts_with("mirror-"))
        .count()
}

#[test]
fn updates_from_the_root_of_trust_and_reads_back_offline() {
    let mut b = Bench::new();
    let options = b.options();
    // Nothing cached yet: the embedded trusted root is the answer.
    assert_eq!(
        block(newest_trusted_root(&options, Expiry::Enforce)),
        Ok(TrustedRootChoice::Embedded)
    );
    b.publish(1);
    let report = block(update_ok(&options)).expect("update");
    assert_eq!(report.root_version_before, None);
    assert_eq!(report.trust.root_version, 1);
    assert_eq!(report.trust.trusted_root, trusted_root(1));
    assert_eq!(report.trust.signing_config, Some(signing_config(1)));
    assert!(!report.trust.expired);

    // Reading is offline and re-verifies from the root of trust.
    let asked = b.server.requests().len();
    match block(newest_trusted_root(
        &b.options_without_root(),
        Expiry::Enforce,
    )) {
        Ok(TrustedRootChoice::Cached(trust)) => assert_eq!(trust.trusted_root, trusted_root(1)),
        other => panic!("want the cached root, got {other:?}"),
    }
    assert_eq!(
        b.server.requests().len(),
        asked,
        "reading asked the repository"
    );

    // A newer trusted root replaces it; one mirror is kept.
    b.publish(2);
    let report = block(update_ok(&b.options_without_root())).expect("second update");
    assert_eq!(report.root_version_before, Some(1));
    assert_eq!(report.trust.targets_version, 2);
    assert_eq!(cached_n(&options), 2);
    assert_eq!(mirrors(b.cache.path()), 1);

    // A repository without a signing config still updates the trusted root.
    b.repo
        .publish(&[(TRUSTED_ROOT_TARGET, &trusted_root(3))], &far());
    let report = block(update_ok(&options)).expect("third update");
    assert_eq!(report.trust.signing_config, None);
    // Targets the caller cannot use do not replace the ones it can.
    b.publish(5);
    let err = block(update(&options, &|root, _| {
        if root == trusted_root(5).as_slice() {
            Err("unsupported".into())
        } else {
            Ok(())
        }
    }))
    .expect_err("unusable");
    assert!(matches!(err, TufError::Unusable { .. }), "{err}");
    assert_eq!(cached_n(&options), 3);
    // A repository without a trusted root is refused.
    b.repo
        .publish(&[(SIGNING_CONFIG_TARGET, &signing_config(4))], &far());
    let err = block(update_ok(&options)).expect_err("no trusted root");
    assert!(matches!(err, TufError::MissingTarget { .. }), "{err}");
    assert_eq!(cached_n(&options), 3);
}

#[test]
fn root_rotation_is_followed_and_an_unendorsed_rotation_refused() {
    let mut b = Bench::new();
    b.publish(1);
    block(update_ok(&b.options())).expect("first update");

    // Every key rotates; the new root is signed by the old root key and the new one.
    b.repo.rotate(Roles::generate(), true);
    b.publish(2);
    let report = block(update_ok(&b.options())).expect("rotation followed");
    assert_eq!(report.trust.root_version, 2);
    assert_eq!(cached_n(&b.options()), 2);

    // Two rotations at once are walked one root at a time.
    b.repo.rotate(Roles::generate(), true);
    b.repo.rotate(Roles::generate(), true);
    b.publish(3);
    let report = block(update_ok(&b.options())).expect("two rotations");
    assert_eq!(report.trust.root_version, 4);
    assert_eq!(cached_n(&b.options()), 3);

    // A root signed only by its own new key: not endorsed by the trusted root.
    b.repo.rotate(Roles::generate(), false);
    b.publish(4);
    let err = block(update_ok(&b.options())).expect_err("unendorsed root");
    assert!(matches!(err, TufError::Verification { .. }), "{err}");
    assert!(err.to_string().contains("root"), "{err}");
    assert_eq!(cached_n(&b.options()), 3);
    assert_eq!(err.exit_code(), 1);
}

#[test]
fn an_expired_timestamp_is_refused_and_nothing_cached() {
    let mut b = Bench::new();
    b.repo
        .publish(&[(TRUSTED_ROOT_TARGET, &trusted_root(1))], &at(now() - 60));
    let err = block(update_ok(&b.options())).expect_err("expired");
    match &err {
        TufError::Expired { role, .. } => assert_eq!(role.0, "timestamp"),
        other => panic!("want an expired timestamp, got {other}"),
    }
    assert_eq!(
        block(newest_trusted_root(&b.options(), Expiry::Enforce)),
        Ok(TrustedRootChoice::Embedded)
    );
    assert_eq!(mirrors(b.cache.path()), 0);
}

#[test]
fn a_target_that_does_not_match_its_hash_is_refused() {
    let mut b = Bench::new();
    b.publish(1);
    block(update_ok(&b.options())).expect("first update");
    b.publish(2);
    // The served file is not the one the signed targets metadata names (same length).
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(trusted_root(2)));
    assert_eq!(trusted_root(9).len(), trusted_root(2).len());
    b.repo.write(
        &format!("targets/{hash}.{TRUSTED_ROOT_TARGET}"),
        &trusted_root(9),
    );
    let err = block(update_ok(&b.options())).expect_err("hash mismatch");
    match &err {
        TufError::TargetMismatch { target, .. } => assert_eq!(target, TRUSTED_ROOT_TARGET),
        other => panic!("want a target mismatch, got {other}"),
    }
    assert_eq!(cached_n(&b.options()), 1);
}

#[test]
fn rollbacks_of_timestamp_and_snapshot_are_refused() {
    let mut b = Bench::new();
    b.publish(1);
    let old_timestamp = b.repo.read("timestamp.json");
    b.publish(2);
    block(update_ok(&b.options())).expect("update to version 2");

    // The repository (or a man in the middle) serves the older, still valid timestamp.
    b.repo.write("timestamp.json", &old_timestamp);
    let err = block(update_ok(&b.options())).expect_err("timestamp rollback");
    match &err {
        TufError::Rollback { role, .. } => assert_eq!(role.0, "timestamp"),
        other => panic!("want a rollback, got {other}"),
    }

    // A newer timestamp pointing at an older snapshot.
    b.repo.publish_timestamp(1, 3, &far());
    let err = block(update_ok(&b.options())).expect_err("snapshot rollback");
    assert!(
        matches!(&err, TufError::Rollback { role, .. } if role.0 == "snapshot"),
        "{err}"
    );
    // A newer snapshot that lists older targets metadata.
    b.repo.publish_snapshot(1, 3);
    b.repo.publish_timestamp(3, 4, &far());
    let err = block(update_ok(&b.options())).expect_err("targets rollback");
    assert!(
        matches!(&err, TufError::Rollback { role, .. } if role.0 == "targets"),
        "{err}"
    );
    assert_eq!(cached_n(&b.options()), 2);
}

#[test]
fn a_freeze_is_refused_and_a_stale_cache_needs_offline() {
    let mut b = Bench::new();
    b.repo
        .publish(&[(TRUSTED_ROOT_TARGET, &trusted_root(1))], &at(now() + 2));
    let frozen = b.repo.read("timestamp.json");
    block(update_ok(&b.options())).expect("update while fresh");
    // The repository moves on, but what is served is the old timestamp, frozen in time.
    b.publish(2);
    b.repo.write("timestamp.json", &frozen);
    std::thread::sleep(Duration::from_secs(3));
    let err = block(update_ok(&b.options())).expect_err("frozen");
    assert!(
        matches!(&err, TufError::Expired { role, .. } if role.0 == "timestamp"),
        "{err}"
    );

    // The cache has expired too: refused, with what to do, unless offline is accepted;
    // and never a silent fallback to the embedded root.
    let err = block(newest_trusted_root(&b.options(), Expiry::Enforce)).expect_err("stale");
    let text = err.to_string();
    assert!(
        text.contains("vouch trust-root update") && text.contains("--offline"),
        "{text}"
    );
    assert!(text.contains("timestamp metadata expired at"), "{text}");
    match block(newest_trusted_root(&b.options(), Expiry::AcceptExpired)) {
        Ok(TrustedRootChoice::Cached(trust)) => {
            assert!(trust.expired);
            assert_eq!(trust.expires_role, "timestamp");
            assert_eq!(trust.trusted_root, trusted_root(1));
        }
        other => panic!("want the last verified root, got {other:?}"),
    }

    // Once the repository is honest again, the update goes through.
    b.publish(3);
    block(update_ok(&b.options())).expect("fresh again");
    assert_eq!(cached_n(&b.options()), 3);
}

#[test]
fn a_tampered_cache_is_refused_not_trusted() {
    let mut b = Bench::new();
    b.publish(1);
    block(update_ok(&b.options())).expect("update");
    let repo_dir = std::fs::read_dir(b.cache.path())
        .expect("cache")
        .flatten()
        .next()
        .expect("repository cache")
        .path();
    let current = std::fs::read_to_string(repo_dir.join("current")).expect("current");
    let targets = repo_dir.join(current.trim()).join("targets");
    let cached = std::fs::read_dir(&targets)
        .expect("targets")
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with(TRUSTED_ROOT_TARGET)
        })
        .expect("cached trusted root")
        .path();
    std::fs::write(&cached, trusted_root(666)).expect("tamper");
    let err = block(read_cached(&b.options(), Expiry::AcceptExpired)).expect_err("tampered");
    assert!(matches!(err, TufError::TargetMismatch { .. }), "{err}");
    // An update repairs it.
    block(update_ok(&b.options())).expect("update");
    assert_eq!(cached_n(&b.options()), 1);
}

#[test]
fn an_unreachable_repository_changes_nothing() {
    let mut b = Bench::new();
    b.publish(1);
    block(update_ok(&b.options())).expect("update");
    let mut options = b.options();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let dead = format!("http://127.0.0.1:{port}/");
    options.url = Url::parse(&dead).expect("url");
    let err = block(update_ok(&options)).expect_err("unreachable");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert_eq!(cached_n(&b.options()), 1);
}
