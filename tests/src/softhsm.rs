//! SoftHSM2 tokens for the PKCS#11 tests, each in its own temp dir, with keys made by OpenSC's
//! `pkcs11-tool` (or imported by `softhsm2-util`); and [`in_token_process`], which runs a test's
//! body in a child process whose `SOFTHSM2_CONF` points at that dir.
//!
//! The child is needed because SoftHSM2 reads `SOFTHSM2_CONF` once, when the module is
//! initialised in a process, and a running test cannot set its own environment without
//! `unsafe`. Fetched by `tests/peers/fetch-peers.sh` (Debian's `softhsm2` and `opensc`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The user PIN of every test token.
pub const USER_PIN: &str = "31415926";
/// The security officer PIN of every test token.
pub const SO_PIN: &str = "27182818";

/// How long a test's child process may run.
const CHILD_TIMEOUT: Duration = Duration::from_secs(180);

const CHILD_ENV: &str = "VOUCH_TEST_SOFTHSM_DIR";

/// A SoftHSM2 token directory with its configuration and a file holding [`USER_PIN`].
#[derive(Debug)]
pub struct SoftHsm {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// SoftHSM2's PKCS#11 module, fetching the peers first if it is missing.
pub fn module() -> PathBuf {
    let candidates = [
        PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
        PathBuf::from("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    ];
    let find = || candidates.iter().find(|p| p.is_file()).cloned();
    if let Some(found) = find() {
        return found;
    }
    crate::peers::peers();
    let script = crate::workspace_root().join("tests/peers/fetch-peers.sh");
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .expect("run fetch-peers.sh");
    assert!(status.success(), "{} failed", script.display());
    find().expect("fetch-peers.sh installed SoftHSM2, yet its module is missing")
}

impl SoftHsm {
    /// An empty token directory with its configuration (no token yet).
    pub fn new() -> Self {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().to_path_buf();
        std::fs::create_dir(dir.join("tokens")).expect("tokens dir");
        std::fs::write(
            dir.join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                dir.join("tokens").display()
            ),
        )
        .expect("write softhsm2.conf");
        std::fs::write(dir.join("pin"), format!("{USER_PIN}\n")).expect("write pin");
        SoftHsm {
            dir,
            _temp: Some(temp),
        }
    }

    /// The token directory a parent test process made (in the child).
    fn existing(dir: PathBuf) -> Self {
        SoftHsm { dir, _temp: None }
    }

    /// The directory (configuration, tokens, the PIN file).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `softhsm2.conf`.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("softhsm2.conf")
    }

    /// A file holding [`USER_PIN`] and a newline.
    pub fn pin_file(&self) -> PathBuf {
        self.dir.join("pin")
    }

    /// A tool run against this token directory.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SOFTHSM2_CONF", self.conf());
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("run {program}: {e} (tests/peers/fetch-peers.sh installs it)")
            });
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{program} {args:?} failed: {text}");
        text
    }

    /// Initialise a new token labelled `label` in the first free slot.
    pub fn init_token(&self, label: &str) {
        module();
        self.run(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                USER_PIN,
                "--so-pin",
                SO_PIN,
            ],
        );
    }

    /// Generate a key pair in the token with `pkcs11-tool`; `key_type` is its spelling, e.g.
    /// `EC:prime256v1` or `EC:edwards25519`; `id_hex` the CKA_ID in hex.
    pub fn keygen(&self, token: &str, key_type: &str, label: &str, id_hex: &str) {
        let module = module();
        self.run(
            "pkcs11-tool",
            &[
                "--module",
                &module.to_string_lossy(),
                "--token-label",
                token,
                "--login",
                "--pin",
                USER_PIN,
                "--keypairgen",
                "--key-type",
                key_type,
                "--label",
                label,
                "--id",
                id_hex,
            ],
        );
    }

    /// Import a PKCS#8 PEM private key (with its public key) with `softhsm2-util`.
    pub fn import(&self, token: &str, pkcs8_pem: &Path, label: &str, id_hex: &str) {
        self.run(
            "softhsm2-util",
            &[
                "--import",
                &pkcs8_pem.to_string_lossy(),
                "--token",
                token,
                "--label",
                label,
                "--id",
                id_hex,
                "--pin",
                USER_PIN,
            ],
        );
    }

    /// Run `pkcs11-tool` logged in to `token` with extra arguments.
    pub fn pkcs11_tool(&self, token: &str, args: &[&str]) -> String {
        let module = module();
        let mut all = vec![
            "--module",
            module.to_str().expect("module path is UTF-8"),
            "--token-label",
            token,
            "--login",
            "--pin",
            USER_PIN,
        ];
        all.extend_from_slice(args);
        self.run("pkcs11-tool", &all)
    }

    /// A URI for key `object` on `token`, with this module and `pin-source` this dir's PIN file.
    pub fn uri(&self, token: &str, object: &str) -> String {
        format!(
            "pkcs11:token={token};object={object}?module-path={}&pin-source={}",
            module().display(),
            self.pin_file().display()
        )
    }
}

impl Default for SoftHsm {
    fn default() -> Self {
        Self::new()
    }
}

/// Run `body` with a SoftHSM2 token directory prepared by `setup`, in a child process of this
/// test binary (`test` is the test's name as libtest lists it) whose `SOFTHSM2_CONF` points at
/// it. The child runs the same test, which calls this again and runs `body`; the parent checks
/// the child ran exactly that test and passed.
pub fn in_token_process(test: &str, setup: impl FnOnce(&SoftHsm), body: impl FnOnce(&SoftHsm)) {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        let hsm = SoftHsm::existing(PathBuf::from(dir));
        assert_eq!(
            std::env::var_os("SOFTHSM2_CONF").map(PathBuf::from),
            Some(hsm.conf()),
            "the child's SOFTHSM2_CONF points at its token dir"
        );
        body(&hsm);
        return;
    }
    let hsm = SoftHsm::new();
    setup(&hsm);
    let exe = std::env::current_exe().expect("current test binary");
    let mut child = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", hsm.conf())
        .env(CHILD_ENV, hsm.dir())
        .env_remove("VOUCH_PKCS11_PIN")
        .env_remove("COSIGN_PKCS11_PIN")
        .env_remove("VOUCH_PKCS11_MODULE_PATH")
        .env_remove("COSIGN_PKCS11_MODULE_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the test binary");
    // Drained while the child runs, so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{test}: the child test process ran longer than {CHILD_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(status.success(), "{test}: the child test process failed");
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test}: the child did not run exactly that test (is the name right?)"
    );
}
