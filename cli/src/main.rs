//! The `vouch` binary: parse flags, run, map the outcome to a documented exit code.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = vouch::args::Cli::parse();
    match vouch::commands::run(cli) {
        Ok(exit) => std::process::ExitCode::from(exit as u8),
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            std::process::ExitCode::from(failure.exit as u8)
        }
    }
}
