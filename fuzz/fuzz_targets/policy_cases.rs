//! `policy test` cases files, run against the example policy from the docs, with the CLI's own
//! reference parser as the normalizer.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vouch_oci::reference::{self, ImageRef};
use vouch_policy::{CaseOptions, ImageName, KeySource, Policy, Timestamp, parse, render};

const POLICY: &str = include_str!("../corpus/policy_parse/example.yaml");
const FILE: &str = "cases.yaml";

fn policy() -> &'static Policy {
    static POLICY_CELL: OnceLock<Policy> = OnceLock::new();
    POLICY_CELL.get_or_init(|| {
        // A distinct id per key file, derived from its path.
        let resolve = |k: &KeySource| Ok(format!("{:0>64}", k.text.len()));
        let raw = parse(POLICY, "example.yaml").expect("example policy parses");
        vouch_policy::validate(raw, &resolve).expect("example policy validates")
    })
}

fn normalize(text: &str) -> Result<ImageName, String> {
    match reference::parse(text).map_err(|e| e.to_string())? {
        ImageRef::Registry(r) => Ok(ImageName {
            repository: r.repository_name(),
            tag: r.tag.clone(),
            digest: r.digest.as_ref().map(ToString::to_string),
        }),
        ImageRef::Layout(_) => Err("an oci: layout has no repository".to_string()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let options = CaseOptions {
        now: Timestamp::from_unix(1_780_000_000),
        normalize: &normalize,
    };
    match vouch_policy::run_cases(policy(), source, FILE, &options) {
        Ok(report) => {
            assert_eq!(report.passed + report.failed, report.cases.len());
            let _ = render(&report.warnings, source, FILE);
        }
        Err(diags) => {
            assert!(diags.has_errors(), "cases failed without an error");
            let _ = render(&diags, source, FILE);
        }
    }
});
