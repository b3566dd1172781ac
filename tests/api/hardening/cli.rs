//! The command line and a closed pipe: `accord keys create | head -1` and `accord list | head -1`
//! end quietly, and `keys create` prints the key alone on standard output.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::helpers::repo;

fn accord(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_accord"));
    environment(&mut command, dir);
    command
}

/// The environment `accord` runs with here: a SQLite database in `dir`, the repository's files.
fn environment(command: &mut Command, dir: &Path) {
    command
        .current_dir(dir)
        .env("ACCORD_DATA_DIR", dir.join("data"))
        .env("ACCORD_WORKFLOWS_DIR", repo().join("workflows"))
        .env("ACCORD_TEMPLATES_DIR", repo().join("templates"))
        .env("ACCORD_PARTIES", "{reviewers=\"reviewers@contoso.example\"}")
        .env_remove("ACCORD_DATABASE_URL")
        .env_remove("ACCORD_CONFIG");
}

/// Runs `args` with standard output closed before the command writes to it.
fn with_stdout_closed(dir: &Path, args: &[&str]) -> Output {
    let mut child = accord(dir).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn commands_whose_reader_went_away_end_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let input = serde_json::to_string(&crate::helpers::signup_input()).unwrap();
    for _ in 0..3 {
        let started = accord(dir.path()).args(["start", "example_signup", "--input", &input]).output().unwrap();
        assert!(started.status.success(), "{}", text(&started.stderr));
    }
    for args in [
        &["keys", "create", "--scope", "admin"][..],
        &["list"],
        &["--json", "list"],
        &["check"],
        &["--json", "keys", "create", "--scope", "pipeline"],
    ] {
        let out = with_stdout_closed(dir.path(), args);
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "accord {args:?}:\n{stderr}");
        assert_eq!(out.status.code(), Some(0), "accord {args:?} ends quietly:\n{stderr}");
    }

    // Through a shell pipeline, as a person types it; with pipefail, accord's status counts too.
    for pipeline in ["keys create --scope admin | head -1", "list | head -1"] {
        let mut bash = Command::new("bash");
        environment(&mut bash, dir.path());
        let script = format!("set -o pipefail; '{}' {pipeline}", env!("CARGO_BIN_EXE_accord"));
        let out = bash.arg("-c").arg(script).output().unwrap();
        assert!(out.status.success(), "{pipeline}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("panicked"), "{pipeline}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).lines().count(), 1, "{pipeline}");
    }
}

#[test]
fn keys_create_prints_the_key_alone_and_its_note_on_standard_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = accord(dir.path()).args(["keys", "create", "--scope", "reviewer", "--label", "giulia"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let key = stdout.strip_suffix('\n').unwrap_or(&stdout);
    assert!(key.starts_with("acc_") && !key.contains(char::is_whitespace), "the key alone: {stdout:?}");
    assert!(text(&out.stderr).contains("shown once"), "{}", text(&out.stderr));
}
