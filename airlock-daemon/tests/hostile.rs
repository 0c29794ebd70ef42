//! Runs that used to never end (issue: the daemon under a hostile client). Each runs
//! the real daemon and the real shim; a watchdog fails the test instead of hanging it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{one_mount_profile, shim_binary, start_daemon, write};

struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
    daemon: Child,
    socket: PathBuf,
    sh: PathBuf,
    ws: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn host(timeout_secs: u64) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"sh\"]\n[limits]\nshutdown_grace_secs = 1\n",
    );
    let ws = root.join("a1/ws");
    std::fs::create_dir_all(&ws).unwrap();
    write(&root.join("a1/airlock.toml"), &one_mount_profile(&ws, &ws));
    write(
        &root.join("a1/commands/sh.toml"),
        &format!("[command]\nbin = \"sh\"\n[exec]\ntimeout_secs = {timeout_secs}\n"),
    );
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let (daemon, out) = start_daemon(&root, &[]);
    std::thread::spawn(move || for _ in out.lines() {});
    let sh = root.join("bin/sh");
    std::fs::create_dir_all(sh.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(shim_binary(), &sh).unwrap();
    Host {
        socket: root.join("sockets/a1.sock"),
        root: root.clone(),
        _dir: dir,
        daemon,
        sh,
        ws,
    }
}

impl Host {
    /// `sh -c script` through the shim, with `stdin_bytes` zero bytes on its stdin;
    /// fails the test if it has not ended after `limit`.
    fn run(&self, script: &str, stdin_bytes: usize, limit: Duration) -> (Output, Duration) {
        let input = self.ws.join("input");
        std::fs::write(&input, vec![0u8; stdin_bytes]).unwrap();
        let started = Instant::now();
        let mut child = Command::new(&self.sh)
            .args(["-c", script])
            .env("AIRLOCK_SOCKET", &self.socket)
            .current_dir(&self.ws)
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Drain stdout in a thread so the shim never blocks on it.
        let mut stdout = child.stdout.take().unwrap();
        let drained = std::thread::spawn(move || {
            let mut sink = Vec::new();
            let mut total = 0usize;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match std::io::Read::read(&mut stdout, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        total += n;
                        if sink.len() < 4096 {
                            sink.extend_from_slice(&buf[..n.min(4096)]);
                        }
                    }
                }
            }
            (total, sink)
        });
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                panic!("`{script}` still running after {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let elapsed = started.elapsed();
        let (total, head) = drained.join().unwrap();
        let mut output = child.wait_with_output().unwrap();
        output.stdout = head;
        output.stdout.extend(format!("\n[{total} bytes]").bytes());
        (output, elapsed)
    }
}

#[test]
fn a_program_that_writes_before_it_reads_gets_its_stdin_and_ends() {
    let h = host(60);
    // 8 MB of stdin wait while the program writes 200 MB; then it reads them.
    let (output, _) = h.run(
        "head -c 200000000 /dev/zero; cat >/dev/null; echo read-all >&2",
        8 << 20,
        Duration::from_secs(120),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).ends_with("[200000000 bytes]"));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "read-all\n");
}

#[test]
fn a_program_that_never_reads_its_stdin_still_times_out() {
    let h = host(3);
    let (output, elapsed) = h.run("sleep 25", 7 << 20, Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(143), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("(timeout)"),
        "{output:?}"
    );
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn a_descendant_that_left_the_group_does_not_hold_the_reply() {
    let h = host(60);
    // `setsid` takes the sleeper out of the process group, holding stdout open.
    let (output, elapsed) = h.run(
        "setsid sh -c 'echo up > up; exec sleep 30' & sleep 0.3; cat up >&2; echo started",
        0,
        Duration::from_secs(25),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "up\n",
        "the sleeper did not start: {output:?}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("started\n"));
    assert!(elapsed < Duration::from_secs(25), "{elapsed:?}");
}

#[test]
fn sigterm_stops_the_daemon_while_a_client_is_stopped_mid_output() {
    let mut h = host(600);
    let mut client = Command::new(&h.sh)
        .args(["-c", "head -c 500000000 /dev/zero"])
        .env("AIRLOCK_SOCKET", &h.socket)
        .current_dir(&h.ws)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // The client stops reading for good.
    let pid = client.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(300));
    let daemon = h.daemon.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &daemon])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let ended = loop {
        if let Some(status) = h.daemon.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the daemon did not stop with a stopped client"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(ended.success() || ended.code().is_some(), "{ended:?}");
    let _ = Command::new("kill").args(["-KILL", &pid]).status();
    let _ = client.wait();
}

