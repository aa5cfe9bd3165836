//! Command-line flags. `--help` on every command ends with an example.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `vouch --version`: the release and the commit it was built from (`unknown` outside a git
/// checkout; see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("VOUCH_COMMIT"),
    ")"
);

/// The help heading of the registry flags (global: every command lists them).
const REGISTRY_HEADING: &str = "Registry options";

/// Commands that read only local files: their help leaves the registry flags out.
const OFFLINE_COMMANDS: [&[&str]; 12] = [
    &["keygen"],
    &["key", "id"],
    &["key", "public"],
    &["policy", "check"],
    &["policy", "explain"],
    &["policy", "test"],
    &["policy", "schema"],
    &["completion"],
    &["man"],
    &["version"],
    &["sign-blob"],
    &["verify-blob"],
];

/// The command line definition: [`Cli`]'s, with the registry flags hidden from the help of
/// offline commands. They are global, and clap copies a global flag into each subcommand
/// that has no flag of that id yet: offline commands get a hidden copy first.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let hidden: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.clone().hide(true))
        .collect();
    for path in OFFLINE_COMMANDS {
        command = with_hidden(command, path, &hidden);
    }
    command
}

fn with_hidden(command: clap::Command, path: &[&str], hidden: &[clap::Arg]) -> clap::Command {
    match path {
        [] => command.args(hidden.iter().cloned()),
        [first, rest @ ..] => command.mut_subcommand(*first, |sub| with_hidden(sub, rest, hidden)),
    }
}

/// Sign container image digests in cosign's format and verify them before you deploy.
#[derive(Debug, Parser)]
#[command(
    name = "vouch",
    version = VERSION,
    after_help = TOP_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Allow registries over plain HTTP or with unverified TLS certificates.
    #[arg(
        long,
        global = true,
        help_heading = REGISTRY_HEADING,
        env = "VOUCH_ALLOW_INSECURE_REGISTRY",
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value_t = false,
        num_args = 0,
        default_missing_value = "true"
    )]
    pub allow_insecure_registry: bool,

    /// Trust this CA certificate (PEM) for registries, besides the system's roots; repeatable.
    #[arg(long, global = true,
        help_heading = REGISTRY_HEADING, value_name = "FILE")]
    pub registry_cacert: Vec<PathBuf>,

    /// Client certificate (PEM) for registries that require mutual TLS.
    #[arg(
        long,
        global = true,
        help_heading = REGISTRY_HEADING,
        value_name = "FILE",
        requires = "registry_client_key"
    )]
    pub registry_client_cert: Option<PathBuf>,

    /// Private key (PEM) for --registry-client-cert.
    #[arg(
        long,
        global = true,
        help_heading = REGISTRY_HEADING,
        value_name = "FILE",
        requires = "registry_client_cert"
    )]
    pub registry_client_key: Option<PathBuf>,

    /// Seconds one registry request may take, body included.
    #[arg(long, global = true,
        help_heading = REGISTRY_HEADING, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,

    /// Retries after a failed registry request (429, 5xx, resets), with backoff.
    #[arg(long, global = true,
        help_heading = REGISTRY_HEADING, value_name = "N", default_value_t = 4)]
    pub retries: u32,

    /// Print each registry request (method, path, status, time) to stderr. Never prints
    /// credentials or tokens.
    #[arg(long, global = true, help_heading = REGISTRY_HEADING)]
    pub debug: bool,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

const TOP_HELP: &str = "Examples:
  vouch keygen --output-key-prefix release
  vouch sign registry.example.com/app:1.4 --key release.key
  vouch sign registry.example.com/app@sha256:… --keyless
  vouch verify registry.example.com/app:1.4 --key release.pub
  vouch verify --policy policy.yaml -f deploy/
  vouch pin -f deploy/ --check

Exit codes:
  0  success (every image verified)
  1  at least one image failed verification
  2  usage, configuration, key or password error
  3  a registry or layout could not be reached or read (fail closed)";

/// vouch's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a key pair: PREFIX.key (encrypted, mode 0600) and PREFIX.pub.
    #[command(after_help = "Example:
  VOUCH_PASSWORD=… vouch keygen --algorithm ecdsa-p256 --output-key-prefix release

The private key is written in cosign's encrypted format (scrypt + secretbox), so cosign
and skopeo can use it too. The password comes from VOUCH_PASSWORD, COSIGN_PASSWORD,
--password-file, or a prompt on a terminal.")]
    Keygen(KeygenArgs),

    /// Print a shell completion script for bash, zsh, fish, elvish or powershell.
    #[command(after_help = "Examples:
  source <(vouch completion bash)          # in ~/.bashrc
  vouch completion zsh > ~/.zfunc/_vouch   # with fpath+=(~/.zfunc) before compinit
  vouch completion fish > ~/.config/fish/completions/vouch.fish")]
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Write man pages: vouch.1 and one page per subcommand (vouch-sign.1, …).
    #[command(after_help = "Examples:
  vouch man --output-dir ~/.local/share/man/man1 && man vouch-verify
  vouch man | man -l -          # the top page, to stdout")]
    Man {
        /// Write every page into this directory instead of printing vouch.1 to stdout.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },

    /// Print vouch's version and the commit it was built from (as `vouch --version`).
    #[command(after_help = "Example:
  vouch version")]
    Version,

    /// Inspect keys.
    #[command(
        subcommand,
        after_help = "Example:
  vouch key id release.pub"
    )]
    Key(KeyCommand),

    /// Sign image digests and store the signatures next to the images.
    #[command(after_help = "Examples:
  vouch sign 127.0.0.1:5000/app:v1 --key release.key
  vouch sign oci:./image-layout --key release.key -a env=prod
  vouch sign registry.example.com/app@sha256:… --key release.key --recursive
  vouch sign registry.example.com/app@sha256:… --key release.key --format bundle
  vouch sign registry.example.com/app@sha256:… --key release.key --output-bundle app.sigstore.json
  vouch sign registry.example.com/app:1.4 --key 'pkcs11:token=ci;object=release?pin-source=/run/pin'
  vouch sign registry.example.com/app@sha256:… --keyless            # in GitHub Actions / GitLab CI
  vouch sign registry.example.com/app@sha256:… --keyless --format sig --identity-token token.jwt
  vouch sign registry.example.com/app@sha256:… --keyless --rekor-url https://log2025-1.rekor.sigstore.dev --rekor-version 2
  vouch sign --keyless --from digests.txt --jobs 8                 # one certificate for the batch

