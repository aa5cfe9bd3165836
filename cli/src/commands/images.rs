//! `vouch images`: every image reference the given deployment files use, with its place.

use anyhow::anyhow;
use serde::Serialize;
use vouch_deploy::Finding;

use crate::args::{ImagesArgs, OutputFormat};
use crate::deploy::{describe, load, parse_all};
use crate::exit::{Exit, Failure, OrExit};
use crate::render::print_json;

/// `vouch images`.
pub fn run(args: ImagesArgs) -> Result<Exit, Failure> {
    let loaded = load(&args.input, true)?;
    let located = parse_all(&loaded)?;
    if args.unique {
        let mut distinct: Vec<&str> = located.iter().map(|l| l.finding.image.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        match args.output {
            OutputFormat::Text => distinct.iter().for_each(|i| println!("{i}")),
            OutputFormat::Json => print_json(&distinct)?,
        }
        return Ok(Exit::Ok);
    }
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Entry<'a> {
        Image {
            file: &'a str,
            #[serde(flatten)]
            finding: &'a Finding,
        },
        Note {
            image: Option<()>,
            file: &'a str,
            #[serde(flatten)]
            note: &'a vouch_deploy::Note,
        },
    }
    let mut entries: Vec<(usize, String, Entry<'_>)> = Vec::new();
    for file in &loaded {
        let mut rows: Vec<(usize, String, Entry<'_>)> = file
            .extraction
            .findings
            .iter()
            .map(|f| {
                let what = describe(
                    &f.kind,
                    f.name.as_deref(),
                    f.container.as_deref(),
                    f.stage.as_deref(),
                    f.field,
                );
                let platform = f
                    .platform
                    .as_deref()
                    .map(|p| format!(", platform {p}"))
                    .unwrap_or_default();
                (
                    f.line,
                    format!("{}:{}  {}  {what}{platform}", file.display, f.line, f.image),
                    Entry::Image {
                        file: &file.display,
                        finding: f,
                    },
                )
            })
            .collect();
        rows.extend(file.extraction.notes.iter().map(|n| {
            (
                n.line,
                format!(
                    "{}:{}  -  {}: {}",
                    file.display,
                    n.line,
                    describe(&n.kind, None, n.container.as_deref(), None, None),
                    n.message
                ),
                Entry::Note {
                    image: None,
                    file: &file.display,
                    note: n,
                },
            )
        }));
        rows.sort_by_key(|(line, _, _)| *line);
        entries.extend(rows);
    }
    match args.output {
        OutputFormat::Text => {
            use std::io::Write as _;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for (_, line, _) in &entries {
                writeln!(out, "{line}")
                    .map_err(|e| anyhow!("writing the listing: {e}"))
                    .or_usage()?;
            }
            out.flush()
                .map_err(|e| anyhow!("writing the listing: {e}"))
                .or_usage()?;
        }
        OutputFormat::Json => {
            let list: Vec<_> = entries.iter().map(|(_, _, e)| e).collect();
            print_json(&list)?;
        }
    }
    Ok(Exit::Ok)
}
