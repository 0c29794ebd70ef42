//! What one agent can make the daemon hold (issue: the daemon under a hostile client):
//! every per-connection buffer is budgeted, so the daemon stays at or under 256 MB
//! with its connection cap full of clients that push stdin at programs that never read
//! it, or never read the output of programs that flood.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

mod support;
use support::{one_mount_profile, peak_memory, start_daemon, write};

const LIMIT: u64 = 256 << 20;

struct Host {
    _dir: tempfile::TempDir,
    daemon: Child,
    socket: PathBuf,
    ws: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn host() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"sh\"]\n[limits]\nmax_connections_per_agent = 64\n",
    );
    let ws = root.join("a1/ws");
    std::fs::create_dir_all(&ws).unwrap();
    write(&root.join("a1/airlock.toml"), &one_mount_profile(&ws, &ws));
    write(
        &root.join("a1/commands/sh.toml"),
        "[command]\nbin = \"sh\"\n[exec]\ntimeout_secs = 30\n",
    );
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let (daemon, out) = start_daemon(&root, &[]);
    std::thread::spawn(move || for _ in out.lines() {});
    Host {
        socket: root.join("sockets/a1.sock"),
        _dir: dir,
        daemon,
        ws,
    }
}

/// A client that says hello with `capabilities`, runs `sh -c script`, then calls
/// `then` with the stream.
fn client(
    h: &Host,
    capabilities: &str,
    script: &str,
    then: impl FnOnce(UnixStream) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let mut stream = UnixStream::connect(&h.socket).unwrap();
    let ws = h.ws.display().to_string();
    let hello = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"hello\",\"params\":{{\"version\":1,\"capabilities\":{capabilities}}}}}\n"
    );
    let exec = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":"sh","args":["-c",script],"cwd":ws}});
    stream.write_all(hello.as_bytes()).unwrap();
    stream.write_all(format!("{exec}\n").as_bytes()).unwrap();
    std::thread::spawn(move || then(stream))
}

#[test]
fn unread_stdin_from_a_full_connection_cap_stays_bounded() {
    let h = host();
    let chunk = vec![b'x'; 1 << 20];
    let mut clients = Vec::new();
    for _ in 0..64 {
        let chunk = chunk.clone();
        clients.push(client(
            &h,
            "[\"stdin\",\"raw\"]",
            "sleep 30",
            move |mut s| {
                s.set_write_timeout(Some(Duration::from_secs(8))).unwrap();
                for _ in 0..35 {
                    let header = format!(
                        "{{\"jsonrpc\":\"2.0\",\"method\":\"stdin\",\"params\":{{\"raw\":{}}}}}\n",
                        chunk.len()
                    );
                    if s.write_all(header.as_bytes()).is_err() || s.write_all(&chunk).is_err() {
                        return;
                    }
                }
            },
        ));
    }
    std::thread::sleep(Duration::from_secs(10));
    let peak = peak_memory(h.daemon.id());
    eprintln!("unread stdin: daemon peak {} MB", peak >> 20);
    assert!(peak <= LIMIT, "daemon peak memory {} MB", peak >> 20);
    drop(clients);
}

#[test]
fn clients_that_never_read_a_flood_stay_bounded() {
    let h = host();
    let (keep, hold) = std::sync::mpsc::channel::<UnixStream>();
    let mut threads = Vec::new();
    for _ in 0..60 {
        let keep = keep.clone();
        // Never read: hand the connection to the test, which holds it open.
        threads.push(client(
            &h,
            "[\"raw\"]",
            "head -c 200000000 /dev/zero",
            move |s| {
                let _ = keep.send(s);
            },
        ));
    }
    let held: Vec<UnixStream> = (0..60).map(|_| hold.recv().unwrap()).collect();
    std::thread::sleep(Duration::from_secs(8));
    let peak = peak_memory(h.daemon.id());
    eprintln!("unread output: daemon peak {} MB", peak >> 20);
    assert!(peak <= LIMIT, "daemon peak memory {} MB", peak >> 20);
    drop(held);
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn connections_over_the_cap_are_answered_in_bounded_time_and_memory() {
    let h = host();
    // The agent's cap is full of connections that said hello and wait.
    let held: Vec<UnixStream> = (0..64)
        .map(|_| {
            let mut s = UnixStream::connect(&h.socket).unwrap();
            s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"hello\",\"params\":{\"version\":1,\"capabilities\":[]}}\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // 400 more each send 60 KB of a line that never ends, and stay.
    let started = std::time::Instant::now();
    let part = vec![b'x'; 60 << 10];
    let over: Vec<UnixStream> = (0..400)
        .map(|_| {
            let mut s = UnixStream::connect(&h.socket).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(&part);
            s
        })
        .collect();
    // Every one is answered (most at once, sixteen after their 2 s) and closed.
    for s in &over {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut line = String::new();
        std::io::BufReader::new(s).read_line(&mut line).unwrap();
        assert!(line.contains("too many connections"), "{line}");
    }
    let elapsed = started.elapsed();
    let peak = peak_memory(h.daemon.id());
    eprintln!(
        "400 connections over the cap: answered in {elapsed:?}, daemon peak {} MB",
        peak >> 20
    );
    assert!(peak <= LIMIT, "daemon peak memory {} MB", peak >> 20);
    drop((held, over));
}
