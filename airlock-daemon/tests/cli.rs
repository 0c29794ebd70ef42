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

#[allow(dead_code, reason = "this file uses some of the helpers")]
mod support;
use support::{one_mount_profile, write};

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
    assert!(out.contains("git.toml:11:9"), "{out}");
    assert!(out.contains("11 | args = \"--upload-pack\"\n"), "{out}");
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

/// Reads the daemon's stdout until the line for `agent`'s socket; returns the socket.
fn wait_for_socket(stdout: &mut impl std::io::BufRead, agent: &str) -> std::path::PathBuf {
    let prefix = format!("agent {agent}: ");
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the daemon exited before serving `{agent}`"
        );
        if let Some(path) = line.trim_end().strip_prefix(&prefix) {
            return path.into();
        }
    }
}

/// A bubblewrap "container" that sees `workspace` at /workspace and has the shim as
/// `git` on its PATH, talking to `socket`: returns a function that runs an argv in it.
fn container(
    scratch: &Path,
    workspace: &Path,
    socket: &Path,
) -> impl Fn(&[&str]) -> Output + use<> {
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["git", "cat"] {
        let _ = std::os::unix::fs::symlink(support::shim_binary(), bin.join(name));
    }
    let (workspace, socket) = (workspace.to_owned(), socket.to_owned());
    move |argv: &[&str]| {
        Command::new("bwrap")
            .args(["--dev-bind", "/", "/", "--bind"])
            .arg(&workspace)
            .args(["/workspace", "--chdir", "/workspace", "env"])
            .arg(format!("PATH={}:/usr/bin:/bin", bin.display()))
            .arg(format!("AIRLOCK_SOCKET={}", socket.display()))
            .args(argv)
            .output()
            .unwrap()
    }
}