A tag is resolved to its digest once; the digest is what gets signed. Signatures are
appended to the image's sha256-<hex>.sig manifest, never replacing earlier ones; with
--format bundle they are Sigstore bundles attached as OCI referrers (cosign v3's format).
--output-bundle writes the bundle to a file and stores nothing (no request for a digest).
--keyless signs with a short-lived Fulcio certificate for the CI job's OIDC identity
(--identity-token, SIGSTORE_ID_TOKEN, or GitHub Actions' ambient token with `id-token:
write`), one certificate for a whole batch (--jobs images at a time), records each
signature in Rekor (v1, or v2 where the signing config or --rekor-version says so: then
with an RFC 3161 timestamp, in a bundle only), and stores it only after it verified against
the trusted root; the identity signed as is printed, the token never. Keyless exit codes:
2 token or configuration (expired, wrong audience), 3 a service unreachable (nothing
stored), 1 a refusal or an answer that did not verify (nothing stored).")]
    Sign(SignArgs),

    /// Attest image digests: sign an in-toto statement (scan, provenance, SBOM) about each.
    #[command(after_help = "Examples:
  trivy image --format cosign-vuln -o scan.json registry.example.com/app:1.4
  vouch attest registry.example.com/app:1.4 --key scanner.key --type vuln --predicate scan.json
  vouch attest registry.example.com/app@sha256:… --key ci.key --type slsaprovenance1 --predicate provenance.json
  syft registry.example.com/app:1.4 -o spdx-json | vouch attest registry.example.com/app:1.4 --key ci.key --type spdxjson --predicate -
  vouch attest registry.example.com/app@sha256:… --key ci.key --type slsaprovenance1 --predicate p.json --format bundle
  vouch attest registry.example.com/app@sha256:… --key ci.key --type vuln --predicate scan.json --output-bundle scan.sigstore.json
  vouch attest registry.example.com/app@sha256:… --keyless --type slsaprovenance1 --predicate provenance.json
  vouch attest registry.example.com/app@sha256:… --keyless --format att --type vuln --predicate scan.json

The statement (in-toto v1) names the image digest as its subject and is signed into a DSSE
envelope appended to the image's sha256-<hex>.att manifest, never replacing earlier ones:
cosign's format, so `cosign verify-attestation --key … --type …` accepts it. --format bundle
attaches a Sigstore bundle as an OCI referrer instead; --output-bundle writes it to a file.
--type takes cosign's shorthands (custom, vuln, slsaprovenance, slsaprovenance02,
slsaprovenance1, spdx, spdxjson, cyclonedx, openvex) or a predicate type URI.
--keyless signs with a short-lived Fulcio certificate for the CI job's OIDC identity, as
`vouch sign --keyless` does (same token and service flags, same exit codes), and stores the
attestation only after it verified against the trusted root: a Sigstore bundle referrer by
default (logged as dsse), or with --format att a .att layer carrying cosign 2.x's
certificate, chain and log-entry annotations (logged as dsse, as cosign 2.5 does, or with
--rekor-entry-type intoto as intoto 0.0.2), which `cosign verify-attestation
--certificate-identity … --certificate-oidc-issuer … --type …` accepts.")]
    Attest(AttestArgs),

    /// Show the verified attestations of images, and judge them (type, age, condition).
    #[command(after_help = "Examples:
  vouch attestations registry.example.com/app:1.4 --key scanner.pub
  vouch attestations registry.example.com/app:1.4 --key scanner.pub --type vuln --max-age 7d \\
    --condition 'predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) ||
      r.Vulnerabilities.all(v, v.Severity != \"CRITICAL\"))'
  vouch attestations registry.example.com/app@sha256:… --key ci.pub --type slsaprovenance1 --output json
  vouch attestations registry.example.com/app:1.4 --certificate-identity scanner@example.com \
    --certificate-oidc-issuer https://accounts.google.com --type vuln
  vouch attestations registry.example.com/app:1.4 --policy policy.yaml

Only statements whose DSSE signature verifies under a given key, or (keyless, as `cosign attest`
writes with a Fulcio certificate) whose certificate names the given identity and chains to the
trusted root with a transparency-log entry for this envelope, and whose subject is the image
digest are shown. With --type, the newest such statement of that type decides (dated by the
scan or build time it attests, else by its log time), and must be younger than --max-age and
meet --condition (CEL over predicate, predicateType, subject, image); exit 1 otherwise. With
--policy, each `require.attestations` entry of the image's rule is judged as `vouch verify
--policy` judges it (signatures aside).")]
    Attestations(AttestationsArgs),

    /// Keep Sigstore's trusted root and signing config current through TUF.
    #[command(
        subcommand,
        after_help = "Examples:
  vouch trust-root update
  vouch trust-root update --tuf-url https://tuf.sigstore.internal/ --tuf-root root.json

The verified trusted root and signing config are cached under $XDG_CACHE_HOME/vouch/tuf
(default ~/.cache/vouch/tuf). `vouch verify` and `vouch sign --keyless` then use the newest
verified root (without --trusted-root); the root built into vouch only when nothing was ever
cached. Cached metadata that has expired is refused until the next update, unless
`vouch verify --offline` accepts the last verified root."
    )]
    TrustRoot(TrustRootCommand),

    /// Store credentials for a registry in docker's config.json.
    #[command(after_help = "Example:
  echo \"$TOKEN\" | vouch login registry.example.com --username ci --password-stdin

The credentials go to $DOCKER_CONFIG/config.json (default ~/.docker/config.json), mode 0600,
where docker, cosign and vouch all find them.")]
    Login(LoginArgs),

    /// Remove a registry's credentials from docker's config.json.
    #[command(after_help = "Example:
  vouch logout registry.example.com")]
    Logout {
        /// The registry host, e.g. registry.example.com or 127.0.0.1:5000.
        registry: String,
    },

    /// Verify images' signatures against trusted keys, keyless identities or a policy.
    #[command(after_help = "Examples:
  vouch verify 127.0.0.1:5000/app:v1 --key release.pub
  vouch verify ghcr.io/acme/app:1.4 --certificate-oidc-issuer https://token.actions.githubusercontent.com \\
      --certificate-identity-regexp 'https://github.com/acme/app/\\.github/workflows/release\\.yml@refs/tags/v.*'
  vouch verify oci:./image-layout --key a.pub --key b.pub -a env=prod --output json
  vouch verify --policy policy.yaml registry.example.com/prod/app:1.4 --platform linux/arm64
  vouch verify --from release-images.txt --key release.pub --jobs 32
  vouch verify --offline registry.example.com/app@sha256:… --key release.pub
  vouch verify --all-signatures registry.example.com/app:1.4 --key release.pub --output json
  vouch verify --bundle app.sigstore.json registry.example.com/app@sha256:… --policy p.yaml
  helm template my-release ./chart | vouch verify --policy p.yaml -f -
  vouch verify --key release.pub -f deploy/ -f Dockerfile -f compose.yaml

Exit codes:
  0  every image verified
  1  at least one image failed verification
  2  usage, configuration, policy or key error
  3  a registry or layout could not be reached or read

With --policy, a rule in warn mode reports a deny and exits 0.")]
    Verify(Box<VerifyArgs>),

    /// Verify a Sigstore bundle offline (the sigstore-conformance client protocol).
    #[command(after_help = "Example:
  vouch verify-bundle --bundle a.txt.sigstore.json --certificate-identity you@example.com \\
    --certificate-oidc-issuer https://github.com/login/oauth a.txt
  vouch verify-bundle --bundle b.sigstore.json --key release.pub sha256:<64 hex>

Offline: the certificate is checked at the times the bundle proves (signed entry timestamp
or RFC 3161 timestamp). Without --trusted-root, a built-in snapshot of the Sigstore
production (or, with --staging, staging) trusted root is used.

Exit codes:
  0  verified
  1  verification failed
  2  usage error, or an unreadable bundle, key, artifact or trusted root")]
    VerifyBundle(VerifyBundleArgs),

    /// Sign a file (a policy, an SBOM, a release tarball) as `cosign sign-blob --key` does.
    #[command(after_help = "Examples:
  vouch sign-blob policy.yaml --key release.key --output-signature policy.yaml.sig
  vouch sign-blob app.tar.gz --key release.key --bundle app.tar.gz.sigstore.json
  vouch sign-blob sbom.json --key 'pkcs11:token=ci;object=release?pin-source=/run/pin'
  vouch sign-blob app.tar.gz --keyless --bundle app.tar.gz.sigstore.json

The signature is base64 (printed, or written with --output-signature), cosign's format:
cosign verify-blob --key release.pub --signature F --insecure-ignore-tlog=true FILE accepts
it. --bundle writes a Sigstore bundle with a message signature (no transparency log).
--keyless signs with a short-lived Fulcio certificate for the CI job's OIDC identity, as
`vouch sign --keyless` does (same token and service flags, same exit codes): the signature
is logged as a hashedrekord entry and the bundle is written only after it verified against
the trusted root; `vouch verify-bundle --certificate-identity … --certificate-oidc-issuer …`
and `cosign verify-blob --bundle … --certificate-identity … --certificate-oidc-issuer …`
accept it.")]
    SignBlob(SignBlobArgs),

    /// Verify a file's signature (base64, as `cosign sign-blob` writes) or Sigstore bundle.
    #[command(after_help = "Examples:
  vouch verify-blob policy.yaml --key release.pub --signature policy.yaml.sig
  vouch verify-blob app.tar.gz --key release.pub --bundle app.tar.gz.sigstore.json

Key-signed only: the key is trusted directly, no transparency log or time is checked
(cosign's --insecure-ignore-tlog=true). Exit codes: 0 verified, 1 refused, 2 usage or an
unreadable file, key or signature.")]
    VerifyBlob(VerifyBlobArgs),

    /// Verify attestations of a file (a release tarball, an npm package) in Sigstore bundles,
    /// and judge them, as `cosign verify-blob-attestation` does.
    #[command(after_help = "Examples:
  vouch verify-blob-attestation sigstore-2.0.0.tgz --bundle provenance.sigstore.json \\
    --certificate-identity-regexp '^https://github.com/sigstore/sigstore-js/' \\
    --certificate-oidc-issuer https://token.actions.githubusercontent.com \\
    --type slsaprovenance1 \\
    --condition 'predicate.runDetails.builder.id == \"https://github.com/actions/runner/github-hosted\"'
  vouch verify-blob-attestation sha512:<128 hex> --bundle sbom.sigstore.json --key ci.pub --type spdxjson

Offline. Each bundle must verify (signature, certificate chain and identity at the times its
log entry or RFC 3161 timestamp proves) and carry an in-toto statement whose subject is the
file's digest (sha256 or sha512; give the digest instead of the file if you only have that).
With --type, the newest statement of that type decides, dated by the build or scan time it
attests or else its verified signing time, and must be younger than --max-age and meet
--condition (CEL over predicate, predicateType, subject, image: {name, digest}).

Exit codes:
  0  verified (and, with --type, the requirement met)
  1  refused: no bundle verified, or the requirement failed
  2  usage error, or an unreadable bundle, key, file or trusted root")]
    VerifyBlobAttestation(VerifyBlobAttestationArgs),

    /// Check, explain and test trust policies, offline.
    #[command(
        subcommand,
        after_help = "Examples:
  vouch policy check policy.yaml
  vouch policy explain policy.yaml registry.example.com/prod/app
  vouch policy test policy.yaml policy-cases.yaml"
    )]
    Policy(PolicyCommand),

    /// List the images Kubernetes manifests, Compose files and Dockerfiles use.
    Images(ImagesArgs),

    /// Pin the images in Kubernetes manifests, Compose files and Dockerfiles to digests.
    Pin(PinArgs),

    /// Serve the Kubernetes admission webhook: verify every Pod's images, pin them to digests.
    Serve(ServeArgs),
    /// Serve a registry mirror that lets runtimes pull only the images a policy allows.
    #[command(after_help = "Examples:
  vouch mirror --policy policy.yaml --listen 0.0.0.0:5443 \\
      --tls-cert mirror.crt --tls-key mirror.key --upstream registry.example.com
  vouch mirror --policy policy.yaml --listen 127.0.0.1:5000 --upstream 127.0.0.1:5001 \\
      --allow-insecure-registry --cache-dir /var/cache/vouch-mirror

Point the runtime at the mirror as the registry's only endpoint (containers registries.conf
`location = \"MIRROR\"`; containerd hosts.toml `server = \"https://MIRROR\"` with a [host] table):
a mirror listed as one of several endpoints is skipped when it refuses. docs/mirror.md has
the configurations.

Each manifest is resolved upstream once, verified at its digest under the policy, and its
exact bytes served only if allowed; otherwise 403 DENIED with the image and the reason.
Blobs are served only when reachable from an allowed manifest, digest-checked as they pass.
The policy is reloaded on SIGHUP or when the file changes; an invalid new policy is refused
and the old one stays. /healthz, /readyz and /metrics (Prometheus) are served too.

Exit codes:
  0  stopped by SIGINT or SIGTERM
  2  usage, policy, TLS or listen-address error")]
    Mirror(MirrorArgs),
}

/// `vouch mirror` flags.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// The trust policy every image is verified against.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Address to listen on, e.g. 0.0.0.0:5443 or 127.0.0.1:5000 (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Server certificate chain (PEM); re-read when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (without TLS, only loopback is served).
    #[arg(long)]
    pub allow_plain_http: bool,
    /// Upstream registry host; repeatable. The first is used when a request names none; a
    /// request naming another registry (host-prefixed path, containerd's ?ns=) must name
    /// one of these.
    #[arg(long, value_name = "HOST")]
    pub upstream: Vec<String>,
    /// Let requests name any upstream registry (the policy still decides every image).
    #[arg(long)]
    pub any_upstream: bool,
    /// Directory for the record of what was allowed and the signature cache; share it
    /// between replicas behind one load balancer.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Seconds a decision is kept before the image is verified again.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub decision_ttl: u64,
    /// Seconds one verification may take; past it, the pull is refused.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub verify_timeout: u64,
    /// Largest blob served, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024 * 1024)]
    pub max_blob_bytes: u64,
    /// Seconds between checks of the policy file for changes.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub reload_interval: u64,
}

