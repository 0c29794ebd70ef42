//! The program's environment, seen by the program: the real daemon, started with a
//! secret in its own environment, runs `env` for the agent. Only the pass list, the
//! profile's and the module's variables and the run's own `HOME`, `TMPDIR` and `PWD`
//! may reach it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use airlock_rpc::base64;
use serde_json::{Value, json};

mod support;
use support::{start_daemon, write};

/// What the daemon has in its environment besides the test runner's.
const DAEMON_ENV: &[(&str, &str)] = &[
    ("AIRLOCK_TEST_SECRET", "daemon-secret-value"),
    ("AWS_PROFILE", "prod"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
    ("SSH_AUTH_SOCK", "/run/daemon-agent.sock"),
    ("GIT_CONFIG_PARAMETERS", "'core.fsmonitor'='touch /tmp/x'"),
    ("LANG", "C.UTF-8"),
    ("LC_TIME", "C"),
    ("TZ", "UTC"),
];

/// `env` as a command: its module strips one passed name and hardens one variable.
const PRINTENV: &str = "[command]\nbin = \"env\"\n[env]\nstrip = [\"LC_TIME\"]\nset = { MODULE_VAR = \"from-module\", BOTH_SET = \"module\" }\n";

struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
    socket: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(env_table: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"env\"]\n",
    );
    write(
        &root.join("a1/airlock.toml"),
        &format!(
            "commands = []\n[env]\n{env_table}set = {{ PROFILE_VAR = \"from-profile\", BOTH_SET = \"profile\" }}\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"ws\"\n"
        ),
    );
    std::fs::create_dir_all(root.join("a1/ws")).unwrap();
    write(&root.join("a1/commands/env.toml"), PRINTENV);
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let (child, stdout) = start_daemon(root, DAEMON_ENV);
    std::thread::spawn(move || for _ in stdout.lines() {});
    Daemon {
        child,
        socket: root.join("sockets/a1.sock"),
        _dir: dir,
    }
}

/// Runs `env` through the daemon and returns what it printed, as a map.
fn program_env(socket: &Path) -> BTreeMap<String, String> {
    let stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let request = json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"env","args":[],"cwd":"/workspace"}});
    writer.write_all(format!("{request}\n").as_bytes()).unwrap();
    let mut out = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        let message: Value = serde_json::from_str(&line).unwrap();
        if message.get("method") == Some(&json!("output")) {
            let params = &message["params"];
            if params["stream"] == "stdout" {
                match params.get("data_b64") {
                    Some(b64) => out.extend(base64::decode(b64.as_str().unwrap()).unwrap()),
                    None => out.extend(params["data"].as_str().unwrap().as_bytes()),
                }
            }
            continue;
        }
        assert_eq!(message["result"]["exit_code"], 0, "{message}");
        break;
    }
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The names the daemon's environment holds (the test runner's plus `DAEMON_ENV`).
fn daemon_env_names() -> BTreeSet<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .chain(DAEMON_ENV.iter().map(|(k, _)| (*k).to_owned()))
        .collect()
}

/// The names the program must get: the pass list the daemon has, less the module's
/// strip, plus `extra`, the profile's and module's `set` and the run's own.
fn expected_names(extra: &[&str]) -> BTreeSet<String> {
    let daemon = daemon_env_names();
    airlock_core::ENV_PASS
        .iter()
        .chain(extra)
        .filter(|n| daemon.contains(**n) && **n != "LC_TIME")
        .chain(&[
            "PROFILE_VAR",
            "MODULE_VAR",
            "BOTH_SET",
            "HOME",
            "TMPDIR",
            "PWD",
        ])
        .map(|n| (*n).to_owned())
        .collect()
}

#[test]
fn the_program_gets_the_pass_list_and_the_settings_only() {
    let daemon = start("");
    let env = program_env(&daemon.socket);
    let names: BTreeSet<String> = env.keys().cloned().collect();
    assert_eq!(names, expected_names(&[]), "{env:#?}");
    let text = format!("{env:?}");
    for secret in [
        "daemon-secret-value",
        "aws-secret-value",
        "daemon-agent",
        "fsmonitor",
    ] {
        assert!(
            !text.contains(secret),
            "`{secret}` reached the program: {text}"
        );
    }
    assert_eq!(env["LANG"], "C.UTF-8", "passed from the daemon");
    assert_eq!(env["TZ"], "UTC");
    assert_eq!(env["PATH"], std::env::var("PATH").unwrap());
    assert_eq!(env["PROFILE_VAR"], "from-profile");
    assert_eq!(env["MODULE_VAR"], "from-module");
    assert_eq!(env["BOTH_SET"], "module", "the module's set is last");
    assert!(env["HOME"].contains("airlock-run-"), "the run's own home");
    assert!(env["TMPDIR"].contains("airlock-run-"));
}

#[test]
fn a_profile_passes_more_names() {
    let daemon = start("pass = [\"AWS_PROFILE\", \"LC_TIME\", \"NOT_IN_THE_DAEMON\"]\n");
    let env = program_env(&daemon.socket);
    let names: BTreeSet<String> = env.keys().cloned().collect();
    assert_eq!(names, expected_names(&["AWS_PROFILE"]), "{env:#?}");
    assert_eq!(env["AWS_PROFILE"], "prod");
    assert!(
        !env.contains_key("LC_TIME"),
        "the module's strip removes a passed name"
    );
    assert!(!env.contains_key("AWS_SECRET_ACCESS_KEY"));
    assert!(!env.contains_key("AIRLOCK_TEST_SECRET"));
}
