//! The git module against the installed git's own option tables:
//! `tools/git-options.py check` reads `git CMD --help-all` (parse-options prints every
//! option it accepts, hidden ones included) for every subcommand the module allows, and
//! the diff options from `git diff --no-index --help-all`, and fails when git has an
//! option the module does not declare, or declares with another kind (flag, value,
//! value only when attached). A git release that adds an option fails here until it is
//! classified (in the script) and the module regenerated (`git-options.py write`).
//!
//! Without git (or python3) the test fails under `CI=true` and is skipped, loudly,
//! elsewhere (CI's reference is git 2.47.3; modules/git.md, "Versions").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

use std::path::Path;
use std::process::Command;

mod support;

fn check(module: &Path) -> std::process::Output {
    Command::new("python3")
        .arg(support::root().join("tools/git-options.py"))
        .arg("check")
        .env("AIRLOCK_GIT_MODULE", module)
        .output()
        .expect("python3 runs")
}

/// How many options the check says it compared (`compared N options`).
fn compared(stderr: &str) -> usize {
    let words: Vec<&str> = stderr.split_whitespace().collect();
    words
        .windows(3)
        .find_map(|w| match w {
            ["compared", n, "options"] => n.parse().ok(),
            _ => None,
        })
        .unwrap_or(0)
}

#[test]
fn the_module_declares_every_option_of_the_installed_git() {
    if !support::tools_present(
        &[("python3", &["--version"]), ("git", &["--version"])],
        "the git option table",
    ) {
        return;
    }
    let version = Command::new("git").arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).to_string();
    let release = version
        .trim()
        .strip_prefix("git version ")
        .unwrap_or_default()
        .to_owned();
    let module = airlock_builtins::compile("git").unwrap().unwrap();
    if !module
        .versions()
        .iter()
        .any(|v| release.starts_with(&format!("{v}.")) || release == *v)
    {
        eprintln!(
            "WARNING: installed git {release} is outside the versions the module was checked against ({:?})",
            module.versions()
        );
    }
    let output = check(&support::root().join("modules/git.toml"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "git {release} and modules/git.toml disagree:\n{}{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    // The check looked at something: every allowed subcommand's table.
    let n = compared(&stderr);
    assert!(n >= 2000, "only {n} options compared: {stderr}");
}

#[test]
fn an_option_the_module_lacks_fails_the_check_and_is_refused() {
    if !support::tools_present(
        &[("python3", &["--version"]), ("git", &["--version"])],
        "the git option table",
    ) {
        return;
    }
    let text = std::fs::read_to_string(support::root().join("modules/git.toml")).unwrap();
    // `commit --dry-run`, taken out of the generated table.
    let start = text.find("[syntax.commands.\"commit\"]").unwrap();
    let at = start + text[start..].find(" \"--dry-run\",").unwrap();
    let mut changed = text.clone();
    changed.replace_range(at..at + " \"--dry-run\",".len(), "");
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("git.toml");
    std::fs::write(&module, &changed).unwrap();
    let output = check(&module);
    assert!(
        !output.status.success(),
        "the check passed without `commit --dry-run`"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("git commit: `--dry-run`"), "{stdout}");
    // And the module without it refuses it (fails closed), abbreviated too.
    let base = airlock_policy::Module::compile("git.toml", &changed).unwrap();
    assert!(!base.check(&["commit", "--dry-run"]).is_allowed());
    assert!(!base.check(&["commit", "--dry-r"]).is_allowed());
    assert!(
        base.check(&["commit", "--no-dry-run", "-m", "x"])
            .is_allowed()
    );
    let full = airlock_builtins::compile("git").unwrap().unwrap();
    assert!(full.check(&["commit", "--dry-run"]).is_allowed());
}

/// The extension modules/git.md shows: it enables a subcommand the built-in leaves
/// out, and cannot lift what a deny rule refuses.
#[test]
fn the_documented_extension_enables_gc_and_nothing_denied() {
    let builtin = airlock_builtins::compile("git").unwrap().unwrap();
    let notes = airlock_builtins::get("git").unwrap().notes;
    let text = "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n\n[[rule]]\nid = \"agent.gc\"\naction = \"allow\"\ncommand = \"gc\"\nreason = \"this agent tidies its repository\"\n";
    assert!(
        notes.contains("command = \"gc\""),
        "the note shows this extension"
    );
    let module = airlock_policy::Module::compile_extending(&builtin, "commands/git.toml", text)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!builtin.check(&["gc"]).is_allowed());
    assert!(module.check(&["gc"]).is_allowed());
    // The built-in reads gc's options (an undeclared one is still refused).
    assert!(module.check(&["gc", "--auto"]).is_allowed());
    assert!(!module.check(&["gc", "--frobnicate"]).is_allowed());
    for denied in [
        &["-c", "core.fsmonitor=x", "gc"][..],
        &["maintenance", "start"],
        &["var", "-l"],
        &["rebase", "-x", "make", "HEAD~1"],
        &["fetch", "--upload-pack=x", "origin"],
    ] {
        assert!(!module.check(denied).is_allowed(), "{denied:?}");
    }
}

/// The issue's examples (#16), refused with the reason that says how to allow a
/// subcommand deliberately, or by the rule that names the danger.
#[test]
fn other_subcommands_are_refused_with_the_way_to_enable_them() {
    let git = airlock_builtins::compile("git").unwrap().unwrap();
    for argv in [
        &["for-each-repo"][..],
        &["submodule--helper", "foreach", "x"],
        &["remote-ext", "origin", "cmd"],
        &["maintenance", "start"],
        &["var"],
    ] {
        let decision = git.check(argv);
        assert!(!decision.is_allowed(), "{argv:?}");
        assert!(
            decision.reason().contains("extends = \"builtin:git\""),
            "{argv:?}: {decision}"
        );
    }
    // With options git's table for them is not the module's: refused as unreadable.
    let with_options = git.check(&[
        "for-each-repo",
        "--config=maintenance.repo",
        "--",
        "-c",
        "core.fsmonitor=x",
        "status",
    ]);
    assert!(!with_options.is_allowed());
    assert!(!git.check(&["var", "-l"]).is_allowed());
    let strategy = git.check(&["rebase", "-s", "x/evil", "main"]);
    assert_eq!(
        strategy.rule().map(|r| r.id()),
        Some("git.strategy-path"),
        "{strategy}"
    );
    let quickstart = git.check(&["-c", "core.fsmonitor=evil", "status"]);
    assert_eq!(
        quickstart.rule().map(|r| r.id()),
        Some("git.config-injection")
    );
    let upload = git.check(&["fetch", "--upload-pac=evil", "origin"]);
    assert_eq!(upload.rule().map(|r| r.id()), Some("git.upload-pack"));
}