#[test]
fn init_scaffolds_a_configuration_that_checks_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock");
    let c = config.to_str().unwrap();
    let init = run(&["init", "--config", c]);
    assert!(init.status.success(), "{}", text(&init.stderr));
    let out = text(&init.stdout);
    for file in ["config.toml", "agents.toml", "agents/agent/airlock.toml"] {
        assert!(
            out.contains(&format!("created {}", config.join(file).display())),
            "{out}"
        );
        let body = std::fs::read_to_string(config.join(file)).unwrap();
        // Every key is explained by a comment just above it.
        let lines: Vec<&str> = body.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains(" = ") && !line.starts_with('#') {
                assert!(
                    i > 0 && lines[i - 1].starts_with('#'),
                    "{file}: `{line}` has no comment"
                );
            }
        }
    }
    assert!(config.join("agents/agent/workspace").is_dir());
    let agents = config.join("agents.toml");
    let args = ["--config", c, "--agents", agents.to_str().unwrap()];

    let check = daemon().arg("check").args(args).output().unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(
        text(&check.stdout).contains("ok: agent `agent`"),
        "{}",
        text(&check.stdout)
    );
    // Warnings about the tool's version may appear; none about the configuration.
    for line in text(&check.stderr).lines() {
        assert!(line.starts_with("warning: `git`: installed"), "{line}");
    }

    // `start` serves it, and a real client (the shim, in a bubblewrap "container"
    // that sees the workspace at /workspace) runs git through it.
    let sockets = dir.path().join("sockets");
    let mut child = daemon()
        .arg("start")
        .args(args)
        .arg("--sockets")
        .arg(&sockets)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let socket = wait_for_socket(&mut stdout, "agent");
    assert_eq!(socket, sockets.join("agent.sock"));
    std::thread::spawn(move || for _ in std::io::BufRead::lines(stdout) {});
    let workspace = config.join("agents/agent/workspace");
    let agent = container(dir.path(), &workspace, &socket);
    let created = agent(&["git", "init", "-q"]);
    let status = agent(&["git", "status", "--short"]);
    let denied = agent(&["git", "-c", "core.fsmonitor=evil", "status"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(workspace.join(".git").is_dir(), "git ran in the workspace");
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert_eq!(denied.status.code(), Some(126), "{}", text(&denied.stderr));
    assert!(
        text(&denied.stderr).contains("git.config-injection"),
        "{}",
        text(&denied.stderr)
    );
    assert!(
        config.join("audit.log").is_file(),
        "the log is beside config.toml"
    );
}

#[test]
fn init_overwrites_nothing_and_says_which_files_exist() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock");
    write(&config.join("config.toml"), "mine\n");
    write(&config.join("agents/agent/airlock.toml"), "mine too\n");
    let again = run(&["init", "--config", config.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    let onto_a_file = run(&[
        "init",
        "--config",
        config.join("config.toml").to_str().unwrap(),
    ]);
    assert_eq!(onto_a_file.status.code(), Some(2));
    assert!(
        text(&onto_a_file.stderr).contains("is not a directory"),
        "{}",
        text(&onto_a_file.stderr)
    );
    let err = text(&again.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(&format!("`{}`", config.join("config.toml").display())),
        "{err}"
    );
    assert!(err.contains("agents/agent/airlock.toml`"), "{err}");
    assert!(!err.contains("agents.toml`,"), "{err}");
    assert_eq!(
        std::fs::read_to_string(config.join("config.toml")).unwrap(),
        "mine\n"
    );
    assert!(!config.join("agents.toml").exists(), "nothing written");
    // Another agent name and agents file beside it.
    let other = run(&[
        "init",
        "--config",
        dir.path().join("second").to_str().unwrap(),
        "--agent",
        "../x",
    ]);
    assert_eq!(other.status.code(), Some(2));
    assert!(text(&other.stderr).contains("not an agent name"));
}

/// The unit's file name, which systemd's complaints about it would name.
const UNIT_FILE_NAME: &str = "airlock.service";

#[test]
fn init_systemd_writes_a_sandboxed_unit_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock");
    let c = config.to_str().unwrap();
    assert!(run(&["init", "--config", c]).status.success());
    let unit = dir.path().join("unit/airlock.service");
    let u = unit.to_str().unwrap();
    let written = run(&["init", "--systemd", "--config", c, "--unit", u]);
    assert!(written.status.success(), "{}", text(&written.stderr));
    let body = std::fs::read_to_string(&unit).unwrap();
    let real = config.canonicalize().unwrap();
    let exec = body.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    for word in exec.trim_start_matches("ExecStart=").split(' ') {
        if word.starts_with('"') {
            assert!(word.starts_with("\"/"), "not absolute: {word} in {exec}");
        }
    }
    assert!(
        exec.contains(&format!(
            "--agents \"{}\"",
            real.join("agents.toml").display()
        )),
        "the scaffolded agents file is served: {exec}"
    );
    let writable = body
        .lines()
        .find(|l| l.starts_with("ReadWritePaths="))
        .unwrap();
    for path in [
        real.join("sockets"),
        real.clone(),
        real.join("agents/agent/workspace"),
    ] {
        assert!(
            writable.contains(&format!("\"{}\"", path.display())),
            "{} in {writable}",
            path.display()
        );
    }
    for directive in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "KillMode=mixed",
        "RuntimeDirectory=airlock",
        "Environment=XDG_RUNTIME_DIR=%t/airlock",
    ] {
        assert!(body.lines().any(|l| l == directive), "{directive}: {body}");
    }
    assert!(
        body.contains("# PrivateTmp= left out: the configuration or a workspace is under /tmp."),
        "a private /tmp would hide this one: {body}"
    );
    assert!(
        !body.lines().any(|l| l.starts_with("PrivateUsers=")
            || l.starts_with("ProtectProc=")
            || l.starts_with("SystemCallFilter=")),
        "{body}"
    );
    // systemd itself reads it without complaint, where it is installed.
    match Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
    {
        Ok(verified) => assert!(
            verified.status.success() && !text(&verified.stderr).contains(UNIT_FILE_NAME),
            "{}",
            text(&verified.stderr)
        ),
        Err(e) => eprintln!("SKIPPED: systemd-analyze verify ({e})"),
    }
    // Not twice.
    let again = run(&["init", "--systemd", "--config", c, "--unit", u]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), body);
    // A broken configuration gets no unit.
    let broken = run(&[
        "init",
        "--systemd",
        "--config",
        dir.path().join("none").to_str().unwrap(),
        "--unit",
        dir.path().join("other.service").to_str().unwrap(),
    ]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(!dir.path().join("other.service").exists());
    let removed = run(&["init", "--systemd", "--uninstall", "--unit", u]);
    assert!(removed.status.success());
    assert!(!unit.exists());
}

