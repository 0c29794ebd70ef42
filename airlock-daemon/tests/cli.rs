//! The admin command line, run as the real binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn daemon() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airlock-daemon"))
}

fn run(args: &[&str]) -> Output {
    daemon().args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const GIT_MODULE: &str = r#"[command]
bin = "git"
[syntax]
style = "gnu"
abbreviate = true
[syntax.commands.clone]
values = ["-u|--upload-pack", "-c|--config"]
[[rule]]
id = "git.upload-pack"
action = "deny"
args = "--upload-pack"
reason = "runs a command on the host"
"#;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn explain_exit_codes_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("git.toml");
    write(&module, GIT_MODULE);
    let m = module.to_str().unwrap();

    let denied = run(&[
        "explain",
        "--module",
        m,
        "--",
        "git",
        "clone",
        "--upload-pac=evil",
        "repo",
    ]);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied.stderr));
    let out = text(&denied.stdout);
    assert!(out.starts_with("deny: runs a command on the host"), "{out}");
    assert!(out.contains("git.upload-pack"), "{out}");
    assert!(
        out.contains("read as: git clone --upload-pack=evil repo"),
        "{out}"
    );
    assert!(out.contains("git.toml:8:1"), "{out}");
    assert!(out.contains("^^^"), "{out}");

    let allowed = run(&["explain", "--module", m, "--", "git", "status"]);
    assert_eq!(allowed.status.code(), Some(0));
    assert!(text(&allowed.stdout).starts_with("allow: "));

    let unknown = run(&["explain", "--module", m, "--", "rm", "-rf", "/"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stdout).contains("unknown command"));

    let nothing = run(&["explain", "--module", m]);
    assert_eq!(nothing.status.code(), Some(2));

    let bad = dir.path().join("bad.toml");
    write(
        &bad,
        "[command]\nbin = \"git\"\n[deny]\nargs = [\"a & \"]\n",
    );
    let broken = run(&["explain", "--module", bad.to_str().unwrap(), "--", "git"]);
    assert_eq!(broken.status.code(), Some(2));
    let err = text(&broken.stderr);
    assert!(err.contains("bad.toml:4:"), "{err}");
}

