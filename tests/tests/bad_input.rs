//! A corpus of bad command lines run against the real binary: malformed references, missing,
//! unreadable and wrong-kind files, wrong passwords, broken policy and cases files, conflicting,
//! unknown and badly valued flags. Each must fail with the documented exit code and a first
//! stderr line that names the problem, and never panic or print a backtrace.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use vouch_e2e::{Run, TestImage, vectors_dir, vouch, workspace_root};

/// How stderr is laid out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// vouch's own error: exactly one line, `error: …`.
    Line,
    /// clap's usage error: `error: …`, then usage lines.
    Clap,
    /// Policy diagnostics: `file:line:col: error[code]: …` with the source, then a summary.
    Diagnostics,
}

struct Case {
    name: String,
    args: Vec<OsString>,
    env: Vec<(&'static str, OsString)>,
    code: i32,
    shape: Shape,
    /// Must appear in the first line of stderr.
    first_line: Vec<String>,
}

/// Builds cases; `dir` holds the fixtures.
struct Corpus {
    dir: PathBuf,
    cases: Vec<Case>,
    skipped: Vec<String>,
}

impl Corpus {
    fn path(&self, name: &str) -> OsString {
        self.dir.join(name).into_os_string()
    }

    /// `args`: the command line split on whitespace; `@name` is the fixture `name`.
    fn line(&mut self, name: &str, args: &str, first_line: &[&str]) -> &mut Case {
        self.words(name, &split(args), Shape::Line, first_line)
    }

    fn clap(&mut self, name: &str, args: &str, first_line: &[&str]) -> &mut Case {
        self.words(name, &split(args), Shape::Clap, first_line)
    }

    fn diag(&mut self, name: &str, args: &str, first_line: &[&str]) -> &mut Case {
        self.words(name, &split(args), Shape::Diagnostics, first_line)
    }

    /// For arguments with spaces in them (or empty ones).
    fn words(&mut self, name: &str, args: &[&str], shape: Shape, first_line: &[&str]) -> &mut Case {
        let args = args
            .iter()
            .map(|a| match a.strip_prefix('@') {
                Some(file) => self.path(file),
                None => OsString::from(a),
            })
            .collect();
        self.cases.push(Case {
            name: name.to_string(),
            args,
            env: Vec::new(),
            code: 2,
            shape,
            first_line: first_line.iter().map(|s| s.to_string()).collect(),
        });
        self.cases.last_mut().expect("just pushed")
    }
}

impl Case {
    fn env(&mut self, key: &'static str, value: &str) -> &mut Case {
        self.env.push((key, value.into()));
        self
    }

