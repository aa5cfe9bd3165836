//! `vouch images -f`, `vouch verify -f` and `vouch pin` on the deployment-file fixtures
//! (tests/fixtures/deploy), against a real registry holding signed and unsigned, single- and
//! multi-platform images.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vouch_e2e::{
    Fault, FaultProxy, Registry, Rule, Run, TEST_PASSWORD, TestImage, TestIndex, keygen, vouch,
    workspace_root,
};

const PLACEHOLDER: &str = "registry.example.com";

/// Copies a fixture directory, naming `host` instead of the placeholder registry.
fn copy_fixtures(from: &Path, to: &Path, host: &str) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixtures") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_fixtures(&entry.path(), &target, host);
        } else {
            let bytes = std::fs::read(entry.path()).expect("read fixture");
            let text = String::from_utf8(bytes).expect("fixtures are text");
            std::fs::write(&target, text.replace(PLACEHOLDER, host)).expect("write copy");
        }
    }
}

fn fixtures() -> PathBuf {
    workspace_root().join("tests/fixtures/deploy")
}

/// The multi-platform images among the fixtures' references.
const MULTI_PLATFORM: &[&str] = &[
    "library/postgres:16",
    "library/golang:1.22-alpine",
    "pin/multi:1",
];

/// Pushes `repo:tag` (an index for the multi-platform ones) and returns its digest.
fn push(reg: &Registry, repo_tag: &str) -> String {
    let (repo, tag) = repo_tag.split_once(':').expect("repo:tag");
    if MULTI_PLATFORM.contains(&repo_tag) {
        let index = TestIndex::new(repo_tag);
        index.push(reg, repo, tag);
        index.digest().to_string()
    } else {
        let image = TestImage::new(repo_tag);
        image.push(reg, repo, tag);
        image.digest().to_string()
    }
}

fn sign_all(refs: &[String], key: &Path, dir: &Path) {
    let list = dir.join("to-sign.txt");
    std::fs::write(&list, refs.join("\n")).expect("write list");
    Run::of(
        vouch()
            .args(["--allow-insecure-registry", "sign", "--from"])
            .arg(&list)
            .arg("--key")
            .arg(key)
            .env("VOUCH_PASSWORD", TEST_PASSWORD),
    )
    .expect_code(0);
}

/// Every image the deployment fixtures (not the pin ones) use, as `repo:tag`.
const FIXTURE_IMAGES: &[&str] = &[
    "shop/migrate:2.3.1",
    "shop/web:2.3.1",
    "shop/exporter:0.9",
    "library/postgres:16",
    "shop/agent:2.3.1",
    "team/api:1.8.0",
    "tools/netshoot:0.13",
    "team/models:2024-06",
    "team/legacy:0.1",
    "team/api:1.9.0-rc.1",
    "team/worker:1.8.0",
    "db/postgres-ha:16.4",
    "db/bootstrap:16.4",
    "db/backup:2.1",
    "shop/checkout:3.0.0",
    "library/redis:7.4.1",
    "shop/admin:1.2",
    "library/golang:1.22-alpine",
    "tools/protoc:25.1",
    "library/distroless-static:nonroot",
    "tools/certs:2024",
    "library/alpine:3.20",
    "edge/proxy:1.27",
];

struct World {
    reg: Registry,
    dir: tempfile::TempDir,
    files: PathBuf,
    key: PathBuf,
    public: PathBuf,
    /// Every reference the files use, as pulled.
    references: BTreeSet<String>,
}

/// The fixtures copied for a fresh registry holding all their images; all signed but
/// `unsigned`.
fn world(unsigned: &[&str]) -> World {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("deploy");
    copy_fixtures(&fixtures(), &files, &reg.host);
    std::fs::remove_dir_all(files.join("pin")).expect("drop pin fixtures");
    let mut references = BTreeSet::new();
    let mut to_sign = Vec::new();
    for image in FIXTURE_IMAGES {
        push(&reg, image);
        let reference = format!("{}/{image}", reg.host);
        if !unsigned.contains(image) {
            to_sign.push(reference.clone());
        }
        references.insert(reference);
    }
    // The Kustomize output names its sidecar by digest: give it a real one.
    let sidecar = push(&reg, "team/sidecar:x");
    let kustomize = files.join("kustomize/build.yaml");
    let text = std::fs::read_to_string(&kustomize).expect("read");
    let fixed = "sha256:2b0b5a7bd3f8e0d4c2a1f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8";
    std::fs::write(&kustomize, text.replace(fixed, &sidecar)).expect("write");
    let sidecar_ref = format!("{}/team/sidecar@{sidecar}", reg.host);
    to_sign.push(sidecar_ref.clone());
    references.insert(sidecar_ref);
    let (key, public) = keygen(dir.path(), "release", "ecdsa-p256");
    sign_all(&to_sign, &key, dir.path());
    World {
        reg,
        dir,
        files,
        key,
        public,
        references,
    }
}