#[test]
fn load_errors_name_their_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\"]\n",
    );
    let agents = dir.path().join("agents.toml");
    let check = |config: &Path| {
        let out = daemon()
            .arg("check")
            .arg("--config")
            .arg(config)
            .arg("--agents")
            .arg(&agents)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
        let err = text(&out.stderr);
        assert!(err.starts_with("error: "), "{err}");
        err
    };

    // A missing agent directory: where the agents file names it.
    write(&agents, "[a]\npath = \"nope\"\n");
    let err = check(&config);
    assert!(err.contains("agents.toml:2:8"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    // A directory without airlock.toml.
    std::fs::create_dir_all(dir.path().join("nope")).unwrap();
    let err = check(&config);
    assert!(err.contains("agents.toml:2:8"), "{err}");
    assert!(err.contains("no `airlock.toml`"), "{err}");

    // A command the daemon does not enable: at the command, said once.
    write(
        &dir.path().join("nope/airlock.toml"),
        "commands = [\"git\", \"ssh\"]\n[[mounts]]\ncontainer = \"/w\"\nhost = \"ws\"\n",
    );
    std::fs::create_dir_all(dir.path().join("nope/ws")).unwrap();
    let err = check(&config);
    assert!(err.contains("airlock.toml:1:20"), "{err}");
    assert!(
        err.contains("`ssh` is not in the daemon's enable list"),
        "{err}"
    );
    assert!(!err.contains("agent `a`: agent"), "{err}");

    // A mount that does not resolve: at its host path.
    write(
        &dir.path().join("nope/airlock.toml"),
        "commands = [\"git\"]\n[[mounts]]\ncontainer = \"/w\"\nhost = \"missing\"\n",
    );
    let err = check(&config);
    assert!(err.contains("airlock.toml:4:8"), "{err}");
    assert!(err.contains("mount host path `missing`"), "{err}");

    // A listed command without any module: at the command.
    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\", \"make\"]\n",
    );
    write(
        &dir.path().join("nope/airlock.toml"),
        "commands = [\"git\", \"make\"]\n[[mounts]]\ncontainer = \"/w\"\nhost = \"ws\"\n",
    );
    let err = check(&config);
    assert!(err.contains("airlock.toml:1:20"), "{err}");
    assert!(err.contains("add `commands/make.toml`"), "{err}");
    // A module named for one command that guards another: at its `bin`.
    write(
        &dir.path().join("nope/commands/make.toml"),
        "[command]\nbin = \"cmake\"\n",
    );
    let err = check(&config);
    assert!(err.contains("commands/make.toml:2:7"), "{err}");
    assert!(err.contains("name it `commands/cmake.toml`"), "{err}");
    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\"]\n",
    );

    // --config given a file.
    let err = check(&config.join("config.toml"));
    assert!(err.contains("is not a directory"), "{err}");
    assert!(err.contains("config.toml`"), "{err}");

    // A config directory without config.toml names the file.
    let err = check(dir.path());
    assert!(
        err.contains(&format!("`{}`", dir.path().join("config.toml").display())),
        "{err}"
    );
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
fn doctor_warns_of_mounts_where_device_files_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(&root.join("config.toml"), "[commands]\nenable = [\"sh\"]\n");
    let ws = root.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    write(
        &root.join("a1/airlock.toml"),
        &one_mount_profile(Path::new("/workspace"), &ws),
    );
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let config = root.to_str().unwrap();
    let agents = root.join("agents.toml");
    let output = run(&[
        "doctor",
        "--config",
        config,
        "--agents",
        agents.to_str().unwrap(),
    ]);
    let report = text(&output.stdout);
    assert!(output.status.success(), "{report}");
    let honoured = !rustix::fs::statvfs(&ws)
        .unwrap()
        .f_flag
        .contains(rustix::fs::StatVfsMountFlags::NODEV);
    let warned = format!(
        "warning  devices\tagent a1: the mount `{}` is on a file system that honours device files",
        ws.display()
    );
    assert_eq!(report.contains(&warned), honoured, "{report}");
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

