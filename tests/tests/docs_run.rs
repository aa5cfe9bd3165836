//! Docs that run: every fenced `sh` block of README.md, docs/*.md and keys-example/README.md is
//! run with bash (`-e -o pipefail`), each in a temp dir of its own holding a copy of
//! `keys-example/` (private keys at mode 0600), with the vouch binary first on PATH, a time
//! limit, and its exit code checked. HTML comments directly above a block steer it:
//!
//! - `<!-- docs-test: skip (REASON) -->`: not run, and the reason is printed;
//! - `<!-- docs-test: setup COMMANDS -->`: run first, in the same shell (hidden from readers);
//! - `<!-- docs-test: exit N -->`: the exit code expected (0 otherwise).
//!
//! Synopses (`vouch verify IMAGE... [--flag]`) are fenced as `text`, not `sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vouch_e2e::{vouch_bin, workspace_root};

/// How long one block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(120);
const DIRECTIVE: &str = "<!-- docs-test:";

#[derive(Debug, Default)]
struct Block {
    file: String,
    line: usize,
    code: String,
    skip: Option<String>,
    setup: Vec<String>,
    exit: i32,
}

fn doc_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = vec![root.join("README.md"), root.join("keys-example/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The `sh` blocks of one file with their directives. A directive not directly above an `sh`
/// block, or one this runner does not know, is an error: a typo must not silently run a block.
fn blocks(path: &Path) -> Vec<Block> {
    let name = path
        .strip_prefix(workspace_root())
        .unwrap_or(path)
        .display()
        .to_string();
    let text = std::fs::read_to_string(path).expect("read doc");
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut pending = Block::default();
    let mut has_directive = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(rest) = line.strip_prefix(DIRECTIVE) {
            let body = rest
                .strip_suffix("-->")
                .unwrap_or_else(|| panic!("{name}:{}: directive not closed on its line", i + 1))
                .trim();
            if let Some(reason) = body.strip_prefix("skip") {
                let reason = reason.trim().trim_start_matches('(').trim_end_matches(')');
                assert!(!reason.is_empty(), "{name}:{}: skip needs a reason", i + 1);
                pending.skip = Some(reason.to_string());
            } else if let Some(commands) = body.strip_prefix("setup ") {
                pending.setup.push(commands.to_string());
            } else if let Some(code) = body.strip_prefix("exit ") {
                pending.exit = code.trim().parse().expect("exit code");
            } else {
                panic!("{name}:{}: unknown docs-test directive {body:?}", i + 1);
            }
            has_directive = true;
            i += 1;
            continue;
        }
        if line.starts_with("```") {
            let lang = line.trim_start_matches('`').trim();
            let start = i + 1;
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                code.push(lines[i]);
                i += 1;
            }
            if lang == "sh" || lang == "bash" {
                let mut block = std::mem::take(&mut pending);
                block.file = name.clone();
                block.line = start;
                block.code = code.join("\n");
                out.push(block);
            } else {
                assert!(
                    !has_directive,
                    "{name}:{start}: a docs-test directive above a {lang:?} block"
                );
                pending = Block::default();
            }
            has_directive = false;
        } else if has_directive && !line.is_empty() {
            panic!(
                "{name}:{}: a docs-test directive not directly above a block",
                i + 1
            );
        }
        i += 1;
    }
    assert!(
        !has_directive,
        "{name}: a docs-test directive at the end of the file"
    );
    out
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(
        status.success(),
        "cp -r {} {}",
        from.display(),
        to.display()
    );
}

/// Runs one block; the failure, if any, as a message.
fn run(block: &Block) -> Result<(), String> {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path();
    copy_dir(
        &workspace_root().join("keys-example"),
        &dir.join("keys-example"),
    );
    for key in ["release-ci.key", "security-team.key"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("keys-example").join(key),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
    }
    std::fs::create_dir(dir.join("home")).expect("home");
    let bin = vouch_bin().parent().expect("bin dir");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("{}\n{}\n", block.setup.join("\n"), block.code);
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new("bash")
            .args([
                "--noprofile",
                "--norc",
                "-e",
                "-o",
                "pipefail",
                "-c",
                &script,
            ])
            .current_dir(dir)
            .env("PATH", path)
            .env("HOME", dir.join("home"))
            .env("XDG_CACHE_HOME", dir.join("home/.cache"))
            .env_remove("VOUCH_PASSWORD")
            .env_remove("COSIGN_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn bash")
    };
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
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > BLOCK_TIMEOUT {
            // The whole process group: bash and whatever it started.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = format!(
        "{}{}",
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr")
    );
    match status {
        None => Err(format!("timed out after {BLOCK_TIMEOUT:?}\n{output}")),
        Some(status) if status.code() == Some(block.exit) => Ok(()),
        Some(status) => Err(format!(
            "exit {:?}, expected {}\n{output}",
            status.code(),
            block.exit
        )),
    }
}

#[test]
fn every_runnable_sh_block_in_the_docs_runs() {
    let mut ran = Vec::new();
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for file in doc_files() {
        for block in blocks(&file) {
            let at = format!("{}:{}", block.file, block.line);
            if let Some(reason) = &block.skip {
                println!("SKIP {at}: {reason}");
                skipped.push(at);
                continue;
            }
            match run(&block) {
                Ok(()) => {
                    println!("RAN  {at}");
                    ran.push(at);
                }
                Err(why) => {
                    println!("FAIL {at}: {why}");
                    failures.push(format!("{at}: {why}"));
                }
            }
        }
    }
    println!("docs: {} blocks ran, {} skipped", ran.len(), skipped.len());
    assert!(
        failures.is_empty(),
        "doc blocks failed:\n{}",
        failures.join("\n\n")
    );
    assert!(
        ran.len() >= 2,
        "the README and keys-example blocks run: {ran:?}"
    );
}

#[test]
fn directives_are_read_as_documented() {
    let temp = tempfile::tempdir().expect("tempdir");
    let doc = temp.path().join("doc.md");
    std::fs::write(
        &doc,
        "text\n\n<!-- docs-test: skip (no server here) -->\n```sh\nvouch sign x\n```\n\n\
         <!-- docs-test: setup export A=1 -->\n<!-- docs-test: exit 3 -->\n```sh\nexit $((A + 2))\n```\n\
         ```text\nvouch verify IMAGE...\n```\n",
    )
    .expect("write");
    let found = blocks(&doc);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].skip.as_deref(), Some("no server here"));
    assert_eq!(found[0].line, 4);
    assert_eq!((found[1].exit, found[1].setup.len()), (3, 1));
    run(&found[1]).expect("setup runs first, exit code as declared");
    let wrong = Block {
        code: "exit 4".into(),
        ..Block::default()
    };
    assert!(run(&wrong).is_err(), "a wrong exit code fails");
}

#[test]
fn a_misplaced_or_misspelt_directive_is_an_error() {
    let temp = tempfile::tempdir().expect("tempdir");
    for text in [
        "<!-- docs-test: skp (typo) -->\n```sh\ntrue\n```\n",
        "<!-- docs-test: skip (far) -->\n\nsome text\n```sh\ntrue\n```\n",
        "<!-- docs-test: skip (json) -->\n```json\n{}\n```\n",
        "<!-- docs-test: skip -->\n```sh\ntrue\n```\n",
    ] {
        let doc = temp.path().join("doc.md");
        std::fs::write(&doc, text).expect("write");
        let result = std::panic::catch_unwind(|| blocks(&doc));
        assert!(result.is_err(), "accepted: {text}");
    }
}