    fn code(&mut self, code: i32) -> &mut Case {
        self.code = code;
        self
    }
}

fn split(args: &str) -> Vec<&str> {
    args.split_whitespace().collect()
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), contents).expect("write fixture");
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn fixtures(dir: &Path) {
    let examples = workspace_root().join("keys-example");
    std::fs::copy(examples.join("release-ci.pub"), dir.join("pub.pub")).expect("copy pub");
    std::fs::copy(examples.join("release-ci.key"), dir.join("k.key")).expect("copy key");
    chmod(&dir.join("k.key"), 0o600);
    std::fs::copy(examples.join("release-ci.key"), dir.join("loose.key")).expect("copy key");
    chmod(&dir.join("loose.key"), 0o644);
    std::fs::copy(dir.join("pub.pub"), dir.join("pub-0600.pub")).expect("copy pub");
    chmod(&dir.join("pub-0600.pub"), 0o600);
    TestImage::new("bad-input").write_layout(&dir.join("img"), Some("v1"));

    let vectors = vectors_dir();
    std::fs::copy(
        vectors.join("containers-image/derived-simple-signing/cosign-pki-valid/cert.pem"),
        dir.join("cert.pem"),
    )
    .expect("copy certificate");
    std::fs::copy(
        vectors.join("cosign/extracted/pkg/cosign/keys_test/validecp521.pem"),
        dir.join("p521-private.pem"),
    )
    .expect("copy P-521 key");
    let assets = vectors.join("sigstore-conformance/test/assets/bundle-verify");
    std::fs::copy(
        assets.join("happy-path-v0.3/bundle.sigstore.json"),
        dir.join("bundle.json"),
    )
    .expect("copy bundle");
    std::fs::copy(assets.join("a.txt"), dir.join("a.txt")).expect("copy artifact");

    std::fs::create_dir(dir.join("dir")).expect("mkdir");
    write(dir, "empty", "");
    // Deterministic bytes that are neither UTF-8 nor DER.
    let binary: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
        .collect();
    write(dir, "binary", &binary);
    std::os::unix::fs::symlink(dir.join("loop"), dir.join("loop")).expect("symlink loop");
    write(dir, "wrong-password", "not the password\n");
    write(dir, "binary-password", [0xff, 0xfe, 0x00]);

    let ok_policy = "version: 1\nsigners:\n  ci:\n    keys: [pub.pub]\nrules:\n  - name: all\n    images: [\"**\"]\n    require: {signers: [ci]}\n";
    write(dir, "ok.yaml", ok_policy);
    write(
        dir,
        "missing-key.yaml",
        ok_policy.replace("pub.pub", "absent.pub"),
    );
    write(dir, "dir-key.yaml", ok_policy.replace("pub.pub", "dir"));
    write(
        dir,
        "private-key.yaml",
        ok_policy.replace("pub.pub", "k.key"),
    );
    write(dir, "syntax.yaml", "version: 1\nrules: [\n");
    write(
        dir,
        "deep.yaml",
        format!(
            "version: 1\nrules: {}{}\n",
            "[".repeat(200),
            "]".repeat(200)
        ),
    );
    write(
        dir,
        "huge.yaml",
        format!("version: 1\n# {}\n", "x".repeat(5 << 20)),
    );
    let utf16: Vec<u8> = "version: 1\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    write(dir, "utf16.yaml", [&[0xff, 0xfe][..], &utf16].concat());
    write(dir, "list.yaml", "- version: 1\n- rules: []\n");
    write(dir, "anchors.yaml", "version: 1\ndefault: &d deny\nx: *d\n");
    write(dir, "tags.yaml", "version: !!int 1\n");
    write(dir, "multi.yaml", "version: 1\n---\nversion: 1\n");
    write(dir, "unknown-field.yaml", "version: 1\nrulez: []\n");
    write(dir, "wrong-version.yaml", "version: 2\n");
    write(dir, "cases-syntax.yaml", "cases: [\n");
    write(
        dir,
        "cases-bad-reference.yaml",
        "cases:\n  - name: x\n    image: \"UPPER/Case\"\n    expect: {decision: allow}\n",
    );
    write(dir, "refs.txt", "alpine\nUPPER/Case\n");
}