/// `vouch login` flags.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry host, e.g. registry.example.com or 127.0.0.1:5000.
    pub registry: String,
    /// The user name.
    #[arg(short, long)]
    pub username: String,
    /// Read the password or token from standard input (the only way: never on the command line).
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

/// `vouch policy …` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the JSON Schema (draft 2020-12) of policy files, for editors and CI.
    #[command(after_help = "Examples:
  vouch policy schema > policy.schema.json
  # first line of a policy, for editors with the YAML language server:
  # yaml-language-server: $schema=policy.schema.json

The schema checks structure (known keys, types, allowed words); `vouch policy check` also
checks what no schema can: signer names, patterns, times, keys and overlapping rules.")]
    Schema,
    /// Report every problem in a policy file (exit 2 on errors).
    #[command(after_help = "Examples:
  vouch policy check keys-example/policies/two-person-release.yaml
  vouch policy check policy.yaml --output json

Each problem is printed as file:line:col: error[code]: message, with the source line and a
caret. Codes are documented in docs/policy.md.")]
    Check {
        /// The policy file.
        file: PathBuf,
        /// Output format: `json` gives each diagnostic as code, severity, file, line, column,
        /// message and hint, for editors and CI.
        #[arg(long, value_enum, default_value = "text")]
        output: OutputFormat,
    },
    /// Say which rule applies to each image and why, and what it requires.
    #[command(after_help = "Example:
  vouch policy explain policy.yaml registry.example.com/prod/app:1.4 alpine")]
    Explain {
        /// The policy file.
        file: PathBuf,
        /// Image references (only their repository matters).
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: OutputFormat,
    },
    /// Run table-driven cases against a policy (exit 1 if any fails).
    #[command(after_help = "Example:
  vouch policy test policy.yaml policy-cases.yaml

