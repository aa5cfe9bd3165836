//! The CI recipes: `action.yml` (GitHub composite action) and `ci/gitlab/vouch.gitlab-ci.yml`
//! parse, are well formed (every composite `run` step names its shell, every input and step
//! output used is declared), and their scripts, run here as the CI would run them with the real
//! vouch on an OCI layout, pass, refuse and fail with vouch's exit codes. The YAML examples of
//! docs/ci.md parse too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use saphyr::{LoadableYamlNode as _, ScalarOwned, YamlOwned};
use serde_json::{Map, Value, json};
use vouch_e2e::{vouch_bin, workspace_root};

fn to_json(y: &YamlOwned, file: &str) -> Value {
    match y {
        YamlOwned::Value(s) => match s {
            ScalarOwned::Null => Value::Null,
            ScalarOwned::Boolean(b) => json!(b),
            ScalarOwned::Integer(i) => json!(i),
            ScalarOwned::FloatingPoint(f) => json!(f.into_inner()),
            ScalarOwned::String(s) => json!(s),
        },
        YamlOwned::Sequence(items) => items.iter().map(|i| to_json(i, file)).collect(),
        YamlOwned::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    YamlOwned::Value(ScalarOwned::String(s)) => s.clone(),
                    other => panic!("{file}: a non-string key {other:?}"),
                };
                assert!(!out.contains_key(&key), "{file}: key {key} twice");
                out.insert(key, to_json(v, file));
            }
            Value::Object(out)
        }
        other => panic!("{file}: {other:?}: anchors, aliases and tags are not expected"),
    }
}

fn load_yaml(text: &str, what: &str) -> Value {
    let docs = YamlOwned::load_from_str(text).unwrap_or_else(|e| panic!("{what}: not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{what}: one document");
    to_json(&docs[0], what)
}

fn action() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("action.yml")).expect("action.yml");
    load_yaml(&text, "action.yml")
}

fn gitlab() -> Value {
    let path = workspace_root().join("ci/gitlab/vouch.gitlab-ci.yml");
    let text = std::fs::read_to_string(path).expect("gitlab template");
    load_yaml(&text, "vouch.gitlab-ci.yml")
}

/// Every `${{ … }}` expression in `text`.
fn expressions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let end = rest[start..].find("}}").expect("closed expression") + start;
        out.push(rest[start + 3..end].trim().to_string());
        rest = &rest[end + 2..];
    }
    out
}

#[test]
fn action_is_a_well_formed_composite_action() {
    let action = action();
    assert_eq!(action["runs"]["using"], "composite");
    let inputs = action["inputs"].as_object().expect("inputs");
    for name in [
        "command", "policy", "key", "files", "images", "args", "version",
    ] {
        assert!(inputs.contains_key(name), "input {name}");
    }
    let steps = action["runs"]["steps"].as_array().expect("steps");
    let ids: Vec<&str> = steps.iter().filter_map(|s| s["id"].as_str()).collect();
    for step in steps {
        if step.get("run").is_some() {
            assert!(
                step["shell"].is_string(),
                "a composite run step needs a shell: {step}"
            );
        } else {
            assert!(step["uses"].is_string(), "a step runs or uses: {step}");
        }
    }
    let text = std::fs::read_to_string(workspace_root().join("action.yml")).expect("action.yml");
    for expression in expressions(&text) {
        for word in expression.split(|c: char| !(c.is_alphanumeric() || "._-".contains(c))) {
            if let Some(name) = word.strip_prefix("inputs.") {
                assert!(inputs.contains_key(name), "undeclared input {name}");
            }
            if let Some(rest) = word.strip_prefix("steps.") {
                let id = rest.split('.').next().unwrap_or_default();
                assert!(ids.contains(&id), "no step with id {id}");
            }
        }
    }
    // Inputs never pasted into a script (script injection): only into `env`/`with`.
    for step in steps {
        if let Some(run) = step["run"].as_str() {
            assert!(
                expressions(run).is_empty(),
                "an expression inside a run script: {run}"
            );
        }
    }
}

/// Runs the action's "Run vouch" step as the runner would: its script under bash, its env with
/// the inputs (given here, else the declared defaults) put in.
struct ActionRun {
    code: i32,
    output: String,
    summary: String,
    log: String,
}

