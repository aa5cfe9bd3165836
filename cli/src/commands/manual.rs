//! `vouch completion SHELL` and `vouch man`: shell completions and man pages generated from
//! the flag definitions in `args.rs`, so they never drift from `--help`.

use std::path::Path;

use crate::exit::{Exit, Failure, OrExit};
use anyhow::Context;

/// Prints the completion script for `shell`.
pub fn completion(shell: clap_complete::Shell) -> Result<Exit, Failure> {
    let mut command = crate::args::command();
    clap_complete::generate(shell, &mut command, "vouch", &mut std::io::stdout());
    Ok(Exit::Ok)
}

/// Prints vouch.1, or writes it and one page per subcommand (`vouch-key-id.1`, …) to `dir`.
pub fn man(dir: Option<&Path>) -> Result<Exit, Failure> {
    let command = crate::args::command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(command)
            .render(&mut std::io::stdout())
            .context("cannot write the man page")
            .or_usage()?;
        return Ok(Exit::Ok);
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
        .or_usage()?;
    clap_mangen::generate_to(command, dir)
        .with_context(|| format!("cannot write man pages to {}", dir.display()))
        .or_usage()?;
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "1"))
        .collect();
    pages.sort();
    for page in pages {
        println!("{}", page.display());
    }
    Ok(Exit::Ok)
}
