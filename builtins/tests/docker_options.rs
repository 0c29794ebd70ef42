//! The docker module's option table against the installed docker client: every
//! option of every command the module reads is declared, with the kind the client
//! gives it (`tools/docker-syntax.py --check --probe`: the help text, then the client
//! run on each option). A client release that adds an option fails here until the
//! option is classified in the script and the module regenerated.
//!
//! Without docker the test is skipped with a message, except under `CI=true`, where a
//! missing client fails it (CI's machines have the reference client, 28.2.2).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

use std::path::Path;
use std::process::Command;

mod support;

fn check(module: &Path, probe: bool) -> std::process::Output {
    let mut command = Command::new("python3");
    command
        .arg(support::root().join("tools/docker-syntax.py"))
        .arg("--check")
        .arg(module);
    if probe {
        command.arg("--probe");
    }
    command.output().expect("python3 runs")
}

#[test]
fn the_module_declares_every_option_of_the_installed_client() {
    if !support::tools_present(
        &[("python3", &["--version"]), ("docker", &["--version"])],
        "the docker option table",
    ) {
        return;
    }
    let output = check(&support::root().join("modules/docker.toml"), true);
    assert!(
        output.status.success(),
        "the installed docker disagrees with modules/docker.toml:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_option_the_module_lacks_fails_the_check() {
    if !support::tools_present(
        &[("python3", &["--version"]), ("docker", &["--version"])],
        "the docker option table",
    ) {
        return;
    }
    let text = std::fs::read_to_string(support::root().join("modules/docker.toml")).unwrap();
    // `ps --no-trunc`, taken out of the generated table.
    let start = text.find("[syntax.commands.\"ps\"]").unwrap();
    let at = start + text[start..].find(" \"--no-trunc\",").unwrap();
    let mut changed = text.clone();
    changed.replace_range(at..at + " \"--no-trunc\",".len(), "");
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("docker.toml");
    std::fs::write(&module, changed).unwrap();
    let output = check(&module, false);
    assert!(
        !output.status.success(),
        "the check passed without `ps --no-trunc`"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--no-trunc"), "{stderr}");
    // And the module without that option really refuses it (fails closed).
    let base =
        airlock_policy::Module::compile("docker.toml", &std::fs::read_to_string(&module).unwrap())
            .unwrap();
    assert!(!base.check(&["ps", "--no-trunc"]).is_allowed());
    assert!(base.check(&["container", "ls", "--no-trunc"]).is_allowed());
}