/// The daemon's children: `(stat line, is a zombie)`.
fn children_of(pid: u32) -> Vec<(String, bool)> {
    let mut zombies = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace() {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            zombies.push((stat.clone(), state == Some("Z")));
        }
    }
    zombies
}

#[test]
fn what_a_run_leaves_behind_is_reaped() {
    let h = host(60);
    let (output, _) = h.run(
        "for i in 1 2 3 4 5; do setsid -f sleep 3 >/dev/null 2>&1; done; sleep 0.5; echo left",
        0,
        Duration::from_secs(20),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    // The run is over and its sleepers are orphans: they are the daemon's children now
    // (it is their subreaper), not init's.
    let adopted = children_of(h.daemon.id());
    let sleepers = adopted
        .iter()
        .filter(|(stat, _)| stat.contains("(sleep)"))
        .count();
    assert_eq!(sleepers, 5, "{adopted:?}");
    // They end; the daemon reaps them.
    std::thread::sleep(Duration::from_millis(5000));
    let left = children_of(h.daemon.id());
    assert!(
        left.iter()
            .all(|(stat, zombie)| !zombie && !stat.contains("(sleep)")),
        "unreaped: {left:?}"
    );
}

#[test]
fn nothing_runs_while_the_audit_log_cannot_be_written() {
    let h = host(60);
    let log = h.root.join("config/audit.log");
    let marker = h.ws.join("ran");
    // The log is deleted and a directory takes its place: it cannot be reopened.
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    let (output, _) = h.run("touch ran", 0, Duration::from_secs(20));
    assert_ne!(output.status.code(), Some(0), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("audit log cannot be written"),
        "{output:?}"
    );
    assert!(!marker.exists(), "a command ran without its record");
    // The log comes back: runs resume, each with its start and end on record.
    std::fs::remove_dir(&log).unwrap();
    let (output, _) = h.run("touch ran", 0, Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(marker.exists());
    let records = std::fs::read_to_string(&log).unwrap();
    let decisions: Vec<String> = records
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["decision"].to_string())
        .collect();
    assert_eq!(decisions, ["\"start\"", "\"allow\""], "{records}");
}

/// Sends `exec` of `sh -c script` on a raw connection to the host's socket, with
/// `stdin` as a `stdin` notification when there is some.
fn raw_exec(h: &Host, script: &str, stdin: Option<&[u8]>) -> UnixStream {
    let mut stream = UnixStream::connect(&h.socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let exec = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"sh","args":["-c",script],"cwd":h.ws}});
    writeln!(stream, "{exec}").unwrap();
    if let Some(data) = stdin {
        let data = serde_json::json!({"jsonrpc":"2.0","method":"stdin","params":{"data":String::from_utf8_lossy(data)}});
        writeln!(stream, "{data}").unwrap();
    }
    stream
}

/// Reads a connection to its end: (stdout text, the final reply).
fn read_to_end(stream: UnixStream) -> (String, serde_json::Value) {
    let mut out = String::new();
    let mut last = serde_json::Value::Null;
    for line in std::io::BufReader::new(stream).lines() {
        let message: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if message["method"] == "output" {
            out.push_str(message["params"]["data"].as_str().unwrap());
        } else {
            last = message;
        }
    }
    (out, last)
}

