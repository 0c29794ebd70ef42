//! The git module's environment against a real repository whose `.git/config` the
//! agent has planted, with the real git: the overrides neutralize what they claim to,
//! and the configuration check reports what they cannot.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, env: &BTreeMap<String, String>, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .output()
        .expect("git is installed")
}

fn base_env(home: &Path) -> BTreeMap<String, String> {
    [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", home.to_str().unwrap()),
        ("GIT_AUTHOR_NAME", "t"),
        ("GIT_AUTHOR_EMAIL", "t@example.com"),
        ("GIT_COMMITTER_NAME", "t"),
        ("GIT_COMMITTER_EMAIL", "t@example.com"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn planted_repository_config_runs_nothing_and_is_reported() {
    let home = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    let marker = |n: u32| dir.join(format!("pwned{n}"));
    let plain = base_env(home.path());
    assert!(git(dir, &plain, &["init", "-q"]).status.success());
    std::fs::create_dir_all(dir.join("evil-hooks")).unwrap();
    let hook = dir.join("evil-hooks/pre-commit");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch {}\n", marker(2).display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(".git/config"))
        .unwrap();
    use std::io::Write;
    writeln!(
        config,
        "[core]\n\tfsmonitor = \"touch {}; false\"\n\thooksPath = evil-hooks\n\tpager = \"touch {}; cat\"\n[alias]\n\tx = \"!touch {}\"",
        marker(1).display(),
        marker(3).display(),
        marker(4).display()
    )
    .unwrap();

    // Control: without the module's environment the plant works.
    git(dir, &plain, &["status"]);
    assert!(
        marker(1).exists(),
        "the planted fsmonitor should run without hardening"
    );
    std::fs::remove_file(marker(1)).unwrap();

    let module = airlock_builtins::compile("git").unwrap().unwrap();
    let mut hardened = plain.clone();
    for key in &module.env().strip {
        hardened.remove(key);
    }
    hardened.extend(module.env().set.clone());

    assert!(git(dir, &hardened, &["status"]).status.success());
    assert!(
        git(
            dir,
            &hardened,
            &["commit", "-q", "--allow-empty", "-m", "x"]
        )
        .status
        .success()
    );
    git(dir, &hardened, &["-p", "log", "-1"]);
    assert!(
        !marker(1).exists(),
        "core.fsmonitor ran under the module's environment"
    );
    assert!(
        !marker(2).exists(),
        "a planted hook ran under the module's environment"
    );
    assert!(
        !marker(3).exists(),
        "core.pager ran under the module's environment"
    );

    // What the environment cannot neutralize (aliases, filters, includes...) the
    // configuration check reports, so the daemon refuses to run git there.
    let listed = git(
        dir,
        &hardened,
        &["config", "--list", "--show-scope", "--null"],
    );
    assert!(listed.status.success());
    let risks = airlock_builtins::git_config_risks(&String::from_utf8_lossy(&listed.stdout));
    let keys: Vec<String> = risks.iter().map(|r| r.key.to_ascii_lowercase()).collect();
    for expected in ["core.fsmonitor", "core.hookspath", "core.pager", "alias.x"] {
        assert!(
            keys.contains(&expected.to_owned()),
            "{expected} not reported: {keys:?}"
        );
    }
    assert!(risks.iter().all(|r| r.scope == "local"));
}