The cases file format is in docs/policy.md.")]
    Test {
        /// The policy file.
        file: PathBuf,
        /// The cases file (YAML).
        cases: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: OutputFormat,
    },
}

/// `vouch key …` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print a key's id: the hex SHA-256 of its public key (SPKI DER).
    #[command(after_help = "Examples:
  vouch key id release.pub
  vouch key id 'pkcs11:token=ci;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so'")]
    Id {
        /// A public key (PEM), an encrypted private key (asks for its password), or a
        /// `pkcs11:` URI naming a key on a token.
        #[arg(value_name = "KEY")]
        file: PathBuf,
        /// Read the private key's password from this file.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Print a key's public half as PEM (what a .pub file holds): for a key on a PKCS#11
    /// token, this is the file `verify --key` and `cosign verify --key` take.
    #[command(after_help = "Examples:
  vouch key public 'pkcs11:token=ci;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so' > release.pub
  vouch key public release.key > release.pub

A PKCS#11 key's module and PIN can also come from VOUCH_PKCS11_MODULE_PATH and
VOUCH_PKCS11_PIN (or cosign's COSIGN_PKCS11_MODULE_PATH and COSIGN_PKCS11_PIN).")]
    Public {
        /// A public key, an encrypted private key, or a `pkcs11:` URI.
        #[arg(value_name = "KEY")]
        file: PathBuf,
        /// Read the private key's password from this file.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

/// Key algorithms `keygen` can make.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeygenAlgorithm {
    /// ECDSA on P-256 with SHA-256 (cosign's and skopeo's default).
    EcdsaP256,
    /// Pure Ed25519.
    Ed25519,
}

/// `vouch keygen` flags.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Key algorithm.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub algorithm: KeygenAlgorithm,
    /// Write PREFIX.key and PREFIX.pub.
    #[arg(long, default_value = "vouch")]
    pub output_key_prefix: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// Read the password from this file.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// Human or machine output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable.
    Text,
    /// JSON on stdout.
    Json,
}

/// `vouch sign-blob` flags.
#[derive(Debug, Args)]
pub struct SignBlobArgs {
    /// The file to sign.
    pub file: PathBuf,
    /// The private key: an encrypted PEM file or a `pkcs11:` URI (as for `sign`).
    #[arg(
        long,
        value_name = "KEY",
        required_unless_present = "keyless",
        conflicts_with = "keyless"
    )]
    pub key: Option<PathBuf>,
    /// Write the base64 signature to FILE instead of standard output.
    #[arg(long, value_name = "FILE", conflicts_with = "keyless")]
    pub output_signature: Option<PathBuf>,
    /// Also write a Sigstore bundle (message signature) to FILE; with --keyless, the only
    /// output (required).
    #[arg(long, value_name = "FILE", required_if_eq("keyless", "true"))]
    pub bundle: Option<PathBuf>,
    /// Keyless signing, as for `vouch sign --keyless`.
    #[command(flatten)]
    pub keyless: KeylessArgs,
    /// Output format (--keyless only: the bundle file and the identity signed as).
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Read the key's password from this file.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Use a key file that others can read (normally refused, as ssh does).
    #[arg(long)]
    pub allow_insecure_key_permissions: bool,
}