fn run_action(dir: &Path, given: &[(&str, &str)]) -> ActionRun {
    let action = action();
    let step = action["runs"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "run")
        .expect("the run step")
        .clone();
    let given: BTreeMap<&str, &str> = given.iter().copied().collect();
    let input = |name: &str| -> String {
        given.get(name).map(|v| v.to_string()).unwrap_or_else(|| {
            action["inputs"][name]["default"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
    };
    let script = step["run"].as_str().expect("script");
    // As the runner runs `shell: bash`.
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(dir);
    for (name, value) in step["env"].as_object().expect("env") {
        let value = value.as_str().expect("string");
        let exprs = expressions(value);
        let resolved = match exprs.as_slice() {
            [one] => input(one.strip_prefix("inputs.").expect("an input")),
            _ => value.to_string(),
        };
        cmd.env(name, resolved);
    }
    let runner = dir.join("runner");
    std::fs::create_dir_all(&runner).expect("runner dir");
    let (output, summary) = (runner.join("output"), runner.join("summary"));
    std::fs::write(&output, "").expect("output");
    std::fs::write(&summary, "").expect("summary");
    cmd.env("RUNNER_TEMP", &runner)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("PATH", path_with_vouch())
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env_remove("VOUCH_PASSWORD")
        .env_remove("COSIGN_PASSWORD");
    let out = cmd.output().expect("bash");
    ActionRun {
        code: out.status.code().unwrap_or(-1),
        output: std::fs::read_to_string(output).expect("output"),
        summary: std::fs::read_to_string(summary).expect("summary"),
        log: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn path_with_vouch() -> String {
    let bin = vouch_bin().parent().expect("bin dir").to_path_buf();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A temp dir with the example keys (mode 0600) and the sample image as a layout `img`.
fn workdir() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().to_path_buf();
    let status = Command::new("cp")
        .arg("-r")
        .arg(workspace_root().join("keys-example"))
        .arg(dir.join("keys"))
        .status()
        .expect("cp");
    assert!(status.success());
    let status = Command::new("cp")
        .arg("-r")
        .arg(dir.join("keys/sample-image"))
        .arg(dir.join("img"))
        .status()
        .expect("cp");
    assert!(status.success());
    for key in ["release-ci.key", "security-team.key"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("keys").join(key),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
    }
    (temp, dir)
}

#[test]
fn action_signs_verifies_and_refuses_with_vouchs_exit_codes() {
    let (_temp, dir) = workdir();
    let image = format!("oci:{}:v1", dir.join("img").display());

    let signed = run_action(
        &dir,
        &[
            ("command", "sign"),
            ("key", "keys/release-ci.key"),
            ("password", "vouch-example"),
            ("images", &image),
        ],
    );
    assert_eq!(signed.code, 0, "{}", signed.log);
    assert!(signed.output.contains("exit-code=0"), "{}", signed.output);
    assert!(
        !signed.log.contains("vouch-example"),
        "the password is never printed"
    );

    let verified = run_action(
        &dir,
        &[
            ("command", "verify"),
            ("key", "keys/release-ci.pub\nkeys/security-team.pub"),
            ("images", &format!("\n{image}\n")),
        ],
    );
    assert_eq!(verified.code, 0, "{}", verified.log);
    assert!(
        verified
            .summary
            .contains("### vouch verify: exit 0, passed"),
        "{}",
        verified.summary
    );
    assert!(
        verified.summary.contains("VERIFIED"),
        "{}",
        verified.summary
    );
    let report_line = verified
        .output
        .lines()
        .find_map(|l| l.strip_prefix("report="))
        .expect("report output");
    assert!(
        std::fs::read_to_string(report_line)
            .expect("report")
            .contains("VERIFIED")
    );

    let refused = run_action(
        &dir,
        &[
            ("command", "verify"),
            ("key", "keys/security-team.pub"),
            ("images", &image),
            ("args", "--output json"),
        ],
    );
    assert_eq!(refused.code, 1, "{}", refused.log);
    assert!(refused.output.contains("exit-code=1"));
    assert!(
        refused.summary.contains("exit 1, refused"),
        "{}",
        refused.summary
    );
    assert!(
        refused.summary.contains("\"decision\""),
        "JSON report: {}",
        refused.summary
    );

    let unknown = run_action(&dir, &[("command", "deploy")]);
    assert_eq!(unknown.code, 2, "{}", unknown.log);
}

#[test]
fn action_pin_check_fails_on_an_unpinned_reference() {
    let (_temp, dir) = workdir();
    std::fs::write(dir.join("Dockerfile"), "FROM alpine:3.20\nRUN true\n").expect("write");
    let unpinned = run_action(&dir, &[("command", "pin-check"), ("files", "Dockerfile")]);
    assert_eq!(unpinned.code, 1, "{}", unpinned.log);
    assert!(
        unpinned.summary.contains("not pinned"),
        "{}",
        unpinned.summary
    );
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM alpine:3.20@sha256:{}\nRUN true\n", "a".repeat(64)),
    )
    .expect("write");
    let pinned = run_action(&dir, &[("command", "pin --check"), ("files", "Dockerfile")]);
    assert_eq!(pinned.code, 0, "{}", pinned.log);
}

#[test]
fn gitlab_template_has_the_three_jobs_to_extend() {
    let template = gitlab();
    for job in [".vouch-verify", ".vouch-pin-check", ".vouch-sign"] {
        assert_eq!(template[job]["extends"], ".vouch-base", "{job}");
        assert!(template[job]["script"].is_array(), "{job} has a script");
    }
    let base = &template[".vouch-base"];
    assert!(base["before_script"].is_array());
    assert!(base["image"].is_string());
    for name in [
        "VOUCH_POLICY",
        "VOUCH_KEY",
        "VOUCH_FILES",
        "VOUCH_IMAGES",
        "VOUCH_ARGS",
    ] {
        assert!(base["variables"][name].is_string(), "variable {name}");
    }
}

/// Runs a template job as the GitLab runner would: before_script and script in one shell, the
/// job's variables in the environment (`vouch` is on PATH, so nothing is installed).
fn run_gitlab_job(dir: &Path, job: &str, variables: &[(&str, &str)]) -> (i32, String) {
    let template = gitlab();
    let base = &template[".vouch-base"];
    let lines: Vec<String> = base["before_script"]
        .as_array()
        .expect("before_script")
        .iter()
        .chain(template[job]["script"].as_array().expect("script"))
        .map(|l| l.as_str().expect("a script line").to_string())
        .collect();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(lines.join("\n")).current_dir(dir);
    for (name, value) in base["variables"].as_object().expect("variables") {
        cmd.env(name, value.as_str().expect("string"));
    }
    for (name, value) in variables {
        cmd.env(name, value);
    }
    cmd.env("PATH", path_with_vouch())
        .env("CI_PROJECT_DIR", dir)
        .env("XDG_CACHE_HOME", dir.join("cache"));
    let out = cmd.output().expect("sh");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), log)
}

#[test]
fn gitlab_jobs_run_and_fail_the_job_with_vouchs_exit_code() {
    let (_temp, dir) = workdir();
    let image = format!("oci:{}:v1", dir.join("img").display());
    let (code, log) = run_gitlab_job(
        &dir,
        ".vouch-sign",
        &[
            ("VOUCH_KEY", "keys/release-ci.key"),
            ("VOUCH_PASSWORD", "vouch-example"),
            ("VOUCH_IMAGES", &image),
        ],
    );
    assert_eq!(code, 0, "{log}");
    let (code, log) = run_gitlab_job(
        &dir,
        ".vouch-verify",
        &[
            ("VOUCH_KEY", "keys/release-ci.pub"),
            ("VOUCH_IMAGES", &image),
        ],
    );
    assert_eq!(code, 0, "{log}");
    let report = std::fs::read_to_string(dir.join("vouch-report.txt")).expect("report artifact");
    assert!(report.contains("VERIFIED"), "{report}");
    let (code, log) = run_gitlab_job(
        &dir,
        ".vouch-verify",
        &[
            ("VOUCH_KEY", "keys/security-team.pub"),
            ("VOUCH_IMAGES", &image),
        ],
    );
    assert_eq!(code, 1, "{log}");

    std::fs::write(dir.join("Dockerfile"), "FROM alpine:3.20\n").expect("write");
    let (code, log) = run_gitlab_job(&dir, ".vouch-pin-check", &[("VOUCH_FILES", "Dockerfile")]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("not pinned"), "{log}");
}

#[test]
fn ci_doc_yaml_examples_parse() {
    let text = std::fs::read_to_string(workspace_root().join("docs/ci.md")).expect("docs/ci.md");
    let mut blocks = 0;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == "```yaml" {
            let block: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            load_yaml(&block.join("\n"), "a docs/ci.md yaml block");
            blocks += 1;
        }
    }
    assert!(
        blocks >= 4,
        "docs/ci.md has its examples ({blocks} yaml blocks)"
    );
}
