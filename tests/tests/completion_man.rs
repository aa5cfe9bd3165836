//! `vouch completion` and `vouch man`: bash loads the completion script and completes a
//! subcommand; every other shell's script names the commands; the man pages render with
//! `man -l` (or, without `man`, are roff with the commands' flags in them).

use std::process::Command;

use vouch_e2e::{Run, vouch};

#[test]
fn bash_completion_loads_and_completes_a_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("vouch.bash");
    let out = Run::of(vouch().args(["completion", "bash"])).expect_code(0);
    std::fs::write(&script, &out.stdout).expect("write script");
    // What bash sets before calling a completion function for `vouch veri<TAB>`.
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let body = format!(
            "set -e; source {script}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             COMP_LINE='{line}'; COMP_POINT={point}; _vouch vouch '{cur}' '{prev}'; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script = script.display(),
            words = words.join(" "),
            cword = words.len() - 1,
            point = line.len(),
            cur = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        Run::of(Command::new("bash").arg("-c").arg(body)).expect_code(0)
    };
    let run = complete("vouch veri");
    let offered: Vec<&str> = run.stdout.lines().collect();
    assert!(offered.contains(&"verify"), "{run:?}");
    assert!(offered.contains(&"verify-bundle"), "{run:?}");
    assert!(!offered.contains(&"sign"), "{run:?}");
    // Flags of a subcommand.
    let run = complete("vouch sign --ke");
    assert!(run.stdout.lines().any(|l| l == "--key"), "{run:?}");
}

#[test]
fn every_shell_gets_a_script_naming_the_commands() {
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let run = Run::of(vouch().args(["completion", shell])).expect_code(0);
        for command in ["verify", "sign", "keygen", "policy"] {
            assert!(run.stdout.contains(command), "{shell}: no {command}");
        }
    }
    let run = Run::of(vouch().args(["completion", "tcsh"])).expect_code(2);
    assert!(run.stderr.contains("bash"), "{run:?}");
}

#[test]
fn man_pages_render_one_per_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = Run::of(
        vouch()
            .args(["man", "--output-dir"])
            .arg(dir.path().join("man1")),
    )
    .expect_code(0);
    for page in [
        "vouch.1",
        "vouch-sign.1",
        "vouch-verify.1",
        "vouch-key-id.1",
    ] {
        assert!(run.stdout.contains(page), "{page} missing: {run:?}");
    }
    let verify = dir.path().join("man1/vouch-verify.1");
    let roff = std::fs::read_to_string(&verify).expect("read page");
    assert!(roff.starts_with(".ie") || roff.contains(".TH"), "not roff");
    assert!(roff.contains("policy"), "no --policy in the page");

    let top = Run::of(vouch().arg("man")).expect_code(0);
    assert!(top.stdout.contains(".TH vouch 1"), "{}", top.stdout);

    let has_man = Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_man {
        let rendered = Run::of(
            Command::new("man")
                .arg("-l")
                .arg(&verify)
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "100"),
        )
        .expect_code(0);
        assert!(rendered.stdout.contains("vouch-verify"), "{rendered:?}");
        assert!(rendered.stdout.contains("--policy"), "{rendered:?}");
    }
}
