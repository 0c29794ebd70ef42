//! The kubectl module's option table against the installed kubectl: every
//! option of every command the module reads is declared, with the kind the client
//! gives it (`tools/kubectl-syntax.py --check --probe`: the help text, then kubectl run
//! on each value option). A kubectl release that adds an option fails here until the
//! option is classified in the script and the module regenerated.
//!
//! Without kubectl the test is skipped with a message, except under `CI=true`, where a
//! missing kubectl fails it (CI's machines have the reference, kubectl 1.32.4).
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
        .arg(support::root().join("tools/kubectl-syntax.py"))
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
        &[
            ("python3", &["--version"]),
            ("kubectl", &["version", "--client"]),
        ],
        "the kubectl option table",
    ) {
        return;
    }
    let output = check(&support::root().join("modules/kubectl.toml"), true);
    assert!(
        output.status.success(),
        "the installed kubectl disagrees with modules/kubectl.toml:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_option_the_module_lacks_fails_the_check() {
    if !support::tools_present(
        &[
            ("python3", &["--version"]),
            ("kubectl", &["version", "--client"]),
        ],
        "the kubectl option table",
    ) {
        return;
    }
    let text = std::fs::read_to_string(support::root().join("modules/kubectl.toml")).unwrap();
    // `get --no-headers`, taken out of the generated table.
    let start = text.find("[syntax.commands.\"get\"]").unwrap();
    let at = start + text[start..].find(" \"--no-headers\",").unwrap();
    let mut changed = text.clone();
    changed.replace_range(at..at + " \"--no-headers\",".len(), "");
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("kubectl.toml");
    std::fs::write(&module, changed).unwrap();
    let output = check(&module, false);
    assert!(
        !output.status.success(),
        "the check passed without `get --no-headers`"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--no-headers"), "{stderr}");
    // And the module without that option really refuses it (fails closed).
    let base =
        airlock_policy::Module::compile("kubectl.toml", &std::fs::read_to_string(&module).unwrap())
            .unwrap();
    assert!(!base.check(&["get", "pods", "--no-headers"]).is_allowed());
    assert!(base.check(&["get", "pods", "--show-labels"]).is_allowed());
}