#[test]
fn explain_reads_as_the_tool_does_and_names_the_refusing_layer() {
    // Global options are printed where git reads them: before the subcommand.
    let out = run(&["explain", "git", "-c", "core.fsmonitor=evil", "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    assert!(
        human.contains("  read as: git -c 'core.fsmonitor=evil' status\n"),
        "{human}"
    );
    // The caret is under the line that matched, not under `[[rule]]`.
    let rule_line = human
        .lines()
        .find(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()) && l.contains(" | "))
        .unwrap();
    assert!(rule_line.contains("args = \"-c\""), "{human}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock");
    assert!(
        run(&["init", "--config", config.to_str().unwrap()])
            .status
            .success()
    );
    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\", \"ssh\"]\n",
    );
    let agents = config.join("agents.toml");
    let explain = |argv: &[&str]| {
        let out = daemon()
            .args(["explain", "--agent", "agent", "--config"])
            .arg(&config)
            .arg("--agents")
            .arg(&agents)
            .args(argv)
            .output()
            .unwrap();
        (out.status.code(), text(&out.stdout))
    };
    for (argv, layer) in [
        (
            &["terraform", "plan"][..],
            "layer:   the daemon's enable list",
        ),
        (&["ssh", "host"], "layer:   the agent's command list"),
        (
            &["git", "-c", "x=y", "status"],
            "layer:   the command's module",
        ),
        (
            &["--cwd", "/elsewhere", "git", "status"],
            "layer:   the daemon's check `airlock.cwd`",
        ),
        (
            &["--cwd", "/workspace", "git", "log", "--output=/etc/x"],
            "layer:   the daemon's check `airlock.path`",
        ),
    ] {
        let (code, out) = explain(argv);
        assert_eq!(code, Some(1), "{argv:?}: {out}");
        assert!(out.contains(layer), "{argv:?}: {out}");
    }
    let (code, out) = explain(&["--cwd", "/workspace", "git", "log", "--output=/workspace/x"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("layer:"), "{out}");
    // Without --agent there is no cwd to check.
    let alone = run(&["explain", "--cwd", "/workspace", "git", "status"]);
    assert_eq!(alone.status.code(), Some(2));

    // --batch says the layer too, and takes a cwd.
    let mut child = daemon()
        .args(["explain", "--batch", "--agent", "agent", "--config"])
        .arg(&config)
        .arg("--agents")
        .arg(&agents)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"command\":\"ssh\",\"args\":[\"h\"]}\n{\"command\":\"git\",\"args\":[\"status\"],\"cwd\":\"/nope\"}\n{\"command\":\"git\",\"args\":[\"status\"],\"cwd\":\"/workspace\"}\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["layer"], "agent-commands");
    assert_eq!(lines[1]["layer"], "daemon-check");
    assert_eq!(lines[1]["rule"], "airlock.cwd");
    assert_eq!(lines[2]["decision"], "allow");
    assert_eq!(lines[2]["layer"], serde_json::Value::Null);
}