#[test]
fn a_half_closed_client_gets_end_of_input_and_the_exit_status() {
    let h = host(60);
    // socat and scripts shut down their write side once the request is sent: the
    // program runs on and its output and status still come back.
    let stream = raw_exec(&h, "sleep 0.3; echo done", None);
    stream.shutdown(Shutdown::Write).unwrap();
    let started = Instant::now();
    let (out, end) = read_to_end(stream);
    assert_eq!(out, "done\n", "{end}");
    assert_eq!(end["result"]["exit_code"], 0, "{end}");
    eprintln!("half-closed sleep: {:?}", started.elapsed());
    // The end of input is the end of the program's stdin.
    let stream = raw_exec(&h, "cat; echo eof", Some(b"hello\n"));
    stream.shutdown(Shutdown::Write).unwrap();
    let (out, end) = read_to_end(stream);
    assert_eq!(out, "hello\neof\n", "{end}");
    assert_eq!(end["result"]["exit_code"], 0, "{end}");
    // A client that half-closed and then goes away entirely still takes its program
    // with it.
    let mut stream = raw_exec(&h, "echo $$; exec sleep 60", None);
    stream.shutdown(Shutdown::Write).unwrap();
    let mut line = String::new();
    std::io::BufReader::new(&mut stream)
        .read_line(&mut line)
        .unwrap();
    let message: serde_json::Value = serde_json::from_str(&line).unwrap();
    let pid = message["params"]["data"]
        .as_str()
        .unwrap()
        .trim()
        .to_owned();
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(&pid) {
        assert!(Instant::now() < deadline, "{pid} outlived its client");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its end is on record (written once the run is over: wait for it).
    loop {
        let records = std::fs::read_to_string(h.root.join("config/audit.log")).unwrap();
        let last: serde_json::Value =
            serde_json::from_str(records.lines().last().unwrap()).unwrap();
        if last["decision"] == "allow" {
            assert_eq!(last["reason"], "stopped: disconnect", "{last}");
            break;
        }
        assert!(Instant::now() < deadline, "no end record: {records}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

/// The live processes (not zombies) in process group `group`: `(pid, command)`.
fn group_members(group: &str) -> Vec<(String, String)> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // state, ppid, pgrp
        if fields.get(2) == Some(&group) && fields.first() != Some(&"Z") {
            let name = head.split_once('(').map(|(_, n)| n).unwrap_or("");
            members.push((
                entry.file_name().to_string_lossy().into_owned(),
                name.to_owned(),
            ));
        }
    }
    members
}

#[test]
fn a_run_and_its_process_group_die_with_the_daemon() {
    let mut h = host(600);
    let mut stream = raw_exec(&h, "sleep 60 & echo $$; sleep 60", None);
    let mut line = String::new();
    std::io::BufReader::new(&mut stream)
        .read_line(&mut line)
        .unwrap();
    let message: serde_json::Value = serde_json::from_str(&line).unwrap();
    let group = message["params"]["data"]
        .as_str()
        .unwrap()
        .trim()
        .to_owned();
    // Both sleepers run in the program's group.
    let deadline = Instant::now() + Duration::from_secs(10);
    while group_members(&group)
        .iter()
        .filter(|(_, name)| name == "sleep")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the sleepers did not start: {:?}",
            group_members(&group)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    h.daemon.kill().unwrap();
    h.daemon.wait().unwrap();
    let killed = Instant::now();
    loop {
        let left = group_members(&group);
        if left.is_empty() {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "still running after the daemon died: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("group gone {:?} after the daemon", killed.elapsed());
    // The start of the run is on record; its end never came.
    let records = std::fs::read_to_string(h.root.join("config/audit.log")).unwrap();
    let decisions: Vec<serde_json::Value> = records
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["decision"].clone())
        .collect();
    assert_eq!(decisions, ["start"], "{records}");
    drop(stream);
}

#[test]
fn what_a_run_left_behind_dies_with_the_daemon() {
    let mut h = host(60);
    // The run leaves a sleeper in a session of its own behind, and ends.
    let (output, _) = h.run(
        "setsid -f sh -c 'echo $$ > left.pid; exec sleep 60' >/dev/null 2>&1; sleep 0.3; echo ok",
        0,
        Duration::from_secs(20),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let pid = std::fs::read_to_string(h.ws.join("left.pid"))
        .unwrap()
        .trim()
        .to_owned();
    // It is the daemon's now (its subreaper), alive after the run.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !children_of(h.daemon.id())
        .iter()
        .any(|(stat, _)| stat.starts_with(&format!("{pid} ")))
    {
        assert!(Instant::now() < deadline, "{pid} was not adopted");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The reaper looks at what it adopted on every SIGCHLD and every second.
    std::thread::sleep(Duration::from_secs(3));
    assert!(alive(&pid), "the sleeper ended early");
    h.daemon.kill().unwrap();
    h.daemon.wait().unwrap();
    let killed = Instant::now();
    while alive(&pid) {
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "{pid} outlived the daemon"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "left-behind sleeper gone {:?} after the daemon",
        killed.elapsed()
    );
}