/// `vouch --allow-insecure-registry ARGS…`.
fn vouch_with(args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Command {
    let mut cmd = vouch();
    cmd.arg("--allow-insecure-registry");
    for a in args {
        cmd.arg(a);
    }
    cmd
}

fn json_images(run: &Run) -> Vec<serde_json::Value> {
    run.json()["images"].as_array().cloned().unwrap_or_default()
}

#[test]
fn images_lists_every_reference_and_verify_judges_each_once() {
    let w = world(&["shop/exporter:0.9"]);
    let files = &w.files;
    // The listing: every reference the fixtures use, none invented.
    let out = Run::of(&mut vouch_with(&[
        &"images",
        &"--output",
        &"json",
        &"-f",
        files,
    ]))
    .expect_code(0);
    let entries = out.json().as_array().cloned().expect("array");
    let listed: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| e["image"].as_str().map(str::to_string))
        .collect();
    assert_eq!(listed, w.references);
    assert!(
        entries
            .iter()
            .any(|e| e["image"].is_null() && e["container"] == "worker"),
        "the build-only Compose service is listed: {}",
        out.stdout
    );

    // One unsigned image: refused (exit 1), its report naming where it is used; the others
    // verified, each once however many places use it.
    let out = Run::of(&mut vouch_with(&[
        &"verify", &"--key", &w.public, &"-f", files,
    ]))
    .expect_code(1);
    let exporter = format!("{}/shop/exporter:0.9", w.reg.host);
    let refused = out
        .stdout
        .split("\n")
        .skip_while(|l| {
            !l.starts_with(&format!("REFUSED  {exporter}"))
                && !l.contains(&format!("(from {exporter})"))
        })
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        refused.contains("used at ")
            && refused.contains("helm/rendered.yaml:70 (Deployment shop-web, container metrics)"),
        "{}",
        out.stdout
    );
    let out = Run::of(&mut vouch_with(&[
        &"verify",
        &"--key",
        &w.public,
        &"-f",
        files,
        &"--output",
        &"json",
    ]))
    .expect_code(1);
    let images = json_images(&out);
    assert_eq!(
        images.len(),
        w.references.len(),
        "each distinct image verified once"
    );
    let web = images
        .iter()
        .find(|i| i["reference"] == format!("{}/shop/web:2.3.1", w.reg.host))
        .expect("web verified");
    let places: Vec<String> = web["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|p| {
            let file = p["file"].as_str().unwrap_or_default();
            let rel = file.rsplit_once("/deploy/").map(|(_, r)| r).unwrap_or(file);
            format!("{rel}:{}", p["line"])
        })
        .collect();
    assert_eq!(
        places,
        [
            "compose/compose.yaml:4",
            "helm/rendered.yaml:64",
            "helm/rendered.yaml:134"
        ]
    );
    assert_eq!(web["decision"], "verified");

    // Signed now: everything verifies, with a policy too, and mixed with a direct argument.
    let (key, dir) = (&w.key, w.dir.path());
    sign_all(std::slice::from_ref(&exporter), key, dir);
    Run::of(&mut vouch_with(&[
        &"verify", &"--key", &w.public, &"-f", files,
    ]))
    .expect_code(0);
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nsigners:\n  release:\n    keys: [{}]\nrules:\n  - name: all\n    images: [\"{}/**\"]\n    require: {{signers: [release]}}\ndefault: deny\n",
            w.public.display(),
            w.reg.host
        ),
    )
    .expect("policy");
    push(&w.reg, "extra/direct:1");
    let direct_ref = format!("{}/extra/direct:1", w.reg.host);
    sign_all(std::slice::from_ref(&direct_ref), key, dir);
    let out = Run::of(&mut vouch_with(&[
        &"verify",
        &"--policy",
        &policy,
        &direct_ref,
        &"-f",
        &files.join("helm"),
        &"-f",
        &files.join("docker/Dockerfile"),
        &"--output",
        &"json",
    ]))
    .expect_code(0);
    let images = json_images(&out);
    assert_eq!(
        images[0]["reference"], direct_ref,
        "arguments first, then the files' images"
    );
    assert!(
        images[0].get("sources").is_none(),
        "a direct argument has no file places"
    );
    assert_eq!(images.len(), 1 + 5 + 4);
    assert!(
        images.iter().all(|i| i["decision"] == "allow"),
        "{}",
        out.stdout
    );
}

