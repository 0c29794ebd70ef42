//! Helpers shared by the daemon's integration tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

/// Writes `text` to `path`, creating its directory.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The `airlock.toml` of an agent with one mount, `container` in the container on
/// `host` on the host, and no commands beyond the daemon's own list (`commands = []`);
/// more of the profile can follow.
#[allow(dead_code, reason = "not every test file writes such a profile")]
pub fn one_mount_profile(container: &Path, host: &Path) -> String {
    format!(
        "commands = []\n[[mounts]]\ncontainer = \"{}\"\nhost = \"{}\"\n",
        container.display(),
        host.display()
    )
}

/// Starts the real daemon on the scratch configuration under `root` (`config/`,
/// `agents.toml`, sockets in `sockets/`) with `env` added, and returns once agent `a1`
/// is listening, with the rest of its stdout.
pub fn start_daemon(root: &Path, env: &[(&str, &str)]) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock-daemon"))
        .args(["start", "--config"])
        .arg(root.join("config"))
        .arg("--agents")
        .arg(root.join("agents.toml"))
        .arg("--sockets")
        .arg(root.join("sockets"))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // The daemon prints each socket once it is listening.
    let mut line = String::new();
    while !line.starts_with("agent a1: ") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "daemon exited early"
        );
    }
    (child, stdout)
}

/// The most memory process `pid` has held (VmHWM), in bytes.
#[allow(dead_code, reason = "not every test file measures memory")]
pub fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// The shim as agent images get it: `cargo build --release` of its own workspace
/// (`airlock-shim/`, outside this one: it has no std), run once per test process so that
/// a changed shim is rebuilt.
#[allow(dead_code, reason = "not every test file runs the shim")]
pub fn shim_binary() -> PathBuf {
    static SHIM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SHIM.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("airlock-shim");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--release", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            // The workspace's own settings stay out of the shim's build.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .status()
            .unwrap();
        assert!(status.success(), "building the shim failed");
        let shim = dir.join("target/release/airlock-shim");
        assert!(shim.exists(), "no shim at {}", shim.display());
        shim
    })
    .clone()
}

/// Runs the host's git (not through the daemon) and returns its stdout.
#[allow(dead_code, reason = "not every test file runs git")]
pub fn host_git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
