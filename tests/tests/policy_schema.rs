//! The policy JSON Schema: `vouch policy schema` prints the committed docs/policy.schema.json;
//! every example policy validates against it (by the `jsonschema` crate, not vouch's code);
//! and policies with an unknown key or a wrong type are refused by both the schema and
//! `vouch policy check`.

use saphyr::{LoadableYamlNode as _, ScalarOwned, YamlOwned};
use serde_json::{Map, Value, json};
use vouch_e2e::{Run, vouch, workspace_root};

fn to_json(y: &YamlOwned) -> Value {
    match y {
        YamlOwned::Value(s) => match s {
            ScalarOwned::Null => Value::Null,
            ScalarOwned::Boolean(b) => json!(b),
            ScalarOwned::Integer(i) => json!(i),
            ScalarOwned::FloatingPoint(f) => json!(f.into_inner()),
            ScalarOwned::String(s) => json!(s),
        },
        YamlOwned::Sequence(items) => items.iter().map(to_json).collect(),
        YamlOwned::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let YamlOwned::Value(ScalarOwned::String(key)) = k else {
                    panic!("a non-string key {k:?}");
                };
                out.insert(key.clone(), to_json(v));
            }
            Value::Object(out)
        }
        other => panic!("{other:?}: anchors, aliases and tags are not expected"),
    }
}

fn yaml(text: &str) -> Value {
    let docs = YamlOwned::load_from_str(text).expect("YAML");
    assert_eq!(docs.len(), 1);
    to_json(&docs[0])
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("docs/policy.schema.json"))
            .expect("docs/policy.schema.json"),
    )
    .expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("a valid 2020-12 schema")
}

#[test]
fn policy_schema_prints_the_committed_schema() {
    let run = Run::of(vouch().args(["policy", "schema"])).expect_code(0);
    let committed =
        std::fs::read_to_string(workspace_root().join("docs/policy.schema.json")).expect("read");
    assert_eq!(
        run.stdout, committed,
        "run `vouch policy schema > docs/policy.schema.json`"
    );
    let schema: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

#[test]
fn example_policies_validate_and_name_the_schema() {
    let validator = validator();
    let dir = workspace_root().join("keys-example/policies");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("policies dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") || path.to_string_lossy().contains("cases")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read policy");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../../docs/policy.schema.json\n"),
            "{}: no $schema line",
            path.display()
        );
        let errors: Vec<String> = validator
            .iter_errors(&yaml(&text))
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        // vouch agrees it is a good policy.
        Run::of(vouch().args(["policy", "check"]).arg(&path)).expect_code(0);
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} example policies");
}

#[test]
fn schema_refuses_what_policy_check_refuses() {
    let validator = validator();
    let good = "version: 1\nsigners:\n  ci:\n    keys: [ci.pub]\nrules:\n  - name: all\n    images: [\"**\"]\n    require:\n      signers: [ci]\ndefault: deny\n";
    assert!(validator.is_valid(&yaml(good)), "the base case is valid");
    let bad = [
        (
            "unknown top-level key",
            good.replace("default: deny", "defaults: deny"),
        ),
        (
            "unknown signer key",
            good.replace("keys: [ci.pub]", "keys: [ci.pub]\n    key: ci.pub"),
        ),
        (
            "unknown rule key",
            good.replace("name: all", "name: all\n    image: x"),
        ),
        (
            "version as a string",
            good.replace("version: 1", "version: \"1\""),
        ),
        (
            "images not a list",
            good.replace("images: [\"**\"]", "images: \"**\""),
        ),
        (
            "threshold not an integer",
            good.replace("signers: [ci]", "signers: [ci]\n      threshold: two"),
        ),
        (
            "unknown default",
            good.replace("default: deny", "default: maybe"),
        ),
        (
            "rule without images",
            good.replace("    images: [\"**\"]\n", ""),
        ),
        (
            "signer without keys",
            good.replace(
                "    keys: [ci.pub]\n",
                "    not_after: \"2030-01-01T00:00:00Z\"\n",
            ),
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("ci.pub"),
        include_str!("../../keys-example/release-ci.pub"),
    )
    .expect("write key");
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, good).expect("write");
    Run::of(vouch().args(["policy", "check"]).arg(&file)).expect_code(0);
    for (what, text) in bad {
        assert!(
            !validator.is_valid(&yaml(&text)),
            "the schema accepts: {what}"
        );
        std::fs::write(&file, &text).expect("write");
        let run = Run::of(vouch().args(["policy", "check"]).arg(&file));
        assert_eq!(run.code, 2, "policy check accepts: {what}: {run:?}");
    }
}

#[test]
fn policy_check_output_json_gives_each_diagnostic_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policy.yaml");
    std::fs::write(
        &file,
        "version: 1\ndefualt: deny\nrules:\n  - name: a\n    images: \"x\"\n",
    )
    .expect("write");
    let run = Run::of(
        vouch()
            .args(["policy", "check", "--output", "json"])
            .arg(&file),
    )
    .expect_code(2);
    let out = run.json();
    assert_eq!(out["ok"], false);
    let diags = out["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diags.len(), 2, "{out:#}");
    let unknown = &diags[0];
    assert_eq!(unknown["code"], "unknown-key");
    assert_eq!(unknown["severity"], "error");
    assert_eq!(unknown["file"], file.display().to_string());
    assert_eq!(
        (unknown["line"].as_u64(), unknown["column"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(
        unknown["message"]
            .as_str()
            .is_some_and(|m| m.contains("defualt"))
    );
    assert_eq!(unknown["hint"], "did you mean `default`?");
    assert_eq!(diags[1]["code"], "wrong-type");
    assert_eq!(diags[1]["line"], 5);

    let good = workspace_root().join("keys-example/policies/two-person-release.yaml");
    let run = Run::of(
        vouch()
            .args(["policy", "check", "--output", "json"])
            .arg(&good),
    )
    .expect_code(0);
    assert_eq!(run.json()["ok"], true);
}