#[test]
fn json_output_for_check_agents_doctor_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock");
    assert!(
        run(&["init", "--config", config.to_str().unwrap()])
            .status
            .success()
    );
    let agents = config.join("agents.toml");
    let json = |args: &[&str]| {
        let out = daemon()
            .args(args)
            .arg("--config")
            .arg(&config)
            .arg("--agents")
            .arg(&agents)
            .arg("--json")
            .output()
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)));
        (out.status.code(), value)
    };
    let (code, checked) = json(&["check"]);
    assert_eq!(code, Some(0), "{checked}");
    assert_eq!(checked["ok"], true);
    assert_eq!(checked["enabled"], serde_json::json!(["git"]));
    assert_eq!(checked["agents"][0]["name"], "agent");
    assert_eq!(checked["agents"][0]["commands"], serde_json::json!(["git"]));
    assert!(checked["errors"].as_array().unwrap().is_empty());

    let (code, listed) = json(&["agents", "list"]);
    assert_eq!(code, Some(0));
    assert_eq!(listed[0]["name"], "agent");
    let (code, shown) = json(&["agents", "show", "agent"]);
    assert_eq!(code, Some(0));
    assert_eq!(shown["mounts"][0]["container"], "/workspace");
    assert_eq!(shown["modules"][0]["source"], "builtin:git.toml");

    let nobody = daemon()
        .args(["agents", "show", "nobody", "--config"])
        .arg(&config)
        .arg("--agents")
        .arg(&agents)
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(2));
    assert!(
        text(&nobody.stderr).contains(&format!("no agent `nobody` in `{}`", agents.display())),
        "{}",
        text(&nobody.stderr)
    );

    let (code, doctor) = json(&["doctor"]);
    assert_eq!(code, Some(if doctor["ok"] == true { 0 } else { 1 }));
    assert!(
        doctor["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["subject"] == "git" && f["status"] == "ok"),
        "{doctor}"
    );

    let shown = run(&["show", "--json", "git"]);
    assert!(shown.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["name"], "git");
    assert!(shown["source"].as_str().unwrap().contains("[command]"));
    assert!(shown["notes"].as_str().unwrap().contains("threat"));

    // An error is an object with its place.
    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\"]\nextra = 1\n",
    );
    let (code, broken) = json(&["check"]);
    assert_eq!(code, Some(2));
    assert_eq!(broken["ok"], false);
    let error = &broken["errors"][0];
    assert!(
        error["file"].as_str().unwrap().ends_with("config.toml"),
        "{error}"
    );
    assert_eq!(
        (error["line"].as_u64(), error["column"].as_u64()),
        (Some(3), Some(1))
    );
    assert!(
        error["text"].as_str().unwrap().starts_with("error: "),
        "{error}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_line() {
    for (shell, marker) in [
        ("bash", "_airlock__daemon()"),
        ("zsh", "#compdef airlock-daemon"),
        ("fish", "complete -c airlock-daemon"),
    ] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("explain") && script.contains("batch"),
            "{shell}"
        );
    }
    assert_eq!(run(&["completions", "cmd.exe"]).status.code(), Some(2));
    let page = run(&["man"]);
    assert!(page.status.success());
    let page = text(&page.stdout);
    assert!(page.contains(".TH airlock-daemon 1"), "{page}");
    assert!(page.contains("explain"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    assert!(
        run(&["man", "--dir", pages.to_str().unwrap()])
            .status
            .success()
    );
    for file in [
        "airlock-daemon.1",
        "airlock-daemon-explain.1",
        "airlock-daemon-init.1",
    ] {
        assert!(pages.join(file).is_file(), "{file}");
    }
}

#[test]
fn ping_answers_for_health_checks_and_verbose_logs_one_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock");
    assert!(
        run(&["init", "--config", config.to_str().unwrap()])
            .status
            .success()
    );
    let sockets = dir.path().join("sockets");
    let mut child = daemon()
        .arg("start")
        .arg("--config")
        .arg(&config)
        .arg("--agents")
        .arg(config.join("agents.toml"))
        .arg("--sockets")
        .arg(&sockets)
        .arg("--verbose")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let collected = std::thread::spawn(move || {
        std::io::BufRead::lines(std::io::BufReader::new(stderr))
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let socket = wait_for_socket(&mut stdout, "agent");
    std::thread::spawn(move || for _ in std::io::BufRead::lines(stdout) {});

    let pinged = run(&["ping", socket.to_str().unwrap()]);
    assert_eq!(pinged.status.code(), Some(0), "{}", text(&pinged.stderr));
    assert!(text(&pinged.stdout).starts_with("ok: "));
    let absent = run(&["ping", sockets.join("other.sock").to_str().unwrap()]);
    assert_eq!(absent.status.code(), Some(1));
    assert!(text(&absent.stderr).starts_with("error: "));

    let agent = container(dir.path(), &config.join("agents/agent/workspace"), &socket);
    assert!(agent(&["git", "init", "-q"]).status.success());
    assert!(agent(&["git", "status", "--short"]).status.success());
    assert_eq!(
        agent(&["git", "-c", "core.pager=x", "log"]).status.code(),
        Some(126)
    );
    // A stopped daemon closes its stderr.
    let _ = terminate(&child);
    let _ = child.wait();
    let lines = collected.join().unwrap();
    let requests: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" agent agent "))
        .collect();
    assert_eq!(
        requests.len(),
        3,
        "one line per request, not per record: {lines:#?}"
    );
    assert!(
        requests[1].contains("git status --short in /workspace: allow")
            && requests[1].contains("exit 0"),
        "{lines:#?}"
    );
    assert!(
        requests[2].contains(": deny [git.config-injection]"),
        "{lines:#?}"
    );
    assert!(requests[2].contains("(uid "), "{lines:#?}");
}

/// Asks the daemon to stop (SIGTERM), as a service manager would.
fn terminate(child: &std::process::Child) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
}

