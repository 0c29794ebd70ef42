//! An agent cannot erase the audit log's history by flooding it (issue: the daemon
//! under a hostile client): 80 one-megabyte `check` requests in half a second used to
//! rotate every earlier record out. Each agent has a budget in the log; past it, its
//! requests are counted instead of written, and its runs are still on record.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::{one_mount_profile, start_daemon, write};

/// The log holds at most this much: `max_size_mb = 1` and one rotated file.
const CAPACITY: u64 = 2 << 20;

struct Client {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    fn connect(socket: &Path) -> Self {
        let stream = UnixStream::connect(socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    fn send(&mut self, value: &Value) {
        let mut line = value.to_string();
        line.push('\n');
        self.stream.write_all(line.as_bytes()).unwrap();
    }

    fn recv(&mut self) -> Value {
        let mut line = String::new();
        assert!(
            self.reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        serde_json::from_str(&line).unwrap()
    }

    /// Runs `sh -c script` and returns its final reply.
    fn run(socket: &Path, script: &str, cwd: &Path) -> Value {
        let mut client = Client::connect(socket);
        client.send(&json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"sh","args":["-c",script],"cwd":cwd}}));
        loop {
            let message = client.recv();
            if message.get("method").is_none() {
                return message;
            }
        }
    }
}

/// Every record in the log and its rotated file, oldest first.
fn records(root: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for name in ["audit.log.1", "audit.log"] {
        let text = std::fs::read_to_string(root.join("config").join(name)).unwrap_or_default();
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    out
}

#[test]
fn a_flood_of_requests_does_not_rotate_the_history_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"sh\"]\n[log]\nmax_size_mb = 1\nmax_files = 1\n",
    );
    for agent in ["a1", "a2"] {
        let ws = root.join(agent).join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        write(
            &root.join(agent).join("airlock.toml"),
            &one_mount_profile(&ws, &ws),
        );
        write(
            &root.join(agent).join("commands/sh.toml"),
            "[command]\nbin = \"sh\"\n",
        );
    }
    write(
        &root.join("agents.toml"),
        "[a1]\npath = \"a1\"\n[a2]\npath = \"a2\"\n",
    );
    let (mut daemon, mut out) = start_daemon(&root, &[]);
    let mut line = String::new();
    while !line.starts_with("agent a2: ") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "daemon exited early");
    }
    std::thread::spawn(move || for _ in out.lines() {});
    let a1 = root.join("sockets/a1.sock");
    let a2 = root.join("sockets/a2.sock");

    // History: another agent's run, and the flooding agent's own.
    let end = Client::run(&a2, "echo a2-before", &root.join("a2/ws"));
    assert_eq!(end["result"]["exit_code"], 0, "{end}");
    let end = Client::run(&a1, "echo a1-before", &root.join("a1/ws"));
    assert_eq!(end["result"]["exit_code"], 0, "{end}");

    // The flood: 200 checks of three 5 KB arguments, each record just under the
    // most one record may take (16 KiB): 3 MB in all, more than the log holds. (The
    // issue's one-megabyte lines are shortened to the same size, and take longer.)
    const CHECKS: usize = 200;
    let mut client = Client::connect(&a1);
    let started = Instant::now();
    for n in 0..CHECKS {
        let args: Vec<String> = (0..3)
            .map(|i| format!("{n}-{i}-{}", "x".repeat(5_000)))
            .collect();
        client.send(&json!({"jsonrpc":"2.0","id":n,"method":"check","params":{"command":"sh","args":args,"cwd":root.join("a1/ws")}}));
        let reply = client.recv();
        assert_eq!(reply["id"], n, "{reply}");
        assert!(reply.get("result").is_some(), "{reply}");
    }
    eprintln!("{CHECKS} checks of 15 KB: {:?}", started.elapsed());
    drop(client);
    // Past its budget, the agent's runs are still on record.
    let end = Client::run(&a1, "echo a1-after", &root.join("a1/ws"));
    assert_eq!(end["result"]["exit_code"], 0, "{end}");

    // A clean stop writes what the budget left out.
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &daemon.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }

    let records = records(&root);
    let runs = |agent: &str, decision: &str| {
        records
            .iter()
            .filter(|r| r["agent"] == agent && r["decision"] == decision)
            .count()
    };
    let has = |agent: &str, text: &str| {
        records
            .iter()
            .any(|r| r["agent"] == agent && r["argv"].to_string().contains(text))
    };
    assert!(
        has("a2", "echo a2-before"),
        "another agent's history is gone"
    );
    assert!(
        has("a1", "echo a1-before"),
        "the agent's own history is gone"
    );
    assert_eq!(runs("a2", "start"), 1);
    assert_eq!(runs("a1", "start"), 2, "every run's start is on record");
    assert_eq!(runs("a1", "allow"), 2, "every run's end is on record");
    let checks = runs("a1", "check_allow") + runs("a1", "check_deny");
    assert!(
        checks > 0 && checks < CHECKS,
        "{checks} of {CHECKS} checks written"
    );
    // The rest is counted: one record says how many, and how many bytes they were.
    let summaries: Vec<&Value> = records
        .iter()
        .filter(|r| r["rule"] == "airlock.audit-budget" && r["agent"] == "a1")
        .collect();
    assert!(!summaries.is_empty(), "nothing says what was left out");
    let (mut left_out, mut left_out_bytes) = (0usize, 0u64);
    for summary in &summaries {
        let reason = summary["reason"].as_str().unwrap();
        let mut words = reason.split_whitespace();
        left_out += words.next().unwrap().parse::<usize>().unwrap();
        let bytes = reason.split_once('(').unwrap().1.split_whitespace().next();
        left_out_bytes += bytes.unwrap().parse::<u64>().unwrap();
    }
    assert_eq!(checks + left_out, CHECKS, "{summaries:?}");
    // Without the budget, the flood would have been more than the log holds.
    let kept: u64 = ["audit.log", "audit.log.1"]
        .iter()
        .map(|n| std::fs::metadata(root.join("config").join(n)).map_or(0, |m| m.len()))
        .sum();
    assert!(
        kept + left_out_bytes > CAPACITY,
        "the flood was too small to prove anything: {kept} + {left_out_bytes}"
    );
}