#[test]
fn helm_output_on_standard_input() {
    let w = world(&[]);
    let rendered = std::fs::read(w.files.join("helm/rendered.yaml")).expect("read");
    let mut child = vouch_with(&[&"verify", &"--key", &w.public, &"-f", &"-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&rendered).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("VERIFIED").count(), 5, "{stdout}");
    assert!(
        stdout.contains("used at <stdin>:64 (Deployment shop-web, container web)"),
        "{stdout}"
    );
}

#[test]
fn an_unrendered_template_or_unset_variable_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("chart.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n      image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n",
    )
    .expect("write");
    let out = Run::of(vouch().args(["images", "-f"]).arg(&manifest)).expect_code(2);
    assert!(
        out.stderr.contains("chart.yaml:7:15: ") && out.stderr.contains("unrendered template"),
        "{}",
        out.stderr
    );
    // verify refuses the same way, before any network.
    let out = Run::of(
        vouch()
            .args(["verify", "--key", "none.pub", "-f"])
            .arg(&manifest),
    )
    .expect_code(2);
    assert!(out.stderr.contains("chart.yaml:7:15"), "{}", out.stderr);

    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(
        &dockerfile,
        "ARG TAG\nFROM registry.example.com/app:${TAG}\n",
    )
    .expect("write");
    let out = Run::of(vouch().args(["images", "-f"]).arg(&dockerfile)).expect_code(2);
    assert!(
        out.stderr.contains("Dockerfile:2:6: FROM uses $TAG")
            && out.stderr.contains("--build-arg TAG="),
        "{}",
        out.stderr
    );
    Run::of(
        vouch()
            .args(["images", "--build-arg", "TAG=1", "-f"])
            .arg(&dockerfile),
    )
    .expect_code(0);

    // A named file that is none of the formats is an error; found by walking, a note.
    let notes = dir.path().join("notes.yaml");
    std::fs::write(&notes, "just: some\nsettings: true\n").expect("write");
    let out = Run::of(vouch().args(["images", "-f"]).arg(&notes)).expect_code(2);
    assert!(
        out.stderr
            .contains("not a Kubernetes manifest, Compose file or Dockerfile"),
        "{}",
        out.stderr
    );
    std::fs::remove_file(&manifest).expect("rm");
    let out = Run::of(
        vouch()
            .args(["images", "--build-arg", "TAG=1", "--verbose", "-f"])
            .arg(dir.path()),
    )
    .expect_code(0);
    assert!(
        out.stderr.contains("note: skipped") && out.stderr.contains("notes.yaml"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
}

/// The pin fixtures' images: `repo:tag` and the content they are built from.
const PIN_IMAGES: &[&str] = &["pin/app:1", "pin/tool:2", "pin/multi:1"];

struct PinWorld {
    reg: Registry,
    dir: tempfile::TempDir,
    files: PathBuf,
}

fn pin_world() -> PinWorld {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("pin");
    copy_fixtures(&fixtures().join("pin"), &files, &reg.host);
    for image in PIN_IMAGES {
        push(&reg, image);
    }
    PinWorld { reg, dir, files }
}

const PIN_FILES: &[&str] = &[
    "crlf.yaml",
    "flow.yaml",
    "pod.json",
    "compose.yaml",
    "Dockerfile",
];

/// The files' text with the placeholder host back, for comparing with the golden files.
fn pinned_text(w: &PinWorld, name: &str) -> Vec<u8> {
    let text = std::fs::read(w.files.join(name)).expect("read");
    String::from_utf8(text)
        .expect("utf8")
        .replace(&w.reg.host, PLACEHOLDER)
        .into_bytes()
}

#[test]
fn pin_rewrites_only_the_references_and_is_idempotent() {
    let w = pin_world();
    let files = &w.files;
    let before: Vec<Vec<u8>> = PIN_FILES
        .iter()
        .map(|f| std::fs::read(files.join(f)).expect("read"))
        .collect();

    // --check lists every unpinned reference and fails.
    let out = Run::of(&mut vouch_with(&[&"pin", &"--check", &"-f", files])).expect_code(1);
    assert_eq!(out.stdout.lines().count(), 13, "{}", out.stdout);
    assert!(out.stdout.contains("crlf.yaml:11:19: "), "{}", out.stdout);

    // --dry-run prints a diff and writes nothing.
    let out = Run::of(&mut vouch_with(&[&"pin", &"--dry-run", &"-f", files])).expect_code(0);
    assert!(
        out.stdout.contains("--- a/") && out.stdout.contains("+          image: \""),
        "{}",
        out.stdout
    );
    for (f, b) in PIN_FILES.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(files.join(f)).expect("read"),
            b,
            "{f} untouched by --dry-run"
        );
    }

    // pin: byte-exact golden files.
    let out = Run::of(&mut vouch_with(&[&"pin", &"-f", files])).expect_code(0);
    assert!(
        out.stderr.contains("pinned 13 references in 5 files"),
        "{}",
        out.stderr
    );
    let bless = std::env::var_os("VOUCH_BLESS").is_some();
    for f in PIN_FILES {
        let golden = fixtures().join("pin/pinned").join(f);
        let got = pinned_text(&w, f);
        if bless {
            std::fs::create_dir_all(golden.parent().expect("dir")).expect("mkdir");
            std::fs::write(&golden, &got).expect("bless");
        }
        let want = std::fs::read(&golden).expect("golden file (VOUCH_BLESS=1 writes it)");
        assert!(
            got == want,
            "{f} differs from {}:\n{}",
            golden.display(),
            String::from_utf8_lossy(&got)
        );
    }
    // The index's digest for the multi-platform image, as docker pull gets.
    let multi = TestIndex::new("pin/multi:1");
    let crlf = String::from_utf8(pinned_text(&w, "crlf.yaml")).expect("utf8");
    assert!(
        crlf.contains(&format!("pin/multi:1@{}\r\n", multi.digest())),
        "{crlf}"
    );

    // Twice: nothing changes, and --check passes.
    let after: Vec<Vec<u8>> = PIN_FILES
        .iter()
        .map(|f| std::fs::read(files.join(f)).expect("read"))
        .collect();
    let out = Run::of(&mut vouch_with(&[&"pin", &"-f", files])).expect_code(0);
    assert!(out.stderr.contains("nothing to pin"), "{}", out.stderr);
    for (f, a) in PIN_FILES.iter().zip(&after) {
        assert_eq!(
            &std::fs::read(files.join(f)).expect("read"),
            a,
            "{f} unchanged the second time"
        );
    }
    Run::of(&mut vouch_with(&[&"pin", &"--check", &"-f", files])).expect_code(0);

    // A moved tag: --update re-resolves it; without --update it stays.
    let moved = TestImage::new("pin/app:1 moved");
    moved.push(&w.reg, "pin/app", "1");
    Run::of(&mut vouch_with(&[&"pin", &"-f", files])).expect_code(0);
    assert_eq!(
        std::fs::read(files.join("pod.json")).expect("read"),
        after[2]
    );
    let out = Run::of(&mut vouch_with(&[
        &"pin",
        &"--update",
        &"-f",
        &files.join("pod.json"),
    ]))
    .expect_code(0);
    let json = std::fs::read_to_string(files.join("pod.json")).expect("read");
    assert!(
        json.contains(&format!("pin/app:1@{}\"", moved.digest())),
        "{json}\n{}",
        out.stdout
    );
}

#[test]
fn pin_under_policy_writes_nothing_if_one_image_fails() {
    let w = pin_world();
    let (key, public) = keygen(w.dir.path(), "release", "ecdsa-p256");
    let refs: Vec<String> = ["pin/app:1", "pin/multi:1"]
        .iter()
        .map(|i| format!("{}/{i}", w.reg.host))
        .collect();
    sign_all(&refs, &key, w.dir.path());
    let policy = w.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nsigners:\n  release:\n    keys: [{}]\nrules:\n  - name: all\n    images: [\"{}/**\"]\n    require: {{signers: [release]}}\ndefault: deny\n",
            public.display(),
            w.reg.host
        ),
    )
    .expect("policy");
    let before: Vec<Vec<u8>> = PIN_FILES
        .iter()
        .map(|f| std::fs::read(w.files.join(f)).expect("read"))
        .collect();
    // pin/tool:2 is unsigned.
    let out = Run::of(&mut vouch_with(&[
        &"pin",
        &"--policy",
        &policy,
        &"-f",
        &w.files,
    ]))
    .expect_code(1);
    assert!(
        out.stderr.contains("DENY") && out.stderr.contains("pin/tool:2"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("1 of 3 images did not verify; nothing was written"),
        "{}",
        out.stderr
    );
    for (f, b) in PIN_FILES.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(w.files.join(f)).expect("read"),
            b,
            "{f} untouched"
        );
    }
    // With --key as well; then signed, it pins.
    Run::of(&mut vouch_with(&[
        &"pin", &"--key", &public, &"-f", &w.files,
    ]))
    .expect_code(1);
    sign_all(&[format!("{}/pin/tool:2", w.reg.host)], &key, w.dir.path());
    Run::of(&mut vouch_with(&[
        &"pin",
        &"--policy",
        &policy,
        &"-f",
        &w.files,
    ]))
    .expect_code(0);
    Run::of(&mut vouch_with(&[&"pin", &"--check", &"-f", &w.files])).expect_code(0);
}