#[test]
fn a_module_bin_may_pin_the_program_by_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock");
    assert!(
        run(&["init", "--config", config.to_str().unwrap()])
            .status
            .success()
    );
    write(
        &config.join("config.toml"),
        "[commands]\nenable = [\"git\", \"cat\"]\n",
    );
    let profile = config.join("agents/agent/airlock.toml");
    let body = std::fs::read_to_string(&profile)
        .unwrap()
        .replace("commands = [\"git\"]", "commands = [\"git\", \"cat\"]");
    write(&profile, &body);
    let real = std::fs::canonicalize("/bin/cat").unwrap();
    let module = config.join("agents/agent/commands/cat.toml");
    write(
        &module,
        &format!("[command]\nbin = \"{}\"\n", real.display()),
    );
    // A fake `cat` first on the daemon's PATH: the pinned program runs, not it.
    let fake = dir.path().join("fake");
    write(&fake.join("cat"), "#!/bin/sh\necho fake cat\n");
    std::fs::set_permissions(
        fake.join("cat"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
    let agents = config.join("agents.toml");
    let checked = daemon()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .arg("--agents")
        .arg(&agents)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", text(&checked.stderr));

    let sockets = dir.path().join("sockets");
    let mut child = daemon()
        .arg("start")
        .arg("--config")
        .arg(&config)
        .arg("--agents")
        .arg(&agents)
        .arg("--sockets")
        .arg(&sockets)
        .env("PATH", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let socket = wait_for_socket(&mut stdout, "agent");
    std::thread::spawn(move || for _ in std::io::BufRead::lines(stdout) {});
    let workspace = config.join("agents/agent/workspace");
    write(&workspace.join("note.txt"), "the real file\n");
    let agent = container(dir.path(), &workspace, &socket);
    let out = agent(&["cat", "note.txt"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "the real file\n",
        "the pinned program ran"
    );

    // A pin that names no program is an error at its place.
    write(&module, "[command]\nbin = \"/nonexistent/cat\"\n");
    let broken = daemon()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .arg("--agents")
        .arg(&agents)
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2));
    let err = text(&broken.stderr);
    assert!(err.contains("commands/cat.toml:2:7"), "{err}");
    assert!(err.contains("not an executable file"), "{err}");
    // A path that is neither a name nor absolute is refused where it is written.
    write(&module, "[command]\nbin = \"bin/cat\"\n");
    let broken = daemon()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .arg("--agents")
        .arg(&agents)
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        text(&broken.stderr).contains("commands/cat.toml:2:7"),
        "{}",
        text(&broken.stderr)
    );
}

