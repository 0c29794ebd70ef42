//! `git_location_args` against the real git: every option git.toml declares in
//! `[syntax.global]` is read by the location function the way git reads it, so the
//! daemon's repository checks look at the repository git will use.
//!
//! The probe: `git OPTION... -C nowhere status` in an empty directory. When git reads
//! `-C nowhere` as a global option it stops with "cannot change to 'nowhere'"; when it
//! does not (the option takes it as a value, or git stops earlier) it says something
//! else. Observed with git 2.47.3 on this machine; the test runs the installed git, so
//! it re-checks these facts on every run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test"
)]

use std::path::Path;
use std::process::Command;

use airlock_builtins::git_location_args;

/// Runs the real git in `dir` with a clean environment; returns stdout and stderr.
fn git(dir: &Path, args: &[String]) -> (String, String) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PAGER", "cat")
        .output()
        .expect("git is installed");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// The names declared in `[syntax.global]` under `kind` (`values`, `optional`,
/// `flags`), every alias.
fn declared(kind: &str) -> Vec<String> {
    let module: toml::Value = toml::from_str(airlock_builtins::get("git").unwrap().source).unwrap();
    module["syntax"]["global"]
        .get(kind)
        .and_then(toml::Value::as_array)
        .map(|list| {
            list.iter()
                .flat_map(|spec| spec.as_str().unwrap().split('|'))
                .map(|name| name.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A value git accepts for a global value option (so that it goes on to read `-C`).
fn sample(name: &str) -> &'static str {
    match name {
        "-c" => "x.y=z",
        "-C" => ".",
        "--config-env" => "a.b=HOME",
        "--attr-source" => "HEAD",
        "--list-cmds" => "main",
        _ => "x",
    }
}

/// What the location function picks for the option itself, written with `value`.
fn own_location(name: &str, value: Option<&str>) -> Vec<String> {
    match (name, value) {
        ("-C", Some(v)) => strings(&["-C", v]),
        ("--bare", _) => strings(&["--bare"]),
        ("--git-dir" | "--work-tree" | "--namespace", Some(v)) => vec![format!("{name}={v}")],
        _ => Vec::new(),
    }
}

/// Spellings after which git 2.47 never reads a following `-C` as a global option:
/// it prints something and exits (`--exec-path` without a value, `--html-path`,
/// `--man-path`, `--info-path`, `--list-cmds=`), refuses the option (`--super-prefix`,
/// `--list-cmds` without `=`), or turns it into a command whose own options follow
/// (`-v`/`--version` run `git version`, `-h`/`--help` run `git help`). The location
/// function still reports `-C nowhere` after them: harmless, git runs no subcommand
/// there, and erring towards checking one more directory is the fail-safe side.
fn git_stops_before_c(spelling: &[String]) -> bool {
    let first = spelling[0].as_str();
    matches!(
        first,
        "--exec-path"
            | "--html-path"
            | "--man-path"
            | "--info-path"
            | "--super-prefix"
            | "--list-cmds"
            | "-v"
            | "--version"
            | "-h"
            | "--help"
    ) || first.starts_with("--list-cmds=")
        || first.starts_with("--super-prefix=")
}

#[test]
fn every_declared_global_option_is_read_like_git_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for name in declared("values") {
        let value = sample(&name);
        cases.push((strings(&[&name, value]), own_location(&name, Some(value))));
        if name.starts_with("--") {
            cases.push((
                vec![format!("{name}={value}")],
                own_location(&name, Some(value)),
            ));
        }
    }
    for name in declared("optional") {
        cases.push((strings(&[&name]), own_location(&name, None)));
        cases.push((
            vec![format!("{name}={}", sample(&name))],
            own_location(&name, Some(sample(&name))),
        ));
    }
    for name in declared("flags") {
        cases.push((strings(&[&name]), own_location(&name, None)));
    }
    assert!(
        cases.len() > 30,
        "git.toml declares fewer global options than expected"
    );

    let mut failures = Vec::new();
    for (spelling, own) in &cases {
        let mut argv = spelling.clone();
        argv.extend(strings(&["-C", "nowhere", "status"]));
        let mut expected = own.clone();
        expected.extend(strings(&["-C", "nowhere"]));
        match git_location_args(&argv) {
            Ok(location) if location == expected => {}
            other => failures.push(format!("{argv:?}: expected {expected:?}, got {other:?}")),
        }
        let (_, stderr) = git(dir.path(), &argv);
        let git_read_c = stderr.contains("cannot change to 'nowhere'");
        if git_read_c == git_stops_before_c(spelling) {
            failures.push(format!(
                "{argv:?}: git read -C nowhere: {git_read_c}, expected {}; git said {stderr:?}",
                !git_stops_before_c(spelling)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_repository_git_uses_is_the_one_reported() {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path();
    let run = |args: &[&str]| git(repo, &strings(args));
    run(&["init", "-q"]);
    run(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@e",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    ]);
    std::fs::create_dir_all(repo.join("sub/inner")).unwrap();
    run(&["-C", "sub/inner", "init", "-q"]);

    // `--attr-source` takes a value: `-C sub` after it is global (git prints `sub/`).
    let argv = [
        "--attr-source",
        "HEAD",
        "-C",
        "sub",
        "rev-parse",
        "--show-prefix",
    ];
    assert_eq!(run(&argv).0.trim(), "sub/");
    assert_eq!(git_location_args(&argv).unwrap(), strings(&["-C", "sub"]));

    // `-c` takes a value, separate or attached with `=`... only separate for git.
    let argv = ["-c", "x.y=z", "-C", "sub", "rev-parse", "--show-prefix"];
    assert_eq!(run(&argv).0.trim(), "sub/");
    assert_eq!(git_location_args(&argv).unwrap(), strings(&["-C", "sub"]));

    // Every `-C`, in order: git works in sub/inner, a repository of its own.
    let argv = [
        "-p",
        "-C",
        "sub",
        "-C",
        "inner",
        "rev-parse",
        "--show-toplevel",
    ];
    let top = run(&argv).0;
    assert!(top.trim().ends_with("sub/inner"), "{top}");
    assert_eq!(
        git_location_args(&argv).unwrap(),
        strings(&["-C", "sub", "-C", "inner"])
    );

    // A relative `--git-dir` is resolved after every `-C`, wherever it was written.
    let argv = [
        "--git-dir=inner/.git",
        "-C",
        "sub",
        "rev-parse",
        "--absolute-git-dir",
    ];
    let gitdir = run(&argv).0;
    assert!(gitdir.trim().ends_with("sub/inner/.git"), "{gitdir}");
    assert_eq!(
        git_location_args(&argv).unwrap(),
        strings(&["--git-dir=inner/.git", "-C", "sub"])
    );

    // `--list-cmds=x` stops git before it reads `-C`; reporting `-C sub` anyway is the
    // harmless side (git runs nothing).
    let argv = ["--list-cmds=x", "-C", "sub", "status"];
    let (_, stderr) = run(&argv);
    assert!(
        stderr.contains("unsupported command listing type"),
        "{stderr}"
    );
    assert_eq!(git_location_args(&argv).unwrap(), strings(&["-C", "sub"]));

    // After the subcommand, `-C` is the subcommand's business (commit's
    // --reuse-message), not a location; where the subcommand has no `-C` the argv is
    // unreadable (the module declares every option it reads).
    let argv = ["commit", "-C", "sub"];
    assert!(git_location_args(&argv).unwrap().is_empty());
    assert!(git_location_args(&["status", "-C", "sub"]).is_err());
}
