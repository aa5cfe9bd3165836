//! The `vouch` binary: parse flags, run, map the outcome to a documented exit code.
//!
//! Wiring only: [`args`] are the flags, [`commands`] one file per command over the library
//! crates, [`exit`] decides exit codes, [`render`] and [`progress`] are what people see,
//! [`inputs`] and [`deploy`] read what the command line names, [`batch`] runs many images at
//! once. Trust boundary: the user's own command line and files; everything else is judged by
//! the library crates.
#![forbid(unsafe_code)]

mod args;
mod batch;
mod commands;
mod deploy;
mod exit;
mod inputs;
mod progress;
mod render;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(exit) => std::process::ExitCode::from(exit as u8),
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            std::process::ExitCode::from(failure.exit as u8)
        }
    }
}
