//! The real shim against the real daemon: what an agent in a container sees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

mod support;
use support::{one_mount_profile, peak_memory, shim_binary, start_daemon, write};

struct Setup {
    dir: tempfile::TempDir,
    daemon: Child,
    socket: PathBuf,
    bin: PathBuf,
    workspace: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("config/config.toml"),
        "[commands]\nenable = [\"cat\", \"sh\"]\n",
    );
    let workspace = root.join("a1/ws");
    std::fs::create_dir_all(&workspace).unwrap();
    // The "container" sees the workspace at its real path: one mount, the same on both sides.
    let real = workspace.canonicalize().unwrap();
    write(
        &root.join("a1/airlock.toml"),
        &one_mount_profile(&real, &real),
    );
    write(
        &root.join("a1/commands/cat.toml"),
        "[command]\nbin = \"cat\"\n",
    );
    write(
        &root.join("a1/commands/sh.toml"),
        "[command]\nbin = \"sh\"\n[[rule]]\nid = \"sh.no-rm\"\naction = \"deny\"\nargs = \"-c=*rm*\"\nreason = \"no deleting\"\n",
    );
    write(&root.join("agents.toml"), "[a1]\npath = \"a1\"\n");
    let (daemon, out) = start_daemon(root, &[]);
    // Keep draining the daemon's stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["cat", "sh", "rm"] {
        std::os::unix::fs::symlink(shim_binary(), bin.join(name)).unwrap();
    }
    Setup {
        socket: root.join("sockets/a1.sock"),
        workspace: workspace.canonicalize().unwrap(),
        bin,
        daemon,
        dir,
    }
}

impl Setup {
    fn command(&self, name: &str) -> Command {
        let mut command = Command::new(self.bin.join(name));
        command
            .env("AIRLOCK_SOCKET", &self.socket)
            .current_dir(&self.workspace);
        command
    }
}

#[test]
fn the_shim_behaves_like_the_program() {
    let s = setup();
    // Stdin in, byte-exact binary out, with a program that reads everything first.
    let input: Vec<u8> = (0..=255u8).cycle().take(5_000_000).collect();
    let mut cat = s
        .command("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = cat.stdin.take().unwrap();
    let data = input.clone();
    let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let output = cat.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(output.status.success());
    assert!(
        output.stdout == input,
        "cat through airlock changed the bytes ({} out)",
        output.stdout.len()
    );

    // Exit codes and stderr come back as the program's.
    let output = s
        .command("sh")
        .args(["-c", "echo out; echo err >&2; exit 42"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(42));
    assert_eq!(output.stdout, b"out\n");
    assert_eq!(output.stderr, b"err\n");

    // Death by signal is 128 + N.
    let output = s
        .command("sh")
        .args(["-c", "kill -TERM $$"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(143));
}

#[test]
fn refusals_reach_the_agent_as_one_line_and_a_distinct_code() {
    let s = setup();
    let denied = s.command("sh").args(["-c", "rm -rf /"]).output().unwrap();
    assert_eq!(denied.status.code(), Some(126));
    assert_eq!(
        String::from_utf8(denied.stderr).unwrap(),
        "airlock: sh: denied by rule `sh.no-rm`: no deleting\n"
    );
    let unknown = s.command("rm").arg("-rf").output().unwrap();
    assert_eq!(unknown.status.code(), Some(127));
    let outside = s
        .command("cat")
        .arg("/dev/null")
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert_eq!(outside.status.code(), Some(126));
    assert!(String::from_utf8_lossy(&outside.stderr).contains("airlock.cwd"));
}

#[test]
fn a_request_longer_than_the_daemons_limit_is_refused_with_the_daemons_reason() {
    let s = setup();
    // 1.6 MB of arguments (the kernel takes 2 MB): the daemon stops reading at its line
    // limit of 1 MiB, answers and closes while the shim is still sending. The shim used
    // to report only that the daemon had closed the connection.
    let long = "x".repeat(100_000);
    let args = vec![long.as_str(); 16];
    let output = s.command("cat").args(&args).output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(124), "{stderr}");
    assert!(
        stderr.starts_with("airlock: cat: ") && stderr.contains("longer than 1048576 bytes"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn a_hundred_megabytes_of_binary_output_arrive_byte_exact() {
    let s = setup();
    let mut data = vec![0u8; 100_000_000];
    // A cheap deterministic byte mix with every value and no structure to hide behind.
    let mut x: u32 = 0x9e37_79b9;
    for byte in &mut data {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
    std::fs::write(s.workspace.join("big.bin"), &data).unwrap();
    let output = s.command("cat").arg("big.bin").output().unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(output.stdout.len(), data.len());
    assert!(output.stdout == data, "the bytes changed on the way");
    // The daemon streamed it: it never held a sizeable part of it.
    let peak = peak_memory(s.daemon.id());
    assert!(peak < 64 << 20, "daemon peak memory {peak} bytes");
}
