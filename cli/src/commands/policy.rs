//! `vouch policy check|explain|test`: a trust policy without any image fetched.

use anyhow::anyhow;
use vouch_oci::reference::{self, ImageRef};
use vouch_verify::policy_verify::{judgement_time, read_text};

use crate::args::{OutputFormat, PolicyCommand};
use crate::exit::{Exit, Failure};
use crate::inputs::{load_policy_or_fail, parse_images};
use crate::render::print_json;

pub fn run(command: PolicyCommand) -> Result<Exit, Failure> {
    match command {
        PolicyCommand::Check { file } => {
            let loaded = load_policy_or_fail(&file)?;
            let p = &loaded.policy;
            println!(
                "{}: ok ({} rules, {} signers, {} keys{})",
                file.display(),
                p.rules().len(),
                p.signers().len(),
                loaded.keys.len(),
                if p.warnings().is_empty() {
                    String::new()
                } else {
                    format!(", {} warnings", p.warnings().len())
                }
            );
            Ok(Exit::Ok)
        }
        PolicyCommand::Explain {
            file,
            images,
            output,
        } => {
            let loaded = load_policy_or_fail(&file)?;
            let images = parse_images(&images)?;
            let explanations: Vec<_> = images
                .iter()
                .map(|i| loaded.policy.explain(&i.default_identity()))
                .collect();
            match output {
                OutputFormat::Text => {
                    for e in &explanations {
                        println!("{e}");
                    }
                }
                OutputFormat::Json => print_json(&explanations)?,
            }
            Ok(Exit::Ok)
        }
        PolicyCommand::Test {
            file,
            cases,
            output,
        } => {
            let loaded = load_policy_or_fail(&file)?;
            let source = read_text(&cases, "cases")?;
            let now = judgement_time(None).map_err(|e| Failure::usage(anyhow!(e)))?;
            let normalize = |s: &str| -> Result<vouch_policy::ImageName, String> {
                match reference::parse(s) {
                    Ok(ImageRef::Registry(r)) => Ok(vouch_policy::ImageName {
                        repository: r.repository_name(),
                        tag: r.tag.clone(),
                        digest: r.digest.as_ref().map(ToString::to_string),
                    }),
                    Ok(ImageRef::Layout(_)) => {
                        Err("oci: layouts have no repository name; use the repository the image is deployed as".into())
                    }
                    Err(e) => Err(e.to_string()),
                }
            };
            let options = vouch_policy::CaseOptions {
                now,
                normalize: &normalize,
            };
            let name = cases.display().to_string();
            let report = match vouch_policy::run_cases(&loaded.policy, &source, &name, &options) {
                Ok(r) => r,
                Err(diags) => {
                    eprint!("{}", vouch_policy::render(&diags, &source, &name));
                    return Err(Failure::usage(anyhow!("{name}: the cases file has errors")));
                }
            };
            match output {
                OutputFormat::Text => print!("{report}"),
                OutputFormat::Json => print_json(&report)?,
            }
            Ok(Exit::of_check(report.all_passed()))
        }
    }
}