// One case per line: a table reads better than rustfmt's wrapping of it.
#[rustfmt::skip]
fn corpus(dir: &Path) -> Corpus {
    let mut c = Corpus {
        dir: dir.to_path_buf(),
        cases: Vec::new(),
        skipped: Vec::new(),
    };
    let long = "a".repeat(5000);

    // Malformed references: refused before any network access.
    for (name, reference, problem) in [
        ("uppercase repository", "UPPER/Case", "invalid repository"),
        ("short digest", "repo@sha256:abc", "invalid digest"),
        ("md5 digest", "repo@md5:0123", "invalid digest"),
        ("uppercase digest", "repo@SHA256:0123", "invalid digest"),
        ("empty reference", "", "empty image reference"),
        ("oci without a path", "oci:", "without a path"),
        ("port out of range", "host:99999/repo", "invalid registry host"),
        ("URL instead of a reference", "https://registry.example.com/app", "invalid registry host"),
        ("tag with a space", "repo:tag with space", "invalid tag"),
        ("empty tag", "repo:", "invalid tag"),
        ("tag starting with a dash", "repo:-tag", "invalid tag"),
        ("double slash", "a//b", "invalid repository"),
        ("leading space", " alpine", "invalid repository"),
        ("non-ASCII repository", "álpine", "invalid repository"),
        ("trailing separator", "trail-", "invalid repository"),
        ("bad layout tag", "oci:img:bad tag", "invalid tag"),
        ("too long", long.as_str(), "longer than 4096"),
    ] {
        let msg = format!("bad image reference {reference:?}");
        let shown = if reference.len() > 100 { "bad image reference" } else { msg.as_str() };
        c.words(&format!("verify: {name}"), &["verify", "--key", "@pub.pub", "--", reference], Shape::Line, &[shown, problem]);
    }
    c.line("sign: malformed reference", "sign --key @k.key UPPER/Case", &["bad image reference \"UPPER/Case\""]);
    c.line("verify --from: malformed reference in the list", "verify --key @pub.pub --from @refs.txt", &["bad image reference \"UPPER/Case\""]);
    c.line("policy explain: malformed reference", "policy explain @ok.yaml UPPER/Case", &["bad image reference \"UPPER/Case\""]);

    // Missing files.
    c.line("verify: missing --key", "verify --key @absent.pub alpine", &["cannot read", "absent.pub", "No such file"]);
    c.line("sign: missing --key", "sign --key @absent.key oci:img", &["cannot read", "absent.key"]).env("VOUCH_PASSWORD", "x");
    c.line("sign: missing --password-file", "sign --key @k.key --password-file @absent-password alpine", &["cannot read", "absent-password"]);
    c.line("keygen: missing --password-file", "keygen --output-key-prefix @new --password-file @absent-password", &["cannot read", "absent-password"]);
    c.line("key id: missing file", "key id @absent.pub", &["cannot read", "absent.pub"]);
    c.line("verify: missing --policy", "verify --policy @absent.yaml alpine", &["cannot read policy", "absent.yaml"]);
    c.line("policy check: missing file", "policy check @absent.yaml", &["cannot read policy", "absent.yaml"]);
    c.line("policy test: missing cases file", "policy test @ok.yaml @absent-cases.yaml", &["cannot read cases", "absent-cases.yaml"]);
    c.line("verify: missing --from", "verify --key @pub.pub --from @absent.txt", &["cannot read references", "absent.txt"]);
    c.line("verify: missing --registry-cacert", "--registry-cacert @absent-ca.pem verify --key @pub.pub oci:img", &["cannot read CA file", "absent-ca.pem"]);
    c.line("verify-bundle: missing --bundle", "verify-bundle --bundle @absent.json --key @pub.pub @a.txt", &["cannot read bundle", "absent.json"]);
    c.line("verify-bundle: missing artifact", "verify-bundle --bundle @bundle.json --key @pub.pub @absent.txt", &["cannot read artifact", "absent.txt"]);
    c.line("verify-bundle: short digest is not a file either", "verify-bundle --bundle @bundle.json --key @pub.pub sha256:abc", &["cannot read artifact", "sha256:abc"]);
    c.line("verify-bundle: missing --trusted-root", "verify-bundle --bundle @bundle.json --key @pub.pub --trusted-root @absent-root.json @a.txt", &["cannot read trusted root", "absent-root.json"]);

    // Unreadable files. Root reads mode-000 files, so those cases run only when they can fail.
    c.line("verify: --key is a symlink loop", "verify --key @loop alpine", &["cannot read", "loop", "symbolic links"]);
    c.line("policy check: symlink loop", "policy check @loop", &["cannot read policy", "loop"]);
    c.line("verify: --key below a file", "verify --key @pub.pub/x alpine", &["cannot read", "Not a directory"]);
    write(dir, "unreadable.pub", "x");
    write(dir, "unreadable.yaml", "version: 1\n");
    chmod(&dir.join("unreadable.pub"), 0o000);
    chmod(&dir.join("unreadable.yaml"), 0o000);
    if std::fs::read(dir.join("unreadable.pub")).is_err() {
        c.line("verify: unreadable --key", "verify --key @unreadable.pub alpine", &["cannot read", "unreadable.pub", "Permission denied"]);
        c.line("policy check: unreadable file", "policy check @unreadable.yaml", &["cannot read policy", "unreadable.yaml", "Permission denied"]);
    } else {
        c.skipped.push(
            "mode-000 files: this process can read them anyway (root or CAP_DAC_OVERRIDE); \
             the symlink-loop and not-a-directory cases cover unreadable paths"
                .into(),
        );
    }

    // Directories and devices where files are expected.
    c.line("verify: --key is a directory", "verify --key @dir alpine", &["cannot read", "dir", "directory"]);
    c.line("sign: --key is a directory", "sign --key @dir alpine", &["cannot read", "dir", "directory"]).env("VOUCH_PASSWORD", "x");
    c.line("sign: --password-file is a directory", "sign --key @k.key --password-file @dir alpine", &["cannot read", "dir", "directory"]);
    c.line("key id: directory", "key id @dir", &["cannot read", "dir", "directory"]);
    c.line("policy check: directory", "policy check @dir", &["cannot read policy", "is a directory"]);
    c.line("policy test: cases file is a directory", "policy test @ok.yaml @dir", &["cannot read cases", "is a directory"]);
    c.line("verify: --from is a directory", "verify --key @pub.pub --from @dir", &["cannot read references", "is a directory"]);
    c.line("verify-bundle: --bundle is a directory", "verify-bundle --bundle @dir --key @pub.pub @a.txt", &["cannot read bundle", "directory"]);
    c.line("verify-bundle: artifact is a directory", "verify-bundle --bundle @bundle.json --key @pub.pub @dir", &["cannot read artifact", "directory"]);
    c.line("keygen: prefix is a directory", "keygen --output-key-prefix @dir/ --password-file @wrong-password", &["cannot write", "is a directory"]);
    c.line("keygen: prefix in a missing directory", "keygen --output-key-prefix @absent-dir/release --password-file @wrong-password", &["cannot write", "absent-dir/release.key"]);
    c.line("verify: --key is /dev/zero", "verify --key /dev/zero alpine", &["/dev/zero", "malformed public key"]);
    c.line("key id: /dev/zero", "key id /dev/zero", &["/dev/zero", "malformed public key"]);
    c.line("sign: --password-file is /dev/zero", "sign --key @k.key --password-file /dev/zero alpine", &["/dev/zero", "larger than 64 KiB"]);
    c.line("policy check: /dev/zero", "policy check /dev/zero", &["cannot read policy /dev/zero", "larger than"]);

    // Passwords and keys that are not what they should be.
    c.line("sign: wrong password (file)", "sign --key @k.key --password-file @wrong-password oci:img", &["k.key", "wrong password"]);
    c.line("sign: wrong password (environment)", "sign --key @k.key oci:img", &["k.key", "wrong password"]).env("VOUCH_PASSWORD", "nope");
    c.line("key id: wrong password", "key id @k.key --password-file @wrong-password", &["k.key", "wrong password"]);
    c.line("sign: no password source", "sign --key @k.key oci:img", &["no password available"]);
    c.line("sign: password file not UTF-8", "sign --key @k.key --password-file @binary-password oci:img", &["binary-password", "not valid UTF-8"]);
    c.line("sign: private key readable by others", "sign --key @loose.key oci:img", &["loose.key", "accessible by group or others"]).env("VOUCH_PASSWORD", "x");
    c.line("sign: public key given as --key", "sign --key @pub.pub oci:img", &["pub.pub", "this is a public key", "pass the .key file"]).env("VOUCH_PASSWORD", "x");
    c.line("sign: 0600 public key given as --key", "sign --key @pub-0600.pub oci:img", &["pub-0600.pub", "this is a public key", "pass the .key file"]).env("VOUCH_PASSWORD", "x");
    c.line("sign: binary --key", "sign --key @binary oci:img", &["binary", "not a PEM file"]).env("VOUCH_PASSWORD", "x");
    c.line("verify: private key given as --key", "verify --key @k.key alpine", &["k.key", "this is a private key"]);
    c.line("verify: empty --key", "verify --key @empty alpine", &["empty", "malformed public key"]);
    c.line("verify: binary --key", "verify --key @binary alpine", &["binary", "malformed public key"]);
    c.line("verify: certificate as --key", "verify --key @cert.pem alpine", &["cert.pem", "unexpected PEM block \"CERTIFICATE\""]);
    c.line("verify: second --key is bad", "verify --key @pub.pub --key @cert.pem alpine", &["cert.pem", "CERTIFICATE"]);
    c.line("verify: P-521 private key as --key", "verify --key @p521-private.pem alpine", &["p521-private.pem"]);
    c.line("key id: empty file", "key id @empty", &["empty", "malformed public key"]);
    c.line("key id: certificate", "key id @cert.pem", &["cert.pem", "CERTIFICATE"]);
    c.line("verify-bundle: binary --key", "verify-bundle --bundle @bundle.json --key @binary @a.txt", &["binary", "malformed public key"]);
    c.line("verify-bundle: binary --trusted-root", "verify-bundle --bundle @bundle.json --key @pub.pub --trusted-root @binary @a.txt", &["invalid trusted root"]);
    c.line("verify-bundle: empty --trusted-root", "verify-bundle --bundle @bundle.json --key @pub.pub --trusted-root @empty @a.txt", &["invalid trusted root"]);
    // The bundle is the data being verified: unparsable means "not verified" (exit 1).
    c.line("verify-bundle: binary bundle", "verify-bundle --bundle @binary --key @pub.pub @a.txt", &["bundle verification failed", "invalid JSON"]).code(1);
    c.line("verify-bundle: empty bundle", "verify-bundle --bundle @empty --key @pub.pub @a.txt", &["bundle verification failed", "invalid JSON"]).code(1);
    c.line("--registry-cacert is not a certificate", "--registry-cacert @binary verify --key @pub.pub oci:img", &["binary", "holds no certificate"]);

    // Sigstore bundles as signatures (`verify --bundle`, `sign --format bundle`).
    c.line("verify --bundle: missing file", "verify --bundle @absent.json --key @pub.pub oci:img:v1", &["cannot read bundle", "absent.json"]);
    c.line("verify --bundle: directory", "verify --bundle @dir --key @pub.pub oci:img:v1", &["cannot read bundle", "directory"]);
    c.line("verify --bundle: tag reference needs the network", "verify --bundle @bundle.json --key @pub.pub alpine", &["--bundle", "by digest"]);
    c.clap("verify --bundle: with --from", "verify --bundle @bundle.json --from @refs.txt --key @pub.pub", &["cannot be used with"]);
    c.clap("sign: --format xml", "sign --format xml --key @k.key alpine", &["invalid value 'xml'"]);
    c.clap("sign: --output-bundle with --recursive", "sign --output-bundle @out.json --recursive --key @k.key alpine", &["cannot be used with"]);
    c.line("sign: --output-bundle is a directory", "sign --output-bundle @dir --key @k.key oci:img:v1", &["cannot write", "directory"]).env("VOUCH_PASSWORD", "vouch-example");
    c.line("sign: --output-bundle with two images", "sign --output-bundle @out.json --key @k.key oci:img:v1 alpine", &["--output-bundle", "exactly one image"]).env("VOUCH_PASSWORD", "vouch-example");

    // Policy and cases files.
    c.diag("policy check: empty file", "policy check @empty", &["empty:1:1: error[empty-document]"]);
    c.line("policy check: binary file", "policy check @binary", &["cannot read policy", "not UTF-8"]);
    c.line("policy check: UTF-16 file", "policy check @utf16.yaml", &["cannot read policy", "not UTF-8"]);
    c.line("policy check: larger than 4 MiB", "policy check @huge.yaml", &["cannot read policy", "larger than"]);
    c.diag("policy check: nested 200 deep", "policy check @deep.yaml", &["deep.yaml:2:", "error[too-deep]"]);
    c.diag("policy check: YAML syntax error", "policy check @syntax.yaml", &["syntax.yaml:3:1: error[yaml-syntax]"]);
    c.diag("policy check: top level is a list", "policy check @list.yaml", &["list.yaml:1:1: error[", "mapping"]);
    c.diag("policy check: anchors", "policy check @anchors.yaml", &["anchors.yaml:2:", "error["]);
    c.diag("policy check: tags", "policy check @tags.yaml", &["tags.yaml:1:", "error["]);
    c.diag("policy check: two documents", "policy check @multi.yaml", &["multi.yaml:", "error["]);
    c.diag("policy check: unknown field", "policy check @unknown-field.yaml", &["unknown-field.yaml:2:1: error[", "rulez"]);
    c.diag("policy check: version 2", "policy check @wrong-version.yaml", &["wrong-version.yaml:1:", "error["]);
    c.diag("policy check: key file missing", "policy check @missing-key.yaml", &["error[bad-key]", "absent.pub"]);
    c.diag("policy check: key file is a directory", "policy check @dir-key.yaml", &["error[bad-key]", "directory"]);
    c.diag("policy check: key file is a private key", "policy check @private-key.yaml", &["error[bad-key]", "private key"]);
    c.diag("verify --policy: empty file", "verify --policy @empty alpine", &["error[empty-document]"]);
    c.line("verify --policy: binary file", "verify --policy @binary alpine", &["cannot read policy", "not UTF-8"]);
    c.diag("policy test: cases syntax error", "policy test @ok.yaml @cases-syntax.yaml", &["cases-syntax.yaml:2:1: error[yaml-syntax]"]);
    c.line("policy test: binary cases file", "policy test @ok.yaml @binary", &["cannot read cases", "not UTF-8"]);
    c.diag("policy test: bad reference in a case", "policy test @ok.yaml @cases-bad-reference.yaml", &["error[bad-reference]", "UPPER/Case"]);

    // Conflicting flags.
    c.clap("verify: --policy with --key", "verify --policy @ok.yaml --key @pub.pub alpine", &["cannot be used with"]);
    c.clap("verify: --at without --policy", "verify --at 2026-01-01T00:00:00Z --key @pub.pub alpine", &["--at", "cannot be used with"]);
    c.clap("verify: --platform without --policy", "verify --platform linux/amd64 --key @pub.pub alpine", &["--platform", "cannot be used with"]);
    c.clap("verify: --all-platforms without --policy", "verify --all-platforms --key @pub.pub alpine", &["--all-platforms", "cannot be used with"]);
    c.clap("verify: --at alone", "verify --at 2026-01-01T00:00:00Z alpine", &["required arguments"]);
    c.clap("verify: --platform with --all-platforms", "verify --policy @ok.yaml --platform linux/amd64 --all-platforms alpine", &["cannot be used with"]);
    c.clap("verify: --policy with -a", "verify --policy @ok.yaml -a env=prod alpine", &["cannot be used with"]);
    c.clap("verify: --offline with --refresh", "verify --offline --refresh --key @pub.pub alpine", &["cannot be used with"]);
    c.clap("verify: --offline with --no-cache", "verify --offline --no-cache --key @pub.pub alpine", &["cannot be used with"]);
    c.clap("verify-bundle: --key with an identity", "verify-bundle --bundle @bundle.json --key @pub.pub --certificate-identity a@example.com --certificate-oidc-issuer https://issuer.example.com @a.txt", &["cannot be used with"]);
    c.clap("verify-bundle: identity without issuer", "verify-bundle --bundle @bundle.json --certificate-identity a@example.com @a.txt", &["required arguments"]);
    c.clap("verify-bundle: neither key nor identity", "verify-bundle --bundle @bundle.json @a.txt", &["required arguments"]);
    c.clap("client certificate without its key", "--registry-client-cert @cert.pem verify --key @pub.pub alpine", &["required arguments"]);
    c.clap("sign: --output twice", "sign --key @k.key --output json --output text alpine", &["cannot be used multiple times"]);

    // Unknown flags and commands, missing arguments.
    c.clap("verify: unknown flag", "verify --bogus --key @pub.pub alpine", &["unexpected argument '--bogus'"]);
    c.clap("unknown command", "frobnicate", &["unrecognized subcommand 'frobnicate'"]);
    c.clap("policy: unknown subcommand", "policy frob @ok.yaml", &["unrecognized subcommand 'frob'"]);
    c.clap("key: unknown subcommand", "key frob", &["unrecognized subcommand 'frob'"]);
    c.clap("verify: neither --key nor --policy", "verify alpine", &["required arguments"]);
    c.clap("verify: no image", "verify --key @pub.pub", &["required arguments"]);
    c.clap("sign: no --key", "sign alpine", &["required arguments"]);
    c.clap("policy check: no file", "policy check", &["required arguments"]);
    c.clap("login: no --password-stdin", "login registry.example.com -u ci", &["required arguments"]);
    c.line("login: empty standard input", "login registry.example.com -u ci --password-stdin", &["no password on standard input"]);
    c.line("keygen: existing key without --force", "keygen --output-key-prefix @k --password-file @wrong-password", &["k.key already exists", "--force"]);

    // Bad values.
    c.clap("verify: --output yaml", "verify --key @pub.pub --output yaml alpine", &["invalid value 'yaml'"]);
    c.clap("keygen: --output xml", "keygen --output xml", &["invalid value 'xml'"]);
    c.clap("keygen: --algorithm rsa", "keygen --algorithm rsa", &["invalid value 'rsa'"]);
    c.clap("verify: --jobs 0", "verify --jobs 0 --key @pub.pub alpine", &["invalid value '0'", "--jobs"]);
    c.clap("verify: --jobs many", "verify --jobs many --key @pub.pub alpine", &["invalid value 'many'"]);
    c.clap("--timeout soon", "--timeout soon verify --key @pub.pub alpine", &["invalid value 'soon'"]);
    c.clap("--retries negative", "--retries=-1 verify --key @pub.pub alpine", &["invalid value '-1'"]);
    c.line("verify: --at yesterday", "verify --policy @ok.yaml --at yesterday alpine", &["--at", "yesterday", "not an RFC 3339 timestamp"]);
    c.line("verify: --at month 13", "verify --policy @ok.yaml --at 2026-13-01T00:00:00Z alpine", &["--at", "month"]);
    c.line("verify: --at without a zone", "verify --policy @ok.yaml --at 2026-01-01T00:00:00 alpine", &["--at", "not an RFC 3339 timestamp"]);
    c.words("verify: --at with a space", &["verify", "--policy", "@ok.yaml", "--at", "2026-01-01 00:00:00Z", "alpine"], Shape::Line, &["--at", "not an RFC 3339 timestamp"]);
    c.line("verify: --platform without arch", "verify --policy @ok.yaml --platform linux alpine", &["--platform", "linux"]);
    c.line("verify: --platform empty arch", "verify --policy @ok.yaml --platform linux/ alpine", &["--platform", "linux/"]);
    c.line("verify: annotation without =", "verify --key @pub.pub -a novalue alpine", &["annotation \"novalue\" is not KEY=VALUE"]);
    c.line("verify: annotation with empty key", "verify --key @pub.pub -a =v alpine", &["annotation \"=v\" has an empty key"]);
    c.line("verify: annotation given twice", "verify --key @pub.pub -a a=1 -a a=2 alpine", &["annotation \"a\" given twice"]);
    c.line("sign: annotation without =", "sign --key @k.key -a novalue alpine", &["annotation \"novalue\" is not KEY=VALUE"]);
    c
}