/// `vouch verify-blob` flags.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("signature_source").required(true).args(["signature", "bundle"])))]
pub struct VerifyBlobArgs {
    /// The signed file.
    pub file: PathBuf,
    /// The public key (PEM, or a `pkcs11:` URI for a token key's public half).
    #[arg(long, value_name = "PUB")]
    pub key: PathBuf,
    /// The base64 signature file (`cosign sign-blob --output-signature`).
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// A Sigstore bundle with a message signature (`cosign sign-blob --new-bundle-format`).
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `vouch verify-blob-attestation` flags.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("trust")
        .required(true)
        .multiple(true)
        .args(["key", "certificate_identity", "certificate_identity_regexp"])
))]
pub struct VerifyBlobAttestationArgs {
    /// The attested file, or its digest: sha256:<64 hex> or sha512:<128 hex>.
    #[arg(value_name = "FILE_OR_DIGEST")]
    pub artifact: String,
    /// A Sigstore bundle with a DSSE attestation (GitHub's attest-build-provenance, npm
    /// provenance, `cosign attest-blob --new-bundle-format`); repeat for several.
    #[arg(long = "bundle", value_name = "FILE", required = true)]
    pub bundles: Vec<PathBuf>,
    /// Trust bundles signed by this public key (PEM).
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// Trust keyless bundles whose certificate names exactly this identity.
    #[arg(
        long,
        value_name = "IDENTITY",
        conflicts_with = "certificate_identity_regexp"
    )]
    pub certificate_identity: Option<String>,
    /// Trust keyless bundles whose identity this regular expression matches in full.
    #[arg(long, value_name = "REGEX")]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer the certificate must name, exactly.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "certificate_oidc_issuer_regexp"
    )]
    pub certificate_oidc_issuer: Option<String>,
    /// A regular expression the certificate's OIDC issuer must match in full.
    #[arg(long, value_name = "REGEX")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// The Sigstore trusted_root.json to verify against (default: the built-in Sigstore
    /// production root).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Only this predicate type (shorthand or URI), judged: the newest statement decides.
    #[arg(long = "type", value_name = "TYPE")]
    pub predicate_type: Option<String>,
    /// The deciding statement must be at most this old: N followed by s, m, h or d.
    #[arg(long, value_name = "AGE", requires = "predicate_type")]
    pub max_age: Option<String>,
    /// A CEL expression the deciding statement must make true.
    #[arg(long, value_name = "CEL", requires = "predicate_type")]
    pub condition: Option<String>,
    /// Judge as at this RFC 3339 time instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `vouch sign` flags.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Images: host[:port]/repo[:tag][@sha256:…] or oci:PATH[:TAG|@sha256:…].
    #[arg(required_unless_present = "from", value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Also read image references from FILE, one per line (`-` for stdin; # comments).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// How many images to work on at once (signs waiting the ~1 s to confirm their write
    /// hold no job).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// The private key: a cosign/sigstore encrypted PEM file, or a key on a PKCS#11 token as
    /// an RFC 7512 URI (`pkcs11:token=…;object=…?module-path=…&pin-source=FILE`; module and
    /// PIN also from VOUCH_PKCS11_MODULE_PATH and VOUCH_PKCS11_PIN, or cosign's COSIGN_ names).
    #[arg(
        long,
        value_name = "KEY",
        required_unless_present = "keyless",
        conflicts_with = "keyless"
    )]
    pub key: Option<PathBuf>,
    /// A signed annotation, KEY=VALUE (repeatable).
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// For an index, sign every platform manifest too.
    #[arg(long)]
    pub recursive: bool,
    /// The repository to name in the payload, instead of the image's own.
    #[arg(long, value_name = "REPOSITORY")]
    pub identity: Option<String>,
    /// Signature format: cosign's tag-based `.sig` manifest (`simplesigning`, alias `sig`),
    /// or a Sigstore bundle attached as an OCI 1.1 referrer. Default: simplesigning with
    /// --key, bundle with --keyless.
    #[arg(long, value_enum)]
    pub format: Option<SignatureFormat>,
    /// Write the Sigstore bundle to FILE instead of storing anything (implies --format
    /// bundle; one image; a digest reference needs no network).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["recursive", "keyless"])]
    pub output_bundle: Option<PathBuf>,
    /// Keyless signing (see below).
    #[command(flatten)]
    pub keyless: KeylessArgs,
    /// Read the key's password from this file.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Use a key file that others can read (normally refused, as ssh does).
    #[arg(long)]
    pub allow_insecure_key_permissions: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `vouch attest` flags.
#[derive(Debug, Args)]
pub struct AttestArgs {
    /// Images: host[:port]/repo[:tag][@sha256:…] or oci:PATH[:TAG|@sha256:…].
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// The private key (cosign/sigstore encrypted PEM).
    #[arg(long, required_unless_present = "keyless", conflicts_with = "keyless")]
    pub key: Option<PathBuf>,
    /// The predicate: a JSON file (`-` for stdin); for `--type custom`, any text.
    #[arg(long, value_name = "FILE")]
    pub predicate: PathBuf,
    /// The predicate type: a cosign shorthand or a URI.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub predicate_type: String,
    /// Storage: cosign's `.att` manifest (DSSE layers), or a Sigstore bundle attached as an
    /// OCI 1.1 referrer (cosign v3's format). Default: att with --key, bundle with --keyless.
    #[arg(long, value_enum)]
    pub format: Option<AttestationFormat>,
    /// Write the Sigstore bundle to FILE instead of storing anything (one image; a digest
    /// reference needs no network); `vouch verify --bundle FILE` reads it.
    #[arg(long, value_name = "FILE", conflicts_with = "keyless")]
    pub output_bundle: Option<PathBuf>,
    /// With --keyless --format att: the transparency-log entry type, `dsse` (cosign 2.5's
    /// default) or `intoto` (what older cosign logged).
    #[arg(long, value_enum, default_value = "dsse", requires = "keyless")]
    pub rekor_entry_type: RekorEntryType,
    /// How many images to attest at once with --keyless.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Keyless signing, as for `vouch sign --keyless`.
    #[command(flatten)]
    pub keyless: KeylessArgs,
    /// Read the key's password from this file.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Use a key file that others can read (normally refused, as ssh does).
    #[arg(long)]
    pub allow_insecure_key_permissions: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `vouch trust-root` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrustRootCommand {
    /// Fetch and verify the current trusted root and signing config through TUF.
    #[command(after_help = "Examples:
  vouch trust-root update
  vouch trust-root update --tuf-url https://tuf.sigstore.internal/ --tuf-root root.json

Exit codes: 0 updated, 1 TUF refused the repository's metadata (the cache is unchanged),
2 options to fix (e.g. no --tuf-root for a new private repository), 3 the repository or
the cache could not be reached.")]
    Update(TrustRootUpdateArgs),
}

/// `vouch trust-root update` flags.
#[derive(Debug, Args)]
pub struct TrustRootUpdateArgs {
    /// The TUF repository (default: Sigstore's public-good repository).
    #[arg(long, value_name = "URL")]
    pub tuf_url: Option<String>,
    /// The repository's initial root.json (needed the first time for a repository other
    /// than Sigstore's, whose root of trust is built in).
    #[arg(long, value_name = "FILE")]
    pub tuf_root: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// How `vouch attest` stores attestations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttestationFormat {
    /// cosign's tag-based format (`sha256-<hex>.att`), read by cosign 2.
    Att,
    /// A Sigstore bundle v0.3 in an OCI 1.1 referrer (cosign v3's format).
    Bundle,
}

/// The log entry type of a keyless `.att` layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RekorEntryType {
    /// `dsse` 0.0.1.
    Dsse,
    /// `intoto` 0.0.2.
    Intoto,
}