#[test]
fn pin_leaves_a_file_changed_while_it_worked() {
    let w = pin_world();
    let proxy = FaultProxy::start(&w.reg.host);
    let file = w.files.join("pod.json");
    let text = std::fs::read_to_string(&file)
        .expect("read")
        .replace(&w.reg.host, &proxy.host);
    std::fs::write(&file, &text).expect("write");
    // The registry answers slowly; meanwhile someone edits the file.
    proxy.add_rule(Rule::new(
        "GET",
        "/manifests/",
        Fault::Delay(Duration::from_secs(2)),
        100,
    ));
    let child = vouch_with(&[&"pin", &"-f", &file])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // (A connection is counted when accepted; a request only once answered.)
    while proxy.connections() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "pin never asked the registry"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let edited = text.replace("\"json\"", "\"edited\"");
    std::fs::write(&file, &edited).expect("concurrent edit");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("changed on disk since vouch read it"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        edited,
        "the edit survives"
    );
}

#[test]
fn a_walked_directory_skips_binaries_and_survives_symlink_loops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("repo");
    std::fs::create_dir_all(root.join("k8s/nested")).expect("mkdir");
    std::fs::write(
        root.join("k8s/app.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: registry.example.com/app:1}]\n",
    )
    .expect("write");
    std::fs::write(root.join("k8s/blob.json"), b"\x00\x01\x02binary\xff").expect("write");
    std::fs::write(
        root.join("k8s/package.json"),
        b"{\"name\": \"not-a-manifest\"}",
    )
    .expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&root, root.join("k8s/nested/loop")).expect("symlink");
    let out = Run::of(vouch().args(["images", "--verbose", "-f"]).arg(&root)).expect_code(0);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("registry.example.com/app:1"),
        "{}",
        out.stdout
    );
    for skipped in [
        "blob.json: a binary file",
        "package.json: no document has apiVersion and kind",
        "loop: a directory already searched",
    ] {
        assert!(out.stderr.contains(skipped), "{skipped}: {}", out.stderr);
    }
    // Named explicitly, the binary file is an error.
    let out = Run::of(
        vouch()
            .args(["images", "-f"])
            .arg(root.join("k8s/blob.json")),
    )
    .expect_code(2);
    assert!(
        out.stderr.contains(
            "blob.json: not a Kubernetes manifest, Compose file or Dockerfile (a binary file)"
        ),
        "{}",
        out.stderr
    );
}