#[test]
fn explain_batch_answers_each_line() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("git.toml");
    write(&module, GIT_MODULE);
    let mut child = daemon()
        .args(["explain", "--batch", "--module", module.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"command\":\"git\",\"args\":[\"fetch\",\"--upload-pack=x\"]}\n{oops\n{\"command\":\"git\",\"args\":[\"log\"]}\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    // One line was not a request: every line is answered, and the exit says so.
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("1 of 3 lines"),
        "{}",
        text(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["decision"], "deny");
    assert_eq!(lines[0]["rule"], "git.upload-pack");
    assert!(lines[1]["error"].is_string());
    assert_eq!(lines[2]["decision"], "allow");
}

#[test]
fn explain_lists_the_host_paths_of_the_built_ins() {
    let out = run(&[
        "explain",
        "--",
        "git",
        "-C",
        "sub",
        "format-patch",
        "-1",
        "-o",
        "../patches",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    assert!(human.contains("  path:    chdir sub (-C)\n"), "{human}");
    assert!(
        human.contains("  path:    write ../patches (--output-directory, relative to sub)\n"),
        "{human}"
    );

    let mut child = daemon()
        .args(["explain", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"command\":\"docker\",\"args\":[\"cp\",\":/etc/shadow\",\"c:/x\"]}\n{\"command\":\"aws\",\"args\":[\"s3\",\"cp\",\"s3://b/k\",\"./k\"]}\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["decision"], "deny");
    assert_eq!(lines[0]["paths"][0]["path"], "/etc/shadow");
    assert_eq!(lines[0]["paths"][0]["access"], "read");
    assert_eq!(lines[0]["paths"][0]["range"], serde_json::json!([1, 12]));
    assert_eq!(lines[1]["decision"], "allow");
    assert_eq!(
        lines[1]["paths"],
        serde_json::json!([{"access": "write", "path": "./k", "option": null, "operand": 2, "arg": 3, "range": [0, 3], "base": []}])
    );
}

#[test]
fn check_validates_config_and_agents() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\"]\n",
    );
    let agent = dir.path().join("a1");
    std::fs::create_dir_all(agent.join("ws")).unwrap();
    write(
        &agent.join("airlock.toml"),
        &format!(
            "commands = [\"git\"]\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"{}\"\n",
            agent.join("ws").display()
        ),
    );
    let agents = dir.path().join("agents.toml");
    write(&agents, &format!("[a1]\npath = \"{}\"\n", agent.display()));
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--agents",
        agents.to_str().unwrap(),
    ];

    // A module for git that neither extends nor replaces the built-in is refused.
    write(&agent.join("commands/git.toml"), GIT_MODULE);
    let silent = daemon().arg("check").args(args).output().unwrap();
    assert_eq!(silent.status.code(), Some(2));
    let err = text(&silent.stderr);
    assert!(err.contains("commands/git.toml:2:7"), "{err}");
    assert!(err.contains("extends = \"builtin:git\""), "{err}");
    assert!(err.contains("replace = true"), "{err}");

    // Saying `replace = true` loads, with a warning naming the hardening given up.
    write(
        &agent.join("commands/git.toml"),
        &GIT_MODULE.replace("bin = \"git\"\n", "bin = \"git\"\nreplace = true\n"),
    );
    let replaced = daemon().arg("check").args(args).output().unwrap();
    assert!(replaced.status.success(), "{}", text(&replaced.stderr));
    let warning = text(&replaced.stderr);
    assert!(
        warning.contains("warning: agent `a1`: `")
            && warning.contains("replaces the built-in `git` module"),
        "{warning}"
    );
    for given_up in [
        "env set: GIT_ASKPASS, GIT_CONFIG_COUNT",
        "env strip: GIT_CONFIG_PARAMETERS",
        "git.config-injection",
        "extends = \"builtin:git\"` would keep it",
    ] {
        assert!(warning.contains(given_up), "{given_up}: {warning}");
    }
    assert!(
        !warning.contains("git.upload-pack,"),
        "the replacement has that rule: {warning}"
    );
    let shown = daemon()
        .args(["agents", "show", "a1"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        text(&shown.stdout).contains("(replaces the built-in)"),
        "{}",
        text(&shown.stdout)
    );

    // Extending keeps the built-in: no warning, and its rules still decide.
    write(
        &agent.join("commands/git.toml"),
        "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n[deny]\nargs = [\"push\"]\n",
    );
    let ok = daemon().arg("check").args(args).output().unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("agent `a1`"));
    assert!(
        !text(&ok.stderr).contains("warning"),
        "{}",
        text(&ok.stderr)
    );
    for (argv, rule) in [
        (
            &["-c", "core.fsmonitor=x", "status"][..],
            "git.config-injection",
        ),
        (&["push", "origin"], "deny.args[0]"),
    ] {
        let explained = daemon()
            .args(["explain", "--agent", "a1"])
            .args(args)
            .arg("--")
            .arg("git")
            .args(argv)
            .output()
            .unwrap();
        assert_eq!(explained.status.code(), Some(1), "{argv:?}");
        assert!(
            text(&explained.stdout).contains(rule),
            "{argv:?}: {}",
            text(&explained.stdout)
        );
    }
    let shown = daemon()
        .args(["agents", "show", "a1"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        text(&shown.stdout).contains("(extends builtin:git.toml)"),
        "{}",
        text(&shown.stdout)
    );
    // `explain --module` resolves the built-in a module extends.
    let explained = run(&[
        "explain",
        "--module",
        agent.join("commands/git.toml").to_str().unwrap(),
        "--",
        "git",
        "fetch",
        "--upload-pac=x",
        "origin",
    ]);
    assert_eq!(explained.status.code(), Some(1));
    assert!(
        text(&explained.stdout).contains("module:  builtin:git.toml"),
        "{}",
        text(&explained.stdout)
    );

    let list = daemon()
        .args(["agents", "list"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        text(&list.stdout).starts_with("a1\t"),
        "{}",
        text(&list.stdout)
    );

    let explained = daemon()
        .args(["explain", "--agent", "a1"])
        .args(args)
        .args(["--", "ssh", "host"])
        .output()
        .unwrap();
    assert_eq!(explained.status.code(), Some(1));
    assert!(text(&explained.stdout).contains("unknown command"));

    // A hook without its run bit would deny every request: check says so.
    write(&agent.join("hooks/post-exec"), "#!/bin/sh\ncat\n");
    let hook = daemon().arg("check").args(args).output().unwrap();
    assert_eq!(hook.status.code(), Some(2));
    assert!(
        text(&hook.stderr).contains("hooks/post-exec` is not an executable file"),
        "{}",
        text(&hook.stderr)
    );
    std::fs::remove_file(agent.join("hooks/post-exec")).unwrap();

    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\"]\nextra = 1\n",
    );
    let broken = daemon().arg("check").args(args).output().unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        text(&broken.stderr).contains("config.toml:3:1"),
        "{}",
        text(&broken.stderr)
    );
}

#[test]
fn init_installs_and_removes_a_user_unit() {
    let home = tempfile::tempdir().unwrap();
    let installed = daemon()
        .args(["init", "--config", "/etc/airlock"])
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .unwrap();
    assert!(installed.status.success(), "{}", text(&installed.stderr));
    let unit = home.path().join("systemd/user/airlock.service");
    let body = std::fs::read_to_string(&unit).unwrap();
    assert!(body.contains("start --config /etc/airlock"), "{body}");
    assert!(body.contains("WantedBy=default.target"));
    let removed = daemon()
        .args(["init", "--uninstall"])
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .unwrap();
    assert!(removed.status.success());
    assert!(!unit.exists());
}

#[test]
fn explain_takes_the_command_without_a_double_dash() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("git.toml");
    write(&module, GIT_MODULE);
    let m = module.to_str().unwrap();
    let allowed = run(&["explain", "--module", m, "git", "status"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed.stderr));
    let denied = run(&[
        "explain",
        "--module",
        m,
        "git",
        "clone",
        "--upload-pac=x",
        "r",
    ]);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied.stderr));
    let dashed = run(&["explain", "--module", m, "--", "git", "status"]);
    assert_eq!(dashed.status.code(), Some(0), "{}", text(&dashed.stderr));
}