/// `vouch attestations` flags. Whose attestations count is required: keys, a keyless
/// identity or a policy (the group makes clap's message name them all).
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("trust")
        .required(true)
        .multiple(true)
        .args(["keys", "policy", "certificate_identity", "certificate_identity_regexp"])
))]
pub struct AttestationsArgs {
    /// Images: host[:port]/repo[:tag][@sha256:…] or oci:PATH[:TAG|@sha256:…].
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// A trusted public key (PEM); repeat for several.
    #[arg(long = "key", value_name = "PUB", conflicts_with = "policy")]
    pub keys: Vec<PathBuf>,
    /// Keyless attestations: cosign's identity flags.
    #[command(flatten)]
    pub keyless: KeylessTrustArgs,
    /// The TUF repository whose cached trusted root is the default for keyless attestations
    /// (default: Sigstore's; see `vouch trust-root update`).
    #[arg(long, value_name = "URL")]
    pub tuf_url: Option<String>,
    /// Judge each image by what this trust policy's rule for it requires of attestations
    /// (its signers, keys, keyless identities and trusted root) instead of --key.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Only this predicate type (shorthand or URI), judged: the newest statement decides.
    /// With --policy, only the rule's requirements of this type.
    #[arg(long = "type", value_name = "TYPE")]
    pub predicate_type: Option<String>,
    /// The deciding statement must be at most this old: N followed by s, m, h or d.
    #[arg(
        long,
        value_name = "AGE",
        requires = "predicate_type",
        conflicts_with = "policy"
    )]
    pub max_age: Option<String>,
    /// A CEL expression the deciding statement must make true.
    #[arg(
        long,
        value_name = "CEL",
        requires = "predicate_type",
        conflicts_with = "policy"
    )]
    pub condition: Option<String>,
    /// Judge as at this RFC 3339 time instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `vouch sign --keyless` flags.
#[derive(Debug, Args)]
pub struct KeylessArgs {
    /// Sign with a short-lived Fulcio certificate for an OIDC identity instead of a key;
    /// each signature is recorded in the transparency log.
    #[arg(long)]
    pub keyless: bool,
    /// The OIDC identity token, or a file holding it (default: SIGSTORE_ID_TOKEN, then
    /// GitHub Actions' ambient token). Never printed.
    #[arg(long, value_name = "TOKEN|FILE", requires = "keyless")]
    pub identity_token: Option<String>,
    /// A Sigstore signing config (signing_config.json) naming Fulcio, Rekor and TSAs
    /// (default: the Sigstore public-good instance).
    #[arg(long, value_name = "FILE", requires = "keyless")]
    pub signing_config: Option<PathBuf>,
    /// Fulcio's URL, replacing the signing config's.
    #[arg(long, value_name = "URL", requires = "keyless")]
    pub fulcio_url: Option<String>,
    /// A transparency log's URL, replacing the signing config's (a Rekor v1 log unless
    /// --rekor-version 2).
    #[arg(long, value_name = "URL", requires = "keyless")]
    pub rekor_url: Option<String>,
    /// The Rekor API version to log to: that of --rekor-url, or the only one chosen from the
    /// signing config (default: the newest it lists). Rekor v2 needs a timestamp authority
    /// and --format bundle.
    #[arg(long, value_name = "1|2", requires = "keyless", value_parser = clap::value_parser!(u32).range(1..=2))]
    pub rekor_version: Option<u32>,
    /// An RFC 3161 timestamp authority's endpoint (…/api/v1/timestamp), replacing the
    /// signing config's.
    #[arg(long, value_name = "URL", requires = "keyless")]
    pub tsa_url: Option<String>,
    /// The Sigstore trusted_root.json each signature must verify against before it is
    /// stored (default: the newest root `vouch trust-root update` cached, else the built-in
    /// Sigstore production root).
    #[arg(long = "trusted-root", value_name = "FILE", requires = "keyless")]
    pub trusted_root: Option<PathBuf>,
    /// The TUF repository whose cached trusted root and signing config are the defaults
    /// (default: Sigstore's; see `vouch trust-root update`).
    #[arg(long, value_name = "URL", requires = "keyless")]
    pub tuf_url: Option<String>,
}

/// How `vouch sign` stores signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignatureFormat {
    /// cosign's tag-based format (`sha256-<hex>.sig`), read by cosign 2 and skopeo.
    #[value(alias = "sig")]
    Simplesigning,
    /// A Sigstore bundle v0.3 in an OCI 1.1 referrer (cosign v3's format).
    Bundle,
}