#[test]
fn a_pinned_git_still_gets_the_repository_checks() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("airlock");
    assert!(
        run(&["init", "--config", config.to_str().unwrap()])
            .status
            .success()
    );
    let which = Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    let git = std::fs::canonicalize(text(&which.stdout).trim()).unwrap();
    write(
        &config.join("agents/agent/commands/git.toml"),
        &format!(
            "[command]\nbin = \"{}\"\nextends = \"builtin:git\"\n",
            git.display()
        ),
    );
    let workspace = config.join("agents/agent/workspace");
    support::host_git(&workspace, &["init", "-q"]);
    let marker = dir.path().join("fsmonitor-ran");
    support::host_git(
        &workspace,
        &[
            "config",
            "core.fsmonitor",
            &format!("touch {}", marker.display()),
        ],
    );
    let sockets = dir.path().join("sockets");
    let mut child = daemon()
        .arg("start")
        .arg("--config")
        .arg(&config)
        .arg("--agents")
        .arg(config.join("agents.toml"))
        .arg("--sockets")
        .arg(&sockets)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let socket = wait_for_socket(&mut stdout, "agent");
    std::thread::spawn(move || for _ in std::io::BufRead::lines(stdout) {});
    let agent = container(dir.path(), &workspace, &socket);
    let refused = agent(&["git", "status"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        refused.status.code(),
        Some(126),
        "{}",
        text(&refused.stderr)
    );
    assert!(
        text(&refused.stderr).contains("airlock.git-config"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!marker.exists(), "the planted fsmonitor ran");
}

/// A mount lets its agent write what lies beneath it, from its container, at any moment:
/// a mount that covers a hook would have the daemon run the agent's own code on the
/// host, unconfined (shown before this check: an agent directory mounted as the
/// workspace, the pre-exec hook rewritten through the mount, the next request ran it
/// and it wrote `id` outside every mount). Every mount that covers what the daemon
/// trusts is refused at its host path, saying what it covers; each control beside it
/// (the mount one directory down) loads and serves, with the agents file, the
/// configuration and the sockets named relative to the daemon's working directory.
#[test]
fn a_mount_that_covers_what_the_daemon_trusts_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"true\"]\n",
    );
    write(
        &root.join("agents.toml"),
        "[a1]\npath = \"a1\"\n[a2]\npath = \"a2\"\n",
    );
    for agent in ["a1", "a2"] {
        std::fs::create_dir_all(root.join(agent).join("ws")).unwrap();
        write(
            &root.join(agent).join("commands/true.toml"),
            "[command]\nbin = \"true\"\n",
        );
    }
    let hook = root.join("a1/hooks/pre-exec");
    write(&hook, "#!/bin/sh\ncat >/dev/null\nexit 0\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let profile = |host: &Path| {
        format!(
            "commands = [\"true\"]\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"{}\"\n",
            host.display()
        )
    };
    let mounts = |a1: &Path, a2: &Path| {
        write(&root.join("a1/airlock.toml"), &profile(a1));
        write(&root.join("a2/airlock.toml"), &profile(a2));
    };
    let check = || {
        daemon()
            .current_dir(&root)
            .args(["check", "--config", "config", "--agents", "agents.toml"])
            .output()
            .unwrap()
    };
    let refused = |at: &str, what: &str| {
        let out = check();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(at), "not at {at}: {err}");
        assert!(err.contains(&format!("holds {what}")), "not {what}: {err}");
    };
    let (ws1, ws2) = (root.join("a1/ws"), root.join("a2/ws"));

    // An agent's own directory: its profile, modules and hooks.
    mounts(&root.join("a1"), &ws2);
    refused("a1/airlock.toml:4:8", "agent `a1`'s profile");
    // Another agent's hooks.
    mounts(&ws1, &root.join("a1/hooks"));
    refused("a2/airlock.toml:4:8", "agent `a1`'s hooks");
    // The daemon's configuration, and everything at once.
    mounts(&ws1, &root.join("config"));
    refused("a2/airlock.toml:4:8", "the daemon's configuration");
    mounts(&ws1, &root);
    refused("a2/airlock.toml:4:8", "the daemon's configuration");
    // The runs' private directories.
    mounts(&ws1, &ws2);
    write(
        &root.join("config/config.toml"),
        &format!(
            "[commands]\nenable = [\"true\"]\n[confinement]\nscratch = \"{}\"\n",
            ws2.join("scratch").display()
        ),
    );
    refused("a2/airlock.toml:4:8", "the runs' private directories");
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"true\"]\n",
    );
    // A path a command's programs may write is as good as a mount.
    write(
        &root.join("a1/airlock.toml"),
        &format!(
            "{}[access.true]\nwrite = [\"{}\"]\n",
            profile(&ws1),
            root.join("a2").display()
        ),
    );
    let out = check();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a1/airlock.toml:6:10"), "{err}");
    assert!(
        err.contains("lets `true` write agent `a2`'s profile"),
        "{err}"
    );
    // One they may read: another agent's profile would show its secrets.
    write(
        &root.join("a1/airlock.toml"),
        &format!(
            "{}[access.true]\nread = [\"{}\"]\n",
            profile(&ws1),
            root.join("a2").display()
        ),
    );
    let out = check();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a1/airlock.toml:6:9"), "{err}");
    assert!(
        err.contains("lets `true` read agent `a2`'s profile"),
        "{err}"
    );
    mounts(&ws1, &ws2);
    // Control: each agent's workspace one directory down.
    let out = check();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The sockets, which only `start` knows: it refuses to serve them.
    let out = daemon()
        .current_dir(&root)
        .args(["start", "--config", "config", "--agents", "agents.toml"])
        .args(["--sockets", "a2/ws/sockets"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("a2/airlock.toml:4:8"), "{err}");
    assert!(err.contains("holds the agents' sockets directory"), "{err}");
    assert!(!root.join("a2/ws/sockets").exists());

    // Control: sockets outside every mount are served, and a1's hook runs from its
    // directory although the agents file was named relative to the daemon's.
    let mut child = daemon()
        .current_dir(&root)
        .args(["start", "--config", "config", "--agents", "agents.toml"])
        .args(["--sockets", "sockets"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let socket = wait_for_socket(&mut stdout, "a1");
    let mut stream = std::os::unix::net::UnixStream::connect(root.join(&socket)).unwrap();
    stream
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"exec\",\"params\":{\"command\":\"true\",\"args\":[],\"cwd\":\"/workspace\"}}\n")
        .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(reply.contains("\"exit_code\":0"), "{reply}");
}
