//! The commands: each file is one command, flags in, library calls, human or JSON output,
//! an exit code out. This module dispatches and sets up what several commands share.

mod attest;
mod attestations;
mod blob;
mod images;
mod key;
mod keygen;
mod login;
mod manual;
mod mirror;
mod pin;
mod policy;
mod serve;
mod sign;
mod sign_keyless;
mod trust_root;
mod verify;
mod verify_blob_attestation;
mod verify_bundle;

use anyhow::Context;
use vouch_registry::StoreOptions;

use crate::args::{Cli, Command, KeyCommand, TrustRootCommand};
use crate::exit::{Exit, Failure};

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<Exit, Failure> {
    let globals = cli_globals(&cli);
    match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Completion { shell } => manual::completion(shell),
        Command::Man { output_dir } => manual::man(output_dir.as_deref()),
        Command::Version => {
            println!("vouch {}", crate::args::VERSION);
            Ok(Exit::Ok)
        }
        Command::Key(KeyCommand::Id {
            file,
            password_file,
        }) => key::id(&file, password_file.as_deref()),
        Command::Key(KeyCommand::Public {
            file,
            password_file,
        }) => key::public(&file, password_file.as_deref()),
        Command::Policy(command) => policy::run(command),
        Command::Login(args) => login::login(args),
        Command::Logout { registry } => login::logout(&registry),
        Command::Sign(args) => {
            let options = store_options(&globals);
            let runtime = runtime()?;
            runtime.block_on(sign::run(args, options))
        }
        Command::Attest(args) => {
            let options = store_options(&globals);
            let runtime = runtime()?;
            runtime.block_on(attest::run(args, options))
        }
        Command::Attestations(args) => {
            let options = store_options(&globals);
            let runtime = runtime()?;
            runtime.block_on(attestations::run(args, options))
        }
        Command::VerifyBundle(args) => verify_bundle::run(&args),
        Command::SignBlob(args) if args.keyless.keyless => {
            runtime()?.block_on(blob::sign_keyless(&args))
        }
        Command::SignBlob(args) => blob::sign(&args),
        Command::VerifyBlob(args) => blob::verify(&args),
        Command::VerifyBlobAttestation(args) => verify_blob_attestation::run(&args),
        Command::Verify(args) => {
            let options = store_options(&globals);
            let runtime = runtime()?;
            runtime.block_on(verify::run(*args, options))
        }
        Command::Images(args) => images::run(args),
        Command::TrustRoot(TrustRootCommand::Update(args)) => {
            runtime()?.block_on(trust_root::update(args))
        }
        Command::Mirror(args) => {
            let options = store_options(&globals);
            let runtime = runtime()?;
            runtime.block_on(mirror::run(args, options))
        }
        Command::Pin(args) => {
            let options = store_options(&globals);
            let runtime = runtime()?;
            runtime.block_on(pin::run(args, options))
        }
        Command::Serve(args) => {
            let options = store_options(&globals);
            let runtime = runtime()?;
            runtime.block_on(serve::run(args, options))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::usage)
}

/// The global flags that shape registry access.
struct Globals {
    allow_insecure: bool,
    ca_certs: Vec<std::path::PathBuf>,
    client_identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    timeout: u64,
    retries: u32,
    debug: bool,
}

fn cli_globals(cli: &Cli) -> Globals {
    Globals {
        allow_insecure: cli.allow_insecure_registry,
        ca_certs: cli.registry_cacert.clone(),
        client_identity: cli
            .registry_client_cert
            .clone()
            .zip(cli.registry_client_key.clone()),
        timeout: cli.timeout,
        retries: cli.retries,
        debug: cli.debug,
    }
}

fn store_options(g: &Globals) -> StoreOptions {
    StoreOptions {
        allow_insecure: g.allow_insecure,
        ca_certs: g.ca_certs.clone(),
        client_identity: g.client_identity.clone(),
        timeout: std::time::Duration::from_secs(g.timeout.max(1)),
        retries: g.retries,
        debug: g.debug,
        ..StoreOptions::default()
    }
}