/// cosign's keyless verification flags (`vouch verify`, `vouch attestations`): the identity
/// a Fulcio certificate must name, the trusted root, and whether unlogged ones count. Each
/// conflicts with `--policy`, which names its own keyless signers.
#[derive(Debug, Args)]
pub struct KeylessTrustArgs {
    /// Accept keyless signatures (Fulcio certificates) naming exactly this identity: an
    /// email, URI or username, as in the certificate. Needs an issuer flag too.
    #[arg(long, value_name = "IDENTITY", conflicts_with_all = ["policy", "certificate_identity_regexp"],
          help_heading = "Keyless signatures (without a policy)")]
    pub certificate_identity: Option<String>,
    /// Accept keyless signatures whose identity this regular expression matches in full.
    #[arg(
        long,
        value_name = "REGEX",
        conflicts_with = "policy",
        help_heading = "Keyless signatures (without a policy)"
    )]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer the certificate must name, exactly
    /// (e.g. https://token.actions.githubusercontent.com).
    #[arg(long, value_name = "URL", conflicts_with_all = ["policy", "certificate_oidc_issuer_regexp"],
          help_heading = "Keyless signatures (without a policy)")]
    pub certificate_oidc_issuer: Option<String>,
    /// A regular expression the certificate's OIDC issuer must match in full.
    #[arg(
        long,
        value_name = "REGEX",
        conflicts_with = "policy",
        help_heading = "Keyless signatures (without a policy)"
    )]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// The Sigstore trusted_root.json keyless signatures are checked against (default: the
    /// newest root `vouch trust-root update` cached, else the built-in Sigstore production
    /// root; a policy names its own with `trusted_root`).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "policy",
        help_heading = "Keyless signatures (without a policy)"
    )]
    pub trusted_root: Option<PathBuf>,
    /// Also accept keyless signatures that no transparency log records; their certificate
    /// is then checked at their RFC 3161 timestamp, or now. (A policy says
    /// `transparency_log: optional` for a signer instead.)
    #[arg(
        long,
        conflicts_with = "policy",
        help_heading = "Keyless signatures (without a policy)"
    )]
    pub insecure_ignore_tlog: bool,
}

/// `vouch verify` flags. What to trust is required: keys, a policy or a keyless identity (the
/// group makes clap's message name them all).
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("trust")
        .required(true)
        .multiple(true)
        .args(["keys", "policy", "certificate_identity", "certificate_identity_regexp"])
))]
pub struct VerifyArgs {
    /// Images: host[:port]/repo[:tag][@sha256:…] or oci:PATH[:TAG|@sha256:…].
    #[arg(required_unless_present_any = ["from", "files"], value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Also verify every image these files use (`-f`, repeatable; see `vouch images --help`).
    #[command(flatten)]
    pub deploy: FileArgs,
    /// Also read image references from FILE, one per line (`-` for stdin; # comments).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// How many images to work on at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Use only the verification cache: no network (digest references only).
    #[arg(long, conflicts_with_all = ["refresh", "no_cache"])]
    pub offline: bool,
    /// Ignore the verification cache (but refill it).
    #[arg(long, conflicts_with = "no_cache")]
    pub refresh: bool,
    /// Neither read nor write the verification cache.
    #[arg(long)]
    pub no_cache: bool,
    /// A trusted public key (PEM, or a `pkcs11:` URI: the public half of a key on a token);
    /// repeat for several. A signature by any of them counts.
    #[arg(long = "key", value_name = "PUB", conflicts_with = "policy")]
    pub keys: Vec<PathBuf>,
    /// Keyless signatures: cosign's identity flags.
    #[command(flatten)]
    pub keyless: KeylessTrustArgs,
    /// The TUF repository whose cached trusted root is the default (default: Sigstore's;
    /// see `vouch trust-root update`). With --offline, expired cached metadata is accepted.
    #[arg(long, value_name = "URL")]
    pub tuf_url: Option<String>,
    /// Judge images by this trust policy (YAML or JSON) instead of --key.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Use the policy only if this signature of it (base64, `vouch sign-blob` or `cosign
    /// sign-blob`) verifies under --policy-key: a reviewed, signed policy gates the deploy.
    #[arg(long, value_name = "SIG", requires_all = ["policy", "policy_key"])]
    pub policy_signature: Option<PathBuf>,
    /// The public key (PEM or `pkcs11:` URI) the policy's signature must verify under.
    #[arg(long, value_name = "PUB", requires = "policy_signature")]
    pub policy_key: Option<PathBuf>,
    /// Judge signer validity windows at this instant (RFC 3339) instead of now.
    // `requires` alone is not enough: clap lets it pass when --key (which conflicts with
    // --policy) is given, and the flag would be silently ignored.
    #[arg(
        long,
        value_name = "RFC3339",
        requires = "policy",
        conflicts_with = "keys"
    )]
    pub at: Option<String>,
    /// For an index, judge the child for this platform (os/arch[/variant]).
    #[arg(
        long,
        value_name = "OS/ARCH[/VARIANT]",
        requires = "policy",
        conflicts_with_all = ["all_platforms", "keys"]
    )]
    pub platform: Option<String>,
    /// For an index, judge every platform child; all must pass.
    #[arg(long, requires = "policy", conflicts_with = "keys")]
    pub all_platforms: bool,
    /// A signed annotation that must be present, KEY=VALUE (repeatable; with --policy,
    /// annotations are required by the policy's rules instead).
    #[arg(
        short = 'a',
        long = "annotation",
        value_name = "KEY=VALUE",
        conflicts_with = "policy"
    )]
    pub annotations: Vec<String>,
    /// The repository signatures must name, instead of the image's own.
    #[arg(long, value_name = "REPOSITORY")]
    pub identity: Option<String>,
    /// Judge the image by this Sigstore bundle file only (repeatable), with no network: the
    /// image must be an oci: layout or a repo@sha256:… digest reference.
    #[arg(
        long = "bundle",
        value_name = "FILE",
        conflicts_with_all = ["from", "offline", "platform", "all_platforms"]
    )]
    pub bundles: Vec<PathBuf>,
    /// Read every signature, in both formats, and report each, even when the image already
    /// passes on its `.sig` signatures (by default, Sigstore bundle referrers are only read
    /// when those do not suffice: more signatures never turn a pass into a refusal).
    #[arg(long, conflicts_with_all = ["offline", "bundles"])]
    pub all_signatures: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `vouch verify-bundle` flags.
#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// Use the Sigstore staging trusted root (when --trusted-root is not given).
    #[arg(long)]
    pub staging: bool,
    /// The Sigstore bundle (JSON).
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// The signer identity the certificate must name (SAN: URI, email or username).
    #[arg(
        long,
        value_name = "IDENTITY",
        requires = "certificate_oidc_issuer",
        required_unless_present = "key"
    )]
    pub certificate_identity: Option<String>,
    /// The OIDC issuer the certificate must name.
    #[arg(long, value_name = "URL", requires = "certificate_identity")]
    pub certificate_oidc_issuer: Option<String>,
    /// Verify a key-signed bundle with this public key (PEM) instead of an identity.
    #[arg(long, value_name = "PUB", conflicts_with_all = ["certificate_identity", "certificate_oidc_issuer"])]
    pub key: Option<PathBuf>,
    /// trusted_root.json to verify against.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// The artifact: a file, or sha256:<64 hex> (for DSSE bundles, a statement subject).
    #[arg(value_name = "FILE_OR_DIGEST")]
    pub artifact: String,
}