#[test]
fn bad_command_lines_fail_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    fixtures(dir);
    let corpus = corpus(dir);
    let home = dir.join("home");
    std::fs::create_dir(&home).expect("mkdir home");

    let mut failures = Vec::new();
    let mut panics = 0;
    for case in &corpus.cases {
        let mut cmd = vouch();
        cmd.args(&case.args)
            .current_dir(dir)
            // A panic or an error printed with `{:?}` would show a backtrace: make it visible.
            .env("RUST_BACKTRACE", "1")
            .env("HOME", &home)
            .env("DOCKER_CONFIG", home.join(".docker"))
            .env("XDG_CACHE_HOME", home.join(".cache"));
        for (k, v) in &case.env {
            cmd.env(k, v);
        }
        let run = Run::of(&mut cmd);
        let all = run.all();
        let panicked = all.contains("panicked")
            || all.contains("RUST_BACKTRACE")
            || all.contains("stack backtrace");
        if panicked {
            panics += 1;
        }
        let first = run.stderr.lines().next().unwrap_or_default();
        let mut problems = Vec::new();
        if panicked {
            problems.push("panicked or printed a backtrace".to_string());
        }
        if run.code != case.code {
            problems.push(format!("exit code {} (expected {})", run.code, case.code));
        }
        if !run.stdout.is_empty() {
            problems.push("printed to stdout".to_string());
        }
        for needle in &case.first_line {
            if !first.contains(needle.as_str()) {
                problems.push(format!("first line lacks {needle:?}"));
            }
        }
        let lines = run.stderr.lines().count();
        match case.shape {
            Shape::Line => {
                if !first.starts_with("error: ") || lines != 1 {
                    problems.push(format!("expected one `error: ` line, got {lines} lines"));
                }
            }
            Shape::Clap => {
                if !first.starts_with("error: ") || lines > 10 {
                    problems.push(format!(
                        "expected clap's `error: ` and usage, got {lines} lines"
                    ));
                }
            }
            Shape::Diagnostics => {
                let last = run.stderr.lines().last().unwrap_or_default();
                if !first.contains(": error[") || !last.starts_with("error: ") {
                    problems.push("expected `file:line:col: error[code]` … `error: …`".to_string());
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  args: {:?}\n  --- stderr\n{}  --- stdout\n{}",
                case.name,
                problems.join("; "),
                case.args,
                run.stderr,
                run.stdout
            ));
        }
    }
    for reason in &corpus.skipped {
        println!("skipped: {reason}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases misbehaved:\n\n{}",
        failures.len(),
        corpus.cases.len(),
        failures.join("\n")
    );
    println!(
        "bad-input corpus: {} cases, {panics} panics",
        corpus.cases.len()
    );
}

/// Found with this corpus: `key id` read the file as text, so a DER public key (which
/// `verify --key` accepts) failed with "stream did not contain valid UTF-8".
#[test]
fn key_id_reads_der_public_keys() {
    use sha2::Digest as _;
    let der = vectors_dir()
        .join("sigstore-rs/examples/key_interface/key_pair_import/ECDSA_P256_ASN1_PUBLIC_DER.pub");
    let out = Run::of(vouch().args(["key", "id"]).arg(&der)).expect_code(0);
    // The file is the SPKI DER itself, so its hash is the key id.
    let bytes = std::fs::read(&der).expect("read DER key");
    assert_eq!(out.stdout.trim(), hex::encode(sha2::Sha256::digest(&bytes)));
}
