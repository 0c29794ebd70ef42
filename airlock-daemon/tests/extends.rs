//! An agent's module that extends the built-in git module, through the real daemon:
//! the built-in's denies and its environment hardening stay in force beside the
//! agent's own rule. A module that replaces the built-in (`replace = true`) is the
//! control: the planted hook the built-in's hardening switches off then runs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use serde_json::{Value, json};

mod support;
use support::{host_git, one_mount_profile, start_daemon, write};

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn workspace(&self) -> PathBuf {
        self.dir.path().join("a1/ws")
    }
}

/// Starts the daemon with `commands/git.toml` = `module`, in a workspace holding a git
/// repository with a planted `pre-commit` hook that leaves `hook-ran` behind.
fn start(module: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"git\"]\n",
    );
    write(
        &root.join("a1/airlock.toml"),
        "commands = []\n[env]\nset = { GIT_AUTHOR_NAME = \"a\", GIT_AUTHOR_EMAIL = \"a@example.invalid\", GIT_COMMITTER_NAME = \"a\", GIT_COMMITTER_EMAIL = \"a@example.invalid\" }\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"ws\"\n",
    );
    let ws = root.join("a1/ws");
    std::fs::create_dir_all(&ws).unwrap();
    host_git(&ws, &["init", "-q"]);
    plant_hook(&ws);
    write(&root.join("a1/commands/git.toml"), module);
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let (child, stdout) = start_daemon(root, &[]);
    std::thread::spawn(move || for _ in stdout.lines() {});
    Daemon {
        child,
        socket: root.join("sockets/a1.sock"),
        dir,
    }
}

fn plant_hook(ws: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let hook = ws.join(".git/hooks/pre-commit");
    write(&hook, "#!/bin/sh\ntouch hook-ran\n");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs `git ARGS` in `/workspace` through the daemon; returns the final message.
fn git(socket: &Path, args: &[&str]) -> Value {
    let stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let request = json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"git","args":args,"cwd":"/workspace"}});
    writer.write_all(format!("{request}\n").as_bytes()).unwrap();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        let message: Value = serde_json::from_str(&line).unwrap();
        if message.get("method") != Some(&json!("output")) {
            return message;
        }
    }
}

fn denied_by(socket: &Path, args: &[&str]) -> String {
    let reply = git(socket, args);
    assert_eq!(reply["error"]["code"], -32600, "{args:?}: {reply}");
    reply["error"]["data"]["rule"].as_str().unwrap().to_owned()
}

const EXTENDS: &str =
    "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n[deny]\nargs = [\"push\"]\n";

#[test]
fn an_extending_module_keeps_the_builtins_denies_and_hardening() {
    let daemon = start(EXTENDS);
    let socket = &daemon.socket;
    assert_eq!(
        denied_by(
            socket,
            &["-c", "core.fsmonitor=touch fsmonitor-ran", "status"]
        ),
        "git.config-injection"
    );
    assert_eq!(
        denied_by(socket, &["fetch", "--upload-pac=touch x", "origin"]),
        "git.upload-pack"
    );
    assert_eq!(
        denied_by(socket, &["push", "origin", "main"]),
        "deny.args[0]"
    );
    let status = git(socket, &["status", "--short"]);
    assert_eq!(status["result"]["exit_code"], 0, "{status}");
    // The planted hook: the built-in's environment points core.hooksPath away.
    let commit = git(socket, &["commit", "-q", "--allow-empty", "-m", "x"]);
    assert_eq!(commit["result"]["exit_code"], 0, "{commit}");
    assert!(
        !daemon.workspace().join("hook-ran").exists(),
        "the planted hook ran through an extending module"
    );
    assert!(!daemon.workspace().join("fsmonitor-ran").exists());
    assert_eq!(
        host_git(&daemon.workspace(), &["rev-list", "--count", "HEAD"]),
        "1\n"
    );
}

#[test]
fn a_replacing_module_gives_the_hardening_up() {
    let daemon = start(&EXTENDS.replace("extends = \"builtin:git\"", "replace = true"));
    let socket = &daemon.socket;
    assert_eq!(denied_by(socket, &["push"]), "deny.args[0]");
    let commit = git(socket, &["commit", "-q", "--allow-empty", "-m", "x"]);
    assert_eq!(commit["result"]["exit_code"], 0, "{commit}");
    assert!(
        daemon.workspace().join("hook-ran").exists(),
        "control: without the built-in's hardening the planted hook runs"
    );
}

#[test]
fn a_module_that_neither_extends_nor_replaces_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"git\"]\n",
    );
    write(
        &root.join("a1/airlock.toml"),
        &one_mount_profile(Path::new("/workspace"), Path::new("ws")),
    );
    std::fs::create_dir_all(root.join("a1/ws")).unwrap();
    write(
        &root.join("a1/commands/git.toml"),
        "[command]\nbin = \"git\"\n[deny]\nargs = [\"push\"]\n",
    );
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_airlock-daemon"))
        .arg("start")
        .arg("--config")
        .arg(root.join("config"))
        .arg("--agents")
        .arg(root.join("agents.toml"))
        .arg("--sockets")
        .arg(root.join("sockets"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("commands/git.toml:2:7"), "{err}");
    assert!(err.contains("extends = \"builtin:git\""), "{err}");
}