/// `-f` and the flags that shape how files are read.
#[derive(Debug, Clone, Default, Args)]
pub struct FileArgs {
    /// Read images from a Kubernetes manifest (YAML or JSON), Compose file or Dockerfile; a
    /// directory is searched recursively; `-` reads standard input. Repeatable.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Give a Dockerfile ARG a value, NAME=VALUE (repeatable), as `docker build --build-arg`.
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    pub build_args: Vec<String>,
    /// Say which files a directory search passed over, and why.
    #[arg(long)]
    pub verbose: bool,
}

/// `vouch images` flags.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  vouch images -f deploy/
  helm template my-release ./chart | vouch images -f -
  vouch images -f Dockerfile --build-arg GO_VERSION=1.23 --output json
  kustomize build overlays/prod | vouch images -f - --unique

Kubernetes manifests (every container, init and ephemeral container and image volume of
every pod spec, custom resources included), Compose files (services.*.image, interpolated
from the environment and .env) and Dockerfiles (FROM, COPY --from, RUN --mount=from) are
recognised by content. A directory is searched for *.yaml, *.yml, *.json, Dockerfile,
*.Dockerfile, Containerfile and Compose files. A reference that is not a valid image
reference after interpolation (an unrendered template, a variable without a value) is an
error naming file:line (exit 2).")]
pub struct ImagesArgs {
    /// Where to read.
    #[command(flatten)]
    pub input: FileArgs,
    /// Print each distinct image once (sorted), without places.
    #[arg(long)]
    pub unique: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `vouch pin` flags.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  vouch pin -f deploy/ -f Dockerfile
  vouch pin -f compose.yaml --dry-run
  vouch pin -f deploy/ --check
  vouch pin -f deploy/ --update --policy policy.yaml

Every tag reference becomes name:tag@sha256:<digest>, the digest being what `docker pull
name:tag` gets (an image index's digest for a multi-platform image). Only the reference's
own bytes change: comments, quoting, key order, indentation and line endings stay. Writes
are atomic, and a file changed on disk since it was read is left alone (exit 2).

Exit codes:
  0  done (or, with --check, every reference is pinned)
  1  --check found unpinned references, or an image failed verification (nothing written)
  2  usage, file, reference or policy error; a file changed while pinning
  3  a registry could not be reached")]
pub struct PinArgs {
    /// Where to read (standard input cannot be rewritten).
    #[command(flatten)]
    pub input: FileArgs,
    /// Change nothing: list every reference without a digest and exit 1 if there is one.
    #[arg(long, conflicts_with_all = ["dry_run", "update", "policy", "keys"])]
    pub check: bool,
    /// Change nothing: print the changes as a unified diff.
    #[arg(long)]
    pub dry_run: bool,
    /// Also re-resolve references that already have a digest (for tags that moved).
    #[arg(long)]
    pub update: bool,
    /// Pin only images that pass this trust policy; write nothing if one does not.
    #[arg(long, value_name = "FILE", conflicts_with = "keys")]
    pub policy: Option<PathBuf>,
    /// Pin only images signed by one of these keys (repeatable); write nothing otherwise.
    #[arg(long = "key", value_name = "PUB")]
    pub keys: Vec<PathBuf>,
    /// How many tags to resolve (and images to verify) at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        let mut cmd = Cli::command();
        cmd.build();
        fn walk(cmd: &clap::Command, path: &str) {
            let help = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(help.contains("Example"), "`{path}` --help has no example");
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        walk(&cmd, "vouch");
        assert!(TOP_HELP.contains("3  a registry"));
    }
}

/// `vouch serve`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  vouch serve --policy /etc/vouch/policy.yaml --listen 0.0.0.0:8443 \\
      --tls-cert /etc/vouch/tls/tls.crt --tls-key /etc/vouch/tls/tls.key

Serves over HTTPS (HTTP/1.1 and HTTP/2):
  POST /validate  ValidatingAdmissionWebhook (admission.k8s.io/v1 AdmissionReview)
  POST /mutate    MutatingAdmissionWebhook: pins each verified image to name:tag@sha256:<digest>
  GET  /healthz, /readyz, /metrics (Prometheus)

Every image of the object is verified once against the policy; an image that does not verify,
whose registry cannot be read, or that is not verified within --deadline is refused (fail
closed). The policy is reloaded when its file changes or on SIGHUP (a policy that does not
validate is refused and the old one stays); the certificate when its files change. Exempt
namespaces are set in the policy (`exempt: {namespaces: [...]}`), never by flag. Registry
credentials are vouch's own (DOCKER_CONFIG). One JSON log line per decision on stderr.
Manifests: deploy/kubernetes; guide: docs/kubernetes.md.

Exit codes:
  0  stopped by SIGTERM or Ctrl-C
  2  the policy, certificate, key or address cannot be used")]
pub struct ServeArgs {
    /// The trust policy (docs/policy.md); reloaded when it changes.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,

    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    pub listen: std::net::SocketAddr,

    /// Serving certificate chain (PEM, leaf first); re-read when it changes.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: PathBuf,

    /// The certificate's private key (PEM); re-read when it changes.
    #[arg(long, value_name = "FILE")]
    pub tls_key: PathBuf,

    /// Seconds a review may take before what is not yet verified is refused; kept under the
    /// webhook's timeoutSeconds (10) and shortened to fit the API server's ?timeout=.
    #[arg(long, value_name = "SECONDS", default_value_t = 8.0)]
    pub deadline: f64,

    /// Seconds a verified image's verdict is reused (a moved tag is seen after this).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub verified_ttl: u64,

    /// Seconds a refused image's verdict is reused (a new signature is seen after this).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub refused_ttl: u64,

    /// Reviews judged at once; more wait within their deadline.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_reviews: usize,

    /// Image verifications against registries at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_verifications: usize,

    /// Seconds between looks at the policy file for changes.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub reload_interval: u64,

    /// Seconds to go on answering after SIGTERM (with /readyz failing), so the Service stops
    /// sending reviews to this Pod before it closes.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub shutdown_delay: u64,

    /// Do not use the verification cache on disk.
    #[arg(long)]
    pub no_cache: bool,
}