#[test]
fn check_names_a_declared_path_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\"]\n",
    );
    let agent = dir.path().join("a1");
    std::fs::create_dir_all(agent.join("ws")).unwrap();
    std::fs::create_dir_all(dir.path().join("home")).unwrap();
    write(
        &agent.join("airlock.toml"),
        "commands = [\"git\"]\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"ws\"\n[access.git]\nread = [\"ws\", \"~/.gitconfig\"]\n",
    );
    let agents = dir.path().join("agents.toml");
    write(&agents, "[a1]\npath = \"a1\"\n");
    let args = [
        "check",
        "--config",
        config.to_str().unwrap(),
        "--agents",
        agents.to_str().unwrap(),
    ];
    let output = daemon()
        .args(args)
        .env("HOME", dir.path().join("home"))
        .output()
        .unwrap();
    let err = text(&output.stderr);
    assert!(!output.status.success(), "{err}");
    assert!(err.contains("airlock.toml:6:15"), "{err}");
    assert!(err.contains("`~/.gitconfig`"), "{err}");
    write(&dir.path().join("home/.gitconfig"), "");
    let output = daemon()
        .args(args)
        .env("HOME", dir.path().join("home"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn doctor_reports_the_confinement_in_force() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("config.toml"),
        "[commands]\nenable = [\"sh\"]\n",
    );
    let config = dir.path().to_str().unwrap();
    let output = run(&["doctor", "--config", config]);
    let report = text(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("confine  landlock ABI "), "{report}");
    write(
        &dir.path().join("config.toml"),
        "[commands]\nenable = [\"sh\"]\n[confinement]\nmode = \"none\"\n",
    );
    let report = text(&run(&["doctor", "--config", config]).stdout);
    assert!(report.contains("confine  off"), "{report}");
}

#[test]
fn usage_errors_exit_2_and_help_exists() {
    assert_eq!(run(&["show", "no-such-builtin"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    for sub in [
        "start", "check", "explain", "show", "doctor", "version", "agents", "init",
    ] {
        let help = run(&[sub, "--help"]);
        assert!(help.status.success(), "{sub} --help");
        assert!(!help.stdout.is_empty());
    }
    let version = run(&["version"]);
    assert!(text(&version.stdout).starts_with("airlock-daemon "));
}

#[test]
fn check_warns_about_what_is_valid_but_probably_not_meant() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let agent = dir.path().join("a1");
    write(&agent.join("hooks/pre_exec"), "#!/bin/sh\n");
    write(
        &agent.join("commands/ssh.toml"),
        "[command]\nbin = \"ssh\"\nextends = \"builtin:ssh\"\n",
    );
    let agents = dir.path().join("agents.toml");
    write(&agents, "[a1]\npath = \"a1\"\n");
    let check = || {
        let output = run(&[
            "check",
            "--config",
            config.to_str().unwrap(),
            "--agents",
            agents.to_str().unwrap(),
        ]);
        let err = text(&output.stderr);
        assert!(output.status.success(), "{err}");
        err
    };
    // A typo in the enable list, a misnamed hook, a module for a command not enabled,
    // an agent without mounts.
    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\", \"gti-typo\"]\n",
    );
    write(&agent.join("airlock.toml"), "commands = [\"git\"]\n");
    let err = check();
    for expected in [
        "`gti-typo` is enabled but has no built-in module",
        "agent `a1` has no mounts",
        "`pre_exec` is not a hook name",
        "`ssh` is not in the daemon's enable list",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    // `commands = []`, at its line and column.
    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\"]\n",
    );
    write(
        &agent.join("airlock.toml"),
        "# all of them\ncommands = []\n",
    );
    let err = check();
    assert!(
        err.contains("airlock.toml:2:12: `commands = []` gives agent `a1` every enabled command"),
        "{err}"
    );
}
